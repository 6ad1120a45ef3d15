//! Source edits and the position map they leave behind.
//!
//! Every edit replaces a byte range of the model's code. Blanking (spaces, newlines kept) is the
//! common case and moves nothing; text edits may shift columns on their line, so the result
//! carries anchors that map script positions back. Lines never move: callers keep the newline
//! count of what they replace (see [`Edits::replace_keep_lines`]), except for the suffix appended
//! after the last line.
//!
//! Columns are counted in Unicode scalar values (`char`s), 1-based.

/// How a range is rewritten.
#[derive(Debug, Clone)]
enum Change {
    /// Spaces over every char except `\n`; optionally the first char becomes `first` (a `;`
    /// guarding against ASI) and the last becomes `last` (a moved `)`).
    Blank {
        first: Option<char>,
        last: Option<char>,
    },
    /// Arbitrary text.
    Text(String),
}

#[derive(Debug, Clone)]
struct Edit {
    start: usize,
    end: usize,
    /// Insertion order, so that edits at the same offset apply in the order they were made.
    seq: usize,
    change: Change,
}

/// A set of non-overlapping edits over one source text.
#[derive(Debug, Default)]
pub(super) struct Edits {
    list: Vec<Edit>,
}

impl Edits {
    fn push(&mut self, start: u32, end: u32, change: Change) {
        let (start, end) = (start as usize, end as usize);
        if start <= end {
            let seq = self.list.len();
            self.list.push(Edit {
                start,
                end,
                seq,
                change,
            });
        }
    }

    /// Replace `start..end` with spaces, keeping newlines.
    pub(super) fn blank(&mut self, start: u32, end: u32) {
        if start < end {
            self.push(
                start,
                end,
                Change::Blank {
                    first: None,
                    last: None,
                },
            );
        }
    }

    /// Blank `start..end` but write `first` over its first char (which must not be a newline).
    pub(super) fn blank_with_first(&mut self, start: u32, end: u32, first: char) {
        if start < end {
            self.push(
                start,
                end,
                Change::Blank {
                    first: Some(first),
                    last: None,
                },
            );
        }
    }

    /// Blank `start..end` but write `last` over its last char (which must not be a newline).
    pub(super) fn blank_with_last(&mut self, start: u32, end: u32, last: char) {
        if start < end {
            self.push(
                start,
                end,
                Change::Blank {
                    first: None,
                    last: Some(last),
                },
            );
        }
    }

    /// Insert `text` (no newlines) at `at`.
    pub(super) fn insert(&mut self, at: u32, text: impl Into<String>) {
        self.push(at, at, Change::Text(text.into()));
    }

    /// Replace `start..end` with `text` (no newlines) followed by as many newlines as the
    /// replaced range had, so that later lines keep their numbers.
    pub(super) fn replace_keep_lines(&mut self, src: &str, start: u32, end: u32, text: &str) {
        let newlines = src
            .get(start as usize..end as usize)
            .map_or(0, |s| s.matches('\n').count());
        let mut text = text.to_owned();
        text.extend(std::iter::repeat_n('\n', newlines));
        self.push(start, end, Change::Text(text));
    }

    /// Write `text` (no newlines) over `start..end`, blanking the rest of the range. In place
    /// when it fits on the range's first line (no column moves); otherwise the text is inserted
    /// before the blanked range.
    pub(super) fn overwrite(&mut self, src: &str, start: u32, end: u32, text: &str) {
        let Some(range) = src.get(start as usize..end as usize) else {
            return;
        };
        let first_line = range.split('\n').next().unwrap_or("");
        let width = text.chars().count();
        let mut out = String::with_capacity(range.len().max(text.len()));
        out.push_str(text);
        if first_line.chars().count() >= width {
            out.extend(range.chars().skip(width).map(blank_char));
        } else {
            out.extend(range.chars().map(blank_char));
        }
        self.push(start, end, Change::Text(out));
    }

