//! Evidence for tests: a small log (sealtrail-core's [`SyntheticLog`]) and
//! the JSON the server would answer about it, honest or with one byte
//! changed. The native tests and the `wasm_fixtures` example (which writes
//! them out for the Node test of the built module) share it. Nothing in the
//! module's exports reaches it, so the .wasm does not carry it.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use sealtrail_core::bundle::synthetic::{SyntheticError, SyntheticLog};
use sealtrail_core::filter::EventFilter;
use sealtrail_core::hash::leaf_hash;
use sealtrail_core::proof::{prove_consistency, prove_inclusion, MemoryTree};

use crate::entry::{EntryEvidence, LastSeen};

/// The log's name (and its key's).
pub const ORIGIN: &str = "console.example/log";

/// A synthetic log, its tree, and the JSON the server gives about it.
pub struct TestLog {
    pub log: SyntheticLog,
    tree: MemoryTree,
    /// Agents take turns from this list; another list makes another
    /// history under the same key (a fork).
    agents: &'static [&'static str],
}

/// Why a fixture could not be made (a bug in the test, not in the code).
#[derive(Debug)]
pub struct FixtureError(pub String);

impl From<SyntheticError> for FixtureError {
    fn from(e: SyntheticError) -> Self {
        FixtureError(e.to_string())
    }
}

fn fixture_err(e: impl std::fmt::Display) -> FixtureError {
    FixtureError(e.to_string())
}

impl TestLog {
    /// `n` entries by agents `bot`, `other` and `third` in sessions `s1`
    /// and `s2`.
    pub fn new(n: u64) -> Result<Self, FixtureError> {
        Self::with_agents(n, &["bot", "other", "third"])
    }

    /// The same key, other entries: a second history of the log.
    pub fn forked(n: u64) -> Result<Self, FixtureError> {
        Self::with_agents(n, &["mallory", "other", "third"])
    }

    fn with_agents(n: u64, agents: &'static [&'static str]) -> Result<Self, FixtureError> {
        let mut t = TestLog {
            log: SyntheticLog::new(ORIGIN)?,
            tree: MemoryTree::new(),
            agents,
        };
        t.append(n)?;
        Ok(t)
    }

    pub fn append(&mut self, n: u64) -> Result<(), FixtureError> {
        for _ in 0..n {
            let i = self.log.entries.len() as u64;
            let agent = self.agents[(i % self.agents.len() as u64) as usize];
            let session = if i % 2 == 0 { "s1" } else { "s2" };
            let kind = if i % 5 == 0 { "decision" } else { "tool_call" };
            let index = self
                .log
                .append(agent, Some(session), kind, 1_000_000 + 10 * i)?;
            let bytes = &self.log.entries[index as usize].bytes;
            self.tree.push(leaf_hash(bytes));
        }
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    pub fn vkey(&self) -> String {
        self.log.vkey()
    }

    /// The signed checkpoint of the log as it is now (`GET /v1/checkpoint`).
    pub fn checkpoint(&mut self) -> Result<String, FixtureError> {
        String::from_utf8(self.log.checkpoint()?.to_bytes()).map_err(fixture_err)
    }

    /// `GET /v1/entries/{index}` with the `bodies` scope.
    pub fn entry(&self, index: u64) -> Result<Value, FixtureError> {
        let e = self
            .log
            .entries
            .get(index as usize)
            .ok_or_else(|| FixtureError(format!("no entry {index}")))?;
        Ok(json!({
            "index": index,
            "leaf_hash": leaf_hash(&e.bytes).to_hex(),
            "header": serde_json::from_slice::<Value>(&e.bytes).map_err(fixture_err)?,
            "body": serde_json::from_slice::<Value>(&e.body).map_err(fixture_err)?,
            "salt": hex::encode(e.salt),
        }))
    }

    /// `GET /v1/entries/{index}/proof?size={size}`.
    pub fn proof(&self, index: u64, size: u64) -> Result<Value, FixtureError> {
        let e = self
            .log
            .entries
            .get(index as usize)
            .ok_or_else(|| FixtureError(format!("no entry {index}")))?;
        let path = prove_inclusion(&self.tree, index, size).map_err(fixture_err)?;
        let root = sealtrail_core::proof::tree_root(&self.tree, size).map_err(fixture_err)?;
        Ok(json!({
            "index": index,
            "size": size,
            "leaf_hash": leaf_hash(&e.bytes).to_hex(),
            "root": root.to_base64(),
            "path": path.iter().map(|h| h.to_base64()).collect::<Vec<_>>(),
        }))
    }

    /// `GET /v1/consistency?from={from}&to={to}`.
    pub fn consistency(&self, from: u64, to: u64) -> Result<Value, FixtureError> {
        let path = prove_consistency(&self.tree, from, to).map_err(fixture_err)?;
        Ok(json!({
            "from": from,
            "to": to,
            "path": path.iter().map(|h| h.to_base64()).collect::<Vec<_>>(),
        }))
    }

    /// Everything the console hands over about entry `index`, against the
    /// log's checkpoint now, with its key pinned and nothing seen before.
    pub fn evidence(&mut self, index: u64) -> Result<EntryEvidence, FixtureError> {
        Ok(EntryEvidence {
            entry: self.entry(index)?,
            proof: self.proof(index, self.size())?,
            checkpoint: self.checkpoint()?,
            vkey: self.vkey(),
            last_seen: None,
        })
    }

    /// A bundle of agent `bot`'s entries (stream completeness) with bodies,
    /// in format `version`, as ZIP bytes.
    pub fn bundle(&mut self, version: u64) -> Result<Vec<u8>, FixtureError> {
        write_zip(&self.bundle_members(version)?)
    }

    /// The bundle's members, for tampering before they are zipped.
    pub fn bundle_members(
        &mut self,
        version: u64,
    ) -> Result<BTreeMap<String, Vec<u8>>, FixtureError> {
        let q = EventFilter {
            agent: Some(self.agents[0].to_owned()),
            ..EventFilter::default()
        };
        Ok(if version == 1 {
            self.log.bundle_v1(&q, true)?
        } else {
            self.log.bundle(&q, true)?
        })
    }
}

