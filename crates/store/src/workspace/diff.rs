//! Unified diffs of workspace text.

use similar::TextDiff;

/// Lines of unchanged context around each change, as `diff -u` does.
const CONTEXT_LINES: usize = 3;

/// A unified diff from `old` to `new` with `--- old_name` / `+++ new_name` headers; empty
/// when the texts are equal.
pub(crate) fn unified(old_name: &str, new_name: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(CONTEXT_LINES)
        .header(old_name, new_name)
        .to_string()
}
