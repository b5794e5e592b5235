//! National identity numbers of the main EU countries, each by its own
//! published check rule. Formats without a check digit are only reported next
//! to a context word (see [`CONTEXT`]).

use crate::checksum::{luhn, mod97_digits, num, valid_date};

/// Words that name a national id, in the languages of the countries covered.
pub(crate) const CONTEXT: &[&str] = &[
    "national id",
    "national identity",
    "id number",
    "identity number",
    "identity card",
    "id card",
    "personalausweis",
    "ausweis",
    "ausweisnummer",
    "carte d'identité",
    "carte nationale",
    "cni",
    "nir",
    "insee",
    "sécurité sociale",
    "securite sociale",
    "codice fiscale",
    "dni",
    "nie",
    "nif",
    "documento",
    "bsn",
    "burgerservicenummer",
    "sofinummer",
    "pesel",
    "personnummer",
    "samordningsnummer",
    "rijksregisternummer",
    "registre national",
    "national number",
    "numéro national",
    "insz",
    "niss",
];

/// Netherlands BSN: 9 digits passing the "11-test" (weights 9..2, and −1 on
/// the last digit).
pub(crate) fn nl_bsn(d: &[u8]) -> bool {
    if d.len() != 9 || d.iter().all(|&b| b == b'0') || !d.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut sum: i32 = 0;
    for (i, &b) in d.iter().enumerate() {
        let v = i32::from(b - b'0');
        sum += if i == 8 { -v } else { v * (9 - i as i32) };
    }
    sum % 11 == 0
}

/// UK NHS number: 10 digits, weights 10..2 on the first nine, check digit
/// 11 − (sum mod 11), where 11 reads as 0 and 10 is never issued.
pub(crate) fn uk_nhs(d: &[u8]) -> bool {
    if d.len() != 10 || !d.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = d[..9]
        .iter()
        .enumerate()
        .map(|(i, &b)| u32::from(b - b'0') * (10 - i as u32))
        .sum();
    let check = match 11 - sum % 11 {
        11 => 0,
        10 => return false,
        c => c,
    };
    check == u32::from(d[9] - b'0')
}

/// Poland PESEL: 11 digits, weights 1-3-7-9, and an encoded birth date
/// whose month carries the century (+80 1800s, +20 2000s, +40, +60).
pub(crate) fn pl_pesel(d: &[u8]) -> bool {
    if d.len() != 11 || !d.iter().all(u8::is_ascii_digit) {
        return false;
    }
    const W: [u32; 10] = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3];
    let sum: u32 = d[..10]
        .iter()
        .zip(W)
        .map(|(&b, w)| u32::from(b - b'0') * w)
        .sum();
    if (10 - sum % 10) % 10 != u32::from(d[10] - b'0') {
        return false;
    }
    let (Some(yy), Some(mm), Some(dd)) = (num(&d[..2]), num(&d[2..4]), num(&d[4..6])) else {
        return false;
    };
    let (century, month) = match mm {
        1..=12 => (1900, mm),
        21..=32 => (2000, mm - 20),
        41..=52 => (2100, mm - 40),
        61..=72 => (2200, mm - 60),
        81..=92 => (1800, mm - 80),
        _ => return false,
    };
    valid_date(century + yy, month, dd)
}

/// Sweden personnummer (or samordningsnummer, day + 60): YYMMDD + 3 digits
/// + a Luhn digit over those 10 digits. `d` is 10 or 12 digits (with century).
pub(crate) fn se_personnummer(d: &[u8]) -> bool {
    let ten = match d.len() {
        10 => d,
        12 => {
            if !matches!(&d[..2], b"18" | b"19" | b"20") {
                return false;
            }
            &d[2..]
        }
        _ => return false,
    };
    if !luhn(ten) {
        return false;
    }
    let (Some(yy), Some(mm), Some(mut dd)) = (num(&ten[..2]), num(&ten[2..4]), num(&ten[4..6]))
    else {
        return false;
    };
    if dd > 60 {
        dd -= 60;
    }
    // The century does not matter for the day check except for 29 February;
    // 2000 is a leap year, so use it to accept both 1900s and 2000s leap days.
    valid_date(2000 + yy, mm, dd)
}

