//! One profile's SQLite database: the memories table, its FTS5 indexes and its vectors,
//! kept in step by triggers so a deletion can never leave an index entry behind (new rows
//! are indexed by `Db::insert`, see [`TRIGGERS`]).
//!
//! Everything here is synchronous; `Profile` runs it on a blocking thread.

use crate::model::{ListOptions, Memory, MemoryType, Page};
use crate::{Error, ProfileName};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params, params_from_iter};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

const SCHEMA_VERSION: i64 = 3;

const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE memories (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    content TEXT NOT NULL,
    subject TEXT,
    session_id TEXT,
    speaker TEXT,
    occurred_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    source_message_ids TEXT NOT NULL,
    superseded_by TEXT,
    -- occurred_at of the superseding memory: what `as_of` compares against.
    superseded_at INTEGER,
    -- Text of the neighbouring messages, searched (at a lower weight) but never returned:
    -- a short reply (\"yes, twice\") is found through the question it answers.
    context TEXT
) STRICT;
CREATE INDEX memories_session ON memories(session_id);
CREATE INDEX memories_subject ON memories(subject, occurred_at) WHERE subject IS NOT NULL;
CREATE TABLE vectors (
    memory_rowid INTEGER PRIMARY KEY,
    vector BLOB NOT NULL
) STRICT;
";

/// The full-text index, created with the schema and re-created by the migration from
/// version 1 (which had no `context`).
///
/// External content (the text lives once, in `memories`), so that deleting a row can tell
/// the index which terms to remove; with secure-delete they are removed at once, not at a
/// later segment merge. `speakers` lets recall tell a name in a question from other words.
const SEARCH_SCHEMA: &str = "
CREATE VIRTUAL TABLE memories_fts USING fts5(
    content, speaker, context, content = 'memories', content_rowid = 'rowid',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT INTO memories_fts(memories_fts, rank) VALUES ('secure-delete', 1);
CREATE TABLE speakers (name TEXT PRIMARY KEY) STRICT;
";

/// The memories' own text (content and speaker) indexed apart (version 3), searched when a
/// question's words are common in a large profile: in `memories_fts` every memory also
/// holds its four neighbours' words, so a word's position list there is about five times
/// longer, and FTS5 reads all of it (to match, and again to count the word's documents
/// for BM25) even when the search is restricted to the content column.
const OWN_SCHEMA: &str = "
CREATE VIRTUAL TABLE memories_own_fts USING fts5(
    content, speaker, content = 'memories', content_rowid = 'rowid',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT INTO memories_own_fts(memories_own_fts, rank) VALUES ('secure-delete', 1);
";

/// What keeps both indexes in step with `memories` on update and delete. Only the context
/// is ever updated (a neighbour forgotten): the own-text index does not hold it.
///
/// New rows are indexed by `Db::insert`, all of a transaction's at once with
/// [`INDEX_NEW`], not by an insert trigger: FTS5 flushes its pending terms to disk at every
/// statement savepoint, so indexing row by row from a trigger wrote (and merged) one tiny
/// segment per memory and per index, which halved ingest throughput once there were two.
const TRIGGERS: &str = "
CREATE TRIGGER memories_ai AFTER INSERT ON memories BEGIN
    INSERT OR IGNORE INTO speakers(name) SELECT new.speaker WHERE new.speaker IS NOT NULL;
END;
CREATE TRIGGER memories_au AFTER UPDATE OF context ON memories BEGIN
    INSERT INTO memories_fts(memories_fts, rowid, content, speaker, context)
        VALUES ('delete', old.rowid, old.content, old.speaker, old.context);
    INSERT INTO memories_fts(rowid, content, speaker, context)
        VALUES (new.rowid, new.content, new.speaker, new.context);
END;
CREATE TRIGGER memories_ad AFTER DELETE ON memories BEGIN
    INSERT INTO memories_fts(memories_fts, rowid, content, speaker, context)
        VALUES ('delete', old.rowid, old.content, old.speaker, old.context);
    INSERT INTO memories_own_fts(memories_own_fts, rowid, content, speaker)
        VALUES ('delete', old.rowid, old.content, old.speaker);
    DELETE FROM vectors WHERE memory_rowid = old.rowid;
END;
";

/// Indexes the rows stored after rowid `?1` (those of the current transaction: rowids only
/// grow, and the transaction holds the write lock).
const INDEX_NEW: [&str; 2] = [
    "INSERT INTO memories_fts(rowid, content, speaker, context) \
     SELECT rowid, content, speaker, context FROM memories WHERE rowid > ?1",
    "INSERT INTO memories_own_fts(rowid, content, speaker) \
     SELECT rowid, content, speaker FROM memories WHERE rowid > ?1",
];

/// Version 1 → 3: the `context` column, and the indexes over it (then [`SEARCH_SCHEMA`],
/// [`OWN_SCHEMA`], [`TRIGGERS`] and [`MIGRATE_1_FILL`]).
const MIGRATE_1: &str = "
ALTER TABLE memories ADD COLUMN context TEXT;
DROP TRIGGER memories_ai;
DROP TRIGGER memories_ad;
DROP TABLE memories_fts;
";

/// After [`MIGRATE_1`] and the schemas: index what is there.
const MIGRATE_1_FILL: &str = "
INSERT INTO memories_fts(memories_fts) VALUES ('rebuild');
INSERT INTO memories_own_fts(memories_own_fts) VALUES ('rebuild');
INSERT OR IGNORE INTO speakers(name) SELECT DISTINCT speaker FROM memories
    WHERE speaker IS NOT NULL;
";

/// Version 2 → 3: the own-text index, filled from what is there, and the triggers that
/// keep it in step (then [`OWN_SCHEMA`], [`TRIGGERS`] and [`MIGRATE_2_FILL`]).
const MIGRATE_2: &str = "
DROP TRIGGER memories_ai;
DROP TRIGGER memories_au;
DROP TRIGGER memories_ad;
";

const MIGRATE_2_FILL: &str = "
INSERT INTO memories_own_fts(memories_own_fts) VALUES ('rebuild');
";

/// Per-connection scratch tables: the indexes' vocabularies (document frequencies), and a
/// table with the index's tokenizer to learn how it stems a question's words.
const TEMP_SCHEMA: &str = "
CREATE VIRTUAL TABLE temp.memories_vocab USING fts5vocab(main, memories_fts, 'row');
CREATE VIRTUAL TABLE temp.memories_own_vocab USING fts5vocab(main, memories_own_fts, 'row');
CREATE VIRTUAL TABLE temp.query_words USING fts5(
    w, tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE temp.query_terms USING fts5vocab(temp, query_words, 'instance');
";

/// How many matching documents a search may rank before common words are left out of it
/// (see `Db::plan`).
const RANK_BUDGET: i64 = 5_000;

/// Which words a search uses.
enum Plan<'w> {
    /// All of them, OR-ed.
    All,
    /// The rarest ones, OR-ed.
    Rarest(Vec<&'w String>),
    /// All of them AND-ed (every word is common), then the rarest alone.
    Every(&'w String),
}

/// Chooses which of the question's words to search for, given how many memories hold each
/// (`df`). BM25 costs a little for every matching document, and OR-ing a word that occurs
/// in half of 100,000 memories means ranking 50,000 of them; such a word also weighs least
/// in BM25 (low IDF). So while the matches would exceed [`RANK_BUDGET`], the most common
/// words are left out.
fn plan<'w>(words: &'w [String], df: &[i64]) -> Plan<'w> {
    if words.len() < 2 || df.iter().sum::<i64>() <= RANK_BUDGET {
        return Plan::All;
    }
    let mut by_rarity: Vec<(i64, &String)> = df.iter().copied().zip(words).collect();
    by_rarity.sort_by_key(|(n, _)| *n);
    if by_rarity[0].0 > RANK_BUDGET {
        return Plan::Every(by_rarity[0].1);
    }
    let mut kept = Vec::new();
    let mut sum = 0;
    for (n, w) in by_rarity {
        if sum + n > RANK_BUDGET {
            break;
        }
        sum += n;
        kept.push(w);
    }
    tracing::debug!(?kept, "left common words out of the search");
    Plan::Rarest(kept)
}

/// Which full-text index a search reads.
#[derive(Debug, Clone, Copy)]
enum Index {
    /// `memories_fts`: content, speaker and the neighbouring messages' text, the latter
    /// weighted `context` relative to the content.
    All { context: f64 },
    /// `memories_own_fts`: content and speaker only.
    Own,
}

impl Index {
    fn table(self) -> &'static str {
        match self {
            Index::All { .. } => "memories_fts",
            Index::Own => "memories_own_fts",
        }
    }

    /// The ranking expression. The speaker column weighs little: a name in a question is
    /// handled by recall (it favours that speaker's memories).
    fn bm25(self) -> String {
        match self {
            Index::All { context } => format!("bm25(memories_fts, 1.0, 0.1, {context:?})"),
            Index::Own => "bm25(memories_own_fts, 1.0, 0.1)".to_owned(),
        }
    }
}

/// What a full-text search found.
#[derive(Debug, Clone, Default)]
pub(crate) struct Search {
    /// `(rowid, BM25 score)`, best first; scores are positive.
    pub hits: Vec<(i64, f64)>,
    /// The score of a memory of average length holding each searched word once: the sum of
    /// the words' IDFs. Scores divided by it read as 0–1 relevance.
    pub full_match: f64,
}

const COLUMNS: &str = "m.rowid, m.id, m.type, m.content, m.subject, m.session_id, m.speaker, \
                       m.occurred_at, m.created_at, m.source_message_ids, m.superseded_by";

/// A memory ready to be stored (its id already derived).
#[derive(Debug, Clone)]
pub(crate) struct NewMemory {
    pub id: String,
    pub kind: MemoryType,
    pub content: String,
    pub subject: Option<String>,
    pub session_id: Option<String>,
    pub speaker: Option<String>,
    pub occurred_at: i64,
    pub source_message_ids: Vec<String>,
    /// Neighbouring messages' text: searched, never returned (not part of the id).
    pub context: Option<String>,
    /// The nearest neighbours' text, embedded with the memory (see
    /// [`crate::text::VECTOR_CONTEXT_MESSAGES`]); not stored.
    pub vector_context: Option<String>,
}

/// Which memories a recall may return.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    pub types: Vec<MemoryType>,
    pub session_id: Option<String>,
    pub as_of: Option<i64>,
    pub include_superseded: bool,
}

impl Filter {
    fn sql(&self, params: &mut Vec<rusqlite::types::Value>) -> String {
        use rusqlite::types::Value as V;
        let mut sql = String::new();
        if !self.types.is_empty() {
            let marks = vec!["?"; self.types.len()].join(",");
            sql.push_str(&format!(" AND m.type IN ({marks})"));
            params.extend(self.types.iter().map(|t| V::Text(t.as_str().into())));
        }
        if let Some(s) = &self.session_id {
            sql.push_str(" AND m.session_id = ?");
            params.push(V::Text(s.clone()));
        }
        match (self.as_of, self.include_superseded) {
            (Some(t), false) => {
                sql.push_str(
                    " AND m.occurred_at <= ? AND (m.superseded_at IS NULL OR m.superseded_at > ?)",
                );
                params.extend([V::Integer(t), V::Integer(t)]);
            }
            (Some(t), true) => {
                sql.push_str(" AND m.occurred_at <= ?");
                params.push(V::Integer(t));
            }
            (None, false) => sql.push_str(" AND m.superseded_by IS NULL"),
            (None, true) => {}
        }
        sql
    }
}

/// Vectors of a profile held in memory for brute-force search (normalised, row-major).
#[derive(Debug, Default)]
pub(crate) struct VectorIndex {
    pub model: String,
    pub dim: usize,
    pub rowids: Vec<i64>,
    pub data: Vec<f32>,
}

impl VectorIndex {
    /// The cosine of `rowid`'s vector with a normalised `query` (rowids are kept sorted).
    pub(crate) fn similarity(&self, query: &[f32], rowid: i64) -> Option<f32> {
        if self.dim == 0 || query.len() != self.dim {
            return None;
        }
        let i = self.rowids.binary_search(&rowid).ok()?;
        let v = &self.data[i * self.dim..(i + 1) * self.dim];
        Some(v.iter().zip(query).map(|(a, b)| a * b).sum())
    }

    /// The `k` most similar rows to a normalised `query`: `(rowid, cosine)`, best first.
    pub(crate) fn search(&self, query: &[f32], k: usize) -> Vec<(i64, f32)> {
        if self.dim == 0 || query.len() != self.dim {
            return Vec::new();
        }
        let mut scored: Vec<(f32, usize)> = self
            .data
            .chunks_exact(self.dim)
            .enumerate()
            .map(|(i, v)| (v.iter().zip(query).map(|(a, b)| a * b).sum(), i))
            .collect();
        let k = k.min(scored.len());
        if k == 0 {
            return Vec::new();
        }
        let by_score = |a: &(f32, usize), b: &(f32, usize)| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1));
        scored.select_nth_unstable_by(k - 1, by_score);
        scored.truncate(k);
        scored.sort_by(by_score);
        scored
            .into_iter()
            .map(|(s, i)| (self.rowids[i], s))
            .collect()
    }
}

