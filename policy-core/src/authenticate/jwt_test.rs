//! Unit tests of `jwt.rs`.

use super::*;

#[test]
fn base64_is_canonical() {
    assert_eq!(b64url_decode(b"").unwrap(), b"");
    assert_eq!(b64url_decode(b"YQ").unwrap(), b"a");
    assert_eq!(b64url_decode(b"YWI").unwrap(), b"ab");
    assert_eq!(b64url_decode(b"YWJj").unwrap(), b"abc");
    assert!(b64url_decode(b"YR").is_none(), "non-zero trailing bits");
    assert!(b64url_decode(b"YQ==").is_none());
    assert!(b64url_decode(b"Y").is_none());
    assert!(b64url_decode(b"+/+/").is_none());
    assert!(b64url_decode(b"YW J").is_none());
    assert_eq!(b64url_decode(b"-_-_").unwrap(), [0xfb, 0xff, 0xbf]);
    for n in 0..40u8 {
        let v: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
        assert_eq!(b64url_decode(b64url_encode(&v).as_bytes()).unwrap(), v);
    }
}

/// The decoder RFC 7515 asks for: base64url, no padding, zero spare bits (the `base64`
/// crate's `URL_SAFE_NO_PAD`, whose decoding refuses non-zero trailing bits).
fn reference_b64(s: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()
}

#[test]
fn base64_matches_the_reference() {
    // A small generator (xorshift) over bytes biased towards the alphabet, with the
    // characters a lax decoder would take: padding, the standard alphabet's + and /,
    // whitespace, NUL, high bytes.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let odd = b"=+/ \n\0\x80\xff.";
    let mut cases = 0;
    for round in 0..20_000 {
        let len = (next() % 24) as usize + if round % 10 == 0 { 300 } else { 0 };
        let mut s: Vec<u8> = (0..len)
            .map(|_| {
                let r = next();
                if r % 50 == 0 {
                    odd[(r / 50) as usize % odd.len()]
                } else {
                    B64_ALPHABET[(r / 50) as usize % 64]
                }
            })
            .collect();
        // Half the time a valid encoding, possibly with one character changed.
        if round % 2 == 0 {
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            s = b64url_encode(&bytes).into_bytes();
            assert_eq!(b64url_decode(&s).as_deref(), Some(&bytes[..]));
            if round % 4 == 0 && !s.is_empty() {
                let i = (next() as usize) % s.len();
                s[i] = B64_ALPHABET[(next() % 64) as usize];
            }
        }
        assert_eq!(
            b64url_decode(&s),
            reference_b64(&s),
            "{:?}",
            String::from_utf8_lossy(&s)
        );
        cases += 1;
    }
    // Every two- and three-character tail (all spare-bit patterns), after a full quad.
    for a in B64_ALPHABET.iter().chain(b"=+") {
        for b in B64_ALPHABET.iter().chain(b"=/") {
            let two = [b'Q', b'U', b'J', b'D', *a, *b];
            assert_eq!(b64url_decode(&two), reference_b64(&two));
            for c in [b'A', b'B', b'C', b'D', b'E', b'-', b'_', b'='] {
                let three = [*a, *b, c];
                assert_eq!(b64url_decode(&three), reference_b64(&three));
                cases += 1;
            }
        }
    }
    assert!(cases > 20_000);
}

#[test]
fn typ_matching() {
    assert!(type_matches("at+jwt", "at+jwt"));
    assert!(type_matches("AT+JWT", "at+jwt"));
    assert!(type_matches("application/at+jwt", "at+jwt"));
    assert!(type_matches("at+jwt", "application/at+jwt"));
    assert!(!type_matches("jwt", "at+jwt"));
    assert!(!type_matches("application/jwt", "at+jwt"));
}

