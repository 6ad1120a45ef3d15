//! Agent hosts as cluster nodes: each turn is shipped before its reply, a new owner
//! restores the agent from PostgreSQL, and a node whose lease was taken over cannot write.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{TTL, count, expire_leases_of, given_node, given_postgres};

async fn add(node: &crate::support::Node, agent: &str, tag: i64) -> Result<Value, agents::Error> {
    node.host
        .call("Counter", agent, "add", vec![json!(tag)])
        .await
}

async fn turns(node: &crate::support::Node, agent: &str) -> Vec<i64> {
    let turns = node
        .host
        .call("Counter", agent, "turns", vec![])
        .await
        .expect("turns");
    serde_json::from_value(turns).expect("numbers")
}

#[tokio::test(flavor = "multi_thread")]
async fn issue21_another_node_restores_every_acknowledged_turn_after_a_node_dies() {
    let pg = given_postgres();
    let dir_a = tempfile::tempdir().expect("dir");
    let dir_b = tempfile::tempdir().expect("dir");
    {
        let a = given_node(&pg, "a", dir_a.path(), Duration::from_secs(60)).await;
        for i in 1..=20 {
            assert_eq!(add(&a, "n1", i).await.expect("add"), json!(i));
        }
        // A larger write (several pages, an overflow chain).
        a.host
            .call("Counter", "n1", "pad", vec![json!(100)])
            .await
            .expect("pad");
        // Node `a` stops without handing its leases over (its host ends, and with it the
        // heartbeats).
        a.host.shutdown(Duration::from_secs(5)).await;
        drop(a);
    }
    let b = given_node(&pg, "b", dir_b.path(), Duration::from_secs(60)).await;
    let early = add(&b, "n1", 21).await;
    assert!(
        matches!(&early, Err(agents::Error::NotOwner { node, .. }) if node == "a"),
        "{early:?}"
    );
    tokio::time::sleep(TTL + TTL / 2).await;
    assert_eq!(add(&b, "n1", 21).await.expect("add"), json!(21));
    assert_eq!(turns(&b, "n1").await, (1..=21).collect::<Vec<_>>());
    let pad = b
        .host
        .with_db("Counter", "n1", |db| Ok(db.kv_get("pad100")?))
        .await
        .expect("read");
    assert_eq!(pad.and_then(|v| v.as_str().map(str::len)), Some(100 * 1024));
    b.host
        .with_db("Counter", "n1", |db| {
            assert_eq!(db.integrity_check()?, "ok");
            Ok(())
        })
        .await
        .expect("check");
}

#[tokio::test(flavor = "multi_thread")]
async fn issue21_hibernation_snapshots_and_compacts_the_log_and_a_restore_uses_the_snapshot() {
    let pg = given_postgres();
    let dir_a = tempfile::tempdir().expect("dir");
    let dir_b = tempfile::tempdir().expect("dir");
    let a = given_node(&pg, "a", dir_a.path(), Duration::from_millis(200)).await;
    for i in 1..=70 {
        add(&a, "s", i).await.expect("add");
    }
    // Idle: it ships, checkpoints, and (past 64 segments) stores a snapshot.
    let mut compacted = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if count(&pg, "SELECT count(*) FROM islet_agent_log").await == 0 {
            compacted = true;
            break;
        }
    }
    assert!(compacted, "the log was folded into a snapshot");
    assert_eq!(
        count(&pg, "SELECT seq FROM islet_agent_snapshots").await,
        70,
        "the snapshot covers every turn (the first segment also holds the creation)"
    );
    // Woken again on the same node: the lease was kept, nothing is restored.
    assert_eq!(add(&a, "s", 71).await.expect("add"), json!(71));
    expire_leases_of(&pg, "a").await;
    let b = given_node(&pg, "b", dir_b.path(), Duration::from_secs(60)).await;
    assert_eq!(turns(&b, "s").await, (1..=71).collect::<Vec<_>>());
    assert!(b.data.catalog_has_agent("Counter", "s").expect("catalog"));
}

#[tokio::test(flavor = "multi_thread")]
async fn issue21_a_node_whose_lease_was_taken_over_cannot_acknowledge_a_write() {
    let pg = given_postgres();
    let dir_a = tempfile::tempdir().expect("dir");
    let dir_b = tempfile::tempdir().expect("dir");
    let a = given_node(&pg, "a", dir_a.path(), Duration::from_secs(60)).await;
    let b = given_node(&pg, "b", dir_b.path(), Duration::from_secs(60)).await;
    for i in 1..=3 {
        add(&a, "f", i).await.expect("add");
    }
    // `a` is paused past its lease; `b` takes over and writes.
    expire_leases_of(&pg, "a").await;
    assert_eq!(add(&b, "f", 4).await.expect("add"), json!(4));
    // `a` still has the agent active and runs the turn locally, but the append is refused
    // by epoch: the caller gets a retriable error, not an acknowledgement.
    let refused = add(&a, "f", 99).await;
    assert!(
        matches!(&refused, Err(agents::Error::Fenced { .. })),
        "{refused:?}"
    );
    assert_eq!(
        refused.as_ref().map_err(agents::Error::kind).err(),
        Some(base_unavailable())
    );
    // Its activation ended; the next call learns who owns the agent.
    let moved = add(&a, "f", 99).await;
    assert!(
        matches!(&moved, Err(agents::Error::NotOwner { node, .. }) if node == "b"),
        "{moved:?}"
    );
    assert_eq!(turns(&b, "f").await, vec![1, 2, 3, 4]);
    // Back to `a` after `b`'s lease runs out: `a` restores `b`'s writes, discarding its own
    // refused turn.
    expire_leases_of(&pg, "b").await;
    assert_eq!(add(&a, "f", 5).await.expect("add"), json!(5));
    assert_eq!(turns(&a, "f").await, vec![1, 2, 3, 4, 5]);
}

