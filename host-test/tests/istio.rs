//! The Istio manifests in examples/istio are checked against the fields and enums of Istio's
//! CRDs (WasmPlugin extensions.istio.io/v1alpha1, ServiceEntry and DestinationRule
//! networking.istio.io/v1), and the WasmPlugin's pluginConfig must be a policy Vigil accepts
//! without warnings.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use policy_core::json::{parse, Limits, Value};
use policy_core::Engine;
use std::path::Path;

fn docs(file: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/istio")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    text.split("\n---\n")
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .map(|d| {
            let json = vigil_host_test::yaml::to_json_text(d, 1 << 20).unwrap();
            parse(&json, Limits::POLICY).unwrap()
        })
        .collect()
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().collect()
}

fn assert_fields(what: &str, v: &Value, allowed: &[&str]) {
    for k in keys(v) {
        assert!(
            allowed.contains(&k),
            "{what}: `{k}` is not a field of the CRD"
        );
    }
}

fn assert_enum(what: &str, v: Option<&Value>, allowed: &[&str]) {
    if let Some(v) = v {
        let s = v
            .as_str()
            .unwrap_or_else(|| panic!("{what}: expected a string"));
        assert!(
            allowed.contains(&s),
            "{what}: `{s}` is not one of {allowed:?}"
        );
    }
}

#[test]
fn wasmplugin_matches_the_crd_and_its_policy_compiles() {
    let d = docs("wasmplugin.yaml");
    assert_eq!(d.len(), 1);
    let wp = &d[0];
    assert_eq!(
        wp.get("apiVersion").and_then(Value::as_str),
        Some("extensions.istio.io/v1alpha1")
    );
    assert_eq!(wp.get("kind").and_then(Value::as_str), Some("WasmPlugin"));
    assert_fields(
        "WasmPlugin",
        wp,
        &["apiVersion", "kind", "metadata", "spec"],
    );
    let spec = wp.get("spec").unwrap();
    assert_fields(
        "WasmPlugin.spec",
        spec,
        &[
            "selector",
            "targetRef",
            "targetRefs",
            "url",
            "sha256",
            "imagePullPolicy",
            "imagePullSecret",
            "pluginConfig",
            "pluginName",
            "phase",
            "priority",
            "failStrategy",
            "vmConfig",
            "match",
            "type",
        ],
    );
    assert_enum(
        "phase",
        spec.get("phase"),
        &["UNSPECIFIED_PHASE", "AUTHN", "AUTHZ", "STATS"],
    );
    assert_enum(
        "failStrategy",
        spec.get("failStrategy"),
        &["FAIL_CLOSE", "FAIL_OPEN", "FAIL_RELOAD"],
    );
    assert_enum(
        "imagePullPolicy",
        spec.get("imagePullPolicy"),
        &["UNSPECIFIED_POLICY", "IfNotPresent", "Always"],
    );
    assert_enum(
        "type",
        spec.get("type"),
        &["UNSPECIFIED_PLUGIN_TYPE", "HTTP", "NETWORK"],
    );
    // Vigil's own requirements: authenticate before Istio's filters, fail closed.
    assert_eq!(spec.get("phase").and_then(Value::as_str), Some("AUTHN"));
    assert_eq!(
        spec.get("failStrategy").and_then(Value::as_str),
        Some("FAIL_CLOSE")
    );
    let url = spec.get("url").and_then(Value::as_str).unwrap();
    assert!(
        ["oci://", "file://", "http://", "https://"]
            .iter()
            .any(|p| url.starts_with(p)),
        "url `{url}`"
    );
    for m in spec.get("match").and_then(Value::as_array).unwrap_or(&[]) {
        assert_fields("match[]", m, &["mode", "ports"]);
        assert_enum(
            "match[].mode",
            m.get("mode"),
            &["UNDEFINED", "CLIENT", "SERVER", "CLIENT_AND_SERVER"],
        );
    }
    let policy = spec
        .get("pluginConfig")
        .expect("pluginConfig holds the policy");
    let engine = Engine::from_value(policy).unwrap_or_else(|e| panic!("pluginConfig: {e}"));
    let warnings: Vec<_> = engine
        .lints()
        .into_iter()
        .filter(|l| l.level == policy_core::lint::Level::Warning)
        .collect();
    assert!(warnings.is_empty(), "pluginConfig lints: {warnings:?}");
}

