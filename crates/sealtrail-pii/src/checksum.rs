//! Check-digit algorithms shared by several detectors.

/// Luhn (ISO/IEC 7812-1) over ASCII digits. Non-digits make it fail.
pub(crate) fn luhn(digits: &[u8]) -> bool {
    if digits.is_empty() {
        return false;
    }
    let mut sum = 0u32;
    for (i, &b) in digits.iter().rev().enumerate() {
        if !b.is_ascii_digit() {
            return false;
        }
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

/// The remainder mod 97 of a decimal number given as ASCII digits, reduced
/// as it is read so that it never overflows.
pub(crate) fn mod97_digits(digits: &[u8]) -> Option<u32> {
    let mut r = 0u32;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        r = (r * 10 + u32::from(b - b'0')) % 97;
    }
    Some(r)
}

/// Parses up to 9 ASCII digits as a number.
pub(crate) fn num(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 9 {
        return None;
    }
    digits.iter().try_fold(0u32, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}

/// Whether year/month/day form a real Gregorian date.
pub(crate) fn valid_date(year: u32, month: u32, day: u32) -> bool {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    day >= 1 && day <= days
}

/// Shannon entropy of the bytes of `s`, in bits per byte.
pub(crate) fn shannon_entropy(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in s {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_known() {
        assert!(luhn(b"4111111111111111"));
        assert!(!luhn(b"4111111111111112"));
        assert!(luhn(b"79927398713"));
        assert!(!luhn(b""));
        assert!(!luhn(b"41x1"));
    }

    #[test]
    fn dates() {
        assert!(valid_date(2000, 2, 29));
        assert!(!valid_date(1900, 2, 29));
        assert!(!valid_date(2023, 4, 31));
        assert!(!valid_date(2023, 13, 1));
    }

    #[test]
    fn entropy() {
        assert_eq!(shannon_entropy(b"aaaa"), 0.0);
        assert!((shannon_entropy(b"abcd") - 2.0).abs() < 1e-9);
    }
}