/// An open profile database.
pub(crate) struct Db {
    conn: Connection,
    pub name: ProfileName,
    /// Loaded on first vector recall; extended by this connection's writes; reloaded when
    /// another connection has committed (`PRAGMA data_version` moved).
    vectors: Option<VectorIndex>,
    /// What recall needs of the whole profile, dropped with `vectors`.
    stats: Option<Stats>,
    /// How many memories hold each term (anywhere; in their own text once asked), cached
    /// with `stats`: counting reads a term's whole position list, which in a large profile
    /// costs more than the search itself.
    frequencies: HashMap<String, (i64, Option<i64>)>,
    data_version: i64,
    /// Cluster mode: the WAL's frames are shipped after each operation, so SQLite never
    /// checkpoints on its own (it would restart the log before its frames were read).
    replicated: bool,
}

/// Profile-wide figures recall needs, cached between writes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stats {
    /// Rows in the full-text index: BM25's N.
    pub documents: i64,
    /// The lowercase words of every speaker's name, so that a question naming one can be told.
    pub speaker_words: BTreeSet<String>,
}

impl Db {
    /// Opens (creating when `create`) the profile's database at `path`; `replicated`: its
    /// WAL is shipped (cluster mode), so no checkpoint runs unless asked for.
    pub(crate) fn open(
        path: &Path,
        name: &ProfileName,
        create: bool,
        replicated: bool,
    ) -> Result<Self, Error> {
        if !create && !path.exists() {
            return Err(Error::ProfileNotFound {
                profile: name.to_string(),
            });
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, &e))?;
        }
        let storage = |what: &'static str| {
            let profile = name.to_string();
            move |e: rusqlite::Error| Error::Storage {
                profile,
                what,
                message: e.to_string(),
            }
        };
        let conn = Connection::open(path).map_err(storage("opening the database"))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(storage("configuring"))?;
        // WAL: readers never block the writer. FULL: an acknowledged write survives power
        // loss, not only a crash; ingest is one transaction per call, so one sync per call.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(storage("configuring"))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(storage("configuring"))?;
        // Deleted rows are overwritten with zeros: forgotten means gone from the file too.
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(storage("configuring"))?;
        if replicated {
            conn.pragma_update(None, "wal_autocheckpoint", 0)
                .map_err(storage("configuring"))?;
        }
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(storage("reading the schema version"))?;
        if version == 0 {
            apply_schema(
                &conn,
                &format!("{SCHEMA} {SEARCH_SCHEMA} {OWN_SCHEMA} {TRIGGERS}"),
            )
            .map_err(storage("creating the schema"))?;
            tracing::debug!(profile = %name, path = %path.display(), "created memory profile");
        } else if version == 1 {
            apply_schema(
                &conn,
                &format!("{MIGRATE_1} {SEARCH_SCHEMA} {OWN_SCHEMA} {TRIGGERS} {MIGRATE_1_FILL}"),
            )
            .map_err(storage("upgrading the schema to version 3"))?;
            tracing::info!(profile = %name, "upgraded memory profile to schema version 3");
        } else if version == 2 {
            apply_schema(
                &conn,
                &format!("{MIGRATE_2} {OWN_SCHEMA} {TRIGGERS} {MIGRATE_2_FILL}"),
            )
            .map_err(storage("upgrading the schema to version 3"))?;
            tracing::info!(profile = %name, "upgraded memory profile to schema version 3");
        } else if version != SCHEMA_VERSION {
            return Err(Error::Storage {
                profile: name.to_string(),
                what: "opening the database",
                message: format!(
                    "schema version {version} is not {SCHEMA_VERSION}; this islet is too old \
                     for it"
                ),
            });
        }
        conn.execute_batch(TEMP_SCHEMA)
            .map_err(storage("preparing search"))?;
        let mut db = Self {
            conn,
            name: name.clone(),
            vectors: None,
            stats: None,
            frequencies: HashMap::new(),
            data_version: 0,
            replicated,
        };
        db.data_version = db.data_version()?;
        Ok(db)
    }

    /// Copies the WAL into the database file and empties the log.
    pub(crate) fn checkpoint(&self) -> Result<(), Error> {
        let busy: i64 = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .map_err(self.err("checkpointing"))?;
        if busy != 0 {
            return Err(Error::Storage {
                profile: self.name.to_string(),
                what: "checkpointing",
                message: "another connection is reading the profile; try again".into(),
            });
        }
        Ok(())
    }

    fn err(&self, what: &'static str) -> impl Fn(rusqlite::Error) -> Error + '_ {
        move |e| Error::Storage {
            profile: self.name.to_string(),
            what,
            message: e.to_string(),
        }
    }

    fn data_version(&self) -> Result<i64, Error> {
        self.conn
            .pragma_query_value(None, "data_version", |r| r.get(0))
            .map_err(self.err("reading the data version"))
    }

    pub(crate) fn meta(&self, key: &str) -> Result<Option<String>, Error> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?", [key], |r| r.get(0))
            .optional()
            .map_err(self.err("reading metadata"))
    }

    /// Refuses `model` when the profile's vectors came from another embeddings model.
    pub(crate) fn refuse_other_model(&self, model: &str) -> Result<(), Error> {
        match self.meta("embeddings_model")? {
            Some(stored) if stored != model => Err(Error::EmbeddingsModelMismatch {
                profile: self.name.to_string(),
                stored,
                configured: model.to_owned(),
            }),
            _ => Ok(()),
        }
    }

    pub(crate) fn count(&self) -> Result<u64, Error> {
        self.conn
            .query_row("SELECT count(*) FROM memories", [], |r| r.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
            .map_err(self.err("counting memories"))
    }

    /// Which of `ids` are already stored.
    pub(crate) fn existing(&self, ids: &[&str]) -> Result<BTreeSet<String>, Error> {
        let mut found = BTreeSet::new();
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM memories WHERE id = ?")
            .map_err(self.err("looking up ids"))?;
        for id in ids {
            if stmt.exists([id]).map_err(self.err("looking up ids"))? {
                found.insert((*id).to_owned());
            }
        }
        Ok(found)
    }

    /// Stores `memories` (and their vectors, normalised, when given) in one transaction.
    /// Returns `(added, unchanged, vectors stored)`. `progress(done)` is called every few
    /// hundred rows.
    pub(crate) fn insert(
        &mut self,
        memories: &[NewMemory],
        vectors: Option<(&str, &HashMap<String, Vec<f32>>)>,
        now: i64,
        progress: &dyn Fn(usize),
    ) -> Result<(usize, usize, usize), Error> {
        let name = self.name.to_string();
        let storage = |what: &'static str| {
            let profile = name.clone();
            move |e: rusqlite::Error| Error::Storage {
                profile,
                what,
                message: e.to_string(),
            }
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(storage("starting a transaction"))?;
        if let Some((model, _)) = vectors {
            check_model(&tx, &name, model)?;
        }
        let last_rowid: i64 = tx
            .query_row("SELECT coalesce(max(rowid), 0) FROM memories", [], |r| {
                r.get(0)
            })
            .map_err(storage("storing memories"))?;
        let (mut added, mut unchanged) = (0, 0);
        let mut subjects = BTreeSet::new();
        let mut new_vectors: Vec<(i64, Vec<f32>)> = Vec::new();
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO memories (id, type, content, subject, session_id, speaker, \
                     occurred_at, created_at, source_message_ids, context) \
                     VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING",
                )
                .map_err(storage("storing memories"))?;
            let mut insert_vector = tx
                .prepare_cached("INSERT INTO vectors (memory_rowid, vector) VALUES (?, ?)")
                .map_err(storage("storing vectors"))?;
            for (i, m) in memories.iter().enumerate() {
                let sources = serde_json::to_string(&m.source_message_ids).unwrap_or_default();
                let n = insert
                    .execute(params![
                        m.id,
                        m.kind.as_str(),
                        m.content,
                        m.subject,
                        m.session_id,
                        m.speaker,
                        m.occurred_at,
                        now,
                        sources,
                        m.context
                    ])
                    .map_err(storage("storing memories"))?;
                if n == 0 {
                    unchanged += 1;
                    continue;
                }
                added += 1;
                let rowid = tx.last_insert_rowid();
                if let Some(s) = &m.subject {
                    subjects.insert(s.clone());
                }
                if let Some(v) = vectors.and_then(|(_, vs)| vs.get(&m.id)) {
                    insert_vector
                        .execute(params![rowid, f32_bytes(v)])
                        .map_err(storage("storing vectors"))?;
                    new_vectors.push((rowid, v.clone()));
                }
                if (i + 1) % 500 == 0 {
                    progress(i + 1);
                }
            }
        }
        if added > 0 {
            for sql in INDEX_NEW {
                tx.execute(sql, [last_rowid])
                    .map_err(storage("indexing memories"))?;
            }
        }
        for subject in &subjects {
            resupersede(&tx, subject).map_err(storage("updating supersession"))?;
        }
        tx.commit().map_err(storage("committing"))?;
        progress(memories.len());
        self.data_version = self.data_version()?;
        self.stats = None;
        self.frequencies.clear();
        let stored = new_vectors.len();
        self.extend_vectors(vectors.map(|(m, _)| m), new_vectors);
        Ok((added, unchanged, stored))
    }

    /// Adds this connection's new vectors to the loaded index (if loaded).
    fn extend_vectors(&mut self, model: Option<&str>, new_vectors: Vec<(i64, Vec<f32>)>) {
        if let (Some(index), Some(model)) = (&mut self.vectors, model) {
            if index.model == model {
                for (rowid, v) in new_vectors {
                    if index.dim == 0 {
                        index.dim = v.len();
                    }
                    if v.len() == index.dim {
                        index.rowids.push(rowid);
                        index.data.extend_from_slice(&v);
                    }
                }
            } else {
                self.vectors = None;
            }
        }
    }

    /// Up to `limit` memories without a vector stored after row `after`, oldest first:
    /// `(rowid, content)`.
    pub(crate) fn without_vectors(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, String)>, Error> {
        // The text embedded is the memory's embedding text: speaker, and for a memory with
        // a matching context its nearest neighbours, from its session's stored messages.
        let rows: Vec<(i64, String, Option<String>, Option<String>)> = self
            .conn
            .prepare_cached(
                "SELECT m.rowid, m.content, m.speaker, \
                 CASE WHEN m.context IS NULL THEN NULL ELSE m.session_id END \
                 FROM memories m WHERE m.rowid > ? \
                 AND NOT EXISTS (SELECT 1 FROM vectors v WHERE v.memory_rowid = m.rowid) \
                 ORDER BY m.rowid LIMIT ?",
            )
            .and_then(|mut stmt| {
                stmt.query_map([after, limit as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?
                .collect()
            })
            .map_err(self.err("finding memories without vectors"))?;
        let mut sessions: HashMap<String, SessionMessages> = HashMap::new();
        let mut out = Vec::with_capacity(rows.len());
        for (rowid, content, speaker, session) in rows {
            let mut context = None;
            if let Some(session) = session {
                if !sessions.contains_key(&session) {
                    let messages = session_messages(&self.conn, &session)
                        .map_err(self.err("finding memories without vectors"))?;
                    sessions.insert(session.clone(), messages);
                }
                let messages = &sessions[&session];
                if let Some(i) = messages.iter().position(|m| m.0.contains(&rowid)) {
                    let near = crate::text::neighbour_context(
                        messages.len(),
                        i,
                        crate::text::VECTOR_CONTEXT_MESSAGES,
                        |j| &messages[j].2,
                    );
                    context = (!near.is_empty()).then(|| near.join("\n"));
                }
            }
            let text =
                crate::rank::embedding_text(speaker.as_deref(), &content, context.as_deref());
            out.push((rowid, text));
        }
        Ok(out)
    }

    /// How many memories have no vector.
    pub(crate) fn count_without_vectors(&self) -> Result<u64, Error> {
        self.conn
            .query_row(
                "SELECT (SELECT count(*) FROM memories) - (SELECT count(*) FROM vectors)",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n.max(0) as u64)
            .map_err(self.err("counting vectors"))
    }

    /// Stores vectors of existing memories (a backfill) in one transaction; rows forgotten
    /// meanwhile are skipped. Returns how many were stored.
    pub(crate) fn store_vectors(
        &mut self,
        model: &str,
        vectors: &[(i64, Vec<f32>)],
    ) -> Result<usize, Error> {
        let name = self.name.to_string();
        let storage = |what: &'static str| {
            let profile = name.clone();
            move |e: rusqlite::Error| Error::Storage {
                profile,
                what,
                message: e.to_string(),
            }
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(storage("starting a transaction"))?;
        check_model(&tx, &name, model)?;
        let mut stored = Vec::with_capacity(vectors.len());
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO vectors (memory_rowid, vector) SELECT ?1, ?2 \
                     WHERE EXISTS (SELECT 1 FROM memories WHERE rowid = ?1) \
                     ON CONFLICT(memory_rowid) DO NOTHING",
                )
                .map_err(storage("storing vectors"))?;
            for (rowid, v) in vectors {
                if insert
                    .execute(params![rowid, f32_bytes(v)])
                    .map_err(storage("storing vectors"))?
                    == 1
                {
                    stored.push((*rowid, v.clone()));
                }
            }
        }
        tx.commit().map_err(storage("committing"))?;
        self.data_version = self.data_version()?;
        // Backfilled rows are older than those loaded: the index is reloaded in order.
        self.vectors = None;
        Ok(stored.len())
    }

    /// Drops the caches if another connection has written since they were filled.
    fn refresh(&mut self) -> Result<(), Error> {
        let version = self.data_version()?;
        if version != self.data_version {
            self.vectors = None;
            self.stats = None;
            self.frequencies.clear();
            self.data_version = version;
        }
        Ok(())
    }

    /// Figures recall needs (cached until the next write).
    pub(crate) fn stats(&mut self) -> Result<&Stats, Error> {
        self.refresh()?;
        if self.stats.is_none() {
            let documents: i64 = self
                .conn
                .query_row("SELECT count(*) FROM memories", [], |r| r.get(0))
                .map_err(self.err("counting memories"))?;
            let names: Vec<String> = self
                .conn
                .prepare("SELECT name FROM speakers")
                .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
                .map_err(self.err("reading speakers"))?;
            let speaker_words = names
                .iter()
                .flat_map(|n| crate::text::words(n).collect::<Vec<_>>())
                .filter(|w| !crate::text::is_stopword(w))
                .collect();
            self.stats = Some(Stats {
                documents,
                speaker_words,
            });
        }
        Ok(self.stats.get_or_insert_with(Stats::default))
    }

    /// Makes a superseded memory current again (it was re-asserted at `at`).
    pub(crate) fn reassert(&mut self, id: &str, at: i64) -> Result<(), Error> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(self_err(&self.name, "starting a transaction"))?;
        let subject: Option<String> = tx
            .query_row(
                "UPDATE memories SET occurred_at = ? WHERE id = ? RETURNING subject",
                params![at, id],
                |r| r.get(0),
            )
            .optional()
            .map_err(self_err(&self.name, "re-asserting a memory"))?
            .flatten();
        if let Some(subject) = subject {
            resupersede(&tx, &subject).map_err(self_err(&self.name, "updating supersession"))?;
        }
        tx.commit().map_err(self_err(&self.name, "committing"))?;
        self.data_version = self.data_version()?;
        Ok(())
    }

    pub(crate) fn get(&self, id: &str) -> Result<Option<Memory>, Error> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM memories m WHERE m.id = ?"),
                [id],
                |r| memory_row(r).map(|(_, m)| m),
            )
            .optional()
            .map_err(self.err("reading a memory"))
    }

    pub(crate) fn list(&self, options: &ListOptions) -> Result<Page, Error> {
        use rusqlite::types::Value as V;
        let mut sql = format!("SELECT {COLUMNS} FROM memories m WHERE 1");
        let mut params: Vec<V> = Vec::new();
        if let Some(cursor) = &options.cursor {
            let rowid = cursor
                .strip_prefix('r')
                .and_then(|n| n.parse::<i64>().ok())
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "`{cursor}` is not a cursor of this profile; pass the `next_cursor` \
                         of the previous page, or none for the first page"
                    ))
                })?;
            sql.push_str(" AND m.rowid < ?");
            params.push(V::Integer(rowid));
        }
        if let Some(kind) = options.kind {
            sql.push_str(" AND m.type = ?");
            params.push(V::Text(kind.as_str().into()));
        }
        if let Some(s) = &options.session_id {
            sql.push_str(" AND m.session_id = ?");
            params.push(V::Text(s.clone()));
        }
        sql.push_str(" ORDER BY m.rowid DESC LIMIT ?");
        params.push(V::Integer(options.limit as i64 + 1));
        let mut stmt = self.conn.prepare(&sql).map_err(self.err("listing"))?;
        let mut rows: Vec<(i64, Memory)> = stmt
            .query_map(params_from_iter(params), memory_row)
            .and_then(|rows| rows.collect())
            .map_err(self.err("listing"))?;
        let next_cursor = if rows.len() > options.limit {
            rows.truncate(options.limit);
            rows.last().map(|(rowid, _)| format!("r{rowid}"))
        } else {
            None
        };
        Ok(Page {
            memories: rows.into_iter().map(|(_, m)| m).collect(),
            next_cursor,
        })
    }

    /// Deletes the memories matching `condition` (one of two fixed SQL fragments) with the
    /// FTS entries and vectors (triggers); re-links supersession chains they were part of.
    fn delete_where(&mut self, condition: &str, value: &str) -> Result<usize, Error> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(self_err(&self.name, "starting a transaction"))?;
        let (subjects, sessions): (BTreeSet<String>, BTreeSet<String>) = {
            let mut stmt = tx
                .prepare(&format!(
                    "DELETE FROM memories WHERE {condition} \
                     RETURNING subject, CASE WHEN context IS NOT NULL THEN session_id END"
                ))
                .map_err(self_err(&self.name, "forgetting"))?;
            let rows: Vec<(Option<String>, Option<String>)> = stmt
                .query_map([value], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|rows| rows.collect())
                .map_err(self_err(&self.name, "forgetting"))?;
            let subjects = rows.iter().filter_map(|r| r.0.clone()).collect();
            let sessions = rows.into_iter().filter_map(|r| r.1).collect();
            (subjects, sessions)
        };
        // The forgotten text also lives in its neighbours' matching context: rebuild the
        // contexts of the sessions it was part of from what remains.
        for session in &sessions {
            recontext(&tx, session).map_err(self_err(&self.name, "forgetting"))?;
        }
        let deleted = tx.changes() as usize;
        // A speaker all of whose memories are gone is forgotten too (one scan per call;
        // forgetting is rare next to recalling).
        tx.execute(
            "DELETE FROM speakers WHERE name NOT IN \
             (SELECT DISTINCT speaker FROM memories WHERE speaker IS NOT NULL)",
            [],
        )
        .map_err(self_err(&self.name, "forgetting"))?;
        for subject in &subjects {
            resupersede(&tx, subject).map_err(self_err(&self.name, "updating supersession"))?;
        }
        tx.commit().map_err(self_err(&self.name, "committing"))?;
        // The old pages live on in the WAL until a checkpoint copies them over (zeroed):
        // do it now. Best effort: with readers active it completes at a later checkpoint.
        // Replicated, the frames must be shipped first: the placement snapshots instead.
        if !self.replicated
            && let Err(e) = self.checkpoint()
        {
            tracing::debug!(profile = %self.name, "checkpoint after forgetting: {e}");
        }
        self.data_version = self.data_version()?;
        // Rebuilt on the next vector recall; forgetting is rare next to recalling.
        self.vectors = None;
        self.stats = None;
        self.frequencies.clear();
        Ok(deleted)
    }

    pub(crate) fn forget(&mut self, id: &str) -> Result<usize, Error> {
        self.delete_where("id = ?", id)
    }

    pub(crate) fn forget_session(&mut self, session_id: &str) -> Result<usize, Error> {
        self.delete_where("session_id = ?", session_id)
    }

    /// Full-text candidates for the question's `words`, best first: `(rowid, BM25 score)`
    /// with the score positive (higher is better; ties: newest first), and the score a
    /// memory of average length holding every word once would get (see [`Search`]).
    pub(crate) fn fts(
        &mut self,
        words: &[String],
        filter: &Filter,
        k: usize,
        context_weight: f64,
    ) -> Result<Search, Error> {
        let documents = self.stats()?.documents;
        let quote = |ws: &[&String], op: &str| {
            ws.iter()
                .map(|w| format!("\"{w}\""))
                .collect::<Vec<_>>()
                .join(op)
        };
        let all: Vec<&String> = words.iter().collect();
        let mut df = self.document_frequencies(words, false)?;
        // Matching context multiplies how many memories a word matches (its own text and
        // four neighbours'). Where that would rank too many, search the memories' own text
        // (and speaker), in an index of its own whose position lists hold no context:
        // large profiles lose context matching for common words rather than their latency.
        let index = if df.iter().sum::<i64>() > RANK_BUDGET {
            df = self.document_frequencies(words, true)?;
            Index::Own
        } else {
            Index::All {
                context: context_weight,
            }
        };
        // FTS5's BM25 IDF in the index searched, floored as FTS5 floors it.
        let n = documents as f64;
        let full_match: f64 = df
            .iter()
            .map(|&d| (((n - d as f64 + 0.5) / (d as f64 + 0.5)).ln()).max(1e-6))
            .sum();
        let or = |ws: &[&String]| format!("({})", quote(ws, " OR "));
        let hits = match plan(words, &df) {
            Plan::All => self.ranked(&or(&all), filter, k, index)?,
            Plan::Rarest(kept) => self.ranked(&or(&kept), filter, k, index)?,
            Plan::Every(rarest) => {
                // Every word is common: documents with all of them first, then, if those
                // are too few, the rarest word alone (the one unbounded case).
                let and = format!("({})", quote(&all, " AND "));
                let mut found = self.ranked(&and, filter, k, index)?;
                if found.len() < k {
                    for (rowid, score) in self.ranked(&or(&[rarest]), filter, k, index)? {
                        if found.len() < k && !found.iter().any(|(r, _)| *r == rowid) {
                            found.push((rowid, score));
                        }
                    }
                }
                found
            }
        };
        Ok(Search { hits, full_match })
    }

    /// How many memories hold each of `words`, as the indexes stem them: anywhere, or in
    /// their own text (and speaker) when `own`. Cached until the index changes.
    fn document_frequencies(&mut self, words: &[String], own: bool) -> Result<Vec<i64>, Error> {
        let profile = self.name.to_string();
        let err = |e: rusqlite::Error| Error::Storage {
            profile: profile.clone(),
            what: "planning a search",
            message: e.to_string(),
        };
        // The words' terms as the index has them (stemmed by the same tokenizer), each
        // word one row of a scratch table.
        self.conn
            .execute("DELETE FROM temp.query_words", [])
            .map_err(&err)?;
        {
            let mut insert = self
                .conn
                .prepare_cached("INSERT INTO temp.query_words (rowid, w) VALUES (?, ?)")
                .map_err(&err)?;
            for (i, w) in words.iter().enumerate() {
                insert.execute(params![i as i64, w]).map_err(&err)?;
            }
        }
        let terms: Vec<(i64, String)> = self
            .conn
            .prepare_cached("SELECT doc, term FROM temp.query_terms")
            .map_err(&err)?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .map_err(&err)?;
        let mut df = vec![0i64; words.len()];
        for (i, term) in terms {
            let cached = self.frequencies.get(&term).copied();
            let n = match (cached, own) {
                (Some((_, Some(n))), true) => n,
                (Some((n, _)), false) => n,
                _ => {
                    let sql = if own {
                        "SELECT doc FROM temp.memories_own_vocab WHERE term = ?"
                    } else {
                        "SELECT doc FROM temp.memories_vocab WHERE term = ?"
                    };
                    let n: i64 = self
                        .conn
                        .prepare_cached(sql)
                        .map_err(&err)?
                        .query_row([&term], |r| r.get(0))
                        .optional()
                        .map_err(&err)?
                        .unwrap_or(0);
                    let entry = self.frequencies.entry(term).or_insert((0, None));
                    if own {
                        entry.1 = Some(n);
                    } else {
                        entry.0 = n;
                    }
                    n
                }
            };
            if let Ok(i) = usize::try_from(i)
                && i < df.len()
            {
                df[i] = df[i].max(n);
            }
        }
        Ok(df)
    }

    /// `(rowid, score)` matching the FTS5 expression `query` in `index` and `filter`, best
    /// first.
    fn ranked(
        &self,
        query: &str,
        filter: &Filter,
        k: usize,
        index: Index,
    ) -> Result<Vec<(i64, f64)>, Error> {
        let (fts, bm25) = (index.table(), index.bm25());
        let unfiltered =
            filter.types.is_empty() && filter.session_id.is_none() && filter.as_of.is_none();
        if unfiltered {
            // Rank in the index alone and join only the best: joining first would look up
            // the row of every match before the LIMIT. Only superseded memories are
            // filtered out here; if that leaves too few, the full query below runs.
            let mut params: Vec<rusqlite::types::Value> =
                vec![query.to_owned().into(), ((k * 2) as i64).into()];
            let filters = filter.sql(&mut params);
            params.push((k as i64).into());
            let sql = format!(
                "SELECT f.rowid, f.score FROM (SELECT rowid, {bm25} AS score \
                 FROM {fts} WHERE {fts} MATCH ? ORDER BY score, rowid DESC \
                 LIMIT ?) f JOIN memories m ON m.rowid = f.rowid WHERE 1{filters} \
                 ORDER BY f.score, m.occurred_at DESC, m.rowid DESC LIMIT ?"
            );
            let found = self.scored(&sql, params)?;
            if found.len() >= k {
                return Ok(found);
            }
        }
        let mut params: Vec<rusqlite::types::Value> = vec![query.to_owned().into()];
        let filters = filter.sql(&mut params);
        params.push((k as i64).into());
        let sql = format!(
            "SELECT m.rowid, {bm25} AS score FROM {fts} \
             JOIN memories m ON m.rowid = {fts}.rowid \
             WHERE {fts} MATCH ?{filters} \
             ORDER BY score, m.occurred_at DESC, m.rowid DESC LIMIT ?"
        );
        self.scored(&sql, params)
    }

    fn scored(
        &self,
        sql: &str,
        params: Vec<rusqlite::types::Value>,
    ) -> Result<Vec<(i64, f64)>, Error> {
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(self.err("searching"))?;
        // FTS5's bm25() is negative, lower is better.
        stmt.query_map(params_from_iter(params), |r| {
            Ok((r.get::<_, i64>(0)?, -r.get::<_, f64>(1)?))
        })
        .and_then(|rows| rows.collect())
        .map_err(self.err("searching"))
    }

    /// The memories with these rowids that pass `filter`, keyed by rowid.
    pub(crate) fn fetch(
        &self,
        rowids: &[i64],
        filter: &Filter,
    ) -> Result<HashMap<i64, Memory>, Error> {
        if rowids.is_empty() {
            return Ok(HashMap::new());
        }
        let marks = vec!["?"; rowids.len()].join(",");
        let mut params: Vec<rusqlite::types::Value> = rowids.iter().map(|r| (*r).into()).collect();
        let filters = filter.sql(&mut params);
        let sql = format!("SELECT {COLUMNS} FROM memories m WHERE m.rowid IN ({marks}){filters}");
        let mut stmt = self.conn.prepare(&sql).map_err(self.err("reading"))?;
        stmt.query_map(params_from_iter(params), memory_row)
            .and_then(|rows| rows.collect())
            .map_err(self.err("reading"))
    }

    /// The memory that replies to `asker` (rowid `rowid`): the first memory stored after it
    /// in its session that states another message (chunks of the same message are
    /// skipped), if a different speaker said it and it passes `filter`.
    pub(crate) fn reply(
        &self,
        rowid: i64,
        asker: &Memory,
        filter: &Filter,
    ) -> Result<Option<(i64, Memory)>, Error> {
        let (Some(session), Some(speaker)) = (&asker.session_id, &asker.speaker) else {
            return Ok(None);
        };
        let err = self.err("reading");
        let next: Option<i64> = {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT rowid, source_message_ids FROM memories \
                     WHERE session_id = ? AND rowid > ? ORDER BY rowid LIMIT 8",
                )
                .map_err(&err)?;
            let rows: Vec<(i64, String)> = stmt
                .query_map(params![session, rowid], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|rows| rows.collect())
                .map_err(&err)?;
            let own = serde_json::to_string(&asker.source_message_ids).unwrap_or_default();
            rows.into_iter().find(|(_, s)| *s != own).map(|(r, _)| r)
        };
        let Some(next) = next else {
            return Ok(None);
        };
        Ok(self
            .fetch(&[next], filter)?
            .remove(&next)
            .filter(|m| m.speaker.as_ref().is_some_and(|s| s != speaker))
            .map(|m| (next, m)))
    }

    /// The in-memory vector index, (re)loaded if missing or stale.
    pub(crate) fn vectors(&mut self) -> Result<&VectorIndex, Error> {
        self.refresh()?;
        if self.vectors.is_none() {
            let model = self.meta("embeddings_model")?.unwrap_or_default();
            let mut index = VectorIndex {
                model,
                ..VectorIndex::default()
            };
            let mut stmt = self
                .conn
                .prepare("SELECT memory_rowid, vector FROM vectors ORDER BY memory_rowid")
                .map_err(self.err("loading vectors"))?;
            let mut rows = stmt.query([]).map_err(self.err("loading vectors"))?;
            while let Some(row) = rows.next().map_err(self.err("loading vectors"))? {
                let rowid: i64 = row.get(0).map_err(self.err("loading vectors"))?;
                let bytes: Vec<u8> = row.get(1).map_err(self.err("loading vectors"))?;
                let v = bytes_f32(&bytes);
                if index.dim == 0 {
                    index.dim = v.len();
                }
                if v.len() == index.dim {
                    index.rowids.push(rowid);
                    index.data.extend_from_slice(&v);
                }
            }
            drop(rows);
            drop(stmt);
            tracing::debug!(profile = %self.name, vectors = index.rowids.len(), "loaded vectors");
            self.vectors = Some(index);
        }
        Ok(self.vectors.get_or_insert_with(VectorIndex::default))
    }
}

