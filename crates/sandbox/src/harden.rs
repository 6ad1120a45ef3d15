//! OS hardening for isolate worker processes.
//!
//! We treat QuickJS-ng as exploitable: a worker process that runs untrusted JavaScript
//! drops every privilege it does not need *after start-up and before any untrusted code
//! runs*, so that an engine compromise gains no filesystem, no network, no new processes
//! and no privileged kernel interfaces. [`harden`] applies these layers, in order:
//!
//! 1. `no_new_privs`: `prctl(PR_SET_NO_NEW_PRIVS)` (also a precondition of Landlock and of
//!    seccomp without `CAP_SYS_ADMIN`).
//! 2. `user_namespace`, `network_namespace`, `mount_namespace`:
//!    `unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWNS)`, where the kernel allows it. The
//!    worker then holds no capability in the initial namespaces and sees only a loopback
//!    interface that is down.
//! 3. `rlimits`: address space (4 GiB by default; isolate heaps are budgeted separately),
//!    open files (64), core dumps (0, and `PR_SET_DUMPABLE` 0), and tasks
//!    (`RLIMIT_NPROC`, only inside the private user namespace, see
//!    [`HardenConfig::max_processes`]).
//! 4. `landlock`: a ruleset that handles every filesystem (and TCP, and scope) access right
//!    the kernel knows and grants none: no path can be opened, created or executed.
//! 5. `seccomp`: a syscall allowlist (see [`seccomp_policy`]). Named dangerous syscalls
//!    (`openat`, `socket`, `connect`, `execve`, `ptrace`, `io_uring_*`, `bpf`, `mount`,
//!    `unshare`, ...) fail with `EPERM`, so callers and tests observe the denial as an error;
//!    every other syscall that is not allowed **kills the process** (`SECCOMP_RET_KILL_PROCESS`,
//!    seen by the parent as death by `SIGSYS`).
//! 6. `empty_environment`: checked, not applied: workers are spawned with `env_clear()`;
//!    see [`check_environment`].
//!
//! # Constraints for the caller
//!
//! - **Call [`harden`] while the process is still single-threaded**, i.e. before spawning
//!   any thread (and before starting an async runtime). The kernel refuses
//!   `unshare(CLONE_NEWUSER)` in a multithreaded process, and Landlock (below ABI 8) and
//!   `no_new_privs` apply to the calling thread only. Seccomp is installed with `TSYNC`, so
//!   it covers threads that exist anyway. Threads spawned *after* hardening inherit every
//!   layer.
//! - Threads may be spawned after hardening: `clone` is allowed with `CLONE_THREAD` only
//!   (what `pthread_create` passes), and `clone3` returns `ENOSYS` so glibc falls back to
//!   `clone` (seccomp cannot inspect `clone3`'s flags, which live in memory).
//! - File descriptors: open everything the worker needs (its socket, stdio, pipes,
//!   `eventfd`s) **before** hardening. Afterwards no path can be opened and no socket
//!   created; existing descriptors keep working (read/write/send/recv/poll/epoll/close,
//!   `fcntl`, `dup`). At most [`HardenConfig::open_files`] descriptors can be open.
//! - Forking or executing is impossible afterwards; [`probe()`] therefore forks *before*
//!   hardening, in the child.
//!
//! [`harden`] never panics: a layer that cannot be applied is reported
//! [`LayerStatus::Unavailable`] with the reason, and the remaining layers are still applied.

#![allow(unsafe_code)]

mod escape;
mod namespaces;
mod probe;
mod rlimits;
mod ruleset;
mod seccomp;

pub use escape::{EscapeAttempt, escape_test};
pub use probe::probe;
pub use seccomp::{SeccompPolicy, seccomp_policy};

use std::fmt;

/// Layer names, in the order [`harden`] applies them and reports them.
pub const LAYERS: [&str; 8] = [
    NO_NEW_PRIVS,
    USER_NAMESPACE,
    NETWORK_NAMESPACE,
    MOUNT_NAMESPACE,
    RLIMITS,
    LANDLOCK,
    SECCOMP,
    EMPTY_ENVIRONMENT,
];

/// `prctl(PR_SET_NO_NEW_PRIVS)`: no exec can gain privileges.
pub const NO_NEW_PRIVS: &str = "no_new_privs";
/// A private user namespace, so the worker holds no capability on the host.
pub const USER_NAMESPACE: &str = "user_namespace";
/// An empty network namespace: no interface but loopback.
pub const NETWORK_NAMESPACE: &str = "network_namespace";
/// A private mount namespace, so mounts cannot leak out.
pub const MOUNT_NAMESPACE: &str = "mount_namespace";
/// Resource limits (address space, open files, processes).
pub const RLIMITS: &str = "rlimits";
/// A Landlock ruleset that grants no filesystem access.
pub const LANDLOCK: &str = "landlock";
/// The seccomp system-call allowlist.
pub const SECCOMP: &str = "seccomp";
/// The process environment holds no variables.
pub const EMPTY_ENVIRONMENT: &str = "empty_environment";

/// What [`harden`] applies. The [`Default`] is the production configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HardenConfig {
    /// `RLIMIT_AS` in bytes; `None` leaves it unchanged. Default 4 GiB: isolate heaps have
    /// their own exact budgets, this only bounds the process as a whole.
    pub address_space_bytes: Option<u64>,
    /// `RLIMIT_NOFILE`. Default 64: the worker needs its socket, stdio and a few internal
    /// descriptors (eventfds, epoll, pipes).
    pub open_files: u64,
    /// `RLIMIT_NPROC`, which the kernel counts per user **and includes threads**. It is set
    /// only when the private user namespace is active, where it counts this worker's tasks
    /// alone (outside one, it would count every process of the uid on the machine and break
    /// workers that share a uid). It must leave room for the threads the worker spawns after
    /// hardening: it is the total number of tasks, this one included. Root is exempt from
    /// it; seccomp already kills `fork`, so this is a second line of defence. Default 64.
    pub max_processes: Option<u64>,
    /// Unshare user, network and mount namespaces. Default true.
    pub namespaces: bool,
    /// Apply the deny-everything Landlock ruleset. Default true.
    pub landlock: bool,
    /// Install the seccomp filter. Default true.
    pub seccomp: bool,
}

