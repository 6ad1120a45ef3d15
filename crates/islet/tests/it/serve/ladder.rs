//! The execution ladder's network rungs on `islet serve` (issue 17 item 3): `--allow-fetch`
//! gives agents' code, /mcp's `execute` and chat agents `fetch` for the named hosts;
//! `--browser` gives `execute` code a `browser` and chat agents `browser_*` tools, every
//! page request under the same policy; the browser is gone once the server stops.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::response::Html;
use serde_json::{Value, json};

use super::{ASSISTANT, McpClient, Server, given_agents_dir, given_chat_server_with, given_server};
use crate::support::serve_on_own_thread;

const PAGE: &str = "<html><head><title>Ladder</title></head><body>\
    <h1>Islands</h1><p>Small and <b>self-hosted</b>. <a href=\"/more\">More</a></p></body></html>";

const FETCHER: &str = r#"
import { Agent } from "agents";
export default class Fetcher extends Agent {
  async get(url: string) { const r = await fetch(url); return { status: r.status, text: await r.text() }; }
}
"#;

/// A web server on loopback with one page at `/`; returns its origin.
fn given_site() -> String {
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { Html(PAGE) }))
        .route(
            "/plain",
            axum::routing::get(|| async { "plain text from the site" }),
        );
    format!("http://{}", serve_on_own_thread(app))
}

fn given_ladder_server(
    dir: &Path,
    model: &llm::scripted::ScriptedModel,
    host: &str,
    rungs: &[&str],
) -> Server {
    let agents = given_agents_dir(dir, &[("Assistant.ts", ASSISTANT), ("Fetcher.ts", FETCHER)]);
    let mut args = vec!["--allow-fetch", host, "--allow-private-fetch"];
    args.extend_from_slice(rungs);
    given_chat_server_with(&agents, &dir.join("data"), model, &[], &args)
}

async fn execute(mcp: &mut McpClient, code: &str) -> Value {
    mcp.request(
        "tools/call",
        json!({"name": "execute", "arguments": {"code": code}}),
    )
    .await
}

fn execute_description(tools: &Value) -> String {
    tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "execute")
        .unwrap()["description"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `(pid, parent pid, process group)` of every process.
fn processes() -> Vec<(u32, u32, u32)> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp …; comm may hold spaces and parentheses.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if let (Ok(pid), Some(Ok(ppid)), Some(Ok(pgrp))) = (
            head.split_whitespace().next().unwrap_or("").parse::<u32>(),
            fields.get(1).map(|f| f.parse::<u32>()),
            fields.get(2).map(|f| f.parse::<u32>()),
        ) {
            all.push((pid, ppid, pgrp));
        }
    }
    all
}

