//! `given_*` helpers: a temp directory, a sandbox in it, an agent database.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use linuxbox::{Config, ExecOptions, ExecResult, Limits, Linuxbox};
use store::{AgentDb, DataDir, Env, ManualClock, SequentialIds};

/// A directory removed when the test ends.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "islet-linuxbox-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn config(dir: &Path) -> Config {
    Config::new(
        vec![env!("CARGO_BIN_EXE_linuxbox-init").into()],
        dir.join("box"),
    )
}

pub(crate) struct Given {
    pub sandbox: Linuxbox,
    pub dir: TempDir,
}

pub(crate) async fn given_sandbox() -> Given {
    given_sandbox_with(Limits::default()).await
}

pub(crate) async fn given_sandbox_with(limits: Limits) -> Given {
    let dir = TempDir::new();
    let mut config = config(dir.path());
    config.limits = limits;
    let sandbox = Linuxbox::start(config).await.expect("sandbox starts");
    Given { sandbox, dir }
}

impl Given {
    pub(crate) async fn sh(&self, command: &str) -> ExecResult {
        self.sandbox
            .exec(command, ExecOptions::default())
            .await
            .expect("exec")
    }
}

/// An agent's database with a clock that never moves (so every change is "racy" for the
/// sync, the hardest case).
pub(crate) fn given_agent_db(dir: &Path, name: &str) -> AgentDb {
    let env = Env {
        clock: Arc::new(ManualClock::new(1_704_067_200_000)),
        ids: Arc::new(SequentialIds::new("s")),
    };
    let data = DataDir::open(dir.join("data"), env).expect("data dir");
    data.open_agent("Coder", name).expect("agent db")
}

/// Whether any process on the host has `needle` in its command line.
pub(crate) fn host_process_with(needle: &str) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        std::fs::read(entry.path().join("cmdline"))
            .map(|c| {
                String::from_utf8_lossy(&c)
                    .replace('\0', " ")
                    .contains(needle)
            })
            .unwrap_or(false)
    })
}
