//! The Code Mode namespace, called from real isolates.

use crate::given_memories;
use memory::{RememberOptions, TYPESCRIPT};
use sandbox::{Execution, Sandbox, SandboxConfig};
use serde_json::json;

async fn run(bindings: sandbox::Bindings, code: &str) -> serde_json::Value {
    let sandbox = Sandbox::new(SandboxConfig { threads: 1 }).expect("sandbox");
    let outcome = sandbox
        .execute(Execution::new(code).bindings(bindings))
        .await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    outcome.result.unwrap_or_default()
}

#[tokio::test]
async fn code_remembers_recalls_lists_and_forgets() {
    let given = given_memories();
    let p = given.memories.profile("team/alice").unwrap();
    let result = run(
        memory::bindings(vec![p.clone()]),
        r#"async () => {
            const m = await memory.remember({ content: "Alice drinks green tea", subject: "alice.drink" });
            await memory.remember("Bob drinks coffee");
            const r = await memory.recall({ query: "what does alice drink", limit: 5 });
            const page = await memory.list({ limit: 1 });
            const again = await memory.list({ cursor: page.nextCursor });
            const got = await memory.get(m.id);
            const ingested = await memory.ingest({ sessionId: "s1", date: "2024-05-01",
                messages: [{ id: "m1", speaker: "alice", text: "I moved to Berlin" }] });
            const gone = await memory.forgetSession("s1");
            await memory.forget({ id: m.id });
            let code;
            try { await memory.get(m.id); } catch (e) { code = e.code; }
            return { added: m.added, top: r.results[0].memory.content, subject: got.subject,
                     pages: [page.memories.length, again.memories.length], ingested, gone, code };
        }"#,
    )
    .await;
    assert_eq!(
        result,
        json!({
            "added": true,
            "top": "Alice drinks green tea",
            "subject": "alice.drink",
            "pages": [1, 1],
            "ingested": {"messages": 1, "skipped": 0, "added": 1, "unchanged": 0, "vectors": 0},
            "gone": {"forgotten": 1},
            "code": "NOT_FOUND",
        })
    );
    assert_eq!(p.count().await.unwrap(), 1);
}

#[tokio::test]
async fn errors_reach_code_with_their_codes_and_messages() {
    let given = given_memories();
    let p = given.memories.profile("team/alice").unwrap();
    let result = run(
        memory::bindings(vec![p]),
        r#"async () => {
            const codes = [];
            for (const f of [
                () => memory.recall(""),
                () => memory.recall("anything"),
                () => memory.remember({ content: "x", kind: "fact" }),
                () => memory.ingest({ session_id: "s", messages: [{ id: "1", speaker: "a" }] }),
            ]) {
                try { await f(); codes.push("no error"); } catch (e) { codes.push(`${e.code}: ${e.message}`); }
            }
            return codes;
        }"#,
    )
    .await;
    let codes: Vec<String> = serde_json::from_value(result).unwrap();
    assert!(
        codes[0].starts_with("INVALID_INPUT: the recall query is blank"),
        "{codes:?}"
    );
    assert!(
        codes[1].starts_with("NOT_FOUND: memory profile `team/alice` does not exist"),
        "{codes:?}"
    );
    assert!(
        codes[2].starts_with("INVALID_INPUT: memory.remember: unknown field `kind`"),
        "{codes:?}"
    );
    assert!(
        codes[3].contains("`messages[0].text`: missing"),
        "{codes:?}"
    );
}

