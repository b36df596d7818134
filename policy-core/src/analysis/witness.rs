//! Witnesses: a concrete check request for a cube, with a token the analysis mints.
//!
//! The analysis cannot sign with an issuer's key, so both documents are decided with an
//! *analysis key set* in place of every issuer's keys, and tokens carry an *analysis
//! signature* (a SHA-256 of the signing input laid out as the algorithm's signature) that only
//! [`AnalysisSignatures`] accepts. Every other rule — grammar, header, key choice, claims,
//! audiences — is the engine's own.

use super::model::Space;
use super::space::{Bits, Dim, Val};
use crate::authenticate::jwks::{Alg, Jwk, JwkSet};
use crate::authenticate::jwt::SignatureCheck;
use crate::authenticate::rule::{JwtRule, TokenLocation};
use crate::authenticate::KeyStore;
use crate::extract::request::CheckRequest;
use crate::json::{Map, Value};
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use sha2::{Digest, Sha256};

const KID_RSA: &str = "vigil-analysis-rsa";
const KID_P256: &str = "vigil-analysis-p256";
const KID_ED: &str = "vigil-analysis-ed25519";

/// The analysis key set: an RSA key (a 2048-bit odd modulus), the P-256 base point and the
/// Ed25519 base point. Only [`AnalysisSignatures`] verifies against them.
fn analysis_jwks() -> Option<JwkSet> {
    let mut n = alloc::vec![0u8; 256];
    if let Some(b) = n.first_mut() {
        *b = 0xc0;
    }
    if let Some(b) = n.last_mut() {
        *b = 0x01;
    }
    let text = format!(
        r#"{{"keys":[{{"kty":"RSA","kid":"{KID_RSA}","n":"{}","e":"AQAB"}},{{"kty":"EC","kid":"{KID_P256}","crv":"P-256","x":"axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY","y":"T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU"}},{{"kty":"OKP","kid":"{KID_ED}","crv":"Ed25519","x":"WGZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmY"}}]}}"#,
        b64(&n)
    );
    JwkSet::parse(&text).ok()
}

/// The key store both documents are decided with: the analysis set for every issuer.
pub fn analysis_keys(issuers: &BTreeSet<String>) -> KeyStore {
    let mut ks = KeyStore::new();
    if let Some(set) = analysis_jwks() {
        for iss in issuers {
            ks.set(iss, set.clone());
        }
    }
    ks
}

/// The analysis signature of `message`, `len` bytes long: `00 01 ‖ SHA-256 ‖ 00…` (for
/// ECDSA in each half, so that `r` and `s` are in range).
fn marker(alg: Alg, len: usize, message: &[u8]) -> Vec<u8> {
    let h = Sha256::digest(message);
    let fill = |n: usize| -> Vec<u8> {
        let mut v: Vec<u8> = [0u8, 1u8].iter().chain(h.iter()).copied().take(n).collect();
        v.resize(n, 0);
        v
    };
    match alg {
        Alg::Es256 | Alg::Es384 | Alg::Es512 => {
            let half = fill(len / 2);
            [half.clone(), half].concat()
        }
        _ => fill(len),
    }
}

/// Accepts exactly the analysis signatures.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnalysisSignatures;

impl SignatureCheck for AnalysisSignatures {
    fn check(&mut self, alg: Alg, _key: &Jwk, message: &[u8], signature: &[u8]) -> bool {
        marker(alg, signature.len(), message) == signature
    }
}

/// Base64url without padding.
pub fn b64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len() * 4 / 3 + 4);
    for chunk in data.chunks(3) {
        let b0 = u32::from(chunk.first().copied().unwrap_or(0));
        let b1 = u32::from(chunk.get(1).copied().unwrap_or(0));
        let b2 = u32::from(chunk.get(2).copied().unwrap_or(0));
        let n = (b0 << 16) | (b1 << 8) | b2;
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let idx = ((n >> (18 - 6 * i)) & 63) as usize;
            if let Some(c) = A.get(idx) {
                out.push(char::from(*c));
            }
        }
    }
    out
}

