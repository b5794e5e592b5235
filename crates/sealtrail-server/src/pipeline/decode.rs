//! Decode: request bodies → events, each validated on its own so one bad
//! event does not sink the others (DESIGN §3), scanned for sensitive data
//! and redacted (`sensitive`) before anything is sealed.

use sealtrail_core::event::Event;
use sealtrail_core::jcs::{self, ParseLimits};
use serde_json::value::RawValue;

use crate::error::{ApiError, ErrorBody, StatusCode};
use crate::sensitive::Sensitive;
use crate::sequencer::PreparedEvent;

/// How the body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// A JSON array of events, or one event object.
    Json,
    /// One event per line.
    Ndjson,
}

impl Framing {
    /// From a `Content-Type` value; `None` means unsupported (415).
    pub fn from_content_type(ct: Option<&str>) -> Option<Framing> {
        let Some(ct) = ct else {
            return Some(Framing::Json);
        };
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match mime.as_str() {
            "application/json" | "" => Some(Framing::Json),
            "application/x-ndjson"
            | "application/jsonl"
            | "application/jsonlines"
            | "application/x-jsonlines" => Some(Framing::Ndjson),
            _ => None,
        }
    }
}

/// One decoded slot of the request.
pub type Slot = Result<PreparedEvent, ErrorBody>;

fn rejected(code: &'static str, message: String, field: Option<String>) -> ErrorBody {
    ErrorBody {
        code: code.into(),
        message,
        field,
    }
}

/// Validates one event's bytes and canonicalises its body; `salt` is the
/// fresh random salt of its commitment.
/// What preparing an event needs besides its bytes.
#[derive(Clone, Copy)]
pub struct PrepareWith<'a> {
    pub max_event_bytes: usize,
    /// Scanning and redaction; `None` when turned off.
    pub sensitive: Option<&'a Sensitive>,
}

pub fn prepare(bytes: &[u8], with: PrepareWith<'_>, salt: [u8; 32]) -> Slot {
    let max_event_bytes = with.max_event_bytes;
    if bytes.len() > max_event_bytes {
        return Err(rejected(
            "event_too_large",
            format!(
                "event is {} bytes; the limit is {max_event_bytes} bytes",
                bytes.len()
            ),
            None,
        ));
    }
    let invalid = |e: sealtrail_core::event::EventError| {
        let field = (e.path != "$").then(|| e.path.clone());
        rejected("invalid_event", e.to_string(), field)
    };
    let Some(sensitive) = with.sensitive else {
        let (event, body) = Event::parse_with_body(bytes).map_err(invalid)?;
        return Ok(PreparedEvent::new(event, body, salt));
    };
    let value = jcs::parse_strict(bytes, &ParseLimits::DEFAULT)
        .map_err(|e| invalid(sealtrail_core::event::EventError::from(e)))?;
    let event = Event::from_value_ref(&value).map_err(invalid)?;
    let scanned = sensitive
        .apply(value, event)
        .map_err(|why| rejected("unredactable_event", why, None))?;
    let mut p = PreparedEvent::new(scanned.event, scanned.body, salt);
    p.data_classes = scanned.data_classes;
    p.redacted = scanned.redacted;
    Ok(p)
}

/// One fresh salt per event, from one call to the OS generator.
pub(crate) fn salts(n: usize) -> Result<Vec<[u8; 32]>, ApiError> {
    let mut out = vec![[0u8; 32]; n];
    getrandom::fill(out.as_flattened_mut())
        .map_err(|e| ApiError::internal(format!("no randomness for body salts: {e}")))?;
    Ok(out)
}

/// Validates each event with its own salt.
fn prepare_all<'a>(
    items: impl ExactSizeIterator<Item = &'a [u8]>,
    with: PrepareWith<'_>,
) -> Result<Vec<Slot>, ApiError> {
    let salts = salts(items.len())?;
    Ok(items
        .zip(salts)
        .map(|(bytes, salt)| prepare(bytes, with, salt))
        .collect())
}

