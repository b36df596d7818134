//! ECDSA signature verification on the NIST curves P-256, P-384 and P-521 (FIPS 186-4 §6.4,
//! SEC 1 §4.1.4), for the JWS algorithms `ES256`, `ES384` and `ES512`.
//!
//! # Arithmetic
//!
//! Field elements (mod p) and scalars (mod n) are fixed-size little-endian arrays of 32-bit
//! limbs — 8 for P-256, 12 for P-384, 17 for P-521 (544 bits for its 521) — in Montgomery form, multiplied by CIOS Montgomery
//! multiplication with 64-bit products only: Wasm has `i64.mul` but no 64×64→128 multiply,
//! so 32-bit limbs are the fastest there, and they are fine natively. One const-generic
//! implementation serves every curve and both moduli; each modulus is a type whose constants
//! (the modulus, −m⁻¹ mod 2³², R mod m, R² mod m) are computed at compile time from the
//! modulus alone, so no magic constant but the curves' own (SEC 2) is written here.
//!
//! Points are in Jacobian coordinates (x = X/Z², y = Y/Z³) with the a = −3 formulas
//! (doubling "dbl-2001-b", mixed addition "madd-2004-hmv"). The mixed addition handles every
//! exceptional case explicitly — an operand at infinity, P = Q (it doubles), P = −Q (it
//! returns infinity) — so the results are right for every input, not only for random ones.
//!
//! # Precomputation (per key)
//!
//! `u1·G + u2·Q` is computed with a Lim–Lee fixed-base comb for *both* points, sharing the
//! doublings: the L = 32·N bits of a scalar are read as 8 teeth L/8 bits apart, and each point
//! gets 2 subtables of the 255 non-empty sums of its teeth (the second shifted by L/16 bits),
//! in affine coordinates. A verification is then L/16 − 1 doublings and at most 4·L/16 mixed
//! additions — P-256: 15 doublings and ≤ 64 additions; P-384: 23 and ≤ 96; P-521: 33 and ≤ 136
//! — instead of the ~L doublings of a sliding window. A table takes 510 entries × 2 coordinates
//! × 4N bytes: 32 640 B per P-256 point, 48 960 B per P-384 point, 69 360 B per P-521 point. The key's table is built in
//! [`EcPublicKey::from_affine`], with batched affine additions (one field inversion per tooth),
//! at a cost of some seven verifications; a key is parsed once and verifies many tokens. The
//! generator's table is built once per process (per Wasm VM) by the first key of its curve and
//! shared by every key after it (`once_cell::race::OnceBox`: no `std`, and the binary carries
//! no constant table). The key holds its table in an `Arc`, so cloning it is cheap.
//!
//! Measured natively (x86-64, release): P-256 ~60–70 µs a verification (ring: ~75–85 µs,
//! `p256`: ~350 µs), P-384 ~210 µs (ring ~900 µs, `p384` ~1.5 ms); inside Wasm (V8, opt-level
//! 3) ~75–105 µs and ~285–330 µs; `from_affine` ~1 ms and ~3 ms.
//!
//! The verification never inverts a field element: `x(R) ≡ r` is checked as `X = r·Z²` (and
//! `X = (r + n)·Z²` when `r + n < p`). The scalar `s⁻¹ mod n` uses a variable-time binary
//! extended Euclid. Everything here handles public data only, so nothing needs to run in
//! constant time; it must be correct on every input, which `ec_test.rs` checks against the
//! RustCrypto `p256`, `p384` and `p521` crates.
//!
//! P-521 uses the same generic Montgomery arithmetic rather than its Mersenne prime's cheaper
//! reduction: ES512 is rare among identity providers, and one code path tested three times is
//! worth more here than the speed.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use once_cell::race::OnceBox;

/// A NIST curve Vigil verifies ECDSA on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// P-256 (secp256r1), for `ES256`.
    P256,
    /// P-384 (secp384r1), for `ES384`.
    P384,
    /// P-521 (secp521r1), for `ES512`.
    P521,
}

impl Curve {
    /// The curve's name as JWK `crv` spells it: `"P-256"`, `"P-384"` or `"P-521"`.
    pub fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }

    /// Bytes of a field element (and of a scalar): 32 for P-256, 48 for P-384, 66 for P-521.
    pub fn field_bytes(self) -> usize {
        match self {
            Curve::P256 => P256::BYTES,
            Curve::P384 => P384::BYTES,
            Curve::P521 => P521::BYTES,
        }
    }

    /// True when `signature` has the JWS shape for this curve: raw `R‖S` of exactly
    /// 2·[`Curve::field_bytes`] bytes with r and s in `[1, n−1]` — what
    /// [`EcPublicKey::verify_prehash`] checks before any arithmetic, for a caller that hands
    /// the signature to another verifier (WebCrypto).
    pub fn signature_in_range(self, signature: &[u8]) -> bool {
        match self {
            Curve::P256 => scalars_in_range::<P256, 8>(signature),
            Curve::P384 => scalars_in_range::<P384, 12>(signature),
            Curve::P521 => scalars_in_range::<P521, 17>(signature),
        }
    }
}

/// Why a public key is refused by [`EcPublicKey::from_affine`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcKeyError {
    /// A coordinate is not exactly [`Curve::field_bytes`] long.
    WrongLength,
    /// A coordinate is not below the field prime p.
    CoordinateOutOfRange,
    /// The point does not satisfy y² = x³ − 3x + b.
    NotOnCurve,
}

impl fmt::Display for EcKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EcKeyError::WrongLength => "elliptic-curve coordinate of the wrong length",
            EcKeyError::CoordinateOutOfRange => {
                "elliptic-curve coordinate not below the field prime"
            }
            EcKeyError::NotOnCurve => "point not on the curve",
        })
    }
}

impl core::error::Error for EcKeyError {}

