//! C2SP `tlog-proof@v1`: a self-contained, offline-verifiable proof that an entry
//! is in a log: index, inclusion path and the signed checkpoint (with any witness
//! cosignatures), as one text file (`.tlog-proof`).
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! [extra <base64>]
//! index <decimal>
//! <base64 hash>          (zero or more: leaf sibling first)
//!
//! <checkpoint signed note, verbatim>
//! ```
//!
//! The `extra` data is not authenticated by anything in the proof (the spec says
//! so); applications must not trust it unless they authenticate it themselves,
//! e.g. by recomputing the leaf hash from it.

use crate::checkpoint::{Checkpoint, CheckpointError, OriginCheck, SignedCheckpoint};
use crate::encoding::{b64_decode, b64_encode};
use crate::hash::{Hash, HashParseError};
use crate::note::{NoteVerifier, VerifiedSignature, MAX_NOTE_SIZE};
use crate::proof::{verify_inclusion, ProofError};

/// The first line of every proof.
pub const HEADER: &str = "c2sp.org/tlog-proof@v1";

/// Most inclusion-path hashes: a tree of at most 2^64 leaves has at most 64 levels.
pub const MAX_PATH_LEN: usize = 64;

/// Largest proof we parse: the checkpoint note limit plus a generous 1 MiB for the
/// header, path and extra data.
pub const MAX_PROOF_SIZE: usize = 2 * MAX_NOTE_SIZE;

/// A parsed `tlog-proof@v1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque, unauthenticated application data.
    pub extra: Option<Vec<u8>>,
    pub index: u64,
    /// Inclusion path, leaf sibling first (RFC 6962 §2.1.1).
    pub path: Vec<Hash>,
    /// The checkpoint signed note, byte for byte as the log served it.
    pub checkpoint: Vec<u8>,
}

/// Why a proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlogProofError {
    #[error("proof is {size} bytes; the limit is {max}")]
    TooLarge { size: usize, max: usize },
    #[error("line {line}: not valid UTF-8")]
    InvalidUtf8 { line: usize },
    #[error("proof ends inside line {line} (missing newline)")]
    Truncated { line: usize },
    #[error("first line must be {HEADER:?}, got {0:?}")]
    Header(String),
    #[error("line {line}: expected \"extra <base64>\" or \"index <decimal>\"")]
    ExpectedIndex { line: usize },
    #[error("line {line}: extra data is not valid standard base64")]
    ExtraBase64 { line: usize },
    #[error("line {line}: index {text:?}: {reason}")]
    Index {
        line: usize,
        text: String,
        reason: &'static str,
    },
    #[error("line {line}: inclusion path hash: {source}")]
    PathHash { line: usize, source: HashParseError },
    #[error("inclusion path has more than {MAX_PATH_LEN} hashes")]
    PathTooLong,
    #[error(
        "no checkpoint after the inclusion path (expected an empty line, then the checkpoint)"
    )]
    MissingCheckpoint,
    #[error("{0}")]
    Checkpoint(#[from] CheckpointError),
    #[error("index {index} is not in the checkpoint's tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("inclusion proof: {0}")]
    Inclusion(#[from] ProofError),
}

/// Splits off one `\n`-terminated line from `rest`; `line` is 1-based.
fn take_line<'a>(rest: &mut &'a [u8], line: usize) -> Result<&'a str, TlogProofError> {
    let pos = rest
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(TlogProofError::Truncated { line })?;
    let (head, tail) = rest.split_at(pos);
    *rest = tail.get(1..).unwrap_or_default();
    std::str::from_utf8(head).map_err(|_| TlogProofError::InvalidUtf8 { line })
}

