//! The HTTP routes of `islet serve` (see the parent module for the list).

use std::convert::Infallible;
use std::sync::Arc;

use ::memory::Memories;
use agents::{AgentHost, HttpRequest};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use codemode::catalog::{Catalog, Target, Tool};
use codemode::mcp::{CodeModeServer, ServerOptions, mcp_router, require_bearer};
use futures::Stream;
use sandbox::Bindings;
use serde::Deserialize;
use serde_json::{Value, json};

use super::agent_data;
use super::api::{ApiError, json_response};
use super::app::{App, call_args, read_body};
use super::executions::Executions;
use super::ops::{self, Metrics};

pub(crate) struct AppOptions {
    pub host: AgentHost,
    /// Runs chat turns of `Think` agents.
    pub harness: think::Harness,
    pub memories: Memories,
    /// `memory.*` over the profiles attached with `--memory` (empty when none).
    pub memory_bindings: Bindings,
    /// The ladder's rungs /mcp's `execute` gets (fetch, the browser).
    pub capabilities: Vec<Arc<dyn codemode::execute::Capability>>,
    /// Semantic `search` at /mcp (with --embeddings-url).
    pub semantic: Option<codemode::mcp::SemanticSearch>,
    pub token: String,
    pub max_body_bytes: usize,
    pub loopback: bool,
    /// Counters every route updates; served at `/metrics` unless `metrics_elsewhere`.
    pub metrics: Metrics,
    /// `/metrics` is served on its own address (`--metrics-listen`), not here.
    pub metrics_elsewhere: bool,
    /// The data directory, whose writability `/readyz` checks.
    pub data_dir: std::path::PathBuf,
    /// The default model's host, which `/readyz` checks (with `--model`).
    pub model_probe: Option<ops::ModelProbe>,
    /// Cluster mode: forwards requests for agents other nodes hold.
    pub cluster: Option<Arc<super::cluster::Router>>,
}

type Result<T, E = ApiError> = std::result::Result<T, E>;

pub(crate) fn app(options: AppOptions) -> anyhow::Result<Router> {
    let state = App {
        host: options.host.clone(),
        harness: options.harness.clone(),
        memories: options.memories.clone(),
        max_body_bytes: options.max_body_bytes,
        metrics: options.metrics.clone(),
        executions: Executions::default(),
        cluster: options.cluster.clone(),
    };
    let mcp = code_mode_server(
        &options.host,
        &options.memory_bindings,
        options.capabilities.clone(),
        options.semantic.clone(),
        options.metrics.code_mode_observer(),
        state.executions.mcp_observer(),
    );
    // The tools' vectors (from the cache, or embedded now) while clients connect; searches
    // before they are ready are lexical.
    mcp.start_semantic_search();
    let router = Router::new()
        .route("/agents", get(list_agents))
        .route("/agents/{class}/{name}/state", get(get_state))
        .route("/agents/{class}/{name}/state/events", get(state_events))
        .route("/agents/{class}/{name}/chat", post(chat))
        .route("/agents/{class}/{name}/chat/cancel", post(cancel_chat))
        .route(
            "/agents/{class}/{name}/sessions/{id}/stream",
            get(reconnect),
        )
        .route("/agents/{class}/{name}/request", any(on_request_root))
        .route("/agents/{class}/{name}/request/{*rest}", any(on_request))
        .route(
            "/agents/{class}/{name}/{method}",
            post(rpc).fallback(rpc_wrong_method),
        )
        .route("/memory", get(list_profiles))
        .route(
            "/memory/{namespace}/{profile}",
            axum::routing::delete(delete_profile),
        )
        .route(
            "/memory/{namespace}/{profile}/{operation}",
            post(memory_operation),
        )
        .fallback(not_found);
    let mut router = super::tables::routes(super::executions::routes(super::extensions::routes(
        super::sub_agents::routes(super::linux_sandbox::routes(super::sessions::routes(
            agent_data::routes(router),
        ))),
    )))
    .with_state(state)
    .merge(mcp_router(mcp, options.loopback));
    if !options.metrics_elsewhere {
        router = router.route(
            "/metrics",
            get(ops::metrics).with_state(options.metrics.clone()),
        );
    }
    let readiness = ops::Readiness {
        host: options.host.clone(),
        data: options.data_dir.clone(),
        model: options.model_probe.clone(),
        cluster: options.cluster.clone(),
    };
    // The API's description is public: clients read it before they have a token. Health
    // checks are too: load balancers and orchestrators probe without credentials, and the
    // answers reveal nothing but up/ready.
    // The console's assets are public like the API description: they hold no data, and the
    // login page has to load before there is a token.
    Ok(super::console::routes(require_bearer(
        router.layer(axum::middleware::from_fn_with_state(
            options.cluster,
            super::cluster::route,
        )),
        &options.token,
    ))
    .route("/openapi.json", get(openapi))
    .route("/healthz", get(ops::healthz))
    .route("/readyz", get(ops::readyz).with_state(readiness))
    .layer(axum::middleware::from_fn_with_state(
        options.metrics,
        ops::track,
    )))
}