/// An ECDSA verifying key on P-256, P-384 or P-521, with the precomputed tables that make
/// verification fast (see the module docs: 32 KB for P-256, 48 KB for P-384, 68 KB for P-521),
/// built once.
#[derive(Clone)]
pub struct EcPublicKey {
    inner: Arc<Inner>,
}

struct Inner {
    x: Vec<u8>,
    y: Vec<u8>,
    tables: Tables,
}

enum Tables {
    P256(KeyTables<8>),
    P384(KeyTables<12>),
    P521(KeyTables<17>),
}

impl fmt::Debug for EcPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Hex<'a>(&'a [u8]);
        impl fmt::Debug for Hex<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0
                    .iter()
                    .take(8)
                    .try_for_each(|b| write!(f, "{b:02x}"))?;
                f.write_str("…")
            }
        }
        f.debug_struct("EcPublicKey")
            .field("curve", &self.curve().name())
            .field("x", &Hex(&self.inner.x))
            .finish_non_exhaustive()
    }
}

impl EcPublicKey {
    /// The key whose affine coordinates are `x` and `y`, big-endian and exactly
    /// [`Curve::field_bytes`] each (as the JWK members `x` and `y` decode).
    ///
    /// Refuses coordinates of another length, coordinates not below the field prime p and
    /// points not on the curve (the point at infinity has no affine encoding; both curves have
    /// prime order, so every point on the curve is a valid public key). Builds the
    /// verification table, which costs about as much as seven verifications (the first key of a
    /// curve also builds the generator's, shared by every key after it).
    ///
    /// # Errors
    ///
    /// [`EcKeyError::WrongLength`], [`EcKeyError::CoordinateOutOfRange`] or
    /// [`EcKeyError::NotOnCurve`], checked in that order.
    pub fn from_affine(curve: Curve, x: &[u8], y: &[u8]) -> Result<EcPublicKey, EcKeyError> {
        let fb = curve.field_bytes();
        if x.len() != fb || y.len() != fb {
            return Err(EcKeyError::WrongLength);
        }
        let tables = match curve {
            Curve::P256 => Tables::P256(KeyTables::new::<P256>(x, y, &P256_G)?),
            Curve::P384 => Tables::P384(KeyTables::new::<P384>(x, y, &P384_G)?),
            Curve::P521 => Tables::P521(KeyTables::new::<P521>(x, y, &P521_G)?),
        };
        Ok(EcPublicKey {
            inner: Arc::new(Inner {
                x: x.to_vec(),
                y: y.to_vec(),
                tables,
            }),
        })
    }

    /// The key's curve.
    pub fn curve(&self) -> Curve {
        match self.inner.tables {
            Tables::P256(_) => Curve::P256,
            Tables::P384(_) => Curve::P384,
            Tables::P521(_) => Curve::P521,
        }
    }

    /// The affine x coordinate as given (big-endian, [`Curve::field_bytes`] long), for
    /// fingerprints and JWK export.
    pub fn x(&self) -> &[u8] {
        &self.inner.x
    }

    /// The affine y coordinate as given (big-endian, [`Curve::field_bytes`] long).
    pub fn y(&self) -> &[u8] {
        &self.inner.y
    }

    /// Verifies the ECDSA signature of a JWS: `signature` is the raw `R‖S` of exactly
    /// 2·[`Curve::field_bytes`] bytes (64 for P-256, 96 for P-384, 132 for P-521; DER is
    /// refused), and `digest` the hash of the signing input (SHA-256 for `ES256`, SHA-384 for
    /// `ES384`, SHA-512 for `ES512`).
    ///
    /// The digest becomes the integer e as FIPS 186-4 and SEC 1 §4.1.4 say: its leftmost bits
    /// up to the bit length of n (256, 384, 521), reduced mod n. As in RustCrypto's `ecdsa`
    /// (the reference of the tests), a digest shorter than half the field is refused.
    ///
    /// Returns `false` for every malformed or invalid signature: a wrong length, r or s equal
    /// to 0 or not below n, `R = u1·G + u2·Q` at infinity, or `x(R) mod n ≠ r`. High-s
    /// signatures (s > n/2) are valid ECDSA and are accepted, as JWS does not ask for low s.
    #[must_use]
    pub fn verify_prehash(&self, digest: &[u8], signature: &[u8]) -> bool {
        match &self.inner.tables {
            Tables::P256(t) => t.verify::<P256>(digest, signature),
            Tables::P384(t) => t.verify::<P384>(digest, signature),
            Tables::P521(t) => t.verify::<P521>(digest, signature),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Compile-time helpers: curve constants from hex, Montgomery constants from the modulus.

/// `const fn`s evaluated only in `const` items (at compile time): an index out of range or a
/// failed assertion there is a compile error, never a run-time panic, hence the `allow`.
#[allow(clippy::indexing_slicing)]
mod konst {
    /// The little-endian limbs of a big-endian hex constant of exactly 8·N digits.
    pub(super) const fn limbs<const N: usize>(hex: &str) -> [u32; N] {
        let b = hex.as_bytes();
        assert!(b.len() == 8 * N, "constant of the wrong length");
        let mut out = [0u32; N];
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            assert!(c.is_ascii_hexdigit(), "not a hex digit");
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                _ => c - b'A' + 10,
            };
            let pos = b.len() - 1 - i; // hex digit position from the least significant
            out[pos / 8] |= (d as u32) << (4 * (pos % 8));
            i += 1;
        }
        out
    }

    /// −m0⁻¹ mod 2³² for odd m0 (Newton's iteration doubles the correct bits: 1→32 in 5).
    pub(super) const fn neg_inv32(m0: u32) -> u32 {
        assert!(m0 & 1 == 1, "even modulus");
        let mut inv: u32 = 1;
        let mut i = 0;
        while i < 5 {
            inv = inv.wrapping_mul(2u32.wrapping_sub(m0.wrapping_mul(inv)));
            i += 1;
        }
        inv.wrapping_neg()
    }

    /// The lowest limb.
    pub(super) const fn low<const N: usize>(m: &[u32; N]) -> u32 {
        m[0]
    }

    const fn lt<const N: usize>(a: &[u32; N], b: &[u32; N]) -> bool {
        let mut i = N;
        while i > 0 {
            i -= 1;
            if a[i] != b[i] {
                return a[i] < b[i];
            }
        }
        false
    }

    /// 2·x mod m for x < m.
    const fn double_mod<const N: usize>(x: &[u32; N], m: &[u32; N]) -> [u32; N] {
        let mut out = [0u32; N];
        let mut carry = 0u32;
        let mut i = 0;
        while i < N {
            out[i] = (x[i] << 1) | carry;
            carry = x[i] >> 31;
            i += 1;
        }
        if carry != 0 || !lt(&out, m) {
            let mut borrow = 0u64;
            let mut i = 0;
            while i < N {
                let d = (out[i] as u64)
                    .wrapping_sub(m[i] as u64)
                    .wrapping_sub(borrow);
                out[i] = d as u32; // the low 32 bits of the difference
                borrow = (d >> 63) & 1;
                i += 1;
            }
        }
        out
    }

    /// 2^k mod m, for an odd m > 1.
    pub(super) const fn pow2_mod<const N: usize>(k: usize, m: &[u32; N]) -> [u32; N] {
        let mut x = [0u32; N];
        x[0] = 1;
        let mut i = 0;
        while i < k {
            x = double_mod(&x, m);
            i += 1;
        }
        x
    }
}

// ---------------------------------------------------------------------------------------------
// Multi-limb integers.

/// Whether `a < b`.
#[inline]
fn lt<const N: usize>(a: &[u32; N], b: &[u32; N]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

#[inline]
fn is_zero<const N: usize>(a: &[u32; N]) -> bool {
    a.iter().all(|&w| w == 0)
}

/// `a + b` and the carry out (0 or 1).
#[inline]
fn add_n<const N: usize>(a: &[u32; N], b: &[u32; N]) -> ([u32; N], u32) {
    let mut out = [0u32; N];
    let mut carry = 0u64;
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        let s = u64::from(x) + u64::from(y) + carry;
        *o = s as u32; // low half; the high half is the carry
        carry = s >> 32;
    }
    (out, carry as u32)
}

/// `a − b` and the borrow out (0 or 1).
#[inline]
fn sub_n<const N: usize>(a: &[u32; N], b: &[u32; N]) -> ([u32; N], u32) {
    let mut out = [0u32; N];
    let mut borrow = 0u64;
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        let d = u64::from(x).wrapping_sub(u64::from(y)).wrapping_sub(borrow);
        *o = d as u32; // low half; bit 63 is the borrow
        borrow = d >> 63;
    }
    (out, borrow as u32)
}

