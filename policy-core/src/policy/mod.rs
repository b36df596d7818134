//! The policy document: reading, validating and compiling it into a [`Plan`].
//!
//! The document is JSON (design §3). Where a concept exists in Istio, Istio's field names and
//! semantics are used, so an Istio user can paste what they have; Vigil's own extensions are
//! written in the same style. Unknown fields are errors, and every error names its JSON path.

pub mod authz;
pub mod context;
pub mod index;
pub mod limits;
pub mod matcher;
pub mod read;
pub mod resource;
pub mod trust;

use crate::authenticate::{parse_jwt_rule, Authenticator};
use crate::error::{ErrorCode, PolicyError};
use crate::extract::path::PathNormalization;
use crate::json::{self, Limits, Value};
use crate::state::RevocationSnapshot;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use authz::{parse_policies, Action, AuthzPolicy, Key, Rule};
use context::{DevicePosture, Network};
use limits::RateLimit;
use read::{quote_str, Obj};
use resource::Resource;
use trust::Trust;

/// Whether decisions are enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Decisions are enforced.
    #[default]
    Enforce,
    /// Decisions are made and reported, never enforced.
    DryRun,
}

/// The compiled policy: everything a request is evaluated against.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Enforce or dry-run.
    pub mode: Mode,
    /// What happens when no ALLOW or DENY policy matched.
    pub default_action: Action,
    /// How paths are normalised before matching.
    pub path_normalization: PathNormalization,
    /// Proxies in front of this one whose `X-Forwarded-For` entries are trusted.
    pub num_trusted_proxies: u8,
    /// The realm in `WWW-Authenticate` challenges.
    pub realm: String,
    /// The compiled `jwtRules`.
    pub auth: Authenticator,
    /// DENY policies, in document order.
    pub deny: Vec<AuthzPolicy>,
    /// ALLOW policies, in document order.
    pub allow: Vec<AuthzPolicy>,
    /// AUDIT policies, in document order.
    pub audit: Vec<AuthzPolicy>,
    /// Which DENY / ALLOW / AUDIT policies can match a given caller ([`index::PolicyIndex`]).
    pub indexes: [index::PolicyIndex; 3],
    /// `acrLevels`, weakest first.
    pub acr_levels: Vec<String>,
    /// `classifications`, least sensitive first.
    pub classifications: Vec<String>,
    /// `resources`, first match wins.
    pub resources: Vec<Resource>,
    /// `trust`; `None` when the document has none (no score is computed).
    pub trust: Option<Trust>,
    /// `network`.
    pub network: Network,
    /// `devicePosture`.
    pub device_posture: DevicePosture,
    /// `utcOffsetMinutes`.
    pub utc_offset_minutes: i32,
    /// `revocation` (inline; adapters add a feed's snapshot in [`crate::Env`]).
    pub revocation: RevocationSnapshot,
    /// `revocation.feed`: where adapters poll the live revocation snapshot from.
    pub revocation_feed: Option<RevocationFeed>,
    /// `riskLabels.labels` (inline; adapters add a feed's snapshot in [`crate::Env`]).
    pub risk_labels: crate::feeds::RiskLabels,
    /// `riskLabels.feed`: where adapters poll live risk labels from.
    pub risk_labels_feed: Option<Feed>,
    /// `rateLimits`.
    pub rate_limits: Vec<RateLimit>,
    /// True when a condition reads `behavior.*`: only then does the core ask the adapter's
    /// [`crate::state::BehaviorState`] for the subject's history.
    pub uses_behavior: bool,
    /// `decisionLog`: which decisions an adapter logs.
    pub decision_log: DecisionLog,
}

/// `decisionLog`: which decisions an adapter writes a record for, like Envoy's access-log
/// sampling but deterministic (a counter, no randomness): `{"sample": N | "all" | "none",
/// "denied": "all" | "sample" | "none"}`. Default: every decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionLog {
    /// Log one decision in this many (1: all, 0: none); applies to allowed requests, and to
    /// refused ones when `denied` is `sample`.
    pub sample: u32,
    /// How refused requests (anything not allowed) are logged.
    pub denied: DeniedLog,
    /// Where an adapter puts a record.
    pub to: LogSink,
}

