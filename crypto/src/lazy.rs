//! Montgomery arithmetic with lazy carries and Wasm SIMD, for the RSA public operation inside
//! Wasm.
//!
//! Wasm has a 64-bit multiply (`i64.mul`) but no add-with-carry and no 64×64→128 product, so
//! the word-sized limbs of [`crate::bignum`] spend their time on the carry chain: every
//! product there is `mul`, `add`, `add`, `shr`, the carry of one feeding the next. Here a
//! number is held in limbs of `w ≤ 28` bits (stored in `u32`): a product of two limbs is below
//! 2^56, so a 64-bit accumulator takes every product of a column without overflowing and the
//! carry moves once per column. With no carry between products, four of them are one step of
//! Wasm SIMD: two `i64x2.extmul_{low,high}_i32x4_u` multiply four pairs of 32-bit lanes into
//! 64-bit lanes (see [`Lanes`]).
//!
//! The product is Montgomery product scanning (column by column, the reduction interleaved):
//! column `x` is `Σ aᵢ·b_(x−i) + mᵢ·n_(x−i)`. With `b` and `n` stored reversed, both runs of a
//! column go up together, and with each number kept in four copies shifted by one limb
//! ([`Shifted`]), a run from any limb is a run of whole vectors.
//!
//! **The bound.** Column `x` receives at most `k` products of the operands and `k` of the
//! reduction (each `< 2^2w`), plus the carry out of the column below (`< 2^(64−w)`): it stays
//! below 2^64 when `2k + 1 ≤ 2^(64−2w)` and `w ≥ 22`. [`limb_bits`] picks the widest `w ≤ 28`
//! for which the modulus's `k` satisfies this: 28 bits up to 3,556-bit moduli (RSA-2048 and
//! -3072), 27 bits up to 13,797 bits (RSA-4096), narrower beyond. Every lane of the SIMD sums
//! holds part of one column, so it is bounded by the same.
//!
//! The same algorithm runs natively on plain arrays ([`Quad`]): the differential tests
//! (`lazy_test.rs`) check every operation against `num-bigint-dig` on random moduli, on moduli
//! of all ones (where every column reaches its bound) and at each limb width, natively and,
//! in `scripts/test`, compiled to Wasm with SIMD under Node.

use alloc::vec;
use alloc::vec::Vec;
use core::cmp::Ordering;

/// The narrowest limb considered (the bound's `w ≥ 22` holds with room).
const MIN_BITS: u32 = 22;
/// The widest limb: products of 56 bits, 256 of them to a 64-bit accumulator.
const MAX_BITS: u32 = 28;

/// The limb width for a modulus of `bits` bits and the number of limbs: the widest `w ≤ 28`
/// with `2k + 1 ≤ 2^(64−2w)` (see the module docs), or `None` for a modulus too large for
/// any width considered (more than ~2^41 bits: never reached, keys are checked first).
pub(crate) fn limb_bits(bits: usize) -> Option<(u32, usize)> {
    (MIN_BITS..=MAX_BITS).rev().find_map(|w| {
        let k = bits.div_ceil(w as usize).max(1);
        let cap = 1u128 << (64 - 2 * w);
        (2 * (k as u128) < cap).then_some((w, k))
    })
}

/// Big-endian bytes into `k` little-endian limbs of `w` bits (bits beyond them are dropped).
pub(crate) fn from_be(bytes: &[u8], w: u32, k: usize) -> Vec<u32> {
    let mask = (1u64 << w) - 1;
    let mut out = vec![0u32; k];
    let mut acc = 0u64;
    let mut have = 0u32;
    let mut from_last = bytes.iter().rev();
    for limb in out.iter_mut() {
        while have < w {
            acc |= u64::from(from_last.next().copied().unwrap_or(0)) << have;
            have += 8;
        }
        *limb = (acc & mask) as u32;
        acc >>= w;
        have -= w;
    }
    out
}