/// The elements of a JSON array, as raw text, refusing (with `over` set)
/// once there are more than `max`: a 16 MiB array of `{}` must cost at most
/// `max` slots, never millions.
struct CappedArray<'c> {
    max: usize,
    over: &'c std::cell::Cell<bool>,
}

impl<'de> serde::de::DeserializeSeed<'de> for CappedArray<'_> {
    type Value = Vec<&'de RawValue>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for CappedArray<'_> {
    type Value = Vec<&'de RawValue>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON array of events")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            if items.len() == self.max {
                self.over.set(true);
                return Err(serde::de::Error::custom(format_args!(
                    "more than {} events",
                    self.max
                )));
            }
            items.push(item);
        }
        Ok(items)
    }
}

/// `413` for a request with more than `max_events` events (counting stops
/// there, so the real number is not known).
fn too_many(max_events: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_many_events",
        format!(
            "request holds more than {max_events} events; the limit is {max_events} per request"
        ),
    )
}

/// The array's elements, at most `max_events` of them.
fn split_array(body: &[u8], max_events: usize) -> Result<Vec<&RawValue>, ApiError> {
    use serde::de::DeserializeSeed;
    let over = std::cell::Cell::new(false);
    let mut de = serde_json::Deserializer::from_slice(body);
    let items = CappedArray {
        max: max_events,
        over: &over,
    }
    .deserialize(&mut de)
    .and_then(|items| de.end().map(|()| items));
    items.map_err(|e| {
        if over.get() {
            too_many(max_events)
        } else {
            ApiError::bad_request(
                "invalid_json",
                format!("request body is not a JSON array of events: {e}"),
            )
        }
    })
}

/// The non-blank lines, at most `max_events` of them.
fn split_lines(body: &[u8], max_events: usize) -> Result<Vec<&[u8]>, ApiError> {
    let mut lines = Vec::new();
    let all = body
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace));
    for line in all {
        if lines.len() == max_events {
            return Err(too_many(max_events));
        }
        lines.push(line);
    }
    Ok(lines)
}

