//! # Vigil filter
//!
//! The proxy-wasm adapter: Vigil's policy core as an Envoy / Istio HTTP filter. It only moves
//! bytes between the proxy and the core — every decision is made by `policy_core`:
//!
//! * `on_configure`: the plugin configuration *is* the policy document (JSON). An invalid
//!   policy is refused with the precise error in Envoy's log, so `envoy --mode validate` fails
//!   and a config update never replaces a good policy with a broken one.
//! * `on_http_request_headers`: the request (headers, pseudo-headers, peer address, mTLS
//!   principal, SNI, destination) becomes a check request; the decision is either a local
//!   response (status, `WWW-Authenticate`/`Retry-After`, a small JSON body) or the request
//!   continues with spoofed identity headers removed and verified ones set.
//!
//! It never panics: every host-call failure becomes a fail-closed decision.

pub mod abi;
pub mod request;

use abi::{Buffer, Level};
use policy_core::authenticate::TokenCache;
use policy_core::{Decision, Engine, Env, Outcome};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use std::cell::RefCell;
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
        }
    }
    fn bump(id: Option<u32>) {
        if let Some(id) = id {
            abi::increment(id, 1);
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
}

/// Per-VM state shared by every HTTP context.
#[derive(Debug)]
struct Shared {
    engine: Engine,
    counters: Counters,
    /// Verified tokens of this VM (one per worker thread): the common case — the same token on
    /// many requests — costs a hash and a lookup instead of a signature check.
    token_cache: RefCell<TokenCache>,
}

/// Verified tokens kept per VM.
const TOKEN_CACHE_CAPACITY: usize = 4096;

impl Shared {
    fn decide(&self, req: &policy_core::CheckRequest, now: i64) -> Decision {
        let env = Env::at(now);
        // Never re-entered (one request at a time per VM), but never panic if it were.
        match self.token_cache.try_borrow_mut() {
            Ok(mut cache) => self.engine.decide_cached(req, &env, &mut cache),
            Err(_) => self.engine.decide(req, &env),
        }
    }
}

/// The root context: owns the compiled policy.
#[derive(Debug, Default)]
struct Root {
    shared: Option<Rc<Shared>>,
}

/// Largest plugin configuration accepted (the core caps the document too).
const MAX_CONFIG: usize = 16 << 20;

impl Context for Root {}

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
                self.shared = Some(Rc::new(Shared {
                    engine,
                    counters: Counters::define(),
                    token_cache: RefCell::new(TokenCache::new(TOKEN_CACHE_CAPACITY)),
                }));
                abi::log(
                    Level::Info,
                    &format!("vigil: policy loaded ({policies} authorization policies)"),
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

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Http {
            shared: self.shared.clone(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// One HTTP request.
#[derive(Debug)]
struct Http {
    shared: Option<Rc<Shared>>,
}

impl Context for Http {}

impl Http {
    fn deny(&self, d: &Decision) -> Action {
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
        Action::Pause
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
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(shared) = self.shared.clone() else {
            let d = Decision::new(
                Outcome::Deny,
                503,
                "not_configured",
                "the policy is not loaded",
            );
            return self.deny(&d);
        };
        let decision = match (request::read(), abi::now_seconds()) {
            (Ok(req), Ok(now)) => shared.decide(&req, now),
            (Err(e), _) | (_, Err(e)) => {
                Counters::bump(shared.counters.errors);
                abi::log(
                    Level::Error,
                    &format!("vigil: host call failed (status {}); denying", e.0),
                );
                Decision::new(
                    Outcome::Deny,
                    503,
                    "host_error",
                    "the request could not be read",
                )
            }
        };
        shared.counters.record(&decision);
        abi::log(
            Level::Info,
            &format!("vigil decision {}", decision.to_json()),
        );
        if decision.forwards() {
            match self.forward(&decision) {
                Ok(()) => Action::Continue,
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
                    ))
                }
            }
        } else {
            self.deny(&decision)
        }
    }
}
