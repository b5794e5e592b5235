//! The scanner: prefilters that find where a value could start, and the
//! detectors they hand those places to.
//!
//! Cost model: a string with no digit, `@`, `:` or `=` costs one vectorised
//! digit pass and a few memchr/memmem passes; detectors (and the two
//! Aho-Corasick automata) run only where those find a candidate.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use phonenumber::country::Id;
use serde::{Deserialize, Serialize};

use crate::context::{is_word_byte, Context};
use crate::detect::{
    self, dob, email, network, numeric, passport, secrets, with_context, Raw, Sink,
};
use crate::{Entity, Finding, ScanError, Span};

/// Scanner settings. `Default` is what [`crate::scan_text`] uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScanConfig {
    /// Longest string scanned; a longer one is an error (and is redacted
    /// whole by the redactor). Default 1 MiB.
    pub max_text_bytes: usize,
    /// Deepest JSON nesting scanned. Default 64.
    pub max_depth: usize,
    /// Findings scoring below this are dropped. Default 0.5.
    pub min_score: f64,
    /// Regions (ISO 3166 alpha-2) tried, in order, for phone numbers written
    /// without a country code. Default US, GB, DE, FR.
    pub phone_regions: Vec<String>,
    /// Shannon entropy (bits per byte) a value after `token`/`secret`/… must
    /// reach to be reported; scaled down for short values. Default 3.5.
    pub entropy_bits: f64,
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            max_text_bytes: 1 << 20,
            max_depth: 64,
            min_score: 0.5,
            phone_regions: ["US", "GB", "DE", "FR"].map(String::from).to_vec(),
            entropy_bits: 3.5,
        }
    }
}

/// What a key word announces (the discriminant indexes per-kind arrays).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WordKind {
    Password = 0,
    Secret = 1,
    Dob = 2,
    Passport = 3,
}

/// A compiled scanner. Build once, share freely (it is `Send + Sync`).
#[derive(Debug, Clone)]
pub struct Scanner {
    config: ScanConfig,
    regions: Vec<Id>,
    anchors: AhoCorasick,
    anchor_names: Vec<&'static str>,
    words: AhoCorasick,
    word_kinds: Vec<(WordKind, &'static str)>,
    /// Anchors of secrets that can be written without a digit.
    digit_free: aho_corasick::packed::Searcher,
}

/// `api key` → `api key`, `api_key`, `api-key`, `apikey`.
fn spellings(word: &str) -> Vec<String> {
    if !word.contains(' ') {
        return vec![word.to_string()];
    }
    [" ", "_", "-", ""]
        .iter()
        .map(|sep| word.replace(' ', sep))
        .collect()
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner::new(ScanConfig::default())
    }
}

