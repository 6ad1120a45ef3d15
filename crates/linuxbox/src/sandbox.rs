//! [`Linuxbox`]: one sandbox, its commands and background processes.
//!
//! A sandbox is a bubblewrap process whose child is the init ([`crate::init`]); the host
//! talks to the init over a socket. A command gets three pipes whose far ends the init
//! hands to the process, so output streams straight to the host. Each command runs in its
//! own process group, which its timeout signals as a whole (SIGTERM, then SIGKILL after
//! the grace period); a command's leftover processes are killed when it exits.
//! Everything dies with the sandbox: killing bubblewrap kills the init (die-with-parent),
//! and the PID namespace's end kills the rest.

mod command;
mod files;
pub(crate) mod launch;

use std::collections::{BTreeMap, HashMap};
use std::os::fd::{AsFd as _, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustix::process::{PidfdFlags, Signal};
use serde::Serialize;
use tokio::sync::{oneshot, watch};

use crate::cgroup::{self, Cgroup};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::protocol::{self, Event, Request};
use crate::sync::Manifest;
pub(crate) use launch::ROOT_RUNS_AS;

pub use command::{ExecStream, StreamEvent};
pub use files::FileEntry;

/// How one command should run.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// Working directory inside the sandbox; `/workspace` by default.
    pub cwd: Option<String>,
    /// Variables on top of the sandbox's base environment.
    pub env: Vec<(String, String)>,
    /// Wall-clock limit; the sandbox's default when `None`.
    pub timeout: Option<Duration>,
    /// Bytes fed to the command's stdin (then end of file); empty input when `None`.
    pub stdin: Option<Vec<u8>>,
}

/// A limit that ended a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitHit {
    /// The wall-clock timeout: the process group was sent SIGTERM, then SIGKILL.
    Timeout,
    /// The sandbox's memory limit: the kernel's OOM killer ended a process of the sandbox
    /// while the command ran.
    Memory,
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Exit {
    /// The exit status, if the process exited.
    pub exit_code: Option<i32>,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    /// The limit that ended the command, if one did.
    pub limit: Option<LimitHit>,
    /// Standard output went past the output cap and the rest was dropped.
    pub stdout_truncated: bool,
    /// Standard error went past the output cap and the rest was dropped.
    pub stderr_truncated: bool,
    /// Wall time from start to exit, in milliseconds.
    pub duration_ms: u64,
}

/// What `exec` returns (Cloudflare's `{exitCode, stdout, stderr}` plus how it ended).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecResult {
    /// The exit status, if the process exited.
    pub exit_code: Option<i32>,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    /// Output as UTF-8 (invalid bytes replaced), at most the output cap.
    pub stdout: String,
    /// Standard error, like `stdout`.
    pub stderr: String,
    /// Standard output went past the output cap and the rest was dropped.
    pub stdout_truncated: bool,
    /// Standard error went past the output cap and the rest was dropped.
    pub stderr_truncated: bool,
    /// The limit that ended the command, if one did.
    pub limit: Option<LimitHit>,
    /// Wall time from start to exit, in milliseconds.
    pub duration_ms: u64,
    /// `runCode("python")`: the value of the code's last line when it is an expression
    /// (as a notebook shows it), as JSON (`{"repr": …}` when it is not JSON data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
}

impl ExecResult {
    /// Exited with status 0.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// A background process, as `list_processes` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessInfo {
    /// The id to name the process by in later calls.
    pub id: String,
    /// Its pid inside the sandbox.
    pub pid: i32,
    /// The command line as given.
    pub command: String,
    /// Whether it is still running.
    pub status: ProcessStatus,
    /// Its exit status, once it exited.
    pub exit_code: Option<i32>,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    /// When it was started, in milliseconds since the Unix epoch.
    pub started_at_ms: u64,
}

/// Whether a background process is still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcessStatus {
    /// Still running.
    Running,
    /// Ended: exited or killed.
    Exited,
}

/// A background process's output so far (the newest bytes, up to the log cap).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessLogs {
    /// Standard output kept so far, as UTF-8.
    pub stdout: String,
    /// Standard error kept so far, as UTF-8.
    pub stderr: String,
    /// Older output was dropped to stay within the cap.
    pub truncated: bool,
}

