//! Authenticating: verifying the request's JWT against the policy's `jwtRules`.
//!
//! One job per file, like Envoy's `jwt_authn`:
//!
//! * [`rule`] — configuration: one `jwtRules` item (Istio field names plus extensions);
//! * [`jwks`] — key sets, parsed once into verifying keys;
//! * [`jwt`] — one token: compact JWS grammar, header and claims checks, signature;
//! * [`cache`] — the bounded verified-token cache;
//! * this module — [`Authenticator`] (all rules together), [`Identity`], [`TokenError`],
//!   [`KeyStore`].
//!
//! Finding the token in the request is [`crate::extract::token`].
//!
//! The core reads no clock and fetches nothing: `now` and the key sets ([`KeyStore`]) are
//! arguments. Adapters fill the store from `jwksUri` (and refetch on
//! [`TokenErrorKind::UnknownKid`] / [`TokenErrorKind::NoKeys`]); inline `jwks` are preloaded by
//! [`Authenticator::inline_keys`].

pub mod cache;
pub mod jwks;
pub mod jwt;
pub mod rule;

pub use cache::{TokenCache, TokenKey};
pub use jwks::{Alg, JwkSet, JwksError};
pub use rule::{parse_jwt_rule, JwtRule};

use crate::authenticate::rule::TokenLocation;
use crate::error::{ErrorCode, PolicyError};
use crate::extract::request::CheckRequest;
use crate::extract::token::{find_token, FoundToken, TokenSource};
use crate::json::{Map, Value};
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

/// A part of a compact JWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The protected header.
    Header,
    /// The payload (claims).
    Payload,
    /// The signature.
    Signature,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Part::Header => "header",
            Part::Payload => "claims",
            Part::Signature => "signature",
        }
    }
}

