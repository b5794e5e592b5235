//! Evidence bundles from a real `sealtrail serve`: a small log with three
//! agents over three rounds a few milliseconds apart, exported with
//! `sealtrail export`, and helpers to take a bundle apart and zip it again
//! (for tamper tests, and for the independent verifier's tests).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sealtrail_core::bundle::{chunk_member_index, entries_members};
use serde_json::{json, Value};

use crate::cli::{init, Server};

/// Agents of the test log, one event each in turn.
pub const AGENTS: [&str; 3] = ["bot", "other", "third"];
/// Events per round.
pub const PER_ROUND: u64 = 12;

/// A running server with a log of three rounds of events.
pub struct LogWithBundles {
    /// The `sealtrail` binary that serves and exports.
    pub bin: String,
    pub dir: tempfile::TempDir,
    pub server: Server,
    pub key: String,
    pub vkey: String,
    /// Sealed time of the first event of round 1 and of round 2: a range
    /// `[t1, t2)` holds round 1 exactly.
    pub t1: u64,
    pub t2: u64,
}

impl LogWithBundles {
    pub fn start(bin: &str) -> LogWithBundles {
        let dir = tempfile::tempdir().unwrap();
        let (key, vkey) = init(bin, dir.path(), &[]);
        let server = Server::start(bin, dir.path(), "0.05", &[], None);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut starts = Vec::new();
        for round in 0..3u64 {
            let events: Vec<Value> = (0..PER_ROUND)
                .map(|i| {
                    let agent = AGENTS[(i % 3) as usize];
                    json!({
                        "id": format!("r{round}-{i}"),
                        "agent": {"id": agent},
                        "session": format!("{agent}-session"),
                        "kind": if i % 4 == 0 { "decision" } else { "tool_call" },
                        "tool": {"name": "crm.lookup", "arguments": {"customer": i}},
                        "output": format!("result {round}/{i}"),
                    })
                })
                .collect();
            let body: Value = rt.block_on(async {
                reqwest::Client::new()
                    .post(format!("{}/v1/events?wait=checkpoint", server.url))
                    .bearer_auth(&key)
                    .json(&events)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap()
            });
            starts.push(body["results"][0]["time"].as_u64().expect("sealed time"));
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        LogWithBundles {
            bin: bin.to_string(),
            dir,
            server,
            key,
            vkey,
            t1: starts[1],
            t2: starts[2],
        }
    }

    /// `sealtrail export --server … --api-key … ARGS -o OUT`, as it ran.
    pub fn export(&self, args: &[&str], out: &Path) -> Output {
        Command::new(&self.bin)
            .args([
                "export",
                "--server",
                &self.server.url,
                "--api-key",
                &self.key,
            ])
            .args(args)
            .arg("-o")
            .arg(out)
            .output()
            .unwrap()
    }

    /// A bundle for `args`, which must export; its path.
    pub fn bundle(&self, args: &[&str], name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        let out = self.export(args, &path);
        assert!(
            out.status.success(),
            "sealtrail export {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        path
    }

    /// The completeness bundle of agent `bot` over round 1.
    pub fn agent_bundle(&self) -> PathBuf {
        let (t1, t2) = (self.t1.to_string(), self.t2.to_string());
        self.bundle(&["--agent", "bot", "--from", &t1, "--to", &t2], "bot.zip")
    }
}

/// Every member of a ZIP, in file order.
pub fn read_zip(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut b = Vec::new();
            f.read_to_end(&mut b).unwrap();
            (f.name().to_string(), b)
        })
        .collect()
}

/// Writes members as a ZIP (deflate, version 1's proofs stored), as an
/// attacker would.
pub fn write_zip(path: &Path, members: &[(String, Vec<u8>)]) {
    use zip::write::SimpleFileOptions;
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in members {
        let method = if name.starts_with("proofs/") {
            zip::CompressionMethod::Stored
        } else {
            zip::CompressionMethod::Deflated
        };
        z.start_file(
            name.as_str(),
            SimpleFileOptions::default().compression_method(method),
        )
        .unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap();
}

/// `bin verify BUNDLE --vkey VKEY --json`: exit code and report.
pub fn verify_json(bin: &str, bundle: &Path, vkey: &str) -> (i32, Value) {
    let out = Command::new(bin)
        .arg("verify")
        .arg(bundle)
        .args(["--vkey", vkey, "--json"])
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "verify --json printed no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), report)
}

/// Every entries line of a bundle's members, in bundle order, whichever
/// the format version.
pub fn entries_text(members: &std::collections::BTreeMap<String, Vec<u8>>) -> String {
    entries_members(members.keys())
        .iter()
        .map(|n| String::from_utf8_lossy(&members[n]).into_owned())
        .collect()
}

/// The entries lines as JSON values, whichever the format version.
pub fn entry_lines(members: &[(String, Vec<u8>)]) -> Vec<Value> {
    // A version 2 bundle without entries has no entries member.
    entries_members(members.iter().map(|(n, _)| n))
        .iter()
        .flat_map(|name| {
            let (_, bytes) = members.iter().find(|(n, _)| n == name).unwrap();
            String::from_utf8(bytes.clone())
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect()
}

/// Replaces the entries with these lines (compact JSON, one per line), as
/// an attacker would: `entries.jsonl` in version 1; in version 2 one member
/// `entries/0.jsonl`, with the manifest's `chunks` fixed to match.
pub fn set_entry_lines(members: &mut Vec<(String, Vec<u8>)>, lines: &[Value]) {
    let mut text = String::new();
    for l in lines {
        text.push_str(&serde_json::to_string(l).unwrap());
        text.push('\n');
    }
    if members.iter().any(|(n, _)| n == "entries.jsonl") {
        member_mut(members, "entries.jsonl").clone_from(&text.into_bytes());
        return;
    }
    members.retain(|(n, _)| chunk_member_index(n).is_none());
    members.push(("entries/0.jsonl".into(), text.into_bytes()));
    let manifest = member_mut(members, "manifest.json");
    let mut m: Value = serde_json::from_slice(manifest).unwrap();
    m["chunks"] = 1.into();
    *manifest = serde_json::to_vec_pretty(&m).unwrap();
}

pub fn member_mut<'a>(members: &'a mut [(String, Vec<u8>)], name: &str) -> &'a mut Vec<u8> {
    &mut members
        .iter_mut()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no member {name}"))
        .1
}

/// The members of a zip (an evidence bundle), by name.
pub fn unzip(bytes: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = std::collections::BTreeMap::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let mut b = Vec::new();
        f.read_to_end(&mut b).unwrap();
        out.insert(f.name().to_string(), b);
    }
    out
}
