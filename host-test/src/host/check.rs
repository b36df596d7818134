//! Vigil over the proxy-wasm host: a check request becomes a proxy-wasm request, the decision
//! comes back from the filter's `vigil decision {...}` log line, and what the filter actually
//! did (local response, header changes) is checked against that decision.
//!
//! The mapping (what Envoy would hand the filter for the same request):
//!
//! | check request            | proxy-wasm                                                   |
//! |--------------------------|--------------------------------------------------------------|
//! | `method`, `path`, `host`, `scheme` | pseudo-headers `:method`, `:path`, `:authority`, `:scheme` (omitted when absent) |
//! | `headers`                | request headers, one entry per value, in order               |
//! | `source.address` + `port`| property `source.address` = `ip:port` (`[v6]:port`), `source.port` (8-byte LE) |
//! | `source.principal`       | property `connection.uri_san_peer_certificate`, as given     |
//! | `destination.address` + `port` | `destination.address` = `ip:port`, `destination.port` (8-byte LE) |
//! | `sni`                    | property `connection.requested_server_name`                  |
//! | time (case, file, request, or now) | the virtual clock (`proxy_get_current_time_nanoseconds`) |
//!
//! A source port without an address cannot be expressed (Envoy has no such connection) and is
//! dropped.

use super::{Action, Filter, Host, HostError, LogEntry, Outcome, Vm};
use policy_core::json::{self, Limits, Map, Value};
use policy_core::{CheckRequest, Decision, Outcome as Verdict};

/// The prefix of the filter's decision log line.
pub const DECISION_PREFIX: &str = "vigil decision ";

/// A check request in proxy-wasm terms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyRequest {
    /// Request headers, pseudo-headers first.
    pub headers: Vec<(String, String)>,
    /// Properties: path and value bytes.
    pub properties: Vec<(Vec<&'static str>, Vec<u8>)>,
}

fn socket_address(address: &str, port: Option<u16>) -> String {
    match port {
        Some(p) if address.contains(':') => format!("[{address}]:{p}"),
        Some(p) => format!("{address}:{p}"),
        // An address with colons and no port is bracketed, so the filter never mistakes its
        // last segment for a port.
        None if address.contains(':') && !address.starts_with('[') => format!("[{address}]"),
        None => address.to_string(),
    }
}

/// Maps a check request to what a proxy gives the filter.
pub fn to_proxy(req: &CheckRequest) -> ProxyRequest {
    let mut headers = vec![
        (":method".to_string(), req.method.clone()),
        (":path".to_string(), req.path.clone()),
        (":authority".to_string(), req.host.clone()),
    ];
    if let Some(s) = &req.scheme {
        headers.push((":scheme".to_string(), s.clone()));
    }
    headers.extend(req.headers.iter().cloned());
    let mut properties = Vec::new();
    if let Some(a) = &req.source.address {
        properties.push((
            vec!["source", "address"],
            socket_address(a, req.source.port).into_bytes(),
        ));
        if let Some(p) = req.source.port {
            properties.push((vec!["source", "port"], i64::from(p).to_le_bytes().to_vec()));
        }
    }
    if let Some(p) = &req.source.principal {
        properties.push((
            vec!["connection", "uri_san_peer_certificate"],
            p.as_bytes().to_vec(),
        ));
    }
    if let Some(a) = &req.destination.address {
        properties.push((
            vec!["destination", "address"],
            socket_address(a, req.destination.port).into_bytes(),
        ));
    }
    if let Some(p) = req.destination.port {
        properties.push((
            vec!["destination", "port"],
            i64::from(p).to_le_bytes().to_vec(),
        ));
    }
    if let Some(s) = &req.sni {
        properties.push((
            vec!["connection", "requested_server_name"],
            s.as_bytes().to_vec(),
        ));
    }
    ProxyRequest {
        headers,
        properties,
    }
}