/// What this machine gives a sandbox; `islet doctor` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Capabilities {
    /// Which cgroup limits the sandbox is under, or why none.
    pub cgroup: String,
    /// Whether memory and process limits are enforced by a cgroup (else by rlimits).
    pub cgroup_active: bool,
    /// The CPU limit in force: where it is set (`cgroup v1 cpu.cfs_quota_us under …`), or
    /// why the sandbox has none (no cpu controller of ours here).
    pub cpu: String,
    /// The CPU limit in force (CPU seconds per second), `None` when there is none.
    pub cpu_limit: Option<f64>,
    /// The host uid the sandbox's processes run as.
    pub runs_as_uid: u32,
}

/// One Linux sandbox. Dropping it kills everything in it.
pub struct Linuxbox {
    shared: Arc<Shared>,
    bwrap: OwnedFd,
    idle: tokio::task::JoinHandle<()>,
    /// The host side of the sandbox's network proxy, when it has a way out.
    proxy: Option<tokio::task::JoinHandle<()>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Linuxbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Linuxbox")
            .field("workspace", &self.shared.workspace_dir)
            .finish_non_exhaustive()
    }
}

/// What the driver tasks, the reader thread and the API share.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) workspace_dir: PathBuf,
    socket: OwnedFd,
    state: Mutex<State>,
    next_id: AtomicU64,
    cgroup: Option<Cgroup>,
    cgroup_report: String,
    run_as: Option<u32>,
    last_call: Mutex<Instant>,
    pub(crate) manifest: Mutex<Manifest>,
}

#[derive(Default)]
struct State {
    pending: HashMap<u64, Pending>,
    /// Why the sandbox ended, once it has.
    gone: Option<String>,
    processes: BTreeMap<u64, Background>,
}

struct Pending {
    spawned: Option<oneshot::Sender<Result<i32>>>,
    exited: Option<oneshot::Sender<(Option<i32>, Option<i32>)>>,
}

pub(crate) struct Background {
    command: String,
    pid: i32,
    started_at_ms: u64,
    exit: watch::Receiver<Option<Exit>>,
    logs: Arc<Mutex<command::Logs>>,
}

