//! JS names for tags and operations.
//!
//! Names become `function name(...)` inside `declare namespace` blocks of the generated
//! TypeScript, where reserved words are errors even though `api.repos.delete(...)` would be
//! fine as a property access. So reserved words (and names that clash with
//! `Object.prototype` plumbing) get a trailing `_`: `delete` → `delete_`.

/// `name`, or `name_` when it is reserved.
pub(crate) fn safe(name: String) -> String {
    if crate::catalog::typescript::is_unsafe_name(&name) {
        name + "_"
    } else {
        name
    }
}

/// Splits on anything that is not an ASCII letter or digit.
fn parts(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
}

/// Lower-cases a leading capital or acronym: `Get` → `get`, `URLShorten` → `urlShorten`,
/// `ID` → `id`.
fn lower_head(part: &str) -> String {
    let chars: Vec<char> = part.chars().collect();
    let upper_run = chars.iter().take_while(|c| c.is_ascii_uppercase()).count();
    let cut = match upper_run {
        0 => return part.to_owned(),
        n if n == chars.len() => n,
        // `URLShorten`: the last capital starts the next word, unless a digit follows it.
        n if n > 1 && chars.get(n).is_some_and(char::is_ascii_lowercase) => n - 1,
        1 => 1,
        n => n,
    };
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < cut { c.to_ascii_lowercase() } else { *c })
        .collect()
}

fn upper_head(part: &str) -> String {
    let mut chars = part.chars();
    match chars.next() {
        Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// A camelCase ASCII identifier from arbitrary text (`repos/get-content` → `reposGetContent`,
/// `GetAccounts` → `getAccounts`); `None` when the text has no letters or digits.
pub(crate) fn camel(s: &str) -> Option<String> {
    let mut out = String::new();
    for (i, part) in parts(s).enumerate() {
        if i == 0 {
            out.push_str(&lower_head(part));
        } else {
            out.push_str(&upper_head(part));
        }
    }
    if out.is_empty() {
        return None;
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    Some(out)
}

/// `operation_id` without a leading copy of `tag` (`repos/get-content` with tag `repos` →
/// `get-content`; `admin_apps_approve` with tag `admin.apps` → `approve`): the namespace
/// already says it. `None` when there is no such prefix or nothing would remain.
pub(crate) fn strip_tag_prefix<'a>(operation_id: &'a str, tag: &str) -> Option<&'a str> {
    let words: Vec<&str> = parts(tag).collect();
    if words.is_empty() {
        return None;
    }
    let is_sep = |c: char| !c.is_ascii_alphanumeric();
    let mut rest = operation_id;
    for word in words {
        let head = rest.get(..word.len())?;
        let after = rest.get(word.len()..)?;
        if !head.eq_ignore_ascii_case(word) || !after.starts_with(is_sep) {
            return None;
        }
        rest = after.trim_start_matches(is_sep);
    }
    rest.contains(|c: char| c.is_ascii_alphanumeric())
        .then_some(rest)
}

/// A name for an operation without `operationId`: method and path words, parameters as
/// `By<Name>` (`GET /users/{user-id}/photo` → `getUsersByUserIdPhoto`).
pub(crate) fn generated(method: &str, path: &str) -> String {
    let mut out = method.to_ascii_lowercase();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        let (prefix, text) = match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(param) => ("By", param),
            None => ("", segment),
        };
        if let Some(word) = camel(text) {
            out.push_str(prefix);
            out.push_str(&upper_head(word.trim_start_matches('_')));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_cases() {
        assert_eq!(camel("get-content").as_deref(), Some("getContent"));
        assert_eq!(camel("GetAccounts").as_deref(), Some("getAccounts"));
        assert_eq!(camel("URLShorten").as_deref(), Some("urlShorten"));
        assert_eq!(
            camel("users.user.ListUser").as_deref(),
            Some("usersUserListUser")
        );
        assert_eq!(camel("2fa").as_deref(), Some("_2fa"));
        assert_eq!(camel("--"), None);
    }

    #[test]
    fn prefixes() {
        assert_eq!(
            strip_tag_prefix("repos/get-content", "repos"),
            Some("get-content")
        );
        assert_eq!(
            strip_tag_prefix("admin_apps_approve", "admin.apps"),
            Some("approve")
        );
        assert_eq!(strip_tag_prefix("reposx/get", "repos"), None);
        assert_eq!(strip_tag_prefix("repos/", "repos"), None);
    }

    #[test]
    fn generated_names() {
        assert_eq!(
            generated("GET", "/users/{user-id}/photo"),
            "getUsersByUserIdPhoto"
        );
    }
}
