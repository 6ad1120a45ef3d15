//! Outcomes → tool results the model can act on: capped output, errors with positions,
//! "did you mean" for misspelled API paths; and the wrapper that hands `search` code its
//! `spec`.

use rmcp::model::{CallToolResult, ContentBlock};
use sandbox::normalize::{Normalized, Shape, normalize};
use sandbox::{Level, Outcome};
use serde_json::{Value, json};

use super::Unavailable;
use base::suggest::edit_distance;

/// Suggestions offered for one unknown path.
const MAX_SUGGESTIONS: usize = 3;

/// `text` cut to at most `max` bytes (on a char boundary) with a notice saying how much was
/// left out and how to narrow.
pub(crate) fn cap(text: &str, max: usize, how_to_narrow: &str) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(
        "{}\n… [output truncated: {} bytes, showing the first {cut}; {how_to_narrow}]",
        &text[..cut],
        text.len()
    )
}

/// The tool result for an execution: `{"result": …, "logs": […]}` as text, or an error
/// result naming the error, where it happened, and what to try.
pub(crate) fn outcome_result(
    outcome: Outcome,
    code: &str,
    known_paths: &[String],
    unavailable: &[Unavailable],
    max: usize,
) -> CallToolResult {
    let logs: Vec<String> = outcome
        .logs
        .iter()
        .map(|log| match log.level {
            Level::Log | Level::Info => log.text.clone(),
            Level::Warn => format!("[warn] {}", log.text),
            Level::Error => format!("[error] {}", log.text),
            Level::Debug => format!("[debug] {}", log.text),
        })
        .collect();
    const NARROW: &str = "return less: select fields, slice arrays, aggregate in code, log less";
    match outcome.error {
        None => {
            let text = json!({ "result": outcome.result.unwrap_or(Value::Null), "logs": logs })
                .to_string();
            CallToolResult::success(vec![ContentBlock::text(cap(&text, max, NARROW))])
        }
        Some(error) => {
            let mut text = format!("{}: {}", error.name, error.message);
            if let Some(code) = &error.code {
                text.push_str(&format!(" [code {code}]"));
            }
            if let (Some(line), Some(column)) = (error.line, error.column) {
                text.push_str(&format!(" (line {line}, column {column})"));
            }
            if error.name == "TypeError" && !known_paths.is_empty() {
                let line_text = error
                    .line
                    .and_then(|l| code.lines().nth(l.saturating_sub(1) as usize))
                    .unwrap_or("");
                let mut hint = did_you_mean(line_text, known_paths);
                if hint.is_none() {
                    hint = did_you_mean(code, known_paths);
                }
                if let Some(hint) = hint {
                    text.push_str(&format!("\n{hint}"));
                }
            }
            // Code that reaches for a server that failed to start learns why it is not there.
            let roots: Vec<String> = dotted_paths(code)
                .into_iter()
                .filter_map(|p| p.split('.').next().map(str::to_owned))
                .collect();
            for missing in unavailable.iter().filter(|u| roots.contains(&u.namespace)) {
                text.push_str(&format!(
                    "\n`{}` is not available: it failed to start ({}).",
                    missing.namespace, missing.reason
                ));
            }
            if let Some(stack) = error.stack.as_deref().filter(|s| !s.trim().is_empty()) {
                text.push_str(&format!("\nstack:\n{stack}"));
            }
            if !logs.is_empty() {
                text.push_str(&format!("\nlogs:\n{}", logs.join("\n")));
            }
            CallToolResult::error(vec![ContentBlock::text(cap(&text, max, NARROW))])
        }
    }
}

/// For each `api.x.y`-like path in `code` that is not bound, the nearest bound paths:
/// "`api.repos.gett` is not a function of this API; did you mean `api.repos.get`?".
pub fn did_you_mean(code: &str, known_paths: &[String]) -> Option<String> {
    let roots: Vec<&str> = {
        let mut r: Vec<&str> = known_paths
            .iter()
            .filter_map(|p| p.split('.').next())
            .collect();
        r.sort_unstable();
        r.dedup();
        r
    };
    let mut unknown: Vec<String> = Vec::new();
    for path in dotted_paths(code) {
        let Some(root) = path.split('.').next() else {
            continue;
        };
        if !roots.contains(&root) || known_paths.contains(&path) || unknown.contains(&path) {
            continue;
        }
        unknown.push(path);
    }
    let mut lines = Vec::new();
    for path in unknown {
        let mut scored: Vec<(usize, &String)> = known_paths
            .iter()
            .filter(|k| k.contains('.'))
            .map(|k| (edit_distance(&path, k), k))
            .collect();
        scored.sort();
        let best: Vec<String> = scored
            .iter()
            .take(MAX_SUGGESTIONS)
            .map(|(_, k)| format!("`{k}`"))
            .collect();
        if !best.is_empty() {
            lines.push(format!(
                "`{path}` does not exist in this API; did you mean {}? Use `search` to find operations.",
                best.join(", ")
            ));
        }
    }
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// `a.b.c` member chains of identifiers (at least two segments), outside of nothing
/// smarter than a scan: strings and comments may yield false candidates, which only cost a
/// suggestion.
fn dotted_paths(code: &str) -> Vec<String> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$';
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts = ident(chars[i])
            && !chars[i].is_ascii_digit()
            && (i == 0 || (chars[i - 1] != '.' && !ident(chars[i - 1])));
        if !starts {
            i += 1;
            continue;
        }
        let mut path = String::new();
        let mut segments = 0;
        let mut j = i;
        loop {
            let start = j;
            while j < chars.len() && ident(chars[j]) {
                j += 1;
            }
            if j == start {
                break;
            }
            path.extend(&chars[start..j]);
            segments += 1;
            if j + 1 < chars.len() && chars[j] == '.' && ident(chars[j + 1]) {
                path.push('.');
                j += 1;
            } else {
                break;
            }
        }
        if segments >= 2 {
            out.push(path);
        }
        i = j.max(i + 1);
    }
    out
}

