//! Differential tests of `lazy.rs` against `num-bigint-dig` (through the `rsa` crate's
//! `BigUint`): random odd moduli of many sizes, moduli of all ones (every limb and every
//! reduction multiplier at its maximum, so the accumulators reach their bound), every limb
//! width [`limb_bits`] can choose, and edge operands. `VIGIL_CRYPTO_CASES=N` multiplies the
//! number of random cases.

use super::*;
use crate::test_util::{operands, random_odd, scale};
use ::rsa::BigUint;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

fn all_ones(bits: usize) -> BigUint {
    (BigUint::from(1u8) << bits) - BigUint::from(1u8)
}

fn limbs(x: &BigUint, m: &LazyModulus) -> Vec<u32> {
    from_be(&x.to_bytes_be(), m.limb_width(), m.limbs())
}

fn value(x: &[u32], w: u32) -> BigUint {
    let mut out = vec![0u8; (x.len() * w as usize).div_ceil(8)];
    to_be(x, w, &mut out);
    BigUint::from_bytes_be(&out)
}

/// mul and sqr in and out of the Montgomery domain, pow_odd and pow_be, against BigUint.
fn check_modulus(rng: &mut ChaCha20Rng, n: &BigUint, round: usize) -> usize {
    let m = LazyModulus::new(&n.to_bytes_be()).unwrap();
    let (w, k) = (m.limb_width(), m.limbs());
    let bits = n.bits();
    assert_eq!(limb_bits(bits), Some((w, k)));
    assert_eq!(value(m.n(), w), *n, "limbs of n, {bits} bits");
    assert!(m.n().iter().all(|l| u64::from(*l) >> w == 0));
    let r = BigUint::from(1u8) << (k * w as usize);
    assert_eq!(value(m.rr(), w), (&r * &r) % n, "R² mod n, {bits} bits");
    assert_eq!(
        (BigUint::from(m.n0inv) * (n % (BigUint::from(1u8) << w as usize)) + 1u8)
            % (BigUint::from(1u8) << w as usize),
        BigUint::from(0u8),
        "n0inv, {bits} bits"
    );
    let mut one = vec![0u32; k];
    one[0] = 1;
    let to = |x: &[u32]| {
        let mut o = vec![0u32; k];
        m.mul(&mut o, x, m.rr());
        o
    };
    let from = |x: &[u32]| {
        let mut o = vec![0u32; k];
        m.mul(&mut o, x, &one);
        o
    };
    let mut cases = 0;
    let ops = operands(rng, n);
    for (i, a) in ops.iter().enumerate() {
        let b = &ops[(i * 7 + round) % ops.len()];
        let (am, bm) = (to(&limbs(a, &m)), to(&limbs(b, &m)));
        assert_eq!(value(&am, w), (a * &r) % n, "to Montgomery, {bits} bits");
        let mut p = vec![0u32; k];
        m.mul(&mut p, &am, &bm);
        assert!(
            p.iter().all(|l| u64::from(*l) >> w == 0),
            "limbs stay w bits"
        );
        assert_eq!(value(&from(&p), w), (a * b) % n, "mul, {bits} bits");
        m.sqr(&mut p, &am);
        assert_eq!(value(&from(&p), w), (a * a) % n, "sqr, {bits} bits");
        // Raw (non-Montgomery) operands: a·b·R⁻¹ directly.
        m.mul(&mut p, &limbs(a, &m), &limbs(b, &m));
        assert_eq!((value(&p, w) * &r) % n, (a * b) % n, "raw mul, {bits} bits");
        for e in [
            3u64,
            65537,
            (u64::from(rng.next_u32()) << 1 | 1).max(3),
            (1 << 33) - 1,
        ] {
            let want = a.modpow(&BigUint::from(e), n);
            let got = m.pow_odd(&limbs(a, &m), e);
            assert_eq!(value(&got, w), want, "pow, e {e}, {bits} bits");
            let size = bits.div_ceil(8);
            let mut out = vec![0u8; size];
            let mut s_be = a.to_bytes_be();
            while s_be.len() < size {
                s_be.insert(0, 0);
            }
            m.pow_be(&s_be, e, &mut out);
            assert_eq!(
                BigUint::from_bytes_be(&out),
                want,
                "pow_be, e {e}, {bits} bits"
            );
        }
        cases += 8;
    }
    cases
}