/// Splits and validates a request body. Whole-request problems (not JSON at
/// all, too many events) are an `ApiError`; per-event problems are slots.
pub fn decode(
    body: &[u8],
    framing: Framing,
    max_events: usize,
    with: PrepareWith<'_>,
) -> Result<Vec<Slot>, ApiError> {
    let empty = || ApiError::bad_request("empty_request", "the request holds no events");
    match framing {
        Framing::Ndjson => {
            let lines = split_lines(body, max_events)?;
            if lines.is_empty() {
                return Err(empty());
            }
            prepare_all(lines.iter().copied(), with)
        }
        Framing::Json => {
            let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
            match first {
                Some(b'[') => {
                    let items = split_array(body, max_events)?;
                    if items.is_empty() {
                        return Err(empty());
                    }
                    prepare_all(items.iter().map(|raw| raw.get().as_bytes()), with)
                }
                Some(b'{') if max_events == 0 => Err(too_many(0)),
                Some(b'{') => prepare_all(std::iter::once(body), with),
                Some(_) => Err(ApiError::bad_request(
                    "invalid_json",
                    "request body must be a JSON array of events or one event object",
                )),
                None => Err(ApiError::bad_request(
                    "empty_request",
                    "the request body is empty",
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(max_event_bytes: usize) -> PrepareWith<'static> {
        PrepareWith {
            max_event_bytes,
            sensitive: None,
        }
    }

    #[test]
    fn one_bad_event_does_not_sink_the_others() {
        let body = br#"[{"agent":{"id":"a"},"kind":"tool_call"},{"agent":{},"kind":"tool_call"},{"agent":{"id":"b"},"kind":"nope"}]"#;
        let slots = decode(body, Framing::Json, 100, plain(1 << 20)).unwrap();
        assert!(slots[0].is_ok());
        let e1 = slots[1].as_ref().unwrap_err();
        assert_eq!(e1.field.as_deref(), Some("agent.id"));
        assert_eq!(e1.code, "invalid_event");
        let e2 = slots[2].as_ref().unwrap_err();
        assert_eq!(e2.field.as_deref(), Some("kind"));
        assert!(e2.message.contains("tool_call"), "{}", e2.message);
    }

    #[test]
    fn ndjson_lines_map_to_slots_and_blank_lines_are_skipped() {
        let body = b"{\"agent\":{\"id\":\"a\"},\"kind\":\"decision\"}\r\n\n{not json}\n";
        let slots = decode(body, Framing::Ndjson, 100, plain(1 << 20)).unwrap();
        assert_eq!(slots.len(), 2);
        assert!(slots[0].is_ok());
        assert_eq!(slots[1].as_ref().unwrap_err().code, "invalid_event");
    }

    #[test]
    fn whole_request_errors() {
        assert_eq!(
            decode(b"[1,", Framing::Json, 10, plain(100))
                .unwrap_err()
                .body
                .code,
            "invalid_json"
        );
        assert_eq!(
            decode(b"  ", Framing::Json, 10, plain(100))
                .unwrap_err()
                .body
                .code,
            "empty_request"
        );
        assert_eq!(
            decode(b"42", Framing::Json, 10, plain(100))
                .unwrap_err()
                .body
                .code,
            "invalid_json"
        );
        let many = format!("[{}]", ["{}"; 11].join(","));
        let e = decode(many.as_bytes(), Framing::Json, 10, plain(100)).unwrap_err();
        assert_eq!(e.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(e.body.message.contains("limit is 10"));
        // Exactly at the limit is fine, and trailing garbage is still caught.
        let ten = format!("[{}]", ["{}"; 10].join(","));
        assert_eq!(
            decode(ten.as_bytes(), Framing::Json, 10, plain(100))
                .unwrap()
                .len(),
            10
        );
        let trailing = format!("{ten} x");
        assert_eq!(
            decode(trailing.as_bytes(), Framing::Json, 10, plain(100))
                .unwrap_err()
                .body
                .code,
            "invalid_json"
        );
    }

    #[test]
    fn counting_stops_at_the_first_event_over_the_limit() {
        // What follows event 11 is never looked at: not parsed (the array's
        // garbage tail would be a 400), not collected.
        let head = ["{}"; 11].join(",");
        let body = format!("[{head},{}", "nonsense ".repeat(1000));
        let e = decode(body.as_bytes(), Framing::Json, 10, plain(100)).unwrap_err();
        assert_eq!(e.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(e.body.code, "too_many_events");
        assert!(
            e.body.message.contains("more than 10 events"),
            "{}",
            e.body.message
        );
        let lines = "{}\n".repeat(11) + "\n\n";
        let e = decode(lines.as_bytes(), Framing::Ndjson, 10, plain(100)).unwrap_err();
        assert_eq!(e.body.code, "too_many_events");
        let ten = "{}\r\n".repeat(10) + "  \n";
        assert_eq!(
            decode(ten.as_bytes(), Framing::Ndjson, 10, plain(100))
                .unwrap()
                .len(),
            10
        );
    }

    #[test]
    fn oversized_event_is_rejected_alone() {
        let big = format!(
            r#"[{{"agent":{{"id":"a"}},"kind":"custom","output":"{}"}},{{"agent":{{"id":"a"}},"kind":"custom"}}]"#,
            "x".repeat(200)
        );
        let slots = decode(big.as_bytes(), Framing::Json, 10, plain(100)).unwrap();
        assert_eq!(slots[0].as_ref().unwrap_err().code, "event_too_large");
        assert!(slots[1].is_ok());
    }

    #[test]
    fn content_types() {
        assert_eq!(Framing::from_content_type(None), Some(Framing::Json));
        assert_eq!(
            Framing::from_content_type(Some("application/json; charset=utf-8")),
            Some(Framing::Json)
        );
        assert_eq!(
            Framing::from_content_type(Some("application/x-ndjson")),
            Some(Framing::Ndjson)
        );
        assert_eq!(Framing::from_content_type(Some("text/csv")), None);
    }
}
