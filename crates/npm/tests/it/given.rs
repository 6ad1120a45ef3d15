//! A local registry on loopback, packages built in memory, and one execution with npm.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use npm::{Npm, NpmConfig};
use sandbox::{Execution, Outcome, Sandbox};
use sha2::Digest as _;
use std::collections::HashMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// npm on the public registry, caching in `cache`.
pub(crate) fn given_public_npm(cache: &std::path::Path) -> Arc<Npm> {
    Arc::new(Npm::new(NpmConfig::new(cache)).unwrap())
}

/// npm on `registry`, caching in `cache`.
pub(crate) fn given_npm(registry: &str, cache: &std::path::Path) -> Arc<Npm> {
    let mut config = NpmConfig::new(cache);
    config.registry = registry.to_owned();
    config.timeout = std::time::Duration::from_secs(5);
    Arc::new(Npm::new(config).unwrap())
}

/// Runs `code` with its npm imports; an npm refusal is returned as `Err(message)`.
pub(crate) async fn run(npm: &Npm, code: &str) -> Result<Outcome, npm::Error> {
    let sandbox = Sandbox::new(Default::default()).unwrap();
    let mut execution = Execution::new(code);
    if let Some(prepared) = npm.prepare(code).await? {
        execution.code = prepared.code;
        execution.prelude = Some(prepared.prelude);
    }
    Ok(sandbox.execute(execution).await)
}

/// Runs `code` and returns its result, failing the test on any error.
pub(crate) async fn result(npm: &Npm, code: &str) -> serde_json::Value {
    let outcome = run(npm, code)
        .await
        .unwrap_or_else(|e| panic!("npm refused: {e}"));
    assert!(
        outcome.error.is_none(),
        "{:?}\nlogs: {:?}",
        outcome.error,
        outcome.logs
    );
    outcome.result.unwrap_or(serde_json::Value::Null)
}

/// One package version as a test registry serves it.
pub(crate) struct TestPackage {
    pub name: &'static str,
    pub version: &'static str,
    /// (path in the package, content)
    pub files: Vec<(&'static str, String)>,
    /// Extra fields of the registry's version entry (`hasInstallScript`).
    pub registry_fields: serde_json::Value,
}

impl TestPackage {
    pub(crate) fn new(
        name: &'static str,
        version: &'static str,
        package_json: serde_json::Value,
    ) -> Self {
        TestPackage {
            name,
            version,
            files: vec![("package.json", package_json.to_string())],
            registry_fields: serde_json::json!({}),
        }
    }

    pub(crate) fn file(mut self, path: &'static str, content: &str) -> Self {
        self.files.push((path, content.to_owned()));
        self
    }

    pub(crate) fn tarball(&self) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, content) in &self.files {
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, format!("package/{path}"), content.as_bytes())
                .unwrap();
        }
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        gz.finish().unwrap()
    }
}

pub(crate) fn integrity(bytes: &[u8]) -> String {
    format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(bytes))
    )
}

/// A registry on loopback.
pub(crate) struct Registry {
    pub url: String,
    /// Requests it answered.
    pub hits: Arc<AtomicUsize>,
    tarballs: Arc<Mutex<HashMap<String, Vec<u8>>>>,
}

impl Registry {
    pub(crate) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Serves `bytes` as the tarball of `name@version` from now on (its published
    /// integrity stays the original's).
    pub(crate) fn replace_tarball(&self, name: &str, version: &str, bytes: Vec<u8>) {
        base::sync::lock(&self.tarballs).insert(format!("{name}-{version}.tgz"), bytes);
    }
}

#[derive(Clone)]
struct Served {
    documents: Arc<HashMap<String, serde_json::Value>>,
    tarballs: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    hits: Arc<AtomicUsize>,
}

/// A registry serving `packages` (and their tarballs, with their true integrity).
pub(crate) async fn given_registry(packages: Vec<TestPackage>) -> Registry {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let mut documents: HashMap<String, serde_json::Value> = HashMap::new();
    let mut tarballs = HashMap::new();
    for package in packages {
        let bytes = package.tarball();
        let file = format!("{}-{}.tgz", package.name.replace('/', "-"), package.version);
        let mut entry = serde_json::json!({
            "name": package.name,
            "version": package.version,
            "dist": {
                "tarball": format!("{url}/-/{file}"),
                "integrity": integrity(&bytes),
            },
        });
        if let serde_json::Value::Object(extra) = &package.registry_fields {
            for (k, v) in extra {
                entry[k] = v.clone();
            }
        }
        let doc = documents.entry(package.name.to_owned()).or_insert_with(
            || serde_json::json!({ "name": package.name, "dist-tags": {}, "versions": {} }),
        );
        doc["versions"][package.version] = entry;
        doc["dist-tags"]["latest"] = serde_json::json!(package.version);
        tarballs.insert(file, bytes);
    }
    let tarballs = Arc::new(Mutex::new(tarballs));
    let hits = Arc::new(AtomicUsize::new(0));
    let state = Served {
        documents: Arc::new(documents),
        tarballs: Arc::clone(&tarballs),
        hits: Arc::clone(&hits),
    };
    let router = Router::new()
        .route("/-/{file}", get(tarball))
        .route("/{name}", get(document))
        .with_state(state);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Registry {
        url,
        hits,
        tarballs,
    }
}

async fn document(State(state): State<Served>, Path(name): Path<String>) -> Response {
    state.hits.fetch_add(1, Ordering::SeqCst);
    let name = name.replace("%2f", "/").replace("%2F", "/");
    match state.documents.get(&name) {
        Some(doc) => axum::Json(doc.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, "{\"error\":\"Not found\"}").into_response(),
    }
}

async fn tarball(State(state): State<Served>, Path(file): Path<String>) -> Response {
    state.hits.fetch_add(1, Ordering::SeqCst);
    match base::sync::lock(&state.tarballs).get(&file) {
        Some(bytes) => bytes.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A loopback address nothing listens on.
pub(crate) async fn given_dead_registry() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}
