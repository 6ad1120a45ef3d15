//! `islet mcp openapi SPEC` and `islet mcp proxy CONFIG`: the two-tool Code Mode MCP server
//! over an OpenAPI API or over upstream MCP servers, on stdio (default) or streamable HTTP.
//! Stdout belongs to the protocol: logs go to stderr.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::run::{BrowserArgs, FetchArgs, Isolation, NpmArgs};
use anyhow::Context as _;
use codemode::catalog::describe::CatalogKind;
use codemode::egress::Fetcher;
use codemode::execute::{Capability, HttpApi, HttpApiConfig, bindings, parse_header};
use codemode::mcp::upstream::{Proxy, ProxyOptions};
use codemode::mcp::{CodeModeServer, HttpOptions, Prepare, ServerOptions, serve_http};

#[derive(clap::Subcommand)]
pub(crate) enum McpCommand {
    /// Serve an OpenAPI API as two MCP tools, `search` and `execute`.
    #[command(after_help = "\
Credentials stay in this process: headers given with --header and --bearer-env are added to \
every API request host-side and scrubbed from everything returned to the code. Requests go \
to the base URL's origin only, redirects included. With --allow-fetch, `execute` code also \
gets `fetch` for the hosts named (see --help). With --embeddings-url, `search` also ranks \
operations by meaning (embedded once per spec and model, then read from --search-cache).

Examples:
  islet mcp openapi specs/github.json.gz --bearer-env GITHUB_TOKEN
  islet mcp openapi https://petstore3.swagger.io/api/v3/openapi.json \\
      --http 127.0.0.1:8787 --auth-token s3cret")]
    Openapi(OpenapiArgs),
    /// Serve many MCP servers (and OpenAPI APIs) as two MCP tools, `search` and `execute`.
    #[command(after_help = "\
CONFIG is the `mcpServers` JSON of Claude Desktop, Cursor and Claude Code; entries may also be \
OpenAPI APIs ({\"openapi\": \"spec.json\", \"baseUrl\": …, \"headers\": {…}}). ${VAR} in values \
expands from the environment. Code calls each server's tools as `<server>.<tool>(input)`; \
with --allow-fetch it also gets `fetch` for the hosts named.

With --embeddings-url, `search` also ranks tools by meaning: each version of the catalog \
(upstreams start on first use, their tools may change) is embedded once in the background; \
until then, or while the endpoint fails, `search` answers by words alone.

Examples:
  islet mcp proxy examples/mcp.json
  islet mcp proxy ~/.cursor/mcp.json --http 127.0.0.1:8788 --eager
  islet mcp proxy examples/mcp.json --embeddings-url http://127.0.0.1:8080 \\
      --embeddings-model all-MiniLM-L6-v2")]
    Proxy(ProxyArgs),
}

/// How both servers run: where code runs, and which transport.
#[derive(clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    _config: crate::config::ConfigFileArg,
    /// Where `execute` and `search` code runs: OS-sandboxed worker processes (default) or
    /// this process.
    #[arg(long, value_enum, default_value_t = Isolation::Process)]
    isolation: Isolation,
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
}

impl ServeArgs {
    /// Server options for the isolation mode: worker processes run `islet worker`.
    fn options(&self) -> anyhow::Result<ServerOptions> {
        let mut options = ServerOptions::default();
        if let Isolation::Process = self.isolation {
            options.workers = Some(crate::run::worker_config()?);
        }
        Ok(options)
    }

