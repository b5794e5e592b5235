//! Secrets: provider API keys recognised by their documented prefixes and
//! shapes, PEM private key blocks, JWTs, and high-entropy values next to a
//! key word (`password`, `token`, …).

use base64::Engine;

use crate::checksum::shannon_entropy;
use crate::context::is_word_byte;

/// A secret found at an anchor: its span, reason and score.
pub(crate) struct Hit {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) why: &'static str,
    pub(crate) score: f64,
    pub(crate) entity: crate::Entity,
}

/// How the characters after a provider prefix must look.
#[derive(Clone, Copy)]
enum Body {
    /// `[A-Za-z0-9]` only.
    Alnum,
    /// `[A-Za-z0-9_-]`.
    Url,
    /// `[0-9a-f]` (lower-case hex).
    Hex,
    /// `[A-Z0-9]` (AWS key ids).
    Upper,
}

impl Body {
    fn accepts(self, b: u8) -> bool {
        match self {
            Body::Alnum => b.is_ascii_alphanumeric(),
            Body::Url => b.is_ascii_alphanumeric() || b == b'_' || b == b'-',
            Body::Hex => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
            Body::Upper => b.is_ascii_uppercase() || b.is_ascii_digit(),
        }
    }
}

/// A provider key format: prefix, body alphabet, body length range, and
/// whether the body must mix cases and digits (random keys do; prose does not).
struct KeyFormat {
    prefix: &'static str,
    body: Body,
    min: usize,
    max: usize,
    mixed: bool,
    why: &'static str,
}

const fn kf(
    prefix: &'static str,
    body: Body,
    min: usize,
    max: usize,
    mixed: bool,
    why: &'static str,
) -> KeyFormat {
    KeyFormat {
        prefix,
        body,
        min,
        max,
        mixed,
        why,
    }
}

/// Longer prefixes first: `sk-ant-` and `sk-proj-` before `sk-`.
const FORMATS: &[KeyFormat] = &[
    kf(
        "sk-ant-",
        Body::Url,
        32,
        200,
        true,
        "Anthropic API key prefix and shape",
    ),
    kf(
        "sk-proj-",
        Body::Url,
        32,
        250,
        true,
        "OpenAI project key prefix and shape",
    ),
    kf(
        "sk-svcacct-",
        Body::Url,
        32,
        250,
        true,
        "OpenAI service-account key prefix and shape",
    ),
    kf(
        "sk-admin-",
        Body::Url,
        32,
        250,
        true,
        "OpenAI admin key prefix and shape",
    ),
    kf(
        "sk-",
        Body::Alnum,
        32,
        64,
        true,
        "OpenAI API key prefix and shape",
    ),
    kf("AKIA", Body::Upper, 16, 16, false, "AWS access key id"),
    kf(
        "ASIA",
        Body::Upper,
        16,
        16,
        false,
        "AWS temporary access key id",
    ),
    kf(
        "github_pat_",
        Body::Url,
        60,
        100,
        true,
        "GitHub fine-grained token",
    ),
    kf(
        "ghp_",
        Body::Alnum,
        36,
        36,
        true,
        "GitHub personal access token",
    ),
    kf("gho_", Body::Alnum, 36, 36, true, "GitHub OAuth token"),
    kf(
        "ghu_",
        Body::Alnum,
        36,
        36,
        true,
        "GitHub user-to-server token",
    ),
    kf(
        "ghs_",
        Body::Alnum,
        36,
        36,
        true,
        "GitHub server-to-server token",
    ),
    kf("ghr_", Body::Alnum, 36, 36, true, "GitHub refresh token"),
    kf(
        "glpat-",
        Body::Url,
        20,
        60,
        true,
        "GitLab personal access token",
    ),
    kf("xoxb-", Body::Url, 20, 200, false, "Slack bot token"),
    kf("xoxa-", Body::Url, 20, 200, false, "Slack app token"),
    kf("xoxp-", Body::Url, 20, 200, false, "Slack user token"),
    kf("xoxr-", Body::Url, 20, 200, false, "Slack refresh token"),
    kf("xoxs-", Body::Url, 20, 200, false, "Slack session token"),
    kf("AIza", Body::Url, 35, 35, false, "Google API key"),
    kf(
        "sk_live_",
        Body::Alnum,
        16,
        247,
        true,
        "Stripe live secret key",
    ),
    kf(
        "rk_live_",
        Body::Alnum,
        16,
        247,
        true,
        "Stripe live restricted key",
    ),
    kf(
        "pk_live_",
        Body::Alnum,
        16,
        247,
        true,
        "Stripe live publishable key",
    ),
    kf(
        "sk_test_",
        Body::Alnum,
        16,
        247,
        true,
        "Stripe test secret key",
    ),
    kf(
        "rk_test_",
        Body::Alnum,
        16,
        247,
        true,
        "Stripe test restricted key",
    ),
    kf("npm_", Body::Alnum, 36, 36, true, "npm access token"),
    kf("hf_", Body::Alnum, 30, 40, true, "Hugging Face token"),
    kf("shpat_", Body::Hex, 32, 32, false, "Shopify access token"),
    kf("shpss_", Body::Hex, 32, 32, false, "Shopify shared secret"),
    kf("dop_v1_", Body::Hex, 64, 64, false, "DigitalOcean token"),
    kf(
        "pypi-AgEIcHlwaS5vcmc",
        Body::Url,
        40,
        300,
        false,
        "PyPI upload token",
    ),
];

