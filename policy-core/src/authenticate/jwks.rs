//! Key sets: JSON Web Key Sets (RFC 7517) parsed once into verifying keys.
//!
//! A [`JwkSet`] is a value: adapters fetch JWKS documents from the network and hand the text to
//! [`JwkSet::parse`]; inline `jwks` in a policy are parsed when the policy loads. Every key is
//! decoded into a ready verifying key exactly once, so a request never parses key material.
//!
//! What is accepted (everything else is refused or skipped, as documented per case):
//!
//! * `RSA` keys (`n`, `e`) of 2048 to 4096 bits with an odd public exponent from 3 to 2^33−1;
//! * `EC` keys on `P-256`, `P-384` and `P-521` (`x`, `y` of exactly 32 / 48 / 66 bytes, on the
//!   curve);
//! * `OKP` keys on `Ed25519` (`x` of exactly 32 bytes, a valid, non-weak point).
//!
//! The set is the provider's: a member Vigil cannot use is **skipped with a reason** (see
//! [`JwkSet::skipped`]) and the other keys stay usable, as Envoy's `jwt_authn` does — other key
//! types (`oct`, `EC` on other curves, `OKP` X25519…), `use` other than `sig` (or SPIFFE's `jwt-svid`), `key_ops`
//! without `verify`, algorithms Vigil does not verify (e.g. `RSA-OAEP`, `ES256K`), and malformed
//! or weak members (RSA under 2,048 bits or with an even modulus, points off their curve, bad
//! base64url, an `alg` that does not fit the key). A token naming a skipped key is refused
//! (`unknown_kid`). A later member with the `kid` of an earlier one is skipped too: the first
//! key with a `kid` is the one it names. A set in which no key is usable is an error. A set
//! publishing **private** asymmetric key material (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`) is
//! refused whole: the issuer has leaked a signing key, and nothing in that set is trusted.

use crate::authenticate::jwt::b64url_decode;
use crate::json::{self, Limits, Value};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use vigil_crypto::ec::EcKeyError;
pub use vigil_crypto::ec::{Curve, EcPublicKey};
use vigil_crypto::rsa::RsaKeyError;
pub use vigil_crypto::rsa::RsaPublicKey;

/// Bounds for a JWKS document: 256 KiB, depth 6.
pub const JWKS_LIMITS: Limits = Limits {
    max_bytes: 256 << 10,
    max_depth: 6,
};

/// Most keys accepted in one set.
pub const MAX_KEYS: usize = 64;

/// Smallest accepted RSA modulus, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// Largest accepted RSA modulus, in bits (a verify costs ~2.5× a 2048-bit one; no provider
/// publishes larger keys).
pub const MAX_RSA_BITS: usize = 4096;

/// A signature algorithm Vigil verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// ECDSA on P-384 with SHA-384.
    Es384,
    /// ECDSA on P-521 with SHA-512.
    Es512,
    /// EdDSA on Ed25519. Named `EdDSA` (RFC 8037) or `Ed25519` (RFC 9864); both names are this
    /// one algorithm.
    EdDsa,
}

impl Alg {
    /// Every algorithm, in a stable order.
    pub const ALL: [Alg; 10] = [
        Alg::Rs256,
        Alg::Rs384,
        Alg::Rs512,
        Alg::Ps256,
        Alg::Ps384,
        Alg::Ps512,
        Alg::Es256,
        Alg::Es384,
        Alg::Es512,
        Alg::EdDsa,
    ];

    /// Reads a JWS `alg` name (exact, case-sensitive, as RFC 7515 requires).
    pub fn from_name(name: &str) -> Option<Alg> {
        Some(match name {
            "RS256" => Alg::Rs256,
            "RS384" => Alg::Rs384,
            "RS512" => Alg::Rs512,
            "PS256" => Alg::Ps256,
            "PS384" => Alg::Ps384,
            "PS512" => Alg::Ps512,
            "ES256" => Alg::Es256,
            "ES384" => Alg::Es384,
            "ES512" => Alg::Es512,
            "EdDSA" | "Ed25519" => Alg::EdDsa,
            _ => return None,
        })
    }

