//! The two-tool Code Mode MCP server over any [`Catalog`]: `search` (plain words → compact
//! TypeScript signatures, or a JS function over the resolved spec) and `execute` (the model's
//! program, run in an isolate with the catalog bound). Transports: stdio and streamable HTTP.
//!
//! Translation point: Rust errors become MCP errors only in [`mcp_error`], which logs the
//! details and returns a message without internals. Everything the model can act on (bad
//! code, API failures, limits) is a tool result with `isError`, since clients show those to
//! the model and often hide protocol errors.

mod format;
mod http;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
    Tool as McpTool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use sandbox::{Bindings, Execution, Limits, Sandbox, SandboxConfig};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::catalog::Catalog;
use crate::describe::{self, EXECUTE_TOOL, SEARCH_TOOL, ToolTexts};
use crate::error::Error;
use crate::openapi::Spec;
use crate::search::SearchIndex;
use crate::typescript::{TsOptions, signature};

pub use format::did_you_mean;
pub use http::{HttpOptions, mcp_router, require_bearer, serve_http, serve_router};

/// Results for a `search` query when the model gives no `limit`.
const DEFAULT_SEARCH_LIMIT: usize = 10;
const MAX_SEARCH_LIMIT: usize = 50;
/// Namespace of the host function that hands `search` code the resolved spec.
const SPEC_NAMESPACE: &str = "__codemode";
const SPEC_FUNCTION: &str = "spec";

/// Tunables of one server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Limits of `execute` programs.
    pub execute_limits: Limits,
    /// Limits of `search` code: more memory, since the whole resolved spec is loaded.
    pub search_limits: Limits,
    /// Bytes of tool output (~6,000 o200k tokens); longer output is cut with a notice.
    pub max_output_bytes: usize,
    /// Executor threads of the sandbox (0: one per core), in-process isolation.
    pub threads: usize,
    /// When set, isolates run in these worker processes instead (process isolation).
    pub workers: Option<sandbox::process::WorkerConfig>,
    /// Trusted host JavaScript run before each `execute` program (see
    /// `sandbox::Execution::prelude`), e.g. the `agents.Class("name")` call form.
    pub execute_prelude: Option<Arc<str>>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            execute_limits: Limits::default(),
            search_limits: Limits {
                memory_bytes: 512 << 20,
                ..Limits::default()
            },
            max_output_bytes: 24_000,
            threads: 0,
            workers: None,
            execute_prelude: None,
        }
    }
}

/// Runs before a request needs the catalog (`tools/list`, `search`, `execute`): how the MCP
/// proxy starts its upstreams lazily. It must be cheap once done.
pub type Prepare = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Everything derived from one catalog. Swapped whole when the catalog changes (an MCP
/// upstream's `tools/list_changed`), so a request sees one consistent version.
struct View {
    catalog: Arc<Catalog>,
    index: SearchIndex,
    texts: ToolTexts,
    bindings: Bindings,
    /// Every callable path (`api.repos.get`) and namespace prefix, for "did you mean".
    known_paths: Vec<String>,
}

impl View {
    fn new(catalog: Catalog, bindings: Bindings) -> View {
        let index = SearchIndex::new(&catalog);
        let texts = describe::tool_texts(&describe::CatalogSummary::of(&catalog));
        let mut known_paths: Vec<String> = bindings
            .iter()
            .map(|(ns, name, _)| format!("{ns}.{name}"))
            .collect();
        let mut prefixes = Vec::new();
        for path in &known_paths {
            let mut end = 0;
            while let Some(dot) = path[end..].find('.') {
                end += dot;
                prefixes.push(path[..end].to_owned());
                end += 1;
            }
        }
        known_paths.extend(prefixes);
        known_paths.sort();
        known_paths.dedup();
        View {
            catalog: Arc::new(catalog),
            index,
            texts,
            bindings,
            known_paths,
        }
    }
}

struct Inner {
    view: RwLock<Arc<View>>,
    sandbox: Arc<Sandbox>,
    spec: Option<Arc<Spec>>,
    /// `Spec::resolved()` is costly on big specs: computed on first use, then shared.
    resolved: OnceCell<Arc<Value>>,
    options: ServerOptions,
    prepare: Option<Prepare>,
}

/// A Code Mode MCP server. Cheap to clone: streamable HTTP makes one handler per session.
#[derive(Clone)]
pub struct CodeModeServer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CodeModeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let view = self.view();
        f.debug_struct("CodeModeServer")
            .field("title", &view.catalog.title)
            .field("tools", &view.catalog.tools.len())
            .finish()
    }
}

impl CodeModeServer {
    /// `bindings` are what `execute` code gets (e.g. [`crate::execute::bindings`]); `spec`,
    /// when given, is what `search` code receives as `spec`.
    pub fn new(
        catalog: Catalog,
        bindings: Bindings,
        spec: Option<Arc<Spec>>,
        options: ServerOptions,
    ) -> Result<Self, Error> {
        Self::with_prepare(catalog, bindings, spec, options, None)
    }

