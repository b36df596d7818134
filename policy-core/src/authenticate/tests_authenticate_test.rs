//! Unit tests of `mod.rs`.

use super::*;

#[test]
fn codes_are_unique_and_snake_case() {
    let mut c = TokenError::CODES.to_vec();
    c.sort();
    c.dedup();
    assert_eq!(c.len(), TokenError::CODES.len());
    for code in TokenError::CODES {
        assert!(code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
    }
}

#[test]
fn descriptions_are_safe() {
    let e = TokenError::new(TokenErrorKind::MissingClaim("a\"b\\c\u{e9}".into()));
    assert_eq!(e.description(), "the token has no `a?b?c?` claim");
    assert_eq!(e.code(), "missing_claim");
}

#[test]
fn rendering() {
    let v = crate::json::parse(r#"[1,"a",true,1.5]"#, crate::json::Limits::TOKEN).unwrap();
    assert_eq!(render_claim(&v).as_deref(), Some("1,a,true,1.5"));
    let v = crate::json::parse(r#"{"a":1}"#, crate::json::Limits::TOKEN).unwrap();
    assert_eq!(render_claim(&v), None);
    assert!(!header_value_ok("a\r\nb"));
    assert!(!header_value_ok("a\0"));
    assert!(header_value_ok("a\tb"));
}
