//! The Vercel AI SDK's *UI message stream* (protocol v1): what a turn streams to clients,
//! so the AI SDK's own `useChat` / `DefaultChatTransport` reads islet unchanged.
//!
//! Each chunk is one server-sent event `data: {json}`; the stream ends with `data: [DONE]`
//! and the response carries `x-vercel-ai-ui-message-stream: v1`. The AI SDK validates
//! chunks strictly, so each variant carries exactly the fields the protocol defines.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The response header that marks a UI message stream, and its value.
pub const HEADER: (&str, &str) = ("x-vercel-ai-ui-message-stream", "v1");

/// The event that ends the stream.
pub const DONE: &str = "data: [DONE]\n\n";

/// One chunk of a UI message stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Chunk {
    /// The assistant message begins. `messageMetadata` carries islet's `sessionId`.
    #[serde(rename_all = "camelCase")]
    Start {
        /// The assistant message's id.
        message_id: String,
        /// islet's `sessionId`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_metadata: Option<Value>,
    },
    /// One inference (a "step") begins.
    StartStep,
    /// The step ended (its tool calls, if any, have their results).
    FinishStep,
    /// A text part begins.
    TextStart {
        /// The text part's id, repeated by its deltas and end.
        id: String,
    },
    /// More text of a text part.
    TextDelta {
        /// The text part's id.
        id: String,
        /// The text to append.
        delta: String,
    },
    /// A text part is complete.
    TextEnd {
        /// The text part's id.
        id: String,
    },
    /// The model began a tool call; its input streams next.
    #[serde(rename_all = "camelCase")]
    ToolInputStart {
        /// The tool call's id, repeated by its later chunks.
        tool_call_id: String,
        /// The tool called.
        tool_name: String,
    },
    /// More of a tool call's input, as JSON text.
    #[serde(rename_all = "camelCase")]
    ToolInputDelta {
        /// The tool call's id.
        tool_call_id: String,
        /// The JSON text to append.
        input_text_delta: String,
    },
    /// A tool call's input is complete; the tool runs now.
    #[serde(rename_all = "camelCase")]
    ToolInputAvailable {
        /// The tool call's id.
        tool_call_id: String,
        /// The tool called.
        tool_name: String,
        /// The parsed input.
        input: Value,
    },
    /// A tool call returned.
    #[serde(rename_all = "camelCase")]
    ToolOutputAvailable {
        /// The tool call's id.
        tool_call_id: String,
        /// What the tool returned.
        output: Value,
    },
    /// A tool call failed; the model sees the error and goes on.
    #[serde(rename_all = "camelCase")]
    ToolOutputError {
        /// The tool call's id.
        tool_call_id: String,
        /// What went wrong, as the model sees it.
        error_text: String,
    },
    /// The loop compacted the conversation before a step's inference (islet's data part:
    /// `{compactionId, messages, tokensBefore, tokensAfter}`); transient, so the AI SDK
    /// hands it to `onData` and keeps it out of the message.
    DataCompaction {
        /// `{compactionId, messages, tokensBefore, tokensAfter}`.
        data: Value,
        /// Always `true`: the part is not kept in the message.
        transient: bool,
    },
    /// Progress of a child agent this turn delegated to (an `agentTool`): `{toolCallId,
    /// agent: {className, name}, sessionId, chunk}` with the child's own chunk; transient,
    /// like [`Chunk::DataCompaction`]: the child's session keeps its conversation.
    DataSubagent {
        /// `{toolCallId, agent, sessionId, chunk}`.
        data: Value,
        /// Always `true`: the part is not kept in the message.
        transient: bool,
    },
    /// The turn failed; what was streamed before stays (and is kept in the session).
    #[serde(rename_all = "camelCase")]
    Error {
        /// What went wrong, for the user.
        error_text: String,
    },
    /// The turn was cancelled (`Harness::cancel`); the stream ends here, without
    /// `finish`, as the AI SDK's own streams do. What was streamed before is kept.
    Abort {
        /// Why the turn stopped (`cancelled` for `Harness::cancel`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The assistant message is complete. `messageMetadata`: `sessionId`, `steps`,
    /// `stopped` (`"answered"`, `"maxSteps"` or `"error"`) and the turn's `usage`.
    #[serde(rename_all = "camelCase")]
    Finish {
        /// `sessionId`, `steps`, `stopped` and `usage`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_metadata: Option<Value>,
    },
}

impl Chunk {
    /// Whether the chunk ends the stream.
    pub fn is_last(&self) -> bool {
        matches!(self, Chunk::Finish { .. } | Chunk::Abort { .. })
    }

    /// The chunk as one server-sent event.
    pub fn sse(&self) -> String {
        // Serialising a Value-backed enum cannot fail.
        let json = serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned());
        format!("data: {json}\n\n")
    }
}
