//! Cluster mode (issue 21): `islet serve --cluster` nodes on loopback over a private
//! PostgreSQL, forwarding, failover after `kill -9`, fencing of a node frozen with SIGSTOP.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cluster::testing::Postgres;
use serde_json::{Value, json};

use crate::support::client;

const TOKEN: &str = "cluster-test-token";

/// Each turn appends its tag to a list and returns the list's length: an acknowledged
/// turn's tag must sit at that position for good, once, whatever node served it.
const TALLY: &str = r#"
import { Agent } from "agents";
export default class Tally extends Agent {
  async add(tag) {
    const turns = (await this.storage.get("turns")) ?? [];
    turns.push(tag);
    await this.storage.put("turns", turns);
    return turns.length;
  }
  async turns() { return (await this.storage.get("turns")) ?? []; }
  async slow(tag, ms) {
    const turns = (await this.storage.get("turns")) ?? [];
    turns.push(tag);
    await this.storage.put("turns", turns);
    await new Promise((resolve) => setTimeout(resolve, ms));
    return turns.length;
  }
}
"#;

fn given_postgres() -> Postgres {
    Postgres::start().unwrap_or_else(|e| panic!("cannot start a private PostgreSQL: {e}"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Node {
    child: Child,
    base: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

/// Starts node `id` of the cluster at `pg` on a free loopback port.
fn given_node(pg: &Postgres, dir: &Path, id: &str, ttl_secs: f64) -> Node {
    let agents = dir.join("agents");
    std::fs::create_dir_all(&agents).unwrap();
    std::fs::write(agents.join("tally.js"), TALLY).unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_islet"))
        .args(["serve", "--listen", &addr, "--advertise", &addr, "--agents"])
        .arg(&agents)
        .arg("--data")
        .arg(dir.join(format!("data-{id}")))
        .args(["--auth-token", TOKEN, "--isolation", "inprocess"])
        .args(["--cluster", &pg.url(), "--node-id", id])
        .args(["--lease-ttl", &ttl_secs.to_string()])
        .env_remove("ISLET_AUTH_TOKEN")
        .env_remove("ISLET_CLUSTER")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("islet serve starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = lines
            .next()
            .expect("islet serve printed its address before exiting")
            .unwrap();
        if line.starts_with("islet serve: ") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Node {
        child,
        base: format!("http://{addr}"),
    }
}

/// What a call answered: the status and the JSON body (`None` when the node could not be
/// reached at all: a connection refused by a killed node).
async fn call(base: &str, agent: &str, method: &str, args: Value) -> Option<(u16, Value)> {
    let response = client()
        .post(format!("{base}/agents/Tally/{agent}/{method}"))
        .bearer_auth(TOKEN)
        .body(args.to_string())
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .ok()?;
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    Some((status, body))
}

async fn turns(base: &str, agent: &str) -> Vec<i64> {
    for _ in 0..100 {
        if let Some((200, body)) = call(base, agent, "turns", json!([])).await {
            return serde_json::from_value(body["result"].clone()).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{agent}'s turns could not be read through {base}");
}

/// A retriable failure: 503 with one of the cluster's codes (or the node was unreachable).
fn retriable(answer: &Option<(u16, Value)>) -> bool {
    match answer {
        None => true,
        Some((503, body)) => matches!(
            body["error"]["code"].as_str(),
            Some("NOT_OWNER" | "FENCED" | "NOT_DURABLE" | "SHUTTING_DOWN")
        ),
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn issue21_three_nodes_serve_every_agent_through_any_node() {
    let pg = given_postgres();
    let dir = tempfile::tempdir().unwrap();
    let nodes: Vec<Node> = ["n1", "n2", "n3"]
        .iter()
        .map(|id| given_node(&pg, dir.path(), id, 5.0))
        .collect();
    for (i, agent) in ["a", "b", "c", "d", "e", "f"].iter().enumerate() {
        // Each agent is created through one node and written through all three.
        for round in 0..3 {
            let node = &nodes[(i + round) % 3];
            let tag = i64::try_from(round).unwrap() + 1;
            let answer = call(&node.base, agent, "add", json!([tag])).await;
            assert_eq!(
                answer.as_ref().map(|(s, b)| (*s, b["result"].clone())),
                Some((200, json!(tag))),
                "{agent} through {}: {answer:?}",
                node.base
            );
        }
        for node in &nodes {
            assert_eq!(turns(&node.base, agent).await, vec![1, 2, 3]);
        }
    }
    // `islet cluster status` sees the three nodes and the six agents' leases.
    let out = Command::new(env!("CARGO_BIN_EXE_islet"))
        .args(["cluster", "status", "--cluster", &pg.url(), "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    let nodes_seen: Vec<&str> = status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["nodeId"].as_str().unwrap())
        .collect();
    assert_eq!(nodes_seen, ["n1", "n2", "n3"]);
    assert_eq!(status["leases"].as_array().unwrap().len(), 6, "{status}");
    assert_eq!(status["agents"], 6, "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn issue21_kill_9_of_a_node_under_load_loses_no_acknowledged_write() {
    const TTL: f64 = 2.0;
    const AGENTS: usize = 12;
    const CLIENTS: usize = 6;
    let pg = given_postgres();
    let dir = tempfile::tempdir().unwrap();
    let mut nodes: Vec<Node> = ["n1", "n2", "n3"]
        .iter()
        .map(|id| given_node(&pg, dir.path(), id, TTL))
        .collect();
    let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
    // (agent, position) → tag, for every acknowledged write.
    let acked: Arc<Mutex<Vec<(usize, i64, i64)>>> = Arc::default();
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let killed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let retried = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let load_for = Duration::from_secs_f64(TTL + 6.0);
    let mut clients = Vec::new();
    for client_id in 0..CLIENTS {
        let (bases, acked, errors, killed, retried) = (
            bases.clone(),
            Arc::clone(&acked),
            Arc::clone(&errors),
            Arc::clone(&killed),
            Arc::clone(&retried),
        );
        clients.push(tokio::spawn(async move {
            let mut k = 0i64;
            while start.elapsed() < load_for {
                k += 1;
                let agent = (client_id + k as usize) % AGENTS;
                // Through every node in turn; after the kill, the dead node's clients move
                // to the others (as a load balancer's health check would).
                let mut node = (client_id + k as usize) % 3;
                if node == 1 && killed.load(std::sync::atomic::Ordering::SeqCst) {
                    node = 2;
                }
                let tag = (client_id as i64) * 1_000_000 + k;
                let answer = call(&bases[node], &format!("t{agent}"), "add", json!([tag])).await;
                match &answer {
                    Some((200, body)) => {
                        let at = body["result"].as_i64().unwrap();
                        acked.lock().unwrap().push((agent, at, tag));
                    }
                    other if retriable(other) => {
                        retried.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    other => errors.lock().unwrap().push(format!("{other:?}")),
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    killed.store(true, std::sync::atomic::Ordering::SeqCst);
    nodes[1].signal("-KILL");
    let _ = nodes[1].child.wait();
    let acked_before_kill = acked.lock().unwrap().len();
    for client in clients {
        client.await.unwrap();
    }
    let errors = errors.lock().unwrap().clone();
    let retried = retried.load(std::sync::atomic::Ordering::SeqCst);
    #[allow(
        clippy::print_stderr,
        reason = "the figures of the run, for BENCHMARKS.md"
    )]
    {
        eprintln!(
            "kill -9 under load: {} writes acknowledged ({acked_before_kill} before the kill), \
             {retried} retriable failures",
            acked.lock().unwrap().len()
        );
    }
    assert!(errors.is_empty(), "non-retriable errors: {errors:?}");
    let acked = acked.lock().unwrap().clone();
    assert!(acked_before_kill > 0, "the load ran before the kill");
    let mut per_agent: HashMap<usize, Vec<(i64, i64)>> = HashMap::new();
    for (agent, at, tag) in &acked {
        per_agent.entry(*agent).or_default().push((*at, *tag));
    }
    let survivors = [&nodes[0].base, &nodes[2].base];
    let mut served_after_kill = 0;
    for agent in 0..AGENTS {
        let list = turns(survivors[agent % 2], &format!("t{agent}")).await;
        let unique: HashSet<i64> = list.iter().copied().collect();
        assert_eq!(
            unique.len(),
            list.len(),
            "t{agent} applied a turn twice: {list:?}"
        );
        let mut positions = HashSet::new();
        for (at, tag) in per_agent.get(&agent).into_iter().flatten() {
            assert!(
                positions.insert(*at),
                "t{agent}: two acknowledged writes at position {at} (served by two nodes at once)"
            );
            assert_eq!(
                list.get(usize::try_from(*at - 1).unwrap()),
                Some(tag),
                "t{agent}: the acknowledged write {tag} at position {at} is lost: {list:?}"
            );
        }
        served_after_kill += list.len();
    }
    assert!(
        acked.len() > acked_before_kill,
        "writes were acknowledged after the kill ({served_after_kill} turns in all)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issue21_a_node_frozen_past_its_lease_cannot_acknowledge_its_in_flight_write() {
    const TTL: f64 = 1.5;
    let pg = given_postgres();
    let dir = tempfile::tempdir().unwrap();
    let a = given_node(&pg, dir.path(), "a", TTL);
    let b = given_node(&pg, dir.path(), "b", TTL);
    let answer = call(&a.base, "x", "add", json!([1])).await;
    assert_eq!(answer.map(|(s, _)| s), Some(200));
    // A turn that writes, then waits: node `a` is frozen while it runs.
    let in_flight = {
        let base = a.base.clone();
        tokio::spawn(async move { call(&base, "x", "slow", json!([99, 800])).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.signal("-STOP");
    tokio::time::sleep(Duration::from_secs_f64(TTL + 1.0)).await;
    // `b` takes the agent over (epoch 2), restores it without the unfinished turn, writes.
    let mut taken = None;
    for _ in 0..50 {
        let answer = call(&b.base, "x", "add", json!([2])).await;
        if matches!(answer, Some((200, _))) {
            taken = answer;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        taken.map(|(_, body)| body["result"].clone()),
        Some(json!(2))
    );
    a.signal("-CONT");
    let refused = in_flight.await.unwrap();
    assert!(
        matches!(&refused, Some((503, body)) if body["error"]["code"] == "FENCED"),
        "{refused:?}"
    );
    // `a` serves again (forwarding to `b`, which owns the agent now).
    let mut served = None;
    for _ in 0..50 {
        let answer = call(&a.base, "x", "add", json!([3])).await;
        if matches!(answer, Some((200, _))) {
            served = answer;
            break;
        }
        assert!(retriable(&answer), "{answer:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        served.map(|(_, body)| body["result"].clone()),
        Some(json!(3))
    );
    assert_eq!(turns(&b.base, "x").await, vec![1, 2, 3]);
}
