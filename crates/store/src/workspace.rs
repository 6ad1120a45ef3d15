//! The agent's workspace: a POSIX-like filesystem stored in the agent's database, so file
//! changes commit and roll back with the rest of a turn.
//!
//! `_islet_fs_nodes` holds one row per file or directory (keyed by absolute path, with its
//! parent for listing); `_islet_fs_chunks` holds file contents in 64 KiB pieces, so an
//! append rewrites only the last piece and a large file never needs one huge row.
//! Chunks follow their node through moves and deletes by `ON UPDATE/DELETE CASCADE`.

mod diff;
mod glob;
mod grep;
mod path;

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use crate::Result;
use crate::agent_db::AgentDb;
use crate::error::{Error, SqlContext};

use grep::DEFAULT_MAX_MATCHES;
pub use grep::{GrepMatch, GrepOptions};

/// Size of one stored piece of a file.
pub const CHUNK_BYTES: usize = 64 << 10;
/// The largest file.
pub const MAX_FILE_BYTES: usize = 64 << 20;

/// File or directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A file: it has content and a size.
    File,
    /// A directory: it has entries.
    Dir,
}

impl Kind {
    fn parse(text: &str) -> Kind {
        // The table's CHECK constraint allows only these two.
        if text == "dir" { Kind::Dir } else { Kind::File }
    }
}

/// What `stat` says about a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stat {
    /// The path, normalised.
    pub path: String,
    /// File or directory.
    pub kind: Kind,
    /// Bytes for a file, 0 for a directory.
    pub size: u64,
    /// Last content change (files) or creation (directories), ms since the Unix epoch.
    pub mtime_ms: i64,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// The entry's name within its directory.
    pub name: String,
    /// Its full normalised path, to pass to other calls.
    pub path: String,
    /// File or directory.
    pub kind: Kind,
    /// Bytes for a file, 0 for a directory.
    pub size: u64,
    /// Last content change (files) or creation (directories), ms since the Unix epoch.
    pub mtime_ms: i64,
}

/// The agent's filesystem; borrow it with [`AgentDb::workspace`].
///
/// Paths are absolute or relative to `/` and are normalised (`a//b`, `./a`, a trailing
/// `/` are fine). `INVALID_PATH`: empty, `..` above the root, control characters, a
/// component over 255 bytes, a path over 4,096 bytes.
pub struct Workspace<'a> {
    db: &'a mut AgentDb,
}

impl std::fmt::Debug for Workspace<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workspace").field("db", &self.db).finish()
    }
}

impl AgentDb {
    /// The agent's workspace: a filesystem stored in this database.
    pub fn workspace(&mut self) -> Workspace<'_> {
        Workspace { db: self }
    }
}

