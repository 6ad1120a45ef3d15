//! Anthropic Messages: `POST {base}/v1/messages` with `stream: true`.

use crate::assemble::{Assembler, Flow};
use crate::openai::head;
use crate::types::{DEFAULT_MAX_TOKENS, FinishReason, Message, Part, Request, Role, ToolChoice};
use crate::{Error, sse};
use serde_json::{Value, json};
use std::collections::HashMap;

/// The `anthropic-version` header sent.
pub const API_VERSION: &str = "2023-06-01";

/// The request body. `history` is already normalised (calls paired with results); here it
/// is fitted to Anthropic's rules: the first message is the user's, roles alternate, a
/// tool message becomes a user turn of `tool_result` blocks (followed by that turn's text).
pub(crate) fn body(model: &str, request: &Request, history: &[Message]) -> Value {
    let mut messages: Vec<Value> = Vec::with_capacity(history.len() + 1);
    let last = history.len().saturating_sub(1);
    for (i, message) in history.iter().enumerate() {
        let (role, blocks) = match message.role {
            Role::User => ("user", text_blocks(message)),
            Role::Assistant => {
                let mut blocks = Vec::new();
                for part in &message.content {
                    match part {
                        // A final assistant message is a prefill, which must not end in
                        // whitespace.
                        Part::Text { text } => {
                            let text = if i == last { text.trim_end() } else { text };
                            if !text.is_empty() {
                                blocks.push(json!({"type": "text", "text": text}));
                            }
                        }
                        Part::ToolCall(call) => {
                            let input = match &call.arguments {
                                Value::Object(_) => call.arguments.clone(),
                                // Anthropic accepts only an object; the raw text went back to
                                // the model in the call's error result.
                                _ => json!({}),
                            };
                            blocks.push(json!({"type": "tool_use", "id": tool_id(&call.id),
                                               "name": call.name, "input": input}));
                        }
                        Part::ToolResult(_) => {}
                    }
                }
                ("assistant", blocks)
            }
            Role::Tool => {
                let blocks = message
                    .content
                    .iter()
                    .filter_map(|p| match p {
                        Part::ToolResult(r) => {
                            let mut block = json!({"type": "tool_result",
                                "tool_use_id": tool_id(&r.call_id)});
                            // An empty text block is refused; an empty result is not.
                            if !r.content.is_empty() {
                                block["content"] = json!([{"type": "text", "text": r.content}]);
                            }
                            if r.is_error {
                                block["is_error"] = json!(true);
                            }
                            Some(block)
                        }
                        _ => None,
                    })
                    .collect();
                ("user", blocks)
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match messages.last_mut() {
            // Tool results then the user's text: one user turn, results first.
            Some(prev) if prev["role"] == role => {
                if let Some(content) = prev["content"].as_array_mut() {
                    content.extend(blocks);
                }
            }
            _ => messages.push(json!({"role": role, "content": blocks})),
        }
    }
    if messages.first().is_some_and(|m| m["role"] != "user") {
        messages.insert(
            0,
            json!({"role": "user", "content": [{"type": "text", "text": "(continued)"}]}),
        );
    }
    let mut body = json!({
        "model": model,
        "max_tokens": request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "messages": messages,
        "stream": true,
    });
    if let Some(system) = request.system.as_deref().filter(|s| !s.is_empty()) {
        body["system"] = json!(system);
    }
    if let Some(t) = request.temperature {
        body["temperature"] = json!(t);
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.input_schema}))
            .collect();
        body["tool_choice"] = match &request.tool_choice {
            ToolChoice::Auto => json!({"type": "auto"}),
            ToolChoice::None => json!({"type": "none"}),
            ToolChoice::Required => json!({"type": "any"}),
            ToolChoice::Tool { name } => json!({"type": "tool", "name": name}),
        };
    }
    body
}

fn text_blocks(message: &Message) -> Vec<Value> {
    message
        .content
        .iter()
        .filter_map(|p| match p {
            Part::Text { text } if !text.is_empty() => Some(json!({"type": "text", "text": text})),
            _ => None,
        })
        .collect()
}

/// Anthropic accepts ids of `[A-Za-z0-9_-]`; ids from another provider (after a model
/// switch) are mapped the same way on the call and on its result.
fn tool_id(id: &str) -> String {
    let id: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if id.is_empty() { "call".into() } else { id }
}

