//! A scripted model for tests and benchmarks: a real HTTP server on loopback that speaks
//! both wire formats (`POST /v1/chat/completions` as OpenAI, `POST /v1/messages` as
//! Anthropic, real server-sent events), answers each request with the next queued
//! [`Reply`], and records every request it received.
//!
//! ```no_run
//! # async fn demo(http: reqwest::Client) -> Result<(), Box<dyn std::error::Error>> {
//! use llm::scripted::{Reply, ScriptedModel};
//! let server = ScriptedModel::start().await?;
//! server.push(Reply::new().tool_call("call_1", "add", serde_json::json!({"a": 1, "b": 2})));
//! server.push(Reply::new().text("It is 3.").usage(12, 4));
//! let model = server.model(http, llm::ProviderKind::Anthropic, "claude-test");
//! # Ok(()) }
//! ```

use crate::{ApiKey, Endpoint, FinishReason, Model, ModelSpec, ProviderKind, Usage};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base::sync::lock;
use futures::StreamExt;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A running scripted model; stops when dropped.
#[derive(Debug)]
pub struct ScriptedModel {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

/// Computes the reply to a request when the queue is empty.
pub type Responder = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

#[derive(Default)]
struct Shared {
    api_key: Option<String>,
    replies: Mutex<VecDeque<Reply>>,
    responder: Mutex<Option<Responder>>,
    requests: Mutex<Vec<Recorded>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("queued", &lock(&self.replies).len())
            .field("requests", &lock(&self.requests).len())
            .finish_non_exhaustive()
    }
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Which wire format it came in.
    pub provider: ProviderKind,
    /// The key it carried (`Authorization: Bearer …` or `x-api-key`), for tests that check
    /// the key was sent.
    pub api_key: Option<String>,
    /// The `anthropic-version` header.
    pub anthropic_version: Option<String>,
    /// The JSON body (or the text, as a JSON string, if it was not JSON).
    pub body: Value,
}

/// One scripted answer. Build a streamed answer with [`Reply::new`] and its methods, or an
/// HTTP error with [`Reply::error`] / [`Reply::rate_limited`] / [`Reply::raw`].
#[derive(Debug, Clone)]
pub struct Reply {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Stream(Script),
    Raw {
        status: u16,
        headers: Vec<(String, String)>,
        content_type: String,
        body: String,
    },
}

#[derive(Debug, Clone, Default)]
struct Script {
    steps: Vec<Step>,
    usage: Option<Usage>,
    finish: Option<FinishReason>,
    delay: Duration,
    first_delay: Duration,
    end: End,
}