/// Shifts right by one bit, `top` (0 or 1) entering at the top.
#[inline]
fn shr1<const N: usize>(a: &mut [u32; N], top: u32) {
    let mut carry = top;
    for w in a.iter_mut().rev() {
        let low = *w & 1;
        *w = (*w >> 1) | (carry << 31);
        carry = low;
    }
}

/// The big-endian `bytes` (at most 4·N of them) as little-endian limbs.
fn from_be<const N: usize>(bytes: &[u8]) -> Option<[u32; N]> {
    if bytes.len() > 4 * N {
        return None;
    }
    let mut out = [0u32; N];
    for (limb, chunk) in out.iter_mut().zip(bytes.rchunks(4)) {
        *limb = chunk.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
    }
    Some(out)
}

/// Bit `i` of `k` (0 past the end).
#[inline]
fn bit<const N: usize>(k: &[u32; N], i: usize) -> usize {
    k.get(i / 32).map_or(0, |&w| ((w >> (i % 32)) & 1) as usize)
}

// ---------------------------------------------------------------------------------------------
// Arithmetic modulo an odd m of exactly 32·N bits (top bit set: m > R/2), Montgomery form.

/// An odd modulus of 32·N bits with its Montgomery constants (R = 2^{32N}).
trait Modulus<const N: usize> {
    /// The modulus m.
    const M: [u32; N];
    /// −m⁻¹ mod 2³².
    const M0INV: u32 = konst::neg_inv32(konst::low(&Self::M));
    /// R mod m: one in Montgomery form.
    const ONE: [u32; N] = konst::pow2_mod(32 * N, &Self::M);
    /// R² mod m: multiplying by it converts into Montgomery form.
    const R2: [u32; N] = konst::pow2_mod(64 * N, &Self::M);
}

/// `a + b mod m` for a, b < m.
#[inline(never)]
fn add<M: Modulus<N>, const N: usize>(a: &[u32; N], b: &[u32; N]) -> [u32; N] {
    let (s, carry) = add_n(a, b);
    if carry != 0 || !lt(&s, &M::M) {
        sub_n(&s, &M::M).0
    } else {
        s
    }
}

/// `a − b mod m` for a, b < m.
#[inline(never)]
fn sub<M: Modulus<N>, const N: usize>(a: &[u32; N], b: &[u32; N]) -> [u32; N] {
    let (d, borrow) = sub_n(a, b);
    if borrow != 0 {
        add_n(&d, &M::M).0
    } else {
        d
    }
}