/// Events → assembler calls.
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    /// Content-block index → tool-call index.
    calls: HashMap<u64, usize>,
    /// A tool_use block's `input` from its start event, used when no deltas follow.
    initial_input: HashMap<usize, Value>,
}

impl Decoder {
    pub(crate) fn event(&mut self, event: sse::Event, out: &mut Assembler) -> Result<Flow, Error> {
        let data = event.data.trim();
        if data.is_empty() {
            return Ok(Flow::Continue);
        }
        let value: Value = serde_json::from_str(data).map_err(|e| Error::Malformed {
            reason: format!("an event is not JSON ({e}): `{}`", head(data)),
        })?;
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .or(event.event.as_deref())
            .unwrap_or("");
        match kind {
            "message_start" => {
                if let Some(usage) = value.pointer("/message/usage") {
                    let u = out.usage_mut();
                    u.input_tokens = input_tokens(usage).unwrap_or(u.input_tokens);
                    u.output_tokens = count(usage, "output_tokens").unwrap_or(u.output_tokens);
                }
            }
            "content_block_start" => {
                let index = value.get("index").and_then(Value::as_u64).unwrap_or(0);
                let block = value.get("content_block").unwrap_or(&Value::Null);
                match block.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        out.text(block.get("text").and_then(Value::as_str).unwrap_or(""));
                    }
                    Some("tool_use") => {
                        let id = block.get("id").and_then(Value::as_str);
                        let name = block.get("name").and_then(Value::as_str).unwrap_or("");
                        let call = out.start_call(id, name);
                        self.calls.insert(index, call);
                        if let Some(input) = block
                            .get("input")
                            .filter(|i| i.as_object().is_some_and(|o| !o.is_empty()))
                        {
                            self.initial_input.insert(call, input.clone());
                        }
                    }
                    // Thinking and server-tool blocks are not part of the neutral message.
                    _ => {}
                }
            }
            "content_block_delta" => {
                let index = value.get("index").and_then(Value::as_u64).unwrap_or(0);
                let delta = value.get("delta").unwrap_or(&Value::Null);
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => {
                        out.text(delta.get("text").and_then(Value::as_str).unwrap_or(""));
                    }
                    Some("input_json_delta") => {
                        if let Some(&call) = self.calls.get(&index) {
                            let part = delta
                                .get("partial_json")
                                .and_then(Value::as_str)
                                .unwrap_or("");
                            out.call_arguments(call, part);
                        }
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                let index = value.get("index").and_then(Value::as_u64).unwrap_or(0);
                if let Some(&call) = self.calls.get(&index) {
                    self.finish_call(call, out);
                }
            }
            "message_delta" => {
                if let Some(reason) = value.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    out.set_finish(finish_reason(reason));
                }
                if let Some(usage) = value.get("usage") {
                    let u = out.usage_mut();
                    u.input_tokens = input_tokens(usage).unwrap_or(u.input_tokens);
                    u.output_tokens = count(usage, "output_tokens").unwrap_or(u.output_tokens);
                }
            }
            "message_stop" => {
                for call in 0..self.calls.len() {
                    self.finish_call(call, out);
                }
                return Ok(Flow::Done);
            }
            "error" => {
                let error = value.get("error").unwrap_or(&Value::Null);
                return Err(Error::Provider {
                    kind: error
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("error")
                        .to_owned(),
                    message: error
                        .get("message")
                        .and_then(Value::as_str)
                        .map_or_else(|| head(data), str::to_owned),
                });
            }
            // `ping`, and event types added after this was written.
            _ => {}
        }
        Ok(Flow::Continue)
    }

    fn finish_call(&mut self, call: usize, out: &mut Assembler) {
        if let Some(input) = self.initial_input.remove(&call)
            && !out.call_has_arguments(call)
        {
            out.call_arguments(call, &input.to_string());
        }
        out.finish_call(call);
    }

    pub(crate) fn end_of_body(&mut self, _out: &mut Assembler) -> Result<(), Error> {
        Err(Error::Truncated {
            reason: "the connection closed before `message_stop`".into(),
        })
    }
}

fn count(usage: &Value, key: &str) -> Option<u64> {
    usage.get(key).and_then(Value::as_u64)
}

/// The whole prompt: uncached input plus cache writes and reads.
fn input_tokens(usage: &Value) -> Option<u64> {
    let base = count(usage, "input_tokens")?;
    Some(
        base + count(usage, "cache_creation_input_tokens").unwrap_or(0)
            + count(usage, "cache_read_input_tokens").unwrap_or(0),
    )
}

fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}
