//! The module's logic in plain Rust, JSON text in and policy-core values out, so that it is
//! tested natively (`cargo test -p vigil-js`); `lib.rs` only moves values between JavaScript
//! and these functions.

use policy_core::enforce::Outcome;
use policy_core::error::{ErrorCode, PolicyError};
use policy_core::json::{self, Limits, Map, Value};
use policy_core::lint::{Level, Lint};
use policy_core::policy::read::Obj;
use policy_core::testcase::CaseState;
use policy_core::{CheckRequest, Decision, Engine, RateUpdate, Step};

/// `{code, path, message}`: every error the module returns, as data.
pub fn error_value(e: &PolicyError) -> Value {
    let mut m = Map::new();
    m.insert("code", Value::from(e.code()));
    m.insert("path", Value::from(e.path.as_str()));
    m.insert("message", Value::from(e.message.as_str()));
    Value::Object(m)
}

fn parse(text: &str, limits: Limits) -> Result<Value, PolicyError> {
    json::parse(text, limits).map_err(|e| PolicyError::new(ErrorCode::Syntax, "$", e.to_string()))
}

/// Compiles a policy document (JSON text).
pub fn compile(text: &str) -> Result<Engine, PolicyError> {
    Engine::from_value(&parse(text, Limits::POLICY)?)
}

/// Reads a check request (design §3).
pub fn request(text: &str) -> Result<CheckRequest, PolicyError> {
    CheckRequest::from_value(&parse(text, Limits::REQUEST)?)
}

/// What `decide` and `explain` take besides the request.
#[derive(Debug, Default)]
pub struct Options {
    /// Unix seconds to decide at (else the request's `time`, else the clock).
    pub now: Option<i64>,
    /// Adapter state, in the shape of a test case's `state`.
    pub state: CaseState,
}

/// Reads `{"now": 1700000000, "state": {"behavior", "revocation", "rate"}}`; errors name
/// `options.…`.
pub fn options(text: &str) -> Result<Options, PolicyError> {
    let v = parse(text, Limits::POLICY)?;
    if v == Value::Null {
        return Ok(Options::default());
    }
    let o = Obj::new(&v, "options")?;
    o.deny_unknown(&["now", "state"])?;
    let now = match o.raw("now") {
        None | Some(Value::Null) => None,
        Some(n) => match n.as_number().map(|n| n.as_f64()) {
            // Seconds, not milliseconds: 1e11 s is the year 5138, 1e11 ms is 1973.
            Some(s) if (0.0..1e11).contains(&s) => Some(s as i64),
            _ => {
                return Err(PolicyError::new(
                    ErrorCode::Invalid,
                    o.at("now"),
                    format!(
                        "expected unix seconds (not milliseconds), found {}",
                        policy_core::policy::read::quote(n)
                    ),
                ))
            }
        },
    };
    let state = match o.raw("state") {
        None | Some(Value::Null) => CaseState::default(),
        Some(s) => CaseState::from_value(s, &o.at("state"))?,
    };
    Ok(Options { now, state })
}

/// The time to decide at: `options.now`, else the request's `time`, else `clock` (seconds).
pub fn decision_time(opts: &Options, req: &CheckRequest, clock: i64) -> i64 {
    opts.now.or(req.time).unwrap_or(clock)
}

/// The decision object: the JSON of `vigil eval` (design §3) plus `rateUpdates`, the counter
/// levels to store (the same shape as `state.rate`).
pub fn decision_value(d: &Decision) -> Value {
    let mut v = d.to_value();
    if let Value::Object(m) = &mut v {
        m.insert("rateUpdates", rate_updates(&d.rate_updates));
    }
    v
}

fn rate_updates(updates: &[RateUpdate]) -> Value {
    Value::Array(
        updates
            .iter()
            .map(|u| {
                let mut m = Map::new();
                m.insert("limit", Value::from(u.key.limit.as_str()));
                m.insert("key", Value::from(u.key.key.as_str()));
                let tokens = u.bucket.milli as f64 / 1000.0;
                m.insert(
                    "tokens",
                    json::Number::from_f64(tokens).map_or(Value::Null, Value::Number),
                );
                m.insert("updated", Value::from(u.bucket.updated));
                Value::Object(m)
            })
            .collect(),
    )
}

/// A request or options the module cannot read: a denial (fail closed) that also carries the
/// `error`. `status` is 400 for a request, 500 for the caller's options.
pub fn input_rejected(status: u16, code: &'static str, what: &str, e: &PolicyError) -> Value {
    let d = Decision::new(
        Outcome::Deny,
        status,
        code,
        format!("the {what} is not acceptable: {e}"),
    );
    let mut v = decision_value(&d);
    if let Value::Object(m) = &mut v {
        m.insert("error", error_value(e));
    }
    v
}

