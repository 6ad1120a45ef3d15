//! Model providers for islet's agent loop, host-side only (keys never enter an isolate):
//! OpenAI-compatible Chat Completions and Anthropic Messages, both streaming, with tool
//! calls and usage.
//!
//! - [`ModelSpec`] (`openai:gpt-4.1-mini`) and [`Endpoint`] (base URL and [`ApiKey`], from
//!   explicit values or `OPENAI_*`/`ANTHROPIC_*` variables) say which model and where;
//!   [`Models`] turns the operator's [`Settings`] plus a class's own choice into a [`Model`].
//! - [`Request`], [`Message`], [`Part`], [`ToolDefinition`] are the provider-neutral
//!   vocabulary, serde-serialisable for storage; any stored history is fitted to what each
//!   provider accepts when sent (calls paired with results, Anthropic's alternation).
//! - [`Model::stream`] sends (with retries on 429/5xx/connection errors, honouring
//!   `retry-after`) and returns a [`ModelStream`] of [`StreamEvent`]s with a stall timeout;
//!   [`ModelStream::collect`] assembles the [`Completion`], and [`ModelStream::partial`]
//!   keeps what arrived before an error.
//! - [`scripted`]: a deterministic in-process model server speaking both wire formats,
//!   for tests and benchmarks.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod anthropic;
mod assemble;
mod client;
mod config;
mod error;
mod history;
mod models;
mod openai;
pub mod scripted;
mod spec;
mod sse;
pub mod stats;
mod stream;
mod types;

pub use anthropic::API_VERSION as ANTHROPIC_VERSION;
pub use assemble::{Completion, StreamEvent};
pub use client::{Model, Options, RetryPolicy};
pub use config::{ApiKey, Endpoint};
pub use error::Error;
pub use history::INTERRUPTED_RESULT;
pub use models::{Models, ProviderSettings, Settings};
pub use spec::{ModelSpec, PROVIDERS, ProviderKind};
pub use stream::ModelStream;
pub use types::{
    DEFAULT_MAX_TOKENS, FinishReason, Message, Part, Request, Role, ToolCall, ToolChoice,
    ToolDefinition, ToolResult, Usage,
};
