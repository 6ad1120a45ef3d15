//! The crate's one error type. Every message says what was wrong and what to do next:
//! they reach both operators (CLI) and the model (tool results).

/// Everything that can go wrong in Code Mode.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A spec file could not be read.
    #[error("cannot read OpenAPI spec file `{path}`: {source}; check that the path exists and is readable")]
    SpecRead {
        path: String,
        #[source]
        source: std::io::Error,
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
}
