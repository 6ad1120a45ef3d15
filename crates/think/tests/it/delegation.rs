//! Issue 16 item 3: a Think agent hands a task to a child Think agent (`agentTool`); the
//! child works in its own session and storage, its progress streams to the parent's
//! client, and its answer comes back as the tool's result.

use agents::Address;
use llm::ProviderKind;
use llm::scripted::{Recorded, Reply};
use serde_json::{Value, json};
use think::ui::Chunk;

use crate::support::*;

const LEAD: &str = r#"
import { Think, agentTool } from "agents";
export default class Lead extends Think {
  getSystemPrompt() { return "You lead a team."; }
  getTools() {
    return { research: agentTool("Researcher", { description: "Research a topic thoroughly" }) };
  }
}
"#;

const RESEARCHER: &str = r#"
import { Think } from "agents";
export default class Researcher extends Think {
  getSystemPrompt() { return "You research."; }
}
"#;

const COUNTER: &str = r#"
import { Agent } from "agents";
export default class Counter extends Agent { async get() { return 0; } }
"#;

/// A harness serving `Lead`, which delegates, and `Researcher`, its child class.
async fn given_team() -> Given {
    given_harness(
        ProviderKind::OpenAi,
        &[("Lead.ts", LEAD), ("Researcher.ts", RESEARCHER)],
    )
    .await
}

