//! The provider-neutral vocabulary: messages, tools, requests, usage, finish reasons. All of
//! it is serde-serialisable so an agent loop can store it (e.g. as JSON in SQLite) and send
//! the same history to either provider later.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Who wrote a message. The system prompt is not a message: it is [`Request::system`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The person (or program) talking to the model: text parts.
    User,
    /// The model: text parts and tool calls.
    Assistant,
    /// Results of the assistant's tool calls: tool-result parts.
    Tool,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it, which decides the parts it may hold.
    pub role: Role,
    /// Its parts, in order (text and tool calls interleave as the model produced them).
    pub content: Vec<Part>,
}

/// A piece of a message's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    /// Plain text, from the user or the model.
    Text {
        /// `text`: the text itself.
        text: String,
    },
    /// A tool call the model made (assistant messages only).
    ToolCall(ToolCall),
    /// The result of an earlier tool call (tool messages only).
    ToolResult(ToolResult),
}

/// The model asks for a tool to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id for the call, echoed by its result. Generated when a server sends
    /// none (some local servers do not).
    pub id: String,
    /// The tool to run, one of the request's [`ToolDefinition::name`]s (the model may
    /// still invent one: check before running).
    pub name: String,
    /// The parsed JSON object. When the model wrote something that is not a JSON object,
    /// this is a JSON string holding exactly what it wrote, so the history still shows it;
    /// [`ToolCall::input`] then says what is wrong, for the loop to hand back to the model.
    pub arguments: Value,
}

impl ToolCall {
    /// The arguments as an object, or the reason they are not one (a message meant for
    /// the model, which can correct itself).
    pub fn input(&self) -> Result<&Map<String, Value>, String> {
        match &self.arguments {
            Value::Object(map) => Ok(map),
            Value::String(raw) => Err(invalid_arguments_reason(&self.name, raw)),
            other => Err(format!(
                "the arguments of `{}` must be a JSON object, not {other}",
                self.name
            )),
        }
    }
}

/// The text the model wrote as arguments → the value kept in [`ToolCall::arguments`] and,
/// when it is not a JSON object, the reason.
pub(crate) fn parse_arguments(name: &str, raw: &str) -> (Value, Option<String>) {
    // Some servers send nothing at all for a tool without parameters.
    if raw.trim().is_empty() {
        return (Value::Object(Map::new()), None);
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(value @ Value::Object(_)) => (value, None),
        _ => (
            Value::String(raw.to_owned()),
            Some(invalid_arguments_reason(name, raw)),
        ),
    }
}

fn invalid_arguments_reason(name: &str, raw: &str) -> String {
    let detail = match serde_json::from_str::<Value>(raw) {
        Ok(_) => "it is JSON but not an object".to_owned(),
        Err(e) => e.to_string(),
    };
    let head: String = raw.chars().take(200).collect();
    let more = if raw.chars().count() > 200 { "…" } else { "" };
    format!(
        "the arguments of `{name}` are not a JSON object ({detail}): `{head}{more}`; \
         call the tool again with a JSON object matching its input schema"
    )
}

/// What a tool call produced (or why it failed), sent back to the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResult {
    /// The [`ToolCall::id`] this answers.
    pub call_id: String,
    /// Text for the model: JSON, a message, whatever the tool returns as text.
    pub content: String,
    /// The call failed; `content` says why.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_error: bool,
}

impl Message {
    /// A user message holding one text part.
    pub fn user(text: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: vec![Part::text(text)],
        }
    }

    /// An assistant message holding one text part (e.g. a few-shot example or a replayed
    /// answer).
    pub fn assistant(text: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: vec![Part::text(text)],
        }
    }

    /// A tool message with one result.
    pub fn tool_result(
        call_id: impl Into<String>,
        content: impl Into<String>,
        is_error: bool,
    ) -> Self {
        Self {
            role: Role::Tool,
            content: vec![Part::ToolResult(ToolResult {
                call_id: call_id.into(),
                content: content.into(),
                is_error,
            })],
        }
    }

    /// The text parts, concatenated.
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(|p| match p {
                Part::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The tool calls, in order.
    pub fn tool_calls(&self) -> impl Iterator<Item = &ToolCall> {
        self.content.iter().filter_map(|p| match p {
            Part::ToolCall(call) => Some(call),
            _ => None,
        })
    }
}

impl Part {
    /// A text part, without spelling out the variant.
    pub fn text(text: impl Into<String>) -> Self {
        Part::Text { text: text.into() }
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDefinition {
    /// `[A-Za-z0-9_-]{1,64}`: the one form both providers accept.
    pub name: String,
    /// What the tool does and when to use it: the model chooses tools by this text.
    pub description: String,
    /// JSON Schema of the arguments object.
    pub input_schema: Value,
}

/// Whether and which tool the model must call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides.
    #[default]
    Auto,
    /// No tool calls.
    None,
    /// At least one tool call.
    Required,
    /// This tool.
    Tool {
        /// `name`: the tool to call, one of the request's tools.
        name: String,
    },
}

/// One call to a model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// The system prompt, sent the way each provider expects it (not as a message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The conversation so far; fitted to each provider's rules when sent.
    pub messages: Vec<Message>,
    /// The tools the model may call; none means a plain text answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolDefinition>,
    /// Output budget. Anthropic requires one: [`DEFAULT_MAX_TOKENS`] when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature; the provider's default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Sent only when there are tools.
    #[serde(default)]
    pub tool_choice: ToolChoice,
}

/// The output budget sent to Anthropic when the request sets none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// Tokens a call consumed. `input_tokens` counts the whole prompt, cached parts included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens: system prompt, history and tool definitions.
    pub input_tokens: u64,
    /// Tokens the model generated (text and tool calls).
    pub output_tokens: u64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
    }
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// It finished its answer (or hit a stop sequence).
    Stop,
    /// It ran out of output tokens.
    Length,
    /// It wants its tool calls run (always the reason when the answer holds tool calls
    /// and the server said only `stop`, as some local servers do).
    ToolCalls,
    /// The provider filtered or the model refused.
    ContentFilter,
    /// A reason this crate does not know, as the provider named it.
    Other(String),
}