/// The process groups of the browsers `server_pid` started (Chromium runs in its own).
fn browser_groups(server_pid: u32) -> Vec<u32> {
    processes()
        .into_iter()
        .filter(|(pid, ppid, pgrp)| *ppid == server_pid && pid == pgrp)
        .map(|(_, _, pgrp)| pgrp)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn issue17_serve_gives_fetch_and_the_browser_to_agents_mcp_and_chat() {
    let site = given_site();
    let host = site.trim_start_matches("http://").to_owned();
    let model = llm::scripted::ScriptedModel::start().await.unwrap();
    model.push(llm::scripted::Reply::new().tool_call(
        "call_1",
        "browser_markdown",
        json!({ "url": format!("{site}/") }),
    ));
    model.push(llm::scripted::Reply::new().text("The page is about islands."));
    let dir = tempfile::tempdir().unwrap();
    let mut server = given_ladder_server(dir.path(), &model, &host, &["--browser"]);

    // Agents' own code: fetch for the allowed host, refused elsewhere.
    let got = server
        .call("Fetcher", "f", "get", json!([format!("{site}/plain")]))
        .await;
    assert_eq!(got["status"], json!(200), "{got}");
    assert_eq!(got["text"], json!("plain text from the site"));
    let (status, refused) = server
        .post(
            "/agents/Fetcher/f/get",
            &json!(["http://example.invalid/"]).to_string(),
        )
        .await;
    assert_ne!(status, 200, "{refused}");
    assert!(refused.to_string().contains("example.invalid"), "{refused}");

    // /mcp: the description names both rungs, and code uses them.
    let mut mcp = McpClient::connect(&format!("{}/mcp", server.base), &server.token).await;
    let description = execute_description(&mcp.request("tools/list", json!({})).await);
    assert!(description.contains("browser.markdown"), "{description}");
    assert!(description.contains(&host), "{description}");
    let result = execute(
        &mut mcp,
        &format!(
            "const md = await browser.markdown('{site}/');\n\
             const r = await fetch('{site}/plain');\n\
             return {{ md, plain: await r.text() }};"
        ),
    )
    .await;
    assert_eq!(result["isError"], json!(false), "{result}");
    let text = result.to_string();
    assert!(text.contains("# Islands"), "{text}");
    assert!(text.contains("**self-hosted**"), "{text}");
    assert!(text.contains("plain text from the site"), "{text}");
    // A page on a host the policy does not name is refused, in the browser as in fetch.
    let result = execute(
        &mut mcp,
        "return await browser.markdown('http://example.invalid/')",
    )
    .await;
    assert_eq!(result["isError"], json!(true), "{result}");
    assert!(result.to_string().contains("example.invalid"), "{result}");

    // Chat: the model gets browser_markdown and reads the page through it.
    let body = json!({"messages": [{"role": "user", "parts": [{"type": "text", "text": "What is on the site?"}]}]});
    let (status, reply) = server
        .post("/agents/Assistant/me/chat", &body.to_string())
        .await;
    assert_eq!(status, 200, "{reply}");
    let requests = model.requests();
    assert_eq!(requests.len(), 2, "{reply}");
    let tools: Vec<&str> = requests[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    for tool in [
        "execute",
        "browser_markdown",
        "browser_links",
        "browser_scrape",
    ] {
        assert!(tools.contains(&tool), "{tool} missing from {tools:?}");
    }
    let second = requests[1].body.to_string();
    assert!(second.contains("# Islands"), "{second}");

    // A graceful stop takes the browser with it, every process of it.
    let groups = browser_groups(server.child.id());
    assert!(!groups.is_empty(), "the browser ran");
    let pid = server.child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while server.child.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "islet serve did not stop"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while processes().iter().any(|(_, _, pgrp)| groups.contains(pgrp)) {
        assert!(
            std::time::Instant::now() < deadline,
            "Chromium outlived islet serve"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Processes in `groups` that are alive (not zombies: a killed process whose new parent
/// has not reaped it yet is gone in every sense that matters here).
fn alive_in(groups: &[u32]) -> Vec<u32> {
    let mut alive = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let group = fields.get(2).and_then(|g| g.parse::<u32>().ok());
        if fields.first() != Some(&"Z")
            && group.is_some_and(|g| groups.contains(&g))
            && let Ok(pid) = head.split_whitespace().next().unwrap_or("").parse::<u32>()
        {
            alive.push(pid);
        }
    }
    alive
}

/// Waits (up to 30 s) until `islet` (pid) has a browser running: a process group it
/// leads with Chromium (a process given a `--user-data-dir`) in it; returns the groups.
async fn wait_for_browser(islet: u32) -> Vec<u32> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let groups = browser_groups(islet);
        let chromium = alive_in(&groups).into_iter().any(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("--user-data-dir="))
        });
        if chromium {
            return groups;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "islet started no browser"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `kill -9` of islet (`child`), then every process in `groups` must be gone within 5 s.
async fn kill_9_and_expect_no_browser(child: &mut std::process::Child, groups: &[u32]) {
    let before = alive_in(groups).len();
    assert!(before > 2, "Chromium runs several processes: {before}");
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left = alive_in(groups);
        if left.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Chromium outlived a SIGKILL of islet: {} of {before} processes left ({left:?})",
            left.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn issue17_chromium_never_outlives_islet_serve_even_on_kill_9() {
    let site = given_site();
    let host = site.trim_start_matches("http://").to_owned();
    let model = llm::scripted::ScriptedModel::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut server = given_ladder_server(dir.path(), &model, &host, &["--browser"]);
    let mut mcp = McpClient::connect(&format!("{}/mcp", server.base), &server.token).await;
    let result = execute(
        &mut mcp,
        &format!("return await browser.markdown('{site}/')"),
    )
    .await;
    assert!(result.to_string().contains("# Islands"), "{result}");
    let groups = wait_for_browser(server.child.id()).await;
    kill_9_and_expect_no_browser(&mut server.child, &groups).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn issue17_chromium_never_outlives_islet_run_even_on_kill_9() {
    let site = given_site();
    let host = site.trim_start_matches("http://").to_owned();
    // A program that keeps its page open until islet is killed.
    let mut run = Command::new(env!("CARGO_BIN_EXE_islet"))
        .args([
            "run",
            "--browser",
            "--allow-fetch",
            &host,
            "--allow-private-fetch",
        ])
        .args(["--wall-ms", "60000", "--cpu-ms", "60000", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = run.stdin.take().unwrap();
        write!(
            stdin,
            "const page = await browser.open('{site}/');\n\
             await page.waitFor('#never', {{ timeout: 55000 }});"
        )
        .unwrap();
    }
    let groups = wait_for_browser(run.id()).await;
    // The page is open once Chromium runs a renderer (its `--type=renderer` process).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !alive_in(&groups).into_iter().any(|pid| {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains("--type=renderer"))
    }) {
        assert!(std::time::Instant::now() < deadline, "no page was opened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    kill_9_and_expect_no_browser(&mut run, &groups).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn issue17_without_browser_the_rung_is_not_mentioned_nor_offered() {
    let site = given_site();
    let host = site.trim_start_matches("http://").to_owned();
    let model = llm::scripted::ScriptedModel::start().await.unwrap();
    model.push(llm::scripted::Reply::new().text("Hello."));
    let dir = tempfile::tempdir().unwrap();
    let server = given_ladder_server(dir.path(), &model, &host, &[]);
    let mut mcp = McpClient::connect(&format!("{}/mcp", server.base), &server.token).await;
    let description = execute_description(&mcp.request("tools/list", json!({})).await);
    assert!(!description.contains("browser"), "{description}");
    let result = execute(&mut mcp, "return typeof browser").await;
    assert!(result.to_string().contains("undefined"), "{result}");
    let body = json!({"messages": [{"role": "user", "parts": [{"type": "text", "text": "Hi"}]}]});
    let (status, reply) = server
        .post("/agents/Assistant/me/chat", &body.to_string())
        .await;
    assert_eq!(status, 200, "{reply}");
    let tools = model.requests()[0].body["tools"].to_string();
    assert!(!tools.contains("browser_"), "{tools}");
}

#[tokio::test]
async fn issue17_serve_gives_npm_packages_to_mcp_execute() {
    let site = given_site();
    let host = site.trim_start_matches("http://").to_owned();
    let model = llm::scripted::ScriptedModel::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = given_ladder_server(dir.path(), &model, &host, &["--allow-npm"]);
    let mut mcp = McpClient::connect(&format!("{}/mcp", server.base), &server.token).await;
    let description = execute_description(&mcp.request("tools/list", json!({})).await);
    assert!(description.contains("npm packages"), "{description}");
    // The later runs may start from an isolate with the bundle evaluated ahead (the
    // execution's preload): the same answer.
    for _ in 0..3 {
        let result = execute(&mut mcp, "import ms from \"ms\";\nreturn ms(\"2h\");").await;
        assert!(result.to_string().contains("7200000"), "{result}");
    }
    // Cached in the data directory.
    assert!(
        dir.path()
            .join("data")
            .join("npm")
            .join("tarballs")
            .is_dir()
    );
}

/// The one package of [`given_npm_registry`]: a zod-like validator, an ES module.
const MINI_SCHEMA: &str = r#"
export const s = {
  email() {
    return {
      parse(value) {
        if (typeof value !== "string" || !/^[^@\s]+@[^@\s]+\.[a-z]+$/.test(value)) {
          throw new TypeError(`Invalid email: ${JSON.stringify(value)}`);
        }
        return value;
      },
    };
  },
};
export default s;
"#;

/// An npm registry on loopback serving `mini-schema@1.2.0` (its document and its tarball,
/// with the tarball's true sha512 integrity); returns its URL and how many requests it
/// answered.
fn given_npm_registry() -> (String, Arc<AtomicUsize>) {
    use base64::Engine as _;
    use sha2::Digest as _;
    use std::io::Write as _;
    let files = [
        (
            "package.json",
            json!({"name": "mini-schema", "version": "1.2.0", "type": "module", "exports": {".": "./index.js"}})
                .to_string(),
        ),
        ("index.js", MINI_SCHEMA.to_owned()),
    ];
    let mut tar = tar::Builder::new(Vec::new());
    for (path, content) in &files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, format!("package/{path}"), content.as_bytes())
            .unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar.into_inner().unwrap()).unwrap();
    let tarball = gz.finish().unwrap();
    let integrity = format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(&tarball))
    );
    let hits = Arc::new(AtomicUsize::new(0));
    // The document names the tarball by URL, so it is built once the port is known.
    let origin: Arc<std::sync::OnceLock<String>> = Arc::default();
    let app = {
        let (hits, origin) = (Arc::clone(&hits), Arc::clone(&origin));
        let (tar_hits, tarball) = (Arc::clone(&hits), tarball);
        axum::Router::new()
            .route(
                "/mini-schema",
                axum::routing::get(move || async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    let url = format!("{}/-/mini-schema-1.2.0.tgz", origin.get().unwrap());
                    let doc = json!({
                        "name": "mini-schema",
                        "dist-tags": {"latest": "1.2.0"},
                        "versions": {"1.2.0": {
                            "name": "mini-schema",
                            "version": "1.2.0",
                            "dist": {"tarball": url, "integrity": integrity},
                        }},
                    });
                    ([("content-type", "application/json")], doc.to_string())
                }),
            )
            .route(
                "/-/mini-schema-1.2.0.tgz",
                axum::routing::get(move || async move {
                    tar_hits.fetch_add(1, Ordering::SeqCst);
                    tarball.clone()
                }),
            )
    };
    let url = format!("http://{}", serve_on_own_thread(app));
    origin.set(url.clone()).unwrap();
    (url, hits)
}

/// An agent class that validates its input with a package imported at top level (and
/// uses a Node built-in).
const SIGNUP: &str = r#"
import { Agent } from "agents";
import { s } from "mini-schema";
import { createHash } from "node:crypto";
export default class Signup extends Agent {
  async register(email: string) {
    const valid = s.email().parse(email);
    await this.storage.put("email", valid);
    return { registered: valid, id: createHash("sha256").update(valid).digest("hex").slice(0, 8) };
  }
}
"#;

/// A chat agent whose system prompt comes from a package (`npm:` form, with a range).
const GREETER: &str = r#"
import { Think } from "agents";
import schema from "npm:mini-schema@^1";
export default class Greeter extends Think {
  getSystemPrompt() { return `Write to ${schema.email().parse("ada@example.com")}.`; }
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn issue17_agent_classes_import_npm_packages_on_serve() {
    let (registry, hits) = given_npm_registry();
    let model = llm::scripted::ScriptedModel::start().await.unwrap();
    model.push(llm::scripted::Reply::new().text("Done."));
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(
        dir.path(),
        &[("Signup.ts", SIGNUP), ("Greeter.ts", GREETER)],
    );
    let data = dir.path().join("data");
    let npm_args = ["--allow-npm", "--npm-registry", &registry];
    {
        let server = given_chat_server_with(&agents, &data, &model, &[], &npm_args);
        let got = server
            .call("Signup", "a", "register", json!(["ada@example.com"]))
            .await;
        assert_eq!(
            got,
            json!({"registered": "ada@example.com", "id": "b5fc85e5"})
        );
        // The package's own error reaches the caller, from the package's code.
        let (status, refused) = server
            .post(
                "/agents/Signup/a/register",
                &json!(["not an email"]).to_string(),
            )
            .await;
        assert_ne!(status, 200, "{refused}");
        assert!(
            refused
                .to_string()
                .contains("Invalid email: \\\"not an email\\\""),
            "{refused}"
        );
        // A Think class: its system prompt is built with the package.
        let body =
            json!({"messages": [{"role": "user", "parts": [{"type": "text", "text": "Hi"}]}]});
        let (status, reply) = server
            .post("/agents/Greeter/g/chat", &body.to_string())
            .await;
        assert_eq!(status, 200, "{reply}");
        let prompt = model.requests()[0].body["messages"][0].to_string();
        assert!(prompt.contains("Write to ada@example.com."), "{prompt}");
    }
    let fetched = hits.load(Ordering::SeqCst);
    assert!(
        fetched >= 2,
        "the document and the tarball came from the registry"
    );
    assert!(
        data.join("npm").join("bundles").is_dir(),
        "bundles are cached"
    );
    // Started again, now with process isolation (the bundle travels to the worker): the
    // classes load from the cache, without asking the registry.
    let server = given_server(
        &agents,
        &data,
        &[
            "--isolation",
            "process",
            "--allow-npm",
            "--npm-registry",
            &registry,
        ],
    );
    let got = server
        .call("Signup", "b", "register", json!(["grace@example.org"]))
        .await;
    assert_eq!(
        got,
        json!({"registered": "grace@example.org", "id": "233ac984"})
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        fetched,
        "served from the cache"
    );
}

/// `islet serve`'s exit status and what it printed to stderr, for a start that fails.
fn serve_fails(agents: &Path, data: &Path, extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_islet"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--isolation",
            "inprocess",
            "--agents",
        ])
        .arg(agents)
        .arg("--data")
        .arg(data)
        .args(extra)
        .env_remove("ISLET_AUTH_TOKEN")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "islet serve started: {stderr}");
    stderr
}

