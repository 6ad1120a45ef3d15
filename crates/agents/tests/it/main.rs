//! Integration tests of the agent host: real isolates, real SQLite, in a temporary directory.

mod support;

mod activation;
mod classes;
mod concurrency;
mod extensions;
mod fibers;
mod isolates;
mod linux;
mod schedules;
mod storage;
mod sub_agents;
mod surface;
mod tracing;
