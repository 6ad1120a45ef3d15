//! Files in `/workspace` from the host side (`readFile`, `writeFile`, `listFiles`) and the
//! workspace sync. Only `/workspace` is reachable this way: the rest of the sandbox's
//! filesystem is read-only system files or its private `/tmp` (read those with `exec`).

use serde::Serialize;
use store::AgentDb;

use super::Linuxbox;
use crate::error::{Error, Result};
use crate::hostfs::{self, Found};
use crate::sync::{self, Prefer, SyncReport};

/// One entry of `list_files`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileEntry {
    /// The entry's file name.
    pub name: String,
    /// Absolute path inside the sandbox.
    pub path: String,
    /// `file`, `dir`, or `other` (symlinks, FIFOs…).
    pub kind: &'static str,
    /// Size in bytes (0 for anything but a file).
    pub size: u64,
}

impl Linuxbox {
    /// Brings the sandbox's `/workspace` up to date with the agent's workspace (call it
    /// before a command). A path changed on both sides since the last sync takes the
    /// workspace's version.
    pub fn sync_in(&self, db: &mut AgentDb) -> Result<SyncReport> {
        self.sync(db, Prefer::Workspace)
    }

    /// Copies what commands changed in `/workspace` into the agent's workspace (call it
    /// after a command). A path changed on both sides takes the sandbox's version.
    pub fn sync_out(&self, db: &mut AgentDb) -> Result<SyncReport> {
        self.sync(db, Prefer::Sandbox)
    }

    /// Outside a turn, one sync is one transaction of its own: all of it lands or none
    /// (and it is one commit instead of one per file). Inside a turn it is part of the
    /// turn; if the turn rolls back, the next `sync_in` returns `/workspace` to what the
    /// workspace has.
    fn sync(&self, db: &mut AgentDb, prefer: Prefer) -> Result<SyncReport> {
        self.shared.touch();
        let mut manifest = base::sync::lock(&self.shared.manifest);
        let own_transaction = !db.in_transaction();
        let before = own_transaction.then(|| manifest.clone());
        if own_transaction {
            db.begin()?;
        }
        let result = sync::reconcile(
            &mut manifest,
            &self.shared.workspace_dir,
            self.shared.run_as,
            db,
            prefer,
        );
        if let Some(before) = before {
            match &result {
                Ok(_) => {
                    if let Err(e) = db.commit() {
                        *manifest = before;
                        return Err(e.into());
                    }
                }
                Err(_) => {
                    let _ = db.rollback();
                    *manifest = before;
                }
            }
        }
        result
    }

    /// A file's bytes; `path` is absolute under `/workspace` or relative to it.
    pub fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        self.shared.touch();
        let rel = workspace_relative(path)?;
        let root = self.root()?;
        hostfs::read(&root, &rel, self.shared.config.limits.file_bytes)
            .map(|(data, _)| data)
            .map_err(|e| file_error(path, e))
    }

    /// Creates or replaces a file (and missing directories) in `/workspace`.
    pub fn write_file(&self, path: &str, data: &[u8]) -> Result<()> {
        self.shared.touch();
        let rel = workspace_relative(path)?;
        if rel.is_empty() {
            return Err(Error::InvalidArgument(
                "writeFile needs a file path under /workspace, not /workspace itself".into(),
            ));
        }
        if data.len() as u64 > self.shared.config.limits.file_bytes {
            return Err(Error::TooLarge(format!(
                "`{path}` would be {} bytes, over the sandbox's {}-byte file limit",
                data.len(),
                self.shared.config.limits.file_bytes
            )));
        }
        let root = self.root()?;
        hostfs::write(&root, &rel, data, self.shared.run_as)
            .map(|_| ())
            .map_err(|e| file_error(path, e))
    }

    /// The entries of a directory in `/workspace`, sorted by name.
    pub fn list_files(&self, path: &str) -> Result<Vec<FileEntry>> {
        self.shared.touch();
        let rel = workspace_relative(path)?;
        let root = self.root()?;
        let prefix = if rel.is_empty() {
            String::new()
        } else {
            format!("{rel}/")
        };
        let all = hostfs::list_dir(&root, &rel).map_err(|e| file_error(path, e))?;
        Ok(all
            .into_iter()
            .filter_map(|(child, found)| {
                let name = child.strip_prefix(&prefix)?;
                let (kind, size) = match found {
                    Found::Dir => ("dir", 0),
                    Found::File(stamp) => ("file", stamp.size),
                    Found::Other | Found::BadName => ("other", 0),
                };
                Some(FileEntry {
                    name: name.to_string(),
                    path: format!("/workspace/{child}"),
                    kind,
                    size,
                })
            })
            .collect())
    }

    fn root(&self) -> Result<std::os::fd::OwnedFd> {
        hostfs::open_root(&self.shared.workspace_dir)
            .map_err(|e| Error::io(&self.shared.workspace_dir, e))
    }
}

/// `/workspace/a/b`, `a/b` or `./a/b` → `a/b`; anything outside `/workspace` is refused.
fn workspace_relative(path: &str) -> Result<String> {
    let rest = if let Some(rest) = path.strip_prefix("/workspace") {
        if !(rest.is_empty() || rest.starts_with('/')) {
            return Err(outside(path));
        }
        rest
    } else if path.starts_with('/') {
        return Err(outside(path));
    } else {
        path
    };
    let mut parts = Vec::new();
    for part in rest.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(outside(path)),
            part if part.contains('\0') => {
                return Err(Error::InvalidArgument(format!(
                    "`{}` contains a NUL byte",
                    path.escape_debug()
                )));
            }
            part => parts.push(part),
        }
    }
    Ok(parts.join("/"))
}

fn outside(path: &str) -> Error {
    Error::InvalidArgument(format!(
        "`{path}` is outside /workspace; the file API reaches only /workspace (use exec to \
         read other files in the sandbox)"
    ))
}

fn file_error(path: &str, e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound(format!(
            "`{path}` does not exist in the sandbox; listFiles shows what is there"
        )),
        std::io::ErrorKind::FileTooLarge => Error::TooLarge(e.to_string()),
        _ if e.raw_os_error() == Some(libc::ELOOP) || e.raw_os_error() == Some(libc::EXDEV) => {
            Error::InvalidArgument(format!(
                "`{path}` goes through a symlink; the file API does not follow symlinks"
            ))
        }
        _ => Error::InvalidArgument(format!("`{path}`: {e}")),
    }
}
