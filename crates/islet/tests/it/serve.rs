//! `islet serve` end to end: the binary, real HTTP, kill -9, restarts.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{client, post_with_token};

const LEDGER: &str = r#"
import { Agent } from "agents";
export default class Ledger extends Agent {
  async write(key: string) { await this.storage.put(key, true); return key; }
  async missing(keys: string[]) { const found = await this.storage.get(keys); return keys.filter((k) => !found.has(k)); }
}
"#;

const REMINDER: &str = r#"
export default class Reminder extends Agent {
  async later(seconds, text) { return this.schedule(seconds, "fire", { text }); }
  async fire(payload) {
    const fired = (await this.storage.get("fired")) ?? [];
    fired.push(payload.text);
    await this.storage.put("fired", fired);
  }
  async fired() { return (await this.storage.get("fired")) ?? []; }
}
"#;

struct Server {
    child: Child,
    base: String,
    token: String,
    /// Everything the server printed to stdout, including the first-start token line.
    stdout: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn given_agents_dir(dir: &Path, modules: &[(&str, &str)]) -> PathBuf {
    let agents = dir.join("agents");
    std::fs::create_dir_all(&agents).unwrap();
    for (file, source) in modules {
        std::fs::write(agents.join(file), source).unwrap();
    }
    agents
}

/// The repository's `examples/agents`, as `islet serve` finds them from the README.
fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/agents")
}

/// Starts `islet serve` on a free port and waits until it listens.
fn given_server(agents: &Path, data: &Path, extra: &[&str]) -> Server {
    given_server_env(agents, data, extra, &[])
}

