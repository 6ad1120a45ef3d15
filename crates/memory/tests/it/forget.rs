//! Forgetting is real deletion: from the table, the FTS5 index and the vectors.

use crate::{given_endpoint, given_memories_with, given_mock, message, session};
use memory::{Profile, RecallOptions, RememberOptions};

/// Reads the profile's SQLite file directly, as an auditor would.
fn rows(p: &Profile, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(p.path()).expect("open the profile file");
    conn.query_row(sql, [], |r| r.get(0)).expect(sql)
}

#[tokio::test]
async fn forget_removes_a_memory_from_every_index() {
    let mock = given_mock().await;
    let given = given_memories_with(None, Some(given_endpoint(&mock, "mock-embed")));
    let p = given.memories.profile("team/alice").unwrap();
    let zebra = p
        .remember(
            "The zebra crossing on Elm street is broken",
            RememberOptions::default(),
        )
        .await
        .unwrap();
    p.remember(
        "The traffic light on Oak street works",
        RememberOptions::default(),
    )
    .await
    .unwrap();
    let fts = "SELECT count(*) FROM memories_fts WHERE memories_fts MATCH 'zebra'";
    let own = "SELECT count(*) FROM memories_own_fts WHERE memories_own_fts MATCH 'zebra'";
    let vectors = "SELECT count(*) FROM vectors";
    assert_eq!(rows(&p, fts), 1);
    assert_eq!(rows(&p, own), 1);
    assert_eq!(rows(&p, vectors), 2);
    let r = p.recall("zebra", RecallOptions::default()).await.unwrap();
    assert!(r.results[0].matched_by.len() == 2, "{:?}", r.results[0]);

    p.forget(&zebra.memory.id).await.unwrap();

    assert_eq!(rows(&p, fts), 0, "gone from the full-text index itself");
    assert_eq!(rows(&p, own), 0, "and from the own-text index");
    assert_eq!(
        rows(
            &p,
            "SELECT count(*) FROM memories_fts WHERE memories_fts MATCH 'elm'"
        ),
        0
    );
    assert_eq!(rows(&p, vectors), 1, "its vector is gone");
    assert_eq!(rows(&p, "SELECT count(*) FROM memories"), 1);
    let r = p
        .recall("zebra crossing", RecallOptions::default())
        .await
        .unwrap();
    assert!(
        r.results.iter().all(|r| r.memory.id != zebra.memory.id),
        "{r:?}"
    );
    let e = p.get(&zebra.memory.id).await.unwrap_err();
    assert_eq!(e.code(), "NOT_FOUND");
    let e = p.forget(&zebra.memory.id).await.unwrap_err();
    assert_eq!(e.code(), "NOT_FOUND");
    assert!(e.to_string().contains(&zebra.memory.id), "{e}");
}

/// Whether `needle` occurs anywhere in the profile's files (database and WAL).
fn on_disk(p: &Profile, needle: &str) -> bool {
    let mut wal = p.path().into_os_string();
    wal.push("-wal");
    [p.path(), wal.into()].iter().any(|f| {
        std::fs::read(f)
            .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
    })
}

#[tokio::test]
async fn forgotten_text_is_gone_from_the_files() {
    let given = given_memories_with(None, None);
    let p = given.memories.profile("team/alice").unwrap();
    let secret = p
        .remember(
            "the launch code is qwxzplorbtrumble",
            RememberOptions::default(),
        )
        .await
        .unwrap();
    p.remember("an unrelated note", RememberOptions::default())
        .await
        .unwrap();
    assert!(on_disk(&p, "qwxzplorbtrumble"));
    p.forget(&secret.memory.id).await.unwrap();
    // Also its stem, as the full-text index holds it.
    assert!(
        !on_disk(&p, "qwxzplorbtrumbl"),
        "the text is still in a file"
    );
    assert!(!on_disk(&p, "launch code"), "the text is still in a file");
}

#[tokio::test]
async fn forget_session_removes_every_memory_of_the_session() {
    let mock = given_mock().await;
    let given = given_memories_with(None, Some(given_endpoint(&mock, "mock-embed")));
    let p = given.memories.profile("team/alice").unwrap();
    p.ingest_sessions(
        vec![
            session(
                "secret",
                1,
                vec![
                    message("m1", "alice", "the vault code is 4711"),
                    message("m2", "bob", "noted, vault code memorised"),
                ],
            ),
            session(
                "public",
                2,
                vec![message("m3", "alice", "the vault is in the basement")],
            ),
        ],
        None,
    )
    .await
    .unwrap();
    assert_eq!(p.forget_session("secret").await.unwrap(), 2);
    assert_eq!(p.forget_session("secret").await.unwrap(), 0);
    assert_eq!(
        rows(
            &p,
            "SELECT count(*) FROM memories_fts WHERE memories_fts MATCH 'code'"
        ),
        0
    );
    assert_eq!(rows(&p, "SELECT count(*) FROM vectors"), 1);
    let r = p
        .recall("vault code", RecallOptions::default())
        .await
        .unwrap();
    let sources: Vec<&str> = r.results.iter().map(|r| r.sources[0].as_str()).collect();
    assert_eq!(sources, ["m3"]);
}

#[tokio::test]
async fn a_forgotten_message_is_gone_from_its_neighbours_context_too() {
    let given = given_memories_with(None, None);
    let p = given.memories.profile("team/alice").unwrap();
    p.ingest_sessions(
        vec![session(
            "s1",
            0,
            vec![
                message("m1", "bob", "what is the door code?"),
                message("m2", "alice", "it is zorbleflax then hash"),
                message("m3", "bob", "thanks, got it"),
                message("m4", "mallory", "noted"),
            ],
        )],
        None,
    )
    .await
    .unwrap();
    let secret = p
        .recall("zorbleflax", RecallOptions::default())
        .await
        .unwrap();
    // Found in its own memory and through its neighbours' context.
    assert!(secret.results.len() >= 3, "{secret:?}");
    let own = secret
        .results
        .iter()
        .find(|r| r.sources == ["m2"])
        .unwrap()
        .memory
        .id
        .clone();
    p.forget(&own).await.unwrap();
    let r = p
        .recall("zorbleflax", RecallOptions::default())
        .await
        .unwrap();
    assert!(r.results.is_empty(), "{r:?}");
    assert!(!on_disk(&p, "zorbleflax"), "the text is still in a file");
    // The neighbours now match through each other.
    let r = p
        .recall("door code", RecallOptions::default())
        .await
        .unwrap();
    assert!(r.results.iter().any(|r| r.sources == ["m3"]), "{r:?}");
    // A speaker all of whose memories are forgotten is gone too.
    let mallory = p.recall("noted", RecallOptions::default()).await.unwrap();
    p.forget(&mallory.results[0].memory.id).await.unwrap();
    assert!(
        !on_disk(&p, "mallory"),
        "the speaker's name is still in a file"
    );
}
