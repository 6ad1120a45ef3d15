//! Each execution runs in a fresh isolate: nothing leaks from one to the next.

use crate::support::run;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn tampered_prototypes_do_not_reach_the_next_execution() {
    // Run the tampering and the check several times so both executor threads are covered.
    for _ in 0..4 {
        let tamper = run(
            "Object.prototype.polluted = 'yes'; Array.prototype.map = () => 'hijacked'; \
             JSON.stringify = () => 'hijacked'; globalThis.leak = 42; Math.random = () => 4; \
             setTimeout(() => { globalThis.late = 1; }, 50); return 1;",
        )
        .await;
        assert_eq!(tamper.result, Some(json!(1)));
        let check = run(
            "return [({}).polluted, [1].map(x => x + 1), JSON.stringify({a: 1}), typeof leak, Math.random() === 4, typeof late];",
        )
        .await;
        assert_eq!(check.result, Some(json!([null, [2], "{\"a\":1}", "undefined", false, "undefined"])));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn lazily_loaded_globals_are_per_isolate() {
    for _ in 0..4 {
        run("URL.prototype.evil = 1; TextEncoder.prototype.encode = () => 'x'; return 0").await;
        let check = run("return [URL.prototype.evil === undefined, new TextEncoder().encode('a').length]").await;
        assert_eq!(check.result, Some(json!([true, 1])));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn executions_run_in_parallel_across_threads() {
    let sandbox = crate::support::given_sandbox();
    let started = std::time::Instant::now();
    let busy = "const end = Date.now() + 300; while (Date.now() < end) {} return 1;";
    let (a, b) = tokio::join!(
        sandbox.execute(sandbox::Execution::new(busy)),
        sandbox.execute(sandbox::Execution::new(busy))
    );
    assert_eq!((a.result, b.result), (Some(json!(1)), Some(json!(1))));
    // Serialised they would take 600 ms; in parallel about 300 ms.
    assert!(started.elapsed() < std::time::Duration::from_millis(550), "{:?}", started.elapsed());
}
