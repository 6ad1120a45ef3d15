//! Chat sessions: trees of messages, branches, forks, search, usage, compaction overlays.

use serde_json::{Value, json};
use store::{AgentDb, ListSessions, Message, NewMessage, PromptItem, Role, Usage};

use crate::support::{START_MS, given_agent};

/// A session titled `title` holding `texts` as alternating user/assistant messages; the
/// session's id and the messages' ids in order.
fn given_conversation(db: &mut AgentDb, title: &str, texts: &[&str]) -> (String, Vec<String>) {
    let session = db.sessions().create(title).unwrap();
    let mut ids = Vec::new();
    for (index, text) in texts.iter().enumerate() {
        let message = if index % 2 == 0 {
            NewMessage::user(text)
        } else {
            NewMessage::assistant(text)
        };
        ids.push(
            db.sessions()
                .append_to_leaf(&session.id, &message)
                .unwrap()
                .id,
        );
    }
    (session.id, ids)
}

fn texts(history: &[Message]) -> Vec<String> {
    history.iter().map(|m| m.text.clone()).collect()
}

fn message_ids(history: &[Message]) -> Vec<String> {
    history.iter().map(|m| m.id.clone()).collect()
}

/// The prompt view as text: messages by their text, summaries as `[summary]`.
fn view_texts(view: &[PromptItem]) -> Vec<String> {
    view.iter()
        .map(|item| match item {
            PromptItem::Message(m) => m.text.clone(),
            PromptItem::Summary(c) => format!("[{}]", c.summary),
        })
        .collect()
}

#[test]
fn history_runs_from_the_root_to_the_leaf() {
    let (_given, mut db) = given_agent();
    let (session, ids) = given_conversation(&mut db, "greeting", &["hi", "hello!", "how are you?"]);
    let history = db.sessions().history(&session, None).unwrap();
    assert_eq!(texts(&history), ["hi", "hello!", "how are you?"]);
    assert_eq!(message_ids(&history), ids);
    assert_eq!(history[0].parent_id, None);
    assert_eq!(history[1].parent_id.as_deref(), Some(ids[0].as_str()));
    assert_eq!(history[1].role, Role::Assistant);
    assert_eq!(history[2].created_at_ms, START_MS);
    // A history can end at any message.
    let partial = db.sessions().history(&session, Some(&ids[1])).unwrap();
    assert_eq!(texts(&partial), ["hi", "hello!"]);

    let info = db.sessions().get(&session).unwrap();
    assert_eq!(info.leaf_id.as_deref(), Some(ids[2].as_str()));
    assert_eq!(info.message_count, 3);
    assert_eq!(info.title, "greeting");
}

#[test]
fn message_ids_sort_by_creation_even_when_the_clock_goes_back() {
    let (given, mut db) = given_agent();
    let session = db.sessions().create("").unwrap().id;
    let mut created = Vec::new();
    for (step, text) in ["a", "b", "c", "d"].iter().enumerate() {
        // Same millisecond twice, then forward, then back.
        match step {
            2 => given.clock.advance(5),
            3 => given.clock.advance(-1_000),
            _ => {}
        }
        created.push(
            db.sessions()
                .append_to_leaf(&session, &NewMessage::user(text))
                .unwrap()
                .id,
        );
    }
    let mut sorted = created.clone();
    sorted.sort();
    assert_eq!(created, sorted);
    assert!(created.iter().all(|id| id.len() == 16));
    assert_eq!(created[0], format!("{:016x}", START_MS << 16));
}

