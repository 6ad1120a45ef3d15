//! `--embeddings-url`/`--embeddings-model` for Code Mode's `search`: semantic search fused
//! with the lexical ranking, through memory's OpenAI-compatible embeddings client. The same
//! flags on `islet mcp openapi`, `islet mcp proxy` and `islet bench search-quality`;
//! `islet serve` has them already (memory's) and adds `--search-cache` for `/mcp`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use codemode::mcp::{EmbedFuture, Embedder, SemanticSearch};

/// Flags of the optional semantic `search`.
#[derive(clap::Args, Clone, Debug)]
#[command(next_help_heading = "Semantic search")]
pub(crate) struct SemanticArgs {
    /// OpenAI-compatible embeddings endpoint (POST URL/v1/embeddings): `search` also ranks
    /// operations (a proxy's tools) by meaning, fused with the word-based ranking (answering by words alone
    /// until the vectors are ready, or while the endpoint fails).
    #[arg(long, value_name = "URL")]
    pub(crate) embeddings_url: Option<String>,
    /// The embeddings model's name (needed with --embeddings-url).
    #[arg(long, value_name = "MODEL")]
    pub(crate) embeddings_model: Option<String>,
    /// Environment variable holding the embeddings endpoint's API key.
    #[arg(long, value_name = "VAR", default_value = "OPENAI_API_KEY")]
    pub(crate) embeddings_key_env: String,
    /// Folder where the vectors of the operations (tools) are cached, one file per catalog and model
    /// (default: search-embeddings in the data directory, .islet).
    #[arg(long, value_name = "DIR")]
    pub(crate) search_cache: Option<PathBuf>,
}

impl SemanticArgs {
    /// The same embeddings endpoint as memory's flags (one set of flags on `islet serve`
    /// for memory and `/mcp` `search`).
    pub(crate) fn of_memory(
        endpoints: &crate::memory::Endpoints,
        search_cache: Option<PathBuf>,
    ) -> SemanticArgs {
        SemanticArgs {
            embeddings_url: endpoints.embeddings_url.clone(),
            embeddings_model: endpoints.embeddings_model.clone(),
            embeddings_key_env: endpoints.embeddings_key_env.clone(),
            search_cache,
        }
    }

    /// The semantic search these flags configure, its vectors cached in --search-cache or
    /// else in `data_dir`/search-embeddings; `None` without --embeddings-url.
    pub(crate) fn search(&self, data_dir: &Path) -> anyhow::Result<Option<SemanticSearch>> {
        let Some(endpoint) = crate::memory::embeddings_endpoint(
            &self.embeddings_url,
            &self.embeddings_model,
            &self.embeddings_key_env,
        )?
        else {
            return Ok(None);
        };
        let cache = self
            .search_cache
            .clone()
            .unwrap_or_else(|| data_dir.join("search-embeddings"));
        Ok(Some(SemanticSearch::new(
            Arc::new(MemoryEmbedder(endpoint)),
            Some(cache),
        )))
    }
}

/// Memory's embeddings client as Code Mode's [`Embedder`].
struct MemoryEmbedder(::memory::Endpoint);

impl Embedder for MemoryEmbedder {
    fn model(&self) -> &str {
        &self.0.model
    }

    fn embed(&self, texts: Vec<String>) -> EmbedFuture {
        let endpoint = self.0.clone();
        Box::pin(async move {
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            endpoint.embed(&texts).await.map_err(|e| e.to_string())
        })
    }
}
