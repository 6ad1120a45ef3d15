//! Issue 17: an execution's preload (`Execution::preload`: an npm bundle and the program's
//! imports) is evaluated ahead of time, in the fresh isolate prepared for the next
//! execution, so a package's loading and module code are off that execution's path.
//!
//! One executor thread per sandbox here: the thread warms up after replying and before
//! taking the next execution, so which execution finds a warmed isolate is deterministic.
//! Whether it did shows in `stats.memory_bytes`: what the preload allocated ahead of time
//! is not part of the execution's peak (it is counted against its limit, see below).

use crate::support::given_tight_limits;
use sandbox::{Bindings, Execution, Limits, Outcome, Preload, Sandbox, SandboxConfig};
use serde_json::json;

/// Holds 1 MiB, so a warmed execution's peak is visibly smaller than a cold one's.
const MODULE: &str = "globalThis.held = 'x'.repeat(1 << 20);";
const SCRIPT: &str = "globalThis.evaluated = (globalThis.evaluated || 0) + 1;";
const CODE: &str = "return [held.length, evaluated]";

fn given_one_thread() -> Sandbox {
    Sandbox::new(SandboxConfig { threads: 1 }).expect("sandbox")
}

fn given_preload(module: &str, script: Option<&str>) -> Preload {
    Preload {
        module: module.into(),
        script: script.map(Into::into),
    }
}

async fn run(sandbox: &Sandbox, code: &str, preload: &Preload) -> Outcome {
    sandbox
        .execute(Execution::new(code).preload(preload.clone()))
        .await
}

fn warmed(outcome: &Outcome) -> bool {
    assert_eq!(outcome.error, None);
    outcome.stats.memory_bytes < 1 << 20
}

#[tokio::test(flavor = "multi_thread")]
async fn issue17_the_next_execution_with_the_same_preload_finds_it_evaluated_ahead() {
    let sandbox = given_one_thread();
    let preload = given_preload(MODULE, Some(SCRIPT));
    // The first evaluates its preload itself.
    let first = run(&sandbox, CODE, &preload).await;
    assert!(!warmed(&first), "{:?}", first.stats);
    assert_eq!(first.result, Some(json!([1 << 20, 1])));
    // Every later one starts where the preload left a fresh isolate: evaluated once, never
    // twice, the same result.
    for _ in 0..3 {
        let next = run(&sandbox, CODE, &preload).await;
        assert!(warmed(&next), "{:?}", next.stats);
        assert_eq!(next.result, Some(json!([1 << 20, 1])));
    }
    // The same texts in other `Arc`s are the same preload.
    let copy = given_preload(&String::from(MODULE), Some(&String::from(SCRIPT)));
    assert!(warmed(&run(&sandbox, CODE, &copy).await));
}

#[tokio::test(flavor = "multi_thread")]
async fn issue17_a_warmed_isolate_serves_only_its_own_preload_and_one_execution() {
    let sandbox = given_one_thread();
    let preload = given_preload(MODULE, Some(SCRIPT));
    run(&sandbox, CODE, &preload).await;
    // Another script, another module, none: each in a fresh isolate, evaluated there.
    let other_script = given_preload(MODULE, Some("globalThis.evaluated = 7;"));
    let outcome = run(&sandbox, CODE, &other_script).await;
    assert!(!warmed(&outcome));
    assert_eq!(outcome.result, Some(json!([1 << 20, 7])));
    let outcome = sandbox.execute(Execution::new("return typeof held")).await;
    assert_eq!(outcome.result, Some(json!("undefined")));
    run(&sandbox, CODE, &preload).await;
    // What one execution does to its warmed isolate stays with it.
    let tamper = "globalThis.evaluated = 100; Object.prototype.polluted = 1; return 0";
    assert!(warmed(&run(&sandbox, tamper, &preload).await));
    let check = run(
        &sandbox,
        "return [evaluated, ({}).polluted ?? null]",
        &preload,
    )
    .await;
    assert!(warmed(&check));
    assert_eq!(check.result, Some(json!([1, null])));
}

#[tokio::test(flavor = "multi_thread")]
async fn issue17_a_preload_sees_none_of_the_execution_s_bindings_warmed_or_not() {
    let sandbox = given_one_thread();
    let preload = given_preload(MODULE, Some("globalThis.sawApi = typeof api;"));
    let bindings = Bindings::new().function("api", "ping", |_| async move { Ok(json!("pong")) });
    for round in 0..3 {
        let outcome = sandbox
            .execute(
                Execution::new("return [sawApi, await api.ping()]")
                    .preload(preload.clone())
                    .bindings(bindings.clone()),
            )
            .await;
        assert_eq!(outcome.error, None);
        assert_eq!(warmed(&outcome), round > 0);
        assert_eq!(outcome.result, Some(json!(["undefined", "pong"])));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn issue17_a_preload_that_fails_logs_or_leaves_work_behaves_the_same_every_time() {
    let sandbox = given_one_thread();
    let limits = Limits {
        cpu_ms: 50,
        ..given_tight_limits()
    };
    // (preload script, what every execution sees)
    let cases = [
        ("throw new Error('broken package')", "Error: broken package"),
        ("while (true) {}", "LimitError"),
        ("console.log('at import')", "ok, logged"),
        ("setTimeout(() => { globalThis.evaluated = 2 }, 1)", "ok"),
    ];
    for (script, expected) in cases {
        let preload = given_preload("globalThis.held = '';", Some(script));
        for round in 0..3 {
            let outcome = sandbox
                .execute(
                    Execution::new(
                        "await new Promise((r) => setTimeout(r, 5)); return held.length",
                    )
                    .preload(preload.clone())
                    .limits(limits),
                )
                .await;
            let seen = match (&outcome.error, outcome.logs.is_empty()) {
                (Some(e), _) if e.name == "LimitError" => "LimitError".to_owned(),
                (Some(e), _) => format!("{}: {}", e.name, e.message),
                (None, true) => "ok".to_owned(),
                (None, false) => "ok, logged".to_owned(),
            };
            assert_eq!(seen, expected, "{script}, round {round}: {outcome:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn issue17_what_a_warmed_preload_holds_counts_against_the_execution_s_memory_limit() {
    let _heavy = crate::support::memory_heavy().await;
    let sandbox = given_one_thread();
    // 3 MiB held by the preload, 3 MiB more by the code: over a 5 MiB limit either way.
    let preload = given_preload("globalThis.held = 'x'.repeat(3 << 20);", None);
    let limits = Limits {
        memory_bytes: 5 << 20,
        ..given_tight_limits()
    };
    let code = "const more = 'y'.repeat(3 << 20); return held.length + more.length";
    for round in 0..3 {
        let outcome = sandbox
            .execute(Execution::new(code).preload(preload.clone()).limits(limits))
            .await;
        let error = outcome.error.expect("over the memory limit");
        assert_eq!(error.name, "LimitError", "round {round}: {error:?}");
    }
    // Under the limit, warmed or not, it runs.
    let small = "const more = 'y'.repeat(1 << 20); return held.length + more.length";
    for _ in 0..3 {
        let outcome = sandbox
            .execute(
                Execution::new(small)
                    .preload(preload.clone())
                    .limits(limits),
            )
            .await;
        assert_eq!(outcome.result, Some(json!((3 << 20) + (1 << 20))));
    }
}