impl Linuxbox {
    /// Starts a sandbox: its state directory, cgroup, and bubblewrap with the init. Returns
    /// as soon as bubblewrap is running; the first command waits for the rest.
    pub async fn start(config: Config) -> Result<Linuxbox> {
        let cpus = config.limits.cpus;
        if !(cpus.is_finite() && cpus > 0.0) {
            return Err(Error::InvalidArgument(format!(
                "the CPU limit must be a positive number of CPUs, not {cpus}"
            )));
        }
        // A directory per start, removed by the reader once bubblewrap has exited, so a
        // new sandbox on the same state directory never meets an old one's cleanup.
        let run_dir = config.state_dir.join(base::unique_name("run"));
        let workspace_dir = run_dir.join("workspace");
        reset_dir(&workspace_dir)?;
        let run_as = rustix::process::getuid().is_root().then_some(ROOT_RUNS_AS);
        if let Some(uid) = run_as {
            let id = rustix::process::Uid::from_raw(uid);
            let gid = rustix::process::Gid::from_raw(uid);
            rustix::fs::chown(&workspace_dir, Some(id), Some(gid))
                .map_err(|e| Error::io(&workspace_dir, e.into()))?;
        }
        let support = cgroup::detected();
        let (cgroup, cgroup_report) = match Cgroup::create(
            support,
            config.limits.memory_bytes,
            config.limits.pids,
            config.limits.cpus,
        ) {
            Ok(cgroup) => (Some(cgroup), support.describe()),
            Err(reason) => (None, reason),
        };
        let cgroup_procs = match &cgroup {
            Some(c) => c.procs_files().map_err(Error::Unavailable)?,
            None => Vec::new(),
        };
        let seccomp = crate::seccomp::programs().map_err(Error::Unavailable)?;
        let net_dir = run_dir.join("net");
        let proxy = match &config.network {
            Some(connector) => Some(crate::network::listen(&net_dir, Arc::clone(connector))?),
            None => None,
        };
        let log_path = run_dir.join("init.log");
        let log = std::fs::File::create(&log_path).map_err(|e| Error::io(&log_path, e))?;
        let (host_end, init_end) = rustix::net::socketpair(
            rustix::net::AddressFamily::UNIX,
            rustix::net::SocketType::SEQPACKET,
            rustix::net::SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| Error::Unavailable(format!("cannot create a socket pair: {e}")))?;
        let reader_end = host_end
            .try_clone()
            .map_err(|e| Error::Unavailable(format!("cannot duplicate a socket: {e}")))?;

        let shared = Arc::new(Shared {
            workspace_dir: workspace_dir.clone(),
            socket: host_end,
            state: Mutex::new(State::default()),
            next_id: AtomicU64::new(1),
            cgroup_report,
            run_as,
            last_call: Mutex::new(Instant::now()),
            manifest: Mutex::new(Manifest::default()),
            cgroup,
            config,
        });
        // bubblewrap's die-with-parent follows the thread that forked it, so the thread
        // that starts it is the one that lives as long as the sandbox: the reader.
        let (started_tx, started_rx) = oneshot::channel();
        let thread_shared = shared.clone();
        let reader = std::thread::Builder::new()
            .name("linuxbox-reader".into())
            .spawn(move || {
                let launch = launch::Launch {
                    config: &thread_shared.config,
                    workspace_dir: &thread_shared.workspace_dir,
                    log,
                    socket: init_end,
                    cgroup_procs,
                    seccomp,
                    with_cgroup: thread_shared.cgroup.is_some(),
                    run_as: thread_shared.run_as,
                    net_dir: thread_shared.config.network.is_some().then_some(&net_dir),
                };
                let mut child = match launch::spawn(launch) {
                    Ok(child) => child,
                    Err(e) => {
                        let _ = started_tx.send(Err(e));
                        let _ = std::fs::remove_dir_all(&run_dir);
                        return;
                    }
                };
                let pid = rustix::process::Pid::from_child(&child);
                let _ = started_tx.send(
                    rustix::process::pidfd_open(pid, PidfdFlags::empty())
                        .map_err(|e| Error::Unavailable(format!("pidfd_open: {e}"))),
                );
                read_events(&thread_shared, &reader_end, &log_path);
                let _ = child.wait();
                let _ = std::fs::remove_dir_all(&run_dir);
            })
            .map_err(|e| Error::Unavailable(format!("cannot start a thread: {e}")))?;
        let bwrap = started_rx.await.map_err(|_| {
            Error::Unavailable("the sandbox's thread ended while starting".into())
        })??;
        let idle = tokio::spawn(idle_loop(Arc::downgrade(&shared)));
        Ok(Linuxbox {
            shared,
            bwrap,
            idle,
            proxy,
            reader: Some(reader),
        })
    }

    /// What the sandbox got on this machine (cgroup or rlimits, the host uid).
    pub fn capabilities(&self) -> Capabilities {
        Capabilities {
            cgroup: self.shared.cgroup_report.clone(),
            cgroup_active: self.shared.cgroup.is_some(),
            cpu: match self.shared.cgroup.as_ref().map(Cgroup::cpu) {
                Some(Ok(cpus)) => format!(
                    "{cpus} CPU per second ({})",
                    cgroup::detected().cpu().unwrap_or_default()
                ),
                Some(Err(reason)) => format!("no CPU limit: {reason}"),
                None => format!("no CPU limit: {}", self.shared.cgroup_report),
            },
            cpu_limit: self
                .shared
                .cgroup
                .as_ref()
                .and_then(|c| c.cpu().as_ref().ok().copied()),
            runs_as_uid: self
                .shared
                .run_as
                .unwrap_or_else(|| rustix::process::getuid().as_raw()),
        }
    }

    /// Restarts the idle clock (a spare handed out has been idle since it started).
    pub(crate) fn touch(&self) {
        self.shared.touch();
    }

    /// The sandbox has ended (killed, or its init exited): every call fails; start a new one.
    pub fn is_gone(&self) -> bool {
        self.shared.lock().gone.is_some()
    }

    /// The host directory mounted at `/workspace`.
    pub fn workspace_dir(&self) -> &Path {
        &self.shared.workspace_dir
    }

    /// Runs `command` with `/bin/sh -c` and waits for it.
    pub async fn exec(&self, command: &str, options: ExecOptions) -> Result<ExecResult> {
        self.exec_stream(command, options).await?.collect().await
    }

