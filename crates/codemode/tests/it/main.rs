//! Integration tests for the codemode crate.
mod describe;
mod execute;
mod openapi;
mod search;
mod tokens;
mod typescript;
