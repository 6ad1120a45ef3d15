//! The host side of `islet mcp proxy`: clients of the upstream MCP servers (child processes
//! over stdio, or streamable HTTP) and the HTTP APIs of OpenAPI entries, merged into one
//! [`Catalog`] whose tools are `<server>.<tool>` bindings.
//!
//! Lifecycle: upstreams start on first use ([`Proxy::start`]), a call that finds its
//! transport closed restarts the upstream (exponential backoff) and is retried once, every
//! call has a timeout, `notifications/tools/list_changed` rebuilds the catalog, and
//! [`Proxy::shutdown`] ends every child. Children run in their own process group so
//! wrappers such as `npx` cannot leave grandchildren behind, and are killed on drop as a
//! last resort.
//!
//! Results are unwrapped for the code ([`unwrap_result`]): `structuredContent`, else text
//! parsed as JSON when it is JSON, else the text; an `isError` result throws.

use base::sync::{lock, read, write};
use sandbox::json_kind;
use std::collections::HashSet;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, RwLock};
use std::time::{Duration, Instant};

use process_wrap::tokio::{ChildWrapper, CommandWrap, KillOnDrop, ProcessGroup};
use rmcp::model::{CallToolRequestParams, CallToolResult, JsonObject, Tool as McpTool};
use rmcp::service::{NotificationContext, RunningService, ServiceError};
use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransport, StreamableHttpClientTransportConfig,
};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use sandbox::{Bindings, HostError};
use serde_json::{Value, json};
use tokio::sync::{Mutex, OnceCell, mpsc};

use crate::catalog::{Catalog, Target, Tool};
use crate::config::{ProxyConfig, ServerKind};
use crate::error::Error;
use crate::execute::{self, HttpApi, HttpApiConfig};
use crate::server::Unavailable;

/// First restart delay after a crash; doubles per failed restart up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long a child gets to exit after SIGTERM before its group is killed.
const TERM_GRACE: Duration = Duration::from_millis(500);
/// Bytes of an upstream error message kept in the thrown JS error.
const MAX_ERROR_CHARS: usize = 2_000;

/// Tunables of the proxy.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// Per upstream call, unless the entry sets `timeoutMs`.
    pub call_timeout: Duration,
    /// Starting an upstream: spawn or connect, `initialize`, and `tools/list`.
    pub connect_timeout: Duration,
    /// Largest HTTP API response read (OpenAPI entries).
    pub max_response_bytes: usize,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        ProxyOptions {
            call_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(30),
            max_response_bytes: 5 << 20,
        }
    }
}

type Listener = Arc<dyn Fn(Catalog, Bindings, Vec<Unavailable>) + Send + Sync>;

/// Every upstream of one proxy.
pub struct Proxy {
    upstreams: Vec<Arc<Upstream>>,
    apis: Vec<ApiEntry>,
    started: OnceCell<()>,
    listener: StdMutex<Option<Listener>>,
    changes: StdMutex<Option<mpsc::UnboundedReceiver<usize>>>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.upstreams.iter().map(|u| u.name.as_str()).collect();
        f.debug_struct("Proxy")
            .field("upstreams", &names)
            .field("apis", &self.apis.len())
            .finish()
    }
}

/// An OpenAPI entry: its tools renamed under the entry's namespace.
struct ApiEntry {
    catalog: Catalog,
    bindings: Bindings,
}

