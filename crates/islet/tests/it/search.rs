//! `islet bench search-quality` on a set made here (issue 14): the word-based ranking and,
//! with `--embeddings-url`, the fused one, through memory's client against its real-HTTP
//! mock embeddings server.

use crate::support::*;

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
