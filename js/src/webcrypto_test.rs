#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
use super::*;
use policy_core::authenticate::jwt::NativeSignatures;
use policy_core::authenticate::JwkSet;
use policy_core::{CheckRequest, Engine, Env};
use vigil_fixtures::{keys as fixture_keys, KeyKind, ISSUER};

#[test]
fn the_jwk_handed_to_webcrypto_is_the_same_key() {
    let k = fixture_keys();
    let set = JwkSet::parse(&vigil_fixtures::Keys::jwks_of(&[
        k.jwk(KeyKind::Rsa, Some("rsa-1"), Some("RS256")),
        k.jwk(KeyKind::P256, Some("ec-1"), None),
        k.jwk(KeyKind::P384, Some("ec-384"), None),
        k.jwk(KeyKind::P521, Some("ec-521"), None),
        k.jwk(KeyKind::Ed25519, Some("ed-1"), None),
    ]))
    .unwrap();
    let mut seen = 0;
    for k in set.keys() {
        let alg = k.algorithm(&Alg::ALL).unwrap_or(Alg::Rs256);
        let (jwk, import, verify) = webcrypto_params(alg, &k.key).unwrap();
        assert!(import.get("name").is_some() && verify.get("name").is_some());
        let again = JwkSet::parse(&format!(r#"{{"keys": [{}]}}"#, jwk.to_json())).unwrap();
        let msg = b"header.payload";
        let kind = match k.key.key_type() {
            policy_core::authenticate::jwks::KeyType::Rsa => KeyKind::Rsa,
            policy_core::authenticate::jwks::KeyType::P256 => KeyKind::P256,
            policy_core::authenticate::jwks::KeyType::P384 => KeyKind::P384,
            policy_core::authenticate::jwks::KeyType::P521 => KeyKind::P521,
            policy_core::authenticate::jwks::KeyType::Ed25519 => KeyKind::Ed25519,
        };
        let sig = fixture_keys().sign(kind, alg.name(), msg);
        let mut native = NativeSignatures;
        assert!(
            native.check(alg, &again.keys()[0], msg, &sig),
            "{}",
            alg.name()
        );
        seen += 1;
    }
    assert_eq!(seen, 5);
    assert!(
        webcrypto_params(Alg::Es256, &set.keys()[0].key).is_none()
            || set.keys()[0].key.key_type() == policy_core::authenticate::jwks::KeyType::P256
    );
}

#[test]
fn deferred_records_then_answers() {
    let engine = Engine::from_json(&format!(
        r#"{{"jwtRules": [{{"issuer": "{ISSUER}", "audiences": ["api"], "algorithms": ["ES256"], "jwks": {}}}],
            "authorizationPolicies": [{{"name": "users", "action": "ALLOW",
              "rules": [{{"from": [{{"source": {{"requestPrincipals": ["*"]}}}}]}}]}}]}}"#,
        vigil_fixtures::json_str(&fixture_keys().jwks())
    ))
    .unwrap();
    let now = vigil_fixtures::NOW;
    let claims = vigil_fixtures::claims(ISSUER, "alice", "api", now, 600, "");
    let token = fixture_keys().signed(
        KeyKind::P256,
        "ES256",
        &vigil_fixtures::header("ES256", "ec-1"),
        &claims,
    );
    let req = CheckRequest::new("GET", "/", "api")
        .with_header("authorization", &format!("Bearer {token}"));
    let env = Env::at(now);
    let mut cache = policy_core::authenticate::TokenCache::new(8);
    let mut first = Deferred::new(&[]);
    let d = engine.decide_cached_using(&req, &env, &mut cache, &mut first);
    assert_eq!(d.status, 401, "unanswered: invalid for now");
    assert!(cache.is_empty(), "nothing cached on a pending answer");
    let job = first.pending.unwrap();
    assert_eq!(job.alg, Alg::Es256);
    let mut native = NativeSignatures;
    let ok = native.check(job.alg, &job.key, &job.message, &job.signature);
    assert!(ok);
    let answers = vec![(job.message.clone(), job.signature.clone(), ok)];
    let mut second = Deferred::new(&answers);
    let d = engine.decide_cached_using(&req, &env, &mut cache, &mut second);
    assert_eq!(d.outcome, policy_core::Outcome::Allow);
    assert!(second.pending.is_none());
    assert_eq!(cache.len(), 1, "the verified token is cached");
    // A forged signature answered false stays refused.
    let bad = vec![(job.message.clone(), job.signature.clone(), false)];
    let mut cache2 = policy_core::authenticate::TokenCache::new(8);
    let d = engine.decide_cached_using(&req, &env, &mut cache2, &mut Deferred::new(&bad));
    assert_eq!(d.code, "invalid_token");
    assert!(d.reason.contains("bad_signature"));
}
