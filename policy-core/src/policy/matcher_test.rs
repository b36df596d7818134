//! Unit tests of `matcher.rs`.

use super::*;
use alloc::vec;

fn set(vals: &[&str], kind: ValueKind) -> MatchSet {
    let v: Vec<String> = vals.iter().map(|s| s.to_string()).collect();
    MatchSet::compile(&v, "x", kind).unwrap()
}

#[test]
fn istio_forms() {
    let s = set(&["/exact", "/pre*", "*.png"], ValueKind::Path);
    assert!(s.matches("/exact"));
    assert!(!s.matches("/exact/"));
    assert!(s.matches("/pre"));
    assert!(s.matches("/prefix/x"));
    assert!(s.matches("/a/b.png"));
    assert!(!s.matches("/a/b.PNG"));
    let any = set(&["*"], ValueKind::Plain);
    assert!(any.matches("x"));
    assert!(!any.matches(""));
}

#[test]
fn hosts_fold_case_and_refuse_ports() {
    let s = set(&["API.example.com", "*.Example.org"], ValueKind::Host);
    assert!(s.matches("api.example.com"));
    assert!(s.matches("www.example.org"));
    let bad = vec!["api.example.com:8080".to_string()];
    assert!(MatchSet::compile(&bad, "h", ValueKind::Host).is_err());
}

#[test]
fn templates() {
    let s = set(&["/users/{*}/orders", "/files/{**}"], ValueKind::Path);
    assert!(s.matches("/users/42/orders"));
    assert!(!s.matches("/users//orders"));
    assert!(!s.matches("/users/42/orders/1"));
    assert!(s.matches("/files/a/b/c"));
    assert!(s.matches("/files/"));
    assert!(!s.matches("/files"));
    assert!(!s.matches("/filesx"));
    assert!(!s.matches("/users/a=b/orders"));
    for bad in ["/a/{**}/b", "/a/x{*}", "a/{*}"] {
        let v = vec![bad.to_string()];
        assert!(
            MatchSet::compile(&v, "p", ValueKind::Path).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn middle_star_refused() {
    let v = vec!["/a*b".to_string()];
    let e = MatchSet::compile(&v, "paths", ValueKind::Path).unwrap_err();
    assert_eq!(e.path, "paths[0]");
}

#[test]
fn ports_and_ips() {
    let p = PortSet::compile(&["80".into(), "8080".into()], "ports").unwrap();
    assert!(p.contains(8080));
    assert!(PortSet::compile(&["0".into()], "ports").is_err());
    assert!(PortSet::compile(&["80a".into()], "ports").is_err());
    let ips = IpSet::compile(&["10.0.0.0/8".into(), "::1".into()], "ips").unwrap();
    assert!(ips.contains_str("10.9.9.9"));
    assert!(ips.contains_str("::1"));
    assert!(!ips.contains_str("not-an-ip"));
}