impl Proxy {
    /// Prepares every entry without starting MCP upstreams; OpenAPI documents are loaded
    /// here so a bad one fails before serving.
    pub async fn new(config: ProxyConfig, options: ProxyOptions) -> Result<Proxy, Error> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut taken = HashSet::new();
        let mut upstreams = Vec::new();
        let mut apis = Vec::new();
        for entry in config.servers {
            let namespace = unique(js_name(&entry.name), &mut taken);
            if namespace != entry.name {
                tracing::info!(server = %entry.name, %namespace, "server is called by another name in code");
            }
            let timeout = entry.timeout.unwrap_or(options.call_timeout);
            match entry.kind {
                ServerKind::OpenApi {
                    spec,
                    base_url,
                    headers,
                } => {
                    let api = load_api(
                        &entry.name,
                        &namespace,
                        &spec,
                        base_url,
                        headers,
                        timeout,
                        &options,
                    )
                    .await?;
                    apis.push(api);
                }
                kind => upstreams.push(Arc::new(Upstream {
                    index: upstreams.len(),
                    name: entry.name.clone(),
                    namespace,
                    kind,
                    timeout,
                    connect_timeout: options.connect_timeout,
                    connection: RwLock::new(None),
                    connect_lock: Mutex::new(Backoff::default()),
                    tools: RwLock::new(Vec::new()),
                    failure: RwLock::new(None),
                    changes: tx.clone(),
                    generation: AtomicU64::new(0),
                    closed: AtomicBool::new(false),
                })),
            }
        }
        Ok(Proxy {
            upstreams,
            apis,
            started: OnceCell::new(),
            listener: StdMutex::new(None),
            changes: StdMutex::new(Some(rx)),
        })
    }

    /// Called with the new catalog whenever it changes (start, `tools/list_changed`, a
    /// restarted upstream with other tools), and the upstreams that failed to start.
    pub fn on_change(
        &self,
        listener: impl Fn(Catalog, Bindings, Vec<Unavailable>) + Send + Sync + 'static,
    ) {
        *lock(&self.listener) = Some(Arc::new(listener));
    }

    /// Starts every MCP upstream (concurrently) and lists its tools, once; later calls
    /// return at once. An upstream that fails to start is logged, left out of the catalog
    /// and reported by [`Proxy::unavailable`].
    pub async fn start(self: &Arc<Self>) {
        self.started
            .get_or_init(|| async {
                let mut set = tokio::task::JoinSet::new();
                for upstream in &self.upstreams {
                    let upstream = Arc::clone(upstream);
                    set.spawn(async move {
                        if let Err(e) = upstream.connection().await {
                            tracing::warn!("{e}");
                            *write(&upstream.failure) = Some(e.to_string());
                        }
                    });
                }
                while set.join_next().await.is_some() {}
                self.spawn_change_watcher();
                self.publish();
            })
            .await;
    }

    fn spawn_change_watcher(self: &Arc<Self>) {
        let Some(mut rx) = lock(&self.changes).take() else {
            return;
        };
        let proxy = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(index) = rx.recv().await {
                let Some(proxy) = proxy.upgrade() else {
                    return;
                };
                if let Some(upstream) = proxy.upstreams.get(index) {
                    upstream.refresh_tools().await;
                }
                // Several notifications in a burst need one rebuild.
                while rx.try_recv().is_ok() {}
                proxy.publish();
            }
        });
    }

    fn publish(&self) {
        let listener = lock(&self.listener).clone();
        if let Some(listener) = listener {
            let (catalog, bindings) = self.catalog();
            tracing::info!(tools = catalog.tools.len(), "catalog updated");
            listener(catalog, bindings, self.unavailable());
        }
    }

    /// The MCP upstreams that failed to start (and have no tools to offer), with why.
    pub fn unavailable(&self) -> Vec<Unavailable> {
        self.upstreams
            .iter()
            .filter(|u| read(&u.tools).is_empty())
            .filter_map(|u| {
                let reason = read(&u.failure).clone()?;
                Some(Unavailable {
                    namespace: u.namespace.clone(),
                    reason,
                })
            })
            .collect()
    }

    /// The merged catalog and its bindings, from the tools known now.
    pub fn catalog(&self) -> (Catalog, Bindings) {
        let mut catalog = Catalog::default();
        let mut bindings = Bindings::new();
        for upstream in &self.upstreams {
            let tools = read(&upstream.tools).clone();
            let mut taken = HashSet::new();
            for tool in tools {
                let name = unique(js_name(&tool.name), &mut taken);
                let description = tool
                    .description
                    .as_deref()
                    .map(str::to_owned)
                    .or_else(|| tool.title.clone())
                    .unwrap_or_default();
                let mut keywords = vec![upstream.name.clone()];
                keywords.extend(tool.title.clone());
                let entry = Tool {
                    namespace: upstream.namespace.clone(),
                    name: name.clone(),
                    original_name: tool.name.to_string(),
                    description,
                    input_schema: Value::Object(JsonObject::clone(&tool.input_schema)),
                    output_schema: tool
                        .output_schema
                        .as_ref()
                        .map(|s| Value::Object(JsonObject::clone(s))),
                    keywords,
                    target: Target::Mcp {
                        server: upstream.name.clone(),
                        tool: tool.name.to_string(),
                    },
                };
                let path: Arc<str> = Arc::from(entry.path());
                let original: Arc<str> = Arc::from(tool.name.as_ref());
                let up = Arc::clone(upstream);
                bindings = bindings.function(&upstream.namespace, &name, move |input: Value| {
                    let up = Arc::clone(&up);
                    let path = Arc::clone(&path);
                    let original = Arc::clone(&original);
                    async move { up.call(&path, &original, input).await }
                });
                catalog.tools.push(entry);
            }
        }
        for api in &self.apis {
            catalog.tools.extend(api.catalog.tools.iter().cloned());
            for (ns, name, f) in api.bindings.iter() {
                bindings.insert(ns, name, Arc::clone(f));
            }
        }
        (catalog, bindings)
    }

    /// `(server, tools as its tools/list gave them)` for each MCP upstream started.
    pub fn upstream_tools(&self) -> Vec<(String, Vec<McpTool>)> {
        self.upstreams
            .iter()
            .map(|u| (u.name.clone(), read(&u.tools).clone()))
            .collect()
    }

    /// The OpenAPI entries' part of the catalog.
    pub fn api_catalog(&self) -> Catalog {
        Catalog {
            title: String::new(),
            tools: self
                .apis
                .iter()
                .flat_map(|a| a.catalog.tools.iter().cloned())
                .collect(),
        }
    }

    /// `(server, pid)` of every running child process.
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.upstreams
            .iter()
            .filter_map(|u| {
                let pid = read(&u.connection).as_ref()?.pid?;
                Some((u.name.clone(), pid))
            })
            .collect()
    }

    /// Ends every upstream: closes the sessions, SIGTERMs each child's process group and
    /// kills what is left after a grace period. No upstream restarts afterwards.
    pub async fn shutdown(&self) {
        let mut set = tokio::task::JoinSet::new();
        for upstream in &self.upstreams {
            upstream.closed.store(true, Ordering::SeqCst);
            let connection = write(&upstream.connection).take();
            if let Some(connection) = connection {
                set.spawn(async move { connection.terminate().await });
            }
        }
        while set.join_next().await.is_some() {}
    }
}