#[test]
fn message_content_is_stored_as_given_and_its_text_derived() {
    let (_given, mut db) = given_agent();
    let session = db.sessions().create("parts").unwrap().id;
    let content = json!([
        {"type": "text", "text": "Look at"},
        {"type": "tool-call", "toolCallId": "c1", "input": {"code": "1+1"}},
        {"type": "text", "text": "this"}
    ]);
    let appended = db
        .sessions()
        .append_to_leaf(
            &session,
            &NewMessage::new(Role::Assistant, content.clone())
                .with_model("gpt-test")
                .with_usage(10, 3)
                .calling(["c1"]),
        )
        .unwrap();
    assert_eq!(appended.text, "Look at\nthis");
    let stored = db.sessions().message(&appended.id).unwrap();
    assert_eq!(stored, appended);
    assert_eq!(stored.content_value(), content);
    // Served as the JSON it is, not as a string of it.
    assert_eq!(serde_json::to_value(&stored).unwrap()["content"], content);
    assert_eq!(stored.model.as_deref(), Some("gpt-test"));
    assert_eq!(
        stored.usage,
        Some(Usage {
            input_tokens: 10,
            output_tokens: 3
        })
    );
    assert_eq!(stored.tool_calls, ["c1"]);
    // An OpenAI-shaped message object: its `content` string is the text.
    let openai = db
        .sessions()
        .append_to_leaf(
            &session,
            &NewMessage::new(
                Role::Tool,
                json!({"role": "tool", "tool_call_id": "c1", "content": "2"}),
            )
            .answering(["c1"]),
        )
        .unwrap();
    assert_eq!(openai.text, "2");
    // Text given explicitly wins.
    let explicit = db
        .sessions()
        .append_to_leaf(
            &session,
            &NewMessage::user("ignored").with_text("searchable"),
        )
        .unwrap();
    assert_eq!(explicit.text, "searchable");
    assert_eq!(explicit.content_value(), json!("ignored"));
}

#[test]
fn appending_under_an_earlier_message_makes_a_branch() {
    let (given, mut db) = given_agent();
    let (session, ids) = given_conversation(&mut db, "poem", &["write a poem", "roses are red"]);
    given.clock.advance(1);
    // Regenerate the answer: a second child of the question.
    let v2 = db
        .sessions()
        .append(
            &session,
            Some(&ids[0]),
            &NewMessage::assistant("violets are blue"),
        )
        .unwrap();
    assert_eq!(
        db.sessions().get(&session).unwrap().leaf_id,
        Some(v2.id.clone())
    );
    assert_eq!(
        texts(&db.sessions().history(&session, None).unwrap()),
        ["write a poem", "violets are blue"]
    );
    let branches = db.sessions().branches(&v2.id).unwrap();
    assert_eq!(branches.index, 1);
    assert_eq!(
        texts(&branches.siblings),
        ["roses are red", "violets are blue"]
    );
    assert_eq!(db.sessions().branches(&ids[1]).unwrap().index, 0);
    // The root has no siblings but itself.
    assert_eq!(db.sessions().branches(&ids[0]).unwrap().siblings.len(), 1);

    // Continue v2, then switch back to v1 and continue there.
    let after_v2 = db
        .sessions()
        .append_to_leaf(&session, &NewMessage::user("more"))
        .unwrap();
    db.sessions().set_leaf(&session, &ids[1]).unwrap();
    assert_eq!(
        texts(&db.sessions().history(&session, None).unwrap()),
        ["write a poem", "roses are red"]
    );
    db.sessions()
        .append_to_leaf(&session, &NewMessage::user("thanks"))
        .unwrap();
    assert_eq!(
        texts(&db.sessions().history(&session, None).unwrap()),
        ["write a poem", "roses are red", "thanks"]
    );
    // Where v2's conversation went: its newest leaf.
    assert_eq!(db.sessions().latest_leaf(&v2.id).unwrap().id, after_v2.id);
    assert_eq!(
        texts(&db.sessions().history(&session, Some(&after_v2.id)).unwrap()),
        ["write a poem", "violets are blue", "more"]
    );
    // A second root (an edited first question) is a branch of the first.
    let edited = db
        .sessions()
        .append(&session, None, &NewMessage::user("write a haiku"))
        .unwrap();
    assert_eq!(db.sessions().branches(&edited.id).unwrap().index, 1);
    assert_eq!(
        texts(&db.sessions().history(&session, None).unwrap()),
        ["write a haiku"]
    );
    assert_eq!(db.sessions().get(&session).unwrap().message_count, 6);
}

