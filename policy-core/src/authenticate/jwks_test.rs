//! Unit tests of `jwks.rs`.

use super::*;

#[test]
fn alg_names() {
    for a in Alg::ALL {
        assert_eq!(Alg::from_name(a.name()), Some(a));
    }
    assert_eq!(Alg::from_name("Ed25519"), Some(Alg::EdDsa));
    assert_eq!(Alg::from_name("none"), None);
    assert_eq!(Alg::from_name("HS256"), None);
    assert_eq!(Alg::from_name("rs256"), None);
}

/// The RFC 8032 test key 1 (public), as a JWK member.
fn good_key(kid: &str) -> String {
    let x = crate::authenticate::jwt::b64url_encode(&[
        0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07,
        0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07,
        0x51, 0x1a,
    ]);
    format!(r#"{{"kty":"OKP","crv":"Ed25519","kid":"{kid}","x":"{x}"}}"#)
}

/// Members Vigil cannot use, each with a word of the reason it is skipped for.
fn unusable_members() -> Vec<(String, &'static str)> {
    let one = crate::authenticate::jwt::b64url_encode(&[1u8; 48]);
    let mut id = [0u8; 32];
    id[0] = 1;
    let weak = crate::authenticate::jwt::b64url_encode(&id);
    let small_n = crate::authenticate::jwt::b64url_encode(&[0xc1u8; 128]);
    vec![
        (r#"{"kty":"oct","k":"AAAA"}"#.into(), "symmetric"),
        (
            r#"{"kty":"EC","crv":"secp256k1","x":"AA","y":"AA"}"#.into(),
            "not supported",
        ),
        (
            r#"{"kty":"EC","crv":"P-521","x":"AA","y":"AA"}"#.into(),
            "exactly 66 bytes",
        ),
        (
            r#"{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}"#.into(),
            "exactly 48 bytes",
        ),
        (
            format!(r#"{{"kty":"EC","crv":"P-384","x":"{one}","y":"{one}"}}"#),
            "not on the p-384 curve",
        ),
        (
            r#"{"kty":"OKP","crv":"Ed25519","x":"AA="}"#.into(),
            "base64url",
        ),
        (
            format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{weak}"}}"#),
            "weak",
        ),
        (
            format!(r#"{{"kty":"RSA","n":"{small_n}","e":"AQAB"}}"#),
            "bits",
        ),
        (
            r#"{"kty":"RSA","use":"enc","n":"AA","e":"AQAB"}"#.into(),
            "`use`",
        ),
        (
            r#"{"kty":"RSA","use":"x509-svid","n":"AA","e":"AQAB"}"#.into(),
            "`use`",
        ),
        (
            r#"{"kty":"OKP","crv":"X25519","x":"AA"}"#.into(),
            "not supported",
        ),
        (
            r#"{"kty":"RSA","alg":"RSA-OAEP","n":"AA","e":"AQAB"}"#.into(),
            "not supported",
        ),
        (
            r#"{"kty":"EC","crv":"P-256","key_ops":["encrypt"],"x":"AA","y":"AA"}"#.into(),
            "key_ops",
        ),
        (r#"{"kty":"RSA"}"#.into(), "missing"),
        (r#""not an object""#.into(), "object"),
        (r#"{"crv":"P-256"}"#.into(), "kty"),
    ]
}

#[test]
fn rejects_bad_documents() {
    assert!(JwkSet::parse("[]").is_err());
    assert!(JwkSet::parse("{}").is_err());
    assert_eq!(JwkSet::parse(r#"{"keys":[]}"#).unwrap_err().path, "keys");
    // A set of nothing but unusable members is refused, with each reason.
    for (member, why) in unusable_members() {
        let e = JwkSet::parse(&format!(r#"{{"keys":[{member}]}}"#)).unwrap_err();
        assert_eq!(e.path, "keys", "{member}");
        assert!(e.message.contains("no usable key"), "{member}: {e}");
        assert!(e.message.contains(why), "{member}: {e}");
    }
}

#[test]
fn spiffe_bundle_jwt_svid_keys_are_signing_keys() {
    // A SPIFFE trust bundle (SPIFFE Trust Domain and Bundle §4): `jwt-svid` members sign
    // JWT-SVIDs; the `x509-svid` member (a CA key with its certificate) is skipped.
    let jwt = good_key("jwt-1").replacen('{', r#"{"use":"jwt-svid","#, 1);
    let x509 = good_key("ca").replacen('{', r#"{"use":"x509-svid","#, 1);
    let doc = format!(r#"{{"keys":[{x509},{jwt}],"spiffe_sequence":3,"spiffe_refresh_hint":300}}"#);
    let set = JwkSet::parse(&doc).unwrap();
    assert!(set.by_kid("jwt-1").is_some());
    assert!(set.by_kid("ca").is_none());
    assert!(
        set.skipped()[0].1.contains("x509-svid"),
        "{:?}",
        set.skipped()
    );
}

#[test]
fn unusable_members_are_skipped_and_the_rest_stays() {
    for (member, why) in unusable_members() {
        let doc = format!(r#"{{"keys":[{member},{}]}}"#, good_key("good"));
        let set = JwkSet::parse(&doc).unwrap_or_else(|e| panic!("{member}: {e}"));
        assert_eq!(set.len(), 1, "{member}");
        assert!(set.by_kid("good").is_some());
        let [(path, reason)] = set.skipped() else {
            panic!("{member}: {:?}", set.skipped())
        };
        assert!(path.starts_with("keys[0]"), "{member}: {path}");
        assert!(reason.contains(why), "{member}: {reason}");
    }
    // A later member with an earlier kid is skipped: the kid names the first key.
    let doc = format!(r#"{{"keys":[{},{}]}}"#, good_key("a"), good_key("a"));
    let set = JwkSet::parse(&doc).unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(set.skipped()[0].0, "keys[1].kid");
    assert!(set.skipped()[0].1.contains("duplicate kid"));
}

#[test]
fn private_key_material_refuses_the_whole_set() {
    for p in ["d", "p", "q", "dp", "dq", "qi", "oth"] {
        let leaked = format!(r#"{{"kty":"RSA","n":"AA","e":"AQAB","{p}":"AA"}}"#);
        let doc = format!(r#"{{"keys":[{},{leaked}]}}"#, good_key("good"));
        let e = JwkSet::parse(&doc).unwrap_err();
        assert_eq!(e.path, format!("keys[1].{p}"));
        assert!(e.message.contains("private key material"), "{e}");
    }
}

#[test]
fn ambiguous_rsa_alg() {
    // Algorithm derivation for a key without `alg`.
    let k = Jwk::new(
        None,
        None,
        PublicKey::Ed25519(
            ed25519_dalek::VerifyingKey::from_bytes(&[
                0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64,
                0x07, 0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68,
                0xf7, 0x07, 0x51, 0x1a,
            ])
            .unwrap(),
        ),
    );
    assert_eq!(k.algorithm(&[Alg::Rs256]), Some(Alg::EdDsa));
}
