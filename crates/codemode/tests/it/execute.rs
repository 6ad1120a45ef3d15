//! `execute` against a real local HTTP API (axum on 127.0.0.1:0) described by a small
//! OpenAPI document: pagination, retries written in the model's code, JSON bodies, error
//! inspection, secrets that never reach the isolate, and the host allowlist.

use crate::support::serve;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use codemode::catalog::Catalog;
use codemode::execute::{HttpApi, HttpApiConfig, bindings};
use codemode::openapi;
use sandbox::{Execution, Outcome, Sandbox, SandboxConfig};
use serde_json::{Value, json};

const SECRET: &str = "sk-test-SECRET-0123456789";

/// The API the fixture describes. Untagged operations land in the root namespace
/// (`api.listItems`).
fn spec_fixture() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": { "title": "Test Items API", "version": "1" },
        "paths": {
            "/items": {
                "get": {
                    "operationId": "listItems",
                    "summary": "List items, one page at a time",
                    "parameters": [{ "name": "page", "in": "query", "schema": { "type": "integer" } }],
                    "responses": { "200": { "description": "a page", "content": { "application/json": { "schema": {
                        "type": "object",
                        "properties": {
                            "items": { "type": "array", "items": { "$ref": "#/components/schemas/Item" } },
                            "next": { "type": "integer", "nullable": true }
                        }
                    } } } } }
                },
                "post": {
                    "operationId": "createItem",
                    "summary": "Create an item",
                    "requestBody": { "required": true, "content": { "application/json": { "schema": {
                        "type": "object",
                        "required": ["name"],
                        "properties": { "name": { "type": "string" }, "tags": { "type": "array", "items": { "type": "string" } } }
                    } } } },
                    "responses": { "201": { "description": "created" } }
                }
            },
            "/items/{id}": {
                "get": {
                    "operationId": "getItem",
                    "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "integer" } }],
                    "responses": { "200": { "description": "an item" }, "404": { "description": "no such item" } }
                }
            },
            "/flaky": { "get": { "operationId": "getFlaky", "responses": { "200": { "description": "ok" } } } },
            "/echo": {
                "get": {
                    "operationId": "echo",
                    "parameters": [{ "name": "fail", "in": "query", "schema": { "type": "boolean" } }],
                    "responses": { "200": { "description": "the request's headers" } }
                }
            }
        },
        "components": { "schemas": { "Item": {
            "type": "object", "properties": { "id": { "type": "integer" }, "value": { "type": "integer" } }
        } } }
    })
}

#[derive(Clone, Default)]
struct TestApi {
    flaky_calls: Arc<AtomicUsize>,
    redirect_to: Arc<std::sync::Mutex<String>>,
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn list_items(request: Request) -> Response {
    let page: u64 = request
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("page=")))
        .and_then(|p| p.parse().ok())
        .unwrap_or(1);
    let items: Vec<Value> = (0..3)
        .map(|i| json!({ "id": page * 10 + i, "value": page }))
        .collect();
    let next = if page < 5 {
        json!(page + 1)
    } else {
        Value::Null
    };
    json_response(StatusCode::OK, json!({ "items": items, "next": next }))
}

async fn create_item(headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    json_response(
        StatusCode::CREATED,
        json!({ "created": parsed, "content_type": content_type }),
    )
}

async fn get_item(Path(id): Path<u64>) -> Response {
    if id == 1 {
        json_response(StatusCode::OK, json!({ "id": 1, "value": 42 }))
    } else {
        json_response(
            StatusCode::NOT_FOUND,
            json!({ "message": format!("no item {id}") }),
        )
    }
}

async fn flaky(State(state): State<TestApi>) -> Response {
    if state.flaky_calls.fetch_add(1, Ordering::SeqCst) < 2 {
        (
            StatusCode::TOO_MANY_REQUESTS,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::RETRY_AFTER, "0"),
            ],
            json!({ "message": "slow down" }).to_string(),
        )
            .into_response()
    } else {
        json_response(StatusCode::OK, json!({ "ok": true }))
    }
}

