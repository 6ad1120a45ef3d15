//! Markdown fences: models often wrap code in ```` ```ts ```` blocks, sometimes with prose around.

/// The code to run, cut out of what the model sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Block<'a> {
    pub code: &'a str,
    /// Lines before `code` in the input (the opening fence and anything above it).
    pub line_offset: u32,
}

/// Fenced blocks were found, but none holds JavaScript or TypeScript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NotCode {
    pub lang: String,
    /// 1-based line of the first fence.
    pub line: u32,
}

/// Language tags taken as JavaScript/TypeScript (an empty tag too).
const LANGS: &[&str] = &[
    "",
    "js",
    "javascript",
    "ts",
    "typescript",
    "mjs",
    "cjs",
    "mts",
    "cts",
    "jsx",
    "tsx",
    "node",
];

struct Fence {
    /// Number of backticks.
    ticks: usize,
    lang: String,
}

/// An opening fence line: at least three backticks, then an info string without backticks
/// (CommonMark). Only backtick fences count: a line starting with `~~~` is valid JS.
fn opening(line: &str) -> Option<Fence> {
    let t = line.trim();
    let ticks = t.bytes().take_while(|&b| b == b'`').count();
    if ticks < 3 {
        return None;
    }
    let info = t[ticks..].trim();
    if info.contains('`') {
        return None;
    }
    let lang = info
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '+'))
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    Some(Fence { ticks, lang })
}

fn closes(line: &str, fence: &Fence) -> bool {
    let t = line.trim();
    t.len() >= fence.ticks && t.bytes().all(|b| b == b'`')
}

/// Take the first fenced block tagged JS/TS (or untagged). Input without any fence line is
/// returned whole. A line starting with ```` ``` ```` cannot occur in valid JS outside a block
/// comment (inside a template literal the backticks would have to be escaped), so the presence
/// of one is taken to mean the input is markdown.
pub(super) fn extract(text: &str) -> Result<Block<'_>, NotCode> {
    // (byte offset of line start, line without its newline)
    let mut lines = Vec::new();
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        lines.push((at, line.strip_suffix('\n').unwrap_or(line)));
        at += line.len();
    }

    let mut first_other: Option<NotCode> = None;
    let mut i = 0;
    while i < lines.len() {
        let Some(fence) = opening(lines[i].1) else {
            i += 1;
            continue;
        };
        let start = lines.get(i + 1).map_or(text.len(), |l| l.0);
        let close = (i + 1..lines.len()).find(|&j| closes(lines[j].1, &fence));
        let end = close.map_or(text.len(), |j| lines[j].0);
        if LANGS.contains(&fence.lang.as_str()) {
            return Ok(Block {
                code: &text[start..end],
                line_offset: u32::try_from(i + 1).unwrap_or(u32::MAX),
            });
        }
        if first_other.is_none() {
            first_other = Some(NotCode {
                lang: fence.lang,
                line: u32::try_from(i + 1).unwrap_or(u32::MAX),
            });
        }
        i = close.map_or(lines.len(), |j| j + 1);
    }
    match first_other {
        Some(other) => Err(other),
        None => Ok(Block {
            code: text,
            line_offset: 0,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_code_is_taken_whole() {
        let b = extract("const x = 1;\nx\n").unwrap();
        assert_eq!(
            b,
            Block {
                code: "const x = 1;\nx\n",
                line_offset: 0
            }
        );
    }

    #[test]
    fn first_js_block_after_prose() {
        let text =
            "Here you go:\n\n```python\nprint(1)\n```\n```ts\nconst x = 1\n```\nbye\n```js\n2\n```";
        let b = extract(text).unwrap();
        assert_eq!(
            b,
            Block {
                code: "const x = 1\n",
                line_offset: 6
            }
        );
    }

    #[test]
    fn bare_and_unclosed_fences() {
        assert_eq!(
            extract("```\n1\n```").unwrap(),
            Block {
                code: "1\n",
                line_offset: 1
            }
        );
        assert_eq!(
            extract("  ```TypeScript title=x\n1").unwrap(),
            Block {
                code: "1",
                line_offset: 1
            }
        );
        assert_eq!(
            extract("````ts\n```\n1\n````\n").unwrap(),
            Block {
                code: "```\n1\n",
                line_offset: 1
            }
        );
        assert_eq!(
            extract("```js").unwrap(),
            Block {
                code: "",
                line_offset: 1
            }
        );
    }

    #[test]
    fn only_other_languages() {
        let e = extract("text\n```python\nprint(1)\n```\n").unwrap_err();
        assert_eq!(
            e,
            NotCode {
                lang: "python".into(),
                line: 2
            }
        );
    }

    #[test]
    fn inline_backticks_are_not_fences() {
        let text = "```js console.log(1)```";
        assert_eq!(
            extract(text).unwrap(),
            Block {
                code: text,
                line_offset: 0
            }
        );
    }
}
