#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
use super::*;

const POLICY: &str = r#"{"authorizationPolicies": [{"name": "admins", "action": "ALLOW",
  "rules": [{"to": [{"operation": {"paths": ["/admin/*"]}}],
             "when": [{"key": "request.headers[x-role]", "values": ["admin"]}]}]}],
  "rateLimits": [{"name": "per-ip", "key": "ip", "requestsPerUnit": 1, "unit": "minute", "burst": 1}]}"#;

#[test]
fn compile_errors_are_data_with_a_path() {
    let e =
        compile(r#"{"authorizationPolicies": [{"name": "x", "action": "MAYBE"}]}"#).unwrap_err();
    let v = error_value(&e);
    assert_eq!(v.get("code").and_then(Value::as_str), Some("invalid"));
    assert_eq!(
        v.get("path").and_then(Value::as_str),
        Some("authorizationPolicies[0].action")
    );
    let e = compile("{").unwrap_err();
    assert_eq!(e.code(), "syntax");
    assert_eq!(e.path, "$");
}

#[test]
fn decision_has_the_eval_fields_and_rate_updates() {
    let engine = compile(POLICY).unwrap();
    let req = request(
        r#"{"method": "GET", "path": "/admin/x", "host": "a",
            "headers": {"x-role": "admin"}, "source": {"address": "10.0.0.1"}}"#,
    )
    .unwrap();
    let opts = options(r#"{"now": 1700000000}"#).unwrap();
    let now = decision_time(&opts, &req, 5);
    assert_eq!(now, 1_700_000_000);
    let d = engine.decide(&req, &opts.state.env(now));
    let v = decision_value(&d);
    let native = d.to_value();
    for (k, want) in native.as_object().unwrap().iter() {
        assert_eq!(v.get(k), Some(want), "field {k}");
    }
    assert_eq!(v.get("decision").and_then(Value::as_str), Some("allow"));
    let updates = v.get("rateUpdates").and_then(Value::as_array).unwrap();
    assert_eq!(updates.len(), 1);
    assert_eq!(
        updates[0].get("limit").and_then(Value::as_str),
        Some("per-ip")
    );
    // Feeding the update back as state exhausts the bucket.
    let state = format!(
        r#"{{"now": 1700000000, "state": {{"rate": {}}}}}"#,
        Value::Array(updates.to_vec()).to_json()
    );
    let opts = options(&state).unwrap();
    let d = engine.decide(&req, &opts.state.env(1_700_000_000));
    assert_eq!(d.status, 429);
}

#[test]
fn bad_inputs_are_denials_that_carry_the_error() {
    let e = request(r#"{"method": "GET", "headers": {"bad name": "x"}}"#).unwrap_err();
    let v = input_rejected(400, "invalid_request", "request", &e);
    assert_eq!(v.get("decision").and_then(Value::as_str), Some("deny"));
    assert_eq!(
        v.get("status")
            .and_then(|s| s.as_number())
            .and_then(|n| n.as_i64()),
        Some(400)
    );
    assert_eq!(
        v.get("error")
            .and_then(|e| e.get("path"))
            .and_then(Value::as_str),
        Some("headers.bad name")
    );
    let e = options(r#"{"now": 1700000000000}"#).unwrap_err();
    assert_eq!(e.path, "options.now");
    assert!(e.message.contains("milliseconds"));
    let e = options(r#"{"state": {"behaviour": {}}}"#).unwrap_err();
    assert_eq!(e.code(), "unknown_field");
    assert!(options("null").unwrap().now.is_none());
}

#[test]
fn explain_and_lints() {
    let engine = compile(POLICY).unwrap();
    let req = request(r#"{"method": "GET", "path": "/other", "host": "a"}"#).unwrap();
    let (d, steps) = engine.explain(&req, &policy_core::Env::at(1_700_000_000));
    let v = explain_value(&d, &steps);
    assert_eq!(
        v.get("decision")
            .and_then(|d| d.get("decision"))
            .and_then(Value::as_str),
        Some("deny")
    );
    let trace = v.get("trace").and_then(Value::as_array).unwrap();
    assert!(!trace.is_empty());
    assert!(trace
        .iter()
        .all(|s| s.get("stage").is_some() && s.get("matched").is_some()));
    let dry = compile(r#"{"mode": "dry_run", "authorizationPolicies": []}"#).unwrap();
    let lints = lints_value(&dry.lints());
    let codes: Vec<&str> = lints
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l.get("code").and_then(Value::as_str))
        .collect();
    assert!(codes.contains(&"dry_run"), "{codes:?}");
}
