//! Signed bundles: a policy document or a feed snapshot, signed by its owner with Ed25519, so a
//! proxy or an edge installs only what the owner published (docs/bundles.md).
//!
//! A bundle is a JWS in compact serialisation (RFC 7515) — three base64url segments — with
//!
//! * header `{"alg": "EdDSA", "kid": KEY_ID, "typ": "vigil-bundle"}`: `typ` is required and
//!   exact, so that no token signed with another purpose's key can pass as a bundle (keep bundle
//!   keys apart from token keys all the same); no other header member is accepted;
//! * payload `{"kind": KIND, "revision": N, "issuedAt": UNIX, "document": {...}}`: `kind` is
//!   `policy`, `revocation`, `networkLists` or `riskLabels`; `revision` an integer from 1 to
//!   2^53 − 1 that every new bundle of that kind increases; `issuedAt` optional.
//!
//! Verification is strict: canonical base64url, the JSON parser's limits and duplicate-key
//! refusal, a key chosen only by `kid` from the verifier's own key set (several keys, for
//! rotation), a revision above the last installed one (a replay of an older bundle is refused;
//! the same revision again is "unchanged" only when the bytes are the same), and the kind the
//! caller expects. Anything else is a precise [`BundleError`], and the caller keeps its last
//! good state.

use crate::authenticate::jwks::{Alg, JwkSet, PublicKey};
use crate::authenticate::jwt::{b64url_decode, verify_signature};
use crate::error::{ErrorCode, PolicyError};
use crate::json::{self, Limits, Map, Value};
use crate::policy::read::{quote_str, Obj};
use alloc::format;
use alloc::string::{String, ToString};

/// The header `typ` of a bundle.
pub const BUNDLE_TYP: &str = "vigil-bundle";
/// Largest bundle accepted (a policy document's limit, base64url-encoded, plus the rest).
pub const MAX_BUNDLE_BYTES: usize = 22 << 20;
/// Largest revision (the largest integer a JSON number holds exactly).
pub const MAX_REVISION: u64 = (1 << 53) - 1;

/// What a bundle carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A policy document.
    Policy,
    /// A revocation snapshot.
    Revocation,
    /// Network lists (CIDR sets by name).
    NetworkLists,
    /// Subject risk labels.
    RiskLabels,
}

impl Kind {
    /// The name in bundles.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Policy => "policy",
            Kind::Revocation => "revocation",
            Kind::NetworkLists => "networkLists",
            Kind::RiskLabels => "riskLabels",
        }
    }
    /// Reads a kind name.
    pub fn parse(s: &str) -> Option<Kind> {
        [
            Kind::Policy,
            Kind::Revocation,
            Kind::NetworkLists,
            Kind::RiskLabels,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A verified bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    /// What it carries.
    pub kind: Kind,
    /// Its revision.
    pub revision: u64,
    /// When it was signed, if it says.
    pub issued_at: Option<i64>,
    /// The key that signed it.
    pub kid: String,
    /// The document.
    pub document: Value,
}

/// Why a bundle was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleError {
    /// Stable code: `too_large`, `malformed`, `bad_base64`, `bad_json`, `bad_header`,
    /// `unknown_key`, `bad_signature`, `bad_payload`, `wrong_kind`, `stale_revision`.
    pub code: &'static str,
    /// Lower-case explanation (never key material).
    pub message: String,
}

fn err(code: &'static str, message: impl Into<String>) -> BundleError {
    BundleError {
        code,
        message: message.into(),
    }
}

impl core::fmt::Display for BundleError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

/// The keys a verifier trusts: Ed25519 members of a JWK Set, each with a `kid`.
#[derive(Debug, Clone)]
pub struct BundleKeys {
    set: JwkSet,
}