/// Literal anchors the prefilter searches for (case-sensitive).
pub(crate) fn anchors() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = FORMATS.iter().map(|f| f.prefix).collect();
    v.extend(["-----BEGIN ", "eyJ", "hooks.slack.com/services/", "SG."]);
    v
}

fn mixed(body: &[u8]) -> bool {
    body.iter().any(u8::is_ascii_digit)
        && body.iter().any(u8::is_ascii_uppercase)
        && body.iter().any(u8::is_ascii_lowercase)
}

/// Whether the byte before `pos` lets a token start there.
fn starts_token(text: &[u8], pos: usize) -> bool {
    pos == 0 || !(is_word_byte(text[pos - 1]) || matches!(text[pos - 1], b'_' | b'-'))
}

/// The end of the run of bytes from `from` that `ok` accepts, at most `max` long.
fn run_end(text: &[u8], from: usize, max: usize, ok: impl Fn(u8) -> bool) -> usize {
    let mut i = from;
    while i < text.len() && i - from < max + 1 && ok(text[i]) {
        i += 1;
    }
    i
}

/// Checks the anchor `anchor` found at `pos`.
pub(crate) fn at_anchor(text: &[u8], pos: usize, anchor: &str) -> Option<Hit> {
    match anchor {
        "-----BEGIN " => pem(text, pos),
        "eyJ" => jwt(text, pos),
        "hooks.slack.com/services/" => slack_webhook(text, pos),
        "SG." => sendgrid(text, pos),
        _ => provider_key(text, pos, anchor),
    }
}

fn provider_key(text: &[u8], pos: usize, anchor: &str) -> Option<Hit> {
    if !starts_token(text, pos) {
        return None;
    }
    // The longest format whose prefix is here (`sk-ant-` over `sk-`).
    let fmt = FORMATS
        .iter()
        .filter(|f| f.prefix.starts_with(anchor) || anchor.starts_with(f.prefix))
        .find(|f| text[pos..].starts_with(f.prefix.as_bytes()))?;
    let from = pos + fmt.prefix.len();
    let end = run_end(text, from, fmt.max, |b| fmt.body.accepts(b));
    let body = &text[from..end];
    if body.len() < fmt.min || body.len() > fmt.max {
        return None;
    }
    // Glued to more token characters: not this key.
    if text.get(end).is_some_and(|&b| is_word_byte(b)) {
        return None;
    }
    if fmt.mixed && !mixed(body) {
        return None;
    }
    // A placeholder like AKIAXXXXXXXXXXXXXXXX or sk-…0000 is not a key, nor
    // a documentation example (AWS's AKIAIOSFODNN7EXAMPLE).
    if shannon_entropy(body) < 2.5
        || memchr::memmem::find(&body.to_ascii_uppercase(), b"EXAMPLE").is_some()
    {
        return None;
    }
    Some(Hit {
        start: pos,
        end,
        why: fmt.why,
        score: 0.95,
        entity: crate::Entity::ApiKey,
    })
}