    /// The canonical name (`EdDSA` for EdDSA).
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Ps256 => "PS256",
            Alg::Ps384 => "PS384",
            Alg::Ps512 => "PS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::Es512 => "ES512",
            Alg::EdDsa => "EdDSA",
        }
    }

    /// True for the RSA family (RS* and PS*).
    pub fn is_rsa(self) -> bool {
        matches!(
            self,
            Alg::Rs256 | Alg::Rs384 | Alg::Rs512 | Alg::Ps256 | Alg::Ps384 | Alg::Ps512
        )
    }

    /// The key type this algorithm needs.
    pub fn key_type(self) -> KeyType {
        match self {
            Alg::Es256 => KeyType::P256,
            Alg::Es384 => KeyType::P384,
            Alg::Es512 => KeyType::P521,
            Alg::EdDsa => KeyType::Ed25519,
            _ => KeyType::Rsa,
        }
    }
}

/// The kind of a verifying key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// RSA.
    Rsa,
    /// EC on P-256.
    P256,
    /// EC on P-384.
    P384,
    /// EC on P-521.
    P521,
    /// OKP on Ed25519.
    Ed25519,
}

/// A verifying key, decoded once.
#[derive(Debug, Clone)]
pub enum PublicKey {
    /// RSA public key.
    Rsa(RsaPublicKey),
    /// ECDSA verifying key on P-256, P-384 or P-521.
    Ec(EcPublicKey),
    /// Ed25519 verifying key.
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl PublicKey {
    /// SHA-256 over the key type and its public material (length-prefixed RSA `n` and `e`, the
    /// uncompressed P-256 point, the Ed25519 point).
    pub fn fingerprint(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        match self {
            PublicKey::Rsa(k) => {
                h.update(b"RSA");
                for part in [k.n_bytes(), k.e_bytes()] {
                    h.update((part.len() as u64).to_be_bytes());
                    h.update(part);
                }
            }
            PublicKey::Ec(k) => {
                h.update(k.curve().name().as_bytes());
                h.update([4u8]);
                h.update(k.x());
                h.update(k.y());
            }
            PublicKey::Ed25519(k) => {
                h.update(b"Ed25519");
                h.update(k.as_bytes());
            }
        }
        h.finalize().into()
    }

    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        match self {
            PublicKey::Rsa(_) => KeyType::Rsa,
            PublicKey::Ec(k) => match k.curve() {
                Curve::P256 => KeyType::P256,
                Curve::P384 => KeyType::P384,
                Curve::P521 => KeyType::P521,
            },
            PublicKey::Ed25519(_) => KeyType::Ed25519,
        }
    }
}

/// One usable key of a set.
#[derive(Debug, Clone)]
pub struct Jwk {
    /// The key id, if the JWK had one.
    pub kid: Option<String>,
    /// The algorithm the JWK fixes with `alg`, if any.
    pub alg: Option<Alg>,
    /// The decoded key.
    pub key: PublicKey,
    /// SHA-256 over the key's type and public material: which key verified a token, so that a
    /// cached token stops being accepted once its key leaves the set.
    pub fingerprint: [u8; 32],
}

impl Jwk {
    /// A key of a set (computes its fingerprint).
    pub fn new(kid: Option<String>, alg: Option<Alg>, key: PublicKey) -> Jwk {
        let fingerprint = key.fingerprint();
        Jwk {
            kid,
            alg,
            key,
            fingerprint,
        }
    }

    /// Whether this key verifies `alg` (the key decides): the JWK's own `alg` when it has
    /// one, else any algorithm of its type — RS256…PS512 for an RSA key (as Envoy's
    /// `jwt_authn` accepts), ES256 for P-256, ES384 for P-384, ES512 for P-521, EdDSA for
    /// Ed25519.
    pub fn accepts(&self, alg: Alg) -> bool {
        match self.alg {
            Some(a) => a == alg,
            None => self.key.key_type() == alg.key_type(),
        }
    }

