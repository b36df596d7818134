//! Finding the token in a request.
//!
//! The places looked at are the union of every rule's locations (headers with a prefix, query
//! parameters, cookies; `Authorization: Bearer` for a rule that configures none). Exactly one
//! token may be present across all of them. Two tokens — even two identical ones — a repeated
//! token header, a comma-joined header, a token followed by anything, or a prefix with no token
//! is an error, never a guess.
//!
//! The bearer grammar is RFC 6750 §2.1, applied strictly:
//! `credentials = "Bearer" 1*SP b64token`, `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" /
//! "~" / "+" / "/" ) *"="`. The scheme is matched case-insensitively (RFC 9110 §11.1), one or
//! more spaces may follow it, and nothing may follow the token (no trailing whitespace: an HTTP
//! parser has already removed the field's surrounding whitespace). A header value whose scheme
//! is something else (`Basic …`) holds no bearer token and is not an error. For a configured
//! prefix the same rules hold with the prefix (compared case-insensitively) in place of
//! `Bearer 1*SP`; an empty prefix means the whole value is the token.

use crate::authenticate::rule::TokenLocation;
use crate::authenticate::{TokenError, TokenErrorKind};
use crate::extract::request::CheckRequest;
use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

/// Where the token was found (so the engine can strip it before forwarding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// A header, by lower-case name.
    Header(String),
    /// A query parameter, by (decoded) name.
    Param(String),
    /// A cookie, by name.
    Cookie(String),
}

impl TokenSource {
    /// True when a token found here may be used under a rule listing `loc`.
    pub fn matches(&self, loc: &TokenLocation) -> bool {
        self.borrowed().matches(loc)
    }

    /// The borrowed form.
    pub fn borrowed(&self) -> SourceRef<'_> {
        match self {
            TokenSource::Header(n) => SourceRef::Header(n),
            TokenSource::Param(n) => SourceRef::Param(n),
            TokenSource::Cookie(n) => SourceRef::Cookie(n),
        }
    }
}

/// [`TokenSource`], borrowed from the policy's token locations: finding a token allocates
/// nothing for its place (it runs on every request; the owned form is made only for an
/// identity that is verified or moved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceRef<'a> {
    /// A header, by lower-case name.
    Header(&'a str),
    /// A query parameter, by (decoded) name.
    Param(&'a str),
    /// A cookie, by name.
    Cookie(&'a str),
}

impl SourceRef<'_> {
    /// True when a token found here may be used under a rule listing `loc`.
    pub fn matches(self, loc: &TokenLocation) -> bool {
        match (self, loc) {
            (SourceRef::Header(a), TokenLocation::Header { name, .. }) => a == name,
            (SourceRef::Param(a), TokenLocation::Param(b)) => a == b,
            (SourceRef::Cookie(a), TokenLocation::Cookie(b)) => a == b,
            _ => false,
        }
    }

    /// The owned form.
    pub fn owned(self) -> TokenSource {
        match self {
            SourceRef::Header(n) => TokenSource::Header(String::from(n)),
            SourceRef::Param(n) => TokenSource::Param(String::from(n)),
            SourceRef::Cookie(n) => TokenSource::Cookie(String::from(n)),
        }
    }
}

/// A token found in a request, borrowed from it where it can be (a header or a cookie; a
/// query parameter is percent-decoded into its own string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundToken<'a> {
    /// The token text.
    pub token: Cow<'a, str>,
    /// Where it was.
    pub source: SourceRef<'a>,
}

fn err(kind: TokenErrorKind) -> TokenError {
    TokenError::new(kind)
}

/// RFC 6750 `b64token` characters (and so every compact JWS character).
const fn is_b64token_char(b: u8) -> bool {
    (b.wrapping_sub(b'a') < 26)
        | (b.wrapping_sub(b'A') < 26)
        | (b.wrapping_sub(b'0') < 10)
        | (b == b'-')
        | (b == b'.')
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
        | (b == b'/')
        | (b == b'=')
}

/// [`is_b64token_char`] for every byte value, built at compile time: a token is checked on
/// every request (cache hits too), one table load per byte.
// Evaluated at compile time: an index out of range would fail the build, never a request.
#[allow(clippy::indexing_slicing)]
const B64TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = is_b64token_char(b as u8);
        b += 1;
    }
    t
};

/// True when every byte of `w` (eight bytes of a token) is a letter, a digit, `-`, `.`, `/`
/// or `_`: every character of a compact JWS (base64url and dots), and of the `b64token`
/// grammar but `+`, `~` and `=`, which [`scan_b64token`] checks byte by byte. SWAR: for a
/// byte `x` below 0x80, `x + (0x80 - lo)` has its high bit set exactly when `x >= lo`, and
/// `x + (0x7f - hi)` exactly when `x > hi`; neither carries into the next byte.
fn word_is_common(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    let within = |v: u64, lo: u64, hi: u64| {
        v.wrapping_add(ONES * (0x80 - lo)) & !v.wrapping_add(ONES * (0x7f - hi))
    };
    // `-` `.` `/` and the digits are one range, 0x2d..=0x39.
    let punct_digits = within(w, 0x2d, 0x39);
    // Setting bit 5 maps `A`-`Z` onto `a`-`z`, and nothing else into that range.
    let letters = within(w | (ONES * 0x20), 0x61, 0x7a);
    let underscore = !(w ^ (ONES * u64::from(b'_'))).wrapping_add(ONES * 0x7f);
    (w & HIGH == 0) & ((punct_digits | letters | underscore) & HIGH == HIGH)
}

