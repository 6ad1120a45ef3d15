//! The host side of `execute` for an OpenAPI catalog: each tool becomes a binding that
//! builds the request ([`crate::openapi::build_request`]) and sends it from the host, where
//! the credentials live.
//!
//! Security model: the isolate names an operation and its input; the host decides where the
//! request goes (only the base URL's scheme, host and port, redirects included), adds the
//! injected headers, bounds time and response size, and scrubs every injected secret from
//! what goes back (headers, bodies, error messages). The sending is
//! [`crate::egress::Fetcher`]'s, the same as an isolate's `fetch`, under a policy that
//! allows exactly the API's origin. The isolate never holds a credential,
//! so code cannot exfiltrate one even through the API itself.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use sandbox::{Bindings, HostError};
use serde_json::{Map, Value, json};

use crate::catalog::{Catalog, Target};
use crate::egress::{
    self, Failure, FetchPolicy, Fetcher, HostRule, InjectedHeader, Outgoing, Redirect,
};
use crate::error::Error;
use crate::openapi::{BodyContent, HttpRequestParts, build_raw_request, build_request};

use crate::egress::Redactor;

/// Root namespace of OpenAPI catalogs; the raw escape hatch is `api.request`.
pub const ROOT_NAMESPACE: &str = "api";
/// Name of the raw escape hatch in [`ROOT_NAMESPACE`].
pub const RAW_REQUEST: &str = "request";
/// Redirects followed (same origin only) before giving up.
const MAX_REDIRECTS: usize = 5;
/// Characters of a response body quoted in an `ApiError` message; the whole body is in
/// `e.data.body`.
const ERROR_BODY_CHARS: usize = 300;
/// Response headers never returned: credentials the API may set or echo.
const HIDDEN_RESPONSE_HEADERS: &[&str] = &[
    "set-cookie",
    "set-cookie2",
    "authorization",
    "proxy-authorization",
];

/// How to reach the API.
#[derive(Debug, Clone)]
pub struct HttpApiConfig {
    /// e.g. `https://api.github.com` or `http://127.0.0.1:8080/v1`; every request goes to its
    /// scheme + host + port, with paths appended to its path.
    pub base_url: String,
    /// Headers added host-side to every request (credentials): the isolate never sees them.
    pub headers: Vec<(String, String)>,
    /// Per request, connecting to the end of the body.
    pub timeout: Duration,
    /// Larger response bodies are cut off with an error (`RESPONSE_TOO_LARGE`).
    pub max_response_bytes: usize,
}

impl HttpApiConfig {
    /// A configuration for `base_url` with no headers, a 30 s timeout and a 5 MiB response cap.
    pub fn new(base_url: impl Into<String>) -> Self {
        HttpApiConfig {
            base_url: base_url.into(),
            headers: Vec::new(),
            timeout: Duration::from_secs(30),
            max_response_bytes: 5 << 20,
        }
    }
}

/// An HTTP API as the host reaches it: a [`Fetcher`] whose policy allows exactly the base
/// URL's origin. Shared by all executions (the client pools connections).
#[derive(Debug)]
pub struct HttpApi {
    base_url: Url,
    /// `scheme://host:port`, what every request and redirect must match.
    origin: String,
    fetcher: Fetcher,
}

/// A response as code sees it: `{status, headers, body}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    /// The HTTP status code.
    pub status: u16,
    /// Lower-case names; repeated headers joined with `, `; credentials removed.
    pub headers: Map<String, Value>,
    /// Parsed JSON when the content type says JSON (and it parses), else text; `null` when
    /// empty.
    pub body: Value,
}

impl ApiResponse {
    /// The response as the JSON object code receives.
    pub fn to_json(&self) -> Value {
        json!({ "status": self.status, "headers": self.headers, "body": self.body })
    }
}

