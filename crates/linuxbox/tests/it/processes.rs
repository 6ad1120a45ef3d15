//! Background processes: start, list, logs, kill, idle timeout, and the end of a sandbox.

use std::time::Duration;

use linuxbox::{ExecOptions, Limits, ProcessStatus};

use crate::support::{given_sandbox, given_sandbox_with, host_process_with};

#[tokio::test]
async fn issue18_a_background_server_answers_a_second_command_and_its_logs_are_readable() {
    let given = given_sandbox().await;
    given
        .sandbox
        .write_file("/workspace/hello.txt", b"hello from the sandbox")
        .unwrap();
    let server = given
        .sandbox
        .start_process(
            "exec python3 -u -m http.server 8123 --bind 127.0.0.1",
            ExecOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(server.status, ProcessStatus::Running);
    let client = given
        .sandbox
        .run_code(
            "python",
            "import time, urllib.request\n\
             for _ in range(100):\n\
             \x20   try:\n\
             \x20       print(urllib.request.urlopen('http://127.0.0.1:8123/hello.txt').read().decode()); break\n\
             \x20   except OSError: time.sleep(0.05)",
            ExecOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(client.stdout, "hello from the sandbox\n", "{client:?}");
    let logs = given.sandbox.process_logs(&server.id).unwrap();
    assert!(logs.stderr.contains("GET /hello.txt"), "{logs:?}");
    let listed = given.sandbox.list_processes();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, server.id);
    assert_eq!(listed[0].status, ProcessStatus::Running);

    let killed = given.sandbox.kill_process(&server.id).await.unwrap();
    assert_eq!(killed.status, ProcessStatus::Exited);
    assert_eq!(killed.signal, Some(15), "{killed:?}");
    let again = given
        .sandbox
        .exec(
            "python3 -c \"import urllib.request as u; u.urlopen('http://127.0.0.1:8123/')\"",
            ExecOptions::default(),
        )
        .await
        .unwrap();
    assert!(again.stderr.contains("Connection refused"), "{again:?}");
}

#[tokio::test]
async fn issue18_process_ids_that_do_not_exist_are_clear_errors() {
    let given = given_sandbox().await;
    let error = given.sandbox.process_logs("proc-99").unwrap_err();
    assert_eq!(error.code(), "NOT_FOUND");
    let error = given.sandbox.kill_process("nonsense").await.unwrap_err();
    assert_eq!(error.code(), "INVALID_ARGUMENT");
    assert!(error.to_string().contains("proc-"), "{error}");
}

#[tokio::test]
async fn issue18_a_background_process_is_gone_after_the_sandbox_ends() {
    let given = given_sandbox().await;
    let marker = format!("987.{}", std::process::id());
    let process = given
        .sandbox
        .start_process(&format!("sleep {marker}"), ExecOptions::default())
        .await
        .unwrap();
    // Its grandchild, in a session of its own, outside the process group.
    given
        .sandbox
        .exec(
            &format!("setsid sleep {marker} >/dev/null 2>&1 &"),
            ExecOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(process.status, ProcessStatus::Running);
    assert!(host_process_with(&format!("sleep {marker}")));
    given.sandbox.shutdown().await;
    let mut gone = false;
    for _ in 0..100 {
        if !host_process_with(&format!("sleep {marker}")) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(gone, "a sandbox process outlived the sandbox");
}

#[tokio::test]
async fn issue18_dropping_the_sandbox_kills_its_processes() {
    let given = given_sandbox().await;
    let marker = format!("876.{}", std::process::id());
    given
        .sandbox
        .start_process(&format!("sleep {marker}"), ExecOptions::default())
        .await
        .unwrap();
    assert!(host_process_with(&format!("sleep {marker}")));
    drop(given.sandbox);
    let mut gone = false;
    for _ in 0..200 {
        if !host_process_with(&format!("sleep {marker}")) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(gone);
}

#[tokio::test]
async fn issue18_background_processes_stop_after_the_idle_timeout() {
    let given = given_sandbox_with(Limits {
        idle_timeout: Duration::from_millis(300),
        kill_grace: Duration::from_millis(100),
        ..Limits::default()
    })
    .await;
    let process = given
        .sandbox
        .start_process(
            "trap 'echo bye; exit 0' TERM; while true; do sleep 0.05; done",
            ExecOptions::default(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(900)).await;
    let listed = given.sandbox.list_processes();
    assert_eq!(listed[0].id, process.id);
    assert_eq!(listed[0].status, ProcessStatus::Exited, "{listed:?}");
    assert_eq!(
        given.sandbox.process_logs(&process.id).unwrap().stdout,
        "bye\n"
    );
}

#[tokio::test]
async fn issue18_logs_keep_the_newest_output_within_the_cap() {
    let given = given_sandbox_with(Limits {
        log_bytes: 100,
        ..Limits::default()
    })
    .await;
    let process = given
        .sandbox
        .start_process("seq 1 1000", ExecOptions::default())
        .await
        .unwrap();
    for _ in 0..100 {
        if given.sandbox.list_processes()[0].status == ProcessStatus::Exited {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let logs = given.sandbox.process_logs(&process.id).unwrap();
    assert!(logs.truncated);
    assert_eq!(logs.stdout.len(), 100);
    assert!(logs.stdout.ends_with("999\n1000\n"), "{logs:?}");
}
