//! Runs of digit groups ("4111 1111 1111 1111", "078-05-1120",
//! "+44 20 7946 0958", "85.07.30-033.28"): read once, then every contiguous
//! sequence of groups is offered to the validators whose length and
//! separators it fits.

use super::boundary::{glued_after, glued_before, id_label_before};
use super::{card, national_id, network, phone, ssn, with_context, Sink};
use crate::checksum::{luhn, num, valid_date};
use crate::context::Context;
use crate::Entity;
use phonenumber::country::Id;

/// Most groups read into one run.
const MAX_GROUPS: usize = 12;

/// A run of digit groups and the separators between them.
pub(crate) struct Run {
    /// `[start, end)` of each digit group.
    groups: Vec<(usize, usize)>,
    /// Where the run starts, including a leading `+` or `(`.
    lead: usize,
    /// A leading `+` (or `00`) marks an international phone number.
    plus: bool,
    /// The run stopped because the text ended or a non-separator came.
    pub(crate) end: usize,
    /// The run stopped at a digit group glued to a letter (`…-5678-4abc`):
    /// it is the head of an alphanumeric identifier, not a number.
    cut: bool,
}

fn is_sep(b: u8) -> bool {
    matches!(b, b' ' | b'-' | b'.' | b'/' | b'(' | b')')
}

/// Reads the run whose first digit is at `start` (not preceded by a letter
/// or digit; the caller checks).
pub(crate) fn read_run(text: &[u8], start: usize) -> Run {
    let mut groups = Vec::new();
    let mut i = start;
    let mut cut = false;
    loop {
        let mut e = i;
        while e < text.len() && text[e].is_ascii_digit() {
            e += 1;
        }
        // A group glued to a letter belongs to a token, not to this run,
        // except a phone extension ("650-752-7354x549"), which ends it.
        if text
            .get(e)
            .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
        {
            let extension =
                matches!(text[e], b'x' | b'X') && text.get(e + 1).is_some_and(u8::is_ascii_digit);
            if groups.is_empty() || extension {
                groups.push((i, e));
            } else {
                cut = true;
            }
            break;
        }
        groups.push((i, e));
        if groups.len() >= MAX_GROUPS {
            break;
        }
        let mut j = e;
        while j < text.len() && j - e < 3 && is_sep(text[j]) {
            j += 1;
        }
        if j > e && text.get(j).is_some_and(u8::is_ascii_digit) {
            i = j;
        } else {
            break;
        }
    }
    let first = groups[0].0;
    let (lead, plus) = match first.checked_sub(1).map(|p| text[p]) {
        Some(b'+') => (first - 1, true),
        Some(b'(') => (first - 1, false),
        _ => (first, false),
    };
    let end = groups.last().map_or(start, |g| g.1);
    Run {
        groups,
        lead,
        plus,
        end,
        cut,
    }
}

/// The separator bytes between group `k` and `k + 1`.
fn sep<'a>(text: &'a [u8], run: &Run, k: usize) -> &'a [u8] {
    &text[run.groups[k].1..run.groups[k + 1].0]
}

/// All separators between groups `i..=j` are the same single byte from `allowed`.
fn uniform(text: &[u8], run: &Run, i: usize, j: usize, allowed: &[u8]) -> Option<u8> {
    if i == j {
        return Some(0);
    }
    let first = sep(text, run, i);
    if first.len() != 1 || !allowed.contains(&first[0]) {
        return None;
    }
    (i..j)
        .all(|k| sep(text, run, k) == first)
        .then_some(first[0])
}

fn lens(run: &Run, i: usize, j: usize) -> Vec<usize> {
    run.groups[i..=j].iter().map(|g| g.1 - g.0).collect()
}

/// Settings the numeric validators need from the scanner.
pub(crate) struct Env<'a> {
    pub(crate) ctx: Context<'a>,
    pub(crate) regions: &'a [Id],
}

/// Whether `run` touches a longer identifier on each side (see
/// [`super::boundary`]).
#[derive(Clone, Copy)]
struct Edges {
    before: bool,
    after: bool,
}

