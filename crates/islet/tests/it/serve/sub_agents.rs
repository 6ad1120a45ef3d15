//! Issue 16: sub-agents over HTTP (`/agents/<P>/<p>/sub/<C>/<c>/…`) and in Code Mode.

use serde_json::{Value, json};

use super::{McpClient, Server, given_agents_dir, given_server};
use crate::support::client;

const BOSS: &str = r#"
import { Agent } from "agents";
export default class Boss extends Agent {
  async hire(name: string) {
    const w = await this.subAgent("Worker", name);
    return w.work(`job for ${name}`);
  }
  async note(text: string) { await this.storage.put("note", text); return `noted ${text}`; }
  // Issue 16 item 4 under the server's sandbox (a hardened worker with process isolation).
  async dynamic() {
    const once = await this.isolates.run("return [6 * 7, await agent.note('from an isolate')]", { bindings: { methods: ["note"] } });
    // A loaded module's own state is a cache (its run may start over elsewhere under load):
    // what is checked here is that its exports can be called again.
    const calc = await this.isolates.load("calc", "export function add(x, y) { return x + y; }");
    await calc.add(2, 2);
    return [...once, await calc.add(2, 3)];
  }
  // Issue 16 item 5: an extension's fetch reaches only its manifest's hosts.
  async extension() {
    await this.extensions.install({
      name: "web",
      source: "export const tools = { get: { description: 'GET a URL', async execute(args, host) { try { return (await host.fetch(args.url)).status; } catch (e) { return `${e.code}: ${e.message}`; } } } };",
      permissions: { network: ["api.example.com"] },
    });
    return [
      await this.extensions.call("web", "get", { url: "http://other.example.com/" }),
      await this.extensions.call("web", "get", { url: "http://127.0.0.1:9/" }),
    ];
  }
  async roundTrip(name: string) {
    const w = await this.subAgent("Worker", name);
    return w.tellBoss();
  }
}
"#;

const WORKER: &str = r#"
import { Agent } from "agents";
export default class Worker extends Agent {
  async work(job: string) { await this.setState({ job }); return `${this.name} did ${job}`; }
  async whoami() { return { name: this.name, parentPath: this.parentPath }; }
  async hireInner(name: string) {
    const inner = await this.subAgent("Worker", name);
    return inner.work("inner job");
  }
  async tellBoss() { return this.parentAgent().note(`from ${this.name}`); }
  // What the console shows of a sub-agent (issue 20): files, tables, schedules, extensions.
  async keep() {
    await this.workspace.write("/notes/a.txt", "kept by " + this.name);
    await this.sql`CREATE TABLE IF NOT EXISTS kept (what TEXT)`;
    await this.sql`INSERT INTO kept (what) VALUES (${"a row"})`;
    await this.schedule(3600, "work", "later");
    await this.extensions.install({ name: "echo", source: "export const tools = { say: { description: 'echo', execute(a) { return a; } } };" });
    return "kept";
  }
}
"#;

