//! Context words: whole-word, case-insensitive matches near a candidate, or
//! in the JSON member name that holds the string.
//!
//! Whole words only: "lic" must never match inside "public". `_`, `-`, `.` and
//! spaces all separate words, so `api_key`, `api-key` and `API key` are one
//! phrase; a camelCase member name (`passportNumber`) is split at its humps.

/// Bytes of text looked at before a candidate.
const BEFORE: usize = 48;
/// Bytes of text looked at after a candidate.
const AFTER: usize = 24;

/// Where a context word was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hit {
    /// In the text around the candidate.
    Near(&'static str),
    /// In the JSON member name of the string.
    Key(&'static str),
}

impl Hit {
    /// The human reason: "near 'passport'" or "key 'passport'".
    pub(crate) fn why(self) -> String {
        match self {
            Hit::Near(w) => format!("near '{w}'"),
            Hit::Key(w) => format!("key '{w}'"),
        }
    }
}

/// The text being scanned and the member name it sits under (if any),
/// already folded by [`fold_key`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context<'a> {
    pub(crate) text: &'a str,
    pub(crate) key: Option<&'a [u8]>,
    /// JSON path of the string, `None` for a member name. One of an event's
    /// identifier fields ([`crate::IDENTIFIER_FIELDS`]) names an identifier
    /// whatever its member is called (`session`, `parent`,
    /// `agent.instance`); looked up only when a detector asks.
    pub(crate) path: Option<&'a str>,
}

/// A word character: ASCII letters and digits, and any non-ASCII byte (so a
/// word never matches inside "naïve" or "Straße" either).
pub(crate) fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

/// Lower-cases and folds separators to one space, into `out`.
fn fold_into(src: &[u8], out: &mut Vec<u8>) {
    out.clear();
    for &b in src {
        out.push(match b {
            b'_' | b'-' | b'.' | b'\t' | b'\n' | b'\r' => b' ',
            _ => b.to_ascii_lowercase(),
        });
    }
}

/// Folds a member name, splitting camelCase humps with a space.
/// Whether the last word of a folded member name or label (lower case,
/// words separated by spaces, see [`fold_key`]) says the
/// value is an identifier: `id`, `user_id`, `messageId`, `trace_ids`,
/// `uuid`.
pub(crate) fn folded_names_identifier(folded: &[u8]) -> bool {
    let trimmed = folded.trim_ascii_end();
    let last = trimmed.rsplit(|&b| b == b' ').next().unwrap_or(trimmed);
    matches!(last, b"id" | b"ids" | b"uuid" | b"guid")
}

pub(crate) fn fold_key(key: &str, out: &mut Vec<u8>) {
    out.clear();
    let bytes = key.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if i > 0 && b.is_ascii_uppercase() && bytes[i - 1].is_ascii_lowercase() {
            out.push(b' ');
        }
        out.push(match b {
            b'_' | b'-' | b'.' => b' ',
            _ => b.to_ascii_lowercase(),
        });
    }
}

/// Whether `word` (lower case, spaces between parts) occurs in `hay` with a
/// non-word byte (or an end) on both sides.
pub(crate) fn contains_word(hay: &[u8], word: &str) -> bool {
    let w = word.as_bytes();
    if w.is_empty() || w.len() > hay.len() {
        return false;
    }
    // Haystacks are short windows: a memchr on the first byte and a compare
    // beats building a substring searcher per call.
    let mut from = 0;
    while let Some(off) = memchr::memchr(w[0], &hay[from..]) {
        let pos = from + off;
        let end = pos + w.len();
        if end > hay.len() {
            return false;
        }
        if &hay[pos..end] == w
            && (pos == 0 || !is_word_byte(hay[pos - 1]))
            && (end == hay.len() || !is_word_byte(hay[end]))
        {
            return true;
        }
        from = pos + 1;
    }
    false
}

impl<'a> Context<'a> {
    #[cfg(test)]
    pub(crate) fn text(text: &'a str) -> Self {
        Context {
            text,
            key: None,
            path: None,
        }
    }

    /// Whether the member name says its value is an identifier (`id`,
    /// `call_id`, `messageId`; see [`folded_names_identifier`]).
    pub(crate) fn names_identifier(&self) -> bool {
        self.path.is_some_and(crate::is_identifier_field)
            || self.key.is_some_and(folded_names_identifier)
    }

    /// The first of `words` found in the member name, else in the text
    /// window around `start..end`.
    pub(crate) fn find(&self, start: usize, end: usize, words: &[&'static str]) -> Option<Hit> {
        if words.is_empty() {
            return None;
        }
        if let Some(key) = self.key {
            // `call_id`, `contact_id`, `card_id` name the id *of* a call, a
            // contact, a card: not a phone number or a card number. Only a
            // phrase that is itself an id ("national id") counts there.
            let id_key = self.names_identifier();
            if let Some(w) = words
                .iter()
                .find(|w| (!id_key || w.ends_with("id")) && contains_word(key, w))
            {
                return Some(Hit::Key(w));
            }
        }
        let mut buf = Vec::with_capacity(BEFORE + AFTER + 64);
        let bytes = self.text.as_bytes();
        let lo = start.saturating_sub(BEFORE);
        let hi = end.saturating_add(AFTER).min(bytes.len());
        let start = start.min(bytes.len());
        let end = end.clamp(start, bytes.len());
        // The candidate itself is blanked out so that its own letters (an
        // IBAN's country code, a key's prefix) never count as context.
        fold_into(&bytes[lo..hi], &mut buf);
        for b in &mut buf[start - lo..end - lo] {
            *b = b' ';
        }
        words
            .iter()
            .find(|w| contains_word(&buf, w))
            .map(|w| Hit::Near(w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_words_only() {
        assert!(contains_word(b"driving lic no", "lic"));
        assert!(!contains_word(b"a public key", "lic"));
        assert!(!contains_word(b"licence", "lic"));
        assert!(contains_word(b"date of birth", "date of birth"));
    }

    #[test]
    fn window_and_key() {
        let text = "my passport: C01X00T47, public";
        let c = Context::text(text);
        assert_eq!(c.find(13, 22, &["passport"]), Some(Hit::Near("passport")));
        assert_eq!(c.find(13, 22, &["lic"]), None);
        let mut folded = Vec::new();
        fold_key("passportNumber", &mut folded);
        let k = Context {
            text: "C01X00T47",
            key: Some(&folded),
            path: None,
        };
        assert_eq!(k.find(0, 9, &["passport"]), Some(Hit::Key("passport")));
        let mut folded = Vec::new();
        fold_key("api_key", &mut folded);
        let k = Context {
            text: "x",
            key: Some(&folded),
            path: None,
        };
        assert_eq!(k.find(0, 1, &["api key"]), Some(Hit::Key("api key")));
    }
}
