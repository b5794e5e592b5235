//! Token boundaries: a value that is part of a longer machine identifier is
//! not personal data (issue 14).
//!
//! Machine identifiers join their parts with punctuation and no space:
//! hex groups of a UUID (`49301234-5678-4abc-…`), semver build metadata
//! (`1.2.3+123456789`), pod names (`backup-28391234-xk2lp`), IPv6 zone ids
//! (`fe80::1%eth0`), Stripe ids (`ch_3Mml…`), ARN fields
//! (`arn:aws:iam::123456789012:role/x`), URL paths (`/Order/4501234567890`).
//! People write phone numbers, cards and national ids as a value of their
//! own: after a space, a quote, a `(`, a `#` or a label (`card: …`,
//! `phone=…`), and grouped with spaces, `-`, `.` or `/` *between digit
//! groups*, which the numeric reader already takes as one run.
//!
//! So a candidate is glued to a token when a joiner sits between it and a
//! letter or digit that is not part of the candidate. `:` only joins
//! colon-delimited fields (`::…`, or `:…:`), because `card:4111…` and
//! `tel:+49…` are labels. After the candidate, `-`, `.`, `:` and `/` join
//! only when what follows is identifier-like (holds a digit, or goes on
//! with another joined part): "0494 41 18 24-Office" is still a phone.

/// Bytes that join the parts of one identifier.
pub(crate) fn is_joiner(b: u8) -> bool {
    matches!(b, b'-' | b'_' | b'.' | b'+' | b'%' | b'~' | b'/' | b':')
}

/// Whether the candidate `text[start..end]` is glued to a token before
/// it. `start` is its first byte (a leading `+` included).
pub(crate) fn glued_before(text: &[u8], start: usize, end: usize) -> bool {
    let Some(b) = start.checked_sub(1).map(|p| text[p]) else {
        return false;
    };
    if escaped_space(text, start - 1) {
        return false;
    }
    // `1.2.3+123456789`: a `+` right after a letter or digit is build
    // metadata, never an international prefix. (A `(` opens a value of its
    // own; a digit is never preceded by one, by construction of tokens.)
    if b.is_ascii_alphanumeric() {
        return text.get(start) == Some(&b'+');
    }
    let a = start.checked_sub(2).map(|p| text[p]);
    let alnum = a.is_some_and(|a| a.is_ascii_alphanumeric());
    match b {
        b'-' | b'_' | b'.' | b'+' | b'%' | b'~' | b'/' => alnum,
        // `iam::123456789012:` and `eu-west-1:123456789012:` are fields of
        // a colon-joined identifier; `card:4111…` is a label.
        b':' => a == Some(b':') || (alnum && text.get(end) == Some(&b':')),
        _ => false,
    }
}

/// Whether `text[i]` is the letter of a `\n`, `\t` or `\r` escape: JSON
/// encoded twice (common in agent logs) writes line breaks that way, and
/// they separate values like the breaks themselves.
fn escaped_space(text: &[u8], i: usize) -> bool {
    matches!(text[i], b'n' | b't' | b'r') && i > 0 && text[i - 1] == b'\\'
}

/// Whether the candidate ending at `end` is glued to a token after it.
pub(crate) fn glued_after(text: &[u8], end: usize) -> bool {
    let (Some(&b), Some(&c)) = (text.get(end), text.get(end + 1)) else {
        return false;
    };
    if !c.is_ascii_alphanumeric() {
        return false;
    }
    match b {
        b'_' | b'%' | b'+' | b'~' => true,
        b'-' | b'.' | b':' | b'/' => {
            let mut k = end + 1;
            let mut digit = false;
            while let Some(&x) = text.get(k) {
                if !x.is_ascii_alphanumeric() {
                    break;
                }
                digit |= x.is_ascii_digit();
                k += 1;
            }
            // `-4abc` (a hex group) or `-abcd-4def…` (more parts follow);
            // a lone word after a dash ("24-Office") is not an identifier.
            digit
                || (text.get(k).copied().is_some_and(is_joiner)
                    && text.get(k + 1).is_some_and(u8::is_ascii_alphanumeric))
        }
        _ => false,
    }
}

/// Bytes of text looked at before a value for its `label=` / `label: `.
const LABEL_REACH: usize = 48;