/// The algorithm and key to sign with for `rules` (the issuer's rule in each document that
/// has one): the first of EdDSA, ES256, RS256 … PS512 every rule allows.
pub fn choose_alg(rules: &[&JwtRule]) -> Option<(Alg, &'static str)> {
    let options = [
        (Alg::EdDsa, KID_ED),
        (Alg::Es256, KID_P256),
        (Alg::Rs256, KID_RSA),
        (Alg::Rs384, KID_RSA),
        (Alg::Rs512, KID_RSA),
        (Alg::Ps256, KID_RSA),
        (Alg::Ps384, KID_RSA),
        (Alg::Ps512, KID_RSA),
    ];
    options.into_iter().find(|(a, _)| {
        rules
            .iter()
            .all(|r| r.algorithms.is_empty() || r.algorithms.contains(a))
    })
}

fn sig_len(alg: Alg) -> usize {
    match alg {
        Alg::Es256 | Alg::EdDsa => 64,
        Alg::Es384 => 96,
        Alg::Es512 => 132,
        _ => 256,
    }
}

fn set_path(m: &mut Map, path: &[String], v: Value) {
    match path {
        [] => {}
        [last] => m.insert(last.as_str(), v),
        [first, rest @ ..] => {
            let mut inner = match m.get(first) {
                Some(Value::Object(o)) => o.clone(),
                _ => Map::new(),
            };
            set_path(&mut inner, rest, v);
            m.insert(first.as_str(), Value::Object(inner));
        }
    }
}

/// The candidate `pick` chose for dimension `d`.
fn chosen<'s>(sp: &'s Space, pick: &[usize], d: usize) -> Option<&'s Val> {
    pick.get(d)
        .and_then(|i| sp.cands.get(d).and_then(|c| c.get(*i)))
}

/// The claims of the token a cube's witness carries (for reports too).
pub fn claims(
    sp: &Space,
    pick: &[usize],
    iss: &str,
    sub: &str,
    now: i64,
    rules: &[&JwtRule],
) -> Map {
    let mut m = Map::new();
    m.insert("iss", Value::from(iss));
    m.insert("sub", Value::from(sub));
    let lifetime = rules
        .iter()
        .filter_map(|r| r.max_token_lifetime_seconds)
        .min()
        .map_or(3600, |l| l.saturating_sub(2).clamp(1, 3600));
    m.insert("iat", Value::from(now - 1));
    m.insert(
        "exp",
        Value::from(now.saturating_add(i64::try_from(lifetime).unwrap_or(3600))),
    );
    for (d, dim) in sp.dims.iter().enumerate() {
        let Some(v) = chosen(sp, pick, d) else {
            continue;
        };
        let path: Vec<String> = match dim {
            Dim::Aud => alloc::vec!["aud".into()],
            Dim::Azp => alloc::vec!["azp".into()],
            Dim::Claim(p) => p.clone(),
            _ => continue,
        };
        let spaced = sp.space_delimited.contains(&path)
            || matches!(path.as_slice(), [one] if one == "scope" || one == "permission");
        let value = match v {
            Val::One(s) => Value::from(s.as_str()),
            Val::Many(items) if spaced => Value::from(items.join(" ")),
            Val::Many(items) => {
                Value::Array(items.iter().map(|s| Value::from(s.as_str())).collect())
            }
            _ => continue,
        };
        set_path(&mut m, &path, value);
    }
    for r in rules {
        for c in &r.require_claims {
            let path: Vec<String> = c.split('.').map(ToString::to_string).collect();
            let present = {
                let mut cur: Option<&Value> = None;
                for (i, seg) in path.iter().enumerate() {
                    cur = if i == 0 {
                        m.get(seg)
                    } else {
                        cur.and_then(|x| x.get(seg))
                    };
                }
                cur.is_some()
            };
            if !present {
                set_path(&mut m, &path, Value::from("vigil-analysis"));
            }
        }
    }
    m
}

