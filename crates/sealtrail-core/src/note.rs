//! C2SP `signed-note`: a text signed by one or more named keys, plus the Ed25519
//! key formats (vkeys and Go/sumdb `PRIVATE+KEY+…` signer keys).
//!
//! Checkpoints, witness cosignatures and `tlog-proof`s are all signed notes, so this
//! module is the single place where note bytes are parsed, and it is strict: every
//! rule of <https://c2sp.org/signed-note> is enforced, and every refusal says which
//! rule and where, so an operator can act on it.
//!
//! Verification follows the spec exactly: signatures from keys the caller does not
//! trust are ignored (even when they share a name *or* a key id with a trusted key),
//! every signature whose name *and* key id match a trusted key must verify (one bad
//! one rejects the whole note), and at least one trusted signature is required.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signature, SigningKey, Verifier as _, VerifyingKey};

use crate::encoding::{b64_decode, b64_encode};
use crate::hash::sha256;

/// Largest note we parse or produce: 1 MiB. Checkpoints are a few hundred bytes;
/// the cap only bounds the work an attacker can make a verifier do.
pub const MAX_NOTE_SIZE: usize = 1 << 20;

/// Most signature lines we accept in one note. The spec requires at least 16;
/// 100 leaves room for large witness sets and matches Cloudflare's `signed_note`.
pub const MAX_SIGNATURES: usize = 100;

/// Signature type byte for plain Ed25519 note signatures (signed-note §Signature types).
pub const SIG_TYPE_ED25519: u8 = 0x01;

/// Signature type byte for timestamped Ed25519 witness cosignatures (tlog-cosignature).
pub const SIG_TYPE_COSIGNATURE_V1: u8 = 0x04;

/// The prefix of every signature line: em dash (U+2014) and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Key id: `SHA-256(name ‖ 0x0A ‖ sig_type ‖ pubkey)[:4]` read big-endian.
///
/// The type byte is part of the hash so the same key can serve several signature
/// types (log signature vs. cosignature) without their ids colliding.
pub fn key_id(name: &str, sig_type: u8, pubkey: &[u8]) -> u32 {
    let mut buf = Vec::with_capacity(name.len() + 2 + pubkey.len());
    buf.extend_from_slice(name.as_bytes());
    buf.push(b'\n');
    buf.push(sig_type);
    buf.extend_from_slice(pubkey);
    let h = sha256(&buf).0;
    u32::from_be_bytes([h[0], h[1], h[2], h[3]])
}

/// Why a key name is not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyNameError {
    #[error("key name is empty")]
    Empty,
    #[error("key name contains '+'")]
    ContainsPlus,
    #[error("key name contains whitespace U+{0:04X}")]
    ContainsWhitespace(u32),
    #[error("key name contains control character U+{0:04X}")]
    ControlCharacter(u32),
}

/// Checks the signed-note key-name rule: non-empty, no Unicode whitespace, no `+`;
/// also no ASCII control character, since a note holding one is invalid anyway.
pub fn check_key_name(name: &str) -> Result<(), KeyNameError> {
    if name.is_empty() {
        return Err(KeyNameError::Empty);
    }
    for c in name.chars() {
        if c == '+' {
            return Err(KeyNameError::ContainsPlus);
        }
        if c.is_whitespace() {
            return Err(KeyNameError::ContainsWhitespace(u32::from(c)));
        }
        if c < ' ' {
            return Err(KeyNameError::ControlCharacter(u32::from(c)));
        }
    }
    Ok(())
}

/// `true` when `name` may be used as a key name (see [`check_key_name`]).
pub fn is_valid_key_name(name: &str) -> bool {
    check_key_name(name).is_ok()
}

/// Something that can sign note text under a name and key id.
pub trait NoteSigner {
    /// The key name written on the signature line.
    fn name(&self) -> &str;
    /// The 4-byte key id written in front of the signature.
    fn key_id(&self) -> u32;
    /// Signature over the note text (the bytes after the key id on the line).
    fn sign(&self, msg: &[u8]) -> Vec<u8>;
}

/// A trusted key: knows its name and key id and checks signatures made with it.
pub trait NoteVerifier {
    /// The key name a signature line must carry to be checked by this key.
    fn name(&self) -> &str;
    /// The key id a signature must carry to be checked by this key.
    fn key_id(&self) -> u32;
    /// `true` when `sig` is a valid signature of `msg` by this key.
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool;
}

