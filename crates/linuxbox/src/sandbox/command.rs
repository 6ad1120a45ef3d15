//! Driving one command: feeding stdin, reading stdout and stderr under the caps, the
//! timeout's SIGTERM/SIGKILL, and how it ended.

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rustix::pipe::PipeFlags;
use rustix::process::Signal;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot, watch};

use super::{Background, ExecOptions, ExecResult, Exit, LimitHit, ProcessInfo, Shared};
use crate::error::{Error, Result};

/// After a command exits, how long its output may still trickle in from processes that
/// escaped its process group before reading stops.
const DRAIN_AFTER_EXIT: std::time::Duration = std::time::Duration::from_millis(500);

/// One piece of a streaming command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// Bytes the command wrote to standard output.
    Stdout(Vec<u8>),
    /// Bytes the command wrote to standard error.
    Stderr(Vec<u8>),
    /// Always the last event.
    Exit(Exit),
}

/// A running command's output, as it comes.
#[derive(Debug)]
pub struct ExecStream {
    events: mpsc::UnboundedReceiver<StreamEvent>,
}

impl ExecStream {
    /// The next piece; `None` after [`StreamEvent::Exit`], or without one if the sandbox
    /// ended while the command ran.
    pub async fn next(&mut self) -> Option<StreamEvent> {
        self.events.recv().await
    }

    /// Waits for the end, gathering the output.
    pub async fn collect(mut self) -> Result<ExecResult> {
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        while let Some(event) = self.next().await {
            match event {
                StreamEvent::Stdout(bytes) => stdout.extend_from_slice(&bytes),
                StreamEvent::Stderr(bytes) => stderr.extend_from_slice(&bytes),
                StreamEvent::Exit(exit) => {
                    return Ok(ExecResult {
                        exit_code: exit.exit_code,
                        signal: exit.signal,
                        stdout: String::from_utf8_lossy(&stdout).into_owned(),
                        stderr: String::from_utf8_lossy(&stderr).into_owned(),
                        stdout_truncated: exit.stdout_truncated,
                        stderr_truncated: exit.stderr_truncated,
                        limit: exit.limit,
                        duration_ms: exit.duration_ms,
                        value: None,
                    });
                }
            }
        }
        Err(Error::SandboxGone(
            "the sandbox ended while the command ran (shut down, or its init was killed, e.g. \
             by the OOM killer); start a new sandbox"
                .into(),
        ))
    }
}

/// A background process's log: the newest bytes of each stream, up to the cap.
#[derive(Debug)]
pub(crate) struct Logs {
    cap: usize,
    stdout: VecDeque<u8>,
    stderr: VecDeque<u8>,
    truncated: bool,
}

