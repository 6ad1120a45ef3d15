//! The crate's one error type. Every message says what was wrong and what to do next:
//! they reach both operators (CLI) and the model (tool results).

use base::ErrorKind;

/// Everything that can go wrong in Code Mode.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A spec file could not be read.
    #[error(
        "cannot read OpenAPI spec file `{path}`: {error}; check that the path exists and is readable"
    )]
    SpecRead {
        /// The path as given.
        path: String,
        // Not a `#[source]`: the message already says it, and error chains would repeat it.
        /// Why reading it failed.
        error: std::io::Error,
    },
    /// A spec URL could not be fetched (network error, timeout, non-2xx status, too large).
    #[error("cannot fetch OpenAPI spec from `{url}`: {reason}")]
    SpecFetch {
        /// The URL as given.
        url: String,
        /// What failed: the network error, the status or the size.
        reason: String,
    },
    /// The bytes are not decodable: truncated or corrupt gzip, invalid JSON or YAML, not UTF-8.
    #[error("cannot decode OpenAPI spec `{origin}`: {reason}")]
    SpecDecode {
        /// The path or URL the bytes came from.
        origin: String,
        /// The decoder's complaint.
        reason: String,
    },
    /// The document decoded but is not an OpenAPI 3.x or Swagger 2.0 document.
    #[error(
        "`{origin}` is not an OpenAPI document: {reason}; expected a JSON or YAML object with \
         `openapi: 3.x` (or `swagger: \"2.0\"`) and `paths`"
    )]
    NotASpec {
        /// The path or URL of the document.
        origin: String,
        /// What it lacks.
        reason: String,
    },
    /// Input for an API operation that cannot be turned into a request.
    #[error("invalid input for {operation}: {reason}")]
    InvalidInput {
        /// `METHOD /path` of the operation.
        operation: String,
        /// Which input is wrong and how.
        reason: String,
    },
    /// Input for the raw `api.request({method, path, query, headers, body})` escape hatch.
    #[error("invalid api.request input: {reason}")]
    InvalidRequest {
        /// Which field is wrong and how.
        reason: String,
    },
    /// The HTTP API configuration (base URL, injected headers) is unusable.
    #[error("invalid API configuration: {reason}")]
    Config {
        /// What is wrong, in terms of the configuration.
        reason: String,
    },
    /// A URL the host was asked to call is not on the API's host.
    #[error(
        "refused to call `{url}`: requests may only go to {allowed}; pass a path such as \"/users/me\""
    )]
    HostNotAllowed {
        /// The URL that was refused.
        url: String,
        /// The API's origin, for the message.
        allowed: String,
    },
    /// The HTTP request to the API failed before a response arrived (connect, timeout, …).
    #[error("{operation} failed: {reason}")]
    Http {
        /// What was being called.
        operation: String,
        /// The HTTP client's error, secrets redacted.
        reason: String,
    },
    /// A response body exceeded the configured cap; reading stopped there.
    #[error(
        "{operation}: the response is larger than {limit_bytes} bytes and was not read to the end; \
         ask for less (pagination, filters, `per_page`/`limit` parameters)"
    )]
    ResponseTooLarge {
        /// The operation whose response it was.
        operation: String,
        /// The cap the body exceeded.
        limit_bytes: usize,
    },
    /// The `mcpServers` configuration of `mcp proxy` is unreadable or wrong; `reason` names
    /// the entry.
    #[error("MCP config `{origin}`: {reason}")]
    McpConfig {
        /// The configuration file.
        origin: String,
        /// What is wrong, naming the entry.
        reason: String,
    },
    /// An upstream MCP server could not be started, listed or called.
    #[error("upstream MCP server `{server}`: {reason}")]
    Upstream {
        /// The upstream's key in `mcpServers`.
        server: String,
        /// What failed.
        reason: String,
    },
    /// An isolate's `fetch` was refused by its policy or failed. `code` is what the code
    /// sees on the error; the message names the URL and what to do instead.
    #[error("{message}")]
    Fetch {
        /// The `e.code` the code sees.
        code: FetchCode,
        /// The URL and what to do instead.
        message: String,
    },
    /// The MCP server could not start or its transport failed.
    #[error("MCP server: {reason}")]
    Serve {
        /// What failed.
        reason: String,
    },
    /// Semantic search's embeddings endpoint failed, or its vectors could not be cached.
    #[error("semantic search: {reason}; search stays lexical")]
    Embeddings {
        /// The endpoint's or the cache's error.
        reason: String,
    },
}

