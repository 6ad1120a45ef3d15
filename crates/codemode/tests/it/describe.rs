//! The `search` and `execute` tool texts: what they teach, and their token bound.

use codemode::catalog::describe::{
    CatalogKind, CatalogSummary, EXECUTE_TOOL, SEARCH_TOOL, TOKEN_BUDGET, naive_footprint,
    tool_texts,
};
use codemode::catalog::{Catalog, Target, Tool};
use serde_json::json;

use crate::search::given_real_catalog;

fn given_mcp_catalog(servers: usize, tools_per_server: usize, name_len: usize) -> Catalog {
    let tools = (0..servers)
        .flat_map(|s| {
            (0..tools_per_server).map(move |t| {
                let server = format!("server{s}_{}", "x".repeat(name_len));
                Tool {
                    namespace: server.clone(),
                    name: format!("tool_{t}"),
                    original_name: format!("tool_{t}"),
                    description: format!("Tool {t} of server {s}."),
                    input_schema: json!({"type": "object", "properties": {"q": {"type": "string"}}}),
                    output_schema: None,
                    keywords: Vec::new(),
                    target: Target::Mcp {
                        server,
                        tool: format!("tool_{t}"),
                    },
                }
            })
        })
        .collect();
    Catalog {
        title: "Team MCP servers".to_owned(),
        tools,
    }
}

fn given_api_summary(tools: usize, namespaces: usize, title: &str, name: &str) -> CatalogSummary {
    CatalogSummary {
        title: title.to_owned(),
        kind: CatalogKind::Api,
        tool_count: tools,
        top_namespaces: (0..namespaces)
            .map(|i| (format!("api.{name}{i}"), tools / namespaces.max(1)))
            .collect(),
        servers: Vec::new(),
    }
}

fn assert_within_budget(summary: &CatalogSummary) -> usize {
    let texts = tool_texts(summary);
    let tokens = texts.tokens();
    assert!(
        tokens <= TOKEN_BUDGET,
        "{tokens} tokens for {:?}:\n{}\n{}",
        summary.title,
        texts.search_description,
        texts.execute_description
    );
    tokens
}

#[test]
fn graph_sized_api_stays_within_budget() {
    let summary = given_api_summary(11_422, 2_000, "Microsoft Graph v1.0", "namespace");
    assert_within_budget(&summary);
    let texts = tool_texts(&summary);
    assert!(texts.search_description.contains("11422 operations"));
    assert!(texts.search_description.contains("and 1990 more"));
}

#[test]
fn four_hundred_servers_stay_within_budget() {
    let catalog = given_mcp_catalog(400, 3, 4);
    let summary = CatalogSummary::of(&catalog);
    assert_eq!(summary.kind, CatalogKind::McpServers);
    assert_eq!(summary.servers.len(), 400);
    assert_within_budget(&summary);
    let texts = tool_texts(&summary);
    assert!(texts.search_description.contains("1200 tools"));
    assert!(texts.search_description.contains("and 390 more"));
    // No OpenAPI document to explore with code.
    assert!(
        texts.search_input_schema["properties"]
            .get("code")
            .is_none()
    );
    assert!(!texts.search_description.contains("`code`"));
}

#[test]
fn pathological_names_stay_within_budget() {
    // Long, token-dense names and titles: fewer are listed until the texts fit.
    let dense = "ꙮ𝔘".repeat(2_000);
    let summary = given_api_summary(50_000, 500, &dense, &dense);
    assert_within_budget(&summary);
    let catalog = given_mcp_catalog(400, 1, 3_000);
    assert_within_budget(&CatalogSummary::of(&catalog));
    assert_within_budget(&CatalogSummary {
        title: String::new(),
        kind: CatalogKind::McpServers,
        tool_count: 0,
        top_namespaces: Vec::new(),
        servers: Vec::new(),
    });
}

#[test]
fn texts_teach_search_then_one_program() {
    let texts = tool_texts(&given_api_summary(1_223, 40, "GitHub REST API", "ns"));
    let search = &texts.search_description;
    let execute = &texts.execute_description;
    for needle in [
        "GitHub REST API",
        "1223 operations",
        "query",
        "code",
        "spec.paths",
        "and 30 more",
        "plain words",
        "exhaustively",
    ] {
        assert!(search.contains(needle), "search lacks {needle:?}: {search}");
    }
    for needle in [
        "Promise.all",
        "429",
        "backoff",
        "console.log",
        "TypeScript",
        "return",
        "truncated",
        "api.request",
        "e.data",
    ] {
        assert!(
            execute.contains(needle),
            "execute lacks {needle:?}: {execute}"
        );
    }
    assert_eq!(texts.execute_input_schema["required"], json!(["code"]));
    let props = &texts.search_input_schema["properties"];
    assert_eq!(props["query"]["type"], "string");
    assert_eq!(props["code"]["type"], "string");
    assert_eq!(props["limit"]["type"], "integer");
    assert_eq!(SEARCH_TOOL, "search");
    assert_eq!(EXECUTE_TOOL, "execute");
}

#[test]
fn summary_of_a_catalog_counts_namespaces() {
    let catalog = given_real_catalog("github");
    let summary = CatalogSummary::of(catalog);
    assert_eq!(summary.kind, CatalogKind::Api);
    assert_eq!(summary.tool_count, catalog.tools.len());
    assert!(summary.servers.is_empty());
    let total: usize = summary.top_namespaces.iter().map(|(_, n)| n).sum();
    assert_eq!(total, catalog.tools.len());
    assert!(summary.top_namespaces.windows(2).all(|w| w[0].1 >= w[1].1));
    assert_eq!(summary.top_namespaces[0].0, "api.repos");
}

#[test]
#[allow(clippy::print_stderr)] // the numbers are the point: they go into the report
fn real_specs_stay_within_budget_and_beat_naive_mcp() {
    for name in ["github", "stripe", "slack", "msgraph-v1"] {
        let catalog = given_real_catalog(name);
        let summary = CatalogSummary::of(catalog);
        let tokens = assert_within_budget(&summary);
        let naive = naive_footprint(catalog);
        eprintln!(
            "{name}: {} tools, code mode {tokens} tokens, naive MCP {naive} tokens",
            catalog.tools.len()
        );
        assert!(naive > 10 * tokens, "{name}: naive {naive} vs {tokens}");
    }
}

#[test]
fn host_bound_catalogs_describe_the_agent_call_form_within_budget() {
    let mut summary = given_api_summary(2_000, 300, "islet agents", "agents.Class");
    summary.kind = CatalogKind::Host;
    assert_within_budget(&summary);
    let texts = tool_texts(&summary);
    assert!(
        texts
            .execute_description
            .contains("agents.Counter(\"alice\")")
    );
    assert!(!texts.execute_description.contains("api.request"));
    assert!(
        !texts.search_input_schema.to_string().contains("\"code\""),
        "no spec to explore"
    );
}