impl Workspace<'_> {
    /// A file's bytes.
    pub fn read(&mut self, path: &str) -> Result<Vec<u8>> {
        self.db.check_turn()?;
        let path = path::normalize(path)?;
        let conn = self.db.conn();
        let node = existing(conn, &path)?;
        if node.kind == Kind::Dir {
            return Err(is_a_directory(&path, "read"));
        }
        read_content(conn, &path, node.size)
    }

    /// A file's content as UTF-8 text; `INVALID_ARGUMENT` if it is not UTF-8.
    pub fn read_text(&mut self, path: &str) -> Result<String> {
        let bytes = self.read(path)?;
        String::from_utf8(bytes).map_err(|e| {
            Error::InvalidArgument(format!(
                "`{}` is not UTF-8 text (invalid byte at offset {}); read it as bytes instead",
                path::normalize(path).unwrap_or_default(),
                e.utf8_error().valid_up_to()
            ))
        })
    }

    /// Creates or replaces a file, creating missing parent directories.
    pub fn write(&mut self, path: &str, data: &[u8]) -> Result<Stat> {
        let path = path::normalize(path)?;
        check_size(&path, data.len())?;
        self.db.atomically("writing a file", |conn, env| {
            let now = env.now_ms();
            match node(conn, &path)? {
                Some(Node {
                    kind: Kind::Dir, ..
                }) => return Err(is_a_directory(&path, "write")),
                Some(_) => {
                    conn.prepare_cached("DELETE FROM _islet_fs_chunks WHERE path = ?1")
                        .and_then(|mut delete| delete.execute([&path]))
                        .ctx("writing a file")?;
                }
                None => make_parents(conn, &path, now)?,
            }
            upsert_file(conn, &path, data.len() as u64, now)?;
            insert_chunks(conn, &path, 0, data)?;
            Ok(stat_of(&path, Kind::File, data.len() as u64, now))
        })
    }

    /// Appends to a file, creating it (and missing parent directories) if needed. Only the
    /// last stored piece of the file is rewritten.
    pub fn append(&mut self, path: &str, data: &[u8]) -> Result<Stat> {
        let path = path::normalize(path)?;
        self.db.atomically("appending to a file", |conn, env| {
            let now = env.now_ms();
            let old_size = match node(conn, &path)? {
                Some(Node {
                    kind: Kind::Dir, ..
                }) => {
                    return Err(is_a_directory(&path, "append to"));
                }
                Some(node) => node.size,
                None => {
                    make_parents(conn, &path, now)?;
                    0
                }
            };
            let new_size = old_size as usize + data.len();
            check_size(&path, new_size)?;
            upsert_file(conn, &path, new_size as u64, now)?;
            let used_in_last = old_size as usize % CHUNK_BYTES;
            let mut rest = data;
            if used_in_last != 0 && !rest.is_empty() {
                let fill = rest.len().min(CHUNK_BYTES - used_in_last);
                let last_index = (old_size / CHUNK_BYTES as u64) as i64;
                // Concatenated here, not with SQL `||`, which treats blobs as text.
                let mut last: Vec<u8> = conn
                    .prepare_cached(
                        "SELECT data FROM _islet_fs_chunks WHERE path = ?1 AND idx = ?2",
                    )
                    .and_then(|mut select| select.query_row((&path, last_index), |row| row.get(0)))
                    .ctx("appending to a file")?;
                last.extend_from_slice(&rest[..fill]);
                conn.prepare_cached(
                    "UPDATE _islet_fs_chunks SET data = ?3 WHERE path = ?1 AND idx = ?2",
                )
                .and_then(|mut update| update.execute((&path, last_index, last)))
                .ctx("appending to a file")?;
                rest = &rest[fill..];
            }
            let next_index = (old_size as usize).div_ceil(CHUNK_BYTES);
            insert_chunks(conn, &path, next_index, rest)?;
            Ok(stat_of(&path, Kind::File, new_size as u64, now))
        })
    }

    /// Creates a directory. Without `recursive` the parent must exist and the path must
    /// not; with it, missing parents are created and an existing directory is fine.
    pub fn mkdir(&mut self, path: &str, recursive: bool) -> Result<()> {
        let path = path::normalize(path)?;
        self.db.atomically("creating a directory", |conn, env| {
            let now = env.now_ms();
            match node(conn, &path)? {
                Some(Node {
                    kind: Kind::Dir, ..
                }) if recursive => return Ok(()),
                Some(Node { kind, .. }) => {
                    return Err(Error::AlreadyExists(format!(
                        "cannot create directory `{path}`: a {} with that path already exists",
                        kind_noun(kind)
                    )));
                }
                None => {}
            }
            if recursive {
                make_parents(conn, &path, now)?;
            } else {
                let parent = path::parent(&path).unwrap_or("/");
                match node(conn, parent)? {
                    Some(Node {
                        kind: Kind::Dir, ..
                    }) => {}
                    Some(_) => return Err(not_a_directory(parent, &path)),
                    None => {
                        return Err(Error::NotFound(format!(
                            "cannot create directory `{path}`: its parent `{parent}` does not \
                             exist; create it first or pass recursive"
                        )));
                    }
                }
            }
            insert_dir(conn, &path, now)
        })
    }

    /// A directory's entries, sorted by name. `NOT_A_DIRECTORY` for a file.
    pub fn list(&mut self, path: &str) -> Result<Vec<Entry>> {
        self.db.check_turn()?;
        let path = path::normalize(path)?;
        let conn = self.db.conn();
        if existing(conn, &path)?.kind == Kind::File {
            return Err(Error::NotADirectory(format!(
                "cannot list `{path}`: it is a file; use stat or read for files"
            )));
        }
        let mut select = conn
            .prepare_cached(
                "SELECT path, kind, size, mtime_ms FROM _islet_fs_nodes
                 WHERE parent = ?1 ORDER BY path",
            )
            .ctx("listing a directory")?;
        let rows = select
            .query_map([&path], |row| {
                let path: String = row.get(0)?;
                Ok(Entry {
                    name: path::file_name(&path).to_string(),
                    kind: Kind::parse(&row.get::<_, String>(1)?),
                    size: size_from(row.get(2)?),
                    mtime_ms: row.get(3)?,
                    path,
                })
            })
            .ctx("listing a directory")?;
        rows.collect::<Result<_, _>>().ctx("listing a directory")
    }

    /// What is at `path`, if anything.
    pub fn stat(&mut self, path: &str) -> Result<Option<Stat>> {
        self.db.check_turn()?;
        let path = path::normalize(path)?;
        Ok(node(self.db.conn(), &path)?.map(|n| stat_of(&path, n.kind, n.size, n.mtime_ms)))
    }

    /// Whether anything is at `path`.
    pub fn exists(&mut self, path: &str) -> Result<bool> {
        Ok(self.stat(path)?.is_some())
    }

    /// Moves a file or a whole directory, creating the target's missing parents. An
    /// existing file target is replaced; an existing directory target is refused, as is
    /// moving a directory into itself. Modification times are kept.
    pub fn mv(&mut self, from: &str, to: &str) -> Result<()> {
        let from = path::normalize(from)?;
        let to = path::normalize(to)?;
        self.db.atomically("moving", |conn, env| {
            let source = prepare_transfer(conn, "move", &from, &to, true)?;
            if from == to {
                return Ok(());
            }
            make_parents(conn, &to, env.now_ms())?;
            let to_parent = path::parent(&to).unwrap_or("/");
            if source.kind == Kind::File {
                conn.prepare_cached(
                    "UPDATE _islet_fs_nodes SET path = ?2, parent = ?3 WHERE path = ?1",
                )
                .and_then(|mut update| update.execute((&from, &to, to_parent)))
                .ctx("moving a file")?;
                return Ok(());
            }
            let (low, high) = path::descendant_range(&from);
            // Every path under `from` is rewritten to the same place under `to`; none of
            // them can collide, because `to` does not exist and so nothing is under it.
            conn.prepare_cached(
                "UPDATE _islet_fs_nodes SET
                     path = ?2 || substr(path, length(?1) + 1),
                     parent = CASE WHEN path = ?1 THEN ?3
                                   ELSE ?2 || substr(parent, length(?1) + 1) END
                 WHERE path = ?1 OR (path > ?4 AND path < ?5)",
            )
            .and_then(|mut update| update.execute((&from, &to, to_parent, low, high)))
            .ctx("moving a directory")?;
            Ok(())
        })
    }

    /// Copies a file, or with `recursive` a whole directory, creating the target's
    /// missing parents. An existing file target is replaced; an existing directory target
    /// is refused. Copies get the current time as their modification time.
    pub fn cp(&mut self, from: &str, to: &str, recursive: bool) -> Result<()> {
        let from = path::normalize(from)?;
        let to = path::normalize(to)?;
        self.db.atomically("copying", |conn, env| {
            let now = env.now_ms();
            let source = prepare_transfer(conn, "copy", &from, &to, false)?;
            if source.kind == Kind::Dir && !recursive {
                return Err(Error::IsADirectory(format!(
                    "cannot copy `{from}` without recursive: it is a directory; pass \
                     recursive to copy it with everything in it"
                )));
            }
            if from == to {
                return Ok(());
            }
            make_parents(conn, &to, now)?;
            let to_parent = path::parent(&to).unwrap_or("/");
            let (low, high) = if source.kind == Kind::Dir {
                path::descendant_range(&from)
            } else {
                // An empty range: a file has no descendants.
                (String::from("1"), String::from("0"))
            };
            conn.prepare_cached(
                "INSERT INTO _islet_fs_nodes (path, parent, kind, size, mtime_ms)
                 SELECT ?2 || substr(path, length(?1) + 1),
                        CASE WHEN path = ?1 THEN ?3
                             ELSE ?2 || substr(parent, length(?1) + 1) END,
                        kind, size, ?6
                 FROM _islet_fs_nodes WHERE path = ?1 OR (path > ?4 AND path < ?5)",
            )
            .and_then(|mut insert| insert.execute((&from, &to, to_parent, &low, &high, now)))
            .ctx("copying")?;
            conn.prepare_cached(
                "INSERT INTO _islet_fs_chunks (path, idx, data)
                 SELECT ?2 || substr(path, length(?1) + 1), idx, data
                 FROM _islet_fs_chunks WHERE path = ?1 OR (path > ?3 AND path < ?4)",
            )
            .and_then(|mut insert| insert.execute((&from, &to, &low, &high)))
            .ctx("copying file contents")?;
            Ok(())
        })
    }

    /// Removes a file, or a directory (one with entries only with `recursive`); how many
    /// files and directories were removed. The root cannot be removed.
    pub fn rm(&mut self, path: &str, recursive: bool) -> Result<u64> {
        let path = path::normalize(path)?;
        self.db.atomically("removing", |conn, _| {
            if path == "/" {
                return Err(Error::InvalidArgument(
                    "the workspace root `/` cannot be removed; remove its entries instead".into(),
                ));
            }
            let target = existing(conn, &path)?;
            let (low, high) = path::descendant_range(&path);
            if target.kind == Kind::Dir && !recursive {
                let has_entries = conn
                    .prepare_cached("SELECT 1 FROM _islet_fs_nodes WHERE parent = ?1 LIMIT 1")
                    .and_then(|mut select| select.query_row([&path], |_| Ok(())).optional())
                    .ctx("removing")?
                    .is_some();
                if has_entries {
                    return Err(Error::DirectoryNotEmpty(format!(
                        "cannot remove `{path}`: the directory is not empty; pass recursive \
                         to remove it with everything in it"
                    )));
                }
            }
            let removed = conn
                .prepare_cached(
                    "DELETE FROM _islet_fs_nodes WHERE path = ?1 OR (path > ?2 AND path < ?3)",
                )
                .and_then(|mut delete| delete.execute((&path, low, high)))
                .ctx("removing")?;
            Ok(removed as u64)
        })
    }

    /// Paths matching a glob pattern (`*`, `?`, `[abc]`, `**` for any depth; relative
    /// patterns are relative to `/`), files and directories, sorted.
    pub fn glob(&mut self, pattern: &str) -> Result<Vec<String>> {
        self.db.check_turn()?;
        let glob = glob::Glob::new(pattern)?;
        let conn = self.db.conn();
        if let Some(path) = glob.literal {
            // No wildcard: the pattern names one path.
            let found = node(conn, &path)?.is_some();
            return Ok(if found { vec![path] } else { Vec::new() });
        }
        let mut paths = subtree(conn, &glob.base, false)?;
        paths.retain(|candidate| glob.matches(candidate));
        Ok(paths)
    }

    /// Lines of text files matching a regex (Rust `regex` syntax), in path and line order.
    /// Files with a NUL byte or invalid UTF-8 are skipped as binary.
    pub fn grep(&mut self, pattern: &str, opts: &GrepOptions) -> Result<Vec<GrepMatch>> {
        self.db.check_turn()?;
        let regex = grep::compile(pattern, opts.ignore_case)?;
        let filter = grep::FileFilter::new(opts.glob.as_deref())?;
        let root = path::normalize(opts.path.as_deref().unwrap_or("/"))?;
        let max = opts.max_matches.unwrap_or(DEFAULT_MAX_MATCHES);
        let conn = self.db.conn();
        let files = match existing(conn, &root)? {
            Node {
                kind: Kind::File, ..
            } => vec![root],
            Node {
                kind: Kind::Dir, ..
            } => subtree(conn, &root, true)?,
        };
        let mut matches = Vec::new();
        for file in files {
            if !filter.accepts(&file) {
                continue;
            }
            let Some(node) = node(conn, &file)? else {
                continue;
            };
            let content = read_content(conn, &file, node.size)?;
            if !grep::search_file(&regex, &file, &content, max, &mut matches) {
                break;
            }
        }
        Ok(matches)
    }

    /// A unified diff from file `a` to file `b` (headers `--- a`, `+++ b`); empty when
    /// they are equal.
    pub fn diff(&mut self, a: &str, b: &str) -> Result<String> {
        let old = self.read_text(a)?;
        let new = self.read_text(b)?;
        Ok(diff::unified(
            &path::normalize(a)?,
            &path::normalize(b)?,
            &old,
            &new,
        ))
    }

    /// A unified diff from a file's content to `new_text` (both headers name the file; a
    /// missing file diffs as empty), to review an edit before writing it.
    pub fn diff_text(&mut self, path: &str, new_text: &str) -> Result<String> {
        let normalized = path::normalize(path)?;
        let old = if self.exists(&normalized)? {
            self.read_text(&normalized)?
        } else {
            String::new()
        };
        Ok(diff::unified(&normalized, &normalized, &old, new_text))
    }
}

