//! OS hardening of worker processes. Every test hardens a *forked child*, never the test
//! process itself, and checks from the parent what the child saw and how it ended.

#![allow(unsafe_code)]

use sandbox::harden::{self, HardenConfig, LAYERS, LayerStatus};
use std::io::{Read as _, Write as _};
use std::os::fd::{FromRawFd as _, OwnedFd};

/// How a forked child ended, and what it wrote to the pipe.
struct ChildEnd {
    status: i32,
    output: String,
}

impl ChildEnd {
    fn exited_normally(&self) -> bool {
        libc::WIFEXITED(self.status) && libc::WEXITSTATUS(self.status) == 0
    }

    fn killed_by(&self) -> Option<i32> {
        libc::WIFSIGNALED(self.status).then(|| libc::WTERMSIG(self.status))
    }
}

/// Forks; the child runs `body` (which may harden it) with a pipe to write to, then
/// `_exit(0)`s. The parent collects the output and the wait status.
fn in_forked_child(body: impl FnOnce(&mut std::fs::File)) -> ChildEnd {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a writable array of two ints.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: pipe2 succeeded; both descriptors are ours alone.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: the child runs `body` and `_exit`s; it never returns into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let mut pipe = std::fs::File::from(write_end);
        let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&mut pipe)))
        {
            Ok(()) => 0,
            Err(_) => 101,
        };
        let _ = pipe.flush();
        // SAFETY: ends the child without running the test harness's destructors.
        unsafe { libc::_exit(code) };
    }
    drop(write_end);
    let mut output = String::new();
    std::fs::File::from(read_end)
        .read_to_string(&mut output)
        .expect("read the child's output");
    let mut status = 0;
    // SAFETY: `status` is writable; `pid` is our child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    ChildEnd { status, output }
}

fn write(pipe: &mut std::fs::File, text: &str) {
    pipe.write_all(text.as_bytes())
        .expect("write to the parent");
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

#[test]
fn every_escape_attempt_is_blocked_and_the_child_exits_normally() {
    let end = in_forked_child(|pipe| {
        let (report, attempts) = harden::escape_test(&HardenConfig::default());
        for layer in &report.layers {
            write(
                pipe,
                &format!("layer {} {}\n", layer.name, layer.is_active()),
            );
        }
        for attempt in attempts {
            write(
                pipe,
                &format!("attempt {:?} {:?}\n", attempt.attempt, attempt.errno),
            );
        }
    });
    assert!(
        end.exited_normally(),
        "status {:#x}: {}",
        end.status,
        end.output
    );
    assert!(end.output.contains("layer seccomp true"), "{}", end.output);
    let attempts: Vec<&str> = end
        .output
        .lines()
        .filter(|l| l.starts_with("attempt"))
        .collect();
    assert_eq!(attempts.len(), 7, "{}", end.output);
    for line in attempts {
        assert!(line.ends_with("Some(1)"), "not blocked with EPERM: {line}");
    }
}

#[test]
fn harden_reports_every_layer_in_order_and_seccomp_is_active() {
    let end = in_forked_child(|pipe| {
        let report = harden::harden(&HardenConfig::default());
        for layer in &report.layers {
            let status = match &layer.status {
                LayerStatus::Active => "active".to_owned(),
                LayerStatus::Unavailable(reason) => format!("unavailable: {reason}"),
            };
            write(pipe, &format!("{}\t{status}\n", layer.name));
        }
    });
    assert!(end.exited_normally(), "status {:#x}", end.status);
    let names: Vec<&str> = end
        .output
        .lines()
        .map(|l| l.split('\t').next().unwrap_or(""))
        .collect();
    assert_eq!(names, LAYERS);
    for must in ["no_new_privs", "seccomp", "rlimits"] {
        assert!(
            end.output.contains(&format!("{must}\tactive")),
            "{}",
            end.output
        );
    }
}

#[test]
fn an_unlisted_syscall_kills_the_process_with_sigsys() {
    let end = in_forked_child(|pipe| {
        harden::harden(&HardenConfig::default());
        write(pipe, "hardened\n");
        // mknodat is neither allowed nor in the EPERM list.
        // SAFETY: a NUL-terminated path literal.
        unsafe {
            libc::mknodat(
                libc::AT_FDCWD,
                c"/tmp/islet-fifo".as_ptr(),
                libc::S_IFIFO | 0o600,
                0,
            )
        };
        write(pipe, "survived\n");
    });
    assert_eq!(end.output, "hardened\n");
    assert_eq!(
        end.killed_by(),
        Some(libc::SIGSYS),
        "status {:#x}",
        end.status
    );
}

#[test]
fn threads_can_be_spawned_and_joined_after_hardening() {
    let end = in_forked_child(|pipe| {
        harden::harden(&HardenConfig::default());
        let (tx, rx) = std::sync::mpsc::channel();
        let handles: Vec<_> = (0..3)
            .map(|i| {
                let tx = tx.clone();
                std::thread::Builder::new()
                    .name(format!("executor-{i}"))
                    .stack_size(24 << 20)
                    .spawn(move || {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                        tx.send(i * 2).expect("send");
                    })
                    .expect("spawn a thread after hardening")
            })
            .collect();
        for handle in handles {
            handle.join().expect("join");
        }
        drop(tx);
        let sum: i32 = rx.iter().sum();
        write(pipe, &format!("sum {sum}\n"));
    });
    assert!(
        end.exited_normally(),
        "status {:#x}: {}",
        end.status,
        end.output
    );
    assert_eq!(end.output, "sum 6\n");
}

#[test]
fn io_on_descriptors_opened_before_hardening_keeps_working() {
    let end = in_forked_child(|pipe| {
        let (mut a, mut b) = std::os::unix::net::UnixStream::pair().expect("socketpair");
        harden::harden(&HardenConfig::default());
        a.write_all(b"ping").expect("write on the socket");
        let mut buf = [0; 4];
        b.read_exact(&mut buf).expect("read on the socket");
        a.shutdown(std::net::Shutdown::Write).expect("shutdown");
        write(pipe, &format!("{}\n", String::from_utf8_lossy(&buf)));
        // Memory, time and randomness still work.
        let big = vec![7u8; 64 << 20];
        let started = std::time::Instant::now();
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).expect("getrandom");
        write(
            pipe,
            &format!(
                "{} {}\n",
                big[big.len() - 1],
                started.elapsed().as_secs() < 5
            ),
        );
    });
    assert!(
        end.exited_normally(),
        "status {:#x}: {}",
        end.status,
        end.output
    );
    assert_eq!(end.output, "ping\n7 true\n");
}

