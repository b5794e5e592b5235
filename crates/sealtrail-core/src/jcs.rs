//! RFC 8785 JSON Canonicalization Scheme (JCS), written by hand.
//!
//! Event bodies and sealed headers are hashed as JCS bytes, so two honest parties
//! must produce byte-identical output for the same JSON value. Everything here is
//! spelled out against RFC 8785 §3.2:
//!
//! * object members are sorted by the UTF-16 code units of their names (§3.2.3);
//! * strings use the minimal escaping of §3.2.2.2 (short forms for `\b \f \n \r \t
//!   \" \\`, `\u00xx` in lowercase hex for the other C0 controls, all else literal);
//! * numbers are written as ECMAScript `Number.prototype.toString` would (§3.2.2.3).
//!
//! # Integers beyond ±2^53 are rejected, never rounded
//!
//! I-JSON (RFC 7493 §2.2) only promises exact integers up to 2^53, and JCS treats every
//! number as an IEEE-754 double. A client that sends `9007199254740993` would see its
//! value silently signed as `9007199254740992`. So this module refuses with
//! [`JcsError::UnsafeInteger`] any number whose canonical form would be a plain integer
//! of magnitude above 2^53: `i64`/`u64` values, and doubles in (2^53, 10^21), which is
//! also what a parser makes of an over-long integer literal. Doubles at or above 10^21
//! print in exponent form and are kept. The rule holds in both [`parse_strict`] and the
//! writers, so canonical output always parses back and re-canonicalizes to itself.
//! [`write_f64`] alone is the bare ES number formatter, with no such policy.

use std::cmp::Ordering;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::{self, Serialize};
use serde_json::{Map, Number, Value};

/// 2^53: the largest magnitude up to which every integer is an exact IEEE-754 double.
pub const MAX_SAFE_INTEGER: u64 = 1 << 53;

/// Nesting guard for [`write_canonical`] on values built in code, so a pathological
/// value returns an error instead of overflowing the stack.
const MAX_WRITE_DEPTH: usize = 512;

/// Why a value could not be parsed or canonicalized. Paths use `$` for the document
/// root, `.name` or `["odd name"]` for members and `[i]` for array elements.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JcsError {
    /// A number that would be signed as a rounded value; see the module docs.
    #[error("number {value} at {path} is outside the I-JSON safe integer range (±2^53); send it as a string")]
    UnsafeInteger {
        /// Where the number is.
        path: String,
        /// The number as written (or as it would be canonicalized).
        value: String,
    },
    /// NaN or ±Infinity, which JSON cannot represent.
    #[error(
        "number is NaN or infinite, which JSON cannot represent; send a finite number or a string"
    )]
    NonFinite,
    /// The same member name occurs twice in one object (I-JSON forbids it).
    #[error("duplicate member name {key:?} at {path}; object member names must be unique")]
    DuplicateKey {
        /// Path of the duplicated member.
        path: String,
        /// The duplicated name.
        key: String,
    },
    /// Arrays/objects nested deeper than allowed.
    #[error("nesting at {path} is deeper than the limit of {max} levels; flatten the document")]
    TooDeep {
        /// The configured limit.
        max: usize,
        /// The container that crossed it.
        path: String,
    },
    /// The input is not UTF-8.
    #[error("invalid UTF-8 at byte offset {offset}; JSON text must be UTF-8")]
    InvalidUtf8 {
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },
    /// Not JSON (serde_json's message, with line and column).
    #[error("invalid JSON: {0}")]
    Syntax(String),
    /// A `Serialize` value could not be turned into JSON at all.
    #[error("cannot serialize to JSON: {0}")]
    Serialize(String),
}

/// Limits applied by [`parse_strict`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Maximum nesting of arrays and objects; a bare scalar is depth 0, `[]` is 1.
    /// serde_json itself stops at 128, so values above 127 behave as 127.
    pub max_depth: usize,
}

impl ParseLimits {
    /// The defaults: depth 64.
    pub const DEFAULT: ParseLimits = ParseLimits { max_depth: 64 };
}

impl Default for ParseLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

