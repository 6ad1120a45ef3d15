//! The seccomp-bpf policy of a worker process.
//!
//! Three filters are stacked (the kernel runs every installed filter and takes the most
//! restrictive answer: kill > errno > allow):
//!
//! 1. `clone3` → `ENOSYS`, everything else allowed: glibc's `pthread_create` then falls
//!    back to `clone`, whose flags seccomp can inspect.
//! 2. the [`DENIED`] syscalls, plus `prctl` with an option other than `PR_SET_NAME` /
//!    `PR_GET_NAME`, and `socketpair` of a family other than `AF_UNIX` → `EPERM`; everything
//!    else allowed.
//! 3. the allowlist: [`ALLOWED`] syscalls, `clone` with `CLONE_THREAD`, `tgkill`/`tkill`
//!    aimed at this process, `prlimit64` that only reads, and every syscall of filters 1
//!    and 2 → allowed (so those give their errno); **everything else kills the process**.
//!
//! The allowlist was derived with `strace -f` of `islet run` (an executor thread running
//! QuickJS with timers, host calls and the worker-like blocking I/O) and of a Rust
//! process spawning and joining threads, reading and writing a Unix socket and pipes, and
//! exiting after hardening; see the tests in `crates/sandbox/tests/it/harden.rs`.

#![allow(unsafe_code)]

use super::{Layer, SECCOMP};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;

macro_rules! syscalls {
    ($($name:ident),* $(,)?) => {
        &[$((stringify!($name), libc::$name)),*]
    };
}

type Syscalls = &'static [(&'static str, libc::c_long)];

/// Allowed unconditionally: I/O on descriptors that already exist, memory, time, futexes,
/// signals to self, thread bookkeeping and exit.
const ALLOWED: Syscalls = syscalls![
    // I/O on existing descriptors.
    SYS_read,
    SYS_write,
    SYS_readv,
    SYS_writev,
    SYS_pread64,
    SYS_pwrite64,
    SYS_preadv,
    SYS_pwritev,
    SYS_preadv2,
    SYS_pwritev2,
    SYS_lseek,
    SYS_recvfrom,
    SYS_recvmsg,
    SYS_recvmmsg,
    SYS_sendto,
    SYS_sendmsg,
    SYS_sendmmsg,
    SYS_shutdown,
    SYS_getsockopt,
    SYS_getsockname,
    SYS_getpeername,
    SYS_close,
    SYS_close_range,
    SYS_fcntl,
    SYS_dup,
    SYS_dup3,
    SYS_fstat,
    SYS_ppoll,
    SYS_pselect6,
    SYS_epoll_create1,
    SYS_epoll_ctl,
    SYS_epoll_pwait,
    SYS_epoll_pwait2,
    SYS_eventfd2,
    SYS_pipe2,
    // Memory.
    SYS_mmap,
    SYS_munmap,
    SYS_mprotect,
    SYS_madvise,
    SYS_brk,
    SYS_mremap,
    SYS_msync,
    SYS_mincore,
    SYS_membarrier,
    // Time, scheduling, synchronisation, randomness.
    SYS_clock_gettime,
    SYS_clock_getres,
    SYS_gettimeofday,
    SYS_nanosleep,
    SYS_clock_nanosleep,
    SYS_sched_yield,
    SYS_sched_getaffinity,
    SYS_futex,
    SYS_futex_waitv,
    SYS_getrandom,
    SYS_getrusage,
    SYS_times,
    // Identity (harmless reads).
    SYS_getpid,
    SYS_gettid,
    SYS_getppid,
    SYS_getuid,
    SYS_geteuid,
    SYS_getgid,
    SYS_getegid,
    SYS_uname,
    // Signals and threads.
    SYS_rt_sigreturn,
    SYS_rt_sigprocmask,
    SYS_rt_sigaction,
    SYS_sigaltstack,
    SYS_set_robust_list,
    SYS_get_robust_list,
    SYS_rseq,
    SYS_set_tid_address,
    SYS_restart_syscall,
    SYS_exit,
    SYS_exit_group,
];

#[cfg(target_arch = "x86_64")]
const ALLOWED_ARCH: Syscalls = syscalls![
    SYS_poll,
    SYS_select,
    SYS_epoll_wait,
    SYS_epoll_create,
    SYS_eventfd,
    SYS_pipe,
    SYS_dup2,
    SYS_time,
    SYS_arch_prctl,
];
#[cfg(not(target_arch = "x86_64"))]
const ALLOWED_ARCH: Syscalls = &[];

