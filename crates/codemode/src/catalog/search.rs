//! Plain-language search over a catalog: BM25F over weighted fields, with inverted postings
//! so a query only touches the tools that share a term with it, then a few structural
//! signals that are true of any API.
//!
//! Fields (see `FIELDS`): the operation's name and id, namespace, the resource its path
//! ends at, the rest of the path, path-parameter names (barely weighted: `{id}` is in every
//! other path), the summary (the description's first sentence), the description, the full
//! description text and tags (`Tool::keywords`), input property names (and those one level
//! inside an object input: `invoice_settings.default_payment_method`), the values of
//! action-like enums (`type`, `action`, `state`…, where one generic endpoint hides many
//! actions), and what the inputs' own descriptions say. Identifiers split into words (`listForRepo` → list, for, repo), and a word
//! run together from two words of the same catalog (`worklog`) also counts, at half
//! weight, as its parts. Term statistics are per catalog, so a word in every operation of
//! this API ("microsoft" in Graph's paths) weighs next to nothing.
//!
//! A query word matches its own term, and at reduced weight its synonyms (a general
//! thesaurus of software verbs and nouns, `text.rs`), the one who does it (`review` →
//! reviewer), words sharing its stem's prefix (`subscribe` → subscription), and — only when nothing else matches — vocabulary words
//! spelled alike. Per tool, each query word scores its best variant (BM25F), then:
//! coverage (the share of the query's weight the tool matches), fit (how much of the
//! summary or name is what the query says), action (the verb's implied action against
//! the method or the summary's own verb: "kill" means delete), and shape (asking for one
//! item by id, or for a list); a tool whose verb undoes the query's (open/close) weighs
//! less. Numbers and the API's own name weigh little in a query. Operations that do the
//! same under other paths (Graph's `/me/x` and `/users/{id}/x`) are shown once, with a
//! note. A query that spells a tool's name or route puts it first.
//! [`SearchIndex::explain`] shows every contribution.

mod explain;
pub mod semantic;
mod text;

use std::collections::HashMap;

use rustc_hash::FxHashMap;
use serde_json::Value;

use crate::catalog::{Catalog, ParamLocation, Target, Tool};
use base::suggest::edit_distance;
pub use explain::{Contribution, Explanation, Variant};
pub(crate) use text::tokenize;
use text::{
    Action, action_of, expansion, opposites_of, part_weights, query_action, raw_words, roles, stem,
    synonyms, term, wants_one,
};

const K1: f32 = 1.2;

/// One searchable field: weight in the combined frequency and BM25 length normalisation.
#[derive(Debug, Clone, Copy)]
struct Field {
    name: &'static str,
    weight: f32,
    b: f32,
    /// Count each distinct term once (identifiers repeat words without meaning more).
    distinct: bool,
}

const fn field(name: &'static str, weight: f32, b: f32, distinct: bool) -> Field {
    Field {
        name,
        weight,
        b,
        distinct,
    }
}

const FIELDS: [Field; 11] = [
    field("name", 3.0, 0.5, true),
    field("namespace", 1.5, 0.5, true),
    // The path's last static segments: the resource the operation acts on.
    field("resource", 1.5, 0.5, true),
    field("path", 0.75, 0.5, true),
    field("path parameters", 0.1, 0.5, true),
    field("summary", 2.5, 0.75, false),
    field("description", 0.6, 0.75, false),
    field("details", 0.15, 0.75, false),
    field("parameters", 0.4, 0.75, true),
    field("values", 0.5, 0.75, true),
    // What the inputs' own descriptions say ("SHA or branch to start listing commits
    // from", "the permission to grant: pull, push, admin").
    field("parameter text", 0.15, 0.75, false),
];
const NAME_FIELD: usize = 0;
const SUMMARY_FIELD: usize = 5;

/// Words per field kept for indexing.
const MAX_FIELD_WORDS: usize = 600;
/// Input property names taken from a schema.
const MAX_PARAMETERS: usize = 60;
/// Property names taken from inside one input property's object.
const MAX_INNER_PARAMETERS: usize = 20;
/// Enum values taken from one action-like property.
const MAX_ENUM_VALUES: usize = 40;
/// Vocabulary terms a query word may expand to by prefix.
const MAX_PREFIX_EXPANSIONS: usize = 8;
/// Vocabulary terms a word nobody uses may be read as by spelling.
const MAX_SPELLINGS: usize = 3;
/// Weights of a word's variants relative to the word itself.
const PREFIX_WEIGHT: f32 = 0.5;
const RELATED_WEIGHT: f32 = 0.4;
const AGENT_WEIGHT: f32 = 0.8;
const SYNONYM_WEIGHT: f32 = 0.9;
const SPELLING_WEIGHT: f32 = 0.8;
/// Score factors (see [`Explanation`]): coverage runs from the floor to 1, fit adds up to
/// its weight, action and shape agree or disagree.
const COVERAGE_FLOOR: f32 = 0.5;
const FIT_WEIGHT: f32 = 3.0;
const ACTION_AGREES: f32 = 1.2;
const ACTION_DISAGREES: f32 = 0.7;
const SHAPE_AGREES: f32 = 1.1;
/// The factor for an operation whose verb undoes the query's.
const OPPOSITE: f32 = 0.6;
const SHAPE_DISAGREES: f32 = 0.9;
/// The most fit, action and shape together multiply a score by.
const MAX_BOOST: f32 = (1.0 + FIT_WEIGHT) * ACTION_AGREES * SHAPE_AGREES;
/// What a tool the query names exactly scores above the best other tool.
const EXACT_BONUS: f32 = 10.0;
/// Weight of a number or of a word of the API's title in a query.
const INCIDENTAL_WEIGHT: f32 = 0.3;
/// Scores this close (relative) tie: a family shows its shorter route.
const TIE: f32 = 0.02;
/// Weight of a compound's parts (`worklog` → work, log) relative to the compound.
const COMPOUND_PART_WEIGHT: f32 = 0.5;
/// Weight of a word's head after a prefix that is no word (`permalink` → link): the head
/// names what the word is, so it counts for more than one of two equal parts.
const HEAD_WEIGHT: f32 = 0.75;

/// A ranked result: `tool` indexes `Catalog::tools`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Index into `Catalog::tools`.
    pub tool: usize,
    /// Relevance: higher is better; comparable only within one query.
    pub score: f32,
}

/// Hits, and a note for the caller when some words of the query matched nothing or were
/// read as other words.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    /// The tools that matched, best first, one per family.
    pub hits: Vec<Hit>,
    /// What the caller should know about how the query was read, if anything.
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy)]
struct Posting {
    tool: u32,
    /// Combined (weighted, length-normalised) term frequency over all fields.
    tf: f32,
    /// Bit per field of [`FIELDS`] the term occurs in (for explanations).
    fields: u16,
}