/// Little-endian limbs of `w` bits into exactly `out.len()` big-endian bytes (higher bits are
/// dropped).
pub(crate) fn to_be(limbs: &[u32], w: u32, out: &mut [u8]) {
    let mut acc = 0u64;
    let mut have = 0u32;
    let mut bytes = out.iter_mut().rev();
    for limb in limbs {
        acc |= u64::from(*limb) << have;
        have += w;
        while have >= 8 {
            if let Some(o) = bytes.next() {
                *o = acc as u8;
            }
            acc >>= 8;
            have -= 8;
        }
    }
    for o in bytes {
        *o = acc as u8;
        acc >>= 8;
    }
}

/// Compares two numbers of the same number of limbs.
fn cmp(a: &[u32], b: &[u32]) -> Ordering {
    a.iter().rev().cmp(b.iter().rev())
}

/// An odd modulus in `w`-bit limbs with its Montgomery constants: `−n⁻¹ mod 2^w` and
/// `R² mod n`, where `R = 2^(w·k)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LazyModulus {
    n: Vec<u32>,
    w: u32,
    n0inv: u64,
    rr: Vec<u32>,
}

/// Four 32-bit lanes and what a column sum needs of them: Wasm SIMD's `v128` inside Wasm,
/// and a plain array elsewhere (the same algorithm, so that the differential tests run it
/// natively too).
trait Lanes: Copy {
    /// Two 64-bit lanes.
    type Wide: Copy;
    /// Four limbs.
    fn from_limbs(l: [u32; 4]) -> Self;
    /// Zero.
    fn wide_zero() -> Self::Wide;
    /// `acc + (a₀b₀ + a₂b₂ ‖ a₁b₁ + a₃b₃)`: the four products of the lanes added into one
    /// pair of 64-bit lanes (`i64x2.extmul_{low,high}_i32x4_u`).
    fn mac(acc: Self::Wide, a: Self, b: Self) -> Self::Wide;
    /// The sum of the two 64-bit lanes.
    fn sum(acc: Self::Wide) -> u64;
}

/// The lanes of this target: Wasm SIMD inside Wasm, plain arrays elsewhere.
#[cfg(target_arch = "wasm32")]
type TargetLanes = core::arch::wasm32::v128;
/// The lanes of this target: Wasm SIMD inside Wasm, plain arrays elsewhere.
#[cfg(not(target_arch = "wasm32"))]
type TargetLanes = Quad;

/// The portable lanes.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
struct Quad([u32; 4]);

impl Lanes for Quad {
    type Wide = [u64; 2];
    #[inline(always)]
    fn from_limbs(l: [u32; 4]) -> Self {
        Quad(l)
    }
    #[inline(always)]
    fn wide_zero() -> Self::Wide {
        [0; 2]
    }
    #[inline(always)]
    fn mac(acc: Self::Wide, a: Self, b: Self) -> Self::Wide {
        let [a0, a1, a2, a3] = a.0.map(u64::from);
        let [b0, b1, b2, b3] = b.0.map(u64::from);
        let [c0, c1] = acc;
        [c0 + a0 * b0 + a2 * b2, c1 + a1 * b1 + a3 * b3]
    }
    #[inline(always)]
    fn sum(acc: Self::Wide) -> u64 {
        acc.iter().sum()
    }
}

#[cfg(target_arch = "wasm32")]
mod simd {
    use super::Lanes;
    use core::arch::wasm32::*;

