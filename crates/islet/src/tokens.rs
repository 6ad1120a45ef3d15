//! `islet tokens SPEC` and `islet tokens --config CONFIG.json`: what the two Code Mode tools
//! cost a model against one MCP tool per operation, or against the upstreams' combined
//! `tools/list`.

#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use codemode::catalog::describe::{CatalogSummary, naive_footprint, tool_texts};
use codemode::mcp::upstream::{Proxy, ProxyOptions};

#[derive(clap::Args)]
pub(crate) struct TokensArgs {
    /// OpenAPI 3.x or Swagger 2.0 document: a path or an http(s) URL.
    #[arg(required_unless_present = "config", conflicts_with = "config")]
    spec: Option<String>,
    /// An `mcpServers` JSON config (as for `islet mcp proxy`): starts every upstream, lists
    /// its tools and compares their definitions with the proxy's two tools.
    #[arg(long, value_name = "CONFIG.json")]
    config: Option<PathBuf>,
    /// Print the figures as one JSON object.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn tokens(args: TokensArgs) -> anyhow::Result<ExitCode> {
    if let Some(config) = &args.config {
        return proxy_tokens(config, args.json).await;
    }
    let Some(source) = &args.spec else {
        anyhow::bail!("give a SPEC or --config CONFIG.json");
    };
    let spec = codemode::openapi::load(source).await?;
    let catalog = codemode::openapi::catalog(&spec);
    let code_mode = tool_texts(&CatalogSummary::of(&catalog)).tokens();
    let naive = naive_footprint(&catalog);
    let reduction = reduction(code_mode, naive);
    if args.json {
        let report = serde_json::json!({
            "title": catalog.title,
            "operations": catalog.tools.len(),
            "code_mode_tokens": code_mode,
            "naive_tokens": naive,
            "reduction_percent": (reduction * 10.0).round() / 10.0,
        });
        println!("{report}");
    } else {
        println!(
            "{} ({} operations), o200k_base tokens of the tool definitions:",
            catalog.title,
            catalog.tools.len()
        );
        println!("  Code Mode (search + execute): {code_mode:>10}");
        println!("  one MCP tool per operation:   {naive:>10}");
        println!("  reduction:                    {reduction:>9.1}%");
    }
    Ok(ExitCode::SUCCESS)
}

fn reduction(code_mode: usize, naive: usize) -> f64 {
    if naive == 0 {
        0.0
    } else {
        100.0 * (1.0 - code_mode as f64 / naive as f64)
    }
}

async fn proxy_tokens(path: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    let config = codemode::mcp::config::load(path)?;
    let proxy = Arc::new(Proxy::new(config, ProxyOptions::default()).await?);
    proxy.start().await;
    let (catalog, _) = proxy.catalog();
    // Each upstream tool as its `tools/list` carried it (outputSchema and annotations too):
    // that is what a client puts in front of the model.
    let mut servers = Vec::new();
    for (name, tools) in proxy.upstream_tools() {
        let cost: usize = tools
            .iter()
            .map(|t| serde_json::to_string(t).map_or(0, |s| codemode::catalog::tokens::count(&s)))
            .sum();
        servers.push((name, tools.len(), cost));
    }
    proxy.shutdown().await;
    let apis = proxy.api_catalog();
    let api_cost = naive_footprint(&apis);
    let naive: usize = servers.iter().map(|s| s.2).sum::<usize>() + api_cost;
    let code_mode = tool_texts(&CatalogSummary::of(&catalog)).tokens();
    let reduction = reduction(code_mode, naive);
    if json {
        let report = serde_json::json!({
            "config": path.display().to_string(),
            "tools": catalog.tools.len(),
            "servers": servers.iter().map(|(name, tools, tokens)| serde_json::json!({
                "name": name, "tools": tools, "tokens": tokens,
            })).collect::<Vec<_>>(),
            "api_operations": apis.tools.len(),
            "code_mode_tokens": code_mode,
            "naive_tokens": naive,
            "reduction_percent": (reduction * 10.0).round() / 10.0,
        });
        println!("{report}");
    } else {
        println!(
            "{} ({} tools), o200k_base tokens of the tool definitions:",
            path.display(),
            catalog.tools.len()
        );
        for (name, tools, tokens) in &servers {
            println!("  {name:<28} {tools:>4} tools {tokens:>10}");
        }
        if !apis.tools.is_empty() {
            println!(
                "  {:<28} {:>4} ops   {api_cost:>10}",
                "OpenAPI entries",
                apis.tools.len()
            );
        }
        println!("  Code Mode (search + execute): {code_mode:>10}");
        println!("  upstreams' tools/list:        {naive:>10}");
        println!("  reduction:                    {reduction:>9.1}%");
    }
    Ok(ExitCode::SUCCESS)
}
