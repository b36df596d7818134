//! A strict, bounded JSON parser and writer (RFC 8259).
//!
//! Every untrusted document Vigil reads — policies, check requests, JWT headers and claims,
//! JWKS, revocation feeds — goes through this one parser, so the same rules hold everywhere:
//!
//! * the input is capped in bytes and nesting depth *before* anything is allocated for it;
//! * a key that appears twice in one object is an error (a JWT with two `sub` claims, or a
//!   policy with two `action`s, is an attack or a mistake — never a guess);
//! * the grammar is exact: no comments, no trailing commas, no leading zeros, no lone
//!   surrogates, no raw control characters in strings, nothing after the value;
//! * objects keep their insertion order, so output is deterministic.
//!
//! It never panics and never recurses deeper than [`Limits::max_depth`].

use alloc::collections::BTreeSet;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

mod float;

/// A JSON number. Integers that fit `i64` keep their exact value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Number {
    float: f64,
    int: Option<i64>,
}

impl Number {
    /// The number as `f64` (always available; large integers lose precision).
    pub fn as_f64(&self) -> f64 {
        self.float
    }
    /// The number as `i64`, if it was written as an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        self.int
    }
    /// A number from an integer.
    pub fn from_i64(i: i64) -> Self {
        Number {
            float: i as f64,
            int: Some(i),
        }
    }
    /// A number from a float; `None` for NaN or infinities (JSON has neither).
    pub fn from_f64(f: f64) -> Option<Self> {
        if f.is_finite() {
            Some(Number {
                float: f,
                int: None,
            })
        } else {
            None
        }
    }
}

/// An ordered JSON object: keys are unique (the parser enforces it).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map {
    entries: Vec<(String, Value)>,
}

impl Map {
    /// An empty object.
    pub fn new() -> Self {
        Map::default()
    }
    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    /// Sets `key`, replacing any previous value under it.
    pub fn insert(&mut self, key: impl Into<String>, value: Value) {
        let key = key.into();
        if let Some(slot) = self.entries.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
        } else {
            self.entries.push((key, value));
        }
    }
    /// Entries in document order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }
    /// Keys in document order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// True when the object has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A parsed JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object.
    Object(Map),
}

impl Value {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    /// The object, if this is one.
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }
    /// The array, if this is one.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    /// The number, if this is one.
    pub fn as_number(&self) -> Option<Number> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }
    /// `object[key]`, if this is an object holding `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object().and_then(|m| m.get(key))
    }
    /// A short name of the JSON type, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }
    /// Appends the compact JSON to `out`.
    pub fn write_json(&self, out: &mut String) {
        write_value(self, out);
    }

    /// Serialises to compact JSON.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        write_value(self, &mut out);
        out
    }
    /// Serialises to indented JSON (two spaces).
    pub fn to_json_pretty(&self) -> String {
        let mut out = String::new();
        write_pretty(self, &mut out, 0);
        out
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.into())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Number(Number::from_i64(i))
    }
}
impl From<u16> for Value {
    fn from(i: u16) -> Self {
        Value::Number(Number::from_i64(i64::from(i)))
    }
}
impl From<Map> for Value {
    fn from(m: Map) -> Self {
        Value::Object(m)
    }
}
impl From<Vec<Value>> for Value {
    fn from(a: Vec<Value>) -> Self {
        Value::Array(a)
    }
}

/// Bounds applied before and while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted input, in bytes.
    pub max_bytes: usize,
    /// Deepest accepted nesting of arrays and objects (the top level is depth 1).
    pub max_depth: usize,
}

impl Limits {
    /// Limits for policy documents: 16 MiB, depth 64.
    pub const POLICY: Limits = Limits {
        max_bytes: 16 << 20,
        max_depth: 64,
    };
    /// Limits for check requests: 1 MiB, depth 32.
    pub const REQUEST: Limits = Limits {
        max_bytes: 1 << 20,
        max_depth: 32,
    };
    /// Limits for token headers and claims: 64 KiB, depth 16.
    pub const TOKEN: Limits = Limits {
        max_bytes: 64 << 10,
        max_depth: 16,
    };
}