/// The decision the filter logged, as JSON (exactly one `vigil decision` line expected).
pub fn decision_value(logs: &[LogEntry]) -> Result<Value, HostError> {
    let mut lines = logs
        .iter()
        .filter_map(|l| l.message.strip_prefix(DECISION_PREFIX));
    let Some(text) = lines.next() else {
        let last = logs
            .iter()
            .rev()
            .find(|l| l.level >= 3)
            .map(|l| format!(" (last error: {})", l.message))
            .unwrap_or_default();
        return Err(HostError::Protocol(format!(
            "the filter logged no `vigil decision` line{last}"
        )));
    };
    if lines.next().is_some() {
        return Err(HostError::Protocol(
            "the filter logged more than one decision for one request".into(),
        ));
    }
    json::parse(text, Limits::REQUEST)
        .map_err(|e| HostError::Protocol(format!("the filter's decision is not JSON: {e}")))
}

fn field<'a>(v: &'a Value, k: &str) -> Result<&'a Value, HostError> {
    v.get(k)
        .ok_or_else(|| HostError::Protocol(format!("the filter's decision has no `{k}` field")))
}

fn bad(k: &str, want: &str) -> HostError {
    HostError::Protocol(format!("the filter's decision: `{k}` is not {want}"))
}

fn string(v: &Value, k: &str) -> Result<String, HostError> {
    field(v, k)?
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| bad(k, "a string"))
}

fn opt_string(v: &Value, k: &str) -> Result<Option<String>, HostError> {
    match field(v, k)? {
        Value::Null => Ok(None),
        x => x
            .as_str()
            .map(|s| Some(s.to_string()))
            .ok_or_else(|| bad(k, "a string or null")),
    }
}

fn pairs(v: &Value, k: &str) -> Result<Vec<(String, String)>, HostError> {
    let m = field(v, k)?
        .as_object()
        .ok_or_else(|| bad(k, "an object"))?;
    m.iter()
        .map(|(h, x)| {
            x.as_str()
                .map(|s| (h.to_string(), s.to_string()))
                .ok_or_else(|| bad(k, "an object of strings"))
        })
        .collect()
}

fn strings(v: &Value, k: &str) -> Result<Vec<String>, HostError> {
    field(v, k)?
        .as_array()
        .ok_or_else(|| bad(k, "an array"))?
        .iter()
        .map(|x| {
            x.as_str()
                .map(str::to_string)
                .ok_or_else(|| bad(k, "an array of strings"))
        })
        .collect()
}

/// Reads a decision back from its JSON form (every field required).
pub fn decision_from_value(v: &Value) -> Result<Decision, HostError> {
    let outcome = Verdict::parse(&string(v, "decision")?)
        .ok_or_else(|| bad("decision", "a known outcome"))?;
    let status = field(v, "status")?
        .as_number()
        .and_then(|n| n.as_i64())
        .and_then(|n| u16::try_from(n).ok())
        .ok_or_else(|| bad("status", "an http status"))?;
    let mut d = Decision::new(outcome, status, string(v, "code")?, string(v, "reason")?);
    d.policy = opt_string(v, "policy")?;
    d.rule = match field(v, "rule")? {
        Value::Null => None,
        x => Some(
            x.as_number()
                .and_then(|n| n.as_i64())
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| bad("rule", "an index or null"))?,
        ),
    };
    d.principal = opt_string(v, "principal")?;
    d.response_headers = pairs(v, "responseHeaders")?;
    d.upstream_headers = pairs(v, "upstreamHeaders")?;
    d.remove_headers = strings(v, "removeHeaders")?;
    d.audit = strings(v, "audit")?;
    d.dry_run = field(v, "dryRun")?
        .as_bool()
        .ok_or_else(|| bad("dryRun", "a boolean"))?;
    d.resource = match v.get("resource") {
        None | Some(Value::Null) => None,
        Some(r) => Some(policy_core::enforce::ResourceRef {
            name: string(r, "name")?,
            classification: string(r, "classification")?,
        }),
    };
    d.trust = match v.get("trust") {
        None | Some(Value::Null) => None,
        Some(t) => {
            let small = |x: &Value, k: &str| -> Result<u8, HostError> {
                x.get(k)
                    .and_then(Value::as_number)
                    .and_then(|n| n.as_i64())
                    .and_then(|n| u8::try_from(n).ok())
                    .ok_or_else(|| bad(k, "a number from 0 to 255"))
            };
            let minimum = match t.get("minimum") {
                None | Some(Value::Null) => None,
                Some(_) => Some(small(t, "minimum")?),
            };
            let mut risks = Vec::new();
            for r in t.get("risks").and_then(Value::as_array).unwrap_or(&[]) {
                risks.push(policy_core::enforce::FiredRisk {
                    name: string(r, "name")?,
                    weight: small(r, "weight")?,
                });
            }
            Some(policy_core::enforce::TrustReport {
                score: small(t, "score")?,
                minimum,
                risks,
            })
        }
    };
    Ok(d)
}

