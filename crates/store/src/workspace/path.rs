//! Workspace paths: absolute, normalised, `/`-separated; the root is `/`.

use crate::{Error, Result};

/// The longest path accepted, in bytes (as given).
pub(super) const MAX_PATH_BYTES: usize = 4096;
/// The longest path component, in bytes.
pub(super) const MAX_COMPONENT_BYTES: usize = 255;

fn invalid(path: &str, reason: impl Into<String>) -> Error {
    Error::InvalidPath {
        path: path.escape_debug().to_string(),
        reason: reason.into(),
    }
}

/// `path` as an absolute, normalised path: relative paths are relative to `/`; empty and
/// `.` components are dropped (`a//b`, `./a`, `a/` are fine); `..` goes up but never above
/// the root.
pub(crate) fn normalize(path: &str) -> Result<String> {
    if path.is_empty() {
        return Err(invalid(path, "the path is empty; use `/` for the root"));
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(invalid(
            &format!("{}…", &path[..path.floor_char_boundary(64)]),
            format!(
                "the path is {} bytes long, over the {MAX_PATH_BYTES}-byte limit",
                path.len()
            ),
        ));
    }
    if path.chars().any(char::is_control) {
        return Err(invalid(
            path,
            "paths cannot contain NUL or other control characters",
        ));
    }
    let mut components: Vec<&str> = Vec::new();
    for component in path.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                if components.pop().is_none() {
                    return Err(invalid(
                        path,
                        "`..` would go above the workspace root `/`; paths stay inside the \
                         workspace",
                    ));
                }
            }
            _ if component.len() > MAX_COMPONENT_BYTES => {
                return Err(invalid(
                    path,
                    format!(
                        "a path component is {} bytes long, over the \
                         {MAX_COMPONENT_BYTES}-byte limit",
                        component.len()
                    ),
                ));
            }
            _ => components.push(component),
        }
    }
    Ok(format!("/{}", components.join("/")))
}

/// The directory containing `path`; `None` for the root.
pub(crate) fn parent(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    match path.rfind('/') {
        Some(0) => Some("/"),
        Some(index) => Some(&path[..index]),
        None => None,
    }
}

/// The last component of `path` (`""` for the root).
pub(crate) fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or("")
}

/// `[low, high)`: every descendant of the directory `dir` and nothing else, as a key range
/// (`/` sorts just below `0`, so `dir/…` < `dir0`).
pub(crate) fn descendant_range(dir: &str) -> (String, String) {
    let low = if dir == "/" {
        "/".to_string()
    } else {
        format!("{dir}/")
    };
    let high = format!("{}0", &low[..low.len() - 1]);
    (low, high)
}

/// Whether `path` is `dir` or inside it.
pub(crate) fn is_within(path: &str, dir: &str) -> bool {
    path == dir
        || dir == "/"
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}
