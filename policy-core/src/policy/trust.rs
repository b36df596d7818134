//! `trust`: the trust algorithm (NIST SP 800-207 §3.3.1), a score from 0 to 100.
//!
//! The score starts at 100; every named risk whose rule matches (its `from`, `to` and `when`,
//! with the same semantics and keys as an authorization rule, plus `device.*`, `network.*`,
//! `behavior.*`, `time.*` and `resource.*`) subtracts its weight; the result is clamped to
//! 0..=100. A resource's `minTrust` is the threshold. Below it, the request is stepped up when
//! a fired risk is marked `stepUp` (more assurance can fix it) and denied otherwise.

use crate::error::{ErrorCode, PolicyError};
use crate::json::Value;
use crate::policy::authz::{parse_rule_parts, Rule};
use crate::policy::read::{join, quote_str, Obj};
use crate::policy::resource::acr_index;
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// One risk.
#[derive(Debug, Clone)]
pub struct Risk {
    /// Its name (unique), reported in decisions.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Points subtracted when it fires (0–100).
    pub weight: u8,
    /// When it fires: a rule (`from`, `to`, `when`).
    pub rule: Rule,
    /// `stepUp`: a stronger or fresher authentication can compensate.
    pub step_up: bool,
    /// `stepUpAcr`: the risk does not fire when the token's `acr` is at least this level
    /// (index in `acrLevels`), and a step-up asks for it. Implies `step_up`.
    pub step_up_acr: Option<usize>,
}

/// `trust`.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// The risks, in document order.
    pub risks: Vec<Risk>,
}

/// Reads `trust`.
pub fn parse_trust(o: &Obj<'_>, acr_levels: &[String]) -> Result<Trust, PolicyError> {
    o.deny_unknown(&["description", "risks"])?;
    let mut risks: Vec<Risk> = Vec::new();
    let mut names: BTreeSet<String> = BTreeSet::new();
    for (path, v) in o.array("risks")? {
        let risk = parse_risk(v, &path, acr_levels)?;
        if !names.insert(risk.name.clone()) {
            return Err(PolicyError::new(
                ErrorCode::Invalid,
                join(&path, "name"),
                format!("duplicate risk name {}", quote_str(&risk.name)),
            ));
        }
        risks.push(risk);
    }
    Ok(Trust { risks })
}

fn parse_risk(v: &Value, path: &str, acr_levels: &[String]) -> Result<Risk, PolicyError> {
    let o = Obj::new(v, path)?;
    o.deny_unknown(&[
        "name",
        "description",
        "weight",
        "stepUp",
        "stepUpAcr",
        "from",
        "to",
        "when",
    ])?;
    let name = o.req_str("name")?;
    if name.is_empty() {
        return Err(PolicyError::new(
            ErrorCode::Invalid,
            o.at("name"),
            "risk name must not be empty",
        ));
    }
    let weight = o.uint("weight", 100)?.ok_or_else(|| o.missing("weight"))? as u8;
    let rule = parse_rule_parts(&o)?;
    if rule.from.is_empty() && rule.to.is_empty() && rule.when.is_empty() {
        return Err(PolicyError::new(
            ErrorCode::Invalid,
            path,
            "a risk needs at least one of `from`, `to` or `when` (a risk that always fires is a lower starting score)",
        ));
    }
    let step_up_acr = match o.str("stepUpAcr")? {
        None => None,
        Some(a) => Some(acr_index(acr_levels, a, &o.at("stepUpAcr"))?),
    };
    let step_up = match o.bool("stepUp")? {
        Some(false) if step_up_acr.is_some() => {
            return Err(PolicyError::new(
                ErrorCode::Invalid,
                o.at("stepUp"),
                "`stepUpAcr` means a step-up can compensate; `stepUp: false` contradicts it",
            ))
        }
        Some(b) => b,
        None => step_up_acr.is_some(),
    };
    Ok(Risk {
        name: name.to_string(),
        description: o.str("description")?.map(str::to_string),
        weight,
        rule,
        step_up,
        step_up_acr,
    })
}
