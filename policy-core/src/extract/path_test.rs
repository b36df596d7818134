//! Unit tests of `path.rs`.

use super::*;
use alloc::string::ToString;
use alloc::vec::Vec;
use PathNormalization::*;

const MODES: [PathNormalization; 4] = [Strict, Base, MergeSlashes, DecodeAndMergeSlashes];

/// `Ok(path)` or `Err(code)`.
fn run(raw: &str, mode: PathNormalization) -> Result<String, &'static str> {
    canonicalize_path(raw, mode)
        .map(|c| c.path)
        .map_err(|e| e.code())
}

/// Each row: input, then the outcome in STRICT, BASE, MERGE_SLASHES,
/// DECODE_AND_MERGE_SLASHES. An outcome starting with `!` is an error code.
const TABLE: &[(&str, [&str; 4])] = &[
    ("//admin", ["/admin", "//admin", "/admin", "/admin"]),
    ("/a/../admin", ["/admin"; 4]),
    ("/%61dmin", ["/admin"; 4]),
    (
        "/admin%2F",
        ["!encoded_slash", "/admin%2F", "/admin%2F", "/admin/"],
    ),
    (
        "/admin%2f..",
        ["!encoded_slash", "/admin%2F..", "/admin%2F..", "/"],
    ),
    (
        "/admin\\x",
        ["!backslash", "!backslash", "!backslash", "/admin/x"],
    ),
    ("/ADMIN", ["/ADMIN"; 4]),
    ("/admin/", ["/admin/"; 4]),
    ("/admin#x", ["/admin"; 4]),
    ("/admin?x", ["/admin"; 4]),
    ("/admin?x#y", ["/admin"; 4]),
    ("/..;/admin", ["!path_parameter"; 4]),
    ("/a/.;x/admin", ["!path_parameter"; 4]),
    ("/a/.%3bx/admin", ["!path_parameter"; 4]),
    ("/a/%2e%2e%3B/admin", ["!path_parameter"; 4]),
    (
        "/admin;jsessionid=1",
        [
            "!path_parameter",
            "/admin;jsessionid=1",
            "/admin;jsessionid=1",
            "/admin;jsessionid=1",
        ],
    ),
    (
        "/admin%3bx",
        ["!path_parameter", "/admin%3Bx", "/admin%3Bx", "/admin%3Bx"],
    ),
    (
        "/%2e%2e/admin",
        ["!above_root", "/admin", "/admin", "/admin"],
    ),
    ("/a/%2E./admin", ["/admin"; 4]),
    ("/a/.%2e/admin", ["/admin"; 4]),
    (
        "/%2e%2e%2fadmin",
        ["!encoded_slash", "/..%2Fadmin", "/..%2Fadmin", "/admin"],
    ),
    ("/a/./b", ["/a/b"; 4]),
    ("/a/b/..", ["/a/"; 4]),
    ("/a/b/.", ["/a/b/"; 4]),
    ("/a/..", ["/"; 4]),
    ("/.", ["/"; 4]),
    ("/./", ["/"; 4]),
    ("/", ["/"; 4]),
    ("/..", ["!above_root", "/", "/", "/"]),
    ("/a/../..", ["!above_root", "/", "/", "/"]),
    (
        "/../../etc/passwd",
        ["!above_root", "/etc/passwd", "/etc/passwd", "/etc/passwd"],
    ),
    ("/a//b/../c", ["/a/c", "/a//c", "/a/c", "/a/c"]),
    ("/a//..", ["/", "/a/", "/", "/"]),
    ("%", ["!not_absolute"; 4]),
    ("/%", ["!bad_escape"; 4]),
    ("/%4", ["!bad_escape"; 4]),
    ("/%zz", ["!bad_escape"; 4]),
    ("/%4g", ["!bad_escape"; 4]),
    ("/%00", ["!encoded_nul"; 4]),
    ("/%25", ["/%25"; 4]),
    ("/%2561", ["/%2561"; 4]),
    ("/%252e%252e/", ["/%252e%252e/"; 4]),
    ("/caf%C3%A9", ["/caf%C3%A9"; 4]),
    ("/caf%c3%a9", ["/caf%C3%A9"; 4]),
    ("/caf\u{e9}", ["!invalid_character"; 4]),
    ("/a b", ["!invalid_character"; 4]),
    ("/a\tb", ["!invalid_character"; 4]),
    ("/a\u{7f}", ["!invalid_character"; 4]),
    ("/a?b c", ["!invalid_character"; 4]),
    ("/a#\u{1}", ["!invalid_character"; 4]),
    ("", ["!empty"; 4]),
    ("*", ["!not_absolute"; 4]),
    ("http://x/a", ["!not_absolute"; 4]),
    ("admin", ["!not_absolute"; 4]),
    ("?x", ["!not_absolute"; 4]),
    ("/a{b}", ["!invalid_character", "/a{b}", "/a{b}", "/a{b}"]),
    ("/a|b^[c]", ["/a|b^[c]"; 4]),
    ("/a%5cb", ["!encoded_backslash", "/a%5Cb", "/a%5Cb", "/a/b"]),
    ("/%7e%2D%5f%41", ["/~-_A"; 4]),
    ("/a%3a%40%2b", ["/a%3A%40%2B"; 4]),
    // Istio's documented examples.
    ("/public/./data/abc/../xyz", ["/public/data/xyz"; 4]),
    (
        "/some//data///abc",
        [
            "/some/data/abc",
            "/some//data///abc",
            "/some/data/abc",
            "/some/data/abc",
        ],
    ),
    (
        "/some%2fdata/%61%62%63",
        [
            "!encoded_slash",
            "/some%2Fdata/abc",
            "/some%2Fdata/abc",
            "/some/data/abc",
        ],
    ),
    (
        "/some\\data",
        ["!backslash", "!backslash", "!backslash", "/some/data"],
    ),
    (
        "/a/b%2F..%2F..%2Fc",
        [
            "!encoded_slash",
            "/a/b%2F..%2F..%2Fc",
            "/a/b%2F..%2F..%2Fc",
            "/c",
        ],
    ),
];

