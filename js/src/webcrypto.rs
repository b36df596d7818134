//! Signatures verified by the runtime's WebCrypto (`crypto.subtle`) instead of policy-core's
//! own crypto, for `compile(policy, {verify: "webcrypto"})`.
//!
//! WebCrypto is asynchronous and the core is not, so a decision is made in rounds: the core
//! decides with a [`Deferred`] check that answers the signatures already verified and records
//! the first one it has not (answering "invalid" for now); when one was recorded, `lib.rs`
//! verifies it with WebCrypto and decides again with the answer. Only the signature check
//! moves: the core still parses the token, picks the key, makes the key decide the algorithm,
//! checks the signature's shape and every claim — and a verified token goes into the same
//! token cache, so a repeated token is never verified twice.

use policy_core::authenticate::jwks::{Alg, Curve, Jwk, PublicKey};
use policy_core::authenticate::jwt::{b64url_encode, SignatureCheck};
use policy_core::json::{Map, Value};

/// A signature the core asked for.
#[derive(Debug, Clone)]
pub struct Job {
    /// The algorithm the key decided.
    pub alg: Alg,
    /// The key.
    pub key: Jwk,
    /// `header.payload`.
    pub message: Vec<u8>,
    /// The decoded signature.
    pub signature: Vec<u8>,
}

/// A signature verified in an earlier round: (message, signature, valid).
pub type Answer = (Vec<u8>, Vec<u8>, bool);

/// Answers known signatures; records the first unknown one.
#[derive(Debug)]
pub struct Deferred<'a> {
    answers: &'a [Answer],
    /// The first signature without an answer.
    pub pending: Option<Job>,
}

impl<'a> Deferred<'a> {
    /// A check answering from `answers`.
    pub fn new(answers: &'a [Answer]) -> Self {
        Deferred {
            answers,
            pending: None,
        }
    }
}

impl SignatureCheck for Deferred<'_> {
    fn check(&mut self, alg: Alg, key: &Jwk, message: &[u8], signature: &[u8]) -> bool {
        if let Some((_, _, ok)) = self
            .answers
            .iter()
            .find(|(m, s, _)| m == message && s == signature)
        {
            return *ok;
        }
        if self.pending.is_none() {
            self.pending = Some(Job {
                alg,
                key: key.clone(),
                message: message.to_vec(),
                signature: signature.to_vec(),
            });
        }
        false
    }
}

fn obj(entries: &[(&str, Value)]) -> Value {
    let mut m = Map::new();
    for (k, v) in entries {
        m.insert(*k, v.clone());
    }
    Value::Object(m)
}

fn s(v: &str) -> Value {
    Value::from(v)
}

/// What WebCrypto needs for a job: the public key as a JWK (only the key members, so
/// `importKey` has nothing to disagree with), the import algorithm and the verify algorithm.
pub fn webcrypto_params(alg: Alg, key: &PublicKey) -> Option<(Value, Value, Value)> {
    let hash = |a: Alg| match a {
        Alg::Rs384 | Alg::Ps384 => ("SHA-384", 48),
        Alg::Rs512 | Alg::Ps512 => ("SHA-512", 64),
        _ => ("SHA-256", 32),
    };
    match (alg, key) {
        (a, PublicKey::Rsa(k)) if a.is_rsa() => {
            let jwk = obj(&[
                ("kty", s("RSA")),
                ("n", Value::from(b64url_encode(k.n_bytes()))),
                ("e", Value::from(b64url_encode(k.e_bytes()))),
            ]);
            let (h, len) = hash(a);
            let pss = matches!(a, Alg::Ps256 | Alg::Ps384 | Alg::Ps512);
            let name = if pss { "RSA-PSS" } else { "RSASSA-PKCS1-v1_5" };
            let import = obj(&[("name", s(name)), ("hash", s(h))]);
            let verify = if pss {
                obj(&[("name", s(name)), ("saltLength", Value::from(len as i64))])
            } else {
                obj(&[("name", s(name))])
            };
            Some((jwk, import, verify))
        }
        (Alg::Es256 | Alg::Es384 | Alg::Es512, PublicKey::Ec(k)) => {
            let (crv, h) = match k.curve() {
                Curve::P256 => ("P-256", "SHA-256"),
                Curve::P384 => ("P-384", "SHA-384"),
                Curve::P521 => ("P-521", "SHA-512"),
            };
            let jwk = obj(&[
                ("kty", s("EC")),
                ("crv", s(crv)),
                ("x", Value::from(b64url_encode(k.x()))),
                ("y", Value::from(b64url_encode(k.y()))),
            ]);
            let import = obj(&[("name", s("ECDSA")), ("namedCurve", s(crv))]);
            let verify = obj(&[("name", s("ECDSA")), ("hash", s(h))]);
            Some((jwk, import, verify))
        }
        (Alg::EdDsa, PublicKey::Ed25519(k)) => {
            let jwk = obj(&[
                ("kty", s("OKP")),
                ("crv", s("Ed25519")),
                ("x", Value::from(b64url_encode(k.as_bytes()))),
            ]);
            let import = obj(&[("name", s("Ed25519"))]);
            Some((jwk, import.clone(), import))
        }
        _ => None,
    }
}

#[cfg(test)]
#[path = "webcrypto_test.rs"]
mod tests;
