//! The execution ladder's network rungs on `islet serve` (issue 17 item 3): `--allow-fetch`
//! gives agents' code, /mcp's `execute` and chat agents `fetch` for the named hosts;
//! `--browser` gives `execute` code a `browser` and chat agents `browser_*` tools, every
//! page request under the same policy; the browser is gone once the server stops.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use axum::response::Html;
use serde_json::{Value, json};

use super::{ASSISTANT, McpClient, Server, given_agents_dir, given_server_env};
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
    let base_url = model.base_url(llm::ProviderKind::OpenAi);
    let mut args = vec![
        "--isolation",
        "inprocess",
        "--model",
        "openai:test-model",
        "--model-base-url",
        &base_url,
        "--allow-fetch",
        host,
        "--allow-private-fetch",
    ];
    args.extend_from_slice(rungs);
    given_server_env(&agents, &dir.join("data"), &args, &[])
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

/// Chromium processes whose command line names `profile_marker` (islet's profiles are
/// `islet-chromium-…` directories).
fn chromium_processes() -> usize {
    let out = Command::new("pgrep")
        .args(["-f", "islet-chromium"])
        .output()
        .expect("pgrep runs");
    String::from_utf8_lossy(&out.stdout).lines().count()
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

    // A graceful stop takes the browser with it.
    assert!(chromium_processes() > 0, "the browser ran");
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
    while chromium_processes() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "Chromium outlived islet serve"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
