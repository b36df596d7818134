//! IP addresses and CIDR blocks, parsed once at compile time.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Parses an IPv4 or IPv6 address (IPv6 may be bracketed; zone ids are refused).
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    s.parse::<IpAddr>().ok().map(unmap)
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) are treated as the IPv4 address, so a block
/// written for v4 cannot be dodged by writing the address as v6.
fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// A CIDR block (`10.0.0.0/8`, `2001:db8::/32`) or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `addr/len` or a bare address. Host bits set below the prefix are refused
    /// (`10.0.0.1/8` is almost always a mistake).
    pub fn parse(s: &str) -> Result<Cidr, &'static str> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| "expected an IPv4 or IPv6 address or CIDR block")?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match len {
            None => max,
            Some(l) => {
                if l.is_empty() || l.len() > 3 || !l.bytes().all(|b| b.is_ascii_digit()) {
                    return Err("expected a prefix length after `/`");
                }
                let p: u8 = l
                    .parse()
                    .map_err(|_| "expected a prefix length after `/`")?;
                if p > max {
                    return Err("prefix length is larger than the address");
                }
                p
            }
        };
        let c = Cidr { net: ip, prefix };
        if c.mask_ip(ip) != ip {
            return Err("address has bits set beyond the prefix length");
        }
        // A v4-mapped v6 block is stored as v4 so it matches v4 peers.
        if let IpAddr::V6(v6) = ip {
            if let Some(v4) = v6.to_ipv4_mapped() {
                if prefix >= 96 {
                    return Ok(Cidr {
                        net: IpAddr::V4(v4),
                        prefix: prefix - 96,
                    });
                }
            }
        }
        Ok(c)
    }

    fn mask_ip(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(v4) => {
                let bits = u32::from(v4);
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.prefix))
                };
                IpAddr::V4(Ipv4Addr::from(bits & mask))
            }
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.prefix))
                };
                IpAddr::V6(Ipv6Addr::from(bits & mask))
            }
        }
    }

    /// The first and the last address of the block.
    pub fn first_last(&self) -> (IpAddr, IpAddr) {
        match self.net {
            IpAddr::V4(v4) => {
                let host = u32::MAX.checked_shr(u32::from(self.prefix)).unwrap_or(0);
                (self.net, IpAddr::V4(Ipv4Addr::from(u32::from(v4) | host)))
            }
            IpAddr::V6(v6) => {
                let host = u128::MAX.checked_shr(u32::from(self.prefix)).unwrap_or(0);
                (self.net, IpAddr::V6(Ipv6Addr::from(u128::from(v6) | host)))
            }
        }
    }

    /// True when `ip` is inside this block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = unmap(ip);
        if ip.is_ipv4() != self.net.is_ipv4() {
            return false;
        }
        self.mask_ip(ip) == self.net
    }
}

/// Blocks as sorted, disjoint address ranges: membership is a binary search, so a list of
/// 100,000 blocks costs what a list of ten does. Same answers as asking each [`Cidr`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ranges {
    // IPv4 ranges are kept as u128 too: one instantiation of the sort and search (a smaller
    // filter.wasm).
    v4: Vec<(u128, u128)>,
    v6: Vec<(u128, u128)>,
}

/// Sorts and merges overlapping inclusive ranges.
fn merged(r: Vec<(u128, u128)>) -> Vec<(u128, u128)> {
    // Sorted through a map (widest end per start): less code in filter.wasm than a slice sort.
    let mut by_start: BTreeMap<u128, u128> = BTreeMap::new();
    for (start, end) in r {
        let e = by_start.entry(start).or_insert(end);
        if end > *e {
            *e = end;
        }
    }
    let mut out: Vec<(u128, u128)> = Vec::with_capacity(by_start.len());
    for (start, end) in by_start {
        match out.last_mut() {
            Some(last) if start <= last.1 => {
                if end > last.1 {
                    last.1 = end;
                }
            }
            _ => out.push((start, end)),
        }
    }
    out
}

/// True when `x` is inside one of the sorted, disjoint `ranges`.
fn in_ranges(ranges: &[(u128, u128)], x: u128) -> bool {
    let after = ranges.partition_point(|(start, _)| *start <= x);
    after
        .checked_sub(1)
        .and_then(|i| ranges.get(i))
        .is_some_and(|(_, end)| x <= *end)
}

impl Ranges {
    /// The ranges covered by `blocks`.
    pub fn new(blocks: &[Cidr]) -> Ranges {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for b in blocks {
            match b.net {
                IpAddr::V4(n) => {
                    let host = u32::MAX.checked_shr(u32::from(b.prefix)).unwrap_or(0);
                    let start = u32::from(n);
                    v4.push((u128::from(start), u128::from(start | host)));
                }
                IpAddr::V6(n) => {
                    let host = u128::MAX.checked_shr(u32::from(b.prefix)).unwrap_or(0);
                    let start = u128::from(n);
                    v6.push((start, start | host));
                }
            }
        }
        Ranges {
            v4: merged(v4),
            v6: merged(v6),
        }
    }

    /// True when `ip` is in any block (IPv4-mapped IPv6 addresses as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match unmap(ip) {
            IpAddr::V4(a) => in_ranges(&self.v4, u128::from(u32::from(a))),
            IpAddr::V6(a) => in_ranges(&self.v6, u128::from(a)),
        }
    }
}

#[cfg(test)]
#[path = "cidr_test.rs"]
mod tests;
