//! The JSON answers of the sealtrail HTTP API (docs/api.md), as Rust types.
//!
//! Decoding is lenient about fields it does not know (a newer server may add
//! some) and strict about the ones it reads (hashes must be hashes).

use sealtrail_core::hash::Hash;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The receipts of `POST /v1/events` (the API's wire types, shared with the server).
pub use sealtrail_api::ingest::{EventResult, IngestResponse, Receipt};

/// `GET /v1/entries/{index}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryResponse {
    pub index: u64,
    pub leaf_hash: Hash,
    /// The sealed header; its RFC 8785 form is the entry bytes.
    pub header: Value,
    /// The event, or `None` once erased.
    #[serde(default)]
    pub body: Option<Value>,
    /// The body's salt in hex, or `None` once erased.
    #[serde(default)]
    pub salt: Option<String>,
}

/// `GET /v1/events` and `GET /v1/stats` requests: the one entry filter
/// ([`EventFilter`], built by its validator) and the page or grouping.
pub use sealtrail_api::filter::{EventFilter, EventsQuery, StatsGroup, StatsQuery};

/// One entry of a `GET /v1/events` page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueriedEvent {
    pub index: u64,
    /// Server time, microseconds since the epoch.
    pub time: u64,
    pub leaf_hash: Hash,
    /// The sealed header.
    pub header: Value,
    /// With bodies asked for: the event (`Some(Null)` once erased).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Value>,
    /// With bodies asked for: the salt in hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<Value>,
}

/// A page of `GET /v1/events`. More entries may match while `next_cursor`
/// is set, even after a short or empty page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventsPage {
    pub events: Vec<QueriedEvent>,
    pub next_cursor: Option<u64>,
}

/// One group of `GET /v1/stats`: its grouped columns (`day` as
/// `YYYY-MM-DD`; `outcome` null for entries without one) and its count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsRow {
    pub count: u64,
    #[serde(flatten)]
    pub groups: serde_json::Map<String, Value>,
}

/// The answer of `GET /v1/stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsResponse {
    pub group_by: Vec<String>,
    pub rows: Vec<StatsRow>,
    pub total: u64,
}

/// `GET /v1/entries/{index}/proof[?size=N]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofResponse {
    pub index: u64,
    pub size: u64,
    pub leaf_hash: Hash,
    /// Root of the tree of `size` leaves (base64 on the wire).
    #[serde(with = "b64_hash")]
    pub root: Hash,
    /// Inclusion path, leaf sibling first (base64 on the wire).
    #[serde(with = "b64_hashes")]
    pub path: Vec<Hash>,
    /// The `c2sp.org/tlog-proof@v1` text, when `size` is a signed checkpoint's size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tlog_proof: Option<String>,
}

/// `GET /v1/consistency?from=A&to=B`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyResponse {
    pub from: u64,
    pub to: u64,
    #[serde(with = "b64_hashes")]
    pub path: Vec<Hash>,
}

mod b64_hash {
    use sealtrail_core::hash::Hash;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(h: &Hash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&h.to_base64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Hash::from_base64(&s).map_err(serde::de::Error::custom)
    }
}

