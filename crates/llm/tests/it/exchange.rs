//! Whole exchanges against the scripted model in both wire formats: a tool call, its
//! result, the answer; what was streamed and what was sent.

use crate::{BOTH, KEY, drain, given_model, given_request, given_scripted};
use llm::scripted::Reply;
use llm::{
    FinishReason, Message, Part, ProviderKind, Role, StreamEvent, ToolCall, ToolChoice, Usage,
};
use serde_json::{Value, json};

#[tokio::test]
async fn a_tool_call_then_its_result_then_the_answer_in_both_formats() {
    for provider in BOTH {
        let server = given_scripted().await;
        let model = given_model(&server, provider);
        server.push(
            Reply::new()
                .text("Let me look.")
                .tool_call("call_1", "get_weather", json!({"city": "Paris"}))
                .usage(20, 9),
        );
        server.push(
            Reply::new()
                .text_chunks(["It is ", "sunny ", "in Paris."])
                .usage(35, 6),
        );

        let mut history = vec![Message::user("Weather in Paris?")];
        let mut stream = model
            .stream(&given_request(history.clone()))
            .await
            .expect("first step");
        let (events, error) = drain(&mut stream).await;
        assert!(error.is_none(), "{provider}: {error:?}");
        let call = ToolCall {
            id: "call_1".into(),
            name: "get_weather".into(),
            arguments: json!({"city": "Paris"}),
        };
        // The streamed steps, in order: text, the call (arguments in pieces), usage, finish.
        assert_eq!(
            events.first(),
            Some(&StreamEvent::TextDelta {
                text: "Let me look.".into()
            }),
            "{provider}"
        );
        assert_eq!(
            events[1],
            StreamEvent::ToolCallStarted {
                index: 0,
                id: "call_1".into(),
                name: "get_weather".into()
            },
            "{provider}"
        );
        let arguments: String = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::ToolCallDelta { arguments, .. } => Some(arguments.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(arguments, r#"{"city":"Paris"}"#, "{provider}");
        let tail = &events[events.len() - 3..];
        assert_eq!(
            tail,
            [
                StreamEvent::ToolCallFinished {
                    index: 0,
                    call: call.clone(),
                    error: None
                },
                StreamEvent::Usage {
                    usage: Usage {
                        input_tokens: 20,
                        output_tokens: 9
                    }
                },
                StreamEvent::Finished {
                    reason: FinishReason::ToolCalls
                },
            ],
            "{provider}"
        );
        let first = stream.collect().await.expect("already complete");
        assert_eq!(
            first.message.content,
            vec![Part::text("Let me look."), Part::ToolCall(call.clone())],
            "{provider}"
        );

        history.push(first.message);
        history.push(Message::tool_result(
            "call_1",
            r#"{"sky":"clear","celsius":21}"#,
            false,
        ));
        let second = model
            .complete(&given_request(history.clone()))
            .await
            .expect("second step");
        assert_eq!(second.message.role, Role::Assistant);
        assert_eq!(second.message.text(), "It is sunny in Paris.", "{provider}");
        assert_eq!(
            second.usage,
            Some(Usage {
                input_tokens: 35,
                output_tokens: 6
            })
        );
        assert_eq!(second.finish, FinishReason::Stop);

        // What the server received: the key, the version header, and the history in the
        // provider's own shape.
        let requests = server.requests();
        assert_eq!(requests.len(), 2);
        assert!(
            requests
                .iter()
                .all(|r| r.provider == provider && r.api_key.as_deref() == Some(KEY))
        );
        let sent = &requests[1].body;
        assert_eq!(sent["stream"], json!(true));
        assert_eq!(sent["model"], json!("test-model"));
        match provider {
            ProviderKind::OpenAi => {
                assert_eq!(sent["stream_options"], json!({"include_usage": true}));
                assert_eq!(sent["max_tokens"], json!(256));
                assert_eq!(
                    sent["messages"],
                    json!([
                        {"role": "system", "content": "You are terse."},
                        {"role": "user", "content": "Weather in Paris?"},
                        {"role": "assistant", "content": "Let me look.", "tool_calls": [{"id": "call_1",
                          "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                        {"role": "tool", "tool_call_id": "call_1", "content": "{\"sky\":\"clear\",\"celsius\":21}"},
                    ])
                );
                assert_eq!(sent["tools"][0]["function"]["name"], json!("get_weather"));
                assert_eq!(sent["tool_choice"], json!("auto"));
            }
            ProviderKind::Anthropic => {
                assert_eq!(
                    requests[1].anthropic_version.as_deref(),
                    Some(llm::ANTHROPIC_VERSION)
                );
                assert_eq!(sent["system"], json!("You are terse."));
                assert_eq!(sent["max_tokens"], json!(256));
                assert_eq!(
                    sent["messages"],
                    json!([
                        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
                        {"role": "assistant", "content": [{"type": "text", "text": "Let me look."},
                          {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}]},
                        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1",
                          "content": [{"type": "text", "text": "{\"sky\":\"clear\",\"celsius\":21}"}]}]},
                    ])
                );
                assert_eq!(
                    sent["tools"][0]["input_schema"]["required"],
                    json!(["city"])
                );
                assert_eq!(sent["tool_choice"], json!({"type": "auto"}));
            }
        }
    }
}

#[tokio::test]
async fn malformed_tool_arguments_are_an_event_the_loop_hands_back_not_a_failure() {
    for provider in BOTH {
        let server = given_scripted().await;
        let model = given_model(&server, provider);
        server.push(Reply::new().tool_call_raw("call_9", "get_weather", [r#"{"city": "Par"#]));
        server.push(Reply::new().text("Sorry, retrying."));

        let mut history = vec![Message::user("Weather?")];
        let mut stream = model
            .stream(&given_request(history.clone()))
            .await
            .expect("stream");
        let (events, error) = drain(&mut stream).await;
        assert!(error.is_none(), "{provider}: {error:?}");
        let (call, reason) = events
            .iter()
            .find_map(|e| match e {
                StreamEvent::ToolCallFinished { call, error, .. } => {
                    Some((call.clone(), error.clone()))
                }
                _ => None,
            })
            .expect("the call finished");
        let reason = reason.expect("the arguments are reported as malformed");
        assert!(
            reason.contains("not a JSON object") && reason.contains(r#"{"city": "Par"#),
            "{reason}"
        );
        // The call keeps what the model wrote; `input()` gives the same reason.
        assert_eq!(call.arguments, Value::String(r#"{"city": "Par"#.into()));
        assert_eq!(call.input().expect_err("malformed"), reason);

        // The loop answers with an error result; the history must still be accepted.
        history.push(stream.collect().await.expect("complete").message);
        history.push(Message::tool_result("call_9", reason.clone(), true));
        model
            .complete(&given_request(history))
            .await
            .expect("next step");
        let sent = &server.requests()[1].body;
        match provider {
            ProviderKind::OpenAi => {
                assert_eq!(
                    sent["messages"][2]["tool_calls"][0]["function"]["arguments"],
                    json!(r#"{"city": "Par"#)
                );
                assert_eq!(
                    sent["messages"][3]["content"],
                    json!(format!("Error: {reason}"))
                );
            }
            ProviderKind::Anthropic => {
                assert_eq!(sent["messages"][1]["content"][0]["input"], json!({}));
                assert_eq!(sent["messages"][2]["content"][0]["is_error"], json!(true));
            }
        }
    }
}

#[tokio::test]
async fn several_calls_in_one_answer_keep_their_order_and_tool_choice_is_sent() {
    for provider in BOTH {
        let server = given_scripted().await;
        let model = given_model(&server, provider);
        server.push(
            Reply::new()
                .tool_call("a", "get_weather", json!({"city": "Oslo"}))
                .tool_call("b", "get_weather", json!({"city": "Rome"}))
                // A tool without parameters: some servers send no arguments at all.
                .tool_call_raw("c", "get_weather", Vec::<String>::new()),
        );
        let mut request = given_request(vec![Message::user("Oslo and Rome?")]);
        request.tool_choice = ToolChoice::Tool {
            name: "get_weather".into(),
        };
        let completion = model.complete(&request).await.expect("complete");
        let calls: Vec<(String, Value)> = completion
            .message
            .tool_calls()
            .map(|c| (c.id.clone(), c.arguments.clone()))
            .collect();
        assert_eq!(
            calls,
            vec![
                ("a".into(), json!({"city": "Oslo"})),
                ("b".into(), json!({"city": "Rome"})),
                ("c".into(), json!({})),
            ],
            "{provider}"
        );
        assert_eq!(completion.finish, FinishReason::ToolCalls);
        let sent = &server.requests()[0].body;
        let expected = match provider {
            ProviderKind::OpenAi => {
                json!({"type": "function", "function": {"name": "get_weather"}})
            }
            ProviderKind::Anthropic => json!({"type": "tool", "name": "get_weather"}),
        };
        assert_eq!(sent["tool_choice"], expected);
    }
}

#[tokio::test]
async fn requests_the_providers_would_refuse_are_refused_before_sending() {
    let server = given_scripted().await;
    let model = given_model(&server, ProviderKind::OpenAi);
    let mut request = given_request(vec![Message::user("hi")]);
    request.tools[0].name = "workspace.read".into();
    let error = model
        .stream(&request)
        .await
        .expect_err("bad tool name")
        .to_string();
    assert!(
        error.contains("`workspace.read`") && error.contains("A-Z"),
        "{error}"
    );

    let mut request = given_request(vec![Message::user("hi")]);
    request.tool_choice = ToolChoice::Tool {
        name: "nope".into(),
    };
    let error = model
        .stream(&request)
        .await
        .expect_err("unknown tool")
        .to_string();
    assert!(error.contains("`nope`"), "{error}");

    let error = model
        .stream(&given_request(vec![]))
        .await
        .expect_err("no messages")
        .to_string();
    assert!(error.contains("no messages"), "{error}");

    let request = given_request(vec![Message {
        role: Role::User,
        content: vec![Part::ToolCall(ToolCall {
            id: "x".into(),
            name: "y".into(),
            arguments: json!({}),
        })],
    }]);
    let error = model
        .stream(&request)
        .await
        .expect_err("misplaced part")
        .to_string();
    assert!(error.contains("messages[0]"), "{error}");
    assert!(server.requests().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn the_neutral_types_survive_a_round_trip_through_json() {
    let history = vec![
        Message::user("Weather?"),
        Message {
            role: Role::Assistant,
            content: vec![
                Part::text("Looking."),
                Part::ToolCall(ToolCall {
                    id: "c1".into(),
                    name: "get_weather".into(),
                    arguments: json!({"city": "Oslo"}),
                }),
            ],
        },
        Message::tool_result("c1", "cold", false),
        Message::tool_result("c2", "boom", true),
    ];
    let text = serde_json::to_string(&history).expect("json");
    let back: Vec<Message> = serde_json::from_str(&text).expect("back");
    assert_eq!(back, history);
    let event = StreamEvent::Finished {
        reason: FinishReason::Other("pause_turn".into()),
    };
    let back: StreamEvent =
        serde_json::from_str(&serde_json::to_string(&event).expect("json")).expect("back");
    assert_eq!(back, event);
}

#[tokio::test]
async fn tool_calls_decide_the_finish_reason_when_a_server_says_stop() {
    // Ollama and llama.cpp end an answer holding tool calls with `stop`.
    for provider in BOTH {
        let server = given_scripted().await;
        let model = given_model(&server, provider);
        server.push(
            Reply::new()
                .tool_call("c", "get_weather", json!({"city": "Oslo"}))
                .finish(FinishReason::Stop),
        );
        let completion = model
            .complete(&given_request(vec![Message::user("Oslo?")]))
            .await
            .expect("complete");
        assert_eq!(completion.finish, FinishReason::ToolCalls, "{provider}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_conversations_are_answered_from_their_own_history() {
    let server = given_scripted().await;
    // Call a tool for a user's question, answer from a tool result: whatever the order in
    // which the conversations' requests arrive.
    server.set_responder(|request| {
        let body = &request.body;
        let last = body["messages"]
            .as_array()
            .and_then(|m| m.last())
            .cloned()
            .unwrap_or_default();
        let tool_result =
            last["role"] == json!("tool") || last["content"][0]["type"] == json!("tool_result");
        if tool_result {
            let content = last["content"].as_str().map_or_else(
                || {
                    last["content"][0]["content"][0]["text"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned()
                },
                str::to_owned,
            );
            Reply::new().text(format!("The tool said {content}."))
        } else {
            let city = last["content"]
                .as_str()
                .or_else(|| last["content"][0]["text"].as_str())
                .unwrap_or("")
                .to_owned();
            Reply::new().tool_call("call_1", "get_weather", json!({"city": city}))
        }
    });
    let mut tasks = Vec::new();
    for i in 0..40 {
        let provider = BOTH[i % 2];
        let model = given_model(&server, provider);
        tasks.push(tokio::spawn(async move {
            let city = format!("City{i}");
            let mut history = vec![Message::user(city.clone())];
            let first = model.complete(&given_request(history.clone())).await?;
            let call = first.message.tool_calls().next().cloned().expect("a call");
            assert_eq!(call.arguments, json!({"city": city}));
            history.push(first.message);
            history.push(Message::tool_result(
                &call.id,
                format!("sun in {city}"),
                false,
            ));
            let second = model.complete(&given_request(history)).await?;
            assert_eq!(
                second.message.text(),
                format!("The tool said sun in {city}.")
            );
            Ok::<_, llm::Error>(())
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("conversation");
    }
    assert_eq!(server.requests().len(), 80);

    // A fixed fallback replaces the responder.
    server.set_fallback(Reply::new().text("fixed"));
    let model = given_model(&server, ProviderKind::OpenAi);
    let completion = model
        .complete(&given_request(vec![Message::user("anything")]))
        .await
        .expect("fallback");
    assert_eq!(completion.message.text(), "fixed");
}

#[tokio::test]
async fn openai_servers_that_number_every_call_zero_still_give_separate_calls() {
    let server = given_scripted().await;
    let model = given_model(&server, ProviderKind::OpenAi);
    let chunk = |delta: Value| {
        format!(
            "data: {}\n\n",
            json!({"choices": [{"index": 0, "delta": delta, "finish_reason": null}]})
        )
    };
    let mut body = String::new();
    for (id, city) in [("call_a", "Oslo"), ("call_b", "Rome")] {
        body += &chunk(
            json!({"tool_calls": [{"index": 0, "id": id, "type": "function",
            "function": {"name": "get_weather", "arguments": ""}}]}),
        );
        body += &chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": format!(r#"{{"city":"{city}"}}"#)}}]}),
        );
    }
    body += "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n";
    server.push(Reply::raw(200, "text/event-stream", body));
    let completion = model
        .complete(&given_request(vec![Message::user("Oslo and Rome?")]))
        .await
        .expect("complete");
    let calls: Vec<(&str, &Value)> = completion
        .message
        .tool_calls()
        .map(|c| (c.id.as_str(), &c.arguments))
        .collect();
    assert_eq!(
        calls,
        [
            ("call_a", &json!({"city": "Oslo"})),
            ("call_b", &json!({"city": "Rome"}))
        ]
    );
}

/// Found against llama-cpp-python's server (issue 15 item 1's real-server check): it
/// refuses `content: null` beside tool calls and fails on a missing `content`.
#[tokio::test]
async fn issue15_assistant_content_beside_tool_calls_is_an_empty_string() {
    let server = given_scripted().await;
    let model = given_model(&server, ProviderKind::OpenAi);
    server.push(Reply::new().text("ok"));
    let history = vec![
        Message::user("Oslo?"),
        Message {
            role: Role::Assistant,
            content: vec![Part::ToolCall(ToolCall {
                id: "c".into(),
                name: "get_weather".into(),
                arguments: json!({"city": "Oslo"}),
            })],
        },
        Message::tool_result("c", "cold", false),
    ];
    model.complete(&given_request(history)).await.expect("sent");
    let sent = &server.requests()[0].body;
    assert_eq!(sent["messages"][2]["content"], json!(""));
    assert_eq!(sent["messages"][2]["tool_calls"][0]["id"], json!("c"));
}
