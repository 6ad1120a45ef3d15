//! `islet worker`: an isolate worker process, started by a supervisor (never by hand).
//!
//! It talks to its supervisor over the Unix socket it gets as standard input, and hardens
//! itself before it starts any thread or runs any guest code. `islet worker --escape-test`
//! is its test-only mode: the same hardening, then escape attempts instead of serving.

use std::os::fd::AsFd as _;
use std::os::unix::net::UnixStream;
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct WorkerArgs {
    /// Isolates this worker runs at once (one executor thread each).
    #[arg(long, default_value_t = 2)]
    executors: usize,
    /// Test-only: harden exactly as a worker does, then try to escape with raw system calls
    /// (open, socket, connect, execve, file write, ptrace, io_uring) and print one JSON line
    /// per attempt instead of serving a supervisor.
    #[arg(long)]
    escape_test: bool,
}

/// Runs on the main thread before any other thread exists (namespaces require it).
pub(crate) fn worker(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    if args.escape_test {
        return Ok(crate::doctor::escape_test());
    }
    // Every descriptor the worker will use is opened before hardening: nothing can be
    // opened after it.
    let socket = std::io::stdin().as_fd().try_clone_to_owned()?;
    let socket = UnixStream::from(socket);
    let report = sandbox::harden::harden(&sandbox::harden::HardenConfig::default());
    match sandbox::process::serve(socket, args.executors, report.layers) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // The supervisor died (killed, crashed): there is no one left to serve or to tell.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ) =>
        {
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(e.into()),
    }
}
