//! Deciding: the canonical request context and the authorization algorithm.
//!
//! Order (design §2.4), as [`crate::Engine`] runs it: revocation → rate limits → DENY
//! policies → resource requirements → trust score → ALLOW policies → default action (the Zero
//! Trust stages are in [`zt`]). AUDIT policies only mark the decision.
//!
//! Within a policy, rules are OR-ed; within a rule, `from`, `to` and `when` are AND-ed;
//! `from` and `to` entries are OR-ed; `when` conditions are AND-ed; within a source or
//! operation, every present field must match (Istio's semantics). A positive field
//! whose attribute is absent does not match; a `not*` field whose attribute is absent does.

pub mod cidr;
pub mod zt;

use crate::enforce::{bearer_challenge, Decision, Outcome};
use crate::extract::path::{canonical_host, canonicalize_method, canonicalize_path};
use crate::extract::request::CheckRequest;
use crate::json::{Map, Value};
use crate::policy::authz::{Action, AuthzPolicy, Condition, Key, Operation, Rule, Source, Values};
use crate::policy::index::PolicyIndex;
use crate::policy::matcher::MatchSet;
use crate::policy::resource::Resource;
use crate::policy::{Mode, Plan};
use crate::state::Signals;
use alloc::borrow::{Cow, ToOwned};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::IpAddr;

/// What the authenticator established about the caller, as the evaluator sees it.
#[derive(Debug, Clone, Copy)]
pub struct AuthView<'a> {
    /// `iss/sub`.
    pub principal: &'a str,
    /// The token's audiences.
    pub audiences: &'a [String],
    /// `azp`, if present.
    pub presenter: Option<&'a str>,
    /// Every claim.
    pub claims: &'a Map,
    /// Claims (besides `scope` and `permission`) whose string value is a space-delimited list
    /// (the rule's `spaceDelimitedClaims`).
    pub space_delimited: &'a [String],
}

/// The request in canonical form, computed once and matched against every rule.
#[derive(Debug, Clone)]
pub struct Ctx<'a> {
    /// The original request.
    pub req: &'a CheckRequest,
    /// Validated method.
    pub method: &'a str,
    /// Canonical path (no query).
    pub path: String,
    /// Lower-case host without port (borrowed from the request when it is already so).
    pub host: Cow<'a, str>,
    /// Direct peer address.
    pub source_ip: Option<IpAddr>,
    /// Original client address (X-Forwarded-For with trusted hops), else the peer.
    pub remote_ip: Option<IpAddr>,
    /// Local address.
    pub destination_ip: Option<IpAddr>,
    /// Local port.
    pub destination_port: Option<u16>,
    /// Peer principal without `spiffe://`.
    pub peer: Option<&'a str>,
    /// Peer namespace, from `…/ns/NS/…`.
    pub namespace: Option<&'a str>,
    /// Peer service account as `NS/SA`.
    pub service_account: Option<String>,
    /// TLS SNI, lower-case.
    pub sni: Option<String>,
    /// Whether any token was presented (valid or not).
    pub token_present: bool,
    /// The verified caller, if any.
    pub auth: Option<AuthView<'a>>,
    /// The matched `resources` item (first match wins).
    pub resource: Option<&'a Resource>,
    /// Claims of the verified device-attestation token.
    pub device_claims: Option<&'a Map>,
    /// `devicePosture.headerPrefix` when the peer is a posture agent (its posture headers are
    /// believed), else `None`.
    pub posture_prefix: Option<&'a str>,
    /// The country from `network.countryHeader`, when set by a country principal.
    pub country: Option<&'a str>,
    /// `network.lists` the client address is in.
    pub lists: Vec<&'a str>,
    /// `subject.labels`: the risk labels of the verified subject, its session and its peer.
    pub labels: Vec<&'a str>,
    /// Behaviour signals from the adapter.
    pub signals: Option<&'a Signals>,
    /// `time.hour` and `time.weekday`.
    pub local_time: (u8, &'static str),
    /// The token's `acr` as an index in `acrLevels` (`None`: absent or not a known level).
    pub acr: Option<usize>,
}

