//! Unit tests of `lib.rs`.

use super::*;

const POLICY: &str = r#"{"defaultAction":"ALLOW",
  "resources":[{"name":"app","classification":"internal","paths":["/*"],"minTrust":60}],
  "trust":{"risks":[
    {"name":"new_location","weight":30,"when":[{"key":"behavior.newCountry","values":["true"]}]},
    {"name":"off_hours","weight":20,"when":[{"key":"time.hour","values":["0-6","20-23"]}]}]},
  "rateLimits":[{"name":"per-ip","key":"ip","requestsPerUnit":2,"unit":"minute"}]}"#;

#[test]
fn explain_shows_the_score_arithmetic() {
    let e = Engine::from_json(POLICY).unwrap();
    let mut signals = Signals::new();
    signals.set("newCountry", true);
    let env = Env {
        signals: Some(&signals),
        ..Env::at(1_700_000_000)
    };
    let req = CheckRequest::new("GET", "/x", "h");
    let (d, steps) = e.explain(&req, &env);
    assert_eq!(d.code, "insufficient_trust");
    let trust = steps.iter().find(|s| s.stage == "trust").unwrap();
    assert_eq!(
        trust.detail,
        "100 − 30 (new_location) − 20 (off_hours) = 50 < 60 → deny"
    );
    let stages: Vec<&str> = steps.iter().map(|s| s.stage).collect();
    assert_eq!(
        stages,
        ["request", "context", "rate_limit", "resource", "trust"]
    );
}

#[test]
fn rate_updates_round_trip_through_an_adapter() {
    let e = Engine::from_json(POLICY).unwrap();
    let mut state = RateSnapshot::new();
    let mut req = CheckRequest::new("GET", "/x", "h");
    req.source.address = Some("192.0.2.1".into());
    let t = 1_700_000_000 - 12 * 3600;
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let env = Env {
            rate: Some(&state),
            ..Env::at(t)
        };
        let d = e.decide(&req, &env);
        outcomes.push(d.status);
        state.apply(&d.rate_updates);
    }
    assert_eq!(outcomes, [200, 200, 429]);
    let keys = e.rate_limit_keys(&req, None);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].key, "192.0.2.1");
    // Thirty seconds refill one request (2 per minute).
    let env = Env {
        rate: Some(&state),
        ..Env::at(t + 30)
    };
    assert_eq!(e.decide(&req, &env).status, 200);
}

#[test]
fn records_are_one_line() {
    let e = Engine::from_json(POLICY).unwrap();
    let req = CheckRequest::new("GET", "/x?token=abc", "h").with_header("x-request-id", "r1");
    let d = e.decide(&req, &Env::at(1_700_000_000 - 12 * 3600));
    let line = d.record(&req, 1_700_000_000, None);
    assert!(
        line.starts_with(
            r#"{"time":1700000000,"timestamp":"2023-11-14T22:13:20Z","requestId":"r1""#
        ),
        "{line}"
    );
    assert!(line.contains(r#""resource":{"name":"app","classification":"internal"}"#));
    assert!(line.contains(r#""trust":{"score":100,"minimum":60,"risks":[]}"#));
    assert!(!line.contains("abc"));
}