fn sendgrid(text: &[u8], pos: usize) -> Option<Hit> {
    if !starts_token(text, pos) {
        return None;
    }
    let url = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    let a = pos + 3;
    let a_end = run_end(text, a, 22, url);
    if a_end - a != 22 || text.get(a_end) != Some(&b'.') {
        return None;
    }
    let b_end = run_end(text, a_end + 1, 43, url);
    if b_end - (a_end + 1) != 43 || !mixed(&text[a_end + 1..b_end]) {
        return None;
    }
    Some(Hit {
        start: pos,
        end: b_end,
        why: "SendGrid API key",
        score: 0.95,
        entity: crate::Entity::ApiKey,
    })
}

fn slack_webhook(text: &[u8], pos: usize) -> Option<Hit> {
    let from = pos + "hooks.slack.com/services/".len();
    let end = run_end(text, from, 120, |b| b.is_ascii_alphanumeric() || b == b'/');
    let path = &text[from..end];
    if path.iter().filter(|&&b| b == b'/').count() < 2 || path.len() < 30 || path[0] != b'T' {
        return None;
    }
    let start = if pos >= 8 && &text[pos - 8..pos] == b"https://" {
        pos - 8
    } else {
        pos
    };
    Some(Hit {
        start,
        end,
        why: "Slack incoming webhook URL",
        score: 0.95,
        entity: crate::Entity::ApiKey,
    })
}

/// A PEM block whose label ends in `PRIVATE KEY` (PKCS#1, PKCS#8, SEC 1,
/// OpenSSH, encrypted, PGP). The span runs to the end of the END line, or to
/// the end of the base64 body when the block was cut off.
fn pem(text: &[u8], pos: usize) -> Option<Hit> {
    let from = pos + "-----BEGIN ".len();
    let label_end = from
        + memchr::memchr(
            b'-',
            text.get(from..from.saturating_add(40).min(text.len()))?,
        )?;
    let label = &text[from..label_end];
    if !(label.ends_with(b"PRIVATE KEY") || label.ends_with(b"PRIVATE KEY BLOCK")) {
        return None;
    }
    if !text[label_end..].starts_with(b"-----") {
        return None;
    }
    let body = label_end + 5;
    let end = match memchr::memmem::find(&text[body..], b"-----END ") {
        Some(off) => {
            let e = body + off + "-----END ".len();
            // Through the closing dashes of the END line.
            let close =
                memchr::memmem::find(&text[e..], b"-----").map_or(text.len(), |o| e + o + 5);
            close.min(text.len())
        }
        None => run_end(text, body, usize::MAX - 1, |b| {
            b.is_ascii_alphanumeric() || b"+/=\r\n \t:-,".contains(&b)
        }),
    };
    Some(Hit {
        start: pos,
        end,
        why: "PEM private key block",
        score: 1.0,
        entity: crate::Entity::PrivateKey,
    })
}

/// `header.payload.signature`, each base64url; the header must decode to a
/// JSON object with a string `alg`.
fn jwt(text: &[u8], pos: usize) -> Option<Hit> {
    if !starts_token(text, pos) {
        return None;
    }
    let b64 = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    let h_end = run_end(text, pos, 2048, b64);
    if text.get(h_end) != Some(&b'.') {
        return None;
    }
    let p_end = run_end(text, h_end + 1, 1 << 20, b64);
    if p_end == h_end + 1 || text.get(p_end) != Some(&b'.') {
        return None;
    }
    let s_end = run_end(text, p_end + 1, 4096, b64);
    if text.get(s_end).is_some_and(|&b| b64(b) || b == b'.') {
        return None;
    }
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&text[pos..h_end])
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&header).ok()?;
    if !v.get("alg").is_some_and(serde_json::Value::is_string) {
        return None;
    }
    Some(Hit {
        start: pos,
        end: s_end,
        why: "JWT, header decodes with 'alg'",
        score: 0.95,
        entity: crate::Entity::Jwt,
    })
}