/// Why a token was refused. Each kind has a stable [`TokenError::code`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenErrorKind {
    /// `multiple_tokens`: more than one token in the request (or a repeated/comma-joined token
    /// header).
    MultipleTokens,
    /// `malformed`: not a compact JWS, or the token location's grammar is broken.
    Malformed(&'static str),
    /// `bad_base64`: a segment is not canonical base64url without padding.
    BadBase64(Part),
    /// `bad_json`: a segment is not acceptable JSON.
    BadJson(Part),
    /// `duplicate_key`: a key repeated in the header or claims object.
    DuplicateKey(Part),
    /// `too_deep`: JSON nested beyond the limit.
    TooDeep(Part),
    /// `too_large`: the token exceeds `maxTokenBytes`.
    TooLarge,
    /// `bad_header`: a header member has the wrong type or is missing.
    BadHeader(&'static str),
    /// `forbidden_header`: `jwk`, `jku`, `x5u`, `x5c`, `b64`, `zip` or a nested-JWT `cty`.
    ForbiddenHeader(&'static str),
    /// `unknown_crit`: a `crit` header (no extension is understood).
    UnknownCrit,
    /// `unknown_issuer`: no rule has the token's `iss`.
    UnknownIssuer,
    /// `issuer_mismatch`: the token's `iss` is not the rule's issuer.
    IssuerMismatch,
    /// `wrong_location`: the token's rule does not accept tokens where it was found.
    WrongLocation,
    /// `no_keys`: no key set is loaded for the issuer yet (adapters: fetch it).
    NoKeys {
        /// The rule's issuer.
        issuer: String,
    },
    /// `unknown_kid`: no key with the token's `kid` (or, without `kid`, none that fits);
    /// adapters may refetch the issuer's key set.
    UnknownKid {
        /// The rule's issuer.
        issuer: String,
        /// The token's `kid`.
        kid: Option<String>,
    },
    /// `ambiguous_key`: no `kid` and several keys fit.
    AmbiguousKey,
    /// `alg_not_allowed`: `none`, `HS*`, an unknown algorithm, or one not in `algorithms`.
    AlgNotAllowed,
    /// `alg_mismatch`: the header's `alg` is not one the key verifies (its own `alg`, or an
    /// algorithm of its type).
    AlgMismatch,
    /// `bad_signature`: the signature does not verify.
    BadSignature,
    /// `bad_type`: the header `typ` is not the required type.
    BadType,
    /// `expired`: `exp` has passed (beyond the clock skew).
    Expired,
    /// `not_yet_valid`: `nbf` is in the future (beyond the clock skew).
    NotYetValid,
    /// `issued_in_future`: `iat` is in the future (beyond the clock skew).
    IssuedInFuture,
    /// `lifetime_too_long`: `exp − iat` exceeds `maxTokenLifetimeSeconds`.
    LifetimeTooLong,
    /// `missing_claim`: a required claim is absent.
    MissingClaim(String),
    /// `bad_claim_type`: a registered claim has the wrong JSON type.
    BadClaimType(&'static str),
    /// `audience_mismatch`: no configured audience in `aud`.
    AudienceMismatch,
}

/// A refused token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError {
    kind: TokenErrorKind,
}

impl TokenError {
    /// An error of this kind.
    pub fn new(kind: TokenErrorKind) -> Self {
        TokenError { kind }
    }

    /// The kind.
    pub fn kind(&self) -> &TokenErrorKind {
        &self.kind
    }

    /// The stable machine code, e.g. `expired`.
    pub fn code(&self) -> &'static str {
        use TokenErrorKind as K;
        match &self.kind {
            K::MultipleTokens => "multiple_tokens",
            K::Malformed(_) => "malformed",
            K::BadBase64(_) => "bad_base64",
            K::BadJson(_) => "bad_json",
            K::DuplicateKey(_) => "duplicate_key",
            K::TooDeep(_) => "too_deep",
            K::TooLarge => "too_large",
            K::BadHeader(_) => "bad_header",
            K::ForbiddenHeader(_) => "forbidden_header",
            K::UnknownCrit => "unknown_crit",
            K::UnknownIssuer => "unknown_issuer",
            K::IssuerMismatch => "issuer_mismatch",
            K::WrongLocation => "wrong_location",
            K::NoKeys { .. } => "no_keys",
            K::UnknownKid { .. } => "unknown_kid",
            K::AmbiguousKey => "ambiguous_key",
            K::AlgNotAllowed => "alg_not_allowed",
            K::AlgMismatch => "alg_mismatch",
            K::BadSignature => "bad_signature",
            K::BadType => "bad_type",
            K::Expired => "expired",
            K::NotYetValid => "not_yet_valid",
            K::IssuedInFuture => "issued_in_future",
            K::LifetimeTooLong => "lifetime_too_long",
            K::MissingClaim(_) => "missing_claim",
            K::BadClaimType(_) => "bad_claim_type",
            K::AudienceMismatch => "audience_mismatch",
        }
    }

    /// Every code, for documentation and tests.
    pub const CODES: [&'static str; 27] = [
        "multiple_tokens",
        "malformed",
        "bad_base64",
        "bad_json",
        "duplicate_key",
        "too_deep",
        "too_large",
        "bad_header",
        "forbidden_header",
        "unknown_crit",
        "unknown_issuer",
        "issuer_mismatch",
        "wrong_location",
        "no_keys",
        "unknown_kid",
        "ambiguous_key",
        "alg_not_allowed",
        "alg_mismatch",
        "bad_signature",
        "bad_type",
        "expired",
        "not_yet_valid",
        "issued_in_future",
        "lifetime_too_long",
        "missing_claim",
        "bad_claim_type",
        "audience_mismatch",
    ];

    /// A short lower-case text safe for an RFC 6750 `error_description`: no key material, no
    /// token contents beyond claim names, and only the characters that attribute allows.
    pub fn description(&self) -> String {
        use TokenErrorKind as K;
        let text = match &self.kind {
            K::MultipleTokens => String::from("more than one token in the request"),
            K::Malformed(why) => String::from(*why),
            K::BadBase64(p) => format!("the token {} is not base64url", p.name()),
            K::BadJson(p) => format!("the token {} is not valid json", p.name()),
            K::DuplicateKey(p) => format!("a key is repeated in the token {}", p.name()),
            K::TooDeep(p) => format!("the token {} is nested too deeply", p.name()),
            K::TooLarge => String::from("the token is too large"),
            K::BadHeader(why) => format!("invalid token header: {why}"),
            K::ForbiddenHeader(h) => format!("the token header `{h}` is not accepted"),
            K::UnknownCrit => String::from("the token has critical extensions"),
            K::UnknownIssuer => String::from("the token issuer is not trusted"),
            K::IssuerMismatch => String::from("the token issuer does not match"),
            K::WrongLocation => {
                String::from("the token was sent where its issuer's tokens are not accepted")
            }
            K::NoKeys { .. } => String::from("the issuer's keys are not available"),
            K::UnknownKid { .. } => String::from("the token's signing key is not known"),
            K::AmbiguousKey => String::from("the token's signing key cannot be chosen"),
            K::AlgNotAllowed => String::from("the token algorithm is not allowed"),
            K::AlgMismatch => String::from("the token algorithm does not match its key"),
            K::BadSignature => String::from("the token signature is invalid"),
            K::BadType => String::from("the token type is not accepted"),
            K::Expired => String::from("the token has expired"),
            K::NotYetValid => String::from("the token is not valid yet"),
            K::IssuedInFuture => String::from("the token is issued in the future"),
            K::LifetimeTooLong => String::from("the token lifetime is too long"),
            K::MissingClaim(c) => format!("the token has no `{c}` claim"),
            K::BadClaimType(c) => format!("the token `{c}` claim has the wrong type"),
            K::AudienceMismatch => String::from("the token audience is not accepted"),
        };
        // RFC 6750 §3: error_description is %x20-21 / %x23-5B / %x5D-7E.
        text.chars()
            .map(|c| match c {
                '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e' => c,
                _ => '?',
            })
            .collect()
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.description(), self.code())
    }
}

