//! # Vigil filter
//!
//! The proxy-wasm adapter: Vigil's policy core as an Envoy / Istio HTTP filter. It only moves
//! bytes between the proxy and the core — every decision is made by `policy_core`:
//!
//! * `on_configure`: the plugin configuration *is* the policy document (JSON). An invalid
//!   policy is refused with the precise error in Envoy's log, so `envoy --mode validate` fails
//!   and a config update never replaces a good policy with a broken one.
//! * `on_tick` (root context): installs key sets other worker VMs published in shared data and
//!   fetches `jwksUri` (or OIDC discovery) when a set is missing or its TTL has passed — one
//!   VM at a time, through a lease in shared data.
//! * `on_http_request_headers`: the request (headers, pseudo-headers, peer address, mTLS
//!   principal, SNI, destination) becomes a check request; the decision is either a local
//!   response (status, `WWW-Authenticate`/`Retry-After`, a small JSON body) or the request
//!   continues with spoofed identity headers removed and verified ones set. A token whose
//!   `kid` is unknown (or whose issuer has no keys yet) pauses the request for one JWKS
//!   refetch per cooldown, then decides again.
//!
//! It never panics: every host-call failure becomes a fail-closed decision.

pub mod abi;
pub mod jwks;
pub mod request;
pub mod state;

use abi::{Buffer, Level};
use jwks::{Fetch, Keys, Progress};
use policy_core::authenticate::TokenCache;
use policy_core::{CheckRequest, Decision, Engine, Env, Outcome};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use state::{Revocation, SharedBehavior, SharedRate};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

/// Counters shown in Envoy's `/stats` as `wasmcustom.vigil_*`.
#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    allowed: Option<u32>,
    denied: Option<u32>,
    unauthenticated: Option<u32>,
    step_up: Option<u32>,
    rate_limited: Option<u32>,
    dry_run_not_enforced: Option<u32>,
    errors: Option<u32>,
    jwks_fetch_ok: Option<u32>,
    jwks_fetch_failed: Option<u32>,
    token_cache_hit: Option<u32>,
    token_cache_miss: Option<u32>,
    revocation_poll_ok: Option<u32>,
    revocation_poll_failed: Option<u32>,
}

