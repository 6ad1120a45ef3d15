//! `islet bench cluster`: what cluster mode costs and gives, measured on real `islet serve`
//! processes and a real PostgreSQL: warm RPC overhead over a single node (held here and
//! forwarded), throughput of three nodes against one, and failover of many agents from a
//! node killed with SIGKILL.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use serde_json::{Value, json};

use super::{machine, percentile};

const COUNTER: &str = include_str!("../../../../examples/agents/counter.ts");
const TOKEN: &str = "bench-cluster-token";

#[derive(clap::Args)]
pub(crate) struct ClusterArgs {
    /// PostgreSQL to use (a scratch database: the bench's agents stay in its tables).
    /// Default: a private server started from Debian's `postgresql` binaries, with
    /// PostgreSQL's default settings (fsync on), removed afterwards.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// Sequential warm calls per node shape (the median and 99th percentile are reported).
    #[arg(long, default_value_t = 1_000)]
    calls: usize,
    /// Seconds of load for each throughput figure (one node, then three).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Clients in flight for the throughput figures.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Agents created on the node that is then killed, for the failover figure (0: skip).
    #[arg(long, default_value_t = 1_000)]
    failover_agents: usize,
    /// Lease time of the nodes (seconds): the failover waits for it.
    #[arg(long, default_value_t = 5.0)]
    lease_ttl: f64,
    /// Parent directory of the throwaway data directories (default: the current directory).
    #[arg(long, value_name = "DIR", default_value = ".")]
    dir: PathBuf,
}

/// An `islet serve` process of the bench, killed when dropped.
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

/// Where the nodes run and what they share.
#[derive(Clone)]
struct Setup {
    dir: PathBuf,
    agents: PathBuf,
    postgres: String,
    lease_ttl: f64,
    http: reqwest::Client,
}

