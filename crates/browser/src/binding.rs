//! The `browser` global an execution gets with the browser rung on: host functions under
//! `__browser` (one JSON object in, JSON out) and the prelude (`js/browser.js`) that turns
//! them into `browser.markdown(url)`, `browser.open(url)` → a page, and so on.

use crate::browser::{Browser, Context};
use crate::error::Error;
use codemode::egress::Fetcher;
use codemode::execute::Shortcut;
use sandbox::{Bindings, HostError};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The namespace of the raw host functions (the prelude hides it behind `browser`).
const NAMESPACE: &str = "__browser";

/// The prelude an execution with the browser evaluates before its code.
pub const PRELUDE: &str = include_str!("js/browser.js");

/// One execution's use of the browser: its context is created on the first call (an
/// execution that never touches `browser` never starts Chromium) and closed by
/// [`ExecutionBrowser::close`] or when the last binding is dropped.
#[derive(Debug)]
pub struct ExecutionBrowser {
    browser: Arc<Browser>,
    fetcher: Arc<Fetcher>,
    context: tokio::sync::Mutex<Option<Context>>,
}

impl ExecutionBrowser {
    async fn context(&self) -> Result<Context, Error> {
        let mut slot = self.context.lock().await;
        if let Some(context) = slot.as_ref()
            && !context.is_gone()
        {
            return Ok(context.clone());
        }
        let context = self.browser.context(Arc::clone(&self.fetcher)).await?;
        *slot = Some(context.clone());
        Ok(context)
    }

    /// Closes the execution's pages and context.
    pub async fn close(&self) {
        let context = self.context.lock().await.take();
        if let Some(context) = context {
            context.close().await;
        }
    }
}

/// `bindings` plus the browser, every page request checked by `fetcher`'s policy. Evaluate
/// [`PRELUDE`] before the code (see [`with_prelude`]).
pub fn bind(
    bindings: Bindings,
    browser: &Arc<Browser>,
    fetcher: Arc<Fetcher>,
) -> (Bindings, Arc<ExecutionBrowser>) {
    let execution = Arc::new(ExecutionBrowser {
        browser: Arc::clone(browser),
        fetcher,
        context: tokio::sync::Mutex::new(None),
    });
    let mut bindings = bindings;
    let mut add = |name: &str, f: sandbox::HostFn| bindings.insert(NAMESPACE, name, f);
    add(
        "markdown",
        quick(&execution, |page, _| async move {
            Ok(json!(page.markdown().await?))
        }),
    );
    add(
        "content",
        quick(&execution, |page, _| async move {
            Ok(json!(page.content().await?))
        }),
    );
    add(
        "links",
        quick(&execution, |page, _| async move { page.links().await }),
    );
    add(
        "scrape",
        quick(&execution, |page, args| async move {
            page.scrape(&args.selectors).await
        }),
    );
    add(
        "screenshot",
        quick(&execution, |page, args| async move {
            Ok(binary("image/png", page.screenshot(args.full_page).await?))
        }),
    );
    add(
        "pdf",
        quick(&execution, |page, _| async move {
            Ok(binary("application/pdf", page.pdf().await?))
        }),
    );
    add("open", {
        let execution = Arc::clone(&execution);
        host_fn(move |args: Args| {
            let execution = Arc::clone(&execution);
            async move {
                let context = execution.context().await?;
                Ok(json!(context.open(args.url.as_deref()).await?))
            }
        })
    });
    add("close", {
        let execution = Arc::clone(&execution);
        host_fn(move |args: Args| {
            let execution = Arc::clone(&execution);
            async move {
                let context = execution.context().await?;
                context.close_page(args.page).await;
                Ok(Value::Null)
            }
        })
    });
    add(
        "goto",
        on_page(&execution, |page, args| async move {
            page.goto(need(&args.url, "page.goto(url)")?).await
        }),
    );
    add(
        "click",
        on_page(&execution, |page, args| async move {
            page.click(need(&args.selector, "page.click(selector)")?)
                .await?;
            Ok(Value::Null)
        }),
    );
    add(
        "type",
        on_page(&execution, |page, args| async move {
            let selector = need(&args.selector, "page.type(selector, text)")?;
            page.type_text(selector, args.text.as_deref().unwrap_or_default())
                .await?;
            Ok(Value::Null)
        }),
    );
    add(
        "evaluate",
        on_page(&execution, |page, args| async move {
            page.evaluate_expression(need(&args.expression, "page.evaluate(fn)")?)
                .await
        }),
    );
    add(
        "waitFor",
        on_page(&execution, |page, args| async move {
            let timeout = Duration::from_millis(args.timeout_ms.unwrap_or(10_000).min(60_000));
            page.wait_for(need(&args.selector, "page.waitFor(selector)")?, timeout)
                .await?;
            Ok(Value::Null)
        }),
    );
    add(
        "pageContent",
        on_page(&execution, |page, _| async move {
            Ok(json!(page.content().await?))
        }),
    );
    add(
        "pageMarkdown",
        on_page(&execution, |page, _| async move {
            Ok(json!(page.markdown().await?))
        }),
    );
    add(
        "pageLinks",
        on_page(&execution, |page, _| async move { page.links().await }),
    );
    add(
        "pageScrape",
        on_page(&execution, |page, args| async move {
            page.scrape(&args.selectors).await
        }),
    );
    add(
        "pageScreenshot",
        on_page(&execution, |page, args| async move {
            Ok(binary("image/png", page.screenshot(args.full_page).await?))
        }),
    );
    add(
        "pagePdf",
        on_page(&execution, |page, _| async move {
            Ok(binary("application/pdf", page.pdf().await?))
        }),
    );
    add(
        "url",
        on_page(
            &execution,
            |page, _| async move { Ok(json!(page.url().await?)) },
        ),
    );
    add(
        "blocked",
        on_page(
            &execution,
            |page, _| async move { Ok(json!(page.blocked())) },
        ),
    );
    add(
        "cdp",
        on_page(&execution, |page, args| async move {
            page.cdp(
                need(&args.method, "page.cdp.send(method, params)")?,
                args.params,
            )
            .await
        }),
    );
    (bindings, execution)
}