struct Node {
    kind: Kind,
    size: u64,
    mtime_ms: i64,
}

fn node(conn: &Connection, path: &str) -> Result<Option<Node>> {
    conn.prepare_cached("SELECT kind, size, mtime_ms FROM _islet_fs_nodes WHERE path = ?1")
        .and_then(|mut select| {
            select
                .query_row([path], |row| {
                    Ok(Node {
                        kind: Kind::parse(&row.get::<_, String>(0)?),
                        size: size_from(row.get(1)?),
                        mtime_ms: row.get(2)?,
                    })
                })
                .optional()
        })
        .ctx("looking up a workspace path")
}

fn existing(conn: &Connection, path: &str) -> Result<Node> {
    node(conn, path)?.ok_or_else(|| {
        Error::NotFound(format!(
            "`{path}` does not exist in the workspace; list its directory to see what is there"
        ))
    })
}

fn read_content(conn: &Connection, path: &str, size: u64) -> Result<Vec<u8>> {
    let mut content = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(MAX_FILE_BYTES));
    let mut select = conn
        .prepare_cached("SELECT data FROM _islet_fs_chunks WHERE path = ?1 ORDER BY idx")
        .ctx("reading a file")?;
    let mut rows = select.query([path]).ctx("reading a file")?;
    while let Some(row) = rows.next().ctx("reading a file")? {
        let data = row.get_ref(0).ctx("reading a file")?;
        let bytes = data.as_blob().map_err(|e| Error::Sqlite {
            what: "reading a file".into(),
            message: e.to_string(),
        })?;
        content.extend_from_slice(bytes);
    }
    Ok(content)
}

