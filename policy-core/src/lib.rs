//! # Vigil policy core
//!
//! One Zero Trust decision, made the same way everywhere Vigil runs: in an Envoy/Istio
//! sidecar (proxy-wasm), at the edge and in the browser (wasm-bindgen), and natively in the
//! `vigil` CLI. A policy document is parsed and compiled once into a plan; each request is
//! canonicalised once and evaluated against it along the request path
//! *extract → authenticate → contextualise → decide → enforce → record*.
//!
//! What this crate must never do:
//! * perform I/O, read a clock or draw randomness — time, key sets and state are arguments;
//! * panic, hang or allocate without bound on untrusted input (tokens, headers, paths,
//!   policies, key sets): every failure is a precise error and a denial;
//! * require `std` — it is `no_std` + `alloc` and is built for a bare-metal target in CI.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod analysis;
pub mod authenticate;
pub mod bundle;
pub mod decide;
pub mod enforce;
pub mod error;
pub mod extract;
pub mod feeds;
pub mod json;
pub mod lint;
pub mod policy;
pub mod state;
pub mod testcase;

/// A tiny xorshift generator for the randomised tests: deterministic, no dependencies.
#[cfg(test)]
pub(crate) struct XorShift(pub(crate) u64);

#[cfg(test)]
impl XorShift {
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// Uniform enough below `n` (> 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

pub use decide::Step;
pub use enforce::{Decision, FiredRisk, Outcome, ResourceRef, TrustReport};
pub use error::{ErrorCode, PolicyError};
pub use extract::request::{CheckRequest, Peer};
pub use policy::Plan;
pub use state::{
    Behavior, BehaviorSnapshot, BehaviorState, BehaviorUpdate, Bucket, RateKey, RateSnapshot,
    RateState, RateUpdate, RevocationSnapshot, Signals,
};

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use authenticate::jwt::{NativeSignatures, SignatureCheck};
use authenticate::{AuthOutcome, Identity, KeyStore, TokenCache, TokenError, TokenErrorKind};
use decide::zt::step;
use extract::token::TokenSource;

/// What the caller supplies besides the request: the clock, the key sets and the state it
/// keeps (revocations from a feed, behaviour signals, rate-limit counters). Every field but
/// `now` may be `None`; the decision is a function of the request and this.
#[derive(Debug, Clone, Copy, Default)]
pub struct Env<'a> {
    /// Unix time in seconds.
    pub now: i64,
    /// Key sets by issuer, as the adapter fetched them; `None` uses the policy's inline
    /// `jwks` only.
    pub keys: Option<&'a KeyStore>,
    /// Revocations from a feed, checked after the policy's inline `revocation`.
    pub revocation: Option<&'a RevocationSnapshot>,
    /// Behaviour signals for this request's subject (`behavior.*`), as given: they take
    /// precedence over signals computed from `behavior`.
    pub signals: Option<&'a Signals>,
    /// The adapter's behaviour history by subject: when the policy reads `behavior.*`, the
    /// core loads the caller's record, computes the signals ([`Behavior::signals`]) and returns
    /// the record to store in [`Decision::behavior`].
    pub behavior: Option<&'a dyn BehaviorState>,
    /// Rate-limit counters; `None`: every bucket is full.
    pub rate: Option<&'a dyn RateState>,
    /// Network lists from a feed, added to the policy's declared lists (only when the policy
    /// has `network.feed`).
    pub network_lists: Option<&'a feeds::NetworkLists>,
    /// Risk labels from a feed, added to the policy's inline ones (only when the policy has
    /// `riskLabels.feed`).
    pub risk_labels: Option<&'a feeds::RiskLabels>,
}

impl Env<'_> {
    /// An environment at `now` with the policy's inline keys and no state.
    pub fn at(now: i64) -> Env<'static> {
        Env {
            now,
            ..Env::default()
        }
    }
}

/// A compiled policy, ready to decide requests. Build once, decide many times.
#[derive(Debug, Clone)]
pub struct Engine {
    plan: Plan,
    inline_keys: KeyStore,
}

impl Engine {
    /// Parses and compiles a policy document (JSON text).
    pub fn from_json(text: &str) -> Result<Engine, PolicyError> {
        Ok(Engine::new(Plan::from_json(text)?))
    }

    /// Compiles an already parsed policy document.
    pub fn from_value(v: &json::Value) -> Result<Engine, PolicyError> {
        Ok(Engine::new(Plan::from_value(v)?))
    }