/// What [`scan_b64token`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// A byte outside the `b64token` grammar.
    Invalid,
    /// Only `b64token` bytes; `padded` when one of them is `=`.
    Valid { padded: bool },
}

/// Checks every byte against the `b64token` grammar: eight at a time where they are the
/// common characters (a token is checked on every request, cache hits too), one table load
/// per byte in the words that are not.
fn scan_b64token(t: &[u8]) -> Scan {
    let bytewise = |bytes: &[u8], ok: &mut bool, padded: &mut bool| {
        for &b in bytes {
            *ok &= B64TOKEN.get(usize::from(b)).copied().unwrap_or(false);
            *padded |= b == b'=';
        }
    };
    let (mut ok, mut padded) = (true, false);
    // Two words per step: the masks stay in registers.
    let mut pairs = t.chunks_exact(16);
    for chunk in &mut pairs {
        // A chunk of `chunks_exact(16)` always converts; the fallback is checked bytewise.
        let [a, b] = <[u8; 16]>::try_from(chunk)
            .map(u128::from_le_bytes)
            .map_or([0, 0], |w| [w as u64, (w >> 64) as u64]);
        if !(word_is_common(a) & word_is_common(b)) {
            bytewise(chunk, &mut ok, &mut padded);
        }
    }
    let mut words = pairs.remainder().chunks_exact(8);
    for chunk in &mut words {
        let w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        if !word_is_common(w) {
            bytewise(chunk, &mut ok, &mut padded);
        }
    }
    bytewise(words.remainder(), &mut ok, &mut padded);
    if ok {
        Scan::Valid { padded }
    } else {
        Scan::Invalid
    }
}

/// True when every byte is a `b64token` character.
#[cfg(test)]
fn all_b64token(t: &[u8]) -> bool {
    scan_b64token(t) != Scan::Invalid
}

fn check_token_text(t: &str) -> Result<(), TokenError> {
    if t.is_empty() {
        return Err(err(TokenErrorKind::Malformed("the token is empty")));
    }
    let Scan::Valid { padded } = scan_b64token(t.as_bytes()) else {
        // The slow path only names the error.
        if t.bytes().any(|b| b == b',') {
            return Err(err(TokenErrorKind::MultipleTokens));
        }
        return Err(err(TokenErrorKind::Malformed(
            "the token contains characters outside the token grammar",
        )));
    };
    if padded {
        check_padding(t)?;
    }
    Ok(())
}

/// `*"="` only at the end (the rest of the grammar already checked).
fn check_padding(t: &str) -> Result<(), TokenError> {
    let body = t.trim_end_matches('=');
    if body.is_empty() || body.as_bytes().contains(&b'=') {
        return Err(err(TokenErrorKind::Malformed(
            "the token contains characters outside the token grammar",
        )));
    }
    Ok(())
}

/// Splits a header value on a prefix. `Ok(None)` when the value does not start with it (a
/// different scheme); `Ok(Some(token))` with the token text; `Err` when the prefix is there but
/// what follows is not exactly one token.
fn after_prefix<'a>(value: &'a str, prefix: &str) -> Result<Option<&'a str>, TokenError> {
    if prefix.is_empty() {
        if value.contains(',') {
            return Err(err(TokenErrorKind::MultipleTokens));
        }
        check_token_text(value)?;
        return Ok(Some(value));
    }
    // The prefix's scheme word and its trailing spaces: `Bearer ` = scheme `Bearer` + 1*SP.
    let scheme = prefix.trim_end_matches(' ');
    let needs_space = scheme.len() != prefix.len();
    let head = match value.get(..scheme.len()) {
        Some(h) if h.eq_ignore_ascii_case(scheme) => h,
        _ => return Ok(None),
    };
    let rest = value.get(head.len()..).unwrap_or("");
    let token = if needs_space {
        let t = rest.trim_start_matches(' ');
        if t.len() == rest.len() {
            if rest.is_empty() {
                // Exactly the scheme: a prefix with no token.
                return Err(err(TokenErrorKind::Malformed("the bearer token is empty")));
            }
            // `Bearerx`: another scheme.
            return Ok(None);
        }
        t
    } else {
        rest
    };
    if token.is_empty() {
        return Err(err(TokenErrorKind::Malformed("the bearer token is empty")));
    }
    // The common case in one pass: the token is all token characters (so no comma, space or
    // tab in it) and the scheme part has no comma.
    let scheme_part = value
        .get(..value.len().saturating_sub(token.len()))
        .unwrap_or(value);
    if let Scan::Valid { padded } = scan_b64token(token.as_bytes()) {
        if !scheme_part.contains(',') {
            if padded {
                check_padding(token)?;
            }
            return Ok(Some(token));
        }
    }
    if value.contains(',') {
        return Err(err(TokenErrorKind::MultipleTokens));
    }
    if token.bytes().any(|b| b == b' ' || b == b'\t') {
        return Err(err(TokenErrorKind::Malformed(
            "the token is followed by other text",
        )));
    }
    check_token_text(token)?;
    Ok(Some(token))
}

