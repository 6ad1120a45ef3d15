//! The console (issue 20) in real Chromium, driven by islet's own DevTools client, against
//! a real `islet serve` with the scripted model: login, agents, state, workspace, chat.
//! Each main view's screenshot lands in `target/console-screenshots/`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use browser::{Browser, BrowserConfig, Context, Page};
use codemode::egress::{FetchPolicy, Fetcher, HostRule};
use serde_json::{Value, json};

use super::{
    ASSISTANT, McpClient, Server, given_agents_dir, given_chat_server, given_chat_server_with,
    given_server,
};
use crate::support::client;

/// An agent whose state is whatever it is given: HTML in it must show as text.
const SHOWN: &str = r#"
import { Agent } from "agents";
export default class Shown extends Agent {
  async set(state: unknown) { await this.setState(state); return true; }
}
"#;

const XSS: &str =
    "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\"><b>bold</b>";

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/agents")
}

/// The example Counter and Notes, the test Assistant (a Think agent) and Shown.
fn given_console_agents(dir: &Path) -> PathBuf {
    let counter = std::fs::read_to_string(examples().join("counter.ts")).unwrap();
    let notes = std::fs::read_to_string(examples().join("notes.ts")).unwrap();
    given_agents_dir(
        dir,
        &[
            ("counter.ts", &counter),
            ("notes.ts", &notes),
            ("Assistant.ts", ASSISTANT),
            ("Shown.ts", SHOWN),
        ],
    )
}

/// A Chromium page at 1280×800 whose requests may reach `server` (loopback) and nothing else.
async fn given_page(server: &Server) -> (Arc<Browser>, Context, Arc<Page>) {
    let port = server.base.rsplit(':').next().unwrap();
    let policy = FetchPolicy {
        allowed_hosts: vec![HostRule::new(format!("127.0.0.1:{port}"))],
        allow_private: true,
        // The state event stream never ends, and the browser crate hands a page each
        // response whole: a short timeout lets those requests fail and retry quickly.
        timeout: Duration::from_secs(10),
        ..FetchPolicy::default()
    };
    let fetcher = Arc::new(Fetcher::new(policy).unwrap());
    let browser = Browser::new(BrowserConfig::default());
    let context = browser.context(fetcher).await.expect("Chromium starts");
    let number = context.open(None).await.unwrap();
    let page = context.page(number).unwrap();
    given_viewport(&page, 1280, 800).await;
    (browser, context, page)
}

async fn given_viewport(page: &Page, width: u32, height: u32) {
    page.cdp(
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 700 }),
    )
    .await
    .unwrap();
}

/// Opens the console and logs in with `token`.
async fn given_logged_in(page: &Page, server: &Server, token: &str) {
    page.goto(&format!("{}/", server.base)).await.unwrap();
    page.wait_for("#login:not([hidden]) #token", Duration::from_secs(10))
        .await
        .expect("the login page shows first");
    page.type_text("#token", token).await.unwrap();
    page.click("#login-form button[type=submit]").await.unwrap();
}

async fn eval(page: &Page, expression: &str) -> Value {
    page.evaluate_expression(expression).await.unwrap()
}