#[tokio::test(flavor = "multi_thread")]
async fn issue17_an_agent_class_importing_a_package_fails_clearly() {
    let (registry, _) = given_npm_registry();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let agents = given_agents_dir(dir.path(), &[("Signup.ts", SIGNUP)]);
    // Without --allow-npm: the module's error says what to turn on.
    let stderr = serve_fails(&agents, &data, &[]);
    assert!(stderr.contains("Signup.ts"), "{stderr}");
    assert!(stderr.contains("`mini-schema`"), "{stderr}");
    assert!(stderr.contains("--allow-npm"), "{stderr}");
    assert!(stderr.contains("--npm-allow mini-schema "), "{stderr}");
    // A Node built-in alone needs the rung too, and no package allowlist.
    let hashing = "import { Agent } from \"agents\";\nimport { createHash } from \"node:crypto\";\n\
        export default class Hasher extends Agent { h(x: string) { return createHash(\"md5\").update(x).digest(\"hex\"); } }\n";
    let agents = given_agents_dir(&dir.path().join("builtin"), &[("Hasher.ts", hashing)]);
    let stderr = serve_fails(&agents, &data, &[]);
    assert!(stderr.contains("`node:crypto`"), "{stderr}");
    assert!(stderr.contains("--allow-npm "), "{stderr}");
    assert!(!stderr.contains("--npm-allow"), "{stderr}");
    // With it, a version the registry does not have: the package and the range are named.
    let missing = SIGNUP.replace("\"mini-schema\"", "\"npm:mini-schema@^9\"");
    let agents = given_agents_dir(&dir.path().join("v9"), &[("Signup.ts", &missing)]);
    let stderr = serve_fails(
        &agents,
        &data,
        &["--allow-npm", "--npm-registry", &registry],
    );
    assert!(stderr.contains("Signup.ts"), "{stderr}");
    assert!(stderr.contains("`mini-schema` matches `^9`"), "{stderr}");
    assert!(stderr.contains("1.2.0"), "{stderr}");
}

