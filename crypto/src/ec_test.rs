//! Tests of `ec.rs`: the arithmetic directly, then ECDSA verification differentially against
//! RustCrypto's `p256`, `p384` and `p521` (the reference): for every case, ours must say what
//! the reference says, and valid signatures made by the reference must verify.
//!
//! For P-521 the reference's digest handling is not FIPS 186-4's: `p521` 0.13 reads a digest
//! of 66 bytes or more as 528 bits and subtracts n once, where FIPS takes its leftmost 521 bits.
//! The harness therefore turns every digest into e by FIPS itself (`Reference::prehash`, on
//! `BigUint`s) and hands the reference e, below n; everything after e is the reference's.
//!
//! Random inputs come from a seeded splitmix64, so a failure prints the seed that reproduces
//! it. `VIGIL_CRYPTO_CASES=N` sets the number of differential cases (default a few thousand).

use super::*;
use alloc::vec;
use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p256::elliptic_curve::ff::PrimeField;
use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use std::time::Instant;

// ---------------------------------------------------------------------------------------------
// Helpers.

/// splitmix64: small, fast and reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// How many differential cases to run for P-256 and P-384: `VIGIL_CRYPTO_CASES`, by default
/// 2400. P-256 gets 7/8 of them: in the dev profile the reference's P-384 takes ~20 ms a
/// verification, most of the test's time. P-521 runs a sixteenth more.
fn budget() -> usize {
    std::env::var("VIGIL_CRYPTO_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2400)
}

/// `a + b` of big-endian numbers of the same length (the carry is dropped).
fn be_add(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; a.len()];
    let mut carry = 0u16;
    for i in (0..a.len()).rev() {
        let s = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = s as u8;
        carry = s >> 8;
    }
    out
}

/// `a + k` for a small k.
fn be_add_small(a: &[u8], k: u8) -> Vec<u8> {
    let mut b = vec![0u8; a.len()];
    *b.last_mut().unwrap() = k;
    be_add(a, &b)
}