impl Server {
    async fn delete(&self, path: &str) -> (u16, Value) {
        let response = client()
            .delete(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Issue 20: a sub-agent's own files, tables, schedules, fibers and extensions are reached
/// through its parents as a top-level agent's are (the console's views of a sub-agent).
#[tokio::test(flavor = "multi_thread")]
async fn issue20_a_sub_agents_workspace_tables_schedules_and_extensions_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(dir.path(), &[("boss.ts", BOSS), ("worker.ts", WORKER)]);
    let server = given_server(&agents, &dir.path().join("data"), &[]);
    server.call("Boss", "b", "hire", json!(["w1"])).await;
    let w1 = "/agents/Boss/b/sub/Worker/w1";
    let (status, body) = server.post(&format!("{w1}/keep"), "[]").await;
    assert_eq!((status, &body["result"]), (200, &json!("kept")), "{body}");

    let (status, file) = server.get(&format!("{w1}/workspace/notes/a.txt")).await;
    assert_eq!((status, file.as_str()), (200, "kept by w1"));
    let (status, root) = server.get(&format!("{w1}/workspace")).await;
    assert_eq!(status, 200, "{root}");
    assert_eq!(
        json_of(&root)["entries"][0]["name"],
        json!("notes"),
        "{root}"
    );
    // The parent's workspace is its own: the child's file is not there.
    let (status, _) = server.get("/agents/Boss/b/workspace/notes/a.txt").await;
    assert_eq!(status, 404);
    let put = client()
        .put(format!("{}{w1}/workspace/up.txt", server.base))
        .bearer_auth(&server.token)
        .body("uploaded")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 200);
    let (_, file) = server.get(&format!("{w1}/workspace/up.txt")).await;
    assert_eq!(file, "uploaded");
    let (status, removed) = server.delete(&format!("{w1}/workspace/up.txt")).await;
    assert_eq!((status, &removed["removed"]), (200, &json!(1)));

    let (status, tables) = server.get(&format!("{w1}/db/tables")).await;
    assert_eq!(status, 200, "{tables}");
    assert_eq!(
        json_of(&tables)["tables"][0]["name"],
        json!("kept"),
        "{tables}"
    );
    let (status, rows) = server.get(&format!("{w1}/db/tables/kept?limit=10")).await;
    assert_eq!(status, 200, "{rows}");
    assert_eq!(json_of(&rows)["rows"], json!([{"what": "a row"}]), "{rows}");
    let (status, bad) = server.get(&format!("{w1}/db/tables/kept?limit=0")).await;
    assert_eq!(status, 400, "{bad}");
    let (status, fibers) = server.get(&format!("{w1}/db/fibers")).await;
    assert_eq!((status, json_of(&fibers)["fibers"].is_array()), (200, true));

    let (status, schedules) = server.get(&format!("{w1}/schedules")).await;
    assert_eq!(status, 200, "{schedules}");
    let schedules = json_of(&schedules);
    assert_eq!(
        schedules["schedules"][0]["callback"],
        json!("work"),
        "{schedules}"
    );
    let id = schedules["schedules"][0]["id"].as_str().unwrap().to_owned();
    let cancelled = client()
        .delete(format!("{}{w1}/schedules/{id}", server.base))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status().as_u16(), 204);

    let (status, list) = server.get(&format!("{w1}/extensions")).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        json_of(&list)["extensions"][0]["name"],
        json!("echo"),
        "{list}"
    );
    let (status, versions) = server.get(&format!("{w1}/extensions/echo")).await;
    assert_eq!(status, 200, "{versions}");
    let (status, body) = server
        .post(&format!("{w1}/extensions/echo/disable"), "")
        .await;
    assert_eq!((status, &body["found"]), (200, &json!(true)), "{body}");
    // The parent has no extension of the child's.
    let (_, parents) = server.get("/agents/Boss/b/extensions").await;
    assert_eq!(json_of(&parents)["extensions"], json!([]));
    // A sub-agent that does not exist is a 404, for these routes too.
    let (status, _) = server
        .get("/agents/Boss/b/sub/Worker/nobody/workspace")
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn issue16_sub_agents_are_reached_deleted_and_listed_through_their_parents() {
    for isolation in ["inprocess", "process"] {
        sub_agents_over_http(isolation).await;
    }
}

