//! Unit tests of `json.rs`.

use super::*;
use alloc::format;

fn p(s: &str) -> Result<Value, JsonError> {
    parse(s, Limits::POLICY)
}

#[test]
fn parses_and_round_trips() {
    let v = p(r#" {"a": [1, -2.5, true, null, "x\u00e9\n"], "b": {}} "#).unwrap();
    assert_eq!(v.to_json(), r#"{"a":[1,-2.5,true,null,"xé\n"],"b":{}}"#);
    assert_eq!(v.get("a").unwrap().as_array().unwrap().len(), 5);
}

#[test]
fn rejects_duplicate_keys_small_and_large() {
    assert!(matches!(
        p(r#"{"a":1,"a":2}"#).unwrap_err().kind,
        JsonErrorKind::DuplicateKey(ref k) if k == "a"
    ));
    let mut s = String::from("{");
    for i in 0..40 {
        s.push_str(&format!("\"k{i}\":{i},"));
    }
    s.push_str("\"k3\":0}");
    assert!(matches!(
        p(&s).unwrap_err().kind,
        JsonErrorKind::DuplicateKey(_)
    ));
}

#[test]
fn escaped_duplicate_is_still_duplicate() {
    assert!(p(r#"{"sub":"a","s\u0075b":"b"}"#).is_err());
}

#[test]
fn grammar_is_strict() {
    for bad in [
        "",
        "{",
        "[1,]",
        "{\"a\":1,}",
        "01",
        "1.",
        ".5",
        "+1",
        "1e",
        "NaN",
        "'a'",
        "\"\\x\"",
        "\"\t\"",
        "[1] x",
        "{a:1}",
        "\"\\ud800\"",
        "\"\\udc00x\"",
        "tru",
        "1e999",
        "// c\n1",
        "{\"a\" 1}",
    ] {
        assert!(p(bad).is_err(), "accepted {bad:?}");
    }
}

#[test]
fn limits_hold() {
    let deep = "[".repeat(100) + &"]".repeat(100);
    assert!(matches!(
        parse(&deep, Limits::TOKEN).unwrap_err().kind,
        JsonErrorKind::TooDeep { max: 16 }
    ));
    let big = "1".repeat(70_000);
    assert!(matches!(
        parse(&big, Limits::TOKEN).unwrap_err().kind,
        JsonErrorKind::TooLarge { .. }
    ));
    // Exactly at the limit is fine.
    let ok = "[".repeat(16) + &"]".repeat(16);
    assert!(parse(&ok, Limits::TOKEN).is_ok());
}

#[test]
fn numbers() {
    assert_eq!(p("12").unwrap().as_number().unwrap().as_i64(), Some(12));
    assert_eq!(p("1.5").unwrap().as_number().unwrap().as_i64(), None);
    assert_eq!(p("-0").unwrap().as_number().unwrap().as_i64(), Some(0));
    let big = p("99999999999999999999").unwrap().as_number().unwrap();
    assert_eq!(big.as_i64(), None);
    assert!(big.as_f64() > 9e19);
}

#[test]
fn surrogate_pairs() {
    assert_eq!(p(r#""\ud83d\ude00""#).unwrap().as_str(), Some("😀"));
}

#[test]
fn writer_escapes() {
    let mut s = String::new();
    write_str("a\"b\\c\u{1}", &mut s);
    assert_eq!(s, r#""a\"b\\c\u0001""#);
}
