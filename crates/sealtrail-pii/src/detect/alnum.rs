//! Tokens of letters and digits that contain a digit: IBANs, crypto
//! addresses, and national ids that mix letters and digits (IT codice
//! fiscale, ES DNI/NIE, UK NINO, DE identity documents).

use super::boundary::{glued_after, glued_before};
use super::numeric::NINO_CONTEXT;
use super::{crypto, iban, national_id, with_context, Sink};
use crate::context::Context;
use crate::Entity;

const CRYPTO_CONTEXT: &[&str] = &[
    "wallet", "address", "btc", "bitcoin", "eth", "ethereum", "crypto", "send",
];

/// Checks the token `text[s..e]`; returns where scanning should resume (an
/// IBAN printed in groups runs past the token).
pub(crate) fn check_token(
    text: &[u8],
    s: usize,
    e: usize,
    ctx: &Context<'_>,
    sink: &mut Sink,
) -> usize {
    let t = &text[s..e];
    let n = t.len();
    let find = |words: &[&'static str], end: usize| ctx.find(s, end, words);

    if n >= 4
        && t[0].is_ascii_uppercase()
        && t[1].is_ascii_uppercase()
        && t[2].is_ascii_digit()
        && t[3].is_ascii_digit()
    {
        if let Some((end, compact)) = iban::read_at(text, s) {
            let why = format!(
                "mod-97 valid, {} length {}",
                String::from_utf8_lossy(&compact[..2]),
                compact.len()
            );
            let (score, why) =
                with_context(&why, 0.95, 1.0, find(&["iban", "bank", "account"], end));
            sink.push(Entity::Iban, s, end, score, why);
            return end.max(e);
        }
    }
    if n == 42 && t.starts_with(b"0x") {
        if let Some((why, checked)) = crypto::ethereum(t) {
            let base = if checked { 0.95 } else { 0.6 };
            let (score, why) = with_context(why, base, 0.95, find(CRYPTO_CONTEXT, e));
            sink.push(Entity::CryptoAddress, s, e, score, why);
        }
        return e;
    }
    if matches!(t[0], b'1' | b'3') && (25..=35).contains(&n) {
        if let Some(why) = crypto::bitcoin_base58(t) {
            sink.push(Entity::CryptoAddress, s, e, 0.95, why.to_string());
            return e;
        }
    }
    if n >= 14 && (t[..3].eq_ignore_ascii_case(b"bc1") || t[..3].eq_ignore_ascii_case(b"tb1")) {
        if let Some(why) = crypto::bitcoin_segwit(t) {
            sink.push(Entity::CryptoAddress, s, e, 0.95, why.to_string());
            return e;
        }
    }
    if n != 16 && n != 9 && n != 10 {
        return e;
    }
    // National ids are values of their own; a 9- or 10-character part of
    // a pod name, a Stripe id or a hex group is not one.
    if glued_before(text, s, e) || glued_after(text, e) {
        return e;
    }
    let upper = t.to_ascii_uppercase();
    if n == 16 && national_id::it_codice_fiscale(&upper) {
        let (score, why) = with_context(
            "IT codice fiscale check letter valid",
            0.95,
            1.0,
            find(national_id::CONTEXT, e),
        );
        sink.push(Entity::NationalId, s, e, score, why);
        return e;
    }
    if n == 9 {
        // DNI and NIE letters are printed upper case; `96120919d` is a
        // short git hash.
        let letters_upper = !t.iter().any(u8::is_ascii_lowercase);
        if let Some(kind) = national_id::es_dni_nie(&upper).filter(|_| letters_upper) {
            let (score, why) = with_context(
                &format!("{kind} check letter valid"),
                0.85,
                0.98,
                find(national_id::CONTEXT, e),
            );
            sink.push(Entity::NationalId, s, e, score, why);
            return e;
        }
        if national_id::uk_nino(t) {
            let (score, why) = with_context(
                "UK NINO prefix and suffix valid",
                0.75,
                0.95,
                find(NINO_CONTEXT, e),
            );
            sink.push(Entity::UkNino, s, e, score, why);
            return e;
        }
    }
    if n == 10 && national_id::de_document_with_check(t) {
        let hit = find(
            &[
                "personalausweis",
                "ausweis",
                "ausweisnummer",
                "id card",
                "identity card",
                "reisepass",
                "passport",
            ],
            e,
        );
        let entity = match hit {
            Some(
                crate::context::Hit::Near("reisepass" | "passport")
                | crate::context::Hit::Key("reisepass" | "passport"),
            ) => Entity::Passport,
            _ => Entity::NationalId,
        };
        let (score, why) = with_context(
            "DE document number, ICAO check digit valid",
            0.55,
            0.95,
            hit,
        );
        sink.push(entity, s, e, score, why);
    }
    e
}