/// Echoes the request's headers back in the body and the Authorization header back in
/// response headers, the way careless APIs and proxies do.
async fn echo(request: Request) -> Response {
    let headers: serde_json::Map<String, Value> = request
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
            )
        })
        .collect();
    let auth = request.headers().get(header::AUTHORIZATION).cloned();
    let fail = request
        .uri()
        .query()
        .is_some_and(|q| q.contains("fail=true"));
    let status = if fail {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    let mut response = json_response(status, json!({ "headers": headers }));
    if let Some(auth) = auth {
        response.headers_mut().insert("x-echo-auth", auth.clone());
        response
            .headers_mut()
            .insert(header::SET_COOKIE, auth.clone());
        response.headers_mut().insert(header::AUTHORIZATION, auth);
    }
    response
}

async fn redirect(State(state): State<TestApi>) -> Response {
    let target = state
        .redirect_to
        .lock()
        .map(|t| t.clone())
        .unwrap_or_default();
    Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, target)
        .body(Body::empty())
        .unwrap_or_default()
}

/// Answers after the client's timeout: the request must fail, not hang the execution.
async fn slow() -> Response {
    tokio::time::sleep(Duration::from_secs(10)).await;
    (StatusCode::OK, "late").into_response()
}

struct Harness {
    sandbox: Sandbox,
    catalog: Catalog,
    api: Arc<HttpApi>,
    state: TestApi,
    base_url: String,
}

impl Harness {
    async fn start() -> Harness {
        let state = TestApi::default();
        let app = Router::new()
            .route("/items", get(list_items).post(create_item))
            .route("/items/{id}", get(get_item))
            .route("/flaky", get(flaky))
            .route("/echo", get(echo))
            .route("/redirect", get(redirect))
            .route("/slow", get(slow))
            .with_state(state.clone());
        let addr = serve(app).await;
        let base_url = format!("http://{addr}");
        let spec = openapi::parse(spec_fixture().to_string().as_bytes(), "items.json")
            .expect("fixture parses");
        let catalog = openapi::catalog(&spec);
        let mut config = HttpApiConfig::new(base_url.clone());
        config.headers = vec![("Authorization".to_owned(), format!("Bearer {SECRET}"))];
        config.timeout = Duration::from_secs(5);
        config.max_response_bytes = 64 << 10;
        let api = Arc::new(HttpApi::new(config).expect("api config"));
        Harness {
            sandbox: Sandbox::new(SandboxConfig { threads: 1 }).expect("sandbox"),
            catalog,
            api,
            state,
            base_url,
        }
    }

    async fn run(&self, code: &str) -> Outcome {
        let b = bindings(&self.catalog, Arc::clone(&self.api));
        self.sandbox.execute(Execution::new(code).bindings(b)).await
    }
}

