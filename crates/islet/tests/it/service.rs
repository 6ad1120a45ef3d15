//! Issue 22: running islet as a service (completions and man page, health, metrics, logs,
//! the config file).

use crate::serve::McpClient;
use crate::support::*;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

fn islet(args: &[&str]) -> Output {
    islet_with_env(args, "", &[])
}

/// The subcommands a person types (hidden ones are islet's own plumbing).
const SUBCOMMANDS: &[&str] = &[
    "serve",
    "chat",
    "ws",
    "extensions",
    "run",
    "bench",
    "mcp",
    "tokens",
    "doctor",
    "memory",
    "cluster",
    "config",
    "completions",
    "man",
];

#[test]
fn issue22_4_completions_cover_every_subcommand_in_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = islet(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        for sub in SUBCOMMANDS {
            assert!(script.contains(sub), "{shell} completion lacks `{sub}`");
        }
        // Flags of nested subcommands too, and never the hidden plumbing.
        assert!(script.contains("idle-timeout"), "{shell}: no serve flags");
        assert!(
            script.contains("bearer-env"),
            "{shell}: no mcp openapi flags"
        );
    }
    let out = islet(&["completions", "powershell"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("bash"), "{}", text(&out.stderr));
}

#[test]
fn issue22_4_man_page_documents_every_subcommand() {
    let out = islet(&["man"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let page = text(&out.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH islet"),
        "not roff"
    );
    for sub in SUBCOMMANDS {
        assert!(
            page.contains(&format!(".SH \"ISLET {}\"", sub.to_uppercase())),
            "no section for `{sub}`"
        );
    }
    assert!(page.contains(".SH \"ISLET MCP OPENAPI\""));
    assert!(
        page.contains("idle\\-timeout"),
        "serve's options are missing"
    );
    assert!(!page.contains("WORKER\""), "hidden command documented");
}

// ---------------------------------------------------------------------------------------
// A server under test.

const COUNTER: &str = r#"
export default class Counter extends Agent {
  async increment(by = 1) {
    const n = ((await this.storage.get("n")) ?? 0) + by;
    await this.storage.put("n", n);
    return n;
  }
  async spin() { while (true) {} }
}
"#;

struct Server {
    child: Child,
    base: String,
    /// `--metrics-listen`'s address, when given.
    metrics_base: Option<String>,
    token: String,
    /// Everything the server wrote to stderr so far (with `--log-format json`, the log
    /// lines), and the thread that reads it until the server exits.
    stderr: Arc<Mutex<Vec<String>>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Stops the server and returns its stderr lines.
    fn stop(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.stderr_reader.take() {
            reader.join().unwrap();
        }
        std::mem::take(&mut *self.stderr.lock().unwrap())
    }

    /// Waits (up to 30 s) until the server has logged a line `seen` accepts: work that
    /// goes on after a response ends (a turn's span closing) is logged a moment later.
    fn wait_for_log(&self, seen: impl Fn(&str) -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !self.stderr.lock().unwrap().iter().any(|l| seen(l)) {
            assert!(
                std::time::Instant::now() < deadline,
                "the server never logged the expected line:\n{}",
                self.stderr.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn given_agents(dir: &Path) -> PathBuf {
    let agents = dir.join("agents");
    std::fs::create_dir_all(&agents).unwrap();
    std::fs::write(agents.join("counter.js"), COUNTER).unwrap();
    agents
}

/// Starts `islet ARGS` (a `serve`) in `cwd` with `env`, and waits until it listens.
fn given_server(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_islet"));
    command
        .args(args)
        .current_dir(cwd)
        .env_remove("ISLET_AUTH_TOKEN")
        .env_remove("ISLET_CONFIG")
        .env_remove("ISLET_LOG_FORMAT")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("islet serve starts");
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let stderr_reader = {
        let (pipe, stderr) = (child.stderr.take().unwrap(), Arc::clone(&stderr));
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                stderr.lock().unwrap().push(line);
            }
        })
    };
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut metrics_base = None;
    let base = loop {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.kill();
            let _ = child.wait();
            stderr_reader.join().unwrap();
            panic!(
                "islet serve exited before listening:\n{}",
                stderr.lock().unwrap().join("\n")
            );
        };
        if let Some(rest) = line.strip_prefix("islet metrics: ") {
            metrics_base = Some(rest.trim_end_matches("/metrics").to_owned());
        }
        if let Some(rest) = line.strip_prefix("islet serve: ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        base,
        metrics_base,
        token: String::new(),
        stderr,
        stderr_reader: Some(stderr_reader),
    }
}

/// `islet serve` over the Counter agent with its data in `dir/data`.
fn given_counter_server(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
    let agents = given_agents(dir);
    let data = dir.join("data");
    let mut args = vec![
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--agents",
        agents.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let mut server = given_server(dir, &args, env);
    server.token = std::fs::read_to_string(data.join("token"))
        .unwrap()
        .trim()
        .to_owned();
    server
}

/// `islet serve` over the Counter agent and a default chat agent `Assistant`, in-process,
/// its model `model` (OpenAI wire format, key `sk-test`), with `extra` flags and `env`.
fn given_assistant_server(
    dir: &Path,
    model: &llm::scripted::ScriptedModel,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Server {
    std::fs::create_dir_all(dir.join("agents")).unwrap();
    std::fs::write(
        dir.join("agents/assistant.ts"),
        "import { Think } from \"agents\";\nexport default class Assistant extends Think {}\n",
    )
    .unwrap();
    let base_url = model.base_url(llm::ProviderKind::OpenAi);
    let mut args = vec![
        "--isolation",
        "inprocess",
        "--model",
        "openai:test-model",
        "--model-base-url",
        &base_url,
    ];
    args.extend_from_slice(extra);
    let mut env = env.to_vec();
    env.push(("OPENAI_API_KEY", "sk-test"));
    given_counter_server(dir, &args, &env)
}

/// `POST /agents/Assistant/me/chat` asking "What is there?": the status and the stream.
async fn ask_assistant(server: &Server) -> (u16, Value) {
    let body = json!({"messages": [{"role": "user", "parts": [{"type": "text", "text": "What is there?"}]}]});
    post(server, "/agents/Assistant/me/chat", &body.to_string()).await
}

async fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let mut request = client().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

async fn post(server: &Server, path: &str, body: &str) -> (u16, Value) {
    post_with_token(&server.base, &server.token, path, body).await
}

// ---------------------------------------------------------------------------------------
// Health.

/// Makes the data directory refuse the readiness probe's write. chmod is enough for a
/// normal user; root ignores permissions, so then the probe's file name is taken by a
/// directory (which no one can open for writing). Returns how to undo it.
fn given_unwritable(data: &Path) -> impl FnOnce() + use<> {
    use std::os::unix::fs::PermissionsExt as _;
    let probe = data.join(".ready-probe");
    std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o555)).unwrap();
    let root = std::fs::write(data.join(".can-i-write"), b"").is_ok();
    if root {
        let _ = std::fs::remove_file(data.join(".can-i-write"));
        std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir(&probe).unwrap();
    }
    let data = data.to_owned();
    move || {
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        if root {
            std::fs::remove_dir(&probe).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn issue22_2_health_needs_no_token_and_readyz_follows_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let server = given_counter_server(dir.path(), &[], &[]);
    let (status, body) = get(&format!("{}/healthz", server.base), None).await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, body) = get(&format!("{}/readyz", server.base), None).await;
    assert_eq!(status, 200, "{body}");
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        ready,
        json!({"status": "ready", "checks": {"workers": "ok", "data_dir": "ok"}})
    );
    // The API itself still needs the token.
    let (status, _) = get(&format!("{}/agents", server.base), None).await;
    assert_eq!(status, 401);

    let undo = given_unwritable(&dir.path().join("data"));
    let (status, body) = get(&format!("{}/readyz", server.base), None).await;
    assert_eq!(status, 503, "{body}");
    let unready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(unready["status"], "unready");
    assert_eq!(unready["failed"], json!(["data_dir"]));
    assert_eq!(unready["checks"]["workers"], "ok");
    // Nothing about the machine for an anonymous caller: no paths, no error texts.
    assert!(!body.contains(dir.path().to_str().unwrap()), "{body}");
    assert!(!body.to_lowercase().contains("denied"), "{body}");
    // Alive all the same.
    let (status, _) = get(&format!("{}/healthz", server.base), None).await;
    assert_eq!(status, 200);

    undo();
    let (status, body) = get(&format!("{}/readyz", server.base), None).await;
    assert_eq!(status, 200, "{body}");
    // The reason went to the operator's log.
    let log = server.stop().join("\n");
    assert!(
        log.contains("not ready") && log.contains("data_dir"),
        "{log}"
    );
}

/// Each host call of Code Mode code (here `agents.Counter(…).increment`, then `spin`, which
/// hits the agent's CPU limit) is a debug-level
/// `host_call` span with its namespace, function and outcome, closed with its duration.
#[tokio::test(flavor = "multi_thread")]
async fn issue22_3_code_mode_host_calls_are_spans_with_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let server = given_counter_server(
        dir.path(),
        &[
            "--isolation",
            "inprocess",
            "--log-format",
            "json",
            "--cpu-ms",
            "100",
        ],
        &[("RUST_LOG", "warn,islet=debug")],
    );
    let mut mcp = McpClient::connect(&format!("{}/mcp", server.base), &server.token).await;
    let result = mcp
        .request(
            "tools/call",
            json!({"name": "execute", "arguments": {"code":
                "await agents.Counter('m').increment(2);\n\
                 try { await agents.Counter('m').spin(); } catch (e) {}\n\
                 return 1;"}}),
        )
        .await;
    assert_eq!(result["isError"], json!(false), "{result}");
    let lines = server.stop();
    let closed: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["fields"]["message"] == "close" && e["span"]["name"] == "host_call")
        // The code's calls of agents.
        .filter(|e| {
            e["span"]["namespace"]
                .as_str()
                .is_some_and(|n| n.starts_with("agents."))
        })
        .collect();
    assert_eq!(closed.len(), 2, "{}", lines.join("\n"));
    assert!(
        closed
            .iter()
            .all(|c| c["span"]["namespace"] == "agents.Counter"
                && c["fields"]["time.busy"].is_string()),
        "{closed:?}"
    );
    assert_eq!(closed[0]["span"]["function"], "increment");
    let outcomes: Vec<&Value> = closed.iter().map(|c| &c["span"]["ok"]).collect();
    assert_eq!(outcomes, [&json!(true), &json!(false)], "{closed:?}");
    // The agent's own host calls (its storage get and put in `increment`) are spans too
    // (their parent is the turn's `agent_call` span: the JSON log's close events do not
    // list parents, a trace exporter shows them).
    let own: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| {
            e["fields"]["message"] == "close"
                && e["span"]["name"] == "host_call"
                && e["span"]["namespace"] == "__agent"
        })
        .collect();
    let functions: Vec<&str> = own
        .iter()
        .filter_map(|e| e["span"]["function"].as_str())
        .collect();
    assert_eq!(functions, ["kvGet", "kvPut"], "{}", lines.join("\n"));
}

