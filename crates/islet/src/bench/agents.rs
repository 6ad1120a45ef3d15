//! `islet bench agents`: cold activation, warm RPC (in-process and over loopback HTTP),
//! sub-agent creation and a parent's warm call to a child, and agent creations per second,
//! on the example `Counter` agent in a temporary data directory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agents::{AgentHost, Classes, HostConfig};
use futures::StreamExt;
use sandbox::Bindings;
use serde_json::{Value, json};
use store::{DataDir, Env};

use super::{machine, percentile};
use crate::run::Isolation;
use crate::serve::routes;

const COUNTER: &str = include_str!("../../../../examples/agents/counter.ts");

/// A parent of `Counter` sub-agents (issue 16): `spawn` creates one, `touch` only looks one
/// up, `relay` also makes one warm call to it (so `relay` − `touch` is the call).
const PARENT: &str = r#"
import { Agent } from "agents";
export default class Parent extends Agent {
  async spawn(name) { await this.subAgent("Counter", name); return null; }
  async touch() { await this.subAgent("Counter", "warm-child"); return null; }
  async relay() { const child = await this.subAgent("Counter", "warm-child"); return child.get(); }
  async installExtension() {
    return this.extensions.install({ name: "ext", permissions: { workspace: "read" }, source:
      "export const tools = { read: { description: 'reads a file', async execute(args, host) { return host.workspace.read(args.path); } } };" });
  }
  async viaExtension() { return this.extensions.call("ext", "read", { path: "/a.txt" }); }
  async builtIn() { return this.workspace.read("/a.txt"); }
  async seed() { await this.workspace.write("/a.txt", "x"); }
}
"#;

#[derive(clap::Args)]
pub(crate) struct AgentsArgs {
    /// Samples per latency figure (the median and 99th percentile are reported).
    #[arg(long, default_value_t = 1_000)]
    samples: usize,
    /// Agents created for the creations-per-second figure.
    #[arg(long, default_value_t = 2_000)]
    creations: usize,
    /// Where agent code runs.
    #[arg(long, value_enum, default_value_t = Isolation::Inprocess)]
    isolation: Isolation,
    /// Parent directory of the throwaway data directory (default: the current directory).
    /// Cold figures are file creation: a directory that has seen many deleted files
    /// (a busy /tmp) makes them several times slower.
    #[arg(long, value_name = "DIR", default_value = ".")]
    dir: std::path::PathBuf,
}

pub(super) async fn agents(args: AgentsArgs) -> anyhow::Result<Value> {
    let scratch = super::Scratch::new(&args.dir, ".islet-bench-agents");
    run(&args, scratch.path()).await
}

