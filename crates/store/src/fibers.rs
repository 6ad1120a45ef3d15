//! Durable turns ("fibers"): a record of work in progress that survives a crash.
//!
//! A fiber is started for a unit of work (a Think turn, a `runFiber(name, fn)` call) and
//! gets an ordered log of checkpoints: a step started, a tool call recorded *before* the
//! tool runs, its result *after*, the step finished. Each checkpoint is a write to the
//! agent's database: inside an open turn transaction it commits with the turn, outside one
//! it commits on its own before the call returns, so the order is what survives:
//!
//! - a tool call without a result was in flight when the process died: on recovery it is
//!   marked interrupted ([`Fibers::recover`]), never run again by storage's account, and
//!   the conversation gets an "interrupted" result a provider accepts;
//! - a call with a result was completed and must not run again.
//!
//! `stash` keeps one JSON value per fiber (`ctx.stash(data)`), for user code to resume
//! from in `onFiberRecovered`. The streamed output of a turn is buffered per fiber
//! (`fibers/stream.rs`) so a client that reconnects can replay it.

mod stream;

use rusqlite::{Connection, OptionalExtension, Row};
use serde::Serialize;
use serde_json::Value;

use crate::Result;
use crate::agent_db::AgentDb;
use crate::error::{Error, SqlContext};
use crate::sqlite::get_u64;

pub use stream::{Chunk, MAX_CHUNK_BYTES};

/// The largest stash, result or checkpoint data, as JSON text.
pub const MAX_DATA_BYTES: usize = 16 << 20;
/// The longest fiber name and tool call id, in bytes.
const MAX_LABEL_BYTES: usize = 512;

/// Where a fiber is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FiberStatus {
    /// Started and not finished: after a crash, a fiber to recover.
    Running,
    /// Finished with a result ([`Fibers::complete`]).
    Completed,
    /// Finished with an error ([`Fibers::fail`]).
    Failed,
}

impl FiberStatus {
    /// The name stored in the database and shown in JSON (`running`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            FiberStatus::Running => "running",
            FiberStatus::Completed => "completed",
            FiberStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> FiberStatus {
        // The table's CHECK constraint allows only the three.
        match text {
            "running" => FiberStatus::Running,
            "completed" => FiberStatus::Completed,
            _ => FiberStatus::Failed,
        }
    }
}

/// A fiber's record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fiber {
    /// The fiber's id, which every checkpoint and chunk names.
    pub id: String,
    /// What the work is (e.g. the `runFiber` name), for `onFiberRecovered` to pick how to
    /// resume.
    pub name: String,
    /// The chat session the fiber's turn belongs to, if any (cleared when the session is
    /// deleted).
    pub session_id: Option<String>,
    /// Whether it is still running (to recover after a crash) or finished.
    pub status: FiberStatus,
    /// The last value stashed.
    pub stash: Option<Value>,
    /// What a completed fiber returned.
    pub result: Option<Value>,
    /// Why a failed fiber failed.
    pub error: Option<String>,
    /// How many times the fiber was recovered after its process ended mid-way.
    pub recoveries: u32,
    /// When it was started (ms since the Unix epoch).
    pub created_at_ms: i64,
    /// When it last changed: a checkpoint, a stash, a recovery or its end
    /// (ms since the Unix epoch).
    pub updated_at_ms: i64,
}

/// What a checkpoint records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointKind {
    /// A step of the work began (for a Think turn: one model call and its tool calls).
    StepStarted,
    /// A step ended, with what it produced.
    StepFinished,
    /// A tool call, recorded before the tool runs.
    ToolCall,
    /// A tool call's result, recorded after it ran (or when it was found interrupted).
    ToolResult,
}

impl CheckpointKind {
    /// The name stored in the database and shown in JSON (`step_started`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            CheckpointKind::StepStarted => "step_started",
            CheckpointKind::StepFinished => "step_finished",
            CheckpointKind::ToolCall => "tool_call",
            CheckpointKind::ToolResult => "tool_result",
        }
    }

    fn parse(text: &str) -> CheckpointKind {
        match text {
            "step_started" => CheckpointKind::StepStarted,
            "step_finished" => CheckpointKind::StepFinished,
            "tool_call" => CheckpointKind::ToolCall,
            _ => CheckpointKind::ToolResult,
        }
    }
}

