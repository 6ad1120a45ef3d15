//! `islet bench search-quality` on a set made here (issue 14): the word-based ranking and,
//! with `--embeddings-url`, the fused one, through memory's client against its real-HTTP
//! mock embeddings server. Also semantic `search` in `islet mcp proxy`, against an
//! embeddings server whose vectors carry meaning (words of one concept share an axis).

use crate::serve::McpClient;
use crate::support::*;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_bench_search_quality_measures_the_lexical_and_the_fused_ranking() {
    let mock = ::memory::mock::MockOpenAi::start("sk-search-test")
        .await
        .expect("mock starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let op = |id: &str, summary: &str| {
        json!({ "operationId": id, "summary": summary,
        "responses": { "200": { "description": "ok" } } })
    };
    let spec = json!({
        "openapi": "3.0.3",
        "info": { "title": "Billing", "version": "1" },
        "paths": {
            "/invoices": { "get": op("listInvoices", "List invoices"), "post": op("createInvoice", "Create an invoice") },
            "/invoices/{id}/pay": { "post": op("payInvoice", "Pay an invoice") },
            "/refunds": { "post": op("createRefund", "Refund a charge to the customer's card") }
        }
    });
    std::fs::write(dir.path().join("billing.json"), spec.to_string()).unwrap();
    let queries = json!([
        { "spec": "billing.json", "query": "pay an invoice", "expected": [["POST", "/invoices/{id}/pay"]] },
        { "spec": "billing.json", "query": "refund a charge", "expected": [["POST", "/refunds"]] },
        { "spec": "billing.json", "query": "all invoices", "expected": [["GET", "/invoices"]] }
    ]);
    std::fs::write(dir.path().join("queries.json"), queries.to_string()).unwrap();
    let cache = dir.path().join("cache");
    let (d, c, url) = (
        dir.path().to_string_lossy().into_owned(),
        cache.to_string_lossy().into_owned(),
        mock.url(),
    );
    let out = tokio::task::spawn_blocking(move || {
        islet_with_env(
            &[
                "bench",
                "search-quality",
                &d,
                "--embeddings-url",
                &url,
                "--embeddings-model",
                "mock-embedding",
                "--embeddings-key-env",
                "ISLET_TEST_EMBEDDINGS_KEY",
                "--search-cache",
                &c,
                "--semantic-weight",
                "0.3",
                "--semantic-weight",
                "1",
            ],
            "",
            &[("ISLET_TEST_EMBEDDINGS_KEY", "sk-search-test")],
        )
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert_eq!(report["all"]["n"], json!(3), "{report}");
    let lexical = report["all"]["mrr@10"].as_f64().expect("MRR");
    let fused = report["semantic"]["fused"].as_array().expect("fused rows");
    assert_eq!(fused.len(), 2, "{report}");
    assert_eq!(fused[0]["weight"], json!(0.3));
    assert_eq!(fused[0]["all"]["n"], json!(3));
    // Word overlap (the mock's vectors) tells "all invoices" from creating one, which the
    // words alone rank second.
    assert!(lexical < 1.0, "{report}");
    assert_eq!(fused[0]["all"]["mrr@10"], json!(1.0), "{report}");
    assert!(
        mock.embedding_requests() >= 2,
        "operations and queries embedded"
    );
    let cached = std::fs::read_dir(&cache).expect("cache folder").count();
    assert_eq!(cached, 1, "one vector file for the spec and model");
}

/// Words of one concept share an axis of [`meaning`]: "give money back to a buyer" is near
/// "Refund a charge to the customer's card" without a word in common.
const CONCEPTS: &[&[&str]] = &[
    &["refund", "money", "back", "reimburse"],
    &["customer", "customers", "buyer", "client"],
    &["invoice", "invoices", "bill"],
    &["pay", "settle"],
    &["list", "all"],
];

/// The query no word of which the lexical ranking finds in the billing operations.
pub(crate) const MEANING_QUERY: &str = "give money back to a buyer";

/// The stand-in model's vector of `text`: how often each concept occurs, and a constant so
/// that no vector is zero.
fn meaning(text: &str) -> Vec<f32> {
    let mut vector = vec![0.0; CONCEPTS.len() + 1];
    vector[CONCEPTS.len()] = 0.1;
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        let word = word.to_lowercase();
        if let Some(axis) = CONCEPTS.iter().position(|c| c.contains(&word.as_str())) {
            vector[axis] += 1.0;
        }
    }
    vector
}

/// An OpenAI-compatible `POST /v1/embeddings` answering [`meaning`], recording the inputs
/// of every request.
pub(crate) struct MeaningEmbeddings {
    pub(crate) url: String,
    inputs: Arc<Mutex<Vec<Vec<String>>>>,
}

impl MeaningEmbeddings {
    pub(crate) fn start() -> MeaningEmbeddings {
        let inputs: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
        let seen = Arc::clone(&inputs);
        let app = axum::Router::new().route(
            "/v1/embeddings",
            axum::routing::post(move |body: axum::body::Bytes| {
                let seen = Arc::clone(&seen);
                async move {
                    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
                    let texts: Vec<String> = match &body["input"] {
                        Value::String(text) => vec![text.clone()],
                        other => other
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect(),
                    };
                    let data: Vec<Value> = texts
                        .iter()
                        .enumerate()
                        .map(|(i, text)| json!({"object": "embedding", "index": i, "embedding": meaning(text)}))
                        .collect();
                    seen.lock().unwrap().push(texts);
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        json!({"object": "list", "data": data, "model": body["model"]}).to_string(),
                    )
                }
            }),
        );
        let addr = serve_on_own_thread(app);
        MeaningEmbeddings {
            url: format!("http://{addr}"),
            inputs,
        }
    }

    /// Requests that embedded a catalog (more than one text; a query is one).
    pub(crate) fn catalog_requests(&self) -> usize {
        self.inputs
            .lock()
            .unwrap()
            .iter()
            .filter(|texts| texts.len() > 1)
            .count()
    }
}

