//! Detached delegations: recorded when they start, ended once, and marked interrupted by a
//! restart.

use serde_json::json;
use store::{DelegationStatus, NewDelegation};

use crate::support::given_agent;

fn task(tool: &str) -> NewDelegation<'_> {
    NewDelegation {
        tool,
        child_class: "Researcher",
        child_name: tool,
        session_id: "s1",
        task: &TASK,
        on_done: Some("researched"),
    }
}

static TASK: std::sync::LazyLock<serde_json::Value> =
    std::sync::LazyLock::new(|| json!({"task": "find out"}));

#[test]
fn issue16_a_delegation_ends_once_and_lists_newest_first() {
    let (_given, mut db) = given_agent();
    let first = db.delegations().start(&task("research")).unwrap();
    assert_eq!(first.status, DelegationStatus::Running);
    assert_eq!(first.task, json!({"task": "find out"}));
    let second = db.delegations().start(&task("review")).unwrap();
    let done = db
        .delegations()
        .finish(&first.id, DelegationStatus::Completed, Some("found"), None)
        .unwrap();
    assert_eq!(done.status, DelegationStatus::Completed);
    assert_eq!(done.result.as_deref(), Some("found"));
    // A second ending does not overwrite the first.
    let again = db
        .delegations()
        .finish(&first.id, DelegationStatus::Failed, None, Some("late"))
        .unwrap();
    assert_eq!(again, done);
    let listed: Vec<String> = db
        .delegations()
        .list(10)
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(listed, [second.id.clone(), first.id.clone()]);
    assert!(
        db.delegations()
            .finish(&second.id, DelegationStatus::Running, None, None)
            .is_err()
    );
    let missing = db.delegations().get("nope").unwrap_err().to_string();
    assert!(missing.contains("no delegation"), "{missing}");
}

#[test]
fn issue16_a_restart_marks_running_delegations_interrupted() {
    let (mut given, mut db) = given_agent();
    let running = db.delegations().start(&task("research")).unwrap();
    let finished = db.delegations().start(&task("review")).unwrap();
    db.delegations()
        .finish(
            &finished.id,
            DelegationStatus::TimedOut,
            None,
            Some("budget"),
        )
        .unwrap();
    drop(db);
    given.reopen();
    let mut db = given.data.open_agent("Chat", "alice").unwrap();
    let interrupted = db.delegations().interrupt_running().unwrap();
    assert_eq!(interrupted.len(), 1);
    assert_eq!(interrupted[0].id, running.id);
    assert_eq!(interrupted[0].status, DelegationStatus::Interrupted);
    assert!(db.delegations().interrupt_running().unwrap().is_empty());
    assert_eq!(
        db.delegations().get(&finished.id).unwrap().status,
        DelegationStatus::TimedOut
    );
}
