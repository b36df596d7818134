//! One token: the compact JWS grammar, header and claims checks, and the signature.
//!
//! The order is fixed and every step fails closed with one [`TokenErrorKind`]:
//!
//! 1. size: the token is refused before any decoding if it is longer than the largest
//!    `maxTokenBytes` of any rule (and, once its rule is known, than that rule's);
//! 2. grammar: exactly three `.`-separated segments of canonical base64url without padding
//!    (alphabet `A–Z a–z 0–9 - _`, no `=`, zero trailing bits);
//! 3. header: a JSON object ([`HEADER_LIMITS`], duplicate keys refused); `alg` a string naming
//!    a supported algorithm (`none` in any case and `HS*` are refused); `jwk`, `jku`, `x5u`,
//!    `x5c`, `b64`, `zip` and a nested-JWT `cty` refused; any `crit` refused (Vigil understands
//!    no extension); `kid` and `typ` strings if present;
//! 4. claims: a JSON object ([`crate::json::Limits::TOKEN`]); `iss` picks the rule (exact
//!    match: a token never falls through to another rule's keys);
//! 5. key: from the issuer's set by `kid`; without `kid` only if exactly one key of the set can
//!    verify the header's algorithm. **The key decides the algorithm** ([`Jwk::accepts`]): the
//!    header's `alg` must be the key's own `alg` (or, for a key without one, an algorithm of
//!    its type: RS*/PS* for RSA, ES256 for P-256, ES384 for P-384, ES512 for P-521, EdDSA for Ed25519) and be
//!    in the rule's `algorithms` (every public-key algorithm when the rule names none);
//! 6. signature ([`verify_signature`] over `header.payload`; the arithmetic is in
//!    [`vigil_crypto`]); ES256 / ES384 / ES512 signatures are raw `R‖S` of exactly 64 / 96 / 132 bytes with
//!    `r`, `s` in `[1, n−1]` (DER refused);
//! 7. header `typ` when `requiredType`; then the claims: `exp` required and numeric, `nbf` and
//!    `iat` numeric when present, all with the rule's clock skew; `iat` in the future refused;
//!    lifetime; `aud`; `sub`/`azp` strings; `requireClaims`.
//!
//! Claims are checked after the signature, so time and audience errors are only ever reported
//! for authentic tokens.

use crate::authenticate::jwks::{Alg, Jwk, PublicKey};
use crate::authenticate::rule::JwtRule;
use crate::authenticate::{Identity, KeyStore, Part, TokenError, TokenErrorKind};
use crate::extract::token::TokenSource;
use crate::json::{self, JsonErrorKind, Limits, Map, Value};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use vigil_crypto::rsa::Padding;
use vigil_crypto::Hash;

/// Bounds for a token header: 4 KiB, depth 4.
pub const HEADER_LIMITS: Limits = Limits {
    max_bytes: 4 << 10,
    max_depth: 4,
};

/// Bounds for token claims.
pub const CLAIMS_LIMITS: Limits = Limits::TOKEN;