impl Counters {
    fn define() -> Counters {
        let c = |n: &str| abi::define_counter(n).ok();
        Counters {
            allowed: c("vigil_allowed"),
            denied: c("vigil_denied"),
            unauthenticated: c("vigil_unauthenticated"),
            step_up: c("vigil_step_up"),
            rate_limited: c("vigil_rate_limited"),
            dry_run_not_enforced: c("vigil_dry_run_not_enforced"),
            errors: c("vigil_errors"),
            jwks_fetch_ok: c("vigil_jwks_fetch_ok"),
            jwks_fetch_failed: c("vigil_jwks_fetch_failed"),
            token_cache_hit: c("vigil_token_cache_hit"),
            token_cache_miss: c("vigil_token_cache_miss"),
            revocation_poll_ok: c("vigil_revocation_poll_ok"),
            revocation_poll_failed: c("vigil_revocation_poll_failed"),
        }
    }
    fn bump(id: Option<u32>) {
        if let Some(id) = id {
            abi::increment(id, 1);
        }
    }
    fn add(id: Option<u32>, n: u64) {
        if let (Some(id), true) = (id, n > 0) {
            abi::increment(id, i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
    fn record(&self, d: &Decision) {
        Self::bump(match d.outcome {
            Outcome::Allow => self.allowed,
            Outcome::Deny => self.denied,
            Outcome::Unauthenticated => self.unauthenticated,
            Outcome::StepUp => self.step_up,
            Outcome::RateLimited => self.rate_limited,
        });
        if d.dry_run && d.outcome != Outcome::Allow {
            Self::bump(self.dry_run_not_enforced);
        }
    }
    fn fetch(&self, p: &Progress) {
        match p {
            Progress::Installed => Self::bump(self.jwks_fetch_ok),
            Progress::Failed(_) => Self::bump(self.jwks_fetch_failed),
            Progress::Continued(..) => {}
        }
    }
}

/// Per-VM state shared by every HTTP context.
#[derive(Debug)]
struct Shared {
    engine: Engine,
    /// The request headers the policy can read (the rest are never copied).
    headers: policy_core::policy::HeaderNeeds,
    /// The connection properties the policy can read.
    properties: policy_core::policy::PropertyNeeds,
    counters: Counters,
    keys: Keys,
    /// Revocations published in shared data (polled from the policy's feed, if any).
    revocation: Revocation,
    /// Verified tokens of this VM (one per worker thread): the common case — the same token on
    /// many requests — costs a hash and a lookup instead of a signature check.
    token_cache: RefCell<TokenCache>,
    /// Decisions made by this VM (for `decisionLog` sampling).
    decisions: std::cell::Cell<u64>,
}

/// Verified tokens kept per VM.
const TOKEN_CACHE_CAPACITY: usize = 4096;
/// Root tick: how often shared key sets are looked at and fetches scheduled.
const TICK_MS: u32 = 500;

impl Shared {
    fn decide(&self, req: &CheckRequest, now: i64) -> Decision {
        let keys = self.keys.store.borrow();
        let rate = SharedRate::default();
        let behavior = SharedBehavior::default();
        self.revocation.sync();
        let revocation = self.revocation.snapshot.borrow();
        {
            let r = &self.revocation;
            if let Some(why) = r.stale(u64::try_from(now).unwrap_or(0).saturating_mul(1000)) {
                let mut d = Decision::new(
                    Outcome::Deny,
                    503,
                    "revocation_stale",
                    format!("revocations cannot be checked: {why}"),
                );
                d.response_headers.push(("retry-after".into(), "1".into()));
                return d;
            }
        }
        let env = Env {
            now,
            keys: Some(&keys),
            revocation: Some(&revocation),
            rate: Some(&rate),
            behavior: Some(&behavior),
            ..Env::default()
        };
        // Never re-entered (one callback at a time per VM), but never panic if it were.
        let d = match self.token_cache.try_borrow_mut() {
            Ok(mut cache) => {
                let (h, m) = (cache.hits(), cache.misses());
                let d = self.engine.decide_cached(req, &env, &mut cache);
                Counters::add(
                    self.counters.token_cache_hit,
                    cache.hits().saturating_sub(h),
                );
                Counters::add(
                    self.counters.token_cache_miss,
                    cache.misses().saturating_sub(m),
                );
                d
            }
            Err(_) => self.engine.decide(req, &env),
        };
        rate.store(&d.rate_updates);
        behavior.store(d.behavior.as_ref());
        d
    }
}

/// The root context: owns the compiled policy and the scheduled key fetches.
#[derive(Debug, Default)]
struct Root {
    shared: Option<Rc<Shared>>,
    fetches: BTreeMap<u32, Fetch>,
}

/// Largest plugin configuration accepted (the core caps the document too).
const MAX_CONFIG: usize = 16 << 20;

impl Root {
    fn on_fetch_progress(&mut self, shared: &Shared, p: Progress) {
        shared.counters.fetch(&p);
        if let Progress::Continued(token, next) = p {
            self.fetches.insert(token, next);
        }
    }
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        token: u32,
        _headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        {
            let r = &shared.revocation;
            if r.in_flight.get() == Some(token) {
                let now = abi::now_millis().unwrap_or(0);
                if let Err(why) = r.on_response(body_size, now) {
                    Counters::bump(shared.counters.revocation_poll_failed);
                    abi::log(
                        Level::Warn,
                        &format!("vigil: revocation feed: {why}; keeping the last snapshot"),
                    );
                } else {
                    Counters::bump(shared.counters.revocation_poll_ok);
                }
                return;
            }
        }
        let Some(fetch) = self.fetches.remove(&token) else {
            return;
        };
        let now = abi::now_millis().unwrap_or(0);
        let p = shared.keys.on_response(&fetch, body_size, now);
        self.on_fetch_progress(&shared, p);
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, size: usize) -> bool {
        let bytes = match abi::buffer(Buffer::PluginConfiguration, size.min(MAX_CONFIG)) {
            Ok(b) => b,
            Err(s) => {
                abi::log(
                    Level::Error,
                    &format!(
                        "vigil: cannot read the plugin configuration (status {})",
                        s.0
                    ),
                );
                return false;
            }
        };
        let text = match std::str::from_utf8(&bytes) {
            Ok(t) => t,
            Err(e) => {
                abi::log(Level::Error, &format!("vigil: policy is not UTF-8: {e}"));
                return false;
            }
        };
        match Engine::from_json(text) {
            Ok(engine) => {
                let policies = engine.plan().policies().count();
                let keys = Keys::new(engine.inline_keys().clone(), engine.plan().auth.rules());
                let remotes = keys.remotes.borrow().len();
                let revocation = Revocation::new(engine.plan().revocation_feed.as_ref());
                let tick = match revocation.poll_ms() {
                    Some(ms) => TICK_MS
                        .min(u32::try_from(ms / 2).unwrap_or(TICK_MS))
                        .max(50),
                    None => TICK_MS,
                };
                let needs_tick = remotes > 0 || revocation.poll_ms().is_some();
                self.shared = Some(Rc::new(Shared {
                    headers: engine.plan().header_needs(),
                    properties: engine.plan().property_needs(),
                    engine,
                    counters: Counters::define(),
                    keys,
                    revocation,
                    token_cache: RefCell::new(TokenCache::new(TOKEN_CACHE_CAPACITY)),
                    decisions: std::cell::Cell::new(0),
                }));
                if needs_tick {
                    if let Err(s) = abi::set_tick_period_ms(tick) {
                        abi::log(
                            Level::Error,
                            &format!("vigil: cannot set the tick period (status {})", s.0),
                        );
                    }
                    self.on_tick();
                }
                abi::log(
                    Level::Info,
                    &format!("vigil: policy loaded ({policies} authorization policies, {remotes} remote key sets)"),
                );
                true
            }
            Err(e) => {
                abi::log(
                    Level::Error,
                    &format!("vigil: invalid policy: {e} [{}]", e.code()),
                );
                false
            }
        }
    }

    fn on_tick(&mut self) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        shared.keys.sync();
        let Ok(now) = abi::now_millis() else {
            return;
        };
        shared.revocation.sync();
        shared.revocation.maybe_poll(now);
        let n = shared.keys.remotes.borrow().len();
        for i in 0..n {
            let in_flight = self.fetches.values().any(|f| f.remote == i);
            if in_flight || !shared.keys.due(i, now) || !shared.keys.take_lease(i, now) {
                continue;
            }
            match shared.keys.start(i) {
                Ok((token, fetch)) => {
                    self.fetches.insert(token, fetch);
                }
                Err(e) => {
                    Counters::bump(shared.counters.jwks_fetch_failed);
                    abi::log(Level::Warn, &format!("vigil: {e}"));
                }
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Http {
            shared: self.shared.clone(),
            waiting: None,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// A request paused for a key refetch.
#[derive(Debug)]
struct Waiting {
    token: u32,
    fetch: Fetch,
    req: CheckRequest,
}

/// One HTTP request.
#[derive(Debug)]
struct Http {
    shared: Option<Rc<Shared>>,
    waiting: Option<Waiting>,
}

impl Http {
    fn deny(&self, d: &Decision) {
        let mut headers: Vec<(&str, &str)> = d
            .response_headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        headers.push(("content-type", "application/json"));
        headers.push(("cache-control", "no-store"));
        let body = d.body();
        if let Err(s) = abi::send_response(u32::from(d.status), &headers, body.as_bytes()) {
            abi::log(
                Level::Error,
                &format!("vigil: cannot send the local response (status {})", s.0),
            );
        }
    }

    fn forward(&self, d: &Decision) -> Result<(), abi::Status> {
        for h in &d.remove_headers {
            abi::remove_header(h)?;
        }
        for (k, v) in &d.upstream_headers {
            abi::set_header(k, v)?;
        }
        Ok(())
    }

    /// Records and carries out a decision. Returns true when the request goes on.
    fn enforce(&self, shared: &Shared, decision: &Decision) -> bool {
        shared.counters.record(decision);
        let n = shared.decisions.get();
        shared.decisions.set(n.wrapping_add(1));
        let allowed = decision.outcome == Outcome::Allow;
        // The record is only rendered when the host keeps info lines.
        if shared.engine.plan().decision_log.logs(n, allowed) && abi::logs_at(Level::Info) {
            abi::log(
                Level::Info,
                &format!("vigil decision {}", decision.to_json()),
            );
        }
        if decision.forwards() {
            match self.forward(decision) {
                Ok(()) => true,
                Err(e) => {
                    Counters::bump(shared.counters.errors);
                    abi::log(
                        Level::Error,
                        &format!("vigil: cannot rewrite headers (status {}); denying", e.0),
                    );
                    self.deny(&Decision::new(
                        Outcome::Deny,
                        503,
                        "host_error",
                        "the request could not be forwarded",
                    ));
                    false
                }
            }
        } else {
            self.deny(decision);
            false
        }
    }

    /// When the token's issuer lacks keys or the token's `kid`: starts one refetch (per
    /// cooldown, across VMs) and keeps the request waiting for it.
    fn try_refetch(&mut self, shared: &Shared, decision: &Decision, req: &CheckRequest) -> bool {
        let Some(issuer) = &decision.key_refetch else {
            return false;
        };
        let Some(i) = shared.keys.remote_of(issuer) else {
            return false;
        };
        let Ok(now) = abi::now_millis() else {
            return false;
        };
        if !shared.keys.take_refetch(i, now) {
            return false;
        }
        match shared.keys.start(i) {
            Ok((token, fetch)) => {
                self.waiting = Some(Waiting {
                    token,
                    fetch,
                    req: req.clone(),
                });
                true
            }
            Err(e) => {
                Counters::bump(shared.counters.jwks_fetch_failed);
                abi::log(Level::Warn, &format!("vigil: {e}"));
                false
            }
        }
    }
}

impl Context for Http {
    fn on_http_call_response(
        &mut self,
        token: u32,
        _headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        let Some(w) = self.waiting.take() else {
            return;
        };
        if w.token != token {
            self.waiting = Some(w);
            return;
        }
        let now_ms = abi::now_millis().unwrap_or(0);
        let progress = shared.keys.on_response(&w.fetch, body_size, now_ms);
        shared.counters.fetch(&progress);
        if let Progress::Continued(next, fetch) = progress {
            self.waiting = Some(Waiting {
                token: next,
                fetch,
                req: w.req,
            });
            return;
        }
        let decision = shared.decide(&w.req, (now_ms / 1000) as i64);
        if self.enforce(&shared, &decision) {
            if let Err(s) = abi::resume_request() {
                abi::log(
                    Level::Error,
                    &format!("vigil: cannot resume the request (status {})", s.0),
                );
            }
        }
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(shared) = self.shared.clone() else {
            self.deny(&Decision::new(
                Outcome::Deny,
                503,
                "not_configured",
                "the policy is not loaded",
            ));
            return Action::Pause;
        };
        let (req, now) = match (
            request::read(&shared.headers, shared.properties),
            abi::now_seconds(),
        ) {
            (Ok(req), Ok(now)) => (req, now),
            (Err(e), _) | (_, Err(e)) => {
                Counters::bump(shared.counters.errors);
                abi::log(
                    Level::Error,
                    &format!("vigil: host call failed (status {}); denying", e.0),
                );
                let d = Decision::new(
                    Outcome::Deny,
                    503,
                    "host_error",
                    "the request could not be read",
                );
                self.enforce(&shared, &d);
                return Action::Pause;
            }
        };
        let mut decision = shared.decide(&req, now);
        // Keys another worker fetched since our last tick: install them and decide again.
        if decision.key_refetch.is_some() && shared.keys.sync() > 0 {
            decision = shared.decide(&req, now);
        }
        if !decision.forwards() && self.try_refetch(&shared, &decision, &req) {
            return Action::Pause;
        }
        if self.enforce(&shared, &decision) {
            Action::Continue
        } else {
            Action::Pause
        }
    }
}
