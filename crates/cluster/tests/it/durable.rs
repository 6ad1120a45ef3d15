//! Leases, epochs and the durable copy, through the `agents::Durable` implementation.

use agents::{Address, Claim, Durable};

use crate::support::{TTL, expire_leases_of, given_cluster, given_postgres};

#[tokio::test(flavor = "multi_thread")]
async fn issue21_a_live_lease_is_kept_by_its_node_and_refused_to_others() {
    let pg = given_postgres();
    let a = given_cluster(&pg, "a").await;
    let b = given_cluster(&pg, "b").await;
    let agent = Address::new("Counter", "x/y");
    assert_eq!(
        a.claim(&agent).await.expect("claim"),
        Claim::New { epoch: 1 }
    );
    assert_eq!(
        b.claim(&agent).await.expect("claim"),
        Claim::Elsewhere {
            node: "a".into(),
            advertise: "127.0.0.1:1001".into()
        }
    );
    assert_eq!(
        a.claim(&agent).await.expect("claim"),
        Claim::Kept { epoch: 1, seq: 0 }
    );
    assert_eq!(
        b.owner(&agent).await.expect("owner"),
        cluster::Owner::Node {
            node: "a".into(),
            advertise: "127.0.0.1:1001".into()
        }
    );
    // Heartbeats renew the lease well past its time.
    tokio::time::sleep(TTL * 3).await;
    assert!(matches!(b.claim(&agent).await, Ok(Claim::Elsewhere { .. })));
}

