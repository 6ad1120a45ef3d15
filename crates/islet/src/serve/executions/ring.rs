//! The ring of recent executions behind `GET /executions` (see the parent module).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::serve::api::{ApiError, json_response};

/// Records kept; the oldest is dropped beyond this.
pub(crate) const CAPACITY: usize = 500;
/// Characters of code kept per record (a program longer than this is cut).
const MAX_CODE_CHARS: usize = 32_000;
/// Characters of console output kept per record, all lines together.
const MAX_LOG_CHARS: usize = 8_000;
/// Characters of an error message (with its stack) kept per record.
const MAX_ERROR_CHARS: usize = 8_000;

/// What ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Kind {
    /// An `execute` program sent to `/mcp`.
    Execute,
    /// An `execute` (or other) tool call of a Think turn.
    Tool,
    /// A Think chat turn, start to finish.
    Turn,
    /// An agent method called over HTTP (`POST /agents/<class>/<name>/<method>`).
    Call,
}

/// One execution as `GET /executions` lists it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Record {
    /// Increases with each record; the newest has the largest.
    pub id: u64,
    pub kind: Kind,
    /// `Class/name`, when one agent is its subject (`/mcp` code may call many: none).
    pub agent: Option<String>,
    /// The method, tool or session it was about.
    pub label: String,
    /// The chat session of a Think turn or tool call.
    pub session: Option<String>,
    pub code: Option<String>,
    /// `ok`, or the error's kind: the JS error's name (`TypeError`, `LimitError`, …),
    /// the API error code, or `aborted` for a stopped turn.
    pub outcome: String,
    pub error: Option<String>,
    /// 1-based position of the error in `code`, when the sandbox reported one.
    pub line: Option<u32>,
    pub column: Option<u32>,
    /// Console output lines, cut at [`MAX_LOG_CHARS`] in all.
    pub logs: Vec<String>,
    /// Host functions the program called (`None` where it is not known).
    pub host_calls: Option<u32>,
    pub duration_ms: f64,
    /// When it finished (ms since the Unix epoch).
    pub at: u64,
}

impl Record {
    /// A record of `kind` finished now, successful until told otherwise.
    pub(crate) fn new(
        kind: Kind,
        agent: Option<String>,
        label: impl Into<String>,
        elapsed: Duration,
    ) -> Record {
        Record {
            id: 0,
            kind,
            agent,
            label: label.into(),
            session: None,
            code: None,
            outcome: "ok".to_owned(),
            error: None,
            line: None,
            column: None,
            logs: Vec::new(),
            host_calls: None,
            duration_ms: elapsed.as_secs_f64() * 1000.0,
            at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        }
    }

    pub(crate) fn code(mut self, code: &str) -> Record {
        self.code = Some(cut(code, MAX_CODE_CHARS));
        self
    }

    /// Failed with `kind` and `message`; the position is read from the message when it
    /// names one (`(line 3, column 9)`, as Code Mode reports errors) unless given.
    pub(crate) fn failed(mut self, kind: &str, message: &str) -> Record {
        self.outcome = kind.to_owned();
        self.error = Some(cut(message, MAX_ERROR_CHARS));
        if self.line.is_none()
            && let Some((line, column)) = position(message)
        {
            self.line = Some(line);
            self.column = Some(column);
        }
        self
    }

    pub(crate) fn logs(mut self, lines: impl IntoIterator<Item = String>) -> Record {
        let mut left = MAX_LOG_CHARS;
        for line in lines {
            if left == 0 {
                self.logs.push("… (more output cut)".to_owned());
                break;
            }
            let kept = cut(&line, left);
            left = left.saturating_sub(line.chars().count());
            self.logs.push(kept);
        }
        self
    }

    /// From an `/mcp` `execute` program the sandbox ran (its code may call any agent, so
    /// no one agent is named).
    fn from_execution(report: &codemode::mcp::ExecutionReport<'_>) -> Record {
        let outcome = report.outcome;
        let mut record = Record::new(Kind::Execute, None, "execute", report.elapsed)
            .code(report.code)
            .logs(outcome.logs.iter().map(|log| match log.level {
                sandbox::Level::Log | sandbox::Level::Info => log.text.clone(),
                level => format!("[{}] {}", format!("{level:?}").to_lowercase(), log.text),
            }));
        record.host_calls = Some(outcome.stats.host_calls);
        if let Some(error) = &outcome.error {
            record.line = error.line;
            record.column = error.column;
            // Written as Code Mode reports it to the model: `TypeError: …`, then the stack.
            let mut message = format!("{}: {}", error.name, error.message);
            if let Some(stack) = error.stack.as_deref().filter(|s| !s.trim().is_empty()) {
                message.push('\n');
                message.push_str(stack);
            }
            record = record.failed(&error.name, &message);
        }
        record
    }
}

