//! Dates of birth: a date is only personal data here when a birth word
//! ("born", "DOB", "date of birth", …) comes just before it, or when it is
//! the value of a birth-named JSON member. Dates alone are everywhere in
//! agent traffic (timestamps) and are not reported.

use crate::checksum::{num, valid_date};

/// Birth words, searched for by the keyword prefilter.
pub(crate) const WORDS: &[&str] = &[
    "born",
    "dob",
    "d o b",
    "date of birth",
    "birth date",
    "birthdate",
    "birthday",
    "birth",
    "geboren",
    "geburtsdatum",
    "né le",
    "née le",
    "date de naissance",
    "fecha de nacimiento",
    "data di nascita",
];

/// How far after a birth word the date may start.
const REACH: usize = 40;

const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn month_at(text: &[u8], i: usize) -> Option<(u32, usize)> {
    let rest = &text[i..];
    for (m, name) in MONTHS.iter().enumerate() {
        let full = name.len();
        for len in [full, 3] {
            if rest.len() >= len && rest[..len].eq_ignore_ascii_case(&name.as_bytes()[..len]) {
                let mut end = i + len;
                if len == 3 && text.get(end) == Some(&b'.') {
                    end += 1;
                }
                if text.get(end).is_some_and(u8::is_ascii_alphabetic) {
                    continue;
                }
                return Some((m as u32 + 1, end));
            }
        }
    }
    None
}

fn digits_at(text: &[u8], i: usize, max: usize) -> Option<(u32, usize)> {
    let mut e = i;
    while e < text.len() && e - i < max && text[e].is_ascii_digit() {
        e += 1;
    }
    if e == i || text.get(e).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    Some((num(&text[i..e])?, e))
}

fn plausible_year(y: u32) -> bool {
    (1900..=2035).contains(&y)
}

/// Skips spaces and the given punctuation.
fn skip(text: &[u8], mut i: usize, extra: &[u8]) -> usize {
    while i < text.len() && (text[i] == b' ' || extra.contains(&text[i])) {
        i += 1;
    }
    i
}

/// A date starting exactly at `i`: ISO `YYYY-MM-DD`, `DD/MM/YYYY`,
/// `MM/DD/YYYY`, `DD.MM.YYYY`, `12 March 1990`, `March 12, 1990`.
/// Returns its end.
pub(crate) fn date_at(text: &[u8], i: usize) -> Option<usize> {
    if let Some((month, e)) = month_at(text, i) {
        let j = skip(text, e, b"");
        let (day, e) = digits_at(text, j, 2)?;
        let e = skip_ordinal(text, e);
        let j = skip(text, e, b",");
        let (year, e) = digits_at(text, j, 4)?;
        return (plausible_year(year) && valid_date(year, month, day)).then_some(e);
    }
    let (a, e1) = digits_at(text, i, 4)?;
    let a_len = e1 - i;
    let sep = *text.get(e1)?;
    if matches!(sep, b'-' | b'/' | b'.') {
        let (b, e2) = digits_at(text, e1 + 1, 2)?;
        if text.get(e2) != Some(&sep) {
            return None;
        }
        let (c, e3) = digits_at(text, e2 + 1, 4)?;
        let c_len = e3 - e2 - 1;
        let ok = if a_len == 4 {
            plausible_year(a) && valid_date(a, b, c)
        } else if c_len == 4 && a_len <= 2 {
            plausible_year(c) && (valid_date(c, b, a) || valid_date(c, a, b))
        } else {
            false
        };
        return ok.then_some(e3);
    }
    // "12 March 1990" / "12th of March 1990"
    if a_len <= 2 {
        let e = skip_ordinal(text, e1);
        let mut j = skip(text, e, b"");
        if text[j..].starts_with(b"of ") {
            j += 3;
        }
        let (month, e) = month_at(text, j)?;
        let j = skip(text, e, b",");
        let (year, e) = digits_at(text, j, 4)?;
        return (plausible_year(year) && valid_date(year, month, a)).then_some(e);
    }
    None
}

fn skip_ordinal(text: &[u8], e: usize) -> usize {
    let rest = &text[e.min(text.len())..];
    for suf in [&b"st"[..], b"nd", b"rd", b"th"] {
        if rest.len() >= 2
            && rest[..2].eq_ignore_ascii_case(suf)
            && !rest.get(2).is_some_and(u8::is_ascii_alphanumeric)
        {
            return e + 2;
        }
    }
    e
}

/// The first date within reach after a birth word ending at `kw_end`.
pub(crate) fn date_after(text: &[u8], kw_end: usize) -> Option<(usize, usize)> {
    let limit = kw_end.saturating_add(REACH).min(text.len());
    let mut i = kw_end;
    while i < limit {
        let b = text[i];
        let boundary = i == 0 || !text[i - 1].is_ascii_alphanumeric();
        if boundary && (b.is_ascii_digit() || b.is_ascii_alphabetic()) {
            if let Some(end) = date_at(text, i) {
                return Some((i, end));
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(t: &str, kw: &str) -> Option<String> {
        let k = t.find(kw)? + kw.len();
        date_after(t.as_bytes(), k).map(|(s, e)| t[s..e].to_string())
    }

    #[test]
    fn forms() {
        assert_eq!(
            after("born on 1985-07-30 in Oslo", "born").as_deref(),
            Some("1985-07-30")
        );
        assert_eq!(
            after("DOB: 30/07/1985", "DOB").as_deref(),
            Some("30/07/1985")
        );
        assert_eq!(
            after("DOB: 07/30/1985", "DOB").as_deref(),
            Some("07/30/1985")
        );
        assert_eq!(
            after("born 30 July 1985", "born").as_deref(),
            Some("30 July 1985")
        );
        assert_eq!(
            after("born July 30th, 1985", "born").as_deref(),
            Some("July 30th, 1985")
        );
        assert_eq!(after("born 31/02/1985", "born"), None);
        assert_eq!(after("born to run", "born"), None);
    }
}