/// Where what the filter did disagrees with the decision it logged (empty when it agrees).
///
/// Not forwarded: one local response, its status equal to the decision's, its headers a
/// superset of `responseHeaders`, its body the decision's `{"error","reason"}` body, and the
/// stream paused. Forwarded (allow, or dry run): no local response, `Continue`, every
/// upstream header set to exactly its value, every removed header gone.
pub fn enforcement_failures(d: &Decision, out: &Outcome) -> Vec<String> {
    let mut f = Vec::new();
    if out.local_responses.len() > 1 {
        f.push(format!(
            "the filter sent {} local responses for one request",
            out.local_responses.len()
        ));
    }
    if d.forwards() {
        if let Some(r) = out.local_response() {
            f.push(format!(
                "the decision forwards the request, but the filter answered {} locally",
                r.status
            ));
        }
        if out.action != Some(Action::Continue) {
            f.push(format!(
                "the decision forwards the request, but the filter returned {:?}",
                out.action
            ));
        }
        for (k, v) in &d.upstream_headers {
            let got = out.request_header(k);
            if got != [v.as_str()] {
                f.push(format!(
                    "upstream header `{k}`: expected `{v}`, the forwarded request has {got:?}"
                ));
            }
        }
        for h in &d.remove_headers {
            let set = d
                .upstream_headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(h));
            if !set && !out.request_header(h).is_empty() {
                f.push(format!(
                    "header `{h}` should have been removed, the forwarded request has {:?}",
                    out.request_header(h)
                ));
            }
        }
    } else {
        match out.local_response() {
            None => f.push(format!(
                "the decision is {} {}, but the filter sent no local response",
                d.outcome.as_str(),
                d.status
            )),
            Some(r) => {
                if r.status != u32::from(d.status) {
                    f.push(format!(
                        "local response status {} differs from the decision's {}",
                        r.status, d.status
                    ));
                }
                for (k, v) in &d.response_headers {
                    if r.header(k) != Some(v.as_str()) {
                        f.push(format!(
                            "local response header `{k}`: expected `{v}`, got {:?}",
                            r.header(k)
                        ));
                    }
                }
                if r.body_text() != d.body() {
                    f.push(format!(
                        "local response body `{}` differs from the decision's `{}`",
                        r.body_text(),
                        d.body()
                    ));
                }
            }
        }
        if out.action != Some(Action::Pause) {
            f.push(format!(
                "the filter answered locally but returned {:?} instead of Pause",
                out.action
            ));
        }
    }
    f
}

/// One decision made by the filter.
#[derive(Debug, Clone)]
pub struct WasmDecision {
    /// The decision, as the filter logged it.
    pub decision: Decision,
    /// Its JSON, as logged.
    pub value: Value,
    /// What the filter did.
    pub outcome: Outcome,
    /// Where that disagrees with the decision (see [`enforcement_failures`]).
    pub disagreements: Vec<String>,
}

/// Sends one check request through a configured VM at `now` (Unix seconds).
pub fn decide(vm: &mut Vm, req: &CheckRequest, now: i64) -> Result<WasmDecision, HostError> {
    let p = to_proxy(req);
    vm.set_time(now);
    let mut b = vm.http_request();
    for (k, v) in &p.headers {
        b = b.header(k, v);
    }
    for (path, v) in &p.properties {
        b = b.property(path, v);
    }
    let outcome = b.send_headers()?;
    let value = decision_value(&outcome.logs)?;
    let decision = decision_from_value(&value)?;
    let disagreements = enforcement_failures(&decision, &outcome);
    Ok(WasmDecision {
        decision,
        value,
        outcome,
        disagreements,
    })
}

/// A fresh VM of `filter` configured with `policy_json` (the plugin configuration).
pub fn configured(host: &Host, filter: &Filter, policy_json: &str) -> Result<Vm, HostError> {
    let mut vm = host.instantiate(filter)?;
    vm.configure(policy_json)?;
    Ok(vm)
}