impl Setup {
    /// Starts a node: a single one without `cluster_id`, else a member of the cluster.
    async fn node(&self, id: &str, clustered: bool) -> anyhow::Result<Node> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(self.dir.join(format!("{id}.log")))?;
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(["serve", "--listen", &addr, "--agents"])
            .arg(&self.agents)
            .arg("--data")
            .arg(self.dir.join(format!("data-{id}")))
            .args(["--auth-token", TOKEN, "--isolation", "inprocess"])
            .env_remove("ISLET_CLUSTER")
            .env_remove("ISLET_AUTH_TOKEN")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        if clustered {
            command
                .args(["--cluster", &self.postgres, "--node-id", id])
                .args(["--advertise", &addr])
                .args(["--lease-ttl", &self.lease_ttl.to_string()]);
        }
        let child = command.spawn().context("starting islet serve")?;
        let node = Node {
            child,
            base: format!("http://{addr}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = self
                .http
                .get(format!("{}/readyz", node.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(node);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "node {id} was not ready within 60 s; see {}",
                self.dir.join(format!("{id}.log")).display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `Counter.increment(1)` on `agent` through `base`; `Ok(false)`: a retriable 503.
    async fn increment(&self, base: &str, agent: &str) -> anyhow::Result<bool> {
        let response = self
            .http
            .post(format!("{base}/agents/Counter/{agent}/increment"))
            .bearer_auth(TOKEN)
            .body("[1]")
            .send()
            .await?;
        let status = response.status();
        response.bytes().await?;
        if status.as_u16() == 503 {
            return Ok(false);
        }
        anyhow::ensure!(status.is_success(), "HTTP {status} from {base} for {agent}");
        Ok(true)
    }

    /// `calls` sequential warm calls of one agent through `base` (after 50 unmeasured).
    async fn warm(&self, base: &str, agent: &str, calls: usize) -> anyhow::Result<Vec<Duration>> {
        let mut samples = Vec::with_capacity(calls);
        for i in 0..calls + 50 {
            let started = Instant::now();
            anyhow::ensure!(
                self.increment(base, agent).await?,
                "{agent} was unavailable"
            );
            if i >= 50 {
                samples.push(started.elapsed());
            }
        }
        Ok(samples)
    }

    /// Calls per second for `seconds` with `clients` in flight over 64 agents named
    /// `prefix-N`, each call through the next of `bases` (as a round-robin load balancer).
    async fn throughput(
        &self,
        bases: &[String],
        prefix: &str,
        clients: usize,
        seconds: u64,
    ) -> anyhow::Result<f64> {
        // Every agent placed first, so the figure is warm calls, not activations.
        for i in 0..64 {
            let base = &bases[i % bases.len()];
            self.increment(base, &format!("{prefix}-{i}")).await?;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for client in 0..clients {
            let (stop, done) = (Arc::clone(&stop), Arc::clone(&done));
            let (bases, prefix) = (bases.to_vec(), prefix.to_owned());
            let setup = self.clone();
            tasks.push(tokio::spawn(async move {
                let mut n = client;
                while !stop.load(Ordering::Relaxed) {
                    let base = &bases[n % bases.len()];
                    let agent = format!("{prefix}-{}", (n * 7) % 64);
                    if setup.increment(base, &agent).await? {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    n += clients;
                }
                anyhow::Ok(())
            }));
        }
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            task.await??;
        }
        Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
    }
}

pub(super) async fn cluster(args: ClusterArgs) -> anyhow::Result<Value> {
    let scratch = super::Scratch::new(&args.dir, ".islet-bench-cluster");
    std::fs::create_dir_all(scratch.path())?;
    let dir = std::fs::canonicalize(scratch.path())?;
    // Kept alive (and removed) with the bench.
    let private = match &args.postgres {
        Some(_) => None,
        None => {
            eprintln!("starting a private PostgreSQL (fsync on) …");
            Some(
                cluster::testing::Postgres::start_with_fsync(true)
                    .map_err(|e| anyhow::anyhow!("{e}; or give --postgres URL"))?,
            )
        }
    };
    let postgres = match (&args.postgres, &private) {
        (Some(url), _) => url.clone(),
        (None, Some(pg)) => pg.url(),
        (None, None) => unreachable!("a private server is started without --postgres"),
    };
    let agents = dir.join("agents");
    std::fs::create_dir_all(&agents)?;
    std::fs::write(agents.join("counter.ts"), COUNTER)?;
    let setup = Setup {
        dir: dir.clone(),
        agents,
        postgres,
        lease_ttl: args.lease_ttl,
        http: codemode::egress::tls::client_builder()
            .map_err(anyhow::Error::msg)?
            .no_proxy()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(64)
            .timeout(Duration::from_secs(60))
            .build()?,
    };
    let run = format!("{}", std::process::id());
    run_phases(&args, &setup, &run).await
}

async fn run_phases(args: &ClusterArgs, setup: &Setup, run: &str) -> anyhow::Result<Value> {
    // Warm RPC: a single node, the cluster node holding the agent, and another node
    // forwarding to it; two rounds, alternated, so drift hits every shape alike.
    eprintln!(
        "warm RPC: single node, cluster holder, forwarded ({} calls each, two rounds) …",
        args.calls
    );
    let single = setup.node("single", false).await?;
    let holder = setup.node(&format!("a-{run}"), true).await?;
    let other = setup.node(&format!("b-{run}"), true).await?;
    let (mut s, mut h, mut f) = (Vec::new(), Vec::new(), Vec::new());
    let half = args.calls.div_ceil(2);
    for _ in 0..2 {
        s.extend(setup.warm(&single.base, "warm", half).await?);
        h.extend(setup.warm(&holder.base, "warm", half).await?);
        f.extend(setup.warm(&other.base, "warm", half).await?);
    }
    let (single_p50, holder_p50, forwarded_p50) = (
        percentile(&mut s, 50.0),
        percentile(&mut h, 50.0),
        percentile(&mut f, 50.0),
    );

    // Throughput: one cluster node, then three, same clients and agents' shape.
    eprintln!(
        "throughput: one cluster node, then three ({} s each, {} clients) …",
        args.seconds, args.clients
    );
    let one = setup
        .throughput(
            std::slice::from_ref(&holder.base),
            "one",
            args.clients,
            args.seconds,
        )
        .await?;
    let third = setup.node(&format!("c-{run}"), true).await?;
    let bases = [holder.base.clone(), other.base.clone(), third.base.clone()];
    let three = setup
        .throughput(&bases, "three", args.clients, args.seconds)
        .await?;
    let single_throughput = setup
        .throughput(
            std::slice::from_ref(&single.base),
            "single",
            args.clients,
            args.seconds,
        )
        .await?;
    drop((single, holder, other, third));

    let failover = if args.failover_agents == 0 {
        Value::Null
    } else {
        failover(args, setup, run).await?
    };

    Ok(json!({
        "machine": machine(),
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        "agent": "examples/agents/counter.ts: increment(1) = SQL insert + setState, committed (and in cluster mode appended to PostgreSQL) before the reply",
        "postgres": if args.postgres.is_some() { "given by --postgres" } else { "private, default settings (fsync on)" },
        "warm_rpc_us": {
            "what": "POST /agents/Counter/warm/increment, one client, keep-alive, sequential",
            "single_node": { "p50": single_p50, "p99": percentile(&mut s, 99.0) },
            "cluster_holder": { "p50": holder_p50, "p99": percentile(&mut h, 99.0) },
            "cluster_forwarded": { "what": "through a node that does not hold the agent: owner lookup + HTTP hop", "p50": forwarded_p50, "p99": percentile(&mut f, 99.0) },
            "overhead_p50": (holder_p50 - single_p50).max(0.0),
            "target_overhead_p50": 2000,
        },
        "throughput_calls_per_s": {
            "what": format!("{} clients for {} s over 64 agents, round-robin over the nodes given", args.clients, args.seconds),
            "single_node": single_throughput.round(),
            "cluster_one_node": one.round(),
            "cluster_three_nodes": three.round(),
            "ratio_three_to_one": ((three / one) * 100.0).round() / 100.0,
            "target_ratio": 2.0,
            "note": format!("all nodes, PostgreSQL and the clients share this machine's {} cores", std::thread::available_parallelism().map_or(1, |n| n.get())),
        },
        "failover": failover,
    }))
}

/// Agents created through node D, D killed with SIGKILL, then every agent called through
/// node E until it answers: when the first, half and all answered after the kill.
async fn failover(args: &ClusterArgs, setup: &Setup, run: &str) -> anyhow::Result<Value> {
    let n = args.failover_agents;
    eprintln!(
        "failover: {n} agents on a node, kill -9, all through another (lease {} s) …",
        args.lease_ttl
    );
    let mut doomed = setup.node(&format!("d-{run}"), true).await?;
    let survivor = setup.node(&format!("e-{run}"), true).await?;
    let created = Instant::now();
    let mut calls = futures::stream::iter((0..n).map(|i| {
        let base = doomed.base.clone();
        async move { setup.increment(&base, &format!("fo-{i}")).await }
    }))
    .buffer_unordered(16);
    while let Some(call) = calls.next().await {
        anyhow::ensure!(call?, "an agent could not be created");
    }
    drop(calls);
    let creation_s = created.elapsed().as_secs_f64();
    doomed.child.kill()?;
    let killed = Instant::now();
    doomed.child.wait()?;
    let mut answered: Vec<Duration> = Vec::with_capacity(n);
    let mut calls = futures::stream::iter((0..n).map(|i| {
        let base = survivor.base.clone();
        async move {
            let agent = format!("fo-{i}");
            loop {
                match setup.increment(&base, &agent).await {
                    Ok(true) => return Ok(killed.elapsed()),
                    Ok(false) => tokio::time::sleep(Duration::from_millis(100)).await,
                    Err(e) => return Err(e),
                }
                anyhow::ensure!(
                    killed.elapsed() < Duration::from_secs(120),
                    "{agent} did not come back within 120 s"
                );
            }
        }
    }))
    .buffer_unordered(16);
    while let Some(call) = calls.next().await {
        answered.push(call?);
    }
    answered.sort();
    let at = |d: Duration| (d.as_secs_f64() * 100.0).round() / 100.0;
    let all = answered.last().copied().unwrap_or_default();
    Ok(json!({
        "what": format!("{n} agents created through one node ({creation_s:.1} s), that node killed with SIGKILL, then each agent called through another node (16 in flight) until it answers"),
        "lease_ttl_s": args.lease_ttl,
        "first_s": at(answered[0]),
        "half_s": at(answered[n / 2]),
        "all_s": at(all),
        "all_minus_ttl_s": at(all.saturating_sub(Duration::from_secs_f64(args.lease_ttl))),
        "target_all_minus_ttl_s": 5.0,
    }))
}
