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
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, RwLock};
use std::time::Duration;

use rmcp::model::{JsonObject, Tool as McpTool};
use sandbox::Bindings;
use serde_json::Value;
use tokio::sync::{Mutex, OnceCell, mpsc};

use crate::catalog::{Catalog, Target, Tool};
use crate::error::Error;
use crate::execute::{self, HttpApi, HttpApiConfig};
use crate::mcp::Unavailable;
use crate::mcp::config::{ProxyConfig, ServerKind};

mod connection;
mod naming;
mod result;

use connection::{Backoff, Upstream};
use naming::{js_name, unique};
pub use result::unwrap_result;

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
