//! Why a tool ranked where it did: each query word's best-matching term, the fields it was
//! found in and the points it brought, and the factors applied to their sum.

use std::fmt;

/// How a query word met the term it matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The word itself.
    Word,
    /// A longer word the query word starts (the word itself is not in the catalog).
    Prefix,
    /// A word sharing the query word's stem (`subscribe` ~ subscription).
    Related,
    /// A synonym from the thesaurus (`remove` ~ delete).
    Synonym,
    /// A word spelled alike (the query word is not in the catalog at all).
    Spelling,
}

impl Variant {
    fn label(self) -> &'static str {
        match self {
            Variant::Word => "",
            Variant::Prefix => " (prefix)",
            Variant::Related => " (related)",
            Variant::Synonym => " (synonym)",
            Variant::Spelling => " (spelling)",
        }
    }
}

/// One query word's part of a score.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    /// The query word as indexed (stemmed).
    pub word: String,
    /// The catalog term it matched.
    pub term: String,
    /// How the word matched the term (exact, prefix, synonym …).
    pub variant: Variant,
    /// The fields the term occurs in, for this tool.
    pub fields: Vec<&'static str>,
    /// What this word adds to the sum before the factors.
    pub points: f32,
    /// The term's weight for this query (idf times the variant's weight).
    pub idf: f32,
}

/// A score taken apart: the sum of the contributions, times each factor.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// Each query word's part, the sum of which the factors multiply.
    pub contributions: Vec<Contribution>,
    /// 0.3 + 0.7 × the share of the query's weight matched.
    pub coverage: f32,
    /// 1 + fit², fit being how much of the summary or name the query says.
    pub fit: f32,
    /// The query's verb against what the tool does: 1.2 agreeing, 0.7 disagreeing, times 0.6
    /// when the tool's verb undoes the query's.
    pub action: f32,
    /// One item or a list, as asked: 1.1 agreeing, 0.9 disagreeing.
    pub shape: f32,
    /// The query spells this tool's name or route.
    pub exact: bool,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let terms: Vec<String> = self
            .contributions
            .iter()
            .map(|c| {
                let term = if c.term == c.word {
                    c.word.clone()
                } else {
                    format!("{}→{}", c.word, c.term)
                };
                format!(
                    "{term}{} in {} {:.2}",
                    c.variant.label(),
                    c.fields.join("+"),
                    c.points
                )
            })
            .collect();
        write!(
            f,
            "{} | ×coverage {:.2} ×fit {:.2} ×action {:.2} ×shape {:.2}",
            terms.join(", "),
            self.coverage,
            self.fit,
            self.action,
            self.shape
        )?;
        if self.exact {
            write!(f, " | names the tool exactly")?;
        }
        Ok(())
    }
}
