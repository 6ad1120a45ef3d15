//! A minimal tokenizer for the few places where the AST has no span for a TypeScript token
//! (modifiers such as `private`, the `?` of an optional parameter, `implements`, …).
//! It only ever runs over short ranges between known AST nodes, which contain nothing but
//! keywords, punctuation, whitespace and comments.

/// Offset of the first char at or after `pos` (and before `end`) that is neither whitespace
/// nor inside a comment.
pub(super) fn skip_trivia(src: &str, mut pos: usize, end: usize) -> usize {
    let end = end.min(src.len());
    while pos < end {
        let Some(rest) = src.get(pos..end) else {
            return end;
        };
        if let Some(comment) = rest.strip_prefix("//") {
            pos += 2 + comment.find('\n').unwrap_or(comment.len());
        } else if let Some(comment) = rest.strip_prefix("/*") {
            match comment.find("*/") {
                Some(i) => pos += 2 + i + 2,
                None => return end,
            }
        } else {
            match rest.chars().next() {
                Some(c) if c.is_whitespace() || c == '\u{feff}' => pos += c.len_utf8(),
                _ => break,
            }
        }
    }
    pos.min(end)
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// The next token at or after `pos`: a word (identifier-like) or a single other char.
pub(super) fn next_token(src: &str, pos: usize, end: usize) -> Option<(usize, usize)> {
    let start = skip_trivia(src, pos, end);
    let rest = src.get(start..end.min(src.len()))?;
    let first = rest.chars().next()?;
    let len = if is_word_char(first) {
        rest.find(|c: char| !is_word_char(c)).unwrap_or(rest.len())
    } else {
        first.len_utf8()
    };
    Some((start, start + len))
}

/// Offset of `ch` if it is the next token after `pos`.
pub(super) fn next_char_is(src: &str, pos: usize, end: usize, ch: char) -> Option<usize> {
    let (s, e) = next_token(src, pos, end)?;
    (src.get(s..e)? == ch.encode_utf8(&mut [0; 4])).then_some(s)
}

/// The words at the start of `pos..end`, up to the first token that is not a word.
pub(super) fn leading_words(src: &str, mut pos: usize, end: usize) -> Vec<(usize, usize)> {
    let mut words = Vec::new();
    while let Some((s, e)) = next_token(src, pos, end) {
        if !src
            .get(s..e)
            .is_some_and(|w| w.chars().next().is_some_and(is_word_char))
        {
            break;
        }
        words.push((s, e));
        pos = e;
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_skip_comments_and_whitespace() {
        let src = "  /* a */ private // x\n readonly [k]";
        let words: Vec<&str> = leading_words(src, 0, src.len())
            .into_iter()
            .map(|(s, e)| &src[s..e])
            .collect();
        assert_eq!(words, ["private", "readonly"]);
        assert_eq!(next_char_is(src, 32, src.len(), '['), Some(33));
        assert_eq!(next_char_is("x /* open", 1, 9, '?'), None);
        assert_eq!(skip_trivia("é  x", 2, 5), 4);
    }
}
