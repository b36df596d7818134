//! Where the signals come from (design §2.3): `network` (named CIDR lists, a geo header
//! trusted only from named edge principals), `devicePosture` (posture headers trusted only
//! from named agents) and `utcOffsetMinutes` (the zone of `time.hour` and `time.weekday`).
//!
//! A signal carried in a header is only as good as whoever set it. Vigil honours
//! `network.countryHeader` and the `devicePosture.headerPrefix` headers only when the mTLS
//! peer is a configured principal; from anyone else they are ignored and stripped before
//! forwarding.

use crate::error::{ErrorCode, PolicyError};
use crate::extract::request::is_tchar;
use crate::json::Value;
use crate::policy::matcher::{IpSet, MatchSet, ValueKind};
use crate::policy::read::{quote_str, type_error, Obj};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// `network`.
#[derive(Debug, Clone, Default)]
pub struct Network {
    /// `lists`: named CIDR lists, for `network.list[NAME]`.
    pub lists: Vec<(String, IpSet)>,
    /// `countryHeader` (lower-case): where the edge puts the client's country.
    pub country_header: Option<String>,
    /// `countryPrincipals`: mTLS peers whose `countryHeader` is believed.
    pub country_principals: MatchSet,
    /// `feed`: where adapters poll more ranges for the declared lists
    /// ([`crate::feeds::NetworkLists`]).
    pub feed: Option<crate::policy::Feed>,
}

impl Network {
    /// The list called `name`.
    pub fn list(&self, name: &str) -> Option<&IpSet> {
        self.lists.iter().find(|(n, _)| n == name).map(|(_, s)| s)
    }
}

/// `devicePosture`.
#[derive(Debug, Clone, Default)]
pub struct DevicePosture {
    /// `headerPrefix` (lower-case, default `x-device-`): `x-device-compliant` is
    /// `device.compliant`.
    pub header_prefix: String,
    /// `postureAgents`: mTLS peers whose posture headers are believed.
    pub agents: MatchSet,
}

/// Default `devicePosture.headerPrefix`.
pub const DEFAULT_POSTURE_PREFIX: &str = "x-device-";

fn header_name(path: &str, name: &str) -> Result<String, PolicyError> {
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(PolicyError::new(
            ErrorCode::Invalid,
            path,
            format!("invalid header name {}", quote_str(name)),
        ));
    }
    Ok(name.to_ascii_lowercase())
}

/// A name usable in `network.list[NAME]`, `device.NAME`, `behavior.NAME`.
pub fn is_signal_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn principals(o: &Obj<'_>, key: &str) -> Result<MatchSet, PolicyError> {
    let list = o.strings(key)?;
    if let Some((i, bad)) = list
        .iter()
        .enumerate()
        .find(|(_, v)| v.starts_with("spiffe://"))
    {
        return Err(PolicyError::new(
            ErrorCode::Invalid,
            format!("{}[{i}]", o.at(key)),
            format!(
                "{} starts with `spiffe://`; write principals as Istio does, without the scheme",
                quote_str(bad)
            ),
        ));
    }
    MatchSet::compile(&list, &o.at(key), ValueKind::Plain)
}

/// Reads an object of named CIDR lists (`network.lists`, a network-list feed's `lists`), with
/// at most `max_ranges` ranges in all; returns the lists and their range count.
pub fn named_lists(
    l: &Obj<'_>,
    max_ranges: usize,
) -> Result<(Vec<(String, IpSet)>, usize), PolicyError> {
    let mut lists = Vec::new();
    let mut ranges = 0usize;
    for (name, v) in l.entries() {
        let at = l.at(name);
        if !is_signal_name(name) {
            return Err(PolicyError::new(
                ErrorCode::Invalid,
                at,
                format!(
                    "invalid list name {}; use letters, digits, `_` and `-`",
                    quote_str(name)
                ),
            ));
        }
        let items = v.as_array().ok_or_else(|| type_error(&at, "an array", v))?;
        ranges = ranges.saturating_add(items.len());
        if ranges > max_ranges {
            return Err(PolicyError::new(
                ErrorCode::Limit,
                l.path(),
                format!("more than {max_ranges} ranges"),
            ));
        }
        let mut cidrs = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) if !s.is_empty() => cidrs.push(s.clone()),
                other => return Err(type_error(&format!("{at}[{i}]"), "a CIDR block", other)),
            }
        }
        lists.push((name.to_string(), IpSet::compile(&cidrs, &at)?));
    }
    Ok((lists, ranges))
}