mod b64_hashes {
    use sealtrail_core::hash::Hash;
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(hs: &[Hash], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(hs.len()))?;
        for h in hs {
            seq.serialize_element(&h.to_base64())?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Hash>, D::Error> {
        let v = Vec::<std::borrow::Cow<'de, str>>::deserialize(d)?;
        v.iter()
            .enumerate()
            .map(|(i, s)| {
                Hash::from_base64(s)
                    .map_err(|e| serde::de::Error::custom(format!("path[{i}]: {e}")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H1: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    const H2: &str = "1c8bfe8f801d79745c4631d09fff36c82aa37fc4cce4fc946683d7b336b63032";

    #[test]
    fn ingest_response_with_every_status() {
        let text = format!(
            r#"{{
  "accepted": 2, "duplicates": 1, "rejected": 1,
  "results": [
    {{"status": "sealed", "index": 41, "leaf_hash": "{H1}", "time": 1795000000123456}},
    {{"status": "duplicate", "index": 7, "leaf_hash": "{H2}", "time": 1794999999000000}},
    {{"status": "rejected", "error": {{"code": "invalid_event", "field": "agent.id", "message": "agent.id: required field is missing"}}}},
    {{"status": "sealed", "index": 42, "leaf_hash": "{H1}", "time": 1795000000123457, "proof": "c2sp.org/tlog-proof@v1\n", "future_field": true}}
  ]
}}"#
        );
        let r: IngestResponse = serde_json::from_str(&text).unwrap();
        assert_eq!((r.accepted, r.duplicates, r.rejected), (2, 1, 1));
        assert_eq!(r.results.len(), 4);
        match &r.results[0] {
            EventResult::Sealed(rc) => {
                assert_eq!(rc.index, 41);
                assert_eq!(rc.leaf_hash.to_hex(), H1);
                assert_eq!(rc.time, 1795000000123456);
                assert_eq!(rc.proof, None);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&r.results[1], EventResult::Duplicate(rc) if rc.index == 7));
        match &r.results[2] {
            EventResult::Rejected(e) => {
                assert_eq!(e.code, "invalid_event");
                assert_eq!(e.field.as_deref(), Some("agent.id"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            r.results[3].receipt().unwrap().proof.as_deref(),
            Some("c2sp.org/tlog-proof@v1\n")
        );
        assert_eq!(r.results[2].status(), "rejected");
        // Round trip through our own serialization.
        let again: IngestResponse =
            serde_json::from_slice(&serde_json::to_vec(&r).unwrap()).unwrap();
        assert_eq!(again, r);
        let v = serde_json::to_value(&r.results[2]).unwrap();
        assert_eq!(v["status"], "rejected");
        assert_eq!(v["error"]["code"], "invalid_event");
    }

    #[test]
    fn bad_results_are_refused() {
        for bad in [
            r#"{"accepted":1,"duplicates":0,"rejected":0,"results":[{"status":"sealed","index":1,"leaf_hash":"zz","time":1}]}"#,
            r#"{"accepted":1,"duplicates":0,"rejected":0,"results":[{"status":"lost","index":1}]}"#,
            r#"{"accepted":1,"duplicates":0,"rejected":0,"results":[{"index":1}]}"#,
            r#"{"accepted":0,"duplicates":0,"rejected":1,"results":[{"status":"rejected"}]}"#,
            r#"{"accepted":1}"#,
        ] {
            assert!(
                serde_json::from_str::<IngestResponse>(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn entry_response() {
        let text = format!(
            r#"{{"index": 41, "leaf_hash": "{H1}", "header": {{"v": 1, "index": 41}}, "body": null, "salt": null}}"#
        );
        let e: EntryResponse = serde_json::from_str(&text).unwrap();
        assert_eq!(e.index, 41);
        assert_eq!(e.header["v"], 1);
        assert!(e.body.is_none() && e.salt.is_none());
        let text = format!(
            r#"{{"index": 3, "leaf_hash": "{H2}", "header": {{}}, "body": {{"kind": "custom"}}, "salt": "00ff"}}"#
        );
        let e: EntryResponse = serde_json::from_str(&text).unwrap();
        assert_eq!(e.body.unwrap()["kind"], "custom");
        assert_eq!(e.salt.as_deref(), Some("00ff"));
    }

    #[test]
    fn proof_and_consistency_responses_use_base64() {
        let root = Hash::from_hex(H1).unwrap();
        let sib = Hash::from_hex(H2).unwrap();
        let text = format!(
            r#"{{"index": 41, "size": 1000, "leaf_hash": "{H2}", "root": "{}", "path": ["{}", "{}"], "tlog_proof": "c2sp.org/tlog-proof@v1\nindex 41\n"}}"#,
            root.to_base64(),
            sib.to_base64(),
            root.to_base64()
        );
        let p: ProofResponse = serde_json::from_str(&text).unwrap();
        assert_eq!(p.root, root);
        assert_eq!(p.path, vec![sib, root]);
        assert!(p.tlog_proof.unwrap().starts_with("c2sp.org/tlog-proof@v1"));
        let text = format!(
            r#"{{"index": 0, "size": 1, "leaf_hash": "{H2}", "root": "{}", "path": []}}"#,
            root.to_base64()
        );
        let p: ProofResponse = serde_json::from_str(&text).unwrap();
        assert!(p.tlog_proof.is_none() && p.path.is_empty());
        let back: ProofResponse = serde_json::from_slice(&serde_json::to_vec(&p).unwrap()).unwrap();
        assert_eq!(back, p);
        // A hex root where base64 belongs is refused with the position.
        let bad = format!(
            r#"{{"from": 1, "to": 2, "path": ["{}", "{H1}"]}}"#,
            root.to_base64()
        );
        let err = serde_json::from_str::<ConsistencyResponse>(&bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("path[1]"), "{err}");
        let c: ConsistencyResponse = serde_json::from_str(&format!(
            r#"{{"from": 10, "to": 1000, "path": ["{}"]}}"#,
            sib.to_base64()
        ))
        .unwrap();
        assert_eq!((c.from, c.to, c.path), (10, 1000, vec![sib]));
    }
}
