//! A cgroup per sandbox for the memory, process-count and CPU limits, under the cgroup this
//! process is in (so a sandbox never escapes limits the operator put on islet). cgroup v2
//! is used when the controllers are delegated to our cgroup, else cgroup v1 hierarchies
//! (one directory per controller). Creating a cgroup needs write access there, in practice
//! root or systemd delegation; without it the sandbox falls back to rlimits and
//! [`detect`] says why. The CPU limit is optional on top: a machine whose cpu controller
//! is not ours still gets memory and pids limits, and [`Support::cpu`] says why no CPU one
//! (rlimits have no equivalent: `RLIMIT_CPU` caps total CPU seconds, not a share).

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
        /// `Ok` when the cpu controller is delegated too (`cpu.max`), else why not.
        cpu: Result<(), String>,
    },
    /// cgroup v1: our cgroups in the memory and the pids hierarchies.
    V1 {
        /// Our cgroup in the memory hierarchy.
        memory: PathBuf,
        /// Our cgroup in the pids hierarchy.
        pids: PathBuf,
        /// Our cgroup in the cpu hierarchy (`cpu.cfs_quota_us`), or why there is none.
        cpu: Result<PathBuf, String>,
    },
    /// No usable cgroup, with why; sandboxes get rlimits instead.
    Unavailable(String),
}

impl Support {
    /// One line for `islet doctor` and the sandbox's capabilities: where, or why not.
    pub(crate) fn describe(&self) -> String {
        match self {
            Support::V2 { parent, .. } => format!("cgroup v2 under {}", parent.display()),
            Support::V1 { memory, pids, .. } => format!(
                "cgroup v1 under {} and {}",
                memory.display(),
                pids.display()
            ),
            Support::Unavailable(reason) => reason.clone(),
        }
    }

    /// Whether sandboxes get a CPU limit here: where it is written, or why not.
    pub(crate) fn cpu(&self) -> Result<String, String> {
        match self {
            Support::V2 { parent, cpu } => cpu
                .clone()
                .map(|()| format!("cgroup v2 cpu.max under {}", parent.display())),
            Support::V1 { cpu, .. } => cpu
                .as_ref()
                .map(|dir| format!("cgroup v1 cpu.cfs_quota_us under {}", dir.display()))
                .map_err(Clone::clone),
            Support::Unavailable(_) => Err("no cgroup limits here (see cgroup limits)".into()),
        }
    }
}

/// [`detect`], once per process: what a machine offers does not change while islet runs,
/// and the probe's mkdir/rmdir pair would otherwise be on every sandbox's start.
pub(crate) fn detected() -> &'static Support {
    static SUPPORT: std::sync::OnceLock<Support> = std::sync::OnceLock::new();
    SUPPORT.get_or_init(|| {
        let support = detect();
        let parents: Vec<&Path> = match &support {
            Support::V2 { parent, .. } => vec![parent],
            Support::V1 { memory, pids, cpu } => {
                let mut all = vec![memory.as_path(), pids.as_path()];
                all.extend(cpu.as_ref().ok().map(PathBuf::as_path));
                all
            }
            Support::Unavailable(_) => Vec::new(),
        };
        for parent in parents {
            sweep_stale(parent, STALE_AFTER);
        }
        support
    })
}

/// What every sandbox's cgroup is called, followed by a unique suffix.
const PREFIX: &str = "islet-linuxbox-box";

/// Left-over cgroups older than this are removed when a process first uses cgroups: a
/// younger one may be another islet's sandbox being started (created, not yet joined).
const STALE_AFTER: Duration = Duration::from_secs(60);

