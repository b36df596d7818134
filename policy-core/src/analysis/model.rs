//! Policies as predicates over the request space: each field of a source, operation or
//! `when` condition becomes one predicate on one dimension (a bit per candidate, computed with
//! the engine's own matchers), and each rule an AND/OR tree of them.

use super::space::{self, Bits, Dim, Kind, Patterns, Val};
use crate::authenticate::rule::JwtRule;
use crate::decide::{segment_after, value_matches};
use crate::policy::authz::{Action, Condition, Key, Operation, Rule, Source, Values};
use crate::policy::matcher::{IpSet, MatchSet, PortSet};
use crate::policy::Plan;
use alloc::borrow::Cow;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// Header names whose conditions are not analysed: they carry what other dimensions model
/// (host, token, client address).
const RESERVED_HEADERS: &[&str] = &[
    "host",
    ":authority",
    "authorization",
    "cookie",
    "x-forwarded-for",
];

/// The dimensions and their candidates.
#[derive(Debug, Clone, Default)]
pub struct Space {
    /// The dimensions.
    pub dims: Vec<Dim>,
    /// Candidates per dimension.
    pub cands: Vec<Vec<Val>>,
    index: BTreeMap<Dim, usize>,
    /// What could not be analysed, for the report.
    pub gaps: BTreeSet<String>,
    /// Claims that are space-delimited lists.
    pub space_delimited: BTreeSet<Vec<String>>,
    /// Trusted proxies (the same in both documents when `RemoteIp` is its own dimension).
    pub trusted_proxies: u8,
}

impl Space {
    /// The index of a dimension.
    pub fn dim(&self, d: &Dim) -> Option<usize> {
        self.index.get(d).copied()
    }
    fn push(&mut self, d: Dim, cands: Vec<Val>) {
        self.index.insert(d.clone(), self.dims.len());
        self.dims.push(d);
        self.cands.push(cands);
    }
    /// The cube of every request.
    pub fn full(&self) -> Vec<Bits> {
        self.cands.iter().map(|c| Bits::full(c.len())).collect()
    }
}

/// A predicate: the truth of one field for each candidate of one dimension.
#[derive(Debug, Clone)]
pub struct Pred {
    /// The dimension.
    pub dim: usize,
    /// Candidates for which it holds.
    pub bits: Bits,
    /// True when it reads the verified token (then `absent` is its value without one).
    pub auth: bool,
    /// Its value when there is no verified token.
    pub absent: bool,
}

/// A rule as a formula.
#[derive(Debug, Clone)]
pub enum Expr {
    /// Always true.
    True,
    /// A predicate.
    Pred(usize),
    /// Reads what is not analysed (held at the witness's value).
    Opaque,
    /// All must hold.
    And(Vec<Expr>),
    /// One must hold.
    Or(Vec<Expr>),
}

/// A formula's value on a cube.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// True for every request in the cube.
    All,
    /// False for every request.
    None,
    /// True for some: split on this predicate.
    Partial(usize),
    /// Not known (an opaque part).
    Unknown,
}

impl Expr {
    /// The formula's value on `cube`; `authed`: the cube's requests carry a verified token.
    pub fn eval(&self, preds: &[Pred], cube: &[Bits], authed: bool) -> Status {
        match self {
            Expr::True => Status::All,
            Expr::Opaque => Status::Unknown,
            Expr::Pred(i) => {
                let Some(p) = preds.get(*i) else {
                    return Status::Unknown;
                };
                if p.auth && !authed {
                    return if p.absent { Status::All } else { Status::None };
                }
                let Some(c) = cube.get(p.dim) else {
                    return Status::Unknown;
                };
                if c.disjoint(&p.bits) {
                    Status::None
                } else if c.subset(&p.bits) {
                    Status::All
                } else {
                    Status::Partial(*i)
                }
            }
            // AND stops at the first NONE, OR at the first ALL; otherwise a partial part is
            // reported before an unknown one (so the search splits rather than guesses).
            Expr::And(items) => combine(items, preds, cube, authed, Status::None, Status::All),
            Expr::Or(items) => combine(items, preds, cube, authed, Status::All, Status::None),
        }
    }
}

