//! `islet bench`: measurements that print what they measured and on which machine.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod agents;
mod browser;
mod cluster;
mod isolation;
mod linuxbox;
mod mcp;
mod memory;
mod memory_quality;
mod proxy;
mod search_code;
mod search_quality;
mod sessions;
mod think;

use sandbox::bench::{Engine, run_in_process};
use sandbox::{Bindings, Execution, Sandbox, SandboxConfig};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Subcommand)]
pub(crate) enum BenchCommand {
    /// Isolate latency, memory per live isolate, throughput and interpreter speed.
    Isolate(IsolateArgs),
    /// OpenAPI load + resolve, catalog, search latency and tool-definition tokens per spec.
    Openapi(OpenapiArgs),
    /// `execute` over MCP streamable HTTP doing 3 API calls to a loopback server.
    Mcp(mcp::McpArgs),
    /// What process isolation adds per execution and per host call over in-process.
    Isolation(isolation::IsolationArgs),
    /// The latency Code Mode adds per proxied MCP call (needs `npm ci` for the upstream).
    Proxy(proxy::ProxyArgs),
    /// Durable agents: cold activation, warm RPC (in-process and HTTP), creations per second.
    Agents(agents::AgentsArgs),
    /// `search` with `code` over a large spec: p50/p90 latency and memory per concurrent call.
    SearchCode(search_code::SearchCodeArgs),
    /// Linux sandboxes: `true` in a fresh and a warm sandbox, workspace sync of 100 files.
    Linuxbox(linuxbox::LinuxboxArgs),
    /// Search ranking quality on queries with known answers: MRR@10, hit@1/3/10, the misses.
    SearchQuality(search_quality::SearchQualityArgs),
    /// Memory recall p50 with 100,000 memories in a profile and deterministic ingest throughput.
    Memory(memory::MemoryArgs),
    /// Chat sessions: history load and search in a 10,000-message session, append, fork.
    Sessions(sessions::SessionsArgs),
    /// Memory recall quality on an evaluation set: evidence recall@k, hit@k, latency.
    MemoryQuality(memory_quality::MemoryQualityArgs),
    /// The agent loop's overhead per step and to the first text chunk, with an instant model.
    Think(think::ThinkArgs),
    /// The browser rung: quick actions on a loopback page, cold and warm, and its memory.
    Browser(browser::BrowserArgs),
    /// Cluster mode on real nodes and PostgreSQL: warm RPC overhead, 3-node throughput,
    /// failover of many agents from a killed node.
    Cluster(cluster::ClusterArgs),
}

#[derive(clap::Args)]
pub(crate) struct OpenapiArgs {
    /// Specs to measure (paths or URLs); defaults to the four in `specs/`.
    specs: Vec<String>,
    /// Search queries timed per spec (the median is reported).
    #[arg(long, default_value_t = 200)]
    queries: usize,
}

#[derive(clap::Args)]
pub(crate) struct IsolateArgs {
    /// Sequential executions for the latency figures.
    #[arg(long, default_value_t = 2_000)]
    samples: usize,
    /// Live isolates held for the memory figure.
    #[arg(long, default_value_t = 1_000)]
    hold: usize,
    /// Executions for the throughput figure.
    #[arg(long, default_value_t = 20_000)]
    executions: usize,
}

