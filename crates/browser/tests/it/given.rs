//! Test sites on loopback, a fetch policy over them, and one execution with the browser.

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use browser::{Browser, BrowserConfig, ExecutionBrowser};
use codemode::egress::{FetchPolicy, Fetcher, HostRule};
use sandbox::{Bindings, Execution, Limits, Outcome, Sandbox};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A site on `127.0.0.1:port`, counting the requests it answered.
pub(crate) struct Site {
    pub port: u16,
    pub hits: Arc<AtomicUsize>,
}

impl Site {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub(crate) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn serve(router: Router) -> Site {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let router = router.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                next.run(request).await
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Site { port, hits }
}

/// The site code is allowed to browse, and one it is not, which the first links to.
pub(crate) async fn given_sites() -> (Site, Site) {
    let other = serve(
        Router::new()
            .route("/", get(|| async { Html("<p>other</p>") }))
            .route(
                "/pixel.png",
                get(|| async { ([(header::CONTENT_TYPE, "image/png")], PNG.to_vec()) }),
            ),
    )
    .await;
    let other_url = format!("http://127.0.0.1:{}", other.port);
    let article = format!(
        r#"<!doctype html><html><head><title>Islands</title></head><body>
<nav><a href="/form">Form</a></nav>
<main><h1>Islands</h1><p>An <strong>island</strong> is land surrounded by water.</p>
<ul><li>Skye</li><li>Mull</li></ul>
<p class="note">See <a href="/form">the form</a> and <a href="{other_url}/">elsewhere</a>.</p>
<table><tr><th>Name</th><th>Area</th></tr><tr><td>Skye</td><td>1656</td></tr></table>
</main></body></html>"#
    );
    let with_foreign_image = format!(
        r#"<!doctype html><html><body><h1>Pictures</h1><img id="pic" src="{other_url}/pixel.png">
<script>document.getElementById('pic').addEventListener('error', () => document.body.dataset.failed = 'yes');</script></body></html>"#
    );
    let redirect_to_other = format!("{other_url}/");
    let allowed = serve(
        Router::new()
            .route("/", get(move || async move { Html(article) }))
            .route("/form", get(|| async { Html(FORM) }))
            .route(
                "/pictures",
                get(move || async move { Html(with_foreign_image) }),
            )
            .route(
                "/away",
                get(move || async move {
                    let mut headers = HeaderMap::new();
                    headers.insert(header::LOCATION, redirect_to_other.parse().unwrap());
                    (StatusCode::FOUND, headers).into_response()
                }),
            )
            .route(
                "/hop",
                get(|| async {
                    Response::builder()
                        .status(StatusCode::FOUND)
                        .header(header::LOCATION, "/form")
                        .body(axum::body::Body::empty())
                        .unwrap()
                }),
            )
            .route(
                "/pixel.png",
                get(|| async { ([(header::CONTENT_TYPE, "image/png")], PNG.to_vec()) }),
            ),
    )
    .await;
    (allowed, other)
}

const FORM: &str = r#"<!doctype html><html><body>
<input id="name"><button id="go" onclick="document.getElementById('out').textContent = 'Hello, ' + document.getElementById('name').value">Go</button>
<p id="out"></p></body></html>"#;

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x56, 0xc7, 0x2f, 0x0d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// A policy allowing exactly `site` (loopback, so private addresses are allowed too).
pub(crate) fn given_fetcher(site: &Site) -> Arc<Fetcher> {
    let policy = FetchPolicy {
        allowed_hosts: vec![HostRule::new(format!("127.0.0.1:{}", site.port))],
        allow_private: true,
        ..FetchPolicy::default()
    };
    Arc::new(Fetcher::new(policy).unwrap())
}

pub(crate) fn given_browser() -> Arc<Browser> {
    Browser::new(BrowserConfig::default())
}

/// Runs `code` with the browser, every page request under `fetcher`'s policy.
pub(crate) async fn run(browser: &Arc<Browser>, fetcher: Arc<Fetcher>, code: &str) -> Outcome {
    let (outcome, used) = run_keeping(browser, fetcher, code).await;
    used.close().await;
    outcome
}

pub(crate) async fn run_keeping(
    browser: &Arc<Browser>,
    fetcher: Arc<Fetcher>,
    code: &str,
) -> (Outcome, Arc<ExecutionBrowser>) {
    let (bindings, used) = browser::bind(Bindings::new(), browser, fetcher);
    let sandbox = Sandbox::new(Default::default()).unwrap();
    let limits = Limits {
        wall_ms: 60_000,
        ..Limits::default()
    };
    let outcome = sandbox
        .execute(
            Execution::new(code)
                .bindings(bindings)
                .limits(limits)
                .prelude(browser::PRELUDE),
        )
        .await;
    (outcome, used)
}

/// The result, or the test fails with the outcome's error.
pub(crate) fn result(outcome: &Outcome) -> serde_json::Value {
    match (&outcome.result, &outcome.error) {
        (Some(value), None) => value.clone(),
        _ => panic!("the execution failed: {:?}", outcome.error),
    }
}

/// The error's code, or the test fails when the execution succeeded.
pub(crate) fn error_code(outcome: &Outcome) -> String {
    let error = outcome
        .error
        .as_ref()
        .unwrap_or_else(|| panic!("expected an error, got {:?}", outcome.result));
    error.code.clone().unwrap_or_default()
}
