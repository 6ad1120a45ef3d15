//! The crate's one error type. Messages say what was wrong and what to do next; they reach
//! HTTP clients, the CLI and (through Code Mode) the model. `code()` is the stable name the
//! two translation points (HTTP status, JS exception) key on.

use sandbox::JsError;

/// Everything that can go wrong hosting agents.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An agent module could not be read or is not an agent class.
    #[error("cannot load agent module `{path}`: {reason}")]
    Module { path: String, reason: String },
    /// Two modules define the same class name.
    #[error("agent class `{class}` is defined twice: in `{first}` and `{second}`; rename one")]
    DuplicateClass {
        class: String,
        first: String,
        second: String,
    },
    #[error("unknown agent class `{class}`{}; the classes are: {available}", did_you_mean(.nearest))]
    UnknownClass {
        class: String,
        nearest: Option<String>,
        available: String,
    },
    #[error("`{class}` has no method `{method}`{}; its methods are: {available}", did_you_mean(.nearest))]
    UnknownMethod {
        class: String,
        method: String,
        nearest: Option<String>,
        available: String,
    },
    /// Reading an agent that was never created (reads do not create agents; calls do).
    #[error("there is no agent {class}(\"{name}\") yet; call one of its methods to create it")]
    NoSuchAgent { class: String, name: String },
    /// A name, argument list or other input the caller sent is unusable.
    #[error("{0}")]
    InvalidInput(String),
    /// The call would wait on an agent that is already waiting on this call.
    #[error(
        "calling {target} from {chain} would deadlock: an agent handles one call at a time and \
         {target} is already waiting on this call; restructure so agents do not call back into their callers"
    )]
    Reentrant { target: String, chain: String },
    /// The agent's code threw, or hit a limit.
    #[error("{}", describe_js(.0))]
    Js(Box<JsError>),
    /// Storage failed; `store::Error::code()` says how.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// The host is shutting down or the agent's mailbox is gone.
    #[error("the agent host is shutting down; retry against the restarted server")]
    ShuttingDown,
}

fn did_you_mean(nearest: &Option<String>) -> String {
    nearest
        .as_ref()
        .map(|n| format!(" (did you mean `{n}`?)"))
        .unwrap_or_default()
}

fn describe_js(e: &JsError) -> String {
    let mut s = format!("{}: {}", e.name, e.message);
    if let (Some(line), Some(column)) = (e.line, e.column) {
        s.push_str(&format!(
            " (at line {line}, column {column} of the agent's module)"
        ));
    }
    s
}

impl Error {
    /// A stable, upper-case code.
    pub fn code(&self) -> &str {
        match self {
            Error::Module { .. } | Error::DuplicateClass { .. } => "BAD_MODULE",
            Error::UnknownClass { .. } => "UNKNOWN_CLASS",
            Error::UnknownMethod { .. } => "UNKNOWN_METHOD",
            Error::NoSuchAgent { .. } => "NOT_FOUND",
            Error::InvalidInput(_) => "INVALID_INPUT",
            Error::Reentrant { .. } => "REENTRANT_CALL",
            Error::Js(e) if e.limit.is_some() => "LIMIT",
            Error::Js(_) => "AGENT_ERROR",
            Error::Store(e) => e.code(),
            Error::ShuttingDown => "SHUTTING_DOWN",
        }
    }
}