// ---------------------------------------------------------------------------------
// Paths: a stack-allocated linked list, rendered to a String only on error.

#[derive(Clone, Copy)]
enum Loc<'a> {
    Root,
    Key(&'a Loc<'a>, &'a str),
    Index(&'a Loc<'a>, usize),
}

impl Loc<'_> {
    fn render(&self) -> String {
        let mut segs = Vec::new();
        let mut cur = self;
        loop {
            match cur {
                Loc::Root => break,
                Loc::Key(parent, _) | Loc::Index(parent, _) => {
                    segs.push(cur);
                    cur = parent;
                }
            }
        }
        let mut s = String::from("$");
        for seg in segs.iter().rev() {
            match seg {
                Loc::Root => {}
                Loc::Key(_, k) => push_key_segment(&mut s, k),
                Loc::Index(_, i) => {
                    s.push('[');
                    s.push_str(&i.to_string());
                    s.push(']');
                }
            }
        }
        s
    }
}

/// Appends `.key` for identifier-like names and `["key"]` (JSON-escaped) otherwise, so
/// a path is unambiguous whatever the member names contain.
pub(crate) fn push_key_segment(s: &mut String, key: &str) {
    let simple = !key.is_empty()
        && !key.starts_with(|c: char| c.is_ascii_digit())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if simple {
        s.push('.');
        s.push_str(key);
    } else {
        let mut buf = Vec::with_capacity(key.len() + 2);
        write_str(key, &mut buf);
        s.push('[');
        s.push_str(&String::from_utf8_lossy(&buf));
        s.push(']');
    }
}

// ---------------------------------------------------------------------------------
// Writing.

/// Appends the JCS form of `value` to `out`. On error `out` may hold a partial write.
pub fn write_canonical(value: &Value, out: &mut Vec<u8>) -> Result<(), JcsError> {
    write_value(value, out, &Loc::Root, 0)
}

/// The JCS form of `value` as a new buffer.
pub fn to_canonical_vec(value: &Value) -> Result<Vec<u8>, JcsError> {
    let mut out = Vec::with_capacity(256);
    write_canonical(value, &mut out)?;
    Ok(out)
}

/// The JCS form of any `Serialize` value, via [`serde_json::to_value`].
///
/// serde_json quietly turns NaN/±Infinity into `null`; a pre-pass catches them first so
/// they fail with [`JcsError::NonFinite`] instead of being signed as `null`.
pub fn to_canonical<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, JcsError> {
    v.serialize(FiniteCheck)?;
    let value = serde_json::to_value(v).map_err(|e| JcsError::Serialize(e.to_string()))?;
    to_canonical_vec(&value)
}

/// Checks that `value` can be canonicalized (number range and depth) without writing it.
pub fn check_value(value: &Value) -> Result<(), JcsError> {
    check_inner(value, &Loc::Root, 0)
}

fn check_inner(value: &Value, loc: &Loc<'_>, depth: usize) -> Result<(), JcsError> {
    match value {
        Value::Number(n) => check_number(n, loc),
        Value::Array(items) => {
            enter(depth, MAX_WRITE_DEPTH, loc)?;
            for (i, item) in items.iter().enumerate() {
                check_inner(item, &Loc::Index(loc, i), depth + 1)?;
            }
            Ok(())
        }
        Value::Object(map) => {
            enter(depth, MAX_WRITE_DEPTH, loc)?;
            for (k, v) in map {
                check_inner(v, &Loc::Key(loc, k), depth + 1)?;
            }
            Ok(())
        }
        Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
    }
}

fn enter(depth: usize, max: usize, loc: &Loc<'_>) -> Result<(), JcsError> {
    if depth >= max {
        Err(JcsError::TooDeep {
            max,
            path: loc.render(),
        })
    } else {
        Ok(())
    }
}

