//! One page (tab) of an execution's browser context. Every request it makes, of any frame
//! and any kind, is paused by the DevTools `Fetch` domain and carried out by islet's
//! `Fetcher` under the execution's policy (the allowlist, the private-address guard, the
//! size caps); Chromium only renders what islet hands it.
//!
//! Architecture Invariant: a page never reaches the network itself. Requests interception
//! misses (service workers, WebSockets) meet the dead proxy and empty resolver Chromium is
//! started with (`launch.rs`).

use crate::cdp::{Connection, Event};
use crate::error::Error;
use base::sync::lock;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use codemode::egress::{FetchRequest, Fetcher};
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// What a page's results may weigh (from the browser's configuration).
#[derive(Debug, Clone)]
pub(crate) struct PageLimits {
    /// Cap on text results (markdown, HTML, evaluate's JSON), in bytes.
    pub(crate) text: usize,
    /// Cap on screenshots and PDFs, in bytes.
    pub(crate) binary: usize,
    /// How long a navigation may take to reach its `load` event.
    pub(crate) navigation: Duration,
}

/// A request the policy refused (or that failed), as `page.blocked()` lists it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Blocked {
    /// The URL the page asked for.
    pub url: String,
    /// The fetch error code (`HOST_NOT_ALLOWED`, `PRIVATE_ADDRESS`, `SCHEME_NOT_ALLOWED`…).
    pub code: String,
    /// Why it was refused or failed, as fetch would say it.
    pub reason: String,
    /// Chromium's resource type: `Document`, `Image`, `Script`, `XHR`…
    pub resource: String,
}

/// Refused requests kept per page (the newest are dropped past this).
const MAX_BLOCKED: usize = 100;

#[derive(Debug)]
struct State {
    /// Counts `load` events, so a navigation can wait for the next one.
    loads: watch::Sender<u64>,
    blocked: Mutex<Vec<Blocked>>,
    /// The status of the last main-document response.
    last_status: Mutex<Option<u16>>,
}

/// One open page.
#[derive(Debug)]
pub struct Page {
    connection: Connection,
    target: String,
    session: String,
    state: Arc<State>,
    limits: PageLimits,
    events: tokio::task::JoinHandle<()>,
}

impl Drop for Page {
    fn drop(&mut self) {
        self.events.abort();
        self.connection.unsubscribe(&self.session);
    }
}

/// Request headers Chromium sets that islet's client decides for itself: the encoding
/// (the body goes back to Chromium as received, so it must be plain) and the framing.
const DROPPED_REQUEST_HEADERS: [&str; 6] = [
    "accept-encoding",
    "host",
    "connection",
    "content-length",
    "proxy-connection",
    "keep-alive",
];
const DROPPED_RESPONSE_HEADERS: [&str; 4] = [
    "content-encoding",
    "content-length",
    "transfer-encoding",
    "connection",
];

