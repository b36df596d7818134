//! Unit tests of `lint.rs`.

use super::*;

fn codes(doc: &str) -> Vec<&'static str> {
    lint(&Plan::from_json(doc).unwrap())
        .into_iter()
        .map(|l| l.code)
        .collect()
}

#[test]
fn finds_bypass_patterns() {
    assert!(codes(r#"{"authorizationPolicies":[{"name":"a","rules":[{"to":[{"operation":{"notPaths":["/admin*"]}}]}]}]}"#).contains(&"allow_not_paths"));
    assert!(codes(r#"{"pathNormalization":"BASE","authorizationPolicies":[{"name":"a","action":"DENY","rules":[{"to":[{"operation":{"paths":["/admin*"]}}]}]}]}"#).contains(&"deny_paths_without_normalization"));
    assert!(codes(r#"{"authorizationPolicies":[{"name":"a","action":"DENY","rules":[{"to":[{"operation":{"paths":["/admin"]}}]}]}]}"#).contains(&"deny_exact_path"));
    assert!(
        codes(r#"{"authorizationPolicies":[{"name":"a","rules":[{}]}]}"#).contains(&"broad_allow")
    );
    assert!(codes(r#"{"authorizationPolicies":[{"name":"a","rules":[{"from":[{"source":{"namespaces":["x"]}}],"to":[{"operation":{"methods":["get"]}}]}]}]}"#).contains(&"never_matches"));
    assert!(codes(r#"{"authorizationPolicies":[{"name":"a","rules":[{"from":[{"source":{"requestPrincipals":["*"]}}]}]}]}"#).contains(&"auth_without_jwt_rules"));
    assert!(codes(r#"{"defaultAction":"ALLOW"}"#).contains(&"allow_everything"));
}

#[test]
fn clean_policy_has_no_warnings() {
    let l = lint(&Plan::from_json(r#"{"authorizationPolicies":[{"name":"a","rules":[{"from":[{"source":{"principals":["cluster.local/ns/a/sa/b"]}}],"to":[{"operation":{"methods":["GET"],"paths":["/api/*"]}}]}]}]}"#).unwrap());
    assert!(l.iter().all(|l| l.level != Level::Warning), "{l:?}");
}

#[test]
fn skipped_inline_keys_are_reported() {
    // An Istio rule pasted as is: no `algorithms`, a set with a key Vigil cannot use.
    let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    let doc = format!(
        r#"{{"jwtRules":[{{"issuer":"https://idp","jwks":{{"keys":[
            {{"kty":"oct","k":"AAAA"}},{{"kty":"OKP","crv":"Ed25519","kid":"a","x":"{x}"}}]}}}}]}}"#
    );
    let l = lint(&Plan::from_json(&doc).unwrap());
    let skipped: Vec<_> = l.iter().filter(|l| l.code == "jwks_key_skipped").collect();
    assert_eq!(skipped.len(), 1, "{l:?}");
    assert_eq!(skipped[0].path, "jwtRules[0].jwks.keys[0]");
    assert!(skipped[0].message.contains("symmetric"), "{l:?}");
}
