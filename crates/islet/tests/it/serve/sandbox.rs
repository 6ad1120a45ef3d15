//! Linux sandboxes for agents over `islet serve --linux-sandbox` (issue 18): agent code's
//! `this.sandbox`, the …/sandbox/… routes, a Think agent's sandbox tools (the README's
//! acceptance example), and the sandbox's end with the agent's hibernation.

use llm::scripted::{Recorded, Reply, ScriptedModel};
use serde_json::{Value, json};

use super::{Server, given_agents_dir, given_server_env};
use crate::support::client;

const CODER: &str = r#"
import { Agent } from "agents";
export default class Coder extends Agent {
  static sandbox = true;
  async squares(n: number) {
    const run = await this.sandbox.exec(
      `python3 -c "open('/workspace/squares.txt', 'w').write(' '.join(str(i * i) for i in range(${n})))"`);
    if (run.exitCode !== 0) throw new Error(run.stderr);
    // The command's file is in the workspace within the same call.
    return await this.workspace.read("/squares.txt");
  }
  async shell(command: string) { return await this.sandbox.exec(command, { timeout: 5000 }); }
  async streamed() {
    const events = [];
    for await (const e of this.sandbox.execStream("echo a; echo b >&2")) events.push(e.type);
    return events;
  }
}
"#;

const PLAIN: &str = r#"
import { Agent } from "agents";
export default class Plain extends Agent {
  async shell() { return await this.sandbox.exec("true"); }
}
"#;

/// Its sandbox may reach one host (a loopback address of the test's, with
/// `--linux-sandbox-allow-private`).
const NET: &str = r#"
import { Agent } from "agents";
export default class Net extends Agent {
  static sandbox = { network: ["127.0.0.2"] };
  async get(url: string) { return await this.sandbox.exec(`curl -sS -m 5 ${url} 2>&1; echo " exit $?"`); }
  async sh(command: string) { return await this.sandbox.exec(command); }
}
"#;

/// A Think agent that may use a sandbox: the README's acceptance example.
const ANALYST: &str = r#"
import { Think } from "agents";
export default class Analyst extends Think {
  static sandbox = true;
  getSystemPrompt() { return "Answer from the data in your workspace."; }
}
"#;

fn given_sandbox_server(
    dir: &std::path::Path,
    model: Option<&ScriptedModel>,
    extra: &[&str],
) -> Server {
    given_sandbox_server_env(dir, model, extra, &[])
}

