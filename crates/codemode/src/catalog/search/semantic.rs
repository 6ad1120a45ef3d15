//! Optional semantic search: a vector per tool (from an embeddings model the caller
//! configures), and its fusion with the lexical ranking.
//!
//! Fusion keeps the lexical ranking in charge: each candidate scores its lexical score
//! relative to the best one (0 for a tool lexical search did not find) plus a weight
//! ([`SEMANTIC_WEIGHT`] by default) times its cosine similarity to the query, relative to the best
//! candidate's. A tool the words do not reach can only enter below the clear lexical matches,
//! and the order of lexical results changes only where their scores are close; when no word
//! of the query matches anything, the ranking is the semantic one. Pure: the vectors come
//! from the caller.

use rustc_hash::FxHashMap;

use super::{Hit, Ranking, SearchIndex, first_sentence};
use crate::catalog::{Catalog, Target, Tool};

/// Default weight of semantic similarity against the lexical score, both relative to the
/// best.
pub const SEMANTIC_WEIGHT: f32 = 0.3;
/// Candidates taken from each ranking before fusing.
const CANDIDATES: usize = 30;
/// Characters of a tool's description embedded (small models read ~256 tokens).
const EMBEDDED_CHARS: usize = 400;

/// Unit vectors, one per tool of one catalog, in catalog order.
#[derive(Debug, Clone, PartialEq)]
pub struct Vectors {
    dim: usize,
    data: Vec<f32>,
}

impl Vectors {
    /// `None` unless every vector has the same, non-zero length and a usable norm.
    pub fn new(vectors: Vec<Vec<f32>>) -> Option<Vectors> {
        let dim = vectors.first().map_or(0, Vec::len);
        let mut data = Vec::with_capacity(dim * vectors.len());
        for mut v in vectors {
            if v.len() != dim || !normalize(&mut v) {
                return None;
            }
            data.extend_from_slice(&v);
        }
        (dim > 0).then_some(Vectors { dim, data })
    }

    /// Tools covered.
    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    /// Whether no tool is covered.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Dimensions of each vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Little-endian bytes: the dimension as a `u32`, then the components.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.data.len() * 4);
        out.extend_from_slice(&(self.dim as u32).to_le_bytes());
        for x in &self.data {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out
    }

    /// What [`to_bytes`](Self::to_bytes) wrote, for `tools` tools; `None` when it does not fit.
    pub fn from_bytes(bytes: &[u8], tools: usize) -> Option<Vectors> {
        let (head, rest) = bytes.split_first_chunk::<4>()?;
        let dim = u32::from_le_bytes(*head) as usize;
        if dim == 0 || rest.len() != dim.checked_mul(tools)?.checked_mul(4)? {
            return None;
        }
        let data = rest
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Some(Vectors { dim, data })
    }

    /// Cosine similarity of each tool to `query` (a vector of the same model).
    fn similarities(&self, query: &[f32]) -> Option<Vec<f32>> {
        let mut query = query.to_vec();
        if query.len() != self.dim || !normalize(&mut query) {
            return None;
        }
        Some(
            self.data
                .chunks_exact(self.dim)
                .map(|v| v.iter().zip(&query).map(|(a, b)| a * b).sum())
                .collect(),
        )
    }
}

fn normalize(v: &mut [f32]) -> bool {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if !norm.is_finite() || norm == 0.0 {
        return false;
    }
    v.iter_mut().for_each(|x| *x /= norm);
    true
}

/// The text embedded for a tool: its name, its route and what its description opens with.
pub fn embedding_text(tool: &Tool) -> String {
    let mut text = String::new();
    let summary = first_sentence(&tool.description);
    text.push_str(summary);
    text.push_str(". ");
    text.push_str(&tool.path());
    if let Target::Http(http) = &tool.target {
        text.push_str(&format!(" ({} {})", http.method, http.path));
    }
    let rest = tool.description.trim_start()[summary.len()..]
        .trim_start_matches(['.', ' ', '\n'])
        .trim();
    if !rest.is_empty() {
        text.push_str(". ");
        let cut = rest
            .char_indices()
            .nth(EMBEDDED_CHARS)
            .map_or(rest.len(), |(i, _)| i);
        text.push_str(&rest[..cut]);
    }
    text
}