    /// Runs a program with its arguments (no shell) and waits for it.
    pub async fn exec_argv(&self, argv: &[&str], options: ExecOptions) -> Result<ExecResult> {
        let argv = argv.iter().map(|a| a.to_string()).collect();
        command::foreground(&self.shared, argv, options)
            .await?
            .collect()
            .await
    }

    /// Runs `command` with `/bin/sh -c`, streaming its output as it comes. Dropping the
    /// stream kills the command.
    pub async fn exec_stream(&self, command: &str, options: ExecOptions) -> Result<ExecStream> {
        command::foreground(&self.shared, shell(command), options).await
    }

    /// Runs `code` in `language` (`python` or `shell`), the code on stdin. Python's last
    /// line, when it is an expression, is evaluated and returned as `value`.
    pub async fn run_code(
        &self,
        language: &str,
        code: &str,
        options: ExecOptions,
    ) -> Result<ExecResult> {
        let marker = value_marker();
        let python = matches!(language, "python" | "python3" | "py");
        let argv: Vec<&str> = match language {
            _ if python => vec!["python3", "-c", PYTHON_RUNNER, &marker],
            "shell" | "sh" | "bash" => vec!["/bin/sh", "-s"],
            other => {
                return Err(Error::InvalidArgument(format!(
                    "runCode does not know the language `{other}`; use `python` or `shell`, or \
                     exec the interpreter yourself"
                )));
            }
        };
        let options = ExecOptions {
            stdin: Some(code.as_bytes().to_vec()),
            ..options
        };
        let mut result = self.exec_argv(&argv, options).await?;
        if python {
            take_value(&mut result, &marker);
        }
        Ok(result)
    }

    /// Starts `command` (`/bin/sh -c`) in the background; it runs until it exits, is
    /// killed, the sandbox has been idle for the idle timeout, or the sandbox ends.
    pub async fn start_process(&self, command: &str, options: ExecOptions) -> Result<ProcessInfo> {
        command::background(&self.shared, command, options).await
    }

    /// Every background process started in this sandbox, running or ended.
    pub fn list_processes(&self) -> Vec<ProcessInfo> {
        self.shared.touch();
        let state = self.shared.lock();
        state
            .processes
            .iter()
            .map(|(id, p)| process_info(*id, p))
            .collect()
    }

    /// The output a background process has written so far; `NotFound` for an unknown id.
    pub fn process_logs(&self, id: &str) -> Result<ProcessLogs> {
        self.shared.touch();
        let state = self.shared.lock();
        let process = state
            .processes
            .get(&parse_process_id(id)?)
            .ok_or_else(|| no_such_process(id))?;
        let logs = base::sync::lock(&process.logs);
        Ok(logs.snapshot())
    }

    /// Stops a background process's group: SIGTERM, then SIGKILL after the grace period.
    /// Returns how it ended.
    pub async fn kill_process(&self, id: &str) -> Result<ProcessInfo> {
        self.shared.touch();
        let number = parse_process_id(id)?;
        let exit = {
            let state = self.shared.lock();
            let process = state
                .processes
                .get(&number)
                .ok_or_else(|| no_such_process(id))?;
            process.exit.clone()
        };
        self.shared.stop(number, exit).await;
        let state = self.shared.lock();
        let process = state
            .processes
            .get(&number)
            .ok_or_else(|| no_such_process(id))?;
        Ok(process_info(number, process))
    }

    /// Ends the sandbox and waits until its processes are gone.
    pub async fn shutdown(mut self) {
        self.kill();
        if let Some(reader) = self.reader.take() {
            let _ = tokio::task::spawn_blocking(move || reader.join()).await;
        }
    }

    fn kill(&self) {
        self.idle.abort();
        if let Some(proxy) = &self.proxy {
            proxy.abort();
        }
        let _ = rustix::process::pidfd_send_signal(&self.bwrap, Signal::KILL);
        let _ = rustix::net::shutdown(&self.shared.socket, rustix::net::Shutdown::Both);
    }
}

