//! `islet run` and `islet bench isolate`, as a user calls them.

use crate::support::*;

use std::net::SocketAddr;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::response::IntoResponse as _;
use axum::routing::get;
use serde_json::{Value, json};

fn islet(args: &[&str], stdin: &str) -> Output {
    islet_with_env(args, stdin, &[])
}

#[test]
fn issue_2_acceptance_typescript_snippet() {
    let out = islet(
        &["run", "-"],
        "async () => { const r: number[] = [1,2,3]; console.log(\"hi\"); return r.map(x => x * 2) }",
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "[2,4,6]");
    assert_eq!(text(&out.stderr).trim(), "hi");
}

#[test]
fn issue_2_acceptance_cpu_limit() {
    let started = Instant::now();
    let out = islet(&["run", "--cpu-ms", "100", "-"], "while(true){}");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("CPU time limit of 100 ms"), "{stderr}");
    // The target is 0.5 s; this bound only catches a hang on a loaded CI machine.
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn json_outcome_has_result_logs_and_stats() {
    let out = islet(&["run", "--json", "-"], "console.warn('careful'); 40 + 2");
    assert!(out.status.success());
    let outcome: Value = serde_json::from_slice(&out.stdout).expect("json on stdout");
    assert_eq!(outcome["result"], 42);
    assert_eq!(outcome["logs"][0]["level"], "warn");
    assert_eq!(outcome["logs"][0]["text"], "careful");
    assert!(outcome["stats"]["wall_us"].as_u64().is_some());
}

#[test]
fn syntax_errors_point_into_the_code_as_sent() {
    let out = islet(&["run", "-"], "```ts\nconst a = 1;\nconst b = ;\n```");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("SyntaxError"), "{stderr}");
    assert!(stderr.contains("line 3"), "{stderr}");
}