/// The texts [`embedding_text`] gives for every tool of `catalog`, in order.
pub fn embedding_texts(catalog: &Catalog) -> Vec<String> {
    catalog.tools.iter().map(embedding_text).collect()
}

impl SearchIndex {
    /// [`rank`](Self::rank) fused with semantic similarity at `weight` (see the module docs).
    /// `vectors` are the catalog's, `query` the query's vector from the same model; a vector
    /// of another length leaves the lexical ranking as it is.
    pub fn rank_fused(
        &self,
        text: &str,
        query: &[f32],
        vectors: &Vectors,
        weight: f32,
        limit: usize,
    ) -> Ranking {
        let lexical = self.rank(text, limit.max(CANDIDATES));
        let similarities = match vectors.similarities(query) {
            Some(s) if vectors.len() == self.len && limit > 0 => s,
            _ => {
                let mut lexical = lexical;
                lexical.hits.truncate(limit);
                return lexical;
            }
        };
        // The best semantic candidates, one per family (as lexical results are).
        let mut order: Vec<usize> = (0..self.len).collect();
        let take = CANDIDATES.min(order.len());
        if take < order.len() {
            order
                .select_nth_unstable_by(take, |&a, &b| similarities[b].total_cmp(&similarities[a]));
            order.truncate(take + 1);
        }
        order
            .sort_unstable_by(|&a, &b| similarities[b].total_cmp(&similarities[a]).then(a.cmp(&b)));
        let mut semantic: Vec<usize> = Vec::with_capacity(take);
        for tool in order {
            if semantic.len() == take {
                break;
            }
            if !semantic
                .iter()
                .any(|&t| self.family[t] == self.family[tool])
            {
                semantic.push(tool);
            }
        }
        let top_lexical = lexical.hits.first().map_or(0.0, |h| h.score);
        let top_similarity = semantic.first().map_or(0.0, |&t| similarities[t]);
        let mut fused: FxHashMap<u32, (usize, f32)> = FxHashMap::default();
        for hit in &lexical.hits {
            let relative = if top_lexical > 0.0 {
                hit.score / top_lexical
            } else {
                0.0
            };
            fused.insert(self.family[hit.tool], (hit.tool, relative));
        }
        for &tool in &semantic {
            let relative = if top_similarity > 0.0 {
                (similarities[tool] / top_similarity).max(0.0)
            } else {
                0.0
            };
            let entry = fused.entry(self.family[tool]).or_insert((tool, 0.0));
            entry.1 += weight * relative;
        }
        // A lexical hit that no semantic candidate stands for still gets its own similarity.
        for hit in &lexical.hits {
            if !semantic
                .iter()
                .any(|&t| self.family[t] == self.family[hit.tool])
            {
                let relative = if top_similarity > 0.0 {
                    (similarities[hit.tool] / top_similarity).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                if let Some(entry) = fused.get_mut(&self.family[hit.tool]) {
                    entry.1 += weight * relative;
                }
            }
        }
        let mut hits: Vec<Hit> = fused
            .into_values()
            .map(|(tool, score)| Hit { tool, score })
            .collect();
        hits.sort_unstable_by(|a, b| b.score.total_cmp(&a.score).then(a.tool.cmp(&b.tool)));
        hits.truncate(limit);
        Ranking {
            hits,
            note: lexical.note,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::HttpOperation;

    fn tool(name: &str, description: &str) -> Tool {
        Tool {
            namespace: "api".to_owned(),
            name: name.to_owned(),
            original_name: name.to_owned(),
            description: description.to_owned(),
            input_schema: serde_json::json!({"type": "object", "properties": {}}),
            output_schema: None,
            keywords: Vec::new(),
            target: Target::Http(HttpOperation {
                method: "POST".to_owned(),
                path: format!("/{name}"),
                parameters: Vec::new(),
                body: None,
            }),
        }
    }

    /// Three tools, and vectors along three axes: tool i points at axis i.
    fn given() -> (Catalog, SearchIndex, Vectors) {
        let catalog = Catalog {
            title: String::new(),
            tools: vec![
                tool("archiveProject", "Archive a project."),
                tool("archiveTask", "Archive a task of a project."),
                tool("inviteGuest", "Invite a guest to a workspace."),
            ],
        };
        let index = SearchIndex::new(&catalog);
        let vectors = Vectors::new(vec![
            vec![1.0, 0.0, 0.0],
            vec![0.0, 1.0, 0.0],
            vec![0.0, 0.0, 1.0],
        ])
        .expect("vectors");
        (catalog, index, vectors)
    }

    fn names(catalog: &Catalog, ranking: &Ranking) -> Vec<String> {
        ranking
            .hits
            .iter()
            .map(|hit| catalog.tools[hit.tool].name.clone())
            .collect()
    }

    #[test]
    fn issue14_meaning_finds_what_no_word_matches() {
        let (catalog, index, vectors) = given();
        assert!(index.rank("bring a collaborator aboard", 3).hits.is_empty());
        let fused = index.rank_fused(
            "bring a collaborator aboard",
            &[0.1, 0.0, 0.9],
            &vectors,
            SEMANTIC_WEIGHT,
            3,
        );
        assert_eq!(
            names(&catalog, &fused).first().map(String::as_str),
            Some("inviteGuest")
        );
    }

    #[test]
    fn issue14_fusion_keeps_a_clear_lexical_answer_first_and_breaks_near_ties() {
        let (catalog, index, vectors) = given();
        // Meaning points at the task, the words clearly at the project: the words win.
        let lexical = index.rank("archive a project", 3);
        assert_eq!(names(&catalog, &lexical)[0], "archiveProject");
        let fused = index.rank_fused(
            "archive a project",
            &[0.0, 1.0, 0.0],
            &vectors,
            SEMANTIC_WEIGHT,
            3,
        );
        assert_eq!(names(&catalog, &fused)[0], "archiveProject");
        // Between two tools the words rank about alike, meaning decides.
        let words = index.rank("archive", 3);
        let (a, b) = (words.hits[0].score, words.hits[1].score);
        assert!((a - b).abs() / a < SEMANTIC_WEIGHT, "{a} vs {b}");
        let second = names(&catalog, &words)[1].clone();
        let axis = if second == "archiveTask" {
            [0.0, 1.0, 0.0]
        } else {
            [1.0, 0.0, 0.0]
        };
        let fused = index.rank_fused("archive", &axis, &vectors, SEMANTIC_WEIGHT, 3);
        assert_eq!(names(&catalog, &fused)[0], second);
        // A vector of another model's size changes nothing.
        let other = index.rank_fused(
            "archive a project",
            &[1.0, 0.0],
            &vectors,
            SEMANTIC_WEIGHT,
            3,
        );
        assert_eq!(other.hits, lexical.hits);
    }

    #[test]
    fn vectors_round_trip_through_bytes_and_refuse_what_does_not_fit() {
        let vectors = Vectors::new(vec![vec![3.0, 4.0], vec![0.0, 2.0]]).expect("vectors");
        assert_eq!(vectors.len(), 2);
        assert_eq!(vectors.data, vec![0.6, 0.8, 0.0, 1.0]);
        let bytes = vectors.to_bytes();
        assert_eq!(Vectors::from_bytes(&bytes, 2), Some(vectors));
        assert_eq!(Vectors::from_bytes(&bytes, 3), None);
        assert_eq!(Vectors::from_bytes(&bytes[..5], 2), None);
        assert_eq!(Vectors::new(vec![vec![1.0], vec![1.0, 2.0]]), None);
        assert_eq!(Vectors::new(vec![vec![0.0, 0.0]]), None);
        assert_eq!(Vectors::new(Vec::new()), None);
    }
}
