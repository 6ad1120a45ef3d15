//! The public vocabulary: memories, what goes into an operation and what comes out.
//!
//! JSON field names are camelCase everywhere (they are the wire format of the Code Mode
//! bindings and the HTTP API; the older snake_case spellings are still read); times are
//! ISO 8601 strings in JSON and ms since the epoch in Rust.

use crate::Error;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// What kind of knowledge a memory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemoryType {
    /// Something true about the world or a person ("alice works at Initech").
    Fact,
    /// Something that happened, or was said, at a time. Messages ingested without an LLM
    /// become events.
    Event,
    /// How the agent should behave ("answer in French").
    Instruction,
    /// Something to do.
    Task,
}

impl MemoryType {
    /// Every type, in the order error messages and help list them.
    pub const ALL: [MemoryType; 4] = [
        MemoryType::Fact,
        MemoryType::Event,
        MemoryType::Instruction,
        MemoryType::Task,
    ];

    /// The name used in JSON, the CLI and the bindings (`fact`, `event`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            MemoryType::Fact => "fact",
            MemoryType::Event => "event",
            MemoryType::Instruction => "instruction",
            MemoryType::Task => "task",
        }
    }
}

impl fmt::Display for MemoryType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MemoryType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        MemoryType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "unknown memory type `{s}`; use one of fact, event, instruction, task"
                ))
            })
    }
}

/// One stored memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    /// Derived from the content, type, subject, session, speaker and source message ids:
    /// storing the same memory twice stores it once.
    pub id: String,
    /// What kind of knowledge it is (`type` in JSON); recall can filter on it.
    #[serde(rename = "type")]
    pub kind: MemoryType,
    /// The memory's text, as stored: what recall searches and returns.
    pub content: String,
    /// A stable key (`alice.employer`): a newer memory with the same subject supersedes
    /// older ones.
    pub subject: Option<String>,
    /// The conversation it came from; `forget_session` deletes by it.
    #[serde(alias = "session_id")]
    pub session_id: Option<String>,
    /// Who said it, when known (the message's speaker on ingest).
    pub speaker: Option<String>,
    /// When it happened or was said (ms since the epoch; ISO 8601 in JSON).
    #[serde(with = "crate::time::iso", alias = "occurred_at")]
    pub occurred_at: i64,
    /// When it was stored.
    #[serde(with = "crate::time::iso", alias = "created_at")]
    pub created_at: i64,
    /// The ids of the messages it came from (empty for `remember`).
    #[serde(alias = "source_message_ids")]
    pub source_message_ids: Vec<String>,
    /// The id of the memory that replaced it, if a newer one on the same subject exists.
    #[serde(alias = "superseded_by")]
    pub superseded_by: Option<String>,
}

/// A conversation message to ingest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// Unique within its session; memories keep it in `source_message_ids`.
    pub id: String,
    /// Who said it (a name, `user`, `assistant`, …); memories keep it.
    pub speaker: String,
    /// What was said; blank texts are skipped.
    pub text: String,
    /// When it was said (ms since the epoch); defaults to the session's date.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "occurred_at"
    )]
    pub occurred_at: Option<i64>,
}

/// A session of an ingest file: messages that belong together, with a date.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The id its memories carry, by which `forget_session` deletes them.
    pub session_id: String,
    /// The session's date (ms since the epoch): the default time of its messages.
    pub occurred_at: i64,
    /// The session's messages, in the order they were said.
    pub messages: Vec<Message>,
}

/// How an ingest went. Re-ingesting the same conversation reports everything `unchanged`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestReport {
    /// Messages read.
    pub messages: usize,
    /// Messages with blank text, which produce no memory.
    pub skipped: usize,
    /// Memories stored by this call.
    pub added: usize,
    /// Memories that were already stored.
    pub unchanged: usize,
    /// Vectors stored (embeddings configured): for the new memories, and for older ones of
    /// the profile that had none (a backfill).
    #[serde(default)]
    pub vectors: usize,
    /// What did not go as asked but did not stop the ingest (e.g. an LLM reply that failed
    /// validation, so that batch was stored by the deterministic extractor).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Where a long ingest is; see [`IngestOptions::progress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The step under way.
    pub stage: Stage,
    /// Units of `stage` done so far (messages or memories, as [`Stage`] says).
    pub done: usize,
    /// Units of `stage` in all, so `done / total` is the share done.
    pub total: usize,
}

/// The steps of an ingest, in order, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Turning messages into memories (LLM calls, when configured), counted in messages.
    Extracting,
    /// Computing vectors, counted in memories.
    Embedding,
    /// Computing vectors of memories stored before embeddings were enabled, counted in
    /// memories.
    Backfilling,
    /// Writing the one transaction, counted in memories.
    Writing,
}

impl Stage {
    /// A label for a progress display (`extracting`, `backfilling vectors`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Extracting => "extracting",
            Stage::Embedding => "embedding",
            Stage::Backfilling => "backfilling vectors",
            Stage::Writing => "writing",
        }
    }
}