/// Key words after which a value is probably a secret. Password-like words
/// accept any value of mixed character classes; the others need entropy.
pub(crate) const PASSWORD_WORDS: &[&str] = &["password", "passwd", "pwd", "passphrase", "pass"];
pub(crate) const SECRET_WORDS: &[&str] = &[
    "secret",
    "token",
    "api key",
    "apikey",
    "access key",
    "access token",
    "secret key",
    "client secret",
    "private key",
    "auth",
    "authorization",
    "bearer",
    "credential",
    "credentials",
    "aws secret access key",
    "session key",
    "signing key",
];

/// Character classes present: lower, upper, digit, other.
fn classes(s: &[u8]) -> u32 {
    let mut c = [false; 4];
    for &b in s {
        let i = if b.is_ascii_lowercase() {
            0
        } else if b.is_ascii_uppercase() {
            1
        } else if b.is_ascii_digit() {
            2
        } else {
            3
        };
        c[i] = true;
    }
    c.iter().filter(|&&x| x).count() as u32
}

/// Judges a value that follows (or is stored under) a key word. Returns the
/// reason and score, or `None` when it does not look like a secret.
pub(crate) fn judge_value(
    value: &[u8],
    password_word: bool,
    entropy_bits: f64,
) -> Option<(&'static str, f64)> {
    let len = value.len();
    if password_word {
        if len >= 6 && classes(value) >= 2 && len <= 128 {
            let strong = len >= 12 && shannon_entropy(value) >= 3.0;
            return Some(if strong {
                ("high-entropy value", 0.9)
            } else {
                ("password-like value", 0.75)
            });
        }
        return None;
    }
    if !(16..=1024).contains(&len) || classes(value) < 2 {
        return None;
    }
    // Short strings cannot reach a high absolute entropy: scale the bar.
    let bar = entropy_bits.min(0.85 * (len as f64).log2());
    (shannon_entropy(value) >= bar).then_some(("high-entropy value", 0.85))
}

/// The value following a key word that ends at `kw_end`: skips `:`, `=`,
/// quotes, spaces and the words "is"/"was"/"bearer"; returns its span.
pub(crate) fn value_after(text: &[u8], kw_end: usize) -> Option<(usize, usize)> {
    let mut i = kw_end;
    let limit = kw_end.saturating_add(32).min(text.len());
    loop {
        while i < limit
            && matches!(
                text[i],
                b' ' | b'\t' | b':' | b'=' | b'"' | b'\'' | b'`' | b'>'
            )
        {
            i += 1;
        }
        let rest = &text[i..];
        let skip = ["is ", "was ", "Bearer ", "bearer ", "Basic "]
            .iter()
            .find(|w| rest.starts_with(w.as_bytes()))
            .map(|w| w.len());
        match skip {
            Some(n) if i + n < limit => i += n,
            _ => break,
        }
    }
    if i >= text.len() || i > limit {
        return None;
    }
    let end = run_end(text, i, 1024, |b| {
        !(b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b'`' | b',' | b';' | b'<' | b')'))
    });
    // A trailing full stop ends the sentence, not the secret.
    let end = if end > i + 1 && text[end - 1] == b'.' {
        end - 1
    } else {
        end
    };
    (end > i).then_some((i, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_after_keyword() {
        let t = b"password: \"hunter2!x\" ok";
        let (s, e) = value_after(t, 8).expect("value");
        assert_eq!(&t[s..e], b"hunter2!x");
        let t = b"Authorization: Bearer abcDEF123456ghiJKL789.";
        let (s, e) = value_after(t, 13).expect("value");
        assert_eq!(&t[s..e], b"abcDEF123456ghiJKL789");
    }

    #[test]
    fn judge() {
        assert!(judge_value(b"hunter2", true, 3.5).is_some());
        assert!(judge_value(b"required", true, 3.5).is_none());
        assert!(judge_value(b"q8Zr2LmX0vKp4TnW9sYb", false, 3.5).is_some());
        assert!(judge_value(b"aaaaaaaaaaaaaaaaaaaaaaaa1", false, 3.5).is_none());
    }
}
