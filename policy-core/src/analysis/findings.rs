//! Analysis findings for `vigil check` (beside the lints of [`crate::lint`]), found with the
//! same request space and search as [`super::diff`]:
//!
//! * `unreachable_rule`: no request can match the rule (contradictory clauses, or values that
//!   strict canonicalisation never produces: `%2F`, `//`, `/../` in a path, an upper-case
//!   host, a lower-case method);
//! * `shadowed_rule`: requests match the rule, but every one of them is decided by an earlier
//!   rule (a DENY, or an earlier ALLOW);
//! * `allow_all_requests`: an ALLOW rule that matches every request, token or not;
//! * `allow_all_sensitive`: an ALLOW rule that matches every request to a resource classed
//!   above the least sensitive class;
//! * `allow_without_identity`: an ALLOW rule that admits callers with no identity (no mTLS
//!   peer, no token) to something that is not a resource of the least sensitive class.

use super::model::{self, DocModel, Expr, Space, Status, TokenKind};
use super::space::{Bits, Dim, Val};
use super::witness;
use crate::authenticate::TokenCache;
use crate::lint::{Level, Lint};
use crate::policy::authz::Action;
use crate::{Engine, Env};
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// Most cubes one search decides before the findings that need it are left out.
const MAX_CUBES: usize = 50_000;

/// A fixed time for findings (they do not depend on it: time conditions are not analysed).
const NOW: i64 = 1_700_000_000;

fn restrict(sp: &Space, cube: &mut [Bits], dim: &Dim, keep: &dyn Fn(&Val) -> bool) {
    let (Some(d), Some(cands)) = (sp.dim(dim), sp.dim(dim).and_then(|d| sp.cands.get(d))) else {
        return;
    };
    let mut b = Bits::empty(cands.len());
    for (i, v) in cands.iter().enumerate() {
        if keep(v) {
            b.set(i);
        }
    }
    if let Some(slot) = cube.get_mut(d) {
        *slot = slot.and(&b);
    }
}

/// Splits `start` until `expr` is settled on each part; calls `leaf` with every part where
/// it is ALL (or unknown: `true` passed). Returns false when the search was cut short.
fn settle(
    doc: &DocModel,
    sp: &Space,
    expr: &Expr,
    start: Vec<Bits>,
    leaf: &mut dyn FnMut(&[Bits], bool) -> bool,
) -> bool {
    let mut stack = alloc::vec![start];
    let mut n = 0usize;
    while let Some(cube) = stack.pop() {
        n += 1;
        if n > MAX_CUBES {
            return false;
        }
        if cube.iter().any(Bits::is_empty) {
            continue;
        }
        let split = match doc.token_kind(sp, &cube) {
            Err(s) => Some(s),
            Ok(TokenKind::Refused) => continue,
            Ok(kind) => match expr.eval(&doc.preds, &cube, kind == TokenKind::Accepted) {
                Status::None => continue,
                Status::All => {
                    if !leaf(&cube, false) {
                        return true;
                    }
                    continue;
                }
                Status::Unknown => {
                    if !leaf(&cube, true) {
                        return true;
                    }
                    continue;
                }
                Status::Partial(p) => doc.preds.get(p).map(|p| (p.dim, p.bits.clone())),
            },
        };
        let Some((d, bits)) = split else { continue };
        let Some(c) = cube.get(d) else { continue };
        for part in [c.and(&bits), c.minus(&bits)] {
            if part.is_empty() {
                continue;
            }
            let mut child = cube.clone();
            if let Some(slot) = child.get_mut(d) {
                *slot = part;
            }
            stack.push(child);
        }
    }
    true
}

/// Which rules decide some request (the first DENY-then-ALLOW rule matching it). Rules after
/// an opaque one are counted as deciding (nothing is claimed about them). `None` when the
/// search was cut short.
fn deciders(doc: &DocModel, sp: &Space) -> Option<BTreeSet<usize>> {
    let mut out = BTreeSet::new();
    let mut stack: Vec<(Vec<Bits>, Vec<usize>)> =
        alloc::vec![(sp.full(), (0..doc.rules.len()).collect())];
    let mut n = 0usize;
    while let Some((cube, live)) = stack.pop() {
        n += 1;
        if n > MAX_CUBES {
            return None;
        }
        let kind = match doc.token_kind(sp, &cube) {
            Ok(k) => k,
            Err((d, bits)) => {
                push_split(&mut stack, &cube, &live, d, &bits);
                continue;
            }
        };
        if kind == TokenKind::Refused {
            continue;
        }
        let authed = kind == TokenKind::Accepted;
        let mut keep = Vec::with_capacity(live.len());
        let mut split = None;
        for (pos, &r) in live.iter().enumerate() {
            let Some(rule) = doc.rules.get(r) else {
                continue;
            };
            match rule.expr.eval(&doc.preds, &cube, authed) {
                Status::None => {}
                Status::All => {
                    out.insert(r);
                    break;
                }
                Status::Unknown => {
                    out.extend(live.iter().skip(pos).copied());
                    break;
                }
                Status::Partial(p) => {
                    keep.extend(live.iter().skip(pos).copied());
                    split = doc.preds.get(p).map(|p| (p.dim, p.bits.clone()));
                    break;
                }
            }
        }
        if let Some((d, bits)) = split {
            push_split(&mut stack, &cube, &keep, d, &bits);
        }
    }
    Some(out)
}

