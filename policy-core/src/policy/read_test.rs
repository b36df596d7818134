//! Unit tests of `read.rs`.

use super::*;
use crate::json::{parse, Limits};

#[test]
fn unknown_field_suggests() {
    let v = parse(r#"{"principles":["a"]}"#, Limits::POLICY).unwrap();
    let o = Obj::new(&v, "source").unwrap();
    let e = o.deny_unknown(&["principals", "namespaces"]).unwrap_err();
    assert_eq!(e.path, "source.principles");
    assert_eq!(
        e.message,
        "unknown field `principles`; did you mean `principals`?"
    );
    assert_eq!(e.code, ErrorCode::UnknownField);
}

#[test]
fn type_errors_quote_value() {
    let v = parse(r#"{"paths":"/a"}"#, Limits::POLICY).unwrap();
    let o = Obj::new(&v, "op").unwrap();
    let e = o.strings("paths").unwrap_err();
    assert_eq!(
        e.to_string(),
        "op.paths: expected an array, found string `/a`"
    );
}
