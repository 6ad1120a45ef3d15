//! `islet mcp openapi specs/github.json.gz` driven by the official Python and TypeScript MCP
//! SDKs, over stdio and streamable HTTP, against a local stand-in for two GitHub endpoints.
//!
//! `.ci/run` installs the Python SDK into `.ci/venv` and the TypeScript SDK into
//! `node_modules` (`npm ci`). Without them the tests are skipped locally and fail on CI
//! (env `CI` set).

use crate::support::*;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

const TOKEN_VAR: &str = "ISLET_TEST_GITHUB_TOKEN";
const TOKEN: &str = "ghp_testTOKEN0123456789abcdef";

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// An SDK client: the interpreter and the script that drives the server.
struct Client {
    program: PathBuf,
    script: PathBuf,
}

/// Skips (locally) or fails (on CI) a test whose peer is not installed.
#[allow(clippy::print_stderr)]
fn missing(why: String) -> Option<Client> {
    assert!(std::env::var_os("CI").is_none(), "{why}");
    eprintln!("skipped: {why}");
    None
}

/// The official Python SDK, from the venv `.ci/run` creates.
fn python_sdk() -> Option<Client> {
    let python = workspace_root().join(".ci/venv/bin/python");
    if !python.exists() {
        return missing(format!(
            "the Python MCP SDK is not installed at {}; run .ci/run (it creates .ci/venv and installs `mcp`)",
            python.display()
        ));
    }
    Some(Client {
        program: python,
        script: clients_dir().join("mcp_client.py"),
    })
}

/// The official TypeScript SDK, from `node_modules` (`npm ci` in `.ci/run`).
fn typescript_sdk() -> Option<Client> {
    let sdk = workspace_root().join("node_modules/@modelcontextprotocol/sdk");
    if !sdk.exists() {
        return missing(format!(
            "the TypeScript MCP SDK is not installed at {}; run .ci/run (it runs `npm ci`)",
            sdk.display()
        ));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return missing(
            "`node` is not on PATH; the TypeScript MCP SDK test needs Node.js".to_owned(),
        );
    }
    Some(Client {
        program: PathBuf::from("node"),
        script: clients_dir().join("mcp_client.mjs"),
    })
}

fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

#[derive(Clone, Default)]
struct StandIn {
    authorizations: Arc<Mutex<Vec<String>>>,
}

fn json_response(body: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

async fn repo(
    State(state): State<StandIn>,
    Path((owner, name)): Path<(String, String)>,
    request: Request,
) -> Response {
    // Echoes the credential, as some APIs do: it must come back redacted.
    let auth = record_authorization(&state.authorizations, &request);
    json_response(
        json!({ "id": 1, "name": name, "full_name": format!("{owner}/{name}"), "echo_auth": auth }),
    )
}

async fn issues(State(state): State<StandIn>, request: Request) -> Response {
    record_authorization(&state.authorizations, &request);
    json_response(json!([
        { "number": 1, "state": "open", "title": "a" },
        { "number": 2, "state": "closed", "title": "b" },
        { "number": 3, "state": "open", "title": "c" }
    ]))
}

/// Starts the stand-in on its own runtime thread; returns its address.
fn start_stand_in(state: StandIn) -> SocketAddr {
    serve_on_own_thread(
        Router::new()
            .route("/repos/{owner}/{repo}", get(repo))
            .route("/repos/{owner}/{repo}/issues", get(issues))
            .with_state(state),
    )
}

fn server_args(api: SocketAddr) -> Vec<String> {
    vec![
        "mcp".into(),
        "openapi".into(),
        workspace_root()
            .join("specs/github.json.gz")
            .display()
            .to_string(),
        "--base-url".into(),
        format!("http://{api}"),
        "--bearer-env".into(),
        TOKEN_VAR.into(),
    ]
}

fn run_client(client: &Client, args: &[String]) -> Value {
    let out = Command::new(&client.program)
        .arg(&client.script)
        .args(args)
        .env(TOKEN_VAR, TOKEN)
        .output()
        .expect("the client runs");
    // Issue 13: the SDK ends an HTTP session with DELETE and logs any answer but 200/204.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("Session termination failed"),
        "the client could not end its session: {stderr}"
    );
    json_stdout(&out)
}

