//! The request space the analysis searches: one dimension per attribute the policies read,
//! each with a finite list of candidate values chosen from the policies' literals so that
//! every class of values the matchers can tell apart has a member (see `docs/policy.md`,
//! "Reviewing a change").
//!
//! For string patterns (exact, `prefix*`, `*suffix`, `*`, path templates) the classes are
//! fixed by the longest matching prefix, the longest matching suffix and the exact value, so
//! the candidates are: each exact value, each prefix `p` and `p + F`, each suffix `q` and
//! `F + q`, each `p + F + q`, a fresh value `F`, the empty value and "absent" (`F` a filler
//! no literal contains). For CIDR blocks the classes are intervals whose ends are a block's
//! first or last address or the address just outside it, so those four per block are the
//! candidates. Ports: each listed port, one unlisted, absent.

use crate::decide::cidr::Cidr;
use crate::extract::path::PathNormalization;
use crate::extract::path::{canonicalize_host, canonicalize_method, canonicalize_path};
use crate::policy::matcher::{IpSet, MatchSet, PortSet};
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The filler spliced between prefixes and suffixes (no policy literal is expected to
/// contain it; a literal that does only costs precision in the region description).
pub const FILLER: &str = "vigil~diff";
const HOST_FILLER: &str = "vigil-diff";

/// Most prefix × suffix combinations generated for one dimension.
const MAX_PAIRS: usize = 20_000;
/// Most single values paired up for a multi-valued attribute.
const MAX_MULTI_SINGLES: usize = 24;

/// An attribute of the request.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dim {
    /// `:method`.
    Method,
    /// The canonical path.
    Path,
    /// The canonical host.
    Host,
    /// `destination.port`.
    Port,
    /// The mTLS peer principal (without `spiffe://`).
    Peer,
    /// The direct peer address.
    SourceIp,
    /// The original client address (its own dimension only with trusted proxies).
    RemoteIp,
    /// The local address.
    DestIp,
    /// TLS SNI.
    Sni,
    /// A request header (lower-case name), possibly several values.
    Header(String),
    /// The user's token: absent, invalid, or a verified `iss/sub`.
    Token,
    /// The token's `aud`.
    Aud,
    /// The token's `azp`.
    Azp,
    /// A token claim by path.
    Claim(Vec<String>),
}

impl Dim {
    /// How the dimension is named in reports.
    pub fn name(&self) -> String {
        match self {
            Dim::Method => "method".into(),
            Dim::Path => "path".into(),
            Dim::Host => "host".into(),
            Dim::Port => "destination.port".into(),
            Dim::Peer => "source.principal".into(),
            Dim::SourceIp => "source.ip".into(),
            Dim::RemoteIp => "remote.ip".into(),
            Dim::DestIp => "destination.ip".into(),
            Dim::Sni => "connection.sni".into(),
            Dim::Header(h) => format!("request.headers[{h}]"),
            Dim::Token => "request.auth.principal".into(),
            Dim::Aud => "request.auth.audiences".into(),
            Dim::Azp => "request.auth.presenter".into(),
            Dim::Claim(p) => {
                let parts: Vec<String> = p.iter().map(|s| format!("[{s}]")).collect();
                format!("request.auth.claims{}", parts.concat())
            }
        }
    }
}

/// One candidate value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Val {
    /// The attribute is absent.
    Absent,
    /// One value.
    One(String),
    /// Several values (headers, claim arrays, audiences).
    Many(Vec<String>),
    /// A token that does not verify.
    BadToken,
    /// A verified token from `iss` with `sub`.
    Token {
        /// The issuer.
        iss: String,
        /// The subject.
        sub: String,
        /// `iss/sub`, the request principal (computed once, matched by many predicates).
        principal: String,
    },
}

impl Val {
    /// The single value, if any.
    pub fn one(&self) -> Option<&str> {
        match self {
            Val::One(s) => Some(s),
            _ => None,
        }
    }
    /// Every value (none when absent).
    pub fn values(&self) -> Vec<&str> {
        match self {
            Val::One(s) => alloc::vec![s.as_str()],
            Val::Many(v) => v.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }
}

/// A set of candidate indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bits {
    words: Vec<u64>,
    len: usize,
}

