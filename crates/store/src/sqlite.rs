//! What every SQLite connection in a data directory shares: how it is opened, its pragmas,
//! and schema migrations recorded in `_islet_migrations`.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::Result;
use crate::error::{Error, SqlContext};

/// How long a connection waits for another connection's write lock (e.g. `islet ws` reading
/// an agent that a running server is writing) before giving up with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens a database file with the data directory's settings and brings its schema up to
/// date. `create` decides whether a missing file is created or is an error.
/// `migrations[i]` is schema version `i + 1`: a batch of SQL run once; all pending ones run
/// in one transaction, so a database is never left half-migrated.
pub(crate) fn open(
    path: &Path,
    create: bool,
    migrations: &[&str],
    now_ms: i64,
) -> Result<Connection> {
    open_with_image(path, create, migrations, now_ms, None).map(|(conn, _)| conn)
}

/// [`open`], creating a missing file from `image` (made by [`image`] from these same
/// `migrations`) instead of running them. `true` with the connection when it did: the
/// schema's rows then hold the image's time (0), for the caller to set.
pub(crate) fn open_with_image(
    path: &Path,
    create: bool,
    migrations: &[&str],
    now_ms: i64,
    image: Option<&Image>,
) -> Result<(Connection, bool)> {
    let mut from_image = false;
    if create && matches!(fs::symlink_metadata(path), Err(e) if e.kind() == ErrorKind::NotFound) {
        from_image = match image {
            Some(image) => create_from_image(path, image),
            None => false,
        };
        if !from_image {
            create_in_wal_mode(path);
        }
    }
    // No SQLITE_OPEN_URI: a file name is always a file name, whatever characters it has.
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let mut conn = Connection::open_with_flags(path, flags).map_err(|e| Error::Io {
        path: path.display().to_string(),
        message: format!("cannot open the database: {e}"),
    })?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .ctx("setting busy_timeout")?;
    // Closing a connection would otherwise checkpoint the WAL into the database, an fsync
    // on the path of every agent that goes idle; checkpoints happen as the WAL grows
    // (wal_autocheckpoint) and when `AgentDb::checkpoint` is asked for.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
        .ctx("configuring checkpoints")?;
    // WAL with synchronous=NORMAL: a commit appends to the write-ahead log and returns
    // without fsync. The log is in the OS page cache by then, so an acknowledged write
    // survives the process being killed (kill -9, a panic, OOM); only a power loss or kernel
    // crash can lose the last commits, never corrupt the file. fsync happens at checkpoints.
    //
    // synchronous=OFF until the schema exists: creating a database (switching it to WAL,
    // starting the log) would otherwise cost several fsyncs, ~10 ms, for a file that holds
    // nothing anyone was promised yet. Existing databases switch to NORMAL before writing.
    //
    // cache_size: up to 16 MiB of pages per connection (the default is 2 MiB), so that a
    // long chat history is read from memory; pages are allocated only as they are read.
    conn.execute_batch(
        "PRAGMA synchronous = OFF;
         PRAGMA journal_mode = WAL;
         PRAGMA foreign_keys = ON;
         PRAGMA cache_size = -16384;",
    )
    .map_err(|e| Error::Io {
        path: path.display().to_string(),
        message: format!("cannot configure the database (is it a SQLite file?): {e}"),
    })?;
    let version = applied_version(&conn)?;
    if version > 0 {
        set_normal_sync(&conn)?;
    }
    if version < migrations.len() as i64 {
        migrate(&mut conn, migrations, now_ms)?;
    }
    if version == 0 {
        set_normal_sync(&conn)?;
    }
    // The workspace and key-value code use a few dozen distinct internal statements.
    conn.set_prepared_statement_cache_capacity(64);
    Ok((conn, from_image))
}

/// A new database's two files with a schema already in them: the empty WAL-mode database
/// ([`empty_wal_database`]) and a write-ahead log holding the migrations' one transaction.
///
/// Running an agent's migrations (some thirty statements, full-text index included) took
/// about 2 ms of the 3-5 ms a new agent's activation costs; copying these files takes tens
/// of microseconds. The schema stays in the log, not in the database file, so the
/// guarantee of [`create_in_wal_mode`] holds: a log cut short by a power loss fails its
/// checksums and is ignored, leaving the empty database, whose next opening runs the
/// migrations as before.
pub(crate) struct Image {
    db: &'static [u8],
    wal: Vec<u8>,
}