/// A DER `ECDSA-Sig-Value` of the raw `r‖s` (what JWS must refuse).
fn der(sig: &[u8]) -> Vec<u8> {
    let (r, s) = sig.split_at(sig.len() / 2);
    let int = |v: &[u8]| {
        let v: Vec<u8> = v.iter().copied().skip_while(|&b| b == 0).collect();
        let mut out = vec![0x02];
        let pad = v.first().is_none_or(|&b| b & 0x80 != 0);
        out.push((v.len() + usize::from(pad)) as u8);
        if pad {
            out.push(0);
        }
        out.extend(v);
        out
    };
    let body = [int(r), int(s)].concat();
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

/// The encoded length of an N-limb field element: 4N bytes, 66 for P-521's 17 limbs.
fn fb_of(n: usize) -> usize {
    if n == 17 {
        66
    } else {
        4 * n
    }
}

/// Little-endian limbs as big-endian bytes, [`fb_of`] of them (the dropped top bytes are 0).
fn to_be<const N: usize>(a: &[u32; N]) -> Vec<u8> {
    let all: Vec<u8> = a.iter().rev().flat_map(|w| w.to_be_bytes()).collect();
    let (top, rest) = all.split_at(4 * N - fb_of(N));
    assert!(top.iter().all(|&b| b == 0), "value wider than the field");
    rest.to_vec()
}

fn limbs<const N: usize>(b: &[u8]) -> [u32; N] {
    from_be::<N>(b).unwrap()
}

/// Out of Montgomery form.
fn from_mont<M: Modulus<N>, const N: usize>(a: &[u32; N]) -> [u32; N] {
    let mut one = [0u32; N];
    one[0] = 1;
    mul::<M, N>(a, &one)
}

/// The affine coordinates (plain, big-endian) of a Jacobian point, `None` at infinity.
fn affine_bytes<F: Modulus<N>, const N: usize>(p: &Jacobian<N>) -> Option<(Vec<u8>, Vec<u8>)> {
    let a = normalize::<F, N>(&[*p])?;
    Some((
        to_be(&from_mont::<F, N>(&a[0].x)),
        to_be(&from_mont::<F, N>(&a[0].y)),
    ))
}

// ---------------------------------------------------------------------------------------------
// The reference, one implementation per curve.

trait Reference {
    const CURVE: Curve;
    /// The field prime p, big-endian (SEC 2; written independently of `ec.rs`).
    const P: &'static str;
    type Sk;
    type Vk;
    fn signing_key(d: &[u8]) -> Option<Self::Sk>;
    fn public(sk: &Self::Sk) -> (Vec<u8>, Vec<u8>);
    /// Raw `r‖s`, `None` where the reference refuses the digest.
    fn sign(sk: &Self::Sk, digest: &[u8]) -> Option<Vec<u8>>;
    fn verifying_key(x: &[u8], y: &[u8]) -> Option<Self::Vk>;
    fn verify(vk: &Self::Vk, digest: &[u8], sig: &[u8]) -> bool;
    /// n − 1, big-endian.
    fn n_minus_1() -> Vec<u8>;
    fn s_mul(a: &[u8], b: &[u8]) -> Vec<u8>;
    fn s_add(a: &[u8], b: &[u8]) -> Vec<u8>;
    fn s_neg(a: &[u8]) -> Vec<u8>;
    fn s_inv(a: &[u8]) -> Option<Vec<u8>>;
    /// `u1·G + u2·Q` in affine coordinates, `None` at infinity.
    fn lincomb(u1: &[u8], u2: &[u8], q: Option<(&[u8], &[u8])>) -> Option<(Vec<u8>, Vec<u8>)>;
    /// The point with this x and an even y, if x is on the curve.
    fn decompress(x: &[u8]) -> Option<(Vec<u8>, Vec<u8>)>;
    /// `P − G`, `None` at infinity.
    fn minus_g(x: &[u8], y: &[u8]) -> Option<(Vec<u8>, Vec<u8>)>;

    fn fb() -> usize {
        Self::CURVE.field_bytes()
    }
    /// Bits of n.
    fn nbits() -> usize {
        match Self::CURVE {
            Curve::P521 => 521,
            _ => 8 * Self::fb(),
        }
    }
    /// The JWS hash's length for the curve (SHA-256, -384, -512).
    fn hash_len() -> usize {
        match Self::CURVE {
            Curve::P521 => 64,
            _ => Self::fb(),
        }
    }
    /// A big-endian number (any length) mod n, field-sized; by `BigUint`, independently.
    fn s_reduce(a: &[u8]) -> Vec<u8> {
        fixed(&(big(a) % big(&Self::n())), Self::fb())
    }
    /// What the reference is handed for `digest`: the digest itself where its own reading is
    /// FIPS 186-4's (orders of whole bytes, and digests it refuses as too short), else e — the
    /// leftmost `nbits` bits mod n — field-sized.
    fn prehash(digest: &[u8]) -> Vec<u8> {
        let (fb, nbits) = (Self::fb(), Self::nbits());
        if nbits == 8 * fb || digest.len() < fb / 2 {
            return digest.to_vec();
        }
        let mut e = big(digest);
        if 8 * digest.len() > nbits {
            e >>= 8 * digest.len() - nbits;
        }
        fixed(&(e % big(&Self::n())), fb)
    }
    /// A digest whose e (see [`Reference::prehash`]) is the scalar `e` (< n): `e` itself, or
    /// for P-521 `e` in the leftmost 521 bits of 66 bytes.
    fn digest_for(e: &[u8]) -> Vec<u8> {
        let (fb, nbits) = (Self::fb(), Self::nbits());
        fixed(&(big(e) << (8 * fb - nbits)), fb)
    }
    fn n() -> Vec<u8> {
        be_add_small(&Self::n_minus_1(), 1)
    }
    fn p() -> Vec<u8> {
        (0..Self::P.len() / 2)
            .map(|i| u8::from_str_radix(&Self::P[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }
}

macro_rules! reference {
    ($name:ident, $krate:ident, $curve:expr, $p:expr, $sign:expr) => {
        struct $name;
        impl $name {
            fn scalar(b: &[u8]) -> $krate::Scalar {
                Option::from($krate::Scalar::from_repr(*$krate::FieldBytes::from_slice(
                    b,
                )))
                .expect("a scalar below n")
            }
            fn point(x: &[u8], y: &[u8]) -> $krate::ProjectivePoint {
                let e = $krate::EncodedPoint::from_affine_coordinates(
                    $krate::FieldBytes::from_slice(x),
                    $krate::FieldBytes::from_slice(y),
                    false,
                );
                let a: Option<$krate::AffinePoint> =
                    $krate::AffinePoint::from_encoded_point(&e).into();
                a.expect("a point on the curve").into()
            }
            fn coords(p: &$krate::ProjectivePoint) -> Option<(Vec<u8>, Vec<u8>)> {
                let e = p.to_affine().to_encoded_point(false);
                Some((e.x()?.to_vec(), e.y()?.to_vec()))
            }
        }
        impl Reference for $name {
            const CURVE: Curve = $curve;
            const P: &'static str = $p;
            type Sk = $krate::ecdsa::SigningKey;
            type Vk = $krate::ecdsa::VerifyingKey;
            fn signing_key(d: &[u8]) -> Option<Self::Sk> {
                $krate::ecdsa::SigningKey::from_slice(d).ok()
            }
            fn public(sk: &Self::Sk) -> (Vec<u8>, Vec<u8>) {
                let e = $krate::ecdsa::VerifyingKey::from(sk).to_encoded_point(false);
                (e.x().unwrap().to_vec(), e.y().unwrap().to_vec())
            }
            fn sign(sk: &Self::Sk, digest: &[u8]) -> Option<Vec<u8>> {
                let sign: fn(&Self::Sk, &[u8]) -> Option<$krate::ecdsa::Signature> = $sign;
                Some(sign(sk, &Self::prehash(digest))?.to_bytes().to_vec())
            }
            fn verifying_key(x: &[u8], y: &[u8]) -> Option<Self::Vk> {
                let sec1 = [&[4u8][..], x, y].concat();
                $krate::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).ok()
            }
            fn verify(vk: &Self::Vk, digest: &[u8], sig: &[u8]) -> bool {
                match $krate::ecdsa::Signature::from_slice(sig) {
                    Ok(s) => vk.verify_prehash(&Self::prehash(digest), &s).is_ok(),
                    Err(_) => false,
                }
            }
            fn n_minus_1() -> Vec<u8> {
                (-$krate::Scalar::ONE).to_repr().to_vec()
            }
            fn s_mul(a: &[u8], b: &[u8]) -> Vec<u8> {
                (Self::scalar(a) * Self::scalar(b)).to_repr().to_vec()
            }
            fn s_add(a: &[u8], b: &[u8]) -> Vec<u8> {
                (Self::scalar(a) + Self::scalar(b)).to_repr().to_vec()
            }
            fn s_neg(a: &[u8]) -> Vec<u8> {
                (-Self::scalar(a)).to_repr().to_vec()
            }
            fn s_inv(a: &[u8]) -> Option<Vec<u8>> {
                let i: Option<$krate::Scalar> = Self::scalar(a).invert().into();
                i.map(|i| i.to_repr().to_vec())
            }
            fn lincomb(
                u1: &[u8],
                u2: &[u8],
                q: Option<(&[u8], &[u8])>,
            ) -> Option<(Vec<u8>, Vec<u8>)> {
                let q = match q {
                    Some((x, y)) => Self::point(x, y),
                    None => $krate::ProjectivePoint::GENERATOR,
                };
                let r =
                    $krate::ProjectivePoint::GENERATOR * Self::scalar(u1) + q * Self::scalar(u2);
                Self::coords(&r)
            }
            fn decompress(x: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
                let e = $krate::EncodedPoint::from_bytes([&[2u8][..], x].concat()).ok()?;
                let a: Option<$krate::AffinePoint> =
                    $krate::AffinePoint::from_encoded_point(&e).into();
                Self::coords(&a?.into())
            }
            fn minus_g(x: &[u8], y: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
                Self::coords(&(Self::point(x, y) - $krate::ProjectivePoint::GENERATOR))
            }
        }
    };
}

reference!(
    Ref256,
    p256,
    Curve::P256,
    "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff",
    |sk, e| sk.sign_prehash(e).ok()
);
reference!(
    Ref384,
    p384,
    Curve::P384,
    "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff",
    |sk, e| sk.sign_prehash(e).ok()
);
// `p521` 0.13 signs only with a random nonce: one from a generator seeded by e, so that a
// failure reproduces.
reference!(
    Ref521,
    p521,
    Curve::P521,
    concat!(
        "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
    ),
    |sk, e| {
        use p521::ecdsa::signature::hazmat::RandomizedPrehashSigner;
        use rand_core::SeedableRng;
        let seed = e.iter().fold(0u64, |h, &b| h.rotate_left(8) ^ u64::from(b));
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        sk.sign_prehash_with_rng(&mut rng, e).ok()
    }
);

// ---------------------------------------------------------------------------------------------
// The arithmetic.

fn check_modulus<M: Modulus<N>, const N: usize>(m_hex: &[u8]) {
    assert_eq!(to_be(&M::M), m_hex);
    assert_eq!(M::M[0].wrapping_mul(M::M0INV), u32::MAX, "−m⁻¹ mod 2³²");
    let m = big(m_hex);
    let r = ::rsa::BigUint::from(1u8) << (32 * N);
    assert_eq!(to_be(&M::ONE), fixed(&(&r % &m), m_hex.len()), "R mod m");
    assert_eq!(
        to_be(&M::R2),
        fixed(&(&r * &r % &m), m_hex.len()),
        "R² mod m"
    );
    let mut neg = [0u32; N];
    // R²·R⁻¹ = R; and converting in and out is the identity.
    neg[0] = 1;
    assert_eq!(mul::<M, N>(&M::R2, &neg), M::ONE, "R² mod m");
    let mut rng = Rng(0x5eed);
    for _ in 0..200 {
        let mut a = [0u32; N];
        a.iter_mut().for_each(|w| *w = rng.next() as u32);
        if !lt(&a, &M::M) {
            continue;
        }
        assert_eq!(from_mont::<M, N>(&to_mont::<M, N>(&a)), a);
        if !is_zero(&a) {
            let i = inv::<M, N>(&a).unwrap();
            // (a·R)·a⁻¹·R⁻¹ = 1
            assert_eq!(mul::<M, N>(&to_mont::<M, N>(&a), &i), {
                let mut o = [0u32; N];
                o[0] = 1;
                o
            });
            let am = to_mont::<M, N>(&a);
            assert_eq!(mul::<M, N>(&am, &inv_mont::<M, N>(&am).unwrap()), M::ONE);
        }
    }
    assert!(inv::<M, N>(&[0u32; N]).is_none());
}

#[test]
fn montgomery_constants() {
    check_modulus::<P256Fp, 8>(&Ref256::p());
    check_modulus::<P256Fn, 8>(&Ref256::n());
    check_modulus::<P384Fp, 12>(&Ref384::p());
    check_modulus::<P384Fn, 12>(&Ref384::n());
    check_modulus::<P521Fp, 17>(&Ref521::p());
    check_modulus::<P521Fn, 17>(&Ref521::n());
}

/// Scalar arithmetic (mod n) against the reference's `Scalar`, edges included.
fn scalars_vs_reference<C: CurveSpec<N>, R: Reference, const N: usize>(seed: u64) {
    let mut rng = Rng(seed);
    let fb = R::fb();
    let n1 = R::n_minus_1();
    let mut edges = vec![vec![0u8; fb], be_add_small(&vec![0u8; fb], 1), n1.clone()];
    edges.push(R::s_neg(&be_add_small(&vec![0u8; fb], 2)));
    for i in 0..300 {
        let a = edges
            .get(i)
            .cloned()
            .unwrap_or_else(|| R::s_reduce(&rng.bytes(fb)));
        let b = edges
            .get(i / 3)
            .cloned()
            .unwrap_or_else(|| R::s_reduce(&rng.bytes(fb)));
        let (al, bl) = (limbs::<N>(&a), limbs::<N>(&b));
        let prod = from_mont::<C::Fn, N>(&mul::<C::Fn, N>(
            &to_mont::<C::Fn, N>(&al),
            &to_mont::<C::Fn, N>(&bl),
        ));
        assert_eq!(to_be(&prod), R::s_mul(&a, &b), "a·b, seed {seed:#x}");
        assert_eq!(to_be(&add::<C::Fn, N>(&al, &bl)), R::s_add(&a, &b));
        assert_eq!(to_be(&sub::<C::Fn, N>(&[0; N], &al)), R::s_neg(&a));
        assert_eq!(inv::<C::Fn, N>(&al).map(|i| to_be(&i)), R::s_inv(&a));
    }
}

#[test]
fn scalars_match_reference() {
    scalars_vs_reference::<P256, Ref256, 8>(0x256);
    scalars_vs_reference::<P384, Ref384, 12>(0x384);
    scalars_vs_reference::<P521, Ref521, 17>(0x521);
}

/// `u1·G + u2·Q` through the comb against the reference, exceptional cases included.
fn lincomb_vs_reference<C: CurveSpec<N>, R: Reference, const N: usize>(seed: u64, rounds: usize) {
    let mut rng = Rng(seed);
    let fb = R::fb();
    let g = Affine {
        x: to_mont::<C::Fp, N>(&C::GX),
        y: to_mont::<C::Fp, N>(&C::GY),
    };
    let gt = comb_tables::<C::Fp, N>(&[g]).unwrap().remove(0);
    let (gx, gy) = (to_be(&C::GX), to_be(&C::GY));
    let zero = vec![0u8; fb];
    let one = be_add_small(&zero, 1);
    let n1 = R::n_minus_1();
    // Q = G: u1 = u2 makes the comb add an entry to itself (doubling), u1 = −u2 cancels.
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (one.clone(), one.clone()),
        (one.clone(), n1.clone()),
        (n1.clone(), n1.clone()),
        (zero.clone(), one.clone()),
        (one.clone(), zero.clone()),
        (zero.clone(), zero.clone()),
    ];
    for _ in 0..rounds {
        let u = R::s_reduce(&rng.bytes(fb));
        pairs.push((u.clone(), u.clone()));
        pairs.push((u.clone(), R::s_neg(&u)));
        pairs.push((u.clone(), R::s_reduce(&rng.bytes(fb))));
    }
    for (u1, u2) in &pairs {
        let ours = lincomb::<C::Fp, N>(&gt, &gt, &limbs(u1), &limbs(u2));
        let want = R::lincomb(u1, u2, None);
        assert_eq!(
            affine_bytes::<C::Fp, N>(&ours),
            want,
            "Q = G, u1 {}, u2 {}",
            hex(u1),
            hex(u2)
        );
    }
    // Random Q, and Q = −G.
    let neg_gy = to_be(&sub::<C::Fp, N>(&[0; N], &C::GY));
    let mut keys = vec![(gx.clone(), neg_gy)];
    for _ in 0..3 {
        keys.push(R::lincomb(&R::s_reduce(&rng.bytes(fb)), &zero, None).unwrap());
    }
    for (qx, qy) in &keys {
        let q = Affine {
            x: to_mont::<C::Fp, N>(&limbs(qx)),
            y: to_mont::<C::Fp, N>(&limbs(qy)),
        };
        let qt = comb_tables::<C::Fp, N>(&[q]).unwrap().remove(0);
        for (u1, u2) in pairs.iter().take(6 + 3 * rounds.min(20)) {
            let ours = lincomb::<C::Fp, N>(&gt, &qt, &limbs(u1), &limbs(u2));
            let want = R::lincomb(u1, u2, Some((qx, qy)));
            assert_eq!(affine_bytes::<C::Fp, N>(&ours), want, "Q {}", hex(qx));
        }
    }
    // The mixed addition's exceptional cases, directly.
    let gj = Jacobian::from_affine::<C::Fp>(&g);
    let two_g = R::lincomb(&be_add_small(&zero, 2), &zero, None);
    assert_eq!(affine_bytes::<C::Fp, N>(&madd::<C::Fp, N>(&gj, &g)), two_g);
    assert_eq!(affine_bytes::<C::Fp, N>(&dbl::<C::Fp, N>(&gj)), two_g);
    let minus_g = Affine {
        x: g.x,
        y: sub::<C::Fp, N>(&[0; N], &g.y),
    };
    assert!(madd::<C::Fp, N>(&gj, &minus_g).is_infinity());
    let inf = Jacobian::<N>::INFINITY;
    assert_eq!(
        affine_bytes::<C::Fp, N>(&madd::<C::Fp, N>(&inf, &g)),
        Some((gx.clone(), gy.clone()))
    );
    assert!(dbl::<C::Fp, N>(&inf).is_infinity());
    // A Jacobian P with Z ≠ 1 equal to the affine G: 2G − G through madd(2G, −G) = G, then
    // madd(that, G) with Z ≠ 1 is the doubling branch.
    let two = dbl::<C::Fp, N>(&gj);
    let back = madd::<C::Fp, N>(&two, &minus_g);
    assert_eq!(
        affine_bytes::<C::Fp, N>(&back),
        Some((gx.clone(), gy.clone()))
    );
    assert_eq!(
        affine_bytes::<C::Fp, N>(&madd::<C::Fp, N>(&back, &g)),
        two_g
    );
    assert!(madd::<C::Fp, N>(&back, &minus_g).is_infinity());
}

#[test]
fn lincomb_matches_reference() {
    lincomb_vs_reference::<P256, Ref256, 8>(0x1256, 10);
    lincomb_vs_reference::<P384, Ref384, 12>(0x1384, 6);
    lincomb_vs_reference::<P521, Ref521, 17>(0x1521, 4);
}

// ---------------------------------------------------------------------------------------------
// ECDSA, differentially.

/// Counts the cases and compares ours with the reference on each.
struct Diff<'a, R: Reference> {
    ours: &'a EcPublicKey,
    vk: &'a R::Vk,
    seed: u64,
    cases: usize,
}

impl<R: Reference> Diff<'_, R> {
    /// Ours and the reference agree; `want`, if given, is the result both must give.
    fn check(&mut self, what: &str, digest: &[u8], sig: &[u8], want: Option<bool>) {
        let ours = self.ours.verify_prehash(digest, sig);
        let theirs = R::verify(self.vk, digest, sig);
        let ctx = || {
            format!(
                "{} {what} (seed {:#x}): digest {}, signature {}, key x {}",
                R::CURVE.name(),
                self.seed,
                hex(digest),
                hex(sig),
                hex(self.ours.x())
            )
        };
        assert_eq!(ours, theirs, "ours ≠ reference: {}", ctx());
        if let Some(want) = want {
            assert_eq!(ours, want, "both wrong: {}", ctx());
        }
        self.cases += 1;
    }
}