/// Why a verifier key (vkey) or signer key (skey) string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("verifier key must look like <name>+<8 hex digit key id>+<base64 key>")]
    VkeyFormat,
    #[error("private key must look like PRIVATE+KEY+<name>+<8 hex digit key id>+<base64 key>")]
    SkeyFormat,
    #[error("invalid key name {name:?}: {reason}")]
    Name { name: String, reason: KeyNameError },
    #[error("key id {0:?} is not 8 hex digits")]
    KeyIdHex(String),
    #[error("key material is not valid standard base64")]
    Base64,
    #[error("key material is empty")]
    Empty,
    #[error("key type 0x{found:02x} ({}) is not accepted here; expected 0x{expected:02x} ({})", type_label(*.found), type_label(*.expected))]
    UnsupportedType { found: u8, expected: u8 },
    #[error("Ed25519 key must be 32 bytes after the type byte, got {0}")]
    Length(usize),
    #[error("not a valid Ed25519 public key")]
    InvalidPublicKey,
    #[error("key id {stated:08x} does not match the key (computed {computed:08x})")]
    KeyIdMismatch { stated: u32, computed: u32 },
}

/// Human name of a signature type byte, for error messages.
fn type_label(t: u8) -> &'static str {
    match t {
        SIG_TYPE_ED25519 => "Ed25519 note signature",
        0x02 => "ECDSA",
        SIG_TYPE_COSIGNATURE_V1 => "Ed25519 tlog cosignature",
        0x05 => "RFC 6962 tree head signature",
        0x06 => "ML-DSA-44 tlog cosignature",
        _ => "unknown type",
    }
}

/// The pieces of a `<name>+<hex8>+<base64(type ‖ key)>` string; the id is already
/// checked against the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VkeyParts {
    pub name: String,
    pub key_id: u32,
    pub sig_type: u8,
    pub key: Vec<u8>,
}

/// Parses 8 hex digits (either case, like Go's `strconv.ParseUint`, but refusing
/// the sign and `0x` prefixes that `from_str_radix` would take).
fn parse_hex8(s: &str) -> Result<u32, KeyError> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(KeyError::KeyIdHex(s.to_owned()));
    }
    u32::from_str_radix(s, 16).map_err(|_| KeyError::KeyIdHex(s.to_owned()))
}

fn checked_name(name: &str) -> Result<(), KeyError> {
    check_key_name(name).map_err(|reason| KeyError::Name {
        name: name.to_owned(),
        reason,
    })
}

/// Splits and checks a vkey: name rule, 8 hex digits, base64, id matches the key.
pub(crate) fn parse_vkey(vkey: &str) -> Result<VkeyParts, KeyError> {
    let (name, rest) = vkey.split_once('+').ok_or(KeyError::VkeyFormat)?;
    let (id16, key64) = rest.split_once('+').ok_or(KeyError::VkeyFormat)?;
    checked_name(name)?;
    let stated = parse_hex8(id16)?;
    let raw = b64_decode(key64).map_err(|_| KeyError::Base64)?;
    let (&sig_type, key) = raw.split_first().ok_or(KeyError::Empty)?;
    let computed = key_id(name, sig_type, key);
    if stated != computed {
        return Err(KeyError::KeyIdMismatch { stated, computed });
    }
    Ok(VkeyParts {
        name: name.to_owned(),
        key_id: stated,
        sig_type,
        key: key.to_vec(),
    })
}

/// Parses a vkey that must hold an Ed25519 public key of type `expected_type`.
pub(crate) fn parse_ed25519_vkey(
    vkey: &str,
    expected_type: u8,
) -> Result<(String, u32, VerifyingKey), KeyError> {
    let parts = parse_vkey(vkey)?;
    if parts.sig_type != expected_type {
        return Err(KeyError::UnsupportedType {
            found: parts.sig_type,
            expected: expected_type,
        });
    }
    let bytes: [u8; 32] = parts
        .key
        .as_slice()
        .try_into()
        .map_err(|_| KeyError::Length(parts.key.len()))?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::InvalidPublicKey)?;
    Ok((parts.name, parts.key_id, key))
}

/// `<name>+<hex8 key id>+<base64(type ‖ key)>`.
pub(crate) fn format_vkey(name: &str, sig_type: u8, key: &[u8]) -> String {
    let mut raw = Vec::with_capacity(1 + key.len());
    raw.push(sig_type);
    raw.extend_from_slice(key);
    format!(
        "{name}+{:08x}+{}",
        key_id(name, sig_type, key),
        b64_encode(&raw)
    )
}

/// Overwrites a buffer that held secret bytes. Best effort: `black_box` keeps the
/// compiler from dropping the writes as dead stores.
pub(crate) fn wipe(buf: &mut [u8]) {
    buf.fill(0);
    std::hint::black_box(buf);
}