    /// Wasm SIMD lanes. The products are `i64x2.extmul_{low,high}_i32x4_u` (two 32×32→64
    /// multiplies each). LLVM keeps them only when both operands are whole `v128` values
    /// in the loop — vectors loaded from `v128` memory, as the shifted copies are: built from
    /// separate `u32` loads, or hoisted out of the loop as a splat, they become extending
    /// loads and a general `i64x2.mul`, which V8 emulates with three 32-bit multiplies.
    impl Lanes for v128 {
        type Wide = v128;
        #[inline(always)]
        fn from_limbs(l: [u32; 4]) -> Self {
            let [a, b, c, d] = l;
            u32x4(a, b, c, d)
        }
        #[inline(always)]
        fn wide_zero() -> Self::Wide {
            u64x2_splat(0)
        }
        #[inline(always)]
        fn mac(acc: v128, a: v128, b: v128) -> v128 {
            u64x2_add(
                u64x2_add(acc, u64x2_extmul_low_u32x4(a, b)),
                u64x2_extmul_high_u32x4(a, b),
            )
        }
        #[inline(always)]
        fn sum(acc: v128) -> u64 {
            u64x2_extract_lane::<0>(acc) + u64x2_extract_lane::<1>(acc)
        }
    }
}

/// Two numbers in four copies of lanes, each shifted by one limb more (`q`-th vector of copy
/// `s` = limbs `4q+s .. 4q+s+4`, zero past the end and padded by a zero vector), so that a run
/// of limbs from any offset is a run of whole vectors: that is what keeps the products
/// `extmul` inside Wasm (see [`Lanes`]). The two numbers of a column's sum (`a` and `m`, or
/// `b` and `n`) sit side by side, so that a column walks two streams of memory, not four.
/// A `reversed` number holds the limbs last to first.
struct Shifted<V> {
    v: Vec<[V; 2]>,
    /// Vectors per copy.
    q: usize,
}

impl<V: Lanes> Shifted<V> {
    #[inline(always)]
    fn new(k: usize) -> Shifted<V> {
        let q = k.div_ceil(4) + 1;
        let zero = V::from_limbs([0; 4]);
        Shifted {
            v: vec![[zero, zero]; 4 * q],
            q,
        }
    }

    /// Fills number `which` (0 or 1) from `limbs` (last to first when `reversed`), through
    /// `pad`: scratch of at least `4·q + 3` limbs.
    #[inline(never)]
    #[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
    fn fill(&mut self, which: usize, limbs: &[u32], reversed: bool, pad: &mut [u32]) {
        pad.fill(0);
        if reversed {
            pad.iter_mut()
                .zip(limbs.iter().rev())
                .for_each(|(p, l)| *p = *l);
        } else {
            pad.iter_mut().zip(limbs).for_each(|(p, l)| *p = *l);
        }
        let q = self.q;
        for (s, copy) in self.v.chunks_exact_mut(q).enumerate() {
            let runs = pad.get(s..).unwrap_or(&[]).chunks_exact(4);
            for (pair, run) in copy.iter_mut().zip(runs) {
                if let ([a, b, c, d], Some(v)) = (run, pair.get_mut(which)) {
                    *v = V::from_limbs([*a, *b, *c, *d]);
                }
            }
        }
    }

    /// Number 1's limbs zero in copy 0 (the only copy read below column k).
    #[inline(always)]
    fn clear_second_first_copy(&mut self) {
        let zero = V::from_limbs([0; 4]);
        self.v.iter_mut().take(self.q).for_each(|[_, m]| *m = zero);
    }

    /// Number 1's limbs `4i .. 4i+4` set to `l` in copy 0.
    #[inline(always)]
    fn set_second_first_copy(&mut self, i: usize, l: [u32; 4]) {
        if let Some([_, v]) = self.v.get_mut(i) {
            *v = V::from_limbs(l);
        }
    }

    /// The four copies.
    #[inline(always)]
    fn copies(&self) -> [&[[V; 2]]; 4] {
        let q = self.q;
        core::array::from_fn(|s| self.v.get(s * q..(s + 1) * q).unwrap_or(&[]))
    }

    /// The pairs of vectors from limb `i` on.
    #[inline(always)]
    fn from(&self, i: usize) -> &[[V; 2]] {
        let s = i % 4;
        self.v
            .get(s * self.q + i / 4..(s + 1) * self.q)
            .unwrap_or(&[])
    }
}