#[tokio::test]
async fn with_several_profiles_calls_name_one() {
    let given = given_memories();
    let alice = given.memories.profile("team/alice").unwrap();
    let bob = given.memories.profile("team/bob").unwrap();
    bob.remember("bob's memory", RememberOptions::default())
        .await
        .unwrap();
    let result = run(
        memory::bindings(vec![alice.clone(), bob]),
        r#"async () => {
            let error;
            try { await memory.recall("memory"); } catch (e) { error = e.message; }
            let notAttached;
            try { await memory.recall({ query: "memory", profile: "team/carol" }); } catch (e) { notAttached = e.message; }
            await memory.remember({ content: "alice's memory", profile: "team/alice" });
            const r = await memory.recall({ query: "memory", profile: "team/bob" });
            return { error, notAttached, bob: r.results.map(x => x.memory.content) };
        }"#,
    )
    .await;
    assert_eq!(
        result["error"],
        "several memory profiles are attached; pass `profile`, one of \"team/alice\", \"team/bob\""
    );
    assert!(
        result["notAttached"]
            .as_str()
            .unwrap()
            .contains("`team/carol` is not attached")
    );
    assert_eq!(result["bob"], json!(["bob's memory"]));
    assert_eq!(alice.count().await.unwrap(), 1);
}

#[test]
fn the_typescript_declaration_names_every_function() {
    for f in [
        "remember(",
        "recall(",
        "list(",
        "get(",
        "forget(",
        "forgetSession(",
        "ingest(",
    ] {
        assert!(TYPESCRIPT.contains(f), "{f}");
    }
    let b = memory::bindings(vec![]);
    let names: Vec<String> = b.iter().map(|(ns, n, _)| format!("{ns}.{n}")).collect();
    assert_eq!(
        names,
        [
            "memory.forget",
            "memory.forgetSession",
            "memory.get",
            "memory.ingest",
            "memory.list",
            "memory.recall",
            "memory.remember"
        ]
    );
}

#[tokio::test]
async fn issue12_memory_speaks_camel_case_and_still_reads_snake_case_input() {
    let given = given_memories();
    let p = given.memories.profile("team/alice").unwrap();
    let result = run(
        memory::bindings(vec![p.clone()]),
        r#"async () => {
            const m = await memory.remember({ content: "Standup moved to ten",
                sessionId: "s9", occurredAt: "2024-05-02T10:00:00Z" });
            const old = await memory.remember({ content: "Retro is on Friday",
                session_id: "s9", occurred_at: "2024-05-03" });
            const r = await memory.recall({ query: "standup", sessionId: "s9",
                includeSuperseded: true, asOf: "2024-06-01" });
            const page = await memory.list({ limit: 1, sessionId: "s9" });
            return { keys: Object.keys(m).sort(), oldSession: old.sessionId,
                     resultKeys: Object.keys(r.results[0]).sort(),
                     pageKeys: Object.keys(page).sort(),
                     forgotten: (await memory.forgetSession({ sessionId: "s9" })).forgotten };
        }"#,
    )
    .await;
    assert_eq!(
        result,
        json!({
            "keys": ["added", "content", "createdAt", "id", "occurredAt", "sessionId",
                     "sourceMessageIds", "speaker", "subject", "supersededBy", "type"],
            "oldSession": "s9",
            "resultKeys": ["matchedBy", "memory", "score", "sources"],
            "pageKeys": ["memories", "nextCursor"],
            "forgotten": 2,
        })
    );
    assert!(!TYPESCRIPT.contains("session_id"), "{TYPESCRIPT}");
}

