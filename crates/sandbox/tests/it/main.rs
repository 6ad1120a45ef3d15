//! Integration tests for the sandbox crate: one binary, one module per area.

mod bindings;
mod fetch;
mod harden;
mod isolation;
mod limits;
mod normalize;
mod outcome;
mod session;
mod support;
mod url;
mod warm_up;
