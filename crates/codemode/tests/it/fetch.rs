//! An isolate's `fetch` against local HTTP servers (axum on 127.0.0.1:0), under a
//! `FetchPolicy`: allowed hosts work; other hosts, private addresses (directly, by DNS and
//! through redirects), oversized bodies, slow servers and disallowed methods are refused
//! with a code the program can act on; injected credentials reach the server and never the
//! isolate.
//!
//! `allowed.test` is pinned to the server by the policy's trusted `resolve_overrides`, so
//! most tests run with `allow_private: false`, as production would.

use crate::support::serve;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use codemode::egress::{FetchPolicy, Fetcher, HostRule, fetch_binding};
use sandbox::{Bindings, Execution, Outcome, Sandbox, SandboxConfig};
use serde_json::{Value, json};

const SECRET: &str = "sk-fetch-SECRET-9876543210";

#[derive(Clone, Default)]
struct Seen {
    /// The Authorization header of the last request to `/echo`.
    authorization: Arc<Mutex<Option<String>>>,
}

/// Echoes method, headers and body; also echoes Authorization back in headers, as careless
/// APIs do.
async fn echo(State(seen): State<Seen>, request: Request) -> Response {
    let method = request.method().to_string();
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
    let auth = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Ok(mut slot) = seen.authorization.lock() {
        slot.clone_from(&auth);
    }
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "method": method, "headers": headers, "body": String::from_utf8_lossy(&body) })
            .to_string(),
    )
        .into_response();
    if let Some(auth) = auth.and_then(|a| a.parse().ok()) {
        response.headers_mut().insert("x-echo-auth", auth);
    }
    response
}

async fn hello() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "hello": "world" }).to_string(),
    )
        .into_response()
}

/// `/redirect?to=URL` answers 302 to URL (taken verbatim, undecoded).
async fn redirect(request: Request) -> Response {
    let to = request
        .uri()
        .query()
        .and_then(|q| q.strip_prefix("to="))
        .unwrap_or("/")
        .to_owned();
    Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, to)
        .body(Body::empty())
        .unwrap_or_default()
}

/// 100 KB with a Content-Length.
async fn big() -> Bytes {
    Bytes::from(vec![b'x'; 100 << 10])
}

/// Serves 100 KB in chunks without a Content-Length, over raw TCP (only counting the bytes
/// can stop it).
async fn given_chunked_server() -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("400\r\n{}\r\n", "y".repeat(1024));
                for _ in 0..100 {
                    if socket.write_all(chunk.as_bytes()).await.is_err() {
                        return;
                    }
                }
                let _ = socket.write_all(b"0\r\n\r\n").await;
            });
        }
    });
    addr
}

async fn slow() -> Response {
    tokio::time::sleep(Duration::from_secs(10)).await;
    (StatusCode::OK, "late").into_response()
}

struct Server {
    addr: SocketAddr,
    seen: Seen,
}

async fn given_server() -> Server {
    let seen = Seen::default();
    let app = Router::new()
        .route("/echo", any(echo))
        .route("/json", get(hello))
        .route("/redirect", get(redirect))
        .route("/big", get(big))
        .route("/slow", get(slow))
        .with_state(seen.clone());
    Server {
        addr: serve(app).await,
        seen,
    }
}

/// `allowed.test` (pinned to the server) is the one allowed host; private addresses refused.
fn given_policy(server: &Server) -> FetchPolicy {
    FetchPolicy {
        resolve_overrides: vec![("allowed.test".to_owned(), server.addr)],
        timeout: Duration::from_secs(5),
        ..FetchPolicy::default()
    }
    .allow("allowed.test")
}