#[cfg(feature = "std")]
extern crate std;
#[cfg(feature = "std")]
impl std::error::Error for TokenError {}

/// Who a verified token says the caller is.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// `iss` (the rule's issuer).
    pub issuer: String,
    /// `sub`, if present.
    pub subject: Option<String>,
    /// `iss/sub`, Istio's `request.auth.principal` (`iss/` when there is no `sub`).
    pub principal: String,
    /// `aud` (a string or the array's strings).
    pub audiences: Vec<String>,
    /// `azp`, Istio's `request.auth.presenter`.
    pub presenter: Option<String>,
    /// Every claim.
    pub claims: Map,
    /// Index of the rule that verified the token.
    pub rule: usize,
    /// `exp`, rounded down to whole seconds.
    pub expires_at: i64,
    /// `exp` as written (may be fractional).
    pub exp: f64,
    /// `nbf`, if present.
    pub not_before: Option<f64>,
    /// `iat`, rounded down, if present.
    pub issued_at: Option<i64>,
    /// Where the token was found.
    pub source: TokenSource,
    /// The fingerprint of the key that verified the signature ([`Jwk::fingerprint`]); `None`
    /// when the identity was built without one (then it is never served from a cache).
    pub key_fingerprint: Option<[u8; 32]>,
}

impl Identity {
    /// A claim by path: `["realm_access", "roles"]` is `claims.realm_access.roles`.
    pub fn claim_path(&self, path: &[&str]) -> Option<&Value> {
        let (first, rest) = path.split_first()?;
        let mut v = self.claims.get(first)?;
        for p in rest {
            v = v.get(p)?;
        }
        Some(v)
    }

    /// A claim by dotted name (`a.b`), like Envoy's `claim_to_headers`.
    pub fn claim_dotted(&self, name: &str) -> Option<&Value> {
        let parts: Vec<&str> = name.split('.').collect();
        self.claim_path(&parts)
    }
}

/// Key sets by issuer, filled by adapters (and preloaded with inline `jwks`).
#[derive(Debug, Clone, Default)]
pub struct KeyStore {
    sets: BTreeMap<String, Arc<JwkSet>>,
}

impl KeyStore {
    /// An empty store.
    pub fn new() -> Self {
        KeyStore::default()
    }
    /// Sets (replaces) the key set of `issuer`.
    pub fn set(&mut self, issuer: &str, set: JwkSet) {
        self.sets.insert(issuer.to_string(), Arc::new(set));
    }
    /// True when the set of `issuer` still holds the key with this fingerprint.
    pub fn holds(&self, issuer: &str, fingerprint: &[u8; 32]) -> bool {
        self.sets
            .get(issuer)
            .is_some_and(|s| s.keys().iter().any(|k| &k.fingerprint == fingerprint))
    }
    /// The key set of `issuer`.
    pub fn get(&self, issuer: &str) -> Option<&JwkSet> {
        self.sets.get(issuer).map(|a| &**a)
    }
    /// Removes the key set of `issuer`.
    pub fn remove(&mut self, issuer: &str) -> bool {
        self.sets.remove(issuer).is_some()
    }
    /// Issuers with a key set.
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.sets.keys().map(String::as_str)
    }
    /// Number of issuers with a key set.
    pub fn len(&self) -> usize {
        self.sets.len()
    }
    /// True when no set is loaded.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }
}

