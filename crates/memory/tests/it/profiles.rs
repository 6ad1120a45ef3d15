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
