//! Profile names, isolation, listing and deletion.

use crate::{given_memories, message, session};
use memory::{ListOptions, RecallOptions, RememberOptions};

#[test]
fn profile_names_are_validated() {
    let given = given_memories();
    for ok in ["team/alice", "a/b", "0ns/p-1.x_y"] {
        assert!(given.memories.profile(ok).is_ok(), "{ok}");
    }
    for bad in [
        "alice",
        "Team/alice",
        "team/",
        "/alice",
        "team/al ice",
        "../x",
        "team/../x",
        "a/b/c",
        "team/-x",
        &format!("team/{}", "x".repeat(65)),
    ] {
        let e = given.memories.profile(bad).expect_err(bad);
        assert_eq!(e.code(), "INVALID_PROFILE", "{bad}");
        assert!(e.to_string().contains("namespace/profile"), "{e}");
    }
}

#[tokio::test]
async fn recall_on_one_profile_never_returns_another_profiles_memories() {
    let given = given_memories();
    let alice = given.memories.profile("team/alice").unwrap();
    let bob = given.memories.profile("team/bob").unwrap();
    alice
        .remember("alice drinks green tea", RememberOptions::default())
        .await
        .unwrap();
    bob.remember("bob drinks black tea", RememberOptions::default())
        .await
        .unwrap();
    bob.ingest_sessions(
        vec![session(
            "s1",
            0,
            vec![message("m1", "bob", "more tea please")],
        )],
        None,
    )
    .await
    .unwrap();

    let recall = alice.recall("tea", RecallOptions::default()).await.unwrap();
    let contents: Vec<&str> = recall
        .results
        .iter()
        .map(|r| r.memory.content.as_str())
        .collect();
    assert_eq!(contents, ["alice drinks green tea"]);
    assert_eq!(alice.count().await.unwrap(), 1);
    assert_eq!(bob.count().await.unwrap(), 2);
    assert_ne!(alice.path(), bob.path());
    assert!(alice.path().ends_with("memory/team/alice.sqlite"));
}

#[tokio::test]
async fn reading_an_unknown_profile_is_not_found_and_creates_nothing() {
    let given = given_memories();
    let ghost = given.memories.profile("team/ghost").unwrap();
    let errors = [
        ghost
            .recall("anything", RecallOptions::default())
            .await
            .unwrap_err(),
        ghost.list(ListOptions::default()).await.unwrap_err(),
        ghost.get("abc").await.unwrap_err(),
        ghost.forget("abc").await.unwrap_err(),
        ghost.forget_session("s1").await.unwrap_err(),
    ];
    for e in errors {
        assert_eq!(e.code(), "NOT_FOUND");
        let text = e.to_string();
        assert!(text.contains("`team/ghost` does not exist"), "{text}");
        assert!(
            text.contains("islet memory ingest FILE --profile team/ghost"),
            "{text}"
        );
    }
    assert!(!ghost.exists());
    assert!(given.memories.profiles().await.unwrap().is_empty());
}

#[tokio::test]
async fn profiles_are_listed_and_deleted() {
    let given = given_memories();
    for (name, n) in [("team/alice", 2), ("ops/runbooks", 1)] {
        let p = given.memories.profile(name).unwrap();
        for i in 0..n {
            p.remember(&format!("memory number {i}"), RememberOptions::default())
                .await
                .unwrap();
        }
    }
    let listed = given.memories.profiles().await.unwrap();
    let summary: Vec<(&str, u64)> = listed
        .iter()
        .map(|p| (p.name.as_str(), p.memories))
        .collect();
    assert_eq!(summary, [("ops/runbooks", 1), ("team/alice", 2)]);
    assert!(listed.iter().all(|p| p.bytes > 0));

    assert!(given.memories.delete_profile("team/alice").await.unwrap());
    assert!(!given.memories.delete_profile("team/alice").await.unwrap());
    let alice = given.memories.profile("team/alice").unwrap();
    assert!(!alice.exists());
    let e = alice
        .recall("memory", RecallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "NOT_FOUND");
    let names: Vec<String> = given
        .memories
        .profiles()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["ops/runbooks"]);

    // Written again, it starts empty.
    alice
        .remember("a fresh start", RememberOptions::default())
        .await
        .unwrap();
    assert_eq!(alice.count().await.unwrap(), 1);
}