/// The result of authenticating one request.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthOutcome {
    /// No token in any configured location.
    NoToken,
    /// A token was found and verified (shared with the token cache: a hit copies nothing).
    Verified(Arc<Identity>),
    /// A token was found (or the locations were ambiguous) and refused.
    Failed(TokenError),
}

/// All `jwtRules` of a policy, compiled.
#[derive(Debug, Clone)]
pub struct Authenticator {
    rules: Vec<JwtRule>,
    inline: KeyStore,
    locations: Vec<TokenLocation>,
    device_locations: Vec<TokenLocation>,
    max_token_bytes: usize,
}

/// Most characters of one upstream header value.
pub const MAX_UPSTREAM_VALUE: usize = 8192;

impl Authenticator {
    /// Compiles rules (already parsed with [`parse_jwt_rule`]); issuers must be unique. Errors
    /// name `jwtRules[i]`.
    pub fn new(rules: Vec<JwtRule>) -> Result<Self, PolicyError> {
        let mut inline = KeyStore::new();
        let mut locations: Vec<TokenLocation> = Vec::new();
        let mut device_locations: Vec<TokenLocation> = Vec::new();
        let mut max_token_bytes = 0;
        for (i, r) in rules.iter().enumerate() {
            if rules.iter().take(i).any(|o| o.issuer == r.issuer) {
                return Err(PolicyError::new(
                    ErrorCode::Invalid,
                    format!("jwtRules[{i}].issuer"),
                    format!(
                        "duplicate issuer {}",
                        crate::policy::read::quote_str(&r.issuer)
                    ),
                ));
            }
            if let Some(set) = &r.jwks {
                inline.set(&r.issuer, set.clone());
            }
            let list = if r.device {
                &mut device_locations
            } else {
                &mut locations
            };
            for l in &r.locations {
                if !list.contains(l) {
                    list.push(l.clone());
                }
            }
            max_token_bytes = max_token_bytes.max(r.max_token_bytes);
        }
        // A device token and the caller's token are looked for separately: they must never
        // share a place, or one could stand in for the other.
        for (i, r) in rules.iter().enumerate().filter(|(_, r)| r.device) {
            if let Some(l) = r.locations.iter().find(|l| locations.contains(l)) {
                let place = match l {
                    TokenLocation::Header { name, .. } => format!("header `{name}`"),
                    TokenLocation::Param(p) => format!("parameter `{p}`"),
                    TokenLocation::Cookie(c) => format!("cookie `{c}`"),
                };
                return Err(PolicyError::new(
                    ErrorCode::Invalid,
                    format!("jwtRules[{i}]"),
                    format!(
                        "a device rule must read its token from its own place (e.g. `fromHeaders: [{{\"name\": \"x-device-token\"}}]`), not the {place} user tokens are read from"
                    ),
                ));
            }
        }
        Ok(Authenticator {
            rules,
            inline,
            locations,
            device_locations,
            max_token_bytes,
        })
    }

    /// The rules, in policy order.
    pub fn rules(&self) -> &[JwtRule] {
        &self.rules
    }

    /// A key store holding every rule's inline `jwks`; adapters add fetched sets to a copy.
    pub fn inline_keys(&self) -> KeyStore {
        self.inline.clone()
    }

    /// Every place the caller's token is looked for (deduplicated union of the non-device
    /// rules' locations).
    pub fn locations(&self) -> &[TokenLocation] {
        &self.locations
    }

    /// Every place a device-attestation token is looked for (rules with `device: true`).
    pub fn device_locations(&self) -> &[TokenLocation] {
        &self.device_locations
    }

    /// True when some rule is a device-attestation issuer.
    pub fn has_device_rules(&self) -> bool {
        self.rules.iter().any(|r| r.device)
    }