/// Fail with `EPERM` (so the denial is observable as an error, not a kill): paths, new
/// sockets, exec, tracing, privileged kernel interfaces, namespaces, filter changes.
const DENIED: Syscalls = syscalls![
    // Filesystem paths.
    SYS_openat,
    SYS_openat2,
    SYS_newfstatat,
    SYS_statx,
    SYS_faccessat,
    SYS_faccessat2,
    SYS_readlinkat,
    SYS_name_to_handle_at,
    SYS_open_by_handle_at,
    SYS_memfd_create,
    SYS_ioctl,
    // Working directory (std's panic hook asks for it when printing a backtrace).
    SYS_getcwd,
    SYS_chdir,
    SYS_fchdir,
    // Network (socketpair is allowed for AF_UNIX only, see below).
    SYS_socket,
    SYS_connect,
    SYS_bind,
    SYS_listen,
    SYS_accept,
    SYS_accept4,
    // Processes.
    SYS_execve,
    SYS_execveat,
    SYS_ptrace,
    SYS_process_vm_readv,
    SYS_process_vm_writev,
    SYS_pidfd_open,
    SYS_pidfd_getfd,
    SYS_kill,
    SYS_tkill,
    // Privileged or risky kernel interfaces.
    SYS_io_uring_setup,
    SYS_io_uring_enter,
    SYS_io_uring_register,
    SYS_bpf,
    SYS_userfaultfd,
    SYS_perf_event_open,
    SYS_keyctl,
    SYS_add_key,
    SYS_request_key,
    SYS_kexec_load,
    SYS_kexec_file_load,
    SYS_init_module,
    SYS_finit_module,
    SYS_delete_module,
    // Mounts and namespaces.
    SYS_mount,
    SYS_umount2,
    SYS_pivot_root,
    SYS_chroot,
    SYS_fsopen,
    SYS_fsconfig,
    SYS_fsmount,
    SYS_fspick,
    SYS_move_mount,
    SYS_open_tree,
    SYS_mount_setattr,
    SYS_unshare,
    SYS_setns,
    // Sandbox changes.
    SYS_seccomp,
    SYS_landlock_create_ruleset,
    SYS_landlock_add_rule,
    SYS_landlock_restrict_self,
    SYS_setrlimit,
];

#[cfg(target_arch = "x86_64")]
const DENIED_ARCH: Syscalls = syscalls![
    SYS_open,
    SYS_creat,
    SYS_stat,
    SYS_lstat,
    SYS_access,
    SYS_readlink,
];
#[cfg(not(target_arch = "x86_64"))]
const DENIED_ARCH: Syscalls = &[];

/// The policy in words, for reports and `islet doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeccompPolicy {
    /// Allowed unconditionally.
    pub allowed: Vec<&'static str>,
    /// Allowed when their arguments match (e.g. `clone` with `CLONE_THREAD`).
    pub conditional: Vec<&'static str>,
    /// Fail with `EPERM`.
    pub eperm: Vec<&'static str>,
    /// Fail with `ENOSYS`.
    pub enosys: Vec<&'static str>,
}

fn name(sys: &'static str) -> &'static str {
    sys.trim_start_matches("SYS_")
}

/// The syscall policy [`super::harden`] installs on this architecture. Anything not listed
/// kills the process.
pub fn seccomp_policy() -> SeccompPolicy {
    SeccompPolicy {
        allowed: ALLOWED
            .iter()
            .chain(ALLOWED_ARCH)
            .map(|(n, _)| name(n))
            .collect(),
        conditional: vec![
            "clone (CLONE_THREAD set)",
            "tgkill (this process)",
            "prlimit64 (read only)",
            "prctl (PR_SET_NAME, PR_GET_NAME; other options EPERM)",
            "socketpair (AF_UNIX; other families EPERM)",
        ],
        eperm: DENIED
            .iter()
            .chain(DENIED_ARCH)
            .map(|(n, _)| name(n))
            .collect(),
        enosys: vec!["clone3"],
    }
}

fn cond(
    arg: u8,
    op: SeccompCmpOp,
    value: u64,
) -> Result<SeccompCondition, seccompiler::BackendError> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Qword, op, value)
}

