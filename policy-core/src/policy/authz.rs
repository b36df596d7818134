//! `authorizationPolicies`: Istio `AuthorizationPolicy` specs, read and compiled.
//!
//! Each item is either a bare spec with a `name` (`{"name", "action", "rules"}`) or a whole
//! Kubernetes object as an Istio user has it (`{"apiVersion", "kind": "AuthorizationPolicy",
//! "metadata": {"name"}, "spec": {...}}`). `selector`, `targetRef` and `targetRefs` are
//! accepted and ignored: where the module runs decides what it protects.

use crate::error::{ErrorCode, PolicyError};
use crate::json::Value;
use crate::policy::matcher::{IpSet, MatchSet, PortSet, ValueKind};
use crate::policy::read::{join, quote_str, Obj};
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// What a matching policy does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Allow the request (evaluated after every DENY policy).
    Allow,
    /// Deny the request (evaluated first).
    Deny,
    /// Mark the decision for auditing; never changes it.
    Audit,
}

impl Action {
    /// The action as written in policies.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "ALLOW",
            Action::Deny => "DENY",
            Action::Audit => "AUDIT",
        }
    }
}

/// One compiled authorization policy.
#[derive(Debug, Clone)]
pub struct AuthzPolicy {
    /// Its name (unique in the document).
    pub name: String,
    /// ALLOW, DENY or AUDIT.
    pub action: Action,
    /// Rules; the policy matches when any rule matches. No rules: matches nothing.
    pub rules: Vec<Rule>,
    /// Extension: the reason reported when this policy denies.
    pub reason: Option<String>,
    /// JSON path of the policy, for lints.
    pub path: String,
}

/// One rule: every present part must match.
#[derive(Debug, Clone, Default)]
pub struct Rule {
    /// Sources; any may match. Empty: any source.
    pub from: Vec<Source>,
    /// Operations; any may match. Empty: any operation.
    pub to: Vec<Operation>,
    /// Conditions; all must hold.
    pub when: Vec<Condition>,
}

/// `from[].source`: every present field must match.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// mTLS peer identities (`cluster.local/ns/NS/sa/SA`).
    pub principals: MatchSet,
    /// Negated `principals`.
    pub not_principals: MatchSet,
    /// Token identities (`iss/sub`).
    pub request_principals: MatchSet,
    /// Negated `requestPrincipals`.
    pub not_request_principals: MatchSet,
    /// Peer namespaces (from the peer principal).
    pub namespaces: MatchSet,
    /// Negated `namespaces`.
    pub not_namespaces: MatchSet,
    /// Peer service accounts as `NS/SA` (Istio 1.23+).
    pub service_accounts: MatchSet,
    /// Negated `serviceAccounts`.
    pub not_service_accounts: MatchSet,
    /// Direct peer address blocks.
    pub ip_blocks: IpSet,
    /// Negated `ipBlocks`.
    pub not_ip_blocks: IpSet,
    /// Original client address blocks (X-Forwarded-For with trusted hops).
    pub remote_ip_blocks: IpSet,
    /// Negated `remoteIpBlocks`.
    pub not_remote_ip_blocks: IpSet,
}

/// `to[].operation`: every present field must match.
#[derive(Debug, Clone, Default)]
pub struct Operation {
    /// Hosts, case-insensitive, without port.
    pub hosts: MatchSet,
    /// Negated `hosts`.
    pub not_hosts: MatchSet,
    /// Destination ports.
    pub ports: PortSet,
    /// Negated `ports`.
    pub not_ports: PortSet,
    /// Methods.
    pub methods: MatchSet,
    /// Negated `methods`.
    pub not_methods: MatchSet,
    /// Canonical paths.
    pub paths: MatchSet,
    /// Negated `paths`.
    pub not_paths: MatchSet,
}