#[allow(clippy::too_many_arguments)]
async fn load_api(
    name: &str,
    namespace: &str,
    source: &str,
    base_url: Option<String>,
    headers: Vec<(String, String)>,
    timeout: Duration,
    options: &ProxyOptions,
) -> Result<ApiEntry, Error> {
    let fail = |reason: String| Error::Upstream {
        server: name.to_owned(),
        reason,
    };
    let spec = crate::openapi::load(source)
        .await
        .map_err(|e| fail(e.to_string()))?;
    for warning in spec.warnings() {
        tracing::warn!(server = %name, "{warning}");
    }
    let catalog = crate::openapi::catalog(&spec);
    let base_url = match base_url.or_else(|| spec.servers().first().cloned()) {
        Some(url) if url.contains("://") => url,
        Some(url) => {
            return Err(fail(format!(
                "the spec's server URL `{url}` is relative; set `baseUrl`"
            )));
        }
        None => return Err(fail("the spec names no server; set `baseUrl`".to_owned())),
    };
    let api = HttpApi::new(HttpApiConfig {
        base_url,
        headers,
        timeout,
        max_response_bytes: options.max_response_bytes,
    })
    .map_err(|e| fail(e.to_string()))?;
    let http_bindings = execute::bindings(&catalog, Arc::new(api));
    // OpenAPI catalogs live under `api`; in a proxy each API lives under its entry's name.
    let rename = |ns: &str| match ns.strip_prefix(execute::ROOT_NAMESPACE) {
        Some("") => namespace.to_owned(),
        Some(rest) if rest.starts_with('.') => format!("{namespace}{rest}"),
        _ => ns.to_owned(),
    };
    let mut bindings = Bindings::new();
    for (ns, fname, f) in http_bindings.iter() {
        bindings.insert(&rename(ns), fname, Arc::clone(f));
    }
    let tools = catalog
        .tools
        .into_iter()
        .map(|mut tool| {
            tool.namespace = rename(&tool.namespace);
            tool.keywords.push(name.to_owned());
            tool
        })
        .collect();
    Ok(ApiEntry {
        catalog: Catalog {
            title: catalog.title,
            tools,
        },
        bindings,
    })
}

