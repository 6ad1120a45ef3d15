//! Compaction (issue 15, item 5): the oldest stretch summarised by the model into the
//! session's overlay, automatically near the budget or when asked; tool calls never
//! separated from their results; the model's prompt is the overlay view; the compacted
//! messages ingested into an attached memory profile.

use llm::scripted::Reply;
use llm::{Models, ProviderKind};
use serde_json::{Value, json};
use think::Harness;

use crate::support::*;

/// A chat agent with a budget of 50,000 tokens compacted at half: 25,000.
const SMALL_WINDOW: &str = r#"
import { Think } from "agents";
export default class Small extends Think {
  contextWindow = 50000;
  compactAt = 0.5;
}
"#;

/// 60,000 characters: about 15,000 tokens by the loop's estimate.
fn big_file() -> String {
    "lorem ipsum ".repeat(5000)
}

async fn write_big_file(given: &Given, class: &str) {
    let big = big_file();
    given
        .host
        .with_new_or_existing_db(class, "me", move |db| {
            db.workspace().write("/big.txt", big.as_bytes())?;
            Ok(())
        })
        .await
        .expect("write the file");
}

/// The text of every message of a recorded OpenAI-format request, in order.
fn prompt_texts(body: &Value) -> Vec<String> {
    body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| match &m["content"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn issue15_compaction_near_the_budget_keeps_tool_pairs_and_the_model_sees_the_overlay() {
    let given = given_harness(ProviderKind::OpenAi, &[("Small.ts", SMALL_WINDOW)]).await;
    write_big_file(&given, "Small").await;
    // Turn 1 reads the big file (about 15k tokens of result) and answers.
    given
        .model
        .push(Reply::new().tool_call("c1", "read", json!({"path": "/big.txt"})));
    given.model.push(Reply::new().text("It is lorem ipsum."));
    // Turn 2 reads it again: with two results the prompt passes 25k tokens, so before
    // step 2's inference the loop asks for a summary, then infers.
    given
        .model
        .push(Reply::new().tool_call("c2", "read", json!({"path": "/big.txt"})));
    given.model.push(
        Reply::new()
            .text("SUMMARY-7Q: the user asked what /big.txt holds; it is lorem ipsum.")
            .usage(40, 12),
    );
    given.model.push(Reply::new().text("Still lorem ipsum."));

    let (session, _) = given
        .chat("Small", "me", None, "What is in FIRST-QUESTION /big.txt?")
        .await;
    let (_, chunks) = given
        .chat("Small", "me", Some(&session), "And now, SECOND-QUESTION?")
        .await;
    assert_well_formed(&chunks);
    assert_eq!(streamed_text(&chunks), "Still lorem ipsum.");
    // The client is told, in a transient data part.
    let notices: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| match c {
            think::ui::Chunk::DataCompaction { data, transient } => {
                assert!(transient);
                Some(data)
            }
            _ => None,
        })
        .collect();
    assert_eq!(notices.len(), 1, "{chunks:?}");
    assert_eq!(notices[0]["messages"], 5);

    let requests = given.model.requests();
    assert_eq!(
        requests.len(),
        5,
        "two inferences per turn plus the summary"
    );
    let overhead = requests[0].body.to_string().len() / 4;
    assert!(
        overhead < 8000,
        "the test assumes system prompt and tools well below the budget: {overhead}"
    );
    // The summary call: the summarising prompt, no tools, the stretch as a transcript.
    let summary_call = &requests[3].body;
    assert!(summary_call.get("tools").is_none(), "{summary_call}");
    let texts = prompt_texts(summary_call);
    assert_eq!(texts[0], think::compaction::SUMMARY_PROMPT);
    assert!(texts[1].contains("FIRST-QUESTION"), "{}", texts[1]);
    assert!(texts[1].contains("SECOND-QUESTION"), "{}", texts[1]);
    assert!(texts[1].contains("calls read"), "{}", texts[1]);
    assert!(
        texts[1].len() < 20_000,
        "long results are cut for the summariser"
    );

    // The inference after it sees the overlay: the summary instead of the stretch, then
    // the kept call c2 with its result.
    let after = &requests[4].body;
    let texts = prompt_texts(after);
    let all = texts.join("\n");
    assert!(all.contains("SUMMARY-7Q"), "{all:.2000}");
    assert!(all.contains(think::compaction::SUMMARY_HEADING));
    assert!(
        !all.contains("FIRST-QUESTION"),
        "the compacted question is gone"
    );
    let messages = after["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool"]);
    assert_eq!(messages[2]["tool_calls"][0]["id"], "c2");
    assert_eq!(messages[3]["tool_call_id"], "c2");
    let before = requests[2].body.to_string().len();
    assert!(
        after.to_string().len() < before,
        "the compacted prompt is smaller than the one before"
    );

    // Stored: one compaction over the first question up to the second, whose call and
    // result are both outside it; the history itself is whole.
    let (compactions, history) = {
        let session = session.clone();
        given
            .host
            .with_db("Small", "me", move |db| {
                let mut sessions = db.sessions();
                Ok((
                    sessions.compactions(&session)?,
                    sessions.history(&session, None)?,
                ))
            })
            .await
            .unwrap()
    };
    assert_eq!(compactions.len(), 1);
    let roles: Vec<&str> = history.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(
        roles,
        [
            "user",
            "assistant",
            "tool",
            "assistant",
            "user",
            "assistant",
            "tool",
            "assistant"
        ]
    );
    assert_eq!(compactions[0].first_id, history[0].id);
    assert_eq!(compactions[0].last_id, history[4].id);
    assert!(compactions[0].summary.starts_with("SUMMARY-7Q"));
    // The summary's tokens count in the session's usage.
    let usage = {
        let session = session.clone();
        given
            .host
            .with_db("Small", "me", move |db| {
                Ok(db.sessions().usage(&session)?)
            })
            .await
            .unwrap()
    };
    assert_eq!((usage.input_tokens, usage.output_tokens), (40, 12));
}

