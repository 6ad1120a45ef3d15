//! Durable turns: fibers, their checkpoints across a crash, the stash, and stream buffers.

use serde_json::{Value, json};
use store::{AgentDb, CheckpointKind, FiberStatus, NewMessage, ToolOutcome};

use crate::support::{Given, START_MS, given_agent};

/// The database as the next process sees it: the old connection is dropped (a turn still
/// open is lost, as in a crash) and the data directory opened again.
fn restart(given: &mut Given, db: AgentDb) -> AgentDb {
    drop(db);
    given.reopen();
    given.data.open_agent("Chat", "alice").unwrap()
}

fn kinds(db: &mut AgentDb, fiber: &str) -> Vec<(CheckpointKind, u32, Option<String>)> {
    db.fibers()
        .checkpoints(fiber)
        .unwrap()
        .into_iter()
        .map(|c| (c.kind, c.step, c.call_id))
        .collect()
}

#[test]
fn the_user_message_and_the_fiber_commit_before_inference() {
    let (mut given, mut db) = given_agent();
    let session = db.sessions().create("chat").unwrap().id;
    db.begin().unwrap();
    let question = db
        .sessions()
        .append_to_leaf(&session, &NewMessage::user("what is 2+2?"))
        .unwrap();
    let fiber = db.fibers().start("chat-turn", Some(&session)).unwrap();
    db.commit().unwrap();
    // Inference would run now; the process dies.
    let mut db = restart(&mut given, db);
    let unfinished = db.fibers().unfinished().unwrap();
    assert_eq!(unfinished, std::slice::from_ref(&fiber));
    assert_eq!(unfinished[0].session_id.as_deref(), Some(session.as_str()));
    assert_eq!(unfinished[0].status, FiberStatus::Running);
    assert_eq!(db.sessions().history(&session, None).unwrap(), [question]);
    assert_eq!(
        db.fibers().latest_of_session(&session).unwrap(),
        Some(fiber)
    );
    let next = db.fibers().start("chat-turn", Some(&session)).unwrap();
    assert_eq!(db.fibers().latest_of_session(&session).unwrap(), Some(next));
    let other = db.sessions().create("other").unwrap().id;
    assert_eq!(db.fibers().latest_of_session(&other).unwrap(), None);
}

#[test]
fn checkpoints_survive_a_crash_and_in_flight_calls_are_interrupted() {
    let (mut given, mut db) = given_agent();
    let fiber = db.fibers().start("turn", None).unwrap().id;
    let fibers = |db: &mut AgentDb| db.fibers().unfinished().unwrap().len();

    // Step 1: two tool calls, each committed before it runs; c1 finishes.
    db.fibers()
        .step_started(&fiber, &json!({"model": "m"}))
        .unwrap();
    db.fibers()
        .tool_call(
            &fiber,
            "c1",
            &json!({"name": "write", "input": {"path": "/a"}}),
        )
        .unwrap();
    db.fibers()
        .tool_call(&fiber, "c2", &json!({"name": "slow"}))
        .unwrap();
    given.clock.advance(7);
    db.fibers()
        .tool_result(&fiber, "c1", ToolOutcome::Ok, &json!("written"))
        .unwrap();
    // c2's result was being written in a turn that never committed.
    db.begin().unwrap();
    db.fibers()
        .tool_result(&fiber, "c2", ToolOutcome::Ok, &json!("lost"))
        .unwrap();
    let mut db = restart(&mut given, db);

    assert_eq!(fibers(&mut db), 1);
    let in_flight = db.fibers().in_flight(&fiber).unwrap();
    assert_eq!(in_flight.len(), 1);
    assert_eq!(in_flight[0].call_id.as_deref(), Some("c2"));
    assert_eq!(in_flight[0].data, json!({"name": "slow"}));

    let recovery = db
        .fibers()
        .recover(
            &fiber,
            &json!({"error": "interrupted: the process restarted"}),
        )
        .unwrap();
    assert_eq!(recovery.fiber.recoveries, 1);
    assert_eq!(recovery.interrupted, in_flight);
    let last = recovery.checkpoints.last().unwrap();
    assert_eq!(
        (last.kind, last.call_id.as_deref(), last.outcome),
        (
            CheckpointKind::ToolResult,
            Some("c2"),
            Some(ToolOutcome::Interrupted)
        )
    );
    // c1 completed: its result is what was recorded, so it is never run again.
    let c1 = recovery
        .checkpoints
        .iter()
        .find(|c| c.kind == CheckpointKind::ToolResult && c.call_id.as_deref() == Some("c1"))
        .unwrap();
    assert_eq!(
        (c1.outcome, &c1.data),
        (Some(ToolOutcome::Ok), &json!("written"))
    );
    assert_eq!(c1.created_at_ms, START_MS + 7);
    assert!(db.fibers().in_flight(&fiber).unwrap().is_empty());

    // The turn goes on: the step ends, another runs, the fiber completes.
    db.fibers().step_finished(&fiber, &json!({})).unwrap();
    db.fibers().step_started(&fiber, &json!({})).unwrap();
    db.fibers()
        .step_finished(&fiber, &json!({"text": "done"}))
        .unwrap();
    let done = db.fibers().complete(&fiber, &json!({"answer": 4})).unwrap();
    assert_eq!(done.status, FiberStatus::Completed);
    assert_eq!(done.result, Some(json!({"answer": 4})));
    let mut db = restart(&mut given, db);
    assert_eq!(fibers(&mut db), 0);
    let c = |k, s, id: Option<&str>| (k, s, id.map(String::from));
    assert_eq!(
        kinds(&mut db, &fiber),
        [
            c(CheckpointKind::StepStarted, 1, None),
            c(CheckpointKind::ToolCall, 1, Some("c1")),
            c(CheckpointKind::ToolCall, 1, Some("c2")),
            c(CheckpointKind::ToolResult, 1, Some("c1")),
            c(CheckpointKind::ToolResult, 1, Some("c2")),
            c(CheckpointKind::StepFinished, 1, None),
            c(CheckpointKind::StepStarted, 2, None),
            c(CheckpointKind::StepFinished, 2, None),
        ]
    );
    let seqs: Vec<u64> = db
        .fibers()
        .checkpoints(&fiber)
        .unwrap()
        .iter()
        .map(|c| c.seq)
        .collect();
    assert_eq!(seqs, (1..=8).collect::<Vec<_>>());
}

