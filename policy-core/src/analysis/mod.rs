//! Policy analysis: which requests two documents decide differently (`vigil diff`).
//!
//! The request space is a product of dimensions (method, path, host, port, peer, addresses,
//! SNI, headers, the token and its claims), each with finitely many candidate values chosen
//! from both documents' literals so that every class of values some matcher can tell apart
//! has a member ([`space`]). Each rule is a formula over per-dimension predicates
//! ([`model`]). The search splits the space into cubes until, in each document, the first
//! DENY-then-ALLOW rule that can match a cube matches all of it (or none can); every request
//! of such a cube is decided alike, so one member — the witness — is decided by both real
//! engines and compared. Cubes decided differently are the changes.
//!
//! What the procedure does not model (trust scores, rate limits, behaviour, time, resources'
//! requirements, device and network signals, reserved headers) is held at the witness's
//! value and listed in [`Diff::not_analysed`].

pub mod coverage;
pub mod findings;
pub mod model;
pub mod space;
pub mod witness;

use crate::authenticate::rule::JwtRule;
use crate::authenticate::TokenCache;
use crate::enforce::Decision;
use crate::extract::request::CheckRequest;
use crate::json::{Map, Value};
use crate::policy::Plan;
use crate::{Engine, Env};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use model::{DocModel, Space, Status, TokenKind};
use space::Bits;

/// Most cubes decided before the search gives up (then nothing is claimed equivalent).
pub const MAX_CUBES: usize = 200_000;
/// Most DENY and ALLOW rules (both documents together) the analysis takes on: each rule's
/// predicates hold a bit per candidate value, so memory grows as rules × candidates.
pub const MAX_RULES: usize = 5_000;
/// Most candidate values of one attribute.
pub const MAX_CANDIDATES: usize = 50_000;

/// Why documents are too large to analyse, if they are.
pub fn too_many_rules(plans: &[&Plan]) -> Option<String> {
    let rules: usize = plans
        .iter()
        .map(|p| {
            p.deny
                .iter()
                .chain(&p.allow)
                .chain(&p.audit)
                .map(|x| x.rules.len())
                .sum::<usize>()
        })
        .sum();
    (rules > MAX_RULES).then(|| {
        format!("the documents have {rules} rules; the analysis takes at most {MAX_RULES}")
    })
}

/// Why the space is too large to analyse, if it is.
pub fn too_large(sp: &Space) -> Option<String> {
    sp.dims
        .iter()
        .zip(&sp.cands)
        .find(|(_, c)| c.len() > MAX_CANDIDATES)
        .map(|(d, c)| {
            format!(
                "{} has {} candidate values; the analysis takes at most {MAX_CANDIDATES}",
                d.name(),
                c.len()
            )
        })
}

/// One region decided differently, with its witness.
#[derive(Debug, Clone)]
pub struct Change {
    /// A request in the region.
    pub request: CheckRequest,
    /// The claims of the witness's token, when it has one.
    pub claims: Option<Map>,
    /// The old document's decision of the witness.
    pub before: Decision,
    /// The new document's decision.
    pub after: Decision,
    /// How many cubes of the search fell in this region.
    pub cubes: usize,
}

impl Change {
    /// `newly_allowed`, `newly_denied` or `changed` (same outcome, another status, code or
    /// deciding policy).
    pub fn kind(&self) -> &'static str {
        let was = self.before.outcome == crate::Outcome::Allow;
        let is = self.after.outcome == crate::Outcome::Allow;
        match (was, is) {
            (false, true) => "newly_allowed",
            (true, false) => "newly_denied",
            _ => "changed",
        }
    }

    /// `{"kind", "request", "before", "after", "tokenClaims"?, "cubes"}`.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("kind", Value::from(self.kind()));
        m.insert("request", self.request.to_value());
        if let Some(c) = &self.claims {
            m.insert("tokenClaims", Value::Object(c.clone()));
        }
        m.insert("before", self.before.to_value());
        m.insert("after", self.after.to_value());
        m.insert(
            "cubes",
            Value::from(i64::try_from(self.cubes).unwrap_or(i64::MAX)),
        );
        Value::Object(m)
    }
}