impl Drop for Linuxbox {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        base::sync::lock(&self.state)
    }

    pub(crate) fn touch(&self) {
        *base::sync::lock(&self.last_call) = Instant::now();
    }

    pub(crate) fn oom_kills(&self) -> Option<u64> {
        self.cgroup.as_ref().map(Cgroup::oom_kills)
    }

    /// Asks the init to start `argv`; the pid once it runs and a receiver for its end.
    pub(crate) async fn spawn(
        &self,
        argv: Vec<String>,
        options: &ExecOptions,
        fds: [OwnedFd; 3],
    ) -> Result<(u64, i32, oneshot::Receiver<(Option<i32>, Option<i32>)>)> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (spawned_tx, spawned_rx) = oneshot::channel();
        let (exited_tx, exited_rx) = oneshot::channel();
        {
            let mut state = self.lock();
            if let Some(reason) = &state.gone {
                return Err(Error::SandboxGone(reason.clone()));
            }
            state.pending.insert(
                id,
                Pending {
                    spawned: Some(spawned_tx),
                    exited: Some(exited_tx),
                },
            );
        }
        let mut env = self.config.env.clone();
        if self.config.network.is_some() {
            env.extend(crate::network::proxy_env());
        }
        env.extend(options.env.iter().cloned());
        let request = Request::Spawn {
            id,
            argv,
            env,
            cwd: options.cwd.clone().unwrap_or_else(|| "/workspace".into()),
        };
        let borrowed = [fds[0].as_fd(), fds[1].as_fd(), fds[2].as_fd()];
        if let Err(e) = protocol::try_send(self.socket.as_fd(), &request, &borrowed) {
            self.lock().pending.remove(&id);
            return Err(if e.kind() == std::io::ErrorKind::InvalidInput {
                Error::InvalidArgument(e.to_string())
            } else {
                Error::SandboxGone(format!(
                    "the sandbox is not taking commands ({e}): it ended, or its init was \
                     stopped from inside; start a new one"
                ))
            });
        }
        drop(fds);
        let pid = spawned_rx.await.unwrap_or_else(|_| {
            Err(Error::SandboxGone(
                "the sandbox ended before the command started".into(),
            ))
        })?;
        Ok((id, pid, exited_rx))
    }

    pub(crate) fn signal(&self, id: u64, signal: Signal) {
        let request = Request::Kill {
            id,
            signal: signal.as_raw(),
        };
        let _ = protocol::try_send(self.socket.as_fd(), &request, &[]);
    }

    /// SIGTERM, then SIGKILL if the process has not ended within the grace period.
    pub(crate) async fn stop(&self, id: u64, mut exit: watch::Receiver<Option<Exit>>) {
        if exit.borrow().is_some() {
            return;
        }
        self.signal(id, Signal::TERM);
        let grace = self.config.limits.kill_grace;
        if tokio::time::timeout(grace, exit.wait_for(Option::is_some))
            .await
            .is_err()
        {
            self.signal(id, Signal::KILL);
            let _ = exit.wait_for(Option::is_some).await;
        }
    }

    pub(crate) fn add_process(&self, id: u64, process: Background) {
        self.lock().processes.insert(id, process);
    }
}

/// The reader thread: dispatches the init's events until the socket closes.
fn read_events(shared: &Shared, socket: &OwnedFd, log_path: &Path) {
    let mut buffer = vec![0u8; protocol::MAX_MESSAGE_BYTES];
    // Until the socket closes (or carries garbage, which only a broken init sends).
    while let Ok(Some((event, _))) = protocol::recv::<Event>(socket, &mut buffer) {
        let mut state = shared.lock();
        match event {
            Event::Spawned { id, pid } => {
                if let Some(tx) = state.pending.get_mut(&id).and_then(|p| p.spawned.take()) {
                    let _ = tx.send(Ok(pid));
                }
            }
            Event::Failed { id, message } => {
                if let Some(tx) = state.pending.remove(&id).and_then(|p| p.spawned) {
                    let _ = tx.send(Err(Error::Spawn(message)));
                }
            }
            Event::Exited { id, code, signal } => {
                if let Some(tx) = state.pending.remove(&id).and_then(|p| p.exited) {
                    let _ = tx.send((code, signal));
                }
            }
        }
    }
    let log = std::fs::read_to_string(log_path).unwrap_or_default();
    let log = log.trim();
    let reason = if log.is_empty() {
        "the sandbox has ended (stopped, or its init exited); start a new one".to_string()
    } else {
        format!("the sandbox has ended; bubblewrap said: {log}")
    };
    let mut state = shared.lock();
    for (_, pending) in state.pending.drain() {
        if let Some(tx) = pending.spawned {
            let _ = tx.send(Err(Error::SandboxGone(reason.clone())));
        }
    }
    state.gone = Some(reason);
}

