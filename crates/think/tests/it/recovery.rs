//! Durable turns: a turn a crash left `running` is resumed: completed tool calls are not
//! run again, the in-flight one gets the interrupted result, the loop goes on.

use llm::scripted::Reply;
use llm::{Message, Part, ProviderKind, Role, ToolCall};
use serde_json::json;
use store::{NewMessage, ToolOutcome};

use crate::support::*;

fn write_call(id: &str, path: &str) -> ToolCall {
    ToolCall {
        id: id.to_owned(),
        name: "write".to_owned(),
        arguments: json!({"path": path, "content": id}),
    }
}

/// What the store holds after a crash while the second of three `write` calls of step 1
/// ran: the first has its result, the second only its call, the third never started.
/// Returns the session.
async fn given_turn_crashed_mid_calls(given: &Given, class: &str) -> String {
    given_turn_crashed_mid_calls_at(given, &agents::Address::new(class, "me")).await
}

/// [`given_turn_crashed_mid_calls`] for any agent, a sub-agent too.
async fn given_turn_crashed_mid_calls_at(given: &Given, agent: &agents::Address) -> String {
    given
        .host
        .with_new_or_existing_db_at(agent, |db| {
            let session = db.sessions().create("crashed")?;
            let user = Message::user("write three files");
            db.sessions().append_to_leaf(
                &session.id,
                &NewMessage::new(store::Role::User, json!(user)).with_text("write three files"),
            )?;
            let fiber = db.fibers().start(think::FIBER_NAME, Some(&session.id))?;
            db.fibers().step_started(&fiber.id, &json!({"step": 1}))?;
            let calls = [
                write_call("c1", "/one.txt"),
                write_call("c2", "/two.txt"),
                write_call("c3", "/three.txt"),
            ];
            let answer = Message {
                role: Role::Assistant,
                content: calls.iter().cloned().map(Part::ToolCall).collect(),
            };
            db.sessions().append_to_leaf(
                &session.id,
                &NewMessage::new(store::Role::Assistant, json!(answer)).calling(["c1", "c2", "c3"]),
            )?;
            db.fibers()
                .tool_call(&fiber.id, "1:c1", &json!({"name": "write"}))?;
            db.fibers().tool_result(
                &fiber.id,
                "1:c1",
                ToolOutcome::Ok,
                &json!({"content": "wrote /one.txt before the crash", "isError": false}),
            )?;
            db.fibers()
                .tool_call(&fiber.id, "1:c2", &json!({"name": "write"}))?;
            Ok(session.id)
        })
        .await
        .expect("the crashed state")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_interrupted_turn_resumes_without_rerunning_completed_calls() {
    let given = given_harness(ProviderKind::OpenAi, &[("Assistant.ts", ASSISTANT)]).await;
    let session = given_turn_crashed_mid_calls(&given, "Assistant").await;
    given
        .model
        .push(Reply::new().text("Two of three are written."));

    assert_eq!(given.harness.recover_all().await, 1);

    // c1 and c2 did not run again (their files were never written: the fake crash state
    // says they ran, but nothing did), c3 ran.
    assert_eq!(given.read_file("Assistant", "me", "/one.txt").await, None);
    assert_eq!(given.read_file("Assistant", "me", "/two.txt").await, None);
    assert_eq!(
        given
            .read_file("Assistant", "me", "/three.txt")
            .await
            .as_deref(),
        Some("c3")
    );
    let history = given.history("Assistant", "me", &session).await;
    let roles: Vec<&str> = history.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant"]);
    let results = &history[2].1["content"];
    assert_eq!(results[0]["content"], "wrote /one.txt before the crash");
    assert_eq!(results[1]["content"], llm::INTERRUPTED_RESULT);
    assert_eq!(results[1]["is_error"], true);
    assert_eq!(results[2]["call_id"], "c3");
    assert_eq!(
        history[3].1["content"][0]["text"],
        "Two of three are written."
    );
    // The model saw every result, the interrupted one included.
    let request = given.model.requests()[0].body.to_string();
    assert!(request.contains("interrupted"), "{request}");
    let fiber = latest_fiber(&given, &agents::Address::new("Assistant", "me"), &session).await;
    assert_eq!((fiber.status.as_str(), fiber.recoveries), ("completed", 1));
    // Nothing is left to resume.
    assert_eq!(given.harness.recover_all().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_turn_cut_off_during_inference_resumes_on_the_next_chat() {
    let given = given_harness(ProviderKind::Anthropic, &[("Assistant.ts", ASSISTANT)]).await;
    let session = given
        .host
        .with_new_or_existing_db("Assistant", "me", |db| {
            let session = db.sessions().create("cut")?;
            let user = Message::user("first question");
            db.sessions().append_to_leaf(
                &session.id,
                &NewMessage::new(store::Role::User, json!(user)).with_text("first question"),
            )?;
            let fiber = db.fibers().start(think::FIBER_NAME, Some(&session.id))?;
            db.fibers().step_started(&fiber.id, &json!({"step": 1}))?;
            Ok(session.id)
        })
        .await
        .expect("the crashed state");
    given.model.push(Reply::new().text("First answer."));
    given.model.push(Reply::new().text("Second answer."));
    // The next chat finishes the interrupted turn before its own.
    let (_, chunks) = given
        .chat("Assistant", "me", Some(&session), "second question")
        .await;
    assert_eq!(streamed_text(&chunks), "Second answer.");
    let texts: Vec<String> = given
        .history("Assistant", "me", &session)
        .await
        .iter()
        .map(|(role, content)| {
            format!(
                "{role}: {}",
                content["content"][0]["text"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        texts,
        [
            "user: first question",
            "assistant: First answer.",
            "user: second question",
            "assistant: Second answer."
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_a_turns_stream_is_stored_with_its_fiber() {
    let given = given_harness(ProviderKind::OpenAi, &[("Assistant.ts", ASSISTANT)]).await;
    given.model.push(
        Reply::new()
            .text("Listing.")
            .tool_call("c1", "list", json!({"path": "/"})),
    );
    given
        .model
        .push(Reply::new().text_chunks(["Empty", " workspace."]));
    let (session, chunks) = given.chat("Assistant", "me", None, "What is there?").await;
    assert_well_formed(&chunks);
    let stored = given
        .host
        .with_db("Assistant", "me", move |db| {
            let fiber = db.fibers().latest_of_session(&session)?.expect("fiber");
            Ok(db.fibers().chunks_after(&fiber.id, 0, None)?)
        })
        .await
        .expect("stored chunks");
    let stored: Vec<think::ui::Chunk> = stored
        .iter()
        .map(|c| serde_json::from_str(&c.chunk).expect("a UI chunk"))
        .collect();
    // Everything up to the turn's end (`finish` follows the fiber's completion).
    assert_eq!(stored[..], chunks[..chunks.len() - 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_reconnecting_after_a_restart_replays_the_stored_stream_then_the_resumed_rest() {
    use think::ui::Chunk;
    let given = given_harness(ProviderKind::OpenAi, &[("Assistant.ts", ASSISTANT)]).await;
    // What a process killed mid-inference leaves: the user's message, a running fiber
    // whose step is open, and the chunks it had streamed (and stored).
    let streamed = [
        Chunk::Start {
            message_id: "msg-old".into(),
            message_metadata: None,
        },
        Chunk::StartStep,
        Chunk::TextStart { id: "t1".into() },
        Chunk::TextDelta {
            id: "t1".into(),
            delta: "Half an ans".into(),
        },
    ];
    let session = given
        .host
        .with_new_or_existing_db("Assistant", "me", move |db| {
            let session = db.sessions().create("cut")?;
            let user = Message::user("question");
            db.sessions().append_to_leaf(
                &session.id,
                &NewMessage::new(store::Role::User, json!(user)).with_text("question"),
            )?;
            let fiber = db.fibers().start(think::FIBER_NAME, Some(&session.id))?;
            db.fibers().step_started(&fiber.id, &json!({"step": 1}))?;
            let chunks: Vec<String> = streamed
                .iter()
                .map(|c| serde_json::to_string(c).expect("json"))
                .collect();
            db.fibers().push_chunks(&fiber.id, &chunks)?;
            Ok(session.id)
        })
        .await
        .expect("the crashed state");
    given.model.push(
        Reply::new()
            .text_chunks(["The ", "whole ", "answer."])
            .delay(std::time::Duration::from_millis(50)),
    );
    // Nothing resumed the turn yet: reconnecting does, and replays first.
    let mut rx = given
        .harness
        .reconnect("Assistant", "me", &session)
        .await
        .expect("the interrupted turn is running again");
    let mut replayed = Vec::new();
    while let Some(chunk) = rx.recv().await {
        replayed.push(chunk);
    }
    assert_well_formed(&replayed);
    assert_eq!(
        replayed
            .iter()
            .filter(|c| matches!(c, Chunk::Start { .. }))
            .count(),
        1
    );
    assert_eq!(streamed_text(&replayed), "Half an ansThe whole answer.");
    assert_eq!(finish_metadata(&replayed)["stopped"], "answered");
    let history = given.history("Assistant", "me", &session).await;
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].1["content"][0]["text"], "The whole answer.");
    // Over: nothing to reconnect to.
    assert!(
        given
            .harness
            .reconnect("Assistant", "me", &session)
            .await
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_a_resumed_turn_keeps_what_before_turn_chose() {
    const CHOOSY: &str = r#"
import { Think } from "agents";
export default class Choosy extends Think {
  beforeTurn() { return { system: "Chosen for this turn.", activeTools: ["list"] }; }
}
"#;
    let given = given_harness(ProviderKind::OpenAi, &[("Choosy.ts", CHOOSY)]).await;
    // A first turn stashes the choices on its fiber.
    given.model.push(Reply::new().text("First."));
    let (session, _) = given.chat("Choosy", "c", None, "one").await;
    let stash = latest_fiber(&given, &agents::Address::new("Choosy", "c"), &session)
        .await
        .stash;
    assert_eq!(
        stash,
        Some(json!({"turn": {"system": "Chosen for this turn.", "activeTools": ["list"]}}))
    );
    // Another agent's turn a crash cut off after beforeTurn ran: its resumption uses the
    // stashed choices (beforeTurn is not asked again).
    let stash = stash.expect("a stash");
    given_turn_cut_after_its_start(&given, "Choosy", "d", "two", stash).await;
    given.model.push(Reply::new().text("Second."));
    assert_eq!(given.harness.recover_all().await, 1);
    let request = &given.model.requests()[1].body;
    assert_eq!(request["messages"][0]["content"], "Chosen for this turn.");
    let tools: Vec<&str> = request["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["function"]["name"].as_str().expect("name"))
        .collect();
    assert_eq!(tools, ["list"]);
}

const STEPPER: &str = r#"
import { Think } from "agents";
export default class Stepper extends Think {
  async onStepFinish(step) {
    const steps = (await this.storage.get("steps")) ?? [];
    steps.push({ step: step.step, calls: step.toolCalls.map((c) => c.toolName),
      results: step.toolResults.map((r) => [r.toolCallId, r.isError]), finishReason: step.finishReason });
    await this.storage.put("steps", steps);
  }
  async steps() { return (await this.storage.get("steps")) ?? []; }
}
"#;

/// `onStepFinish` hears of a step a crash interrupted once the resumed turn finishes it,
/// with every call's result (recorded, interrupted or run now), then of the next step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_on_step_finish_runs_for_the_resumed_step() {
    let given = given_harness(ProviderKind::OpenAi, &[("Stepper.ts", STEPPER)]).await;
    given_turn_crashed_mid_calls(&given, "Stepper").await;
    given.model.push(Reply::new().text("Done."));
    assert_eq!(given.harness.recover_all().await, 1);
    let steps = given
        .host
        .call("Stepper", "me", "steps", vec![])
        .await
        .expect("the steps");
    assert_eq!(
        steps,
        json!([
            {"step": 1, "calls": ["write", "write", "write"],
             "results": [["c1", false], ["c2", true], ["c3", false]], "finishReason": "tool-calls"},
            {"step": 2, "calls": [], "results": [], "finishReason": "stop"}
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue16_a_sub_agents_interrupted_turn_is_resumed_at_start_up() {
    // A delegation's child (a sub-agent of a chat class) whose turn a crash cut off.
    let given = given_harness(ProviderKind::OpenAi, &[("Assistant.ts", ASSISTANT)]).await;
    let parent = agents::Address::new("Assistant", "me");
    given
        .host
        .with_new_or_existing_db_at(&parent, |_| Ok(()))
        .await
        .unwrap();
    let child = given
        .host
        .sub_agent(&parent, "Assistant", "helper")
        .await
        .unwrap();
    let session = given_turn_crashed_mid_calls_at(&given, &child).await;
    given
        .model
        .push(Reply::new().text("Two of three are written."));

    assert_eq!(given.harness.recover_all().await, 1);
    let file = given
        .host
        .with_db_at(&child, |db| Ok(db.workspace().read_text("/three.txt").ok()))
        .await
        .unwrap();
    assert_eq!(file.as_deref(), Some("c3"));
    let fiber = latest_fiber(&given, &child, &session).await;
    assert_eq!(fiber.status.as_str(), "completed");
    assert_eq!(given.harness.recover_all().await, 0);
}
