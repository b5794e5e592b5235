//! A corpus of realistic fake secrets (right prefixes, lengths and
//! alphabets; random bodies made here, so none is a real key) and of
//! look-alikes that must not match.

use sealtrail_pii::{scan_text, Entity};

/// A deterministic pseudo-random string over `alphabet` (xorshift; the same
/// on every run so failures reproduce).
fn fake(seed: u64, len: usize, alphabet: &[u8]) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            alphabet[(x % alphabet.len() as u64) as usize] as char
        })
        .collect()
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const HEX: &[u8] = b"0123456789abcdef";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn secrets_in(text: &str) -> Vec<(Entity, String, String)> {
    scan_text(text)
        .expect("scan")
        .into_iter()
        .filter(|f| f.entity.data_class() == sealtrail_pii::DataClass::Credential)
        .map(|f| (f.entity, text[f.span.start..f.span.end].to_string(), f.why))
        .collect()
}

#[test]
fn provider_keys_match() {
    let keys = [
        (
            format!("sk-proj-{}", fake(1, 120, URL)),
            "OpenAI project key",
        ),
        (format!("sk-{}", fake(2, 48, ALNUM)), "OpenAI API key"),
        (format!("sk-ant-api03-{}AA", fake(3, 93, URL)), "Anthropic"),
        (format!("AKIA{}", fake(4, 16, UPPER)), "AWS access key id"),
        (format!("ASIA{}", fake(5, 16, UPPER)), "AWS temporary"),
        (format!("ghp_{}", fake(6, 36, ALNUM)), "GitHub personal"),
        (format!("gho_{}", fake(7, 36, ALNUM)), "GitHub OAuth"),
        (format!("ghu_{}", fake(8, 36, ALNUM)), "GitHub user"),
        (format!("ghs_{}", fake(9, 36, ALNUM)), "GitHub server"),
        (format!("ghr_{}", fake(10, 36, ALNUM)), "GitHub refresh"),
        (
            format!("github_pat_{}_{}", fake(11, 22, ALNUM), fake(12, 59, ALNUM)),
            "GitHub fine-grained",
        ),
        (
            format!(
                "xoxb-{}-{}-{}",
                fake(13, 12, b"0123456789"),
                fake(14, 13, b"0123456789"),
                fake(15, 24, ALNUM)
            ),
            "Slack bot",
        ),
        (
            format!(
                "xoxp-{}-{}",
                fake(16, 12, b"0123456789"),
                fake(17, 32, ALNUM)
            ),
            "Slack user",
        ),
        (format!("AIza{}", fake(18, 35, URL)), "Google API key"),
        (
            format!("sk_live_{}", fake(19, 24, ALNUM)),
            "Stripe live secret",
        ),
        (
            format!("rk_live_{}", fake(20, 24, ALNUM)),
            "Stripe live restricted",
        ),
        (
            format!("pk_live_{}", fake(21, 24, ALNUM)),
            "Stripe live publishable",
        ),
        (format!("glpat-{}", fake(22, 20, URL)), "GitLab"),
        (format!("npm_{}", fake(23, 36, ALNUM)), "npm"),
        (format!("hf_{}", fake(24, 34, ALNUM)), "Hugging Face"),
        (
            format!("SG.{}.{}", fake(25, 22, URL), fake(26, 43, URL)),
            "SendGrid",
        ),
        (format!("dop_v1_{}", fake(27, 64, HEX)), "DigitalOcean"),
        (
            format!(
                "https://hooks.slack.com/services/T{}/B{}/{}",
                fake(28, 8, UPPER),
                fake(29, 8, UPPER),
                fake(30, 24, ALNUM)
            ),
            "Slack incoming webhook",
        ),
    ];
    for (key, label) in &keys {
        for text in [
            format!("key={key}"),
            format!("export TOKEN=\"{key}\""),
            format!("{{\"k\": \"{key}\"}} ok"),
        ] {
            let found = secrets_in(&text);
            assert!(
                found
                    .iter()
                    .any(|(e, v, why)| *e == Entity::ApiKey && v == key && why.contains(label)),
                "{label}: {key} not found in {text:?}: {found:?}"
            );
        }
    }
}

