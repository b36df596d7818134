//! Enforcing: the decision an adapter carries out, and its JSON form (design §3).
//!
//! Status codes follow the RFCs: 401 with `WWW-Authenticate: Bearer` (RFC 6750: no error code
//! when no token was sent, `invalid_token` for a bad one; RFC 9470
//! `insufficient_user_authentication` for step-up), 403 for authorization, 400 for a request
//! Vigil refuses to interpret (an ambiguous path, a malformed method), 429 with `Retry-After`.

use crate::json::{write_str, Map, Value};
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// The outcome of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Forward the request.
    Allow,
    /// Refuse it (403, or 400 for a malformed request).
    Deny,
    /// Authentication is missing or invalid (401).
    Unauthenticated,
    /// Authentication is valid but not strong or fresh enough (401, RFC 9470).
    StepUp,
    /// Over a rate limit (429).
    RateLimited,
}

impl Outcome {
    /// The outcome as written in decisions.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::Unauthenticated => "unauthenticated",
            Outcome::StepUp => "step_up",
            Outcome::RateLimited => "rate_limited",
        }
    }
    /// Parses the written form.
    pub fn parse(s: &str) -> Option<Outcome> {
        Some(match s {
            "allow" => Outcome::Allow,
            "deny" => Outcome::Deny,
            "unauthenticated" => Outcome::Unauthenticated,
            "step_up" => Outcome::StepUp,
            "rate_limited" => Outcome::RateLimited,
            _ => return None,
        })
    }
}

/// One decision, with everything an adapter needs to enforce it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// What was decided.
    pub outcome: Outcome,
    /// The HTTP status to answer with (200 when allowed).
    pub status: u16,
    /// A stable machine code for the reason (`denied_by_policy`, `invalid_token`, ...).
    pub code: String,
    /// A human-readable reason (lower case; safe to show to the client).
    pub reason: String,
    /// The policy that decided, if one did.
    pub policy: Option<String>,
    /// The index of the rule within that policy that matched.
    pub rule: Option<usize>,
    /// The verified token principal (`iss/sub`), if any.
    pub principal: Option<String>,
    /// Headers for the local response (e.g. `www-authenticate`).
    pub response_headers: Vec<(String, String)>,
    /// Headers to set on the request forwarded upstream (on allow).
    pub upstream_headers: Vec<(String, String)>,
    /// Headers to remove from the request before forwarding (client-sent copies of the headers
    /// Vigil sets, and the token unless it is forwarded).
    pub remove_headers: Vec<String>,
    /// AUDIT policies that matched.
    pub audit: Vec<String>,
    /// True in dry-run mode: the decision is reported, never enforced.
    pub dry_run: bool,
    /// For adapters (not part of the JSON): the token's issuer when it was refused because its
    /// key set is missing or lacks the token's `kid` — a JWKS refetch may fix it.
    pub key_refetch: Option<String>,
}

impl Decision {
    /// A decision with no headers.
    pub fn new(outcome: Outcome, status: u16, code: &str, reason: impl Into<String>) -> Self {
        Decision {
            outcome,
            status,
            code: code.to_string(),
            reason: reason.into(),
            policy: None,
            rule: None,
            principal: None,
            response_headers: Vec::new(),
            upstream_headers: Vec::new(),
            remove_headers: Vec::new(),
            audit: Vec::new(),
            dry_run: false,
            key_refetch: None,
        }
    }

    /// True when the adapter should forward the request: allowed, or dry-run.
    pub fn forwards(&self) -> bool {
        self.outcome == Outcome::Allow || self.dry_run
    }

    /// The value of a response header, if set.
    pub fn response_header(&self, name: &str) -> Option<&str> {
        self.response_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The JSON form (design §3).
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("decision", Value::from(self.outcome.as_str()));
        m.insert("status", Value::from(self.status));
        m.insert("code", Value::from(self.code.as_str()));
        m.insert("reason", Value::from(self.reason.as_str()));
        m.insert("policy", opt(self.policy.as_deref()));
        m.insert(
            "rule",
            self.rule.map_or(Value::Null, |r| Value::from(r as i64)),
        );
        m.insert("principal", opt(self.principal.as_deref()));
        m.insert("responseHeaders", headers(&self.response_headers));
        m.insert("upstreamHeaders", headers(&self.upstream_headers));
        m.insert(
            "removeHeaders",
            Value::Array(
                self.remove_headers
                    .iter()
                    .map(|h| Value::from(h.as_str()))
                    .collect(),
            ),
        );
        m.insert(
            "audit",
            Value::Array(self.audit.iter().map(|h| Value::from(h.as_str())).collect()),
        );
        m.insert("dryRun", Value::Bool(self.dry_run));
        Value::Object(m)
    }

    /// Compact JSON.
    pub fn to_json(&self) -> String {
        self.to_value().to_json()
    }

    /// The small JSON body of a local response: `{"error","reason"}`, no internals.
    pub fn body(&self) -> String {
        let mut out = String::from("{\"error\":");
        write_str(self.outcome.as_str(), &mut out);
        out.push_str(",\"reason\":");
        write_str(&self.reason, &mut out);
        out.push('}');
        out
    }
}

fn opt(s: Option<&str>) -> Value {
    s.map_or(Value::Null, Value::from)
}

fn headers(h: &[(String, String)]) -> Value {
    let mut m = Map::new();
    for (k, v) in h {
        m.insert(k.as_str(), Value::from(v.as_str()));
    }
    Value::Object(m)
}

/// Quotes `s` as an RFC 9110 quoted-string (for `WWW-Authenticate` parameters), dropping
/// characters that cannot appear in one.
pub fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `Bearer realm="…"` — the RFC 6750 challenge when no token was sent (no error code).
pub fn bearer_challenge(realm: &str) -> String {
    let mut s = String::from("Bearer realm=");
    s.push_str(&quoted(realm));
    s
}

/// `Bearer realm="…", error="…", error_description="…"`.
pub fn bearer_error(realm: &str, error: &str, description: &str) -> String {
    let mut s = bearer_challenge(realm);
    s.push_str(", error=");
    s.push_str(&quoted(error));
    if !description.is_empty() {
        s.push_str(", error_description=");
        s.push_str(&quoted(description));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape() {
        let mut d = Decision::new(Outcome::Deny, 403, "denied_by_policy", "denied by `x`");
        d.policy = Some("x".into());
        d.response_headers.push(("x-a".into(), "1".into()));
        assert_eq!(
            d.to_json(),
            r#"{"decision":"deny","status":403,"code":"denied_by_policy","reason":"denied by `x`","policy":"x","rule":null,"principal":null,"responseHeaders":{"x-a":"1"},"upstreamHeaders":{},"removeHeaders":[],"audit":[],"dryRun":false}"#
        );
        assert_eq!(d.body(), r#"{"error":"deny","reason":"denied by `x`"}"#);
    }

    #[test]
    fn challenges() {
        assert_eq!(bearer_challenge("vigil"), r#"Bearer realm="vigil""#);
        assert_eq!(
            bearer_error("a\"b", "invalid_token", "token expired"),
            r#"Bearer realm="a\"b", error="invalid_token", error_description="token expired""#
        );
    }
}
