//! The JavaScript side of an agent (`js/runtime.js`): evaluated before every turn's code
//! and before a class's description, so both the host and the class loader need it, and
//! it needs nothing of theirs.

use std::sync::Arc;

/// `Agent`, the turn driver and the `agents.Class("name")` stubs.
pub(crate) const PRELUDE: &str = include_str!("js/runtime.js");

/// [`PRELUDE`] shared by every turn instead of copied into each (13 KB).
pub(crate) static SHARED_PRELUDE: std::sync::LazyLock<Arc<str>> =
    std::sync::LazyLock::new(|| Arc::from(PRELUDE));
