//! Writing a non-integral JSON number without `core::fmt`'s float formatting.
//!
//! `write!(out, "{f}")` links Grisu and Dragon4 (about 17 KB of filter.wasm, where every byte
//! counts against its size budget), for numbers that are rare in Vigil's output: a claim such
//! as `"exp": 1700000000.5` copied into a header or a decision record. This writer computes the
//! exact decimal expansion of the double with a small big number (a double is `m·2^e`, whose
//! expansion is `m·2^e` or `m·5^−e / 10^−e`: finite), then cuts it to 1, 2, … significant
//! digits (a binary search: a form that reads back at p digits implies one at p+1), nearest
//! first, until the text reads back as the same double (17 digits always do):
//! the shortest form, and the nearest of that length, ties to even — ECMAScript's rule. Slow
//! next to Ryū (tens of µs for a subnormal), which does not matter for numbers this rare.
//! It is differential-tested against `core`'s own shortest digits (`json/float_test.rs`),
//! which differ only on exact ties, where `core` rounds half up.
//!
//! The text follows ECMAScript's `Number::toString` layout (what `JSON.stringify` writes):
//! plain digits for decimal exponents from −6 to 20, `1.5e+21` / `1e-7` beyond.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

/// One limb of the decimal big number: nine decimal digits.
const BASE: u64 = 1_000_000_000;

/// `x *= f` for a big number in base 10⁹, least significant limb first (`f < 2^31`).
fn mul_small(x: &mut Vec<u32>, f: u64) {
    let mut carry = 0u64;
    for limb in x.iter_mut() {
        let v = u64::from(*limb) * f + carry;
        *limb = (v % BASE) as u32;
        carry = v / BASE;
    }
    while carry > 0 {
        x.push((carry % BASE) as u32);
        carry /= BASE;
    }
}

/// The exact decimal digits of a finite, positive `f` (no leading zeros) and the decimal
/// exponent `n` with `f = 0.d₁d₂… × 10ⁿ`.
fn exact_digits(f: f64) -> (Vec<u8>, i32) {
    let bits = f.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (mant, exp) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), biased - 1075)
    };
    let mut x: Vec<u32> = Vec::new();
    let mut m = mant;
    while m > 0 {
        x.push((m % BASE) as u32);
        m /= BASE;
    }
    // m·2^e, or m·5^−e with the point −e digits from the right.
    let (mut left, factor, step) = if exp >= 0 {
        (exp, 2u64, 1u64 << 30)
    } else {
        (-exp, 5u64, 1_220_703_125)
    };
    let chunk = if exp >= 0 { 30 } else { 13 };
    while left >= chunk {
        mul_small(&mut x, step);
        left -= chunk;
    }
    mul_small(&mut x, factor.pow(left.unsigned_abs()));
    let mut digits = Vec::with_capacity(x.len() * 9);
    for (i, limb) in x.iter().rev().enumerate() {
        let group = *limb;
        for p in (0..9).rev() {
            let d = (group / 10u32.pow(p) % 10) as u8;
            if i == 0 && digits.is_empty() && d == 0 {
                continue;
            }
            digits.push(d);
        }
    }
    let len = digits.len() as i32;
    let n = if exp >= 0 { len } else { len + exp };
    (digits, n)
}

/// `digits` (of `0.d₁d₂… × 10ⁿ`) cut to at most `p` digits: the nearest (half to even)
/// first, then the other neighbour when the cut dropped anything, each without trailing
/// zeros and with its exponent (one more when rounding up carries out: 0.99… → 0.1).
fn round(digits: &[u8], n: i32, p: usize) -> Vec<(Vec<u8>, i32)> {
    let Some((&next, rest)) = digits.get(p..).and_then(|tail| tail.split_first()) else {
        return vec![(trimmed(digits.to_vec()), n)];
    };
    let down = digits.get(..p).unwrap_or(digits).to_vec();
    let odd = down.last().is_some_and(|d| d % 2 == 1);
    let nearest_up = next > 5 || (next == 5 && (rest.iter().any(|d| *d != 0) || odd));
    let (up, n_up) = increment(down.clone(), n);
    let (down, up) = ((trimmed(down), n), (trimmed(up), n_up));
    if nearest_up {
        vec![up, down]
    } else {
        vec![down, up]
    }
}

