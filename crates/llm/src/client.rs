//! [`Model`]: one configured model, sending requests with retries and returning streams.

use crate::assemble::Completion;
use crate::config::{describe, sanitize};
use crate::stream::{Decoder, ModelStream};
use crate::types::Request;
use crate::{ApiKey, Endpoint, Error, ModelSpec, ProviderKind, anthropic, history, openai};
use reqwest::header::{self, HeaderMap};
use serde_json::Value;
use std::time::{Duration, SystemTime};

/// How failed attempts are retried: 408, 429 and 5xx answers and connection failures,
/// before the stream starts (a stream that breaks later is the caller's to retry, since
/// part of it was already delivered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first delay; each retry doubles it (plus up to a quarter of jitter).
    pub initial_backoff: Duration,
    /// No delay is longer, including one a server asks for with `retry-after`.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// Tuning for a [`Model`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// How often and how long to retry a request that failed before streaming began.
    pub retry: RetryPolicy,
    /// The longest silence allowed while waiting for the answer's headers or its next
    /// bytes. Generous by default: a local model on a small CPU may take minutes to read
    /// a long prompt before its first token.
    pub stall_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            stall_timeout: Duration::from_secs(300),
        }
    }
}

/// A model and how to reach it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Model {
    http: reqwest::Client,
    endpoint: Endpoint,
    options: Options,
}

impl Model {
    /// `http` does the HTTP: a `reqwest` client needs a TLS provider, so the caller supplies
    /// one (islet passes `codemode::egress::tls::client_builder()`'s).
    pub fn new(http: reqwest::Client, endpoint: Endpoint) -> Self {
        Self {
            http,
            endpoint,
            options: Options::default(),
        }
    }

    /// The same model with other retry and stall settings (the defaults suit a hosted
    /// provider; slow local models may need a longer stall timeout).
    pub fn with_options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// Which provider and model this calls, e.g. for logs and metrics labels.
    pub fn spec(&self) -> &ModelSpec {
        &self.endpoint.spec
    }

