//! What the decoders of both wire formats produce: [`StreamEvent`]s, and the assembled
//! answer ([`Completion`]) that [`Assembler`] builds from their pieces. Below the decoders
//! (`openai.rs`, `anthropic.rs`) and the stream that drives them (`stream.rs`).

use crate::types::{FinishReason, Message, Part, Role, ToolCall, Usage, parse_arguments};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// One step of a model's answer as it streams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    /// More answer text.
    TextDelta {
        /// `text`: the next piece of the answer, to append to what came before.
        text: String,
    },
    /// The model began a tool call. `index` numbers the message's tool calls from 0.
    ToolCallStarted {
        /// `index`: the call's position among this message's tool calls.
        index: usize,
        /// `id`: the provider's id for the call, which its result must quote.
        id: String,
        /// `name`: the tool the model is calling.
        name: String,
    },
    /// More of the call's arguments (JSON text, in pieces).
    ToolCallDelta {
        /// `index`: the call the piece belongs to (as in `ToolCallStarted`).
        index: usize,
        /// `arguments`: the next piece of the arguments' JSON text.
        arguments: String,
    },
    /// The call is complete. `error` is set when its arguments are not a JSON object (the
    /// call then keeps the raw text; see [`ToolCall::input`]): hand it back to the model
    /// as the call's error result.
    ToolCallFinished {
        /// `index`: the call that finished (as in `ToolCallStarted`).
        index: usize,
        /// `call`: the whole call, arguments parsed.
        call: ToolCall,
        /// `error`: why the arguments could not be parsed as a JSON object, if they could not.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Tokens used by this call; sent once, just before `Finished`, when the server reports
    /// usage.
    Usage {
        /// `usage`: the tokens the server reported for the whole call.
        usage: Usage,
    },
    /// The answer is complete. Always the last event of a stream that did not fail.
    Finished {
        /// `reason`: why the model stopped (end of turn, tool calls, length limit, …).
        reason: FinishReason,
    },
}

/// A whole answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// An assistant message: text and tool calls, in the order the model produced them.
    pub message: Message,
    /// `None` when the server reported none (llama-cpp-python's server, for one, does not
    /// while streaming).
    pub usage: Option<Usage>,
    /// Why the model stopped: a caller runs the tool calls on `ToolCalls` and should warn
    /// on `Length` (the answer was cut).
    pub finish: FinishReason,
}

/// Builds the assistant message from decoded pieces and queues the events that say so.
/// The decoders of both wire formats drive it.
#[derive(Debug, Default)]
pub(crate) struct Assembler {
    parts: Vec<Slot>,
    calls: Vec<PendingCall>,
    pub(crate) usage: Option<Usage>,
    finish: Option<FinishReason>,
    pub(crate) events: VecDeque<StreamEvent>,
}

#[derive(Debug)]
enum Slot {
    Text(String),
    Call(usize),
}

#[derive(Debug)]
struct PendingCall {
    id: String,
    name: String,
    arguments: String,
    done: Option<ToolCall>,
}

impl Assembler {
    pub(crate) fn text(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        match self.parts.last_mut() {
            Some(Slot::Text(t)) => t.push_str(text),
            _ => self.parts.push(Slot::Text(text.to_owned())),
        }
        self.events.push_back(StreamEvent::TextDelta {
            text: text.to_owned(),
        });
    }

    /// Starts a call; `id` is generated when the server sent none. Returns its index.
    pub(crate) fn start_call(&mut self, id: Option<&str>, name: &str) -> usize {
        let index = self.calls.len();
        let id = match id.filter(|id| !id.is_empty()) {
            Some(id) => id.to_owned(),
            None => generated_call_id(),
        };
        self.calls.push(PendingCall {
            id: id.clone(),
            name: name.to_owned(),
            arguments: String::new(),
            done: None,
        });
        self.parts.push(Slot::Call(index));
        self.events.push_back(StreamEvent::ToolCallStarted {
            index,
            id,
            name: name.to_owned(),
        });
        index
    }

    /// A name that arrives after the call started (some servers repeat it in every delta,
    /// so only the first one counts).
    pub(crate) fn call_name(&mut self, index: usize, name: &str) {
        if let Some(call) = self.calls.get_mut(index).filter(|c| c.name.is_empty()) {
            call.name = name.to_owned();
        }
    }

    pub(crate) fn call_id(&self, index: usize) -> Option<&str> {
        self.calls.get(index).map(|c| c.id.as_str())
    }

    pub(crate) fn call_arguments(&mut self, index: usize, arguments: &str) {
        let Some(call) = self.calls.get_mut(index).filter(|c| c.done.is_none()) else {
            return;
        };
        if arguments.is_empty() {
            return;
        }
        call.arguments.push_str(arguments);
        self.events.push_back(StreamEvent::ToolCallDelta {
            index,
            arguments: arguments.to_owned(),
        });
    }

    pub(crate) fn call_has_arguments(&self, index: usize) -> bool {
        self.calls
            .get(index)
            .is_some_and(|c| !c.arguments.is_empty())
    }

    pub(crate) fn finish_call(&mut self, index: usize) {
        let Some(call) = self.calls.get_mut(index).filter(|c| c.done.is_none()) else {
            return;
        };
        let (arguments, error) = parse_arguments(&call.name, &call.arguments);
        let done = ToolCall {
            id: call.id.clone(),
            name: call.name.clone(),
            arguments,
        };
        call.done = Some(done.clone());
        self.events.push_back(StreamEvent::ToolCallFinished {
            index,
            call: done,
            error,
        });
    }

    pub(crate) fn finish_all_calls(&mut self) {
        for index in 0..self.calls.len() {
            self.finish_call(index);
        }
    }

    pub(crate) fn set_usage(&mut self, usage: Usage) {
        self.usage = Some(usage);
    }

    pub(crate) fn usage_mut(&mut self) -> &mut Usage {
        self.usage.get_or_insert_with(Usage::default)
    }

    pub(crate) fn set_finish(&mut self, reason: FinishReason) {
        self.finish = Some(reason);
    }

    pub(crate) fn finish_reason(&self) -> Option<&FinishReason> {
        self.finish.as_ref()
    }

    /// The end of the answer: open calls finished, then usage, then `Finished`.
    pub(crate) fn complete(&mut self) {
        self.finish_all_calls();
        if let Some(usage) = self.usage {
            self.events.push_back(StreamEvent::Usage { usage });
        }
        // Some servers (Ollama, llama.cpp) say `stop` after tool calls: the calls decide.
        let reason = match self.finish.clone() {
            None | Some(FinishReason::Stop) if !self.calls.is_empty() => FinishReason::ToolCalls,
            None => FinishReason::Stop,
            Some(reason) => reason,
        };
        self.finish = Some(reason.clone());
        self.events.push_back(StreamEvent::Finished { reason });
    }

    /// The text so far and the calls that are complete.
    pub(crate) fn message(&self) -> Message {
        let content = self
            .parts
            .iter()
            .filter_map(|slot| match slot {
                Slot::Text(text) => Some(Part::text(text.clone())),
                Slot::Call(i) => self.calls[*i].done.clone().map(Part::ToolCall),
            })
            .collect();
        Message {
            role: Role::Assistant,
            content,
        }
    }
}

fn generated_call_id() -> String {
    let mut bytes = [0u8; 12];
    // An id only needs to be unique within a conversation; a clock fallback is enough.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes.copy_from_slice(&nanos.to_le_bytes()[..12]);
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("call_{hex}")
}

/// Whether the decoder saw the end of the answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Done,
}
