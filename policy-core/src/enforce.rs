//! Enforcing: the decision an adapter carries out, and its JSON form (design §3).
//!
//! Status codes follow the RFCs: 401 with `WWW-Authenticate: Bearer` (RFC 6750: no error code
//! when no token was sent, `invalid_token` for a bad one; RFC 9470
//! `insufficient_user_authentication` for step-up), 403 for authorization, 400 for a request
//! Vigil refuses to interpret (an ambiguous path, a malformed method), 429 with `Retry-After`.

use crate::extract::request::CheckRequest;
use crate::json::{write_int, write_str, Map, Value};
use crate::state::{BehaviorUpdate, RateUpdate};
use alloc::borrow::Cow;
use alloc::format;
use alloc::string::String;
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
    /// A stable machine code for the reason (`denied_by_policy`, `invalid_token`, ...). The
    /// engine's are constants (borrowed: no allocation per decision); a decision read back
    /// from JSON owns its code.
    pub code: Cow<'static, str>,
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
    /// The matched `resources` item, if any.
    pub resource: Option<ResourceRef>,
    /// The trust score and the risks that fired; `None` when the policy has no `trust`
    /// (or the decision was made before scoring: a bad request, token, revocation or rate
    /// limit).
    pub trust: Option<TrustReport>,
    /// New levels of the rate-limit counters this request touched, for the adapter to store
    /// (not part of the JSON form).
    pub rate_updates: Vec<RateUpdate>,
    /// The behaviour history to store for the caller (when the policy reads `behavior.*` and
    /// the adapter passed [`crate::Env::behavior`]; not part of the JSON form).
    pub behavior: Option<BehaviorUpdate>,
}

/// The resource a decision was about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRef {
    /// `resources[].name`.
    pub name: String,
    /// `resources[].classification`.
    pub classification: String,
}

/// The trust score of a decision (`"trust": {"score", "minimum", "risks"}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustReport {
    /// 0–100.
    pub score: u8,
    /// The resource's `minTrust`, if any.
    pub minimum: Option<u8>,
    /// Every risk that fired, in policy order.
    pub risks: Vec<FiredRisk>,
}

/// One risk that fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiredRisk {
    /// Its name.
    pub name: String,
    /// Its weight.
    pub weight: u8,
}

impl TrustReport {
    /// The JSON form.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("score", Value::from(i64::from(self.score)));
        m.insert(
            "minimum",
            self.minimum
                .map_or(Value::Null, |v| Value::from(i64::from(v))),
        );
        m.insert(
            "risks",
            Value::Array(
                self.risks
                    .iter()
                    .map(|r| {
                        let mut o = Map::new();
                        o.insert("name", Value::from(r.name.as_str()));
                        o.insert("weight", Value::from(i64::from(r.weight)));
                        Value::Object(o)
                    })
                    .collect(),
            ),
        );
        Value::Object(m)
    }
}

impl ResourceRef {
    /// The JSON form.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("name", Value::from(self.name.as_str()));
        m.insert("classification", Value::from(self.classification.as_str()));
        Value::Object(m)
    }
}

