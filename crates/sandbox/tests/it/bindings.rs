//! Host functions: namespaces, concurrency, errors the code can catch.

use crate::support::{given_sandbox, run_with};
use sandbox::{Bindings, Execution, HostError, Limits};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn given_echo_bindings() -> Bindings {
    Bindings::new()
        .function("api.users", "get", |args| async move {
            Ok(json!({"id": args["id"], "name": "Ada"}))
        })
        .function(
            "codemode",
            "search",
            |args| async move { Ok(json!([args])) },
        )
        .function("api", "fail", |_| async move {
            Err::<Value, _>(
                HostError::new("NOT_FOUND", "no user 7; list users with api.users.list()")
                    .with_name("ApiError")
                    .with_data(json!({"status": 404})),
            )
        })
}

#[tokio::test(flavor = "multi_thread")]
async fn namespaced_calls_return_json() {
    let outcome = run_with(
        "async () => { const u = await api.users.get({ id: 7 }); const s = await codemode.search('q'); return [u, s]; }",
        Limits::default(),
        given_echo_bindings(),
    )
    .await;
    assert_eq!(outcome.error, None);
    assert_eq!(
        outcome.result,
        Some(json!([{"id": 7, "name": "Ada"}, ["q"]]))
    );
    assert_eq!(outcome.stats.host_calls, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn host_errors_are_catchable_with_name_message_code() {
    let outcome = run_with(
        "try { await api.fail({}); } catch (e) { return [e instanceof Error, e.name, e.message, e.code, e.data.status]; }",
        Limits::default(),
        given_echo_bindings(),
    )
    .await;
    assert_eq!(
        outcome.result,
        Some(json!([
            true,
            "ApiError",
            "no user 7; list users with api.users.list()",
            "NOT_FOUND",
            404
        ]))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn uncaught_host_error_fails_the_execution_with_its_code() {
    let outcome = run_with(
        "await api.fail({})",
        Limits::default(),
        given_echo_bindings(),
    )
    .await;
    let error = outcome.error.expect("fails");
    assert_eq!(
        (error.name.as_str(), error.code.as_deref()),
        ("ApiError", Some("NOT_FOUND"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn promise_all_runs_host_calls_concurrently() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (f, p) = (in_flight.clone(), peak.clone());
    let bindings = Bindings::new().function("api", "slow", move |args| {
        let (f, p) = (f.clone(), p.clone());
        async move {
            let now = f.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            f.fetch_sub(1, Ordering::SeqCst);
            Ok(args)
        }
    });
    let outcome = run_with(
        "const xs = await Promise.all(Array.from({ length: 20 }, (_, i) => api.slow(i))); return xs.reduce((a, b) => a + b, 0);",
        Limits::default(),
        bindings,
    )
    .await;
    assert_eq!(outcome.result, Some(json!(190)));
    assert_eq!(
        peak.load(Ordering::SeqCst),
        20,
        "all 20 calls were in flight at once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_host_calls_within_a_raised_limit() {
    let bindings = Bindings::new().function("api", "inc", |x| async move {
        Ok(json!(x.as_i64().unwrap_or(0) + 1))
    });
    let limits = Limits {
        host_calls: 10_000,
        ..Limits::default()
    };
    let outcome = run_with(
        "let n = 0; for (let i = 0; i < 5000; i++) n = await api.inc(n); const xs = await Promise.all(Array.from({length: 5000}, (_, i) => api.inc(i))); return [n, xs.length];",
        limits,
        bindings,
    )
    .await;
    assert_eq!(outcome.error, None);
    assert_eq!(outcome.result, Some(json!([5000, 5000])));
    assert_eq!(outcome.stats.host_calls, 10_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn bindings_that_would_shadow_globals_are_refused() {
    let bindings = Bindings::new().function("Math", "max", |_| async move { Ok(Value::Null) });
    let outcome = given_sandbox()
        .execute(Execution::new("1").bindings(bindings))
        .await;
    let error = outcome.error.expect("refused");
    assert!(error.message.contains("shadow"), "{}", error.message);
}

#[tokio::test(flavor = "multi_thread")]
async fn non_identifier_binding_names_are_refused() {
    let bindings = Bindings::new().function("api", "get-user", |_| async move { Ok(Value::Null) });
    let outcome = given_sandbox()
        .execute(Execution::new("1").bindings(bindings))
        .await;
    assert!(
        outcome
            .error
            .expect("refused")
            .message
            .contains("not a JavaScript identifier")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_call_takes_one_argument() {
    let outcome = run_with(
        "await api.users.get(1, 2)",
        Limits::default(),
        given_echo_bindings(),
    )
    .await;
    let error = outcome.error.expect("fails");
    assert_eq!(error.name, "TypeError");
    assert!(
        error.message.contains("takes one argument"),
        "{}",
        error.message
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unserialisable_arguments_throw_in_js() {
    let outcome = run_with(
        "const a = {}; a.a = a; try { await api.users.get(a); } catch (e) { return e.name; }",
        Limits::default(),
        given_echo_bindings(),
    )
    .await;
    assert_eq!(outcome.result, Some(json!("TypeError")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_host_function_is_an_error_not_a_crash() {
    let bindings = Bindings::new().function("api", "boom", |_| async move {
        if true {
            panic!("host bug");
        }
        Ok(Value::Null)
    });
    let outcome = run_with(
        "try { await api.boom(); } catch (e) { return e.code; }",
        Limits::default(),
        bindings,
    )
    .await;
    assert_eq!(outcome.result, Some(json!("INTERNAL")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prelude_gives_code_a_host_runtime_over_the_bindings() {
    let prelude = "globalThis.greet = async (who) => `${await api.users.get({ id: who })}`.length;\n\
                   globalThis.Base = class { hello() { return 'hi ' + this.constructor.name; } };";
    let bindings = Bindings::new().function("api.users", "get", |args| async move {
        Ok(json!(format!("user {}", args["id"])))
    });
    let outcome = given_sandbox()
        .execute(
            Execution::new(
                "class Mine extends Base {}\nreturn [new Mine().hello(), await greet(42)];",
            )
            .bindings(bindings)
            .prelude(prelude),
        )
        .await;
    assert_eq!(outcome.error, None);
    assert_eq!(outcome.result, Some(json!(["hi Mine", 7])));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_prelude_fails_the_execution_and_says_so() {
    let outcome = given_sandbox()
        .execute(Execution::new("return 1").prelude("throw new Error('broken runtime')"))
        .await;
    let error = outcome.error.expect("the prelude threw");
    assert!(
        error
            .message
            .starts_with("the host prelude failed: broken runtime"),
        "{error:?}"
    );
}

// Host functions answer with `HostError` by the bindings' contract.
#[allow(clippy::result_large_err)]
fn given_blocking_lookup() -> Bindings {
    Bindings::new()
        .blocking_function("table", "lookup", |key| match key.as_str() {
            Some("slow") => {
                // Long enough for an async call started before it to have answered.
                std::thread::sleep(Duration::from_millis(50));
                Ok(json!("slow"))
            }
            Some(key) => Ok(json!({ "key": key, "length": key.len() })),
            None => Err(HostError::new("BAD_KEY", "give a string key").with_name("LookupError")),
        })
        .function("api", "later", |x| async move {
            tokio::task::yield_now().await;
            Ok(x)
        })
}

#[tokio::test(flavor = "multi_thread")]
async fn issue13_4_a_blocking_host_function_answers_synchronous_code() {
    // A getter (synchronous code) calls it and gets the value itself, not a promise; errors
    // are thrown at the call and catchable; each call counts as a host call.
    let outcome = run_with(
        r#"const o = { get x() { return table.lookup("abc"); } };
let caught;
try { table.lookup(7); } catch (e) { caught = [e.name, e.code]; }
return [o.x, o.x.length, o.x instanceof Promise, caught];"#,
        Limits::default(),
        given_blocking_lookup(),
    )
    .await;
    assert_eq!(outcome.error, None);
    assert_eq!(
        outcome.result,
        Some(json!([{"key": "abc", "length": 3}, 3, false, ["LookupError", "BAD_KEY"]]))
    );
    assert_eq!(outcome.stats.host_calls, 4);

    // An async call's answer that arrives while a blocking call waits still settles it.
    let outcome = run_with(
        r#"const later = api.later({ n: 1 });
const now = table.lookup("slow");
return [now, await later];"#,
        Limits::default(),
        given_blocking_lookup(),
    )
    .await;
    assert_eq!(outcome.error, None);
    assert_eq!(outcome.result, Some(json!(["slow", {"n": 1}])));

    // The host call limit holds for blocking calls too.
    let limits = Limits {
        host_calls: 10,
        ..Limits::default()
    };
    let outcome = run_with(
        "for (let i = 0; i < 100; i++) { try { table.lookup('k' + i) } catch {} } return 1",
        limits,
        given_blocking_lookup(),
    )
    .await;
    let error = outcome.error.expect("over the host call limit");
    assert_eq!(error.limit, Some(sandbox::Limit::HostCalls), "{error:?}");

    // Time spent waiting counts against the wall limit: past it, the execution ends.
    let limits = Limits {
        wall_ms: 30,
        ..Limits::default()
    };
    let outcome = run_with(
        "table.lookup('slow'); return 1",
        limits,
        given_blocking_lookup(),
    )
    .await;
    let error = outcome.error.expect("over the wall limit");
    assert_eq!(error.limit, Some(sandbox::Limit::Wall), "{error:?}");
}
