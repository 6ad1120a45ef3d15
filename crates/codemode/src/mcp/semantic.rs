//! Optional semantic `search`: with an embeddings endpoint configured, every tool of a
//! catalog is embedded once per catalog version (in the background, when the version is
//! swapped in or on its first query; cached on disk keyed by a hash of the texts embedded
//! and the model), each query is embedded when asked, and the two rankings are fused
//! (`catalog::search::semantic`). Until the vectors are ready, or when the endpoint fails,
//! `search` answers lexically.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::catalog::Catalog;
use crate::catalog::search::semantic::{SEMANTIC_WEIGHT, Vectors, embedding_texts};
use crate::error::Error;

/// Vectors for texts, as an OpenAI-compatible `/v1/embeddings` endpoint gives them.
pub type EmbedFuture = Pin<Box<dyn Future<Output = Result<Vec<Vec<f32>>, String>> + Send>>;

/// An embeddings model: the host brings the client (memory's, in `islet`).
pub trait Embedder: Send + Sync {
    /// The model's name: vectors of different models are never mixed.
    fn model(&self) -> &str;
    /// One vector per text, in order; an error says why in words.
    fn embed(&self, texts: Vec<String>) -> EmbedFuture;
}

/// How a server searches semantically.
#[derive(Clone)]
pub struct SemanticSearch {
    /// The model tools and queries are embedded with.
    pub embedder: Arc<dyn Embedder>,
    /// Folder of cached tool vectors (one file per catalog and model); `None`: not cached.
    pub cache_dir: Option<PathBuf>,
    /// How long embedding a query may take before the search answers lexically.
    pub query_timeout: Duration,
    /// Weight of semantic similarity in the fused ranking (see
    /// `catalog::search::semantic`).
    pub weight: f32,
}

impl std::fmt::Debug for SemanticSearch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SemanticSearch")
            .field("model", &self.embedder.model())
            .field("cache_dir", &self.cache_dir)
            .field("query_timeout", &self.query_timeout)
            .field("weight", &self.weight)
            .finish()
    }
}

impl SemanticSearch {
    /// Semantic search with `embedder`, vectors cached in `cache_dir`, queries given 5 s,
    /// the default weight.
    pub fn new(embedder: Arc<dyn Embedder>, cache_dir: Option<PathBuf>) -> SemanticSearch {
        SemanticSearch {
            embedder,
            cache_dir,
            query_timeout: Duration::from_secs(5),
            weight: SEMANTIC_WEIGHT,
        }
    }
}

/// After a failed build, how long searches stay lexical before the next try.
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// One catalog's vectors: built once, in the background.
#[derive(Default)]
pub(crate) struct Slot {
    vectors: OnceLock<Arc<Vectors>>,
    /// A build is under way, or failed at this time.
    state: Mutex<BuildState>,
}

#[derive(Default)]
enum BuildState {
    #[default]
    Idle,
    Building,
    Failed(Instant),
}

impl Slot {
    /// The vectors, when built.
    pub(crate) fn get(&self) -> Option<Arc<Vectors>> {
        self.vectors.get().cloned()
    }

    /// Whether a build should start now (none under way, none failed recently); marks it
    /// started.
    pub(crate) fn claim(&self) -> bool {
        if self.vectors.get().is_some() {
            return false;
        }
        let mut state = base::sync::lock(&self.state);
        match *state {
            BuildState::Building => false,
            BuildState::Failed(at) if at.elapsed() < RETRY_AFTER => false,
            _ => {
                *state = BuildState::Building;
                true
            }
        }
    }

    /// Records the end of a build that [`claim`](Self::claim) started.
    pub(crate) fn finish(&self, built: Result<Vectors, Error>) -> Result<Arc<Vectors>, Error> {
        let mut state = base::sync::lock(&self.state);
        match built {
            Ok(vectors) => {
                *state = BuildState::Idle;
                let vectors = Arc::new(vectors);
                Ok(Arc::clone(self.vectors.get_or_init(|| vectors)))
            }
            Err(error) => {
                *state = BuildState::Failed(Instant::now());
                Err(error)
            }
        }
    }
}

/// The catalog's vectors: from the cache when it holds them, else from the endpoint (and
/// then cached).
pub async fn catalog_vectors(
    options: &SemanticSearch,
    catalog: &Catalog,
) -> Result<Vectors, Error> {
    let texts = embedding_texts(catalog);
    let file = options.cache_dir.as_ref().map(|dir| {
        dir.join(format!(
            "{}.vectors",
            texts_key(options.embedder.model(), &texts)
        ))
    });
    if let Some(file) = &file
        && let Ok(bytes) = std::fs::read(file)
    {
        if let Some(vectors) = Vectors::from_bytes(&bytes, texts.len()) {
            return Ok(vectors);
        }
        tracing::warn!(file = %file.display(), "ignoring an unreadable semantic search cache file");
    }
    let count = texts.len();
    let started = Instant::now();
    let vectors = options
        .embedder
        .embed(texts)
        .await
        .map_err(|reason| Error::Embeddings { reason })?;
    if vectors.len() != count {
        return Err(Error::Embeddings {
            reason: format!("asked for {count} vectors, got {}", vectors.len()),
        });
    }
    let vectors = Vectors::new(vectors).ok_or_else(|| Error::Embeddings {
        reason: "the vectors differ in length or some are zero".to_owned(),
    })?;
    tracing::info!(
        tools = count,
        dim = vectors.dim(),
        ms = started.elapsed().as_millis() as u64,
        "semantic search: tools embedded"
    );
    if let Some(file) = &file
        && let Err(e) = write_atomically(file, &vectors.to_bytes())
    {
        tracing::warn!(file = %file.display(), "cannot cache semantic search vectors: {e}");
    }
    Ok(vectors)
}

/// The query's vector; the error says in words why there is none (the endpoint failed or
/// took too long), for the caller to log.
pub(crate) async fn embed_query(options: &SemanticSearch, query: &str) -> Result<Vec<f32>, String> {
    let asked = options.embedder.embed(vec![query.to_owned()]);
    match tokio::time::timeout(options.query_timeout, asked).await {
        Ok(Ok(vectors)) => match <[Vec<f32>; 1]>::try_from(vectors) {
            Ok([vector]) => Ok(vector),
            Err(vectors) => Err(format!(
                "semantic search: the endpoint answered {} vectors for one query; lexical only",
                vectors.len()
            )),
        },
        Ok(Err(reason)) => Err(format!(
            "semantic search: embedding the query failed ({reason}); lexical only"
        )),
        Err(_) => Err(format!(
            "semantic search: embedding the query timed out after {} ms; lexical only",
            options.query_timeout.as_millis()
        )),
    }
}

/// What names a catalog's vectors: the hex SHA-256 of the model's name and every text
/// embedded. Two catalogs with the same key share their vectors (the cache file, and a
/// server's vectors across a catalog swap that changed nothing embedded).
pub(crate) fn catalog_key(options: &SemanticSearch, catalog: &Catalog) -> String {
    texts_key(options.embedder.model(), &embedding_texts(catalog))
}

fn texts_key(model: &str, texts: &[String]) -> String {
    let mut hash = Sha256::new();
    hash.update(model.as_bytes());
    for text in texts {
        hash.update([0u8]);
        hash.update(text.as_bytes());
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `bytes` to a temporary file beside `file`, then renames it into place, so a
/// reader never sees half a file.
fn write_atomically(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let temporary = file.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, file)
}
