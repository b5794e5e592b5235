//! Telephone numbers, validated against libphonenumber's metadata (through
//! the `phonenumber` crate) after a cheap shape prefilter done by the caller.

use phonenumber::country::Id;

pub(crate) const CONTEXT: &[&str] = &[
    "phone",
    "phones",
    "tel",
    "telephone",
    "mobile",
    "mobiles",
    "cell",
    "call",
    "fax",
    "whatsapp",
    "contact",
    "desk",
    "office",
    "landline",
    "sms",
    "reach",
    "ph",
    "téléphone",
    "telefon",
    "telefono",
    "handy",
];

/// Parses the regions named in a [`crate::ScanConfig`] (ISO 3166 alpha-2).
pub(crate) fn regions(names: &[String]) -> Vec<Id> {
    names
        .iter()
        .filter_map(|n| n.to_ascii_uppercase().parse::<Id>().ok())
        .collect()
}

/// Validates `digits` (ASCII digits only); `international` when the text
/// wrote a leading `+` or `00`. Returns the region the number is valid in.
pub(crate) fn validate(digits: &str, international: bool, regions: &[Id]) -> Option<String> {
    if !(7..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // The parser is given only a canonical digit string built here; a panic
    // inside it would still be a bug, so contain it rather than crash ingest.
    let parse = |region: Option<Id>, s: String| {
        std::panic::catch_unwind(move || phonenumber::parse(region, s).ok())
            .ok()
            .flatten()
    };
    if international {
        let n = parse(None, format!("+{digits}"))?;
        return n.is_valid().then(|| {
            n.country().id().map_or_else(
                || "valid international number".to_string(),
                |id| format!("valid number for {}", id.as_ref()),
            )
        });
    }
    // National numbers in these plans are written with a trunk "0"; NANP
    // numbers never start with 0. Skip the plans a number cannot be in
    // rather than pay for a parse.
    let trunk_zero = digits.starts_with('0');
    regions
        .iter()
        .filter(|&&id| plan_fits(id, trunk_zero))
        .find_map(|&id| {
            let n = parse(Some(id), digits.to_string())?;
            n.is_valid()
                .then(|| format!("valid number for {}", id.as_ref()))
        })
}

/// Whether a national number with (or without) a leading 0 can belong to
/// the plan of `id`.
fn plan_fits(id: Id, trunk_zero: bool) -> bool {
    match id {
        Id::US | Id::CA => !trunk_zero,
        Id::GB
        | Id::DE
        | Id::FR
        | Id::NL
        | Id::BE
        | Id::AT
        | Id::CH
        | Id::SE
        | Id::IE
        | Id::AU
        | Id::NZ => trunk_zero,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        let r = regions(&["US".into(), "GB".into(), "DE".into(), "FR".into()]);
        assert!(validate("4155552671", false, &r).is_some());
        assert!(validate("442079460958", true, &r).is_some());
        assert!(validate("03012345678", false, &r).is_some());
        assert!(validate("0123", false, &r).is_none());
        assert!(validate("1111111111", false, &r).is_none());
    }
}