impl Page {
    pub(crate) async fn open(
        connection: Connection,
        context: &str,
        fetcher: Arc<Fetcher>,
        limits: PageLimits,
    ) -> Result<Page, Error> {
        let created = connection
            .send(
                None,
                "Target.createTarget",
                json!({ "url": "about:blank", "browserContextId": context }),
            )
            .await?;
        let target = text_field(&created, "targetId", "Target.createTarget")?;
        let attached = connection
            .send(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target, "flatten": true }),
            )
            .await?;
        let session = text_field(&attached, "sessionId", "Target.attachToTarget")?;
        let events = connection.subscribe(&session);
        let state = Arc::new(State {
            loads: watch::Sender::new(0),
            blocked: Mutex::new(Vec::new()),
            last_status: Mutex::new(None),
        });
        let task = tokio::spawn(handle_events(
            events,
            connection.clone(),
            session.clone(),
            fetcher,
            Arc::clone(&state),
        ));
        let page = Page {
            connection,
            target,
            session,
            state,
            limits,
            events: task,
        };
        // Interception first: nothing may load before the policy sees it.
        page.call(
            "Fetch.enable",
            json!({ "patterns": [{ "urlPattern": "*", "requestStage": "Request" }] }),
        )
        .await?;
        page.call("Page.enable", json!({})).await?;
        Ok(page)
    }

    async fn call(&self, method: &str, params: Value) -> Result<Value, Error> {
        self.connection
            .send(Some(&self.session), method, params)
            .await
    }

    /// Navigates to `url` and waits for its `load` event.
    pub async fn goto(&self, url: &str) -> Result<Value, Error> {
        check_url(url)?;
        let mut loads = self.state.loads.subscribe();
        loads.borrow_and_update();
        let blocked_before = lock(&self.state.blocked).len();
        *lock(&self.state.last_status) = None;
        let result = self.call("Page.navigate", json!({ "url": url })).await?;
        if let Some(failure) = result.get("errorText").and_then(Value::as_str) {
            // A refusal recorded during this navigation says why better than Chromium's
            // `net::ERR_BLOCKED_BY_CLIENT`.
            let refused = lock(&self.state.blocked)
                .get(blocked_before..)
                .and_then(|new| new.iter().find(|b| b.resource == "Document").cloned());
            return Err(match refused {
                Some(b) if b.code != "NETWORK" && b.code != "TIMEOUT" => Error::Refused {
                    code: leak_code(&b.code),
                    message: b.reason,
                },
                Some(b) => Error::Navigation {
                    url: url.to_owned(),
                    reason: b.reason,
                },
                None => Error::Navigation {
                    url: url.to_owned(),
                    reason: failure.to_owned(),
                },
            });
        }
        if result.get("loaderId").is_some() {
            let ms = self.limits.navigation.as_millis() as u64;
            match tokio::time::timeout(self.limits.navigation, loads.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => {
                    return Err(Error::Closed {
                        reason: "the page closed while loading".into(),
                    });
                }
                Err(_) => {
                    return Err(Error::Timeout {
                        what: format!("loading {url}"),
                        ms,
                    });
                }
            }
        }
        Ok(json!({ "url": self.url().await?, "status": *lock(&self.state.last_status) }))
    }

    /// The page's current URL.
    pub async fn url(&self) -> Result<String, Error> {
        Ok(self
            .evaluate_expression("location.href")
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns its value as
    /// JSON. A script running past 10 s is terminated.
    pub async fn evaluate_expression(&self, expression: &str) -> Result<Value, Error> {
        let answer = self
            .call(
                "Runtime.evaluate",
                json!({
                    "expression": expression,
                    "returnByValue": true,
                    "awaitPromise": true,
                    "userGesture": true,
                    "timeout": 10_000,
                }),
            )
            .await?;
        if let Some(details) = answer.get("exceptionDetails") {
            let text = details["exception"]["description"]
                .as_str()
                .or_else(|| details["text"].as_str())
                .unwrap_or("an exception");
            return Err(Error::Script(base::truncate(text, 2000)));
        }
        let value = answer["result"]
            .get("value")
            .cloned()
            .unwrap_or(Value::Null);
        let size = value.to_string().len();
        if size > self.limits.text {
            return Err(Error::TooLarge {
                what: "the evaluated value".into(),
                bytes: size,
                limit: self.limits.text,
                hint: "return less (select or slice in the page's script)",
            });
        }
        Ok(value)
    }

    /// The page's HTML.
    pub async fn content(&self) -> Result<String, Error> {
        let html = self
            .evaluate_expression(
                "document.documentElement ? document.documentElement.outerHTML : ''",
            )
            .await?;
        Ok(self.bounded_text(html.as_str().unwrap_or_default()))
    }

    /// The page's main content as Markdown.
    pub async fn markdown(&self) -> Result<String, Error> {
        let text = self
            .evaluate_expression(include_str!("js/markdown.js"))
            .await?;
        Ok(self.bounded_text(text.as_str().unwrap_or_default()))
    }

    /// Every link: `[{text, href}]`, hrefs absolute.
    pub async fn links(&self) -> Result<Value, Error> {
        self.evaluate_expression(
            "[...document.querySelectorAll('a[href]')].map(a => ({ text: (a.innerText || a.textContent || '').trim().replace(/\\s+/g, ' '), href: a.href }))",
        )
        .await
    }

    /// For each selector, its matches: `[{selector, results: [{text, html, attributes,
    /// top, left, width, height}]}]`.
    pub async fn scrape(&self, selectors: &[String]) -> Result<Value, Error> {
        let list = Value::from(selectors.to_vec()).to_string();
        self.evaluate_expression(&format!(
            "({list}).map(selector => ({{ selector, results: [...document.querySelectorAll(selector)].map(el => {{ const r = el.getBoundingClientRect(); return {{ text: (el.innerText ?? el.textContent ?? '').trim(), html: el.innerHTML, attributes: Object.fromEntries([...el.attributes].map(a => [a.name, a.value])), top: r.top, left: r.left, width: r.width, height: r.height }}; }}) }}))"
        ))
        .await
    }

    /// Clicks the centre of the first element matching `selector`, as a mouse would.
    pub async fn click(&self, selector: &str) -> Result<(), Error> {
        let sel = js_literal(selector);
        let point = self
            .evaluate_expression(&format!(
                "(() => {{ const el = document.querySelector({sel}); if (!el) return null; el.scrollIntoView({{ block: 'center', inline: 'center' }}); const r = el.getBoundingClientRect(); if (r.width === 0 || r.height === 0) {{ el.click(); return {{ clicked: true }}; }} return {{ x: r.left + r.width / 2, y: r.top + r.height / 2 }}; }})()"
            ))
            .await?;
        if point.is_null() {
            return Err(self.no_element(selector).await);
        }
        if point.get("clicked").is_some() {
            return Ok(());
        }
        let (x, y) = (point["x"].clone(), point["y"].clone());
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }),
            )
            .await?;
        }
        Ok(())
    }

    /// Focuses the first element matching `selector` and types `text` into it.
    pub async fn type_text(&self, selector: &str, text: &str) -> Result<(), Error> {
        let sel = js_literal(selector);
        let found = self
            .evaluate_expression(&format!(
                "(() => {{ const el = document.querySelector({sel}); if (!el) return false; el.focus(); return true; }})()"
            ))
            .await?;
        if found != Value::Bool(true) {
            return Err(self.no_element(selector).await);
        }
        self.call("Input.insertText", json!({ "text": text }))
            .await?;
        Ok(())
    }

    /// Waits until an element matches `selector`.
    pub async fn wait_for(&self, selector: &str, timeout: Duration) -> Result<(), Error> {
        let probe = format!("!!document.querySelector({})", js_literal(selector));
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.evaluate_expression(&probe).await? == Value::Bool(true) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("waiting for `{selector}`"),
                    ms: timeout.as_millis() as u64,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A PNG of the viewport, or of the whole page; base64.
    pub async fn screenshot(&self, full_page: bool) -> Result<String, Error> {
        let mut params = json!({ "format": "png" });
        if full_page {
            let metrics = self.call("Page.getLayoutMetrics", json!({})).await?;
            let size = &metrics["cssContentSize"];
            let width = size["width"].as_f64().unwrap_or(1280.0).clamp(1.0, 4096.0);
            let height = size["height"].as_f64().unwrap_or(800.0).clamp(1.0, 16384.0);
            params["captureBeyondViewport"] = json!(true);
            params["clip"] =
                json!({ "x": 0, "y": 0, "width": width, "height": height, "scale": 1 });
        }
        let shot = self.call("Page.captureScreenshot", params).await?;
        self.bounded_binary("the screenshot", &shot["data"])
    }

    /// The page printed to PDF; base64.
    pub async fn pdf(&self) -> Result<String, Error> {
        let printed = self
            .call("Page.printToPDF", json!({ "printBackground": true }))
            .await?;
        self.bounded_binary("the PDF", &printed["data"])
    }

    /// Requests of this page the policy refused or that failed.
    pub fn blocked(&self) -> Vec<Blocked> {
        lock(&self.state.blocked).clone()
    }

    /// A raw DevTools call on this page, for what the page API does not cover. Domains that
    /// could reach around the fetch policy or the host (`Fetch`, `Network`, `Target`,
    /// `Browser`, `IO`, `Storage`, file inputs, downloads) are refused.
    pub async fn cdp(&self, method: &str, params: Value) -> Result<Value, Error> {
        check_cdp(method, &params)?;
        let answer = self.call(method, params).await?;
        let size = answer.to_string().len();
        if size > self.limits.binary {
            return Err(Error::TooLarge {
                what: format!("the answer of {method}"),
                bytes: size,
                limit: self.limits.binary,
                hint: "ask for less",
            });
        }
        Ok(answer)
    }

    pub(crate) async fn close(&self) {
        let _ = self
            .connection
            .send(
                None,
                "Target.closeTarget",
                json!({ "targetId": self.target }),
            )
            .await;
    }

    async fn no_element(&self, selector: &str) -> Error {
        let at = self.url().await.unwrap_or_default();
        Error::Invalid(format!(
            "no element matches `{selector}` on {at}; page.waitFor(selector) waits for one to appear"
        ))
    }

    fn bounded_text(&self, text: &str) -> String {
        if text.len() <= self.limits.text {
            return text.to_owned();
        }
        let mut cut = self.limits.text;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        format!(
            "{}\n\n[… truncated: the first {cut} of {} bytes]",
            &text[..cut],
            text.len()
        )
    }

    fn bounded_binary(&self, what: &str, data: &Value) -> Result<String, Error> {
        let data = data.as_str().unwrap_or_default();
        let bytes = data.len() / 4 * 3;
        if bytes > self.limits.binary {
            return Err(Error::TooLarge {
                what: what.to_owned(),
                bytes,
                limit: self.limits.binary,
                hint: "capture the viewport rather than the full page, or a smaller page",
            });
        }
        Ok(data.to_owned())
    }
}

