//! Key sets of one engine: the policy's inline `jwks`, sets the caller installs with
//! `setJwks`, and sets fetched from `jwksUri` (or OpenID discovery) through the caller's
//! fetch callback. The rules mirror the proxy-wasm filter (docs/filter.md):
//!
//! * a fetched set is used for `jwksCache.ttlSeconds` (default 300 s), then fetched again;
//! * a token with an unknown `kid` (or an issuer without keys) causes at most one refetch per
//!   `jwksCache.refetchCooldownSeconds` (default 10 s);
//! * a fetch that fails or returns an unacceptable set changes nothing: the last good set
//!   stays, and no scheduled fetch is tried again for 2 s;
//! * one fetch per issuer at a time (single flight; `lib.rs` shares the pending promise).
//!
//! Times here are milliseconds of the caller's clock, never the `now` a decision is made at
//! (which may be fixed, e.g. in tests).

use policy_core::authenticate::{JwkSet, JwtRule, KeyStore};
use policy_core::error::{ErrorCode, PolicyError};
use policy_core::json::{self, Limits, Value};

const DEFAULT_TTL_MS: f64 = 300_000.0;
const DEFAULT_COOLDOWN_MS: f64 = 10_000.0;
/// After a failed fetch, no scheduled fetch for this long.
const RETRY_MS: f64 = 2_000.0;
/// Largest JWKS or discovery document accepted (as the filter).
pub const MAX_DOCUMENT: usize = 1 << 20;

/// One issuer whose keys come from the network.
#[derive(Debug, Clone)]
pub struct Remote {
    /// The rule's issuer.
    pub issuer: String,
    /// `jwksUri`, or what discovery found.
    pub jwks_url: Option<String>,
    /// The discovery document's URL, when the rule uses discovery.
    pub discovery_url: Option<String>,
    ttl_ms: f64,
    cooldown_ms: f64,
    /// When the set in use was fetched.
    pub fetched_ms: Option<f64>,
    /// No scheduled fetch before this (after a failure).
    retry_ms: f64,
    /// When the last unknown-kid refetch started.
    refetched_ms: Option<f64>,
    /// The last failure, for `stats()`.
    pub last_error: Option<String>,
}

impl Remote {
    /// The remote part of a rule; `None` for rules with inline keys only.
    pub fn from_rule(rule: &JwtRule) -> Option<Remote> {
        let discovery_url = (rule.jwks_cache.discovery && rule.jwks_uri.is_none()).then(|| {
            format!(
                "{}/.well-known/openid-configuration",
                rule.issuer.trim_end_matches('/')
            )
        });
        if rule.jwks_uri.is_none() && discovery_url.is_none() {
            return None;
        }
        let secs = |s: Option<u64>, default: f64| s.map_or(default, |s| s as f64 * 1000.0);
        Some(Remote {
            issuer: rule.issuer.clone(),
            jwks_url: rule.jwks_uri.clone(),
            discovery_url,
            ttl_ms: secs(rule.jwks_cache.ttl_seconds, DEFAULT_TTL_MS),
            cooldown_ms: secs(
                rule.jwks_cache.refetch_cooldown_seconds,
                DEFAULT_COOLDOWN_MS,
            ),
            fetched_ms: None,
            retry_ms: 0.0,
            refetched_ms: None,
            last_error: None,
        })
    }

    /// True when the set should be fetched on schedule (never fetched, or older than its TTL),
    /// and no recent failure holds it back.
    pub fn due(&self, now_ms: f64) -> bool {
        now_ms >= self.retry_ms && self.fetched_ms.is_none_or(|f| now_ms >= f + self.ttl_ms)
    }

    /// Takes the refetch slot for an unknown `kid`: true at most once per cooldown.
    pub fn take_refetch(&mut self, now_ms: f64) -> bool {
        if self
            .refetched_ms
            .is_some_and(|t| now_ms < t + self.cooldown_ms)
        {
            return false;
        }
        self.refetched_ms = Some(now_ms);
        true
    }