fn key_pair<R: Reference>(x: &[u8], y: &[u8]) -> (EcPublicKey, R::Vk) {
    let ours = EcPublicKey::from_affine(R::CURVE, x, y).unwrap();
    assert_eq!(ours.curve(), R::CURVE);
    assert_eq!((ours.x(), ours.y()), (x, y));
    (ours, R::verifying_key(x, y).unwrap())
}

/// One random key, `msgs` random messages with their mutations, and the edge signatures.
/// Returns the number of cases.
fn random_key_round<R: Reference>(seed: u64, msgs: usize, other: &(EcPublicKey, R::Vk)) -> usize {
    let mut rng = Rng(seed);
    let fb = R::fb();
    let sk = loop {
        if let Some(sk) = R::signing_key(&R::s_reduce(&rng.bytes(fb))) {
            break sk;
        }
    };
    let (x, y) = R::public(&sk);
    let (ours, vk) = key_pair::<R>(&x, &y);
    let mut d = Diff::<R> {
        ours: &ours,
        vk: &vk,
        seed,
        cases: 0,
    };
    let n = R::n();
    let mut last = Vec::new();
    for m in 0..msgs {
        // Mostly the curve's own hash length; sometimes longer (truncated) or shorter (padded).
        let len = match m % 6 {
            0 => [fb / 2, fb - 1, fb + 1, 64, fb / 2 + 4, 48, fb][rng.below(7)],
            _ => R::hash_len(),
        };
        let digest = rng.bytes(len);
        let sig = R::sign(&sk, &digest).unwrap();
        d.check("valid", &digest, &sig, Some(true));
        let (r, s) = sig.split_at(fb);
        d.check("high s", &digest, &[r, &R::s_neg(s)].concat(), Some(true));
        let mut bad = sig.clone();
        bad[rng.below(fb)] ^= 1 << rng.below(8);
        d.check("bit flipped in r", &digest, &bad, Some(false));
        let mut bad = sig.clone();
        bad[fb + rng.below(fb)] ^= 1 << rng.below(8);
        d.check("bit flipped in s", &digest, &bad, Some(false));
        // A bit of e: within the leftmost whole bytes of n's length.
        let mut bad_digest = digest.clone();
        bad_digest[rng.below(len.min(R::nbits() / 8))] ^= 1 << rng.below(8);
        d.check("bit flipped in the digest", &bad_digest, &sig, Some(false));
        if len > fb {
            // Only the leftmost field-size bytes count.
            let mut tail = digest.clone();
            tail[fb + rng.below(len - fb)] ^= 1;
            d.check("bit flipped past the field", &tail, &sig, Some(true));
        }
        d.check("63/95 bytes", &digest, &sig[..2 * fb - 1], Some(false));
        d.check(
            "65/97 bytes",
            &digest,
            &[&sig[..], &[0]].concat(),
            Some(false),
        );
        d.check("DER", &digest, &der(&sig), Some(false));
        d.check("swapped r and s", &digest, &[s, r].concat(), None);
        let garbage = rng.bytes(2 * fb);
        d.check("random r‖s", &digest, &garbage, Some(false));
        let mut o = Diff::<R> {
            ours: &other.0,
            vk: &other.1,
            seed,
            cases: 0,
        };
        o.check("another key's signature", &digest, &sig, Some(false));
        d.cases += o.cases;
        if !last.is_empty() {
            d.check("another message's signature", &digest, &last, Some(false));
        }
        last = sig;
    }
    // Edge values of r and s.
    let digest = rng.bytes(R::hash_len());
    let sig = R::sign(&sk, &digest).unwrap();
    let (r, s) = sig.split_at(fb);
    let zero = vec![0u8; fb];
    let n1 = R::n_minus_1();
    let edges: Vec<(&str, Vec<u8>)> = vec![
        ("0", zero.clone()),
        ("1", be_add_small(&zero, 1)),
        ("n − 1", n1.clone()),
        ("n", n.clone()),
        ("n + 1", be_add_small(&n, 1)),
        (
            "n + random",
            be_add(&n, &[vec![0u8; fb / 2], rng.bytes(fb / 2)].concat()),
        ),
        ("p", R::p()),
        ("all 0xff", vec![0xff; fb]),
    ];
    for (name, e) in &edges {
        d.check(
            &format!("r = {name}"),
            &digest,
            &[&e[..], s].concat(),
            Some(false),
        );
        d.check(
            &format!("s = {name}"),
            &digest,
            &[r, &e[..]].concat(),
            Some(false),
        );
        d.check(
            &format!("r = s = {name}"),
            &digest,
            &[&e[..], &e[..]].concat(),
            Some(false),
        );
    }
    d.check("empty signature", &digest, &[], Some(false));
    d.check("valid, edge round", &digest, &sig, Some(true));
    for len in [0, 1, fb / 2 - 1] {
        d.check("digest too short", &digest[..len], &sig, Some(false));
    }
    d.cases
}

