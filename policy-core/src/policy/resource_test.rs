//! Unit tests of `resource.rs`.

use crate::policy::Plan;

#[test]
fn resources_are_checked() {
    let e =
        Plan::from_json(r#"{"resources":[{"name":"a","classification":"secret"}]}"#).unwrap_err();
    assert_eq!(e.path, "resources[0].classification");
    assert!(e.message.starts_with("unknown classification `secret`"));
    let p = Plan::from_json(
        r#"{"classifications":["low","secret"],"resources":[{"name":"a","classification":"secret"}]}"#,
    )
    .unwrap();
    assert_eq!(p.resources[0].classification, "secret");
    let e =
        Plan::from_json(r#"{"resources":[{"name":"a","classification":"public","minAcr":"otp"}]}"#)
            .unwrap_err();
    assert_eq!(
        e.message,
        "acr `otp` is not declared: list the levels in `acrLevels`, weakest first"
    );
    let e = Plan::from_json(
        r#"{"resources":[{"name":"a","classification":"public"},{"name":"a","classification":"public"}]}"#,
    )
    .unwrap_err();
    assert_eq!(e.path, "resources[1].name");
    let e = Plan::from_json(r#"{"acrLevels":["a","a"]}"#).unwrap_err();
    assert_eq!(e.path, "acrLevels[1]");
    let e =
        Plan::from_json(r#"{"resources":[{"name":"a","classification":"public","minTrust":101}]}"#)
            .unwrap_err();
    assert_eq!(e.path, "resources[0].minTrust");
}
