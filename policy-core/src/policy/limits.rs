//! `rateLimits`: named token buckets, keyed by who or where the request comes from.
//!
//! Each limit is a bucket per key value holding up to `burst` requests, refilled at
//! `requestsPerUnit` per `unit`. The adapter stores the buckets; the core reads them through
//! [`crate::state::RateState`] and returns the new levels. These limits are local to one
//! proxy (one VM, or what the adapter shares between VMs); fleet-wide limits belong to
//! Envoy's global rate limit service, fed the identity Vigil verified.

use crate::error::{ErrorCode, PolicyError};
use crate::extract::request::is_tchar;
use crate::json::Value;
use crate::policy::read::{join, quote_str, Obj};
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// What a limit counts by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateKeyKind {
    /// `principal`: the verified token's `iss/sub`.
    Principal,
    /// `sourcePrincipal`: the mTLS peer.
    SourcePrincipal,
    /// `ip`: the client address (`remote.ip`).
    Ip,
    /// `header:NAME`: a request header's value (lower-case name).
    Header(String),
}

impl RateKeyKind {
    /// As written in policies.
    pub fn text(&self) -> String {
        match self {
            RateKeyKind::Principal => "principal".into(),
            RateKeyKind::SourcePrincipal => "sourcePrincipal".into(),
            RateKeyKind::Ip => "ip".into(),
            RateKeyKind::Header(h) => format!("header:{h}"),
        }
    }
}

/// One compiled `rateLimits` item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    /// Its name (unique).
    pub name: String,
    /// What it counts by.
    pub key: RateKeyKind,
    /// Requests added per unit.
    pub requests_per_unit: u64,
    /// The unit in seconds (1, 60, 3600).
    pub unit_seconds: u64,
    /// `unit` as written.
    pub unit: &'static str,
    /// Bucket size (default `requestsPerUnit`).
    pub burst: u64,
    /// `resources`: the limit applies only to these resources; empty: every request.
    pub resources: Vec<String>,
}

/// Largest `requestsPerUnit` and `burst`.
pub const MAX_RATE: u64 = 1_000_000_000;

/// Reads `rateLimits`.
pub fn parse_rate_limits(
    items: &[(String, &Value)],
    resource_names: &[&str],
) -> Result<Vec<RateLimit>, PolicyError> {
    let mut out: Vec<RateLimit> = Vec::new();
    let mut names: BTreeSet<String> = BTreeSet::new();
    for (path, v) in items {
        let o = Obj::new(v, path)?;
        o.deny_unknown(&[
            "name",
            "description",
            "key",
            "requestsPerUnit",
            "unit",
            "burst",
            "resources",
        ])?;
        let name = o.req_str("name")?;
        if name.is_empty() {
            return Err(PolicyError::new(
                ErrorCode::Invalid,
                o.at("name"),
                "limit name must not be empty",
            ));
        }
        if !names.insert(name.to_string()) {
            return Err(PolicyError::new(
                ErrorCode::Invalid,
                join(path, "name"),
                format!("duplicate limit name {}", quote_str(name)),
            ));
        }
        let key_text = o.req_str("key")?;
        let key = match key_text {
            "principal" => RateKeyKind::Principal,
            "sourcePrincipal" => RateKeyKind::SourcePrincipal,
            "ip" => RateKeyKind::Ip,
            other => match other.strip_prefix("header:") {
                Some(h) if !h.is_empty() && h.bytes().all(is_tchar) => {
                    RateKeyKind::Header(h.to_ascii_lowercase())
                }
                _ => {
                    return Err(PolicyError::new(
                        ErrorCode::Invalid,
                        o.at("key"),
                        format!(
                        "expected `principal`, `sourcePrincipal`, `ip` or `header:NAME`, found {}",
                        quote_str(other)
                    ),
                    ))
                }
            },
        };
        let requests_per_unit = o
            .uint("requestsPerUnit", MAX_RATE)?
            .ok_or_else(|| o.missing("requestsPerUnit"))?;
        if requests_per_unit == 0 {
            return Err(PolicyError::new(
                ErrorCode::Invalid,
                o.at("requestsPerUnit"),
                "expected at least 1 request per unit (to refuse everything, use a DENY policy)",
            ));
        }
        let (unit, unit_seconds) = match o.req_str("unit")? {
            "second" => ("second", 1),
            "minute" => ("minute", 60),
            "hour" => ("hour", 3600),
            other => {
                return Err(PolicyError::new(
                    ErrorCode::Invalid,
                    o.at("unit"),
                    format!(
                        "expected `second`, `minute` or `hour`, found {}",
                        quote_str(other)
                    ),
                ))
            }
        };
        let burst = o.uint("burst", MAX_RATE)?.unwrap_or(requests_per_unit);
        if burst == 0 {
            return Err(PolicyError::new(
                ErrorCode::Invalid,
                o.at("burst"),
                "expected a burst of at least 1",
            ));
        }
        let resources = o.strings("resources")?;
        for (i, r) in resources.iter().enumerate() {
            if !resource_names.contains(&r.as_str()) {
                return Err(PolicyError::new(
                    ErrorCode::Invalid,
                    format!("{}[{i}]", o.at("resources")),
                    format!("unknown resource {}", quote_str(r)),
                ));
            }
        }
        out.push(RateLimit {
            name: name.to_string(),
            key,
            requests_per_unit,
            unit_seconds,
            unit,
            burst,
            resources,
        });
    }
    Ok(out)
}
