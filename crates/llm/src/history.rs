//! A stored history → one every provider accepts: each assistant message with tool calls
//! is followed by exactly one tool message answering exactly those calls, in order.

use crate::Error;
use crate::types::{Message, Part, Role, ToolResult};

/// The result given to a call that has none in the history (its run was interrupted, or
/// the history was cut): providers reject a call without a result.
pub const INTERRUPTED_RESULT: &str = "No result was recorded for this tool call (it was interrupted); call it again if it is still needed.";

/// Checks where parts may appear, pairs tool calls with their results (adding
/// [`INTERRUPTED_RESULT`] for missing ones, turning results of no preceding call into user
/// text), drops empty text and merges neighbours of the same role.
pub(crate) fn normalize(messages: &[Message]) -> Result<Vec<Message>, Error> {
    let mut paired: Vec<Message> = Vec::with_capacity(messages.len());
    let mut i = 0;
    while i < messages.len() {
        let message = &messages[i];
        check_parts(i, message)?;
        let content: Vec<Part> = message
            .content
            .iter()
            .filter(|p| !matches!(p, Part::Text { text } if text.is_empty()))
            .cloned()
            .collect();
        i += 1;
        match message.role {
            Role::User | Role::Assistant if content.is_empty() => {}
            Role::User => paired.push(Message {
                role: Role::User,
                content,
            }),
            Role::Tool => paired.extend(orphans(&content)),
            Role::Assistant => {
                let calls: Vec<String> = message.tool_calls().map(|c| c.id.clone()).collect();
                paired.push(Message {
                    role: Role::Assistant,
                    content,
                });
                if calls.is_empty() {
                    continue;
                }
                // The results given right after this message, in any order.
                let mut results: Vec<ToolResult> = Vec::new();
                while let Some(next) = messages.get(i).filter(|m| m.role == Role::Tool) {
                    check_parts(i, next)?;
                    results.extend(next.content.iter().filter_map(|p| match p {
                        Part::ToolResult(r) => Some(r.clone()),
                        _ => None,
                    }));
                    i += 1;
                }
                let mut answered = Vec::with_capacity(calls.len());
                for id in &calls {
                    let result = match results.iter().position(|r| &r.call_id == id) {
                        Some(at) => results.remove(at),
                        None => ToolResult {
                            call_id: id.clone(),
                            content: INTERRUPTED_RESULT.to_owned(),
                            is_error: true,
                        },
                    };
                    answered.push(Part::ToolResult(result));
                }
                paired.push(Message {
                    role: Role::Tool,
                    content: answered,
                });
                let leftover: Vec<Part> = results.into_iter().map(Part::ToolResult).collect();
                paired.extend(orphans(&leftover));
            }
        }
    }
    // Merge neighbours of the same role (an assistant message with tool calls is always
    // followed by its tool message, so it is never merged with the next assistant message).
    let mut out: Vec<Message> = Vec::with_capacity(paired.len());
    for message in paired {
        match out.last_mut() {
            Some(last)
                if last.role == message.role
                    && message.role != Role::Tool
                    && last.tool_calls().next().is_none() =>
            {
                last.content.extend(message.content);
            }
            _ => out.push(message),
        }
    }
    if out.is_empty() {
        return Err(Error::InvalidRequest {
            reason: "the request has no messages (or only empty ones); add a user message".into(),
        });
    }
    Ok(out)
}

fn check_parts(index: usize, message: &Message) -> Result<(), Error> {
    let allowed = |p: &Part| match message.role {
        Role::User => matches!(p, Part::Text { .. }),
        Role::Assistant => matches!(p, Part::Text { .. } | Part::ToolCall(_)),
        Role::Tool => matches!(p, Part::ToolResult(_)),
    };
    if message.content.iter().all(allowed) {
        return Ok(());
    }
    Err(Error::InvalidRequest {
        reason: format!(
            "messages[{index}] ({:?}) holds a part its role cannot carry: user messages hold \
             text, assistant messages text and tool calls, tool messages tool results",
            message.role
        ),
    })
}

/// Results that answer no call just before them, as user text the model can still read.
fn orphans(results: &[Part]) -> Option<Message> {
    let content: Vec<Part> = results
        .iter()
        .filter_map(|p| match p {
            Part::ToolResult(r) => Some(Part::text(format!(
                "(Result of tool call `{}`{}: {})",
                r.call_id,
                if r.is_error { ", an error" } else { "" },
                r.content
            ))),
            _ => None,
        })
        .collect();
    (!content.is_empty()).then_some(Message {
        role: Role::User,
        content,
    })
}