/// The first `(line N, column M)` in `text`.
fn position(text: &str) -> Option<(u32, u32)> {
    text.match_indices("(line ").find_map(|(at, _)| {
        let rest = &text[at + "(line ".len()..];
        let (line, rest) = rest.split_once(", column ")?;
        let (column, _) = rest.split_once(')')?;
        Some((line.parse().ok()?, column.parse().ok()?))
    })
}

fn cut(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((at, _)) => format!("{}… (cut)", &text[..at]),
        None => text.to_owned(),
    }
}

/// The ring of recent executions. Cheap to clone: one ring for the server.
#[derive(Clone, Default)]
pub(crate) struct Executions {
    inner: Arc<Mutex<Ring>>,
}

#[derive(Default)]
struct Ring {
    next_id: u64,
    records: VecDeque<Record>,
}

impl Executions {
    pub(crate) fn record(&self, mut record: Record) {
        let mut ring = base::sync::lock(&self.inner);
        ring.next_id += 1;
        record.id = ring.next_id;
        if ring.records.len() == CAPACITY {
            ring.records.pop_front();
        }
        ring.records.push_back(record);
    }

    /// The newest first, at most `limit`, of those that match.
    pub(super) fn list(&self, filter: &ListQuery, limit: usize) -> Vec<Record> {
        let ring = base::sync::lock(&self.inner);
        ring.records
            .iter()
            .rev()
            .filter(|r| filter.matches(r))
            .take(limit)
            .cloned()
            .collect()
    }

    /// The observer `execute` calls of the `/mcp` server report to.
    /// The HTTP answer to an agent method call (`{result}`, or the error), recorded as an
    /// execution of `agent` (named as its API path) that started at `started`.
    pub(in crate::serve) fn answer_call(
        &self,
        agent: String,
        method: &str,
        started: std::time::Instant,
        called: Result<Value, agents::Error>,
    ) -> Result<Response, ApiError> {
        let record = Record::new(Kind::Call, Some(agent), method, started.elapsed());
        match called {
            Ok(result) => {
                self.record(record);
                Ok(json_response(StatusCode::OK, &json!({ "result": result })))
            }
            Err(e) => {
                let error = ApiError::from(e);
                self.record(record.failed(&error.code, &error.message));
                Err(error)
            }
        }
    }

    pub(crate) fn mcp_observer(&self) -> codemode::mcp::ExecutionObserver {
        let executions = self.clone();
        codemode::mcp::ExecutionObserver(Arc::new(move |report| {
            executions.record(Record::from_execution(&report));
        }))
    }

    /// Follows a Think turn's chunks as they stream, recording each tool call when its
    /// result arrives and the turn when it ends. Dropping it unfinished (the client went
    /// away) records nothing: the turn's own end is not known here then.
    pub(crate) fn turn(&self, agent: String, session: String) -> TurnRecorder {
        TurnRecorder {
            executions: self.clone(),
            agent,
            session,
            started: std::time::Instant::now(),
            calls: Vec::new(),
            failure: None,
            done: false,
        }
    }
}

pub(crate) struct TurnRecorder {
    executions: Executions,
    agent: String,
    session: String,
    started: std::time::Instant,
    /// Tool calls whose input is known: `(id, tool, input, since)`.
    calls: Vec<(String, String, Value, std::time::Instant)>,
    failure: Option<(String, String)>,
    done: bool,
}

impl TurnRecorder {
    pub(crate) fn observe(&mut self, chunk: &think::ui::Chunk) {
        use think::ui::Chunk;
        match chunk {
            Chunk::ToolInputAvailable {
                tool_call_id,
                tool_name,
                input,
            } => self.calls.push((
                tool_call_id.clone(),
                tool_name.clone(),
                input.clone(),
                std::time::Instant::now(),
            )),
            Chunk::ToolOutputAvailable {
                tool_call_id,
                output,
            } => {
                if let Some(record) = self.tool_record(tool_call_id) {
                    let logs = output["logs"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|l| l.as_str().map_or_else(|| l.to_string(), str::to_owned));
                    self.executions.record(record.logs(logs));
                }
            }
            Chunk::ToolOutputError {
                tool_call_id,
                error_text,
            } => {
                if let Some(record) = self.tool_record(tool_call_id) {
                    self.executions
                        .record(record.failed(&error_kind(error_text), error_text));
                }
            }
            Chunk::Error { error_text } => {
                self.failure = Some(("TurnError".to_owned(), error_text.clone()));
            }
            Chunk::Abort { reason } => {
                self.failure = Some((
                    "aborted".to_owned(),
                    reason.clone().unwrap_or_else(|| "stopped".to_owned()),
                ));
                self.finish();
            }
            Chunk::Finish { .. } => self.finish(),
            _ => {}
        }
    }

