//! The crate's one error type.

/// Everything that can go wrong talking to the cluster's database.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database could not be reached or refused the login.
    #[error("cannot connect to the cluster's PostgreSQL ({target}): {message}")]
    Connect {
        /// Host and port (never the password).
        target: String,
        /// The client's error text.
        message: String,
    },
    /// A statement failed (the connection broke, a constraint, the server's error).
    #[error("PostgreSQL failed while {what}: {message}")]
    Postgres {
        /// What the node was doing.
        what: &'static str,
        /// The server's or client's error text.
        message: String,
    },
    /// What the database holds for an agent is inconsistent (a gap in its log).
    #[error("{0}")]
    Corrupt(String),
    /// A setting that cannot work (an empty node id, a lease time too short).
    #[error("{0}")]
    Config(String),
    /// This node's heartbeats lag behind its lease time.
    #[error("{0}")]
    Stale(String),
}

impl Error {
    /// Wraps a client error with what the node was doing.
    pub(crate) fn pg(what: &'static str) -> impl FnOnce(tokio_postgres::Error) -> Error {
        move |e| Error::Postgres {
            what,
            message: describe(&e),
        }
    }

    /// A stable, upper-case code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Connect { .. } => "CLUSTER_UNREACHABLE",
            Error::Postgres { .. } => "CLUSTER_DATABASE",
            Error::Corrupt(_) => "CLUSTER_CORRUPT",
            Error::Config(_) => "CLUSTER_CONFIG",
            Error::Stale(_) => "CLUSTER_STALE",
        }
    }
}

/// The server's message when there is one (the client's own `Display` says only "db error").
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        }
    }
}
