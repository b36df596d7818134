use super::*;
use crate::authenticate::JwkSet;
use crate::extract::token::TokenSource;
use alloc::string::String;

/// RFC 8037's Ed25519 example key (public part), and a second, different key.
const KEY_A: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
const KEY_B: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"P7pm3Wa2PrIpVqNnBe1SbAHaVUy1Hq7RGBJQ5jMfK_Q"}]}"#;

fn store(doc: &str) -> KeyStore {
    let mut k = KeyStore::new();
    k.set("i", JwkSet::parse(doc).unwrap());
    k
}

fn fingerprint(doc: &str) -> [u8; 32] {
    JwkSet::parse(doc).unwrap().keys()[0].fingerprint
}

fn id(exp: f64, nbf: Option<f64>) -> Identity {
    Identity {
        issuer: "i".into(),
        subject: None,
        principal: "i/".into(),
        audiences: alloc::vec![],
        presenter: None,
        claims: crate::json::Map::new(),
        rule: 0,
        expires_at: exp as i64,
        exp,
        not_before: nbf,
        issued_at: None,
        source: TokenSource::Header(String::from("authorization")),
        key_fingerprint: Some(fingerprint(KEY_A)),
    }
}

#[test]
fn expiry_rechecked_and_bounded() {
    let k = store(KEY_A);
    let mut c = TokenCache::new(2);
    c.insert("t1", id(100.0, None), 10);
    assert!(c.get("t1", 50, &k).is_some());
    assert!(c.get("t1", 109, &k).is_some());
    assert!(c.get("t1", 110, &k).is_none());
    assert_eq!(c.len(), 0);
    c.insert("a", id(1000.0, Some(500.0)), 0);
    assert!(c.get("a", 499, &k).is_none());
    c.insert("a", id(1000.0, Some(500.0)), 0);
    assert!(c.get("a", 500, &k).is_some());
    c.insert("b", id(1000.0, None), 0);
    c.insert("c", id(1000.0, None), 0);
    assert_eq!(c.len(), 2);
    assert!(c.get("a", 600, &k).is_none(), "oldest evicted");
    assert!(c.get("c", 600, &k).is_some());
    assert_eq!(c.hits(), 4);
    assert_eq!(c.misses(), 3);
    let mut z = TokenCache::new(0);
    z.insert("a", id(1000.0, None), 0);
    assert!(z.is_empty());
}
#[test]
fn withdrawn_key_evicts() {
    let mut c = TokenCache::new(8);
    c.insert("t", id(1000.0, None), 0);
    assert!(c.get("t", 10, &store(KEY_A)).is_some());
    // The issuer's set was replaced by one without the verifying key (same kid, other key).
    assert!(c.get("t", 10, &store(KEY_B)).is_none());
    assert!(c.is_empty(), "the entry is dropped, not kept for later");
    // An empty store, or another issuer's set, never serves it either.
    c.insert("t", id(1000.0, None), 0);
    assert!(c.get("t", 10, &KeyStore::new()).is_none());
    // No fingerprint: never served from the cache.
    let mut anon = id(1000.0, None);
    anon.key_fingerprint = None;
    c.insert("u", anon, 0);
    assert!(c.get("u", 10, &store(KEY_A)).is_none());
}

#[test]
fn fingerprints_differ_by_key_not_kid() {
    assert_ne!(fingerprint(KEY_A), fingerprint(KEY_B));
    let renamed = KEY_A.replace(r#""kid":"a""#, r#""kid":"z""#);
    assert_eq!(fingerprint(KEY_A), fingerprint(&renamed));
}