/// How a tool call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolOutcome {
    /// The tool ran and returned a result.
    Ok,
    /// The tool failed; the result says how (the model sees it).
    Error,
    /// The process ended while the tool ran: whether it took effect is unknown.
    Interrupted,
}

impl ToolOutcome {
    /// The name stored in the database and shown in JSON (`ok`, `error`, `interrupted`).
    pub fn as_str(self) -> &'static str {
        match self {
            ToolOutcome::Ok => "ok",
            ToolOutcome::Error => "error",
            ToolOutcome::Interrupted => "interrupted",
        }
    }

    fn parse(text: &str) -> ToolOutcome {
        match text {
            "ok" => ToolOutcome::Ok,
            "error" => ToolOutcome::Error,
            _ => ToolOutcome::Interrupted,
        }
    }
}

/// One entry of a fiber's log.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// Position in the fiber's log, from 1.
    pub seq: u64,
    /// What the checkpoint records.
    pub kind: CheckpointKind,
    /// The step it belongs to, from 1.
    pub step: u32,
    /// The tool call (tool calls and results).
    pub call_id: Option<String>,
    /// How the call ended (tool results).
    pub outcome: Option<ToolOutcome>,
    /// The caller's data: the call's name and input, the result, what the step produced.
    pub data: Value,
    /// When it was recorded (ms since the Unix epoch).
    pub created_at_ms: i64,
}

/// What [`Fibers::recover`] found and did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recovery {
    /// The fiber, its `recoveries` counted up.
    pub fiber: Fiber,
    /// The whole log, including the results just recorded for interrupted calls.
    pub checkpoints: Vec<Checkpoint>,
    /// The tool calls that were in flight, now answered with an interrupted result.
    pub interrupted: Vec<Checkpoint>,
}

/// The agent's fibers; borrow it with [`AgentDb::fibers`].
pub struct Fibers<'a> {
    db: &'a mut AgentDb,
}

impl std::fmt::Debug for Fibers<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fibers").field("db", &self.db).finish()
    }
}

impl AgentDb {
    /// The agent's durable turns.
    pub fn fibers(&mut self) -> Fibers<'_> {
        Fibers { db: self }
    }
}