/// [`given_server`] with these environment variables set (model variables are removed
/// first, so the machine's own never leak in).
fn given_server_env(agents: &Path, data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_islet"))
        .args(["serve", "--listen", "127.0.0.1:0", "--agents"])
        .arg(agents)
        .arg("--data")
        .arg(data)
        .args(extra)
        .env_remove("ISLET_AUTH_TOKEN")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("ANTHROPIC_BASE_URL")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("islet serve starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stdout = Vec::new();
    let base = loop {
        let line = lines
            .next()
            .expect("islet serve printed its address before exiting")
            .unwrap();
        stdout.push(line.clone());
        if let Some(rest) = line.strip_prefix("islet serve: ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let token = std::fs::read_to_string(data.join("token")).unwrap_or_default();
    Server {
        child,
        base,
        token: token.trim().to_owned(),
        stdout,
    }
}

impl Server {
    async fn post(&self, path: &str, body: &str) -> (u16, Value) {
        post_with_token(&self.base, &self.token, path, body).await
    }

    /// The contents of the memories of `profile`, as `POST /memory/<profile>/list` lists them.
    async fn memory_contents(&self, profile: &str) -> Vec<String> {
        let (status, listed) = self.post(&format!("/memory/{profile}/list"), "{}").await;
        assert_eq!(status, 200, "{listed}");
        listed["memories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn call(&self, class: &str, name: &str, method: &str, args: Value) -> Value {
        let (status, body) = self
            .post(
                &format!("/agents/{class}/{name}/{method}"),
                &args.to_string(),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["result"].clone()
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = client()
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_6_acceptance_example_agents_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/agents");
    let server = given_server(&examples, &dir.path().join("data"), &[]);
    assert!(
        server.stdout.iter().any(|l| l.contains(&server.token)),
        "the first start prints the generated token: {:?}",
        server.stdout
    );
    assert_eq!(
        server
            .call("Counter", "alice", "increment", json!([5]))
            .await,
        json!(5)
    );
    assert_eq!(
        server
            .call("Counter", "alice", "increment", json!([2]))
            .await,
        json!(7)
    );
    let (status, state) = server.get("/agents/Counter/alice/state").await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&state).unwrap()["count"],
        json!(7)
    );

    let response = client()
        .put(format!(
            "{}/agents/Counter/alice/workspace/docs/readme.md",
            server.base
        ))
        .bearer_auth(&server.token)
        .body("# hello\n")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        server
            .get("/agents/Counter/alice/workspace/docs/readme.md")
            .await,
        (200, "# hello\n".to_owned())
    );
    let (status, listing) = server.get("/agents/Counter/alice/workspace/docs").await;
    assert_eq!(status, 200);
    assert!(listing.contains("readme.md"), "{listing}");

    // Agent code uses the workspace too; the same file is visible over HTTP.
    server
        .call("Notes", "bob", "add", json!(["todo.md", "- water plants"]))
        .await;
    assert_eq!(
        server
            .get("/agents/Notes/bob/workspace/notes/todo.md")
            .await,
        (200, "- water plants\n".to_owned())
    );
    let (status, agents) = server.get("/agents").await;
    assert_eq!(status, 200);
    let agents: Value = serde_json::from_str(&agents).unwrap();
    let names: Vec<&str> = agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    let (status, body) = server.get("/agents/Counter/alice/request").await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["count"],
        json!(7)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn state_changes_stream_as_server_sent_events() {
    let dir = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/agents");
    let server = given_server(
        &examples,
        &dir.path().join("data"),
        &["--isolation", "inprocess"],
    );
    server
        .call("Counter", "live", "increment", json!([1]))
        .await;
    let mut events = client()
        .get(format!("{}/agents/Counter/live/state/events", server.base))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status().as_u16(), 200);
    let mut seen = String::new();
    let first = events.chunk().await.unwrap().unwrap();
    seen.push_str(&String::from_utf8_lossy(&first));
    server
        .call("Counter", "live", "increment", json!([41]))
        .await;
    while !seen.contains("\"count\":42") {
        let chunk = tokio::time::timeout(Duration::from_secs(30), events.chunk())
            .await
            .expect("an event within 30 s")
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        seen.starts_with("event: state\ndata: {\"count\":1"),
        "{seen}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_the_right_status_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(dir.path(), &[("ledger.ts", LEDGER)]);
    let server = given_server(
        &agents,
        &dir.path().join("data"),
        &["--max-body-kb", "1", "--isolation", "inprocess"],
    );
    let cases: [(&str, String, u16, &str); 6] = [
        (
            "/agents/Ledgr/a/write",
            "[\"k\"]".into(),
            404,
            "did you mean `Ledger`",
        ),
        (
            "/agents/Ledger/a/wrte",
            "[\"k\"]".into(),
            404,
            "did you mean `write`",
        ),
        (
            "/agents/Ledger/a/write",
            "[\"k\"".into(),
            400,
            "not valid JSON",
        ),
        (
            "/agents/Ledger/a/write",
            "{\"k\": 1}".into(),
            400,
            "JSON array of arguments",
        ),
        (
            "/agents/Ledger/a/write",
            format!("[\"{}\"]", "x".repeat(4096)),
            413,
            "--max-body-kb",
        ),
        (
            "/agents/Ledger/%01/write",
            "[\"k\"]".into(),
            400,
            "invalid agent name",
        ),
    ];
    for (path, body, status, message) in cases {
        let (got, reply) = server.post(path, &body).await;
        assert_eq!(got, status, "{path}: {reply}");
        let text = reply["error"]["message"].as_str().unwrap_or_default();
        assert!(text.contains(message), "{path}: {reply}");
    }
    for token in [None, Some("wrong")] {
        let mut request = client()
            .post(format!("{}/agents/Ledger/a/write", server.base))
            .body("[\"k\"]");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401);
        assert!(response.text().await.unwrap().contains("bearer token"));
    }
    let (status, listing) = server.get("/agents").await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&listing).unwrap()["agents"],
        json!([]),
        "no bad request created an agent"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_acknowledged_writes_loses_none_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(dir.path(), &[("ledger.ts", LEDGER)]);
    let data = dir.path().join("data");
    let mut server = given_server(&agents, &data, &[]);
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
    let base = server.base.clone();
    let token = server.token.clone();
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let (base, token) = (base.clone(), token.clone());
            let acknowledged = Arc::clone(&acknowledged);
            tokio::spawn(async move {
                let http = client();
                for i in 0..125 {
                    let agent = format!("ledger-{}", (c + i) % 10);
                    let key = format!("client{c}-write{i}");
                    let sent = http
                        .post(format!("{base}/agents/Ledger/{agent}/write"))
                        .bearer_auth(&token)
                        .body(json!([key]).to_string())
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status().is_success() => {
                            acknowledged.lock().unwrap().push((agent, key));
                        }
                        // After the kill: refused connections and cut replies, none acknowledged.
                        _ => return,
                    }
                }
            })
        })
        .collect();
    while acknowledged.lock().unwrap().len() < 400 {
        assert!(
            !clients.iter().all(|c| c.is_finished()),
            "every client stopped before the kill"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    for c in clients {
        c.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 400 && acknowledged.len() < 1_000,
        "killed mid-way: {}",
        acknowledged.len()
    );

    let server = given_server(&agents, &data, &[]);
    for n in 0..10 {
        let agent = format!("ledger-{n}");
        let keys: Vec<&str> = acknowledged
            .iter()
            .filter(|(a, _)| *a == agent)
            .map(|(_, k)| k.as_str())
            .collect();
        if keys.is_empty() {
            continue;
        }
        let missing = server
            .call("Ledger", &agent, "missing", json!([keys]))
            .await;
        assert_eq!(missing, json!([]), "{agent} lost acknowledged writes");
    }
    drop(server);
    let data = store::DataDir::open(&data, store::Env::default()).unwrap();
    for n in 0..10 {
        let mut db = data
            .open_existing_agent("Ledger", &format!("ledger-{n}"))
            .unwrap();
        assert_eq!(db.integrity_check().unwrap(), "ok");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_due_while_the_server_is_stopped_fires_exactly_once_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(dir.path(), &[("reminder.js", REMINDER)]);
    let data = dir.path().join("data");
    {
        let server = given_server(&agents, &data, &["--isolation", "inprocess"]);
        server
            .call("Reminder", "r", "later", json!([1, "while down"]))
            .await;
        let pid = server.child.id().to_string();
        // SIGTERM: a graceful stop, before the schedule is due.
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let mut server = server;
        server.child.wait().unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let server = given_server(&agents, &data, &["--isolation", "inprocess"]);
    let mut fired = json!([]);
    for _ in 0..300 {
        fired = server.call("Reminder", "r", "fired", json!([])).await;
        if fired != json!([]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Give a duplicate every chance to show up.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        server.call("Reminder", "r", "fired", json!([])).await,
        json!(["while down"])
    );
    let (_, schedules) = server.get("/agents/Reminder/r/schedules").await;
    assert_eq!(
        serde_json::from_str::<Value>(&schedules).unwrap()["schedules"],
        json!([])
    );
}

/// Also the regression for a deadlock found in session 3: code waiting on an agent whose
/// live isolate sat on the code's own executor thread waited for the wall limit.
#[tokio::test(flavor = "multi_thread")]
async fn code_mode_at_mcp_calls_agents() {
    for isolation in ["inprocess", "process"] {
        let dir = tempfile::tempdir().unwrap();
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/agents");
        let server = given_server(
            &examples,
            &dir.path().join("data"),
            &["--isolation", isolation],
        );
        let mut mcp = McpClient::connect(&format!("{}/mcp", server.base), &server.token).await;
        let tools = mcp.request("tools/list", json!({})).await;
        assert_eq!(tools["tools"].as_array().unwrap().len(), 2);
        let found = mcp
            .request(
                "tools/call",
                json!({"name": "search", "arguments": {"query": "increment counter"}}),
            )
            .await;
        assert!(
            found.to_string().contains("agents.Counter.increment"),
            "{found}"
        );
        let result = mcp
            .request(
                "tools/call",
                json!({"name": "execute", "arguments": {"code":
                    "const a = await agents.Counter('mcp').increment(4);\n\
                     const b = await agents.Counter.increment({ name: 'mcp', args: [1] });\n\
                     for (let i = 0; i < 5; i++) await agents.Counter('mcp').get();\n\
                     return [a, b];"}}),
            )
            .await;
        assert_eq!(result["isError"], json!(false), "{isolation}: {result}");
        assert!(
            result.to_string().contains("[4,5]") || result.to_string().contains("4,\\n  5"),
            "{isolation}: {result}"
        );
        assert_eq!(
            server.call("Counter", "mcp", "get", json!([])).await,
            json!(5)
        );
    }
}

/// Just enough streamable-HTTP MCP to call tools.
pub(crate) struct McpClient {
    endpoint: String,
    token: String,
    session: Option<String>,
}

impl McpClient {
    pub(crate) async fn connect(endpoint: &str, token: &str) -> McpClient {
        let mut c = McpClient {
            endpoint: endpoint.to_owned(),
            token: token.to_owned(),
            session: None,
        };
        c.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}}),
        )
        .await;
        c.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        c
    }

    pub(crate) async fn request(&mut self, method: &str, params: Value) -> Value {
        self.send(json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
            .await
    }

    async fn send(&mut self, message: Value) -> Value {
        let mut request = client()
            .post(&self.endpoint)
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(message.to_string());
        if let Some(s) = &self.session {
            request = request.header("mcp-session-id", s);
        }
        let response = request.send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        if let Some(s) = response.headers().get("mcp-session-id") {
            self.session = Some(s.to_str().unwrap().to_owned());
        }
        let body = response.text().await.unwrap();
        if message.get("id").is_none() {
            return Value::Null;
        }
        body.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .chain(serde_json::from_str::<Value>(&body).ok())
            .find(|v| v.get("id").is_some())
            .map(|v| v["result"].clone())
            .unwrap_or_else(|| panic!("no reply in {body}"))
    }
}

#[test]
fn islet_ws_reads_and_writes_an_agents_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let data = store::DataDir::open(&data, store::Env::default()).unwrap();
        data.open_agent("Notes", "alice").unwrap();
    }
    let islet = |args: &[&str], stdin: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_islet"))
            .arg("ws")
            .args(args)
            .arg("--data")
            .arg(&data)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let put = islet(&["put", "Notes/alice", "/notes/todo.md"], "- milk\n");
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    let cat = islet(&["cat", "Notes/alice", "notes/todo.md"], "");
    assert_eq!(String::from_utf8_lossy(&cat.stdout), "- milk\n");
    let ls = islet(&["ls", "Notes/alice", "/notes"], "");
    assert!(String::from_utf8_lossy(&ls.stdout).contains("todo.md"));
    let rm = islet(&["rm", "Notes/alice", "/notes", "--recursive"], "");
    assert!(rm.status.success());
    let missing = islet(&["cat", "Notes/alice", "/notes/todo.md"], "");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/notes/todo.md"));
    let unknown = islet(&["ls", "Notes/nobody"], "");
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("nobody"));
    let traversal = islet(&["cat", "Notes/alice", "../../etc/passwd"], "");
    assert!(String::from_utf8_lossy(&traversal.stderr).contains("workspace root"));
}