/// `/metrics` alone, without a token, for `--metrics-listen` (an address only the
/// monitoring system reaches).
pub(crate) fn metrics_app(metrics: Metrics) -> Router {
    Router::new()
        .route("/metrics", get(ops::metrics))
        .with_state(metrics)
}

/// islet's own HTTP API as OpenAPI 3.1 (`GET /openapi.json`).
pub(crate) const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// Any method but POST on an RPC path: say what the path is for.
async fn rpc_wrong_method(
    method: Method,
    Path((class, name, rpc_method)): Path<(String, String, String)>,
) -> Response {
    let error = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!(
            "{method} is not allowed here: /agents/{class}/{name}/{rpc_method} calls the method \
             `{rpc_method}`; send POST with a JSON array of its arguments as the body (e.g. [5], \
             or an empty body for none)"
        ),
    );
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
    response
}

/// The Code Mode MCP endpoint: every public method of every class is a tool
/// `agents.<Class>.<method>({name, args})`, also callable as `agents.Class("name").method(...)`.
/// Its code runs in the agents' sandbox: one pool of isolates (or workers) for both.
fn code_mode_server(
    host: &AgentHost,
    memory_bindings: &Bindings,
    capabilities: Vec<Arc<dyn codemode::execute::Capability>>,
    semantic: Option<codemode::mcp::SemanticSearch>,
    observer: codemode::mcp::CallObserver,
    execution_observer: codemode::mcp::ExecutionObserver,
) -> CodeModeServer {
    let mut tools = Vec::new();
    let mut bindings = host.bindings();
    for (namespace, name, f) in memory_bindings.iter() {
        bindings.insert(namespace, name, Arc::clone(f));
        tools.push(Tool {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            original_name: name.to_owned(),
            description: format!(
                "Long-term memory: {name}. The namespace, as TypeScript:\n{}",
                ::memory::TYPESCRIPT
            ),
            input_schema: json!({"type": "object"}),
            output_schema: None,
            keywords: vec![
                "memory".to_owned(),
                "remember".to_owned(),
                "recall".to_owned(),
            ],
            target: Target::Host,
        });
    }
    for class in host.classes().iter() {
        for method in &class.methods {
            tools.push(think::agent_method_tool(class, method));
        }
    }
    let catalog = Catalog {
        title: "islet agents".to_owned(),
        tools,
    };
    let options = ServerOptions {
        execute_prelude: Some(AgentHost::prelude().into()),
        execute_note: think::agents_note(host.classes()),
        capabilities,
        semantic,
        observer: Some(observer),
        execution_observer: Some(execution_observer),
        ..ServerOptions::default()
    };
    CodeModeServer::with_sandbox(
        catalog,
        bindings.traced(),
        options,
        Arc::clone(host.sandbox()),
    )
}

async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!(
            "no route for {method} {}; see `islet serve --help` for the API (e.g. POST /agents/<class>/<name>/<method>)",
            uri.path()
        ),
    )
}

