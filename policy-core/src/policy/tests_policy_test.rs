//! Unit tests of `mod.rs`.

use super::*;

#[test]
fn defaults_are_strict() {
    let p = Plan::from_json("{}").unwrap();
    assert_eq!(p.mode, Mode::Enforce);
    assert_eq!(p.default_action, Action::Deny);
    assert_eq!(p.path_normalization, PathNormalization::Strict);
}

#[test]
fn top_level_errors() {
    let e = Plan::from_json(r#"{"mode":"audit"}"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "mode: expected `enforce` or `dry_run`, found `audit`"
    );
    let e = Plan::from_json(r#"{"defaultaction":"ALLOW"}"#).unwrap_err();
    assert_eq!(
        e.message,
        "unknown field `defaultaction`; did you mean `defaultAction`?"
    );
    let e = Plan::from_json(r#"{"mode":"enforce","mode":"dry_run"}"#).unwrap_err();
    assert_eq!(e.code, ErrorCode::Syntax);
    assert!(e.message.contains("duplicate key `mode`"));
    let e = Plan::from_json("[]").unwrap_err();
    assert_eq!(e.to_string(), "$: expected an object, found array `[]`");
}

#[test]
fn decision_log_sampling() {
    let plan = |j: &str| Plan::from_json(j);
    let d = plan("{}").unwrap().decision_log;
    assert!((0..5).all(|n| d.logs(n, true) && d.logs(n, false)));
    let d = plan(r#"{"decisionLog": {"sample": 3}}"#)
        .unwrap()
        .decision_log;
    let allowed: Vec<bool> = (0..6).map(|n| d.logs(n, true)).collect();
    assert_eq!(allowed, [true, false, false, true, false, false]);
    assert!(
        (0..6).all(|n| d.logs(n, false)),
        "denials are all logged by default"
    );
    let d = plan(r#"{"decisionLog": {"sample": "none", "denied": "sample"}}"#)
        .unwrap()
        .decision_log;
    assert!((0..6).all(|n| !d.logs(n, true) && !d.logs(n, false)));
    let d = plan(r#"{"decisionLog": {"sample": "all", "denied": "none"}}"#)
        .unwrap()
        .decision_log;
    assert!(d.logs(1, true) && !d.logs(1, false));
    assert_eq!(d.to, LogSink::Log);
    let d = plan(r#"{"decisionLog": {"to": "accessLog"}}"#)
        .unwrap()
        .decision_log;
    assert_eq!(d.to, LogSink::AccessLog);
    for (bad, at) in [
        (r#"{"decisionLog": {"sample": 0}}"#, "decisionLog.sample"),
        (r#"{"decisionLog": {"to": "file"}}"#, "decisionLog.to"),
        (
            r#"{"decisionLog": {"sample": "most"}}"#,
            "decisionLog.sample",
        ),
        (
            r#"{"decisionLog": {"denied": "some"}}"#,
            "decisionLog.denied",
        ),
        (r#"{"decisionLog": {"rate": 1}}"#, "decisionLog.rate"),
    ] {
        let e = plan(bad).unwrap_err();
        assert!(e.to_string().contains(at), "{bad}: {e}");
    }
}

#[test]
fn header_needs_follow_the_plan() {
    let p = Plan::from_json(
        r#"{"numTrustedProxies": 1,
        "jwtRules": [{"issuer": "https://idp.example.com", "jwksUri": "https://idp.example.com/jwks", "algorithms": ["RS256"], "fromHeaders": [{"name": "x-token"}], "fromCookies": ["s"]}],
        "network": {"countryHeader": "x-country", "countryPrincipals": ["cluster.local/ns/edge/sa/gw"]},
        "rateLimits": [{"name": "k", "key": "header:x-api-key", "requestsPerUnit": 1, "unit": "second"}],
        "authorizationPolicies": [{"name": "a", "rules": [{"when": [{"key": "request.headers[X-Tenant]", "values": ["t"]}]}]}]}"#,
    )
    .unwrap();
    let n = p.header_needs();
    for h in [
        "host",
        "x-request-id",
        "x-forwarded-for",
        "x-token",
        "cookie",
        "x-country",
        "x-api-key",
        "x-tenant",
        "x-device-anything",
    ] {
        assert!(n.wants(h), "{h}");
    }
    for h in ["authorization", "user-agent", "accept", "x-user"] {
        assert!(!n.wants(h), "{h}");
    }
    let n = Plan::from_json("{}").unwrap().header_needs();
    assert!(!n.wants("x-forwarded-for") && !n.wants("authorization") && n.wants("host"));
}

/// `wants_bytes` (a linear scan up to eight names, a binary search beyond) against membership
/// in the name list, on random lists of 0–20 names and random lookups.
#[test]
fn header_needs_lookup_is_membership() {
    let pool = [
        "a",
        "ab",
        "abc",
        "b",
        "authorization",
        "authorizatio",
        "x-request-id",
        "x-request-ie",
        "cookie",
        "host",
        "x-api-key",
        "x-tenant",
        "x-forwarded-for",
        "x-device-id",
        "",
        "zz",
        "x-a",
        "x-b",
        "x-c",
        "x-dd",
        "x-ee",
        "x-fff",
    ];
    let mut rng = crate::XorShift(0x1234_5678_9abc_def1);
    for case in 0..20_000 {
        let mut names: Vec<String> = (0..rng.below(21))
            .map(|_| pool[rng.below(pool.len())].into())
            .collect();
        names.sort();
        names.dedup();
        let prefix = ["", "x-device-", "zzz"][rng.below(3)];
        let needs = HeaderNeeds {
            names: names.clone(),
            prefix: prefix.into(),
        };
        let q = pool[rng.below(pool.len())];
        let want = q.starts_with(prefix) || names.iter().any(|n| n == q);
        assert_eq!(
            needs.wants_bytes(q.as_bytes()),
            want,
            "case {case}: {names:?} {prefix:?} {q:?}"
        );
        assert_eq!(needs.wants(q), want);
    }
}
