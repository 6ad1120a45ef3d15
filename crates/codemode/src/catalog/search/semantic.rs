//! Optional semantic search: a vector per tool (from an embeddings model the caller
//! configures), and its fusion with the lexical ranking.
//!
//! Fusion reorders what the words found and fills the room they left: each lexical result
//! scores its score relative to the best one plus a weight ([`SEMANTIC_WEIGHT`] by default)
//! times its cosine similarity to the query relative to the best tool's; when the words
//! found fewer than `limit` tools, the tools nearest in meaning fill the rest (scored by
//! similarity alone, so below the clear lexical matches). The results are the lexical
//! ones whenever the words fill the page, so a query the words answer within the limit is
//! never lost; a query none of whose words matches is ranked by meaning alone. (Letting
//! tools only the meaning found displace lexical ones lost one dev-split query from
//! GitHub's top 10 at every weight tried, with all-MiniLM-L6-v2.) Pure: the vectors come
//! from the caller.

use super::{Hit, Ranking, SearchIndex, first_sentence};
use crate::catalog::{Catalog, Target, Tool};

/// Default weight of semantic similarity against the lexical score, both relative to the
/// best.
pub const SEMANTIC_WEIGHT: f32 = 0.1;
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
        let mut lexical = self.rank(text, limit);
        let similarities = match vectors.similarities(query) {
            Some(s) if vectors.len() == self.len && limit > 0 => s,
            _ => return lexical,
        };
        let top_similarity = similarities.iter().copied().fold(0.0f32, f32::max);
        let semantic = |tool: usize| {
            if top_similarity > 0.0 {
                (similarities[tool] / top_similarity).max(0.0)
            } else {
                0.0
            }
        };
        let top_lexical = lexical.hits.first().map_or(0.0, |h| h.score);
        let mut hits: Vec<Hit> = lexical
            .hits
            .iter()
            .map(|hit| Hit {
                tool: hit.tool,
                score: hit.score / top_lexical + weight * semantic(hit.tool),
            })
            .collect();
        // Room the words left: the tools nearest in meaning, one per family.
        if hits.len() < limit {
            let mut order: Vec<usize> = (0..self.len).collect();
            order.sort_unstable_by(|&a, &b| {
                similarities[b].total_cmp(&similarities[a]).then(a.cmp(&b))
            });
            for tool in order {
                if hits.len() >= limit {
                    break;
                }
                if !hits
                    .iter()
                    .any(|h| self.family[h.tool] == self.family[tool])
                {
                    hits.push(Hit {
                        tool,
                        score: weight * semantic(tool),
                    });
                }
            }
        }
        hits.sort_unstable_by(|a, b| b.score.total_cmp(&a.score).then(a.tool.cmp(&b.tool)));
        lexical.hits = hits;
        lexical
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
        let weight = 0.3;
        assert!((a - b).abs() / a < weight, "{a} vs {b}");
        let second = names(&catalog, &words)[1].clone();
        let axis = if second == "archiveTask" {
            [0.0, 1.0, 0.0]
        } else {
            [1.0, 0.0, 0.0]
        };
        let fused = index.rank_fused("archive", &axis, &vectors, weight, 3);
        assert_eq!(names(&catalog, &fused)[0], second);
        // What the words found stays found: meaning reorders it, and adds only where the
        // words left room.
        let words = index.rank("archive", 2);
        let fused = index.rank_fused("archive", &[0.0, 0.0, 1.0], &vectors, 1.0, 2);
        let mut found = names(&catalog, &fused);
        found.sort();
        assert_eq!(found, ["archiveProject", "archiveTask"]);
        assert_eq!(words.hits.len(), 2);
        let fused = index.rank_fused("archive", &[0.0, 0.0, 1.0], &vectors, 1.0, 3);
        assert!(
            names(&catalog, &fused).contains(&"inviteGuest".to_owned()),
            "{fused:?}"
        );
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
