//! Admission of a request that carries the console's session cookie
//! instead of an `Authorization` header: the session must be live
//! (`access::console`), and a request that may change state (any method
//! but GET, HEAD and OPTIONS) must carry the session's synchronizer token
//! in `X-CSRF-Token`. SameSite=Strict already keeps other sites' requests
//! from carrying the cookie; the token is the second, independent lock
//! (older browsers, same-site subdomains).

use axum::http::{HeaderMap, Method, StatusCode};

use crate::access::console::csrf_matches;
use crate::access::{Access, Caller};
use crate::error::ApiError;

/// The header carrying the CSRF token.
pub const HEADER: &str = "x-csrf-token";

/// Methods that never change state, and so need no token.
fn safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn refused(message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "csrf_failed", message)
}

/// 403 `csrf_failed` unless `method` is safe or `X-CSRF-Token` holds the
/// token of the session whose cookie is `secret`.
pub fn check(method: &Method, headers: &HeaderMap, secret: &str) -> Result<(), ApiError> {
    if safe(method) {
        return Ok(());
    }
    let Some(sent) = headers.get(HEADER) else {
        return Err(refused(
            "missing X-CSRF-Token header: a console request that changes state must send the `csrf` value from POST or GET /v1/console/session in X-CSRF-Token",
        ));
    };
    match sent.to_str() {
        Ok(t) if csrf_matches(secret, t.trim()) => Ok(()),
        _ => Err(refused(
            "the X-CSRF-Token header does not match this console session; send the `csrf` value from GET /v1/console/session",
        )),
    }
}

/// The caller of a cookie-authenticated request (see the module's comment).
pub async fn admit(
    access: &Access,
    method: &Method,
    headers: &HeaderMap,
    secret: &str,
) -> Result<Caller, ApiError> {
    let admitted = access.console_caller(secret).await?;
    check(method, headers, secret)?;
    Ok(admitted.caller)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::console::csrf_token;
    use axum::http::HeaderValue;

    #[test]
    fn state_changes_need_the_sessions_token() {
        let secret = "A".repeat(43);
        let mut h = HeaderMap::new();
        assert!(check(&Method::GET, &h, &secret).is_ok());
        let e = check(&Method::POST, &h, &secret).unwrap_err();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert_eq!(e.body.code, "csrf_failed");
        assert!(e.body.message.contains("X-CSRF-Token"));
        h.insert(HEADER, HeaderValue::from_static("wrong"));
        let e = check(&Method::DELETE, &h, &secret).unwrap_err();
        assert!(e.body.message.contains("X-CSRF-Token"));
        let other = csrf_token(&"B".repeat(43));
        h.insert(HEADER, HeaderValue::from_str(&other).unwrap());
        assert!(check(&Method::PATCH, &h, &secret).is_err());
        h.insert(HEADER, HeaderValue::from_str(&csrf_token(&secret)).unwrap());
        assert!(check(&Method::PATCH, &h, &secret).is_ok());
    }
}