/// AND (`stop` = NONE, `unit` = ALL) or OR (`stop` = ALL, `unit` = NONE) of `items`.
fn combine(
    items: &[Expr],
    preds: &[Pred],
    cube: &[Bits],
    authed: bool,
    stop: Status,
    unit: Status,
) -> Status {
    let mut pending = unit;
    for e in items {
        match e.eval(preds, cube, authed) {
            s if s == stop => return stop,
            s if s == unit => {}
            s @ Status::Partial(_) => {
                if !matches!(pending, Status::Partial(_)) {
                    pending = s;
                }
            }
            _ => {
                if pending == unit {
                    pending = Status::Unknown;
                }
            }
        }
    }
    pending
}

/// One rule of a document, with where it is.
#[derive(Debug, Clone)]
pub struct RuleModel {
    /// DENY or ALLOW.
    pub action: Action,
    /// The policy's name.
    pub policy: String,
    /// The rule's index in the policy.
    pub rule: usize,
    /// The formula.
    pub expr: Expr,
}

/// How a document treats the token of a cube's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// No token (or the document reads none).
    None,
    /// A token the document refuses (401 whatever the policies say).
    Refused,
    /// A verified token.
    Accepted,
}

/// One document as the analysis sees it.
#[derive(Debug, Clone)]
pub struct DocModel {
    /// Predicates.
    pub preds: Vec<Pred>,
    /// DENY rules in order, then ALLOW rules in order.
    pub rules: Vec<RuleModel>,
    /// User token rules by issuer: the audiences they accept (empty: any).
    pub issuers: BTreeMap<String, Vec<String>>,
    /// The document reads tokens at all.
    pub reads_tokens: bool,
}

fn user_rules(plan: &Plan) -> impl Iterator<Item = &JwtRule> {
    plan.auth.rules().iter().filter(|r| !r.device)
}

fn authz_rules(plan: &Plan) -> impl Iterator<Item = (&crate::policy::authz::AuthzPolicy, &Rule)> {
    plan.deny
        .iter()
        .chain(&plan.allow)
        .chain(&plan.audit)
        .flat_map(|p| p.rules.iter().map(move |r| (p, r)))
}