#[test]
fn lazy_arithmetic_matches_the_reference() {
    let mut rng = ChaCha20Rng::seed_from_u64(0x5eed_1a2e);
    let mut sizes = vec![
        2usize, 3, 27, 28, 29, 55, 56, 57, 64, 127, 1000, 2043, 2044, 2045, 2048, 2049, 2072, 2073,
        2080, 3072, 3556, 3557, 4095, 4096,
    ];
    sizes.extend((0..4).map(|_| 2048 + rng.next_u32() as usize % 2049));
    let mut cases = 0;
    for &bits in &sizes {
        for round in 0..(3 * scale()) {
            let n = random_odd(&mut rng, bits);
            cases += check_modulus(&mut rng, &n, round);
        }
        // All ones: the largest limbs and the largest reduction multipliers.
        cases += check_modulus(&mut rng, &all_ones(bits), 0);
    }
    eprintln!("lazy: {cases} differential cases");
}

#[test]
fn every_limb_width_at_its_bound() {
    // The largest modulus of each width, and the first one of the next (narrower) width: the
    // accumulators reach their bound there. 26 bits starts past 13,797-bit moduli.
    let mut rng = ChaCha20Rng::seed_from_u64(0x05ee_db0d);
    for (bits, w) in [(3556usize, 28u32), (3557, 27), (13797, 27), (13798, 26)] {
        assert_eq!(limb_bits(bits).map(|(w, _)| w), Some(w), "{bits} bits");
        let n = all_ones(bits);
        let m = LazyModulus::new(&n.to_bytes_be()).unwrap();
        let a = &n - BigUint::from(1u8);
        let got = m.pow_odd(&limbs(&a, &m), 65537);
        assert_eq!(value(&got, w), a.modpow(&BigUint::from(65537u32), &n));
        let r = random_odd(&mut rng, bits);
        let m = LazyModulus::new(&r.to_bytes_be()).unwrap();
        let a = &r - BigUint::from(2u8);
        let got = m.pow_odd(&limbs(&a, &m), 3);
        assert_eq!(value(&got, w), a.modpow(&BigUint::from(3u32), &r));
    }
}

#[test]
fn limb_widths_keep_the_accumulators_in_range() {
    for bits in (1..20_000).step_by(7) {
        let (w, k) = limb_bits(bits).unwrap();
        assert!(k * w as usize >= bits);
        // 2k products below 2^2w, and two carries below 2^(64−w), stay below 2^64.
        let worst = 2 * k as u128 * ((1u128 << w) - 1).pow(2) + 2 * (1u128 << (64 - w));
        assert!(worst < 1u128 << 64, "{bits} bits with {w}-bit limbs");
        // The width is the widest that keeps the bound.
        if w < 28 {
            let k1 = bits.div_ceil(w as usize + 1);
            assert!(2 * k1 as u128 + 1 > 1u128 << (62 - 2 * w), "{bits} bits");
        }
    }
    assert_eq!(limb_bits(2048), Some((28, 74)));
    assert_eq!(limb_bits(4096), Some((27, 152)));
}

#[test]
fn bytes_and_moduli() {
    assert_eq!(
        from_be(&[0x12, 0x34, 0x56, 0x78], 28, 2),
        vec![0x0234_5678, 1]
    );
    assert_eq!(
        from_be(&[0xff; 8], 28, 3),
        vec![0x0fff_ffff, 0x0fff_ffff, 0xff]
    );
    assert_eq!(
        from_be(&[0xff; 8], 28, 1),
        vec![0x0fff_ffff],
        "higher bits dropped"
    );
    let mut out = [0u8; 4];
    to_be(&[0x0234_5678, 1], 28, &mut out);
    assert_eq!(out, [0x12, 0x34, 0x56, 0x78]);
    let mut out = [0u8; 6];
    to_be(&[0x0234_5678, 1], 28, &mut out);
    assert_eq!(out, [0, 0, 0x12, 0x34, 0x56, 0x78]);
    assert!(LazyModulus::new(&[]).is_none());
    assert!(LazyModulus::new(&[4]).is_none(), "even");
    assert!(LazyModulus::new(&[0, 3]).is_none(), "leading zero");
    assert!(LazyModulus::new(&[1]).is_none(), "one");
}