#[test]
fn service_entry_and_destination_rule_match_the_crds() {
    let d = docs("serviceentry.yaml");
    assert_eq!(d.len(), 2);
    let se = &d[0];
    assert_eq!(se.get("kind").and_then(Value::as_str), Some("ServiceEntry"));
    assert_fields(
        "ServiceEntry.spec",
        se.get("spec").unwrap(),
        &[
            "hosts",
            "addresses",
            "ports",
            "location",
            "resolution",
            "endpoints",
            "workloadSelector",
            "exportTo",
            "subjectAltNames",
        ],
    );
    let spec = se.get("spec").unwrap();
    assert_enum(
        "location",
        spec.get("location"),
        &["MESH_EXTERNAL", "MESH_INTERNAL"],
    );
    assert_enum(
        "resolution",
        spec.get("resolution"),
        &["NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN"],
    );
    for p in spec.get("ports").and_then(Value::as_array).unwrap() {
        assert_fields("ports[]", p, &["number", "protocol", "name", "targetPort"]);
        assert_enum(
            "protocol",
            p.get("protocol"),
            &["HTTP", "HTTPS", "GRPC", "HTTP2", "MONGO", "TCP", "TLS"],
        );
    }
    // The cluster named in the WasmPlugin must be the one this ServiceEntry creates.
    let host = spec.get("hosts").and_then(Value::as_array).unwrap()[0]
        .as_str()
        .unwrap();
    let port = spec.get("ports").and_then(Value::as_array).unwrap()[0]
        .get("number")
        .unwrap()
        .as_number()
        .unwrap()
        .as_i64()
        .unwrap();
    let wp = &docs("wasmplugin.yaml")[0];
    let rules = wp
        .get("spec")
        .unwrap()
        .get("pluginConfig")
        .unwrap()
        .get("jwtRules")
        .and_then(Value::as_array)
        .unwrap();
    let cluster = rules[0]
        .get("jwksCache")
        .unwrap()
        .get("cluster")
        .and_then(Value::as_str)
        .unwrap();
    assert_eq!(cluster, format!("outbound|{port}||{host}"));
    let dr = &d[1];
    assert_eq!(
        dr.get("kind").and_then(Value::as_str),
        Some("DestinationRule")
    );
    assert_fields(
        "DestinationRule.spec",
        dr.get("spec").unwrap(),
        &[
            "host",
            "trafficPolicy",
            "subsets",
            "exportTo",
            "workloadSelector",
        ],
    );
    assert_eq!(
        dr.get("spec").unwrap().get("host").and_then(Value::as_str),
        Some(host)
    );
}

/// Istio's documentation examples of RequestAuthentication and AuthorizationPolicy, pasted
/// unchanged in one multi-document YAML file, load as one policy and decide as Istio would.
#[test]
fn request_authentication_examples_load_unchanged() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/istio/request-authentication.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let json = vigil_host_test::yaml::to_json_text(&text, 1 << 20).unwrap();
    let engine = Engine::from_json(&json).unwrap_or_else(|e| panic!("{e}"));
    let rules = engine.plan().auth.rules();
    assert_eq!(
        rules.iter().map(|r| r.issuer.as_str()).collect::<Vec<_>>(),
        ["issuer-foo", "issuer-bar"]
    );
    assert_eq!(engine.plan().policies().count(), 2);
    assert!(
        engine.lints().iter().all(|l| l.code != "broad_allow"),
        "{:?}",
        engine.lints()
    );
    // No token: no request principal, so no ALLOW matches; a token would, so Vigil answers 401
    // with a challenge (Istio: 403). A token for an issuer whose keys are not loaded yet: 503,
    // never a pass.
    let env = policy_core::Env::default();
    let req = policy_core::CheckRequest::new("GET", "/headers", "httpbin.foo");
    let d = engine.decide(&req, &env);
    assert_eq!(d.status, 401);
    assert!(d.response_header("www-authenticate").is_some());
    let mut with = req.clone();
    let t = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJpc3N1ZXItZm9vIn0.c2ln";
    with.headers
        .push(("authorization".into(), format!("Bearer {t}")));
    assert_eq!(engine.decide(&with, &env).status, 503);
}
