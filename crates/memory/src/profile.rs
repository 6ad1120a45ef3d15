//! The service: [`Memories`] over a data directory, handing out [`Profile`]s.

use crate::db::{Db, Filter, NewMemory};
use crate::llm::{self, Endpoint};
use crate::model::{
    IngestOptions, IngestReport, ListOptions, Memory, MemoryType, Message, Page, ProfileInfo,
    Progress, ProgressFn, Recall, RecallOptions, RememberOptions, Remembered, Session, Stage,
};
use crate::rank::{self, Candidate, Ranking, VectorRange};
use crate::{Error, Placement, ProfileName, text};
use base::sync::lock;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Messages per LLM extraction request.
const EXTRACT_BATCH: usize = 40;
/// The largest memory `remember` accepts, in characters.
const MAX_REMEMBER_CHARS: usize = 100_000;
/// Texts per embeddings call of an ingest or backfill (the client sends them in smaller
/// requests); also how many backfilled vectors are stored per transaction.
const EMBED_CHUNK: usize = 256;
/// How many of the best full-text matches that ask something recall looks up the reply of.
const ANSWER_DEPTH: usize = 50;

/// How to build a [`Memories`] service.
#[derive(Debug, Clone)]
pub struct MemoryConfig {
    /// The data directory (`islet --data`, default `./.islet`); profiles live in
    /// `<data_dir>/memory/<namespace>/<profile>.sqlite`.
    pub data_dir: PathBuf,
    /// Clock (`created_at`, default times) and id source; inject fixed ones in tests.
    pub env: store::Env,
    /// Chat-completions endpoint for extraction on ingest and for recall answers.
    pub llm: Option<Endpoint>,
    /// Embeddings endpoint for vector recall.
    pub embeddings: Option<Endpoint>,
    /// How recall weighs its evidence (defaults suit conversations).
    pub ranking: Ranking,
    /// Cluster mode: which node serves each profile and where its durable copy lives
    /// (`None`: this process serves every profile from its own files).
    pub placement: Option<Arc<dyn Placement>>,
}

impl MemoryConfig {
    /// Profiles under `data_dir`, the system clock and random ids, no LLM, no embeddings (recall is then
    /// full-text only) and the default ranking.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            env: store::Env::default(),
            llm: None,
            embeddings: None,
            ranking: Ranking::default(),
            placement: None,
        }
    }

    /// With a placement (cluster mode): operations run where it says, and profiles'
    /// logs are shipped to it, so SQLite never checkpoints them on its own.
    pub fn placement(mut self, placement: Arc<dyn Placement>) -> Self {
        self.placement = Some(placement);
        self
    }

    /// With another clock and id source (tests use fixed ones for stable output).
    pub fn env(mut self, env: store::Env) -> Self {
        self.env = env;
        self
    }

    /// With an LLM: needed for ingest's extraction and for recall answers.
    pub fn llm(mut self, llm: Endpoint) -> Self {
        self.llm = Some(llm);
        self
    }

    /// With an embeddings endpoint: recall then also ranks by vector similarity.
    pub fn embeddings(mut self, embeddings: Endpoint) -> Self {
        self.embeddings = Some(embeddings);
        self
    }

    /// With other ranking weights (e.g. tuned by the evaluation).
    pub fn ranking(mut self, ranking: Ranking) -> Self {
        self.ranking = ranking;
        self
    }
}

/// Every memory profile of a data directory. Cheap to clone; share one per process (it
/// keeps each profile's database open once).
#[derive(Clone)]
pub struct Memories {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Memories {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memories")
            .field("dir", &self.inner.dir)
            .field("llm", &self.inner.config.llm)
            .field("embeddings", &self.inner.config.embeddings)
            .finish()
    }
}

struct Inner {
    config: MemoryConfig,
    /// `<data_dir>/memory`.
    dir: PathBuf,
    open: Mutex<HashMap<ProfileName, Arc<Mutex<Db>>>>,
}

impl Inner {
    fn path(&self, name: &ProfileName) -> PathBuf {
        self.dir
            .join(name.namespace())
            .join(format!("{}.sqlite", name.profile()))
    }