/// Keys with special relations to G, and signatures crafted with the reference's arithmetic
/// so that the comb meets its exceptional cases or x(R) ≥ n.
fn crafted<R: Reference>(seed: u64) -> usize {
    let mut rng = Rng(seed);
    let fb = R::fb();
    let zero = vec![0u8; fb];
    let one = be_add_small(&zero, 1);
    let n1 = R::n_minus_1();
    let mut cases = 0;
    let mut keys: Vec<Vec<u8>> = vec![one.clone(), n1.clone(), be_add_small(&zero, 2)];
    keys.push(R::s_neg(&be_add_small(&zero, 2)));
    keys.push(R::s_reduce(&rng.bytes(fb)));
    for dk in &keys {
        let (x, y) = R::lincomb(dk, &zero, None).unwrap();
        let (ours, vk) = key_pair::<R>(&x, &y);
        let mut d = Diff::<R> {
            ours: &ours,
            vk: &vk,
            seed,
            cases: 0,
        };
        let sk = R::signing_key(dk).unwrap();
        for _ in 0..4 {
            // R = k·G, r = x(R) mod n; e = r·d makes u1·G = u2·Q (for Q = G: u1 = u2, the comb
            // doubles through the mixed addition); e = −r·d makes R infinity.
            let k = R::s_reduce(&rng.bytes(fb));
            let Some((rx, _)) = R::lincomb(&k, &zero, None) else {
                continue;
            };
            let r = R::s_reduce(&rx);
            let rd = R::s_mul(&r, dk);
            let e = rd.clone();
            let s = R::s_mul(&R::s_add(&e, &rd), &R::s_inv(&k).unwrap());
            if s == zero {
                continue;
            }
            d.check(
                "u1·G = u2·Q",
                &R::digest_for(&e),
                &[&r[..], &s].concat(),
                Some(true),
            );
            let e = R::s_neg(&rd);
            let s = R::s_reduce(&rng.bytes(fb));
            if s != zero {
                d.check(
                    "u1·G = −u2·Q (R infinity)",
                    &R::digest_for(&e),
                    &[&r[..], &s].concat(),
                    Some(false),
                );
            }
        }
        // Digests 0 and n (≡ 0): u1 = 0.
        for digest in [zero.clone(), R::digest_for(&R::n())] {
            let sig = R::sign(&sk, &digest).unwrap();
            d.check("digest ≡ 0", &digest, &sig, Some(true));
        }
        // Random signatures on these keys.
        for _ in 0..4 {
            let digest = rng.bytes(R::hash_len());
            let sig = R::sign(&sk, &digest).unwrap();
            d.check("special key, valid", &digest, &sig, Some(true));
            d.check(
                "special key, garbage",
                &digest,
                &rng.bytes(2 * fb),
                Some(false),
            );
        }
        cases += d.cases;
    }
    // x(R) in [n, p): take such a point R (x = n + small, on the curve), and the key
    // Q = R − G; then (r, s) = (x − n, x − n) with e = x − n gives u1 = u2 = 1 and
    // R = G + Q, whose x is r + n.
    let n = R::n();
    let mut found = 0;
    for i in 1..200u8 {
        if found == 3 {
            break;
        }
        let x = be_add_small(&n, i);
        let Some((px, py)) = R::decompress(&x) else {
            continue;
        };
        let Some((qx, qy)) = R::minus_g(&px, &py) else {
            continue;
        };
        let (ours, vk) = key_pair::<R>(&qx, &qy);
        let mut d = Diff::<R> {
            ours: &ours,
            vk: &vk,
            seed,
            cases: 0,
        };
        let r = be_add_small(&zero, i);
        let e = R::digest_for(&r);
        d.check("x(R) = r + n", &e, &[&r[..], &r].concat(), Some(true));
        let r1 = be_add_small(&r, 1);
        d.check(
            "x(R) = r + n, r off by one",
            &e,
            &[&r1[..], &r].concat(),
            Some(false),
        );
        // And directly Q = R, u1 = 0, u2 = 1: e = 0, s = r.
        let (ours, vk) = key_pair::<R>(&px, &py);
        let mut d2 = Diff::<R> {
            ours: &ours,
            vk: &vk,
            seed,
            cases: 0,
        };
        d2.check(
            "x(Q) = r + n, u1 = 0",
            &zero,
            &[&r[..], &r].concat(),
            Some(true),
        );
        cases += d.cases + d2.cases;
        found += 1;
    }
    assert_eq!(found, 3, "no point with x in [n, p) found");
    cases
}

