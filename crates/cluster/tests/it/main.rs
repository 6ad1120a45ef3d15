//! Integration tests of the cluster crate, each against a private PostgreSQL server.

mod durable;
mod nodes;
mod support;
mod tls;