fn given_sandbox_server_env(
    dir: &std::path::Path,
    model: Option<&ScriptedModel>,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Server {
    let agents = given_agents_dir(
        dir,
        &[
            ("Coder.ts", CODER),
            ("Plain.ts", PLAIN),
            ("Analyst.ts", ANALYST),
            ("Net.ts", NET),
        ],
    );
    let mut args = vec!["--isolation", "inprocess", "--linux-sandbox"];
    let base_url;
    if let Some(model) = model {
        base_url = model.base_url(llm::ProviderKind::OpenAi);
        args.extend([
            "--model",
            "openai:test-model",
            "--model-base-url",
            &base_url,
        ]);
    }
    args.extend_from_slice(extra);
    let mut env = env.to_vec();
    env.push(("OPENAI_API_KEY", "sk-test"));
    given_server_env(&agents, &dir.join("data"), &args, &env)
}

async fn send(server: &Server, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = client()
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(&server.token);
    if let Some(body) = body {
        request = request.body(body.to_owned());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn issue18_agent_code_runs_python_whose_file_the_workspace_and_http_then_have() {
    let dir = tempfile::tempdir().unwrap();
    let server = given_sandbox_server(dir.path(), None, &[]);
    assert_eq!(
        server.call("Coder", "c", "squares", json!([5])).await,
        json!("0 1 4 9 16")
    );
    let (status, body) = server.get("/agents/Coder/c/workspace/squares.txt").await;
    assert_eq!((status, body.as_str()), (200, "0 1 4 9 16"));

    // A file written through the workspace API is visible to the next command.
    let (status, _) = send(
        &server,
        "PUT",
        "/agents/Coder/c/workspace/notes/todo.txt",
        Some("ship it"),
    )
    .await;
    assert_eq!(status, 200);
    let run = server
        .call(
            "Coder",
            "c",
            "shell",
            json!(["cat notes/todo.txt; echo; whoami; pwd"]),
        )
        .await;
    assert_eq!(run["exitCode"], json!(0), "{run}");
    assert!(
        run["stdout"].as_str().unwrap().starts_with("ship it\n"),
        "{run}"
    );
    assert!(
        run["stdout"].as_str().unwrap().ends_with("/workspace\n"),
        "{run}"
    );
    // stdout and stderr are two pipes: their events may come in either order; exit last.
    let streamed = server.call("Coder", "c", "streamed", json!([])).await;
    let mut types: Vec<&str> = streamed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(types.pop(), Some("exit"), "{streamed}");
    types.sort_unstable();
    assert_eq!(types, ["stderr", "stdout"], "{streamed}");

    // No network without permission: the class allows no host.
    let run = server
        .call(
            "Coder",
            "c",
            "shell",
            json!(["curl -sS -m 3 https://example.com/ 2>&1; echo \" exit $?\""]),
        )
        .await;
    let out = run["stdout"].as_str().unwrap();
    assert!(!out.ends_with(" exit 0\n"), "{run}");

    // A class without `static sandbox` is told how to get one (its code threw: a 500).
    let (status, body) = server.post("/agents/Plain/p/shell", "[]").await;
    assert_eq!(status, 500, "{body}");
    assert!(body.to_string().contains("static sandbox = true"), "{body}");
    let (status, body) = send(
        &server,
        "POST",
        "/agents/Plain/p/sandbox/exec",
        Some(r#"{"command": "true"}"#),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("SANDBOX_DISABLED")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issue18_the_sandbox_routes_exec_files_and_a_background_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = given_sandbox_server(dir.path(), None, &[]);
    let (status, result) = send(
        &server,
        "POST",
        "/agents/Coder/h/sandbox/exec",
        Some(r#"{"command": "python3 -c \"print(6 * 7)\" && echo oops >&2; exit 3"}"#),
    )
    .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(
        (&result["exitCode"], &result["stdout"], &result["stderr"]),
        (&json!(3), &json!("42\n"), &json!("oops\n"))
    );

    let (status, written) = send(
        &server,
        "PUT",
        "/agents/Coder/h/sandbox/files/www/index.html",
        Some("served from the sandbox"),
    )
    .await;
    assert_eq!(status, 200, "{written}");
    let (status, file) = send(
        &server,
        "GET",
        "/agents/Coder/h/sandbox/files/www/index.html",
        None,
    )
    .await;
    assert_eq!(
        (status, &file["content"]),
        (200, &json!("served from the sandbox"))
    );
    let (status, listing) = send(&server, "GET", "/agents/Coder/h/sandbox/files/www", None).await;
    assert_eq!(
        (status, &listing[0]["name"]),
        (200, &json!("index.html")),
        "{listing}"
    );
    // Also in the agent's workspace.
    let (status, body) = server.get("/agents/Coder/h/workspace/www/index.html").await;
    assert_eq!((status, body.as_str()), (200, "served from the sandbox"));
    // Bytes that are not text go in as they are and come back as base64.
    let response = client()
        .put(format!(
            "{}/agents/Coder/h/sandbox/files/www/logo.bin",
            server.base
        ))
        .bearer_auth(&server.token)
        .body(vec![0u8, 255, 1, 2])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let (status, file) = send(
        &server,
        "GET",
        "/agents/Coder/h/sandbox/files/www/logo.bin",
        None,
    )
    .await;
    assert_eq!(
        (status, &file["content"], &file["encoding"]),
        (200, &json!("AP8BAg=="), &json!("base64")),
        "{file}"
    );

    let (status, process) = send(
        &server,
        "POST",
        "/agents/Coder/h/sandbox/processes",
        Some(r#"{"command": "exec python3 -u -m http.server 8124 --bind 127.0.0.1 --directory /workspace/www"}"#),
    )
    .await;
    assert_eq!(status, 201, "{process}");
    let id = process["id"].as_str().unwrap().to_owned();
    let (status, result) = send(
        &server,
        "POST",
        "/agents/Coder/h/sandbox/run-code",
        Some(&json!({"language": "python", "code": "import time, urllib.request\nfor _ in range(100):\n    try:\n        print(urllib.request.urlopen('http://127.0.0.1:8124/index.html').read().decode()); break\n    except OSError: time.sleep(0.05)"}).to_string()),
    )
    .await;
    assert_eq!(
        (status, &result["stdout"]),
        (200, &json!("served from the sandbox\n")),
        "{result}"
    );
    let (status, logs) = send(
        &server,
        "GET",
        &format!("/agents/Coder/h/sandbox/processes/{id}/logs"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        logs["stderr"].as_str().unwrap().contains("GET /index.html"),
        "{logs}"
    );
    let (_, listed) = send(&server, "GET", "/agents/Coder/h/sandbox/processes", None).await;
    assert_eq!(listed[0]["status"], json!("running"), "{listed}");
    let (status, killed) = send(
        &server,
        "DELETE",
        &format!("/agents/Coder/h/sandbox/processes/{id}"),
        None,
    )
    .await;
    assert_eq!(
        (status, &killed["status"]),
        (200, &json!("exited")),
        "{killed}"
    );

    let (status, body) = send(&server, "POST", "/agents/Coder/h/sandbox/exec", Some("[1]")).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = send(
        &server,
        "DELETE",
        "/agents/Coder/h/sandbox/processes/proc-77",
        None,
    )
    .await;
    assert_eq!(status, 404, "{body}");
}

/// Whether any host process has `needle` in its command line.
fn host_process_with(needle: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        std::fs::read(entry.path().join("cmdline"))
            .map(|c| {
                String::from_utf8_lossy(&c)
                    .replace('\0', " ")
                    .contains(needle)
            })
            .unwrap_or(false)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn issue18_background_processes_end_when_the_agent_hibernates() {
    let dir = tempfile::tempdir().unwrap();
    let server = given_sandbox_server(dir.path(), None, &["--idle-timeout", "1.5"]);
    let (status, process) = send(
        &server,
        "POST",
        "/agents/Coder/z/sandbox/processes",
        Some(r#"{"command": "exec sleep 987654"}"#),
    )
    .await;
    assert_eq!(status, 201, "{process}");
    // 201 means the sandbox's init forked it; the exec of `sleep` may still be on its way.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !host_process_with("sleep 987654") {
        assert!(
            std::time::Instant::now() < deadline,
            "the background process never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while host_process_with("sleep 987654") {
        assert!(
            std::time::Instant::now() < deadline,
            "the process outlived the agent's hibernation"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The model of the acceptance example: it tries `execute` first, climbs to the sandbox
/// for the Python work, and reports what the sandbox printed (read from the tool result it
/// was sent, so the answer is only right if the sandbox's was).
fn analyst_model(request: &Recorded) -> Reply {
    let messages = request.body["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let results: Vec<String> = messages
        .iter()
        .filter(|m| m["role"] == json!("tool"))
        .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
        .collect();
    match results.len() {
        0 => Reply::new().tool_call(
            "call_1",
            "execute",
            json!({"code": "async () => (await workspace.read({path: '/sales.csv'})).split('\\n').length"}),
        ),
        1 => Reply::new().tool_call(
            "call_2",
            "sandbox_run_code",
            json!({"language": "python", "code": "import csv\nfrom collections import defaultdict\ntotals = defaultdict(float)\nfor row in csv.DictReader(open('/workspace/sales.csv')):\n    totals[row['region']] += float(row['amount'])\nbest = max(totals, key=totals.get)\nreport = f'{best}: {totals[best]:.2f}'\nopen('/workspace/report.txt', 'w').write(report + '\\n')\nprint(report)"}),
        ),
        _ => {
            let sandbox: Value = serde_json::from_str(&results[1]).unwrap_or(Value::Null);
            let stdout = sandbox["stdout"].as_str().unwrap_or("nothing").trim().to_owned();
            Reply::new().text(format!("The top region is {stdout}."))
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn issue18_acceptance_a_think_agent_climbs_from_execute_to_the_sandbox_for_python() {
    let model = ScriptedModel::start().await.unwrap();
    model.set_responder(analyst_model);
    let dir = tempfile::tempdir().unwrap();
    let server = given_sandbox_server(dir.path(), Some(&model), &[]);
    let csv = "region,amount\nnorth,120.50\nsouth,80\nnorth,30\neast,200.25\nsouth,99.5\n";
    let (status, _) = send(
        &server,
        "PUT",
        "/agents/Analyst/a/workspace/sales.csv",
        Some(csv),
    )
    .await;
    assert_eq!(status, 200);

    let body = json!({"messages": [{"role": "user", "parts": [{"type": "text", "text": "Which region sold most?"}]}]});
    let (status, stream) = send(
        &server,
        "POST",
        "/agents/Analyst/a/chat",
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{stream}");
    let stream = stream.as_str().unwrap_or_default().to_owned();
    // south 179.5, north 150.5, east 200.25.
    assert!(
        stream.contains("The top region is east: 200.25."),
        "{stream}"
    );
    let requests = model.requests();
    assert_eq!(requests.len(), 3);
    let tools: Vec<&str> = requests[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert!(
        tools.contains(&"sandbox_run_code") && tools.contains(&"execute"),
        "{tools:?}"
    );
    // execute read the CSV (6 lines and the final newline).
    let first = requests[1].body["messages"].to_string();
    assert!(first.contains('7'), "{first}");
    let (status, report) = server.get("/agents/Analyst/a/workspace/report.txt").await;
    assert_eq!((status, report.as_str()), (200, "east: 200.25\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn issue18_the_servers_sandbox_limits_apply_to_commands() {
    let dir = tempfile::tempdir().unwrap();
    let server = given_sandbox_server(
        dir.path(),
        None,
        &[
            "--linux-sandbox-timeout-secs",
            "1",
            "--linux-sandbox-output-kb",
            "1",
            "--linux-sandbox-memory-mb",
            "64",
        ],
    );
    let exec = |command: &str| json!({ "command": command }).to_string();
    // A command that ignores SIGTERM is killed at the timeout.
    let (status, result) = send(
        &server,
        "POST",
        "/agents/Coder/l/sandbox/exec",
        Some(&exec("trap '' TERM; sleep 30")),
    )
    .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(
        (&result["limit"], &result["signal"]),
        (&json!("timeout"), &json!(9)),
        "{result}"
    );
    // Asking for more than the server allows is refused.
    let (status, body) = send(
        &server,
        "POST",
        "/agents/Coder/l/sandbox/exec",
        Some(r#"{"command": "true", "timeout": 5000}"#),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    // Output past the cap is dropped and flagged.
    let (_, result) = send(
        &server,
        "POST",
        "/agents/Coder/l/sandbox/exec",
        Some(&exec("head -c 5000 /dev/zero | tr '\\\\0' x")),
    )
    .await;
    assert_eq!(
        (
            result["stdout"].as_str().unwrap().len(),
            &result["stdoutTruncated"]
        ),
        (1024, &json!(true)),
        "{result}"
    );
    // A memory hog does not get its memory.
    let (_, result) = send(
        &server,
        "POST",
        "/agents/Coder/l/sandbox/exec",
        Some(&exec(
            "python3 -c \"x = bytearray(200 << 20); print('allocated')\"",
        )),
    )
    .await;
    assert_ne!(result["exitCode"], json!(0), "{result}");
    assert!(
        !result["stdout"].as_str().unwrap().contains("allocated"),
        "{result}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issue18_a_sandbox_reaches_only_its_classs_hosts_through_the_hosts_proxy() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer).await;
            let _ = stream
                .write_all(b"HTTP/1.0 200 OK\r\ncontent-length: 19\r\n\r\nhello from the host")
                .await;
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let server = given_sandbox_server(dir.path(), None, &["--linux-sandbox-allow-private"]);
    let get = |class: &'static str, host: &'static str| {
        let server = &server;
        async move {
            let run = server
                .call(class, "n", "get", json!([format!("http://{host}:{port}/")]))
                .await;
            run["stdout"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(
        get("Net", "127.0.0.2").await,
        "hello from the host exit 0\n"
    );
    let refused = get("Net", "127.0.0.3").await;
    assert!(
        refused.contains("not allowed by the sandbox's network policy"),
        "{refused}"
    );
    // A class that allows no host has no proxy at all: nothing answers.
    let run = server
        .call(
            "Coder",
            "n",
            "shell",
            json!([format!(
                "curl -sS -m 5 http://127.0.0.2:{port}/; echo \" exit $?\""
            )]),
        )
        .await;
    assert!(!run["stdout"].as_str().unwrap().contains("hello"), "{run}");
    assert!(
        !run["stdout"].as_str().unwrap().ends_with(" exit 0\n"),
        "{run}"
    );
    drop(server);

    // Without --linux-sandbox-allow-private the allowed host's loopback address is refused.
    let dir = tempfile::tempdir().unwrap();
    let server = given_sandbox_server(dir.path(), None, &[]);
    let run = server
        .call(
            "Net",
            "n",
            "get",
            json!([format!("http://127.0.0.2:{port}/")]),
        )
        .await;
    assert!(
        run["stdout"].as_str().unwrap().contains("loopback"),
        "{run}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issue18_execute_code_of_a_think_agent_reaches_its_sandbox() {
    let model = ScriptedModel::start().await.unwrap();
    model.set_responder(|request: &Recorded| {
        let messages = request.body["messages"].as_array().cloned().unwrap_or_default();
        match messages.iter().rev().find(|m| m["role"] == json!("tool")) {
            None => Reply::new().tool_call(
                "call_1",
                "execute",
                json!({"code": "async () => { const r = await sandbox.runCode({language: 'python', code: 'print(2 ** 10)'}); await sandbox.writeFile({path: '/workspace/power.txt', content: r.stdout}); return r.stdout.trim(); }"}),
            ),
            Some(result) => Reply::new().text(format!(
                "execute said {}",
                result["content"].as_str().unwrap_or_default()
            )),
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let server = given_sandbox_server(dir.path(), Some(&model), &[]);
    let body =
        json!({"messages": [{"role": "user", "parts": [{"type": "text", "text": "2^10?"}]}]});
    let (status, stream) = send(
        &server,
        "POST",
        "/agents/Analyst/x/chat",
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{stream}");
    assert!(
        stream.as_str().unwrap_or_default().contains("1024"),
        "{stream}"
    );
    let (status, power) = server.get("/agents/Analyst/x/workspace/power.txt").await;
    assert_eq!((status, power.as_str()), (200, "1024\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn issue18_exec_stream_over_http_is_server_sent_events() {
    let dir = tempfile::tempdir().unwrap();
    let server = given_sandbox_server(dir.path(), None, &[]);
    let response = client()
        .post(format!(
            "{}/agents/Coder/s/sandbox/exec-stream",
            server.base
        ))
        .bearer_auth(&server.token)
        .body(r#"{"command": "echo one; sleep 0.2; echo two >&2; exit 4"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let body = response.text().await.unwrap();
    let events: Vec<Value> = body
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(
        events[0],
        json!({"type": "stdout", "data": "one\n"}),
        "{body}"
    );
    assert_eq!(
        events[1],
        json!({"type": "stderr", "data": "two\n"}),
        "{body}"
    );
    let last = events.last().unwrap();
    assert_eq!(
        (&last["type"], &last["exitCode"]),
        (&json!("exit"), &json!(4)),
        "{body}"
    );
}

/// An HTTP server on 127.0.0.2 that records what each connection sent (a request head, or
/// whatever else arrived within a second) and answers a request with the `authorization`
/// header it got, so a secret echoed back can be seen scrubbed.
async fn given_recording_server() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let log = std::sync::Arc::clone(&log);
            tokio::spawn(async move {
                let mut data = Vec::new();
                let mut buffer = [0u8; 4096];
                let read = tokio::time::timeout(std::time::Duration::from_secs(1), async {
                    while !data.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return false,
                            Ok(n) => data.extend_from_slice(&buffer[..n]),
                        }
                    }
                    true
                })
                .await;
                let head = String::from_utf8_lossy(&data).into_owned();
                log.lock().unwrap().push(head.clone());
                if read != Ok(true) {
                    return;
                }
                let auth = head
                    .split("\r\n")
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("authorization")
                            .then(|| value.trim().to_owned())
                    })
                    .unwrap_or_else(|| "none".to_owned());
                let body = format!("auth={auth}");
                let response = format!(
                    "HTTP/1.0 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    (port, seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn issue18_secrets_are_added_host_side_to_sandbox_requests_and_never_enter_the_sandbox() {
    const SECRET: &str = "s3cr3t-sandbox-token-42";
    let (clear_port, clear_seen) = given_recording_server().await;
    let (tls_port, tls_seen) = given_recording_server().await;
    let (plain_port, plain_seen) = given_recording_server().await;
    let dir = tempfile::tempdir().unwrap();
    // An http:// origin: the operator chose clear text for this loopback service; a bare
    // host: islet sends HTTPS (this server speaks none, so it only ever sees a TLS hello).
    let clear_rule =
        format!("http://127.0.0.2:{clear_port}:Authorization=Bearer ${{SANDBOX_TOKEN}}");
    let tls_rule = format!("127.0.0.2:{tls_port}:Authorization=Bearer ${{SANDBOX_TOKEN}}");
    let server = given_sandbox_server_env(
        dir.path(),
        None,
        &[
            "--linux-sandbox-allow-private",
            "--linux-sandbox-header",
            &clear_rule,
            "--linux-sandbox-header",
            &tls_rule,
        ],
        &[("SANDBOX_TOKEN", SECRET)],
    );
    let get = |port: u16| {
        let server = &server;
        async move {
            let run = server
                .call(
                    "Net",
                    "n",
                    "get",
                    json!([format!("http://127.0.0.2:{port}/data")]),
                )
                .await;
            run["stdout"].as_str().unwrap().to_owned()
        }
    };

    // The server sees the header; the command sees its echo scrubbed.
    let echoed = get(clear_port).await;
    assert_eq!(echoed, "auth=[REDACTED] exit 0\n");
    let head = clear_seen.lock().unwrap().pop().unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("authorization: bearer {SECRET}")),
        "{head}"
    );

    // A host without a header rule gets no header (and the request is relayed as before).
    assert_eq!(get(plain_port).await, "auth=none exit 0\n");
    let head = plain_seen.lock().unwrap().pop().unwrap();
    assert!(
        !head.to_ascii_lowercase().contains("authorization"),
        "{head}"
    );

    // A bare-host rule: islet speaks TLS to it, never the header in clear text; a server
    // without TLS fails the request, which the command is told about.
    let failed = get(tls_port).await;
    assert!(failed.starts_with("islet sandbox proxy: "), "{failed}");
    let hello = tls_seen.lock().unwrap().pop().unwrap();
    assert!(
        hello.starts_with('\u{16}'),
        "not a TLS handshake: {hello:?}"
    );
    assert!(!hello.contains(SECRET));

    // https:// to a host with a header rule is refused: a tunnel cannot carry it.
    let tunnel = get_url(&server, &format!("https://127.0.0.2:{tls_port}/")).await;
    assert!(tunnel.ends_with(" exit 56\n"), "{tunnel}");

    // Nowhere in the sandbox: not in any process's environment, not in its files.
    let sh = |command: &'static str| {
        let server = &server;
        async move {
            let run = server.call("Net", "n", "sh", json!([command])).await;
            run["stdout"].as_str().unwrap().to_owned()
        }
    };
    let env = sh("env; cat /proc/[0-9]*/environ | tr '\\0' '\\n'").await;
    assert!(env.contains("HTTP_PROXY="), "{env}");
    assert!(
        !env.contains(SECRET) && !env.contains("SANDBOX_TOKEN"),
        "{env}"
    );
    // A pattern that matches the secret without being it (the command line is readable).
    let files = sh(
        "grep -rlsE 's3cr3t-sandbox.token' / --exclude-dir=proc --exclude-dir=sys \
                    --exclude-dir=usr --exclude-dir=dev; echo end",
    )
    .await;
    assert_eq!(files, "end\n");
    for output in [&echoed, &failed, &tunnel, &env, &files] {
        assert!(!output.contains(SECRET), "{output}");
    }
}

async fn get_url(server: &Server, url: &str) -> String {
    let run = server.call("Net", "n", "get", json!([url])).await;
    run["stdout"].as_str().unwrap().to_owned()
}

#[test]
fn issue18_sandbox_header_and_cpu_flags_are_checked_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(dir.path(), &[("Net.ts", NET)]);
    for (args, expected) in [
        (
            vec!["--linux-sandbox-header", "127.0.0.2:X-Key=literal-secret"],
            "--linux-sandbox-header 127.0.0.2:X-Key: the value must come from an environment variable",
        ),
        (
            vec!["--linux-sandbox-header", "exa mple:X-Key=${HOME}"],
            "is not a host pattern",
        ),
        (vec!["--linux-sandbox-cpus", "0"], "cpus at least 0.01"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_islet"))
            .args(["serve", "--listen", "127.0.0.1:0", "--agents"])
            .arg(&agents)
            .arg("--data")
            .arg(dir.path().join("data"))
            .args(["--isolation", "inprocess", "--linux-sandbox"])
            .args(&args)
            .env_remove("ISLET_AUTH_TOKEN")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("literal-secret"), "{stderr}");
    }
}