impl Fibers<'_> {
    /// Starts a fiber named `name`, optionally for a chat session. For a Think turn, start
    /// it in the same transaction that appends the user's message, and commit both before
    /// inference: a crash then finds the message and the fiber to resume, or neither.
    pub fn start(&mut self, name: &str, session_id: Option<&str>) -> Result<Fiber> {
        check_label("fiber name", name)?;
        self.db.atomically("starting a fiber", |conn, env| {
            if let Some(session_id) = session_id {
                crate::sessions::session(conn, session_id)?;
            }
            let id = env.next_id();
            let now = env.now_ms();
            conn.prepare_cached(
                "INSERT INTO _islet_fibers
                     (id, name, session_id, status, created_at_ms, updated_at_ms)
                 VALUES (?1, ?2, ?3, 'running', ?4, ?4)",
            )
            .and_then(|mut insert| insert.execute((&id, name, session_id, now)))
            .ctx("starting a fiber")?;
            fiber(conn, &id)
        })
    }

    /// One fiber.
    pub fn get(&mut self, fiber_id: &str) -> Result<Fiber> {
        self.db.check_turn()?;
        fiber(self.db.conn(), fiber_id)
    }

    /// Fibers still running, oldest first: on activation, the ones a crash interrupted.
    pub fn unfinished(&mut self) -> Result<Vec<Fiber>> {
        self.db.check_turn()?;
        let mut select = self
            .db
            .conn()
            .prepare_cached(&format!(
                "SELECT {FIBER_COLUMNS} FROM _islet_fibers WHERE status = 'running'
                 ORDER BY rowid"
            ))
            .ctx("listing unfinished fibers")?;
        let rows = select
            .query_map([], RawFiber::from_row)
            .ctx("listing unfinished fibers")?;
        let mut fibers = Vec::new();
        for row in rows {
            fibers.push(row.ctx("listing unfinished fibers")?.decode()?);
        }
        Ok(fibers)
    }

    /// The newest `limit` fibers, running or finished (not yet pruned), newest first: what
    /// an operator looking at the agent's durable work reads.
    pub fn recent(&mut self, limit: usize) -> Result<Vec<Fiber>> {
        self.db.check_turn()?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut select = self
            .db
            .conn()
            .prepare_cached(&format!(
                "SELECT {FIBER_COLUMNS} FROM _islet_fibers ORDER BY rowid DESC LIMIT ?1"
            ))
            .ctx("listing recent fibers")?;
        let rows = select
            .query_map([limit], RawFiber::from_row)
            .ctx("listing recent fibers")?;
        let mut fibers = Vec::new();
        for row in rows {
            fibers.push(row.ctx("listing recent fibers")?.decode()?);
        }
        Ok(fibers)
    }

    /// The session's most recent fiber, running or finished (not yet pruned): the turn a
    /// reconnecting client resumes.
    pub fn latest_of_session(&mut self, session_id: &str) -> Result<Option<Fiber>> {
        self.db.check_turn()?;
        let conn = self.db.conn();
        crate::sessions::session(conn, session_id)?;
        conn.prepare_cached(&format!(
            "SELECT {FIBER_COLUMNS} FROM _islet_fibers WHERE session_id = ?1
             ORDER BY rowid DESC LIMIT 1"
        ))
        .and_then(|mut select| {
            select
                .query_row([session_id], RawFiber::from_row)
                .optional()
        })
        .ctx("reading a session's fiber")?
        .map(RawFiber::decode)
        .transpose()
    }

    /// Replaces the fiber's stash (`ctx.stash(data)`).
    pub fn stash(&mut self, fiber_id: &str, data: &Value) -> Result<()> {
        let text = encode("the stash", data)?;
        self.db.atomically("stashing", |conn, env| {
            running(conn, fiber_id, "stash data")?;
            conn.prepare_cached(
                "UPDATE _islet_fibers SET stash = ?2, updated_at_ms = ?3 WHERE id = ?1",
            )
            .and_then(|mut update| update.execute((fiber_id, text, env.now_ms())))
            .ctx("stashing")?;
            Ok(())
        })
    }

    /// Records that a step starts; its number is the previous step's plus one. Refused while
    /// a step is open.
    pub fn step_started(&mut self, fiber_id: &str, data: &Value) -> Result<Checkpoint> {
        let text = encode("the step's data", data)?;
        self.db.atomically("recording a step", |conn, env| {
            running(conn, fiber_id, "start a step")?;
            let step = match last_step(conn, fiber_id)? {
                Some((step, CheckpointKind::StepStarted)) => {
                    return Err(Error::InvalidState(format!(
                        "step {step} of fiber {fiber_id:?} has not finished; record its end \
                         before starting the next"
                    )));
                }
                Some((step, _)) => step + 1,
                None => 1,
            };
            append(
                conn,
                env.now_ms(),
                fiber_id,
                CheckpointKind::StepStarted,
                step,
                None,
                None,
                &text,
            )
        })
    }

    /// Records that the open step finished. Refused while one of its tool calls has no
    /// result: a history with an unanswered call is one no provider accepts.
    pub fn step_finished(&mut self, fiber_id: &str, data: &Value) -> Result<Checkpoint> {
        let text = encode("the step's data", data)?;
        self.db.atomically("recording a step", |conn, env| {
            running(conn, fiber_id, "finish a step")?;
            let step = open_step(conn, fiber_id)?;
            if let Some(call) = in_flight(conn, fiber_id)?.first() {
                return Err(Error::InvalidState(format!(
                    "tool call {:?} of fiber {fiber_id:?} has no result yet; record its result \
                     before finishing step {step}",
                    call.call_id.as_deref().unwrap_or_default()
                )));
            }
            append(
                conn,
                env.now_ms(),
                fiber_id,
                CheckpointKind::StepFinished,
                step,
                None,
                None,
                &text,
            )
        })
    }

    /// Records a tool call of the open step *before* the tool runs (`data`: its name and
    /// input). Call ids are unique within a fiber.
    pub fn tool_call(&mut self, fiber_id: &str, call_id: &str, data: &Value) -> Result<Checkpoint> {
        check_label("tool call id", call_id)?;
        let text = encode("the tool call", data)?;
        self.db.atomically("recording a tool call", |conn, env| {
            running(conn, fiber_id, "record a tool call")?;
            let step = open_step(conn, fiber_id)?;
            if call(conn, fiber_id, call_id, CheckpointKind::ToolCall)?.is_some() {
                return Err(Error::AlreadyExists(format!(
                    "fiber {fiber_id:?} already recorded tool call {call_id:?}; give each call \
                     its own id"
                )));
            }
            append(
                conn,
                env.now_ms(),
                fiber_id,
                CheckpointKind::ToolCall,
                step,
                Some(call_id),
                None,
                &text,
            )
        })
    }

    /// Records a tool call's result after the tool ran. Refused for a call never recorded
    /// and for one that already has a result (so a result is never recorded twice).
    pub fn tool_result(
        &mut self,
        fiber_id: &str,
        call_id: &str,
        outcome: ToolOutcome,
        data: &Value,
    ) -> Result<Checkpoint> {
        let text = encode("the tool result", data)?;
        self.db.atomically("recording a tool result", |conn, env| {
            running(conn, fiber_id, "record a tool result")?;
            let Some(made) = call(conn, fiber_id, call_id, CheckpointKind::ToolCall)? else {
                return Err(Error::NotFound(format!(
                    "fiber {fiber_id:?} has no tool call {call_id:?}; record the call (before \
                     running the tool) first"
                )));
            };
            if let Some(result) = call(conn, fiber_id, call_id, CheckpointKind::ToolResult)? {
                return Err(Error::AlreadyExists(format!(
                    "tool call {call_id:?} of fiber {fiber_id:?} already has a result ({}); a \
                     call's result is recorded once",
                    result.outcome.map_or("", ToolOutcome::as_str)
                )));
            }
            append(
                conn,
                env.now_ms(),
                fiber_id,
                CheckpointKind::ToolResult,
                made.step,
                Some(call_id),
                Some(outcome),
                &text,
            )
        })
    }

    /// The fiber's log, in order.
    pub fn checkpoints(&mut self, fiber_id: &str) -> Result<Vec<Checkpoint>> {
        self.db.check_turn()?;
        let conn = self.db.conn();
        fiber(conn, fiber_id)?;
        checkpoints(conn, fiber_id)
    }

    /// The tool calls recorded without a result, in order.
    pub fn in_flight(&mut self, fiber_id: &str) -> Result<Vec<Checkpoint>> {
        self.db.check_turn()?;
        let conn = self.db.conn();
        fiber(conn, fiber_id)?;
        in_flight(conn, fiber_id)
    }

    /// Takes over a running fiber after its process ended (`onFiberRecovered`): counts the
    /// recovery, answers every call that was in flight with an interrupted result (`data`
    /// for each, e.g. the text the model should see), and returns the log to resume from.
    pub fn recover(&mut self, fiber_id: &str, interrupted: &Value) -> Result<Recovery> {
        let text = encode("the interrupted result", interrupted)?;
        self.db.atomically("recovering a fiber", |conn, env| {
            running(conn, fiber_id, "recover it")?;
            let now = env.now_ms();
            let mut answered = Vec::new();
            for pending in in_flight(conn, fiber_id)? {
                append(
                    conn,
                    now,
                    fiber_id,
                    CheckpointKind::ToolResult,
                    pending.step,
                    pending.call_id.as_deref(),
                    Some(ToolOutcome::Interrupted),
                    &text,
                )?;
                answered.push(pending);
            }
            conn.prepare_cached(
                "UPDATE _islet_fibers SET recoveries = recoveries + 1, updated_at_ms = ?2
                 WHERE id = ?1",
            )
            .and_then(|mut update| update.execute((fiber_id, now)))
            .ctx("recovering a fiber")?;
            Ok(Recovery {
                fiber: fiber(conn, fiber_id)?,
                checkpoints: checkpoints(conn, fiber_id)?,
                interrupted: answered,
            })
        })
    }

    /// Marks the fiber completed with `result`. Refused while a tool call has no result.
    pub fn complete(&mut self, fiber_id: &str, result: &Value) -> Result<Fiber> {
        let text = encode("the fiber's result", result)?;
        self.db.atomically("completing a fiber", |conn, env| {
            running(conn, fiber_id, "complete it")?;
            if let Some(call) = in_flight(conn, fiber_id)?.first() {
                return Err(Error::InvalidState(format!(
                    "tool call {:?} of fiber {fiber_id:?} has no result yet; record it (or \
                     fail the fiber) before completing",
                    call.call_id.as_deref().unwrap_or_default()
                )));
            }
            finish(
                conn,
                env.now_ms(),
                fiber_id,
                FiberStatus::Completed,
                Some(&text),
                None,
            )
        })
    }

    /// Marks the fiber failed with a message saying why.
    pub fn fail(&mut self, fiber_id: &str, error: &str) -> Result<Fiber> {
        self.db.atomically("failing a fiber", |conn, env| {
            running(conn, fiber_id, "fail it")?;
            finish(
                conn,
                env.now_ms(),
                fiber_id,
                FiberStatus::Failed,
                None,
                Some(error),
            )
        })
    }

    /// Deletes a fiber with its checkpoints and buffered output.
    pub fn delete(&mut self, fiber_id: &str) -> Result<()> {
        self.db.atomically("deleting a fiber", |conn, _| {
            let deleted = conn
                .prepare_cached("DELETE FROM _islet_fibers WHERE id = ?1")
                .and_then(|mut delete| delete.execute([fiber_id]))
                .ctx("deleting a fiber")?;
            if deleted == 0 {
                return Err(unknown_fiber(fiber_id));
            }
            Ok(())
        })
    }

    /// Deletes finished (completed or failed) fibers last changed before `before_ms`, with
    /// their checkpoints and buffered output; how many.
    pub fn prune_finished(&mut self, before_ms: i64) -> Result<u64> {
        self.db.atomically("pruning fibers", |conn, _| {
            let deleted = conn
                .prepare_cached(
                    "DELETE FROM _islet_fibers
                     WHERE status IN ('completed', 'failed') AND updated_at_ms < ?1",
                )
                .and_then(|mut delete| delete.execute([before_ms]))
                .ctx("pruning fibers")?;
            Ok(deleted as u64)
        })
    }
}

