//! Keeping the sandbox's `/workspace` (a host directory) and the agent's SQLite workspace
//! in step: [`Linuxbox::sync_in`](crate::Linuxbox::sync_in) before a command,
//! [`Linuxbox::sync_out`](crate::Linuxbox::sync_out) after it.
//!
//! A manifest remembers each path as it was at the last sync, on both sides (the store's
//! size and mtime, the host's size, mtime, ctime and inode, and a content hash). A sync
//! compares each side with it, so only what changed is copied, deletions included, and a
//! change on one side is never mistaken for one on the other. When both sides changed a
//! path, the side being synced from wins. As in git's "racily clean" rule, a file whose
//! recorded time is not older than the previous sync may have changed again within the
//! same clock tick; it is compared by content.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use sha2::{Digest, Sha256};
use store::{AgentDb, Kind, Workspace};

use crate::error::{Error, Result};
use crate::hostfs::{self, Found, Stamp};

/// Coarse file timestamps lag the real clock by up to a scheduler tick.
const HOST_CLOCK_SLACK_NS: i128 = 20_000_000;

/// Which side wins a path both sides changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefer {
    /// The workspace's version wins.
    Workspace,
    /// The sandbox's version wins.
    Sandbox,
}

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    /// Workspace paths written into the sandbox.
    pub to_sandbox: Vec<String>,
    /// Sandbox paths written into the workspace.
    pub to_workspace: Vec<String>,
    /// Paths removed from the sandbox because the workspace no longer has them.
    pub removed_in_sandbox: Vec<String>,
    /// Paths removed from the workspace because the sandbox no longer has them.
    pub removed_in_workspace: Vec<String>,
    /// Paths left alone, with why (symlinks, special files, oversized files, names the
    /// workspace refuses).
    pub skipped: Vec<Skipped>,
}

