//! A `text/event-stream` parser (WHATWG HTML §9.2.6), fed chunk by chunk:
//! the recorder reads each event's `data` as one JSON-RPC message.

/// Incremental SSE parser: `push` bytes, get the `data` of each complete event.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the current, unfinished line.
    line: Vec<u8>,
    /// `data` lines of the current event, joined with `\n`.
    data: String,
    has_data: bool,
    /// The previous chunk ended in `\r`: a `\n` that follows belongs to it.
    after_cr: bool,
}

impl SseParser {
    /// Feeds a chunk; returns the data of every event it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        for &b in chunk {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    self.end_line(&mut out);
                }
                _ => self.line.push(b),
            }
        }
        out
    }

    /// The stream ended: an event without its closing blank line is
    /// dispatched anyway (the agent saw its bytes).
    pub fn finish(&mut self) -> Option<String> {
        let mut out = Vec::new();
        if !self.line.is_empty() {
            self.end_line(&mut out);
        }
        self.end_line(&mut out);
        out.pop()
    }

    fn end_line(&mut self, out: &mut Vec<String>) {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            if self.has_data {
                out.push(std::mem::take(&mut self.data));
                self.has_data = false;
            }
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(0) => return, // a comment
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (&line[..], &b""[..]),
        };
        if field == b"data" {
            if self.has_data {
                self.data.push('\n');
            }
            self.data.push_str(&String::from_utf8_lossy(value));
            self.has_data = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_across_chunks_and_line_endings() {
        let mut p = SseParser::default();
        let mut got = p.push(b": comment\nevent: message\nid: 1\ndata: {\"a\"");
        assert!(got.is_empty());
        got.extend(p.push(b":1}\r"));
        got.extend(p.push(b"\n\r\ndata:x\ndata: y\n\n"));
        assert_eq!(got, vec!["{\"a\":1}".to_string(), "x\ny".to_string()]);
        assert!(p.push(b"retry: 5\n\n").is_empty());
        p.push(b"data: tail");
        assert_eq!(p.finish().as_deref(), Some("tail"));
        assert_eq!(p.finish(), None);
    }

    #[test]
    fn every_split_point_gives_the_same_events() {
        let stream = b"event: message\r\ndata: {\"id\":1}\r\n\r\ndata: 2\n\n";
        for cut in 0..stream.len() {
            let mut p = SseParser::default();
            let mut got = p.push(&stream[..cut]);
            got.extend(p.push(&stream[cut..]));
            assert_eq!(
                got,
                vec!["{\"id\":1}".to_string(), "2".to_string()],
                "cut {cut}"
            );
        }
    }
}
