//! Streamable HTTP transport at `/mcp`, with an optional bearer token checked on every
//! request.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use subtle::ConstantTimeEq as _;

use axum::serve::ListenerExt as _;

use super::CodeModeServer;
use crate::error::Error;

/// Where and how to serve over HTTP.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// The address to listen on.
    pub addr: SocketAddr,
    /// When set, every request must carry `Authorization: Bearer <token>` (else 401).
    pub auth_token: Option<String>,
}

/// Serves `server` at `http://<addr>/mcp` until `shutdown` completes. `on_bound` gets the
/// bound address (useful with port 0) before requests are accepted.
pub async fn serve_http(
    server: CodeModeServer,
    options: HttpOptions,
    on_bound: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    if !options.addr.ip().is_loopback() && options.auth_token.is_none() {
        tracing::warn!(addr = %options.addr, "serving MCP on a non-loopback address without --auth-token");
    }
    let mut router = mcp_router(server, options.addr.ip().is_loopback());
    if let Some(token) = options.auth_token {
        router = require_bearer(router, &token);
    }
    serve_router(router, options.addr, on_bound, shutdown).await
}

/// Serves `router` at `addr` until `shutdown` completes, with `TCP_NODELAY` on every
/// connection. `on_bound` gets the bound address before requests are accepted.
pub async fn serve_router(
    router: Router,
    addr: SocketAddr,
    on_bound: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Serve {
            reason: format!("cannot listen on {addr}: {e}"),
        })?;
    let bound = listener.local_addr().map_err(|e| Error::Serve {
        reason: format!("cannot read the bound address: {e}"),
    })?;
    on_bound(bound);
    // Replies are small and latency-bound: without TCP_NODELAY, Nagle's algorithm meets the
    // client's delayed ACK and costs ~40 ms per response.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
    });
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| Error::Serve {
            reason: format!("HTTP server failed: {e}"),
        })
}

/// The MCP endpoint at `/mcp`, to serve alone ([`serve_http`]) or inside a larger app.
/// `loopback` keeps rmcp's Host-header check, which guards loopback servers against DNS
/// rebinding; a server bound to other interfaces is reached by names we cannot know, so
/// its bearer token guards it instead.
pub fn mcp_router<S: Clone + Send + Sync + 'static>(
    server: CodeModeServer,
    loopback: bool,
) -> Router<S> {
    let mut config = StreamableHttpServerConfig::default();
    if !loopback {
        config = config.disable_allowed_hosts();
    }
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    Router::new()
        .nest_service("/mcp", service)
        .layer(middleware::from_fn(session_deleted_no_content))
}

/// A session `DELETE` answers 204 No Content instead of rmcp's 202 Accepted: the session is
/// gone when the answer is sent, and the official SDKs accept only 200 or 204 (the Python
/// SDK logs "Session termination failed: 202" on every disconnect otherwise).
async fn session_deleted_no_content(request: Request, next: Next) -> Response {
    let delete = request.method() == Method::DELETE;
    let mut response = next.run(request).await;
    if delete && response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::NO_CONTENT;
        response.headers_mut().remove(header::CONTENT_LENGTH);
        *response.body_mut() = axum::body::Body::empty();
    }
    response
}

/// Requires `Authorization: Bearer <token>` on every route of `router` (else 401).
pub fn require_bearer<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    token: &str,
) -> Router<S> {
    let expected: Arc<str> = Arc::from(format!("Bearer {token}"));
    router.layer(middleware::from_fn_with_state(expected, require_token))
}

async fn require_token(State(expected): State<Arc<str>>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    // Constant time (`subtle`), so the token cannot be guessed byte by byte from response
    // times (at most its length can be learnt).
    if bool::from(given.ct_eq(expected.as_bytes())) {
        next.run(request).await
    } else {
        // JSON like every other error of islet's HTTP APIs.
        (
            StatusCode::UNAUTHORIZED,
            [
                (header::WWW_AUTHENTICATE, "Bearer"),
                (header::CONTENT_TYPE, "application/json"),
            ],
            concat!(
                r#"{"error":{"code":"UNAUTHORIZED","message":"missing or wrong bearer token: send "#,
                r#"the header Authorization: Bearer <token> with the token the server was given "#,
                r#"(islet serve keeps its own in DATA/token)"}}"#,
                "\n"
            ),
        )
            .into_response()
    }
}