impl HttpApi {
    /// Checks `config` (base URL, header names and values) and builds the API's fetcher.
    pub fn new(config: HttpApiConfig) -> Result<HttpApi, Error> {
        let fail = |reason: String| Error::Config { reason };
        let base_url = Url::parse(config.base_url.trim()).map_err(|e| {
            fail(format!(
                "base URL `{}` is not a URL ({e}); e.g. https://api.example.com",
                config.base_url
            ))
        })?;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.host_str().is_none() {
            return Err(fail(format!(
                "base URL `{base_url}` must be an http(s) URL with a host"
            )));
        }
        if base_url.query().is_some() || base_url.fragment().is_some() {
            return Err(fail(format!(
                "base URL `{base_url}` must not have a query or fragment"
            )));
        }
        let origin = base_url.origin().ascii_serialization();
        for (name, value) in &config.headers {
            HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| fail(format!("`{name}` is not a valid header name")))?;
            HeaderValue::from_str(value.trim()).map_err(|_| {
                fail(format!(
                    "the value of header `{name}` is not a valid header value"
                ))
            })?;
        }
        // Exactly the API's origin. Its addresses are allowed whatever they are (the
        // operator chose it: often loopback or an internal host); every other origin is out
        // of reach, redirects included, so private-address checks would add nothing.
        let policy = FetchPolicy {
            allowed_hosts: vec![HostRule::new(origin.clone())],
            inject_headers: config
                .headers
                .iter()
                .map(|(name, value)| InjectedHeader {
                    host: origin.clone(),
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            allow_private: true,
            allow_private_hint: None,
            timeout: config.timeout,
            max_response_bytes: config.max_response_bytes,
            max_redirects: MAX_REDIRECTS,
            resolve_overrides: Vec::new(),
        };
        // Credentials in the base URL are secrets too.
        let url_secrets = base_url.password().map(str::to_owned).into_iter().collect();
        let fetcher = Fetcher::with_secrets(policy, url_secrets).map_err(|e| match e {
            // The policy is built here from the base URL and headers: say it in those terms.
            Error::Config { reason } => Error::Config {
                reason: reason.replacen("fetch policy: ", "", 1),
            },
            other => other,
        })?;
        Ok(HttpApi {
            base_url,
            origin,
            fetcher,
        })
    }

    /// The base URL every request's path is appended to.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// What secrets are scrubbed with.
    pub fn redactor(&self) -> &Redactor {
        self.fetcher.redactor()
    }

    /// Sends one request to the API. `operation` names it in errors (`GET /users/{id}`).
    pub async fn send(
        &self,
        parts: &HttpRequestParts,
        operation: &str,
    ) -> Result<ApiResponse, Error> {
        let url = self.url(parts)?;
        let method = reqwest::Method::from_bytes(parts.method.as_bytes()).map_err(|_| {
            Error::InvalidRequest {
                reason: format!("`{}` is not an HTTP method", parts.method),
            }
        })?;
        let mut headers = HeaderMap::new();
        for (name, value) in &parts.headers {
            let name =
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| Error::InvalidRequest {
                    reason: format!("`{name}` is not a valid header name"),
                })?;
            let value = HeaderValue::from_str(value).map_err(|_| Error::InvalidRequest {
                reason: format!("the value of header `{name}` is not a valid header value"),
            })?;
            headers.append(name, value);
        }
        let mut body = None;
        if let Some(request_body) = &parts.body {
            let bytes = match &request_body.content {
                BodyContent::Json(v) => {
                    serde_json::to_vec(v).map_err(|e| Error::InvalidRequest {
                        reason: format!("the body cannot be serialised as JSON: {e}"),
                    })?
                }
                BodyContent::Bytes(b) => b.clone(),
            };
            if let Ok(ct) = HeaderValue::from_str(&request_body.content_type) {
                headers.insert(reqwest::header::CONTENT_TYPE, ct);
            }
            body = Some(bytes);
        }
        if !headers.contains_key(reqwest::header::ACCEPT) {
            headers.insert(
                reqwest::header::ACCEPT,
                HeaderValue::from_static("application/json, */*;q=0.5"),
            );
        }
        // The fetcher adds the credentials last (they override whatever the code set: it
        // cannot replace them with its own, nor learn them by omission), follows redirects
        // within the origin only and hands any other back as the 3xx it is.
        let outgoing = Outgoing {
            method,
            url,
            headers,
            body,
            redirect: Redirect::FollowAllowed,
        };
        let incoming = self
            .fetcher
            .exchange(outgoing)
            .await
            .map_err(|failure| self.error(operation, failure))?;
        let mut response_headers = Map::new();
        let mut is_json = false;
        for (name, value) in incoming.headers {
            if HIDDEN_RESPONSE_HEADERS.contains(&name.as_str()) {
                continue;
            }
            if name == "content-type" {
                is_json |= value.to_ascii_lowercase().contains("json");
            }
            match response_headers.get_mut(&name) {
                Some(Value::String(existing)) => {
                    existing.push_str(", ");
                    existing.push_str(&value);
                }
                _ => {
                    response_headers.insert(name, Value::String(value));
                }
            }
        }
        let bytes = incoming.body;
        let body = if bytes.is_empty() {
            Value::Null
        } else if is_json {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        } else {
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        };
        Ok(ApiResponse {
            status: incoming.status.as_u16(),
            headers: response_headers,
            // Scrubbed once parsed, so a secret the API escaped in JSON is caught too.
            body: self.redactor().value(body),
        })
    }