const FIBER_COLUMNS: &str = "id, name, session_id, status, stash, result, error, recoveries, \
                             created_at_ms, updated_at_ms";

struct RawFiber {
    id: String,
    name: String,
    session_id: Option<String>,
    status: String,
    stash: Option<String>,
    result: Option<String>,
    error: Option<String>,
    recoveries: u32,
    created_at_ms: i64,
    updated_at_ms: i64,
}

impl RawFiber {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<RawFiber> {
        Ok(RawFiber {
            id: row.get(0)?,
            name: row.get(1)?,
            session_id: row.get(2)?,
            status: row.get(3)?,
            stash: row.get(4)?,
            result: row.get(5)?,
            error: row.get(6)?,
            recoveries: row.get(7)?,
            created_at_ms: row.get(8)?,
            updated_at_ms: row.get(9)?,
        })
    }

    fn decode(self) -> Result<Fiber> {
        let what = format!("fiber {}", self.id);
        Ok(Fiber {
            stash: self.stash.map(|text| decode(&what, &text)).transpose()?,
            result: self.result.map(|text| decode(&what, &text)).transpose()?,
            id: self.id,
            name: self.name,
            session_id: self.session_id,
            status: FiberStatus::parse(&self.status),
            error: self.error,
            recoveries: self.recoveries,
            created_at_ms: self.created_at_ms,
            updated_at_ms: self.updated_at_ms,
        })
    }
}

