//! The crate's one error type. Messages say what was wrong and what to do next; `code()`
//! gives callers (HTTP, JS) a stable machine-readable name.
//!
//! Most variants carry a complete sentence written at the place that knows the context
//! (the path, the key, the rule that was broken), so the caller can show it unchanged.

/// Everything that can go wrong in storage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite failed (I/O, corruption, a constraint, a bad statement from internal code).
    #[error("storage error in `{what}`: {message}")]
    Sqlite {
        /// `what`: the internal operation that failed (e.g. "starting a fiber").
        what: String,
        /// `message`: SQLite's error text.
        message: String,
    },
    /// The data directory or a file in it could not be used.
    #[error("cannot use `{path}`: {message}")]
    Io {
        /// `path`: the file or directory that could not be used.
        path: String,
        /// `message`: the operating system's error text.
        message: String,
    },
    /// An agent, file, directory or schedule that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Something that must not exist yet already does.
    #[error("{0}")]
    AlreadyExists(String),
    /// A directory was needed and a file was found.
    #[error("{0}")]
    NotADirectory(String),
    /// A file was needed and a directory was found.
    #[error("{0}")]
    IsADirectory(String),
    /// A directory that still has entries was asked to go away without `recursive`.
    #[error("{0}")]
    DirectoryNotEmpty(String),
    /// A workspace path that breaks one of the path rules.
    #[error("invalid path `{path}`: {reason}")]
    InvalidPath {
        /// `path`: the path as given.
        path: String,
        /// `reason`: the rule it breaks.
        reason: String,
    },
    /// An agent class or name, or a method name, that breaks the naming rules.
    #[error("{0}")]
    InvalidName(String),
    /// A cron expression that does not parse or never fires.
    #[error(
        "invalid cron expression `{cron}`: {message}; use 5 fields (minute hour day-of-month month day-of-week), e.g. `*/5 * * * *`, optionally with a leading seconds field"
    )]
    InvalidCron {
        /// `cron`: the expression as given.
        cron: String,
        /// `message`: the parser's complaint, or why it never fires.
        message: String,
    },
    /// A malformed argument (a bad regex, a negative delay, a non-UTF-8 file read as text…).
    #[error("{0}")]
    InvalidArgument(String),
    /// The agent's own SQL (`this.sql`) failed or was refused.
    #[error("{0}")]
    Sql(String),
    /// A value, file or result over its size cap.
    #[error("{0}")]
    TooLarge(String),
    /// An operation that does not fit the current transaction state (e.g. `begin` twice).
    #[error("{0}")]
    InvalidState(String),
}

impl Error {
    /// A stable, upper-case code for callers that translate errors (`NOT_FOUND`, …).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Sqlite { .. } => "STORAGE",
            Error::Io { .. } => "IO",
            Error::NotFound(_) => "NOT_FOUND",
            Error::AlreadyExists(_) => "ALREADY_EXISTS",
            Error::NotADirectory(_) => "NOT_A_DIRECTORY",
            Error::IsADirectory(_) => "IS_A_DIRECTORY",
            Error::DirectoryNotEmpty(_) => "DIRECTORY_NOT_EMPTY",
            Error::InvalidPath { .. } => "INVALID_PATH",
            Error::InvalidName(_) => "INVALID_NAME",
            Error::InvalidCron { .. } => "INVALID_CRON",
            Error::InvalidArgument(_) => "INVALID_ARGUMENT",
            Error::Sql(_) => "SQL",
            Error::TooLarge(_) => "TOO_LARGE",
            Error::InvalidState(_) => "INVALID_STATE",
        }
    }

    /// The category of the failure (what the HTTP layer maps to a status).
    pub fn kind(&self) -> base::ErrorKind {
        use base::ErrorKind as K;
        match self {
            Error::Sqlite { .. } | Error::Io { .. } | Error::InvalidState(_) => K::Internal,
            Error::NotFound(_) => K::NotFound,
            Error::AlreadyExists(_) | Error::DirectoryNotEmpty(_) => K::Conflict,
            Error::NotADirectory(_)
            | Error::IsADirectory(_)
            | Error::InvalidPath { .. }
            | Error::InvalidName(_)
            | Error::InvalidCron { .. }
            | Error::InvalidArgument(_)
            | Error::Sql(_) => K::Invalid,
            Error::TooLarge(_) => K::TooLarge,
        }
    }

    pub(crate) fn sqlite(what: impl Into<String>, e: rusqlite::Error) -> Self {
        Error::Sqlite {
            what: what.into(),
            message: e.to_string(),
        }
    }

    pub(crate) fn io(path: &std::path::Path, e: std::io::Error) -> Self {
        Error::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }
}

/// Attaches a description of the internal operation to a SQLite error.
pub(crate) trait SqlContext<T> {
    fn ctx(self, what: &str) -> Result<T, Error>;
}

impl<T> SqlContext<T> for Result<T, rusqlite::Error> {
    fn ctx(self, what: &str) -> Result<T, Error> {
        self.map_err(|e| Error::sqlite(what, e))
    }
}
