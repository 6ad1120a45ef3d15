//! Identifiers, property keys and generated names that `tsc --strict` accepts.

use std::borrow::Cow;
use std::collections::HashSet;

/// Words that cannot name a binding (variable, type alias, namespace) in strict-mode
/// TypeScript. They remain valid as property names, which is why the generated
/// declarations expose every tool as an object-type member (see the module docs).
pub(crate) const RESERVED: &[&str] = &[
    "await",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "import",
    "in",
    "instanceof",
    "new",
    "null",
    "return",
    "super",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "with",
    "yield",
    // Strict mode.
    "implements",
    "interface",
    "let",
    "package",
    "private",
    "protected",
    "public",
    "static",
    "arguments",
    "eval",
];

/// Names a type alias may not take: TypeScript's predefined types, plus the global
/// generics the generator itself emits (a `$defs.Record` would shadow `Record<..>`).
/// Names that are legal identifiers but break something as a generated name: property
/// names with special meaning on every object, `undefined`, and TypeScript's `declare`.
const HAZARDS: &[&str] = &[
    "__proto__",
    "constructor",
    "prototype",
    "undefined",
    "declare",
];

/// Whether `name` must not be used as-is for a generated namespace, function or tool name.
pub(crate) fn is_unsafe_name(name: &str) -> bool {
    RESERVED.contains(&name) || HAZARDS.contains(&name)
}

const RESERVED_TYPES: &[&str] = &[
    "any",
    "unknown",
    "never",
    "string",
    "number",
    "bigint",
    "boolean",
    "symbol",
    "object",
    "undefined",
    "intrinsic",
    "Record",
    "Array",
    "Promise",
];

/// An ASCII JS identifier name (reserved words included: they are fine as property keys).
pub(crate) fn is_identifier_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// A name usable as a strict-mode binding (`declare const x`, `type x`).
pub(crate) fn is_binding_identifier(s: &str) -> bool {
    is_identifier_name(s) && !RESERVED.contains(&s)
}

/// `owner` stays bare, `x-rate-limit` and `200` are quoted.
pub(crate) fn property_key(name: &str) -> Cow<'_, str> {
    if is_identifier_name(name) {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(string_literal(name))
    }
}

/// A double-quoted TS string literal. JSON escaping is a subset of what TS accepts.
pub(crate) fn string_literal(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// `.name` or `["na-me"]`, for printing a call path.
pub(crate) fn member_access(name: &str) -> String {
    if is_identifier_name(name) {
        format!(".{name}")
    } else {
        format!("[{}]", string_literal(name))
    }
}

/// Turns any string into a valid type-alias name: invalid characters become `_`, a
/// leading digit gets a `_` prefix, reserved words get a `_` suffix.
pub(crate) fn sanitize_type_name(raw: &str) -> String {
    let mut out: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '$' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if RESERVED.contains(&out.as_str()) || RESERVED_TYPES.contains(&out.as_str()) {
        out.push('_');
    }
    out
}

/// Hands out unique names: the first request for `Node` gets `Node`, the next `Node_2`.
#[derive(Debug, Default)]
pub(crate) struct NameAllocator {
    used: HashSet<String>,
}

impl NameAllocator {
    pub(crate) fn allocate(&mut self, base: &str) -> String {
        unique(base.to_owned(), &mut self.used)
    }
}

/// `name`, or `name_2`, `name_3`… when taken; marks the result taken. How every list of
/// generated names (type names, upstream namespaces, tool names) stays free of clashes.
pub(crate) fn unique(name: String, taken: &mut HashSet<String>) -> String {
    if taken.insert(name.clone()) {
        return name;
    }
    let mut n = 2;
    loop {
        let candidate = format!("{name}_{n}");
        if taken.insert(candidate.clone()) {
            return candidate;
        }
        n += 1;
    }
}

/// Text safe inside `/* */` or `/** */`: a `*/` in a description must not end the comment.
pub(crate) fn comment_safe(s: &str) -> String {
    s.replace("*/", "*\\/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitised_and_unique() {
        assert_eq!(sanitize_type_name("my-type"), "my_type");
        assert_eq!(sanitize_type_name("1st"), "_1st");
        assert_eq!(sanitize_type_name("delete"), "delete_");
        assert_eq!(sanitize_type_name("string"), "string_");
        assert_eq!(sanitize_type_name(""), "_");
        let mut names = NameAllocator::default();
        assert_eq!(names.allocate("Node"), "Node");
        assert_eq!(names.allocate("Node"), "Node_2");
        assert_eq!(names.allocate("Node_2"), "Node_2_2");
        assert_eq!(names.allocate("Node"), "Node_3");
    }

    #[test]
    fn keys_are_quoted_when_needed() {
        assert_eq!(property_key("owner"), "owner");
        assert_eq!(property_key("delete"), "delete");
        assert_eq!(property_key("x-rate"), "\"x-rate\"");
        assert_eq!(property_key("200"), "\"200\"");
        assert_eq!(property_key("é"), "\"é\"");
    }
}