#[tokio::test]
async fn issue19_5_read_only_attachment_reads_but_refuses_every_write() {
    let given = given_memories();
    let docs = given.memories.profile("team/docs").unwrap();
    docs.remember("Deploys go out on Tuesdays", RememberOptions::default())
        .await
        .unwrap();
    let notes = given.memories.profile("team/notes").unwrap();
    let bindings = memory::attached_bindings(vec![
        memory::Attachment::read_only(docs.clone(), "agent class `Reader` (`static memory`)"),
        memory::Attachment::writable(notes.clone(), "agent class `Reader` (`static memory`)"),
    ]);
    let result = run(
        bindings,
        r#"async () => {
            const r = await memory.recall({ query: "when do deploys go out", profile: "team/docs" });
            const id = r.results[0].memory.id;
            const refused = [];
            for (const f of [
                () => memory.remember({ content: "x", profile: "team/docs" }),
                () => memory.ingest({ sessionId: "s", profile: "team/docs",
                    messages: [{ id: "1", speaker: "a", text: "hi there" }] }),
                () => memory.forget({ id, profile: "team/docs" }),
                () => memory.forgetSession({ sessionId: "s", profile: "team/docs" }),
            ]) {
                try { await f(); refused.push("no error"); } catch (e) { refused.push(`${e.code}: ${e.message}`); }
            }
            const wrote = await memory.remember({ content: "Reader was here", profile: "team/notes" });
            const listed = await memory.list({ profile: "team/docs" });
            return { top: r.results[0].memory.content, refused, wrote: wrote.added,
                     listed: listed.memories.length };
        }"#,
    )
    .await;
    assert_eq!(result["top"], "Deploys go out on Tuesdays");
    assert_eq!(result["wrote"], true);
    assert_eq!(result["listed"], 1);
    let refused: Vec<String> = serde_json::from_value(result["refused"].clone()).unwrap();
    for (message, op) in refused
        .iter()
        .zip(["remember", "ingest", "forget", "forgetSession"])
    {
        assert!(
            message.starts_with("READ_ONLY: memory profile `team/docs` is attached read-only to agent class `Reader` (`static memory`)")
                && message.contains(&format!("`{op}` is refused")),
            "{refused:?}"
        );
    }
    assert_eq!(docs.count().await.unwrap(), 1);
    assert_eq!(notes.count().await.unwrap(), 1);
}

/// A placement that runs every operation here and records it, and ships nothing: what the
/// bindings hand to cluster mode.
#[derive(Debug, Default)]
struct Recording(std::sync::Mutex<Vec<(String, &'static str)>>);

impl memory::Placement for Recording {
    fn run<'a>(
        &'a self,
        profile: &'a memory::Profile,
        operation: &'static str,
        _args: serde_json::Value,
        here: memory::Here<'a>,
    ) -> memory::Placed<'a> {
        self.0
            .lock()
            .unwrap()
            .push((profile.name().to_string(), operation));
        here
    }
}

/// Every `memory.*` call of code, through an attachment or `this.memory`'s open bindings,
/// goes through the placement (cluster mode serves it where the profile lives), and a
/// write through a read-only attachment is refused before it could be sent elsewhere. A
/// placed profile never checkpoints on its own: its log is shipped first, then
/// `snapshot_image` folds it in.
#[tokio::test]
async fn issue21_every_operation_goes_through_the_placement() {
    let given = given_memories();
    let placement = std::sync::Arc::new(Recording::default());
    let memories =
        memory::Memories::new(given.memories.config().clone().placement(placement.clone()));
    let notes = memories.profile("team/notes").unwrap();
    let docs = memories.profile("team/docs").unwrap();
    let mut bindings = memory::attached_bindings(vec![
        memory::Attachment::writable(notes.clone(), "test"),
        memory::Attachment::read_only(docs, "a test's read-only attachment"),
    ]);
    for (namespace, name, f) in memory::open_bindings(memories.clone(), Vec::new()).iter() {
        bindings.insert(namespace, name, f.clone());
    }
    let result = run(
        bindings,
        r#"async () => {
            await memory.remember({ content: "Deploys happen on Tuesdays", profile: "team/notes" });
            const found = await memory.recall({ query: "when are deploys", profile: "team/notes" });
            let refused;
            try { await memory.remember({ content: "x", profile: "team/docs" }); } catch (e) { refused = e.code; }
            await __memoryProfiles.remember({ profile: "team/other", content: "Other profile" });
            return { top: found.results[0].memory.content, refused };
        }"#,
    )
    .await;
    assert_eq!(
        result,
        json!({ "top": "Deploys happen on Tuesdays", "refused": "READ_ONLY" })
    );
    assert_eq!(
        *placement.0.lock().unwrap(),
        vec![
            ("team/notes".to_owned(), "remember"),
            ("team/notes".to_owned(), "recall"),
            ("team/other".to_owned(), "remember"),
        ]
    );
    // Never checkpointed on its own: the write is still in the log, and only the
    // snapshot folds it into the file.
    let wal = notes.path().with_extension("sqlite-wal");
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);
    let image = notes
        .snapshot_image()
        .await
        .unwrap()
        .expect("the profile exists");
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
    assert_eq!(image, std::fs::read(notes.path()).unwrap());
}
