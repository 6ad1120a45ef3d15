//! Landlock: handle every access right the kernel knows, grant none.

use super::{LANDLOCK, Layer};
use landlock::{
    ABI, Access, AccessFs, AccessNet, LandlockStatus, RestrictSelfAttr, Ruleset, RulesetAttr,
    RulesetStatus, Scope,
};

/// The newest ABI this crate version knows; best-effort compatibility drops what the
/// running kernel lacks.
const ABI_WANTED: ABI = ABI::V10;

pub(super) fn apply() -> Layer {
    let result = Ruleset::default()
        .handle_access(AccessFs::from_all(ABI_WANTED))
        .and_then(|r| r.handle_access(AccessNet::from_all(ABI_WANTED)))
        .and_then(|r| r.scope(Scope::from_all(ABI_WANTED)))
        .and_then(|r| r.create())
        // Without it (ABI < 8) only the calling thread is restricted: harden() must run
        // before threads exist.
        .and_then(|r| r.all_threads(true))
        .and_then(|r| r.restrict_self());
    match result {
        Err(e) => Layer::unavailable(LANDLOCK, format!("landlock: {e}")),
        Ok(status) => {
            let abi = match status.landlock {
                LandlockStatus::Available {
                    effective_abi,
                    kernel_abi,
                } => kernel_abi.unwrap_or(effective_abi as i32),
                LandlockStatus::NotEnabled | LandlockStatus::NotImplemented => 0,
            };
            match status.ruleset {
                RulesetStatus::FullyEnforced => Layer::active(
                    LANDLOCK,
                    format!("ABI {abi}, fully enforced: no filesystem or TCP access"),
                ),
                RulesetStatus::PartiallyEnforced => Layer::active(
                    LANDLOCK,
                    format!(
                        "ABI {abi}, partially enforced (the kernel lacks newer access rights): no \
                         filesystem access"
                    ),
                ),
                RulesetStatus::NotEnforced => Layer::unavailable(
                    LANDLOCK,
                    match status.landlock {
                        LandlockStatus::NotEnabled => {
                            "Landlock is built in but not enabled at boot (ABI 0)".to_owned()
                        }
                        LandlockStatus::NotImplemented => {
                            "kernel has no Landlock (ABI 0)".to_owned()
                        }
                        LandlockStatus::Available { .. } => {
                            format!("ABI {abi}: ruleset not enforced")
                        }
                    },
                ),
            }
        }
    }
}
