//! Per entity: valid values are found, checksum-invalid values and near
//! misses are not.

use sealtrail_pii::{scan_text, Entity};

/// The (entity, matched text) pairs found in `text`.
fn found(text: &str) -> Vec<(Entity, String)> {
    scan_text(text)
        .expect("scan")
        .into_iter()
        .map(|f| (f.entity, text[f.span.start..f.span.end].to_string()))
        .collect()
}

fn assert_found(text: &str, entity: Entity, value: &str) {
    let f = found(text);
    assert!(
        f.iter().any(|(e, v)| *e == entity && v == value),
        "expected {entity} {value:?} in {text:?}, got {f:?}"
    );
}

fn assert_not(text: &str, entity: Entity) {
    let f = found(text);
    assert!(
        !f.iter().any(|(e, _)| *e == entity),
        "unexpected {entity} in {text:?}: {f:?}"
    );
}

#[test]
fn credit_cards() {
    for (num, text) in [
        ("4111 1111 1111 1111", "pay with 4111 1111 1111 1111 please"),
        ("5555-5555-5555-4444", "mc 5555-5555-5555-4444"),
        ("2223003122003222", "new mc 2223003122003222"),
        ("378282246310005", "amex 378282246310005"),
        ("6011111111111117", "discover 6011111111111117."),
        ("3530111333300000", "jcb 3530111333300000"),
        ("36227206271667", "diners 36227206271667"),
        ("6200000000000005", "unionpay 6200000000000005"),
        ("6759649826438453", "maestro 6759649826438453"),
    ] {
        assert_found(text, Entity::CreditCard, num);
    }
    let f = scan_text("card: 4111111111111111").expect("scan");
    assert_eq!(f[0].why, "Luhn valid, Visa range, near 'card'");
    assert_eq!(f[0].score, 1.0);
    // Luhn fails.
    assert_not("card 4111 1111 1111 1112", Entity::CreditCard);
    // Luhn passes, no issuer range: only reported when called a card.
    assert_not("ref 1234 5678 1234 5670", Entity::CreditCard);
    let f = scan_text("card 1234 5678 1234 5670").expect("scan");
    assert_eq!(f[0].why, "Luhn valid, unlisted issuer range, near 'card'");
    assert_eq!(f[0].score, 0.8);
    // Mixed separators are not how cards are written.
    assert_not("4111-1111 1111-1111", Entity::CreditCard);
    // Glued to letters.
    assert_not("id4111111111111111x", Entity::CreditCard);
}

#[test]
fn ibans() {
    assert_found(
        "IBAN: DE89 3704 0044 0532 0130 00.",
        Entity::Iban,
        "DE89 3704 0044 0532 0130 00",
    );
    assert_found(
        "to GB82WEST12345698765432 today",
        Entity::Iban,
        "GB82WEST12345698765432",
    );
    assert_found(
        "FR1420041010050500013M02606",
        Entity::Iban,
        "FR1420041010050500013M02606",
    );
    assert_found(
        "NL91 ABNA 0417 1643 00",
        Entity::Iban,
        "NL91 ABNA 0417 1643 00",
    );
    assert_found(
        "MT84MALT011000012345MTLCAST001S",
        Entity::Iban,
        "MT84MALT011000012345MTLCAST001S",
    );
    // Check digits wrong.
    assert_not("DE88 3704 0044 0532 0130 00", Entity::Iban);
    // Valid checksum shape but the wrong length for DE.
    assert_not("DE89 3704 0044 0532 0130 0", Entity::Iban);
    // Unknown country.
    assert_not("QQ89370400440532013000", Entity::Iban);
}

#[test]
fn us_ssn() {
    assert_found("SSN 536-22-5486", Entity::UsSsn, "536-22-5486");
    assert_found("ssn: 536225486", Entity::UsSsn, "536225486");
    for bad in [
        "000-12-3456",
        "666-12-3456",
        "912-12-3456",
        "536-00-5486",
        "536-22-0000",
        "078-05-1120",
        "219-09-9999",
    ] {
        assert_not(&format!("SSN {bad}"), Entity::UsSsn);
    }
    // A bare 9-digit number without context is too weak to report.
    assert_not("order 536225486 shipped", Entity::UsSsn);
}

