//! The supervisor inside a sandbox (`linuxbox-init`, also `islet linuxbox-init`). bubblewrap
//! starts it as the sandbox's first process, already confined (namespaces, seccomp,
//! rlimits, cgroup); it starts the host's commands in their own process groups, signals
//! them, and reports how each ended. Keeping it running is what makes a sandbox *warm*:
//! a command costs a fork and an exec instead of building namespaces and mounts again.
//! When the host's end of the socket closes it exits, and the kernel kills everything
//! left in the sandbox's PID namespace.
//!
//! One thread polls the socket and a pidfd per running command and reaps exactly those
//! pids, never `wait(-1)`: std reaps a child whose exec failed itself, and a reaper racing
//! it would make that spawn panic.

use std::collections::HashMap;
use std::os::fd::{AsFd, FromRawFd as _, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::process::{Command, ExitCode, Stdio};

use rustix::event::{PollFd, PollFlags};
use rustix::io::{Errno, FdFlags};
use rustix::process::{Pid, PidfdFlags, Signal, WaitOptions, WaitStatus};

use crate::protocol::{self, Event, Request, SOCKET_ENV};

struct Running {
    id: u64,
    pid: Pid,
    pidfd: OwnedFd,
}

/// Runs the init; returns when the host goes away.
pub fn main() -> ExitCode {
    let Some(socket) = inherited_socket() else {
        tracing::error!("linuxbox-init runs only inside a sandbox started by islet");
        return ExitCode::from(2);
    };
    // The sandbox has a way out: forward the proxy port to the host's socket.
    if let Ok(path) = std::env::var(crate::network::PROXY_ENV) {
        crate::network::forward(path);
    }
    // Process group (= leader pid) of every command started, by id, for `Kill`.
    let mut groups: HashMap<u64, Pid> = HashMap::new();
    let mut running: Vec<Running> = Vec::new();
    let mut buffer = vec![0u8; protocol::MAX_MESSAGE_BYTES];
    loop {
        let (socket_ready, exited) = {
            let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(running.len() + 1);
            fds.push(PollFd::new(&socket, PollFlags::IN));
            fds.extend(running.iter().map(|r| PollFd::new(&r.pidfd, PollFlags::IN)));
            match rustix::event::poll(&mut fds, None) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(e) => {
                    tracing::error!("linuxbox-init: poll failed: {e}");
                    return ExitCode::from(2);
                }
            }
            let exited: Vec<usize> = fds[1..]
                .iter()
                .enumerate()
                .filter(|(_, fd)| !fd.revents().is_empty())
                .map(|(i, _)| i)
                .collect();
            (!fds[0].revents().is_empty(), exited)
        };
        // Highest index first, so `swap_remove` leaves the lower ones in place.
        for index in exited.into_iter().rev() {
            let pid = running[index].pid;
            if let Ok(Some((_, status))) = rustix::process::waitpid(Some(pid), WaitOptions::NOHANG)
            {
                let done = running.swap_remove(index);
                let _ = protocol::send(socket.as_fd(), &exited_event(done.id, status), &[]);
            }
        }
        if socket_ready {
            match protocol::recv::<Request>(&socket, &mut buffer) {
                Ok(Some((Request::Spawn { id, argv, env, cwd }, fds))) => {
                    let event = match spawn(&argv, env, &cwd, fds) {
                        Ok((pid, pidfd)) => {
                            groups.insert(id, pid);
                            running.push(Running { id, pid, pidfd });
                            Event::Spawned {
                                id,
                                pid: pid.as_raw_nonzero().get(),
                            }
                        }
                        Err(message) => Event::Failed { id, message },
                    };
                    let _ = protocol::send(socket.as_fd(), &event, &[]);
                }
                Ok(Some((Request::Kill { id, signal }, _))) => {
                    if let (Some(&pid), Some(signal)) = (groups.get(&id), signal_from(signal)) {
                        // ESRCH: the group is already gone, which is what was asked.
                        let _ = rustix::process::kill_process_group(pid, signal);
                    }
                }
                // The host closed its end: the sandbox is over.
                Ok(None) => return ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    tracing::error!("linuxbox-init: malformed request ignored: {e}");
                }
                Err(_) => return ExitCode::SUCCESS,
            }
        }
    }
}