async fn sub_agents_over_http(isolation: &str) {
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(dir.path(), &[("boss.ts", BOSS), ("worker.ts", WORKER)]);
    let server = given_server(
        &agents,
        &dir.path().join("data"),
        &["--isolation", isolation],
    );
    assert_eq!(
        server.call("Boss", "b", "hire", json!(["w1"])).await,
        json!("w1 did job for w1")
    );
    let (status, body) = server.post("/agents/Boss/b/sub/Worker/w1/whoami", "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"],
        json!({ "name": "w1", "parentPath": [{ "className": "Boss", "name": "b" }] })
    );
    let (status, state) = server.get("/agents/Boss/b/sub/Worker/w1/state").await;
    assert_eq!(
        (status, json_of(&state)),
        (200, json!({ "job": "job for w1" }))
    );
    // A child calls back into its parent (which is not waiting: the call queues).
    let (status, body) = server
        .post("/agents/Boss/b/sub/Worker/w1/tellBoss", "[]")
        .await;
    assert_eq!(
        (status, &body["result"]),
        (200, &json!("noted from w1")),
        "{body}"
    );

    assert_eq!(
        server.call("Boss", "b", "dynamic", json!([])).await,
        json!([42, "noted from an isolate", 5]),
        "{isolation}"
    );
    let refused = server.call("Boss", "b", "extension", json!([])).await;
    let [other, loopback] = [refused[0].as_str().unwrap(), refused[1].as_str().unwrap()];
    assert!(
        other.contains("other.example.com is not an allowed host; allowed hosts: api.example.com"),
        "{other}"
    );
    assert!(loopback.starts_with("PRIVATE_ADDRESS"), "{loopback}");
    // The same extension over HTTP: versions, rollback, disable, delete.
    let (status, list) = server.get("/agents/Boss/b/extensions").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(json_of(&list)["extensions"][0]["name"], json!("web"));
    let v2 = json!({ "name": "web", "source": "export const tools = { get: { description: 'v2', execute() { return 2; } } };" });
    let (status, body) = server
        .post("/agents/Boss/b/extensions", &v2.to_string())
        .await;
    assert_eq!((status, &body["version"]), (201, &json!(2)), "{body}");
    let bad = json!({ "name": "web", "source": "export const tools = {" });
    let (status, body) = server
        .post("/agents/Boss/b/extensions", &bad.to_string())
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string().contains("does not parse: line 1"),
        "{body}"
    );
    let (status, body) = server
        .post(
            "/agents/Boss/b/extensions/web/rollback",
            r#"{"version": 1}"#,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = server
        .post("/agents/Boss/b/extensions/web/disable", "")
        .await;
    assert_eq!(status, 200);
    let (_, list) = server.get("/agents/Boss/b/extensions").await;
    let web = &json_of(&list)["extensions"][0];
    assert_eq!(
        (&web["version"], &web["versions"], &web["enabled"]),
        (&json!(1), &json!([1, 2]), &json!(false))
    );
    let (status, body) = server.delete("/agents/Boss/b/extensions/web").await;
    assert_eq!((status, body), (200, json!({ "deleted": true })));
    // The parent waits on the child while the child calls back into it.
    assert_eq!(
        server.call("Boss", "b", "roundTrip", json!(["w1"])).await,
        json!("noted from w1")
    );

    // One level deeper, created by its parent (the child), then addressed over HTTP.
    let (status, body) = server
        .post("/agents/Boss/b/sub/Worker/w1/hireInner", r#"["deep"]"#)
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server
        .post("/agents/Boss/b/sub/Worker/w1/sub/Worker/deep/whoami", "")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"]["parentPath"],
        json!([{ "className": "Boss", "name": "b" }, { "className": "Worker", "name": "w1" }])
    );

    let (status, list) = server.get("/agents/Boss/b/sub").await;
    assert_eq!(status, 200, "{list}");
    let list = json_of(&list);
    assert_eq!(list["subAgents"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["subAgents"][0]["className"], json!("Worker"));
    assert_eq!(list["subAgents"][0]["name"], json!("w1"));
    let (_, nested) = server.get("/agents/Boss/b/sub/Worker/w1/sub").await;
    assert_eq!(json_of(&nested)["subAgents"][0]["name"], json!("deep"));
    // Top-level agents only.
    let (_, all) = server.get("/agents").await;
    let all = json_of(&all);
    assert_eq!(all["agents"].as_array().unwrap().len(), 1, "{all}");

    // Clients cannot create children, and a bad path says what a path looks like.
    let (status, body) = server
        .post("/agents/Boss/b/sub/Worker/ghost/work", r#"["x"]"#)
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(body.to_string().contains("this.subAgent"), "{body}");
    let (status, body) = server.post("/agents/Boss/b/sub/Worker", "").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.to_string().contains("/sub/<Class>/<name>"), "{body}");
    let (status, _) = server.get("/agents/Boss/b/sub/Worker/w1/whoami").await;
    assert_eq!(status, 405);

    // Code Mode reaches the same child, and its execute tool shows the agents typed.
    let mut mcp = McpClient::connect(&format!("{}/mcp", server.base), &server.token).await;
    let tools = mcp.request("tools/list", json!({})).await;
    let execute = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "execute")
        .unwrap()["description"]
        .as_str()
        .unwrap()
        .to_owned();
    for declared in [
        "interface Boss {",
        "hire(name: string): Promise<unknown>;",
        "whoami(): Promise<unknown>;",
        "subAgent<C extends keyof $Classes>(className: C, name: string): $Classes[C];",
        "declare const agents:",
    ] {
        assert!(
            execute.contains(declared),
            "{declared} missing from:\n{execute}"
        );
    }
    let result = mcp
        .request(
            "tools/call",
            json!({"name": "execute", "arguments": {"code":
                "return await agents.Boss('b').subAgent('Worker', 'w1').work('from code');"}}),
        )
        .await;
    assert_eq!(result["isError"], json!(false), "{result}");
    assert!(result.to_string().contains("w1 did from code"), "{result}");

    // Deleting the child deletes its own child; deleting the parent deletes the rest.
    let (status, body) = server.delete("/agents/Boss/b/sub/Worker/w1").await;
    assert_eq!((status, body), (200, json!({ "deleted": true })));
    let (status, _) = server
        .post("/agents/Boss/b/sub/Worker/w1/sub/Worker/deep/whoami", "")
        .await;
    assert_eq!(status, 404);
    server.call("Boss", "b", "hire", json!(["w2"])).await;
    let (status, body) = server.delete("/agents/Boss/b").await;
    assert_eq!((status, body), (200, json!({ "deleted": true })));
    let (status, _) = server.get("/agents/Boss/b/sub/Worker/w2/state").await;
    assert_eq!(status, 404);
    let (_, all) = server.get("/agents").await;
    assert_eq!(json_of(&all)["agents"], json!([]));
    let files: Vec<_> = walk(&dir.path().join("data/agents"));
    assert!(files.is_empty(), "no agent files left: {files:?}");
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

/// A server on a loopback port answering `GET path` with `body`; its port.
async fn given_loopback_page(path: &str, body: &'static str) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().route(path, axum::routing::get(move || async move { body }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

const FETCHER: &str = r#"
import { Agent } from "agents";
export default class Fetcher extends Agent {
  async tryInstall(hosts: string[], workspace: string) {
    try {
      return await this.extensions.install({
        name: "web",
        source: "export const tools = { get: { description: 'GET a URL', async execute(args, host) { try { const r = await host.fetch(args.url); return `${r.status} ${await r.text()}`; } catch (e) { return `${e.code}: ${e.message}`; } } } };",
        permissions: { network: hosts, workspace },
      });
    } catch (e) { return `${e.code}: ${e.message}`; }
  }
  async get(url: string) { return this.extensions.call("web", "get", { url }); }
}
"#;

/// Issue 16 item 5: an extension fetches from an allowed loopback server (the operator's
/// policy names it and allows private addresses), and nothing else; installs asking for
/// more than the policy are refused.
#[tokio::test(flavor = "multi_thread")]
async fn issue16_an_extension_reaches_exactly_the_hosts_its_manifest_and_the_policy_allow() {
    let port = given_loopback_page("/hello", "hello from loopback").await;

    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(dir.path(), &[("fetcher.ts", FETCHER)]);
    let policy = dir.path().join("policy.json");
    std::fs::write(
        &policy,
        json!({ "network": [format!("127.0.0.1:{port}")], "allowPrivate": true, "workspace": "read" })
            .to_string(),
    )
    .unwrap();
    let server = given_server(
        &agents,
        &dir.path().join("data"),
        &[
            "--isolation",
            "inprocess",
            "--extension-policy",
            policy.to_str().unwrap(),
        ],
    );
    // Beyond the policy (another host, or more workspace access): kept, waiting for a
    // person's approval, not used.
    let waiting = server
        .call(
            "Fetcher",
            "f",
            "tryInstall",
            json!([["api.example.com"], "none"]),
        )
        .await;
    assert_eq!(waiting["pending"], json!(true), "{waiting}");
    assert!(
        waiting["beyondPolicy"]
            .as_str()
            .unwrap()
            .contains("network host \"api.example.com\""),
        "{waiting}"
    );
    let waiting = server
        .call("Fetcher", "f", "tryInstall", json!([[], "read-write"]))
        .await;
    assert!(
        waiting["beyondPolicy"]
            .as_str()
            .unwrap()
            .contains("workspace \"read-write\""),
        "{waiting}"
    );

    let loopback = format!("127.0.0.1:{port}");
    let installed = server
        .call("Fetcher", "f", "tryInstall", json!([[loopback], "read"]))
        .await;
    assert_eq!(
        (&installed["version"], installed.get("pending")),
        (&json!(3), None),
        "{installed}"
    );
    assert_eq!(
        server
            .call(
                "Fetcher",
                "f",
                "get",
                json!([format!("http://127.0.0.1:{port}/hello")])
            )
            .await,
        json!("200 hello from loopback")
    );
    // The same extension, any other host (or port): refused host-side.
    for url in [
        format!("http://localhost:{port}/hello"),
        "http://127.0.0.1:9/".to_owned(),
        "https://example.com/".to_owned(),
    ] {
        let out = server.call("Fetcher", "f", "get", json!([url])).await;
        assert!(
            out.as_str().unwrap().starts_with("HOST_NOT_ALLOWED"),
            "{url}: {out}"
        );
    }
    // A person approves a waiting version over HTTP; it becomes the active one.
    let (_, list) = server.get("/agents/Fetcher/f/extensions").await;
    assert_eq!(
        json_of(&list)["extensions"][0]["pending"],
        json!([1, 2]),
        "{list}"
    );
    let (status, body) = server
        .post(
            "/agents/Fetcher/f/extensions/web/approve",
            r#"{"version": 2}"#,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, list) = server.get("/agents/Fetcher/f/extensions").await;
    let web = &json_of(&list)["extensions"][0];
    assert_eq!(
        (&web["version"], &web["pending"]),
        (&json!(2), &json!([1])),
        "{list}"
    );

    // … or from the CLI, on the running server's data directory: what version 1 asks
    // for, then its approval.
    let data = dir.path().join("data");
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_islet"))
            .arg("extensions")
            .args(args)
            .arg("--data")
            .arg(&data)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), stdout, stderr)
    };
    let (ok, listed, err) = cli(&["list", "Fetcher/f"]);
    assert!(ok, "{err}");
    assert!(
        listed.contains("web") && listed.contains(" 1\n"),
        "{listed}"
    );
    let (ok, shown, err) = cli(&["show", "Fetcher/f", "web", "1"]);
    assert!(ok, "{err}");
    assert!(shown.contains("waiting for approval"), "{shown}");
    assert!(shown.contains("network:   api.example.com"), "{shown}");
    let (ok, _, err) = cli(&["approve", "Fetcher/f", "web", "7"]);
    assert!(!ok && err.contains("no version 7"), "{err}");
    let (ok, approved, err) = cli(&["approve", "Fetcher/f", "web", "1"]);
    assert!(ok, "{err}");
    assert!(approved.contains("network api.example.com"), "{approved}");
    let (_, list) = server.get("/agents/Fetcher/f/extensions").await;
    let web = &json_of(&list)["extensions"][0];
    assert_eq!(
        (&web["version"], &web["pending"]),
        (&json!(1), &json!([])),
        "{list}"
    );
    // The running server uses the approved version at once: the loopback server version 3
    // reached is outside version 1's manifest.
    let out = server
        .call(
            "Fetcher",
            "f",
            "get",
            json!([format!("http://127.0.0.1:{port}/hello")]),
        )
        .await;
    assert!(
        out.as_str().unwrap().starts_with("HOST_NOT_ALLOWED"),
        "{out}"
    );
}

