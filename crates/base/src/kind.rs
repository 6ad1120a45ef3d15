//! The shared categories of failure. Every crate's error says which one it is
//! (`kind()`), next to its stable code (`code()`), so the HTTP layer maps categories to
//! statuses exhaustively instead of matching code strings, and a new code cannot silently
//! become a 500.

/// What kind of failure an error is, from the caller's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ErrorKind {
    /// The caller's input is unusable: a bad name, argument, path or document.
    Invalid,
    /// What the caller named does not exist.
    NotFound,
    /// The request conflicts with the current state (already exists, not empty, a call
    /// back into a waiting caller).
    Conflict,
    /// The input or a result is over a size cap.
    TooLarge,
    /// Code the caller supplied (an agent's module, an execution) stopped at one of its
    /// limits: CPU, wall time, memory, output, stack, host calls.
    Limit,
    /// Code the caller supplied threw; the message is the code's own.
    CodeFailed,
    /// A service the server depends on (a model provider, an LLM or embeddings endpoint,
    /// an upstream API or MCP server) failed or answered with something unusable.
    Upstream,
    /// The server cannot serve this now: it is shutting down, or what the request needs
    /// (a model, a sandbox) is not configured or not available on this machine.
    Unavailable,
    /// The server's own fault (storage, I/O, a broken invariant): details belong in the
    /// server's log, not in the reply.
    #[default]
    Internal,
}

impl ErrorKind {
    /// Every kind, for exhaustive tests of the places that translate them.
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::Invalid,
        ErrorKind::NotFound,
        ErrorKind::Conflict,
        ErrorKind::TooLarge,
        ErrorKind::Limit,
        ErrorKind::CodeFailed,
        ErrorKind::Upstream,
        ErrorKind::Unavailable,
        ErrorKind::Internal,
    ];
}