/// One MCP upstream and its current connection.
struct Upstream {
    index: usize,
    /// The key in `mcpServers`.
    name: String,
    /// How code reaches it: a JS identifier.
    namespace: String,
    kind: ServerKind,
    timeout: Duration,
    connect_timeout: Duration,
    connection: RwLock<Option<Arc<Connection>>>,
    /// Serialises (re)connecting, so concurrent calls that see a dead transport restart
    /// the upstream once.
    connect_lock: Mutex<Backoff>,
    /// The tools of the last `tools/list`.
    tools: RwLock<Vec<McpTool>>,
    /// Why the first start failed, until a start succeeds.
    failure: RwLock<Option<String>>,
    changes: mpsc::UnboundedSender<usize>,
    generation: AtomicU64,
    closed: AtomicBool,
}

#[derive(Default)]
struct Backoff {
    /// Restarts since the last successful call.
    restarts: u32,
    last: Option<Instant>,
}

impl Backoff {
    fn delay(&self) -> Duration {
        if self.last.is_none() {
            return Duration::ZERO;
        }
        let factor = 1u32 << self.restarts.min(6);
        (MIN_BACKOFF * factor).min(MAX_BACKOFF)
    }
}

struct Connection {
    generation: u64,
    service: RunningService<RoleClient, Handler>,
    child: Option<Mutex<Box<dyn ChildWrapper>>>,
    pid: Option<u32>,
}

impl Connection {
    fn is_closed(&self) -> bool {
        self.service.is_transport_closed()
    }

    /// Closes the session, then stops the child's whole process group: SIGTERM, and
    /// SIGKILL after [`TERM_GRACE`].
    async fn terminate(&self) {
        self.service.cancellation_token().cancel();
        let Some(child) = &self.child else { return };
        let mut child = child.lock().await;
        if let Err(e) = child.signal(libc::SIGTERM) {
            tracing::debug!(pid = ?self.pid, "SIGTERM: {e}");
        }
        if tokio::time::timeout(TERM_GRACE, child.wait())
            .await
            .is_err()
        {
            if let Err(e) = child.start_kill() {
                tracing::debug!(pid = ?self.pid, "SIGKILL: {e}");
            }
            let _ = tokio::time::timeout(TERM_GRACE, child.wait()).await;
        }
        tracing::info!(pid = self.pid.unwrap_or(0), "upstream process stopped");
    }
}

/// Why one attempt of a call failed.
enum CallFailure {
    Closed(String),
    Timeout,
    Other(String),
}

impl Upstream {
    fn current(&self) -> Option<Arc<Connection>> {
        read(&self.connection).clone()
    }

    fn error(&self, reason: String) -> Error {
        Error::Upstream {
            server: self.name.clone(),
            reason,
        }
    }

    /// The live connection, starting (or restarting) the upstream when there is none.
    async fn connection(&self) -> Result<Arc<Connection>, Error> {
        match self.current() {
            Some(c) if !c.is_closed() => Ok(c),
            seen => self.reconnect(seen.map(|c| c.generation)).await,
        }
    }