/// A path a sync left alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The path within the workspace, e.g. `/notes/a.txt`.
    pub path: String,
    /// Why it was not copied.
    pub reason: String,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Manifest {
    entries: BTreeMap<String, Synced>,
    /// The store's clock when the last sync started.
    store_synced_ms: i64,
    /// The host clock when the last sync started, in ns.
    host_synced_ns: i128,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Synced {
    Dir,
    File {
        store: (u64, i64),
        host: Stamp,
        hash: [u8; 32],
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreSide {
    Dir,
    File { size: u64, mtime_ms: i64 },
}

pub(crate) fn reconcile(
    manifest: &mut Manifest,
    root_dir: &std::path::Path,
    owner: Option<u32>,
    db: &mut AgentDb,
    prefer: Prefer,
) -> Result<SyncReport> {
    let store_now = db.env().clock.now_ms();
    let host_now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0);
    let root = hostfs::open_root(root_dir).map_err(|e| Error::io(root_dir, e))?;
    let mut ws = db.workspace();
    let store = store_snapshot(&mut ws)?;
    let host: BTreeMap<String, Found> = hostfs::walk(&root)
        .map_err(|e| Error::io(root_dir, e))?
        .into_iter()
        .collect();
    let paths: BTreeSet<String> = store
        .keys()
        .chain(host.keys())
        .chain(manifest.entries.keys())
        .cloned()
        .collect();

    let mut sync = Sync {
        ws,
        root: &root,
        owner,
        report: SyncReport::default(),
        store_racy_ms: manifest.store_synced_ms,
        host_racy_ns: manifest.host_synced_ns - HOST_CLOCK_SLACK_NS,
    };
    let mut deferred_dirs = Vec::new();
    for path in &paths {
        let s = store.get(path).copied();
        let h = host.get(path).cloned();
        if matches!(h, Some(Found::Other | Found::BadName)) {
            sync.skip(path, "not a regular file or directory (symlink, FIFO, device), or a name that is not UTF-8");
            continue;
        }
        let m = manifest.entries.get(path).cloned();
        let outcome = sync.path(path, s, h, m, prefer);
        match outcome {
            Ok(Step::Record(entry)) => {
                manifest.entries.insert(path.clone(), entry);
            }
            Ok(Step::Forget) => {
                manifest.entries.remove(path);
            }
            Ok(Step::RemoveDir(side)) => deferred_dirs.push((path.clone(), side)),
            Err(reason) => sync.skip(path, &reason),
        }
    }
    // Directories removed on one side go on the other once their files are gone, deepest
    // first; one that still has entries there stays, and is recreated where it was removed.
    for (path, removed_on) in deferred_dirs.into_iter().rev() {
        match sync.remove_dir(&path, removed_on) {
            Ok(true) => {
                manifest.entries.remove(&path);
            }
            Ok(false) => {
                manifest.entries.insert(path, Synced::Dir);
            }
            Err(reason) => sync.skip(&path, &reason),
        }
    }
    manifest.store_synced_ms = store_now;
    manifest.host_synced_ns = host_now;
    Ok(sync.report)
}

/// Every node of the workspace, relative to its root.
fn store_snapshot(ws: &mut Workspace<'_>) -> Result<BTreeMap<String, StoreSide>> {
    let mut nodes = BTreeMap::new();
    let mut dirs = vec!["/".to_string()];
    while let Some(dir) = dirs.pop() {
        for entry in ws.list(&dir)? {
            let rel = entry.path.trim_start_matches('/').to_string();
            match entry.kind {
                Kind::Dir => {
                    nodes.insert(rel, StoreSide::Dir);
                    dirs.push(entry.path);
                }
                Kind::File => {
                    nodes.insert(
                        rel,
                        StoreSide::File {
                            size: entry.size,
                            mtime_ms: entry.mtime_ms,
                        },
                    );
                }
            }
        }
    }
    Ok(nodes)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Workspace,
    Sandbox,
}

enum Step {
    Record(Synced),
    Forget,
    /// The directory was removed on this side; remove it on the other in the second pass.
    RemoveDir(Side),
}

struct Sync<'a, 'w> {
    ws: Workspace<'w>,
    root: &'a std::os::fd::OwnedFd,
    owner: Option<u32>,
    report: SyncReport,
    store_racy_ms: i64,
    host_racy_ns: i128,
}

impl Sync<'_, '_> {
    fn skip(&mut self, path: &str, reason: &str) {
        self.report.skipped.push(Skipped {
            path: format!("/{path}"),
            reason: reason.to_string(),
        });
    }

    fn path(
        &mut self,
        path: &str,
        s: Option<StoreSide>,
        h: Option<Found>,
        m: Option<Synced>,
        prefer: Prefer,
    ) -> Result<Step, String> {
        let store_changed = self.store_changed(path, s, m.as_ref())?;
        let host_changed = self.host_changed(path, h.as_ref(), m.as_ref())?;
        let from = match (store_changed, host_changed) {
            (false, false) => return Ok(m.map_or(Step::Forget, Step::Record)),
            (true, false) => Side::Workspace,
            (false, true) => Side::Sandbox,
            (true, true) => {
                if let Some(same) = self.same_on_both(path, s, h.as_ref())? {
                    return Ok(same);
                }
                match prefer {
                    Prefer::Workspace => Side::Workspace,
                    Prefer::Sandbox => Side::Sandbox,
                }
            }
        };
        match from {
            Side::Workspace => self.copy_to_sandbox(path, s, h, m),
            Side::Sandbox => self.copy_to_workspace(path, s, h, m),
        }
    }

    /// Whether the store's side differs from the manifest.
    fn store_changed(
        &mut self,
        path: &str,
        s: Option<StoreSide>,
        m: Option<&Synced>,
    ) -> Result<bool, String> {
        let changed = match (s, m) {
            (None, None) => false,
            (Some(StoreSide::Dir), Some(Synced::Dir)) => false,
            (Some(StoreSide::File { size, mtime_ms }), Some(Synced::File { store, hash, .. })) => {
                if (size, mtime_ms) != *store {
                    true
                } else if mtime_ms >= self.store_racy_ms {
                    self.store_hash(path)? != *hash
                } else {
                    false
                }
            }
            _ => true,
        };
        Ok(changed)
    }

    fn host_changed(
        &mut self,
        path: &str,
        h: Option<&Found>,
        m: Option<&Synced>,
    ) -> Result<bool, String> {
        let changed = match (h, m) {
            (None, None) => false,
            (Some(Found::Dir), Some(Synced::Dir)) => false,
            (Some(Found::File(stamp)), Some(Synced::File { host, hash, .. })) => {
                if stamp != host {
                    true
                } else if stamp.mtime_ns >= self.host_racy_ns {
                    self.host_read_data(path)?.2 != *hash
                } else {
                    false
                }
            }
            _ => true,
        };
        Ok(changed)
    }

    /// Both sides changed: if they now agree, record that instead of copying.
    fn same_on_both(
        &mut self,
        path: &str,
        s: Option<StoreSide>,
        h: Option<&Found>,
    ) -> Result<Option<Step>, String> {
        Ok(match (s, h) {
            (None, None) => Some(Step::Forget),
            (Some(StoreSide::Dir), Some(Found::Dir)) => Some(Step::Record(Synced::Dir)),
            (Some(StoreSide::File { size, mtime_ms }), Some(Found::File(stamp)))
                if size == stamp.size =>
            {
                let store_hash = self.store_hash(path)?;
                let (_, stamp, host_hash) = self.host_read_data(path)?;
                (store_hash == host_hash).then_some(Step::Record(Synced::File {
                    store: (size, mtime_ms),
                    host: stamp,
                    hash: host_hash,
                }))
            }
            _ => None,
        })
    }

    fn copy_to_sandbox(
        &mut self,
        path: &str,
        s: Option<StoreSide>,
        h: Option<Found>,
        m: Option<Synced>,
    ) -> Result<Step, String> {
        let io = |e: std::io::Error| format!("cannot update the sandbox's copy: {e}");
        match s {
            None => match h {
                Some(Found::Dir) if matches!(m, Some(Synced::Dir)) => {
                    Ok(Step::RemoveDir(Side::Workspace))
                }
                Some(_) => {
                    hostfs::remove(self.root, path).map_err(io)?;
                    self.report.removed_in_sandbox.push(format!("/{path}"));
                    Ok(Step::Forget)
                }
                None => Ok(Step::Forget),
            },
            Some(StoreSide::Dir) => {
                if matches!(h, Some(Found::File(_))) {
                    hostfs::remove(self.root, path).map_err(io)?;
                }
                hostfs::mkdirs(self.root, path, self.owner).map_err(io)?;
                Ok(Step::Record(Synced::Dir))
            }
            Some(StoreSide::File { size, mtime_ms }) => {
                let data = self
                    .ws
                    .read(&format!("/{path}"))
                    .map_err(|e| format!("cannot read it from the workspace: {e}"))?;
                if matches!(h, Some(Found::Dir)) {
                    hostfs::remove(self.root, path).map_err(io)?;
                }
                let stamp = hostfs::write(self.root, path, &data, self.owner).map_err(io)?;
                self.report.to_sandbox.push(format!("/{path}"));
                Ok(Step::Record(Synced::File {
                    store: (size, mtime_ms),
                    host: stamp,
                    hash: Sha256::digest(&data).into(),
                }))
            }
        }
    }

    fn copy_to_workspace(
        &mut self,
        path: &str,
        s: Option<StoreSide>,
        h: Option<Found>,
        m: Option<Synced>,
    ) -> Result<Step, String> {
        let ws_path = format!("/{path}");
        let store_error = |e: store::Error| format!("the workspace refused it: {e}");
        match h {
            None | Some(Found::Other | Found::BadName) => match s {
                Some(StoreSide::Dir) if matches!(m, Some(Synced::Dir)) => {
                    Ok(Step::RemoveDir(Side::Sandbox))
                }
                Some(_) => {
                    self.ws.rm(&ws_path, true).map_err(store_error)?;
                    self.report.removed_in_workspace.push(ws_path);
                    Ok(Step::Forget)
                }
                None => Ok(Step::Forget),
            },
            Some(Found::Dir) => {
                if matches!(s, Some(StoreSide::File { .. })) {
                    self.ws.rm(&ws_path, false).map_err(store_error)?;
                }
                self.ws.mkdir(&ws_path, true).map_err(store_error)?;
                Ok(Step::Record(Synced::Dir))
            }
            Some(Found::File(_)) => {
                let (data, stamp, hash) = self.host_read_data(path)?;
                if matches!(s, Some(StoreSide::Dir)) {
                    self.ws.rm(&ws_path, true).map_err(store_error)?;
                }
                let stat = self.ws.write(&ws_path, &data).map_err(store_error)?;
                self.report.to_workspace.push(ws_path);
                Ok(Step::Record(Synced::File {
                    store: (stat.size, stat.mtime_ms),
                    host: stamp,
                    hash,
                }))
            }
        }
    }

    /// Removes `path` on the side opposite `removed_on` if it is empty there; whether it
    /// was removed (else it is recreated where it was removed).
    fn remove_dir(&mut self, path: &str, removed_on: Side) -> Result<bool, String> {
        let ws_path = format!("/{path}");
        match removed_on {
            Side::Workspace => {
                if hostfs::is_empty_dir(self.root, path).map_err(|e| e.to_string())? {
                    hostfs::remove(self.root, path).map_err(|e| e.to_string())?;
                    self.report.removed_in_sandbox.push(ws_path);
                    return Ok(true);
                }
                self.ws.mkdir(&ws_path, true).map_err(|e| e.to_string())?;
                Ok(false)
            }
            Side::Sandbox => {
                let empty = match self.ws.list(&ws_path) {
                    Ok(entries) => entries.is_empty(),
                    Err(_) => return Ok(true),
                };
                if empty {
                    self.ws.rm(&ws_path, true).map_err(|e| e.to_string())?;
                    self.report.removed_in_workspace.push(ws_path);
                    return Ok(true);
                }
                hostfs::mkdirs(self.root, path, self.owner).map_err(|e| e.to_string())?;
                Ok(false)
            }
        }
    }

    fn store_hash(&mut self, path: &str) -> Result<[u8; 32], String> {
        let data = self
            .ws
            .read(&format!("/{path}"))
            .map_err(|e| format!("cannot read it from the workspace: {e}"))?;
        Ok(Sha256::digest(&data).into())
    }

    fn host_read_data(&mut self, path: &str) -> Result<(Vec<u8>, Stamp, [u8; 32]), String> {
        let (data, stamp) = hostfs::read(self.root, path, store::MAX_FILE_BYTES as u64)
            .map_err(|e| format!("cannot read it in the sandbox's copy: {e}"))?;
        let hash = Sha256::digest(&data).into();
        Ok((data, stamp, hash))
    }
}