fn fiber(conn: &Connection, fiber_id: &str) -> Result<Fiber> {
    conn.prepare_cached(&format!(
        "SELECT {FIBER_COLUMNS} FROM _islet_fibers WHERE id = ?1"
    ))
    .and_then(|mut select| select.query_row([fiber_id], RawFiber::from_row).optional())
    .ctx("reading a fiber")?
    .ok_or_else(|| unknown_fiber(fiber_id))?
    .decode()
}

fn unknown_fiber(fiber_id: &str) -> Error {
    Error::NotFound(format!(
        "this agent has no fiber {fiber_id:?}; list the unfinished fibers to see their ids \
         (finished ones may have been pruned)"
    ))
}

/// Refuses to `action` on a fiber that is not running.
fn running(conn: &Connection, fiber_id: &str, action: &str) -> Result<Fiber> {
    let fiber = fiber(conn, fiber_id)?;
    if fiber.status != FiberStatus::Running {
        return Err(Error::InvalidState(format!(
            "fiber {fiber_id:?} is {}, so it cannot {action}; start a new fiber for new work",
            fiber.status.as_str()
        )));
    }
    Ok(fiber)
}

fn finish(
    conn: &Connection,
    now: i64,
    fiber_id: &str,
    status: FiberStatus,
    result: Option<&str>,
    error: Option<&str>,
) -> Result<Fiber> {
    conn.prepare_cached(
        "UPDATE _islet_fibers SET status = ?2, result = ?3, error = ?4, updated_at_ms = ?5
         WHERE id = ?1",
    )
    .and_then(|mut update| update.execute((fiber_id, status.as_str(), result, error, now)))
    .ctx("finishing a fiber")?;
    fiber(conn, fiber_id)
}

