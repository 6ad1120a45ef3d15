//! Multi-step turns through both wire formats: `execute` writes a workspace file and calls
//! another agent, then the model answers.

use llm::ProviderKind;
use llm::scripted::Reply;
use serde_json::{Value, json};
use think::ui::Chunk;

use crate::support::*;

const CODE: &str = r##"async () => {
  await workspace.write({ path: "/notes/plan.md", content: "# Plan\nship it" });
  const count = await agents.Counter("shared").increment(5);
  return { count, files: await workspace.list({ path: "/notes" }) };
}"##;

async fn multi_step_turn(provider: ProviderKind) {
    let given = given_harness(
        provider,
        &[("Assistant.ts", ASSISTANT), ("Counter.ts", COUNTER)],
    )
    .await;
    given.model.push(
        Reply::new()
            .text("Let me write that down.")
            .tool_call("call_exec_1", "execute", json!({ "code": CODE }))
            .usage(100, 20),
    );
    given.model.push(
        Reply::new()
            .text_chunks(["Wrote ", "/notes/plan.md", "; the count is 5."])
            .usage(150, 10),
    );

    let (session, chunks) = given
        .chat(
            "Assistant",
            "me",
            None,
            "Write a plan and bump the shared counter",
        )
        .await;

    assert_well_formed(&chunks);
    // The model's code ran: the file exists and the other agent was called.
    assert_eq!(
        given
            .read_file("Assistant", "me", "/notes/plan.md")
            .await
            .as_deref(),
        Some("# Plan\nship it")
    );
    assert_eq!(
        given
            .host
            .state("Counter", "shared")
            .await
            .expect("counter state"),
        json!({ "count": 5 })
    );
    // The stream shows the call, its output, and the answer.
    let input = chunks.iter().find_map(|c| match c {
        Chunk::ToolInputAvailable {
            tool_call_id,
            tool_name,
            input,
        } => Some((tool_call_id.clone(), tool_name.clone(), input.clone())),
        _ => None,
    });
    assert_eq!(
        input,
        Some((
            "call_exec_1".to_owned(),
            "execute".to_owned(),
            json!({ "code": CODE })
        ))
    );
    let output = chunks.iter().find_map(|c| match c {
        Chunk::ToolOutputAvailable { output, .. } => output.as_str().map(str::to_owned),
        _ => None,
    });
    // Code Mode's outcome: the program's result (and logs), as the model reads it.
    let output: Value = serde_json::from_str(&output.expect("a tool output (text)"))
        .expect("the execute outcome is JSON");
    assert_eq!(output["result"]["count"], 5);
    assert_eq!(output["result"]["files"][0]["path"], "/notes/plan.md");
    assert_eq!(
        streamed_text(&chunks),
        "Let me write that down.Wrote /notes/plan.md; the count is 5."
    );
    let meta = finish_metadata(&chunks);
    assert_eq!(meta["stopped"], "answered");
    assert_eq!(meta["steps"], 2);
    assert_eq!(meta["sessionId"], json!(session));
    assert_eq!(
        meta["usage"],
        json!({"inputTokens": 250, "outputTokens": 30})
    );

    // user → assistant (tool call) → tool result → assistant.
    let history = given.history("Assistant", "me", &session).await;
    let roles: Vec<&str> = history.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant"]);
    assert_eq!(history[1].1["content"][1]["type"], "tool_call");
    assert_eq!(history[2].1["content"][0]["call_id"], "call_exec_1");
    assert_eq!(history[2].1["content"][0].get("is_error"), None);

    // The second inference saw the tool's result, in the provider's own format.
    let requests = given.model.requests();
    assert_eq!(requests.len(), 2);
    let second = requests[1].body.to_string();
    match provider {
        ProviderKind::OpenAi => assert!(second.contains("\"role\":\"tool\""), "{second}"),
        ProviderKind::Anthropic => assert!(second.contains("\"tool_result\""), "{second}"),
    }
    assert!(second.contains("plan.md"), "{second}");
    // The tools offered: execute, the workspace tools, session_search.
    let tools = requests[0].body["tools"].to_string();
    for name in [
        "execute",
        "read",
        "write",
        "edit",
        "list",
        "delete",
        "find",
        "grep",
        "session_search",
    ] {
        assert!(
            tools.contains(&format!("\"{name}\"")),
            "{name} missing from {tools}"
        );
    }
    // Issue 16: execute's description declares the agents code can call, typed.
    assert!(
        tools.contains("declare const agents:") && tools.contains("interface Assistant"),
        "{tools}"
    );

    // Usage per session, and the turn's checkpoints.
    let usage = {
        let session = session.clone();
        given
            .host
            .with_db("Assistant", "me", move |db| {
                Ok(db.sessions().usage(&session)?)
            })
            .await
            .expect("usage")
    };
    assert_eq!((usage.input_tokens, usage.output_tokens), (250, 30));
    let kinds = {
        let session = session.clone();
        given
            .host
            .with_db("Assistant", "me", move |db| {
                let fiber = db.fibers().latest_of_session(&session)?.expect("a fiber");
                assert_eq!(fiber.status.as_str(), "completed");
                Ok(db
                    .fibers()
                    .checkpoints(&fiber.id)?
                    .into_iter()
                    .map(|c| c.kind.as_str().to_owned())
                    .collect::<Vec<_>>())
            })
            .await
            .expect("checkpoints")
    };
    assert_eq!(
        kinds,
        [
            "step_started",
            "tool_call",
            "tool_result",
            "step_finished",
            "step_started",
            "step_finished"
        ]
    );

    // The conversation goes on in the same session: the next prompt holds all of it.
    given.model.push(Reply::new().text("You asked for a plan."));
    let (again, chunks) = given
        .chat("Assistant", "me", Some(&session), "What did I ask?")
        .await;
    assert_eq!(again, session);
    assert_eq!(streamed_text(&chunks), "You asked for a plan.");
    let third = given.model.requests()[2].body.to_string();
    assert!(
        third.contains("Write a plan and bump the shared counter"),
        "{third}"
    );
    assert_eq!(given.history("Assistant", "me", &session).await.len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_execute_writes_a_file_and_calls_an_agent_then_answers_openai() {
    multi_step_turn(ProviderKind::OpenAi).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_execute_writes_a_file_and_calls_an_agent_then_answers_anthropic() {
    multi_step_turn(ProviderKind::Anthropic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_class_chooses_model_system_prompt_and_own_tools() {
    // The default model is OpenAI; Weather's getModel() picks Anthropic.
    let given = given_harness(ProviderKind::OpenAi, &[("Weather.ts", WEATHER)]).await;
    given.model.push(
        Reply::new()
            .tool_call("c1", "forecast", json!({"city": "Lisbon"}))
            .tool_call("c2", "forecast", json!({"city": "Atlantis"})),
    );
    given.model.push(Reply::new().text("Clear in Lisbon."));
    let (session, chunks) = given.chat("Weather", "Lisbon", None, "Weather?").await;
    assert_well_formed(&chunks);
    let requests = given.model.requests();
    assert_eq!(requests[0].provider, ProviderKind::Anthropic);
    assert_eq!(requests[0].body["model"], "claude-weather");
    assert!(
        requests[0].body["system"]
            .to_string()
            .contains("You report the weather in Lisbon."),
        "{}",
        requests[0].body["system"]
    );
    let forecast = requests[0].body["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t["name"] == "forecast")
        .cloned()
        .expect("the class's own tool is offered");
    assert_eq!(forecast["input_schema"]["required"], json!(["city"]));
    // The TS tool ran in the agent, one turn per call: the call that succeeded committed
    // its write, the one that threw rolled its write back.
    assert_eq!(
        given
            .read_file("Weather", "Lisbon", "/asked.txt")
            .await
            .as_deref(),
        Some("Lisbon")
    );
    let outputs: Vec<&Chunk> = chunks
        .iter()
        .filter(|c| {
            matches!(
                c,
                Chunk::ToolOutputAvailable { .. } | Chunk::ToolOutputError { .. }
            )
        })
        .collect();
    assert_eq!(
        outputs[0],
        &Chunk::ToolOutputAvailable {
            tool_call_id: "c1".into(),
            output: json!({"city": "Lisbon", "sky": "clear"})
        }
    );
    match outputs[1] {
        Chunk::ToolOutputError { error_text, .. } => {
            assert!(
                error_text.contains("no such city: Atlantis"),
                "{error_text}"
            )
        }
        other => panic!("expected an error output, got {other:?}"),
    }
    let history = given.history("Weather", "Lisbon", &session).await;
    let results = &history[2].1["content"];
    assert_eq!(results[1]["is_error"], Value::Bool(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_session_search_finds_earlier_messages() {
    let given = given_harness(ProviderKind::OpenAi, &[("Assistant.ts", ASSISTANT)]).await;
    given.model.push(Reply::new().text("Noted."));
    let (first, _) = given
        .chat("Assistant", "me", None, "My locker combination is 4711")
        .await;
    given.model.push(Reply::new().tool_call(
        "s1",
        "session_search",
        json!({"query": "locker", "allSessions": true}),
    ));
    given.model.push(Reply::new().text("It is 4711."));
    let (second, chunks) = given
        .chat("Assistant", "me", None, "What was my locker combination?")
        .await;
    assert_ne!(first, second);
    let output = chunks
        .iter()
        .find_map(|c| match c {
            Chunk::ToolOutputAvailable { output, .. } => Some(output.clone()),
            _ => None,
        })
        .expect("a search result");
    let hits = output.as_array().expect("hits");
    assert!(
        hits.iter().any(|h| h["sessionId"] == json!(first)
            && h["snippet"].as_str().unwrap_or("").contains("4711")),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_a_reconnecting_client_gets_a_replay_then_the_live_rest() {
    let given = given_harness(ProviderKind::OpenAi, &[("Assistant.ts", ASSISTANT)]).await;
    given.model.push(
        Reply::new()
            .text_chunks(["one ", "two ", "three ", "four"])
            .delay(std::time::Duration::from_millis(100)),
    );
    let mut turn = given.start("Assistant", "me", None, "count").await;
    // The first client reads the beginning, then goes away.
    let mut seen = Vec::new();
    while seen.len() < 3 {
        seen.push(turn.chunks.recv().await.expect("a chunk"));
    }
    let session = turn.session_id.clone();
    drop(turn);
    let mut again = given
        .harness
        .reconnect("Assistant", "me", &session)
        .await
        .expect("the turn is still running");
    let mut replayed = Vec::new();
    while let Some(chunk) = again.recv().await {
        replayed.push(chunk);
    }
    assert_eq!(
        &replayed[..3],
        &seen[..],
        "the replay starts with what was sent"
    );
    assert_well_formed(&replayed);
    assert_eq!(streamed_text(&replayed), "one two three four");
    // After the turn, the session holds the answer; there is nothing to reconnect to.
    assert!(
        given
            .harness
            .reconnect("Assistant", "me", &session)
            .await
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue16_a_first_message_of_several_lines_starts_a_session_titled_by_its_first_line() {
    // Found by the research-team example: a delegated task (a pasted draft) has newlines,
    // and a session title may not, so the chat did not start at all.
    let given = given_harness(ProviderKind::OpenAi, &[("Assistant.ts", ASSISTANT)]).await;
    given.model.push(Reply::new().text("Read it."));
    let (session, chunks) = given
        .chat(
            "Assistant",
            "me",
            None,
            "\n  # Draft\treport  \nA second line\r\nand a third",
        )
        .await;
    assert!(
        matches!(chunks.last(), Some(Chunk::Finish { .. })),
        "{chunks:?}"
    );
    let title = given
        .host
        .with_db("Assistant", "me", move |db| {
            Ok(db.sessions().get(&session)?.title)
        })
        .await
        .unwrap();
    assert_eq!(title, "# Draft report");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue16_a_think_agent_offers_code_mode_over_its_own_tools_with_create_code_tool() {
    const SHOP: &str = r#"
import { Think, createCodeTool } from "agents";
export default class Shop extends Think {
  getTools() {
    return {
      shop: createCodeTool({
        price: {
          description: "The price of an item, in cents",
          inputSchema: { type: "object", properties: { item: { type: "string" } }, required: ["item"] },
          execute: async ({ item }) => ({ apple: 30, pear: 45 })[item],
        },
      }),
    };
  }
}
"#;
    let given = given_harness(ProviderKind::OpenAi, &[("Shop.ts", SHOP)]).await;
    given.model.push(Reply::new().tool_call(
        "c1",
        "shop",
        json!({ "code": "let t = 0; for (const item of ['apple', 'pear']) t += await codemode.price({ item }); return t;" }),
    ));
    given.model.push(Reply::new().text("75 cents."));
    let (_, chunks) = given
        .chat("Shop", "s", None, "What do an apple and a pear cost?")
        .await;
    let output = chunks
        .iter()
        .find_map(|c| match c {
            Chunk::ToolOutputAvailable { output, .. } => Some(output.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{chunks:?}"));
    assert_eq!(output, json!(75));
    let tools = given.model.requests()[0].body["tools"].to_string();
    assert!(
        tools.contains("price(input: { item: string }): Promise<unknown>;"),
        "{tools}"
    );
}
