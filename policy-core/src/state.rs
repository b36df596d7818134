//! State the adapter keeps and passes in: revocation lists from a feed, behaviour signals it
//! computes, and the levels of its rate-limit counters.
//!
//! The core keeps no state between decisions (design §2): an adapter owns the clock, the
//! storage and the fetching, and hands the core a read-only view in [`crate::Env`]. What the
//! core wants written back (the new counter levels) comes out in
//! [`crate::Decision::rate_updates`]. Given the same state and the same `now`, a decision is
//! always the same.

use crate::error::{ErrorCode, PolicyError};
use crate::json::{self, Limits, Value};
use crate::policy::read::{type_error, Obj};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// Revoked tokens: by `jti`, by session (`sid`), and per subject "every token issued before
/// `notBefore`". The same shape is read from the policy's `revocation` and from a feed.
///
/// ```json
/// {"jtis": ["4f1c…"], "sids": ["s-81"],
///  "subjects": [{"sub": "mallory", "iss": "https://idp.example.com", "notBefore": 1700000000}]}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationSnapshot {
    /// Revoked token ids.
    pub jtis: BTreeSet<String>,
    /// Revoked sessions.
    pub sids: BTreeSet<String>,
    /// Per subject: tokens issued (`iat`) before this time are revoked.
    pub subjects: Vec<SubjectRevocation>,
    /// The feed's version, carried for logs (`version`, a string or number as written).
    pub version: Option<String>,
}

/// "Tokens of `sub` (from `iss`, if given) issued before `not_before` are revoked."
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectRevocation {
    /// The token's `sub`.
    pub sub: String,
    /// The token's `iss`; `None` matches every issuer.
    pub iss: Option<String>,
    /// Unix seconds; a token with `iat` before this (or no `iat`) is revoked.
    pub not_before: i64,
}

/// Why a token is revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// Its `jti` is listed.
    Jti,
    /// Its `sid` is listed.
    Session,
    /// It was issued before its subject's `notBefore`.
    Subject,
}

impl Revoked {
    /// Text for `error_description` and the reason (lower case, RFC 6750-safe).
    pub fn description(self) -> &'static str {
        match self {
            Revoked::Jti => "the token has been revoked",
            Revoked::Session => "the token's session has been revoked",
            Revoked::Subject => "the subject's tokens issued before a revocation are revoked",
        }
    }
}

/// Largest number of entries in one revocation list.
pub const MAX_REVOCATIONS: usize = 1_000_000;

impl RevocationSnapshot {
    /// Parses a feed document (JSON text).
    pub fn from_json(text: &str) -> Result<RevocationSnapshot, PolicyError> {
        let v = json::parse(text, Limits::POLICY)
            .map_err(|e| PolicyError::new(ErrorCode::Syntax, "$", e.to_string()))?;
        RevocationSnapshot::from_value(&v, "$")
    }

    /// Reads the document at `path` (`$` for a feed, `revocation` in a policy).
    pub fn from_value(v: &Value, path: &str) -> Result<RevocationSnapshot, PolicyError> {
        let o = Obj::new(v, path)?;
        o.deny_unknown(&[
            "$schema",
            "description",
            "version",
            "jtis",
            "sids",
            "subjects",
        ])?;
        let version = match o.raw("version") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(n @ Value::Number(_)) => Some(n.to_json()),
            Some(other) => return Err(type_error(&o.at("version"), "a string or number", other)),
        };
        let jtis: BTreeSet<String> = o.strings("jtis")?.into_iter().collect();
        let sids: BTreeSet<String> = o.strings("sids")?.into_iter().collect();
        let mut subjects = Vec::new();
        for (p, item) in o.array("subjects")? {
            let s = Obj::new(item, &p)?;
            s.deny_unknown(&["sub", "iss", "notBefore"])?;
            let sub = s.req_str("sub")?;
            if sub.is_empty() {
                return Err(PolicyError::new(
                    ErrorCode::Invalid,
                    s.at("sub"),
                    "expected a non-empty string, found ``",
                ));
            }
            let not_before = s
                .uint("notBefore", i64::MAX as u64)?
                .ok_or_else(|| s.missing("notBefore"))? as i64;
            subjects.push(SubjectRevocation {
                sub: sub.to_string(),
                iss: s.str("iss")?.map(str::to_string),
                not_before,
            });
        }
        if jtis.len() > MAX_REVOCATIONS
            || sids.len() > MAX_REVOCATIONS
            || subjects.len() > MAX_REVOCATIONS
        {
            return Err(PolicyError::new(
                ErrorCode::Limit,
                path,
                format!("more than {MAX_REVOCATIONS} entries in a revocation list"),
            ));
        }
        Ok(RevocationSnapshot {
            jtis,
            sids,
            subjects,
            version,
        })
    }

    /// True when nothing is revoked.
    pub fn is_empty(&self) -> bool {
        self.jtis.is_empty() && self.sids.is_empty() && self.subjects.is_empty()
    }

    /// Whether a token with these claims is revoked.
    pub fn check(
        &self,
        iss: &str,
        sub: Option<&str>,
        jti: Option<&str>,
        sid: Option<&str>,
        iat: Option<i64>,
    ) -> Option<Revoked> {
        if jti.is_some_and(|j| self.jtis.contains(j)) {
            return Some(Revoked::Jti);
        }
        if sid.is_some_and(|s| self.sids.contains(s)) {
            return Some(Revoked::Session);
        }
        let sub = sub?;
        self.subjects
            .iter()
            .filter(|s| s.sub == sub && s.iss.as_deref().is_none_or(|i| i == iss))
            .any(|s| iat.is_none_or(|t| t < s.not_before))
            .then_some(Revoked::Subject)
    }
}

