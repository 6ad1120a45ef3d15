//! `islet tokens SPEC`: what the two Code Mode tools cost a model against one MCP tool per
//! operation.

#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use codemode::describe::{CatalogSummary, naive_footprint, tool_texts};

#[derive(clap::Args)]
pub struct TokensArgs {
    /// OpenAPI 3.x or Swagger 2.0 document: a path or an http(s) URL.
    spec: String,
    /// Print the figures as one JSON object.
    #[arg(long)]
    json: bool,
}

pub async fn tokens(args: TokensArgs) -> anyhow::Result<ExitCode> {
    let spec = codemode::openapi::load(&args.spec).await?;
    let catalog = codemode::openapi::catalog(&spec);
    let code_mode = tool_texts(&CatalogSummary::of(&catalog)).tokens();
    let naive = naive_footprint(&catalog);
    let reduction = if naive == 0 {
        0.0
    } else {
        100.0 * (1.0 - code_mode as f64 / naive as f64)
    };
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
