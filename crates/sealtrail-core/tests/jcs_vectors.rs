//! RFC 8785 conformance vectors and properties for the hand-written JCS.

use proptest::prelude::*;
use sealtrail_core::jcs::{
    cmp_utf16, parse_strict, to_canonical, to_canonical_vec, write_canonical, write_f64, JcsError,
    ParseLimits,
};
use serde_json::{json, Value};

fn fmt_f64(f: f64) -> Result<String, JcsError> {
    let mut out = Vec::new();
    write_f64(f, &mut out)?;
    Ok(String::from_utf8(out).expect("ASCII"))
}

fn parse(s: &str) -> Result<Value, JcsError> {
    parse_strict(s.as_bytes(), &ParseLimits::default())
}

fn canon_str(s: &str) -> String {
    let v = parse(s).expect("parse");
    String::from_utf8(to_canonical_vec(&v).expect("canonicalize")).expect("UTF-8")
}

/// RFC 8785 Appendix B, every row.
const APPENDIX_B: &[(u64, &str)] = &[
    (0x0000000000000000, "0"),
    (0x8000000000000000, "0"),
    (0x0000000000000001, "5e-324"),
    (0x8000000000000001, "-5e-324"),
    (0x7fefffffffffffff, "1.7976931348623157e+308"),
    (0xffefffffffffffff, "-1.7976931348623157e+308"),
    (0x4340000000000000, "9007199254740992"),
    (0xc340000000000000, "-9007199254740992"),
    (0x4430000000000000, "295147905179352830000"),
    (0x44b52d02c7e14af5, "9.999999999999997e+22"),
    (0x44b52d02c7e14af6, "1e+23"),
    (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
    (0x444b1ae4d6e2ef4e, "999999999999999700000"),
    (0x444b1ae4d6e2ef4f, "999999999999999900000"),
    (0x444b1ae4d6e2ef50, "1e+21"),
    (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
    (0x3eb0c6f7a0b5ed8d, "0.000001"),
    (0x41b3de4355555553, "333333333.3333332"),
    (0x41b3de4355555554, "333333333.33333325"),
    (0x41b3de4355555555, "333333333.3333333"),
    (0x41b3de4355555556, "333333333.3333334"),
    (0x41b3de4355555557, "333333333.33333343"),
    (0xbecbf647612f3696, "-0.0000033333333333333333"),
    (0x43143ff3c1cb0959, "1424953923781206.2"),
];

#[test]
fn appendix_b_numbers() {
    for &(bits, want) in APPENDIX_B {
        assert_eq!(
            fmt_f64(f64::from_bits(bits)).as_deref(),
            Ok(want),
            "0x{bits:016x}"
        );
    }
}

#[test]
fn appendix_b_non_finite_is_an_error() {
    for bits in [
        0x7fffffffffffffffu64,
        0x7ff0000000000000,
        0xfff0000000000000,
    ] {
        assert_eq!(fmt_f64(f64::from_bits(bits)), Err(JcsError::NonFinite));
    }
    assert_eq!(to_canonical(&[f64::NAN]), Err(JcsError::NonFinite));
}

/// Exact ties between two shortest candidates go to the even digit, as in ES (V8
/// prints 8878312490102.312 for 8878312490102.3125; a naive shortest formatter `.313`).
#[test]
#[allow(clippy::excessive_precision)] // the exact binary values are the point
fn shortest_digit_ties_round_to_even() {
    assert_eq!(
        fmt_f64(8878312490102.3125).as_deref(),
        Ok("8878312490102.312")
    );
    assert_eq!(
        fmt_f64(1015143918898083.25).as_deref(),
        Ok("1015143918898083.2")
    );
    assert_eq!(
        fmt_f64(-155111830739470.125).as_deref(),
        Ok("-155111830739470.12")
    );
}

#[test]
fn es_notation_boundaries() {
    let cases: &[(f64, &str)] = &[
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (1e-6, "0.000001"),
        (0.1, "0.1"),
        (123.456, "123.456"),
        (-1.0, "-1"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.25e21, "1.25e+21"),
        (5e-324, "5e-324"),
        (2.5, "2.5"),
    ];
    for &(f, want) in cases {
        assert_eq!(fmt_f64(f).as_deref(), Ok(want), "{f:e}");
    }
}

#[test]
fn rfc_3_2_2_sample_is_byte_exact() {
    let input = r#"{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"#;
    let want = "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\"string\":\"\u{20ac}$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}";
    assert_eq!(canon_str(input), want);
}

#[test]
fn rfc_3_2_3_key_sorting_uses_utf16_order() {
    let input = r#"{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}"#;
    let want = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
\"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
\"\u{1F600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
    assert_eq!(canon_str(input), want);
}

#[test]
fn string_escaping_is_minimal() {
    let v = Value::String("\u{0}\u{1f}\u{7f}\u{2028}\u{2029}\u{8}\t\n\u{c}\r\"\\/é😀".into());
    let out = to_canonical_vec(&v).expect("canon");
    assert_eq!(
        String::from_utf8(out).expect("utf8"),
        "\"\\u0000\\u001f\u{7f}\u{2028}\u{2029}\\b\\t\\n\\f\\r\\\"\\\\/é😀\""
    );
}

#[test]
fn nested_structures_and_literals() {
    assert_eq!(
        canon_str(r#" { "b" : [ 1 , { "d" : true , "c" : null } ] , "a" : -0.0 , "e": 1.0 } "#),
        r#"{"a":0,"b":[1,{"c":null,"d":true}],"e":1}"#
    );
    let mut out = b"prefix:".to_vec();
    write_canonical(&json!([]), &mut out).expect("canon");
    assert_eq!(out, b"prefix:[]");
}

#[test]
fn unsafe_integers_are_rejected_with_path() {
    let err = parse(r#"{"a":{"b":9007199254740993}}"#).unwrap_err();
    assert_eq!(
        err,
        JcsError::UnsafeInteger {
            path: "$.a.b".into(),
            value: "9007199254740993".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "number 9007199254740993 at $.a.b is outside the I-JSON safe integer range (±2^53); send it as a string"
    );
    assert!(
        matches!(parse("[-9007199254740993]"), Err(JcsError::UnsafeInteger { path, .. }) if path == "$[0]")
    );
    // An over-long integer literal that a parser would round to a double is refused too.
    assert!(matches!(
        parse("123456789012345678901"),
        Err(JcsError::UnsafeInteger { .. })
    ));
    // Values built in code are checked when written.
    assert!(matches!(
        to_canonical_vec(&json!({"x": [u64::MAX]})),
        Err(JcsError::UnsafeInteger { path, .. }) if path == "$.x[0]"
    ));
    assert!(matches!(
        to_canonical_vec(&json!(i64::MIN)),
        Err(JcsError::UnsafeInteger { .. })
    ));
    // The boundary itself and large doubles in exponent form are fine.
    assert_eq!(
        canon_str("[9007199254740992,-9007199254740992,1e21]"),
        "[9007199254740992,-9007199254740992,1e+21]"
    );
}

#[test]
fn duplicate_keys_are_rejected_with_path() {
    let err = parse(r#"{"a":[{"x":1,"y":2,"x":3}]}"#).unwrap_err();
    assert_eq!(
        err,
        JcsError::DuplicateKey {
            path: "$.a[0].x".into(),
            key: "x".into()
        }
    );
    assert!(err
        .to_string()
        .contains("duplicate member name \"x\" at $.a[0].x"));
    // Escaped spellings of the same name are the same name.
    assert!(matches!(
        parse(r#"{"a":1,"\u0061":2}"#),
        Err(JcsError::DuplicateKey { .. })
    ));
}

#[test]
fn depth_limit() {
    let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    assert!(parse(&nest(64)).is_ok());
    assert!(matches!(
        parse(&nest(65)),
        Err(JcsError::TooDeep { max: 64, .. })
    ));
    let tight = ParseLimits { max_depth: 2 };
    assert!(parse_strict(br#"{"a":[1]}"#, &tight).is_ok());
    assert_eq!(
        parse_strict(br#"{"a":[{}]}"#, &tight),
        Err(JcsError::TooDeep {
            max: 2,
            path: "$.a[0]".into()
        })
    );
    assert!(parse_strict(b"1", &ParseLimits { max_depth: 0 }).is_ok());
}

#[test]
fn invalid_utf8_reports_offset() {
    assert_eq!(
        parse_strict(b"{\"a\":\"\xff\"}", &ParseLimits::default()),
        Err(JcsError::InvalidUtf8 { offset: 6 })
    );
    assert_eq!(
        parse_strict(b"\"ok\xc3\"", &ParseLimits::default()),
        Err(JcsError::InvalidUtf8 { offset: 3 })
    );
    let msg = JcsError::InvalidUtf8 { offset: 6 }.to_string();
    assert!(msg.contains("byte offset 6"), "{msg}");
}

#[test]
fn syntax_errors_and_trailing_garbage() {
    for bad in [
        "",
        "{",
        "[1,]",
        "{\"a\" 1}",
        "1 2",
        "{} x",
        "NaN",
        "\"\u{1}\"",
        r#""\ud800""#,
        "\u{feff}{}",
        "1e400",
    ] {
        assert!(
            matches!(parse(bad), Err(JcsError::Syntax(_))),
            "{bad:?} -> {:?}",
            parse(bad)
        );
    }
    let msg = parse("[1,]").unwrap_err().to_string();
    assert!(msg.contains("line 1 column"), "{msg}");
}

#[test]
fn utf16_comparator_examples() {
    use std::cmp::Ordering::*;
    assert_eq!(cmp_utf16("", "a"), Less);
    assert_eq!(cmp_utf16("a", "a"), Equal);
    assert_eq!(cmp_utf16("\u{10000}", "\u{e000}"), Less);
    assert_eq!(cmp_utf16("\u{ffff}", "\u{10ffff}"), Greater);
    assert_eq!(cmp_utf16("\u{d7ff}", "\u{10000}"), Less);
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-(1i64 << 53)..=(1i64 << 53)).prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite, not an unsafe integer", |f| {
                f.is_finite() && !(f.abs() > 9007199254740992.0 && f.abs() < 1e21)
            })
            .prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::String),
        "[\\u{0}-\\u{7f}\\u{e000}-\\u{ffff}\\u{10000}-\\u{10ffff}]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(
                "[a-c\\u{e000}\\u{ffff}\\u{10000}\\u{1f600}\\r]{0,3}",
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn canonicalization_is_idempotent(v in arb_json()) {
        let once = to_canonical_vec(&v).expect("canonicalize");
        let reparsed = parse_strict(&once, &ParseLimits::default()).expect("canonical output parses");
        let twice = to_canonical_vec(&reparsed).expect("canonicalize again");
        prop_assert_eq!(&once, &twice);
        // And it agrees with serde_json's own parser on the data.
        let loose: Value = serde_json::from_slice(&once).expect("serde_json parses it");
        prop_assert_eq!(loose, reparsed);
    }

    #[test]
    fn finite_f64_round_trips_bit_exact(bits in any::<u64>()) {
        let f = f64::from_bits(bits);
        prop_assume!(f.is_finite());
        let s = fmt_f64(f).expect("finite");
        let back: f64 = s.parse().expect("Rust parses ES form");
        if f == 0.0 {
            prop_assert_eq!(back.to_bits(), 0);
        } else {
            prop_assert_eq!(back.to_bits(), bits, "{} -> {}", f, s);
        }
        let via_json: f64 = serde_json::from_str(&s).expect("serde_json parses ES form");
        prop_assert_eq!(via_json.to_bits(), back.to_bits());
    }

    #[test]
    fn object_order_matches_utf16_code_units(a in any::<String>(), b in any::<String>()) {
        let want = a.encode_utf16().cmp(b.encode_utf16());
        prop_assert_eq!(cmp_utf16(&a, &b), want);
    }

    #[test]
    fn parse_strict_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_strict(&bytes, &ParseLimits::default());
    }

    #[test]
    fn parse_strict_never_panics_on_jsonish_text(s in "[\\[\\]{}\":,0-9eE+.\\-a-z\\\\ ]{0,64}") {
        if let Ok(v) = parse_strict(s.as_bytes(), &ParseLimits::default()) {
            prop_assert!(to_canonical_vec(&v).is_ok());
        }
    }
}