fn text_field(value: &Value, field: &str, method: &str) -> Result<String, Error> {
    value[field]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Error::Protocol {
            method: method.to_owned(),
            message: format!("no {field} in the answer"),
        })
}

/// Only `http` and `https` pages: `file://`, `chrome://`, `javascript:` and the rest are
/// refused before Chromium sees them.
fn check_url(url: &str) -> Result<(), Error> {
    let lower = url.trim().to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Ok(());
    }
    if lower == "about:blank" {
        return Ok(());
    }
    Err(Error::Refused {
        code: "SCHEME_NOT_ALLOWED",
        message: format!(
            "the browser opens only http:// and https:// URLs, not `{}`; files reach code \
             through the workspace, not the browser",
            base::truncate(url, 200)
        ),
    })
}

/// DevTools domains `page.cdp` passes through: rendering, the DOM, input and script.
const CDP_DOMAINS: [&str; 14] = [
    "Accessibility",
    "Animation",
    "CSS",
    "DOM",
    "DOMSnapshot",
    "DOMStorage",
    "Emulation",
    "Input",
    "LayerTree",
    "Log",
    "Overlay",
    "Page",
    "Performance",
    "Runtime",
];

/// Methods of passed-through domains that still reach the host or around the policy.
const CDP_REFUSED: [&str; 6] = [
    "DOM.setFileInputFiles",
    "Page.setDownloadBehavior",
    "Page.setInterceptFileChooserDialog",
    "Page.crash",
    "Page.close",
    "Runtime.terminateExecution",
];

