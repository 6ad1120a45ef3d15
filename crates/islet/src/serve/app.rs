//! What every route module of `islet serve` shares: the state handlers get ([`App`]) and
//! how they read a request's body. Below `routes.rs` and the route modules it merges, so
//! none of them imports another.

use ::memory::Memories;
use agents::AgentHost;
use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use sandbox::json_kind;
use serde_json::Value;

use super::api::ApiError;
use super::executions::ring::Executions;
use super::ops::Metrics;

/// The state every handler gets: the agent host, the chat harness, memory, and the
/// server's request limits and counters.
#[derive(Clone)]
pub(super) struct App {
    pub(super) host: AgentHost,
    pub(super) harness: think::Harness,
    pub(super) memories: Memories,
    pub(super) max_body_bytes: usize,
    pub(super) metrics: Metrics,
    /// Recent executions, method calls and turns, for the console.
    pub(super) executions: Executions,
    /// Cluster mode: the node's view of the cluster (`GET /agents` lists the catalog).
    pub(super) cluster: Option<std::sync::Arc<super::cluster::Router>>,
}

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// The request body, refused with 413 past the server's `--max-body-kb`.
pub(super) async fn read_body(app: &App, body: Body) -> Result<Bytes> {
    axum::body::to_bytes(body, app.max_body_bytes)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "TOO_LARGE",
                format!(
                    "the request body is larger than {} KiB; send less, or start the server with a larger --max-body-kb",
                    app.max_body_bytes / 1024
                ),
            )
        })
}

/// An RPC body: the JSON array of arguments (an empty body: none).
pub(super) fn call_args(body: &[u8]) -> Result<Vec<Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(args)) => Ok(args),
        Ok(other) => Err(ApiError::bad_request(format!(
            "the body is the JSON array of arguments, e.g. [5] or [\"a\", {{\"b\": 1}}]; got {}",
            json_kind(&other)
        ))),
        Err(e) => Err(ApiError::bad_request(format!(
            "the body is not valid JSON ({e}); send the arguments as a JSON array, e.g. [5]"
        ))),
    }
}
