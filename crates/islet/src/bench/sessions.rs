//! `islet bench sessions`: a chat session of 10,000 messages in an agent's database:
//! history load, search within it and across the agent's sessions, appending a message,
//! forking it whole.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use store::{DataDir, Env, NewMessage, Role};

use super::Scratch;
use super::memory::{Corpus, Rng};
use super::{machine, percentile};

#[derive(clap::Args)]
pub(crate) struct SessionsArgs {
    /// Messages in the measured session (alternating user and assistant; every tenth
    /// exchange is a tool call and its result).
    #[arg(long, default_value_t = 10_000)]
    messages: usize,
    /// Other sessions of the same agent, 500 messages each, for the search across sessions.
    #[arg(long, default_value_t = 10)]
    other_sessions: usize,
    /// Samples per figure (the median and 99th percentile are reported).
    #[arg(long, default_value_t = 200)]
    samples: usize,
    /// Parent directory of the throwaway data directory (default: the system's temp dir).
    #[arg(long, value_name = "DIR")]
    dir: Option<std::path::PathBuf>,
}

pub(super) async fn sessions(args: SessionsArgs) -> anyhow::Result<Value> {
    tokio::task::spawn_blocking(move || run(args)).await?
}

/// One message of a synthetic conversation: text parts as the AI SDK stores them.
fn message(corpus: &Corpus, rng: &mut Rng, index: usize) -> NewMessage {
    let text = corpus.sentence(rng, 6, 30);
    let parts = json!([{"type": "text", "text": text}]);
    match (index % 20, index % 2) {
        (1, _) => NewMessage::new(
            Role::Assistant,
            json!([{"type": "tool-execute", "toolCallId": format!("call-{index}"),
                    "input": {"code": text}}]),
        )
        .with_text(text)
        .calling([format!("call-{index}")])
        .with_usage(2_000, 60),
        (2, _) => NewMessage::new(Role::Tool, parts).answering([format!("call-{}", index - 1)]),
        (_, 0) => NewMessage::new(Role::User, parts),
        _ => NewMessage::new(Role::Assistant, parts).with_usage(2_000, 120),
    }
}

