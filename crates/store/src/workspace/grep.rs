//! Regex search over the workspace's text files.

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

use super::glob::Glob;
use crate::{Error, Result};

/// Matches returned when the caller sets no limit.
pub(super) const DEFAULT_MAX_MATCHES: usize = 1000;
/// A matching line longer than this is cut (at a character boundary) and marked with `…`.
const MAX_LINE_BYTES: usize = 1000;
/// Compiled regexes are capped so a pathological pattern cannot take the host's memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Options of `grep`; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GrepOptions {
    /// The directory (or single file) to search; default `/`.
    pub path: Option<String>,
    /// Only files matching this glob: a pattern with a `/` is matched against the whole
    /// path (relative patterns relative to `/`), one without against the file name at any
    /// depth (`*.md`).
    pub glob: Option<String>,
    /// Case-insensitive matching.
    pub ignore_case: bool,
    /// Stop after this many matches (default 1000).
    pub max_matches: Option<usize>,
}

/// One matching line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GrepMatch {
    /// The file the line is in.
    pub path: String,
    /// 1-based line number.
    pub line: usize,
    /// The line without its line ending.
    pub text: String,
}

/// Which files to look at: a glob against the full path or against the file name.
pub(crate) enum FileFilter {
    All,
    Path(Glob),
    Name(Glob),
}

impl FileFilter {
    pub(crate) fn new(glob: Option<&str>) -> Result<FileFilter> {
        Ok(match glob {
            None => FileFilter::All,
            Some(pattern) if pattern.contains('/') => FileFilter::Path(Glob::new(pattern)?),
            Some(pattern) => FileFilter::Name(Glob::new(pattern)?),
        })
    }

    pub(crate) fn accepts(&self, path: &str) -> bool {
        match self {
            FileFilter::All => true,
            FileFilter::Path(glob) => glob.matches(path),
            FileFilter::Name(glob) => {
                let name = super::path::file_name(path);
                glob.matches(&format!("/{name}"))
            }
        }
    }
}

pub(crate) fn compile(pattern: &str, ignore_case: bool) -> Result<Regex> {
    RegexBuilder::new(pattern)
        .case_insensitive(ignore_case)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| {
            Error::InvalidArgument(format!(
                "invalid grep pattern {pattern:?} (Rust regex syntax): {e}"
            ))
        })
}

/// Appends the matches in one file's content; `false` once `max` matches are collected.
/// Binary content (a NUL byte, or not UTF-8) has no matches.
pub(crate) fn search_file(
    regex: &Regex,
    path: &str,
    content: &[u8],
    max: usize,
    matches: &mut Vec<GrepMatch>,
) -> bool {
    if content.contains(&0) {
        return true;
    }
    let Ok(text) = std::str::from_utf8(content) else {
        return true;
    };
    for (index, line) in text.lines().enumerate() {
        if matches.len() >= max {
            return false;
        }
        if regex.is_match(line) {
            let text = if line.len() > MAX_LINE_BYTES {
                format!("{}…", &line[..line.floor_char_boundary(MAX_LINE_BYTES)])
            } else {
                line.to_string()
            };
            matches.push(GrepMatch {
                path: path.to_string(),
                line: index + 1,
                text,
            });
        }
    }
    matches.len() < max
}