/// An attribute a `when` condition reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// `request.headers[name]` (lower-case name).
    Header(String),
    /// `source.ip`: the direct peer address.
    SourceIp,
    /// `remote.ip`: the original client address.
    RemoteIp,
    /// `source.namespace`.
    SourceNamespace,
    /// `source.principal`.
    SourcePrincipal,
    /// `source.serviceAccount` (`NS/SA`).
    SourceServiceAccount,
    /// `request.auth.principal` (`iss/sub`).
    AuthPrincipal,
    /// `request.auth.audiences`.
    AuthAudiences,
    /// `request.auth.presenter` (`azp`).
    AuthPresenter,
    /// `request.auth.claims[a][b]...`.
    AuthClaim(Vec<String>),
    /// `destination.ip`.
    DestinationIp,
    /// `destination.port`.
    DestinationPort,
    /// `connection.sni`.
    Sni,
    /// `resource.name`: the matched `resources` item.
    ResourceName,
    /// `resource.classification`.
    ResourceClassification,
    /// `device.NAME`: a claim of the verified device token, else a posture header from a
    /// posture agent.
    Device(String),
    /// `network.list[NAME]`: `true` when the client address is in the named list, else
    /// `false`.
    NetworkList(String),
    /// `network.country`: the edge's country header, believed only from a country principal.
    NetworkCountry,
    /// `subject.labels`: risk labels of the verified subject, its session or its mTLS peer
    /// (`riskLabels`, inline or from a feed).
    SubjectLabels,
    /// `behavior.NAME`: a signal the adapter computed.
    Behavior(String),
    /// `time.hour`: 0–23 in `utcOffsetMinutes`.
    TimeHour,
    /// `time.weekday`: `mon` … `sun` in `utcOffsetMinutes`.
    TimeWeekday,
}

impl Key {
    /// True for keys whose values are CIDR blocks.
    pub fn is_ip(&self) -> bool {
        matches!(self, Key::SourceIp | Key::RemoteIp | Key::DestinationIp)
    }
    /// True for keys whose values may be numeric comparisons (`>=100`, `22-23`).
    pub fn is_numeric(&self) -> bool {
        matches!(self, Key::Behavior(_) | Key::TimeHour)
    }
    /// True for keys that read the verified token.
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            Key::AuthPrincipal | Key::AuthAudiences | Key::AuthPresenter | Key::AuthClaim(_)
        )
    }
}

/// Values a condition compares with, compiled for its key.
#[derive(Debug, Clone)]
pub enum Values {
    /// String patterns.
    Strings(MatchSet),
    /// CIDR blocks.
    Ips(IpSet),
    /// Ports.
    Ports(PortSet),
    /// String patterns and inclusive numeric ranges (`behavior.*`, `time.hour`).
    Scalars(MatchSet, Vec<(i64, i64)>),
}