/// The README's "The execution ladder" examples (` ```sh ladder:NAME ` blocks), by name.
fn readme_ladder_examples() -> Vec<(String, String)> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let mut examples = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if let Some(name) = line.strip_prefix("```sh ladder:") {
            let script: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
            examples.push((name.trim().to_owned(), script.join("\n")));
        }
    }
    examples
}

/// Each example of the README's ladder section runs as written (with islet on PATH, an
/// agent to hold files, and example.com replaced by a page served on loopback) and prints
/// what it says it does.
#[tokio::test(flavor = "multi_thread")]
async fn readme_the_execution_ladder_examples_run() {
    let site = given_site();
    let host = site.trim_start_matches("http://").to_owned();
    let dir = tempfile::tempdir().unwrap();
    {
        // Counter/alice exists once called; its data directory is ./.islet, islet's default.
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/agents");
        let server = given_server(
            &examples,
            &dir.path().join(".islet"),
            &["--isolation", "inprocess"],
        );
        server
            .call("Counter", "alice", "increment", json!([1]))
            .await;
    }
    let islet_dir = Path::new(env!("CARGO_BIN_EXE_islet")).parent().unwrap();
    let path = format!(
        "{}:{}",
        islet_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let examples = readme_ladder_examples();
    let names: Vec<&str> = examples.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["workspace", "isolate", "npm", "browser"],
        "the README's rungs"
    );
    for (name, script) in &examples {
        let script = match name.as_str() {
            "browser" => {
                assert!(script.contains("--allow-fetch example.com "), "{script}");
                assert!(script.contains("\"https://example.com/\""), "{script}");
                script
                    .replace(
                        "--allow-fetch example.com ",
                        &format!("--allow-fetch {host} --allow-private-fetch "),
                    )
                    .replace("\"https://example.com/\"", &format!("\"{site}/\""))
            }
            _ => script.clone(),
        };
        let out = Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .current_dir(dir.path())
            .env("PATH", &path)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "README ladder example `{name}` failed:\n{script}\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let compact: String = stdout.split_whitespace().collect();
        let wanted: &[&str] = match name.as_str() {
            "workspace" => &["city,people"],
            "isolate" => &["[1,2,3]"],
            "npm" => &["\"ada@example.com\""],
            "browser" => &["\"title\":\"Ladder\"", "\"heading\":\"#Islands\""],
            other => panic!("no expectation for the README's ladder example `{other}`"),
        };
        for w in wanted {
            assert!(compact.contains(w), "`{name}` printed {stdout}, not {w}");
        }
    }
}

