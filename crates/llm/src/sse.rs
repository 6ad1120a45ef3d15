//! Server-sent events from byte chunks, which may split lines and UTF-8 sequences anywhere.

use crate::Error;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    pub event: Option<String>,
    pub data: String,
}

/// A line longer than this is not an event stream (or is an attack on memory).
const MAX_LINE: usize = 16 << 20;

#[derive(Debug, Default)]
pub(crate) struct Parser {
    buffer: Vec<u8>,
    /// Skip a `\n` that completes a `\r\n` split across chunks.
    skip_lf: bool,
    event: Option<String>,
    data: Option<String>,
}

impl Parser {
    /// Feeds a chunk; complete events are appended to `out`.
    pub(crate) fn feed(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<(), Error> {
        let mut start = 0;
        for (i, &b) in chunk.iter().enumerate() {
            if self.skip_lf {
                self.skip_lf = false;
                if b == b'\n' && i == start {
                    start = i + 1;
                    continue;
                }
            }
            if b == b'\n' || b == b'\r' {
                self.buffer.extend_from_slice(&chunk[start..i]);
                let line = std::mem::take(&mut self.buffer);
                self.line(&line, out)?;
                self.skip_lf = b == b'\r';
                start = i + 1;
            }
        }
        self.buffer.extend_from_slice(&chunk[start..]);
        if self.buffer.len() > MAX_LINE {
            return Err(Error::Malformed {
                reason: format!("a line of the event stream exceeds {MAX_LINE} bytes"),
            });
        }
        Ok(())
    }

    /// At the end of the body: an event whose lines all ended is dispatched (some servers
    /// omit the final blank line); an unterminated last line was cut off and is dropped.
    pub(crate) fn finish(&mut self, out: &mut Vec<Event>) {
        self.buffer.clear();
        self.dispatch(out);
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<Event>) -> Result<(), Error> {
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        let line = std::str::from_utf8(line).map_err(|_| Error::Malformed {
            reason: "the event stream is not UTF-8".into(),
        })?;
        if line.starts_with(':') {
            return Ok(());
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => {
                let data = self.data.get_or_insert_with(String::new);
                if !data.is_empty() || !value.is_empty() {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(value);
                }
            }
            "event" => self.event = Some(value.to_owned()),
            "id" | "retry" => {}
            // The SSE spec ignores unknown fields, but a model endpoint never sends them: this
            // is an HTML page, a JSON body or garbage where events were expected.
            _ => {
                let head: String = line.chars().take(120).collect();
                return Err(Error::Malformed {
                    reason: format!("expected server-sent events, got `{head}`"),
                });
            }
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<Event>) {
        let event = self.event.take();
        if let Some(data) = self.data.take() {
            out.push(Event { event, data });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(bytes: &[u8], piece: usize) -> Vec<Event> {
        let mut parser = Parser::default();
        let mut out = Vec::new();
        for chunk in bytes.chunks(piece) {
            parser.feed(chunk, &mut out).expect("valid");
        }
        parser.finish(&mut out);
        out
    }

    #[test]
    fn events_survive_any_split_of_lines_line_endings_and_utf8() {
        let stream = "event: a\r\ndata: {\"t\":\"h\u{e9}llo \u{1f600}\"}\r\n\r\n: comment\n\ndata: x\rdata: y\r\rdata: [DONE]\n";
        let expected = vec![
            Event {
                event: Some("a".into()),
                data: "{\"t\":\"h\u{e9}llo \u{1f600}\"}".into(),
            },
            Event {
                event: None,
                data: "x\ny".into(),
            },
            // The last event lacks its blank line but its line ended: dispatched.
            Event {
                event: None,
                data: "[DONE]".into(),
            },
        ];
        for piece in 1..=stream.len() {
            assert_eq!(
                parse_in_pieces(stream.as_bytes(), piece),
                expected,
                "pieces of {piece}"
            );
        }
    }

    #[test]
    fn an_unterminated_last_line_is_dropped_and_non_sse_lines_are_garbage() {
        assert_eq!(parse_in_pieces(b"data: {\"cut", 4), vec![]);
        let mut out = Vec::new();
        let error = Parser::default()
            .feed(b"<!DOCTYPE html>\n", &mut out)
            .expect_err("garbage");
        assert!(error.to_string().contains("<!DOCTYPE html>"), "{error}");
    }
}