/// Belgium national register number: YYMMDD SSS CC, with
/// CC = 97 − (YYMMDDSSS mod 97), or for births from 2000 on the same over
/// `2YYMMDDSSS`. Month and day may be 00 when unknown.
pub(crate) fn be_national_number(d: &[u8]) -> bool {
    if d.len() != 11 || !d.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let (Some(mm), Some(dd), Some(cc)) = (num(&d[2..4]), num(&d[4..6]), num(&d[9..11])) else {
        return false;
    };
    // Month may carry +20 or +40 (bis numbers for foreigners).
    if mm % 20 > 12 || mm > 52 || dd > 31 {
        return false;
    }
    let Some(r1900) = mod97_digits(&d[..9]) else {
        return false;
    };
    let mut with2 = [b'2'; 10];
    with2[1..].copy_from_slice(&d[..9]);
    let Some(r2000) = mod97_digits(&with2) else {
        return false;
    };
    cc == 97 - r1900 || cc == 97 - r2000
}

/// France NIR (numéro de sécurité sociale): 13 digits + a 2-digit key
/// equal to 97 − (number mod 97). First digit is the sex (1, 2, or 3, 4, 7, 8
/// for temporary numbers); digits 4–5 a month (01–12, 20, 30–42, 50–99 for
/// unknown). Corsican department codes 2A/2B are not handled (letters).
pub(crate) fn fr_nir(d: &[u8]) -> bool {
    if d.len() != 15 || !d.iter().all(u8::is_ascii_digit) {
        return false;
    }
    if !matches!(d[0], b'1' | b'2' | b'3' | b'4' | b'7' | b'8') {
        return false;
    }
    let Some(mm) = num(&d[3..5]) else {
        return false;
    };
    if !(matches!(mm, 1..=12 | 20 | 30..=42) || mm >= 50) {
        return false;
    }
    let (Some(r), Some(key)) = (mod97_digits(&d[..13]), num(&d[13..])) else {
        return false;
    };
    key == 97 - r
}

/// Spain DNI (8 digits + letter) or NIE (X/Y/Z + 7 digits + letter): the
/// letter is `TRWAGMYFPDXBNJZSQVHLCKE[number mod 23]`, with X, Y, Z read as
/// 0, 1, 2. `s` is the 9 characters without separators, upper case.
pub(crate) fn es_dni_nie(s: &[u8]) -> Option<&'static str> {
    const LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";
    if s.len() != 9 {
        return None;
    }
    let (lead, kind) = match s[0] {
        b'X' => (0, "ES NIE"),
        b'Y' => (1, "ES NIE"),
        b'Z' => (2, "ES NIE"),
        b'0'..=b'9' => (u32::from(s[0] - b'0'), "ES DNI"),
        _ => return None,
    };
    let rest = num(&s[1..8])?;
    let n = lead * 10_000_000 + rest;
    (LETTERS[(n % 23) as usize] == s[8]).then_some(kind)
}

/// Italy codice fiscale: 6 letters, 2 year digits, a month letter, 2 day
/// digits (+40 for women), a 4-character place code, and a check letter;
/// digits may be replaced by `LMNPQRSTUV` (omocodia). `s` is upper case.
pub(crate) fn it_codice_fiscale(s: &[u8]) -> bool {
    const MONTHS: &[u8] = b"ABCDEHLMPRST";
    const OMO: &[u8] = b"LMNPQRSTUV";
    // Odd-position values for 0–9 then A–Z (positions counted from 1).
    const ODD: [u32; 36] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, // 0-9
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, // A-J
        2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23, // K-Z
    ];
    if s.len() != 16 {
        return false;
    }
    let digit_like = |b: u8| b.is_ascii_digit() || OMO.contains(&b);
    let shape = s[..6].iter().all(u8::is_ascii_uppercase)
        && digit_like(s[6])
        && digit_like(s[7])
        && MONTHS.contains(&s[8])
        && digit_like(s[9])
        && digit_like(s[10])
        && s[11].is_ascii_uppercase()
        && s[12..15].iter().all(|&b| digit_like(b))
        && s[15].is_ascii_uppercase();
    if !shape {
        return false;
    }
    let mut sum = 0u32;
    for (i, &b) in s[..15].iter().enumerate() {
        let idx = if b.is_ascii_digit() {
            usize::from(b - b'0')
        } else {
            usize::from(b - b'A') + 10
        };
        sum += if i % 2 == 0 {
            ODD[idx]
        } else if b.is_ascii_digit() {
            u32::from(b - b'0')
        } else {
            u32::from(b - b'A')
        };
    }
    u32::from(s[15] - b'A') == sum % 26
}

