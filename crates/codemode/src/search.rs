//! Plain-language search over a catalog: BM25F over a few weighted fields, with inverted
//! postings so a query only touches the tools that share a term with it.
//!
//! Fields: the tool's name and original name (identifiers split into words), namespace,
//! HTTP path, summary (the description's first sentence), description, keywords and
//! top-level parameter names. Text is split into lowercase ASCII words (`listForRepo` →
//! list, for, repo), stop words are dropped and a light suffix stripper folds plurals and
//! verb forms. Each field's length-normalised term frequency is weighted and summed before
//! saturation (BM25F); that is query-independent, so it is precomputed into the postings.
//!
//! On top of BM25: a query word missing from the catalog matches words it prefixes, a few
//! verbs match their synonyms (create/add/post…) at half weight, tools matching more of the
//! query's words rank higher, a name or summary that says just what the query says ranks
//! highest, and a query that spells a tool's name or route (`issues/list-for-repo`,
//! `GET /repos/{owner}/{repo}`) puts that tool first.

use std::collections::HashMap;

use serde_json::Value;

use crate::catalog::{Catalog, Target, Tool};

const K1: f32 = 1.2;

/// One searchable field: weight in the combined frequency and BM25 length normalisation.
#[derive(Debug, Clone, Copy)]
struct Field {
    weight: f32,
    b: f32,
    /// Count each distinct term once (identifiers repeat words without meaning more).
    distinct: bool,
}

impl Field {
    const fn new(weight: f32, b: f32, distinct: bool) -> Self {
        Self {
            weight,
            b,
            distinct,
        }
    }
}

const NAME: Field = Field::new(4.0, 0.5, true);
const NAMESPACE: Field = Field::new(2.0, 0.5, true);
const PATH: Field = Field::new(1.0, 0.75, false);
/// The description's first sentence: the operation summary, the most precise text.
const SUMMARY: Field = Field::new(2.0, 0.75, false);
const DESCRIPTION: Field = Field::new(1.0, 0.75, false);
const KEYWORDS: Field = Field::new(0.5, 0.75, true);
const PARAMETERS: Field = Field::new(0.5, 0.75, true);
const FIELDS: [Field; 7] = [
    NAME,
    NAMESPACE,
    PATH,
    SUMMARY,
    DESCRIPTION,
    KEYWORDS,
    PARAMETERS,
];

/// Positions in [`FIELDS`] (and in what [`tool_fields`] returns).
const NAME_FIELD: usize = 0;
const SUMMARY_FIELD: usize = 3;

/// Words per field kept for indexing: long descriptions add noise, not recall.
const MAX_FIELD_WORDS: usize = 400;
/// Parameter names taken from an input schema.
const MAX_PARAMETERS: usize = 40;
/// Vocabulary terms a query word not in the vocabulary may expand to by prefix.
const MAX_PREFIX_EXPANSIONS: usize = 8;
/// Weight of a prefix expansion or a synonym relative to the word itself.
const EXPANSION_WEIGHT: f32 = 0.5;

/// A ranked result: `tool` indexes `Catalog::tools`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub tool: usize,
    pub score: f32,
}

/// An inverted index over one catalog's tools.
#[derive(Debug, Clone)]
pub struct SearchIndex {
    terms: HashMap<String, u32>,
    /// Vocabulary sorted, for prefix expansion.
    sorted_terms: Vec<String>,
    /// Per term: (tool, combined normalised frequency), tools ascending.
    postings: Vec<Vec<(u32, f32)>>,
    idf: Vec<f32>,
    /// Identifier spellings (`issueslistforrepo`, `getreposownerrepo`) → tools: a query
    /// naming a tool exactly ranks it first.
    exact: HashMap<String, Vec<u32>>,
    /// Per tool: distinct terms of its name and of its summary, sorted.
    name_terms: Vec<Vec<u32>>,
    summary_terms: Vec<Vec<u32>>,
    len: usize,
}

