//! The MCP proxy against real upstreams: the npm filesystem, memory and everything servers,
//! PyPI's `mcp-server-git`, and a small Python server that hangs, crashes and grows tools on
//! command (`tests/fixtures/proxy/flaky_server.py`). `.ci/run` installs them; without them
//! the tests are skipped locally and fail on CI (env `CI` set).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use codemode::mcp::config;
use codemode::mcp::upstream::{Proxy, ProxyOptions};
use codemode::mcp::{CodeModeServer, Prepare, ServerOptions};
use serde_json::{Value, json};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The path of an installed upstream, or `None` (skip locally, fail on CI).
#[allow(clippy::print_stderr)]
fn installed(relative: &str) -> Option<String> {
    let path = root().join(relative);
    if path.exists() {
        return Some(path.display().to_string());
    }
    let why = format!(
        "{} is not installed; run .ci/run (npm ci and the .ci/venv it creates)",
        path.display()
    );
    assert!(std::env::var_os("CI").is_none(), "{why}");
    eprintln!("skipped: {why}");
    None
}

fn flaky(timeout_ms: Option<u64>) -> Option<Value> {
    let python = installed(".ci/venv/bin/python")?;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/proxy/flaky_server.py")
        .display()
        .to_string();
    let mut entry = json!({"command": python, "args": [script]});
    if let Some(ms) = timeout_ms {
        entry["timeoutMs"] = json!(ms);
    }
    Some(entry)
}

struct Harness {
    proxy: Arc<Proxy>,
    server: CodeModeServer,
}

impl Harness {
    async fn new(servers: Value) -> Harness {
        let text = json!({"mcpServers": servers}).to_string();
        let config = config::parse(&text, "test.json", |_| None).expect("valid config");
        let proxy = Arc::new(
            Proxy::new(config, ProxyOptions::default())
                .await
                .expect("proxy"),
        );
        let (catalog, bindings) = proxy.catalog();
        let lazy = Arc::clone(&proxy);
        let prepare: Prepare = Arc::new(move || {
            let proxy = Arc::clone(&lazy);
            Box::pin(async move { proxy.start().await })
        });
        let server = CodeModeServer::with_prepare(
            catalog,
            bindings,
            None,
            ServerOptions::default(),
            Some(prepare),
        )
        .expect("server");
        let updated = server.clone();
        proxy.on_change(move |c, b, u| updated.replace_catalog_with(c, b, u));
        Harness { proxy, server }
    }

    /// Runs `code` through `execute`; the outcome as JSON (`result`, `logs`, or the error).
    async fn execute(&self, code: &str) -> (bool, Value) {
        let mut args = serde_json::Map::new();
        args.insert("code".into(), json!(code));
        let result = self.server.call("execute", &args).await.expect("execute");
        let text: String = result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (result.is_error != Some(true), value)
    }

    async fn ok(&self, code: &str) -> Value {
        let (ok, value) = self.execute(code).await;
        assert!(ok, "execute failed: {value}");
        value["result"].clone()
    }
}