#[test]
fn imei() {
    assert_found("IMEI 490154203237518", Entity::Imei, "490154203237518");
    assert_found(
        "device 49-015420-323751-8",
        Entity::Imei,
        "49-015420-323751-8",
    );
    assert_not("IMEI 490154203237519", Entity::Imei);
    assert_not("ref 490154203237518", Entity::Imei);
}

#[test]
fn crypto_addresses() {
    assert_found(
        "send to 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
        Entity::CryptoAddress,
        "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
    );
    assert_found(
        "p2sh 3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
        Entity::CryptoAddress,
        "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
    );
    assert_found(
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        Entity::CryptoAddress,
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
    );
    assert_found(
        "taproot bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        Entity::CryptoAddress,
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
    );
    assert_found(
        "eth 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        Entity::CryptoAddress,
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    );
    assert_not("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3", Entity::CryptoAddress);
    assert_not(
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5",
        Entity::CryptoAddress,
    );
    assert_not(
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD",
        Entity::CryptoAddress,
    );
    // A 40-hex git commit is not an address (no 0x).
    assert_not(
        "commit 5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
        Entity::CryptoAddress,
    );
}

#[test]
fn emails() {
    assert_found(
        "write to jane.doe+ai@example.co.uk.",
        Entity::Email,
        "jane.doe+ai@example.co.uk",
    );
    assert_not("logo@2x.png", Entity::Email);
    assert_not("user@localhost", Entity::Email);
    assert_not("@handle on x.com", Entity::Email);
}

#[test]
fn phones() {
    assert_found(
        "call +44 20 7946 0958 now",
        Entity::Phone,
        "+44 20 7946 0958",
    );
    assert_found("phone (415) 555-2671", Entity::Phone, "(415) 555-2671");
    assert_found("tel: 030 12345678", Entity::Phone, "030 12345678");
    assert_found("mobile 4155552671", Entity::Phone, "4155552671");
    // Bare digits without a phone word: an id, not a number.
    assert_not("ts 1732291200", Entity::Phone);
    // Dates and versions.
    assert_not("on 2026-11-22", Entity::Phone);
    assert_not("version 10.2.33.4", Entity::Phone);
    // Not a valid number in any plan.
    assert_not("call +1 111 111 1111", Entity::Phone);
    // Identifiers, timestamps and street numbers.
    assert_not("order ORD-2026-000123 ref", Entity::Phone);
    assert_not("On 2017-09-29 21:50:08.915025 it rained", Entity::Phone);
    assert_not("address: 07139 29 Wattle St", Entity::Phone);
    // French dotted style and an extension.
    assert_found("call 05.06.52.16.25", Entity::Phone, "05.06.52.16.25");
    assert_found("650-752-7354x549 mobile", Entity::Phone, "650-752-7354");
}

#[test]
fn network_ids() {
    assert_found("from 203.0.113.7 at", Entity::IpAddress, "203.0.113.7");
    assert_found(
        "from 2001:db8::8a2e:370:7334",
        Entity::IpAddress,
        "2001:db8::8a2e:370:7334",
    );
    assert_found(
        "mac 00:1A:2B:3C:4D:5E",
        Entity::MacAddress,
        "00:1A:2B:3C:4D:5E",
    );
    assert_found(
        "mac 00-1A-2B-3C-4D-5E",
        Entity::MacAddress,
        "00-1A-2B-3C-4D-5E",
    );
    assert_not("at 999.1.1.1", Entity::IpAddress);
    assert_not("version 1.2.3.4.5", Entity::IpAddress);
    assert_not("n04.15.68.30.65", Entity::IpAddress);
    assert_not("at 12:30:45", Entity::IpAddress);
    assert_not("ratio 16:9", Entity::IpAddress);
}