/// Behaviour signals the adapter computed from its own state for this request's subject
/// (`behavior.NAME` in conditions): e.g. `newCountry`, `requestsLastMinute`, `firstSeen`.
/// Values are kept as text: `true`, `130`, `DE`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signals {
    values: BTreeMap<String, String>,
}

impl Signals {
    /// No signals.
    pub fn new() -> Self {
        Signals::default()
    }

    /// Sets a signal (booleans and numbers as their text: `true`, `42`).
    pub fn set(&mut self, name: &str, value: impl fmt::Display) -> &mut Self {
        self.values.insert(name.to_string(), value.to_string());
        self
    }

    /// A signal's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Every signal, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Reads `{"newCountry": true, "requestsLastMinute": 130, "country": "DE"}`: strings,
    /// numbers and booleans; `null` leaves the signal unset.
    pub fn from_value(v: &Value, path: &str) -> Result<Signals, PolicyError> {
        let o = Obj::new(v, path)?;
        let mut s = Signals::new();
        if let Value::Object(m) = v {
            for (k, item) in m.iter() {
                match item {
                    Value::Null => {}
                    Value::String(t) => {
                        s.set(k, t);
                    }
                    Value::Bool(_) | Value::Number(_) => {
                        s.set(k, item.to_json());
                    }
                    other => {
                        return Err(type_error(&o.at(k), "a string, number or boolean", other))
                    }
                }
            }
        }
        Ok(s)
    }
}

/// One token bucket: its level in thousandths of a request, as of `updated` (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Requests available × 1000.
    pub milli: u64,
    /// When `milli` was computed.
    pub updated: i64,
}

/// Which counter: a limit's name and the key value (a principal, an address, a header value).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RateKey {
    /// The `rateLimits[].name`.
    pub limit: String,
    /// The value the limit is keyed by for this request.
    pub key: String,
}

/// The counter levels an adapter holds. The core asks for the buckets it needs while
/// deciding; a bucket the adapter does not have is full.
pub trait RateState: fmt::Debug {
    /// The bucket of `limit` for `key`, if the adapter has one.
    fn bucket(&self, limit: &str, key: &str) -> Option<Bucket>;
}

/// A [`RateState`] held in memory: what tests, the CLI and simple adapters use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateSnapshot {
    buckets: BTreeMap<RateKey, Bucket>,
}

impl RateSnapshot {
    /// Empty: every bucket full.
    pub fn new() -> Self {
        RateSnapshot::default()
    }

    /// Every bucket held.
    pub fn iter(&self) -> impl Iterator<Item = (&RateKey, &Bucket)> {
        self.buckets.iter()
    }

    /// Sets one bucket.
    pub fn set(&mut self, limit: &str, key: &str, bucket: Bucket) {
        self.buckets.insert(
            RateKey {
                limit: limit.to_string(),
                key: key.to_string(),
            },
            bucket,
        );
    }

    /// Applies a decision's updates (what an adapter writes back).
    pub fn apply(&mut self, updates: &[RateUpdate]) {
        for u in updates {
            self.buckets.insert(u.key.clone(), u.bucket);
        }
    }