/// `prelude` (the host's own, if any) followed by the browser's.
pub fn with_prelude(prelude: Option<&str>) -> String {
    match prelude {
        Some(first) => format!("{first}\n;{PRELUDE}"),
        None => PRELUDE.to_owned(),
    }
}

fn binary(mime_type: &str, base64: String) -> Value {
    let bytes = base64.len() / 4 * 3 - base64.chars().rev().take_while(|c| *c == '=').count();
    json!({ "mimeType": mime_type, "base64": base64, "bytes": bytes })
}

/// What the prelude passes: the page, and whatever the call needs.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Args {
    page: u32,
    url: Option<String>,
    selector: Option<String>,
    text: Option<String>,
    expression: Option<String>,
    timeout_ms: Option<u64>,
    selectors: Vec<String>,
    full_page: bool,
    method: Option<String>,
    params: Value,
}

fn need<'a>(value: &'a Option<String>, call: &str) -> Result<&'a str, Error> {
    value
        .as_deref()
        .ok_or_else(|| Error::Invalid(format!("{call}: an argument is missing")))
}

/// A host function taking `A` (refused with a `TypeError` naming the problem when the code
/// passed something else).
fn host_fn<A, F, Fut>(f: F) -> sandbox::HostFn
where
    A: DeserializeOwned + Send + 'static,
    F: Fn(A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, Error>> + Send + 'static,
{
    let f = Arc::new(f);
    Arc::new(move |value: Value| {
        let f = Arc::clone(&f);
        Box::pin(async move {
            let args = serde_json::from_value::<A>(value)
                .map_err(|e| HostError::from(Error::Invalid(format!("browser: {e}"))))?;
            f(args).await.map_err(HostError::from)
        })
    })
}

/// A quick action: the args' URL in a fresh page of the execution's context.
fn quick<F, Fut>(execution: &Arc<ExecutionBrowser>, action: F) -> sandbox::HostFn
where
    F: Fn(Arc<crate::Page>, Args) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = Result<Value, Error>> + Send + 'static,
{
    let execution = Arc::clone(execution);
    host_fn(move |args: Args| {
        let execution = Arc::clone(&execution);
        let action = action.clone();
        async move {
            let url = need(&args.url, "browser quick action (url)")?.to_owned();
            let context = execution.context().await?;
            let number = context.open(Some(&url)).await?;
            let page = context.page(number)?;
            let result = action(page, args).await;
            context.close_page(number).await;
            result
        }
    })
}

/// An action on one of the execution's open pages.
fn on_page<F, Fut>(execution: &Arc<ExecutionBrowser>, action: F) -> sandbox::HostFn
where
    F: Fn(Arc<crate::Page>, Args) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = Result<Value, Error>> + Send + 'static,
{
    let execution = Arc::clone(execution);
    host_fn(move |args: Args| {
        let execution = Arc::clone(&execution);
        let action = action.clone();
        async move {
            let page = execution.context().await?.page(args.page)?;
            action(page, args).await
        }
    })
}

/// The browser as a rung of `execute` (`codemode::execute::Capability`): each program gets
/// its own context, closed when it ends, its pages under `fetcher`'s policy.
#[derive(Debug)]
pub struct BrowserCapability {
    browser: Arc<Browser>,
    fetcher: Arc<Fetcher>,
}

impl BrowserCapability {
    /// The rung over `browser`, each program's pages fetched through `fetcher`.
    pub fn new(browser: Arc<Browser>, fetcher: Arc<Fetcher>) -> Self {
        BrowserCapability { browser, fetcher }
    }
}

/// What the `execute` description says when the browser is on.
pub const DESCRIPTION: &str = "Browser (headless Chromium; pages load only hosts `fetch` may reach): \
`await browser.markdown(url)`, `.content(url)`, `.links(url)`, `.scrape(url, selectors)`, \
`.screenshot(url, {fullPage})`, `.pdf(url)` (→ {mimeType, base64, bytes}); \
`const page = await browser.open(url)` → `page.goto/click/type/evaluate(fn, ...args)/waitFor(selector)/markdown/screenshot/blocked/close`, `page.cdp.send(method, params)`.";

impl codemode::execute::Capability for BrowserCapability {
    fn description(&self) -> &str {
        DESCRIPTION
    }

    fn prelude(&self) -> Option<&str> {
        Some(PRELUDE)
    }

    fn bind(&self, bindings: Bindings) -> (Bindings, codemode::execute::Release) {
        let (bindings, used) = bind(bindings, &self.browser, Arc::clone(&self.fetcher));
        (
            bindings,
            Box::new(move || Box::pin(async move { used.close().await })),
        )
    }

    /// Think's `browser_*` tools: the quick actions whose result a model reads as text.
    fn shortcuts(&self) -> Vec<Shortcut> {
        let url = json!({
            "type": "string",
            "description": "http(s) URL of the page (only hosts `fetch` may reach load)"
        });
        let page = |extra: Value, required: &[&str]| {
            let mut properties = json!({ "url": url.clone() });
            if let (Some(all), Value::Object(more)) = (properties.as_object_mut(), extra) {
                all.extend(more);
            }
            json!({ "type": "object", "properties": properties, "required": required })
        };
        vec![
            Shortcut {
                name: "browser_markdown".to_owned(),
                description: "Load a web page in a headless browser (scripts run) and return its main content as Markdown."
                    .to_owned(),
                input_schema: page(json!({}), &["url"]),
                function: "(input) => browser.markdown(input.url)".to_owned(),
            },
            Shortcut {
                name: "browser_links".to_owned(),
                description: "Load a web page in a headless browser and return its links ({text, href}), absolute."
                    .to_owned(),
                input_schema: page(json!({}), &["url"]),
                function: "(input) => browser.links(input.url)".to_owned(),
            },
            Shortcut {
                name: "browser_scrape".to_owned(),
                description: "Load a web page in a headless browser and return, for each CSS selector, the matching elements' text, HTML and attributes."
                    .to_owned(),
                input_schema: page(
                    json!({ "selectors": {
                        "type": "array",
                        "items": { "type": "string" },
                        "description": "CSS selectors, e.g. [\"h1\", \"table tr\"]"
                    }}),
                    &["url", "selectors"],
                ),
                function: "(input) => browser.scrape(input.url, input.selectors)".to_owned(),
            },
        ]
    }
}