/// Stops background processes once the sandbox has seen no call for the idle timeout.
async fn idle_loop(shared: std::sync::Weak<Shared>) {
    loop {
        let Some(strong) = shared.upgrade() else {
            return;
        };
        let timeout = strong.config.limits.idle_timeout;
        let last = *base::sync::lock(&strong.last_call);
        if last.elapsed() < timeout {
            drop(strong);
            tokio::time::sleep_until((last + timeout).into()).await;
            continue;
        }
        let running: Vec<(u64, watch::Receiver<Option<Exit>>)> = strong
            .lock()
            .processes
            .iter()
            .filter(|(_, p)| p.exit.borrow().is_none())
            .map(|(id, p)| (*id, p.exit.clone()))
            .collect();
        if !running.is_empty() {
            tracing::info!(count = running.len(), "stopping idle background processes");
        }
        for (id, exit) in running {
            strong.stop(id, exit).await;
        }
        strong.touch();
    }
}

fn shell(command: &str) -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into(), command.into()]
}

fn process_info(id: u64, p: &Background) -> ProcessInfo {
    let exit = p.exit.borrow().clone();
    ProcessInfo {
        id: format!("proc-{id}"),
        pid: p.pid,
        command: p.command.clone(),
        status: if exit.is_some() {
            ProcessStatus::Exited
        } else {
            ProcessStatus::Running
        },
        exit_code: exit.as_ref().and_then(|e| e.exit_code),
        signal: exit.as_ref().and_then(|e| e.signal),
        started_at_ms: p.started_at_ms,
    }
}

fn parse_process_id(id: &str) -> Result<u64> {
    id.strip_prefix("proc-")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "`{id}` is not a process id; ids look like `proc-3` (see listProcesses)"
            ))
        })
}

fn no_such_process(id: &str) -> Error {
    Error::NotFound(format!(
        "no background process `{id}` in this sandbox; listProcesses shows the ones there are"
    ))
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Empties (or creates) a directory.
fn reset_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(dir, e)),
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
}

/// Runs the Python code on stdin as a notebook cell does: the statements, then the last
/// line's value when it is an expression, written to stderr after `argv[1]` (a marker the
/// host strips). Tracebacks name the code as `<code>` and leave this runner out.
const PYTHON_RUNNER: &str = r#"import ast, json, sys
_marker = sys.argv.pop(1)
try:
    _tree = ast.parse(sys.stdin.read(), '<code>', 'exec')
    _last = _tree.body.pop() if _tree.body and isinstance(_tree.body[-1], ast.Expr) else None
    _globals = {'__name__': '__main__', '__builtins__': __builtins__}
    exec(compile(_tree, '<code>', 'exec'), _globals)
    if _last is not None:
        _value = eval(compile(ast.Expression(_last.value), '<code>', 'eval'), _globals)
        if _value is not None:
            try:
                _text = json.dumps(_value, allow_nan=False)
            except (TypeError, ValueError):
                _text = json.dumps({'repr': repr(_value)})
            sys.stdout.flush()
            sys.stderr.write('\n' + _marker + _text + '\n')
except SystemExit:
    raise
except BaseException as _e:
    import traceback
    traceback.print_exception(type(_e), _e, _e.__traceback__.tb_next)
    sys.exit(1)
"#;

/// A marker the code is unlikely to print by chance.
fn value_marker() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "\u{1e}islet-value-{:x}-{nanos:x}:",
        COUNT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Moves the value the runner wrote after `marker` from stderr into `value`.
fn take_value(result: &mut ExecResult, marker: &str) {
    let Some(at) = result.stderr.rfind(marker) else {
        return;
    };
    let rest = &result.stderr[at + marker.len()..];
    let line = rest.split('\n').next().unwrap_or_default();
    if let Ok(value) = serde_json::from_str(line) {
        result.value = Some(value);
    }
    let end = (at + marker.len() + line.len() + 1).min(result.stderr.len());
    // The runner put a newline before the marker.
    let start = if at > 0 && result.stderr.as_bytes()[at - 1] == b'\n' {
        at - 1
    } else {
        at
    };
    result.stderr.replace_range(start..end, "");
}
