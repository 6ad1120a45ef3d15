//! Recall's ranking, after retrieval: what a question asks for (a speaker it names, a
//! time, something recent), the full-text and vector scores of each candidate, and the
//! rules that turn them into one 0–1 relevance, newest first among memories that disagree.
//!
//! Everything here is pure: `Profile::recall` fetches the candidates and hands them over.

use crate::model::{Memory, Recalled, Retriever};
use crate::text;
use std::collections::{BTreeSet, HashMap, HashSet};

/// How recall weighs its evidence. The defaults were chosen on the development split of
/// the evaluation set (`islet bench memory-quality`); see docs/memory.md.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    /// BM25 weight of the neighbouring messages' text (the context a deterministic memory
    /// is stored with) relative to its own content.
    pub context_weight: f64,
    /// Score factor for memories said by a speaker the question names.
    pub speaker_boost: f64,
    /// Score factor for memories that mention a time when the question asks when or how
    /// long, and for memories from a month the question names (in hybrid recall, the
    /// latter's vector relevance too, as with the date and recency boosts).
    pub time_boost: f64,
    /// Share of the best score among a memory's session's candidates added to its own:
    /// evidence clusters in the sessions that talk about the question's subject. In hybrid
    /// recall the scores are the fused relevances, so a session found by either retriever
    /// counts.
    pub session_boost: f64,
    /// Score factor, at most, for the newest candidates when the question asks what is
    /// recent or current ("lately", "now"); older ones get proportionally less.
    pub recency_boost: f64,
    /// Score factor for memories said on a day the question names ("on 7 July, 2023"),
    /// or the day before or after (a date is often given for the day it was reported).
    pub date_boost: f64,
    /// Share of a matching question's score passed to the message that answers it: the
    /// next message of its session, by another speaker. In a conversation the answer
    /// follows the question, and it often repeats none of its words ("How often do you
    /// work out together?" — "Three times a week").
    pub answer_weight: f64,
    /// Weight of the vector similarity, 0–1 (hybrid recall only): the share of the room
    /// full text leaves (1 − text relevance) that vectors may fill. Vectors thus rerank
    /// weak and close full-text matches and add what full text missed, but cannot
    /// overturn a clear full-text match.
    pub vector_weight: f64,
}

impl Default for Ranking {
    fn default() -> Self {
        Self {
            context_weight: 0.3,
            speaker_boost: 1.3,
            time_boost: 1.3,
            session_boost: 0.3,
            recency_boost: 1.2,
            date_boost: 1.5,
            answer_weight: 0.4,
            vector_weight: 0.75,
        }
    }
}

/// Words that frame a question rather than say what it is about ("what kind of …", "what
/// did alice say about …"); left out of the search when other words remain.
const FRAMING: &[&str] = &[
    "anything",
    "describe",
    "described",
    "ever",
    "kind",
    "kinds",
    "likely",
    "lot",
    "many",
    "mention",
    "mentioned",
    "might",
    "much",
    "said",
    "say",
    "says",
    "something",
    "sort",
    "talk",
    "talked",
    "tell",
    "tells",
    "thing",
    "things",
    "think",
    "thinks",
    "told",
    "type",
    "types",
];

/// Words that say when: a memory holding one can answer "when" and "how long".
const TIME_WORDS: &[&str] = &[
    "ago",
    "april",
    "august",
    "autumn",
    "day",
    "days",
    "december",
    "earlier",
    "evening",
    "february",
    "friday",
    "hour",
    "hours",
    "january",
    "july",
    "june",
    "last",
    "march",
    "may",
    "monday",
    "month",
    "months",
    "morning",
    "next",
    "night",
    "november",
    "october",
    "recently",
    "saturday",
    "september",
    "since",
    "spring",
    "summer",
    "sunday",
    "thursday",
    "today",
    "tomorrow",
    "tonight",
    "tuesday",
    "wednesday",
    "week",
    "weekend",
    "weeks",
    "winter",
    "year",
    "years",
    "yesterday",
];

/// Words asking for the latest state of something.
const RECENT_WORDS: &[&str] = &[
    "current",
    "currently",
    "lately",
    "latest",
    "now",
    "nowadays",
    "recent",
    "recently",
    "still",
];