/// `decisionLog.to`: where an adapter puts a decision record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSink {
    /// A `vigil decision {…}` line in the proxy's own log (the default).
    Log,
    /// The stream's filter state, for the proxy's access log to write (Envoy:
    /// `vigil.decision` natively, `wasm.vigil_decision` in Wasm).
    AccessLog,
}

/// `decisionLog.denied`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeniedLog {
    /// Every refused request (the default).
    All,
    /// Like allowed ones: `sample`.
    Sample,
    /// None.
    None,
}

impl Default for DecisionLog {
    fn default() -> Self {
        DecisionLog {
            sample: 1,
            denied: DeniedLog::All,
            to: LogSink::Log,
        }
    }
}

impl DecisionLog {
    /// Whether the `n`th decision (counting from 0, per adapter instance) is logged.
    pub fn logs(&self, n: u64, allowed: bool) -> bool {
        let sampled = self.sample != 0 && n.is_multiple_of(u64::from(self.sample));
        match (allowed, self.denied) {
            (false, DeniedLog::All) => true,
            (false, DeniedLog::None) => false,
            _ => sampled,
        }
    }

    fn parse(o: Option<Obj<'_>>) -> Result<DecisionLog, PolicyError> {
        let Some(o) = o else {
            return Ok(DecisionLog::default());
        };
        o.deny_unknown(&["description", "sample", "denied", "to"])?;
        let sample = match o.raw("sample") {
            None => 1,
            Some(Value::String(s)) if s == "all" => 1,
            Some(Value::String(s)) if s == "none" => 0,
            Some(Value::Number(_)) => match o.uint("sample", u64::from(u32::MAX))? {
                Some(n) if n >= 1 => n as u32,
                _ => {
                    return Err(PolicyError::new(
                        ErrorCode::Invalid,
                        o.at("sample"),
                        "expected a whole number from 1, `all` or `none`",
                    ))
                }
            },
            Some(other) => {
                return Err(read::type_error(
                    &o.at("sample"),
                    "a whole number from 1, `all` or `none`",
                    other,
                ))
            }
        };
        let denied = match o.str("denied")? {
            None | Some("all") => DeniedLog::All,
            Some("sample") => DeniedLog::Sample,
            Some("none") => DeniedLog::None,
            Some(other) => {
                return Err(PolicyError::new(
                    ErrorCode::Invalid,
                    o.at("denied"),
                    format!(
                        "expected `all`, `sample` or `none`, found {}",
                        quote_str(other)
                    ),
                ))
            }
        };
        let to = match o.str("to")? {
            None | Some("log") => LogSink::Log,
            Some("accessLog") => LogSink::AccessLog,
            Some(other) => {
                return Err(PolicyError::new(
                    ErrorCode::Invalid,
                    o.at("to"),
                    format!("expected `log` or `accessLog`, found {}", quote_str(other)),
                ))
            }
        };
        Ok(DecisionLog { sample, denied, to })
    }
}

/// One item of `jwtRules`: a rule, or a whole Istio `RequestAuthentication` object (as
/// `kubectl get -o json` prints it), whose `spec.jwtRules` are taken in order; its `selector`
/// and `targetRef(s)` say where Istio applies it, which the proxy's configuration decides here.
fn parse_jwt_rule_item(
    item: &Value,
    path: &str,
    rules: &mut Vec<crate::authenticate::JwtRule>,
) -> Result<(), PolicyError> {
    let top = Obj::new(item, path)?;
    if !(top.has("spec") || top.has("kind") || top.has("apiVersion")) {
        rules.push(parse_jwt_rule(item, path)?);
        return Ok(());
    }
    top.deny_unknown(&["apiVersion", "kind", "metadata", "spec"])?;
    if let Some(kind) = top.str("kind")? {
        if kind != "RequestAuthentication" {
            return Err(PolicyError::new(
                ErrorCode::Invalid,
                top.at("kind"),
                format!(
                    "expected `RequestAuthentication`, found {}",
                    quote_str(kind)
                ),
            ));
        }
    }
    let spec = match top.raw("spec") {
        Some(s) => Obj::new(s, &top.at("spec"))?,
        None => return Err(top.missing("spec")),
    };
    spec.deny_unknown(&["jwtRules", "selector", "targetRef", "targetRefs"])?;
    for (p, rule) in spec.array("jwtRules")? {
        rules.push(parse_jwt_rule(rule, &p)?);
    }
    Ok(())
}

