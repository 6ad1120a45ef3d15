//! A mock OpenAI-compatible server, for tests and demos only: a real HTTP server speaking
//! the wire format of `POST /v1/chat/completions` and `POST /v1/embeddings`, so the
//! production client code is what gets exercised. Its answers are deterministic functions
//! of the request:
//!
//! - extraction prompts ([`crate::llm::EXTRACTION_PROMPT`]): one memory per message,
//!   `"<speaker> said: <text>"`; a `fact` with subject `<speaker>.employer` when the text
//!   says "I work at / I started at / I joined", `<speaker>.city` for "I live in / I moved
//!   to", else an `event`. A message containing `[[mock:bad-json]]` makes the reply not
//!   JSON; `[[mock:unknown-source]]` makes it cite a message id that was not sent;
//!   `[[mock:no-sources]]` leaves `source_message_ids` out, as small models do. A model
//!   whose name contains `no-schema` refuses a JSON Schema `response_format` with HTTP 400,
//!   as servers without structured outputs do.
//! - answer prompts: `According to memory [1]: <its content>`.
//! - embeddings: a hashed bag of crudely stemmed words (stopwords dropped), 256
//!   dimensions, unit length, so texts sharing words are similar. A model whose name
//!   contains `weak` gets vectors that say nothing about the text (a pseudo-random unit
//!   vector per distinct text): the weakest dense retriever there is.
//!
//! Requests without `Authorization: Bearer <key>` get OpenAI's 401 error body.

use crate::llm::{ANSWER_PROMPT, EXTRACTION_PROMPT};
use crate::text;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Dimensions of the mock's vectors.
pub const DIMENSIONS: usize = 256;

/// A running mock server; stops when dropped.
#[derive(Debug)]
pub struct MockOpenAi {
    addr: SocketAddr,
    state: Arc<MockState>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

#[derive(Debug)]
struct MockState {
    api_key: String,
    chat_requests: AtomicUsize,
    schema_requests: AtomicUsize,
    json_mode_schema_requests: AtomicUsize,
    embedding_requests: AtomicUsize,
    last_chat: std::sync::Mutex<Option<Value>>,
}

impl MockOpenAi {
    /// Starts on an ephemeral loopback port, accepting only `api_key`.
    pub async fn start(api_key: &str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(MockState {
            api_key: api_key.to_owned(),
            chat_requests: AtomicUsize::new(0),
            schema_requests: AtomicUsize::new(0),
            json_mode_schema_requests: AtomicUsize::new(0),
            embedding_requests: AtomicUsize::new(0),
            last_chat: std::sync::Mutex::new(None),
        });
        let app = axum::Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/embeddings", post(embeddings))
            .with_state(state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::warn!("mock OpenAI server stopped: {e}");
            }
        });
        Ok(Self {
            addr,
            state,
            _shutdown: tx,
        })
    }

    /// `http://127.0.0.1:<port>`: the base URL to configure.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Chat-completions requests received so far, to assert how often the LLM was asked.
    pub fn chat_requests(&self) -> usize {
        self.state.chat_requests.load(Ordering::SeqCst)
    }

    /// Chat requests that asked for a JSON Schema `response_format` (refused ones too).
    pub fn schema_requests(&self) -> usize {
        self.state.schema_requests.load(Ordering::SeqCst)
    }

    /// The body of the last chat request received.
    pub fn last_chat_request(&self) -> Option<Value> {
        base::sync::lock(&self.state.last_chat).clone()
    }

    /// Chat requests in JSON mode that carried the schema (`{type: "json_object", schema}`).
    pub fn json_mode_schema_requests(&self) -> usize {
        self.state.json_mode_schema_requests.load(Ordering::SeqCst)
    }

    /// Embeddings requests received so far (one request may carry several texts).
    pub fn embedding_requests(&self) -> usize {
        self.state.embedding_requests.load(Ordering::SeqCst)
    }
}

fn reply(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn error(status: StatusCode, message: &str, code: &str) -> Response {
    reply(
        status,
        json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": code}}),
    )
}

fn authorised(state: &MockState, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|k| k == state.api_key)
}

/// The request's JSON body, or the error response OpenAI gives for a wrong key or bad JSON.
// A mock's handler helper: the large `Err` is the response itself, returned at once.
#[allow(clippy::result_large_err)]
fn authorised_request(
    state: &MockState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, Response> {
    if !authorised(state, headers) {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "Incorrect API key provided.",
            "invalid_api_key",
        ));
    }
    serde_json::from_slice::<Value>(body).map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            "We could not parse the JSON body of your request.",
            "invalid_json",
        )
    })
}

