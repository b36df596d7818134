//! Compiled value matchers with Istio's semantics: exact, `prefix*`, `*suffix`, `*` (present
//! and non-empty), CIDR blocks for addresses, and path templates (`{*}` one segment, `{**}`
//! the rest of the path).
//!
//! Lists are compiled once into tables — a set of exact values, prefix and suffix lists — so a
//! request is matched without re-parsing anything.

use crate::decide::cidr::{parse_ip, Cidr, Ranges};
use crate::error::{ErrorCode, PolicyError};
use crate::policy::read::quote_str;
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::IpAddr;

/// What a list of values is matched against; decides validation and case folding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Any string, case-sensitive.
    Plain,
    /// Host names: case-insensitive, no port.
    Host,
    /// Request paths: must start with `/` unless a suffix or presence match; templates allowed.
    Path,
    /// HTTP methods: tokens, case-sensitive.
    Method,
}

/// A path template segment.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Lit(String),
    One,
    Rest,
}

/// A compiled list of string patterns; matches when any pattern matches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchSet {
    exact: BTreeSet<String>,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
    templates: Vec<Vec<Seg>>,
    any: bool,
    fold_case: bool,
    sources: Vec<String>,
}

impl MatchSet {
    /// Compiles `values` (at JSON path `path`) for `kind`.
    pub fn compile(
        values: &[String],
        path: &str,
        kind: ValueKind,
    ) -> Result<MatchSet, PolicyError> {
        let mut set = MatchSet {
            fold_case: kind == ValueKind::Host,
            ..MatchSet::default()
        };
        for (i, raw) in values.iter().enumerate() {
            let at = format!("{path}[{i}]");
            let v = if set.fold_case {
                raw.to_ascii_lowercase()
            } else {
                raw.clone()
            };
            set.sources.push(raw.clone());
            let invalid = |msg: &str| {
                PolicyError::new(
                    ErrorCode::Invalid,
                    at.clone(),
                    format!("{} {msg}", quote_str(raw)),
                )
            };
            if kind == ValueKind::Path && v.contains('{') {
                set.templates.push(compile_template(&v).map_err(&invalid)?);
                continue;
            }
            if v == "*" {
                set.any = true;
                continue;
            }
            let (body, form) = if let Some(rest) = v.strip_prefix('*') {
                (rest, 's')
            } else if let Some(rest) = v.strip_suffix('*') {
                (rest, 'p')
            } else {
                (v.as_str(), 'e')
            };
            if body.contains('*') {
                return Err(invalid(
                    "has `*` in the middle; only `prefix*`, `*suffix` and `*` are supported",
                ));
            }
            match kind {
                ValueKind::Path if form != 's' && !body.starts_with('/') => {
                    return Err(invalid("must start with `/`"))
                }
                ValueKind::Path if body.contains('?') || body.contains('#') => {
                    return Err(invalid(
                        "contains `?` or `#`; paths are matched without query or fragment",
                    ))
                }
                ValueKind::Host if form == 'e' && has_port(body) => {
                    return Err(invalid(
                        "has a port; hosts are matched without the port (use `ports`)",
                    ))
                }
                ValueKind::Method if !body.bytes().all(crate::extract::request::is_tchar) => {
                    return Err(invalid("is not a valid method token"))
                }
                _ => {}
            }
            let body = if kind == ValueKind::Host && form == 'e' {
                // Requests are matched in canonical form; write policy hosts the same way.
                // A bare IPv6 address is written as in a Host header: `[::1]`.
                let bracketed;
                let body = if body.parse::<core::net::Ipv6Addr>().is_ok() {
                    bracketed = alloc::format!("[{body}]");
                    bracketed.as_str()
                } else {
                    body
                };
                crate::extract::path::canonicalize_host(body)
                    .map_err(|e| invalid(&alloc::format!("is not a valid host: {e}")))?
            } else {
                body.to_string()
            };
            match form {
                's' => set.suffixes.push(body),
                'p' => set.prefixes.push(body),
                _ => {
                    set.exact.insert(body);
                }
            }
        }
        Ok(set)
    }

    /// True when the list was empty (the field was not given).
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// The patterns as written in the policy.
    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    /// True when every pattern is an exact value (no prefix, suffix, presence or template).
    pub fn is_exact_only(&self) -> bool {
        !self.any
            && self.prefixes.is_empty()
            && self.suffixes.is_empty()
            && self.templates.is_empty()
    }

    /// Exact values in the set (lower-cased for hosts).
    pub fn exact_values(&self) -> impl Iterator<Item = &str> {
        self.exact.iter().map(String::as_str)
    }

    /// Prefix patterns (without the `*`).
    pub fn prefix_values(&self) -> impl Iterator<Item = &str> {
        self.prefixes.iter().map(String::as_str)
    }

    /// Suffix patterns (without the `*`).
    pub fn suffix_values(&self) -> impl Iterator<Item = &str> {
        self.suffixes.iter().map(String::as_str)
    }

    /// True when the set holds `*` (any non-empty value).
    pub fn has_any(&self) -> bool {
        self.any
    }

    /// Path templates (`/a/{*}/b`), as written.
    pub fn template_sources(&self) -> impl Iterator<Item = &str> {
        self.sources
            .iter()
            .map(String::as_str)
            .filter(|s| !self.templates.is_empty() && s.contains('{'))
    }

