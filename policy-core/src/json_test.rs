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

/// The char-by-char writer `write_str` replaced (runs of plain bytes are now copied whole):
/// the reference of the differential test below.
fn write_str_reference(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[test]
fn write_str_matches_the_reference_and_reads_back() {
    // Strings drawn from an alphabet of every escaped character, the bytes around them
    // (U+2027, U+202A and other E2 80 xx / E2 xx sequences) and plain ASCII and non-ASCII.
    let alphabet: Vec<char> = (0u32..0x20)
        .filter_map(char::from_u32)
        .chain("\"\\/ az~\u{7f}\u{80}é€\u{2027}\u{2028}\u{2029}\u{202a}\u{2100}\u{e000}😀".chars())
        .collect();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..20_000 {
        let len = (next() % 24) as usize;
        let s: String = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        let (mut ours, mut reference) = (String::new(), String::new());
        write_str(&s, &mut ours);
        write_str_reference(&s, &mut reference);
        assert_eq!(ours, reference, "round {round}: {s:?}");
        assert_eq!(
            parse(&ours, Limits::TOKEN).unwrap(),
            Value::String(s.clone()),
            "{ours}"
        );
        let serde: String = serde_json::from_str(&ours).unwrap();
        assert_eq!(serde, s, "serde_json reads {ours} back");
    }
}

/// `write_int` / `write_digits` against `format!` on edges and random values.
#[test]
fn integers_match_the_formatter() {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    let mut values: Vec<i64> = vec![
        0,
        1,
        -1,
        9,
        10,
        -10,
        99,
        100,
        i64::MAX,
        i64::MIN,
        i64::MIN + 1,
    ];
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Every magnitude: shift the random word by 0..63 bits.
        values.push(((x >> (x % 64)) as i64).wrapping_mul(if x & 1 == 0 { 1 } else { -1 }));
    }
    for v in values {
        let mut out = String::from("x");
        write_int(v, &mut out);
        assert_eq!(out, format!("x{v}"));
        for width in [0, 1, 2, 4, 19, 20] {
            let mut out = String::new();
            write_digits(v.unsigned_abs(), width, &mut out);
            assert_eq!(
                out,
                format!("{:0width$}", v.unsigned_abs()),
                "{v} width {width}"
            );
        }
    }
}

/// The word-at-a-time `needs_escape` against the byte-by-byte predicate, on random byte
/// strings of every length up to 40 drawn from the bytes around each boundary it tests.
#[test]
fn needs_escape_matches_the_bytewise_scan() {
    let alphabet = [
        0x00u8, 0x01, 0x1f, 0x20, 0x21, b'"', b'#', b'!', b'\\', 0x5b, 0x5d, b'a', 0x7f, 0x80,
        0x81, 0xa0, 0xe1, 0xe2, 0xe3, 0xfe, 0xff, 0x62, 0xa2, 0x9c,
    ];
    let reference = |b: &[u8]| {
        b.iter()
            .any(|&c| c < 0x20 || c == b'"' || c == b'\\' || c == 0xe2)
    };
    let mut x = 0x1234_5678_9abc_def1_u64;
    let mut hits = 0;
    for _ in 0..100_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % 41) as usize;
        // Mostly plain bytes, so both answers are common.
        let bytes: Vec<u8> = (0..len)
            .map(|i| {
                let r = x.rotate_left(i as u32 * 7) ^ (i as u64).wrapping_mul(0x9e37_79b9);
                if r.is_multiple_of(23) {
                    alphabet[(r / 23 % alphabet.len() as u64) as usize]
                } else {
                    [b'a', 0x20, 0x21, 0x7f, 0x80, 0xe3, 0xe1, 0xff][(r % 8) as usize]
                }
            })
            .collect();
        let want = reference(&bytes);
        hits += usize::from(want);
        assert_eq!(needs_escape(&bytes), want, "{bytes:02x?}");
    }
    assert!(hits > 10_000 && hits < 90_000, "{hits}");
}