const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// What a question asks for, beyond its words.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Query {
    /// The words to search for.
    pub words: Vec<String>,
    /// With the framing words, searched for when `words` find nothing ("something" may
    /// be just what a memory says).
    pub all_words: Vec<String>,
    /// Asks when or how long something was.
    pub asks_when: bool,
    /// Asks for the latest state.
    pub asks_recent: bool,
    /// Months it names (1–12), with the year when it names one.
    pub months: Vec<(u32, Option<i64>)>,
    /// Days it names: `(year, month, day)`, the year when it names one.
    pub dates: Vec<(Option<i64>, u32, u32)>,
}

/// Reads a question. Empty `words` when it has none.
pub(crate) fn analyse(question: &str) -> Query {
    let mut words = text::query_words(question);
    let all_words = words.clone();
    let framing: Vec<String> = words
        .iter()
        .filter(|w| FRAMING.binary_search(&w.as_str()).is_ok())
        .cloned()
        .collect();
    if framing.len() < words.len() {
        words.retain(|w| !framing.contains(w));
    }
    let all: Vec<String> = text::words(question).collect();
    let lower = question.to_lowercase();
    let asks_when = all.first().is_some_and(|w| w == "when")
        || [
            "how long",
            "what year",
            "what month",
            "what date",
            "what day",
            "what time",
        ]
        .iter()
        .any(|p| lower.contains(p))
        || lower.contains("how many years")
        || lower.contains("how many months")
        || lower.contains("how many weeks")
        || lower.contains("how many days");
    let asks_recent = all
        .iter()
        .any(|w| RECENT_WORDS.binary_search(&w.as_str()).is_ok());
    let year = all
        .iter()
        .filter(|w| w.len() == 4)
        .filter_map(|w| w.parse::<i64>().ok())
        .find(|y| (1900..=2200).contains(y));
    // "may" is a month only next to a year or a day number ("May 2023", "7 May").
    let months = all
        .iter()
        .enumerate()
        .filter_map(|(i, w)| {
            let m = MONTHS.iter().position(|m| m == w)?;
            let dated = |j: Option<usize>| {
                j.and_then(|j| all.get(j))
                    .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
            };
            if *w == "may" && !dated(i.checked_sub(1)) && !dated(Some(i + 1)) {
                return None;
            }
            Some((m as u32 + 1, year))
        })
        .collect();
    let dates = named_dates(&all, year);
    if !dates.is_empty() {
        // "on 7 July, 2023": the day, month and year are matched against when a memory was
        // said, not searched for as words (every "7" and "2023" would match).
        let date_words: BTreeSet<String> = dates
            .iter()
            .flat_map(|&(y, m, d)| {
                [
                    Some(MONTHS[m as usize - 1].to_owned()),
                    Some(d.to_string()),
                    y.map(|y| y.to_string()),
                ]
            })
            .flatten()
            .collect();
        if words.iter().any(|w| !date_words.contains(w)) {
            words.retain(|w| !date_words.contains(w));
        }
    }
    Query {
        words,
        all_words,
        asks_when,
        asks_recent,
        months,
        dates,
    }
}

/// The days named in a question's words: "7 July[,] [2023]", "July 7[th][,] [2023]",
/// "the 7th of July". `year` is the year the question names, if any.
fn named_dates(all: &[String], year: Option<i64>) -> Vec<(Option<i64>, u32, u32)> {
    let day = |w: &str| -> Option<u32> {
        let digits = w.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        let suffix = &w[digits.len()..];
        if !["", "st", "nd", "rd", "th"].contains(&suffix) {
            return None;
        }
        digits.parse().ok().filter(|d| (1..=31).contains(d))
    };
    let year_at = |i: usize| {
        all.get(i)
            .filter(|w| w.len() == 4)
            .and_then(|w| w.parse::<i64>().ok())
            .filter(|y| (1900..=2200).contains(y))
    };
    let mut out = Vec::new();
    for (i, w) in all.iter().enumerate() {
        let Some(m) = MONTHS.iter().position(|m| m == w) else {
            continue;
        };
        let m = m as u32 + 1;
        // "July 7, 2023" / "July 7th"
        if let Some(d) = all.get(i + 1).and_then(|n| day(n)) {
            out.push((year_at(i + 2).or(year), m, d));
            continue;
        }
        // "7 July 2023" / "7th of July"
        let before = match i.checked_sub(1).map(|j| all[j].as_str()) {
            Some("of") => i.checked_sub(2),
            _ => i.checked_sub(1),
        };
        if let Some(d) = before.and_then(|j| day(&all[j])) {
            out.push((year_at(i + 1).or(year), m, d));
        }
    }
    out
}