/// The system prompt of a recorded request (OpenAI wire format).
fn system(r: &Recorded) -> String {
    r.body["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Whether the request already carries a tool result (the model's second step).
fn has_tool_result(r: &Recorded) -> bool {
    r.body["messages"]
        .as_array()
        .is_some_and(|m| m.iter().any(|m| m["role"] == "tool"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue16_a_think_parent_delegates_to_a_child_think_agent_and_streams_its_progress() {
    let given = given_team().await;
    // Parent and child share the scripted server: answer by who asks and how far along.
    given.model.set_responder(|r| {
        let child = system(r).contains("You research");
        let results = r.body["messages"]
            .as_array()
            .map_or(0, |m| m.iter().filter(|m| m["role"] == "tool").count());
        match (child, results) {
            (false, 0) => Reply::new().tool_call(
                "c1",
                "research",
                json!({ "task": "Find out what QuickJS is" }),
            ),
            (true, 0) => Reply::new().tool_call(
                "w1",
                "write",
                json!({ "path": "/findings.md", "content": "QuickJS: a small JS engine" }),
            ),
            (true, _) => Reply::new().text("QuickJS is a small embeddable JavaScript engine."),
            (false, _) => Reply::new().text("The team found it."),
        }
    });

    let (_session, chunks) = given.chat("Lead", "boss", None, "What is QuickJS?").await;
    assert_well_formed(&chunks);
    assert_eq!(streamed_text(&chunks), "The team found it.");

    // The child's progress reached the parent's client, labelled with the call and agent.
    let progress: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| match c {
            Chunk::DataSubagent { data, transient } => {
                assert!(transient);
                Some(data)
            }
            _ => None,
        })
        .collect();
    assert!(!progress.is_empty(), "{chunks:?}");
    for p in &progress {
        assert_eq!(p["toolCallId"], "c1");
        assert_eq!(
            p["agent"],
            json!({ "className": "Researcher", "name": "research" })
        );
    }
    let kinds: Vec<&str> = progress
        .iter()
        .filter_map(|p| p["chunk"]["type"].as_str())
        .collect();
    assert_eq!(kinds.first(), Some(&"start"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"finish"), "{kinds:?}");
    assert!(kinds.contains(&"tool-input-available"), "{kinds:?}");
    assert!(kinds.contains(&"text-delta"), "{kinds:?}");

    // The child's answer is the tool's result, and the parent's model saw it.
    let output = chunks
        .iter()
        .find_map(|c| match c {
            Chunk::ToolOutputAvailable { output, .. } => Some(output.clone()),
            _ => None,
        })
        .expect("the research call has an output");
    assert_eq!(
        output,
        json!("QuickJS is a small embeddable JavaScript engine.")
    );
    let last_parent = given
        .model
        .requests()
        .into_iter()
        .rfind(|r| !system(r).contains("You research"))
        .expect("parent requests");
    assert!(
        last_parent.body.to_string().contains("small embeddable"),
        "{}",
        last_parent.body
    );

    // The child is a sub-agent of the parent with its own workspace and its own session,
    // whose first message is the task.
    let parent = Address::new("Lead", "boss");
    let children = given.host.sub_agents(&parent, None).unwrap();
    assert_eq!(children.len(), 1);
    assert_eq!(
        (children[0].class_name.as_str(), children[0].name.as_str()),
        ("Researcher", "research")
    );
    let child = parent.child("Researcher", "research");
    let (file, first) = given
        .host
        .with_db_at(&child, |db| {
            let file = db.workspace().read_text("/findings.md")?;
            let mut page = db.sessions().list(&store::ListSessions::default())?;
            assert_eq!(page.sessions.len(), 1, "one task, one session");
            let session = page.sessions.remove(0);
            let history = db.sessions().history(&session.id, None)?;
            Ok((file, history[0].content_value()))
        })
        .await
        .unwrap();
    assert_eq!(file, "QuickJS: a small JS engine");
    assert!(
        first.to_string().contains("Find out what QuickJS is"),
        "{first}"
    );
    assert_eq!(
        given.read_file("Lead", "boss", "/findings.md").await,
        None,
        "the parent's workspace is its own"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue16_an_agent_tool_naming_a_class_that_does_not_chat_is_refused_at_the_turn() {
    const WRONG: &str = r#"
import { Think, agentTool } from "agents";
export default class Wrong extends Think {
  getTools() { return { count: agentTool("Counter") }; }
}
"#;
    let given = given_harness(
        ProviderKind::OpenAi,
        &[("Wrong.ts", WRONG), ("Counter.ts", COUNTER)],
    )
    .await;
    let error = given
        .harness
        .chat(
            "Wrong",
            "w",
            think::ChatRequest {
                text: "hi".to_owned(),
                ..Default::default()
            },
        )
        .await
        .expect_err("a delegation to a non-chat class is refused");
    let message = error.to_string();
    assert!(
        message.contains("Counter") && message.contains("Think"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue16_a_child_that_fails_answers_the_parent_s_call_with_its_error() {
    let given = given_team().await;
    given.model.set_responder(|r| {
        let child = system(r).contains("You research");
        match (child, has_tool_result(r)) {
            (false, false) => Reply::new().tool_call("c1", "research", json!({ "task": "dig" })),
            (true, _) => Reply::error(500, "the child's model is down"),
            (false, true) => Reply::new().text("The researcher could not help."),
        }
    });
    let (_session, chunks) = given.chat("Lead", "boss", None, "Dig").await;
    assert_well_formed(&chunks);
    let error = chunks
        .iter()
        .find_map(|c| match c {
            Chunk::ToolOutputError { error_text, .. } => Some(error_text.clone()),
            _ => None,
        })
        .expect("the call failed");
    assert!(error.contains("Researcher agent failed"), "{error}");
    assert_eq!(streamed_text(&chunks), "The researcher could not help.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue16_cancelling_the_parent_s_turn_cancels_the_child_s() {
    let given = given_team().await;
    given.model.set_responder(|r| {
        if system(r).contains("You research") {
            Reply::new().text("Reading the sources").then_stall()
        } else {
            Reply::new().tool_call("c1", "research", json!({ "task": "read everything" }))
        }
    });
    let mut turn = given.start("Lead", "boss", None, "Go").await;
    // Wait until the child streams, then cancel the parent.
    let mut child_session = None;
    while let Some(chunk) = turn.chunks.recv().await {
        if let Chunk::DataSubagent { data, .. } = &chunk
            && data["chunk"]["type"] == "text-delta"
        {
            child_session = data["sessionId"].as_str().map(str::to_owned);
            break;
        }
    }
    let child_session = child_session.expect("the child streamed");
    assert!(given.harness.cancel("Lead", "boss", &turn.session_id));
    let child = Address::new("Lead", "boss").child("Researcher", "research");
    // The child's turn ends too (cancelled), keeping the text it had streamed; well
    // before the model's stall timeout (5 s) would have ended it.
    let mut ended = false;
    for _ in 0..200 {
        if !given.harness.cancel_at(&child, &child_session) {
            ended = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(ended, "the child's turn is still running");
    let history = given
        .host
        .with_db_at(&child, move |db| {
            Ok(db.sessions().history(&child_session, None)?)
        })
        .await
        .unwrap();
    let last = history.last().expect("the child's history").content_value();
    assert!(last.to_string().contains("Reading the sources"), "{last}");
}

const DISPATCHER: &str = r#"
import { Think, agentTool } from "agents";
export default class Dispatcher extends Think {
  getSystemPrompt() { return "You dispatch."; }
  getTools() {
    return {
      research: agentTool("Researcher", { detached: true, onDone: "researched" }),
      quick: agentTool("Researcher", { timeoutMs: 300 }),
      brief: agentTool("Researcher", { maxSteps: 1 }),
    };
  }
  async researched(record) {
    const done = (await this.storage.get("done")) ?? [];
    done.push(record);
    await this.storage.put("done", done);
  }
  async done() { return (await this.storage.get("done")) ?? []; }
  async runs() { return this.delegations.list(); }
}
"#;

/// A harness serving `Dispatcher` (detached and budgeted agent tools) and `Researcher`.
async fn given_dispatcher() -> Given {
    given_harness(
        ProviderKind::OpenAi,
        &[("Dispatcher.ts", DISPATCHER), ("Researcher.ts", RESEARCHER)],
    )
    .await
}

/// Whether the request carries a tool result after its last user message (the model's
/// second step of the current turn).
fn tool_result_since_question(r: &Recorded) -> bool {
    let messages = r.body["messages"].as_array().cloned().unwrap_or_default();
    let last_user = messages
        .iter()
        .rposition(|m| m["role"] == "user")
        .unwrap_or(0);
    messages[last_user..].iter().any(|m| m["role"] == "tool")
}

/// The delegations `Dispatcher/d`'s `onDone` method received, once there are any (its
/// child ends in the background).
async fn records_done(given: &Given) -> Value {
    let mut done = Value::Null;
    for _ in 0..200 {
        done = given
            .host
            .call("Dispatcher", "d", "done", vec![])
            .await
            .unwrap();
        if done.as_array().is_some_and(|d| !d.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    done
}

fn output_of(chunks: &[Chunk], call: &str) -> (Value, bool) {
    chunks
        .iter()
        .find_map(|c| match c {
            Chunk::ToolOutputAvailable {
                tool_call_id,
                output,
                ..
            } if tool_call_id == call => Some((output.clone(), false)),
            Chunk::ToolOutputError {
                tool_call_id,
                error_text,
                ..
            } if tool_call_id == call => Some((json!(error_text), true)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no output of {call}: {chunks:?}"))
}

/// The JSON value a tool output holds (its text parsed, when it is JSON text).
fn parsed(output: &Value) -> Value {
    match output {
        Value::String(text) => serde_json::from_str(text).unwrap_or_else(|_| output.clone()),
        other => other.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue16_a_detached_delegation_answers_at_once_and_calls_back_when_done() {
    let given = given_dispatcher().await;
    given.model.set_responder(|r| {
        let child = system(r).contains("You research");
        let asked_status = r.body["messages"].to_string().contains("How is it going");
        match (child, tool_result_since_question(r), asked_status) {
            // The child takes its time: the parent's turn ends first.
            (true, _, _) => Reply::new()
                .delay(std::time::Duration::from_millis(400))
                .text("Found: QuickJS is small."),
            (false, false, false) => {
                Reply::new().tool_call("d1", "research", json!({ "task": "Look into QuickJS" }))
            }
            (false, true, false) => Reply::new().text("Started the research."),
            (false, false, true) => Reply::new().tool_call("s1", "delegations", json!({})),
            (false, true, true) => Reply::new().text("It is done."),
        }
    });

    let (session, chunks) = given
        .chat("Dispatcher", "d", None, "Research QuickJS")
        .await;
    assert_well_formed(&chunks);
    let (started, is_error) = output_of(&chunks, "d1");
    assert!(!is_error, "{started}");
    let started = parsed(&started);
    assert_eq!(started["status"], "running", "{started}");
    let run_id = started["runId"].as_str().unwrap().to_owned();
    // Nothing of the child streams into the parent's turn: it works on alone.
    assert!(
        !chunks
            .iter()
            .any(|c| matches!(c, Chunk::DataSubagent { .. })),
        "{chunks:?}"
    );

    // The child ends; the parent's onDone method gets the record.
    let done = records_done(&given).await;
    assert_eq!(done[0]["id"], json!(run_id), "{done}");
    assert_eq!(done[0]["status"], "completed", "{done}");
    assert_eq!(done[0]["result"], "Found: QuickJS is small.");
    assert_eq!(done[0]["childClass"], "Researcher");
    assert_eq!(done[0]["task"], json!({ "task": "Look into QuickJS" }));

    // The agent's code and the model can inspect it.
    let runs = given
        .host
        .call("Dispatcher", "d", "runs", vec![])
        .await
        .unwrap();
    assert_eq!(runs[0]["status"], "completed", "{runs}");
    let (_, chunks) = given
        .chat("Dispatcher", "d", Some(&session), "How is it going?")
        .await;
    let (listed, is_error) = output_of(&chunks, "s1");
    assert!(!is_error, "{listed}");
    let listed = parsed(&listed);
    assert_eq!(listed[0]["id"], json!(run_id), "{listed}");
    assert_eq!(listed[0]["result"], "Found: QuickJS is small.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue16_a_delegation_past_its_time_budget_is_stopped_and_one_past_its_steps_ends() {
    let given = given_dispatcher().await;
    given.model.set_responder(|r| {
        let child = system(r).contains("You research");
        let task = r.body["messages"].to_string();
        match (child, has_tool_result(r)) {
            // The slow task outlives its 300 ms budget.
            (true, _) if task.contains("slow") => Reply::new()
                .delay(std::time::Duration::from_secs(5))
                .text("too late"),
            // The long task would take a second step: its budget is one.
            (true, false) => {
                Reply::new().tool_call("w1", "write", json!({ "path": "/a.md", "content": "a" }))
            }
            (true, true) => Reply::new().text("never reached"),
            (false, false) if task.contains("Quickly") => {
                Reply::new().tool_call("q1", "quick", json!({ "task": "a slow task" }))
            }
            (false, false) => {
                Reply::new().tool_call("b1", "brief", json!({ "task": "a long task" }))
            }
            (false, true) => Reply::new().text("Done."),
        }
    });

    let started = std::time::Instant::now();
    let (_, chunks) = given.chat("Dispatcher", "d", None, "Quickly now").await;
    assert_well_formed(&chunks);
    let (error, is_error) = output_of(&chunks, "q1");
    assert!(is_error, "{error}");
    assert!(
        error
            .to_string()
            .contains("ran out of its time budget (300 ms)"),
        "{error}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "the child was not stopped at its budget"
    );

    let (_, chunks) = given.chat("Dispatcher", "e", None, "Take your time").await;
    assert_well_formed(&chunks);
    let child_requests = given
        .model
        .requests()
        .into_iter()
        .filter(|r| {
            system(r).contains("You research") && r.body.to_string().contains("a long task")
        })
        .count();
    assert_eq!(child_requests, 1, "one step of budget, one inference");
    let _ = output_of(&chunks, "b1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue16_a_delegation_a_restart_cut_off_is_marked_interrupted_and_on_done_hears_it() {
    let given = given_dispatcher().await;
    // What the previous process left: a detached task it had started.
    let task = json!({ "task": "Look into QuickJS" });
    let id = given
        .host
        .with_new_or_existing_db("Dispatcher", "d", move |db| {
            Ok(db
                .delegations()
                .start(&store::NewDelegation {
                    tool: "research",
                    child_class: "Researcher",
                    child_name: "research",
                    session_id: "s-before",
                    task: &task,
                    on_done: Some("researched"),
                })?
                .id)
        })
        .await
        .unwrap();
    assert_eq!(given.harness.recover_all().await, 0);
    let done = records_done(&given).await;
    assert_eq!(done[0]["id"], json!(id), "{done}");
    assert_eq!(done[0]["status"], "interrupted");
    let runs = given
        .host
        .call("Dispatcher", "d", "runs", vec![])
        .await
        .unwrap();
    assert_eq!(runs[0]["status"], "interrupted", "{runs}");
}