/// Why a request could not be put in canonical form (answered with 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Stable code (`encoded_slash`, `bad_method`, ...).
    pub code: &'static str,
    /// Lower-case explanation quoting the input.
    pub reason: String,
}

impl Rejection {
    /// The 400 decision for this rejection.
    pub fn decision(&self) -> Decision {
        Decision::new(Outcome::Deny, 400, self.code, self.reason.clone())
    }
}

fn bad_request(code: &'static str, reason: String) -> Rejection {
    Rejection { code, reason }
}

impl<'a> Ctx<'a> {
    /// Canonicalises `req` under `plan`'s settings.
    pub fn new(plan: &'a Plan, req: &'a CheckRequest) -> Result<Ctx<'a>, Rejection> {
        let method =
            canonicalize_method(&req.method).map_err(|e| bad_request(e.code(), e.to_string()))?;
        let path = canonicalize_path(&req.path, plan.path_normalization)
            .map_err(|e| bad_request(e.code(), e.to_string()))?
            .path;
        let mut hosts = req.header_values("host");
        let header_host = match (hosts.next(), hosts.next()) {
            (h, None) => h,
            (_, Some(_)) => {
                return Err(bad_request(
                    "bad_host",
                    "more than one `host` header".into(),
                ))
            }
        };
        let canon =
            |h: &'a str| canonical_host(h).map_err(|e| bad_request(e.code(), e.to_string()));
        let host = match (req.host.is_empty(), header_host) {
            (true, Some(h)) => canon(h)?,
            (true, None) => Cow::Borrowed(""),
            (false, None) => canon(&req.host)?,
            (false, Some(h)) => {
                // RFC 9113 §8.3.1: `:authority` and `host` must agree.
                let (a, b) = (canon(&req.host)?, canon(h)?);
                if a != b {
                    return Err(bad_request(
                        "bad_host",
                        format!("`:authority` `{}` and `host` `{h}` disagree", req.host),
                    ));
                }
                a
            }
        };
        let source_ip = req.source.address.as_deref().and_then(cidr::parse_ip);
        let remote_ip = remote_ip(req, source_ip, plan.num_trusted_proxies);
        let peer = req
            .source
            .principal
            .as_deref()
            .map(|p| p.strip_prefix("spiffe://").unwrap_or(p));
        let namespace = peer.and_then(|p| segment_after(p, "ns"));
        let service_account = match (namespace, peer.and_then(|p| segment_after(p, "sa"))) {
            (Some(ns), Some(sa)) => Some(format!("{ns}/{sa}")),
            _ => None,
        };
        let resource = plan.resource(&host, method, &path);
        let peer_in = |set: &MatchSet| peer.is_some_and(|p| !set.is_empty() && set.matches(p));
        let posture_prefix = peer_in(&plan.device_posture.agents)
            .then_some(plan.device_posture.header_prefix.as_str());
        let country = match &plan.network.country_header {
            Some(h) if peer_in(&plan.network.country_principals) => {
                let mut it = req.header_values(h);
                match (it.next(), it.next()) {
                    (Some(v), None) if !v.is_empty() => Some(v),
                    _ => None,
                }
            }
            _ => None,
        };
        let lists = plan
            .network
            .lists
            .iter()
            .filter(|(_, set)| remote_ip.is_some_and(|ip| set.contains(ip)))
            .map(|(n, _)| n.as_str())
            .collect();
        Ok(Ctx {
            req,
            method,
            path,
            host,
            source_ip,
            remote_ip,
            destination_ip: req.destination.address.as_deref().and_then(cidr::parse_ip),
            destination_port: req.destination.port,
            peer,
            namespace,
            service_account,
            sni: req.sni.as_ref().map(|s| s.to_ascii_lowercase()),
            token_present: false,
            auth: None,
            resource,
            device_claims: None,
            posture_prefix,
            country,
            lists,
            labels: Vec::new(),
            signals: None,
            local_time: (0, "thu"),
            acr: None,
        })
    }
}