impl Scanner {
    /// Builds a scanner. Unknown phone regions are ignored.
    pub fn new(config: ScanConfig) -> Self {
        let anchor_names = secrets::anchors();
        // The pattern sets are constants of this crate, far below the
        // automaton's limits: building cannot fail on any input.
        #[allow(clippy::expect_used)]
        // DFAs: a few hundred KiB built once, and the fastest per-byte search.
        let anchors = AhoCorasickBuilder::new()
            .kind(Some(AhoCorasickKind::DFA))
            .match_kind(MatchKind::LeftmostLongest)
            .build(&anchor_names)
            .expect("fixed anchor set builds");
        let mut patterns = Vec::new();
        let mut word_kinds = Vec::new();
        let groups: [(WordKind, &[&'static str]); 4] = [
            (WordKind::Password, secrets::PASSWORD_WORDS),
            (WordKind::Secret, secrets::SECRET_WORDS),
            (WordKind::Dob, dob::WORDS),
            (WordKind::Passport, passport::WORDS),
        ];
        for (kind, words) in groups {
            for &w in words {
                for s in spellings(w) {
                    patterns.push(s);
                    word_kinds.push((kind, w));
                }
            }
        }
        #[allow(clippy::expect_used)]
        let words = AhoCorasickBuilder::new()
            .kind(Some(AhoCorasickKind::DFA))
            .ascii_case_insensitive(true)
            .prefilter(false)
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .expect("fixed key word set builds");
        let regions = detect::phone::regions(&config.phone_regions);
        // A packed (SIMD) searcher: one pass for all three literals.
        #[allow(clippy::expect_used)]
        let digit_free = aho_corasick::packed::Config::new()
            .builder()
            .extend(["AKIA", "ASIA", "-----BEGIN "])
            .build()
            .expect("three short literals build a packed searcher");
        Scanner {
            digit_free,
            config,
            regions,
            anchors,
            anchor_names,
            words,
            word_kinds,
        }
    }

    /// The settings this scanner was built with.
    pub fn config(&self) -> &ScanConfig {
        &self.config
    }

    /// Scans one string. Spans are byte offsets into `text`; `path` is `$`.
    pub fn scan_text(&self, text: &str) -> Result<Vec<Finding>, ScanError> {
        self.scan_field(text, None, "$", false)
    }

    /// Scans one string that sits under the JSON member `key` (the member
    /// name counts as context: a value under `"passport"` is a passport).
    pub(crate) fn scan_field(
        &self,
        text: &str,
        key: Option<&str>,
        path: &str,
        in_key: bool,
    ) -> Result<Vec<Finding>, ScanError> {
        if text.len() > self.config.max_text_bytes {
            return Err(ScanError::TooLarge {
                len: text.len(),
                limit: self.config.max_text_bytes,
            });
        }
        let mut sink = Sink::default();
        let mut folded = Vec::new();
        if let Some(k) = key {
            crate::context::fold_key(k, &mut folded);
        }
        let ctx = Context {
            text,
            key: key.map(|_| folded.as_slice()),
            path: (!in_key).then_some(path),
        };
        self.scan_context(&ctx, &mut sink);
        // Detectors cut only at ASCII bytes, so spans fall on character
        // boundaries; a span that did not would make redaction fail closed,
        // and is dropped here rather than handed to a caller that slices.
        let mut raw = sink.raw;
        raw.retain(|r| {
            r.end <= text.len() && text.is_char_boundary(r.start) && text.is_char_boundary(r.end)
        });
        let raw = resolve(raw, self.config.min_score);
        Ok(raw
            .into_iter()
            .map(|r| Finding {
                entity: r.entity,
                path: path.to_string(),
                in_key,
                span: Span::new(r.start, r.end),
                score: r.score,
                why: r.why,
            })
            .collect())
    }

    fn scan_context(&self, ctx: &Context<'_>, sink: &mut Sink) {
        let text = ctx.text.as_bytes();
        if text.is_empty() {
            return;
        }
        // Every anchored secret and every value a key word can announce holds
        // a digit (mixed-case keys by rule, base64 bodies, dates, passport
        // numbers) or sits in `key: value` / `key=value`; the few formats
        // that may be digit-free (AWS ids, PEM blocks) are searched for
        // directly. Text with none of these skips both automata.
        let seen = Presence::of(text);
        let gated = seen.first_digit.is_some()
            || seen.colon_or_equals
            || (memchr::memchr2(b'A', b'-', text).is_some()
                && self.digit_free.find(text).is_some());
        if gated {
            for m in self.anchors.find_iter(text) {
                let name = self.anchor_names[m.pattern().as_usize()];
                if let Some(h) = secrets::at_anchor(text, m.start(), name) {
                    sink.push(h.entity, h.start, h.end, h.score, h.why.to_string());
                }
            }
            self.key_words(ctx, sink);
        }
        if let Some(key) = ctx.key {
            self.key_member(ctx, key, sink);
        }
        if seen.at {
            self.emails(ctx, sink);
        }
        if let Some(p) = seen.first_digit {
            self.digits(ctx, p, sink);
        }
        if seen.colon_or_equals {
            self.colons(ctx, sink);
        }
    }

    fn emails(&self, ctx: &Context<'_>, sink: &mut Sink) {
        let text = ctx.text.as_bytes();
        for at in memchr::memchr_iter(b'@', text) {
            if let Some((s, e)) = email::around_at(text, at) {
                let near = ctx.find(s, e, &["email", "e mail", "mail"]);
                let (score, why) = with_context("address shape valid", 0.9, 0.95, near);
                sink.push(Entity::Email, s, e, score, why);
            }
        }
    }

    /// Values announced by a key word in the text: passwords and tokens,
    /// dates of birth, passport numbers.
    fn key_words(&self, ctx: &Context<'_>, sink: &mut Sink) {
        let text = ctx.text.as_bytes();
        for m in self.words.find_iter(text) {
            let (s, e) = (m.start(), m.end());
            if (s > 0 && is_word_byte(text[s - 1])) || text.get(e).is_some_and(|&b| is_word_byte(b))
            {
                continue;
            }
            let (kind, word) = self.word_kinds[m.pattern().as_usize()];
            match kind {
                WordKind::Password | WordKind::Secret => {
                    // `password_policy`, `token_count`: the word is part of
                    // a longer name and announces no secret.
                    if matches!(text.get(e), Some(b'_' | b'-'))
                        && text.get(e + 1).is_some_and(u8::is_ascii_alphanumeric)
                    {
                        continue;
                    }
                    let Some((vs, ve)) = secrets::value_after(text, e) else {
                        continue;
                    };
                    self.secret_value(
                        text,
                        vs,
                        ve,
                        kind == WordKind::Password,
                        &format!("near '{word}'"),
                        sink,
                    );
                }
                WordKind::Dob => {
                    if let Some((ds, de)) = dob::date_after(text, e) {
                        sink.push(
                            Entity::DateOfBirth,
                            ds,
                            de,
                            0.85,
                            format!("date near '{word}'"),
                        );
                    }
                }
                WordKind::Passport => {
                    if let Some((ps, pe)) = passport::number_after(text, e) {
                        let why = match passport::shape(&text[ps..pe]) {
                            Some(shape) => format!("{shape}, near '{word}'"),
                            None => format!("near '{word}'"),
                        };
                        sink.push(Entity::Passport, ps, pe, 0.85, why);
                    }
                }
            }
        }
    }

    /// Judges a value that a key word announced.
    fn secret_value(
        &self,
        text: &[u8],
        vs: usize,
        ve: usize,
        password: bool,
        near: &str,
        sink: &mut Sink,
    ) {
        let v = &text[vs..ve];
        if is_placeholder(v) {
            return;
        }
        // An AWS secret access key: 40 base64 characters announced as such.
        let lower_ctx = text[vs.saturating_sub(48)..vs].to_ascii_lowercase();
        if v.len() == 40
            && v.iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'/' || *b == b'+')
            && crate::context::contains_word(
                &lower_ctx
                    .iter()
                    .map(|&b| if b == b'_' || b == b'-' { b' ' } else { b })
                    .collect::<Vec<_>>(),
                "aws",
            )
        {
            sink.push(
                Entity::ApiKey,
                vs,
                ve,
                0.9,
                format!("AWS secret access key shape, {near}"),
            );
            return;
        }
        if let Some((why, score)) = secrets::judge_value(v, password, self.config.entropy_bits) {
            sink.push(Entity::Secret, vs, ve, score, format!("{why}, {near}"));
        }
    }

    /// The whole string judged by its JSON member name: `"password": "…"`,
    /// `"dob": "…"`, `"passport": "…"`.
    fn key_member(&self, ctx: &Context<'_>, folded_key: &[u8], sink: &mut Sink) {
        // One automaton pass over the member name finds which kinds of key
        // word it holds (whole words only).
        let mut kinds: [Option<&'static str>; 4] = [None; 4];
        for m in self.words.find_iter(folded_key) {
            let (s, e) = (m.start(), m.end());
            if (s > 0 && is_word_byte(folded_key[s - 1]))
                || folded_key.get(e).is_some_and(|&b| is_word_byte(b))
            {
                continue;
            }
            let (kind, word) = self.word_kinds[m.pattern().as_usize()];
            kinds[kind as usize].get_or_insert(word);
        }
        if kinds.iter().all(Option::is_none) {
            return;
        }
        let [password_w, secret_w, dob_w, passport_w] = kinds;
        let text = ctx.text.as_bytes();
        let trimmed_start = text
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(text.len());
        let trimmed_end = text
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(trimmed_start, |p| p + 1);
        if trimmed_start >= trimmed_end {
            return;
        }
        let (s, e) = (trimmed_start, trimmed_end);
        let v = &text[s..e];
        if let Some(w) = password_w {
            if v.len() >= 4 && !v.iter().any(u8::is_ascii_whitespace) && !is_placeholder(v) {
                sink.push(Entity::Secret, s, e, 0.8, format!("value of key '{w}'"));
            }
        } else if let Some(w) = secret_w {
            let (vs, v) = strip_scheme(s, v);
            if !is_placeholder(v) {
                if let Some((why, score)) = secrets::judge_value(v, false, self.config.entropy_bits)
                {
                    sink.push(Entity::Secret, vs, e, score, format!("{why}, key '{w}'"));
                }
            }
        }
        if let Some(w) = dob_w {
            if dob::date_at(text, s) == Some(e) {
                sink.push(
                    Entity::DateOfBirth,
                    s,
                    e,
                    0.9,
                    format!("date under key '{w}'"),
                );
            }
        }
        if let Some(w) = passport_w {
            let upper = v.to_ascii_uppercase();
            if passport::plausible(&upper) {
                let why = match passport::shape(&upper) {
                    Some(shape) => format!("{shape}, key '{w}'"),
                    None => format!("key '{w}'"),
                };
                sink.push(Entity::Passport, s, e, 0.9, why);
            }
        }
    }

    /// Everything that starts at a digit.
    fn digits(&self, ctx: &Context<'_>, first: usize, sink: &mut Sink) {
        let text = ctx.text.as_bytes();
        let env = numeric::Env {
            ctx: *ctx,
            regions: &self.regions,
        };
        let mut i = first;
        while let Some(p) = find_digit(text, i) {
            let mut ts = p;
            while ts > 0 && text[ts - 1].is_ascii_alphanumeric() {
                ts -= 1;
            }
            let mut te = p;
            while te < text.len() && text[te].is_ascii_alphanumeric() {
                te += 1;
            }
            check_dash_mac(text, ts, sink);
            let resume = if text[ts..te].iter().all(u8::is_ascii_digit) {
                let run = numeric::read_run(text, ts);
                numeric::check_run(text, &run, &env, sink);
                // Resume after the first group: later groups may start
                // their own candidates (handled as sub-sequences already,
                // but a glued token after them is not).
                run.end.max(te)
            } else {
                detect::alnum::check_token(text, ts, te, ctx, sink)
            };
            i = resume.max(p + 1);
        }
    }

    /// IPv6 and colon-separated MAC addresses.
    fn colons(&self, ctx: &Context<'_>, sink: &mut Sink) {
        let text = ctx.text.as_bytes();
        let mut from = 0;
        while let Some(off) = memchr::memchr(b':', &text[from..]) {
            let c = from + off;
            let (hit, next) = network::around_colon(text, c);
            if let Some((s, e, mac, why)) = hit {
                let (entity, base) = if mac {
                    (Entity::MacAddress, 0.8)
                } else {
                    (Entity::IpAddress, 0.8)
                };
                let (score, why) = with_context(why, base, 0.9, ctx.find(s, e, network::CONTEXT));
                sink.push(entity, s, e, score, why);
            }
            from = next.max(c + 1);
        }
    }
}

/// `Bearer x` / `Basic x` under an authorization member: judge `x`.
fn strip_scheme(s: usize, v: &[u8]) -> (usize, &[u8]) {
    for scheme in [&b"Bearer "[..], b"bearer ", b"Basic ", b"Token "] {
        if v.starts_with(scheme) {
            return (s + scheme.len(), &v[scheme.len()..]);
        }
    }
    (s, v)
}

/// Masks, template variables and redaction markers are not secrets.
fn is_placeholder(v: &[u8]) -> bool {
    let lower = v.to_ascii_lowercase();
    let has = |n: &[u8]| memchr::memmem::find(&lower, n).is_some();
    v.first()
        .is_some_and(|b| matches!(b, b'<' | b'{' | b'[' | b'$' | b'%'))
        || has(b"***")
        || has(b"xxxx")
        || has(b"redacted")
        || has(b"example")
        || has(b"changeme")
        || has(b"placeholder")
        || has(b"your_")
        || has(b"your-")
}

/// `00-1A-2B-3C-4D-5E` around the token starting at `ts`.
fn check_dash_mac(text: &[u8], ts: usize, sink: &mut Sink) {
    if text.get(ts + 2) != Some(&b'-') && !(ts > 0 && text[ts - 1] == b'-') {
        return;
    }
    for k in 0..6 {
        let Some(s) = ts.checked_sub(3 * k) else {
            break;
        };
        let Some(cand) = text.get(s..s + 17) else {
            continue;
        };
        let before_ok = s == 0 || !text[s - 1].is_ascii_alphanumeric() && text[s - 1] != b'-';
        let after_ok = text
            .get(s + 17)
            .is_none_or(|b| !b.is_ascii_alphanumeric() && *b != b'-');
        if before_ok && after_ok && network::is_mac(cand, b'-') {
            sink.push(
                Entity::MacAddress,
                s,
                s + 17,
                0.8,
                "MAC address".to_string(),
            );
            return;
        }
    }
}

/// What one pass over a string saw: where the first digit is, and whether
/// any `:`/`=` or `@` occurs. Text where all are absent needs no detector
/// but the digit-free secret anchors.
struct Presence {
    first_digit: Option<usize>,
    colon_or_equals: bool,
    at: bool,
}

impl Presence {
    fn of(text: &[u8]) -> Presence {
        // Blocks of 32 bytes reduced with non-short-circuit ORs (compiled
        // to SIMD compares); only a block with a digit is searched byte by
        // byte, once, for the first digit.
        let (mut digit, mut colon_or_equals, mut at) = (false, false, false);
        let mut first_digit = None;
        let mut blocks = text.chunks_exact(32);
        for (n, block) in blocks.by_ref().enumerate() {
            let (mut d, mut c, mut a) = (false, false, false);
            for &b in block {
                d |= b.wrapping_sub(b'0') < 10;
                c |= (b == b':') | (b == b'=');
                a |= b == b'@';
            }
            if d && !digit {
                first_digit = block
                    .iter()
                    .position(u8::is_ascii_digit)
                    .map(|p| p + n * 32);
            }
            digit |= d;
            colon_or_equals |= c;
            at |= a;
            if digit && colon_or_equals && at {
                return Presence {
                    first_digit,
                    colon_or_equals,
                    at,
                };
            }
        }
        let tail = blocks.remainder();
        let base = text.len() - tail.len();
        for (k, &b) in tail.iter().enumerate() {
            if b.is_ascii_digit() && first_digit.is_none() {
                first_digit = Some(base + k);
            }
            colon_or_equals |= b == b':' || b == b'=';
            at |= b == b'@';
        }
        Presence {
            first_digit,
            colon_or_equals,
            at,
        }
    }
}

/// The first ASCII digit at or after `from`. Checks 32 bytes at a time
/// without branching inside a block, which compiles to SIMD compares.
pub(crate) fn find_digit(text: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 32 <= text.len() {
        let block = &text[i..i + 32];
        let any = block
            .iter()
            .fold(0u8, |acc, &b| acc | u8::from(b.wrapping_sub(b'0') < 10));
        if any != 0 {
            break;
        }
        i += 32;
    }
    text.get(i..)?
        .iter()
        .position(u8::is_ascii_digit)
        .map(|p| p + i)
}

/// Keeps the best of overlapping detections (higher score, then longer),
/// drops those under `min_score`, and orders the rest by position.
fn resolve(mut raw: Vec<Raw>, min_score: f64) -> Vec<Raw> {
    raw.retain(|r| r.score >= min_score);
    raw.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then((b.end - b.start).cmp(&(a.end - a.start)))
            .then(a.start.cmp(&b.start))
    });
    let mut kept: Vec<Raw> = Vec::with_capacity(raw.len());
    for r in raw {
        if !kept.iter().any(|k| k.start < r.end && r.start < k.end) {
            kept.push(r);
        }
    }
    kept.sort_by_key(|r| (r.start, r.end));
    kept
}