    /// Apply the edits to `src`, append `suffix`, and return the script with its position map.
    /// An edit that overlaps an earlier one, or does not fall on char boundaries, is dropped:
    /// the visitor never produces such edits for a well-formed AST, and dropping beats panicking.
    pub(super) fn apply(mut self, src: &str, suffix: &str) -> (String, LineMap) {
        let end = src.len();
        self.list.push(Edit {
            start: end,
            end,
            seq: usize::MAX,
            change: Change::Text(suffix.to_owned()),
        });
        // Insertions (empty ranges) go before replacements starting at the same offset.
        self.list.sort_by_key(|e| (e.start, e.end, e.seq));

        let mut w = Writer::new(src);
        let mut cursor = 0;
        for edit in &self.list {
            if edit.start < cursor
                || edit.end > end
                || !src.is_char_boundary(edit.start)
                || !src.is_char_boundary(edit.end)
            {
                continue;
            }
            w.copy(cursor, edit.start);
            match &edit.change {
                Change::Blank { first, last } => w.blank(edit.start, edit.end, *first, *last),
                Change::Text(text) => w.text(edit.start, edit.end, text),
            }
            cursor = edit.end;
        }
        w.copy(cursor, end);
        w.finish()
    }
}

fn blank_char(c: char) -> char {
    if c == '\n' { '\n' } else { ' ' }
}

/// Where a run of script text came from.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    out_line: u32,
    out_col: u32,
    in_line: u32,
    in_col: u32,
    /// Copied or blanked text: positions after the anchor move in step with the source.
    /// Otherwise (generated text) every position maps to the anchor itself.
    exact: bool,
}

/// Maps 1-based (line, column) in the script to 1-based (line, column) in the source the edits
/// were applied to.
#[derive(Debug, Clone, Default)]
pub(super) struct LineMap {
    anchors: Vec<Anchor>,
    /// Number of lines in the source, to clamp positions in the appended suffix.
    in_lines: u32,
}

impl LineMap {
    pub(super) fn lookup(&self, line: u32, column: u32) -> (u32, u32) {
        let (line, column) = (line.max(1), column.max(1));
        let idx = self
            .anchors
            .partition_point(|a| (a.out_line, a.out_col) <= (line, column));
        let Some(a) = idx.checked_sub(1).and_then(|i| self.anchors.get(i)) else {
            return (line.min(self.in_lines.max(1)), column);
        };
        let (in_line, in_col) = if !a.exact {
            (a.in_line, a.in_col)
        } else if line == a.out_line {
            (a.in_line, a.in_col + (column - a.out_col))
        } else {
            (a.in_line + (line - a.out_line), column)
        };
        if in_line > self.in_lines.max(1) {
            (self.in_lines.max(1), in_col)
        } else {
            (in_line, in_col)
        }
    }
}

/// Builds the output while tracking positions on both sides.
struct Writer<'s> {
    src: &'s str,
    out: String,
    anchors: Vec<Anchor>,
    out_line: u32,
    out_col: u32,
    in_line: u32,
    in_col: u32,
}

impl<'s> Writer<'s> {
    fn new(src: &'s str) -> Self {
        Self {
            src,
            out: String::with_capacity(src.len() + 64),
            anchors: Vec::new(),
            out_line: 1,
            out_col: 1,
            in_line: 1,
            in_col: 1,
        }
    }

    fn anchor(&mut self, exact: bool) {
        let a = Anchor {
            out_line: self.out_line,
            out_col: self.out_col,
            in_line: self.in_line,
            in_col: self.in_col,
            exact,
        };
        // A later anchor at the same script position supersedes the earlier one.
        if let Some(last) = self.anchors.last_mut()
            && (last.out_line, last.out_col) == (a.out_line, a.out_col)
        {
            *last = a;
            return;
        }
        // Consecutive exact anchors in step with each other add nothing.
        if let Some(last) = self.anchors.last()
            && exact
            && last.exact
            && last.out_line == a.out_line
            && last.in_line == a.in_line
            && a.out_col - last.out_col == a.in_col - last.in_col
        {
            return;
        }
        self.anchors.push(a);
    }

    fn advance_in(&mut self, c: char) {
        if c == '\n' {
            self.in_line += 1;
            self.in_col = 1;
        } else {
            self.in_col += 1;
        }
    }

    fn push_out(&mut self, c: char) {
        self.out.push(c);
        if c == '\n' {
            self.out_line += 1;
            self.out_col = 1;
        } else {
            self.out_col += 1;
        }
    }