/// Collects the literals of both documents and builds the space.
pub fn build_space(plans: &[&Plan]) -> Space {
    let mut sp = Space::default();
    let mut method = Patterns::default();
    let mut path = Patterns::default();
    let mut host = Patterns::default();
    let mut sni = Patterns::default();
    let mut peer = Patterns::default();
    let mut ns = Patterns::default();
    let mut sa = Patterns::default();
    let mut principal = Patterns::default();
    let mut aud = Patterns::default();
    let mut azp = Patterns::default();
    let mut src_ip: Vec<&IpSet> = Vec::new();
    let mut remote_ip: Vec<&IpSet> = Vec::new();
    let mut dest_ip: Vec<&IpSet> = Vec::new();
    let mut port_sets: Vec<&PortSet> = Vec::new();
    let mut headers: BTreeMap<String, Patterns> = BTreeMap::new();
    let mut claims: BTreeMap<Vec<String>, Patterns> = BTreeMap::new();
    let mut issuers: BTreeSet<String> = BTreeSet::new();
    let mut rule_audiences: BTreeSet<String> = BTreeSet::new();
    let trusted = plans.first().map_or(0, |p| p.num_trusted_proxies);
    sp.trusted_proxies = trusted;
    let norm = plans
        .first()
        .map(|p| p.path_normalization)
        .unwrap_or_default();
    for plan in plans {
        for r in user_rules(plan) {
            issuers.insert(r.issuer.clone());
            for a in &r.audiences {
                aud.add_exact(a);
                rule_audiences.insert(a.clone());
            }
            for c in &r.space_delimited_claims {
                sp.space_delimited
                    .insert(c.split('.').map(ToString::to_string).collect());
            }
        }
        for res in &plan.resources {
            host.add(&res.hosts);
            path.add(&res.paths);
            method.add(&res.methods);
        }
        peer.add(&plan.device_posture.agents);
        peer.add(&plan.network.country_principals);
        for (_, rule) in authz_rules(plan) {
            for s in &rule.from {
                add_source(s, &mut peer, &mut ns, &mut sa, &mut principal);
                src_ip.extend([&s.ip_blocks, &s.not_ip_blocks]);
                remote_ip.extend([&s.remote_ip_blocks, &s.not_remote_ip_blocks]);
            }
            for o in &rule.to {
                add_operation(o, &mut method, &mut path, &mut host, &mut port_sets);
            }
            for c in &rule.when {
                for vals in [&c.values, &c.not_values] {
                    match (&c.key, vals) {
                        (Key::Header(h), Values::Strings(m)) => {
                            headers.entry(h.clone()).or_default().add(m)
                        }
                        (Key::SourceIp, Values::Ips(s)) => src_ip.push(s),
                        (Key::RemoteIp, Values::Ips(s)) => remote_ip.push(s),
                        (Key::DestinationIp, Values::Ips(s)) => dest_ip.push(s),
                        (Key::DestinationPort, Values::Ports(s)) => port_sets.push(s),
                        (Key::SourceNamespace, Values::Strings(m)) => ns.add(m),
                        (Key::SourcePrincipal, Values::Strings(m)) => peer.add(m),
                        (Key::SourceServiceAccount, Values::Strings(m)) => sa.add(m),
                        (Key::AuthPrincipal, Values::Strings(m)) => principal.add(m),
                        (Key::AuthAudiences, Values::Strings(m)) => aud.add(m),
                        (Key::AuthPresenter, Values::Strings(m)) => azp.add(m),
                        (Key::AuthClaim(p), Values::Strings(m)) => match claim_dim(p) {
                            ClaimDim::Iss | ClaimDim::Sub => principal.add(m),
                            ClaimDim::Aud => aud.add(m),
                            ClaimDim::Azp => azp.add(m),
                            ClaimDim::Other(p) => claims.entry(p).or_default().add(m),
                            ClaimDim::Opaque => {}
                        },
                        (Key::Sni, Values::Strings(m)) => sni.add(m),
                        _ => {}
                    }
                }
            }
        }
    }
    let note = |cut: bool, what: &str, gaps: &mut BTreeSet<String>| {
        if cut {
            gaps.insert(format!(
                "{what}: too many prefix and suffix combinations; only single patterns analysed"
            ));
        }
    };
    let (m, cut) = space::strings(&method, Kind::Method);
    note(cut, "method", &mut sp.gaps);
    sp.push(Dim::Method, m.into_iter().map(Val::One).collect());
    let (p, cut) = space::strings(&path, Kind::Path(norm));
    note(cut, "path", &mut sp.gaps);
    sp.push(Dim::Path, p.into_iter().map(Val::One).collect());
    let (h, cut) = space::strings(&host, Kind::Host);
    note(cut, "host", &mut sp.gaps);
    let hc = absent_or(h);
    sp.push(Dim::Host, hc);
    if !port_sets.is_empty() {
        let pc = absent_or(
            space::ports(port_sets.into_iter())
                .into_iter()
                .map(|p| p.to_string())
                .collect(),
        );
        sp.push(Dim::Port, pc);
    }
    if !(peer.is_empty() && ns.is_empty() && sa.is_empty()) {
        let pc = peer_candidates(&peer, &ns, &sa, &mut sp.gaps);
        sp.push(Dim::Peer, pc);
    }
    let remote_separate = trusted > 0;
    let mut source_sets = src_ip.clone();
    if !remote_separate {
        source_sets.extend(remote_ip.iter().copied());
    }
    let mut list_blocks = Vec::new();
    for plan in plans {
        for (_, set) in &plan.network.lists {
            list_blocks.extend(set.blocks());
        }
    }
    if !source_sets.is_empty() || (!remote_separate && !list_blocks.is_empty()) {
        let extra = if remote_separate {
            &[][..]
        } else {
            &list_blocks[..]
        };
        let c = absent_or(space::addresses(source_sets.into_iter(), extra));
        sp.push(Dim::SourceIp, c);
    }
    if remote_separate && (!remote_ip.is_empty() || !list_blocks.is_empty()) {
        // No "absent" here: without `X-Forwarded-For` the client address is the peer's, so
        // such a request is the one whose header names the peer's address (a pair this
        // product holds). A request with neither (no downstream address) is not modelled:
        // Envoy always has one.
        let c = space::addresses(remote_ip.into_iter(), &list_blocks)
            .into_iter()
            .map(Val::One)
            .collect();
        sp.push(Dim::RemoteIp, c);
    }
    if !dest_ip.is_empty() {
        let c = absent_or(space::addresses(dest_ip.into_iter(), &[]));
        sp.push(Dim::DestIp, c);
    }
    if !sni.is_empty() {
        single_dim(&mut sp, Dim::Sni, &sni, Kind::Host);
    }
    for (name, pats) in &headers {
        if RESERVED_HEADERS.contains(&name.as_str()) {
            continue;
        }
        multi_dim(&mut sp, Dim::Header(name.clone()), pats);
    }
    if !issuers.is_empty() {
        let c = token_candidates(&issuers, &principal);
        sp.push(Dim::Token, c);
        if !aud.is_empty() {
            let (singles, _) = space::strings(&aud, Kind::Plain);
            let singles: Vec<String> = singles.into_iter().filter(|s| !s.is_empty()).collect();
            let pinned: Vec<String> = rule_audiences.into_iter().collect();
            let (c, cut) = space::multi(&singles, &pinned, false);
            if cut {
                sp.gaps.insert(
                    "request.auth.audiences: tokens with two audiences analysed only for pairs with an accepted audience".into(),
                );
            }
            sp.push(Dim::Aud, c);
        }
        if !azp.is_empty() {
            single_dim(&mut sp, Dim::Azp, &azp, Kind::Plain);
        }
        for (p, pats) in &claims {
            multi_dim(&mut sp, Dim::Claim(p.clone()), pats);
        }
    }
    sp
}

