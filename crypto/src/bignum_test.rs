//! Differential tests of `bignum.rs` against `num-bigint-dig` (through the `rsa` crate's
//! `BigUint`), for both limb widths, on random odd moduli of many sizes and edge operands.
//! `VIGIL_CRYPTO_CASES=N` multiplies the number of random cases.

use super::*;
use crate::test_util::{operands, random_odd, scale};
use ::rsa::BigUint;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

fn limbs<L: Limb>(x: &BigUint, m: &Modulus<L>) -> Vec<L> {
    from_be(&x.to_bytes_be(), m.limbs())
}

fn value<L: Limb>(x: &[L]) -> BigUint {
    let mut out = vec![0u8; x.len() * (L::BITS as usize / 8)];
    to_be(x, &mut out);
    BigUint::from_bytes_be(&out)
}

/// mul and sqr in and out of the Montgomery domain, and pow_odd, against BigUint.
fn check_width<L: Limb>(seed: u64, sizes: &[usize]) -> usize {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut cases = 0;
    for &bits in sizes {
        for round in 0..(3 * scale()) {
            let n = random_odd(&mut rng, bits);
            let m = Modulus::<L>::new(&n.to_bytes_be()).unwrap();
            let k = m.limbs();
            let r = BigUint::from(1u8) << (k * L::BITS as usize);
            assert_eq!(value(&m.rr), (&r * &r) % &n, "R² mod n, {bits} bits");
            let mut t = vec![L::ZERO; 2 * k];
            let one = {
                let mut v = vec![L::ZERO; k];
                v[0] = L::one();
                v
            };
            let to = |x: &[L], t: &mut [L]| {
                let mut o = vec![L::ZERO; k];
                m.mul(&mut o, x, &m.rr, t);
                o
            };
            let from = |x: &[L], t: &mut [L]| {
                let mut o = vec![L::ZERO; k];
                m.mul(&mut o, x, &one, t);
                o
            };
            let ops = operands(&mut rng, &n);
            for (i, a) in ops.iter().enumerate() {
                let b = &ops[(i * 7 + round) % ops.len()];
                let (am, bm) = (to(&limbs(a, &m), &mut t), to(&limbs(b, &m), &mut t));
                assert_eq!(value(&am), (a * &r) % &n);
                let mut p = vec![L::ZERO; k];
                m.mul(&mut p, &am, &bm, &mut t);
                assert_eq!(value(&from(&p, &mut t)), (a * b) % &n, "mul, {bits} bits");
                m.sqr(&mut p, &am, &mut t);
                assert_eq!(value(&from(&p, &mut t)), (a * a) % &n, "sqr, {bits} bits");
                for e in [
                    3u64,
                    65537,
                    (u64::from(rng.next_u32()) << 1 | 1).max(3),
                    (1 << 33) - 1,
                ] {
                    let got = m.pow_odd(&limbs(a, &m), e);
                    assert_eq!(value(&got), a.modpow(&BigUint::from(e), &n), "pow, e {e}");
                }
                cases += 7;
            }
        }
    }
    cases
}

#[test]
fn both_limb_widths_match_the_reference() {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let mut sizes = vec![
        2usize, 31, 32, 33, 63, 64, 65, 127, 1000, 2048, 2049, 2080, 3072, 4096,
    ];
    sizes.extend((0..4).map(|_| 2048 + rng.next_u32() as usize % 2049));
    let c32 = check_width::<u32>(0x5eed_0032, &sizes);
    let c64 = check_width::<u64>(0x5eed_0064, &sizes);
    eprintln!("bignum: {c32} cases with 32-bit limbs, {c64} with 64-bit limbs");
}

#[test]
fn bytes_and_moduli() {
    assert_eq!(from_be::<u32>(&[1, 2, 3, 4, 5], 2), vec![0x0203_0405, 1]);
    assert_eq!(
        from_be::<u64>(&[1, 2, 3, 4, 5, 6, 7, 8, 9], 2),
        vec![0x0203_0405_0607_0809, 1]
    );
    let mut out = [0u8; 5];
    to_be(&[0x0203_0405u32, 1], &mut out);
    assert_eq!(out, [1, 2, 3, 4, 5]);
    assert_eq!(cmp(&[1u32, 2], &[2, 1]), Ordering::Greater);
    assert!(Modulus::<u32>::new(&[]).is_none());
    assert!(Modulus::<u32>::new(&[4]).is_none(), "even");
    assert!(Modulus::<u64>::new(&[0, 3]).is_none(), "leading zero");
    assert!(Modulus::<u32>::new(&[1]).is_none(), "one");
    for n0 in [3u32, 0xffff_ffff, 0x8000_0001, 0x1234_5677] {
        let bytes = BigUint::from(n0).to_bytes_be();
        let m = Modulus::<u32>::new(&bytes).unwrap();
        assert_eq!(n0.wrapping_mul(m.n0inv), u32::MAX, "n0 = {n0:#x}");
    }
    let m = Modulus::<u64>::new(&u64::MAX.to_be_bytes()).unwrap();
    assert_eq!(u64::MAX.wrapping_mul(m.n0inv), u64::MAX);
}