fn ok(outcome: &Outcome) -> Value {
    assert!(
        outcome.error.is_none(),
        "execution failed: {:?}\nlogs: {:?}",
        outcome.error,
        outcome.logs
    );
    outcome.result.clone().unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread")]
async fn catalog_tools_are_bound_under_api() {
    let h = Harness::start().await;
    let paths: Vec<String> = h.catalog.tools.iter().map(|t| t.path()).collect();
    for expected in [
        "api.listItems",
        "api.createItem",
        "api.getItem",
        "api.getFlaky",
        "api.echo",
    ] {
        assert!(
            paths.iter().any(|p| p == expected),
            "{expected} missing from {paths:?}"
        );
    }
    let outcome = h
        .run("async () => [typeof api.listItems, typeof api.request]")
        .await;
    assert_eq!(ok(&outcome), json!(["function", "function"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_through_five_pages_and_aggregates_in_code() {
    let h = Harness::start().await;
    let outcome = h
        .run(
            "async () => {
               let page = 1, total = 0, count = 0, pages = 0;
               while (page) {
                 const r = await api.listItems({ page });
                 pages++; count += r.items.length; total += r.items.reduce((s, i) => s + i.value, 0);
                 page = r.next;
               }
               return { pages, count, total };
             }",
        )
        .await;
    assert_eq!(
        ok(&outcome),
        json!({ "pages": 5, "count": 15, "total": 45 })
    );
    assert_eq!(outcome.stats.host_calls, 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_a_429_in_the_models_code() {
    let h = Harness::start().await;
    let outcome = h
        .run(
            "async () => {
               for (let attempt = 1; ; attempt++) {
                 try {
                   const r = await api.getFlaky();
                   return { attempt, r };
                 } catch (e) {
                   if (e.name === 'ApiError' && e.data.status === 429 && attempt < 5) {
                     console.log(`429 (retry-after ${e.data.headers['retry-after']}), code ${e.code}`);
                     await new Promise(r => setTimeout(r, 10 * 2 ** attempt));
                     continue;
                   }
                   throw e;
                 }
               }
             }",
        )
        .await;
    assert_eq!(ok(&outcome), json!({ "attempt": 3, "r": { "ok": true } }));
    assert_eq!(outcome.logs.len(), 2);
    assert_eq!(outcome.logs[0].text, "429 (retry-after 0), code HTTP_429");
    assert_eq!(h.state.flaky_calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn posts_a_json_body() {
    let h = Harness::start().await;
    let outcome = h
        .run("async () => await api.createItem({ name: 'widget', tags: ['a', 'b'] })")
        .await;
    assert_eq!(
        ok(&outcome),
        json!({ "created": { "name": "widget", "tags": ["a", "b"] }, "content_type": "application/json" })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn error_responses_are_inspectable() {
    let h = Harness::start().await;
    let outcome = h
        .run(
            "async () => {
               const found = await api.getItem({ id: 1 });
               try { await api.getItem({ id: 7 }); return 'no error?'; }
               catch (e) { return { found, name: e.name, code: e.code, status: e.data.status, body: e.data.body, message: e.message }; }
             }",
        )
        .await;
    let result = ok(&outcome);
    assert_eq!(result["found"], json!({ "id": 1, "value": 42 }));
    assert_eq!(result["name"], "ApiError");
    assert_eq!(result["code"], "HTTP_404");
    assert_eq!(result["status"], 404);
    assert_eq!(result["body"], json!({ "message": "no item 7" }));
    assert!(
        result["message"]
            .as_str()
            .is_some_and(|m| m.contains("404") && m.contains("no item 7")),
        "{result}"
    );

    // api.request returns non-2xx as values.
    let outcome = h
        .run("async () => await api.request({ path: '/items/7' })")
        .await;
    let result = ok(&outcome);
    assert_eq!(result["status"], 404);
    assert_eq!(result["body"], json!({ "message": "no item 7" }));

    // Invalid input is a TypeError before any request.
    let outcome = h.run("async () => await api.getItem({ idd: 1 })").await;
    let error = outcome.error.expect("invalid input throws");
    assert_eq!(error.name, "TypeError");
    assert_eq!(error.code.as_deref(), Some("INVALID_INPUT"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_secret_never_reaches_the_isolate() {
    let h = Harness::start().await;
    let outcome = h
        .run(
            "async () => {
               const typed = await api.echo();
               const raw = await api.request({ path: '/echo', headers: { 'x-mine': 'visible' } });
               // The code cannot replace the credential either: the injected header wins.
               const spoof = await api.request({ path: '/echo', headers: { Authorization: 'Bearer mine' } });
               console.log(JSON.stringify(raw));
               let failure;
               try { await api.echo({ fail: true }); } catch (e) { failure = { message: e.message, data: e.data }; }
               return { typed, raw, spoof, failure };
             }",
        )
        .await;
    let result = ok(&outcome);
    // The server did receive the credential (echoed, then scrubbed)...
    assert_eq!(result["typed"]["headers"]["authorization"], "[REDACTED]");
    assert_eq!(result["raw"]["headers"]["x-echo-auth"], "[REDACTED]");
    assert_eq!(result["raw"]["body"]["headers"]["x-mine"], "visible");
    assert_eq!(
        result["spoof"]["body"]["headers"]["authorization"],
        "[REDACTED]"
    );
    // ...credential headers are dropped from responses...
    assert!(
        result["raw"]["headers"].get("set-cookie").is_none(),
        "{result}"
    );
    assert!(
        result["raw"]["headers"].get("authorization").is_none(),
        "{result}"
    );
    // ...and error messages and data are scrubbed too.
    assert!(
        result["failure"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("500")),
        "{result}"
    );
    assert_eq!(
        result["failure"]["data"]["body"]["headers"]["authorization"],
        "[REDACTED]"
    );

    // An uncaught error's message is scrubbed as well.
    let uncaught = h
        .run("async () => { await api.echo({ fail: true }) }")
        .await;
    let error = uncaught.error.clone().expect("500 throws");
    assert_eq!(error.name, "ApiError");
    assert!(error.message.contains("[REDACTED]"), "{}", error.message);

    let bare = SECRET;
    for outcome in [&outcome, &uncaught] {
        let everything = serde_json::to_string(outcome).expect("outcome serialises");
        assert!(!everything.contains(bare), "secret leaked: {everything}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_stay_on_the_apis_host() {
    let h = Harness::start().await;
    for path in [
        "//evil.example/x",
        "http://evil.example/x",
        "https://evil.example/",
        "\\\\evil.example/x",
        "evil.example/x",
    ] {
        let code = format!("async () => await api.request({{ path: {} }})", json!(path));
        let outcome = h.run(&code).await;
        let error = outcome
            .error
            .unwrap_or_else(|| panic!("{path} was not refused"));
        assert!(
            matches!(
                error.code.as_deref(),
                Some("INVALID_REQUEST" | "HOST_NOT_ALLOWED")
            ),
            "{path}: {error:?}"
        );
    }
    // A redirect off the host is handed back, not followed.
    if let Ok(mut target) = h.state.redirect_to.lock() {
        *target = "http://127.0.0.2:9/steal".to_owned();
    }
    let outcome = h
        .run("async () => await api.request({ path: '/redirect' })")
        .await;
    let result = ok(&outcome);
    assert_eq!(result["status"], 302);
    assert_eq!(result["headers"]["location"], "http://127.0.0.2:9/steal");
    // A same-host redirect is followed.
    if let Ok(mut target) = h.state.redirect_to.lock() {
        *target = format!("{}/items/1", h.base_url);
    }
    let outcome = h
        .run("async () => (await api.request({ path: '/redirect' })).body")
        .await;
    assert_eq!(ok(&outcome), json!({ "id": 1, "value": 42 }));
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_responses_are_cut_off() {
    let h = Harness::start().await;
    let mut config = HttpApiConfig::new(h.base_url.clone());
    config.max_response_bytes = 40;
    let api = Arc::new(HttpApi::new(config).expect("config"));
    let b = bindings(&h.catalog, api);
    let outcome = h
        .sandbox
        .execute(Execution::new("async () => await api.listItems({ page: 1 })").bindings(b))
        .await;
    let error = outcome.error.expect("too large");
    assert_eq!(error.code.as_deref(), Some("RESPONSE_TOO_LARGE"));
    assert!(error.message.contains("40 bytes"), "{}", error.message);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_api_hits_the_request_timeout() {
    let h = Harness::start().await;
    let mut config = HttpApiConfig::new(h.base_url.clone());
    config.timeout = Duration::from_millis(200);
    let api = Arc::new(HttpApi::new(config).expect("config"));
    let b = bindings(&h.catalog, api);
    let outcome = h
        .sandbox
        .execute(
            Execution::new(
                "try { await api.request({ method: 'GET', path: '/slow' }); return 'answered'; } \
                 catch (e) { return [e.name, e.code, e.message]; }",
            )
            .bindings(b),
        )
        .await;
    let caught = ok(&outcome);
    assert_eq!(caught[1], "HTTP_FAILED", "{caught}");
    assert!(
        caught[2]
            .as_str()
            .is_some_and(|m| m.contains("no complete response within 200 ms")),
        "{caught}"
    );
}

/// Loopback is allowed only because it is the API's origin: the same address on another
/// port, or the same host and port under another scheme, is another origin, and a redirect
/// there is handed back without the credential ever reaching it.
#[tokio::test(flavor = "multi_thread")]
async fn redirects_to_another_port_or_scheme_of_the_same_host_are_not_followed() {
    let h = Harness::start().await;
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    let app = Router::new().fallback(move || {
        counted.fetch_add(1, Ordering::SeqCst);
        async { (StatusCode::OK, "reached").into_response() }
    });
    let other_addr = serve(app).await;
    let same_port_https = h.base_url.replacen("http://", "https://", 1);
    for target in [
        format!("http://{other_addr}/steal"),
        format!("{same_port_https}/items/1"),
    ] {
        if let Ok(mut slot) = h.state.redirect_to.lock() {
            slot.clone_from(&target);
        }
        let result = ok(&h
            .run("async () => await api.request({ path: '/redirect' })")
            .await);
        assert_eq!(result["status"], 302, "{target}: {result}");
        assert_eq!(result["headers"]["location"], target.as_str());
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "another origin was contacted"
    );
}