/// The [`Image`] of `migrations` applied at time 0, made in a scratch database in `dir`;
/// `None` when it cannot be made (the caller then runs the migrations).
pub(crate) fn image(dir: &Path, migrations: &[&str]) -> Option<Image> {
    let db = empty_wal_database(dir)?;
    let temp = temp_path(dir);
    let wal = (|| {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        options.open(&temp)?.write_all(db)?;
        let mut conn = Connection::open_with_flags(&temp, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        // Kept in the log: closing must neither checkpoint it nor delete it.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
        conn.execute_batch("PRAGMA synchronous = OFF; PRAGMA foreign_keys = ON;")?;
        migrate(&mut conn, migrations, 0)?;
        conn.close().map_err(|(_, e)| e)?;
        // The database file must still be the empty one: all of the schema is in the log.
        if fs::read(&temp)? != db {
            return Err("the schema reached the database file".into());
        }
        Ok::<_, Box<dyn std::error::Error>>(fs::read(wal_path(&temp))?)
    })();
    remove_scratch(&temp);
    match wal {
        Ok(wal) if !wal.is_empty() => Some(Image { db, wal }),
        Ok(_) => None,
        Err(e) => {
            tracing::debug!(dir = %dir.display(), error = %e, "cannot make a database image");
            None
        }
    }
}

/// Removes a scratch database and whatever SQLite left beside it.
fn remove_scratch(temp: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = temp.as_os_str().to_owned();
        name.push(suffix);
        let _ = fs::remove_file(name);
    }
}

/// `path`'s write-ahead log.
fn wal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Puts `image`'s log, then its database, at `path` (each written under a temporary name
/// and hard-linked into place, as in [`create_in_wal_mode`]); `false` when it did not put
/// both (a log already there, another creator first, a failure), and the caller goes on
/// as without an image.
fn create_from_image(path: &Path, image: &Image) -> bool {
    let Some(dir) = path.parent() else {
        return false;
    };
    // The log first: a database file never exists without it (a reader finding the empty
    // database alone would run the migrations itself).
    if let Err(e) = place(dir, &image.wal, &wal_path(path)) {
        tracing::debug!(path = %path.display(), error = %e, "creating the database from its image failed");
        return false;
    }
    match place(dir, image.db, path) {
        Ok(()) => true,
        // Another creator's empty database: the log just placed holds the same schema.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => false,
        Err(e) => {
            tracing::debug!(path = %path.display(), error = %e, "creating the database from its image failed");
            let _ = fs::remove_file(wal_path(path));
            false
        }
    }
}

/// Puts an empty database already in WAL mode at `path`, unless a file appeared there first.
///
/// Left to itself, SQLite switches a new file to WAL through a rollback journal: one more
/// file created and deleted per database. On ext4 without a journal, inode allocation scans
/// past every inode freed in the last minutes (`recently_deleted`), so each such deletion
/// slowed every later creation, and creating agents got slower the more were created.
/// Written here, a new database costs one inode and frees none; its schema still goes
/// through the WAL, so a power loss before the first checkpoint leaves a valid database, as
/// before.
///
/// The file is written under a temporary name and hard-linked into place, so no connection
/// ever sees a partial file and a concurrent creator's file is never replaced (a crash in
/// between leaves a dot-file that nothing reads). Best effort: on any failure (e.g. a
/// filesystem without hard links) SQLite creates the file as before.
fn create_in_wal_mode(path: &Path) {
    let Some(dir) = path.parent() else { return };
    let Some(page) = empty_wal_database(dir) else {
        return;
    };
    let written = match place(dir, page, path) {
        Err(e) if e.kind() != ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    };
    if let Err(e) = written {
        tracing::debug!(path = %path.display(), error = %e, "creating the database directly failed; SQLite will");
    }
}

/// Writes `bytes` under a temporary name in `dir` and hard-links it to `to`: no reader ever
/// sees a partial file, and a file already at `to` is never replaced (`AlreadyExists`).
fn place(dir: &Path, bytes: &[u8], to: &Path) -> std::io::Result<()> {
    let temp = temp_path(dir);
    let placed = (|| {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        // The mode SQLite gives the files it creates (before the umask).
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o644);
        options.open(&temp)?.write_all(bytes)?;
        fs::hard_link(&temp, to)
    })();
    let _ = fs::remove_file(&temp);
    placed
}