#[test]
fn checkpoints_inside_a_turn_commit_with_it() {
    let (mut given, mut db) = given_agent();
    let fiber = db.fibers().start("turn", None).unwrap().id;
    db.begin().unwrap();
    db.fibers().step_started(&fiber, &Value::Null).unwrap();
    db.fibers().tool_call(&fiber, "c1", &Value::Null).unwrap();
    db.commit().unwrap();
    let mut db = restart(&mut given, db);
    assert_eq!(kinds(&mut db, &fiber).len(), 2);
    assert_eq!(db.fibers().in_flight(&fiber).unwrap().len(), 1);
}

#[test]
fn the_stash_keeps_the_last_value_across_a_restart() {
    let (mut given, mut db) = given_agent();
    let fiber = db.fibers().start("import", None).unwrap().id;
    assert_eq!(db.fibers().get(&fiber).unwrap().stash, None);
    db.fibers().stash(&fiber, &json!({"page": 1})).unwrap();
    db.fibers()
        .stash(&fiber, &json!({"page": 2, "seen": ["a"]}))
        .unwrap();
    let mut db = restart(&mut given, db);
    let recovered = db.fibers().unfinished().unwrap().pop().unwrap();
    assert_eq!(recovered.name, "import");
    assert_eq!(recovered.stash, Some(json!({"page": 2, "seen": ["a"]})));
    let failed = db.fibers().fail(&fiber, "gave up on page 2").unwrap();
    assert_eq!(failed.status, FiberStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("gave up on page 2"));
    assert_eq!(failed.stash, Some(json!({"page": 2, "seen": ["a"]})));
    assert!(db.fibers().unfinished().unwrap().is_empty());
}

