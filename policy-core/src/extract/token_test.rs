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
    // The found token, owned (it borrows the request).
    let get = |v: &str| {
        let req = CheckRequest::default().with_header("authorization", v);
        find_token(&req, &loc).map(|f| {
            f.map(|f| FoundToken {
                token: f.token.into_owned().into(),
                source: SourceRef::Header("authorization"),
            })
        })
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
    assert_eq!(t.source.owned(), TokenSource::Param("access_token".into()));
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
    assert_eq!(t.source.owned(), TokenSource::Cookie("session".into()));
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

/// The word-at-a-time scan against the byte-by-byte grammar: every byte value at every place
/// of a word (and of the remainder), then 200,000 random strings of 0–40 bytes drawn mostly
/// from the token alphabet, with the characters the fast path leaves to the table (`+`, `~`,
/// `=`), the neighbours of every range edge, and bytes at and above 0x80.
#[test]
fn word_scan_matches_the_grammar() {
    let grammar = |b: u8| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b);
    let reference = |t: &[u8]| {
        if t.iter().all(|&b| grammar(b)) {
            Scan::Valid {
                padded: t.contains(&b'='),
            }
        } else {
            Scan::Invalid
        }
    };
    for len in [8usize, 16, 13] {
        for at in 0..len {
            for b in 0..=255u8 {
                let mut t = alloc::vec![b'a'; len];
                t[at] = b;
                assert_eq!(
                    scan_b64token(&t),
                    reference(&t),
                    "byte {b:#04x} at {at} of {len}"
                );
            }
        }
    }
    let common = b"ABCXYZabcxyz0189-._/";
    let edges = b"+~=,:@[`{\x2c\x2f\x3a\x40\x5b\x5e\x60\x7b\x7f \t\0";
    let mut rng = crate::XorShift(0x9e37_79b9_7f4a_7c15);
    let (mut valid, mut padded) = (0, 0);
    for case in 0..200_000 {
        let len = rng.below(41);
        let t: Vec<u8> = (0..len)
            .map(|_| match rng.below(100) {
                0..=89 => common[rng.below(common.len())],
                90..=96 => edges[rng.below(edges.len())],
                _ => 0x80 + rng.below(128) as u8,
            })
            .collect();
        let want = reference(&t);
        assert_eq!(scan_b64token(&t), want, "case {case}: {t:?}");
        valid += usize::from(want != Scan::Invalid);
        padded += usize::from(want == Scan::Valid { padded: true });
    }
    // The corpus reaches both outcomes often.
    assert!(
        valid > 10_000 && padded > 1_000,
        "{valid} valid, {padded} padded"
    );
}

/// The header part of `find_token` as it was written first (collected names, prefixes sorted
/// longest first and deduplicated, values collected): the reference of the test below.
fn header_token_reference<'a>(
    req: &'a CheckRequest,
    locations: &'a [TokenLocation],
) -> Result<Option<FoundToken<'a>>, TokenError> {
    let mut found: Option<FoundToken<'a>> = None;
    let mut names: Vec<&str> = Vec::new();
    for loc in locations {
        if let TokenLocation::Header { name, .. } = loc {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
    }
    for name in names {
        let mut prefixes: Vec<&str> = locations
            .iter()
            .filter_map(|l| match l {
                TokenLocation::Header { name: n, prefix } if n == name => Some(prefix.as_str()),
                _ => None,
            })
            .collect();
        prefixes.sort_by_key(|p| core::cmp::Reverse(p.len()));
        prefixes.dedup();
        let values: Vec<&str> = req.header_values(name).collect();
        let mut hit = None;
        for value in &values {
            for p in &prefixes {
                if let Some(t) = after_prefix(value, p)? {
                    if hit.is_some() {
                        return Err(err(TokenErrorKind::MultipleTokens));
                    }
                    hit = Some(t);
                    break;
                }
            }
        }
        if let Some(t) = hit {
            if values.len() > 1 {
                return Err(err(TokenErrorKind::MultipleTokens));
            }
            if found.is_some() {
                return Err(err(TokenErrorKind::MultipleTokens));
            }
            found = Some(FoundToken {
                token: t.into(),
                source: SourceRef::Header(name),
            });
        }
    }
    Ok(found)
}

/// `find_token` (header locations) against the reference above on random location lists
/// (repeated names and prefixes, prefixes of equal length, empty prefixes) and random
/// header values (no token, the scheme alone, two tokens, repeated headers).
#[test]
fn header_tokens_match_the_reference() {
    let names = ["authorization", "x-jwt", "x-token"];
    let prefixes = [
        "Bearer ", "Bearer", "", "Token ", "JWT ", "bearer  ", "Bear", "Bearer x",
    ];
    let values = [
        "Bearer a.b.c",
        "bearer a.b.c",
        "Token a.b.c",
        "JWT x.y.z",
        "a.b.c",
        "Bearerx.y.z",
        "Bearer",
        "Bearer  a.b.c",
        "Bearer a.b.c, Bearer d.e.f",
        "Bear a.b.c",
        "Bearer x.y.z d",
        "",
    ];
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    let (mut oks, mut errs) = (0, 0);
    for case in 0..20_000 {
        let locations: Vec<TokenLocation> = (0..1 + next(4))
            .map(|_| TokenLocation::Header {
                name: names[next(names.len())].into(),
                prefix: prefixes[next(prefixes.len())].into(),
            })
            .collect();
        let mut req = CheckRequest::default();
        for _ in 0..next(4) {
            req = req.with_header(names[next(names.len())], values[next(values.len())]);
        }
        let ours = find_token(&req, &locations);
        let want = header_token_reference(&req, &locations);
        match (&ours, &want) {
            (Ok(a), Ok(b)) => {
                oks += usize::from(a.is_some());
                assert_eq!(
                    a.as_ref().map(|f| (&f.token, &f.source)),
                    b.as_ref().map(|f| (&f.token, &f.source)),
                    "case {case}: {locations:?} {req:?}"
                );
            }
            (Err(a), Err(b)) => {
                errs += 1;
                assert_eq!(a.code(), b.code(), "case {case}: {locations:?} {req:?}");
            }
            _ => panic!("case {case}: {ours:?} vs {want:?} for {locations:?} {req:?}"),
        }
    }
    assert!(oks > 1_000 && errs > 1_000, "{oks} {errs}");
}