/// Why a document is not acceptable JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonErrorKind {
    /// Larger than [`Limits::max_bytes`].
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// Nested deeper than [`Limits::max_depth`].
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// The input ended in the middle of a value.
    UnexpectedEnd,
    /// A character that the grammar does not allow here.
    Unexpected {
        /// What was expected.
        expected: &'static str,
    },
    /// A key seen twice in one object.
    DuplicateKey(String),
    /// A malformed escape or an unpaired surrogate.
    BadEscape,
    /// A raw control character inside a string.
    ControlCharacter,
    /// A malformed or out-of-range number.
    BadNumber,
    /// Something after the top-level value.
    TrailingCharacters,
}

/// A parse error with the byte offset where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// What went wrong.
    pub kind: JsonErrorKind,
    /// Byte offset into the input.
    pub offset: usize,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            JsonErrorKind::TooLarge { max } => {
                write!(f, "document is larger than the limit of {max} bytes")
            }
            JsonErrorKind::TooDeep { max } => write!(
                f,
                "nesting deeper than {max} levels at byte {}",
                self.offset
            ),
            JsonErrorKind::UnexpectedEnd => write!(f, "unexpected end of input"),
            JsonErrorKind::Unexpected { expected } => {
                write!(f, "expected {expected} at byte {}", self.offset)
            }
            JsonErrorKind::DuplicateKey(k) => {
                write!(f, "duplicate key `{k}` at byte {}", self.offset)
            }
            JsonErrorKind::BadEscape => {
                write!(f, "invalid escape sequence at byte {}", self.offset)
            }
            JsonErrorKind::ControlCharacter => write!(
                f,
                "unescaped control character in string at byte {}",
                self.offset
            ),
            JsonErrorKind::BadNumber => write!(f, "invalid number at byte {}", self.offset),
            JsonErrorKind::TrailingCharacters => {
                write!(f, "trailing characters at byte {}", self.offset)
            }
        }
    }
}

/// Parses `input` as one JSON value within `limits`.
pub fn parse(input: &str, limits: Limits) -> Result<Value, JsonError> {
    parse_bytes(input.as_bytes(), limits)
}

/// Parses UTF-8 bytes as one JSON value within `limits`. Invalid UTF-8 inside strings is an
/// error.
pub fn parse_bytes(input: &[u8], limits: Limits) -> Result<Value, JsonError> {
    if input.len() > limits.max_bytes {
        return Err(JsonError {
            kind: JsonErrorKind::TooLarge {
                max: limits.max_bytes,
            },
            offset: 0,
        });
    }
    let mut p = Parser {
        s: input,
        i: 0,
        max_depth: limits.max_depth,
    };
    p.ws();
    let v = p.value(1)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err(JsonErrorKind::TrailingCharacters));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    max_depth: usize,
}