fn cond32(
    arg: u8,
    op: SeccompCmpOp,
    value: u64,
) -> Result<SeccompCondition, seccompiler::BackendError> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value)
}

struct Programs {
    enosys: BpfProgram,
    eperm: BpfProgram,
    allow: BpfProgram,
}

fn build() -> Result<Programs, String> {
    let arch =
        TargetArch::try_from(std::env::consts::ARCH).map_err(|e| format!("seccompiler: {e}"))?;
    let err = |e: seccompiler::BackendError| format!("seccompiler: {e}");
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() } as u64;

    // 1. clone3 → ENOSYS.
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    rules.insert(libc::SYS_clone3, vec![]);
    let enosys = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .map_err(err)?;

    // 2. DENIED → EPERM; prctl other than naming threads → EPERM.
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for (_, nr) in DENIED.iter().chain(DENIED_ARCH) {
        rules.insert(*nr, vec![]);
    }
    rules.insert(
        libc::SYS_prctl,
        vec![
            SeccompRule::new(vec![
                cond32(0, SeccompCmpOp::Ne, libc::PR_SET_NAME as u64).map_err(err)?,
                cond32(0, SeccompCmpOp::Ne, libc::PR_GET_NAME as u64).map_err(err)?,
            ])
            .map_err(err)?,
        ],
    );
    rules.insert(
        libc::SYS_socketpair,
        vec![
            SeccompRule::new(vec![
                cond32(0, SeccompCmpOp::Ne, libc::AF_UNIX as u64).map_err(err)?,
            ])
            .map_err(err)?,
        ],
    );
    let eperm = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(err)?;

    // 3. The allowlist; everything else kills the process.
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for (_, nr) in ALLOWED
        .iter()
        .chain(ALLOWED_ARCH)
        .chain(DENIED)
        .chain(DENIED_ARCH)
    {
        rules.insert(*nr, vec![]);
    }
    rules.insert(libc::SYS_clone3, vec![]);
    rules.insert(libc::SYS_prctl, vec![]);
    rules.insert(libc::SYS_socketpair, vec![]);
    let clone_thread = libc::CLONE_THREAD as u64;
    rules.insert(
        libc::SYS_clone,
        vec![
            SeccompRule::new(vec![
                cond(0, SeccompCmpOp::MaskedEq(clone_thread), clone_thread).map_err(err)?,
            ])
            .map_err(err)?,
        ],
    );
    // abort() raises SIGABRT on its own thread; nothing may signal another process.
    rules.insert(
        libc::SYS_tgkill,
        vec![SeccompRule::new(vec![cond32(0, SeccompCmpOp::Eq, pid).map_err(err)?]).map_err(err)?],
    );
    // prlimit64(pid, resource, NULL, old): reading limits only.
    rules.insert(
        libc::SYS_prlimit64,
        vec![SeccompRule::new(vec![cond(2, SeccompCmpOp::Eq, 0).map_err(err)?]).map_err(err)?],
    );
    let allow = SeccompFilter::new(
        rules,
        SeccompAction::KillProcess,
        SeccompAction::Allow,
        arch,
    )
    .map_err(err)?;

    let compile = |f: SeccompFilter| BpfProgram::try_from(f).map_err(err);
    Ok(Programs {
        enosys: compile(enosys)?,
        eperm: compile(eperm)?,
        allow: compile(allow)?,
    })
}

pub(super) fn apply() -> Layer {
    let programs = match build() {
        Ok(p) => p,
        Err(e) => return Layer::unavailable(SECCOMP, e),
    };
    // TSYNC: threads that exist despite the documented constraint are covered too. The
    // order matters: each filter must still allow `seccomp` for the next one, so the EPERM
    // filter (which denies `seccomp`) goes last.
    for (what, program) in [
        ("clone3 filter", &programs.enosys),
        ("allowlist filter", &programs.allow),
        ("EPERM filter", &programs.eperm),
    ] {
        if let Err(e) = seccompiler::apply_filter_all_threads(program) {
            return Layer::unavailable(SECCOMP, format!("installing the {what}: {e}"));
        }
    }
    let policy = seccomp_policy();
    Layer::active(
        SECCOMP,
        format!(
            "{} syscalls allowed, {} conditionally, {} fail with EPERM, clone3 with ENOSYS; any \
             other kills the process",
            policy.allowed.len(),
            policy.conditional.len(),
            policy.eperm.len()
        ),
    )
}