/// Montgomery product `a·b·R⁻¹ mod m` for a·b < m·R (in particular a, b < m), fully reduced.
///
/// CIOS: each limb of `b` is multiplied in and one limb reduced away in the same outer step;
/// the accumulator `t` (N limbs and `hi`) stays below 2m, so the sums never overflow 64 bits:
/// (2³²−1) + (2³²−1)² + (2³²−1) = 2⁶⁴ − 1.
#[inline(never)]
fn mul<M: Modulus<N>, const N: usize>(a: &[u32; N], b: &[u32; N]) -> [u32; N] {
    if N > WIDE {
        let mut out = [0u32; N];
        mul_slices(a, b, &M::M, M::M0INV, &mut out);
        return out;
    }
    let mut t = [0u32; N];
    let mut hi: u32 = 0;
    for &bi in b {
        // t += a·bi
        let mut c: u64 = 0;
        for (tj, &aj) in t.iter_mut().zip(a) {
            let s = u64::from(*tj) + u64::from(aj) * u64::from(bi) + c;
            *tj = s as u32; // low half; the high half carries
            c = s >> 32;
        }
        let s = u64::from(hi) + c;
        hi = s as u32; // low half
        let hi2 = (s >> 32) as u32; // 0 or 1

        // t = (t + q·m) / 2³², with q chosen so that the low limb vanishes
        let Some((t0, t_rest)) = t.split_first_mut() else {
            return t;
        };
        let Some((&m0, m_rest)) = M::M.split_first() else {
            return t;
        };
        let q = t0.wrapping_mul(M::M0INV);
        let mut c = (u64::from(*t0) + u64::from(q) * u64::from(m0)) >> 32;
        let mut prev = t0;
        for (tj, &mj) in t_rest.iter_mut().zip(m_rest) {
            let s = u64::from(*tj) + u64::from(q) * u64::from(mj) + c;
            *prev = s as u32; // low half, shifted down one limb
            c = s >> 32;
            prev = tj;
        }
        let s = u64::from(hi) + c;
        *prev = s as u32; // low half
        hi = hi2 + (s >> 32) as u32; // the result is below 2m, so this is 0 or 1
    }
    let (d, borrow) = sub_n(&t, &M::M);
    if hi != 0 || borrow == 0 {
        d
    } else {
        t
    }
}

/// Limb counts above this (P-521's 17) multiply through [`mul_slices`]: the same CIOS over
/// slices, which the compiler cannot unroll 17 × 17 times — at opt-level 3 the unrolled
/// P-521 product alone cost filter.wasm some 25 KB, for a curve few issuers use.
const WIDE: usize = 12;

/// [`mul`] on slices of one length n (≤ 17), for the wide curve: `out = a·b·R⁻¹ mod m` with
/// R = 2^{32n}, a, b < m, `m0inv` = −m⁻¹ mod 2³². Lengths that differ leave `out` zero (never
/// the case: every caller passes arrays of one `N`).
#[inline(never)]
fn mul_slices(a: &[u32], b: &[u32], m: &[u32], m0inv: u32, out: &mut [u32]) {
    let n = m.len();
    let mut buf = [0u32; 17];
    let (Some(t), true) = (
        buf.get_mut(..n),
        a.len() == n && b.len() == n && out.len() == n,
    ) else {
        return;
    };
    let (Some((&m0, m_rest)), Some(_)) = (m.split_first(), a.first()) else {
        return;
    };
    let mut hi: u32 = 0;
    for &bi in b {
        let mut c: u64 = 0;
        for (tj, &aj) in t.iter_mut().zip(a) {
            let s = u64::from(*tj) + u64::from(aj) * u64::from(bi) + c;
            *tj = s as u32; // low half; the high half carries
            c = s >> 32;
        }
        let s = u64::from(hi) + c;
        hi = s as u32; // low half
        let hi2 = (s >> 32) as u32; // 0 or 1
        let Some((t0, t_rest)) = t.split_first_mut() else {
            return;
        };
        let q = t0.wrapping_mul(m0inv);
        let mut c = (u64::from(*t0) + u64::from(q) * u64::from(m0)) >> 32;
        let mut prev = t0;
        for (tj, &mj) in t_rest.iter_mut().zip(m_rest) {
            let s = u64::from(*tj) + u64::from(q) * u64::from(mj) + c;
            *prev = s as u32; // low half, shifted down one limb
            c = s >> 32;
            prev = tj;
        }
        let s = u64::from(hi) + c;
        *prev = s as u32; // low half
        hi = hi2 + (s >> 32) as u32;
    }
    // t − m, kept when t ≥ m (or the product overflowed into `hi`).
    let mut borrow = 0u64;
    for ((o, &x), &y) in out.iter_mut().zip(t.iter()).zip(m) {
        let d = u64::from(x).wrapping_sub(u64::from(y)).wrapping_sub(borrow);
        *o = d as u32; // low half; bit 63 is the borrow
        borrow = d >> 63;
    }
    if hi == 0 && borrow != 0 {
        out.copy_from_slice(t);
    }
}

/// `a² · R⁻¹ mod m`.
#[inline]
fn sqr<M: Modulus<N>, const N: usize>(a: &[u32; N]) -> [u32; N] {
    mul::<M, N>(a, a)
}

/// Into Montgomery form: `a·R mod m`, for a < m.
#[inline]
fn to_mont<M: Modulus<N>, const N: usize>(a: &[u32; N]) -> [u32; N] {
    mul::<M, N>(a, &M::R2)
}

/// Halves `x` modulo m (x < m).
#[inline]
fn half<M: Modulus<N>, const N: usize>(x: &mut [u32; N]) {
    if x.first().is_some_and(|&w| w & 1 == 1) {
        let (s, carry) = add_n(x, &M::M);
        *x = s;
        shr1(x, carry);
    } else {
        shr1(x, 0);
    }
}

/// `a⁻¹ mod m` of a plain (not Montgomery) `a` with 0 < a < m and m prime, by the binary
/// extended Euclidean algorithm (Hankerson–Menezes–Vanstone, Algorithm 2.22); variable time.
/// `None` for a = 0 (or a not invertible).
fn inv<M: Modulus<N>, const N: usize>(a: &[u32; N]) -> Option<[u32; N]> {
    if is_zero(a) {
        return None;
    }
    let mut one = [0u32; N];
    if let Some(w) = one.first_mut() {
        *w = 1;
    }
    // Invariants: x1·a ≡ u and x2·a ≡ v (mod m); gcd(u, v) = gcd(a, m).
    let (mut u, mut v) = (*a, M::M);
    let (mut x1, mut x2) = (one, [0u32; N]);
    // Every round makes u or v even and the next one halves it at least once, so the product
    // u·v (< 2^{64N}) loses a bit per round: 64·N + 2 rounds always suffice.
    for _ in 0..64 * N + 2 {
        if u == one {
            return Some(x1);
        }
        if v == one {
            return Some(x2);
        }
        if is_zero(&u) || is_zero(&v) {
            return None; // not coprime
        }
        while u.first().is_some_and(|&w| w & 1 == 0) {
            shr1(&mut u, 0);
            half::<M, N>(&mut x1);
        }
        while v.first().is_some_and(|&w| w & 1 == 0) {
            shr1(&mut v, 0);
            half::<M, N>(&mut x2);
        }
        if lt(&u, &v) {
            v = sub_n(&v, &u).0;
            x2 = sub::<M, N>(&x2, &x1);
        } else {
            u = sub_n(&u, &v).0;
            x1 = sub::<M, N>(&x1, &x2);
        }
    }
    None
}

