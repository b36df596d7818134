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
fn p256_order_bounds() {
    let mut below = P256_N;
    below[31] -= 1;
    assert!(less_than(&below, &P256_N));
    assert!(!less_than(&P256_N, &P256_N));
}