#[test]
fn table() {
    let mut failures = Vec::new();
    for (raw, expected) in TABLE {
        for (mode, want) in MODES.iter().zip(expected) {
            let got = match run(raw, *mode) {
                Ok(p) => p,
                Err(code) => format!("!{code}"),
            };
            if got != *want {
                failures.push(format!(
                    "{raw:?} in {}: got {got:?}, want {want:?}",
                    mode.as_str()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn query_and_fragment() {
    let q = |raw| canonicalize_path(raw, Strict).unwrap().query;
    assert_eq!(q("/admin"), None);
    assert_eq!(q("/admin#x"), None);
    assert_eq!(q("/admin?x"), Some("x".to_string()));
    assert_eq!(q("/admin?x#y"), Some("x".to_string()));
    assert_eq!(q("/admin?"), Some(String::new()));
    assert_eq!(q("/admin?a=%2F&b=\\;#f?g"), Some("a=%2F&b=\\;".to_string()));
    assert_eq!(q("/admin#x?y"), None);
}

#[test]
fn length_limit() {
    let mut ok = String::from("/");
    ok.push_str(&"a".repeat(MAX_PATH_LEN - 1));
    assert_eq!(run(&ok, Strict).unwrap().len(), MAX_PATH_LEN);
    ok.push('a');
    for mode in MODES {
        assert_eq!(run(&ok, mode), Err("too_long"));
    }
    // Many dot segments: linear, and clamped or refused.
    let dots = "/..".repeat(MAX_PATH_LEN / 3);
    assert_eq!(run(&dots, Strict), Err("above_root"));
    assert_eq!(run(&dots, Base).unwrap(), "/");
    let deep = format!("{}{}", "/a".repeat(1365), "/..".repeat(1365));
    assert_eq!(run(&deep, Strict).unwrap(), "/");
}

#[test]
fn modes_parse_and_print() {
    for mode in MODES {
        assert_eq!(PathNormalization::parse(mode.as_str()), Some(mode));
    }
    assert_eq!(PathNormalization::default(), Strict);
    assert_eq!(PathNormalization::parse("NONE"), None);
    assert_eq!(PathNormalization::parse("strict"), None);
}

#[test]
fn messages() {
    let e = canonicalize_path("/admin%2Fx", Strict).unwrap_err();
    assert_eq!(
        e.to_string(),
        "encoded slash (`%2F`) at byte 6 of request path `/admin%2Fx`"
    );
    let e = canonicalize_path("/a\nb", Strict).unwrap_err();
    assert_eq!(
        e.to_string(),
        "character `\\n` (u+000a) is not allowed in a request path, at byte 2 of `/a\\nb`"
    );
    let e = canonicalize_path("/x/..;/admin", Base).unwrap_err();
    assert_eq!(
        e.to_string(),
        "path parameter (`;`) in segment `..;` of request path `/x/..;/admin`"
    );
    let e = canonicalize_path("/a;b/c", Strict).unwrap_err();
    assert_eq!(
        e,
        PathError::PathParameter {
            input: "/a;b/c".to_string(),
            segment: "a;b".to_string()
        }
    );
    let long = format!("/{}\\", "x".repeat(200));
    let msg = canonicalize_path(&long, Strict).unwrap_err().to_string();
    assert!(msg.contains('…') && msg.len() < 200, "{msg}");
    let e = canonicalize_path("http://x/a", Strict).unwrap_err();
    assert_eq!(
        e.to_string(),
        "expected a path starting with `/`, found `http://x/a`"
    );
    let e = canonicalize_method("get").unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid method `get`: methods are case-sensitive and must be upper case, e.g. `GET`"
    );
    let e = canonicalize_host("a@b").unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid host `a@b`: userinfo (`@`) is not allowed"
    );
    for e in [
        PathError::Empty,
        PathError::TooLong { len: 9, max: 8 },
        canonicalize_path("/..", Strict).unwrap_err(),
        canonicalize_path("/%0", Strict).unwrap_err(),
        canonicalize_path("/%00", Strict).unwrap_err(),
        canonicalize_path("/%5c", Strict).unwrap_err(),
        canonicalize_path("/\\", Strict).unwrap_err(),
    ] {
        let s = e.to_string();
        assert!(s.starts_with(|c: char| c.is_ascii_lowercase()), "{s}");
    }
}

#[test]
fn methods() {
    for ok in ["GET", "PATCH", "PURGE", "M-SEARCH", "VERSION_CONTROL", "X1"] {
        assert_eq!(canonicalize_method(ok), Ok(ok));
    }
    for bad in [
        "get",
        "Get",
        "G E T",
        "",
        "GET\r\n",
        "GET/",
        "G\u{c9}T",
        &"A".repeat(33),
    ] {
        assert_eq!(
            canonicalize_method(bad).map_err(|e| e.code()),
            Err("bad_method"),
            "{bad:?}"
        );
    }
}

#[test]
fn hosts() {
    let cases: &[(&str, Result<&str, ()>)] = &[
        ("Example.COM", Ok("example.com")),
        ("example.com:443", Ok("example.com")),
        ("Api.Example.com:8443", Ok("api.example.com")),
        ("example.com.", Ok("example.com")),
        ("example.com.:80", Ok("example.com")),
        ("[::1]:8080", Ok("[::1]")),
        ("[::1]", Ok("[::1]")),
        ("[0:0:0:0:0:0:0:1]", Ok("[::1]")),
        ("[2001:DB8::A]:443", Ok("[2001:db8::a]")),
        ("10.0.0.1:80", Ok("10.0.0.1")),
        ("10.0.0.1.", Ok("10.0.0.1")),
        ("example.com:", Ok("example.com")),
        ("example.com:0", Ok("example.com")),
        ("example.com:65535", Ok("example.com")),
        ("", Ok("")),
        ("xn--caf-dma.example", Ok("xn--caf-dma.example")),
        ("my_host.internal", Ok("my_host.internal")),
        ("localhost", Ok("localhost")),
        ("a@b", Err(())),
        ("user:pw@example.com", Err(())),
        ("exa mple", Err(())),
        ("example.com:99999", Err(())),
        ("example.com:65536", Err(())),
        ("example.com:123456", Err(())),
        ("example.com:8a", Err(())),
        ("example.com:-1", Err(())),
        ("a:1:2", Err(())),
        ("::1", Err(())),
        ("[::1", Err(())),
        ("[::1]x", Err(())),
        ("[::1]:", Ok("[::1]")),
        ("[fe80::1%25eth0]", Err(())),
        ("[v1.x]", Err(())),
        ("[1.2.3.4]", Err(())),
        (".", Err(())),
        (":80", Err(())),
        ("a..b", Err(())),
        (".a", Err(())),
        ("example.com..", Err(())),
        ("caf\u{e9}.example", Err(())),
        ("ex%41mple.com", Err(())),
        ("*.example.com", Err(())),
        ("010.0.0.1", Err(())),
        ("0x7f.0.0.1", Err(())),
        ("127.1", Err(())),
        ("1.2.3.4.5", Err(())),
        ("256.0.0.1", Err(())),
        ("4294967295", Err(())),
        ("foo.0x10", Err(())),
        ("host\r\nx", Err(())),
    ];
    for (raw, want) in cases {
        let got = canonicalize_host(raw);
        match want {
            Ok(w) => assert_eq!(got.as_deref(), Ok(*w), "{raw:?}"),
            Err(()) => assert_eq!(got.map_err(|e| e.code()), Err("bad_host"), "{raw:?}"),
        }
    }
    let long = format!("{}.com", "a".repeat(250));
    assert_eq!(
        canonicalize_host(&long).map_err(|e| e.code()),
        Err("bad_host")
    );
    let label = format!("{}.com", "a".repeat(64));
    assert_eq!(
        canonicalize_host(&label).map_err(|e| e.code()),
        Err("bad_host")
    );
}

use crate::XorShift;

#[test]
fn random_paths_hold_the_invariants() {
    const ALPHABET: &[char] = &[
        '/', '/', '/', '/', '.', '.', '.', '.', '%', '%', '%', '2', '2', 'e', 'e', 'E', 'f', 'F',
        '5', 'c', 'C', ';', ';', '?', '#', '\\', 'a', 'b', '0', '3', 'B', '~', '-', '_', ' ', '\t',
        '{', '|', '\u{e9}', '\u{0}',
    ];
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut ok = [0usize; 4];
    for _ in 0..20_000 {
        let len = rng.below(24);
        let mut raw = String::new();
        if rng.below(10) != 0 {
            raw.push('/');
        }
        for _ in 0..len {
            raw.push(ALPHABET[rng.below(ALPHABET.len())]);
        }
        let mut results = Vec::new();
        for (m, mode) in MODES.into_iter().enumerate() {
            let Ok(c) = canonicalize_path(&raw, mode) else {
                results.push(None);
                continue;
            };
            ok[m] += 1;
            let p = c.path.as_str();
            let ctx = format!("{raw:?} in {} -> {p:?}", mode.as_str());
            assert!(p.starts_with('/'), "{ctx}");
            assert!(p.len() <= raw.len(), "{ctx}");
            assert!(!p.contains('\\'), "{ctx}");
            assert!(!p.contains("/./") && !p.contains("/../"), "{ctx}");
            assert!(!p.ends_with("/.") && !p.ends_with("/.."), "{ctx}");
            assert!(!p.contains(['?', '#']), "{ctx}");
            if mode.merges_slashes() {
                assert!(!p.contains("//"), "{ctx}");
            }
            if mode == Strict {
                assert!(!p.contains(';'), "{ctx}");
                assert!(!p.to_ascii_uppercase().contains("%2F"), "{ctx}");
                assert!(!p.to_ascii_uppercase().contains("%5C"), "{ctx}");
                assert!(!p.to_ascii_uppercase().contains("%3B"), "{ctx}");
            }
            if mode == DecodeAndMergeSlashes {
                assert!(!p.contains("%2F") && !p.contains("%5C"), "{ctx}");
            }
            let again = canonicalize_path(p, mode).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            assert_eq!(again.path, p, "not idempotent: {ctx}");
            results.push(Some(c.path));
        }
        // STRICT only refuses more: when it accepts, every merging mode agrees with it.
        if let Some(Some(strict)) = results.first() {
            for other in results.iter().skip(2) {
                assert_eq!(other.as_ref(), Some(strict), "{raw:?}");
            }
        }
    }
    // The generator must exercise the success paths, not only the errors.
    assert!(ok.iter().all(|&n| n > 1000), "{ok:?}");
}

/// `is_dotted_quad` against the standard library's parser and printer (the check it
/// replaced), on every edge octet and on random strings of digits, dots and other bytes.
#[test]
fn dotted_quads_match_std() {
    let reference = |s: &str| {
        s.parse::<core::net::Ipv4Addr>()
            .is_ok_and(|ip| alloc::format!("{ip}") == s)
    };
    let octets = [
        "0", "00", "01", "1", "9", "10", "99", "100", "199", "200", "249", "250", "255", "256",
        "260", "299", "300", "999", "0255", "1000", "", "a", "0x1", "+1", "-1", " 1",
    ];
    for a in octets {
        for b in ["0", "255", a] {
            let s = alloc::format!("{a}.{b}.1.{a}");
            assert_eq!(is_dotted_quad(&s), reference(&s), "{s:?}");
        }
        let s = alloc::format!("1.2.3.{a}");
        assert_eq!(is_dotted_quad(&s), reference(&s), "{s:?}");
    }
    let alphabet = b"0123456789012345.....x- 2559";
    let mut x = 0x853c_49e6_748f_ea9b_u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut accepted = 0;
    for _ in 0..200_000 {
        let len = (next() % 18) as usize;
        let s: alloc::string::String = (0..len)
            .map(|_| char::from(alphabet[(next() % alphabet.len() as u64) as usize]))
            .collect();
        let want = reference(&s);
        accepted += usize::from(want);
        assert_eq!(is_dotted_quad(&s), want, "{s:?}");
    }
    // The random strings reach both answers.
    assert!(accepted > 100, "{accepted}");
}

/// `canonicalize_host` as it was first written (`split_once`, `split`, `contains`): the
/// reference of the test below.
fn canonicalize_host_reference(raw: &str) -> Result<String, PathError> {
    let bad = |reason| PathError::BadHost {
        input: cut(raw),
        reason,
    };
    if raw.is_empty() {
        return Ok(String::new());
    }
    if raw.contains('@') {
        return Err(bad("userinfo (`@`) is not allowed"));
    }
    if let Some(after) = raw.strip_prefix('[') {
        let Some((inner, rest)) = after.split_once(']') else {
            return Err(bad("unclosed `[`"));
        };
        if !rest.is_empty() {
            let Some(port) = rest.strip_prefix(':') else {
                return Err(bad("unexpected text after `]`"));
            };
            check_port(port, raw)?;
        }
        if inner.contains('%') {
            return Err(bad("ipv6 zone ids are not allowed"));
        }
        let ip: Ipv6Addr = inner
            .parse()
            .map_err(|_| bad("not an ipv6 address between `[` and `]`"))?;
        return Ok(format!("[{ip}]"));
    }
    let name = match raw.split_once(':') {
        Some((name, port)) => {
            check_port(port, raw)?;
            name
        }
        None => raw,
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Err(bad("empty host name"));
    }
    if name.len() > MAX_HOST_LEN {
        return Err(bad("longer than 253 bytes"));
    }
    if let Some(b) = name
        .bytes()
        .find(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
    {
        return Err(if b == b':' {
            bad("ipv6 addresses must be in brackets, e.g. `[::1]:8080`")
        } else if b >= 0x80 {
            bad("non-ascii host name: send its `xn--` form")
        } else {
            bad("only letters, digits, `-`, `_` and `.` are allowed in a host name")
        });
    }
    let mut last = "";
    for label in name.split('.') {
        if label.is_empty() {
            return Err(bad("empty label"));
        }
        if label.len() > 63 {
            return Err(bad("label longer than 63 bytes"));
        }
        last = label;
    }
    let lower = name.to_ascii_lowercase();
    let numeric = last.bytes().all(|b| b.is_ascii_digit())
        || last.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("0x"));
    if numeric && !is_dotted_quad(&lower) {
        return Err(bad("a numeric host must be a dotted-quad ipv4 address"));
    }
    Ok(lower)
}

/// `canonicalize_host` against its first version on 100,000 random hosts built from the
/// fragments each branch looks at (ports, brackets, dots, numeric and `0x` labels, long labels,
/// upper case, non-ASCII, `@`, `%`): the same canonical host or the same error.
#[test]
fn hosts_match_the_reference() {
    let long = "a".repeat(63);
    let longer = "b".repeat(64);
    let fragments = [
        "a",
        "Z",
        "example",
        "com",
        "0",
        "1",
        "25",
        "255",
        "256",
        "01",
        "0x1f",
        "0X",
        ".",
        ".",
        "..",
        ":",
        ":80",
        ":",
        ":65535",
        ":65536",
        ":0x1",
        "@",
        "[",
        "]",
        "::1",
        "[::1]",
        "[2001:DB8::A]",
        "%",
        "-",
        "_",
        "é",
        "1.2.3.4",
        "9",
        long.as_str(),
        longer.as_str(),
        "!",
        " ",
    ];
    let mut rng = XorShift(0x005e_ed0f_4057);
    let (mut oks, mut errs) = (0, 0);
    for case in 0..100_000 {
        let raw: String = (0..rng.below(7))
            .map(|_| fragments[rng.below(fragments.len())])
            .collect();
        let want = canonicalize_host_reference(&raw);
        assert_eq!(canonicalize_host(&raw), want, "case {case}: {raw:?}");
        if want.is_ok() {
            oks += 1;
        } else {
            errs += 1;
        }
    }
    // Hosts over 253 bytes, too.
    for n in [250, 253, 254, 300] {
        let raw = "a.".repeat(n / 2) + "b";
        assert_eq!(
            canonicalize_host(&raw),
            canonicalize_host_reference(&raw),
            "{n}"
        );
    }
    assert!(oks > 10_000 && errs > 10_000, "{oks} ok, {errs} refused");
}
