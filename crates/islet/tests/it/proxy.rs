//! `islet mcp proxy CONFIG` driven by the official Python MCP SDK over stdio and streamable
//! HTTP, with two upstreams (the Python fixture server of the codemode tests). Also: the
//! children end with the proxy, whether the client disconnects or the proxy gets SIGTERM.
//!
//! `.ci/run` creates `.ci/venv` with the SDK; without it the tests are skipped locally and
//! fail on CI (env `CI` set).

use crate::support::*;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[allow(clippy::print_stderr)]
pub(crate) fn python() -> Option<PathBuf> {
    let python = root().join(".ci/venv/bin/python");
    if python.exists() {
        return Some(python);
    }
    let why = format!(
        "the Python MCP SDK is not installed at {}; run .ci/run",
        python.display()
    );
    assert!(std::env::var_os("CI").is_none(), "{why}");
    eprintln!("skipped: {why}");
    None
}

/// A config with two fixture upstreams, written to a temp file.
fn write_config(python: &Path, tag: &str) -> PathBuf {
    let script = root().join("crates/codemode/tests/fixtures/proxy/flaky_server.py");
    let entry = json!({"command": python, "args": [script]});
    let config = json!({"mcpServers": {"alpha": entry, "beta": entry}});
    let path = std::env::temp_dir().join(format!("islet-proxy-{tag}-{}.json", std::process::id()));
    std::fs::write(&path, config.to_string()).expect("write config");
    path
}

fn client_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/proxy_client.py")
}

fn run_client(python: &Path, args: &[String]) -> Value {
    let out = Command::new(python)
        .arg(client_script())
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("the client runs");
    json_stdout(&out)
}

/// Checks the report; returns the upstream pids the program saw.
fn assert_report(report: &Value) -> Vec<u32> {
    assert_eq!(report["tools"], json!(["search", "execute"]), "{report}");
    let search = report["search"].as_str().unwrap_or_default();
    assert!(
        search.contains("alpha.echo") || search.contains("beta.echo"),
        "{search}"
    );
    let execute = &report["execute"];
    assert_eq!(execute["is_error"], false, "{execute}");
    let outcome: Value =
        serde_json::from_str(execute["text"].as_str().unwrap_or_default()).expect("JSON");
    assert_eq!(
        outcome["result"]["echoes"],
        json!(["hi 1", "hi 2", "hi 3"]),
        "{outcome}"
    );
    let pids: Vec<u32> = outcome["result"]["pids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_u64())
                .map(|p| p as u32)
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(pids.len(), 2, "{outcome}");
    pids
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn assert_gone(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&p| alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    for &pid in pids {
        assert!(!alive(pid), "upstream pid {pid} outlived the proxy");
    }
}

#[test]
fn python_sdk_over_stdio_and_no_orphans_when_the_client_disconnects() {
    let Some(python) = python() else { return };
    let config = write_config(&python, "stdio");
    let args = vec![
        "stdio".to_owned(),
        env!("CARGO_BIN_EXE_islet").to_owned(),
        "mcp".to_owned(),
        "proxy".to_owned(),
        config.display().to_string(),
    ];
    let report = run_client(&python, &args);
    let pids = assert_report(&report);
    // The client has exited (closing the proxy's stdin); the proxy ends its children.
    assert_gone(&pids);
    let _ = std::fs::remove_file(config);
}

/// Kills the proxy when the test ends, pass or fail.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn python_sdk_over_streamable_http_and_no_orphans_after_sigterm() {
    let Some(python) = python() else { return };
    let config = write_config(&python, "http");
    let mut server = Server(
        Command::new(env!("CARGO_BIN_EXE_islet"))
            .args(["mcp", "proxy"])
            .arg(&config)
            .args(["--http", "127.0.0.1:0", "--eager"])
            .env("RUST_LOG", "codemode::mcp::upstream=info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("islet starts"),
    );
    let stderr = server.0.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    let (pid_tx, pid_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("serving MCP at ") {
                let _ = tx.send(url.trim().to_owned());
            }
            // `upstream process started server=alpha pid=1234`: the test hook for orphans.
            if line.contains("upstream process started")
                && let Some(pid) = line
                    .split("pid=")
                    .nth(1)
                    .and_then(|p| p.trim().parse::<u32>().ok())
            {
                let _ = pid_tx.send(pid);
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("proxy announces its URL");
    let report = run_client(&python, &["http".to_owned(), url]);
    let mut pids = assert_report(&report);
    pids.sort_unstable();
    let mut logged: Vec<u32> = pid_rx.try_iter().collect();
    logged.sort_unstable();
    assert_eq!(logged, pids, "the log names the children the program saw");

    let status = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = server.0.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "proxy did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    assert_gone(&pids);
    let _ = std::fs::remove_file(config);
}

/// Issue 4's acceptance: `islet mcp proxy examples/mcp.json` with the four real servers
/// answers `tools/list` with exactly two tools, and one `execute` touches all four.
#[test]
fn issue_4_acceptance_examples_mcp_json() {
    let Some(python) = python() else { return };
    for upstream in [
        "node_modules/.bin/mcp-server-filesystem",
        "node_modules/.bin/mcp-server-memory",
        "node_modules/.bin/mcp-server-everything",
        ".ci/venv/bin/mcp-server-git",
    ] {
        if !root().join(upstream).exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "{upstream} is missing: run .ci/run"
            );
            return;
        }
    }
    let memory =
        std::env::temp_dir().join(format!("islet-acceptance-{}.jsonl", std::process::id()));
    let out = Command::new(python)
        .arg(root().join("crates/islet/tests/clients/acceptance_client.py"))
        .arg(env!("CARGO_BIN_EXE_islet"))
        .current_dir(root())
        .env("ISLET_MEMORY_FILE", &memory)
        .output()
        .expect("the client runs");
    let _ = std::fs::remove_file(&memory);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(stdout.trim()).expect("json");
    assert_eq!(report["tools"], json!(["search", "execute"]));
    assert_eq!(report["is_error"], json!(false), "{report}");
    let outcome: Value =
        serde_json::from_str(report["execute"].as_str().unwrap_or_default()).expect("outcome json");
    assert_eq!(
        outcome["result"],
        json!({"readme": true, "git": true, "everything": true, "memory": true}),
        "{outcome}"
    );
}