    /// The one algorithm this key verifies, given an allowlist: the JWK's own `alg`, else
    /// the only algorithm its type allows (ES256 for P-256, EdDSA for Ed25519), else for RSA the
    /// single RSA algorithm in `allowed`. `None` when several fit (an RSA key without `alg`
    /// verifies each of them: see [`Jwk::accepts`]).
    pub fn algorithm(&self, allowed: &[Alg]) -> Option<Alg> {
        if let Some(a) = self.alg {
            return Some(a);
        }
        match self.key.key_type() {
            KeyType::P256 => Some(Alg::Es256),
            KeyType::P384 => Some(Alg::Es384),
            KeyType::P521 => Some(Alg::Es512),
            KeyType::Ed25519 => Some(Alg::EdDsa),
            KeyType::Rsa => {
                let mut rsa = allowed.iter().filter(|a| a.is_rsa());
                match (rsa.next(), rsa.next()) {
                    (Some(a), None) => Some(*a),
                    _ => None,
                }
            }
        }
    }
}

/// Why a JWKS document is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksError {
    /// Where in the document, e.g. `keys[1].n` (`$` for the document).
    pub path: String,
    /// What, in lower case; never contains key material.
    pub message: String,
}

impl JwksError {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        JwksError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A parsed key set, indexed by `kid`.
#[derive(Debug, Clone, Default)]
pub struct JwkSet {
    keys: Vec<Jwk>,
    skipped: Vec<(String, String)>,
}

const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

impl JwkSet {
    /// Parses a JWKS document (`{"keys":[...]}`) strictly; see the module docs for what is
    /// accepted, skipped and refused.
    pub fn parse(text: &str) -> Result<JwkSet, JwksError> {
        let v = json::parse(text, JWKS_LIMITS)
            .map_err(|e| JwksError::new("$", format!("not acceptable json: {e}")))?;
        JwkSet::from_value(&v)
    }

    /// Reads an already parsed JWKS document.
    pub fn from_value(v: &Value) -> Result<JwkSet, JwksError> {
        let obj = v.as_object().ok_or_else(|| {
            JwksError::new("$", format!("expected an object, found {}", v.kind()))
        })?;
        let keys = match obj.get("keys") {
            None => return Err(JwksError::new("$", "missing required field `keys`")),
            Some(Value::Array(a)) => a,
            Some(other) => {
                return Err(JwksError::new(
                    "keys",
                    format!("expected an array, found {}", other.kind()),
                ))
            }
        };
        if keys.len() > MAX_KEYS {
            return Err(JwksError::new(
                "keys",
                format!("more than {MAX_KEYS} keys in one set"),
            ));
        }
        let mut set = JwkSet::default();
        for (i, k) in keys.iter().enumerate() {
            let path = format!("keys[{i}]");
            if let Some(m) = k.as_object() {
                let symmetric = m.get("kty").and_then(Value::as_str) == Some("oct");
                if let Some(p) = PRIVATE_MEMBERS.iter().find(|p| m.get(p).is_some()) {
                    if !symmetric {
                        return Err(JwksError::new(
                            format!("{path}.{p}"),
                            "private key material in a public key set",
                        ));
                    }
                }
            }
            match parse_jwk(k, &path) {
                Ok(Parsed::Key(jwk)) => {
                    let duplicate = jwk.kid.as_ref().filter(|kid| {
                        set.keys
                            .iter()
                            .any(|o| o.kid.as_deref() == Some(kid.as_str()))
                    });
                    match duplicate {
                        Some(kid) => set.skipped.push((
                            format!("{path}.kid"),
                            format!(
                                "duplicate kid {}: the first key with it is used",
                                crate::policy::read::quote_str(kid)
                            ),
                        )),
                        None => set.keys.push(*jwk),
                    }
                }
                Ok(Parsed::Skip(reason)) => set.skipped.push((path, reason)),
                Err(e) => set.skipped.push((e.path, e.message)),
            }
        }
        if set.keys.is_empty() {
            let why = if set.skipped.is_empty() {
                String::from("the set has no keys")
            } else {
                format!(
                    "no usable key in the set ({})",
                    set.skipped
                        .iter()
                        .map(|(p, r)| format!("{p}: {r}"))
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            };
            return Err(JwksError::new("keys", why));
        }
        Ok(set)
    }

    /// A set from already decoded keys (tests, adapters with keys from elsewhere).
    pub fn from_keys(keys: Vec<Jwk>) -> JwkSet {
        JwkSet {
            keys,
            skipped: Vec::new(),
        }
    }

    /// The usable keys, in document order.
    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// Keys that were skipped, as (path, reason).
    pub fn skipped(&self) -> &[(String, String)] {
        &self.skipped
    }

    /// The key with this `kid`.
    pub fn by_kid(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid.as_deref() == Some(kid))
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when there is no usable key (never for a parsed set).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

enum Parsed {
    Key(alloc::boxed::Box<Jwk>),
    Skip(String),
}

fn str_member<'a>(m: &'a json::Map, key: &str, path: &str) -> Result<Option<&'a str>, JwksError> {
    match m.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(JwksError::new(
            format!("{path}.{key}"),
            format!("expected a string, found {}", other.kind()),
        )),
    }
}

