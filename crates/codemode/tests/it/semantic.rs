//! Semantic `search` (issue 14 item 3) against a real HTTP embeddings server: memory's mock
//! OpenAI-compatible server and memory's client, as `islet` wires them. The vectors are
//! built once per catalog and cached on disk; until then, and when the endpoint fails,
//! `search` answers lexically.

use std::sync::Arc;

use codemode::mcp::{CodeModeServer, EmbedFuture, Embedder, SemanticSearch, ServerOptions};
use codemode::openapi;
use memory::mock::MockOpenAi;
use serde_json::json;

const KEY: &str = "sk-semantic-test";

/// Memory's embeddings client as Code Mode's embedder (what `islet` does).
struct Client(memory::Endpoint);

impl Embedder for Client {
    fn model(&self) -> &str {
        &self.0.model
    }

    fn embed(&self, texts: Vec<String>) -> EmbedFuture {
        let endpoint = self.0.clone();
        Box::pin(async move {
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            endpoint.embed(&texts).await.map_err(|e| e.to_string())
        })
    }
}

fn semantic(url: &str, key: &str, cache: &std::path::Path) -> SemanticSearch {
    let client = codemode::egress::tls::client_builder()
        .expect("TLS")
        .build()
        .expect("client");
    let endpoint = memory::Endpoint::new(client, url, "mock-embedding")
        .api_key(Some(key.to_owned()))
        .retries(0);
    SemanticSearch::new(Arc::new(Client(endpoint)), Some(cache.to_owned()))
}

/// A small spec: an invoicing API.
fn given_spec() -> openapi::Spec {
    let op = |id: &str, summary: &str| json!({ "operationId": id, "summary": summary, "responses": { "200": { "description": "ok" } } });
    let doc = json!({
        "openapi": "3.0.3",
        "info": { "title": "Billing", "version": "1" },
        "servers": [{ "url": "http://127.0.0.1:1" }],
        "paths": {
            "/invoices": { "get": op("listInvoices", "List invoices"), "post": op("createInvoice", "Create an invoice") },
            "/invoices/{id}": {
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
                "get": op("getInvoice", "Retrieve an invoice"),
                "delete": op("deleteInvoice", "Delete a draft invoice")
            },
            "/invoices/{id}/pay": {
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
                "post": op("payInvoice", "Pay an invoice")
            },
            "/customers": { "get": op("listCustomers", "List customers") },
            "/refunds": { "post": op("createRefund", "Refund a charge to the customer's card") }
        }
    });
    openapi::parse(doc.to_string().as_bytes(), "billing.json").expect("fixture spec")
}

fn given_server(semantic: Option<SemanticSearch>) -> CodeModeServer {
    let spec = given_spec();
    let catalog = openapi::catalog(&spec);
    CodeModeServer::new(
        catalog,
        sandbox::Bindings::new(),
        Some(Arc::new(spec)),
        ServerOptions {
            semantic,
            ..ServerOptions::default()
        },
    )
    .expect("server")
}