fn write_value(
    value: &Value,
    out: &mut Vec<u8>,
    loc: &Loc<'_>,
    depth: usize,
) -> Result<(), JcsError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            check_number(n, loc)?;
            write_number(n, out)?;
        }
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            enter(depth, MAX_WRITE_DEPTH, loc)?;
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out, &Loc::Index(loc, i), depth + 1)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            enter(depth, MAX_WRITE_DEPTH, loc)?;
            write_object(map, out, loc, depth)?;
        }
    }
    Ok(())
}

fn write_object(
    map: &Map<String, Value>,
    out: &mut Vec<u8>,
    loc: &Loc<'_>,
    depth: usize,
) -> Result<(), JcsError> {
    out.push(b'{');
    // serde_json's default map iterates in UTF-8 byte order, which equals UTF-16 order
    // unless keys mix astral and U+E000..U+FFFF characters; so usually no sort (and no
    // allocation) is needed. Checking rather than assuming also stays correct if
    // serde_json's `preserve_order` feature gets enabled somewhere in the build.
    let mut prev: Option<&String> = None;
    let sorted = map.keys().all(|k| {
        let ok = prev.is_none_or(|p| cmp_utf16(p, k) == Ordering::Less);
        prev = Some(k);
        ok
    });
    if sorted {
        for (i, (k, v)) in map.iter().enumerate() {
            write_member(i, k, v, out, loc, depth)?;
        }
    } else {
        let mut members: Vec<(&String, &Value)> = map.iter().collect();
        members.sort_unstable_by(|a, b| cmp_utf16(a.0, b.0));
        for (i, (k, v)) in members.into_iter().enumerate() {
            write_member(i, k, v, out, loc, depth)?;
        }
    }
    out.push(b'}');
    Ok(())
}

fn write_member(
    i: usize,
    k: &str,
    v: &Value,
    out: &mut Vec<u8>,
    loc: &Loc<'_>,
    depth: usize,
) -> Result<(), JcsError> {
    if i > 0 {
        out.push(b',');
    }
    write_str(k, out);
    out.push(b':');
    write_value(v, out, &Loc::Key(loc, k), depth + 1)
}

/// Orders strings by their UTF-16 code units, as RFC 8785 §3.2.3 requires.
///
/// UTF-8 byte order equals code point order, which equals UTF-16 order except that
/// astral characters (surrogate pairs, 0xD800..) sort *before* U+E000..U+FFFF. At the
/// first differing byte both strings are at a character start or inside characters with
/// the same lead byte, so only the lead-byte pair (0xF0..=0xF4 vs 0xEE..=0xEF) needs
/// swapping. No decoding, no allocation.
pub fn cmp_utf16(a: &str, b: &str) -> Ordering {
    let (ab, bb) = (a.as_bytes(), b.as_bytes());
    match ab.iter().zip(bb).find(|(x, y)| x != y) {
        None => ab.len().cmp(&bb.len()),
        Some((&x, &y)) => match (x, y) {
            (0xF0..=0xF4, 0xEE..=0xEF) => Ordering::Less,
            (0xEE..=0xEF, 0xF0..=0xF4) => Ordering::Greater,
            _ => x.cmp(&y),
        },
    }
}

/// Escape class per byte: 0 = literal, otherwise the short-form letter or `u`.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0A] = b'n';
    t[0x0C] = b'f';
    t[0x0D] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// The high bit of each byte of the 8 in `w` (little-endian) that may need
/// escaping: a C0 control (`< 0x20`), `"` or `\\`. Zero exactly when none
/// does, and the lowest flagged byte always does (the borrows of the
/// classic "has a byte less than n" trick only flag bytes *above* a true
/// one), so runs of plain text are skipped a word at a time and a word that
/// holds one is skipped up to it.
#[inline]
fn escape_mask(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w;
    let q = w ^ (ONES * u64::from(b'"'));
    let quote = q.wrapping_sub(ONES) & !q;
    let b = w ^ (ONES * u64::from(b'\\'));
    let backslash = b.wrapping_sub(ONES) & !b;
    (below_space | quote | backslash) & HIGH
}