pub(crate) async fn bench(command: BenchCommand) -> anyhow::Result<std::process::ExitCode> {
    match command {
        BenchCommand::Isolate(args) => {
            let report = isolate(args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        BenchCommand::Openapi(args) => {
            let report = openapi(args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        BenchCommand::Mcp(args) => {
            let report = mcp::mcp(args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        BenchCommand::Isolation(args) => {
            let report = isolation::isolation(args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        BenchCommand::Agents(args) => {
            let report = agents::agents(args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        BenchCommand::Linuxbox(args) => {
            let report = linuxbox::linuxbox(args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        BenchCommand::Memory(args) => {
            let report = memory::memory(args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        BenchCommand::SearchQuality(args) => {
            let report = search_quality::search_quality(args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        BenchCommand::MemoryQuality(args) => {
            let report = memory_quality::memory_quality(args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        BenchCommand::Proxy(args) => {
            let report = proxy::proxy(args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        BenchCommand::SearchCode(args) => {
            let report = search_code::search_code(args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        BenchCommand::Sessions(args) => {
            let report = sessions::sessions(args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        BenchCommand::Think(args) => {
            let report = think::think(args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        BenchCommand::Browser(args) => {
            let report = browser::browser(args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        BenchCommand::Cluster(args) => {
            let report = cluster::cluster(args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// The trivial snippet every figure runs.
pub(crate) const SNIPPET: &str = "async () => { const xs = [1, 2, 3]; return xs.map(x => x * 2); }";

/// Twenty host functions in five namespaces, as a small API catalog would bind them.
pub(crate) fn twenty_bindings() -> Bindings {
    let mut bindings = Bindings::new();
    for ns in ["users", "repos", "issues", "orders", "files"] {
        for name in ["get", "list", "create", "remove"] {
            let f: sandbox::HostFn = Arc::new(|args| Box::pin(async move { Ok(args) }));
            bindings.insert(&format!("api.{ns}"), name, f);
        }
    }
    bindings
}

async fn isolate(args: IsolateArgs) -> anyhow::Result<serde_json::Value> {
    let machine = machine();
    eprintln!("measuring on {machine}");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let sandbox = Sandbox::new(SandboxConfig { threads: cores })?;
    let bindings = twenty_bindings();
    let run = |code: &str| Execution::new(code).bindings(bindings.clone());

    // Warm up the pool and the allocator.
    for _ in 0..50 {
        sandbox.execute(run(SNIPPET)).await;
    }

    eprintln!(
        "latency: {} executions, each after the pool has refilled…",
        args.samples
    );
    let mut paced = Vec::with_capacity(args.samples);
    for _ in 0..args.samples {
        tokio::time::sleep(Duration::from_millis(1)).await;
        let t = Instant::now();
        let outcome = sandbox.execute(run(SNIPPET)).await;
        paced.push(t.elapsed());
        anyhow::ensure!(outcome.is_ok(), "the snippet failed: {:?}", outcome.error);
    }
    eprintln!("latency: {} executions back to back…", args.samples);
    let mut back_to_back = Vec::with_capacity(args.samples);
    for _ in 0..args.samples {
        let t = Instant::now();
        sandbox.execute(run(SNIPPET)).await;
        back_to_back.push(t.elapsed());
    }
    let mut host_call = Vec::with_capacity(args.samples);
    for _ in 0..args.samples {
        tokio::time::sleep(Duration::from_millis(1)).await;
        let t = Instant::now();
        let outcome = sandbox
            .execute(run("async () => await api.users.get({ id: 1 })"))
            .await;
        host_call.push(t.elapsed());
        anyhow::ensure!(
            outcome.is_ok(),
            "the host-call snippet failed: {:?}",
            outcome.error
        );
    }

    eprintln!(
        "throughput: {} executions on {cores} threads…",
        args.executions
    );
    let sandbox = Arc::new(sandbox);
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let per_task = args.executions / 64;
    for _ in 0..64 {
        let sandbox = sandbox.clone();
        let bindings = bindings.clone();
        tasks.spawn(async move {
            for _ in 0..per_task {
                sandbox
                    .execute(Execution::new(SNIPPET).bindings(bindings.clone()))
                    .await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let executions_per_sec = (per_task * 64) as f64 / t.elapsed().as_secs_f64();

    eprintln!("interpreter: a 1e7-iteration loop…");
    let outcome = sandbox
        .execute(Execution::new(
            "let s = 0; for (let i = 0; i < 1e7; i++) { s += i; } s",
        ))
        .await;
    anyhow::ensure!(outcome.is_ok(), "the loop failed: {:?}", outcome.error);
    let loop_ms = outcome.stats.cpu_us as f64 / 1000.0;

    eprintln!("memory: holding {} live isolates…", args.hold);
    let bytes_per_isolate = tokio::task::spawn_blocking(move || hold_isolates(args.hold)).await??;

    Ok(json!({
        "bench": "isolate",
        "machine": machine,
        "snippet": SNIPPET,
        "bindings": 20,
        "latency_us": {
            "what": "fresh isolate + snippet with 20 bindings, through Sandbox::execute, 1 ms between executions so the pool has refilled",
            "p50": percentile(&mut paced, 50.0), "p99": percentile(&mut paced, 99.0),
        },
        "latency_back_to_back_us": {
            "what": "as latency_us, with no pause: isolate creation partly on the critical path",
            "p50": percentile(&mut back_to_back, 50.0), "p99": percentile(&mut back_to_back, 99.0),
        },
        "latency_one_host_call_us": {
            "what": "as latency_us, with the snippet awaiting one host call",
            "p50": percentile(&mut host_call, 50.0), "p99": percentile(&mut host_call, 99.0),
        },
        "memory_per_isolate_bytes": {
            "what": format!("RSS delta / {} isolates held alive after running the snippet with 20 bindings", args.hold),
            "value": bytes_per_isolate,
        },
        "executions_per_sec": {
            "what": format!("fresh isolate + snippet, 64 concurrent callers, {cores} executor threads"),
            "value": executions_per_sec.round(),
        },
        "loop_1e7_ms": {
            "what": "let s = 0; for (let i = 0; i < 1e7; i++) s += i",
            "value": loop_ms,
        },
    }))
}

/// Creates `n` isolates, runs the snippet in each, keeps them all alive, and returns the
/// resident-memory growth per isolate.
fn hold_isolates(n: usize) -> anyhow::Result<u64> {
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let bindings = twenty_bindings();
    let execution = Execution::new(SNIPPET).bindings(bindings);
    let engine = Engine::new()?;
    // Warm the allocator so its first arenas are not counted against isolates.
    for _ in 0..20 {
        let mut isolate = engine.isolate()?;
        run_in_process(&mut isolate, &execution, runtime.handle());
    }
    let before = rss_bytes()?;
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let mut isolate = engine.isolate()?;
        let outcome = run_in_process(&mut isolate, &execution, runtime.handle());
        anyhow::ensure!(outcome.is_ok(), "the snippet failed: {:?}", outcome.error);
        held.push(isolate);
    }
    let after = rss_bytes()?;
    drop(held);
    Ok(after.saturating_sub(before) / n as u64)
}

fn rss_bytes() -> anyhow::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("unexpected /proc/self/statm"))?;
    Ok(pages * 4096)
}

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    if samples.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (samples.len() - 1) as f64).round() as usize;
    (samples[i].as_secs_f64() * 1e6 * 10.0).round() / 10.0
}

/// A one-line description of this machine: CPU model, cores, memory.
pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or_else(|| "? GiB".into(), |kb| format!("{} GiB", kb >> 20));
    format!(
        "{cpu}, {cores} cores, {memory}, {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// Queries a model might send, spread over every spec's vocabulary.
const QUERIES: &[&str] = &[
    "list users",
    "create an issue",
    "send message to channel",
    "delete a file",
    "update customer email",
    "get the current user's profile",
    "list pull requests for a repository",
    "search messages",
];

async fn openapi(args: OpenapiArgs) -> anyhow::Result<serde_json::Value> {
    let machine = machine();
    eprintln!("measuring on {machine}");
    let specs = if args.specs.is_empty() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../specs");
        [
            "github.json.gz",
            "stripe.json.gz",
            "slack.json.gz",
            "msgraph-v1.json.gz",
        ]
        .iter()
        .map(|f| dir.join(f).to_string_lossy().into_owned())
        .collect()
    } else {
        args.specs
    };
    let mut rows = Vec::new();
    for source in specs {
        eprintln!("{source}: load, catalog, index, {} searches…", args.queries);
        let t = Instant::now();
        let spec = codemode::openapi::load(&source).await?;
        let load_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let catalog = codemode::openapi::catalog(&spec);
        let catalog_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let index = codemode::catalog::search::SearchIndex::new(&catalog);
        let index_ms = t.elapsed().as_secs_f64() * 1e3;
        let mut samples = Vec::with_capacity(args.queries);
        for i in 0..args.queries {
            let t = Instant::now();
            let hits = index.search(QUERIES[i % QUERIES.len()], 10);
            samples.push(t.elapsed());
            std::hint::black_box(hits);
        }
        let summary = codemode::catalog::describe::CatalogSummary::of(&catalog);
        rows.push(json!({
            "spec": source.rsplit('/').next().unwrap_or(&source),
            "operations": catalog.tools.len(),
            "load_ms": load_ms.round(),
            "catalog_ms": catalog_ms.round(),
            "search_index_ms": index_ms.round(),
            "search_p50_us": percentile(&mut samples, 50.0),
            "two_tool_tokens": codemode::catalog::describe::tool_texts(&summary).tokens(),
            "naive_tokens": codemode::catalog::describe::naive_footprint(&catalog),
        }));
    }
    Ok(json!({
        "bench": "openapi",
        "machine": machine,
        "what": "load = read + parse + $ref table (release: targets GitHub ≤ 1 s, Microsoft Graph ≤ 5 s including catalog); search p50 over plain-language queries (target ≤ 5 ms on Microsoft Graph); o200k tokens of both tool definitions (target ≤ 1,000) vs one MCP tool per operation",
        "specs": rows,
    }))
}

/// A bench's throwaway data directory, `PARENT/NAME-PID`: emptied when made, removed however
/// the bench ends (error or panic included).
pub(crate) struct Scratch(std::path::PathBuf);

impl Scratch {
    pub(crate) fn new(parent: &std::path::Path, name: &str) -> Self {
        let dir = parent.join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }

    pub(crate) fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
