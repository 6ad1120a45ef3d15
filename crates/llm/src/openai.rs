//! OpenAI-compatible Chat Completions: `POST {base}/chat/completions` with `stream: true`.
//! Kept to the subset OpenAI, vLLM, Ollama, llama.cpp server and OpenRouter all accept.

use crate::assemble::{Assembler, Flow};
use crate::types::{FinishReason, Message, Part, Request, Role, ToolChoice, Usage};
use crate::{Error, sse};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// The request body. `history` is already normalised.
pub(crate) fn body(model: &str, base_url: &str, request: &Request, history: &[Message]) -> Value {
    let mut messages = Vec::with_capacity(history.len() + 1);
    if let Some(system) = request.system.as_deref().filter(|s| !s.is_empty()) {
        messages.push(json!({"role": "system", "content": system}));
    }
    for message in history {
        match message.role {
            Role::User => messages.push(json!({"role": "user", "content": joined_text(message)})),
            Role::Assistant => {
                let calls: Vec<Value> = message
                    .tool_calls()
                    .map(|call| {
                        let arguments = match &call.arguments {
                            // Malformed arguments go back exactly as the model wrote them.
                            Value::String(raw) => raw.clone(),
                            other => other.to_string(),
                        };
                        json!({"id": call.id, "type": "function",
                               "function": {"name": call.name, "arguments": arguments}})
                    })
                    .collect();
                // Always a string, empty beside tool calls: llama-cpp-python's server refuses
                // OpenAI's own `null` there and fails on a missing field.
                let mut m = json!({"role": "assistant", "content": joined_text(message)});
                if !calls.is_empty() {
                    m["tool_calls"] = Value::Array(calls);
                }
                messages.push(m);
            }
            Role::Tool => {
                for part in &message.content {
                    if let Part::ToolResult(result) = part {
                        let content = if result.is_error {
                            format!("Error: {}", result.content)
                        } else {
                            result.content.clone()
                        };
                        messages.push(json!({"role": "tool", "tool_call_id": result.call_id,
                                             "content": content}));
                    }
                }
            }
        }
    }
    let mut body = json!({
        "model": model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if let Some(max) = request.max_tokens {
        // OpenAI's own API wants the newer name (its reasoning models refuse the old one);
        // the compatible servers all know `max_tokens`.
        let field = if is_openai_itself(base_url) {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        body[field] = json!(max);
    }
    if let Some(t) = request.temperature {
        body["temperature"] = json!(t);
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.input_schema,
                }})
            })
            .collect();
        body["tool_choice"] = match &request.tool_choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Tool { name } => json!({"type": "function", "function": {"name": name}}),
        };
    }
    body
}

fn is_openai_itself(base_url: &str) -> bool {
    reqwest::Url::parse(base_url)
        .ok()
        .and_then(|u| u.host_str().map(|h| h == "api.openai.com"))
        .unwrap_or(false)
}

fn joined_text(message: &Message) -> String {
    let texts: Vec<&str> = message
        .content
        .iter()
        .filter_map(|p| match p {
            Part::Text { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    texts.join("\n\n")
}

/// Chunks → assembler calls. Tool-call deltas are keyed by the server's `index` (or, from
/// servers that send none, the call id or the position in the array).
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    calls: HashMap<String, usize>,
}

impl Decoder {
    pub(crate) fn event(&mut self, event: sse::Event, out: &mut Assembler) -> Result<Flow, Error> {
        let data = event.data.trim();
        if data == "[DONE]" {
            return Ok(Flow::Done);
        }
        if data.is_empty() {
            return Ok(Flow::Continue);
        }
        let chunk: Value = serde_json::from_str(data).map_err(|e| Error::Malformed {
            reason: format!("a chunk is not JSON ({e}): `{}`", head(data)),
        })?;
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            // OpenRouter and vLLM report failures mid-stream as an `error` chunk.
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| error.to_string(), str::to_owned);
            let kind = error.get("code").or_else(|| error.get("type")).map_or_else(
                || "error".to_owned(),
                |c| c.as_str().map_or_else(|| c.to_string(), str::to_owned),
            );
            return Err(Error::Provider { kind, message });
        }
        if !chunk.is_object() {
            return Err(Error::Malformed {
                reason: format!("a chunk is not a JSON object: `{}`", head(data)),
            });
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            let count = |k: &str| usage.get(k).and_then(Value::as_u64).unwrap_or(0);
            out.set_usage(Usage {
                input_tokens: count("prompt_tokens"),
                output_tokens: count("completion_tokens"),
            });
        }
        let Some(choice) = chunk
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|c| c.first())
        else {
            return Ok(Flow::Continue);
        };
        let empty = Map::new();
        let delta = choice
            .get("delta")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        if let Some(text) = delta.get("content").and_then(Value::as_str) {
            out.text(text);
        }
        if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
            for (position, call) in calls.iter().enumerate() {
                self.call_delta(position, call, out);
            }
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            out.finish_all_calls();
            out.set_finish(finish_reason(reason));
        }
        Ok(Flow::Continue)
    }

    fn call_delta(&mut self, position: usize, call: &Value, out: &mut Assembler) {
        let id = call.get("id").and_then(Value::as_str);
        let key = match (call.get("index").and_then(Value::as_u64), id) {
            (Some(index), _) => format!("i{index}"),
            (None, Some(id)) => format!("d{id}"),
            (None, None) => format!("p{position}"),
        };
        let function = call.get("function");
        let name = function
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("");
        // A new id under a known index is a new call (some servers number every call 0).
        let known = self
            .calls
            .get(&key)
            .copied()
            .filter(|&i| id.is_none_or(|id| id.is_empty() || out.call_id(i) == Some(id)));
        let index = match known {
            Some(index) => {
                out.call_name(index, name);
                index
            }
            None => {
                let index = out.start_call(id, name);
                self.calls.insert(key, index);
                index
            }
        };
        match function.and_then(|f| f.get("arguments")) {
            Some(Value::String(arguments)) => out.call_arguments(index, arguments),
            // Some servers send the arguments as an object instead of JSON text.
            Some(object @ Value::Object(_)) => out.call_arguments(index, &object.to_string()),
            _ => {}
        }
    }

    pub(crate) fn end_of_body(&mut self, out: &mut Assembler) -> Result<(), Error> {
        // Some servers close without `[DONE]`; the answer is complete if it said why it
        // finished.
        if out.finish_reason().is_some() {
            return Ok(());
        }
        Err(Error::Truncated {
            reason: "the connection closed before the model finished (no finish_reason, no [DONE])"
                .into(),
        })
    }
}

fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "stop" | "eos" => FinishReason::Stop,
        "length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

pub(crate) fn head(text: &str) -> String {
    let head: String = text.chars().take(120).collect();
    if text.chars().count() > 120 {
        format!("{head}…")
    } else {
        head
    }
}
