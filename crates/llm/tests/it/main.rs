//! Integration tests for the llm crate, against real HTTP servers: the crate's scripted
//! model (both wire formats, in process) and, where installed, npm's `@copilotkit/aimock`.

mod aimock;
mod config;
mod exchange;
mod history;
mod local_llm;
mod robustness;

use llm::scripted::ScriptedModel;
use llm::{
    Message, Model, Options, ProviderKind, Request, RetryPolicy, StreamEvent, ToolDefinition,
};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const KEY: &str = "sk-test-secret-0123456789abcdef";
pub const BOTH: [ProviderKind; 2] = [ProviderKind::OpenAi, ProviderKind::Anthropic];

/// A client for plain-HTTP endpoints: rustls on ring with no trust roots.
pub fn http() -> reqwest::Client {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .expect("client")
}

/// Retries fast enough for tests.
pub fn fast_options() -> Options {
    Options {
        retry: RetryPolicy {
            max_retries: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_secs(2),
        },
        stall_timeout: Duration::from_secs(5),
    }
}

pub async fn given_scripted() -> ScriptedModel {
    ScriptedModel::start_with_key(KEY)
        .await
        .expect("scripted model")
}

pub fn given_model(server: &ScriptedModel, provider: ProviderKind) -> Model {
    server
        .model(http(), provider, "test-model")
        .with_options(fast_options())
}

pub fn weather_tool() -> ToolDefinition {
    ToolDefinition {
        name: "get_weather".into(),
        description: "The weather in a city now.".into(),
        input_schema: json!({"type": "object", "properties": {"city": {"type": "string"}},
                             "required": ["city"]}),
    }
}

pub fn given_request(messages: Vec<Message>) -> Request {
    Request {
        system: Some("You are terse.".into()),
        messages,
        tools: vec![weather_tool()],
        max_tokens: Some(256),
        temperature: Some(0.0),
        ..Request::default()
    }
}

/// Every event of a stream, and the error that ended it, if any.
pub async fn drain(stream: &mut llm::ModelStream) -> (Vec<StreamEvent>, Option<llm::Error>) {
    let mut events = Vec::new();
    while let Some(event) = stream.next().await {
        match event {
            Ok(event) => events.push(event),
            Err(e) => return (events, Some(e)),
        }
    }
    (events, None)
}

/// Captures what `tracing` logs while the guard lives (on this thread: the tests run on a
/// current-thread runtime).
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("logs")).into_owned()
    }
}

#[derive(Clone)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("logs").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn given_logs() -> (Logs, tracing::subscriber::DefaultGuard) {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let sink = Sink(buffer.clone());
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    // Callsites another test's thread met first (with no subscriber there) may have cached
    // "never"; have every callsite ask again now that this thread has one.
    tracing::callsite::rebuild_interest_cache();
    (Logs(buffer), guard)
}

/// Compares with the golden file, or rewrites it under `BLESS=1`.
pub fn assert_golden(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/golden")
        .join(name);
    if std::env::var_os("BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, actual).expect("bless");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "{} differs (BLESS=1 rewrites it); actual:\n{actual}",
        path.display()
    );
}