    fn copy(&mut self, start: usize, end: usize) {
        let Some(text) = self.src.get(start..end) else {
            return;
        };
        if text.is_empty() {
            return;
        }
        self.anchor(true);
        self.out.push_str(text);
        for c in text.chars() {
            if c == '\n' {
                self.out_line += 1;
                self.out_col = 1;
            } else {
                self.out_col += 1;
            }
            self.advance_in(c);
        }
    }

    fn blank(&mut self, start: usize, end: usize, first: Option<char>, last: Option<char>) {
        let Some(text) = self.src.get(start..end) else {
            return;
        };
        self.anchor(true);
        // The replacement chars go on the first and last chars that are not newlines.
        let first_at = text.chars().position(|c| c != '\n');
        let last_at = text
            .chars()
            .count()
            .checked_sub(1 + text.chars().rev().position(|c| c != '\n').unwrap_or(0));
        for (i, c) in text.chars().enumerate() {
            let mut b = blank_char(c);
            if c != '\n' {
                if let (true, Some(f)) = (Some(i) == first_at, first) {
                    b = f;
                }
                if let (true, Some(l)) = (Some(i) == last_at, last) {
                    b = l;
                }
            }
            self.push_out(b);
            self.advance_in(c);
        }
    }

    fn text(&mut self, start: usize, end: usize, text: &str) {
        let Some(replaced) = self.src.get(start..end) else {
            return;
        };
        let (start_line, start_col) = (self.in_line, self.in_col);
        for c in replaced.chars() {
            self.advance_in(c);
        }
        let replaced_lines = self.in_line - start_line;
        // Generated text maps to where it was put; its k-th line to the k-th replaced line.
        let saved = (self.in_line, self.in_col);
        (self.in_line, self.in_col) = (start_line, start_col);
        self.anchor(false);
        let mut k = 0;
        for c in text.chars() {
            self.push_out(c);
            if c == '\n' {
                k += 1;
                if k <= replaced_lines {
                    (self.in_line, self.in_col) = (start_line + k, 1);
                } else {
                    (self.in_line, self.in_col) = saved;
                }
                self.anchor(false);
            }
        }
        (self.in_line, self.in_col) = saved;
    }

    fn finish(self) -> (String, LineMap) {
        // A final newline ends the last line rather than starting an empty one.
        let in_lines = if self.src.ends_with('\n') {
            self.in_line - 1
        } else {
            self.in_line
        };
        (
            self.out,
            LineMap {
                anchors: self.anchors,
                in_lines,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blanks_keep_positions_and_text_shifts_are_mapped() {
        let src = "let x: number = 1;\nfoo(x)\n";
        let mut e = Edits::default();
        e.insert(0, "(async () => {");
        e.blank(5, 13);
        e.insert(19, "return (");
        e.insert(25, ")");
        let (out, map) = e.apply(src, "\n})()");
        assert_eq!(
            out,
            "(async () => {let x         = 1;\nreturn (foo(x))\n\n})()"
        );
        assert_eq!(map.lookup(1, 15), (1, 1));
        assert_eq!(map.lookup(1, 3), (1, 1));
        assert_eq!(map.lookup(1, 31), (1, 17));
        assert_eq!(map.lookup(2, 9), (2, 1));
        assert_eq!(map.lookup(2, 12), (2, 4));
        assert_eq!(map.lookup(2, 15), (2, 7));
        // The appended suffix maps to the last line.
        assert_eq!(map.lookup(4, 2), (2, 1));
        assert_eq!(map.lookup(40, 2), (2, 1));
    }

    #[test]
    fn overlapping_and_misaligned_edits_are_dropped() {
        let src = "héllo world";
        let mut e = Edits::default();
        e.blank(0, 5);
        e.blank(3, 8);
        e.blank(2, 4); // inside `é`
        e.blank(100, 200);
        let (out, _) = e.apply(src, "");
        assert_eq!(out, "    o world");
    }

    #[test]
    fn overwrite_in_place_or_before() {
        let src = "export default 1\nexport\ndefault 2";
        let mut e = Edits::default();
        e.overwrite(src, 0, 15, "var $default =");
        e.overwrite(src, 17, 32, "var $default =");
        let (out, map) = e.apply(src, "");
        assert_eq!(out, "var $default = 1\nvar $default =      \n        2");
        assert_eq!(map.lookup(1, 16), (1, 16));
        assert_eq!(map.lookup(3, 9), (3, 9));
    }
}
