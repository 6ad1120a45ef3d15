//! Starting headless Chromium, and making sure it and every process it started end, even
//! when islet itself is killed with SIGKILL (which no code of islet's can react to).
//!
//! Chromium is started by a *watcher*, a small `sh` script ([`WATCHER`]) that leads a
//! process group of its own, in which Chromium and everything it starts run. The
//! watcher's stdin is a pipe whose write end only islet holds (close-on-exec, so no other
//! child inherits it): when islet exits, however it exits, the kernel closes it, the
//! watcher reads end-of-file and kills Chromium, removes its profile and kills the group
//! (itself included). It does the same when Chromium exits on its own, so the watcher
//! lives exactly as long as the browser. No `unsafe` (no `pre_exec`, no
//! `PR_SET_PDEATHSIG`, which fires when the *thread* that forked exits and reaches only
//! Chromium's first process), and it works the same for islet and for a library user.

use crate::Error;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// Names looked up on `PATH` when no program is given, in order.
const PROGRAMS: [&str; 4] = [
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

/// How long Chromium may take to print its DevTools endpoint.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The shell that runs [`WATCHER`] (POSIX `sh`: dash on Debian).
const SHELL: &str = "/bin/sh";

/// `sh -c WATCHER islet-chromium PROFILE PROGRAM ARGS…`, in a process group of its own,
/// stdin a pipe only islet writes to, stderr the pipe islet reads DevTools' address from.
/// It prints Chromium's pid, then gives up its own stdout and stderr (so Chromium's exit
/// ends islet's read of its stderr). A background job of a shell without job control
/// stays in the shell's process group, so `kill -KILL 0` reaches every process of the
/// browser; it runs once Chromium has exited, which the reader (a subshell blocked on the
/// pipe) forces when the pipe reaches end-of-file. Signals from a terminal are ignored:
/// the watcher ends with the pipe or the browser, never before.
const WATCHER: &str = r#"profile=$1; shift
"$@" </dev/null >/dev/null &
browser=$!
echo "$browser"
trap '' HUP INT QUIT
exec 3<&0 0</dev/null >/dev/null 2>/dev/null
{ while read -r _; do :; done; kill -KILL "$browser"; } <&3 &
exec 3<&-
wait "$browser"
[ -n "$profile" ] && rm -rf -- "$profile"
kill -KILL 0
"#;

/// The program to start: `explicit`, else the first of [`PROGRAMS`] on `PATH`.
pub(crate) fn find(explicit: Option<&Path>) -> Result<PathBuf, Error> {
    if let Some(path) = explicit {
        return if path.is_file() {
            Ok(path.to_owned())
        } else {
            Err(Error::NotFound {
                looked: format!("{} (no such file)", path.display()),
            })
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in PROGRAMS {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(Error::NotFound {
        looked: format!("{} on PATH", PROGRAMS.join(", ")),
    })
}

/// A running Chromium under its watcher: killed with its whole process group, and its
/// profile directory removed, on drop (and by the watcher if islet dies first).
#[derive(Debug)]
pub(crate) struct Process {
    /// The watcher ([`WATCHER`]): Chromium's parent, and exits only with it.
    watcher: Child,
    /// The write end of the watcher's stdin. Never written: its closing is the message.
    _lifeline: ChildStdin,
    /// The process group (the watcher's pid): Chromium, its renderers, GPU and zygote
    /// processes, and the watcher.
    group: Option<rustix::process::Pid>,
    /// Chromium's own pid.
    browser: Option<u32>,
    profile: PathBuf,
    pub(crate) endpoint: String,
}

impl Process {
    /// Starts `program` headless with a fresh profile and waits for its DevTools endpoint.
    pub(crate) async fn start(program: &Path) -> Result<Process, Error> {
        let launch_error = |reason: String| Error::Launch {
            program: program.display().to_string(),
            reason,
        };
        let profile = std::env::temp_dir().join(base::unique_name("islet-chromium"));
        std::fs::create_dir_all(&profile)?;
        let mut command = Command::new(SHELL);
        command
            .arg("-c")
            .arg(WATCHER)
            .arg("islet-chromium")
            .arg(&profile)
            .arg(program)
            .args(arguments(&profile))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // Its own process group, so one signal reaches every process it starts, and
            // signals sent to islet's group (a terminal's Ctrl-C) do not reach it.
            .process_group(0);
        let mut watcher = command.spawn().map_err(|e| {
            let _ = std::fs::remove_dir_all(&profile);
            launch_error(format!("cannot start {SHELL} to watch it: {e}"))
        })?;
        let group = watcher
            .id()
            .and_then(|pid| rustix::process::Pid::from_raw(pid as i32));
        let pipes = (
            watcher.stdin.take(),
            watcher.stdout.take(),
            watcher.stderr.take(),
        );
        let (Some(lifeline), Some(stdout), Some(stderr)) = pipes else {
            return Err(launch_error("the watcher has no pipes".into()));
        };
        let mut process = Process {
            watcher,
            _lifeline: lifeline,
            group,
            browser: None,
            profile,
            endpoint: String::new(),
        };
        let mut lines = BufReader::new(stderr).lines();
        let mut said = Vec::new();
        let browser = &mut process.browser;
        let found = tokio::time::timeout(START_TIMEOUT, async {
            // The watcher's first line is Chromium's pid.
            let mut stdout = BufReader::new(stdout).lines();
            *browser = match stdout.next_line().await {
                Ok(Some(pid)) => pid.trim().parse().ok(),
                _ => None,
            };
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    return Some(url.trim().to_owned());
                }
                said.push(line);
            }
            None
        })
        .await;
        match found {
            Ok(Some(endpoint)) => process.endpoint = endpoint,
            Ok(None) => {
                let tail = said.iter().rev().take(5).rev().cloned().collect::<Vec<_>>();
                return Err(launch_error(format!(
                    "it exited before offering DevTools; it said: {}",
                    base::truncate(&tail.join(" | "), 600)
                )));
            }
            Err(_) => {
                return Err(launch_error(format!(
                    "no DevTools endpoint within {} s",
                    START_TIMEOUT.as_secs()
                )));
            }
        }
        // Keep reading what it says, so a full pipe never blocks it.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::trace!(target: "islet::browser", "chromium: {line}");
            }
        });
        Ok(process)
    }

    /// Whether the browser process is still running (the watcher exits with it).
    pub(crate) fn is_running(&mut self) -> bool {
        matches!(self.watcher.try_wait(), Ok(None))
    }

    /// The browser's process id.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.browser
    }

    /// The process group every process of the browser runs in (for tests and memory
    /// figures).
    pub(crate) fn group(&self) -> Option<u32> {
        self.group.map(|g| g.as_raw_pid() as u32)
    }

    fn kill_group(&self) {
        if let Some(group) = self.group {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // Not waiting for the watcher to notice the lifeline close: the group goes now.
        self.kill_group();
        let _ = self.watcher.start_kill();
        let _ = self.watcher.try_wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Chromium's switches. No network of its own: every request a page makes is answered by
/// islet (see `page.rs`); anything that escapes interception (a service worker, a
/// WebSocket, a prefetch) meets a dead proxy and a resolver that knows no names.
fn arguments(profile: &Path) -> Vec<String> {
    let mut args: Vec<String> = [
        "--headless",
        // Chromium's own sandbox needs user namespaces it cannot have as root here; the
        // isolation islet relies on is that no request leaves without passing its policy.
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-breakpad",
        "--disable-domain-reliability",
        "--metrics-recording-only",
        "--mute-audio",
        "--hide-scrollbars",
        "--password-store=basic",
        "--use-mock-keychain",
        // One renderer process for every frame, so the page's interception sees every
        // frame's requests.
        "--disable-site-isolation-trials",
        "--disable-features=IsolateOrigins,site-per-process,Translate,MediaRouter,OptimizationHints",
        "--proxy-server=127.0.0.1:9",
        "--proxy-bypass-list=<-loopback>",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--remote-debugging-port=0",
        "--window-size=1280,800",
    ]
    .map(str::to_owned)
    .to_vec();
    args.push(format!("--user-data-dir={}", profile.display()));
    args.push("about:blank".to_owned());
    args
}

/// Resident memory, in bytes, of every process in the group `group` leads (Linux: read
/// from `/proc`); 0 elsewhere.
pub(crate) fn group_resident_bytes(group: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut total = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The fields after the command (which may hold spaces) start after its `)`:
        // state, ppid, pgrp.
        let pgrp = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(2))
            .and_then(|g| g.parse::<u32>().ok());
        if pgrp != Some(group) {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        total += kib * 1024;
    }
    total
}