/// The Montgomery form of `a⁻¹` for a Montgomery-form `a` (`None` for 0).
fn inv_mont<M: Modulus<N>, const N: usize>(a: &[u32; N]) -> Option<[u32; N]> {
    // inv(a·R) = a⁻¹·R⁻¹; two multiplications by R² make it a⁻¹·R.
    let y = inv::<M, N>(a)?;
    Some(mul::<M, N>(&mul::<M, N>(&y, &M::R2), &M::R2))
}

// ---------------------------------------------------------------------------------------------
// The curves.

/// `R‖S` of exactly 2·`C::BYTES` bytes with r, s in `[1, n−1]`.
fn scalars_in_range<C: CurveSpec<N>, const N: usize>(signature: &[u8]) -> bool {
    if signature.len() != 2 * C::BYTES {
        return false;
    }
    let Some((rb, sb)) = signature.split_at_checked(C::BYTES) else {
        return false;
    };
    let (Some(r), Some(s)) = (from_be::<N>(rb), from_be::<N>(sb)) else {
        return false;
    };
    let n = &C::Fn::M;
    !is_zero(&r) && !is_zero(&s) && lt(&r, n) && lt(&s, n)
}

/// A short-Weierstrass curve y² = x³ − 3x + b over F_p of prime order n, p and n of
/// `NBITS` ≤ 32·N bits.
trait CurveSpec<const N: usize> {
    /// Bytes of a field element and of a scalar in their encodings (JWK, JWS): ⌈NBITS/8⌉.
    const BYTES: usize = 4 * N;
    /// Bits of n (and of p).
    const NBITS: usize = 32 * N;
    /// The field prime p.
    type Fp: Modulus<N>;
    /// The group order n.
    type Fn: Modulus<N>;
    /// b (plain).
    const B: [u32; N];
    /// The generator's affine coordinates (plain).
    const GX: [u32; N];
    /// See `GX`.
    const GY: [u32; N];
}

struct P256Fp;
impl Modulus<8> for P256Fp {
    const M: [u32; 8] =
        konst::limbs("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");
}
struct P256Fn;
impl Modulus<8> for P256Fn {
    const M: [u32; 8] =
        konst::limbs("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
}
/// P-256 (SEC 2 v2 §2.4.2, FIPS 186-4 D.1.2.3).
struct P256;
impl CurveSpec<8> for P256 {
    type Fp = P256Fp;
    type Fn = P256Fn;
    const B: [u32; 8] =
        konst::limbs("5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b");
    const GX: [u32; 8] =
        konst::limbs("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296");
    const GY: [u32; 8] =
        konst::limbs("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5");
}

struct P384Fp;
impl Modulus<12> for P384Fp {
    const M: [u32; 12] = konst::limbs(concat!(
        "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe",
        "ffffffff0000000000000000ffffffff"
    ));
}
struct P384Fn;
impl Modulus<12> for P384Fn {
    const M: [u32; 12] = konst::limbs(concat!(
        "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf",
        "581a0db248b0a77aecec196accc52973"
    ));
}
/// P-384 (SEC 2 v2 §2.5.1, FIPS 186-4 D.1.2.4).
struct P384;
impl CurveSpec<12> for P384 {
    type Fp = P384Fp;
    type Fn = P384Fn;
    const B: [u32; 12] = konst::limbs(concat!(
        "b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875a",
        "c656398d8a2ed19d2a85c8edd3ec2aef"
    ));
    const GX: [u32; 12] = konst::limbs(concat!(
        "aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a38",
        "5502f25dbf55296c3a545e3872760ab7"
    ));
    const GY: [u32; 12] = konst::limbs(concat!(
        "3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c0",
        "0a60b1ce1d7e819d7a431d7c90ea0e5f"
    ));
}

struct P521Fp;
impl Modulus<17> for P521Fp {
    /// 2⁵²¹ − 1.
    const M: [u32; 17] = konst::limbs(concat!(
        "000001ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
    ));
}
struct P521Fn;
impl Modulus<17> for P521Fn {
    const M: [u32; 17] = konst::limbs(concat!(
        "000001ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "fffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409"
    ));
}
/// P-521 (SEC 2 v2 §2.6.1, FIPS 186-4 D.1.2.5).
struct P521;
impl CurveSpec<17> for P521 {
    type Fp = P521Fp;
    type Fn = P521Fn;
    const BYTES: usize = 66;
    const NBITS: usize = 521;
    const B: [u32; 17] = konst::limbs(concat!(
        "0000005195",
        "3eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd",
        "3bb1bf073573df883d2c34f1ef451fd46b503f00"
    ));
    const GX: [u32; 17] = konst::limbs(concat!(
        "000000c685",
        "8e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127",
        "a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66"
    ));
    const GY: [u32; 17] = konst::limbs(concat!(
        "0000011839",
        "296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b901",
        "3fad0761353c7086a272c24088be94769fd16650"
    ));
}

// ---------------------------------------------------------------------------------------------
// Points (coordinates in Montgomery form).

/// An affine point (never infinity).
#[derive(Clone, Copy)]
struct Affine<const N: usize> {
    x: [u32; N],
    y: [u32; N],
}

/// A point in Jacobian coordinates: (X/Z², Y/Z³), infinity when Z = 0.
#[derive(Clone, Copy)]
struct Jacobian<const N: usize> {
    x: [u32; N],
    y: [u32; N],
    z: [u32; N],
}

impl<const N: usize> Jacobian<N> {
    const INFINITY: Self = Jacobian {
        x: [0; N],
        y: [0; N],
        z: [0; N],
    };

