//! `islet memory`: agent memory profiles from the command line.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use ::memory::{
    Endpoint, IngestReport, ListOptions, Memories, Memory, MemoryConfig, MemoryType, Progress,
    ProgressFn, RecallOptions, RememberOptions, Stage, format_iso8601, parse_iso8601,
};
use anyhow::Context as _;
use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
#[command(
    after_help = "Profiles are named `namespace/profile` (e.g. team/alice); each is one \
SQLite file under DIR/memory/ of the data directory, created by its first write.\n\n\
Without an LLM, ingest keeps every message retrievable (long ones split into chunks); with \
--llm-url and --llm-model the model extracts memories. Recall is full-text (BM25, stemming), \
fused with vector search when --embeddings-url and --embeddings-model are given.\n\n\
Example:\n  islet memory ingest conversation.json --profile team/alice\n  \
islet memory recall \"where does alice work\" --profile team/alice"
)]
pub(crate) struct MemoryArgs {
    #[command(flatten)]
    options: Options,
    #[command(subcommand)]
    command: MemoryCommand,
}

#[derive(clap::Args)]
#[command(next_help_heading = "Data and endpoints")]
struct Options {
    /// Data directory (the same as `islet serve --data`); profiles live in DIR/memory/.
    #[arg(long, value_name = "DIR", default_value = ".islet", global = true)]
    data: PathBuf,
    #[command(flatten)]
    endpoints: Endpoints,
}

/// The LLM and embeddings endpoints memory may use (shared with `islet serve`).
#[derive(clap::Args)]
#[command(next_help_heading = "Data and endpoints")]
pub(crate) struct Endpoints {
    /// OpenAI-compatible chat endpoint for extraction and answers (POST URL/v1/chat/completions).
    #[arg(long, value_name = "URL", global = true)]
    llm_url: Option<String>,
    /// The chat model's name (needed with --llm-url).
    #[arg(long, value_name = "MODEL", global = true)]
    llm_model: Option<String>,
    /// Environment variable holding the LLM's API key (sent as a bearer token, never logged).
    #[arg(
        long,
        value_name = "VAR",
        default_value = "OPENAI_API_KEY",
        global = true
    )]
    llm_key_env: String,
    /// OpenAI-compatible embeddings endpoint for vector recall (POST URL/v1/embeddings);
    /// `islet serve` also ranks `/mcp` `search` results by meaning with it.
    #[arg(long, value_name = "URL", global = true)]
    pub(crate) embeddings_url: Option<String>,
    /// The embeddings model's name (needed with --embeddings-url; a profile keeps one model).
    #[arg(long, value_name = "MODEL", global = true)]
    pub(crate) embeddings_model: Option<String>,
    /// Environment variable holding the embeddings endpoint's API key.
    #[arg(
        long,
        value_name = "VAR",
        default_value = "OPENAI_API_KEY",
        global = true
    )]
    pub(crate) embeddings_key_env: String,
    /// Timeout of each embeddings request, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60, global = true)]
    embeddings_timeout: u64,
    /// Retries of an embeddings request that failed for a reason that may pass.
    #[arg(long, value_name = "N", default_value_t = 2, global = true)]
    embeddings_retries: u32,
    /// Weight of vector similarity against full-text relevance in hybrid recall.
    #[arg(long, value_name = "W", default_value_t = ::memory::Ranking::default().vector_weight, global = true)]
    vector_weight: f64,
}

