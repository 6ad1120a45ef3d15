//! One MCP upstream's connection: starting it (a child process in its own process group, or
//! streamable HTTP), restarting it with backoff when its transport closes, calls with
//! timeouts, and stopping its whole process group.

use base::sync::{read, write};
use sandbox::json_kind;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use process_wrap::tokio::{ChildWrapper, CommandWrap, KillOnDrop, ProcessGroup};
use rmcp::model::{CallToolRequestParams, CallToolResult, JsonObject, Tool as McpTool};
use rmcp::service::{NotificationContext, RunningService, ServiceError};
use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransport, StreamableHttpClientTransportConfig,
};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use sandbox::HostError;
use serde_json::Value;
use tokio::sync::{Mutex, mpsc};

use crate::error::Error;
use crate::mcp::config::ServerKind;

use super::{MAX_ERROR_CHARS, unwrap_result};

/// First restart delay after a crash; doubles per failed restart up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long a child gets to exit after SIGTERM before its group is killed.
const TERM_GRACE: Duration = Duration::from_millis(500);

/// One MCP upstream and its current connection.
pub(super) struct Upstream {
    pub(super) index: usize,
    /// The key in `mcpServers`.
    pub(super) name: String,
    /// How code reaches it: a JS identifier.
    pub(super) namespace: String,
    pub(super) kind: ServerKind,
    pub(super) timeout: Duration,
    pub(super) connect_timeout: Duration,
    pub(super) connection: RwLock<Option<Arc<Connection>>>,
    /// Serialises (re)connecting, so concurrent calls that see a dead transport restart
    /// the upstream once.
    pub(super) connect_lock: Mutex<Backoff>,
    /// The tools of the last `tools/list`.
    pub(super) tools: RwLock<Vec<McpTool>>,
    /// Why the first start failed, until a start succeeds.
    pub(super) failure: RwLock<Option<String>>,
    pub(super) changes: mpsc::UnboundedSender<usize>,
    pub(super) generation: AtomicU64,
    pub(super) closed: AtomicBool,
}

#[derive(Default)]
pub(super) struct Backoff {
    /// Restarts since the last successful call.
    pub(super) restarts: u32,
    pub(super) last: Option<Instant>,
}

impl Backoff {
    pub(super) fn delay(&self) -> Duration {
        if self.last.is_none() {
            return Duration::ZERO;
        }
        let factor = 1u32 << self.restarts.min(6);
        (MIN_BACKOFF * factor).min(MAX_BACKOFF)
    }
}

pub(super) struct Connection {
    generation: u64,
    service: RunningService<RoleClient, Handler>,
    child: Option<Mutex<Box<dyn ChildWrapper>>>,
    pub(super) pid: Option<u32>,
}

impl Connection {
    pub(super) fn is_closed(&self) -> bool {
        self.service.is_transport_closed()
    }

    /// Closes the session, then stops the child's whole process group: SIGTERM, and
    /// SIGKILL after [`TERM_GRACE`].
    pub(super) async fn terminate(&self) {
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
pub(super) enum CallFailure {
    Closed(String),
    Timeout,
    Other(String),
}

impl Upstream {
    pub(super) fn current(&self) -> Option<Arc<Connection>> {
        read(&self.connection).clone()
    }

    pub(super) fn error(&self, reason: String) -> Error {
        Error::Upstream {
            server: self.name.clone(),
            reason,
        }
    }

    /// The live connection, starting (or restarting) the upstream when there is none.
    pub(super) async fn connection(&self) -> Result<Arc<Connection>, Error> {
        match self.current() {
            Some(c) if !c.is_closed() => Ok(c),
            seen => self.reconnect(seen.map(|c| c.generation)).await,
        }
    }

    /// Replaces the connection of generation `seen` (or none) with a new one, unless
    /// another task already did.
    pub(super) async fn reconnect(&self, seen: Option<u64>) -> Result<Arc<Connection>, Error> {
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
    pub(super) async fn connect(&self) -> Result<Connection, Error> {
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
                let client = crate::egress::tls::client_builder()
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
    pub(super) async fn refresh_tools(&self) {
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
    pub(super) async fn call(
        &self,
        path: &str,
        tool: &str,
        input: Value,
    ) -> Result<Value, HostError> {
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

    pub(super) async fn call_on(
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

pub(super) fn unavailable(path: &str, error: &Error) -> HostError {
    HostError::new("UPSTREAM_UNAVAILABLE", format!("{path}: {error}"))
}

/// Receives the upstream's notifications.
pub(super) struct Handler {
    index: usize,
    changes: mpsc::UnboundedSender<usize>,
}

impl ClientHandler for Handler {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        // The watcher task re-lists: a notification handler must not block the session.
        let _ = self.changes.send(self.index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