/// With `--model`, `/readyz` checks that the model's host accepts connections: ready while
/// it listens; once it is gone, unready after the cached answer (10 s) expires, naming
/// only the check.
#[tokio::test(flavor = "multi_thread")]
async fn issue22_2_readyz_checks_the_model_endpoint_with_a_cached_probe() {
    let model = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}/v1", model.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let server = given_counter_server(
        dir.path(),
        &[
            "--model",
            "openai:test-model",
            "--model-base-url",
            &base_url,
        ],
        &[("OPENAI_API_KEY", "sk-test")],
    );
    let (status, body) = get(&format!("{}/readyz", server.base), None).await;
    assert_eq!(status, 200, "{body}");
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["checks"]["model"], "ok", "{body}");

    drop(model);
    // Within the cache's lifetime the first answer stands: no connection per poll.
    let (status, body) = get(&format!("{}/readyz", server.base), None).await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    let (status, body) = get(&format!("{}/readyz", server.base), None).await;
    assert_eq!(status, 503, "{body}");
    let unready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(unready["failed"], json!(["model"]), "{body}");
    assert!(!body.contains("127.0.0.1"), "{body}");
    let log = server.stop().join("\n");
    assert!(log.contains("cannot connect to the model"), "{log}");
}

// ---------------------------------------------------------------------------------------
// Metrics.

