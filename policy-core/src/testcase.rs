//! Policy test files: a policy plus cases (request, time, expected decision). The same format
//! is used by `vigil test`, the conformance corpus and every target's test runner, so one
//! file proves one behaviour everywhere.
//!
//! ```json
//! {"description": "...", "policy": "payment.policy.json", "time": 1700000000,
//!  "cases": [{"name": "frontend may pay",
//!             "request": {"method": "POST", "path": "/checkout/1", ...},
//!             "expect": {"decision": "allow", "status": 200, "policy": "payment",
//!                        "reason": "...", "code": "...", "reasonContains": "...",
//!                        "responseHeaders": {"www-authenticate": "Bearer realm=\"vigil\""},
//!                        "upstreamHeaders": {"x-user": "alice", "x-spoofed": null},
//!                        "removeHeaders": ["authorization"], "audit": ["log-admin"],
//!                        "dryRun": false}}]}
//! ```
//! `policy` is a path (relative to the test file; adapters resolve it) or an inline document.
//!
//! `state` (on the file, or on a case, which replaces the file's) is what an adapter would
//! pass in [`Env`]: `{"behavior": {"newCountry": true}, "revocation": {"jtis": [...]},
//! "rate": [{"limit", "key", "tokens", "updated"}], "networkLists": {"lists": {...}},
//! "riskLabels": {"labels": [...]}}` (the last two: the snapshots of the policy's feeds).
//! In `expect`, every field is optional and only the given ones are checked; a header
//! expected as `null` must be absent.

use crate::error::{ErrorCode, PolicyError};
use crate::extract::request::CheckRequest;
use crate::feeds::{NetworkLists, RiskLabels};
use crate::json::{Map, Value};
use crate::policy::read::{quote, Obj};
use crate::state::{RateSnapshot, RevocationSnapshot, Signals};
use crate::{Decision, Engine, Env};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// Where a test file's policy comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicySource {
    /// A path relative to the test file.
    Path(String),
    /// An inline policy document.
    Inline(Value),
}

/// One case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Its name.
    pub name: String,
    /// The request.
    pub request: CheckRequest,
    /// The expected decision fields.
    pub expect: Map,
    /// The time to decide at, if fixed by the case or the file.
    pub time: Option<i64>,
    /// The adapter state to decide with (the case's, else the file's).
    pub state: CaseState,
}

/// State a case is decided with: what an adapter passes in [`Env`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseState {
    /// `behavior`: signals.
    pub signals: Option<Signals>,
    /// `revocation`: a feed snapshot.
    pub revocation: Option<RevocationSnapshot>,
    /// `rate`: counter levels.
    pub rate: Option<RateSnapshot>,
    /// `networkLists`: the `network.feed` snapshot.
    pub network_lists: Option<NetworkLists>,
    /// `riskLabels`: the `riskLabels.feed` snapshot.
    pub risk_labels: Option<RiskLabels>,
}

impl CaseState {
    /// Reads `{"behavior", "revocation", "rate", "networkLists", "riskLabels"}` at `path`.
    pub fn from_value(v: &Value, path: &str) -> Result<CaseState, PolicyError> {
        let o = Obj::new(v, path)?;
        o.deny_unknown(&[
            "behavior",
            "revocation",
            "rate",
            "networkLists",
            "riskLabels",
        ])?;
        Ok(CaseState {
            signals: o.parse_opt("behavior", Signals::from_value)?,
            revocation: o.parse_opt("revocation", RevocationSnapshot::from_value)?,
            rate: o.parse_opt("rate", RateSnapshot::from_value)?,
            network_lists: o.parse_opt("networkLists", NetworkLists::from_value)?,
            risk_labels: o.parse_opt("riskLabels", RiskLabels::from_value)?,
        })
    }

    /// The environment at `now` with this state.
    pub fn env(&self, now: i64) -> Env<'_> {
        Env {
            now,
            keys: None,
            revocation: self.revocation.as_ref(),
            signals: self.signals.as_ref(),
            behavior: None,
            rate: self
                .rate
                .as_ref()
                .map(|r| r as &dyn crate::state::RateState),
            network_lists: self.network_lists.as_ref(),
            risk_labels: self.risk_labels.as_ref(),
        }
    }
}

/// A parsed test file.
#[derive(Debug, Clone, PartialEq)]
pub struct TestFile {
    /// Free text.
    pub description: Option<String>,
    /// The policy.
    pub policy: PolicySource,
    /// The cases.
    pub cases: Vec<Case>,
}

const EXPECT_FIELDS: &[&str] = &[
    "decision",
    "status",
    "code",
    "reason",
    "reasonContains",
    "policy",
    "rule",
    "principal",
    "responseHeaders",
    "upstreamHeaders",
    "removeHeaders",
    "audit",
    "dryRun",
    "resource",
    "trust",
];

