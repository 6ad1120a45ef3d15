use std::time::Duration;

/// Everything that can go wrong reaching a model. No variant ever holds an API key: texts
/// quoted from providers are sanitised first (see `config::Sanitizer`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid model `{spec}`: {reason}")]
    InvalidModel { spec: String, reason: String },

    #[error(
        "no model is configured: pass `--model openai:gpt-4.1-mini` (or `anthropic:claude-…`), \
         or choose one in the agent class (`getModel()`)"
    )]
    NoModel,

    #[error(
        "no API key for {provider}: set {variable} or pass {flag} \
         (servers that need no key, such as a local Ollama or llama.cpp, need only a base URL)"
    )]
    MissingKey {
        provider: crate::ProviderKind,
        variable: &'static str,
        flag: &'static str,
    },

    #[error("invalid base URL `{url}` for {provider}: {reason}")]
    InvalidBaseUrl {
        provider: crate::ProviderKind,
        url: String,
        reason: String,
    },

    #[error("invalid request: {reason}")]
    InvalidRequest { reason: String },

    #[error(
        "cannot reach {url} ({attempts} attempt(s)): {reason}; check that the server is running and the base URL is right"
    )]
    Connect {
        url: String,
        attempts: u32,
        reason: String,
    },

    #[error("{url} answered HTTP {status} ({attempts} attempt(s)): {message}{}", http_hint(*status))]
    Http {
        url: String,
        status: u16,
        attempts: u32,
        /// The provider's error message, sanitised.
        message: String,
    },

    #[error("the model's stream went silent for {} s; the server may be overloaded (raise the stall timeout for slow local models)", .after.as_secs_f32())]
    Stall { after: Duration },

    #[error("the model's stream ended early: {reason}")]
    Truncated { reason: String },

    #[error("the model's stream is not valid: {reason}")]
    Malformed { reason: String },

    #[error("the provider reported an error mid-stream ({kind}): {message}")]
    Provider { kind: String, message: String },

    #[error("reading the model's stream failed: {reason}")]
    Read { reason: String },
}

impl Error {
    /// The category of the failure (what the HTTP layer maps to a status).
    pub fn kind(&self) -> base::ErrorKind {
        use base::ErrorKind as K;
        match self {
            Error::InvalidModel { .. }
            | Error::InvalidBaseUrl { .. }
            | Error::InvalidRequest { .. } => K::Invalid,
            Error::NoModel | Error::MissingKey { .. } => K::Unavailable,
            Error::Connect { .. }
            | Error::Http { .. }
            | Error::Stall { .. }
            | Error::Truncated { .. }
            | Error::Malformed { .. }
            | Error::Provider { .. }
            | Error::Read { .. } => K::Upstream,
        }
    }

    /// Whether trying the same request again later may succeed (the endpoint was down,
    /// overloaded or rate limited, or the stream broke), as opposed to a request or
    /// configuration the provider will refuse every time.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Connect { .. }
            | Error::Stall { .. }
            | Error::Truncated { .. }
            | Error::Read { .. }
            | Error::Provider { .. } => true,
            Error::Http { status, .. } => *status == 408 || *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

impl Error {
    /// The same error with the key removed from any text quoted from the server.
    pub(crate) fn redacted(self, key: Option<&crate::ApiKey>) -> Self {
        let clean = |text: String| crate::config::sanitize(&text, key);
        match self {
            Error::Malformed { reason } => Error::Malformed {
                reason: clean(reason),
            },
            Error::Truncated { reason } => Error::Truncated {
                reason: clean(reason),
            },
            Error::Read { reason } => Error::Read {
                reason: clean(reason),
            },
            Error::Provider { kind, message } => Error::Provider {
                kind: clean(kind),
                message: clean(message),
            },
            other => other,
        }
    }
}

/// What to do next, for the statuses whose cause is usually on the caller's side.
fn http_hint(status: u16) -> &'static str {
    match status {
        401 | 403 => " (check the API key and that it is for this provider)",
        404 => " (check the base URL and the model name)",
        413 => " (the request is too large: shorten the history)",
        429 => " (rate limited: wait and try again, or lower the request rate)",
        _ => "",
    }
}
