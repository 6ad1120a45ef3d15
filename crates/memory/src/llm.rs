//! Clients of OpenAI-compatible endpoints: `POST {url}/v1/chat/completions` for extraction
//! and answers, `POST {url}/v1/embeddings` for vectors.
//!
//! The API key lives only here: it is sent as a bearer token, never logged, never put in an
//! error message (response bodies quoted in errors have it redacted).

use crate::model::{Memory, MemoryType, Message};
use crate::{Error, time};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// An OpenAI-compatible endpoint: base URL (`http://localhost:8080`, with or without a
/// trailing `/v1`), model name and optional API key.
#[derive(Clone)]
pub struct Endpoint {
    /// The server's base URL; `/v1/...` paths are appended per request.
    pub url: String,
    /// The model name sent in every request (an embeddings model for the embeddings
    /// endpoint, a chat model for the LLM).
    pub model: String,
    /// Sent as a bearer token; `None` for local servers that need none.
    pub api_key: Option<String>,
    /// The HTTP client: the caller supplies it so every outbound request shares one TLS
    /// setup (islet passes `codemode::egress::tls::client_builder()`'s).
    pub client: reqwest::Client,
    /// Per request; `None`: 180 s for extraction, 120 s for answers, 60 s for embeddings.
    pub timeout: Option<Duration>,
    /// Further attempts after a request fails for a reason that may pass (no connection,
    /// a timeout, HTTP 408, 429 or 5xx), 0.5 s apart and doubling.
    pub retries: u32,
    /// How many of extraction's `response_format`s, best first, the server refused: later
    /// batches start at the first it has not.
    formats_refused: Arc<AtomicUsize>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .finish()
    }
}

impl Endpoint {
    /// `client` does the HTTP. A `reqwest` client needs a TLS provider even for `http://`
    /// URLs in this build, so the caller supplies one: islet passes
    /// `codemode::egress::tls::client_builder()`'s (rustls on ring, the OS trust roots).
    pub fn new(client: reqwest::Client, url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            model: model.into(),
            api_key: None,
            client,
            timeout: None,
            retries: 2,
            formats_refused: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The timeout of each request (each attempt).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How many times a failed request that may pass is retried.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The bearer token to send (an empty key means none).
    pub fn api_key(mut self, key: Option<String>) -> Self {
        self.api_key = key.filter(|k| !k.is_empty());
        self
    }

    fn url_of(&self, path: &str) -> String {
        let base = self.url.trim_end_matches('/');
        let base = base.strip_suffix("/v1").unwrap_or(base);
        format!("{base}/v1/{path}")
    }

    /// POSTs `body` and returns the parsed JSON reply, or `(url, reason)`; retries what may
    /// pass (see [`Endpoint::retries`]).
    async fn post(&self, path: &str, body: &Value, timeout: Duration) -> Result<Value, Failure> {
        let mut delay = Duration::from_millis(500);
        let mut attempt = 0;
        loop {
            match self.post_once(path, body, timeout).await {
                Err(f) if f.transient && attempt < self.retries => {
                    attempt += 1;
                    tracing::debug!(url = %f.url, attempt, "retrying: {}", f.reason);
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(mut f) if attempt > 0 => {
                    f.reason = format!("{} (after {} attempts)", f.reason, attempt + 1);
                    return Err(f);
                }
                other => return other,
            }
        }
    }

    async fn post_once(
        &self,
        path: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<Value, Failure> {
        let url = self.url_of(path);
        let fail = |reason: String, transient: bool, status: Option<u16>| Failure {
            url: url.clone(),
            reason,
            transient,
            status,
        };
        let mut request = self
            .client
            .post(&url)
            .timeout(self.timeout.unwrap_or(timeout))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(key) = &self.api_key {
            request = request.header(reqwest::header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Err(fail(base::error_chain(&e), true, None)),
        };
        let status = response.status();
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return Err(fail(
                    format!("reading the reply: {}", base::error_chain(&e)),
                    true,
                    None,
                ));
            }
        };
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes);
            let text: String = text.chars().take(300).collect();
            let text = match &self.api_key {
                Some(key) => text.replace(key.as_str(), "<redacted>"),
                None => text,
            };
            let transient =
                status.as_u16() == 408 || status.as_u16() == 429 || status.is_server_error();
            return Err(fail(
                format!("HTTP {status}: {text}"),
                transient,
                Some(status.as_u16()),
            ));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| fail(format!("the reply is not JSON ({e})"), false, None))
    }
}