impl BundleKeys {
    /// Reads a JWK Set of Ed25519 public keys (`{"kty": "OKP", "crv": "Ed25519", "kid", "x"}`);
    /// every member must have a `kid` and be usable.
    pub fn from_jwks(v: &Value) -> Result<BundleKeys, BundleError> {
        let set = JwkSet::from_value(v)
            .map_err(|e| err("bad_keys", format!("{}: {}", e.path, e.message)))?;
        if let Some((path, why)) = set.skipped().first() {
            return Err(err("bad_keys", format!("{path}: {why}")));
        }
        for (i, k) in set.keys().iter().enumerate() {
            if !matches!(k.key, PublicKey::Ed25519(_)) {
                return Err(err(
                    "bad_keys",
                    format!("keys[{i}]: bundle keys are Ed25519 (kty OKP, crv Ed25519)"),
                ));
            }
            if k.kid.is_none() {
                return Err(err(
                    "bad_keys",
                    format!("keys[{i}]: a bundle key needs a `kid`"),
                ));
            }
        }
        if set.is_empty() {
            return Err(err("bad_keys", "the key set has no keys"));
        }
        Ok(BundleKeys { set })
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// True when there are none (never, once built).
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

/// What the verifier knows from before: the last installed revision of this kind and its
/// bytes (a bundle fetched again unchanged is not a replay).
#[derive(Debug, Clone, Copy, Default)]
pub struct Last<'a> {
    /// The revision installed, if any.
    pub revision: Option<u64>,
    /// The bundle text installed.
    pub text: Option<&'a str>,
}

/// The outcome of a verified fetch.
#[derive(Debug, Clone, PartialEq)]
pub enum Verified {
    /// A newer bundle: install it.
    New(Bundle),
    /// The installed bundle again, byte for byte.
    Unchanged,
}

/// Verifies a bundle of `kind` against `keys`, newer than `last`.
pub fn verify(
    text: &str,
    keys: &BundleKeys,
    kind: Kind,
    last: Last<'_>,
) -> Result<Verified, BundleError> {
    if text.len() > MAX_BUNDLE_BYTES {
        return Err(err(
            "too_large",
            format!("the bundle is larger than {MAX_BUNDLE_BYTES} bytes"),
        ));
    }
    let text = text.trim_end_matches(['\n', '\r']);
    if last
        .text
        .is_some_and(|t| t.trim_end_matches(['\n', '\r']) == text)
    {
        return Ok(Verified::Unchanged);
    }
    let mut parts = text.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(err(
            "malformed",
            "a bundle is three base64url segments separated by `.`",
        ));
    };
    let header = b64url_decode(h.as_bytes())
        .ok_or_else(|| err("bad_base64", "the header is not canonical base64url"))?;
    let header = parse_json(&header, Limits::REQUEST, "header")?;
    let Value::Object(header) = header else {
        return Err(err("bad_header", "the header is not an object"));
    };
    check_header(&header)?;
    let kid = match header.get("kid") {
        Some(Value::String(k)) => k.clone(),
        _ => return Err(err("bad_header", "`kid` is missing or not a string")),
    };
    let key = keys.set.by_kid(&kid).ok_or_else(|| {
        err(
            "unknown_key",
            format!("no trusted bundle key has kid `{}`", printable(&kid)),
        )
    })?;
    let sig = b64url_decode(s.as_bytes())
        .ok_or_else(|| err("bad_base64", "the signature is not canonical base64url"))?;
    let signing_input = text.get(..h.len() + 1 + p.len()).unwrap_or("");
    if !verify_signature(Alg::EdDsa, &key.key, signing_input.as_bytes(), &sig) {
        return Err(err(
            "bad_signature",
            format!(
                "the signature does not verify with key `{}`",
                printable(&kid)
            ),
        ));
    }
    // Only now, the payload: nothing unverified is parsed beyond the header.
    let payload = b64url_decode(p.as_bytes())
        .ok_or_else(|| err("bad_base64", "the payload is not canonical base64url"))?;
    let payload = parse_json(&payload, Limits::POLICY, "payload")?;
    let b = read_payload(&payload, kid)?;
    if b.kind != kind {
        return Err(err(
            "wrong_kind",
            format!(
                "a `{}` bundle where a `{}` bundle is expected",
                b.kind.as_str(),
                kind.as_str()
            ),
        ));
    }
    if let Some(r) = last.revision {
        if b.revision <= r {
            return Err(err(
                "stale_revision",
                format!("revision {} is not above the installed revision {r} (an old bundle replayed, or a new one not numbered up)", b.revision),
            ));
        }
    }
    Ok(Verified::New(b))
}