#[test]
fn reads_code_from_a_file() {
    let dir = std::env::temp_dir().join(format!("islet-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("hello.ts");
    std::fs::write(
        &file,
        "const greet = (n: string): string => `hello ${n}`;\ngreet('world')",
    )
    .expect("write");
    let out = islet(&["run", file.to_str().expect("utf-8 path")], "");
    assert_eq!(text(&out.stdout).trim(), "\"hello world\"");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_missing_file_is_a_usage_error() {
    let out = islet(&["run", "/nonexistent/code.ts"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("reading /nonexistent/code.ts"));
}

#[test]
fn bench_isolate_prints_the_figures() {
    let out = islet(
        &[
            "bench",
            "isolate",
            "--samples",
            "50",
            "--hold",
            "50",
            "--executions",
            "640",
        ],
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    for key in [
        "latency_us",
        "memory_per_isolate_bytes",
        "executions_per_sec",
        "loop_1e7_ms",
    ] {
        assert!(report.get(key).is_some(), "missing {key} in {report}");
    }
    assert!(
        report["latency_us"]["p50"]
            .as_f64()
            .is_some_and(|p| p > 0.0)
    );
    assert!(
        report["machine"]
            .as_str()
            .is_some_and(|m| m.contains("cores"))
    );
}

#[test]
fn bench_sessions_prints_the_figures() {
    let out = islet(
        &[
            "bench",
            "sessions",
            "--messages",
            "100",
            "--other-sessions",
            "1",
            "--samples",
            "3",
        ],
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    for key in ["history", "search_session", "search_all", "append", "fork"] {
        assert!(
            report[key]["p50_ms"].as_f64().is_some_and(|p| p > 0.0),
            "missing {key} in {report}"
        );
    }
    assert!(
        report["history"]["what"]
            .as_str()
            .is_some_and(|w| w.contains("100-message"))
    );
}

const FETCH_SECRET: &str = "fetch-cli-SECRET-31415926";

/// A local HTTP server on its own runtime thread: `/hello` answers JSON, `/echo` echoes
/// the request's Authorization header (as careless APIs do) and records it.
fn given_fetch_server() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let state = seen.clone();
    let app = Router::new()
        .route(
            "/hello",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    r#"{"hello":"world"}"#,
                )
            }),
        )
        .route(
            "/echo",
            get(
                |State(seen): State<Arc<Mutex<Vec<String>>>>, request: Request| async move {
                    let auth = record_authorization(&seen, &request);
                    json!({ "authorization": auth }).to_string().into_response()
                },
            ),
        )
        .with_state(state);
    (serve_on_own_thread(app), seen)
}

const FETCH_CODE: &str = "
const hello = await (await fetch(`${BASE}/hello`)).json();
const echo = await (await fetch(`${BASE}/echo`)).text();
return { hello, echo };";

#[test]
fn run_offers_fetch_with_allow_fetch_and_injects_headers_the_code_never_sees() {
    let (addr, seen) = given_fetch_server();
    let code = format!("const BASE = 'http://{addr}';\n{FETCH_CODE}");
    let allow = addr.to_string();
    let header = format!("{addr}:Authorization=Bearer ${{FETCH_TEST_TOKEN}}");
    for isolation in ["inprocess", "process"] {
        let out = islet_with_env(
            &[
                "run",
                "--json",
                "--isolation",
                isolation,
                "--allow-fetch",
                &allow,
                "--allow-private-fetch",
                "--fetch-header",
                &header,
                "-",
            ],
            &code,
            &[("FETCH_TEST_TOKEN", FETCH_SECRET)],
        );
        let stdout = text(&out.stdout);
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{isolation}: {stdout}\n{stderr}");
        let outcome: Value = serde_json::from_str(&stdout).expect("JSON outcome");
        assert_eq!(outcome["result"]["hello"], json!({ "hello": "world" }));
        // The server got the credential; the code saw it scrubbed.
        assert_eq!(
            outcome["result"]["echo"],
            json!({ "authorization": "[REDACTED]" }).to_string(),
            "{isolation}"
        );
        assert!(
            !stdout.contains(FETCH_SECRET) && !stderr.contains(FETCH_SECRET),
            "{isolation}: the secret leaked"
        );
    }
    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(seen, vec![format!("Bearer {FETCH_SECRET}"); 2]);
}

#[test]
fn without_allow_fetch_there_is_no_fetch_and_loopback_needs_allow_private_fetch() {
    let (addr, _) = given_fetch_server();
    let out = islet(
        &["run", "-"],
        "[typeof fetch, typeof Request, typeof Response, typeof Headers]",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        r#"["undefined","undefined","undefined","undefined"]"#
    );

    let call = format!("await fetch('http://{addr}/hello')");
    let out = islet(&["run", "-"], &call);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("ReferenceError"), "{stderr}");
    assert!(stderr.contains("--allow-fetch"), "{stderr}");

    // Allowed, but loopback is refused unless --allow-private-fetch says otherwise.
    let out = islet(
        &["run", "--allow-fetch", &addr.to_string(), "-"],
        &format!("try {{ {call} }} catch (e) {{ return [e.name, e.code, e.message] }}"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let refusal: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(refusal[1], "PRIVATE_ADDRESS", "{refusal}");
    assert!(
        refusal[2]
            .as_str()
            .is_some_and(|m| m.contains("127.0.0.1 is a loopback address")),
        "{refusal}"
    );

    // Another host than the one allowed is refused by name.
    let out = islet(
        &["run", "--allow-fetch", "GET:api.example.com", "-"],
        "try { await fetch('https://other.example.net/') } catch (e) { return [e.code, e.message] }",
    );
    let refusal: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(refusal[0], "HOST_NOT_ALLOWED", "{refusal}");
    assert!(
        refusal[1]
            .as_str()
            .is_some_and(|m| m.contains("allowed hosts: api.example.com (GET)")),
        "{refusal}"
    );
}

#[test]
fn fetch_flags_are_checked_before_running() {
    for (args, expected) in [
        (
            vec!["--fetch-header", "api.example.com:X-Key=${K}"],
            "--fetch-header needs --allow-fetch",
        ),
        (
            vec!["--allow-private-fetch"],
            "--allow-private-fetch needs --allow-fetch",
        ),
        (
            vec!["--allow-fetch", "exa mple.com"],
            "is not a host pattern",
        ),
        (
            vec![
                "--allow-fetch",
                "api.example.com",
                "--fetch-header",
                "api.example.com:X-Key=literal-secret",
            ],
            "must come from an environment variable",
        ),
        (
            vec![
                "--allow-fetch",
                "api.example.com",
                "--fetch-header",
                "api.example.com:X-Key=${ISLET_TEST_UNSET_VARIABLE}",
            ],
            "`ISLET_TEST_UNSET_VARIABLE` is not set",
        ),
    ] {
        let mut full = vec!["run"];
        full.extend(args.iter().copied());
        full.push("-");
        let out = islet(&full, "1");
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("literal-secret"), "{stderr}");
    }
}

#[test]
fn issue13_loopback_refusal_names_allow_private_fetch() {
    let (addr, _) = given_fetch_server();
    let out = islet(
        &["run", "--allow-fetch", &addr.to_string(), "-"],
        &format!(
            "try {{ await fetch('http://{addr}/hello') }} catch (e) {{ return [e.code, e.message] }}"
        ),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let refusal: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(refusal[0], "PRIVATE_ADDRESS", "{refusal}");
    // The CLI's own way out, not the library's field name.
    let message = refusal[1].as_str().unwrap_or_default();
    assert!(
        message.contains("run islet with --allow-private-fetch to allow them"),
        "{message}"
    );
    assert!(!message.contains("FetchPolicy"), "{message}");
}

#[test]
fn issue17_run_imports_npm_packages_in_a_worker_process() {
    let cache = tempfile::tempdir().unwrap();
    let cache_arg = cache.path().to_str().unwrap();
    // The bundle travels with the execution to the OS-sandboxed worker, which has no
    // filesystem; a refused import is an NpmError outcome, and no flag, a hint.
    let out = islet(
        &[
            "run",
            "--allow-npm",
            "--npm-cache",
            cache_arg,
            "--isolation",
            "process",
            "-",
        ],
        "import ms from \"ms\";\nimport { createHash } from \"node:crypto\";\n[ms(\"1h\"), createHash(\"sha1\").update(\"abc\").digest(\"hex\").slice(0, 8)]",
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "[3600000,\"a9993e36\"]");
    let out = islet(
        &[
            "run",
            "--allow-npm",
            "--npm-cache",
            cache_arg,
            "--npm-allow",
            "zod",
            "-",
        ],
        "import ms from \"ms\"; ms(\"1h\")",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("NpmError: package `ms` is not allowed here"),
        "{}",
        text(&out.stderr)
    );
    let out = islet(&["run", "-"], "import ms from \"ms\"; ms(\"1h\")");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--allow-npm"),
        "{}",
        text(&out.stderr)
    );
}