/// Percent-decodes `s` strictly (`%` must be followed by two hex digits). `+` is kept as is.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let h = b.get(i + 1).and_then(|x| (*x as char).to_digit(16))?;
            let l = b.get(i + 2).and_then(|x| (*x as char).to_digit(16))?;
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The token after the first of `prefixes` that `value` starts with, trying them longest
/// first (equal lengths in the order given).
fn longest_prefix_match<'v, 'p, I>(
    value: &'v str,
    prefixes: impl Fn() -> I,
) -> Result<Option<&'v str>, TokenError>
where
    I: Iterator<Item = &'p str>,
{
    let mut below = usize::MAX;
    while let Some(len) = prefixes().map(str::len).filter(|&l| l < below).max() {
        for p in prefixes().filter(|p| p.len() == len) {
            if let Some(t) = after_prefix(value, p)? {
                return Ok(Some(t));
            }
        }
        below = len;
    }
    Ok(None)
}

/// Finds the one token among `locations` in `req`. `Ok(None)` when there is none.
pub fn find_token<'a>(
    req: &'a CheckRequest,
    locations: &'a [TokenLocation],
) -> Result<Option<FoundToken<'a>>, TokenError> {
    let mut found: Option<FoundToken<'a>> = None;
    let mut put = |t: FoundToken<'a>| -> Result<(), TokenError> {
        if found.is_some() {
            return Err(err(TokenErrorKind::MultipleTokens));
        }
        found = Some(t);
        Ok(())
    };

    // Headers: each header name once (at its first location), with all its prefixes, longest
    // first (equal lengths in the order given). No allocation: this runs on every request.
    for (i, loc) in locations.iter().enumerate() {
        let TokenLocation::Header { name, .. } = loc else {
            continue;
        };
        let seen = locations
            .iter()
            .take(i)
            .any(|l| matches!(l, TokenLocation::Header { name: n, .. } if n == name));
        if seen {
            continue;
        }
        let prefixes = || {
            locations.iter().filter_map(move |l| match l {
                TokenLocation::Header { name: n, prefix } if n == name => Some(prefix.as_str()),
                _ => None,
            })
        };
        let mut values = 0usize;
        let mut hit = None;
        for value in req.header_values(name) {
            values += 1;
            if let Some(t) = longest_prefix_match(value, prefixes)? {
                if hit.is_some() {
                    return Err(err(TokenErrorKind::MultipleTokens));
                }
                hit = Some(t);
            }
        }
        if let Some(t) = hit {
            if values > 1 {
                // Two `Authorization` headers are never one credential.
                return Err(err(TokenErrorKind::MultipleTokens));
            }
            put(FoundToken {
                token: Cow::Borrowed(t),
                source: SourceRef::Header(name),
            })?;
        }
    }

    // Query parameters.
    let params: Vec<&str> = locations
        .iter()
        .filter_map(|l| match l {
            TokenLocation::Param(p) => Some(p.as_str()),
            _ => None,
        })
        .collect();
    if !params.is_empty() {
        let query = req
            .path
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or("")
            .split('#')
            .next()
            .unwrap_or("");
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let Some(key) = percent_decode(k) else {
                continue;
            };
            if let Some(p) = params.iter().find(|p| **p == key) {
                let value = percent_decode(v).ok_or_else(|| {
                    err(TokenErrorKind::Malformed(
                        "the token parameter has a malformed percent-escape",
                    ))
                })?;
                check_token_text(&value)?;
                put(FoundToken {
                    token: Cow::Owned(value),
                    source: SourceRef::Param(p),
                })?;
            }
        }
    }

    // Cookies, from every `cookie` header value.
    let cookies: Vec<&str> = locations
        .iter()
        .filter_map(|l| match l {
            TokenLocation::Cookie(c) => Some(c.as_str()),
            _ => None,
        })
        .collect();
    if !cookies.is_empty() {
        for header in req.header_values("cookie") {
            for pair in header.split(';') {
                let pair = pair.trim_matches(' ');
                let Some((k, v)) = pair.split_once('=') else {
                    continue;
                };
                if let Some(c) = cookies.iter().find(|c| **c == k) {
                    let v = match v.strip_prefix('"') {
                        Some(inner) => inner.strip_suffix('"').ok_or_else(|| {
                            err(TokenErrorKind::Malformed("the token cookie is malformed"))
                        })?,
                        None => v,
                    };
                    check_token_text(v)?;
                    put(FoundToken {
                        token: Cow::Borrowed(v),
                        source: SourceRef::Cookie(c),
                    })?;
                }
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
#[path = "token_test.rs"]
mod tests;
