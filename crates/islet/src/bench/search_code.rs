//! `islet bench search-code SPEC`: `search` with `code` over a large spec, end to end through
//! the Code Mode server: latency of typical search code and the memory each concurrent call
//! adds (in-process isolation: with worker processes this process's RSS does not show it).

use super::{machine, percentile, rss_bytes};
use crate::run::Isolation;
use codemode::mcp::{CodeModeServer, ServerOptions};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub(crate) struct SearchCodeArgs {
    /// The spec (path or URL), e.g. specs/msgraph-v1.json.gz.
    spec: String,
    /// Calls timed per code (the median is reported).
    #[arg(long, default_value_t = 50)]
    samples: usize,
    /// Calls in flight at once for the memory figure.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Where the code runs: this process (default) or `islet worker` processes, as
    /// `islet mcp openapi` does by default.
    #[arg(long, value_enum, default_value_t = Isolation::Inprocess)]
    isolation: Isolation,
    /// Two words an operation's path, summary or tags must contain.
    #[arg(long, num_args = 2, default_values_t = ["message".to_owned(), "attachment".to_owned()])]
    words: Vec<String>,
}

/// Every operation filtered on words in its path, summary and tags; a few returned.
fn filter_code(words: &[String]) -> String {
    format!(
        "async () => {{
  const found = [];
  for (const [path, item] of Object.entries(spec.paths)) {{
    for (const [method, op] of Object.entries(item)) {{
      const text = `${{path}} ${{op.summary ?? ''}} ${{(op.tags ?? []).join(' ')}}`.toLowerCase();
      if ({}) found.push({{ method: method.toUpperCase(), path, summary: op.summary }});
    }}
  }}
  return {{ count: found.length, first: found.slice(0, 5) }};
}}",
        conditions(words)
    )
}

/// The same filter, returning the parameters and request body of the first few matches.
fn details_code(words: &[String]) -> String {
    format!(
        "async () => {{
  const found = [];
  for (const [path, item] of Object.entries(spec.paths)) {{
    for (const [method, op] of Object.entries(item)) {{
      const text = `${{path}} ${{op.summary ?? ''}} ${{(op.tags ?? []).join(' ')}}`.toLowerCase();
      if ({}) found.push({{ method, path, item, op }});
    }}
  }}
  return found.slice(0, 3).map(({{ method, path, item, op }}) => ({{
    method, path, summary: op.summary,
    parameters: [...(item.parameters ?? []), ...(op.parameters ?? [])].map(p => p.name),
    body: op.requestBody?.content?.['application/json']?.schema?.type ?? null,
  }}));
}}",
        conditions(words)
    )
}

fn conditions(words: &[String]) -> String {
    words
        .iter()
        .map(|w| format!("text.includes({})", json!(w.to_lowercase())))
        .collect::<Vec<_>>()
        .join(" && ")
}

async fn call(server: &CodeModeServer, code: &str) -> anyhow::Result<Value> {
    let mut arguments = Map::new();
    arguments.insert("code".into(), json!(code));
    let result = server
        .call("search", &arguments)
        .await
        .map_err(|e| anyhow::anyhow!("search failed: {}", e.message))?;
    let text: String = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect();
    anyhow::ensure!(result.is_error != Some(true), "search code failed: {text}");
    Ok(serde_json::from_str::<Value>(&text)?["result"].take())
}

/// CPU time this process has used (all threads), from `/proc/self/stat`: on shared cores it
/// says what a call costs whatever else runs, where wall time says what a caller waits.
fn process_cpu() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name (which may hold spaces) start at `state`.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow::anyhow!("unexpected /proc/self/stat"))?;
    let fields: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse().ok())
        .collect();
    anyhow::ensure!(fields.len() == 2, "unexpected /proc/self/stat");
    // Clock ticks: USER_HZ is 100 on Linux.
    Ok(Duration::from_millis((fields[0] + fields[1]) * 10))
}