fn check_label(what: &str, label: &str) -> Result<()> {
    if label.is_empty() || label.len() > MAX_LABEL_BYTES || label.chars().any(char::is_control) {
        return Err(Error::InvalidArgument(format!(
            "a {what} has 1 to {MAX_LABEL_BYTES} bytes without control characters; got {:?}",
            label.chars().take(80).collect::<String>()
        )));
    }
    Ok(())
}

fn encode(what: &str, value: &Value) -> Result<String> {
    let text = value.to_string();
    if text.len() > MAX_DATA_BYTES {
        return Err(Error::TooLarge(format!(
            "{what} is {} bytes as JSON, over the {} MiB limit; keep large data in a workspace \
             file and record its path",
            text.len(),
            MAX_DATA_BYTES >> 20
        )));
    }
    Ok(text)
}

fn decode(what: &str, text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| Error::Sqlite {
        what: format!("reading {what}"),
        message: format!(
            "stored JSON does not parse ({e}); the database was changed outside islet"
        ),
    })
}

const CHECKPOINT_COLUMNS: &str = "seq, kind, step, call_id, outcome, data, created_at_ms";

fn checkpoint_from_row(row: &Row<'_>) -> rusqlite::Result<(Checkpoint, String)> {
    let kind: String = row.get(1)?;
    let outcome: Option<String> = row.get(4)?;
    Ok((
        Checkpoint {
            seq: get_u64(row, 0)?,
            kind: CheckpointKind::parse(&kind),
            step: row.get(2)?,
            call_id: row.get(3)?,
            outcome: outcome.as_deref().map(ToolOutcome::parse),
            data: Value::Null,
            created_at_ms: row.get(6)?,
        },
        row.get(5)?,
    ))
}

fn query_checkpoints(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Checkpoint>> {
    let mut select = conn.prepare_cached(sql).ctx("reading checkpoints")?;
    let rows = select
        .query_map(params, checkpoint_from_row)
        .ctx("reading checkpoints")?;
    let mut out = Vec::new();
    for row in rows {
        let (mut checkpoint, data) = row.ctx("reading checkpoints")?;
        checkpoint.data = decode("a checkpoint", &data)?;
        out.push(checkpoint);
    }
    Ok(out)
}

fn checkpoints(conn: &Connection, fiber_id: &str) -> Result<Vec<Checkpoint>> {
    query_checkpoints(
        conn,
        &format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM _islet_fiber_checkpoints WHERE fiber_id = ?1
             ORDER BY seq"
        ),
        [fiber_id],
    )
}

