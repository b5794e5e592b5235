//! IBAN (ISO 13616): country code, two check digits, a country-specific
//! number of characters, and mod-97 = 1 over the rearranged number.

/// IBAN length of every country in the ISO 13616 registry.
const LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BI", 27),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DJ", 27),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FK", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HN", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"LY", 25),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MN", 20),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NI", 28),
    (b"NL", 18),
    (b"NO", 15),
    (b"OM", 23),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"RU", 33),
    (b"SA", 24),
    (b"SC", 31),
    (b"SD", 18),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"SO", 23),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
    (b"YE", 30),
];

/// The registered IBAN length for a country code.
pub(crate) fn country_length(cc: &[u8]) -> Option<usize> {
    LENGTHS.iter().find(|(c, _)| &c[..] == cc).map(|&(_, n)| n)
}

/// Mod-97 check: move the first four characters to the end, read letters as
/// 10–35, and the whole number mod 97 must be 1.
pub(crate) fn mod97_ok(iban: &[u8]) -> bool {
    if iban.len() < 5 {
        return false;
    }
    let mut r = 0u32;
    for &b in iban[4..].iter().chain(&iban[..4]) {
        let v = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        r = if v >= 10 {
            (r * 100 + v) % 97
        } else {
            (r * 10 + v) % 97
        };
    }
    r == 1
}

/// Reads an IBAN starting at `start` of `text` (compact, or printed in groups
/// separated by single spaces). Returns the end offset and the compact form
/// when the length fits the country and the checksum is valid.
pub(crate) fn read_at(text: &[u8], start: usize) -> Option<(usize, Vec<u8>)> {
    let head = text.get(start..start + 4)?;
    if !(head[0].is_ascii_uppercase()
        && head[1].is_ascii_uppercase()
        && head[2].is_ascii_digit()
        && head[3].is_ascii_digit())
    {
        return None;
    }
    let want = country_length(&head[..2])?;
    let mut compact = Vec::with_capacity(want);
    let mut i = start;
    while compact.len() < want {
        let b = *text.get(i)?;
        if b.is_ascii_uppercase() || b.is_ascii_digit() {
            compact.push(b);
            i += 1;
        } else if b == b' '
            && !compact.is_empty()
            && text.get(i + 1).is_some_and(u8::is_ascii_alphanumeric)
        {
            i += 1;
        } else {
            return None;
        }
    }
    // The IBAN must end here: no more letters or digits glued on.
    if text.get(i).is_some_and(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    mod97_ok(&compact).then_some((i, compact))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ibans() {
        for s in [
            "DE89370400440532013000",
            "GB82WEST12345698765432",
            "FR1420041010050500013M02606",
            "NL91ABNA0417164300",
            "BE68539007547034",
            "NO9386011117947",
        ] {
            let (end, compact) = read_at(s.as_bytes(), 0).expect(s);
            assert_eq!(end, s.len());
            assert_eq!(compact, s.as_bytes());
        }
        let spaced = b"IBAN DE89 3704 0044 0532 0130 00 thanks";
        let (end, _) = read_at(spaced, 5).expect("spaced");
        assert_eq!(&spaced[5..end], b"DE89 3704 0044 0532 0130 00");
        assert!(read_at(b"DE89370400440532013001", 0).is_none());
        // Right checksum digits for another length: too short for DE.
        assert!(read_at(b"DE8937040044053201300", 0).is_none());
        assert!(read_at(b"XX89370400440532013000", 0).is_none());
    }
}