/// Writes a JSON string with RFC 8785 §3.2.2.2 escaping, copying unescaped
/// runs whole. Event bodies are mostly long runs of plain text (tool output,
/// prose), so the scan goes eight bytes per step; a word that holds a byte
/// to escape jumps straight to it (the lowest flagged byte of
/// [`escape_mask`] is always a true one: a false flag needs a borrow from a
/// flagged byte below it), so JSON text inside a string (a body: quotes
/// every few bytes) costs a step per quote, not per byte (docs/benchmarks.md,
/// issue 16).
pub fn write_str(s: &str, out: &mut Vec<u8>) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if let Some(word) = bytes
            .get(i..i + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
        {
            let mask = escape_mask(u64::from_le_bytes(word));
            if mask == 0 {
                i += 8;
                continue;
            }
            let skip = (mask.trailing_zeros() / 8) as usize;
            if skip > 0 {
                i += skip;
                continue;
            }
        }
        let esc = ESCAPE[usize::from(b)];
        if esc == 0 {
            i += 1;
            continue;
        }
        if let Some(run) = bytes.get(start..i) {
            out.extend_from_slice(run);
        }
        if esc == b'u' {
            // Only bytes < 0x20 get here: high nibble 0 or 1, low nibble in lowercase hex.
            let lo = b & 0xF;
            out.extend_from_slice(b"\\u00");
            out.push(b'0' + (b >> 4));
            out.push(if lo < 10 { b'0' + lo } else { b'a' + lo - 10 });
        } else {
            out.push(b'\\');
            out.push(esc);
        }
        i += 1;
        start = i;
    }
    if let Some(run) = bytes.get(start..) {
        out.extend_from_slice(run);
    }
    out.push(b'"');
}

/// Applies the safe-integer policy (module docs) to a number at `loc`.
fn check_number(n: &Number, loc: &Loc<'_>) -> Result<(), JcsError> {
    let unsafe_int = if let Some(u) = n.as_u64() {
        u > MAX_SAFE_INTEGER
    } else if let Some(i) = n.as_i64() {
        i.unsigned_abs() > MAX_SAFE_INTEGER
    } else if let Some(f) = n.as_f64() {
        f.is_finite() && float_is_unsafe_integer(f)
    } else {
        false
    };
    if unsafe_int {
        let mut value = Vec::new();
        // For a float the message shows its canonical digits; writing cannot fail here.
        let value = match write_number(n, &mut value) {
            Ok(()) => String::from_utf8_lossy(&value).into_owned(),
            Err(_) => n.to_string(),
        };
        return Err(JcsError::UnsafeInteger {
            path: loc.render(),
            value,
        });
    }
    Ok(())
}

/// True for doubles that ES prints as a plain integer above 2^53 (every double of that
/// magnitude is integral; from 1e21 on ES switches to exponent form).
fn float_is_unsafe_integer(f: f64) -> bool {
    let a = f.abs();
    a > MAX_SAFE_INTEGER as f64 && a < 1e21
}

fn write_number(n: &Number, out: &mut Vec<u8>) -> Result<(), JcsError> {
    if let Some(u) = n.as_u64() {
        write_u64(u, false, out);
        Ok(())
    } else if let Some(i) = n.as_i64() {
        write_u64(i.unsigned_abs(), i < 0, out);
        Ok(())
    } else if let Some(f) = n.as_f64() {
        write_f64(f, out)
    } else {
        // Only reachable with serde_json's `arbitrary_precision`, which this crate does
        // not enable; refuse rather than guess.
        Err(JcsError::Syntax(format!(
            "unsupported number representation {n}"
        )))
    }
}

fn write_u64(mut u: u64, negative: bool, out: &mut Vec<u8>) {
    let mut buf = [0u8; 20];
    let mut pos = buf.len();
    loop {
        pos -= 1;
        if let Some(slot) = buf.get_mut(pos) {
            *slot = b'0' + (u % 10) as u8;
        }
        u /= 10;
        if u == 0 || pos == 0 {
            break;
        }
    }
    if negative {
        out.push(b'-');
    }
    if let Some(digits) = buf.get(pos..) {
        out.extend_from_slice(digits);
    }
}

