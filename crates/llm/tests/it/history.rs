//! Stored histories → what each provider accepts. The wire bodies are golden files
//! (`tests/it/golden/`, `BLESS=1` rewrites), so any change of shape is reviewed.

use crate::{BOTH, assert_golden, given_model, given_request, given_scripted};
use llm::scripted::Reply;
use llm::{INTERRUPTED_RESULT, Message, Part, ProviderKind, Role, ToolCall, ToolResult};
use serde_json::{Value, json};

fn call(id: &str, city: &str) -> Part {
    Part::ToolCall(ToolCall {
        id: id.into(),
        name: "get_weather".into(),
        arguments: json!({"city": city}),
    })
}

fn result(id: &str, content: &str) -> Part {
    Part::ToolResult(ToolResult {
        call_id: id.into(),
        content: content.into(),
        is_error: false,
    })
}

/// A history as a crash, a model switch and an edit can leave it.
fn messy_history() -> Vec<Message> {
    vec![
        // Starts with the assistant (a summary overlay, say).
        Message::assistant("Earlier we discussed Oslo."),
        Message::user(""),
        Message::user("Weather in Oslo and Rome?"),
        Message::user("And Paris."),
        Message {
            role: Role::Assistant,
            content: vec![
                Part::text("Checking."),
                call("call_1", "Oslo"),
                // An id from another provider, with characters Anthropic refuses.
                call("toolu.2:x", "Rome"),
                call("call_3", "Paris"),
            ],
        },
        // Results out of order, one missing (the run was interrupted by a crash), one
        // answering a call that is not there.
        Message {
            role: Role::Tool,
            content: vec![result("call_3", "warm"), result("stray", "left over")],
        },
        Message {
            role: Role::Tool,
            content: vec![result("call_1", "cold")],
        },
        Message::user("Thanks. Now summarise."),
        Message::assistant("Summary:  "),
    ]
}

#[tokio::test]
async fn a_messy_history_becomes_one_each_provider_accepts() {
    for provider in BOTH {
        let server = given_scripted().await;
        let model = given_model(&server, provider);
        server.push(Reply::new().text("ok"));
        model
            .complete(&given_request(messy_history()))
            .await
            .expect("sent");
        let sent = server.requests().remove(0).body;
        let golden = serde_json::to_string_pretty(&sent["messages"]).expect("json") + "\n";
        assert_golden(&format!("messy_history.{provider}.json"), &golden);
        check_accepted(provider, &sent["messages"]);
    }
}

/// The rules the providers enforce, checked on what was sent.
fn check_accepted(provider: ProviderKind, messages: &Value) {
    let messages = messages.as_array().expect("array");
    match provider {
        ProviderKind::OpenAi => {
            for (i, m) in messages.iter().enumerate() {
                if let Some(calls) = m["tool_calls"].as_array() {
                    // Each call answered by the `tool` messages right after it.
                    for (k, call) in calls.iter().enumerate() {
                        let answer = &messages[i + 1 + k];
                        assert_eq!(answer["role"], json!("tool"));
                        assert_eq!(answer["tool_call_id"], call["id"]);
                    }
                }
                if m["role"] == json!("tool") {
                    let owner = messages[..i]
                        .iter()
                        .rev()
                        .find(|p| p["role"] != json!("tool"))
                        .expect("an owner");
                    let ids: Vec<&Value> = owner["tool_calls"]
                        .as_array()
                        .expect("calls")
                        .iter()
                        .map(|c| &c["id"])
                        .collect();
                    assert!(ids.contains(&&m["tool_call_id"]), "{m}");
                }
            }
        }
        ProviderKind::Anthropic => {
            assert_eq!(messages[0]["role"], json!("user"));
            for pair in messages.windows(2) {
                assert_ne!(pair[0]["role"], pair[1]["role"], "roles alternate");
            }
            for (i, m) in messages.iter().enumerate() {
                let blocks = m["content"].as_array().expect("blocks");
                assert!(!blocks.is_empty());
                for b in blocks {
                    if b["type"] == json!("text") {
                        assert!(!b["text"].as_str().expect("text").is_empty());
                    }
                }
                let uses: Vec<&Value> = blocks
                    .iter()
                    .filter(|b| b["type"] == json!("tool_use"))
                    .map(|b| &b["id"])
                    .collect();
                if !uses.is_empty() {
                    // The next user turn starts with exactly these results.
                    let next = messages[i + 1]["content"].as_array().expect("blocks");
                    let answered: Vec<&Value> = next
                        .iter()
                        .take(uses.len())
                        .map(|b| &b["tool_use_id"])
                        .collect();
                    assert_eq!(answered, uses);
                    for id in uses {
                        let id = id.as_str().expect("id");
                        assert!(
                            id.chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
                            "{id}"
                        );
                    }
                }
            }
            let last = messages.last().expect("last");
            if last["role"] == json!("assistant") {
                let text = last["content"][0]["text"].as_str().unwrap_or("");
                assert_eq!(text, text.trim_end(), "a prefill may not end in whitespace");
            }
        }
    }
}

#[tokio::test]
async fn a_call_without_a_result_gets_the_interrupted_result() {
    for provider in BOTH {
        let server = given_scripted().await;
        let model = given_model(&server, provider);
        server.push(Reply::new().text("ok"));
        let history = vec![
            Message::user("Weather?"),
            Message {
                role: Role::Assistant,
                content: vec![call("call_1", "Oslo")],
            },
        ];
        model.complete(&given_request(history)).await.expect("sent");
        let sent = server.requests().remove(0).body.to_string();
        assert!(sent.contains(INTERRUPTED_RESULT), "{provider}: {sent}");
    }
}
