//! The Zero Trust stages of a decision: revocation, rate limits, resource requirements
//! (RFC 9470 step-up) and the trust score against the resource's threshold.
//!
//! Full order (design §2.4), as [`crate::Engine`] runs it: canonicalise → authenticate →
//! **revocation** → **rate limit** → DENY policies → **resource requirements** (token
//! lifetime, acr, auth age) → **trust vs threshold** → ALLOW policies → default action.

use super::{rule_matches, unauthenticated, Ctx, Step};
use crate::authenticate::Identity;
use crate::enforce::{bearer_error, step_up_challenge, Decision, FiredRisk, Outcome, TrustReport};
use crate::json::Value;
use crate::policy::limits::{RateKeyKind, RateLimit};
use crate::policy::Plan;
use crate::state::{Bucket, RateKey, RateState, RateUpdate, RevocationSnapshot};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// Adds a step to an explanation; `detail` is only rendered when explaining.
pub(crate) fn step(
    trace: &mut Option<&mut Vec<Step>>,
    stage: &'static str,
    matched: bool,
    detail: impl FnOnce() -> String,
) {
    if let Some(t) = trace.as_deref_mut() {
        t.push(Step {
            stage,
            policy: None,
            rule: None,
            matched,
            detail: detail(),
        });
    }
}

/// The token's `acr` as an index in `acrLevels`.
pub fn acr_rank(plan: &Plan, claims: &crate::json::Map) -> Option<usize> {
    let acr = claims.get("acr").and_then(Value::as_str)?;
    plan.acr_levels.iter().position(|l| l == acr)
}

/// Revocation: the policy's inline lists, then the adapter's snapshot.
pub fn revocation(
    plan: &Plan,
    id: &Identity,
    feed: Option<&RevocationSnapshot>,
    trace: &mut Option<&mut Vec<Step>>,
) -> Option<Decision> {
    if plan.revocation.is_empty() && feed.is_none_or(RevocationSnapshot::is_empty) {
        return None;
    }
    let text = |k: &str| id.claims.get(k).and_then(Value::as_str);
    let (jti, sid) = (text("jti"), text("sid"));
    let sub = id.subject.as_deref();
    let why = plan
        .revocation
        .check(&id.issuer, sub, jti, sid, id.issued_at)
        .or_else(|| feed.and_then(|f| f.check(&id.issuer, sub, jti, sid, id.issued_at)));
    match why {
        None => {
            step(trace, "revocation", true, || {
                "the token is not revoked".into()
            });
            None
        }
        Some(w) => {
            let mut d = Decision::new(
                Outcome::Unauthenticated,
                401,
                "invalid_token",
                format!("invalid token: {} (`revoked`)", w.description()),
            );
            d.response_headers.push((
                "www-authenticate".into(),
                bearer_error(&plan.realm, "invalid_token", w.description()),
            ));
            step(trace, "revocation", false, || d.reason.clone());
            Some(d)
        }
    }
}

/// The counter a limit uses for this request, if the limit applies to it.
pub fn rate_key(limit: &RateLimit, c: &Ctx<'_>) -> Option<RateKey> {
    if !limit.resources.is_empty()
        && !c
            .resource
            .is_some_and(|r| limit.resources.contains(&r.name))
    {
        return None;
    }
    let key = match &limit.key {
        RateKeyKind::Principal => c.auth.map(|a| a.principal.to_string()),
        RateKeyKind::SourcePrincipal => c.peer.map(str::to_string),
        RateKeyKind::Ip => c.remote_ip.map(|ip| ip.to_string()),
        RateKeyKind::Header(h) => {
            let vals: Vec<&str> = c.req.header_values(h).collect();
            (!vals.is_empty()).then(|| vals.join(","))
        }
    }?;
    Some(RateKey {
        limit: limit.name.clone(),
        key,
    })
}

/// A bucket refilled up to `now`.
pub fn refill(limit: &RateLimit, bucket: Option<Bucket>, now: i64) -> Bucket {
    let cap = limit.burst.saturating_mul(1000);
    match bucket {
        None => Bucket {
            milli: cap,
            updated: now,
        },
        Some(b) => {
            let elapsed = u128::from(now.saturating_sub(b.updated).max(0).unsigned_abs());
            let add = elapsed * u128::from(limit.requests_per_unit) * 1000
                / u128::from(limit.unit_seconds.max(1));
            let milli = u128::from(b.milli).saturating_add(add).min(u128::from(cap)) as u64;
            Bucket {
                milli,
                updated: now.max(b.updated),
            }
        }
    }
}

