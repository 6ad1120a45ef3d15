//! Durable agents: classes users write in TypeScript or JavaScript, hosted as
//! single-threaded, addressable actors (`/agents/<class>/<name>`), each with its own SQLite
//! database (key-value storage, state, schedules, workspace and its own tables).
//!
//! ```text
//! HTTP / MCP / CLI ──► AgentHost ──► mailbox of agents.Counter("alice") ──► turn:
//!                                      a run of the agent's sandbox session (its live
//!                                      isolate: class module + runtime.js, evaluated once),
//!                                      host functions over the agent's database (store),
//!                                      one transaction, then the reply
//! ```
//!
//! Architecture Invariant: one agent handles one message at a time; different agents run
//! in parallel. A call into an agent that is waiting on the caller (directly or through
//! others) runs inside that waiting turn instead of deadlocking behind it (see
//! `ARCHITECTURE.md`, "re-entrant calls").
//!
//! Architecture Invariant: a reply is sent only after the turn's writes are committed
//! (the output gate); a failed turn rolls back all of them.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod address;
mod classes;
mod config;
mod durable;
mod error;
mod extensions;
mod host;
mod host_fns;
mod isolates;
mod linux;
mod loaded;
mod mailbox;
mod permissions;
mod prelude;
mod runtime;
mod turn;

pub use address::Address;
pub use classes::{
    AgentClass, Classes, MemoryAttachment, ModulePackages, PackagesFuture, RUNTIME_MODULES,
    Signature, WithPackages,
};
pub use config::HostConfig;
pub use durable::{Claim, Durable, DurableCopy, DurableFuture, Forwarder};
pub use error::Error;
pub use host::{AgentHost, HostStats, SubAgentInfo};
pub use linux::{AgentDbAccess, AgentSandboxes, ClassSandbox, SandboxFuture};
pub use mailbox::{HttpRequest, HttpResponse, StateEvent};
pub use permissions::{ExtensionFetch, ExtensionPolicy};
pub use runtime::schedule_view;
/// Separates the parts of a sub-agent's name (see [`Address::is_sub_agent`]).
pub use store::SUB_AGENT_SEPARATOR;
