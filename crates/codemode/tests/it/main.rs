//! Integration tests for the codemode crate.
