//! Helpers shared by the binary's test modules.

use std::net::SocketAddr;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;

/// Serves `app` on 127.0.0.1 from a runtime thread of its own (so it outlives the test's
/// runtime and also serves tests without one); returns its address.
pub fn serve_on_own_thread(app: axum::Router) -> SocketAddr {
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
pub fn json_stdout(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "client failed\nstdout: {stdout}\nstderr: {stderr}"
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("client printed no JSON ({e}): {stdout}\nstderr: {stderr}"))
}