impl Parser<'_> {
    fn err(&self, kind: JsonErrorKind) -> JsonError {
        JsonError {
            kind,
            offset: self.i,
        }
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }
    fn expect_lit(&mut self, lit: &'static [u8], v: Value) -> Result<Value, JsonError> {
        match self.s.get(self.i..self.i + lit.len()) {
            Some(got) if got == lit => {
                self.i += lit.len();
                Ok(v)
            }
            _ => Err(self.err(JsonErrorKind::Unexpected {
                expected: "a value",
            })),
        }
    }
    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        match self.peek() {
            None => Err(self.err(JsonErrorKind::UnexpectedEnd)),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Value::String),
            Some(b't') => self.expect_lit(b"true", Value::Bool(true)),
            Some(b'f') => self.expect_lit(b"false", Value::Bool(false)),
            Some(b'n') => self.expect_lit(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Number),
            Some(_) => Err(self.err(JsonErrorKind::Unexpected {
                expected: "a value",
            })),
        }
    }
    fn enter(&self, depth: usize) -> Result<(), JsonError> {
        if depth > self.max_depth {
            Err(self.err(JsonErrorKind::TooDeep {
                max: self.max_depth,
            }))
        } else {
            Ok(())
        }
    }
    fn object(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.enter(depth)?;
        self.i += 1; // '{'
        let mut map = Map::new();
        // Large objects get a set so duplicate detection stays O(n log n).
        let mut seen: Option<BTreeSet<String>> = None;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Value::Object(map));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.end_or(JsonErrorKind::Unexpected {
                    expected: "a string key",
                }));
            }
            let key_at = self.i;
            let key = self.string()?;
            let dup = match &mut seen {
                Some(set) => !set.insert(key.clone()),
                None => map.entries.iter().any(|(k, _)| *k == key),
            };
            if dup {
                return Err(JsonError {
                    kind: JsonErrorKind::DuplicateKey(key),
                    offset: key_at,
                });
            }
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.end_or(JsonErrorKind::Unexpected { expected: "`:`" }));
            }
            self.i += 1;
            self.ws();
            let v = self.value(depth + 1)?;
            if seen.is_none() && map.entries.len() >= 16 {
                seen = Some(map.entries.iter().map(|(k, _)| k.clone()).collect());
                if let Some(set) = &mut seen {
                    set.insert(key.clone());
                }
            }
            map.entries.push((key, v));
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Value::Object(map));
                }
                _ => {
                    return Err(self.end_or(JsonErrorKind::Unexpected {
                        expected: "`,` or `}`",
                    }))
                }
            }
        }
    }
    fn array(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.enter(depth)?;
        self.i += 1; // '['
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.ws();
            items.push(self.value(depth + 1)?);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Value::Array(items));
                }
                _ => {
                    return Err(self.end_or(JsonErrorKind::Unexpected {
                        expected: "`,` or `]`",
                    }))
                }
            }
        }
    }
    fn end_or(&self, kind: JsonErrorKind) -> JsonError {
        if self.i >= self.s.len() {
            self.err(JsonErrorKind::UnexpectedEnd)
        } else {
            self.err(kind)
        }
    }
    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return Err(self.err(JsonErrorKind::BadEscape)),
            };
            v = (v << 4) | u32::from(d);
            self.i += 1;
        }
        Ok(v)
    }
    fn string(&mut self) -> Result<String, JsonError> {
        self.i += 1; // opening quote
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let start = self.i;
            // Copy the run of plain bytes in one go.
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.i += 1;
            }
            if let Some(run) = self.s.get(start..self.i) {
                buf.extend_from_slice(run);
            }
            match self.peek() {
                None => return Err(self.err(JsonErrorKind::UnexpectedEnd)),
                Some(b'"') => {
                    self.i += 1;
                    return String::from_utf8(buf).map_err(|_| JsonError {
                        kind: JsonErrorKind::Unexpected {
                            expected: "valid UTF-8",
                        },
                        offset: start,
                    });
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = self.peek().ok_or(self.err(JsonErrorKind::UnexpectedEnd))?;
                    self.i += 1;
                    let ch = match c {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if self.s.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return Err(self.err(JsonErrorKind::BadEscape));
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err(JsonErrorKind::BadEscape));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else if (0xDC00..0xE000).contains(&hi) {
                                return Err(self.err(JsonErrorKind::BadEscape));
                            } else {
                                hi
                            };
                            char::from_u32(code).ok_or(self.err(JsonErrorKind::BadEscape))?
                        }
                        _ => return Err(self.err(JsonErrorKind::BadEscape)),
                    };
                    let mut tmp = [0u8; 4];
                    buf.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                }
                Some(_) => return Err(self.err(JsonErrorKind::ControlCharacter)),
            }
        }
    }
    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }
    fn number(&mut self) -> Result<Number, JsonError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.i += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.err(JsonErrorKind::BadNumber));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err(JsonErrorKind::BadNumber)),
        }
        let mut integral = true;
        if self.peek() == Some(b'.') {
            integral = false;
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.err(JsonErrorKind::BadNumber));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            integral = false;
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.err(JsonErrorKind::BadNumber));
            }
        }
        let text = self
            .s
            .get(start..self.i)
            .and_then(|b| core::str::from_utf8(b).ok())
            .ok_or(JsonError {
                kind: JsonErrorKind::BadNumber,
                offset: start,
            })?;
        let bad = JsonError {
            kind: JsonErrorKind::BadNumber,
            offset: start,
        };
        let float: f64 = text.parse().map_err(|_| bad.clone())?;
        if !float.is_finite() {
            return Err(bad);
        }
        let int = if integral {
            text.parse::<i64>().ok()
        } else {
            None
        };
        Ok(Number { float, int })
    }
}