/// An agent that runs code it is given at run time: in `this.isolates` (run and load), in
/// a code tool (`createCodeTool`), and as an extension.
const BUILDER: &str = r#"
import { Agent, createCodeTool } from "agents";
export default class Builder extends Agent {
  async run(code: string) { return this.isolates.run(code); }
  async load(code: string, email: string) {
    const m = await this.isolates.load("checker", code);
    return m.check(email);
  }
  async tool(code: string) {
    const shop = createCodeTool({ price: { description: "Price in cents",
      inputSchema: { type: "object", properties: { item: { type: "string" } } },
      execute: async ({ item }) => item.length * 100 } });
    return shop.execute({ code });
  }
  async describeTool() {
    return createCodeTool({ price: { description: "Price in cents", execute: async () => 1 } }).description;
  }
  async install(source: string) { return this.extensions.install({ name: "signup", source }); }
  async use(email: string) { return this.extensions.call("signup", "check", { email }); }
}
"#;

/// An extension whose tool validates with a package (and hashes with a Node built-in).
const SIGNUP_EXTENSION: &str = r#"import { s } from "mini-schema";
import { createHash } from "node:crypto";
const email = s.email();
export const tools = {
  check: {
    description: "Checks an email address",
    inputSchema: { type: "object", properties: { email: { type: "string" } } },
    async execute(args) {
      return { valid: email.parse(args.email), id: createHash("sha256").update(args.email).digest("hex").slice(0, 8) };
    },
  },
};
"#;