    fn new(plan: Plan) -> Engine {
        let inline_keys = plan.auth.inline_keys();
        Engine { plan, inline_keys }
    }

    /// The key sets inline in the policy (`jwtRules[].jwks`); adapters start from a copy and
    /// add what they fetch.
    pub fn inline_keys(&self) -> &KeyStore {
        &self.inline_keys
    }

    /// The compiled plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Decides one request.
    pub fn decide(&self, req: &CheckRequest, env: &Env<'_>) -> Decision {
        self.run(req, env, Auth::Verify(None, &mut NativeSignatures), None)
    }

    /// Authenticates a request's caller (its token and device token, taken from or added to
    /// `cache`), for [`Engine::decide_caller`]: an adapter that asks several questions about
    /// one request (or a benchmark of policy evaluation alone) verifies once. The result can
    /// only come from here: a host cannot hand the engine an identity it did not verify.
    pub fn authenticate(
        &self,
        req: &CheckRequest,
        env: &Env<'_>,
        cache: Option<&mut TokenCache>,
    ) -> Caller {
        let keys = env.keys.unwrap_or(&self.inline_keys);
        let auth = &self.plan.auth;
        let mut cache = cache;
        let user = auth.authenticate(req, env.now, keys, cache.as_deref_mut());
        let device = if auth.has_device_rules() {
            auth.authenticate_device(req, env.now, keys, cache)
        } else {
            AuthOutcome::NoToken
        };
        Caller { user, device }
    }

    /// Decides one request for a caller from [`Engine::authenticate`] on the same request:
    /// the same decision as [`Engine::decide`], without finding or verifying tokens again.
    /// `exp`/`nbf` are checked when the caller is authenticated, so authenticate again when
    /// `env.now` moves on.
    pub fn decide_caller(&self, req: &CheckRequest, env: &Env<'_>, caller: &Caller) -> Decision {
        self.run(req, env, Auth::Given(caller), None)
    }

    /// Decides one request, taking verified tokens from (and adding them to) `cache`.
    pub fn decide_cached(
        &self,
        req: &CheckRequest,
        env: &Env<'_>,
        cache: &mut TokenCache,
    ) -> Decision {
        self.run(
            req,
            env,
            Auth::Verify(Some(cache), &mut NativeSignatures),
            None,
        )
    }

    /// [`Engine::decide_cached`], with `signatures` checking token signatures (an adapter
    /// verifying with its runtime's crypto, e.g. WebCrypto); every other rule is the core's.
    pub fn decide_cached_using(
        &self,
        req: &CheckRequest,
        env: &Env<'_>,
        cache: &mut TokenCache,
        signatures: &mut dyn SignatureCheck,
    ) -> Decision {
        self.run(req, env, Auth::Verify(Some(cache), signatures), None)
    }

    /// Decides one request and explains every step.
    pub fn explain(&self, req: &CheckRequest, env: &Env<'_>) -> (Decision, Vec<Step>) {
        let mut steps = Vec::new();
        let d = self.run(
            req,
            env,
            Auth::Verify(None, &mut NativeSignatures),
            Some(&mut steps),
        );
        (d, steps)
    }

    /// The rate-limit counters a request will use, for adapters that must fetch them before
    /// deciding. `identity` is the verified caller when known (a `principal` limit needs it;
    /// without it that limit is left out).
    pub fn rate_limit_keys(&self, req: &CheckRequest, identity: Option<&Identity>) -> Vec<RateKey> {
        let Ok(mut ctx) = decide::Ctx::new(&self.plan, req) else {
            return Vec::new();
        };
        ctx.auth = identity.map(|id| auth_view(&self.plan, id));
        self.plan
            .rate_limits
            .iter()
            .filter_map(|l| decide::zt::rate_key(l, &ctx))
            .collect()
    }

    /// Lints: policy patterns that are valid but probably wrong, and the analysis findings
    /// (unreachable and shadowed rules, ALLOW rules that admit everyone or callers with no
    /// identity: [`analysis::findings`]).
    pub fn lints(&self) -> Vec<lint::Lint> {
        let mut out = lint::lint(&self.plan);
        out.extend(analysis::findings::findings(self));
        out
    }