#[tokio::test(flavor = "multi_thread")]
async fn issue15_compaction_on_request_ingests_the_compacted_messages_into_memory() {
    let given = given_harness(ProviderKind::OpenAi, &[("Assistant.ts", ASSISTANT)]).await;
    let memory_dir = tempfile::tempdir().unwrap();
    let memories = memory::Memories::new(memory::MemoryConfig::new(memory_dir.path()));
    let profile = memories.profile("team/notes").unwrap();
    let settings = given_settings(
        ProviderKind::OpenAi,
        Some(given.model.base_url(ProviderKind::OpenAi)),
    );
    let harness = Harness::with_bindings(
        given.host.clone(),
        Models::with_env(http(), settings, |_| None),
        memory::bindings(vec![profile.clone()]),
    );
    let chat = |session: Option<String>, text: &'static str| {
        let harness = harness.clone();
        async move {
            let turn = harness
                .chat(
                    "Assistant",
                    "me",
                    think::ChatRequest {
                        session_id: session,
                        text: text.to_owned(),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            let session = turn.session_id.clone();
            turn.collect().await;
            session
        }
    };
    given.model.push(Reply::new().tool_call(
        "c1",
        "write",
        json!({"path": "/fav.txt", "content": "teal"}),
    ));
    given
        .model
        .push(Reply::new().text("Noted: your favourite colour is teal."));
    given.model.push(Reply::new().text("Hello again."));
    let session = chat(None, "My favourite colour is teal, please note it.").await;
    chat(Some(session.clone()), "Hi!").await;

    // Nothing to compact in an unknown session, or before the first question.
    let error = harness
        .compact("Assistant", "me", "no-such-session")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "NOT_FOUND", "{error}");

    given
        .model
        .push(Reply::new().text("The user's favourite colour is teal (saved to /fav.txt)."));
    let done = harness.compact("Assistant", "me", &session).await.unwrap();
    // Everything before the latest question: user, call, result, answer.
    assert_eq!(done.messages, 4);
    assert!(done.tokens_after < done.tokens_before);
    assert_eq!(done.memory.len(), 1, "{:?}", done.memory);
    assert!(done.memory[0].get("error").is_none(), "{:?}", done.memory);
    let page = profile
        .list(memory::ListOptions {
            session_id: Some(session.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    let contents: Vec<&str> = page.memories.iter().map(|m| m.content.as_str()).collect();
    assert!(
        contents
            .iter()
            .any(|c| c.contains("favourite colour is teal")),
        "{contents:?}"
    );
    assert!(
        !contents.iter().any(|c| c.contains("Hi!")),
        "the kept question is not ingested: {contents:?}"
    );
    assert!(
        !contents
            .iter()
            .any(|c| c.contains("mtimeMs") || c.contains("mtime_ms")),
        "raw tool results are not ingested: {contents:?}"
    );

    // The next turn's prompt is the overlay: the summary, then the kept exchange.
    given.model.push(Reply::new().text("Teal."));
    chat(Some(session.clone()), "What is my favourite colour?").await;
    let requests = given.model.requests();
    let last = prompt_texts(&requests.last().unwrap().body).join("\n");
    assert!(last.contains("saved to /fav.txt"), "{last}");
    assert!(!last.contains("please note it"), "{last}");
    assert!(last.contains("Hi!"), "{last}");

    // Asked again: the summary and the exchange after it are re-summarised into one
    // compaction that contains the first (the newest applies in prompts).
    given
        .model
        .push(Reply::new().text("Teal, saved to /fav.txt; the user said hi."));
    let again = harness.compact("Assistant", "me", &session).await.unwrap();
    assert_eq!(again.messages, 2, "Hi! and its answer");
    assert_eq!(again.compaction.first_id, done.compaction.first_id);

    // A session of one exchange has nothing before its question.
    given.model.push(Reply::new().text("Hello."));
    let single = chat(None, "Hello?").await;
    let error = harness
        .compact("Assistant", "me", &single)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "INVALID_INPUT", "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn issue15_compaction_settings_out_of_range_are_clear_errors() {
    const BAD: &str = r#"
import { Think } from "agents";
export default class Bad extends Think {
  get compactAt() { return this.name === "share" ? 1.5 : undefined; }
  get contextWindow() { return this.name === "window" ? 100.5 : undefined; }
}
"#;
    let given = given_harness(ProviderKind::OpenAi, &[("Bad.ts", BAD)]).await;
    for (name, wanted) in [("share", "compactAt"), ("window", "contextWindow")] {
        let error = given
            .harness
            .chat(
                "Bad",
                name,
                think::ChatRequest {
                    text: "hello".to_owned(),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(error.to_string().contains(wanted), "{name}: {error}");
    }
    assert!(given.model.requests().is_empty(), "no model call was made");
}

/// Through Anthropic's format: the prompt after a compaction starts with the user turn
/// that holds the summary, roles alternate, and a kept tool call keeps its result.
#[tokio::test(flavor = "multi_thread")]
async fn issue15_compaction_prompt_is_valid_for_anthropic() {
    let given = given_harness(ProviderKind::Anthropic, &[("Assistant.ts", ASSISTANT)]).await;
    given.model.push(Reply::new().text("Hello."));
    let (session, _) = given
        .chat("Assistant", "me", None, "Hi, I am OLD-GREETING.")
        .await;
    given.model.push(Reply::new().tool_call(
        "toolu_1",
        "write",
        json!({"path": "/a.txt", "content": "a"}),
    ));
    given.model.push(Reply::new().text("Written."));
    given
        .chat("Assistant", "me", Some(&session), "Write /a.txt please.")
        .await;
    given
        .model
        .push(Reply::new().text("SUMMARY-AN: the user greeted."));
    let done = given
        .harness
        .compact("Assistant", "me", &session)
        .await
        .unwrap();
    assert_eq!(done.messages, 2);
    given.model.push(Reply::new().text("Yes."));
    given
        .chat("Assistant", "me", Some(&session), "Did it work?")
        .await;

    let body = given.model.requests().last().unwrap().body.clone();
    let messages = body["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant", "user"]);
    let all = body.to_string();
    assert!(all.contains("SUMMARY-AN"), "{all}");
    assert!(!all.contains("OLD-GREETING"), "{all}");
    // The summary and the kept question share the first user turn.
    let first = messages[0].to_string();
    assert!(
        first.contains("SUMMARY-AN") && first.contains("Write /a.txt"),
        "{first}"
    );
    assert_eq!(messages[1]["content"][0]["type"], "tool_use");
    assert_eq!(messages[2]["content"][0]["type"], "tool_result");
    assert_eq!(
        messages[1]["content"][0]["id"],
        messages[2]["content"][0]["tool_use_id"]
    );
}

/// A window that system prompt and tools alone fill: compacting cannot help, so the loop
/// does not call the model for summaries at every step.
#[tokio::test(flavor = "multi_thread")]
async fn issue15_compaction_is_skipped_when_tools_alone_fill_the_window() {
    const TINY: &str = r#"
import { Think } from "agents";
export default class Tiny extends Think {
  contextWindow = 256;
  compactAt = 1;
}
"#;
    let given = given_harness(ProviderKind::OpenAi, &[("Tiny.ts", TINY)]).await;
    given.model.push(Reply::new().text("One."));
    given.model.push(Reply::new().text("Two."));
    let (session, _) = given.chat("Tiny", "me", None, "First?").await;
    let (_, chunks) = given.chat("Tiny", "me", Some(&session), "Second?").await;
    assert_eq!(streamed_text(&chunks), "Two.");
    assert_eq!(given.model.requests().len(), 2, "no summary was asked for");
}

const KEEPER: &str = r#"
import { Think } from "agents";
export default class Keeper extends Think { static memory = ["team/notes"]; }
"#;
const WATCHER: &str = r#"
import { Think } from "agents";
export default class Watcher extends Think {
  static memory = [{ profile: "team/notes", readOnly: true }];
}
"#;

/// A harness with the classes `Keeper` (writes the profile `team/notes`) and `Watcher`
/// (reads it), the profile, and its folder (kept alive by the caller).
async fn given_team_notes() -> (Given, memory::Profile, tempfile::TempDir) {
    let memory_dir = tempfile::tempdir().unwrap();
    let memories = memory::Memories::new(memory::MemoryConfig::new(memory_dir.path()));
    let notes = memories.profile("team/notes").unwrap();
    let model = llm::scripted::ScriptedModel::start().await.unwrap();
    let settings = given_settings(
        ProviderKind::OpenAi,
        Some(model.base_url(ProviderKind::OpenAi)),
    );
    let given = given_harness_configured(
        model,
        settings,
        &[("Keeper.ts", KEEPER), ("Watcher.ts", WATCHER)],
        |classes| agents::HostConfig {
            class_bindings: classes
                .iter()
                .map(|c| {
                    let by = format!("agent class `{}` (`static memory`)", c.name);
                    let attachments = c
                        .memory
                        .iter()
                        .map(|a| memory::Attachment {
                            profile: memories.profile(&a.profile).unwrap(),
                            read_only: a.read_only,
                            by: by.clone(),
                        })
                        .collect();
                    (c.name.clone(), memory::attached_bindings(attachments))
                })
                .collect(),
            ..agents::HostConfig::default()
        },
    )
    .await;
    (given, notes, memory_dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn issue19_5_compaction_ingests_into_the_classes_writable_profiles_only() {
    let (given, notes, _memory_dir) = given_team_notes().await;
    given
        .model
        .push(Reply::new().text("Noted: deploys go out on Tuesdays."));
    given.model.push(Reply::new().text("Sure."));
    let (session, _) = given
        .chat("Keeper", "k", None, "Remember: deploys go out on Tuesdays.")
        .await;
    given.chat("Keeper", "k", Some(&session), "Thanks!").await;
    given
        .model
        .push(Reply::new().text("Deploys go out on Tuesdays."));
    let done = given
        .harness
        .compact("Keeper", "k", &session)
        .await
        .unwrap();
    assert_eq!(done.memory.len(), 1, "{:?}", done.memory);
    assert_eq!(done.memory[0]["profile"], "team/notes", "{:?}", done.memory);
    assert!(done.memory[0].get("error").is_none(), "{:?}", done.memory);

    // The read-only colleague recalls it from `execute`, cannot write, and its
    // compactions ingest nowhere.
    given.model.push(Reply::new().tool_call(
        "c1",
        "execute",
        json!({ "code": r#"async () => {
            const r = await memory.recall("when do deploys go out");
            let refused;
            try { await memory.remember("Deploys on Fridays"); } catch (e) { refused = e.code; }
            return { top: r.results[0].memory.content, refused };
        }"# }),
    ));
    given.model.push(Reply::new().text("On Tuesdays."));
    let (watched, _) = given
        .chat("Watcher", "w", None, "When do deploys go out?")
        .await;
    let requests = given.model.requests();
    // Attached profiles are recalled into a new turn's system prompt, once they hold
    // something: not in the Keeper's first turn, in the Watcher's.
    let first = prompt_texts(&requests[0].body).join("\n");
    assert!(!first.contains("Relevant memories"), "{first}");
    let step1 = &requests[requests.len() - 2].body["messages"][0];
    assert_eq!(step1["role"], "system", "{step1}");
    let system = step1["content"].as_str().unwrap();
    assert!(
        system.contains("Relevant memories:\n- ")
            && system.contains("deploys go out on Tuesdays")
            && system.contains("(team/notes, 2023-11-14)"),
        "{system}"
    );
    let last = prompt_texts(&requests.last().unwrap().body).join("\n");
    assert!(
        last.contains("\"top\":") && last.contains("READ_ONLY"),
        "{last}"
    );
    given.model.push(Reply::new().text("Fine."));
    given.chat("Watcher", "w", Some(&watched), "Thanks!").await;
    given
        .model
        .push(Reply::new().text("They asked about deploys."));
    let done = given
        .harness
        .compact("Watcher", "w", &watched)
        .await
        .unwrap();
    assert!(done.memory.is_empty(), "{:?}", done.memory);
    let stored = notes.count().await.unwrap();
    assert!(stored >= 1, "{stored}");
    let page = notes.list(memory::ListOptions::default()).await.unwrap();
    assert!(
        page.memories
            .iter()
            .all(|m| m.session_id.as_deref() == Some(session.as_str())),
        "only the Keeper's session is stored"
    );
}

/// Issue 15: a turn resumed after a restart lost the memories recall had added to its
/// system prompt (recall runs for a new turn only). They are kept on the turn's fiber.
#[tokio::test(flavor = "multi_thread")]
async fn issue15_a_resumed_turn_keeps_the_memories_recalled_into_its_prompt() {
    let (given, _notes, _memory_dir) = given_team_notes().await;
    given
        .model
        .push(Reply::new().text("Noted: deploys go out on Tuesdays."));
    let (session, _) = given
        .chat("Keeper", "k", None, "Remember: deploys go out on Tuesdays.")
        .await;
    given.model.push(Reply::new().text("Sure."));
    given.chat("Keeper", "k", Some(&session), "Thanks!").await;
    given
        .model
        .push(Reply::new().text("Deploys go out on Tuesdays."));
    given
        .harness
        .compact("Keeper", "k", &session)
        .await
        .unwrap();

    // A turn that recalls: its fiber keeps the block.
    given.model.push(Reply::new().text("On Tuesdays."));
    let (watched, _) = given
        .chat("Watcher", "w", None, "When do deploys go out?")
        .await;
    let stash = latest_fiber(&given, &agents::Address::new("Watcher", "w"), &watched)
        .await
        .stash
        .expect("a stash");
    let block = stash["recalled"]
        .as_str()
        .expect("the recalled block")
        .to_owned();
    assert!(
        block.starts_with("Relevant memories:\n- ") && block.contains("Tuesdays"),
        "{block}"
    );
    // Another agent's turn cut off by a crash after its recall: the resumed inference's
    // prompt has the same memories, though recall is not asked again.
    given_turn_cut_after_its_start(&given, "Watcher", "cut", "When do deploys go out?", stash)
        .await;
    given.model.push(Reply::new().text("Tuesdays."));
    assert_eq!(given.harness.recover_all().await, 1);
    let requests = given.model.requests();
    let resumed = &requests.last().unwrap().body["messages"][0];
    assert_eq!(resumed["role"], "system", "{resumed}");
    let system = resumed["content"].as_str().unwrap();
    assert!(system.ends_with(&block), "{system}");
}
