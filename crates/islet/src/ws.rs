//! `islet ws ls|cat|put|rm AGENT PATH`: an agent's workspace from the shell, straight from
//! the data directory (the server may be running: SQLite serialises the writers).
#![allow(clippy::print_stdout)]

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use store::{DataDir, Env, Kind};

#[derive(clap::Args)]
#[command(after_help = "\
AGENT is CLASS/NAME, e.g. Counter/alice. The agent must exist (created by a call or an upload \
through `islet serve`).

Examples:
  islet ws ls Notes/alice /notes
  islet ws cat Notes/alice /notes/todo.md
  echo '- buy milk' | islet ws put Notes/alice /notes/todo.md
  islet ws rm Notes/alice /notes --recursive")]
pub(crate) struct WsArgs {
    #[command(subcommand)]
    command: WsCommand,
    /// Data directory of `islet serve`.
    #[arg(long, value_name = "DIR", default_value = ".islet", global = true)]
    data: PathBuf,
}

#[derive(clap::Subcommand)]
enum WsCommand {
    /// List a directory (default `/`): kind, size, modification time (UTC), name.
    Ls {
        agent: String,
        #[arg(default_value = "/")]
        path: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print a file's bytes to stdout.
    Cat { agent: String, path: String },
    /// Write a file from FILE, or from stdin when FILE is omitted or `-` (parents are created).
    Put {
        agent: String,
        path: String,
        file: Option<PathBuf>,
    },
    /// Remove a file, or a directory with --recursive.
    Rm {
        agent: String,
        path: String,
        #[arg(long, short)]
        recursive: bool,
    },
}

/// The data directory of `islet serve` at `dir`, for the commands that work on it directly.
pub(crate) fn open_data_dir(dir: &std::path::Path) -> anyhow::Result<DataDir> {
    anyhow::ensure!(
        dir.is_dir(),
        "no data directory at {}; pass the --data DIR that `islet serve` uses",
        dir.display()
    );
    Ok(DataDir::open(dir, Env::default())?)
}

/// The database of an existing agent named `CLASS/NAME` on the command line.
pub(crate) fn open_agent(data: &DataDir, agent: &str) -> anyhow::Result<store::AgentDb> {
    let (class, name) = agent
        .split_once('/')
        .filter(|(c, n)| !c.is_empty() && !n.is_empty())
        .with_context(|| format!("`{agent}` is not CLASS/NAME, e.g. Counter/alice"))?;
    Ok(data.open_existing_agent(class, name)?)
}

pub(crate) fn ws(args: WsArgs) -> anyhow::Result<ExitCode> {
    let data = open_data_dir(&args.data)?;
    let open = |agent: &str| open_agent(&data, agent);
    match args.command {
        WsCommand::Ls { agent, path, json } => {
            let mut db = open(&agent)?;
            let mut ws = db.workspace();
            let entries = match ws.stat(&path)? {
                Some(stat) if stat.kind == Kind::File => {
                    anyhow::bail!("{path} is a file; print it with `islet ws cat {agent} {path}`")
                }
                Some(_) => ws.list(&path)?,
                None => anyhow::bail!("{path} does not exist in {agent}'s workspace"),
            };
            let mut out = std::io::stdout().lock();
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&entries)?)?;
            } else {
                for e in entries {
                    let kind = if e.kind == Kind::Dir { "dir " } else { "file" };
                    // Seconds are enough to read; --json has the milliseconds.
                    let mtime = ::memory::format_iso8601(e.mtime_ms - e.mtime_ms.rem_euclid(1000));
                    writeln!(out, "{kind} {:>10} {mtime} {}", e.size, e.name)?;
                }
            }
        }
        WsCommand::Cat { agent, path } => {
            let bytes = open(&agent)?.workspace().read(&path)?;
            std::io::stdout().lock().write_all(&bytes)?;
        }
        WsCommand::Put { agent, path, file } => {
            let bytes = match file {
                Some(f) if f.as_os_str() != "-" => {
                    std::fs::read(&f).with_context(|| format!("cannot read {}", f.display()))?
                }
                _ => {
                    let mut buf = Vec::new();
                    std::io::stdin().read_to_end(&mut buf)?;
                    buf
                }
            };
            let stat = open(&agent)?.workspace().write(&path, &bytes)?;
            println!("wrote {} bytes to {}", stat.size, stat.path);
        }
        WsCommand::Rm {
            agent,
            path,
            recursive,
        } => {
            let removed = open(&agent)?.workspace().rm(&path, recursive)?;
            println!(
                "removed {removed} entr{}",
                if removed == 1 { "y" } else { "ies" }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