fn in_flight(conn: &Connection, fiber_id: &str) -> Result<Vec<Checkpoint>> {
    query_checkpoints(
        conn,
        &format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM _islet_fiber_checkpoints c
             WHERE fiber_id = ?1 AND kind = 'tool_call' AND NOT EXISTS (
                 SELECT 1 FROM _islet_fiber_checkpoints r
                 WHERE r.fiber_id = c.fiber_id AND r.call_id = c.call_id
                   AND r.kind = 'tool_result')
             ORDER BY seq"
        ),
        [fiber_id],
    )
}

fn call(
    conn: &Connection,
    fiber_id: &str,
    call_id: &str,
    kind: CheckpointKind,
) -> Result<Option<Checkpoint>> {
    Ok(query_checkpoints(
        conn,
        &format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM _islet_fiber_checkpoints
             WHERE fiber_id = ?1 AND call_id = ?2 AND kind = ?3"
        ),
        (fiber_id, call_id, kind.as_str()),
    )?
    .pop())
}

/// The number and kind of the fiber's last step checkpoint.
fn last_step(conn: &Connection, fiber_id: &str) -> Result<Option<(u32, CheckpointKind)>> {
    conn.prepare_cached(
        "SELECT step, kind FROM _islet_fiber_checkpoints
         WHERE fiber_id = ?1 AND kind IN ('step_started', 'step_finished')
         ORDER BY seq DESC LIMIT 1",
    )
    .and_then(|mut select| {
        select
            .query_row([fiber_id], |row| {
                Ok((
                    row.get(0)?,
                    CheckpointKind::parse(&row.get::<_, String>(1)?),
                ))
            })
            .optional()
    })
    .ctx("reading checkpoints")
}

/// The step tool calls and `step_finished` belong to; refused when none is open.
fn open_step(conn: &Connection, fiber_id: &str) -> Result<u32> {
    match last_step(conn, fiber_id)? {
        Some((step, CheckpointKind::StepStarted)) => Ok(step),
        _ => Err(Error::InvalidState(format!(
            "fiber {fiber_id:?} has no open step; record that a step started first"
        ))),
    }
}

#[allow(clippy::too_many_arguments)]
fn append(
    conn: &Connection,
    now: i64,
    fiber_id: &str,
    kind: CheckpointKind,
    step: u32,
    call_id: Option<&str>,
    outcome: Option<ToolOutcome>,
    data: &str,
) -> Result<Checkpoint> {
    let seq: u64 = conn
        .prepare_cached(
            "INSERT INTO _islet_fiber_checkpoints
                 (fiber_id, seq, kind, step, call_id, outcome, data, created_at_ms)
             SELECT ?1, coalesce(max(seq), 0) + 1, ?2, ?3, ?4, ?5, ?6, ?7
             FROM _islet_fiber_checkpoints WHERE fiber_id = ?1
             RETURNING seq",
        )
        .and_then(|mut insert| {
            insert.query_row(
                rusqlite::params![
                    fiber_id,
                    kind.as_str(),
                    step,
                    call_id,
                    outcome.map(ToolOutcome::as_str),
                    data,
                    now
                ],
                |row| get_u64(row, 0),
            )
        })
        .ctx("recording a checkpoint")?;
    conn.prepare_cached("UPDATE _islet_fibers SET updated_at_ms = ?2 WHERE id = ?1")
        .and_then(|mut update| update.execute((fiber_id, now)))
        .ctx("recording a checkpoint")?;
    Ok(Checkpoint {
        seq,
        kind,
        step,
        call_id: call_id.map(str::to_string),
        outcome,
        data: decode("a checkpoint", data)?,
        created_at_ms: now,
    })
}