/// The run from limb `i` on, out of a number's four copies.
#[inline(always)]
fn from_copies<'a, V>(copies: &[&'a [[V; 2]]; 4], i: usize) -> &'a [[V; 2]] {
    match copies.get(i % 4) {
        Some(c) => c.get(i / 4..).unwrap_or(&[]),
        None => &[],
    }
}

/// Four column sums sharing one run: `Σ xₜ·yₜ + uₜ·vₜ` for the pairs `(x, u)` of `shared`
/// and `(y, v)` of each of `runs`, over `t < count` rounded up to whole vectors (lanes past a
/// column's last term pair a limb with a zero). Products commute, so the shared run is `a`/`m`
/// below column k and `b`/`n` from k on. Every run must hold the vectors counted.
#[inline(always)]
fn dot4<V: Lanes>(shared: &[[V; 2]], runs: [&[[V; 2]]; 4], count: usize) -> [u64; 4] {
    let [r0, r1, r2, r3] = runs;
    let mut acc = [V::wide_zero(); 4];
    let iter = shared.iter().zip(r0).zip(r1).zip(r2).zip(r3);
    for (((([x, u], [y0, v0]), [y1, v1]), [y2, v2]), [y3, v3]) in iter.take(count.div_ceil(4)) {
        let [a0, a1, a2, a3] = &mut acc;
        *a0 = V::mac(V::mac(*a0, *x, *y0), *u, *v0);
        *a1 = V::mac(V::mac(*a1, *x, *y1), *u, *v1);
        *a2 = V::mac(V::mac(*a2, *x, *y2), *u, *v2);
        *a3 = V::mac(V::mac(*a3, *x, *y3), *u, *v3);
    }
    acc.map(V::sum)
}

/// The operands of one exponentiation in shifted lanes: `a` forward beside the reduction's
/// multipliers `m` (as they are found), `b` and `n` reversed side by side (column `x` pairs
/// `a_i` with `b_(x−i)`, which is reversed limb `k−1−x+i`: both runs go up together).
struct Work<V> {
    am: Shifted<V>,
    bn: Shifted<V>,
    /// Scratch for [`Shifted::fill`].
    pad: Vec<u32>,
    /// The reduction's multipliers, as found.
    m: Vec<u32>,
}

impl LazyModulus {
    /// The modulus from big-endian bytes without leading zeros; `None` when it is even, 1 or
    /// has leading zeros.
    pub fn new(n_be: &[u8]) -> Option<LazyModulus> {
        if n_be.last().is_none_or(|b| b & 1 == 0) || n_be.first() == Some(&0) || n_be == [1] {
            return None;
        }
        let top = n_be.first().copied().unwrap_or(0);
        let bits = n_be.len() * 8 - top.leading_zeros() as usize;
        let (w, k) = limb_bits(bits)?;
        let n = from_be(n_be, w, k);
        let n0 = u64::from(n.first().copied().unwrap_or(1));
        // Newton's iteration doubles the correct low bits: 1 → 2 → … → 64 in six steps.
        let mut x = 1u64;
        for _ in 0..6 {
            x = x.wrapping_mul(2u64.wrapping_sub(n0.wrapping_mul(x)));
        }
        let mask = (1u64 << w) - 1;
        let n0inv = x.wrapping_neg() & mask;
        // R² mod n: 1 doubled modulo n, 2·w·k times.
        let mut rr = vec![0u32; k];
        if let Some(r0) = rr.first_mut() {
            *r0 = 1;
        }
        for _ in 0..2 * w as usize * k {
            let mut carry = 0u32;
            for limb in rr.iter_mut() {
                let doubled = (*limb << 1) | carry;
                carry = doubled >> w;
                *limb = doubled & mask as u32;
            }
            if carry != 0 || cmp(&rr, &n) != Ordering::Less {
                sub_in_place(&mut rr, &n, w);
            }
        }
        Some(LazyModulus { n, w, n0inv, rr })
    }

    /// Number of limbs.
    pub fn limbs(&self) -> usize {
        self.n.len()
    }

    /// Bits per limb.
    pub fn limb_width(&self) -> u32 {
        self.w
    }