/// A parsed `PRIVATE+KEY+<name>+<hex8>+<base64(type ‖ seed)>`; the id is *not* yet
/// checked (that needs the public key, which depends on the type).
pub(crate) struct SkeyParts {
    pub name: String,
    pub stated_id: u32,
    pub sig_type: u8,
    pub seed: [u8; 32],
}

impl Drop for SkeyParts {
    fn drop(&mut self) {
        wipe(&mut self.seed);
    }
}

/// Splits a Go/sumdb signer key; the decoded secret is wiped from the heap.
pub(crate) fn parse_skey(skey: &str) -> Result<SkeyParts, KeyError> {
    let rest = skey
        .strip_prefix("PRIVATE+KEY+")
        .ok_or(KeyError::SkeyFormat)?;
    let (name, rest) = rest.split_once('+').ok_or(KeyError::SkeyFormat)?;
    let (id16, key64) = rest.split_once('+').ok_or(KeyError::SkeyFormat)?;
    checked_name(name)?;
    let stated_id = parse_hex8(id16)?;
    let mut raw = b64_decode(key64).map_err(|_| KeyError::Base64)?;
    let result = match raw.split_first() {
        None => Err(KeyError::Empty),
        Some((&sig_type, seed)) => match <[u8; 32]>::try_from(seed) {
            Ok(seed) => Ok(SkeyParts {
                name: name.to_owned(),
                stated_id,
                sig_type,
                seed,
            }),
            Err(_) => Err(KeyError::Length(seed.len())),
        },
    };
    wipe(&mut raw);
    result
}

/// `PRIVATE+KEY+<name>+<hex8>+<base64(type ‖ seed)>`, built without intermediate
/// heap copies of the seed (the returned string is the caller's to wipe).
pub(crate) fn format_skey(name: &str, id: u32, sig_type: u8, seed: &[u8; 32]) -> String {
    let mut raw = [0u8; 33];
    raw[0] = sig_type;
    raw[1..].copy_from_slice(seed);
    let mut b64 = [0u8; 44];
    let written = STANDARD.encode_slice(raw, &mut b64).unwrap_or(0);
    let prefix = format!("PRIVATE+KEY+{name}+{id:08x}+");
    let mut out = String::with_capacity(prefix.len() + written);
    out.push_str(&prefix);
    for &b in b64.iter().take(written) {
        out.push(char::from(b));
    }
    wipe(&mut raw);
    wipe(&mut b64);
    out
}

/// An Ed25519 note signing key (signature type 0x01) with its name.
///
/// The seed is zeroized on drop (ed25519-dalek's `zeroize` feature) and never
/// printed by `Debug`.
#[derive(Clone)]
pub struct Ed25519Signer {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl fmt::Debug for Ed25519Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ed25519Signer")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .field("seed", &"<redacted>")
            .finish()
    }
}

impl Ed25519Signer {
    /// Builds a signer from a 32-byte seed the caller generated (this crate has no
    /// randomness of its own).
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, KeyError> {
        checked_name(name)?;
        let mut seed = seed;
        let key = SigningKey::from_bytes(&seed);
        wipe(&mut seed);
        let key_id = key_id(name, SIG_TYPE_ED25519, key.verifying_key().as_bytes());
        Ok(Ed25519Signer {
            name: name.to_owned(),
            key_id,
            key,
        })
    }

    /// Parses a Go/sumdb private key `PRIVATE+KEY+<name>+<hex8>+<base64(0x01 ‖ seed)>`,
    /// refusing it when the key id does not match the key.
    pub fn from_skey(skey: &str) -> Result<Self, KeyError> {
        let parts = parse_skey(skey)?;
        if parts.sig_type != SIG_TYPE_ED25519 {
            return Err(KeyError::UnsupportedType {
                found: parts.sig_type,
                expected: SIG_TYPE_ED25519,
            });
        }
        let signer = Ed25519Signer::from_seed(&parts.name, parts.seed)?;
        if signer.key_id != parts.stated_id {
            return Err(KeyError::KeyIdMismatch {
                stated: parts.stated_id,
                computed: signer.key_id,
            });
        }
        Ok(signer)
    }

    /// The private key in Go/sumdb format. Secret: wipe the string when done
    /// (e.g. with `zeroize`); no other copy of the seed is left behind.
    pub fn to_skey(&self) -> String {
        format_skey(
            &self.name,
            self.key_id,
            SIG_TYPE_ED25519,
            self.key.as_bytes(),
        )
    }