impl Bits {
    /// The empty set over `len` candidates.
    pub fn empty(len: usize) -> Bits {
        Bits {
            words: alloc::vec![0; len.div_ceil(64)],
            len,
        }
    }
    /// Every candidate.
    pub fn full(len: usize) -> Bits {
        let mut b = Bits::empty(len);
        for i in 0..len {
            b.set(i);
        }
        b
    }
    /// Adds `i`.
    pub fn set(&mut self, i: usize) {
        if let Some(w) = self.words.get_mut(i / 64) {
            *w |= 1u64 << (i % 64);
        }
    }
    /// True when `i` is in the set.
    pub fn has(&self, i: usize) -> bool {
        self.words
            .get(i / 64)
            .is_some_and(|w| w & (1u64 << (i % 64)) != 0)
    }
    /// The intersection.
    pub fn and(&self, o: &Bits) -> Bits {
        Bits {
            words: self
                .words
                .iter()
                .zip(&o.words)
                .map(|(a, b)| a & b)
                .collect(),
            len: self.len,
        }
    }
    /// `self` without `o`.
    pub fn minus(&self, o: &Bits) -> Bits {
        Bits {
            words: self
                .words
                .iter()
                .zip(&o.words)
                .map(|(a, b)| a & !b)
                .collect(),
            len: self.len,
        }
    }
    /// True when `self ∩ o` is empty.
    pub fn disjoint(&self, o: &Bits) -> bool {
        self.words.iter().zip(&o.words).all(|(a, b)| a & b == 0)
    }
    /// True when `self ⊆ o`.
    pub fn subset(&self, o: &Bits) -> bool {
        self.words.iter().zip(&o.words).all(|(a, b)| a & !b == 0)
    }
    /// True when the set is empty.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }
    /// The smallest member.
    pub fn first(&self) -> Option<usize> {
        self.words
            .iter()
            .enumerate()
            .find(|(_, w)| **w != 0)
            .map(|(i, w)| i * 64 + w.trailing_zeros() as usize)
    }
    /// Members in order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.len).filter(|i| self.has(*i))
    }
    /// How many members.
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }
}

/// Patterns collected for one string dimension from both documents.
#[derive(Debug, Clone, Default)]
pub struct Patterns {
    exact: BTreeSet<String>,
    prefixes: BTreeSet<String>,
    suffixes: BTreeSet<String>,
    templates: BTreeSet<String>,
    /// Values no pattern names but the dimension needs (issuer audiences, ...).
    extra: BTreeSet<String>,
    /// Some matcher reads the dimension (`*` alone names no literal).
    used: bool,
}

impl Patterns {
    /// Adds every pattern of a compiled set.
    pub fn add(&mut self, set: &MatchSet) {
        self.used |= !set.is_empty();
        self.exact
            .extend(set.exact_values().map(ToString::to_string));
        self.prefixes
            .extend(set.prefix_values().map(ToString::to_string));
        self.suffixes
            .extend(set.suffix_values().map(ToString::to_string));
        self.templates
            .extend(set.template_sources().map(ToString::to_string));
    }
    /// Adds one exact value.
    pub fn add_exact(&mut self, v: &str) {
        self.used = true;
        self.extra.insert(v.to_string());
    }
    /// Every literal (exact values, prefix and suffix bodies).
    pub fn literals(&self) -> impl Iterator<Item = &str> {
        self.exact
            .iter()
            .chain(&self.prefixes)
            .chain(&self.suffixes)
            .chain(&self.extra)
            .map(String::as_str)
    }
    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        !self.used
            && self.exact.is_empty()
            && self.prefixes.is_empty()
            && self.suffixes.is_empty()
            && self.templates.is_empty()
            && self.extra.is_empty()
    }
}

/// How the values of a string dimension are validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Any string.
    Plain,
    /// A canonical path under this normalisation.
    Path(PathNormalization),
    /// A canonical host.
    Host,
    /// A method token.
    Method,
}

fn valid(kind: Kind, v: &str) -> bool {
    match kind {
        Kind::Plain => true,
        Kind::Path(mode) => {
            v.starts_with('/') && canonicalize_path(v, mode).is_ok_and(|c| c.path == v)
        }
        Kind::Host => !v.is_empty() && canonicalize_host(v).is_ok_and(|c| c == v),
        Kind::Method => canonicalize_method(v).is_ok_and(|m| m == v),
    }
}

/// String candidates for `p` (absent and the empty value are the caller's), plus whether
/// the prefix × suffix combinations had to be cut short.
pub fn strings(p: &Patterns, kind: Kind) -> (Vec<String>, bool) {
    let f = match kind {
        Kind::Host => HOST_FILLER,
        Kind::Method => "VIGIL-DIFF",
        _ => FILLER,
    };
    let fresh = match kind {
        Kind::Path(_) => format!("/{f}"),
        _ => f.to_string(),
    };
    let mut out: BTreeSet<String> = BTreeSet::new();
    let mut first: Vec<String> = Vec::new();
    if kind == Kind::Method {
        first.push("GET".into());
    }
    first.push(fresh.clone());
    for e in p.exact.iter().chain(&p.extra) {
        out.insert(e.clone());
    }
    let lead = match kind {
        Kind::Path(_) => format!("/{f}"),
        _ => f.to_string(),
    };
    for pre in &p.prefixes {
        out.insert(pre.clone());
        out.insert(format!("{pre}{f}"));
        if let Kind::Host = kind {
            out.insert(format!("{pre}{f}.test"));
        }
    }
    for suf in &p.suffixes {
        out.insert(suf.clone());
        out.insert(format!("{lead}{suf}"));
        if matches!(kind, Kind::Path(_)) && !suf.starts_with('/') {
            out.insert(format!("/{f}/x{suf}"));
        }
    }
    let mut cut = false;
    if p.prefixes.len().saturating_mul(p.suffixes.len()) <= MAX_PAIRS {
        for pre in &p.prefixes {
            for suf in &p.suffixes {
                out.insert(format!("{pre}{f}{suf}"));
                out.insert(format!("{pre}{suf}"));
            }
        }
    } else {
        cut = true;
    }
    for t in &p.templates {
        for inst in instantiate(t) {
            for suf in p.suffixes.iter().take(64) {
                if inst.ends_with(f) {
                    out.insert(format!("{inst}{suf}"));
                }
            }
            out.insert(inst);
        }
    }
    let mut list: Vec<String> = Vec::with_capacity(out.len() + first.len());
    for v in &first {
        if valid(kind, v) && !list.contains(v) {
            list.push(v.clone());
        }
    }
    for v in out {
        if valid(kind, &v) && !first.contains(&v) {
            list.push(v);
        }
    }
    (list, cut)
}