    /// Where requests go (base URL and key), e.g. to show the operator what was resolved.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Sends `request` (retrying as [`RetryPolicy`] says) and returns the answer's stream
    /// once the server has accepted it.
    pub async fn stream(&self, request: &Request) -> Result<ModelStream, Error> {
        check_tools(request)?;
        let history = history::normalize(&request.messages)?;
        let provider = self.endpoint.spec.provider;
        let model = self.endpoint.spec.model.as_str();
        let body = match provider {
            ProviderKind::OpenAi => openai::body(model, &self.endpoint.base_url, request, &history),
            ProviderKind::Anthropic => anthropic::body(model, request, &history),
        };
        let body = body.to_string();
        let url = self.endpoint.request_url();
        let key = self.endpoint.api_key.as_ref();
        let retry = &self.options.retry;
        let stall = self.options.stall_timeout;
        let mut attempts = 0u32;
        // A call's latency counts from the first attempt: retries are part of the wait.
        let started = std::time::Instant::now();
        let opened: Result<ModelStream, Error> = async {
            loop {
                attempts += 1;
                let last = attempts > retry.max_retries;
                let mut builder = self
                    .http
                    .post(&url)
                    .header(header::CONTENT_TYPE, "application/json")
                    .header(header::ACCEPT, "text/event-stream")
                    .body(body.clone());
                builder = match provider {
                    ProviderKind::OpenAi => match key {
                        Some(key) => builder.bearer_auth(key.expose()),
                        None => builder,
                    },
                    ProviderKind::Anthropic => {
                        let builder = builder.header("anthropic-version", anthropic::API_VERSION);
                        match key {
                            Some(key) => builder.header("x-api-key", key.expose()),
                            None => builder,
                        }
                    }
                };
                let failure = match tokio::time::timeout(stall, builder.send()).await {
                    Err(_) => format!("no answer within {} s", stall.as_secs_f32()),
                    Ok(Err(e)) => describe(&e, key),
                    Ok(Ok(response)) if response.status().is_success() && is_json(&response) => {
                        return Err(json_instead_of_events(response, stall, key).await);
                    }
                    Ok(Ok(response)) if response.status().is_success() => {
                        let decoder = match provider {
                            ProviderKind::OpenAi => Decoder::OpenAi(openai::Decoder::default()),
                            ProviderKind::Anthropic => {
                                Decoder::Anthropic(anthropic::Decoder::default())
                            }
                        };
                        return Ok(ModelStream::new(response, decoder, stall, key.cloned())
                            .counted(provider, started));
                    }
                    Ok(Ok(response)) => {
                        let status = response.status().as_u16();
                        let retryable = status == 408 || status == 429 || status >= 500;
                        let asked = retry_after(response.headers());
                        let message = error_message(response, stall, key).await;
                        if !retryable || last {
                            return Err(Error::Http {
                                url,
                                status,
                                attempts,
                                message,
                            });
                        }
                        let delay = asked
                            .map_or_else(|| backoff(retry, attempts), |d| d.min(retry.max_backoff));
                        tracing::warn!(
                            model = %self.endpoint.spec, status, attempt = attempts,
                            delay_ms = delay.as_millis() as u64, "model request failed ({message}); retrying"
                        );
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                };
                if last {
                    return Err(Error::Connect {
                        url,
                        attempts,
                        reason: failure,
                    });
                }
                let delay = backoff(retry, attempts);
                tracing::warn!(
                    model = %self.endpoint.spec, attempt = attempts,
                    delay_ms = delay.as_millis() as u64, "model request failed ({failure}); retrying"
                );
                tokio::time::sleep(delay).await;
            }
        }
        .await;
        // A call that never got to stream counts as failed too (the stream counts the rest).
        if opened.is_err() {
            crate::stats::record(provider, started.elapsed(), None, false);
        }
        opened
    }

    /// [`Model::stream`] and [`ModelStream::collect`] in one.
    pub async fn complete(&self, request: &Request) -> Result<Completion, Error> {
        self.stream(request).await?.collect().await
    }
}

/// Both providers accept tool names of `[A-Za-z0-9_-]{1,64}` only.
fn check_tools(request: &Request) -> Result<(), Error> {
    for tool in &request.tools {
        let ok = (1..=64).contains(&tool.name.len())
            && tool
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok {
            return Err(Error::InvalidRequest {
                reason: format!(
                    "tool name `{}` is not accepted by the providers: use 1 to 64 of A-Z, a-z, \
                     0-9, `_` and `-`",
                    tool.name
                ),
            });
        }
        if !tool.input_schema.is_object() {
            return Err(Error::InvalidRequest {
                reason: format!(
                    "the input schema of tool `{}` must be a JSON Schema object",
                    tool.name
                ),
            });
        }
    }
    if let crate::ToolChoice::Tool { name } = &request.tool_choice
        && !request.tools.iter().any(|t| &t.name == name)
    {
        return Err(Error::InvalidRequest {
            reason: format!("tool_choice names `{name}`, which is not among the request's tools"),
        });
    }
    Ok(())
}

fn backoff(retry: &RetryPolicy, attempt: u32) -> Duration {
    let base = retry
        .initial_backoff
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let mut byte = [0u8; 1];
    let jitter = if getrandom::fill(&mut byte).is_ok() {
        base.mul_f64(f64::from(byte[0]) / 255.0 / 4.0)
    } else {
        Duration::ZERO
    };
    (base + jitter).min(retry.max_backoff)
}

/// `retry-after-ms` (OpenAI), else `retry-after` in seconds or as an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let value = text("retry-after")?;
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0)
            .then(|| Duration::from_secs_f64(seconds.min(86_400.0)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

fn is_json(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"))
}

/// A 2xx JSON body where events were asked for: an error some proxies send with 200, or a
/// server that ignores `stream: true`.
async fn json_instead_of_events(
    response: reqwest::Response,
    within: Duration,
    key: Option<&ApiKey>,
) -> Error {
    let body = match tokio::time::timeout(within, response.bytes()).await {
        Ok(Ok(bytes)) => bytes,
        _ => Default::default(),
    };
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(error) = value.get("error").filter(|e| !e.is_null()) {
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .map_or_else(|| error.to_string(), str::to_owned);
        return Error::Provider {
            kind: "error".into(),
            message: sanitize(&message, key),
        };
    }
    Error::Malformed {
        reason: sanitize(
            &format!(
                "the server answered with a JSON body instead of server-sent events (does it \
                 support `stream: true`?): `{}`",
                openai::head(&String::from_utf8_lossy(&body))
            ),
            key,
        ),
    }
}

/// The provider's message from an error body (`{"error": {"message": …}}` in both
/// formats), else the body's text; sanitised.
async fn error_message(
    response: reqwest::Response,
    within: Duration,
    key: Option<&ApiKey>,
) -> String {
    let body = match tokio::time::timeout(within, response.bytes()).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => return format!("(reading the error body failed: {})", describe(&e, key)),
        Err(_) => return "(the error body did not arrive)".into(),
    };
    let text = String::from_utf8_lossy(&body);
    let message = serde_json::from_str::<Value>(&text).ok().and_then(|v| {
        let error = v.get("error")?;
        match error {
            Value::String(s) => Some(s.clone()),
            _ => error
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned),
        }
    });
    let message = message.unwrap_or_else(|| text.into_owned());
    let message = sanitize(&message, key);
    if message.is_empty() {
        "(no error message)".into()
    } else {
        message
    }
}
