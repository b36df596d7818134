//! Configuration: one item of `jwtRules`.
//!
//! Field names and meaning follow Istio's `RequestAuthentication.spec.jwtRules` (`issuer`,
//! `audiences`, `jwks`, `jwksUri`, `fromHeaders`, `fromParams`, `fromCookies`,
//! `outputClaimToHeaders`, `outputPayloadToHeader`, `forwardOriginalToken`, `timeout`), so an
//! Istio rule can be pasted as is. Vigil's extensions:
//!
//! | field | meaning |
//! | --- | --- |
//! | `algorithms` | optional, non-empty allowlist of `RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA Ed25519`; `none` and `HS*` are refused. Absent: every one of them, and the key decides (its `alg`, else its type: RSA keys verify RS*/PS*, P-256 ES256, P-384 ES384, P-521 ES512, Ed25519 EdDSA), as Envoy's `jwt_authn` does |
//! | `clockSkewSeconds` | leeway for `exp`, `nbf`, `iat` (default 60, at most 600) |
//! | `requiredType` | the header `typ` that must be present, e.g. `at+jwt` (RFC 9068); compared case-insensitively, an `application/` prefix is accepted |
//! | `maxTokenLifetimeSeconds` | `exp − iat` at most this; makes `iat` required |
//! | `requireClaims` | claim names that must be present (and not null) |
//! | `maxTokenBytes` | largest token accepted, checked before decoding (default 8192, at most 65536) |
//! | `jwksCache` | `{ttlSeconds, refetchCooldownSeconds, cluster}`, carried for adapters |
//! | `device` | a device-attestation issuer (default false): its token is read from its own locations, and its claims become `device.*` |
//!
//! Differences from Istio, on purpose: with no `fromHeaders`/`fromParams`/`fromCookies` the
//! token is looked for only in `Authorization: Bearer` (Istio also looks at the
//! `access_token` query parameter; list it in `fromParams` to get that); `jwks` may be an
//! object as well as a JSON string.

use crate::authenticate::jwks::{Alg, JwkSet};
use crate::error::{ErrorCode, PolicyError};
use crate::extract::request::is_tchar;
use crate::json::{self, Value};
use crate::policy::read::{quote_str, type_error, Obj};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// Default `clockSkewSeconds`.
pub const DEFAULT_CLOCK_SKEW: u32 = 60;
/// Largest `clockSkewSeconds`.
pub const MAX_CLOCK_SKEW: u32 = 600;
/// Default `maxTokenBytes`.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8192;
/// Largest `maxTokenBytes`.
pub const MAX_TOKEN_BYTES_CAP: usize = 65536;

/// Where a token may be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenLocation {
    /// A header (lower-case name) whose value starts with `prefix` (e.g. `Bearer `); an empty
    /// prefix means the whole value is the token.
    Header {
        /// Lower-case header name.
        name: String,
        /// The prefix before the token.
        prefix: String,
    },
    /// A query parameter.
    Param(String),
    /// A cookie.
    Cookie(String),
}

impl TokenLocation {
    /// The default location: `Authorization: Bearer <token>` (RFC 6750 §2.1).
    pub fn default_bearer() -> Self {
        TokenLocation::Header {
            name: String::from("authorization"),
            prefix: String::from("Bearer "),
        }
    }
}

/// One `outputClaimToHeaders` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimToHeader {
    /// The header to set (lower-case).
    pub header: String,
    /// The claim, nested with dots like Envoy (`a.b`).
    pub claim: String,
}

/// `jwksCache`: fetch settings carried for adapters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwksCacheConfig {
    /// How long a fetched set is used before refetching.
    pub ttl_seconds: Option<u64>,
    /// Least time between two refetches caused by an unknown `kid`.
    pub refetch_cooldown_seconds: Option<u64>,
    /// The upstream cluster to fetch `jwksUri` through (proxy-wasm).
    pub cluster: Option<String>,
    /// OpenID Connect discovery: find `jwks_uri` in `ISSUER/.well-known/openid-configuration`
    /// instead of configuring `jwksUri`.
    pub discovery: bool,
}

