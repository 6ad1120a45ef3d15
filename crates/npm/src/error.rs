//! The crate's one error type. Every message says what to do next: the model reads it as
//! the execution's error and writes its next program from it.

use base::ErrorKind;

/// Everything that can stop a program's imports from being served.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An import the npm rung cannot serve (a relative path, a URL, a malformed name).
    #[error("{0}")]
    BadImport(String),
    /// The allowlist does not name the package.
    #[error(
        "package `{name}` is not allowed here; allowed: {allowed}. Use one of those, or ask the operator to add it (islet --npm-allow)"
    )]
    NotAllowed {
        /// The package imported.
        name: String,
        /// The allowlist, for the message.
        allowed: String,
    },
    /// The registry has no such package, or no version in the range.
    #[error("{0}")]
    NotFound(String),
    /// The registry could not be reached or answered with something unusable, and nothing
    /// cached could stand in.
    #[error("npm registry: {0}")]
    Registry(String),
    /// A downloaded (or cached) tarball does not match its published integrity.
    #[error(
        "{package}: the tarball does not match its published integrity ({expected}); it was not used. \
         If a cache file was damaged, it is replaced on the next download"
    )]
    Integrity {
        /// `name@version`.
        package: String,
        /// The integrity the registry published.
        expected: String,
    },
    /// A package that needs something the sandbox cannot give it: install scripts, a
    /// native addon.
    #[error("{package} cannot run in the sandbox: {reason}")]
    Refused {
        /// `name@version`.
        package: String,
        /// What it needs that the sandbox lacks.
        reason: String,
    },
    /// A file of a package, or an import inside it, could not be resolved or converted.
    #[error("{0}")]
    Bundle(String),
    /// A package or bundle over the size caps.
    #[error("{0}")]
    TooLarge(String),
    /// The cache directory could not be read or written.
    #[error("npm cache {path}: {source}")]
    Cache {
        /// The file or directory that failed.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The stable code an execution's error carries.
    pub fn code(&self) -> &'static str {
        match self {
            Error::BadImport(_) => "NPM_BAD_IMPORT",
            Error::NotAllowed { .. } => "NPM_NOT_ALLOWED",
            Error::NotFound(_) => "NPM_NOT_FOUND",
            Error::Registry(_) => "NPM_REGISTRY",
            Error::Integrity { .. } => "NPM_INTEGRITY",
            Error::Refused { .. } => "NPM_REFUSED",
            Error::Bundle(_) => "NPM_BUNDLE",
            Error::TooLarge(_) => "NPM_TOO_LARGE",
            Error::Cache { .. } => "NPM_CACHE",
        }
    }

    /// The category of the failure, for the host's translation (e.g. an HTTP status).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::BadImport(_) | Error::NotAllowed { .. } | Error::Refused { .. } => {
                ErrorKind::Invalid
            }
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Registry(_) | Error::Integrity { .. } | Error::Bundle(_) => ErrorKind::Upstream,
            Error::TooLarge(_) => ErrorKind::TooLarge,
            Error::Cache { .. } => ErrorKind::Internal,
        }
    }

    pub(crate) fn cache(path: &std::path::Path, source: std::io::Error) -> Error {
        Error::Cache {
            path: path.display().to_string(),
            source,
        }
    }
}
