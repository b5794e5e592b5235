//! C2SP `tlog-checkpoint`: the signed tree head of a log, carried as the text of a
//! signed note.
//!
//! ```text
//! <origin>\n
//! <tree size, decimal>\n
//! <root hash, base64>\n
//! [<extension line>\n ...]
//! ```
//!
//! Parsing is strict (no leading zeros, canonical base64, no empty extension
//! lines) so that every checkpoint has exactly one encoding.

use crate::hash::{Hash, HashParseError};
use crate::note::{Note, NoteError, NoteSigner, NoteVerifier, VerifiedSignature};

/// A tree head: which log, how many entries, and the Merkle root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Identifies the log; conventionally a schema-less URL, equal to the log's key name.
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// Extra lines after the root, without their `\n`; each non-empty.
    pub extensions: Vec<String>,
}

/// Why checkpoint text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint text must end with a newline")]
    MissingFinalNewline,
    #[error("checkpoint has no {0} line")]
    MissingLine(&'static str),
    #[error("checkpoint origin line is empty")]
    EmptyOrigin,
    #[error("checkpoint contains control character U+{code:04X} at byte {offset}")]
    ControlCharacter { code: u8, offset: usize },
    #[error("checkpoint field {field} contains a newline")]
    NewlineInField { field: &'static str },
    #[error("checkpoint tree size {line:?}: {reason}")]
    Size { line: String, reason: &'static str },
    #[error("checkpoint root hash {line:?}: {source}")]
    Root {
        line: String,
        source: HashParseError,
    },
    #[error("checkpoint extension line {line} is empty (extension lines must be non-empty)")]
    EmptyExtension { line: usize },
    #[error("checkpoint note: {0}")]
    Note(#[from] NoteError),
    #[error(
        "checkpoint origin {origin:?} is not signed by a trusted key of that name (verified keys: {verified})"
    )]
    OriginNotSigned { origin: String, verified: String },
}

/// Parses a decimal without sign or leading zeros ("0" itself is fine) into a u64.
pub(crate) fn parse_decimal(s: &str) -> Result<u64, &'static str> {
    if s.is_empty() {
        return Err("empty");
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not a decimal number");
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err("leading zeros are not allowed");
    }
    s.parse::<u64>().map_err(|_| "does not fit in 64 bits")
}

impl Checkpoint {
    /// The note text: three lines plus extensions, each ending in `\n`.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root.to_base64()
        );
        for e in &self.extensions {
            out.push_str(e);
            out.push('\n');
        }
        out
    }

    /// Checks that [`Checkpoint::to_text`] yields text that parses back to `self`
    /// (fields are public, so this is checked before signing).
    pub fn validate(&self) -> Result<(), CheckpointError> {
        if self.origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        if self.origin.contains('\n') {
            return Err(CheckpointError::NewlineInField { field: "origin" });
        }
        for (i, e) in self.extensions.iter().enumerate() {
            if e.is_empty() {
                return Err(CheckpointError::EmptyExtension { line: i + 4 });
            }
            if e.contains('\n') {
                return Err(CheckpointError::NewlineInField { field: "extension" });
            }
        }
        check_controls(&self.to_text())
    }

    /// Parses checkpoint text (the text of the note, ending in `\n`).
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        check_controls(text)?;
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::MissingFinalNewline)?;
        let mut lines = body.split('\n');
        let origin = lines.next().ok_or(CheckpointError::MissingLine("origin"))?;
        if origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        let size_line = lines
            .next()
            .ok_or(CheckpointError::MissingLine("tree size"))?;
        let size = parse_decimal(size_line).map_err(|reason| CheckpointError::Size {
            line: size_line.to_owned(),
            reason,
        })?;
        let root_line = lines
            .next()
            .ok_or(CheckpointError::MissingLine("root hash"))?;
        let root = Hash::from_base64(root_line).map_err(|source| CheckpointError::Root {
            line: root_line.to_owned(),
            source,
        })?;
        let mut extensions = Vec::new();
        for (i, line) in lines.enumerate() {
            if line.is_empty() {
                return Err(CheckpointError::EmptyExtension { line: i + 4 });
            }
            extensions.push(line.to_owned());
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }
}

fn check_controls(text: &str) -> Result<(), CheckpointError> {
    match text
        .bytes()
        .enumerate()
        .find(|&(_, b)| b < 0x20 && b != b'\n')
    {
        Some((offset, code)) => Err(CheckpointError::ControlCharacter { code, offset }),
        None => Ok(()),
    }
}

/// Which origin rule [`SignedCheckpoint::open_with`] applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginCheck {
    /// The origin must equal the name of a key that verified a signature. This is
    /// the convention (log key name = origin) and stops a witness-only-signed or
    /// foreign-log checkpoint from passing as this log's.
    MatchKeyName,
    /// No origin rule: for logs whose key name differs from their origin. The
    /// caller must then check `checkpoint.origin` and which key signed itself.
    Any,
}

/// A checkpoint together with the signed note that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    pub note: Note,
}

impl SignedCheckpoint {
    /// Signs a checkpoint (log key first, by convention) after validating it.
    pub fn sign(
        checkpoint: Checkpoint,
        signers: &[&dyn NoteSigner],
    ) -> Result<SignedCheckpoint, CheckpointError> {
        checkpoint.validate()?;
        let note = Note::sign(&checkpoint.to_text(), signers)?;
        Ok(SignedCheckpoint { checkpoint, note })
    }