/// An optional single-valued string dimension (SNI, a token's presenter): absent, each value.
fn single_dim(sp: &mut Space, dim: Dim, pats: &Patterns, kind: Kind) {
    let (values, _) = space::strings(pats, kind);
    sp.push(dim, absent_or(values));
}

/// A multi-valued dimension (a header, a claim): absent, the empty value, each value, pairs.
fn multi_dim(sp: &mut Space, dim: Dim, pats: &Patterns) {
    let (singles, cut1) = space::strings(pats, Kind::Plain);
    let (c, cut2) = space::multi(&singles, &[], true);
    if cut1 {
        sp.gaps.insert(format!(
            "{}: too many prefix and suffix combinations; only single patterns analysed",
            dim.name()
        ));
    }
    if cut2 {
        sp.gaps.insert(format!(
            "{}: two values analysed only for some pairs",
            dim.name()
        ));
    }
    sp.push(dim, c);
}

/// "absent", then each value.
fn absent_or(values: Vec<String>) -> Vec<Val> {
    core::iter::once(Val::Absent)
        .chain(values.into_iter().map(Val::One))
        .collect()
}

fn add_source(
    s: &Source,
    peer: &mut Patterns,
    ns: &mut Patterns,
    sa: &mut Patterns,
    principal: &mut Patterns,
) {
    peer.add(&s.principals);
    peer.add(&s.not_principals);
    ns.add(&s.namespaces);
    ns.add(&s.not_namespaces);
    sa.add(&s.service_accounts);
    sa.add(&s.not_service_accounts);
    principal.add(&s.request_principals);
    principal.add(&s.not_request_principals);
}

fn add_operation<'a>(
    o: &'a Operation,
    method: &mut Patterns,
    path: &mut Patterns,
    host: &mut Patterns,
    ports: &mut Vec<&'a PortSet>,
) {
    method.add(&o.methods);
    method.add(&o.not_methods);
    path.add(&o.paths);
    path.add(&o.not_paths);
    host.add(&o.hosts);
    host.add(&o.not_hosts);
    ports.extend([&o.ports, &o.not_ports]);
}

