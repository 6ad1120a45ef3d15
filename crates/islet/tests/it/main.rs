//! End-to-end tests of the `islet` binary.

mod cli;
mod harden;
mod limits;
mod mcp;
mod memory;
mod proxy;
mod run;
mod search;
mod serve;
mod service;
mod support;
mod worker;