    /// The open database of `name`, opening (and with `create`, creating) it.
    fn db(&self, name: &ProfileName, create: bool) -> Result<Arc<Mutex<Db>>, Error> {
        let mut open = lock(&self.open);
        if let Some(db) = open.get(name) {
            return Ok(db.clone());
        }
        let replicated = self.config.placement.is_some();
        let db = Arc::new(Mutex::new(Db::open(
            &self.path(name),
            name,
            create,
            replicated,
        )?));
        open.insert(name.clone(), db.clone());
        Ok(db)
    }

    /// Closes `name`'s database if it is open, after the operation in flight on it.
    fn close(&self, name: &ProfileName) {
        let removed = lock(&self.open).remove(name);
        if let Some(db) = removed {
            drop(lock(&db));
        }
    }
}

impl Memories {
    /// The service over `config`. Opens nothing yet: each profile's database is opened on
    /// first use and then kept open.
    pub fn new(config: MemoryConfig) -> Self {
        let dir = config.data_dir.join("memory");
        Self {
            inner: Arc::new(Inner {
                config,
                dir,
                open: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// A handle on profile `name` (`namespace/profile`). Validates the name only: the
    /// profile is created by its first write; reads before that fail with `NOT_FOUND`.
    pub fn profile(&self, name: &str) -> Result<Profile, Error> {
        Ok(Profile {
            name: ProfileName::parse(name)?,
            inner: self.inner.clone(),
        })
    }

    /// The configuration it was built with (e.g. to tell whether embeddings are on).
    pub fn config(&self) -> &MemoryConfig {
        &self.inner.config
    }

    /// Every existing profile, sorted by name.
    pub async fn profiles(&self) -> Result<Vec<ProfileInfo>, Error> {
        let inner = self.inner.clone();
        blocking(move || {
            let mut names = Vec::new();
            let namespaces = match std::fs::read_dir(&inner.dir) {
                Ok(d) => d,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(Error::io(&inner.dir, &e)),
            };
            for ns in namespaces.flatten() {
                let Ok(files) = std::fs::read_dir(ns.path()) else {
                    continue;
                };
                for file in files.flatten() {
                    let file_name = file.file_name();
                    let Some(profile) = file_name.to_str().and_then(|f| f.strip_suffix(".sqlite"))
                    else {
                        continue;
                    };
                    let name = format!("{}/{profile}", ns.file_name().to_string_lossy());
                    if let Ok(name) = ProfileName::parse(&name) {
                        names.push((name, file.path()));
                    }
                }
            }
            names.sort();
            let mut out = Vec::with_capacity(names.len());
            for (name, path) in names {
                let db = inner.db(&name, false)?;
                let db = lock(&db);
                out.push(ProfileInfo {
                    name: name.to_string(),
                    memories: db.count()?,
                    bytes: std::fs::metadata(&path).map_or(0, |m| m.len()),
                    embeddings_model: db.meta("embeddings_model")?,
                });
            }
            Ok(out)
        })
        .await
    }

    /// Deletes a profile and all its memories. `false` when it did not exist.
    pub async fn delete_profile(&self, name: &str) -> Result<bool, Error> {
        let name = ProfileName::parse(name)?;
        let inner = self.inner.clone();
        blocking(move || {
            // Closed before unlinking, after the operation in flight.
            inner.close(&name);
            let path = inner.path(&name);
            let existed = path.exists();
            for suffix in ["", "-wal", "-shm"] {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                let p = PathBuf::from(p);
                match std::fs::remove_file(&p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(&p, &e)),
                }
            }
            if let Some(dir) = path.parent() {
                // Only succeeds when the namespace is now empty, which is the point.
                let _ = std::fs::remove_dir(dir);
            }
            if existed {
                tracing::info!(profile = %name, "deleted memory profile");
            }
            Ok(existed)
        })
        .await
    }
}

/// Runs blocking SQLite work off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(Error::Storage {
            profile: String::new(),
            what: "a storage task",
            message: e.to_string(),
        })
    })
}

/// One memory profile. Cheap to clone. Every operation is async; SQLite work runs on a
/// blocking thread, one operation at a time per profile.
#[derive(Clone)]
pub struct Profile {
    name: ProfileName,
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile").field("name", &self.name).finish()
    }
}

impl Profile {
    /// The profile's validated name.
    pub fn name(&self) -> &ProfileName {
        &self.name
    }

