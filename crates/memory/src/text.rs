//! Text handling: content-derived ids, chunking long messages, and turning a free-text
//! question into a safe FTS5 query.

use crate::model::MemoryType;
use sha2::{Digest, Sha256};

/// Messages on each side of a message whose text is stored as its matching context.
pub(crate) const CONTEXT_MESSAGES: usize = 2;
/// Messages on each side of a message whose text goes into its vector (with its own): the
/// nearest only. On the development split all-MiniLM-L6-v2 alone found 0.532 of the
/// evidence in its top 10 with one neighbour on each side, 0.507 with two (a mean-pooled
/// vector of five messages says less about the one that matters).
pub(crate) const VECTOR_CONTEXT_MESSAGES: usize = 1;
/// The most of one neighbour's text kept in a context.
pub(crate) const CONTEXT_CHARS: usize = 600;

/// The context of message `i` of `count`: the text of up to `reach` messages on each side,
/// each cut to [`CONTEXT_CHARS`]. With [`CONTEXT_MESSAGES`] it is the matching context
/// (ingest computes it; forgetting a message recomputes it for the rest); with
/// [`VECTOR_CONTEXT_MESSAGES`], what the vector is computed from besides the message.
pub(crate) fn neighbour_context<'a>(
    count: usize,
    i: usize,
    reach: usize,
    text: impl Fn(usize) -> &'a str,
) -> Vec<String> {
    let near = i.saturating_sub(reach)..(i + reach + 1).min(count);
    near.filter(|&j| j != i)
        .map(|j| text(j).trim().chars().take(CONTEXT_CHARS).collect())
        .collect()
}

/// Messages longer than this are split into chunks of at most about this size.
pub(crate) const CHUNK_CHARS: usize = 1200;