/// Why a request failed.
#[derive(Debug)]
struct Failure {
    url: String,
    reason: String,
    /// Worth retrying.
    transient: bool,
    /// The HTTP status, when the server answered.
    status: Option<u16>,
}

impl Failure {
    fn llm(self) -> Error {
        Error::Llm {
            url: self.url,
            reason: self.reason,
        }
    }

    fn embeddings(self) -> Error {
        Error::Embeddings {
            url: self.url,
            reason: self.reason,
        }
    }
}

/// What the LLM extracted: validated, not yet stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Extracted {
    pub kind: MemoryType,
    pub content: String,
    pub subject: Option<String>,
    pub source_message_ids: Vec<String>,
}

/// Marks the extraction prompt (the mock server recognises it by this phrase).
pub const EXTRACTION_PROMPT: &str = "You extract durable memories from a conversation for an \
AI agent's long-term memory.\n\
Reply with ONE JSON object and nothing else, of the form \
{\"memories\":[{\"type\":\"fact\",\"content\":\"...\",\"subject\":\"...\",\"source_message_ids\":[\"...\"]}]}.\n\
- type: \"fact\" (true about the world or a person), \"event\" (happened at a time), \
\"instruction\" (how the agent should behave) or \"task\" (something to do).\n\
- content: one self-contained sentence in the third person that names who it is about \
(\"Alice works at Initech as a designer\"), understandable without the conversation.\n\
- subject: for facts that can change later, a short stable key such as \"alice.employer\" or \
\"bob.city\", the same key every time the same thing is stated, so a newer memory replaces \
an older one; omit it otherwise.\n\
- source_message_ids: the ids of the input messages the memory comes from (at least one).\n\
Skip small talk and anything not worth remembering. Do not invent facts.";

/// Marks the answer prompt.
pub const ANSWER_PROMPT: &str = "You answer a question from an AI agent's memories. Use only \
the memories given; prefer newer ones when they conflict; if they do not contain the \
answer, say that you do not know. Answer in one or two sentences.";

/// The JSON Schema of an extraction reply, for `response_format` (OpenAI's strict mode:
/// every property required, no others; `subject` may be null). Servers that constrain
/// decoding to it (llama.cpp, vLLM, Ollama) get valid memories even from small models.
pub fn extraction_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "memories": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string", "enum": ["fact", "event", "instruction", "task"]},
                        "content": {"type": "string", "minLength": 1},
                        "subject": {"type": ["string", "null"]},
                        "source_message_ids": {
                            "type": "array",
                            "items": {"type": "string"},
                            "minItems": 1
                        }
                    },
                    "required": ["type", "content", "subject", "source_message_ids"],
                    "additionalProperties": false
                }
            }
        },
        "required": ["memories"],
        "additionalProperties": false
    })
}

/// [`extraction_schema`] for one batch: a source id must be one of `ids`, so a model whose
/// decoding is constrained by the schema cannot cite a message it was not sent (a 135M
/// model behind llama.cpp did, and its batch fell back to storing messages as said).
fn extraction_schema_for(ids: &[&str]) -> Value {
    let mut schema = extraction_schema();
    schema["properties"]["memories"]["items"]["properties"]["source_message_ids"]["items"] =
        json!({"type": "string", "enum": ids});
    schema
}

