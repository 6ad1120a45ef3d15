//! `islet bench think`: what the agent loop adds to a model that answers instantly (the
//! scripted model on loopback): a turn of one step, a turn of two steps with one tool call
//! (checkpoints included), the model calls alone, and time to the first text chunk.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agents::{AgentHost, Classes, HostConfig};
use llm::scripted::{Reply, ScriptedModel};
use llm::{ModelSpec, ProviderKind, ProviderSettings, Request, Settings};
use serde_json::{Value, json};
use store::{DataDir, Env};
use think::ui::Chunk;
use think::{ChatRequest, Harness};

use super::{machine, percentile};
use crate::run::Isolation;

const ASSISTANT: &str = r#"
import { Think } from "agents";
export default class Assistant extends Think {}
"#;

#[derive(clap::Args)]
pub(crate) struct ThinkArgs {
    /// Turns per figure (the median and 99th percentile are reported).
    #[arg(long, default_value_t = 200)]
    samples: usize,
    /// Where agent code runs.
    #[arg(long, value_enum, default_value_t = Isolation::Inprocess)]
    isolation: Isolation,
    /// Parent directory of the throwaway data directory.
    #[arg(long, value_name = "DIR", default_value = ".")]
    dir: std::path::PathBuf,
    /// Chats with as many agents run at once for the concurrency figure (each model answer
    /// takes --concurrent-model-ms), 0 to skip it.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    concurrent: usize,
    /// How long the model takes to start answering in the concurrency figure.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    concurrent_model_ms: u64,
}

pub(super) async fn think(args: ThinkArgs) -> anyhow::Result<Value> {
    let scratch = super::Scratch::new(&args.dir, ".islet-bench-think");
    run(&args, scratch.path()).await
}

async fn run(args: &ThinkArgs, dir: &std::path::Path) -> anyhow::Result<Value> {
    let data = Arc::new(DataDir::open(dir, Env::default())?);
    let sandbox = Arc::new(args.isolation.server_sandbox()?);
    let classes = Classes::from_sources(
        vec![("assistant.ts".to_owned(), ASSISTANT.to_owned())],
        &sandbox,
    )
    .await?;
    let host = AgentHost::start(data, classes, sandbox, HostConfig::default())?;
    let model = ScriptedModel::start().await?;
    let settings = Settings {
        default_model: Some(ModelSpec::new(ProviderKind::OpenAi, "instant")),
        openai: ProviderSettings {
            base_url: Some(model.base_url(ProviderKind::OpenAi)),
            api_key: None,
        },
        ..Settings::default()
    };
    let http = codemode::egress::tls::client_builder()
        .map_err(anyhow::Error::msg)?
        .tcp_nodelay(true)
        .build()?;
    let models = llm::Models::with_env(http, settings, |_| None);
    let direct = models.get(None)?;
    let harness = Harness::new(host, models);
    let answer = || Reply::new().text("ok").usage(10, 1);
    let tool = || Reply::new().tool_call("c", "list", json!({"path": "/"}));

    // Warm up the agent, the connection pool and the caches.
    for _ in 0..5 {
        model.push(answer());
        turn(&harness, "warm").await?;
    }
    let (mut one_step, mut first_delta, mut two_steps) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..args.samples {
        model.push(answer());
        let (total, first) = turn(&harness, "one").await?;
        one_step.push(total);
        first_delta.push(first);
        model.push(tool());
        model.push(answer());
        two_steps.push(turn(&harness, "two").await?.0);
    }
    // The model alone: the same kind of request, straight to the scripted server.
    let request = Request {
        messages: vec![llm::Message::user("hello")],
        ..Request::default()
    };
    let (mut model_call, mut model_first) = (Vec::new(), Vec::new());
    for _ in 0..args.samples {
        model.push(answer());
        let started = Instant::now();
        let mut stream = direct.stream(&request).await?;
        let mut first = None;
        while let Some(event) = stream.next().await {
            event?;
            first.get_or_insert_with(|| started.elapsed());
        }
        model_call.push(started.elapsed());
        model_first.push(first.unwrap_or_default());
    }
    let concurrent = if args.concurrent > 0 {
        concurrently(&harness, &model, args.concurrent, args.concurrent_model_ms).await?
    } else {
        Value::Null
    };
    let model_p50 = percentile(&mut model_call, 50.0);
    let one_p50 = percentile(&mut one_step, 50.0);
    let two_p50 = percentile(&mut two_steps, 50.0);
    Ok(json!({
        "bench": "think",
        "machine": machine(),
        "samples": args.samples,
        "isolation": match args.isolation { Isolation::Inprocess => "inprocess", Isolation::Process => "process" },
        "turn_one_step_us": {"p50": one_p50, "p99": percentile(&mut one_step, 99.0)},
        "turn_two_steps_one_tool_call_us": {"p50": two_p50, "p99": percentile(&mut two_steps, 99.0)},
        "model_call_us": {"p50": model_p50, "p99": percentile(&mut model_call, 99.0)},
        "overhead_per_step_us_p50": {
            "one_step": ((one_p50 - model_p50) * 10.0).round() / 10.0,
            "two_steps_with_tool_call": (((two_p50 - 2.0 * model_p50) / 2.0) * 10.0).round() / 10.0,
        },
        "first_text_chunk_us": {
            "turn_p50": percentile(&mut first_delta, 50.0),
            "model_alone_p50": percentile(&mut model_first, 50.0),
        },
        "concurrent_chats": concurrent,
    }))
}