/// Keys that must be refused, compared with the reference's refusals.
fn key_refusals<R: Reference>(seed: u64) -> usize {
    let mut rng = Rng(seed);
    let fb = R::fb();
    let (gx, gy) = R::lincomb(&be_add_small(&vec![0u8; fb], 1), &vec![0u8; fb], None).unwrap();
    let p = R::p();
    let mut cases = 0;
    let mut expect = |x: &[u8], y: &[u8], want: Result<(), EcKeyError>| {
        let ours = EcPublicKey::from_affine(R::CURVE, x, y).map(|_| ());
        assert_eq!(
            ours,
            want,
            "{} key x {} y {}",
            R::CURVE.name(),
            hex(x),
            hex(y)
        );
        if x.len() == fb && y.len() == fb {
            assert_eq!(
                R::verifying_key(x, y).is_some(),
                want.is_ok(),
                "reference disagrees"
            );
        }
        cases += 1;
    };
    expect(&gx, &gy, Ok(()));
    let mut off = gy.clone();
    *off.last_mut().unwrap() ^= 1;
    expect(&gx, &off, Err(EcKeyError::NotOnCurve));
    expect(&p, &gy, Err(EcKeyError::CoordinateOutOfRange));
    expect(&gx, &p, Err(EcKeyError::CoordinateOutOfRange));
    expect(&vec![0xff; fb], &gy, Err(EcKeyError::CoordinateOutOfRange));
    // y + p is the same residue but out of range.
    let gy_plus_p = be_add(&gy, &p);
    if gy_plus_p > gy {
        expect(&gx, &gy_plus_p, Err(EcKeyError::CoordinateOutOfRange));
    }
    expect(&vec![0u8; fb], &vec![0u8; fb], Err(EcKeyError::NotOnCurve));
    expect(&gx[1..], &gy, Err(EcKeyError::WrongLength));
    expect(&gx, &[&gy[..], &[0]].concat(), Err(EcKeyError::WrongLength));
    expect(&[], &[], Err(EcKeyError::WrongLength));
    expect(
        &[&[0u8][..], &gx].concat(),
        &[&[0u8][..], &gy].concat(),
        Err(EcKeyError::WrongLength),
    );
    for _ in 0..20 {
        let (x, y) = (rng.bytes(fb), rng.bytes(fb));
        let want = if x >= p || y >= p {
            Err(EcKeyError::CoordinateOutOfRange)
        } else {
            Err(EcKeyError::NotOnCurve)
        };
        expect(&x, &y, want);
    }
    cases
}