fn self_err(name: &ProfileName, what: &'static str) -> impl Fn(rusqlite::Error) -> Error {
    let profile = name.to_string();
    move |e| Error::Storage {
        profile: profile.clone(),
        what,
        message: e.to_string(),
    }
}

/// Records the profile's embeddings model on its first vectors; refuses another model.
/// Runs `sql` and sets the current schema version in one transaction. Another process may
/// have done the same first: then its result stands.
fn apply_schema(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.execute_batch(&format!(
        "BEGIN IMMEDIATE; {sql} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
    ))
    .or_else(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        let now: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap_or(0);
        if now == SCHEMA_VERSION {
            Ok(())
        } else {
            Err(e)
        }
    })
}

fn check_model(tx: &Transaction<'_>, profile: &str, model: &str) -> Result<(), Error> {
    let stored: Option<String> = tx
        .query_row(
            "SELECT value FROM meta WHERE key = 'embeddings_model'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| Error::Storage {
            profile: profile.to_owned(),
            what: "reading metadata",
            message: e.to_string(),
        })?;
    match stored {
        Some(stored) if stored != model => Err(Error::EmbeddingsModelMismatch {
            profile: profile.to_owned(),
            stored,
            configured: model.to_owned(),
        }),
        Some(_) => Ok(()),
        None => tx
            .execute(
                "INSERT INTO meta (key, value) VALUES ('embeddings_model', ?)",
                [model],
            )
            .map(drop)
            .map_err(|e| Error::Storage {
                profile: profile.to_owned(),
                what: "writing metadata",
                message: e.to_string(),
            }),
    }
}