impl TestFile {
    /// Reads a test file from a parsed JSON value.
    pub fn from_value(v: &Value) -> Result<TestFile, PolicyError> {
        let o = Obj::new(v, "$")?;
        o.deny_unknown(&["$schema", "description", "policy", "time", "state", "cases"])?;
        let file_state = o
            .raw("state")
            .map(|v| CaseState::from_value(v, &o.at("state")))
            .transpose()?;
        let policy = match o.raw("policy") {
            Some(Value::String(s)) => PolicySource::Path(s.clone()),
            Some(p @ Value::Object(_)) => PolicySource::Inline(p.clone()),
            Some(other) => {
                return Err(crate::policy::read::type_error(
                    &o.at("policy"),
                    "a path or a policy object",
                    other,
                ))
            }
            None => return Err(o.missing("policy")),
        };
        let file_time = read_time(&o)?;
        let mut cases = Vec::new();
        for (path, cv) in o.array("cases")? {
            let c = Obj::new(cv, &path)?;
            c.deny_unknown(&["name", "request", "time", "state", "expect"])?;
            let name = c.str("name")?.map_or_else(|| path.clone(), str::to_string);
            let request = match c.raw("request") {
                Some(r) => CheckRequest::from_value(r).map_err(|e| {
                    PolicyError::new(
                        e.code,
                        format!("{}.{}", c.at("request"), e.path).replace(".$", ""),
                        e.message,
                    )
                })?,
                None => return Err(c.missing("request")),
            };
            let exp = c.obj("expect")?.ok_or_else(|| c.missing("expect"))?;
            exp.deny_unknown(EXPECT_FIELDS)?;
            if let Some(d) = exp.str("decision")? {
                if crate::Outcome::parse(d).is_none() {
                    return Err(PolicyError::new(ErrorCode::Invalid, exp.at("decision"), format!(
                        "expected one of `allow`, `deny`, `unauthenticated`, `step_up`, `rate_limited`, found {}", quote(&Value::from(d)))));
                }
            }
            let expect = cv
                .get("expect")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let time = read_time(&c)?.or(file_time);
            let state = match c.raw("state") {
                Some(v) => CaseState::from_value(v, &c.at("state"))?,
                None => file_state.clone().unwrap_or_default(),
            };
            cases.push(Case {
                name,
                request,
                expect,
                time,
                state,
            });
        }
        if cases.is_empty() {
            return Err(PolicyError::new(
                ErrorCode::Missing,
                "cases",
                "a test file needs at least one case",
            ));
        }
        Ok(TestFile {
            description: o.str("description")?.map(str::to_string),
            policy,
            cases,
        })
    }
}

fn read_time(o: &Obj<'_>) -> Result<Option<i64>, PolicyError> {
    match o.raw("time") {
        None => Ok(None),
        Some(v) => match v.as_number().and_then(|n| n.as_i64()) {
            Some(t) if t >= 0 => Ok(Some(t)),
            _ => Err(crate::policy::read::type_error(
                &o.at("time"),
                "unix seconds",
                v,
            )),
        },
    }
}

/// The result of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The case's name.
    pub name: String,
    /// The decision made.
    pub decision: Decision,
    /// One line per expectation that did not hold; empty when the case passed.
    pub failures: Vec<String>,
}

impl CaseResult {
    /// True when every expectation held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// The time a case is decided at: the case's or file's `time`, else the request's, else `now`.
pub fn case_time(case: &Case, now: i64) -> i64 {
    case.time.or(case.request.time).unwrap_or(now)
}

/// Runs one case natively.
pub fn run_case(engine: &Engine, case: &Case, now: i64) -> CaseResult {
    let env = case.state.env(case_time(case, now));
    let decision = engine.decide(&case.request, &env);
    check_case(case, decision)
}

/// Compares a decision (made by any target) with a case's expectations.
pub fn check_case(case: &Case, decision: Decision) -> CaseResult {
    let failures = compare(&case.expect, &decision.to_value());
    CaseResult {
        name: case.name.clone(),
        decision,
        failures,
    }
}

/// Compares expected fields with a decision's JSON form; one message per mismatch.
pub fn compare(expect: &Map, actual: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (k, want) in expect.iter() {
        match k {
            "reasonContains" => {
                let got = actual.get("reason").and_then(Value::as_str).unwrap_or("");
                let needle = want.as_str().unwrap_or("");
                if !got.contains(needle) {
                    out.push(format!(
                        "reason: expected to contain `{needle}`, got `{got}`"
                    ));
                }
            }
            "responseHeaders" | "upstreamHeaders" => {
                let got = actual.get(k).and_then(Value::as_object);
                for (h, hv) in want.as_object().into_iter().flat_map(Map::iter) {
                    let g = got.and_then(|m| m.get(&h.to_ascii_lowercase()));
                    match (hv, g) {
                        (Value::Null, None) => {}
                        (Value::Null, Some(g)) => {
                            out.push(format!("{k}.{h}: expected absent, got {}", g.to_json()))
                        }
                        (w, Some(g)) if w == g => {}
                        (w, g) => out.push(format!(
                            "{k}.{h}: expected {}, got {}",
                            w.to_json(),
                            g.map_or("absent".into(), Value::to_json)
                        )),
                    }
                }
            }
            "removeHeaders" | "audit" => {
                let got: Vec<&str> = actual
                    .get(k)
                    .and_then(Value::as_array)
                    .unwrap_or(&[])
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                for w in want
                    .as_array()
                    .unwrap_or(&[])
                    .iter()
                    .filter_map(Value::as_str)
                {
                    if !got.contains(&w) {
                        out.push(format!("{k}: expected to contain `{w}`, got {:?}", got));
                    }
                }
            }
            _ => {
                let got = actual.get(k).cloned().unwrap_or(Value::Null);
                if &got != want {
                    out.push(format!(
                        "{k}: expected {}, got {}",
                        want.to_json(),
                        got.to_json()
                    ));
                }
            }
        }
    }
    out
}