async fn run(args: &AgentsArgs, dir: &std::path::Path) -> anyhow::Result<Value> {
    let data = Arc::new(DataDir::open(dir, Env::default())?);
    let sandbox = Arc::new(
        args.isolation
            .server_sandbox(crate::run::default_executors())?,
    );
    let classes = Classes::from_sources(
        vec![
            ("counter.ts".to_owned(), COUNTER.to_owned()),
            ("parent.ts".to_owned(), PARENT.to_owned()),
        ],
        &sandbox,
    )
    .await?;
    let host = AgentHost::start(data, classes, sandbox, HostConfig::default())?;

    // Cold: a new agent each time (database created, onStart run, first call).
    let mut cold = Vec::with_capacity(args.samples);
    for i in 0..args.samples {
        let started = Instant::now();
        host.call("Counter", &format!("cold-{i}"), "increment", vec![json!(1)])
            .await?;
        cold.push(started.elapsed());
    }

    // Warm, in-process: one active agent, a read and a committed write per call.
    host.call("Counter", "warm", "increment", vec![]).await?;
    let mut warm_read = Vec::with_capacity(args.samples);
    let mut warm_write = Vec::with_capacity(args.samples);
    for _ in 0..args.samples {
        let started = Instant::now();
        host.call("Counter", "warm", "get", vec![]).await?;
        warm_read.push(started.elapsed());
        let started = Instant::now();
        host.call("Counter", "warm", "increment", vec![json!(1)])
            .await?;
        warm_write.push(started.elapsed());
    }

    // Sub-agents: creation through a warm parent, and a parent's warm call to a child.
    host.call("Parent", "p", "relay", vec![]).await?;
    let mut sub_create = Vec::with_capacity(args.samples);
    let mut touch = Vec::with_capacity(args.samples);
    let mut relay = Vec::with_capacity(args.samples);
    for i in 0..args.samples {
        let started = Instant::now();
        host.call("Parent", "p", "spawn", vec![json!(format!("child-{i}"))])
            .await?;
        sub_create.push(started.elapsed());
        let started = Instant::now();
        host.call("Parent", "p", "touch", vec![]).await?;
        touch.push(started.elapsed());
        let started = Instant::now();
        host.call("Parent", "p", "relay", vec![]).await?;
        relay.push(started.elapsed());
    }
    let (touch_p50, relay_p50) = (percentile(&mut touch, 50.0), percentile(&mut relay, 50.0));

    // An extension's tool (a fresh isolate under its permissions) against the same read
    // done by the agent itself.
    host.call("Parent", "p", "seed", vec![]).await?;
    host.call("Parent", "p", "installExtension", vec![]).await?;
    let mut via_extension = Vec::with_capacity(args.samples);
    let mut built_in = Vec::with_capacity(args.samples);
    for _ in 0..args.samples {
        let started = Instant::now();
        host.call("Parent", "p", "viaExtension", vec![]).await?;
        via_extension.push(started.elapsed());
        let started = Instant::now();
        host.call("Parent", "p", "builtIn", vec![]).await?;
        built_in.push(started.elapsed());
    }
    let (extension_p50, built_in_p50) = (
        percentile(&mut via_extension, 50.0),
        percentile(&mut built_in, 50.0),
    );

    // Warm over loopback HTTP, through the same router `islet serve` uses.
    let token = "bench-token".to_owned();
    // No model: the bench makes no chats.
    let models = llm::Models::with_env(
        codemode::egress::tls::client_builder()
            .map_err(anyhow::Error::msg)?
            .build()?,
        llm::Settings::default(),
        |_| None,
    );
    let metrics = crate::serve::ops::Metrics::new(Default::default(), host.clone());
    let app = routes::app(routes::AppOptions {
        host: host.clone(),
        harness: think::Harness::new(host.clone(), models),
        memories: ::memory::Memories::new(::memory::MemoryConfig::new(dir)),
        memory_bindings: Bindings::new(),
        capabilities: Vec::new(),
        semantic: None,
        token: token.clone(),
        max_body_bytes: 1 << 20,
        loopback: true,
        metrics,
        metrics_elsewhere: false,
        data_dir: dir.to_owned(),
        model_probe: None,
        cluster: None,
    })?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let http = codemode::egress::tls::client_builder()
        .map_err(anyhow::Error::msg)?
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?;
    let url = format!("http://{addr}/agents/Counter/warm/get");
    let mut over_http = Vec::with_capacity(args.samples);
    for i in 0..args.samples + 20 {
        let started = Instant::now();
        let response = http.post(&url).bearer_auth(&token).send().await?;
        anyhow::ensure!(response.status().is_success(), "HTTP {}", response.status());
        response.bytes().await?;
        if i >= 20 {
            over_http.push(started.elapsed());
        }
    }
    server.abort();

    // Creations per second: many new agents, 64 calls in flight at all times.
    let started = Instant::now();
    let mut calls = futures::stream::iter((0..args.creations).map(|i| {
        let host = host.clone();
        async move {
            host.call("Counter", &format!("new-{i}"), "increment", vec![])
                .await
        }
    }))
    .buffer_unordered(64);
    while let Some(call) = calls.next().await {
        call?;
    }
    let creation_secs = started.elapsed().as_secs_f64();
    host.shutdown(Duration::from_secs(5)).await;

    Ok(json!({
        "machine": machine(),
        "isolation": match args.isolation { Isolation::Inprocess => "inprocess", Isolation::Process => "process" },
        "agent": "examples/agents/counter.ts (onStart creates a table; increment = SQL insert + setState)",
        "cold_activation_us": { "what": "first call of a new agent: database created, isolate, onStart, increment, commit", "p50": percentile(&mut cold, 50.0), "p99": percentile(&mut cold, 99.0), "target_p50": 2000 },
        "warm_rpc_in_process_us": {
            "read": { "what": "get() on an active agent", "p50": percentile(&mut warm_read, 50.0), "p99": percentile(&mut warm_read, 99.0) },
            "write": { "what": "increment(1): SQL insert + setState, committed before the reply", "p50": percentile(&mut warm_write, 50.0), "p99": percentile(&mut warm_write, 99.0) },
            "target_p50": 100
        },
        "warm_rpc_loopback_http_us": { "what": "POST /agents/Counter/warm/get, keep-alive", "p50": percentile(&mut over_http, 50.0), "p99": percentile(&mut over_http, 99.0), "target_p50": 1000 },
        "sub_agent_creation_us": { "what": "Parent.spawn(name): a warm parent's turn creating a Counter sub-agent (its database) and committing", "p50": percentile(&mut sub_create, 50.0), "p99": percentile(&mut sub_create, 99.0), "target_p50": 2000 },
        "parent_to_child_warm_call_us": {
            "what": "relay() (a parent turn looking up its child and calling child.get()) minus touch() (the same turn without the call)",
            "relay_p50": relay_p50, "touch_p50": touch_p50,
            "p50": (relay_p50 - touch_p50).max(0.0), "target_p50": 200
        },
        "extension_tool_call_us": {
            "what": "a turn calling an extension's tool that reads a workspace file (in the extension version's kept isolate, read-only workspace) minus a turn reading it itself",
            "extension_p50": extension_p50, "built_in_p50": built_in_p50,
            "p50": (extension_p50 - built_in_p50).max(0.0), "target_p50": 100
        },
        "creations_per_second": { "what": format!("{} new agents, 64 in flight", args.creations), "value": (args.creations as f64 / creation_secs).round(), "target": 1000 },
    }))
}
