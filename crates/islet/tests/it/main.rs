//! End-to-end tests of the `islet` binary.

mod mcp;
mod run;