    /// Reads `[{"limit": "per-user", "key": "https://idp/alice", "tokens": 0.5,
    /// "updated": 1700000000}]`.
    pub fn from_value(v: &Value, path: &str) -> Result<RateSnapshot, PolicyError> {
        let mut s = RateSnapshot::new();
        let items = v
            .as_array()
            .ok_or_else(|| type_error(path, "an array", v))?;
        for (i, item) in items.iter().enumerate() {
            let p = crate::policy::read::index(path, i);
            let o = Obj::new(item, &p)?;
            o.deny_unknown(&["limit", "key", "tokens", "updated"])?;
            let tokens = match o.raw("tokens") {
                Some(Value::Number(n)) if n.as_f64() >= 0.0 && n.as_f64() <= 1e12 => {
                    (n.as_f64() * 1000.0) as u64
                }
                Some(other) => {
                    return Err(type_error(
                        &o.at("tokens"),
                        "a number of requests from 0",
                        other,
                    ))
                }
                None => return Err(o.missing("tokens")),
            };
            let updated = o
                .uint("updated", i64::MAX as u64)?
                .ok_or_else(|| o.missing("updated"))? as i64;
            s.set(
                o.req_str("limit")?,
                o.req_str("key")?,
                Bucket {
                    milli: tokens,
                    updated,
                },
            );
        }
        Ok(s)
    }
}

impl RateState for RateSnapshot {
    fn bucket(&self, limit: &str, key: &str) -> Option<Bucket> {
        self.buckets
            .iter()
            .find(|(k, _)| k.limit == limit && k.key == key)
            .map(|(_, b)| *b)
    }
}

/// A counter's new level, for the adapter to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateUpdate {
    /// Which counter.
    pub key: RateKey,
    /// Its level after this request.
    pub bucket: Bucket,
}

/// How long a subject's behaviour history is kept without a request: older records are
/// treated as absent (the subject is "first seen" again). Adapters may evict them earlier.
pub const BEHAVIOR_TTL_SECONDS: i64 = 30 * 24 * 3600;
/// The velocity window (`requestsLastMinute`).
pub const VELOCITY_WINDOW_SECONDS: i64 = 60;
/// Longest country value remembered; a longer one is not tracked (ISO codes have 2 letters).
pub const MAX_COUNTRY: usize = 16;

/// One subject's behaviour history, as an adapter stores it between requests. From it and the
/// request the core computes the `behavior.*` signals:
///
/// * `firstSeen`: `true` when the subject has no history (or none within
///   [`BEHAVIOR_TTL_SECONDS`]), else `false`;
/// * `requestsLastMinute`: this subject's requests in the last 60 s, this one included — a
///   sliding window estimated from two fixed minutes (the current count plus the previous
///   minute's, weighted by how much of it the window still covers);
/// * `newCountry` (only when the request has a trusted `network.country`): `true` when it
///   differs from the country of the subject's last request that had one.
///
/// Text form (what adapters store): `v1 FIRST LAST WINDOW CURRENT PREVIOUS COUNTRY` — Unix
/// seconds, counts, and the country last (`-` for none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behavior {
    /// The subject's first request (Unix seconds).
    pub first_seen: i64,
    /// Its latest request.
    pub last_seen: i64,
    /// Start of the current velocity window (a multiple of 60).
    pub window: i64,
    /// Requests in the current window.
    pub current: u32,
    /// Requests in the window before it.
    pub previous: u32,
    /// The country of its latest request that had one.
    pub country: Option<String>,
}

/// What the core asks the adapter while deciding: the subject's history.
pub trait BehaviorState: fmt::Debug {
    /// The stored history of `subject` (`iss/sub` of the verified token, else the mTLS peer
    /// principal), if the adapter has one.
    fn load(&self, subject: &str) -> Option<Behavior>;
}

/// A [`BehaviorState`] in memory, by subject (tests, the CLI, simple adapters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BehaviorSnapshot {
    /// History by subject.
    pub subjects: BTreeMap<String, Behavior>,
}

impl BehaviorState for BehaviorSnapshot {
    fn load(&self, subject: &str) -> Option<Behavior> {
        self.subjects.get(subject).cloned()
    }
}

impl BehaviorSnapshot {
    /// Applies a decision's update.
    pub fn apply(&mut self, u: &BehaviorUpdate) {
        self.subjects.insert(u.subject.clone(), u.record.clone());
    }
}

/// The history to store after a decision (the request observed), for the adapter to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BehaviorUpdate {
    /// Whose.
    pub subject: String,
    /// The request's trusted country, if any (to re-apply the request on a fresher record
    /// after a conflicting write: [`Behavior::observe`]).
    pub country: Option<String>,
    /// When (Unix seconds).
    pub now: i64,
    /// The new record.
    pub record: Behavior,
}

impl Behavior {
    /// The record, unless it is older than [`BEHAVIOR_TTL_SECONDS`] at `now`.
    fn live(prev: Option<&Behavior>, now: i64) -> Option<&Behavior> {
        prev.filter(|b| now.saturating_sub(b.last_seen) <= BEHAVIOR_TTL_SECONDS)
    }

    /// (current, previous) counts as of `now`'s window, before this request.
    fn counts(prev: Option<&Behavior>, now: i64) -> (u32, u32) {
        let window = now.div_euclid(VELOCITY_WINDOW_SECONDS) * VELOCITY_WINDOW_SECONDS;
        match prev {
            Some(b) if b.window == window => (b.current, b.previous),
            Some(b) if b.window == window - VELOCITY_WINDOW_SECONDS => (0, b.current),
            _ => (0, 0),
        }
    }

