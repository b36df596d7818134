//! Montgomery arithmetic modulo an odd number of up to a few thousand bits, for the RSA public
//! operation.
//!
//! The limb is a machine word: 64-bit limbs with 128-bit products are what 64-bit hosts use
//! for RSA. 32-bit limbs (the same generic code) were the Wasm arithmetic until the lazy-carry
//! limbs of [`crate::lazy`] replaced them there; they stay as a differential-test subject
//! ([`crate::rsa::RsaPublicKey::with_arithmetic`]). The tests run both widths natively
//! against a reference.
//!
//! A multiplication is the full product, then a Montgomery reduction (operand scanning, one row
//! of multiply-accumulate at a time); a squaring, which is all but one step of a
//! public-exponent power, computes each cross product once, doubles, adds the squares, then
//! reduces: ~25 % fewer products.

use alloc::vec;
use alloc::vec::Vec;
use core::cmp::Ordering;

/// A machine word of a big number.
pub trait Limb: Copy + Default + Eq + Ord + core::fmt::Debug + 'static {
    /// Bits in the limb.
    const BITS: u32;
    /// Zero.
    const ZERO: Self;
    /// `a·b + c + d` as (low, high) limbs: never overflows.
    fn mac(a: Self, b: Self, c: Self, d: Self) -> (Self, Self);
    /// `a + b + carry` (carry 0 or 1) as (sum, carry).
    fn adc(a: Self, b: Self, carry: Self) -> (Self, Self);
    /// `a − b − borrow` (borrow 0 or 1) as (difference, borrow).
    fn sbb(a: Self, b: Self, borrow: Self) -> (Self, Self);
    /// `a·b mod 2^BITS`.
    fn wrapping_mul(self, b: Self) -> Self;
    /// `−a mod 2^BITS`.
    fn wrapping_neg(self) -> Self;
    /// `2 − a·x mod 2^BITS` (a Newton step for the inverse).
    fn newton(a: Self, x: Self) -> Self;
    /// One.
    fn one() -> Self;
    /// The top bit.
    fn top_bit(self) -> Self;
    /// `self << 1 | carry`.
    fn shl1(self, carry: Self) -> Self;
    /// Adds a byte at the bottom: `self << 8 | b`.
    fn push_byte(self, b: u8) -> Self;
    /// The limb as big-endian bytes into `out` (its last `out.len()` bytes).
    fn write_be(self, out: &mut [u8]);
}

macro_rules! limb {
    ($t:ty, $wide:ty) => {
        impl Limb for $t {
            const BITS: u32 = <$t>::BITS;
            const ZERO: Self = 0;
            #[inline(always)]
            fn mac(a: Self, b: Self, c: Self, d: Self) -> (Self, Self) {
                let w = <$wide>::from(a) * <$wide>::from(b) + <$wide>::from(c) + <$wide>::from(d);
                (w as $t, (w >> <$t>::BITS) as $t)
            }
            #[inline(always)]
            fn adc(a: Self, b: Self, carry: Self) -> (Self, Self) {
                let w = <$wide>::from(a) + <$wide>::from(b) + <$wide>::from(carry);
                (w as $t, (w >> <$t>::BITS) as $t)
            }
            #[inline(always)]
            fn sbb(a: Self, b: Self, borrow: Self) -> (Self, Self) {
                let w = <$wide>::from(a)
                    .wrapping_sub(<$wide>::from(b))
                    .wrapping_sub(<$wide>::from(borrow));
                (w as $t, ((w >> (2 * <$t>::BITS - 1)) & 1) as $t)
            }
            #[inline(always)]
            fn wrapping_mul(self, b: Self) -> Self {
                <$t>::wrapping_mul(self, b)
            }
            #[inline(always)]
            fn wrapping_neg(self) -> Self {
                <$t>::wrapping_neg(self)
            }
            #[inline(always)]
            fn newton(a: Self, x: Self) -> Self {
                (2 as $t).wrapping_sub(a.wrapping_mul(x))
            }
            #[inline(always)]
            fn one() -> Self {
                1
            }
            #[inline(always)]
            fn top_bit(self) -> Self {
                self >> (<$t>::BITS - 1)
            }
            #[inline(always)]
            fn shl1(self, carry: Self) -> Self {
                (self << 1) | carry
            }
            #[inline(always)]
            fn push_byte(self, b: u8) -> Self {
                (self << 8) | <$t>::from(b)
            }
            fn write_be(self, out: &mut [u8]) {
                let bytes = self.to_be_bytes();
                let skip = bytes.len().saturating_sub(out.len());
                out.iter_mut()
                    .zip(bytes.iter().skip(skip))
                    .for_each(|(o, b)| *o = *b);
            }
        }
    };
}

