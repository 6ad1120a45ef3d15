//! Starting headless Chromium, and making sure it and every process it started end.

use crate::Error;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// Names looked up on `PATH` when no program is given, in order.
const PROGRAMS: [&str; 4] = [
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

/// How long Chromium may take to print its DevTools endpoint.
const START_TIMEOUT: Duration = Duration::from_secs(30);

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

/// A running Chromium: killed with its whole process group, and its profile directory
/// removed, on drop.
#[derive(Debug)]
pub(crate) struct Process {
    child: Child,
    /// The process group (Chromium's pid): renderers, the GPU and zygote processes.
    group: Option<rustix::process::Pid>,
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
        let mut command = Command::new(program);
        command
            .args(arguments(&profile))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // Its own process group, so one signal reaches every process it starts.
            .process_group(0);
        let child = command.spawn().map_err(|e| {
            let _ = std::fs::remove_dir_all(&profile);
            launch_error(e.to_string())
        })?;
        let group = child
            .id()
            .and_then(|pid| rustix::process::Pid::from_raw(pid as i32));
        let mut process = Process {
            child,
            group,
            profile,
            endpoint: String::new(),
        };
        let stderr = process
            .child
            .stderr
            .take()
            .ok_or_else(|| launch_error("no stderr pipe".into()))?;
        let mut lines = BufReader::new(stderr).lines();
        let mut said = Vec::new();
        let found = tokio::time::timeout(START_TIMEOUT, async {
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

    /// Whether the browser process is still running.
    pub(crate) fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The browser's process id (for tests and memory figures).
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    fn kill_group(&self) {
        if let Some(group) = self.group {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill_group();
        let _ = self.child.start_kill();
        let _ = self.child.try_wait();
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
