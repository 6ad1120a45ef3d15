//! Agent classes and names → file names. Names may hold anything but control characters, so
//! they are escaped into a form every filesystem accepts, and distinct names always map to
//! distinct files (also on case-insensitive filesystems such as macOS's default).

use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// The longest class name accepted.
pub(crate) const MAX_CLASS_CHARS: usize = 64;
/// The longest agent name accepted, in characters.
pub(crate) const MAX_NAME_CHARS: usize = 256;
/// Escaped names longer than this are shortened and suffixed with a hash. SQLite adds
/// `.sqlite-wal` (11 bytes) to the name, and most filesystems cap a name at 255 bytes.
const MAX_ESCAPED_BYTES: usize = 200;
/// How much of a long escaped name is kept before the hash, so `ls` still hints at it.
const KEPT_PREFIX_BYTES: usize = 120;

/// Checks that `class` is a JavaScript identifier (`[A-Za-z_$][A-Za-z0-9_$]*`, ≤ 64 chars).
pub(crate) fn validate_class(class: &str) -> Result<()> {
    if is_identifier(class, MAX_CLASS_CHARS) {
        return Ok(());
    }
    Err(Error::InvalidName(format!(
        "invalid agent class {class:?}: a class is a JavaScript identifier (letters, digits, `_` \
         or `$`, not starting with a digit) of 1 to {MAX_CLASS_CHARS} characters, e.g. `ChatAgent`"
    )))
}

/// Separates the parts of a sub-agent's name (`<parent class>`, `<parent's name>`,
/// `<child's own name>`): a control character, so no name a client gives (those have
/// none) can ever equal a sub-agent's, and the agent host can take one apart unambiguously.
pub const SUB_AGENT_SEPARATOR: char = '\u{1f}';

/// The longest sub-agent name accepted (parents' names included), in characters.
const MAX_SUB_AGENT_NAME_CHARS: usize = 4096;

/// Checks that `name` has 1..=256 characters and no control characters, or is a sub-agent's
/// name: parts joined by [`SUB_AGENT_SEPARATOR`], each without other control characters.
pub(crate) fn validate_name(name: &str) -> Result<()> {
    if name.contains(SUB_AGENT_SEPARATOR) {
        let chars = name.chars().count();
        let parts_ok = name
            .split(SUB_AGENT_SEPARATOR)
            .all(|part| !part.is_empty() && !part.chars().any(char::is_control));
        if chars > MAX_SUB_AGENT_NAME_CHARS || !parts_ok {
            return Err(Error::InvalidName(format!(
                "invalid sub-agent name {name:?}: at most {MAX_SUB_AGENT_NAME_CHARS} characters, \
                 parts without control characters; nest sub-agents less deeply or use shorter names"
            )));
        }
        return Ok(());
    }
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(Error::InvalidName(format!(
            "invalid agent name {name:?}: a name has 1 to {MAX_NAME_CHARS} characters (this one \
             has {chars})"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::InvalidName(format!(
            "invalid agent name {name:?}: control characters (newlines, tabs, NUL…) are not \
             allowed in agent names; remove them"
        )));
    }
    Ok(())
}

/// `[A-Za-z_$][A-Za-z0-9_$]*` of at most `max` characters.
pub(crate) fn is_identifier(s: &str, max: usize) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    s.len() <= max
        && (first.is_ascii_alphabetic() || first == '_' || first == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// The escaped form of a class or name, usable as one path component.
///
/// Kept verbatim: `a-z`, `0-9`, `_`, `-`, and `.` except at the start (so neither `.`, `..`
/// nor hidden files can come out). Upper-case `X` becomes `^x` so that names differing only
/// in case stay distinct on case-insensitive filesystems. Every other byte is `%XX`.
/// Escaped forms longer than [`MAX_ESCAPED_BYTES`] keep a prefix and add `~` and a SHA-256
/// of the full name; `~` is always escaped otherwise, so the two forms cannot collide.
pub(crate) fn escape(raw: &str) -> String {
    let mut escaped = String::with_capacity(raw.len());
    // Where each escaped unit starts, so a long name is cut between units, never inside one.
    let mut unit_starts = Vec::new();
    for (index, byte) in raw.bytes().enumerate() {
        unit_starts.push(escaped.len());
        match byte {
            b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' => escaped.push(byte as char),
            b'.' if index > 0 => escaped.push('.'),
            b'A'..=b'Z' => {
                escaped.push('^');
                escaped.push(byte.to_ascii_lowercase() as char);
            }
            _ => escaped.push_str(&format!("%{byte:02X}")),
        }
    }
    if escaped.len() <= MAX_ESCAPED_BYTES {
        return escaped;
    }
    let cut = unit_starts
        .iter()
        .copied()
        .take_while(|&start| start <= KEPT_PREFIX_BYTES)
        .last()
        .unwrap_or(0);
    let digest = Sha256::digest(raw.as_bytes());
    let hash: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{}~{hash}", &escaped[..cut])
}