/// Peer principals: the principal literals' candidates, and `cluster.local/ns/N/sa/S` for
/// namespace and service-account candidates.
fn peer_candidates(
    peer: &Patterns,
    ns: &Patterns,
    sa: &Patterns,
    gaps: &mut BTreeSet<String>,
) -> Vec<Val> {
    let mut out: Vec<Val> = alloc::vec![Val::Absent];
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut add = |s: String, out: &mut Vec<Val>| {
        if seen.insert(s.clone()) {
            out.push(Val::One(s));
        }
    };
    let (ps, cut) = space::strings(peer, Kind::Plain);
    if cut {
        gaps.insert("source.principal: too many prefix and suffix combinations".into());
    }
    for p in ps.into_iter().filter(|p| !p.is_empty()) {
        add(p, &mut out);
    }
    // Istio principals are `TD/ns/N/sa/S`: every trust domain, namespace and service account
    // any literal names (in principals, namespaces or serviceAccounts), crossed.
    let seg_ok = |s: &str| !s.is_empty() && !s.contains('/') && !s.contains('*');
    let mut tds: BTreeSet<String> = BTreeSet::new();
    let mut nss: BTreeSet<String> = BTreeSet::new();
    let mut sas: BTreeSet<String> = BTreeSet::new();
    tds.insert("cluster.local".into());
    nss.insert(space::FILLER.into());
    sas.insert(space::FILLER.into());
    let (ns_c, _) = space::strings(ns, Kind::Plain);
    nss.extend(ns_c.into_iter().filter(|n| seg_ok(n)));
    let (sa_c, _) = space::strings(sa, Kind::Plain);
    for s in sa_c {
        if let Some((n, a)) = s.split_once('/') {
            if seg_ok(n) {
                nss.insert(n.to_string());
            }
            if seg_ok(a) {
                sas.insert(a.to_string());
            }
        } else if seg_ok(&s) {
            nss.insert(s);
        }
    }
    for lit in peer.literals().chain(sa.literals()) {
        let segs: Vec<&str> = lit.split('/').collect();
        if let Some(first) = segs.first() {
            if seg_ok(first) && *first != "ns" && *first != "sa" && segs.len() > 1 {
                tds.insert((*first).to_string());
            }
        }
        for w in segs.windows(2) {
            if let [label, v] = w {
                if *label == "ns" && seg_ok(v) {
                    nss.insert((*v).to_string());
                }
                if *label == "sa" && seg_ok(v) {
                    sas.insert((*v).to_string());
                }
            }
        }
    }
    if tds.len() * nss.len() * sas.len() > 20_000 {
        gaps.insert("source.principal: too many trust domain × namespace × service account combinations; namespaces analysed with one service account".into());
        for t in &tds {
            for n in &nss {
                add(format!("{t}/ns/{n}/sa/{}", space::FILLER), &mut out);
            }
        }
    } else {
        for t in &tds {
            for n in &nss {
                for a in &sas {
                    add(format!("{t}/ns/{n}/sa/{a}"), &mut out);
                }
            }
        }
    }
    out
}

/// Token candidates: none, one that does not verify, and for each issuer the subjects the
/// principal literals name (`iss/sub` patterns, suffixes `*/sub`) and a fresh one.
fn token_candidates(issuers: &BTreeSet<String>, principal: &Patterns) -> Vec<Val> {
    let mut out: Vec<Val> = alloc::vec![Val::Absent, Val::BadToken];
    let (cands, _) = space::strings(principal, Kind::Plain);
    for iss in issuers {
        let mut subs: BTreeSet<String> = BTreeSet::new();
        subs.insert(space::FILLER.into());
        let lead = format!("{iss}/");
        for c in &cands {
            if let Some(sub) = c.strip_prefix(lead.as_str()) {
                if !sub.is_empty() {
                    subs.insert(sub.to_string());
                }
            }
            // A suffix `X/sub` where the issuer ends with X names `sub`.
            let mut from = 0;
            while let Some(i) = c.get(from..).and_then(|r| r.find('/')) {
                let at = from + i;
                if let (Some(x), Some(sub)) = (c.get(..at), c.get(at + 1..)) {
                    if iss.ends_with(x) && !sub.is_empty() {
                        subs.insert(sub.to_string());
                    }
                }
                from = at + 1;
            }
            if !c.is_empty() && !c.contains('/') {
                subs.insert(c.clone());
            }
        }
        for sub in subs {
            out.push(Val::Token {
                principal: format!("{iss}/{sub}"),
                iss: iss.clone(),
                sub,
            });
        }
    }
    out
}

/// Where a claim path is modelled.
enum ClaimDim {
    Iss,
    Sub,
    Aud,
    Azp,
    /// Time claims and JOSE fields the analysis sets itself.
    Opaque,
    Other(Vec<String>),
}

fn claim_dim(p: &[String]) -> ClaimDim {
    match p {
        [one] => match one.as_str() {
            "iss" => ClaimDim::Iss,
            "sub" => ClaimDim::Sub,
            "aud" => ClaimDim::Aud,
            "azp" => ClaimDim::Azp,
            "exp" | "iat" | "nbf" | "jti" => ClaimDim::Opaque,
            _ => ClaimDim::Other(p.to_vec()),
        },
        _ => ClaimDim::Other(p.to_vec()),
    }
}

struct Builder<'s> {
    sp: &'s Space,
    preds: Vec<Pred>,
}

