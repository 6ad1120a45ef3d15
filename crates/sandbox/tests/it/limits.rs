//! The adversarial corpus: every runaway ends in the right named error, and the host is
//! never harmed (no panic, no hang, no leak).

use crate::support::{given_sandbox, given_tight_limits, memory_heavy, run_with};
use sandbox::{Bindings, Execution, Limit, Limits, Outcome};
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
