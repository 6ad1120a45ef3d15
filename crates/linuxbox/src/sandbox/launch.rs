//! Starting bubblewrap: its arguments (the sandbox's namespaces and filesystem) and what
//! the forked child does before exec (join the cgroup, set rlimits, hand descriptors on).

use std::ffi::OsString;
use std::os::fd::{AsRawFd as _, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::config::{Config, RootFs};
use crate::error::Error;
use crate::protocol::SOCKET_ENV;

/// Where the init executable appears inside the sandbox.
const INIT_PATH: &str = "/run/islet/init";

/// The uid and gid processes have inside the sandbox.
const SANDBOX_ID: &str = "1000";

/// The host uid a sandbox runs as when islet runs as root: bubblewrap maps the sandbox's
/// user to the uid that starts it, and root's files (in `/etc` above all) must stay
/// out of reach.
pub(crate) const ROOT_RUNS_AS: u32 = 65534;

/// Files of the host's `/etc` a program may need, none of them secret.
const ETC_FILES: &[&str] = &[
    "passwd",
    "group",
    "hosts",
    "nsswitch.conf",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "alternatives",
    "ssl/certs",
    "ca-certificates",
    "mime.types",
    "os-release",
];

/// [`ETC_FILES`] copied once per process into one directory, bound read-only as `/etc`:
/// one mount instead of one per file (a third of a sandbox's start-up when they were
/// thirteen binds). Symlinks are copied as symlinks; what is missing on the host is left
/// out. A host `/etc` changed later reaches sandboxes after islet restarts.
fn etc_dir() -> Result<&'static Path, Error> {
    static ETC: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    ETC.get_or_init(|| {
        remove_stale_etc_dirs();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("islet-linuxbox-etc-{}-{nanos}", std::process::id()));
        // `create_dir`, not `_all`: a directory someone else made first is refused.
        std::fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("cannot make {} readable: {e}", dir.display()))?;
        for file in ETC_FILES {
            copy_tree(&Path::new("/etc").join(file), &dir.join(file))
                .map_err(|e| format!("cannot copy /etc/{file}: {e}"))?;
        }
        Ok(dir)
    })
    .as_deref()
    .map_err(|e| Error::Unavailable(e.clone()))
}

/// Copies left by islet processes that have ended (they cannot remove their own).
fn remove_stale_etc_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("islet-linuxbox-etc-"))
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let meta = match std::fs::symlink_metadata(from) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if meta.file_type().is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)
    } else if meta.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::copy(from, to).map(|_| ())
    }
}

/// Top-level directories of a merged-`/usr` (or classic) host root.
const SYSTEM_DIRS: &[&str] = &["bin", "sbin", "lib", "lib32", "lib64", "libx32"];

pub(crate) struct Launch<'a> {
    pub config: &'a Config,
    pub workspace_dir: &'a Path,
    pub log: std::fs::File,
    /// The init's end of the socket.
    pub socket: OwnedFd,
    /// `cgroup.procs` files to join, opened by the parent.
    pub cgroup_procs: Vec<OwnedFd>,
    /// Compiled seccomp filters.
    pub seccomp: Vec<Vec<u8>>,
    pub with_cgroup: bool,
    pub run_as: Option<u32>,
    /// The host directory holding the network proxy's socket, when the sandbox has one.
    pub net_dir: Option<&'a Path>,
}

