//! Network identifiers: IPv4 and IPv6 addresses (parsed by the standard
//! library, which follows RFC 4291 text forms) and IEEE 802 MAC addresses.
//! GDPR treats both as personal data when they can single out a device.

use std::net::{Ipv4Addr, Ipv6Addr};

pub(crate) const CONTEXT: &[&str] = &[
    "ip",
    "ip address",
    "ipv4",
    "ipv6",
    "host",
    "client",
    "remote",
    "mac",
    "mac address",
];

/// Why an IPv4 address is worth reporting, or `None` when it is not one.
pub(crate) fn ipv4(s: &str) -> Option<&'static str> {
    let ip: Ipv4Addr = s.parse().ok()?;
    Some(
        if ip.is_private() || ip.is_loopback() || ip.is_link_local() {
            "IPv4 address (private range)"
        } else {
            "IPv4 address"
        },
    )
}

fn is_hexish(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

/// Scans the run of hex digits, colons and dots around the colon at `colon`
/// for an IPv6 address or a colon-separated MAC address. Returns
/// `(start, end, is_mac, why)`, and the end of the run so that the caller
/// can skip past it.
pub(crate) fn around_colon(
    text: &[u8],
    colon: usize,
) -> (Option<(usize, usize, bool, &'static str)>, usize) {
    let mut start = colon;
    while start > 0 && is_hexish(text[start - 1]) && colon - start < 45 {
        start -= 1;
    }
    let mut end = colon;
    while end < text.len() && is_hexish(text[end]) && end - start < 45 {
        end += 1;
    }
    // Trailing dots and colons belong to the sentence ("…at fe80::1.").
    while end > start && matches!(text[end - 1], b'.') {
        end -= 1;
    }
    while start < end && matches!(text[start], b'.') {
        start += 1;
    }
    let glued = |i: usize| {
        text.get(i)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
    };
    if (start > 0 && glued(start - 1)) || glued(end) {
        return (None, end.max(colon + 1));
    }
    let s = &text[start..end];
    let Ok(st) = std::str::from_utf8(s) else {
        return (None, end.max(colon + 1));
    };
    if is_mac(s, b':') {
        return (Some((start, end, true, "MAC address")), end);
    }
    // "::" alone, times (12:30:00) and ratios are not addresses: require a
    // parse with at least two groups of hex.
    let groups = st.split(':').filter(|g| !g.is_empty()).count();
    if let (true, Ok(addr)) = (groups >= 2, st.parse::<Ipv6Addr>()) {
        if is_scoped_link_local(text, end, addr) {
            return (None, end.max(colon + 1));
        }
        let why = if st.contains("::") || groups >= 3 {
            "IPv6 address"
        } else {
            return (None, end.max(colon + 1));
        };
        if is_clock_time(s) {
            return (None, end.max(colon + 1));
        }
        return (Some((start, end, false, why)), end);
    }
    (None, end.max(colon + 1))
}

/// `fe80::1ff:fe23:4567:890a%eth0`: a link-local address written with its
/// zone id (RFC 4007 §11) names an interface of the machine that wrote it,
/// as a bind or listen address; it reaches no one beyond that link and is
/// a machine identifier, not a person's address. Without the zone id it
/// is still reported.
fn is_scoped_link_local(text: &[u8], end: usize, addr: Ipv6Addr) -> bool {
    text.get(end) == Some(&b'%')
        && text.get(end + 1).is_some_and(u8::is_ascii_alphanumeric)
        && addr.segments()[0] & 0xffc0 == 0xfe80
}

/// hh:mm:ss — three groups of two decimal digits — parses as IPv6 only with
/// "::" (it does not), but "12:30::" would; keep clock-like text out.
fn is_clock_time(s: &[u8]) -> bool {
    s.split(|&b| b == b':')
        .filter(|g| !g.is_empty())
        .all(|g| g.len() <= 2 && g.iter().all(u8::is_ascii_digit))
}

/// Six groups of two hex digits joined by `sep`.
pub(crate) fn is_mac(s: &[u8], sep: u8) -> bool {
    s.len() == 17
        && s.chunks(3).all(|c| {
            c[0].is_ascii_hexdigit() && c[1].is_ascii_hexdigit() && (c.len() == 2 || c[2] == sep)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4() {
        assert!(ipv4("192.168.1.20").is_some());
        assert!(ipv4("8.8.8.8").is_some());
        assert!(ipv4("256.1.1.1").is_none());
        assert!(ipv4("01.2.3.4").is_none());
    }

    #[test]
    fn v6_and_mac() {
        let t = b"from 2001:db8::8a2e:370:7334 today";
        let (hit, _) = around_colon(t, 9);
        let (s, e, mac, _) = hit.expect("v6");
        assert_eq!(&t[s..e], b"2001:db8::8a2e:370:7334");
        assert!(!mac);
        let t = b"mac 00:1A:2B:3C:4D:5E.";
        let (hit, _) = around_colon(t, 6);
        assert!(hit.expect("mac").2);
        let t = b"bind fe80::1ff:fe23:4567:890a%eth0 ok";
        assert!(around_colon(t, 9).0.is_none());
        let t = b"bind fe80::1ff:fe23:4567:890a ok";
        assert!(around_colon(t, 9).0.is_some());
        let t = b"from 2001:db8::1%eth0 ok";
        assert!(around_colon(t, 9).0.is_some());
        let t = b"at 12:30:45 ok";
        assert!(around_colon(t, 5).0.is_none());
        let t = b"ratio 3:2";
        assert!(around_colon(t, 7).0.is_none());
        assert!(is_mac(b"00-1A-2B-3C-4D-5E", b'-'));
    }
}
