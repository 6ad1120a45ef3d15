//! Detached delegations (issue 16): tasks a chat agent handed to a child agent without
//! waiting for the answer. Each is recorded in the delegating agent's database when it
//! starts and updated when it ends, so the agent, the model and an operator can inspect it
//! later, and a restart finds the ones it interrupted ([`Delegations::interrupt_running`]).

use rusqlite::{Connection, OptionalExtension, Row};
use serde::Serialize;
use serde_json::Value;

use crate::Result;
use crate::agent_db::AgentDb;
use crate::error::{Error, SqlContext};

/// How many delegations [`Delegations::list`] returns at most.
pub const MAX_LISTED_DELEGATIONS: usize = 200;

/// Where a delegation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DelegationStatus {
    /// The child is working on it.
    Running,
    /// The child answered; the answer is the result.
    Completed,
    /// The child's turn failed.
    Failed,
    /// The child ran out of its time budget and was stopped.
    TimedOut,
    /// The process ended while the child worked: a restart marks it so.
    Interrupted,
}

impl DelegationStatus {
    /// The name stored and shown (`running`, `timed_out`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            DelegationStatus::Running => "running",
            DelegationStatus::Completed => "completed",
            DelegationStatus::Failed => "failed",
            DelegationStatus::TimedOut => "timed_out",
            DelegationStatus::Interrupted => "interrupted",
        }
    }

    fn parse(text: &str) -> DelegationStatus {
        // The table's CHECK constraint allows only these.
        match text {
            "running" => DelegationStatus::Running,
            "completed" => DelegationStatus::Completed,
            "timed_out" => DelegationStatus::TimedOut,
            "interrupted" => DelegationStatus::Interrupted,
            _ => DelegationStatus::Failed,
        }
    }
}

/// A delegation as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delegation {
    /// Its id, which the tool call answered with (`runId`).
    pub id: String,
    /// The tool the model called.
    pub tool: String,
    /// The child agent's class.
    pub child_class: String,
    /// The child agent's name (under the delegating agent).
    pub child_name: String,
    /// The child's session that works on the task.
    pub session_id: String,
    /// The tool call's input.
    pub task: Value,
    /// Where it is.
    pub status: DelegationStatus,
    /// The child's answer, once completed.
    pub result: Option<String>,
    /// Why it did not complete.
    pub error: Option<String>,
    /// The method of the delegating agent called with this record when it ends.
    pub on_done: Option<String>,
    /// When it started (ms since the Unix epoch).
    pub created_at_ms: i64,
    /// When it last changed (ms since the Unix epoch).
    pub updated_at_ms: i64,
}

/// What a new delegation records ([`Delegations::start`]).
#[derive(Debug, Clone)]
pub struct NewDelegation<'a> {
    /// The tool the model called.
    pub tool: &'a str,
    /// The child agent's class.
    pub child_class: &'a str,
    /// The child agent's name.
    pub child_name: &'a str,
    /// The child's session working on it.
    pub session_id: &'a str,
    /// The tool call's input.
    pub task: &'a Value,
    /// The method to call when it ends, if any.
    pub on_done: Option<&'a str>,
}

/// An agent's delegations ([`AgentDb::delegations`]).
pub struct Delegations<'a> {
    db: &'a mut AgentDb,
}

impl AgentDb {
    /// The agent's detached delegations.
    pub fn delegations(&mut self) -> Delegations<'_> {
        Delegations { db: self }
    }
}

const COLUMNS: &str = "id, tool, child_class, child_name, session_id, task, status, result, \
                       error, on_done, created_at_ms, updated_at_ms";