impl Decision {
    /// A decision with no headers.
    pub fn new(
        outcome: Outcome,
        status: u16,
        code: impl Into<Cow<'static, str>>,
        reason: impl Into<String>,
    ) -> Self {
        Decision {
            outcome,
            status,
            code: code.into(),
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
            resource: None,
            trust: None,
            rate_updates: Vec::new(),
            behavior: None,
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
        m.insert("code", Value::from(&*self.code));
        m.insert("reason", Value::from(self.reason.as_str()));
        m.insert("policy", opt(self.policy.as_deref()));
        m.insert(
            "rule",
            self.rule.map_or(Value::Null, |r| Value::from(r as i64)),
        );
        m.insert("principal", opt(self.principal.as_deref()));
        m.insert(
            "resource",
            self.resource
                .as_ref()
                .map_or(Value::Null, ResourceRef::to_value),
        );
        m.insert(
            "trust",
            self.trust
                .as_ref()
                .map_or(Value::Null, TrustReport::to_value),
        );
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

    /// `decision`, `status`, `code`, `reason`, `policy`, `rule`: in both JSON forms.
    fn write_outcome(&self, o: &mut Obj<'_>) {
        o.word("decision", self.outcome.as_str());
        o.int("status", i64::from(self.status));
        o.str("code", &self.code);
        o.str("reason", &self.reason);
        o.opt("policy", self.policy.as_deref());
        o.opt_int("rule", self.rule.map(|r| r as i64));
    }

    /// Compact JSON: the same text as `to_value().to_json()`, written directly (it is
    /// rendered for every logged decision).
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(256);
        let mut o = Obj::new(&mut out);
        self.write_outcome(&mut o);
        o.opt("principal", self.principal.as_deref());
        o.opt_value(
            "resource",
            self.resource.as_ref().map(ResourceRef::to_value),
        );
        o.opt_value("trust", self.trust.as_ref().map(TrustReport::to_value));
        o.headers("responseHeaders", &self.response_headers);
        o.headers("upstreamHeaders", &self.upstream_headers);
        o.strs("removeHeaders", &self.remove_headers);
        o.strs("audit", &self.audit);
        o.bool("dryRun", self.dry_run);
        o.end();
        out
    }

    /// The decision record (design §2.6): one JSON line for logs, never a token or a secret.
    ///
    /// `{"time", "timestamp", "requestId", "method", "host", "path", "sourcePrincipal",
    /// "remoteAddress", "principal", "resource", "decision", "status", "code", "reason",
    /// "policy", "rule", "trust", "audit", "dryRun"}`. `path` is the raw path without its
    /// query (a query may carry a token); no header value other than the request id is
    /// written. `request_id` defaults to the request's `x-request-id` header.
    pub fn record(&self, req: &CheckRequest, now: i64, request_id: Option<&str>) -> String {
        let mut out = String::with_capacity(512);
        self.write_record(req, now, request_id, &mut out);
        out
    }

    /// [`Decision::record`], appended to `out` (an adapter reuses one buffer for every
    /// record).
    pub fn write_record(
        &self,
        req: &CheckRequest,
        now: i64,
        request_id: Option<&str>,
        out: &mut String,
    ) {
        let rid = request_id.or_else(|| {
            let mut ids = req.header_values("x-request-id");
            match (ids.next(), ids.next()) {
                (Some(v), None) if v.len() <= 200 && !has_control(v) => Some(v),
                _ => None,
            }
        });
        let mut o = Obj::new(out);
        o.int("time", now);
        o.key("timestamp");
        o.out.push('"');
        write_rfc3339(now, o.out);
        o.out.push('"');
        o.opt("requestId", rid);
        o.str("method", cut(&req.method, 32));
        o.str("host", cut(&req.host, 256));
        // The path without its query or fragment.
        let end = req
            .path
            .bytes()
            .position(|b| b == b'?' || b == b'#')
            .unwrap_or(req.path.len());
        o.str("path", cut(req.path.get(..end).unwrap_or(""), 2048));
        o.opt("sourcePrincipal", req.source.principal.as_deref());
        o.opt("remoteAddress", req.source.address.as_deref());
        o.opt("principal", self.principal.as_deref());
        o.opt_value(
            "resource",
            self.resource.as_ref().map(ResourceRef::to_value),
        );
        self.write_outcome(&mut o);
        o.opt_value("trust", self.trust.as_ref().map(TrustReport::to_value));
        o.strs("audit", &self.audit);
        o.bool("dryRun", self.dry_run);
        o.end();
    }

    /// [`Decision::record`] through a `Value` tree: the reference the direct writer is
    /// tested against.
    #[cfg(test)]
    pub(crate) fn record_value(
        &self,
        req: &CheckRequest,
        now: i64,
        request_id: Option<&str>,
    ) -> String {
        let mut m = Map::new();
        m.insert("time", Value::from(now));
        m.insert("timestamp", Value::from(rfc3339(now).as_str()));
        let rid = request_id.or_else(|| {
            let mut ids = req.header_values("x-request-id");
            match (ids.next(), ids.next()) {
                (Some(v), None) if v.len() <= 200 && !v.chars().any(char::is_control) => Some(v),
                _ => None,
            }
        });
        m.insert("requestId", opt(rid));
        m.insert("method", Value::from(cut(&req.method, 32)));
        m.insert("host", Value::from(cut(&req.host, 256)));
        let path = req.path.split(['?', '#']).next().unwrap_or("");
        m.insert("path", Value::from(cut(path, 2048)));
        m.insert("sourcePrincipal", opt(req.source.principal.as_deref()));
        m.insert("remoteAddress", opt(req.source.address.as_deref()));
        m.insert("principal", opt(self.principal.as_deref()));
        m.insert(
            "resource",
            self.resource
                .as_ref()
                .map_or(Value::Null, ResourceRef::to_value),
        );
        m.insert("decision", Value::from(self.outcome.as_str()));
        m.insert("status", Value::from(self.status));
        m.insert("code", Value::from(&*self.code));
        m.insert("reason", Value::from(self.reason.as_str()));
        m.insert("policy", opt(self.policy.as_deref()));
        m.insert(
            "rule",
            self.rule.map_or(Value::Null, |r| Value::from(r as i64)),
        );
        m.insert(
            "trust",
            self.trust
                .as_ref()
                .map_or(Value::Null, TrustReport::to_value),
        );
        m.insert(
            "audit",
            Value::Array(self.audit.iter().map(|h| Value::from(h.as_str())).collect()),
        );
        m.insert("dryRun", Value::Bool(self.dry_run));
        Value::Object(m).to_json()
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

/// The first `max` characters of `s`.
fn cut(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => s.get(..i).unwrap_or(s),
        None => s,
    }
}

/// A JSON object written straight into a string (keys are ASCII literals).
struct Obj<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Obj<'a> {
    fn new(out: &'a mut String) -> Obj<'a> {
        out.push('{');
        Obj { out, first: true }
    }
    fn key(&mut self, k: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push('"');
        self.out.push_str(k);
        self.out.push_str("\":");
    }
    fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        write_str(v, self.out);
    }
    /// A string that never needs an escape (one of the engine's constant words).
    fn word(&mut self, k: &str, v: &'static str) {
        self.key(k);
        self.out.push('"');
        self.out.push_str(v);
        self.out.push('"');
    }
    fn opt(&mut self, k: &str, v: Option<&str>) {
        self.key(k);
        match v {
            Some(v) => write_str(v, self.out),
            None => self.out.push_str("null"),
        }
    }
    fn int(&mut self, k: &str, v: i64) {
        self.key(k);
        write_int(v, self.out);
    }
    fn opt_int(&mut self, k: &str, v: Option<i64>) {
        match v {
            Some(v) => self.int(k, v),
            None => {
                self.key(k);
                self.out.push_str("null");
            }
        }
    }
    fn bool(&mut self, k: &str, v: bool) {
        self.key(k);
        self.out.push_str(if v { "true" } else { "false" });
    }
    fn opt_value(&mut self, k: &str, v: Option<Value>) {
        self.key(k);
        match v {
            Some(v) => v.write_json(self.out),
            None => self.out.push_str("null"),
        }
    }
    fn strs(&mut self, k: &str, items: &[String]) {
        self.key(k);
        self.out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            write_str(item, self.out);
        }
        self.out.push(']');
    }
    /// Headers as an object; a repeated name keeps its first place and its last value, as
    /// [`Map::insert`] does.
    fn headers(&mut self, k: &str, h: &[(String, String)]) {
        self.key(k);
        self.out.push('{');
        let mut first = true;
        for (i, (name, _)) in h.iter().enumerate() {
            if h.iter().take(i).any(|(n, _)| n == name) {
                continue;
            }
            let value = h
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map_or("", |(_, v)| v.as_str());
            if !first {
                self.out.push(',');
            }
            first = false;
            write_str(name, self.out);
            self.out.push(':');
            write_str(value, self.out);
        }
        self.out.push('}');
    }
    fn end(self) {
        self.out.push('}');
    }
}

