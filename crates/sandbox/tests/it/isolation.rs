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
        assert_eq!(
            check.result,
            Some(json!([
                null,
                [2],
                "{\"a\":1}",
                "undefined",
                false,
                "undefined"
            ]))
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn lazily_loaded_globals_are_per_isolate() {
    for _ in 0..4 {
        run("URL.prototype.evil = 1; TextEncoder.prototype.encode = () => 'x'; return 0").await;
        let check =
            run("return [URL.prototype.evil === undefined, new TextEncoder().encode('a').length]")
                .await;
        assert_eq!(check.result, Some(json!([true, 1])));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn executions_run_in_parallel_across_threads() {
    // Its own two threads: on the shared sandbox another test's execution may hold one.
    let sandbox = sandbox::Sandbox::new(sandbox::SandboxConfig { threads: 2 }).expect("sandbox");
    // Each reports the window in which it was running JavaScript; run one after the other,
    // the windows could not overlap. (No timing bound: a loaded machine only stretches them.)
    let busy =
        "const start = Date.now(); while (Date.now() < start + 300) {} return [start, Date.now()];";
    let (a, b) = tokio::join!(
        sandbox.execute(sandbox::Execution::new(busy)),
        sandbox.execute(sandbox::Execution::new(busy))
    );
    let window = |o: sandbox::Outcome| -> (i64, i64) {
        let r = o.result.expect("result");
        (r[0].as_i64().expect("start"), r[1].as_i64().expect("end"))
    };
    let ((a0, a1), (b0, b1)) = (window(a), window(b));
    assert!(
        a0 < b1 && b0 < a1,
        "windows {a0}..{a1} and {b0}..{b1} do not overlap"
    );
}