    /// The matching verifier.
    pub fn verifier(&self) -> Ed25519Verifier {
        Ed25519Verifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// The public verifier key string `<name>+<hex8>+<base64(0x01 ‖ pubkey)>`.
    pub fn vkey(&self) -> String {
        self.verifier().to_vkey()
    }
}

impl NoteSigner for Ed25519Signer {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.key_id
    }
    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        use ed25519_dalek::Signer as _;
        self.key.sign(msg).to_bytes().to_vec()
    }
}

/// A trusted Ed25519 note key (signature type 0x01).
#[derive(Clone, PartialEq, Eq)]
pub struct Ed25519Verifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl fmt::Debug for Ed25519Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ed25519Verifier({})", self.to_vkey())
    }
}

impl Ed25519Verifier {
    /// Parses `<name>+<hex8>+<base64(0x01 ‖ pubkey)>`, refusing a key id that does
    /// not match the key.
    pub fn from_vkey(vkey: &str) -> Result<Self, KeyError> {
        let (name, key_id, key) = parse_ed25519_vkey(vkey, SIG_TYPE_ED25519)?;
        Ok(Ed25519Verifier { name, key_id, key })
    }

    /// A verifier for a known public key; the key id is derived.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, KeyError> {
        checked_name(name)?;
        Ok(Ed25519Verifier {
            name: name.to_owned(),
            key_id: key_id(name, SIG_TYPE_ED25519, key.as_bytes()),
            key,
        })
    }

    /// `<name>+<hex8>+<base64(0x01 ‖ pubkey)>`.
    pub fn to_vkey(&self) -> String {
        format_vkey(&self.name, SIG_TYPE_ED25519, self.key.as_bytes())
    }

    /// The raw 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
}

impl NoteVerifier for Ed25519Verifier {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.key_id
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match <[u8; 64]>::try_from(sig) {
            Ok(bytes) => self.key.verify(msg, &Signature::from_bytes(&bytes)).is_ok(),
            Err(_) => false,
        }
    }
}

/// One signature line: who signed (name, key id) and the signature bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_id: u32,
    pub sig: Vec<u8>,
}

impl NoteSignature {
    /// `— <name> <base64(key id ‖ sig)>\n`.
    fn write_line(&self, out: &mut Vec<u8>) {
        let mut raw = Vec::with_capacity(4 + self.sig.len());
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&self.sig);
        out.extend_from_slice(SIG_PREFIX.as_bytes());
        out.extend_from_slice(self.name.as_bytes());
        out.push(b' ');
        out.extend_from_slice(b64_encode(&raw).as_bytes());
        out.push(b'\n');
    }

    /// Bytes this signature takes on the wire.
    fn line_len(&self) -> usize {
        SIG_PREFIX.len() + self.name.len() + 1 + (4 + self.sig.len()).div_ceil(3) * 4 + 1
    }

    /// Parses one line (without its newline); `line` is 1-based for messages.
    fn parse_line(s: &str, line: usize) -> Result<NoteSignature, NoteError> {
        let err = |problem| NoteError::SignatureLine { line, problem };
        let rest = s
            .strip_prefix(SIG_PREFIX)
            .ok_or(err(SigLineProblem::MissingPrefix))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or(err(SigLineProblem::MissingSpace))?;
        check_key_name(name).map_err(|e| err(SigLineProblem::Name(e)))?;
        let raw = b64_decode(b64).map_err(|_| err(SigLineProblem::Base64))?;
        match raw.split_first_chunk::<4>() {
            Some((id, sig)) if !sig.is_empty() => Ok(NoteSignature {
                name: name.to_owned(),
                key_id: u32::from_be_bytes(*id),
                sig: sig.to_vec(),
            }),
            _ => Err(err(SigLineProblem::TooShort(raw.len()))),
        }
    }
}

/// A signature that verified under a trusted key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    pub name: String,
    pub key_id: u32,
    pub sig: Vec<u8>,
    /// Position, in the slice given to [`Note::verify`], of the key that verified
    /// it: lets callers tell the log key from witnesses and count a quorum.
    pub verifier: usize,
}

/// What is wrong with one signature line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SigLineProblem {
    #[error("does not start with an em dash (U+2014) and a space")]
    MissingPrefix,
    #[error("no space between the key name and the signature")]
    MissingSpace,
    #[error("{0}")]
    Name(KeyNameError),
    #[error("signature is not valid standard base64")]
    Base64,
    #[error("signature decodes to {0} bytes; need a 4-byte key id and at least 1 signature byte")]
    TooShort(usize),
}