impl Builder<'_> {
    fn pred(&mut self, dim: &Dim, auth: bool, absent: bool, f: &dyn Fn(&Val) -> bool) -> Expr {
        let Some(d) = self.sp.dim(dim) else {
            // A dimension that was not built: its attribute is always absent.
            return if absent {
                Expr::True
            } else {
                Expr::Or(Vec::new())
            };
        };
        let Some(cands) = self.sp.cands.get(d) else {
            return Expr::Opaque;
        };
        let mut bits = Bits::empty(cands.len());
        for (i, v) in cands.iter().enumerate() {
            if f(v) {
                bits.set(i);
            }
        }
        self.preds.push(Pred {
            dim: d,
            bits,
            auth,
            absent,
        });
        Expr::Pred(self.preds.len() - 1)
    }

    /// A string field on a single-valued attribute: positive (the attribute is present and
    /// matches), or negated (`not*`: absent, or matching none).
    fn field(
        &mut self,
        set: &MatchSet,
        dim: &Dim,
        get: &dyn Fn(&Val) -> Option<Cow<'_, str>>,
        negated: bool,
    ) -> Option<Expr> {
        (!set.is_empty()).then(|| {
            self.pred(dim, false, negated, &|v| {
                get(v).is_some_and(|s| set.matches(&s)) != negated
            })
        })
    }
    fn pos(
        &mut self,
        set: &MatchSet,
        dim: &Dim,
        get: &dyn Fn(&Val) -> Option<Cow<'_, str>>,
    ) -> Option<Expr> {
        self.field(set, dim, get, false)
    }
    fn neg(
        &mut self,
        set: &MatchSet,
        dim: &Dim,
        get: &dyn Fn(&Val) -> Option<Cow<'_, str>>,
    ) -> Option<Expr> {
        self.field(set, dim, get, true)
    }
}

fn one(v: &Val) -> Option<Cow<'_, str>> {
    v.one().map(Cow::Borrowed)
}
fn lower(v: &Val) -> Option<Cow<'_, str>> {
    v.one().map(|s| {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(s.to_ascii_lowercase())
        } else {
            Cow::Borrowed(s)
        }
    })
}
fn ns_of(v: &Val) -> Option<Cow<'_, str>> {
    v.one()
        .and_then(|p| segment_after(p, "ns"))
        .map(Cow::Borrowed)
}
fn sa_of(v: &Val) -> Option<Cow<'_, str>> {
    let p = v.one()?;
    Some(Cow::Owned(format!(
        "{}/{}",
        segment_after(p, "ns")?,
        segment_after(p, "sa")?
    )))
}
/// A condition key's values for a candidate.
fn cond_values<'v>(key: &Key, v: &'v Val) -> Vec<Cow<'v, str>> {
    match key {
        Key::SourceNamespace => ns_of(v).into_iter().collect(),
        Key::SourceServiceAccount => sa_of(v).into_iter().collect(),
        Key::Sni => lower(v).into_iter().collect(),
        Key::AuthPrincipal => principal_of(v).map(Cow::Borrowed).into_iter().collect(),
        Key::AuthClaim(p) if matches!(claim_dim(p), ClaimDim::Iss) => match v {
            Val::Token { iss, .. } => alloc::vec![Cow::Borrowed(iss.as_str())],
            _ => Vec::new(),
        },
        Key::AuthClaim(p) if matches!(claim_dim(p), ClaimDim::Sub) => match v {
            Val::Token { sub, .. } => alloc::vec![Cow::Borrowed(sub.as_str())],
            _ => Vec::new(),
        },
        _ => v.values().into_iter().map(Cow::Borrowed).collect(),
    }
}

/// The host as the context has it: always present (empty when the request has none).
fn host_of(v: &Val) -> Option<Cow<'_, str>> {
    Some(lower(v).unwrap_or(Cow::Borrowed("")))
}
fn principal_of(v: &Val) -> Option<&str> {
    match v {
        Val::Token { principal, .. } => Some(principal),
        _ => None,
    }
}

/// Compiles a document's DENY and ALLOW rules.
pub fn doc_model(plan: &Plan, sp: &Space) -> DocModel {
    let mut b = Builder {
        sp,
        preds: Vec::new(),
    };
    let mut rules = Vec::new();
    for p in plan.deny.iter().chain(&plan.allow) {
        for (i, r) in p.rules.iter().enumerate() {
            let expr = rule_expr(&mut b, r, plan);
            rules.push(RuleModel {
                action: p.action,
                policy: p.name.clone(),
                rule: i,
                expr,
            });
        }
    }
    let issuers = user_rules(plan)
        .map(|r| (r.issuer.clone(), r.audiences.clone()))
        .collect();
    DocModel {
        preds: b.preds,
        rules,
        issuers,
        reads_tokens: plan.auth.has_user_rules(),
    }
}