/// The extension the scripted lead writes for itself: word and line counts of a file.
const STATS_EXTENSION: &str = r#"export const tools = {
  stats: {
    description: "Counts the words and lines of a workspace file",
    inputSchema: { type: "object", properties: { path: { type: "string" } }, required: ["path"] },
    async execute(args, host) {
      const text = await host.workspace.read(args.path);
      return { words: text.split(/\s+/).filter(Boolean).length, lines: text.trim().split("\n").length };
    },
  },
};"#;

const REPORT: &str = "# QuickJS\nA small embeddable JavaScript engine.\nIt runs ES2023.\n";

/// The scripted model's answer to one request, by who asks (the system prompt of the
/// example classes) and how far along the current turn is (tool results since the last
/// user message).
fn research_team(r: &llm::scripted::Recorded) -> llm::scripted::Reply {
    use llm::scripted::Reply;
    let messages = r.body["messages"].as_array().cloned().unwrap_or_default();
    let system = messages[0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let last_user = messages
        .iter()
        .rposition(|m| m["role"] == "user")
        .unwrap_or(0);
    let user_text = messages[last_user]["content"].to_string();
    let results = messages[last_user..]
        .iter()
        .filter(|m| m["role"] == "tool")
        .count();
    if system.contains("You research") {
        return match results {
            0 => Reply::new().tool_call(
                "n1",
                "write",
                json!({"path": "/notes.md", "content": "QuickJS: by Fabrice Bellard; ES2023."}),
            ),
            _ => Reply::new().text("QuickJS is a small embeddable JavaScript engine (ES2023)."),
        };
    }
    if system.contains("You review") {
        return Reply::new().text("No problems.");
    }
    if user_text.contains("How long") {
        return match results {
            0 => Reply::new().tool_call("s1", "report_stats", json!({"path": "/report.md"})),
            _ => Reply::new().text("The report has 10 words."),
        };
    }
    match results {
        0 => Reply::new().tool_call("r1", "research", json!({"task": "What is QuickJS?"})),
        1 => Reply::new().tool_call(
            "w1",
            "write",
            json!({"path": "/report.md", "content": REPORT}),
        ),
        2 => Reply::new().tool_call("v1", "review", json!({"task": REPORT})),
        3 => Reply::new().tool_call(
            "x1",
            "load_extension",
            json!({"name": "report", "source": STATS_EXTENSION,
                   "permissions": {"workspace": "read"}}),
        ),
        _ => Reply::new().text("The report is in /report.md."),
    }
}

/// One chat turn with `agent` (`Class/name`): the session id and the stream's chunks.
async fn chat_with(
    server: &Server,
    agent: &str,
    text: &str,
    session: Option<&str>,
) -> (String, Vec<Value>) {
    let mut body =
        json!({"messages": [{"role": "user", "parts": [{"type": "text", "text": text}]}]});
    if let Some(session) = session {
        body["sessionId"] = json!(session);
    }
    let response = client()
        .post(format!("{}/agents/{agent}/chat", server.base))
        .bearer_auth(&server.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let session = response.headers()["x-islet-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let stream = response.text().await.unwrap();
    let chunks = super::sse_data(&stream)
        .iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    (session, chunks)
}

/// The tool results of a turn, by tool call id.
fn tool_outputs(chunks: &[Value]) -> std::collections::HashMap<String, Value> {
    chunks
        .iter()
        .filter(|c| c["type"] == "tool-output-available" || c["type"] == "tool-output-error")
        .map(|c| {
            let out = if c["type"] == "tool-output-error" {
                c["errorText"].clone()
            } else {
                c["output"].clone()
            };
            (c["toolCallId"].as_str().unwrap().to_owned(), out)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn issue16_the_research_lead_example_delegates_to_sub_agents_and_installs_an_extension() {
    const KEY: &str = "sk-research-team";
    let model = llm::scripted::ScriptedModel::start_with_key(KEY)
        .await
        .unwrap();
    model.set_responder(research_team);
    let dir = tempfile::tempdir().unwrap();
    let examples = super::examples_dir();
    let server = super::given_chat_server(
        &examples,
        &dir.path().join("data"),
        &model,
        &[("OPENAI_API_KEY", KEY)],
    );

    let (session, chunks) = chat_with(
        &server,
        "ResearchLead/me",
        "What is QuickJS? Keep a report.",
        None,
    )
    .await;
    assert_eq!(chunks.last().unwrap()["type"], "finish", "{chunks:#?}");
    // Each child's progress reached the lead's client, marked with the tool call it serves.
    let progress: Vec<&Value> = chunks
        .iter()
        .filter(|c| c["type"] == "data-subagent")
        .collect();
    for (call, class) in [("r1", "Researcher"), ("v1", "Reviewer")] {
        assert!(
            progress.iter().any(|c| c["data"]["toolCallId"] == call
                && c["data"]["agent"]["className"] == class
                && c["data"]["chunk"]["type"] == "text-delta"),
            "no progress of {class}: {:#?}",
            chunks
                .iter()
                .filter(|c| c["type"] != "data-subagent")
                .collect::<Vec<_>>()
        );
    }
    // The researcher's own tool call streamed too.
    assert!(
        progress
            .iter()
            .any(|c| c["data"]["chunk"]["type"] == "tool-output-available"
                && c["data"]["agent"]["className"] == "Researcher")
    );
    let outputs = tool_outputs(&chunks);
    assert_eq!(
        outputs["r1"],
        json!("QuickJS is a small embeddable JavaScript engine (ES2023).")
    );
    assert_eq!(outputs["v1"], json!("No problems."));
    assert!(
        outputs["x1"].to_string().contains("\"version\":1")
            || outputs["x1"].to_string().contains("\\\"version\\\":1"),
        "{:?}",
        outputs["x1"]
    );

    // The children are the lead's sub-agents, each with storage of its own.
    let (status, children) = server.get("/agents/ResearchLead/me/sub").await;
    assert_eq!(status, 200, "{children}");
    for child in ["Researcher", "Reviewer"] {
        assert!(children.contains(child), "{children}");
    }
    let (status, notes) = server
        .post(
            "/agents/ResearchLead/me/sub/Researcher/research/notes",
            "[]",
        )
        .await;
    assert_eq!(status, 200, "{notes}");
    assert_eq!(
        notes["result"],
        json!("QuickJS: by Fabrice Bellard; ES2023.")
    );
    assert_eq!(
        server.call("ResearchLead", "me", "report", json!([])).await,
        json!(REPORT)
    );
    // The lead has no notes of its own: the researcher wrote in its workspace.
    let (status, _) = server
        .get("/agents/ResearchLead/me/workspace/notes.md")
        .await;
    assert_eq!(status, 404);

    // The next turn offers the extension's tool, which reads the report.
    let (_, chunks) = chat_with(
        &server,
        "ResearchLead/me",
        "How long is the report?",
        Some(&session),
    )
    .await;
    assert_eq!(chunks.last().unwrap()["type"], "finish", "{chunks:#?}");
    let last_lead_request = model
        .requests()
        .into_iter()
        .rev()
        .find(|r| {
            r.body["messages"][0]["content"]
                .to_string()
                .contains("You lead")
        })
        .unwrap();
    assert!(
        last_lead_request.body["tools"]
            .to_string()
            .contains("report_stats"),
        "{}",
        last_lead_request.body["tools"]
    );
    let stats = &tool_outputs(&chunks)["s1"];
    let stats: Value = match stats {
        Value::String(s) => serde_json::from_str(s).unwrap(),
        other => other.clone(),
    };
    assert_eq!(stats, json!({"words": 10, "lines": 3}));
    let (status, extensions) = server.get("/agents/ResearchLead/me/extensions").await;
    assert_eq!(status, 200, "{extensions}");
    assert!(extensions.contains("\"report\""), "{extensions}");
}

/// Issue 16's test list: the scripted model writes an extension that fetches from an
/// allowed loopback server, uses it in the next turn, and the same extension is refused any
/// other host — through `islet serve`, with the operator's policy allowing that server.
#[tokio::test(flavor = "multi_thread")]
async fn issue16_the_model_writes_a_fetching_extension_that_reaches_only_its_host() {
    const BUILDER: &str = r#"
import { Think } from "agents";
export default class Builder extends Think {
  allowExtensions = true;
  getSystemPrompt() { return "You build tools."; }
}
"#;
    const WEB: &str = "export const tools = { get: { description: 'GET a URL', \
        inputSchema: { type: 'object', properties: { url: { type: 'string' } }, required: ['url'] }, \
        async execute(args, host) { try { const r = await host.fetch(args.url); return `${r.status} ${await r.text()}`; } \
        catch (e) { return `${e.code}: ${e.message}`; } } } };";
    const KEY: &str = "sk-builder";
    let port = given_loopback_page("/status", "all systems go").await;
    let allowed = format!("127.0.0.1:{port}");
    let model = llm::scripted::ScriptedModel::start_with_key(KEY)
        .await
        .unwrap();
    {
        let allowed = allowed.clone();
        model.set_responder(move |r| {
            use llm::scripted::Reply;
            let messages = r.body["messages"].as_array().cloned().unwrap_or_default();
            let last_user = messages
                .iter()
                .rposition(|m| m["role"] == "user")
                .unwrap_or(0);
            let question = messages[last_user]["content"].to_string();
            let results = messages[last_user..]
                .iter()
                .filter(|m| m["role"] == "tool")
                .count();
            match (question.contains("Check"), results) {
                (false, 0) => Reply::new().tool_call(
                    "x1",
                    "load_extension",
                    json!({"name": "web", "source": WEB, "permissions": {"network": [allowed]}}),
                ),
                (true, 0) => Reply::new().tool_call(
                    "g1",
                    "web_get",
                    json!({"url": format!("http://{allowed}/status")}),
                ),
                (true, 1) => {
                    Reply::new().tool_call("g2", "web_get", json!({"url": "https://example.com/"}))
                }
                _ => Reply::new().text("Done."),
            }
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(dir.path(), &[("builder.ts", BUILDER)]);
    let policy = dir.path().join("policy.json");
    std::fs::write(
        &policy,
        json!({ "network": [allowed], "allowPrivate": true }).to_string(),
    )
    .unwrap();
    let server = super::given_chat_server_with(
        &agents,
        &dir.path().join("data"),
        &model,
        &[("OPENAI_API_KEY", KEY)],
        &["--extension-policy", policy.to_str().unwrap()],
    );
    let (session, chunks) =
        chat_with(&server, "Builder/b", "Write yourself a web tool", None).await;
    let outputs = tool_outputs(&chunks);
    assert!(outputs["x1"].to_string().contains("version"), "{outputs:?}");
    let (_, chunks) = chat_with(
        &server,
        "Builder/b",
        "Check the status page",
        Some(&session),
    )
    .await;
    let outputs = tool_outputs(&chunks);
    assert_eq!(outputs["g1"], json!("200 all systems go"), "{outputs:?}");
    assert!(
        outputs["g2"]
            .as_str()
            .unwrap()
            .starts_with("HOST_NOT_ALLOWED"),
        "{outputs:?}"
    );
}
