//! Integration tests of the agent host: real isolates, real SQLite, in a temporary directory.

mod support;

mod activation;
mod classes;
mod concurrency;
mod fibers;
mod linux;
mod schedules;
mod storage;
mod surface;