/// The base64url alphabet (RFC 4648 §5).
const B64_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Each byte's 6-bit value in the base64url alphabet, or `0xff` (bits 6 and 7 set, which no
/// value has) for a byte outside it.
// Evaluated at compile time: an index out of range would fail the build, never a request.
#[allow(clippy::indexing_slicing)]
const B64_VALUES: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 64 {
        t[B64_ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
};

fn b64_value(c: &u8) -> u32 {
    u32::from(B64_VALUES.get(usize::from(*c)).copied().unwrap_or(0xff))
}

/// Decodes canonical base64url without padding (RFC 7515 §2): only `A–Z a–z 0–9 - _`, no
/// `=`, a length that is not 1 mod 4, and zero bits after the last byte. `None` otherwise.
/// Four characters at a time through a table (every request with a new token decodes ~500);
/// `jwt_test.rs` checks it against the `base64` crate on random and edge inputs.
pub fn b64url_decode(s: &[u8]) -> Option<Vec<u8>> {
    let rem = s.len() % 4;
    if rem == 1 {
        return None;
    }
    let (quads, tail) = s.split_at(s.len() - rem);
    let mut out = alloc::vec![0u8; quads.len() / 4 * 3 + rem.saturating_sub(1)];
    let (full, last) = out.split_at_mut(quads.len() / 4 * 3);
    // Any character outside the alphabet sets bit 6 or 7 here.
    let mut invalid = 0u32;
    let mut spare = 0u32;
    for (q, o) in quads.chunks_exact(4).zip(full.chunks_exact_mut(3)) {
        if let ([a, b, c, d], [x, y, z]) = (q, o) {
            let (a, b, c, d) = (b64_value(a), b64_value(b), b64_value(c), b64_value(d));
            invalid |= a | b | c | d;
            let n = (a << 18) | (b << 12) | (c << 6) | d;
            *x = (n >> 16) as u8;
            *y = (n >> 8) as u8;
            *z = n as u8;
        }
    }
    // Two characters are one byte and four spare bits, three are two bytes and two spare
    // bits: the spare bits must be zero.
    match (tail, last) {
        ([], []) => {}
        ([a, b], [x]) => {
            let (a, b) = (b64_value(a), b64_value(b));
            invalid |= a | b;
            spare = b & 0x0f;
            *x = ((a << 2) | (b >> 4)) as u8;
        }
        ([a, b, c], [x, y]) => {
            let (a, b, c) = (b64_value(a), b64_value(b), b64_value(c));
            invalid |= a | b | c;
            spare = c & 0x03;
            let n = (a << 12) | (b << 6) | c;
            *x = (n >> 10) as u8;
            *y = (n >> 2) as u8;
        }
        _ => return None,
    }
    (invalid & 0xc0 == 0 && spare == 0).then_some(out)
}

/// Encodes bytes as base64url without padding.
pub fn b64url_encode(bytes: &[u8]) -> String {
    const A: &[u8; 64] = B64_ALPHABET;
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let idx = ((n >> (18 - 6 * i)) & 63) as usize;
            if let Some(c) = A.get(idx) {
                out.push(*c as char);
            }
        }
    }
    out
}

fn e(kind: TokenErrorKind) -> TokenError {
    TokenError::new(kind)
}

fn parse_part(bytes: &[u8], limits: Limits, part: Part) -> Result<Value, TokenError> {
    json::parse_bytes(bytes, limits).map_err(|je| match je.kind {
        JsonErrorKind::DuplicateKey(_) => e(TokenErrorKind::DuplicateKey(part)),
        JsonErrorKind::TooDeep { .. } => e(TokenErrorKind::TooDeep(part)),
        JsonErrorKind::TooLarge { .. } => e(TokenErrorKind::TooLarge),
        _ => e(TokenErrorKind::BadJson(part)),
    })
}

/// The decoded parts of a token that passed the grammar and header checks.
#[derive(Debug)]
pub struct Decoded<'t> {
    /// `header.payload`, the JWS signing input.
    pub signing_input: &'t str,
    /// The payload segment (base64url, as in the token).
    pub payload_b64: &'t str,
    /// The signature segment.
    pub signature_b64: &'t str,
    /// The header object.
    pub header: Map,
    /// The header's algorithm.
    pub alg: Alg,
    /// The header's `kid`.
    pub kid: Option<String>,
    /// The claims object.
    pub claims: Map,
}

/// Steps 1–4 without a rule: size against `max_bytes`, grammar, header, claims as JSON.
pub fn decode(token: &str, max_bytes: usize) -> Result<Decoded<'_>, TokenError> {
    if token.len() > max_bytes {
        return Err(e(TokenErrorKind::TooLarge));
    }
    if token.is_empty() {
        return Err(e(TokenErrorKind::Malformed("the token is empty")));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(e(TokenErrorKind::Malformed(
            "the token does not have exactly three segments",
        )));
    };
    if h.is_empty() || p.is_empty() {
        return Err(e(TokenErrorKind::Malformed("a token segment is empty")));
    }
    let header_bytes =
        b64url_decode(h.as_bytes()).ok_or_else(|| e(TokenErrorKind::BadBase64(Part::Header)))?;
    let header = match parse_part(&header_bytes, HEADER_LIMITS, Part::Header)? {
        Value::Object(m) => m,
        _ => {
            return Err(e(TokenErrorKind::Malformed(
                "the header is not a json object",
            )))
        }
    };
    let alg_name = match header.get("alg") {
        Some(Value::String(a)) => a.as_str(),
        Some(_) => return Err(e(TokenErrorKind::BadHeader("`alg` is not a string"))),
        None => return Err(e(TokenErrorKind::BadHeader("`alg` is missing"))),
    };
    let alg = Alg::from_name(alg_name).ok_or_else(|| e(TokenErrorKind::AlgNotAllowed))?;
    for forbidden in ["jwk", "jku", "x5u", "x5c", "b64", "zip"] {
        if header.get(forbidden).is_some() {
            return Err(e(TokenErrorKind::ForbiddenHeader(forbidden)));
        }
    }
    if header.get("crit").is_some() {
        return Err(e(TokenErrorKind::UnknownCrit));
    }
    match header.get("cty") {
        None => {}
        Some(Value::String(c)) if c.eq_ignore_ascii_case("jwt") => {
            return Err(e(TokenErrorKind::ForbiddenHeader("cty")))
        }
        Some(Value::String(_)) => {}
        Some(_) => return Err(e(TokenErrorKind::BadHeader("`cty` is not a string"))),
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(e(TokenErrorKind::BadHeader("`kid` is not a string"))),
    };
    if !matches!(header.get("typ"), None | Some(Value::String(_))) {
        return Err(e(TokenErrorKind::BadHeader("`typ` is not a string")));
    }
    let payload_bytes =
        b64url_decode(p.as_bytes()).ok_or_else(|| e(TokenErrorKind::BadBase64(Part::Payload)))?;
    let claims = match parse_part(&payload_bytes, CLAIMS_LIMITS, Part::Payload)? {
        Value::Object(m) => m,
        _ => {
            return Err(e(TokenErrorKind::Malformed(
                "the claims are not a json object",
            )))
        }
    };
    let signing_input = token.get(..h.len() + 1 + p.len()).unwrap_or("");
    Ok(Decoded {
        signing_input,
        payload_b64: p,
        signature_b64: s,
        header,
        alg,
        kid,
        claims,
    })
}