/// Whether a memory that occurred at `at` (ms) was said on one of `dates` or a day next to
/// it (a year-less date matches in any year).
fn on_dates(at: i64, dates: &[(Option<i64>, u32, u32)]) -> bool {
    let day = at.div_euclid(86_400_000);
    let (year, _) = crate::time::year_month(at);
    dates.iter().any(|&(y, m, d)| {
        [year - 1, year, year + 1]
            .into_iter()
            .filter(|c| y.is_none_or(|y| y == *c))
            .filter_map(|c| crate::time::day_number(c, m, d))
            .any(|n| (n - day).abs() <= 1)
    })
}

/// The text a memory's vector is computed from: `speaker: content`, then `context`, for a
/// message the nearest neighbouring messages ([`text::VECTOR_CONTEXT_MESSAGES`] on each
/// side, fewer than full text's matching context). Questions name people ("what does
/// Caroline paint?") and a message's text rarely names its own speaker; short replies say
/// little without the question they answer. On the development split, all-MiniLM-L6-v2
/// alone found 0.328 of the evidence in its top 10 from the content, 0.466 with the speaker,
/// 0.507 with two neighbours on each side, 0.532 with one. The vector is a matching aid like
/// the context: it is not recomputed when a neighbour is forgotten.
pub(crate) fn embedding_text(
    speaker: Option<&str>,
    content: &str,
    context: Option<&str>,
) -> String {
    let mut text = match speaker {
        Some(s) if !s.trim().is_empty() => format!("{}: {content}", s.trim()),
        _ => content.to_owned(),
    };
    if let Some(context) = context.filter(|c| !c.trim().is_empty()) {
        text.push('\n');
        text.push_str(context);
    }
    text
}

/// Whether `content` asks something: its last sentence (before a trailing bracketed note
/// such as a shared photo's caption) ends with a question mark.
pub(crate) fn is_question(content: &str) -> bool {
    let mut text = content.trim_end();
    if text.ends_with(']')
        && let Some(open) = text.rfind('[')
    {
        text = text[..open].trim_end();
    }
    text.ends_with('?')
}

/// Whether `content` says when (a time word or a year).
fn mentions_time(content: &str) -> bool {
    text::words(content).any(|w| {
        TIME_WORDS.binary_search(&w.as_str()).is_ok()
            || (w.len() == 4 && w.parse::<u32>().is_ok_and(|y| (1900..=2200).contains(&y)))
    })
}

/// Whether a memory that occurred at `at` (ms) may be about one of `months`: said in it or
/// in the month after ("last month").
fn in_months(at: i64, months: &[(u32, Option<i64>)]) -> bool {
    let (year, month) = crate::time::year_month(at);
    months.iter().any(|&(m, y)| {
        let (prev_y, prev_m) = if month == 1 {
            (year - 1, 12)
        } else {
            (year, month - 1)
        };
        (m == month && y.is_none_or(|y| y == year))
            || (m == prev_m && y.is_none_or(|y| y == prev_y))
    })
}

/// A memory retrieval found.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub memory: Memory,
    /// BM25 score (positive), 0 when full text did not find it.
    pub fts: f64,
    /// Cosine similarity with the question, when both have vectors.
    pub cosine: Option<f32>,
    /// Among the vector search's top candidates.
    pub by_vector: bool,
    /// The id of the candidate that asks what this memory answers (see
    /// [`Ranking::answer_weight`]).
    pub answers: Option<String>,
}

/// How the question's vector scored against the vector search's candidates: `floor` is
/// the cosine of the last of them, what any memory gets; similarity above it, as a share
/// of the way to a perfect 1, is the vector relevance. Uninformative vectors (all
/// cosines close together) thus weigh little, whatever the weight.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VectorRange {
    pub floor: f32,
}

