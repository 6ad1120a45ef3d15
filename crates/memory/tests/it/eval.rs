//! The evaluation set's metric (`memory::eval`), on a tiny conversation with known answers.

use crate::{fixture, given_memories};
use memory::eval::{self, Tally, evidence_recall};
use std::collections::BTreeSet;

#[test]
fn evidence_recall_is_the_share_of_evidence_found() {
    let ids = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let found: BTreeSet<&str> = ["D1:1", "D1:2", "D3:4"].into_iter().collect();
    assert_eq!(evidence_recall(&ids(&["D1:1"]), &found), 1.0);
    assert_eq!(evidence_recall(&ids(&["D1:1", "D9:9"]), &found), 0.5);
    // A malformed id is a miss like any other.
    assert_eq!(
        evidence_recall(&ids(&["D:1:1", "D1:2", "D3:4", "D5:5"]), &found),
        0.5
    );
    assert_eq!(evidence_recall(&[], &found), 0.0);
    let mut t = Tally::default();
    for r in [1.0, 0.5, 0.0, 0.0] {
        t.add(r);
    }
    assert_eq!((t.questions, t.hits), (4, 2));
    assert_eq!(t.recall(), 0.375);
    assert_eq!(t.hit_rate(), 0.5);
}

#[tokio::test]
async fn the_metric_over_a_tiny_set_gives_the_known_figures() {
    let conversations = eval::load_dir(&fixture("eval")).unwrap();
    assert_eq!(conversations.len(), 1);
    let c = &conversations[0];
    assert_eq!((c.name.as_str(), c.questions.len()), ("tiny", 4));

    let given = given_memories();
    let p = given.memories.profile("eval/tiny").unwrap();
    p.ingest_sessions(c.sessions.clone(), None).await.unwrap();
    // Top 1: the dog, half of the marathon (the other id is malformed), the cello; the
    // skiing question has no answer in the conversation.
    let e = eval::evaluate(&p, &c.questions, 1).await.unwrap();
    assert_eq!(e.overall.questions, 4);
    assert_eq!(e.overall.recall(), 0.625, "{e:?}");
    assert_eq!(e.overall.hit_rate(), 0.75);
    let by: Vec<(u32, f64)> = e
        .by_category
        .iter()
        .map(|(c, t)| (*c, t.recall()))
        .collect();
    assert_eq!(by, [(1, 0.5), (4, 1.0), (5, 0.0)]);
    assert_eq!(e.latencies.len(), 4);
}

#[test]
fn a_directory_not_in_the_layout_is_a_clear_error() {
    let e = eval::load_dir(&fixture("")).unwrap_err();
    assert!(e.to_string().contains("questions.json"), "{e}");
}
