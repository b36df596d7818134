//! `resources`, `acrLevels` and `classifications`: what is being asked for, how sensitive it
//! is, and what that requires of the caller's authentication (design §2.3, RFC 9470).
//!
//! Resources are matched in document order and **the first that matches wins**, like a
//! routing table: list specific paths before general ones. A request no resource matches has
//! no resource (no `resource.*` attributes, no requirements).

use crate::error::{ErrorCode, PolicyError};
use crate::json::Value;
use crate::policy::matcher::{MatchSet, ValueKind};
use crate::policy::read::{join, quote_str, Obj};
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// The classifications when the document declares none, least sensitive first.
pub const DEFAULT_CLASSIFICATIONS: [&str; 4] = ["public", "internal", "confidential", "restricted"];

/// Largest `minTrust`.
pub const MAX_TRUST: u64 = 100;

/// One compiled `resources` item.
#[derive(Debug, Clone)]
pub struct Resource {
    /// Its name (unique), `resource.name` in conditions.
    pub name: String,
    /// Its classification, `resource.classification` in conditions.
    pub classification: String,
    /// Hosts (as in `operation.hosts`); empty: any.
    pub hosts: MatchSet,
    /// Canonical paths (as in `operation.paths`); empty: any.
    pub paths: MatchSet,
    /// Methods; empty: any.
    pub methods: MatchSet,
    /// `minAcr`: index in `acrLevels`.
    pub min_acr: Option<usize>,
    /// `maxAuthAgeSeconds`: `now − auth_time` at most this.
    pub max_auth_age: Option<u64>,
    /// `maxTokenLifetimeSeconds`: `exp − iat` at most this.
    pub max_token_lifetime: Option<u64>,
    /// `minTrust`: the trust score must be at least this.
    pub min_trust: Option<u8>,
}

impl Resource {
    /// True when the canonical request is this resource.
    pub fn matches(&self, host: &str, method: &str, path: &str) -> bool {
        (self.hosts.is_empty() || self.hosts.matches(host))
            && (self.methods.is_empty() || self.methods.matches(method))
            && (self.paths.is_empty() || self.paths.matches(path))
    }
}

const RESOURCE_FIELDS: &[&str] = &[
    "name",
    "description",
    "classification",
    "hosts",
    "paths",
    "methods",
    "minAcr",
    "maxAuthAgeSeconds",
    "maxTokenLifetimeSeconds",
    "minTrust",
];

/// Reads `acrLevels`: distinct non-empty strings, weakest first.
pub fn parse_acr_levels(o: &Obj<'_>) -> Result<Vec<String>, PolicyError> {
    let levels = o.strings("acrLevels")?;
    for (i, l) in levels.iter().enumerate() {
        if levels.iter().take(i).any(|m| m == l) {
            return Err(PolicyError::new(
                ErrorCode::Invalid,
                format!("{}[{i}]", o.at("acrLevels")),
                format!("duplicate acr level {}", quote_str(l)),
            ));
        }
        if l.chars()
            .any(|c| c.is_control() || c == '"' || c == '\\' || c == ' ')
        {
            return Err(PolicyError::new(
                ErrorCode::Invalid,
                format!("{}[{i}]", o.at("acrLevels")),
                format!(
                    "{} may not contain spaces, quotes, backslashes or control characters",
                    quote_str(l)
                ),
            ));
        }
    }
    Ok(levels)
}

/// Reads `classifications` (default: public, internal, confidential, restricted).
pub fn parse_classifications(o: &Obj<'_>) -> Result<Vec<String>, PolicyError> {
    if !o.has("classifications") {
        return Ok(DEFAULT_CLASSIFICATIONS
            .iter()
            .map(|s| s.to_string())
            .collect());
    }
    let list = o.strings("classifications")?;
    for (i, c) in list.iter().enumerate() {
        if list.iter().take(i).any(|m| m == c) {
            return Err(PolicyError::new(
                ErrorCode::Invalid,
                format!("{}[{i}]", o.at("classifications")),
                format!("duplicate classification {}", quote_str(c)),
            ));
        }
    }
    Ok(list)
}

/// The index of `name` in `acrLevels`, or an error at `path`.
pub fn acr_index(levels: &[String], name: &str, path: &str) -> Result<usize, PolicyError> {
    levels.iter().position(|l| l == name).ok_or_else(|| {
        PolicyError::new(
            ErrorCode::Invalid,
            path,
            if levels.is_empty() {
                format!(
                    "acr {} is not declared: list the levels in `acrLevels`, weakest first",
                    quote_str(name)
                )
            } else {
                format!(
                    "acr {} is not one of `acrLevels` ({})",
                    quote_str(name),
                    levels
                        .iter()
                        .map(|l| format!("`{l}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        )
    })
}

/// Reads `resources`.
pub fn parse_resources(
    items: &[(String, &Value)],
    acr_levels: &[String],
    classifications: &[String],
) -> Result<Vec<Resource>, PolicyError> {
    let mut out: Vec<Resource> = Vec::with_capacity(items.len());
    let mut names: BTreeSet<String> = BTreeSet::new();
    for (path, v) in items {
        let o = Obj::new(v, path)?;
        o.deny_unknown(RESOURCE_FIELDS)?;
        let name = o.req_str("name")?;
        if name.is_empty() {
            return Err(PolicyError::new(
                ErrorCode::Invalid,
                o.at("name"),
                "resource name must not be empty",
            ));
        }
        if !names.insert(name.to_string()) {
            return Err(PolicyError::new(
                ErrorCode::Invalid,
                join(path, "name"),
                format!("duplicate resource name {}", quote_str(name)),
            ));
        }
        let classification = o.req_str("classification")?;
        if !classifications.iter().any(|c| c == classification) {
            return Err(PolicyError::new(
                ErrorCode::Invalid,
                o.at("classification"),
                format!(
                    "unknown classification {}; expected one of {} (declare others in top-level `classifications`)",
                    quote_str(classification),
                    classifications
                        .iter()
                        .map(|l| format!("`{l}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let min_acr = match o.str("minAcr")? {
            None => None,
            Some(a) => Some(acr_index(acr_levels, a, &o.at("minAcr"))?),
        };
        out.push(Resource {
            name: name.to_string(),
            classification: classification.to_string(),
            hosts: MatchSet::compile(&o.strings("hosts")?, &o.at("hosts"), ValueKind::Host)?,
            paths: MatchSet::compile(&o.strings("paths")?, &o.at("paths"), ValueKind::Path)?,
            methods: MatchSet::compile(
                &o.strings("methods")?,
                &o.at("methods"),
                ValueKind::Method,
            )?,
            min_acr,
            max_auth_age: o.uint("maxAuthAgeSeconds", u32::MAX.into())?,
            max_token_lifetime: o.uint("maxTokenLifetimeSeconds", u32::MAX.into())?,
            min_trust: o.uint("minTrust", MAX_TRUST)?.map(|t| t as u8),
        });
    }
    Ok(out)
}

#[cfg(test)]
#[path = "resource_test.rs"]
mod tests;