/// Orders the candidates and keeps `limit`: full-text relevance (BM25 relative to a full
/// match, with the question's boosts, squashed to 0–1), fused with the vector similarity
/// when there is one; copies folded; an older memory that a newer one by the same speaker
/// restates differently ranks below it and is marked superseded.
pub(crate) fn rank(
    query: &Query,
    speaker_words: &BTreeSet<String>,
    full_match: f64,
    vectors: Option<VectorRange>,
    candidates: Vec<Candidate>,
    settings: &Ranking,
    limit: usize,
) -> Vec<Recalled> {
    let named: BTreeSet<&str> = query
        .words
        .iter()
        .map(String::as_str)
        .filter(|w| speaker_words.contains(*w))
        .collect();
    let (oldest, newest) = candidates
        .iter()
        .map(|c| c.memory.occurred_at)
        .fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
    let in_named_month =
        |m: &Memory| !query.months.is_empty() && in_months(m.occurred_at, &query.months);
    // When a memory was said, as the question asks (a month or day it names, "lately").
    // Full text and, in hybrid recall, the vector relevance both get it: a vector is
    // computed from what was said, not when.
    let said_then = |m: &Memory| {
        let mut boost = 1.0;
        if in_named_month(m) {
            boost *= settings.time_boost;
        }
        if !query.dates.is_empty() && on_dates(m.occurred_at, &query.dates) {
            boost *= settings.date_boost;
        }
        if query.asks_recent && newest > oldest {
            let recency = (m.occurred_at - oldest) as f64 / (newest - oldest) as f64;
            boost *= 1.0 + (settings.recency_boost - 1.0) * recency;
        }
        boost
    };
    let mut scored: Vec<(f64, Candidate)> = candidates
        .into_iter()
        .map(|c| {
            let mut s = c.fts;
            if s > 0.0 {
                let m = &c.memory;
                if !named.is_empty()
                    && m.speaker
                        .as_deref()
                        .is_some_and(|sp| text::words(sp).any(|w| named.contains(w.as_str())))
                {
                    s *= settings.speaker_boost;
                }
                // The time boost once, for mentioning a time or for the month.
                if query.asks_when && mentions_time(&m.content) && !in_named_month(m) {
                    s *= settings.time_boost;
                }
                s *= said_then(m);
            }
            (s, c)
        })
        .collect();
    if settings.answer_weight > 0.0 {
        // A reply gets a share of the score of the question it answers (the best one,
        // should it answer several candidates).
        let at: HashMap<&str, usize> = scored
            .iter()
            .enumerate()
            .map(|(i, (_, c))| (c.memory.id.as_str(), i))
            .collect();
        let passed: Vec<(usize, f64)> = scored
            .iter()
            .enumerate()
            .filter_map(|(i, (_, c))| {
                let asker = *at.get(c.answers.as_deref()?)?;
                Some((i, settings.answer_weight * scored[asker].0))
            })
            .collect();
        for (i, share) in passed {
            scored[i].0 += share;
        }
    }
    let w = if vectors.is_some() {
        settings.vector_weight.clamp(0.0, 1.0)
    } else {
        0.0
    };
    // Full text alone: the session boost goes to the BM25 scores. Hybrid: to the fused
    // relevance (below), so that a session either retriever finds relevant lifts its
    // other candidates, those found by vectors alone included.
    if w == 0.0 {
        session_boost(&mut scored, settings.session_boost);
    }
    let full_match = if full_match > 0.0 { full_match } else { 1.0 };
    let mut fused: Vec<(f64, Candidate)> = scored
        .into_iter()
        .map(|(s, c)| {
            // x = 1 is a memory of average length holding every word once: 0.8.
            let x = s / full_match;
            let text_relevance = x / (x + 0.25);
            let vector_relevance = match (vectors, c.cosine) {
                (Some(r), Some(cos)) if r.floor < 1.0 => {
                    // The speaker's boost is not repeated: the embedded text names the speaker.
                    let similarity = ((cos - r.floor) / (1.0 - r.floor)).clamp(0.0, 1.0);
                    (f64::from(similarity) * said_then(&c.memory)).min(1.0)
                }
                _ => 0.0,
            };
            // Vectors get the room full text leaves: they reorder weak and close text
            // matches and add what text missed, but cannot overturn a clear text match.
            (
                text_relevance + w * vector_relevance * (1.0 - text_relevance),
                c,
            )
        })
        .collect();
    if w > 0.0 && settings.session_boost > 0.0 {
        session_boost(&mut fused, settings.session_boost);
        // Back to 0–1 (the order is unchanged).
        for (score, _) in &mut fused {
            *score /= 1.0 + settings.session_boost;
        }
    }
    let mut ranked: Vec<Recalled> = fused
        .into_iter()
        .map(|(score, c)| {
            let mut matched_by = Vec::new();
            if c.fts > 0.0 {
                matched_by.push(Retriever::Fts);
            }
            if c.by_vector {
                matched_by.push(Retriever::Vector);
            }
            if c.answers.is_some() {
                matched_by.push(Retriever::Reply);
            }
            Recalled {
                sources: c.memory.source_message_ids.clone(),
                memory: c.memory,
                score,
                matched_by,
                superseded_by: None,
            }
        })
        .collect();
    sort(&mut ranked);
    let mut kept = fold_copies(ranked, limit * 2);
    // A question about a given time asks what was so then, not what is so now.
    let about_then = !query.dates.is_empty() || !query.months.is_empty();
    supersede(&mut kept, !about_then);
    sort(&mut kept);
    kept.truncate(limit);
    for r in &mut kept {
        r.score = (r.score * 1e4).round() / 1e4;
    }
    kept
}

