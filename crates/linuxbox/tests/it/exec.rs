//! Commands: results, input, environment, streaming, output caps, timeouts.

use std::time::Duration;

use linuxbox::{ExecOptions, LimitHit, Limits, StreamEvent};

use crate::support::{given_sandbox, given_sandbox_with};

#[tokio::test]
async fn issue18_exec_returns_exit_code_stdout_and_stderr() {
    let given = given_sandbox().await;
    let result = given.sh("echo out; echo err >&2; exit 3").await;
    assert_eq!(result.exit_code, Some(3));
    assert_eq!(result.stdout, "out\n");
    assert_eq!(result.stderr, "err\n");
    assert!(!result.success());
    assert_eq!(result.limit, None);
}

#[tokio::test]
async fn issue18_exec_takes_cwd_env_and_stdin() {
    let given = given_sandbox().await;
    let result = given
        .sandbox
        .exec(
            "mkdir -p /tmp/w && cd /tmp/w && pwd; echo \"$GREETING\"; cat",
            ExecOptions {
                env: vec![("GREETING".into(), "hello".into())],
                stdin: Some(b"from stdin".to_vec()),
                cwd: Some("/tmp".into()),
                ..ExecOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(result.stdout, "/tmp/w\nhello\nfrom stdin", "{result:?}");
    let pwd = given.sh("pwd").await;
    assert_eq!(pwd.stdout, "/workspace\n");
}

#[tokio::test]
async fn issue18_commands_see_only_the_configured_environment() {
    let given = given_sandbox().await;
    let result = given.sh("env | sort").await;
    let names: Vec<&str> = result
        .stdout
        .lines()
        .filter_map(|l| l.split('=').next())
        .collect();
    // `PWD` is the shell's own.
    assert_eq!(
        names,
        ["HOME", "LANG", "PATH", "PWD", "PYTHONDONTWRITEBYTECODE"],
        "{}",
        result.stdout
    );
}

#[tokio::test]
async fn issue18_a_missing_program_is_a_spawn_error_that_names_it() {
    let given = given_sandbox().await;
    let error = given
        .sandbox
        .exec_argv(&["no-such-program"], ExecOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "SPAWN_FAILED");
    assert!(error.to_string().contains("no-such-program"), "{error}");
    // The sandbox still works.
    assert!(given.sh("true").await.success());
}

#[tokio::test]
async fn issue18_exec_stream_delivers_output_before_the_command_ends() {
    let given = given_sandbox().await;
    let mut stream = given
        .sandbox
        .exec_stream("echo first; sleep 0.3; echo second", ExecOptions::default())
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_millis(250), stream.next())
        .await
        .expect("the first line arrives before the sleep ends");
    assert_eq!(first, Some(StreamEvent::Stdout(b"first\n".to_vec())));
    assert_eq!(
        stream.next().await,
        Some(StreamEvent::Stdout(b"second\n".to_vec()))
    );
    match stream.next().await {
        Some(StreamEvent::Exit(exit)) => assert_eq!(exit.exit_code, Some(0)),
        other => panic!("expected the exit, got {other:?}"),
    }
    assert_eq!(stream.next().await, None);
}

#[tokio::test]
async fn issue18_output_past_the_cap_is_dropped_and_flagged() {
    let given = given_sandbox_with(Limits {
        output_bytes: 1000,
        ..Limits::default()
    })
    .await;
    let result = given.sh("head -c 5000 /dev/zero | tr '\\0' x").await;
    assert!(result.success());
    assert_eq!(result.stdout.len(), 1000);
    assert!(result.stdout_truncated);
    assert!(!result.stderr_truncated);
}

#[tokio::test]
async fn issue18_a_command_ignoring_sigterm_is_killed_at_the_timeout() {
    let given = given_sandbox_with(Limits {
        kill_grace: Duration::from_millis(200),
        ..Limits::default()
    })
    .await;
    let result = given
        .sandbox
        .exec(
            "trap '' TERM; echo started; sleep 30",
            ExecOptions {
                timeout: Some(Duration::from_millis(300)),
                ..ExecOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(result.limit, Some(LimitHit::Timeout), "{result:?}");
    assert_eq!(
        result.signal,
        Some(9),
        "SIGTERM was ignored, so SIGKILL: {result:?}"
    );
    assert_eq!(result.stdout, "started\n");
    assert!(result.duration_ms < 5_000, "{result:?}");
}

#[tokio::test]
async fn issue18_a_timeout_kills_the_whole_process_tree() {
    let given = given_sandbox().await;
    let result = given
        .sandbox
        .exec(
            "sleep 654.5 & sleep 654.5 & wait",
            ExecOptions {
                timeout: Some(Duration::from_millis(300)),
                ..ExecOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(result.limit, Some(LimitHit::Timeout));
    let left = given
        .sh("ps -eo args | grep -c '^sleep 654.5' || true")
        .await;
    assert_eq!(left.stdout.trim(), "0", "{left:?}");
}

#[tokio::test]
async fn issue18_run_code_runs_python_and_shell() {
    let given = given_sandbox().await;
    let python = given
        .sandbox
        .run_code(
            "python",
            "import sys\nprint(sum(range(10)), sys.version_info[0])",
            ExecOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(python.stdout, "45 3\n", "{python:?}");
    assert_eq!(python.value, None, "print() returns None: no value");
    // The last line's value, as a notebook shows it; not JSON data: its repr.
    let value = given
        .sandbox
        .run_code(
            "python",
            "import sys\nrows = [{'region': 'north', 'total': 12.5}]\nprint('computing', file=sys.stderr)\nrows",
            ExecOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        value.value,
        Some(serde_json::json!([{"region": "north", "total": 12.5}])),
        "{value:?}"
    );
    assert_eq!(value.stderr, "computing\n", "the marker line is gone");
    let repr = given
        .sandbox
        .run_code("python", "object", ExecOptions::default())
        .await
        .unwrap();
    assert_eq!(
        repr.value,
        Some(serde_json::json!({"repr": "<class 'object'>"})),
        "{repr:?}"
    );
    // Errors read as the user's code: its line, not the runner's.
    let failed = given
        .sandbox
        .run_code("python", "x = 1\n1 / 0", ExecOptions::default())
        .await
        .unwrap();
    assert_eq!(failed.exit_code, Some(1));
    assert!(
        failed.stderr.contains("File \"<code>\", line 2")
            && failed.stderr.contains("ZeroDivisionError"),
        "{}",
        failed.stderr
    );
    assert!(!failed.stderr.contains("_marker"), "{}", failed.stderr);
    let syntax = given
        .sandbox
        .run_code("python", "def (", ExecOptions::default())
        .await
        .unwrap();
    assert!(syntax.stderr.contains("SyntaxError"), "{}", syntax.stderr);
    let shell = given
        .sandbox
        .run_code("shell", "x=4\necho $((x * x))", ExecOptions::default())
        .await
        .unwrap();
    assert_eq!(shell.stdout, "16\n");
    let error = given
        .sandbox
        .run_code("cobol", "", ExecOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "INVALID_ARGUMENT");
    assert!(error.to_string().contains("python"), "{error}");
}

#[tokio::test]
async fn issue18_spares_hand_out_fresh_sandboxes_and_refill() {
    let dir = crate::support::TempDir::new();
    let spares = linuxbox::Spares::new(crate::support::config(dir.path()), 1)
        .await
        .unwrap();
    let first = spares.take().await.unwrap();
    assert!(
        first
            .exec("echo > /tmp/used", ExecOptions::default())
            .await
            .unwrap()
            .success()
    );
    // The next one is another sandbox, untouched by the first.
    let second = spares.take().await.unwrap();
    let result = second
        .exec("ls /tmp", ExecOptions::default())
        .await
        .unwrap();
    assert_eq!(result.stdout, "", "{result:?}");
    assert_ne!(first.workspace_dir(), second.workspace_dir());
}
