//! An index over a list of authorization policies, so a request is matched only against the
//! policies that can possibly match it: deciding stays fast with 100,000 policies.
//!
//! A policy is *guarded* when every one of its rules names the caller exactly: every rule has a
//! `from`, and every `from` source lists `requestPrincipals` with exact values only (no `*`,
//! prefix or suffix). Such a policy can only match a request whose verified principal is one
//! of those values (a positive field whose attribute is absent never matches), so it is filed
//! under each of them. Every other policy is *unguarded* and always a candidate.
//!
//! [`PolicyIndex::candidates`] yields, in document order, the unguarded policies merged with
//! the ones filed under the request's principal: first-match semantics (which policy and rule
//! decide, and so the reason) are exactly those of a scan of the whole list. Explanations
//! still scan every policy, so they show each one considered.

use crate::policy::authz::AuthzPolicy;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

/// Which policies of a list can match a given request principal.
#[derive(Debug, Clone, Default)]
pub struct PolicyIndex {
    /// Number of policies in the list.
    len: usize,
    /// Positions of policies that are candidates for every request, ascending.
    unguarded: Vec<usize>,
    /// Positions of guarded policies by exact request principal, each list ascending.
    by_principal: BTreeMap<String, Vec<usize>>,
    /// How many policies are filed under a principal.
    guarded: usize,
}

/// The exact request principals a policy requires (every rule, every source), or `None`
/// when some rule could match without one of them.
fn guard(p: &AuthzPolicy) -> Option<Vec<&str>> {
    if p.rules.is_empty() {
        // Matches nothing: no candidate list needs it.
        return Some(Vec::new());
    }
    let mut values = Vec::new();
    for rule in &p.rules {
        if rule.from.is_empty() {
            return None;
        }
        for source in &rule.from {
            let set = &source.request_principals;
            if set.is_empty() || !set.is_exact_only() {
                return None;
            }
            values.extend(set.exact_values());
        }
    }
    Some(values)
}

impl PolicyIndex {
    /// Indexes `policies` (positions refer to this slice).
    pub fn build(policies: &[AuthzPolicy]) -> PolicyIndex {
        let mut index = PolicyIndex {
            len: policies.len(),
            ..PolicyIndex::default()
        };
        for (i, p) in policies.iter().enumerate() {
            match guard(p) {
                None => index.unguarded.push(i),
                Some(values) => {
                    index.guarded += usize::from(!values.is_empty());
                    for v in values {
                        let list = index.by_principal.entry(String::from(v)).or_default();
                        // A principal named twice in one policy: filed once.
                        if list.last() != Some(&i) {
                            list.push(i);
                        }
                    }
                }
            }
        }
        index
    }

    /// Positions of the policies that can match a request with verified principal
    /// `principal` (`None`: no verified token), ascending; with `every`, all of them (an
    /// explanation shows each policy considered).
    pub fn candidates<'a>(&'a self, principal: Option<&str>, every: bool) -> Candidates<'a> {
        if every {
            return Candidates {
                every: Some(0..self.len),
                a: &[],
                b: &[],
            };
        }
        let guarded = principal
            .and_then(|p| self.by_principal.get(p))
            .map_or(&[][..], Vec::as_slice);
        Candidates {
            every: None,
            a: &self.unguarded,
            b: guarded,
        }
    }

    /// Number of policies filed under a principal (not scanned for other callers).
    pub fn guarded(&self) -> usize {
        self.guarded
    }
}

/// The merge of two ascending position lists (or every position).
#[derive(Debug, Clone)]
pub struct Candidates<'a> {
    every: Option<core::ops::Range<usize>>,
    a: &'a [usize],
    b: &'a [usize],
}

impl Iterator for Candidates<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if let Some(r) = self.every.as_mut() {
            return r.next();
        }
        match (self.a.split_first(), self.b.split_first()) {
            (Some((&x, ra)), Some((&y, rb))) => {
                if x <= y {
                    self.a = ra;
                    if x == y {
                        self.b = rb;
                    }
                    Some(x)
                } else {
                    self.b = rb;
                    Some(y)
                }
            }
            (Some((&x, ra)), None) => {
                self.a = ra;
                Some(x)
            }
            (None, Some((&y, rb))) => {
                self.b = rb;
                Some(y)
            }
            (None, None) => None,
        }
    }
}

#[cfg(test)]
#[path = "index_test.rs"]
mod tests;
