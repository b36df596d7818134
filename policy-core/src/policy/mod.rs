//! The policy document: reading, validating and compiling it into a [`Plan`].
//!
//! The document is JSON (design §3). Where a concept exists in Istio, Istio's field names and
//! semantics are used, so an Istio user can paste what they have; Vigil's own extensions are
//! written in the same style. Unknown fields are errors, and every error names its JSON path.

pub mod authz;
pub mod matcher;
pub mod read;

use crate::authenticate::{parse_jwt_rule, Authenticator};
use crate::error::{ErrorCode, PolicyError};
use crate::extract::path::PathNormalization;
use crate::json::{self, Limits, Value};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use authz::{parse_policies, Action, AuthzPolicy};
use read::{quote_str, Obj};

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
            rules.push(parse_jwt_rule(item, &path)?);
        }
        let auth = Authenticator::new(rules)?;
        let policies = parse_policies(&o.array("authorizationPolicies")?)?;
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
        };
        for p in policies {
            match p.action {
                Action::Deny => plan.deny.push(p),
                Action::Allow => plan.allow.push(p),
                Action::Audit => plan.audit.push(p),
            }
        }
        Ok(plan)
    }

    /// Every policy, DENY first, then ALLOW, then AUDIT (evaluation order).
    pub fn policies(&self) -> impl Iterator<Item = &AuthzPolicy> {
        self.deny
            .iter()
            .chain(self.allow.iter())
            .chain(self.audit.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_strict() {
        let p = Plan::from_json("{}").unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.default_action, Action::Deny);
        assert_eq!(p.path_normalization, PathNormalization::Strict);
    }

    #[test]
    fn top_level_errors() {
        let e = Plan::from_json(r#"{"mode":"audit"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "mode: expected `enforce` or `dry_run`, found `audit`"
        );
        let e = Plan::from_json(r#"{"defaultaction":"ALLOW"}"#).unwrap_err();
        assert_eq!(
            e.message,
            "unknown field `defaultaction`; did you mean `defaultAction`?"
        );
        let e = Plan::from_json(r#"{"mode":"enforce","mode":"dry_run"}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::Syntax);
        assert!(e.message.contains("duplicate key `mode`"));
        let e = Plan::from_json("[]").unwrap_err();
        assert_eq!(e.to_string(), "$: expected an object, found array `[]`");
    }
}
