//! What every SQLite connection in a data directory shares: how it is opened, its pragmas,
//! and schema migrations recorded in `_islet_migrations`.

use std::path::Path;
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
    conn.execute_batch(
        "PRAGMA synchronous = OFF;
         PRAGMA journal_mode = WAL;
         PRAGMA foreign_keys = ON;",
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
    Ok(conn)
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
