//! The metric of the memory evaluation set (`../shared/data/memory-eval/`, LoCoMo's layout):
//! a directory of conversations `NAME.json` (the ingest format) each with its questions
//! `NAME.questions.json` (`[{"question", "evidence": [message ids], "category"}]`).
//!
//! For each question, recall the top `k` memories and map them to their source message ids;
//! **evidence recall@k** is the share of the question's evidence ids among them, averaged
//! over questions, and **hit@k** the share of questions with at least one found. An
//! evidence id that names no message (the source data has a few malformed ones) is simply
//! never found.

use crate::model::{RecallOptions, Session};
use crate::{Error, Profile, parse_ingest_file};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One question of the evaluation set.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Question {
    /// The question as asked, used as the recall query.
    pub question: String,
    /// The ids of the messages that hold the answer.
    pub evidence: Vec<String>,
    /// LoCoMo's categories: 1 multi-hop, 2 temporal, 3 open-domain, 4 single-hop,
    /// 5 adversarial.
    #[serde(default)]
    pub category: u32,
}

/// A conversation of the set and its questions.
#[derive(Debug, Clone)]
pub struct Conversation {
    /// The file name without `.json` (`conv0`).
    pub name: String,
    /// The conversation's sessions, to ingest into a profile before asking the questions.
    pub sessions: Vec<Session>,
    /// The questions asked of it once ingested.
    pub questions: Vec<Question>,
}

/// The share of `evidence` among `found` (0 for a question without evidence).
pub fn evidence_recall(evidence: &[String], found: &BTreeSet<&str>) -> f64 {
    if evidence.is_empty() {
        return 0.0;
    }
    let hits = evidence
        .iter()
        .filter(|e| found.contains(e.as_str()))
        .count();
    hits as f64 / evidence.len() as f64
}

/// Sums of a set of questions' results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Tally {
    /// How many questions were added.
    pub questions: usize,
    /// Σ evidence recall.
    pub recall_sum: f64,
    /// Questions with at least one evidence id found.
    pub hits: usize,
}

impl Tally {
    /// Counts one question whose evidence recall was `recall` (0 to 1).
    pub fn add(&mut self, recall: f64) {
        self.questions += 1;
        self.recall_sum += recall;
        if recall > 0.0 {
            self.hits += 1;
        }
    }

    /// Mean evidence recall (0 with no questions).
    pub fn recall(&self) -> f64 {
        if self.questions == 0 {
            0.0
        } else {
            self.recall_sum / self.questions as f64
        }
    }

    /// Share of questions with a hit.
    pub fn hit_rate(&self) -> f64 {
        if self.questions == 0 {
            0.0
        } else {
            self.hits as f64 / self.questions as f64
        }
    }
}

/// The results of [`evaluate`] (add several with [`Evaluation::merge`]).
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    /// Every question together.
    pub overall: Tally,
    /// The same per LoCoMo category ([`Question::category`]), to see which kind of
    /// question a change helps or hurts.
    pub by_category: BTreeMap<u32, Tally>,
    /// One per question, in order.
    pub latencies: Vec<Duration>,
}

impl Evaluation {
    /// Adds `other`'s results to these (e.g. one conversation's to the whole set's).
    pub fn merge(&mut self, other: Evaluation) {
        self.overall.questions += other.overall.questions;
        self.overall.recall_sum += other.overall.recall_sum;
        self.overall.hits += other.overall.hits;
        for (c, t) in other.by_category {
            let mine = self.by_category.entry(c).or_default();
            mine.questions += t.questions;
            mine.recall_sum += t.recall_sum;
            mine.hits += t.hits;
        }
        self.latencies.extend(other.latencies);
    }
}

/// Asks every question of `questions` of `profile` (top `k`) and scores the sources.
pub async fn evaluate(
    profile: &Profile,
    questions: &[Question],
    k: usize,
) -> Result<Evaluation, Error> {
    let mut out = Evaluation::default();
    for q in questions {
        let t = Instant::now();
        let recall = profile
            .recall(
                &q.question,
                RecallOptions {
                    limit: k,
                    ..RecallOptions::default()
                },
            )
            .await;
        out.latencies.push(t.elapsed());
        let score = match recall {
            Ok(r) => {
                let found: BTreeSet<&str> = r
                    .results
                    .iter()
                    .flat_map(|r| r.sources.iter().map(String::as_str))
                    .collect();
                evidence_recall(&q.evidence, &found)
            }
            // A question with no searchable words finds nothing; anything else is real.
            Err(Error::InvalidInput(_)) => 0.0,
            Err(e) => return Err(e),
        };
        out.overall.add(score);
        out.by_category.entry(q.category).or_default().add(score);
    }
    Ok(out)
}

/// The conversations of `dir`: every `NAME.json` that has a `NAME.questions.json`, sorted
/// by name.
pub fn load_dir(dir: &Path) -> Result<Vec<Conversation>, Error> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, &e))?;
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_owned();
            let stem = name.strip_suffix(".questions.json")?;
            Some(stem.to_owned())
        })
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(Error::invalid(format!(
            "{} holds no `NAME.questions.json`; pass a directory in the evaluation set's \
             layout (`NAME.json` conversations, each with `NAME.questions.json`)",
            dir.display()
        )));
    }
    let read = |path: PathBuf| std::fs::read(&path).map_err(|e| Error::io(&path, &e));
    names
        .into_iter()
        .map(|name| {
            let conversation = dir.join(format!("{name}.json"));
            let sessions = parse_ingest_file(&read(conversation.clone())?)
                .map_err(|e| Error::invalid(format!("{}: {e}", conversation.display())))?;
            let path = dir.join(format!("{name}.questions.json"));
            let questions: Vec<Question> =
                serde_json::from_slice(&read(path.clone())?).map_err(|e| {
                    Error::invalid(format!(
                        "{} is not a questions file ([{{\"question\", \"evidence\", \
                         \"category\"}}]): {e}",
                        path.display()
                    ))
                })?;
            Ok(Conversation {
                name,
                sessions,
                questions,
            })
        })
        .collect()
}