#[test]
fn a_fork_starts_with_the_history_up_to_the_message() {
    let (_given, mut db) = given_agent();
    let (original, ids) = given_conversation(
        &mut db,
        "plans",
        &["plan a trip", "where to?", "the alps", "nice choice"],
    );
    let fork = db.sessions().fork(&original, &ids[2], None).unwrap();
    assert_eq!(fork.title, "plans (fork)");
    assert_eq!(fork.message_count, 3);
    let origin = fork.forked_from.clone().unwrap();
    assert_eq!(
        (origin.session_id.as_str(), origin.message_id.as_str()),
        (original.as_str(), ids[2].as_str())
    );

    let forked = db.sessions().history(&fork.id, None).unwrap();
    let source = db.sessions().history(&original, Some(&ids[2])).unwrap();
    assert_eq!(texts(&forked), texts(&source));
    assert!(forked.iter().zip(&source).all(|(f, s)| f.role == s.role
        && f.content.get() == s.content.get()
        && f.created_at_ms == s.created_at_ms
        && f.id != s.id
        && f.session_id == fork.id));
    assert_eq!(fork.leaf_id, forked.last().map(|m| m.id.clone()));

    // The two go separate ways.
    db.sessions()
        .append_to_leaf(&fork.id, &NewMessage::assistant("the pyrenees instead"))
        .unwrap();
    assert_eq!(db.sessions().history(&original, None).unwrap().len(), 4);
    db.sessions().delete(&original).unwrap();
    assert_eq!(
        texts(&db.sessions().history(&fork.id, None).unwrap()),
        [
            "plan a trip",
            "where to?",
            "the alps",
            "the pyrenees instead"
        ]
    );
    // A named fork.
    let named = db
        .sessions()
        .fork(&fork.id, &forked[0].id, Some("just the start"))
        .unwrap();
    assert_eq!(named.title, "just the start");
    assert_eq!(db.sessions().history(&named.id, None).unwrap().len(), 1);
}

#[test]
fn sessions_are_listed_newest_first_a_page_at_a_time() {
    let (given, mut db) = given_agent();
    let mut created = Vec::new();
    for n in 0..5 {
        given.clock.advance(10);
        created.push(db.sessions().create(&format!("chat {n}")).unwrap().id);
    }
    // Touching a session moves it to the front.
    given.clock.advance(10);
    db.sessions().rename(&created[1], "renamed").unwrap();

    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = db
            .sessions()
            .list(&ListSessions {
                limit: Some(2),
                cursor: cursor.clone(),
            })
            .unwrap();
        assert!(page.sessions.len() <= 2);
        seen.extend(page.sessions.into_iter().map(|s| s.title));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ["renamed", "chat 4", "chat 3", "chat 2", "chat 0"]);
    let all = db.sessions().list(&ListSessions::default()).unwrap();
    assert_eq!(all.sessions.len(), 5);
    assert_eq!(all.next_cursor, None);
}

#[test]
fn deleting_a_session_removes_its_messages_from_history_and_search() {
    let (_given, mut db) = given_agent();
    let (gone, ids) = given_conversation(&mut db, "gone", &["zebra crossing"]);
    let (kept, _) = given_conversation(&mut db, "kept", &["zebra stripes"]);
    db.sessions().delete(&gone).unwrap();
    assert_eq!(db.sessions().get(&gone).unwrap_err().code(), "NOT_FOUND");
    assert_eq!(
        db.sessions().message(&ids[0]).unwrap_err().code(),
        "NOT_FOUND"
    );
    let hits = db.sessions().search_all("zebra", None).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].session_id, kept);
    assert_eq!(db.sessions().delete(&gone).unwrap_err().code(), "NOT_FOUND");
    assert_eq!(db.integrity_check().unwrap(), "ok");
}