#[tokio::test(flavor = "multi_thread")]
async fn issue21_a_dead_nodes_lease_is_claimed_with_the_next_epoch_and_its_log_restored() {
    let pg = given_postgres();
    let agent = Address::new("Counter", "c");
    {
        let a = given_cluster(&pg, "a").await;
        assert_eq!(
            a.claim(&agent).await.expect("claim"),
            Claim::New { epoch: 1 }
        );
        a.snapshot(&agent, 1, 0, b"image".to_vec())
            .await
            .expect("snapshot");
        a.append(&agent, 1, 1, b"one".to_vec(), None)
            .await
            .expect("append");
        a.append(&agent, 1, 2, b"two".to_vec(), None)
            .await
            .expect("append");
        assert!(a.exists(&agent).await.expect("exists"));
        // `a` dies: no more heartbeats.
    }
    let b = given_cluster(&pg, "b").await;
    assert!(matches!(b.claim(&agent).await, Ok(Claim::Elsewhere { .. })));
    tokio::time::sleep(TTL + TTL / 2).await;
    assert_eq!(
        b.claim(&agent).await.expect("claim"),
        Claim::New { epoch: 2 }
    );
    let copy = b.restore(&agent, 2).await.expect("restore");
    assert_eq!(copy.image, b"image");
    assert_eq!(copy.segments, vec![b"one".to_vec(), b"two".to_vec()]);
    assert_eq!(copy.seq, 2);
    // A snapshot compacts the log it covers.
    b.append(&agent, 2, 3, b"three".to_vec(), None)
        .await
        .expect("append");
    b.snapshot(&agent, 2, 3, b"image3".to_vec())
        .await
        .expect("snapshot");
    b.append(&agent, 2, 4, b"four".to_vec(), None)
        .await
        .expect("append");
    let copy = b.restore(&agent, 2).await.expect("restore");
    assert_eq!((copy.image.as_slice(), copy.seq), (&b"image3"[..], 4));
    assert_eq!(copy.segments, vec![b"four".to_vec()]);
    assert_eq!(
        crate::support::count(&pg, "SELECT count(*) FROM islet_agent_log").await,
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issue21_writes_under_a_stale_epoch_are_refused() {
    let pg = given_postgres();
    let a = given_cluster(&pg, "a").await;
    let b = given_cluster(&pg, "b").await;
    let agent = Address::new("Counter", "f");
    assert_eq!(
        a.claim(&agent).await.expect("claim"),
        Claim::New { epoch: 1 }
    );
    a.append(&agent, 1, 1, b"one".to_vec(), None)
        .await
        .expect("append");
    // `a` is paused past its lease; `b` takes the agent over.
    expire_leases_of(&pg, "a").await;
    assert_eq!(
        b.claim(&agent).await.expect("claim"),
        Claim::New { epoch: 2 }
    );
    let refused = a.append(&agent, 1, 2, b"stale".to_vec(), None).await;
    assert!(
        matches!(refused, Err(agents::Error::Fenced { .. })),
        "{refused:?}"
    );
    let refused = a.snapshot(&agent, 1, 1, b"stale".to_vec()).await;
    assert!(
        matches!(refused, Err(agents::Error::Fenced { .. })),
        "{refused:?}"
    );
    let refused = a.delete(&agent, 1).await;
    assert!(
        matches!(refused, Err(agents::Error::Fenced { .. })),
        "{refused:?}"
    );
    // The refused node learned it: its next claim asks the database, which names `b`.
    assert!(matches!(a.claim(&agent).await, Ok(Claim::Elsewhere { node, .. }) if node == "b"));
    let copy = b.restore(&agent, 2).await.expect("restore");
    assert_eq!(copy.segments, vec![b"one".to_vec()]);
    // Even the expired holder cannot write once its lease ran out, whoever claims next.
    expire_leases_of(&pg, "b").await;
    let refused = b.append(&agent, 2, 2, b"late".to_vec(), None).await;
    assert!(
        matches!(refused, Err(agents::Error::Fenced { .. })),
        "{refused:?}"
    );
    assert_eq!(
        b.claim(&agent).await.expect("claim"),
        Claim::New { epoch: 3 }
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issue21_a_database_outage_fails_calls_and_the_node_reconnects() {
    let mut pg = given_postgres();
    let a = given_cluster(&pg, "a").await;
    let agent = Address::new("Counter", "o");
    assert_eq!(
        a.claim(&agent).await.expect("claim"),
        Claim::New { epoch: 1 }
    );
    pg.kill();
    // Give the pool time to see its connections closed, so the append fails on
    // reconnecting (the path CI hit) rather than on its statement.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let failed = a.append(&agent, 1, 1, b"one".to_vec(), None).await;
    assert!(
        matches!(failed, Err(agents::Error::NotDurable { .. })),
        "{failed:?}"
    );
    pg.resume().expect("restart postgres");
    // The failed append made the node forget the agent: it claims anew (its local copy
    // may be ahead of the durable one) and gets the next epoch.
    assert_eq!(
        a.claim(&agent).await.expect("claim"),
        Claim::New { epoch: 2 }
    );
    a.append(&agent, 2, 1, b"one".to_vec(), None)
        .await
        .expect("append");
}

#[tokio::test(flavor = "multi_thread")]
async fn issue21_a_lease_claimed_while_a_heartbeat_runs_is_not_taken_for_lost() {
    let pg = given_postgres();
    // Heartbeats every 100 ms while hundreds of claims go on: a claim that commits after
    // a heartbeat's renewal read the leases must not be dropped by that heartbeat.
    let a = cluster::Cluster::join(cluster::ClusterConfig {
        url: pg.url(),
        node_id: "a".into(),
        advertise: "127.0.0.1:1".into(),
        lease_ttl: std::time::Duration::from_millis(300),
        connections: 4,
    })
    .await
    .expect("join");
    // Many other leases of the node make each heartbeat's renewal take a while.
    let (client, connection) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
        .execute(
            "INSERT INTO islet_leases (agent, node_id, epoch, claimed_at, expires_at)
             SELECT 'Other/' || g, 'a', 1, now(), now() + interval '1 hour'
               FROM generate_series(1, 20000) g",
            &[],
        )
        .await
        .expect("leases");
    let claims: Vec<_> = (0..400)
        .map(|i| {
            let a = a.clone();
            tokio::spawn(async move {
                // Spread over several heartbeats.
                tokio::time::sleep(std::time::Duration::from_millis(i)).await;
                let agent = Address::new("Counter", format!("r{i}"));
                let Claim::New { epoch } = a.claim(&agent).await.expect("claim") else {
                    panic!("a first claim is new");
                };
                tokio::time::sleep(std::time::Duration::from_millis(150)).await;
                a.restore(&agent, epoch).await.map(drop)
            })
        })
        .collect();
    for claim in claims {
        let restored = claim.await.expect("task");
        assert!(restored.is_ok(), "{restored:?}");
    }
}

/// Routing a request for another node's agent reads its owner from the database once, then
/// remembers it briefly (a tenth of the lease time, at most a second); a forward that
/// failed makes the router forget it.
#[tokio::test(flavor = "multi_thread")]
async fn issue21_the_owner_of_another_nodes_agent_is_remembered_until_forgotten() {
    let pg = given_postgres();
    let join = |node: &str| {
        cluster::Cluster::join(cluster::ClusterConfig {
            url: pg.url(),
            node_id: node.to_owned(),
            advertise: format!("127.0.0.1:{}", 1000 + node.len()),
            lease_ttl: std::time::Duration::from_secs(10),
            connections: 1,
        })
    };
    let a = join("a").await.expect("join");
    let b = join("b").await.expect("join");
    let agent = Address::new("Counter", "routed");
    assert_eq!(
        a.claim(&agent).await.expect("claim"),
        Claim::New { epoch: 1 }
    );
    let at_a = cluster::Owner::Node {
        node: "a".into(),
        advertise: "127.0.0.1:1001".into(),
    };
    assert_eq!(b.owner(&agent).await.expect("owner"), at_a);
    // The lease runs out in the database; within the window, b still routes to a (whose
    // refusal would be retriable), without a query.
    expire_leases_of(&pg, "a").await;
    assert_eq!(b.owner(&agent).await.expect("owner"), at_a);
    b.forget_owner(&agent);
    assert_eq!(b.owner(&agent).await.expect("owner"), cluster::Owner::Here);
}