fn parse_json(bytes: &[u8], limits: Limits, what: &str) -> Result<Value, BundleError> {
    let text = core::str::from_utf8(bytes)
        .map_err(|_| err("bad_json", format!("the {what} is not utf-8")))?;
    json::parse(text, limits).map_err(|e| err("bad_json", format!("{what}: {e}")))
}

fn printable(s: &str) -> String {
    s.chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

fn check_header(h: &Map) -> Result<(), BundleError> {
    for (k, _) in h.iter() {
        if !["alg", "kid", "typ"].contains(&k) {
            return Err(err(
                "bad_header",
                format!(
                    "header member `{}` is not allowed in a bundle",
                    printable(k)
                ),
            ));
        }
    }
    if h.get("alg").and_then(Value::as_str) != Some("EdDSA") {
        return Err(err(
            "bad_header",
            "a bundle is signed with `alg` EdDSA (Ed25519)",
        ));
    }
    if h.get("typ").and_then(Value::as_str) != Some(BUNDLE_TYP) {
        return Err(err("bad_header", format!("`typ` must be `{BUNDLE_TYP}`")));
    }
    Ok(())
}

fn read_payload(v: &Value, kid: String) -> Result<Bundle, BundleError> {
    let Value::Object(m) = v else {
        return Err(err("bad_payload", "the payload is not an object"));
    };
    for (k, _) in m.iter() {
        if !["kind", "revision", "issuedAt", "document"].contains(&k) {
            return Err(err(
                "bad_payload",
                format!("unknown payload member `{}`", printable(k)),
            ));
        }
    }
    let kind = m
        .get("kind")
        .and_then(Value::as_str)
        .and_then(Kind::parse)
        .ok_or_else(|| {
            err(
                "bad_payload",
                "`kind` must be `policy`, `revocation`, `networkLists` or `riskLabels`",
            )
        })?;
    let revision = m
        .get("revision")
        .and_then(Value::as_number)
        .and_then(|n| n.as_i64())
        .and_then(|n| u64::try_from(n).ok())
        .filter(|n| (1..=MAX_REVISION).contains(n))
        .ok_or_else(|| {
            err(
                "bad_payload",
                format!("`revision` must be an integer from 1 to {MAX_REVISION}"),
            )
        })?;
    let issued_at = match m.get("issuedAt") {
        None => None,
        Some(n) => Some(n.as_number().and_then(|n| n.as_i64()).ok_or_else(|| {
            err(
                "bad_payload",
                "`issuedAt` must be an integer (unix seconds)",
            )
        })?),
    };
    let document = match m.get("document") {
        Some(d @ Value::Object(_)) => d.clone(),
        _ => return Err(err("bad_payload", "`document` must be an object")),
    };
    Ok(Bundle {
        kind,
        revision,
        issued_at,
        kid,
        document,
    })
}

/// The signing input of a bundle (for signers): `base64url(header).base64url(payload)`.
pub fn signing_input(
    kid: &str,
    kind: Kind,
    revision: u64,
    issued_at: Option<i64>,
    document: &Value,
) -> String {
    let mut h = Map::new();
    h.insert("alg", Value::from("EdDSA"));
    h.insert("kid", Value::from(kid));
    h.insert("typ", Value::from(BUNDLE_TYP));
    let mut p = Map::new();
    p.insert("kind", Value::from(kind.as_str()));
    p.insert(
        "revision",
        Value::from(i64::try_from(revision).unwrap_or(i64::MAX)),
    );
    if let Some(t) = issued_at {
        p.insert("issuedAt", Value::from(t));
    }
    p.insert("document", document.clone());
    format!(
        "{}.{}",
        b64(Value::Object(h).to_json().as_bytes()),
        b64(Value::Object(p).to_json().as_bytes())
    )
}

/// Where a bundled filter gets its policy: the local configuration
/// `{"bundle": {"uri", "cluster", "keys", "pollMs"}}` in place of a policy document.
#[derive(Debug, Clone)]
pub struct Source {
    /// `uri`: an http(s) URL serving the policy bundle.
    pub uri: String,
    /// `cluster`: the Envoy cluster to fetch it through (default: the URL's host).
    pub cluster: Option<String>,
    /// `keys`: the Ed25519 public keys (a JWK Set) the bundle must be signed by.
    pub keys: BundleKeys,
    /// `pollMs`: how often the bundle is polled (default 1000, 100 to 3,600,000).
    pub poll_ms: u64,
    /// [`source_id`] of the URL and keys.
    pub id: String,
}

/// Reads `keys` (a JWK Set of Ed25519 bundle keys) at `path`.
pub fn keys_at(v: &Value, path: &str) -> Result<BundleKeys, PolicyError> {
    BundleKeys::from_jwks(v).map_err(|e| PolicyError::new(ErrorCode::Invalid, path, e.message))
}

/// An http(s) URL field with a host (no user info): a feed or bundle URL that names no host
/// would never be fetched, so it is refused here rather than silently turned off.
pub fn url_field<'a>(o: &Obj<'a>, key: &str) -> Result<&'a str, PolicyError> {
    let uri = o.req_str(key)?;
    let rest = uri
        .strip_prefix("http://")
        .or_else(|| uri.strip_prefix("https://"));
    let authority = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
    match authority {
        Some(a) if !a.is_empty() && !a.contains('@') && !a.starts_with(':') => Ok(uri),
        _ => Err(PolicyError::new(
            ErrorCode::Invalid,
            o.at(key),
            format!(
                "expected an http(s) url with a host, found {}",
                quote_str(uri)
            ),
        )),
    }
}

