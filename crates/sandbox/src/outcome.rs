//! What an execution returns: a result or an error, the logs, and what it cost.

use crate::limits::Limit;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The outcome of one execution. Errors are values: an execution never panics the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The value the code returned, as JSON (`None` when it returned `undefined` or failed).
    pub result: Option<Value>,
    /// Why the execution failed, if it did.
    pub error: Option<JsError>,
    /// Console output, in the order it was written.
    pub logs: Vec<Log>,
    /// What the execution cost.
    pub stats: Stats,
}

impl Outcome {
    /// Whether the execution ended without an error.
    pub fn is_ok(&self) -> bool {
        self.error.is_none()
    }
}

/// A thrown value, a syntax error, or a limit hit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsError {
    /// `TypeError`, `SyntaxError`, `HostError`, `LimitError`, … (`Error` for thrown
    /// non-Error values, whose message then shows the value).
    pub name: String,
    /// The error's message (for a limit, which limit and how to stay under it).
    pub message: String,
    /// The JS stack, with positions in the code as sent, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// 1-based line in the code as sent (markdown fences included), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// 1-based column (in characters) in the code as sent, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// `code` property of the thrown error (host errors always carry one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Set when the execution ended because it hit a limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<Limit>,
}

impl JsError {
    /// An error with this name and message and no position, code or limit.
    pub fn new(name: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            message: message.into(),
            stack: None,
            line: None,
            column: None,
            code: None,
            limit: None,
        }
    }

    pub(crate) fn limit(limit: Limit, message: String) -> Self {
        Self {
            limit: Some(limit),
            ..Self::new("LimitError", message)
        }
    }
}

impl std::fmt::Display for JsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name, self.message)?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, " (line {line}, column {column})")?;
        }
        Ok(())
    }
}

/// The console method a log line was written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// `console.log`.
    Log,
    /// `console.info`.
    Info,
    /// `console.warn`.
    Warn,
    /// `console.error`.
    Error,
    /// `console.debug`.
    Debug,
}

impl Level {
    pub(crate) fn parse(s: &str) -> Level {
        match s {
            "info" => Level::Info,
            "warn" => Level::Warn,
            "error" => Level::Error,
            "debug" => Level::Debug,
            _ => Level::Log,
        }
    }
}

/// One line of console output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Log {
    /// Which console method wrote it.
    pub level: Level,
    /// The arguments formatted as Node would print them.
    pub text: String,
}

/// What one execution cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Microseconds spent running JavaScript.
    pub cpu_us: u64,
    /// Microseconds from the start of the execution to its outcome.
    pub wall_us: u64,
    /// Bytes the isolate's heap held at the end (QuickJS's own accounting).
    pub memory_bytes: u64,
    /// Host function calls the code made.
    pub host_calls: u32,
}
