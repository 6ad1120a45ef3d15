//! The crate's one error type. Messages say what was wrong and what to do next; they reach
//! HTTP clients, the CLI and (through Code Mode) the model. `code()` is the stable name the
//! two translation points (HTTP status, JS exception) key on.

use sandbox::{HostError, JsError};
use serde_json::json;

/// Everything that can go wrong hosting agents.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An agent module could not be read or is not an agent class.
    #[error("cannot load agent module `{path}`: {reason}")]
    Module {
        /// The module file (or the name the embedder gave it).
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two modules define the same class name.
    #[error("agent class `{class}` is defined twice: in `{first}` and `{second}`; rename one")]
    DuplicateClass {
        /// The class name both define.
        class: String,
        /// The module that defined it first.
        first: String,
        /// The module that defined it again.
        second: String,
    },
    /// A call or read named a class that was not loaded.
    #[error("unknown agent class `{class}`{}; the classes are: {available}", did_you_mean(.nearest))]
    UnknownClass {
        /// The class name asked for.
        class: String,
        /// The loaded class name closest to it, if one is close.
        nearest: Option<String>,
        /// The loaded classes, listed for the message.
        available: String,
    },
    /// A call named a method the class does not have or does not expose.
    #[error("{}", unknown_method(.class, .method, .nearest.as_deref(), *.hidden, .available))]
    UnknownMethod {
        /// The agent's class.
        class: String,
        /// The method name asked for.
        method: String,
        /// The callable method closest to it, if one is close.
        nearest: Option<String>,
        /// The class has the method, but it is not callable from outside.
        hidden: bool,
        /// The callable methods, listed for the message.
        available: String,
    },
    /// Reading an agent that was never created (reads do not create agents; calls do).
    #[error("there is no agent {class}(\"{name}\") yet; call one of its methods to create it")]
    NoSuchAgent {
        /// The class asked for.
        class: String,
        /// The agent name asked for.
        name: String,
    },
    /// A name, argument list or other input the caller sent is unusable.
    #[error("{0}")]
    InvalidInput(String),
    /// A sub-agent that its parent has not created (or has deleted).
    #[error(
        "there is no sub-agent {agent}: sub-agents are created by their parent \
         (this.subAgent(Class, name) in {parent}); call the parent to create it"
    )]
    NoSuchSubAgent {
        /// The sub-agent asked for.
        agent: String,
        /// The agent that would have to create it.
        parent: String,
    },
    /// A chain of agents calling each other (each waiting on the next) grew past the limit:
    /// a runaway recursion.
    #[error(
        "calling {target} would make a chain of {depth} agents waiting on each other; \
         agents calling back and forth that deeply are recursing without end: stop the recursion"
    )]
    Reentrant {
        /// The agent the refused call was for.
        target: String,
        /// How many agents the chain would hold.
        depth: usize,
    },
    /// Code an agent ran in a dynamic isolate (`this.isolates`) failed or hit a limit.
    #[error("{message}")]
    Isolate {
        /// The isolate's error, for the agent's code to read.
        message: String,
        /// Whether the isolate stopped at one of its limits rather than throwing.
        limit: bool,
    },
    /// The agent was aborted (`abortSubAgent`) while the call ran or waited.
    #[error(
        "{agent} was aborted ({reason}) before it answered; its data is kept, and a new call starts it again"
    )]
    Aborted {
        /// The aborted agent.
        agent: String,
        /// The reason given to `abortSubAgent`.
        reason: String,
    },
    /// The one waiting for the turn went away first (a Think turn cancelled while the
    /// agent ran one of its own tools): the turn was stopped and its writes rolled back.
    #[error(
        "{agent}'s turn was stopped because its caller went away (a cancelled chat turn); its writes were rolled back"
    )]
    CallerGone {
        /// The agent whose turn was stopped.
        agent: String,
    },
    /// The agent's code threw.
    #[error("{}", describe_js(.0))]
    Js(Box<JsError>),
    /// The agent's code refused the call on purpose (`throw new HttpError(404, "…")`):
    /// the caller's fault, answered with `status`.
    #[error("{message}")]
    Http {
        /// The HTTP status the code chose.
        status: u16,
        /// The error's message, sent as the body.
        message: String,
    },
    /// A turn hit one of the host's limits; the message is for the agent's author.
    #[error("{what} stopped at the {limit} limit: {detail}; {advice}")]
    Limit {
        /// What stopped (a turn, `onStart`, a dynamic isolate …), for the message.
        what: String,
        /// Which limit it hit.
        limit: sandbox::Limit,
        /// The first clause of the sandbox's message: what exactly ran out.
        detail: String,
        /// How the author can stay under the limit.
        advice: &'static str,
    },
    /// Storage failed; `store::Error::code()` says how.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// A host function of the embedder's failed (a Linux sandbox operation): its code and
    /// kind as it said.
    #[error("{}", .0.message)]
    Host(Box<HostError>),
    /// Cluster mode: another node holds the agent's lease (the HTTP layer forwards there;
    /// this reaches a caller only when it could not).
    #[error(
        "{agent} is served by node {node} ({advertise}) now; retry the call there or in a moment"
    )]
    NotOwner {
        /// The agent asked for.
        agent: String,
        /// The node holding its lease.
        node: String,
        /// The address that node advertises to its peers.
        advertise: String,
    },
    /// Cluster mode: this node's lease on the agent is no longer the current one (it was
    /// paused or cut off past the lease's time and another node took the agent over); the
    /// call's writes were not made durable and were discarded.
    #[error("{agent}: {message}; the call was not applied, retry it")]
    Fenced {
        /// The agent whose call was discarded.
        agent: String,
        /// What the cluster's store said about the lease.
        message: String,
    },
    /// Cluster mode: the agent's durable copy could not be read or written (the database
    /// is unreachable); the call's writes were not made durable and were discarded.
    #[error(
        "{agent}: the durable copy is unavailable ({message}); the call was not applied, retry it"
    )]
    NotDurable {
        /// The agent whose call was discarded.
        agent: String,
        /// Why the durable copy could not be reached.
        message: String,
    },
    /// The host is shutting down or the agent's mailbox is gone.
    #[error("the agent host is shutting down; retry against the restarted server")]
    ShuttingDown,
}