    /// Parses, verifies (signed-note rules) and requires the origin to be the name
    /// of a trusted key that signed ([`OriginCheck::MatchKeyName`]).
    pub fn open(
        bytes: &[u8],
        verifiers: &[&dyn NoteVerifier],
    ) -> Result<SignedCheckpoint, CheckpointError> {
        Self::open_with(bytes, verifiers, OriginCheck::MatchKeyName).map(|(c, _)| c)
    }

    /// Like [`SignedCheckpoint::open`] with an explicit origin rule; also returns
    /// the verified signatures (e.g. to count witness cosignatures).
    pub fn open_with(
        bytes: &[u8],
        verifiers: &[&dyn NoteVerifier],
        origin_check: OriginCheck,
    ) -> Result<(SignedCheckpoint, Vec<VerifiedSignature>), CheckpointError> {
        let note = Note::parse(bytes)?;
        let verified = note.verify(verifiers)?;
        let checkpoint = Checkpoint::parse(note.text())?;
        if origin_check == OriginCheck::MatchKeyName
            && !verified.iter().any(|v| v.name == checkpoint.origin)
        {
            return Err(CheckpointError::OriginNotSigned {
                origin: checkpoint.origin,
                verified: verified
                    .iter()
                    .map(|v| format!("{}+{:08x}", v.name, v.key_id))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        Ok((SignedCheckpoint { checkpoint, note }, verified))
    }

    /// Adds signatures, typically witness cosignatures.
    pub fn add_signatures(&mut self, signers: &[&dyn NoteSigner]) -> Result<(), CheckpointError> {
        Ok(self.note.add_signatures(signers)?)
    }

    /// The signed note bytes (what is served at `/checkpoint`).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.note.to_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::sha256;
    use crate::note::Ed25519Signer;

    fn cp() -> Checkpoint {
        Checkpoint {
            origin: "example.com/log".into(),
            size: 42,
            root: sha256(b"root"),
            extensions: vec!["ext one".into()],
        }
    }

    fn err(text: &str) -> String {
        Checkpoint::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn text_round_trip() {
        let c = cp();
        let text = c.to_text();
        assert_eq!(
            text,
            format!(
                "example.com/log\n42\n{}\next one\n",
                sha256(b"root").to_base64()
            )
        );
        assert_eq!(Checkpoint::parse(&text).unwrap(), c);
    }

    #[test]
    fn parse_messages() {
        let root = sha256(b"r").to_base64();
        assert_eq!(
            err(&format!("o\n042\n{root}\n")),
            "checkpoint tree size \"042\": leading zeros are not allowed"
        );
        assert_eq!(
            err(&format!("o\n+42\n{root}\n")),
            "checkpoint tree size \"+42\": not a decimal number"
        );
        assert_eq!(
            err(&format!("o\n18446744073709551616\n{root}\n")),
            "checkpoint tree size \"18446744073709551616\": does not fit in 64 bits"
        );
        assert!(Checkpoint::parse(&format!("o\n18446744073709551615\n{root}\n")).is_ok());
        assert!(Checkpoint::parse(&format!("o\n0\n{root}\n")).is_ok());
        assert_eq!(
            err("o\n1\nAAAA\n"),
            "checkpoint root hash \"AAAA\": expected a 32-byte hash, got 3 bytes"
        );
        assert_eq!(
            err(&format!("\n1\n{root}\n")),
            "checkpoint origin line is empty"
        );
        assert_eq!(err("o\n1\n"), "checkpoint has no root hash line");
        assert_eq!(
            err(&format!("o\n1\n{root}")),
            "checkpoint text must end with a newline"
        );
        assert_eq!(
            err(&format!("o\n1\n{root}\na\n\n")),
            "checkpoint extension line 5 is empty (extension lines must be non-empty)"
        );
        assert_eq!(
            err(&format!("o\t\n1\n{root}\n")),
            "checkpoint contains control character U+0009 at byte 1"
        );
    }

    #[test]
    fn sign_and_open() {
        let log = Ed25519Signer::from_seed("example.com/log", [1; 32]).unwrap();
        let sc = SignedCheckpoint::sign(cp(), &[&log]).unwrap();
        let v = log.verifier();
        let opened = SignedCheckpoint::open(&sc.to_bytes(), &[&v]).unwrap();
        assert_eq!(opened, sc);
    }

    #[test]
    fn origin_must_match_a_verified_key() {
        let other = Ed25519Signer::from_seed("other.example", [2; 32]).unwrap();
        let sc = SignedCheckpoint::sign(cp(), &[&other]).unwrap();
        let v = other.verifier();
        let e = SignedCheckpoint::open(&sc.to_bytes(), &[&v]).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "checkpoint origin \"example.com/log\" is not signed by a trusted key of that name (verified keys: other.example+{:08x})",
                v_id(&other)
            )
        );
        let (got, sigs) =
            SignedCheckpoint::open_with(&sc.to_bytes(), &[&v], OriginCheck::Any).unwrap();
        assert_eq!(got.checkpoint, cp());
        assert_eq!(sigs.len(), 1);
    }

    fn v_id(s: &Ed25519Signer) -> u32 {
        crate::note::NoteSigner::key_id(s)
    }

    #[test]
    fn sign_rejects_invalid_fields() {
        let log = Ed25519Signer::from_seed("example.com/log", [1; 32]).unwrap();
        let mut c = cp();
        c.origin = "a\nb".into();
        assert_eq!(
            SignedCheckpoint::sign(c, &[&log]).unwrap_err().to_string(),
            "checkpoint field origin contains a newline"
        );
        let mut c = cp();
        c.extensions.push(String::new());
        assert!(matches!(
            SignedCheckpoint::sign(c, &[&log]),
            Err(CheckpointError::EmptyExtension { line: 5 })
        ));
    }
}