/// Why a note could not be parsed, built or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("note is {size} bytes; the limit is {max}")]
    TooLarge { size: usize, max: usize },
    #[error("note is not valid UTF-8 (invalid byte at {offset})")]
    InvalidUtf8 { offset: usize },
    #[error("note contains control character U+{code:04X} at byte {offset}")]
    ControlCharacter { code: u8, offset: usize },
    #[error("note does not end with a newline")]
    MissingFinalNewline,
    #[error("missing blank line before signatures")]
    MissingBlankLine,
    #[error("note has no signature lines after its last blank line")]
    NoSignatures,
    #[error("note has more than {max} signatures")]
    TooManySignatures { max: usize },
    #[error("signature line {line}: {problem}")]
    SignatureLine {
        line: usize,
        problem: SigLineProblem,
    },
    #[error("note text must end with a newline")]
    TextMissingNewline,
    #[error("no signers given")]
    NoSigners,
    #[error("signer {name:?} has an invalid key name: {reason}")]
    InvalidSignerName { name: String, reason: KeyNameError },
    #[error("signer {name} (key id {key_id:08x}) produced an empty signature")]
    EmptySignature { name: String, key_id: u32 },
    #[error("signature by {name} (key id {key_id:08x}) does not verify")]
    SignatureDoesNotVerify { name: String, key_id: u32 },
    #[error("no signature from a trusted key (trusted: {trusted}; note signed by: {found})")]
    NoTrustedSignature { trusted: String, found: String },
}

/// A signed note: text (ending in `\n`) and at least one signature.
///
/// Fields are private so every `Note` is well-formed: [`Note::to_bytes`] always
/// produces bytes that [`Note::parse`] accepts and maps back to the same note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

/// Finds the first byte below 0x20 other than `\n`.
fn check_controls(bytes: &[u8], base: usize) -> Result<(), NoteError> {
    match bytes.iter().position(|&b| b < 0x20 && b != b'\n') {
        Some(i) => Err(NoteError::ControlCharacter {
            code: bytes.get(i).copied().unwrap_or(0),
            offset: base + i,
        }),
        None => Ok(()),
    }
}

fn check_text(text: &str) -> Result<(), NoteError> {
    check_controls(text.as_bytes(), 0)?;
    if !text.ends_with('\n') {
        return Err(NoteError::TextMissingNewline);
    }
    Ok(())
}

fn label(name: &str, key_id: u32) -> String {
    format!("{name}+{key_id:08x}")
}

impl Note {
    /// Assembles a note from parts, checking every rule `parse` checks.
    pub fn new(text: String, signatures: Vec<NoteSignature>) -> Result<Note, NoteError> {
        check_text(&text)?;
        let note = Note {
            text,
            signatures: Vec::new(),
        };
        note.with_signatures(signatures)
    }