/// Every path strictly below `dir`, sorted; only files if `files_only`.
fn subtree(conn: &Connection, dir: &str, files_only: bool) -> Result<Vec<String>> {
    let (low, high) = path::descendant_range(dir);
    let mut select = conn
        .prepare_cached(
            "SELECT path FROM _islet_fs_nodes
             WHERE path > ?1 AND path < ?2 AND (?3 = 0 OR kind = 'file')
             ORDER BY path",
        )
        .ctx("walking the workspace")?;
    let rows = select
        .query_map((low, high, files_only), |row| row.get(0))
        .ctx("walking the workspace")?;
    rows.collect::<Result<_, _>>().ctx("walking the workspace")
}

/// Creates every missing directory above `path`; `NOT_A_DIRECTORY` if one is a file.
fn make_parents(conn: &Connection, path: &str, now: i64) -> Result<()> {
    let mut missing = Vec::new();
    let mut current = path::parent(path);
    while let Some(dir) = current {
        match node(conn, dir)? {
            Some(Node {
                kind: Kind::Dir, ..
            }) => break,
            Some(_) => return Err(not_a_directory(dir, path)),
            None => missing.push(dir),
        }
        current = path::parent(dir);
    }
    for dir in missing.into_iter().rev() {
        insert_dir(conn, dir, now)?;
    }
    Ok(())
}