#[derive(Deserialize)]
struct ListQuery {
    class: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

async fn list_agents(State(app): State<App>, Query(q): Query<ListQuery>) -> Result<Response> {
    let after = match &q.after {
        Some(a) => Some(a.split_once('/').ok_or_else(|| {
            ApiError::bad_request("`after` is CLASS/NAME, the last agent of the previous page")
        })?),
        None => None,
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let list: Vec<Value> = match &app.cluster {
        // Cluster mode: the agents of every node, from the shared catalog.
        Some(cluster) => {
            if let Some(class) = &q.class {
                app.host.classes().get(class)?;
            }
            cluster
                .agents(q.class.as_deref(), after, limit)
                .await?
                .into_iter()
                .map(|a| {
                    let address = agents::Address::new(a.class.clone(), a.name.clone());
                    // Known only where the agent's copy is hot.
                    let here = a.holder.as_deref() == Some(cluster.node_id());
                    let (sub_agents, last_write) =
                        here.then(|| agent_data::activity(&app, &address)).unzip();
                    json!({
                        "class": a.class,
                        "name": a.name,
                        "createdAt": a.created_at_ms,
                        "active": a.holder.is_some(),
                        "node": a.holder,
                        "subAgents": sub_agents,
                        "lastActiveAt": last_write.flatten(),
                    })
                })
                .collect()
        }
        None => app
            .host
            .list(q.class.as_deref(), after, limit)?
            .iter()
            .map(|a| {
                let address = agents::Address::new(a.class.clone(), a.name.clone());
                let (sub_agents, last_write) = agent_data::activity(&app, &address);
                json!({
                    "class": a.class,
                    "name": a.name,
                    "createdAt": a.created_at,
                    "active": app.host.is_active(&address),
                    "subAgents": sub_agents,
                    "lastActiveAt": last_write,
                })
            })
            .collect(),
    };
    let next = list
        .last()
        .filter(|_| list.len() == limit)
        .and_then(|a| Some(format!("{}/{}", a["class"].as_str()?, a["name"].as_str()?)));
    Ok(json_response(
        StatusCode::OK,
        &json!({ "agents": list, "next": next }),
    ))
}

async fn rpc(
    State(app): State<App>,
    Path((class, name, method)): Path<(String, String, String)>,
    body: Body,
) -> Result<Response> {
    let body = read_body(&app, body).await?;
    let args = call_args(&body)?;
    let started = std::time::Instant::now();
    let called = app.host.call(&class, &name, &method, args).await;
    app.executions
        .answer_call(format!("{class}/{name}"), &method, started, called)
}

/// The body of a chat request: what the AI SDK's `useChat` sends (`id`, `messages` of
/// `parts`), plus islet's `sessionId`. Only the last user message is new: the session
/// holds the rest of the conversation.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChatBody {
    #[serde(default)]
    messages: Vec<ChatMessage>,
    session_id: Option<String>,
    /// Append the user's message under this message of the session instead of its
    /// current leaf (`null`: as a new first message): under a message that has children, a
    /// new branch (an edited question). Absent and null differ, hence the double option.
    #[serde(default, deserialize_with = "present")]
    parent_id: Option<Option<String>>,
    /// The AI SDK's `submit-message` or `regenerate-message` (its `regenerate()`: the last
    /// user message answered again, as a new branch beside the previous answer's question).
    #[serde(default)]
    trigger: Option<String>,
    /// With `regenerate-message`: the answer to replace (the AI SDK's `regenerate({
    /// messageId })`), any answer of the session; without it, the latest.
    #[serde(default)]
    message_id: Option<String>,
}

/// A field that is present (even as `null`) is `Some`.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> std::result::Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct ChatMessage {
    role: String,
    #[serde(default)]
    parts: Vec<Value>,
    /// The older `content: "text"` form.
    #[serde(default)]
    content: Option<Value>,
}

impl ChatMessage {
    fn text(&self) -> String {
        let mut text: Vec<&str> = self
            .parts
            .iter()
            .filter(|p| p["type"] == "text")
            .filter_map(|p| p["text"].as_str())
            .collect();
        if let Some(Value::String(content)) = &self.content {
            text.push(content);
        }
        text.join("\n")
    }
}

/// `POST …/chat`: one turn, streamed as the AI SDK's UI message stream.
async fn chat(
    State(app): State<App>,
    Path((class, name)): Path<(String, String)>,
    body: Body,
) -> Result<Response> {
    let body = read_body(&app, body).await?;
    let body: ChatBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body is {{\"messages\": [{{\"role\": \"user\", \"parts\": [{{\"type\": \"text\", \"text\": \"…\"}}]}}], \"sessionId\": \"…\"}} \
             (sessionId optional: without it a new session starts); this one is not: {e}"
        ))
    })?;
    let Some(last) = body.messages.iter().rev().find(|m| m.role == "user") else {
        return Err(ApiError::bad_request(
            "`messages` has no user message; send the user's words as the last message",
        ));
    };
    let request = think::ChatRequest {
        session_id: body.session_id.clone(),
        parent: match body.parent_id.clone() {
            None if body.trigger.as_deref() == Some("regenerate-message")
                && body.session_id.is_some() =>
            {
                match body.message_id.clone() {
                    Some(answer) => think::Parent::RegenerateAnswer(answer),
                    None => think::Parent::Regenerate,
                }
            }
            None => think::Parent::Leaf,
            Some(None) => think::Parent::Root,
            Some(Some(id)) => think::Parent::Message(id),
        },
        text: last.text(),
        ..think::ChatRequest::default()
    };
    let turn = app.harness.chat(&class, &name, request).await?;
    let recorder = app
        .executions
        .turn(format!("{class}/{name}"), turn.session_id.clone());
    Ok(ui_stream(turn.chunks, &turn.session_id, Some(recorder)))
}