/// Starts bubblewrap, which starts the init.
pub(crate) fn spawn(launch: Launch<'_>) -> Result<Child, Error> {
    let config = launch.config;
    let mut seccomp_fds = Vec::new();
    for program in &launch.seccomp {
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| Error::Unavailable(format!("cannot create a pipe: {e}")))?;
        // A filter is a few hundred bytes, far below a pipe's buffer: this never blocks.
        let mut write = std::fs::File::from(write);
        std::io::Write::write_all(&mut write, program)
            .map_err(|e| Error::Unavailable(format!("cannot pass the seccomp filter: {e}")))?;
        seccomp_fds.push(read);
    }
    let mut args: Vec<OsString> = Vec::new();
    let mut arg = |a: &str| args.push(a.into());
    for flag in [
        "--unshare-user",
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
    ] {
        arg(flag);
    }
    for a in [
        "--uid",
        SANDBOX_ID,
        "--gid",
        SANDBOX_ID,
        "--hostname",
        "islet",
    ] {
        arg(a);
    }
    let socket_number = launch.socket.as_raw_fd().to_string();
    for a in ["--setenv", SOCKET_ENV, &socket_number] {
        arg(a);
    }
    match &config.rootfs {
        RootFs::Host => {
            bind(&mut args, "--ro-bind", Path::new("/usr"), "/usr");
            for dir in SYSTEM_DIRS {
                let host = Path::new("/").join(dir);
                match std::fs::read_link(&host) {
                    Ok(target) => bind(&mut args, "--symlink", &target, &format!("/{dir}")),
                    Err(_) if host.is_dir() => {
                        bind(&mut args, "--ro-bind", &host, &format!("/{dir}"))
                    }
                    Err(_) => {}
                }
            }
            bind(&mut args, "--ro-bind", etc_dir()?, "/etc");
        }
        RootFs::Dir(root) => bind(&mut args, "--ro-bind", root, "/"),
    }
    // tmpfs pages are memory (charged to the sandbox's cgroup): /tmp may take half the
    // memory limit and /dev/shm a quarter, so a full /tmp leaves room to clean it up, and
    // without a cgroup neither can take the host's RAM.
    let tmp_size = (config.limits.memory_bytes / 2).to_string();
    let shm_size = (config.limits.memory_bytes / 4).to_string();
    for a in [
        "--proc", "/proc", "--dev", "/dev", "--size", &shm_size, "--tmpfs", "/dev/shm", "--size",
        &tmp_size, "--tmpfs", "/tmp",
    ] {
        args.push(a.into());
    }
    bind(&mut args, "--bind", launch.workspace_dir, "/workspace");
    if let Some(dir) = launch.net_dir {
        // Read-only: connecting to a socket needs no write access to its filesystem.
        bind(&mut args, "--ro-bind", dir, crate::network::SOCKET_DIR);
        for a in [
            "--setenv",
            crate::network::PROXY_ENV,
            crate::network::SOCKET_PATH,
        ] {
            args.push(a.into());
        }
    }
    let init_exe = config.init.first().ok_or_else(|| {
        Error::InvalidArgument("the sandbox config names no init executable".into())
    })?;
    bind(&mut args, "--ro-bind", Path::new(init_exe), INIT_PATH);
    for fd in &seccomp_fds {
        args.push("--add-seccomp-fd".into());
        args.push(fd.as_raw_fd().to_string().into());
    }
    // bubblewrap builds the root on a tmpfs the sandbox's user owns: make it and /dev
    // read-only, leaving /tmp, /dev/shm and /workspace (mounts of their own) writable.
    for a in [
        "--remount-ro",
        "/dev",
        "--remount-ro",
        "/",
        "--chdir",
        "/workspace",
        "--",
        INIT_PATH,
    ] {
        args.push(a.into());
    }
    args.extend(config.init[1..].iter().cloned());

    let mut command = Command::new(&config.bwrap);
    command
        .args(&args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(launch.log));
    if let Some(uid) = launch.run_as {
        command.uid(uid).gid(uid);
    }
    let limits = &config.limits;
    let mut rlimits = vec![
        (libc::RLIMIT_CORE, 0),
        (libc::RLIMIT_FSIZE, limits.file_bytes),
        (libc::RLIMIT_NOFILE, limits.open_files),
    ];
    if !launch.with_cgroup {
        rlimits.push((libc::RLIMIT_AS, limits.memory_bytes));
        rlimits.push((libc::RLIMIT_NPROC, limits.pids));
    }
    let inherit: Vec<RawFd> = std::iter::once(launch.socket.as_raw_fd())
        .chain(seccomp_fds.iter().map(|fd| fd.as_raw_fd()))
        .collect();
    let cgroup_procs: Vec<RawFd> = launch
        .cgroup_procs
        .iter()
        .map(|fd| fd.as_raw_fd())
        .collect();
    before_exec(&mut command, inherit, cgroup_procs, rlimits);
    let child = command.spawn().map_err(|e| {
        Error::Unavailable(format!(
            "cannot start bubblewrap (`{}`): {e}; install it (`apt-get install bubblewrap`) or \
             set the sandbox config's bwrap path",
            config.bwrap.display()
        ))
    })?;
    // The child has its copies; these (and the cgroup files, the socket end) close here.
    drop(seccomp_fds);
    Ok(child)
}

/// In the forked child, before exec: join the cgroup (so bubblewrap and everything it
/// starts are counted), apply rlimits, and clear close-on-exec on the descriptors
/// bubblewrap hands on.
#[allow(unsafe_code)]
fn before_exec(
    command: &mut Command,
    inherit: Vec<RawFd>,
    cgroup_procs: Vec<RawFd>,
    rlimits: Vec<(libc::__rlimit_resource_t, u64)>,
) {
    let hook = move || -> std::io::Result<()> {
        for &fd in &cgroup_procs {
            // SAFETY: `fd` is open (the parent keeps it until spawn returns); writing a
            // static one-byte buffer is async-signal-safe.
            if unsafe { libc::write(fd, c"0".as_ptr().cast(), 1) } != 1 {
                return Err(std::io::Error::last_os_error());
            }
        }
        for &(resource, value) in &rlimits {
            let limit = libc::rlimit {
                rlim_cur: value,
                rlim_max: value,
            };
            // SAFETY: `limit` is a valid rlimit; setrlimit is async-signal-safe.
            if unsafe { libc::setrlimit(resource, &limit) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        for &fd in &inherit {
            // SAFETY: F_SETFD on an open descriptor; async-signal-safe.
            if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    };
    // SAFETY: the hook allocates nothing and only makes async-signal-safe system calls on
    // values prepared before the fork.
    unsafe {
        command.pre_exec(hook);
    }
}

fn bind(args: &mut Vec<OsString>, kind: &str, from: &Path, to: &str) {
    args.push(kind.into());
    args.push(from.into());
    args.push(to.into());
}