impl TlogProof {
    /// Serializes the proof; `checkpoint` is copied verbatim.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.path.len() * 45 + self.checkpoint.len());
        out.extend_from_slice(HEADER.as_bytes());
        out.push(b'\n');
        if let Some(extra) = &self.extra {
            out.extend_from_slice(b"extra ");
            out.extend_from_slice(b64_encode(extra).as_bytes());
            out.push(b'\n');
        }
        out.extend_from_slice(format!("index {}\n", self.index).as_bytes());
        for h in &self.path {
            out.extend_from_slice(h.to_base64().as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(&self.checkpoint);
        out
    }

    /// Strict parse: exact header, canonical decimal index and base64, at most
    /// [`MAX_PATH_LEN`] hashes, and a checkpoint that is a well-formed signed note
    /// with checkpoint text (signatures are checked by [`TlogProof::verify`]).
    pub fn parse(bytes: &[u8]) -> Result<TlogProof, TlogProofError> {
        if bytes.len() > MAX_PROOF_SIZE {
            return Err(TlogProofError::TooLarge {
                size: bytes.len(),
                max: MAX_PROOF_SIZE,
            });
        }
        let mut rest = bytes;
        let header = take_line(&mut rest, 1)?;
        if header != HEADER {
            return Err(TlogProofError::Header(header.chars().take(80).collect()));
        }
        let mut line_no = 2;
        let mut line = take_line(&mut rest, line_no)?;
        let extra = match line.strip_prefix("extra ") {
            Some(b64) => {
                let data =
                    b64_decode(b64).map_err(|_| TlogProofError::ExtraBase64 { line: line_no })?;
                line_no += 1;
                line = take_line(&mut rest, line_no)?;
                Some(data)
            }
            None => None,
        };
        let index_text = line
            .strip_prefix("index ")
            .ok_or(TlogProofError::ExpectedIndex { line: line_no })?;
        let index = crate::checkpoint::parse_decimal(index_text).map_err(|reason| {
            TlogProofError::Index {
                line: line_no,
                text: index_text.to_owned(),
                reason,
            }
        })?;
        let mut path = Vec::new();
        loop {
            line_no += 1;
            let l = take_line(&mut rest, line_no).map_err(|e| match e {
                TlogProofError::Truncated { .. } => TlogProofError::MissingCheckpoint,
                other => other,
            })?;
            if l.is_empty() {
                break;
            }
            if path.len() == MAX_PATH_LEN {
                return Err(TlogProofError::PathTooLong);
            }
            let h = Hash::from_base64(l).map_err(|source| TlogProofError::PathHash {
                line: line_no,
                source,
            })?;
            path.push(h);
        }
        if rest.is_empty() {
            return Err(TlogProofError::MissingCheckpoint);
        }
        let note = crate::note::Note::parse(rest).map_err(CheckpointError::from)?;
        Checkpoint::parse(note.text())?;
        Ok(TlogProof {
            extra,
            index,
            path,
            checkpoint: rest.to_vec(),
        })
    }

    /// Opens the checkpoint (signatures checked against `verifiers`, origin equal
    /// to a verified key's name), then checks that `leaf` is at `index` in its tree.
    /// Returns the checkpoint the entry is proven against.
    pub fn verify(
        &self,
        leaf: &Hash,
        verifiers: &[&dyn NoteVerifier],
    ) -> Result<Checkpoint, TlogProofError> {
        self.verify_with(leaf, verifiers, OriginCheck::MatchKeyName)
            .map(|(sc, _)| sc.checkpoint)
    }

    /// Like [`TlogProof::verify`] with an explicit origin rule; also returns the
    /// signed checkpoint and its verified signatures (for witness quorum checks).
    pub fn verify_with(
        &self,
        leaf: &Hash,
        verifiers: &[&dyn NoteVerifier],
        origin_check: OriginCheck,
    ) -> Result<(SignedCheckpoint, Vec<VerifiedSignature>), TlogProofError> {
        if self.path.len() > MAX_PATH_LEN {
            return Err(TlogProofError::PathTooLong);
        }
        let (sc, sigs) = SignedCheckpoint::open_with(&self.checkpoint, verifiers, origin_check)?;
        let cp = &sc.checkpoint;
        if self.index >= cp.size {
            return Err(TlogProofError::IndexOutOfRange {
                index: self.index,
                size: cp.size,
            });
        }
        verify_inclusion(self.index, cp.size, leaf, &self.path, &cp.root)?;
        Ok((sc, sigs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    use crate::note::Ed25519Signer;
    use crate::proof::{prove_inclusion, MemoryTree};

    fn setup(n: u64, index: u64) -> (Ed25519Signer, Hash, TlogProof) {
        let log = Ed25519Signer::from_seed("example.com/log", [1; 32]).unwrap();
        let mut tree = MemoryTree::new();
        for i in 0..n {
            tree.push(leaf_hash(&i.to_be_bytes()));
        }
        let cp = Checkpoint {
            origin: "example.com/log".into(),
            size: n,
            root: tree.root(),
            extensions: vec![],
        };
        let sc = SignedCheckpoint::sign(cp, &[&log]).unwrap();
        let proof = TlogProof {
            extra: None,
            index,
            path: prove_inclusion(&tree, index, n).unwrap(),
            checkpoint: sc.to_bytes(),
        };
        (log, leaf_hash(&index.to_be_bytes()), proof)
    }

    fn err(bytes: &[u8]) -> String {
        TlogProof::parse(bytes).unwrap_err().to_string()
    }

    #[test]
    fn round_trip_and_verify() {
        let (log, leaf, mut proof) = setup(13, 6);
        proof.extra = Some(b"hello".to_vec());
        let bytes = proof.to_bytes();
        assert!(bytes.starts_with(b"c2sp.org/tlog-proof@v1\nextra aGVsbG8=\nindex 6\n"));
        let parsed = TlogProof::parse(&bytes).unwrap();
        assert_eq!(parsed, proof);
        let v = log.verifier();
        let cp = parsed.verify(&leaf, &[&v]).unwrap();
        assert_eq!(cp.size, 13);
        assert!(matches!(
            parsed.verify(&leaf_hash(b"other"), &[&v]),
            Err(TlogProofError::Inclusion(
                ProofError::InclusionRootMismatch { .. }
            ))
        ));
    }

    #[test]
    fn single_leaf_tree_has_empty_path() {
        let (log, leaf, proof) = setup(1, 0);
        assert!(proof.path.is_empty());
        let bytes = proof.to_bytes();
        assert!(bytes.starts_with(b"c2sp.org/tlog-proof@v1\nindex 0\n\nexample.com/log\n"));
        let v = log.verifier();
        TlogProof::parse(&bytes)
            .unwrap()
            .verify(&leaf, &[&v])
            .unwrap();
    }

    #[test]
    fn witnessed_proof_reports_cosignatures() {
        use crate::cosignature::CosignatureSigner;
        let (log, leaf, mut proof) = setup(9, 8);
        let w = CosignatureSigner::from_seed("w.example", [4; 32]).unwrap();
        let mut note = crate::note::Note::parse(&proof.checkpoint).unwrap();
        note.add_signatures(&[&w.at(1234).unwrap()]).unwrap();
        proof.checkpoint = note.to_bytes();
        let proof = TlogProof::parse(&proof.to_bytes()).unwrap();
        let (lv, wv) = (log.verifier(), w.verifier());
        let list: [&dyn NoteVerifier; 2] = [&lv, &wv];
        let (sc, sigs) = proof
            .verify_with(&leaf, &list, OriginCheck::MatchKeyName)
            .unwrap();
        assert_eq!(sc.checkpoint.size, 9);
        assert_eq!(sigs.len(), 2);
        assert_eq!(
            crate::cosignature::cosignature_timestamp(&sigs[1].sig),
            Some(1234)
        );
        // Trusting only the witness: the origin is not vouched for by the log key.
        assert!(matches!(
            proof.verify(&leaf, &[&wv]),
            Err(TlogProofError::Checkpoint(
                CheckpointError::OriginNotSigned { .. }
            ))
        ));
    }

    #[test]
    fn index_out_of_range() {
        let (log, leaf, mut proof) = setup(4, 3);
        proof.index = 4;
        let v = log.verifier();
        assert_eq!(
            proof.verify(&leaf, &[&v]).unwrap_err().to_string(),
            "index 4 is not in the checkpoint's tree of size 4"
        );
    }

    #[test]
    fn parse_messages() {
        let (_, _, proof) = setup(4, 1);
        let good = proof.to_bytes();
        let s = std::str::from_utf8(&good).unwrap();
        assert_eq!(
            err(s.replacen("@v1", "@v2", 1).as_bytes()),
            "first line must be \"c2sp.org/tlog-proof@v1\", got \"c2sp.org/tlog-proof@v2\""
        );
        assert_eq!(
            err(s.replacen("index 1", "index 01", 1).as_bytes()),
            "line 2: index \"01\": leading zeros are not allowed"
        );
        assert_eq!(
            err(s.replacen("index 1", "index -1", 1).as_bytes()),
            "line 2: index \"-1\": not a decimal number"
        );
        assert_eq!(
            err(s.replacen("index 1", "idx 1", 1).as_bytes()),
            "line 2: expected \"extra <base64>\" or \"index <decimal>\""
        );
        assert_eq!(
            err(s.replacen("index 1", "extra !!\nindex 1", 1).as_bytes()),
            "line 2: extra data is not valid standard base64"
        );
        let first_hash = proof.path[0].to_base64();
        assert_eq!(
            err(s.replacen(&first_hash, "AAAA", 1).as_bytes()),
            "line 3: inclusion path hash: expected a 32-byte hash, got 3 bytes"
        );
        assert_eq!(
            err(b"c2sp.org/tlog-proof@v1\nindex 1\n"),
            "no checkpoint after the inclusion path (expected an empty line, then the checkpoint)"
        );
        assert_eq!(
            err(b"c2sp.org/tlog-proof@v1\nindex 1\n\n"),
            "no checkpoint after the inclusion path (expected an empty line, then the checkpoint)"
        );
        assert_eq!(
            err(b"c2sp.org/tlog-proof@v1"),
            "proof ends inside line 1 (missing newline)"
        );
        assert_eq!(
            err(b"c2sp.org/tlog-proof@v1\nindex 1\n\nnot a note\n"),
            "checkpoint note: missing blank line before signatures"
        );
        let mut long = String::from("c2sp.org/tlog-proof@v1\nindex 1\n");
        for _ in 0..=MAX_PATH_LEN {
            long.push_str(&first_hash);
            long.push('\n');
        }
        assert_eq!(
            err(long.as_bytes()),
            "inclusion path has more than 64 hashes"
        );
    }
}
