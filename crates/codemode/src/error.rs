//! The crate's one error type. Every message says what was wrong and what to do next:
//! they reach both operators (CLI) and the model (tool results).

/// Everything that can go wrong in Code Mode.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A spec file could not be read.
    #[error(
        "cannot read OpenAPI spec file `{path}`: {error}; check that the path exists and is readable"
    )]
    SpecRead {
        path: String,
        // Not a `#[source]`: the message already says it, and error chains would repeat it.
        error: std::io::Error,
    },
    /// A spec URL could not be fetched (network error, timeout, non-2xx status, too large).
    #[error("cannot fetch OpenAPI spec from `{url}`: {reason}")]
    SpecFetch { url: String, reason: String },
    /// The bytes are not decodable: truncated or corrupt gzip, invalid JSON or YAML, not UTF-8.
    #[error("cannot decode OpenAPI spec `{origin}`: {reason}")]
    SpecDecode { origin: String, reason: String },
    /// The document decoded but is not an OpenAPI 3.x or Swagger 2.0 document.
    #[error(
        "`{origin}` is not an OpenAPI document: {reason}; expected a JSON or YAML object with \
         `openapi: 3.x` (or `swagger: \"2.0\"`) and `paths`"
    )]
    NotASpec { origin: String, reason: String },
    /// Input for an API operation that cannot be turned into a request.
    #[error("invalid input for {operation}: {reason}")]
    InvalidInput { operation: String, reason: String },
    /// Input for the raw `api.request({method, path, query, headers, body})` escape hatch.
    #[error("invalid api.request input: {reason}")]
    InvalidRequest { reason: String },
    /// The HTTP API configuration (base URL, injected headers) is unusable.
    #[error("invalid API configuration: {reason}")]
    Config { reason: String },
    /// A URL the host was asked to call is not on the API's host.
    #[error(
        "refused to call `{url}`: requests may only go to {allowed}; pass a path such as \"/users/me\""
    )]
    HostNotAllowed { url: String, allowed: String },
    /// The HTTP request to the API failed before a response arrived (connect, timeout, …).
    #[error("{operation} failed: {reason}")]
    Http { operation: String, reason: String },
    /// A response body exceeded the configured cap; reading stopped there.
    #[error(
        "{operation}: the response is larger than {limit_bytes} bytes and was not read to the end; \
         ask for less (pagination, filters, `per_page`/`limit` parameters)"
    )]
    ResponseTooLarge {
        operation: String,
        limit_bytes: usize,
    },
    /// The `mcpServers` configuration of `mcp proxy` is unreadable or wrong; `reason` names
    /// the entry.
    #[error("MCP config `{origin}`: {reason}")]
    McpConfig { origin: String, reason: String },
    /// An upstream MCP server could not be started, listed or called.
    #[error("upstream MCP server `{server}`: {reason}")]
    Upstream { server: String, reason: String },
    /// An isolate's `fetch` was refused by its policy or failed. `code` is what the code
    /// sees on the error (`HOST_NOT_ALLOWED`, `PRIVATE_ADDRESS`, `TIMEOUT`, …; see
    /// [`crate::egress`]); the message names the URL and what to do instead.
    #[error("{message}")]
    Fetch { code: &'static str, message: String },
    /// The MCP server could not start or its transport failed.
    #[error("MCP server: {reason}")]
    Serve { reason: String },
}
