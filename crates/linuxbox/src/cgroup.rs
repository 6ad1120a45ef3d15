//! A cgroup per sandbox for the memory and process-count limits, under the cgroup this
//! process is in (so a sandbox never escapes limits the operator put on islet). cgroup v2
//! is used when the controllers are delegated to our cgroup, else cgroup v1 hierarchies
//! (one directory per controller). Creating a cgroup needs write access there, in practice
//! root or systemd delegation; without it the sandbox falls back to rlimits and
//! [`detect`] says why.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

const ROOT: &str = "/sys/fs/cgroup";

/// Which kind of cgroup limits this machine gives sandboxes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Support {
    /// cgroup v2, with the memory and pids controllers delegated to `parent`.
    V2 {
        /// Our cgroup, under which each sandbox gets its own.
        parent: PathBuf,
    },
    /// cgroup v1: our cgroups in the memory and the pids hierarchies.
    V1 {
        /// Our cgroup in the memory hierarchy.
        memory: PathBuf,
        /// Our cgroup in the pids hierarchy.
        pids: PathBuf,
    },
    /// No usable cgroup, with why; sandboxes get rlimits instead.
    Unavailable(String),
}

impl Support {
    /// One line for `islet doctor` and the sandbox's capabilities: where, or why not.
    pub(crate) fn describe(&self) -> String {
        match self {
            Support::V2 { parent } => format!("cgroup v2 under {}", parent.display()),
            Support::V1 { memory, pids } => format!(
                "cgroup v1 under {} and {}",
                memory.display(),
                pids.display()
            ),
            Support::Unavailable(reason) => reason.clone(),
        }
    }
}

/// [`detect`], once per process: what a machine offers does not change while islet runs,
/// and the probe's mkdir/rmdir pair would otherwise be on every sandbox's start.
pub(crate) fn detected() -> &'static Support {
    static SUPPORT: std::sync::OnceLock<Support> = std::sync::OnceLock::new();
    SUPPORT.get_or_init(detect)
}

/// Finds where sandboxes' cgroups can go, checking that a child cgroup can be created.
pub(crate) fn detect() -> Support {
    let own = match std::fs::read_to_string("/proc/self/cgroup") {
        Ok(text) => text,
        Err(e) => return Support::Unavailable(format!("cannot read /proc/self/cgroup: {e}")),
    };
    let path_of = |controller: &str| {
        own.lines().find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let matches = if controller.is_empty() {
                controllers.is_empty()
            } else {
                controllers.split(',').any(|c| c == controller)
            };
            matches.then(|| path.trim_start_matches('/').to_string())
        })
    };
    let mut reasons = Vec::new();
    // v2: the unified hierarchy at /sys/fs/cgroup, or at /sys/fs/cgroup/unified (hybrid).
    if let Some(path) = path_of("") {
        for mount in [ROOT.to_string(), format!("{ROOT}/unified")] {
            let parent = Path::new(&mount).join(&path);
            let delegated =
                std::fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap_or_default();
            let words: Vec<&str> = delegated.split_whitespace().collect();
            if !Path::new(&mount).join("cgroup.controllers").exists() {
                continue;
            }
            if words.contains(&"memory") && words.contains(&"pids") {
                return match probe_mkdir(&parent) {
                    Ok(()) => Support::V2 { parent },
                    Err(e) => Support::Unavailable(e),
                };
            }
            reasons.push(format!(
                "cgroup v2 at {mount}: the memory and pids controllers are not delegated to {} \
                 (cgroup.subtree_control: `{}`)",
                parent.display(),
                delegated.trim()
            ));
        }
    }
    // v1: one hierarchy per controller.
    let v1 = |controller: &str| -> Result<PathBuf, String> {
        let mount = Path::new(ROOT).join(controller);
        if !mount.join("cgroup.procs").exists() {
            return Err(format!(
                "no cgroup v1 {controller} hierarchy at {}",
                mount.display()
            ));
        }
        let path = path_of(controller)
            .ok_or_else(|| format!("/proc/self/cgroup names no {controller} cgroup"))?;
        let parent = mount.join(path);
        probe_mkdir(&parent)?;
        Ok(parent)
    };
    match (v1("memory"), v1("pids")) {
        (Ok(memory), Ok(pids)) => Support::V1 { memory, pids },
        (memory, pids) => {
            reasons.extend(memory.err());
            reasons.extend(pids.err());
            Support::Unavailable(format!(
                "{}; sandboxes fall back to rlimits (address space, processes per user)",
                reasons.join("; ")
            ))
        }
    }
}

