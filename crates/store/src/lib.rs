//! islet's embedded storage: a data directory holding one SQLite database per agent (its
//! key-value storage, state, schedules, workspace, chat sessions, durable turns and the
//! agent's own tables) and a small
//! catalog database that knows every agent and every pending alarm.
//!
//! Architecture Invariant: `store` never runs JavaScript. It is plain Rust over SQLite;
//! `agents` turns its operations into bindings.
//!
//! Architecture Invariant: time and ids come from an injected [`Clock`] and [`IdGen`], so
//! crash and replay tests are deterministic.
//!
//! Architecture Invariant: everything islet keeps in an agent's database lives in tables
//! named `_islet_*`, which the agent's own SQL (`this.sql`) can neither read nor change.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod agent_db;
mod data_dir;
mod delegations;
mod env;
mod error;
mod extensions;
mod fibers;
mod sessions;
mod sqlite;
mod wal;
mod workspace;

pub use agent_db::{
    AgentDb, DEFAULT_SQL_TIME_LIMIT, ListOptions, Schedule, ScheduleKind, SqlOutcome, TableSummary,
    When,
};
pub use data_dir::{AgentInfo, Alarm, DataDir, SUB_AGENT_SEPARATOR};
pub use delegations::{
    Delegation, DelegationStatus, Delegations, MAX_LISTED_DELEGATIONS, NewDelegation,
};
pub use env::{Clock, Env, IdGen, ManualClock, RandomIds, SequentialIds, SystemClock};
pub use error::Error;
pub use extensions::{
    ExtensionInfo, ExtensionVersion, Extensions, MAX_EXTENSION_BYTES, VersionSummary,
};
pub use fibers::{
    Checkpoint, CheckpointKind, Chunk, Fiber, FiberStatus, Fibers, MAX_CHUNK_BYTES, MAX_DATA_BYTES,
    Recovery, ToolOutcome,
};
pub use sessions::{
    Branches, Compaction, DEFAULT_PAGE_SIZE, DEFAULT_SEARCH_LIMIT, ForkOrigin, ListSessions,
    MAX_CONTENT_BYTES, MAX_PAGE_SIZE, MAX_SEARCH_LIMIT, MAX_TITLE_CHARS, Message, NewMessage,
    PromptItem, RawJson, Role, SearchHit, Session, SessionPage, Sessions, Usage,
};
pub use wal::{Segment, WalCursor, rebuild};
pub use workspace::{
    CHUNK_BYTES, Entry, GrepMatch, GrepOptions, Kind, MAX_FILE_BYTES, Stat, Workspace,
};

/// A result whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
