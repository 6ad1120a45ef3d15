//! Escape attempts with raw syscalls, to prove the OS layers independently of the engine.

#![allow(unsafe_code)]

use super::{HardenConfig, HardenReport};

/// One escape attempt and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscapeAttempt {
    /// What was tried, e.g. `socket(AF_INET)`.
    pub attempt: &'static str,
    /// The errno the call failed with; `None` if it succeeded (the sandbox leaked).
    pub errno: Option<i32>,
}

impl EscapeAttempt {
    /// The call failed.
    pub fn blocked(&self) -> bool {
        self.errno.is_some()
    }
}

/// Hardens **this** process with `config`, then tries in order: `open("/etc/passwd")`,
/// `socket(AF_INET)`, `connect()` to 127.0.0.1:1 on a socket made before hardening,
/// `execve("/bin/true")`, creating a file in /tmp, `ptrace(PTRACE_TRACEME)`,
/// `io_uring_setup`. For tests and `islet escape-test` only: call it in a process (or
/// forked child) that is single-threaded and will exit afterwards.
pub fn escape_test(config: &HardenConfig) -> (HardenReport, Vec<EscapeAttempt>) {
    // The one socket made before hardening, since socket() itself is denied afterwards.
    // SAFETY: socket takes integer arguments only.
    let tcp = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    let report = super::harden(config);
    let attempts = attempts(tcp)
        .into_iter()
        .map(|(attempt, result)| EscapeAttempt {
            attempt,
            errno: result.err(),
        })
        .collect();
    if tcp >= 0 {
        // SAFETY: `tcp` is the socket made above.
        unsafe { libc::close(tcp) };
    }
    (report, attempts)
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn check(rc: libc::c_long) -> Result<(), i32> {
    if rc < 0 { Err(errno()) } else { Ok(()) }
}

type Attempt = (&'static str, Result<(), i32>);

fn attempts(tcp: libc::c_int) -> Vec<Attempt> {
    let mut results = Vec::new();

    // SAFETY: a NUL-terminated path literal; the descriptor, if any, is closed.
    let rc = unsafe { libc::open(c"/etc/passwd".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if rc >= 0 {
        // SAFETY: `rc` is a descriptor we just opened.
        unsafe { libc::close(rc) };
    }
    results.push(("open /etc/passwd", check(rc.into())));

    // SAFETY: socket takes integer arguments only.
    let rc = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if rc >= 0 {
        // SAFETY: `rc` is a descriptor we just created.
        unsafe { libc::close(rc) };
    }
    results.push(("socket AF_INET", check(rc.into())));

    let connect = if tcp < 0 {
        // Could not even make the socket before hardening: nothing to connect with.
        Err(libc::EBADF)
    } else {
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 1u16.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(std::net::Ipv4Addr::LOCALHOST).to_be(),
            },
            sin_zero: [0; 8],
        };
        // SAFETY: `addr` is a valid sockaddr_in for the length given.
        let rc = unsafe {
            libc::connect(
                tcp,
                (&raw const addr).cast(),
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        check(rc.into())
    };
    results.push(("connect 127.0.0.1:1", connect));

    let argv = [c"/bin/true".as_ptr(), std::ptr::null()];
    let envp = [std::ptr::null()];
    // SAFETY: NUL-terminated path, NULL-terminated argv and envp arrays that outlive the
    // call. If it succeeded this process would be replaced (and the test would see no
    // further lines).
    let rc = unsafe { libc::execve(c"/bin/true".as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    results.push(("execve /bin/true", check(rc.into())));

    let path = format!("/tmp/islet-escape-test-{}\0", std::process::id());
    // SAFETY: `path` is NUL-terminated; the descriptor, if any, is written, closed and the
    // file removed.
    let rc = unsafe {
        libc::open(
            path.as_ptr().cast(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
            0o600,
        )
    };
    if rc >= 0 {
        // SAFETY: `rc` is a descriptor we just opened; `path` is NUL-terminated.
        unsafe {
            libc::write(rc, b"escaped".as_ptr().cast(), 7);
            libc::close(rc);
            libc::unlink(path.as_ptr().cast());
        }
    }
    results.push(("write a file in /tmp", check(rc.into())));

    // SAFETY: PTRACE_TRACEME takes no pointers.
    let rc = unsafe {
        libc::ptrace(
            libc::PTRACE_TRACEME,
            0,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_void>(),
        )
    };
    results.push(("ptrace PTRACE_TRACEME", check(rc)));

    // struct io_uring_params is 120 bytes; zeroed is a valid request.
    let mut params = [0u8; 120];
    // SAFETY: `params` is a writable buffer of the size of struct io_uring_params.
    let rc = unsafe { libc::syscall(libc::SYS_io_uring_setup, 8u32, params.as_mut_ptr()) };
    if rc >= 0 {
        // SAFETY: `rc` is the ring descriptor we just created.
        unsafe { libc::close(rc as libc::c_int) };
    }
    results.push(("io_uring_setup", check(rc)));

    results
}
