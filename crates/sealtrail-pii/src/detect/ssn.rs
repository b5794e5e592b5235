//! US Social Security Numbers, by the SSA's published rules: area 000, 666
//! and 900–999 are never issued, nor group 00 or serial 0000; and a few
//! numbers are famous samples (printed on wallet inserts and in ads) that
//! are not anyone's.

use crate::checksum::num;

pub(crate) const CONTEXT: &[&str] = &["ssn", "social security", "social security number", "ss#"];

/// Numbers published as samples: 078-05-1120 (the Woolworth wallet card),
/// 219-09-9999 (a Social Security Board pamphlet), 457-55-5462 (LifeLock ads),
/// and 123-45-6789, the placeholder everyone types.
const SAMPLES: &[&[u8; 9]] = &[b"078051120", b"219099999", b"457555462", b"123456789"];

/// Why a 9-digit string cannot be an SSN, or `None` when it can be.
pub(crate) fn invalid_reason(d: &[u8]) -> Option<&'static str> {
    if d.len() != 9 {
        return Some("not 9 digits");
    }
    let (Some(area), Some(group), Some(serial)) = (num(&d[..3]), num(&d[3..5]), num(&d[5..]))
    else {
        return Some("not digits");
    };
    if area == 0 || area == 666 || area >= 900 {
        return Some("area never issued");
    }
    if group == 0 {
        return Some("group 00");
    }
    if serial == 0 {
        return Some("serial 0000");
    }
    if SAMPLES.iter().any(|s| &s[..] == d) {
        return Some("well-known sample number");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(invalid_reason(b"123456789").is_some());
        assert_eq!(invalid_reason(b"536225486"), None);
        assert!(invalid_reason(b"000123456").is_some());
        assert!(invalid_reason(b"666123456").is_some());
        assert!(invalid_reason(b"912345678").is_some());
        assert!(invalid_reason(b"123004567").is_some());
        assert!(invalid_reason(b"123450000").is_some());
        assert!(invalid_reason(b"078051120").is_some());
        assert!(invalid_reason(b"219099999").is_some());
    }
}