    /// True when some rule authenticates callers (is not a device issuer).
    pub fn has_user_rules(&self) -> bool {
        self.rules.iter().any(|r| !r.device)
    }

    /// Finds and verifies the device-attestation token (rules with `device: true` only).
    pub fn authenticate_device(
        &self,
        req: &CheckRequest,
        now: i64,
        keys: &KeyStore,
        cache: Option<&mut TokenCache>,
    ) -> AuthOutcome {
        self.authenticate_device_using(req, now, keys, cache, &mut jwt::NativeSignatures)
    }

    /// [`Authenticator::authenticate_device`], with `signatures` checking the signature.
    pub fn authenticate_device_using(
        &self,
        req: &CheckRequest,
        now: i64,
        keys: &KeyStore,
        cache: Option<&mut TokenCache>,
        signatures: &mut dyn jwt::SignatureCheck,
    ) -> AuthOutcome {
        if self.device_locations.is_empty() {
            return AuthOutcome::NoToken;
        }
        let found = match find_token(req, &self.device_locations) {
            Ok(Some(f)) => f,
            Ok(None) => return AuthOutcome::NoToken,
            Err(e) => return AuthOutcome::Failed(e),
        };
        let is_device = |i: usize| self.rules.get(i).is_some_and(|r| r.device);
        let mut cache = cache;
        // Hashed once: the lookup and, on a miss, the insertion.
        let key = cache.as_ref().map(|_| TokenKey::of(&found.token));
        if let (Some(c), Some(key)) = (cache.as_deref_mut(), key) {
            if let Some(mut id) = c.get_keyed(key, now, keys) {
                let allowed = is_device(id.rule)
                    && self
                        .rules
                        .get(id.rule)
                        .is_some_and(|r| r.locations.iter().any(|l| found.source.matches(l)));
                if allowed {
                    if id.source.borrowed() != found.source {
                        Arc::make_mut(&mut id).source = found.source.owned();
                    }
                    return AuthOutcome::Verified(id);
                }
            }
        }
        let verified = jwt::decode(&found.token, self.max_token_bytes).and_then(|d| {
            let iss = d.claims.get("iss").and_then(Value::as_str).unwrap_or("");
            let (i, rule) = self
                .rules
                .iter()
                .enumerate()
                .find(|(_, r)| r.device && r.issuer == iss)
                .ok_or_else(|| TokenError::new(TokenErrorKind::UnknownIssuer))?;
            jwt::verify_with_rule_using(
                rule,
                i,
                d,
                &found.token,
                found.source.owned(),
                now,
                keys,
                signatures,
            )
        });
        match verified {
            Ok(id) => {
                let id = Arc::new(id);
                if let (Some(c), Some(key)) = (cache, key) {
                    let skew = self.rules.get(id.rule).map_or(0, |r| r.clock_skew_seconds);
                    c.insert_keyed(key, Arc::clone(&id), skew);
                }
                AuthOutcome::Verified(id)
            }
            Err(e) => AuthOutcome::Failed(e),
        }
    }

    /// The rule for an issuer.
    pub fn rule_for_issuer(&self, issuer: &str) -> Option<(usize, &JwtRule)> {
        self.rules
            .iter()
            .enumerate()
            .find(|(_, r)| r.issuer == issuer)
    }

