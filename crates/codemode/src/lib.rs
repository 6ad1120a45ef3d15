//! Code Mode: a catalog of tools (from an OpenAPI spec or MCP upstreams) becomes a typed
//! TypeScript namespace the model searches and calls from code run in an isolate.
//!
//! Layers, each using only those listed before it (nothing points up):
//!
//! - [`catalog`]: the tools and everything computed from them alone — TypeScript
//!   declarations, `search`, the two tools' texts (`describe`), token counts. Pure: no I/O.
//! - [`egress`]: the single outbound HTTP path — fetch policy, the one [`Fetcher`],
//!   private-address checks, secret redaction, the TLS client.
//! - [`openapi`]: specs in (loading through egress's client), catalogs out, and tool calls
//!   back into HTTP requests.
//! - [`execute`]: a catalog's tools as bindings for an isolate, sent through egress.
//! - [`mcp`]: the two-tool MCP server (stdio, streamable HTTP), its configuration and the
//!   upstream proxy; the only user of `rmcp`.
//!
//! The names most callers need are re-exported here.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod catalog;
pub mod egress;
pub mod error;
pub mod execute;
pub mod mcp;
pub mod openapi;

pub use catalog::search::SearchIndex;
pub use catalog::{Catalog, HttpOperation, Target, Tool};
pub use egress::{FetchPolicy, Fetcher, HostRule, InjectedHeader, fetch_binding};
pub use error::Error;
pub use execute::{HttpApi, HttpApiConfig};
pub use mcp::upstream::{Proxy, ProxyOptions};
pub use mcp::{CodeModeServer, HttpOptions, ServerOptions, serve_http};
