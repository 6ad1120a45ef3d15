//! The long multi-session conversation of `tests/fixtures/conversation.json` (440 messages,
//! 30 sessions over 18 months, facts that change: alice's employer and city, bob's car,
//! carol's favourite language, a launch date) and its questions: recall must find the
//! message that answers each within its top 10.

use crate::{fixture, given_conversation, given_endpoint, given_memories_with, given_mock};
use memory::{Memories, RecallOptions, Retriever};
use serde::Deserialize;

#[derive(Deserialize)]
struct Question {
    question: String,
    answer_message_ids: Vec<String>,
}

fn given_questions() -> Vec<Question> {
    let bytes = std::fs::read(fixture("questions.json")).expect("questions fixture");
    serde_json::from_slice(&bytes).expect("questions parse")
}

/// Ingests the conversation, asks every question, and returns the misses (with what came
/// back instead) and the rank of each hit.
async fn ask_all(memories: &Memories) -> (Vec<String>, Vec<usize>) {
    let p = memories.profile("team/alice").unwrap();
    p.ingest_sessions(given_conversation(), None).await.unwrap();
    let questions = given_questions();
    assert!(questions.len() >= 20);
    let mut misses = Vec::new();
    let mut ranks = Vec::new();
    for q in &questions {
        let r = p
            .recall(&q.question, RecallOptions::default())
            .await
            .unwrap();
        let rank = r
            .results
            .iter()
            .position(|r| r.sources.iter().any(|s| q.answer_message_ids.contains(s)));
        match rank {
            Some(rank) => ranks.push(rank + 1),
            None => misses.push(format!(
                "{:?} (answer {:?}) got {:?}",
                q.question,
                q.answer_message_ids,
                r.results
                    .iter()
                    .map(|r| (&r.sources[0], &r.memory.content))
                    .collect::<Vec<_>>()
            )),
        }
    }
    (misses, ranks)
}

#[tokio::test]
async fn recall_finds_each_answer_in_the_top_10() {
    let given = given_memories_with(None, None);
    let (misses, ranks) = ask_all(&given.memories).await;
    assert!(misses.is_empty(), "missed:\n{}", misses.join("\n"));
    // Not just somewhere in the top 10: most answers come first or second.
    let top2 = ranks.iter().filter(|r| **r <= 2).count();
    assert!(top2 >= 20, "ranks of the answers: {ranks:?}");
}

#[tokio::test]
async fn recall_finds_each_answer_in_the_top_10_with_embeddings() {
    let mock = given_mock().await;
    let given = given_memories_with(None, Some(given_endpoint(&mock, "mock-embed")));
    let (misses, ranks) = ask_all(&given.memories).await;
    assert!(misses.is_empty(), "missed:\n{}", misses.join("\n"));
    let top2 = ranks.iter().filter(|r| **r <= 2).count();
    assert!(top2 >= 20, "ranks of the answers: {ranks:?}");
    assert!(mock.embedding_requests() > 0);

    // Both retrievers contribute.
    let p = given.memories.profile("team/alice").unwrap();
    let r = p
        .recall("what is the office wifi password", RecallOptions::default())
        .await
        .unwrap();
    assert_eq!(r.results[0].matched_by, [Retriever::Fts, Retriever::Vector]);
}
