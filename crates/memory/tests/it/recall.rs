//! Recall: input checks, supersession and `as_of`, recency, filters, and listing.

use crate::{DAY, NOW, given_memories, message, session};
use memory::{ListOptions, MemoryType, RecallOptions, RememberOptions, Retriever};

#[tokio::test]
async fn blank_queries_are_rejected_clearly() {
    let given = given_memories();
    let p = given.memories.profile("team/alice").unwrap();
    p.remember("something", RememberOptions::default())
        .await
        .unwrap();
    for q in ["", "   ", "\n\t"] {
        let e = p.recall(q, RecallOptions::default()).await.unwrap_err();
        assert_eq!(e.code(), "INVALID_INPUT");
        assert!(e.to_string().contains("blank"), "{e}");
    }
    let e = p.recall("?!", RecallOptions::default()).await.unwrap_err();
    assert_eq!(e.code(), "INVALID_INPUT");
    assert!(e.to_string().contains("no words"), "{e}");
    let e = p
        .recall(
            "something",
            RecallOptions {
                limit: 0,
                ..RecallOptions::default()
            },
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("1 to 100"), "{e}");
    let e = p
        .remember("  ", RememberOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "INVALID_INPUT");
    // FTS syntax in a question is just words.
    let r = p
        .recall("something AND \"NEAR(\" OR *", RecallOptions::default())
        .await
        .unwrap();
    assert_eq!(r.results.len(), 1);
}

fn employer(at: i64) -> RememberOptions {
    RememberOptions {
        subject: Some("Alice.Employer".into()),
        occurred_at: Some(at),
        ..RememberOptions::default()
    }
}

#[tokio::test]
async fn a_newer_memory_on_the_same_subject_supersedes_older_ones() {
    let given = given_memories();
    let p = given.memories.profile("team/alice").unwrap();
    let acme = p
        .remember("Alice works at Acme", employer(NOW - 300 * DAY))
        .await
        .unwrap();
    let initech = p
        .remember("Alice works at Initech", employer(NOW - 100 * DAY))
        .await
        .unwrap();
    assert!(acme.added && initech.added);
    assert_eq!(initech.memory.subject.as_deref(), Some("alice.employer"));

    let current = p
        .recall("where does alice work", RecallOptions::default())
        .await
        .unwrap();
    let contents: Vec<&str> = current
        .results
        .iter()
        .map(|r| r.memory.content.as_str())
        .collect();
    assert_eq!(contents, ["Alice works at Initech"]);
    let old = p.get(&acme.memory.id).await.unwrap();
    assert_eq!(
        old.superseded_by.as_deref(),
        Some(initech.memory.id.as_str())
    );

    let all = p
        .recall(
            "where does alice work",
            RecallOptions {
                include_superseded: true,
                ..RecallOptions::default()
            },
        )
        .await
        .unwrap();
    let contents: Vec<&str> = all
        .results
        .iter()
        .map(|r| r.memory.content.as_str())
        .collect();
    assert_eq!(
        contents,
        ["Alice works at Initech", "Alice works at Acme"],
        "same words: the newer ranks first"
    );

    let as_of = |t| RecallOptions {
        as_of: Some(t),
        ..RecallOptions::default()
    };
    let then = p
        .recall("alice work", as_of(NOW - 200 * DAY))
        .await
        .unwrap();
    assert_eq!(then.results.len(), 1);
    assert_eq!(then.results[0].memory.content, "Alice works at Acme");
    let before = p
        .recall("alice work", as_of(NOW - 400 * DAY))
        .await
        .unwrap();
    assert!(before.results.is_empty());
    let later = p.recall("alice work", as_of(NOW)).await.unwrap();
    assert_eq!(later.results[0].memory.content, "Alice works at Initech");

    // Learning older history later keeps the chain in time order.
    let first = p
        .remember("Alice works at a bakery", employer(NOW - 500 * DAY))
        .await
        .unwrap();
    assert_eq!(
        first.memory.superseded_by.as_deref(),
        Some(acme.memory.id.as_str())
    );

    // Forgetting the newest makes the previous one current again.
    p.forget(&initech.memory.id).await.unwrap();
    let now = p
        .recall("alice work", RecallOptions::default())
        .await
        .unwrap();
    assert_eq!(now.results.len(), 1);
    assert_eq!(now.results[0].memory.content, "Alice works at Acme");
    assert_eq!(now.results[0].memory.superseded_by, None);
}