/// The id of a memory: a hash of everything that makes it this memory and not another
/// (nothing profile-specific, nothing time-dependent), so storing it twice stores it once.
pub(crate) fn memory_id(
    kind: MemoryType,
    content: &str,
    subject: Option<&str>,
    session_id: Option<&str>,
    speaker: Option<&str>,
    source_message_ids: &[String],
) -> String {
    let mut h = Sha256::new();
    // Length-prefixed fields: no two different field lists hash the same bytes.
    let mut field = |s: Option<&str>| match s {
        Some(s) => {
            h.update((s.len() as u64 + 1).to_le_bytes());
            h.update(s.as_bytes());
        }
        None => h.update(0u64.to_le_bytes()),
    };
    field(Some(kind.as_str()));
    field(Some(content));
    field(subject);
    field(session_id);
    field(speaker);
    for id in source_message_ids {
        field(Some(id));
    }
    let digest = h.finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// `Alice . Employer` → `alice.employer`: subjects compare case- and space-insensitively.
pub(crate) fn normalize_subject(subject: &str) -> Option<String> {
    let s = subject
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    (!s.is_empty()).then_some(s)
}

/// Splits `text` into chunks of at most [`CHUNK_CHARS`] characters, preferring paragraph
/// breaks, then sentence ends, then spaces. Short text is one chunk, trimmed.
pub(crate) fn chunk(text: &str) -> Vec<String> {
    let text = text.trim();
    if text.chars().count() <= CHUNK_CHARS {
        return vec![text.to_owned()];
    }
    // Pieces: sentences within paragraphs, each too-long sentence cut at spaces.
    let mut pieces: Vec<(String, bool)> = Vec::new(); // (piece, starts a paragraph)
    for paragraph in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        let mut first = true;
        for sentence in sentences(paragraph) {
            for part in cut_at_spaces(sentence, CHUNK_CHARS) {
                pieces.push((part, first));
                first = false;
            }
        }
    }
    let mut chunks: Vec<String> = Vec::new();
    let mut current = String::new();
    for (piece, new_paragraph) in pieces {
        let sep = if new_paragraph { "\n\n" } else { " " };
        if !current.is_empty()
            && current.chars().count() + sep.len() + piece.chars().count() > CHUNK_CHARS
        {
            chunks.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push_str(sep);
        }
        current.push_str(&piece);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// Sentences: text up to and including `.`, `!` or `?` followed by whitespace.
fn sentences(paragraph: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = paragraph.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if matches!(c, '.' | '!' | '?') && chars.peek().is_some_and(|(_, n)| n.is_whitespace()) {
            let end = i + c.len_utf8();
            let s = paragraph[start..end].trim();
            if !s.is_empty() {
                out.push(s);
            }
            start = end;
        }
    }
    let rest = paragraph[start..].trim();
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

fn cut_at_spaces(sentence: &str, max: usize) -> Vec<String> {
    if sentence.chars().count() <= max {
        return vec![sentence.to_owned()];
    }
    let mut out = Vec::new();
    let mut current = String::new();
    for word in sentence.split_whitespace() {
        // A single word longer than a chunk is cut by characters.
        let mut word = word.to_owned();
        while word.chars().count() > max {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            let head: String = word.chars().take(max).collect();
            word = word.chars().skip(max).collect();
            out.push(head);
        }
        if !current.is_empty() && current.chars().count() + 1 + word.chars().count() > max {
            out.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(&word);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Words of a query or text: lowercase runs of letters and digits.
pub(crate) fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// Words too common to say anything about which memory answers a question. Dropping them
/// keeps BM25 from scanning the postings of "the" in a 100,000-memory profile.
pub(crate) fn is_stopword(w: &str) -> bool {
    STOPWORDS.binary_search(&w).is_ok()
}

const STOPWORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be",
    "been", "before", "being", "but", "by", "can", "could", "did", "do", "does", "doing", "for",
    "from", "had", "has", "have", "having", "he", "her", "here", "hers", "him", "his", "how", "i",
    "if", "in", "into", "is", "it", "its", "just", "me", "my", "no", "nor", "not", "now", "of",
    "on", "or", "our", "ours", "she", "should", "so", "some", "than", "that", "the", "their",
    "theirs", "them", "then", "there", "these", "they", "this", "those", "to", "too", "us", "very",
    "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will",
    "with", "would", "you", "your", "yours",
];

/// Words that say what a text is about: no stopwords, no single letters (the `s` of
/// "bob's", which would otherwise match every "let's").
pub(crate) fn terms(text: &str) -> impl Iterator<Item = String> + '_ {
    words(text).filter(|w| !is_stopword(w) && w.chars().count() > 1)
}

/// The distinct words of a question to search for: its [`terms`], or all its words when
/// it has no terms (a question of stopwords only), at most 32 (a pasted document's first
/// words carry its intent). Empty when it has no words at all.
pub(crate) fn query_words(question: &str) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for w in words(question) {
        if !all.contains(&w) {
            all.push(w);
        }
    }
    let content: Vec<String> = all
        .iter()
        .filter(|w| !is_stopword(w) && w.chars().count() > 1)
        .cloned()
        .collect();
    let mut chosen = if content.is_empty() { all } else { content };
    chosen.truncate(32);
    chosen
}

#[cfg(test)]
mod tests {
    use super::{CONTEXT_MESSAGES, VECTOR_CONTEXT_MESSAGES, neighbour_context};

    #[test]
    fn the_vector_context_is_the_nearest_neighbours_the_matching_context_two_each_side() {
        let texts = ["a", "b", " c ", "d", "e"];
        let text = |j: usize| texts[j];
        assert_eq!(
            neighbour_context(5, 2, VECTOR_CONTEXT_MESSAGES, text),
            ["b", "d"]
        );
        assert_eq!(
            neighbour_context(5, 2, CONTEXT_MESSAGES, text),
            ["a", "b", "d", "e"]
        );
        assert_eq!(
            neighbour_context(5, 0, VECTOR_CONTEXT_MESSAGES, text),
            ["b"]
        );
        assert_eq!(
            neighbour_context(5, 3, VECTOR_CONTEXT_MESSAGES, text),
            ["c", "e"]
        );
        assert!(neighbour_context(1, 0, VECTOR_CONTEXT_MESSAGES, text).is_empty());
    }
}
