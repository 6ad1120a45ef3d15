//! File operations in a sandbox's host directory that a process in the sandbox cannot
//! redirect. That directory is writable from inside, so any component of a path may be a
//! symlink to a host file or a FIFO planted to block us: every open is an `openat2`
//! beneath the directory that refuses symlinks, and only regular files are read.

use std::ffi::CStr;
use std::io::{Read as _, Write as _};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS);

/// What the host sees of a file, enough to notice a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
    pub ino: u64,
}

impl Stamp {
    fn of(stat: &rustix::fs::Stat) -> Stamp {
        Stamp {
            size: stat.st_size as u64,
            mtime_ns: stat.st_mtime as i128 * 1_000_000_000 + stat.st_mtime_nsec as i128,
            ctime_ns: stat.st_ctime as i128 * 1_000_000_000 + stat.st_ctime_nsec as i128,
            ino: stat.st_ino,
        }
    }
}

/// One entry found by [`walk`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
    Dir,
    File(Stamp),
    /// A symlink, FIFO, socket or device: never followed, never synced.
    Other,
    /// A name that is not UTF-8.
    BadName,
}

pub(crate) fn open_root(dir: &Path) -> std::io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

fn open_beneath(root: impl AsFd, rel: &str, flags: OFlags, mode: Mode) -> std::io::Result<OwnedFd> {
    let rel = if rel.is_empty() { "." } else { rel };
    loop {
        match rustix::fs::openat2(
            &root,
            rel,
            flags | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            mode,
            RESOLVE,
        ) {
            Err(Errno::AGAIN | Errno::INTR) => continue,
            other => return Ok(other?),
        }
    }
}

/// Every entry below `root`, as paths relative to it (`a/b.txt`), parents before
/// children.
pub(crate) fn walk(root: &OwnedFd) -> std::io::Result<Vec<(String, Found)>> {
    walk_from(root, String::new(), true)
}

/// The entries of the directory `rel` (not below), as paths relative to `root`; fails if
/// it is missing, not a directory, or reached through a symlink.
pub(crate) fn list_dir(root: &OwnedFd, rel: &str) -> std::io::Result<Vec<(String, Found)>> {
    walk_from(root, rel.to_string(), false)
}

fn walk_from(
    root: &OwnedFd,
    start: String,
    recursive: bool,
) -> std::io::Result<Vec<(String, Found)>> {
    let mut found = Vec::new();
    let mut dirs = vec![start.clone()];
    while let Some(dir) = dirs.pop() {
        let fd = match open_beneath(
            root,
            &dir,
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            // Replaced by a symlink or removed while we walk: skip it.
            Err(_) if dir != start => continue,
            Err(e) => return Err(e),
        };
        let mut names = Vec::new();
        for entry in rustix::fs::Dir::read_from(&fd)? {
            let entry = entry?;
            let name = entry.file_name();
            if name == c"." || name == c".." {
                continue;
            }
            names.push(name.to_owned());
        }
        for name in names {
            let Ok(text) = name.to_str() else {
                found.push((lossy_join(&dir, &name), Found::BadName));
                continue;
            };
            let rel = if dir.is_empty() {
                text.to_string()
            } else {
                format!("{dir}/{text}")
            };
            let Ok(stat) = rustix::fs::statat(&fd, name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW)
            else {
                continue;
            };
            match FileType::from_raw_mode(stat.st_mode) {
                FileType::Directory => {
                    found.push((rel.clone(), Found::Dir));
                    if recursive {
                        dirs.push(rel);
                    }
                }
                FileType::RegularFile => found.push((rel, Found::File(Stamp::of(&stat)))),
                _ => found.push((rel, Found::Other)),
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}

fn lossy_join(dir: &str, name: &CStr) -> String {
    let name = name.to_string_lossy();
    if dir.is_empty() {
        name.into_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// A regular file's bytes and stamp; `InvalidInput` for anything else or over `max`.
pub(crate) fn read(root: &OwnedFd, rel: &str, max: u64) -> std::io::Result<(Vec<u8>, Stamp)> {
    let fd = open_beneath(root, rel, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty())?;
    let stat = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("`{rel}` is not a regular file"),
        ));
    }
    if stat.st_size as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!(
                "`{rel}` is {} bytes, over the {max}-byte limit",
                stat.st_size
            ),
        ));
    }
    let mut data = Vec::with_capacity(stat.st_size as usize);
    std::fs::File::from(fd.try_clone()?)
        .take(max + 1)
        .read_to_end(&mut data)?;
    if data.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("`{rel}` grew over the {max}-byte limit while being read"),
        ));
    }
    // Stamp after reading: a write racing the read shows as a change next time.
    Ok((data, Stamp::of(&rustix::fs::fstat(&fd)?)))
}