#[test]
fn dates_of_birth() {
    assert_found(
        "born 30 July 1985 in Oslo",
        Entity::DateOfBirth,
        "30 July 1985",
    );
    assert_found("DOB: 1985-07-30", Entity::DateOfBirth, "1985-07-30");
    assert_found(
        "date_of_birth=30.07.1985",
        Entity::DateOfBirth,
        "30.07.1985",
    );
    assert_not("born 31/02/1985", Entity::DateOfBirth);
    // A date alone is not a date of birth.
    assert_not("shipped on 1985-07-30", Entity::DateOfBirth);
}

#[test]
fn passports() {
    assert_found("passport no. C01X00T47", Entity::Passport, "C01X00T47");
    assert_found("Passport number: 18AV12345", Entity::Passport, "18AV12345");
    assert_not("passport control took long", Entity::Passport);
    // Without a passport word a 9-character code is not reported.
    assert_not("code C01X00T47", Entity::Passport);
}

#[test]
fn national_ids() {
    assert_found("DNI 12345678Z", Entity::NationalId, "12345678Z");
    assert_found("NIE X1234567L", Entity::NationalId, "X1234567L");
    assert_found("DNI 12345678-Z", Entity::NationalId, "12345678-Z");
    assert_not("DNI 12345678A", Entity::NationalId);
    assert_found(
        "codice fiscale RSSMRA85T10A562S",
        Entity::NationalId,
        "RSSMRA85T10A562S",
    );
    assert_not("RSSMRA85T10A562T", Entity::NationalId);
    assert_found("BSN 111222333", Entity::NationalId, "111222333");
    assert_not("BSN 111222334", Entity::NationalId);
    assert_found("PESEL 44051401359", Entity::NationalId, "44051401359");
    assert_not("PESEL 44051401358", Entity::NationalId);
    assert_found(
        "personnummer 811218-9876",
        Entity::NationalId,
        "811218-9876",
    );
    assert_not("personnummer 811218-9877", Entity::NationalId);
    assert_found(
        "rijksregisternummer 85.07.30-033.28",
        Entity::NationalId,
        "85.07.30-033.28",
    );
    assert_not("rijksregisternummer 85.07.30-033.29", Entity::NationalId);
    assert_found(
        "NIR 2 55 08 14 168 025 38",
        Entity::NationalId,
        "2 55 08 14 168 025 38",
    );
    assert_not("NIR 2 55 08 14 168 025 39", Entity::NationalId);
    assert_found(
        "Personalausweis T220001293",
        Entity::NationalId,
        "T220001293",
    );
    assert_not("Personalausweis T220001294", Entity::NationalId);
}

#[test]
fn uk_ids() {
    assert_found("NI number AB123456C", Entity::UkNino, "AB123456C");
    assert_found("nino: AB 12 34 56 C.", Entity::UkNino, "AB 12 34 56 C");
    for bad in [
        "DA123456C",
        "AO123456C",
        "GB123456C",
        "NK123456C",
        "AB123456E",
    ] {
        assert_not(&format!("NI number {bad}"), Entity::UkNino);
    }
    assert_found("NHS number 943 476 5919", Entity::NhsNumber, "943 476 5919");
    assert_not("NHS number 943 476 5918", Entity::NhsNumber);
}

#[test]
fn context_words_are_whole_words() {
    // "bsn" as a word makes a BSN; inside another word it does not.
    assert_found("bsn: 111222333", Entity::NationalId, "111222333");
    assert_not("absnt 111222333", Entity::NationalId);
    // The same for key words before secrets.
    assert!(found("password abc123XYZ!")
        .iter()
        .any(|(e, _)| *e == Entity::Secret));
    assert!(found("passwordless abc123XYZ!").is_empty());
    // And "pass" never matches inside "passport" or "compass".
    assert!(found("compass abc123XYZ!").is_empty());
}

#[test]
fn nothing_in_plain_prose() {
    let text = "The agent summarised the quarterly report, compared three vendors \
                and asked the reviewer to approve the public release. No data left the sandbox.";
    assert!(found(text).is_empty());
}
