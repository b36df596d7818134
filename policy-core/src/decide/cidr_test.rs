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
