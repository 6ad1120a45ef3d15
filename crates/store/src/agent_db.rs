//! One agent's database: its key-value storage, state, schedules, workspace and its own
//! tables, all in one SQLite file, so one transaction covers everything a turn changed.

mod guest_sql;
mod kv;
mod schedules;
mod schema;

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Error, SqlContext};
use crate::{Env, Result, sqlite};

pub use guest_sql::{DEFAULT_SQL_TIME_LIMIT, SqlOutcome, TableSummary};
pub use kv::ListOptions;
pub use schedules::{Schedule, ScheduleKind, When};

/// An open agent database. `Send`, not `Sync`: one thread (the agent's) uses it at a time.
pub struct AgentDb {
    conn: Connection,
    env: Env,
    class: String,
    name: String,
    /// Whether a turn transaction was begun and not yet committed or rolled back.
    turn_open: bool,
    gate: Arc<guest_sql::Gate>,
    sql_time_limit: std::time::Duration,
}

impl std::fmt::Debug for AgentDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentDb")
            .field("class", &self.class)
            .field("name", &self.name)
            .field("turn_open", &self.turn_open)
            .finish_non_exhaustive()
    }
}

impl AgentDb {
    pub(crate) fn open(
        path: &Path,
        create: bool,
        env: Env,
        class: &str,
        name: &str,
    ) -> Result<AgentDb> {
        let now = env.now_ms();
        let migrations = migrations_at(now);
        let migrations: Vec<&str> = migrations.iter().map(String::as_str).collect();
        // A new agent's database is copied from an image of the schema made once per
        // process (see `sqlite::Image`), its two times then set to now.
        static IMAGE: OnceLock<Option<sqlite::Image>> = OnceLock::new();
        let image = match (create, path.parent()) {
            (true, Some(dir)) => IMAGE
                .get_or_init(|| {
                    let at_zero = migrations_at(0);
                    let at_zero: Vec<&str> = at_zero.iter().map(String::as_str).collect();
                    sqlite::image(dir, &at_zero)
                })
                .as_ref(),
            _ => None,
        };
        let (mut conn, from_image) =
            sqlite::open_with_image(path, create, &migrations, now, image)?;
        if from_image {
            conn.execute_batch(&format!(
                "BEGIN;
                 UPDATE _islet_fs_nodes SET mtime_ms = {now} WHERE path = '/';
                 UPDATE _islet_migrations SET applied_at_ms = {now};
                 COMMIT;"
            ))
            .ctx("dating a new database")?;
        }
        let gate = guest_sql::Gate::install(&mut conn)?;
        Ok(AgentDb {
            conn,
            env,
            class: class.to_string(),
            name: name.to_string(),
            turn_open: false,
            gate,
            sql_time_limit: DEFAULT_SQL_TIME_LIMIT,
        })
    }

    /// The agent's class.
    pub fn class(&self) -> &str {
        &self.class
    }

    /// The agent's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The clock and id generator this database uses.
    pub fn env(&self) -> &Env {
        &self.env
    }

    /// Starts a turn transaction (`BEGIN IMMEDIATE`: the write lock is taken now, so the
    /// turn cannot fail later on a lock upgrade). Every write until [`AgentDb::commit`] or
    /// [`AgentDb::rollback`] belongs to the turn. `INVALID_STATE` if one is already open.
    pub fn begin(&mut self) -> Result<()> {
        if self.turn_open {
            return Err(Error::InvalidState(format!(
                "agent {}/{:?} already has an open turn transaction; commit or roll it back \
                 before beginning another",
                self.class, self.name
            )));
        }
        // Cached statements: a turn runs these three every call, and parsing them each time
        // was a visible share of a warm call.
        self.conn
            .prepare_cached("BEGIN IMMEDIATE")
            .and_then(|mut begin| begin.execute([]))
            .ctx("beginning a turn transaction")?;
        self.turn_open = true;
        Ok(())
    }