    /// Replaces the connection of generation `seen` (or none) with a new one, unless
    /// another task already did.
    async fn reconnect(&self, seen: Option<u64>) -> Result<Arc<Connection>, Error> {
        let mut backoff = self.connect_lock.lock().await;
        if let Some(c) = self.current()
            && Some(c.generation) != seen
            && !c.is_closed()
        {
            return Ok(c);
        }
        if self.closed.load(Ordering::SeqCst) {
            return Err(self.error("the proxy is shutting down".to_owned()));
        }
        let delay = backoff.delay();
        if let Some(last) = backoff.last
            && last.elapsed() < delay
        {
            tokio::time::sleep(delay - last.elapsed()).await;
        }
        if seen.is_some() {
            backoff.restarts += 1;
        }
        backoff.last = Some(Instant::now());
        let old = write(&self.connection).take();
        if let Some(old) = old {
            tracing::warn!(server = %self.name, pid = ?old.pid, "upstream connection lost; restarting");
            old.terminate().await;
        }
        let connection = Arc::new(self.connect().await?);
        let listed = tokio::time::timeout(
            self.connect_timeout,
            connection.service.peer().list_all_tools(),
        )
        .await;
        let tools = match listed {
            Ok(Ok(tools)) => tools,
            Ok(Err(e)) => {
                connection.terminate().await;
                return Err(self.error(format!("tools/list failed: {e}")));
            }
            Err(_) => {
                connection.terminate().await;
                return Err(self.error(format!(
                    "tools/list did not answer within {} ms",
                    self.connect_timeout.as_millis()
                )));
            }
        };
        tracing::info!(server = %self.name, pid = ?connection.pid, tools = tools.len(), "upstream ready");
        let changed = {
            let mut known = write(&self.tools);
            let changed = *known != tools;
            *known = tools;
            changed
        };
        // The first start is published by `Proxy::start`; later changes by the watcher.
        if changed && seen.is_some() {
            let _ = self.changes.send(self.index);
        }
        *write(&self.connection) = Some(Arc::clone(&connection));
        *write(&self.failure) = None;
        Ok(connection)
    }