/// The result of comparing two documents.
#[derive(Debug, Clone)]
pub struct Diff {
    /// True when the search covered the whole space and found no change.
    pub equivalent: bool,
    /// False when the search stopped at [`MAX_CUBES`].
    pub complete: bool,
    /// The changes, newly allowed first.
    pub changes: Vec<Change>,
    /// What the procedure did not analyse (and held fixed).
    pub not_analysed: Vec<String>,
    /// Cubes decided.
    pub cubes: usize,
}

impl Diff {
    /// `{"equivalent", "complete", "changes", "notAnalysed", "cubes"}`.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("equivalent", Value::Bool(self.equivalent));
        m.insert("complete", Value::Bool(self.complete));
        m.insert(
            "changes",
            Value::Array(self.changes.iter().map(Change::to_value).collect()),
        );
        m.insert(
            "notAnalysed",
            Value::Array(
                self.not_analysed
                    .iter()
                    .map(|s| Value::from(s.as_str()))
                    .collect(),
            ),
        );
        m.insert(
            "cubes",
            Value::from(i64::try_from(self.cubes).unwrap_or(i64::MAX)),
        );
        Value::Object(m)
    }
}

/// What two decisions are compared on.
fn signature(d: &Decision) -> (String, u16, String, Option<String>, bool) {
    (
        d.outcome.as_str().to_string(),
        d.status,
        d.code.to_string(),
        d.policy.clone(),
        d.dry_run,
    )
}

fn user_rules(plan: &Plan) -> impl Iterator<Item = &JwtRule> {
    plan.auth.rules().iter().filter(|r| !r.device)
}

/// The token rule settings that change which tokens verify, besides issuer and audiences.
fn rule_settings(r: &JwtRule) -> String {
    format!(
        "{:?}|{:?}|{}|{:?}|{:?}|{:?}|{}|{:?}",
        r.locations,
        r.algorithms,
        r.clock_skew_seconds,
        r.required_type,
        r.max_token_lifetime_seconds,
        r.require_claims,
        r.max_token_bytes,
        r.space_delimited_claims
    )
}

