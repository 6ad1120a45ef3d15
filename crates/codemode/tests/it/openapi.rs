//! OpenAPI loading, catalog and request building, on real specs and small fixtures.

use std::time::Instant;

use codemode::openapi::{self, Spec};

fn spec_path(name: &str) -> String {
    format!("{}/../../specs/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn given_real_spec(name: &str) -> Spec {
    let path = spec_path(name);
    let bytes = std::fs::read(&path).expect("spec file");
    openapi::parse(&bytes, &path).expect("spec parses")
}

#[test]
#[allow(clippy::print_stderr)]
fn real_specs_timing() {
    for name in ["github.json.gz", "stripe.json.gz", "slack.json.gz", "msgraph-v1.json.gz"] {
        let t = Instant::now();
        let spec = given_real_spec(name);
        let loaded = t.elapsed();
        let t = Instant::now();
        let catalog = openapi::catalog(&spec);
        let cataloged = t.elapsed();
        let size: usize = catalog
            .tools
            .iter()
            .map(|t| t.input_schema.to_string().len() + t.output_schema.as_ref().map_or(0, |o| o.to_string().len()))
            .sum();
        eprintln!(
            "{name}: {} ops, {} tools, {} warnings, load {loaded:?}, catalog {cataloged:?}, schemas {} KB",
            spec.operation_count(),
            catalog.tools.len(),
            spec.warnings().len(),
            size / 1024
        );
        for w in spec.warnings().iter().take(5) {
            eprintln!("  warn: {w}");
        }
    }
}

fn rss_mb() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|n| n.parse::<usize>().ok()))
        .map_or(0, |pages| pages * 4096 / (1024 * 1024))
}

fn nodes(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Object(m) => 1 + m.values().map(nodes).sum::<usize>(),
        serde_json::Value::Array(a) => 1 + a.iter().map(nodes).sum::<usize>(),
        _ => 1,
    }
}

#[test]
#[ignore]
#[allow(clippy::print_stderr)]
fn budget_measure() {
    for name in ["github.json.gz", "stripe.json.gz", "msgraph-v1.json.gz"] {
        let spec = given_real_spec(name);
        for budget in [250, 500, 1000, 2000, 4000] {
            let before = rss_mb();
            let t = Instant::now();
            let catalog = openapi::catalog_with_budget(&spec, budget);
            let el = t.elapsed();
            let after = rss_mb();
            let total: usize = catalog.tools.iter().map(|t| nodes(&t.input_schema) + t.output_schema.as_ref().map_or(0, nodes)).sum();
            let max = catalog.tools.iter().map(|t| nodes(&t.input_schema).max(t.output_schema.as_ref().map_or(0, nodes))).max().unwrap_or(0);
            let bytes: usize = catalog.tools.iter().map(|t| t.input_schema.to_string().len() + t.output_schema.as_ref().map_or(0, |o| o.to_string().len())).sum();
            eprintln!("{name} budget {budget}: {el:?}, nodes {total} (max {max}), json {} KB, rss +{} MB", bytes / 1024, after.saturating_sub(before));
        }
    }
}
