//! `given_*` helpers shared by the sandbox tests.

use sandbox::{Bindings, Execution, Limits, Outcome, Sandbox, SandboxConfig};
use std::path::PathBuf;
use std::sync::LazyLock;

static SANDBOX: LazyLock<Sandbox> =
    LazyLock::new(|| Sandbox::new(SandboxConfig { threads: 2 }).expect("sandbox starts"));

/// Held by tests that allocate tens of MiB and by the test that measures resident memory:
/// tests run in parallel in one process, and freed heap is not always returned to the OS, so
/// a heavy neighbour would show up as growth in the measurement.
pub(crate) async fn memory_heavy() -> tokio::sync::MutexGuard<'static, ()> {
    HEAVY.lock().await
}

/// [`memory_heavy`] for tests without a runtime.
pub(crate) fn memory_heavy_blocking() -> tokio::sync::MutexGuard<'static, ()> {
    HEAVY.blocking_lock()
}

static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The shared two-thread sandbox the tests run on.
pub(crate) fn given_sandbox() -> &'static Sandbox {
    &SANDBOX
}

pub(crate) async fn run(code: &str) -> Outcome {
    given_sandbox().execute(Execution::new(code)).await
}

pub(crate) async fn run_with(code: &str, limits: Limits, bindings: Bindings) -> Outcome {
    given_sandbox()
        .execute(Execution::new(code).limits(limits).bindings(bindings))
        .await
}

/// Limits small enough that runaway code ends quickly.
pub(crate) fn given_tight_limits() -> Limits {
    Limits {
        memory_bytes: 8 << 20,
        cpu_ms: 200,
        wall_ms: 2_000,
        stack_bytes: 256 << 10,
        output_bytes: 64 << 10,
        host_calls: 100,
    }
}

pub(crate) fn golden_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// Compares `actual` with the golden file, or rewrites it when `BLESS=1`.
pub(crate) fn assert_golden(path: &std::path::Path, actual: &str) {
    if std::env::var_os("BLESS").is_some_and(|v| v == "1") {
        std::fs::write(path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|_| {
        panic!(
            "missing golden file {}: run with BLESS=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        let mut diff = String::new();
        for (i, (e, a)) in expected.lines().zip(actual.lines()).enumerate() {
            if e != a {
                diff.push_str(&format!(
                    "line {}:\n  expected: {e}\n  actual:   {a}\n",
                    i + 1
                ));
            }
        }
        if expected.lines().count() != actual.lines().count() {
            diff.push_str(&format!(
                "expected {} lines, got {}\n",
                expected.lines().count(),
                actual.lines().count()
            ));
        }
        panic!(
            "{} differs from the golden file (BLESS=1 rewrites it):\n{diff}",
            path.display()
        );
    }
}