/// Chooses the key: by `kid`, or the one key of the set that can verify `alg`.
pub fn select_key<'k>(
    set: &'k crate::authenticate::jwks::JwkSet,
    issuer: &str,
    kid: Option<&str>,
    alg: Alg,
) -> Result<&'k Jwk, TokenError> {
    match kid {
        Some(k) => set.by_kid(k).ok_or_else(|| {
            e(TokenErrorKind::UnknownKid {
                issuer: issuer.to_string(),
                kid: Some(k.to_string()),
            })
        }),
        None => {
            let mut c = set.keys().iter().filter(|k| k.accepts(alg));
            match (c.next(), c.next()) {
                (Some(k), None) => Ok(k),
                (None, _) => Err(e(TokenErrorKind::UnknownKid {
                    issuer: issuer.to_string(),
                    kid: None,
                })),
                (Some(_), Some(_)) => Err(e(TokenErrorKind::AmbiguousKey)),
            }
        }
    }
}

/// Who checks a signature once every other check before it has passed: policy-core's own
/// crypto ([`NativeSignatures`]), or an adapter that verifies with its runtime (the JS module
/// can use WebCrypto). The key and the algorithm are the ones the policy decided (the key
/// decides the algorithm); the signature is already decoded and well-formed for it
/// ([`signature_well_formed`]). Everything else — grammar, header, key choice, claims — stays
/// here whoever checks the signature.
pub trait SignatureCheck {
    /// True when `signature` over `message` verifies with `key` under `alg`.
    fn check(&mut self, alg: Alg, key: &Jwk, message: &[u8], signature: &[u8]) -> bool;
}

/// policy-core's own verification ([`verify_signature`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct NativeSignatures;

impl SignatureCheck for NativeSignatures {
    fn check(&mut self, alg: Alg, key: &Jwk, message: &[u8], signature: &[u8]) -> bool {
        verify_signature(alg, &key.key, message, signature)
    }
}

/// The shape checks [`verify_signature`] makes before any arithmetic: an RSA signature is as
/// long as the modulus and below it; ES256 / ES384 / ES512 are raw `R‖S` of 64 / 96 / 132 bytes
/// with `r`, `s` in `[1, n−1]`; Ed25519 is 64 bytes; the key fits the algorithm.
pub fn signature_well_formed(alg: Alg, key: &PublicKey, signature: &[u8]) -> bool {
    match (alg, key) {
        // Equal lengths, big-endian: the byte order is the numeric order (s < n, RFC 8017).
        (a, PublicKey::Rsa(k)) if a.is_rsa() => {
            signature.len() == k.size() && signature < k.n_bytes()
        }
        (Alg::Es256 | Alg::Es384 | Alg::Es512, PublicKey::Ec(k)) => {
            alg.key_type() == key.key_type() && k.curve().signature_in_range(signature)
        }
        (Alg::EdDsa, PublicKey::Ed25519(_)) => signature.len() == 64,
        _ => false,
    }
}

