//! The console's session cookie: `sealtrail_session=<secret>`, HttpOnly (no
//! script reads it), SameSite=Strict (no other site's page sends it),
//! `Path=/`, and `Secure` when the server speaks TLS. No `Max-Age`: it lives
//! as long as the browser session at most, and the server ends it earlier
//! (idle and absolute timeouts).

use axum::http::{header, HeaderMap, HeaderValue};

/// The cookie's name.
pub const NAME: &str = "sealtrail_session";

/// The session secret a request's `Cookie` headers carry, if any (the
/// first one; HTTP/2 may split cookies over several headers).
pub fn session_secret(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == NAME)
        .map(|(_, value)| value.trim().trim_matches('"'))
        .filter(|v| !v.is_empty())
}

fn attributes(secure: bool) -> &'static str {
    if secure {
        "HttpOnly; SameSite=Strict; Path=/; Secure"
    } else {
        "HttpOnly; SameSite=Strict; Path=/"
    }
}

/// `Set-Cookie` for a new session.
pub fn set(secret: &str, secure: bool) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!("{NAME}={secret}; {}", attributes(secure))).ok()
}

/// `Set-Cookie` that makes the browser forget the session.
pub fn clear(secure: bool) -> HeaderValue {
    match HeaderValue::from_str(&format!("{NAME}=; Max-Age=0; {}", attributes(secure))) {
        Ok(v) => v,
        Err(_) => HeaderValue::from_static("sealtrail_session=; Max-Age=0; Path=/"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for c in cookies {
            h.append(header::COOKIE, HeaderValue::from_str(c).unwrap());
        }
        h
    }

    #[test]
    fn the_session_is_found_among_other_cookies() {
        assert_eq!(
            session_secret(&headers(&["theme=dark; sealtrail_session=abc; x=y"])),
            Some("abc")
        );
        assert_eq!(
            session_secret(&headers(&["theme=dark", "sealtrail_session=abc"])),
            Some("abc")
        );
        assert_eq!(session_secret(&headers(&["sealtrail_sessionx=abc"])), None);
        assert_eq!(session_secret(&headers(&["sealtrail_session="])), None);
        assert_eq!(session_secret(&headers(&[])), None);
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_over_tls() {
        let plain = set("s", false).unwrap();
        let plain = plain.to_str().unwrap();
        assert!(plain.contains("HttpOnly") && plain.contains("SameSite=Strict"));
        assert!(!plain.contains("Secure"));
        assert!(set("s", true)
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("; Secure"));
        assert!(clear(true).to_str().unwrap().contains("Max-Age=0"));
    }
}