/// The `search` tool's answer to `query`, as text.
async fn search(server: &CodeModeServer, query: &str) -> String {
    let mut arguments = serde_json::Map::new();
    arguments.insert("query".into(), json!(query));
    arguments.insert("limit".into(), json!(3));
    let result = server
        .call("search", &arguments)
        .await
        .expect("a tool result");
    assert_ne!(result.is_error, Some(true));
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

/// The operation names in a `search` answer, in order.
fn names(text: &str) -> Vec<String> {
    let known = [
        "listInvoices",
        "createInvoice",
        "getInvoice",
        "deleteInvoice",
        "payInvoice",
        "listCustomers",
        "createRefund",
    ];
    let mut found: Vec<(usize, String)> = known
        .iter()
        .filter_map(|name| {
            text.find(&format!("{name}("))
                .map(|at| (at, (*name).to_owned()))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, name)| name).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn issue14_semantic_search_embeds_once_caches_and_keeps_the_lexical_best_first() {
    let mock = MockOpenAi::start(KEY).await.expect("mock starts");
    let cache = tempfile_dir("semantic-cache");
    let server = given_server(Some(semantic(&mock.url(), KEY, &cache)));
    let lexical = given_server(None);

    assert_eq!(
        server
            .prepare_semantic_search()
            .await
            .map_err(|e| e.to_string()),
        Ok(true)
    );
    let after_build = mock.embedding_requests();
    assert!(after_build >= 1, "the operations were embedded");
    let cached: Vec<_> = std::fs::read_dir(&cache)
        .expect("the cache folder exists")
        .filter_map(Result::ok)
        .collect();
    assert_eq!(cached.len(), 1, "one vector file for the catalog and model");

    // Each query is embedded; the clear lexical answer stays first.
    for (query, expected) in [
        ("pay an invoice", "payInvoice"),
        ("list all customers", "listCustomers"),
        ("refund a charge", "createRefund"),
    ] {
        let fused = names(&search(&server, query).await);
        assert_eq!(
            fused.first().map(String::as_str),
            Some(expected),
            "{query}: {fused:?}"
        );
        let words = names(&search(&lexical, query).await);
        assert_eq!(
            words.first().map(String::as_str),
            Some(expected),
            "{query}: {words:?}"
        );
    }
    assert_eq!(mock.embedding_requests(), after_build + 3);

    // Another server of the same catalog and model reads the cache: no operation is embedded
    // again.
    let again = given_server(Some(semantic(&mock.url(), KEY, &cache)));
    assert_eq!(
        again
            .prepare_semantic_search()
            .await
            .map_err(|e| e.to_string()),
        Ok(true)
    );
    assert_eq!(mock.embedding_requests(), after_build + 3);
    let _ = std::fs::remove_dir_all(&cache);
}

#[tokio::test(flavor = "multi_thread")]
async fn issue14_a_failing_embeddings_endpoint_leaves_search_lexical() {
    let mock = MockOpenAi::start(KEY).await.expect("mock starts");
    let cache = tempfile_dir("semantic-refused");
    // The mock refuses a wrong key with OpenAI's 401.
    let server = given_server(Some(semantic(&mock.url(), "sk-wrong", &cache)));
    let error = server
        .prepare_semantic_search()
        .await
        .expect_err("the endpoint refuses");
    assert!(
        error.to_string().contains("search stays lexical"),
        "{error}"
    );
    assert_eq!(
        names(&search(&server, "pay an invoice").await)
            .first()
            .map(String::as_str),
        Some("payInvoice")
    );
    // Nothing was cached.
    assert!(
        std::fs::read_dir(&cache).map_or(true, |mut d| d.next().is_none()),
        "no vectors cached"
    );
    let _ = std::fs::remove_dir_all(&cache);
}

#[tokio::test(flavor = "multi_thread")]
async fn issue14_semantic_vectors_are_built_in_the_background_on_the_first_query() {
    let mock = MockOpenAi::start(KEY).await.expect("mock starts");
    let cache = tempfile_dir("semantic-background");
    let server = given_server(Some(semantic(&mock.url(), KEY, &cache)));
    // The first query is answered lexically (no query embedding) and starts the build.
    assert_eq!(
        names(&search(&server, "pay an invoice").await)
            .first()
            .map(String::as_str),
        Some("payInvoice")
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::read_dir(&cache).map_or(true, |mut d| d.next().is_none()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the vectors were never cached"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Then (once the build has handed its vectors over) each query is embedded too.
    loop {
        let before = mock.embedding_requests();
        search(&server, "delete a draft invoice").await;
        if mock.embedding_requests() == before + 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "queries are never embedded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let _ = std::fs::remove_dir_all(&cache);
}

/// Searches until a query is embedded, i.e. the current catalog's vectors are ready;
/// returns how many queries were embedded (one).
async fn until_vectors_ready(server: &CodeModeServer, mock: &MockOpenAi) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let before = mock.embedding_requests();
        search(server, "delete a draft invoice").await;
        if mock.embedding_requests() == before + 1 {
            return 1;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the vectors are never ready"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn issue14_each_catalog_version_is_embedded_once_when_it_is_swapped_in() {
    let mock = MockOpenAi::start(KEY).await.expect("mock starts");
    let client = codemode::egress::tls::client_builder()
        .expect("TLS")
        .build()
        .expect("client");
    let endpoint = memory::Endpoint::new(client, mock.url(), "mock-embedding")
        .api_key(Some(KEY.to_owned()))
        .retries(0);
    // No cache folder: only the server's own vectors can spare a second embedding.
    let server = given_server(Some(SemanticSearch::new(Arc::new(Client(endpoint)), None)));
    let catalog = openapi::catalog(&given_spec());

    // A swap (what the proxy does when its upstreams start) embeds the new version at once.
    server.replace_catalog(catalog.clone(), sandbox::Bindings::new());
    let mut queries = until_vectors_ready(&server, &mock).await;
    assert_eq!(
        mock.embedding_requests() - queries,
        1,
        "one catalog embedded"
    );

    // The same tools again (a republished catalog): the vectors stay, nothing is embedded.
    server.replace_catalog(catalog.clone(), sandbox::Bindings::new());
    queries += until_vectors_ready(&server, &mock).await;
    assert_eq!(
        mock.embedding_requests() - queries,
        1,
        "nothing re-embedded"
    );

    // Another tool: a new version, embedded once.
    let mut grown = catalog.clone();
    let mut extra = grown.tools[0].clone();
    extra.name = "archiveInvoice".to_owned();
    extra.description = "Archive a paid invoice".to_owned();
    grown.tools.push(extra);
    server.replace_catalog(grown, sandbox::Bindings::new());
    queries += until_vectors_ready(&server, &mock).await;
    assert_eq!(
        mock.embedding_requests() - queries,
        2,
        "the new version embedded"
    );
    assert!(
        search(&server, "archive a paid invoice")
            .await
            .contains("archiveInvoice("),
        "the new tool is searched"
    );
}

/// A fresh folder under the system's temporary directory.
fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "islet-codemode-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
