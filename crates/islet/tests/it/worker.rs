//! Process isolation: executions in `islet worker` processes, and what happens when a
//! worker dies.

use sandbox::process::WorkerConfig;
use sandbox::{Bindings, Execution, Limits, Sandbox};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn given_workers(workers: usize) -> Sandbox {
    let mut config = WorkerConfig::new(env!("CARGO_BIN_EXE_islet"), vec!["worker".to_owned()]);
    config.workers = workers;
    config.grace = Duration::from_secs(1);
    Sandbox::with_workers(config).expect("workers start")
}

fn kill_9(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -9 {pid}");
}

#[tokio::test(flavor = "multi_thread")]
async fn executions_and_host_calls_cross_the_process_boundary() {
    let sandbox = given_workers(2);
    assert_eq!(sandbox.worker_pids().len(), 2);
    let bindings = Bindings::new().function("api", "double", |x| async move {
        Ok(json!(x.as_i64().unwrap_or(0) * 2))
    });
    let outcome = sandbox
        .execute(
            Execution::new(
                "const xs: number[] = await Promise.all([1, 2, 3].map((x) => api.double(x))); console.log('sum'); return xs;",
            )
            .bindings(bindings),
        )
        .await;
    assert_eq!(outcome.error, None);
    assert_eq!(outcome.result, Some(json!([2, 4, 6])));
    assert_eq!(outcome.logs[0].text, "sum");
    assert_eq!(outcome.stats.host_calls, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn workers_start_with_an_empty_environment() {
    // The test process has PATH, HOME, CARGO_* and more; none of it may reach a worker.
    assert!(std::env::vars_os().next().is_some());
    let sandbox = given_workers(1);
    for pid in sandbox.worker_pids() {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("procfs");
        assert!(
            environ.is_empty(),
            "worker {pid} has an environment: {:?}",
            String::from_utf8_lossy(&environ)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_execution_fails_only_that_execution_and_the_worker_is_replaced() {
    let sandbox = Arc::new(given_workers(1));
    let pid = sandbox.worker_pids()[0];
    let running = {
        let sandbox = sandbox.clone();
        tokio::spawn(async move {
            sandbox
                .execute(Execution::new(
                    "await new Promise((r) => setTimeout(r, 10_000))",
                ))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    kill_9(pid);
    let outcome = tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the execution ends, it does not hang")
        .expect("task");
    let error = outcome.error.expect("the execution failed");
    assert_eq!(error.name, "SandboxError");
    assert!(
        error.message.contains("killed by SIGKILL"),
        "{}",
        error.message
    );
    let next = sandbox.execute(Execution::new("1 + 1")).await;
    assert_eq!(next.result, Some(json!(2)));
    assert_ne!(sandbox.worker_pids(), vec![pid], "a new worker took over");
    // What /metrics reports (issue 22, item 2): the replacement, and both executions.
    let stats = sandbox.stats();
    assert_eq!(stats.worker_restarts, 1, "{stats:?}");
    assert_eq!((stats.executions, stats.failed), (2, 1), "{stats:?}");
    // A readiness probe runs code but is not counted.
    sandbox.probe(Duration::from_secs(5)).await.unwrap();
    assert_eq!(sandbox.stats().executions, 2);
}

/// A prelude is sent to a worker once and named by id afterwards: many executions at once
/// all get it, and a worker that replaced a killed one is sent it again.
#[tokio::test(flavor = "multi_thread")]
async fn a_prelude_reaches_every_execution_also_after_its_worker_is_replaced() {
    let sandbox = Arc::new(given_workers(1));
    let prelude = "globalThis.greet = (name) => `hello ${name}`;";
    let run = |i: usize| {
        let sandbox = sandbox.clone();
        async move {
            sandbox
                .execute(Execution::new(format!("greet('{i}')")).prelude(prelude))
                .await
        }
    };
    let outcomes = futures::future::join_all((0..50).map(run)).await;
    for (i, outcome) in outcomes.into_iter().enumerate() {
        assert_eq!(
            outcome.result,
            Some(json!(format!("hello {i}"))),
            "{outcome:?}"
        );
    }
    let pid = sandbox.worker_pids()[0];
    kill_9(pid);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let outcome = run(7).await;
        if outcome.error.is_none() {
            assert_eq!(outcome.result, Some(json!("hello 7")));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{:?}", outcome.error);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_ne!(sandbox.worker_pids(), vec![pid]);
}

/// Issue 17: a preload (an npm bundle and its imports) is sent to a worker once, like a
/// prelude, and the worker evaluates it ahead of the next execution that brings it (its
/// peak memory then leaves out the 1 MiB the preload holds); after a kill -9 the new worker
/// is sent it again.
#[tokio::test(flavor = "multi_thread")]
async fn issue17_a_preload_is_evaluated_ahead_in_a_worker_and_resent_after_a_kill_9() {
    let mut config = WorkerConfig::new(env!("CARGO_BIN_EXE_islet"), vec!["worker".to_owned()]);
    config.workers = 1;
    config.executors_per_worker = 1;
    config.grace = Duration::from_secs(1);
    let sandbox = Sandbox::with_workers(config).expect("workers start");
    let preload = sandbox::Preload {
        module: "globalThis.held = 'x'.repeat(1 << 20);".into(),
        script: Some("globalThis.evaluated = (globalThis.evaluated || 0) + 1;".into()),
    };
    let run = || {
        sandbox.execute(Execution::new("return [held.length, evaluated]").preload(preload.clone()))
    };
    let peaks = |n: usize| async move {
        let mut peaks = Vec::new();
        for _ in 0..n {
            let outcome = run().await;
            assert_eq!(outcome.result, Some(json!([1 << 20, 1])), "{outcome:?}");
            peaks.push(outcome.stats.memory_bytes >= 1 << 20);
        }
        peaks
    };
    assert_eq!(
        peaks(3).await,
        [true, false, false],
        "evaluated itself, then ahead"
    );
    kill_9(sandbox.worker_pids()[0]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while run().await.error.is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker was not replaced"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        peaks(2).await,
        [false, false],
        "the new worker warms up too"
    );
}

/// Regression (session 3): a session's run awaited by code that occupies the only executor
/// of the session's home worker moves to a free worker instead of waiting for the wall
/// limit. Ten rounds: the code lands on the session's home in about half of them.
#[tokio::test(flavor = "multi_thread")]
async fn a_session_run_awaited_by_code_in_its_home_worker_moves_to_a_free_one() {
    let mut config = WorkerConfig::new(env!("CARGO_BIN_EXE_islet"), vec!["worker".to_owned()]);
    config.workers = 2;
    config.executors_per_worker = 1;
    let sandbox = Arc::new(Sandbox::with_workers(config).expect("workers start"));
    let limits = Limits {
        wall_ms: 5_000,
        ..Limits::default()
    };
    let code = "let n = 0;\nreturn () => ++n;";
    for round in 0..10 {
        let session = Arc::new(sandbox.session());
        let first = session
            .run(Execution::new(code).limits(limits), json!(null))
            .await;
        assert_eq!(first.result, Some(json!(1)), "round {round}: {first:?}");
        let bindings = Bindings::new().function("agent", "bump", {
            let session = session.clone();
            move |_| {
                let session = session.clone();
                async move {
                    let outcome = session
                        .run(Execution::new(code).limits(limits), json!(null))
                        .await;
                    Ok(outcome.result.unwrap_or(serde_json::Value::Null))
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

/// A session's runs keep one isolate in one worker; when that worker dies, the session's
/// next run starts over in the worker that replaced it.
#[tokio::test(flavor = "multi_thread")]
async fn a_session_keeps_its_isolate_in_a_worker_and_starts_over_after_a_kill_9() {
    // One executor per worker: the session's runs can only go to its home thread.
    let mut config = WorkerConfig::new(env!("CARGO_BIN_EXE_islet"), vec!["worker".to_owned()]);
    config.workers = 2;
    config.executors_per_worker = 1;
    let sandbox = Sandbox::with_workers(config).expect("workers start");
    let session = sandbox.session();
    let code =
        "let n = 0;\nreturn async (input) => { n += input.by; return [n, await api.echo(n)]; };";
    let bindings = Bindings::new().function("api", "echo", |x| async move { Ok(x) });
    let run = |by: i64| {
        session.run(
            Execution::new(code).bindings(bindings.clone()),
            json!({ "by": by }),
        )
    };
    assert_eq!(run(1).await.result, Some(json!([1, 1])));
    assert_eq!(run(2).await.result, Some(json!([3, 3])));
    let before = sandbox.worker_pids();
    for pid in &before {
        kill_9(*pid);
    }
    // The supervisor notices each exit on its reader thread.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let outcome = run(5).await;
        if outcome.error.is_none() {
            assert_eq!(outcome.result, Some(json!([5, 5])), "a fresh isolate");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{:?}", outcome.error);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(run(1).await.result, Some(json!([6, 6])));
    assert!(
        sandbox
            .worker_pids()
            .iter()
            .all(|pid| !before.contains(pid))
    );
}

/// 1,000 executions with a worker killed every 100: every execution ends with a result or
/// a clear error, none hangs.
#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_executions_with_a_crash_every_hundred() {
    let sandbox = Arc::new(given_workers(2));
    let bindings = Bindings::new().function("api", "echo", |x| async move { Ok(x) });
    let limits = Limits {
        wall_ms: 5_000,
        ..Limits::default()
    };
    let mut ok = 0;
    let mut failed = 0;
    for batch in 0..10 {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..100 {
            let sandbox = sandbox.clone();
            let execution = Execution::new(format!(
                "await new Promise((r) => setTimeout(r, {})); return await api.echo({i});",
                i % 7
            ))
            .bindings(bindings.clone())
            .limits(limits);
            tasks.spawn(async move { sandbox.execute(execution).await });
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        if let Some(pid) = sandbox.worker_pids().get(batch % 2) {
            kill_9(*pid);
        }
        let results = tokio::time::timeout(Duration::from_secs(60), async {
            let mut outcomes = Vec::new();
            while let Some(outcome) = tasks.join_next().await {
                outcomes.push(outcome.expect("task"));
            }
            outcomes
        })
        .await
        .expect("no execution hangs");
        for outcome in results {
            match (outcome.result, outcome.error) {
                (Some(_), None) => ok += 1,
                (None, Some(error)) => {
                    assert_eq!(error.name, "SandboxError", "{error:?}");
                    assert!(error.message.contains("worker"), "{}", error.message);
                    failed += 1;
                }
                other => panic!("neither a result nor a clear error: {other:?}"),
            }
        }
    }
    assert_eq!(ok + failed, 1_000);
    assert!(failed > 0, "the crashes failed some executions");
    assert!(ok > 500, "most executions succeed: {ok}");
}

/// More executions than a worker has executors, each awaiting host calls that answer
/// later (and some that answer at once), beside one spinning on the CPU: every host result
/// must still reach its execution while all executors are busy, and queued executions
/// start as executors free up.
#[tokio::test(flavor = "multi_thread")]
async fn a_saturated_worker_still_delivers_every_host_result() {
    for executors in [1, 2] {
        saturate(executors).await;
    }
}

async fn saturate(executors: usize) {
    let mut config = WorkerConfig::new(env!("CARGO_BIN_EXE_islet"), vec!["worker".to_owned()]);
    config.workers = 1;
    config.executors_per_worker = executors;
    let sandbox = Arc::new(Sandbox::with_workers(config).expect("workers start"));
    let bindings = Bindings::new()
        .function("api", "later", |x| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(json!(x.as_i64().unwrap_or(0) + 1))
        })
        .function("api", "now", |x| async move {
            Ok(json!(x.as_i64().unwrap_or(0) + 1))
        });
    let mut runs = Vec::new();
    for i in 0..8 {
        let sandbox = sandbox.clone();
        let code = if i == 0 {
            "let t = Date.now(); while (Date.now() - t < 200) {} return 'spun';".to_owned()
        } else {
            "let x = 0; for (let i = 0; i < 5; i++) { x = await api.later(x); x = await api.now(x); } return x;"
                .to_owned()
        };
        let bindings = bindings.clone();
        runs.push(tokio::spawn(async move {
            sandbox
                .execute(Execution::new(code).bindings(bindings))
                .await
        }));
    }
    for (i, run) in runs.into_iter().enumerate() {
        let outcome = tokio::time::timeout(Duration::from_secs(30), run)
            .await
            .expect("no execution hangs")
            .expect("task");
        assert_eq!(outcome.error, None, "{executors} executors, execution {i}");
        let expected = if i == 0 { json!("spun") } else { json!(10) };
        assert_eq!(
            outcome.result,
            Some(expected),
            "{executors} executors, execution {i}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
// Host functions answer with `HostError` by the bindings' contract.
#[allow(clippy::result_large_err)]
async fn issue13_4_blocking_host_calls_cross_the_process_boundary() {
    let sandbox = given_workers(1);
    let bindings = Bindings::new()
        .blocking_function("table", "lookup", |key| Ok(json!([key, "looked up"])))
        .function("api", "echo", |x| async move { Ok(x) });
    // The async call is answered first, while the blocking call waits: both arrive.
    let outcome = sandbox
        .execute(
            Execution::new(
                "const later = api.echo(1); const o = { get v() { return table.lookup('k') } }; return [o.v, await later];",
            )
            .bindings(bindings),
        )
        .await;
    assert_eq!(outcome.error, None);
    assert_eq!(outcome.result, Some(json!([["k", "looked up"], 1])));
    assert_eq!(outcome.stats.host_calls, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn issue13_4_search_code_reads_details_in_one_pass_in_a_worker() {
    let doc = json!({
        "openapi": "3.0.3",
        "info": { "title": "Pets", "version": "1" },
        "paths": { "/pets/{petId}": {
            "parameters": [{ "name": "petId", "in": "path", "required": true, "schema": { "type": "string" } }],
            "get": { "operationId": "getPet", "summary": "Get a pet",
                "responses": { "200": { "description": "a pet" } } } } }
    });
    let spec = codemode::openapi::parse(doc.to_string().as_bytes(), "pets.json").expect("spec");
    let mut config = WorkerConfig::new(env!("CARGO_BIN_EXE_islet"), vec!["worker".to_owned()]);
    config.workers = 1;
    let options = codemode::mcp::ServerOptions {
        workers: Some(config),
        ..codemode::mcp::ServerOptions::default()
    };
    let server = codemode::mcp::CodeModeServer::new(
        codemode::openapi::catalog(&spec),
        Bindings::new(),
        Some(Arc::new(spec)),
        options,
    )
    .expect("server");
    let mut arguments = serde_json::Map::new();
    arguments.insert(
        "code".into(),
        json!("async () => { globalThis.runs = (globalThis.runs ?? 0) + 1; const item = spec.paths['/pets/{petId}']; return [globalThis.runs, item.parameters[0].name, Object.keys(item.get.responses)]; }"),
    );
    let result = server.call("search", &arguments).await.expect("a result");
    let text: String = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect();
    assert_ne!(result.is_error, Some(true), "{text}");
    let outcome: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(outcome["result"], json!([1, "petId", ["200"]]), "{outcome}");
}
