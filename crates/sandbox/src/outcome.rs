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
    pub logs: Vec<Log>,
    pub stats: Stats,
}

impl Outcome {
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
    pub message: String,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Log,
    Info,
    Warn,
    Error,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Log {
    pub level: Level,
    pub text: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Microseconds spent running JavaScript.
    pub cpu_us: u64,
    /// Microseconds from the start of the execution to its outcome.
    pub wall_us: u64,
    /// Bytes the isolate's heap held at the end (QuickJS's own accounting).
    pub memory_bytes: u64,
    pub host_calls: u32,
}
