//! Against a real OpenAI-compatible server running a real model (llama.cpp, see
//! `../shared/local-llm.md`), when one is given: `ISLET_LOCAL_LLM=http://127.0.0.1:18900/v1
//! cargo test -p islet-llm --test it local_llm`. Not in CI (building the server takes
//! minutes); skipped, saying so, when the variable is unset.

use crate::{drain, given_request, http};
use llm::{
    Endpoint, FinishReason, Message, Model, ModelSpec, Options, Part, ProviderKind, StreamEvent,
    ToolCall,
};
use serde_json::json;
use std::time::Duration;

#[allow(clippy::print_stderr)]
fn local_model() -> Option<Model> {
    let Ok(url) = std::env::var("ISLET_LOCAL_LLM") else {
        eprintln!("skipped: set ISLET_LOCAL_LLM to an OpenAI-compatible base URL to run");
        return None;
    };
    let endpoint = Endpoint {
        spec: ModelSpec::new(ProviderKind::OpenAi, "local"),
        base_url: url,
        api_key: None,
    };
    let options = Options {
        stall_timeout: Duration::from_secs(120),
        ..Options::default()
    };
    Some(Model::new(http(), endpoint).with_options(options))
}

#[tokio::test]
async fn local_llm_streams_text_usage_and_accepts_a_tool_history() {
    let Some(model) = local_model() else { return };
    let mut request = given_request(vec![Message::user("Say hello in one short sentence.")]);
    request.tools.clear();
    request.max_tokens = Some(24);
    let mut stream = model
        .stream(&request)
        .await
        .expect("the server accepts the request");
    let (events, error) = drain(&mut stream).await;
    assert!(error.is_none(), "{error:?}");
    let deltas = events
        .iter()
        .filter(|e| matches!(e, StreamEvent::TextDelta { .. }))
        .count();
    assert!(deltas > 1, "streamed in pieces: {events:?}");
    let completion = stream.collect().await.expect("complete");
    assert!(!completion.message.text().trim().is_empty());
    // Usage is optional on this wire: llama-cpp-python's server sends none while streaming;
    // what is reported must be real counts.
    if let Some(usage) = completion.usage {
        assert!(
            usage.input_tokens > 0 && usage.output_tokens > 0,
            "{usage:?}"
        );
    }
    assert!(
        matches!(completion.finish, FinishReason::Stop | FinishReason::Length),
        "{:?}",
        completion.finish
    );

    // A history holding a tool call, its result, and an interrupted call: accepted as sent.
    let history = vec![
        Message::user("What is the weather in Paris?"),
        Message {
            role: llm::Role::Assistant,
            content: vec![
                Part::ToolCall(ToolCall {
                    id: "call_1".into(),
                    name: "get_weather".into(),
                    arguments: json!({"city": "Paris"}),
                }),
                Part::ToolCall(ToolCall {
                    id: "call_2".into(),
                    name: "get_weather".into(),
                    arguments: json!({"city": "Lyon"}),
                }),
            ],
        },
        Message::tool_result("call_1", r#"{"sky":"clear","celsius":21}"#, false),
    ];
    let mut request = given_request(history);
    request.max_tokens = Some(24);
    let completion = model
        .complete(&request)
        .await
        .expect("the server accepts the history");
    assert!(
        !completion.message.content.is_empty(),
        "the model answered: {:?}",
        completion.message
    );
}