/// Whether the value at `start` follows a label that names an identifier:
/// `order_id=4501234567890`, `"userId": 4501234567890`, `id: 4411…`
/// (query strings, logs, YAML and JSON written into a string).
pub(crate) fn id_label_before(text: &[u8], start: usize) -> bool {
    let floor = start.saturating_sub(LABEL_REACH);
    let mut i = start;
    let skip = |i: &mut usize| {
        while *i > floor && matches!(text[*i - 1], b' ' | b'"' | b'\'') {
            *i -= 1;
        }
    };
    skip(&mut i);
    if i == floor || !matches!(text[i - 1], b'=' | b':') {
        return false;
    }
    i -= 1;
    skip(&mut i);
    let end = i;
    while i > floor
        && (text[i - 1].is_ascii_alphanumeric() || matches!(text[i - 1], b'_' | b'-' | b'.'))
    {
        i -= 1;
    }
    if i == end {
        return false;
    }
    let label = String::from_utf8_lossy(&text[i..end]);
    let mut folded = Vec::with_capacity(label.len() + 4);
    crate::context::fold_key(&label, &mut folded);
    crate::context::folded_names_identifier(&folded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, needle: &str) -> (usize, usize) {
        let s = text.find(needle).expect("needle");
        (s, s + needle.len())
    }

    #[test]
    fn before() {
        for (text, value) in [
            ("1.2.3+123456789", "+123456789"),
            ("ORD-2026-4111111111111111", "4111111111111111"),
            ("call_4155552671", "4155552671"),
            ("arn:aws:iam::017646889706:role/x", "017646889706"),
            ("arn:aws:sqs:eu-west-1:123456789012:q", "123456789012"),
            ("gid://shopify/Order/4501234567890", "4501234567890"),
            ("fe80::1%25", "25"),
        ] {
            let (s, e) = at(text, value);
            assert!(glued_before(text.as_bytes(), s, e), "{text}");
        }
        for (text, value) in [
            ("call +49 30 1234-5678", "+49 30 1234-5678"),
            ("tel:+4930123456", "+4930123456"),
            ("card:4111111111111111", "4111111111111111"),
            ("(030) 1234 5678", "(030) 1234 5678"),
            ("#4111111111111111", "4111111111111111"),
            ("4111111111111111", "4111111111111111"),
            ("x -4111111111111111", "4111111111111111"),
            ("Fax:\\n+41 51 996 63 65", "+41 51 996 63 65"),
            ("Phone:\\n(85) 6894-5401", "(85) 6894-5401"),
        ] {
            let (s, e) = at(text, value);
            assert!(!glued_before(text.as_bytes(), s, e), "{text}");
        }
    }

    #[test]
    fn after() {
        for text in [
            "4930_abc",
            "4930%eth0",
            "4930-4abc",
            "4930-abcd-4def",
            "4930:function:x",
        ] {
            assert!(glued_after(text.as_bytes(), 4), "{text}");
        }
        for text in [
            "4930",
            "4930-Office",
            "4930.",
            "4930. Next",
            "4930, x",
            "4930-",
        ] {
            assert!(!glued_after(text.as_bytes(), 4), "{text}");
        }
    }

    #[test]
    fn identifier_labels() {
        let mut f = Vec::new();
        for (key, id) in [
            ("id", true),
            ("call_id", true),
            ("messageId", true),
            ("trace_ids", true),
            ("uuid", true),
            ("phone", false),
            ("idle", false),
            ("national_id_card", false),
            ("paid", false),
        ] {
            crate::context::fold_key(key, &mut f);
            assert_eq!(crate::context::folded_names_identifier(&f), id, "{key}");
        }
        let t = "GET /v1?order_id=4501234567890";
        assert!(id_label_before(t.as_bytes(), at(t, "4501").0));
        let t = r#"{"userId": "4501234567890"}"#;
        assert!(id_label_before(t.as_bytes(), at(t, "4501").0));
        let t = "card: 4501234567890";
        assert!(!id_label_before(t.as_bytes(), at(t, "4501").0));
        let t = "id 4501234567890";
        assert!(!id_label_before(t.as_bytes(), at(t, "4501").0));
    }
}