    /// The SQLite file of this profile (it exists once the profile has been written).
    pub fn path(&self) -> PathBuf {
        self.inner.path(&self.name)
    }

    /// Whether the profile has been created.
    pub fn exists(&self) -> bool {
        lock(&self.inner.open).contains_key(&self.name) || self.path().exists()
    }

    /// The placement its operations go through (cluster mode).
    pub fn placement(&self) -> Option<&Arc<dyn Placement>> {
        self.inner.config.placement.as_ref()
    }

    /// Closes the profile's database (after the operation in flight), so that its file
    /// can be replaced (a placement restoring it from its durable copy).
    pub async fn close(&self) {
        let inner = self.inner.clone();
        let name = self.name.clone();
        let _ = blocking(move || {
            inner.close(&name);
            Ok(())
        })
        .await;
    }

    /// Checkpoints the profile (its log copied into the file and emptied) and returns the
    /// file's bytes: a snapshot for a placement, which must have shipped the log first.
    /// `None` when the profile does not exist.
    pub async fn snapshot_image(&self) -> Result<Option<Vec<u8>>, Error> {
        let inner = self.inner.clone();
        let name = self.name.clone();
        blocking(move || {
            let path = inner.path(&name);
            if !path.exists() {
                return Ok(None);
            }
            let db = inner.db(&name, false)?;
            let db = lock(&db);
            db.checkpoint()?;
            std::fs::read(&path)
                .map(Some)
                .map_err(|e| Error::io(&path, &e))
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        create: bool,
        f: impl FnOnce(&mut Db) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let inner = self.inner.clone();
        let name = self.name.clone();
        blocking(move || {
            let db = inner.db(&name, create)?;
            let mut db = lock(&db);
            f(&mut db)
        })
        .await
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.inner.config.env.now_ms()
    }

    /// Ingests the messages of one session (`options.session_id` is required). See
    /// [`Profile::ingest_sessions`].
    pub async fn ingest(
        &self,
        messages: Vec<Message>,
        options: IngestOptions,
    ) -> Result<IngestReport, Error> {
        let session_id = options
            .session_id
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| {
                Error::invalid("ingest needs a session_id: the conversation the messages belong to")
            })?;
        let session = Session {
            session_id,
            occurred_at: options.occurred_at.unwrap_or_else(|| self.now_ms()),
            messages,
        };
        self.ingest_sessions(vec![session], options.progress).await
    }

    /// Turns conversations into memories and stores them in ONE transaction: on any error
    /// (a bad message, an LLM or embeddings failure, storage) nothing is written.
    ///
    /// Without an LLM, every message becomes an `event` memory (long ones split into
    /// chunks at paragraph and sentence boundaries), keeping speaker, time and session, and
    /// the text of its neighbours as matching context. With one, the model extracts
    /// memories, validated before anything is stored; a batch whose reply fails validation
    /// is stored by the deterministic extractor instead, with a warning in the report.
    /// Each memory keeps the ids of its source messages; ids derive from content, so
    /// ingesting the same conversation again reports everything `unchanged`.
    ///
    /// With embeddings configured, the new memories get vectors in the same transaction,
    /// and memories of the profile stored before embeddings were enabled get theirs
    /// afterwards (a backfill; if it fails, the report says so and the ingest stands).
    pub async fn ingest_sessions(
        &self,
        sessions: Vec<Session>,
        progress: Option<ProgressFn>,
    ) -> Result<IngestReport, Error> {
        validate_sessions(&sessions)?;
        let report_progress = |stage, done, total| {
            if let Some(p) = &progress {
                p(Progress { stage, done, total });
            }
        };
        let total_messages: usize = sessions.iter().map(|s| s.messages.len()).sum();
        let mut report = IngestReport {
            messages: total_messages,
            ..IngestReport::default()
        };
        let mut memories: Vec<NewMemory> = Vec::new();
        let mut done = 0;
        for session in &sessions {
            let messages: Vec<(&Message, i64)> = session
                .messages
                .iter()
                .filter(|m| !m.text.trim().is_empty())
                .map(|m| (m, m.occurred_at.unwrap_or(session.occurred_at)))
                .collect();
            report.skipped += session.messages.len() - messages.len();
            match &self.inner.config.llm {
                None => {
                    memories.extend(deterministic(
                        &session.session_id,
                        &messages,
                        0..messages.len(),
                    ));
                }
                Some(llm) => {
                    for (i, batch) in messages.chunks(EXTRACT_BATCH).enumerate() {
                        let start = i * EXTRACT_BATCH;
                        match llm::extract(llm, &session.session_id, batch).await {
                            Ok(extracted) => memories.extend(
                                extracted
                                    .into_iter()
                                    .map(|e| from_extracted(&session.session_id, batch, e)),
                            ),
                            Err(Error::LlmReply { reason }) => {
                                let warning = format!(
                                    "session `{}`, messages {}-{}: the LLM's reply is unusable \
                                     ({reason}); stored them as they were said instead",
                                    session.session_id,
                                    start + 1,
                                    start + batch.len()
                                );
                                tracing::warn!(profile = %self.name, "{warning}");
                                report.warnings.push(warning);
                                memories.extend(deterministic(
                                    &session.session_id,
                                    &messages,
                                    start..start + batch.len(),
                                ));
                            }
                            Err(e) => return Err(e),
                        }
                        done += batch.len();
                        report_progress(Stage::Extracting, done, total_messages);
                    }
                }
            }
        }
        if !memories.is_empty() {
            let vectors = self.embed_new(&memories, &report_progress).await?;
            let now = self.now_ms();
            let total = memories.len();
            let writer = progress.clone();
            let (added, unchanged, stored) = self
                .run(true, move |db| {
                    let tick = |done| {
                        if let Some(p) = &writer {
                            p(Progress {
                                stage: Stage::Writing,
                                done,
                                total,
                            });
                        }
                    };
                    let vectors = vectors.as_ref().map(|(m, v)| (m.as_str(), v));
                    db.insert(&memories, vectors, now, &tick)
                })
                .await?;
            report.added = added;
            report.unchanged = unchanged;
            report.vectors = stored;
        }
        if self.inner.config.embeddings.is_some() && self.exists() {
            match self.backfill(progress.clone()).await {
                Ok(n) => report.vectors += n,
                Err(e) => {
                    let warning = format!(
                        "the memories were stored, but computing vectors for older memories \
                         failed: {e}; run `islet memory backfill --profile {}` to retry",
                        self.name
                    );
                    tracing::warn!(profile = %self.name, "{warning}");
                    report.warnings.push(warning);
                }
            }
        }
        tracing::debug!(profile = %self.name, ?report, "ingested");
        Ok(report)
    }

    /// Computes vectors for the memories that have none (stored before embeddings were
    /// enabled), in batches of a few hundred, each stored in its own transaction, so an
    /// interrupted backfill keeps what it did. Returns how many it stored.
    pub async fn backfill(&self, progress: Option<ProgressFn>) -> Result<usize, Error> {
        let Some(endpoint) = self.inner.config.embeddings.clone() else {
            return Err(Error::NotConfigured {
                what: "an embeddings endpoint".into(),
                hint: "configure one (islet: --embeddings-url and --embeddings-model) to \
                       compute vectors"
                    .into(),
            });
        };
        let model = endpoint.model.clone();
        let total = self
            .run(false, move |db| {
                db.refuse_other_model(&model)?;
                db.count_without_vectors()
            })
            .await? as usize;
        let mut stored = 0;
        let mut done = 0;
        if total == 0 {
            return Ok(0);
        }
        let tick = |done| {
            if let Some(p) = &progress {
                p(Progress {
                    stage: Stage::Backfilling,
                    done,
                    total,
                });
            }
        };
        tick(0);
        let mut after = 0i64;
        loop {
            let batch = self
                .run(false, move |db| db.without_vectors(after, EMBED_CHUNK))
                .await?;
            let Some(last) = batch.last().map(|(rowid, _)| *rowid) else {
                break;
            };
            after = last;
            let texts: Vec<&str> = batch.iter().map(|(_, c)| c.as_str()).collect();
            let embedded = llm::embed(&endpoint, &texts).await?;
            let vectors: Vec<(i64, Vec<f32>)> = batch
                .iter()
                .map(|(rowid, _)| *rowid)
                .zip(embedded)
                .collect();
            let model = endpoint.model.clone();
            stored += self
                .run(false, move |db| db.store_vectors(&model, &vectors))
                .await?;
            done += batch.len();
            tick(done.min(total));
        }
        if stored > 0 {
            tracing::info!(profile = %self.name, vectors = stored, "backfilled vectors");
        }
        Ok(stored)
    }

    /// Vectors for the memories not stored yet, when an embeddings endpoint is configured.
    async fn embed_new(
        &self,
        memories: &[NewMemory],
        progress: &(dyn Fn(Stage, usize, usize) + Send + Sync),
    ) -> Result<Option<(String, HashMap<String, Vec<f32>>)>, Error> {
        let Some(endpoint) = &self.inner.config.embeddings else {
            return Ok(None);
        };
        let mut new: Vec<&NewMemory> = memories.iter().collect();
        if self.exists() {
            let ids: Vec<String> = memories.iter().map(|m| m.id.clone()).collect();
            let model = endpoint.model.clone();
            let existing = self
                .run(false, move |db| {
                    // Refuse before paying for vectors that could not be stored.
                    db.refuse_other_model(&model)?;
                    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                    db.existing(&ids)
                })
                .await?;
            new.retain(|m| !existing.contains(&m.id));
        }
        let mut vectors = HashMap::with_capacity(new.len());
        for (i, batch) in new.chunks(EMBED_CHUNK).enumerate() {
            let texts: Vec<String> = batch
                .iter()
                .map(|m| {
                    rank::embedding_text(
                        m.speaker.as_deref(),
                        &m.content,
                        m.vector_context.as_deref(),
                    )
                })
                .collect();
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            let embedded = llm::embed(endpoint, &texts).await?;
            for (m, v) in batch.iter().zip(embedded) {
                vectors.insert(m.id.clone(), v);
            }
            progress(
                Stage::Embedding,
                (i * EMBED_CHUNK + batch.len()).min(new.len()),
                new.len(),
            );
        }
        Ok(Some((endpoint.model.clone(), vectors)))
    }

    /// Stores one memory now. Defaults: type `fact`, occurred now. Storing the same memory
    /// again changes nothing (`added: false`), except that a superseded memory re-asserted
    /// becomes current again.
    pub async fn remember(
        &self,
        content: &str,
        options: RememberOptions,
    ) -> Result<Remembered, Error> {
        let content = content.trim();
        if content.is_empty() {
            return Err(Error::invalid(
                "the content to remember is blank; pass the text of the memory",
            ));
        }
        if content.chars().count() > MAX_REMEMBER_CHARS {
            return Err(Error::invalid(format!(
                "the content to remember is longer than {MAX_REMEMBER_CHARS} characters; \
                 ingest long text as messages instead (it is split into chunks)"
            )));
        }
        let kind = options.kind.unwrap_or(MemoryType::Fact);
        let subject = options.subject.as_deref().and_then(text::normalize_subject);
        let session_id = options.session_id.filter(|s| !s.trim().is_empty());
        let speaker = options.speaker.filter(|s| !s.trim().is_empty());
        let occurred_at = options.occurred_at.unwrap_or_else(|| self.now_ms());
        let id = text::memory_id(
            kind,
            content,
            subject.as_deref(),
            session_id.as_deref(),
            speaker.as_deref(),
            &[],
        );
        let memory = NewMemory {
            id: id.clone(),
            kind,
            content: content.to_owned(),
            subject,
            session_id,
            speaker,
            occurred_at,
            source_message_ids: Vec::new(),
            context: None,
            vector_context: None,
        };
        let vectors = self
            .embed_new(std::slice::from_ref(&memory), &|_, _, _| {})
            .await?;
        let now = self.now_ms();
        self.run(true, move |db| {
            let vectors = vectors.as_ref().map(|(m, v)| (m.as_str(), v));
            let (added, _, _) = db.insert(std::slice::from_ref(&memory), vectors, now, &|_| {})?;
            let mut stored = db.get(&id)?;
            if added == 0
                && let Some(m) = &stored
                && m.superseded_by.is_some()
                && occurred_at > m.occurred_at
            {
                db.reassert(&id, occurred_at)?;
                stored = db.get(&id)?;
            }
            let memory = stored.ok_or_else(|| Error::Storage {
                profile: db.name.to_string(),
                what: "remembering",
                message: "the memory vanished right after being stored".into(),
            })?;
            Ok(Remembered {
                memory,
                added: added == 1,
            })
        })
        .await
    }

    /// Ranked memories for `query`: full-text (BM25 with stemming over each memory and its
    /// neighbours' text) always, vectors when an embeddings endpoint is configured, fused
    /// into a 0–1 relevance (see [`Ranking`]); superseded memories left out unless asked
    /// for; ties go to the newer memory. An embeddings endpoint that fails degrades the
    /// recall to full text with a warning.
    pub async fn recall(&self, query: &str, options: RecallOptions) -> Result<Recall, Error> {
        let query = query.trim();
        if query.is_empty() {
            return Err(Error::invalid(
                "the recall query is blank; pass what to look for, e.g. \"where does alice work\"",
            ));
        }
        if !(1..=100).contains(&options.limit) {
            return Err(Error::invalid(format!(
                "limit {} is out of range; pass 1 to 100",
                options.limit
            )));
        }
        let analysed = rank::analyse(query);
        if analysed.words.is_empty() {
            return Err(Error::invalid(format!(
                "the recall query `{query}` has no words to search for; pass words"
            )));
        }
        let llm = match (options.answer, &self.inner.config.llm) {
            (false, _) => None,
            (true, Some(llm)) => Some(llm.clone()),
            (true, None) => {
                return Err(Error::NotConfigured {
                    what: "an LLM for answers".into(),
                    hint: "configure one (islet: --llm-url and --llm-model) or recall without \
                           asking for an answer"
                        .into(),
                });
            }
        };
        let mut warnings = Vec::new();
        let query_vector = match &self.inner.config.embeddings {
            None => None,
            Some(endpoint) => {
                let stored = self.run(false, |db| db.meta("embeddings_model")).await?;
                match stored {
                    Some(stored) if stored == endpoint.model => {
                        match llm::embed(endpoint, &[query]).await {
                            Ok(mut v) => v.pop(),
                            Err(e) => {
                                let warning = format!("{e}; recalled with full-text search only");
                                let warning = warning.replace("; nothing was written", "");
                                tracing::warn!(profile = %self.name, "{warning}");
                                warnings.push(warning);
                                None
                            }
                        }
                    }
                    Some(stored) => {
                        let warning = format!(
                            "profile `{}` holds vectors from embeddings model `{stored}`, not \
                             the configured `{}`; recalled with full-text search only",
                            self.name, endpoint.model
                        );
                        tracing::warn!("{warning}");
                        warnings.push(warning);
                        None
                    }
                    None => {
                        // No vectors yet: full-text search is all there is.
                        let warning = format!(
                            "profile `{}` has no vectors yet; run `islet memory backfill \
                             --profile {}` (or ingest with embeddings) to compute them; \
                             recalled with full-text search only",
                            self.name, self.name
                        );
                        warnings.push(warning);
                        None
                    }
                }
            }
        };
        let filter = Filter {
            types: options.types.clone(),
            session_id: options.session_id.clone(),
            as_of: options.as_of,
            include_superseded: options.include_superseded,
        };
        let limit = options.limit;
        let ranking = self.inner.config.ranking.clone();
        let name = self.name.clone();
        let (results, missing) = self
            .run(false, move |db| {
                let depth = (limit * 10).max(100);
                let stats = db.stats()?.clone();
                let mut search = db.fts(&analysed.words, &filter, depth, ranking.context_weight)?;
                if search.hits.is_empty() && analysed.all_words != analysed.words {
                    search = db.fts(&analysed.all_words, &filter, depth, ranking.context_weight)?;
                }
                let mut found: BTreeMap<i64, (f64, Option<f32>, bool)> = search
                    .hits
                    .iter()
                    .map(|&(rowid, score)| (rowid, (score, None, false)))
                    .collect();
                let mut range = None;
                let mut missing = 0;
                if let Some(q) = &query_vector {
                    // Filters apply after the vector top-k; look deeper when filtering.
                    let filtered = !filter.types.is_empty()
                        || filter.session_id.is_some()
                        || filter.as_of.is_some();
                    let k = if filtered { depth * 10 } else { depth };
                    let index = db.vectors()?;
                    missing = (stats.documents as usize).saturating_sub(index.rowids.len());
                    let top = index.search(q, k);
                    if let Some(last) = top.last() {
                        range = Some(VectorRange { floor: last.1 });
                    }
                    for (rowid, cosine) in top {
                        let e = found.entry(rowid).or_insert((0.0, None, false));
                        e.1 = Some(cosine);
                        e.2 = true;
                    }
                    for (rowid, e) in found.iter_mut() {
                        if e.1.is_none() {
                            e.1 = index.similarity(q, *rowid);
                        }
                    }
                }
                let ids: Vec<i64> = found.keys().copied().collect();
                let mut rows = db.fetch(&ids, &filter)?;
                // The replies to the best full-text matches that ask something: found
                // through the question they answer (see `Ranking::answer_weight`).
                let mut answers: HashMap<i64, String> = HashMap::new();
                if ranking.answer_weight > 0.0 {
                    let askers: Vec<i64> = search
                        .hits
                        .iter()
                        .map(|(rowid, _)| *rowid)
                        .filter(|r| rows.get(r).is_some_and(|m| rank::is_question(&m.content)))
                        .take(ANSWER_DEPTH)
                        .collect();
                    for asker in askers {
                        let memory = &rows[&asker];
                        let Some((reply, m)) = db.reply(asker, memory, &filter)? else {
                            continue;
                        };
                        answers.entry(reply).or_insert_with(|| memory.id.clone());
                        if let std::collections::btree_map::Entry::Vacant(e) = found.entry(reply) {
                            let cosine = match &query_vector {
                                Some(q) => db.vectors()?.similarity(q, reply),
                                None => None,
                            };
                            e.insert((0.0, cosine, false));
                            rows.insert(reply, m);
                        }
                    }
                }
                let candidates: Vec<Candidate> = found
                    .into_iter()
                    .filter_map(|(rowid, (fts, cosine, by_vector))| {
                        rows.remove(&rowid).map(|memory| Candidate {
                            memory,
                            fts,
                            cosine,
                            by_vector,
                            answers: answers.remove(&rowid),
                        })
                    })
                    .collect();
                let results = rank::rank(
                    &analysed,
                    &stats.speaker_words,
                    search.full_match,
                    range,
                    candidates,
                    &ranking,
                    limit,
                );
                tracing::trace!(profile = %name, results = results.len(), "recalled");
                Ok((results, missing))
            })
            .await?;
        if missing > 0 {
            warnings.push(format!(
                "{missing} {} of profile `{}` {} no vector (stored before embeddings were \
                 enabled) and {} found by full text only; `islet memory backfill --profile {}` \
                 computes them",
                plural(missing, "memory", "memories"),
                self.name,
                if missing == 1 { "has" } else { "have" },
                if missing == 1 { "is" } else { "are" },
                self.name
            ));
        }
        let answer = match llm {
            Some(llm) => {
                let memories: Vec<&Memory> = results.iter().map(|r| &r.memory).collect();
                Some(llm::answer(&llm, query, &memories).await?)
            }
            None => None,
        };
        Ok(Recall {
            results,
            answer,
            warnings,
        })
    }

    /// One page of memories, newest stored first.
    pub async fn list(&self, options: ListOptions) -> Result<Page, Error> {
        if !(1..=1000).contains(&options.limit) {
            return Err(Error::invalid(format!(
                "limit {} is out of range; pass 1 to 1000",
                options.limit
            )));
        }
        self.run(false, move |db| db.list(&options)).await
    }

    /// One memory by id; [`Error::NotFound`] when the profile holds none with this id.
    pub async fn get(&self, id: &str) -> Result<Memory, Error> {
        let id = id.to_owned();
        let profile = self.name.to_string();
        self.run(false, move |db| {
            db.get(&id)?.ok_or(Error::NotFound { profile, id })
        })
        .await
    }

    /// Deletes one memory: from the table, the full-text index and the vectors. If it was
    /// part of a supersession chain, the chain is re-linked (forgetting the newest fact
    /// makes the previous one current again).
    pub async fn forget(&self, id: &str) -> Result<(), Error> {
        let id = id.to_owned();
        let profile = self.name.to_string();
        self.run(false, move |db| match db.forget(&id)? {
            0 => Err(Error::NotFound { profile, id }),
            _ => Ok(()),
        })
        .await
    }

    /// Deletes every memory of a session; returns how many.
    pub async fn forget_session(&self, session_id: &str) -> Result<usize, Error> {
        let session_id = session_id.to_owned();
        self.run(false, move |db| db.forget_session(&session_id))
            .await
    }

    /// How many memories the profile holds.
    pub async fn count(&self) -> Result<u64, Error> {
        self.run(false, |db| db.count()).await
    }
}

/// Checks what the file parser checks, for sessions built in code.
fn validate_sessions(sessions: &[Session]) -> Result<(), Error> {
    let mut seen: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (i, s) in sessions.iter().enumerate() {
        if s.session_id.trim().is_empty() {
            return Err(Error::ingest(format!("[{i}].session_id"), "blank"));
        }
        let ids = seen.entry(s.session_id.as_str()).or_default();
        for (j, m) in s.messages.iter().enumerate() {
            let path = format!("[{i}].messages[{j}]");
            if m.id.trim().is_empty() {
                return Err(Error::ingest(format!("{path}.id"), "blank"));
            }
            if !ids.insert(m.id.as_str()) {
                return Err(Error::ingest(
                    format!("{path}.id"),
                    format!(
                        "`{}` is used by another message of session `{}`; message ids must be \
                         unique within a session",
                        m.id, s.session_id
                    ),
                ));
            }
            if m.speaker.trim().is_empty() {
                return Err(Error::ingest(format!("{path}.speaker"), "blank"));
            }
        }
    }
    Ok(())
}

/// `one` or `many` by `n`.
pub(crate) fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// The deterministic extractor for `messages[range]` of a session: each message itself,
/// split when long, with the text of up to [`text::CONTEXT_MESSAGES`] messages on each side as
/// its matching context (never as a source: the memory states only its own message), and of
/// the nearest [`text::VECTOR_CONTEXT_MESSAGES`] to embed with it.
fn deterministic(
    session_id: &str,
    messages: &[(&Message, i64)],
    range: std::ops::Range<usize>,
) -> Vec<NewMemory> {
    let mut out = Vec::new();
    for i in range {
        let Some((m, at)) = messages.get(i) else {
            continue;
        };
        let near = |reach| {
            let near = text::neighbour_context(messages.len(), i, reach, |j| &messages[j].0.text);
            (!near.is_empty()).then(|| near.join("\n"))
        };
        let context = near(text::CONTEXT_MESSAGES);
        let vector_context = near(text::VECTOR_CONTEXT_MESSAGES);
        let sources = vec![m.id.clone()];
        out.extend(text::chunk(&m.text).into_iter().map(|content| NewMemory {
            id: text::memory_id(
                MemoryType::Event,
                &content,
                None,
                Some(session_id),
                Some(&m.speaker),
                &sources,
            ),
            kind: MemoryType::Event,
            content,
            subject: None,
            session_id: Some(session_id.to_owned()),
            speaker: Some(m.speaker.clone()),
            occurred_at: *at,
            source_message_ids: sources.clone(),
            context: context.clone(),
            vector_context: vector_context.clone(),
        }));
    }
    out
}

/// A validated LLM extraction → a memory: its time is its latest source's; its speaker the
/// sources' common speaker, if they share one.
fn from_extracted(session_id: &str, batch: &[(&Message, i64)], e: llm::Extracted) -> NewMemory {
    let sources: Vec<&(&Message, i64)> = batch
        .iter()
        .filter(|(m, _)| e.source_message_ids.contains(&m.id))
        .collect();
    let occurred_at = sources.iter().map(|(_, at)| *at).max().unwrap_or_default();
    let speaker = sources
        .first()
        .map(|(m, _)| m.speaker.clone())
        .filter(|s| sources.iter().all(|(m, _)| &m.speaker == s));
    NewMemory {
        id: text::memory_id(
            e.kind,
            &e.content,
            e.subject.as_deref(),
            Some(session_id),
            speaker.as_deref(),
            &e.source_message_ids,
        ),
        kind: e.kind,
        content: e.content,
        subject: e.subject,
        session_id: Some(session_id.to_owned()),
        speaker,
        occurred_at,
        source_message_ids: e.source_message_ids,
        context: None,
        vector_context: None,
    }
}