limb!(u32, u64);
limb!(u64, u128);

/// Big-endian bytes into `limbs` little-endian limbs (bytes beyond them are ignored).
pub fn from_be<L: Limb>(bytes: &[u8], limbs: usize) -> Vec<L> {
    let per = (L::BITS / 8) as usize;
    let mut out = vec![L::ZERO; limbs];
    for (limb, chunk) in out.iter_mut().zip(bytes.rchunks(per)) {
        *limb = chunk.iter().fold(L::ZERO, |acc, b| acc.push_byte(*b));
    }
    out
}

/// Little-endian limbs into exactly `out.len()` big-endian bytes (higher limbs are dropped).
pub fn to_be<L: Limb>(limbs: &[L], out: &mut [u8]) {
    let per = (L::BITS / 8) as usize;
    out.fill(0);
    for (chunk, limb) in out.rchunks_mut(per).zip(limbs) {
        limb.write_be(chunk);
    }
}

/// Compares two numbers of the same number of limbs.
pub fn cmp<L: Limb>(a: &[L], b: &[L]) -> Ordering {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        match x.cmp(y) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    Ordering::Equal
}

/// `a −= b`, returning the borrow.
fn sub_in_place<L: Limb>(a: &mut [L], b: &[L]) -> L {
    let mut borrow = L::ZERO;
    for (x, y) in a.iter_mut().zip(b) {
        let (d, br) = L::sbb(*x, *y, borrow);
        *x = d;
        borrow = br;
    }
    borrow
}

/// `t += x·y` for `t` and `y` of the same length, returning the carry out of the top limb.
/// The hot loop of every multiplication: unrolled by four so that Wasm, which has no scaled
/// addressing, advances its pointers once per four products.
#[inline(always)]
fn mac_row<L: Limb>(t: &mut [L], x: L, y: &[L]) -> L {
    let mut c = L::ZERO;
    let mut tc = t.chunks_exact_mut(4);
    let mut yc = y.chunks_exact(4);
    for (yy, tt) in (&mut yc).zip(&mut tc) {
        if let ([y0, y1, y2, y3], [t0, t1, t2, t3]) = (yy, tt) {
            let (s, h) = L::mac(x, *y0, *t0, c);
            *t0 = s;
            let (s, h) = L::mac(x, *y1, *t1, h);
            *t1 = s;
            let (s, h) = L::mac(x, *y2, *t2, h);
            *t2 = s;
            let (s, h) = L::mac(x, *y3, *t3, h);
            *t3 = s;
            c = h;
        }
    }
    for (yj, tj) in yc.remainder().iter().zip(tc.into_remainder()) {
        let (s, h) = L::mac(x, *yj, *tj, c);
        *tj = s;
        c = h;
    }
    c
}

/// An odd modulus with its Montgomery constants: `−n⁻¹ mod 2^BITS` and `R² mod n`, where
/// `R = 2^(BITS·limbs)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modulus<L: Limb> {
    n: Vec<L>,
    n0inv: L,
    rr: Vec<L>,
}

impl<L: Limb> Modulus<L> {
    /// The modulus from big-endian bytes without leading zeros; `None` when it is even, 1 or
    /// has leading zeros.
    pub fn new(n_be: &[u8]) -> Option<Modulus<L>> {
        let per = (L::BITS / 8) as usize;
        if n_be.last().is_none_or(|b| b & 1 == 0) || n_be.first() == Some(&0) || n_be == [1] {
            return None;
        }
        let n: Vec<L> = from_be(n_be, n_be.len().div_ceil(per));
        let n0 = n.first().copied().unwrap_or(L::ZERO);
        // Newton's iteration doubles the correct low bits: 1 → 2 → … → 64 in six steps.
        let mut x = L::one();
        for _ in 0..6 {
            x = x.wrapping_mul(L::newton(n0, x));
        }
        let n0inv = x.wrapping_neg();
        // R² mod n: 1 doubled modulo n, 2·BITS·limbs times.
        let mut rr = vec![L::ZERO; n.len()];
        if let Some(r0) = rr.first_mut() {
            *r0 = L::one();
        }
        for _ in 0..2 * L::BITS as usize * n.len() {
            let mut carry = L::ZERO;
            for limb in rr.iter_mut() {
                let top = limb.top_bit();
                *limb = limb.shl1(carry);
                carry = top;
            }
            if carry != L::ZERO || cmp(&rr, &n) != Ordering::Less {
                sub_in_place(&mut rr, &n);
            }
        }
        Some(Modulus { n, n0inv, rr })
    }

