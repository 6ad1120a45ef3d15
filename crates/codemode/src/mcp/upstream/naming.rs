//! Names upstream servers and tools get in code: JS identifiers that shadow no global,
//! unique within their namespace.

/// Names code cannot use as a top-level namespace: the isolate's globals would be
/// shadowed (or shadow us).
pub(super) const GLOBALS: &[&str] = &[
    "Array",
    "Boolean",
    "Date",
    "Error",
    "Function",
    "Intl",
    "JSON",
    "Map",
    "Math",
    "Number",
    "Object",
    "Promise",
    "Proxy",
    "Reflect",
    "RegExp",
    "Set",
    "String",
    "Symbol",
    "URL",
    "URLSearchParams",
    "atob",
    "btoa",
    "clearInterval",
    "clearTimeout",
    "console",
    "crypto",
    "globalThis",
    "queueMicrotask",
    "setInterval",
    "setTimeout",
    "structuredClone",
    "TextDecoder",
    "TextEncoder",
];

/// A JS identifier for a server or tool name: kept when it already is one (`read_file`),
/// else camelCased (`my-server` → `myServer`); reserved words and globals get a `_`.
pub(super) fn js_name(raw: &str) -> String {
    let is_ident = |s: &str| {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    };
    let mut name = if is_ident(raw) {
        raw.to_owned()
    } else {
        let mut out = String::new();
        for (i, part) in raw
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .filter(|p| !p.is_empty())
            .enumerate()
        {
            if i == 0 {
                out.push_str(part);
            } else {
                let mut chars = part.chars();
                if let Some(first) = chars.next() {
                    out.push(first.to_ascii_uppercase());
                    out.push_str(chars.as_str());
                }
            }
        }
        if out.is_empty() {
            out.push_str("server");
        }
        if out.starts_with(|c: char| c.is_ascii_digit()) {
            out.insert(0, '_');
        }
        out
    };
    if crate::catalog::typescript::is_unsafe_name(&name) || GLOBALS.contains(&name.as_str()) {
        name.push('_');
    }
    name
}

pub(super) use crate::catalog::typescript::unique;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names() {
        assert_eq!(js_name("read_file"), "read_file");
        assert_eq!(js_name("my-server"), "myServer");
        assert_eq!(js_name("get.sum"), "getSum");
        assert_eq!(js_name("9lives"), "_9lives");
        assert_eq!(js_name("console"), "console_");
        assert_eq!(js_name("delete"), "delete_");
        assert_eq!(js_name("---"), "server");
        let mut taken = HashSet::new();
        assert_eq!(unique("a".into(), &mut taken), "a");
        assert_eq!(unique("a".into(), &mut taken), "a_2");
    }
}