/// `search` code wrapped so that `spec` is in scope (and passed as the argument), with
/// what is needed to map error positions back to the code as sent.
pub(crate) struct WrappedSearchCode {
    pub(crate) code: String,
    /// Characters the wrapper put before the code's first line.
    prefix_chars: u32,
    /// Lines removed before the code (a markdown fence and prose).
    removed_lines: u32,
    /// A body normalised here (so its result can be awaited): maps its script's positions
    /// back to the body's.
    normalized: Option<Normalized>,
}

impl WrappedSearchCode {
    pub(crate) fn map_positions(&self, mut outcome: Outcome) -> Outcome {
        if let Some(error) = outcome.error.as_mut() {
            if error.line == Some(1)
                && let Some(column) = error.column.as_mut()
            {
                *column = column.saturating_sub(self.prefix_chars).max(1);
            }
            if let (Some(normalized), Some(line), Some(column)) =
                (&self.normalized, error.line, error.column)
            {
                let (line, column) = normalized.source_position(line, column);
                error.line = Some(line);
                error.column = Some(column);
            }
            if let Some(line) = error.line.as_mut() {
                *line += self.removed_lines;
            }
        }
        outcome
    }
}

/// Wraps on the first line only, so line numbers stay those of the code as sent. Functions
/// are called with `spec`; bodies are normalised here and get `spec` in scope. Either way the
/// code is a function `__isletSearch.run` calls once with `spec` (see `spec_view.rs`). Code
/// that does not parse runs unwrapped, so its
/// syntax error points into the code as sent.
pub(crate) fn wrap_search_code(code: &str) -> WrappedSearchCode {
    let (body, removed_lines) = strip_fence(code);
    let start = "async () => __isletSearch.run(";
    let normalized = normalize(&body);
    let (prefix, text, suffix, normalized) = match normalized {
        Ok(n) if matches!(n.shape, Shape::ArrowOrFunction | Shape::FunctionDeclaration) => (
            format!("{start}(spec) => ("),
            body,
            "\n)(spec))".to_owned(),
            None,
        ),
        Ok(n) => (
            format!("{start}(spec) => ("),
            n.script.clone(),
            "\n))".to_owned(),
            Some(n),
        ),
        Err(_) => (String::new(), body, String::new(), None),
    };
    WrappedSearchCode {
        code: format!("{prefix}{text}{suffix}"),
        prefix_chars: u32::try_from(prefix.chars().count()).unwrap_or(0),
        removed_lines,
        normalized,
    }
}

/// The code inside a markdown fence, if it is fenced, and how many lines came before it.
fn strip_fence(code: &str) -> (String, u32) {
    let lines: Vec<&str> = code.lines().collect();
    let Some(open) = lines.iter().position(|l| l.trim_start().starts_with("```")) else {
        return (code.to_owned(), 0);
    };
    let rest = &lines[open + 1..];
    let close = rest
        .iter()
        .position(|l| l.trim_start().starts_with("```"))
        .unwrap_or(rest.len());
    (
        rest[..close].join("\n"),
        u32::try_from(open + 1).unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_nearest_paths_for_misspelled_calls() {
        let known: Vec<String> = [
            "api",
            "api.repos",
            "api.repos.get",
            "api.repos.listForOrg",
            "api.issues.list",
            "api.request",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let hint =
            did_you_mean("const r = await api.repos.gett({owner})", &known).unwrap_or_default();
        assert!(hint.contains("`api.repos.gett` does not exist"), "{hint}");
        assert!(hint.contains("did you mean `api.repos.get`"), "{hint}");
        assert_eq!(
            did_you_mean("await api.repos.get({}); foo.bar()", &known),
            None
        );
    }

    #[test]
    fn caps_on_char_boundaries() {
        let capped = cap("ééééé", 3, "narrow");
        assert!(
            capped.starts_with("é\n… [output truncated: 10 bytes"),
            "{capped}"
        );
    }

    #[test]
    fn wraps_arrows_and_bodies_on_the_first_line() {
        let w = wrap_search_code("async () => Object.keys(spec.paths)");
        assert!(
            w.code
                .starts_with("async () => __isletSearch.run((spec) => (async () =>"),
            "{}",
            w.code
        );
        assert!(w.code.ends_with("\n)(spec))"), "{}", w.code);
        let w = wrap_search_code("```js\nObject.keys(spec.paths)\n```");
        assert!(
            w.code
                .contains("__isletSearch.run((spec) => ((async () => {"),
            "{}",
            w.code
        );
        assert!(w.code.ends_with("\n))"), "{}", w.code);
        assert_eq!(w.removed_lines, 1);
    }
}