/// Adds to each candidate with a positive score `share` of the best score among its
/// session's candidates: evidence clusters in the sessions that talk about the question's
/// subject ([`Ranking::session_boost`]).
fn session_boost(scored: &mut [(f64, Candidate)], share: f64) {
    if share <= 0.0 {
        return;
    }
    // Keyed by the candidates' own ids (no copies), so the boosts are computed before any
    // score changes.
    let mut best: HashMap<&str, f64> = HashMap::new();
    for (s, c) in scored.iter() {
        if let Some(session) = c.memory.session_id.as_deref() {
            let b = best.entry(session).or_default();
            *b = b.max(*s);
        }
    }
    let boosts: Vec<f64> = scored
        .iter()
        .map(|(s, c)| match c.memory.session_id.as_deref() {
            Some(session) if *s > 0.0 => share * best[session],
            _ => 0.0,
        })
        .collect();
    for ((s, _), boost) in scored.iter_mut().zip(boosts) {
        *s += boost;
    }
}

/// Best first; on equal scores the newer memory wins.
fn sort(ranked: &mut [Recalled]) {
    ranked.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.memory.occurred_at.cmp(&a.memory.occurred_at))
            .then(b.memory.id.cmp(&a.memory.id))
    });
}

/// A memory's words for comparing it with another.
fn term_set(content: &str) -> HashSet<String> {
    text::terms(content).collect()
}

fn jaccard(a: &HashSet<String>, b: &HashSet<String>) -> f64 {
    let common = a.intersection(b).count();
    let union = a.len() + b.len() - common;
    if union == 0 {
        0.0
    } else {
        common as f64 / union as f64
    }
}

/// Keeps the best-ranked of memories that say the same thing (the same words, or nearly:
/// nine in ten of their terms shared), up to `keep` of them. The same words said again in
/// another session add nothing to an answer but would crowd out what does.
fn fold_copies(ranked: Vec<Recalled>, keep: usize) -> Vec<Recalled> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut kept: Vec<(Recalled, HashSet<String>)> = Vec::new();
    for r in ranked {
        if kept.len() >= keep {
            break;
        }
        let words: Vec<String> = text::words(&r.memory.content).collect();
        if !seen.insert(words.join(" ")) {
            continue;
        }
        let terms = term_set(&r.memory.content);
        let near_copy = terms.len() >= 5
            && kept
                .iter()
                .any(|(_, t)| t.len() >= 5 && jaccard(t, &terms) >= 0.9);
        if !near_copy {
            kept.push((r, terms));
        }
    }
    kept.into_iter().map(|(r, _)| r).collect()
}