    fn run(
        &self,
        req: &CheckRequest,
        env: &Env<'_>,
        auth: Auth<'_, '_>,
        mut trace: Option<&mut Vec<Step>>,
    ) -> Decision {
        let plan = &self.plan;
        let dry_run = plan.mode == policy::Mode::DryRun;
        let computed: Signals;
        let mut ctx = match decide::Ctx::new(plan, req) {
            Ok(c) => c,
            Err(rejection) => {
                let mut d = rejection.decision();
                d.dry_run = dry_run;
                step(&mut trace, "request", false, || d.reason.clone());
                return d;
            }
        };
        if trace.is_some() {
            let detail = format!(
                "{} {}{} (raw path `{}`), peer {}, remote ip {}",
                ctx.method,
                ctx.host,
                ctx.path,
                req.path,
                ctx.peer.map_or("(none)".into(), |p| format!("`{p}`")),
                ctx.remote_ip.map_or("(none)".into(), |p| format!("`{p}`")),
            );
            step(&mut trace, "request", true, || detail);
        }
        // Authenticate: a token that is present but not valid is refused whatever the
        // authorization policies say (Istio's RequestAuthentication rule).
        let keys = env.keys.unwrap_or(&self.inline_keys);
        // The device token is verified only once the user's token passed (or was absent).
        let (outcome, auth) = match auth {
            Auth::Given(c) => (c.user.clone(), Auth::Given(c)),
            Auth::Verify(mut cache, signatures) => {
                let user = plan.auth.authenticate_using(
                    req,
                    env.now,
                    keys,
                    cache.as_deref_mut(),
                    signatures,
                );
                (user, Auth::Verify(cache, signatures))
            }
        };
        let identity = match outcome {
            AuthOutcome::NoToken => {
                if plan.auth.has_user_rules() {
                    step(&mut trace, "authenticate", false, || {
                        "no token in the request".into()
                    });
                }
                None
            }
            AuthOutcome::Failed(e) => {
                let mut d = token_failure(plan, &e);
                d.dry_run = dry_run;
                step(&mut trace, "authenticate", false, || d.reason.clone());
                if dry_run {
                    self.forwarding_headers(&mut d, None, req);
                }
                return d;
            }
            AuthOutcome::Verified(id) => {
                step(&mut trace, "authenticate", true, || {
                    format!("verified token of `{}`", id.principal)
                });
                Some(id)
            }
        };
        // Contextualise: device posture, signals, time, acr.
        let device = if plan.auth.has_device_rules() {
            let outcome = match auth {
                Auth::Given(c) => c.device.clone(),
                Auth::Verify(cache, signatures) => plan
                    .auth
                    .authenticate_device_using(req, env.now, keys, cache, signatures),
            };
            match outcome {
                AuthOutcome::Verified(d) => {
                    step(&mut trace, "device", true, || {
                        format!("verified device token of `{}`", d.principal)
                    });
                    Some(d)
                }
                AuthOutcome::Failed(e) => {
                    step(&mut trace, "device", false, || {
                        format!(
                            "device token ignored: {} (`{}`); device.* is absent",
                            e.description(),
                            e.code()
                        )
                    });
                    None
                }
                AuthOutcome::NoToken => None,
            }
        } else {
            None
        };
        ctx.token_present = identity.is_some();
        ctx.auth = identity.as_ref().map(|id| auth_view(plan, id));
        ctx.device_claims = device.as_ref().map(|d| &d.claims);
        ctx.signals = env.signals;
        // Feed snapshots apply only where the policy says its data comes from a feed.
        let feeds = (
            env.network_lists.filter(|_| plan.network.feed.is_some()),
            env.risk_labels.filter(|_| plan.risk_labels_feed.is_some()),
        );
        if let (Some(feed), Some(ip)) = (feeds.0, ctx.remote_ip) {
            for (name, _) in &plan.network.lists {
                if !ctx.lists.contains(&name.as_str())
                    && feed.list(name).is_some_and(|set| set.contains(ip))
                {
                    ctx.lists.push(name);
                }
            }
        }
        if !plan.risk_labels.is_empty() || feeds.1.is_some_and(|l| !l.is_empty()) {
            let text = |k: &str| identity.as_ref()?.claims.get(k)?.as_str();
            let iss = identity.as_ref().map(|id| id.issuer.as_str());
            let sub = identity.as_ref().and_then(|id| id.subject.as_deref());
            let (sid, peer) = (text("sid"), ctx.peer);
            plan.risk_labels
                .labels_of(iss, sub, sid, peer, &mut ctx.labels);
            if let Some(feed) = feeds.1 {
                feed.labels_of(iss, sub, sid, peer, &mut ctx.labels);
            }
        }
        let behavior = match env.behavior {
            Some(store) if plan.uses_behavior => identity
                .as_ref()
                .map(|id| id.principal.as_str())
                .or(ctx.peer)
                .map(|subject| {
                    let prev = store.load(subject);
                    let country = ctx.country.filter(|c| c.len() <= state::MAX_COUNTRY);
                    let mut signals = Behavior::signals(prev.as_ref(), country, env.now);
                    for (k, v) in env.signals.iter().flat_map(|s| s.iter()) {
                        signals.set(k, v);
                    }
                    let update = BehaviorUpdate {
                        subject: subject.to_string(),
                        country: country.map(str::to_string),
                        now: env.now,
                        record: Behavior::observe(prev.as_ref(), country, env.now),
                    };
                    (signals, update)
                }),
            _ => None,
        };
        let behavior = match behavior {
            Some((signals, update)) => {
                computed = signals;
                ctx.signals = Some(&computed);
                Some(update)
            }
            None => None,
        };
        ctx.local_time = policy::context::local_time(env.now, plan.utc_offset_minutes);
        ctx.acr = identity
            .as_ref()
            .and_then(|id| decide::zt::acr_rank(plan, &id.claims));
        if trace.is_some() {
            let mut parts = Vec::new();
            if let Some(r) = ctx.resource {
                parts.push(format!("resource `{}` ({})", r.name, r.classification));
            } else if !plan.resources.is_empty() {
                parts.push("no resource matched".into());
            }
            if ctx.device_claims.is_none() && ctx.posture_prefix.is_some() {
                parts.push("posture headers from a posture agent".into());
            }
            if !ctx.lists.is_empty() {
                parts.push(format!("client address in {}", ctx.lists.join(", ")));
            }
            if !ctx.labels.is_empty() {
                parts.push(format!("subject labels {}", ctx.labels.join(", ")));
            }
            if let Some(c) = ctx.country {
                parts.push(format!("country `{c}`"));
            }
            if !parts.is_empty() {
                step(&mut trace, "context", true, || parts.join("; "));
            }
        }
        let mut d = self.decide_stages(&ctx, env, identity.as_deref(), &mut trace);
        d.behavior = behavior;
        decide::finish(plan, &ctx, &mut d, &mut trace);
        d.resource = ctx.resource.map(|r| ResourceRef {
            name: r.name.clone(),
            classification: r.classification.clone(),
        });
        if d.forwards() {
            self.forwarding_headers(&mut d, identity.as_deref(), req);
            self.strip_context_headers(&mut d, &ctx, device.as_deref());
        }
        d
    }

