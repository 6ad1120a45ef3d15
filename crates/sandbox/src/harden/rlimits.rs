//! Resource limits and no core dumps.

#![allow(unsafe_code)]

use super::{HardenConfig, Layer, RLIMITS, errno_name, last_errno};

fn set(resource: libc::__rlimit_resource_t, name: &str, value: u64) -> Result<(), String> {
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `current` is a valid, writable rlimit for the duration of the call.
    if unsafe { libc::getrlimit(resource, &mut current) } != 0 {
        return Err(format!("getrlimit({name}): {}", errno_name(last_errno())));
    }
    // Lowering is always permitted; never try to raise a hard limit set lower already.
    let value = value.min(current.rlim_max);
    let limit = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: `limit` is a valid rlimit for the duration of the call.
    if unsafe { libc::setrlimit(resource, &limit) } != 0 {
        return Err(format!("setrlimit({name}): {}", errno_name(last_errno())));
    }
    Ok(())
}

pub(super) fn apply(config: &HardenConfig, userns_active: bool) -> Layer {
    let mut applied = Vec::new();
    let mut errors = Vec::new();
    let mut record = |result: Result<(), String>, what: String| match result {
        Ok(()) => applied.push(what),
        Err(e) => errors.push(e),
    };
    if let Some(bytes) = config.address_space_bytes {
        record(
            set(libc::RLIMIT_AS, "RLIMIT_AS", bytes),
            format!("AS={bytes}"),
        );
    }
    record(
        set(libc::RLIMIT_NOFILE, "RLIMIT_NOFILE", config.open_files),
        format!("NOFILE={}", config.open_files),
    );
    record(set(libc::RLIMIT_CORE, "RLIMIT_CORE", 0), "CORE=0".into());
    // SAFETY: PR_SET_DUMPABLE takes integer arguments only.
    let dumpable = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    record(
        if dumpable == 0 {
            Ok(())
        } else {
            Err(format!(
                "prctl(PR_SET_DUMPABLE): {}",
                errno_name(last_errno())
            ))
        },
        "DUMPABLE=0".into(),
    );
    if let Some(tasks) = config.max_processes {
        if userns_active {
            record(
                set(libc::RLIMIT_NPROC, "RLIMIT_NPROC", tasks),
                format!("NPROC={tasks}"),
            );
        } else {
            applied.push("NPROC unchanged (no private user namespace)".into());
        }
    }
    if errors.is_empty() {
        Layer::active(RLIMITS, applied.join(" "))
    } else {
        let mut layer = Layer::unavailable(RLIMITS, errors.join("; "));
        layer.detail = applied.join(" ");
        layer
    }
}