#[tokio::test(flavor = "multi_thread")]
async fn issue21_a_call_that_could_not_be_made_durable_fails_and_is_not_applied() {
    let mut pg = given_postgres();
    let dir_a = tempfile::tempdir().expect("dir");
    let a = given_node(&pg, "a", dir_a.path(), Duration::from_secs(60)).await;
    add(&a, "p", 1).await.expect("add");
    pg.kill();
    let failed = add(&a, "p", 2).await;
    assert!(
        matches!(&failed, Err(agents::Error::NotDurable { .. })),
        "{failed:?}"
    );
    pg.resume().expect("restart postgres");
    // The node reconnects, claims the agent anew and restores it without the failed turn.
    assert_eq!(add(&a, "p", 3).await.expect("add"), json!(2));
    assert_eq!(turns(&a, "p").await, vec![1, 3]);
}

fn base_unavailable() -> base::ErrorKind {
    base::ErrorKind::Unavailable
}

#[tokio::test(flavor = "multi_thread")]
async fn issue21_a_deleted_agent_is_gone_from_the_cluster_and_starts_empty_when_called_again() {
    let pg = given_postgres();
    let dir_a = tempfile::tempdir().expect("dir");
    let dir_b = tempfile::tempdir().expect("dir");
    let a = given_node(&pg, "a", dir_a.path(), Duration::from_secs(60)).await;
    let b = given_node(&pg, "b", dir_b.path(), Duration::from_secs(60)).await;
    add(&a, "d", 1).await.expect("add");
    // Another node knows the agent exists (reads do not create agents), and that it is
    // served elsewhere.
    let read = b.host.state("Counter", "d").await;
    assert!(
        matches!(&read, Err(agents::Error::NotOwner { node, .. }) if node == "a"),
        "{read:?}"
    );
    assert!(
        a.host
            .delete(&agents::Address::new("Counter", "d"))
            .await
            .expect("delete")
    );
    assert_eq!(count(&pg, "SELECT count(*) FROM islet_agents").await, 0);
    assert_eq!(count(&pg, "SELECT count(*) FROM islet_agent_log").await, 0);
    let read = b.host.state("Counter", "d").await;
    assert!(
        matches!(&read, Err(agents::Error::NoSuchAgent { .. })),
        "{read:?}"
    );
    // Called again, it is a new, empty agent; its epochs go on from the deleted one's.
    assert_eq!(add(&a, "d", 2).await.expect("add"), json!(1));
    assert_eq!(
        count(
            &pg,
            "SELECT epoch FROM islet_leases WHERE agent = 'Counter/d'"
        )
        .await,
        1,
        "the same node kept its lease"
    );
    expire_leases_of(&pg, "a").await;
    assert_eq!(turns(&b, "d").await, vec![2]);
    assert_eq!(
        count(
            &pg,
            "SELECT epoch FROM islet_leases WHERE agent = 'Counter/d'"
        )
        .await,
        2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issue21_a_schedule_of_an_agent_whose_node_died_fires_once_on_another_node() {
    let pg = given_postgres();
    let dir_a = tempfile::tempdir().expect("dir");
    let dir_b = tempfile::tempdir().expect("dir");
    let agent = agents::Address::new("Counter", "sched");
    {
        let a = given_node(&pg, "a", dir_a.path(), Duration::from_secs(60)).await;
        add(&a, "sched", 1).await.expect("add");
        a.host
            .call("Counter", "sched", "later", vec![json!(2), json!(7)])
            .await
            .expect("schedule");
        a.host.shutdown(Duration::from_secs(5)).await;
    }
    // Nobody calls the agent on `b`: its heartbeat finds the due schedule of an agent no
    // live node holds, wakes it, claims it and runs the schedule.
    let b = given_node(&pg, "b", dir_b.path(), Duration::from_secs(60)).await;
    let mut woken = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if b.host.is_active(&agent) {
            woken = true;
            break;
        }
    }
    assert!(woken, "the agent was woken on b");
    let mut fired = Vec::new();
    for _ in 0..50 {
        fired = turns(&b, "sched").await;
        if fired.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(fired, vec![1, 7]);
    // Done: no schedule is left to wake anyone.
    tokio::time::sleep(TTL).await;
    assert_eq!(turns(&b, "sched").await, vec![1, 7]);
    assert_eq!(
        count(
            &pg,
            "SELECT count(*) FROM islet_agents WHERE next_alarm_ms IS NOT NULL"
        )
        .await,
        0
    );
}
