//! What a person at a shell sees (issue 13, items 13 and 14): the README's set-up, help
//! texts that paste, terminal-safe output, readable listings.

use crate::support::*;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn islet(args: &[&str]) -> Output {
    islet_with_env(args, "", &[])
}

#[test]
fn issue13_13_the_readmes_memory_example_works_with_the_sample_conversation() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let ingest = "islet memory ingest examples/memory/conversation.json --profile team/alice";
    let recall = "islet memory recall \"where does alice work\" --profile team/alice";
    assert!(
        readme.contains(ingest) && readme.contains(recall),
        "README lost the example"
    );
    assert!(readme.contains("cargo install --path crates/islet"));

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let sample = repo().join("examples/memory/conversation.json");
    let out = islet(&[
        "memory",
        "ingest",
        sample.to_str().unwrap(),
        "--profile",
        "team/alice",
        "--data",
        data,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = islet(&[
        "memory",
        "recall",
        "where does alice work",
        "--profile",
        "team/alice",
        "--data",
        data,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first = text(&out.stdout)
        .lines()
        .take(3)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(first.contains("Lumen Labs"), "{}", text(&out.stdout));
}

/// Every `--help` with examples, at 80 columns: an example is one line, or continues with
/// a trailing `\`, so it pastes into a shell as it reads.
#[test]
fn issue13_14_help_examples_paste_correctly() {
    let commands: &[&[&str]] = &[
        &[],
        &["serve"],
        &["ws"],
        &["run"],
        &["bench", "isolate"],
        &["mcp", "openapi"],
        &["mcp", "proxy"],
        &["tokens"],
        &["doctor"],
        &["memory"],
        &["memory", "ingest"],
        &["memory", "recall"],
    ];
    let mut examples_seen = 0;
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let out = islet_with_env(&args, "", &[("COLUMNS", "80")]);
        assert!(out.status.success(), "{args:?}");
        let help = text(&out.stdout);
        let Some(at) = help.find("Example") else {
            continue;
        };
        let mut previous: Option<&str> = None;
        for line in help[at..].lines().skip(1) {
            if line.trim().is_empty() {
                break;
            }
            let continues = previous.is_some_and(|p| p.trim_end().ends_with('\\'));
            let command_line = line.starts_with("  ") && !line.starts_with("   ");
            assert!(
                command_line || continues,
                "{args:?}: `{line}` continues an example without a `\\` before it:\n{help}"
            );
            examples_seen += 1;
            previous = Some(line);
        }
    }
    assert!(examples_seen >= 10, "{examples_seen}");
}

#[test]
fn issue13_14_logs_have_no_colour_codes_off_a_terminal() {
    // In a directory without agents, `islet serve` warns through the log (a pipe here).
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_islet"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--isolation",
            "inprocess",
        ])
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        line.contains("WARN") && line.contains("no ./agents"),
        "{line:?}"
    );
    assert!(!line.contains('\u{1b}'), "{line:?}");
}

const HOSTILE: &str = "console.log('a\\x1b[2Jb\\rc\\u009bd'); return 'e\\x1b[31mf\\u009b';";

#[test]
#[allow(clippy::print_stderr)] // says why half of it was skipped
fn issue13_14_run_escapes_guest_control_characters_on_a_terminal() {
    // Off a terminal: the text as the code wrote it, and JSON that parses to it.
    let out = islet_with_env(&["run", "-"], HOSTILE, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "a\u{1b}[2Jb\rc\u{9b}d\n");
    let stdout = text(&out.stdout);
    assert!(
        !stdout.contains('\u{9b}') && !stdout.contains('\u{1b}'),
        "{stdout:?}"
    );
    let result: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(result, Value::String("e\u{1b}[31mf\u{9b}".into()));
    let out = islet_with_env(&["run", "--json", "-"], HOSTILE, &[]);
    let stdout = text(&out.stdout);
    assert!(
        !stdout.contains('\u{9b}') && !stdout.contains('\u{1b}'),
        "{stdout:?}"
    );
    let outcome: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(outcome["logs"][0]["text"], "a\u{1b}[2Jb\rc\u{9b}d");

    // On a terminal (a pseudo-terminal from `script`): nothing the code wrote can steer it.
    if Command::new("script").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "`script` (util-linux) is needed for the terminal half of this test"
        );
        eprintln!("skipped the terminal half: no `script` (util-linux) on PATH");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let code = dir.path().join("hostile.js");
    std::fs::write(&code, HOSTILE).unwrap();
    let shell = format!("{} run {}", env!("CARGO_BIN_EXE_islet"), code.display());
    let out = Command::new("script")
        .args(["-qec", &shell, "/dev/null"])
        .output()
        .unwrap();
    let seen = text(&out.stdout);
    assert!(
        !seen.contains('\u{1b}') && !seen.contains('\u{9b}'),
        "{seen:?}"
    );
    assert!(seen.contains("a\\x1b[2Jb\\rc\\u{9b}d"), "{seen:?}");
    assert!(seen.contains("\"e\\u001b[31mf\\u009b\""), "{seen:?}");
}

#[test]
fn issue13_14_ws_ls_prints_readable_times() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let data = store::DataDir::open(&data, store::Env::default()).unwrap();
        data.open_agent("Notes", "alice").unwrap();
    }
    let data = data.to_str().unwrap();
    let put = islet_with_env(
        &["ws", "put", "Notes/alice", "/todo.md", "--data", data],
        "- milk\n",
        &[],
    );
    assert!(put.status.success(), "{}", text(&put.stderr));
    let ls = islet(&["ws", "ls", "Notes/alice", "--data", data]);
    let listing = text(&ls.stdout);
    let line = listing.lines().find(|l| l.ends_with("todo.md")).unwrap();
    // `file          7 2026-12-02T02:47:03Z todo.md`
    let time = line.split_whitespace().nth(2).unwrap();
    let shape: String = time
        .chars()
        .map(|c| if c.is_ascii_digit() { '9' } else { c })
        .collect();
    assert_eq!(shape, "9999-99-99T99:99:99Z", "{line}");
}