/// Recomputes the matching context of a session's deterministic memories (those with a
/// context) from the memories it still has, in stored order: the text of up to
/// `CONTEXT_MESSAGES` messages on each side, as ingest computed it.
fn recontext(tx: &Transaction<'_>, session: &str) -> rusqlite::Result<()> {
    let messages = session_messages(tx, session)?;
    let mut update = tx.prepare_cached(
        "UPDATE memories SET context = ?1 WHERE rowid = ?2 AND context IS NOT ?1",
    )?;
    for (i, (rowids, _, _)) in messages.iter().enumerate() {
        let context =
            crate::text::neighbour_context(messages.len(), i, crate::text::CONTEXT_MESSAGES, |j| {
                &messages[j].2
            })
            .join("\n");
        for rowid in rowids {
            update.execute(params![context, rowid])?;
        }
    }
    Ok(())
}

/// A session's messages: each one's rowids, sources and text.
type SessionMessages = Vec<(Vec<i64>, String, String)>;

/// The messages a session's deterministic memories (those with a context) still hold, in
/// stored order (a long message's chunks are consecutive rows with the same sources).
fn session_messages(conn: &Connection, session: &str) -> rusqlite::Result<SessionMessages> {
    let rows: Vec<(i64, String, String)> = conn
        .prepare_cached(
            "SELECT rowid, source_message_ids, content FROM memories \
             WHERE session_id = ? AND context IS NOT NULL ORDER BY rowid",
        )?
        .query_map([session], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut messages: SessionMessages = Vec::new();
    for (rowid, sources, content) in rows {
        match messages.last_mut() {
            Some((rowids, s, text)) if *s == sources => {
                rowids.push(rowid);
                text.push(' ');
                text.push_str(&content);
            }
            _ => messages.push((vec![rowid], sources, content)),
        }
    }
    Ok(messages)
}

/// Re-links the supersession chain of one subject: in order of `occurred_at` (then storage
/// order), each memory is superseded by the next. Recomputed whole so that ingesting older
/// history later, or forgetting a link, leaves the chain right.
fn resupersede(tx: &Transaction<'_>, subject: &str) -> rusqlite::Result<()> {
    let chain: Vec<(i64, String, i64)> = tx
        .prepare_cached(
            "SELECT rowid, id, occurred_at FROM memories WHERE subject = ? \
             ORDER BY occurred_at, rowid",
        )?
        .query_map([subject], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut update = tx.prepare_cached(
        "UPDATE memories SET superseded_by = ?, superseded_at = ? WHERE rowid = ?",
    )?;
    for (i, (rowid, _, _)) in chain.iter().enumerate() {
        let next = chain.get(i + 1);
        update.execute(params![next.map(|n| &n.1), next.map(|n| n.2), rowid])?;
    }
    Ok(())
}

fn memory_row(r: &Row<'_>) -> rusqlite::Result<(i64, Memory)> {
    let kind: String = r.get(2)?;
    let sources: String = r.get(9)?;
    Ok((
        r.get(0)?,
        Memory {
            id: r.get(1)?,
            kind: kind.parse().unwrap_or(MemoryType::Fact),
            content: r.get(3)?,
            subject: r.get(4)?,
            session_id: r.get(5)?,
            speaker: r.get(6)?,
            occurred_at: r.get(7)?,
            created_at: r.get(8)?,
            source_message_ids: serde_json::from_str(&sources).unwrap_or_default(),
            superseded_by: r.get(10)?,
        },
    ))
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|f| f.to_le_bytes()).collect()
}

fn bytes_f32(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}
