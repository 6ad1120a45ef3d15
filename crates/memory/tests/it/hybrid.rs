//! Hybrid recall: vectors rerank and extend full text without displacing it, a dead
//! endpoint degrades to full text, and enabling embeddings backfills older memories.

use crate::{
    fixture, given_conversation, given_endpoint, given_http_client, given_memories_with,
    given_mock, message, session,
};
use memory::eval::{self, Question};
use memory::{Endpoint, Memories, RecallOptions, Retriever};
use serde::Deserialize;
use std::sync::{Arc, Mutex};

#[derive(Deserialize)]
struct Asked {
    question: String,
    answer_message_ids: Vec<String>,
}

/// The questions of `tests/fixtures/questions.json` in the evaluation set's shape.
fn given_questions() -> Vec<Question> {
    let bytes = std::fs::read(fixture("questions.json")).expect("questions fixture");
    let asked: Vec<Asked> = serde_json::from_slice(&bytes).expect("questions parse");
    asked
        .into_iter()
        .map(|a| Question {
            question: a.question,
            evidence: a.answer_message_ids,
            category: 0,
        })
        .collect()
}

async fn recall_at(memories: &Memories, k: usize) -> f64 {
    let p = memories.profile("team/alice").unwrap();
    eval::evaluate(&p, &given_questions(), k)
        .await
        .unwrap()
        .overall
        .recall()
}