/// Mints the analysis token for `claims`.
pub fn mint(alg: Alg, kid: &str, typ: Option<&str>, claims: &Map) -> String {
    let mut h = Map::new();
    h.insert("alg", Value::from(alg.name()));
    h.insert("kid", Value::from(kid));
    if let Some(t) = typ {
        h.insert("typ", Value::from(t));
    }
    let input = format!(
        "{}.{}",
        b64(Value::Object(h).to_json().as_bytes()),
        b64(Value::Object(claims.clone()).to_json().as_bytes())
    );
    let sig = marker(alg, sig_len(alg), input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

/// The candidate each dimension's witness value is (the first in the cube).
pub fn pick(cube: &[Bits]) -> Vec<usize> {
    cube.iter().map(|b| b.first().unwrap_or(0)).collect()
}

/// What the witness needs about the token's issuer.
#[derive(Debug, Clone)]
pub struct Issuer<'a> {
    /// The issuer's rules (one per document that has it).
    pub rules: Vec<&'a JwtRule>,
}

/// Builds the check request for `pick`; `issuer` finds an issuer's rules.
pub fn request<'a>(
    sp: &Space,
    pick: &[usize],
    now: i64,
    issuer: &dyn Fn(&str) -> Issuer<'a>,
    default_location: Option<&TokenLocation>,
) -> (CheckRequest, Option<Map>) {
    let mut req = CheckRequest::new("GET", "/", "");
    req.time = Some(now);
    let mut token: Option<(String, Map)> = None;
    let mut bad_token = false;
    let mut location: Option<TokenLocation> = default_location.cloned();
    for (d, dim) in sp.dims.iter().enumerate() {
        let Some(v) = chosen(sp, pick, d) else {
            continue;
        };
        match (dim, v) {
            (Dim::Method, Val::One(s)) => req.method = s.clone(),
            (Dim::Path, Val::One(s)) => req.path = s.clone(),
            (Dim::Host, Val::One(s)) => req.host = s.clone(),
            (Dim::Port, Val::One(s)) => req.destination.port = s.parse().ok(),
            (Dim::Peer, Val::One(s)) => req.source.principal = Some(format!("spiffe://{s}")),
            (Dim::SourceIp, Val::One(s)) => req.source.address = Some(s.clone()),
            (Dim::RemoteIp, Val::One(s)) => {
                let mut entries = alloc::vec![s.clone()];
                for _ in 1..sp.trusted_proxies {
                    entries.push("198.51.100.1".into());
                }
                req.headers
                    .push(("x-forwarded-for".into(), entries.join(", ")));
            }
            (Dim::DestIp, Val::One(s)) => req.destination.address = Some(s.clone()),
            (Dim::Sni, Val::One(s)) => req.sni = Some(s.clone()),
            (Dim::Header(h), v) => {
                for x in v.values() {
                    req.headers.push((h.clone(), x.to_string()));
                }
            }
            (Dim::Token, Val::BadToken) => bad_token = true,
            (Dim::Token, Val::Token { iss, sub, .. }) => {
                let found = issuer(iss);
                let c = claims(sp, pick, iss, sub, now, &found.rules);
                if let Some(r) = found.rules.first() {
                    location = r.locations.first().cloned().or(location);
                }
                let typ = found.rules.iter().find_map(|r| r.required_type.as_deref());
                let tok = match choose_alg(&found.rules) {
                    Some((alg, kid)) => mint(alg, kid, typ, &c),
                    None => mint(Alg::Es384, KID_P256, typ, &c),
                };
                token = Some((tok, c));
            }
            _ => {}
        }
    }
    let text = if bad_token {
        Some("vigil.analysis.invalid".to_string())
    } else {
        token.as_ref().map(|(t, _)| t.clone())
    };
    if let Some(t) = text {
        match location {
            Some(TokenLocation::Param(p)) => {
                let sep = if req.path.contains('?') { '&' } else { '?' };
                req.path = format!("{}{sep}{p}={t}", req.path);
            }
            Some(TokenLocation::Cookie(c)) => {
                req.headers.push(("cookie".into(), format!("{c}={t}")))
            }
            Some(TokenLocation::Header { name, prefix }) => {
                req.headers.push((name, format!("{prefix}{t}")))
            }
            None => req
                .headers
                .push(("authorization".into(), format!("Bearer {t}"))),
        }
    }
    (req, token.map(|(_, c)| c))
}