    /// revocation → rate limit → DENY → resource requirements → trust → ALLOW → default.
    fn decide_stages(
        &self,
        ctx: &decide::Ctx<'_>,
        env: &Env<'_>,
        identity: Option<&Identity>,
        trace: &mut Option<&mut Vec<Step>>,
    ) -> Decision {
        let plan = &self.plan;
        if let Some(id) = identity {
            if let Some(d) = decide::zt::revocation(plan, id, env.revocation, trace) {
                return d;
            }
        }
        let (limited, updates) = decide::zt::rate_limit(plan, ctx, env.rate, env.now, trace);
        if let Some(mut d) = limited {
            d.rate_updates = updates;
            return d;
        }
        let scored = decide::zt::score(plan, ctx);
        let mut d = decide::deny_policies(plan, ctx, trace)
            .or_else(|| decide::zt::requirements(plan, ctx, identity, env.now, trace))
            .or_else(|| decide::zt::trust_gate(plan, ctx, scored.as_ref(), trace))
            .unwrap_or_else(|| decide::allow_policies(plan, ctx, trace));
        d.trust = scored.map(|(t, _, _)| t);
        d.rate_updates = updates;
        d
    }

    /// Strips what Vigil did not believe or must not pass on: the device token (unless its
    /// rule forwards it), posture headers not set by a posture agent, a country header not
    /// set by a country principal.
    fn strip_context_headers(
        &self,
        d: &mut Decision,
        ctx: &decide::Ctx<'_>,
        device: Option<&Identity>,
    ) {
        let plan = &self.plan;
        let mut add = |h: String| {
            if !d.remove_headers.contains(&h) {
                d.remove_headers.push(h);
            }
        };
        if let Some(dev) = device {
            if let Some(TokenSource::Header(h)) = plan.auth.token_to_strip(dev) {
                add(h);
            }
        }
        if ctx.posture_prefix.is_none() {
            let prefix = plan.device_posture.header_prefix.as_bytes();
            // Token headers are not posture headers (no allocation: this runs on every
            // forwarded request).
            let token_header = |lower: &str| {
                plan.auth
                    .locations()
                    .iter()
                    .chain(plan.auth.device_locations())
                    .any(|l| {
                        matches!(l, authenticate::rule::TokenLocation::Header { name, .. }
                            if name == lower)
                    })
            };
            for (name, _) in &ctx.req.headers {
                // `name.to_ascii_lowercase().starts_with(prefix)`, without the copy.
                let posture = name.len() >= prefix.len()
                    && name
                        .bytes()
                        .zip(prefix)
                        .all(|(a, &b)| a.to_ascii_lowercase() == b);
                if posture {
                    let lower = name.to_ascii_lowercase();
                    if !token_header(&lower) {
                        add(lower);
                    }
                }
            }
        }
        if let Some(h) = &plan.network.country_header {
            if ctx.country.is_none() && ctx.req.header_values(h).next().is_some() {
                add(h.clone());
            }
        }
    }

