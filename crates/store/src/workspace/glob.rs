//! Glob patterns over workspace paths: `*` (any run within one component), `?` (one
//! character), `[abc]`, `[a-z]`, `[!abc]`/`[^abc]`, and `**` as a whole component (any
//! number of directories, including none). `*` and `?` also match a leading `.`.

use regex::Regex;

use super::path::MAX_PATH_BYTES;
use crate::{Error, Result};

/// A compiled pattern.
#[derive(Debug)]
pub(crate) struct Glob {
    regex: Regex,
    /// The deepest directory every match is inside (the pattern's literal leading
    /// components), so only that subtree needs scanning.
    pub(crate) base: String,
    /// The one path a pattern without any wildcard names.
    pub(crate) literal: Option<String>,
}

fn invalid(pattern: &str, reason: &str) -> Error {
    Error::InvalidArgument(format!("invalid glob pattern {pattern:?}: {reason}"))
}

fn has_wildcard(component: &str) -> bool {
    component.contains(['*', '?', '['])
}

impl Glob {
    /// Compiles `pattern`; relative patterns are relative to `/`.
    pub(crate) fn new(pattern: &str) -> Result<Glob> {
        if pattern.is_empty() {
            return Err(invalid(pattern, "the pattern is empty; use e.g. `**/*.md`"));
        }
        if pattern.len() > MAX_PATH_BYTES || pattern.chars().any(char::is_control) {
            return Err(invalid(
                pattern,
                "patterns are at most 4096 bytes without control characters",
            ));
        }
        let components: Vec<&str> = pattern
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        if components.contains(&"..") {
            return Err(invalid(
                pattern,
                "`..` is not supported in glob patterns; write the path from the root",
            ));
        }
        let literal_count = components.iter().take_while(|c| !has_wildcard(c)).count();
        let base = format!("/{}", components[..literal_count].join("/"));
        let literal = (literal_count == components.len()).then(|| base.clone());
        let mut source = String::from("^");
        for (index, component) in components.iter().enumerate() {
            if *component == "**" {
                if index + 1 == components.len() {
                    // A trailing `**` matches everything below, not the directory itself.
                    source.push_str("(?:/[^/]+)+");
                } else {
                    source.push_str("(?:/[^/]+)*");
                }
            } else {
                source.push('/');
                translate(pattern, component, &mut source)?;
            }
        }
        source.push('$');
        let regex = Regex::new(&source).map_err(|e| invalid(pattern, &e.to_string()))?;
        Ok(Glob {
            regex,
            base,
            literal,
        })
    }

    /// Whether an absolute, normalised path matches.
    pub(crate) fn matches(&self, path: &str) -> bool {
        self.regex.is_match(path)
    }
}

/// One component's wildcards as a regex that cannot cross a `/`.
fn translate(pattern: &str, component: &str, out: &mut String) -> Result<()> {
    let chars: Vec<char> = component.chars().collect();
    let mut index = 0;
    while index < chars.len() {
        match chars[index] {
            '*' => {
                while chars.get(index + 1) == Some(&'*') {
                    index += 1;
                }
                out.push_str("[^/]*");
            }
            '?' => out.push_str("[^/]"),
            '[' => {
                let mut end = index + 1;
                let negated = matches!(chars.get(end), Some('!' | '^'));
                if negated {
                    end += 1;
                }
                // A `]` right after the opening is a member, not the end.
                if chars.get(end) == Some(&']') {
                    end += 1;
                }
                while end < chars.len() && chars[end] != ']' {
                    end += 1;
                }
                if end >= chars.len() {
                    return Err(invalid(
                        pattern,
                        "a `[` has no matching `]`; close the character class",
                    ));
                }
                let first_member = index + 1 + usize::from(negated);
                let members = &chars[first_member..end];
                out.push('[');
                if negated {
                    out.push_str("^/");
                }
                for (position, &member) in members.iter().enumerate() {
                    let is_range_dash =
                        member == '-' && position > 0 && position + 1 < members.len();
                    // Only the characters special inside a regex class are escaped.
                    if !is_range_dash && matches!(member, '\\' | '[' | ']' | '^' | '-' | '&' | '~')
                    {
                        out.push('\\');
                    }
                    out.push(member);
                }
                out.push(']');
                index = end;
            }
            other => out.push_str(&regex::escape(other.encode_utf8(&mut [0; 4]))),
        }
        index += 1;
    }
    Ok(())
}
