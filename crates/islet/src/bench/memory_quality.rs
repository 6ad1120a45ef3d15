//! `islet bench memory-quality DIR`: the evaluation set's metric (evidence recall@k, hit@k)
//! and recall latency over a directory in its layout, full-text only and, with an
//! embeddings endpoint, hybrid.

use ::memory::eval::{self, Evaluation, Tally};
use ::memory::{Memories, MemoryConfig};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub(crate) struct MemoryQualityArgs {
    /// A directory of `NAME.json` conversations (ingest format) each with its
    /// `NAME.questions.json` (e.g. ../shared/data/memory-eval).
    dir: PathBuf,
    /// Memories recalled per question (the k of recall@k).
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// OpenAI-compatible embeddings endpoint: also measure hybrid recall.
    #[arg(long, value_name = "URL")]
    embeddings_url: Option<String>,
    /// The embeddings model's name (needed with --embeddings-url).
    #[arg(long, value_name = "MODEL")]
    embeddings_model: Option<String>,
    /// Environment variable holding the embeddings endpoint's API key.
    #[arg(long, value_name = "VAR", default_value = "OPENAI_API_KEY")]
    embeddings_key_env: String,
    /// Vector weights of the hybrid recall (`Ranking::vector_weight`); several, comma
    /// separated, are each measured over the same ingest (for tuning). Default: the
    /// default ranking's.
    #[arg(long, value_name = "W[,W…]", value_delimiter = ',')]
    vector_weight: Vec<f64>,
}

pub(super) async fn memory_quality(args: MemoryQualityArgs) -> anyhow::Result<Value> {
    let machine = super::machine();
    eprintln!("measuring on {machine}");
    anyhow::ensure!((1..=100).contains(&args.k), "--k must be 1 to 100");
    let conversations = eval::load_dir(&args.dir)?;
    let embeddings = crate::memory::embeddings_endpoint(
        &args.embeddings_url,
        &args.embeddings_model,
        &args.embeddings_key_env,
    )?;
    let scratch = super::Scratch::new(&std::env::temp_dir(), "islet-bench-memory-quality");
    let config = MemoryConfig::new(scratch.path());
    let fts = Memories::new(config.clone());
    anyhow::ensure!(
        args.vector_weight
            .iter()
            .all(|w| w.is_finite() && (0.0..=1.0).contains(w)),
        "--vector-weight takes numbers from 0 to 1"
    );
    let mut args = args;
    if args.vector_weight.is_empty() {
        args.vector_weight
            .push(::memory::Ranking::default().vector_weight);
    }
    // One reader per weight; the first also writes the vectors.
    let hybrid: Vec<(f64, Memories)> = match embeddings {
        None => Vec::new(),
        Some(e) => args
            .vector_weight
            .iter()
            .map(|&w| {
                let ranking = ::memory::Ranking {
                    vector_weight: w,
                    ..::memory::Ranking::default()
                };
                (
                    w,
                    Memories::new(config.clone().embeddings(e.clone()).ranking(ranking)),
                )
            })
            .collect(),
    };

    let mut full_text = Evaluation::default();
    let mut fused: Vec<Evaluation> = hybrid.iter().map(|_| Evaluation::default()).collect();
    let questions: usize = conversations.iter().map(|c| c.questions.len()).sum();
    eprintln!(
        "{} conversations, {questions} questions, top {}",
        conversations.len(),
        args.k
    );
    for c in conversations {
        let profile = format!("eval/{}", c.name);
        let t = Instant::now();
        // With embeddings, the ingest stores vectors too; full-text recall ignores them.
        let writer = hybrid.first().map_or(&fts, |(_, m)| m).profile(&profile)?;
        let report = writer.ingest_sessions(c.sessions, None).await?;
        eprintln!(
            "{}: ingested {} messages in {:.1} s; {} questions…",
            c.name,
            report.messages,
            t.elapsed().as_secs_f64(),
            c.questions.len()
        );
        let e = eval::evaluate(&fts.profile(&profile)?, &c.questions, args.k).await?;
        eprintln!(
            "{}: full text recall@{k} {:.3} hit@{k} {:.3}",
            c.name,
            e.overall.recall(),
            e.overall.hit_rate(),
            k = args.k
        );
        full_text.merge(e);
        for ((w, hybrid), fused) in hybrid.iter().zip(&mut fused) {
            let e = eval::evaluate(&hybrid.profile(&profile)?, &c.questions, args.k).await?;
            eprintln!(
                "{}: hybrid (vector weight {w}) recall@{k} {:.3} hit@{k} {:.3}",
                c.name,
                e.overall.recall(),
                e.overall.hit_rate(),
                k = args.k
            );
            fused.merge(e);
        }
    }
    let mut report = json!({
        "bench": "memory-quality",
        "machine": machine,
        "dir": args.dir.display().to_string(),
        "what": format!(
            "each conversation ingested into its own profile (deterministic extractor); per \
             question the top {} memories recalled; evidence recall = share of the question's \
             evidence message ids among their sources, averaged; hit = at least one found; \
             latency = Profile::recall wall time",
            args.k
        ),
        "full_text": summary(&mut full_text, args.k),
    });
    if let [(_, _)] = hybrid.as_slice() {
        report["hybrid"] = summary(&mut fused[0], args.k);
        report["vector_weight"] = json!(args.vector_weight[0]);
    } else if !hybrid.is_empty() {
        report["hybrid"] = hybrid
            .iter()
            .zip(&mut fused)
            .map(|((w, _), e)| (w.to_string(), summary(e, args.k)))
            .collect::<serde_json::Map<String, Value>>()
            .into();
    }
    if !hybrid.is_empty() {
        report["embeddings_model"] = json!(args.embeddings_model);
    }
    Ok(report)
}

fn tally(t: &Tally, k: usize) -> Value {
    json!({
        "questions": t.questions,
        format!("evidence_recall@{k}"): round3(t.recall()),
        format!("hit@{k}"): round3(t.hit_rate()),
    })
}

fn summary(e: &mut Evaluation, k: usize) -> Value {
    let categories: serde_json::Map<String, Value> = e
        .by_category
        .iter()
        .map(|(c, t)| (category_name(*c), tally(t, k)))
        .collect();
    let mut out = tally(&e.overall, k);
    out["by_category"] = Value::Object(categories);
    out["recall_latency_ms"] = json!({
        "p50": round3(super::percentile(&mut e.latencies, 50.0) / 1000.0),
        "p99": round3(super::percentile(&mut e.latencies, 99.0) / 1000.0),
    });
    out
}

/// LoCoMo's category numbers with their names.
fn category_name(c: u32) -> String {
    let name = match c {
        1 => "multi-hop",
        2 => "temporal",
        3 => "open-domain",
        4 => "single-hop",
        5 => "adversarial",
        _ => "other",
    };
    format!("{c} {name}")
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
