//! `islet bench search-quality`: how often plain-words `search` queries find the operation
//! that does the job, on a set of queries with known answers.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use codemode::catalog::search::SearchIndex;
use codemode::catalog::{Catalog, Target};
use serde::Deserialize;
use serde_json::json;

#[derive(clap::Args)]
#[command(
    long_about = "Measures the ranking of `search` queries: for each query of DIR/queries.json, \
    the rank of the first expected operation among the top LIMIT results, reported per spec \
    and overall as MRR@LIMIT and hit@1/3/LIMIT, plus every query not ranked first (the misses: \
    the query, what was expected, where it ranked and what came first).\n\n\
    queries.json is a list of {\"spec\": \"specs/stripe.json.gz\", \"query\": \"…\", \
    \"expected\": [[\"GET\", \"/v1/customers/{customer}\"], …]} (any one expected operation \
    counts). A `spec` path is resolved against DIR, then against each folder above DIR (so \
    `shared/data/search-eval` finds `shared/specs/…`); `--specs FOLDER` looks each spec up by \
    its file name in FOLDER instead.\n\n\
    The ranking is the MCP `search` tool's: the catalog and search index a Code Mode server \
    builds from the spec."
)]
pub(crate) struct SearchQualityArgs {
    /// Folder holding queries.json.
    dir: PathBuf,
    /// Folder with the spec files, looked up by file name (instead of resolving `spec` paths).
    #[arg(long)]
    specs: Option<PathBuf>,
    /// Only the specs whose file name contains this (e.g. `stripe`).
    #[arg(long)]
    only: Option<String>,
    /// Results per query: the metric's cut-off.
    #[arg(long, default_value_t = 10)]
    limit: usize,
    /// Instead of measuring: show, for each spec (see --only), the top results for this
    /// query and the terms and fields each score came from.
    #[arg(long, value_name = "QUERY")]
    explain: Option<String>,
    /// With --embeddings-url: also measure semantic search fused at these weights
    /// (repeatable; default: the server's).
    #[arg(long, value_name = "W")]
    semantic_weight: Vec<f32>,
    #[command(flatten)]
    semantic: crate::semantic::SemanticArgs,
}

#[derive(Deserialize)]
struct EvalQuery {
    spec: String,
    query: String,
    expected: Vec<(String, String)>,
}

