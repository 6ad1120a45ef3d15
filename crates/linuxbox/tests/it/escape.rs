//! Escape attempts from inside a sandbox; each must fail.

use std::time::Duration;

use linuxbox::{ExecOptions, LimitHit, Limits};

use crate::support::{given_agent_db, given_sandbox, given_sandbox_with};

/// Runs Python in the sandbox and returns its stdout, trimmed.
async fn python(given: &crate::support::Given, code: &str) -> String {
    let result = given
        .sandbox
        .run_code("python", code, ExecOptions::default())
        .await
        .unwrap();
    assert!(result.success(), "{result:?}");
    result.stdout.trim().to_string()
}

#[tokio::test]
async fn issue18_reading_etc_shadow_fails() {
    let given = given_sandbox().await;
    let result = given.sh("cat /etc/shadow").await;
    assert!(!result.success());
    assert!(result.stderr.contains("No such file"), "{result:?}");
    // The host's copy exists; the sandbox just has none.
    assert!(std::path::Path::new("/etc/shadow").exists());
    // What programs need is there, /etc itself read-only.
    let etc = given
        .sh("head -c 5 /etc/passwd; grep -c . /etc/os-release >/dev/null && echo os; ls /etc/ssl/certs | grep -c pem; touch /etc/x")
        .await;
    let lines: Vec<&str> = etc.stdout.lines().collect();
    assert_eq!(lines[0], "root:os", "{etc:?}");
    assert!(lines[1].parse::<u32>().unwrap() > 0, "{etc:?}");
    assert!(etc.stderr.contains("Read-only"), "{etc:?}");
}

#[tokio::test]
async fn issue18_another_agents_data_is_out_of_reach() {
    let given = given_sandbox().await;
    let mut other = given_agent_db(given.dir.path(), "someone-else");
    other
        .workspace()
        .write("/secret.txt", b"top secret")
        .unwrap();
    let data_dir = given.dir.path().join("data");
    assert!(data_dir.exists());
    let result = given
        .sh(&format!(
            "ls {0}; cat {0}/*/* 2>&1; ls /work /root /home 2>&1",
            data_dir.display()
        ))
        .await;
    assert!(!result.success());
    assert!(
        !result.stdout.contains("secret") && !result.stdout.contains("sqlite"),
        "{result:?}"
    );
    let listing = given.sh("ls /").await;
    let top: Vec<&str> = listing.stdout.lines().collect();
    for present in ["usr", "tmp", "workspace", "proc", "dev"] {
        assert!(top.contains(&present), "{top:?}");
    }
    for absent in ["root", "home", "work", "var", "boot", "mnt", "opt"] {
        assert!(!top.contains(&absent), "{absent} is visible: {top:?}");
    }
}

#[tokio::test]
async fn issue18_writing_outside_workspace_and_tmp_fails() {
    let given = given_sandbox().await;
    for path in [
        "/usr/x",
        "/etc/x",
        "/x",
        "/bin/x",
        "/run/islet/init",
        "/proc/x",
        "/dev/x",
    ] {
        let result = given.sh(&format!("echo hi > {path}")).await;
        assert!(!result.success(), "wrote {path}: {result:?}");
    }
    let result = given
        .sh("echo a > /tmp/a && echo b > /workspace/b && echo c > /dev/shm/c && cat /tmp/a /workspace/b /dev/shm/c && echo d > /dev/null")
        .await;
    assert_eq!(result.stdout, "a\nb\nc\n", "{result:?}");
}

#[tokio::test]
async fn issue18_mount_fails() {
    let given = given_sandbox().await;
    let out = python(
        &given,
        "import ctypes, os\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         r = libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)\n\
         print(r, os.strerror(ctypes.get_errno()))",
    )
    .await;
    assert_eq!(out, "-1 Operation not permitted");
    let unshare = python(
        &given,
        "import ctypes, os\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         r = libc.unshare(0x10000000 | 0x00020000)\n\
         print(r, os.strerror(ctypes.get_errno()))",
    )
    .await;
    assert_eq!(unshare, "-1 Operation not permitted");
}

#[tokio::test]
async fn issue18_ptrace_fails() {
    let given = given_sandbox().await;
    let out = python(
        &given,
        "import ctypes, os\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]\n\
         r = libc.ptrace(16, os.getppid(), None, None)\n\
         print(r, os.strerror(ctypes.get_errno()))",
    )
    .await;
    assert_eq!(out, "-1 Operation not permitted");
    // And there is no host process to see.
    let ps = given.sh("ls /proc | grep -c '^[0-9]'").await;
    let count: u32 = ps.stdout.trim().parse().unwrap();
    assert!(count < 10, "the sandbox sees {count} processes");
}

