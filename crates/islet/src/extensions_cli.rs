//! `islet extensions list|show|approve AGENT …`: an agent's extensions from the shell,
//! straight from the data directory (the server may be running: SQLite serialises the
//! writers, and each call of an extension reads which version is active). Approving is a
//! person's decision that agent code cannot make; this and `POST
//! …/extensions/<ext>/approve` are the two ways to give it.
#![allow(clippy::print_stdout)]

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::{Value, json};

#[derive(clap::Args)]
#[command(after_help = "\
AGENT is CLASS/NAME, e.g. Fetcher/f. An install asking for more than `islet serve \
--extension-policy` allows is kept as a pending version and not used until approved.

Examples:
  islet extensions list Fetcher/f
  islet extensions show Fetcher/f web 2       # what version 2 asks for, and its code
  islet extensions approve Fetcher/f web 2    # it becomes the active version")]
pub(crate) struct ExtensionsArgs {
    #[command(subcommand)]
    command: ExtensionsCommand,
    /// Data directory of `islet serve`.
    #[arg(long, value_name = "DIR", default_value = ".islet", global = true)]
    data: PathBuf,
}

#[derive(clap::Subcommand)]
enum ExtensionsCommand {
    /// The agent's extensions: active version, enabled, versions kept, versions waiting.
    List {
        agent: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One version's permissions, tools and source (default: the active version).
    Show {
        agent: String,
        extension: String,
        /// The version (default: the active one).
        #[arg(value_name = "VERSION")]
        number: Option<i64>,
        /// Print JSON (with the source) instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Approve a version waiting for approval: it becomes the active, enabled version.
    Approve {
        agent: String,
        extension: String,
        /// The version to approve (`list` shows the waiting ones).
        #[arg(value_name = "VERSION")]
        number: i64,
    },
}

pub(crate) fn extensions(args: ExtensionsArgs) -> anyhow::Result<ExitCode> {
    let data = crate::ws::open_data_dir(&args.data)?;
    let open = |agent: &str| crate::ws::open_agent(&data, agent);
    let mut out = std::io::stdout().lock();
    match args.command {
        ExtensionsCommand::List { agent, json } => {
            let listed = open(&agent)?.extensions().list()?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&listed)?)?;
            } else if listed.is_empty() {
                writeln!(out, "{agent} has no extensions")?;
            } else {
                writeln!(
                    out,
                    "{:<24} {:>6} {:<8} {:<16} waiting",
                    "name", "active", "enabled", "versions"
                )?;
                for e in listed {
                    writeln!(
                        out,
                        "{:<24} {:>6} {:<8} {:<16} {}",
                        e.name,
                        e.version,
                        if e.enabled { "yes" } else { "no" },
                        numbers(&e.versions),
                        if e.pending.is_empty() {
                            "-".to_owned()
                        } else {
                            numbers(&e.pending)
                        }
                    )?;
                }
            }
        }
        ExtensionsCommand::Show {
            agent,
            extension,
            number: version,
            json,
        } => {
            let mut db = open(&agent)?;
            let mut extensions = db.extensions();
            let shown = match version {
                Some(v) => extensions.version(&extension, v)?,
                None => extensions.active(&extension)?.with_context(|| {
                    format!("{agent} has no extension {extension:?}; `islet extensions list {agent}` lists them")
                })?,
            };
            let waiting = extensions
                .list()?
                .into_iter()
                .find(|e| e.name == extension)
                .is_some_and(|e| e.pending.contains(&shown.version));
            if json {
                let value = json!({
                    "name": shown.name,
                    "version": shown.version,
                    "active": shown.enabled,
                    "waiting": waiting,
                    "manifest": shown.manifest,
                    "source": shown.source,
                });
                writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
            } else {
                let permissions = &shown.manifest["permissions"];
                let state = match (waiting, shown.enabled) {
                    (true, _) => "waiting for approval",
                    (false, true) => "active",
                    (false, false) => "not active",
                };
                writeln!(out, "{} version {} ({state})", shown.name, shown.version)?;
                writeln!(
                    out,
                    "  network:   {}",
                    list_or_none(&permissions["network"])
                )?;
                writeln!(
                    out,
                    "  workspace: {}",
                    text_or(&permissions["workspace"], "none")
                )?;
                writeln!(
                    out,
                    "  memory:    {}",
                    text_or(&permissions["memory"], "none")
                )?;
                // The npm packages bundled at install (the code a person approves runs
                // with them); absent for an extension that imports none.
                if shown.manifest.get("packages").is_some() {
                    writeln!(
                        out,
                        "  packages:  {}",
                        list_or_none(&shown.manifest["packages"])
                    )?;
                }
                for tool in shown.manifest["tools"].as_array().into_iter().flatten() {
                    writeln!(
                        out,
                        "  tool {}: {}",
                        text_or(&tool["name"], "?"),
                        text_or(&tool["description"], "")
                    )?;
                }
                writeln!(out, "--- source ---\n{}", shown.source)?;
            }
        }
        ExtensionsCommand::Approve {
            agent,
            extension,
            number: version,
        } => {
            let mut db = open(&agent)?;
            let asked = db.extensions().version(&extension, version)?;
            db.extensions().approve(&extension, version)?;
            let permissions = &asked.manifest["permissions"];
            writeln!(
                out,
                "approved {extension} version {version} of {agent}: network {}, workspace {}, memory {}; it is the active version from the agent's next call",
                list_or_none(&permissions["network"]),
                text_or(&permissions["workspace"], "none"),
                text_or(&permissions["memory"], "none"),
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn numbers(list: &[i64]) -> String {
    list.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn list_or_none(value: &Value) -> String {
    match value.as_array() {
        Some(items) if !items.is_empty() => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(", "),
        _ => "none".to_owned(),
    }
}

fn text_or<'a>(value: &'a Value, default: &'a str) -> &'a str {
    value.as_str().unwrap_or(default)
}