fn did_you_mean(nearest: &Option<String>) -> String {
    base::suggest::did_you_mean(nearest.as_deref())
}

/// What an agent's author can do about a limit (the sandbox's own advice is for model code).
fn limit_advice(limit: sandbox::Limit) -> &'static str {
    use sandbox::Limit;
    match limit {
        Limit::Output => {
            "a call's result and its console output must fit the output limit: return less (a page, \
             a summary) and page through the rest, or raise the limit (islet serve --max-output-kb)"
        }
        Limit::Memory => {
            "the agent's fields and what the call allocates must fit the memory limit: keep large \
             data in this.sql, this.storage or the workspace, or raise the limit (islet serve --memory-mb)"
        }
        Limit::Cpu => {
            "split the work over several calls or schedules, or raise the limit (islet serve --cpu-ms)"
        }
        Limit::Wall => {
            "the call waited too long (timers, other agents); split the work, or raise the limit \
             (islet serve --wall-ms)"
        }
        Limit::Stack => "the recursion is too deep: make it iterative",
        Limit::HostCalls => {
            "make fewer storage, workspace or agent calls per call (batch them: storage.get([...]), \
             one SQL statement for many rows)"
        }
    }
}

fn unknown_method(
    class: &str,
    method: &str,
    nearest: Option<&str>,
    hidden: bool,
    available: &str,
) -> String {
    if hidden {
        format!(
            "`{method}` of `{class}` is not callable from outside the agent (it is private, \
             protected, `_`-prefixed, or the class marks other methods @callable()); its callable \
             methods are: {available}"
        )
    } else {
        let hint = did_you_mean(&nearest.map(str::to_owned));
        format!("`{class}` has no method `{method}`{hint}; its callable methods are: {available}")
    }
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
    /// The error a failed turn ends with: an `HttpError` the code threw on purpose, a limit
    /// it hit, or whatever else it threw. `what` names the turn (`Counter("a").history`).
    pub(crate) fn from_turn(js: JsError, what: impl FnOnce() -> String) -> Error {
        if let Some(limit) = js.limit {
            let detail = js
                .message
                .split_once(':')
                .map_or(js.message.as_str(), |(first, _)| first)
                .to_owned();
            return Error::Limit {
                what: what(),
                limit,
                detail,
                advice: limit_advice(limit),
            };
        }
        let status = js
            .code
            .as_deref()
            .and_then(|c| c.strip_prefix("HTTP_"))
            .and_then(|s| s.parse::<u16>().ok())
            .filter(|s| (400..=599).contains(s));
        match status {
            Some(status) if js.name == "HttpError" => Error::Http {
                status,
                message: js.message,
            },
            _ => Error::Js(Box::new(js)),
        }
    }

    /// The HTTP status an agent chose for this error (`HttpError`), if it chose one.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The category of the failure (what the HTTP layer maps to a status; an `HttpError`'s
    /// own status comes first, see [`Error::http_status`]).
    pub fn kind(&self) -> base::ErrorKind {
        use base::ErrorKind as K;
        match self {
            // A module is the operator's code, loaded at start-up: it failed like code does.
            Error::Module { .. } | Error::DuplicateClass { .. } => K::CodeFailed,
            Error::UnknownClass { .. }
            | Error::UnknownMethod { .. }
            | Error::NoSuchAgent { .. }
            | Error::NoSuchSubAgent { .. } => K::NotFound,
            Error::InvalidInput(_) => K::Invalid,
            Error::Reentrant { .. } => K::Conflict,
            Error::Aborted { .. } | Error::CallerGone { .. } => K::Unavailable,
            Error::Isolate { limit: true, .. } => K::Limit,
            Error::Isolate { .. } => K::CodeFailed,
            Error::Js(e) if e.limit.is_some() => K::Limit,
            Error::Js(_) => K::CodeFailed,
            Error::Http { status, .. } => match status {
                404 => K::NotFound,
                409 => K::Conflict,
                413 => K::TooLarge,
                400..=499 => K::Invalid,
                _ => K::CodeFailed,
            },
            Error::Limit { .. } => K::Limit,
            Error::Store(e) => e.kind(),
            Error::Host(e) => e.kind,
            Error::ShuttingDown
            | Error::NotOwner { .. }
            | Error::Fenced { .. }
            | Error::NotDurable { .. } => K::Unavailable,
        }
    }

    /// A stable, upper-case code.
    pub fn code(&self) -> &str {
        match self {
            Error::Module { .. } | Error::DuplicateClass { .. } => "BAD_MODULE",
            Error::UnknownClass { .. } => "UNKNOWN_CLASS",
            Error::UnknownMethod { .. } => "UNKNOWN_METHOD",
            Error::NoSuchAgent { .. } | Error::NoSuchSubAgent { .. } => "NOT_FOUND",
            Error::InvalidInput(_) => "INVALID_INPUT",
            Error::Reentrant { .. } => "CALL_CHAIN_TOO_DEEP",
            Error::Aborted { .. } => "ABORTED",
            Error::CallerGone { .. } => "CALLER_GONE",
            Error::Isolate { limit: true, .. } => "LIMIT",
            Error::Isolate { .. } => "ISOLATE_ERROR",
            Error::Js(e) if e.limit.is_some() => "LIMIT",
            Error::Js(_) => "AGENT_ERROR",
            Error::Http { status, .. } => match status {
                400 => "BAD_REQUEST",
                401 => "UNAUTHORIZED",
                403 => "FORBIDDEN",
                404 => "NOT_FOUND",
                405 => "METHOD_NOT_ALLOWED",
                409 => "CONFLICT",
                410 => "GONE",
                422 => "UNPROCESSABLE",
                429 => "TOO_MANY_REQUESTS",
                400..=499 => "REJECTED",
                _ => "AGENT_ERROR",
            },
            Error::Limit { .. } => "LIMIT",
            Error::Store(e) => e.code(),
            Error::Host(e) => &e.code,
            Error::ShuttingDown => "SHUTTING_DOWN",
            Error::NotOwner { .. } => "NOT_OWNER",
            Error::Fenced { .. } => "FENCED",
            Error::NotDurable { .. } => "NOT_DURABLE",
        }
    }
}

/// The JS exception agent code sees for `e`: a `HostError` with the error's `code()` and
/// kind (an `AgentError` with the callee's code or status when another agent failed). The
/// one place Rust errors become exceptions for agent code.
pub(crate) fn host_error(e: &Error) -> HostError {
    if let Error::Host(e) = e {
        return (**e).clone();
    }
    let mut error = HostError::new(e.code(), e.to_string()).with_kind(e.kind());
    match e {
        Error::Js(js) => {
            error = error.with_name("AgentError");
            if let Some(code) = &js.code {
                error = error.with_data(json!({ "code": code }));
            }
        }
        // The callee refused on purpose: its status lets the caller tell "not found" from a fault.
        Error::Http { status, .. } => {
            error = error
                .with_name("AgentError")
                .with_data(json!({ "status": status }));
        }
        _ => {}
    }
    error
}
