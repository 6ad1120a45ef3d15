//! The service: [`Memories`] over a data directory, handing out [`Profile`]s.

use crate::db::{Db, Filter, NewMemory};
use crate::llm::{self, Endpoint};
use crate::model::{
    IngestOptions, IngestReport, ListOptions, Memory, MemoryType, Message, Page, ProfileInfo,
    Progress, ProgressFn, Recall, RecallOptions, Recalled, RememberOptions, Remembered, Retriever,
    Session, Stage,
};
use crate::{Error, ProfileName, text};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

/// Reciprocal rank fusion's constant: damps the head so no single retriever dominates.
const RRF_K: f64 = 60.0;
/// Messages per LLM extraction request.
const EXTRACT_BATCH: usize = 40;
/// The largest memory `remember` accepts, in characters.
const MAX_REMEMBER_CHARS: usize = 100_000;

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
}

impl MemoryConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            env: store::Env::default(),
            llm: None,
            embeddings: None,
        }
    }

    pub fn env(mut self, env: store::Env) -> Self {
        self.env = env;
        self
    }

    pub fn llm(mut self, llm: Endpoint) -> Self {
        self.llm = Some(llm);
        self
    }

    pub fn embeddings(mut self, embeddings: Endpoint) -> Self {
        self.embeddings = Some(embeddings);
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

/// Locks, recovering from a poisoned lock: the data behind these locks stays consistent
/// because SQLite rolls back an unfinished transaction.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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
        let db = Arc::new(Mutex::new(Db::open(&self.path(name), name, create)?));
        open.insert(name.clone(), db.clone());
        Ok(db)
    }
}

impl Memories {
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
            let removed = lock(&inner.open).remove(&name);
            // Wait for operations in flight on it, then close it before unlinking.
            if let Some(db) = removed {
                drop(lock(&db));
                drop(db);
            }
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
    /// chunks at paragraph and sentence boundaries), keeping speaker, time and session.
    /// With one, the model extracts memories, validated before anything is stored. Each
    /// memory keeps the ids of its source messages; ids derive from content, so ingesting
    /// the same conversation again reports everything `unchanged`.
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
                    for (m, at) in &messages {
                        memories.extend(deterministic(&session.session_id, m, *at));
                    }
                }
                Some(llm) => {
                    for batch in messages.chunks(EXTRACT_BATCH) {
                        let extracted = llm::extract(llm, &session.session_id, batch).await?;
                        memories.extend(
                            extracted
                                .into_iter()
                                .map(|e| from_extracted(&session.session_id, batch, e)),
                        );
                        done += batch.len();
                        report_progress(Stage::Extracting, done, total_messages);
                    }
                }
            }
        }
        if memories.is_empty() {
            return Ok(report);
        }
        let vectors = self.embed_new(&memories, &report_progress).await?;
        let now = self.now_ms();
        let total = memories.len();
        let writer = progress.clone();
        let (added, unchanged) = self
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
        tracing::debug!(profile = %self.name, ?report, "ingested");
        Ok(report)
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
            let name = self.name.to_string();
            let existing = self
                .run(false, move |db| {
                    // Refuse before paying for vectors that could not be stored.
                    if let Some(stored) = db.meta("embeddings_model")?
                        && stored != model
                    {
                        return Err(Error::EmbeddingsModelMismatch {
                            profile: name,
                            stored,
                            configured: model,
                        });
                    }
                    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                    db.existing(&ids)
                })
                .await?;
            new.retain(|m| !existing.contains(&m.id));
        }
        let mut vectors = HashMap::with_capacity(new.len());
        for (i, batch) in new.chunks(256).enumerate() {
            let texts: Vec<&str> = batch.iter().map(|m| m.content.as_str()).collect();
            let embedded = llm::embed(endpoint, &texts).await?;
            for (m, v) in batch.iter().zip(embedded) {
                vectors.insert(m.id.clone(), v);
            }
            progress(
                Stage::Embedding,
                (i * 256 + batch.len()).min(new.len()),
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
        };
        let vectors = self
            .embed_new(std::slice::from_ref(&memory), &|_, _, _| {})
            .await?;
        let now = self.now_ms();
        self.run(true, move |db| {
            let vectors = vectors.as_ref().map(|(m, v)| (m.as_str(), v));
            let (added, _) = db.insert(std::slice::from_ref(&memory), vectors, now, &|_| {})?;
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

    /// Ranked memories for `query`: full-text (BM25 with stemming) always, vectors when an
    /// embeddings endpoint is configured, fused by reciprocal rank; superseded memories
    /// left out unless asked for; ties go to the newer memory.
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
        let words = text::query_words(query);
        if words.is_empty() {
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
                        let mut v = llm::embed(endpoint, &[query]).await?;
                        v.pop()
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
                    // No vectors yet: full-text search is all there is.
                    None => None,
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
        let results = self
            .run(false, move |db| {
                let depth = (limit * 5).max(50);
                let fts = db.fts(&words, &filter, depth)?;
                let vector: Vec<i64> = match &query_vector {
                    Some(q) => {
                        // Filters apply after the vector top-k; look deeper when filtering.
                        let filtered = !filter.types.is_empty()
                            || filter.session_id.is_some()
                            || filter.as_of.is_some();
                        let k = if filtered { depth * 10 } else { depth };
                        db.vectors()?
                            .search(q, k)
                            .into_iter()
                            .map(|(r, _)| r)
                            .collect()
                    }
                    None => Vec::new(),
                };
                let mut fused: BTreeMap<i64, (f64, Vec<Retriever>)> = BTreeMap::new();
                for (list, which) in [(&fts, Retriever::Fts), (&vector, Retriever::Vector)] {
                    for (rank, rowid) in list.iter().enumerate() {
                        let e = fused.entry(*rowid).or_default();
                        e.0 += 1.0 / (RRF_K + rank as f64 + 1.0);
                        e.1.push(which);
                    }
                }
                let ids: Vec<i64> = fused.keys().copied().collect();
                let mut rows = db.fetch(&ids, &filter)?;
                let mut ranked: Vec<(i64, f64, Vec<Retriever>, Memory)> = fused
                    .into_iter()
                    .filter_map(|(rowid, (score, by))| {
                        rows.remove(&rowid).map(|m| (rowid, score, by, m))
                    })
                    .collect();
                // Best score first; on equal scores the newer memory wins.
                ranked.sort_by(|a, b| {
                    b.1.total_cmp(&a.1)
                        .then(b.3.occurred_at.cmp(&a.3.occurred_at))
                        .then(b.0.cmp(&a.0))
                });
                // The same words said again in another session add nothing to an answer
                // but would crowd out what does: keep the best-ranked copy.
                let mut seen = std::collections::HashSet::new();
                ranked.retain(|r| seen.insert(r.3.content.trim().to_lowercase()));
                ranked.truncate(limit);
                Ok(ranked
                    .into_iter()
                    .map(|(_, score, matched_by, memory)| Recalled {
                        sources: memory.source_message_ids.clone(),
                        memory,
                        score: (score * 1e6).round() / 1e6,
                        matched_by,
                    })
                    .collect::<Vec<_>>())
            })
            .await?;
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

/// The deterministic extractor: the message itself, split when long.
fn deterministic(session_id: &str, m: &Message, at: i64) -> Vec<NewMemory> {
    let sources = vec![m.id.clone()];
    text::chunk(&m.text)
        .into_iter()
        .map(|content| NewMemory {
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
            occurred_at: at,
            source_message_ids: sources.clone(),
        })
        .collect()
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
    }
}