    fn from_affine<F: Modulus<N>>(p: &Affine<N>) -> Self {
        Jacobian {
            x: p.x,
            y: p.y,
            z: F::ONE,
        }
    }

    fn is_infinity(&self) -> bool {
        is_zero(&self.z)
    }
}

/// 2·P for a = −3 ("dbl-2001-b" with Z3 = 2·Y·Z: 4M + 4S). Infinity doubles to infinity
/// (Z3 = 0); no point of these prime-order curves has Y = 0.
#[inline(never)]
fn dbl<F: Modulus<N>, const N: usize>(p: &Jacobian<N>) -> Jacobian<N> {
    let delta = sqr::<F, N>(&p.z);
    let gamma = sqr::<F, N>(&p.y);
    let beta = mul::<F, N>(&p.x, &gamma);
    let t = mul::<F, N>(&sub::<F, N>(&p.x, &delta), &add::<F, N>(&p.x, &delta));
    let alpha = add::<F, N>(&add::<F, N>(&t, &t), &t);
    let beta2 = add::<F, N>(&beta, &beta);
    let beta4 = add::<F, N>(&beta2, &beta2);
    let beta8 = add::<F, N>(&beta4, &beta4);
    let x3 = sub::<F, N>(&sqr::<F, N>(&alpha), &beta8);
    let yz = mul::<F, N>(&p.y, &p.z);
    let z3 = add::<F, N>(&yz, &yz);
    let gamma_sq = sqr::<F, N>(&gamma);
    let g2 = add::<F, N>(&gamma_sq, &gamma_sq);
    let g4 = add::<F, N>(&g2, &g2);
    let g8 = add::<F, N>(&g4, &g4); // 8·γ²
    let y3 = sub::<F, N>(&mul::<F, N>(&alpha, &sub::<F, N>(&beta4, &x3)), &g8);
    Jacobian {
        x: x3,
        y: y3,
        z: z3,
    }
}

/// P + Q for a Jacobian P and an affine Q ("madd-2004-hmv", 8M + 3S), with every exceptional
/// case handled: P at infinity gives Q, P = Q doubles, P = −Q gives infinity.
#[inline(never)]
fn madd<F: Modulus<N>, const N: usize>(p: &Jacobian<N>, q: &Affine<N>) -> Jacobian<N> {
    if p.is_infinity() {
        return Jacobian::from_affine::<F>(q);
    }
    let z1z1 = sqr::<F, N>(&p.z);
    let u2 = mul::<F, N>(&q.x, &z1z1);
    let s2 = mul::<F, N>(&q.y, &mul::<F, N>(&p.z, &z1z1));
    let h = sub::<F, N>(&u2, &p.x);
    let r = sub::<F, N>(&s2, &p.y);
    if is_zero(&h) {
        // Same x: P = Q (same y) or P = −Q.
        return if is_zero(&r) {
            dbl::<F, N>(p)
        } else {
            Jacobian::INFINITY
        };
    }
    let hh = sqr::<F, N>(&h);
    let hhh = mul::<F, N>(&hh, &h);
    let v = mul::<F, N>(&p.x, &hh);
    let x3 = sub::<F, N>(&sub::<F, N>(&sqr::<F, N>(&r), &hhh), &add::<F, N>(&v, &v));
    let y3 = sub::<F, N>(
        &mul::<F, N>(&r, &sub::<F, N>(&v, &x3)),
        &mul::<F, N>(&p.y, &hhh),
    );
    let z3 = mul::<F, N>(&p.z, &h);
    Jacobian {
        x: x3,
        y: y3,
        z: z3,
    }
}

/// The inverses (Montgomery form) of non-zero Montgomery-form elements, with one inversion
/// for all (Montgomery's trick: 3 multiplications per element). `None` if one is zero.
fn batch_invert<F: Modulus<N>, const N: usize>(xs: &[[u32; N]]) -> Option<Vec<[u32; N]>> {
    // prefix[i] = x0·x1·…·xi
    let mut prefix: Vec<[u32; N]> = Vec::with_capacity(xs.len());
    let mut acc = F::ONE;
    for x in xs {
        if is_zero(x) {
            return None;
        }
        acc = mul::<F, N>(&acc, x);
        prefix.push(acc);
    }
    // Going down from the last i, inv = (x0·…·xi)⁻¹.
    let mut inv = inv_mont::<F, N>(&acc)?;
    let mut out = alloc::vec![[0u32; N]; xs.len()];
    let before = prefix
        .iter()
        .rev()
        .skip(1)
        .map(Some)
        .chain(core::iter::once(None));
    for ((x, o), before) in xs.iter().zip(out.iter_mut()).rev().zip(before) {
        *o = match before {
            Some(b) => mul::<F, N>(&inv, b),
            None => inv,
        };
        inv = mul::<F, N>(&inv, x);
    }
    Some(out)
}

/// The affine forms of points none of which is at infinity (`None` if one is).
fn normalize<F: Modulus<N>, const N: usize>(points: &[Jacobian<N>]) -> Option<Vec<Affine<N>>> {
    let zs: Vec<[u32; N]> = points.iter().map(|p| p.z).collect();
    let zinvs = batch_invert::<F, N>(&zs)?;
    let affine = points.iter().zip(&zinvs).map(|(p, zinv)| {
        let zinv2 = sqr::<F, N>(zinv);
        let zinv3 = mul::<F, N>(&zinv2, zinv);
        Affine {
            x: mul::<F, N>(&p.x, &zinv2),
            y: mul::<F, N>(&p.y, &zinv3),
        }
    });
    Some(affine.collect())
}

/// The affine sums `P + Q` of pairs with `x(P) ≠ x(Q)`, with one inversion for all (`None`
/// if some `x(P) = x(Q)`).
fn add_affine_batch<F: Modulus<N>, const N: usize>(
    pairs: &[(Affine<N>, Affine<N>)],
) -> Option<Vec<Affine<N>>> {
    let dx: Vec<[u32; N]> = pairs.iter().map(|(p, q)| sub::<F, N>(&q.x, &p.x)).collect();
    let inv_dx = batch_invert::<F, N>(&dx)?;
    let sums = pairs.iter().zip(&inv_dx).map(|((p, q), inv)| {
        let lambda = mul::<F, N>(&sub::<F, N>(&q.y, &p.y), inv);
        let x3 = sub::<F, N>(&sub::<F, N>(&sqr::<F, N>(&lambda), &p.x), &q.x);
        let y3 = sub::<F, N>(&mul::<F, N>(&lambda, &sub::<F, N>(&p.x, &x3)), &p.y);
        Affine { x: x3, y: y3 }
    });
    Some(sums.collect())
}

// ---------------------------------------------------------------------------------------------
// The comb.

/// Teeth of the comb: a subtable holds the 2^TEETH − 1 non-empty sums of its teeth.
const TEETH: usize = 8;
/// Subtables per point: each halves the doublings and doubles the memory.
const SUBTABLES: usize = 2;
/// Entries of a subtable.
const ENTRIES: usize = (1 << TEETH) - 1;

/// The layout of the comb for N-limb scalars (L = 32·N bits): L/TEETH bits between teeth,
/// split into SUBTABLES blocks of `cols()` columns.
const fn cols(n: usize) -> usize {
    32 * n / TEETH / SUBTABLES
}

/// Entry `(s, i)` of a point's comb table: subtable s, index i in 1..2^TEETH, at position
/// `s·ENTRIES + i − 1`, is `Σ_{j : bit j of i} 2^{(j·SUBTABLES + s)·cols}·P`.
///
/// The tables of several points are built together, in affine coordinates throughout: the
/// TEETH·SUBTABLES bases `2^{t·cols}·P` by doublings (then one batched inversion), then, for
/// each tooth j, every entry whose top tooth is j as the entry without it plus the base — one
/// batched affine addition per tooth for all the points and subtables.
///
/// `None` only if two summands had the same x, which cannot happen for points of prime order
/// n (every point but infinity, on these curves): the summands are k₁·P and k₂·P with distinct
/// k₁, k₂ that are sums of distinct powers 2^{t·cols}, so k₁ ≡ ±k₂ (mod n) would need
/// k₁ ± k₂ to be a non-zero multiple of n. For P-256 and P-384 (k < 2^L < 2n) that makes n
/// a sum or difference of such sums, whose lowest `cols` bits are 0, 1 or all ones — unlike
/// n's (P-256: 0x2551, P-384: 0xc52973); for P-521 every k is below 2^511, so k₁ + k₂ < n.
fn comb_tables<F: Modulus<N>, const N: usize>(points: &[Affine<N>]) -> Option<Vec<Vec<Affine<N>>>> {
    let bases_per_point = TEETH * SUBTABLES;
    let mut bases = Vec::with_capacity(points.len() * bases_per_point);
    for p in points {
        let mut b = Jacobian::from_affine::<F>(p);
        bases.push(b);
        for _ in 1..bases_per_point {
            for _ in 0..cols(N) {
                b = dbl::<F, N>(&b);
            }
            bases.push(b);
        }
    }
    let bases = normalize::<F, N>(&bases)?;
    let empty = Affine {
        x: [0u32; N],
        y: [0u32; N],
    };
    let mut tables: Vec<Vec<Affine<N>>> = points
        .iter()
        .map(|_| alloc::vec![empty; SUBTABLES * ENTRIES])
        .collect();
    // The single-tooth entries are the bases: base t = j·SUBTABLES + s is entry (s, 2^j).
    for (table, bases) in tables.iter_mut().zip(bases.chunks_exact(bases_per_point)) {
        for (t, base) in bases.iter().enumerate() {
            let (j, s) = (t / SUBTABLES, t % SUBTABLES);
            *table.get_mut(s * ENTRIES + (1 << j) - 1)? = *base;
        }
    }
    for j in 1..TEETH {
        // Entries (s, i + 2^j) = (s, i) + (s, 2^j) for i in 1..2^j, for every table and s.
        let mut pairs = Vec::with_capacity(points.len() * SUBTABLES * ((1 << j) - 1));
        for table in &tables {
            for s in 0..SUBTABLES {
                let base = *table.get(s * ENTRIES + (1 << j) - 1)?;
                for i in 1..1usize << j {
                    pairs.push((*table.get(s * ENTRIES + i - 1)?, base));
                }
            }
        }
        let mut sums = add_affine_batch::<F, N>(&pairs)?.into_iter();
        for table in &mut tables {
            for s in 0..SUBTABLES {
                for i in 1..1usize << j {
                    *table.get_mut(s * ENTRIES + i + (1 << j) - 1)? = sums.next()?;
                }
            }
        }
    }
    Some(tables)
}

/// The comb index of scalar `k` in column `col` of subtable `s`: bit j is bit
/// `(j·SUBTABLES + s)·cols + col` of k.
#[inline]
fn comb_index<const N: usize>(k: &[u32; N], s: usize, col: usize) -> usize {
    (0..TEETH).fold(0, |idx, j| {
        idx | (bit(k, (j * SUBTABLES + s) * cols(N) + col) << j)
    })
}

/// `u1·G + u2·Q` from the comb tables of G and Q, with the doublings shared: `cols − 1`
/// doublings and up to `2·SUBTABLES·cols` mixed additions.
fn lincomb<F: Modulus<N>, const N: usize>(
    g: &[Affine<N>],
    q: &[Affine<N>],
    u1: &[u32; N],
    u2: &[u32; N],
) -> Jacobian<N> {
    let mut acc = Jacobian::INFINITY;
    for col in (0..cols(N)).rev() {
        if !acc.is_infinity() {
            acc = dbl::<F, N>(&acc);
        }
        for s in 0..SUBTABLES {
            for (table, k) in [(g, u1), (q, u2)] {
                let entry = comb_index(k, s, col)
                    .checked_sub(1)
                    .and_then(|i| table.get(s * ENTRIES + i));
                if let Some(p) = entry {
                    acc = madd::<F, N>(&acc, p);
                }
            }
        }
    }
    acc
}

/// The comb tables of one key: the generator's (shared by every key of the curve) and the key's.
struct KeyTables<const N: usize> {
    g: &'static [Affine<N>],
    q: Vec<Affine<N>>,
}

/// The generator's comb table of curve `C`, built on first use and kept in `cell`.
fn generator_table<C: CurveSpec<N>, const N: usize>(
    cell: &'static OnceBox<Vec<Affine<N>>>,
) -> Option<&'static [Affine<N>]> {
    if let Some(t) = cell.get() {
        return Some(t);
    }
    let g = Affine {
        x: to_mont::<C::Fp, N>(&C::GX),
        y: to_mont::<C::Fp, N>(&C::GY),
    };
    let table = comb_tables::<C::Fp, N>(&[g])?.into_iter().next()?;
    // Two threads may both build it; one table is kept and the other dropped.
    Some(cell.get_or_init(|| Box::new(table)))
}