async fn chat(State(state): State<Arc<MockState>>, headers: HeaderMap, body: Bytes) -> Response {
    state.chat_requests.fetch_add(1, Ordering::SeqCst);
    let request = match authorised_request(&state, &headers, &body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    let model = request["model"].as_str().unwrap_or("mock").to_owned();
    *base::sync::lock(&state.last_chat) = Some(request.clone());
    if request
        .pointer("/response_format/type")
        .and_then(Value::as_str)
        == Some("json_schema")
    {
        state.schema_requests.fetch_add(1, Ordering::SeqCst);
        if model.contains("no-schema") {
            return error(
                StatusCode::BAD_REQUEST,
                "response_format type 'json_schema' is not supported by this server",
                "invalid_request_error",
            );
        }
        // As llama-cpp-python's server answers it: request validation as a 500.
        if model.contains("llama-cpp-python") {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "1 validation error: ('body', 'response_format', 'type') Input should be 'text' or 'json_object'",
                "internal_server_error",
            );
        }
    }
    if request
        .pointer("/response_format/type")
        .and_then(Value::as_str)
        == Some("json_object")
        && request.pointer("/response_format/schema").is_some()
    {
        state
            .json_mode_schema_requests
            .fetch_add(1, Ordering::SeqCst);
    }
    let system = request
        .pointer("/messages/0/content")
        .and_then(Value::as_str);
    let user = request
        .pointer("/messages/1/content")
        .and_then(Value::as_str)
        .unwrap_or("");
    let content = match system {
        Some(EXTRACTION_PROMPT) => extraction(user),
        Some(ANSWER_PROMPT) => answer(user),
        _ => "mock: I only know islet's extraction and answer prompts".to_owned(),
    };
    reply(
        StatusCode::OK,
        json!({
            "id": format!("chatcmpl-mock-{}", state.chat_requests.load(Ordering::SeqCst)),
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }],
            "usage": {"prompt_tokens": user.len() / 4, "completion_tokens": content.len() / 4,
                      "total_tokens": (user.len() + content.len()) / 4},
        }),
    )
}

fn extraction(user: &str) -> String {
    let Ok(input) = serde_json::from_str::<Value>(user) else {
        return "{\"memories\": []}".into();
    };
    let mut memories = Vec::new();
    for m in input["messages"].as_array().into_iter().flatten() {
        let id = m["id"].as_str().unwrap_or("");
        let speaker = m["speaker"].as_str().unwrap_or("someone");
        let text = m["text"].as_str().unwrap_or("");
        if text.contains("[[mock:bad-json]]") {
            return "Sure! Here are the memories: alice works somewhere".into();
        }
        let source = if text.contains("[[mock:unknown-source]]") {
            "no-such-message"
        } else {
            id
        };
        let lower = text.to_lowercase();
        let subject = if ["i work at", "i started at", "i joined"]
            .iter()
            .any(|p| lower.contains(p))
        {
            Some(format!("{}.employer", speaker.to_lowercase()))
        } else if ["i live in", "i moved to"]
            .iter()
            .any(|p| lower.contains(p))
        {
            Some(format!("{}.city", speaker.to_lowercase()))
        } else {
            None
        };
        let mut memory = json!({
            "type": if subject.is_some() { "fact" } else { "event" },
            "content": format!("{speaker} said: {text}"),
            "subject": subject,
            "source_message_ids": [source],
        });
        if text.contains("[[mock:no-sources]]") {
            memory
                .as_object_mut()
                .map(|m| m.remove("source_message_ids"));
        }
        memories.push(memory);
    }
    json!({ "memories": memories }).to_string()
}

fn answer(user: &str) -> String {
    // Lines look like `[1] (2024-03-01T00:00:00Z, alice) content`.
    user.lines()
        .find_map(|l| l.strip_prefix("[1] ("))
        .and_then(|l| l.split_once(") "))
        .map_or_else(
            || "I do not know.".to_owned(),
            |(_, content)| format!("According to memory [1]: {content}"),
        )
}

async fn embeddings(
    State(state): State<Arc<MockState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.embedding_requests.fetch_add(1, Ordering::SeqCst);
    let request = match authorised_request(&state, &headers, &body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    let inputs: Vec<String> = match &request["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().unwrap_or_default().to_owned())
            .collect(),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "'input' must be a string or an array of strings",
                "invalid_input",
            );
        }
    };
    let weak = request["model"]
        .as_str()
        .is_some_and(|m| m.contains("weak"));
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let v = if weak { noise(t) } else { embed(t) };
            json!({"object": "embedding", "index": i, "embedding": v})
        })
        .collect();
    let tokens: usize = inputs.iter().map(|t| t.split_whitespace().count()).sum();
    reply(
        StatusCode::OK,
        json!({
            "object": "list",
            "data": data,
            "model": request["model"].as_str().unwrap_or("mock"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }),
    )
}

/// The mock's embedding of `text`: signed feature hashing of its stemmed content words.
pub fn embed(text: &str) -> Vec<f32> {
    let mut v = vec![0f32; DIMENSIONS];
    for word in text::terms(text) {
        let h = fnv1a(stem(&word).as_bytes());
        let sign = if h & (1 << 63) == 0 { 1.0 } else { -1.0 };
        v[(h % DIMENSIONS as u64) as usize] += sign;
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm == 0.0 {
        v[0] = 1.0;
    } else {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// A unit vector determined by `text` but unrelated to its meaning.
fn noise(text: &str) -> Vec<f32> {
    let mut state = fnv1a(text.as_bytes()) | 1;
    let mut v: Vec<f32> = (0..DIMENSIONS)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

fn stem(word: &str) -> &str {
    for suffix in ["ing", "ed", "es", "s"] {
        if word.len() > suffix.len() + 2
            && let Some(s) = word.strip_suffix(suffix)
        {
            return s;
        }
    }
    word
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