#[tokio::test]
async fn remembering_the_same_memory_twice_stores_it_once() {
    let given = given_memories();
    let p = given.memories.profile("team/alice").unwrap();
    let a = p
        .remember("Alice works at Acme", employer(NOW - 300 * DAY))
        .await
        .unwrap();
    p.remember("Alice works at Initech", employer(NOW - 100 * DAY))
        .await
        .unwrap();
    let again = p
        .remember("Alice works at Acme", employer(NOW))
        .await
        .unwrap();
    assert!(!again.added);
    assert_eq!(again.memory.id, a.memory.id);
    assert_eq!(p.count().await.unwrap(), 2);
    // Re-asserted later, the old fact is current again.
    assert_eq!(again.memory.superseded_by, None);
    assert_eq!(again.memory.occurred_at, NOW);
    let r = p
        .recall("alice work", RecallOptions::default())
        .await
        .unwrap();
    assert_eq!(r.results[0].memory.content, "Alice works at Acme");
}

#[tokio::test]
async fn newer_memories_rank_above_older_ones_on_the_same_words() {
    let given = given_memories();
    let p = given.memories.profile("team/alice").unwrap();
    p.ingest_sessions(
        vec![
            session(
                "late",
                30,
                vec![message("m-late", "alice", "I live in Berlin now")],
            ),
            session(
                "early",
                1,
                vec![message("m-early", "alice", "I live in Lisbon now")],
            ),
        ],
        None,
    )
    .await
    .unwrap();
    let r = p
        .recall("where does alice live", RecallOptions::default())
        .await
        .unwrap();
    let sources: Vec<&str> = r.results.iter().map(|r| r.sources[0].as_str()).collect();
    assert_eq!(sources, ["m-late", "m-early"]);
    assert!(r.results[0].score > 0.0);
    assert_eq!(r.results[0].matched_by, [Retriever::Fts]);
}