#[test]
#[allow(clippy::print_stderr)] // says why the test is skipped
fn landlock_alone_denies_the_filesystem() {
    let end = in_forked_child(|pipe| {
        let report = harden::harden(&HardenConfig {
            seccomp: false,
            ..HardenConfig::default()
        });
        if !report.is_active(harden::LANDLOCK) {
            write(pipe, "no landlock\n");
            return;
        }
        // SAFETY: NUL-terminated path literals.
        let read = unsafe { libc::open(c"/etc/passwd".as_ptr(), libc::O_RDONLY) };
        let read_errno = errno();
        // SAFETY: as above.
        let create = unsafe {
            libc::open(
                c"/tmp/islet-landlock-test".as_ptr(),
                libc::O_WRONLY | libc::O_CREAT,
                0o600,
            )
        };
        let create_errno = errno();
        write(
            pipe,
            &format!("{read} {read_errno} {create} {create_errno}\n"),
        );
    });
    assert!(
        end.exited_normally(),
        "status {:#x}: {}",
        end.status,
        end.output
    );
    if end.output == "no landlock\n" {
        eprintln!("skipped: this kernel has no Landlock");
        return;
    }
    assert_eq!(end.output, format!("-1 {0} -1 {0}\n", libc::EACCES));
}

#[test]
#[allow(clippy::print_stderr)] // says why the test is skipped
fn the_network_namespace_alone_has_no_route_to_loopback() {
    let end = in_forked_child(|pipe| {
        let report = harden::harden(&HardenConfig {
            seccomp: false,
            landlock: false,
            ..HardenConfig::default()
        });
        if !report.is_active(harden::NETWORK_NAMESPACE) {
            write(pipe, "no netns\n");
            return;
        }
        let result = std::net::TcpStream::connect("127.0.0.1:1");
        write(
            pipe,
            &format!("{:?}\n", result.err().and_then(|e| e.raw_os_error())),
        );
    });
    assert!(
        end.exited_normally(),
        "status {:#x}: {}",
        end.status,
        end.output
    );
    if end.output == "no netns\n" {
        eprintln!("skipped: no network namespace here");
        return;
    }
    assert_eq!(end.output, format!("Some({})\n", libc::ENETUNREACH));
}

#[test]
fn check_environment_fails_on_any_variable_and_passes_on_an_empty_one() {
    let end = in_forked_child(|pipe| {
        // SAFETY: the forked child has one thread.
        unsafe { libc::setenv(c"ISLET_TEST_SECRET".as_ptr(), c"x".as_ptr(), 1) };
        let with = harden::check_environment();
        // SAFETY: the forked child has one thread.
        unsafe { libc::clearenv() };
        let without = harden::check_environment();
        let names = with.map_err(|e| e.names.contains(&"ISLET_TEST_SECRET".to_owned()));
        write(pipe, &format!("{names:?} {:?}\n", without.is_ok()));
    });
    assert!(end.exited_normally(), "status {:#x}", end.status);
    assert_eq!(end.output, "Err(true) true\n");
}