fn check_cdp(method: &str, params: &Value) -> Result<(), Error> {
    let domain = method.split('.').next().unwrap_or_default();
    if !CDP_DOMAINS.contains(&domain) || CDP_REFUSED.contains(&method) {
        return Err(Error::Refused {
            code: "CDP_NOT_ALLOWED",
            message: format!(
                "page.cdp does not pass {method} through (it could reach around the fetch \
                 policy or the host); allowed domains: {}. Navigate with page.goto, close \
                 with page.close",
                CDP_DOMAINS.join(", ")
            ),
        });
    }
    if method == "Page.navigate" {
        check_url(params["url"].as_str().unwrap_or_default())?;
    }
    Ok(())
}

/// The codes `Blocked` records come from a fixed set; the refusal keeps `&'static str`.
fn leak_code(code: &str) -> &'static str {
    const KNOWN: [&str; 7] = [
        "HOST_NOT_ALLOWED",
        "METHOD_NOT_ALLOWED",
        "PRIVATE_ADDRESS",
        "REDIRECT_NOT_ALLOWED",
        "INVALID_REQUEST",
        "RESPONSE_TOO_LARGE",
        "SCHEME_NOT_ALLOWED",
    ];
    KNOWN
        .into_iter()
        .find(|k| *k == code)
        .unwrap_or("REQUEST_REFUSED")
}

