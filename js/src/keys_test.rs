#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
use super::*;
use policy_core::Engine;
use vigil_fixtures::{keys as fixture_keys, ISSUER};

fn engine(extra: &str) -> Engine {
    Engine::from_json(&format!(
        r#"{{"jwtRules": [{{"issuer": "{ISSUER}", "algorithms": ["RS256", "ES256", "EdDSA"], "jwksUri": "https://idp.vigil.test/jwks"{extra}}}]}}"#
    ))
    .unwrap()
}

#[test]
fn remotes_follow_ttl_cooldown_and_retry() {
    let e = engine(r#", "jwksCache": {"ttlSeconds": 60, "refetchCooldownSeconds": 5}"#);
    let mut k = Keys::new(e.inline_keys().clone(), e.plan().auth.rules());
    assert_eq!(k.remotes.len(), 1);
    assert!(k.remotes[0].due(0.0), "never fetched: due");
    let jwks = fixture_keys().jwks();
    assert_eq!(k.fetched(ISSUER, &jwks, 1000.0), Ok(Fetched::Installed));
    assert!(k.store.get(ISSUER).is_some());
    assert!(!k.remotes[0].due(60_999.0));
    assert!(k.remotes[0].due(61_000.0));
    // A bad document keeps the last good set.
    assert!(k.fetched(ISSUER, r#"{"keys": []}"#, 2000.0).is_err());
    assert!(k.store.get(ISSUER).is_some());
    k.remotes[0].failed(61_000.0, "down".into());
    assert!(!k.remotes[0].due(62_999.0), "retry delay after a failure");
    assert!(k.remotes[0].due(63_000.0));
    // One unknown-kid refetch per cooldown.
    let r = &mut k.remotes[0];
    assert!(r.take_refetch(10_000.0));
    assert!(!r.take_refetch(14_999.0));
    assert!(r.take_refetch(15_000.0));
}

#[test]
fn set_checks_the_issuer_and_the_set() {
    let e = engine("");
    let mut k = Keys::new(e.inline_keys().clone(), e.plan().auth.rules());
    let err = k.set("https://other", &fixture_keys().jwks()).unwrap_err();
    assert_eq!(err.path, "issuer");
    assert_eq!(k.set(ISSUER, "{").unwrap_err().code(), "syntax");
    let err = k
        .set(ISSUER, r#"{"keys": [{"kty": "oct", "k": "AAAA"}]}"#)
        .unwrap_err();
    assert_eq!(err.code(), "invalid");
    assert!(k.store.get(ISSUER).is_none());
    assert!(k.set(ISSUER, &fixture_keys().jwks()).unwrap() >= 3);
}

#[test]
fn discovery_names_the_jwks_url() {
    let e = engine(r#", "jwksCache": {"discovery": true}"#);
    // With jwksUri set, discovery is not used.
    assert!(Keys::new(KeyStore::new(), e.plan().auth.rules()).remotes[0]
        .discovery_url
        .is_none());
    let e = Engine::from_json(&format!(
        r#"{{"jwtRules": [{{"issuer": "{ISSUER}", "algorithms": ["RS256"], "jwksCache": {{"discovery": true}}}}]}}"#
    ))
    .unwrap();
    let mut k = Keys::new(KeyStore::new(), e.plan().auth.rules());
    assert_eq!(
        k.remotes[0].discovery_url.as_deref(),
        Some("https://idp.vigil.test/.well-known/openid-configuration")
    );
    let doc = format!(r#"{{"issuer": "{ISSUER}", "jwks_uri": "https://idp.vigil.test/k"}}"#);
    assert_eq!(
        k.fetched(ISSUER, &doc, 0.0),
        Ok(Fetched::JwksAt("https://idp.vigil.test/k".into()))
    );
    assert_eq!(
        discovered_jwks_url(
            r#"{"issuer": "https://evil", "jwks_uri": "https://e/k"}"#,
            ISSUER
        ),
        Err("discovery document names another issuer".into())
    );
}
