//! Integration tests of the store crate.

mod agent_db;
mod data_dir;
mod kv;
mod schedules;
mod support;
mod workspace;