    fn tool_record(&mut self, id: &str) -> Option<Record> {
        let at = self.calls.iter().position(|(call, ..)| call == id)?;
        let (_, tool, input, since) = self.calls.swap_remove(at);
        let mut record = Record::new(Kind::Tool, Some(self.agent.clone()), tool, since.elapsed());
        record.session = Some(self.session.clone());
        Some(match input["code"].as_str() {
            Some(code) => record.code(code),
            None => record.code(&serde_json::to_string_pretty(&input).unwrap_or_default()),
        })
    }

    /// Records the turn (once: later calls do nothing).
    pub(crate) fn finish(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        let mut record = Record::new(
            Kind::Turn,
            Some(self.agent.clone()),
            format!("session {}", self.session),
            self.started.elapsed(),
        );
        record.session = Some(self.session.clone());
        if let Some((kind, message)) = &self.failure {
            record = record.failed(kind, message);
        }
        self.executions.record(record);
    }
}

/// `TypeError` of `TypeError: x is not a function (line 2, column 5)`; `ToolError` when
/// the text does not start with an error's name.
fn error_kind(text: &str) -> String {
    text.split_once(':')
        .map(|(name, _)| name)
        .filter(|name| {
            !name.is_empty()
                && name.ends_with("Error")
                && name.chars().all(|c| c.is_ascii_alphanumeric())
        })
        .unwrap_or("ToolError")
        .to_owned()
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    /// `Class/name`: only that agent's.
    agent: Option<String>,
    /// `ok`, `error` (every failure) or one error kind.
    outcome: Option<String>,
    kind: Option<Kind>,
    pub(super) limit: Option<usize>,
}

impl ListQuery {
    fn matches(&self, record: &Record) -> bool {
        let agent = self
            .agent
            .as_deref()
            .filter(|a| !a.is_empty())
            .is_none_or(|a| record.agent.as_deref() == Some(a));
        let outcome = match self.outcome.as_deref().filter(|o| !o.is_empty()) {
            None => true,
            Some("error") => record.outcome != "ok",
            Some(kind) => record.outcome == kind,
        };
        let kind = self.kind.is_none_or(|k| record.kind == k);
        agent && outcome && kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(outcome: Option<&str>) -> ListQuery {
        ListQuery {
            agent: None,
            outcome: outcome.map(str::to_owned),
            kind: None,
            limit: None,
        }
    }

    #[test]
    fn issue20_the_ring_keeps_the_newest_records_up_to_its_capacity() {
        let executions = Executions::default();
        for i in 0..CAPACITY + 7 {
            let record = Record::new(Kind::Call, None, format!("m{i}"), Duration::ZERO);
            executions.record(if i % 2 == 0 {
                record
            } else {
                record.failed("TypeError", "boom (line 2, column 7)")
            });
        }
        let all = executions.list(&query(None), CAPACITY + 100);
        assert_eq!(all.len(), CAPACITY);
        assert_eq!(all[0].label, format!("m{}", CAPACITY + 6), "newest first");
        assert_eq!(all[CAPACITY - 1].label, "m7", "the oldest went first");
        assert_eq!(all[0].id, (CAPACITY + 7) as u64);
        let failed = executions.list(&query(Some("error")), CAPACITY);
        assert!(failed.iter().all(|r| r.outcome == "TypeError"));
        assert_eq!((failed[0].line, failed[0].column), (Some(2), Some(7)));
        assert_eq!(executions.list(&query(Some("ok")), 3).len(), 3);
    }

    #[test]
    fn issue20_positions_kinds_and_cuts_come_from_the_text() {
        assert_eq!(position("x (line 12, column 3)\nstack"), Some((12, 3)));
        assert_eq!(position("no (line here) (line 4, column 1)"), Some((4, 1)));
        assert_eq!(position("nothing"), None);
        assert_eq!(
            error_kind("ReferenceError: x is not defined"),
            "ReferenceError"
        );
        assert_eq!(error_kind("the server said: no"), "ToolError");
        let record = Record::new(Kind::Tool, None, "t", Duration::ZERO)
            .logs((0..3).map(|_| "é".repeat(MAX_LOG_CHARS / 2)));
        let kept: usize = record.logs.iter().map(|l| l.chars().count()).sum();
        assert!(kept < MAX_LOG_CHARS + 100, "{kept}");
        assert_eq!(record.logs.last().unwrap(), "… (more output cut)");
    }
}