/// `2023-11-14T22:13:20Z` for Unix seconds (proleptic Gregorian, UTC).
pub fn rfc3339(t: i64) -> String {
    let mut out = String::with_capacity(20);
    write_rfc3339(t, &mut out);
    out
}

/// Unix seconds → (year, month, day, seconds into the day), proleptic Gregorian, UTC.
fn civil(t: i64) -> (i64, i64, i64, i64) {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day, secs)
}

/// `s.chars().any(char::is_control)`, byte by byte for ASCII (a request id usually is).
fn has_control(s: &str) -> bool {
    if s.is_ascii() {
        s.bytes().any(|b| b < 0x20 || b == 0x7f)
    } else {
        s.chars().any(char::is_control)
    }
}

fn write_rfc3339(t: i64, out: &mut String) {
    let (year, month, day, secs) = civil(t);
    if !(0..=9999).contains(&year) {
        let _ = core::fmt::write(
            out,
            format_args!(
                "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
                secs / 3600,
                secs % 3600 / 60,
                secs % 60
            ),
        );
        return;
    }
    // The usual case without the formatting machinery (a record per decision): the twenty
    // bytes at once, then one copy.
    let two = |n: i64| {
        let n = n.rem_euclid(100) as u8;
        [b'0' + n / 10, b'0' + n % 10]
    };
    let ([c0, c1], [y0, y1]) = (two(year / 100), two(year));
    let ([mo0, mo1], [d0, d1]) = (two(month), two(day));
    let ([h0, h1], [mi0, mi1], [s0, s1]) =
        (two(secs / 3600), two(secs % 3600 / 60), two(secs % 60));
    let text = [
        c0, c1, y0, y1, b'-', mo0, mo1, b'-', d0, d1, b'T', h0, h1, b':', mi0, mi1, b':', s0, s1,
        b'Z',
    ];
    if let Ok(t) = core::str::from_utf8(&text) {
        out.push_str(t);
    }
}

