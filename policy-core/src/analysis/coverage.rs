//! Test coverage (`vigil test --coverage`): which policies, rules, resources, sensitivity
//! classes and trust risks the cases of a test file exercised.
//!
//! A rule is covered when some case's explanation shows it matched (whether or not it decided:
//! AUDIT rules and rules of policies evaluated after the deciding one count when they
//! matched); a policy when one of its rules is; a resource or class when some case's request
//! was to it; a risk when it fired in some case's trust score.

use crate::decide::Step;
use crate::enforce::Decision;
use crate::json::{Map, Value};
use crate::policy::Plan;
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// One thing a test file may cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// `policy`, `rule`, `resource`, `classification` or `risk`.
    pub kind: &'static str,
    /// Its name (`policy[rule]` for rules).
    pub name: String,
    /// Whether a case exercised it.
    pub covered: bool,
}

/// Coverage of one policy by the cases run so far.
#[derive(Debug, Clone)]
pub struct Coverage {
    items: Vec<Item>,
}

impl Coverage {
    /// Every coverable item of `plan`, none covered yet.
    pub fn new(plan: &Plan) -> Coverage {
        let mut items = Vec::new();
        let item = |kind, name: String| Item {
            kind,
            name,
            covered: false,
        };
        // A policy with no rules matches nothing (lint `no_rules`): nothing to cover.
        for p in plan
            .deny
            .iter()
            .chain(&plan.allow)
            .chain(&plan.audit)
            .filter(|p| !p.rules.is_empty())
        {
            items.push(item("policy", p.name.clone()));
            for i in 0..p.rules.len() {
                items.push(item("rule", format!("{}[{i}]", p.name)));
            }
        }
        for r in &plan.resources {
            items.push(item("resource", r.name.clone()));
        }
        // Classes some resource has (the default list names classes no request can reach).
        for c in &plan.classifications {
            if plan.resources.iter().any(|r| &r.classification == c) {
                items.push(item("classification", c.clone()));
            }
        }
        if let Some(t) = &plan.trust {
            for r in &t.risks {
                items.push(item("risk", r.name.clone()));
            }
        }
        Coverage { items }
    }

    fn mark(&mut self, kind: &str, name: &str) {
        for it in &mut self.items {
            if it.kind == kind && it.name == name {
                it.covered = true;
            }
        }
    }

    /// Records one case: its decision and the explanation's steps.
    pub fn record(&mut self, decision: &Decision, steps: &[Step]) {
        let mut rules: BTreeSet<(String, usize)> = BTreeSet::new();
        for s in steps {
            if !s.matched || !matches!(s.stage, "deny" | "allow" | "audit") {
                continue;
            }
            if let (Some(p), Some(r)) = (&s.policy, s.rule) {
                rules.insert((p.clone(), r));
            }
        }
        if let (Some(p), Some(r)) = (&decision.policy, decision.rule) {
            rules.insert((p.clone(), r));
        }
        for (p, r) in rules {
            self.mark("policy", &p);
            self.mark("rule", &format!("{p}[{r}]"));
        }
        if let Some(res) = &decision.resource {
            self.mark("resource", &res.name);
            self.mark("classification", &res.classification);
        }
        if let Some(t) = &decision.trust {
            for r in &t.risks {
                self.mark("risk", &r.name);
            }
        }
    }

    /// Every item.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// Covered and total items of a kind.
    pub fn counts(&self, kind: &str) -> (usize, usize) {
        let of: Vec<&Item> = self.items.iter().filter(|i| i.kind == kind).collect();
        (of.iter().filter(|i| i.covered).count(), of.len())
    }

    /// `coverage: 3/4 policies, 5/7 rules, ...` (kinds with no items left out).
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        for (kind, plural) in [
            ("policy", "policies"),
            ("rule", "rules"),
            ("resource", "resources"),
            ("classification", "classifications"),
            ("risk", "risks"),
        ] {
            let (c, t) = self.counts(kind);
            if t > 0 {
                parts.push(format!("{c}/{t} {plural}"));
            }
        }
        format!("coverage: {}", parts.join(", "))
    }

    /// `{"policy": {"covered", "total", "uncovered": [...]}, ...}`.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        for kind in ["policy", "rule", "resource", "classification", "risk"] {
            let (c, t) = self.counts(kind);
            let mut k = Map::new();
            let n = |x: usize| Value::from(i64::try_from(x).unwrap_or(i64::MAX));
            k.insert("covered", n(c));
            k.insert("total", n(t));
            k.insert(
                "uncovered",
                Value::Array(
                    self.items
                        .iter()
                        .filter(|i| i.kind == kind && !i.covered)
                        .map(|i| Value::from(i.name.as_str()))
                        .collect(),
                ),
            );
            m.insert(kind.to_string(), Value::Object(k));
        }
        Value::Object(m)
    }
}