async fn timed(server: &CodeModeServer, code: &str, samples: usize) -> anyhow::Result<Value> {
    let samples = samples.max(1);
    let mut times = Vec::with_capacity(samples);
    let cpu = process_cpu()?;
    for _ in 0..samples {
        let t = Instant::now();
        call(server, code).await?;
        times.push(t.elapsed());
    }
    let cpu_ms = (process_cpu()? - cpu).as_secs_f64() * 1e3 / samples as f64;
    Ok(json!({
        "p50": percentile(&mut times, 50.0) / 1000.0,
        "p90": percentile(&mut times, 90.0) / 1000.0,
        "cpu_ms_per_call": (cpu_ms * 10.0).round() / 10.0,
    }))
}

pub(super) async fn search_code(args: SearchCodeArgs) -> anyhow::Result<Value> {
    let machine = machine();
    eprintln!("measuring on {machine}");
    let t = Instant::now();
    let spec = codemode::openapi::load(&args.spec).await?;
    let operations = spec.operation_count();
    let catalog = codemode::openapi::catalog(&spec);
    eprintln!(
        "{}: {operations} operations, loaded in {} ms",
        args.spec,
        t.elapsed().as_millis()
    );
    let mut options = ServerOptions::default();
    let isolation = match args.isolation {
        Isolation::Inprocess => "inprocess",
        Isolation::Process => {
            options.workers = Some(crate::run::worker_config()?);
            "process"
        }
    };
    let server = CodeModeServer::new(
        catalog,
        sandbox::Bindings::new(),
        Some(Arc::new(spec)),
        options,
    )?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let filter = filter_code(&args.words);
    let details = details_code(&args.words);

    // The first call prepares the compact spec; each executor thread compiles it once.
    let t = Instant::now();
    let first = call(&server, &filter).await?;
    let cold_ms = t.elapsed().as_secs_f64() * 1e3;
    eprintln!("first call (prepares the spec): {cold_ms:.0} ms; {first}");
    for _ in 0..cores * 3 {
        call(&server, "async () => 1").await?;
        call(&server, &details).await?;
    }
    let found = call(&server, &details).await?;

    eprintln!("timing {} calls per code…", args.samples);
    let trivial = timed(&server, "async () => 1", args.samples).await?;
    let filtered = timed(&server, &filter, args.samples).await?;
    let detailed = timed(&server, &details, args.samples).await?;

    eprintln!("{} calls at once, sampling RSS…", args.concurrency);
    let baseline = rss_bytes()?;
    let peak = Arc::new(AtomicU64::new(baseline));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (Arc::clone(&peak), Arc::clone(&done));
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                if let Ok(rss) = rss_bytes() {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    for _ in 0..5 {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..args.concurrency.max(1) {
            let (server, details) = (server.clone(), details.clone());
            set.spawn(async move { call(&server, &details).await });
        }
        while let Some(joined) = set.join_next().await {
            joined??;
        }
    }
    done.store(true, Ordering::Relaxed);
    sampler.await?;
    let growth = peak.load(Ordering::Relaxed).saturating_sub(baseline);
    let mib = |b: u64| (b as f64 / 1048576.0 * 10.0).round() / 10.0;

    Ok(json!({
        "bench": "search-code",
        "machine": machine,
        "spec": args.spec,
        "operations": operations,
        "isolation": isolation,
        "first_call_ms": (cold_ms * 10.0).round() / 10.0,
        "async_1_ms": trivial,
        "filter_ms": {
            "what": "every operation filtered on words in its path, summary and tags; 5 returned (one run)",
            "code": filter,
            "latency": filtered,
        },
        "details_ms": {
            "what": "the same filter returning the parameters and body type of 3 matches (one run: each member read is looked up from the host when first touched)",
            "result": found,
            "latency": detailed,
        },
        "rss": {
            "what": format!("peak RSS growth of this process over the warm baseline while {} `details` calls run at once, 5 rounds (isolates in this process only with --isolation inprocess)", args.concurrency),
            "baseline_mib": mib(baseline),
            "growth_mib": mib(growth),
            "per_concurrent_call_mib": mib(growth / args.concurrency.max(1) as u64),
        },
    }))
}