/// Verifies `signature` over `message` with `key` under `alg` (which the caller has already
/// checked the key decides). Returns false for any malformed signature.
pub fn verify_signature(alg: Alg, key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
    if !signature_well_formed(alg, key, signature) {
        return false;
    }
    match (alg, key) {
        (a, PublicKey::Rsa(k)) if a.is_rsa() => {
            let hash = match a {
                Alg::Rs256 | Alg::Ps256 => Hash::Sha256,
                Alg::Rs384 | Alg::Ps384 => Hash::Sha384,
                _ => Hash::Sha512,
            };
            let padding = if matches!(a, Alg::Ps256 | Alg::Ps384 | Alg::Ps512) {
                Padding::Pss
            } else {
                Padding::Pkcs1v15
            };
            k.verify_message(padding, hash, message, signature)
        }
        (Alg::Es256 | Alg::Es384 | Alg::Es512, PublicKey::Ec(k)) => {
            let hash = match alg {
                Alg::Es384 => Hash::Sha384,
                Alg::Es512 => Hash::Sha512,
                _ => Hash::Sha256,
            };
            k.verify_prehash(hash.digest(&[message]).as_bytes(), signature)
        }
        (Alg::EdDsa, PublicKey::Ed25519(k)) => {
            use ed25519_dalek::Verifier;
            let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
                return false;
            };
            k.verify(message, &sig).is_ok()
        }
        _ => false,
    }
}

/// `f` rounded down to an integer (saturating), without `std`.
fn floor_i64(f: f64) -> i64 {
    let t = f as i64;
    if (t as f64) > f {
        t.saturating_sub(1)
    } else {
        t
    }
}

fn number(claims: &Map, name: &'static str) -> Result<Option<f64>, TokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => Ok(Some(n.as_f64())),
        Some(_) => Err(e(TokenErrorKind::BadClaimType(name))),
    }
}

fn opt_string(claims: &Map, name: &'static str) -> Result<Option<String>, TokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(e(TokenErrorKind::BadClaimType(name))),
    }
}

/// True when `typ` names the `required` media type: case-insensitive, with or without an
/// `application/` prefix on either side (RFC 7515 §4.1.9).
pub fn type_matches(typ: &str, required: &str) -> bool {
    fn strip(s: &str) -> &str {
        match s.get(..12) {
            Some(p) if p.eq_ignore_ascii_case("application/") => s.get(12..).unwrap_or(""),
            _ => s,
        }
    }
    strip(typ).eq_ignore_ascii_case(strip(required))
}

/// Checks everything after the signature and builds the identity.
pub fn check_claims(
    rule: &JwtRule,
    rule_index: usize,
    d: Decoded<'_>,
    source: TokenSource,
    now: i64,
) -> Result<Identity, TokenError> {
    if let Some(req) = &rule.required_type {
        match d.header.get("typ").and_then(Value::as_str) {
            Some(t) if type_matches(t, req) => {}
            _ => return Err(e(TokenErrorKind::BadType)),
        }
    }
    let claims = d.claims;
    let skew = f64::from(rule.clock_skew_seconds);
    let nowf = now as f64;
    let exp =
        number(&claims, "exp")?.ok_or_else(|| e(TokenErrorKind::MissingClaim("exp".into())))?;
    if nowf >= exp + skew {
        return Err(e(TokenErrorKind::Expired));
    }
    let nbf = number(&claims, "nbf")?;
    if let Some(nbf) = nbf {
        if nowf + skew < nbf {
            return Err(e(TokenErrorKind::NotYetValid));
        }
    }
    let iat = number(&claims, "iat")?;
    if let Some(iat) = iat {
        if iat > nowf + skew {
            return Err(e(TokenErrorKind::IssuedInFuture));
        }
    }
    if let Some(max) = rule.max_token_lifetime_seconds {
        let iat = iat.ok_or_else(|| e(TokenErrorKind::MissingClaim("iat".into())))?;
        if exp - iat > max as f64 {
            return Err(e(TokenErrorKind::LifetimeTooLong));
        }
    }
    let audiences: Vec<String> = match claims.get("aud") {
        None => Vec::new(),
        Some(Value::String(s)) => alloc::vec![s.clone()],
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for i in items {
                match i {
                    Value::String(s) => out.push(s.clone()),
                    _ => return Err(e(TokenErrorKind::BadClaimType("aud"))),
                }
            }
            out
        }
        Some(_) => return Err(e(TokenErrorKind::BadClaimType("aud"))),
    };
    if !rule.audiences.is_empty() && !audiences.iter().any(|a| rule.audiences.contains(a)) {
        return Err(e(TokenErrorKind::AudienceMismatch));
    }
    let subject = opt_string(&claims, "sub")?;
    let presenter = opt_string(&claims, "azp")?;
    for name in &rule.require_claims {
        if matches!(claims.get(name), None | Some(Value::Null)) {
            return Err(e(TokenErrorKind::MissingClaim(name.clone())));
        }
    }
    let principal = alloc::format!("{}/{}", rule.issuer, subject.as_deref().unwrap_or(""));
    Ok(Identity {
        issuer: rule.issuer.clone(),
        subject,
        principal,
        audiences,
        presenter,
        claims,
        rule: rule_index,
        expires_at: floor_i64(exp),
        exp,
        not_before: nbf,
        issued_at: iat.map(floor_i64),
        source,
        key_fingerprint: None,
    })
}