#[derive(clap::Subcommand)]
enum MemoryCommand {
    /// Ingest a conversation file (one transaction: all of it or nothing).
    ///
    /// The file is JSON: [{"sessionId", "date", "messages": [{"id", "speaker", "text"}]}],
    /// `date` an ISO 8601 date or date-time (messages may carry their own `date`). See
    /// docs/memory.md. Re-ingesting the same file adds nothing.
    Ingest {
        /// The conversation file.
        file: PathBuf,
        /// The profile: namespace/name, e.g. team/alice.
        #[arg(long, value_name = "NAME")]
        profile: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the memories that best match a question, with scores and source message ids.
    Recall {
        /// What to look for, in plain words ("where does alice work").
        query: String,
        /// The profile: namespace/name, e.g. team/alice.
        #[arg(long, value_name = "NAME")]
        profile: String,
        /// How many memories (1-100).
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// Only memories of this type (fact, event, instruction, task); repeatable.
        #[arg(long = "type", value_name = "TYPE")]
        types: Vec<String>,
        /// Only memories of this session.
        #[arg(long, value_name = "ID")]
        session: Option<String>,
        /// What was valid at this time (ISO 8601 date or date-time).
        #[arg(long, value_name = "TIME")]
        as_of: Option<String>,
        /// Also show memories superseded by newer ones on the same subject.
        #[arg(long)]
        include_superseded: bool,
        /// Ask the LLM (--llm-url) for an answer synthesised from the memories.
        #[arg(long)]
        answer: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Store one memory now.
    Remember {
        /// The memory, one self-contained statement.
        content: String,
        /// The profile: namespace/name, e.g. team/alice.
        #[arg(long, value_name = "NAME")]
        profile: String,
        /// fact (default), event, instruction or task.
        #[arg(long = "type", value_name = "TYPE")]
        kind: Option<String>,
        /// A key such as alice.employer: a newer memory on it supersedes older ones.
        #[arg(long)]
        subject: Option<String>,
        /// The session it belongs to.
        #[arg(long, value_name = "ID")]
        session: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List memories, newest stored first, a page at a time.
    List {
        /// The profile: namespace/name, e.g. team/alice.
        #[arg(long, value_name = "NAME")]
        profile: String,
        /// How many memories per page (1-1000).
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// The cursor printed after the previous page.
        #[arg(long)]
        cursor: Option<String>,
        /// Only memories of this type (fact, event, instruction, task).
        #[arg(long = "type", value_name = "TYPE")]
        kind: Option<String>,
        /// Only memories of this session.
        #[arg(long, value_name = "ID")]
        session: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print one memory as JSON.
    Get {
        /// The memory's id (printed by recall and list).
        id: String,
        /// The profile: namespace/name, e.g. team/alice.
        #[arg(long, value_name = "NAME")]
        profile: String,
    },
    /// Delete a memory, or every memory of a session (`--session`), for good.
    Forget {
        /// The memory's id.
        #[arg(required_unless_present = "session", conflicts_with = "session")]
        id: Option<String>,
        /// Forget every memory of this session instead.
        #[arg(long, value_name = "ID")]
        session: Option<String>,
        /// The profile: namespace/name, e.g. team/alice.
        #[arg(long, value_name = "NAME")]
        profile: String,
    },
    /// List the profiles of the data directory.
    Profiles {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a profile and all its memories (asks first unless --yes).
    DeleteProfile {
        /// The profile: namespace/name, e.g. team/alice.
        #[arg(long, value_name = "NAME")]
        profile: String,
        /// Do not ask for confirmation (needed when stdin is not a terminal).
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Compute vectors for memories stored before embeddings were enabled.
    ///
    /// Needs --embeddings-url and --embeddings-model. Ingest does this too; recall warns
    /// while some memories have no vector.
    Backfill {
        /// The profile: namespace/name, e.g. team/alice.
        #[arg(long, value_name = "NAME")]
        profile: String,
    },
}

fn endpoint(
    what: &str,
    url: &Option<String>,
    model: &Option<String>,
    key_env: &str,
) -> anyhow::Result<Option<Endpoint>> {
    let (url, model) = match (url, model) {
        (None, None) => return Ok(None),
        (Some(url), Some(model)) => (url, model),
        (Some(_), None) => anyhow::bail!("--{what}-url needs --{what}-model too"),
        (None, Some(_)) => anyhow::bail!("--{what}-model needs --{what}-url too"),
    };
    let client = codemode::egress::tls::client_builder()
        .map_err(anyhow::Error::msg)?
        .build()
        .context("cannot build the HTTP client")?;
    let key = std::env::var(key_env).ok().filter(|k| !k.is_empty());
    if key.is_none() {
        tracing::warn!("${key_env} is not set: calling {url} without an API key");
    }
    Ok(Some(Endpoint::new(client, url, model).api_key(key)))
}

/// The embeddings endpoint of `--embeddings-url`/`--embeddings-model`-style flags.
pub(crate) fn embeddings_endpoint(
    url: &Option<String>,
    model: &Option<String>,
    key_env: &str,
) -> anyhow::Result<Option<Endpoint>> {
    endpoint("embeddings", url, model, key_env)
}

fn parse_type(t: &str) -> anyhow::Result<MemoryType> {
    Ok(t.parse()?)
}

/// The memory service of a data directory with the endpoints' flags; with `placement`
/// (cluster mode), operations run on the node that serves each profile.
pub(crate) fn memories(
    data: &std::path::Path,
    e: &Endpoints,
    placement: Option<Arc<dyn ::memory::Placement>>,
) -> anyhow::Result<Memories> {
    let mut config = MemoryConfig::new(data);
    config.placement = placement;
    config.llm = endpoint("llm", &e.llm_url, &e.llm_model, &e.llm_key_env)?;
    config.embeddings = endpoint(
        "embeddings",
        &e.embeddings_url,
        &e.embeddings_model,
        &e.embeddings_key_env,
    )?
    .map(|e2| {
        e2.timeout(Duration::from_secs(e.embeddings_timeout.max(1)))
            .retries(e.embeddings_retries)
    });
    anyhow::ensure!(
        e.vector_weight.is_finite() && e.vector_weight >= 0.0,
        "--vector-weight must be a number ≥ 0 (0 turns vectors off in ranking)"
    );
    config.ranking.vector_weight = e.vector_weight;
    Ok(Memories::new(config))
}

pub(crate) async fn memory(args: MemoryArgs) -> anyhow::Result<ExitCode> {
    let o = &args.options;
    let memories = memories(&o.data, &o.endpoints, None)?;
    match args.command {
        MemoryCommand::Ingest {
            file,
            profile,
            json,
        } => {
            let p = memories.profile(&profile)?;
            let bytes = std::fs::read(&file)
                .with_context(|| format!("cannot read the ingest file {}", file.display()))?;
            let sessions = ::memory::parse_ingest_file(&bytes)
                .with_context(|| format!("{} is not a valid ingest file", file.display()))?;
            let progress = ProgressBar::new();
            let report = p.ingest_sessions(sessions, Some(progress.callback())).await;
            progress.finish();
            let report = report?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_ingest(&profile, &report);
            }
        }
        MemoryCommand::Recall {
            query,
            profile,
            limit,
            types,
            session,
            as_of,
            include_superseded,
            answer,
            json,
        } => {
            let p = memories.profile(&profile)?;
            let options = RecallOptions {
                limit,
                types: types
                    .iter()
                    .map(|t| parse_type(t))
                    .collect::<anyhow::Result<_>>()?,
                session_id: session,
                as_of: as_of
                    .map(|t| parse_iso8601(&t).map_err(anyhow::Error::msg))
                    .transpose()
                    .context("--as-of")?,
                include_superseded,
                answer,
            };
            let recall = p.recall(&query, options).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&recall)?);
            } else {
                for w in &recall.warnings {
                    eprintln!("warning: {w}");
                }
                if let Some(answer) = &recall.answer {
                    println!("answer: {answer}\n");
                }
                if recall.results.is_empty() {
                    println!("no memories match {query:?} in {profile}");
                }
                for (i, r) in recall.results.iter().enumerate() {
                    println!(
                        "{:>2}. relevance {:.2}  {}",
                        i + 1,
                        r.score,
                        headline(&r.memory)
                    );
                    println!("    {}", r.memory.content.replace('\n', "\n    "));
                    println!("    id {}  sources {}", r.memory.id, sources(&r.sources));
                    if let Some(newer) = &r.superseded_by {
                        println!("    probably outdated: restated later by {newer}");
                    }
                }
            }
        }
        MemoryCommand::Remember {
            content,
            profile,
            kind,
            subject,
            session,
            json,
        } => {
            let p = memories.profile(&profile)?;
            let options = RememberOptions {
                kind: kind.as_deref().map(parse_type).transpose()?,
                subject,
                session_id: session,
                ..RememberOptions::default()
            };
            let r = p.remember(&content, options).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                let what = if r.added {
                    "remembered"
                } else {
                    "already known"
                };
                println!("{what}: {} ({})", r.memory.id, headline(&r.memory));
            }
        }
        MemoryCommand::List {
            profile,
            limit,
            cursor,
            kind,
            session,
            json,
        } => {
            let p = memories.profile(&profile)?;
            let page = p
                .list(ListOptions {
                    cursor,
                    limit,
                    kind: kind.as_deref().map(parse_type).transpose()?,
                    session_id: session.clone(),
                })
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&page)?);
            } else {
                for m in &page.memories {
                    let content: String = m.content.chars().take(100).collect();
                    let more = if m.content.chars().count() > 100 {
                        "…"
                    } else {
                        ""
                    };
                    println!("{}  {}", m.id, headline(m));
                    println!("    {}{more}", content.replace('\n', " "));
                }
                if let Some(next) = &page.next_cursor {
                    let mut hint = String::from("islet memory list");
                    if o.data != std::path::Path::new(".islet") {
                        hint.push_str(&format!(
                            " --data {}",
                            shell_word(&o.data.to_string_lossy())
                        ));
                    }
                    hint.push_str(&format!(" --profile {profile} --limit {limit}"));
                    if let Some(kind) = &kind {
                        hint.push_str(&format!(" --type {kind}"));
                    }
                    if let Some(session) = &session {
                        hint.push_str(&format!(" --session {}", shell_word(session)));
                    }
                    hint.push_str(&format!(" --cursor {next}"));
                    eprintln!("more: {hint}");
                }
            }
        }
        MemoryCommand::Get { id, profile } => {
            let m = memories.profile(&profile)?.get(&id).await?;
            println!("{}", serde_json::to_string_pretty(&m)?);
        }
        MemoryCommand::Forget {
            id,
            session,
            profile,
        } => {
            let p = memories.profile(&profile)?;
            match (id, session) {
                (Some(id), _) => {
                    p.forget(&id).await?;
                    println!("forgot {id}");
                }
                (None, Some(session)) => {
                    let n = p.forget_session(&session).await?;
                    println!(
                        "forgot {n} {} of session {session}",
                        plural(n as u64, "memory", "memories")
                    );
                }
                (None, None) => anyhow::bail!("pass a memory id or --session"),
            }
        }
        MemoryCommand::Profiles { json } => {
            let profiles = memories.profiles().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&profiles)?);
            } else if profiles.is_empty() {
                println!("no memory profiles in {}", o.data.display());
            } else {
                for p in profiles {
                    let vectors = p
                        .embeddings_model
                        .map(|m| format!("  vectors: {m}"))
                        .unwrap_or_default();
                    println!(
                        "{:<40} {:>8} {:<8} {:>10}{vectors}",
                        p.name,
                        p.memories,
                        plural(p.memories, "memory", "memories"),
                        human_bytes(p.bytes)
                    );
                }
            }
        }
        MemoryCommand::DeleteProfile { profile, yes } => {
            let p = memories.profile(&profile)?;
            if !p.exists() {
                anyhow::bail!(::memory::Error::ProfileNotFound { profile });
            }
            if !yes {
                let n = p.count().await?;
                if !std::io::stdin().is_terminal() {
                    anyhow::bail!(
                        "refusing to delete memory profile {profile} ({n} {}) without \
                         confirmation: stdin is not a terminal; pass --yes to delete it",
                        plural(n, "memory", "memories")
                    );
                }
                eprint!(
                    "delete memory profile {profile} and its {n} {} for good? [y/N] ",
                    plural(n, "memory", "memories")
                );
                let _ = std::io::stderr().flush();
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if !matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
                    eprintln!("kept {profile}");
                    return Ok(ExitCode::FAILURE);
                }
            }
            if memories.delete_profile(&profile).await? {
                println!("deleted memory profile {profile}");
            } else {
                anyhow::bail!(::memory::Error::ProfileNotFound { profile });
            }
        }
        MemoryCommand::Backfill { profile } => {
            let p = memories.profile(&profile)?;
            let progress = ProgressBar::new();
            let n = p.backfill(Some(progress.callback())).await;
            progress.finish();
            let n = n?;
            println!(
                "{profile}: {n} {} stored",
                plural(n as u64, "vector", "vectors")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_ingest(profile: &str, r: &IngestReport) {
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    let mut line = format!(
        "{profile}: {} {} → {} {} added, {} unchanged",
        r.messages,
        plural(r.messages as u64, "message", "messages"),
        r.added,
        plural(r.added as u64, "memory", "memories"),
        r.unchanged
    );
    if r.vectors > 0 {
        line.push_str(&format!(
            ", {} {} stored",
            r.vectors,
            plural(r.vectors as u64, "vector", "vectors")
        ));
    }
    if r.skipped > 0 {
        line.push_str(&format!(
            ", {} blank {} skipped",
            r.skipped,
            plural(r.skipped as u64, "message", "messages")
        ));
    }
    println!("{line}");
}

fn plural<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// `s` as one shell word (quoted when it needs to be), for hints to copy.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// `event · alice · 2024-04-28 · session s24`
fn headline(m: &Memory) -> String {
    let mut parts = vec![m.kind.to_string()];
    if let Some(s) = &m.speaker {
        parts.push(s.clone());
    }
    let at = format_iso8601(m.occurred_at);
    parts.push(
        at.strip_suffix("T00:00:00Z")
            .map_or_else(|| at.clone(), str::to_owned),
    );
    if let Some(s) = &m.session_id {
        parts.push(format!("session {s}"));
    }
    if let Some(s) = &m.subject {
        parts.push(format!("subject {s}"));
    }
    if let Some(by) = &m.superseded_by {
        parts.push(format!("superseded by {by}"));
    }
    parts.join(" · ")
}

fn sources(ids: &[String]) -> String {
    if ids.is_empty() {
        "(none)".into()
    } else {
        ids.join(", ")
    }
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

/// Ingest progress on stderr: a redrawn bar on a terminal, otherwise a line every few
/// seconds (and at the end of each stage) for logs.
struct ProgressBar {
    tty: bool,
    state: Arc<Mutex<BarState>>,
}

struct BarState {
    last: Option<(Stage, Instant)>,
    drawn: bool,
}

impl ProgressBar {
    fn new() -> Self {
        Self {
            tty: std::io::stderr().is_terminal(),
            state: Arc::new(Mutex::new(BarState {
                last: None,
                drawn: false,
            })),
        }
    }

    fn callback(&self) -> ProgressFn {
        let tty = self.tty;
        let state = self.state.clone();
        Arc::new(move |p: Progress| {
            let mut s = base::sync::lock(&state);
            let now = Instant::now();
            let every = if tty {
                Duration::from_millis(100)
            } else {
                Duration::from_secs(5)
            };
            let due = match s.last {
                Some((stage, at)) => {
                    stage != p.stage || p.done >= p.total || now.duration_since(at) >= every
                }
                None => true,
            };
            if !due {
                return;
            }
            s.last = Some((p.stage, now));
            let mut err = std::io::stderr().lock();
            if tty {
                let width = 30;
                let filled = (p.done * width).checked_div(p.total).unwrap_or(width);
                let _ = write!(
                    err,
                    "\r\x1b[2K{:<10} [{}{}] {}/{}",
                    p.stage.as_str(),
                    "#".repeat(filled.min(width)),
                    "-".repeat(width - filled.min(width)),
                    p.done,
                    p.total
                );
                s.drawn = true;
            } else {
                let _ = writeln!(err, "ingest: {} {}/{}", p.stage.as_str(), p.done, p.total);
            }
            let _ = err.flush();
        })
    }

    fn finish(&self) {
        let s = base::sync::lock(&self.state);
        if self.tty && s.drawn {
            eprintln!();
        }
    }
}
