//! Helpers shared by the differential tests (`*_test.rs`).

use ::rsa::BigUint;
use rand_chacha::ChaCha20Rng;
use rand_core::RngCore;

/// `VIGIL_CRYPTO_CASES=N` multiplies the number of random cases (default 1).
pub(crate) fn scale() -> usize {
    std::env::var("VIGIL_CRYPTO_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// A random odd number of exactly `bits` bits.
pub(crate) fn random_odd(rng: &mut ChaCha20Rng, bits: usize) -> BigUint {
    let mut b = vec![0u8; bits.div_ceil(8)];
    rng.fill_bytes(&mut b);
    let extra = b.len() * 8 - bits;
    b[0] &= 0xff >> extra;
    b[0] |= 0x80 >> extra;
    *b.last_mut().unwrap() |= 1;
    BigUint::from_bytes_be(&b)
}

/// Edge operands below `n` (0, 1, 2, n−1, n−2, n/2, all ones below the top bit) and four
/// random ones.
pub(crate) fn operands(rng: &mut ChaCha20Rng, n: &BigUint) -> Vec<BigUint> {
    let one = BigUint::from(1u8);
    let mut v = vec![
        BigUint::from(0u8),
        one.clone(),
        BigUint::from(2u8),
        n - &one,
        n - BigUint::from(2u8),
        n >> 1usize,
        (&one << (n.bits() - 1)) - &one,
    ];
    for _ in 0..4 {
        let mut b = vec![0u8; n.bits().div_ceil(8)];
        rng.fill_bytes(&mut b);
        v.push(BigUint::from_bytes_be(&b) % n);
    }
    v
}