/// The full verification of one token against a set of rules (see the module docs).
pub fn verify(
    rules: &[JwtRule],
    max_bytes: usize,
    token: &str,
    source: TokenSource,
    now: i64,
    keys: &KeyStore,
) -> Result<Identity, TokenError> {
    verify_using(
        rules,
        max_bytes,
        token,
        source,
        now,
        keys,
        &mut NativeSignatures,
    )
}

/// [`verify`], with `signatures` checking the signature.
pub fn verify_using(
    rules: &[JwtRule],
    max_bytes: usize,
    token: &str,
    source: TokenSource,
    now: i64,
    keys: &KeyStore,
    signatures: &mut dyn SignatureCheck,
) -> Result<Identity, TokenError> {
    let d = decode(token, max_bytes)?;
    let iss = match d.claims.get("iss") {
        None => return Err(e(TokenErrorKind::MissingClaim("iss".into()))),
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(e(TokenErrorKind::BadClaimType("iss"))),
    };
    let (index, rule) = rules
        .iter()
        .enumerate()
        .find(|(_, r)| r.issuer == iss)
        .ok_or_else(|| e(TokenErrorKind::UnknownIssuer))?;
    verify_with_rule_using(rule, index, d, token, source, now, keys, signatures)
}

/// Verification once the rule is known (the token's `iss` must equal the rule's issuer).
pub fn verify_with_rule(
    rule: &JwtRule,
    index: usize,
    d: Decoded<'_>,
    token: &str,
    source: TokenSource,
    now: i64,
    keys: &KeyStore,
) -> Result<Identity, TokenError> {
    verify_with_rule_using(
        rule,
        index,
        d,
        token,
        source,
        now,
        keys,
        &mut NativeSignatures,
    )
}

/// [`verify_with_rule`], with `signatures` checking the signature.
#[allow(clippy::too_many_arguments)]
pub fn verify_with_rule_using(
    rule: &JwtRule,
    index: usize,
    d: Decoded<'_>,
    token: &str,
    source: TokenSource,
    now: i64,
    keys: &KeyStore,
    signatures: &mut dyn SignatureCheck,
) -> Result<Identity, TokenError> {
    if d.claims.get("iss").and_then(Value::as_str) != Some(rule.issuer.as_str()) {
        return Err(e(TokenErrorKind::IssuerMismatch));
    }
    if token.len() > rule.max_token_bytes {
        return Err(e(TokenErrorKind::TooLarge));
    }
    if !rule.locations.iter().any(|l| source.matches(l)) {
        return Err(e(TokenErrorKind::WrongLocation));
    }
    if !rule.algorithms.contains(&d.alg) {
        return Err(e(TokenErrorKind::AlgNotAllowed));
    }
    let set = keys.get(&rule.issuer).ok_or_else(|| {
        e(TokenErrorKind::NoKeys {
            issuer: rule.issuer.clone(),
        })
    })?;
    let key = select_key(set, &rule.issuer, d.kid.as_deref(), d.alg)?;
    // The key decides: the header's `alg` must be the key's own `alg`, or of its type.
    if !key.accepts(d.alg) {
        return Err(e(TokenErrorKind::AlgMismatch));
    }
    let key_alg = d.alg;
    if d.signature_b64.is_empty() {
        return Err(e(TokenErrorKind::Malformed("the signature is empty")));
    }
    let sig = b64url_decode(d.signature_b64.as_bytes())
        .ok_or_else(|| e(TokenErrorKind::BadBase64(Part::Signature)))?;
    if !signature_well_formed(key_alg, &key.key, &sig)
        || !signatures.check(key_alg, key, d.signing_input.as_bytes(), &sig)
    {
        return Err(e(TokenErrorKind::BadSignature));
    }
    let mut id = check_claims(rule, index, d, source, now)?;
    id.key_fingerprint = Some(key.fingerprint);
    Ok(id)
}

#[cfg(test)]
#[path = "jwt_test.rs"]
mod tests;
