//! `unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWNS)`, best effort.

#![allow(unsafe_code)]

use super::{Layer, MOUNT_NAMESPACE, NETWORK_NAMESPACE, USER_NAMESPACE, errno_name, last_errno};

/// Threads of this process (1 if it cannot be told).
pub(super) fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|dir| dir.count())
        .unwrap_or(1)
}

fn unshare(flags: libc::c_int) -> Result<(), i32> {
    // SAFETY: unshare takes a flag word only; it changes this process's namespaces, which is
    // the point, and touches no memory of ours.
    if unsafe { libc::unshare(flags) } == 0 {
        Ok(())
    } else {
        Err(last_errno())
    }
}

fn describe(flags: &str, errno: i32, threads: usize) -> String {
    let mut reason = format!("unshare({flags}): {}", errno_name(errno));
    if threads > 1 && errno == libc::EINVAL {
        reason.push_str(&format!(
            " (the process has {threads} threads: harden() must run before spawning threads)"
        ));
    }
    reason
}

/// The three namespace layers: user, network, mount (in that order).
pub(super) fn unshare_all(threads: usize) -> [Layer; 3] {
    let all = libc::CLONE_NEWUSER | libc::CLONE_NEWNET | libc::CLONE_NEWNS;
    match unshare(all) {
        Ok(()) => [
            Layer::active(
                USER_NAMESPACE,
                "no capabilities in the initial user namespace",
            ),
            Layer::active(
                NETWORK_NAMESPACE,
                "no interfaces but a loopback that is down",
            ),
            Layer::active(MOUNT_NAMESPACE, "private copy of the mount table"),
        ],
        Err(errno) => {
            // Without a user namespace (disabled, or a multithreaded caller), a privileged
            // process can still unshare network and mount namespaces.
            let user =
                Layer::unavailable(USER_NAMESPACE, describe("CLONE_NEWUSER", errno, threads));
            let net = match unshare(libc::CLONE_NEWNET) {
                Ok(()) => Layer::active(
                    NETWORK_NAMESPACE,
                    "no interfaces but a loopback that is down",
                ),
                Err(e) => {
                    Layer::unavailable(NETWORK_NAMESPACE, describe("CLONE_NEWNET", e, threads))
                }
            };
            let mnt = match unshare(libc::CLONE_NEWNS) {
                Ok(()) => Layer::active(MOUNT_NAMESPACE, "private copy of the mount table"),
                Err(e) => Layer::unavailable(MOUNT_NAMESPACE, describe("CLONE_NEWNS", e, threads)),
            };
            [user, net, mnt]
        }
    }
}