/// Without trailing zeros.
fn trimmed(mut digits: Vec<u8>) -> Vec<u8> {
    while digits.last() == Some(&0) {
        digits.pop();
    }
    digits
}

/// One unit more in the last digit of `0.d₁d₂… × 10ⁿ`.
fn increment(mut digits: Vec<u8>, n: i32) -> (Vec<u8>, i32) {
    for d in digits.iter_mut().rev() {
        if *d == 9 {
            *d = 0;
        } else {
            *d += 1;
            return (digits, n);
        }
    }
    // Every digit was 9: 0.99…9 + one unit = 0.1 × 10.
    digits.insert(0, 1);
    digits.pop();
    (digits, n + 1)
}

/// `0.d₁d₂… × 10ⁿ` in ECMAScript's layout.
fn render(negative: bool, digits: &[u8], n: i32, out: &mut String) {
    let ch = |d: &u8| char::from(b'0' + d);
    if negative {
        out.push('-');
    }
    let k = digits.len() as i32;
    if k <= n && n <= 21 {
        digits.iter().for_each(|d| out.push(ch(d)));
        (0..n - k).for_each(|_| out.push('0'));
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at_checked(n as usize).unwrap_or((digits, &[]));
        int.iter().for_each(|d| out.push(ch(d)));
        out.push('.');
        frac.iter().for_each(|d| out.push(ch(d)));
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        (0..-n).for_each(|_| out.push('0'));
        digits.iter().for_each(|d| out.push(ch(d)));
    } else {
        let mut it = digits.iter();
        if let Some(d) = it.next() {
            out.push(ch(d));
        }
        if k > 1 {
            out.push('.');
            it.for_each(|d| out.push(ch(d)));
        }
        out.push('e');
        out.push(if n - 1 < 0 { '-' } else { '+' });
        let mut e = String::new();
        let mut v = (n - 1).unsigned_abs();
        loop {
            e.insert(0, char::from(b'0' + (v % 10) as u8));
            v /= 10;
            if v == 0 {
                break;
            }
        }
        out.push_str(&e);
    }
}

/// Writes a finite `f` as a JSON number: the fewest significant digits that read back as
/// `f`, the nearest of that length (ties to even), as ECMAScript's `Number::toString` chooses
/// them. Zero is `0`; infinities and NaN (which no parsed [`super::Number`] holds) are
/// written as `null`.
pub(crate) fn write_f64(f: f64, out: &mut String) {
    if !f.is_finite() {
        out.push_str("null");
        return;
    }
    if f == 0.0 {
        out.push('0');
        return;
    }
    let (digits, n) = exact_digits(f.abs());
    let mut text = String::new();
    // The text of the first candidate at `p` digits that reads back as `f`.
    let fits = |p: usize, text: &mut String| {
        round(&digits, n, p).into_iter().any(|(kept, n)| {
            text.clear();
            render(f < 0.0, &kept, n, text);
            text.parse::<f64>() == Ok(f)
        })
    };
    // Some p-digit form reads back ⇒ some (p+1)-digit one does (the finer grid holds the
    // coarser): a binary search for the fewest. 17 digits, or the whole expansion when it
    // is shorter, always read back.
    let (mut lo, mut hi) = (1, digits.len().clamp(1, 17));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if fits(mid, &mut text) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    if !fits(lo, &mut text) {
        // Unreachable (17 digits read back); the exact expansion is the safe answer.
        text.clear();
        render(f < 0.0, &digits, n, &mut text);
    }
    out.push_str(&text);
}

#[cfg(test)]
#[path = "float_test.rs"]
mod tests;