/// One compiled `jwtRules` item.
#[derive(Debug, Clone)]
pub struct JwtRule {
    /// `issuer`: the exact `iss` a token must carry.
    pub issuer: String,
    /// `audiences`: a token's `aud` must contain one of these; empty means `aud` is not checked
    /// (what Istio's generated Envoy configuration does).
    pub audiences: Vec<String>,
    /// Inline `jwks`, parsed and validated at load.
    pub jwks: Option<JwkSet>,
    /// `jwksUri`, for adapters to fetch.
    pub jwks_uri: Option<String>,
    /// Where the token may be (the default bearer header when nothing is configured).
    pub locations: Vec<TokenLocation>,
    /// `outputClaimToHeaders`.
    pub output_claim_to_headers: Vec<ClaimToHeader>,
    /// `outputPayloadToHeader` (lower-case).
    pub output_payload_to_header: Option<String>,
    /// `forwardOriginalToken` (default false: the token is stripped before forwarding).
    pub forward_original_token: bool,
    /// `timeout` (Istio's JWKS fetch timeout, as written, e.g. `5s`), carried for adapters.
    pub timeout: Option<String>,
    /// `algorithms`: the allowlist.
    pub algorithms: Vec<Alg>,
    /// `clockSkewSeconds`.
    pub clock_skew_seconds: u32,
    /// `requiredType`, as configured.
    pub required_type: Option<String>,
    /// `maxTokenLifetimeSeconds`.
    pub max_token_lifetime_seconds: Option<u64>,
    /// `requireClaims`.
    pub require_claims: Vec<String>,
    /// `maxTokenBytes`.
    pub max_token_bytes: usize,
    /// `jwksCache`.
    pub jwks_cache: JwksCacheConfig,
    /// `device`.
    pub device: bool,
    /// `spaceDelimitedClaims` (Istio): claims matched item by item when they are
    /// space-delimited strings (`scope` and `permission` always are).
    pub space_delimited_claims: Vec<String>,
}

const FIELDS: &[&str] = &[
    "issuer",
    "audiences",
    "jwks",
    "jwksUri",
    "fromHeaders",
    "fromParams",
    "fromCookies",
    "outputClaimToHeaders",
    "outputPayloadToHeader",
    "forwardOriginalToken",
    "timeout",
    "algorithms",
    "clockSkewSeconds",
    "requiredType",
    "maxTokenLifetimeSeconds",
    "requireClaims",
    "maxTokenBytes",
    "jwksCache",
    "device",
    "spaceDelimitedClaims",
];

fn invalid(path: impl Into<String>, msg: impl Into<String>) -> PolicyError {
    PolicyError::new(ErrorCode::Invalid, path, msg)
}

fn header_name(path: &str, name: &str) -> Result<String, PolicyError> {
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(invalid(
            path,
            format!("invalid header name {}", quote_str(name)),
        ));
    }
    Ok(name.to_ascii_lowercase())
}