    /// Commits the turn: its writes are durable when this returns (see `sqlite::open`).
    pub fn commit(&mut self) -> Result<()> {
        if !self.turn_open {
            return Err(Error::InvalidState(
                "there is no open turn transaction to commit; call begin first".into(),
            ));
        }
        self.turn_open = false;
        if self.conn.is_autocommit() {
            return Err(lost_transaction());
        }
        let committed = self
            .conn
            .prepare_cached("COMMIT")
            .and_then(|mut commit| commit.execute([]));
        if let Err(e) = committed {
            // A failed COMMIT (e.g. disk full) can leave the transaction open; end it so
            // the connection is usable for the next turn.
            if !self.conn.is_autocommit() {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
            return Err(Error::sqlite("committing a turn transaction", e));
        }
        Ok(())
    }

    /// Discards the turn's writes. Does nothing when no turn is open, so failure paths can
    /// call it unconditionally.
    pub fn rollback(&mut self) -> Result<()> {
        self.turn_open = false;
        if !self.conn.is_autocommit() {
            self.conn
                .prepare_cached("ROLLBACK")
                .and_then(|mut rollback| rollback.execute([]))
                .ctx("rolling back a turn transaction")?;
        }
        Ok(())
    }

    /// Runs `f` in a turn transaction of its own: committed when `f` succeeds, rolled back
    /// when it fails (writes between an agent's turns: recovery, bookkeeping).
    pub fn transaction<T>(&mut self, f: impl FnOnce(&mut AgentDb) -> Result<T>) -> Result<T> {
        self.begin()?;
        match f(self) {
            Ok(value) => {
                self.commit()?;
                Ok(value)
            }
            Err(e) => {
                let _ = self.rollback();
                Err(e)
            }
        }
    }

    /// Whether a turn transaction is open.
    pub fn in_transaction(&self) -> bool {
        self.turn_open
    }

    /// Moves the write-ahead log into the database file and truncates it (an fsync). Call
    /// it when an agent goes idle, off the path of any request: dropping the database does
    /// not checkpoint, to keep that cheap. Not allowed while a turn is open.
    pub fn checkpoint(&mut self) -> Result<()> {
        if self.turn_open {
            return Err(Error::InvalidState(
                "cannot checkpoint during a turn transaction; commit or roll it back first".into(),
            ));
        }
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .ctx("checkpointing")
    }

    /// Turns SQLite's automatic checkpoints (every ~1,000 pages of log) on or off. Off for
    /// a database whose log is shipped ([`crate::WalCursor`]): a checkpoint lets the next
    /// write restart the log over frames not shipped yet, so the shipper checkpoints itself,
    /// after shipping.
    pub fn set_auto_checkpoint(&mut self, on: bool) -> Result<()> {
        let pages = if on { 1000 } else { 0 };
        self.conn
            .query_row(&format!("PRAGMA wal_autocheckpoint = {pages}"), [], |_| {
                Ok(())
            })
            .ctx("configuring automatic checkpoints")
    }

    /// SQLite's `PRAGMA integrity_check`: `"ok"` when the database is sound, otherwise the
    /// problems found, one per line.
    pub fn integrity_check(&mut self) -> Result<String> {
        let mut check = self
            .conn
            .prepare("PRAGMA integrity_check")
            .ctx("checking integrity")?;
        let lines: Vec<String> = check
            .query_map([], |row| row.get(0))
            .ctx("checking integrity")?
            .collect::<Result<_, _>>()
            .ctx("checking integrity")?;
        Ok(lines.join("\n"))
    }

    /// Fails if SQLite itself ended the turn's transaction (an `ON CONFLICT ROLLBACK`
    /// clause, disk full): later writes would otherwise commit one by one, outside the turn.
    pub(crate) fn check_turn(&self) -> Result<()> {
        if self.turn_open && self.conn.is_autocommit() {
            return Err(lost_transaction());
        }
        Ok(())
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Runs several writes as one unit: inside a turn as a savepoint (a failure undoes
    /// just this operation), outside one as its own immediate transaction.
    pub(crate) fn atomically<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&Connection, &Env) -> Result<T>,
    ) -> Result<T> {
        self.check_turn()?;
        if self.conn.is_autocommit() {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx(what)?;
            let out = f(&tx, &self.env)?;
            tx.commit().ctx(what)?;
            Ok(out)
        } else {
            let savepoint = self.conn.savepoint().ctx(what)?;
            let out = f(&savepoint, &self.env)?;
            savepoint.commit().ctx(what)?;
            Ok(out)
        }
    }
}

fn lost_transaction() -> Error {
    Error::InvalidState(
        "the turn's transaction was ended by SQLite (an ON CONFLICT ROLLBACK clause or a \
         storage failure), so its writes are lost; roll back and retry the turn"
            .into(),
    )
}

/// The agent schema's migrations, `$NOW_MS` replaced by `now_ms`.
fn migrations_at(now_ms: i64) -> Vec<String> {
    schema::AGENT_MIGRATIONS
        .iter()
        .map(|m| m.replace("$NOW_MS", &now_ms.to_string()))
        .collect()
}