/// `/metrics` parsed by a Prometheus text parser: each sample's value by name and labels.
struct Scrape(prometheus_parse::Scrape);

impl Scrape {
    fn parse(text: &str) -> Scrape {
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        Scrape(prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text"))
    }

    /// The value of the one sample named `metric` whose labels include `labels`.
    fn value(&self, metric: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<f64> = self
            .0
            .samples
            .iter()
            .filter(|s| s.metric == metric)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .filter_map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => Some(v),
                _ => None,
            })
            .collect();
        assert_eq!(found.len(), 1, "{metric}{labels:?}: {found:?}");
        found[0]
    }

    fn has_help(&self, metric: &str) -> bool {
        self.0.docs.contains_key(metric)
    }
}

const RPC: &str = "/agents/:class/:name/:method";

#[tokio::test(flavor = "multi_thread")]
async fn issue22_2_metrics_count_a_workload() {
    let dir = tempfile::tempdir().unwrap();
    let server = given_counter_server(
        dir.path(),
        &[
            "--cpu-ms",
            "100",
            "--idle-timeout",
            "0.3",
            "--memory",
            "team/alice",
        ],
        &[],
    );
    // The token guards /metrics on the API's address.
    let (status, _) = get(&format!("{}/metrics", server.base), None).await;
    assert_eq!(status, 401);
    let (status, text) = get(&format!("{}/metrics", server.base), Some(&server.token)).await;
    assert_eq!(status, 200, "{text}");
    // Loading the agent classes already ran code.
    let before = Scrape::parse(&text);
    let executions_before = before.value("islet_executions_total", &[("outcome", "ok")]);

    for n in 1..=3 {
        let (status, reply) = post(&server, "/agents/Counter/a/increment", "[1]").await;
        assert_eq!((status, reply), (200, json!({"result": n})));
    }
    let (status, _) = post(&server, "/agents/Counter/a/spin", "").await;
    assert_eq!(status, 500);
    let (status, _) = post(&server, "/agents/Nope/a/increment", "").await;
    assert_eq!(status, 404);
    let (status, _) = post(&server, "/no/such/route", "").await;
    assert_eq!(status, 404);
    let (status, reply) = post(
        &server,
        "/memory/team/alice/remember",
        &json!({"content": "Bob prefers tea"}).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let (status, reply) = post(
        &server,
        "/memory/team/alice/recall",
        &json!({"query": "what does bob drink"}).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    // Code Mode at /mcp: one search, one execute.
    let mut mcp = McpClient::connect(&format!("{}/mcp", server.base), &server.token).await;
    let found = mcp
        .request(
            "tools/call",
            json!({"name": "search", "arguments": {"query": "increment a counter"}}),
        )
        .await;
    assert_eq!(found["isError"], json!(false), "{found}");
    let result = mcp
        .request(
            "tools/call",
            json!({"name": "execute", "arguments": {"code": "return 6 * 7"}}),
        )
        .await;
    assert_eq!(result["isError"], json!(false), "{result}");
    // Long enough for the agent to hibernate after --idle-timeout.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let (status, text) = get(&format!("{}/metrics", server.base), Some(&server.token)).await;
    assert_eq!(status, 200, "{text}");
    let after = Scrape::parse(&text);
    let requests = |route: &str, method: &str, status: &str| {
        after.value(
            "islet_http_requests_total",
            &[("route", route), ("method", method), ("status", status)],
        )
    };
    assert_eq!(requests(RPC, "POST", "2xx"), 3.0);
    assert_eq!(requests(RPC, "POST", "5xx"), 1.0);
    assert_eq!(requests(RPC, "POST", "4xx"), 1.0);
    assert_eq!(requests("unmatched", "POST", "4xx"), 1.0);
    assert_eq!(requests("/metrics", "GET", "4xx"), 1.0);
    assert_eq!(requests("/metrics", "GET", "2xx"), 1.0);
    assert_eq!(
        after.value(
            "islet_http_request_duration_seconds_count",
            &[("route", RPC)]
        ),
        5.0
    );
    // The paths clients sent are not labels.
    assert!(!text.contains("/no/such/route") && !text.contains("Counter/a"));
    assert_eq!(
        after.value("islet_agent_turns_total", &[("kind", "call")]),
        4.0
    );
    assert_eq!(after.value("islet_agent_turn_failures_total", &[]), 1.0);
    assert_eq!(
        after.value("islet_limit_hits_total", &[("kind", "cpu")]),
        1.0
    );
    assert_eq!(
        after.value("islet_limit_hits_total", &[("kind", "memory")]),
        0.0
    );
    assert_eq!(
        after.value("islet_executions_total", &[("outcome", "error")]),
        1.0
    );
    assert!(after.value("islet_executions_total", &[("outcome", "ok")]) >= executions_before + 3.0);
    // The failed turn dropped its isolate; activations count database opens.
    assert!(after.value("islet_agent_activations_total", &[]) >= 1.0);
    assert!(after.value("islet_agent_hibernations_total", &[]) >= 1.0);
    assert_eq!(after.value("islet_agents_active", &[]), 0.0);
    assert!(after.value("islet_workers", &[]) >= 1.0);
    assert_eq!(after.value("islet_worker_restarts_total", &[]), 0.0);
    assert!(after.value("islet_execution_cpu_seconds_total", &[]) > 0.0);
    assert_eq!(
        after.value(
            "islet_memory_operations_total",
            &[("operation", "recall"), ("outcome", "ok")]
        ),
        1.0
    );
    assert_eq!(
        after.value(
            "islet_memory_operation_duration_seconds_count",
            &[("operation", "recall")]
        ),
        1.0
    );
    assert!(after.has_help("islet_http_requests_total"));
    for tool in ["search", "execute"] {
        assert_eq!(
            after.value(
                "islet_codemode_calls_total",
                &[("tool", tool), ("outcome", "ok")]
            ),
            1.0,
            "{text}"
        );
        assert_eq!(
            after.value(
                "islet_codemode_call_duration_seconds_count",
                &[("tool", tool)]
            ),
            1.0
        );
    }
    assert!(after.has_help("islet_codemode_call_duration_seconds"));
}

#[tokio::test(flavor = "multi_thread")]
async fn issue22_2_metrics_listen_serves_metrics_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = given_counter_server(
        dir.path(),
        &[
            "--isolation",
            "inprocess",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    let metrics = server.metrics_base.clone().expect("a metrics address");
    let (status, _) = post(&server, "/agents/Counter/a/increment", "[2]").await;
    assert_eq!(status, 200);
    let (status, text) = get(&format!("{metrics}/metrics"), None).await;
    assert_eq!(status, 200, "{text}");
    let scrape = Scrape::parse(&text);
    assert_eq!(
        scrape.value(
            "islet_http_requests_total",
            &[("route", RPC), ("status", "2xx")]
        ),
        1.0
    );
    // In-process isolation has no worker processes.
    assert_eq!(scrape.value("islet_workers", &[]), 0.0);
    // Only metrics there; and not on the API's address any more.
    let (status, _) = get(&format!("{metrics}/agents"), None).await;
    assert_eq!(status, 404);
    let (status, _) = get(&format!("{}/metrics", server.base), Some(&server.token)).await;
    assert_eq!(status, 404);
}

// ---------------------------------------------------------------------------------------
// Logs.

#[tokio::test(flavor = "multi_thread")]
async fn issue22_3_json_log_lines_parse_and_carry_request_and_call_spans() {
    let dir = tempfile::tempdir().unwrap();
    let server = given_counter_server(
        dir.path(),
        &["--isolation", "inprocess", "--log-format", "json"],
        &[("RUST_LOG", "info")],
    );
    let (status, _) = post(&server, "/agents/Counter/a/increment", "[1]").await;
    assert_eq!(status, 200);
    let lines = server.stop();
    assert!(!lines.is_empty());
    let mut request_span = None;
    let mut call_span = None;
    for line in &lines {
        let entry: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(
            entry["timestamp"].is_string() && entry["level"].is_string(),
            "{line}"
        );
        // A span's close carries its duration.
        if entry["fields"]["message"] == "close" {
            match entry["span"]["name"].as_str() {
                Some("http_request") if entry["span"]["route"] == RPC => {
                    request_span = Some(entry.clone());
                }
                Some("agent_call") => call_span = Some(entry.clone()),
                _ => {}
            }
        }
    }
    let request =
        request_span.unwrap_or_else(|| panic!("no http_request span:\n{}", lines.join("\n")));
    assert_eq!(request["span"]["method"], "POST");
    assert_eq!(request["span"]["status"], 200);
    assert!(request["fields"]["time.busy"].is_string(), "{request}");
    let call = call_span.unwrap_or_else(|| panic!("no agent_call span:\n{}", lines.join("\n")));
    assert_eq!(call["span"]["method"], "increment");
    assert!(call["fields"]["time.busy"].is_string(), "{call}");
}

/// A chat turn's spans: `think_turn` → `think_step` → `think_tool_call`, each closed with its
/// duration, the tool call's line listing its step and turn as its ancestors.
#[tokio::test(flavor = "multi_thread")]
async fn issue22_3_a_chat_turn_logs_spans_for_the_turn_its_steps_and_tool_calls() {
    let model = llm::scripted::ScriptedModel::start().await.unwrap();
    model.push(llm::scripted::Reply::new().tool_call("call_1", "list", json!({"path": "/"})));
    model.push(llm::scripted::Reply::new().text("Nothing there."));
    let dir = tempfile::tempdir().unwrap();
    let server = given_assistant_server(
        dir.path(),
        &model,
        &["--log-format", "json"],
        &[("RUST_LOG", "info")],
    );
    let (status, stream) = ask_assistant(&server).await;
    assert_eq!(status, 200);
    assert!(stream.to_string().contains("Nothing there."), "{stream}");
    server.wait_for_log(|l| l.contains("\"close\"") && l.contains("\"think_turn\""));
    let lines = server.stop();
    let closed = |name: &str| -> Vec<Value> {
        lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["fields"]["message"] == "close" && e["span"]["name"] == name)
            .collect()
    };
    let turns = closed("think_turn");
    assert_eq!(turns.len(), 1, "{}", lines.join("\n"));
    assert_eq!(turns[0]["span"]["agent"], "agents.Assistant(\"me\")");
    assert_eq!(closed("think_step").len(), 2, "{}", lines.join("\n"));
    let calls = closed("think_tool_call");
    assert_eq!(calls.len(), 1, "{}", lines.join("\n"));
    let call = &calls[0];
    assert_eq!(call["span"]["tool"], "list");
    assert!(call["fields"]["time.busy"].is_string(), "{call}");
    let ancestors: Vec<&str> = call["spans"]
        .as_array()
        .unwrap_or_else(|| panic!("no span list: {call}"))
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert!(
        ancestors.ends_with(&["think_turn", "think_step"]),
        "{ancestors:?}"
    );
}

// ---------------------------------------------------------------------------------------
// The settings file.

fn islet_in(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_islet"))
        .args(args)
        .current_dir(cwd)
        .env_remove("ISLET_AUTH_TOKEN")
        .env_remove("ISLET_CONFIG")
        .env_remove("ISLET_LOG_FORMAT")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("islet runs")
}

/// A directory with agents and `islet.toml` holding `settings`.
fn given_config(settings: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    given_agents(dir.path());
    std::fs::write(dir.path().join("islet.toml"), settings).unwrap();
    dir
}

const PRECEDENCE: &str = r#"# islet.toml
[serve]
agents = "agents"
data = "from-file"
listen = "127.0.0.1:0"
isolation = "inprocess"
cpu-ms = 1234
memory = ["team/a", "team/b"]
"#;

#[test]
fn issue22_1_config_show_applies_env_over_file_over_defaults() {
    let dir = given_config(PRECEDENCE);
    let out = islet_in(dir.path(), &["config", "show"], &[("ISLET_CPU_MS", "2222")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("data = \"from-file\"  # islet.toml:4"),
        "{shown}"
    );
    assert!(
        shown.contains("cpu-ms = \"2222\"  # environment ISLET_CPU_MS"),
        "{shown}"
    );
    assert!(shown.contains("wall-ms = \"30000\"  # default"), "{shown}");
    assert!(
        shown.contains("memory = [\"team/a\", \"team/b\"]  # islet.toml:8"),
        "{shown}"
    );
    assert!(
        shown.contains("[mcp.openapi]") && shown.contains("[mcp.proxy]"),
        "{shown}"
    );
    assert!(
        shown.contains("log-format = \"text\"  # default"),
        "{shown}"
    );
}

#[test]
fn issue22_1_serve_takes_flag_over_env_over_file() {
    let dir = given_config(PRECEDENCE);
    let token = |data: &str| dir.path().join(data).join("token").is_file();
    // The file alone.
    drop(given_server(dir.path(), &["serve"], &[]));
    assert!(token("from-file"));
    // The environment over the file.
    drop(given_server(
        dir.path(),
        &["serve"],
        &[("ISLET_DATA", "from-env")],
    ));
    assert!(token("from-env"));
    // A flag over both.
    drop(given_server(
        dir.path(),
        &["serve", "--data", "from-flag"],
        &[("ISLET_DATA", "from-env-2")],
    ));
    assert!(token("from-flag") && !token("from-env-2"));
    // --config names another file (and a missing one is an error).
    let other = dir.path().join("other.toml");
    std::fs::write(
        &other,
        "[serve]\ndata = \"from-other\"\nlisten = \"127.0.0.1:0\"\nisolation = \"inprocess\"\n",
    )
    .unwrap();
    drop(given_server(
        dir.path(),
        &["serve", "--config", other.to_str().unwrap()],
        &[],
    ));
    assert!(token("from-other"));
    let out = islet_in(dir.path(), &["serve", "--config", "missing.toml"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("missing.toml"),
        "{}",
        text(&out.stderr)
    );
}

/// `islet serve` with `settings` fails before starting; its error.
fn given_rejected(settings: &str, env: &[(&str, &str)]) -> String {
    let dir = given_config(settings);
    let out = islet_in(dir.path(), &["serve"], env);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // `config check` says the same.
    let check = islet_in(dir.path(), &["config", "check"], env);
    assert_eq!(check.status.code(), Some(2));
    assert_eq!(text(&check.stderr), text(&out.stderr));
    text(&out.stderr)
}

#[test]
fn issue22_1_config_errors_name_the_file_line_and_valid_keys() {
    let error = given_rejected("[serve]\nlisten = \"127.0.0.1:0\"\ncpu_ms = 5\n", &[]);
    assert!(
        error.contains("islet.toml:3: unknown key `cpu_ms` in [serve]"),
        "{error}"
    );
    assert!(
        error.contains("valid keys:") && error.contains("cpu-ms"),
        "{error}"
    );

    let error = given_rejected("[serve]\n\ncpu-ms = \"lots\"\n", &[]);
    assert!(
        error.contains("islet.toml:3: `cpu-ms`: invalid value 'lots'"),
        "{error}"
    );

    let error = given_rejected("[serve]\nlisten = [\"127.0.0.1:0\"]\n", &[]);
    assert!(
        error.contains("islet.toml:2: `listen` takes one value"),
        "{error}"
    );

    let error = given_rejected("[serve]\nisolation = \"vm\"\n", &[]);
    assert!(
        error.contains("islet.toml:2") && error.contains("inprocess"),
        "{error}"
    );

    let error = given_rejected("[server]\ndata = \"x\"\n", &[]);
    assert!(
        error.contains("islet.toml:1: unknown key `server`"),
        "{error}"
    );
    assert!(
        error.contains("[serve], [mcp.openapi], [mcp.proxy]"),
        "{error}"
    );

    let error = given_rejected("[serve]\ndata = \"x\"\ndata = \"y\"\n", &[]);
    assert!(
        error.contains("islet.toml") && error.contains("line 3"),
        "{error}"
    );

    let error = given_rejected("[serve]\nidle-timeout = 1\n", &[("ISLET_CPU_MS", "abc")]);
    assert!(
        error.contains("ISLET_CPU_MS: invalid value 'abc'"),
        "{error}"
    );
}

#[test]
fn issue22_1_secrets_are_only_references_and_never_shown() {
    let error = given_rejected("[serve]\nauth-token = \"hunter2\"\n", &[]);
    assert!(
        error.contains("islet.toml:2: `auth-token` is a secret"),
        "{error}"
    );
    assert!(
        error.contains("{ env = \"NAME\" }") && !error.contains("hunter2"),
        "{error}"
    );

    let error = given_rejected(
        "[serve]\nauth-token = { env = \"NOT_SET_ANYWHERE\" }\n",
        &[],
    );
    assert!(error.contains("NOT_SET_ANYWHERE is not set"), "{error}");

    let error = given_rejected("[serve]\nauth-token = { value = \"x\" }\n", &[]);
    assert!(
        error.contains("{ env = \"NAME\" } or { file = \"PATH\" }"),
        "{error}"
    );

    // Header credentials of `mcp openapi` too; other headers may be inline.
    let dir = given_config(
        "[mcp.openapi]\nspec = \"api.json\"\nheader = [\"Accept: text/plain\", \"X-Api-Key: k\"]\n",
    );
    let out = islet_in(dir.path(), &["config", "check"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`header` is a secret"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issue22_1_a_referenced_token_guards_the_api_and_is_masked() {
    let dir = given_config(&format!(
        "{PRECEDENCE}auth-token = {{ env = \"MY_ISLET_TOKEN\" }}\n"
    ));
    let env = [("MY_ISLET_TOKEN", "s3cret-from-env")];
    let out = islet_in(dir.path(), &["config", "show"], &env);
    let shown = text(&out.stdout);
    assert!(shown.contains("auth-token = \"********\""), "{shown}");
    assert!(!shown.contains("s3cret"), "{shown}");
    let server = given_server(dir.path(), &["serve"], &env);
    let (status, _) = get(&format!("{}/agents", server.base), Some("s3cret-from-env")).await;
    assert_eq!(status, 200);
    let (status, _) = get(&format!("{}/agents", server.base), Some("wrong")).await;
    assert_eq!(status, 401);
    drop(server);

    std::fs::write(dir.path().join("token.txt"), "from-a-file\n").unwrap();
    std::fs::write(
        dir.path().join("islet.toml"),
        format!("{PRECEDENCE}auth-token = {{ file = \"token.txt\" }}\n"),
    )
    .unwrap();
    let server = given_server(dir.path(), &["serve"], &[]);
    let (status, _) = get(&format!("{}/agents", server.base), Some("from-a-file")).await;
    assert_eq!(status, 200);
}

#[test]
fn issue22_1_mcp_sections_reach_their_commands() {
    // The positional CONFIG of `mcp proxy` from the file: the command reads that file.
    let dir = given_config("[mcp.proxy]\nconfig = \"servers-from-file.json\"\ntimeout-ms = 5\n");
    let out = islet_in(dir.path(), &["mcp", "proxy"], &[]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("servers-from-file.json"),
        "{}",
        text(&out.stderr)
    );
    let out = islet_in(dir.path(), &["config", "show"], &[]);
    let shown = text(&out.stdout);
    assert!(
        shown.contains("config = \"servers-from-file.json\"  # islet.toml:2"),
        "{shown}"
    );
    assert!(
        shown.contains("timeout-ms = \"5\"  # islet.toml:3"),
        "{shown}"
    );
}

#[test]
fn issue22_1_the_example_config_checks() {
    let example = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/islet.toml"
    ));
    let dir = tempfile::tempdir().unwrap();
    let out = islet_in(
        dir.path(),
        &["config", "check", "--config", example.to_str().unwrap()],
        &[("ISLET_API_TOKEN", "t")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(": ok ("),
        "{}",
        text(&out.stdout)
    );
}

// ---------------------------------------------------------------------------------------
// Traces over OTLP.

/// A minimal OTLP/HTTP trace receiver on the official protobuf types: it decodes each
/// `POST /v1/traces` and keeps every span with its resource's `service.name`.
struct OtlpReceiver {
    url: String,
    spans: Arc<Mutex<Vec<(String, opentelemetry_proto::tonic::trace::v1::Span)>>>,
}

impl OtlpReceiver {
    async fn start() -> OtlpReceiver {
        use opentelemetry_proto::tonic::collector::trace::v1::{
            ExportTraceServiceRequest, ExportTraceServiceResponse,
        };
        use prost::Message as _;
        let spans = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&spans);
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let kept = Arc::clone(&kept);
                    async move {
                        assert_eq!(
                            headers[axum::http::header::CONTENT_TYPE],
                            "application/x-protobuf"
                        );
                        let request = ExportTraceServiceRequest::decode(body).unwrap();
                        for resource in request.resource_spans {
                            let service = resource
                                .resource
                                .iter()
                                .flat_map(|r| &r.attributes)
                                .find(|a| a.key == "service.name")
                                .and_then(|a| a.value.as_ref())
                                .map(|v| format!("{:?}", v.value))
                                .unwrap_or_default();
                            for scope in resource.scope_spans {
                                for span in scope.spans {
                                    kept.lock().unwrap().push((service.clone(), span));
                                }
                            }
                        }
                        (
                            [(axum::http::header::CONTENT_TYPE, "application/x-protobuf")],
                            ExportTraceServiceResponse::default().encode_to_vec(),
                        )
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        OtlpReceiver { url, spans }
    }

    /// Waits (up to 30 s) until a span named `name` has arrived.
    async fn wait_for(&self, name: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !self
            .spans
            .lock()
            .unwrap()
            .iter()
            .any(|(_, s)| s.name == name)
        {
            assert!(
                std::time::Instant::now() < deadline,
                "no {name} span arrived; got {:?}",
                self.names()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn names(&self) -> Vec<String> {
        self.spans
            .lock()
            .unwrap()
            .iter()
            .map(|(_, s)| s.name.clone())
            .collect()
    }
}

/// A chat turn's spans reach an OTLP collector as one trace: `http_request` (the root) →
/// … → `think_turn` → `think_step` → `think_tool_call`, linked by their parent ids, from
/// service `islet`.
#[tokio::test(flavor = "multi_thread")]
async fn issue22_3_a_chat_turn_s_spans_arrive_at_an_otlp_receiver_with_parent_links() {
    let receiver = OtlpReceiver::start().await;
    let model = llm::scripted::ScriptedModel::start().await.unwrap();
    model.push(llm::scripted::Reply::new().tool_call("call_1", "list", json!({"path": "/"})));
    model.push(llm::scripted::Reply::new().text("Nothing there."));
    let dir = tempfile::tempdir().unwrap();
    // The endpoint comes from the environment, as a deployment would set it; RUST_LOG is
    // quiet, which must not silence the export.
    let server = given_assistant_server(
        dir.path(),
        &model,
        &[],
        &[
            ("RUST_LOG", "warn"),
            ("ISLET_OTLP_ENDPOINT", &receiver.url),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    let (status, stream) = ask_assistant(&server).await;
    assert_eq!(status, 200);
    assert!(stream.to_string().contains("Nothing there."), "{stream}");
    receiver.wait_for("think_turn").await;
    receiver.wait_for("http_request").await;
    drop(server);

    let spans = receiver.spans.lock().unwrap().clone();
    assert!(
        spans
            .iter()
            .all(|(service, _)| service.contains("\"islet\"")),
        "{:?}",
        spans.iter().map(|(s, _)| s).collect::<Vec<_>>()
    );
    let spans: Vec<_> = spans.into_iter().map(|(_, s)| s).collect();
    let named = |name: &str| -> Vec<&opentelemetry_proto::tonic::trace::v1::Span> {
        spans.iter().filter(|s| s.name == name).collect()
    };
    let by_id = |id: &[u8]| spans.iter().find(|s| s.span_id == id);
    let turns = named("think_turn");
    assert_eq!(turns.len(), 1, "{:?}", receiver.names());
    let turn = turns[0];
    let steps = named("think_step");
    assert_eq!(steps.len(), 2, "{:?}", receiver.names());
    assert!(steps.iter().all(|s| s.parent_span_id == turn.span_id));
    let calls = named("think_tool_call");
    assert_eq!(calls.len(), 1, "{:?}", receiver.names());
    let call = calls[0];
    assert!(
        steps.iter().any(|s| s.span_id == call.parent_span_id),
        "the tool call's parent is not a step"
    );
    assert!(
        call.attributes
            .iter()
            .any(|a| a.key == "tool" && format!("{:?}", a.value).contains("\"list\"")),
        "{:?}",
        call.attributes
    );
    assert!(call.end_time_unix_nano > call.start_time_unix_nano);
    // Up from the turn, every parent arrived, the trace is one, and its root is the request.
    let mut span = turn;
    while !span.parent_span_id.is_empty() {
        assert_eq!(span.trace_id, turn.trace_id);
        span = by_id(&span.parent_span_id).unwrap_or_else(|| {
            panic!(
                "the parent of {} never arrived; got {:?}",
                span.name,
                receiver.names()
            )
        });
    }
    assert_eq!(span.name, "http_request", "{:?}", receiver.names());
    assert_eq!(span.trace_id, turn.trace_id);
}

/// A collector that is not there costs one log line, not one per batch, and requests are
/// served as usual.
#[tokio::test(flavor = "multi_thread")]
async fn issue22_3_an_absent_otlp_collector_is_logged_once() {
    let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", gone.local_addr().unwrap());
    drop(gone);
    let dir = tempfile::tempdir().unwrap();
    let server = given_counter_server(
        dir.path(),
        &["--otlp-endpoint", &endpoint],
        &[("OTEL_BSP_SCHEDULE_DELAY", "50")],
    );
    for n in 1..=5 {
        let (status, reply) = post(&server, "/agents/Counter/a/increment", "[1]").await;
        assert_eq!((status, reply), (200, json!({"result": n})));
        // Each request's spans go out in a batch of their own.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.wait_for_log(|l| l.contains("cannot export spans"));
    let lines = server.stop();
    let failures = lines
        .iter()
        .filter(|l| l.contains("cannot export spans"))
        .count();
    assert_eq!(failures, 1, "{}", lines.join("\n"));
}

/// A chat turn's model calls in `/metrics`: calls, a latency histogram and tokens, by
/// provider only.
#[tokio::test(flavor = "multi_thread")]
async fn issue22_2_metrics_count_model_calls_latency_and_tokens() {
    let model = llm::scripted::ScriptedModel::start().await.unwrap();
    model.push(
        llm::scripted::Reply::new()
            .tool_call("call_1", "list", json!({"path": "/"}))
            .usage(100, 7),
    );
    model.push(
        llm::scripted::Reply::new()
            .text("Nothing there.")
            .usage(120, 5),
    );
    let dir = tempfile::tempdir().unwrap();
    let server = given_assistant_server(dir.path(), &model, &[], &[]);
    let (status, stream) = ask_assistant(&server).await;
    assert_eq!(status, 200);
    assert!(stream.to_string().contains("Nothing there."), "{stream}");
    let (status, text) = get(&format!("{}/metrics", server.base), Some(&server.token)).await;
    assert_eq!(status, 200, "{text}");
    let scrape = Scrape::parse(&text);
    let openai = [("provider", "openai")];
    assert_eq!(
        scrape.value(
            "islet_model_calls_total",
            &[("provider", "openai"), ("outcome", "ok")]
        ),
        2.0,
        "{text}"
    );
    assert_eq!(
        scrape.value("islet_model_call_duration_seconds_count", &openai),
        2.0
    );
    assert!(scrape.value("islet_model_call_duration_seconds_sum", &openai) > 0.0);
    assert_eq!(
        scrape.value(
            "islet_model_tokens_total",
            &[("provider", "openai"), ("direction", "input")]
        ),
        220.0
    );
    assert_eq!(
        scrape.value(
            "islet_model_tokens_total",
            &[("provider", "openai"), ("direction", "output")]
        ),
        12.0
    );
    // The loop's own totals: one turn of two steps, the first calling one tool.
    assert_eq!(scrape.value("islet_think_turns_total", &[]), 1.0, "{text}");
    assert_eq!(scrape.value("islet_think_steps_total", &[]), 2.0, "{text}");
    assert_eq!(
        scrape.value("islet_think_tool_calls_total", &[]),
        1.0,
        "{text}"
    );
    assert_eq!(
        scrape.value(
            "islet_model_calls_total",
            &[("provider", "anthropic"), ("outcome", "ok")]
        ),
        0.0
    );
    assert!(scrape.has_help("islet_model_call_duration_seconds"));
}

/// A model call refused before anything streamed (here a 400) counts as a failed call,
/// with its latency.
#[tokio::test(flavor = "multi_thread")]
async fn issue22_2_metrics_count_model_calls_that_fail_before_streaming() {
    let model = llm::scripted::ScriptedModel::start().await.unwrap();
    model.push(llm::scripted::Reply::error(400, "messages: bad request"));
    let dir = tempfile::tempdir().unwrap();
    let server = given_assistant_server(dir.path(), &model, &[], &[]);
    let (_, stream) = ask_assistant(&server).await;
    assert!(stream.to_string().contains("bad request"), "{stream}");
    let (status, text) = get(&format!("{}/metrics", server.base), Some(&server.token)).await;
    assert_eq!(status, 200, "{text}");
    let scrape = Scrape::parse(&text);
    let error = [("provider", "openai"), ("outcome", "error")];
    assert_eq!(
        scrape.value("islet_model_calls_total", &error),
        1.0,
        "{text}"
    );
    assert_eq!(
        scrape.value(
            "islet_model_calls_total",
            &[("provider", "openai"), ("outcome", "ok")]
        ),
        0.0
    );
    assert_eq!(
        scrape.value(
            "islet_model_call_duration_seconds_count",
            &[("provider", "openai")]
        ),
        1.0
    );
}