impl SearchIndex {
    pub fn new(catalog: &Catalog) -> SearchIndex {
        let len = catalog.tools.len();
        // Pass 1: tokens per field per tool, and field lengths.
        let mut docs: Vec<[Vec<String>; FIELDS.len()]> = Vec::with_capacity(len);
        let mut total_len = [0usize; FIELDS.len()];
        let mut exact: HashMap<String, Vec<u32>> = HashMap::new();
        for (index, tool) in catalog.tools.iter().enumerate() {
            let fields = tool_fields(tool);
            for (total, tokens) in total_len.iter_mut().zip(&fields) {
                *total += tokens.len();
            }
            docs.push(fields);
            for spelling in exact_spellings(tool) {
                let tools = exact.entry(spelling).or_default();
                if tools.last() != Some(&(index as u32)) {
                    tools.push(index as u32);
                }
            }
        }
        let avg_len: Vec<f32> = total_len
            .iter()
            .map(|&t| (t as f32 / len.max(1) as f32).max(1.0))
            .collect();

        // Pass 2: combined frequencies into postings.
        let mut terms: HashMap<String, u32> = HashMap::new();
        let mut postings: Vec<Vec<(u32, f32)>> = Vec::new();
        let mut combined: HashMap<u32, f32> = HashMap::new();
        let mut name_terms = Vec::with_capacity(len);
        let mut summary_terms = Vec::with_capacity(len);
        for (index, fields) in docs.iter().enumerate() {
            combined.clear();
            for ((field, tokens), avg) in FIELDS.iter().zip(fields).zip(&avg_len) {
                let norm = 1.0 - field.b + field.b * tokens.len() as f32 / avg;
                let mut counts: HashMap<&str, f32> = HashMap::new();
                for token in tokens {
                    let count = counts.entry(token).or_insert(0.0);
                    *count = if field.distinct { 1.0 } else { *count + 1.0 };
                }
                for (token, count) in counts {
                    let next = terms.len() as u32;
                    let id = *terms.entry(token.to_owned()).or_insert(next);
                    if id as usize == postings.len() {
                        postings.push(Vec::new());
                    }
                    *combined.entry(id).or_insert(0.0) += field.weight * count / norm;
                }
            }
            for (&id, &tf) in &combined {
                postings[id as usize].push((index as u32, tf));
            }
            let ids = |tokens: &[String]| {
                let mut ids: Vec<u32> = tokens
                    .iter()
                    .filter_map(|t| terms.get(t).copied())
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                ids
            };
            name_terms.push(ids(&fields[NAME_FIELD]));
            summary_terms.push(ids(&fields[SUMMARY_FIELD]));
        }
        // Postings were filled tool by tool, so each list is sorted by tool already.
        let n = len as f32;
        let idf = postings
            .iter()
            .map(|p| {
                let df = p.len() as f32;
                (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
            })
            .collect();
        let mut sorted_terms: Vec<String> = terms.keys().cloned().collect();
        sorted_terms.sort_unstable();
        SearchIndex {
            terms,
            sorted_terms,
            postings,
            idf,
            exact,
            name_terms,
            summary_terms,
            len,
        }
    }

    /// The `limit` best tools for `query`, best first (ties by catalog order). Empty when
    /// no word of the query occurs in the catalog.
    pub fn search(&self, query: &str, limit: usize) -> Vec<Hit> {
        if limit == 0 || self.len == 0 {
            return Vec::new();
        }
        let words = self.query_words(query);
        let mut scores = vec![0.0f32; self.len];
        let mut matched = vec![0u8; self.len];
        let mut touched: Vec<u32> = Vec::new();
        // Per query word, a tool scores its best-matching variant (the word, a prefix
        // expansion, a synonym), so a word's variants never add up.
        let mut best = vec![0.0f32; self.len];
        let mut group_touched: Vec<u32> = Vec::new();
        for (group, word) in words.iter().enumerate() {
            for &(term, idf) in &word.terms {
                for &(tool, tf) in &self.postings[term as usize] {
                    let slot = tool as usize;
                    let score = idf * tf * (K1 + 1.0) / (tf + K1);
                    if best[slot] == 0.0 {
                        group_touched.push(tool);
                    }
                    best[slot] = best[slot].max(score);
                }
            }
            for tool in group_touched.drain(..) {
                let slot = tool as usize;
                if scores[slot] == 0.0 {
                    touched.push(tool);
                }
                scores[slot] += best[slot];
                best[slot] = 0.0;
                // Bit per query word (first 8): how many distinct words a tool matches.
                if group < 8 {
                    matched[slot] |= 1 << group;
                }
            }
        }
        // Tools matching more of the query's words first: BM25 alone lets one rare word
        // outweigh two common ones ("list issues for a repo").
        let groups = words
            .iter()
            .filter(|w| !w.terms.is_empty())
            .count()
            .clamp(1, 8) as f32;
        for &tool in &touched {
            let slot = tool as usize;
            let coverage = matched[slot].count_ones() as f32 / groups;
            scores[slot] *= 0.5 + 0.5 * coverage;
        }
        // A summary or name saying just what the query says ("Create a pull request") is
        // the operation asked for, not one of its many relatives that mention it.
        let mut own: Vec<u32> = words.iter().filter_map(|w| w.own).collect();
        own.sort_unstable();
        for &tool in &touched {
            let slot = tool as usize;
            let fit =
                jaccard(&own, &self.summary_terms[slot]).max(jaccard(&own, &self.name_terms[slot]));
            scores[slot] *= 1.0 + fit * fit;
        }
        let normalized = normalize_identifier(query);
        if let Some(tools) = self.exact.get(&normalized) {
            let top = touched
                .iter()
                .map(|&t| scores[t as usize])
                .fold(0.0f32, f32::max);
            for &tool in tools {
                if scores[tool as usize] == 0.0 {
                    touched.push(tool);
                }
                scores[tool as usize] += top + 10.0;
            }
        }
        let mut hits: Vec<Hit> = touched
            .into_iter()
            .map(|t| Hit {
                tool: t as usize,
                score: scores[t as usize],
            })
            .filter(|h| h.score > 0.0)
            .collect();
        let by_rank = |a: &Hit, b: &Hit| b.score.total_cmp(&a.score).then(a.tool.cmp(&b.tool));
        if hits.len() > limit {
            hits.select_nth_unstable_by(limit - 1, by_rank);
            hits.truncate(limit);
        }
        hits.sort_unstable_by(by_rank);
        hits
    }

    /// Per query word: the terms it matches with their effective idf — the word itself,
    /// else vocabulary words it prefixes; plus synonyms. A variant never weighs more than
    /// half the word itself, so a rare synonym cannot outrank the word the user typed.
    fn query_words(&self, query: &str) -> Vec<QueryWord> {
        let mut words = Vec::new();
        tokenize(query, &mut words);
        let mut seen = Vec::new();
        words.retain(|w| {
            let fresh = !seen.contains(w);
            seen.push(w.clone());
            fresh
        });
        words
            .iter()
            .map(|word| {
                let own = self.terms.get(word).copied();
                let cap = own.map_or(f32::MAX, |id| self.idf[id as usize]);
                let variant = |id: u32| (id, self.idf[id as usize].min(cap) * EXPANSION_WEIGHT);
                let mut terms = Vec::new();
                match own {
                    Some(id) => terms.push((id, self.idf[id as usize])),
                    None if word.len() >= 3 => {
                        let start = self
                            .sorted_terms
                            .partition_point(|t| t.as_str() < word.as_str());
                        for term in self.sorted_terms[start..]
                            .iter()
                            .take_while(|t| t.starts_with(word.as_str()))
                            .take(MAX_PREFIX_EXPANSIONS)
                        {
                            if let Some(&id) = self.terms.get(term) {
                                terms.push(variant(id));
                            }
                        }
                    }
                    None => {}
                }
                for synonym in synonyms(word) {
                    if let Some(&id) = self.terms.get(*synonym)
                        && !terms.iter().any(|(t, _)| *t == id)
                    {
                        terms.push(variant(id));
                    }
                }
                QueryWord { own, terms }
            })
            .collect()
    }
}

struct QueryWord {
    /// The word's own term, when the catalog has it.
    own: Option<u32>,
    /// What it matches, with effective idf: itself, prefix expansions, synonyms.
    terms: Vec<(u32, f32)>,
}

/// |a ∩ b| / |a ∪ b| of two sorted, deduplicated sets.
fn jaccard(a: &[u32], b: &[u32]) -> f32 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    common as f32 / (a.len() + b.len() - common) as f32
}

