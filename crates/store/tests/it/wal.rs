//! Shipping committed WAL frames and rebuilding a database from them (cluster mode, issue 21).

use serde_json::{Value, json};
use store::WalCursor;

use crate::support::{given_agent, given_data_dir};

/// Ships whatever was committed since the cursor last looked.
fn ship(cursor: &mut WalCursor, log: &mut Vec<Vec<u8>>) -> usize {
    match cursor.committed().expect("read the log") {
        Some(segment) => {
            log.push(segment.bytes.clone());
            cursor.advance(&segment);
            segment.commits
        }
        None => 0,
    }
}

fn all(db: &mut store::AgentDb) -> Vec<(String, Value)> {
    db.kv_list(&Default::default()).expect("list")
}

#[test]
fn issue21_segments_rebuild_the_database_across_commits_rollbacks_and_checkpoints() {
    let (given, mut db) = given_agent();
    db.set_auto_checkpoint(false).expect("autocheckpoint off");
    let path = given.data.agent_path("Chat", "alice").expect("path");
    let image = std::fs::read(&path).expect("image");
    let mut cursor = WalCursor::new(&path);
    let mut log = Vec::new();
    // The migrations that created the database are in the log already.
    assert!(ship(&mut cursor, &mut log) >= 1);
    for i in 0..20 {
        db.transaction(|db| db.kv_put(&format!("k{i}"), &json!(i)))
            .expect("put");
    }
    assert_eq!(ship(&mut cursor, &mut log), 20);
    assert_eq!(ship(&mut cursor, &mut log), 0, "nothing new");
    // A rolled-back turn ships nothing.
    db.begin().expect("begin");
    db.kv_put("gone", &json!("x".repeat(100_000))).expect("put");
    db.rollback().expect("rollback");
    assert_eq!(ship(&mut cursor, &mut log), 0);
    // A checkpoint after shipping restarts the log; the cursor follows the new generation.
    db.checkpoint().expect("checkpoint");
    db.transaction(|db| db.kv_put("after", &json!("checkpoint")))
        .expect("put");
    db.transaction(|db| db.kv_delete("k3").map(drop))
        .expect("delete");
    assert_eq!(ship(&mut cursor, &mut log), 2);
    let expected = all(&mut db);

    let other = given_data_dir();
    other
        .data
        .restore_agent("Chat", "alice", &image, &log)
        .expect("restore");
    let mut restored = other.data.open_agent("Chat", "alice").expect("open");
    assert_eq!(restored.integrity_check().expect("check"), "ok");
    assert_eq!(all(&mut restored), expected);
    assert_eq!(restored.kv_get("k3").expect("get"), None);
    assert_eq!(
        restored.kv_get("after").expect("get"),
        Some(json!("checkpoint"))
    );
    assert!(
        other
            .data
            .catalog_has_agent("Chat", "alice")
            .expect("catalog"),
        "a restored agent is in its node's catalog"
    );
}

#[test]
fn issue21_a_snapshot_taken_after_a_checkpoint_plus_later_segments_rebuild_the_database() {
    let (given, mut db) = given_agent();
    db.set_auto_checkpoint(false).expect("autocheckpoint off");
    let path = given.data.agent_path("Chat", "alice").expect("path");
    let mut cursor = WalCursor::new(&path);
    let mut log = Vec::new();
    for i in 0..5 {
        db.transaction(|db| db.kv_put(&format!("k{i}"), &json!(i)))
            .expect("put");
    }
    ship(&mut cursor, &mut log);
    db.checkpoint().expect("checkpoint");
    let snapshot = std::fs::read(&path).expect("image");
    log.clear();
    db.transaction(|db| db.kv_put("k9", &json!("x".repeat(20_000))))
        .expect("put");
    assert_eq!(ship(&mut cursor, &mut log), 1);
    // Shipping a segment twice (an append that was stored but whose answer was lost) is
    // harmless: frames are whole pages, applied in order.
    let twice = vec![log[0].clone(), log[0].clone()];
    let expected = all(&mut db);
    let other = given_data_dir();
    other
        .data
        .restore_agent("Chat", "alice", &snapshot, &twice)
        .expect("restore");
    let mut restored = other.data.open_agent("Chat", "alice").expect("open");
    assert_eq!(restored.integrity_check().expect("check"), "ok");
    assert_eq!(all(&mut restored), expected);
}

#[test]
fn issue21_a_malformed_segment_is_refused() {
    let given = given_data_dir();
    let refused = given
        .data
        .restore_agent("Chat", "bob", &[], &[vec![0, 0, 16, 0, 1, 2, 3]]);
    assert!(refused.is_err(), "{refused:?}");
}
