//! Unit tests of `cidr.rs`.

use super::*;

#[test]
fn v4_and_v6() {
    let c = Cidr::parse("10.0.0.0/8").unwrap();
    assert!(c.contains(parse_ip("10.200.1.1").unwrap()));
    assert!(!c.contains(parse_ip("11.0.0.1").unwrap()));
    assert!(c.contains(parse_ip("::ffff:10.0.0.1").unwrap()));
    let c6 = Cidr::parse("2001:db8::/32").unwrap();
    assert!(c6.contains(parse_ip("[2001:db8::1]").unwrap()));
    assert!(!c6.contains(parse_ip("10.0.0.1").unwrap()));
    let any = Cidr::parse("0.0.0.0/0").unwrap();
    assert!(any.contains(parse_ip("1.2.3.4").unwrap()));
    assert!(Cidr::parse("1.2.3.4")
        .unwrap()
        .contains(parse_ip("1.2.3.4").unwrap()));
}

#[test]
fn rejects_bad_blocks() {
    for bad in [
        "10.0.0.1/8",
        "10.0.0.0/33",
        "10.0.0.0/",
        "x",
        "10.0.0.0/+8",
        "1.2.3.4/08x",
    ] {
        assert!(Cidr::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn ranges_agree_with_each_block() {
    // Deterministic pseudo-random blocks (overlapping, nested, v4, v6, v4-mapped, /0 and
    // host routes) and addresses; the merged ranges must answer as the blocks one by one.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut texts: Vec<String> = vec![
        "0.0.0.0/0".into(),
        "::ffff:10.0.0.0/104".into(),
        "2001:db8::/32".into(),
        "255.255.255.255/32".into(),
    ];
    for _ in 0..400 {
        let r = next();
        if r % 3 == 0 {
            let p = (r >> 8) % 129;
            let a = u128::from(next()) << 64 | u128::from(next());
            let net = if p == 0 {
                0
            } else {
                a & (u128::MAX << (128 - p))
            };
            texts.push(alloc::format!("{}/{p}", Ipv6Addr::from(net)));
        } else {
            let p = (r >> 8) % 33;
            let a = (next() & 0xffff_ffff) as u32 & 0x0fff_ffff;
            let net = if p == 0 {
                0
            } else {
                a & (u32::MAX << (32 - p))
            };
            texts.push(alloc::format!("{}/{p}", Ipv4Addr::from(net)));
        }
    }
    for n in [1, 2, 5, 50, texts.len()] {
        // Skip the /0 at the front for the smaller sets, so most addresses miss.
        let blocks: Vec<Cidr> = texts
            .iter()
            .skip(usize::from(n < texts.len()))
            .take(n)
            .map(|t| Cidr::parse(t).unwrap())
            .collect();
        let ranges = Ranges::new(&blocks);
        let mut hits = 0;
        for _ in 0..3000 {
            let r = next();
            let ip = match r % 4 {
                0 => IpAddr::V6(Ipv6Addr::from(
                    u128::from(next()) << 64 | u128::from(next()),
                )),
                1 => IpAddr::V6(Ipv4Addr::from((next() & 0x0fff_ffff) as u32).to_ipv6_mapped()),
                2 => IpAddr::V6(Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(next()))),
                _ => IpAddr::V4(Ipv4Addr::from((next() & 0x0fff_ffff) as u32)),
            };
            let expected = blocks.iter().any(|b| b.contains(ip));
            assert_eq!(ranges.contains(ip), expected, "{ip} in {n} blocks");
            hits += usize::from(expected);
        }
        assert!(hits > 0, "some addresses are inside");
    }
}
