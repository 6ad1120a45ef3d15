//! The crate's one error type. Messages say what went wrong and what to do next; `code()`
//! gives callers (HTTP, JS) a stable name.

/// Everything that can go wrong running Linux sandboxes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// This machine cannot run sandboxes (no bubblewrap, user namespaces disabled…).
    #[error("Linux sandboxes are unavailable: {0}")]
    Unavailable(String),
    /// The sandbox could not be started, or it ended (its processes are gone).
    #[error("{0}")]
    SandboxGone(String),
    /// A command could not be started (no such program, bad working directory…).
    #[error("{0}")]
    Spawn(String),
    /// A malformed argument: an empty command, a path outside `/workspace`, an unknown
    /// language.
    #[error("{0}")]
    InvalidArgument(String),
    /// A background process or file that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A file over the size cap.
    #[error("{0}")]
    TooLarge(String),
    /// The host filesystem failed (the sandbox's state directory).
    #[error("cannot use `{path}`: {message}")]
    Io {
        /// The host path that failed.
        path: String,
        /// The operating system's error.
        message: String,
    },
    /// The agent's workspace (SQLite) refused a sync.
    #[error("workspace sync: {0}")]
    Workspace(#[from] store::Error),
}

impl Error {
    /// The stable name of the failure (`NOT_FOUND`, `SANDBOX_GONE` …) that HTTP and JS callers see.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Unavailable(_) => "UNAVAILABLE",
            Error::SandboxGone(_) => "SANDBOX_GONE",
            Error::Spawn(_) => "SPAWN_FAILED",
            Error::InvalidArgument(_) => "INVALID_ARGUMENT",
            Error::NotFound(_) => "NOT_FOUND",
            Error::TooLarge(_) => "TOO_LARGE",
            Error::Io { .. } => "IO",
            Error::Workspace(e) => e.code(),
        }
    }

    /// The category of the failure (what the HTTP layer maps to a status).
    pub fn kind(&self) -> base::ErrorKind {
        use base::ErrorKind as K;
        match self {
            Error::Unavailable(_) | Error::SandboxGone(_) => K::Unavailable,
            Error::Spawn(_) | Error::InvalidArgument(_) => K::Invalid,
            Error::NotFound(_) => K::NotFound,
            Error::TooLarge(_) => K::TooLarge,
            Error::Io { .. } => K::Internal,
            Error::Workspace(e) => e.kind(),
        }
    }

    pub(crate) fn io(path: &std::path::Path, e: std::io::Error) -> Error {
        Error::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
