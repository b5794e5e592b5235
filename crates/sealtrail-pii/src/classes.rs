//! Data classes: the coarse tags (DESIGN §2 `data_classes`) that findings
//! put an event in, merged with what the client declared.

use serde::{Deserialize, Serialize};

/// A data class derived from findings.
///
/// `phi` (protected health information) is set today only by the NHS number
/// detector; this enum and [`crate::Entity::data_class`] are the hook for
/// more health identifiers (medical record numbers near "MRN", US Medicare
/// MBIs near "medicare", ICD-10 codes near "diagnosis"). Clients can always
/// declare `phi` themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataClass {
    /// Personal data: contact details, government ids, dates of birth,
    /// network identifiers (GDPR treats IP and MAC addresses as personal).
    Pii,
    /// Payment card data (PCI DSS).
    Pci,
    /// Health data.
    Phi,
    /// Bank and crypto accounts.
    Financial,
    /// Secrets that grant access: keys, tokens, passwords.
    Credential,
}

impl DataClass {
    /// The tag as it appears in event headers.
    pub fn as_str(self) -> &'static str {
        match self {
            DataClass::Pii => "pii",
            DataClass::Pci => "pci",
            DataClass::Phi => "phi",
            DataClass::Financial => "financial",
            DataClass::Credential => "credential",
        }
    }
}
