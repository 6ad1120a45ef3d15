//! Helpers shared by the test modules.

use std::net::SocketAddr;

/// Serves `app` on 127.0.0.1 from a task of the test's runtime; returns its address.
pub(crate) async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}