/// Members as a ZIP file.
pub fn write_zip(members: &BTreeMap<String, Vec<u8>>) -> Result<Vec<u8>, FixtureError> {
    sealtrail_core::bundle::zip::write_zip(members).map_err(fixture_err)
}

/// `last` seen before, with the consistency proof from it to now.
pub fn last_seen(checkpoint: String, consistency: Value) -> Option<LastSeen> {
    Some(LastSeen {
        checkpoint,
        consistency,
    })
}

/// `text` with one character of its base64 run at `at` changed to another
/// base64 character: the decoded bytes differ, the text still decodes.
pub fn flip_base64(text: &str, at: usize) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    if let Some(c) = chars.get_mut(at) {
        *c = if *c == 'A' { 'B' } else { 'A' };
    }
    chars.into_iter().collect()
}

/// The checkpoint note with a byte of its signature changed.
pub fn flip_signature(note: &str) -> String {
    // The signature line is the last: "— <name> <base64(key id ‖ sig)>".
    let Some(start) = note.trim_end().rfind(' ') else {
        return note.to_owned();
    };
    let (head, sig) = note.split_at(start + 1);
    format!("{head}{}", flip_base64(sig, 20))
}

/// `s` with the first `from` replaced by `to`; unchanged (and the caller's
/// assertion fails) if `from` is not there.
pub fn replace_once(s: &str, from: &str, to: &str) -> String {
    s.replacen(from, to, 1)
}

/// The bytes of `member` with the first `from` replaced by `to`.
pub fn tamper_member(
    members: &mut BTreeMap<String, Vec<u8>>,
    member: &str,
    from: &str,
    to: &str,
) -> Result<(), FixtureError> {
    let bytes = members
        .get(member)
        .ok_or_else(|| FixtureError(format!("no member {member}")))?;
    let text = String::from_utf8(bytes.clone()).map_err(fixture_err)?;
    let changed = replace_once(&text, from, to);
    if changed == text {
        return Err(FixtureError(format!("{from:?} is not in {member}")));
    }
    members.insert(member.to_owned(), changed.into_bytes());
    Ok(())
}

/// One entry to verify and what must come of it.
pub struct EntryCase {
    pub name: &'static str,
    pub evidence: EntryEvidence,
    /// The checks that fail (none: the verdict is ok).
    pub failing: &'static [&'static str],
    /// Words the first failing check's detail (or, for a passing case, the
    /// warnings) must contain.
    pub says: &'static str,
}

