//! What an import names: `zod`, `zod/mini`, `npm:lodash@4`, `npm:@scope/pkg@^1/sub`,
//! `node:crypto`, or a Node built-in by its bare name.

use crate::builtins;
use crate::error::Error;

/// A package request from the program.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Request {
    pub name: String,
    /// An npm range or dist-tag; `latest` when the import names none.
    pub range: String,
    /// `.` or `./sub/path`, as `exports` keys are written.
    pub subpath: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Import {
    /// A Node built-in, by its name without `node:`.
    Builtin(&'static str),
    Package(Request),
}

/// Parses an import of the program.
pub(crate) fn parse(spec: &str) -> Result<Import, Error> {
    if let Some(name) = spec.strip_prefix("node:") {
        return match builtins::find(name) {
            Some(name) => Ok(Import::Builtin(name)),
            None => Err(Error::BadImport(format!(
                "`{spec}` is not a Node built-in the sandbox offers; it has {}",
                builtins::NAMES.join(", ")
            ))),
        };
    }
    let npm = spec.strip_prefix("npm:");
    let text = npm.unwrap_or(spec);
    if npm.is_none()
        && let Some(name) = builtins::find(spec)
    {
        return Ok(Import::Builtin(name));
    }
    if text.starts_with('.') || text.starts_with('/') {
        return Err(Error::BadImport(format!(
            "`{spec}`: there are no files to import in the sandbox; import npm packages by name (`zod`, `npm:lodash@4`)"
        )));
    }
    if text.contains("://") || (npm.is_none() && text.contains(':')) {
        return Err(Error::BadImport(format!(
            "`{spec}`: only npm packages can be imported (`zod`, `npm:lodash@4`), not URLs or other registries"
        )));
    }
    // `@scope/name@range/sub` or `name@range/sub`.
    let (scope, rest) = match text.strip_prefix('@') {
        Some(after) => match after.split_once('/') {
            Some((scope, rest)) => (Some(scope), rest),
            None => return Err(bad_name(spec)),
        },
        None => (None, text),
    };
    let (head, subpath) = match rest.split_once('/') {
        Some((head, sub)) => (head, Some(sub)),
        None => (rest, None),
    };
    let (bare, range) = match head.split_once('@') {
        Some((bare, range)) => (bare, Some(range)),
        None => (head, None),
    };
    // A range may itself contain `/`? npm ranges do not; a subpath after the range does.
    let name = match scope {
        Some(scope) => format!("@{scope}/{bare}"),
        None => bare.to_owned(),
    };
    if !valid_name(&name) {
        return Err(bad_name(spec));
    }
    let range = range.map(str::trim).filter(|r| !r.is_empty());
    if let Some(range) = range
        && node_semver::Range::parse(range).is_err()
        && !valid_tag(range)
    {
        return Err(Error::BadImport(format!(
            "`{spec}`: `{range}` is not a version range or dist-tag; write e.g. `npm:{name}@4` or `npm:{name}@^4.17`"
        )));
    }
    let subpath = match subpath {
        Some(sub) if !sub.is_empty() => format!("./{sub}"),
        _ => ".".to_owned(),
    };
    if subpath.split('/').any(|s| s == "..") {
        return Err(bad_name(spec));
    }
    Ok(Import::Package(Request {
        name,
        range: range.unwrap_or("latest").to_owned(),
        subpath,
    }))
}

/// A bare specifier inside a package (`dep`, `dep/sub`, `@s/dep/sub`) as (name, subpath);
/// `None` when it is not one.
pub(crate) fn split_bare(spec: &str) -> Option<(String, String)> {
    let (name, sub) = if let Some(after) = spec.strip_prefix('@') {
        let (scope, rest) = after.split_once('/')?;
        let (bare, sub) = match rest.split_once('/') {
            Some((bare, sub)) => (bare, Some(sub)),
            None => (rest, None),
        };
        (format!("@{scope}/{bare}"), sub)
    } else {
        match spec.split_once('/') {
            Some((bare, sub)) => (bare.to_owned(), Some(sub)),
            None => (spec.to_owned(), None),
        }
    };
    if !valid_name(&name) {
        return None;
    }
    let subpath = match sub {
        Some(sub) if !sub.is_empty() => format!("./{sub}"),
        _ => ".".to_owned(),
    };
    Some((name, subpath))
}

fn bad_name(spec: &str) -> Error {
    Error::BadImport(format!(
        "`{spec}` is not an npm package name; write `name`, `@scope/name`, `name/sub/path` or `npm:name@range`"
    ))
}

fn valid_name(name: &str) -> bool {
    let part = |s: &str| {
        !s.is_empty()
            && s.len() <= 214
            && !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~'))
    };
    match name.strip_prefix('@') {
        Some(scoped) => matches!(scoped.split_once('/'), Some((s, n)) if part(s) && part(n)),
        None => part(name),
    }
}

fn valid_tag(tag: &str) -> bool {
    tag.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(spec: &str) -> Request {
        match parse(spec).unwrap() {
            Import::Package(r) => r,
            other @ Import::Builtin(_) => panic!("{other:?}"),
        }
    }

    #[test]
    fn specifiers() {
        assert_eq!(package("zod").range, "latest");
        assert_eq!(package("zod/mini").subpath, "./mini");
        let r = package("npm:lodash@4");
        assert_eq!((r.name.as_str(), r.range.as_str()), ("lodash", "4"));
        let r = package("npm:@scope/pkg@^1.2/sub/x");
        assert_eq!(
            (r.name.as_str(), r.range.as_str(), r.subpath.as_str()),
            ("@scope/pkg", "^1.2", "./sub/x")
        );
        assert_eq!(parse("node:crypto").unwrap(), Import::Builtin("crypto"));
        assert_eq!(parse("events").unwrap(), Import::Builtin("events"));
        assert!(parse("./x").is_err());
        assert!(parse("https://esm.sh/zod").is_err());
        assert!(parse("jsr:@std/path").is_err());
        assert!(parse("npm:zod@not a range!").is_err());
        assert_eq!(split_bare("@a/b/c"), Some(("@a/b".into(), "./c".into())));
    }
}
