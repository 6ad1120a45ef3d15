//! Integration tests for the memory crate. Deterministic: a fixed clock, content-derived
//! ids, and a real (mock) OpenAI-compatible HTTP server where an LLM or embeddings are
//! involved.

mod bindings;
mod conversation;
mod eval;
mod forget;
mod hybrid;
mod ingest;
mod llm;
mod profiles;
mod recall;

use memory::mock::MockOpenAi;
use memory::{Endpoint, Memories, MemoryConfig, Message, Session};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// 2025-01-01T00:00:00Z.
pub const NOW: i64 = 1_735_689_600_000;
pub const DAY: i64 = 86_400_000;
pub const KEY: &str = "sk-test-0123456789";

/// A scratch directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn given_temp_dir() -> TempDir {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "islet-memory-it-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    TempDir(dir)
}

/// A data directory and the service over it, with a clock fixed at [`NOW`].
pub struct Given {
    pub dir: TempDir,
    pub clock: Arc<store::ManualClock>,
    pub memories: Memories,
}

impl Given {
    /// Another service over the same data directory (e.g. with other endpoints).
    pub fn reopen(&self, llm: Option<Endpoint>, embeddings: Option<Endpoint>) -> Memories {
        Memories::new(config(self.dir.path(), self.clock.clone(), llm, embeddings))
    }

    /// Another service over the same data directory that ranks with `ranking`.
    pub fn reopen_ranking(&self, ranking: memory::Ranking) -> Memories {
        Memories::new(MemoryConfig {
            ranking,
            ..config(self.dir.path(), self.clock.clone(), None, None)
        })
    }
}

fn config(
    dir: &Path,
    clock: Arc<store::ManualClock>,
    llm: Option<Endpoint>,
    embeddings: Option<Endpoint>,
) -> MemoryConfig {
    MemoryConfig {
        data_dir: dir.to_owned(),
        env: store::Env {
            clock,
            ids: Arc::new(store::SequentialIds::new("t")),
        },
        llm,
        embeddings,
        ranking: memory::Ranking::default(),
        placement: None,
    }
}

pub fn given_memories() -> Given {
    given_memories_with(None, None)
}

pub fn given_memories_with(llm: Option<Endpoint>, embeddings: Option<Endpoint>) -> Given {
    let dir = given_temp_dir();
    let clock = Arc::new(store::ManualClock::new(NOW));
    let memories = Memories::new(config(dir.path(), clock.clone(), llm, embeddings));
    Given {
        dir,
        clock,
        memories,
    }
}

pub async fn given_mock() -> MockOpenAi {
    MockOpenAi::start(KEY).await.expect("mock server starts")
}

/// A client for plain-HTTP endpoints: rustls on ring with no trust roots.
pub fn given_http_client() -> reqwest::Client {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .expect("HTTP client")
}

pub fn given_endpoint(mock: &MockOpenAi, model: &str) -> Endpoint {
    Endpoint::new(given_http_client(), mock.url(), model).api_key(Some(KEY.to_owned()))
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The long multi-session conversation of `tests/fixtures/conversation.json`.
pub fn given_conversation() -> Vec<Session> {
    let bytes = std::fs::read(fixture("conversation.json")).expect("fixture");
    memory::parse_ingest_file(&bytes).expect("the fixture parses")
}

pub fn message(id: &str, speaker: &str, text: &str) -> Message {
    Message {
        id: id.into(),
        speaker: speaker.into(),
        text: text.into(),
        occurred_at: None,
    }
}

pub fn session(id: &str, day: i64, messages: Vec<Message>) -> Session {
    Session {
        session_id: id.into(),
        occurred_at: NOW + day * DAY,
        messages,
    }
}