fn tool_fields(tool: &Tool) -> [Vec<String>; FIELDS.len()] {
    let mut name = Vec::new();
    tokenize(&tool.name, &mut name);
    tokenize(&tool.original_name, &mut name);
    let mut namespace = Vec::new();
    tokenize(&tool.namespace, &mut namespace);
    let mut path = Vec::new();
    if let Target::Http(http) = &tool.target {
        tokenize(&http.path, &mut path);
    }
    let mut summary = Vec::new();
    tokenize(first_sentence(&tool.description), &mut summary);
    let mut description = Vec::new();
    tokenize(&tool.description, &mut description);
    let mut keywords = Vec::new();
    for keyword in &tool.keywords {
        tokenize(keyword, &mut keywords);
    }
    let mut parameters = Vec::new();
    for parameter in parameter_names(&tool.input_schema) {
        tokenize(parameter, &mut parameters);
    }
    let mut fields = [
        name,
        namespace,
        path,
        summary,
        description,
        keywords,
        parameters,
    ];
    for field in &mut fields {
        field.truncate(MAX_FIELD_WORDS);
    }
    fields
}

/// Up to the first sentence end or line break (descriptions start with the summary).
fn first_sentence(text: &str) -> &str {
    let text = text.trim_start();
    let end = text
        .char_indices()
        .find(|&(i, c)| c == '\n' || (c == '.' && text[i + 1..].starts_with([' ', '\n'])))
        .map_or(text.len(), |(i, _)| i);
    &text[..end]
}