/// Appends `f` formatted exactly as ECMAScript `Number.prototype.toString` (RFC 8785
/// §3.2.2.3): shortest round-trip digits, decimal notation for decimal exponents in
/// [-7, 21), otherwise `d.ddde±N`; `-0` becomes `0`. This is the bare formatter: it does
/// not apply the safe-integer policy. Non-finite input fails with [`JcsError::NonFinite`].
///
/// The digits and the layout are `ryu-js`'s (Ryū, with ECMAScript's notation rules);
/// integers up to 2^53, by far the most common numbers in events, take a shorter path
/// of their own. docs/benchmarks.md compares it with the hand-written formatter it
/// replaced.
pub fn write_f64(f: f64, out: &mut Vec<u8>) -> Result<(), JcsError> {
    if !f.is_finite() {
        return Err(JcsError::NonFinite);
    }
    // Integers up to 2^53 print as themselves: every such integer is a double, so the
    // shortest round-trip digits are exactly its decimal digits (and -0 is 0).
    if f.abs() <= MAX_SAFE_INTEGER as f64 && f.trunc() == f {
        write_u64(f.abs() as u64, f < 0.0, out);
        return Ok(());
    }
    let mut buf = ryu_js::Buffer::new();
    out.extend_from_slice(buf.format_finite(f).as_bytes());
    Ok(())
}

// ---------------------------------------------------------------------------------
// Finite-float pre-check for `to_canonical`.

/// A serializer that produces nothing and fails on the first NaN/±Infinity.
#[derive(Clone, Copy)]
struct FiniteCheck;

impl ser::Error for JcsError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        JcsError::Serialize(msg.to_string())
    }
}

macro_rules! ok_scalars {
    ($($name:ident: $ty:ty),* $(,)?) => {
        $(fn $name(self, _v: $ty) -> Result<(), JcsError> { Ok(()) })*
    };
}

impl ser::Serializer for FiniteCheck {
    type Ok = ();
    type Error = JcsError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    ok_scalars!(
        serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
        serialize_u32: u32, serialize_u64: u64, serialize_u128: u128, serialize_char: char,
        serialize_str: &str, serialize_bytes: &[u8],
    );

    fn serialize_f32(self, v: f32) -> Result<(), JcsError> {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), JcsError> {
        if v.is_finite() {
            Ok(())
        } else {
            Err(JcsError::NonFinite)
        }
    }
    fn serialize_none(self) -> Result<(), JcsError> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), JcsError> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), JcsError> {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), JcsError> {
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
    ) -> Result<(), JcsError> {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), JcsError> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        v: &T,
    ) -> Result<(), JcsError> {
        v.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self, JcsError> {
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, JcsError> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, JcsError> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, JcsError> {
        Ok(self)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self, JcsError> {
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, JcsError> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, JcsError> {
        Ok(self)
    }
}

macro_rules! check_compound {
    ($($tr:ident :: $method:ident),* $(,)?) => {
        $(impl ser::$tr for FiniteCheck {
            type Ok = ();
            type Error = JcsError;
            fn $method<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), JcsError> {
                v.serialize(*self)
            }
            fn end(self) -> Result<(), JcsError> {
                Ok(())
            }
        })*
    };
}

check_compound!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
);

impl ser::SerializeMap for FiniteCheck {
    type Ok = ();
    type Error = JcsError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), JcsError> {
        k.serialize(*self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), JcsError> {
        v.serialize(*self)
    }
    fn end(self) -> Result<(), JcsError> {
        Ok(())
    }
}

impl ser::SerializeStruct for FiniteCheck {
    type Ok = ();
    type Error = JcsError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        _: &'static str,
        v: &T,
    ) -> Result<(), JcsError> {
        v.serialize(*self)
    }
    fn end(self) -> Result<(), JcsError> {
        Ok(())
    }
}

impl ser::SerializeStructVariant for FiniteCheck {
    type Ok = ();
    type Error = JcsError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        _: &'static str,
        v: &T,
    ) -> Result<(), JcsError> {
        v.serialize(*self)
    }
    fn end(self) -> Result<(), JcsError> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------
// Strict parsing.

