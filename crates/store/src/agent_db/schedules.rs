//! `this.schedule(…)`: calls of the agent's own methods at a later time, once (after a
//! delay, at a date) or repeatedly (cron, evaluated in UTC).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use croner::Cron;
use rusqlite::{Connection, Row};
use serde::Serialize;
use serde_json::Value;

use super::AgentDb;
use crate::Result;
use crate::data_dir::is_identifier;
use crate::error::{Error, SqlContext};

/// The longest method name a schedule may call.
const MAX_METHOD_CHARS: usize = 128;
/// The largest payload, as JSON text.
const MAX_PAYLOAD_BYTES: usize = 1 << 20;

/// When a schedule fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When {
    /// This many milliseconds from now (≥ 0).
    DelayMs(i64),
    /// At this time (ms since the Unix epoch); a past time fires at once.
    AtMs(i64),
    /// Every time the cron expression matches, in UTC: 5 fields (minute hour
    /// day-of-month month day-of-week), or 6 with a leading seconds field.
    Cron(String),
}

/// How a schedule was made, which decides what happens after it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    /// After a delay; deleted once it ran.
    Delayed,
    /// At a date; deleted once it ran.
    Scheduled,
    /// Repeating; advanced to the next match once it ran.
    Cron,
}

impl ScheduleKind {
    /// `"delayed"`, `"scheduled"` or `"cron"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleKind::Delayed => "delayed",
            ScheduleKind::Scheduled => "scheduled",
            ScheduleKind::Cron => "cron",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Delayed, Self::Scheduled, Self::Cron]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

impl fmt::Display for ScheduleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for ScheduleKind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ScheduleKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A pending call of one of the agent's methods.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    /// The schedule's id, for cancelling it.
    pub id: String,
    /// The agent method it calls when it fires.
    pub method: String,
    /// The argument passed to the method.
    pub payload: Value,
    /// Whether it runs once or repeats.
    pub kind: ScheduleKind,
    /// The expression of a cron schedule.
    pub cron: Option<String>,
    /// When it fires next (ms since the Unix epoch).
    pub next_at_ms: i64,
    /// When it was made (ms since the Unix epoch).
    pub created_at_ms: i64,
}

fn parse_cron(expression: &str) -> Result<Cron> {
    Cron::from_str(expression).map_err(|e| Error::InvalidCron {
        cron: expression.to_string(),
        message: e.to_string(),
    })
}