const TOP_FIELDS: &[&str] = &[
    "$schema",
    "description",
    "mode",
    "defaultAction",
    "pathNormalization",
    "numTrustedProxies",
    "realm",
    "jwtRules",
    "authorizationPolicies",
    "acrLevels",
    "classifications",
    "resources",
    "trust",
    "network",
    "devicePosture",
    "utcOffsetMinutes",
    "revocation",
    "riskLabels",
    "rateLimits",
    "decisionLog",
];

impl Plan {
    /// Parses and compiles a policy document from JSON text.
    pub fn from_json(text: &str) -> Result<Plan, PolicyError> {
        let v = json::parse(text, Limits::POLICY)
            .map_err(|e| PolicyError::new(ErrorCode::Syntax, "$", e.to_string()))?;
        Plan::from_value(&v)
    }

    /// Compiles a parsed policy document.
    pub fn from_value(v: &Value) -> Result<Plan, PolicyError> {
        let o = Obj::new(v, "$")?;
        o.deny_unknown(TOP_FIELDS)?;
        let mode = match o.str("mode")? {
            None | Some("enforce") => Mode::Enforce,
            Some("dry_run") => Mode::DryRun,
            Some(other) => {
                return Err(PolicyError::new(
                    ErrorCode::Invalid,
                    o.at("mode"),
                    format!(
                        "expected `enforce` or `dry_run`, found {}",
                        quote_str(other)
                    ),
                ))
            }
        };
        let default_action = match o.str("defaultAction")? {
            None | Some("DENY") => Action::Deny,
            Some("ALLOW") => Action::Allow,
            Some(other) => {
                return Err(PolicyError::new(
                    ErrorCode::Invalid,
                    o.at("defaultAction"),
                    format!("expected `DENY` or `ALLOW`, found {}", quote_str(other)),
                ))
            }
        };
        let path_normalization = match o.str("pathNormalization")? {
            None => PathNormalization::default(),
            Some(s) => PathNormalization::parse(s).ok_or_else(|| {
                PolicyError::new(
                    ErrorCode::Invalid,
                    o.at("pathNormalization"),
                    format!(
                        "expected `STRICT`, `BASE`, `MERGE_SLASHES` or `DECODE_AND_MERGE_SLASHES`, found {}",
                        quote_str(s)
                    ),
                )
            })?,
        };
        let num_trusted_proxies = o.uint("numTrustedProxies", 16)?.unwrap_or(0) as u8;
        let realm = o.str("realm")?.unwrap_or("vigil").to_string();
        if realm.contains('"') || realm.contains('\\') || realm.chars().any(char::is_control) {
            return Err(PolicyError::new(
                ErrorCode::Invalid,
                o.at("realm"),
                format!(
                    "{} may not contain quotes, backslashes or control characters",
                    quote_str(&realm)
                ),
            ));
        }
        let mut rules = Vec::new();
        for (path, item) in o.array("jwtRules")? {
            parse_jwt_rule_item(item, &path, &mut rules)?;
        }
        let auth = Authenticator::new(rules)?;
        let policies = parse_policies(&o.array("authorizationPolicies")?)?;
        let acr_levels = resource::parse_acr_levels(&o)?;
        let classifications = resource::parse_classifications(&o)?;
        let resources =
            resource::parse_resources(&o.array("resources")?, &acr_levels, &classifications)?;
        let trust = match o.obj("trust")? {
            None => None,
            Some(t) => Some(trust::parse_trust(&t, &acr_levels)?),
        };
        let network = context::parse_network(o.obj("network")?)?;
        let device_posture = context::parse_device_posture(o.obj("devicePosture")?)?;
        let utc_offset_minutes = context::parse_utc_offset(&o)?;
        let (revocation, revocation_feed) = match o.raw("revocation") {
            None => (RevocationSnapshot::default(), None),
            Some(r) => {
                let path = o.at("revocation");
                let feed = match Obj::new(r, &path)?.obj("feed")? {
                    Some(f) => Some(parse_feed(&f)?),
                    None => None,
                };
                // The inline lists are a snapshot like the feed's; `feed` is not part of one.
                let mut lists = crate::json::Map::new();
                for (k, v) in r.as_object().into_iter().flat_map(|m| m.iter()) {
                    if k != "feed" {
                        lists.insert(k, v.clone());
                    }
                }
                (
                    RevocationSnapshot::from_value(&Value::Object(lists), &path)?,
                    feed,
                )
            }
        };
        let (risk_labels, risk_labels_feed) = match o.obj("riskLabels")? {
            None => (crate::feeds::RiskLabels::default(), None),
            Some(r) => {
                r.deny_unknown(&["labels", "feed"])?;
                let feed = match r.obj("feed")? {
                    Some(f) => Some(parse_feed(&f)?),
                    None => None,
                };
                (crate::feeds::RiskLabels::read(&r)?, feed)
            }
        };
        let names: Vec<&str> = resources.iter().map(|r| r.name.as_str()).collect();
        let rate_limits = limits::parse_rate_limits(&o.array("rateLimits")?, &names)?;
        let decision_log = DecisionLog::parse(o.obj("decisionLog")?)?;
        let mut plan = Plan {
            mode,
            default_action,
            path_normalization,
            num_trusted_proxies,
            realm,
            auth,
            deny: Vec::new(),
            allow: Vec::new(),
            audit: Vec::new(),
            indexes: Default::default(),
            acr_levels,
            classifications,
            resources,
            trust,
            network,
            device_posture,
            utc_offset_minutes,
            revocation,
            revocation_feed,
            risk_labels,
            risk_labels_feed,
            rate_limits,
            uses_behavior: false,
            decision_log,
        };
        check_references(&plan, &policies)?;
        for p in policies {
            match p.action {
                Action::Deny => plan.deny.push(p),
                Action::Allow => plan.allow.push(p),
                Action::Audit => plan.audit.push(p),
            }
        }
        plan.indexes = [
            index::PolicyIndex::build(&plan.deny),
            index::PolicyIndex::build(&plan.allow),
            index::PolicyIndex::build(&plan.audit),
        ];
        let uses_behavior = plan
            .condition_keys()
            .any(|k| matches!(k, authz::Key::Behavior(_)));
        plan.uses_behavior = uses_behavior;
        Ok(plan)
    }