fn b64_member(m: &json::Map, key: &str, path: &str) -> Result<Vec<u8>, JwksError> {
    let s = str_member(m, key, path)?
        .ok_or_else(|| JwksError::new(path, format!("missing required field `{key}`")))?;
    b64url_decode(s.as_bytes()).ok_or_else(|| {
        JwksError::new(
            format!("{path}.{key}"),
            "not canonical base64url without padding",
        )
    })
}

fn parse_jwk(v: &Value, path: &str) -> Result<Parsed, JwksError> {
    let m = v
        .as_object()
        .ok_or_else(|| JwksError::new(path, format!("expected an object, found {}", v.kind())))?;
    let kty = str_member(m, "kty", path)?
        .ok_or_else(|| JwksError::new(path, "missing required field `kty`"))?;
    let kid = str_member(m, "kid", path)?.map(str::to_string);
    // `jwt-svid`: a SPIFFE trust bundle's JWT signing keys (SPIFFE Trust Domain and Bundle
    // §4.2.2); its `x509-svid` members are X.509 CA keys, not token signers.
    if let Some(u) = str_member(m, "use", path)? {
        if u != "sig" && u != "jwt-svid" {
            return Ok(Parsed::Skip(format!(
                "`use` is `{u}`, not `sig` (or a SPIFFE bundle's `jwt-svid`)"
            )));
        }
    }
    if let Some(ops) = m.get("key_ops") {
        let arr = ops.as_array().ok_or_else(|| {
            JwksError::new(format!("{path}.key_ops"), "expected an array of strings")
        })?;
        let mut verify = false;
        for op in arr {
            match op.as_str() {
                Some("verify") => verify = true,
                Some(_) => {}
                None => {
                    return Err(JwksError::new(
                        format!("{path}.key_ops"),
                        "expected an array of strings",
                    ))
                }
            }
        }
        if !verify {
            return Ok(Parsed::Skip(String::from(
                "`key_ops` does not include `verify`",
            )));
        }
    }
    let alg = match str_member(m, "alg", path)? {
        None => None,
        Some(name) => match Alg::from_name(name) {
            Some(a) => Some(a),
            None => {
                return Ok(Parsed::Skip(format!(
                    "algorithm {} is not supported",
                    crate::policy::read::quote_str(name)
                )))
            }
        },
    };
    let key = match kty {
        "RSA" => PublicKey::Rsa(rsa_key(m, path)?),
        "EC" => {
            let crv = str_member(m, "crv", path)?
                .ok_or_else(|| JwksError::new(path, "missing required field `crv`"))?;
            let curve = match crv {
                "P-256" => Curve::P256,
                "P-384" => Curve::P384,
                "P-521" => Curve::P521,
                _ => {
                    return Ok(Parsed::Skip(format!(
                        "curve {} is not supported",
                        crate::policy::read::quote_str(crv)
                    )))
                }
            };
            let x = b64_member(m, "x", path)?;
            let y = b64_member(m, "y", path)?;
            let k = EcPublicKey::from_affine(curve, &x, &y).map_err(|err| match err {
                EcKeyError::WrongLength => JwksError::new(
                    path,
                    format!(
                        "{} coordinates must be exactly {} bytes each",
                        curve.name().to_ascii_lowercase(),
                        curve.field_bytes()
                    ),
                ),
                EcKeyError::CoordinateOutOfRange | EcKeyError::NotOnCurve => JwksError::new(
                    path,
                    format!(
                        "the point is not on the {} curve",
                        curve.name().to_ascii_lowercase()
                    ),
                ),
            })?;
            PublicKey::Ec(k)
        }
        "OKP" => {
            let crv = str_member(m, "crv", path)?
                .ok_or_else(|| JwksError::new(path, "missing required field `crv`"))?;
            if crv != "Ed25519" {
                return Ok(Parsed::Skip(format!(
                    "curve {} is not supported",
                    crate::policy::read::quote_str(crv)
                )));
            }
            let x = b64_member(m, "x", path)?;
            let bytes: [u8; 32] = x.as_slice().try_into().map_err(|_| {
                JwksError::new(
                    format!("{path}.x"),
                    "an ed25519 key must be exactly 32 bytes",
                )
            })?;
            let k = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                .map_err(|_| JwksError::new(format!("{path}.x"), "not a valid ed25519 point"))?;
            if k.is_weak() {
                return Err(JwksError::new(
                    format!("{path}.x"),
                    "a weak (small-order) ed25519 key",
                ));
            }
            PublicKey::Ed25519(k)
        }
        "oct" => return Ok(Parsed::Skip(String::from(
            "a symmetric key (`kty: oct`) is never used: only public-key signatures are verified",
        ))),
        other => {
            return Ok(Parsed::Skip(format!(
                "key type {} is not supported",
                crate::policy::read::quote_str(other)
            )))
        }
    };
    if let Some(a) = alg {
        if a.key_type() != key.key_type() {
            return Err(JwksError::new(
                format!("{path}.alg"),
                format!("algorithm `{}` does not fit key type `{kty}`", a.name()),
            ));
        }
    }
    Ok(Parsed::Key(alloc::boxed::Box::new(Jwk::new(kid, alg, key))))
}

fn rsa_key(m: &json::Map, path: &str) -> Result<RsaPublicKey, JwksError> {
    let n = b64_member(m, "n", path)?;
    let e = b64_member(m, "e", path)?;
    RsaPublicKey::new(&n, &e, MIN_RSA_BITS, MAX_RSA_BITS).map_err(|err| match err {
        RsaKeyError::TooSmall { bits } => JwksError::new(
            format!("{path}.n"),
            format!("rsa key of {bits} bits is too weak (at least {MIN_RSA_BITS} required)"),
        ),
        RsaKeyError::TooLarge { bits } => JwksError::new(
            format!("{path}.n"),
            format!("rsa key of {bits} bits is larger than {MAX_RSA_BITS}"),
        ),
        RsaKeyError::BadExponent => JwksError::new(format!("{path}.e"), err.to_string()),
        RsaKeyError::EvenModulus => JwksError::new(path, "not a valid rsa public key"),
    })
}

#[cfg(test)]
#[path = "jwks_test.rs"]
mod tests;