#[derive(Debug, Clone)]
enum Step {
    Text(String),
    ToolCall {
        id: String,
        name: String,
        chunks: Vec<String>,
    },
    Garbage(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum End {
    #[default]
    Finish,
    Stall,
    Close,
    Abort,
}

impl Default for Reply {
    fn default() -> Self {
        Self::new()
    }
}

impl Reply {
    /// An empty streamed answer; add text and tool calls.
    pub fn new() -> Self {
        Self {
            kind: Kind::Stream(Script::default()),
        }
    }

    fn script(mut self, f: impl FnOnce(&mut Script)) -> Self {
        if let Kind::Stream(script) = &mut self.kind {
            f(script);
        }
        self
    }

    /// One chunk of text.
    pub fn text(self, text: impl Into<String>) -> Self {
        let text = text.into();
        self.script(|s| s.steps.push(Step::Text(text)))
    }

    /// Several chunks of text, one event each.
    pub fn text_chunks<S: Into<String>>(self, chunks: impl IntoIterator<Item = S>) -> Self {
        let chunks: Vec<String> = chunks.into_iter().map(Into::into).collect();
        self.script(|s| s.steps.extend(chunks.into_iter().map(Step::Text)))
    }

    /// A tool call whose arguments stream in two pieces.
    pub fn tool_call(
        self,
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: Value,
    ) -> Self {
        let text = arguments.to_string();
        let cut = text
            .char_indices()
            .nth(text.chars().count() / 2)
            .map_or(0, |(i, _)| i);
        let chunks = vec![text[..cut].to_owned(), text[cut..].to_owned()];
        self.tool_call_raw(id, name, chunks)
    }

    /// A tool call whose arguments are exactly these pieces of text (valid JSON or not).
    pub fn tool_call_raw<S: Into<String>>(
        self,
        id: impl Into<String>,
        name: impl Into<String>,
        chunks: impl IntoIterator<Item = S>,
    ) -> Self {
        let step = Step::ToolCall {
            id: id.into(),
            name: name.into(),
            chunks: chunks.into_iter().map(Into::into).collect(),
        };
        self.script(|s| s.steps.push(step))
    }

    /// Bytes sent as they are, where the next event would be (e.g. not JSON, not SSE).
    pub fn garbage(self, bytes: impl Into<String>) -> Self {
        let bytes = bytes.into();
        self.script(|s| s.steps.push(Step::Garbage(bytes)))
    }

    /// Tokens to report.
    pub fn usage(self, input_tokens: u64, output_tokens: u64) -> Self {
        self.script(|s| {
            s.usage = Some(Usage {
                input_tokens,
                output_tokens,
            })
        })
    }

    /// The finish reason (default: tool calls when there are any, else stop).
    pub fn finish(self, reason: FinishReason) -> Self {
        self.script(|s| s.finish = Some(reason))
    }

    /// A pause before each event.
    pub fn delay(self, delay: Duration) -> Self {
        self.script(|s| s.delay = delay)
    }

    /// A pause before the response headers (time to first byte).
    pub fn first_delay(self, delay: Duration) -> Self {
        self.script(|s| s.first_delay = delay)
    }

    /// After the steps, send nothing more and keep the connection open.
    pub fn then_stall(self) -> Self {
        self.script(|s| s.end = End::Stall)
    }

    /// After the steps, end the body cleanly without the finishing events.
    pub fn then_close(self) -> Self {
        self.script(|s| s.end = End::Close)
    }

    /// After the steps, abort the connection.
    pub fn then_abort(self) -> Self {
        self.script(|s| s.end = End::Abort)
    }

    /// An HTTP error with a body in the wire format's error shape.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        let message = message.into();
        let body = json!({"type": "error", "error": {"type": "api_error", "message": message}});
        Self::raw(status, "application/json", body.to_string())
    }

    /// A 429 with `retry-after` (seconds, or an HTTP date).
    pub fn rate_limited(retry_after: impl Into<String>) -> Self {
        let mut reply = Self::error(429, "Rate limit reached; try again later.");
        if let Kind::Raw { headers, .. } = &mut reply.kind {
            headers.push(("retry-after".into(), retry_after.into()));
        }
        reply
    }

    /// Any status, content type and body.
    pub fn raw(status: u16, content_type: impl Into<String>, body: impl Into<String>) -> Self {
        Self {
            kind: Kind::Raw {
                status,
                headers: Vec::new(),
                content_type: content_type.into(),
                body: body.into(),
            },
        }
    }
}

impl ScriptedModel {
    /// Starts on an ephemeral loopback port, accepting any key (or none).
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(None).await
    }

    /// Starts accepting only `key` (anything else gets a 401 that quotes the key sent, as
    /// real providers do, so redaction is exercised).
    pub async fn start_with_key(key: &str) -> std::io::Result<Self> {
        Self::start_with(Some(key.to_owned())).await
    }

    async fn start_with(api_key: Option<String>) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            api_key,
            ..Shared::default()
        });
        let app = axum::Router::new()
            .route("/v1/chat/completions", post(openai))
            .route("/v1/messages", post(anthropic))
            .with_state(shared.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::warn!("scripted model server stopped: {e}");
            }
        });
        Ok(Self {
            addr,
            shared,
            _shutdown: tx,
        })
    }

    /// The base URL to configure for `provider`.
    pub fn base_url(&self, provider: ProviderKind) -> String {
        match provider {
            ProviderKind::OpenAi => format!("http://{}/v1", self.addr),
            ProviderKind::Anthropic => format!("http://{}", self.addr),
        }
    }

    /// An endpoint for `provider:model` at this server, with a key if the server wants one.
    pub fn endpoint(&self, provider: ProviderKind, model: &str) -> Endpoint {
        Endpoint {
            spec: ModelSpec::new(provider, model),
            base_url: self.base_url(provider),
            api_key: self.shared.api_key.clone().and_then(ApiKey::new),
        }
    }

    /// A [`Model`] at this server.
    pub fn model(&self, http: reqwest::Client, provider: ProviderKind, model: &str) -> Model {
        Model::new(http, self.endpoint(provider, model))
    }

    /// Queues the answer to the next request.
    pub fn push(&self, reply: Reply) {
        lock(&self.shared.replies).push_back(reply);
    }

    /// The answer given whenever the queue is empty (by default: HTTP 400 saying so).
    pub fn set_fallback(&self, reply: Reply) {
        self.set_responder(move |_| reply.clone());
    }

    /// Answers from the request itself whenever the queue is empty: for concurrent
    /// conversations, where the order of requests is not fixed (e.g. call a tool when the
    /// last message is the user's, answer when it is a tool result).
    pub fn set_responder(&self, responder: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) {
        *lock(&self.shared.responder) = Some(Arc::new(responder));
    }

    /// Replies still queued.
    pub fn queued(&self) -> usize {
        lock(&self.shared.replies).len()
    }

    /// Every request received, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.requests).clone()
    }
}