/// An inverted index over one catalog's tools.
#[derive(Debug, Clone)]
pub struct SearchIndex {
    terms: FxHashMap<String, u32>,
    /// Term id → spelling.
    names: Vec<String>,
    /// Term ids sorted by spelling, for prefix expansion.
    sorted: Vec<u32>,
    /// Per term: the tools it occurs in, ascending.
    postings: Vec<Vec<Posting>>,
    idf: Vec<f32>,
    /// Identifier spellings (`issueslistforrepo`, `getreposownerrepo`) → tools: a query
    /// naming a tool exactly ranks it first.
    exact: HashMap<String, Vec<u32>>,
    /// Per tool: distinct terms of its name and of its summary, sorted.
    name_terms: Vec<Vec<u32>>,
    summary_terms: Vec<Vec<u32>>,
    /// Per tool: what it does, and whether it reads one item (its path ends at a parameter).
    actions: Vec<Option<Action>>,
    /// Per tool: the verbs its summary and its name open with (`clos` for "Closes a
    /// conversation"), to tell an operation from its opposite.
    verbs: Vec<[Option<u32>; 2]>,
    one_item: Vec<bool>,
    /// Per tool: its family, the first tool that does the same thing (same method, same
    /// text, same path tail) under another path (Graph's `/me/…` and `/users/{id}/…`).
    /// Results show one tool per family.
    family: Vec<u32>,
    /// Per tool: `METHOD /path` (empty for a tool that is not an HTTP operation).
    routes: Vec<String>,
    /// The words of the catalog's title ("Stripe API"): in a query they say which API, not
    /// which operation.
    title: Vec<String>,
    /// Term → its head, for words that are a head after a prefix that is no word
    /// (`permalink` → `link`): the query's word covers such a word for fit.
    heads: FxHashMap<u32, u32>,
    len: usize,
}