impl Delegations<'_> {
    /// Records a delegation that has started.
    pub fn start(&mut self, new: &NewDelegation<'_>) -> Result<Delegation> {
        self.db.atomically("recording a delegation", |conn, env| {
            let id = env.next_id();
            let now = env.now_ms();
            conn.prepare_cached(
                "INSERT INTO _islet_delegations
                     (id, tool, child_class, child_name, session_id, task, status, on_done,
                      created_at_ms, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running', ?7, ?8, ?8)",
            )
            .and_then(|mut insert| {
                insert.execute((
                    &id,
                    new.tool,
                    new.child_class,
                    new.child_name,
                    new.session_id,
                    new.task.to_string(),
                    new.on_done,
                    now,
                ))
            })
            .ctx("recording a delegation")?;
            delegation(conn, &id)
        })
    }

    /// Records how a running delegation ended. A delegation that already ended (a restart
    /// marked it interrupted meanwhile) keeps its first ending.
    pub fn finish(
        &mut self,
        id: &str,
        status: DelegationStatus,
        result: Option<&str>,
        error: Option<&str>,
    ) -> Result<Delegation> {
        if status == DelegationStatus::Running {
            return Err(Error::InvalidArgument(
                "a delegation finishes as completed, failed, timed_out or interrupted".into(),
            ));
        }
        self.db.atomically("ending a delegation", |conn, env| {
            conn.prepare_cached(
                "UPDATE _islet_delegations
                    SET status = ?2, result = ?3, error = ?4, updated_at_ms = ?5
                  WHERE id = ?1 AND status = 'running'",
            )
            .and_then(|mut update| {
                update.execute((id, status.as_str(), result, error, env.now_ms()))
            })
            .ctx("ending a delegation")?;
            delegation(conn, id)
        })
    }

    /// One delegation.
    pub fn get(&mut self, id: &str) -> Result<Delegation> {
        self.db.check_turn()?;
        delegation(self.db.conn(), id)
    }

    /// The latest delegations, newest first (at most [`MAX_LISTED_DELEGATIONS`]).
    pub fn list(&mut self, limit: usize) -> Result<Vec<Delegation>> {
        self.db.check_turn()?;
        let limit = limit.min(MAX_LISTED_DELEGATIONS) as i64;
        let mut select = self
            .db
            .conn()
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM _islet_delegations
                  ORDER BY created_at_ms DESC, id DESC LIMIT ?1"
            ))
            .ctx("listing delegations")?;
        let rows = select
            .query_map([limit], RawDelegation::from_row)
            .ctx("listing delegations")?;
        rows.map(|r| r.ctx("listing delegations")?.decode())
            .collect()
    }

    /// Marks every running delegation interrupted (at start-up: no child works on them any
    /// more) and returns them as marked.
    pub fn interrupt_running(&mut self) -> Result<Vec<Delegation>> {
        self.db.atomically("interrupting delegations", |conn, env| {
            let ids: Vec<String> = conn
                .prepare_cached("SELECT id FROM _islet_delegations WHERE status = 'running'")
                .and_then(|mut select| {
                    select
                        .query_map([], |r| r.get(0))?
                        .collect::<rusqlite::Result<_>>()
                })
                .ctx("interrupting delegations")?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                conn.prepare_cached(
                    "UPDATE _islet_delegations
                        SET status = 'interrupted', updated_at_ms = ?2,
                            error = 'the server stopped while the child agent worked on it'
                      WHERE id = ?1",
                )
                .and_then(|mut update| update.execute((&id, env.now_ms())))
                .ctx("interrupting delegations")?;
                out.push(delegation(conn, &id)?);
            }
            Ok(out)
        })
    }
}

struct RawDelegation {
    id: String,
    tool: String,
    child_class: String,
    child_name: String,
    session_id: String,
    task: String,
    status: String,
    result: Option<String>,
    error: Option<String>,
    on_done: Option<String>,
    created_at_ms: i64,
    updated_at_ms: i64,
}

impl RawDelegation {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<RawDelegation> {
        Ok(RawDelegation {
            id: row.get(0)?,
            tool: row.get(1)?,
            child_class: row.get(2)?,
            child_name: row.get(3)?,
            session_id: row.get(4)?,
            task: row.get(5)?,
            status: row.get(6)?,
            result: row.get(7)?,
            error: row.get(8)?,
            on_done: row.get(9)?,
            created_at_ms: row.get(10)?,
            updated_at_ms: row.get(11)?,
        })
    }

    fn decode(self) -> Result<Delegation> {
        Ok(Delegation {
            task: serde_json::from_str(&self.task).map_err(|e| {
                Error::InvalidState(format!("delegation {}'s task is not JSON: {e}", self.id))
            })?,
            status: DelegationStatus::parse(&self.status),
            id: self.id,
            tool: self.tool,
            child_class: self.child_class,
            child_name: self.child_name,
            session_id: self.session_id,
            result: self.result,
            error: self.error,
            on_done: self.on_done,
            created_at_ms: self.created_at_ms,
            updated_at_ms: self.updated_at_ms,
        })
    }
}

fn delegation(conn: &Connection, id: &str) -> Result<Delegation> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM _islet_delegations WHERE id = ?1"
    ))
    .and_then(|mut select| select.query_row([id], RawDelegation::from_row).optional())
    .ctx("reading a delegation")?
    .ok_or_else(|| {
        Error::NotFound(format!(
            "this agent has no delegation {id:?}; list them to see their ids"
        ))
    })?
    .decode()
}