const LEARNER: &str = r#"
export default class Learner extends Agent {
  async learn(text) { return (await memory.remember({ content: text, type: "fact" })).added; }
  async ask(question) { return (await memory.recall(question)).results.map((r) => r.memory.content); }
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn memory_profiles_reach_agents_mcp_code_and_http() {
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(dir.path(), &[("learner.js", LEARNER)]);
    let server = given_server(
        &agents,
        &dir.path().join("data"),
        &["--isolation", "inprocess", "--memory", "team/alice"],
    );
    // Remembered once, however often it is learnt.
    for added in [true, false] {
        let fact = json!(["Alice works at Globex in Lisbon"]);
        assert_eq!(
            server.call("Learner", "l", "learn", fact).await,
            json!(added)
        );
    }
    assert_eq!(
        server
            .call("Learner", "l", "ask", json!(["where does alice work"]))
            .await,
        json!(["Alice works at Globex in Lisbon"])
    );
    // The same profile over HTTP, with the same input shapes as in code.
    let (status, reply) = server
        .post(
            "/memory/team/alice/remember",
            &json!({"content": "Bob prefers tea"}).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let (status, reply) = server
        .post(
            "/memory/team/alice/recall",
            &json!({"query": "what does bob drink", "limit": 3}).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply["results"][0]["memory"]["content"],
        json!("Bob prefers tea")
    );
    let (status, reply) = server
        .post("/memory/team/alice/recall", "{\"query\": \"  \"}")
        .await;
    assert_eq!(status, 400, "{reply}");
    let (status, reply) = server
        .post("/memory/team/nobody/recall", "{\"query\": \"x\"}")
        .await;
    assert_eq!(status, 404, "{reply}");
    let (status, reply) = server
        .post("/memory/team/alice/recal", "{\"query\": \"x\"}")
        .await;
    assert_eq!(status, 404, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("recall"),
        "{reply}"
    );
    // And from Code Mode.
    let mut mcp = McpClient::connect(&format!("{}/mcp", server.base), &server.token).await;
    let result = mcp
        .request(
            "tools/call",
            json!({"name": "execute", "arguments": {"code":
                "const r = await memory.recall({ query: 'tea' }); return r.results.length;"}}),
        )
        .await;
    assert_eq!(result["isError"], json!(false), "{result}");
    assert!(result.to_string().contains('1'), "{result}");
}

const SHOP: &str = r#"
import { Agent, HttpError } from "agents";
export default class Shop extends Agent {
  /** One item by its id. */
  async item(id: string): Promise<{ id: string; price: number }> {
    const item = await this.storage.get(id);
    if (item === undefined) throw new HttpError(404, `no item ${id}; add it first`);
    return item;
  }
  async add(id: string, price: number = 1) { await this.storage.put(id, { id, price }); return id; }
  async crash() { throw new Error("a bug"); }
  async big() { return "x".repeat(4096); }
  private async restock() { return "restocked"; }
  async later() { return this.schedule(3600, "restock", null); }
}
"#;

/// A server over the Shop class, in process (these tests are about the HTTP surface).
fn given_shop(dir: &Path, extra: &[&str]) -> Server {
    let agents = given_agents_dir(dir, &[("shop.ts", SHOP)]);
    let mut args = vec!["--isolation", "inprocess"];
    args.extend_from_slice(extra);
    given_server(&agents, &dir.join("data"), &args)
}

#[tokio::test(flavor = "multi_thread")]
async fn issue13_5_private_methods_are_not_reachable_over_http_or_mcp() {
    let dir = tempfile::tempdir().unwrap();
    let server = given_shop(dir.path(), &[]);
    let (status, reply) = server.post("/agents/Shop/s/restock", "[]").await;
    assert_eq!(status, 404, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not callable"),
        "{reply}"
    );
    let schedule = server.call("Shop", "s", "later", json!([])).await;
    assert_eq!(schedule["callback"], json!("restock"));

    let mut mcp = McpClient::connect(&format!("{}/mcp", server.base), &server.token).await;
    let found = mcp
        .request(
            "tools/call",
            json!({"name": "search", "arguments": {"query": "restock shop"}}),
        )
        .await;
    assert!(!found.to_string().contains("restock("), "{found}");
    let result = mcp
        .request(
            "tools/call",
            json!({"name": "execute", "arguments": {"code":
                "return await agents.Shop('s').restock();"}}),
        )
        .await;
    assert_eq!(result["isError"], json!(true), "{result}");
    assert!(result.to_string().contains("not a method"), "{result}");
}

#[tokio::test(flavor = "multi_thread")]
async fn issue13_6_code_mode_shows_the_methods_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let server = given_shop(dir.path(), &[]);
    let mut mcp = McpClient::connect(&format!("{}/mcp", server.base), &server.token).await;
    let found = mcp
        .request(
            "tools/call",
            json!({"name": "search", "arguments": {"query": "shop item by id"}}),
        )
        .await;
    let text = found.to_string();
    for expected in [
        "args: [id: string]",
        "Promise<{ id: string; price: number }>",
        "One item by its id.",
    ] {
        assert!(text.contains(expected), "{expected}: {text}");
    }
    let found = mcp
        .request(
            "tools/call",
            json!({"name": "search", "arguments": {"query": "add shop"}}),
        )
        .await;
    let text = found.to_string();
    for expected in [
        "args: [id: string, price?: number]",
        "agents.Shop(name).add(id: string, price?: number)",
        "args?: []",
    ] {
        assert!(text.contains(expected), "{expected}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn issue13_7_refusals_are_4xx_and_every_error_is_json() {
    let dir = tempfile::tempdir().unwrap();
    let server = given_shop(dir.path(), &[]);
    let (status, reply) = server.post("/agents/Shop/s/item", "[\"nope\"]").await;
    assert_eq!(status, 404, "{reply}");
    assert_eq!(
        reply,
        json!({"error": {"code": "NOT_FOUND", "message": "no item nope; add it first"}})
    );
    let (status, reply) = server.post("/agents/Shop/s/crash", "[]").await;
    assert_eq!(status, 500, "{reply}");
    assert_eq!(reply["error"]["code"], json!("AGENT_ERROR"));

    let response = client()
        .post(format!("{}/agents/Shop/s/item", server.base))
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], json!("UNAUTHORIZED"), "{body}");

    let (status, body) = server.get("/agents/Shop/s/item").await;
    assert_eq!(status, 405, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("POST") && message.contains("JSON array"),
        "{message}"
    );
    let response = client()
        .get(format!("{}/agents/Shop/s/item", server.base))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"].to_str().unwrap(), "POST");
}

#[tokio::test(flavor = "multi_thread")]
async fn issue13_8_serve_has_output_and_memory_limit_flags() {
    let dir = tempfile::tempdir().unwrap();
    let server = given_shop(dir.path(), &["--max-output-kb", "2", "--memory-mb", "32"]);
    let (status, reply) = server.post("/agents/Shop/s/big", "[]").await;
    assert_eq!(status, 500, "{reply}");
    assert_eq!(reply["error"]["code"], json!("LIMIT"));
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("2 KiB") && message.contains("--max-output-kb"),
        "{message}"
    );
    // The agent is fine afterwards.
    assert_eq!(
        server.call("Shop", "s", "add", json!(["a"])).await,
        json!("a")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issue13_9_the_api_is_documented_and_every_documented_route_exists() {
    let help = Command::new(env!("CARGO_BIN_EXE_islet"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for route in [
        "/state/events",
        "/schedules",
        "/workspace/<path>",
        "/request[/<path>]",
        "GET    /agents[",
        "/mcp",
        "/memory/<namespace>/<profile>/<op>",
        "/openapi.json",
        "HttpError",
        "@callable()",
    ] {
        assert!(
            help.contains(route),
            "{route} missing from serve --help:\n{help}"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let server = given_shop(dir.path(), &[]);
    // No token needed for the document.
    let document: Value = client()
        .get(format!("{}/openapi.json", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["openapi"], json!("3.1.0"));
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() >= 14, "{}", paths.len());
    for (path, item) in paths {
        let concrete = path
            .replace("{class}", "Shop")
            .replace("{name}", "s")
            .replace("{method}", "add")
            .replace("{id}", "no-such-id")
            .replace("{path}", "f.txt")
            .replace("{rest}", "x")
            .replace("{namespace}", "team")
            .replace("{profile}", "nobody")
            .replace("{operation}", "recall");
        for method in ["get", "post", "put", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let response = client()
                .request(
                    method.to_uppercase().parse().unwrap(),
                    format!("{}{concrete}", server.base),
                )
                .bearer_auth(&server.token)
                .header("accept", "application/json, text/event-stream")
                .header("content-type", "application/json")
                .body(if method == "post" { "[]" } else { "" })
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            if path.ends_with("/events") {
                assert_eq!(status, 200, "{method} {path}");
                continue;
            }
            let body = response.text().await.unwrap();
            assert!(
                status != 405 && !body.contains("no route for"),
                "{method} {path} is documented but not routed: {status} {body}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn issue13_9_clients_can_subscribe_to_state_before_the_first_call() {
    let dir = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/agents");
    let server = given_server(
        &examples,
        &dir.path().join("data"),
        &["--isolation", "inprocess"],
    );
    let mut events = client()
        .get(format!("{}/agents/Counter/fresh/state/events", server.base))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status().as_u16(), 200);
    let mut seen = String::from_utf8_lossy(&events.chunk().await.unwrap().unwrap()).into_owned();
    assert!(seen.starts_with("event: state\ndata: null"), "{seen}");
    server
        .call("Counter", "fresh", "increment", json!([3]))
        .await;
    while !seen.contains("\"count\":3") {
        let chunk = tokio::time::timeout(Duration::from_secs(30), events.chunk())
            .await
            .expect("an event within 30 s")
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    // An unknown class is still an error.
    let (status, _) = server.get("/agents/Nope/x/state/events").await;
    assert_eq!(status, 404);
}

const ASSISTANT: &str = r#"
import { Think } from "agents";
export default class Assistant extends Think {
  getSystemPrompt() { return "Be brief."; }
}
"#;

/// `islet serve` with the scripted model as its OpenAI-compatible model (in-process
/// isolation, so a test's agents start fast).
fn given_chat_server(
    agents: &Path,
    data: &Path,
    model: &llm::scripted::ScriptedModel,
    env: &[(&str, &str)],
) -> Server {
    given_chat_server_with(agents, data, model, env, &[])
}

/// [`given_chat_server`] with more flags.
fn given_chat_server_with(
    agents: &Path,
    data: &Path,
    model: &llm::scripted::ScriptedModel,
    env: &[(&str, &str)],
    extra: &[&str],
) -> Server {
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
    given_server_env(agents, data, &args, env)
}

/// The `data:` payloads of a server-sent event stream.
fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn issue15_chat_streams_a_multi_step_turn_as_the_ui_message_stream() {
    const KEY: &str = "sk-test-secret-4f1c9a";
    let model = llm::scripted::ScriptedModel::start_with_key(KEY)
        .await
        .unwrap();
    model.push(llm::scripted::Reply::new().tool_call(
        "call_1",
        "execute",
        json!({"code": "async () => { await workspace.write({path: '/hello.txt', content: 'hi'}); return 'ok' }"}),
    ));
    model.push(
        llm::scripted::Reply::new()
            .text_chunks(["Wrote ", "hello.txt."])
            .usage(9, 3),
    );
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(
        dir.path(),
        &[("Assistant.ts", ASSISTANT), ("Ledger.ts", LEDGER)],
    );
    let server = given_chat_server(
        &agents,
        &dir.path().join("data"),
        &model,
        &[("OPENAI_API_KEY", KEY)],
    );
    let body = json!({
        "id": "chat-1",
        "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": "Say hi in a file"}]}],
        "trigger": "submit-message"
    });
    let response = client()
        .post(format!("{}/agents/Assistant/me/chat", server.base))
        .bearer_auth(&server.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["x-vercel-ai-ui-message-stream"], "v1");
    let session = headers["x-islet-session-id"].to_str().unwrap().to_owned();
    let text = response.text().await.unwrap();
    assert!(!text.contains(KEY), "the key leaked into the stream");
    let data = sse_data(&text);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{text}");
    // Every chunk is one the protocol defines, with exactly its fields.
    let chunks: Vec<think::ui::Chunk> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("{d}: {e}")))
        .collect();
    let types: Vec<String> = data[..data.len() - 1]
        .iter()
        .map(|d| {
            serde_json::from_str::<Value>(d).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(types.first().map(String::as_str), Some("start"));
    assert_eq!(types.last().map(String::as_str), Some("finish"));
    for wanted in [
        "start-step",
        "tool-input-start",
        "tool-input-delta",
        "tool-input-available",
        "tool-output-available",
        "finish-step",
        "text-start",
        "text-delta",
        "text-end",
    ] {
        assert!(
            types.iter().any(|t| t == wanted),
            "{wanted} missing from {types:?}"
        );
    }
    match &chunks[0] {
        think::ui::Chunk::Start {
            message_metadata: Some(m),
            ..
        } => assert_eq!(m["sessionId"], json!(session)),
        other => panic!("{other:?}"),
    }
    // The model's code wrote the file; the model got the key and the system prompt.
    let (status, file) = server.get("/agents/Assistant/me/workspace/hello.txt").await;
    assert_eq!((status, file.as_str()), (200, "hi"));
    let requests = model.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].api_key.as_deref(), Some(KEY));
    assert_eq!(requests[0].body["messages"][0]["content"], "Be brief.");

    // Sessions and history.
    let (status, list) = server.get("/agents/Assistant/me/sessions").await;
    assert_eq!(status, 200, "{list}");
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["sessions"][0]["id"], json!(session));
    assert_eq!(list["sessions"][0]["usage"]["inputTokens"], json!(9));
    let (status, history) = server
        .get(&format!("/agents/Assistant/me/sessions/{session}"))
        .await;
    assert_eq!(status, 200, "{history}");
    assert!(!history.contains(KEY));
    let history: Value = serde_json::from_str(&history).unwrap();
    let roles: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant"]);
    // The turn is over: nothing to reconnect to.
    let (status, _) = server
        .get(&format!("/agents/Assistant/me/sessions/{session}/stream"))
        .await;
    assert_eq!(status, 204);

    // The next turn continues the session given in the body.
    model.push(llm::scripted::Reply::new().text("Still here."));
    let response = client()
        .post(format!("{}/agents/Assistant/me/chat", server.base))
        .bearer_auth(&server.token)
        .json(&json!({"sessionId": session, "messages": [{"role": "user", "parts": [{"type": "text", "text": "And now?"}]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["x-islet-session-id"].to_str().unwrap(),
        session
    );
    let text = response.text().await.unwrap();
    assert!(text.contains("Still here."), "{text}");

    // A class that is not a chat agent, and a body without a user message, are 400s.
    let (status, reply) = server
        .post("/agents/Ledger/l/chat", &body.to_string())
        .await;
    assert_eq!(
        (status, reply["error"]["code"].clone()),
        (400, json!("NOT_A_CHAT_AGENT")),
        "{reply}"
    );
    let (status, _) = server
        .post("/agents/Assistant/me/chat", r#"{"messages": []}"#)
        .await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn issue15_chat_without_a_model_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(dir.path(), &[("Assistant.ts", ASSISTANT)]);
    let server = given_server(
        &agents,
        &dir.path().join("data"),
        &["--isolation", "inprocess"],
    );
    let (status, reply) = server
        .post(
            "/agents/Assistant/me/chat",
            r#"{"messages": [{"role": "user", "parts": [{"type": "text", "text": "hi"}]}]}"#,
        )
        .await;
    assert_eq!(status, 503, "{reply}");
    assert_eq!(reply["error"]["code"], json!("NO_MODEL"));
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--model"),
        "{reply}"
    );
    // A bad --model is refused at start-up, saying why.
    let output = Command::new(env!("CARGO_BIN_EXE_islet"))
        .args(["serve", "--listen", "127.0.0.1:0", "--model", "gpt-4"])
        .arg("--agents")
        .arg(&agents)
        .arg("--data")
        .arg(dir.path().join("data2"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--model") && stderr.contains("openai:gpt-4"),
        "{stderr}"
    );
}

const SLOW_ASSISTANT: &str = r#"
import { Think } from "agents";
export default class Slow extends Think {
  getTools() {
    return {
      slow: {
        description: "Takes a while",
        inputSchema: { type: "object", properties: {} },
        execute: async () => {
          const runs = ((await this.storage.get("runs")) ?? 0) + 1;
          await this.storage.put("runs", runs);
          await new Promise((resolve) => setTimeout(resolve, 4000));
          return "slow done";
        },
      },
    };
  }
  async runs() { return (await this.storage.get("runs")) ?? 0; }
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn issue15_kill_9_during_a_tool_call_then_restart_finishes_the_turn() {
    // Both wire formats: the resumed history (with the interrupted result) must be one
    // each provider accepts.
    for (provider, spec) in [
        (llm::ProviderKind::OpenAi, "openai:test-model"),
        (llm::ProviderKind::Anthropic, "anthropic:test-model"),
    ] {
        kill_9_during_a_tool_call_then_restart_finishes_the_turn(provider, spec).await;
    }
}

async fn kill_9_during_a_tool_call_then_restart_finishes_the_turn(
    provider: llm::ProviderKind,
    spec: &str,
) {
    let model = llm::scripted::ScriptedModel::start().await.unwrap();
    model.push(llm::scripted::Reply::new().tool_call("call_slow", "slow", json!({})));
    model.push(llm::scripted::Reply::new().text("Finished after the restart."));
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(dir.path(), &[("Slow.ts", SLOW_ASSISTANT)]);
    let data = dir.path().join("data");
    let base_url = model.base_url(provider);
    let args = [
        "--isolation",
        "inprocess",
        "--model",
        spec,
        "--model-base-url",
        &base_url,
    ];
    let mut server = given_server(&agents, &data, &args);
    let response = client()
        .post(format!("{}/agents/Slow/s/chat", server.base))
        .bearer_auth(&server.token)
        .json(&json!({"messages": [{"role": "user", "parts": [{"type": "text", "text": "go slow"}]}]}))
        .send()
        .await
        .unwrap();
    let session = response.headers()["x-islet-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    // The model asked for the slow tool; kill the server while it runs.
    for _ in 0..300 {
        if model.requests().len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(response);

    let server = given_server(&agents, &data, &args);
    let mut roles = Vec::new();
    let mut history = Value::Null;
    for _ in 0..300 {
        let (status, body) = server
            .get(&format!("/agents/Slow/s/sessions/{session}"))
            .await;
        assert_eq!(status, 200, "{body}");
        history = serde_json::from_str(&body).unwrap();
        roles = history["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap().to_owned())
            .collect();
        if roles.len() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        roles,
        ["user", "assistant", "tool", "assistant"],
        "{spec}: {history}"
    );
    let messages = history["messages"].as_array().unwrap();
    // The call in flight is answered as interrupted (both providers accept the history),
    // and it was not run again after the restart (its half-run turn rolled back).
    assert_eq!(
        messages[2]["content"]["content"][0]["content"],
        json!(llm::INTERRUPTED_RESULT)
    );
    assert_eq!(
        messages[3]["content"]["content"][0]["text"],
        "Finished after the restart."
    );
    assert_eq!(server.call("Slow", "s", "runs", json!([])).await, json!(0));
    let requests = model.requests();
    assert_eq!(requests.len(), 2);
    // The resumed request carries the interrupted call's result as the provider wants it.
    let sent = &requests[1].body["messages"];
    match provider {
        llm::ProviderKind::Anthropic => {
            let roles: Vec<&str> = sent
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["role"].as_str().unwrap())
                .collect();
            assert_eq!(roles, ["user", "assistant", "user"], "{sent}");
            assert_eq!(sent[1]["content"][0]["type"], "tool_use", "{sent}");
            let result = &sent[2]["content"][0];
            assert_eq!(result["type"], "tool_result", "{sent}");
            assert_eq!(result["tool_use_id"], "call_slow", "{sent}");
            assert_eq!(result["is_error"], true, "{sent}");
        }
        llm::ProviderKind::OpenAi => {
            let tool = sent
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["role"] == "tool")
                .unwrap_or_else(|| panic!("no tool message: {sent}"));
            assert_eq!(tool["tool_call_id"], "call_slow", "{sent}");
        }
    }
}

/// Starts a chat turn over HTTP; the response (still streaming) and the session id.
async fn start_chat(server: &Server, class: &str, text: &str) -> (reqwest::Response, String) {
    let response = client()
        .post(format!("{}/agents/{class}/x/chat", server.base))
        .bearer_auth(&server.token)
        .json(&json!({"messages": [{"role": "user", "parts": [{"type": "text", "text": text}]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let session = response.headers()["x-islet-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    (response, session)
}

/// Reads the streaming body until it contains `wanted`; everything read.
async fn read_until(response: &mut reqwest::Response, wanted: &str) -> String {
    let mut seen = String::new();
    while !seen.contains(wanted) {
        let chunk = tokio::time::timeout(Duration::from_secs(20), response.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {wanted} in time; read: {seen}"))
            .unwrap()
            .unwrap_or_else(|| panic!("the stream ended without {wanted}: {seen}"));
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen
}

/// A reconnecting client after a restart: the whole replayed stream, parsed.
async fn reconnect_after_restart(server: &Server, class: &str, session: &str) -> Vec<Value> {
    let response = client()
        .get(format!(
            "{}/agents/{class}/x/sessions/{session}/stream",
            server.base
        ))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        200,
        "the resumed turn is running"
    );
    let body = tokio::time::timeout(Duration::from_secs(30), response.text())
        .await
        .expect("the replayed stream ends")
        .unwrap();
    let data = sse_data(&body);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{body}");
    data[..data.len() - 1]
        .iter()
        .map(|d| {
            // Every chunk is one the protocol defines, with exactly its fields.
            let _: think::ui::Chunk =
                serde_json::from_str(d).unwrap_or_else(|e| panic!("{d}: {e}"));
            serde_json::from_str(d).unwrap()
        })
        .collect()
}

fn text_of(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter(|c| c["type"] == "text-delta")
        .map(|c| c["delta"].as_str().unwrap())
        .collect()
}

async fn history_of(server: &Server, class: &str, session: &str) -> Vec<Value> {
    let (status, body) = server
        .get(&format!("/agents/{class}/x/sessions/{session}"))
        .await;
    assert_eq!(status, 200, "{body}");
    let history: Value = serde_json::from_str(&body).unwrap();
    history["messages"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn issue15_kill_9_during_streaming_then_a_reconnecting_client_sees_the_whole_answer() {
    use llm::scripted::Reply;
    let model = llm::scripted::ScriptedModel::start().await.unwrap();
    model.push(
        Reply::new()
            .text_chunks((0..30).map(|i| format!("before{i} ")))
            .delay(Duration::from_millis(150)),
    );
    model.push(
        Reply::new()
            .text_chunks(["The ", "whole ", "answer ", "after ", "the ", "restart."])
            .delay(Duration::from_millis(300)),
    );
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(dir.path(), &[("Assistant.ts", ASSISTANT)]);
    let data = dir.path().join("data");
    let mut server = given_chat_server(&agents, &data, &model, &[]);
    let (mut response, session) = start_chat(&server, "Assistant", "Talk at length").await;
    read_until(&mut response, "before4 ").await;
    server.child.kill().unwrap(); // SIGKILL, mid-stream
    server.child.wait().unwrap();
    drop(response);

    let server = given_chat_server(&agents, &data, &model, &[]);
    let chunks = reconnect_after_restart(&server, "Assistant", &session).await;
    let types: Vec<&str> = chunks.iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(
        types.iter().filter(|t| **t == "start").count(),
        1,
        "{types:?}"
    );
    assert_eq!(types.first(), Some(&"start"));
    assert_eq!(types.last(), Some(&"finish"));
    // What the killed server streamed (stored as it went), then the resumed answer.
    let text = text_of(&chunks);
    assert!(text.starts_with("before0 before1 "), "{text}");
    assert!(
        text.ends_with("The whole answer after the restart."),
        "{text}"
    );
    assert_eq!(
        chunks.last().unwrap()["messageMetadata"]["stopped"],
        "answered"
    );
    // The history holds the resumed answer only (the cut-off one was never stored).
    let history = history_of(&server, "Assistant", &session).await;
    let roles: Vec<&str> = history
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant"]);
    assert_eq!(
        history[1]["content"]["content"][0]["text"],
        "The whole answer after the restart."
    );
    assert_eq!(model.requests().len(), 2);
}

const TALLY: &str = r#"
import { Think } from "agents";
export default class Tally extends Think {
  getTools() {
    return {
      count: {
        description: "Counts",
        inputSchema: { type: "object", properties: {} },
        execute: async () => {
          const counted = ((await this.storage.get("counted")) ?? 0) + 1;
          await this.storage.put("counted", counted);
          return "counted " + counted;
        },
      },
      slow: {
        description: "Takes a while",
        inputSchema: { type: "object", properties: {} },
        execute: async () => {
          const runs = ((await this.storage.get("runs")) ?? 0) + 1;
          await this.storage.put("runs", runs);
          await new Promise((resolve) => setTimeout(resolve, 4000));
          return "slow done";
        },
      },
    };
  }
  async counted() { return (await this.storage.get("counted")) ?? 0; }
  async runs() { return (await this.storage.get("runs")) ?? 0; }
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn issue15_kill_9_during_a_long_tool_call_the_completed_call_ran_once_and_the_replay_is_whole()
 {
    use llm::scripted::Reply;
    let model = llm::scripted::ScriptedModel::start().await.unwrap();
    model.push(
        Reply::new()
            .text("Counting, then waiting.")
            .tool_call("c1", "count", json!({}))
            .tool_call("c2", "slow", json!({})),
    );
    model.push(
        Reply::new()
            .text_chunks([
                "Counted ",
                "once; ",
                "the ",
                "slow ",
                "one ",
                "was cut off.",
            ])
            .delay(Duration::from_millis(300)),
    );
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(dir.path(), &[("Tally.ts", TALLY)]);
    let data = dir.path().join("data");
    let mut server = given_chat_server(&agents, &data, &model, &[]);
    let (mut response, session) = start_chat(&server, "Tally", "count and wait").await;
    read_until(&mut response, "counted 1").await;
    // The slow call runs now (its checkpoint is written before it starts).
    tokio::time::sleep(Duration::from_millis(800)).await;
    server.child.kill().unwrap(); // SIGKILL, during the long tool call
    server.child.wait().unwrap();
    drop(response);

    let server = given_chat_server(&agents, &data, &model, &[]);
    let chunks = reconnect_after_restart(&server, "Tally", &session).await;
    let types: Vec<&str> = chunks.iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(
        types.iter().filter(|t| **t == "start").count(),
        1,
        "{types:?}"
    );
    assert_eq!(types.last(), Some(&"finish"));
    let output = |id: &str| {
        chunks
            .iter()
            .find(|c| {
                c["toolCallId"] == id && c["type"].as_str().unwrap().starts_with("tool-output")
            })
            .unwrap_or_else(|| panic!("no output for {id} in {chunks:?}"))
            .clone()
    };
    assert_eq!(output("c1")["output"], "counted 1");
    assert_eq!(output("c2")["type"], "tool-output-error");
    assert_eq!(output("c2")["errorText"], llm::INTERRUPTED_RESULT);
    assert_eq!(
        text_of(&chunks),
        "Counting, then waiting.Counted once; the slow one was cut off."
    );
    // The completed call ran exactly once; the one in flight was not run again (its
    // half-run isolate turn rolled back with the process).
    assert_eq!(
        server.call("Tally", "x", "counted", json!([])).await,
        json!(1)
    );
    assert_eq!(server.call("Tally", "x", "runs", json!([])).await, json!(0));
    let history = history_of(&server, "Tally", &session).await;
    let roles: Vec<&str> = history
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant"]);
    let results = &history[2]["content"]["content"];
    assert_eq!(results[0]["content"], "counted 1");
    assert_eq!(results[1]["content"], llm::INTERRUPTED_RESULT);
    // The model got a valid history with both results.
    let requests = model.requests();
    assert_eq!(requests.len(), 2);
    let second = requests[1].body.to_string();
    assert!(
        second.contains("counted 1") && second.contains("interrupted"),
        "{second}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issue15_chat_cancel_aborts_the_stream_and_a_disconnect_does_not() {
    use llm::scripted::Reply;
    let model = llm::scripted::ScriptedModel::start().await.unwrap();
    let slow = || {
        Reply::new()
            .text_chunks((0..20).map(|i| format!("w{i} ")))
            .delay(Duration::from_millis(100))
    };
    model.push(slow());
    model.push(slow());
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(dir.path(), &[("Assistant.ts", ASSISTANT)]);
    let server = given_chat_server(&agents, &dir.path().join("data"), &model, &[]);

    let (mut response, session) = start_chat(&server, "Assistant", "Say many words").await;
    let mut seen = read_until(&mut response, "w2 ").await;
    let (status, reply) = server
        .post(
            "/agents/Assistant/x/chat/cancel",
            &json!({"sessionId": session}).to_string(),
        )
        .await;
    assert_eq!((status, &reply), (200, &json!({"cancelled": true})));
    seen.push_str(
        &tokio::time::timeout(Duration::from_secs(5), response.text())
            .await
            .expect("the stream ends at once")
            .unwrap(),
    );
    let data = sse_data(&seen);
    assert_eq!(
        &data[data.len() - 2..],
        [r#"{"type":"abort","reason":"cancelled"}"#, "[DONE]"],
        "{seen}"
    );
    assert!(!seen.contains("w19"), "{seen}");
    // Nothing runs any more; bad requests say what is wrong.
    let (status, reply) = server
        .post(
            "/agents/Assistant/x/chat/cancel",
            &json!({"sessionId": session}).to_string(),
        )
        .await;
    assert_eq!((status, reply), (200, json!({"cancelled": false})));
    let (status, reply) = server.post("/agents/Assistant/x/chat/cancel", "{}").await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sessionId"),
        "{reply}"
    );
    let (status, _) = server
        .post("/agents/Nope/x/chat/cancel", r#"{"sessionId": "s"}"#)
        .await;
    assert_eq!(status, 404);

    // A client that goes away does not cancel: the turn finishes and is stored.
    let (mut response, session) = start_chat(&server, "Assistant", "Again").await;
    read_until(&mut response, "w1 ").await;
    drop(response);
    let mut history = Vec::new();
    for _ in 0..200 {
        history = history_of(&server, "Assistant", &session).await;
        if history.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = history[1]["content"]["content"][0]["text"]
        .as_str()
        .unwrap();
    assert!(text.ends_with("w19 "), "{text}");
}

const JOB: &str = r#"
import { Agent } from "agents";
export default class Job extends Agent {
  async start() {
    await this.runFiber("import", async (ctx) => {
      await this.storage.put("rows", 100);
      await ctx.stash({ rows: 100 });
      await new Promise((resolve) => setTimeout(resolve, 20000));
      await this.storage.put("rows", 200);
    });
  }
  async onFiberRecovered(ctx) {
    const rows = await this.storage.get("rows");
    await agents.Log("l").note({ name: ctx.name, snapshot: ctx.snapshot, rows });
  }
}
"#;

const LOG: &str = r#"
import { Agent } from "agents";
export default class Log extends Agent {
  async note(entry) {
    const notes = (await this.storage.get("notes")) ?? [];
    notes.push(entry);
    await this.storage.put("notes", notes);
  }
  async notes() { return (await this.storage.get("notes")) ?? []; }
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn issue15_kill_9_mid_fiber_then_restart_wakes_the_agent_and_calls_on_fiber_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(dir.path(), &[("Job.ts", JOB), ("Log.ts", LOG)]);
    let data = dir.path().join("data");
    let args = ["--isolation", "inprocess"];
    let mut server = given_server(&agents, &data, &args);
    let (base, token) = (server.base.clone(), server.token.clone());
    let call =
        tokio::spawn(
            async move { post_with_token(&base, &token, "/agents/Job/j/start", "[]").await },
        );
    // The fiber has stashed and now waits; kill the server in the middle of it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    let _ = call.await;

    // Nothing calls Job after the restart: the alarm runFiber left wakes it, and its
    // activation hands the fiber to onFiberRecovered (which tells Log).
    let server = given_server(&agents, &data, &args);
    let mut notes = json!([]);
    for _ in 0..200 {
        notes = server.call("Log", "l", "notes", json!([])).await;
        if notes.as_array().is_some_and(|n| !n.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The stash and the writes before it survived; the wait after it never finished.
    assert_eq!(
        notes,
        json!([{"name": "import", "snapshot": {"rows": 100}, "rows": 100}])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issue15_islet_chat_streams_text_and_shows_tool_calls() {
    let model = llm::scripted::ScriptedModel::start().await.unwrap();
    model.push(llm::scripted::Reply::new().tool_call(
        "call_1",
        "execute",
        json!({"code": "async () => {\n  await workspace.write({path: '/a.txt', content: 'A'});\n  return 'written'\n}"}),
    ));
    model.push(llm::scripted::Reply::new().text_chunks(["The file ", "is written."]));
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(dir.path(), &[("Assistant.ts", ASSISTANT)]);
    let server = given_chat_server(&agents, &dir.path().join("data"), &model, &[]);
    let (base, token) = (server.base.clone(), server.token.clone());
    let output = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_islet"))
            .args([
                "chat",
                "Assistant/me",
                "--url",
                &base,
                "--auth-token",
                &token,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"write a file\n/sessions\n/quit\n")
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("⚙ execute"), "{stdout}");
    assert!(stdout.contains("│   await workspace.write"), "{stdout}");
    assert!(stdout.contains("→ {\"result\":\"written\""), "{stdout}");
    assert!(stdout.contains("The file is written."), "{stdout}");
    // /sessions lists the session the chat started, marked current.
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("* ") && l.contains("4 messages")),
        "{stdout}"
    );
}

/// Ctrl-C in `islet chat` while an answer streams stops the turn on the server (the text
/// so far is kept) and leaves the client at the prompt; Ctrl-C at the prompt leaves.
#[tokio::test(flavor = "multi_thread")]
async fn issue15_ctrl_c_in_islet_chat_stops_the_turn_and_keeps_the_prompt() {
    let model = llm::scripted::ScriptedModel::start().await.unwrap();
    model.push(
        llm::scripted::Reply::new()
            .text_chunks(["Counting sheep: ", "one"])
            .then_stall(),
    );
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(dir.path(), &[("Assistant.ts", ASSISTANT)]);
    let server = given_chat_server(&agents, &dir.path().join("data"), &model, &[]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_islet"))
        .args([
            "chat",
            "Assistant/me",
            "--url",
            &server.base,
            "--auth-token",
            &server.token,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::Read as _;
        let mut stdout = stdout;
        let mut buffer = [0u8; 1024];
        while let Ok(n) = stdout.read(&mut buffer) {
            if n == 0
                || tx
                    .send(String::from_utf8_lossy(&buffer[..n]).into_owned())
                    .is_err()
            {
                break;
            }
        }
    });
    let mut seen = String::new();
    let wait_for = |wanted: &str, seen: &mut String| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !seen.contains(wanted) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(more) => seen.push_str(&more),
                Err(_) => panic!("`{wanted}` never came; the chat printed:\n{seen}"),
            }
        }
    };
    let mut stdin = child.stdin.take().unwrap();
    use std::io::Write as _;
    stdin.write_all(b"count sheep\n").unwrap();
    wait_for("Counting sheep: one", &mut seen);
    let interrupt = |pid: u32| {
        Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .unwrap()
    };
    interrupt(child.id());
    wait_for("(cancelled)", &mut seen);
    assert!(seen.contains("(stopping…)"), "{seen}");
    // Still at the prompt: a command works; then Ctrl-C at the prompt leaves.
    stdin.write_all(b"/sessions\n").unwrap();
    wait_for(" messages ", &mut seen);
    interrupt(child.id());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}: {seen}");
    // The server kept what was said before the stop.
    let (status, list) = server.get("/agents/Assistant/me/sessions").await;
    assert_eq!(status, 200, "{list}");
    let list: Value = serde_json::from_str(&list).unwrap();
    let id = list["sessions"][0]["id"].as_str().unwrap().to_owned();
    let (_, history) = server
        .get(&format!("/agents/Assistant/me/sessions/{id}"))
        .await;
    assert!(history.contains("Counting sheep: one"), "{history}");
}

/// The AI SDK's own client (npm `ai`, run by Node.js) reads a streamed turn: the same
/// `DefaultChatTransport` and `readUIMessageStream` a `useChat` UI uses, unchanged.
#[tokio::test(flavor = "multi_thread")]
async fn issue15_the_ai_sdk_client_reads_a_streamed_turn() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    if !root.join("node_modules/ai/package.json").exists() {
        let why = "npm package `ai` is not installed (run `npm ci` at the repository root)";
        assert!(std::env::var_os("CI").is_none(), "{why}");
        #[allow(clippy::print_stderr)]
        {
            eprintln!("skipped: {why}");
        }
        return;
    }
    let model = llm::scripted::ScriptedModel::start().await.unwrap();
    model.push(llm::scripted::Reply::new().tool_call(
        "call_1",
        "execute",
        json!({"code": "async () => { await workspace.write({path: '/hello.txt', content: 'hi'}); return 'ok' }"}),
    ));
    model.push(llm::scripted::Reply::new().text_chunks(["Wrote ", "hello.txt."]));
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(dir.path(), &[("Assistant.ts", ASSISTANT)]);
    let server = given_chat_server(
        &agents,
        &dir.path().join("data"),
        &model,
        &[("OPENAI_API_KEY", "sk-test")],
    );
    let url = format!("{}/agents/Assistant/me/chat", server.base);
    let token = server.token.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(root.join("crates/islet/tests/it/ai_sdk_chat.mjs"))
            .args([&url, &token])
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the AI SDK client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let message: Value =
        serde_json::from_str(stdout.trim()).expect("the client printed a UIMessage");
    assert_eq!(message["role"], "assistant", "{message}");
    let parts = message["parts"].as_array().expect("parts");
    let tool = parts
        .iter()
        .find(|p| p["type"] == "tool-execute")
        .unwrap_or_else(|| panic!("no tool-execute part in {message}"));
    assert_eq!(tool["state"], "output-available", "{tool}");
    assert_eq!(tool["toolCallId"], "call_1");
    let text: String = parts
        .iter()
        .filter(|p| p["type"] == "text")
        .filter_map(|p| p["text"].as_str())
        .collect();
    assert_eq!(text, "Wrote hello.txt.", "{message}");
}

mod cluster;
mod console;
mod ladder;
mod sandbox;
mod sessions;
mod sub_agents;

const SCRIBE: &str = r#"
export default class Scribe extends Agent {
  static memory = ["team/conventions", "team/scratch"];
  async learn(text) {
    return (await memory.remember({ content: text, type: "instruction", profile: "team/conventions" })).added;
  }
}
"#;

const COLLEAGUE: &str = r#"
export default class Colleague extends Agent {
  static memory = ["team/conventions"];
  async ask(question) {
    const r = await memory.recall({ query: question, profile: "team/conventions" });
    return r.results.map((r) => r.memory.content);
  }
  async peek(profile) {
    try { await memory.list({ profile }); return "read"; } catch (e) { return `${e.code}: ${e.message}`; }
  }
}
"#;

const READER: &str = r#"
export default class Reader extends Agent {
  static memory = [{ profile: "team/conventions", readOnly: true }];
  async ask(question) {
    const r = await memory.recall({ query: question, profile: "team/conventions" });
    return r.results.map((r) => r.memory.content);
  }
  async scribble(text, profile) {
    try { return (await memory.remember({ content: text, profile })).added; }
    catch (e) { return `${e.code}: ${e.message}`; }
  }
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn issue19_5_agents_share_profiles_they_attach_and_read_only_ones_refuse_writes() {
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(
        dir.path(),
        &[
            ("scribe.js", SCRIBE),
            ("colleague.js", COLLEAGUE),
            ("reader.js", READER),
            ("learner.js", LEARNER),
        ],
    );
    let server = given_server(
        &agents,
        &dir.path().join("data"),
        &["--isolation", "inprocess", "--memory", "team/alice"],
    );
    let rule = "Deploys go out on Tuesdays after the standup";
    assert_eq!(
        server.call("Scribe", "s", "learn", json!([rule])).await,
        json!(true)
    );
    // Another class attaching the profile recalls it, writable or read-only.
    for class in ["Colleague", "Reader"] {
        assert_eq!(
            server
                .call(class, "c", "ask", json!(["when do deploys go out"]))
                .await,
            json!([rule]),
            "{class}"
        );
    }
    // Read-only: every write is refused, naming the attachment; nothing is stored.
    let refused = server
        .call(
            "Reader",
            "r",
            "scribble",
            json!(["Deploys on Fridays", "team/conventions"]),
        )
        .await;
    let refused = refused.as_str().unwrap();
    assert!(
        refused.starts_with(
            "READ_ONLY: memory profile `team/conventions` is attached read-only to agent class \
             `Reader` (`static memory`): `remember` is refused"
        ),
        "{refused}"
    );
    // The server-wide profile comes with every class's own, writable.
    assert_eq!(
        server
            .call(
                "Reader",
                "r",
                "scribble",
                json!(["Alice likes tea", "team/alice"])
            )
            .await,
        json!(true)
    );
    assert_eq!(
        server
            .call("Learner", "l", "ask", json!(["what does alice like"]))
            .await,
        json!(["Alice likes tea"])
    );
    // Exactly the class's profiles plus the server's: another class's are out of reach.
    let out_of_reach = server
        .call("Colleague", "c", "peek", json!(["team/scratch"]))
        .await;
    assert!(
        out_of_reach
            .as_str()
            .unwrap()
            .starts_with("INVALID_INPUT: memory profile `team/scratch` is not attached"),
        "{out_of_reach}"
    );
    assert_eq!(server.memory_contents("team/conventions").await, [rule]);
}

const NOTEBOOK: &str = r#"
export default class Notebook extends Agent {
  async note(profile, text) { return (await this.memory(profile).remember(text)).added; }
  async ask(profile, question) {
    const r = await this.memory(profile, { readOnly: true }).recall(question);
    return r.results.map((r) => r.memory.content);
  }
  async scribble(profile, text) {
    try { return (await this.memory(profile, { readOnly: true }).remember(text)).added; }
    catch (e) { return `${e.code}: ${e.message}`; }
  }
  handle() { const h = this.memory("team/notes"); return [h.profile, h.readOnly, Object.keys(h).sort()]; }
}
"#;

const ARCHIVIST: &str = r#"
export default class Archivist extends Agent {
  static memory = [{ profile: "team/notes", readOnly: true }];
  async file(text) {
    try { return (await this.memory("team/notes").remember({ content: text, type: "fact" })).added; }
    catch (e) { return `${e.code}: ${e.message}`; }
  }
  async ask(question) {
    return (await this.memory("team/notes").recall({ query: question })).results.map((r) => r.memory.content);
  }
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn issue19_5_agents_attach_profiles_with_this_memory_and_share_them() {
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(
        dir.path(),
        &[("notebook.js", NOTEBOOK), ("archivist.js", ARCHIVIST)],
    );
    // The server writes team/notes too: a class may attach read-only only a profile that
    // something can write (a typo check at start).
    let server = given_server(
        &agents,
        &dir.path().join("data"),
        &["--isolation", "inprocess", "--memory", "team/notes"],
    );
    assert_eq!(
        server.call("Notebook", "a", "handle", json!([])).await,
        json!([
            "team/notes",
            false,
            [
                "forget",
                "forgetSession",
                "get",
                "ingest",
                "list",
                "profile",
                "readOnly",
                "recall",
                "remember"
            ]
        ])
    );
    // Agent `a` remembers; agent `b` of the same class and an agent of another class that
    // attaches the profile recall it.
    let rule = "Release notes are written in the past tense";
    assert_eq!(
        server
            .call("Notebook", "a", "note", json!(["team/notes", rule]))
            .await,
        json!(true)
    );
    assert_eq!(
        server
            .call(
                "Notebook",
                "b",
                "ask",
                json!(["team/notes", "release notes tense"])
            )
            .await,
        json!([rule])
    );
    assert_eq!(
        server
            .call(
                "Archivist",
                "x",
                "ask",
                json!(["how are release notes written"])
            )
            .await,
        json!([rule])
    );
    // A read-only handle cannot write, nor can any handle on a profile the class attaches
    // read-only; nothing is stored.
    let refused = server
        .call(
            "Notebook",
            "b",
            "scribble",
            json!(["team/notes", "Release notes rhyme"]),
        )
        .await;
    assert!(
        refused.as_str().unwrap().starts_with(
            "READ_ONLY: memory profile `team/notes` is attached read-only to this agent \
             (`this.memory(\"team/notes\", { readOnly: true })`): `remember` is refused"
        ),
        "{refused}"
    );
    let refused = server
        .call("Archivist", "x", "file", json!(["Release notes rhyme"]))
        .await;
    assert!(
        refused.as_str().unwrap().starts_with(
            "READ_ONLY: memory profile `team/notes` is attached read-only to agent class \
             `Archivist` (`static memory`): `remember` is refused"
        ),
        "{refused}"
    );
    assert_eq!(server.memory_contents("team/notes").await, [rule]);
    // Another profile is another set of memories.
    let (status, body) = server
        .post(
            "/agents/Notebook/b/ask",
            &json!(["team/other", "release notes"]).to_string(),
        )
        .await;
    assert_ne!(status, 200, "{body}");
    assert!(
        body.to_string()
            .contains("memory profile `team/other` does not exist"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issue19_5_a_bad_or_unknown_profile_in_static_memory_fails_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "bad.js",
            "export default class Bad extends Agent { static memory = ['Team/Docs']; }",
            vec![
                "agent class `Bad`",
                "bad.js",
                "invalid memory profile name `Team/Docs`",
            ],
        ),
        (
            "typo.js",
            "export default class Typo extends Agent { static memory = [{ profile: 'team/dcos', readOnly: true }]; }",
            vec![
                "agent class `Typo`",
                "typo.js",
                "attaches `team/dcos` read-only, but no such memory profile exists",
            ],
        ),
        (
            "shape.js",
            "export default class Shape extends Agent { static memory = 'team/docs'; }",
            vec!["shape.js", "static memory is the list of memory profiles"],
        ),
    ];
    for (i, (file, source, expected)) in cases.into_iter().enumerate() {
        let agents = given_agents_dir(&dir.path().join(i.to_string()), &[(file, source)]);
        let output = Command::new(env!("CARGO_BIN_EXE_islet"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--isolation",
                "inprocess",
            ])
            .arg("--agents")
            .arg(&agents)
            .arg("--data")
            .arg(dir.path().join("data"))
            .output()
            .unwrap();
        assert!(!output.status.success(), "{file}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        for part in expected {
            assert!(stderr.contains(part), "{file}: {part}: {stderr}");
        }
    }
    // A read-only attachment of a profile another class writes is fine before it exists.
    let agents = given_agents_dir(
        &dir.path().join("ok"),
        &[("scribe.js", SCRIBE), ("reader.js", READER)],
    );
    let server = given_server(
        &agents,
        &dir.path().join("data"),
        &["--isolation", "inprocess"],
    );
    let refused = server
        .call("Reader", "r", "scribble", json!(["x", "team/conventions"]))
        .await;
    assert!(
        refused.as_str().unwrap().starts_with("READ_ONLY"),
        "{refused}"
    );
}

const BILLING: &str = r#"
import { Agent } from "agents";
export default class Billing extends Agent {
  /** Refund a charge to the customer's card. */
  async refundCharge(charge: string) { return charge; }
  /** Pay an invoice. */
  async payInvoice(invoice: string) { return invoice; }
  /** List customers. */
  async listCustomers() { return []; }
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_serve_mcp_search_ranks_by_meaning_with_the_embeddings_flags() {
    use crate::search::{MEANING_QUERY, MeaningEmbeddings, first_of, search};
    let embeddings = MeaningEmbeddings::start();
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(dir.path(), &[("billing.ts", BILLING)]);
    let data = dir.path().join("data");
    let server = given_server(
        &agents,
        &data,
        &[
            "--embeddings-url",
            &embeddings.url,
            "--embeddings-model",
            "meaning",
        ],
    );
    let mut mcp = McpClient::connect(&format!("{}/mcp", server.base), &server.token).await;
    let methods = ["refundCharge", "payInvoice", "listCustomers"];
    assert_eq!(
        first_of(&search(&mut mcp, "pay an invoice").await, &methods),
        Some("payInvoice")
    );
    // The methods are embedded at start, in the background; then a query without a word
    // of the method's finds it by meaning.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let answer = search(&mut mcp, MEANING_QUERY).await;
        if first_of(&answer, &methods) == Some("refundCharge") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never ranked by meaning: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        embeddings.catalog_requests(),
        1,
        "the methods embedded once"
    );
    // Cached in the data directory by default.
    let cached = std::fs::read_dir(data.join("search-embeddings"))
        .expect("the cache folder in the data directory")
        .count();
    assert_eq!(cached, 1);
}