#[test]
fn decode_rejects_grammar() {
    let h = b64url_encode(br#"{"alg":"RS256"}"#);
    let p = b64url_encode(br#"{"iss":"a"}"#);
    let code = |t: &str| decode(t, 8192).unwrap_err().code();
    assert_eq!(code(""), "malformed");
    assert_eq!(code(&alloc::format!("{h}.{p}")), "malformed");
    assert_eq!(code(&alloc::format!("{h}.{p}.c.d")), "malformed");
    assert_eq!(code(&alloc::format!("{h}=.{p}.AA")), "bad_base64");
    assert_eq!(code(&alloc::format!(".{p}.AA")), "malformed");
    let nn = b64url_encode(br#"{"alg":"none"}"#);
    assert_eq!(code(&alloc::format!("{nn}.{p}.")), "alg_not_allowed");
    let arr = b64url_encode(b"[1]");
    assert_eq!(code(&alloc::format!("{h}.{arr}.AA")), "malformed");
    assert_eq!(code(&"a".repeat(9000)), "too_large");
    assert!(decode(&alloc::format!("{h}.{p}.AA"), 8192).is_ok());
}

#[test]
fn ecdsa_scalar_bounds() {
    use crate::authenticate::jwks::Curve;
    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
    // The group orders (SEC 2): r, s must be in [1, n−1].
    let orders = [
        (
            Curve::P256,
            hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"),
        ),
        (
            Curve::P384,
            hex("ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973"),
        ),
        (
            Curve::P521,
            hex(concat!(
                "01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa",
                "51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409"
            )),
        ),
    ];
    for (curve, n) in orders {
        let mut below = n.clone();
        *below.last_mut().unwrap() -= 1;
        let one = {
            let mut v = vec![0u8; n.len()];
            *v.last_mut().unwrap() = 1;
            v
        };
        let sig = |r: &[u8], s: &[u8]| [r, s].concat();
        assert!(curve.signature_in_range(&sig(&below, &below)));
        assert!(curve.signature_in_range(&sig(&one, &one)));
        assert!(!curve.signature_in_range(&sig(&n, &one)));
        assert!(!curve.signature_in_range(&sig(&one, &n)));
        assert!(!curve.signature_in_range(&sig(&vec![0; n.len()], &one)));
        assert!(!curve.signature_in_range(&sig(&vec![0xff; n.len()], &one)));
        assert!(!curve.signature_in_range(&below));
        assert!(!curve.signature_in_range(&[below.as_slice(), &below, &[0]].concat()));
    }
}

#[test]
fn signature_shapes_fit_the_key() {
    use crate::authenticate::jwks::JwkSet;
    let k = vigil_fixtures::keys();
    let set = JwkSet::parse(&vigil_fixtures::Keys::jwks_of(&[
        k.jwk(vigil_fixtures::KeyKind::P384, Some("p384"), None),
        k.jwk(vigil_fixtures::KeyKind::Rsa, Some("rsa"), Some("RS256")),
    ]))
    .unwrap();
    let (p384, rsa) = (&set.keys()[0].key, &set.keys()[1].key);
    // An ES256-shaped signature on a P-384 key, and the reverse, are refused by shape.
    assert!(!signature_well_formed(Alg::Es256, p384, &[1u8; 64]));
    assert!(!signature_well_formed(Alg::Es256, p384, &[1u8; 96]));
    assert!(signature_well_formed(Alg::Es384, p384, &[1u8; 96]));
    assert!(!signature_well_formed(Alg::Es512, p384, &[1u8; 132]));
    // RSA: exactly the modulus' length and below it (s + n is not another encoding).
    let n = k.rsa_modulus();
    let mut below = n.clone();
    below[0] -= 1;
    assert!(signature_well_formed(Alg::Rs256, rsa, &below));
    assert!(!signature_well_formed(Alg::Rs256, rsa, &n));
    assert!(!signature_well_formed(
        Alg::Rs256,
        rsa,
        &vec![0xff; n.len()]
    ));
    assert!(!signature_well_formed(Alg::Rs256, rsa, &below[1..]));
    assert!(!signature_well_formed(Alg::Es384, rsa, &below));
}