/// The first time strictly after `after_ms` the expression matches, if it ever does.
fn next_match(cron: &Cron, expression: &str, after_ms: i64) -> Result<Option<i64>> {
    let Some(after) = DateTime::<Utc>::from_timestamp_millis(after_ms) else {
        return Err(Error::InvalidArgument(format!(
            "time {after_ms} ms is outside the range cron schedules support"
        )));
    };
    match cron.find_next_occurrence(&after, false) {
        Ok(next) => Ok(Some(next.timestamp_millis())),
        Err(e) => {
            tracing::debug!(cron = expression, error = %e, "cron expression has no next match");
            Ok(None)
        }
    }
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<(Schedule, String)> {
    let kind: String = row.get("kind")?;
    let payload: String = row.get("payload")?;
    let schedule = Schedule {
        id: row.get("id")?,
        method: row.get("method")?,
        payload: Value::Null,
        // Checked by the table's CHECK constraint; `Delayed` is never reached.
        kind: ScheduleKind::parse(&kind).unwrap_or(ScheduleKind::Delayed),
        cron: row.get("cron")?,
        next_at_ms: row.get("next_at_ms")?,
        created_at_ms: row.get("created_at_ms")?,
    };
    Ok((schedule, payload))
}

fn query(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<Vec<Schedule>> {
    let mut select = conn.prepare_cached(sql).ctx("reading schedules")?;
    let rows = select
        .query_map(params, from_row)
        .ctx("reading schedules")?;
    let mut schedules = Vec::new();
    for row in rows {
        let (mut schedule, payload) = row.ctx("reading schedules")?;
        schedule.payload = serde_json::from_str(&payload).map_err(|e| Error::Sqlite {
            what: "reading schedules".into(),
            message: format!(
                "schedule {} has a payload that is not JSON: {e}",
                schedule.id
            ),
        })?;
        schedules.push(schedule);
    }
    Ok(schedules)
}

const COLUMNS: &str = "id, method, payload, kind, cron, next_at_ms, created_at_ms";

impl AgentDb {
    /// Schedules a call of `method` with `payload`. A cron schedule's first time is its
    /// first match after now; a past [`When::AtMs`] fires at once.
    pub fn schedule(&mut self, when: When, method: &str, payload: &Value) -> Result<Schedule> {
        self.check_turn()?;
        if !is_identifier(method, MAX_METHOD_CHARS) {
            return Err(Error::InvalidName(format!(
                "cannot schedule {method:?}: a schedule calls one of the agent's methods, so \
                 give a method name (a JavaScript identifier of at most {MAX_METHOD_CHARS} \
                 characters)"
            )));
        }
        let payload_text = payload.to_string();
        if payload_text.len() > MAX_PAYLOAD_BYTES {
            return Err(Error::TooLarge(format!(
                "the schedule's payload is {} bytes as JSON, over the {} MiB limit; store \
                 the data in this.storage and pass its key instead",
                payload_text.len(),
                MAX_PAYLOAD_BYTES >> 20
            )));
        }
        let now = self.env.now_ms();
        let (kind, cron, next_at_ms) = match when {
            When::DelayMs(delay) if delay < 0 => {
                return Err(Error::InvalidArgument(format!(
                    "a schedule's delay must be 0 or more milliseconds, got {delay}"
                )));
            }
            When::DelayMs(delay) => (ScheduleKind::Delayed, None, now.saturating_add(delay)),
            When::AtMs(at) => (ScheduleKind::Scheduled, None, at),
            When::Cron(expression) => {
                let parsed = parse_cron(&expression)?;
                let Some(next) = next_match(&parsed, &expression, now)? else {
                    return Err(Error::InvalidCron {
                        cron: expression,
                        message: "it never matches after now".into(),
                    });
                };
                (ScheduleKind::Cron, Some(expression), next)
            }
        };
        let schedule = Schedule {
            id: self.env.next_id(),
            method: method.to_string(),
            payload: payload.clone(),
            kind,
            cron,
            next_at_ms,
            created_at_ms: now,
        };
        self.conn
            .prepare_cached(
                "INSERT INTO _islet_schedules
                     (id, method, payload, kind, cron, next_at_ms, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut insert| {
                insert.execute((
                    &schedule.id,
                    &schedule.method,
                    &payload_text,
                    kind.as_str(),
                    &schedule.cron,
                    next_at_ms,
                    now,
                ))
            })
            .ctx("creating a schedule")?;
        Ok(schedule)
    }

    /// Every pending schedule, soonest first (ties in creation order).
    pub fn schedules(&mut self) -> Result<Vec<Schedule>> {
        self.check_turn()?;
        query(
            &self.conn,
            &format!("SELECT {COLUMNS} FROM _islet_schedules ORDER BY next_at_ms, rowid"),
            [],
        )
    }

    /// One schedule by id.
    pub fn get_schedule(&mut self, id: &str) -> Result<Option<Schedule>> {
        self.check_turn()?;
        Ok(query(
            &self.conn,
            &format!("SELECT {COLUMNS} FROM _islet_schedules WHERE id = ?1"),
            [id],
        )?
        .pop())
    }

    /// Removes a schedule; whether it existed.
    pub fn cancel_schedule(&mut self, id: &str) -> Result<bool> {
        self.check_turn()?;
        let deleted = self
            .conn
            .prepare_cached("DELETE FROM _islet_schedules WHERE id = ?1")
            .and_then(|mut delete| delete.execute([id]))
            .ctx("cancelling a schedule")?;
        Ok(deleted > 0)
    }

    /// Schedules due at `now_ms`, in the order they should run.
    pub fn due_schedules(&mut self, now_ms: i64) -> Result<Vec<Schedule>> {
        self.check_turn()?;
        query(
            &self.conn,
            &format!(
                "SELECT {COLUMNS} FROM _islet_schedules WHERE next_at_ms <= ?1
                 ORDER BY next_at_ms, rowid"
            ),
            [now_ms],
        )
    }

    /// Records that a due schedule ran (call it inside the same turn transaction): a
    /// one-shot schedule is deleted, a cron schedule moves to its first match after
    /// `now_ms` (deleted if it never matches again). A schedule that no longer exists (the
    /// method cancelled it) is not an error.
    pub fn complete_schedule(&mut self, id: &str, now_ms: i64) -> Result<()> {
        self.check_turn()?;
        let Some(schedule) = self.get_schedule(id)? else {
            return Ok(());
        };
        let next = match (&schedule.kind, &schedule.cron) {
            (ScheduleKind::Cron, Some(expression)) => {
                let parsed = parse_cron(expression)?;
                next_match(&parsed, expression, now_ms.max(schedule.next_at_ms))?
            }
            _ => None,
        };
        match next {
            Some(next_at_ms) => self
                .conn
                .prepare_cached("UPDATE _islet_schedules SET next_at_ms = ?2 WHERE id = ?1")
                .and_then(|mut update| update.execute((id, next_at_ms))),
            None => self
                .conn
                .prepare_cached("DELETE FROM _islet_schedules WHERE id = ?1")
                .and_then(|mut delete| delete.execute([id])),
        }
        .ctx("completing a schedule")?;
        Ok(())
    }

    /// The soonest time any schedule fires, for the catalog's alarm index.
    pub fn next_alarm(&mut self) -> Result<Option<i64>> {
        self.check_turn()?;
        self.conn
            .prepare_cached("SELECT min(next_at_ms) FROM _islet_schedules")
            .and_then(|mut select| select.query_row([], |row| row.get(0)))
            .ctx("reading the next alarm")
    }
}