fn differential<R: Reference>(seed: u64, budget: usize) -> usize {
    let fb = R::fb();
    let mut cases = key_refusals::<R>(seed ^ 1) + crafted::<R>(seed ^ 2);
    // A fixed "other" key (the generator) that none of the random keys' signatures verifies.
    let (gx, gy) = R::lincomb(&be_add_small(&vec![0u8; fb], 1), &vec![0u8; fb], None).unwrap();
    let other = key_pair::<R>(&gx, &gy);
    let mut round = 0u64;
    while cases < budget {
        cases += random_key_round::<R>(seed.wrapping_add(round), 8, &other);
        round += 1;
    }
    cases
}

#[test]
fn ecdsa_p256_matches_reference() {
    let t = Instant::now();
    let cases = differential::<Ref256>(0xec256, budget() * 7 / 8);
    eprintln!("P-256: {cases} differential cases in {:?}", t.elapsed());
}

#[test]
fn ecdsa_p384_matches_reference() {
    let t = Instant::now();
    let cases = differential::<Ref384>(0xec384, budget() / 8);
    eprintln!("P-384: {cases} differential cases in {:?}", t.elapsed());
}

#[test]
fn ecdsa_p521_matches_reference() {
    let t = Instant::now();
    let cases = differential::<Ref521>(0xec521, budget() / 16);
    eprintln!("P-521: {cases} differential cases in {:?}", t.elapsed());
}