/// Whether any byte of `bytes` starts an escape in [`write_str`]: a control character, `"`,
/// `\`, or 0xE2 (the first byte of U+2028 / U+2029, and of other characters: a false alarm
/// only sends the string down the byte-by-byte path). Words of eight bytes are tested with
/// the exact "has a byte less than n" and "has a zero byte" tricks.
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |w: u64| w.wrapping_sub(ONES) & !w & HIGH != 0;
    let word = |w: u64| {
        w.wrapping_sub(ONES * 0x20) & !w & HIGH != 0
            || has_zero(w ^ (ONES * u64::from(b'"')))
            || has_zero(w ^ (ONES * u64::from(b'\\')))
            || has_zero(w ^ (ONES * 0xe2))
    };
    // Two words per step, tested together (the masks stay in registers).
    let mut pairs = bytes.chunks_exact(16);
    for chunk in &mut pairs {
        // A chunk of `chunks_exact(16)` always converts; the fallback has a control byte.
        let w = <[u8; 16]>::try_from(chunk).map_or(0, u128::from_le_bytes);
        if word(w as u64) | word((w >> 64) as u64) {
            return true;
        }
    }
    let mut words = pairs.remainder().chunks_exact(8);
    for chunk in &mut words {
        if word(u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]))) {
            return true;
        }
    }
    words
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\' || b == 0xe2)
}

/// Appends `s` as a JSON string literal (with quotes) to `out`.
pub fn write_str(s: &str, out: &mut String) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    // Most strings need no escape: one scan, eight bytes at a time, and one copy.
    if !needs_escape(bytes) {
        out.push_str(s);
        out.push('"');
        return;
    }
    // Runs of bytes that need no escape are copied whole; every escape point is an ASCII byte
    // or the first byte of U+2028 / U+2029, so every run ends on a character boundary.
    let (mut start, mut i) = (0, 0);
    while let Some(&b) = bytes.get(i) {
        let (escape, len): (&str, usize) = match b {
            b'"' => ("\\\"", 1),
            b'\\' => ("\\\\", 1),
            b'\n' => ("\\n", 1),
            b'\r' => ("\\r", 1),
            b'\t' => ("\\t", 1),
            0..=0x1f => ("", 1),
            0xe2 if bytes.get(i + 1) == Some(&0x80)
                && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9)) =>
            {
                ("", 3)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.push_str(s.get(start..i).unwrap_or(""));
        if !escape.is_empty() {
            out.push_str(escape);
        } else if len == 3 {
            out.push_str(if bytes.get(i + 2) == Some(&0xa8) {
                "\\u2028"
            } else {
                "\\u2029"
            });
        } else {
            out.push_str("\\u00");
            for nibble in [b >> 4, b & 0xf] {
                out.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
            }
        }
        i += len;
        start = i;
    }
    out.push_str(s.get(start..).unwrap_or(""));
    out.push('"');
}

/// Appends `n` in decimal (what `{n}` formats, without the formatting machinery: records
/// write several integers per decision).
pub fn write_int(n: i64, out: &mut String) {
    if n < 0 {
        out.push('-');
    }
    write_digits(n.unsigned_abs(), 1, out);
}

/// Appends `n` in decimal, left-padded with zeros to at least `width` digits (at most 20).
pub fn write_digits(mut n: u64, width: usize, out: &mut String) {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    let stop = buf.len().saturating_sub(width.clamp(1, buf.len()));
    while n > 0 || i > stop {
        i -= 1;
        if let Some(slot) = buf.get_mut(i) {
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if i == 0 {
            break;
        }
    }
    if let Ok(text) = core::str::from_utf8(buf.get(i..).unwrap_or(&[])) {
        out.push_str(text);
    }
}

fn write_number(n: &Number, out: &mut String) {
    match n.int {
        Some(i) => write_int(i, out),
        None => {
            let f = n.float;
            if f > -1e15 && f < 1e15 && (f as i64) as f64 == f {
                write_int(f as i64, out);
            } else {
                float::write_f64(f, out);
            }
        }
    }
}

fn write_value(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_str(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(k, out);
                out.push(':');
                write_value(item, out);
            }
            out.push('}');
        }
    }
}

fn indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push_str("  ");
    }
}

fn write_pretty(v: &Value, out: &mut String, level: usize) {
    match v {
        Value::Array(a) if !a.is_empty() => {
            out.push_str("[\n");
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                indent(out, level + 1);
                write_pretty(item, out, level + 1);
            }
            out.push('\n');
            indent(out, level);
            out.push(']');
        }
        Value::Object(m) if !m.is_empty() => {
            out.push_str("{\n");
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                indent(out, level + 1);
                write_str(k, out);
                out.push_str(": ");
                write_pretty(item, out, level + 1);
            }
            out.push('\n');
            indent(out, level);
            out.push('}');
        }
        other => write_value(other, out),
    }
}

#[cfg(test)]
#[path = "json_test.rs"]
mod tests;