/// `{decision, trace}`.
pub fn explain_value(d: &Decision, steps: &[Step]) -> Value {
    let mut m = Map::new();
    m.insert("decision", decision_value(d));
    m.insert(
        "trace",
        Value::Array(steps.iter().map(Step::to_value).collect()),
    );
    Value::Object(m)
}

/// `[{level, code, path, message}]`, as `vigil check --json` reports them.
pub fn lints_value(lints: &[Lint]) -> Value {
    Value::Array(
        lints
            .iter()
            .map(|l| {
                let mut m = Map::new();
                let level = match l.level {
                    Level::Info => "info",
                    Level::Warning => "warning",
                };
                m.insert("level", Value::from(level));
                m.insert("code", Value::from(l.code));
                m.insert("path", Value::from(l.path.as_str()));
                m.insert("message", Value::from(l.message.as_str()));
                Value::Object(m)
            })
            .collect(),
    )
}

#[cfg(test)]
#[path = "api_test.rs"]
mod tests;

/// `vigil diff` on two documents (JSON text): the regions of requests they decide
/// differently, each with a witness (see docs/policy.md, "Reviewing a change").
pub fn diff(old: &str, new: &str, now: i64) -> Result<Value, PolicyError> {
    let at = |e: PolicyError, which: &str| {
        let rest = e.path.trim_start_matches('$').trim_start_matches('.');
        let path = if rest.is_empty() {
            which.to_string()
        } else {
            format!("{which}.{rest}")
        };
        PolicyError::new(e.code, path, e.message)
    };
    let old = compile(old).map_err(|e| at(e, "old"))?;
    let new = compile(new).map_err(|e| at(e, "new"))?;
    Ok(policy_core::analysis::diff(&old, &new, now).to_value())
}

/// Coverage (as `vigil test --coverage`) of `cases` (JSON text: `[{request, options?}]`,
/// options as for `decide`), with the key sets in `keys`.
pub fn coverage(
    engine: &Engine,
    keys: &policy_core::authenticate::KeyStore,
    cases: &str,
    clock: i64,
) -> Result<Value, PolicyError> {
    let v = parse(cases, Limits::POLICY)?;
    let items = v.as_array().ok_or_else(|| {
        PolicyError::new(
            ErrorCode::Type,
            "cases",
            "expected an array of {request, options}",
        )
    })?;
    let mut cov = policy_core::analysis::coverage::Coverage::new(engine.plan());
    for (i, c) in items.iter().enumerate() {
        let o = Obj::new(c, &format!("cases[{i}]"))?;
        o.deny_unknown(&["request", "options"])?;
        let req = CheckRequest::from_value(o.raw("request").unwrap_or(&Value::Null))
            .map_err(|e| PolicyError::new(e.code, format!("cases[{i}].request"), e.message))?;
        let opts = match o.raw("options") {
            None | Some(Value::Null) => Options::default(),
            Some(x) => options(&x.to_json())?,
        };
        let mut env = opts.state.env(decision_time(&opts, &req, clock));
        env.keys = Some(keys);
        let (d, steps) = engine.explain(&req, &env);
        cov.record(&d, &steps);
    }
    let mut m = Map::new();
    m.insert("summary", Value::from(cov.summary()));
    m.insert("items", cov.to_value());
    Ok(Value::Object(m))
}

/// Verifies a policy bundle (docs/bundles.md) against `keys` (a JWK Set, JSON text), newer
/// than `last`, and compiles its policy. Errors carry the bundle code as `path`
/// `bundle.<code>` (`bundle.bad_signature`, `bundle.stale_revision`, `bundle.bad_document`, …).
pub fn verify_policy_bundle(
    text: &str,
    keys: &policy_core::bundle::BundleKeys,
    last: policy_core::bundle::Last<'_>,
) -> Result<Option<(policy_core::bundle::Bundle, Engine)>, PolicyError> {
    use policy_core::bundle::{verify, Kind, Verified};
    let refused = |code: &str, message: String| {
        PolicyError::new(ErrorCode::Invalid, format!("bundle.{code}"), message)
    };
    match verify(text, keys, Kind::Policy, last) {
        Err(e) => Err(refused(e.code, e.message)),
        Ok(Verified::Unchanged) => Ok(None),
        Ok(Verified::New(b)) => {
            let engine = Engine::from_value(&b.document).map_err(|e| {
                refused(
                    "bad_document",
                    format!("the policy does not load: {}: {}", e.path, e.message),
                )
            })?;
            Ok(Some((b, engine)))
        }
    }
}

/// Reads a bundle key set (JSON text).
pub fn bundle_keys(text: &str) -> Result<policy_core::bundle::BundleKeys, PolicyError> {
    let v = parse(text, Limits::POLICY)?;
    policy_core::bundle::BundleKeys::from_jwks(&v)
        .map_err(|e| PolicyError::new(ErrorCode::Invalid, "keys", e.message))
}
