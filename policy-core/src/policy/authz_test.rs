//! Unit tests of `authz.rs`.

use super::*;
use crate::json::{parse, Limits};

fn pol(s: &str) -> Result<Vec<AuthzPolicy>, PolicyError> {
    let v = parse(s, Limits::POLICY).unwrap();
    let items: Vec<(String, &Value)> = v
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("authorizationPolicies[{i}]"), v))
        .collect();
    parse_policies(&items)
}

#[test]
fn keys() {
    assert_eq!(
        parse_key("request.headers[X-Token]"),
        Ok(Key::Header("x-token".into()))
    );
    assert_eq!(
        parse_key("request.auth.claims[a][b]"),
        Ok(Key::AuthClaim(alloc::vec!["a".into(), "b".into()]))
    );
    assert!(parse_key("request.headers[]").is_err());
    assert!(parse_key("request.headers[a]x").is_err());
    assert!(parse_key("request.auth.claims").is_err());
    assert!(parse_key("source.user").is_err());
    assert_eq!(
        parse_key("device.compliant"),
        Ok(Key::Device("compliant".into()))
    );
    assert_eq!(
        parse_key("network.list[tor]"),
        Ok(Key::NetworkList("tor".into()))
    );
    assert!(parse_key("network.list[]").is_err());
    assert!(parse_key("device.").is_err());
    assert!(parse_key("behavior.a.b").is_err());
    assert_eq!(parse_key("time.hour"), Ok(Key::TimeHour));
}

#[test]
fn numeric_ranges() {
    assert_eq!(numeric_range(">=100"), Some((100, i64::MAX)));
    assert_eq!(numeric_range(">5"), Some((6, i64::MAX)));
    assert_eq!(numeric_range("<7"), Some((i64::MIN, 6)));
    assert_eq!(numeric_range("<=-1"), Some((i64::MIN, -1)));
    assert_eq!(numeric_range("22-23"), Some((22, 23)));
    assert_eq!(numeric_range("0-6"), Some((0, 6)));
    assert_eq!(numeric_range("7-6"), None);
    assert_eq!(numeric_range("7"), None);
    assert_eq!(numeric_range("a-b"), None);
    assert_eq!(numeric_range("-3-4"), None);
}

#[test]
fn kubernetes_object_form() {
    let p = pol(r#"[{"apiVersion":"security.istio.io/v1","kind":"AuthorizationPolicy",
        "metadata":{"name":"a","namespace":"x"},"spec":{"action":"DENY","selector":{"matchLabels":{"app":"x"}},"rules":[{}]}}]"#)
    .unwrap();
    assert_eq!(p[0].name, "a");
    assert_eq!(p[0].action, Action::Deny);
}

#[test]
fn precise_errors() {
    let e =
        pol(r#"[{"name":"a","rules":[{"to":[{"operation":{"paths":["/a","x"]}}]}]}]"#).unwrap_err();
    assert_eq!(
        e.path,
        "authorizationPolicies[0].rules[0].to[0].operation.paths[1]"
    );
    assert_eq!(e.message, "`x` must start with `/`");
    let e = pol(r#"[{"name":"a","action":"deny"}]"#).unwrap_err();
    assert_eq!(
        e.message,
        "expected `ALLOW`, `DENY` or `AUDIT`, found `deny`"
    );
    let e = pol(r#"[{"name":"a"},{"name":"a"}]"#).unwrap_err();
    assert_eq!(e.path, "authorizationPolicies[1].name");
    let e = pol(r#"[{"name":"a","rules":[{"from":[{"source":{}}]}]}]"#).unwrap_err();
    assert_eq!(e.message, "a source must set at least one non-empty field");
    let e = pol(r#"[{"name":"a","rules":[{"when":[{"key":"source.ip"}]}]}]"#).unwrap_err();
    assert_eq!(e.message, "a condition needs `values` or `notValues`");
    let e =
        pol(r#"[{"name":"a","rules":[{"when":[{"key":"source.ip","values":["10.0.0.1/8"]}]}]}]"#)
            .unwrap_err();
    assert_eq!(
        e.path,
        "authorizationPolicies[0].rules[0].when[0].values[0]"
    );
    let e = pol(
        r#"[{"name":"a","rules":[{"from":[{"source":{"principals":["spiffe://x/ns/a/sa/b"]}}]}]}]"#,
    )
    .unwrap_err();
    assert!(e.message.contains("without the scheme"));
    let e = pol(r#"[{"name":"a","action":"CUSTOM"}]"#).unwrap_err();
    assert_eq!(e.code, ErrorCode::Unsupported);
}