/// Reads one item of `jwtRules` at `path` (e.g. `jwtRules[0]`).
pub fn parse_jwt_rule(v: &Value, path: &str) -> Result<JwtRule, PolicyError> {
    let o = Obj::new(v, path)?;
    o.deny_unknown(FIELDS)?;

    let issuer = o.req_str("issuer")?;
    if issuer.is_empty() {
        return Err(invalid(o.at("issuer"), "the issuer must not be empty"));
    }
    let audiences = o.strings("audiences")?;

    // algorithms: an allowlist; absent, every public-key algorithm (the key decides).
    let mut algorithms: Vec<Alg> = Vec::new();
    for (p, item) in o.array("algorithms")? {
        let name = item
            .as_str()
            .ok_or_else(|| type_error(&p, "an algorithm name", item))?;
        let lower = name.to_ascii_lowercase();
        if lower == "none" || lower.starts_with("hs") {
            return Err(PolicyError::new(
                ErrorCode::Unsupported,
                p,
                format!(
                    "algorithm {} is refused: only public-key signatures are accepted \
                     (RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA Ed25519)",
                    quote_str(name)
                ),
            ));
        }
        let alg = Alg::from_name(name).ok_or_else(|| {
            PolicyError::new(
                ErrorCode::Unsupported,
                p.clone(),
                format!(
                    "unknown algorithm {}; expected one of RS256 RS384 RS512 PS256 PS384 PS512 \
                     ES256 ES384 ES512 EdDSA Ed25519",
                    quote_str(name)
                ),
            )
        })?;
        if !algorithms.contains(&alg) {
            algorithms.push(alg);
        }
    }
    if o.has("algorithms") && algorithms.is_empty() {
        return Err(invalid(
            o.at("algorithms"),
            "the algorithm allowlist must not be empty (leave `algorithms` out to let each key decide)",
        ));
    }
    if algorithms.is_empty() {
        algorithms = Alg::ALL.to_vec();
    }

    // keys
    let jwks = match o.raw("jwks") {
        None => None,
        Some(raw) => {
            let p = o.at("jwks");
            let set = match raw {
                Value::String(text) => JwkSet::parse(text),
                Value::Object(_) => JwkSet::from_value(raw),
                other => {
                    return Err(type_error(
                        &p,
                        "a JWKS as a JSON string or an object",
                        other,
                    ))
                }
            }
            .map_err(|e| {
                invalid(
                    p.clone(),
                    format!("invalid key set at `{}`: {}", e.path, e.message),
                )
            })?;
            Some(set)
        }
    };
    let jwks_uri = o.str("jwksUri")?.map(str::to_string);
    if let Some(u) = &jwks_uri {
        if !(u.starts_with("https://") || u.starts_with("http://")) {
            return Err(invalid(
                o.at("jwksUri"),
                format!("expected an http(s) url, found {}", quote_str(u)),
            ));
        }
    }
    let discovery = o
        .obj("jwksCache")?
        .map(|c| c.bool("discovery"))
        .transpose()?
        .flatten()
        .unwrap_or(false);
    if jwks.is_none() && jwks_uri.is_none() && !discovery {
        return Err(PolicyError::new(
            ErrorCode::Missing,
            o.path(),
            "one of `jwks` or `jwksUri` is required (or `jwksCache.discovery: true`)",
        ));
    }
    if discovery && !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
        return Err(invalid(
            o.at("jwksCache"),
            format!(
                "`discovery` needs an http(s) issuer to find `/.well-known/openid-configuration`, found {}",
                quote_str(issuer)
            ),
        ));
    }

    // locations
    let mut locations = Vec::new();
    for (p, item) in o.array("fromHeaders")? {
        let h = Obj::new(item, &p)?;
        h.deny_unknown(&["name", "prefix"])?;
        let name = header_name(&h.at("name"), h.req_str("name")?)?;
        let prefix = h.str("prefix")?.unwrap_or("").to_string();
        if prefix.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return Err(invalid(h.at("prefix"), "control characters in the prefix"));
        }
        locations.push(TokenLocation::Header { name, prefix });
    }
    for (p, item) in o.array("fromParams")? {
        match item {
            Value::String(s) if !s.is_empty() => locations.push(TokenLocation::Param(s.clone())),
            Value::String(_) => return Err(invalid(p, "expected a non-empty string, found ``")),
            other => return Err(type_error(&p, "a parameter name", other)),
        }
    }
    for (p, item) in o.array("fromCookies")? {
        match item {
            Value::String(s) if !s.is_empty() && s.bytes().all(is_tchar) => {
                locations.push(TokenLocation::Cookie(s.clone()))
            }
            Value::String(s) => {
                return Err(invalid(p, format!("invalid cookie name {}", quote_str(s))))
            }
            other => return Err(type_error(&p, "a cookie name", other)),
        }
    }
    if locations.is_empty() {
        locations.push(TokenLocation::default_bearer());
    }

    // output
    let mut output_claim_to_headers = Vec::new();
    for (p, item) in o.array("outputClaimToHeaders")? {
        let h = Obj::new(item, &p)?;
        h.deny_unknown(&["header", "claim"])?;
        let header = header_name(&h.at("header"), h.req_str("header")?)?;
        let claim = h.req_str("claim")?;
        if claim.is_empty() || claim.split('.').any(str::is_empty) {
            return Err(invalid(
                h.at("claim"),
                format!("invalid claim name {}", quote_str(claim)),
            ));
        }
        output_claim_to_headers.push(ClaimToHeader {
            header,
            claim: claim.to_string(),
        });
    }
    let output_payload_to_header = match o.str("outputPayloadToHeader")? {
        None => None,
        Some(h) => Some(header_name(&o.at("outputPayloadToHeader"), h)?),
    };
    let forward_original_token = o.bool("forwardOriginalToken")?.unwrap_or(false);
    let timeout = o.str("timeout")?.map(str::to_string);

    // limits
    let clock_skew_seconds = o
        .uint("clockSkewSeconds", u64::from(MAX_CLOCK_SKEW))?
        .map_or(DEFAULT_CLOCK_SKEW, |s| s as u32);
    let required_type = match o.str("requiredType")? {
        Some("") => return Err(invalid(o.at("requiredType"), "must not be empty")),
        other => other.map(str::to_string),
    };
    let max_token_lifetime_seconds = o.uint("maxTokenLifetimeSeconds", 10 * 365 * 86400)?;
    if max_token_lifetime_seconds == Some(0) {
        return Err(invalid(
            o.at("maxTokenLifetimeSeconds"),
            "must be at least 1",
        ));
    }
    let require_claims = o.strings("requireClaims")?;
    let max_token_bytes = o
        .uint("maxTokenBytes", MAX_TOKEN_BYTES_CAP as u64)?
        .map_or(DEFAULT_MAX_TOKEN_BYTES, |n| n as usize);
    if max_token_bytes < 64 {
        return Err(invalid(o.at("maxTokenBytes"), "must be at least 64"));
    }
    let jwks_cache = match o.obj("jwksCache")? {
        None => JwksCacheConfig::default(),
        Some(c) => {
            c.deny_unknown(&[
                "ttlSeconds",
                "refetchCooldownSeconds",
                "cluster",
                "discovery",
            ])?;
            JwksCacheConfig {
                ttl_seconds: c.uint("ttlSeconds", 30 * 86400)?,
                refetch_cooldown_seconds: c.uint("refetchCooldownSeconds", 86400)?,
                cluster: c.str("cluster")?.map(str::to_string),
                discovery,
            }
        }
    };
    let device = o.bool("device")?.unwrap_or(false);
    let space_delimited_claims = o.strings("spaceDelimitedClaims")?;
    if space_delimited_claims.len() > 64 {
        return Err(invalid(o.at("spaceDelimitedClaims"), "at most 64 claims"));
    }

    Ok(JwtRule {
        issuer: issuer.to_string(),
        audiences,
        jwks,
        jwks_uri,
        locations,
        output_claim_to_headers,
        output_payload_to_header,
        forward_original_token,
        timeout,
        algorithms,
        clock_skew_seconds,
        required_type,
        max_token_lifetime_seconds,
        require_claims,
        max_token_bytes,
        jwks_cache,
        device,
        space_delimited_claims,
    })
}

/// Reads a whole `jwtRules` array at `path`.
pub fn parse_jwt_rules(v: &Value, path: &str) -> Result<Vec<JwtRule>, PolicyError> {
    match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| parse_jwt_rule(item, &crate::policy::read::index(path, i)))
            .collect(),
        other => Err(type_error(path, "an array", other)),
    }
}

/// Parses a rule from JSON text (tests and tools).
pub fn parse_jwt_rule_json(text: &str) -> Result<JwtRule, PolicyError> {
    let v = json::parse(text, json::Limits::POLICY)
        .map_err(|e| PolicyError::new(ErrorCode::Syntax, "$", e.to_string()))?;
    parse_jwt_rule(&v, "jwtRules[0]")
}

#[cfg(test)]
#[path = "rule_test.rs"]
mod tests;
