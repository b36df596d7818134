use super::*;
use crate::{CheckRequest, Engine, Env};
use alloc::string::ToString;

#[test]
fn network_list_feeds_parse_and_refuse_precisely() {
    let n = NetworkLists::from_json(
        r#"{"version": 3, "lists": {"tor": ["185.220.100.0/22", "2a0b:f4c0::/32"], "empty": []}}"#,
    )
    .unwrap();
    assert_eq!(n.ranges(), 2);
    assert_eq!(n.version.as_deref(), Some("3"));
    assert!(n.list("tor").unwrap().contains_str("185.220.101.7"));
    assert!(!n.list("tor").unwrap().contains_str("185.220.104.1"));
    assert!(n.list("empty").unwrap().is_empty());
    for (doc, want) in [
        (r#"{"lists": {"tor": ["10.0.0.0/33"]}}"#, "lists.tor[0]"),
        (r#"{"lists": {"t o r": []}}"#, "invalid list name"),
        (r#"{"lists": {"tor": "10.0.0.0/8"}}"#, "expected an array"),
        (r#"{"lists": {"tor": [""]}}"#, "expected a CIDR block"),
        (r#"{"list": {}}"#, "unknown field"),
        (r#"{}"#, "missing required field `lists`"),
        (r#"["10.0.0.0/8"]"#, "expected an object"),
    ] {
        let e = NetworkLists::from_json(doc).unwrap_err().to_string();
        assert!(e.contains(want), "{doc}: {e}");
    }
}

#[test]
fn risk_labels_parse_and_match_sub_iss_sid_and_peer() {
    let l = RiskLabels::from_json(
        r#"{"labels": [
        {"sub": "alice", "iss": "https://idp.a", "labels": ["compromised"]},
        {"sub": "bob", "labels": ["watch"]},
        {"sid": "s-1", "labels": ["impossible_travel", "watch"]},
        {"principal": "spiffe://cluster.local/ns/ci/sa/runner", "labels": ["quarantined"]}]}"#,
    )
    .unwrap();
    assert_eq!(l.len(), 4);
    let of = |iss, sub, sid, peer| {
        let mut out = Vec::new();
        l.labels_of(iss, sub, sid, peer, &mut out);
        out.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    assert_eq!(
        of(Some("https://idp.a"), Some("alice"), None, None),
        ["compromised"]
    );
    assert!(
        of(Some("https://idp.b"), Some("alice"), None, None).is_empty(),
        "another issuer"
    );
    assert_eq!(
        of(Some("https://idp.b"), Some("bob"), None, None),
        ["watch"]
    );
    assert_eq!(
        of(Some("https://idp.b"), Some("bob"), Some("s-1"), None),
        ["watch", "impossible_travel"],
        "each label once"
    );
    assert_eq!(
        of(None, None, None, Some("cluster.local/ns/ci/sa/runner")),
        ["quarantined"]
    );
    for (doc, want) in [
        (
            r#"{"labels": [{"sub": "a", "sid": "b", "labels": ["x"]}]}"#,
            "exactly one",
        ),
        (r#"{"labels": [{"labels": ["x"]}]}"#, "exactly one"),
        (
            r#"{"labels": [{"sub": "", "labels": ["x"]}]}"#,
            "exactly one",
        ),
        (
            r#"{"labels": [{"sid": "s", "iss": "i", "labels": ["x"]}]}"#,
            "`iss` goes with `sub`",
        ),
        (
            r#"{"labels": [{"sub": "a", "labels": []}]}"#,
            "1 to 32 labels",
        ),
        (
            r#"{"labels": [{"sub": "a", "labels": ["no spaces"]}]}"#,
            "invalid label",
        ),
        (
            r#"{"labels": [{"sub": "a", "labels": ["x"], "why": 1}]}"#,
            "unknown field",
        ),
    ] {
        let e = RiskLabels::from_json(doc).unwrap_err().to_string();
        assert!(e.contains(want), "{doc}: {e}");
    }
}

const POLICY: &str = r#"{"defaultAction": "ALLOW",
  "network": {"lists": {"blocked": ["198.51.100.0/24"], "partners": []},
              "feed": {"uri": "https://feeds.example/networks", "pollMs": 1000}},
  "riskLabels": {"labels": [{"principal": "cluster.local/ns/a/sa/inline", "labels": ["watch"]}],
                 "feed": {"uri": "https://feeds.example/labels", "maxStaleSeconds": 60}},
  "authorizationPolicies": [
    {"name": "blocked", "action": "DENY", "rules": [{"when": [{"key": "network.list[blocked]", "values": ["true"]}]}]},
    {"name": "quarantine", "action": "DENY", "rules": [{"when": [{"key": "subject.labels", "values": ["quarantined", "compromised"]}]}]}]}"#;

fn req(ip: &str, peer: Option<&str>) -> CheckRequest {
    let mut r = CheckRequest::new("GET", "/x", "app");
    r.source.address = Some(ip.to_string());
    r.source.principal = peer.map(str::to_string);
    r
}

#[test]
fn feeds_add_to_the_policy_in_decisions() {
    let e = Engine::from_json(POLICY).unwrap();
    assert!(e.plan().network.feed.is_some());
    assert_eq!(
        e.plan()
            .risk_labels_feed
            .as_ref()
            .unwrap()
            .max_stale_seconds,
        Some(60)
    );
    // 100,000 ranges in the feed's `blocked`; the client at the end of them.
    let mut cidrs = Vec::new();
    for i in 0..100_000u32 {
        cidrs.push(alloc::format!(
            "\"{}.{}.{}.0/24\"",
            10 + (i >> 16),
            (i >> 8) & 255,
            i & 255
        ));
    }
    let feed = NetworkLists::from_json(&alloc::format!(
        r#"{{"lists": {{"blocked": [{}], "unknown": ["0.0.0.0/0"]}}}}"#,
        cidrs.join(",")
    ))
    .unwrap();
    assert_eq!(feed.ranges(), 100_001);
    let labels = RiskLabels::from_json(
        r#"{"labels": [{"principal": "cluster.local/ns/a/sa/bad", "labels": ["quarantined"]}]}"#,
    )
    .unwrap();
    let env = Env {
        network_lists: Some(&feed),
        risk_labels: Some(&labels),
        ..Env::at(1_700_000_000)
    };
    let status = |r: &CheckRequest, env: &Env<'_>| e.decide(r, env).status;
    assert_eq!(status(&req("192.0.2.1", None), &env), 200);
    assert_eq!(
        status(&req("198.51.100.9", None), &env),
        403,
        "the policy's own range"
    );
    assert_eq!(
        status(&req("11.134.159.1", None), &env),
        403,
        "a feed range"
    );
    assert_eq!(
        status(&req("11.134.160.1", None), &Env::at(1_700_000_000)),
        200,
        "without the feed"
    );
    assert_eq!(
        status(&req("192.0.2.1", Some("cluster.local/ns/a/sa/bad")), &env),
        403,
        "a feed label"
    );
    assert_eq!(
        status(
            &req("192.0.2.1", Some("cluster.local/ns/a/sa/bad")),
            &Env::at(1_700_000_000)
        ),
        200
    );
    // `unknown` is not declared by the policy: it is never read.
    let (d, steps) = e.explain(&req("203.0.113.5", Some("cluster.local/ns/a/sa/bad")), &env);
    assert_eq!(d.policy.as_deref(), Some("quarantine"));
    let ctx = steps.iter().find(|s| s.stage == "context").unwrap();
    assert_eq!(ctx.detail, "subject labels quarantined");
    // Inline labels apply with or without a feed.
    let inline = req("192.0.2.1", Some("cluster.local/ns/a/sa/inline"));
    assert_eq!(
        status(&inline, &Env::at(1_700_000_000)),
        200,
        "`watch` is not denied"
    );
}

#[test]
fn a_condition_on_an_undeclared_list_is_refused_even_with_a_feed() {
    let e = Engine::from_json(
        r#"{"network": {"feed": {"uri": "https://feeds.example/n"}},
        "authorizationPolicies": [{"name": "x", "action": "DENY",
          "rules": [{"when": [{"key": "network.list[tor]", "values": ["true"]}]}]}]}"#,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("declare it in `network.lists`"),
        "{e}"
    );
}

#[test]
fn feed_snapshots_apply_only_where_the_policy_has_the_feed() {
    let e = Engine::from_json(
        r#"{"network": {"lists": {"blocked": []}},
        "authorizationPolicies": [
          {"name": "blocked", "action": "DENY", "rules": [{"when": [{"key": "network.list[blocked]", "values": ["true"]}]}]},
          {"name": "labelled", "action": "DENY", "rules": [{"when": [{"key": "subject.labels", "values": ["x"]}]}]},
          {"name": "any", "rules": [{}]}]}"#,
    )
    .unwrap();
    let lists = NetworkLists::from_json(r#"{"lists": {"blocked": ["0.0.0.0/0"]}}"#).unwrap();
    let labels = RiskLabels::from_json(
        r#"{"labels": [{"principal": "cluster.local/ns/a/sa/b", "labels": ["x"]}]}"#,
    )
    .unwrap();
    let env = Env {
        network_lists: Some(&lists),
        risk_labels: Some(&labels),
        ..Env::at(1_700_000_000)
    };
    assert_eq!(
        e.decide(&req("192.0.2.1", Some("cluster.local/ns/a/sa/b")), &env)
            .status,
        200
    );
}

#[test]
fn snapshots_round_trip_through_their_json() {
    let n =
        NetworkLists::from_json(r#"{"lists": {"a": ["10.0.0.0/8", "2001:db8::/32"], "b": []}}"#)
            .unwrap();
    assert_eq!(NetworkLists::from_value(&n.to_value(), "$").unwrap(), n);
    let l = RiskLabels::from_json(
        r#"{"labels": [{"sub": "a", "iss": "i", "labels": ["x", "y"]}, {"sub": "a", "labels": ["z"]},
        {"sid": "s", "labels": ["x"]}, {"principal": "p", "labels": ["q"]}]}"#,
    )
    .unwrap();
    assert_eq!(RiskLabels::from_value(&l.to_value(), "$").unwrap(), l);
}