async fn openai(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    serve(&shared, ProviderKind::OpenAi, &headers, &body).await
}

async fn anthropic(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    serve(&shared, ProviderKind::Anthropic, &headers, &body).await
}

async fn serve(
    shared: &Shared,
    provider: ProviderKind,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let api_key = match provider {
        ProviderKind::OpenAi => {
            text("authorization").and_then(|v| v.strip_prefix("Bearer ").map(str::to_owned))
        }
        ProviderKind::Anthropic => text("x-api-key"),
    };
    let body = serde_json::from_slice::<Value>(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
    let recorded = Recorded {
        provider,
        api_key: api_key.clone(),
        anthropic_version: text("anthropic-version"),
        body,
    };
    lock(&shared.requests).push(recorded.clone());
    if let Some(expected) = &shared.api_key
        && api_key.as_deref() != Some(expected.as_str())
    {
        let message = format!(
            "Incorrect API key provided: {}.",
            api_key.as_deref().unwrap_or("(none)")
        );
        return respond(provider, Reply::error(401, message)).await;
    }
    let reply = lock(&shared.replies).pop_front();
    let reply = reply.or_else(|| {
        let responder = lock(&shared.responder).clone();
        responder.map(|r| r(&recorded))
    });
    let reply = reply.unwrap_or_else(|| {
        Reply::error(
            400,
            "the scripted model has no reply queued for this request",
        )
    });
    respond(provider, reply).await
}

async fn respond(provider: ProviderKind, reply: Reply) -> Response {
    let script = match reply.kind {
        Kind::Raw {
            status,
            headers,
            content_type,
            body,
        } => {
            let mut response = (
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                [(header::CONTENT_TYPE, content_type)],
                body,
            )
                .into_response();
            for (name, value) in headers {
                if let (Ok(name), Ok(value)) = (
                    header::HeaderName::try_from(name),
                    header::HeaderValue::try_from(value),
                ) {
                    response.headers_mut().insert(name, value);
                }
            }
            return response;
        }
        Kind::Stream(script) => script,
    };
    if !script.first_delay.is_zero() {
        tokio::time::sleep(script.first_delay).await;
    }
    let mut frames = match provider {
        ProviderKind::OpenAi => openai_frames(&script),
        ProviderKind::Anthropic => anthropic_frames(&script),
    };
    if script.end != End::Finish {
        frames.truncate(frames.iter().rposition(|f| f.body).map_or(0, |i| i + 1));
    }
    let delay = script.delay;
    let events = futures::stream::iter(frames).then(move |frame| async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Ok::<Bytes, std::io::Error>(Bytes::from(frame.bytes))
    });
    let body = match script.end {
        End::Finish | End::Close => Body::from_stream(events),
        End::Stall => Body::from_stream(events.chain(futures::stream::pending())),
        // The pause lets the frames before it reach the client (an error drops what the
        // server has not flushed yet).
        End::Abort => Body::from_stream(events.chain(futures::stream::once(async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err(std::io::Error::other("scripted abort"))
        }))),
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// One write to the wire. `body` marks frames that carry the scripted steps: a `then_*`
/// ending drops every frame after the last of them.
struct Frame {
    bytes: Vec<u8>,
    body: bool,
}

fn frame(event: Option<&str>, data: &Value, body: bool) -> Frame {
    let mut text = String::new();
    if let Some(event) = event {
        text.push_str(&format!("event: {event}\n"));
    }
    text.push_str(&format!("data: {data}\n\n"));
    Frame {
        bytes: text.into_bytes(),
        body,
    }
}

fn finish_of(script: &Script) -> FinishReason {
    script.finish.clone().unwrap_or_else(|| {
        if script
            .steps
            .iter()
            .any(|s| matches!(s, Step::ToolCall { .. }))
        {
            FinishReason::ToolCalls
        } else {
            FinishReason::Stop
        }
    })
}

fn openai_frames(script: &Script) -> Vec<Frame> {
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 0,
               "model": "scripted", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut frames = vec![frame(
        None,
        &chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        true,
    )];
    let mut call_index = 0;
    for step in &script.steps {
        match step {
            Step::Text(text) => frames.push(frame(
                None,
                &chunk(json!({"content": text}), Value::Null),
                true,
            )),
            Step::ToolCall { id, name, chunks } => {
                frames.push(frame(
                    None,
                    &chunk(
                        json!({"tool_calls": [{"index": call_index, "id": id,
                    "type": "function", "function": {"name": name, "arguments": ""}}]}),
                        Value::Null,
                    ),
                    true,
                ));
                for piece in chunks {
                    frames.push(frame(
                        None,
                        &chunk(
                            json!({"tool_calls": [{"index": call_index,
                        "function": {"arguments": piece}}]}),
                            Value::Null,
                        ),
                        true,
                    ));
                }
                call_index += 1;
            }
            Step::Garbage(bytes) => frames.push(Frame {
                bytes: bytes.clone().into_bytes(),
                body: true,
            }),
        }
    }
    let reason = match finish_of(script) {
        FinishReason::Stop => "stop".to_owned(),
        FinishReason::Length => "length".to_owned(),
        FinishReason::ToolCalls => "tool_calls".to_owned(),
        FinishReason::ContentFilter => "content_filter".to_owned(),
        FinishReason::Other(other) => other,
    };
    frames.push(frame(None, &chunk(json!({}), json!(reason)), false));
    if let Some(usage) = script.usage {
        frames.push(frame(
            None,
            &json!({"id": "chatcmpl-scripted", "object": "chat.completion.chunk",
            "created": 0, "model": "scripted", "choices": [],
            "usage": {"prompt_tokens": usage.input_tokens, "completion_tokens": usage.output_tokens,
                      "total_tokens": usage.input_tokens + usage.output_tokens}}),
            false,
        ));
    }
    frames.push(Frame {
        bytes: b"data: [DONE]\n\n".to_vec(),
        body: false,
    });
    frames
}

fn anthropic_frames(script: &Script) -> Vec<Frame> {
    let usage = script.usage.unwrap_or_default();
    let mut frames = vec![
        frame(
            Some("message_start"),
            &json!({"type": "message_start", "message": {
            "id": "msg_scripted", "type": "message", "role": "assistant", "content": [],
            "model": "scripted", "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": usage.input_tokens, "output_tokens": 1}}}),
            true,
        ),
        frame(Some("ping"), &json!({"type": "ping"}), true),
    ];
    let mut block = 0;
    let mut text_open = false;
    let close = |frames: &mut Vec<Frame>, block: &mut usize| {
        // Not a step: a `then_*` ending cuts the last block before its stop.
        frames.push(frame(
            Some("content_block_stop"),
            &json!({"type": "content_block_stop", "index": *block}),
            false,
        ));
        *block += 1;
    };
    for step in &script.steps {
        match step {
            Step::Text(text) => {
                if !text_open {
                    frames.push(frame(
                        Some("content_block_start"),
                        &json!({"type": "content_block_start",
                        "index": block, "content_block": {"type": "text", "text": ""}}),
                        true,
                    ));
                    text_open = true;
                }
                frames.push(frame(
                    Some("content_block_delta"),
                    &json!({"type": "content_block_delta",
                    "index": block, "delta": {"type": "text_delta", "text": text}}),
                    true,
                ));
            }
            Step::ToolCall { id, name, chunks } => {
                if text_open {
                    close(&mut frames, &mut block);
                    text_open = false;
                }
                frames.push(frame(Some("content_block_start"), &json!({"type": "content_block_start",
                    "index": block, "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}), true));
                for piece in chunks {
                    frames.push(frame(Some("content_block_delta"), &json!({"type": "content_block_delta",
                        "index": block, "delta": {"type": "input_json_delta", "partial_json": piece}}), true));
                }
                close(&mut frames, &mut block);
            }
            Step::Garbage(bytes) => frames.push(Frame {
                bytes: bytes.clone().into_bytes(),
                body: true,
            }),
        }
    }
    if text_open {
        close(&mut frames, &mut block);
    }
    let reason = match finish_of(script) {
        FinishReason::Stop => "end_turn".to_owned(),
        FinishReason::Length => "max_tokens".to_owned(),
        FinishReason::ToolCalls => "tool_use".to_owned(),
        FinishReason::ContentFilter => "refusal".to_owned(),
        FinishReason::Other(other) => other,
    };
    frames.push(frame(
        Some("message_delta"),
        &json!({"type": "message_delta",
        "delta": {"stop_reason": reason, "stop_sequence": null},
        "usage": {"output_tokens": usage.output_tokens}}),
        false,
    ));
    frames.push(frame(
        Some("message_stop"),
        &json!({"type": "message_stop"}),
        false,
    ));
    frames
}