/// Honest and tampered evidence about entry 5 of a log of 12 entries,
/// against its checkpoint at size 12, with what has been seen before.
pub fn entry_cases() -> Result<Vec<EntryCase>, FixtureError> {
    use crate::entry::{BODY, CONSISTENCY, INCLUSION, LEAF, SIGNATURE};
    const I: u64 = 5;
    let mut t = TestLog::new(8)?;
    let cp8 = t.checkpoint()?;
    t.append(4)?;
    let cp12 = t.checkpoint()?;
    let good = EntryEvidence {
        entry: t.entry(I)?,
        proof: t.proof(I, 12)?,
        checkpoint: cp12.clone(),
        vkey: t.vkey(),
        last_seen: None,
    };
    let consistency_8_12 = t.consistency(8, 12)?;
    t.append(4)?;
    let cp16 = t.checkpoint()?;
    let fork12 = TestLog::forked(12)?.checkpoint()?;
    let fork8 = TestLog::forked(8)?.checkpoint()?;
    let other_key = sealtrail_core::note::Ed25519Signer::from_seed(ORIGIN, [8; 32])
        .map_err(fixture_err)?
        .vkey();

    let text = |v: &Value| Value::String(v.to_string());
    let edit = |v: &Value, from: &str, to: &str| -> Result<Value, FixtureError> {
        let s = v.to_string();
        let changed = replace_once(&s, from, to);
        if changed == s {
            return Err(FixtureError(format!("{from:?} is not in {s}")));
        }
        Ok(Value::String(changed))
    };
    let with = |f: &dyn Fn(&mut EntryEvidence)| {
        let mut e = good.clone();
        f(&mut e);
        e
    };
    let agent = format!("\"agent\":\"{}\"", t.agents[(I % 3) as usize]);
    let altered_agent = format!("{}X\"", &agent[..agent.len() - 2]);
    let header_tampered = edit(&good.entry, &agent, &altered_agent)?;
    let body_tampered = edit(
        &good.entry,
        "\"action\":\"lookup\"",
        "\"action\":\"lookuP\"",
    )?;
    let mut proof_tampered = good.proof.clone();
    if let Some(h) = proof_tampered["path"][0].as_str() {
        proof_tampered["path"][0] = Value::String(flip_base64(h, 5));
    }
    let mut no_body = good.entry.clone();
    no_body["body"] = Value::Null;
    no_body["salt"] = Value::Null;

    let case = |name, evidence, failing, says| EntryCase {
        name,
        evidence,
        failing,
        says,
    };
    Ok(vec![
        case("good", good.clone(), &[], ""),
        case(
            "good, as response text",
            with(&|e| {
                e.entry = text(&e.entry);
                e.proof = text(&e.proof);
            }),
            &[],
            "",
        ),
        case(
            "no body (a key without the bodies scope)",
            with(&|e| e.entry = no_body.clone()),
            &[],
            "was not checked against its commitment",
        ),
        case(
            "a byte of the header changed",
            with(&|e| e.entry = header_tampered.clone()),
            &[LEAF, INCLUSION],
            "leaf hash differs: header bytes were altered",
        ),
        case(
            "a byte of the body changed",
            with(&|e| e.entry = body_tampered.clone()),
            &[BODY],
            "body differs from the header's commitment",
        ),
        case(
            "a byte of the proof changed",
            with(&|e| e.proof = proof_tampered.clone()),
            &[INCLUSION],
            "the audit path does not lead",
        ),
        case(
            "a byte of the checkpoint's signature changed",
            with(&|e| e.checkpoint = flip_signature(&e.checkpoint)),
            &[SIGNATURE],
            "does not verify with the pinned key",
        ),
        case(
            "another key pinned",
            with(&|e| e.vkey = other_key.clone()),
            &[SIGNATURE],
            "does not verify with the pinned key",
        ),
        case(
            "no key pinned",
            with(&|e| e.vkey = String::new()),
            &[SIGNATURE],
            "no key is pinned",
        ),
        case(
            "seen before: the same checkpoint",
            with(&|e| e.last_seen = last_seen(cp12.clone(), Value::Null)),
            &[],
            "",
        ),
        case(
            "seen before: a smaller tree it extends",
            with(&|e| e.last_seen = last_seen(cp8.clone(), consistency_8_12.clone())),
            &[],
            "",
        ),
        case(
            "seen before: a smaller tree, no consistency proof given",
            with(&|e| e.last_seen = last_seen(cp8.clone(), Value::Null)),
            &[CONSISTENCY],
            "no consistency proof",
        ),
        case(
            "fork: another tree of the same size",
            with(&|e| e.last_seen = last_seen(fork12.clone(), Value::Null)),
            &[CONSISTENCY],
            "FORK",
        ),
        case(
            "fork: a smaller tree it does not extend",
            with(&|e| e.last_seen = last_seen(fork8.clone(), consistency_8_12.clone())),
            &[CONSISTENCY],
            "FORK",
        ),
        case(
            "rollback: a larger tree was seen",
            with(&|e| e.last_seen = last_seen(cp16.clone(), Value::Null)),
            &[CONSISTENCY],
            "ROLLBACK",
        ),
    ])
}

