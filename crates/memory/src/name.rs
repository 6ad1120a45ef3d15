//! Profile names: `namespace/profile`, each part safe as a file name on every platform.

use crate::Error;
use std::fmt;
use std::str::FromStr;

/// A validated `namespace/profile` name. Each part is `[a-z0-9][a-z0-9._-]{0,63}`, so it
/// maps to `<data>/memory/<namespace>/<profile>.sqlite` without escaping.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProfileName {
    full: String,
    slash: usize,
}

impl ProfileName {
    /// Checks `name`; [`Error::InvalidProfileName`] says which part is wrong.
    pub fn parse(name: &str) -> Result<Self, Error> {
        let invalid = |reason: String| Error::InvalidProfileName {
            name: name.to_owned(),
            reason,
        };
        let Some((namespace, profile)) = name.split_once('/') else {
            return Err(invalid("it has no `/`".into()));
        };
        for (what, part) in [("namespace", namespace), ("profile", profile)] {
            check_part(part).map_err(|reason| invalid(format!("the {what} part {reason}")))?;
        }
        Ok(Self {
            full: name.to_owned(),
            slash: namespace.len(),
        })
    }

    /// The part before the `/`: the directory the profile's database lives in.
    pub fn namespace(&self) -> &str {
        &self.full[..self.slash]
    }

    /// The part after the `/`: the database's file name, without `.sqlite`.
    pub fn profile(&self) -> &str {
        &self.full[self.slash + 1..]
    }

    /// The whole `namespace/profile`, as written in errors and bindings.
    pub fn as_str(&self) -> &str {
        &self.full
    }
}

fn check_part(part: &str) -> Result<(), String> {
    if part.is_empty() {
        return Err("is empty".into());
    }
    if part.len() > 64 {
        return Err(format!("is {} characters long", part.len()));
    }
    let first = part.as_bytes()[0];
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return Err(format!("`{part}` does not start with a-z or 0-9"));
    }
    if let Some(c) = part
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!("`{part}` contains `{c}`"));
    }
    Ok(())
}

impl fmt::Display for ProfileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl FromStr for ProfileName {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}