    /// Spawns or connects, then runs `initialize`.
    async fn connect(&self) -> Result<Connection, Error> {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let handler = Handler {
            index: self.index,
            changes: self.changes.clone(),
        };
        let deadline = self.connect_timeout;
        match &self.kind {
            ServerKind::Stdio {
                command,
                args,
                env,
                cwd,
            } => {
                let mut cmd = tokio::process::Command::new(command);
                cmd.args(args)
                    .envs(env.iter().map(|(k, v)| (k, v)))
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    // The child's logs join ours on stderr; stdout is the protocol.
                    .stderr(Stdio::inherit());
                if let Some(cwd) = cwd {
                    cmd.current_dir(cwd);
                }
                let mut wrap = CommandWrap::from(cmd);
                wrap.wrap(ProcessGroup::leader()).wrap(KillOnDrop);
                let mut child = wrap.spawn().map_err(|e| {
                    self.error(format!(
                        "cannot start `{command}`: {e}; check `command` (and `cwd`) in the config"
                    ))
                })?;
                let pid = child.id();
                let (Some(stdout), Some(stdin)) = (child.stdout().take(), child.stdin().take())
                else {
                    let _ = child.start_kill();
                    return Err(self.error("the child's stdio is not piped".to_owned()));
                };
                tracing::info!(server = %self.name, pid = pid.unwrap_or(0), "upstream process started");
                let served = tokio::time::timeout(deadline, handler.serve((stdout, stdin))).await;
                let service = match served {
                    Ok(Ok(service)) => service,
                    other => {
                        let _ = child.start_kill();
                        let _ = tokio::time::timeout(TERM_GRACE, child.wait()).await;
                        return Err(self.error(match other {
                            Ok(Err(e)) => {
                                format!("`{command}` did not complete the MCP handshake: {e}")
                            }
                            _ => format!(
                                "`{command}` did not complete the MCP handshake within {} ms",
                                deadline.as_millis()
                            ),
                        }));
                    }
                };
                Ok(Connection {
                    generation,
                    service,
                    child: Some(Mutex::new(child)),
                    pid,
                })
            }
            ServerKind::Http { url, headers } => {
                let mut map = reqwest::header::HeaderMap::new();
                for (name, value) in headers {
                    let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| self.error(format!("`{name}` is not a header name")))?;
                    let mut value =
                        reqwest::header::HeaderValue::from_str(value).map_err(|_| {
                            self.error(format!("the value of `{name}` is not a valid header value"))
                        })?;
                    value.set_sensitive(true);
                    map.insert(name, value);
                }
                let client = crate::tls::client_builder()
                    .map_err(|e| self.error(e))?
                    .default_headers(map)
                    .build()
                    .map_err(|e| self.error(format!("cannot build the HTTP client: {e}")))?;
                let transport = StreamableHttpClientTransport::with_client(
                    client,
                    StreamableHttpClientTransportConfig::with_uri(url.as_str()),
                );
                let service = match tokio::time::timeout(deadline, handler.serve(transport)).await {
                    Ok(Ok(service)) => service,
                    Ok(Err(e)) => {
                        return Err(self.error(format!("cannot connect to {url}: {e}")));
                    }
                    Err(_) => {
                        return Err(self.error(format!(
                            "{url} did not complete the MCP handshake within {} ms",
                            deadline.as_millis()
                        )));
                    }
                };
                Ok(Connection {
                    generation,
                    service,
                    child: None,
                    pid: None,
                })
            }
            ServerKind::OpenApi { .. } => Err(self.error("not an MCP server".to_owned())),
        }
    }

    /// Re-lists the tools after `tools/list_changed`.
    async fn refresh_tools(&self) {
        let Some(connection) = self.current() else {
            return;
        };
        let listed = tokio::time::timeout(
            self.connect_timeout,
            connection.service.peer().list_all_tools(),
        )
        .await;
        match listed {
            Ok(Ok(tools)) => {
                tracing::info!(server = %self.name, tools = tools.len(), "upstream tools changed");
                *write(&self.tools) = tools;
            }
            Ok(Err(e)) => {
                tracing::warn!(server = %self.name, "tools/list after list_changed failed: {e}")
            }
            Err(_) => {
                tracing::warn!(server = %self.name, "tools/list after list_changed timed out")
            }
        }
    }

    /// One call from code: `path` is how the code named it, `tool` the upstream's name.
    async fn call(&self, path: &str, tool: &str, input: Value) -> Result<Value, HostError> {
        let arguments = match input {
            Value::Null => None,
            Value::Object(map) => Some(map),
            other => {
                return Err(HostError::new(
                    "INVALID_INPUT",
                    format!(
                        "{path} takes one object argument, e.g. {path}({{…}}); got {}",
                        json_kind(&other)
                    ),
                )
                .with_name("TypeError"));
            }
        };
        let connection = self.connection().await.map_err(|e| unavailable(path, &e))?;
        let first = self.call_on(&connection, tool, arguments.clone()).await;
        let result = match first {
            Err(CallFailure::Closed(reason)) => {
                tracing::warn!(server = %self.name, %reason, "call found the transport closed");
                let connection = self
                    .reconnect(Some(connection.generation))
                    .await
                    .map_err(|e| unavailable(path, &e))?;
                self.call_on(&connection, tool, arguments).await
            }
            other => other,
        };
        match result {
            Ok(result) => {
                self.connect_lock
                    .try_lock()
                    .map(|mut b| b.restarts = 0)
                    .ok();
                unwrap_result(path, result).map_err(|e| *e)
            }
            Err(CallFailure::Timeout) => Err(HostError::new(
                "TIMEOUT",
                format!(
                    "{path} did not answer within {} ms; the upstream `{}` may be stuck",
                    self.timeout.as_millis(),
                    self.name
                ),
            )),
            Err(CallFailure::Closed(reason)) => Err(HostError::new(
                "UPSTREAM_UNAVAILABLE",
                format!(
                    "{path}: the upstream `{}` closed the connection again ({reason})",
                    self.name
                ),
            )),
            Err(CallFailure::Other(reason)) => Err(HostError::new(
                "UPSTREAM_FAILED",
                format!(
                    "{path} failed: {}",
                    base::truncate(&reason, MAX_ERROR_CHARS)
                ),
            )
            .with_name("McpError")),
        }
    }

    async fn call_on(
        &self,
        connection: &Connection,
        tool: &str,
        arguments: Option<JsonObject>,
    ) -> Result<CallToolResult, CallFailure> {
        let mut params = CallToolRequestParams::new(tool.to_owned());
        if let Some(arguments) = arguments {
            params = params.with_arguments(arguments);
        }
        let call = connection.service.peer().call_tool(params);
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Err(CallFailure::Timeout),
            Ok(Ok(result)) => Ok(result),
            Ok(Err(e @ (ServiceError::TransportClosed | ServiceError::TransportSend(_)))) => {
                Err(CallFailure::Closed(e.to_string()))
            }
            Ok(Err(ServiceError::McpError(e))) => Err(CallFailure::Other(e.message.to_string())),
            Ok(Err(e)) if connection.is_closed() => Err(CallFailure::Closed(e.to_string())),
            Ok(Err(e)) => Err(CallFailure::Other(e.to_string())),
        }
    }
}