    /// The signals for a request of this subject at `now`, from its history `prev`.
    pub fn signals(prev: Option<&Behavior>, country: Option<&str>, now: i64) -> Signals {
        let prev = Behavior::live(prev, now);
        let mut s = Signals::new();
        s.set("firstSeen", prev.is_none());
        let (current, previous) = Behavior::counts(prev, now);
        let elapsed = now.rem_euclid(VELOCITY_WINDOW_SECONDS);
        let carried =
            i64::from(previous) * (VELOCITY_WINDOW_SECONDS - elapsed) / VELOCITY_WINDOW_SECONDS;
        s.set(
            "requestsLastMinute",
            i64::from(current).saturating_add(carried).saturating_add(1),
        );
        if let Some(c) = country.filter(|c| c.len() <= MAX_COUNTRY) {
            let known = prev.and_then(|b| b.country.as_deref());
            s.set("newCountry", known.is_some_and(|k| k != c));
        }
        s
    }

    /// The history after a request of this subject at `now`.
    pub fn observe(prev: Option<&Behavior>, country: Option<&str>, now: i64) -> Behavior {
        let prev = Behavior::live(prev, now);
        let (current, previous) = Behavior::counts(prev, now);
        let country = country
            .filter(|c| c.len() <= MAX_COUNTRY && *c != "-" && !c.contains(char::is_whitespace))
            .map(str::to_string)
            .or_else(|| prev.and_then(|b| b.country.clone()));
        Behavior {
            first_seen: prev.map_or(now, |b| b.first_seen),
            last_seen: prev.map_or(now, |b| b.last_seen.max(now)),
            window: now.div_euclid(VELOCITY_WINDOW_SECONDS) * VELOCITY_WINDOW_SECONDS,
            current: current.saturating_add(1),
            previous,
            country,
        }
    }

    /// The stored text form.
    pub fn to_text(&self) -> String {
        format!(
            "v1 {} {} {} {} {} {}",
            self.first_seen,
            self.last_seen,
            self.window,
            self.current,
            self.previous,
            self.country.as_deref().unwrap_or("-")
        )
    }

    /// Reads the text form; `None` for anything else (a record that does not parse is
    /// treated as absent).
    pub fn from_text(text: &str) -> Option<Behavior> {
        let mut it = text.split(' ');
        if it.next()? != "v1" {
            return None;
        }
        let mut int = || it.next()?.parse::<i64>().ok();
        let (first_seen, last_seen, window) = (int()?, int()?, int()?);
        let current = u32::try_from(int()?).ok()?;
        let previous = u32::try_from(int()?).ok()?;
        let country = match it.next()? {
            "-" => None,
            c if c.len() <= MAX_COUNTRY => Some(c.to_string()),
            _ => return None,
        };
        if it.next().is_some() {
            return None;
        }
        Some(Behavior {
            first_seen,
            last_seen,
            window,
            current,
            previous,
            country,
        })
    }
}

/// Key-value slots for behaviour histories (`vigil.bhv.<slot>`, in Envoy shared data):
/// subjects are hashed into this many slots, so a store never holds more than this many keys
/// (≈ 100 bytes each) whatever the number of subjects. Two subjects in one slot evict each
/// other; the value carries a tag of its subject, so one never reads the other's history (it
/// sees none: `firstSeen`).
pub const BEHAVIOR_SLOTS: u32 = 16_384;

/// The store key of `subject`'s slot and the tag that identifies the subject there (64 bits
/// of SHA-256: subjects cannot be chosen to read each other's history).
pub fn behavior_slot(subject: &str) -> (String, String) {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(subject.as_bytes());
    let slot = digest
        .iter()
        .take(4)
        .fold(0u32, |acc, b| (acc << 8) | u32::from(*b))
        % BEHAVIOR_SLOTS;
    let tag: String = digest
        .iter()
        .skip(4)
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    (format!("vigil.bhv.{slot}"), tag)
}

impl Behavior {
    /// A slot's value: `<tag> <text form>`.
    pub fn to_slot(&self, tag: &str) -> String {
        format!("{tag} {}", self.to_text())
    }

    /// Reads a slot's value: the history, if the slot holds `tag`'s.
    pub fn from_slot(bytes: &[u8], tag: &str) -> Option<Behavior> {
        let text = core::str::from_utf8(bytes).ok()?;
        let (t, record) = text.split_once(' ')?;
        if t != tag {
            return None;
        }
        Behavior::from_text(record)
    }
}

#[cfg(test)]
#[path = "state_test.rs"]
mod tests;