#[test]
fn search_finds_messages_within_one_session_and_across_all() {
    let (_given, mut db) = given_agent();
    let (cooking, cooking_ids) = given_conversation(
        &mut db,
        "cooking",
        &[
            "how long do I boil an egg?",
            "Boil the egg for seven minutes, then cool it in cold water.",
            "and pasta?",
        ],
    );
    let (garden, _) = given_conversation(
        &mut db,
        "garden",
        &[
            "my eggplants are boiling in this heat",
            "water them at dawn",
        ],
    );

    let within = db.sessions().search(&cooking, "boil egg", None).unwrap();
    assert_eq!(within.len(), 2);
    assert!(
        within
            .iter()
            .all(|hit| hit.session_id == cooking && hit.session_title == "cooking")
    );
    // Ranked: both messages hold both words; BM25 prefers the shorter.
    assert_eq!(within[0].message_id, cooking_ids[0]);
    assert!(within[0].rank <= within[1].rank);
    assert!(
        within[0].snippet.contains("**boil**"),
        "{}",
        within[0].snippet
    );
    assert!(
        within[1].snippet.contains("**egg**"),
        "{}",
        within[1].snippet
    );

    // Stemming: "boiling" matches "boil"; across sessions names each hit's session.
    let across = db.sessions().search_all("boil", None).unwrap();
    let sessions: Vec<&str> = across.iter().map(|hit| hit.session_id.as_str()).collect();
    assert_eq!(across.len(), 3);
    assert!(sessions.contains(&garden.as_str()));
    let water = db.sessions().search_all("water", Some(1)).unwrap();
    assert_eq!(water.len(), 1);

    // Prefix and OR; FTS5 syntax in a query is just text.
    assert_eq!(db.sessions().search_all("eggp*", None).unwrap().len(), 1);
    assert_eq!(
        db.sessions()
            .search_all("pasta OR dawn", None)
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        db.sessions()
            .search_all("pasta AND dawn", None)
            .unwrap()
            .len(),
        0
    );
    assert!(
        db.sessions()
            .search_all("\"unbalanced NEAR(", None)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn usage_is_totalled_per_session() {
    let (_given, mut db) = given_agent();
    let session = db.sessions().create("usage").unwrap().id;
    db.sessions()
        .append_to_leaf(&session, &NewMessage::user("q"))
        .unwrap();
    let answer = db
        .sessions()
        .append_to_leaf(&session, &NewMessage::assistant("a").with_usage(120, 30))
        .unwrap();
    db.sessions()
        .append_to_leaf(&session, &NewMessage::assistant("b").with_usage(200, 5))
        .unwrap();
    let total = db
        .sessions()
        .add_usage(
            &session,
            Usage {
                input_tokens: 1,
                output_tokens: 2,
            },
        )
        .unwrap();
    assert_eq!(
        total,
        Usage {
            input_tokens: 321,
            output_tokens: 37
        }
    );
    assert_eq!(db.sessions().usage(&session).unwrap(), total);
    // A fork counts what is spent in it, from zero.
    let fork = db.sessions().fork(&session, &answer.id, None).unwrap();
    assert_eq!(fork.usage, Usage::default());
    let other = db.sessions().create("other").unwrap();
    assert_eq!(other.usage, Usage::default());
}

/// user, assistant calling c1 and c2, tool results for c1 and c2 (one message each),
/// assistant, user, assistant: ids in order.
fn given_tool_conversation(db: &mut AgentDb) -> (String, Vec<String>) {
    let session = db.sessions().create("tools").unwrap().id;
    let messages = [
        NewMessage::user("list the files"),
        NewMessage::new(
            Role::Assistant,
            json!([{"type": "tool_use", "id": "c1"}, {"type": "tool_use", "id": "c2"}]),
        )
        .calling(["c1", "c2"]),
        NewMessage::new(Role::Tool, json!({"content": "a.txt"})).answering(["c1"]),
        NewMessage::new(Role::Tool, json!({"content": "b.txt"})).answering(["c2"]),
        NewMessage::assistant("there are two files"),
        NewMessage::user("thanks"),
        NewMessage::assistant("you're welcome"),
    ];
    let ids = messages
        .iter()
        .map(|m| db.sessions().append_to_leaf(&session, m).unwrap().id)
        .collect();
    (session, ids)
}

#[test]
fn compaction_replaces_a_stretch_in_the_prompt_view_only() {
    let (_given, mut db) = given_agent();
    let (session, ids) = given_tool_conversation(&mut db);
    let compaction = db
        .sessions()
        .compact(
            &session,
            &ids[0],
            &ids[4],
            "the user listed files: a.txt, b.txt",
            9,
        )
        .unwrap();
    assert_eq!(compaction.tokens, 9);
    let view = db.sessions().prompt_view(&session, None).unwrap();
    assert_eq!(
        view_texts(&view),
        [
            "[the user listed files: a.txt, b.txt]",
            "thanks",
            "you're welcome"
        ]
    );
    // Nothing was removed: history, the message itself, search.
    assert_eq!(db.sessions().history(&session, None).unwrap().len(), 7);
    let hits = db.sessions().search(&session, "files", None).unwrap();
    let found: Vec<&str> = hits.iter().map(|hit| hit.message_id.as_str()).collect();
    assert_eq!(found, [ids[0].as_str(), ids[4].as_str()]);
    assert_eq!(
        db.sessions().compactions(&session).unwrap(),
        std::slice::from_ref(&compaction)
    );

    // A view ending inside the stretch does not use it.
    let early = db.sessions().prompt_view(&session, Some(&ids[3])).unwrap();
    assert_eq!(early.len(), 4);
    assert!(
        early
            .iter()
            .all(|item| matches!(item, PromptItem::Message(_)))
    );

    // A later compaction containing the first re-summarises; the newest applies.
    db.sessions()
        .compact(&session, &ids[0], &ids[5], "files listed; user thanked", 5)
        .unwrap();
    assert_eq!(
        view_texts(&db.sessions().prompt_view(&session, None).unwrap()),
        ["[files listed; user thanked]", "you're welcome"]
    );
    // Removing it brings the older one back.
    let newest = db.sessions().compactions(&session).unwrap().pop().unwrap();
    db.sessions().delete_compaction(&newest.id).unwrap();
    assert_eq!(db.sessions().prompt_view(&session, None).unwrap().len(), 3);

    // A fork keeps compactions within its copied history.
    let fork = db.sessions().fork(&session, &ids[5], None).unwrap();
    assert_eq!(
        view_texts(&db.sessions().prompt_view(&fork.id, None).unwrap()),
        ["[the user listed files: a.txt, b.txt]", "thanks"]
    );
    // …but not one that reaches past the fork point.
    let short = db.sessions().fork(&session, &ids[2], None).unwrap();
    assert!(db.sessions().compactions(&short.id).unwrap().is_empty());
}

#[test]
fn compaction_refuses_to_split_a_tool_call_from_its_result() {
    let (_given, mut db) = given_agent();
    let (session, ids) = given_tool_conversation(&mut db);
    // Ends between the call and its results.
    let err = db
        .sessions()
        .compact(&session, &ids[0], &ids[1], "s", 1)
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_ARGUMENT");
    assert!(err.to_string().contains("\"c1\""), "{err}");
    assert!(err.to_string().contains(&ids[1]), "{err}");
    // Ends between the two results.
    let err = db
        .sessions()
        .compact(&session, &ids[0], &ids[2], "s", 1)
        .unwrap_err();
    assert!(err.to_string().contains("\"c2\""), "{err}");
    // Starts at a result whose call is before it.
    let err = db
        .sessions()
        .compact(&session, &ids[3], &ids[5], "s", 1)
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_ARGUMENT");
    assert!(
        err.to_string()
            .contains(&format!("start the stretch at {}", ids[1])),
        "{err}"
    );
    // Whole pairs are fine.
    db.sessions()
        .compact(&session, &ids[1], &ids[3], "s", 1)
        .unwrap();
    assert_eq!(db.sessions().prompt_view(&session, None).unwrap().len(), 5);
}

#[test]
fn compaction_refuses_overlaps_and_spans_off_one_history() {
    let (_given, mut db) = given_agent();
    let (session, ids) = given_conversation(&mut db, "long", &["1", "2", "3", "4", "5", "6"]);
    db.sessions()
        .compact(&session, &ids[1], &ids[3], "2-4", 1)
        .unwrap();
    // Inside an existing one, or partly over it.
    for (first, last) in [(2, 3), (0, 2), (3, 5)] {
        let err = db
            .sessions()
            .compact(&session, &ids[first], &ids[last], "x", 1)
            .unwrap_err();
        assert_eq!(err.code(), "INVALID_ARGUMENT");
        assert!(err.to_string().contains("overlaps compaction"), "{err}");
    }
    // Disjoint is fine.
    db.sessions()
        .compact(&session, &ids[4], &ids[5], "5-6", 1)
        .unwrap();
    assert_eq!(
        view_texts(&db.sessions().prompt_view(&session, None).unwrap()),
        ["1", "[2-4]", "[5-6]"]
    );
    // First after last.
    let err = db
        .sessions()
        .compact(&session, &ids[3], &ids[1], "x", 1)
        .unwrap_err();
    assert!(err.to_string().contains("ancestors"), "{err}");
    // On another branch the existing compaction does not apply and does not conflict.
    let other = db
        .sessions()
        .append(&session, Some(&ids[2]), &NewMessage::assistant("4'"))
        .unwrap();
    db.sessions()
        .compact(&session, &ids[2], &other.id, "3-4'", 1)
        .unwrap();
    assert_eq!(
        view_texts(&db.sessions().prompt_view(&session, None).unwrap()),
        ["1", "2", "[3-4']"]
    );
}

#[test]
fn bad_input_gets_errors_that_say_what_to_do() {
    let (_given, mut db) = given_agent();
    let (session, ids) = given_conversation(&mut db, "a", &["one"]);
    let (other, other_ids) = given_conversation(&mut db, "b", &["two"]);

    let err = db.sessions().get("nope").unwrap_err();
    assert_eq!(err.code(), "NOT_FOUND");
    assert!(
        err.to_string().contains("\"nope\"") && err.to_string().contains("list"),
        "{err}"
    );
    for err in [
        db.sessions()
            .append_to_leaf("nope", &NewMessage::user("x"))
            .unwrap_err(),
        db.sessions().history("nope", None).unwrap_err(),
        db.sessions().rename("nope", "x").unwrap_err(),
        db.sessions().search("nope", "x", None).unwrap_err(),
        db.sessions()
            .add_usage("nope", Usage::default())
            .unwrap_err(),
    ] {
        assert_eq!(err.code(), "NOT_FOUND", "{err}");
    }

    // Unknown and malformed message ids.
    let unknown = format!("{:016x}", 1);
    for bad in [unknown.as_str(), "not-an-id", "", "FFFFFFFFFFFFFFFF"] {
        let err = db
            .sessions()
            .append(&session, Some(bad), &NewMessage::user("x"))
            .unwrap_err();
        assert_eq!(err.code(), "NOT_FOUND", "{bad}: {err}");
        assert!(err.to_string().contains("history"), "{err}");
    }
    assert_eq!(
        db.sessions().branches("zz").unwrap_err().code(),
        "NOT_FOUND"
    );

    // A parent, leaf or fork point of another session.
    let err = db
        .sessions()
        .append(&session, Some(&other_ids[0]), &NewMessage::user("x"))
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_ARGUMENT");
    assert!(err.to_string().contains(&other), "{err}");
    assert_eq!(
        db.sessions()
            .set_leaf(&session, &other_ids[0])
            .unwrap_err()
            .code(),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        db.sessions()
            .history(&session, Some(&other_ids[0]))
            .unwrap_err()
            .code(),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        db.sessions()
            .fork(&session, &other_ids[0], None)
            .unwrap_err()
            .code(),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        db.sessions()
            .compact(&session, &ids[0], &other_ids[0], "x", 1)
            .unwrap_err()
            .code(),
        "INVALID_ARGUMENT"
    );

    // Titles, pages, searches, labels, sizes.
    assert_eq!(
        db.sessions().create(&"t".repeat(501)).unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        db.sessions().create("two\nlines").unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
    let page = |limit, cursor: Option<&str>| ListSessions {
        limit,
        cursor: cursor.map(Into::into),
    };
    assert_eq!(
        db.sessions().list(&page(Some(0), None)).unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        db.sessions()
            .list(&page(None, Some("garbage")))
            .unwrap_err()
            .code(),
        "INVALID_ARGUMENT"
    );
    let err = db.sessions().search_all(" -- ", None).unwrap_err();
    assert_eq!(err.code(), "INVALID_ARGUMENT");
    assert_eq!(
        db.sessions().search_all("x", Some(0)).unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        db.sessions()
            .append_to_leaf(&session, &NewMessage::assistant("x").calling([""]))
            .unwrap_err()
            .code(),
        "INVALID_ARGUMENT"
    );
    let huge = Value::String("x".repeat(16 << 20));
    assert_eq!(
        db.sessions()
            .append_to_leaf(&session, &NewMessage::new(Role::User, huge))
            .unwrap_err()
            .code(),
        "TOO_LARGE"
    );
    // Nothing above changed the sessions.
    assert_eq!(db.sessions().history(&session, None).unwrap().len(), 1);
    assert_eq!(db.sessions().get(&session).unwrap().message_count, 1);
}

#[test]
fn messages_commit_and_roll_back_with_the_turn() {
    let (mut given, mut db) = given_agent();
    let (session, _) = given_conversation(&mut db, "turns", &["before"]);
    db.begin().unwrap();
    db.sessions()
        .append_to_leaf(&session, &NewMessage::user("rolled back"))
        .unwrap();
    db.rollback().unwrap();
    assert_eq!(
        texts(&db.sessions().history(&session, None).unwrap()),
        ["before"]
    );
    assert!(db.sessions().search_all("rolled", None).unwrap().is_empty());

    db.begin().unwrap();
    let kept = db
        .sessions()
        .append_to_leaf(&session, &NewMessage::user("committed"))
        .unwrap();
    db.commit().unwrap();
    drop(db);
    given.reopen();
    let mut db = given.data.open_agent("Chat", "alice").unwrap();
    let history = db.sessions().history(&session, None).unwrap();
    assert_eq!(texts(&history), ["before", "committed"]);
    assert_eq!(history[1], kept);
    assert_eq!(
        db.sessions().search_all("committed", None).unwrap().len(),
        1
    );
}

#[test]
fn the_agents_own_sql_cannot_reach_sessions() {
    let (_given, mut db) = given_agent();
    given_conversation(&mut db, "private", &["secret"]);
    for sql in [
        "SELECT * FROM _islet_messages",
        "SELECT * FROM _islet_messages_fts WHERE _islet_messages_fts MATCH 'secret'",
        "SELECT * FROM _islet_messages_fts_data",
        "DELETE FROM _islet_sessions",
        "SELECT * FROM _islet_fiber_checkpoints",
    ] {
        assert_eq!(db.sql(sql, &[]).unwrap_err().code(), "SQL", "{sql}");
    }
    assert_eq!(db.sessions().search_all("secret", None).unwrap().len(), 1);
}

#[test]
fn an_agent_database_from_before_sessions_gains_them_on_open() {
    let given = crate::support::given_data_dir();
    let path = given.data.agent_path("Chat", "old").unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    // What schema version 1 left: its migration record and a value in it.
    let old = rusqlite::Connection::open(&path).unwrap();
    old.execute_batch(
        "CREATE TABLE _islet_migrations (version INTEGER PRIMARY KEY, applied_at_ms INTEGER NOT NULL);
         INSERT INTO _islet_migrations VALUES (1, 0);
         CREATE TABLE _islet_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
         INSERT INTO _islet_kv VALUES ('kept', '42');",
    )
    .unwrap();
    drop(old);
    let mut db = given.data.open_agent("Chat", "old").unwrap();
    assert_eq!(db.kv_get("kept").unwrap(), Some(json!(42)));
    let (session, _) = given_conversation(&mut db, "new", &["hello"]);
    let fiber = db.fibers().start("turn", Some(&session)).unwrap();
    assert_eq!(db.fibers().unfinished().unwrap(), [fiber]);
    assert_eq!(db.sessions().search_all("hello", None).unwrap().len(), 1);
}

/// A history is read by scanning the table backwards when the session's messages lie
/// close together, and through the session's index when other sessions' are interleaved
/// with them; both give exactly the path, with branches left out.
#[test]
fn histories_of_interleaved_and_branched_sessions_hold_only_their_path() {
    for sessions in [1usize, 3, 8] {
        let (_given, mut db) = given_agent();
        let ids: Vec<String> = (0..sessions)
            .map(|n| db.sessions().create(&format!("s{n}")).unwrap().id)
            .collect();
        for turn in 0..20 {
            for (n, id) in ids.iter().enumerate() {
                db.sessions()
                    .append_to_leaf(id, &NewMessage::user(&format!("s{n} m{turn}")))
                    .unwrap();
            }
        }
        // A branch in the first session: an alternative to its 10th message, then back.
        let path = db.sessions().history(&ids[0], None).unwrap();
        let tenth = &path[10];
        let alternative = db
            .sessions()
            .append(
                &ids[0],
                tenth.parent_id.as_deref(),
                &NewMessage::user("s0 alt"),
            )
            .unwrap();
        assert_eq!(
            texts(
                &db.sessions()
                    .history(&ids[0], Some(&alternative.id))
                    .unwrap()
            ),
            (0..10)
                .map(|t| format!("s0 m{t}"))
                .chain(["s0 alt".to_owned()])
                .collect::<Vec<_>>()
        );
        for (n, id) in ids.iter().enumerate() {
            let expected: Vec<String> = (0..20).map(|t| format!("s{n} m{t}")).collect();
            let leaf = path.last().filter(|_| n == 0).map(|m| m.id.clone());
            assert_eq!(
                texts(&db.sessions().history(id, leaf.as_deref()).unwrap()),
                expected,
                "{sessions} sessions, session {n}"
            );
        }
    }
}
