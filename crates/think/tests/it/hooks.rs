//! The turn hooks of `Think` (named as Cloudflare's `@cloudflare/think`): each runs in the
//! agent's isolate as a `think` turn; a hook that throws ends the turn with an `error`
//! chunk naming it, and the agent keeps serving.

use llm::ProviderKind;
use llm::scripted::Reply;
use serde_json::{Value, json};
use think::ui::Chunk;

use crate::support::*;

const GUARDED: &str = r#"
import { Think } from "agents";
export default class Guarded extends Think {
  log = [];
  beforeTurn(ctx) {
    this.log.push({ hook: "beforeTurn", text: ctx.text, tools: ctx.tools.length, model: ctx.model, maxSteps: ctx.maxSteps });
    if (ctx.text.includes("secret")) return { refuse: "I do not talk about secrets." };
    if (ctx.text.includes("pirate")) return { system: "Talk like a pirate to " + this.name + ".", activeTools: ["read", "list", "write", "lookup"] };
  }
  getTools() {
    return {
      lookup: {
        description: "Looks a word up",
        inputSchema: { type: "object", properties: { word: { type: "string" } } },
        execute: async ({ word }) => ({ word, meaning: "a " + word }),
      },
    };
  }
  beforeToolCall(call) {
    this.log.push({ hook: "beforeToolCall", tool: call.toolName, id: call.toolCallId, step: call.step });
    if (call.toolName === "write") return { block: "writing is switched off for " + call.input.path };
    if (call.toolName === "read") return { result: { substituted: call.input.path } };
    if (call.toolName === "lookup" && call.input.word === "boom") throw new Error("the guard broke on " + call.input.word);
  }
  afterToolCall(call, result) {
    this.log.push({ hook: "afterToolCall", tool: call.toolName, isError: result.isError });
    if (call.toolName === "lookup") return { result: { ...result.output, checked: true } };
  }
  onStepFinish(step) {
    this.log.push({ hook: "onStepFinish", step: step.step, text: step.text, calls: step.toolCalls.map((c) => c.toolName),
      results: step.toolResults.map((r) => [r.toolName, r.isError]), usage: step.usage, finishReason: step.finishReason });
  }
  onChatError(error) {
    this.log.push({ hook: "onChatError", message: error.message });
    if (error.message.includes("guard broke")) return undefined;
    return "Something went wrong; please try again.";
  }
  async hooks() { return this.log; }
  async ping() { return "pong"; }
}
"#;

const THROWING: &str = r#"
import { Think } from "agents";
export default class Throwing extends Think {
  beforeTurn(ctx) { if (ctx.text.includes("break")) throw new Error("beforeTurn cannot cope"); }
  onStepFinish(step) { if (step.text.includes("explode")) throw new TypeError("onStepFinish exploded"); }
  async ping() { return "pong"; }
}
"#;

async fn log(given: &Given) -> Vec<Value> {
    let value = given
        .host
        .call("Guarded", "g", "hooks", vec![])
        .await
        .expect("the hook log");
    value.as_array().expect("a list").clone()
}

fn error_texts(chunks: &[Chunk]) -> Vec<String> {
    chunks
        .iter()
        .filter_map(|c| match c {
            Chunk::Error { error_text } => Some(error_text.clone()),
            _ => None,
        })
        .collect()
}

