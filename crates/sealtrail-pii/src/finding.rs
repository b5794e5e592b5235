//! What a scan reports: entities, spans and findings.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

use crate::classes::DataClass;

/// A kind of sensitive value the engine detects.
///
/// The serialised names (`credit_card`, `iban`, …) are part of the stable API:
/// policies and findings use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    /// Payment card number (PAN), Luhn-valid and in a known issuer range.
    CreditCard,
    /// International Bank Account Number (ISO 13616), mod-97 valid.
    Iban,
    /// United States Social Security Number.
    UsSsn,
    /// Mobile equipment identity (15 digits, Luhn).
    Imei,
    /// Bitcoin or Ethereum address with a valid checksum.
    CryptoAddress,
    /// E-mail address.
    Email,
    /// Telephone number valid in the numbering plan of its country.
    Phone,
    /// IPv4 or IPv6 address.
    IpAddress,
    /// IEEE 802 MAC address.
    MacAddress,
    /// A date written near a birth context ("born", "DOB", …).
    DateOfBirth,
    /// Passport number (shape plus context).
    Passport,
    /// National identity number of an EU country (DE, FR, IT, ES, NL, PL, SE, BE).
    NationalId,
    /// United Kingdom National Insurance number.
    UkNino,
    /// UK NHS number (mod-11 check digit, next to "NHS"): health data.
    NhsNumber,
    /// Provider API key or access token (OpenAI, AWS, GitHub, …).
    ApiKey,
    /// PEM private key block.
    PrivateKey,
    /// JSON Web Token.
    Jwt,
    /// High-entropy secret next to a key word (`password`, `token`, …).
    Secret,
}

impl Entity {
    /// Every entity, in a fixed order.
    pub const ALL: [Entity; 18] = [
        Entity::CreditCard,
        Entity::Iban,
        Entity::UsSsn,
        Entity::Imei,
        Entity::CryptoAddress,
        Entity::Email,
        Entity::Phone,
        Entity::IpAddress,
        Entity::MacAddress,
        Entity::DateOfBirth,
        Entity::Passport,
        Entity::NationalId,
        Entity::UkNino,
        Entity::NhsNumber,
        Entity::ApiKey,
        Entity::PrivateKey,
        Entity::Jwt,
        Entity::Secret,
    ];

    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::CreditCard => "credit_card",
            Entity::Iban => "iban",
            Entity::UsSsn => "us_ssn",
            Entity::Imei => "imei",
            Entity::CryptoAddress => "crypto_address",
            Entity::Email => "email",
            Entity::Phone => "phone",
            Entity::IpAddress => "ip_address",
            Entity::MacAddress => "mac_address",
            Entity::DateOfBirth => "date_of_birth",
            Entity::Passport => "passport",
            Entity::NationalId => "national_id",
            Entity::UkNino => "uk_nino",
            Entity::NhsNumber => "nhs_number",
            Entity::ApiKey => "api_key",
            Entity::PrivateKey => "private_key",
            Entity::Jwt => "jwt",
            Entity::Secret => "secret",
        }
    }

    /// The data class a finding of this entity puts an event in.
    pub fn data_class(self) -> DataClass {
        match self {
            Entity::CreditCard => DataClass::Pci,
            Entity::NhsNumber => DataClass::Phi,
            Entity::Iban | Entity::CryptoAddress => DataClass::Financial,
            Entity::ApiKey | Entity::PrivateKey | Entity::Jwt | Entity::Secret => {
                DataClass::Credential
            }
            Entity::UsSsn
            | Entity::Imei
            | Entity::Email
            | Entity::Phone
            | Entity::IpAddress
            | Entity::MacAddress
            | Entity::DateOfBirth
            | Entity::Passport
            | Entity::NationalId
            | Entity::UkNino => DataClass::Pii,
        }
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A byte range `[start, end)` into the scanned string (UTF-8 byte offsets;
/// both ends fall on character boundaries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub(crate) fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// Whether two spans share at least one byte.
    pub fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// One detected value. It never carries the value itself, so findings can be
/// logged and stored; `span` locates it in the string at `path`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub entity: Entity,
    /// JSON path of the string (`$.tool.arguments.card`); `$` for plain text.
    pub path: String,
    /// Whether the value was found in an object member *name* rather than
    /// in the string at `path`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_key: bool,
    pub span: Span,
    /// Confidence in 0..=1: checksums and context words raise it.
    pub score: f64,
    /// Short human reason: "Luhn valid, Visa range", "near 'passport'".
    pub why: String,
}

/// The union of the classes of `findings` and the client's `declared`
/// classes, sorted and deduplicated. Declared classes are kept verbatim
/// (trimmed, lower-cased) so a client may use tags this crate does not know.
pub fn data_classes<'a>(
    findings: impl IntoIterator<Item = &'a Finding>,
    declared: &[String],
) -> Vec<String> {
    let mut set: BTreeSet<String> = declared
        .iter()
        .map(|d| d.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .collect();
    for f in findings {
        set.insert(f.entity.data_class().as_str().to_string());
    }
    set.into_iter().collect()
}