/// "Newer beats older" where no subject says so: of two memories by the same speaker
/// about the same thing (at least half their terms shared, three or more each) said at
/// different times, the older is marked superseded by the newer and, when `lift`, the newer
/// ranks at least as high.
fn supersede(ranked: &mut [Recalled], lift: bool) {
    let terms: Vec<HashSet<String>> = ranked.iter().map(|r| term_set(&r.memory.content)).collect();
    let mut lifts: Vec<(usize, f64)> = Vec::new();
    for i in 0..ranked.len() {
        for j in i + 1..ranked.len() {
            let (a, b) = (&ranked[i].memory, &ranked[j].memory);
            let comparable = a.subject.is_none()
                && b.subject.is_none()
                && a.speaker.is_some()
                && a.speaker == b.speaker
                && a.occurred_at != b.occurred_at
                && terms[i].len() >= 3
                && terms[j].len() >= 3
                && jaccard(&terms[i], &terms[j]) >= 0.5;
            if !comparable {
                continue;
            }
            let (older, newer) = if a.occurred_at < b.occurred_at {
                (i, j)
            } else {
                (j, i)
            };
            if ranked[older].superseded_by.is_none() {
                ranked[older].superseded_by = Some(ranked[newer].memory.id.clone());
            }
            lifts.push((newer, ranked[older].score));
        }
    }
    if !lift {
        return;
    }
    for (newer, score) in lifts {
        let r = &mut ranked[newer];
        r.score = r.score.max(score);
    }
}

#[cfg(test)]
mod tests {
    use super::{Candidate, Ranking, VectorRange, analyse, embedding_text, rank};
    use crate::model::{Memory, MemoryType};
    use std::collections::BTreeSet;

    fn candidate(id: &str, session: &str, at: i64, content: &str, fts: f64, cos: f32) -> Candidate {
        Candidate {
            memory: Memory {
                id: id.into(),
                kind: MemoryType::Event,
                content: content.into(),
                subject: None,
                session_id: Some(session.into()),
                speaker: Some("alice".into()),
                occurred_at: at,
                created_at: at,
                source_message_ids: vec![id.into()],
                superseded_by: None,
            },
            fts,
            cosine: Some(cos),
            by_vector: fts == 0.0,
            answers: None,
        }
    }

    /// Hybrid ranking of `candidates` for `question` (cosines above a floor of 0.1).
    fn given_hybrid_ranking(question: &str, candidates: Vec<Candidate>) -> Vec<crate::Recalled> {
        rank(
            &analyse(question),
            &BTreeSet::new(),
            4.0,
            Some(VectorRange { floor: 0.1 }),
            candidates,
            &Ranking::default(),
            10,
        )
    }

    #[test]
    fn hybrid_session_boost_lifts_vector_only_finds_in_the_session_text_found() {
        let candidates = vec![
            candidate("a", "s1", 1, "we hiked the ridge trail", 4.0, 0.5),
            candidate("b", "s1", 2, "the view was worth every step", 0.0, 0.6),
            // Newer, so it would win the tie without the session's lift.
            candidate("c", "s2", 3, "my cat sleeps all day", 0.0, 0.6),
        ];
        let ranked = given_hybrid_ranking("where did alice hike", candidates);
        let order: Vec<&str> = ranked.iter().map(|r| r.memory.id.as_str()).collect();
        assert_eq!(order, ["a", "b", "c"]);
        assert!(
            ranked.iter().all(|r| (0.0..=1.0).contains(&r.score)),
            "{ranked:?}"
        );
    }

    #[test]
    fn hybrid_vector_relevance_gets_the_boost_for_when_a_memory_was_said() {
        // Found by vectors alone, equally similar: the one said in the month the question
        // names ranks first, although the other is newer.
        let may = 1_683_676_800_000; // 2023-05-10
        let august = 1_691_625_600_000; // 2023-08-10
        let candidates = vec![
            candidate("a", "s1", may, "we hiked the ridge trail", 0.0, 0.6),
            candidate("b", "s2", august, "we walked along the river", 0.0, 0.6),
        ];
        let ranked = given_hybrid_ranking("where did alice go in May 2023", candidates);
        let order: Vec<&str> = ranked.iter().map(|r| r.memory.id.as_str()).collect();
        assert_eq!(order, ["a", "b"]);
        assert!(ranked[0].score > ranked[1].score, "{ranked:?}");
    }

    #[test]
    fn issue19_3_a_vector_is_computed_from_speaker_content_and_context() {
        assert_eq!(
            embedding_text(Some(" Caroline "), "Yes, twice!", Some("Did you paint?")),
            "Caroline: Yes, twice!\nDid you paint?"
        );
        assert_eq!(
            embedding_text(None, "Deploys on Tuesdays", None),
            "Deploys on Tuesdays"
        );
        assert_eq!(embedding_text(Some(" "), "x", Some("  ")), "x");
    }
}