/// A billing API's spec in `dir`: what the tests search.
pub(crate) fn given_billing_spec(dir: &Path) -> std::path::PathBuf {
    let op = |id: &str, summary: &str| {
        json!({ "operationId": id, "summary": summary,
        "responses": { "200": { "description": "ok" } } })
    };
    let spec = json!({
        "openapi": "3.0.3",
        "info": { "title": "Billing", "version": "1" },
        "servers": [{ "url": "http://127.0.0.1:1" }],
        "paths": {
            "/invoices": { "get": op("listInvoices", "List invoices"), "post": op("createInvoice", "Create an invoice") },
            "/invoices/{id}/pay": { "post": op("payInvoice", "Pay an invoice") },
            "/customers": { "get": op("listCustomers", "List customers") },
            "/refunds": { "post": op("createRefund", "Refund a charge to the customer's card") }
        }
    });
    let path = dir.join("billing.json");
    std::fs::write(&path, spec.to_string()).unwrap();
    path
}

/// The first of `names` that a `search` answer shows as a signature (`name(`), by position.
pub(crate) fn first_of<'a>(answer: &str, names: &[&'a str]) -> Option<&'a str> {
    names
        .iter()
        .filter_map(|name| answer.find(&format!("{name}(")).map(|at| (at, *name)))
        .min()
        .map(|(_, name)| name)
}

const BILLING_OPS: &[&str] = &[
    "listInvoices",
    "createInvoice",
    "payInvoice",
    "listCustomers",
    "createRefund",
];