async fn handle_events(
    mut events: mpsc::UnboundedReceiver<Event>,
    connection: Connection,
    session: String,
    fetcher: Arc<Fetcher>,
    state: Arc<State>,
) {
    while let Some(event) = events.recv().await {
        match event.method.as_str() {
            "Fetch.requestPaused" => {
                tokio::spawn(answer_request(
                    connection.clone(),
                    session.clone(),
                    Arc::clone(&fetcher),
                    Arc::clone(&state),
                    event.params,
                ));
            }
            "Page.loadEventFired" => state.loads.send_modify(|n| *n += 1),
            "Page.javascriptDialogOpening" => {
                // An alert would block every later script; dismiss it.
                let (connection, session) = (connection.clone(), session.clone());
                tokio::spawn(async move {
                    let _ = connection
                        .send(
                            Some(&session),
                            "Page.handleJavaScriptDialog",
                            json!({ "accept": false }),
                        )
                        .await;
                });
            }
            _ => {}
        }
    }
}

/// Carries out one paused request through the fetch policy and hands Chromium the answer
/// (or the failure).
async fn answer_request(
    connection: Connection,
    session: String,
    fetcher: Arc<Fetcher>,
    state: Arc<State>,
    params: Value,
) {
    let id = params["requestId"].as_str().unwrap_or_default().to_owned();
    let request = &params["request"];
    let url = request["url"].as_str().unwrap_or_default().to_owned();
    let resource = params["resourceType"]
        .as_str()
        .unwrap_or("Other")
        .to_owned();
    let refuse = |code: &str, reason: String, error_reason: &str| {
        let mut blocked = lock(&state.blocked);
        if blocked.len() < MAX_BLOCKED {
            blocked.push(Blocked {
                url: url.clone(),
                code: code.to_owned(),
                reason,
                resource: resource.clone(),
            });
        }
        json!({ "requestId": id, "errorReason": error_reason })
    };
    let lower = url.to_ascii_lowercase();
    let answer = if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        let reason = format!(
            "{} refused: pages may load only http:// and https:// URLs",
            base::truncate(&url, 200)
        );
        (
            "Fetch.failRequest",
            refuse("SCHEME_NOT_ALLOWED", reason, "AccessDenied"),
        )
    } else {
        let headers = request["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .filter(|(name, _)| {
                        !DROPPED_REQUEST_HEADERS.contains(&name.to_ascii_lowercase().as_str())
                    })
                    .map(|(name, value)| (name.clone(), value.as_str().unwrap_or("").to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let outgoing = FetchRequest {
            url: url.clone(),
            method: request["method"].as_str().map(str::to_owned),
            headers,
            body: request["postData"].as_str().map(str::to_owned),
            body_base64: None,
            // Chromium follows redirects itself, so each hop is paused and checked again.
            redirect: Some("manual".into()),
        };
        match fetcher.fetch(outgoing).await {
            Ok(response) => {
                if resource == "Document" {
                    *lock(&state.last_status) = Some(response.status);
                }
                let body = match (&response.body, &response.body_base64) {
                    (Some(text), _) => BASE64.encode(text.as_bytes()),
                    (None, Some(encoded)) => encoded.clone(),
                    (None, None) => String::new(),
                };
                let headers: Vec<Value> = response
                    .headers
                    .iter()
                    .filter(|(name, _)| {
                        !DROPPED_RESPONSE_HEADERS.contains(&name.to_ascii_lowercase().as_str())
                    })
                    .map(|(name, value)| json!({ "name": name, "value": value }))
                    .collect();
                (
                    "Fetch.fulfillRequest",
                    json!({
                        "requestId": id,
                        "responseCode": response.status,
                        "responseHeaders": headers,
                        "body": body,
                    }),
                )
            }
            Err(error) => {
                let (code, refusal) = match &error {
                    codemode::Error::Fetch { code, .. } => (code.as_str(), code.is_refusal()),
                    _ => ("NETWORK", false),
                };
                let error_reason = if refusal {
                    "BlockedByClient"
                } else if code == "TIMEOUT" {
                    "TimedOut"
                } else {
                    "Failed"
                };
                (
                    "Fetch.failRequest",
                    refuse(code, error.to_string(), error_reason),
                )
            }
        }
    };
    let (method, params) = answer;
    if let Err(e) = connection.send(Some(&session), method, params).await {
        tracing::debug!(target: "islet::browser", "answering a paused request failed: {e}");
    }
}

/// `value` as JSON text for a script, so a selector or text is data, never code.
pub(crate) fn js_literal(value: &str) -> String {
    Value::String(value.to_owned()).to_string()
}