    /// Serves on stdio or HTTP until the client goes away, SIGTERM or SIGINT.
    async fn serve(self, server: CodeModeServer) -> anyhow::Result<()> {
        match self.http {
            None => tokio::select! {
                served = server.serve_stdio() => served?,
                () = crate::shutdown_signal() => {}
            },
            Some(addr) => {
                let options = HttpOptions {
                    addr,
                    auth_token: self.auth_token,
                };
                serve_http(server, options, announce, crate::shutdown_signal()).await?;
            }
        }
        Ok(())
    }
}

#[derive(clap::Args)]
pub(crate) struct ProxyArgs {
    /// JSON file with an `mcpServers` object.
    config: PathBuf,
    #[command(flatten)]
    serve: ServeArgs,
    /// Start every upstream before serving (default: on the first request that needs them).
    #[arg(long)]
    eager: bool,
    /// Per upstream call timeout in milliseconds (an entry's `timeoutMs` overrides it).
    #[arg(long, value_name = "N", default_value_t = 60_000)]
    timeout_ms: u64,
    #[command(flatten)]
    semantic: crate::semantic::SemanticArgs,
    #[command(flatten)]
    fetch: FetchArgs,
    #[command(flatten)]
    browser: BrowserArgs,
    #[command(flatten)]
    npm: NpmArgs,
}

#[derive(clap::Args)]
pub(crate) struct OpenapiArgs {
    /// OpenAPI 3.x or Swagger 2.0 document: a path or an http(s) URL; JSON or YAML, gzipped or not.
    spec: String,
    #[command(flatten)]
    serve: ServeArgs,
    /// Base URL of the API (default: the spec's first server).
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// Header added to every API request, `Name: value` (repeatable).
    #[arg(long = "header", value_name = "'NAME: VALUE'")]
    headers: Vec<String>,
    /// Environment variable holding a bearer token, sent as `Authorization: Bearer <token>`.
    #[arg(long, value_name = "VAR")]
    bearer_env: Option<String>,
    /// Per API request timeout in milliseconds.
    #[arg(long, value_name = "N", default_value_t = 30_000)]
    timeout_ms: u64,
    /// Largest API response body read, in KiB.
    #[arg(long, value_name = "N", default_value_t = 5_120)]
    max_response_kb: usize,
    #[command(flatten)]
    semantic: crate::semantic::SemanticArgs,
    #[command(flatten)]
    fetch: FetchArgs,
    #[command(flatten)]
    browser: BrowserArgs,
    #[command(flatten)]
    npm: NpmArgs,
}

pub(crate) async fn mcp(command: McpCommand) -> anyhow::Result<ExitCode> {
    match command {
        McpCommand::Openapi(args) => openapi(args).await,
        McpCommand::Proxy(args) => proxy(args).await,
    }
}

async fn proxy(args: ProxyArgs) -> anyhow::Result<ExitCode> {
    let config = codemode::mcp::config::load(&args.config)?;
    let options = ProxyOptions {
        call_timeout: Duration::from_millis(args.timeout_ms.max(1)),
        ..ProxyOptions::default()
    };
    let fetcher = args.fetch.fetcher()?;
    let proxy = Arc::new(Proxy::new(config, options).await?);
    let (catalog, bindings) = proxy.catalog();
    let bindings = FetchArgs::bind(fetcher.as_ref(), bindings);
    let lazy = Arc::clone(&proxy);
    let prepare: Prepare = Arc::new(move || {
        let proxy = Arc::clone(&lazy);
        Box::pin(async move { proxy.start().await })
    });
    let (browser, capabilities) = rungs(&args.browser, fetcher.as_ref())?;
    let options = ServerOptions {
        // Until the upstreams start (and if none does), the catalog is empty: still a proxy.
        catalog_kind: Some(CatalogKind::McpServers),
        // Each catalog version (upstreams start lazily, their tools change) is embedded in
        // the background when it is swapped in; `search` is lexical until then.
        semantic: args
            .semantic
            .search(std::path::Path::new(crate::run::DEFAULT_DATA_DIR))?,
        capabilities: capabilities
            .into_iter()
            .chain(
                args.npm
                    .capability(std::path::Path::new(crate::run::DEFAULT_DATA_DIR))?,
            )
            .collect(),
        ..args.serve.options()?
    };
    let server = CodeModeServer::with_prepare(catalog, bindings, None, options, Some(prepare))?;
    let updated = server.clone();
    proxy.on_change(move |catalog, bindings, unavailable| {
        updated.replace_catalog_with(
            catalog,
            FetchArgs::bind(fetcher.as_ref(), bindings),
            unavailable,
        );
    });
    if args.eager {
        proxy.start().await;
    }
    tracing::info!(config = %args.config.display(), "Code Mode MCP proxy ready");
    // Whatever ends the session (client disconnect, SIGTERM, Ctrl-C, a transport error),
    // the children are stopped before exiting: no orphans.
    let served = args.serve.serve(server).await;
    proxy.shutdown().await;
    if let Some(browser) = browser {
        browser.shutdown().await;
    }
    served?;
    Ok(ExitCode::SUCCESS)
}

async fn openapi(args: OpenapiArgs) -> anyhow::Result<ExitCode> {
    let spec = codemode::openapi::load(&args.spec).await?;
    for warning in spec.warnings() {
        tracing::warn!("{warning}");
    }
    let catalog = codemode::openapi::catalog(&spec);
    let fetcher = args.fetch.fetcher()?;
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
    let bindings = FetchArgs::bind(fetcher.as_ref(), bindings(&catalog, api));
    let (browser, capabilities) = rungs(&args.browser, fetcher.as_ref())?;
    let options = ServerOptions {
        capabilities: capabilities
            .into_iter()
            .chain(
                args.npm
                    .capability(std::path::Path::new(crate::run::DEFAULT_DATA_DIR))?,
            )
            .collect(),
        semantic: args
            .semantic
            .search(std::path::Path::new(crate::run::DEFAULT_DATA_DIR))?,
        ..args.serve.options()?
    };
    let server = CodeModeServer::new(catalog, bindings, Some(Arc::new(spec)), options)?;
    // The operations' vectors (from the cache, or embedded now) while the client connects;
    // searches before they are ready are lexical.
    server.start_semantic_search();
    let served = args.serve.serve(server).await;
    if let Some(browser) = browser {
        browser.shutdown().await;
    }
    served?;
    Ok(ExitCode::SUCCESS)
}

/// The rungs `execute` gets, and the browser to shut down when the server stops.
type Rungs = (Option<Arc<browser::Browser>>, Vec<Arc<dyn Capability>>);

fn rungs(args: &BrowserArgs, fetcher: Option<&Arc<Fetcher>>) -> anyhow::Result<Rungs> {
    Ok(match args.capability(fetcher)? {
        Some((browser, capability)) => (Some(browser), vec![capability]),
        None => (None, Vec::new()),
    })
}

/// The one line a user (or a test using port 0) needs: where to connect. On stderr, like
/// every other message.
#[allow(clippy::print_stderr)]
fn announce(bound: SocketAddr) {
    eprintln!("serving MCP at http://{bound}/mcp");
}