fn unavailable(path: &str, error: &Error) -> HostError {
    HostError::new("UPSTREAM_UNAVAILABLE", format!("{path}: {error}"))
}

/// Receives the upstream's notifications.
struct Handler {
    index: usize,
    changes: mpsc::UnboundedSender<usize>,
}

impl ClientHandler for Handler {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        // The watcher task re-lists: a notification handler must not block the session.
        let _ = self.changes.send(self.index);
    }
}

/// An upstream result as code sees it: `structuredContent` when present; else the content,
/// each text block parsed as JSON when it is JSON, images, audio and resources as small
/// descriptive objects, one block unwrapped from its array. `isError` becomes a thrown
/// `McpError` carrying the upstream's message and the content in `e.data`.
///
/// Boxed: `HostError` is large and this is the one public function returning it bare.
pub fn unwrap_result(path: &str, result: CallToolResult) -> Result<Value, Box<HostError>> {
    let blocks: Vec<Value> = result
        .content
        .iter()
        .map(|block| match serde_json::to_value(block) {
            Ok(v) => describe_block(v),
            Err(e) => json!({"type": "unknown", "error": e.to_string()}),
        })
        .collect();
    if result.is_error == Some(true) {
        let message: Vec<String> = result
            .content
            .iter()
            .filter_map(|b| b.as_text().map(|t| t.text.clone()))
            .collect();
        let message = if message.is_empty() {
            result
                .structured_content
                .as_ref()
                .map(Value::to_string)
                .unwrap_or_else(|| "the tool reported an error without a message".to_owned())
        } else {
            message.join("\n")
        };
        return Err(Box::new(
            HostError::new(
                "TOOL_ERROR",
                format!("{path}: {}", base::truncate(&message, MAX_ERROR_CHARS)),
            )
            .with_name("McpError")
            .with_data(json!({
                "content": blocks,
                "structuredContent": result.structured_content,
            })),
        ));
    }
    if let Some(structured) = result.structured_content {
        return Ok(structured);
    }
    let mut blocks = blocks;
    Ok(match blocks.len() {
        0 => Value::Null,
        1 => blocks.pop().unwrap_or(Value::Null),
        _ => Value::Array(blocks),
    })
}

fn describe_block(block: Value) -> Value {
    let kind = block
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match kind {
        "text" => {
            let text = block
                .get("text")
                .and_then(Value::as_str)
                .unwrap_or_default();
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
        }
        "image" | "audio" => json!({
            "type": kind,
            "mimeType": block.get("mimeType"),
            "bytes": base64_len(block.get("data").and_then(Value::as_str).unwrap_or_default()),
        }),
        "resource" => {
            let resource = block.get("resource").cloned().unwrap_or(Value::Null);
            let mut out = json!({
                "type": "resource",
                "uri": resource.get("uri"),
                "mimeType": resource.get("mimeType"),
            });
            if let Some(text) = resource.get("text") {
                out["text"] = text.clone();
            }
            if let Some(blob) = resource.get("blob").and_then(Value::as_str) {
                out["bytes"] = json!(base64_len(blob));
            }
            out
        }
        "resource_link" => {
            let mut out = json!({"type": "resource_link"});
            for key in ["uri", "name", "title", "mimeType", "description", "size"] {
                if let Some(v) = block.get(key) {
                    out[key] = v.clone();
                }
            }
            out
        }
        _ => block,
    }
}

/// Decoded size of base64 text, without decoding it.
fn base64_len(data: &str) -> usize {
    let padding = data.bytes().rev().take_while(|&b| b == b'=').count();
    (data.len() / 4 * 3).saturating_sub(padding)
}

/// Names code cannot use as a top-level namespace: the isolate's globals would be
/// shadowed (or shadow us).
const GLOBALS: &[&str] = &[
    "Array",
    "Boolean",
    "Date",
    "Error",
    "Function",
    "Intl",
    "JSON",
    "Map",
    "Math",
    "Number",
    "Object",
    "Promise",
    "Proxy",
    "Reflect",
    "RegExp",
    "Set",
    "String",
    "Symbol",
    "URL",
    "URLSearchParams",
    "atob",
    "btoa",
    "clearInterval",
    "clearTimeout",
    "console",
    "crypto",
    "globalThis",
    "queueMicrotask",
    "setInterval",
    "setTimeout",
    "structuredClone",
    "TextDecoder",
    "TextEncoder",
];