/// What neither document's analysis covers, and settings that differ in ways it does not
/// model.
fn not_analysed(old: &Plan, new: &Plan, sp: &Space) -> Vec<String> {
    let mut out: BTreeSet<String> = sp.gaps.clone();
    for p in [old, new] {
        if p.trust.is_some() {
            out.insert(
                "trust: risk weights and scores are not analysed; witnesses carry no risk signals"
                    .into(),
            );
        }
        if !p.rate_limits.is_empty() {
            out.insert("rateLimits: not analysed; every bucket is taken as full".into());
        }
        if p.resources.iter().any(|r| {
            r.min_acr.is_some()
                || r.max_auth_age.is_some()
                || r.max_token_lifetime.is_some()
                || r.min_trust.is_some()
        }) {
            out.insert("resources: requirements (acr, auth age, token lifetime, trust) are not analysed; witnesses carry no acr or auth_time".into());
        }
        if p.auth.has_device_rules() {
            out.insert("device tokens: not analysed; witnesses carry none".into());
        }
        if !p.revocation.is_empty() || p.revocation_feed.is_some() {
            out.insert("revocation: not analysed; witness tokens have no jti".into());
        }
        for key in p.condition_keys() {
            use crate::policy::authz::Key;
            let what = match key {
                Key::ResourceName | Key::ResourceClassification => Some("resource.*"),
                Key::Device(_) => Some("device.*"),
                Key::NetworkList(_) | Key::NetworkCountry => Some("network.*"),
                Key::Behavior(_) => Some("behavior.*"),
                Key::SubjectLabels => Some("subject.labels"),
                Key::TimeHour | Key::TimeWeekday => Some("time.*"),
                Key::Header(h)
                    if [
                        "host",
                        ":authority",
                        "authorization",
                        "cookie",
                        "x-forwarded-for",
                    ]
                    .contains(&h.as_str()) =>
                {
                    Some("request.headers of host, authorization, cookie, x-forwarded-for")
                }
                Key::AuthClaim(c) if matches!(c.as_slice(), [one] if ["exp", "iat", "nbf", "jti"].contains(&one.as_str())) => {
                    Some("request.auth.claims of exp, iat, nbf, jti")
                }
                _ => None,
            };
            if let Some(w) = what {
                out.insert(format!(
                    "{w} conditions: not analysed; held at the witness's value"
                ));
            }
        }
    }
    if old.path_normalization != new.path_normalization {
        out.insert("pathNormalization differs: only canonical paths were compared".into());
    }
    if old.num_trusted_proxies != new.num_trusted_proxies {
        out.insert(
            "numTrustedProxies differs: client addresses compared as the old document reads them"
                .into(),
        );
    }
    let settings = |p: &Plan| -> BTreeMap<String, String> {
        user_rules(p)
            .map(|r| (r.issuer.clone(), rule_settings(r)))
            .collect()
    };
    let (so, sn) = (settings(old), settings(new));
    for (iss, s) in &so {
        if sn.get(iss).is_some_and(|t| t != s) {
            out.insert(format!(
                "jwtRules of `{iss}` differ beyond issuer and audiences (token location, algorithms, type, lifetime, required claims): witnesses carry tokens both accept"
            ));
        }
    }
    for p in [old, new] {
        for r in user_rules(p) {
            if witness::choose_alg(&[r]).is_none() {
                out.insert(format!(
                    "tokens of `{}`: only ES384/ES512 are allowed, which the analysis key set lacks",
                    r.issuer
                ));
            }
        }
    }
    out.into_iter().collect()
}

/// Where the search stands in one document: the rules (indexes into its model) that can still
/// match.
#[derive(Debug, Clone)]
struct Live(Vec<u32>);

enum Next {
    /// The document decides the whole cube alike.
    Decided(Live),
    /// Split this dimension by these candidates; the rules that can still match either part.
    Split(usize, Bits, Live),
}

fn next(doc: &DocModel, sp: &Space, cube: &[Bits], live: &Live) -> Next {
    let kind = match doc.token_kind(sp, cube) {
        Ok(k) => k,
        Err((d, bits)) => return Next::Split(d, bits, live.clone()),
    };
    if kind == TokenKind::Refused {
        return Next::Decided(Live(Vec::new()));
    }
    let authed = kind == TokenKind::Accepted;
    let mut keep: Vec<u32> = Vec::with_capacity(live.0.len());
    for (pos, &r) in live.0.iter().enumerate() {
        let Some(rule) = doc.rules.get(r as usize) else {
            continue;
        };
        match rule.expr.eval(&doc.preds, cube, authed) {
            Status::None => {}
            Status::All | Status::Unknown => {
                keep.extend(live.0.iter().skip(pos).copied());
                return Next::Decided(Live(keep));
            }
            Status::Partial(p) => {
                keep.extend(live.0.iter().skip(pos).copied());
                return match doc.preds.get(p) {
                    Some(pred) => Next::Split(pred.dim, pred.bits.clone(), Live(keep)),
                    None => Next::Decided(Live(keep)),
                };
            }
        }
    }
    Next::Decided(Live(keep))
}

