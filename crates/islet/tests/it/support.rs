//! Helpers shared by the binary's test modules.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

/// The request's Authorization header (empty when absent), appended to `seen`: stand-in
/// APIs record what credentials reached them.
pub(crate) fn record_authorization(
    seen: &std::sync::Mutex<Vec<String>>,
    request: &axum::extract::Request,
) -> String {
    let auth = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if let Ok(mut seen) = seen.lock() {
        seen.push(auth.clone());
    }
    auth
}

/// Serves `app` on 127.0.0.1 from a runtime thread of its own (so it outlives the test's
/// runtime and also serves tests without one); returns its address.
pub(crate) fn serve_on_own_thread(app: axum::Router) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr"))
                .expect("send addr");
            let _ = axum::serve(listener, app).await;
        });
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the server starts")
}

/// The JSON a client program printed, after checking it succeeded.
pub(crate) fn json_stdout(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "client failed\nstdout: {stdout}\nstderr: {stderr}"
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("client printed no JSON ({e}): {stdout}\nstderr: {stderr}"))
}

/// Runs the `islet` binary with `stdin` and extra environment variables.
pub(crate) fn islet_with_env(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_islet"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("islet starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("islet finishes")
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An HTTP client for the servers under test, built with islet's TLS provider (a bare
/// reqwest builder has none in this build).
pub(crate) fn client() -> reqwest::Client {
    codemode::egress::tls::client_builder()
        .unwrap()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// `POST base+path` with the bearer token: the status and the body as JSON (or as a JSON
/// string when it is not JSON, e.g. a server-sent event stream).
pub(crate) async fn post_with_token(
    base: &str,
    token: &str,
    path: &str,
    body: &str,
) -> (u16, Value) {
    let response = client()
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}