    /// A refusal or failure of the fetcher in this module's terms.
    fn error(&self, operation: &str, failure: Failure) -> Error {
        match failure.code {
            egress::FetchCode::HostNotAllowed | egress::FetchCode::PrivateAddress => {
                Error::HostNotAllowed {
                    url: failure.url,
                    allowed: self.origin.clone(),
                }
            }
            egress::FetchCode::ResponseTooLarge => Error::ResponseTooLarge {
                operation: operation.to_owned(),
                limit_bytes: self.fetcher.max_response_bytes(),
            },
            // Time-outs, network errors, redirect loops, unusable redirect targets.
            _ => Error::Http {
                operation: operation.to_owned(),
                reason: failure.reason,
            },
        }
    }

    /// Base URL + path + query, checked to stay on the API's origin. `build_raw_request`
    /// already refuses anything but a path, and the fetcher refuses any other origin; this
    /// says so early, in the API's terms.
    fn url(&self, parts: &HttpRequestParts) -> Result<Url, Error> {
        let refuse = |url: &str| Error::HostNotAllowed {
            url: url.to_owned(),
            allowed: self.origin.clone(),
        };
        if !parts.path.starts_with('/') || parts.path.starts_with("//") || parts.path.contains('\\')
        {
            return Err(refuse(&parts.path));
        }
        let base = self.base_url.as_str().trim_end_matches('/');
        let joined = format!("{base}{}", parts.path);
        let mut url = Url::parse(&joined).map_err(|_| refuse(&joined))?;
        if url.origin().ascii_serialization() != self.origin
            || url.username() != self.base_url.username()
        {
            return Err(refuse(&joined));
        }
        if !parts.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &parts.query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }
}

/// Parses `Name: value` as given to `--header`.
pub fn parse_header(text: &str) -> Result<(String, String), Error> {
    let Some((name, value)) = text.split_once(':') else {
        return Err(Error::Config {
            reason: format!(
                "header `{}` must look like `Name: value`",
                base::truncate(text, 40)
            ),
        });
    };
    let name = name.trim();
    if name.is_empty() || HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(Error::Config {
            reason: format!("`{name}` is not a valid header name"),
        });
    }
    Ok((name.to_owned(), value.trim().to_owned()))
}

/// One binding per HTTP tool of `catalog`, plus `api.request`. Typed methods resolve to the
/// response body (what their TypeScript signature declares) and throw `ApiError` on non-2xx;
/// `api.request` resolves to `{status, headers, body}` whatever the status.
pub fn bindings(catalog: &Catalog, api: Arc<HttpApi>) -> Bindings {
    let mut bindings = Bindings::new();
    let raw_api = Arc::clone(&api);
    bindings = bindings.function(ROOT_NAMESPACE, RAW_REQUEST, move |input: Value| {
        let api = Arc::clone(&raw_api);
        async move {
            let parts = build_raw_request(&input).map_err(|e| api.redactor().host_error(&e))?;
            let operation = format!("api.request {} {}", parts.method, parts.path);
            let response = api
                .send(&parts, &operation)
                .await
                .map_err(|e| api.redactor().host_error(&e))?;
            Ok(response.to_json())
        }
    });
    for tool in &catalog.tools {
        let Target::Http(op) = &tool.target else {
            continue;
        };
        if tool.namespace == ROOT_NAMESPACE && tool.name == RAW_REQUEST {
            tracing::warn!(
                operation = %tool.original_name,
                "operation named `request` in the root namespace is shadowed by api.request"
            );
            continue;
        }
        let op = Arc::new(op.clone());
        let api = Arc::clone(&api);
        let path = tool.path();
        bindings = bindings.function(&tool.namespace, &tool.name, move |input: Value| {
            let api = Arc::clone(&api);
            let op = Arc::clone(&op);
            let path = path.clone();
            async move {
                let parts =
                    build_request(&op, &input).map_err(|e| api.redactor().host_error(&e))?;
                let operation = format!("{path} ({} {})", op.method, op.path);
                let response = api
                    .send(&parts, &operation)
                    .await
                    .map_err(|e| api.redactor().host_error(&e))?;
                if (200..300).contains(&response.status) {
                    Ok(response.body)
                } else {
                    Err(api_error(&api, &operation, response))
                }
            }
        });
    }
    bindings
}

