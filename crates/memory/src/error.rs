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
    InvalidProfileName {
        /// `name`: the name as given.
        name: String,
        /// `reason`: which part is wrong and how.
        reason: String,
    },
    /// A read on a profile that has never been written.
    #[error(
        "memory profile `{profile}` does not exist; it is created by its first write \
         (`remember`, or `islet memory ingest FILE --profile {profile}`); \
         `islet memory profiles` lists the existing ones"
    )]
    ProfileNotFound {
        /// `profile`: the profile's name (`namespace/profile`).
        profile: String,
    },
    /// No memory with this id in the profile.
    #[error(
        "no memory `{id}` in profile `{profile}`; it may have been forgotten; use `list` or \
         `recall` to find ids"
    )]
    NotFound {
        /// `profile`: the profile that was searched.
        profile: String,
        /// `id`: the memory id as given.
        id: String,
    },
    /// An argument of an operation is unusable (blank query, unknown type, bad cursor, …).
    #[error("{0}")]
    InvalidInput(
        /// The whole message: what is wrong and what is accepted.
        String,
    ),
    /// An ingest file (or ingest call) is malformed; `path` is the JSON path of the problem,
    /// e.g. `[3].messages[7].text`. Nothing was written.
    #[error("invalid ingest input at `{path}`: {reason}; nothing was written")]
    InvalidIngest {
        /// `path`: the JSON path of the offending value.
        path: String,
        /// `reason`: what is wrong with it.
        reason: String,
    },
    /// An operation needs an LLM or an embeddings endpoint that is not configured.
    #[error("{what} is not configured: {hint}")]
    NotConfigured {
        /// `what`: the missing service (e.g. "an embeddings endpoint").
        what: String,
        /// `hint`: how to configure it, or how to do without it.
        hint: String,
    },
    /// The LLM endpoint could not be reached or answered with an error status.
    #[error(
        "LLM request to `{url}` failed: {reason}; check --llm-url, --llm-model and the API key \
         variable; nothing was written"
    )]
    Llm {
        /// `url`: the URL the request was sent to.
        url: String,
        /// `reason`: why it failed after retries (transport error, HTTP status with the
        /// body, a reply that is not JSON), the API key redacted.
        reason: String,
    },
    /// The LLM answered, but not with what was asked for.
    #[error("the LLM's reply is unusable: {reason}; nothing was written")]
    LlmReply {
        /// `reason`: what was wrong with the reply (not JSON, not the asked-for schema, …).
        reason: String,
    },
    /// The embeddings endpoint failed or answered with something unusable.
    #[error(
        "embeddings request to `{url}` failed: {reason}; check --embeddings-url and \
         --embeddings-model; nothing was written"
    )]
    Embeddings {
        /// `url`: the URL the request was sent to.
        url: String,
        /// `reason`: why it failed after retries (transport error, HTTP status with the
        /// body, an unusable answer), the API key redacted.
        reason: String,
    },
    /// The profile's vectors come from another embeddings model; mixing them is meaningless.
    #[error(
        "memory profile `{profile}` holds vectors from embeddings model `{stored}`, but \
         `{configured}` is configured; configure `{stored}` again, or write to a new profile"
    )]
    EmbeddingsModelMismatch {
        /// `profile`: the profile whose vectors do not match.
        profile: String,
        /// `stored`: the embeddings model the profile's vectors were made with.
        stored: String,
        /// `configured`: the embeddings model this server is configured with.
        configured: String,
    },
    /// SQLite failed (I/O, corruption, a full disk).
    #[error("memory storage error for profile `{profile}` in {what}: {message}")]
    Storage {
        /// `profile`: the profile whose database failed.
        profile: String,
        /// `what`: the step that failed (e.g. "opening the database", "remembering").
        what: &'static str,
        /// `message`: SQLite's (or the task's) error text.
        message: String,
    },
    /// A write through an attachment that only reads (an agent class's
    /// `{ profile, readOnly: true }`).
    #[error(
        "memory profile `{profile}` is attached read-only to {attachment}: `{operation}` is \
         refused; attach it writable to write, or write to another profile"
    )]
    ReadOnly {
        /// `profile`: the profile the write was aimed at.
        profile: String,
        /// `attachment`: who attached it read-only (e.g. "agent class `Reader`").
        attachment: String,
        /// `operation`: the refused binding (e.g. `remember`).
        operation: &'static str,
    },
    /// A file or directory of the data directory could not be used.
    #[error("cannot use `{path}`: {message}; check the --data directory and its permissions")]
    Io {
        /// `path`: the file or directory that could not be used.
        path: String,
        /// `message`: the operating system's error text.
        message: String,
    },
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