    /// Every rule of the plan: authorization policies' (DENY, ALLOW, AUDIT) and trust risks'.
    pub fn rules(&self) -> impl Iterator<Item = &authz::Rule> {
        self.deny
            .iter()
            .chain(&self.allow)
            .chain(&self.audit)
            .flat_map(|p| p.rules.iter())
            .chain(
                self.trust
                    .iter()
                    .flat_map(|t| t.risks.iter().map(|r| &r.rule)),
            )
    }

    /// The request headers a decision under this plan can read (besides pseudo-headers), so
    /// an adapter copies only those: token headers (and `cookie` for `fromCookies`), `host`,
    /// `x-forwarded-for` (with trusted proxies), `x-request-id` (records), headers named in
    /// conditions and rate-limit keys, the country header, and every header starting with the
    /// posture prefix (posture headers are read from agents and stripped from anyone else).
    pub fn header_needs(&self) -> HeaderNeeds {
        use crate::authenticate::rule::TokenLocation;
        let mut names: Vec<String> = alloc::vec!["host".into(), "x-request-id".into()];
        if self.num_trusted_proxies > 0 {
            names.push("x-forwarded-for".into());
        }
        for l in self
            .auth
            .locations()
            .iter()
            .chain(self.auth.device_locations())
        {
            match l {
                TokenLocation::Header { name, .. } => names.push(name.clone()),
                TokenLocation::Cookie(_) => names.push("cookie".into()),
                _ => {}
            }
        }
        for k in self.condition_keys() {
            if let authz::Key::Header(h) = k {
                names.push(h.clone());
            }
        }
        for l in &self.rate_limits {
            if let limits::RateKeyKind::Header(h) = &l.key {
                names.push(h.clone());
            }
        }
        names.extend(self.network.country_header.iter().cloned());
        names.sort();
        names.dedup();
        HeaderNeeds {
            names,
            prefix: self.device_posture.header_prefix.clone(),
        }
    }