/// Waits until the text of `selector` contains `text`; on timeout, fails with what it was.
async fn wait_for_text(page: &Page, selector: &str, text: &str) {
    let probe = format!(
        "document.querySelector({})?.textContent ?? null",
        json!(selector)
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = eval(page, &probe).await;
        if now.as_str().is_some_and(|t| t.contains(text)) {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            let error = eval(page, "document.querySelector('#error')?.textContent").await;
            panic!("`{selector}` never contained {text:?}; it is {now}; the page's error: {error}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `expression` evaluates to `expected`; on timeout, fails with what it was.
async fn wait_for_value(page: &Page, expression: &str, expected: Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = eval(page, expression).await;
        if now == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "`{expression}` never became {expected}; it is {now}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn go(page: &Page, hash: &str) {
    eval(page, &format!("location.hash = {}", json!(hash))).await;
}

/// Saves the viewport as `target/console-screenshots/<name>.png`.
async fn screenshot(page: &Page, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = base64::engine::general_purpose::STANDARD
        .decode(page.screenshot(false).await.unwrap())
        .unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name} is a PNG");
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// The scripted model of a chat with a tool card: an `execute` call writing
/// `/hello.txt`, then the answer "Wrote hello.txt." (9 tokens in, 3 out).
async fn given_execute_then_answer_model(key: &str) -> llm::scripted::ScriptedModel {
    let model = llm::scripted::ScriptedModel::start_with_key(key)
        .await
        .unwrap();
    model.push(llm::scripted::Reply::new().tool_call(
        "call_1",
        "execute",
        json!({"code": "async () => { await workspace.write({path: '/hello.txt', content: 'hi'}); return 'written' }"}),
    ));
    model.push(
        llm::scripted::Reply::new()
            .text_chunks(["Wrote ", "hello.txt."])
            .usage(9, 3),
    );
    model
}

/// What the console views show: a counter at 5, a note with HTML in it, and a state
/// holding a script (which must render as text).
async fn given_console_data(server: &Server) {
    server
        .call("Counter", "alice", "increment", json!([5]))
        .await;
    server
        .call(
            "Notes",
            "alice",
            "add",
            json!(["todo.md", "- buy <b>milk</b>"]),
        )
        .await;
    server
        .call("Shown", "x", "set", json!([{ "html": XSS }]))
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn issue20_console_logs_in_and_shows_agents_state_workspace_and_a_chat_tool_card() {
    const KEY: &str = "sk-console-test";
    let model = given_execute_then_answer_model(KEY).await;
    let dir = tempfile::tempdir().unwrap();
    let agents = given_console_agents(dir.path());
    let server = given_chat_server(
        &agents,
        &dir.path().join("data"),
        &model,
        &[("OPENAI_API_KEY", KEY)],
    );
    given_console_data(&server).await;
    let (browser, _context, page) = given_page(&server).await;

    given_logged_in(&page, &server, &server.token).await;
    // The example agents are listed.
    page.wait_for("[data-agent='Counter/alice']", Duration::from_secs(20))
        .await
        .unwrap();
    for agent in ["Notes/alice", "Shown/x"] {
        page.wait_for(&format!("[data-agent='{agent}']"), Duration::from_secs(5))
            .await
            .unwrap();
    }
    // Each agent says whether it is active or hibernating, as the API does.
    let (_, listed) = server.get("/agents").await;
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let counter = listed["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["class"] == "Counter")
        .unwrap()
        .clone();
    let label = if counter["active"] == json!(true) {
        "active · created"
    } else {
        assert_eq!(counter["active"], json!(false), "{listed}");
        "hibernating · created"
    };
    wait_for_text(&page, "[data-agent='Counter/alice'] .agent-meta", label).await;
    // The token stays in this tab's session storage, nowhere else.
    assert_eq!(
        eval(&page, "sessionStorage.getItem('islet-token')").await,
        json!(server.token)
    );
    assert_eq!(eval(&page, "localStorage.length").await, json!(0));
    // The filter narrows the list.
    page.type_text("#agent-filter", "note").await.unwrap();
    wait_for_value(
        &page,
        "[...document.querySelectorAll('[data-agent]')].map(b => b.dataset.agent)",
        json!(["Notes/alice"]),
    )
    .await;
    eval(&page, "(() => { const f = document.querySelector('#agent-filter'); f.value = ''; f.dispatchEvent(new Event('input')); })()").await;

    // An agent's state.
    page.click("[data-agent='Counter/alice']").await.unwrap();
    wait_for_text(&page, "#state", "\"count\": 5").await;
    screenshot(&page, "agents").await;

    // HTML in agent state is text: no element made from it, no script run.
    go(&page, "#/agents/Shown/x").await;
    wait_for_text(&page, "#state", "<script>window.__pwned = 1</script>").await;
    assert_eq!(
        eval(&page, "document.querySelectorAll('#agent-detail script, #agent-detail img, #agent-detail b').length").await,
        json!(0)
    );
    assert_eq!(eval(&page, "window.__pwned ?? null").await, Value::Null);

    // Workspace: browse into a directory, view a file (its HTML as text).
    go(&page, "#/agents/Notes/alice/workspace").await;
    page.wait_for("[data-path='/notes']", Duration::from_secs(10))
        .await
        .unwrap();
    page.click("[data-path='/notes']").await.unwrap();
    page.wait_for("[data-path='/notes/todo.md']", Duration::from_secs(10))
        .await
        .unwrap();
    page.click("[data-path='/notes/todo.md']").await.unwrap();
    wait_for_text(&page, "#file", "- buy <b>milk</b>").await;
    assert_eq!(
        eval(&page, "document.querySelectorAll('#file b').length").await,
        json!(0)
    );
    screenshot(&page, "workspace").await;

    // Download hands over the file as fetched with the token (a blob the page links to).
    eval(
        &page,
        "(() => { const make = URL.createObjectURL; URL.createObjectURL = (blob) => { window.__downloaded = blob; return make(blob); }; })()",
    )
    .await;
    page.click("#download").await.unwrap();
    assert_eq!(
        eval(&page, "window.__downloaded?.text() ?? null").await,
        json!("- buy <b>milk</b>\n")
    );

    // Delete asks first; confirmed, the file is gone and the directory shows again.
    page.click("#delete").await.unwrap();
    page.click("#confirm-delete").await.unwrap();
    page.wait_for("#upload-form", Duration::from_secs(10))
        .await
        .unwrap();
    let (status, _) = server
        .get("/agents/Notes/alice/workspace/notes/todo.md")
        .await;
    assert_eq!(status, 404);
    // Upload into the directory.
    eval(
        &page,
        "(() => { const t = new DataTransfer(); t.items.add(new File(['uploaded <i>text</i>'], 'up.txt')); document.querySelector('#upload-file').files = t.files; })()",
    )
    .await;
    page.click("#upload-form button[type=submit]")
        .await
        .unwrap();
    page.wait_for("[data-path='/notes/up.txt']", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        server
            .get("/agents/Notes/alice/workspace/notes/up.txt")
            .await,
        (200, "uploaded <i>text</i>".to_owned())
    );

    // Schedules: listed with their payload (as text), cancelled after a confirmation.
    server
        .call(
            "Notes",
            "alice",
            "remindIn",
            json!([3600, "<b>water</b> the plants"]),
        )
        .await;
    go(&page, "#/agents/Notes/alice/schedules").await;
    wait_for_text(&page, "#schedules", "<b>water</b> the plants").await;
    wait_for_text(&page, "#schedules", "remind").await;
    assert_eq!(
        eval(&page, "document.querySelectorAll('#schedules b').length").await,
        json!(0)
    );
    screenshot(&page, "schedules").await;
    page.click(".cancel-schedule").await.unwrap();
    page.click(".confirm-cancel").await.unwrap();
    wait_for_text(&page, "#schedules", "No schedules.").await;
    let (_, left) = server.get("/agents/Notes/alice/schedules").await;
    assert_eq!(
        serde_json::from_str::<Value>(&left).unwrap()["schedules"],
        json!([])
    );

    // Chat with a Think agent: the answer streams in, the tool call is a card.
    go(&page, "#/chat/Assistant/me").await;
    page.wait_for(
        "#view-chat:not([hidden]) #chat-input",
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    // An agent not created yet has no sessions, which is no error.
    wait_for_text(&page, "#session-list", "No sessions yet.").await;
    assert_eq!(
        eval(&page, "document.querySelector('#error').textContent").await,
        json!("")
    );
    page.type_text("#chat-input", "Say hi in a file")
        .await
        .unwrap();
    page.click("#send").await.unwrap();
    wait_for_text(&page, "#messages", "Wrote hello.txt.").await;
    wait_for_text(
        &page,
        ".tool[data-tool='execute'] .tool-input",
        "workspace.write",
    )
    .await;
    wait_for_text(&page, ".tool[data-tool='execute'] .tool-output", "written").await;
    wait_for_text(&page, ".tool[data-tool='execute'] h3", "done in").await;
    // The turn's steps and tokens (the scripted model reports 9 in, 3 out).
    wait_for_text(&page, ".turn-usage", "2 steps · 9 in / 3 out tokens").await;
    // The turn's session is listed, and the page's address names it.
    wait_for_text(&page, "#session-list", "messages").await;
    let hash = eval(&page, "location.hash").await;
    assert!(
        hash.as_str().unwrap().starts_with("#/chat/Assistant/me/"),
        "{hash}"
    );
    assert_eq!(
        eval(&page, "document.querySelector('#error').textContent").await,
        json!("")
    );
    screenshot(&page, "chat").await;
    // Reopening the session shows its history from the server.
    eval(&page, "location.reload()").await;
    page.wait_for("#messages .msg.user", Duration::from_secs(20))
        .await
        .unwrap();
    wait_for_text(&page, "#messages", "Wrote hello.txt.").await;

    // Regenerate: a second answer as a new branch, and a switch between the versions.
    model.push(llm::scripted::Reply::new().text_chunks(["Second ", "answer."]));
    page.wait_for("#regenerate:not([disabled])", Duration::from_secs(10))
        .await
        .unwrap();
    page.click("#regenerate").await.unwrap();
    wait_for_text(&page, ".branch-label", "v2 of 2").await;
    wait_for_text(&page, "#messages", "Second answer.").await;
    screenshot(&page, "chat-branches").await;
    page.click(".branch-prev").await.unwrap();
    wait_for_text(&page, ".branch-label", "v1 of 2").await;
    wait_for_text(&page, "#messages", "Wrote hello.txt.").await;
    let shown = eval(&page, "document.querySelector('#messages').textContent").await;
    assert!(
        !shown.as_str().unwrap().contains("Second answer."),
        "{shown}"
    );
    page.click(".branch-next").await.unwrap();
    wait_for_text(&page, ".branch-label", "v2 of 2").await;
    wait_for_text(&page, "#messages", "Second answer.").await;

    // Stop: a turn whose model stalls ends when the stop button is pressed.
    model.push(
        llm::scripted::Reply::new()
            .text("Thinking about")
            .then_stall(),
    );
    let asked = model.requests().len();
    page.type_text("#chat-input", "Take your time")
        .await
        .unwrap();
    page.click("#send").await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while model.requests().len() == asked {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the turn never reached the model"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    page.click("#stop").await.unwrap();
    wait_for_text(&page, "#messages", "Stopped.").await;
    wait_for_value(
        &page,
        "document.querySelector('#send').disabled",
        json!(false),
    )
    .await;

    // Fork from the first question: a new session holding the history up to it.
    let before = eval(&page, "location.hash").await;
    page.click("#messages .msg.user .fork").await.unwrap();
    wait_for_value(
        &page,
        &format!("location.hash !== {before} && location.hash.startsWith('#/chat/Assistant/me/')"),
        json!(true),
    )
    .await;
    wait_for_value(
        &page,
        "document.querySelectorAll('#session-list li button').length",
        json!(2),
    )
    .await;
    wait_for_text(&page, "#messages .msg.user", "Say hi in a file").await;
    let shown = eval(&page, "document.querySelector('#messages').textContent").await;
    assert!(
        !shown.as_str().unwrap().contains("Wrote hello.txt."),
        "{shown}"
    );

    // Search across sessions: hits with the matched words marked; a hit opens its session.
    page.type_text("#session-search", "time").await.unwrap();
    page.click("#session-search-form button[type=submit]")
        .await
        .unwrap();
    wait_for_text(&page, "#search-results mark", "time").await;
    let hit = eval(
        &page,
        "document.querySelector('#search-results [data-session]').dataset.session",
    )
    .await;
    page.click("#search-results [data-session]").await.unwrap();
    wait_for_value(
        &page,
        &format!("location.hash.endsWith('/' + {hit})"),
        json!(true),
    )
    .await;
    wait_for_text(&page, "#messages", "Take your time").await;
    screenshot(&page, "chat-search").await;

    // Regenerate an earlier answer (not the latest): a third version of the first question.
    model.push(llm::scripted::Reply::new().text("Third answer."));
    page.click("#messages .msg.assistant .regen").await.unwrap();
    wait_for_text(&page, ".branch-label", "v3 of 3").await;
    wait_for_text(&page, "#messages", "Third answer.").await;
    let shown = eval(&page, "document.querySelector('#messages').textContent").await;
    assert!(
        !shown.as_str().unwrap().contains("Take your time"),
        "{shown}"
    );

    // Compact: the summary overlays the stretch before the latest question, which stays.
    model.push(llm::scripted::Reply::new().text("Another answer."));
    page.type_text("#chat-input", "And one more").await.unwrap();
    page.click("#send").await.unwrap();
    wait_for_text(&page, "#messages", "Another answer.").await;
    page.wait_for("#compact:not([disabled])", Duration::from_secs(10))
        .await
        .unwrap();
    model.push(llm::scripted::Reply::new().text("SUMMARY: a file was wanted."));
    page.click("#compact").await.unwrap();
    wait_for_text(&page, ".compaction summary", "Compacted").await;
    wait_for_text(&page, ".compaction-summary", "SUMMARY: a file was wanted.").await;
    wait_for_value(
        &page,
        "document.querySelectorAll('#messages .compacted').length > 0",
        json!(true),
    )
    .await;
    screenshot(&page, "chat-compacted").await;

    // The memory view answers even with no profile attached.
    go(&page, "#/memory").await;
    wait_for_text(&page, "#profile-list", "No memory profiles").await;
    screenshot(&page, "memory").await;

    // Dark theme, following the system's preference.
    let light = eval(&page, "getComputedStyle(document.body).backgroundColor").await;
    page.cdp(
        "Emulation.setEmulatedMedia",
        json!({ "features": [{ "name": "prefers-color-scheme", "value": "dark" }] }),
    )
    .await
    .unwrap();
    let dark = eval(&page, "getComputedStyle(document.body).backgroundColor").await;
    assert_ne!(light, dark, "the dark theme changes the background");
    screenshot(&page, "memory-dark").await;

    // Phone width: the same page, one column.
    given_viewport(&page, 390, 844).await;
    go(&page, "#/agents/Counter/alice").await;
    wait_for_text(&page, "#state", "\"count\": 5").await;
    screenshot(&page, "agents-phone").await;

    // Logging out forgets the token and every piece of data the page held.
    page.click("#logout").await.unwrap();
    page.wait_for("#login:not([hidden])", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        eval(&page, "sessionStorage.getItem('islet-token')").await,
        Value::Null
    );
    let left = eval(&page, "document.body.textContent").await;
    for data in ["alice", "count", "Say hi in a file", "Shown"] {
        assert!(
            !left.as_str().unwrap().contains(data),
            "{data} left in {left}"
        );
    }
    assert_eq!(
        eval(
            &page,
            "[...document.querySelectorAll('input, textarea')].map(i => i.value).join('')"
        )
        .await,
        json!("")
    );
    browser.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn issue20_console_wrong_token_shows_the_login_again_and_no_data() {
    let dir = tempfile::tempdir().unwrap();
    let agents = given_console_agents(dir.path());
    let server = given_server(&agents, &dir.path().join("data"), &[]);
    server
        .call("Shown", "secret", "set", json!([{ "s": "classified" }]))
        .await;
    let (browser, _context, page) = given_page(&server).await;

    given_logged_in(&page, &server, "not-the-token").await;
    wait_for_text(&page, "#login-error", "refused that token").await;
    assert_eq!(
        eval(&page, "document.querySelector('#app').hidden").await,
        json!(true)
    );
    assert_eq!(
        eval(&page, "sessionStorage.getItem('islet-token')").await,
        Value::Null,
        "a refused token is not kept"
    );
    screenshot(&page, "login").await;
    // A view's address without a token shows the login, not the agent.
    go(&page, "#/agents/Shown/secret").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        eval(&page, "document.querySelector('#login').hidden").await,
        json!(false)
    );
    let body = eval(&page, "document.body.innerText").await;
    assert!(!body.as_str().unwrap().contains("classified"), "{body}");
    assert!(!body.as_str().unwrap().contains("Shown"), "{body}");

    // The right token gets in.
    given_logged_in(&page, &server, &server.token).await;
    page.wait_for("[data-agent='Shown/secret']", Duration::from_secs(20))
        .await
        .unwrap();
    browser.shutdown().await;
}

/// The first load is the page, its script and its stylesheet; the assets need no token,
/// the API behind them does.
#[tokio::test(flavor = "multi_thread")]
async fn issue20_console_first_load_is_at_most_300_kb_and_needs_no_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = given_server(&examples(), &dir.path().join("data"), &[]);
    let mut total = 0;
    for path in ["/", "/console/app.js", "/console/app.css"] {
        let response = client()
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        total += response.bytes().await.unwrap().len();
    }
    let page = client()
        .get(format!("{}/", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Every asset the page loads is counted above.
    let loaded: Vec<&str> = page
        .split(['"', '\''])
        .filter(|s| s.starts_with("/console/"))
        .collect();
    assert_eq!(loaded, ["/console/app.css", "/console/app.js"], "{page}");
    assert!(total <= 300 * 1024, "first load is {total} bytes");
    let agents = client()
        .get(format!("{}/agents", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        agents.status().as_u16(),
        401,
        "the API still needs the token"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issue20_console_recalls_and_forgets_a_memory_after_confirmation() {
    let dir = tempfile::tempdir().unwrap();
    let agents = given_console_agents(dir.path());
    let server = given_server(
        &agents,
        &dir.path().join("data"),
        &["--isolation", "inprocess", "--memory", "team/alice"],
    );
    for content in ["Bob prefers tea", "Carol rides a <b>bike</b>"] {
        let (status, reply) = server
            .post(
                "/memory/team/alice/remember",
                &json!({ "content": content, "type": "fact" }).to_string(),
            )
            .await;
        assert_eq!(status, 200, "{reply}");
    }
    let (browser, _context, page) = given_page(&server).await;
    given_logged_in(&page, &server, &server.token).await;
    page.wait_for("#view-agents:not([hidden])", Duration::from_secs(20))
        .await
        .unwrap();
    go(&page, "#/memory").await;
    page.wait_for("[data-profile='team/alice']", Duration::from_secs(10))
        .await
        .unwrap();
    page.click("[data-profile='team/alice']").await.unwrap();
    wait_for_text(&page, "#memories", "Carol rides a <b>bike</b>").await;
    assert_eq!(
        eval(&page, "document.querySelectorAll('#memories b').length").await,
        json!(0)
    );

    page.type_text("#recall-query", "what does bob drink")
        .await
        .unwrap();
    page.click("#recall-form button[type=submit]")
        .await
        .unwrap();
    wait_for_value(
        &page,
        "document.querySelector('#memories .memory div')?.textContent",
        json!("Bob prefers tea"),
    )
    .await;
    screenshot(&page, "memory-recall").await;

    // Forget asks first; Cancel keeps the memory.
    let forget = "#memories .memory:first-child button";
    page.click(forget).await.unwrap();
    page.wait_for(".confirm-forget", Duration::from_secs(5))
        .await
        .unwrap();
    page.click("#memories .memory:first-child .confirm-forget + button")
        .await
        .unwrap();
    page.wait_for(forget, Duration::from_secs(5)).await.unwrap();
    let (_, listed) = server.post("/memory/team/alice/list", "{}").await;
    assert_eq!(listed["memories"].as_array().unwrap().len(), 2, "{listed}");

    // Confirmed, it is gone from the page and from the profile.
    page.click(forget).await.unwrap();
    page.wait_for(".confirm-forget", Duration::from_secs(5))
        .await
        .unwrap();
    page.click(".confirm-forget").await.unwrap();
    wait_for_value(
        &page,
        "[...document.querySelectorAll('#memories .memory div')].map(d => d.textContent).includes('Bob prefers tea')",
        json!(false),
    )
    .await;
    let (_, listed) = server.post("/memory/team/alice/list", "{}").await;
    let left: Vec<&str> = listed["memories"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(left, ["Carol rides a <b>bike</b>"], "{listed}");
    browser.shutdown().await;
}

/// Chromium driven over DevTools directly, its requests not intercepted, so server-sent
/// events reach the page as they happen (the `browser` crate's pages get every response
/// whole, which a never-ending state stream never is).
struct DirectChromium {
    child: std::process::Child,
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    session: String,
    next_id: u64,
    _profile: tempfile::TempDir,
}

impl Drop for DirectChromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl DirectChromium {
    async fn start() -> DirectChromium {
        use std::io::BufRead as _;
        let profile = tempfile::tempdir().unwrap();
        let program = ["chromium", "chromium-browser", "google-chrome"]
            .into_iter()
            .find(|p| {
                std::process::Command::new(p)
                    .arg("--version")
                    .output()
                    .is_ok()
            })
            .expect("Chromium is installed (apt-get install chromium)");
        let mut child = std::process::Command::new(program)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--remote-debugging-port=0",
                "--window-size=1280,800",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let url = tokio::task::spawn_blocking(move || {
            let mut lines = std::io::BufReader::new(stderr).lines();
            let url = lines
                .by_ref()
                .map_while(Result::ok)
                .find_map(|l| l.strip_prefix("DevTools listening on ").map(str::to_owned))
                .expect("Chromium printed its DevTools address");
            // Keep draining, so Chromium never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            url
        })
        .await
        .unwrap();
        let (socket, _) = tokio_tungstenite::connect_async(url.trim()).await.unwrap();
        let mut chromium = DirectChromium {
            child,
            socket,
            session: String::new(),
            next_id: 0,
            _profile: profile,
        };
        let target = chromium
            .send(None, "Target.createTarget", json!({ "url": "about:blank" }))
            .await;
        let attached = chromium
            .send(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target["targetId"], "flatten": true }),
            )
            .await;
        chromium.session = attached["sessionId"].as_str().unwrap().to_owned();
        chromium
    }

    async fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        use futures::{SinkExt as _, StreamExt as _};
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        self.socket
            .send(tokio_tungstenite::tungstenite::Message::text(
                message.to_string(),
            ))
            .await
            .unwrap();
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(20), self.socket.next())
                .await
                .expect("Chromium answers")
                .expect("the DevTools socket stays open")
                .unwrap();
            let Ok(text) = frame.to_text() else { continue };
            let Ok(answer) = serde_json::from_str::<Value>(text) else {
                continue;
            };
            if answer["id"] == json!(id) {
                assert!(answer.get("error").is_none(), "{method}: {answer}");
                return answer["result"].clone();
            }
        }
    }

    async fn eval(&mut self, expression: &str) -> Value {
        let session = self.session.clone();
        let answer = self
            .send(
                Some(&session),
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
            )
            .await;
        answer["result"]["value"].clone()
    }

    /// Waits until `expression` is true in the page.
    async fn wait(&mut self, expression: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while self.eval(expression).await != json!(true) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "`{expression}` never held; the page: {}",
                self.eval("document.body.innerText").await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn issue20_console_state_updates_live_when_a_method_is_called() {
    let dir = tempfile::tempdir().unwrap();
    let agents = given_console_agents(dir.path());
    let server = given_server(&agents, &dir.path().join("data"), &[]);
    server
        .call("Counter", "alice", "increment", json!([5]))
        .await;
    let mut chromium = DirectChromium::start().await;
    let session = chromium.session.clone();
    chromium
        .send(
            Some(&session),
            "Page.navigate",
            json!({ "url": format!("{}/", server.base) }),
        )
        .await;
    // The login shows once the console's script runs (before, the form has no handler).
    chromium
        .wait("!!document.querySelector('#login:not([hidden]) #token')")
        .await;
    chromium
        .eval(&format!(
            "document.querySelector('#token').value = {}; document.querySelector('#login-form').requestSubmit(); true",
            json!(server.token)
        ))
        .await;
    chromium
        .wait("!!document.querySelector(\"[data-agent='Counter/alice']\")")
        .await;
    chromium
        .eval("location.hash = '#/agents/Counter/alice'")
        .await;
    chromium
        .wait("document.querySelector('#state')?.textContent.includes('\"count\": 5')")
        .await;
    // The page stays as it is (no reload, no re-fetch of …/state): only the event stream
    // can bring the change.
    chromium.eval("window.__samePage = true").await;
    // The stream's first event (the state as it starts) has arrived: it is subscribed.
    chromium
        .wait("document.querySelector('#state-status')?.textContent.startsWith('Live')")
        .await;
    // The call from the console's own form; the result shows, and the state follows.
    chromium
        .eval(
            "document.querySelector('#call-method').value = 'increment'; document.querySelector('#call-args').value = '[2]'; document.querySelector('#call-form').requestSubmit(); true",
        )
        .await;
    chromium
        .wait("document.querySelector('#call-result')?.textContent === '→ 7'")
        .await;
    chromium
        .wait("document.querySelector('#state')?.textContent.includes('\"count\": 7')")
        .await;
    assert_eq!(
        chromium.eval("window.__samePage === true").await,
        json!(true)
    );
    let fetches = chromium
        .eval("performance.getEntriesByType('resource').filter(e => e.name.endsWith('/agents/Counter/alice/state')).length")
        .await;
    assert_eq!(fetches, json!(1), "the state was read once, then streamed");
    // A call from elsewhere shows too.
    server
        .call("Counter", "alice", "increment", json!([1]))
        .await;
    chromium
        .wait("document.querySelector('#state')?.textContent.includes('\"count\": 8')")
        .await;
    // Arguments that are no JSON array are refused in the page, with what to write.
    chromium
        .eval("document.querySelector('#call-args').value = '{\"by\": 1}'; document.querySelector('#call-form').requestSubmit(); true")
        .await;
    chromium
        .wait("document.querySelector('#error').textContent.includes('JSON array')")
        .await;
}

/// Large lists come in pages of 200: "Load more" fetches the next, and a filter says when
/// it only looked at the agents loaded so far.
#[tokio::test(flavor = "multi_thread")]
async fn issue20_console_pages_a_long_agent_list() {
    let dir = tempfile::tempdir().unwrap();
    let agents = given_console_agents(dir.path());
    let server = given_server(
        &agents,
        &dir.path().join("data"),
        &["--isolation", "inprocess"],
    );
    for batch in (0..250).collect::<Vec<u32>>().chunks(25) {
        futures::future::join_all(batch.iter().map(|i| {
            let path = format!("/agents/Shown/a{i:03}/set");
            let server = &server;
            async move {
                let (status, reply) = server.post(&path, "[1]").await;
                assert_eq!(status, 200, "{reply}");
            }
        }))
        .await;
    }
    let (browser, _context, page) = given_page(&server).await;
    given_logged_in(&page, &server, &server.token).await;
    page.wait_for("[data-agent='Shown/a000']", Duration::from_secs(20))
        .await
        .unwrap();
    let count = "document.querySelectorAll('[data-agent]').length";
    assert_eq!(eval(&page, count).await, json!(200));
    page.type_text("#agent-filter", "a249").await.unwrap();
    wait_for_text(&page, "#agent-list", "Filtered the 200 agents loaded").await;
    page.click("#agents-more").await.unwrap();
    wait_for_value(&page, count, json!(1)).await;
    assert_eq!(
        eval(
            &page,
            "document.querySelector('[data-agent]').dataset.agent"
        )
        .await,
        json!("Shown/a249")
    );
    wait_for_value(
        &page,
        "document.querySelector('#agents-more').hidden",
        json!(true),
    )
    .await;
    browser.shutdown().await;
}

/// Code of an `/mcp` execute that logs, then fails on line 4 (column past `n.`).
const FAILING_CODE: &str = "async () => {\n  console.log(\"before <b>x</b>\");\n  const n = await agents.Counter(\"alice\").get();\n  return n.nope.deeper;\n}";

/// Executions: `/mcp` programs, Think tool calls and turns, method calls, listed by the
/// API with filters and in the console, where a failed one opens on its error's position.
#[tokio::test(flavor = "multi_thread")]
async fn issue20_console_lists_executions_and_opens_a_failed_one_at_its_error() {
    const KEY: &str = "sk-console-exec";
    let model = llm::scripted::ScriptedModel::start_with_key(KEY)
        .await
        .unwrap();
    model.push(llm::scripted::Reply::new().tool_call(
        "call_1",
        "execute",
        json!({"code": "async () => {\n  return missingThing.value;\n}"}),
    ));
    model.push(llm::scripted::Reply::new().text_chunks(["It failed."]));
    let dir = tempfile::tempdir().unwrap();
    let agents = given_console_agents(dir.path());
    let server = given_chat_server(
        &agents,
        &dir.path().join("data"),
        &model,
        &[("OPENAI_API_KEY", KEY)],
    );
    server
        .call("Counter", "alice", "increment", json!([5]))
        .await;
    let (status, _) = server.post("/agents/Counter/alice/nope", "[]").await;
    assert_eq!(status, 404);
    let mut mcp = McpClient::connect(&format!("{}/mcp", server.base), &server.token).await;
    let result = mcp
        .request(
            "tools/call",
            json!({"name": "execute", "arguments": {"code": FAILING_CODE}}),
        )
        .await;
    assert_eq!(result["isError"], json!(true), "{result}");
    let chat = client()
        .post(format!("{}/agents/Assistant/me/chat", server.base))
        .bearer_auth(&server.token)
        .json(&json!({"messages": [{"role": "user", "parts": [{"type": "text", "text": "go"}]}]}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(chat.contains("It failed."), "{chat}");

    // The API: newest first, each kind recorded, filters by outcome, agent and kind.
    let list = |query: &'static str| {
        let server = &server;
        async move {
            let (status, body) = server.get(&format!("/executions{query}")).await;
            assert_eq!(status, 200, "{body}");
            serde_json::from_str::<Value>(&body).unwrap()["executions"]
                .as_array()
                .unwrap()
                .clone()
        }
    };
    let all = list("").await;
    let kinds: Vec<&str> = all.iter().filter_map(|x| x["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        ["turn", "tool", "execute", "call", "call"],
        "{all:?}"
    );
    let execute = &all[2];
    assert_eq!(execute["outcome"], json!("TypeError"), "{execute}");
    assert_eq!(execute["code"], json!(FAILING_CODE));
    assert_eq!(execute["line"], json!(4), "{execute}");
    assert!(execute["column"].as_u64().is_some(), "{execute}");
    assert_eq!(execute["logs"], json!(["before <b>x</b>"]));
    assert!(execute["hostCalls"].as_u64().unwrap() >= 1, "{execute}");
    let tool = &all[1];
    assert_eq!(
        (&tool["agent"], &tool["outcome"], &tool["line"]),
        (&json!("Assistant/me"), &json!("ReferenceError"), &json!(2)),
        "{tool}"
    );
    assert_eq!(all[0]["outcome"], json!("ok"), "the turn itself answered");
    let session = all[0]["session"]
        .as_str()
        .expect("a turn's session")
        .to_owned();
    assert_eq!(tool["session"], json!(session), "{tool}");
    assert_eq!(all[3]["outcome"], json!("UNKNOWN_METHOD"), "{}", all[3]);
    let ok = list("?outcome=ok&agent=Counter/alice").await;
    assert_eq!(ok.len(), 1, "{ok:?}");
    assert_eq!(ok[0]["label"], json!("increment"));
    let failed = list("?outcome=error").await;
    assert_eq!(failed.len(), 3, "{failed:?}");
    assert_eq!(list("?kind=execute&limit=5").await.len(), 1);
    let (status, _) = server.get("/executions?limit=0").await;
    assert_eq!(status, 400);
    let anonymous = client()
        .get(format!("{}/executions", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401, "no token, no executions");

    // The console: filtered to failures, the /mcp one opens on line 4 with the column
    // marked; agent text (the log's <b>) stays text.
    let (browser, _context, page) = given_page(&server).await;
    given_logged_in(&page, &server, &server.token).await;
    page.wait_for("#view-agents:not([hidden])", Duration::from_secs(20))
        .await
        .unwrap();
    go(&page, "#/executions").await;
    page.wait_for("[data-execution]", Duration::from_secs(10))
        .await
        .unwrap();
    eval(
        &page,
        "document.querySelector('#executions-outcome').value = 'error'",
    )
    .await;
    page.click("#executions-filter button[type=submit]")
        .await
        .unwrap();
    wait_for_value(
        &page,
        "[...document.querySelectorAll('[data-execution]')].map(b => b.dataset.outcome).join()",
        json!("ReferenceError,TypeError,UNKNOWN_METHOD"),
    )
    .await;
    page.click(&format!("[data-execution='{}']", execute["id"]))
        .await
        .unwrap();
    wait_for_text(&page, "#execution-error", "TypeError").await;
    assert_eq!(
        eval(
            &page,
            "document.querySelector('#execution-code .error-line')?.textContent"
        )
        .await,
        json!("  return n.nope.deeper;")
    );
    let column = execute["column"].as_u64().unwrap() as usize;
    assert_eq!(
        eval(
            &page,
            "document.querySelector('#execution-code .error-pos').textContent"
        )
        .await,
        json!("  return n.nope.deeper;"[column - 1..column])
    );
    assert_eq!(
        eval(
            &page,
            "document.querySelector('#execution-logs').textContent"
        )
        .await,
        json!("before <b>x</b>")
    );
    assert_eq!(
        eval(
            &page,
            "document.querySelectorAll('#execution-detail b').length"
        )
        .await,
        json!(0)
    );
    screenshot(&page, "executions").await;
    // A tool call opens its conversation.
    page.click(&format!("[data-execution='{}']", tool["id"]))
        .await
        .unwrap();
    wait_for_text(&page, "#execution-code .error-line", "missingThing.value").await;
    page.click("#execution-session").await.unwrap();
    wait_for_text(&page, "#messages", "It failed.").await;
    assert_eq!(
        eval(&page, "location.hash").await,
        json!(format!("#/chat/Assistant/me/{session}"))
    );
    go(&page, &format!("#/executions/{}", execute["id"])).await;
    wait_for_text(&page, "#execution-error", "TypeError").await;
    // At phone width the list and the detail stack; nothing is wider than the screen.
    given_viewport(&page, 390, 844).await;
    wait_for_value(
        &page,
        "document.documentElement.scrollWidth <= 390",
        json!(true),
    )
    .await;
    screenshot(&page, "executions-phone").await;
    browser.shutdown().await;

    // A turn that fails (the model has no answer left) is recorded as failed, with why.
    let failed_turn = client()
        .post(format!("{}/agents/Assistant/me/chat", server.base))
        .bearer_auth(&server.token)
        .json(
            &json!({"messages": [{"role": "user", "parts": [{"type": "text", "text": "again"}]}]}),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(failed_turn.contains("\"type\":\"error\""), "{failed_turn}");
    let turns = list("?kind=turn").await;
    assert_eq!(turns.len(), 2, "{turns:?}");
    assert_eq!(turns[0]["outcome"], json!("TurnError"), "{}", turns[0]);
    assert!(
        turns[0]["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{}",
        turns[0]
    );
}

/// An agent with one SQL table whose name needs quoting and whose rows hold HTML.
const TABLED: &str = r#"
import { Agent } from "agents";
export default class Tabled extends Agent {
  async fill(n: number) {
    await this.sql`CREATE TABLE IF NOT EXISTS "odd ""name""" (id INTEGER PRIMARY KEY, note TEXT)`;
    for (let i = 0; i < n; i++) {
      await this.sql`INSERT INTO "odd ""name""" (note) VALUES (${"<i>row</i> " + i})`;
    }
    return n;
  }
}
"#;

/// The SQL browser: the agent's own tables (not islet's), pages of rows, read-only, and
/// names that are not tables refused rather than run.
#[tokio::test(flavor = "multi_thread")]
async fn issue20_console_browses_an_agents_sql_tables_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(dir.path(), &[("Tabled.ts", TABLED)]);
    let server = given_server(
        &agents,
        &dir.path().join("data"),
        &["--isolation", "inprocess"],
    );
    assert_eq!(
        server.call("Tabled", "t", "fill", json!([60])).await,
        json!(60)
    );
    let (status, body) = server.get("/agents/Tabled/t/db/tables").await;
    assert_eq!(status, 200, "{body}");
    let tables: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        tables["tables"],
        json!([{ "name": "odd \"name\"", "columns": ["id", "note"], "rows": 60 }]),
        "only the agent's own table"
    );
    let (status, body) = server
        .get("/agents/Tabled/t/db/tables/odd%20%22name%22?limit=50&offset=50")
        .await;
    assert_eq!(status, 200, "{body}");
    let page: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["rows"].as_array().unwrap().len(), 10, "{page}");
    assert_eq!(
        page["rows"][0],
        json!({ "id": 51, "note": "<i>row</i> 50" })
    );
    for not_a_table in [
        "_islet_kv",
        "sqlite_schema",
        "odd%20%22name%22%3B%20DROP%20TABLE%20x",
    ] {
        let (status, body) = server
            .get(&format!("/agents/Tabled/t/db/tables/{not_a_table}"))
            .await;
        assert_eq!(status, 404, "{not_a_table}: {body}");
    }
    let (status, _) = server
        .get("/agents/Tabled/t/db/tables/odd%20%22name%22?limit=0")
        .await;
    assert_eq!(status, 400);

    let (browser, _context, page) = given_page(&server).await;
    given_logged_in(&page, &server, &server.token).await;
    page.wait_for("[data-agent='Tabled/t']", Duration::from_secs(20))
        .await
        .unwrap();
    go(&page, "#/agents/Tabled/t/tables").await;
    page.wait_for("[data-table]", Duration::from_secs(10))
        .await
        .unwrap();
    eval(&page, "document.querySelector('[data-table]').click()").await;
    wait_for_text(&page, "#rows-range", "Rows 1–50 of 60").await;
    assert_eq!(
        eval(
            &page,
            "document.querySelectorAll('#table-rows tbody tr').length"
        )
        .await,
        json!(50)
    );
    screenshot(&page, "sql-tables").await;
    page.click("#rows-next").await.unwrap();
    wait_for_text(&page, "#rows-range", "Rows 51–60 of 60").await;
    assert_eq!(
        eval(
            &page,
            "document.querySelector('#table-rows tbody td:nth-child(2)').textContent"
        )
        .await,
        json!("<i>row</i> 50")
    );
    assert_eq!(
        eval(&page, "document.querySelectorAll('#table-rows i').length").await,
        json!(0),
        "rows are text"
    );
    browser.shutdown().await;
    // Browsing left the agent's database writable.
    assert_eq!(
        server.call("Tabled", "t", "fill", json!([1])).await,
        json!(1)
    );
    let (_, body) = server.get("/agents/Tabled/t/db/tables").await;
    assert!(body.contains("\"rows\":61"), "{body}");
}

const TEAM: &str = r#"
import { Agent } from "agents";
export default class Team extends Agent {
  async hire(name: string) {
    const m = await this.subAgent("Member", name);
    return m.work(`job <b>${name}</b>`);
  }
}
"#;

const MEMBER: &str = r#"
import { Agent } from "agents";
export default class Member extends Agent {
  async work(job: string) {
    await this.setState({ job });
    await this.workspace.write("/job.txt", job);
    await this.sql`CREATE TABLE IF NOT EXISTS jobs (job TEXT)`;
    await this.sql`INSERT INTO jobs (job) VALUES (${job})`;
    return job;
  }
  async hireInner(name: string) {
    const inner = await this.subAgent("Member", name);
    return inner.work("inner job");
  }
}
"#;

/// The agent list: sub-agents as a tree under their parents (not at the top level), and
/// when each agent last changed.
#[tokio::test(flavor = "multi_thread")]
async fn issue20_console_shows_sub_agents_as_a_tree_with_last_activity() {
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(dir.path(), &[("Team.ts", TEAM), ("Member.ts", MEMBER)]);
    let server = given_server(
        &agents,
        &dir.path().join("data"),
        &["--isolation", "inprocess"],
    );
    for name in ["m1", "m2"] {
        server.call("Team", "t", "hire", json!([name])).await;
    }
    let (status, reply) = server
        .post("/agents/Team/t/sub/Member/m1/hireInner", "[\"deep\"]")
        .await;
    assert_eq!(status, 200, "{reply}");
    let (_, listed) = server.get("/agents").await;
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let top = listed["agents"].as_array().unwrap();
    assert_eq!(top.len(), 1, "sub-agents are not top-level: {listed}");
    assert_eq!(top[0]["subAgents"], json!(2), "{listed}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let last = top[0]["lastActiveAt"].as_u64().expect("a last write");
    assert!(now.abs_diff(last) < 120_000, "{last} vs {now}");
    let (_, subs) = server.get("/agents/Team/t/sub").await;
    let subs: Value = serde_json::from_str(&subs).unwrap();
    assert_eq!(subs["subAgents"][0]["name"], json!("m1"), "{subs}");
    assert_eq!(subs["subAgents"][0]["subAgents"], json!(1), "{subs}");
    assert!(subs["subAgents"][1]["lastActiveAt"].is_u64(), "{subs}");
    // A sub-agent's calls are executions named by its API path.
    let (_, calls) = server
        .get("/executions?agent=Team/t/sub/Member/m1&kind=call")
        .await;
    let calls: Value = serde_json::from_str(&calls).unwrap();
    assert_eq!(
        calls["executions"][0]["label"],
        json!("hireInner"),
        "{calls}"
    );

    let (browser, _context, page) = given_page(&server).await;
    given_logged_in(&page, &server, &server.token).await;
    page.wait_for("[data-agent='Team/t']", Duration::from_secs(20))
        .await
        .unwrap();
    wait_for_text(&page, "[data-agent='Team/t'] .agent-meta", "last write").await;
    let toggle = "li:has(> [data-agent='Team/t']) > div > .sub-toggle";
    wait_for_text(&page, toggle, "2 sub-agents").await;
    page.click(toggle).await.unwrap();
    page.wait_for("[data-sub-agent='Member/m2']", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        eval(
            &page,
            &format!(
                "document.querySelector({}).getAttribute('aria-expanded')",
                json!(toggle)
            )
        )
        .await,
        json!("true")
    );
    let inner = "[data-sub-agent='Member/m1'] > div > .sub-toggle";
    wait_for_text(&page, inner, "1 sub-agent").await;
    page.click(inner).await.unwrap();
    page.wait_for(
        "[data-sub-agent='Member/deep'] > button",
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    page.click("[data-sub-agent='Member/deep'] > button")
        .await
        .unwrap();
    wait_for_text(
        &page,
        "#agent-title",
        "Team / t › Member / m1 › Member / deep",
    )
    .await;
    wait_for_text(&page, "#state", "inner job").await;
    // The tree is drawn again as activity comes in; a click that met a button being
    // replaced is made again.
    let opened = "document.querySelector('#agent-title')?.textContent.includes('Member / m2')";
    for _ in 0..20 {
        page.click("[data-sub-agent='Member/m2'] > button")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        if eval(&page, opened).await == json!(true) {
            break;
        }
    }
    wait_for_text(&page, "#state", "job <b>m2</b>").await;
    assert_eq!(
        eval(&page, "document.querySelectorAll('#agent-detail b').length").await,
        json!(0)
    );
    screenshot(&page, "agent-tree").await;
    // A sub-agent's own views: its workspace files and its SQL tables, through its parents.
    eval(
        &page,
        "[...document.querySelectorAll('nav.tabs a')].find((a) => a.textContent === 'Workspace').click()",
    )
    .await;
    page.wait_for("[data-path='/job.txt']", Duration::from_secs(10))
        .await
        .unwrap();
    page.click("[data-path='/job.txt']").await.unwrap();
    wait_for_text(&page, "#file", "job <b>m2</b>").await;
    assert_eq!(
        eval(&page, "location.hash").await,
        json!("#/agents/Team/t/sub/Member/m2/workspace/job.txt")
    );
    go(&page, "#/agents/Team/t/sub/Member/m1/tables").await;
    wait_for_text(&page, "#agent-title", "Team / t › Member / m1").await;
    page.wait_for("[data-table]", Duration::from_secs(10))
        .await
        .unwrap();
    eval(&page, "document.querySelector('[data-table]').click()").await;
    wait_for_text(&page, "#rows-range", "Rows 1–1 of 1").await;
    wait_for_text(&page, "#table-rows tbody", "job <b>m1</b>").await;
    // No chat for a sub-agent: its sessions are its parent's delegations.
    assert_eq!(
        eval(
            &page,
            "[...document.querySelectorAll('nav.tabs a')].some((a) => a.textContent === 'Chat')"
        )
        .await,
        json!(false)
    );
    screenshot(&page, "sub-agent-tables").await;
    browser.shutdown().await;
}

const EXTENDED: &str = r#"
import { Agent } from "agents";
export default class Extended extends Agent {
  async add(hosts: string[]) {
    try {
      return await this.extensions.install({
        name: "web",
        description: "<b>web</b> tools",
        source: "export const tools = { ping: { description: 'ping', async execute() { return 'pong'; } } };",
        permissions: { network: hosts },
      });
    } catch (e) { return `${e.code}: ${e.message}`; }
  }
}
"#;

/// Extensions: versions with their manifests and permissions; a version beyond the
/// operator's policy waits, and a person approves it from the console (asked twice).
#[tokio::test(flavor = "multi_thread")]
async fn issue20_console_shows_extensions_and_approves_a_waiting_version() {
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(dir.path(), &[("Extended.ts", EXTENDED)]);
    let policy = dir.path().join("policy.json");
    std::fs::write(
        &policy,
        json!({ "network": ["api.example.com"] }).to_string(),
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
    let first = server
        .call("Extended", "e", "add", json!([["api.example.com"]]))
        .await;
    assert_eq!(first["version"], json!(1), "{first}");
    let waiting = server
        .call("Extended", "e", "add", json!([["evil.example.com"]]))
        .await;
    assert_eq!(waiting["pending"], json!(true), "{waiting}");
    let (status, body) = server.get("/agents/Extended/e/extensions/web").await;
    assert_eq!(status, 200, "{body}");
    let versions: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        versions["versions"][1]["approved"],
        json!(false),
        "{versions}"
    );
    assert_eq!(
        versions["versions"][1]["manifest"]["permissions"]["network"],
        json!(["evil.example.com"]),
        "{versions}"
    );
    let (status, _) = server.get("/agents/Extended/e/extensions/nope").await;
    assert_eq!(status, 404);

    let (browser, _context, page) = given_page(&server).await;
    given_logged_in(&page, &server, &server.token).await;
    page.wait_for("[data-agent='Extended/e']", Duration::from_secs(20))
        .await
        .unwrap();
    go(&page, "#/agents/Extended/e/extensions").await;
    wait_for_text(
        &page,
        "[data-extension='web'] .extension-state",
        "v1 active · enabled",
    )
    .await;
    wait_for_text(&page, "[data-version='2']", "waiting for approval").await;
    wait_for_text(&page, "[data-version='2']", "network: evil.example.com").await;
    assert_eq!(
        eval(&page, "document.querySelectorAll('#extensions b').length").await,
        json!(0),
        "the description is text"
    );
    screenshot(&page, "extensions").await;
    // Cancel keeps it waiting; confirmed, v2 is active.
    page.click("[data-approve='2']").await.unwrap();
    page.wait_for(".confirm-yes", Duration::from_secs(5))
        .await
        .unwrap();
    page.click(".confirm-yes + button").await.unwrap();
    page.wait_for("[data-approve='2']", Duration::from_secs(5))
        .await
        .unwrap();
    let (_, list) = server.get("/agents/Extended/e/extensions").await;
    assert!(list.contains("\"version\":1"), "{list}");
    page.click("[data-approve='2']").await.unwrap();
    page.wait_for(".confirm-yes", Duration::from_secs(5))
        .await
        .unwrap();
    page.click(".confirm-yes").await.unwrap();
    wait_for_text(
        &page,
        "[data-extension='web'] .extension-state",
        "v2 active",
    )
    .await;
    let (_, list) = server.get("/agents/Extended/e/extensions").await;
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(
        (
            &list["extensions"][0]["version"],
            &list["extensions"][0]["pending"]
        ),
        (&json!(2), &json!([])),
        "{list}"
    );
    // Disable from the console.
    page.click(".toggle-extension").await.unwrap();
    wait_for_text(&page, "[data-extension='web'] .extension-state", "disabled").await;
    browser.shutdown().await;
}

/// The context viewer: what a Think session's next step sends the model (system prompt,
/// tools, messages), with estimated tokens.
#[tokio::test(flavor = "multi_thread")]
async fn issue20_console_shows_a_sessions_context_with_token_counts() {
    const KEY: &str = "sk-console-context";
    let model = llm::scripted::ScriptedModel::start_with_key(KEY)
        .await
        .unwrap();
    model.push(
        llm::scripted::Reply::new()
            .text_chunks(["Hello <b>there</b>"])
            .usage(5, 2),
    );
    let dir = tempfile::tempdir().unwrap();
    let agents = given_console_agents(dir.path());
    let server = given_chat_server(
        &agents,
        &dir.path().join("data"),
        &model,
        &[("OPENAI_API_KEY", KEY)],
    );
    let response = client()
        .post(format!("{}/agents/Assistant/me/chat", server.base))
        .bearer_auth(&server.token)
        .json(&json!({"messages": [{"role": "user", "parts": [{"type": "text", "text": "hi"}]}]}))
        .send()
        .await
        .unwrap();
    let session = response.headers()["x-islet-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let streamed = response.text().await.unwrap();
    assert!(streamed.contains("there"), "{streamed}");
    let (status, body) = server
        .get(&format!("/agents/Assistant/me/sessions/{session}/context"))
        .await;
    assert_eq!(status, 200, "{body}");
    let context: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(context["system"], json!("Be brief."), "{context}");
    assert_eq!(context["model"], json!("openai:test-model"), "{context}");
    let roles: Vec<&str> = context["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["role"].as_str())
        .collect();
    assert_eq!(roles, ["user", "assistant"], "{context}");
    assert!(context["messages"][1]["tokens"].as_u64().unwrap() > 0);
    assert!(
        context["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "execute" && t["tokens"].as_u64().unwrap() > 0),
        "{context}"
    );
    let total = context["totalTokens"].as_u64().unwrap();
    let parts: u64 = context["messages"]
        .as_array()
        .unwrap()
        .iter()
        .chain(context["tools"].as_array().unwrap())
        .map(|x| x["tokens"].as_u64().unwrap())
        .sum();
    assert!(total >= parts, "{total} < {parts}");
    let (status, _) = server
        .get("/agents/Counter/alice/sessions/whatever/context")
        .await;
    assert_ne!(status, 200, "a Counter is no chat agent");

    let (browser, _context, page) = given_page(&server).await;
    given_logged_in(&page, &server, &server.token).await;
    page.wait_for("#view-agents:not([hidden])", Duration::from_secs(20))
        .await
        .unwrap();
    go(&page, &format!("#/chat/Assistant/me/{session}")).await;
    wait_for_text(&page, "#messages", "Hello <b>there</b>").await;
    page.wait_for("#context:not([disabled])", Duration::from_secs(10))
        .await
        .unwrap();
    page.click("#context").await.unwrap();
    wait_for_text(&page, "#context-system", "Be brief.").await;
    wait_for_text(&page, "#context-summary", "openai:test-model").await;
    page.wait_for("[data-tool-name='execute']", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        eval(
            &page,
            "[...document.querySelectorAll('#context-messages li')].map(l => l.dataset.role).join()"
        )
        .await,
        json!("user,assistant")
    );
    wait_for_text(
        &page,
        "#context-messages li:last-child",
        "Hello <b>there</b>",
    )
    .await;
    wait_for_text(&page, "#context-messages li:last-child .role", "tokens").await;
    assert_eq!(
        eval(&page, "document.querySelectorAll('#context-view b').length").await,
        json!(0)
    );
    assert_eq!(
        eval(
            &page,
            "document.querySelector('#context').getAttribute('aria-expanded')"
        )
        .await,
        json!("true")
    );
    eval(
        &page,
        "document.querySelector('#context-view').scrollIntoView()",
    )
    .await;
    screenshot(&page, "context").await;

    // The turn ran as a fiber: listed, finished, with its session.
    let (status, body) = server.get("/agents/Assistant/me/db/fibers").await;
    assert_eq!(status, 200, "{body}");
    let fibers: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (
            &fibers["fibers"][0]["status"],
            &fibers["fibers"][0]["sessionId"]
        ),
        (&json!("completed"), &json!(session)),
        "{fibers}"
    );
    go(&page, "#/agents/Assistant/me/schedules").await;
    wait_for_text(&page, "#fibers [data-status='completed']", &session).await;
    wait_for_text(&page, "#schedules", "No schedules.").await;
    browser.shutdown().await;
}

/// The whole console as a person walks it, in Debian's Chromium driven by Playwright (npm
/// `playwright-core`, run by Node.js: `tests/it/console_e2e.mjs`): wrong token, login, the
/// example agents, a live state, a chat with a tool card, branches, fork, search, a
/// workspace file, forgetting a memory, a failed execution, HTML as text, the keyboard
/// only, 1280×800 and phone width. Also measures the first load: its bytes are asserted
/// here (≤ 300 KB); its time is a benchmark figure (BENCHMARKS.md), never asserted.
#[tokio::test(flavor = "multi_thread")]
async fn issue20_console_end_to_end_in_playwright() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    if !root
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        let why =
            "npm package `playwright-core` is not installed (run `npm ci` at the repository root)";
        assert!(std::env::var_os("CI").is_none(), "{why}");
        #[allow(clippy::print_stderr)]
        {
            eprintln!("skipped: {why}");
        }
        return;
    }
    const KEY: &str = "sk-console-playwright";
    let model = given_execute_then_answer_model(KEY).await;
    // The regenerated answer.
    model.push(llm::scripted::Reply::new().text_chunks(["Second ", "answer."]));
    let dir = tempfile::tempdir().unwrap();
    let agents = given_console_agents(dir.path());
    let server = given_chat_server_with(
        &agents,
        &dir.path().join("data"),
        &model,
        &[("OPENAI_API_KEY", KEY)],
        &["--memory", "team/alice"],
    );
    given_console_data(&server).await;
    for content in ["Bob prefers tea", "Carol rides a <b>bike</b>"] {
        let (status, reply) = server
            .post(
                "/memory/team/alice/remember",
                &json!({ "content": content, "type": "fact" }).to_string(),
            )
            .await;
        assert_eq!(status, 200, "{reply}");
    }
    // A failed /mcp program for the Executions view.
    let mut mcp = McpClient::connect(&format!("{}/mcp", server.base), &server.token).await;
    let result = mcp
        .request(
            "tools/call",
            json!({"name": "execute", "arguments": {"code": FAILING_CODE}}),
        )
        .await;
    assert_eq!(result["isError"], json!(true), "{result}");

    let shots = root.join("target/console-screenshots/playwright");
    // Only this run's screenshots count.
    let _ = std::fs::remove_dir_all(&shots);
    let script = root.join("crates/islet/tests/it/console_e2e.mjs");
    let (base, token, out) = (server.base.clone(), server.token.clone(), shots.clone());
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(script)
            .env("ISLET_URL", base)
            .env("ISLET_TOKEN", token)
            .env("ISLET_SCREENSHOTS", out)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    #[allow(clippy::print_stderr)]
    {
        // The screenshots' paths and the first-load figures, for `--nocapture` and CI logs.
        eprintln!("{stdout}");
    }
    assert!(
        output.status.success(),
        "the Playwright run failed:\n{stdout}\n{stderr}"
    );

    // Every main view's screenshot was written, and is a PNG.
    let written: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("screenshot: "))
        .collect();
    for view in [
        "login",
        "agents",
        "agent-state",
        "chat",
        "chat-branches",
        "chat-search",
        "workspace",
        "memory",
        "executions",
        "agents-phone",
        "chat-phone",
        "executions-phone",
    ] {
        let path = shots
            .join(format!("{view}.png"))
            .canonicalize()
            .unwrap_or_else(|e| panic!("no screenshot of {view}: {e}"));
        assert!(
            written.iter().any(|w| Path::new(w) == path),
            "the screenshot of {view} is not among those printed: {written:?}"
        );
        let png = std::fs::read(&path).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{view} is a PNG");
    }

    // The first load (page, script, stylesheet, then the login's and the list's API
    // reads), as Chromium counted it on the wire.
    let first: Value = stdout
        .lines()
        .find_map(|l| l.strip_prefix("first-load: "))
        .map(|json| serde_json::from_str(json).unwrap())
        .unwrap_or_else(|| panic!("no first-load line in {stdout}"));
    let requests: Vec<&str> = first["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for path in ["/", "/console/app.js", "/console/app.css", "/agents"] {
        assert!(requests.contains(&path), "{path} not loaded: {first}");
    }
    let bytes = first["bytes"].as_u64().unwrap();
    let assets = first["assetsBytes"].as_u64().unwrap();
    // More than the page alone: its script and stylesheet were counted.
    let page = include_str!("../../../src/serve/console/index.html").len() as u64;
    assert!(
        assets > page && bytes > assets,
        "the count missed the assets: {first}"
    );
    assert!(
        bytes <= 300 * 1024,
        "first load is {bytes} bytes transferred: {first}"
    );
    assert!(first["interactiveMs"].as_f64().is_some(), "{first}");
}
