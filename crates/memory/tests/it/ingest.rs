//! Ingest: the deterministic extractor, idempotence, chunking, the file format and its
//! errors, and all-or-nothing writes.

use crate::{NOW, given_conversation, given_memories, message, session};
use memory::{ListOptions, MemoryType, parse_ingest_file};

#[tokio::test]
async fn reingesting_the_same_conversation_stores_nothing_new() {
    let given = given_memories();
    let p = given.memories.profile("team/alice").unwrap();
    let conversation = given_conversation();
    let first = p.ingest_sessions(conversation.clone(), None).await.unwrap();
    assert_eq!(first.messages, 440);
    assert!(first.added > 440, "long messages add chunks: {first:?}");
    assert_eq!(first.unchanged, 0);
    let count = p.count().await.unwrap();
    assert_eq!(count, first.added as u64);

    given.clock.advance(1000);
    let again = p.ingest_sessions(conversation, None).await.unwrap();
    assert_eq!(again.added, 0);
    assert_eq!(again.unchanged, first.added);
    assert_eq!(p.count().await.unwrap(), count);
}

#[tokio::test]
async fn every_message_is_retrievable_with_speaker_time_session_and_source() {
    let given = given_memories();
    let p = given.memories.profile("team/alice").unwrap();
    let mut late = message("m2", "bob", "Sure, see you there.");
    late.occurred_at = Some(NOW + 5 * crate::DAY + 3_600_000);
    let report = p
        .ingest_sessions(
            vec![session(
                "s1",
                2,
                vec![
                    message("m1", "alice", "Lunch at noon?"),
                    late,
                    message("m3", "carol", "   "),
                ],
            )],
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (report.messages, report.skipped, report.added),
        (3, 1, 2),
        "{report:?}"
    );
    let page = p.list(ListOptions::default()).await.unwrap();
    let m1 = page.memories.iter().find(|m| m.content == "Lunch at noon?");
    let m1 = m1.expect("m1 stored");
    assert_eq!(m1.kind, MemoryType::Event);
    assert_eq!(m1.speaker.as_deref(), Some("alice"));
    assert_eq!(m1.session_id.as_deref(), Some("s1"));
    assert_eq!(m1.occurred_at, NOW + 2 * crate::DAY);
    assert_eq!(m1.created_at, NOW);
    assert_eq!(m1.source_message_ids, ["m1"]);
    let m2 = page
        .memories
        .iter()
        .find(|m| m.source_message_ids == ["m2"]);
    assert_eq!(m2.unwrap().occurred_at, NOW + 5 * crate::DAY + 3_600_000);

    let json = serde_json::to_value(m1).unwrap();
    assert_eq!(json["type"], "event");
    assert_eq!(json["occurredAt"], "2025-01-03T00:00:00Z");
    assert_eq!(json["supersededBy"], serde_json::Value::Null);
}

#[tokio::test]
async fn long_messages_are_split_at_sentence_boundaries() {
    let given = given_memories();
    let p = given.memories.profile("team/alice").unwrap();
    p.ingest_sessions(given_conversation(), None).await.unwrap();
    let page = p
        .list(ListOptions {
            session_id: Some("s08".into()),
            limit: 1000,
            ..ListOptions::default()
        })
        .await
        .unwrap();
    let chunks: Vec<&memory::Memory> = page
        .memories
        .iter()
        .filter(|m| m.source_message_ids == ["s08-m01"])
        .collect();
    assert!(chunks.len() >= 2, "{} chunks", chunks.len());
    for c in &chunks {
        assert!(c.content.chars().count() <= 1200, "{}", c.content.len());
        assert!(c.content.ends_with('.'), "ends mid-sentence: {}", c.content);
        assert_eq!(c.speaker.as_deref(), Some("dan"));
    }
    let original = &given_conversation()[7].messages[0].text;
    let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    let mut rejoined: Vec<String> = Vec::new();
    for c in chunks.iter().rev() {
        rejoined.extend(words(&c.content));
    }
    assert_eq!(
        rejoined,
        words(original),
        "chunks keep every word, in order"
    );
}

