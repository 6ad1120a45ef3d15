//! The adversarial corpus: every runaway ends in the right named error, and the host is
//! never harmed (no panic, no hang, no leak).

use crate::support::{given_sandbox, given_tight_limits, memory_heavy, run_with};
use sandbox::{Bindings, Execution, Limit, Limits, Outcome, Sandbox, SandboxConfig};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn expect_limit(code: &str, limits: Limits, bindings: Bindings, limit: Limit) -> Outcome {
    let started = Instant::now();
    let outcome = run_with(code, limits, bindings).await;
    let error = outcome.error.clone().unwrap_or_else(|| {
        panic!(
            "expected the {limit} limit, got result {:?}",
            outcome.result
        )
    });
    assert_eq!(error.limit, Some(limit), "{code}: {error:?}");
    assert_eq!(error.name, "LimitError");
    // Generous bound: a hang, not a slow machine, is what this catches.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{code} took {:?}",
        started.elapsed()
    );
    outcome
}

#[tokio::test(flavor = "multi_thread")]
async fn infinite_sync_loop_hits_cpu() {
    let outcome = expect_limit(
        "while (true) {}",
        given_tight_limits(),
        Bindings::new(),
        Limit::Cpu,
    )
    .await;
    assert!(
        outcome
            .error
            .unwrap()
            .message
            .contains("CPU time limit of 200 ms")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn infinite_async_loop_hits_cpu() {
    expect_limit(
        "async () => { while (true) { await null; } }",
        given_tight_limits(),
        Bindings::new(),
        Limit::Cpu,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn endless_timers_hit_wall() {
    expect_limit(
        "await new Promise(() => setInterval(() => {}, 1))",
        Limits {
            wall_ms: 200,
            ..given_tight_limits()
        },
        Bindings::new(),
        Limit::Wall,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_host_call_hits_wall() {
    let bindings = Bindings::new().function("api", "hang", |_| async move {
        std::future::pending::<()>().await;
        Ok(Value::Null)
    });
    expect_limit(
        "await api.hang()",
        Limits {
            wall_ms: 200,
            ..given_tight_limits()
        },
        bindings,
        Limit::Wall,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_bomb_by_array_hits_memory() {
    let _quiet = memory_heavy().await;
    expect_limit(
        "const a = []; while (true) a.push({ i: a.length, s: 'x' + a.length });",
        given_tight_limits(),
        Bindings::new(),
        Limit::Memory,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_bomb_by_string_doubling_hits_memory() {
    // Reading a character flattens the rope, so the doubling really allocates.
    expect_limit(
        "let s = 'x'; while (true) { s = s + s; s.charCodeAt(s.length - 1); }",
        given_tight_limits(),
        Bindings::new(),
        Limit::Memory,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_bomb_by_typed_array_hits_memory() {
    expect_limit(
        "new Uint8Array(512 * 1024 * 1024)",
        given_tight_limits(),
        Bindings::new(),
        Limit::Memory,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deep_recursion_hits_stack() {
    expect_limit(
        "function f(n) { return f(n + 1) + 1; } f(0)",
        given_tight_limits(),
        Bindings::new(),
        Limit::Stack,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn caught_stack_overflow_lets_the_code_go_on() {
    let outcome = run_with(
        "function f() { return f(); } try { f(); } catch (e) { return e.name; }",
        given_tight_limits(),
        Bindings::new(),
    )
    .await;
    assert_eq!(outcome.result, Some(json!("RangeError")));
}

#[tokio::test(flavor = "multi_thread")]
async fn catastrophic_regex_hits_cpu() {
    expect_limit(
        "/^(a+)+$/.test('a'.repeat(40) + 'b')",
        given_tight_limits(),
        Bindings::new(),
        Limit::Cpu,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn log_flood_hits_output_and_keeps_a_marker() {
    let outcome = expect_limit(
        "for (let i = 0; ; i++) console.log('line ' + i + ' ' + 'x'.repeat(100));",
        given_tight_limits(),
        Bindings::new(),
        Limit::Output,
    )
    .await;
    let bytes: usize = outcome.logs.iter().map(|l| l.text.len()).sum();
    assert!(
        bytes <= (64 << 10) + 200,
        "logs kept within the cap, got {bytes}"
    );
    assert!(
        outcome
            .logs
            .last()
            .unwrap()
            .text
            .contains("output truncated")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn caught_log_flood_still_ends_the_execution() {
    expect_limit(
        "for (let i = 0; i < 1e6; i++) { try { console.log('x'.repeat(1000)); } catch {} } return 'escaped';",
        given_tight_limits(),
        Bindings::new(),
        Limit::Output,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn huge_result_hits_output() {
    expect_limit(
        "'x'.repeat(1 << 20)",
        given_tight_limits(),
        Bindings::new(),
        Limit::Output,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn promise_flood_ends_in_a_limit() {
    // Millions of promises: memory or CPU ends it, whichever comes first; never the host.
    let outcome = run_with(
        "async () => { const ps = []; while (true) ps.push(new Promise(() => {})); }",
        given_tight_limits(),
        Bindings::new(),
    )
    .await;
    let limit = outcome.error.and_then(|e| e.limit);
    assert!(
        matches!(limit, Some(Limit::Memory | Limit::Cpu)),
        "{limit:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn microtask_flood_ends_in_a_limit() {
    let outcome = run_with(
        "const spin = () => Promise.resolve().then(spin); spin(); await new Promise(() => {});",
        given_tight_limits(),
        Bindings::new(),
    )
    .await;
    let limit = outcome.error.and_then(|e| e.limit);
    assert!(
        matches!(limit, Some(Limit::Memory | Limit::Cpu)),
        "{limit:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn timer_flood_is_refused() {
    let outcome = run_with(
        "for (let i = 0; i < 20000; i++) setTimeout(() => {}, 1e6);",
        given_tight_limits(),
        Bindings::new(),
    )
    .await;
    let error = outcome.error.expect("refused");
    assert!(
        error.message.contains("too many pending timers"),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_host_calls_hit_the_host_call_limit() {
    let bindings = Bindings::new().function("api", "ping", |_| async move { Ok(json!(1)) });
    let outcome = expect_limit(
        "for (let i = 0; i < 10000; i++) await api.ping();",
        Limits {
            host_calls: 1_000,
            ..Limits::default()
        },
        bindings,
        Limit::HostCalls,
    )
    .await;
    assert_eq!(outcome.stats.host_calls, 1_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_caught_host_call_limit_still_ends_the_execution() {
    let bindings = Bindings::new().function("api", "ping", |_| async move { Ok(json!(1)) });
    expect_limit(
        "for (let i = 0; i < 50; i++) { try { await api.ping(); } catch {} } return 'escaped';",
        Limits {
            host_calls: 10,
            ..Limits::default()
        },
        bindings,
        Limit::HostCalls,
    )
    .await;
}

/// 10,000 runaway executions in a row leave resident memory flat: nothing leaks.
#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_runaways_keep_rss_flat() {
    let _quiet = memory_heavy().await;
    let runaways = [
        "while (true) {}",
        "const a = []; while (true) a.push([a.length]);",
        "function f() { return f() + 1; } f()",
        "for (;;) console.log('flood');",
        "await new Promise(() => setTimeout(() => {}, 1e6))",
    ];
    let limits = Limits {
        memory_bytes: 1 << 20,
        cpu_ms: 2,
        wall_ms: 5,
        stack_bytes: 64 << 10,
        output_bytes: 4 << 10,
        host_calls: 10,
    };
    let sandbox = given_sandbox();
    let mut rss_after_warmup = 0;
    for i in 0..10_000 {
        let code = runaways[i % runaways.len()];
        let outcome = sandbox.execute(Execution::new(code).limits(limits)).await;
        assert!(
            outcome.error.as_ref().is_some_and(|e| e.limit.is_some()),
            "{code}: {:?}",
            outcome.error
        );
        if i == 1_000 {
            rss_after_warmup = rss_bytes();
        }
    }
    let growth = rss_bytes().saturating_sub(rss_after_warmup);
    assert!(
        growth < 24 << 20,
        "RSS grew by {} KiB over 9,000 runaway executions",
        growth >> 10
    );
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("procfs");
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<u64>().ok())
        .expect("statm")
        * 4096
}

/// A binding that counts its calls: how much of an execution's code ran.
fn given_ping() -> Bindings {
    Bindings::new().function("api", "ping", |_| async move { Ok(json!(1)) })
}

#[tokio::test(flavor = "multi_thread")]
async fn issue13_queued_jobs_stop_at_the_cpu_limit() {
    // Each job calls the host before spinning: once the first one hits the limit, no other
    // may start (they used to run one after another, each until its own interrupt).
    let queued = [
        "for (let i = 0; i < 2000; i++) queueMicrotask(() => { api.ping(); for (;;) {} }); return 1",
        "for (let i = 0; i < 2000; i++) Promise.resolve().then(() => { api.ping(); for (;;) {} }); return 1",
        "const r = new FinalizationRegistry(() => { api.ping(); for (;;) {} });\
         for (let i = 0; i < 2000; i++) r.register({}, i); return 1",
        "for (let i = 0; i < 2000; i++) (async () => { await 0; api.ping(); for (;;) {} })(); return 1",
    ];
    for code in queued {
        let outcome = expect_limit(
            code,
            Limits {
                host_calls: 10_000,
                ..given_tight_limits()
            },
            given_ping(),
            Limit::Cpu,
        )
        .await;
        assert_eq!(outcome.stats.host_calls, 1, "{code}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn issue13_a_throwing_finalization_callback_fails_the_execution() {
    let outcome = run_with(
        "const r = new FinalizationRegistry(() => { throw new Error('from the callback') });\
         r.register({}, 1); await new Promise((resolve) => setTimeout(resolve, 10)); return 1",
        given_tight_limits(),
        Bindings::new(),
    )
    .await;
    let error = outcome.error.expect("the callback's exception is uncaught");
    assert_eq!(error.message, "from the callback");
}

#[tokio::test(flavor = "multi_thread")]
async fn issue13_another_isolates_finalization_callback_never_runs_in_an_execution() {
    // A session's live isolate holds a registry whose target is cyclic garbage: only the
    // collector frees it, and the collection another execution's allocations trigger then
    // queues the session's callback on the engine they share.
    let sandbox = Sandbox::new(SandboxConfig { threads: 1 }).expect("sandbox");
    let session = sandbox.session();
    let registered = session
        .run(
            Execution::new(
                "globalThis.r = new FinalizationRegistry(() => { api.ping(); for (;;) {} });\
                 let target = {}; target.self = target; r.register(target, 1); target = null;\
                 return () => 'registered';",
            )
            .limits(given_tight_limits())
            .bindings(given_ping()),
            json!({}),
        )
        .await;
    assert_eq!(
        registered.result,
        Some(json!("registered")),
        "{:?}",
        registered.error
    );
    // Allocates until a collection has run (its own cyclic garbage was collected).
    let other = sandbox
        .execute(
            Execution::new(
                "let collected = false;\
                 const mine = new FinalizationRegistry(() => { collected = true; });\
                 let garbage = {}; garbage.self = garbage; mine.register(garbage, 1); garbage = null;\
                 const keep = [];\
                 for (let round = 0; !collected && round < 200; round++) {\
                   for (let i = 0; i < 10000; i++) keep.push({ i });\
                   await null;\
                 }\
                 return collected",
            )
            .limits(Limits {
                memory_bytes: 128 << 20,
                cpu_ms: 3_000,
                wall_ms: 6_000,
                ..given_tight_limits()
            })
            .bindings(given_ping()),
        )
        .await;
    // The callback would spin until the CPU limit.
    assert_eq!(other.error, None);
    assert_eq!(other.result, Some(json!(true)), "no collection ran");
}

#[tokio::test(flavor = "multi_thread")]
async fn issue13_jobs_a_session_run_leaves_never_run_in_its_next_run() {
    let sandbox = Sandbox::new(SandboxConfig { threads: 1 }).expect("sandbox");
    let session = sandbox.session();
    // The result's conversion queues a job after the run's jobs were drained.
    let code = "return (input) => input.queue\
                ? { toJSON() { queueMicrotask(() => api.ping()); return 1; } }\
                : 2;";
    let run = |input: Value| {
        session.run(
            Execution::new(code)
                .limits(given_tight_limits())
                .bindings(given_ping()),
            input,
        )
    };
    let first = run(json!({ "queue": true })).await;
    assert_eq!(first.result, Some(json!(1)), "{:?}", first.error);
    let second = run(json!({})).await;
    assert_eq!(second.result, Some(json!(2)), "{:?}", second.error);
    assert_eq!(
        second.stats.host_calls, 0,
        "the first run's job ran in the second"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issue13_a_terminated_session_run_leaves_nothing_behind() {
    let sandbox = Sandbox::new(SandboxConfig { threads: 1 }).expect("sandbox");
    let session = sandbox.session();
    let code = "return (input) => { if (input.flood) {\
                  for (let i = 0; i < 2000; i++) queueMicrotask(() => { api.ping(); for (;;) {} });\
                } return 'ok'; };";
    let run = |input: Value| {
        session.run(
            Execution::new(code)
                .limits(Limits {
                    host_calls: 10_000,
                    ..given_tight_limits()
                })
                .bindings(given_ping()),
            input,
        )
    };
    let flooded = run(json!({ "flood": true })).await;
    assert_eq!(flooded.error.and_then(|e| e.limit), Some(Limit::Cpu));
    assert_eq!(flooded.stats.host_calls, 1);
    let next = run(json!({})).await;
    assert_eq!(next.result, Some(json!("ok")), "{:?}", next.error);
    assert_eq!(next.stats.host_calls, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn issue13_reading_a_hostile_thrown_value_ends_at_the_limit() {
    let hostile = [
        "const e = new Error('x'); Object.defineProperty(e, 'message', { get() { for (;;) {} } }); throw e",
        "const e = new Error('x'); Object.defineProperty(e, 'name', { get() { for (;;) {} } }); throw e",
        "const e = new Error('x'); Object.defineProperty(e, 'stack', { get() { for (;;) {} } }); throw e",
        "const e = new Error('x'); Object.defineProperty(e, 'code', { get() { for (;;) {} } }); throw e",
        "throw new Proxy(new Error('x'), { get() { for (;;) {} } })",
        "throw new Proxy({}, { getPrototypeOf() { for (;;) {} }, get() { for (;;) {} } })",
        "throw { message: 'x', name: { toString() { for (;;) {} } } }",
        "throw { toJSON() { for (;;) {} } }",
        "throw { toString() { for (;;) {} }, toJSON: undefined, get x() { for (;;) {} } }",
        // Rejections no handler was attached to.
        "const e = new Error('x'); Object.defineProperty(e, 'message', { get() { for (;;) {} } }); Promise.reject(e); return 1",
        "Promise.reject(new Proxy(new Error('x'), { get() { for (;;) {} } })); return 1",
        // Thrown by a timer callback, and by an awaited promise.
        "await new Promise(() => setTimeout(() => { throw { get message() { for (;;) {} } } }, 1))",
        "await Promise.reject({ get message() { for (;;) {} } })",
        // The result's conversion.
        "return { toJSON() { for (;;) {} } }",
        "return { get a() { for (;;) {} } }",
        "return { get a() { throw { get message() { for (;;) {} } } } }",
    ];
    for code in hostile {
        let outcome = tokio::time::timeout(
            Duration::from_secs(20),
            run_with(code, given_tight_limits(), Bindings::new()),
        )
        .await
        .unwrap_or_else(|_| panic!("reading what {code} threw hung"));
        let error = outcome.error.expect("a limit");
        assert_eq!(error.limit, Some(Limit::Cpu), "{code}: {error:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn issue13_long_native_calls_end_at_the_cpu_limit() {
    let _quiet = memory_heavy().await;
    // Built-ins that loop in C without polling the interrupt handler, but allocate as they
    // go. (Those that do not allocate either are documented in ARCHITECTURE.md.)
    let long = [
        "'ab'.repeat(1e7).split('b').length",
        "new Array(1e7).fill('ab').join(',').length",
        "JSON.stringify(new Array(1e7).fill(1234567)).length",
        "(7n ** 300000n).toString().length",
    ];
    for code in long {
        let outcome = expect_limit(
            code,
            Limits {
                memory_bytes: 256 << 20,
                cpu_ms: 100,
                ..Limits::default()
            },
            Bindings::new(),
            Limit::Cpu,
        )
        .await;
        assert!(
            outcome.stats.cpu_us < 1_000_000,
            "{code} ran for {} ms",
            outcome.stats.cpu_us / 1000
        );
    }
}

/// A host function with nothing to wait for answers inline, on the isolate's thread: its
/// time is the host's, not the guest's CPU time, but it does count against the wall limit.
#[tokio::test(flavor = "multi_thread")]
async fn host_time_answered_inline_is_not_the_guests_cpu_time() {
    let slow = || {
        Bindings::new().function("host", "slow", |_| async move {
            // Synchronous work, done at the first poll.
            std::thread::sleep(Duration::from_millis(120));
            Ok(json!(1))
        })
    };
    let code = "async () => { let n = 0; for (let i = 0; i < 3; i++) n += await host.slow({}); return n; }";
    let limits = Limits {
        cpu_ms: 100,
        wall_ms: 10_000,
        ..Limits::default()
    };
    let outcome = run_with(code, limits, slow()).await;
    assert_eq!(outcome.error, None, "{outcome:?}");
    assert_eq!(outcome.result, Some(json!(3)));
    assert!(
        outcome.stats.cpu_us < 100_000,
        "host time was charged to the guest: {outcome:?}"
    );
    // A guest that spins after such calls still stops at its CPU limit.
    let spin = "async () => { await host.slow({}); for (;;) {} }";
    expect_limit(spin, limits, slow(), Limit::Cpu).await;
    // The wall limit counts host time.
    let tight = Limits {
        cpu_ms: 100,
        wall_ms: 200,
        ..Limits::default()
    };
    expect_limit(code, tight, slow(), Limit::Wall).await;
}