impl Logs {
    fn push(&mut self, stream: Stream, bytes: &[u8]) {
        let cap = self.cap;
        let buffer = match stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        };
        buffer.extend(bytes);
        if buffer.len() > cap {
            buffer.drain(..buffer.len() - cap);
            self.truncated = true;
        }
    }

    pub(crate) fn snapshot(&self) -> super::ProcessLogs {
        let text = |b: &VecDeque<u8>| {
            String::from_utf8_lossy(&b.iter().copied().collect::<Vec<_>>()).into_owned()
        };
        super::ProcessLogs {
            stdout: text(&self.stdout),
            stderr: text(&self.stderr),
            truncated: self.truncated,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

/// A started command: its id, pipes and end.
struct Started {
    id: u64,
    pid: i32,
    stdout: pipe::Receiver,
    stderr: pipe::Receiver,
    exited: oneshot::Receiver<(Option<i32>, Option<i32>)>,
    oom_before: Option<u64>,
    started: Instant,
}

async fn start(shared: &Arc<Shared>, argv: Vec<String>, options: &ExecOptions) -> Result<Started> {
    shared.touch();
    let pipe_error =
        |e: rustix::io::Errno| Error::SandboxGone(format!("cannot create a pipe: {e}"));
    let (stdin_read, stdin_write) =
        rustix::pipe::pipe_with(PipeFlags::CLOEXEC).map_err(pipe_error)?;
    let (stdout_read, stdout_write) =
        rustix::pipe::pipe_with(PipeFlags::CLOEXEC).map_err(pipe_error)?;
    let (stderr_read, stderr_write) =
        rustix::pipe::pipe_with(PipeFlags::CLOEXEC).map_err(pipe_error)?;
    let oom_before = shared.oom_kills();
    let started = Instant::now();
    let (id, pid, exited) = shared
        .spawn(argv, options, [stdin_read, stdout_write, stderr_write])
        .await?;
    feed_stdin(stdin_write, options.stdin.clone());
    let receiver = |fd: OwnedFd| {
        pipe::Receiver::from_owned_fd(fd)
            .map_err(|e| Error::SandboxGone(format!("cannot read a command's output: {e}")))
    };
    Ok(Started {
        id,
        pid,
        stdout: receiver(stdout_read)?,
        stderr: receiver(stderr_read)?,
        exited,
        oom_before,
        started,
    })
}

/// Writes the input (if any) on a task, then closes stdin so the command sees its end.
fn feed_stdin(fd: OwnedFd, input: Option<Vec<u8>>) {
    let Some(input) = input.filter(|i| !i.is_empty()) else {
        return;
    };
    let Ok(mut sender) = pipe::Sender::from_owned_fd(fd) else {
        return;
    };
    tokio::spawn(async move {
        // A command that stops reading early closes its end: not an error of ours.
        let _ = sender.write_all(&input).await;
    });
}

pub(crate) async fn foreground(
    shared: &Arc<Shared>,
    argv: Vec<String>,
    options: ExecOptions,
) -> Result<ExecStream> {
    let started = start(shared, argv, &options).await?;
    let (tx, events) = mpsc::unbounded_channel();
    let timeout = options.timeout.unwrap_or(shared.config.limits.timeout);
    let cap = shared.config.limits.output_bytes;
    let shared = shared.clone();
    tokio::spawn(async move {
        let mut sent = [0usize; 2];
        let mut truncated = [false; 2];
        let consumer = tx.clone();
        let exit = drive(
            &shared,
            started,
            Some(timeout),
            Some(consumer),
            |stream, bytes| {
                let i = stream as usize;
                let room = cap.saturating_sub(sent[i]);
                if bytes.len() > room {
                    truncated[i] = true;
                }
                let kept = &bytes[..bytes.len().min(room)];
                if !kept.is_empty() {
                    sent[i] += kept.len();
                    let _ = tx.send(match stream {
                        Stream::Stdout => StreamEvent::Stdout(kept.to_vec()),
                        Stream::Stderr => StreamEvent::Stderr(kept.to_vec()),
                    });
                }
            },
        )
        .await;
        if let Some(exit) = exit {
            let _ = tx.send(StreamEvent::Exit(Exit {
                stdout_truncated: truncated[0],
                stderr_truncated: truncated[1],
                ..exit
            }));
        }
    });
    Ok(ExecStream { events })
}

pub(crate) async fn background(
    shared: &Arc<Shared>,
    command: &str,
    options: ExecOptions,
) -> Result<ProcessInfo> {
    let started = start(shared, super::shell(command), &options).await?;
    let id = started.id;
    let logs = Arc::new(Mutex::new(Logs {
        cap: shared.config.limits.log_bytes,
        stdout: VecDeque::new(),
        stderr: VecDeque::new(),
        truncated: false,
    }));
    let (exit_tx, exit_rx) = watch::channel(None);
    let process = Background {
        command: command.to_string(),
        pid: started.pid,
        started_at_ms: super::now_ms(),
        exit: exit_rx,
        logs: logs.clone(),
    };
    let info = super::process_info(id, &process);
    shared.add_process(id, process);
    let shared = shared.clone();
    tokio::spawn(async move {
        let exit = drive(&shared, started, None, None, |stream, bytes| {
            base::sync::lock(&logs).push(stream, bytes);
        })
        .await;
        // A sandbox that ended under it: ended, with no status.
        let _ = exit_tx.send(Some(exit.unwrap_or(Exit {
            exit_code: None,
            signal: None,
            limit: None,
            stdout_truncated: false,
            stderr_truncated: false,
            duration_ms: 0,
        })));
    });
    Ok(info)
}

/// Reads both streams into `sink` until the command has ended and its output is drained;
/// enforces the timeout; kills the command once `consumer`'s receiver is dropped (a
/// stream nobody reads). `None` if the sandbox ended before the command did.
async fn drive(
    shared: &Shared,
    mut command: Started,
    timeout: Option<std::time::Duration>,
    consumer: Option<mpsc::UnboundedSender<StreamEvent>>,
    mut sink: impl FnMut(Stream, &[u8]),
) -> Option<Exit> {
    let grace = shared.config.limits.kill_grace;
    let mut deadline = timeout.map(|t| command.started + t);
    let mut timed_out = false;
    let mut killed = false;
    let mut status: Option<(Option<i32>, Option<i32>)> = None;
    let (mut out_open, mut err_open) = (true, true);
    let (mut out_buf, mut err_buf) = (vec![0u8; 64 << 10], vec![0u8; 64 << 10]);
    loop {
        if status.is_some() && !out_open && !err_open {
            break;
        }
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            read = command.stdout.read(&mut out_buf), if out_open => match read {
                Ok(n) if n > 0 => sink(Stream::Stdout, &out_buf[..n]),
                _ => out_open = false,
            },
            read = command.stderr.read(&mut err_buf), if err_open => match read {
                Ok(n) if n > 0 => sink(Stream::Stderr, &err_buf[..n]),
                _ => err_open = false,
            },
            ended = &mut command.exited, if status.is_none() => {
                let Ok(ended) = ended else {
                    return None;
                };
                status = Some(ended);
                // Whatever the command left behind in its group goes with it.
                shared.signal(command.id, Signal::KILL);
                deadline = Some(Instant::now() + DRAIN_AFTER_EXIT);
            }
            () = sleep => {
                if status.is_some() {
                    // Output held open by a process that left the group: stop reading.
                    break;
                }
                if !timed_out {
                    timed_out = true;
                    shared.signal(command.id, Signal::TERM);
                    deadline = Some(Instant::now() + grace);
                } else {
                    shared.signal(command.id, Signal::KILL);
                    deadline = None;
                }
            }
            () = abandoned(consumer.as_ref()), if !killed && status.is_none() => {
                killed = true;
                shared.signal(command.id, Signal::KILL);
            }
        }
    }
    let (exit_code, signal) = status.unwrap_or((None, None));
    let oom = match (command.oom_before, shared.oom_kills()) {
        (Some(before), Some(after)) => after > before,
        _ => false,
    };
    let limit = if timed_out {
        Some(LimitHit::Timeout)
    } else if oom {
        // The cgroup is the sandbox's: an OOM kill while this command ran is charged to
        // it, whether it hit the leader (a signal) or a child (often exit status 137).
        Some(LimitHit::Memory)
    } else {
        None
    };
    Some(Exit {
        exit_code,
        signal,
        limit,
        stdout_truncated: false,
        stderr_truncated: false,
        duration_ms: command.started.elapsed().as_millis() as u64,
    })
}

/// Resolves when the stream's reader is gone; never for a background process.
async fn abandoned(consumer: Option<&mpsc::UnboundedSender<StreamEvent>>) {
    match consumer {
        Some(consumer) => consumer.closed().await,
        None => std::future::pending().await,
    }
}
