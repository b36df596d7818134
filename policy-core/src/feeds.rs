//! Live signal feeds beside revocation (docs/bundles.md#signal-feeds): **network lists**
//! (named CIDR sets that add to the policy's declared `network.lists`, e.g. Tor exits or
//! abusive ranges, 100,000+ of them) and **risk labels** (named labels on subjects, sessions and
//! mTLS peers that any condition reads as `subject.labels`, e.g. `compromised` from a SIEM).
//! Adapters poll them (`network.feed`, `riskLabels.feed`), optionally signed as bundles, and
//! pass the snapshot in [`crate::Env`]; the policy can also carry risk labels inline.

use crate::error::{ErrorCode, PolicyError};
use crate::json::{self, Limits, Map, Value};
use crate::policy::context::{is_signal_name, named_lists};
use crate::policy::matcher::IpSet;
use crate::policy::read::{quote_str, type_error, Obj};
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// Most ranges in one network-list snapshot (all lists together).
pub const MAX_NETWORK_RANGES: usize = 2_000_000;
/// Most lists in one snapshot.
pub const MAX_NETWORK_LISTS: usize = 256;
/// Most entries in one risk-label snapshot.
pub const MAX_LABEL_ENTRIES: usize = 1_000_000;
/// Most labels on one entry.
pub const MAX_LABELS_PER_ENTRY: usize = 32;

fn version_of(o: &Obj<'_>) -> Result<Option<String>, PolicyError> {
    match o.raw("version") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(n @ Value::Number(_)) => Ok(Some(n.to_json())),
        Some(other) => Err(type_error(&o.at("version"), "a string or number", other)),
    }
}

fn parse_text(text: &str) -> Result<Value, PolicyError> {
    json::parse(text, Limits::POLICY)
        .map_err(|e| PolicyError::new(ErrorCode::Syntax, "$", e.to_string()))
}

/// Named CIDR sets from a feed:
///
/// ```json
/// {"version": 7, "lists": {"tor": ["185.220.100.0/22", "2a0b:f4c0::/32"], "abusive": []}}
/// ```
///
/// A feed list adds to the policy's list of the same name; only lists the policy declares in
/// `network.lists` (possibly empty) are read by conditions, so a feed can never make a name
/// the policy does not know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkLists {
    lists: Vec<(String, IpSet)>,
    ranges: usize,
    /// The feed's version, for logs.
    pub version: Option<String>,
}

impl NetworkLists {
    /// Parses a feed document (JSON text).
    pub fn from_json(text: &str) -> Result<NetworkLists, PolicyError> {
        NetworkLists::from_value(&parse_text(text)?, "$")
    }

    /// Reads the document at `path`.
    pub fn from_value(v: &Value, path: &str) -> Result<NetworkLists, PolicyError> {
        let o = Obj::new(v, path)?;
        o.deny_unknown(&["$schema", "description", "version", "lists"])?;
        let version = version_of(&o)?;
        let Some(l) = o.obj("lists")? else {
            return Err(o.missing("lists"));
        };
        if l.len() > MAX_NETWORK_LISTS {
            return Err(PolicyError::new(
                ErrorCode::Limit,
                l.path(),
                format!("more than {MAX_NETWORK_LISTS} lists"),
            ));
        }
        let (lists, ranges) = named_lists(&l, MAX_NETWORK_RANGES)?;
        Ok(NetworkLists {
            lists,
            ranges,
            version,
        })
    }

    /// The list called `name`.
    pub fn list(&self, name: &str) -> Option<&IpSet> {
        self.lists.iter().find(|(n, _)| n == name).map(|(_, s)| s)
    }

    /// The lists' names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.lists.iter().map(|(n, _)| n.as_str())
    }

    /// Ranges in all lists.
    pub fn ranges(&self) -> usize {
        self.ranges
    }

    /// The snapshot as a feed serves it (`{"lists": {NAME: [CIDR, ...]}}`, blocks as written).
    pub fn to_value(&self) -> Value {
        let mut lists = Map::new();
        for (name, set) in &self.lists {
            let blocks = set.sources().iter().map(|b| Value::from(b.as_str()));
            lists.insert(name, Value::Array(blocks.collect()));
        }
        let mut m = Map::new();
        m.insert("lists", Value::Object(lists));
        Value::Object(m)
    }
}

/// Who a label entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Subject {
    /// A token's `sub` (and `iss`, when given).
    Sub,
    /// A token's `sid`.
    Sid,
    /// The mTLS peer (principal without `spiffe://`).
    Principal,
}

/// One entry's issuer (`None`: any, or not a `sub` entry) and labels.
type Labelled = (Option<String>, Vec<String>);

/// Labels on subjects, sessions and mTLS peers, read by conditions as `subject.labels`:
///
/// ```json
/// {"version": "2026-12-07T10:00Z", "labels": [
///   {"sub": "alice", "iss": "https://idp.example.com", "labels": ["compromised"]},
///   {"sid": "sess-81", "labels": ["impossible_travel"]},
///   {"principal": "cluster.local/ns/ci/sa/runner", "labels": ["quarantined"]}]}
/// ```
///
/// A request's labels are those of its verified token's `sub` (entries without `iss` match
/// every issuer), of its `sid` claim, and of its mTLS peer. Label names are letters, digits,
/// `_` and `-`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RiskLabels {
    /// (kind, id) → its entries.
    entries: BTreeMap<(Subject, String), Vec<Labelled>>,
    count: usize,
    /// The feed's version, for logs.
    pub version: Option<String>,
}

