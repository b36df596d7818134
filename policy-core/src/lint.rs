//! Lints for `vigil check`: documents that are valid but probably not what was meant —
//! especially the patterns behind known authorization bypasses.

use crate::extract::path::{canonicalize_path, PathNormalization};
use crate::policy::authz::{Action, AuthzPolicy, Rule};
use crate::policy::{Mode, Plan};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// How serious a lint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Worth knowing.
    Info,
    /// Probably a mistake or a bypass.
    Warning,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lint {
    /// Severity.
    pub level: Level,
    /// Stable code, e.g. `allow_not_paths`.
    pub code: &'static str,
    /// JSON path of what it is about.
    pub path: String,
    /// Lower-case explanation.
    pub message: String,
}

fn push(out: &mut Vec<Lint>, level: Level, code: &'static str, path: String, message: String) {
    out.push(Lint {
        level,
        code,
        path,
        message,
    });
}

/// Every lint for `plan`.
pub fn lint(plan: &Plan) -> Vec<Lint> {
    let mut out = Vec::new();
    if plan.mode == Mode::DryRun {
        push(
            &mut out,
            Level::Info,
            "dry_run",
            "mode".into(),
            "mode is `dry_run`: decisions are reported but never enforced".into(),
        );
    }
    if plan.default_action == Action::Allow && !plan.allow.is_empty() {
        push(&mut out, Level::Warning, "allow_policies_without_effect", "defaultAction".into(),
            "`defaultAction` is `ALLOW`, so ALLOW policies change nothing; only DENY policies restrict".into());
    }
    if plan.default_action == Action::Allow && plan.deny.is_empty() {
        push(
            &mut out,
            Level::Warning,
            "allow_everything",
            "defaultAction".into(),
            "`defaultAction` is `ALLOW` and there is no DENY policy: every request is allowed"
                .into(),
        );
    }
    for (i, rule) in plan.auth.rules().iter().enumerate() {
        let Some(set) = &rule.jwks else { continue };
        for (path, reason) in set.skipped() {
            push(
                &mut out,
                Level::Warning,
                "jwks_key_skipped",
                format!("jwtRules[{i}].jwks.{path}"),
                format!("this key is not used ({reason}); the set's other keys are"),
            );
        }
    }
    for p in plan.policies() {
        lint_policy(plan, p, &mut out);
    }
    out
}

fn lint_policy(plan: &Plan, p: &AuthzPolicy, out: &mut Vec<Lint>) {
    if p.rules.is_empty() {
        push(
            out,
            Level::Info,
            "no_rules",
            p.path.clone(),
            format!(
                "policy `{}` has no rules and matches nothing{}",
                p.name,
                if p.action == Action::Allow {
                    " (with no ALLOW matching, requests fall to the default action)"
                } else {
                    ""
                }
            ),
        );
    }
    for (i, rule) in p.rules.iter().enumerate() {
        let rpath = format!("{}.rules[{i}]", p.path);
        lint_rule(plan, p, rule, &rpath, out);
    }
}

