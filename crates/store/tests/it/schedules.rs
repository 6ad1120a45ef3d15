//! Schedules: delayed, at a date, cron; due order, completion, cancel.

use serde_json::{Value, json};
use store::{Clock, ScheduleKind, When};

use crate::support::{START_MS, given_agent};

const MINUTE: i64 = 60_000;

#[test]
fn each_kind_gets_its_first_time() {
    let (_given, mut db) = given_agent();
    let delayed = db
        .schedule(When::DelayMs(5000), "remind", &json!({"text": "hi"}))
        .unwrap();
    assert_eq!(
        (delayed.kind, delayed.next_at_ms),
        (ScheduleKind::Delayed, START_MS + 5000)
    );
    assert_eq!(delayed.id, "s-1");
    assert_eq!(delayed.cron, None);

    let at = db
        .schedule(When::AtMs(START_MS + 42), "report", &Value::Null)
        .unwrap();
    assert_eq!(
        (at.kind, at.next_at_ms),
        (ScheduleKind::Scheduled, START_MS + 42)
    );

    // START_MS is 2024-01-01T00:00:00Z.
    let cron = db
        .schedule(When::Cron("*/5 * * * *".into()), "poll", &json!([1]))
        .unwrap();
    assert_eq!(cron.kind, ScheduleKind::Cron);
    assert_eq!(cron.kind, "cron");
    assert_eq!(cron.cron.as_deref(), Some("*/5 * * * *"));
    assert_eq!(cron.next_at_ms, START_MS + 5 * MINUTE);

    let daily = db
        .schedule(When::Cron("0 9 * * *".into()), "daily", &Value::Null)
        .unwrap();
    assert_eq!(daily.next_at_ms, START_MS + 9 * 60 * MINUTE);

    let seconds = db
        .schedule(When::Cron("30 * * * * *".into()), "often", &Value::Null)
        .unwrap();
    assert_eq!(seconds.next_at_ms, START_MS + 30_000);

    let order: Vec<String> = db
        .schedules()
        .unwrap()
        .into_iter()
        .map(|s| s.method)
        .collect();
    assert_eq!(order, ["report", "remind", "often", "poll", "daily"]);
    assert_eq!(db.next_alarm().unwrap(), Some(START_MS + 42));
    assert_eq!(db.get_schedule(&cron.id).unwrap(), Some(cron));
}

#[test]
fn schedules_serialize_in_camel_case() {
    let (_given, mut db) = given_agent();
    let schedule = db
        .schedule(When::DelayMs(0), "go", &json!({"a": 1}))
        .unwrap();
    assert_eq!(
        serde_json::to_value(&schedule).unwrap(),
        json!({
            "id": "s-1", "method": "go", "payload": {"a": 1}, "kind": "delayed",
            "cron": null, "nextAtMs": START_MS, "createdAtMs": START_MS,
        })
    );
}

#[test]
fn due_schedules_come_in_time_then_creation_order() {
    let (given, mut db) = given_agent();
    db.schedule(When::DelayMs(200), "third", &Value::Null)
        .unwrap();
    db.schedule(When::DelayMs(100), "first", &Value::Null)
        .unwrap();
    db.schedule(When::DelayMs(100), "second", &Value::Null)
        .unwrap();
    db.schedule(When::DelayMs(1000), "later", &Value::Null)
        .unwrap();
    // A date in the past is due at once.
    db.schedule(When::AtMs(START_MS - 1), "overdue", &Value::Null)
        .unwrap();

    assert_eq!(
        db.due_schedules(START_MS)
            .unwrap()
            .iter()
            .map(|s| s.method.as_str())
            .collect::<Vec<_>>(),
        ["overdue"]
    );
    given.clock.advance(500);
    let due: Vec<String> = db
        .due_schedules(given.clock.now_ms())
        .unwrap()
        .into_iter()
        .map(|s| s.method)
        .collect();
    assert_eq!(due, ["overdue", "first", "second", "third"]);
}

#[test]
fn completing_deletes_one_shots_and_advances_crons() {
    let (_given, mut db) = given_agent();
    let once = db
        .schedule(When::DelayMs(10), "once", &Value::Null)
        .unwrap();
    let cron = db
        .schedule(When::Cron("*/5 * * * *".into()), "poll", &Value::Null)
        .unwrap();

    db.complete_schedule(&once.id, START_MS + 10).unwrap();
    assert_eq!(db.get_schedule(&once.id).unwrap(), None);

    db.complete_schedule(&cron.id, START_MS + 5 * MINUTE)
        .unwrap();
    assert_eq!(
        db.get_schedule(&cron.id).unwrap().unwrap().next_at_ms,
        START_MS + 10 * MINUTE
    );
    // Completed late: the next time is the first match after now, missed ones are skipped.
    db.complete_schedule(&cron.id, START_MS + 16 * MINUTE + 40_000)
        .unwrap();
    assert_eq!(
        db.get_schedule(&cron.id).unwrap().unwrap().next_at_ms,
        START_MS + 20 * MINUTE
    );
    assert_eq!(db.next_alarm().unwrap(), Some(START_MS + 20 * MINUTE));

    // A schedule the method cancelled while running is not an error.
    db.complete_schedule("gone", START_MS).unwrap();
}

#[test]
fn cancel_removes_a_schedule() {
    let (_given, mut db) = given_agent();
    let schedule = db
        .schedule(When::DelayMs(10), "once", &Value::Null)
        .unwrap();
    assert!(db.cancel_schedule(&schedule.id).unwrap());
    assert!(!db.cancel_schedule(&schedule.id).unwrap());
    assert!(db.schedules().unwrap().is_empty());
    assert_eq!(db.next_alarm().unwrap(), None);
}

#[test]
fn bad_schedules_are_refused() {
    let (_given, mut db) = given_agent();
    let err = db
        .schedule(When::Cron("every minute".into()), "poll", &Value::Null)
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_CRON");
    assert!(err.to_string().contains("every minute"), "{err}");
    assert_eq!(
        db.schedule(When::Cron("61 * * * *".into()), "poll", &Value::Null)
            .unwrap_err()
            .code(),
        "INVALID_CRON"
    );
    assert_eq!(
        db.schedule(When::DelayMs(-1), "poll", &Value::Null)
            .unwrap_err()
            .code(),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        db.schedule(When::DelayMs(1), "not a method", &Value::Null)
            .unwrap_err()
            .code(),
        "INVALID_NAME"
    );
    assert!(db.schedules().unwrap().is_empty());
}
