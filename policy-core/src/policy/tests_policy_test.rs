//! Unit tests of `mod.rs`.

use super::*;

#[test]
fn defaults_are_strict() {
    let p = Plan::from_json("{}").unwrap();
    assert_eq!(p.mode, Mode::Enforce);
    assert_eq!(p.default_action, Action::Deny);
    assert_eq!(p.path_normalization, PathNormalization::Strict);
}

#[test]
fn top_level_errors() {
    let e = Plan::from_json(r#"{"mode":"audit"}"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "mode: expected `enforce` or `dry_run`, found `audit`"
    );
    let e = Plan::from_json(r#"{"defaultaction":"ALLOW"}"#).unwrap_err();
    assert_eq!(
        e.message,
        "unknown field `defaultaction`; did you mean `defaultAction`?"
    );
    let e = Plan::from_json(r#"{"mode":"enforce","mode":"dry_run"}"#).unwrap_err();
    assert_eq!(e.code, ErrorCode::Syntax);
    assert!(e.message.contains("duplicate key `mode`"));
    let e = Plan::from_json("[]").unwrap_err();
    assert_eq!(e.to_string(), "$: expected an object, found array `[]`");
}