static P256_G: OnceBox<Vec<Affine<8>>> = OnceBox::new();
static P384_G: OnceBox<Vec<Affine<12>>> = OnceBox::new();
static P521_G: OnceBox<Vec<Affine<17>>> = OnceBox::new();

impl<const N: usize> KeyTables<N> {
    fn new<C: CurveSpec<N>>(
        x: &[u8],
        y: &[u8],
        g_cell: &'static OnceBox<Vec<Affine<N>>>,
    ) -> Result<Self, EcKeyError> {
        let (Some(x), Some(y)) = (from_be::<N>(x), from_be::<N>(y)) else {
            return Err(EcKeyError::WrongLength);
        };
        if !lt(&x, &C::Fp::M) || !lt(&y, &C::Fp::M) {
            return Err(EcKeyError::CoordinateOutOfRange);
        }
        let q = Affine {
            x: to_mont::<C::Fp, N>(&x),
            y: to_mont::<C::Fp, N>(&y),
        };
        if !on_curve::<C, N>(&q) {
            return Err(EcKeyError::NotOnCurve);
        }
        // Cannot fail for points on the curve (see `comb_tables`).
        let g = generator_table::<C, N>(g_cell).ok_or(EcKeyError::NotOnCurve)?;
        let q = comb_tables::<C::Fp, N>(&[q])
            .and_then(|t| t.into_iter().next())
            .ok_or(EcKeyError::NotOnCurve)?;
        Ok(KeyTables { g, q })
    }