/// The RFC 9470 step-up challenge: `Bearer realm="…", error="insufficient_user_authentication",
/// error_description="…"`, then `acr_values="a b"` (acceptable levels, most preferred first)
/// and/or `max_age="N"` (seconds since the last active authentication).
pub fn step_up_challenge(
    realm: &str,
    description: &str,
    acr_values: &[&str],
    max_age: Option<u64>,
) -> String {
    let mut s = bearer_error(realm, "insufficient_user_authentication", description);
    if !acr_values.is_empty() {
        s.push_str(", acr_values=");
        s.push_str(&quoted(&acr_values.join(" ")));
    }
    if let Some(m) = max_age {
        s.push_str(&format!(", max_age=\"{m}\""));
    }
    s
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

    /// The direct writers of `to_json` and `record` against the `Value` tree they replace,
    /// on random decisions: strings with quotes, backslashes, control characters, U+2028,
    /// multi-byte characters and long runs (the record cuts method/host/path), repeated
    /// header names, every optional field present and absent.
    #[test]
    fn direct_json_writers_match_the_value_tree() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let pieces = [
            "a", "\"", "\\", "\n", "\u{1}", "\u{2028}", "é", "💥", "/", "?q", "#f", " ",
        ];
        let text = |max: u64, next: &mut dyn FnMut() -> u64| -> String {
            let n = next() % max;
            (0..n)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect()
        };
        for i in 0..3000 {
            let outcome = [
                Outcome::Allow,
                Outcome::Deny,
                Outcome::Unauthenticated,
                Outcome::StepUp,
                Outcome::RateLimited,
            ][i % 5];
            let mut d = Decision::new(
                outcome,
                (next() % 600) as u16,
                text(8, &mut next),
                text(20, &mut next),
            );
            let some = |next: &mut dyn FnMut() -> u64| next().is_multiple_of(2);
            if some(&mut next) {
                d.policy = Some(text(10, &mut next));
            }
            if some(&mut next) {
                d.rule = Some((next() % 5) as usize);
            }
            if some(&mut next) {
                d.principal = Some(text(10, &mut next));
            }
            if some(&mut next) {
                d.resource = Some(ResourceRef {
                    name: text(6, &mut next),
                    classification: text(6, &mut next),
                });
            }
            if some(&mut next) {
                d.trust = Some(TrustReport {
                    score: (next() % 101) as u8,
                    minimum: some(&mut next).then(|| (next() % 101) as u8),
                    risks: (0..next() % 3)
                        .map(|_| FiredRisk {
                            name: text(6, &mut next),
                            weight: (next() % 100) as u8,
                        })
                        .collect(),
                });
            }
            for _ in 0..next() % 4 {
                let name = ["x-a", "x-b", "retry-after"][(next() % 3) as usize].to_string();
                d.response_headers.push((name.clone(), text(6, &mut next)));
                d.upstream_headers.push((name, text(6, &mut next)));
            }
            for _ in 0..next() % 3 {
                d.remove_headers.push(text(5, &mut next));
                d.audit.push(text(5, &mut next));
            }
            d.dry_run = some(&mut next);
            assert_eq!(d.to_json(), d.to_value().to_json(), "case {i}");
            let long = |next: &mut dyn FnMut() -> u64| {
                if next().is_multiple_of(4) {
                    "é".repeat(2100)
                } else {
                    String::new()
                }
            };
            let mut req = CheckRequest::new(
                &(text(6, &mut next) + &long(&mut next)),
                &(text(12, &mut next) + &long(&mut next)),
                &(text(6, &mut next) + &long(&mut next)),
            );
            if some(&mut next) {
                req.headers
                    .push(("x-request-id".into(), text(8, &mut next)));
            }
            req.source.principal = some(&mut next).then(|| text(8, &mut next));
            req.source.address = some(&mut next).then(|| text(8, &mut next));
            let now = (next() % 4_000_000_000) as i64 - 1_000_000_000;
            let rid = some(&mut next).then(|| text(6, &mut next));
            assert_eq!(
                d.record(&req, now, rid.as_deref()),
                d.record_value(&req, now, rid.as_deref()),
                "case {i}"
            );
        }
    }

    /// `has_control` against `chars().any(char::is_control)` on random strings of ASCII,
    /// C0/C1 controls, DEL and other non-ASCII characters.
    #[test]
    fn has_control_is_is_control() {
        let alphabet = [
            'a', '-', '0', ' ', '\t', '\n', '\u{0}', '\u{1f}', '\u{7f}', '\u{80}', '\u{9f}',
            '\u{a0}', 'é', '\u{2028}', '\u{fffd}', '😀',
        ];
        let mut rng = crate::XorShift(0x0bad_5eed_1234_5678);
        let mut hits = 0;
        for case in 0..50_000 {
            let s: String = (0..rng.below(12))
                .map(|_| {
                    if rng.below(4) == 0 {
                        alphabet[rng.below(alphabet.len())]
                    } else {
                        'x'
                    }
                })
                .collect();
            let want = s.chars().any(char::is_control);
            assert_eq!(has_control(&s), want, "case {case}: {s:?}");
            hits += usize::from(want);
        }
        assert!(hits > 5_000, "{hits}");
    }

    /// The digit writer of `rfc3339` against `format!` of the same civil date, on random
    /// instants from year -3000 to 12000 and the edges of the four-digit years (and one
    /// known instant, which checks `civil` too).
    #[test]
    fn rfc3339_matches_the_formatter() {
        let reference = |t: i64| {
            let (year, month, day, secs) = civil(t);
            format!(
                "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
                secs / 3600,
                secs % 3600 / 60,
                secs % 60
            )
        };
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let span = 15_000 * 31_556_952_i64;
        let mut cases: Vec<i64> = (0..20_000)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed % (span as u64)) as i64 - 5_000 * 31_556_952
            })
            .collect();
        // 0000-01-01, 9999-12-31T23:59:59 and the seconds either side.
        for t in [-62_167_219_200_i64, 253_402_300_799, 0, -1, 1_700_000_000] {
            cases.extend([t - 1, t, t + 1]);
        }
        for t in cases {
            assert_eq!(rfc3339(t), reference(t), "t = {t}");
        }
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn json_shape() {
        let mut d = Decision::new(Outcome::Deny, 403, "denied_by_policy", "denied by `x`");
        d.policy = Some("x".into());
        d.response_headers.push(("x-a".into(), "1".into()));
        assert_eq!(
            d.to_json(),
            r#"{"decision":"deny","status":403,"code":"denied_by_policy","reason":"denied by `x`","policy":"x","rule":null,"principal":null,"resource":null,"trust":null,"responseHeaders":{"x-a":"1"},"upstreamHeaders":{},"removeHeaders":[],"audit":[],"dryRun":false}"#
        );
        assert_eq!(d.body(), r#"{"error":"deny","reason":"denied by `x`"}"#);
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn records_carry_no_secrets() {
        let req = CheckRequest::new("GET", "/a?access_token=secret", "h")
            .with_header("authorization", "Bearer secret")
            .with_header("x-request-id", "r-1");
        let mut d = Decision::new(Outcome::Allow, 200, "allowed_by_policy", "ok");
        d.trust = Some(TrustReport {
            score: 70,
            minimum: Some(60),
            risks: alloc::vec![FiredRisk {
                name: "off_hours".into(),
                weight: 30
            }],
        });
        let line = d.record(&req, 1_700_000_000, None);
        assert!(!line.contains("secret"), "{line}");
        assert!(line.contains(r#""requestId":"r-1""#));
        assert!(line.contains(r#""path":"/a""#));
        assert!(line.contains(
            r#""trust":{"score":70,"minimum":60,"risks":[{"name":"off_hours","weight":30}]}"#
        ));
        assert!(!line.contains('\n'));
    }

    #[test]
    fn challenges() {
        assert_eq!(
            step_up_challenge(
                "v",
                "a stronger authentication is required",
                &["otp", "fido2"],
                Some(300)
            ),
            r#"Bearer realm="v", error="insufficient_user_authentication", error_description="a stronger authentication is required", acr_values="otp fido2", max_age="300""#
        );
        assert_eq!(bearer_challenge("vigil"), r#"Bearer realm="vigil""#);
        assert_eq!(
            bearer_error("a\"b", "invalid_token", "token expired"),
            r#"Bearer realm="a\"b", error="invalid_token", error_description="token expired""#
        );
    }
}
