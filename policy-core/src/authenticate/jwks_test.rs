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

#[test]
fn rejects_bad_documents() {
    assert!(JwkSet::parse("[]").is_err());
    assert!(JwkSet::parse("{}").is_err());
    assert_eq!(JwkSet::parse(r#"{"keys":[]}"#).unwrap_err().path, "keys");
    let e = JwkSet::parse(r#"{"keys":[{"kty":"oct","k":"AAAA"}]}"#).unwrap_err();
    assert_eq!(e.path, "keys[0].k");
    let e =
        JwkSet::parse(r#"{"keys":[{"kty":"EC","crv":"P-521","x":"AA","y":"AA"}]}"#).unwrap_err();
    assert!(e.message.contains("no usable key"), "{e}");
    // P-384 is verified: a wrong coordinate length or a point off the curve refuses the set.
    let e =
        JwkSet::parse(r#"{"keys":[{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}]}"#).unwrap_err();
    assert_eq!(e.message, "p-384 coordinates must be exactly 48 bytes each");
    let one = crate::authenticate::jwt::b64url_encode(&[1u8; 48]);
    let e = JwkSet::parse(&format!(
        r#"{{"keys":[{{"kty":"EC","crv":"P-384","x":"{one}","y":"{one}"}}]}}"#
    ))
    .unwrap_err();
    assert_eq!(e.message, "the point is not on the p-384 curve");
    let e = JwkSet::parse(r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AA="}]}"#).unwrap_err();
    assert_eq!(e.path, "keys[0].x");
    // The identity point is weak.
    let mut id = [0u8; 32];
    id[0] = 1;
    let x = crate::authenticate::jwt::b64url_encode(&id);
    let e = JwkSet::parse(&format!(
        r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{x}"}}]}}"#
    ))
    .unwrap_err();
    assert!(e.message.contains("weak"), "{e}");
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
