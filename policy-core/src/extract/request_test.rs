//! Unit tests of `request.rs`.

use super::*;

#[test]
fn parses_full_request() {
    let r = CheckRequest::from_json(
        r#"{"method":"POST","path":"/a?x=1","host":"API.example.com:443","scheme":"https",
            "headers":{"X-Tag":["a","b"],"authorization":"Bearer t"},
            "source":{"address":"10.1.2.3","port":5000,"principal":"spiffe://cluster.local/ns/a/sa/b"},
            "destination":{"address":"::1","port":8080},"sni":"api.example.com","time":1700000000.5}"#,
    )
    .unwrap();
    assert_eq!(r.header_values("x-tag").collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(r.destination.port, Some(8080));
    assert_eq!(r.time, Some(1_700_000_000));
    let back = CheckRequest::from_value(&r.to_value()).unwrap();
    assert_eq!(back, r);
}

#[test]
fn rejects_bad_input_precisely() {
    let e = CheckRequest::from_json(r#"{"headers":{"a":1}}"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "headers.a: expected a string or an array of strings, found number `1`"
    );
    let e = CheckRequest::from_json(r#"{"source":{"address":"10.0.0.300"}}"#).unwrap_err();
    assert_eq!(e.path, "source.address");
    let e = CheckRequest::from_json(r#"{"destination":{"port":70000}}"#).unwrap_err();
    assert_eq!(e.path, "destination.port");
    let e = CheckRequest::from_json(r#"{"methd":"GET"}"#).unwrap_err();
    assert!(e.message.contains("did you mean `method`"), "{e}");
    let e = CheckRequest::from_json(r#"{"headers":{"bad name":"x"}}"#).unwrap_err();
    assert_eq!(e.code, ErrorCode::Invalid);
}