/// `n` chats, each with an agent of its own, all at once against a model that takes
/// `model_ms` to answer: how long until all finished, how many failed, and the memory
/// they took (this process's resident set before, at its peak, and after).
async fn concurrently(
    harness: &Harness,
    model: &ScriptedModel,
    n: usize,
    model_ms: u64,
) -> anyhow::Result<Value> {
    eprintln!(
        "concurrency: {n} chats with {n} agents at once, the model answering after {model_ms} ms…"
    );
    for _ in 0..n {
        model.push(
            Reply::new()
                .first_delay(Duration::from_millis(model_ms))
                .text("ok")
                .usage(10, 1),
        );
    }
    let before = super::rss_bytes()?;
    let started = Instant::now();
    let mut turns = tokio::task::JoinSet::new();
    for i in 0..n {
        let harness = harness.clone();
        turns.spawn(async move {
            let name = format!("c{i}");
            turn(&harness, &name).await.map(|(total, _)| total)
        });
    }
    let mut times = Vec::with_capacity(n);
    let mut failed = 0;
    let mut peak = before;
    loop {
        tokio::select! {
            joined = turns.join_next() => match joined {
                Some(Ok(Ok(took))) => times.push(took),
                Some(_) => failed += 1,
                None => break,
            },
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
        peak = peak.max(super::rss_bytes()?);
    }
    let all = started.elapsed();
    let after = super::rss_bytes()?;
    let mib = |bytes: u64| (bytes as f64 / 1048576.0 * 10.0).round() / 10.0;
    Ok(json!({
        "chats": n,
        "failed": failed,
        "model_first_byte_ms": model_ms,
        "all_finished_ms": all.as_millis() as u64,
        "turn_ms": {
            "p50": (percentile(&mut times, 50.0) / 100.0).round() / 10.0,
            "p99": (percentile(&mut times, 99.0) / 100.0).round() / 10.0,
        },
        "rss_mib": {"before": mib(before), "peak": mib(peak), "after": mib(after)},
        "peak_kib_per_chat": ((peak.saturating_sub(before)) as f64 / 1024.0 / n as f64).round(),
    }))
}

/// One turn: (total time to `finish`, time to the first text delta), both from the call.
async fn turn(harness: &Harness, name: &str) -> anyhow::Result<(Duration, Duration)> {
    let started = Instant::now();
    let mut turn = harness
        .chat(
            "Assistant",
            name,
            ChatRequest {
                session_id: None,
                text: "hello".to_owned(),
                ..Default::default()
            },
        )
        .await?;
    let mut first = None;
    while let Some(chunk) = turn.chunks.recv().await {
        match chunk {
            Chunk::TextDelta { .. } => {
                first.get_or_insert_with(|| started.elapsed());
            }
            Chunk::Error { error_text } => anyhow::bail!("the turn failed: {error_text}"),
            _ => {}
        }
    }
    Ok((started.elapsed(), first.unwrap_or_default()))
}
