//! `islet bench memory`: recall latency in a large profile and deterministic ingest
//! throughput, on synthetic conversations.

use ::memory::{Memories, MemoryConfig, Message, RecallOptions, Session};
use serde_json::json;
use std::time::Instant;

#[derive(clap::Args)]
pub(crate) struct MemoryArgs {
    /// Memories in the profile the recall latency is measured on.
    #[arg(long, default_value_t = 100_000)]
    memories: usize,
    /// Recalls timed (the median and 99th percentile are reported).
    #[arg(long, default_value_t = 500)]
    queries: usize,
    /// Messages ingested in one call for the throughput figure.
    #[arg(long, default_value_t = 50_000)]
    ingest_messages: usize,
}

/// A deterministic stream of pseudo-random numbers (xorshift64*): the same corpus on every
/// run and machine.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ren", "tu", "sa", "vel", "dor", "pin", "ga", "sho", "ber", "lin", "to",
    "mar", "qui", "zen", "fa", "ro", "nel", "di", "cam", "pe", "wis",
];

/// A vocabulary of made-up words whose use follows Zipf's law, like natural language: a
/// few words appear in a large share of messages, most are rare.
pub(super) struct Corpus {
    words: Vec<String>,
}

impl Corpus {
    pub(super) fn new() -> Self {
        let mut words = Vec::new();
        for a in SYLLABLES {
            for b in SYLLABLES {
                words.push(format!("{a}{b}"));
                for c in ["", "ta", "mo"] {
                    if !c.is_empty() {
                        words.push(format!("{a}{b}{c}"));
                    }
                }
            }
        }
        Self { words }
    }

    /// Rank r has probability ∝ 1/r (sampled by inverting the log-uniform approximation).
    fn word(&self, rng: &mut Rng) -> &str {
        let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
        let rank = (self.words.len() as f64).powf(u) as usize;
        &self.words[rank.saturating_sub(1).min(self.words.len() - 1)]
    }

    pub(super) fn sentence(&self, rng: &mut Rng, min: usize, max: usize) -> String {
        let n = min + rng.below(max - min + 1);
        (0..n).map(|_| self.word(rng)).collect::<Vec<_>>().join(" ")
    }

    fn sessions(&self, rng: &mut Rng, prefix: &str, messages: usize) -> Vec<Session> {
        let speakers = ["alice", "bob", "carol", "dan"];
        let per_session = 50;
        (0..messages.div_ceil(per_session))
            .map(|s| Session {
                session_id: format!("{prefix}-s{s}"),
                occurred_at: 1_700_000_000_000 + s as i64 * 3_600_000,
                messages: (0..per_session.min(messages - s * per_session))
                    .map(|m| Message {
                        id: format!("{prefix}-s{s}-m{m}"),
                        speaker: speakers[rng.below(speakers.len())].into(),
                        text: format!("{}.", self.sentence(rng, 6, 30)),
                        occurred_at: None,
                    })
                    .collect(),
            })
            .collect()
    }
}

pub(super) async fn memory(args: MemoryArgs) -> anyhow::Result<serde_json::Value> {
    let machine = super::machine();
    eprintln!("measuring on {machine}");
    let scratch = super::Scratch::new(&std::env::temp_dir(), "islet-bench-memory");
    let memories = Memories::new(MemoryConfig::new(scratch.path()));
    let corpus = Corpus::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);

    eprintln!(
        "ingest: {} messages in one call (deterministic extractor)…",
        args.ingest_messages
    );
    let sessions = corpus.sessions(&mut rng, "ingest", args.ingest_messages);
    let p = memories.profile("bench/ingest")?;
    let t = Instant::now();
    let report = p.ingest_sessions(sessions, None).await?;
    let ingest_secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(report.added == args.ingest_messages, "ingest: {report:?}");

    eprintln!("recall: filling a profile with {} memories…", args.memories);
    let p = memories.profile("bench/recall")?;
    let batch = 20_000;
    let mut filled = 0;
    let t = Instant::now();
    while filled < args.memories {
        let n = batch.min(args.memories - filled);
        let sessions = corpus.sessions(&mut rng, &format!("fill{filled}"), n);
        let report = p.ingest_sessions(sessions, None).await?;
        anyhow::ensure!(report.added == n, "fill: {report:?}");
        filled += n;
    }
    let fill_secs = t.elapsed().as_secs_f64();

    eprintln!("recall: {} queries, limit 10…", args.queries);
    let queries: Vec<String> = (0..args.queries + 20)
        .map(|_| corpus.sentence(&mut rng, 2, 5))
        .collect();
    let mut latencies = Vec::with_capacity(args.queries);
    let mut returned = 0;
    for (i, q) in queries.iter().enumerate() {
        let t = Instant::now();
        let r = p.recall(q, RecallOptions::default()).await?;
        let elapsed = t.elapsed();
        // The first 20 warm SQLite's page cache and statement cache.
        if i >= 20 {
            latencies.push(elapsed);
            returned += r.results.len();
        }
    }
    let db_bytes = std::fs::metadata(p.path()).map_or(0, |m| m.len());
    Ok(json!({
        "bench": "memory",
        "machine": machine,
        "recall_ms": {
            "what": format!(
                "Profile::recall, limit 10, full-text only (no embeddings endpoint), {} queries \
                 of 2-5 words drawn from a Zipf vocabulary of {} made-up words, in a profile of \
                 {} memories (one per message, 6-30 words each; {:.0} MB on disk)",
                args.queries, corpus.words.len(), args.memories, db_bytes as f64 / 1e6
            ),
            "p50": millis(super::percentile(&mut latencies.clone(), 50.0)),
            "p99": millis(super::percentile(&mut latencies, 99.0)),
            "mean_results": returned as f64 / args.queries.max(1) as f64,
        },
        "ingest_messages_per_sec": {
            "what": format!(
                "Profile::ingest_sessions of {} messages (50 per session) in one call and one \
                 transaction, deterministic extractor, into a new profile, synchronous=FULL",
                args.ingest_messages
            ),
            "value": (args.ingest_messages as f64 / ingest_secs).round(),
        },
        "fill_messages_per_sec": {
            "what": "the same, in calls of 20,000 messages into the growing recall profile",
            "value": (args.memories as f64 / fill_secs).round(),
        },
    }))
}

/// `percentile` reports µs; this bench speaks ms.
fn millis(us: f64) -> f64 {
    (us / 1000.0 * 1000.0).round() / 1000.0
}
