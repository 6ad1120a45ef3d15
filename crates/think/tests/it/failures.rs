//! Bad input and bad models: errors go back to the model or end the turn with an error
//! event, never a crash; the agent keeps serving.

use llm::ProviderKind;
use llm::scripted::{Reply, ScriptedModel};
use serde_json::json;
use think::ChatRequest;
use think::ui::Chunk;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_tool_errors_unknown_tools_and_malformed_arguments_go_back_to_the_model() {
    let given = given_harness(ProviderKind::OpenAi, &[("Assistant.ts", ASSISTANT)]).await;
    given.model.push(
        Reply::new()
            .tool_call("a", "teleport", json!({}))
            .tool_call_raw("b", "read", ["{\"path\": \"/x", ".md\""])
            .tool_call("c", "read", json!({"path": "/missing.md"}))
            .tool_call(
                "d",
                "execute",
                json!({"code": "async () => { throw new Error('kaput') }"}),
            ),
    );
    given
        .model
        .push(Reply::new().text("Sorry, none of that worked."));
    let (session, chunks) = given.chat("Assistant", "me", None, "Try things").await;
    assert_well_formed(&chunks);
    let errors: Vec<String> = chunks
        .iter()
        .filter_map(|c| match c {
            Chunk::ToolOutputError {
                tool_call_id,
                error_text,
            } => Some(format!("{tool_call_id}: {error_text}")),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(
        errors[0].contains("there is no tool `teleport`"),
        "{}",
        errors[0]
    );
    assert!(errors[1].contains("not a JSON object"), "{}", errors[1]);
    assert!(errors[2].contains("/missing.md"), "{}", errors[2]);
    assert!(errors[3].contains("kaput"), "{}", errors[3]);
    assert_eq!(finish_metadata(&chunks)["stopped"], "answered");
    // The model was told, as tool results it can act on.
    let second = given.model.requests()[1].body.to_string();
    assert!(second.contains("there is no tool"), "{second}");
    assert!(second.contains("kaput"), "{second}");
    let roles: Vec<String> = given
        .history("Assistant", "me", &session)
        .await
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_a_model_that_never_stops_calling_tools_stops_at_max_steps() {
    let given = given_harness(ProviderKind::OpenAi, &[("Assistant.ts", ASSISTANT)]).await;
    given
        .model
        .set_fallback(Reply::new().tool_call("again", "list", json!({"path": "/"})));
    let (session, chunks) = given.chat("Assistant", "me", None, "Loop forever").await;
    assert_well_formed(&chunks);
    // Assistant sets maxSteps = 4.
    assert_eq!(given.model.requests().len(), 4);
    let meta = finish_metadata(&chunks);
    assert_eq!(meta["stopped"], "maxSteps");
    assert_eq!(meta["steps"], 4);
    assert_eq!(
        given.history("Assistant", "me", &session).await.len(),
        1 + 4 * 2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_model_failure_gives_an_error_event_keeps_the_partial_answer_and_the_agent_serves_on()
 {
    let given = given_harness(ProviderKind::OpenAi, &[("Assistant.ts", ASSISTANT)]).await;
    // The connection breaks mid-answer.
    given.model.push(
        Reply::new()
            .text_chunks(["Half an ", "answer"])
            .then_abort(),
    );
    let (session, chunks) = given.chat("Assistant", "me", None, "Tell me").await;
    assert_well_formed(&chunks);
    assert!(
        chunks.iter().any(|c| matches!(c, Chunk::Error { .. })),
        "{chunks:?}"
    );
    assert_eq!(finish_metadata(&chunks)["stopped"], "error");
    let history = given.history("Assistant", "me", &session).await;
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].1["content"][0]["text"], "Half an answer");
    let failed = latest_fiber(&given, &agents::Address::new("Assistant", "me"), &session).await;
    assert_eq!(failed.status.as_str(), "failed");

    // The endpoint answers garbage: an error event again.
    given
        .model
        .push(Reply::raw(200, "text/html", "<html>oops</html>"));
    let (_, chunks) = given.chat("Assistant", "me", Some(&session), "Again").await;
    assert!(
        chunks.iter().any(|c| matches!(c, Chunk::Error { .. })),
        "{chunks:?}"
    );

    // The agent still serves calls and the next chat, in the same session.
    assert_still_serves(&given).await;
    given
        .model
        .push(Reply::new().text("Here is the whole answer."));
    let (_, chunks) = given
        .chat("Assistant", "me", Some(&session), "Please finish")
        .await;
    assert_eq!(streamed_text(&chunks), "Here is the whole answer.");
    assert_eq!(finish_metadata(&chunks)["stopped"], "answered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_model_endpoint_down_gives_an_error_event() {
    // A port nothing listens on (the server is dropped before the chat).
    let down = ScriptedModel::start().await.expect("scripted");
    let url = down.base_url(ProviderKind::OpenAi);
    drop(down);
    let spare = ScriptedModel::start().await.expect("scripted");
    let given = given_harness_with(
        spare,
        given_settings(ProviderKind::OpenAi, Some(url)),
        &[("Assistant.ts", ASSISTANT)],
    )
    .await;
    let (_, chunks) = given.chat("Assistant", "me", None, "Hello?").await;
    let error = chunks.iter().find_map(|c| match c {
        Chunk::Error { error_text } => Some(error_text.clone()),
        _ => None,
    });
    let error = error.expect("an error event");
    assert!(error.contains("cannot reach"), "{error}");
    assert_still_serves(&given).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_no_model_configured_is_a_clear_error_and_stores_nothing() {
    let model = ScriptedModel::start().await.expect("scripted");
    let mut settings = given_settings(ProviderKind::OpenAi, None);
    settings.default_model = None;
    let given = given_harness_with(
        model,
        settings,
        &[("Assistant.ts", ASSISTANT), ("Counter.ts", COUNTER)],
    )
    .await;
    let request = || ChatRequest {
        session_id: None,
        text: "Hello".into(),
        ..Default::default()
    };
    let error = given
        .harness
        .chat("Assistant", "me", request())
        .await
        .expect_err("no model");
    assert_eq!(error.code(), "NO_MODEL");
    assert!(
        error.to_string().contains("--model openai:gpt-4.1-mini"),
        "{error}"
    );
    let sessions = given
        .host
        .with_db("Assistant", "me", |db| {
            Ok(db.sessions().list(&Default::default())?.sessions.len())
        })
        .await
        .expect("sessions");
    assert_eq!(sessions, 0);
    // A class that is not a chat agent, and an empty message, are refused with what to do.
    let error = given
        .harness
        .chat("Counter", "c", request())
        .await
        .expect_err("not think");
    assert_eq!(error.code(), "NOT_A_CHAT_AGENT");
    assert!(error.to_string().contains("extends Think"), "{error}");
    let error = given
        .harness
        .chat(
            "Assistant",
            "me",
            ChatRequest {
                session_id: None,
                text: "  ".into(),
                ..Default::default()
            },
        )
        .await
        .expect_err("empty");
    assert_eq!(error.code(), "INVALID_INPUT");
    // Think's hooks are not callable from outside; the class's own methods are.
    let class = given.host.classes().get("Assistant").expect("class");
    assert!(class.think);
    assert_eq!(class.methods, ["ping"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_rate_limited_then_success_completes_the_turn() {
    let model = ScriptedModel::start().await.expect("scripted");
    let mut settings = given_settings(
        ProviderKind::Anthropic,
        Some(model.base_url(ProviderKind::Anthropic)),
    );
    settings.options.retry.max_retries = 2;
    let given = given_harness_with(model, settings, &[("Assistant.ts", ASSISTANT)]).await;
    given.model.push(Reply::rate_limited("0"));
    given.model.push(Reply::new().text("After the wait."));
    let (_, chunks) = given.chat("Assistant", "me", None, "Hi").await;
    assert_eq!(streamed_text(&chunks), "After the wait.");
    assert!(
        !chunks.iter().any(|c| matches!(c, Chunk::Error { .. })),
        "{chunks:?}"
    );
    assert_eq!(given.model.requests().len(), 2);
}

/// After a failed turn the agent still answers a plain call (its `ping` method).
async fn assert_still_serves(given: &Given) {
    assert_eq!(
        given
            .host
            .call("Assistant", "me", "ping", vec![])
            .await
            .expect("ping"),
        json!("pong")
    );
}
