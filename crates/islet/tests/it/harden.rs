//! The OS sandbox of worker processes, seen from outside: `islet worker --escape-test`
//! hardens itself like a worker and tries to escape with raw syscalls; `islet doctor` reports the
//! layers.

use std::process::{Command, Output};

const LAYERS: [&str; 8] = [
    "no_new_privs",
    "user_namespace",
    "network_namespace",
    "mount_namespace",
    "rlimits",
    "landlock",
    "seccomp",
    "empty_environment",
];

const ATTEMPTS: [&str; 7] = [
    "open /etc/passwd",
    "socket AF_INET",
    "connect 127.0.0.1:1",
    "execve /bin/true",
    "write a file in /tmp",
    "ptrace PTRACE_TRACEME",
    "io_uring_setup",
];

/// Runs islet with an empty environment, as a worker is spawned.
fn islet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_islet"))
        .args(args)
        .env_clear()
        .output()
        .expect("islet runs")
}

fn lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON value per line"))
        .collect()
}

#[test]
fn every_escape_attempt_of_a_hardened_worker_is_blocked() {
    let out = islet(&["worker", "--escape-test"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "status {:?}; stderr: {stderr}",
        out.status
    );
    let lines = lines(&out);
    let layers = lines[0]["harden"]
        .as_array()
        .expect("the hardening report first");
    let active = |name: &str| {
        layers
            .iter()
            .any(|l| l["name"] == name && l["active"] == true)
    };
    // Seccomp alone blocks every attempt below; it must be in force on CI's kernel.
    assert!(active("seccomp"), "{layers:#?}");
    assert!(active("no_new_privs"), "{layers:#?}");
    assert!(active("empty_environment"), "{layers:#?}");
    let attempts: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l["attempt"].as_str().expect("attempt"))
        .collect();
    assert_eq!(attempts, ATTEMPTS);
    for line in &lines[1..] {
        assert_eq!(line["blocked"], true, "escaped: {line}");
        assert!(line["errno"].as_i64().is_some_and(|e| e > 0), "{line}");
    }
}

#[test]
fn doctor_json_lists_every_layer() {
    let out = islet(&["doctor", "--json"]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = &lines(&out)[0];
    let layers = report["layers"].as_array().expect("layers");
    let names: Vec<&str> = layers
        .iter()
        .map(|l| l["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, LAYERS);
    for layer in layers {
        let active = layer["active"].as_bool().expect("active is a boolean");
        // An unavailable layer always says why.
        assert!(
            active || layer["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{layer}"
        );
    }
    let seccomp = layers
        .iter()
        .find(|l| l["name"] == "seccomp")
        .expect("seccomp");
    assert_eq!(seccomp["active"], true, "{seccomp}");
    assert_eq!(report["seccomp"]["default"], "kill_process");
}

#[test]
fn doctor_prints_a_table_for_humans() {
    let out = islet(&["doctor"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in LAYERS {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
    assert!(text.contains("layers active"), "{text}");
}

#[test]
fn issue18_doctor_reports_what_linux_sandboxes_get() {
    let out = islet(&["doctor", "--json"]);
    assert!(out.status.success());
    let report = &lines(&out)[0];
    let checks = report["linux_sandboxes"]
        .as_array()
        .expect("linux_sandboxes");
    let names: Vec<&str> = checks
        .iter()
        .map(|c| c["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        [
            "bubblewrap",
            "namespaces",
            "seccomp",
            "cgroup limits",
            "cpu limit",
            "python3"
        ]
    );
    for check in checks {
        // A missing piece always says why.
        assert!(
            check["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{check}"
        );
    }
    // CI installs bubblewrap (`.ci/run`).
    assert_eq!(checks[0]["ok"], true, "{}", checks[0]);
}

#[test]
fn issue18_islet_linuxbox_init_supervises_a_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let config = linuxbox::Config::new(
        vec![env!("CARGO_BIN_EXE_islet").into(), "linuxbox-init".into()],
        dir.path().join("box"),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = runtime.block_on(async {
        let sandbox = linuxbox::Linuxbox::start(config).await.unwrap();
        sandbox
            .exec(
                "echo $((6 * 7)) from $(hostname)",
                linuxbox::ExecOptions::default(),
            )
            .await
            .unwrap()
    });
    assert_eq!(result.stdout, "42 from islet\n", "{result:?}");
}