fn push_split(
    stack: &mut Vec<(Vec<Bits>, Vec<usize>)>,
    cube: &[Bits],
    live: &[usize],
    d: usize,
    bits: &Bits,
) {
    let Some(c) = cube.get(d) else { return };
    for part in [c.and(bits), c.minus(bits)] {
        if part.is_empty() {
            continue;
        }
        let mut child = cube.to_vec();
        if let Some(slot) = child.get_mut(d) {
            *slot = part;
        }
        stack.push((child, live.to_vec()));
    }
}

/// The analysis findings of one document.
pub fn findings(engine: &Engine) -> Vec<Lint> {
    let plan = engine.plan();
    let sp = match super::too_many_rules(&[plan]) {
        Some(why) => Err(why),
        None => {
            let sp = model::build_space(&[plan]);
            match super::too_large(&sp) {
                Some(why) => Err(why),
                None => Ok(sp),
            }
        }
    };
    let sp = match sp {
        Ok(sp) => sp,
        Err(why) => {
            return alloc::vec![Lint {
                level: Level::Info,
                code: "analysis_skipped",
                path: "authorizationPolicies".into(),
                message: format!("unreachable and shadowed rules were not looked for: {why}"),
            }]
        }
    };
    let doc = model::doc_model(plan, &sp);
    let issuers: BTreeSet<String> = plan
        .auth
        .rules()
        .iter()
        .filter(|r| !r.device)
        .map(|r| r.issuer.clone())
        .collect();
    let keys = witness::analysis_keys(&issuers);
    let env = Env {
        now: NOW,
        keys: Some(&keys),
        ..Env::default()
    };
    let find_issuer = |iss: &str| witness::Issuer {
        rules: plan
            .auth
            .rule_for_issuer(iss)
            .map(|(_, r)| r)
            .into_iter()
            .collect(),
    };
    let location = plan
        .auth
        .rules()
        .iter()
        .filter(|r| !r.device)
        .find_map(|r| r.locations.first());
    let decide = |req: &crate::CheckRequest| {
        let mut cache = TokenCache::new(1);
        engine.decide_cached_using(req, &env, &mut cache, &mut witness::AnalysisSignatures)
    };
    let describe = |cube: &[Bits]| -> String {
        let pick = witness::pick(cube);
        let (req, claims) = witness::request(&sp, &pick, NOW, &find_issuer, location);
        let mut s = format!("{} {}", req.method, req.path);
        if !req.host.is_empty() {
            s.push_str(&format!(" on {}", req.host));
        }
        if let Some(p) = &req.source.principal {
            s.push_str(&format!(" from {p}"));
        }
        if let Some(c) = claims {
            if let (Some(i), Some(u)) = (
                c.get("iss").and_then(|v| v.as_str()),
                c.get("sub").and_then(|v| v.as_str()),
            ) {
                s.push_str(&format!(" with a token of `{i}/{u}`"));
            }
        }
        s
    };
    let policies: Vec<&crate::policy::authz::AuthzPolicy> =
        plan.deny.iter().chain(&plan.allow).collect();
    let path_of = |policy: &str, rule: usize| -> String {
        policies.iter().find(|p| p.name == policy).map_or_else(
            || format!("authorizationPolicies[{policy}]"),
            |p| format!("{}.rules[{rule}]", p.path),
        )
    };
    let mut out = Vec::new();
    let effective = deciders(&doc, &sp);
    let lowest = plan.classifications.first().cloned();
    for (idx, r) in doc.rules.iter().enumerate() {
        let at = path_of(&r.policy, r.rule);
        let name = format!("rule {} of policy `{}`", r.rule, r.policy);
        // Some request the rule matches, if any (an opaque part counts as matching).
        let mut example: Option<(Vec<Bits>, bool)> = None;
        let finished = settle(&doc, &sp, &r.expr, sp.full(), &mut |cube, opaque| {
            example = Some((cube.to_vec(), opaque));
            false
        });
        let Some((cube, opaque)) = example else {
            if finished {
                out.push(Lint {
                    level: Level::Warning,
                    code: "unreachable_rule",
                    path: at,
                    message: format!("no request can match {name}: its clauses contradict each other, or a value can never appear in a canonical request (see `never_matches` for which)"),
                });
            }
            continue;
        };
        if !opaque && effective.as_ref().is_some_and(|e| !e.contains(&idx)) {
            let shadower = decide(
                &witness::request(&sp, &witness::pick(&cube), NOW, &find_issuer, location).0,
            );
            let by = shadower
                .policy
                .map_or_else(|| "earlier rules".to_string(), |p| format!("`{p}`"));
            out.push(Lint {
                level: Level::Warning,
                code: "shadowed_rule",
                path: at.clone(),
                message: format!(
                    "{name} never decides: every request it matches is decided earlier (e.g. {} is decided by {by})",
                    describe(&cube)
                ),
            });
        }
        if r.action != Action::Allow {
            continue;
        }
        // Every request, with no token and with each accepted token.
        if everywhere(&doc, &sp, &r.expr) {
            out.push(Lint {
                level: Level::Warning,
                code: "allow_all_requests",
                path: at.clone(),
                message: format!("{name} matches every request, with a token or without"),
            });
            continue;
        }
        for res in &plan.resources {
            if Some(&res.classification) == lowest.as_ref() {
                continue;
            }
            let mut cube = sp.full();
            restrict(&sp, &mut cube, &Dim::Path, &|v| {
                res.paths.is_empty() || v.one().is_some_and(|p| res.paths.matches(p))
            });
            restrict(&sp, &mut cube, &Dim::Method, &|v| {
                res.methods.is_empty() || v.one().is_some_and(|m| res.methods.matches(m))
            });
            restrict(&sp, &mut cube, &Dim::Host, &|v| {
                res.hosts.is_empty() || v.one().is_some_and(|h| res.hosts.matches(h))
            });
            if cube.iter().any(Bits::is_empty) {
                continue;
            }
            if everywhere_in(&doc, &sp, &r.expr, cube) {
                out.push(Lint {
                    level: Level::Warning,
                    code: "allow_all_sensitive",
                    path: at.clone(),
                    message: format!(
                        "{name} matches every request to resource `{}` (classified `{}`), with a token or without",
                        res.name, res.classification
                    ),
                });
            }
        }
        // Callers with no identity: no peer, no token.
        let rule_obj = policies
            .iter()
            .find(|p| p.name == r.policy)
            .and_then(|p| p.rules.get(r.rule));
        if rule_obj.is_some_and(|x| x.from.is_empty() && x.when.is_empty()) {
            continue; // `broad_allow` says it already.
        }
        let mut anon = sp.full();
        restrict(&sp, &mut anon, &Dim::Peer, &|v| *v == Val::Absent);
        restrict(&sp, &mut anon, &Dim::Token, &|v| *v == Val::Absent);
        let mut found: Option<String> = None;
        settle(&doc, &sp, &r.expr, anon, &mut |cube, opaque| {
            if opaque {
                return true;
            }
            let (req, _) = witness::request(&sp, &witness::pick(cube), NOW, &find_issuer, location);
            let d = decide(&req);
            let public = d
                .resource
                .as_ref()
                .is_some_and(|x| Some(&x.classification) == lowest.as_ref());
            if public || d.policy.as_deref() != Some(r.policy.as_str()) {
                return true;
            }
            found = Some(describe(cube));
            false
        });
        if let Some(ex) = found {
            out.push(Lint {
                level: Level::Warning,
                code: "allow_without_identity",
                path: at,
                message: format!(
                    "{name} admits callers with no identity (no mTLS peer, no token), e.g. {ex}; add principals, namespaces or requestPrincipals, or class the resource `{}`",
                    lowest.as_deref().unwrap_or("public")
                ),
            });
        }
    }
    out
}