/// Rate limits: every applicable bucket must hold one request; then one is taken from each.
/// Returns the decision when over a limit, and always the counter updates.
pub fn rate_limit(
    plan: &Plan,
    c: &Ctx<'_>,
    state: Option<&dyn RateState>,
    now: i64,
    trace: &mut Option<&mut Vec<Step>>,
) -> (Option<Decision>, Vec<RateUpdate>) {
    let mut updates = Vec::new();
    let mut over: Option<(&RateLimit, u64)> = None;
    for limit in &plan.rate_limits {
        let Some(key) = rate_key(limit, c) else {
            continue;
        };
        let b = refill(
            limit,
            state.and_then(|s| s.bucket(&key.limit, &key.key)),
            now,
        );
        if b.milli < 1000 && over.is_none() {
            // Seconds until one request's worth has been added back.
            let missing = u128::from(1000 - b.milli);
            let per = u128::from(limit.requests_per_unit) * 1000;
            let wait = (missing * u128::from(limit.unit_seconds))
                .div_ceil(per)
                .max(1);
            over = Some((limit, wait.min(u128::from(u32::MAX)) as u64));
        }
        updates.push(RateUpdate { key, bucket: b });
    }
    if plan.rate_limits.is_empty() {
        return (None, updates);
    }
    if let Some((limit, wait)) = over {
        let mut d = Decision::new(
            Outcome::RateLimited,
            429,
            "rate_limited",
            format!(
                "rate limit `{}` exceeded: {} requests per {}",
                limit.name, limit.requests_per_unit, limit.unit
            ),
        );
        d.response_headers
            .push(("retry-after".into(), wait.to_string()));
        step(trace, "rate_limit", false, || d.reason.clone());
        return (Some(d), updates);
    }
    for u in &mut updates {
        u.bucket.milli -= 1000;
    }
    if trace.is_some() {
        let detail = if updates.is_empty() {
            "no rate limit applies".into()
        } else {
            updates
                .iter()
                .map(|u| {
                    format!(
                        "`{}` for `{}`: {} left",
                        u.key.limit,
                        u.key.key,
                        u.bucket.milli / 1000
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        step(trace, "rate_limit", true, || detail);
    }
    (None, updates)
}

/// Resource requirements: token lifetime (401 `invalid_token`), then acr and auth age
/// (401 step-up, RFC 9470).
pub fn requirements(
    plan: &Plan,
    c: &Ctx<'_>,
    id: Option<&Identity>,
    now: i64,
    trace: &mut Option<&mut Vec<Step>>,
) -> Option<Decision> {
    let r = c.resource?;
    if r.min_acr.is_none() && r.max_auth_age.is_none() && r.max_token_lifetime.is_none() {
        step(trace, "resource", true, || {
            format!(
                "resource `{}` ({}) has no authentication requirements",
                r.name, r.classification
            )
        });
        return None;
    }
    let Some(id) = id else {
        let d = if plan.auth.has_user_rules() {
            unauthenticated(
                plan,
                c,
                format!("authentication required for resource `{}`", r.name),
            )
        } else {
            Decision::new(
                Outcome::Deny,
                403,
                "insufficient_user_authentication",
                format!(
                    "resource `{}` requires an authenticated caller and no `jwtRules` are configured",
                    r.name
                ),
            )
        };
        step(trace, "resource", false, || d.reason.clone());
        return Some(d);
    };
    if let Some(max) = r.max_token_lifetime {
        let lifetime = id.issued_at.map(|iat| id.expires_at.saturating_sub(iat));
        if lifetime.is_none_or(|l| l > max as i64) {
            let description = "the token lifetime is too long for this resource";
            let mut d = Decision::new(
                Outcome::Unauthenticated,
                401,
                "invalid_token",
                format!(
                    "invalid token: {description}: {} seconds, resource `{}` allows {max} (`lifetime_too_long`)",
                    lifetime.map_or("no `iat`, unknown".to_string(), |l| l.to_string()),
                    r.name
                ),
            );
            d.response_headers.push((
                "www-authenticate".into(),
                bearer_error(&plan.realm, "invalid_token", description),
            ));
            step(trace, "resource", false, || d.reason.clone());
            return Some(d);
        }
    }
    let mut why: Vec<String> = Vec::new();
    let mut acr_values: Vec<&str> = Vec::new();
    if let Some(min) = r.min_acr {
        if c.acr.is_none_or(|a| a < min) {
            let have = id.claims.get("acr").and_then(Value::as_str);
            let need = plan.acr_levels.get(min).map_or("", String::as_str);
            why.push(match have {
                Some(h) => format!("acr `{h}` is below `{need}`"),
                None => format!("the token has no acr; `{need}` is required"),
            });
            acr_values = plan
                .acr_levels
                .iter()
                .skip(min)
                .map(String::as_str)
                .collect();
        }
    }
    let mut max_age = None;
    if let Some(max) = r.max_auth_age {
        let auth_time = id
            .claims
            .get("auth_time")
            .and_then(Value::as_number)
            .map(|n| n.as_f64() as i64);
        match auth_time {
            Some(t) if now.saturating_sub(t) <= max as i64 => {}
            Some(t) => {
                why.push(format!(
                    "authentication is {} seconds old, more than {max}",
                    now.saturating_sub(t)
                ));
                max_age = Some(max);
            }
            None => {
                why.push(format!(
                    "the token has no auth_time; authentication within {max} seconds is required"
                ));
                max_age = Some(max);
            }
        }
    }
    if why.is_empty() {
        step(trace, "resource", true, || {
            format!(
                "resource `{}` ({}): authentication requirements met",
                r.name, r.classification
            )
        });
        return None;
    }
    let description = match (acr_values.is_empty(), max_age.is_none()) {
        (false, false) => "a stronger and more recent authentication is required",
        (false, true) => "a stronger authentication is required",
        _ => "a more recent authentication is required",
    };
    let mut d = Decision::new(
        Outcome::StepUp,
        401,
        "insufficient_user_authentication",
        format!(
            "step-up required for resource `{}`: {}",
            r.name,
            why.join("; ")
        ),
    );
    d.response_headers.push((
        "www-authenticate".into(),
        step_up_challenge(&plan.realm, description, &acr_values, max_age),
    ));
    step(trace, "resource", false, || d.reason.clone());
    Some(d)
}

/// The trust score (when the policy has `trust`): 100 minus the weight of every risk that
/// fired, clamped to 0..=100.
pub fn score(plan: &Plan, c: &Ctx<'_>) -> Option<(TrustReport, bool, Option<usize>)> {
    let trust = plan.trust.as_ref()?;
    let mut risks = Vec::new();
    let mut step_up = false;
    let mut want: Option<usize> = None;
    let mut total: u32 = 0;
    for r in &trust.risks {
        let mitigated = r
            .step_up_acr
            .is_some_and(|need| c.acr.is_some_and(|a| a >= need));
        if mitigated || rule_matches(&r.rule, c).is_err() {
            continue;
        }
        total += u32::from(r.weight);
        if r.step_up {
            step_up = true;
            if let Some(a) = r.step_up_acr {
                want = Some(want.map_or(a, |w: usize| w.max(a)));
            }
        }
        risks.push(FiredRisk {
            name: r.name.clone(),
            weight: r.weight,
        });
    }
    let score = 100u32.saturating_sub(total) as u8;
    Some((
        TrustReport {
            score,
            minimum: c.resource.and_then(|r| r.min_trust),
            risks,
        },
        step_up,
        want,
    ))
}

/// `100 − 30 (new_location) − 20 (off_hours) = 50 < 60`.
pub fn arithmetic(t: &TrustReport) -> String {
    let mut s = String::from("100");
    for r in &t.risks {
        s.push_str(&format!(" − {} ({})", r.weight, r.name));
    }
    s.push_str(&format!(" = {}", t.score));
    if let Some(m) = t.minimum {
        s.push_str(if t.score < m { " < " } else { " ≥ " });
        s.push_str(&m.to_string());
    }
    s
}

/// The trust gate: below the resource's `minTrust`, step up when a fired risk allows it and a
/// stronger level exists, else deny.
pub fn trust_gate(
    plan: &Plan,
    c: &Ctx<'_>,
    scored: Option<&(TrustReport, bool, Option<usize>)>,
    trace: &mut Option<&mut Vec<Step>>,
) -> Option<Decision> {
    let (t, step_up, want) = scored?;
    let name = c.resource.map_or("", |r| r.name.as_str());
    let Some(min) = t.minimum else {
        step(trace, "trust", true, || {
            format!("{} (no minimum for this request)", arithmetic(t))
        });
        return None;
    };
    if t.score >= min {
        step(trace, "trust", true, || arithmetic(t));
        return None;
    }
    let below = format!(
        "trust score {} is below {min} for resource `{name}` ({})",
        t.score,
        t.risks
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    // The level a step-up should reach: what the fired risks ask for, else one above the
    // token's.
    let target = match (want, c.acr) {
        (Some(w), _) => Some(*w),
        (None, Some(a)) => Some(a + 1),
        (None, None) => (!plan.acr_levels.is_empty()).then_some(0),
    }
    .filter(|t| *t < plan.acr_levels.len() && c.acr.is_none_or(|a| a < *t));
    let d = match (step_up, c.auth.is_some(), target) {
        (true, false, _) if plan.auth.has_user_rules() => {
            unauthenticated(plan, c, format!("authentication required: {below}"))
        }
        (true, true, Some(level)) => {
            let acr_values: Vec<&str> = plan
                .acr_levels
                .iter()
                .skip(level)
                .map(String::as_str)
                .collect();
            let mut d = Decision::new(
                Outcome::StepUp,
                401,
                "insufficient_user_authentication",
                format!("step-up required: {below}"),
            );
            d.response_headers.push((
                "www-authenticate".into(),
                step_up_challenge(
                    &plan.realm,
                    "a stronger authentication is required for this request",
                    &acr_values,
                    None,
                ),
            ));
            d
        }
        _ => Decision::new(Outcome::Deny, 403, "insufficient_trust", below),
    };
    step(trace, "trust", false, || {
        format!("{} → {}", arithmetic(t), d.outcome.as_str())
    });
    Some(d)
}
