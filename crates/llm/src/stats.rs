//! Process-wide totals of model calls per provider, kept as atomics (no lock on the
//! streaming path) and read at scrape time (`islet serve`'s `/metrics`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::spec::ProviderKind;
use crate::types::Usage;

/// Upper bounds, in seconds, of the latency histogram's buckets.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.000_5, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

/// One provider's totals: answers that streamed to their end (or failed while streaming),
/// their durations from the request to the last event, and the tokens servers reported.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderStats {
    /// Calls whose answer streamed to its end.
    pub calls_ok: u64,
    /// Calls that failed, before or while streaming.
    pub calls_failed: u64,
    /// Calls at or under each bound of [`LATENCY_BUCKETS`] (not cumulative).
    pub latency_buckets: [u64; LATENCY_BUCKETS.len()],
    /// The sum of all calls' durations, in seconds (with the buckets, a Prometheus
    /// histogram).
    pub latency_seconds_sum: f64,
    /// Prompt tokens, as the servers reported them (calls without usage add nothing).
    pub input_tokens: u64,
    /// Generated tokens, as the servers reported them.
    pub output_tokens: u64,
}

#[derive(Default)]
struct Totals {
    calls_ok: AtomicU64,
    calls_failed: AtomicU64,
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    micros: AtomicU64,
    input_tokens: AtomicU64,
    output_tokens: AtomicU64,
}

static OPENAI: Totals = Totals::new();
static ANTHROPIC: Totals = Totals::new();

impl Totals {
    const fn new() -> Self {
        Self {
            calls_ok: AtomicU64::new(0),
            calls_failed: AtomicU64::new(0),
            buckets: [const { AtomicU64::new(0) }; LATENCY_BUCKETS.len()],
            micros: AtomicU64::new(0),
            input_tokens: AtomicU64::new(0),
            output_tokens: AtomicU64::new(0),
        }
    }

    fn of(provider: ProviderKind) -> &'static Totals {
        match provider {
            ProviderKind::OpenAi => &OPENAI,
            ProviderKind::Anthropic => &ANTHROPIC,
        }
    }
}

/// Counts one model call that ended after `elapsed`.
pub(crate) fn record(provider: ProviderKind, elapsed: Duration, usage: Option<Usage>, ok: bool) {
    let totals = Totals::of(provider);
    let counter = if ok {
        &totals.calls_ok
    } else {
        &totals.calls_failed
    };
    counter.fetch_add(1, Ordering::Relaxed);
    let seconds = elapsed.as_secs_f64();
    if let Some(i) = LATENCY_BUCKETS.iter().position(|b| seconds <= *b) {
        totals.buckets[i].fetch_add(1, Ordering::Relaxed);
    }
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    totals.micros.fetch_add(micros, Ordering::Relaxed);
    if let Some(usage) = usage {
        totals
            .input_tokens
            .fetch_add(usage.input_tokens, Ordering::Relaxed);
        totals
            .output_tokens
            .fetch_add(usage.output_tokens, Ordering::Relaxed);
    }
}

/// Every provider's totals so far in this process.
pub fn stats() -> Vec<(ProviderKind, ProviderStats)> {
    [ProviderKind::OpenAi, ProviderKind::Anthropic]
        .into_iter()
        .map(|provider| {
            let t = Totals::of(provider);
            let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
            let stats = ProviderStats {
                calls_ok: load(&t.calls_ok),
                calls_failed: load(&t.calls_failed),
                latency_buckets: std::array::from_fn(|i| load(&t.buckets[i])),
                latency_seconds_sum: load(&t.micros) as f64 / 1e6,
                input_tokens: load(&t.input_tokens),
                output_tokens: load(&t.output_tokens),
            };
            (provider, stats)
        })
        .collect()
}