    /// The connection properties a decision under this plan can read, so an adapter asks its
    /// host only for those (each is a host call in proxy-wasm).
    pub fn property_needs(&self) -> PropertyNeeds {
        use authz::Key;
        let sources = || self.rules().flat_map(|r| r.from.iter());
        let operations = || self.rules().flat_map(|r| r.to.iter());
        let keys = || self.condition_keys();
        let peer = sources().any(|s| {
            !(s.principals.is_empty()
                && s.not_principals.is_empty()
                && s.namespaces.is_empty()
                && s.not_namespaces.is_empty()
                && s.service_accounts.is_empty()
                && s.not_service_accounts.is_empty())
        }) || keys().any(|k| {
            matches!(
                k,
                Key::SourcePrincipal | Key::SourceNamespace | Key::SourceServiceAccount
            )
        }) || !self.network.country_principals.is_empty()
            || !self.device_posture.agents.is_empty()
            || self
                .rate_limits
                .iter()
                .any(|l| l.key == limits::RateKeyKind::SourcePrincipal)
            || self.uses_behavior;
        let source = sources().any(|s| {
            !(s.ip_blocks.is_empty()
                && s.not_ip_blocks.is_empty()
                && s.remote_ip_blocks.is_empty()
                && s.not_remote_ip_blocks.is_empty())
        }) || keys().any(|k| matches!(k, Key::SourceIp | Key::RemoteIp))
            || !self.network.lists.is_empty()
            || self
                .rate_limits
                .iter()
                .any(|l| l.key == limits::RateKeyKind::Ip);
        let destination = operations().any(|o| !(o.ports.is_empty() && o.not_ports.is_empty()))
            || keys().any(|k| matches!(k, Key::DestinationIp | Key::DestinationPort));
        let sni = keys().any(|k| matches!(k, Key::Sni));
        PropertyNeeds {
            source,
            peer,
            destination,
            sni,
        }
    }

    /// Every attribute a `when` condition of the plan reads.
    pub fn condition_keys(&self) -> impl Iterator<Item = &authz::Key> {
        self.rules().flat_map(|r| r.when.iter().map(|c| &c.key))
    }

    /// The first resource the canonical request is (first match wins).
    pub fn resource(&self, host: &str, method: &str, path: &str) -> Option<&Resource> {
        self.resources
            .iter()
            .find(|r| r.matches(host, method, path))
    }

    /// Every policy, DENY first, then ALLOW, then AUDIT (evaluation order).
    pub fn policies(&self) -> impl Iterator<Item = &AuthzPolicy> {
        self.deny
            .iter()
            .chain(self.allow.iter())
            .chain(self.audit.iter())
    }
}

/// Conditions may only name lists that exist, and `device.*` needs a device source.
fn check_references(plan: &Plan, policies: &[AuthzPolicy]) -> Result<(), PolicyError> {
    let mut rules: Vec<(String, &Rule)> = Vec::new();
    for p in policies {
        for (i, r) in p.rules.iter().enumerate() {
            rules.push((format!("{}.rules[{i}]", p.path), r));
        }
    }
    if let Some(t) = &plan.trust {
        for (i, r) in t.risks.iter().enumerate() {
            rules.push((format!("trust.risks[{i}]"), &r.rule));
        }
    }
    for (path, rule) in rules {
        for (i, c) in rule.when.iter().enumerate() {
            if let Key::NetworkList(name) = &c.key {
                if plan.network.list(name).is_none() {
                    return Err(PolicyError::new(
                        ErrorCode::Invalid,
                        format!("{path}.when[{i}].key"),
                        format!(
                            "no network list {}; declare it in `network.lists`",
                            quote_str(name)
                        ),
                    ));
                }
            }
            if c.key == Key::NetworkCountry && plan.network.country_header.is_none() {
                return Err(PolicyError::new(
                    ErrorCode::Invalid,
                    format!("{path}.when[{i}].key"),
                    "`network.country` needs `network.countryHeader` and `network.countryPrincipals`",
                ));
            }
        }
    }
    Ok(())
}

