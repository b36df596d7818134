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

pub mod authenticate;
pub mod decide;
pub mod enforce;
pub mod error;
pub mod extract;
pub mod json;
pub mod lint;
pub mod policy;
pub mod testcase;

pub use decide::Step;
pub use enforce::{Decision, Outcome};
pub use error::{ErrorCode, PolicyError};
pub use extract::request::{CheckRequest, Peer};
pub use policy::Plan;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use authenticate::{AuthOutcome, Identity, KeyStore, TokenCache, TokenError, TokenErrorKind};
use extract::token::TokenSource;

/// What the caller supplies besides the request: the clock and the key sets.
#[derive(Debug, Clone, Copy, Default)]
pub struct Env<'a> {
    /// Unix time in seconds.
    pub now: i64,
    /// Key sets by issuer, as the adapter fetched them; `None` uses the policy's inline
    /// `jwks` only.
    pub keys: Option<&'a KeyStore>,
}

impl Env<'_> {
    /// An environment at `now` with the policy's inline keys.
    pub fn at(now: i64) -> Env<'static> {
        Env { now, keys: None }
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
        self.run(req, env, None, None)
    }

    /// Decides one request, taking verified tokens from (and adding them to) `cache`.
    pub fn decide_cached(
        &self,
        req: &CheckRequest,
        env: &Env<'_>,
        cache: &mut TokenCache,
    ) -> Decision {
        self.run(req, env, Some(cache), None)
    }

    /// Decides one request and explains every step.
    pub fn explain(&self, req: &CheckRequest, env: &Env<'_>) -> (Decision, Vec<Step>) {
        let mut steps = Vec::new();
        let d = self.run(req, env, None, Some(&mut steps));
        (d, steps)
    }

    /// Lints: policy patterns that are valid but probably wrong.
    pub fn lints(&self) -> Vec<lint::Lint> {
        lint::lint(&self.plan)
    }

    fn run(
        &self,
        req: &CheckRequest,
        env: &Env<'_>,
        cache: Option<&mut TokenCache>,
        mut trace: Option<&mut Vec<Step>>,
    ) -> Decision {
        let plan = &self.plan;
        let dry_run = plan.mode == policy::Mode::DryRun;
        let mut ctx = match decide::Ctx::new(plan, req) {
            Ok(c) => c,
            Err(rejection) => {
                let mut d = rejection.decision();
                d.dry_run = dry_run;
                step(&mut trace, "request", false, d.reason.clone());
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
            step(&mut trace, "request", true, detail);
        }
        // Authenticate: a token that is present but not valid is refused whatever the
        // authorization policies say (Istio's RequestAuthentication rule).
        let keys = env.keys.unwrap_or(&self.inline_keys);
        let outcome = plan.auth.authenticate(req, env.now, keys, cache);
        let identity = match outcome {
            AuthOutcome::NoToken => {
                if !plan.auth.rules().is_empty() {
                    step(
                        &mut trace,
                        "authenticate",
                        false,
                        "no token in the request".into(),
                    );
                }
                None
            }
            AuthOutcome::Failed(e) => {
                let mut d = token_failure(plan, &e);
                d.dry_run = dry_run;
                step(&mut trace, "authenticate", false, d.reason.clone());
                if dry_run {
                    self.forwarding_headers(&mut d, None, req);
                }
                return d;
            }
            AuthOutcome::Verified(id) => {
                step(
                    &mut trace,
                    "authenticate",
                    true,
                    format!("verified token of `{}`", id.principal),
                );
                Some(id)
            }
        };
        ctx.token_present = identity.is_some();
        ctx.auth = identity.as_ref().map(|id| decide::AuthView {
            principal: &id.principal,
            audiences: &id.audiences,
            presenter: id.presenter.as_deref(),
            claims: &id.claims,
        });
        let mut d = decide::authorize(plan, &ctx, trace);
        if d.forwards() {
            self.forwarding_headers(&mut d, identity.as_ref(), req);
        }
        d
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
            let token = auth
                .find_token(req)
                .ok()
                .flatten()
                .map(|f| f.token)
                .unwrap_or_default();
            d.upstream_headers = auth.upstream_headers(id, &token);
        }
    }
}

fn step(trace: &mut Option<&mut Vec<Step>>, stage: &'static str, matched: bool, detail: String) {
    if let Some(t) = trace.as_deref_mut() {
        t.push(Step {
            stage,
            policy: None,
            rule: None,
            matched,
            detail,
        });
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