/// Parses `bytes` as strict I-JSON into a [`Value`].
///
/// On top of serde_json's RFC 8259 grammar (which already rejects raw control
/// characters and unpaired surrogate escapes in strings), this refuses invalid UTF-8
/// (with its byte offset), duplicate member names, nesting beyond `limits.max_depth`,
/// unsafe integers (module docs) and anything after the value. The structured errors are
/// reported from inside serde_json's callbacks through a side slot, because serde_json
/// would otherwise flatten them into strings.
pub fn parse_strict(bytes: &[u8], limits: &ParseLimits) -> Result<Value, JcsError> {
    let text = std::str::from_utf8(bytes).map_err(|e| JcsError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    let state = ParseState {
        max_depth: limits.max_depth,
        error: std::cell::RefCell::new(None),
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let seed = ValueSeed {
        state: &state,
        loc: &Loc::Root,
        depth: 0,
    };
    let result = seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    match result {
        Ok(v) => Ok(v),
        Err(e) => Err(state
            .error
            .take()
            .unwrap_or_else(|| JcsError::Syntax(e.to_string()))),
    }
}

struct ParseState {
    max_depth: usize,
    error: std::cell::RefCell<Option<JcsError>>,
}

impl ParseState {
    /// Records the structured error and returns a placeholder to unwind serde_json.
    fn fail<E: de::Error>(&self, err: JcsError) -> E {
        let msg = err.to_string();
        *self.error.borrow_mut() = Some(err);
        E::custom(msg)
    }
}

#[derive(Clone, Copy)]
struct ValueSeed<'s, 'p> {
    state: &'s ParseState,
    loc: &'p Loc<'p>,
    /// Nesting depth of the value this seed produces.
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl ValueSeed<'_, '_> {
    fn number<E: de::Error>(&self, n: Number) -> Result<Value, E> {
        match check_number(&n, self.loc) {
            Ok(()) => Ok(Value::Number(n)),
            Err(err) => Err(self.state.fail(err)),
        }
    }
    fn enter<E: de::Error>(&self) -> Result<(), E> {
        enter(self.depth, self.state.max_depth, self.loc).map_err(|err| self.state.fail(err))
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.number(Number::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.number(Number::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        match Number::from_f64(v) {
            Some(n) => self.number(n),
            None => Err(self.state.fail(JcsError::NonFinite)),
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.enter()?;
        let mut items = Vec::new();
        loop {
            let loc = Loc::Index(self.loc, items.len());
            let seed = ValueSeed {
                state: self.state,
                loc: &loc,
                depth: self.depth + 1,
            };
            match seq.next_element_seed(seed)? {
                Some(v) => items.push(v),
                None => break,
            }
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        self.enter()?;
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            match map.entry(key) {
                serde_json::map::Entry::Occupied(o) => {
                    let key = o.key().clone();
                    let path = Loc::Key(self.loc, &key).render();
                    return Err(self.state.fail(JcsError::DuplicateKey { path, key }));
                }
                serde_json::map::Entry::Vacant(v) => {
                    let value = {
                        let loc = Loc::Key(self.loc, v.key());
                        access.next_value_seed(ValueSeed {
                            state: self.state,
                            loc: &loc,
                            depth: self.depth + 1,
                        })?
                    };
                    v.insert(value);
                }
            }
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-at-a-time writer of before issue 16: the oracle.
    fn reference_write_str(s: &str, out: &mut Vec<u8>) {
        let bytes = s.as_bytes();
        out.push(b'"');
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let esc = ESCAPE[usize::from(b)];
            if esc == 0 {
                continue;
            }
            out.extend_from_slice(&bytes[start..i]);
            if esc == b'u' {
                let lo = b & 0xF;
                out.extend_from_slice(b"\\u00");
                out.push(b'0' + (b >> 4));
                out.push(if lo < 10 { b'0' + lo } else { b'a' + lo - 10 });
            } else {
                out.push(b'\\');
                out.push(esc);
            }
            start = i + 1;
        }
        out.extend_from_slice(&bytes[start..]);
        out.push(b'"');
    }

    #[test]
    fn word_scan_sees_every_byte_that_needs_escaping() {
        for b in 0u8..=255 {
            for pos in 0..8 {
                let mut w = [b'a'; 8];
                w[pos] = b;
                let needs = b < 0x20 || b == b'"' || b == b'\\';
                let mask = escape_mask(u64::from_le_bytes(w));
                assert_eq!(mask != 0, needs, "byte {b:#x} at {pos}");
                if needs {
                    assert_eq!(
                        mask.trailing_zeros() / 8,
                        pos as u32,
                        "byte {b:#x} at {pos}"
                    );
                }
                // Neighbours that borrow (0x00, 0x80, 0xff) change nothing.
                for n in [0x00u8, 0x20, 0x21, 0x7f, 0x80, 0xa2, 0xdc, 0xff] {
                    let mut w2 = w;
                    w2[(pos + 1) % 8] = n;
                    let needs2 = needs || n < 0x20;
                    let mask2 = escape_mask(u64::from_le_bytes(w2));
                    assert_eq!(mask2 != 0, needs2);
                    // The lowest flag is a byte that needs escaping.
                    if needs2 {
                        let at = (mask2.trailing_zeros() / 8) as usize;
                        assert!(w2[at] < 0x20 || w2[at] == b'"' || w2[at] == b'\\');
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn write_str_equals_the_byte_loop(s in "(\\PC|[\\x00-\\x1f\"\\\\]|[a-z ]{0,20}){0,64}") {
            let (mut fast, mut slow) = (Vec::new(), Vec::new());
            write_str(&s, &mut fast);
            reference_write_str(&s, &mut slow);
            proptest::prop_assert_eq!(fast, slow);
        }
    }

    fn canon(s: &str) -> String {
        let v = parse_strict(s.as_bytes(), &ParseLimits::DEFAULT).expect("parse");
        String::from_utf8(to_canonical_vec(&v).expect("canon")).expect("utf8")
    }

    #[test]
    fn escapes_and_literals() {
        assert_eq!(
            canon(r#""\u0000\u001f\u007f\u2028\b\t\n\f\r\"\\/""#),
            "\"\\u0000\\u001f\u{7f}\u{2028}\\b\\t\\n\\f\\r\\\"\\\\/\""
        );
    }

    #[test]
    fn utf16_order_beats_byte_order() {
        assert_eq!(cmp_utf16("\u{1F600}", "\u{FB33}"), Ordering::Less);
        assert_eq!(cmp_utf16("\u{FB33}", "\u{1F600}"), Ordering::Greater);
        assert_eq!(cmp_utf16("a", "ab"), Ordering::Less);
        assert_eq!(cmp_utf16("\u{e9}", "z"), Ordering::Greater);
    }

    #[test]
    fn paths_quote_odd_keys() {
        let err = parse_strict(br#"{"a b":[0,{"c":1,"c":2}]}"#, &ParseLimits::DEFAULT).unwrap_err();
        assert_eq!(
            err,
            JcsError::DuplicateKey {
                path: r#"$["a b"][1].c"#.into(),
                key: "c".into()
            }
        );
    }

    #[test]
    fn non_finite_is_refused_not_nulled() {
        assert_eq!(to_canonical(&vec![1.0, f64::NAN]), Err(JcsError::NonFinite));
        assert_eq!(to_canonical(&Some(f32::INFINITY)), Err(JcsError::NonFinite));
        assert_eq!(to_canonical(&[0.5f64]).as_deref(), Ok(&b"[0.5]"[..]));
    }

    #[test]
    fn unsafe_floats_in_integer_form_are_refused() {
        let v = serde_json::json!({ "x": 1e17 });
        assert!(matches!(
            to_canonical_vec(&v),
            Err(JcsError::UnsafeInteger { .. })
        ));
        let v = serde_json::json!({ "x": 1e21, "y": 9007199254740992.0 });
        assert_eq!(
            to_canonical_vec(&v).as_deref(),
            Ok(&br#"{"x":1e+21,"y":9007199254740992}"#[..])
        );
    }
}