/// ICAO 9303 check digit (weights 7, 3, 1; `<` = 0, A = 10 … Z = 35), used
/// by machine-readable passports and identity cards.
pub(crate) fn icao_check_digit(s: &[u8]) -> Option<u8> {
    const W: [u32; 3] = [7, 3, 1];
    let mut sum = 0u32;
    for (i, &b) in s.iter().enumerate() {
        let v = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            b'<' => 0,
            _ => return None,
        };
        sum += v * W[i % 3];
    }
    Some(b'0' + (sum % 10) as u8)
}

/// Germany identity card / passport number as printed with its check digit:
/// 9 characters from `CFGHJKLMNPRTVWXYZ0-9` then the ICAO check digit.
pub(crate) fn de_document_with_check(s: &[u8]) -> bool {
    const ALPHABET: &[u8] = b"CFGHJKLMNPRTVWXYZ0123456789";
    s.len() == 10
        && s[..9].iter().all(|b| ALPHABET.contains(b))
        && s[..9].iter().any(u8::is_ascii_digit)
        && s[..9].iter().any(u8::is_ascii_uppercase)
        && icao_check_digit(&s[..9]) == Some(s[9])
}

/// UK National Insurance number: two prefix letters (first not D, F, I, Q,
/// U, V; second not D, F, I, O, Q, U, V; not BG, GB, KN, NK, NT, TN, ZZ), six
/// digits, suffix A–D. `s` is the 9 characters without spaces, upper case.
pub(crate) fn uk_nino(s: &[u8]) -> bool {
    if s.len() != 9 {
        return false;
    }
    let (a, b) = (s[0], s[1]);
    if !a.is_ascii_uppercase() || !b.is_ascii_uppercase() {
        return false;
    }
    if b"DFIQUV".contains(&a) || b"DFIOQUV".contains(&b) {
        return false;
    }
    if matches!(
        &s[..2],
        b"BG" | b"GB" | b"KN" | b"NK" | b"NT" | b"TN" | b"ZZ"
    ) {
        return false;
    }
    s[2..8].iter().all(u8::is_ascii_digit) && matches!(s[8], b'A'..=b'D')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bsn() {
        assert!(nl_bsn(b"111222333"));
        assert!(nl_bsn(b"123456782"));
        assert!(!nl_bsn(b"123456789"));
        assert!(!nl_bsn(b"000000000"));
    }

    #[test]
    fn nhs() {
        assert!(uk_nhs(b"9434765919"));
        assert!(!uk_nhs(b"9434765918"));
    }

    #[test]
    fn pesel() {
        assert!(pl_pesel(b"44051401359"));
        assert!(pl_pesel(b"02270803624"));
        assert!(!pl_pesel(b"44051401358"));
        // Valid checksum shape but month 13.
        assert!(!pl_pesel(b"44131401350"));
    }

    #[test]
    fn personnummer() {
        assert!(se_personnummer(b"8112189876"));
        assert!(se_personnummer(b"198112189876"));
        assert!(!se_personnummer(b"8112189877"));
        assert!(!se_personnummer(b"178112189876"));
    }

    #[test]
    fn belgium() {
        assert!(be_national_number(b"85073003328"));
        assert!(!be_national_number(b"85073003329"));
    }

    #[test]
    fn nir() {
        assert!(fr_nir(b"255081416802538"));
        assert!(!fr_nir(b"255081416802539"));
        assert!(!fr_nir(b"555081416802538"));
    }

    #[test]
    fn dni_nie() {
        assert_eq!(es_dni_nie(b"12345678Z"), Some("ES DNI"));
        assert_eq!(es_dni_nie(b"X1234567L"), Some("ES NIE"));
        assert_eq!(es_dni_nie(b"12345678A"), None);
        assert_eq!(es_dni_nie(b"A1234567L"), None);
    }

    #[test]
    fn codice_fiscale() {
        assert!(it_codice_fiscale(b"RSSMRA85T10A562S"));
        assert!(!it_codice_fiscale(b"RSSMRA85T10A562T"));
        assert!(!it_codice_fiscale(b"RSSMRA85Z10A562S"));
    }

    #[test]
    fn german_documents() {
        assert!(de_document_with_check(b"T220001293"));
        assert!(!de_document_with_check(b"T220001294"));
        assert_eq!(icao_check_digit(b"L898902C3"), Some(b'6'));
    }

    #[test]
    fn nino() {
        assert!(uk_nino(b"AB123456C"));
        assert!(!uk_nino(b"DA123456C"));
        assert!(!uk_nino(b"AO123456C"));
        assert!(!uk_nino(b"GB123456C"));
        assert!(!uk_nino(b"AB123456E"));
    }
}