/// The body of a cancel request.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CancelBody {
    session_id: String,
}

/// `POST …/chat/cancel` (`{"sessionId": "…"}`): stops the session's turn in progress (its
/// stream ends with an `abort` chunk). `{"cancelled": false}` when none is running.
async fn cancel_chat(
    State(app): State<App>,
    Path((class, name)): Path<(String, String)>,
    body: Body,
) -> Result<Response> {
    app.host.classes().get(&class)?;
    let body = read_body(&app, body).await?;
    let body: CancelBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body is {{\"sessionId\": \"…\"}}, the session whose turn to cancel; this one is not: {e}"
        ))
    })?;
    let cancelled = app.harness.cancel(&class, &name, &body.session_id);
    Ok(json_response(
        StatusCode::OK,
        &json!({ "cancelled": cancelled }),
    ))
}

/// `GET …/sessions/{id}/stream`: the session's turn in progress, replayed from its start
/// (also after a restart: from what the fiber stored) and then live (the AI SDK's
/// `resumeStream`); 204 when no turn is running.
async fn reconnect(
    State(app): State<App>,
    Path((class, name, id)): Path<(String, String, String)>,
) -> Result<Response> {
    app.host.classes().get(&class)?;
    Ok(match app.harness.reconnect(&class, &name, &id).await {
        Some(chunks) => ui_stream(chunks, &id, None),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// A turn's chunks as the AI SDK's UI message stream (server-sent events, then `[DONE]`).
/// A `recorder` sees each chunk as it goes out (the executions' record of the turn).
fn ui_stream(
    chunks: tokio::sync::mpsc::UnboundedReceiver<think::ui::Chunk>,
    session: &str,
    recorder: Option<super::executions::TurnRecorder>,
) -> Response {
    let stream = futures::stream::unfold(Some((chunks, recorder)), |state| async move {
        let (mut chunks, mut recorder) = state?;
        match chunks.recv().await {
            Some(chunk) => {
                if let Some(recorder) = &mut recorder {
                    recorder.observe(&chunk);
                }
                Some((Ok::<_, Infallible>(chunk.sse()), Some((chunks, recorder))))
            }
            None => {
                // A turn whose stream ends without `finish` or `abort` (a failed one) ends here.
                if let Some(recorder) = &mut recorder {
                    recorder.finish();
                }
                Some((Ok(think::ui::DONE.to_owned()), None))
            }
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    headers.insert(
        think::ui::HEADER.0,
        header::HeaderValue::from_static(think::ui::HEADER.1),
    );
    if let Ok(value) = header::HeaderValue::from_str(session) {
        headers.insert("x-islet-session-id", value);
    }
    response
}

async fn get_state(
    State(app): State<App>,
    Path((class, name)): Path<(String, String)>,
) -> Result<Response> {
    let state = app.host.state(&class, &name).await?;
    Ok(json_response(StatusCode::OK, &state))
}

async fn state_events(
    State(app): State<App>,
    Path((class, name)): Path<(String, String)>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    // Subscribe before reading, so no change between the two is missed.
    let events = app.host.subscribe();
    // An agent not created yet has no state: a client may subscribe before the first call.
    let initial = match app.host.state(&class, &name).await {
        Err(agents::Error::NoSuchAgent { .. }) => Value::Null,
        other => other?,
    };
    let address = agents::Address::new(class, name);
    let stream = futures::stream::unfold(
        (Some(initial), events, address),
        |(initial, mut events, address)| async move {
            if let Some(state) = initial {
                let event = Event::default().event("state").data(state.to_string());
                return Some((Ok(event), (None, events, address)));
            }
            loop {
                match events.recv().await {
                    Ok(e) if e.address == address => {
                        let event = Event::default().event("state").data(e.state.to_string());
                        return Some((Ok(event), (None, events, address)));
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        let event = Event::default().event("lagged").data(format!(
                            "{n} changes were skipped; read …/state for the current state"
                        ));
                        return Some((Ok(event), (None, events, address)));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

async fn on_request_root(
    State(app): State<App>,
    Path((class, name)): Path<(String, String)>,
    request: Request,
) -> Result<Response> {
    forward(app, class, name, request).await
}

async fn on_request(
    State(app): State<App>,
    Path((class, name, _rest)): Path<(String, String, String)>,
    request: Request,
) -> Result<Response> {
    forward(app, class, name, request).await
}

async fn forward(app: App, class: String, name: String, request: Request) -> Result<Response> {
    let (parts, body) = request.into_parts();
    let body = read_body(&app, body).await?;
    let host_header = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let url = format!("http://{host_header}{}", parts.uri);
    let request = HttpRequest {
        method: parts.method.to_string(),
        url,
        headers: headers_without_auth(&parts.headers),
        body: if body.is_empty() {
            None
        } else {
            Some(String::from_utf8(body.to_vec()).map_err(|_| {
                ApiError::bad_request("onRequest bodies must be UTF-8 text (e.g. JSON)")
            })?)
        },
    };
    let response = app.host.request(&class, &name, request).await?;
    let mut builder = Response::builder().status(response.status);
    for (k, v) in &response.headers {
        builder = builder.header(k, v);
    }
    builder.body(Body::from(response.body)).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "AGENT_ERROR",
            format!("onRequest returned an invalid response: {e}"),
        )
    })
}

/// The server's own bearer token is not the agent's business.
fn headers_without_auth(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(k, _)| *k != header::AUTHORIZATION)
        .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_owned())))
        .collect()
}

async fn list_profiles(State(app): State<App>) -> Result<Response> {
    // Cluster mode: the cluster's catalog, the same on every node (a node's own files
    // may be stale copies of profiles another node serves now).
    if let Some(memory) = app.cluster.as_ref().and_then(|c| c.memory.as_ref()) {
        let profiles = memory.list(&app.memories).await?;
        return Ok(json_response(
            StatusCode::OK,
            &json!({ "profiles": profiles }),
        ));
    }
    let profiles = app.memories.profiles().await.map_err(ApiError::from)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "profiles": profiles }),
    ))
}

async fn delete_profile(
    State(app): State<App>,
    Path((namespace, profile)): Path<(String, String)>,
) -> Result<Response> {
    let name = format!("{namespace}/{profile}");
    let deleted = match app.cluster.as_ref().and_then(|c| c.memory.as_ref()) {
        Some(memory) => {
            let profile = app.memories.profile(&name).map_err(ApiError::from)?;
            memory.delete(&app.memories, &profile).await?
        }
        None => app
            .memories
            .delete_profile(&name)
            .await
            .map_err(ApiError::from)?,
    };
    if !deleted {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("there is no memory profile {name}; list them with GET /memory"),
        ));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /memory/<ns>/<profile>/<operation>` with the operation's JSON input: the same
/// functions (and input shapes) as `memory.<operation>(input)` in code.
async fn memory_operation(
    State(app): State<App>,
    Path((namespace, profile, operation)): Path<(String, String, String)>,
    body: Body,
) -> Result<Response> {
    let body = read_body(&app, body).await?;
    let input: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body is not valid JSON ({e}); send the operation's input object"
            ))
        })?
    };
    let profile = app
        .memories
        .profile(&format!("{namespace}/{profile}"))
        .map_err(ApiError::from)?;
    let bindings = app
        .metrics
        .instrument_memory(&::memory::bindings(vec![profile]));
    let function = bindings
        .get(::memory::NAMESPACE, &operation)
        .ok_or_else(|| {
            let known: Vec<&str> = bindings.iter().map(|(_, name, _)| name).collect();
            ApiError::new(
                StatusCode::NOT_FOUND,
                "UNKNOWN_OPERATION",
                format!(
                    "no memory operation `{operation}`; the operations are: {}",
                    known.join(", ")
                ),
            )
        })?;
    let result = function(input).await.map_err(ApiError::from)?;
    Ok(json_response(StatusCode::OK, &result))
}
