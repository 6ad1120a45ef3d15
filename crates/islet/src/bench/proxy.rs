//! `islet bench proxy`: the latency a Code Mode program adds per proxied MCP call.
//!
//! Direct: the proxy's own host-side call to the upstream (the rmcp client round trip,
//! unwrapping included), awaited in Rust. Proxied: the same call made from JavaScript in an
//! isolate. Both sides use the same connection to the same upstream (the `everything`
//! reference server's `echo`), so the difference is what Code Mode adds per call.

use super::{machine, percentile};
use codemode::mcp::upstream::{Proxy, ProxyOptions};
use sandbox::{Execution, Sandbox, SandboxConfig};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub(crate) struct ProxyArgs {
    /// Samples per figure (the median is reported).
    #[arg(long, default_value_t = 300)]
    samples: usize,
    /// The `everything` server's binary.
    #[arg(long, default_value = "node_modules/.bin/mcp-server-everything")]
    everything: String,
}

/// Calls per proxied execution: the per-call figure is the slope, so isolate start-up
/// does not count against the proxy.
const CALLS: usize = 10;

pub(super) async fn proxy(args: ProxyArgs) -> anyhow::Result<Value> {
    let machine = machine();
    eprintln!("measuring on {machine}");
    let config = json!({ "mcpServers": { "everything": { "command": args.everything, "args": ["stdio"] } } });
    let config = codemode::mcp::config::parse(&config.to_string(), "bench", |_| None)?;
    let proxy = Arc::new(Proxy::new(config, ProxyOptions::default()).await?);
    proxy.start().await;
    let (_, bindings) = proxy.catalog();
    let echo = bindings.get("everything", "echo").cloned().ok_or_else(|| {
        anyhow::anyhow!("the everything server has no `echo` tool (is it installed? run npm ci)")
    })?;

    for _ in 0..50 {
        echo(json!({ "message": "warm" }))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    eprintln!("direct: {} calls…", args.samples);
    let mut direct = Vec::with_capacity(args.samples);
    for _ in 0..args.samples {
        let t = Instant::now();
        echo(json!({ "message": "hi" }))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        direct.push(t.elapsed());
    }

    let sandbox = Sandbox::new(SandboxConfig::default())?;
    let program = |calls: usize| {
        format!(
            "async () => {{ for (let i = 0; i < {calls}; i++) await everything.echo({{ message: 'hi' }}); return 1; }}"
        )
    };
    let run = |calls: usize| {
        let sandbox = &sandbox;
        let bindings = bindings.clone();
        let code = program(calls);
        async move {
            let t = Instant::now();
            let outcome = sandbox
                .execute(Execution::new(code).bindings(bindings))
                .await;
            anyhow::ensure!(outcome.is_ok(), "the program failed: {:?}", outcome.error);
            Ok::<Duration, anyhow::Error>(t.elapsed())
        }
    };
    for _ in 0..20 {
        run(CALLS).await?;
    }
    eprintln!(
        "proxied: {} executions of 0 and {CALLS} calls…",
        args.samples
    );
    let mut none = Vec::with_capacity(args.samples);
    let mut many = Vec::with_capacity(args.samples);
    for _ in 0..args.samples {
        none.push(run(0).await?);
        many.push(run(CALLS).await?);
    }
    let direct_p50 = percentile(&mut direct, 50.0);
    let per_call = (percentile(&mut many, 50.0) - percentile(&mut none, 50.0)) / CALLS as f64;
    proxy.shutdown().await;
    Ok(json!({
        "bench": "proxy",
        "machine": machine,
        "what": "p50 of one `everything.echo` MCP call: direct (the proxy's host-side call) vs from JavaScript in an isolate (slope over 10 sequential calls); target: Code Mode adds ≤ 200 µs",
        "direct_call_p50_us": direct_p50,
        "proxied_call_p50_us": (per_call * 10.0).round() / 10.0,
        "added_per_call_us": ((per_call - direct_p50) * 10.0).round() / 10.0,
    }))
}