impl Default for HardenConfig {
    fn default() -> Self {
        Self {
            address_space_bytes: Some(4 << 30),
            open_files: 64,
            max_processes: Some(64),
            namespaces: true,
            landlock: true,
            seccomp: true,
        }
    }
}

/// Whether one layer is in force.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LayerStatus {
    /// In force.
    Active,
    /// Not in force, with the reason (e.g. `unshare(CLONE_NEWUSER): EPERM`).
    Unavailable(String),
}

/// One hardening layer and its status: what `harden` returns, `islet doctor` prints and a
/// worker process reports to its supervisor when it starts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Layer {
    /// One of [`LAYERS`].
    pub name: String,
    /// Whether the layer is in force, or why not.
    pub status: LayerStatus,
    /// What exactly is in force (e.g. `ABI 6, fully enforced`); may be empty.
    pub detail: String,
}

impl Layer {
    /// Whether this layer is in force.
    pub fn is_active(&self) -> bool {
        self.status == LayerStatus::Active
    }

    fn active(name: &str, detail: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            status: LayerStatus::Active,
            detail: detail.into(),
        }
    }

    fn unavailable(name: &str, reason: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            status: LayerStatus::Unavailable(reason.into()),
            detail: String::new(),
        }
    }
}

/// What [`harden`] (or [`probe()`]) found, one entry per layer in [`LAYERS`] order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HardenReport {
    /// One entry per layer, in [`LAYERS`] order.
    pub layers: Vec<Layer>,
}

impl HardenReport {
    /// The entry for the layer named `name` (one of [`LAYERS`]), if reported.
    pub fn layer(&self, name: &str) -> Option<&Layer> {
        self.layers.iter().find(|l| l.name == name)
    }

    /// Whether the layer named `name` was reported and is in force.
    pub fn is_active(&self, name: &str) -> bool {
        self.layer(name).is_some_and(Layer::is_active)
    }
}

/// Hardens the calling process. **Call it before spawning any thread** (see the module
/// docs). Never panics; layers that cannot be applied are reported unavailable.
pub fn harden(config: &HardenConfig) -> HardenReport {
    let mut layers = Vec::with_capacity(LAYERS.len());
    let threads = namespaces::thread_count();

    layers.push(no_new_privs());
    let ns = if config.namespaces {
        namespaces::unshare_all(threads)
    } else {
        [USER_NAMESPACE, NETWORK_NAMESPACE, MOUNT_NAMESPACE]
            .map(|name| Layer::unavailable(name, "disabled by configuration"))
    };
    let userns_active = ns[0].is_active();
    layers.extend(ns);
    layers.push(rlimits::apply(config, userns_active));
    layers.push(if config.landlock {
        ruleset::apply()
    } else {
        Layer::unavailable(LANDLOCK, "disabled by configuration")
    });
    layers.push(if config.seccomp {
        seccomp::apply()
    } else {
        Layer::unavailable(SECCOMP, "disabled by configuration")
    });
    layers.push(match check_environment() {
        Ok(()) => Layer::active(EMPTY_ENVIRONMENT, "no environment variables"),
        Err(e) => Layer::unavailable(EMPTY_ENVIRONMENT, e.to_string()),
    });
    HardenReport { layers }
}

fn no_new_privs() -> Layer {
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only and touches no memory of ours.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if rc == 0 {
        Layer::active(NO_NEW_PRIVS, "prctl(PR_SET_NO_NEW_PRIVS, 1)")
    } else {
        Layer::unavailable(
            NO_NEW_PRIVS,
            format!("prctl(PR_SET_NO_NEW_PRIVS): {}", errno_name(last_errno())),
        )
    }
}

/// The environment is not empty: the names (never the values) of the variables present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentNotEmpty {
    /// The variable names found.
    pub names: Vec<String>,
}

impl fmt::Display for EnvironmentNotEmpty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 8;
        write!(
            f,
            "{} environment variable(s) present: {}",
            self.names.len(),
            self.names[..self.names.len().min(SHOWN)].join(", ")
        )?;
        if self.names.len() > SHOWN {
            write!(f, ", …")?;
        }
        Ok(())
    }
}

impl std::error::Error for EnvironmentNotEmpty {}

/// Fails if any environment variable is present: a worker is spawned with `env_clear()`,
/// so secrets of the host process cannot leak into a compromised worker.
pub fn check_environment() -> Result<(), EnvironmentNotEmpty> {
    let names: Vec<String> = std::env::vars_os()
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .collect();
    if names.is_empty() {
        Ok(())
    } else {
        Err(EnvironmentNotEmpty { names })
    }
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `EPERM`, `EINVAL`, ...: the symbolic name of an errno, for reasons in reports.
pub fn errno_name(errno: i32) -> String {
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EINVAL => "EINVAL",
        libc::EMFILE => "EMFILE",
        libc::ENOSPC => "ENOSPC",
        libc::ENOSYS => "ENOSYS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EUSERS => "EUSERS",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::ECONNREFUSED => "ECONNREFUSED",
        _ => return format!("errno {errno}"),
    };
    name.to_owned()
}
