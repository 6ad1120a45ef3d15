//! Integration tests of the agent loop: real isolates, real SQLite in a temporary
//! directory, and a real-HTTP scripted model (`llm::scripted`) in both wire formats.

mod support;

mod cancel;
mod chat;
mod compaction;
mod delegation;
mod extensions;
mod failures;
mod hooks;
mod recovery;
