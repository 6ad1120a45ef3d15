//! Issue 13's limit escapes, reproduced as a user runs them: `islet run` in both isolation
//! modes must end at the limit, whatever the code queued or threw.

use crate::support::text;

use serde_json::Value;
use std::io::{Read as _, Write as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ISOLATIONS: [&str; 2] = ["inprocess", "process"];

/// Longer than any limit here plus a worker's grace period: past it, islet hangs.
const HANG: Duration = Duration::from_secs(30);

struct Ran {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `islet run ARGS -` with `code` on stdin, killing it (and failing) if it hangs.
fn run(args: &[&str], code: &str) -> Ran {
    let mut child = Command::new(env!("CARGO_BIN_EXE_islet"))
        .arg("run")
        .args(args)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("islet starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(code.as_bytes())
        .expect("write stdin");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > HANG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`islet run {args:?}` hung on {code}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_end(&mut stdout)
        .expect("read");
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_end(&mut stderr)
        .expect("read");
    Ran {
        status: status.code(),
        stdout: text(&stdout),
        stderr: text(&stderr),
    }
}

/// The `--json` outcome of a run that must have failed with `limit`; returns its stats.
fn expect_limit(ran: &Ran, limit: &str, what: &str) -> Value {
    assert_eq!(
        ran.status,
        Some(1),
        "{what}: {}\n{}",
        ran.stdout,
        ran.stderr
    );
    let outcome: Value = serde_json::from_str(ran.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "{what}: no JSON outcome ({e}): {}\n{}",
            ran.stdout, ran.stderr
        )
    });
    assert_eq!(outcome["error"]["limit"], limit, "{what}: {outcome}");
    outcome["stats"].clone()
}

/// CPU time the run charged, in ms. It is measured as time spent running JavaScript, the
/// same clock the limit is enforced on; before the fix the queued jobs ran for seconds.
fn cpu_ms(stats: &Value) -> u64 {
    stats["cpu_us"].as_u64().expect("cpu_us") / 1000
}

#[test]
fn issue13_queued_jobs_stop_at_the_cpu_limit() {
    let cases = [
        (
            "FinalizationRegistry callbacks",
            "const r=new FinalizationRegistry(()=>{for(;;){}});for(let i=0;i<2e5;i++)r.register({},i);return 1",
            &["--cpu-ms", "500", "--wall-ms", "2000"][..],
        ),
        (
            "queued microtasks",
            "for(let i=0;i<5e4;i++)queueMicrotask(()=>{for(;;){}});return 1",
            &["--cpu-ms", "500"][..],
        ),
    ];
    for isolation in ISOLATIONS {
        for (what, code, limits) in cases {
            let what = format!("{what} ({isolation})");
            let mut args = vec!["--json", "--isolation", isolation];
            args.extend_from_slice(limits);
            let stats = expect_limit(&run(&args, code), "cpu", &what);
            assert!(cpu_ms(&stats) < 1_500, "{what} ran on: {stats}");
        }
    }
}

#[test]
fn issue13_reading_a_hostile_error_ends_at_the_limit() {
    let cases = [
        (
            "a message getter",
            r#"const e=new Error("x");Object.defineProperty(e,"message",{get(){for(;;){}}});throw e"#,
        ),
        (
            "a name getter",
            r#"const e=new Error("x");Object.defineProperty(e,"name",{get(){for(;;){}}});throw e"#,
        ),
        (
            "a stack getter",
            r#"const e=new Error("x");Object.defineProperty(e,"stack",{get(){for(;;){}}});throw e"#,
        ),
        (
            "a Proxy-wrapped error",
            r#"throw new Proxy(new Error("x"),{get(){for(;;){}}})"#,
        ),
        (
            "an unhandled rejection",
            r#"const e=new Error("x");Object.defineProperty(e,"message",{get(){for(;;){}}});Promise.reject(e);return 1"#,
        ),
        ("a result's toJSON", "return {toJSON(){for(;;){}}}"),
    ];
    for isolation in ISOLATIONS {
        for (what, code) in cases {
            let what = format!("{what} ({isolation})");
            let ran = run(
                &["--json", "--wall-ms", "2000", "--isolation", isolation],
                code,
            );
            expect_limit(&ran, "wall", &what);
        }
    }
}

#[test]
fn issue13_long_native_calls_end_at_the_cpu_limit() {
    for isolation in ISOLATIONS {
        let ran = run(
            &["--json", "--cpu-ms", "100", "--isolation", isolation],
            // Converting a 250,000-digit BigInt to text: seconds of C without an interrupt
            // check, but with an allocation per step.
            "(7n ** 300000n).toString().length",
        );
        let stats = expect_limit(&ran, "cpu", isolation);
        assert!(cpu_ms(&stats) < 1_000, "{isolation}: {stats}");
    }
}