    /// Like [`CodeModeServer::new`], with `prepare` awaited before each request that needs
    /// the catalog (see [`Prepare`]).
    pub fn with_prepare(
        catalog: Catalog,
        bindings: Bindings,
        spec: Option<Arc<Spec>>,
        options: ServerOptions,
        prepare: Option<Prepare>,
    ) -> Result<Self, Error> {
        let sandbox = match &options.workers {
            Some(workers) => Sandbox::with_workers(workers.clone()),
            None => Sandbox::new(SandboxConfig {
                threads: options.threads,
            }),
        }
        .map_err(|e| Error::Serve {
            reason: format!("cannot start the sandbox: {e}"),
        })?;
        Ok(Self::build(
            catalog,
            bindings,
            spec,
            options,
            prepare,
            Arc::new(sandbox),
        ))
    }

    /// Like [`CodeModeServer::new`], running code in `sandbox`, which the embedder shares
    /// with its own executions (one pool of isolates or workers instead of two).
    /// `options.threads` and `options.workers` are not used.
    pub fn with_sandbox(
        catalog: Catalog,
        bindings: Bindings,
        options: ServerOptions,
        sandbox: Arc<Sandbox>,
    ) -> Self {
        Self::build(catalog, bindings, None, options, None, sandbox)
    }

    fn build(
        catalog: Catalog,
        bindings: Bindings,
        spec: Option<Arc<Spec>>,
        options: ServerOptions,
        prepare: Option<Prepare>,
        sandbox: Arc<Sandbox>,
    ) -> Self {
        CodeModeServer {
            inner: Arc::new(Inner {
                view: RwLock::new(Arc::new(View::new(catalog, bindings))),
                sandbox,
                spec,
                resolved: OnceCell::new(),
                options,
                prepare,
            }),
        }
    }

    /// Replaces the catalog and its bindings (e.g. an upstream's tools changed). Requests
    /// already running finish with the version they started with.
    pub fn replace_catalog(&self, catalog: Catalog, bindings: Bindings) {
        let view = Arc::new(View::new(catalog, bindings));
        // A poisoned lock only means a panic elsewhere mid-swap of an `Arc`: the value is whole.
        *self.inner.view.write().unwrap_or_else(|e| e.into_inner()) = view;
    }

    fn view(&self) -> Arc<View> {
        Arc::clone(&self.inner.view.read().unwrap_or_else(|e| e.into_inner()))
    }

    async fn prepare(&self) {
        if let Some(prepare) = &self.inner.prepare {
            prepare().await;
        }
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        Arc::clone(&self.view().catalog)
    }

    pub fn tool_texts(&self) -> ToolTexts {
        self.view().texts.clone()
    }

    /// The two MCP tool definitions.
    pub fn tools(&self) -> Vec<McpTool> {
        let view = self.view();
        let texts = &view.texts;
        vec![
            McpTool::new(
                SEARCH_TOOL,
                texts.search_description.clone(),
                schema_object(&texts.search_input_schema),
            ),
            McpTool::new(
                EXECUTE_TOOL,
                texts.execute_description.clone(),
                schema_object(&texts.execute_input_schema),
            ),
        ]
    }

    /// Handles one call of `search` or `execute` with its arguments. Failures the model can
    /// act on are `Ok` results with `is_error`.
    pub async fn call(
        &self,
        tool: &str,
        arguments: &JsonObject,
    ) -> Result<CallToolResult, ErrorData> {
        self.prepare().await;
        match tool {
            SEARCH_TOOL => self.search(arguments).await,
            EXECUTE_TOOL => Ok(self.execute(arguments).await),
            other => Err(ErrorData::invalid_params(
                format!(
                    "unknown tool `{other}`; this server has `{SEARCH_TOOL}` and `{EXECUTE_TOOL}`"
                ),
                None,
            )),
        }
    }

    async fn search(&self, arguments: &JsonObject) -> Result<CallToolResult, ErrorData> {
        let query = arguments
            .get("query")
            .and_then(Value::as_str)
            .filter(|q| !q.trim().is_empty());
        let code = arguments
            .get("code")
            .and_then(Value::as_str)
            .filter(|c| !c.trim().is_empty());
        match (query, code) {
            (Some(query), None) => {
                let limit = match arguments.get("limit") {
                    None | Some(Value::Null) => DEFAULT_SEARCH_LIMIT,
                    Some(v) => match v.as_u64() {
                        Some(n) => (n as usize).clamp(1, MAX_SEARCH_LIMIT),
                        None => return Ok(tool_error("`limit` must be a positive integer (at most 50)".to_owned())),
                    },
                };
                Ok(self.search_query(query, limit))
            }
            (None, Some(code)) => self.search_code(code).await,
            (Some(_), Some(_)) => Ok(tool_error(
                "give either `query` (plain words) or `code` (a JS function over `spec`), not both".to_owned(),
            )),
            (None, None) => Ok(tool_error(
                "give `query` with a few plain words, e.g. {\"query\": \"list issues for a repository\"}".to_owned(),
            )),
        }
    }