/// Why a `fetch` (or a request of `execute`) failed, as the code sees it in `e.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchCode {
    /// The policy does not allow the host.
    HostNotAllowed,
    /// The policy does not allow the method for this host.
    MethodNotAllowed,
    /// The host resolves to a private, loopback or link-local address.
    PrivateAddress,
    /// A redirect the policy refuses (another host, a loop, an unusable target).
    RedirectNotAllowed,
    /// The request itself is malformed (URL, method, headers, body).
    InvalidRequest,
    /// No response within the time limit.
    Timeout,
    /// The response is over the size cap.
    ResponseTooLarge,
    /// Connecting or reading failed.
    Network,
}

impl FetchCode {
    /// The code as the program sees it (`e.code`).
    pub fn as_str(self) -> &'static str {
        match self {
            FetchCode::HostNotAllowed => "HOST_NOT_ALLOWED",
            FetchCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            FetchCode::PrivateAddress => "PRIVATE_ADDRESS",
            FetchCode::RedirectNotAllowed => "REDIRECT_NOT_ALLOWED",
            FetchCode::InvalidRequest => "INVALID_REQUEST",
            FetchCode::Timeout => "TIMEOUT",
            FetchCode::ResponseTooLarge => "RESPONSE_TOO_LARGE",
            FetchCode::Network => "NETWORK",
        }
    }

    /// Whether the policy refused the request (rather than the request failing).
    pub fn is_refusal(self) -> bool {
        match self {
            FetchCode::HostNotAllowed
            | FetchCode::MethodNotAllowed
            | FetchCode::PrivateAddress
            | FetchCode::RedirectNotAllowed => true,
            FetchCode::InvalidRequest
            | FetchCode::Timeout
            | FetchCode::ResponseTooLarge
            | FetchCode::Network => false,
        }
    }

    fn kind(self) -> ErrorKind {
        match self {
            FetchCode::HostNotAllowed
            | FetchCode::MethodNotAllowed
            | FetchCode::PrivateAddress
            | FetchCode::RedirectNotAllowed
            | FetchCode::InvalidRequest => ErrorKind::Invalid,
            FetchCode::ResponseTooLarge => ErrorKind::TooLarge,
            FetchCode::Timeout | FetchCode::Network => ErrorKind::Upstream,
        }
    }
}

impl Error {
    /// A stable, upper-case code: what the code sees as `e.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::SpecRead { .. }
            | Error::SpecFetch { .. }
            | Error::SpecDecode { .. }
            | Error::NotASpec { .. } => "INVALID_SPEC",
            Error::InvalidInput { .. } => "INVALID_INPUT",
            Error::InvalidRequest { .. } => "INVALID_REQUEST",
            Error::Config { .. } | Error::McpConfig { .. } => "INVALID_CONFIG",
            Error::HostNotAllowed { .. } => "HOST_NOT_ALLOWED",
            Error::Http { .. } => "HTTP_FAILED",
            Error::ResponseTooLarge { .. } => "RESPONSE_TOO_LARGE",
            Error::Upstream { .. } | Error::Embeddings { .. } => "UPSTREAM_UNAVAILABLE",
            Error::Fetch { code, .. } => code.as_str(),
            Error::Serve { .. } => "INTERNAL",
        }
    }

    /// The category of the failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::SpecRead { .. }
            | Error::SpecDecode { .. }
            | Error::NotASpec { .. }
            | Error::InvalidInput { .. }
            | Error::InvalidRequest { .. }
            | Error::Config { .. }
            | Error::McpConfig { .. }
            | Error::HostNotAllowed { .. } => ErrorKind::Invalid,
            Error::SpecFetch { .. }
            | Error::Http { .. }
            | Error::Upstream { .. }
            | Error::Embeddings { .. } => ErrorKind::Upstream,
            Error::ResponseTooLarge { .. } => ErrorKind::TooLarge,
            Error::Fetch { code, .. } => code.kind(),
            Error::Serve { .. } => ErrorKind::Internal,
        }
    }

    /// The JS error name the code sees: input it can fix is a `TypeError`, a refusal of the
    /// fetch policy `FetchDenied`, any other failure of `fetch` a `FetchError`.
    pub(crate) fn js_name(&self) -> &'static str {
        match self {
            Error::InvalidInput { .. } | Error::InvalidRequest { .. } => "TypeError",
            Error::Fetch { code, .. } if code.is_refusal() => "FetchDenied",
            Error::Fetch { .. } => "FetchError",
            _ => "HostError",
        }
    }
}