/// Whether the separator between group `k` and `k + 1` is a token boundary
/// (holds a space): "4111 1111 1111 1111 12/28" has a card and an expiry
/// date, "2026-4111111111111111" has neither.
fn spaced(text: &[u8], run: &Run, k: usize) -> bool {
    sep(text, run, k).iter().any(u8::is_ascii_whitespace)
}

/// Offers every contiguous group sequence of `run` to the validators.
pub(crate) fn check_run(text: &[u8], run: &Run, env: &Env<'_>, sink: &mut Sink) {
    let k = run.groups.len();
    // A bare number under a member or label that names an identifier
    // (`"user_id": "4501234567890"`, `?order_id=4501234567890`) is that
    // identifier: checksums alone do not make it a card or a national id.
    let bare = k == 1 && !run.plus && text[run.lead] != b'(';
    let id_named = bare && (env.ctx.names_identifier() || id_label_before(text, run.lead));
    let edges = Edges {
        before: glued_before(text, run.lead, run.end),
        after: run.cut || glued_after(text, run.end),
    };
    let mut digits = Vec::with_capacity(24);
    for i in 0..k {
        digits.clear();
        for j in i..k {
            let (gs, ge) = run.groups[j];
            digits.extend_from_slice(&text[gs..ge]);
            if digits.len() > 19 {
                break;
            }
            let glued = id_named
                || (if i == 0 {
                    edges.before
                } else {
                    !spaced(text, run, i - 1)
                })
                || (if j == k - 1 {
                    edges.after
                } else {
                    !spaced(text, run, j)
                });
            if !glued {
                check_sequence(text, run, i, j, &digits, env, sink);
            }
            check_ipv4(text, run, i, j, env, sink);
        }
    }
    if id_named || edges.before || edges.after {
        return;
    }
    check_phone(text, run, env, sink);
    check_nino_spaced(text, run, env, sink);
    check_dni_separated(text, run, env, sink);
}

/// How card numbers are printed: in fours (the last group shorter for 13,
/// 14 and 19 digits), or 4-6-5 (Amex) and 4-6-4 (Diners). An order number
/// in 3-7-7 groups is not a card whatever its checksum.
fn card_grouping(l: &[usize]) -> bool {
    match l {
        [_] | [4, 6, 5] | [4, 6, 4] => true,
        [head @ .., last] => head.iter().all(|&g| g == 4) && (1..=4).contains(last),
        [] => false,
    }
}