/// A feed adapters poll: `revocation.feed` (a revocation snapshot, the same JSON as
/// `revocation`'s lists, passed in [`crate::Env::revocation`]), `network.feed`
/// ([`crate::feeds::NetworkLists`]) and `riskLabels.feed` ([`crate::feeds::RiskLabels`]).
#[derive(Debug, Clone)]
pub struct Feed {
    /// `uri`: an http(s) URL.
    pub uri: String,
    /// `cluster`: the Envoy cluster to fetch it through (default: the URL's host).
    pub cluster: Option<String>,
    /// `pollMs`: how often it is fetched (default 500, at least 100).
    pub poll_ms: u64,
    /// `maxStaleSeconds`: with no successful poll for this long, decisions fail closed (503);
    /// absent: the last good snapshot is used however old it is.
    pub max_stale_seconds: Option<u64>,
    /// `keys`: when set, the feed serves signed bundles of its kind (docs/bundles.md) that
    /// must verify with one of these Ed25519 keys, each revision above the last.
    pub keys: Option<crate::bundle::BundleKeys>,
    /// [`crate::bundle::source_id`] of the URL and keys: adapters name their shared state with
    /// it.
    pub id: String,
}

impl Feed {
    /// The shared-data key prefix of this feed's state, e.g. `vigil.netlists.1a2b3c4d5e6f`.
    pub fn shared_key(&self, kind: &str) -> String {
        format!("vigil.{kind}.{}", self.id)
    }
}

/// The revocation feed's settings (the same as every feed's).
pub type RevocationFeed = Feed;

/// Reads a feed's settings (`uri`, `cluster`, `pollMs`, `maxStaleSeconds`, `keys`).
pub(crate) fn parse_feed(f: &Obj<'_>) -> Result<Feed, PolicyError> {
    f.deny_unknown(&["uri", "cluster", "pollMs", "maxStaleSeconds", "keys"])?;
    let uri = crate::bundle::url_field(f, "uri")?;
    let poll_ms = crate::bundle::poll_ms_field(f, 500)?;
    let keys = match f.raw("keys") {
        Some(k) => Some(crate::bundle::keys_at(k, &f.at("keys"))?),
        None => None,
    };
    Ok(Feed {
        id: crate::bundle::source_id(uri, f.raw("keys")),
        uri: uri.to_string(),
        cluster: f.str("cluster")?.map(str::to_string),
        poll_ms,
        max_stale_seconds: f.uint("maxStaleSeconds", 30 * 86400)?,
        keys,
    })
}

#[cfg(test)]
#[path = "tests_policy_test.rs"]
mod tests;

/// Which request headers a plan can read ([`Plan::header_needs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderNeeds {
    /// Lower-case names, sorted.
    pub names: Vec<String>,
    /// Every header starting with this (lower-case) prefix is needed too.
    pub prefix: String,
}

impl HeaderNeeds {
    /// Whether a header (lower-case name) is needed.
    pub fn wants(&self, name: &str) -> bool {
        self.wants_bytes(name.as_bytes())
    }

    /// [`HeaderNeeds::wants`] on the name's bytes, as the proxy hands them over (an adapter
    /// copies only the names it wants).
    pub fn wants_bytes(&self, name: &[u8]) -> bool {
        if name.starts_with(self.prefix.as_bytes()) {
            return true;
        }
        // A policy reads a few headers: comparing lengths first rejects most names without
        // looking at their bytes. Many names: a binary search.
        if self.names.len() <= 8 {
            self.names
                .iter()
                .any(|n| n.len() == name.len() && n.as_bytes() == name)
        } else {
            self.names
                .binary_search_by(|n| n.as_bytes().cmp(name))
                .is_ok()
        }
    }
}

/// Which connection properties a plan can read ([`Plan::property_needs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PropertyNeeds {
    /// The peer address (`source.ip`, `remote.ip`, `ipBlocks`, network lists, rate limits by
    /// address).
    pub source: bool,
    /// The mTLS peer principal.
    pub peer: bool,
    /// The local address and port.
    pub destination: bool,
    /// The TLS SNI.
    pub sni: bool,
}
