//! `islet`: Code Mode, sandboxed isolates and durable agents in one binary.

#![forbid(unsafe_code)]

mod bench;
mod chat;
mod cluster_cli;
mod config;
mod doctor;
mod extensions_cli;
mod linux;
mod mcp;
mod memory;
mod otlp;
mod run;
mod semantic;
mod serve;
mod shell;
mod tokens;
mod worker;
mod ws;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "islet",
    version,
    about = "Run model-written code in microsecond-fast sandboxed isolates.",
    long_about = "islet runs the JavaScript/TypeScript that AI agents write in fresh QuickJS-ng \
                  isolates: no filesystem, no network, no environment, only the capabilities the \
                  host binds in, under hard limits on memory, CPU time, wall time, stack and output.\n\n\
                  Logs go to stderr; set RUST_LOG=debug for more."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines on stderr: `text` for people, `json` (one object per line, with span
    /// fields and durations) for log collectors.
    #[arg(
        long,
        value_enum,
        global = true,
        default_value_t = LogFormat::Text,
        env = "ISLET_LOG_FORMAT"
    )]
    log_format: LogFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Serve durable agents (your TypeScript/JavaScript classes) over HTTP, with Code Mode at /mcp.
    Serve(Box<serve::ServeArgs>),
    /// Chat with a chat agent (a Think class) of a running `islet serve`, in the terminal.
    Chat(chat::ChatArgs),
    /// Read and write an agent's workspace files (ls, cat, put, rm) in a data directory.
    Ws(ws::WsArgs),
    /// An agent's extensions in a data directory: list, show a version, approve one.
    Extensions(extensions_cli::ExtensionsArgs),
    /// Run JavaScript or TypeScript in a fresh isolate and print its result as JSON.
    Run(run::RunArgs),
    /// Measure islet on this machine and print the figures as JSON.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Serve an API as a two-tool Code Mode MCP server (stdio or streamable HTTP).
    #[command(subcommand)]
    Mcp(mcp::McpCommand),
    /// Compare the token cost of Code Mode's two tools with one MCP tool per operation.
    Tokens(tokens::TokensArgs),
    /// Show which OS sandbox layers isolate workers and Linux sandboxes get on this machine.
    Doctor(doctor::DoctorArgs),
    /// Agent memory profiles: ingest conversations, remember, recall, list and forget.
    Memory(memory::MemoryArgs),
    /// Cluster mode: the status of a cluster of `islet serve --cluster` nodes.
    #[command(subcommand)]
    Cluster(cluster_cli::ClusterCommand),
    /// Check or show the settings `serve` and `mcp` take from islet.toml and ISLET_*.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Print a shell completion script (bash, zsh or fish) generated from this CLI.
    Completions(shell::CompletionsArgs),
    /// Print islet's manual page (roff), generated from this CLI: `islet man | man -l -`.
    Man(shell::ManArgs),
    /// An isolate worker process (started by islet itself; its stdin is the supervisor's socket).
    #[command(hide = true)]
    Worker(worker::WorkerArgs),
    /// The supervisor inside a Linux sandbox (started by islet through bubblewrap).
    #[command(hide = true, name = "linuxbox-init")]
    LinuxboxInit,
}

fn main() -> ExitCode {
    // Settings from islet.toml and ISLET_* become arguments before clap sees them, so
    // every setting is parsed and validated exactly as its flag is.
    let args = match config::apply(std::env::args_os().collect()) {
        Ok(args) => args,
        Err(e) => {
            eprintln_error(&format!("{e:#}"));
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(args);
    let otlp_endpoint = match &cli.command {
        Command::Serve(args) => args.otlp_endpoint.clone(),
        _ => None,
    };
    // The exporter's batch thread and its blocking HTTP client live outside any runtime.
    let tracer_provider = match otlp_endpoint.as_deref().map(otlp::provider).transpose() {
        Ok(provider) => provider,
        Err(e) => {
            eprintln_error(&format!("{e:#}"));
            return ExitCode::from(2);
        }
    };
    init_logs(cli.log_format, tracer_provider.as_ref());
    // A worker hardens itself while it is still single-threaded: no async runtime for it.
    let log_format = cli.log_format;
    let cli = match cli.command {
        Command::Worker(args) => {
            return worker::worker(args).unwrap_or_else(|e| {
                eprintln_error(&format!("{e:#}"));
                ExitCode::from(2)
            });
        }
        // Inside a sandbox: a poll loop of its own, no runtime.
        Command::LinuxboxInit => return linuxbox::init::main(),
        command => Cli {
            command,
            log_format,
        },
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln_error(&format!("could not start the async runtime: {e}"));
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::serve(*args).await,
            Command::Chat(args) => chat::chat(args).await,
            Command::Ws(args) => ws::ws(args),
            Command::Extensions(args) => extensions_cli::extensions(args),
            Command::Run(args) => run::run(args).await,
            Command::Bench(command) => bench::bench(command).await,
            Command::Mcp(command) => mcp::mcp(command).await,
            Command::Tokens(args) => tokens::tokens(args).await,
            Command::Doctor(args) => doctor::doctor(args).await,
            Command::Memory(args) => memory::memory(args).await,
            Command::Cluster(command) => cluster_cli::cluster(command).await,
            Command::Config(command) => config::config(command),
            Command::Completions(args) => shell::completions(&args),
            Command::Man(args) => shell::man(&args),
            Command::Worker(_) | Command::LinuxboxInit => {
                unreachable!("handled before the runtime starts")
            }
        }
    });
    // Sends the spans still queued (the last requests before a shutdown).
    if let Some(provider) = tracer_provider
        && let Err(e) = provider.shutdown()
    {
        tracing::warn!("could not flush spans to the OTLP collector: {e}");
    }
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln_error(&format!("{e:#}"));
            ExitCode::from(2)
        }
    }
}

/// Logs go to stderr (stdout belongs to protocols and results), filtered by RUST_LOG
/// (default: warnings). A span's close is logged with its duration (`time.busy`,
/// `time.idle`), so each HTTP request and agent call at info level shows what it took.
/// With `tracer` (`--otlp-endpoint`), spans at info level and above also go to the
/// collector whatever RUST_LOG says: traces are wanted even when logs are quiet.
fn init_logs(format: LogFormat, tracer: Option<&opentelemetry_sdk::trace::SdkTracerProvider>) {
    use opentelemetry::trace::TracerProvider as _;
    use std::io::IsTerminal as _;
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::fmt::format::FmtSpan;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_span_events(FmtSpan::CLOSE);
    let fmt = match format {
        // Colour codes only for a person at a terminal, never in files or pipes.
        LogFormat::Text => fmt
            .with_ansi(std::io::stderr().is_terminal())
            .with_filter(filter)
            .boxed(),
        // `spans` lists a line's ancestors (root first), so a tool call's line says which
        // step and turn it belongs to.
        LogFormat::Json => fmt
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_filter(filter)
            .boxed(),
    };
    let otel = tracer.map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("islet"))
            .with_filter(tracing_subscriber::filter::LevelFilter::INFO)
    });
    tracing_subscriber::registry().with(fmt).with(otel).init();
}

/// SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                return;
            }
            Err(e) => tracing::warn!("cannot listen for SIGTERM: {e}"),
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[allow(clippy::print_stderr)]
fn eprintln_error(message: &str) {
    eprintln!("error: {message}");
}