/// Compares two documents at time `now` (Unix seconds).
pub fn diff(old: &Engine, new: &Engine, now: i64) -> Diff {
    let (po, pn) = (old.plan(), new.plan());
    let refuse = |why: String| Diff {
        equivalent: false,
        complete: false,
        changes: Vec::new(),
        not_analysed: alloc::vec![format!("everything: {why}")],
        cubes: 0,
    };
    if let Some(why) = too_many_rules(&[po, pn]) {
        return refuse(why);
    }
    let sp = model::build_space(&[po, pn]);
    if let Some(why) = too_large(&sp) {
        return refuse(why);
    }
    let mo = model::doc_model(po, &sp);
    let mn = model::doc_model(pn, &sp);
    let issuers: BTreeSet<String> = user_rules(po)
        .chain(user_rules(pn))
        .map(|r| r.issuer.clone())
        .collect();
    let keys = witness::analysis_keys(&issuers);
    let env = Env {
        now,
        keys: Some(&keys),
        ..Env::default()
    };
    let find_issuer = |iss: &str| witness::Issuer {
        rules: [po, pn]
            .iter()
            .filter_map(|p| p.auth.rule_for_issuer(iss).map(|(_, r)| r))
            .filter(|r| !r.device)
            .collect(),
    };
    let default_location = user_rules(po)
        .chain(user_rules(pn))
        .find_map(|r| r.locations.first());
    let decide = |e: &Engine, req: &CheckRequest| -> Decision {
        let mut cache = TokenCache::new(1);
        e.decide_cached_using(req, &env, &mut cache, &mut witness::AnalysisSignatures)
    };
    let all = |m: &DocModel| {
        Live(
            (0..m.rules.len())
                .filter_map(|i| u32::try_from(i).ok())
                .collect(),
        )
    };
    let mut stack: Vec<(Vec<Bits>, Live, Live)> = alloc::vec![(sp.full(), all(&mo), all(&mn))];
    type Sig = (String, u16, String, Option<String>, bool);
    type Key = (Sig, Sig, Option<usize>, Option<usize>);
    let mut found: BTreeMap<Key, Change> = BTreeMap::new();
    let mut cubes = 0usize;
    let mut complete = true;
    while let Some((cube, lo, ln)) = stack.pop() {
        // Each document narrows its own live rules; a split carries both narrowed lists.
        let step = match next(&mo, &sp, &cube, &lo) {
            Next::Split(d, b, lo2) => Err((d, b, lo2, ln)),
            Next::Decided(lo2) => match next(&mn, &sp, &cube, &ln) {
                Next::Split(d, b, ln2) => Err((d, b, lo2, ln2)),
                Next::Decided(ln2) => Ok((lo2, ln2)),
            },
        };
        match step {
            Err((d, bits, lo, ln)) => {
                let Some(c) = cube.get(d) else { continue };
                let (yes, no) = (c.and(&bits), c.minus(&bits));
                // The part outside the predicate is popped first: witnesses then use absent and
                // unnamed values wherever the region allows.
                for part in [yes, no] {
                    if part.is_empty() {
                        continue;
                    }
                    let mut child = cube.clone();
                    if let Some(slot) = child.get_mut(d) {
                        *slot = part;
                    }
                    stack.push((child, lo.clone(), ln.clone()));
                }
            }
            Ok(_) => {
                cubes += 1;
                if cubes > MAX_CUBES {
                    complete = false;
                    break;
                }
                let pick = witness::pick(&cube);
                let (req, claims) =
                    witness::request(&sp, &pick, now, &find_issuer, default_location);
                let (a, b) = (decide(old, &req), decide(new, &req));
                let (sa, sb) = (signature(&a), signature(&b));
                if sa != sb {
                    found
                        .entry((sa, sb, a.rule, b.rule))
                        .and_modify(|c| c.cubes += 1)
                        .or_insert(Change {
                            request: req,
                            claims,
                            before: a,
                            after: b,
                            cubes: 1,
                        });
                }
            }
        }
    }
    let mut changes: Vec<Change> = found.into_values().collect();
    let rank = |c: &Change| match c.kind() {
        "newly_allowed" => 0,
        "newly_denied" => 1,
        _ => 2,
    };
    changes.sort_by_key(rank);
    Diff {
        equivalent: complete && changes.is_empty(),
        complete,
        changes,
        not_analysed: not_analysed(po, pn, &sp),
        cubes,
    }
}

#[cfg(test)]
#[path = "analysis_test.rs"]
mod tests;