fn lint_rule(plan: &Plan, p: &AuthzPolicy, rule: &Rule, rpath: &str, out: &mut Vec<Lint>) {
    let broad_to = rule.to.is_empty();
    if p.action == Action::Allow && rule.from.is_empty() && rule.when.is_empty() {
        // Public endpoints named by exact path are a normal thing to have: say so, quietly.
        // Anything wider (no `to`, a path prefix, no paths at all) is a warning.
        let public_endpoints = !broad_to
            && rule
                .to
                .iter()
                .all(|op| !op.paths.is_empty() && op.paths.is_exact_only());
        if public_endpoints {
            push(
                out,
                Level::Info,
                "public_endpoints",
                rpath.into(),
                format!(
                    "policy `{}` allows these exact paths to anyone, authenticated or not",
                    p.name
                ),
            );
        } else {
            let what = if broad_to {
                "every request from anyone"
            } else {
                "these operations from anyone, authenticated or not"
            };
            push(
                out,
                Level::Warning,
                "broad_allow",
                rpath.into(),
                format!("policy `{}` allows {what}", p.name),
            );
        }
    }
    if p.action == Action::Deny
        && rule.from.is_empty()
        && rule.to.is_empty()
        && rule.when.is_empty()
    {
        push(
            out,
            Level::Info,
            "deny_everything",
            rpath.into(),
            format!("policy `{}` denies every request", p.name),
        );
    }
    let uses_auth = rule
        .from
        .iter()
        .any(|s| !s.request_principals.is_empty() || !s.not_request_principals.is_empty())
        || rule.when.iter().any(|c| c.key.is_auth());
    if uses_auth && !plan.auth.has_user_rules() {
        push(out, Level::Warning, "auth_without_jwt_rules", rpath.into(), format!(
            "policy `{}` reads the request's token (requestPrincipals or request.auth.*) but there are no `jwtRules`: no request is ever authenticated", p.name));
    }
    for (j, op) in rule.to.iter().enumerate() {
        let opath = format!("{rpath}.to[{j}].operation");
        if p.action == Action::Allow && !op.not_paths.is_empty() {
            push(out, Level::Warning, "allow_not_paths", format!("{opath}.notPaths"), format!(
                "policy `{}` is ALLOW with `notPaths`: every other path, including ones added later and unusual encodings, is allowed; list the allowed `paths` instead", p.name));
        }
        if p.action == Action::Deny && !op.paths.is_empty() {
            if plan.path_normalization != PathNormalization::Strict {
                push(out, Level::Warning, "deny_paths_without_normalization", format!("{opath}.paths"), format!(
                    "policy `{}` is DENY with `paths` while `pathNormalization` is `{}`: variants such as `//x` or `%2F` may slip past it; use `STRICT` or an ALLOW policy",
                    p.name, plan.path_normalization.as_str()));
            }
            for v in op.paths.exact_values() {
                if !v.ends_with('/') && !op.paths.prefix_values().any(|pre| pre.starts_with(v)) {
                    push(out, Level::Warning, "deny_exact_path", format!("{opath}.paths"), format!(
                        "DENY on the exact path `{v}` does not cover `{v}/` or `{v}/...`; add `{v}/*` or use `{v}*`"));
                }
            }
        }
        for v in op
            .paths
            .exact_values()
            .chain(op.paths.prefix_values())
            .chain(op.not_paths.exact_values())
            .chain(op.not_paths.prefix_values())
        {
            if let Ok(c) = canonicalize_path(v, plan.path_normalization) {
                if c.path != v {
                    push(out, Level::Warning, "never_matches", format!("{opath}.paths"), format!(
                        "path `{v}` is not in canonical form (requests are matched as `{}`), so it never matches", c.path));
                }
            } else {
                push(out, Level::Warning, "never_matches", format!("{opath}.paths"), format!(
                    "path `{v}` is refused by `{}` path normalisation, so no request ever matches it", plan.path_normalization.as_str()));
            }
        }
        for m in op
            .methods
            .exact_values()
            .chain(op.not_methods.exact_values())
        {
            if m.bytes().any(|b| b.is_ascii_lowercase()) {
                push(out, Level::Warning, "never_matches", format!("{opath}.methods"), format!(
                    "method `{m}` has lower-case letters; methods are case-sensitive and Vigil refuses lower-case ones, so it never matches"));
            }
        }
        for v in op.methods.exact_values() {
            if op.not_methods.matches(v) {
                push(
                    out,
                    Level::Warning,
                    "never_matches",
                    opath.clone(),
                    format!("method `{v}` is in both `methods` and `notMethods`"),
                );
            }
        }
        for v in op.paths.exact_values() {
            if op.not_paths.matches(v) {
                push(
                    out,
                    Level::Warning,
                    "never_matches",
                    opath.clone(),
                    format!("path `{v}` is in both `paths` and `notPaths`"),
                );
            }
        }
        for v in op.hosts.exact_values() {
            if op.not_hosts.matches(v) {
                push(
                    out,
                    Level::Warning,
                    "never_matches",
                    opath.clone(),
                    format!("host `{v}` is in both `hosts` and `notHosts`"),
                );
            }
        }
    }
    for (j, s) in rule.from.iter().enumerate() {
        let spath = format!("{rpath}.from[{j}].source");
        for (pos, neg, name) in [
            (&s.principals, &s.not_principals, "principals"),
            (
                &s.request_principals,
                &s.not_request_principals,
                "requestPrincipals",
            ),
            (&s.namespaces, &s.not_namespaces, "namespaces"),
        ] {
            for v in pos.exact_values() {
                if neg.matches(v) {
                    push(
                        out,
                        Level::Warning,
                        "never_matches",
                        spath.clone(),
                        format!("`{v}` is in both `{name}` and its negation"),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "lint_test.rs"]
mod tests;
