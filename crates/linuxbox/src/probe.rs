//! What this machine offers Linux sandboxes, and why not when it does not (`islet doctor`).

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::Serialize;

use crate::cgroup::{self, Support};

/// One requirement or feature.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked, e.g. `bubblewrap`.
    pub name: &'static str,
    /// Whether it is usable.
    pub ok: bool,
    /// The version or configuration found, or why it is missing and what to do.
    pub detail: String,
}

/// Checks bubblewrap, user namespaces, seccomp, cgroups and a Python in the host root.
/// Spawns bubblewrap twice; takes tens of milliseconds.
pub fn probe(bwrap: &Path) -> Vec<Check> {
    let mut checks = Vec::new();
    let version = Command::new(bwrap).arg("--version").output();
    let bwrap_ok = matches!(&version, Ok(out) if out.status.success());
    checks.push(Check {
        name: "bubblewrap",
        ok: bwrap_ok,
        detail: match version {
            Ok(out) if out.status.success() => {
                String::from_utf8_lossy(&out.stdout).trim().to_string()
            }
            Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
            Err(e) => format!(
                "`{}` cannot run ({e}); install it: `apt-get install bubblewrap`",
                bwrap.display()
            ),
        },
    });
    if bwrap_ok {
        let mut command = Command::new(bwrap);
        command
            .args([
                "--unshare-all",
                "--unshare-user",
                "--disable-userns",
                "--die-with-parent",
                "--ro-bind",
                "/",
                "/",
                "--",
                "/bin/true",
            ])
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if rustix::process::getuid().is_root() {
            command
                .uid(crate::sandbox::ROOT_RUNS_AS)
                .gid(crate::sandbox::ROOT_RUNS_AS);
        }
        let namespaces = command.output();
        checks.push(Check {
            name: "namespaces",
            ok: matches!(&namespaces, Ok(out) if out.status.success()),
            detail: match namespaces {
                Ok(out) if out.status.success() => {
                    "user, mount, pid, network (loopback only), ipc, uts, cgroup".to_string()
                }
                Ok(out) => format!(
                    "bubblewrap could not create them: {} (unprivileged user namespaces may be \
                     disabled: sysctl kernel.unprivileged_userns_clone=1 or \
                     user.max_user_namespaces > 0)",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
                Err(e) => e.to_string(),
            },
        });
    }
    let seccomp = crate::seccomp::programs();
    let kernel_seccomp = std::fs::read_to_string("/proc/self/status")
        .is_ok_and(|s| s.lines().any(|l| l.starts_with("Seccomp:")));
    checks.push(Check {
        name: "seccomp",
        ok: seccomp.is_ok() && kernel_seccomp,
        detail: match (seccomp, kernel_seccomp) {
            (Ok(_), true) => format!(
                "denylist of {} system calls and namespace-creating clone flags (EPERM)",
                crate::seccomp::DENIED.len()
            ),
            (Err(e), _) => e,
            (_, false) => "the kernel has no seccomp support".to_string(),
        },
    });
    let support = cgroup::detect();
    checks.push(Check {
        name: "cgroup limits",
        ok: !matches!(support, Support::Unavailable(_)),
        detail: support.describe(),
    });
    let cpu = support.cpu();
    checks.push(Check {
        name: "cpu limit",
        ok: cpu.is_ok(),
        detail: match cpu {
            Ok(where_) => format!("enforced as a CFS quota: {where_}"),
            Err(why) => format!(
                "not enforceable, sandboxes run without a CPU limit: {why} (needs the cpu \
                 controller delegated to islet's cgroup, v2, or a writable v1 cpu hierarchy)"
            ),
        },
    });
    let python = Path::new("/usr/bin/python3");
    checks.push(Check {
        name: "python3",
        ok: python.exists(),
        detail: if python.exists() {
            "/usr/bin/python3 in the host root (runCode(\"python\"))".to_string()
        } else {
            "no /usr/bin/python3 in the host root; `apt-get install python3-minimal` for \
             runCode(\"python\")"
                .to_string()
        },
    });
    checks
}