/// Field-by-field differences between two decisions' JSON (`field: native X, wasm Y`).
pub fn diff_decisions(native: &Value, wasm: &Value) -> Vec<String> {
    let empty = Map::new();
    let a = native.as_object().unwrap_or(&empty);
    let b = wasm.as_object().unwrap_or(&empty);
    let mut keys: Vec<&str> = a.keys().collect();
    for k in b.keys() {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .filter_map(|k| {
            let (x, y) = (a.get(k), b.get(k));
            (x != y).then(|| {
                let show = |v: Option<&Value>| v.map_or("absent".into(), Value::to_json);
                format!("{k}: native {}, wasm {}", show(x), show(y))
            })
        })
        .collect()
}

/// Places a test case's adapter state where filter.wasm reads it — shared data, as Envoy would
/// hold it: the revocation, network-list and risk-label snapshots (`vigil.revocation`,
/// `vigil.netlists`, `vigil.labels` — with the feed's source id when the policy has the feed —
/// plus `.v`, a version that grows with `serial`), rate-limit buckets (`vigil.rate.<limit>.<key>`) and the
/// caller's behaviour history (`vigil.bhv.<slot>`, see [`place_behavior`]), replacing what
/// earlier cases left.
pub fn apply_state(
    host: &super::Host,
    engine: &policy_core::Engine,
    case: &policy_core::testcase::Case,
    now: i64,
    serial: u64,
) -> Result<(), String> {
    let state = &case.state;
    place_behavior(host, engine, case, now)?;
    host.clear_shared_prefix("vigil.rate.");
    let mut doc = policy_core::json::Map::new();
    let strings = |set: &std::collections::BTreeSet<String>| {
        Value::Array(set.iter().map(|s| Value::from(s.as_str())).collect())
    };
    if let Some(r) = &state.revocation {
        doc.insert("jtis", strings(&r.jtis));
        doc.insert("sids", strings(&r.sids));
        let subjects = r
            .subjects
            .iter()
            .map(|s| {
                let mut m = policy_core::json::Map::new();
                m.insert("sub", Value::from(s.sub.as_str()));
                if let Some(iss) = &s.iss {
                    m.insert("iss", Value::from(iss.as_str()));
                }
                m.insert("notBefore", Value::from(s.not_before));
                Value::Object(m)
            })
            .collect();
        doc.insert("subjects", Value::Array(subjects));
    }
    let text = Value::Object(doc).to_json();
    // Where the filter reads each feed: named after the policy's feed source, if it has one.
    let plan = engine.plan();
    let key = |feed: Option<&policy_core::policy::Feed>, name: &str| {
        feed.map_or_else(|| format!("vigil.{name}"), |f| f.shared_key(name))
    };
    let feeds = [
        (key(plan.revocation_feed.as_ref(), "revocation"), text),
        (
            key(plan.network.feed.as_ref(), "netlists"),
            state
                .network_lists
                .clone()
                .unwrap_or_default()
                .to_value()
                .to_json(),
        ),
        (
            key(plan.risk_labels_feed.as_ref(), "labels"),
            state
                .risk_labels
                .clone()
                .unwrap_or_default()
                .to_value()
                .to_json(),
        ),
    ];
    for (key, text) in feeds {
        host.set_shared_data(&key, format!("{serial}\n{text}").as_bytes());
        host.set_shared_data(&format!("{key}.v"), serial.to_string().as_bytes());
    }
    if let Some(rate) = &state.rate {
        for (k, b) in rate.iter() {
            if k.key.len() > 64 || k.key.contains('\n') {
                return Err("a rate key longer than 64 bytes is stored hashed by the filter; not placed here".into());
            }
            host.set_shared_data(
                &format!("vigil.rate.{}.{}", k.limit, k.key),
                format!("{} {}", b.milli, b.updated).as_bytes(),
            );
        }
    }
    Ok(())
}

/// The caller's behaviour history that makes the filter compute a case's `state.behavior`
/// signals for its request: the caller (and its trusted country) are found by deciding the
/// request natively with an empty history; then
///
/// * no `behavior` (or nothing unusual): a known subject, quiet, in the same country —
///   `firstSeen` false, `requestsLastMinute` 1, `newCountry` false;
/// * `firstSeen: true`: no history;
/// * `requestsLastMinute: N`: N − 1 earlier requests in the current minute;
/// * `newCountry: true`: the last country differs from the request's (which must have a
///   trusted `network.country`).
///
/// A request without a caller (no verified token, no mTLS peer) gets no signals in the filter;
/// any other signal name is refused (the filter does not compute it).
pub fn place_behavior(
    host: &super::Host,
    engine: &policy_core::Engine,
    case: &policy_core::testcase::Case,
    now: i64,
) -> Result<(), String> {
    use policy_core::state::{behavior_slot, Behavior, BehaviorSnapshot, VELOCITY_WINDOW_SECONDS};
    host.clear_shared_prefix("vigil.bhv.");
    if !engine.plan().uses_behavior {
        return Ok(());
    }
    let empty = BehaviorSnapshot::default();
    let mut env = case.state.env(now);
    env.signals = None;
    env.behavior = Some(&empty);
    let Some(probe) = engine.decide(&case.request, &env).behavior else {
        return Ok(());
    };
    let country = probe.country.clone();
    let mut record = Some(Behavior {
        first_seen: now - 3600,
        last_seen: now - 1,
        window: now.div_euclid(VELOCITY_WINDOW_SECONDS) * VELOCITY_WINDOW_SECONDS,
        current: 0,
        previous: 0,
        country: country.clone(),
    });
    for (name, value) in case.state.signals.iter().flat_map(|s| s.iter()) {
        match (name, value) {
            ("firstSeen", "true") => record = None,
            ("firstSeen", "false") | ("newCountry", "false") => {}
            ("requestsLastMinute", n) => {
                let n: u32 = n
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or("`requestsLastMinute` must be a whole number from 1 (this request counts)")?;
                match record.as_mut() {
                    Some(r) => r.current = n - 1,
                    None if n == 1 => {}
                    None => return Err("`firstSeen: true` and `requestsLastMinute` above 1 contradict each other".into()),
                }
            }
            ("newCountry", "true") => {
                let c = country.as_deref().ok_or(
                    "`newCountry` needs a trusted country for the request (`network.countryHeader` from a `countryPrincipals` peer); the filter has none for this case",
                )?;
                if let Some(r) = record.as_mut() {
                    r.country = Some(if c == "ZZ" { "XX" } else { "ZZ" }.to_string());
                }
            }
            (other, v) => {
                return Err(format!(
                    "the filter does not compute `behavior.{other}` = `{v}` (it computes firstSeen, requestsLastMinute, newCountry)"
                ))
            }
        }
    }
    if let Some(r) = record {
        let (key, tag) = behavior_slot(&probe.subject);
        host.set_shared_data(&key, r.to_slot(&tag).as_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_a_check_request() {
        let mut req = CheckRequest::new("GET", "/a?b", "api.example.com").with_header("x-a", "1");
        req.scheme = Some("https".into());
        req.source.address = Some("::1".into());
        req.source.port = Some(5000);
        req.source.principal = Some("spiffe://cluster.local/ns/a/sa/b".into());
        req.destination.address = Some("10.0.0.2".into());
        req.destination.port = Some(8443);
        req.sni = Some("api.example.com".into());
        let p = to_proxy(&req);
        assert_eq!(p.headers.len(), 5);
        let prop = |path: &[&str]| {
            p.properties
                .iter()
                .find(|(k, _)| k == path)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(prop(&["source", "address"]), Some(b"[::1]:5000".to_vec()));
        assert_eq!(
            prop(&["destination", "address"]),
            Some(b"10.0.0.2:8443".to_vec())
        );
        assert_eq!(
            prop(&["destination", "port"]),
            Some(8443i64.to_le_bytes().to_vec())
        );
        assert_eq!(socket_address("a:b", None), "[a:b]");
    }

    #[test]
    fn decision_round_trip() {
        let mut d = Decision::new(Verdict::Deny, 403, "denied_by_policy", "no");
        d.response_headers.push(("x-a".into(), "1".into()));
        d.rule = Some(2);
        assert_eq!(decision_from_value(&d.to_value()).unwrap(), d);
        let logs = vec![LogEntry {
            level: 2,
            message: format!("{DECISION_PREFIX}{}", d.to_json()),
            context_id: 2,
        }];
        assert_eq!(decision_value(&logs).unwrap(), d.to_value());
        assert!(decision_value(&[]).is_err());
    }
}