fn and(parts: Vec<Option<Expr>>) -> Expr {
    let v: Vec<Expr> = parts.into_iter().flatten().collect();
    if v.is_empty() {
        Expr::True
    } else {
        Expr::And(v)
    }
}

fn rule_expr(b: &mut Builder<'_>, r: &Rule, plan: &Plan) -> Expr {
    let mut parts = Vec::new();
    if !r.from.is_empty() {
        let alts = r.from.iter().map(|s| source_expr(b, s, plan)).collect();
        parts.push(Expr::Or(alts));
    }
    if !r.to.is_empty() {
        let alts = r.to.iter().map(|o| operation_expr(b, o)).collect();
        parts.push(Expr::Or(alts));
    }
    for c in &r.when {
        parts.push(condition_expr(b, c, plan));
    }
    if parts.is_empty() {
        Expr::True
    } else {
        Expr::And(parts)
    }
}

fn ip_field(b: &mut Builder<'_>, set: &IpSet, dim: &Dim, negated: bool) -> Option<Expr> {
    (!set.is_empty()).then(|| {
        b.pred(dim, false, negated, &|v| {
            let inside = v.one().is_some_and(|s| set.contains_str(s));
            inside != negated
        })
    })
}

fn remote_dim(plan: &Plan) -> Dim {
    if plan.num_trusted_proxies > 0 {
        Dim::RemoteIp
    } else {
        Dim::SourceIp
    }
}

fn source_expr(b: &mut Builder<'_>, s: &Source, plan: &Plan) -> Expr {
    let rp = &s.request_principals;
    let nrp = &s.not_request_principals;
    let mut parts = alloc::vec![
        b.pos(&s.principals, &Dim::Peer, &one),
        b.neg(&s.not_principals, &Dim::Peer, &one),
        b.pos(&s.namespaces, &Dim::Peer, &ns_of),
        b.neg(&s.not_namespaces, &Dim::Peer, &ns_of),
        b.pos(&s.service_accounts, &Dim::Peer, &sa_of),
        b.neg(&s.not_service_accounts, &Dim::Peer, &sa_of),
    ];
    if !rp.is_empty() {
        parts.push(Some(b.pred(&Dim::Token, true, false, &|v| {
            principal_of(v).is_some_and(|p| rp.matches(p))
        })));
    }
    if !nrp.is_empty() {
        parts.push(Some(b.pred(&Dim::Token, true, true, &|v| {
            !principal_of(v).is_some_and(|p| nrp.matches(p))
        })));
    }
    parts.push(ip_field(b, &s.ip_blocks, &Dim::SourceIp, false));
    parts.push(ip_field(b, &s.not_ip_blocks, &Dim::SourceIp, true));
    let rd = remote_dim(plan);
    parts.push(ip_field(b, &s.remote_ip_blocks, &rd, false));
    parts.push(ip_field(b, &s.not_remote_ip_blocks, &rd, true));
    and(parts)
}

fn operation_expr(b: &mut Builder<'_>, o: &Operation) -> Expr {
    let port = |set: &PortSet, negated: bool, b: &mut Builder<'_>| -> Option<Expr> {
        (!set.is_empty()).then(|| {
            b.pred(&Dim::Port, false, negated, &|v| {
                let listed = v
                    .one()
                    .and_then(|s| s.parse::<u16>().ok())
                    .is_some_and(|p| set.contains(p));
                listed != negated
            })
        })
    };
    // The host is always present in the context (empty when the request has none).
    let host = host_of;
    let parts = alloc::vec![
        b.pos(&o.hosts, &Dim::Host, &host),
        b.neg(&o.not_hosts, &Dim::Host, &host),
        port(&o.ports, false, b),
        port(&o.not_ports, true, b),
        b.pos(&o.methods, &Dim::Method, &one),
        b.neg(&o.not_methods, &Dim::Method, &one),
        b.pos(&o.paths, &Dim::Path, &one),
        b.neg(&o.not_paths, &Dim::Path, &one),
    ];
    and(parts)
}