#[tokio::test]
async fn issue18_raw_and_packet_sockets_fail() {
    let given = given_sandbox().await;
    let out = python(
        &given,
        "import socket\n\
         for args in [(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP), (socket.AF_PACKET, socket.SOCK_RAW, 0)]:\n\
         \x20   try:\n\
         \x20       socket.socket(*args); print('opened')\n\
         \x20   except PermissionError as e: print('denied')",
    )
    .await;
    assert_eq!(out, "denied\ndenied");
}

#[tokio::test]
async fn issue18_there_is_no_network() {
    let given = given_sandbox().await;
    // A server on the host's loopback: the sandbox's loopback is another one.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let out = python(
        &given,
        &format!(
            "import socket\n\
             for addr in [('127.0.0.1', {port}), ('1.1.1.1', 80), ('10.0.0.1', 80)]:\n\
             \x20   try:\n\
             \x20       socket.create_connection(addr, timeout=2); print('connected')\n\
             \x20   except OSError as e: print(type(e).__name__)"
        ),
    )
    .await;
    assert_eq!(
        out, "ConnectionRefusedError\nOSError\nOSError",
        "the host's loopback is refused, everything else unreachable"
    );
    let interfaces = given
        .sh("ls /sys/class/net 2>/dev/null || cat /proc/net/dev")
        .await;
    assert!(!interfaces.stdout.contains("eth"), "{interfaces:?}");
}