fn insert_dir(conn: &Connection, path: &str, now: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO _islet_fs_nodes (path, parent, kind, size, mtime_ms)
         VALUES (?1, ?2, 'dir', 0, ?3)",
    )
    .and_then(|mut insert| insert.execute((path, path::parent(path), now)))
    .ctx("creating a directory")?;
    Ok(())
}

fn upsert_file(conn: &Connection, path: &str, size: u64, now: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO _islet_fs_nodes (path, parent, kind, size, mtime_ms)
         VALUES (?1, ?2, 'file', ?3, ?4)
         ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime_ms = excluded.mtime_ms",
    )
    .and_then(|mut upsert| upsert.execute((path, path::parent(path), size as i64, now)))
    .ctx("writing a file")?;
    Ok(())
}

fn insert_chunks(conn: &Connection, path: &str, first_index: usize, data: &[u8]) -> Result<()> {
    let mut insert = conn
        .prepare_cached("INSERT INTO _islet_fs_chunks (path, idx, data) VALUES (?1, ?2, ?3)")
        .ctx("writing file contents")?;
    for (offset, chunk) in data.chunks(CHUNK_BYTES).enumerate() {
        insert
            .execute((path, (first_index + offset) as i64, chunk))
            .ctx("writing file contents")?;
    }
    Ok(())
}

