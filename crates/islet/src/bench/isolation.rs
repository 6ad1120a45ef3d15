//! `islet bench isolation`: what process isolation costs over in-process isolates.

use super::{SNIPPET, machine, percentile, twenty_bindings};
use crate::run::Isolation;
use sandbox::{Execution, Sandbox};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct IsolationArgs {
    /// Executions timed per figure (the median is reported).
    #[arg(long, default_value_t = 1_000)]
    samples: usize,
}

/// Twenty sequential host calls: their cost per call is the round trip.
const CALLS: &str =
    "async () => { let x = 0; for (let i = 0; i < 20; i++) x = await api.users.get(x); return x; }";
const CALLS_PER_EXECUTION: f64 = 20.0;

async fn timed(sandbox: &Sandbox, code: &str, samples: usize) -> anyhow::Result<f64> {
    let bindings = twenty_bindings();
    for _ in 0..20 {
        sandbox
            .execute(Execution::new(code).bindings(bindings.clone()))
            .await;
    }
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        tokio::time::sleep(Duration::from_micros(500)).await;
        let t = Instant::now();
        let outcome = sandbox
            .execute(Execution::new(code).bindings(bindings.clone()))
            .await;
        times.push(t.elapsed());
        anyhow::ensure!(outcome.is_ok(), "{code} failed: {:?}", outcome.error);
    }
    Ok(percentile(&mut times, 50.0))
}

pub async fn isolation(args: IsolationArgs) -> anyhow::Result<Value> {
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
        let trivial = timed(&sandbox, SNIPPET, args.samples).await?;
        let with_calls = timed(&sandbox, CALLS, args.samples).await?;
        let per_call = ((with_calls - trivial) / CALLS_PER_EXECUTION * 10.0).round() / 10.0;
        figures.push((trivial, per_call));
        rows.insert(
            label.to_owned(),
            json!({ "trivial_execution_p50_us": trivial, "host_call_round_trip_p50_us": per_call }),
        );
    }
    let (in_trivial, in_call) = figures[0];
    let (pr_trivial, pr_call) = figures[1];
    Ok(json!({
        "bench": "isolation",
        "machine": machine,
        "what": "p50 of a trivial execution with 20 bindings, and of one host call round trip (from 20 sequential calls minus the trivial execution), in-process vs in `islet worker` processes; targets: process adds ≤ 50 µs per execution and ≤ 30 µs per host call",
        "modes": rows,
        "process_adds_us": {
            "execution": ((pr_trivial - in_trivial) * 10.0).round() / 10.0,
            "host_call": ((pr_call - in_call) * 10.0).round() / 10.0,
        },
    }))
}
