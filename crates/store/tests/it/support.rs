//! Shared `given_*` helpers: a fresh data directory with a manual clock and sequential ids.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use store::{AgentDb, DataDir, Env, ManualClock, SequentialIds};

/// 2024-01-01T00:00:00Z: a fixed "now" for every test.
pub(crate) const START_MS: i64 = 1_704_067_200_000;

/// A directory removed when the test ends.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "islet-store-test-{}-{}",
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

/// A data directory in a temp dir, with the clock it uses.
pub(crate) struct Given {
    pub dir: TempDir,
    pub clock: Arc<ManualClock>,
    pub data: DataDir,
}

impl Given {
    /// The same directory opened again (as after a restart).
    pub(crate) fn reopen(&mut self) {
        self.data = DataDir::open(self.dir.path(), env(&self.clock)).expect("reopen data dir");
    }
}

pub(crate) fn env(clock: &Arc<ManualClock>) -> Env {
    Env {
        clock: clock.clone(),
        ids: Arc::new(SequentialIds::new("s")),
    }
}

pub(crate) fn given_data_dir() -> Given {
    let dir = TempDir::new();
    let clock = Arc::new(ManualClock::new(START_MS));
    let data = DataDir::open(dir.path(), env(&clock)).expect("open data dir");
    Given { dir, clock, data }
}

/// A data directory plus one opened agent `Chat/alice`.
pub(crate) fn given_agent() -> (Given, AgentDb) {
    let given = given_data_dir();
    let db = given.data.open_agent("Chat", "alice").expect("open agent");
    (given, db)
}
