//! E-mail addresses: a local part and a domain of at least two labels with
//! an alphabetic top-level label (RFC 5321 limits, the common "dot-atom"
//! form; quoted local parts are not recognised).

/// Top-level labels that are file extensions in practice (`logo@2x.png`).
const NOT_TLDS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "svg", "webp", "js", "css", "ts", "py", "rs", "json",
];

fn local_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._%+-!#$&'*/=?^`{|}~".contains(&b)
}

fn domain_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'-'
}

/// The address around the `@` at `at`, as a byte span.
pub(crate) fn around_at(text: &[u8], at: usize) -> Option<(usize, usize)> {
    let mut start = at;
    while start > 0 && local_byte(text[start - 1]) && at - start < 64 {
        start -= 1;
    }
    // Leading punctuation is not part of the address ("'bob@x.io'").
    while start < at && !text[start].is_ascii_alphanumeric() {
        start += 1;
    }
    let mut end = at + 1;
    while end < text.len() && domain_byte(text[end]) && end - at <= 253 {
        end += 1;
    }
    while end > at + 1 && matches!(text[end - 1], b'.' | b'-') {
        end -= 1;
    }
    let local = &text[start..at];
    let domain = &text[at + 1..end];
    if local.is_empty() || local.ends_with(b".") || local.windows(2).any(|w| w == b"..") {
        return None;
    }
    let labels: Vec<&[u8]> = domain.split(|&b| b == b'.').collect();
    if labels.len() < 2
        || labels
            .iter()
            .any(|l| l.is_empty() || l.len() > 63 || l[0] == b'-' || l[l.len() - 1] == b'-')
    {
        return None;
    }
    let tld = labels[labels.len() - 1];
    if !(2..=24).contains(&tld.len()) || !tld.iter().all(u8::is_ascii_alphabetic) {
        return None;
    }
    let tld_lower = tld.to_ascii_lowercase();
    if NOT_TLDS
        .iter()
        .any(|t| t.as_bytes() == tld_lower.as_slice())
    {
        return None;
    }
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(t: &str) -> Option<&str> {
        let at = t.find('@')?;
        around_at(t.as_bytes(), at).map(|(s, e)| &t[s..e])
    }

    #[test]
    fn addresses() {
        assert_eq!(
            find("mail jane.doe+x@example.co.uk."),
            Some("jane.doe+x@example.co.uk")
        );
        assert_eq!(find("'bob@example.org'"), Some("bob@example.org"));
        assert_eq!(find("logo@2x.png"), None);
        assert_eq!(find("user@localhost"), None);
        assert_eq!(find("a..b@example.com"), None);
        assert_eq!(find("@example.com"), None);
    }
}