/// One bundle to verify and what must come of it.
pub struct BundleCase {
    pub name: &'static str,
    pub zip: Vec<u8>,
    pub vkeys: Vec<String>,
    pub failing: &'static [&'static str],
    pub says: &'static str,
}

/// Bundles of both formats, honest and tampered.
pub fn bundle_cases() -> Result<Vec<BundleCase>, FixtureError> {
    use crate::bundle::{ENTRIES, FILE, INCLUSION, MANIFEST_CHECK, SIGNATURE};
    let mut t = TestLog::new(30)?;
    let vkey = t.vkey();
    let other_key = sealtrail_core::note::Ed25519Signer::from_seed(ORIGIN, [8; 32])
        .map_err(fixture_err)?
        .vkey();
    let mut out = Vec::new();
    let case = |name, zip, vkeys: &[&String], failing, says| BundleCase {
        name,
        zip,
        vkeys: vkeys.iter().map(|s| (*s).clone()).collect(),
        failing,
        says,
    };
    for (version, entries) in [(1u64, "entries.jsonl"), (2, "entries/0.jsonl")] {
        let good = t.bundle_members(version)?;
        let zip = write_zip(&good)?;
        let name = |v1, v2| if version == 1 { v1 } else { v2 };
        out.push(case(name("v1", "v2"), zip.clone(), &[&vkey], &[], ""));
        out.push(case(
            name("v1, no key pinned", "v2, no key pinned"),
            zip.clone(),
            &[],
            &[],
            "no key is pinned",
        ));
        out.push(case(
            name("v1, another key pinned", "v2, another key pinned"),
            zip.clone(),
            &[&other_key],
            // A claim is proven only when nothing failed.
            &[SIGNATURE, MANIFEST_CHECK],
            "signature does not verify with the trusted key",
        ));
        out.push(case(
            name("v1, cut short", "v2, cut short"),
            zip[..zip.len() - 30].to_vec(),
            &[&vkey],
            &[FILE],
            "not a complete ZIP file",
        ));
        let mut m = good.clone();
        // Headers and bodies are JSON strings in a line; `"id"` is the body's.
        tamper_member(&mut m, entries, r#"\"id\":\"e"#, r#"\"id\":\"E"#)?;
        out.push(case(
            name(
                "v1, a byte of a body changed",
                "v2, a byte of a body changed",
            ),
            write_zip(&m)?,
            &[&vkey],
            &[ENTRIES, MANIFEST_CHECK],
            "body does not match the header's commitment",
        ));
        let mut m = good.clone();
        // `"time"` is only in headers (the server's time of sealing).
        tamper_member(
            &mut m,
            entries,
            r#"\"time\":1000000"#,
            r#"\"time\":1000001"#,
        )?;
        let (failing, says): (&'static [&'static str], _) = if version == 1 {
            (
                &[ENTRIES, INCLUSION, MANIFEST_CHECK],
                "the entry's leaf hash and the proof's path do not lead to the checkpoint's root",
            )
        } else {
            (&[INCLUSION, MANIFEST_CHECK], "0 of 10 entries proven")
        };
        out.push(case(
            name(
                "v1, a byte of a header changed",
                "v2, a byte of a header changed",
            ),
            write_zip(&m)?,
            &[&vkey],
            failing,
            says,
        ));
    }
    Ok(out)
}
