//! Integration tests for the codemode crate.
mod describe;
mod execute;
mod fetch;
mod openapi;
mod proxy;
mod search;
mod support;
mod tokens;
mod typescript;