    /// The modulus's limbs.
    #[cfg(test)]
    pub(crate) fn n(&self) -> &[u32] {
        &self.n
    }

    /// `R² mod n`.
    #[cfg(test)]
    pub(crate) fn rr(&self) -> &[u32] {
        &self.rr
    }

    #[inline(always)]
    fn work<V: Lanes>(&self) -> Work<V> {
        let k = self.limbs();
        let mut bn = Shifted::new(k);
        let mut pad = vec![0u32; 4 * bn.q + 3];
        bn.fill(1, &self.n, true, &mut pad);
        Work {
            am: Shifted::new(k),
            bn,
            pad,
            m: vec![0; k],
        }
    }

    /// `out = a·b·R⁻¹ mod n` for `a, b < n` (k limbs each; a square is `b = a`), by
    /// Montgomery product scanning over all `2k` columns: column `x` sums `aᵢ·b_(x−i)` and
    /// the reduction's `mᵢ·n_(x−i)`; the columns below `k` choose `m_x` so that the column's
    /// low `w` bits vanish, the columns from `k` on give the result's limbs (reduced below n
    /// at the end).
    ///
    /// Column `x` sums the terms `lo ≤ i ≤ hi` with `b` and `n` reversed from limb `rb`: below
    /// `k`, `lo = 0` and `rb = k−1−x`; from `k` on, `lo = x−k+1` and `rb = 0`, so in each half
    /// only one of the runs moves. m_x is still zero in column x, so the reduction's terms run
    /// with the product's. Squares take this same path: computing each cross product once and
    /// doubling needs a second loop and a masked last vector per column, which cost more in
    /// Wasm (and 1.5 KB of filter) than the 25 % of products they save.
    ///
    /// One instance for every use, to keep the filter small; inside Wasm it is compiled with
    /// SIMD, so that the lanes' operations inline into it.
    #[inline(never)]
    #[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
    fn mul_with<V: Lanes>(&self, out: &mut [u32], a: &[u32], b: &[u32], work: &mut Work<V>) {
        let k = self.limbs();
        let w = self.w;
        let mask = (1u64 << w) - 1;
        let n0 = u64::from(self.n.first().copied().unwrap_or(0));
        work.am.fill(0, a, false, &mut work.pad);
        work.bn.fill(0, b, true, &mut work.pad);
        work.am.clear_second_first_copy();
        // Columns go in blocks of four, one pass over the runs for all four: below k the
        // block shares the `a`/`m` run (column x+j's extra lanes meet zeros of reversed `b`/`n`
        // in the columns before it), from k on it shares the `b`/`n` run (column x+j is j terms
        // shorter: its last lanes meet the zeros past `a`/`m`). Below k, the multipliers m_x..
        // are found after the pass, so column x+j gets its terms m_(x+i)·n_(j−i), i < j, then.
        // Columns past the half are computed on valid runs and ignored.
        let n_at = |i: usize| u64::from(self.n.get(i).copied().unwrap_or(0));
        let (n1, n2, n3) = (n_at(1), n_at(2), n_at(3));
        let mut carry = 0u64;
        let mut x = 0;
        let bn_copies = work.bn.copies();
        while x < k {
            let run = |j: usize| from_copies(&bn_copies, k.saturating_sub(1 + x + j));
            let s = dot4(work.am.from(0), [run(0), run(1), run(2), run(3)], x + 4);
            let mut m = [0u64; 4];
            for (j, sj) in s.into_iter().enumerate().take(k - x) {
                let fix = match j {
                    1 => m[0] * n1,
                    2 => m[0] * n2 + m[1] * n1,
                    3 => m[0] * n3 + m[1] * n2 + m[2] * n1,
                    _ => 0,
                };
                let s = carry + sj + fix;
                let mj = s.wrapping_mul(self.n0inv) & mask;
                if let (Some(slot), Some(keep)) = (m.get_mut(j), work.m.get_mut(x + j)) {
                    *slot = mj;
                    *keep = mj as u32;
                }
                carry = (s + mj * n0) >> w;
            }
            work.am.set_second_first_copy(x / 4, m.map(|v| v as u32));
            x += 4;
        }
        // From k on, the runs of `m` start anywhere: every copy.
        work.am.fill(1, &work.m, false, &mut work.pad);
        let bn = work.bn.from(0);
        let mut outs = out.iter_mut();
        let mut x = k;
        while x < 2 * k {
            let lo = x + 1 - k;
            let run = |j: usize| work.am.from(lo + j);
            let s = dot4(bn, [run(0), run(1), run(2), run(3)], k - lo);
            for s in s.into_iter().take(2 * k - x) {
                let s = carry + s;
                if let Some(o) = outs.next() {
                    *o = (s & mask) as u32;
                }
                carry = s >> w;
            }
            x += 4;
        }
        // The value is below 2n < 2R: `carry` is its bit R, if any.
        if carry != 0 || cmp(out, &self.n) != Ordering::Less {
            sub_in_place(out, &self.n, w);
        }
    }

