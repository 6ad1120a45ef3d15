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
import { Agent, HttpError } from "agents";
export default class Tally extends Agent {
  async taken() { throw new HttpError(409, "that tag is taken"); }
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

/// Writes and reads a memory profile from agent code (`this.memory`).
const NOTES: &str = r#"
import { Agent } from "agents";
export default class Notes extends Agent {
  async note(text) { return (await this.memory("team/shared").remember(text)).added; }
  async ask(q) { return (await this.memory("team/shared").recall(q)).results.map((r) => r.memory.content); }
}
"#;

/// Calls a `Tally` from agent code: wherever the node holding it is.
const RELAY: &str = r#"
import { Agent } from "agents";
export default class Relay extends Agent {
  async relay(target, tag) { return agents.Tally(target).add(tag); }
  async fail(target) {
    try { await agents.Tally(target).taken(); } catch (e) { return `${e.code}: ${e.message}`; }
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

/// `GET /readyz` of a node: its status and its `postgres` check.
async fn readyz(base: &str) -> (u16, Value) {
    let response = client().get(format!("{base}/readyz")).send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["checks"]["postgres"].clone())
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
    given_node_at(pg, dir, id, ttl_secs, free_port())
}

/// [`given_node`] on `port` (a restart keeps its address).
fn given_node_at(pg: &Postgres, dir: &Path, id: &str, ttl_secs: f64, port: u16) -> Node {
    let agents = dir.join("agents");
    std::fs::create_dir_all(&agents).unwrap();
    std::fs::write(agents.join("tally.js"), TALLY).unwrap();
    std::fs::write(agents.join("relay.js"), RELAY).unwrap();
    std::fs::write(agents.join("notes.js"), NOTES).unwrap();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_islet"))
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
    wait_listening(child, &addr)
}

/// Node `i` (1–3) started with the README's own command line ("Running a cluster"), in
/// `dir` (which holds `agents/`), with its address and data directory made local.
fn given_readme_node(pg: &Postgres, dir: &Path, i: usize) -> Node {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let section = readme
        .split("## Running a cluster")
        .nth(1)
        .expect("README has a section \"Running a cluster\"");
    let block = section
        .split("```sh")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the section has a sh block");
    let line = block
        .lines()
        .filter(|l| l.starts_with("islet serve "))
        .nth(i - 1)
        .unwrap_or_else(|| panic!("the README shows a command for node {i}"));
    assert!(
        block.contains("export ISLET_CLUSTER=") && block.contains("export ISLET_AUTH_TOKEN="),
        "the README's block sets the cluster URL and the shared token"
    );
    let addr = format!("127.0.0.1:{}", free_port());
    let data = dir.join(format!("readme-data-{i}"));
    let args: Vec<String> = line
        .split_whitespace()
        .skip(1)
        .map(|arg| match arg {
            a if a == format!("10.0.0.{i}:8787") => addr.clone(),
            "/var/lib/islet" => data.display().to_string(),
            a => a.to_owned(),
        })
        .collect();
    assert!(args.iter().any(|a| a == &addr), "{line}");
    let child = Command::new(env!("CARGO_BIN_EXE_islet"))
        .args(&args)
        .current_dir(dir)
        .env("ISLET_CLUSTER", pg.url())
        .env("ISLET_AUTH_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("islet serve starts");
    wait_listening(child, &addr)
}

fn wait_listening(mut child: Child, addr: &str) -> Node {
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

/// What a `POST` of `body` to `path` answered: the status and the JSON body (`None` when
/// the node could not be reached at all: a connection refused by a killed node).
async fn post(base: &str, path: &str, body: Value) -> Option<(u16, Value)> {
    let response = client()
        .post(format!("{base}{path}"))
        .bearer_auth(TOKEN)
        .body(body.to_string())
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .ok()?;
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    Some((status, body))
}

/// A call of `Tally` `agent`'s `method` through `base` (see [`post`]).
async fn call(base: &str, agent: &str, method: &str, args: Value) -> Option<(u16, Value)> {
    post(base, &format!("/agents/Tally/{agent}/{method}"), args).await
}

/// The JSON body of an authenticated `GET` of `path`.
async fn get_json(base: &str, path: &str) -> Value {
    client()
        .get(format!("{base}{path}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
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
            Some(
                "NOT_OWNER"
                    | "FENCED"
                    | "NOT_DURABLE"
                    | "SHUTTING_DOWN"
                    | "CLUSTER_UNREACHABLE"
                    | "CLUSTER_DATABASE"
            )
        ),
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn issue21_three_nodes_started_as_the_readme_says_serve_every_agent_through_any_node() {
    let pg = given_postgres();
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agents");
    std::fs::create_dir_all(&agents).unwrap();
    std::fs::write(agents.join("tally.js"), TALLY).unwrap();
    let nodes: Vec<Node> = (1..=3)
        .map(|i| given_readme_node(&pg, dir.path(), i))
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
    // Each node's /metrics counts what it shipped and forwarded.
    let mut totals: HashMap<String, f64> = HashMap::new();
    for node in &nodes {
        let text = client()
            .get(format!("{}/metrics", node.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for line in text.lines().filter(|l| l.starts_with("islet_cluster_")) {
            let (name, value) = line.split_once(' ').unwrap();
            *totals.entry(name.to_owned()).or_default() += value.parse::<f64>().unwrap();
        }
    }
    assert!(totals["islet_cluster_appends_total"] >= 18.0, "{totals:?}");
    assert!(
        totals["islet_cluster_forwarded_total"] >= 12.0,
        "{totals:?}"
    );
    assert_eq!(totals["islet_cluster_claims_total"], 6.0, "{totals:?}");
    assert_eq!(totals["islet_cluster_leases_held"], 6.0, "{totals:?}");
    assert_eq!(totals["islet_cluster_fenced_total"], 0.0, "{totals:?}");
    // `islet cluster status` sees the three nodes and the six agents' leases.
    let status: Value = serde_json::from_slice(&islet_ok(&[
        "cluster",
        "status",
        "--cluster",
        &pg.url(),
        "--json",
    ]))
    .unwrap();
    let nodes_seen: Vec<&str> = status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["nodeId"].as_str().unwrap())
        .collect();
    assert_eq!(nodes_seen, ["n1", "n2", "n3"]);
    assert_eq!(status["leases"].as_array().unwrap().len(), 6, "{status}");
    assert_eq!(status["agents"], 6, "{status}");
    // The log a takeover would replay, per agent and per node, adds up to the total.
    let sum = |list: &Value, field: &str| -> i64 {
        list.as_array()
            .unwrap()
            .iter()
            .map(|x| x[field].as_i64().unwrap())
            .sum()
    };
    let total = status["logSegments"].as_i64().unwrap();
    assert!(total > 0, "{status}");
    assert_eq!(sum(&status["leases"], "logSegments"), total, "{status}");
    assert_eq!(sum(&status["nodes"], "logSegments"), total, "{status}");
    assert_eq!(
        sum(&status["nodes"], "logBytes"),
        status["logBytes"].as_i64().unwrap()
    );
    let text = islet_ok(&["cluster", "status", "--cluster", &pg.url()]);
    let text = String::from_utf8_lossy(&text);
    assert!(
        text.contains("UNSNAPSHOTTED") && text.contains("n2"),
        "{text}"
    );
    // Every node lists every agent, with the node holding it (the console's agent list).
    let mut holders = strings(&status["leases"], "nodeId");
    holders.sort();
    for node in &nodes {
        let listed = list_agents(&node.base, "").await;
        assert_eq!(
            strings(&listed["agents"], "name"),
            ["a", "b", "c", "d", "e", "f"]
        );
        assert!(
            listed["agents"]
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a["active"] == true)
        );
        let mut listed_holders = strings(&listed["agents"], "node");
        listed_holders.sort();
        assert_eq!(listed_holders, holders);
        assert_eq!(listed["next"], Value::Null);
        // Pages: the first four, then the rest after the last of them.
        let page = list_agents(&node.base, "?class=Tally&limit=4").await;
        assert_eq!(page["agents"].as_array().unwrap().len(), 4, "{page}");
        assert_eq!(page["next"], "Tally/d", "{page}");
        let rest = list_agents(&node.base, "?limit=4&after=Tally/d").await;
        assert_eq!(strings(&rest["agents"], "name"), ["e", "f"], "{rest}");
    }
    let unknown = client()
        .get(format!("{}/agents?class=Nope", nodes[0].base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
}

/// The standard output of `islet ARGS`, which must succeed (its standard error otherwise).
fn islet_ok(args: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_islet"))
        .args(args)
        .env_remove("ISLET_CLUSTER")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "islet {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The string `field` of each object of the array `list`.
fn strings(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .map(|item| {
            item[field]
                .as_str()
                .unwrap_or_else(|| panic!("{item}"))
                .to_owned()
        })
        .collect()
}

/// `GET /agents` through `base` with `query` (`""` or `?…`).
async fn list_agents(base: &str, query: &str) -> Value {
    let response = client()
        .get(format!("{base}/agents{query}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

const AGENTS: usize = 12;
const CLIENTS: usize = 6;

/// Clients writing to many agents through every node while something happens to the
/// cluster; what was acknowledged and what failed.
struct Load {
    /// (agent, position, tag) of every acknowledged write.
    acked: Arc<Mutex<Vec<(usize, i64, i64)>>>,
    /// Failures that were not retriable.
    errors: Arc<Mutex<Vec<String>>>,
    retried: Arc<std::sync::atomic::AtomicUsize>,
    /// Nodes clients stay away from (as a load balancer's health check would).
    down: Arc<Mutex<HashSet<usize>>>,
    /// Set by [`Load::check`]: the clients stop (at the latest after the bound given).
    stop: Arc<std::sync::atomic::AtomicBool>,
    clients: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(bases: &[String], load_for: Duration) -> Load {
        let load = Load {
            acked: Arc::default(),
            errors: Arc::default(),
            retried: Arc::default(),
            down: Arc::default(),
            stop: Arc::default(),
            clients: Vec::new(),
        };
        let started = Instant::now();
        let clients = (0..CLIENTS)
            .map(|client_id| {
                let bases = bases.to_vec();
                let (acked, errors, retried, down, stop) = (
                    Arc::clone(&load.acked),
                    Arc::clone(&load.errors),
                    Arc::clone(&load.retried),
                    Arc::clone(&load.down),
                    Arc::clone(&load.stop),
                );
                tokio::spawn(async move {
                    let mut k = 0usize;
                    while started.elapsed() < load_for
                        && !stop.load(std::sync::atomic::Ordering::SeqCst)
                    {
                        k += 1;
                        let agent = (client_id + k) % AGENTS;
                        let mut node = (client_id + k) % bases.len();
                        while down.lock().unwrap().contains(&node) {
                            node = (node + 1) % bases.len();
                        }
                        let tag = i64::try_from(client_id * 1_000_000 + k).unwrap();
                        let answer =
                            call(&bases[node], &format!("t{agent}"), "add", json!([tag])).await;
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
                })
            })
            .collect();
        Load { clients, ..load }
    }

    fn acked(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// Waits (bounded: a slow machine, not a hang) until more than `before` writes were
    /// acknowledged.
    async fn progressed_past(&self, before: usize) -> bool {
        for _ in 0..300 {
            if self.acked() > before {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// Waits for the clients, then checks through `read` (a node) that every acknowledged
    /// write is at its position, no position was acknowledged twice (no agent was served
    /// by two nodes at once) and no turn was applied twice; only retriable errors.
    async fn check(self, read: &[&str], what: &str) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for client in self.clients {
            client.await.unwrap();
        }
        let errors = self.errors.lock().unwrap().clone();
        let acked = self.acked.lock().unwrap().clone();
        #[allow(
            clippy::print_stderr,
            reason = "the figures of the run, for BENCHMARKS.md"
        )]
        {
            eprintln!(
                "{what}: {} writes acknowledged, {} retriable failures",
                acked.len(),
                self.retried.load(std::sync::atomic::Ordering::SeqCst)
            );
        }
        assert!(errors.is_empty(), "non-retriable errors: {errors:?}");
        let mut per_agent: HashMap<usize, Vec<(i64, i64)>> = HashMap::new();
        for (agent, at, tag) in &acked {
            per_agent.entry(*agent).or_default().push((*at, *tag));
        }
        for agent in 0..AGENTS {
            let list = turns(read[agent % read.len()], &format!("t{agent}")).await;
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
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn issue21_kill_9_of_a_node_under_load_loses_no_acknowledged_write() {
    const TTL: f64 = 2.0;
    let pg = given_postgres();
    let dir = tempfile::tempdir().unwrap();
    let mut nodes: Vec<Node> = ["n1", "n2", "n3"]
        .iter()
        .map(|id| given_node(&pg, dir.path(), id, TTL))
        .collect();
    let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
    let load = Load::start(&bases, Duration::from_secs(120));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    load.down.lock().unwrap().insert(1);
    nodes[1].signal("-KILL");
    let _ = nodes[1].child.wait();
    let before = load.acked();
    assert!(before > 0, "the load ran before the kill");
    // After the lease time, the dead node's agents are served again.
    tokio::time::sleep(Duration::from_secs_f64(TTL + 2.0)).await;
    let after_ttl = load.acked();
    assert!(
        load.progressed_past(after_ttl).await,
        "writes are acknowledged after failover"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    load.check(&[&bases[0], &bases[2]], "kill -9 under load")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn issue21_postgres_restarted_under_load_loses_nothing_acknowledged() {
    let mut pg = given_postgres();
    let dir = tempfile::tempdir().unwrap();
    let nodes: Vec<Node> = ["n1", "n2", "n3"]
        .iter()
        .map(|id| given_node(&pg, dir.path(), id, 5.0))
        .collect();
    let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
    let load = Load::start(&bases, Duration::from_secs(120));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(readyz(&bases[0]).await, (200, json!("ok")));
    // Killed, not stopped: in-flight appends get no answer.
    pg.kill();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // A load balancer stops sending requests the node cannot make durable.
    assert_eq!(readyz(&bases[0]).await, (503, json!("failed")));
    let during = load.acked();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        load.acked(),
        during,
        "nothing is acknowledged without the database"
    );
    pg.resume().expect("restart postgres");
    assert!(
        load.progressed_past(during).await,
        "the nodes reconnected and serve again"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Ready again once its heartbeats are renewed (every third of the lease time).
    let mut ready = readyz(&bases[0]).await;
    for _ in 0..50 {
        if ready.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        ready = readyz(&bases[0]).await;
    }
    assert_eq!(ready, (200, json!("ok")));
    load.check(
        &bases.iter().map(String::as_str).collect::<Vec<_>>(),
        "PostgreSQL restarted under load",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn issue21_a_rolling_restart_under_load_loses_nothing() {
    let pg = given_postgres();
    let dir = tempfile::tempdir().unwrap();
    let ids = ["n1", "n2", "n3"];
    let mut nodes: Vec<Node> = ids
        .iter()
        .map(|id| given_node(&pg, dir.path(), id, 30.0))
        .collect();
    let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
    let load = Load::start(&bases, Duration::from_secs(120));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    for (i, id) in ids.iter().enumerate() {
        load.down.lock().unwrap().insert(i);
        // SIGTERM: the node finishes its turns and hands its leases back, so the others
        // take its agents at once although the lease time (30 s) is far longer than the test.
        nodes[i].signal("-TERM");
        let status = nodes[i].child.wait().unwrap();
        assert!(status.success(), "{id} exits cleanly: {status}");
        let before = load.acked();
        assert!(
            load.progressed_past(before).await,
            "the other nodes serve while {id} is down"
        );
        let port = bases[i].rsplit(':').next().unwrap().parse().unwrap();
        nodes[i] = given_node_at(&pg, dir.path(), id, 30.0, port);
        load.down.lock().unwrap().remove(&i);
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    load.check(
        &bases.iter().map(String::as_str).collect::<Vec<_>>(),
        "rolling restart under load",
    )
    .await;
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

/// An agent on one node calls an agent another node holds: the call is made on that node
/// (its lease stays where it is), and its result or error comes back.
#[tokio::test(flavor = "multi_thread")]
async fn issue21_an_agent_calls_an_agent_held_by_another_node() {
    let pg = given_postgres();
    let dir = tempfile::tempdir().unwrap();
    let n1 = given_node(&pg, dir.path(), "n1", 30.0);
    let n2 = given_node(&pg, dir.path(), "n2", 30.0);
    // `t` lives on n1; the relay is created on n2 (forwarded requests carry the header
    // that keeps them on the node they reach).
    assert_eq!(
        call(&n1.base, "t", "add", json!([1])).await.map(|(s, _)| s),
        Some(200)
    );
    let response = client()
        .post(format!("{}/agents/Relay/r/relay", n2.base))
        .bearer_auth(TOKEN)
        .header("x-islet-forwarded", "test")
        .body(json!(["t", 2]).to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!((status, &body["result"]), (200, &json!(2)), "{body}");
    assert_eq!(turns(&n1.base, "t").await, vec![1, 2]);
    // The lease did not move: n1 still serves `t` (a forwarded read on n1 answers).
    let response = client()
        .post(format!("{}/agents/Tally/t/turns", n1.base))
        .bearer_auth(TOKEN)
        .header("x-islet-forwarded", "test")
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    // Errors come back as the caller's exception, with their code.
    let response = client()
        .post(format!("{}/agents/Relay/r/fail", n2.base))
        .bearer_auth(TOKEN)
        .header("x-islet-forwarded", "test")
        .body(json!(["t"]).to_string())
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["result"],
        json!("CONFLICT: that tag is taken"),
        "{body}"
    );
}

/// A memory operation on `team/shared` through `base` (see [`post`]).
async fn memory_op(base: &str, op: &str, input: Value) -> Option<(u16, Value)> {
    post(base, &format!("/memory/team/shared/{op}"), input).await
}

/// The contents `recall` finds for `query` through `base`, retried while the answers
/// are retriable (a failover in progress).
async fn recalled(base: &str, query: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = memory_op(base, "recall", json!({ "query": query, "limit": 20 })).await;
        match &answer {
            Some((200, body)) => {
                return body["results"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["memory"]["content"].as_str().unwrap().to_owned())
                    .collect();
            }
            _ if retriable(&answer) && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => panic!("recall through {base}: {other:?}"),
        }
    }
}

/// Memory profiles are the cluster's, not a node's (issue 21: "the catalog of agents and
/// memory profiles"): a profile written through one node is read through another (and by
/// agent code there), listed alike by every node, and after the node that served it is
/// killed, every acknowledged write is restored from PostgreSQL by the next node.
#[tokio::test(flavor = "multi_thread")]
async fn issue21_memory_profiles_are_the_clusters_and_survive_a_killed_node() {
    let pg = given_postgres();
    let dir = tempfile::tempdir().unwrap();
    let n1 = given_node(&pg, dir.path(), "n1", 2.0);
    let n2 = given_node(&pg, dir.path(), "n2", 2.0);
    let remembered = memory_op(
        &n1.base,
        "remember",
        json!({ "content": "Alice works at Initech", "subject": "alice.employer" }),
    )
    .await;
    assert_eq!(
        remembered.as_ref().map(|(s, _)| *s),
        Some(200),
        "{remembered:?}"
    );
    // Read and written through n2: sent to n1, which serves the profile.
    assert_eq!(
        recalled(&n2.base, "where does Alice work").await,
        vec!["Alice works at Initech"]
    );
    let bob = memory_op(&n2.base, "remember", json!("Bob lives in Oslo")).await;
    assert_eq!(bob.as_ref().map(|(s, _)| *s), Some(200), "{bob:?}");
    let (status, body) = client()
        .post(format!("{}/agents/Notes/x/note", n2.base))
        .bearer_auth(TOKEN)
        .header("x-islet-forwarded", "test")
        .body(json!(["Carol prefers tea"]).to_string())
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    assert_eq!(
        (
            status,
            body.json::<Value>().await.unwrap()["result"].clone()
        ),
        (200, json!(true))
    );
    // Both nodes list it, served by n1 (which alone counts its memories), and n2 has no
    // copy of its own.
    for (base, listed_here) in [
        (
            &n1.base,
            json!([{ "name": "team/shared", "node": "n1", "memories": 3 }]),
        ),
        (&n2.base, json!([{ "name": "team/shared", "node": "n1" }])),
    ] {
        let listed = get_json(base, "/memory").await;
        assert_eq!(listed["profiles"], listed_here, "{base}");
    }
    assert!(
        !dir.path()
            .join("data-n2/memory/team/shared.sqlite")
            .exists()
    );

    // n1 dies: after its lease runs out, n2 claims the profile and rebuilds it.
    n1.signal("-9");
    let mut after = recalled(&n2.base, "Alice Bob Carol").await;
    after.sort();
    assert_eq!(
        after,
        vec![
            "Alice works at Initech",
            "Bob lives in Oslo",
            "Carol prefers tea"
        ]
    );
    let id =
        memory_op(&n2.base, "recall", json!("Bob")).await.unwrap().1["results"][0]["memory"]["id"]
            .clone();
    let forgot = memory_op(&n2.base, "forget", json!({ "id": id })).await;
    assert_eq!(forgot.as_ref().map(|(s, _)| *s), Some(200), "{forgot:?}");

    // A third node, started after all this, sees the profile as n2 left it.
    let n3 = given_node(&pg, dir.path(), "n3", 2.0);
    let mut seen = recalled(&n3.base, "Alice Bob Carol").await;
    seen.sort();
    assert_eq!(seen, vec!["Alice works at Initech", "Carol prefers tea"]);
    let deleted = client()
        .delete(format!("{}/memory/team/shared", n3.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    let gone = memory_op(&n2.base, "recall", json!("Alice")).await;
    assert_eq!(gone.as_ref().map(|(s, _)| *s), Some(404), "{gone:?}");
    let listed = get_json(&n2.base, "/memory").await;
    assert_eq!(listed["profiles"], json!([]));
}

/// The console's executions view works from every node (issue 21: "the console works
/// from every node"): `GET /executions` gathers every live node's records, each with its
/// node, newest first; a forwarded one answers with the node's own only.
#[tokio::test(flavor = "multi_thread")]
async fn issue21_every_node_lists_the_executions_of_the_whole_cluster() {
    let pg = given_postgres();
    let dir = tempfile::tempdir().unwrap();
    let n1 = given_node(&pg, dir.path(), "n1", 30.0);
    let n2 = given_node(&pg, dir.path(), "n2", 30.0);
    for (base, agent) in [(&n1.base, "on-1"), (&n2.base, "on-2")] {
        assert_eq!(
            call(base, agent, "add", json!([1])).await.map(|(s, _)| s),
            Some(200)
        );
    }
    let list = |base: String, forwarded: bool| async move {
        let mut request = client()
            .get(format!("{base}/executions?kind=call"))
            .bearer_auth(TOKEN);
        if forwarded {
            request = request.header("x-islet-forwarded", "test");
        }
        let body: Value = request.send().await.unwrap().json().await.unwrap();
        let seen: Vec<(String, String)> = body["executions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["agent"].as_str().unwrap_or_default().to_owned(),
                    r["node"].as_str().unwrap_or("-").to_owned(),
                )
            })
            .collect();
        (seen, body["unreachable"].clone())
    };
    let expected = vec![
        ("Tally/on-2".to_owned(), "n2".to_owned()),
        ("Tally/on-1".to_owned(), "n1".to_owned()),
    ];
    assert_eq!(
        list(n1.base.clone(), false).await,
        (expected.clone(), json!([]))
    );
    assert_eq!(list(n2.base.clone(), false).await, (expected, json!([])));
    assert_eq!(
        list(n1.base.clone(), true).await,
        (vec![("Tally/on-1".to_owned(), "-".to_owned())], Value::Null)
    );
}

/// `islet bench cluster` runs its three phases on real nodes and a private PostgreSQL and
/// prints every figure (small sizes: this checks the command, not the numbers).
#[test]
fn issue21_bench_cluster_prints_the_figures() {
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().display().to_string();
    let report: Value = serde_json::from_slice(&islet_ok(&[
        "bench",
        "cluster",
        "--calls",
        "20",
        "--seconds",
        "1",
        "--failover-agents",
        "10",
        "--lease-ttl",
        "1",
        "--dir",
        &dir_arg,
    ]))
    .expect("json");
    for shape in ["single_node", "cluster_holder", "cluster_forwarded"] {
        assert!(
            report["warm_rpc_us"][shape]["p50"]
                .as_f64()
                .is_some_and(|p| p > 0.0),
            "{shape}: {report}"
        );
    }
    for figure in ["single_node", "cluster_one_node", "cluster_three_nodes"] {
        assert!(
            report["throughput_calls_per_s"][figure]
                .as_f64()
                .is_some_and(|n| n > 0.0),
            "{figure}: {report}"
        );
    }
    let all = report["failover"]["all_s"].as_f64().expect("failover");
    assert!(all >= report["failover"]["first_s"].as_f64().unwrap());
    assert!(report["machine"].as_str().unwrap().contains("cores"));
    // Nothing of the bench is left in its directory, and no node outlives it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let left = Command::new("pgrep")
        .arg("-f")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&left.stdout)
    );
}