/// Top-level property names of an input schema (and of its `allOf` members).
fn parameter_names(schema: &Value) -> Vec<&str> {
    let mut names = Vec::new();
    let members = std::iter::once(schema).chain(
        schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten(),
    );
    for member in members {
        if let Some(props) = member.get("properties").and_then(Value::as_object) {
            names.extend(props.keys().map(String::as_str));
        }
    }
    names.truncate(MAX_PARAMETERS);
    names
}

/// Ways a query may name a tool exactly, as [`normalize_identifier`] spells them.
fn exact_spellings(tool: &Tool) -> Vec<String> {
    let mut spellings = vec![
        normalize_identifier(&tool.name),
        normalize_identifier(&tool.original_name),
        normalize_identifier(&tool.path()),
    ];
    if let Some((_, rest)) = tool.path().split_once('.') {
        spellings.push(normalize_identifier(rest));
    }
    if let Target::Http(http) = &tool.target {
        spellings.push(normalize_identifier(&http.path));
        spellings.push(normalize_identifier(&format!(
            "{} {}",
            http.method, http.path
        )));
    }
    spellings.retain(|s| !s.is_empty());
    spellings.sort();
    spellings.dedup();
    spellings
}

/// Lowercase ASCII alphanumerics only: `issues/list-for-repo` = `Issues.listForRepo`.
fn normalize_identifier(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "into", "is", "it",
    "its", "of", "on", "or", "that", "the", "this", "to", "with", "via", "all", "any", "my", "me",
    "i", "you", "your", "we", "our", "can", "do", "does", "how", "which", "what",
];

/// Splits text into lowercase, stemmed ASCII words: on non-alphanumerics, and inside
/// identifiers at camelCase humps (`getHTTPResponse` → get, http, response).
pub(crate) fn tokenize(text: &str, out: &mut Vec<String>) {
    for run in text.split(|c: char| !c.is_ascii_alphanumeric()) {
        if run.is_empty() {
            continue;
        }
        let bytes = run.as_bytes();
        let mut start = 0;
        for i in 1..bytes.len() {
            let (prev, cur) = (bytes[i - 1], bytes[i]);
            let next_lower = bytes.get(i + 1).is_some_and(u8::is_ascii_lowercase);
            let hump = (prev.is_ascii_lowercase() || prev.is_ascii_digit())
                && cur.is_ascii_uppercase()
                || prev.is_ascii_uppercase() && cur.is_ascii_uppercase() && next_lower;
            if hump {
                push_word(&run[start..i], out);
                start = i;
            }
        }
        push_word(&run[start..], out);
    }
}

fn push_word(word: &str, out: &mut Vec<String>) {
    let lower = word.to_ascii_lowercase();
    if lower.len() < 2 || STOP_WORDS.contains(&lower.as_str()) {
        return;
    }
    out.push(stem(canonical(&lower)));
}