pub(super) async fn search_quality(args: SearchQualityArgs) -> anyhow::Result<serde_json::Value> {
    let machine = super::machine();
    eprintln!("measuring on {machine}");
    let file = args.dir.join("queries.json");
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}: DIR must hold queries.json", file.display()))?;
    let queries: Vec<EvalQuery> = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a list of {{\"spec\", \"query\", \"expected\": [[method, path], …]}}",
            file.display()
        )
    })?;
    anyhow::ensure!(args.limit > 0, "--limit must be at least 1");
    // Specs in order of first appearance, each with its queries.
    let mut by_spec: Vec<(String, Vec<&EvalQuery>)> = Vec::new();
    for query in &queries {
        if let Some(only) = &args.only
            && !spec_name(&query.spec).contains(only.as_str())
        {
            continue;
        }
        match by_spec.iter_mut().find(|(spec, _)| *spec == query.spec) {
            Some((_, list)) => list.push(query),
            None => by_spec.push((query.spec.clone(), vec![query])),
        }
    }
    anyhow::ensure!(
        !by_spec.is_empty(),
        "no queries to run in {} (check --only)",
        file.display()
    );

    let semantic = args
        .semantic
        .search(Path::new(crate::run::DEFAULT_DATA_DIR))?
        .map(|mut search| {
            // The bench caches the operations' vectors only where it is told to.
            search.cache_dir = args.semantic.search_cache.clone();
            search
        });
    let weights = match (&semantic, args.semantic_weight.is_empty()) {
        (None, _) => Vec::new(),
        (Some(search), true) => vec![search.weight],
        (Some(_), false) => args.semantic_weight.clone(),
    };
    let mut fused_tallies: Vec<(Tally, Vec<serde_json::Value>, Vec<serde_json::Value>)> =
        weights.iter().map(|_| Default::default()).collect();
    let mut per_spec = Vec::new();
    let mut all = Tally::default();
    let mut misses = Vec::new();
    let mut explained = Vec::new();
    for (spec, list) in &by_spec {
        let path = resolve_spec(&args.dir, args.specs.as_deref(), spec)?;
        eprintln!("{}: catalog and index…", path.display());
        let source = path.to_string_lossy();
        let loaded = codemode::openapi::load(&source)
            .await
            .with_context(|| format!("cannot load {}", path.display()))?;
        let catalog = codemode::openapi::catalog(&loaded);
        let start = Instant::now();
        let index = SearchIndex::new(&catalog);
        let index_ms = start.elapsed().as_secs_f64() * 1e3;
        if let Some(query) = &args.explain {
            explained.push(json!({
                "spec": spec_name(spec),
                "query": query,
                "results": explain(&catalog, &index, query, args.limit),
            }));
            continue;
        }
        if let Some(search) = &semantic {
            let start = Instant::now();
            let vectors = codemode::mcp::catalog_vectors(search, &catalog).await?;
            eprintln!(
                "{}: {} operations embedded in {:.1} s",
                spec_name(spec),
                vectors.len(),
                start.elapsed().as_secs_f64()
            );
            let texts: Vec<String> = list.iter().map(|q| q.query.clone()).collect();
            let queried = search
                .embedder
                .embed(texts)
                .await
                .map_err(anyhow::Error::msg)?;
            for (weight, (all, rows, misses)) in weights.iter().zip(&mut fused_tallies) {
                let mut tally = Tally::default();
                for (query, vector) in list.iter().zip(&queried) {
                    let hits = index
                        .rank_fused(&query.query, vector, &vectors, *weight, args.limit)
                        .hits;
                    let (rank, first) = judge(&catalog, query, &hits);
                    tally.add(rank, args.limit);
                    all.add(rank, args.limit);
                    if rank != Some(1) {
                        misses.push(json!({
                            "spec": spec_name(spec),
                            "query": query.query,
                            "rank": rank,
                            "first": first,
                        }));
                    }
                }
                let mut row = tally.report(args.limit);
                row["spec"] = json!(spec_name(spec));
                rows.push(row);
            }
        }
        let mut tally = Tally::default();
        let mut times = Vec::new();
        for query in list {
            let start = Instant::now();
            let hits = index.search(&query.query, args.limit);
            times.push(start.elapsed());
            let (rank, first) = judge(&catalog, query, &hits);
            tally.add(rank, args.limit);
            all.add(rank, args.limit);
            if rank != Some(1) {
                misses.push(json!({
                    "spec": spec_name(spec),
                    "query": query.query,
                    "expected": query.expected.first().map(|(m, p)| format!("{m} {p}")),
                    "rank": rank,
                    "first": first,
                }));
            }
        }
        let mut row = tally.report(args.limit);
        row["spec"] = json!(spec_name(spec));
        row["operations"] = json!(catalog.tools.len());
        row["index_ms"] = json!(index_ms.round());
        row["search_p50_us"] = json!(median_us(&mut times));
        per_spec.push(row);
    }
    if args.explain.is_some() {
        return Ok(json!({ "bench": "search-quality", "explain": explained }));
    }
    let mut overall = all.report(args.limit);
    overall["spec"] = json!("all");
    let fused: Vec<serde_json::Value> = weights
        .iter()
        .zip(fused_tallies)
        .map(|(weight, (all, rows, misses))| {
            let mut overall = all.report(args.limit);
            overall["spec"] = json!("all");
            let weight = (f64::from(*weight) * 1000.0).round() / 1000.0;
            json!({ "weight": weight, "specs": rows, "all": overall, "misses": misses })
        })
        .collect();
    Ok(json!({
        "semantic": semantic.as_ref().map(|s| json!({
            "model": s.embedder.model(),
            "fused": fused,
        })),
        "bench": "search-quality",
        "machine": machine,
        "what": format!(
            "rank of the first expected operation in `search` results (limit {}): mean reciprocal rank (0 when absent) and share ranked 1st, ≤ 3rd, ≤ {}; search_p50_us over these queries",
            args.limit, args.limit
        ),
        "queries": file.display().to_string(),
        "specs": per_spec,
        "all": overall,
        "misses": misses,
    }))
}