/// `…/ns/NAME/…` → `NAME`.
pub(crate) fn segment_after<'s>(principal: &'s str, label: &str) -> Option<&'s str> {
    let mut it = principal.split('/');
    while let Some(seg) = it.next() {
        if seg == label {
            return it.next().filter(|s| !s.is_empty());
        }
    }
    None
}

/// Envoy's `xff_num_trusted_hops`: with N trusted proxies, the client is the Nth address from
/// the right of `X-Forwarded-For`; with fewer entries (or a malformed one), the direct peer.
fn remote_ip(req: &CheckRequest, source: Option<IpAddr>, trusted: u8) -> Option<IpAddr> {
    if trusted == 0 {
        return source;
    }
    let entries: Vec<&str> = req
        .header_values("x-forwarded-for")
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let n = usize::from(trusted);
    if entries.len() < n {
        return source;
    }
    entries
        .get(entries.len() - n)
        .and_then(|e| cidr::parse_ip(e))
        .or(source)
}

/// One step of an explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// `request`, `authenticate`, `deny`, `allow`, `audit` or `default`.
    pub stage: &'static str,
    /// The policy considered, if any.
    pub policy: Option<String>,
    /// The rule considered, if any.
    pub rule: Option<usize>,
    /// Whether it matched.
    pub matched: bool,
    /// What was found (lower case).
    pub detail: String,
}

impl Step {
    /// The JSON form: `{"stage", "policy", "rule", "matched", "detail"}` (what `vigil explain
    /// --json` and the JS module's `explain` print).
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("stage", Value::from(self.stage));
        m.insert(
            "policy",
            self.policy.as_deref().map_or(Value::Null, Value::from),
        );
        m.insert(
            "rule",
            self.rule
                .and_then(|r| i64::try_from(r).ok())
                .map_or(Value::Null, Value::from),
        );
        m.insert("matched", Value::Bool(self.matched));
        m.insert("detail", Value::from(self.detail.as_str()));
        Value::Object(m)
    }
}

/// Which part of a rule failed to match, for explanations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Miss {
    /// `from`, `to` or `when`.
    pub clause: &'static str,
    /// Index in that clause (for `from`/`to` the last entry tried).
    pub index: usize,
    /// The field that failed (`principals`, `notPaths`, `values`, ...).
    pub field: &'static str,
}

