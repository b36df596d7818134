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

use alloc::vec::Vec;

/// What the caller supplies besides the request: the clock (and, as the core grows, key
/// sets and adapter state).
#[derive(Debug, Clone, Copy, Default)]
pub struct Env {
    /// Unix time in seconds.
    pub now: i64,
}

/// A compiled policy, ready to decide requests. Build once, decide many times.
#[derive(Debug, Clone)]
pub struct Engine {
    plan: Plan,
}

impl Engine {
    /// Parses and compiles a policy document (JSON text).
    pub fn from_json(text: &str) -> Result<Engine, PolicyError> {
        Ok(Engine {
            plan: Plan::from_json(text)?,
        })
    }

    /// Compiles an already parsed policy document.
    pub fn from_value(v: &json::Value) -> Result<Engine, PolicyError> {
        Ok(Engine {
            plan: Plan::from_value(v)?,
        })
    }

    /// The compiled plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Decides one request.
    pub fn decide(&self, req: &CheckRequest, env: &Env) -> Decision {
        self.run(req, env, None)
    }

    /// Decides one request and explains every step.
    pub fn explain(&self, req: &CheckRequest, env: &Env) -> (Decision, Vec<Step>) {
        let mut steps = Vec::new();
        let d = self.run(req, env, Some(&mut steps));
        (d, steps)
    }

    /// Lints: policy patterns that are valid but probably wrong.
    pub fn lints(&self) -> Vec<lint::Lint> {
        lint::lint(&self.plan)
    }

    fn run(&self, req: &CheckRequest, _env: &Env, mut trace: Option<&mut Vec<Step>>) -> Decision {
        let plan = &self.plan;
        let mut ctx = match decide::Ctx::new(plan, req) {
            Ok(c) => c,
            Err(rejection) => {
                let mut d = rejection.decision();
                d.dry_run = plan.mode == policy::Mode::DryRun;
                if let Some(t) = trace.as_deref_mut() {
                    t.push(Step {
                        stage: "request",
                        policy: None,
                        rule: None,
                        matched: false,
                        detail: d.reason.clone(),
                    });
                }
                return d;
            }
        };
        if let Some(t) = trace.as_deref_mut() {
            t.push(Step {
                stage: "request",
                policy: None,
                rule: None,
                matched: true,
                detail: alloc::format!(
                    "{} {}{} (raw path `{}`), peer {}, remote ip {}",
                    ctx.method,
                    ctx.host,
                    ctx.path,
                    req.path,
                    ctx.peer
                        .map_or("(none)".into(), |p| alloc::format!("`{p}`")),
                    ctx.remote_ip
                        .map_or("(none)".into(), |p| alloc::format!("`{p}`")),
                ),
            });
        }
        // Token validation arrives with the authenticator; until then a presented token
        // is never treated as authenticated.
        ctx.token_present = req.header_values("authorization").next().is_some();
        decide::authorize(plan, &ctx, trace)
    }
}
