//! Cancel: `Harness::cancel` stops the model stream and the tool calls, keeps the partial
//! text, answers the calls as interrupted, finishes the fiber and ends the stream with
//! `abort`. A client that goes away does not cancel.

use std::time::{Duration, Instant};

use llm::ProviderKind;
use llm::scripted::Reply;
use serde_json::{Value, json};
use think::ui::Chunk;

use crate::support::*;

const SLOW: &str = r#"
import { Think } from "agents";
export default class Slow extends Think {
  getTools() {
    return {
      slow: {
        description: "Takes a while",
        inputSchema: { type: "object", properties: {} },
        execute: async () => {
          await this.workspace.write("/slow.txt", "written before the wait");
          this.setState({ slowRan: true });
          await new Promise((resolve) => setTimeout(resolve, 3000));
          return "slow done";
        },
      },
    };
  }
  async ping() { return "pong"; }
  async slowState() { return this.state?.slowRan ?? false; }
}
"#;

async fn fiber_of(given: &Given, class: &str, name: &str, session: &str) -> (String, Value) {
    let fiber = latest_fiber(given, &agents::Address::new(class, name), session).await;
    (
        fiber.status.as_str().to_owned(),
        fiber.result.unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_cancel_stops_the_model_stream_and_keeps_the_partial_text() {
    let given = given_harness(ProviderKind::OpenAi, &[("Slow.ts", SLOW)]).await;
    given.model.push(
        Reply::new()
            .text_chunks(["one ", "two ", "three ", "four ", "five ", "six"])
            .delay(Duration::from_millis(300)),
    );
    let mut turn = given.start("Slow", "s", None, "count slowly").await;
    let session = turn.session_id.clone();
    let mut chunks = Vec::new();
    while !matches!(chunks.last(), Some(Chunk::TextDelta { .. })) {
        chunks.push(turn.chunks.recv().await.expect("a chunk"));
    }
    // Nothing to cancel in another session.
    assert!(!given.harness.cancel("Slow", "s", "no-such-session"));
    let cancelled_at = Instant::now();
    assert!(given.harness.cancel("Slow", "s", &session));
    while let Some(chunk) = turn.chunks.recv().await {
        chunks.push(chunk);
    }
    assert!(
        cancelled_at.elapsed() < Duration::from_secs(1),
        "the stream stopped at once, not when the model finished"
    );
    assert_eq!(
        chunks.last(),
        Some(&Chunk::Abort {
            reason: Some("cancelled".to_owned())
        }),
        "{chunks:?}"
    );
    assert!(
        !chunks
            .iter()
            .any(|c| matches!(c, Chunk::Finish { .. } | Chunk::Error { .. }))
    );
    let text = streamed_text(&chunks);
    assert!(text.starts_with("one ") && !text.contains("six"), "{text}");
    // The partial text is the answer in the session; the fiber is finished.
    let history = given.history("Slow", "s", &session).await;
    let roles: Vec<&str> = history.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(roles, ["user", "assistant"]);
    assert_eq!(history[1].1["content"][0]["text"], json!(text));
    let (status, result) = fiber_of(&given, "Slow", "s", &session).await;
    assert_eq!(
        (status.as_str(), &result["stopped"]),
        ("completed", &json!("cancelled"))
    );
    // The turn is over: nothing to cancel, nothing to reconnect to; the agent serves on.
    assert!(!given.harness.cancel("Slow", "s", &session));
    given.model.push(Reply::new().text("Next."));
    let (_, chunks) = given.chat("Slow", "s", Some(&session), "again").await;
    assert_eq!(streamed_text(&chunks), "Next.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_cancel_answers_tool_calls_in_flight_and_not_yet_run_as_interrupted() {
    let given = given_harness(ProviderKind::OpenAi, &[("Slow.ts", SLOW)]).await;
    given
        .model
        .push(Reply::new().tool_call("a", "slow", json!({})).tool_call(
            "b",
            "write",
            json!({"path": "/b.txt", "content": "b"}),
        ));
    let mut turn = given.start("Slow", "s", None, "go slow").await;
    let session = turn.session_id.clone();
    let mut chunks = Vec::new();
    // The slow call is running once both calls' inputs are in and the model is done.
    while chunks
        .iter()
        .filter(|c| matches!(c, Chunk::ToolInputAvailable { .. }))
        .count()
        < 2
    {
        chunks.push(turn.chunks.recv().await.expect("a chunk"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cancelled_at = Instant::now();
    assert!(given.harness.cancel("Slow", "s", &session));
    while let Some(chunk) = turn.chunks.recv().await {
        chunks.push(chunk);
    }
    assert!(
        cancelled_at.elapsed() < Duration::from_secs(2),
        "the slow call was not waited for"
    );
    assert!(
        matches!(chunks.last(), Some(Chunk::Abort { .. })),
        "{chunks:?}"
    );
    let outputs: Vec<(String, String)> = chunks
        .iter()
        .filter_map(|c| match c {
            Chunk::ToolOutputError {
                tool_call_id,
                error_text,
            } => Some((tool_call_id.clone(), error_text.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        outputs,
        [
            ("a".to_owned(), llm::INTERRUPTED_RESULT.to_owned()),
            ("b".to_owned(), llm::INTERRUPTED_RESULT.to_owned())
        ]
    );
    // The stream ended at once, and the agent's own slow tool was stopped with it.
    let mut status = String::new();
    for _ in 0..100 {
        status = fiber_of(&given, "Slow", "s", &session).await.0;
        if status != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, "completed");
    // Both calls are answered in the history; the second never ran.
    let history = given.history("Slow", "s", &session).await;
    let roles: Vec<&str> = history.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "tool"]);
    assert_eq!(
        history[2].1["content"][1]["content"],
        llm::INTERRUPTED_RESULT
    );
    assert_eq!(given.read_file("Slow", "s", "/b.txt").await, None);
    assert_eq!(given.model.requests().len(), 1);
    let (status, result) = fiber_of(&given, "Slow", "s", &session).await;
    assert_eq!(
        (status.as_str(), &result["stopped"]),
        ("completed", &json!("cancelled"))
    );
    // The next turn's history is valid for the provider.
    given
        .model
        .push(Reply::new().text("Stopped, as you asked."));
    let (_, chunks) = given.chat("Slow", "s", Some(&session), "ok").await;
    assert_eq!(finish_metadata(&chunks)["stopped"], "answered");
    assert_eq!(
        given
            .host
            .call("Slow", "s", "ping", vec![])
            .await
            .expect("ping"),
        json!("pong")
    );
}

/// Issue 15: a cancel stopped the stream, but the agent's own tool (a turn of its isolate)
/// ran on and committed its writes after the user had cancelled it. Now the tool's turn
/// stops with the cancel and its writes are rolled back; the agent answers at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_a_cancelled_own_tool_call_is_stopped_and_its_writes_rolled_back() {
    let given = given_harness(ProviderKind::OpenAi, &[("Slow.ts", SLOW)]).await;
    given
        .model
        .push(Reply::new().tool_call("a", "slow", json!({})));
    let mut turn = given.start("Slow", "s", None, "go slow").await;
    let session = turn.session_id.clone();
    while !matches!(
        turn.chunks.recv().await.expect("a chunk"),
        Chunk::ToolInputAvailable { .. }
    ) {}
    // Long enough for the tool to have written and be waiting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(given.harness.cancel("Slow", "s", &session));
    while turn.chunks.recv().await.is_some() {}
    let cancelled_at = Instant::now();
    // The agent is free at once: its tool's turn did not run on for its 3 s.
    let pong = given
        .host
        .call("Slow", "s", "ping", vec![])
        .await
        .expect("ping");
    assert_eq!(pong, json!("pong"));
    assert!(
        cancelled_at.elapsed() < Duration::from_millis(1500),
        "the cancelled tool's turn ran on"
    );
    // What the tool wrote before the cancel never became the agent's.
    assert_eq!(given.read_file("Slow", "s", "/slow.txt").await, None);
    let ran = given
        .host
        .call("Slow", "s", "slowState", vec![])
        .await
        .expect("state");
    assert_eq!(ran, json!(false));
    // Even after the tool's 3 s would have passed.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(given.read_file("Slow", "s", "/slow.txt").await, None);
}
