//! The two-tool Code Mode MCP server over any [`Catalog`]: `search` (plain words → compact
//! TypeScript signatures, or a JS function over the resolved spec) and `execute` (the model's
//! program, run in an isolate with the catalog bound). Transports: stdio and streamable HTTP.
//!
//! Translation point: Rust errors become MCP errors only in [`mcp_error`], which logs the
//! details and returns a message without internals. Everything the model can act on (bad
//! code, API failures, limits) is a tool result with `isError`, since clients show those to
//! the model and often hide protocol errors.

pub mod config;
mod format;
mod http;
mod semantic;
mod spec_view;
pub mod upstream;

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

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
use crate::catalog::describe::{self, CatalogKind, EXECUTE_TOOL, SEARCH_TOOL, ToolTexts};
use crate::catalog::search::SearchIndex;
use crate::catalog::typescript::{TsOptions, signature};
use crate::error::Error;
use crate::execute::Capability;
use crate::openapi::Spec;
use spec_view::SpecView;

pub use format::did_you_mean;
pub use http::{HttpOptions, mcp_router, require_bearer, serve_http, serve_router};
pub use semantic::{EmbedFuture, Embedder, SemanticSearch, catalog_vectors};

/// Results for a `search` query when the model gives no `limit`.
const DEFAULT_SEARCH_LIMIT: usize = 10;
const MAX_SEARCH_LIMIT: usize = 50;
/// Namespace of the host function of `search` code: `part` (blocking) takes the id of a
/// spec member the code reads and answers it resolved.
const SPEC_NAMESPACE: &str = "__codemode";
const PART_FUNCTION: &str = "part";
/// Budget units (see `openapi::catalog`) of spec members resolved for one `search` call: what
/// whole-spec resolution allows.
const MAX_SEARCH_PART_WEIGHT: usize = 4_000_000;

/// Tunables of one server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Limits of `execute` programs.
    pub execute_limits: Limits,
    /// Limits of one `search` code call; each spec member it reads is a host call (see
    /// `mcp/spec_view.rs`).
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
    /// What the catalog is when it has no tools to tell (a proxy whose upstreams have not
    /// started or all failed to); `None`: what the tools say.
    pub catalog_kind: Option<CatalogKind>,
    /// Capabilities bound fresh for each `execute` program (the ladder's rungs), in order.
    pub capabilities: Vec<Arc<dyn Capability>>,
    /// Text added to the end of the `execute` description: e.g. the agents' TypeScript
    /// declarations (`agents::Classes::declarations`), so the model sees how its code
    /// calls them, typed, without a search.
    pub execute_note: Option<String>,
    /// Told of every answered `search` and `execute` call (metrics).
    pub observer: Option<CallObserver>,
    /// Told of every `execute` program that ran, with its code and outcome (a server's
    /// record of recent executions).
    pub execution_observer: Option<ExecutionObserver>,
    /// Semantic `search` fused with the lexical one, when an embeddings model is configured.
    pub semantic: Option<SemanticSearch>,
}

/// Told of each answered `search` or `execute` call: the tool, how long it took, and
/// whether it succeeded (no protocol error, no error result).
#[derive(Clone)]
pub struct CallObserver(pub Arc<ObserveFn>);

/// What a [`CallObserver`] calls: `(tool, duration, ok)`.
pub type ObserveFn = dyn Fn(&str, std::time::Duration, bool) + Send + Sync;

/// Told of each `execute` program the sandbox ran: what [`ExecutionReport`] holds.
#[derive(Clone)]
pub struct ExecutionObserver(pub Arc<dyn Fn(ExecutionReport<'_>) + Send + Sync>);

impl std::fmt::Debug for ExecutionObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExecutionObserver")
    }
}

/// One `execute` program that ran: the code as the client sent it (error positions are in
/// it), the sandbox's outcome and how long the call took, capabilities included.
#[derive(Debug)]
pub struct ExecutionReport<'a> {
    /// The program as the client sent it.
    pub code: &'a str,
    /// What the sandbox reported: result or error (with its position), output, stats.
    pub outcome: &'a sandbox::Outcome,
    /// The whole call, capabilities included.
    pub elapsed: std::time::Duration,
}

impl std::fmt::Debug for CallObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallObserver")
    }
}

/// A namespace the catalog should have but cannot offer now: an upstream MCP server that
/// failed to start. Named in the tool descriptions and in the errors of code that uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    /// How code would call it (`git`).
    pub namespace: String,
    /// Why, for the model and the operator: the start error.
    pub reason: String,
}