/// Paths a template names: `{*}` as a segment of template characters and as one that is
/// not (`=` is outside the set), `{**}` as nothing, one segment and two.
fn instantiate(t: &str) -> Vec<String> {
    let mut outs: Vec<String> = alloc::vec![String::new()];
    let body = t.strip_prefix('/').unwrap_or(t);
    for seg in body.split('/') {
        let options: Vec<String> = match seg {
            "{*}" => alloc::vec![FILLER.into(), "a=b".into()],
            "{**}" => alloc::vec![String::new(), FILLER.into(), format!("{FILLER}/{FILLER}")],
            lit => alloc::vec![lit.to_string()],
        };
        let mut next = Vec::new();
        for o in &outs {
            for opt in &options {
                next.push(format!("{o}/{opt}"));
            }
            if next.len() > 256 {
                break;
            }
        }
        outs = next;
    }
    outs
}

/// Address candidates for the blocks of `sets`: each block's first and last address and
/// the ones just outside, one fresh v4 and v6 address; absent is the caller's.
pub fn addresses<'a>(sets: impl Iterator<Item = &'a IpSet>, extra: &[Cidr]) -> Vec<String> {
    let mut out: BTreeSet<IpAddr> = BTreeSet::new();
    let mut add = |c: Cidr| {
        let (lo, hi) = c.first_last();
        out.insert(lo);
        out.insert(hi);
        if let Some(x) = step(lo, -1) {
            out.insert(x);
        }
        if let Some(x) = step(hi, 1) {
            out.insert(x);
        }
    };
    for s in sets {
        for c in s.blocks() {
            add(c);
        }
    }
    for c in extra {
        add(*c);
    }
    let fresh = ["192.0.2.10", "2001:db8::a"];
    let mut list: Vec<String> = fresh.iter().map(ToString::to_string).collect();
    for ip in out {
        let s = ip.to_string();
        if !fresh.contains(&s.as_str()) {
            list.push(s);
        }
    }
    list
}

fn step(ip: IpAddr, by: i8) -> Option<IpAddr> {
    match ip {
        IpAddr::V4(v) => {
            let n = u32::from(v);
            let m = if by < 0 {
                n.checked_sub(1)?
            } else {
                n.checked_add(1)?
            };
            Some(IpAddr::V4(Ipv4Addr::from(m)))
        }
        IpAddr::V6(v) => {
            let n = u128::from(v);
            let m = if by < 0 {
                n.checked_sub(1)?
            } else {
                n.checked_add(1)?
            };
            let v6 = Ipv6Addr::from(m);
            // v4-mapped addresses are the v4 address (the v4 candidates cover them).
            if v6.to_ipv4_mapped().is_some() {
                return None;
            }
            Some(IpAddr::V6(v6))
        }
    }
}

/// Port candidates: each listed port and one that no policy lists.
pub fn ports<'a>(sets: impl Iterator<Item = &'a PortSet>) -> Vec<u16> {
    let mut listed: BTreeSet<u16> = BTreeSet::new();
    for s in sets {
        listed.extend(s.ports());
    }
    let fresh = [8080u16, 8443, 9090, 1]
        .into_iter()
        .chain(2..=u16::MAX)
        .find(|p| !listed.contains(p));
    let mut out: Vec<u16> = fresh.into_iter().collect();
    out.extend(listed);
    out
}

/// Candidates of a multi-valued attribute: absent, each single value, the empty value when
/// asked, and pairs (all pairs of up to [`MAX_MULTI_SINGLES`] singles, else each `pinned`
/// value paired with each single). Returns whether pairs were cut short.
pub fn multi(singles: &[String], pinned: &[String], empty: bool) -> (Vec<Val>, bool) {
    let mut out: Vec<Val> = alloc::vec![Val::Absent];
    if empty {
        out.push(Val::One(String::new()));
    }
    for s in singles {
        out.push(Val::One(s.clone()));
    }
    let mut cut = false;
    if singles.len() <= MAX_MULTI_SINGLES {
        for (i, a) in singles.iter().enumerate() {
            for b in singles.iter().skip(i + 1) {
                out.push(Val::Many(alloc::vec![a.clone(), b.clone()]));
            }
        }
    } else {
        cut = true;
        for a in pinned {
            for b in singles {
                if a != b {
                    out.push(Val::Many(alloc::vec![a.clone(), b.clone()]));
                }
            }
        }
    }
    (out, cut)
}