    /// Records a failed fetch: the last good set stays.
    pub fn failed(&mut self, now_ms: f64, why: String) {
        self.retry_ms = now_ms + RETRY_MS;
        self.last_error = Some(why);
    }
}

/// What a fetched document led to.
#[derive(Debug, PartialEq)]
pub enum Fetched {
    /// A key set was installed.
    Installed,
    /// The discovery document named the JWKS URL; fetch it next.
    JwksAt(String),
}

/// The key sets of one engine.
#[derive(Debug, Clone)]
pub struct Keys {
    /// Every set in use, by issuer.
    pub store: KeyStore,
    /// Issuers fetched through the callback.
    pub remotes: Vec<Remote>,
    issuers: Vec<String>,
}

impl Keys {
    /// The policy's inline sets and its remotes.
    pub fn new(inline: KeyStore, rules: &[JwtRule]) -> Keys {
        Keys {
            store: inline,
            remotes: rules.iter().filter_map(Remote::from_rule).collect(),
            issuers: rules.iter().map(|r| r.issuer.clone()).collect(),
        }
    }

    /// The remote of an issuer.
    pub fn remote_mut(&mut self, issuer: &str) -> Option<&mut Remote> {
        self.remotes.iter_mut().find(|r| r.issuer == issuer)
    }

    /// Installs a set for `issuer` (JWKS text); the issuer must be one of the policy's.
    /// On error nothing changes.
    pub fn set(&mut self, issuer: &str, text: &str) -> Result<usize, PolicyError> {
        if !self.issuers.iter().any(|i| i == issuer) {
            return Err(PolicyError::new(
                ErrorCode::Invalid,
                "issuer",
                format!(
                    "no `jwtRules` item has the issuer {}",
                    policy_core::policy::read::quote_str(issuer)
                ),
            ));
        }
        let set = JwkSet::parse(text).map_err(|e| {
            let code = if e.path == "$" && e.message.starts_with("not acceptable json") {
                ErrorCode::Syntax
            } else {
                ErrorCode::Invalid
            };
            PolicyError::new(code, e.path, e.message)
        })?;
        let n = set.len();
        self.store.set(issuer, set);
        Ok(n)
    }

    /// Handles a document fetched for `issuer` at `now_ms`: a discovery document (when the
    /// remote has no JWKS URL yet) or a key set.
    pub fn fetched(&mut self, issuer: &str, text: &str, now_ms: f64) -> Result<Fetched, String> {
        if text.len() > MAX_DOCUMENT {
            return Err(format!("document of {} bytes is too large", text.len()));
        }
        let needs_discovery = self
            .remote_mut(issuer)
            .is_some_and(|r| r.jwks_url.is_none());
        if needs_discovery {
            let url = discovered_jwks_url(text, issuer)?;
            if let Some(r) = self.remote_mut(issuer) {
                r.jwks_url = Some(url.clone());
            }
            return Ok(Fetched::JwksAt(url));
        }
        self.set(issuer, text)
            .map_err(|e| format!("invalid key set at `{}`: {}", e.path, e.message))?;
        if let Some(r) = self.remote_mut(issuer) {
            r.fetched_ms = Some(now_ms);
            r.retry_ms = 0.0;
            r.last_error = None;
        }
        Ok(Fetched::Installed)
    }
}

/// `jwks_uri` from an OpenID discovery document whose `issuer` must be `issuer` (OpenID
/// Connect Discovery §4.3).
pub fn discovered_jwks_url(text: &str, issuer: &str) -> Result<String, String> {
    let doc = json::parse(text, Limits::REQUEST).map_err(|e| format!("discovery document: {e}"))?;
    if doc.get("issuer").and_then(Value::as_str) != Some(issuer) {
        return Err("discovery document names another issuer".into());
    }
    match doc.get("jwks_uri").and_then(Value::as_str) {
        Some(u) if u.starts_with("https://") || u.starts_with("http://") => Ok(u.to_string()),
        _ => Err("discovery document has no usable `jwks_uri`".into()),
    }
}

#[cfg(test)]
#[path = "keys_test.rs"]
mod tests;
