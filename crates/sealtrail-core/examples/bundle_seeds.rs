//! Seed inputs for the `bundle` fuzz target (fuzz/fuzz_targets/bundle.rs):
//! small real bundles of a synthetic log, as ZIP files (mode byte 0) and as
//! bare members (mode byte 1, `name \0 bytes` joined by `FF FE`). Written
//! here rather than kept in git, so no binary file lives in the repository.
//!
//! Run: `cargo run -p sealtrail-core --features zip --example bundle_seeds -- DIR`

use std::collections::BTreeMap;
use std::path::PathBuf;

use sealtrail_core::bundle::synthetic::SyntheticLog;
use sealtrail_core::bundle::verify_members;
use sealtrail_core::bundle::zip::write_zip;
use sealtrail_core::filter::EventFilter;
use sealtrail_core::note::NoteVerifier;

/// The origin the fuzz target trusts.
const ORIGIN: &str = "example.com/fuzz";

fn bare(members: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut out = vec![1u8];
    for (i, (name, bytes)) in members.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(&[0xFF, 0xFE]);
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.extend_from_slice(bytes);
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: bundle_seeds DIR (the bundle target's corpus)")?,
    );
    std::fs::create_dir_all(&dir)?;
    let mut log = SyntheticLog::new(ORIGIN)?;
    for i in 0..7u64 {
        let agent = ["bot", "other"][(i % 2) as usize];
        let kind = if i % 3 == 0 { "decision" } else { "tool_call" };
        log.append(agent, Some(&format!("{agent}-s")), kind, 100 + 10 * i)?;
    }
    let queries = [
        (
            "agent",
            EventFilter {
                agent: Some("bot".into()),
                ..EventFilter::default()
            },
        ),
        (
            "range",
            EventFilter {
                from: Some(120),
                to: Some(150),
                ..EventFilter::default()
            },
        ),
        (
            "kind",
            EventFilter {
                kind: Some("decision".into()),
                ..EventFilter::default()
            },
        ),
    ];
    for (name, q) in queries {
        let members = log.bundle(&q, true)?;
        // A seed that does not verify would start the fuzzer off the path.
        let report = verify_members(
            &mut members.clone(),
            &[&log.verifier() as &dyn NoteVerifier],
        );
        if !report.ok() {
            return Err(format!("seed {name} does not verify: {:?}", report.failures).into());
        }
        let mut zip = vec![0u8];
        zip.extend(write_zip(&members)?);
        std::fs::write(dir.join(format!("seed-zip-{name}")), zip)?;
        std::fs::write(dir.join(format!("seed-members-{name}")), bare(&members))?;
    }
    Ok(())
}