#[tokio::test]
async fn hybrid_recall_is_never_worse_than_full_text_even_with_uninformative_vectors() {
    let mock = given_mock().await;
    for model in ["mock-weak-embed", "mock-embed"] {
        let given = given_memories_with(None, Some(given_endpoint(&mock, model)));
        let p = given.memories.profile("team/alice").unwrap();
        let report = p.ingest_sessions(given_conversation(), None).await.unwrap();
        assert_eq!(
            report.vectors, report.added,
            "{model}: every memory got a vector"
        );
        let full_text = given.reopen(None, None);
        // At 10, the evaluation set's k, and 5. (At 3, the bag-of-words mock, which weighs
        // common words like rare ones, reorders one close pair wrongly: vectors may
        // reorder close text matches, by design.)
        let mut figures = Vec::new();
        for k in [5, 10] {
            let text = recall_at(&full_text, k).await;
            let hybrid = recall_at(&given.memories, k).await;
            figures.push((k, text, hybrid));
        }
        for &(k, text, hybrid) in &figures {
            assert!(
                hybrid >= text,
                "{model}, top {k}: hybrid {hybrid:.3} < full text {text:.3}; \
                 (k, full text, hybrid): {figures:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_dead_embeddings_endpoint_degrades_recall_to_full_text_with_a_warning() {
    let mock = given_mock().await;
    let given = given_memories_with(None, Some(given_endpoint(&mock, "mock-embed")));
    let p = given.memories.profile("team/alice").unwrap();
    p.ingest_sessions(
        vec![session(
            "s1",
            0,
            vec![message("m1", "alice", "the printer on floor two is jammed")],
        )],
        None,
    )
    .await
    .unwrap();
    let dead = Endpoint::new(given_http_client(), "http://127.0.0.1:9", "mock-embed")
        .retries(1)
        .timeout(std::time::Duration::from_secs(2));
    let down = given.reopen(None, Some(dead));
    let r = down
        .profile("team/alice")
        .unwrap()
        .recall("printer jammed", RecallOptions::default())
        .await
        .unwrap();
    assert_eq!(r.results.len(), 1);
    assert_eq!(r.results[0].matched_by, [Retriever::Fts]);
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    let w = &r.warnings[0];
    assert!(w.contains("127.0.0.1:9") && w.contains("full-text"), "{w}");
    assert!(w.contains("after 2 attempts"), "retried once: {w}");
}

#[tokio::test]
async fn enabling_embeddings_backfills_the_vectors_of_older_memories() {
    let mock = given_mock().await;
    let given = given_memories_with(None, None);
    let p = given.memories.profile("team/alice").unwrap();
    p.ingest_sessions(given_conversation(), None).await.unwrap();
    let stored = p.count().await.unwrap() as usize;

    let with = given.reopen(None, Some(given_endpoint(&mock, "mock-embed")));
    let p = with.profile("team/alice").unwrap();
    let r = p
        .recall("what is the office wifi password", RecallOptions::default())
        .await
        .unwrap();
    assert!(
        r.warnings.iter().any(|w| w.contains("no vectors yet")),
        "{:?}",
        r.warnings
    );
    let seen: Arc<Mutex<Vec<(usize, usize)>>> = Arc::default();
    let progress = {
        let seen = seen.clone();
        Arc::new(move |p: memory::Progress| {
            assert_eq!(p.stage, memory::Stage::Backfilling);
            seen.lock().unwrap().push((p.done, p.total));
        })
    };
    let n = p.backfill(Some(progress)).await.unwrap();
    assert_eq!(n, stored);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.first(), Some(&(0, stored)));
    assert_eq!(seen.last(), Some(&(stored, stored)));
    assert!(seen.len() >= 3, "progress per batch: {seen:?}");

    let r = p
        .recall("what is the office wifi password", RecallOptions::default())
        .await
        .unwrap();
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(r.results[0].matched_by, [Retriever::Fts, Retriever::Vector]);
    // Nothing left to do; an ingest that adds one memory stores one vector.
    assert_eq!(p.backfill(None).await.unwrap(), 0);
    let report = p
        .ingest_sessions(
            vec![session(
                "s99",
                400,
                vec![message("m1", "bob", "new phone who dis")],
            )],
            None,
        )
        .await
        .unwrap();
    assert_eq!((report.added, report.vectors), (1, 1));
}

#[tokio::test]
async fn an_ingest_with_embeddings_backfills_what_came_before() {
    let mock = given_mock().await;
    let given = given_memories_with(None, None);
    let p = given.memories.profile("team/alice").unwrap();
    p.ingest_sessions(
        vec![session(
            "s1",
            0,
            vec![message("m1", "alice", "the printer is jammed")],
        )],
        None,
    )
    .await
    .unwrap();
    let with = given.reopen(None, Some(given_endpoint(&mock, "mock-embed")));
    let report = with
        .profile("team/alice")
        .unwrap()
        .ingest_sessions(
            vec![session(
                "s2",
                1,
                vec![message("m1", "bob", "I fixed the printer")],
            )],
            None,
        )
        .await
        .unwrap();
    assert_eq!((report.added, report.vectors), (1, 2), "{report:?}");
}

#[tokio::test]
async fn a_backfilled_vector_is_the_vector_ingest_computes() {
    // Both embed `speaker: content` with the nearest neighbours (not the whole matching
    // context), so a backfilled profile ranks exactly as one ingested with embeddings.
    let mock = given_mock().await;
    let ingested = given_memories_with(None, Some(given_endpoint(&mock, "mock-embed")));
    let p = ingested.memories.profile("team/alice").unwrap();
    p.ingest_sessions(given_conversation(), None).await.unwrap();
    let later = given_memories_with(None, None);
    let q = later.memories.profile("team/alice").unwrap();
    q.ingest_sessions(given_conversation(), None).await.unwrap();
    let backfilled = later.reopen(None, Some(given_endpoint(&mock, "mock-embed")));
    let q = backfilled.profile("team/alice").unwrap();
    assert!(q.backfill(None).await.unwrap() > 0);
    for question in given_questions() {
        let ranked = |r: memory::Recall| {
            r.results
                .into_iter()
                .map(|x| (x.memory.id, x.score))
                .collect::<Vec<_>>()
        };
        let a = p.recall(&question.question, RecallOptions::default());
        let b = q.recall(&question.question, RecallOptions::default());
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        assert!(
            a.warnings.is_empty() && b.warnings.is_empty(),
            "{:?}",
            b.warnings
        );
        assert_eq!(ranked(a), ranked(b), "{}", question.question);
    }
}