    fn search_query(&self, query: &str, limit: usize) -> CallToolResult {
        let view = self.view();
        let ranking = view.index.rank(query, limit);
        let hits = ranking.hits;
        if hits.is_empty() {
            return CallToolResult::success(vec![ContentBlock::text(format!(
                "No operation matches \"{query}\". Try other or fewer words (e.g. the resource's name), \
                 or search with `code` over the spec."
            ))]);
        }
        let opts = TsOptions::compact();
        let blocks: Vec<String> = ranking
            .note
            .into_iter()
            .chain(
                hits.iter()
                    .filter_map(|hit| view.catalog.tools.get(hit.tool))
                    .map(|tool| signature(tool, &opts)),
            )
            .collect();
        let text = format::cap(
            &blocks.join("\n\n"),
            self.inner.options.max_output_bytes,
            "ask for fewer results with `limit`, or use more specific words",
        );
        CallToolResult::success(vec![ContentBlock::text(text)])
    }

    async fn search_code(&self, code: &str) -> Result<CallToolResult, ErrorData> {
        let Some(spec) = self.inner.spec.clone() else {
            return Ok(tool_error(
                "this catalog has no OpenAPI document to search with code; use `query`".to_owned(),
            ));
        };
        let resolved = self
            .inner
            .resolved
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || Arc::new(spec.resolved()))
                    .await
                    .map_err(|e| Error::Serve {
                        reason: format!("resolving the spec failed: {e}"),
                    })
            })
            .await
            .map_err(|e| mcp_error(&e))?
            .clone();
        let bindings = Bindings::new().function(SPEC_NAMESPACE, SPEC_FUNCTION, move |_| {
            let resolved = Arc::clone(&resolved);
            async move { Ok(Value::clone(&resolved)) }
        });
        let wrapped = format::wrap_search_code(code);
        let outcome = self
            .inner
            .sandbox
            .execute(
                Execution::new(wrapped.code.clone())
                    .bindings(bindings)
                    .limits(self.inner.options.search_limits),
            )
            .await;
        let outcome = wrapped.map_positions(outcome);
        Ok(format::outcome_result(
            outcome,
            code,
            &[],
            self.inner.options.max_output_bytes,
        ))
    }

    async fn execute(&self, arguments: &JsonObject) -> CallToolResult {
        let Some(code) = arguments
            .get("code")
            .and_then(Value::as_str)
            .filter(|c| !c.trim().is_empty())
        else {
            return tool_error(
                "give `code`: an async arrow function, e.g. {\"code\": \"async () => { return 1 }\"}".to_owned(),
            );
        };
        let view = self.view();
        let mut execution = Execution::new(code)
            .bindings(view.bindings.clone())
            .limits(self.inner.options.execute_limits);
        execution.prelude = self.inner.options.execute_prelude.clone();
        let outcome = self.inner.sandbox.execute(execution).await;
        format::outcome_result(
            outcome,
            code,
            &view.known_paths,
            self.inner.options.max_output_bytes,
        )
    }

    /// Serves MCP over stdin/stdout until the client disconnects.
    pub async fn serve_stdio(self) -> Result<(), Error> {
        let running = self
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| Error::Serve {
                reason: format!("stdio handshake failed: {e}"),
            })?;
        running.waiting().await.map_err(|e| Error::Serve {
            reason: format!("stdio transport stopped: {e}"),
        })?;
        Ok(())
    }
}

impl ServerHandler for CodeModeServer {
    fn get_info(&self) -> ServerConfig {
        let view = self.view();
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("islet", env!("CARGO_PKG_VERSION")))
            .with_instructions(format!(
                "Code Mode over {}: call `search` to find operations, then `execute` one program that does the whole job.",
                if view.catalog.title.is_empty() { "an API" } else { &view.catalog.title }
            ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.prepare().await;
        Ok(ListToolsResult::with_all_items(self.tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arguments = request.arguments.unwrap_or_default();
        self.call(&request.name, &arguments).await.map(Into::into)
    }
}

/// The one translation point from this crate's errors to MCP errors: the details go to the
/// operator's log, the client gets a message without internals.
pub fn mcp_error(error: &Error) -> ErrorData {
    tracing::error!(%error, "tool call failed");
    ErrorData::internal_error(
        "the server could not complete this call; see the server log",
        None,
    )
}

fn tool_error(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

fn schema_object(schema: &Value) -> Arc<JsonObject> {
    Arc::new(match schema {
        Value::Object(m) => m.clone(),
        _ => JsonObject::new(),
    })
}
