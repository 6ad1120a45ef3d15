//! End-to-end tests of the `islet` binary.

mod harden;
mod mcp;
mod proxy;
mod run;
mod worker;