fn alive(pid: u32) -> bool {
    // A reaped process has no /proc entry; a zombie would still count as a leak here.
    Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_program_reads_a_directory_and_records_an_entity_per_file() {
    let (Some(fs), Some(memory)) = (
        installed("node_modules/.bin/mcp-server-filesystem"),
        installed("node_modules/.bin/mcp-server-memory"),
    ) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("islet-proxy-fs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("docs")).expect("mkdir");
    for i in 0..20 {
        std::fs::write(
            dir.join(format!("docs/note{i:02}.txt")),
            format!("note number {i}"),
        )
        .expect("write");
    }
    let h = Harness::new(json!({
        "fs": {"command": fs, "args": [dir.display().to_string()]},
        "memory": {"command": memory, "env": {"MEMORY_FILE_PATH": dir.join("memory.jsonl").display().to_string()}},
    }))
    .await;
    let docs = dir.join("docs").display().to_string();
    let code = format!(
        r#"async () => {{
  const listing = await fs.list_directory({{ path: {docs:?} }});
  const text = typeof listing === "string" ? listing : listing.content;
  const files = text.split("\n").filter(l => l.startsWith("[FILE]")).map(l => l.slice(7).trim());
  const contents = await Promise.all(files.map(f => fs.read_text_file({{ path: {docs:?} + "/" + f }})));
  // One by one: the memory server rewrites its file per call and loses concurrent writes.
  for (const [i, f] of files.entries()) {{
    await memory.create_entities({{ entities: [{{
      name: f, entityType: "file",
      observations: [typeof contents[i] === "string" ? contents[i] : contents[i].content],
    }}] }});
  }}
  const graph = await memory.read_graph({{}});
  return {{ files: files.length, entities: graph.entities.length,
           sample: graph.entities.find(e => e.name === "note07.txt").observations[0] }};
}}"#
    );
    let started = Instant::now();
    let result = h.ok(&code).await;
    assert_eq!(
        result,
        json!({"files": 20, "entities": 20, "sample": "note number 7"}),
        "took {:?}",
        started.elapsed()
    );
    h.proxy.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_upstream_is_restarted_and_the_next_call_succeeds() {
    let Some(entry) = flaky(None) else { return };
    let h = Harness::new(json!({ "flaky": entry })).await;
    let first = h
        .ok("async () => flaky.pid({})")
        .await
        .as_u64()
        .expect("a pid (text parsed as JSON)");
    let status = std::process::Command::new("kill")
        .args(["-9", &first.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = h
        .ok("async () => flaky.pid({})")
        .await
        .as_u64()
        .expect("a pid after the restart");
    assert_ne!(first, second);
    assert_eq!(
        h.ok("async () => flaky.echo({ text: 'back' })").await,
        "back"
    );

    // A call that kills the upstream is retried once on a fresh process, then reported.
    let (ok, outcome) = h.execute("async () => flaky.crash({})").await;
    assert!(!ok, "{outcome}");
    assert!(outcome.to_string().contains("UPSTREAM"), "{outcome}");
    assert_eq!(
        h.ok("async () => flaky.echo({ text: 'again' })").await,
        "again"
    );
    h.proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_upstream_times_out_without_blocking_other_servers() {
    let (Some(slow), Some(fast)) = (flaky(Some(1_000)), flaky(None)) else {
        return;
    };
    let h = Harness::new(json!({ "slow": slow, "fast": fast })).await;
    let result = h
        .ok(r#"async () => {
  const t0 = Date.now();
  let fastAt = 0;
  const [hung, quick] = await Promise.allSettled([
    slow.hang({}),
    fast.echo({ text: "quick" }).then(v => { fastAt = Date.now() - t0; return v; }),
  ]);
  return { hung: hung.status, code: hung.reason.code, quick: quick.value, fastFirst: fastAt < 900,
           total: Date.now() - t0 };
}"#)
        .await;
    assert_eq!(result["hung"], "rejected", "{result}");
    assert_eq!(result["code"], "TIMEOUT", "{result}");
    assert_eq!(result["quick"], "quick", "{result}");
    assert_eq!(result["fastFirst"], true, "{result}");
    assert!(
        result["total"].as_u64().is_some_and(|t| t < 5_000),
        "{result}"
    );
    // The slow server still answers other calls after a timeout.
    assert_eq!(h.ok("async () => slow.echo({ text: 'ok' })").await, "ok");
    h.proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tool_errors_throw_and_list_changed_refreshes_the_catalog() {
    let Some(entry) = flaky(None) else { return };
    let h = Harness::new(json!({ "my-flaky": entry })).await;
    // Dashes are not JS: the namespace is camelCased.
    let caught = h
        .ok(
            r#"async () => { try { await myFlaky.fail({ message: "boom" }); return null; }
                  catch (e) { return { name: e.name, message: e.message }; } }"#,
        )
        .await;
    assert_eq!(caught["name"], "McpError", "{caught}");
    assert!(
        caught["message"]
            .as_str()
            .is_some_and(|m| m.contains("boom")),
        "{caught}"
    );

    assert_eq!(h.ok("async () => myFlaky.grow({})").await, "grown");
    let mut doubled = Value::Null;
    for _ in 0..50 {
        let (ok, outcome) = h.execute("async () => myFlaky.late({ x: 21 })").await;
        if ok {
            doubled = outcome["result"].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(doubled, json!(42));
    let mut args = serde_json::Map::new();
    args.insert("query".into(), json!("doubles x"));
    let found = h.server.call("search", &args).await.expect("search");
    let text: String = found
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect();
    assert!(text.contains("myFlaky.late"), "{text}");
    h.proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_ends_every_child() {
    let (Some(a), Some(b)) = (flaky(None), flaky(None)) else {
        return;
    };
    let h = Harness::new(json!({ "a": a, "b": b })).await;
    h.proxy.start().await;
    let pids = h.proxy.pids();
    assert_eq!(pids.len(), 2, "{pids:?}");
    assert!(pids.iter().all(|(_, pid)| alive(*pid)));
    h.proxy.shutdown().await;
    for (server, pid) in pids {
        assert!(!alive(pid), "{server} (pid {pid}) outlived the shutdown");
    }
    // After shutdown nothing restarts.
    let (ok, outcome) = h.execute("async () => a.echo({ text: 'x' })").await;
    assert!(!ok, "{outcome}");
}

#[tokio::test(flavor = "multi_thread")]
async fn four_servers_two_tools_one_program() {
    let (Some(fs), Some(memory), Some(git), Some(everything)) = (
        installed("node_modules/.bin/mcp-server-filesystem"),
        installed("node_modules/.bin/mcp-server-memory"),
        installed(".ci/venv/bin/mcp-server-git"),
        installed("node_modules/.bin/mcp-server-everything"),
    ) else {
        return;
    };
    let repo = root().canonicalize().expect("repo root");
    let memory_file =
        std::env::temp_dir().join(format!("islet-proxy-mem-{}.jsonl", std::process::id()));
    let h = Harness::new(json!({
        "fs": {"command": fs, "args": [repo.display().to_string()]},
        "memory": {"command": memory, "env": {"MEMORY_FILE_PATH": memory_file.display().to_string()}},
        "git": {"command": git, "args": ["--repository", repo.display().to_string()]},
        "everything": {"command": everything, "args": ["stdio"]},
    }))
    .await;
    h.proxy.start().await;
    let tools = h.server.tools();
    assert_eq!(tools.len(), 2);
    let texts = h.server.tool_texts();
    assert!(texts.tokens() <= 1_000, "{}", texts.tokens());
    for server in ["fs", "memory", "git", "everything"] {
        assert!(
            texts.search_description.contains(server),
            "{}",
            texts.search_description
        );
    }
    let code = format!(
        r#"async () => {{
  const [readme, status, sum] = await Promise.all([
    fs.read_text_file({{ path: {readme:?}, head: 1 }}),
    git.git_status({{ repo_path: {repo:?} }}),
    everything.echo({{ message: "hi" }}),
  ]);
  await memory.create_entities({{ entities: [{{ name: "islet", entityType: "repo", observations: ["ok"] }}] }});
  const graph = await memory.read_graph({{}});
  return {{
    readme: (typeof readme === "string" ? readme : readme.content).slice(0, 7),
    status: String(typeof status === "string" ? status : JSON.stringify(status)).includes("branch"),
    echo: JSON.stringify(sum).includes("hi"),
    entities: graph.entities.length,
  }};
}}"#,
        readme = repo.join("README.md").display().to_string(),
        repo = repo.display().to_string(),
    );
    let result = h.ok(&code).await;
    assert_eq!(
        result,
        json!({"readme": "# islet", "status": true, "echo": true, "entities": 1})
    );
    h.proxy.shutdown().await;
    let _ = std::fs::remove_file(&memory_file);
}

/// A streamable-HTTP upstream: another Code Mode server (itself a real rmcp server) on
/// loopback, behind a bearer token given in the entry's `headers`.
#[tokio::test(flavor = "multi_thread")]
async fn a_streamable_http_upstream_is_proxied_with_its_headers() {
    use codemode::catalog::Catalog;
    use codemode::mcp::{HttpOptions, serve_http};
    let upstream = CodeModeServer::new(
        Catalog {
            title: "Inner".into(),
            tools: Vec::new(),
        },
        sandbox::Bindings::new(),
        None,
        ServerOptions::default(),
    )
    .expect("upstream server");
    let (bound_tx, bound) = tokio::sync::oneshot::channel();
    let options = HttpOptions {
        addr: "127.0.0.1:0".parse().expect("addr"),
        auth_token: Some("inner-secret".into()),
    };
    tokio::spawn(serve_http(
        upstream,
        options,
        move |addr| {
            let _ = bound_tx.send(addr);
        },
        std::future::pending(),
    ));
    let addr = bound.await.expect("bound");
    let h = Harness::new(json!({
        "inner": {"url": format!("http://{addr}/mcp"), "headers": {"Authorization": "Bearer inner-secret"}},
    }))
    .await;
    h.proxy.start().await;
    // The inner server's own `execute` tool, called from a program run by the outer one.
    let result = h
        .ok("async () => { const r = await inner.execute({ code: '6 * 7' }); return r; }")
        .await;
    assert_eq!(result["result"], json!(42), "{result}");
    h.proxy.shutdown().await;

    // Without the entry's header the upstream refuses the proxy: its tools never appear.
    let unauthorised =
        Harness::new(json!({ "inner": {"url": format!("http://{addr}/mcp")} })).await;
    unauthorised.proxy.start().await;
    let (ok, value) = unauthorised.execute("async () => typeof inner").await;
    assert!(ok, "{value}");
    assert_eq!(value["result"], json!("undefined"));
    unauthorised.proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn issue13_an_upstream_that_fails_to_start_is_named_in_descriptions_and_errors() {
    let h = Harness::new(json!({
        "broken": {"command": "/nonexistent/islet-test-mcp-server"},
    }))
    .await;
    h.proxy.start().await;
    let tools = h.server.tools();
    for tool in &tools {
        let text = tool.description.as_deref().unwrap_or_default();
        assert!(
            text.contains("Unavailable (failed to start, not callable): `broken` (")
                && text.contains("cannot start `/nonexistent/islet-test-mcp-server`"),
            "{text}"
        );
        // No upstream started: still a proxy, not the agent host's description.
        assert!(!text.contains("agents"), "{text}");
        assert!(text.contains("MCP servers"), "{text}");
    }
    let (ok, value) = h
        .execute("async () => await broken.do_something({ x: 1 })")
        .await;
    assert!(!ok, "{value}");
    let text = value.as_str().unwrap_or_default();
    assert!(
        text.contains("`broken` is not available: it failed to start (")
            && text.contains("check `command`"),
        "{text}"
    );
    h.proxy.shutdown().await;
}

#[test]
fn issue13_relative_paths_in_a_config_resolve_against_its_folder() {
    let dir = std::env::temp_dir().join(format!("islet-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let file = dir.join("mcp.json");
    std::fs::write(
        &file,
        json!({"mcpServers": {
            "local": {"command": "bin/server", "args": ["./data"], "cwd": "work"},
            "onpath": {"command": "npx", "args": ["-y", "pkg"]},
            "absolute": {"command": "/usr/bin/env", "cwd": "/tmp"},
            "pets": {"openapi": "specs/pets.json"},
            "remote": {"openapi": "https://example.com/openapi.json"},
        }})
        .to_string(),
    )
    .expect("write");
    let config = config::load(&file).expect("config");
    let kind = |name: &str| {
        config
            .servers
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.kind.clone())
            .expect("entry")
    };
    let here = |p: &str| dir.join(p).display().to_string();
    assert_eq!(
        kind("local"),
        config::ServerKind::Stdio {
            command: here("bin/server"),
            args: vec!["./data".into()],
            env: Vec::new(),
            cwd: Some(here("work")),
        }
    );
    assert!(
        matches!(kind("onpath"), config::ServerKind::Stdio { command, .. } if command == "npx")
    );
    assert!(
        matches!(kind("absolute"), config::ServerKind::Stdio { command, cwd, .. } if command == "/usr/bin/env" && cwd.as_deref() == Some("/tmp"))
    );
    assert!(
        matches!(kind("pets"), config::ServerKind::OpenApi { spec, .. } if spec == here("specs/pets.json"))
    );
    assert!(
        matches!(kind("remote"), config::ServerKind::OpenApi { spec, .. } if spec == "https://example.com/openapi.json")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `examples/mcp.json` names its servers relative to itself, so it works from any folder.
#[test]
fn issue13_examples_mcp_json_points_at_the_installed_servers_from_anywhere() {
    let config = config::load(&root().join("examples/mcp.json")).expect("example config");
    for server in &config.servers {
        let config::ServerKind::Stdio { command, cwd, .. } = &server.kind else {
            continue;
        };
        let command = Path::new(command);
        assert!(
            command.starts_with(root().join("examples")),
            "{}",
            command.display()
        );
        let relative = command
            .strip_prefix(root().join("examples/.."))
            .expect("under the repository");
        if installed(&relative.display().to_string()).is_some() {
            assert!(command.exists(), "{}", command.display());
        }
        if let Some(cwd) = cwd {
            assert!(Path::new(cwd).is_dir(), "{cwd}");
        }
    }
}