#[tokio::test]
async fn issue18_a_fork_bomb_is_contained_by_the_pids_limit() {
    let given = given_sandbox_with(Limits {
        pids: 48,
        ..Limits::default()
    })
    .await;
    let result = given
        .sandbox
        .run_code(
            "python",
            "import os, time\n\
             n = 0\n\
             try:\n\
             \x20   while True:\n\
             \x20       if os.fork() == 0:\n\
             \x20           time.sleep(60); os._exit(0)\n\
             \x20       n += 1\n\
             except OSError as e:\n\
             \x20   print('stopped after', n, e.strerror)",
            ExecOptions {
                timeout: Some(Duration::from_secs(20)),
                ..ExecOptions::default()
            },
        )
        .await
        .unwrap();
    assert!(result.stdout.starts_with("stopped after"), "{result:?}");
    let n: u32 = result
        .stdout
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    if given.sandbox.capabilities().cgroup_active {
        assert!(n < 48, "{result:?}");
    }
    // The children die with the command's process group and the sandbox works again once
    // they are gone (as a non-root user, RLIMIT_NPROC counts them until they are reaped:
    // a spawn may meet EAGAIN for a moment).
    let mut last = None;
    for _ in 0..100 {
        match given.sandbox.exec("echo ok", ExecOptions::default()).await {
            Ok(done) if done.stdout == "ok\n" => return,
            other => last = Some(format!("{other:?}")),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the sandbox did not work again after the fork bomb: {last:?}");
}

#[tokio::test]
async fn issue18_a_memory_hog_is_killed_and_reported() {
    let given = given_sandbox_with(Limits {
        memory_bytes: 96 << 20,
        ..Limits::default()
    })
    .await;
    let result = given
        .sandbox
        .run_code(
            "python",
            "chunks = []\nwhile True:\n    chunks.append(bytearray(16 << 20))",
            ExecOptions::default(),
        )
        .await
        .unwrap();
    assert!(!result.success(), "{result:?}");
    if given.sandbox.capabilities().cgroup_active {
        assert_eq!(result.limit, Some(LimitHit::Memory), "{result:?}");
        assert_eq!(result.signal, Some(9));
    } else {
        // Without a cgroup the address-space rlimit makes allocation fail.
        assert!(result.stderr.contains("MemoryError"), "{result:?}");
    }
    assert_eq!(given.sh("echo ok").await.stdout, "ok\n");
}

#[tokio::test]
async fn issue18_symlinks_planted_in_the_workspace_are_not_followed_by_the_host() {
    let given = given_sandbox().await;
    let result = given
        .sh("ln -s /etc/passwd /workspace/link && ln -s / /workspace/root && mkfifo /workspace/fifo")
        .await;
    assert!(result.success(), "{result:?}");
    let error = given.sandbox.read_file("/workspace/link").unwrap_err();
    assert_eq!(error.code(), "INVALID_ARGUMENT", "{error}");
    assert!(
        given
            .sandbox
            .read_file("/workspace/root/etc/hostname")
            .is_err()
    );
    assert!(
        given
            .sandbox
            .write_file("/workspace/root/tmp/x", b"x")
            .is_err()
    );
    assert!(given.sandbox.read_file("/workspace/fifo").is_err());
    let mut db = given_agent_db(given.dir.path(), "me");
    let report = given.sandbox.sync_out(&mut db).unwrap();
    let skipped: Vec<&str> = report.skipped.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(skipped, ["/fifo", "/link", "/root"]);
    assert!(db.workspace().list("/").unwrap().is_empty());
}

#[tokio::test]
async fn issue18_tmp_is_capped_at_half_the_memory_limit() {
    let given = given_sandbox_with(Limits {
        memory_bytes: 64 << 20,
        ..Limits::default()
    })
    .await;
    let result = given.sh("head -c 40000000 /dev/zero > /tmp/big").await;
    assert!(result.stderr.contains("No space left"), "{result:?}");
    let size = given
        .sh("wc -c < /tmp/big; rm /tmp/big && echo removed")
        .await;
    assert_eq!(size.stdout, format!("{}\nremoved\n", 32 << 20), "{size:?}");
}

#[tokio::test]
async fn issue18_killing_the_init_from_inside_ends_only_that_sandbox() {
    let given = given_sandbox().await;
    let bystander = given_sandbox().await;
    // The init is the sandbox's second process (bubblewrap's own is the first).
    let error = given
        .sandbox
        .exec("kill -9 2; sleep 5", ExecOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "SANDBOX_GONE", "{error}");
    let again = given
        .sandbox
        .exec("true", ExecOptions::default())
        .await
        .unwrap_err();
    assert_eq!(again.code(), "SANDBOX_GONE");
    assert!(again.to_string().contains("start a new"), "{again}");
    assert_eq!(bystander.sh("echo fine").await.stdout, "fine\n");
}

/// Two processes that spin for a second of wall time each, side by side; prints the CPU
/// seconds they used (the kernel's account of reaped children).
const TWO_SPINNERS: &str = "import os, subprocess, sys\n\
    spin = 'import time\\nend = time.time() + 1.0\\nwhile time.time() < end: pass'\n\
    children = [subprocess.Popen([sys.executable, '-c', spin]) for _ in range(2)]\n\
    for child in children: child.wait()\n\
    t = os.times()\n\
    print(t.children_user + t.children_system)";

async fn cpu_seconds_of_two_spinners(cpus: f64) -> (f64, Option<f64>) {
    let given = given_sandbox_with(Limits {
        cpus,
        ..Limits::default()
    })
    .await;
    let result = given
        .sandbox
        .run_code("python", TWO_SPINNERS, ExecOptions::default())
        .await
        .unwrap();
    assert!(result.success(), "{result:?}");
    let used: f64 = result.stdout.trim().parse().expect("CPU seconds");
    (used, given.sandbox.capabilities().cpu_limit)
}

#[tokio::test]
#[allow(clippy::print_stderr)] // the skip must be visible in the test output
async fn issue18_a_cpu_quota_caps_the_cpu_time_of_busy_processes() {
    let (limited, limit) = cpu_seconds_of_two_spinners(0.25).await;
    let Some(limit) = limit else {
        // Not a failure: the machine gives islet no cpu controller; doctor says why.
        let given = given_sandbox().await;
        eprintln!(
            "issue18 CPU quota not enforceable here, not tested: {}",
            given.sandbox.capabilities().cpu
        );
        assert!(
            given
                .sandbox
                .capabilities()
                .cpu
                .starts_with("no CPU limit: ")
        );
        return;
    };
    assert_eq!(limit, 0.25);
    // ~0.25 s (a quarter of a CPU for about a second); generous for the Python start-up
    // and the period the quota is accounted in.
    assert!(
        limited <= 0.45,
        "used {limited} s of CPU under a 0.25 quota"
    );
    // Two CPUs' worth of quota: the spinners get what the machine gives them, far more
    // than a quarter of one unless other work crowds them out; a busy shared machine gets
    // three tries.
    let mut free = Vec::new();
    for _ in 0..3 {
        let (used, limit) = cpu_seconds_of_two_spinners(2.0).await;
        assert_eq!(limit, Some(2.0));
        free.push(used);
        if used > 0.45_f64.max(limited + 0.15) {
            return;
        }
    }
    panic!("used {free:?} s of CPU under a 2.0 quota, {limited} s under 0.25");
}

#[tokio::test]
async fn issue18_a_cpu_limit_must_be_positive() {
    let dir = crate::support::TempDir::new();
    for cpus in [0.0, -1.0, f64::NAN] {
        let mut config = crate::support::config(dir.path());
        config.limits.cpus = cpus;
        let refused = linuxbox::Linuxbox::start(config).await.unwrap_err();
        assert_eq!(refused.code(), "INVALID_ARGUMENT", "{refused}");
    }
}