/// The first page of an empty WAL-mode database, as this SQLite writes it, made once per
/// process in a scratch file in `dir` (so its page size suits that filesystem).
fn empty_wal_database(dir: &Path) -> Option<&'static [u8]> {
    static PAGE: OnceLock<Vec<u8>> = OnceLock::new();
    if let Some(page) = PAGE.get() {
        return Some(page);
    }
    let temp = temp_path(dir);
    let page = (|| {
        let conn = Connection::open_with_flags(
            &temp,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )?;
        // Nothing here needs to survive a crash: it is read back and deleted.
        conn.execute_batch("PRAGMA synchronous = OFF")?;
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        // Closing checkpoints and deletes the (empty) log: only the database is left.
        conn.close().map_err(|(_, e)| e)?;
        Ok::<_, Box<dyn std::error::Error>>(fs::read(&temp)?)
    })();
    remove_scratch(&temp);
    match page {
        // The SQLite header with file format versions 2 (WAL).
        Ok(page) if page.starts_with(b"SQLite format 3\0") && page.get(18..20) == Some(&[2, 2]) => {
            Some(PAGE.get_or_init(|| page))
        }
        Ok(_) => None,
        Err(e) => {
            tracing::debug!(dir = %dir.display(), error = %e, "cannot make an empty WAL database");
            None
        }
    }
}

/// A name in `dir` no other thread or process uses at the same time; dot-prefixed, with no
/// `.sqlite` suffix, so it is never mistaken for an agent's database.
fn temp_path(dir: &Path) -> PathBuf {
    dir.join(base::unique_name(".new"))
}

fn set_normal_sync(conn: &Connection) -> Result<()> {
    conn.execute_batch("PRAGMA synchronous = NORMAL")
        .ctx("setting synchronous")
}

fn migrate(conn: &mut Connection, migrations: &[&str], now_ms: i64) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx("starting the migration transaction")?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS _islet_migrations (
             version INTEGER PRIMARY KEY,
             applied_at_ms INTEGER NOT NULL
         );",
    )
    .ctx("creating _islet_migrations")?;
    // Another connection may have migrated while this one waited for the lock.
    let current = applied_version(&tx)?;
    for (index, migration) in migrations.iter().enumerate() {
        let version = index as i64 + 1;
        if version <= current {
            continue;
        }
        tx.execute_batch(migration)
            .ctx(&format!("applying schema migration {version}"))?;
        tx.execute(
            "INSERT INTO _islet_migrations (version, applied_at_ms) VALUES (?1, ?2)",
            (version, now_ms),
        )
        .ctx("recording a schema migration")?;
    }
    tx.commit().ctx("committing schema migrations")
}

fn applied_version(conn: &Connection) -> Result<i64> {
    match conn.query_row(
        "SELECT coalesce(max(version), 0) FROM _islet_migrations",
        [],
        |row| row.get(0),
    ) {
        Ok(version) => Ok(version),
        // A brand-new database has no migrations table yet.
        Err(rusqlite::Error::SqliteFailure(_, Some(message)))
            if message.contains("no such table") =>
        {
            Ok(0)
        }
        Err(e) => Err(Error::sqlite("reading the schema version", e)),
    }
}

/// A count or size column as `u64` (SQLite integers are `i64`; these are never negative).
pub(crate) fn get_u64(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<u64> {
    row.get::<_, i64>(index)
        .map(|value| u64::try_from(value).unwrap_or(0))
}

/// A `u64` as a SQLite integer, saturating (sequence numbers and counts stay far below).
pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::{image, open_with_image};

    const MIGRATIONS: &[&str] = &[
        "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (0);",
        "CREATE TABLE b (y TEXT);",
    ];

    /// A scratch directory, removed at the end.
    struct Dir(std::path::PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_missing_database_is_created_from_its_image_and_an_existing_one_is_opened() {
        let dir = Dir(std::env::temp_dir().join(base::unique_name("islet-sqlite-image")));
        std::fs::create_dir_all(&dir.0).unwrap();
        let image = image(&dir.0, MIGRATIONS).expect("an image of the migrations");
        let path = dir.0.join("x.sqlite");
        let (conn, from_image) = open_with_image(&path, true, MIGRATIONS, 7, Some(&image)).unwrap();
        assert!(from_image);
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM a JOIN _islet_migrations", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(
            rows, 2,
            "the image holds both migrations and the first one's row"
        );
        drop(conn);
        let (_, from_image) = open_with_image(&path, true, MIGRATIONS, 7, Some(&image)).unwrap();
        assert!(!from_image, "an existing database is opened as it is");
        // Nothing of the image's scratch database is left behind.
        let mut names: Vec<String> = std::fs::read_dir(&dir.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["x.sqlite", "x.sqlite-shm", "x.sqlite-wal"]);
    }
}