/// Reads `>=N`, `>N`, `<=N`, `<N` or `A-B` as an inclusive range; `None` for anything else.
pub fn numeric_range(v: &str) -> Option<(i64, i64)> {
    let num = |s: &str| -> Option<i64> {
        let digits = s.strip_prefix('-').unwrap_or(s);
        if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    if let Some(n) = v.strip_prefix(">=") {
        return Some((num(n)?, i64::MAX));
    }
    if let Some(n) = v.strip_prefix("<=") {
        return Some((i64::MIN, num(n)?));
    }
    if let Some(n) = v.strip_prefix('>') {
        return Some((num(n)?.checked_add(1)?, i64::MAX));
    }
    if let Some(n) = v.strip_prefix('<') {
        return Some((i64::MIN, num(n)?.checked_sub(1)?));
    }
    let (a, b) = v.split_once('-')?;
    let (a, b) = (num(a)?, num(b)?);
    (a <= b && !v.starts_with('-')).then_some((a, b))
}

impl Values {
    /// True when no values were given.
    pub fn is_empty(&self) -> bool {
        match self {
            Values::Strings(s) => s.is_empty(),
            Values::Ips(s) => s.is_empty(),
            Values::Ports(s) => s.is_empty(),
            Values::Scalars(s, r) => s.is_empty() && r.is_empty(),
        }
    }
}

/// `when[]`: holds when the key's value is in `values` (if given) and not in `notValues`.
#[derive(Debug, Clone)]
pub struct Condition {
    /// The key as written.
    pub key_text: String,
    /// The parsed key.
    pub key: Key,
    /// `values`.
    pub values: Values,
    /// `notValues`.
    pub not_values: Values,
}

/// Reads every item of `authorizationPolicies`.
pub fn parse_policies(items: &[(String, &Value)]) -> Result<Vec<AuthzPolicy>, PolicyError> {
    let mut out: Vec<AuthzPolicy> = Vec::with_capacity(items.len());
    // A set, not a scan of `out`: policies with 100,000 items must configure in linear time.
    let mut names: BTreeSet<String> = BTreeSet::new();
    for (path, v) in items {
        let p = parse_policy(v, path)?;
        if !names.insert(p.name.clone()) {
            return Err(PolicyError::new(
                ErrorCode::Invalid,
                join(path, "name"),
                format!("duplicate policy name {}", quote_str(&p.name)),
            ));
        }
        out.push(p);
    }
    Ok(out)
}

fn parse_policy(v: &Value, path: &str) -> Result<AuthzPolicy, PolicyError> {
    let top = Obj::new(v, path)?;
    // A whole Kubernetes object: name from metadata, the rest from spec.
    if top.has("spec") || top.has("kind") || top.has("apiVersion") {
        top.deny_unknown(&["apiVersion", "kind", "metadata", "spec"])?;
        if let Some(kind) = top.str("kind")? {
            if kind != "AuthorizationPolicy" {
                return Err(PolicyError::new(
                    ErrorCode::Invalid,
                    top.at("kind"),
                    format!("expected `AuthorizationPolicy`, found {}", quote_str(kind)),
                ));
            }
        }
        let meta = top
            .obj("metadata")?
            .ok_or_else(|| top.missing("metadata"))?;
        let name = meta.req_str("name")?;
        let spec = match top.raw("spec") {
            Some(s) => Obj::new(s, &top.at("spec"))?,
            None => return Err(top.missing("spec")),
        };
        return parse_spec(&spec, name, path);
    }
    let name = top.req_str("name")?;
    parse_spec(&top, name, path)
}

fn parse_spec(o: &Obj<'_>, name: &str, path: &str) -> Result<AuthzPolicy, PolicyError> {
    o.deny_unknown(&[
        "name",
        "action",
        "rules",
        "selector",
        "targetRef",
        "targetRefs",
        "provider",
        "reason",
    ])?;
    if name.is_empty() {
        return Err(PolicyError::new(
            ErrorCode::Invalid,
            o.at("name"),
            "policy name must not be empty",
        ));
    }
    let action = match o.str("action")? {
        None | Some("ALLOW") => Action::Allow,
        Some("DENY") => Action::Deny,
        Some("AUDIT") => Action::Audit,
        Some("CUSTOM") => return Err(PolicyError::new(
            ErrorCode::Unsupported,
            o.at("action"),
            "action `CUSTOM` (an external authorizer) is not supported; Vigil is the authorizer",
        )),
        Some(other) => {
            return Err(PolicyError::new(
                ErrorCode::Invalid,
                o.at("action"),
                format!(
                    "expected `ALLOW`, `DENY` or `AUDIT`, found {}",
                    quote_str(other)
                ),
            ))
        }
    };
    if o.has("provider") {
        return Err(PolicyError::new(
            ErrorCode::Unsupported,
            o.at("provider"),
            "`provider` goes with action `CUSTOM`, which is not supported",
        ));
    }
    let mut rules = Vec::new();
    for (rpath, rv) in o.array("rules")? {
        rules.push(parse_rule(rv, &rpath)?);
    }
    Ok(AuthzPolicy {
        name: name.to_string(),
        action,
        rules,
        reason: o.str("reason")?.map(str::to_string),
        path: path.to_string(),
    })
}

fn parse_rule(v: &Value, path: &str) -> Result<Rule, PolicyError> {
    let o = Obj::new(v, path)?;
    o.deny_unknown(&["from", "to", "when"])?;
    parse_rule_parts(&o)
}

/// Reads the `from`, `to` and `when` of a rule-shaped object (a rule, a trust risk); the
/// caller checks for unknown fields.
pub(crate) fn parse_rule_parts(o: &Obj<'_>) -> Result<Rule, PolicyError> {
    let mut rule = Rule::default();
    for (fpath, fv) in o.array("from")? {
        let f = Obj::new(fv, &fpath)?;
        f.deny_unknown(&["source"])?;
        let s = f.obj("source")?.ok_or_else(|| f.missing("source"))?;
        rule.from.push(parse_source(&s)?);
    }
    for (tpath, tv) in o.array("to")? {
        let t = Obj::new(tv, &tpath)?;
        t.deny_unknown(&["operation"])?;
        let op = t.obj("operation")?.ok_or_else(|| t.missing("operation"))?;
        rule.to.push(parse_operation(&op)?);
    }
    for (cpath, cv) in o.array("when")? {
        rule.when.push(parse_condition(cv, &cpath)?);
    }
    Ok(rule)
}

fn strings(o: &Obj<'_>, key: &str, kind: ValueKind) -> Result<MatchSet, PolicyError> {
    MatchSet::compile(&o.strings(key)?, &o.at(key), kind)
}

fn ips(o: &Obj<'_>, key: &str) -> Result<IpSet, PolicyError> {
    IpSet::compile(&o.strings(key)?, &o.at(key))
}

fn ports(o: &Obj<'_>, key: &str) -> Result<PortSet, PolicyError> {
    PortSet::compile(&o.strings(key)?, &o.at(key))
}

fn non_empty(o: &Obj<'_>, fields: &[&str], what: &str) -> Result<(), PolicyError> {
    let any = fields.iter().any(|f| {
        o.raw(f)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    });
    if any {
        Ok(())
    } else {
        Err(PolicyError::new(
            ErrorCode::Invalid,
            o.path().to_string(),
            format!("{what} must set at least one non-empty field"),
        ))
    }
}

const SOURCE_FIELDS: &[&str] = &[
    "principals",
    "notPrincipals",
    "requestPrincipals",
    "notRequestPrincipals",
    "namespaces",
    "notNamespaces",
    "serviceAccounts",
    "notServiceAccounts",
    "ipBlocks",
    "notIpBlocks",
    "remoteIpBlocks",
    "notRemoteIpBlocks",
];

fn parse_source(o: &Obj<'_>) -> Result<Source, PolicyError> {
    o.deny_unknown(SOURCE_FIELDS)?;
    non_empty(o, SOURCE_FIELDS, "a source")?;
    let p = ValueKind::Plain;
    let principals = o.strings("principals")?;
    let not_principals = o.strings("notPrincipals")?;
    for (key, list) in [
        ("principals", &principals),
        ("notPrincipals", &not_principals),
    ] {
        if let Some((i, bad)) = list
            .iter()
            .enumerate()
            .find(|(_, v)| v.starts_with("spiffe://"))
        {
            return Err(PolicyError::new(
                ErrorCode::Invalid,
                format!("{}[{i}]", o.at(key)),
                format!(
                    "{} starts with `spiffe://`; write principals as Istio does, without the scheme",
                    quote_str(bad)
                ),
            ));
        }
    }
    Ok(Source {
        principals: MatchSet::compile(&principals, &o.at("principals"), p)?,
        not_principals: MatchSet::compile(&not_principals, &o.at("notPrincipals"), p)?,
        request_principals: strings(o, "requestPrincipals", p)?,
        not_request_principals: strings(o, "notRequestPrincipals", p)?,
        namespaces: strings(o, "namespaces", p)?,
        not_namespaces: strings(o, "notNamespaces", p)?,
        service_accounts: strings(o, "serviceAccounts", p)?,
        not_service_accounts: strings(o, "notServiceAccounts", p)?,
        ip_blocks: ips(o, "ipBlocks")?,
        not_ip_blocks: ips(o, "notIpBlocks")?,
        remote_ip_blocks: ips(o, "remoteIpBlocks")?,
        not_remote_ip_blocks: ips(o, "notRemoteIpBlocks")?,
    })
}

const OPERATION_FIELDS: &[&str] = &[
    "hosts",
    "notHosts",
    "ports",
    "notPorts",
    "methods",
    "notMethods",
    "paths",
    "notPaths",
];

fn parse_operation(o: &Obj<'_>) -> Result<Operation, PolicyError> {
    o.deny_unknown(OPERATION_FIELDS)?;
    non_empty(o, OPERATION_FIELDS, "an operation")?;
    Ok(Operation {
        hosts: strings(o, "hosts", ValueKind::Host)?,
        not_hosts: strings(o, "notHosts", ValueKind::Host)?,
        ports: ports(o, "ports")?,
        not_ports: ports(o, "notPorts")?,
        methods: strings(o, "methods", ValueKind::Method)?,
        not_methods: strings(o, "notMethods", ValueKind::Method)?,
        paths: strings(o, "paths", ValueKind::Path)?,
        not_paths: strings(o, "notPaths", ValueKind::Path)?,
    })
}

/// Parses a condition key (`request.headers[x-a]`, `request.auth.claims[a][b]`, ...).
pub fn parse_key(text: &str) -> Result<Key, String> {
    let simple = match text {
        "source.ip" => Some(Key::SourceIp),
        "remote.ip" => Some(Key::RemoteIp),
        "source.namespace" => Some(Key::SourceNamespace),
        "source.principal" => Some(Key::SourcePrincipal),
        "source.serviceAccount" => Some(Key::SourceServiceAccount),
        "request.auth.principal" => Some(Key::AuthPrincipal),
        "request.auth.audiences" => Some(Key::AuthAudiences),
        "request.auth.presenter" => Some(Key::AuthPresenter),
        "destination.ip" => Some(Key::DestinationIp),
        "destination.port" => Some(Key::DestinationPort),
        "connection.sni" => Some(Key::Sni),
        _ => None,
    };
    if let Some(k) = simple {
        return Ok(k);
    }
    if let Some(rest) = text.strip_prefix("request.headers") {
        let parts = brackets(rest).ok_or("expected `request.headers[NAME]`")?;
        return match parts.as_slice() {
            [name] if name.bytes().all(crate::extract::request::is_tchar) => {
                Ok(Key::Header(name.to_ascii_lowercase()))
            }
            _ => Err("expected `request.headers[NAME]` with one valid header name".into()),
        };
    }
    let zt = match text {
        "resource.name" => Some(Key::ResourceName),
        "resource.classification" => Some(Key::ResourceClassification),
        "network.country" => Some(Key::NetworkCountry),
        "subject.labels" => Some(Key::SubjectLabels),
        "time.hour" => Some(Key::TimeHour),
        "time.weekday" => Some(Key::TimeWeekday),
        _ => None,
    };
    if let Some(k) = zt {
        return Ok(k);
    }
    let named = |rest: &str, what: &str| -> Result<String, String> {
        if crate::policy::context::is_signal_name(rest) {
            Ok(rest.to_string())
        } else {
            Err(format!(
                "expected `{what}NAME` with a name of letters, digits, `_` and `-`, found {}",
                quote_str(text)
            ))
        }
    };
    if let Some(rest) = text.strip_prefix("device.") {
        return named(rest, "device.").map(Key::Device);
    }
    if let Some(rest) = text.strip_prefix("behavior.") {
        return named(rest, "behavior.").map(Key::Behavior);
    }
    if let Some(rest) = text.strip_prefix("network.list") {
        return match brackets(rest).as_deref() {
            Some([name]) if crate::policy::context::is_signal_name(name) => {
                Ok(Key::NetworkList(name.clone()))
            }
            _ => Err("expected `network.list[NAME]`".into()),
        };
    }
    if let Some(rest) = text.strip_prefix("request.auth.claims") {
        let parts = brackets(rest).ok_or("expected `request.auth.claims[NAME]` or `[A][B]...`")?;
        if parts.is_empty() || parts.len() > 8 {
            return Err("expected one to eight claim names in brackets".into());
        }
        return Ok(Key::AuthClaim(parts));
    }
    Err(format!(
        "unknown key {}; expected one of `request.headers[NAME]`, `source.ip`, `remote.ip`, `source.namespace`, `source.principal`, `source.serviceAccount`, `request.auth.principal`, `request.auth.audiences`, `request.auth.presenter`, `request.auth.claims[NAME]`, `destination.ip`, `destination.port`, `connection.sni`, `resource.name`, `resource.classification`, `device.NAME`, `network.list[NAME]`, `network.country`, `behavior.NAME`, `time.hour`, `time.weekday`",
        quote_str(text)
    ))
}

/// Splits `[a][b]` into `["a", "b"]`; `None` when malformed or empty names.
fn brackets(mut s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    while !s.is_empty() {
        let rest = s.strip_prefix('[')?;
        let end = rest.find(']')?;
        let name = rest.get(..end)?;
        if name.is_empty() || name.contains('[') {
            return None;
        }
        out.push(name.to_string());
        s = rest.get(end + 1..)?;
    }
    Some(out)
}

fn parse_condition(v: &Value, path: &str) -> Result<Condition, PolicyError> {
    let o = Obj::new(v, path)?;
    o.deny_unknown(&["key", "values", "notValues"])?;
    let key_text = o.req_str("key")?;
    let key =
        parse_key(key_text).map_err(|m| PolicyError::new(ErrorCode::Invalid, o.at("key"), m))?;
    let compile = |field: &str| -> Result<Values, PolicyError> {
        let list = o.strings(field)?;
        let at = o.at(field);
        Ok(match key {
            Key::SourceIp | Key::RemoteIp | Key::DestinationIp => {
                Values::Ips(IpSet::compile(&list, &at)?)
            }
            Key::DestinationPort => Values::Ports(PortSet::compile(&list, &at)?),
            Key::Sni => Values::Strings(MatchSet::compile(&list, &at, ValueKind::Host)?),
            Key::TimeWeekday => {
                const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
                if let Some((i, bad)) = list
                    .iter()
                    .enumerate()
                    .find(|(_, d)| !DAYS.contains(&d.as_str()))
                {
                    return Err(PolicyError::new(
                        ErrorCode::Invalid,
                        format!("{at}[{i}]"),
                        format!("expected a weekday `mon` … `sun`, found {}", quote_str(bad)),
                    ));
                }
                Values::Strings(MatchSet::compile(&list, &at, ValueKind::Plain)?)
            }
            Key::NetworkList(_) => {
                if let Some((i, bad)) = list
                    .iter()
                    .enumerate()
                    .find(|(_, d)| *d != "true" && *d != "false")
                {
                    return Err(PolicyError::new(
                        ErrorCode::Invalid,
                        format!("{at}[{i}]"),
                        format!("expected `true` or `false`, found {}", quote_str(bad)),
                    ));
                }
                Values::Strings(MatchSet::compile(&list, &at, ValueKind::Plain)?)
            }
            ref k if k.is_numeric() => {
                let mut strings = Vec::new();
                let mut ranges = Vec::new();
                for v in &list {
                    match numeric_range(v) {
                        Some(r) => ranges.push(r),
                        None => strings.push(v.clone()),
                    }
                }
                Values::Scalars(MatchSet::compile(&strings, &at, ValueKind::Plain)?, ranges)
            }
            _ => Values::Strings(MatchSet::compile(&list, &at, ValueKind::Plain)?),
        })
    };
    let values = compile("values")?;
    let not_values = compile("notValues")?;
    if values.is_empty() && not_values.is_empty() {
        return Err(PolicyError::new(
            ErrorCode::Invalid,
            path.to_string(),
            "a condition needs `values` or `notValues`",
        ));
    }
    Ok(Condition {
        key_text: key_text.to_string(),
        key,
        values,
        not_values,
    })
}

#[cfg(test)]
#[path = "authz_test.rs"]
mod tests;
