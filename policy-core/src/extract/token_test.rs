//! Unit tests of `token.rs`.

use super::*;

fn bearer() -> Vec<TokenLocation> {
    alloc::vec![TokenLocation::default_bearer()]
}

fn code(r: Result<Option<FoundToken>, TokenError>) -> &'static str {
    r.unwrap_err().code()
}

#[test]
fn bearer_grammar() {
    let loc = bearer();
    let get = |v: &str| {
        find_token(
            &CheckRequest::default().with_header("authorization", v),
            &loc,
        )
    };
    assert_eq!(get("Bearer a.b.c").unwrap().unwrap().token, "a.b.c");
    assert_eq!(get("bearer a.b.c").unwrap().unwrap().token, "a.b.c");
    assert_eq!(get("BEARER   a.b.c").unwrap().unwrap().token, "a.b.c");
    assert_eq!(get("Basic dXNlcg==").unwrap(), None);
    assert_eq!(get("Bearerx a.b.c").unwrap(), None);
    assert_eq!(code(get("Bearer")), "malformed");
    assert_eq!(code(get("Bearer ")), "malformed");
    assert_eq!(code(get("Bearer a.b.c x")), "malformed");
    assert_eq!(code(get("Bearer a.b.c ")), "malformed");
    assert_eq!(code(get("Bearer a.b.c, Bearer d.e.f")), "multiple_tokens");
    assert_eq!(code(get("Bearer a\"b")), "malformed");
    assert_eq!(code(get("Bearer a=b")), "malformed");
    let two = CheckRequest::default()
        .with_header("authorization", "Bearer a.b.c")
        .with_header("authorization", "Bearer a.b.c");
    assert_eq!(code(find_token(&two, &loc)), "multiple_tokens");
    let two = CheckRequest::default()
        .with_header("authorization", "Basic x")
        .with_header("authorization", "Bearer a.b.c");
    assert_eq!(code(find_token(&two, &loc)), "multiple_tokens");
    assert_eq!(find_token(&CheckRequest::default(), &loc).unwrap(), None);
}

#[test]
fn params_and_cookies() {
    let loc = alloc::vec![
        TokenLocation::default_bearer(),
        TokenLocation::Param("access_token".into()),
        TokenLocation::Cookie("session".into()),
    ];
    let mut r = CheckRequest::new("GET", "/x?a=1&access%5Ftoken=a%2Eb.c#frag", "h");
    let t = find_token(&r, &loc).unwrap().unwrap();
    assert_eq!(t.token, "a.b.c");
    assert_eq!(t.source, TokenSource::Param("access_token".into()));
    r.path = "/x?access_token=a.b.c&access_token=a.b.c".into();
    assert_eq!(code(find_token(&r, &loc)), "multiple_tokens");
    r.path = "/x?access_token=a%zz".into();
    assert_eq!(code(find_token(&r, &loc)), "malformed");
    r.path = "/x?access_token=".into();
    assert_eq!(code(find_token(&r, &loc)), "malformed");
    r.path = "/x?access_token=a.b.c".into();
    let both = r.clone().with_header("authorization", "Bearer a.b.c");
    assert_eq!(code(find_token(&both, &loc)), "multiple_tokens");

    let r = CheckRequest::new("GET", "/", "h")
        .with_header("cookie", "a=1; session=\"x.y.z\"")
        .with_header("cookie", "b=2");
    let t = find_token(&r, &loc).unwrap().unwrap();
    assert_eq!(t.token, "x.y.z");
    assert_eq!(t.source, TokenSource::Cookie("session".into()));
    let r = CheckRequest::new("GET", "/", "h")
        .with_header("cookie", "session=x.y.z")
        .with_header("cookie", "session=x.y.z");
    assert_eq!(code(find_token(&r, &loc)), "multiple_tokens");
}

#[test]
fn custom_prefixes() {
    let loc = alloc::vec![
        TokenLocation::Header {
            name: "x-jwt".into(),
            prefix: "".into()
        },
        TokenLocation::default_bearer(),
        TokenLocation::default_bearer(),
    ];
    let r = CheckRequest::default().with_header("x-jwt", "a.b.c");
    assert_eq!(find_token(&r, &loc).unwrap().unwrap().token, "a.b.c");
    // The same default location twice is one location.
    let r = CheckRequest::default().with_header("authorization", "Bearer a.b.c");
    assert_eq!(find_token(&r, &loc).unwrap().unwrap().token, "a.b.c");
    let r = CheckRequest::default().with_header("x-jwt", "a.b.c d");
    assert_eq!(code(find_token(&r, &loc)), "malformed");
}

#[test]
fn percent() {
    assert_eq!(percent_decode("a%41+").as_deref(), Some("aA+"));
    assert_eq!(percent_decode("%4"), None);
    assert_eq!(percent_decode("%ff"), None);
}

#[test]
fn b64token_table_is_the_grammar() {
    // RFC 6750: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
    let grammar = |b: u8| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b);
    for b in 0..=255u8 {
        assert_eq!(B64TOKEN[usize::from(b)], grammar(b), "byte {b:#04x}");
        assert_eq!(all_b64token(&[b'a', b, b'z']), grammar(b), "byte {b:#04x}");
    }
    assert!(all_b64token(b""));
}