#[test]
fn malformed_ingest_files_name_the_json_path() {
    let cases: &[(&str, &str)] = &[
        ("not json", "(top level)"),
        (r#"{"session_id": "s1"}"#, "(top level)"),
        (
            r#"[{"date": "2024-01-01", "messages": []}]"#,
            "[0].sessionId",
        ),
        (
            r#"[{"session_id": "s1", "date": "yesterday", "messages": []}]"#,
            "[0].date",
        ),
        (
            r#"[{"session_id": "s1", "date": "2024-02-30", "messages": []}]"#,
            "[0].date",
        ),
        (
            r#"[{"session_id": "s1", "date": "2024-01-01"}]"#,
            "[0].messages",
        ),
        (
            r#"[{"session_id": "s1", "date": "2024-01-01", "messages": []},
                {"session_id": "s2", "date": "2024-01-02", "messages": [
                  {"id": "a", "speaker": "x", "text": "ok"},
                  {"id": "b", "speaker": "x"}]}]"#,
            "[1].messages[1].text",
        ),
        (
            r#"[{"session_id": "s1", "date": "2024-01-01", "messages": [
                  {"id": 7, "speaker": "x", "text": "ok"}]}]"#,
            "[0].messages[0].id",
        ),
        (
            r#"[{"session_id": "s1", "date": "2024-01-01", "messages": [
                  {"id": "a", "speaker": "x", "text": "ok"},
                  {"id": "a", "speaker": "y", "text": "again"}]}]"#,
            "[0].messages[1].id",
        ),
        (
            r#"[{"session_id": "s1", "date": "2024-01-01", "messages": [
                  {"id": "a", "speaker": "x", "text": "ok", "date": "noon"}]}]"#,
            "[0].messages[0].date",
        ),
    ];
    for (file, path) in cases {
        let e = parse_ingest_file(file.as_bytes()).expect_err(file);
        assert_eq!(e.code(), "INVALID_INGEST", "{file}");
        let text = e.to_string();
        assert!(text.contains(&format!("`{path}`")), "{path} not in: {text}");
        assert!(text.contains("nothing was written"), "{text}");
    }
    let e = parse_ingest_file(
        br#"[{"session_id": "s1", "date": "2024-01-01", "messages": [{"id": "a", "speaker": "x"}]}]"#,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid ingest input at `[0].messages[0].text`: missing; nothing was written"
    );
}

#[test]
fn ingest_dates_accept_dates_and_date_times_with_offsets() {
    let sessions = parse_ingest_file(
        br#"[{"session_id": "s1", "date": "2024-03-01", "messages": [
              {"id": "a", "speaker": "x", "text": "one", "date": "2024-03-01T09:30:00+01:00"},
              {"id": "b", "speaker": "x", "text": "two", "date": "2024-03-01T08:30Z"},
              {"id": "c", "speaker": "x", "text": "three"}]}]"#,
    )
    .unwrap();
    let s = &sessions[0];
    assert_eq!(
        memory::format_iso8601(s.occurred_at),
        "2024-03-01T00:00:00Z"
    );
    assert_eq!(s.messages[0].occurred_at, s.messages[1].occurred_at);
    assert_eq!(
        memory::format_iso8601(s.messages[0].occurred_at.unwrap()),
        "2024-03-01T08:30:00Z"
    );
    assert_eq!(s.messages[2].occurred_at, None);
}

#[tokio::test]
async fn a_bad_session_anywhere_in_a_call_writes_nothing() {
    let given = given_memories();
    let p = given.memories.profile("team/alice").unwrap();
    p.ingest_sessions(
        vec![session(
            "s0",
            0,
            vec![message("m0", "alice", "first words")],
        )],
        None,
    )
    .await
    .unwrap();
    let bad = vec![
        session("s1", 1, vec![message("m1", "alice", "fine")]),
        session(
            "s2",
            2,
            vec![
                message("m2", "bob", "also fine"),
                message("m2", "bob", "same id again"),
            ],
        ),
    ];
    let e = p.ingest_sessions(bad, None).await.unwrap_err();
    assert_eq!(e.code(), "INVALID_INGEST");
    assert!(e.to_string().contains("[1].messages[1].id"), "{e}");
    assert_eq!(p.count().await.unwrap(), 1);

    // A session id is required for a bare list of messages.
    let e = p
        .ingest(
            vec![message("m1", "a", "b")],
            memory::IngestOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "INVALID_INPUT");
    assert!(e.to_string().contains("session_id"), "{e}");
}