/// FIPS 186-4 §6.4's leftmost-bits rule where it is not a whole number of bytes: for P-521 a
/// 66-byte (or longer) digest counts by its leftmost 521 bits, so its last 7 bits never matter
/// and the value is not reduced as 528 bits. Checked against signatures of e itself.
#[test]
fn p521_digests_count_by_their_leftmost_521_bits() {
    let mut rng = Rng(0x521d);
    let sk = Ref521::signing_key(&Ref521::s_reduce(&rng.bytes(66))).unwrap();
    let (x, y) = Ref521::public(&sk);
    let ours = EcPublicKey::from_affine(Curve::P521, &x, &y).unwrap();
    for len in [66, 67, 80, 128] {
        let mut digest = rng.bytes(len);
        digest[0] |= 0x80; // e ≥ 2^520, where reading 528 bits would differ most
        let mut e = big(&digest) >> (8 * len - 521);
        e %= big(&Ref521::n());
        let sig = Ref521::sign(&sk, &Ref521::digest_for(&fixed(&e, 66))).unwrap();
        assert!(ours.verify_prehash(&digest, &sig), "length {len}");
        digest[65] ^= 0x7f; // bits 521..527: past n's length
        assert!(ours.verify_prehash(&digest, &sig), "length {len}, low bits");
        digest[65] ^= 0x80; // bit 520: counts
        assert!(!ours.verify_prehash(&digest, &sig), "length {len}, bit 520");
    }
}

#[test]
fn api() {
    assert_eq!(Curve::P256.name(), "P-256");
    assert_eq!(Curve::P384.name(), "P-384");
    assert_eq!(Curve::P521.name(), "P-521");
    assert_eq!(Curve::P256.field_bytes(), 32);
    assert_eq!(Curve::P384.field_bytes(), 48);
    assert_eq!(Curve::P521.field_bytes(), 66);
    assert_eq!(EcKeyError::NotOnCurve.to_string(), "point not on the curve");
    let (gx, gy) = (to_be(&P256::GX), to_be(&P256::GY));
    let k = EcPublicKey::from_affine(Curve::P256, &gx, &gy).unwrap();
    let dbg = format!("{k:?}");
    assert!(dbg.contains("P-256") && dbg.contains("6b17d1f2"), "{dbg}");
    // A P-256 point is no P-384 key, and lengths are per curve.
    assert_eq!(
        EcPublicKey::from_affine(Curve::P384, &gx, &gy).unwrap_err(),
        EcKeyError::WrongLength
    );
    let k2 = k.clone();
    assert_eq!(k2.x(), gx.as_slice());
    assert_eq!(k2.y(), gy.as_slice());
}

// ---------------------------------------------------------------------------------------------
// Timing, for information: `cargo test --release -p vigil-policy-core ec_bench -- --ignored
// --nocapture`.

fn bench_curve<R: Reference>() {
    let fb = R::fb();
    let mut rng = Rng(0xbe);
    let sk = R::signing_key(&R::s_reduce(&rng.bytes(fb))).unwrap();
    let (x, y) = R::public(&sk);
    let t = Instant::now();
    let builds = 20;
    for _ in 0..builds {
        std::hint::black_box(EcPublicKey::from_affine(R::CURVE, &x, &y).unwrap());
    }
    let build = t.elapsed().as_secs_f64() * 1e6 / builds as f64;
    let (ours, vk) = key_pair::<R>(&x, &y);
    let sigs: Vec<(Vec<u8>, Vec<u8>)> = (0..64)
        .map(|_| {
            let d = rng.bytes(R::hash_len());
            let s = R::sign(&sk, &d).unwrap();
            (d, s)
        })
        .collect();
    let iters = 1000;
    let t = Instant::now();
    for i in 0..iters {
        let (d, s) = &sigs[i % sigs.len()];
        assert!(std::hint::black_box(ours.verify_prehash(d, s)));
    }
    let mine = t.elapsed().as_secs_f64() * 1e6 / iters as f64;
    let t = Instant::now();
    for i in 0..iters {
        let (d, s) = &sigs[i % sigs.len()];
        assert!(std::hint::black_box(R::verify(&vk, d, s)));
    }
    let theirs = t.elapsed().as_secs_f64() * 1e6 / iters as f64;
    eprintln!(
        "{}: verify {mine:.1} µs (reference {theirs:.1} µs); from_affine {build:.0} µs",
        R::CURVE.name()
    );
}

#[test]
#[ignore]
fn ec_bench() {
    bench_curve::<Ref256>();
    bench_curve::<Ref384>();
    bench_curve::<Ref521>();
}