/// `search` over MCP: the answer's text.
pub(crate) async fn search(mcp: &mut McpClient, query: &str) -> String {
    let result = mcp
        .request(
            "tools/call",
            json!({"name": "search", "arguments": {"query": query, "limit": 3}}),
        )
        .await;
    assert_ne!(result["isError"], json!(true), "{result}");
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// An `islet mcp proxy` (or `openapi`) over streamable HTTP; its stderr lines are collected.
struct Proxy {
    child: Child,
    url: String,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const PROXY_TOKEN: &str = "search-test-token";

/// `islet mcp proxy` of one OpenAPI entry (the billing spec) with these extra flags.
fn given_proxy(dir: &Path, extra: &[&str]) -> Proxy {
    given_proxy_with(dir, json!({}), extra)
}

/// [`given_proxy`] with more `mcpServers` entries.
fn given_proxy_with(dir: &Path, servers: Value, extra: &[&str]) -> Proxy {
    let spec = given_billing_spec(dir);
    let config = dir.join("mcp.json");
    let mut servers = servers;
    servers["billing"] = json!({"openapi": spec, "baseUrl": "http://127.0.0.1:1"});
    std::fs::write(&config, json!({ "mcpServers": servers }).to_string()).unwrap();
    let config = config.to_str().unwrap();
    let args: Vec<&str> = ["mcp", "proxy", config]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    given_mcp_server(dir, &args)
}

/// `islet ARGS` serving MCP over streamable HTTP, in `dir`.
fn given_mcp_server(dir: &Path, args: &[&str]) -> Proxy {
    let mut child = Command::new(env!("CARGO_BIN_EXE_islet"))
        .args(args)
        .args(["--http", "127.0.0.1:0", "--auth-token", PROXY_TOKEN])
        .env("RUST_LOG", "info")
        .env_remove("OPENAI_API_KEY")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("islet starts");
    let stderr: Arc<Mutex<Vec<String>>> = Arc::default();
    let (lines, seen) = (child.stderr.take().expect("stderr"), Arc::clone(&stderr));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(lines).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("serving MCP at ") {
                let _ = tx.send(url.trim().to_owned());
            }
            seen.lock().unwrap().push(line);
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the proxy announces its URL");
    Proxy { child, url, stderr }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_proxy_search_ranks_by_meaning_with_vectors_computed_once_per_catalog() {
    let embeddings = MeaningEmbeddings::start();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("vectors");
    let proxy = given_proxy(
        dir.path(),
        &[
            "--embeddings-url",
            &embeddings.url,
            "--embeddings-model",
            "meaning",
            "--search-cache",
            cache.to_str().unwrap(),
        ],
    );
    let mut mcp = McpClient::connect(&proxy.url, PROXY_TOKEN).await;
    // The first search starts the upstreams (the catalog is swapped in, and embedded in the
    // background); words answer it.
    assert_eq!(
        first_of(&search(&mut mcp, "pay an invoice").await, BILLING_OPS),
        Some("payInvoice")
    );
    // Once the vectors are ready, a query without a word of the operation's finds it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = search(&mut mcp, MEANING_QUERY).await;
        if let Some(first) = first_of(&answer, BILLING_OPS) {
            assert_eq!(first, "createRefund", "{answer}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never ranked by meaning: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The words still win where they answer.
    assert_eq!(
        first_of(&search(&mut mcp, "list customers").await, BILLING_OPS),
        Some("listCustomers")
    );
    mcp.request("tools/list", json!({})).await;
    assert_eq!(
        embeddings.catalog_requests(),
        1,
        "the catalog embedded once"
    );
    let cached = std::fs::read_dir(&cache).expect("the cache folder").count();
    assert_eq!(cached, 1, "one vector file for the catalog and model");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_proxy_whose_embeddings_endpoint_is_down_answers_search_by_words() {
    // A port nothing listens on.
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let dir = tempfile::tempdir().unwrap();
    let proxy = given_proxy(
        dir.path(),
        &["--embeddings-url", &down, "--embeddings-model", "meaning"],
    );
    let mut mcp = McpClient::connect(&proxy.url, PROXY_TOKEN).await;
    let warnings = || {
        proxy
            .stderr
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line.contains("WARN") && line.contains("semantic search"))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let started = Instant::now();
        let answer = search(&mut mcp, "pay an invoice").await;
        assert_eq!(
            first_of(&answer, BILLING_OPS),
            Some("payInvoice"),
            "{answer}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "search waited for the endpoint"
        );
        // Words alone cannot find what only the meaning finds.
        let answer = search(&mut mcp, MEANING_QUERY).await;
        assert_eq!(first_of(&answer, BILLING_OPS), None, "{answer}");
        if warnings() > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no warning: {:?}",
            proxy.stderr.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..3 {
        search(&mut mcp, "pay an invoice").await;
    }
    assert_eq!(warnings(), 1, "{:?}", proxy.stderr.lock().unwrap());
}

/// Waits until `n` catalogs have been embedded.
async fn until_catalogs(embeddings: &MeaningEmbeddings, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while embeddings.catalog_requests() < n {
        assert!(Instant::now() < deadline, "catalog {n} never embedded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_proxy_embeds_each_catalog_version_once_as_upstream_tools_change() {
    let Some(python) = crate::proxy::python() else {
        return;
    };
    let script = crate::proxy::root().join("crates/codemode/tests/fixtures/proxy/flaky_server.py");
    let embeddings = MeaningEmbeddings::start();
    let dir = tempfile::tempdir().unwrap();
    let proxy = given_proxy_with(
        dir.path(),
        json!({"alpha": {"command": python, "args": [script]}}),
        &[
            "--embeddings-url",
            &embeddings.url,
            "--embeddings-model",
            "meaning",
            "--search-cache",
            dir.path().join("vectors").to_str().unwrap(),
        ],
    );
    let mut mcp = McpClient::connect(&proxy.url, PROXY_TOKEN).await;
    // The upstreams start on the first request: their catalog is embedded.
    search(&mut mcp, "echo some text").await;
    until_catalogs(&embeddings, 1).await;
    // An upstream announces a new tool: the new version is embedded, once.
    let grown = mcp
        .request(
            "tools/call",
            json!({"name": "execute", "arguments": {"code": "async () => alpha.grow({})"}}),
        )
        .await;
    assert_ne!(grown["isError"], json!(true), "{grown}");
    until_catalogs(&embeddings, 2).await;
    for query in ["echo some text", MEANING_QUERY, "late"] {
        search(&mut mcp, query).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        embeddings.catalog_requests(),
        2,
        "one embedding per catalog version"
    );
    assert!(
        search(&mut mcp, "late").await.contains("alpha.late("),
        "the new tool is searched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_openapi_search_ranks_by_meaning_once_its_vectors_are_ready() {
    let embeddings = MeaningEmbeddings::start();
    let dir = tempfile::tempdir().unwrap();
    let spec = given_billing_spec(dir.path());
    let server = given_mcp_server(
        dir.path(),
        &[
            "mcp",
            "openapi",
            spec.to_str().unwrap(),
            "--embeddings-url",
            &embeddings.url,
            "--embeddings-model",
            "meaning",
        ],
    );
    let mut mcp = McpClient::connect(&server.url, PROXY_TOKEN).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = search(&mut mcp, MEANING_QUERY).await;
        if let Some(first) = first_of(&answer, BILLING_OPS) {
            assert_eq!(first, "createRefund", "{answer}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never ranked by meaning: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(embeddings.catalog_requests(), 1, "the spec embedded once");
    // Cached in the default data directory, under the working directory.
    let cached = std::fs::read_dir(dir.path().join(".islet/search-embeddings"))
        .expect("the default cache folder")
        .count();
    assert_eq!(cached, 1);
}