/// Characters of an unavailability reason kept in the tool descriptions.
const MAX_REASON_CHARS: usize = 200;

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            execute_limits: Limits::default(),
            search_limits: Limits {
                memory_bytes: 128 << 20,
                // Each spec member the code reads is one (blocking) host call: enough to
                // read two members of every operation of Microsoft Graph v1 (11k).
                host_calls: 25_000,
                ..Limits::default()
            },
            max_output_bytes: 24_000,
            threads: 0,
            workers: None,
            execute_prelude: None,
            capabilities: Vec::new(),
            observer: None,
            execution_observer: None,
            catalog_kind: None,
            execute_note: None,
            semantic: None,
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
    unavailable: Vec<Unavailable>,
    /// The catalog's vectors for semantic search, once built; shared with the view this one
    /// replaced when nothing embedded changed (same `semantic_key`).
    semantic: Arc<semantic::Slot>,
    /// What names the vectors (`semantic::catalog_key`), with semantic search configured.
    semantic_key: Option<String>,
}

impl View {
    fn new(
        catalog: Catalog,
        bindings: Bindings,
        unavailable: Vec<Unavailable>,
        options: &ServerOptions,
    ) -> View {
        let kind = options.catalog_kind;
        let index = SearchIndex::new(&catalog);
        let mut summary = describe::CatalogSummary::of(&catalog);
        // An empty catalog looks like the host's own (agents): describe it as what it is.
        if catalog.tools.is_empty() {
            if let Some(kind) = kind {
                summary.kind = kind;
            } else if !unavailable.is_empty() {
                summary.kind = CatalogKind::McpServers;
            }
        }
        let mut texts = describe::tool_texts(&summary);
        if !unavailable.is_empty() {
            let listed: Vec<String> = unavailable
                .iter()
                .map(|u| {
                    format!(
                        "`{}` ({})",
                        u.namespace,
                        base::truncate(&u.reason, MAX_REASON_CHARS)
                    )
                })
                .collect();
            let note = format!(
                "\nUnavailable (failed to start, not callable): {}.",
                listed.join("; ")
            );
            texts.search_description.push_str(&note);
            texts.execute_description.push_str(&note);
        }
        for capability in &options.capabilities {
            texts.execute_description.push('\n');
            texts.execute_description.push_str(capability.description());
        }
        if let Some(note) = &options.execute_note {
            texts.execute_description.push('\n');
            texts.execute_description.push_str(note);
        }
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
        let semantic_key = options
            .semantic
            .as_ref()
            .map(|semantic| semantic::catalog_key(semantic, &catalog));
        View {
            catalog: Arc::new(catalog),
            index,
            texts,
            bindings,
            known_paths,
            unavailable,
            semantic: Arc::default(),
            semantic_key,
        }
    }
}

/// What the host resolved for one `search` code call.
#[derive(Default)]
struct PartsState {
    /// The members asked for (each once: the isolate keeps what it was given).
    read: BTreeSet<String>,
    weight: usize,
    /// Over [`MAX_SEARCH_PART_WEIGHT`]: nothing more is resolved for this call.
    stopped: bool,
}

