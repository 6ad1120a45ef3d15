//! Think: the agent loop that makes a durable agent a chat agent (issue 15).
//!
//! A class that `extends Think` (the runtime's base class, `import { Think } from
//! "agents"`) chooses its model, system prompt, step limit and extra tools; [`Harness`]
//! runs its chat turns host-side, where model keys live:
//!
//! ```text
//! HTTP POST /agents/<class>/<name>/chat ─► Harness::chat ─► Turn (UI message stream chunks)
//!      │                                      │
//!      │            agents (config + own tools as `think` turns; storage between turns)
//!      │            llm (the model, streaming)   codemode (`execute`)   store (sessions, fibers)
//! ```
//!
//! Architecture Invariant: model keys never enter an isolate: the loop, the model client
//! and the checkpoints are Rust; agent code only answers `think` turns.
//!
//! Architecture Invariant: a tool call is checkpointed (fibers) before it runs and its
//! result after; the user's message is committed before the first inference.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod compaction;
mod error;
mod harness;
mod sessions;
mod tools;
pub mod ui;

pub use compaction::{Budget, Compacted};
pub use error::Error;
pub use harness::{ChatRequest, FIBER_NAME, Harness, HarnessStats, Parent, Turn};
pub use tools::{agent_method_tool, agents_note};