    /// Number of limbs.
    pub fn limbs(&self) -> usize {
        self.n.len()
    }

    /// `t` (k limbs, plus `top` above them, `t < 2n`) reduced below n, into `out`.
    fn finish(&self, out: &mut [L], t: &[L], top: L) {
        out.iter_mut().zip(t).for_each(|(o, x)| *o = *x);
        if top != L::ZERO || cmp(out, &self.n) != Ordering::Less {
            sub_in_place(out, &self.n);
        }
    }

    /// `out = t·R⁻¹ mod n` for `t < n·R` of 2k limbs (consumed): k passes, each adding the
    /// multiple of n that cancels the lowest remaining limb.
    fn reduce(&self, out: &mut [L], t: &mut [L]) {
        let k = self.n.len();
        let mut top = L::ZERO;
        for i in 0..k {
            let Some(window) = t.get_mut(i..=i + k) else {
                return;
            };
            let Some((last, row)) = window.split_last_mut() else {
                return;
            };
            let Some(&t0) = row.first() else {
                return;
            };
            let m = t0.wrapping_mul(self.n0inv);
            let c = mac_row(row, m, &self.n);
            let (s, h) = L::adc(*last, c, top);
            *last = s;
            top = h;
        }
        let Some(hi) = t.get(k..2 * k) else {
            return;
        };
        self.finish(out, hi, top);
    }

    /// `out = a·b·R⁻¹ mod n` for `a, b < n` (k limbs each); `t` is scratch of 2k limbs.
    pub fn mul(&self, out: &mut [L], a: &[L], b: &[L], t: &mut [L]) {
        let k = self.n.len();
        t.fill(L::ZERO);
        for (i, &ai) in a.iter().enumerate() {
            let Some(window) = t.get_mut(i..=i + k) else {
                return;
            };
            let Some((last, row)) = window.split_last_mut() else {
                return;
            };
            *last = mac_row(row, ai, b);
        }
        self.reduce(out, t);
    }

    /// `out = a²·R⁻¹ mod n` for `a < n` (k limbs); `t` is scratch of 2k limbs.
    pub fn sqr(&self, out: &mut [L], a: &[L], t: &mut [L]) {
        let k = self.n.len();
        t.fill(L::ZERO);
        // Cross products aᵢ·aⱼ (i < j) into t[i+j]; row i ends at t[i+k], which no earlier row
        // reached.
        let mut rest = a;
        let mut i = 0;
        while let Some((&ai, tail)) = rest.split_first() {
            let Some(window) = t.get_mut(2 * i + 1..=i + k) else {
                return;
            };
            let Some((last, row)) = window.split_last_mut() else {
                return;
            };
            *last = mac_row(row, ai, tail);
            rest = tail;
            i += 1;
        }
        // Double, and add the squares aᵢ² at t[2i].
        let mut shift = L::ZERO;
        let mut carry = L::ZERO;
        for (pair, &ai) in t.chunks_exact_mut(2).zip(a) {
            let (sq_lo, sq_hi) = L::mac(ai, ai, L::ZERO, L::ZERO);
            if let [lo, hi] = pair {
                let d_lo = lo.shl1(shift);
                let d_hi = hi.shl1(lo.top_bit());
                shift = hi.top_bit();
                let (s, c) = L::adc(d_lo, sq_lo, carry);
                let (s2, c2) = L::adc(d_hi, sq_hi, c);
                *lo = s;
                *hi = s2;
                carry = c2;
            }
        }
        self.reduce(out, t);
    }

    /// `base^e mod n` for `base < n` and odd `e ≥ 3`, as k limbs (square-and-multiply, left
    /// to right; the last multiplication takes `base` outside the Montgomery domain, which
    /// brings the result out of it).
    pub fn pow_odd(&self, base: &[L], e: u64) -> Vec<L> {
        let k = self.n.len();
        let mut t = vec![L::ZERO; 2 * k];
        let mut mont = vec![L::ZERO; k];
        self.mul(&mut mont, base, &self.rr, &mut t);
        let mut acc = mont.clone();
        let mut tmp = vec![L::ZERO; k];
        let top_bit = 63u32.saturating_sub(e.leading_zeros());
        for i in (1..top_bit).rev() {
            self.sqr(&mut tmp, &acc, &mut t);
            if (e >> i) & 1 == 1 {
                self.mul(&mut acc, &tmp, &mont, &mut t);
            } else {
                core::mem::swap(&mut acc, &mut tmp);
            }
        }
        self.sqr(&mut tmp, &acc, &mut t);
        self.mul(&mut acc, &tmp, base, &mut t);
        acc
    }
}

#[cfg(test)]
#[path = "bignum_test.rs"]
mod tests;