    /// Finds the one token in the request (see [`crate::extract::token`]).
    pub fn find_token<'a>(
        &'a self,
        req: &'a CheckRequest,
    ) -> Result<Option<FoundToken<'a>>, TokenError> {
        if self.locations.is_empty() {
            return Ok(None);
        }
        find_token(req, &self.locations)
    }

    /// Verifies one token found at `source` (see [`jwt`] for every check).
    pub fn verify(
        &self,
        token: &str,
        source: TokenSource,
        now: i64,
        keys: &KeyStore,
    ) -> Result<Identity, TokenError> {
        jwt::verify(&self.rules, self.max_token_bytes, token, source, now, keys)
    }

    /// Finds, verifies (or takes from `cache`) the request's token.
    pub fn authenticate(
        &self,
        req: &CheckRequest,
        now: i64,
        keys: &KeyStore,
        cache: Option<&mut TokenCache>,
    ) -> AuthOutcome {
        self.authenticate_using(req, now, keys, cache, &mut jwt::NativeSignatures)
    }

    /// [`Authenticator::authenticate`], with `signatures` checking the signature.
    pub fn authenticate_using(
        &self,
        req: &CheckRequest,
        now: i64,
        keys: &KeyStore,
        cache: Option<&mut TokenCache>,
        signatures: &mut dyn jwt::SignatureCheck,
    ) -> AuthOutcome {
        let found = match self.find_token(req) {
            Ok(Some(f)) => f,
            Ok(None) => return AuthOutcome::NoToken,
            Err(e) => return AuthOutcome::Failed(e),
        };
        let mut cache = cache;
        // Hashed once: the lookup and, on a miss, the insertion.
        let key = cache.as_ref().map(|_| TokenKey::of(&found.token));
        if let (Some(c), Some(key)) = (cache.as_deref_mut(), key) {
            if let Some(mut id) = c.get_keyed(key, now, keys) {
                let allowed = self
                    .rules
                    .get(id.rule)
                    .is_some_and(|r| r.locations.iter().any(|l| found.source.matches(l)));
                if allowed {
                    if id.source.borrowed() != found.source {
                        Arc::make_mut(&mut id).source = found.source.owned();
                    }
                    return AuthOutcome::Verified(id);
                }
            }
        }
        match jwt::verify_using(
            &self.rules,
            self.max_token_bytes,
            &found.token,
            found.source.owned(),
            now,
            keys,
            signatures,
        ) {
            Ok(id) => {
                let id = Arc::new(id);
                if let (Some(c), Some(key)) = (cache, key) {
                    let skew = self.rules.get(id.rule).map_or(0, |r| r.clock_skew_seconds);
                    c.insert_keyed(key, Arc::clone(&id), skew);
                }
                AuthOutcome::Verified(id)
            }
            Err(e) => AuthOutcome::Failed(e),
        }
    }

    /// The headers to set upstream for a verified identity (`outputClaimToHeaders`,
    /// `outputPayloadToHeader`). Names are lower-case. A claim that is absent, an object, null,
    /// or whose rendering would contain a control character (CR, LF, NUL…) is not emitted.
    /// Rendering follows Envoy: strings as is, integers in decimal, other numbers as JSON,
    /// booleans `true`/`false`, arrays of those joined with `,`.
    pub fn upstream_headers(&self, id: &Identity, token: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let Some(rule) = self.rules.get(id.rule) else {
            return out;
        };
        for c in &rule.output_claim_to_headers {
            if let Some(v) = id.claim_dotted(&c.claim).and_then(render_claim) {
                if header_value_ok(&v) {
                    out.push((c.header.clone(), v));
                }
            }
        }
        if let Some(h) = &rule.output_payload_to_header {
            if let Some(p) = token.split('.').nth(1) {
                if header_value_ok(p) {
                    out.push((h.clone(), p.to_string()));
                }
            }
        }
        out
    }

    /// Every header name Vigil may set upstream (lower-case, sorted, unique): the engine
    /// strips client-sent copies of these before setting them.
    pub fn managed_headers(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.rules {
            for c in &r.output_claim_to_headers {
                out.push(c.header.clone());
            }
            if let Some(h) = &r.output_payload_to_header {
                out.push(h.clone());
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Where the token was, when its rule does not forward it (`forwardOriginalToken` false):
    /// the engine removes that header (or parameter/cookie) before forwarding.
    pub fn token_to_strip(&self, id: &Identity) -> Option<TokenSource> {
        match self.rules.get(id.rule) {
            Some(r) if r.forward_original_token => None,
            _ => Some(id.source.clone()),
        }
    }
}

fn header_value_ok(v: &str) -> bool {
    v.len() <= MAX_UPSTREAM_VALUE && !v.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
}

fn render_scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(String::from(if *b { "true" } else { "false" })),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => format!("{i}"),
            None => v.to_json(),
        }),
        _ => None,
    }
}

fn render_claim(v: &Value) -> Option<String> {
    match v {
        Value::Array(items) => {
            let parts: Option<Vec<String>> = items.iter().map(render_scalar).collect();
            parts.map(|p| p.join(","))
        }
        other => render_scalar(other),
    }
}

#[cfg(test)]
#[path = "tests_authenticate_test.rs"]
mod tests;
