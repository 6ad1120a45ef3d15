//! `islet mcp openapi SPEC`: the two-tool Code Mode MCP server over an OpenAPI API, on
//! stdio (default) or streamable HTTP. Stdout belongs to the protocol: logs go to stderr.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use codemode::execute::{HttpApi, HttpApiConfig, bindings, parse_header};
use codemode::server::{CodeModeServer, HttpOptions, ServerOptions, serve_http};

#[derive(clap::Subcommand)]
pub enum McpCommand {
    /// Serve an OpenAPI API as two MCP tools, `search` and `execute`.
    #[command(after_help = "\
Credentials stay in this process: headers given with --header and --bearer-env are added to \
every API request host-side and scrubbed from everything returned to the code.

Examples:
  islet mcp openapi specs/github.json.gz --bearer-env GITHUB_TOKEN
  islet mcp openapi https://petstore3.swagger.io/api/v3/openapi.json --http 127.0.0.1:8787 --auth-token s3cret")]
    Openapi(OpenapiArgs),
}

#[derive(clap::Args)]
pub struct OpenapiArgs {
    /// OpenAPI 3.x or Swagger 2.0 document: a path or an http(s) URL; JSON or YAML, gzipped or not.
    spec: String,
    /// Base URL of the API (default: the spec's first server).
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// Header added to every API request, `Name: value` (repeatable).
    #[arg(long = "header", value_name = "'NAME: VALUE'")]
    headers: Vec<String>,
    /// Environment variable holding a bearer token, sent as `Authorization: Bearer <token>`.
    #[arg(long, value_name = "VAR")]
    bearer_env: Option<String>,
    /// Serve streamable HTTP at http://ADDR/mcp instead of stdio, e.g. 127.0.0.1:8787.
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// With --http: require `Authorization: Bearer <T>` on every request.
    #[arg(
        long,
        value_name = "T",
        env = "ISLET_MCP_AUTH_TOKEN",
        hide_env_values = true
    )]
    auth_token: Option<String>,
    /// Per API request timeout in milliseconds.
    #[arg(long, value_name = "N", default_value_t = 30_000)]
    timeout_ms: u64,
    /// Largest API response body read, in KiB.
    #[arg(long, value_name = "N", default_value_t = 5_120)]
    max_response_kb: usize,
}

pub async fn mcp(command: McpCommand) -> anyhow::Result<ExitCode> {
    match command {
        McpCommand::Openapi(args) => openapi(args).await,
    }
}

async fn openapi(args: OpenapiArgs) -> anyhow::Result<ExitCode> {
    let spec = codemode::openapi::load(&args.spec).await?;
    for warning in spec.warnings() {
        tracing::warn!("{warning}");
    }
    let catalog = codemode::openapi::catalog(&spec);
    let base_url = match args
        .base_url
        .clone()
        .or_else(|| spec.servers().first().cloned())
    {
        Some(url) if url.contains("://") => url,
        Some(url) => {
            anyhow::bail!("the spec's server URL `{url}` is relative; pass --base-url https://…")
        }
        None => anyhow::bail!("the spec names no server; pass --base-url https://…"),
    };
    let mut headers = Vec::new();
    for header in &args.headers {
        headers.push(parse_header(header)?);
    }
    if let Some(var) = &args.bearer_env {
        let token = std::env::var(var).with_context(|| {
            format!("--bearer-env {var}: the environment variable is not set (or not UTF-8)")
        })?;
        anyhow::ensure!(
            !token.trim().is_empty(),
            "--bearer-env {var}: the environment variable is empty"
        );
        headers.push((
            "Authorization".to_owned(),
            format!("Bearer {}", token.trim()),
        ));
    }
    anyhow::ensure!(
        args.max_response_kb > 0,
        "--max-response-kb must be at least 1"
    );
    let api = HttpApi::new(HttpApiConfig {
        base_url,
        headers,
        timeout: Duration::from_millis(args.timeout_ms.max(1)),
        max_response_bytes: args.max_response_kb << 10,
    })?;
    tracing::info!(
        title = %catalog.title,
        tools = catalog.tools.len(),
        base_url = %api.base_url(),
        "Code Mode MCP server ready"
    );
    let api = Arc::new(api);
    let bindings = bindings(&catalog, api);
    let server = CodeModeServer::new(
        catalog,
        bindings,
        Some(Arc::new(spec)),
        ServerOptions::default(),
    )?;
    match args.http {
        None => server.serve_stdio().await?,
        Some(addr) => {
            let options = HttpOptions {
                addr,
                auth_token: args.auth_token,
            };
            serve_http(server, options, announce, async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The one line a user (or a test using port 0) needs: where to connect. On stderr, like
/// every other message.
#[allow(clippy::print_stderr)]
fn announce(bound: SocketAddr) {
    eprintln!("serving MCP at http://{bound}/mcp");
}
