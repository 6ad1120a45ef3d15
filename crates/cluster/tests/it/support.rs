use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agents::{AgentHost, Classes, HostConfig};
use cluster::testing::Postgres;
use cluster::{Cluster, ClusterConfig};
use sandbox::{Sandbox, SandboxConfig};
use store::{DataDir, Env, SequentialIds, SystemClock};

pub(crate) const TTL: Duration = Duration::from_millis(900);

/// Each turn appends its number to a list, so a lost or doubled turn shows.
pub(crate) const COUNTER: &str = r#"
import { Agent } from "agents";
export default class Counter extends Agent {
  async add(tag) {
    const turns = (await this.storage.get("turns")) ?? [];
    turns.push(tag);
    await this.storage.put("turns", turns);
    return turns.length;
  }
  async turns() { return (await this.storage.get("turns")) ?? []; }
  async later(seconds, tag) { return (await this.schedule(seconds, "add", tag)).id; }
  async pad(kb) { await this.storage.put("pad" + kb, "x".repeat(kb * 1024)); return kb; }
}
"#;

/// A private PostgreSQL; the test fails (not skips) without one.
pub(crate) fn given_postgres() -> Postgres {
    Postgres::start().unwrap_or_else(|e| panic!("cannot start a private PostgreSQL: {e}"))
}

pub(crate) async fn given_cluster(pg: &Postgres, node: &str) -> Cluster {
    Cluster::join(ClusterConfig {
        url: pg.url(),
        node_id: node.to_owned(),
        advertise: format!("127.0.0.1:{}", 1000 + node.len()),
        lease_ttl: TTL,
        connections: 2,
    })
    .await
    .expect("join the cluster")
}

/// One node: its own data directory and agent host over the shared database.
pub(crate) struct Node {
    pub host: AgentHost,
    #[allow(dead_code, reason = "kept alive with its node")]
    pub cluster: Cluster,
    pub data: Arc<DataDir>,
}

pub(crate) async fn given_node(pg: &Postgres, id: &str, dir: &Path, idle: Duration) -> Node {
    let cluster = given_cluster(pg, id).await;
    let env = Env {
        clock: Arc::new(SystemClock),
        ids: Arc::new(SequentialIds::new(id)),
    };
    let data = Arc::new(DataDir::open(dir, env).expect("data dir"));
    let sandbox = Arc::new(Sandbox::new(SandboxConfig { threads: 2 }).expect("sandbox"));
    let classes = Classes::from_sources(vec![("counter.js".into(), COUNTER.into())], &sandbox)
        .await
        .expect("classes");
    let config = HostConfig {
        idle_timeout: idle,
        durable: Some(Arc::new(cluster.clone())),
        ..HostConfig::default()
    };
    let host = AgentHost::start(Arc::clone(&data), classes, sandbox, config).expect("host");
    let wake = host.waker();
    cluster.set_waker(Box::new(move |agent| {
        let _ = wake(agent);
    }));
    Node {
        host,
        cluster,
        data,
    }
}

/// Makes every lease of `node` expire now, as if it had been paused past its lease time.
pub(crate) async fn expire_leases_of(pg: &Postgres, node: &str) {
    let (client, connection) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
        .execute(
            "UPDATE islet_leases SET expires_at = now() WHERE node_id = $1",
            &[&node],
        )
        .await
        .expect("expire");
}

/// A statement's single number.
pub(crate) async fn count(pg: &Postgres, sql: &str) -> i64 {
    let (client, connection) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client.query_one(sql, &[]).await.expect("query").get(0)
}