    /// Replaces the signature list after checking count, names, lengths and size.
    fn with_signatures(mut self, signatures: Vec<NoteSignature>) -> Result<Note, NoteError> {
        if signatures.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        if signatures.len() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                max: MAX_SIGNATURES,
            });
        }
        for s in &signatures {
            check_key_name(&s.name).map_err(|reason| NoteError::InvalidSignerName {
                name: s.name.clone(),
                reason,
            })?;
            if s.sig.is_empty() {
                return Err(NoteError::EmptySignature {
                    name: s.name.clone(),
                    key_id: s.key_id,
                });
            }
        }
        let size = self.text.len() + 1 + signatures.iter().map(|s| s.line_len()).sum::<usize>();
        if size > MAX_NOTE_SIZE {
            return Err(NoteError::TooLarge {
                size,
                max: MAX_NOTE_SIZE,
            });
        }
        self.signatures = signatures;
        Ok(self)
    }

    /// Parses signed-note bytes. Only the format is checked here; call
    /// [`Note::verify`] before trusting the text.
    pub fn parse(bytes: &[u8]) -> Result<Note, NoteError> {
        if bytes.len() > MAX_NOTE_SIZE {
            return Err(NoteError::TooLarge {
                size: bytes.len(),
                max: MAX_NOTE_SIZE,
            });
        }
        let s = std::str::from_utf8(bytes).map_err(|e| NoteError::InvalidUtf8 {
            offset: e.valid_up_to(),
        })?;
        check_controls(bytes, 0)?;
        if !s.ends_with('\n') {
            return Err(NoteError::MissingFinalNewline);
        }
        // The text ends at the LAST blank line: signature lines are never empty.
        let split = s.rfind("\n\n").ok_or(NoteError::MissingBlankLine)?;
        let (text, sig_block) = match (s.get(..=split), s.get(split + 2..)) {
            (Some(t), Some(b)) => (t, b),
            _ => return Err(NoteError::MissingBlankLine),
        };
        let sig_block = sig_block
            .strip_suffix('\n')
            .ok_or(NoteError::NoSignatures)?;
        let mut signatures = Vec::new();
        for (i, line) in sig_block.split('\n').enumerate() {
            if i >= MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures {
                    max: MAX_SIGNATURES,
                });
            }
            signatures.push(NoteSignature::parse_line(line, i + 1)?);
        }
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// Signs `text` (which must end in `\n` and hold no control characters) with
    /// every signer, in order.
    pub fn sign(text: &str, signers: &[&dyn NoteSigner]) -> Result<Note, NoteError> {
        check_text(text)?;
        let signatures = Self::make_signatures(text, signers)?;
        Note {
            text: text.to_owned(),
            signatures: Vec::new(),
        }
        .with_signatures(signatures)
    }

    fn make_signatures(
        text: &str,
        signers: &[&dyn NoteSigner],
    ) -> Result<Vec<NoteSignature>, NoteError> {
        if signers.is_empty() {
            return Err(NoteError::NoSigners);
        }
        signers
            .iter()
            .map(|s| {
                check_key_name(s.name()).map_err(|reason| NoteError::InvalidSignerName {
                    name: s.name().to_owned(),
                    reason,
                })?;
                Ok(NoteSignature {
                    name: s.name().to_owned(),
                    key_id: s.key_id(),
                    sig: s.sign(text.as_bytes()),
                })
            })
            .collect()
    }

    /// Adds signatures (e.g. witness cosignatures) after the existing ones. As in
    /// Go's `note.Sign`, an existing signature with the same name and key id as a
    /// new signer is replaced. On error the note is left unchanged.
    pub fn add_signatures(&mut self, signers: &[&dyn NoteSigner]) -> Result<(), NoteError> {
        let new = Self::make_signatures(&self.text, signers)?;
        let mut all: Vec<NoteSignature> = self
            .signatures
            .iter()
            .filter(|old| {
                !new.iter()
                    .any(|n| n.name == old.name && n.key_id == old.key_id)
            })
            .cloned()
            .collect();
        all.extend(new);
        let updated = self.clone().with_signatures(all)?;
        *self = updated;
        Ok(())
    }

    /// The note text, including its final newline (this is what is signed).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// The serialized note: text, blank line, signature lines.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            self.text.len() + 1 + self.signatures.iter().map(|s| s.line_len()).sum::<usize>(),
        );
        out.extend_from_slice(self.text.as_bytes());
        out.push(b'\n');
        for s in &self.signatures {
            s.write_line(&mut out);
        }
        out
    }

    /// Checks the signatures against trusted keys, per signed-note:
    /// - a signature whose name and key id match no trusted key is ignored;
    /// - one that matches must verify (under any matching key, should two trusted
    ///   keys collide), or the whole note is rejected;
    /// - at least one trusted signature must be present.
    ///
    /// Unlike Go, repeated signatures by the same key are each checked (stricter);
    /// the result lists each verifying key once, in note order.
    pub fn verify(
        &self,
        verifiers: &[&dyn NoteVerifier],
    ) -> Result<Vec<VerifiedSignature>, NoteError> {
        let msg = self.text.as_bytes();
        let mut verified: Vec<VerifiedSignature> = Vec::new();
        for s in &self.signatures {
            let mut matched = false;
            let mut ok_by = None;
            for (i, v) in verifiers.iter().enumerate() {
                if v.name() == s.name && v.key_id() == s.key_id {
                    matched = true;
                    if v.verify(msg, &s.sig) {
                        ok_by = Some(i);
                        break;
                    }
                }
            }
            match (matched, ok_by) {
                (false, _) => {}
                (true, None) => {
                    return Err(NoteError::SignatureDoesNotVerify {
                        name: s.name.clone(),
                        key_id: s.key_id,
                    })
                }
                (true, Some(i)) => {
                    if !verified
                        .iter()
                        .any(|v| v.name == s.name && v.key_id == s.key_id)
                    {
                        verified.push(VerifiedSignature {
                            name: s.name.clone(),
                            key_id: s.key_id,
                            sig: s.sig.clone(),
                            verifier: i,
                        });
                    }
                }
            }
        }
        if verified.is_empty() {
            let list = |it: Vec<String>| {
                if it.is_empty() {
                    "none".to_owned()
                } else {
                    it.join(", ")
                }
            };
            return Err(NoteError::NoTrustedSignature {
                trusted: list(
                    verifiers
                        .iter()
                        .map(|v| label(v.name(), v.key_id()))
                        .collect(),
                ),
                found: list(
                    self.signatures
                        .iter()
                        .map(|s| label(&s.name, s.key_id))
                        .collect(),
                ),
            });
        }
        Ok(verified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(name: &str, b: u8) -> Ed25519Signer {
        Ed25519Signer::from_seed(name, [b; 32]).unwrap()
    }

    fn signed(text: &str) -> (Ed25519Signer, Vec<u8>) {
        let s = signer("example.com/log", 1);
        let note = Note::sign(text, &[&s]).unwrap();
        (s, note.to_bytes())
    }

    fn parse_err(bytes: &[u8]) -> String {
        Note::parse(bytes).unwrap_err().to_string()
    }

    #[test]
    fn key_name_rules() {
        assert!(is_valid_key_name("example.com/log"));
        assert_eq!(check_key_name(""), Err(KeyNameError::Empty));
        assert_eq!(check_key_name("a+b"), Err(KeyNameError::ContainsPlus));
        assert_eq!(
            check_key_name("a\u{00a0}b").unwrap_err().to_string(),
            "key name contains whitespace U+00A0"
        );
        assert!(!is_valid_key_name("a b"));
        assert_eq!(
            check_key_name("a\u{1}").unwrap_err().to_string(),
            "key name contains control character U+0001"
        );
    }

    #[test]
    fn key_id_uses_type_byte() {
        let pk = [7u8; 32];
        assert_ne!(key_id("n", 1, &pk), key_id("n", 4, &pk));
        let mut m = b"n\n\x01".to_vec();
        m.extend_from_slice(&pk);
        let h = sha256(&m).0;
        assert_eq!(
            key_id("n", 1, &pk),
            u32::from_be_bytes([h[0], h[1], h[2], h[3]])
        );
    }

    #[test]
    fn round_trip_and_sign_verify() {
        let (s, bytes) = signed("hello\n\nworld\n");
        let note = Note::parse(&bytes).unwrap();
        assert_eq!(note.text(), "hello\n\nworld\n");
        assert_eq!(note.to_bytes(), bytes);
        let v = s.verifier();
        let got = note.verify(&[&v]).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].verifier, 0);
        assert_eq!(got[0].key_id, s.key_id);
    }

    #[test]
    fn control_character_message() {
        let mut bytes = b"hello world\x07\n\n".to_vec();
        bytes.extend_from_slice("— a AAAAAAA=\n".as_bytes());
        assert_eq!(
            parse_err(&bytes),
            "note contains control character U+0007 at byte 11"
        );
        assert_eq!(
            Note::sign("a\rb\n", &[&signer("a", 1)]).unwrap_err(),
            NoteError::ControlCharacter {
                code: 13,
                offset: 1
            }
        );
    }

    #[test]
    fn structural_messages() {
        assert_eq!(
            parse_err("text\n— a AAAAAAA=\n".as_bytes()),
            "missing blank line before signatures"
        );
        assert_eq!(
            parse_err("text\n\n— a AAAAAAA=".as_bytes()),
            "note does not end with a newline"
        );
        assert_eq!(
            parse_err(b"text\n\n"),
            "note has no signature lines after its last blank line"
        );
        assert_eq!(
            parse_err(b"text\n\xff\n\n"),
            "note is not valid UTF-8 (invalid byte at 5)"
        );
        assert!(matches!(
            Note::parse(&vec![b'a'; MAX_NOTE_SIZE + 1]),
            Err(NoteError::TooLarge { .. })
        ));
    }

    #[test]
    fn signature_line_messages() {
        let (_, bytes) = signed("t\n");
        let good_line = std::str::from_utf8(&bytes[3..]).unwrap().to_owned();
        let two = |second: &str| {
            let mut b = b"t\n\n".to_vec();
            b.extend_from_slice(good_line.as_bytes());
            b.extend_from_slice(second.as_bytes());
            parse_err(&b)
        };
        assert_eq!(
            two("— a+b AAAAAAA=\n"),
            "signature line 2: key name contains '+'"
        );
        assert_eq!(
            two("- a AAAAAAA=\n"),
            "signature line 2: does not start with an em dash (U+2014) and a space"
        );
        assert_eq!(
            two("— aAAAAAAA=\n"),
            "signature line 2: no space between the key name and the signature"
        );
        assert_eq!(
            two("— a AAAAAA==\n"),
            "signature line 2: signature decodes to 4 bytes; need a 4-byte key id and at least 1 signature byte"
        );
        assert_eq!(
            two("— a AAAA AAA=\n"),
            "signature line 2: signature is not valid standard base64"
        );
        assert_eq!(two("—  AAAAAAA=\n"), "signature line 2: key name is empty");
        // Non-canonical base64 (trailing bits set) is refused.
        assert_eq!(
            two("— a AAAAAAB=\n"),
            "signature line 2: signature is not valid standard base64"
        );
    }

    #[test]
    fn signature_count_limit() {
        let mut b = b"t\n\n".to_vec();
        for _ in 0..=MAX_SIGNATURES {
            b.extend_from_slice("— a AAAAAAA=\n".as_bytes());
        }
        assert_eq!(parse_err(&b), "note has more than 100 signatures");
    }

    #[test]
    fn verify_messages() {
        let s = signer("example.com/log", 1);
        let note = Note::sign("x\n", &[&s]).unwrap();
        // Same name and id, different key: must verify, so the note is rejected.
        let impostor = Ed25519Verifier {
            name: s.name.clone(),
            key_id: s.key_id,
            key: signer("example.com/log", 2).key.verifying_key(),
        };
        assert_eq!(
            note.verify(&[&impostor]).unwrap_err().to_string(),
            format!(
                "signature by example.com/log (key id {:08x}) does not verify",
                s.key_id
            )
        );
        let other = signer("other", 3).verifier();
        assert_eq!(
            note.verify(&[&other]).unwrap_err().to_string(),
            format!(
                "no signature from a trusted key (trusted: other+{:08x}; note signed by: example.com/log+{:08x})",
                other.key_id, s.key_id
            )
        );
        assert_eq!(
            note.verify(&[]).unwrap_err().to_string(),
            format!(
                "no signature from a trusted key (trusted: none; note signed by: example.com/log+{:08x})",
                s.key_id
            )
        );
    }

    #[test]
    fn sign_errors() {
        let s = signer("a", 1);
        assert_eq!(
            Note::sign("no newline", &[&s]).unwrap_err().to_string(),
            "note text must end with a newline"
        );
        assert_eq!(Note::sign("x\n", &[]).unwrap_err(), NoteError::NoSigners);
        struct Bad;
        impl NoteSigner for Bad {
            fn name(&self) -> &str {
                "bad name"
            }
            fn key_id(&self) -> u32 {
                0
            }
            fn sign(&self, _: &[u8]) -> Vec<u8> {
                vec![1]
            }
        }
        assert_eq!(
            Note::sign("x\n", &[&Bad]).unwrap_err().to_string(),
            "signer \"bad name\" has an invalid key name: key name contains whitespace U+0020"
        );
    }

    #[test]
    fn add_signatures_replaces_same_key() {
        let a = signer("a", 1);
        let b = signer("b", 2);
        let mut note = Note::sign("x\n", &[&a, &b]).unwrap();
        note.add_signatures(&[&a]).unwrap();
        let names: Vec<_> = note.signatures().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!(Note::parse(&note.to_bytes()).unwrap(), note);
    }

    #[test]
    fn key_strings() {
        let s = signer("example.com/log", 9);
        let v = Ed25519Verifier::from_vkey(&s.vkey()).unwrap();
        assert_eq!(v, s.verifier());
        let back = Ed25519Signer::from_skey(&s.to_skey()).unwrap();
        assert_eq!(back.vkey(), s.vkey());
        assert!(!format!("{s:?}").contains(&b64_encode([9u8; 32])));
        assert!(format!("{s:?}").contains("redacted"));

        let vk = s.vkey();
        let (name, rest) = vk.split_once('+').unwrap();
        let (_, key) = rest.split_once('+').unwrap();
        let wrong = format!("{name}+00000000+{key}");
        assert_eq!(
            Ed25519Verifier::from_vkey(&wrong).unwrap_err().to_string(),
            format!(
                "key id 00000000 does not match the key (computed {:08x})",
                s.key_id
            )
        );
        assert_eq!(
            Ed25519Verifier::from_vkey(&format!("{name}+-1234567+{key}")).unwrap_err(),
            KeyError::KeyIdHex("-1234567".into())
        );
        let cosig = format_vkey("w", SIG_TYPE_COSIGNATURE_V1, &s.verifier().public_key());
        assert_eq!(
            Ed25519Verifier::from_vkey(&cosig).unwrap_err().to_string(),
            "key type 0x04 (Ed25519 tlog cosignature) is not accepted here; expected 0x01 (Ed25519 note signature)"
        );
        assert_eq!(
            Ed25519Verifier::from_vkey("nope").unwrap_err(),
            KeyError::VkeyFormat
        );
        assert_eq!(
            Ed25519Signer::from_skey("PRIVATE+KEY+a").unwrap_err(),
            KeyError::SkeyFormat
        );
        let skey = s.to_skey();
        let bad_id = skey.replacen(&format!("{:08x}", s.key_id), "01234567", 1);
        assert!(matches!(
            Ed25519Signer::from_skey(&bad_id),
            Err(KeyError::KeyIdMismatch { .. })
        ));
    }
}
