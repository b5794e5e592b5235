//! Passport numbers. Printed passport numbers carry no check digit (it is
//! only in the machine-readable zone), so a number is reported only after a
//! passport word or under a passport-named JSON member; the shape of the
//! main EU, UK and US formats is named in the reason when it fits.

pub(crate) const WORDS: &[&str] = &[
    "passport",
    "passport no",
    "passport number",
    "reisepass",
    "passnummer",
    "passeport",
    "pasaporte",
    "passaporto",
    "paspoort",
    "paszport",
];

/// Reach after the word in which the number must start.
const REACH: usize = 32;

/// The national format a token fits, if any (upper-case ASCII `s`).
pub(crate) fn shape(s: &[u8]) -> Option<&'static str> {
    let d = |r: &[u8]| r.iter().all(u8::is_ascii_digit);
    let l = |r: &[u8]| r.iter().all(u8::is_ascii_uppercase);
    match s.len() {
        9 if b"CFGHJK".contains(&s[0])
            && s[1..]
                .iter()
                .all(|b| b"CFGHJKLMNPRTVWXYZ0123456789".contains(b)) =>
        {
            Some("DE format")
        }
        9 if d(&s[..2]) && l(&s[2..4]) && d(&s[4..]) => Some("FR format"),
        9 if l(&s[..2]) && d(&s[2..]) => Some("IT format"),
        9 if l(&s[..3]) && d(&s[3..]) => Some("ES format"),
        9 if l(&s[..2])
            && s[2..8].iter().all(u8::is_ascii_alphanumeric)
            && s[8].is_ascii_digit()
            && !s.contains(&b'O') =>
        {
            Some("NL format")
        }
        9 if d(s) => Some("US/UK format"),
        _ => None,
    }
}

/// Whether a token can be a passport number at all: 6–9 letters and digits
/// with at least one digit.
pub(crate) fn plausible(s: &[u8]) -> bool {
    (6..=9).contains(&s.len())
        && s.iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && s.iter().filter(|b| b.is_ascii_digit()).count() >= 2
}

/// The first plausible number after a passport word ending at `kw_end`,
/// skipping "no", "number", "#", ":" and the like.
pub(crate) fn number_after(text: &[u8], kw_end: usize) -> Option<(usize, usize)> {
    let limit = kw_end.saturating_add(REACH).min(text.len());
    let mut i = kw_end;
    while i < limit {
        if !text[i].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        let mut e = i;
        while e < text.len() && text[e].is_ascii_alphanumeric() {
            e += 1;
        }
        let tok = &text[i..e];
        if plausible(tok) {
            return Some((i, e));
        }
        let filler = [
            &b"no"[..],
            b"nr",
            b"num",
            b"number",
            b"is",
            b"id",
            b"of",
            b"the",
            b"my",
        ];
        if !filler.iter().any(|f| tok.eq_ignore_ascii_case(f)) {
            return None;
        }
        i = e;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_word() {
        let t = b"passport no. C01X00T47 issued";
        let (s, e) = number_after(t, 8).expect("number");
        assert_eq!(&t[s..e], b"C01X00T47");
        assert_eq!(shape(b"C01X00T47"), Some("DE format"));
        assert_eq!(shape(b"18AV12345"), Some("FR format"));
        assert!(number_after(b"passport control is slow", 8).is_none());
    }
}