/// `islet extensions ARGS --data DATA`: its stdout.
fn extensions_cli(data: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_islet"))
        .arg("extensions")
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn issue17_extensions_and_dynamic_isolates_import_npm_packages_on_serve() {
    let (registry, hits) = given_npm_registry();
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(dir.path(), &[("Builder.ts", BUILDER)]);
    let data = dir.path().join("data");
    let npm_args = ["--allow-npm", "--npm-registry", &registry];
    {
        let server = given_server(&agents, &data, &npm_args);
        // An extension installed over HTTP: its packages are bundled at install and named
        // in the answer (and the manifest a person approving reads).
        let body = json!({"name": "signup", "source": SIGNUP_EXTENSION});
        let (status, installed) = server
            .post("/agents/Builder/b/extensions", &body.to_string())
            .await;
        assert_eq!(status, 201, "{installed}");
        assert_eq!(
            installed["packages"],
            json!(["mini-schema@1.2.0"]),
            "{installed}"
        );
        let fetched = hits.load(Ordering::SeqCst);
        assert!(
            fetched >= 2,
            "the install fetched the document and the tarball"
        );
        let ok = server
            .call("Builder", "b", "use", json!(["ada@example.com"]))
            .await;
        assert_eq!(ok, json!({"valid": "ada@example.com", "id": "b5fc85e5"}));
        let (status, refused) = server
            .post("/agents/Builder/b/use", &json!(["nope"]).to_string())
            .await;
        assert_ne!(status, 200, "{refused}");
        assert!(
            refused.to_string().contains("Invalid email"),
            "the package's own error: {refused}"
        );
        let shown = extensions_cli(&data, &["show", "Builder/b", "signup", "1"]);
        assert!(shown.contains("packages:  mini-schema@1.2.0"), "{shown}");

        // Installed by agent code (as a chat agent's load_extension does): version 2.
        let again = server
            .call("Builder", "b", "install", json!([SIGNUP_EXTENSION]))
            .await;
        assert_eq!(again["version"], json!(2), "{again}");
        assert_eq!(again["packages"], json!(["mini-schema@1.2.0"]));

        // this.isolates.run: code (an async function body) importing the package.
        let run = server
            .call(
                "Builder",
                "b",
                "run",
                json!([
                    "import { s } from \"mini-schema\";\nreturn s.email().parse(\"grace@example.org\");"
                ]),
            )
            .await;
        assert_eq!(run, json!("grace@example.org"));
        // this.isolates.load: a module importing it, in its kept isolate.
        let module = "import schema from \"npm:mini-schema@^1\";\n\
            export function check(e) { return schema.email().parse(e).toUpperCase(); }";
        let loaded = server
            .call("Builder", "b", "load", json!([module, "ada@example.com"]))
            .await;
        assert_eq!(loaded, json!("ADA@EXAMPLE.COM"));
        // A code tool's program (what a model writes for createCodeTool).
        let tool = server
            .call(
                "Builder",
                "b",
                "tool",
                json!([
                    "import { s } from \"mini-schema\";\nconst who = s.email().parse(\"ada@example.com\");\n\
                     return { who, cents: await codemode.price({ item: \"milk\" }) };"
                ]),
            )
            .await;
        assert_eq!(tool, json!({"who": "ada@example.com", "cents": 400}));
        // The code tool's description offers the imports the program just made.
        let described = server.call("Builder", "b", "describeTool", json!([])).await;
        let described = described.as_str().unwrap_or_default();
        assert!(
            described.contains("It may import npm packages: `import { z } from \"zod\"`"),
            "{described}"
        );
        assert_eq!(
            hits.load(Ordering::SeqCst),
            fetched,
            "later imports of the package are served from the cache"
        );
    }
    // Started again with the registry documents gone from the cache (so resolving a
    // version would have to ask the registry) and process isolation: the extension's
    // calls use the versions its install chose, and its bundle from the cache.
    std::fs::remove_dir_all(data.join("npm").join("meta")).unwrap();
    let before = hits.load(Ordering::SeqCst);
    let server = given_server(
        &agents,
        &data,
        &[
            "--isolation",
            "process",
            "--allow-npm",
            "--npm-registry",
            &registry,
        ],
    );
    let ok = server
        .call("Builder", "b", "use", json!(["grace@example.org"]))
        .await;
    assert_eq!(ok, json!({"valid": "grace@example.org", "id": "233ac984"}));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        before,
        "an installed extension's call never asks the registry"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issue17_extensions_and_dynamic_isolates_importing_packages_fail_clearly() {
    let (registry, _) = given_npm_registry();
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(dir.path(), &[("Builder.ts", BUILDER)]);
    let data = dir.path().join("data");
    {
        // Without --allow-npm: the install and the runs fail naming the import and the flag.
        let server = given_server(&agents, &data, &["--isolation", "inprocess"]);
        let body = json!({"name": "signup", "source": SIGNUP_EXTENSION});
        let (status, refused) = server
            .post("/agents/Builder/b/extensions", &body.to_string())
            .await;
        assert_eq!(status, 400, "{refused}");
        let text = refused.to_string();
        assert!(text.contains("`mini-schema`"), "{text}");
        assert!(text.contains("--allow-npm"), "{text}");
        assert!(text.contains("--npm-allow mini-schema"), "{text}");
        let (_, listed) = server.get("/agents/Builder/b/extensions").await;
        assert!(
            !listed.contains("signup"),
            "nothing was installed: {listed}"
        );
        for method in ["run", "tool"] {
            let (status, refused) = server
                .post(
                    &format!("/agents/Builder/b/{method}"),
                    &json!(["import { s } from \"mini-schema\";\nreturn 1;"]).to_string(),
                )
                .await;
            assert_ne!(status, 200, "{refused}");
            let text = refused.to_string();
            assert!(text.contains("`mini-schema`"), "{method}: {text}");
            assert!(text.contains("--allow-npm"), "{method}: {text}");
        }
        let (status, refused) = server
            .post(
                "/agents/Builder/b/load",
                &json!(["import { createHash } from \"node:crypto\";\nexport function check(e) { return e; }", "x"])
                    .to_string(),
            )
            .await;
        assert_ne!(status, 200, "{refused}");
        assert!(refused.to_string().contains("`node:crypto`"), "{refused}");
        assert!(refused.to_string().contains("--allow-npm"), "{refused}");
        // Nor does a code tool's description offer imports.
        let described = server.call("Builder", "b", "describeTool", json!([])).await;
        let described = described.as_str().unwrap_or_default();
        assert!(described.ends_with("No imports."), "{described}");
        assert!(!described.contains("npm"), "{described}");
    }
    // With it, a version the registry does not have: the package and the range are named.
    let server = given_server(
        &agents,
        &data,
        &[
            "--isolation",
            "inprocess",
            "--allow-npm",
            "--npm-registry",
            &registry,
        ],
    );
    let missing = SIGNUP_EXTENSION.replace("\"mini-schema\"", "\"npm:mini-schema@^9\"");
    let body = json!({"name": "signup", "source": missing});
    let (status, refused) = server
        .post("/agents/Builder/b/extensions", &body.to_string())
        .await;
    assert_eq!(status, 400, "{refused}");
    let text = refused.to_string();
    assert!(text.contains("`mini-schema` matches `^9`"), "{text}");
    assert!(text.contains("1.2.0"), "{text}");
}