/// Called as an ingest advances (from a blocking thread while writing).
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// Options of [`Profile::ingest`](crate::Profile::ingest).
#[derive(Clone, Default)]
pub struct IngestOptions {
    /// The session the messages belong to (required for `ingest`; sessions carry their own).
    pub session_id: Option<String>,
    /// Default time of the messages (ms since the epoch); defaults to now.
    pub occurred_at: Option<i64>,
    /// Called as the ingest advances, for a progress bar; `None` to run silently.
    pub progress: Option<ProgressFn>,
}

impl fmt::Debug for IngestOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IngestOptions")
            .field("session_id", &self.session_id)
            .field("occurred_at", &self.occurred_at)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// Options of [`Profile::remember`](crate::Profile::remember).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RememberOptions {
    /// Defaults to `fact`.
    pub kind: Option<MemoryType>,
    /// The conversation it belongs to, so `forget_session` deletes it with the rest.
    pub session_id: Option<String>,
    /// A key such as `alice.employer`; a newer memory on the same subject supersedes this one.
    pub subject: Option<String>,
    /// Who said it or whom it is about.
    pub speaker: Option<String>,
    /// When it became true (ms since the epoch); defaults to now.
    pub occurred_at: Option<i64>,
}

/// The result of `remember`: the memory, and whether it was new.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Remembered {
    /// The stored memory (the one already stored, with its times, when it was a duplicate).
    #[serde(flatten)]
    pub memory: Memory,
    /// `false` when the same memory was already stored.
    pub added: bool,
}

/// Options of [`Profile::recall`](crate::Profile::recall).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecallOptions {
    /// How many results (1-100, default 10).
    pub limit: usize,
    /// Only these types (all when empty).
    pub types: Vec<MemoryType>,
    /// Only this session.
    pub session_id: Option<String>,
    /// Evaluate validity at this time (ms since the epoch): memories that had happened by
    /// then and had not yet been superseded.
    pub as_of: Option<i64>,
    /// Also return superseded memories.
    pub include_superseded: bool,
    /// Ask the LLM for an answer synthesised from the results (needs an LLM).
    pub answer: bool,
}

impl Default for RecallOptions {
    fn default() -> Self {
        Self {
            limit: 10,
            types: Vec::new(),
            session_id: None,
            as_of: None,
            include_superseded: false,
            answer: false,
        }
    }
}

/// Which retriever found a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Retriever {
    /// Full-text search (FTS5, BM25, porter stemming).
    Fts,
    /// Vector similarity over the embeddings endpoint's vectors.
    Vector,
    /// The reply to a message that matched: the next message of its session, by another
    /// speaker, when the matching message asks something.
    Reply,
}

/// One ranked result of a recall.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recalled {
    /// The memory found.
    pub memory: Memory,
    /// Relevance from 0 to 1 (higher is better): about 0.8 for a memory holding every word
    /// of the question; with vectors, fused with the vector similarity. Comparable within
    /// one recall, not across profiles.
    pub score: f64,
    /// The ids of the messages the memory came from (the same as
    /// `memory.source_message_ids`, repeated for convenience).
    pub sources: Vec<String>,
    /// Which retrievers found it (several when more than one did), to tell why it ranks
    /// where it does.
    #[serde(alias = "matched_by")]
    pub matched_by: Vec<Retriever>,
    /// Inferred by this recall: a newer memory among the results, by the same speaker and
    /// on the same words, says this differently (it ranks above). `memory.superseded_by`
    /// is the stored chain of explicit subjects.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "superseded_by"
    )]
    pub superseded_by: Option<String>,
}

/// The result of a recall, best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recall {
    /// The ranked results, at most [`RecallOptions::limit`].
    pub results: Vec<Recalled>,
    /// The LLM's answer, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// What degraded the recall (e.g. vectors from another model, so full-text only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Options of [`Profile::list`](crate::Profile::list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOptions {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1-1000, default 50.
    pub limit: usize,
    /// Only this type (all when unset).
    pub kind: Option<MemoryType>,
    /// Only this session.
    pub session_id: Option<String>,
}

impl Default for ListOptions {
    fn default() -> Self {
        Self {
            cursor: None,
            limit: 50,
            kind: None,
            session_id: None,
        }
    }
}

/// One page of memories, newest stored first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    /// This page's memories, at most [`ListOptions::limit`].
    pub memories: Vec<Memory>,
    /// Pass as `cursor` for the next page; `None` at the end. Stable under concurrent
    /// writes: new memories never shift later pages.
    #[serde(alias = "next_cursor")]
    pub next_cursor: Option<String>,
}

/// What `profiles()` reports for each profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileInfo {
    /// `namespace/profile`, as [`Memories::profile`](crate::Memories::profile) takes it.
    pub name: String,
    /// How many memories it holds, superseded ones included.
    pub memories: u64,
    /// The size of the SQLite file (without its WAL).
    pub bytes: u64,
    /// The embeddings model of its vectors, if it has any.
    #[serde(alias = "embeddings_model")]
    pub embeddings_model: Option<String>,
}