fn micro<C: CurveSpec<N>, const N: usize>(name: &str) {
    let iters = 200_000;
    let mut a = to_mont::<C::Fp, N>(&C::GX);
    let b = to_mont::<C::Fp, N>(&C::GY);
    let t = Instant::now();
    for _ in 0..iters {
        a = mul::<C::Fp, N>(&a, &b);
    }
    let m = t.elapsed().as_secs_f64() * 1e9 / iters as f64;
    let t = Instant::now();
    for _ in 0..iters {
        a = sqr::<C::Fp, N>(&a);
    }
    let s = t.elapsed().as_secs_f64() * 1e9 / iters as f64;
    let t = Instant::now();
    for _ in 0..iters {
        a = add::<C::Fp, N>(&a, &b);
    }
    let ad = t.elapsed().as_secs_f64() * 1e9 / iters as f64;
    let mut x = a;
    let t = Instant::now();
    for _ in 0..1000 {
        x = inv::<C::Fn, N>(&x).unwrap_or(x);
        x[0] ^= 1;
        x[N - 1] &= C::Fn::M[N - 1] >> 1;
    }
    let i = t.elapsed().as_secs_f64() * 1e9 / 1000.0;
    let g = Affine {
        x: to_mont::<C::Fp, N>(&C::GX),
        y: b,
    };
    let mut j = Jacobian::from_affine::<C::Fp>(&g);
    j = dbl::<C::Fp, N>(&j);
    let t = Instant::now();
    for _ in 0..10000 {
        j = dbl::<C::Fp, N>(&j);
    }
    let d = t.elapsed().as_secs_f64() * 1e9 / 10000.0;
    let t = Instant::now();
    for _ in 0..10000 {
        j = madd::<C::Fp, N>(&j, &g);
    }
    let ma = t.elapsed().as_secs_f64() * 1e9 / 10000.0;
    std::hint::black_box((a, x, j));
    eprintln!("{name}: mul {m:.1} ns, sqr {s:.1} ns, add {ad:.1} ns, inv(n) {i:.0} ns, dbl {d:.0} ns, madd {ma:.0} ns");
}

#[test]
#[ignore]
fn ec_micro() {
    micro::<P256, 8>("P-256");
    micro::<P384, 12>("P-384");
    micro::<P521, 17>("P-521");
}

// x(R) ≡ r is also tried as r + n when r + n < p: these cases exercise both guards of that
// branch (the candidate reaching p, and r + n overflowing the field width).
fn big(b: &[u8]) -> ::rsa::BigUint {
    ::rsa::BigUint::from_bytes_be(b)
}
fn fixed(x: &::rsa::BigUint, len: usize) -> Vec<u8> {
    let b = x.to_bytes_be();
    let mut out = vec![0u8; len - b.len()];
    out.extend_from_slice(&b);
    out
}

/// x(R) = r + n − p (the candidate r + n is ≥ p) and x(R) = r + n − 2^L (r + n overflows):
/// both must be refused, by ours and by the reference.
fn wrapped_candidates<R: Reference>() -> usize {
    let fb = R::fb();
    let (n, p) = (big(&R::n()), big(&R::p()));
    let two_l = ::rsa::BigUint::from(1u8) << (8 * fb);
    let mut cases = 0;
    // r + n overflows only 8·fb-bit orders' width: P-521's r + n < 2^522 fits its 17 limbs.
    let candidates = [("r + n − p", &p - &n), ("r + n − 2^L", &two_l - &n)];
    for (what, offset) in candidates.into_iter().filter(|(_, o)| *o < n) {
        let mut found = 0;
        for i in 1..200u32 {
            if found == 2 {
                break;
            }
            let x0 = ::rsa::BigUint::from(i);
            let Some((px, py)) = R::decompress(&fixed(&x0, fb)) else {
                continue;
            };
            let Some((qx, qy)) = R::minus_g(&px, &py) else {
                continue;
            };
            let (ours, vk) = key_pair::<R>(&qx, &qy);
            let mut d = Diff::<R> {
                ours: &ours,
                vk: &vk,
                seed: 0,
                cases: 0,
            };
            let r = &x0 + &offset;
            assert!(r < n);
            let rb = fixed(&r, fb);
            // u1 = e/s = 1, u2 = r/s = 1: R = G + Q, x(R) = x0 ≢ r (mod n).
            d.check(
                what,
                &R::digest_for(&rb),
                &[&rb[..], &rb].concat(),
                Some(false),
            );
            cases += d.cases;
            found += 1;
        }
        assert_eq!(found, 2);
    }
    cases
}

#[test]
fn signatures_whose_r_plus_n_wraps_are_refused() {
    eprintln!(
        "ecdsa r + n candidates: {} cases",
        wrapped_candidates::<Ref256>()
            + wrapped_candidates::<Ref384>()
            + wrapped_candidates::<Ref521>()
    );
}

/// Key construction cost (information only, never asserted): `cargo test --release -p
/// vigil-crypto key_build_cost -- --ignored --nocapture`.
#[test]
#[ignore]
fn key_build_cost() {
    fn cost<R: Reference>() {
        let keys: Vec<(Vec<u8>, Vec<u8>)> = (1..=21u8)
            .map(|i| R::public(&R::signing_key(&R::s_reduce(&vec![i; R::fb()])).unwrap()))
            .collect();
        let first = Instant::now();
        let _ = EcPublicKey::from_affine(R::CURVE, &keys[0].0, &keys[0].1).unwrap();
        let first = first.elapsed();
        let t = Instant::now();
        for (x, y) in &keys[1..] {
            let _ = EcPublicKey::from_affine(R::CURVE, x, y).unwrap();
        }
        eprintln!(
            "{}: first key {:?} (builds the generator's table too), then {:?} per key",
            R::CURVE.name(),
            first,
            t.elapsed() / 20
        );
    }
    cost::<Ref256>();
    cost::<Ref384>();
    cost::<Ref521>();
}
