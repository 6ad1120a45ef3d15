//! What a sandbox is made of and what it may consume.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// How to build a sandbox.
#[derive(Debug, Clone)]
pub struct Config {
    /// The bubblewrap executable.
    pub bwrap: PathBuf,
    /// The command that runs [`crate::init::main`]: an executable and its arguments,
    /// e.g. `[islet, "linuxbox-init"]`. It is bind-mounted read-only into the sandbox.
    pub init: Vec<OsString>,
    /// The root filesystem.
    pub rootfs: RootFs,
    /// A host directory for the sandbox's files: each start makes `run-*/` in it (the
    /// `/workspace` copy and bubblewrap's log), removed once the sandbox has ended.
    pub state_dir: PathBuf,
    /// Memory, process, time, output and file limits every sandbox gets.
    pub limits: Limits,
    /// Variables every command gets (before the command's own). Nothing from islet's
    /// environment enters a sandbox unless it is listed here or in a command's options.
    pub env: Vec<(String, String)>,
    /// The sandbox's way out: `None` (the default), no network at all (loopback only);
    /// `Some`, an HTTP proxy on the host that asks this connector about every connection
    /// (commands get `HTTP_PROXY`/`HTTPS_PROXY`). See [`crate::network`].
    pub network: Option<std::sync::Arc<dyn crate::network::Connector>>,
}

impl Config {
    /// Host root filesystem, default limits, `bwrap` from `PATH`.
    pub fn new(init: Vec<OsString>, state_dir: impl Into<PathBuf>) -> Config {
        Config {
            bwrap: PathBuf::from("bwrap"),
            init,
            rootfs: RootFs::Host,
            state_dir: state_dir.into(),
            limits: Limits::default(),
            env: vec![
                (
                    "PATH".into(),
                    "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin".into(),
                ),
                ("HOME".into(), "/tmp".into()),
                ("LANG".into(), "C.UTF-8".into()),
                ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
            ],
            network: None,
        }
    }
}

/// The sandbox's `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootFs {
    /// Read-only binds of the host's `/usr` (and `/bin`, `/lib*`, `/sbin`), and of the few
    /// files of `/etc` programs need (never `/etc/shadow` or credentials).
    Host,
    /// A directory the operator prepared (e.g. with debootstrap), bound read-only as `/`.
    /// Its libc must run the init executable (it is linked against the host's).
    Dir(PathBuf),
}

/// What a sandbox may consume. Memory and process count are cgroup limits where this
/// machine allows (see [`Linuxbox::capabilities`](crate::Linuxbox::capabilities)), rlimits otherwise.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Memory of all the sandbox's processes together (cgroup); per process address space
    /// (`RLIMIT_AS`) without cgroups.
    pub memory_bytes: u64,
    /// Processes and threads in the sandbox (cgroup `pids.max`); per user (`RLIMIT_NPROC`)
    /// without cgroups.
    pub pids: u64,
    /// CPU time all the sandbox's processes together get per wall-clock second (`0.5`: half
    /// a core, `2.0`: two cores), as a cgroup CPU quota (`cpu.max`, or v1
    /// `cpu.cfs_quota_us`) where the cpu controller is ours; no limit otherwise
    /// ([`Capabilities::cpu`](crate::Capabilities::cpu) says which). Must be positive.
    pub cpus: f64,
    /// Wall-clock limit of one command unless its options say otherwise.
    pub timeout: Duration,
    /// Between SIGTERM and SIGKILL of a command's process group at its timeout.
    pub kill_grace: Duration,
    /// Output kept per stream of one command; the rest is counted and dropped.
    pub output_bytes: usize,
    /// Log kept per stream of a background process (the newest bytes).
    pub log_bytes: usize,
    /// Background processes are stopped when the sandbox has had no call for this long.
    pub idle_timeout: Duration,
    /// The largest file a process may write (`RLIMIT_FSIZE`).
    pub file_bytes: u64,
    /// Open descriptors per process (`RLIMIT_NOFILE`).
    pub open_files: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 512 << 20,
            pids: 256,
            cpus: 1.0,
            timeout: Duration::from_secs(30),
            kill_grace: Duration::from_millis(500),
            output_bytes: 1 << 20,
            log_bytes: 1 << 20,
            idle_timeout: Duration::from_secs(600),
            file_bytes: store::MAX_FILE_BYTES as u64,
            open_files: 1024,
        }
    }
}