async fn run(policy: Option<FetchPolicy>, code: &str) -> Outcome {
    let bindings = match policy {
        Some(policy) => fetch_binding(Arc::new(Fetcher::new(policy).expect("policy is valid"))),
        None => Bindings::new(),
    };
    let sandbox = Sandbox::new(SandboxConfig { threads: 1 }).expect("sandbox");
    sandbox
        .execute(Execution::new(code).bindings(bindings))
        .await
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

/// Runs `fetch(url, init)` expecting a rejection; returns `[name, code, message]`.
async fn refusal(policy: FetchPolicy, url: &str, init: Value) -> (String, String, String) {
    let code = format!(
        "try {{ await fetch({}, {init}); return 'no error'; }} catch (e) {{ return [e.name, e.code, e.message]; }}",
        json!(url)
    );
    let result = ok(&run(Some(policy), &code).await);
    let field = |i: usize| result[i].as_str().unwrap_or_default().to_owned();
    assert!(result.is_array(), "expected a refusal, got {result}");
    (field(0), field(1), field(2))
}

#[tokio::test(flavor = "multi_thread")]
async fn allowed_host_works_get_json_post_body_and_headers() {
    let server = given_server().await;
    let result = ok(&run(
        Some(given_policy(&server)),
        r#"
        const hello = await fetch("http://allowed.test/json");
        const data = await hello.json();
        const posted = await fetch("http://allowed.test/echo", {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-Custom": "abc", "Host": "evil.test" },
          body: JSON.stringify({ n: 1 }),
        });
        const echo = await posted.json();
        return {
          status: hello.status, ok: hello.ok, url: hello.url, type: hello.headers.get("Content-Type"),
          data, method: echo.method, body: JSON.parse(echo.body),
          custom: echo.headers["x-custom"], host: echo.headers["host"],
          contentType: echo.headers["content-type"],
        };
        "#,
    )
    .await);
    assert_eq!(
        result,
        json!({
            "status": 200, "ok": true, "url": "http://allowed.test/json",
            "type": "application/json", "data": {"hello": "world"},
            "method": "POST", "body": {"n": 1}, "custom": "abc",
            "host": "allowed.test", "contentType": "application/json",
        })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fetch_is_denied_by_default() {
    let result = ok(&run(
        None,
        "[typeof fetch, typeof Request, typeof Response, typeof Headers]",
    )
    .await);
    assert_eq!(
        result,
        json!(["undefined", "undefined", "undefined", "undefined"])
    );
    // A binding with the default policy allows nothing.
    let (name, code, message) =
        refusal(FetchPolicy::default(), "https://example.com/", json!({})).await;
    assert_eq!(
        (name.as_str(), code.as_str()),
        ("TypeError", "HOST_NOT_ALLOWED")
    );
    assert!(message.contains("allows no host"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn other_host_is_refused_naming_the_allowed_hosts() {
    let server = given_server().await;
    let (name, code, message) =
        refusal(given_policy(&server), "http://other.test/json", json!({})).await;
    assert_eq!(
        (name.as_str(), code.as_str()),
        ("TypeError", "HOST_NOT_ALLOWED")
    );
    assert!(
        message.contains("other.test is not an allowed host; allowed hosts: allowed.test"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issue13_private_address_refusal_says_how_to_allow_it() {
    let server = given_server().await;
    let url = format!("http://{}/json", server.addr);
    let listed = given_policy(&server).allow("127.0.0.1");
    // A library user is told the policy field; an embedder's hint replaces it.
    let (_, code, message) = refusal(listed.clone(), &url, json!({})).await;
    assert_eq!(code, "PRIVATE_ADDRESS", "{message}");
    assert!(
        message.contains("the fetch policy does not allow them (`FetchPolicy::allow_private`)"),
        "{message}"
    );
    let hinted = FetchPolicy {
        allow_private_hint: Some("pass --open-sesame".to_owned()),
        ..listed
    };
    let (_, _, message) = refusal(hinted, &url, json!({})).await;
    assert!(
        message.contains("addresses are refused: pass --open-sesame"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn loopback_is_refused_unless_allowed() {
    let server = given_server().await;
    let url = format!("http://{}/json", server.addr);
    // Listed, but loopback: the address check wins.
    let listed = given_policy(&server).allow("127.0.0.1");
    let (_, code, message) = refusal(listed.clone(), &url, json!({})).await;
    assert_eq!(code, "PRIVATE_ADDRESS", "{message}");
    assert!(
        message.contains("127.0.0.1 is a loopback address"),
        "{message}"
    );
    // By name: refused after DNS resolution.
    let by_name = given_policy(&server).allow("localhost");
    let (_, code, message) = refusal(
        by_name,
        &format!("http://localhost:{}/json", server.addr.port()),
        json!({}),
    )
    .await;
    assert_eq!(code, "PRIVATE_ADDRESS", "{message}");
    assert!(message.contains("localhost resolves to"), "{message}");
    // Explicitly allowed: works.
    let allowed = FetchPolicy {
        allow_private: true,
        ..listed
    };
    let result = ok(&run(
        Some(allowed),
        &format!("(await fetch({})).json()", json!(url)),
    )
    .await);
    assert_eq!(result, json!({"hello": "world"}));
}

#[tokio::test(flavor = "multi_thread")]
async fn redirect_to_a_private_address_is_refused() {
    let server = given_server().await;
    let port = server.addr.port();
    let policy = given_policy(&server)
        .allow("localhost")
        .allow("*.internal.test");
    for (target, expected_code, expected_text) in [
        (
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "PRIVATE_ADDRESS",
            "169.254.169.254 is a link-local",
        ),
        (
            "http://10.0.0.1/admin".to_owned(),
            "PRIVATE_ADDRESS",
            "10.0.0.1 is a private",
        ),
        (
            format!("http://localhost:{port}/json"),
            "PRIVATE_ADDRESS",
            "localhost resolves to",
        ),
        (
            "http://elsewhere.test/".to_owned(),
            "HOST_NOT_ALLOWED",
            "elsewhere.test is not an allowed host",
        ),
    ] {
        let url = format!("http://allowed.test/redirect?to={target}");
        let (name, code, message) = refusal(policy.clone(), &url, json!({})).await;
        assert_eq!(
            (name.as_str(), code.as_str()),
            ("TypeError", expected_code),
            "{target}: {message}"
        );
        assert!(message.contains(expected_text), "{target}: {message}");
    }
    // Followed when the target is allowed; `manual` hands the 3xx back instead.
    let result = ok(&run(
        Some(policy),
        r#"
        const followed = await fetch("http://allowed.test/redirect?to=/json");
        const manual = await fetch("http://allowed.test/redirect?to=http://10.0.0.1/", { redirect: "manual" });
        const refused = await fetch("http://allowed.test/redirect?to=/json", { redirect: "error" }).catch((e) => e.code);
        return [followed.redirected, followed.url, await followed.json(), manual.status, manual.headers.get("location"), refused];
        "#,
    )
    .await);
    assert_eq!(
        result,
        json!([
            true,
            "http://allowed.test/json",
            {"hello": "world"},
            302,
            "http://10.0.0.1/",
            "REDIRECT_NOT_ALLOWED"
        ])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_body_is_refused() {
    let server = given_server().await;
    let mut policy = FetchPolicy {
        max_response_bytes: 10 << 10,
        ..given_policy(&server)
    }
    .allow("chunked.test");
    policy
        .resolve_overrides
        .push(("chunked.test".to_owned(), given_chunked_server().await));
    for url in ["http://allowed.test/big", "http://chunked.test/big"] {
        let (name, code, message) = refusal(policy.clone(), url, json!({})).await;
        assert_eq!(
            (name.as_str(), code.as_str()),
            ("TypeError", "RESPONSE_TOO_LARGE"),
            "{url}"
        );
        assert!(message.contains("larger than 10240 bytes"), "{message}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_server_times_out() {
    let server = given_server().await;
    let policy = FetchPolicy {
        timeout: Duration::from_millis(300),
        ..given_policy(&server)
    };
    let started = Instant::now();
    let (name, code, message) = refusal(policy, "http://allowed.test/slow", json!({})).await;
    assert_eq!((name.as_str(), code.as_str()), ("TypeError", "TIMEOUT"));
    assert!(message.contains("300 ms"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread")]
async fn method_not_allowed_is_refused() {
    let server = given_server().await;
    let policy = FetchPolicy {
        allowed_hosts: vec![HostRule::new("allowed.test").methods(["get", "HEAD"])],
        ..given_policy(&server)
    };
    let (name, code, message) = refusal(
        policy.clone(),
        "http://allowed.test/echo",
        json!({"method": "POST", "body": "x"}),
    )
    .await;
    assert_eq!(
        (name.as_str(), code.as_str()),
        ("TypeError", "METHOD_NOT_ALLOWED")
    );
    assert!(
        message.contains("POST is not allowed on allowed.test"),
        "{message}"
    );
    let result = ok(&run(
        Some(policy),
        "(await fetch('http://allowed.test/echo')).status",
    )
    .await);
    assert_eq!(result, json!(200));
}

#[tokio::test(flavor = "multi_thread")]
async fn injected_header_reaches_the_server_but_never_the_isolate() {
    let server = given_server().await;
    let policy =
        given_policy(&server).inject("allowed.test", "Authorization", format!("Bearer {SECRET}"));
    let outcome = run(
        Some(policy),
        r#"
        const res = await fetch("http://allowed.test/echo", { headers: { Authorization: "Bearer mine", "Accept-Encoding": "gzip" } });
        const text = await res.clone().text();
        const headers = [...res.headers];
        console.log(text, JSON.stringify(headers));
        const redirectedTo = await fetch("http://allowed.test/redirect?to=http://elsewhere.test/" + encodeURIComponent(text)).catch((e) => e.message);
        console.error(redirectedTo);
        throw new Error("done: " + text + " " + res.headers.get("x-echo-auth"));
        "#,
    )
    .await;
    let seen = server
        .seen
        .authorization
        .lock()
        .map(|a| a.clone())
        .ok()
        .flatten();
    assert_eq!(seen, Some(format!("Bearer {SECRET}")));
    let error = outcome.error.clone().expect("the code threw");
    let everything = format!("{:?} {:?} {:?}", outcome.result, outcome.logs, error);
    assert!(
        !everything.contains(SECRET),
        "the secret leaked: {everything}"
    );
    assert!(
        !everything.contains("Bearer mine"),
        "the code's header was not replaced"
    );
    assert!(everything.contains("[REDACTED]"), "{everything}");
    assert!(error.message.contains("done: "), "{}", error.message);
    // The code asked for gzip, which the server would send unscrubbable: the host asked
    // for the body as it is.
    assert!(
        error.message.contains(r#""accept-encoding":"identity""#),
        "{}",
        error.message
    );
}
