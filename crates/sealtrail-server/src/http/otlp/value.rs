//! OTLP `AnyValue` → JSON, keeping every value inside what the signed body
//! may hold (I-JSON: safe integers, finite numbers).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use sealtrail_core::event::MAX_SAFE_COUNTER;
use serde_json::{Map, Value};

/// One attribute value as JSON. Integers beyond ±(2^53−1) and non-finite
/// doubles become strings (the event body is I-JSON); bytes become base64.
pub fn to_json(v: &AnyValue) -> Value {
    match &v.value {
        None => Value::Null,
        Some(Any::StringValue(s)) => Value::String(s.clone()),
        Some(Any::BoolValue(b)) => Value::Bool(*b),
        Some(Any::IntValue(i)) if i.unsigned_abs() <= MAX_SAFE_COUNTER => Value::from(*i),
        Some(Any::IntValue(i)) => Value::String(i.to_string()),
        Some(Any::DoubleValue(d)) => serde_json::Number::from_f64(*d)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(d.to_string())),
        Some(Any::BytesValue(b)) => Value::String(STANDARD.encode(b)),
        Some(Any::ArrayValue(a)) => Value::Array(a.values.iter().map(to_json).collect()),
        Some(Any::KvlistValue(kv)) => Value::Object(object(&kv.values)),
        // A newer OTLP value type (string table references): keep it visible
        // rather than failing the span.
        #[allow(unreachable_patterns)]
        Some(_) => Value::Null,
    }
}

/// A list of key/values as a JSON object (a repeated key: the last wins).
pub fn object(kvs: &[KeyValue]) -> Map<String, Value> {
    kvs.iter()
        .filter(|kv| !kv.key.is_empty())
        .map(|kv| {
            let v = kv.value.as_ref().map(to_json).unwrap_or(Value::Null);
            (kv.key.clone(), v)
        })
        .collect()
}

/// A string attribute, or an integer one as its decimal text (ids such as
/// `jsonrpc.request.id` come as either).
pub fn as_text(v: &AnyValue) -> Option<String> {
    match &v.value {
        Some(Any::StringValue(s)) => Some(s.clone()),
        Some(Any::IntValue(i)) => Some(i.to_string()),
        _ => None,
    }
}

/// A non-negative count (token usage): an integer, or digits in a string.
pub fn as_count(v: &AnyValue) -> Option<u64> {
    match &v.value {
        Some(Any::IntValue(i)) => u64::try_from(*i).ok(),
        Some(Any::DoubleValue(d)) if d.fract() == 0.0 && *d >= 0.0 && *d < 9.0e15 => {
            Some(*d as u64)
        }
        Some(Any::StringValue(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|n| *n <= MAX_SAFE_COUNTER)
}

/// Free-form content (`input.value`, `gen_ai.tool.call.arguments`, …): a
/// string holding a JSON object or array becomes that JSON, so it can be
/// queried; anything else is kept as sent.
pub fn as_content(v: &AnyValue) -> Value {
    if let Some(Any::StringValue(s)) = &v.value {
        let t = s.trim_start();
        if t.starts_with('{') || t.starts_with('[') {
            if let Ok(parsed) = serde_json::from_str::<Value>(s) {
                if sealtrail_core::jcs::check_value(&parsed).is_ok() {
                    return parsed;
                }
            }
        }
    }
    to_json(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::ArrayValue;

    fn any(v: Any) -> AnyValue {
        AnyValue { value: Some(v) }
    }

    #[test]
    fn values_stay_i_json() {
        assert_eq!(to_json(&any(Any::IntValue(42))), Value::from(42));
        assert_eq!(
            to_json(&any(Any::IntValue(i64::MAX))),
            Value::String(i64::MAX.to_string())
        );
        assert_eq!(
            to_json(&any(Any::DoubleValue(f64::NAN))),
            Value::String("NaN".into())
        );
        assert_eq!(
            to_json(&any(Any::BytesValue(vec![1, 2]))),
            Value::String("AQI=".into())
        );
        let arr = any(Any::ArrayValue(ArrayValue {
            values: vec![any(Any::BoolValue(true))],
        }));
        assert_eq!(to_json(&arr), serde_json::json!([true]));
    }

    #[test]
    fn content_parses_json_text_only() {
        let obj = any(Any::StringValue(r#"{"city":"Paris"}"#.into()));
        assert_eq!(as_content(&obj), serde_json::json!({"city": "Paris"}));
        let text = any(Any::StringValue("{not json".into()));
        assert_eq!(as_content(&text), Value::String("{not json".into()));
        let big = any(Any::StringValue(r#"{"n": 18446744073709551615}"#.into()));
        assert!(as_content(&big).is_string());
    }

    #[test]
    fn counts() {
        assert_eq!(as_count(&any(Any::IntValue(7))), Some(7));
        assert_eq!(as_count(&any(Any::IntValue(-1))), None);
        assert_eq!(as_count(&any(Any::StringValue("12".into()))), Some(12));
        assert_eq!(as_count(&any(Any::BoolValue(true))), None);
    }
}
