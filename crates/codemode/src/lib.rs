//! Code Mode: a catalog of tools (from an OpenAPI spec or MCP upstreams) becomes a typed
//! TypeScript namespace the model searches and calls from code run in an isolate.
#![forbid(unsafe_code)]

pub mod catalog;
pub mod config;
pub mod describe;
pub mod error;
pub mod execute;
pub mod fetch;
pub mod openapi;
pub mod search;
pub mod server;
pub mod tls;
pub mod tokens;
pub mod typescript;
pub mod upstream;