/// The top `limit` results for `query` with what each score is made of.
fn explain(
    catalog: &Catalog,
    index: &SearchIndex,
    query: &str,
    limit: usize,
) -> Vec<serde_json::Value> {
    index
        .explain(query, limit)
        .into_iter()
        .map(|(hit, why)| {
            let tool = &catalog.tools[hit.tool];
            json!({
                "tool": tool.path(),
                "operation": operation(catalog, hit.tool).map(|(m, p)| format!("{m} {p}")),
                "score": (hit.score * 1000.0).round() / 1000.0,
                "why": why.to_string(),
            })
        })
        .collect()
}

/// Where the first expected operation is among `hits` (from 1; `None`: not there), and
/// the operation ranked first (`"METHOD /path"`), for the misses.
fn judge(
    catalog: &Catalog,
    query: &EvalQuery,
    hits: &[codemode::catalog::search::Hit],
) -> (Option<usize>, Option<String>) {
    let operations: Vec<(String, String)> = hits
        .iter()
        .filter_map(|hit| operation(catalog, hit.tool))
        .collect();
    let rank = operations
        .iter()
        .position(|op| query.expected.iter().any(|e| same(e, op)))
        .map(|i| i + 1);
    let first = operations.first().map(|(m, p)| format!("{m} {p}"));
    (rank, first)
}

fn operation(catalog: &Catalog, tool: usize) -> Option<(String, String)> {
    match &catalog.tools.get(tool)?.target {
        Target::Http(http) => Some((http.method.clone(), http.path.clone())),
        _ => None,
    }
}

fn same(expected: &(String, String), actual: &(String, String)) -> bool {
    expected.0.eq_ignore_ascii_case(&actual.0) && expected.1 == actual.1
}

fn spec_name(spec: &str) -> &str {
    let file = spec.rsplit('/').next().unwrap_or(spec);
    file.split('.').next().unwrap_or(file)
}

/// `--specs FOLDER/<file name>`, else `spec` against DIR and then each folder above it.
fn resolve_spec(dir: &Path, specs: Option<&Path>, spec: &str) -> anyhow::Result<PathBuf> {
    if let Some(folder) = specs {
        let name = Path::new(spec)
            .file_name()
            .with_context(|| format!("spec {spec:?} has no file name"))?;
        let path = folder.join(name);
        anyhow::ensure!(
            path.is_file(),
            "{} does not exist (--specs looks each spec up by file name)",
            path.display()
        );
        return Ok(path);
    }
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    dir.ancestors()
        .map(|base| base.join(spec))
        .find(|path| path.is_file())
        .with_context(|| {
            format!(
                "spec {spec:?} not found under {} or any folder above it; give --specs FOLDER",
                dir.display()
            )
        })
}

#[derive(Default)]
struct Tally {
    n: usize,
    reciprocal: f64,
    /// Queries ranked 1st, ≤ 3rd, ≤ limit.
    hits: [usize; 3],
}

impl Tally {
    fn add(&mut self, rank: Option<usize>, limit: usize) {
        self.n += 1;
        if let Some(rank) = rank {
            self.reciprocal += 1.0 / rank as f64;
            for (slot, cut) in self.hits.iter_mut().zip([1, 3, limit]) {
                if rank <= cut {
                    *slot += 1;
                }
            }
        }
    }

    fn report(&self, limit: usize) -> serde_json::Value {
        let share = |k: usize| (k as f64 / self.n.max(1) as f64 * 1000.0).round() / 1000.0;
        let mut row = serde_json::Map::new();
        row.insert("n".to_owned(), json!(self.n));
        let mrr = (self.reciprocal / self.n.max(1) as f64 * 1000.0).round() / 1000.0;
        row.insert(format!("mrr@{limit}"), json!(mrr));
        row.insert("hit@1".to_owned(), json!(share(self.hits[0])));
        row.insert("hit@3".to_owned(), json!(share(self.hits[1])));
        row.insert(format!("hit@{limit}"), json!(share(self.hits[2])));
        serde_json::Value::Object(row)
    }
}

fn median_us(samples: &mut [Duration]) -> f64 {
    samples.sort();
    samples
        .get(samples.len() / 2)
        .map_or(0.0, |d| (d.as_secs_f64() * 1e7).round() / 10.0)
}
