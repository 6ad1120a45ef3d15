//! `islet run`: one execution from a file or stdin.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use anyhow::Context as _;
use sandbox::process::WorkerConfig;
use sandbox::{Execution, Level, Limits, Outcome, Sandbox, SandboxConfig};
use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
#[command(after_help = "\
The code may be an async arrow function, a function body using top-level `await` and \
`return`, a bare trailing expression (its value is the result), or `export default async \
function`, optionally wrapped in markdown fences. TypeScript types are stripped.

Exit status: 0 when the code returned, 1 when it threw or hit a limit, 2 on usage errors.

Examples:
  echo 'async () => [1,2,3].map(x => x * 2)' | islet run -
  islet run --cpu-ms 100 --json script.ts")]
pub struct RunArgs {
    /// File with the code to run, or `-` for standard input.
    file: PathBuf,
    /// Print the whole outcome (result, error, logs, stats) as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Heap limit in MiB.
    #[arg(long, value_name = "MIB", default_value_t = Limits::default().memory_bytes >> 20)]
    memory_mb: usize,
    /// CPU time limit in milliseconds (time spent running JavaScript).
    #[arg(long, value_name = "MS", default_value_t = Limits::default().cpu_ms)]
    cpu_ms: u64,
    /// Wall time limit in milliseconds (includes waiting for timers and host calls).
    #[arg(long, value_name = "MS", default_value_t = Limits::default().wall_ms)]
    wall_ms: u64,
    /// Stack limit in KiB (bounds recursion depth).
    #[arg(long, value_name = "KIB", default_value_t = Limits::default().stack_bytes >> 10)]
    stack_kb: usize,
    /// Output limit in KiB: the serialised result plus every log line.
    #[arg(long, value_name = "KIB", default_value_t = Limits::default().output_bytes >> 10)]
    output_kb: usize,
    /// Maximum number of host calls.
    #[arg(long, value_name = "N", default_value_t = Limits::default().host_calls)]
    host_calls: u32,
    /// Where the isolate runs: in this process, or in a separate OS-sandboxed worker process.
    #[arg(long, value_enum, default_value_t = Isolation::Inprocess)]
    isolation: Isolation,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Isolation {
    /// In this process (fastest start; the library's default).
    Inprocess,
    /// In an `islet worker` process, hardened by the OS sandbox (servers' default).
    Process,
}

impl Isolation {
    /// A sandbox of this kind; `workers` applies to process isolation (0: one per core).
    pub fn sandbox(self, workers: usize) -> anyhow::Result<Sandbox> {
        Ok(match self {
            Isolation::Inprocess => Sandbox::new(SandboxConfig {
                threads: workers.max(1),
            })?,
            Isolation::Process => {
                let exe = std::env::current_exe()?;
                let mut config = WorkerConfig::new(exe, vec!["worker".to_owned()]);
                config.workers = workers;
                Sandbox::with_workers(config)?
            }
        })
    }
}

impl RunArgs {
    fn limits(&self) -> anyhow::Result<Limits> {
        anyhow::ensure!(self.memory_mb > 0, "--memory-mb must be at least 1");
        anyhow::ensure!(
            self.stack_kb > 0 && self.stack_kb << 10 <= Limits::MAX_STACK_BYTES,
            "--stack-kb must be between 1 and {}",
            Limits::MAX_STACK_BYTES >> 10
        );
        Ok(Limits {
            memory_bytes: self.memory_mb << 20,
            cpu_ms: self.cpu_ms,
            wall_ms: self.wall_ms,
            stack_bytes: self.stack_kb << 10,
            output_bytes: self.output_kb << 10,
            host_calls: self.host_calls,
        })
    }
}

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let limits = args.limits()?;
    let code = if args.file.as_os_str() == "-" {
        let mut code = String::new();
        std::io::stdin()
            .read_to_string(&mut code)
            .context("reading the code from standard input")?;
        code
    } else {
        std::fs::read_to_string(&args.file)
            .with_context(|| format!("reading {}", args.file.display()))?
    };
    let sandbox = args.isolation.sandbox(1)?;
    let outcome = sandbox.execute(Execution::new(code).limits(limits)).await;
    Ok(print_outcome(&outcome, args.json))
}

/// Prints an outcome the way `islet run` does; the exit code says whether it succeeded.
pub fn print_outcome(outcome: &Outcome, json: bool) -> ExitCode {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(outcome).unwrap_or_default()
        );
    } else {
        for log in &outcome.logs {
            match log.level {
                Level::Log | Level::Info => eprintln!("{}", log.text),
                Level::Warn => eprintln!("warn: {}", log.text),
                Level::Error => eprintln!("error: {}", log.text),
                Level::Debug => eprintln!("debug: {}", log.text),
            }
        }
        if let Some(result) = &outcome.result {
            println!("{result}");
        }
        if let Some(error) = &outcome.error {
            eprintln!("{error}");
            if let Some(stack) = &error.stack {
                eprintln!("{stack}");
            }
        }
    }
    if outcome.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