/// True when `expr` holds on every request (every token kind).
fn everywhere(doc: &DocModel, sp: &Space, expr: &Expr) -> bool {
    everywhere_in(doc, sp, expr, sp.full())
}

fn everywhere_in(doc: &DocModel, sp: &Space, expr: &Expr, start: Vec<Bits>) -> bool {
    let mut ok = true;
    let neg_done = settle(doc, sp, &Expr::True, start, &mut |cube, _| {
        let kind = doc.token_kind(sp, cube).unwrap_or(TokenKind::None);
        if !all_on(doc, sp, expr, cube.to_vec(), kind == TokenKind::Accepted) {
            ok = false;
            return false;
        }
        true
    });
    ok && neg_done
}

/// True when `expr` is ALL on every part of `cube` (splitting where partial).
fn all_on(doc: &DocModel, _sp: &Space, expr: &Expr, cube: Vec<Bits>, authed: bool) -> bool {
    let mut stack = alloc::vec![cube];
    let mut n = 0;
    while let Some(c) = stack.pop() {
        n += 1;
        if n > MAX_CUBES {
            return false;
        }
        match expr.eval(&doc.preds, &c, authed) {
            Status::All => {}
            Status::None | Status::Unknown => return false,
            Status::Partial(p) => {
                let Some(pred) = doc.preds.get(p) else {
                    return false;
                };
                let Some(cd) = c.get(pred.dim) else {
                    return false;
                };
                for part in [cd.and(&pred.bits), cd.minus(&pred.bits)] {
                    if part.is_empty() {
                        continue;
                    }
                    let mut child = c.clone();
                    if let Some(slot) = child.get_mut(pred.dim) {
                        *slot = part;
                    }
                    stack.push(child);
                }
            }
        }
    }
    true
}
