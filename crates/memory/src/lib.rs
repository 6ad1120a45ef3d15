//! Agent memory: durable knowledge in named profiles (`namespace/profile`), each its own
//! SQLite database under `<data>/memory/`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), memory::Error> {
//! use memory::{MemoryConfig, Memories, RecallOptions, RememberOptions};
//! let memories = Memories::new(MemoryConfig::new(".islet"));
//! let alice = memories.profile("team/alice")?;
//! alice.remember("Alice works at Initech", RememberOptions {
//!     subject: Some("alice.employer".into()),
//!     ..RememberOptions::default()
//! }).await?;
//! let recall = alice.recall("where does alice work", RecallOptions::default()).await?;
//! for r in &recall.results {
//!     println!("{:.4} {} {:?}", r.score, r.memory.content, r.sources);
//! }
//! # Ok(()) }
//! ```
//!
//! - Write: [`Profile::ingest`] / [`Profile::ingest_sessions`] (conversations, one
//!   transaction per call; the file format is [`parse_ingest_file`]'s), [`Profile::remember`].
//! - Read: [`Profile::recall`] (FTS5 BM25 with porter stemming, plus vectors when an
//!   embeddings endpoint is configured, fused into a 0–1 relevance by [`Ranking`]),
//!   [`Profile::backfill`], [`Profile::list`],
//!   [`Profile::get`].
//! - Delete: [`Profile::forget`], [`Profile::forget_session`], [`Memories::delete_profile`].
//! - Code Mode: [`bindings`] gives isolates the `memory.*` namespace ([`TYPESCRIPT`]).
//! - Cluster mode: a [`Placement`] decides which node serves each profile and keeps its
//!   durable copy; every `memory.*` operation goes through it.
//! - Tests and demos: [`mock::MockOpenAi`], an OpenAI-compatible server.
//!
//! Architecture Invariant: profiles are isolated: each is its own database file, and no
//! query ever spans two.
//!
//! Architecture Invariant: an ingest call writes all its memories or none.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bindings;
mod db;
mod error;
pub mod eval;
mod ingest_file;
mod llm;
pub mod mock;
mod model;
mod name;
mod placement;
mod profile;
mod rank;
mod text;
mod time;

pub use bindings::{
    Attachment, NAMESPACE, OPEN_NAMESPACE, ReadOnlyRule, TYPESCRIPT, attached_bindings, bindings,
    open_bindings,
};
pub use error::Error;
pub use ingest_file::{parse_ingest_file, parse_sessions};
pub use llm::{ANSWER_PROMPT, EXTRACTION_PROMPT, Endpoint, extraction_schema};
pub use model::{
    IngestOptions, IngestReport, ListOptions, Memory, MemoryType, Message, Page, ProfileInfo,
    Progress, ProgressFn, Recall, RecallOptions, Recalled, RememberOptions, Remembered, Retriever,
    Session, Stage,
};
pub use name::ProfileName;
pub use placement::{Here, Placed, Placement, WRITES};
pub use profile::{Memories, MemoryConfig, Profile};
pub use rank::Ranking;
pub use time::{format_iso8601, parse_iso8601};

/// A result whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