#[tokio::test]
async fn recall_filters_by_type_and_session() {
    let given = given_memories();
    let p = given.memories.profile("team/alice").unwrap();
    p.ingest_sessions(
        vec![
            session(
                "s1",
                1,
                vec![message("m1", "bob", "deploy the billing service")],
            ),
            session(
                "s2",
                2,
                vec![message("m2", "bob", "deploy the search service")],
            ),
        ],
        None,
    )
    .await
    .unwrap();
    p.remember(
        "Always deploy on Tuesdays",
        RememberOptions {
            kind: Some(MemoryType::Instruction),
            ..RememberOptions::default()
        },
    )
    .await
    .unwrap();
    let only = |types: Vec<MemoryType>, session: Option<&str>| RecallOptions {
        types,
        session_id: session.map(str::to_owned),
        ..RecallOptions::default()
    };
    let r = p
        .recall("deploy", only(vec![MemoryType::Instruction], None))
        .await
        .unwrap();
    assert_eq!(r.results.len(), 1);
    assert_eq!(r.results[0].memory.kind, MemoryType::Instruction);
    let r = p.recall("deploy", only(vec![], Some("s2"))).await.unwrap();
    assert_eq!(r.results.len(), 1);
    assert_eq!(r.results[0].sources, ["m2"]);
    let r = p
        .recall(
            "deploy",
            RecallOptions {
                limit: 2,
                ..RecallOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(r.results.len(), 2);
    // Stemming: "deploying" finds "deploy".
    let r = p
        .recall("deploying", RecallOptions::default())
        .await
        .unwrap();
    assert_eq!(r.results.len(), 3);
}

#[tokio::test]
async fn list_pages_with_a_stable_cursor() {
    let given = given_memories();
    let p = given.memories.profile("team/alice").unwrap();
    let messages = (0..25)
        .map(|i| message(&format!("m{i}"), "alice", &format!("note number {i}")))
        .collect();
    p.ingest_sessions(vec![session("s1", 0, messages)], None)
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = p
            .list(ListOptions {
                cursor: cursor.clone(),
                limit: 10,
                ..ListOptions::default()
            })
            .await
            .unwrap();
        pages += 1;
        seen.extend(
            page.memories
                .iter()
                .map(|m| m.source_message_ids[0].clone()),
        );
        if pages == 1 {
            // A write between pages does not shift the later ones.
            p.remember("written meanwhile", RememberOptions::default())
                .await
                .unwrap();
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..25).rev().map(|i| format!("m{i}")).collect();
    assert_eq!(seen, expected, "newest first, each once");

    let e = p
        .list(ListOptions {
            cursor: Some("bogus".into()),
            ..ListOptions::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), "INVALID_INPUT");
    assert!(e.to_string().contains("next_cursor"), "{e}");
    let only_facts = p
        .list(ListOptions {
            kind: Some(MemoryType::Fact),
            ..ListOptions::default()
        })
        .await
        .unwrap();
    assert_eq!(only_facts.memories.len(), 1);
    assert_eq!(only_facts.memories[0].content, "written meanwhile");
}

#[tokio::test]
async fn questions_with_very_common_words_still_find_the_rare_match() {
    let given = given_memories();
    let p = given.memories.profile("team/alice").unwrap();
    // 6,000 messages all saying "project update": ranking every one of them for each
    // question would be slow, so those words get left out when rarer ones exist.
    let mut messages: Vec<_> = (0..6000)
        .map(|i| {
            message(
                &format!("m{i}"),
                "bob",
                &format!("project update number {i}"),
            )
        })
        .collect();
    messages.push(message(
        "rare",
        "alice",
        "project update: the zeppelin has landed",
    ));
    messages.push(message(
        "both",
        "alice",
        "status report on the project update",
    ));
    p.ingest_sessions(vec![session("s1", 0, messages)], None)
        .await
        .unwrap();

    let r = p
        .recall("project update zeppelin", RecallOptions::default())
        .await
        .unwrap();
    assert_eq!(r.results[0].sources, ["rare"]);

    // Only common words: documents with all of them, best first.
    let r = p
        .recall("project update", RecallOptions::default())
        .await
        .unwrap();
    assert_eq!(r.results.len(), 10);
    // One common word alone still works (the slow path).
    let r = p.recall("project", RecallOptions::default()).await.unwrap();
    assert_eq!(r.results.len(), 10);
    // Filters still apply to the full candidate set.
    let r = p
        .recall(
            "project update report",
            RecallOptions {
                session_id: Some("s1".into()),
                ..RecallOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(r.results[0].sources, ["both"]);
}

#[tokio::test]
async fn a_short_reply_is_found_through_the_question_it_answers_but_only_states_itself() {
    let given = given_memories();
    let p = given.memories.profile("team/alice").unwrap();
    p.ingest_sessions(
        vec![session(
            "s1",
            0,
            vec![
                message("m1", "bob", "Have you ever been to the Azores?"),
                message("m2", "alice", "Yes, twice! Both times in spring."),
                message("m3", "bob", "Lucky you."),
            ],
        )],
        None,
    )
    .await
    .unwrap();
    let r = p
        .recall("has alice been to the azores", RecallOptions::default())
        .await
        .unwrap();
    let reply = r
        .results
        .iter()
        .find(|r| r.memory.content.starts_with("Yes, twice"))
        .expect("the reply is found through its neighbour's words");
    assert_eq!(reply.sources, ["m2"], "context is never a source");
    // Alice is named: her reply ranks first.
    assert_eq!(r.results[0].sources, ["m2"], "{r:?}");
    assert!(r.results.iter().all(|r| (0.0..=1.0).contains(&r.score)));
}

#[tokio::test]
async fn issue19_4_newer_beats_older_without_subjects_when_the_same_speaker_restates_a_thing() {
    let given = given_memories();
    let p = given.memories.profile("team/alice").unwrap();
    p.ingest_sessions(
        vec![
            session(
                "early",
                1,
                vec![message(
                    "m1",
                    "alice",
                    "My favourite programming language is Rust.",
                )],
            ),
            session(
                "later",
                90,
                vec![message(
                    "m1",
                    "alice",
                    "My favourite programming language is Go nowadays.",
                )],
            ),
            session(
                "other",
                95,
                vec![message(
                    "m1",
                    "bob",
                    "My favourite programming language is Python.",
                )],
            ),
        ],
        None,
    )
    .await
    .unwrap();
    let r = p
        .recall(
            "what is alice's favourite programming language rust",
            RecallOptions::default(),
        )
        .await
        .unwrap();
    let order: Vec<&str> = r
        .results
        .iter()
        .map(|r| r.memory.session_id.as_deref().unwrap())
        .collect();
    let later = order.iter().position(|s| *s == "later").unwrap();
    let early = order.iter().position(|s| *s == "early").unwrap();
    assert!(later < early, "the newer statement ranks first: {order:?}");
    let older = &r.results[early];
    assert_eq!(
        older.superseded_by.as_ref(),
        Some(&r.results[later].memory.id)
    );
    assert_eq!(r.results[later].superseded_by, None);
    // Another speaker's statement is not a restatement.
    let bob = r
        .results
        .iter()
        .find(|r| r.memory.speaker.as_deref() == Some("bob"))
        .unwrap();
    assert_eq!(bob.superseded_by, None);
}

/// A conversation where the answer to "how often … climbing … family" repeats none of the
/// question's words, among messages that say "climbing" and "family" themselves.
fn given_climbing_talk() -> Vec<memory::Session> {
    let mut sessions = vec![session(
        "asked",
        5,
        vec![
            message(
                "q1",
                "bob",
                "Nice photo! How often do you go climbing with your family?",
            ),
            message(
                "a1",
                "alice",
                "Three times a week, on the indoor wall downtown.",
            ),
            message("a2", "alice", "The kids love the bouldering room most."),
        ],
    )];
    for (i, text) in [
        "Climbing with family is the best way to spend a weekend.",
        "My family watched a climbing film last night.",
        "Family dinners after climbing are a tradition now.",
        "I bought new climbing shoes for the whole family.",
        "Climbing gyms are busy when every family comes at once.",
        "Our family climbing trip got rained out.",
    ]
    .iter()
    .enumerate()
    {
        sessions.push(session(
            &format!("other{i}"),
            10 + i as i64,
            vec![
                message("x1", "alice", text),
                message("x2", "bob", "Sounds great, enjoy it."),
            ],
        ));
    }
    sessions
}

#[tokio::test]
async fn issue19_item2_the_reply_to_a_matching_question_is_found_through_it_and_states_only_itself()
{
    let given = given_memories();
    let p = given.memories.profile("team/alice").unwrap();
    p.ingest_sessions(given_climbing_talk(), None)
        .await
        .unwrap();
    let question = "how often does alice go climbing with her family";
    let limit = |limit| RecallOptions {
        limit,
        ..RecallOptions::default()
    };
    let r = p.recall(question, limit(5)).await.unwrap();
    let reply = r
        .results
        .iter()
        .find(|r| r.sources == ["a1"])
        .unwrap_or_else(|| panic!("the reply is in the top 5: {r:#?}"));
    assert!(reply.matched_by.contains(&Retriever::Reply), "{reply:?}");
    assert_eq!(
        reply.sources,
        ["a1"],
        "the question is not a source of its reply"
    );
    // Alice's next message is no reply to Bob's question: it gets nothing from it.
    assert!(
        r.results
            .iter()
            .filter(|r| r.sources == ["a2"])
            .all(|r| !r.matched_by.contains(&Retriever::Reply))
    );
    // Without passing the question's score on, the reply ranks lower (context alone still
    // finds it): the pass is what lifts it.
    let plain = given.reopen_ranking(memory::Ranking {
        answer_weight: 0.0,
        ..memory::Ranking::default()
    });
    let position = |r: &memory::Recall| r.results.iter().position(|r| r.sources == ["a1"]);
    let with = position(&p.recall(question, limit(20)).await.unwrap()).unwrap();
    let without = plain
        .profile("team/alice")
        .unwrap()
        .recall(question, limit(20))
        .await
        .unwrap();
    assert!(
        without
            .results
            .iter()
            .all(|r| !r.matched_by.contains(&Retriever::Reply))
    );
    let without = position(&without).unwrap_or(usize::MAX);
    assert!(with < without, "with the pass #{with}, without #{without}");
}

#[tokio::test]
async fn issue19_item2_a_question_naming_a_day_prefers_what_was_said_that_day() {
    let given = given_memories();
    let p = given.memories.profile("team/alice").unwrap();
    // NOW is 2025-01-01: day 10 is 11 January 2025, day 40 is 10 February 2025.
    p.ingest_sessions(
        vec![
            session(
                "jan",
                10,
                vec![message("m1", "alice", "I baked sourdough bread today.")],
            ),
            session(
                "feb",
                40,
                vec![message("m1", "alice", "I baked rye bread today.")],
            ),
        ],
        None,
    )
    .await
    .unwrap();
    for question in [
        "What bread did Alice bake on 11 January, 2025?",
        "What bread did Alice bake on January 11th?",
        "what bread did alice bake on the 12th of january 2025",
    ] {
        let r = p.recall(question, RecallOptions::default()).await.unwrap();
        assert_eq!(
            r.results[0].memory.session_id.as_deref(),
            Some("jan"),
            "{question}: {r:#?}"
        );
    }
    // Without a date the newer one wins the tie.
    let r = p
        .recall("What bread did Alice bake?", RecallOptions::default())
        .await
        .unwrap();
    assert_eq!(r.results[0].memory.session_id.as_deref(), Some("feb"));
}
