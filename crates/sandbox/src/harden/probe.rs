//! What [`super::harden`] would achieve here, found by hardening a forked child.

#![allow(unsafe_code)]

use super::{HardenConfig, HardenReport, LAYERS, Layer, LayerStatus, errno_name, last_errno};
use std::io::Read as _;
use std::os::fd::{FromRawFd as _, OwnedFd};

/// Reports which layers [`super::harden`] with the production configuration would put in
/// force on this machine, without hardening the current process: a forked child hardens
/// itself and writes its report back through a pipe. Safe to call from a multithreaded
/// process (the child has one thread; it only allocates, which glibc supports after
/// `fork`). The `empty_environment` layer is what workers get: the supervisor starts them
/// with an empty environment whatever its own holds (a worker checks it again at start).
pub fn probe() -> HardenReport {
    match probe_in_child(&HardenConfig::default()) {
        Ok(mut report) => {
            for layer in &mut report.layers {
                if layer.name == super::EMPTY_ENVIRONMENT {
                    *layer = Layer::active(
                        super::EMPTY_ENVIRONMENT,
                        "workers are started with no environment variables",
                    );
                }
            }
            report
        }
        Err(reason) => HardenReport {
            layers: LAYERS
                .iter()
                .map(|name| Layer::unavailable(name, format!("probe failed: {reason}")))
                .collect(),
        },
    }
}

fn probe_in_child(config: &HardenConfig) -> Result<HardenReport, String> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a writable array of two ints, as pipe2 requires.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe2: {}", errno_name(last_errno())));
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: the child only hardens itself, writes to the pipe and `_exit`s; it never
    // returns into the caller's code nor runs destructors or atexit handlers.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", errno_name(last_errno())));
    }
    if pid == 0 {
        use std::os::fd::AsRawFd as _;
        let code = std::panic::catch_unwind(|| {
            let report = super::harden(config);
            let text = encode(&report);
            write_all(write_end.as_raw_fd(), text.as_bytes())
        })
        .map_or(101, |ok| if ok { 0 } else { 1 });
        // SAFETY: ends the forked child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    drop(write_end);
    let mut text = String::new();
    let read = std::fs::File::from(read_end).read_to_string(&mut text);
    let status = wait(pid)?;
    read.map_err(|e| format!("reading the child's report: {e}"))?;
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(describe_status(status));
    }
    decode(&text).ok_or_else(|| "the child's report is malformed".to_owned())
}

fn write_all(fd: i32, mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is valid for `bytes.len()` bytes; `fd` is the open pipe.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            if last_errno() == libc::EINTR {
                continue;
            }
            return false;
        }
        bytes = &bytes[n as usize..];
    }
    true
}

/// Waits for `pid`, returning its raw wait status.
pub(super) fn wait(pid: libc::pid_t) -> Result<i32, String> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a writable int; `pid` is our child.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc == pid {
            return Ok(status);
        }
        if last_errno() != libc::EINTR {
            return Err(format!("waitpid: {}", errno_name(last_errno())));
        }
    }
}

fn describe_status(status: i32) -> String {
    if libc::WIFSIGNALED(status) {
        let signal = libc::WTERMSIG(status);
        if signal == libc::SIGSYS {
            "the hardened child was killed by seccomp (SIGSYS)".to_owned()
        } else {
            format!("the hardened child was killed by signal {signal}")
        }
    } else {
        format!(
            "the hardened child exited with {}",
            libc::WEXITSTATUS(status)
        )
    }
}

// One line per layer: name, TAB, `active` or `unavailable`, TAB, reason, TAB, detail.
fn encode(report: &HardenReport) -> String {
    let clean = |s: &str| s.replace(['\t', '\n'], " ");
    let mut out = String::new();
    for layer in &report.layers {
        let (status, reason) = match &layer.status {
            LayerStatus::Active => ("active", String::new()),
            LayerStatus::Unavailable(reason) => ("unavailable", clean(reason)),
        };
        out.push_str(&format!(
            "{}\t{status}\t{reason}\t{}\n",
            layer.name,
            clean(&layer.detail)
        ));
    }
    out
}

fn decode(text: &str) -> Option<HardenReport> {
    let mut layers = Vec::new();
    for line in text.lines() {
        let mut fields = line.splitn(4, '\t');
        let name = fields.next()?;
        let name = LAYERS.iter().copied().find(|n| *n == name)?;
        let status = match (fields.next()?, fields.next()?) {
            ("active", _) => LayerStatus::Active,
            ("unavailable", reason) => LayerStatus::Unavailable(reason.to_owned()),
            _ => return None,
        };
        let detail = fields.next().unwrap_or("").to_owned();
        layers.push(Layer {
            name: name.to_owned(),
            status,
            detail,
        });
    }
    (layers.len() == LAYERS.len()).then_some(HardenReport { layers })
}
