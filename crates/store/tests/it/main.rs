//! Integration tests of the store crate.

mod agent_db;
mod data_dir;
mod delegations;
mod fibers;
mod kv;
mod schedules;
mod sessions;
mod support;
mod wal;
mod workspace;