#[test]
fn probe_reports_every_layer_without_hardening_the_caller() {
    let report = harden::probe();
    let names: Vec<&str> = report.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, LAYERS);
    assert!(report.is_active(harden::SECCOMP), "{report:?}");
    assert!(report.is_active(harden::NO_NEW_PRIVS), "{report:?}");
    // This (multithreaded) process is untouched: no filter, files still open.
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    assert!(status.lines().any(|l| l == "Seccomp:\t0"), "{status}");
    assert!(status.lines().any(|l| l == "NoNewPrivs:\t0"), "{status}");
}

#[test]
fn the_seccomp_policy_allows_threads_and_denies_the_named_syscalls() {
    let policy = harden::seccomp_policy();
    for name in [
        "read",
        "write",
        "futex",
        "mmap",
        "exit_group",
        "rt_sigreturn",
    ] {
        assert!(policy.allowed.contains(&name), "{name} not allowed");
    }
    for name in [
        "openat",
        "socket",
        "connect",
        "execve",
        "ptrace",
        "io_uring_setup",
        "bpf",
    ] {
        assert!(policy.eperm.contains(&name), "{name} not EPERM");
        assert!(!policy.allowed.contains(&name), "{name} allowed");
    }
    assert_eq!(policy.enosys, ["clone3"]);
}

#[test]
fn isolates_run_in_a_hardened_process() {
    let end = in_forked_child(|pipe| {
        let report = harden::harden(&HardenConfig::default());
        assert!(report.is_active(harden::SECCOMP));
        // Everything below starts after hardening: the runtime, executor threads, QuickJS.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let sandbox =
            sandbox::Sandbox::new(sandbox::SandboxConfig { threads: 2 }).expect("sandbox");
        let bindings = sandbox::Bindings::new().function("api", "double", |x| async move {
            Ok(serde_json::json!(x.as_i64().unwrap_or(0) * 2))
        });
        let code = "const xs = await Promise.all([1, 2, 3].map((x) => api.double(x)));
            await new Promise((r) => setTimeout(r, 10));
            const big = []; for (let i = 0; i < 100000; i++) big.push({ i, s: 'x' + i });
            const random = crypto.getRandomValues(new Uint8Array(8));
            console.log(new URL('https://a.example/b?c=1').searchParams.get('c'));
            return [xs, big.length, random.length, Date.now() > 0];";
        let outcome =
            runtime.block_on(sandbox.execute(sandbox::Execution::new(code).bindings(bindings)));
        write(
            pipe,
            &format!(
                "{}\n",
                serde_json::to_string(&outcome.result).unwrap_or_default()
            ),
        );
        let spin = runtime.block_on(sandbox.execute(
            sandbox::Execution::new("while (true) {}").limits(sandbox::Limits {
                cpu_ms: 50,
                ..sandbox::Limits::default()
            }),
        ));
        write(pipe, &format!("{:?}\n", spin.error.map(|e| e.limit)));
        let hog = runtime.block_on(
            sandbox.execute(
                sandbox::Execution::new(
                    "const a = []; while (true) a.push(new Array(1e5).fill(1));",
                )
                .limits(sandbox::Limits {
                    memory_bytes: 16 << 20,
                    ..sandbox::Limits::default()
                }),
            ),
        );
        write(pipe, &format!("{:?}\n", hog.error.map(|e| e.limit)));
    });
    assert!(
        end.exited_normally(),
        "status {:#x}: {}",
        end.status,
        end.output
    );
    assert_eq!(
        end.output, "[[2,4,6],100000,8,true]\nSome(Some(Cpu))\nSome(Some(Memory))\n",
        "{}",
        end.output
    );
}

#[test]
fn hardening_a_multithreaded_process_explains_the_missing_user_namespace() {
    let end = in_forked_child(|pipe| {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || rx.recv().ok());
        let report = harden::harden(&HardenConfig::default());
        let user = report
            .layer(harden::USER_NAMESPACE)
            .map(|l| l.status.clone());
        write(
            pipe,
            &format!("{user:?}\n{}\n", report.is_active(harden::SECCOMP)),
        );
        drop(tx);
        thread.join().expect("join");
    });
    assert!(
        end.exited_normally(),
        "status {:#x}: {}",
        end.status,
        end.output
    );
    assert!(
        end.output
            .contains("Unavailable(\"unshare(CLONE_NEWUSER): EINVAL"),
        "{}",
        end.output
    );
    assert!(
        end.output
            .contains("harden() must run before spawning threads"),
        "{}",
        end.output
    );
    // Seccomp is installed with TSYNC, so it still covers every thread.
    assert!(end.output.ends_with("true\n"), "{}", end.output);
}