/// Removes sandboxes' cgroups that a process killed or exiting mid-cleanup left behind
/// under `parent`. Only empty ones go: the kernel refuses to remove a cgroup that still
/// has a process, so a live sandbox of another islet keeps its own.
pub(crate) fn sweep_stale(parent: &Path, older_than: Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let stale = name.to_string_lossy().starts_with(PREFIX)
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= older_than);
        if stale && std::fs::remove_dir(entry.path()).is_ok() {
            removed += 1;
        }
    }
    if removed > 0 {
        tracing::info!(parent = %parent.display(), removed, "removed sandbox cgroups left behind");
    }
    removed
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
                let cpu = if words.contains(&"cpu") {
                    Ok(())
                } else {
                    Err(format!(
                        "the cpu controller is not delegated to {} (cgroup.subtree_control: \
                         `{}`)",
                        parent.display(),
                        delegated.trim()
                    ))
                };
                return match probe_mkdir(&parent) {
                    Ok(()) => Support::V2 { parent, cpu },
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
        (Ok(memory), Ok(pids)) => Support::V1 {
            memory,
            pids,
            cpu: v1("cpu"),
        },
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

/// The CFS period: 100 ms, the kernel's default, so a quota of 0.25 CPU lets the sandbox
/// run 25 ms of every 100 ms.
const CPU_PERIOD_US: u64 = 100_000;

/// `cpus` CPU seconds per second as a quota per [`CPU_PERIOD_US`], at least the kernel's
/// minimum of 1 ms.
fn cpu_quota_us(cpus: f64) -> u64 {
    // `as` saturates: an absurdly large `cpus` is no limit in practice, never an overflow.
    ((cpus * CPU_PERIOD_US as f64).round() as u64).max(1_000)
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
    /// The CPU limit in force (CPU seconds per second), or why there is none.
    cpu: Result<f64, String>,
}

impl Cgroup {
    /// A new cgroup for one sandbox, limited to `memory_bytes`, `pids` tasks and, where the
    /// cpu controller is ours, `cpus` CPU seconds per wall-clock second.
    pub(crate) fn create(
        support: &Support,
        memory_bytes: u64,
        pids: u64,
        cpus: f64,
    ) -> Result<Cgroup, String> {
        let name = base::unique_name(PREFIX);
        let quota = cpu_quota_us(cpus);
        // The CPU limit's own directory (v1) and files, set after the required limits.
        let (dirs, settings, oom_file, cpu_dir, cpu_settings) = match support {
            Support::V2 { parent, .. } => {
                let dir = parent.join(&name);
                let settings = vec![
                    (dir.join("memory.max"), memory_bytes.to_string()),
                    (dir.join("memory.swap.max"), "0".to_string()),
                    (dir.join("pids.max"), pids.to_string()),
                ];
                let cpu_settings = vec![(dir.join("cpu.max"), format!("{quota} {CPU_PERIOD_US}"))];
                let oom = dir.join("memory.events");
                (vec![dir], settings, oom, None, cpu_settings)
            }
            Support::V1 {
                memory,
                pids: pids_parent,
                cpu,
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
                let cpu_dir = cpu.as_ref().ok().map(|parent| parent.join(&name));
                let cpu_settings = match &cpu_dir {
                    // The period first: the kernel checks the quota against it.
                    Some(dir) => vec![
                        (dir.join("cpu.cfs_period_us"), CPU_PERIOD_US.to_string()),
                        (dir.join("cpu.cfs_quota_us"), quota.to_string()),
                    ],
                    None => Vec::new(),
                };
                (
                    vec![memory_dir, pids_dir],
                    settings,
                    oom,
                    cpu_dir,
                    cpu_settings,
                )
            }
            Support::Unavailable(reason) => return Err(reason.clone()),
        };
        let mut cgroup = Cgroup {
            dirs: Vec::new(),
            oom_file,
            cpu: Err(String::new()),
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
        // A CPU limit the kernel refuses (e.g. a v1 quota above a parent's) leaves the
        // sandbox without one, said in its capabilities, rather than without the memory
        // and pids limits too.
        cgroup.cpu = match support.cpu() {
            Ok(_) => cgroup.limit_cpu(cpu_dir, cpu_settings).map(|()| cpus),
            Err(reason) => Err(reason),
        };
        Ok(cgroup)
    }

    fn limit_cpu(
        &mut self,
        dir: Option<PathBuf>,
        settings: Vec<(PathBuf, String)>,
    ) -> Result<(), String> {
        if let Some(dir) = dir {
            std::fs::create_dir(&dir)
                .map_err(|e| format!("cannot create cgroup {}: {e}", dir.display()))?;
            self.dirs.push(dir);
        }
        for (file, value) in settings {
            std::fs::write(&file, &value)
                .map_err(|e| format!("cannot set {} to {value}: {e}", file.display()))?;
        }
        Ok(())
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

    /// The CPU limit in force (CPU seconds per wall-clock second), or why there is none.
    pub(crate) fn cpu(&self) -> &Result<f64, String> {
        &self.cpu
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

#[cfg(test)]
mod tests {
    use super::{Cgroup, PREFIX, Support, cpu_quota_us, detect, sweep_stale};

    /// Leftovers are swept, but never a cgroup in use (here: a directory the kernel would
    /// refuse to remove, as it refuses a cgroup with processes), nor another program's.
    #[test]
    fn issue18_left_over_sandbox_cgroups_are_swept_and_live_ones_kept() {
        let parent = std::env::temp_dir().join(base::unique_name("islet-sweep-test"));
        let left = parent.join(format!("{PREFIX}-left"));
        let busy = parent.join(format!("{PREFIX}-busy"));
        let other = parent.join("someone-else");
        for dir in [&left, &busy, &other] {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(busy.join("cgroup.procs"), "42\n").unwrap();
        // Too young to be a leftover: it may be a sandbox being started.
        assert_eq!(sweep_stale(&parent, std::time::Duration::from_secs(60)), 0);
        assert_eq!(sweep_stale(&parent, std::time::Duration::ZERO), 1);
        assert!(!left.exists() && busy.exists() && other.exists());
        std::fs::remove_dir_all(&parent).unwrap();
    }

    #[test]
    fn cpu_quotas_are_per_100ms_period_and_at_least_1ms() {
        assert_eq!(cpu_quota_us(0.25), 25_000);
        assert_eq!(cpu_quota_us(2.0), 200_000);
        assert_eq!(cpu_quota_us(0.001), 1_000);
    }

    #[test]
    fn issue18_without_a_cpu_controller_the_other_limits_stay_and_say_why_not() {
        // Pretend the cpu controller is not ours, on whatever this machine really has.
        let support = match detect() {
            Support::V2 { parent, .. } => Support::V2 {
                parent,
                cpu: Err("not delegated here".into()),
            },
            Support::V1 { memory, pids, .. } => Support::V1 {
                memory,
                pids,
                cpu: Err("no cpu hierarchy here".into()),
            },
            // No cgroups at all: the sandbox says so in `cgroup` (tested elsewhere).
            Support::Unavailable(_) => return,
        };
        assert!(support.cpu().is_err());
        let cgroup = Cgroup::create(&support, 64 << 20, 16, 0.5).expect("memory and pids");
        let reason = cgroup.cpu().clone().unwrap_err();
        assert!(reason.contains("here"), "{reason}");
        assert!(
            !cgroup
                .dirs
                .iter()
                .any(|d| d.starts_with("/sys/fs/cgroup/cpu/"))
        );
    }
}