    fn verify<C: CurveSpec<N>>(&self, digest: &[u8], signature: &[u8]) -> bool {
        let fb = C::BYTES;
        if !scalars_in_range::<C, N>(signature) || digest.len() < fb / 2 {
            return false;
        }
        let Some((rb, sb)) = signature.split_at_checked(fb) else {
            return false;
        };
        let (Some(r), Some(s)) = (from_be::<N>(rb), from_be::<N>(sb)) else {
            return false;
        };
        let n = &C::Fn::M;
        if is_zero(&r) || is_zero(&s) || !lt(&r, n) || !lt(&s, n) {
            return false;
        }
        // e: the leftmost NBITS bits of the digest, mod n; e < 2^NBITS < 2n.
        let Some(mut e) = from_be::<N>(digest.get(..fb).unwrap_or(digest)) else {
            return false;
        };
        if digest.len() * 8 > C::NBITS {
            for _ in C::NBITS..8 * fb {
                shr1(&mut e, 0);
            }
        }
        if !lt(&e, n) {
            e = sub_n(&e, n).0;
        }
        let Some(w) = inv::<C::Fn, N>(&s) else {
            return false;
        };
        let w_mont = to_mont::<C::Fn, N>(&w); // w·R
        let u1 = mul::<C::Fn, N>(&e, &w_mont); // e·w mod n
        let u2 = mul::<C::Fn, N>(&r, &w_mont); // r·w mod n
        let sum = lincomb::<C::Fp, N>(self.g, &self.q, &u1, &u2);
        if sum.is_infinity() {
            return false;
        }
        // x(R) = X/Z² ≡ r (mod n) with x(R) < p: x(R) = r, or x(R) = r + n when r + n < p.
        let z2 = sqr::<C::Fp, N>(&sum.z);
        if mul::<C::Fp, N>(&to_mont::<C::Fp, N>(&r), &z2) == sum.x {
            return true;
        }
        let (rn, carry) = add_n(&r, n);
        carry == 0 && lt(&rn, &C::Fp::M) && mul::<C::Fp, N>(&to_mont::<C::Fp, N>(&rn), &z2) == sum.x
    }
}

/// Whether the affine (Montgomery-form) point satisfies y² = x³ − 3x + b.
fn on_curve<C: CurveSpec<N>, const N: usize>(p: &Affine<N>) -> bool {
    let one = C::Fp::ONE;
    let three = add::<C::Fp, N>(&add::<C::Fp, N>(&one, &one), &one);
    let x2_minus_3 = sub::<C::Fp, N>(&sqr::<C::Fp, N>(&p.x), &three);
    let rhs = add::<C::Fp, N>(
        &mul::<C::Fp, N>(&x2_minus_3, &p.x),
        &to_mont::<C::Fp, N>(&C::B),
    );
    sqr::<C::Fp, N>(&p.y) == rhs
}

#[cfg(test)]
#[path = "ec_test.rs"]
mod tests;