/// Creates or replaces a regular file (and missing parent directories), owned by `owner`.
pub(crate) fn write(
    root: &OwnedFd,
    rel: &str,
    data: &[u8],
    owner: Option<u32>,
) -> std::io::Result<Stamp> {
    let open = || {
        open_beneath(
            root,
            rel,
            OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NONBLOCK,
            Mode::from_raw_mode(0o644),
        )
    };
    // Parents usually exist: create them only when the open says they do not.
    let fd = match open() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some((parent, _)) = rel.rsplit_once('/') {
                mkdirs(root, parent, owner)?;
            }
            open()?
        }
        other => other?,
    };
    let stat = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("`{rel}` exists and is not a regular file"),
        ));
    }
    chown(&fd, owner)?;
    let mut file = std::fs::File::from(fd);
    file.write_all(data)?;
    Ok(Stamp::of(&rustix::fs::fstat(&file)?))
}

/// Creates a directory and its missing parents.
pub(crate) fn mkdirs(root: &OwnedFd, rel: &str, owner: Option<u32>) -> std::io::Result<()> {
    let mut so_far = String::new();
    for part in rel.split('/').filter(|p| !p.is_empty()) {
        let parent = open_beneath(
            root,
            &so_far,
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
        )?;
        match rustix::fs::mkdirat(&parent, part, Mode::from_raw_mode(0o755)) {
            Ok(()) => {
                if owner.is_some() {
                    let dir = open_beneath(
                        &parent,
                        part,
                        OFlags::RDONLY | OFlags::DIRECTORY,
                        Mode::empty(),
                    )?;
                    chown(&dir, owner)?;
                }
            }
            Err(Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        if !so_far.is_empty() {
            so_far.push('/');
        }
        so_far.push_str(part);
    }
    Ok(())
}

/// Whether `rel` is a directory with nothing in it.
pub(crate) fn is_empty_dir(root: &OwnedFd, rel: &str) -> std::io::Result<bool> {
    let fd = match open_beneath(root, rel, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()) {
        Ok(fd) => fd,
        Err(_) => return Ok(false),
    };
    for entry in rustix::fs::Dir::read_from(&fd)? {
        let entry = entry?;
        if entry.file_name() != c"." && entry.file_name() != c".." {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Removes a file, or a directory with everything in it.
pub(crate) fn remove(root: &OwnedFd, rel: &str) -> std::io::Result<()> {
    let (parent, name) = rel.rsplit_once('/').unwrap_or(("", rel));
    let parent_fd = open_beneath(
        root,
        parent,
        OFlags::RDONLY | OFlags::DIRECTORY,
        Mode::empty(),
    )?;
    match rustix::fs::unlinkat(&parent_fd, name, AtFlags::empty()) {
        Ok(()) => Ok(()),
        Err(Errno::ISDIR) => {
            let dir = open_beneath(
                &parent_fd,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY,
                Mode::empty(),
            )?;
            for (child, _) in walk(&dir)?.into_iter().rev() {
                let (p, n) = child.rsplit_once('/').unwrap_or(("", &child));
                let pfd = open_beneath(&dir, p, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())?;
                match rustix::fs::unlinkat(&pfd, n, AtFlags::empty()) {
                    Err(Errno::ISDIR) => rustix::fs::unlinkat(&pfd, n, AtFlags::REMOVEDIR)?,
                    other => other?,
                }
            }
            Ok(rustix::fs::unlinkat(&parent_fd, name, AtFlags::REMOVEDIR)?)
        }
        Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn chown(fd: &OwnedFd, owner: Option<u32>) -> std::io::Result<()> {
    if let Some(id) = owner {
        rustix::fs::fchown(
            fd,
            Some(rustix::process::Uid::from_raw(id)),
            Some(rustix::process::Gid::from_raw(id)),
        )?;
    }
    Ok(())
}