/// Reads `network`.
pub fn parse_network(o: Option<Obj<'_>>) -> Result<Network, PolicyError> {
    let Some(o) = o else {
        return Ok(Network::default());
    };
    o.deny_unknown(&["lists", "countryHeader", "countryPrincipals", "feed"])?;
    let feed = match o.obj("feed")? {
        Some(f) => Some(crate::policy::parse_feed(&f)?),
        None => None,
    };
    let lists = match o.obj("lists")? {
        Some(l) => named_lists(&l, usize::MAX)?.0,
        None => Vec::new(),
    };
    let country_header = match o.str("countryHeader")? {
        None => None,
        Some(h) => Some(header_name(&o.at("countryHeader"), h)?),
    };
    let country_principals = principals(&o, "countryPrincipals")?;
    if country_header.is_some() == country_principals.is_empty() {
        return Err(PolicyError::new(
            ErrorCode::Invalid,
            o.path(),
            "`countryHeader` and `countryPrincipals` go together: the header is believed only from those peers",
        ));
    }
    Ok(Network {
        lists,
        country_header,
        country_principals,
        feed,
    })
}

/// Reads `devicePosture`.
pub fn parse_device_posture(o: Option<Obj<'_>>) -> Result<DevicePosture, PolicyError> {
    let Some(o) = o else {
        return Ok(DevicePosture {
            header_prefix: DEFAULT_POSTURE_PREFIX.into(),
            agents: MatchSet::default(),
        });
    };
    o.deny_unknown(&["headerPrefix", "postureAgents"])?;
    let header_prefix = match o.str("headerPrefix")? {
        None => DEFAULT_POSTURE_PREFIX.to_string(),
        Some(p) => header_name(&o.at("headerPrefix"), p)?,
    };
    Ok(DevicePosture {
        header_prefix,
        agents: principals(&o, "postureAgents")?,
    })
}

/// Reads `utcOffsetMinutes` (−720 to 840).
pub fn parse_utc_offset(o: &Obj<'_>) -> Result<i32, PolicyError> {
    match o.raw("utcOffsetMinutes") {
        None => Ok(0),
        Some(v @ Value::Number(n)) => match n.as_i64() {
            Some(m) if (-720..=840).contains(&m) => Ok(m as i32),
            _ => Err(PolicyError::new(
                ErrorCode::Invalid,
                o.at("utcOffsetMinutes"),
                format!(
                    "expected a whole number of minutes from -720 to 840, found {}",
                    crate::policy::read::quote(v)
                ),
            )),
        },
        Some(other) => Err(type_error(
            &o.at("utcOffsetMinutes"),
            "a whole number",
            other,
        )),
    }
}

/// `time.hour` (0–23) and `time.weekday` (`mon` … `sun`) of `now` in the given zone.
pub fn local_time(now: i64, offset_minutes: i32) -> (u8, &'static str) {
    let t = now.saturating_add(i64::from(offset_minutes) * 60);
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // 1970-01-01 was a Thursday.
    const DAYS: [&str; 7] = ["thu", "fri", "sat", "sun", "mon", "tue", "wed"];
    let wd = DAYS
        .get(days.rem_euclid(7) as usize)
        .copied()
        .unwrap_or("thu");
    ((secs / 3600) as u8, wd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock() {
        // 2023-11-14T22:13:20Z, a Tuesday.
        assert_eq!(local_time(1_700_000_000, 0), (22, "tue"));
        assert_eq!(local_time(1_700_000_000, 120), (0, "wed"));
        assert_eq!(local_time(1_700_000_000, -600), (12, "tue"));
        assert_eq!(local_time(0, 0), (0, "thu"));
        assert_eq!(local_time(-1, 0), (23, "wed"));
    }
}