fn probe_mkdir(parent: &Path) -> Result<(), String> {
    let probe = parent.join(base::unique_name("islet-linuxbox-probe"));
    std::fs::create_dir(&probe).map_err(|e| {
        format!(
            "cannot create a cgroup under {}: {e} (needs root or a delegated cgroup)",
            parent.display()
        )
    })?;
    let _ = std::fs::remove_dir(&probe);
    Ok(())
}

/// One sandbox's cgroup (one directory per v1 controller); removed on drop, after killing
/// whatever is still in it.
#[derive(Debug)]
pub(crate) struct Cgroup {
    dirs: Vec<PathBuf>,
    /// Where the OOM-kill counter is: `memory.oom_control` (v1) or `memory.events` (v2).
    oom_file: PathBuf,
}

impl Cgroup {
    /// A new cgroup for one sandbox, limited to `memory_bytes` and `pids` tasks.
    pub(crate) fn create(
        support: &Support,
        memory_bytes: u64,
        pids: u64,
    ) -> Result<Cgroup, String> {
        let name = base::unique_name("islet-linuxbox-box");
        let (dirs, settings, oom_file) = match support {
            Support::V2 { parent } => {
                let dir = parent.join(&name);
                let settings = vec![
                    (dir.join("memory.max"), memory_bytes.to_string()),
                    (dir.join("memory.swap.max"), "0".to_string()),
                    (dir.join("pids.max"), pids.to_string()),
                ];
                let oom = dir.join("memory.events");
                (vec![dir], settings, oom)
            }
            Support::V1 {
                memory,
                pids: pids_parent,
            } => {
                let memory_dir = memory.join(&name);
                let pids_dir = pids_parent.join(&name);
                let settings = vec![
                    (
                        memory_dir.join("memory.limit_in_bytes"),
                        memory_bytes.to_string(),
                    ),
                    (pids_dir.join("pids.max"), pids.to_string()),
                ];
                let oom = memory_dir.join("memory.oom_control");
                (vec![memory_dir, pids_dir], settings, oom)
            }
            Support::Unavailable(reason) => return Err(reason.clone()),
        };
        let mut cgroup = Cgroup {
            dirs: Vec::new(),
            oom_file,
        };
        for dir in dirs {
            std::fs::create_dir(&dir)
                .map_err(|e| format!("cannot create cgroup {}: {e}", dir.display()))?;
            cgroup.dirs.push(dir);
        }
        for (file, value) in settings {
            // `memory.swap.max` is absent without swap accounting; the rest must work.
            if file.ends_with("memory.swap.max") && !file.exists() {
                continue;
            }
            std::fs::write(&file, &value)
                .map_err(|e| format!("cannot set {} to {value}: {e}", file.display()))?;
        }
        Ok(cgroup)
    }

    /// `cgroup.procs` of each directory, opened now so the spawned child can join with a
    /// plain `write` after the fork (the kernel checks the opener's rights).
    pub(crate) fn procs_files(&self) -> Result<Vec<OwnedFd>, String> {
        self.dirs
            .iter()
            .map(|dir| {
                let path = dir.join("cgroup.procs");
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map(OwnedFd::from)
                    .map_err(|e| format!("cannot open {}: {e}", path.display()))
            })
            .collect()
    }

    /// How many processes the kernel's OOM killer has killed in this cgroup.
    pub(crate) fn oom_kills(&self) -> u64 {
        std::fs::read_to_string(&self.oom_file)
            .unwrap_or_default()
            .lines()
            .find_map(|line| line.strip_prefix("oom_kill ")?.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        for dir in &self.dirs {
            // The sandbox's processes die with its PID namespace; give the kernel a moment
            // and kill stragglers (a v1 cgroup has no `cgroup.kill`).
            for _ in 0..50 {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                for pid in std::fs::read_to_string(dir.join("cgroup.procs"))
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|l| l.trim().parse::<i32>().ok())
                    .filter_map(rustix::process::Pid::from_raw)
                {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
}
