//! Sessions: one live isolate across runs, dropped after a failure, capped in memory.

use crate::support::{given_sandbox, memory_heavy};
use sandbox::{Bindings, Execution, Limit, Limits, Outcome, Sandbox, SandboxConfig, Session};
use serde_json::{Value, json};
use std::sync::Arc;

/// A sandbox of its own with one thread: a session's run can only ever go to its home
/// (on a shared pool, a run whose home stays busy for a millisecond may start over on
/// another thread, which these tests would see as lost state).
fn given_one_thread() -> Sandbox {
    Sandbox::new(SandboxConfig { threads: 1 }).expect("sandbox")
}

/// A session's code: state in a closure, the entry adds `input.by` to it.
const COUNTER: &str = "let n = 0;\nreturn (input) => { n += input.by; if (input.fail) throw new Error('asked to fail'); return n; };";

async fn given_run(session: &Session, code: &str, input: Value) -> Outcome {
    session.run(Execution::new(code), input).await
}

fn result(outcome: Outcome) -> Value {
    assert_eq!(outcome.error, None, "the run failed");
    outcome.result.unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_keeps_its_isolate_between_runs() {
    let sandbox = given_one_thread();
    let session = sandbox.session();
    for (by, expected) in [(1, 1), (2, 3), (3, 6)] {
        let outcome = given_run(&session, COUNTER, json!({ "by": by })).await;
        assert_eq!(result(outcome), json!(expected));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_run_drops_the_isolate_and_the_next_starts_over() {
    let sandbox = given_one_thread();
    let session = sandbox.session();
    assert_eq!(
        result(given_run(&session, COUNTER, json!({"by": 5})).await),
        json!(5)
    );
    let failed = given_run(&session, COUNTER, json!({"by": 1, "fail": true})).await;
    let error = failed.error.expect("the run fails");
    assert!(error.message.contains("asked to fail"), "{error:?}");
    // Not 6 (the failed run's change) nor 11: a fresh isolate.
    assert_eq!(
        result(given_run(&session, COUNTER, json!({"by": 5})).await),
        json!(5)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn different_code_or_a_discard_gets_a_fresh_isolate() {
    let sandbox = given_one_thread();
    let session = sandbox.session();
    assert_eq!(
        result(given_run(&session, COUNTER, json!({"by": 1})).await),
        json!(1)
    );
    assert_eq!(
        result(given_run(&session, COUNTER, json!({"by": 1})).await),
        json!(2)
    );
    let other = format!("{COUNTER}\n// another version");
    assert_eq!(
        result(given_run(&session, &other, json!({"by": 1})).await),
        json!(1)
    );
    assert_eq!(
        result(given_run(&session, &other, json!({"by": 1})).await),
        json!(2)
    );
    session.discard();
    assert_eq!(
        result(given_run(&session, &other, json!({"by": 1})).await),
        json!(1)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_do_not_share_globals_with_each_other_or_executions() {
    let sandbox = given_one_thread();
    let (a, b) = (sandbox.session(), sandbox.session());
    let code = "return (input) => { if (input.set) globalThis.secret = input.set; return typeof secret === 'undefined' ? null : secret; };";
    assert_eq!(
        result(given_run(&a, code, json!({"set": "a's"})).await),
        json!("a's")
    );
    assert_eq!(result(given_run(&b, code, json!({})).await), json!(null));
    assert_eq!(result(given_run(&a, code, json!({})).await), json!("a's"));
    let outcome = sandbox.execute(Execution::new("typeof secret")).await;
    assert_eq!(result(outcome), json!("undefined"));
}

#[tokio::test(flavor = "multi_thread")]
async fn each_run_calls_its_own_host_functions() {
    let session = given_sandbox().session();
    let code = "return async (input) => [input.run, await api.which()];";
    for run in ["first", "second"] {
        let bindings =
            Bindings::new().function("api", "which", move |_| async move { Ok(json!(run)) });
        let outcome = session
            .run(
                Execution::new(code).bindings(bindings),
                json!({ "run": run }),
            )
            .await;
        assert_eq!(result(outcome), json!([run, run]));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_whose_code_is_not_a_function_says_so() {
    let session = given_sandbox().session();
    let outcome = given_run(&session, "return 42;", json!(null)).await;
    let error = outcome.error.expect("the run fails");
    assert_eq!(error.name, "TypeError");
    assert!(
        error.message.contains("must evaluate to a function"),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_heap_a_session_keeps_counts_against_each_runs_memory_limit() {
    let _quiet = memory_heavy().await;
    let sandbox = given_one_thread();
    let session = sandbox.session();
    let code = "const kept = [];\nreturn () => { kept.push(new Uint8Array(4 << 20)); return kept.length; };";
    let limits = Limits {
        memory_bytes: 16 << 20,
        ..Limits::default()
    };
    let mut failed_at = None;
    for run in 1..=8 {
        let outcome = session
            .run(Execution::new(code).limits(limits), json!(null))
            .await;
        match outcome.error {
            None => assert_eq!(outcome.result, Some(json!(run))),
            Some(error) => {
                assert_eq!(error.limit, Some(Limit::Memory), "{error:?}");
                failed_at = Some(run);
                break;
            }
        }
    }
    // Each run allocates 4 MiB, well under 16 MiB; only what earlier runs kept makes one
    // fail, at the 4th run at the latest.
    let failed_at = failed_at.expect("the kept heap reached the limit");
    assert!((2..=4).contains(&failed_at), "failed at run {failed_at}");
    let outcome = session
        .run(Execution::new(code).limits(limits), json!(null))
        .await;
    assert_eq!(result(outcome), json!(1), "the next run starts over");
}

/// Regression (issue 6, Code Mode at `/mcp` calling an agent): a session homed on the thread
/// that runs the code waiting for it must not queue behind that code; it waited for the
/// wall limit before. Twenty rounds: the caller lands on the session's home thread in
/// about half of them.
#[tokio::test(flavor = "multi_thread")]
async fn a_session_run_awaited_by_code_on_its_home_thread_does_not_deadlock() {
    let sandbox = Arc::new(Sandbox::new(SandboxConfig { threads: 2 }).expect("sandbox"));
    let limits = Limits {
        wall_ms: 5_000,
        ..Limits::default()
    };
    for round in 0..20 {
        let session = Arc::new(sandbox.session());
        let warm = session
            .run(Execution::new(COUNTER).limits(limits), json!({"by": 1}))
            .await;
        assert_eq!(result(warm), json!(1));
        let bindings = Bindings::new().function("agent", "bump", {
            let session = session.clone();
            move |_| {
                let session = session.clone();
                async move {
                    let outcome = session
                        .run(Execution::new(COUNTER).limits(limits), json!({"by": 1}))
                        .await;
                    Ok(outcome.result.unwrap_or(Value::Null))
                }
            }
        });
        let outcome = sandbox
            .execute(
                Execution::new("return await agent.bump()")
                    .bindings(bindings)
                    .limits(limits),
            )
            .await;
        assert_eq!(outcome.error, None, "round {round}");
        let n = outcome.result.expect("a result");
        assert!(n == json!(2) || n == json!(1), "round {round}: {n}");
    }
}

/// A thread keeps at most 256 live session isolates: past that, the least recently used
/// one starts over at its next run, and the others carry on.
#[tokio::test(flavor = "multi_thread")]
async fn past_its_cap_a_thread_drops_the_least_recently_used_session() {
    let sandbox = given_one_thread();
    let sessions: Vec<Session> = (0..257).map(|_| sandbox.session()).collect();
    for session in &sessions {
        assert_eq!(
            result(given_run(session, COUNTER, json!({"by": 1})).await),
            json!(1)
        );
    }
    // The first session was the least recently used when the 257th arrived.
    assert_eq!(
        result(given_run(&sessions[0], COUNTER, json!({"by": 1})).await),
        json!(1)
    );
    // Bringing it back pushed out the next least recent (the second); the last carries on.
    assert_eq!(
        result(given_run(&sessions[256], COUNTER, json!({"by": 1})).await),
        json!(2)
    );
    assert_eq!(
        result(given_run(&sessions[1], COUNTER, json!({"by": 1})).await),
        json!(1)
    );
}