/// Asks the model for memories in `messages` (one session) and validates the reply: with a
/// strict JSON Schema `response_format`, or JSON mode where the server refuses schemas.
/// An unusable reply is [`Error::LlmReply`]; the caller decides what to do with it.
pub(crate) async fn extract(
    llm: &Endpoint,
    session_id: &str,
    messages: &[(&Message, i64)],
) -> Result<Vec<Extracted>, Error> {
    let input = json!({
        "session_id": session_id,
        "messages": messages.iter().map(|(m, at)| json!({
            "id": m.id, "speaker": m.speaker, "date": time::format_iso8601(*at), "text": m.text,
        })).collect::<Vec<_>>(),
    });
    let body = |response_format: Value| {
        json!({
            "model": llm.model,
            "temperature": 0,
            "response_format": response_format,
            "messages": [
                {"role": "system", "content": EXTRACTION_PROMPT},
                {"role": "user", "content": input.to_string()},
            ],
        })
    };
    let ids: Vec<&str> = messages.iter().map(|(m, _)| m.id.as_str()).collect();
    let schema = extraction_schema_for(&ids);
    // Each format a server may refuse, the best first: a strict JSON Schema; JSON mode with
    // the schema attached (llama.cpp constrains decoding by it); plain JSON mode. A refusal
    // moves this endpoint to the next one for good, so later batches ask only what works.
    let formats = [
        json!({"type": "json_schema", "json_schema": {"name": "memories", "strict": true, "schema": schema}}),
        json!({"type": "json_object", "schema": schema}),
        json!({"type": "json_object"}),
    ];
    let timeout = Duration::from_secs(180);
    let mut level = llm
        .formats_refused
        .load(Ordering::Relaxed)
        .min(formats.len() - 1);
    let reply = loop {
        match llm.post("chat/completions", &body(formats[level].clone()), timeout).await {
            Err(f) if refused_response_format(&f) && level + 1 < formats.len() => {
                tracing::info!(url = %f.url, "the LLM refused response_format {} ({}); asking with the next",
                    formats[level]["type"], f.reason);
                level += 1;
                llm.formats_refused.fetch_max(level, Ordering::Relaxed);
            }
            other => break other,
        }
    }
    .map_err(Failure::llm)?;
    let content = reply_content(&reply)?;
    let known: BTreeSet<&str> = messages.iter().map(|(m, _)| m.id.as_str()).collect();
    parse_extraction(&content, &known)
}

/// Whether a failed request was the server refusing its `response_format`: a 400 or 422
/// (how servers without structured outputs answer), or an error that names the parameter
/// (llama-cpp-python's server answers its request validation with a 500).
fn refused_response_format(f: &Failure) -> bool {
    matches!(f.status, Some(400 | 422))
        || (f.status.is_some_and(|s| s >= 500) && f.reason.contains("response_format"))
}

/// `choices[0].message.content` of a chat completion.
fn reply_content(reply: &Value) -> Result<String, Error> {
    reply
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Error::LlmReply {
            reason: "it has no `choices[0].message.content` string".into(),
        })
}

/// Validates the model's JSON: every memory has a known type, non-blank content and at
/// least one source id among the messages it was given.
pub(crate) fn parse_extraction(
    content: &str,
    known_ids: &BTreeSet<&str>,
) -> Result<Vec<Extracted>, Error> {
    let bad = |reason: String| Error::LlmReply { reason };
    // Models wrap JSON in markdown fences even when told not to.
    let text = content.trim();
    let text = text
        .strip_prefix("```json")
        .or_else(|| text.strip_prefix("```"))
        .and_then(|t| t.strip_suffix("```"))
        .unwrap_or(text);
    let value: Value = serde_json::from_str(text.trim()).map_err(|e| {
        let head: String = content.chars().take(120).collect();
        bad(format!("it is not JSON ({e}); it began `{head}`"))
    })?;
    let Some(list) = value.get("memories").and_then(Value::as_array) else {
        return Err(bad("it has no `memories` array".into()));
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, m) in list.iter().enumerate() {
        let at = |field: &str| format!("memories[{i}].{field}");
        let kind = m
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("{} is missing", at("type"))))?;
        let kind: MemoryType = kind.parse().map_err(|_| {
            bad(format!(
                "{} is `{kind}`, not fact, event, instruction or task",
                at("type")
            ))
        })?;
        let content = m
            .get("content")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| bad(format!("{} is missing or blank", at("content"))))?;
        let subject = match m.get("subject") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => crate::text::normalize_subject(s),
            Some(_) => return Err(bad(format!("{} is not a string", at("subject")))),
        };
        let sources = m
            .get("source_message_ids")
            .and_then(Value::as_array)
            .ok_or_else(|| bad(format!("{} is missing", at("source_message_ids"))))?;
        let mut ids = Vec::with_capacity(sources.len());
        for s in sources {
            let id = s
                .as_str()
                .ok_or_else(|| bad(format!("{} holds a non-string", at("source_message_ids"))))?;
            if !known_ids.contains(id) {
                return Err(bad(format!(
                    "{} names `{id}`, which is not one of the messages sent",
                    at("source_message_ids")
                )));
            }
            if !ids.iter().any(|x| x == id) {
                ids.push(id.to_owned());
            }
        }
        if ids.is_empty() {
            return Err(bad(format!("{} is empty", at("source_message_ids"))));
        }
        out.push(Extracted {
            kind,
            content: content.to_owned(),
            subject,
            source_message_ids: ids,
        });
    }
    Ok(out)
}

