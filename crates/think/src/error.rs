//! The crate's one error type: what stops a chat turn from starting. Failures once a
//! turn streams are not errors of the API: they end the stream with an `error` chunk.

/// Why a chat could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The class is an agent but not a chat agent.
    #[error(
        "`{class}` is not a chat agent: chats go to classes that extend Think \
         (`import {{ Think }} from \"agents\"; export default class {class} extends Think {{ … }}`)"
    )]
    NotThink {
        /// The class the chat was for.
        class: String,
    },
    /// The request is unusable (e.g. no user text).
    #[error("{0}")]
    InvalidInput(String),
    /// The agent host refused (unknown class, bad name, the agent's own code threw while
    /// answering `getModel()`/`getSystemPrompt()`/`getTools()`, storage).
    #[error(transparent)]
    Agent(#[from] agents::Error),
    /// No model, an invalid `provider:model`, a missing key.
    #[error(transparent)]
    Model(#[from] llm::Error),
}

impl From<store::Error> for Error {
    fn from(e: store::Error) -> Self {
        Error::Agent(agents::Error::Store(e))
    }
}

impl Error {
    /// The category of the failure (what the HTTP layer maps to a status).
    pub fn kind(&self) -> base::ErrorKind {
        match self {
            Error::NotThink { .. } | Error::InvalidInput(_) => base::ErrorKind::Invalid,
            Error::Agent(e) => e.kind(),
            Error::Model(e) => e.kind(),
        }
    }

    /// A stable name for the error, for HTTP statuses and clients.
    pub fn code(&self) -> &str {
        match self {
            Error::NotThink { .. } => "NOT_A_CHAT_AGENT",
            Error::InvalidInput(_) => "INVALID_INPUT",
            Error::Agent(e) => e.code(),
            Error::Model(llm::Error::NoModel) => "NO_MODEL",
            Error::Model(llm::Error::MissingKey { .. }) => "NO_MODEL",
            Error::Model(_) => "INVALID_MODEL",
        }
    }
}