/// What both transports must show.
fn assert_report(report: &Value, stand_in: &StandIn) {
    assert_eq!(report["tools"], json!(["search", "execute"]), "{report}");

    let search = &report["search"];
    assert_eq!(search["is_error"], false, "{search}");
    let text = search["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("api.repos.get(input: { owner: string; repo: string })"),
        "{text}"
    );

    let execute = &report["execute"];
    assert_eq!(execute["is_error"], false, "{execute}");
    let outcome: Value = serde_json::from_str(execute["text"].as_str().unwrap_or_default())
        .expect("execute text is JSON");
    assert_eq!(
        outcome,
        json!({ "result": { "name": "octo/hello", "open": 2, "auth": "[REDACTED]" }, "logs": ["issues: 3"] })
    );

    let misspelled = &report["misspelled"];
    assert_eq!(misspelled["is_error"], true, "{misspelled}");
    let text = misspelled["text"].as_str().unwrap_or_default();
    assert!(text.starts_with("TypeError"), "{text}");
    assert!(text.contains("did you mean `api.repos.get`"), "{text}");

    let spec_search = &report["spec_search"];
    assert_eq!(spec_search["is_error"], false, "{spec_search}");
    let found: Value =
        serde_json::from_str(spec_search["text"].as_str().unwrap_or_default()).expect("JSON");
    assert!(found["result"].as_u64().is_some_and(|n| n > 50), "{found}");

    // The API got the credential; the model never did.
    let seen = stand_in
        .authorizations
        .lock()
        .map(|s| s.clone())
        .unwrap_or_default();
    assert!(
        !seen.is_empty() && seen.iter().all(|a| a == &format!("Bearer {TOKEN}")),
        "{seen:?}"
    );
    assert!(
        !report.to_string().contains(TOKEN),
        "token leaked to the client: {report}"
    );
}

fn over_stdio(client: Option<Client>) {
    let Some(client) = client else { return };
    let stand_in = StandIn::default();
    let api = start_stand_in(stand_in.clone());
    let mut args = vec!["stdio".to_owned(), env!("CARGO_BIN_EXE_islet").to_owned()];
    args.extend(server_args(api));
    let report = run_client(&client, &args);
    assert_report(&report, &stand_in);
}

/// Kills the server when the test ends, pass or fail.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn over_streamable_http(client: Option<Client>) {
    let Some(client) = client else { return };
    let stand_in = StandIn::default();
    let api = start_stand_in(stand_in.clone());
    let mut server = Server(
        Command::new(env!("CARGO_BIN_EXE_islet"))
            .args(server_args(api))
            .args(["--http", "127.0.0.1:0", "--auth-token", "let-me-in"])
            .env(TOKEN_VAR, TOKEN)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("islet starts"),
    );
    // The server announces its address on stderr once it listens.
    let stderr = server.0.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("serving MCP at ") {
                let _ = tx.send(url.trim().to_owned());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server announces its URL");

    // Without the token: 401.
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_owned();
    let mut stream = TcpStream::connect(&addr).expect("connect");
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    write!(
        stream,
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");

    let report = run_client(&client, &["http".to_owned(), url, "let-me-in".to_owned()]);
    assert_report(&report, &stand_in);
}

#[test]
fn python_sdk_over_stdio() {
    over_stdio(python_sdk());
}

#[test]
fn python_sdk_over_streamable_http_with_a_bearer_token() {
    over_streamable_http(python_sdk());
}

#[test]
fn typescript_sdk_over_stdio() {
    over_stdio(typescript_sdk());
}

#[test]
fn typescript_sdk_over_streamable_http_with_a_bearer_token() {
    over_streamable_http(typescript_sdk());
}

/// `islet mcp openapi` with bad configuration: exit status 2 and a message naming the problem.
fn config_error(args: &[&str], expected: &str) {
    let spec = workspace_root().join("specs/slack.json.gz");
    let output = Command::new(env!("CARGO_BIN_EXE_islet"))
        .args(["mcp", "openapi", spec.to_str().expect("utf-8 path")])
        .args(args)
        .env_remove("ISLET_TEST_UNSET_TOKEN")
        .stdin(Stdio::null())
        .output()
        .expect("islet runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(
        stderr.contains(expected),
        "{args:?}: expected `{expected}` in {stderr}"
    );
    assert!(
        output.stdout.is_empty(),
        "stdout belongs to the protocol: {:?}",
        output.stdout
    );
}

#[test]
fn bad_configuration_is_a_clear_error() {
    config_error(
        &["--header", "nocolon"],
        "header `nocolon` must look like `Name: value`",
    );
    config_error(
        &["--bearer-env", "ISLET_TEST_UNSET_TOKEN"],
        "--bearer-env ISLET_TEST_UNSET_TOKEN: the environment variable is not set",
    );
    config_error(
        &["--base-url", "ftp://example.com"],
        "must be an http(s) URL with a host",
    );
    // The fetch flags are shared with `islet run` and checked the same way.
    config_error(
        &["--allow-private-fetch"],
        "--allow-private-fetch needs --allow-fetch HOST",
    );
    config_error(
        &["--allow-fetch", "GET:"],
        "--allow-fetch: `` is not a host pattern",
    );
}

#[test]
fn an_unreadable_spec_is_one_clear_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_islet"))
        .args(["mcp", "openapi", "/nonexistent/spec.json"])
        .stdin(Stdio::null())
        .output()
        .expect("islet runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr.contains("cannot read OpenAPI spec file `/nonexistent/spec.json`"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "said once: {stderr}"
    );
}