    /// `base^e mod n` (square-and-multiply, left to right; the last multiplication takes
    /// `base` outside the Montgomery domain, which brings the result out of it).
    #[inline(always)]
    fn pow_with<V: Lanes>(&self, base: &[u32], e: u64) -> Vec<u32> {
        let k = self.limbs();
        let mut work = self.work::<V>();
        let mut mont = vec![0u32; k];
        self.mul_with(&mut mont, base, &self.rr, &mut work);
        let mut acc = mont.clone();
        let mut tmp = vec![0u32; k];
        let top_bit = 63u32.saturating_sub(e.leading_zeros());
        for i in (1..top_bit).rev() {
            self.mul_with(&mut tmp, &acc, &acc, &mut work);
            if (e >> i) & 1 == 1 {
                self.mul_with(&mut acc, &tmp, &mont, &mut work);
            } else {
                core::mem::swap(&mut acc, &mut tmp);
            }
        }
        self.mul_with(&mut tmp, &acc, &acc, &mut work);
        self.mul_with(&mut acc, &tmp, base, &mut work);
        acc
    }

    /// `out = a·b·R⁻¹ mod n` for `a, b < n` (k limbs each).
    #[cfg(test)]
    pub(crate) fn mul(&self, out: &mut [u32], a: &[u32], b: &[u32]) {
        self.mul_with(out, a, b, &mut self.work::<TargetLanes>());
    }

    /// `out = a²·R⁻¹ mod n` for `a < n` (k limbs).
    #[cfg(test)]
    pub(crate) fn sqr(&self, out: &mut [u32], a: &[u32]) {
        self.mul_with(out, a, a, &mut self.work::<TargetLanes>());
    }

    /// `base^e mod n` for `base < n` and odd `e ≥ 3`, as k limbs.
    pub fn pow_odd(&self, base: &[u32], e: u64) -> Vec<u32> {
        self.pow_with::<TargetLanes>(base, e)
    }

    /// `s^e mod n` into `out` (big-endian, `out.len()` bytes) for `s` given big-endian and
    /// already known to be below n.
    pub fn pow_be(&self, s_be: &[u8], e: u64, out: &mut [u8]) {
        let s = from_be(s_be, self.w, self.limbs());
        let result = self.pow_odd(&s, e);
        to_be(&result, self.w, out);
    }
}

/// `a −= b` in `w`-bit limbs, modulo `2^(w·len)`.
fn sub_in_place(a: &mut [u32], b: &[u32], w: u32) {
    let mask = (1u64 << w) - 1;
    let mut borrow = 0u64;
    for (x, y) in a.iter_mut().zip(b) {
        let d = u64::from(*x)
            .wrapping_sub(u64::from(*y))
            .wrapping_sub(borrow);
        *x = (d & mask) as u32;
        borrow = d >> 63;
    }
}

#[cfg(test)]
#[path = "lazy_test.rs"]
mod tests;
