//! The console: a web UI for agents, chats and memory, served at `/` (issue 20).
//!
//! Hand-written HTML, CSS and JS compiled into the binary, so `cargo build` alone ships it
//! and nothing is installed at run time. The assets are public — they hold no data; every
//! piece of data comes from the JSON API with the bearer token the login page asks for.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

/// `(path, content type, body)` of every asset; the first is the page at `/`.
pub(crate) const ASSETS: [(&str, &str, &str); 3] = [
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("console/index.html"),
    ),
    (
        "/console/app.js",
        "text/javascript; charset=utf-8",
        include_str!("console/app.js"),
    ),
    (
        "/console/app.css",
        "text/css; charset=utf-8",
        include_str!("console/app.css"),
    ),
];

/// The console's routes, to merge outside the bearer-token layer.
pub(super) fn routes<S: Clone + Send + Sync + 'static>(mut router: Router<S>) -> Router<S> {
    for (path, content_type, body) in ASSETS {
        router = router.route(
            path,
            get(move || async move {
                (
                    [
                        (header::CONTENT_TYPE, content_type),
                        // The page's scripts and styles come from this origin only; the
                        // API is same-origin too, so nothing else needs allowing.
                        (
                            header::CONTENT_SECURITY_POLICY,
                            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
                        ),
                        (header::CACHE_CONTROL, "no-cache"),
                    ],
                    body,
                )
                    .into_response()
            }),
        );
    }
    router
}