    /// On forward: strip every client-sent copy of a header Vigil sets, strip the token unless
    /// it is forwarded, then set identity headers from the verified claims.
    fn forwarding_headers(&self, d: &mut Decision, id: Option<&Identity>, req: &CheckRequest) {
        let auth = &self.plan.auth;
        d.remove_headers = auth.managed_headers();
        if let Some(id) = id {
            if let Some(TokenSource::Header(h)) = auth.token_to_strip(id) {
                if !d.remove_headers.contains(&h) {
                    d.remove_headers.push(h);
                }
            }
            // Only `outputPayloadToHeader` needs the token text again.
            let payload = auth
                .rules()
                .get(id.rule)
                .is_some_and(|r| r.output_payload_to_header.is_some());
            let token = if payload {
                auth.find_token(req)
                    .ok()
                    .flatten()
                    .map(|f| f.token.into_owned())
                    .unwrap_or_default()
            } else {
                String::new()
            };
            d.upstream_headers = auth.upstream_headers(id, &token);
        }
    }
}

/// A request's caller, authenticated by [`Engine::authenticate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    user: AuthOutcome,
    device: AuthOutcome,
}

impl Caller {
    /// The user token's outcome.
    pub fn user(&self) -> &AuthOutcome {
        &self.user
    }

    /// The device token's outcome (`NoToken` when the policy has no device rules).
    pub fn device(&self) -> &AuthOutcome {
        &self.device
    }
}

/// Where [`Engine::run`] gets the caller from.
enum Auth<'c, 's> {
    /// Find and verify the tokens (with a cache, and a signature checker).
    Verify(Option<&'c mut TokenCache>, &'s mut dyn SignatureCheck),
    /// Authenticated already.
    Given(&'c Caller),
}

fn auth_view<'a>(plan: &'a Plan, id: &'a Identity) -> decide::AuthView<'a> {
    decide::AuthView {
        principal: &id.principal,
        audiences: &id.audiences,
        presenter: id.presenter.as_deref(),
        claims: &id.claims,
        space_delimited: plan
            .auth
            .rules()
            .get(id.rule)
            .map_or(&[][..], |r| r.space_delimited_claims.as_slice()),
    }
}

/// The decision for a refused token: 401 `invalid_token` (RFC 6750), or 503 when the issuer's
/// keys are not available (the client is not at fault, and must not be told to re-authenticate).
fn token_failure(plan: &Plan, e: &TokenError) -> Decision {
    let mut d = token_failure_decision(plan, e);
    d.key_refetch = match e.kind() {
        TokenErrorKind::NoKeys { issuer } | TokenErrorKind::UnknownKid { issuer, .. } => {
            Some(issuer.clone())
        }
        _ => None,
    };
    d
}

fn token_failure_decision(plan: &Plan, e: &TokenError) -> Decision {
    if let TokenErrorKind::NoKeys { .. } = e.kind() {
        let mut d = Decision::new(
            Outcome::Deny,
            503,
            "keys_unavailable",
            format!("the token cannot be checked now: {}", e.description()),
        );
        d.response_headers.push(("retry-after".into(), "1".into()));
        return d;
    }
    let mut d = Decision::new(
        Outcome::Unauthenticated,
        401,
        "invalid_token",
        format!("invalid token: {} (`{}`)", e.description(), e.code()),
    );
    d.response_headers.push((
        "www-authenticate".into(),
        enforce::bearer_error(&plan.realm, "invalid_token", &e.description()),
    ));
    d
}

#[cfg(test)]
#[path = "lib_test.rs"]
mod zt_tests;