impl SearchIndex {
    /// Indexes every tool of `catalog` (names, summaries, paths, keywords).
    pub fn new(catalog: &Catalog) -> SearchIndex {
        let len = catalog.tools.len();
        // Pass 1: each tool's fields as term ids, field lengths, document frequencies.
        let mut terms: FxHashMap<String, u32> = FxHashMap::default();
        let mut names: Vec<String> = Vec::new();
        let mut doc_freq: Vec<u32> = Vec::new();
        let mut last_tool: Vec<u32> = Vec::new();
        let mut docs: Vec<[Vec<u32>; FIELDS.len()]> = Vec::with_capacity(len);
        let mut total_len = [0usize; FIELDS.len()];
        let mut exact: HashMap<String, Vec<u32>> = HashMap::new();
        let mut actions = Vec::with_capacity(len);
        let mut one_item = Vec::with_capacity(len);
        let mut verb_words: Vec<[Option<String>; 2]> = Vec::with_capacity(len);
        let mut family = Vec::with_capacity(len);
        let mut families: FxHashMap<u64, u32> = FxHashMap::default();
        let mut routes = Vec::with_capacity(len);
        for (index, tool) in catalog.tools.iter().enumerate() {
            family.push(match family_key(tool) {
                Some(key) => *families.entry(key).or_insert(index as u32),
                None => index as u32,
            });
            routes.push(match &tool.target {
                Target::Http(http) => format!("{} {}", http.method, http.path),
                _ => String::new(),
            });
            let fields = tool_fields(tool);
            actions.push(tool_action(
                tool,
                &fields[SUMMARY_FIELD],
                &fields[NAME_FIELD],
            ));
            one_item.push(reads_one_item(tool));
            verb_words.push(tool_verbs(tool, &fields[SUMMARY_FIELD]));
            let ids = fields.map(|tokens| {
                tokens
                    .into_iter()
                    .map(|token| {
                        let id = match terms.get(&token) {
                            Some(&id) => id,
                            None => {
                                let id = names.len() as u32;
                                terms.insert(token.clone(), id);
                                names.push(token);
                                doc_freq.push(0);
                                last_tool.push(u32::MAX);
                                id
                            }
                        };
                        if last_tool[id as usize] != index as u32 {
                            last_tool[id as usize] = index as u32;
                            doc_freq[id as usize] += 1;
                        }
                        id
                    })
                    .collect::<Vec<u32>>()
            });
            for (total, ids) in total_len.iter_mut().zip(&ids) {
                *total += ids.len();
            }
            docs.push(ids);
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
        // Terms that are two other terms run together (`worklog`, `webhook`), each part
        // used on its own by at least two tools.
        let known = |part: &str| {
            terms
                .get(part)
                .is_some_and(|&id| doc_freq[id as usize] >= 2)
        };
        // A word whose only known part is its head (`permalink`: a kind of link) counts
        // as that head too.
        let compounds: FxHashMap<u32, (u32, Option<u32>)> = names
            .iter()
            .enumerate()
            .filter_map(|(id, name)| match split_compound(name, known) {
                Some((a, b)) => Some((id as u32, (terms[&a], Some(terms[&b])))),
                None => Some((id as u32, (terms[&split_head(name, known)?], None))),
            })
            .collect();

        let heads: FxHashMap<u32, u32> = compounds
            .iter()
            .filter_map(|(&word, &(head, second))| second.is_none().then_some((word, head)))
            .collect();

        // Pass 2: combined frequencies into postings.
        let mut postings: Vec<Vec<Posting>> = vec![Vec::new(); names.len()];
        let mut combined: FxHashMap<u32, (f32, u16)> = FxHashMap::default();
        let mut name_terms = Vec::with_capacity(len);
        let mut summary_terms = Vec::with_capacity(len);
        let mut sorted: Vec<u32> = Vec::new();
        for (index, fields) in docs.iter().enumerate() {
            combined.clear();
            for (slot, ((field, ids), avg)) in FIELDS.iter().zip(fields).zip(&avg_len).enumerate() {
                let norm = 1.0 - field.b + field.b * ids.len() as f32 / avg;
                sorted.clear();
                sorted.extend_from_slice(ids);
                sorted.sort_unstable();
                let mut add = |id: u32, weight: f32| {
                    let entry = combined.entry(id).or_insert((0.0, 0));
                    entry.0 += weight * field.weight / norm;
                    entry.1 |= 1 << slot;
                };
                for run in sorted.chunk_by(|a, b| a == b) {
                    let count = if field.distinct {
                        1.0
                    } else {
                        run.len() as f32
                    };
                    add(run[0], count);
                    match compounds.get(&run[0]) {
                        Some(&(a, Some(b))) => {
                            add(a, count * COMPOUND_PART_WEIGHT);
                            add(b, count * COMPOUND_PART_WEIGHT);
                        }
                        Some(&(head, None)) => add(head, count * HEAD_WEIGHT),
                        None => {}
                    }
                }
            }
            // Filled tool by tool, so each list stays sorted by tool.
            for (&id, &(tf, fields)) in &combined {
                postings[id as usize].push(Posting {
                    tool: index as u32,
                    tf,
                    fields,
                });
            }
            let distinct = |ids: &[u32]| {
                let mut ids = ids.to_vec();
                ids.sort_unstable();
                ids.dedup();
                ids
            };
            name_terms.push(distinct(&fields[NAME_FIELD]));
            summary_terms.push(distinct(&fields[SUMMARY_FIELD]));
        }
        let n = len as f32;
        let idf = postings
            .iter()
            .map(|p| {
                let df = p.len() as f32;
                (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
            })
            .collect();
        // Verbs a tool opens with that no field indexes (a stop word) are left out.
        let verbs = verb_words
            .into_iter()
            .map(|words| words.map(|w| w.and_then(|w| terms.get(&w).copied())))
            .collect();
        let mut sorted: Vec<u32> = (0..names.len() as u32).collect();
        sorted.sort_unstable_by(|&a, &b| names[a as usize].cmp(&names[b as usize]));
        SearchIndex {
            terms,
            names,
            sorted,
            postings,
            idf,
            exact,
            name_terms,
            summary_terms,
            actions,
            verbs,
            one_item,
            family,
            routes,
            title: {
                let mut title = Vec::new();
                tokenize(&catalog.title, &mut title);
                title
            },
            heads,
            len,
        }
    }

    /// The `limit` best tools for `query`, best first (ties by catalog order). Empty when
    /// no word of the query is like any word of the catalog.
    pub fn search(&self, query: &str, limit: usize) -> Vec<Hit> {
        self.rank(query, limit).hits
    }

    /// As [`search`](Self::search), with a note saying which words matched nothing or were
    /// read by spelling as other words.
    pub fn rank(&self, query: &str, limit: usize) -> Ranking {
        if limit == 0 || self.len == 0 {
            return Ranking {
                hits: Vec::new(),
                note: None,
            };
        }
        let query = self.parse(query);
        let (hits, collapsed) = self.score(&query, limit);
        let note = match (query.note(), self.collapsed_note(&collapsed)) {
            (Some(a), Some(b)) => Some(format!("{a}\n{b}")),
            (a, b) => a.or(b),
        };
        Ranking { hits, note }
    }

    /// The `limit` best tools for `query` with what each score is made of.
    pub fn explain(&self, query: &str, limit: usize) -> Vec<(Hit, Explanation)> {
        if limit == 0 || self.len == 0 {
            return Vec::new();
        }
        let query = self.parse(query);
        self.score(&query, limit)
            .0
            .into_iter()
            .map(|hit| {
                let why = self.explanation(&query, hit.tool);
                (hit, why)
            })
            .collect()
    }

    fn score(&self, query: &Query, limit: usize) -> (Vec<Hit>, Collapsed) {
        let mut scores = vec![0.0f32; self.len];
        // Per tool: the query weight it matches (for coverage).
        let mut matched = vec![0.0f32; self.len];
        let mut touched: Vec<u32> = Vec::new();
        // Per query word, a tool scores its best-matching variant, so variants never add up.
        let mut best = vec![(0.0f32, 0.0f32); self.len];
        let mut group_touched: Vec<u32> = Vec::new();
        for group in &query.groups {
            for variant in &group.variants {
                for posting in &self.postings[variant.term as usize] {
                    let slot = posting.tool as usize;
                    let score = variant.idf * saturate(posting.tf);
                    if best[slot].0 == 0.0 {
                        group_touched.push(posting.tool);
                    }
                    if score > best[slot].0 {
                        best[slot] = (score, variant.idf);
                    }
                }
            }
            for tool in group_touched.drain(..) {
                let slot = tool as usize;
                if scores[slot] == 0.0 {
                    touched.push(tool);
                }
                scores[slot] += best[slot].0;
                matched[slot] += best[slot].1;
                best[slot] = (0.0, 0.0);
            }
        }
        // Coverage is cheap; fit, action and shape multiply by at most MAX_BOOST, so they
        // are worked out best-first, only while a tool could still reach the top `limit`.
        let by_rank = |a: &Hit, b: &Hit| b.score.total_cmp(&a.score).then(a.tool.cmp(&b.tool));
        let mut candidates: Vec<Hit> = touched
            .iter()
            .map(|&t| Hit {
                tool: t as usize,
                score: scores[t as usize] * coverage_factor(query, matched[t as usize]),
            })
            .filter(|h| h.score > 0.0)
            .collect();
        candidates.sort_unstable_by(by_rank);
        let mut hits: Vec<Hit> = Vec::new();
        // Per family shown: its hit's position in `hits`, and the other members it stands for.
        let mut shown: FxHashMap<u32, (usize, Vec<usize>)> = FxHashMap::default();
        // The `limit` best final scores so far, one per family (as bits: positive floats
        // order like them). A family's later, better member does not raise its entry, so
        // the bound only ever errs towards scoring more candidates.
        let mut best = std::collections::BinaryHeap::new();
        for candidate in candidates {
            if best.len() >= limit
                && let Some(&std::cmp::Reverse(kth)) = best.peek()
                && candidate.score * MAX_BOOST < f32::from_bits(kth)
            {
                break;
            }
            let (fit, action, shape) = self.boosts(query, candidate.tool);
            let hit = Hit {
                tool: candidate.tool,
                score: candidate.score * fit * action * shape,
            };
            if self.merge_into_family(&mut hits, &mut shown, hit) {
                best.push(std::cmp::Reverse(hit.score.to_bits()));
                if best.len() > limit {
                    best.pop();
                }
            }
        }
        if let Some(tools) = self.exact.get(&query.identifier) {
            let top = hits.iter().map(|h| h.score).fold(0.0f32, f32::max);
            for &tool in tools {
                let tool = tool as usize;
                let score = match hits.iter().find(|h| h.tool == tool) {
                    Some(hit) => hit.score + top + EXACT_BONUS,
                    None => top + EXACT_BONUS,
                };
                // The tool named, not another member of its family, is the one shown.
                match shown.get_mut(&self.family[tool]) {
                    Some((at, others)) => {
                        let previous = hits[*at].tool;
                        if previous != tool {
                            others.retain(|&t| t != tool);
                            others.push(previous);
                        }
                        hits[*at] = Hit { tool, score };
                    }
                    None => {
                        shown.insert(self.family[tool], (hits.len(), Vec::new()));
                        hits.push(Hit { tool, score });
                    }
                }
            }
        }
        // `shown` holds positions in `hits`, which the selection below reorders.
        if hits.len() > limit {
            hits.select_nth_unstable_by(limit - 1, by_rank);
            hits.truncate(limit);
        }
        hits.sort_unstable_by(by_rank);
        // What the shown hits stand for, for the note.
        let mut collapsed = Collapsed::default();
        for hit in &hits {
            if let Some((_, others)) = shown.get(&self.family[hit.tool])
                && let Some(&other) = others.first()
            {
                collapsed.count += others.len();
                collapsed.example.get_or_insert((hit.tool, other));
            }
        }
        (hits, collapsed)
    }

    /// Adds `hit` to `hits` unless a tool of its family is there already; then the better
    /// of the two stays (on a near tie, the shorter route: `/me/x` over `/users/{id}/x`).
    /// True when the family is new to `hits`.
    fn merge_into_family(
        &self,
        hits: &mut Vec<Hit>,
        shown: &mut FxHashMap<u32, (usize, Vec<usize>)>,
        hit: Hit,
    ) -> bool {
        let family = self.family[hit.tool];
        let Some((at, others)) = shown.get_mut(&family) else {
            shown.insert(family, (hits.len(), Vec::new()));
            hits.push(hit);
            return true;
        };
        let current = hits[*at];
        let tie = (hit.score - current.score).abs() <= TIE * hit.score.max(current.score);
        let better = if tie {
            self.routes[hit.tool].len() < self.routes[current.tool].len()
        } else {
            hit.score > current.score
        };
        if better {
            others.push(current.tool);
            hits[*at] = hit;
        } else {
            others.push(hit.tool);
        }
        false
    }

    /// Says that results stand for operations under other paths, with one example.
    fn collapsed_note(&self, collapsed: &Collapsed) -> Option<String> {
        let (shown, other) = collapsed.example?;
        let more = match collapsed.count {
            0 | 1 => String::new(),
            n => format!(" (and {} more like it)", n - 1),
        };
        Some(format!(
            "Note: each operation is shown once; `{}` also exists as `{}`{more}. Search with \
             `code` to list every path.",
            self.routes[shown], self.routes[other]
        ))
    }

    /// Fit, action and shape: the factors of a tool's score besides coverage.
    fn boosts(&self, query: &Query, tool: usize) -> (f32, f32, f32) {
        // A summary or name saying just what the query says ("Create a pull request") is
        // the operation asked for, not one of its many relatives that mention it.
        let fit = self
            .fit(query, &self.summary_terms[tool])
            .max(self.fit(query, &self.name_terms[tool]));
        // The query's verb against what the tool does ("kill" means delete).
        let action = match (query.action, self.actions[tool]) {
            (Some(Action::Change), Some(Action::Read)) => ACTION_DISAGREES,
            (Some(Action::Change), Some(_)) => ACTION_AGREES,
            (Some(wanted), Some(does)) if wanted == does => ACTION_AGREES,
            (Some(_), Some(_)) => ACTION_DISAGREES,
            _ => 1.0,
        };
        // An operation that undoes what the query asks for is not it ("start a direct
        // message" is not "Closes a direct message").
        let action = if self.verbs[tool]
            .iter()
            .flatten()
            .any(|v| query.opposites.contains(v))
        {
            action * OPPOSITE
        } else {
            action
        };
        // "by id" asks for one item, "list all" for many: among reads, the path says which.
        let shape = match (query.wants_one, self.actions[tool]) {
            (Some(one), Some(Action::Read)) if one == self.one_item[tool] => SHAPE_AGREES,
            (Some(_), Some(Action::Read)) => SHAPE_DISAGREES,
            _ => 1.0,
        };
        (1.0 + FIT_WEIGHT * fit, action, shape)
    }

    /// The share of the query's and the text's combined weight that they have in common.
    fn fit(&self, query: &Query, text: &[u32]) -> f32 {
        if text.is_empty() || query.potential <= 0.0 {
            return 0.0;
        }
        let mut common = 0.0;
        let mut extra = 0.0;
        let mut seen = 0u64;
        for &term in text {
            let group = query.term_groups.get(&term).or_else(|| {
                let head = self.heads.get(&term)?;
                query.term_groups.get(head)
            });
            match group {
                Some(&(group, idf)) => {
                    let bit = 1u64 << (group % 64);
                    if seen & bit == 0 {
                        seen |= bit;
                        common += idf;
                    }
                }
                None => extra += self.idf[term as usize],
            }
        }
        // How much of the text the query says (a summary that is all query is the
        // operation asked for), tempered by how much of the query the text says.
        let precision = common / (common + extra).max(f32::EPSILON);
        let recall = (common / query.potential).min(1.0);
        precision * recall.sqrt()
    }

    fn explanation(&self, query: &Query, tool: usize) -> Explanation {
        let mut contributions = Vec::new();
        let mut matched = 0.0;
        for group in &query.groups {
            let mut best: Option<Contribution> = None;
            for variant in &group.variants {
                let postings = &self.postings[variant.term as usize];
                let Ok(at) = postings.binary_search_by_key(&(tool as u32), |p| p.tool) else {
                    continue;
                };
                let posting = postings[at];
                let points = variant.idf * saturate(posting.tf);
                if best.as_ref().is_none_or(|b| points > b.points) {
                    best = Some(Contribution {
                        word: group.word.clone(),
                        term: self.names[variant.term as usize].clone(),
                        variant: variant.kind,
                        fields: FIELDS
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| posting.fields & (1 << i) != 0)
                            .map(|(_, f)| f.name)
                            .collect(),
                        points,
                        idf: variant.idf,
                    });
                }
            }
            if let Some(best) = best {
                matched += best.idf;
                contributions.push(best);
            }
        }
        let (fit, action, shape) = self.boosts(query, tool);
        Explanation {
            contributions,
            coverage: coverage_factor(query, matched),
            fit,
            action,
            shape,
            exact: self
                .exact
                .get(&query.identifier)
                .is_some_and(|tools| tools.contains(&(tool as u32))),
        }
    }

    /// The query's words with the terms each may match, and its action and shape cues.
    fn parse(&self, text: &str) -> Query {
        let mut words = Vec::new();
        tokenize(text, &mut words);
        let mut seen: Vec<String> = Vec::new();
        words.retain(|w| {
            let fresh = !seen.contains(w);
            seen.push(w.clone());
            fresh
        });
        // A word this catalog runs together with another (`worklog` for "work log") or
        // splits (`work log` for "worklog") meets it either way.
        let mut split = Vec::with_capacity(words.len());
        for word in words {
            // "PR" for pull request, where the API spells it out.
            if let Some(expanded) = expansion(&word) {
                let expanded: Vec<String> = expanded.iter().filter_map(|w| term(w)).collect();
                if expanded.iter().all(|w| self.terms.contains_key(w)) {
                    split.extend(expanded);
                    continue;
                }
            }
            match self.terms.contains_key(&word) {
                false => match self.split(&word) {
                    Some((a, b)) => {
                        split.push(a);
                        split.push(b);
                    }
                    None => split.push(word),
                },
                true => split.push(word),
            }
        }
        let raw = raw_words(text);
        let action = query_action(&raw);
        // "by id" says how the resource is addressed, not what it is: with other words, it
        // is a cue for the shape of the answer (one item), not a term to match in
        // every `{id}` parameter.
        if split.iter().any(|w| w != "id") {
            split.retain(|w| w != "id");
        }
        let roles = roles(&raw);
        let parts = part_weights(text);
        let mut groups: Vec<Group> = split
            .into_iter()
            .map(|w| {
                let mut role =
                    roles.get(&w).copied().unwrap_or(1.0) * parts.get(&w).copied().unwrap_or(1.0);
                // A number is a value ("$20", "365"), the API's name says which API: neither
                // names the operation.
                if self.title.contains(&w) || w.bytes().all(|b| b.is_ascii_digit()) {
                    role *= INCIDENTAL_WEIGHT;
                }
                self.group(w, role)
            })
            .collect();
        groups.dedup_by(|a, b| a.word == b.word);
        let mut term_groups = HashMap::new();
        let mut potential = 0.0;
        for (index, group) in groups.iter().enumerate() {
            potential += group.potential;
            for variant in &group.variants {
                term_groups
                    .entry(variant.term)
                    .or_insert((index, variant.idf));
            }
        }
        Query {
            identifier: normalize_identifier(text),
            groups,
            term_groups,
            potential,
            action,
            opposites: raw
                .iter()
                .find_map(|w| term(w))
                .map(|verb| opposites_of(&verb))
                .unwrap_or_default()
                .iter()
                .filter_map(|w| self.terms.get(w).copied())
                .collect(),
            wants_one: wants_one(&raw),
        }
    }

    /// What one query word matches: itself, else words it prefixes, plus synonyms and words
    /// sharing its stem's prefix; words spelled alike only when nothing else matches. A
    /// variant never weighs more than the word itself would, so a rare synonym cannot
    /// outrank the word the user typed.
    fn group(&self, word: String, role: f32) -> Group {
        let own = self.terms.get(&word).copied();
        let mut cap = own.map_or(f32::MAX, |id| self.idf[id as usize]);
        // A verb and its synonyms name one action whichever this API happens to use more:
        // all weigh what its most common spelling here weighs, so "remove" in an API that
        // says "delete" (and uses "remove" for something rarer) does not outweigh the noun.
        // A word the catalog lacks ("who") stands for all its synonyms alike.
        if action_of(&word).is_some() || own.is_none() {
            cap = synonyms(&word)
                .iter()
                .filter_map(|s| self.terms.get(s))
                .chain(own.as_ref())
                .map(|&id| self.idf[id as usize])
                .fold(cap, f32::min);
        }
        let mut variants: Vec<QueryTerm> = Vec::new();
        let push = |term: u32, weight: f32, kind: Variant, variants: &mut Vec<QueryTerm>| {
            if variants.iter().any(|v| v.term == term) {
                return;
            }
            let idf = self.idf[term as usize].min(cap) * weight * role;
            variants.push(QueryTerm { term, idf, kind });
        };
        match own {
            Some(id) => push(id, 1.0, Variant::Word, &mut variants),
            None if word.len() >= 3 => {
                for id in self.with_prefix(&word, MAX_PREFIX_EXPANSIONS) {
                    push(id, PREFIX_WEIGHT, Variant::Prefix, &mut variants);
                }
            }
            None => {}
        }
        // The one who does it (`review` → reviewer, `collaborate` → collaborator): asking
        // for the act ("ask someone to review") is often done by naming that person.
        if word.len() >= 4 && action_of(&word).is_none() {
            for suffix in ["er", "or", "r"] {
                if let Some(&id) = self.terms.get(&format!("{word}{suffix}")) {
                    push(id, AGENT_WEIGHT, Variant::Related, &mut variants);
                }
            }
        }
        // `subscribe` ~ subscription, `remind` ~ reminder, `invite` ~ invitation.
        if word.len() >= 5 {
            let key = &word[..word.len().saturating_sub(1).max(5)];
            for id in self.with_prefix(key, MAX_PREFIX_EXPANSIONS) {
                push(id, RELATED_WEIGHT, Variant::Related, &mut variants);
            }
        }
        for synonym in synonyms(&word) {
            if let Some(&id) = self.terms.get(synonym) {
                push(id, SYNONYM_WEIGHT, Variant::Synonym, &mut variants);
            }
        }
        if variants.is_empty() {
            for id in self.spelled_alike(&word) {
                push(id, SPELLING_WEIGHT, Variant::Spelling, &mut variants);
            }
        }
        let potential = variants.iter().map(|v| v.idf).fold(0.0, f32::max);
        Group {
            word,
            variants,
            potential,
        }
    }

    /// Vocabulary terms starting with `prefix` (not `prefix` itself), shortest first.
    fn with_prefix(&self, prefix: &str, max: usize) -> Vec<u32> {
        let start = self
            .sorted
            .partition_point(|&t| self.names[t as usize].as_str() < prefix);
        let mut found: Vec<u32> = self.sorted[start..]
            .iter()
            .take_while(|&&t| self.names[t as usize].starts_with(prefix))
            .filter(|&&t| self.names[t as usize] != prefix)
            .take(max * 4)
            .copied()
            .collect();
        found.sort_by_key(|&t| self.names[t as usize].len());
        found.truncate(max);
        found
    }

    /// `word` as two vocabulary words run together, the longer the shorter part the better.
    fn split(&self, word: &str) -> Option<(String, String)> {
        split_compound(word, |part| self.terms.contains_key(part))
    }

    /// Vocabulary terms within a small edit distance of `word`, nearest first.
    fn spelled_alike(&self, word: &str) -> Vec<u32> {
        if word.len() < 4 {
            return Vec::new();
        }
        let max = if word.len() >= 8 { 2 } else { 1 };
        let mut near: Vec<(usize, u32)> = self
            .names
            .iter()
            .enumerate()
            .filter(|(_, name)| name.len().abs_diff(word.len()) <= max)
            .filter_map(|(id, name)| {
                let d = edit_distance(word, name);
                (d <= max).then_some((d, id as u32))
            })
            .collect();
        near.sort_unstable();
        near.truncate(MAX_SPELLINGS);
        near.into_iter().map(|(_, id)| id).collect()
    }
}

fn saturate(tf: f32) -> f32 {
    tf * (K1 + 1.0) / (tf + K1)
}

/// Tools matching more of the query's weight first: BM25 alone lets one rare word outweigh
/// two common ones ("list issues for a repo"), and counting words instead of weight lets an
/// incidental word ("microsoft" in every Graph path) count as much as the thing asked for.
fn coverage_factor(query: &Query, matched: f32) -> f32 {
    let coverage = if query.potential > 0.0 {
        (matched / query.potential).min(1.0)
    } else {
        0.0
    };
    COVERAGE_FLOOR + (1.0 - COVERAGE_FLOOR) * coverage
}

/// Tools left out of the results because a tool of their family is shown.
#[derive(Debug, Default)]
struct Collapsed {
    count: usize,
    /// A shown tool and one tool it stands for.
    example: Option<(usize, usize)>,
}

/// A parsed query.
struct Query {
    /// The query as an identifier spelling (for exact names and routes).
    identifier: String,
    groups: Vec<Group>,
    /// Every variant term → (its group, its effective idf).
    term_groups: HashMap<u32, (usize, f32)>,
    /// The most a tool can match: the sum of each group's best variant weight.
    potential: f32,
    /// The action the query's first verb implies.
    action: Option<Action>,
    /// The terms of verbs that undo the query's first word (as a verb it may open with).
    opposites: Vec<u32>,
    wants_one: Option<bool>,
}

impl Query {
    fn note(&self) -> Option<String> {
        let unknown: Vec<&str> = self
            .groups
            .iter()
            .filter(|g| g.variants.is_empty())
            .map(|g| g.word.as_str())
            .collect();
        let respelled: Vec<&str> = self
            .groups
            .iter()
            .filter(|g| g.variants.iter().any(|v| v.kind == Variant::Spelling))
            .map(|g| g.word.as_str())
            .collect();
        let mut parts = Vec::new();
        if !unknown.is_empty() {
            parts.push(format!("no operation mentions {}", quoted(&unknown)));
        }
        if !respelled.is_empty() {
            parts.push(format!(
                "{} matched by similar spelling only",
                quoted(&respelled)
            ));
        }
        (!parts.is_empty()).then(|| {
            format!(
                "Note: {}. Use the words the API's documentation would use for the resource and \
                 the action, or search with `code` to filter every operation.",
                parts.join("; ")
            )
        })
    }
}

fn quoted(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| format!("\"{w}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One query word and what it may match.
struct Group {
    /// The word as indexed (stemmed).
    word: String,
    variants: Vec<QueryTerm>,
    /// Its best variant's effective idf.
    potential: f32,
}

/// A term a query word may match, with its effective idf (the word's weight for it).
struct QueryTerm {
    term: u32,
    idf: f32,
    kind: Variant,
}

/// `word` as `a` + `b`, both at least 3 letters and both words for `known`; the split
/// with the longest shorter part wins.
fn split_compound(word: &str, known: impl Fn(&str) -> bool) -> Option<(String, String)> {
    if word.len() < 6 || !word.is_ascii() || word.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    (3..=word.len() - 3)
        .filter(|&i| known(&word[..i]) && known(&word[i..]))
        .max_by_key(|&i| i.min(word.len() - i))
        .map(|i| (word[..i].to_owned(), word[i..].to_owned()))
}

/// The head of `word` when it is a known word of 4+ letters after a prefix of 4+ that is
/// no word (`permalink` → `link`, `hyperlink` → `link`); short prefixes (`un`, `re`,
/// `dis`) often reverse or repeat the head, so they do not count.
fn split_head(word: &str, known: impl Fn(&str) -> bool) -> Option<String> {
    if word.len() < 8 || !word.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    (4..=word.len() - 4)
        .find(|&i| known(&word[i..]))
        .map(|i| word[i..].to_owned())
}

/// What a tool does: DELETE and GET say it; a POST, PUT or PATCH says more in its summary's
/// or name's verb (RPC-style APIs delete and update with POST).
fn tool_action(tool: &Tool, summary: &[String], name: &[String]) -> Option<Action> {
    let method = match &tool.target {
        Target::Http(http) => Action::of_method(&http.method),
        _ => None,
    };
    if matches!(method, Some(Action::Read | Action::Delete)) {
        return method;
    }
    let verb = |words: &[String]| words.iter().take(2).find_map(|w| action_of(w));
    // The verb an operation id's last part opens with (`users.user.getMemberGroups`: a
    // read done with POST).
    let last = tool_verbs(tool, &[])[1].as_deref().and_then(action_of);
    verb(summary).or(last).or_else(|| verb(name)).or(method)
}

/// What makes two HTTP operations one family: method, description and full text, and the
/// path's tail from its last plain segment (`messages` in `/me/messages` and
/// `/users/{user-id}/messages`; `issues/$count`, not just `$count`). `None` for other tools.
fn family_key(tool: &Tool) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let Target::Http(http) = &tool.target else {
        return None;
    };
    let mut tail: Vec<&str> = Vec::new();
    for segment in http.path.split('/').rev().filter(|s| !s.is_empty()) {
        if segment.starts_with('{') {
            tail.push("{}");
            continue;
        }
        tail.push(segment);
        if !segment.starts_with('$') {
            break;
        }
    }
    let mut hasher = rustc_hash::FxHasher::default();
    http.method.hash(&mut hasher);
    tail.hash(&mut hasher);
    tool.description.hash(&mut hasher);
    // The full description, when `description` is cut (not the path, which may be as long).
    for keyword in tool
        .keywords
        .iter()
        .filter(|k| k.len() > 80 && **k != http.path)
    {
        keyword.hash(&mut hasher);
    }
    Some(hasher.finish())
}

/// The verbs a tool's summary and its name open with (`Closes a conversation`,
/// `conversations.close`, `groups.group.CreateGroup`), as the index spells them.
fn tool_verbs(tool: &Tool, summary: &[String]) -> [Option<String>; 2] {
    let last = tool
        .original_name
        .rsplit(['.', '/', ':'])
        .next()
        .unwrap_or_default();
    let mut name = Vec::new();
    tokenize(last, &mut name);
    [summary.first().cloned(), name.first().cloned()]
}

fn reads_one_item(tool: &Tool) -> bool {
    match &tool.target {
        Target::Http(http) => http.path.trim_end_matches('/').ends_with('}'),
        _ => false,
    }
}

fn tool_fields(tool: &Tool) -> [Vec<String>; FIELDS.len()] {
    let mut name = Vec::new();
    tokenize(&tool.name, &mut name);
    tokenize(&tool.original_name, &mut name);
    let mut namespace = Vec::new();
    tokenize(&tool.namespace, &mut namespace);
    let (mut resource, mut path, mut path_parameters) = (Vec::new(), Vec::new(), Vec::new());
    let mut in_path = Vec::new();
    if let Target::Http(http) = &tool.target {
        let segments: Vec<&str> = http.path.split('/').filter(|s| !s.is_empty()).collect();
        let is_param = |s: &str| s.starts_with('{');
        // After the last parameter, or the static segment before a trailing parameter.
        let last_param = segments.iter().rposition(|s| is_param(s));
        let leaf: Vec<&str> = match last_param {
            Some(i) if i + 1 == segments.len() => segments[..i]
                .iter()
                .rev()
                .take_while(|s| !is_param(s))
                .take(1)
                .copied()
                .collect(),
            Some(i) => segments[i + 1..].to_vec(),
            None => segments.last().copied().into_iter().collect(),
        };
        for segment in leaf {
            tokenize(segment, &mut resource);
        }
        for segment in &segments {
            // `{user-id}`, and the parameter in `{base}...{head}` or `$value`.
            for piece in segment.split_inclusive('}') {
                match piece.find('{') {
                    Some(open) => {
                        tokenize(&piece[..open], &mut path);
                        tokenize(&piece[open..], &mut path_parameters);
                    }
                    None => tokenize(piece, &mut path),
                }
            }
        }
        // Ids spelled from the path name its parameters too (`GetCustomersCustomerTaxIdsId`):
        // a word only a parameter has says nothing about the operation.
        name.retain(|t| !path_parameters.contains(t) || path.contains(t));
        in_path.extend(
            http.parameters
                .iter()
                .filter(|p| p.location == ParamLocation::Path)
                .map(|p| p.input_name.as_str()),
        );
    }
    let mut summary = Vec::new();
    tokenize(first_sentence(&tool.description), &mut summary);
    let mut description = Vec::new();
    tokenize(&tool.description, &mut description);
    let mut details = Vec::new();
    let properties = properties(&tool.input_schema);
    for keyword in &tool.keywords {
        // The path, method, id and parameter names have fields of their own; what is left
        // is tags (short) and the full description (long).
        let derived = match &tool.target {
            Target::Http(http) => *keyword == http.path || *keyword == http.method,
            _ => false,
        } || *keyword == tool.original_name
            || in_path.contains(&keyword.as_str())
            || properties.iter().any(|(p, _)| p == keyword);
        if derived {
            continue;
        }
        if keyword.len() > 80 {
            tokenize(keyword, &mut details);
        } else {
            tokenize(keyword, &mut namespace);
        }
    }
    let mut parameters = Vec::new();
    let mut values = Vec::new();
    let mut parameter_text = Vec::new();
    for &(property, schema) in &properties {
        if in_path.contains(&property) {
            continue;
        }
        tokenize(property, &mut parameters);
        if let Some(text) = schema.get("description").and_then(Value::as_str) {
            tokenize(text, &mut parameter_text);
        }
        // One level down: an update's settings object names what it changes
        // (`invoice_settings.default_payment_method`).
        for (inner, _) in self::properties(schema.get("items").unwrap_or(schema))
            .into_iter()
            .take(MAX_INNER_PARAMETERS)
        {
            tokenize(inner, &mut parameters);
        }
        if action_like(property) {
            for value in enum_values(schema).take(MAX_ENUM_VALUES) {
                tokenize(value, &mut values);
            }
        }
    }
    let mut fields = [
        name,
        namespace,
        resource,
        path,
        path_parameters,
        summary,
        description,
        details,
        parameters,
        values,
        parameter_text,
    ];
    for field in &mut fields {
        field.truncate(MAX_FIELD_WORDS);
    }
    fields
}

/// A property whose values name what the call does or to what: `type`, `action`,
/// `event_type`, `state`…
fn action_like(property: &str) -> bool {
    static STEMS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let stems = STEMS.get_or_init(|| {
        [
            "type",
            "action",
            "kind",
            "event",
            "operation",
            "op",
            "command",
            "state",
            "status",
            "mode",
        ]
        .iter()
        .map(|a| stem(a))
        .collect()
    });
    let mut words = Vec::new();
    tokenize(property, &mut words);
    words.last().is_some_and(|w| stems.contains(w))
}

/// String values of a schema's `enum` or `const`, also in array items and union members.
fn enum_values(schema: &Value) -> impl Iterator<Item = &str> {
    let mut found = Vec::new();
    let mut stack = vec![(schema, 0)];
    while let Some((schema, depth)) = stack.pop() {
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            found.extend(values.iter().filter_map(Value::as_str));
        }
        if let Some(value) = schema.get("const").and_then(Value::as_str) {
            found.push(value);
        }
        if depth < 2 {
            if let Some(items) = schema.get("items") {
                stack.push((items, depth + 1));
            }
            for key in ["anyOf", "oneOf"] {
                for member in schema
                    .get(key)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    stack.push((member, depth + 1));
                }
            }
        }
    }
    found.into_iter()
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

/// Top-level properties of an input schema (and of its `allOf` members), with their
/// schemas; for a union body (`oneOf`/`anyOf` of objects), its members' properties too.
fn properties(schema: &Value) -> Vec<(&str, &Value)> {
    let mut found = Vec::new();
    let mut stack = vec![(schema, 0)];
    while let Some((schema, depth)) = stack.pop() {
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            found.extend(props.iter().map(|(k, v)| (k.as_str(), v)));
        }
        if depth < 2 {
            for key in ["allOf", "anyOf", "oneOf"] {
                for member in schema
                    .get(key)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    stack.push((member, depth + 1));
                }
            }
        }
    }
    found.truncate(MAX_PARAMETERS);
    found
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compounds_split_into_known_words() {
        let known = |w: &str| ["work", "log", "web", "hook", "wor"].contains(&w);
        assert_eq!(
            split_compound("worklog", known),
            Some(("work".to_owned(), "log".to_owned()))
        );
        assert_eq!(
            split_compound("webhook", known),
            Some(("web".to_owned(), "hook".to_owned()))
        );
        assert_eq!(split_compound("logs", known), None);
        assert_eq!(split_compound("unknown", known), None);
    }

    #[test]
    fn a_word_after_a_prefix_that_is_no_word_is_its_head() {
        let known = |w: &str| ["link", "archiv", "follow"].contains(&w);
        assert_eq!(split_head("permalink", known), Some("link".to_owned()));
        // Short prefixes often reverse the head: not a kind of it.
        assert_eq!(split_head("unarchiv", known), None);
        assert_eq!(split_head("unfollow", known), None);
        assert_eq!(split_head("link", known), None);
    }

    fn operation(method: &str, path: &str, name: &str, description: &str) -> Tool {
        Tool {
            namespace: "api".to_owned(),
            name: name.rsplit('.').next().unwrap_or(name).to_owned(),
            original_name: name.to_owned(),
            description: description.to_owned(),
            input_schema: serde_json::json!({"type": "object", "properties": {}}),
            output_schema: None,
            keywords: Vec::new(),
            target: Target::Http(crate::catalog::HttpOperation {
                method: method.to_owned(),
                path: path.to_owned(),
                parameters: Vec::new(),
                body: None,
            }),
        }
    }

    fn given_catalog(tools: Vec<Tool>) -> (Catalog, SearchIndex) {
        let catalog = Catalog {
            title: String::new(),
            tools,
        };
        let index = SearchIndex::new(&catalog);
        (catalog, index)
    }

    fn ranked(catalog: &Catalog, index: &SearchIndex, query: &str) -> Vec<String> {
        index
            .search(query, 10)
            .iter()
            .map(|hit| catalog.tools[hit.tool].original_name.clone())
            .collect()
    }

    #[test]
    fn issue14_an_operation_under_several_paths_is_shown_once_at_its_shortest() {
        let mailbox = "List messages. Get the messages in the signed-in user's mailbox.";
        let (catalog, index) = given_catalog(vec![
            operation(
                "GET",
                "/users/{user-id}/messages",
                "users.ListMessages",
                mailbox,
            ),
            operation("GET", "/me/messages", "me.ListMessages", mailbox),
            operation(
                "POST",
                "/me/messages",
                "me.CreateMessage",
                "Create message.",
            ),
            operation("GET", "/me/events", "me.ListEvents", "List events."),
            operation(
                "GET",
                "/me/messages/$count",
                "me.messages.GetCount",
                "Get the number of the resource.",
            ),
            operation(
                "GET",
                "/me/events/$count",
                "me.events.GetCount",
                "Get the number of the resource.",
            ),
        ]);
        let ranking = index.rank("list messages in my mailbox", 10);
        let names: Vec<&str> = ranking
            .hits
            .iter()
            .map(|hit| catalog.tools[hit.tool].original_name.as_str())
            .collect();
        assert_eq!(names.first(), Some(&"me.ListMessages"), "{names:?}");
        assert!(!names.contains(&"users.ListMessages"), "{names:?}");
        let note = ranking
            .note
            .expect("a note saying what the result stands for");
        assert!(
            note.contains("GET /users/{user-id}/messages"),
            "the note names the other path: {note}"
        );
        // Same text at different resources (`messages/$count`, `events/$count`) is not
        // one operation.
        let counts = ranked(&catalog, &index, "number of the resource");
        assert!(
            counts.contains(&"me.messages.GetCount".to_owned()),
            "{counts:?}"
        );
        assert!(
            counts.contains(&"me.events.GetCount".to_owned()),
            "{counts:?}"
        );
        // A query naming the longer path exactly gets that one.
        assert_eq!(
            ranked(&catalog, &index, "GET /users/{user-id}/messages").first(),
            Some(&"users.ListMessages".to_owned())
        );
    }

    #[test]
    fn issue14_everyday_words_meet_the_words_an_api_uses() {
        let (catalog, index) = given_catalog(vec![
            operation(
                "GET",
                "/users.list",
                "users.list",
                "Lists all users in a team.",
            ),
            operation(
                "GET",
                "/conversations.list",
                "conversations.list",
                "Lists all conversations in a team.",
            ),
            operation("GET", "/files.list", "files.list", "Lists files."),
            operation(
                "DELETE",
                "/repos/{repo}/branches/{branch}/protection",
                "repos.deleteBranchProtection",
                "Delete branch protection.",
            ),
            operation(
                "DELETE",
                "/repos/{repo}/git/refs/{ref}",
                "git.deleteRef",
                "Delete a reference.",
            ),
            operation(
                "DELETE",
                "/repos/{repo}",
                "repos.delete",
                "Delete a repository.",
            ),
        ]);
        // Chat products say conversation and team where people say channel and workspace.
        assert_eq!(
            ranked(&catalog, &index, "list all channels in the workspace").first(),
            Some(&"conversations.list".to_owned())
        );
        // A git branch is a reference.
        assert_eq!(
            ranked(&catalog, &index, "remove a branch").first(),
            Some(&"git.deleteRef".to_owned())
        );
    }

    #[test]
    fn issue14_abbreviations_in_a_query_stand_for_the_words_spelled_out() {
        let (catalog, index) = given_catalog(vec![
            operation(
                "POST",
                "/repos/{repo}/merges",
                "repos.merge",
                "Merge a branch.",
            ),
            operation(
                "PUT",
                "/repos/{repo}/pulls/{pull_number}/merge",
                "pulls.merge",
                "Merge a pull request.",
            ),
            operation(
                "GET",
                "/repos/{repo}/pulls",
                "pulls.list",
                "List pull requests.",
            ),
        ]);
        assert_eq!(
            ranked(&catalog, &index, "merge a PR").first(),
            Some(&"pulls.merge".to_owned())
        );
    }

    #[test]
    fn issue14_an_operation_that_undoes_what_the_query_asks_ranks_below_it() {
        let (catalog, index) = given_catalog(vec![
            operation(
                "POST",
                "/conversations.close",
                "conversations.close",
                "Closes a direct message.",
            ),
            operation(
                "POST",
                "/conversations.open",
                "conversations.open",
                "Opens or resumes a direct message.",
            ),
            operation(
                "POST",
                "/chat.postMessage",
                "chat.postMessage",
                "Sends a message.",
            ),
        ]);
        assert_eq!(
            ranked(&catalog, &index, "start a direct message").first(),
            Some(&"conversations.open".to_owned())
        );
        let explained = index.explain("open a direct message", 3);
        let close = explained
            .iter()
            .find(|(hit, _)| catalog.tools[hit.tool].name == "close")
            .expect("close is a result");
        assert!(close.1.action < 1.0, "{}", close.1);
    }

    #[test]
    fn issue14_an_operation_ids_verb_says_what_a_post_does() {
        let mut get = operation(
            "POST",
            "/users/{user-id}/getMemberGroups",
            "users.user.getMemberGroups",
            "Invoke action getMemberGroups.",
        );
        // Names sanitised from a dotted id keep its leading words.
        get.name = "users_user_getMemberGroups".to_owned();
        let (catalog, index) = given_catalog(vec![
            get,
            operation(
                "POST",
                "/groups/{group-id}/members",
                "groups.CreateMembers",
                "Add member.",
            ),
        ]);
        let explained = index.explain("add a member to a group", 2);
        let get = explained
            .iter()
            .find(|(hit, _)| catalog.tools[hit.tool].name == "users_user_getMemberGroups")
            .expect("getMemberGroups is a result");
        assert_eq!(get.1.action, ACTION_DISAGREES, "{}", get.1);
        assert_eq!(
            ranked(&catalog, &index, "add a member to a group").first(),
            Some(&"groups.CreateMembers".to_owned())
        );
    }

    #[test]
    fn issue14_numbers_and_the_apis_own_name_weigh_little_in_a_query() {
        let mut catalog = Catalog {
            title: "Acme Cloud API".to_owned(),
            tools: vec![
                operation(
                    "POST",
                    "/groups/{group-id}/settings",
                    "groups.CreateSettings",
                    "Create settings. Settings apply to Acme 365 groups.",
                ),
                operation("POST", "/groups", "groups.CreateGroup", "Create group."),
                operation("GET", "/groups", "groups.ListGroups", "List groups."),
            ],
        };
        let index = SearchIndex::new(&catalog);
        assert_eq!(
            ranked(&catalog, &index, "create an Acme 365 group").first(),
            Some(&"groups.CreateGroup".to_owned())
        );
        // The same words weigh in full when they are not the API's name.
        catalog.title = "Groups".to_owned();
        let index = SearchIndex::new(&catalog);
        let explained = index.explain("create an Acme group", 3);
        let acme = explained
            .iter()
            .flat_map(|(_, why)| &why.contributions)
            .find(|c| c.word == stem("acme"))
            .expect("acme matches");
        assert!(acme.idf > 0.5, "{acme:?}");
    }

    #[test]
    fn issue14_what_an_input_is_for_says_what_the_operation_does() {
        let mut collaborator = operation(
            "PUT",
            "/repos/{repo}/collaborators/{username}",
            "repos.addCollaborator",
            "Add a repository collaborator.",
        );
        collaborator.input_schema = serde_json::json!({"type": "object", "properties": {
            "permission": {"type": "string", "description":
                "The permission to grant the collaborator: pull, triage, push, maintain or admin."}
        }});
        let mut customer = operation(
            "POST",
            "/customers/{customer}",
            "customers.update",
            "Updates the specified customer.",
        );
        customer.input_schema = serde_json::json!({"type": "object", "properties": {
            "email": {"type": "string"},
            "invoice_settings": {"type": "object", "properties": {
                "default_payment_method": {"type": "string"}, "footer": {"type": "string"}}}
        }});
        let (catalog, index) = given_catalog(vec![
            operation(
                "PUT",
                "/repos/{repo}/actions/permissions",
                "actions.setPermissions",
                "Set GitHub Actions permissions for a repository.",
            ),
            collaborator,
            operation(
                "POST",
                "/payment_methods/{payment_method}",
                "paymentMethods.update",
                "Updates a payment method.",
            ),
            operation(
                "POST",
                "/customers",
                "customers.create",
                "Creates a customer.",
            ),
            customer,
        ]);
        // Only the input's description says that a collaborator's permission is push access.
        assert_eq!(
            ranked(&catalog, &index, "give a user push access to a repository").first(),
            Some(&"repos.addCollaborator".to_owned())
        );
        // What an update changes can be a member of one of its inputs.
        let updates = ranked(
            &catalog,
            &index,
            "set the default payment method of a customer",
        );
        assert!(
            updates.contains(&"customers.update".to_owned()),
            "{updates:?}"
        );
        let explained = index.explain("set the default payment method of a customer", 10);
        let update = explained
            .iter()
            .find(|(hit, _)| catalog.tools[hit.tool].original_name == "customers.update")
            .expect("the customer update is a result");
        assert!(
            update.1.contributions.iter().any(|c| c.word == "default"),
            "{}",
            update.1
        );
    }

    #[test]
    fn issue14_the_act_meets_the_one_who_does_it() {
        let (catalog, index) = given_catalog(vec![
            operation(
                "POST",
                "/pulls/{pull_number}/requested_reviewers",
                "pulls.requestReviewers",
                "Request reviewers for a pull request.",
            ),
            operation(
                "GET",
                "/pulls/{pull_number}/reviews",
                "pulls.listReviews",
                "List reviews for a pull request.",
            ),
            operation(
                "POST",
                "/pulls/{pull_number}/reviews",
                "pulls.createReview",
                "Create a review for a pull request.",
            ),
            operation(
                "GET",
                "/pulls/{pull_number}/comments",
                "pulls.listComments",
                "List review comments on a pull request.",
            ),
            operation("POST", "/pulls", "pulls.create", "Create a pull request."),
        ]);
        // "review" also matches "reviewer" as a word sharing its prefix, at less than half
        // its weight; as the one who reviews, it weighs nearly what the word does.
        assert_eq!(
            ranked(&catalog, &index, "ask someone to review my pull request").first(),
            Some(&"pulls.requestReviewers".to_owned())
        );
    }

    #[test]
    fn action_like_properties() {
        assert!(action_like("type"));
        assert!(action_like("event_type"));
        assert!(action_like("actions"));
        assert!(!action_like("name"));
        assert!(!action_like("types_of_thing"));
    }
}
