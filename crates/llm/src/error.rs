use std::time::Duration;

/// Everything that can go wrong reaching a model. No variant ever holds an API key: texts
/// quoted from providers are sanitised first (see `config::Sanitizer`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A model spec that does not parse as `provider:model` or names an unknown provider;
    /// the operator's flag or the agent class must be corrected.
    #[error("invalid model `{spec}`: {reason}")]
    InvalidModel {
        /// `spec`: the model spec as given (e.g. `openai:gpt-4.1-mini`).
        spec: String,
        /// `reason`: what is wrong with it and what is accepted.
        reason: String,
    },

    #[error(
        "no model is configured: pass `--model openai:gpt-4.1-mini` (or `anthropic:claude-…`), \
         or choose one in the agent class (`getModel()`)"
    )]
    /// Neither the operator nor the agent class chose a model, so there is nothing to call.
    NoModel,

    #[error(
        "no API key for {provider}: set {variable} or pass {flag} \
         (servers that need no key, such as a local Ollama or llama.cpp, need only a base URL)"
    )]
    /// The provider needs an API key and none was given by flag or environment.
    MissingKey {
        /// `provider`: the provider whose key is missing.
        provider: crate::ProviderKind,
        /// `variable`: the environment variable that would supply it (e.g. `OPENAI_API_KEY`).
        variable: &'static str,
        /// `flag`: the command-line flag that would supply it.
        flag: &'static str,
    },

    /// The configured base URL cannot be used (not a URL, not http(s), or it carries
    /// credentials, a query or a fragment); checked before any request is sent.
    #[error("invalid base URL `{url}` for {provider}: {reason}")]
    InvalidBaseUrl {
        /// `provider`: the provider the URL was configured for.
        provider: crate::ProviderKind,
        /// `url`: the base URL as configured (any credentials in it removed).
        url: String,
        /// `reason`: why it was refused.
        reason: String,
    },

    /// A request the providers would refuse (a tool name or schema they do not accept, a
    /// `tool_choice` naming no tool, no messages, a part its message's role cannot carry);
    /// caught before
    /// sending so the caller gets a precise reason instead of a provider's 400.
    #[error("invalid request: {reason}")]
    InvalidRequest {
        /// `reason`: what is wrong and how to fix it.
        reason: String,
    },

    #[error(
        "cannot reach {url} ({attempts} attempt(s)): {reason}; check that the server is running and the base URL is right"
    )]
    /// The endpoint could not be reached (refused, DNS, TLS, no answer) after every retry.
    Connect {
        /// `url`: the URL the request was sent to.
        url: String,
        /// `attempts`: how many times it was tried, retries included.
        attempts: u32,
        /// `reason`: why the last attempt failed (the transport's error chain, or no answer
        /// within the stall timeout).
        reason: String,
    },

    #[error("{url} answered HTTP {status} ({attempts} attempt(s)): {message}{}", http_hint(*status))]
    /// The provider answered with a non-success HTTP status (after retries when the
    /// status was retryable); [`Error::is_transient`] tells whether waiting may help.
    Http {
        /// `url`: the URL the request was sent to.
        url: String,
        /// `status`: the HTTP status the provider answered.
        status: u16,
        /// `attempts`: how many times it was tried, retries included.
        attempts: u32,
        /// The provider's error message, sanitised.
        message: String,
    },

    #[error("the model's stream went silent for {} s; the server may be overloaded (raise the stall timeout for slow local models)", .after.as_secs_f32())]
    /// No event arrived within the stall timeout after the stream opened.
    Stall {
        /// `after`: how long the stream was silent before it was given up.
        after: Duration,
    },

    #[error("the model's stream ended early: {reason}")]
    /// The stream closed before the provider's end-of-message marker, so the answer may be
    /// incomplete ([`crate::ModelStream::partial`] keeps what arrived).
    Truncated {
        /// `reason`: which end marker never came (e.g. `message_stop`), sanitised.
        reason: String,
    },

    #[error("the model's stream is not valid: {reason}")]
    /// The server sent something that is not the provider's streaming format (bad SSE,
    /// invalid JSON, or a plain JSON body where events were expected).
    Malformed {
        /// `reason`: what could not be parsed, with the start of it, sanitised.
        reason: String,
    },

    #[error("the provider reported an error mid-stream ({kind}): {message}")]
    /// The provider sent an error event inside an otherwise valid stream (e.g. Anthropic's
    /// `overloaded_error`).
    Provider {
        /// `kind`: the provider's error type or code (`"error"` when it gave none).
        kind: String,
        /// `message`: the provider's error message, sanitised.
        message: String,
    },

    #[error("reading the model's stream failed: {reason}")]
    /// Reading the response body failed mid-stream (the connection broke).
    Read {
        /// `reason`: the transport's error chain, sanitised.
        reason: String,
    },
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