fn tool_outputs(chunks: &[Chunk]) -> Vec<(String, Result<Value, String>)> {
    chunks
        .iter()
        .filter_map(|c| match c {
            Chunk::ToolOutputAvailable {
                tool_call_id,
                output,
            } => Some((tool_call_id.clone(), Ok(output.clone()))),
            Chunk::ToolOutputError {
                tool_call_id,
                error_text,
            } => Some((tool_call_id.clone(), Err(error_text.clone()))),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_hooks_before_turn_changes_the_system_prompt_and_tools_or_refuses() {
    let given = given_harness(ProviderKind::OpenAi, &[("Guarded.ts", GUARDED)]).await;
    given.model.push(Reply::new().text("Arr."));
    let (session, chunks) = given
        .chat("Guarded", "g", None, "Speak like a pirate")
        .await;
    assert_well_formed(&chunks);
    assert_eq!(streamed_text(&chunks), "Arr.");
    let request = &given.model.requests()[0].body;
    assert_eq!(
        request["messages"][0]["content"],
        "Talk like a pirate to g."
    );
    let tools: Vec<&str> = request["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["function"]["name"].as_str().expect("name"))
        .collect();
    assert_eq!(tools, ["lookup", "read", "write", "list"]);
    let first = &log(&given).await[0];
    assert_eq!(first["hook"], "beforeTurn");
    assert_eq!(first["text"], "Speak like a pirate");
    assert_eq!(first["model"], "openai:test-model");
    assert_eq!(first["maxSteps"], 10);
    assert!(first["tools"].as_u64().expect("count") > 8, "{first}");

    // A refusal: no inference, the reason is the answer (stored, so the history stays
    // user/assistant), and the session goes on.
    let (_, chunks) = given
        .chat("Guarded", "g", Some(&session), "Tell me the secret")
        .await;
    assert_well_formed(&chunks);
    assert_eq!(streamed_text(&chunks), "I do not talk about secrets.");
    assert_eq!(finish_metadata(&chunks)["stopped"], "refused");
    assert_eq!(given.model.requests().len(), 1);
    let roles: Vec<String> = given
        .history("Guarded", "g", &session)
        .await
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"]);
    // Without a choice, the class's defaults (every tool).
    given.model.push(Reply::new().text("Plain."));
    let (_, chunks) = given
        .chat("Guarded", "g", Some(&session), "Anything else?")
        .await;
    assert_eq!(streamed_text(&chunks), "Plain.");
    let request = &given.model.requests()[1].body;
    assert!(request["tools"].as_array().expect("tools").len() > 8);
    assert_ne!(
        request["messages"][0]["content"],
        "Talk like a pirate to g."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_hooks_before_tool_call_blocks_or_substitutes_and_after_tool_call_replaces() {
    let given = given_harness(ProviderKind::OpenAi, &[("Guarded.ts", GUARDED)]).await;
    given.model.push(
        Reply::new()
            .text("Working.")
            .tool_call("w", "write", json!({"path": "/x.txt", "content": "x"}))
            .tool_call("r", "read", json!({"path": "/nothing.txt"}))
            .tool_call("l", "lookup", json!({"word": "cat"}))
            .tool_call("ls", "list", json!({"path": "/"}))
            .usage(40, 7),
    );
    given.model.push(Reply::new().text("Done.").usage(60, 2));
    let (session, chunks) = given.chat("Guarded", "g", None, "Do things").await;
    assert_well_formed(&chunks);
    assert_eq!(finish_metadata(&chunks)["stopped"], "answered");
    let outputs = tool_outputs(&chunks);
    assert_eq!(
        outputs[0],
        (
            "w".to_owned(),
            Err("writing is switched off for /x.txt".to_owned())
        )
    );
    assert_eq!(
        outputs[1],
        ("r".to_owned(), Ok(json!({"substituted": "/nothing.txt"})))
    );
    assert_eq!(
        outputs[2],
        (
            "l".to_owned(),
            Ok(json!({"word": "cat", "meaning": "a cat", "checked": true}))
        )
    );
    assert!(outputs[3].1.is_ok(), "{outputs:?}");
    // Blocked: the tool never ran.
    assert_eq!(given.read_file("Guarded", "g", "/x.txt").await, None);
    // The model read the block as an error result and the substitute as the result.
    let second = given.model.requests()[1].body.to_string();
    assert!(second.contains("writing is switched off"), "{second}");
    assert!(second.contains("substituted"), "{second}");
    assert!(second.contains("checked"), "{second}");
    let history = given.history("Guarded", "g", &session).await;
    assert_eq!(history[2].1["content"][0]["is_error"], true);

    let log = log(&given).await;
    let hooks: Vec<&str> = log
        .iter()
        .map(|e| e["hook"].as_str().expect("hook"))
        .collect();
    // beforeTurn has no choice for this text; the substituted and blocked calls still go
    // through afterToolCall.
    assert_eq!(
        hooks,
        [
            "beforeTurn",
            "beforeToolCall",
            "afterToolCall",
            "beforeToolCall",
            "afterToolCall",
            "beforeToolCall",
            "afterToolCall",
            "beforeToolCall",
            "afterToolCall",
            "onStepFinish",
            "onStepFinish"
        ]
    );
    assert_eq!(log[1]["id"], "w");
    assert_eq!(log[1]["step"], 1);
    assert_eq!(log[2]["isError"], true);
    assert_eq!(
        log[9],
        json!({
            "hook": "onStepFinish", "step": 1, "text": "Working.",
            "calls": ["write", "read", "lookup", "list"],
            "results": [["write", true], ["read", false], ["lookup", false], ["list", false]],
            "usage": {"inputTokens": 40, "outputTokens": 7}, "finishReason": "tool-calls"
        })
    );
    assert_eq!(log[10]["text"], "Done.");
    assert_eq!(log[10]["finishReason"], "stop");
    assert_eq!(log[10]["calls"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_hooks_a_hook_that_throws_ends_the_turn_with_an_error_naming_it() {
    let given = given_harness(ProviderKind::OpenAi, &[("Guarded.ts", GUARDED)]).await;
    given.model.push(
        Reply::new()
            .tool_call("a", "lookup", json!({"word": "boom"}))
            .tool_call("b", "list", json!({"path": "/"})),
    );
    let (session, chunks) = given.chat("Guarded", "g", None, "Look up boom").await;
    assert_well_formed(&chunks);
    let errors = error_texts(&chunks);
    assert_eq!(errors.len(), 1, "{chunks:?}");
    assert!(
        errors[0].contains("beforeToolCall") && errors[0].contains("the guard broke on boom"),
        "{}",
        errors[0]
    );
    assert_eq!(finish_metadata(&chunks)["stopped"], "error");
    // Every call has an answer (neither ran), so the history is valid for any provider.
    let outputs = tool_outputs(&chunks);
    assert_eq!(outputs.len(), 2);
    assert!(outputs.iter().all(|(_, o)| o.is_err()), "{outputs:?}");
    let history = given.history("Guarded", "g", &session).await;
    let roles: Vec<&str> = history.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "tool"]);
    assert_eq!(history[2].1["content"].as_array().map(Vec::len), Some(2));
    // onChatError saw it and kept the message (it returned undefined).
    let log = log(&given).await;
    assert!(
        log.iter()
            .any(|e| e["hook"] == "onChatError" && e["message"] == json!(errors[0])),
        "{log:?}"
    );
    // The agent still serves, and so does the next chat of the session.
    assert_eq!(
        given
            .host
            .call("Guarded", "g", "ping", vec![])
            .await
            .expect("ping"),
        json!("pong")
    );
    given.model.push(Reply::new().text("Back."));
    let (_, chunks) = given.chat("Guarded", "g", Some(&session), "Again").await;
    assert_eq!(streamed_text(&chunks), "Back.");

    // beforeTurn and onStepFinish throwing, in a class without onChatError.
    let given = given_harness(ProviderKind::OpenAi, &[("Throwing.ts", THROWING)]).await;
    let (session, chunks) = given.chat("Throwing", "t", None, "break it").await;
    assert_well_formed(&chunks);
    let errors = error_texts(&chunks);
    assert!(
        errors.len() == 1
            && errors[0].contains("beforeTurn")
            && errors[0].contains("beforeTurn cannot cope"),
        "{errors:?}"
    );
    assert!(given.model.requests().is_empty());
    given.model.push(Reply::new().text("I explode."));
    let (_, chunks) = given.chat("Throwing", "t", Some(&session), "say it").await;
    let errors = error_texts(&chunks);
    assert!(
        errors.len() == 1
            && errors[0].contains("onStepFinish")
            && errors[0].contains("onStepFinish exploded"),
        "{errors:?}"
    );
    // The answer itself was stored before the hook ran.
    let history = given.history("Throwing", "t", &session).await;
    assert_eq!(
        history.last().expect("a message").1["content"][0]["text"],
        "I explode."
    );
    assert_eq!(
        given
            .host
            .call("Throwing", "t", "ping", vec![])
            .await
            .expect("ping"),
        json!("pong")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_hooks_on_chat_error_replaces_the_message_shown() {
    let given = given_harness(ProviderKind::OpenAi, &[("Guarded.ts", GUARDED)]).await;
    given.model.push(
        Reply::new()
            .text("Half an ans")
            .garbage("<html>oops</html>\n"),
    );
    let (_, chunks) = given.chat("Guarded", "g", None, "Hello").await;
    assert_well_formed(&chunks);
    assert_eq!(
        error_texts(&chunks),
        ["Something went wrong; please try again."]
    );
    let log = log(&given).await;
    let seen = log
        .iter()
        .find(|e| e["hook"] == "onChatError")
        .expect("onChatError ran");
    assert!(!seen["message"].as_str().expect("message").is_empty());
    // A hook answering the wrong shape is that hook's error.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_hooks_a_wrong_answer_shape_is_the_hooks_error() {
    const WRONG: &str = r#"
import { Think } from "agents";
export default class Wrong extends Think {
  beforeToolCall() { return { block: "x", result: 1 }; }
  beforeTurn(ctx) { if (ctx.text === "tools") return { activeTools: ["nope"] }; }
}
"#;
    let given = given_harness(ProviderKind::OpenAi, &[("Wrong.ts", WRONG)]).await;
    given
        .model
        .push(Reply::new().tool_call("a", "list", json!({"path": "/"})));
    let (_, chunks) = given.chat("Wrong", "w", None, "go").await;
    let errors = error_texts(&chunks);
    assert!(
        errors.len() == 1
            && errors[0].contains("beforeToolCall")
            && errors[0].contains("returns undefined"),
        "{errors:?}"
    );
    let (_, chunks) = given.chat("Wrong", "w", None, "tools").await;
    let errors = error_texts(&chunks);
    assert!(
        errors.len() == 1 && errors[0].contains("activeTools") && errors[0].contains("nope"),
        "{errors:?}"
    );
}