impl RiskLabels {
    /// Parses a feed document (JSON text).
    pub fn from_json(text: &str) -> Result<RiskLabels, PolicyError> {
        RiskLabels::from_value(&parse_text(text)?, "$")
    }

    /// Reads the document at `path` (`$` for a feed, `riskLabels` in a policy).
    pub fn from_value(v: &Value, path: &str) -> Result<RiskLabels, PolicyError> {
        let o = Obj::new(v, path)?;
        o.deny_unknown(&["$schema", "description", "version", "labels"])?;
        RiskLabels::read(&o)
    }

    /// Reads `labels` (and `version`) of an object whose other members the caller checked.
    pub fn read(o: &Obj<'_>) -> Result<RiskLabels, PolicyError> {
        let version = version_of(o)?;
        let items = o.array("labels")?;
        if items.len() > MAX_LABEL_ENTRIES {
            return Err(PolicyError::new(
                ErrorCode::Limit,
                o.at("labels"),
                format!("more than {MAX_LABEL_ENTRIES} entries"),
            ));
        }
        let mut out = RiskLabels {
            version,
            ..RiskLabels::default()
        };
        for (p, item) in items {
            let e = Obj::new(item, &p)?;
            e.deny_unknown(&["sub", "iss", "sid", "principal", "labels"])?;
            let ids = [
                (Subject::Sub, e.str("sub")?),
                (Subject::Sid, e.str("sid")?),
                (Subject::Principal, e.str("principal")?),
            ];
            let mut given = ids.iter().filter(|(_, v)| v.is_some());
            let (kind, id) = match (given.next(), given.next()) {
                (Some((k, Some(id))), None) if !id.is_empty() => (*k, *id),
                _ => {
                    return Err(PolicyError::new(
                        ErrorCode::Invalid,
                        p,
                        "an entry names exactly one non-empty `sub`, `sid` or `principal`",
                    ))
                }
            };
            let iss = e.str("iss")?;
            if iss.is_some() && kind != Subject::Sub {
                return Err(PolicyError::new(
                    ErrorCode::Invalid,
                    e.at("iss"),
                    "`iss` goes with `sub`",
                ));
            }
            let labels = e.strings("labels")?;
            if labels.is_empty() || labels.len() > MAX_LABELS_PER_ENTRY {
                return Err(PolicyError::new(
                    ErrorCode::Invalid,
                    e.at("labels"),
                    format!("expected 1 to {MAX_LABELS_PER_ENTRY} labels"),
                ));
            }
            if let Some(bad) = labels.iter().find(|l| !is_signal_name(l)) {
                return Err(PolicyError::new(
                    ErrorCode::Invalid,
                    e.at("labels"),
                    format!(
                        "invalid label {}; use letters, digits, `_` and `-`",
                        quote_str(bad)
                    ),
                ));
            }
            let id = match kind {
                Subject::Principal => id.strip_prefix("spiffe://").unwrap_or(id),
                _ => id,
            };
            out.entries
                .entry((kind, id.to_string()))
                .or_default()
                .push((iss.map(str::to_string), labels));
            out.count += 1;
        }
        Ok(out)
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Entries.
    pub fn len(&self) -> usize {
        self.count
    }

    /// The snapshot as a feed serves it (`{"labels": [...]}`; entries grouped by subject).
    pub fn to_value(&self) -> Value {
        let mut items = Vec::with_capacity(self.count);
        for ((kind, id), found) in &self.entries {
            for (iss, labels) in found {
                let mut m = Map::new();
                let key = match kind {
                    Subject::Sub => "sub",
                    Subject::Sid => "sid",
                    Subject::Principal => "principal",
                };
                m.insert(key, Value::from(id.as_str()));
                if let Some(i) = iss {
                    m.insert("iss", Value::from(i.as_str()));
                }
                let labels = labels.iter().map(|l| Value::from(l.as_str()));
                m.insert("labels", Value::Array(labels.collect()));
                items.push(Value::Object(m));
            }
        }
        let mut m = Map::new();
        m.insert("labels", Value::Array(items));
        Value::Object(m)
    }

    /// Adds the labels of a request's subject to `out` (each once).
    pub fn labels_of<'s>(
        &'s self,
        iss: Option<&str>,
        sub: Option<&str>,
        sid: Option<&str>,
        principal: Option<&str>,
        out: &mut Vec<&'s str>,
    ) {
        if self.count == 0 {
            return;
        }
        let keys = [
            (Subject::Sub, sub),
            (Subject::Sid, sid),
            (Subject::Principal, principal),
        ];
        for (kind, id) in keys {
            let Some(id) = id else { continue };
            let Some(found) = self.entries.get(&(kind, id.to_string())) else {
                continue;
            };
            for (want_iss, labels) in found {
                if want_iss.is_some() && want_iss.as_deref() != iss {
                    continue;
                }
                for l in labels {
                    if !out.contains(&l.as_str()) {
                        out.push(l);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "feeds_test.rs"]
mod tests;