/// The schema of version 1 (before matching context), as an older islet wrote it.
const SCHEMA_V1: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE memories (
    rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL,
    content TEXT NOT NULL, subject TEXT, session_id TEXT, speaker TEXT,
    occurred_at INTEGER NOT NULL, created_at INTEGER NOT NULL,
    source_message_ids TEXT NOT NULL, superseded_by TEXT, superseded_at INTEGER
) STRICT;
CREATE INDEX memories_session ON memories(session_id);
CREATE INDEX memories_subject ON memories(subject, occurred_at) WHERE subject IS NOT NULL;
CREATE VIRTUAL TABLE memories_fts USING fts5(
    content, speaker, content = 'memories', content_rowid = 'rowid',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT INTO memories_fts(memories_fts, rank) VALUES ('secure-delete', 1);
CREATE TABLE vectors (memory_rowid INTEGER PRIMARY KEY, vector BLOB NOT NULL) STRICT;
CREATE TRIGGER memories_ai AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts(rowid, content, speaker) VALUES (new.rowid, new.content, new.speaker);
END;
CREATE TRIGGER memories_ad AFTER DELETE ON memories BEGIN
    INSERT INTO memories_fts(memories_fts, rowid, content, speaker)
        VALUES ('delete', old.rowid, old.content, old.speaker);
    DELETE FROM vectors WHERE memory_rowid = old.rowid;
END;
INSERT INTO memories (id, type, content, session_id, speaker, occurred_at, created_at,
    source_message_ids) VALUES ('old1', 'event', 'the staging database moved to Frankfurt',
    's1', 'alice', 0, 0, '[\"m1\"]');
PRAGMA user_version = 1;
";

#[tokio::test]
async fn a_profile_written_by_schema_version_1_is_upgraded_in_place() {
    let given = given_memories();
    let p = given.memories.profile("team/old").unwrap();
    std::fs::create_dir_all(p.path().parent().unwrap()).unwrap();
    rusqlite::Connection::open(p.path())
        .unwrap()
        .execute_batch(SCHEMA_V1)
        .unwrap();
    let r = p
        .recall("where is the staging database", RecallOptions::default())
        .await
        .unwrap();
    assert_eq!(r.results.len(), 1);
    assert_eq!(r.results[0].memory.id, "old1");
    assert_eq!(r.results[0].sources, ["m1"]);
    // Alice, a speaker of the old memories, is known to recall.
    p.ingest(
        vec![message("m2", "bob", "the staging database is slow")],
        memory::IngestOptions {
            session_id: Some("s2".into()),
            ..memory::IngestOptions::default()
        },
    )
    .await
    .unwrap();
    let r = p
        .recall(
            "what did alice say about the staging database",
            RecallOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(r.results[0].memory.id, "old1", "{r:?}");
    p.forget("old1").await.unwrap();
    assert_eq!(p.count().await.unwrap(), 1);
    let version: i64 = rusqlite::Connection::open(p.path())
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 3);
}

/// The schema of version 2 (matching context, one full-text index), as an older islet
/// wrote it, with 6,000 memories sharing common words and one rare one.
const SCHEMA_V2: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE memories (
    rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL,
    content TEXT NOT NULL, subject TEXT, session_id TEXT, speaker TEXT,
    occurred_at INTEGER NOT NULL, created_at INTEGER NOT NULL,
    source_message_ids TEXT NOT NULL, superseded_by TEXT, superseded_at INTEGER,
    context TEXT
) STRICT;
CREATE INDEX memories_session ON memories(session_id);
CREATE INDEX memories_subject ON memories(subject, occurred_at) WHERE subject IS NOT NULL;
CREATE TABLE vectors (memory_rowid INTEGER PRIMARY KEY, vector BLOB NOT NULL) STRICT;
CREATE VIRTUAL TABLE memories_fts USING fts5(
    content, speaker, context, content = 'memories', content_rowid = 'rowid',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT INTO memories_fts(memories_fts, rank) VALUES ('secure-delete', 1);
CREATE TABLE speakers (name TEXT PRIMARY KEY) STRICT;
CREATE TRIGGER memories_ai AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts(rowid, content, speaker, context)
        VALUES (new.rowid, new.content, new.speaker, new.context);
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
    DELETE FROM vectors WHERE memory_rowid = old.rowid;
END;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 5999)
INSERT INTO memories (id, type, content, session_id, speaker, occurred_at, created_at,
    source_message_ids, context)
    SELECT 'm' || i, 'event', 'project update number ' || i, 's1', 'bob', i, 0,
        '[\"m' || i || '\"]', 'project update number ' || (i + 1) FROM n;
INSERT INTO memories (id, type, content, session_id, speaker, occurred_at, created_at,
    source_message_ids, context) VALUES ('rare', 'event',
    'project update: the zeppelin has landed', 's1', 'alice', 6000, 0, '[\"rare\"]',
    'project update number 5999');
PRAGMA user_version = 2;
";

#[tokio::test]
async fn issue19_a_profile_written_by_schema_version_2_gets_its_own_text_index() {
    let given = given_memories();
    let p = given.memories.profile("team/old").unwrap();
    std::fs::create_dir_all(p.path().parent().unwrap()).unwrap();
    rusqlite::Connection::open(p.path())
        .unwrap()
        .execute_batch(SCHEMA_V2)
        .unwrap();
    // "project" and "update" are in every memory and its context: too common to rank, so
    // the rare word is searched in the memories' own text, an index the upgrade fills.
    let r = p
        .recall("project update zeppelin", RecallOptions::default())
        .await
        .unwrap();
    assert_eq!(r.results.len(), 1, "{r:?}");
    assert_eq!(r.results[0].sources, ["rare"]);
    let r = p.recall("project", RecallOptions::default()).await.unwrap();
    assert_eq!(r.results.len(), 10);
    let own = |word: &str| -> i64 {
        rusqlite::Connection::open(p.path())
            .unwrap()
            .query_row(
                "SELECT count(*) FROM memories_own_fts WHERE memories_own_fts MATCH ?",
                [word],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert_eq!(own("project"), 6001);
    // Kept in step from now on: new memories are added, forgotten ones removed.
    p.ingest(
        vec![message("m9", "carol", "the zeppelin is back in its hangar")],
        memory::IngestOptions {
            session_id: Some("s2".into()),
            ..memory::IngestOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(own("zeppelin"), 2);
    p.forget("rare").await.unwrap();
    assert_eq!(own("zeppelin"), 1);
    assert_eq!(own("landed"), 0);
    let version: i64 = rusqlite::Connection::open(p.path())
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 3);
}