struct Inner {
    view: RwLock<Arc<View>>,
    sandbox: Arc<Sandbox>,
    spec: Option<Arc<Spec>>,
    /// What `search` code reads the spec through: built on first use, then shared.
    spec_view: OnceCell<Arc<SpecView>>,
    options: ServerOptions,
    prepare: Option<Prepare>,
    /// Semantic search failed before: later failures are logged at debug level, so an
    /// endpoint that is down does not flood the log.
    semantic_warned: AtomicBool,
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
                view: RwLock::new(Arc::new(View::new(catalog, bindings, Vec::new(), &options))),
                sandbox,
                spec,
                spec_view: OnceCell::new(),
                options,
                prepare,
                semantic_warned: AtomicBool::new(false),
            }),
        }
    }

    /// Replaces the catalog and its bindings (e.g. an upstream's tools changed). Requests
    /// already running finish with the version they started with.
    pub fn replace_catalog(&self, catalog: Catalog, bindings: Bindings) {
        self.replace_catalog_with(catalog, bindings, Vec::new());
    }

    /// [`CodeModeServer::replace_catalog`], naming the namespaces that should be there but
    /// are not (see [`Unavailable`]).
    pub fn replace_catalog_with(
        &self,
        catalog: Catalog,
        bindings: Bindings,
        unavailable: Vec<Unavailable>,
    ) {
        let mut view = View::new(catalog, bindings, unavailable, &self.inner.options);
        let view = {
            // A poisoned lock only means a panic elsewhere mid-swap of an `Arc`: the value is
            // whole.
            let mut current = base::sync::write(&self.inner.view);
            if view.semantic_key.is_some() && view.semantic_key == current.semantic_key {
                // Nothing embedded changed (e.g. the proxy republished the same tools): the
                // vectors, built or being built, stay.
                view.semantic = Arc::clone(&current.semantic);
            }
            let view = Arc::new(view);
            *current = Arc::clone(&view);
            view
        };
        // Each catalog version gets its vectors as soon as it is served, not on its first
        // query; outside a runtime, the first query starts the build.
        if tokio::runtime::Handle::try_current().is_ok() {
            self.build_semantic_in_background(&view);
        }
    }

    fn view(&self) -> Arc<View> {
        Arc::clone(&base::sync::read(&self.inner.view))
    }

    async fn prepare(&self) {
        if let Some(prepare) = &self.inner.prepare {
            prepare().await;
        }
    }

    /// The catalog currently served (upstreams may change it while running).
    pub fn catalog(&self) -> Arc<Catalog> {
        Arc::clone(&self.view().catalog)
    }

    /// The `search` and `execute` definitions for the current catalog.
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
        let started = std::time::Instant::now();
        let result = match tool {
            SEARCH_TOOL => self.search(arguments).await,
            EXECUTE_TOOL => Ok(self.execute(arguments).await),
            other => {
                return Err(ErrorData::invalid_params(
                    format!(
                        "unknown tool `{other}`; this server has `{SEARCH_TOOL}` and `{EXECUTE_TOOL}`"
                    ),
                    None,
                ));
            }
        };
        if let Some(observer) = &self.inner.options.observer {
            let ok = matches!(&result, Ok(answer) if answer.is_error != Some(true));
            (observer.0)(tool, started.elapsed(), ok);
        }
        result
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
                Ok(self.search_query(query, limit).await)
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

    async fn search_query(&self, query: &str, limit: usize) -> CallToolResult {
        let view = self.view();
        let ranking = match self.semantic_ranking(&view, query, limit).await {
            Some(ranking) => ranking,
            None => view.index.rank(query, limit),
        };
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

    /// The fused ranking when semantic search is configured and its vectors are ready; on
    /// the first query, starts building them in the background.
    async fn semantic_ranking(
        &self,
        view: &Arc<View>,
        query: &str,
        limit: usize,
    ) -> Option<crate::catalog::search::Ranking> {
        let options = self.inner.options.semantic.as_ref()?;
        let Some(vectors) = view.semantic.get() else {
            self.build_semantic_in_background(view);
            return None;
        };
        let vector = match semantic::embed_query(options, query).await {
            Ok(vector) => vector,
            Err(reason) => {
                self.semantic_failed(&reason);
                return None;
            }
        };
        Some(
            view.index
                .rank_fused(query, &vector, &vectors, options.weight, limit),
        )
    }

    /// With semantic search configured, and unless `view`'s vectors are built, being built
    /// or failed to build a short while ago: starts building them (or reading them from the
    /// cache) in the background. A catalog without tools has nothing to embed.
    fn build_semantic_in_background(&self, view: &Arc<View>) {
        let Some(options) = &self.inner.options.semantic else {
            return;
        };
        if view.catalog.tools.is_empty() || !view.semantic.claim() {
            return;
        }
        let (server, options, view) = (self.clone(), options.clone(), Arc::clone(view));
        tokio::spawn(async move {
            let built = catalog_vectors(&options, &view.catalog).await;
            if let Err(e) = view.semantic.finish(built) {
                server.semantic_failed(&e.to_string());
            }
        });
    }

    /// Logs a failure of semantic search (searches answer lexically meanwhile): the first
    /// as a warning, the rest at debug level.
    fn semantic_failed(&self, reason: &str) {
        if self.inner.semantic_warned.swap(true, Ordering::Relaxed) {
            tracing::debug!("{reason}");
        } else {
            tracing::warn!("{reason} (later semantic search failures are logged at debug level)");
        }
    }

    /// With semantic search configured: starts building the current catalog's vectors (or
    /// reading them from the cache) in the background, unless they are built or being built;
    /// searches answer lexically until they are ready. Failures are logged (the first as a
    /// warning). Call it within a Tokio runtime.
    pub fn start_semantic_search(&self) {
        self.build_semantic_in_background(&self.view());
    }

    /// With semantic search configured: builds the current catalog's vectors now (or reads
    /// them from the cache) unless they are built. `Ok(false)` when it is not configured or
    /// the catalog has no tools. Searches before this use the lexical ranking alone.
    pub async fn prepare_semantic_search(&self) -> Result<bool, Error> {
        let Some(options) = &self.inner.options.semantic else {
            return Ok(false);
        };
        let view = self.view();
        if view.catalog.tools.is_empty() {
            return Ok(false);
        }
        if view.semantic.get().is_some() {
            return Ok(true);
        }
        // Marked as under way first, so queries meanwhile do not start another; one already
        // under way in the background is not waited for: this one runs too.
        view.semantic.claim();
        let built = catalog_vectors(options, &view.catalog).await;
        view.semantic.finish(built).map(|_| true)
    }

    async fn search_code(&self, code: &str) -> Result<CallToolResult, ErrorData> {
        let Some(spec) = self.inner.spec.clone() else {
            return Ok(tool_error(
                "this catalog has no OpenAPI document to search with code; use `query`".to_owned(),
            ));
        };
        let building = Arc::clone(&spec);
        let view = self
            .inner
            .spec_view
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || Arc::new(SpecView::build(&building)))
                    .await
                    .map_err(|e| Error::Serve {
                        reason: format!("preparing the spec for search code failed: {e}"),
                    })
            })
            .await
            .map_err(|e| mcp_error(&e))?
            .clone();
        let wrapped = format::wrap_search_code(code);
        // Members are resolved as the code reads them, on the thread that asks (see
        // `spec_view.rs`): one member is bounded by the spec's per-item budget, all of one
        // call by `MAX_SEARCH_PART_WEIGHT`.
        let state: Arc<Mutex<PartsState>> = Arc::default();
        // `HostError` is the sandbox's error type for host functions, large or not.
        #[allow(clippy::result_large_err)]
        let bindings = {
            let (spec, view, state) = (Arc::clone(&spec), Arc::clone(&view), Arc::clone(&state));
            Bindings::new().blocking_function(SPEC_NAMESPACE, PART_FUNCTION, move |id: Value| {
                let refused = |why: &str| sandbox::HostError::new("SearchError", why);
                if base::sync::lock(&state).stopped {
                    return Err(refused("too much detail"));
                }
                let id = id.as_str().unwrap_or_default();
                let Some((value, weight)) = view.part(&spec, id) else {
                    return Err(refused("no such spec member"));
                };
                let mut state = base::sync::lock(&state);
                state.read.insert(id.to_owned());
                state.weight = state.weight.saturating_add(weight);
                if state.weight > MAX_SEARCH_PART_WEIGHT {
                    state.stopped = true;
                    return Err(refused("too much detail"));
                }
                Ok(value)
            })
        };
        let outcome = self
            .inner
            .sandbox
            .execute(
                Execution::new(wrapped.code.clone())
                    .bindings(bindings)
                    .limits(self.inner.options.search_limits)
                    .prelude(Arc::clone(&view.prelude)),
            )
            .await;
        let state = std::mem::take(&mut *base::sync::lock(&state));
        if state.stopped {
            return Ok(tool_error(format!(
                "the code reads the details (parameters, requestBody, responses, …) of {} \
                 operations and path items, more than one search can load; filter on \
                 paths, summaries and tags first, then read the details of the few that match",
                state.read.len()
            )));
        }
        let outcome = wrapped.map_positions(outcome);
        Ok(format::outcome_result(
            outcome,
            code,
            &[],
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
        let options = &self.inner.options;
        // Capabilities that rewrite the program (npm imports) do so before anything is
        // bound, so a refusal costs nothing.
        let mut program = code.to_owned();
        let mut added_preludes = Vec::new();
        let mut preload: Option<sandbox::Preload> = None;
        for capability in &options.capabilities {
            match capability.prepare(&program).await {
                Ok(Some(prepared)) => {
                    program = prepared.code;
                    added_preludes.extend(prepared.prelude);
                    if let Some(more) = prepared.preload {
                        preload = Some(match preload {
                            Some(first) => first.then(&more),
                            None => more,
                        });
                    }
                }
                Ok(None) => {}
                Err(message) => return tool_error(message),
            }
        }
        let mut bindings = view.bindings.clone();
        let mut preludes: Vec<Arc<str>> = options.execute_prelude.iter().cloned().collect();
        let mut releases = Vec::new();
        for capability in &options.capabilities {
            let (bound, release) = capability.bind(bindings);
            bindings = bound;
            releases.push(release);
            preludes.extend(capability.prelude().map(Arc::from));
        }
        preludes.extend(added_preludes);
        let mut execution = Execution::new(program)
            .bindings(bindings)
            .limits(options.execute_limits);
        execution.prelude = match preludes.len() {
            0 | 1 => preludes.pop(),
            _ => Some(
                preludes
                    .iter()
                    .map(|p| &**p)
                    .collect::<Vec<_>>()
                    .join("\n;")
                    .into(),
            ),
        };
        execution.preload = preload;
        let started = std::time::Instant::now();
        let outcome = self.inner.sandbox.execute(execution).await;
        for release in releases {
            release().await;
        }
        if let Some(observer) = &options.execution_observer {
            (observer.0)(ExecutionReport {
                code,
                outcome: &outcome,
                elapsed: started.elapsed(),
            });
        }
        format::outcome_result(
            outcome,
            code,
            &view.known_paths,
            &view.unavailable,
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
