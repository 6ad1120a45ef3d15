//! "Did you mean": the nearest valid name to one the model got wrong, for error messages
//! (request properties, tool paths, agent classes and methods).

/// Levenshtein distance (for "did you mean" suggestions).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate nearest to `name`, if near enough to be a plausible typo.
pub fn nearest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            let d = if c.to_ascii_lowercase() == lower {
                0
            } else {
                edit_distance(&lower, &c.to_ascii_lowercase())
            };
            (d, c)
        })
        .filter(|(d, c)| *d <= (c.chars().count().max(name.chars().count()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// " (did you mean `x`?)" for a suggestion, or nothing: the one wording of the hint that
/// follows a wrong name in an error message.
pub fn did_you_mean(nearest: Option<&str>) -> String {
    nearest
        .map(|n| format!(" (did you mean `{n}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("owner", "ownr"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(nearest("ownr", ["repo", "owner"]), Some("owner"));
        assert_eq!(nearest("zzzzzz", ["repo", "owner"]), None);
    }
}