/// Checks a move or copy from `from` to `to` and clears a file target it replaces.
fn prepare_transfer(
    conn: &Connection,
    verb: &str,
    from: &str,
    to: &str,
    moving: bool,
) -> Result<Node> {
    if moving && from == "/" {
        return Err(Error::InvalidArgument(
            "the workspace root `/` cannot be moved; move its entries instead".into(),
        ));
    }
    let source = existing(conn, from)?;
    if from == to {
        return Ok(source);
    }
    if source.kind == Kind::Dir && path::is_within(to, from) {
        return Err(Error::InvalidArgument(format!(
            "cannot {verb} directory `{from}` to `{to}`: the target is inside the source"
        )));
    }
    match node(conn, to)? {
        None => {}
        Some(Node {
            kind: Kind::Dir, ..
        }) => {
            return Err(Error::AlreadyExists(format!(
                "cannot {verb} `{from}` to `{to}`: `{to}` is an existing directory; name the \
                 full target path (e.g. `{to}/{}`)",
                path::file_name(from)
            )));
        }
        Some(_) if source.kind == Kind::Dir => {
            return Err(Error::AlreadyExists(format!(
                "cannot {verb} directory `{from}` to `{to}`: `{to}` is an existing file; \
                 remove it first or choose another target"
            )));
        }
        Some(_) => {
            conn.prepare_cached("DELETE FROM _islet_fs_nodes WHERE path = ?1")
                .and_then(|mut delete| delete.execute([to]))
                .ctx("replacing a file")?;
        }
    }
    Ok(source)
}

/// Sizes are stored as SQLite integers (i64); they are never negative.
fn size_from(stored: i64) -> u64 {
    u64::try_from(stored).unwrap_or(0)
}

fn check_size(path: &str, size: usize) -> Result<()> {
    if size > MAX_FILE_BYTES {
        return Err(Error::TooLarge(format!(
            "`{path}` would be {size} bytes, over the {} MiB limit for one file; split the \
             content across several files",
            MAX_FILE_BYTES >> 20
        )));
    }
    Ok(())
}

fn stat_of(path: &str, kind: Kind, size: u64, mtime_ms: i64) -> Stat {
    Stat {
        path: path.to_string(),
        kind,
        size,
        mtime_ms,
    }
}

fn kind_noun(kind: Kind) -> &'static str {
    match kind {
        Kind::File => "file",
        Kind::Dir => "directory",
    }
}

fn is_a_directory(path: &str, verb: &str) -> Error {
    Error::IsADirectory(format!(
        "cannot {verb} `{path}`: it is a directory; list it, or name a file inside it"
    ))
}

fn not_a_directory(file: &str, wanted: &str) -> Error {
    Error::NotADirectory(format!(
        "cannot use `{wanted}`: `{file}` is a file, not a directory"
    ))
}