#[test]
fn aws_secret_key_near_key_words() {
    let secret = fake(31, 40, B64);
    let text = format!("aws_secret_access_key = {secret}");
    let found = secrets_in(&text);
    assert!(
        found
            .iter()
            .any(|(e, v, _)| *e == Entity::ApiKey && *v == secret),
        "{found:?}"
    );
    // The same 40 characters with no key word nearby are not reported as AWS.
    let bare = format!("blob {secret}");
    assert!(!secrets_in(&bare)
        .iter()
        .any(|(e, _, _)| *e == Entity::ApiKey));
}

#[test]
fn pem_and_jwt() {
    let body = fake(32, 64, B64);
    for label in [
        "RSA PRIVATE KEY",
        "PRIVATE KEY",
        "EC PRIVATE KEY",
        "OPENSSH PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
    ] {
        let pem = format!("-----BEGIN {label}-----\n{body}\n{body}\n-----END {label}-----");
        let text = format!("here: {pem}\nthanks");
        let found = secrets_in(&text);
        assert!(
            found
                .iter()
                .any(|(e, v, _)| *e == Entity::PrivateKey && *v == pem),
            "{label}: {found:?}"
        );
    }
    // Cut off before END: the body is still covered.
    let cut = format!("-----BEGIN PRIVATE KEY-----\n{body}");
    assert!(secrets_in(&cut)
        .iter()
        .any(|(e, v, _)| *e == Entity::PrivateKey && *v == cut));

    // {"alg":"HS256","typ":"JWT"} . {"sub":"1234567890"} . signature
    let jwt = format!(
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.{}",
        fake(33, 43, URL)
    );
    let text = format!("Authorization: Bearer {jwt}");
    let found = secrets_in(&text);
    assert!(
        found.iter().any(|(e, v, _)| *e == Entity::Jwt && *v == jwt),
        "{found:?}"
    );
}

#[test]
fn entropy_secrets_near_key_words() {
    let token = fake(34, 32, ALNUM);
    for text in [
        format!("token: {token}"),
        format!("client_secret={token}"),
        format!("\"api_key\": \"{token}\""),
    ] {
        let found = secrets_in(&text);
        assert!(
            found.iter().any(|(_, v, _)| *v == token),
            "{text}: {found:?}"
        );
    }
    assert!(secrets_in("my password is Tr0ub4dor&3")
        .iter()
        .any(|(e, v, _)| *e == Entity::Secret && v == "Tr0ub4dor&3"));
}

#[test]
fn look_alikes_do_not_match() {
    let not_secrets = [
        "we use sk-learn and scikit-learn".to_string(),
        "sk-this-is-not-a-key-just-a-slug".to_string(),
        format!("sk-{}", "a".repeat(48)),
        "AKIAXXXXXXXXXXXXXXXX".to_string(),
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE".to_string(),
        "token_count: 1834, secret_sauce: true, password_policy: strict".to_string(),
        format!("AKIA{}", fake(40, 15, UPPER)),
        format!("ghp_{}", fake(41, 35, ALNUM)),
        "ghp_short".to_string(),
        "xoxb-123".to_string(),
        format!("AIza{}", fake(42, 30, URL)),
        "sk_live_placeholder".to_string(),
        "eyJub3QganNvbg.eyJ4IjoxfQ.abc".to_string(),
        "eyJ0eXAiOiJKV1QifQ.eyJ4IjoxfQ.abc".to_string(),
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----".to_string(),
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----".to_string(),
        "password: ********".to_string(),
        "password: <redacted>".to_string(),
        "password: ${DB_PASSWORD}".to_string(),
        "the password is required".to_string(),
        "token count 12345".to_string(),
        "max_tokens: 4096".to_string(),
        "secret: changeme123".to_string(),
        "token: aaaaaaaaaaaaaaaaaaaaaaaa".to_string(),
        "sessiontoken abcdefghijklmnopqrstuvwxyz0123456789".to_string(),
        format!("git commit {}", fake(43, 40, HEX)),
        "see https://example.com/sk-docs/overview".to_string(),
    ];
    for text in &not_secrets {
        let found = secrets_in(text);
        assert!(found.is_empty(), "{text:?} matched {found:?}");
    }
}