/// A JS identifier for a server or tool name: kept when it already is one (`read_file`),
/// else camelCased (`my-server` → `myServer`); reserved words and globals get a `_`.
pub fn js_name(raw: &str) -> String {
    let is_ident = |s: &str| {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    };
    let mut name = if is_ident(raw) {
        raw.to_owned()
    } else {
        let mut out = String::new();
        for (i, part) in raw
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .filter(|p| !p.is_empty())
            .enumerate()
        {
            if i == 0 {
                out.push_str(part);
            } else {
                let mut chars = part.chars();
                if let Some(first) = chars.next() {
                    out.push(first.to_ascii_uppercase());
                    out.push_str(chars.as_str());
                }
            }
        }
        if out.is_empty() {
            out.push_str("server");
        }
        if out.starts_with(|c: char| c.is_ascii_digit()) {
            out.insert(0, '_');
        }
        out
    };
    if crate::typescript::is_unsafe_name(&name) || GLOBALS.contains(&name.as_str()) {
        name.push('_');
    }
    name
}

/// `name`, or `name_2`, `name_3`… when taken.
fn unique(name: String, taken: &mut HashSet<String>) -> String {
    if taken.insert(name.clone()) {
        return name;
    }
    let mut n = 2;
    loop {
        let candidate = format!("{name}_{n}");
        if taken.insert(candidate.clone()) {
            return candidate;
        }
        n += 1;
    }
}

// Poisoning only means another thread panicked while holding the lock; the values here
// (an `Arc`, a list) are always whole, so keep going.
#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::ContentBlock;

    #[test]
    fn names() {
        assert_eq!(js_name("read_file"), "read_file");
        assert_eq!(js_name("my-server"), "myServer");
        assert_eq!(js_name("get.sum"), "getSum");
        assert_eq!(js_name("9lives"), "_9lives");
        assert_eq!(js_name("console"), "console_");
        assert_eq!(js_name("delete"), "delete_");
        assert_eq!(js_name("---"), "server");
        let mut taken = HashSet::new();
        assert_eq!(unique("a".into(), &mut taken), "a");
        assert_eq!(unique("a".into(), &mut taken), "a_2");
    }

    #[test]
    fn results_are_unwrapped() -> Result<(), Box<HostError>> {
        let r = CallToolResult::success(vec![ContentBlock::text("{\"a\":1}")]);
        assert_eq!(unwrap_result("s.t", r)?, json!({"a": 1}));
        let r = CallToolResult::success(vec![ContentBlock::text("hello")]);
        assert_eq!(unwrap_result("s.t", r)?, json!("hello"));
        let r = CallToolResult::success(vec![ContentBlock::text("a"), ContentBlock::text("2")]);
        assert_eq!(unwrap_result("s.t", r)?, json!(["a", 2]));
        let r = CallToolResult::structured(json!({"x": true}));
        assert_eq!(unwrap_result("s.t", r)?, json!({"x": true}));
        let r = CallToolResult::success(vec![ContentBlock::image("aGVsbG8=", "image/png")]);
        assert_eq!(
            unwrap_result("s.t", r)?,
            json!({"type": "image", "mimeType": "image/png", "bytes": 5})
        );
        let r = CallToolResult::error(vec![ContentBlock::text("no such file")]);
        match unwrap_result("fs.read", r) {
            Err(e) => {
                assert_eq!(e.name, "McpError");
                assert_eq!(e.message, "fs.read: no such file");
            }
            Ok(v) => panic!("expected an error, got {v}"),
        }
        Ok(())
    }

    #[test]
    fn backoff_doubles_to_the_cap() {
        let mut b = Backoff::default();
        assert_eq!(b.delay(), Duration::ZERO);
        b.last = Some(Instant::now());
        assert_eq!(b.delay(), MIN_BACKOFF);
        b.restarts = 3;
        assert_eq!(b.delay(), Duration::from_millis(800));
        b.restarts = 30;
        assert_eq!(b.delay(), MAX_BACKOFF);
    }
}