/// Asks the model to answer `question` from `memories` (best first).
pub(crate) async fn answer(
    llm: &Endpoint,
    question: &str,
    memories: &[&Memory],
) -> Result<String, Error> {
    let mut prompt = format!("Question: {question}\n\nMemories, most relevant first:\n");
    for (i, m) in memories.iter().enumerate() {
        prompt.push_str(&format!(
            "[{}] ({}{}) {}\n",
            i + 1,
            time::format_iso8601(m.occurred_at),
            m.speaker
                .as_deref()
                .map(|s| format!(", {s}"))
                .unwrap_or_default(),
            m.content
        ));
    }
    let body = json!({
        "model": llm.model,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": ANSWER_PROMPT},
            {"role": "user", "content": prompt},
        ],
    });
    let reply = llm
        .post("chat/completions", &body, Duration::from_secs(120))
        .await
        .map_err(Failure::llm)?;
    let text = reply_content(&reply)?;
    Ok(text.trim().to_owned())
}

impl Endpoint {
    /// Vectors for `texts` from this embeddings endpoint, unit length, in order (batched,
    /// with this endpoint's timeout and retries): the client other crates' embeddings use
    /// too (Code Mode's semantic search, through `islet`).
    pub async fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Error> {
        embed(self, texts).await
    }
}

/// Texts per embeddings request.
const EMBED_BATCH: usize = 64;

/// Vectors for `texts`, normalised to unit length, in order.
pub(crate) async fn embed(endpoint: &Endpoint, texts: &[&str]) -> Result<Vec<Vec<f32>>, Error> {
    let mut out = Vec::with_capacity(texts.len());
    for batch in texts.chunks(EMBED_BATCH) {
        let body = json!({"model": endpoint.model, "input": batch});
        let reply = endpoint
            .post("embeddings", &body, Duration::from_secs(60))
            .await
            .map_err(Failure::embeddings)?;
        let bad = |reason: String| Error::Embeddings {
            url: endpoint.url_of("embeddings"),
            reason,
        };
        let data = reply
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("the reply has no `data` array".into()))?;
        if data.len() != batch.len() {
            return Err(bad(format!(
                "asked for {} vectors, got {}",
                batch.len(),
                data.len()
            )));
        }
        let mut vectors: Vec<Option<Vec<f32>>> = vec![None; batch.len()];
        for (i, item) in data.iter().enumerate() {
            let index = item
                .get("index")
                .and_then(Value::as_u64)
                .map_or(i, |x| x as usize);
            let v: Vec<f32> = item
                .get("embedding")
                .and_then(Value::as_array)
                .ok_or_else(|| bad(format!("data[{i}].embedding is not an array of numbers")))?
                .iter()
                .map(|x| x.as_f64().map(|f| f as f32))
                .collect::<Option<_>>()
                .ok_or_else(|| bad(format!("data[{i}].embedding holds a non-number")))?;
            let slot = vectors
                .get_mut(index)
                .ok_or_else(|| bad(format!("data[{i}].index {index} is out of range")))?;
            *slot = Some(normalize(v).ok_or_else(|| bad(format!("data[{i}] is a zero vector")))?);
        }
        let dim = vectors.first().and_then(|v| v.as_ref()).map_or(0, Vec::len);
        for v in vectors {
            let v = v.ok_or_else(|| bad("some vectors are missing".into()))?;
            if v.len() != dim {
                return Err(bad("vectors of different lengths".into()));
            }
            out.push(v);
        }
    }
    Ok(out)
}

fn normalize(mut v: Vec<f32>) -> Option<Vec<f32>> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if v.is_empty() || !norm.is_finite() || norm == 0.0 {
        return None;
    }
    v.iter_mut().for_each(|x| *x /= norm);
    Some(v)
}
