//! Differential test of the float writer against `core`'s shortest digits (`{:e}`, Grisu /
//! Dragon4), on random doubles of every exponent, random short decimals and edge values.
//! `VIGIL_FLOAT_CASES` raises the number of random cases (default 20,000 of each kind).

use super::*;
use alloc::format;
use alloc::string::ToString;

fn ours(f: f64) -> String {
    let mut s = String::new();
    write_f64(f, &mut s);
    s
}

/// `(sign, digits without leading or trailing zeros, n)` with `|value| = 0.digits × 10ⁿ`, read
/// from decimal text in plain or exponent form.
fn decompose(text: &str) -> (bool, String, i32) {
    let (negative, t) = match text.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, text),
    };
    let (mantissa, exp) = match t.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.trim_start_matches('+').parse::<i32>().unwrap()),
        None => (t, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all = format!("{int}{frac}");
    let lead = all.len() - all.trim_start_matches('0').len();
    let digits = all
        .trim_start_matches('0')
        .trim_end_matches('0')
        .to_string();
    let n = int.len() as i32 - lead as i32 + exp;
    (negative, digits, n)
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn cases() -> usize {
    option_env!("VIGIL_FLOAT_CASES")
        .and_then(|v| v.parse().ok())
        .or_else(|| std::env::var("VIGIL_FLOAT_CASES").ok()?.parse().ok())
        .unwrap_or(20_000)
}

/// Ours reads back as `f`, through `str::parse` and through Vigil's own JSON parser, and has
/// `core`'s shortest digits and exponent.
fn check(f: f64) {
    let text = ours(f);
    assert_eq!(
        text.parse::<f64>(),
        Ok(f),
        "{text} does not read back as {f:e}"
    );
    let parsed = crate::json::parse(&text, crate::json::Limits::TOKEN)
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    match parsed {
        crate::json::Value::Number(n) => assert_eq!(n.as_f64(), f, "{text}"),
        other => panic!("{text} parsed as {other:?}"),
    }
    if f == 0.0 {
        return;
    }
    let (sign, digits, n) = decompose(&text);
    let core = decompose(&format!("{f:e}"));
    if (sign, &digits, n) == (core.0, &core.1, core.2) {
        return;
    }
    // Only an exact tie may differ: core rounds it half up, ECMAScript (and ours) to even.
    let (exact, en) = exact_digits(f.abs());
    let p = digits.len();
    let tail = &exact[p..];
    assert!(
        en == n && core.2 == n && core.1.len() == p,
        "{text} against core's {f:e}: not the same length"
    );
    assert!(
        tail[0] == 5 && tail[1..].iter().all(|d| *d == 0),
        "{text} against core's {f:e}: differ without a tie"
    );
    assert!(
        (digits.as_bytes()[p - 1] - b'0').is_multiple_of(2),
        "{text}: a tie not rounded to even"
    );
}

#[test]
fn random_doubles_of_every_exponent() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut done = 0;
    while done < cases() {
        let f = f64::from_bits(rng.next());
        if f.is_finite() {
            check(f);
            done += 1;
        }
    }
}

#[test]
fn random_short_decimals() {
    // What claims hold: a few digits and a modest exponent (1700000000.5, 0.25, 3.14159).
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for _ in 0..cases() {
        let len = 1 + rng.next() % 17;
        let digits: String = (0..len)
            .map(|_| char::from(b'0' + (rng.next() % 10) as u8))
            .collect();
        let exp = (rng.next() % 60) as i32 - 30;
        let text = format!("{digits}e{exp}");
        let f: f64 = text.parse().unwrap();
        check(f);
        check(-f);
    }
}

#[test]
fn edges() {
    let mut values = vec![
        f64::MIN_POSITIVE,
        f64::MAX,
        f64::EPSILON,
        5e-324,
        f64::from_bits(0x000f_ffff_ffff_ffff), // the largest subnormal
        0.1,
        0.2,
        0.3,
        1.0 / 3.0,
        2.0 / 3.0,
        1.5,
        0.5,
        9.5,
        0.000001,
        0.0000001,
        1e21,
        1e20,
        123456789012345680000.0,
        9007199254740993.0,
        1e15 + 0.5,
        1700000000.5,
        4.35,
        0.95,
        999999999999999.9,
    ];
    for e in -325..=308 {
        values.push(format!("1e{e}").parse().unwrap());
        values.push(format!("5e{e}").parse().unwrap());
        values.push(format!("9.999999999999999e{e}").parse().unwrap());
    }
    for k in -1074..=1023 {
        values.push(2f64.powi(k));
    }
    for f in values {
        if f.is_finite() && f != 0.0 {
            check(f);
            check(-f);
        }
    }
}

#[test]
fn layout_is_ecmascripts() {
    // Number::prototype.toString, as JSON.stringify writes numbers.
    for (f, text) in [
        (1.5, "1.5"),
        (-2.5, "-2.5"),
        (0.1, "0.1"),
        (0.000001, "0.000001"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (1e21, "1e+21"),
        (1.25e21, "1.25e+21"),
        (1e20, "100000000000000000000"),
        (123456789012345680000.0, "123456789012345680000"),
        (5e-324, "5e-324"),
        (f64::MAX, "1.7976931348623157e+308"),
        (1700000000.5, "1700000000.5"),
        (0.0, "0"),
        (f64::NAN, "null"),
    ] {
        assert_eq!(ours(f), text, "{f:e}");
    }
}

#[test]
fn ties_round_half_to_even() {
    // The nearest first, then the other neighbour; exact cuts have one candidate.
    assert_eq!(
        round(&[1, 2, 5], 1, 2),
        vec![(vec![1, 2], 1), (vec![1, 3], 1)]
    );
    assert_eq!(
        round(&[1, 3, 5], 1, 2),
        vec![(vec![1, 4], 1), (vec![1, 3], 1)]
    );
    assert_eq!(
        round(&[1, 2, 5, 0, 1], 1, 2),
        vec![(vec![1, 3], 1), (vec![1, 2], 1)]
    );
    assert_eq!(
        round(&[1, 2, 4, 9], 1, 2),
        vec![(vec![1, 2], 1), (vec![1, 3], 1)]
    );
    assert_eq!(
        round(&[9, 9, 9, 5], 0, 3),
        vec![(vec![1], 1), (vec![9, 9, 9], 0)]
    );
    assert_eq!(round(&[4, 0, 0], 3, 5), vec![(vec![4], 3)]);
    // 810166998301160.25 is exactly representable: a tie at 16 digits, written even.
    let tie: f64 = "810166998301160.25".parse().unwrap();
    assert_eq!(ours(tie), "810166998301160.2");
}