/// A non-2xx answer to a typed method, as a catchable `ApiError` the code can inspect
/// (`e.data.status === 429`, `e.data.headers["retry-after"]`).
fn api_error(api: &HttpApi, operation: &str, response: ApiResponse) -> HostError {
    let snippet = match &response.body {
        Value::Null => String::new(),
        Value::String(s) => format!(": {}", base::truncate(s, ERROR_BODY_CHARS)),
        other => format!(": {}", base::truncate(&other.to_string(), ERROR_BODY_CHARS)),
    };
    let message = api.redactor().text(&format!(
        "{operation} answered HTTP {}{snippet}; the response is in e.data (status, headers, body)",
        response.status
    ));
    HostError::new(format!("HTTP_{}", response.status), message)
        .with_name("ApiError")
        .with_data(response.to_json())
}

/// What to run once a program ended (close what [`Capability::bind`] opened).
pub type Release = Box<dyn FnOnce() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// A capability bound fresh for each `execute` program and released when it ends: a rung
/// of the execution ladder (the browser: one browser context per program). The embedder
/// turns it on; the `execute` description mentions it only then.
pub trait Capability: std::fmt::Debug + Send + Sync + 'static {
    /// What the `execute` description says of it: one sentence naming its API.
    fn description(&self) -> &str;
    /// Trusted JavaScript evaluated before the program (after the host's own prelude).
    fn prelude(&self) -> Option<&str>;
    /// `bindings` plus this capability's for one program, and its release.
    fn bind(&self, bindings: Bindings) -> (Bindings, Release);
    /// Rewrites the program before it runs, keeping its lines where they were (the npm
    /// rung turns its imports into reads from a bundle it adds as a prelude). `Ok(None)`:
    /// the program runs as it is. An error fails the program; its message, shown to the
    /// model, says what to do instead.
    fn prepare<'a>(&'a self, code: &'a str) -> PrepareFuture<'a> {
        let _ = code;
        Box::pin(async { Ok(None) })
    }

    /// Single-call tools over the capability for a tool-calling model that would rather not
    /// write code for the simple case (Think's `browser_markdown`); each runs as a program.
    fn shortcuts(&self) -> Vec<Shortcut> {
        Vec::new()
    }
}

/// A tool that runs one call of a [`Capability`] as an `execute` program.
#[derive(Debug, Clone)]
pub struct Shortcut {
    /// The tool's name, as the MCP client lists it.
    pub name: String,
    /// What the tool does, for the model.
    pub description: String,
    /// JSON Schema of the tool's input object.
    pub input_schema: Value,
    /// A JavaScript function expression called with the input, its result the tool's:
    /// `(input) => browser.markdown(input.url)`.
    pub function: String,
}

impl Shortcut {
    /// The program that calls [`Shortcut::function`] with `input` (embedded as JSON, so
    /// no input can become code).
    pub fn program(&self, input: &Value) -> String {
        format!("return await ({})({input});", self.function)
    }
}

/// What [`Capability::prepare`] made of a program.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The program to run instead.
    pub code: String,
    /// Trusted JavaScript evaluated before it, after the capabilities' own preludes.
    pub prelude: Option<Arc<str>>,
    /// Host JavaScript evaluated first, before anything is bound (an npm bundle and the
    /// program's imports: see `sandbox::Preload`).
    pub preload: Option<sandbox::Preload>,
}

/// The future [`Capability::prepare`] returns.
pub type PrepareFuture<'a> =
    std::pin::Pin<Box<dyn Future<Output = Result<Option<Prepared>, String>> + Send + 'a>>;
