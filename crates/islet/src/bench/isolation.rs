//! `islet bench isolation`: what process isolation costs over in-process isolates.

use super::{SNIPPET, machine, percentile, twenty_bindings};
use crate::run::Isolation;
use sandbox::{Execution, Sandbox};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub(crate) struct IsolationArgs {
    /// Executions timed per figure (the median is reported).
    #[arg(long, default_value_t = 1_000)]
    samples: usize,
}

/// Twenty sequential host calls: their cost per call is the round trip.
const CALLS: &str =
    "async () => { let x = 0; for (let i = 0; i < 20; i++) x = await api.users.get(x); return x; }";
const CALLS_PER_EXECUTION: f64 = 20.0;
/// Pause between executions, so every thread involved has gone idle (the common case for
/// an agent's tool calls).
const PAUSE: Duration = Duration::from_micros(500);

async fn timed(
    sandbox: &Sandbox,
    code: &str,
    samples: usize,
    pause: Duration,
) -> anyhow::Result<f64> {
    let bindings = twenty_bindings();
    for _ in 0..20 {
        sandbox
            .execute(Execution::new(code).bindings(bindings.clone()))
            .await;
    }
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        let t = Instant::now();
        let outcome = sandbox
            .execute(Execution::new(code).bindings(bindings.clone()))
            .await;
        times.push(t.elapsed());
        anyhow::ensure!(outcome.is_ok(), "{code} failed: {:?}", outcome.error);
    }
    Ok(percentile(&mut times, 50.0))
}

pub(super) async fn isolation(args: IsolationArgs) -> anyhow::Result<Value> {
    let machine = machine();
    eprintln!("measuring on {machine}");
    let mut rows = serde_json::Map::new();
    let mut figures = Vec::new();
    for (label, isolation) in [
        ("inprocess", Isolation::Inprocess),
        ("process", Isolation::Process),
    ] {
        eprintln!("{label}: {} executions of each snippet…", args.samples);
        let sandbox = isolation.sandbox(0)?;
        let trivial = timed(&sandbox, SNIPPET, args.samples, PAUSE).await?;
        let back_to_back = timed(&sandbox, SNIPPET, args.samples, Duration::ZERO).await?;
        let with_calls = timed(&sandbox, CALLS, args.samples, PAUSE).await?;
        let per_call = ((with_calls - trivial) / CALLS_PER_EXECUTION * 10.0).round() / 10.0;
        figures.push((trivial, per_call, back_to_back));
        rows.insert(
            label.to_owned(),
            json!({
                "trivial_execution_p50_us": trivial,
                "trivial_execution_back_to_back_p50_us": back_to_back,
                "host_call_round_trip_p50_us": per_call,
            }),
        );
    }
    let (in_trivial, in_call, in_b2b) = figures[0];
    let (pr_trivial, pr_call, pr_b2b) = figures[1];
    Ok(json!({
        "bench": "isolation",
        "machine": machine,
        "what": "p50 of a trivial execution with 20 bindings, and of one host call round trip (from 20 sequential calls minus the trivial execution), in-process vs in `islet worker` processes; targets: process adds ≤ 50 µs per execution and ≤ 30 µs per host call",
        "modes": rows,
        "process_adds_us": {
            "execution": ((pr_trivial - in_trivial) * 10.0).round() / 10.0,
            "execution_back_to_back": ((pr_b2b - in_b2b) * 10.0).round() / 10.0,
            "host_call": ((pr_call - in_call) * 10.0).round() / 10.0,
        },
    }))
}
