//! Payment card numbers: Luhn check plus the issuer's number range and the
//! lengths that issuer uses (ISO/IEC 7812 IINs as published by the networks).

use crate::checksum::luhn;

/// Words that make a card number near-certain.
pub(crate) const CONTEXT: &[&str] = &[
    "card",
    "cards",
    "credit",
    "debit",
    "cc",
    "pan",
    "visa",
    "mastercard",
    "amex",
    "payment",
];

/// The network whose range and length the number fits, if any.
pub(crate) fn network(d: &[u8]) -> Option<&'static str> {
    let n = d.len();
    let prefix = |k: usize| -> u32 {
        d.iter()
            .take(k)
            .fold(0u32, |acc, &b| acc * 10 + u32::from(b.wrapping_sub(b'0')))
    };
    let p2 = prefix(2);
    let p3 = prefix(3);
    let p4 = prefix(4);
    let p6 = prefix(6);
    // Order matters where ranges nest: the narrower, co-branded ranges first.
    if d.first() == Some(&b'4') && matches!(n, 13 | 16 | 19) {
        return Some("Visa");
    }
    if ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && n == 16 {
        return Some("Mastercard");
    }
    if (p2 == 34 || p2 == 37) && n == 15 {
        return Some("Amex");
    }
    if (2200..=2204).contains(&p4) && n == 16 {
        return Some("Mir");
    }
    if (16..=19).contains(&n)
        && (p4 == 6011 || (644..=649).contains(&p3) || p2 == 65 || (622126..=622925).contains(&p6))
    {
        return Some("Discover");
    }
    if ((3528..=3589).contains(&p4) && (16..=19).contains(&n))
        || ((p4 == 1800 || p4 == 2131) && n == 15)
    {
        return Some("JCB");
    }
    if ((300..=305).contains(&p3) || p4 == 3095 || p2 == 36 || p2 == 38 || p2 == 39)
        && (14..=19).contains(&n)
    {
        return Some("Diners Club");
    }
    if p2 == 62 && (16..=19).contains(&n) {
        return Some("UnionPay");
    }
    if matches!(
        p4,
        5018 | 5020 | 5038 | 5893 | 6304 | 6759 | 6761 | 6762 | 6763
    ) && (12..=19).contains(&n)
    {
        return Some("Maestro");
    }
    None
}

/// Luhn-valid and not a placeholder run of one digit, whatever the range.
pub(crate) fn luhn_only(d: &[u8]) -> bool {
    !d.iter().all(|&b| b == d[0]) && luhn(d)
}

/// Validates a digit string as a card number: `Some(network)` when it is one.
pub(crate) fn check(d: &[u8]) -> Option<&'static str> {
    if !(12..=19).contains(&d.len()) {
        return None;
    }
    // A run of one repeated digit is a placeholder, not a card.
    if d.iter().all(|&b| b == d[0]) {
        return None;
    }
    let net = network(d)?;
    luhn(d).then_some(net)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        let ok: &[(&str, &str)] = &[
            ("4111111111111111", "Visa"),
            ("4012888888881881", "Visa"),
            ("4222222222222", "Visa"),
            ("5555555555554444", "Mastercard"),
            ("2223003122003222", "Mastercard"),
            ("378282246310005", "Amex"),
            ("371449635398431", "Amex"),
            ("6011111111111117", "Discover"),
            ("3530111333300000", "JCB"),
            ("36227206271667", "Diners Club"),
            ("180092617964050", "JCB"),
            ("30569309025904", "Diners Club"),
            ("6200000000000005", "UnionPay"),
            ("6759649826438453", "Maestro"),
        ];
        for (num, net) in ok {
            assert_eq!(check(num.as_bytes()), Some(*net), "{num}");
        }
    }

    #[test]
    fn rejects() {
        // Luhn fails.
        assert_eq!(check(b"4111111111111112"), None);
        // Luhn passes but no issuer range (starts with 1).
        assert_eq!(check(b"1234567812345670"), None);
        // Visa prefix at a length Visa does not issue.
        assert_eq!(check(b"41111111111111111"), None);
        // Amex prefix with 16 digits.
        assert_eq!(check(b"3782822463100051"), None);
        assert_eq!(check(b"0000000000000000"), None);
    }
}