fn condition_expr(b: &mut Builder<'_>, c: &Condition, plan: &Plan) -> Expr {
    // The attribute's values for a candidate; `None`: the key is not modelled here.
    let (dim, auth): (Dim, bool) = match &c.key {
        Key::Header(h) if RESERVED_HEADERS.contains(&h.as_str()) => return Expr::Opaque,
        Key::Header(h) => (Dim::Header(h.clone()), false),
        Key::SourceIp => (Dim::SourceIp, false),
        Key::RemoteIp => (remote_dim(plan), false),
        Key::DestinationIp => (Dim::DestIp, false),
        Key::DestinationPort => (Dim::Port, false),
        Key::SourceNamespace | Key::SourcePrincipal | Key::SourceServiceAccount => {
            (Dim::Peer, false)
        }
        Key::Sni => (Dim::Sni, false),
        Key::AuthPrincipal => (Dim::Token, true),
        Key::AuthAudiences => (Dim::Aud, true),
        Key::AuthPresenter => (Dim::Azp, true),
        Key::AuthClaim(p) => match claim_dim(p) {
            ClaimDim::Iss | ClaimDim::Sub => (Dim::Token, true),
            ClaimDim::Aud => (Dim::Aud, true),
            ClaimDim::Azp => (Dim::Azp, true),
            ClaimDim::Other(p) => (Dim::Claim(p), true),
            ClaimDim::Opaque => return Expr::Opaque,
        },
        _ => return Expr::Opaque,
    };
    let mut parts = Vec::new();
    if !c.values.is_empty() {
        let vals = &c.values;
        parts.push(Some(b.pred(&dim, auth, false, &|v| {
            cond_values(&c.key, v)
                .iter()
                .any(|x| value_matches(vals, x))
        })));
    }
    if !c.not_values.is_empty() {
        let vals = &c.not_values;
        parts.push(Some(b.pred(&dim, auth, true, &|v| {
            !cond_values(&c.key, v)
                .iter()
                .any(|x| value_matches(vals, x))
        })));
    }
    and(parts)
}

impl DocModel {
    /// How this document treats the cube's tokens, or the split that makes it uniform.
    pub fn token_kind(&self, sp: &Space, cube: &[Bits]) -> Result<TokenKind, (usize, Bits)> {
        let Some(td) = sp.dim(&Dim::Token) else {
            return Ok(TokenKind::None);
        };
        let (Some(tc), Some(cands)) = (cube.get(td), sp.cands.get(td)) else {
            return Ok(TokenKind::None);
        };
        // Classes: 0 none, 1 refused, 2 accepted whatever the audience, 3+i audiences of
        // issuer i checked.
        let class = |v: &Val| -> usize {
            match v {
                _ if !self.reads_tokens => 0,
                Val::Token { iss, .. } => match self.issuers.get(iss) {
                    None => 1,
                    Some(a) if a.is_empty() => 2,
                    Some(_) => 3 + self.issuers.keys().position(|k| k == iss).unwrap_or(0),
                },
                Val::BadToken => 1,
                _ => 0,
            }
        };
        let mut first: Option<usize> = None;
        let mut mixed = false;
        for i in tc.iter() {
            let k = cands.get(i).map_or(0, class);
            match first {
                None => first = Some(k),
                Some(f) if f != k => mixed = true,
                _ => {}
            }
        }
        let Some(k) = first else {
            return Ok(TokenKind::None);
        };
        if mixed {
            let mut bits = Bits::empty(cands.len());
            for (i, v) in cands.iter().enumerate() {
                if class(v) == k {
                    bits.set(i);
                }
            }
            return Err((td, bits));
        }
        match k {
            0 => Ok(TokenKind::None),
            1 => Ok(TokenKind::Refused),
            2 => Ok(TokenKind::Accepted),
            _ => {
                let audiences = self
                    .issuers
                    .values()
                    .nth(k - 3)
                    .cloned()
                    .unwrap_or_default();
                let Some(ad) = sp.dim(&Dim::Aud) else {
                    return Ok(TokenKind::Refused);
                };
                let (Some(ac), Some(acands)) = (cube.get(ad), sp.cands.get(ad)) else {
                    return Ok(TokenKind::Refused);
                };
                let mut ok = Bits::empty(acands.len());
                for (i, v) in acands.iter().enumerate() {
                    if v.values().iter().any(|a| audiences.iter().any(|x| x == a)) {
                        ok.set(i);
                    }
                }
                if ac.subset(&ok) {
                    Ok(TokenKind::Accepted)
                } else if ac.disjoint(&ok) {
                    Ok(TokenKind::Refused)
                } else {
                    Err((ad, ok))
                }
            }
        }
    }
}