/// Spellings of one concept APIs abbreviate differently.
fn canonical(word: &str) -> &str {
    match word {
        "repository" | "repositories" | "repos" => "repo",
        "organization" | "organizations" | "organisation" | "organisations" | "orgs" => "org",
        "configuration" | "configurations" | "configs" => "config",
        "application" | "applications" | "apps" => "app",
        "information" => "info",
        "messages" | "msg" | "msgs" => "message",
        "identifier" | "identifiers" | "ids" => "id",
        "directory" | "directories" | "dirs" => "dir",
        other => other,
    }
}

/// Verbs a plain-language query may use for an API's word (query side only).
fn synonyms(stem: &str) -> &'static [&'static str] {
    match stem {
        "creat" => &["add", "new", "post", "insert"],
        "add" => &["creat", "post"],
        "new" => &["creat"],
        "delet" => &["remov", "destroy"],
        "remov" => &["delet"],
        "updat" => &["edit", "modify", "patch", "chang", "set"],
        "edit" | "modify" | "chang" => &["updat"],
        "get" => &["retriev", "fetch", "read"],
        "fetch" | "retriev" | "read" | "show" => &["get"],
        "send" => &["post"],
        "post" => &["send", "creat"],
        "find" | "search" | "lookup" => &["search", "list", "query"],
        _ => &[],
    }
}

/// A light suffix stripper: plurals, `-ing`, `-ed`, and a final `-e`, so that `creates`,
/// `created`, `creating` and `create` meet at `creat`.
pub(crate) fn stem(word: &str) -> String {
    let mut w = word.to_owned();
    if w.chars().any(|c| c.is_ascii_digit()) || w.len() <= 3 {
        return w;
    }
    if let Some(base) = w.strip_suffix("ies")
        && base.len() >= 2
    {
        w = format!("{base}y");
    } else if ["sses", "ches", "shes", "xes", "zes"]
        .iter()
        .any(|s| w.ends_with(s))
    {
        w.truncate(w.len() - 2);
    } else if w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") && !w.ends_with("is") {
        w.pop();
    }
    for suffix in ["ing", "ed"] {
        if let Some(base) = w.strip_suffix(suffix)
            && base.len() >= 3
            && base.chars().any(|c| "aeiouy".contains(c))
        {
            w = base.to_owned();
            let b = w.as_bytes();
            let n = b.len();
            if n >= 2 && b[n - 1] == b[n - 2] && !b"aeioulsz".contains(&b[n - 1]) {
                w.pop();
            }
            break;
        }
    }
    if w.len() > 3 && w.ends_with('e') {
        w.pop();
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        tokenize(text, &mut out);
        out
    }

    #[test]
    fn identifiers_split_into_words() {
        assert_eq!(words("listForRepo"), ["list", "repo"]);
        assert_eq!(words("issues/list-for-repo"), ["issu", "list", "repo"]);
        assert_eq!(words("getHTTPResponse"), ["get", "http", "respons"]);
        assert_eq!(words("chat.postMessage"), ["chat", "post", "messag"]);
        assert_eq!(
            words("PostCustomersCustomer"),
            ["post", "customer", "customer"]
        );
        assert_eq!(
            words("users.user.ListUser"),
            ["user", "user", "list", "user"]
        );
        assert_eq!(words("/repos/{owner}/{repo}"), ["repo", "owner", "repo"]);
        assert_eq!(words("oauth2 v1.0 é"), ["oauth2", "v1"]);
    }

    #[test]
    fn stemming_meets_verb_forms_and_plurals() {
        for (a, b) in [
            ("create", "creates"),
            ("create", "created"),
            ("create", "creating"),
            ("issue", "issues"),
            ("policy", "policies"),
            ("address", "addresses"),
            ("list", "listing"),
            ("run", "running"),
            ("message", "messages"),
            ("send", "sends"),
        ] {
            assert_eq!(stem(a), stem(b), "{a} vs {b}");
        }
        assert_eq!(stem("status"), "status");
        assert_eq!(stem("analysis"), "analysis");
        assert_eq!(stem("access"), "access");
    }
}
