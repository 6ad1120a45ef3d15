//! The npm rung: real packages from the npm registry, and a registry on loopback for
//! refusals, integrity and the offline cache.

mod given;
mod issue17;