#[test]
fn a_reconnecting_client_replays_the_buffered_stream() {
    let (mut given, mut db) = given_agent();
    let fiber = db.fibers().start("turn", None).unwrap().id;
    assert_eq!(
        db.fibers()
            .push_chunk(&fiber, r#"{"type":"start"}"#)
            .unwrap(),
        1
    );
    assert_eq!(
        db.fibers()
            .push_chunks(
                &fiber,
                &[
                    r#"{"type":"text-delta","delta":"Hel"}"#,
                    r#"{"type":"text-delta","delta":"lo"}"#
                ]
            )
            .unwrap(),
        3
    );
    let mut db = restart(&mut given, db);
    let all = db.fibers().chunks_after(&fiber, 0, None).unwrap();
    assert_eq!(all.iter().map(|c| c.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(all[0].chunk, r#"{"type":"start"}"#);
    let rest = db.fibers().chunks_after(&fiber, 2, None).unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].chunk, r#"{"type":"text-delta","delta":"lo"}"#);
    assert_eq!(
        db.fibers().chunks_after(&fiber, 1, Some(1)).unwrap()[0].seq,
        2
    );
    assert!(
        db.fibers()
            .chunks_after(&fiber, 3, None)
            .unwrap()
            .is_empty()
    );
    db.fibers()
        .push_chunk(&fiber, r#"{"type":"finish"}"#)
        .unwrap();
    db.fibers().complete(&fiber, &Value::Null).unwrap();
    // A finished fiber's stream still replays until it is pruned.
    assert_eq!(db.fibers().chunks_after(&fiber, 0, None).unwrap().len(), 4);
    assert_eq!(
        db.fibers().push_chunk(&fiber, "late").unwrap_err().code(),
        "INVALID_STATE"
    );
}

#[test]
fn pruning_removes_finished_fibers_with_their_streams() {
    let (given, mut db) = given_agent();
    let old = db.fibers().start("old", None).unwrap().id;
    db.fibers().push_chunk(&old, "x").unwrap();
    db.fibers().step_started(&old, &Value::Null).unwrap();
    db.fibers().step_finished(&old, &Value::Null).unwrap();
    db.fibers().complete(&old, &Value::Null).unwrap();
    let running = db.fibers().start("running", None).unwrap().id;
    given.clock.advance(60_000);
    let recent = db.fibers().start("recent", None).unwrap().id;
    db.fibers().fail(&recent, "x").unwrap();

    assert_eq!(db.fibers().prune_finished(START_MS + 1).unwrap(), 1);
    assert_eq!(db.fibers().get(&old).unwrap_err().code(), "NOT_FOUND");
    assert_eq!(
        db.fibers().chunks_after(&old, 0, None).unwrap_err().code(),
        "NOT_FOUND"
    );
    assert_eq!(
        db.fibers().get(&running).unwrap().status,
        FiberStatus::Running
    );
    assert_eq!(
        db.fibers().get(&recent).unwrap().status,
        FiberStatus::Failed
    );
    db.fibers().delete(&running).unwrap();
    assert_eq!(
        db.fibers().delete(&running).unwrap_err().code(),
        "NOT_FOUND"
    );
    assert_eq!(db.integrity_check().unwrap(), "ok");
}

#[test]
fn deleting_a_session_keeps_its_fibers_without_it() {
    let (_given, mut db) = given_agent();
    let session = db.sessions().create("s").unwrap().id;
    let fiber = db.fibers().start("turn", Some(&session)).unwrap().id;
    db.sessions().delete(&session).unwrap();
    assert_eq!(db.fibers().get(&fiber).unwrap().session_id, None);
}

#[test]
fn checkpoints_out_of_order_are_refused() {
    let (_given, mut db) = given_agent();
    let fiber = db.fibers().start("turn", None).unwrap().id;
    let code = |r: store::Result<store::Checkpoint>| r.unwrap_err().code();

    assert_eq!(
        code(db.fibers().tool_call(&fiber, "c1", &Value::Null)),
        "INVALID_STATE"
    );
    assert_eq!(
        code(db.fibers().step_finished(&fiber, &Value::Null)),
        "INVALID_STATE"
    );
    db.fibers().step_started(&fiber, &Value::Null).unwrap();
    let err = db.fibers().step_started(&fiber, &Value::Null).unwrap_err();
    assert!(err.to_string().contains("step 1"), "{err}");
    db.fibers().tool_call(&fiber, "c1", &Value::Null).unwrap();
    assert_eq!(
        code(db.fibers().tool_call(&fiber, "c1", &Value::Null)),
        "ALREADY_EXISTS"
    );
    assert_eq!(
        code(db.fibers().tool_call(&fiber, "", &Value::Null)),
        "INVALID_ARGUMENT"
    );
    let err = db.fibers().step_finished(&fiber, &Value::Null).unwrap_err();
    assert!(err.to_string().contains("\"c1\""), "{err}");
    assert_eq!(
        db.fibers()
            .complete(&fiber, &Value::Null)
            .unwrap_err()
            .code(),
        "INVALID_STATE"
    );
    let err = db
        .fibers()
        .tool_result(&fiber, "c9", ToolOutcome::Ok, &Value::Null)
        .unwrap_err();
    assert_eq!(err.code(), "NOT_FOUND");
    assert!(err.to_string().contains("record the call"), "{err}");
    db.fibers()
        .tool_result(&fiber, "c1", ToolOutcome::Error, &json!("boom"))
        .unwrap();
    assert_eq!(
        code(
            db.fibers()
                .tool_result(&fiber, "c1", ToolOutcome::Ok, &Value::Null)
        ),
        "ALREADY_EXISTS"
    );
    // Nothing to interrupt; recovering still counts.
    assert!(
        db.fibers()
            .recover(&fiber, &Value::Null)
            .unwrap()
            .interrupted
            .is_empty()
    );
    db.fibers().step_finished(&fiber, &Value::Null).unwrap();
    db.fibers().complete(&fiber, &Value::Null).unwrap();

    // A finished fiber takes no more writes.
    for err in [
        db.fibers().step_started(&fiber, &Value::Null).unwrap_err(),
        db.fibers().stash(&fiber, &json!(1)).unwrap_err(),
        db.fibers().recover(&fiber, &Value::Null).unwrap_err(),
        db.fibers().fail(&fiber, "x").unwrap_err(),
    ] {
        assert_eq!(err.code(), "INVALID_STATE");
        assert!(err.to_string().contains("is completed"), "{err}");
    }
    let err = db.fibers().get("nope").unwrap_err();
    assert_eq!(err.code(), "NOT_FOUND");
    assert!(err.to_string().contains("\"nope\""), "{err}");
    assert_eq!(
        db.fibers().start("", None).unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        db.fibers()
            .start("turn", Some("no-such-session"))
            .unwrap_err()
            .code(),
        "NOT_FOUND"
    );
    assert_eq!(kinds(&mut db, &fiber).len(), 4);
}