    /// True when `v` matches any pattern. For hosts, `v` must already be lower-case.
    pub fn matches(&self, v: &str) -> bool {
        if self.any && !v.is_empty() {
            return true;
        }
        if self.exact.contains(v) {
            return true;
        }
        if self.prefixes.iter().any(|p| v.starts_with(p.as_str())) {
            return true;
        }
        if self.suffixes.iter().any(|s| v.ends_with(s.as_str())) {
            return true;
        }
        self.templates.iter().any(|t| template_matches(t, v))
    }

    /// True when any of `values` matches.
    pub fn matches_any<'a>(&self, mut values: impl Iterator<Item = &'a str>) -> bool {
        values.any(|v| self.matches(v))
    }
}

fn has_port(host: &str) -> bool {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.contains("]:");
    }
    host.matches(':').count() == 1
}

fn compile_template(v: &str) -> Result<Vec<Seg>, &'static str> {
    let body = v
        .strip_prefix('/')
        .ok_or("must start with `/` to use `{*}` or `{**}`")?;
    let parts: Vec<&str> = body.split('/').collect();
    let mut segs = Vec::with_capacity(parts.len());
    let last = parts.len().saturating_sub(1);
    for (i, p) in parts.iter().enumerate() {
        match *p {
            "{*}" => segs.push(Seg::One),
            "{**}" if i == last => segs.push(Seg::Rest),
            "{**}" => return Err("uses `{**}` before the last segment; it must be last"),
            lit if lit.contains('{') || lit.contains('}') || lit.contains('*') => {
                return Err("mixes a template operator with other text in one segment; use `{*}` or `{**}` as a whole segment")
            }
            lit => segs.push(Seg::Lit(lit.to_string())),
        }
    }
    Ok(segs)
}

/// Envoy's URI-template `{*}` matches one non-empty segment of these characters (RFC 3986
/// `pchar` without `=` and `*`); `{**}` matches the rest of the path, `/` included.
fn template_segment_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~%!$&'()+,;:@".contains(&b)
}

fn template_matches(t: &[Seg], path: &str) -> bool {
    let Some(body) = path.strip_prefix('/') else {
        return false;
    };
    let mut parts = body.split('/');
    for seg in t {
        match seg {
            // `/files/{**}` is `/files/` followed by anything: `/files` itself does not match,
            // so the segment after the literal must exist (it may be empty).
            Seg::Rest => return parts.next().is_some(),
            Seg::One => match parts.next() {
                Some(p) if !p.is_empty() && p.bytes().all(template_segment_char) => {}
                _ => return false,
            },
            Seg::Lit(l) => match parts.next() {
                Some(p) if p == l => {}
                _ => return false,
            },
        }
    }
    parts.next().is_none()
}

/// A compiled list of CIDR blocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpSet {
    ranges: Ranges,
    sources: Vec<String>,
}

impl IpSet {
    /// Compiles `values` (at JSON path `path`).
    pub fn compile(values: &[String], path: &str) -> Result<IpSet, PolicyError> {
        let mut set = IpSet::default();
        let mut blocks = Vec::with_capacity(values.len());
        for (i, raw) in values.iter().enumerate() {
            let c = Cidr::parse(raw).map_err(|m| {
                PolicyError::new(
                    ErrorCode::Invalid,
                    format!("{path}[{i}]"),
                    format!("{}: {m}", quote_str(raw)),
                )
            })?;
            blocks.push(c);
            set.sources.push(raw.clone());
        }
        set.ranges = Ranges::new(&blocks);
        Ok(set)
    }
    /// True when the list was empty.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }
    /// The blocks as written.
    pub fn sources(&self) -> &[String] {
        &self.sources
    }
    /// True when `ip` is in any block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.ranges.contains(ip)
    }
    /// The blocks, parsed again from their sources.
    pub fn blocks(&self) -> impl Iterator<Item = Cidr> + '_ {
        self.sources.iter().filter_map(|s| Cidr::parse(s).ok())
    }
    /// True when `text` parses as an address inside any block.
    pub fn contains_str(&self, text: &str) -> bool {
        parse_ip(text).is_some_and(|ip| self.contains(ip))
    }
}

/// A compiled list of ports (Istio writes them as strings).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortSet {
    ports: BTreeSet<u16>,
    sources: Vec<String>,
}

impl PortSet {
    /// Compiles `values` (at JSON path `path`).
    pub fn compile(values: &[String], path: &str) -> Result<PortSet, PolicyError> {
        let mut set = PortSet::default();
        for (i, raw) in values.iter().enumerate() {
            let p = (!raw.is_empty() && raw.len() <= 5 && raw.bytes().all(|b| b.is_ascii_digit()))
                .then(|| raw.parse::<u16>().ok())
                .flatten()
                .filter(|p| *p != 0)
                .ok_or_else(|| {
                    PolicyError::new(
                        ErrorCode::Invalid,
                        format!("{path}[{i}]"),
                        format!("expected a port from 1 to 65535, found {}", quote_str(raw)),
                    )
                })?;
            set.ports.insert(p);
            set.sources.push(raw.clone());
        }
        Ok(set)
    }
    /// True when the list was empty.
    pub fn is_empty(&self) -> bool {
        self.ports.is_empty()
    }
    /// The ports as written.
    pub fn sources(&self) -> &[String] {
        &self.sources
    }
    /// The listed ports.
    pub fn ports(&self) -> impl Iterator<Item = u16> + '_ {
        self.ports.iter().copied()
    }
    /// True when `port` is listed.
    pub fn contains(&self, port: u16) -> bool {
        self.ports.contains(&port)
    }
}

#[cfg(test)]
#[path = "matcher_test.rs"]
mod tests;