fn check(ok: bool, field: &'static str) -> Result<(), &'static str> {
    if ok {
        Ok(())
    } else {
        Err(field)
    }
}

/// positive list: attribute must be present and match; empty list: no constraint.
fn pos(set: &MatchSet, v: Option<&str>) -> bool {
    set.is_empty() || v.is_some_and(|v| set.matches(v))
}

/// negative list: attribute absent, or matching none.
fn neg(set: &MatchSet, v: Option<&str>) -> bool {
    set.is_empty() || !v.is_some_and(|v| set.matches(v))
}

fn source_matches(s: &Source, c: &Ctx<'_>) -> Result<(), &'static str> {
    let rp = c.auth.map(|a| a.principal);
    let sa = c.service_account.as_deref();
    check(pos(&s.principals, c.peer), "principals")?;
    check(neg(&s.not_principals, c.peer), "notPrincipals")?;
    check(pos(&s.request_principals, rp), "requestPrincipals")?;
    check(neg(&s.not_request_principals, rp), "notRequestPrincipals")?;
    check(pos(&s.namespaces, c.namespace), "namespaces")?;
    check(neg(&s.not_namespaces, c.namespace), "notNamespaces")?;
    check(pos(&s.service_accounts, sa), "serviceAccounts")?;
    check(neg(&s.not_service_accounts, sa), "notServiceAccounts")?;
    let ip_in = |set: &crate::policy::matcher::IpSet, ip: Option<IpAddr>| {
        ip.is_some_and(|ip| set.contains(ip))
    };
    check(
        s.ip_blocks.is_empty() || ip_in(&s.ip_blocks, c.source_ip),
        "ipBlocks",
    )?;
    check(
        s.not_ip_blocks.is_empty() || !ip_in(&s.not_ip_blocks, c.source_ip),
        "notIpBlocks",
    )?;
    check(
        s.remote_ip_blocks.is_empty() || ip_in(&s.remote_ip_blocks, c.remote_ip),
        "remoteIpBlocks",
    )?;
    check(
        s.not_remote_ip_blocks.is_empty() || !ip_in(&s.not_remote_ip_blocks, c.remote_ip),
        "notRemoteIpBlocks",
    )
}

fn operation_matches(o: &Operation, c: &Ctx<'_>) -> Result<(), &'static str> {
    check(pos(&o.hosts, Some(&*c.host)), "hosts")?;
    check(neg(&o.not_hosts, Some(&*c.host)), "notHosts")?;
    let port = c.destination_port;
    check(
        o.ports.is_empty() || port.is_some_and(|p| o.ports.contains(p)),
        "ports",
    )?;
    check(
        o.not_ports.is_empty() || !port.is_some_and(|p| o.not_ports.contains(p)),
        "notPorts",
    )?;
    check(pos(&o.methods, Some(c.method)), "methods")?;
    check(neg(&o.not_methods, Some(c.method)), "notMethods")?;
    check(pos(&o.paths, Some(&c.path)), "paths")?;
    check(neg(&o.not_paths, Some(&c.path)), "notPaths")
}

/// The string values of an attribute (several for multi-valued headers, claim arrays and
/// audiences). Non-string scalars in claims match by their JSON text (`true`, `42`).
pub fn attribute_values(key: &Key, c: &Ctx<'_>) -> Vec<String> {
    let mut out = Vec::new();
    any_value(key, c, &mut |v| {
        out.push(v.to_owned());
        false
    });
    out
}

/// True when `f` holds for any string value of the attribute (visited in the order
/// [`attribute_values`] lists them, stopping at the first that holds). Allocates only to
/// render a number or an IP address.
pub fn any_value(key: &Key, c: &Ctx<'_>, f: &mut dyn FnMut(&str) -> bool) -> bool {
    match key {
        Key::Header(name) => c.req.header_values(name).any(f),
        Key::SourceIp => c.req.source.address.as_deref().is_some_and(f),
        Key::RemoteIp => c.remote_ip.is_some_and(|ip| f(&ip.to_string())),
        Key::DestinationIp => c.req.destination.address.as_deref().is_some_and(f),
        Key::DestinationPort => c.destination_port.is_some_and(|p| f(&p.to_string())),
        Key::SourceNamespace => c.namespace.is_some_and(f),
        Key::SourcePrincipal => c.peer.is_some_and(f),
        Key::SourceServiceAccount => c.service_account.as_deref().is_some_and(f),
        Key::Sni => c.sni.as_deref().is_some_and(f),
        Key::AuthPrincipal => c.auth.is_some_and(|a| f(a.principal)),
        Key::AuthAudiences => c
            .auth
            .is_some_and(|a| a.audiences.iter().any(|x| f(x.as_str()))),
        Key::AuthPresenter => c.auth.and_then(|a| a.presenter).is_some_and(f),
        Key::AuthClaim(path) => {
            let Some(a) = c.auth else { return false };
            let mut segs = path.iter();
            let mut v = segs.next().and_then(|first| a.claims.get(first));
            for seg in segs {
                v = v.and_then(|x| x.get(seg));
            }
            // Istio (1.21+): `scope` and `permission`, and the rule's `spaceDelimitedClaims`,
            // are space-delimited lists when they are strings: match each item.
            match v {
                Some(Value::String(s))
                    if dotted_is(path, "scope")
                        || dotted_is(path, "permission")
                        || a.space_delimited.iter().any(|n| dotted_is(path, n)) =>
                {
                    s.split(' ').filter(|x| !x.is_empty()).any(f)
                }
                _ => any_claim_text(v, f),
            }
        }
        Key::ResourceName => c.resource.is_some_and(|r| f(&r.name)),
        Key::ResourceClassification => c.resource.is_some_and(|r| f(&r.classification)),
        Key::Device(name) => match c.device_claims {
            Some(claims) => any_claim_text(claims.get(name), f),
            None => match c.posture_prefix {
                Some(prefix) => {
                    let header = format!("{prefix}{}", name.to_ascii_lowercase());
                    let found = c.req.header_values(&header).any(f);
                    found
                }
                None => false,
            },
        },
        Key::NetworkList(name) => f(if c.lists.iter().any(|l| l == name) {
            "true"
        } else {
            "false"
        }),
        Key::NetworkCountry => c.country.is_some_and(f),
        Key::SubjectLabels => c.labels.iter().any(|l| f(l)),
        Key::Behavior(name) => c.signals.and_then(|s| s.get(name)).is_some_and(f),
        Key::TimeHour => f(HOURS
            .get(usize::from(c.local_time.0))
            .copied()
            .unwrap_or("")),
        Key::TimeWeekday => f(c.local_time.1),
    }
}

const HOURS: [&str; 24] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
    "17", "18", "19", "20", "21", "22", "23",
];

/// True when the claim path joined with `.` is `name` (without building the joined string).
fn dotted_is(path: &[String], name: &str) -> bool {
    let mut rest = name;
    for (i, seg) in path.iter().enumerate() {
        if i > 0 {
            match rest.strip_prefix('.') {
                Some(r) => rest = r,
                None => return false,
            }
        }
        match rest.strip_prefix(seg.as_str()) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

fn any_claim_text(v: Option<&Value>, f: &mut dyn FnMut(&str) -> bool) -> bool {
    match v {
        Some(Value::Array(items)) => items.iter().any(|x| scalar_text(x, f)),
        Some(other) => scalar_text(other, f),
        None => false,
    }
}

fn scalar_text(v: &Value, f: &mut dyn FnMut(&str) -> bool) -> bool {
    match v {
        Value::String(s) => f(s),
        Value::Bool(b) => f(if *b { "true" } else { "false" }),
        Value::Number(_) => f(&v.to_json()),
        _ => false,
    }
}

pub(crate) fn value_matches(values: &Values, v: &str) -> bool {
    match values {
        Values::Strings(set) => set.matches(v),
        Values::Ips(set) => set.contains_str(v),
        Values::Ports(set) => v.parse::<u16>().is_ok_and(|p| set.contains(p)),
        Values::Scalars(set, ranges) => {
            set.matches(v)
                || v.parse::<i64>()
                    .is_ok_and(|n| ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&n)))
        }
    }
}

fn condition_matches(cond: &Condition, c: &Ctx<'_>) -> Result<(), &'static str> {
    // `connection.sni` is lower-case in the context already, as are `hosts` in a MatchSet.
    check(
        cond.values.is_empty() || any_value(&cond.key, c, &mut |v| value_matches(&cond.values, v)),
        "values",
    )?;
    check(
        cond.not_values.is_empty()
            || !any_value(&cond.key, c, &mut |v| value_matches(&cond.not_values, v)),
        "notValues",
    )
}

/// Matches one rule; on a miss says which clause failed.
pub fn rule_matches(rule: &Rule, c: &Ctx<'_>) -> Result<(), Miss> {
    if !rule.from.is_empty() {
        let mut last = Miss {
            clause: "from",
            index: 0,
            field: "",
        };
        if !rule
            .from
            .iter()
            .enumerate()
            .any(|(i, s)| match source_matches(s, c) {
                Ok(()) => true,
                Err(field) => {
                    last = Miss {
                        clause: "from",
                        index: i,
                        field,
                    };
                    false
                }
            })
        {
            return Err(last);
        }
    }
    if !rule.to.is_empty() {
        let mut last = Miss {
            clause: "to",
            index: 0,
            field: "",
        };
        if !rule
            .to
            .iter()
            .enumerate()
            .any(|(i, o)| match operation_matches(o, c) {
                Ok(()) => true,
                Err(field) => {
                    last = Miss {
                        clause: "to",
                        index: i,
                        field,
                    };
                    false
                }
            })
        {
            return Err(last);
        }
    }
    for (i, cond) in rule.when.iter().enumerate() {
        condition_matches(cond, c).map_err(|field| Miss {
            clause: "when",
            index: i,
            field,
        })?;
    }
    Ok(())
}

/// True when the rule reads the verified token (so a miss may be for lack of one).
fn rule_reads_auth(rule: &Rule) -> bool {
    rule.from
        .iter()
        .any(|s| !s.request_principals.is_empty() || !s.not_request_principals.is_empty())
        || rule.when.iter().any(|c| c.key.is_auth())
}

/// The first rule of `p` that matches.
fn policy_match(
    p: &AuthzPolicy,
    c: &Ctx<'_>,
    trace: &mut Option<&mut Vec<Step>>,
    stage: &'static str,
) -> Option<usize> {
    for (i, rule) in p.rules.iter().enumerate() {
        let r = rule_matches(rule, c);
        if let Some(t) = trace.as_deref_mut() {
            t.push(Step {
                stage,
                policy: Some(p.name.clone()),
                rule: Some(i),
                matched: r.is_ok(),
                detail: match r {
                    Ok(()) => "every clause matched".into(),
                    Err(m) => describe_miss(rule, m, c),
                },
            });
        }
        if r.is_ok() {
            return Some(i);
        }
    }
    if p.rules.is_empty() {
        if let Some(t) = trace.as_deref_mut() {
            t.push(Step {
                stage,
                policy: Some(p.name.clone()),
                rule: None,
                matched: false,
                detail: "policy has no rules and matches nothing".into(),
            });
        }
    }
    None
}

fn describe_miss(rule: &Rule, m: Miss, c: &Ctx<'_>) -> String {
    let actual: String = match (m.clause, m.field) {
        ("from", "principals" | "notPrincipals") => shown(c.peer),
        ("from", "requestPrincipals" | "notRequestPrincipals") => {
            shown(c.auth.map(|a| a.principal))
        }
        ("from", "namespaces" | "notNamespaces") => shown(c.namespace),
        ("from", "serviceAccounts" | "notServiceAccounts") => shown(c.service_account.as_deref()),
        ("from", "ipBlocks" | "notIpBlocks") => shown(c.req.source.address.as_deref()),
        ("from", _) => shown(c.remote_ip.map(|i| i.to_string()).as_deref()),
        ("to", "hosts" | "notHosts") => shown(Some(&*c.host)),
        ("to", "ports" | "notPorts") => shown(c.destination_port.map(|p| p.to_string()).as_deref()),
        ("to", "methods" | "notMethods") => shown(Some(c.method)),
        ("to", _) => shown(Some(&c.path)),
        _ => {
            let key = rule.when.get(m.index);
            let vals = key.map(|k| attribute_values(&k.key, c)).unwrap_or_default();
            let key_text = key.map(|k| k.key_text.as_str()).unwrap_or("");
            if vals.is_empty() {
                return format!(
                    "when[{}] `{key_text}` {}: the attribute is absent",
                    m.index, m.field
                );
            }
            let list: Vec<String> = vals.iter().map(|v| format!("`{v}`")).collect();
            return format!(
                "when[{}] `{key_text}` {} did not hold for {}",
                m.index,
                m.field,
                list.join(", ")
            );
        }
    };
    let part = if m.clause == "from" {
        "source"
    } else {
        "operation"
    };
    format!(
        "{}[{}].{part}.{} did not match {actual}",
        m.clause, m.index, m.field
    )
}

fn shown(v: Option<&str>) -> String {
    match v {
        Some(s) => format!("`{s}`"),
        None => "(absent)".into(),
    }
}

/// Authorizes a canonical request with policies only: DENY → ALLOW → default, AUDIT marks.
/// The caller has already handled authentication failures. [`crate::Engine`] runs the full
/// order, with the Zero Trust stages between DENY and ALLOW.
pub fn authorize(plan: &Plan, c: &Ctx<'_>, mut trace: Option<&mut Vec<Step>>) -> Decision {
    let mut d =
        deny_policies(plan, c, &mut trace).unwrap_or_else(|| allow_policies(plan, c, &mut trace));
    finish(plan, c, &mut d, &mut trace);
    d
}

/// The policies of `list` that can match `c`, in document order (all of them when
/// explaining). `indexes` is indexed by position in `list`.
fn considered<'p>(
    list: &'p [AuthzPolicy],
    index: &'p PolicyIndex,
    c: &Ctx<'_>,
    explaining: bool,
) -> impl Iterator<Item = &'p AuthzPolicy> + use<'p> {
    index
        .candidates(c.auth.map(|a| a.principal), explaining)
        .filter_map(move |i| list.get(i))
}

/// The DENY stage: the first DENY policy that matches decides.
pub fn deny_policies(
    plan: &Plan,
    c: &Ctx<'_>,
    trace: &mut Option<&mut Vec<Step>>,
) -> Option<Decision> {
    for p in considered(&plan.deny, &plan.indexes[0], c, trace.is_some()) {
        if let Some(i) = policy_match(p, c, trace, "deny") {
            let needs_auth = c.auth.is_none()
                && plan.auth.has_user_rules()
                && p.rules.get(i).is_some_and(rule_reads_auth);
            let mut d = if needs_auth {
                unauthenticated(
                    plan,
                    c,
                    format!("authentication required by policy `{}`", p.name),
                )
            } else {
                let reason = p
                    .reason
                    .clone()
                    .unwrap_or_else(|| format!("denied by policy `{}`", p.name));
                Decision::new(Outcome::Deny, 403, "denied_by_policy", reason)
            };
            d.policy = Some(p.name.clone());
            d.rule = Some(i);
            return Some(d);
        }
    }
    None
}

/// The ALLOW stage and the default action.
pub fn allow_policies(plan: &Plan, c: &Ctx<'_>, trace: &mut Option<&mut Vec<Step>>) -> Decision {
    for p in considered(&plan.allow, &plan.indexes[1], c, trace.is_some()) {
        if let Some(i) = policy_match(p, c, trace, "allow") {
            // Built without the formatting machinery: the reason of every allowed request.
            let mut reason = String::with_capacity(p.name.len() + 20);
            reason.push_str("allowed by policy `");
            reason.push_str(&p.name);
            reason.push('`');
            let mut d = Decision::new(Outcome::Allow, 200, "allowed_by_policy", reason);
            d.policy = Some(p.name.clone());
            d.rule = Some(i);
            return d;
        }
    }
    let d = match plan.default_action {
        Action::Allow => Decision::new(
            Outcome::Allow,
            200,
            "default_allow",
            "no policy matched; the default action is ALLOW",
        ),
        _ if c.auth.is_none() && !c.token_present && plan.auth.has_user_rules() => {
            unauthenticated(plan, c, "authentication required".into())
        }
        _ => Decision::new(
            Outcome::Deny,
            403,
            "no_matching_policy",
            "no ALLOW policy matched",
        ),
    };
    if let Some(t) = trace.as_deref_mut() {
        t.push(Step {
            stage: "default",
            policy: None,
            rule: None,
            matched: true,
            detail: d.reason.clone(),
        });
    }
    d
}

/// AUDIT marks, the principal and the dry-run flag: what every decision after
/// authentication carries.
pub fn finish(plan: &Plan, c: &Ctx<'_>, d: &mut Decision, trace: &mut Option<&mut Vec<Step>>) {
    for p in considered(&plan.audit, &plan.indexes[2], c, trace.is_some()) {
        if policy_match(p, c, trace, "audit").is_some() {
            d.audit.push(p.name.clone());
        }
    }
    d.principal = c.auth.map(|a| a.principal.to_string());
    d.dry_run = plan.mode == Mode::DryRun;
}

/// 401 with an RFC 6750 challenge and no error code: no token was sent.
pub fn unauthenticated(plan: &Plan, _c: &Ctx<'_>, reason: String) -> Decision {
    let mut d = Decision::new(Outcome::Unauthenticated, 401, "missing_token", reason);
    d.response_headers
        .push(("www-authenticate".into(), bearer_challenge(&plan.realm)));
    d
}
