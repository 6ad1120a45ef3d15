//! The crate's one error type. Messages say what was wrong and what to do next: they reach
//! operators (CLI, HTTP) and models (Code Mode bindings) alike. `code()` is the stable,
//! machine-readable name callers translate on.

/// Everything that can go wrong with memory profiles.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A profile name is not `namespace/profile` with valid parts.
    #[error(
        "invalid memory profile name `{name}`: {reason}; use `namespace/profile`, each part \
         1-64 characters of a-z, 0-9, `.`, `_` or `-`, starting with a letter or digit \
         (e.g. `team/alice`)"
    )]
    InvalidProfileName { name: String, reason: String },
    /// A read on a profile that has never been written.
    #[error(
        "memory profile `{profile}` does not exist; it is created by its first write \
         (`remember`, or `islet memory ingest FILE --profile {profile}`); \
         `islet memory profiles` lists the existing ones"
    )]
    ProfileNotFound { profile: String },
    /// No memory with this id in the profile.
    #[error(
        "no memory `{id}` in profile `{profile}`; it may have been forgotten; use `list` or \
         `recall` to find ids"
    )]
    NotFound { profile: String, id: String },
    /// An argument of an operation is unusable (blank query, unknown type, bad cursor, …).
    #[error("{0}")]
    InvalidInput(String),
    /// An ingest file (or ingest call) is malformed; `path` is the JSON path of the problem,
    /// e.g. `[3].messages[7].text`. Nothing was written.
    #[error("invalid ingest input at `{path}`: {reason}; nothing was written")]
    InvalidIngest { path: String, reason: String },
    /// An operation needs an LLM or an embeddings endpoint that is not configured.
    #[error("{what} is not configured: {hint}")]
    NotConfigured { what: String, hint: String },
    /// The LLM endpoint could not be reached or answered with an error status.
    #[error(
        "LLM request to `{url}` failed: {reason}; check --llm-url, --llm-model and the API key \
         variable; nothing was written"
    )]
    Llm { url: String, reason: String },
    /// The LLM answered, but not with what was asked for.
    #[error("the LLM's reply is unusable: {reason}; nothing was written")]
    LlmReply { reason: String },
    /// The embeddings endpoint failed or answered with something unusable.
    #[error(
        "embeddings request to `{url}` failed: {reason}; check --embeddings-url and \
         --embeddings-model; nothing was written"
    )]
    Embeddings { url: String, reason: String },
    /// The profile's vectors come from another embeddings model; mixing them is meaningless.
    #[error(
        "memory profile `{profile}` holds vectors from embeddings model `{stored}`, but \
         `{configured}` is configured; configure `{stored}` again, or write to a new profile"
    )]
    EmbeddingsModelMismatch {
        profile: String,
        stored: String,
        configured: String,
    },
    /// SQLite failed (I/O, corruption, a full disk).
    #[error("memory storage error for profile `{profile}` in {what}: {message}")]
    Storage {
        profile: String,
        what: &'static str,
        message: String,
    },
    /// A write through an attachment that only reads (an agent class's
    /// `{ profile, readOnly: true }`).
    #[error(
        "memory profile `{profile}` is attached read-only to {attachment}: `{operation}` is \
         refused; attach it writable to write, or write to another profile"
    )]
    ReadOnly {
        profile: String,
        attachment: String,
        operation: &'static str,
    },
    /// A file or directory of the data directory could not be used.
    #[error("cannot use `{path}`: {message}; check the --data directory and its permissions")]
    Io { path: String, message: String },
}

impl Error {
    /// A stable, upper-case code for callers that translate errors (HTTP status, JS `code`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidProfileName { .. } => "INVALID_PROFILE",
            Error::ProfileNotFound { .. } | Error::NotFound { .. } => "NOT_FOUND",
            Error::InvalidInput(_) => "INVALID_INPUT",
            Error::InvalidIngest { .. } => "INVALID_INGEST",
            Error::NotConfigured { .. } => "NOT_CONFIGURED",
            Error::Llm { .. } => "LLM_UNAVAILABLE",
            Error::LlmReply { .. } => "LLM_BAD_REPLY",
            Error::Embeddings { .. } => "EMBEDDINGS_UNAVAILABLE",
            Error::EmbeddingsModelMismatch { .. } => "EMBEDDINGS_MODEL_MISMATCH",
            Error::Storage { .. } => "STORAGE",
            Error::Io { .. } => "IO",
            Error::ReadOnly { .. } => "READ_ONLY",
        }
    }

    /// The category of the failure (what the HTTP layer maps to a status).
    pub fn kind(&self) -> base::ErrorKind {
        use base::ErrorKind as K;
        match self {
            Error::InvalidProfileName { .. }
            | Error::InvalidInput(_)
            | Error::InvalidIngest { .. }
            // The operation asks for what this server was not given (e.g. embeddings): the
            // caller can do without it, so it is refused like bad input.
            | Error::NotConfigured { .. } => K::Invalid,
            Error::ProfileNotFound { .. } | Error::NotFound { .. } => K::NotFound,
            Error::EmbeddingsModelMismatch { .. } => K::Conflict,
            // Refused like bad input: the caller asked for what its attachment does not allow.
            Error::ReadOnly { .. } => K::Invalid,
            Error::Llm { .. } | Error::LlmReply { .. } | Error::Embeddings { .. } => K::Upstream,
            Error::Storage { .. } | Error::Io { .. } => K::Internal,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidInput(message.into())
    }

    pub(crate) fn ingest(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidIngest {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: &std::path::Path, e: &std::io::Error) -> Self {
        Error::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }
}

impl From<Error> for sandbox::HostError {
    fn from(e: Error) -> Self {
        sandbox::HostError::new(e.code(), e.to_string())
            .with_name("MemoryError")
            .with_kind(e.kind())
    }
}