#[allow(clippy::too_many_arguments)]
fn check_sequence(
    text: &[u8],
    run: &Run,
    i: usize,
    j: usize,
    d: &[u8],
    env: &Env<'_>,
    sink: &mut Sink,
) {
    let start = run.groups[i].0;
    let end = run.groups[j].1;
    let n = d.len();
    let ctx = |words: &[&'static str]| env.ctx.find(start, end, words);
    let l = lens(run, i, j);

    // No network issues 17 or 18 digits in practice, and 64-bit snowflake
    // ids (Twitter, Discord) are that long: those need a card word.
    let usual_length = !matches!(n, 17 | 18) || ctx(card::CONTEXT).is_some();
    if (12..=19).contains(&n) && uniform(text, run, i, j, b" -").is_some() && card_grouping(&l) {
        if let Some(net) = card::check(d).filter(|_| usual_length) {
            let (score, why) = with_context(
                &format!("Luhn valid, {net} range"),
                0.9,
                1.0,
                ctx(card::CONTEXT),
            );
            sink.push(Entity::CreditCard, start, end, score, why);
        } else if (13..=19).contains(&n) && card::luhn_only(d) {
            // Issuers open new ranges; a Luhn-valid number called a card is
            // one even when the table here does not know its range.
            if let Some(hit) = ctx(card::CONTEXT) {
                let why = format!("Luhn valid, unlisted issuer range, {}", hit.why());
                sink.push(Entity::CreditCard, start, end, 0.8, why);
            }
        }
    }
    if n == 15 && luhn(d) {
        let grouped = l == [2, 6, 6, 1] && uniform(text, run, i, j, b" -").is_some();
        let hit = ctx(&["imei"]);
        if grouped || hit.is_some() {
            let (score, why) = with_context(
                "Luhn valid, 15 digits",
                if grouped { 0.7 } else { 0.3 },
                0.95,
                hit,
            );
            sink.push(Entity::Imei, start, end, score, why);
        }
    }
    if n == 9 {
        let shape = match (l.as_slice(), uniform(text, run, i, j, b"- ")) {
            ([9], _) => Some(0.3),
            ([3, 2, 4], Some(b'-')) => Some(0.85),
            ([3, 2, 4], Some(b' ')) => Some(0.6),
            _ => None,
        };
        if let Some(base) = shape {
            if ssn::invalid_reason(d).is_none() {
                let (score, why) = with_context("SSA rules valid", base, 0.95, ctx(ssn::CONTEXT));
                sink.push(Entity::UsSsn, start, end, score, why);
            }
        }
        if (l == [9] || l == [4, 2, 3]) && national_id::nl_bsn(d) {
            if let Some(hit) = ctx(&["bsn", "burgerservicenummer", "sofinummer"]) {
                sink.push(
                    Entity::NationalId,
                    start,
                    end,
                    0.9,
                    format!("NL BSN 11-test valid, {}", hit.why()),
                );
            }
        }
    }
    if n == 10 && (l == [10] || l == [3, 3, 4]) && national_id::uk_nhs(d) {
        if let Some(hit) = ctx(&["nhs", "nhs number", "nhs no"]) {
            sink.push(
                Entity::NhsNumber,
                start,
                end,
                0.9,
                format!("NHS mod-11 check valid, {}", hit.why()),
            );
        }
    }
    if n == 11 && l == [11] && national_id::pl_pesel(d) {
        // One check digit in ten: alone, an 11-digit id passes often enough
        // that only "pesel" nearby makes it one (below `min_score` without).
        let (score, why) = with_context(
            "PL PESEL checksum and date valid",
            0.45,
            0.95,
            ctx(&["pesel"]),
        );
        sink.push(Entity::NationalId, start, end, score, why);
    }
    if matches!(n, 10 | 12) {
        let formatted =
            matches!(l.as_slice(), [6, 4] | [8, 4]) && uniform(text, run, i, j, b"-").is_some();
        if (formatted || l.len() == 1) && national_id::se_personnummer(d) {
            let base = if formatted { 0.75 } else { 0.4 };
            let (score, why) = with_context(
                "SE personnummer Luhn and date valid",
                base,
                0.95,
                ctx(&["personnummer", "samordningsnummer"]),
            );
            sink.push(Entity::NationalId, start, end, score, why);
        }
    }
    if n == 11 {
        let formatted = match l.as_slice() {
            [2, 2, 2, 3, 2] => {
                let s: Vec<&[u8]> = (i..j).map(|k| sep(text, run, k)).collect();
                s == [b".", b".", b"-", b"."]
            }
            [6, 3, 2] => uniform(text, run, i, j, b"-").is_some(),
            _ => false,
        };
        if (formatted || l.len() == 1) && national_id::be_national_number(d) {
            let base = if formatted { 0.8 } else { 0.45 };
            let (score, why) = with_context(
                "BE national number mod 97 valid",
                base,
                0.95,
                ctx(&[
                    "rijksregisternummer",
                    "registre national",
                    "national number",
                    "numéro national",
                    "insz",
                    "niss",
                ]),
            );
            sink.push(Entity::NationalId, start, end, score, why);
        }
    }
    if n == 15 {
        let formatted = l == [1, 2, 2, 2, 3, 3, 2] && uniform(text, run, i, j, b" ").is_some();
        if (formatted || l.len() == 1) && national_id::fr_nir(d) {
            // Bare, a 15-digit id passes the key once in ~250: like the other
            // bare national numbers it needs a context word.
            let base = if formatted { 0.8 } else { 0.45 };
            let (score, why) = with_context(
                "FR NIR key valid",
                base,
                0.95,
                ctx(&[
                    "nir",
                    "insee",
                    "sécurité sociale",
                    "securite sociale",
                    "social security",
                ]),
            );
            sink.push(Entity::NationalId, start, end, score, why);
        }
    }
}

/// IPv4 addresses: four dotted groups, the whole run, not part of a longer
/// dotted token ("n04.15.68.30.65", "1.2.3.4.5"). A port after it
/// ("203.0.113.7:8080") does not make it part of an identifier.
fn check_ipv4(text: &[u8], run: &Run, i: usize, j: usize, env: &Env<'_>, sink: &mut Sink) {
    // Called for every group sequence: rule out all but the whole run of
    // four groups before looking at anything.
    if i != 0 || j != run.groups.len() - 1 || j != 3 {
        return;
    }
    if run.groups.iter().any(|&(gs, ge)| ge - gs > 3) {
        return;
    }
    let start = run.groups[i].0;
    let end = run.groups[j].1;
    let dotted_neighbour =
        (start >= 2 && text[start - 1] == b'.' && text[start - 2].is_ascii_alphanumeric())
            || (text.get(end) == Some(&b'.')
                && text.get(end + 1).is_some_and(u8::is_ascii_alphanumeric));
    if dotted_neighbour || uniform(text, run, i, j, b".") != Some(b'.') {
        return;
    }
    if let Some(why) = std::str::from_utf8(&text[start..end])
        .ok()
        .and_then(network::ipv4)
    {
        let (score, why) = with_context(why, 0.6, 0.85, env.ctx.find(start, end, network::CONTEXT));
        sink.push(Entity::IpAddress, start, end, score, why);
    }
}

/// Dates, versions and addresses are not phone numbers.
fn looks_like_date_or_version(text: &[u8], run: &Run) -> bool {
    let l = lens(run, 0, run.groups.len() - 1);
    let dotted = (0..run.groups.len() - 1).all(|k| sep(text, run, k) == b".");
    // A run that starts with a date ("2017-09-29 21:50") is a timestamp.
    let n = run.groups.len();
    let head = n.min(3);
    // (A date is followed by nothing or by a different separator, the time;
    // "05.06.52.16.25" goes on with dots and is a French phone number.)
    let date_head = n >= 3
        && uniform(text, run, 0, head - 1, b"-/.").is_some()
        && matches!(
            &l[..3],
            [4, 1 | 2, 1 | 2] | [1 | 2, 1 | 2, 4] | [1 | 2, 1 | 2, 2]
        )
        && (n == 3 || sep(text, run, 2) != sep(text, run, 0));
    // The French dotted style "05.06.52.16.25" is a number, not a version.
    let french = l == [2, 2, 2, 2, 2] && text[run.groups[0].0] == b'0';
    // Phone numbers are dotted in short groups; a dotted group of five or
    // more digits is a decimal, a version or a build ("20180117.20").
    let dotted_long = dotted && n > 1 && l.iter().any(|&x| x > 4);
    // "20261122-1530", "20180117.20": a build stamped with its date.
    let date_stamp = n > 1 && l[0] == 8 && is_yyyymmdd(&text[run.groups[0].0..run.groups[0].1]);
    date_head
        || dotted_long
        || date_stamp
        || (dotted && !french && l.len() >= 3 && l.iter().all(|&x| x <= 3))
}

/// Eight digits that read as a calendar date from 1990 to 2099.
fn is_yyyymmdd(d: &[u8]) -> bool {
    let (Some(y), Some(m), Some(day)) = (num(&d[..4]), num(&d[4..6]), num(&d[6..8])) else {
        return false;
    };
    (1990..=2099).contains(&y) && valid_date(y, m, day)
}

/// Digits right after `:` or `.` continue a time or a decimal
/// ("21:50:08.915"); digits glued by `-`, `_` or `/` to a word before them
/// are part of an identifier ("ORD-2026-000123"). A word glued *after* the
/// number is not enough ("0494 41 18 24-Office" is a phone number).
fn continues_number(text: &[u8], run: &Run) -> bool {
    let lead = run.lead;
    // A `+` never continues a time or a decimal: "tel:+4930…" is a number.
    !run.plus
        && lead >= 2
        && matches!(text[lead - 1], b':' | b'.' | b',' | b'-' | b'_' | b'/')
        && text[lead - 2].is_ascii_alphanumeric()
}

/// Phone numbers: the whole run, validated by the numbering plan. A bare
/// digit string (no `+`, no separators) needs a phone word nearby, or every
/// 10-digit id and timestamp would be a US number.
fn check_phone(text: &[u8], run: &Run, env: &Env<'_>, sink: &mut Sink) {
    if looks_like_date_or_version(text, run) || continues_number(text, run) {
        return;
    }
    let start = run.lead;
    let end = run.end;
    let mut digits: String = run
        .groups
        .iter()
        .flat_map(|&(s, e)| text[s..e].iter().map(|&b| b as char))
        .collect();
    // "0044 20 7946 0958": a 00 international prefix, only when the number
    // is written in groups (a bare "00093000" is an id).
    let formatted = run.groups.len() > 1 || text[run.lead] == b'(';
    let mut international = run.plus;
    if !international && formatted && digits.starts_with("00") {
        digits.drain(..2);
        international = true;
    }
    // libphonenumber checks cost tens of microseconds: rule out lengths no
    // numbering plan uses before asking it.
    if !(7..=15).contains(&digits.len()) {
        return;
    }
    // Without a country code or a phone word, only a full-length national
    // number written in groups counts: short group runs are street numbers,
    // ids and times.
    let hit = if international {
        None
    } else {
        match env.ctx.find(start, end, phone::CONTEXT) {
            Some(h) => Some(h),
            None if formatted && digits.len() >= 9 => None,
            None => return,
        }
    };
    let Some(valid) = phone::validate(&digits, international, env.regions) else {
        return;
    };
    let base = if international { 0.75 } else { 0.6 };
    let (score, why) = with_context(&valid, base, 0.9, hit);
    sink.push(Entity::Phone, start, end, score, why);
}

/// "AB 12 34 56 C": a NINO printed in pairs, around a run of three groups.
fn check_nino_spaced(text: &[u8], run: &Run, env: &Env<'_>, sink: &mut Sink) {
    if lens(run, 0, run.groups.len() - 1) != [2, 2, 2] || uniform(text, run, 0, 2, b" ").is_none() {
        return;
    }
    let (s, e) = (run.groups[0].0, run.end);
    if s < 3 || text[s - 1] != b' ' || text.get(e) != Some(&b' ') {
        return;
    }
    let (Some(pre), Some(suf)) = (text.get(s - 3..s - 1), text.get(e + 1)) else {
        return;
    };
    if s >= 4 && text[s - 4].is_ascii_alphanumeric() {
        return;
    }
    if text.get(e + 2).is_some_and(u8::is_ascii_alphanumeric) {
        return;
    }
    let mut compact = Vec::with_capacity(9);
    compact.extend_from_slice(pre);
    for &(gs, ge) in &run.groups {
        compact.extend_from_slice(&text[gs..ge]);
    }
    compact.push(*suf);
    if national_id::uk_nino(&compact) {
        let (score, why) = with_context(
            "UK NINO prefix and suffix valid",
            0.8,
            0.95,
            env.ctx.find(s - 3, e + 2, NINO_CONTEXT),
        );
        sink.push(Entity::UkNino, s - 3, e + 2, score, why);
    }
}

pub(crate) const NINO_CONTEXT: &[&str] = &[
    "national insurance",
    "nino",
    "ni number",
    "ni no",
    "insurance number",
];

/// "12345678-Z" / "12345678 Z": a DNI with its letter set apart.
fn check_dni_separated(text: &[u8], run: &Run, env: &Env<'_>, sink: &mut Sink) {
    let (gs, ge) = match run.groups.last() {
        Some(&g) => g,
        None => return,
    };
    if ge - gs != 8 || !matches!(text.get(ge), Some(b'-' | b' ')) {
        return;
    }
    let Some(&letter) = text.get(ge + 1) else {
        return;
    };
    if !letter.is_ascii_alphabetic() || text.get(ge + 2).is_some_and(|b| b.is_ascii_alphanumeric())
    {
        return;
    }
    let mut s = [0u8; 9];
    s[..8].copy_from_slice(&text[gs..ge]);
    s[8] = letter.to_ascii_uppercase();
    if let Some(kind) = national_id::es_dni_nie(&s) {
        let (score, why) = with_context(
            &format!("{kind} check letter valid"),
            0.85,
            0.98,
            env.ctx.find(gs, ge + 2, national_id::CONTEXT),
        );
        sink.push(Entity::NationalId, gs, ge + 2, score, why);
    }
}
