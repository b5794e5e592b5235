//! Scanning hostile input never panics, and spans always fall on character
//! boundaries inside the string.

use proptest::prelude::*;
use sealtrail_pii::{scan_json, scan_text, RedactionPolicy, Redactor, Scanner};

/// Fragments that steer random text into the detectors' corners.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9 .()+/-]{1,24}",
        "[A-Z0-9]{2,34}",
        "[a-zA-Z0-9@._+-]{1,30}",
        "[0-9a-fA-F:.]{1,40}",
        "[A-Za-z0-9_=/+-]{1,60}",
        Just("sk-".to_string()),
        Just("sk-ant-".to_string()),
        Just("AKIA".to_string()),
        Just("ghp_".to_string()),
        Just("github_pat_".to_string()),
        Just("-----BEGIN PRIVATE KEY-----".to_string()),
        Just("-----END ".to_string()),
        Just("eyJ".to_string()),
        Just("hooks.slack.com/services/".to_string()),
        Just("SG.".to_string()),
        Just("password: ".to_string()),
        Just("born ".to_string()),
        Just("passport no ".to_string()),
        Just("0x".to_string()),
        Just("bc1".to_string()),
        Just("DE89".to_string()),
        Just("+".to_string()),
        Just("00".to_string()),
        "\\PC{0,8}",
    ]
}

/// Built once: compiling the scanner's automata per case would dominate.
fn redactor() -> &'static Redactor {
    static R: std::sync::OnceLock<Redactor> = std::sync::OnceLock::new();
    R.get_or_init(|| {
        Redactor::new(
            RedactionPolicy::standard(),
            b"0123456789abcdef",
            Scanner::default(),
        )
        .expect("redactor")
    })
}

fn check(text: &str) {
    let findings = scan_text(text).expect("under the size limit");
    for f in findings {
        assert!(f.span.start < f.span.end && f.span.end <= text.len());
        assert!(text.is_char_boundary(f.span.start) && text.is_char_boundary(f.span.end));
        assert!((0.0..=1.0).contains(&f.score));
    }
}

#[test]
fn long_values_with_multibyte_characters() {
    // Values longer than every detector's length cap, made of 2-, 3- and
    // 4-byte characters, after key words and prefixes.
    for unit in ["é", "€", "😀", "aé", "1€"] {
        for prefix in [
            "password: ",
            "token=",
            "sk-",
            "eyJ",
            "born ",
            "passport ",
            "-----BEGIN PRIVATE KEY-----\n",
            "+44 ",
        ] {
            for n in [300, 1023, 1024, 1025, 5000] {
                check(&format!("{prefix}{}", unit.repeat(n)));
                check(&format!("{prefix}abc123DEF{}", unit.repeat(n)));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_strings(s in "\\PC{0,200}") {
        check(&s);
    }

    #[test]
    fn random_bytes_as_text(b in proptest::collection::vec(any::<u8>(), 0..300)) {
        check(&String::from_utf8_lossy(&b));
    }

    #[test]
    fn steered_fragments(parts in proptest::collection::vec(fragment(), 0..16)) {
        check(&parts.concat());
        check(&parts.join(" "));
    }

    #[test]
    fn random_json_and_redaction(parts in proptest::collection::vec(fragment(), 0..8), keys in proptest::collection::vec("[a-zA-Z_ ]{0,12}", 0..8)) {
        let mut obj = serde_json::Map::new();
        for (k, v) in keys.iter().zip(parts.iter()) {
            obj.insert(k.clone(), serde_json::Value::String(v.clone()));
        }
        obj.insert("all".into(), serde_json::Value::String(parts.join(" ")));
        let ev = serde_json::Value::Object(obj);
        let _ = scan_json(&ev);
        let _ = redactor().redact(&ev);
    }
}
