//! `islet memory`, as a user calls it (issue 7).

use std::path::Path;
use std::process::Output;

use crate::support::{islet_with_env, text};

fn islet(args: &[&str], env: &[(&str, &str)]) -> Output {
    islet_with_env(args, "", env)
}

/// A scratch data directory, removed on drop.
struct DataDir(tempfile::TempDir);

impl DataDir {
    fn path(&self) -> &Path {
        self.0.path()
    }

    fn arg(&self) -> &str {
        self.path().to_str().expect("utf-8 temp path")
    }
}

fn given_data_dir() -> DataDir {
    DataDir(tempfile::tempdir().expect("temp dir"))
}

/// `islet memory ARGS --data DIR`.
fn memory(data: &DataDir, args: &[&str]) -> Output {
    islet(
        &[&["memory"][..], args, &["--data", data.arg()][..]].concat(),
        &[],
    )
}

fn given_conversation_file() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../memory/tests/fixtures/conversation.json")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn issue_7_acceptance_ingest_then_recall_prints_ranked_memories_with_sources() {
    let data = given_data_dir();
    let file = given_conversation_file();
    let out = memory(&data, &["ingest", &file, "--profile", "team/alice"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("team/alice: 440 messages → "),
        "{stdout}"
    );
    assert!(stdout.contains(" 0 unchanged"), "{stdout}");
    // Not a terminal: progress comes as log lines.
    assert!(
        text(&out.stderr).contains("ingest: writing"),
        "{}",
        text(&out.stderr)
    );

    let out = memory(
        &data,
        &["recall", "where does alice work", "--profile", "team/alice"],
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains(" 1. relevance 0."), "{stdout}");
    assert!(stdout.contains("10. relevance "), "ten results: {stdout}");
    // Her current job, with the id of the message that said it.
    assert!(stdout.contains("Lumen Labs"), "{stdout}");
    assert!(stdout.contains("sources s24-m06"), "{stdout}");

    let out = memory(
        &data,
        &[
            "recall",
            "office wifi password",
            "--profile",
            "team/alice",
            "--json",
            "--limit",
            "3",
        ],
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let recall: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let results = recall["results"].as_array().expect("results");
    assert!((1..=3).contains(&results.len()), "{recall}");
    assert_eq!(results[0]["sources"], serde_json::json!(["s11-m04"]));
    assert!(
        results[0]["memory"]["content"]
            .as_str()
            .unwrap()
            .contains("tangerine-42")
    );

    // Ingesting the same file again adds nothing.
    let out = memory(
        &data,
        &["ingest", &file, "--profile", "team/alice", "--json"],
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["added"], 0);
}

#[test]
fn list_get_forget_profiles_and_delete_profile() {
    let data = given_data_dir();
    let out = memory(
        &data,
        &[
            "remember",
            "the deploy key rotates monthly",
            "--profile",
            "ops/runbook",
            "--subject",
            "deploy.key",
            "--json",
        ],
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let id = m["id"].as_str().expect("id").to_owned();
    assert_eq!(m["added"], true);

    let out = memory(&data, &["list", "--profile", "ops/runbook"]);
    assert!(text(&out.stdout).contains(&id), "{}", text(&out.stdout));
    let out = memory(&data, &["get", &id, "--profile", "ops/runbook"]);
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(got["subject"], "deploy.key");
    let out = memory(&data, &["profiles"]);
    assert!(
        text(&out.stdout).starts_with("ops/runbook"),
        "{}",
        text(&out.stdout)
    );

    let out = memory(&data, &["forget", &id, "--profile", "ops/runbook"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let out = memory(&data, &["get", &id, "--profile", "ops/runbook"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no memory"),
        "{}",
        text(&out.stderr)
    );

    // No terminal to ask on: refused unless --yes.
    let out = memory(&data, &["delete-profile", "--profile", "ops/runbook"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("without confirmation") && stderr.contains("--yes"),
        "{stderr}"
    );
    let out = memory(&data, &["profiles"]);
    assert!(
        text(&out.stdout).contains("0 memories"),
        "{}",
        text(&out.stdout)
    );
    let out = memory(
        &data,
        &["delete-profile", "--profile", "ops/runbook", "--yes"],
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let out = memory(&data, &["profiles", "--json"]);
    assert_eq!(text(&out.stdout).trim(), "[]");
}

#[test]
fn issue19_output_reads_well_plurals_and_a_list_hint_with_every_flag() {
    let data = given_data_dir();
    let file = data.path().join("one.json");
    std::fs::write(
        &file,
        r#"[{"session_id": "s1", "date": "2024-01-01", "messages": [
             {"id": "m1", "speaker": "alice", "text": "the build is green"},
             {"id": "m2", "speaker": "bob", "text": "the deploy is red"},
             {"id": "m3", "speaker": "bob", "text": "the tests are slow"}]}]"#,
    )
    .unwrap();
    let out = memory(
        &data,
        &["ingest", file.to_str().unwrap(), "--profile", "ops/ci"],
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "ops/ci: 3 messages → 3 memories added, 0 unchanged"
    );
    let out = memory(
        &data,
        &[
            "list",
            "--profile",
            "ops/ci",
            "--limit",
            "1",
            "--type",
            "event",
            "--session",
            "s1",
        ],
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let hint = text(&out.stderr);
    for flag in [
        format!("--data {}", data.arg()),
        "--profile ops/ci".into(),
        "--limit 1".into(),
        "--type event".into(),
        "--session s1".into(),
        "--cursor r".into(),
    ] {
        assert!(hint.contains(&flag), "{flag} missing from {hint}");
    }
    let out = memory(&data, &["forget", "--session", "s1", "--profile", "ops/ci"]);
    assert_eq!(text(&out.stdout).trim(), "forgot 3 memories of session s1");
    let out = memory(&data, &["remember", "one thing", "--profile", "ops/ci"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let out = memory(&data, &["profiles"]);
    assert!(
        text(&out.stdout).contains(" 1 memory "),
        "{}",
        text(&out.stdout)
    );
    let out = memory(
        &data,
        &["recall", "one thing", "--profile", "ops/ci", "--json"],
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let score = r["results"][0]["score"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&score), "{r}");
}

#[test]
fn bad_input_gives_clear_errors_and_writes_nothing() {
    let data = given_data_dir();
    let out = memory(&data, &["recall", "anything", "--profile", "team/ghost"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("memory profile `team/ghost` does not exist"),
        "{stderr}"
    );

    let out = memory(&data, &["recall", "x", "--profile", "Team"]);
    assert!(text(&out.stderr).contains("invalid memory profile name `Team`"));

    let bad = data.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"[{"session_id": "s1", "date": "2024-01-01", "messages": [
             {"id": "m1", "speaker": "alice", "text": "fine"}]},
            {"session_id": "s2", "date": "2024-01-02", "messages": [
             {"id": "m2", "speaker": "bob"}]}]"#,
    )
    .unwrap();
    let out = memory(
        &data,
        &["ingest", bad.to_str().unwrap(), "--profile", "team/alice"],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("`[1].messages[0].text`: missing"),
        "{stderr}"
    );
    assert!(!data.path().join("memory/team/alice.sqlite").exists());

    let good = data.path().join("good.json");
    std::fs::write(
        &good,
        r#"[{"session_id": "s1", "date": "2024-01-01", "messages": [
             {"id": "m1", "speaker": "alice", "text": "fine"}]}]"#,
    )
    .unwrap();
    let out = memory(
        &data,
        &["ingest", good.to_str().unwrap(), "--profile", "team/alice"],
    );
    assert!(out.status.success());
    let out = memory(&data, &["recall", "  ", "--profile", "team/alice"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("the recall query is blank"));

    let out = memory(
        &data,
        &[
            "recall",
            "x",
            "--profile",
            "team/alice",
            "--llm-url",
            "http://x",
        ],
    );
    assert!(text(&out.stderr).contains("--llm-url needs --llm-model"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_extraction_and_answers_through_the_cli() {
    let mock = ::memory::mock::MockOpenAi::start("sk-cli-test")
        .await
        .expect("mock starts");
    let url = mock.url();
    let data = given_data_dir();
    let file = data.path().join("c.json");
    std::fs::write(
        &file,
        r#"[{"session_id": "s1", "date": "2024-01-01", "messages": [
             {"id": "m1", "speaker": "alice", "text": "I work at Acme"}]},
            {"session_id": "s2", "date": "2024-06-01", "messages": [
             {"id": "m2", "speaker": "alice", "text": "I work at Initech now"}]}]"#,
    )
    .unwrap();
    let d = data.arg().to_owned();
    let file = file.to_string_lossy().into_owned();
    let out = tokio::task::spawn_blocking(move || {
        let llm = [
            "--llm-url",
            &url,
            "--llm-model",
            "mock-chat",
            "--llm-key-env",
            "ISLET_TEST_LLM_KEY",
            "--data",
            &d,
            "--profile",
            "team/alice",
        ];
        let env = [("ISLET_TEST_LLM_KEY", "sk-cli-test")];
        let ingest = islet(&[&["memory", "ingest", &file][..], &llm[..]].concat(), &env);
        assert!(ingest.status.success(), "stderr: {}", text(&ingest.stderr));
        islet(
            &[
                &["memory", "recall", "where does alice work", "--answer"][..],
                &llm[..],
            ]
            .concat(),
            &env,
        )
    })
    .await
    .unwrap();
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("answer: According to memory [1]: alice said: I work at Initech now"),
        "{stdout}"
    );
    assert!(stdout.contains("subject alice.employer"), "{stdout}");
    assert!(!stdout.contains("I work at Acme"), "superseded: {stdout}");
    assert!(mock.chat_requests() >= 3);
}