/// The socket the host handed over, marked close-on-exec so no command inherits it.
#[allow(unsafe_code)]
fn inherited_socket() -> Option<OwnedFd> {
    let raw: i32 = std::env::var(SOCKET_ENV).ok()?.parse().ok()?;
    if raw < 3 {
        return None;
    }
    // SAFETY: the host passes exactly one descriptor, this number, for the init alone;
    // nothing else in this process owns or closes it. `fcntl` below checks it is open.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    rustix::io::fcntl_setfd(&fd, FdFlags::CLOEXEC).ok()?;
    Some(fd)
}

/// Starts a command in its own process group; its pid and a pidfd to poll.
fn spawn(
    argv: &[String],
    env: Vec<(String, String)>,
    cwd: &str,
    fds: Vec<OwnedFd>,
) -> Result<(Pid, OwnedFd), String> {
    let Ok([stdin, stdout, stderr]) = <[OwnedFd; 3]>::try_from(fds) else {
        return Err("internal: a spawn request came without its three descriptors".into());
    };
    let Some((program, args)) = argv.split_first() else {
        return Err("the command is empty; give a program and its arguments".into());
    };
    let mut command = Command::new(program);
    oom_first(&mut command);
    let child = command
        .args(args)
        .env_clear()
        .envs(env)
        .current_dir(cwd)
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr))
        .process_group(0)
        .spawn()
        .map_err(|e| spawn_error(program, cwd, &e))?;
    let pid = Pid::from_child(&child);
    // This loop reaps it through the pidfd; `Child` would only wait again.
    drop(child);
    let pidfd = rustix::process::pidfd_open(pid, PidfdFlags::empty())
        .map_err(|e| format!("internal: pidfd_open failed: {e}"))?;
    Ok((pid, pidfd))
}

/// Commands go first when the sandbox's memory runs out (`oom_score_adj` 1000), so the
/// OOM killer ends the hog, not this init (and with it the whole sandbox).
#[allow(unsafe_code)]
fn oom_first(command: &mut Command) {
    let hook = || -> std::io::Result<()> {
        // SAFETY: open/write/close on static buffers: async-signal-safe, no allocation.
        unsafe {
            let fd = libc::open(
                c"/proc/self/oom_score_adj".as_ptr(),
                libc::O_WRONLY | libc::O_CLOEXEC,
            );
            if fd >= 0 {
                libc::write(fd, c"1000".as_ptr().cast(), 4);
                libc::close(fd);
            }
        }
        Ok(())
    };
    // SAFETY: the hook only makes async-signal-safe system calls.
    unsafe {
        command.pre_exec(hook);
    }
}

fn spawn_error(program: &str, cwd: &str, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "cannot run `{program}`: no such program (or no such working directory `{cwd}`); \
             check the name, the PATH, and that it exists in the sandbox's root filesystem"
        ),
        std::io::ErrorKind::PermissionDenied => {
            format!("cannot run `{program}`: permission denied (is it executable?)")
        }
        _ => format!("cannot run `{program}` in `{cwd}`: {e}"),
    }
}

fn exited_event(id: u64, status: WaitStatus) -> Event {
    Event::Exited {
        id,
        code: status.exit_status(),
        signal: status.terminating_signal(),
    }
}

fn signal_from(number: i32) -> Option<Signal> {
    [
        Signal::TERM,
        Signal::KILL,
        Signal::INT,
        Signal::HUP,
        Signal::QUIT,
        Signal::USR1,
        Signal::USR2,
        Signal::STOP,
        Signal::CONT,
    ]
    .into_iter()
    .find(|s| s.as_raw() == number)
}