/// A short, stable name for where a feed or bundle comes from and who must sign it (the URL
/// and the key set): shared-data keys are named with it, so two filters in one Envoy
/// (one `vm_id`) polling different sources, or the same source with different keys, never
/// read each other's snapshots.
pub fn source_id(uri: &str, keys: Option<&Value>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(uri.as_bytes());
    h.update(b"\n");
    if let Some(k) = keys {
        h.update(k.to_json().as_bytes());
    }
    h.finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A `pollMs` field: 100 to 3,600,000 ms, `default` when absent.
pub fn poll_ms_field(o: &Obj<'_>, default: u64) -> Result<u64, PolicyError> {
    let poll_ms = o.uint("pollMs", 3_600_000)?.unwrap_or(default);
    if poll_ms < 100 {
        return Err(PolicyError::new(
            ErrorCode::Invalid,
            o.at("pollMs"),
            "must be at least 100",
        ));
    }
    Ok(poll_ms)
}

impl Source {
    /// Reads a filter configuration: `Ok(None)` when it is not a bundled one (a policy
    /// document has no top-level `bundle`), the precise error when it is one but invalid.
    pub fn from_config(v: &Value) -> Result<Option<Source>, PolicyError> {
        let Value::Object(m) = v else {
            return Ok(None);
        };
        if m.get("bundle").is_none() {
            return Ok(None);
        }
        let top = Obj::new(v, "$")?;
        top.deny_unknown(&["bundle"])?;
        let Some(o) = top.obj("bundle")? else {
            return Ok(None);
        };
        o.deny_unknown(&["uri", "cluster", "keys", "pollMs"])?;
        let uri = url_field(&o, "uri")?.to_string();
        let (keys, id) = match o.raw("keys") {
            Some(k) => (keys_at(k, &o.at("keys"))?, source_id(&uri, Some(k))),
            None => return Err(o.missing("keys")),
        };
        let poll_ms = poll_ms_field(&o, 1000)?;
        Ok(Some(Source {
            uri,
            cluster: o.str("cluster")?.map(str::to_string),
            keys,
            poll_ms,
            id,
        }))
    }
}

/// Base64url without padding.
pub fn b64(data: &[u8]) -> String {
    crate::analysis::witness::b64(data)
}

/// Joins a signing input and its signature into the bundle text.
pub fn assemble(signing_input: &str, signature: &[u8]) -> String {
    let mut s = signing_input.to_string();
    s.push('.');
    s.push_str(&b64(signature));
    s
}

#[cfg(test)]
#[path = "bundle_test.rs"]
mod tests;