fn run(args: SessionsArgs) -> anyhow::Result<Value> {
    let machine = machine();
    eprintln!("measuring on {machine}");
    let parent = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let scratch = Scratch::new(&parent, ".islet-bench-sessions");
    let data = DataDir::open(scratch.path(), Env::default())?;
    let mut db = data.open_agent("Bench", "sessions")?;
    let corpus = Corpus::new();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);

    eprintln!(
        "filling: {} messages, plus {} sessions of 500…",
        args.messages, args.other_sessions
    );
    let fill = Instant::now();
    db.begin()?;
    for n in 0..args.other_sessions {
        let other = db.sessions().create(&format!("other {n}"))?.id;
        for index in 0..500 {
            db.sessions()
                .append_to_leaf(&other, &message(&corpus, &mut rng, index))?;
        }
    }
    let session = db.sessions().create("measured")?.id;
    for index in 0..args.messages {
        db.sessions()
            .append_to_leaf(&session, &message(&corpus, &mut rng, index))?;
    }
    db.commit()?;
    let fill_secs = fill.elapsed().as_secs_f64();
    db.checkpoint()?;

    // The first `warm` runs warm SQLite's page and statement caches and are not counted.
    // Besides wall-clock latencies, the CPU time this thread got over all counted runs is
    // reported per run: what the latency would be on an idle core (the machine is often
    // shared; the kernel accounts it per scheduler tick, so only the mean is meaningful).
    let time = |warm: usize, samples: usize, f: &mut dyn FnMut(usize) -> anyhow::Result<usize>| {
        let mut wall = Vec::with_capacity(samples);
        let mut counted = 0;
        let mut cpu_start = None;
        for i in 0..samples + warm {
            if i == warm {
                cpu_start = thread_cpu();
            }
            let t = Instant::now();
            let n = f(i)?;
            if i >= warm {
                wall.push(t.elapsed());
                counted += n;
            }
        }
        let cpu = cpu_start
            .zip(thread_cpu())
            .map(|(start, end)| end.saturating_sub(start) / samples.max(1) as u32);
        anyhow::Ok(((wall, cpu), counted as f64 / samples.max(1) as f64))
    };
    let figure =
        |what: String, (mut wall, cpu): (Vec<Duration>, Option<Duration>), mean: Option<f64>| {
            let mut figure = json!({
                "what": what,
                "p50_ms": millis(percentile(&mut wall, 50.0)),
                "p99_ms": millis(percentile(&mut wall, 99.0)),
                "cpu_mean_ms": cpu.map(|cpu| millis(cpu.as_secs_f64() * 1e6)),
            });
            if let Some(mean) = mean {
                figure["mean_hits"] = json!(mean);
            }
            figure
        };

    eprintln!("history: {} loads…", args.samples);
    let (history, loaded) = time(10, args.samples, &mut |_| {
        Ok(db.sessions().history(&session, None)?.len())
    })?;
    anyhow::ensure!(
        loaded as usize == args.messages,
        "history returned {loaded} messages"
    );

    let queries: Vec<String> = (0..args.samples + 10)
        .map(|_| corpus.sentence(&mut rng, 1, 3))
        .collect();
    eprintln!(
        "search: {} queries within the session, then across…",
        args.samples
    );
    let (within, within_hits) = time(10, args.samples, &mut |i| {
        Ok(db.sessions().search(&session, &queries[i], None)?.len())
    })?;
    let (across, across_hits) = time(10, args.samples, &mut |i| {
        Ok(db.sessions().search_all(&queries[i], None)?.len())
    })?;

    eprintln!(
        "append: {} messages, each its own transaction…",
        args.samples
    );
    let (append, _) = time(10, args.samples, &mut |i| {
        db.sessions()
            .append_to_leaf(&session, &message(&corpus, &mut rng, i * 2))?;
        Ok(1)
    })?;

    eprintln!("fork: the whole session, 5 times…");
    let leaf = db.sessions().get(&session)?.leaf_id.unwrap_or_default();
    let (fork, _) = time(1, 5, &mut |_| {
        let fork = db.sessions().fork(&session, &leaf, None)?;
        Ok(fork.message_count as usize)
    })?;

    let db_bytes = std::fs::metadata(data.agent_path("Bench", "sessions")?).map_or(0, |m| m.len());
    let words = format!(
        "6-30 words per message from a Zipf vocabulary of made-up words; {} other sessions of \
         500 messages; {:.0} MB database",
        args.other_sessions,
        db_bytes as f64 / 1e6
    );
    Ok(json!({
        "bench": "sessions",
        "machine": machine,
        "load_average": load_average(),
        "fill_messages_per_sec": (
            (args.messages + 500 * args.other_sessions) as f64 / fill_secs
        ).round(),
        "history": figure(
            format!(
                "Sessions::history of the current leaf of a {}-message session ({words}), \
                 content handed back as validated JSON text",
                args.messages
            ),
            history,
            None,
        ),
        "search_session": figure(
            "Sessions::search within that session, 1-3 word queries, at most 20 hits with \
             snippets"
                .into(),
            within,
            Some(within_hits),
        ),
        "search_all": figure(
            "Sessions::search_all: the same queries across all the agent's sessions".into(),
            across,
            Some(across_hits),
        ),
        "append": figure(
            "Sessions::append_to_leaf outside a turn (its own committed transaction)".into(),
            append,
            None,
        ),
        "fork": figure(
            format!("Sessions::fork of the whole {}-message session", args.messages),
            fork,
            None,
        ),
    }))
}

/// The CPU time the calling thread has had (Linux's `/proc/thread-self/schedstat`, in ns).
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// The 1-minute load average, to read the wall-clock figures by.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `percentile` reports µs; this bench speaks ms.
fn millis(us: f64) -> f64 {
    (us / 1000.0 * 1000.0).round() / 1000.0
}
