//! Integration tests for the codemode crate.
mod describe;
mod execute;
mod fetch;
mod openapi;
mod proxy;
mod search;
mod semantic;
mod server;
mod support;
mod tokens;
mod typescript;
