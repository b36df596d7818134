//! RSA signature verification (RFC 8017: RSASSA-PKCS1-v1_5 and RSASSA-PSS), public key only.
//!
//! The arithmetic is Montgomery multiplication ([`Arithmetic`]): on 64-bit hosts with 64-bit
//! limbs and 128-bit products (`bignum`), elsewhere — inside Wasm — on 28-bit limbs with
//! lazy carries ([`crate::lazy`]), which V8 runs ~2× faster than 32-bit limbs with a carry
//! chain. `s^e mod n` is square-and-multiply over the public exponent: 16 squarings and one
//! multiplication for e = 65537.
//!
//! Checks beyond the arithmetic, as RFC 8017 and the attacks on lax verifiers require:
//! the signature is exactly as long as the modulus and, as a number, smaller than it (no
//! `s + n` malleability); PKCS #1 v1.5 compares the whole encoded message against the one
//! expected byte for byte (no parsing of `DigestInfo`, so no Bleichenbacher-2006 forgeries with
//! e = 3); PSS requires the salt length to equal the hash length (RFC 7518 §3.5) and the
//! encoded message to fit `emLen` octets.

#[cfg(any(test, target_pointer_width = "64"))]
use crate::bignum::{self, Modulus};
use crate::lazy::LazyModulus;
use crate::Hash;
use alloc::vec;
use alloc::vec::Vec;
use core::cmp::Ordering;
use core::fmt;

/// The signature scheme's encoding (RFC 8017).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// RSASSA-PKCS1-v1_5 (JWS `RS256`, `RS384`, `RS512`).
    Pkcs1v15,
    /// RSASSA-PSS with MGF1 and a salt as long as the hash (JWS `PS256`, `PS384`, `PS512`).
    Pss,
}

/// Why an RSA public key is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsaKeyError {
    /// The modulus has fewer bits than the smallest accepted.
    TooSmall {
        /// Bits of the modulus.
        bits: usize,
    },
    /// The modulus has more bits than the largest accepted.
    TooLarge {
        /// Bits of the modulus.
        bits: usize,
    },
    /// The modulus is even (not a product of two odd primes).
    EvenModulus,
    /// The public exponent is even, below 3 or above 2^33−1.
    BadExponent,
}

impl fmt::Display for RsaKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RsaKeyError::TooSmall { bits } => write!(f, "rsa key of {bits} bits is too weak"),
            RsaKeyError::TooLarge { bits } => write!(f, "rsa key of {bits} bits is too large"),
            RsaKeyError::EvenModulus => f.write_str("the rsa modulus is even"),
            RsaKeyError::BadExponent => {
                f.write_str("rsa public exponent must be odd and from 3 to 2^33-1")
            }
        }
    }
}

/// The arithmetic behind the public operation `s^e mod n`: a modulus with its Montgomery
/// constants, computed once per key.
pub trait Arithmetic: Clone + PartialEq + Eq + fmt::Debug {
    /// The modulus from big-endian bytes without leading zeros; `None` when it is even, 1 or
    /// has leading zeros.
    fn from_modulus(n_be: &[u8]) -> Option<Self>;
    /// `s^e mod n` into `out` (big-endian, `out.len()` bytes) for odd `e ≥ 3` and `s`
    /// (big-endian, at most `out.len()` bytes) already known to be below n.
    fn pow_be(&self, s_be: &[u8], e: u64, out: &mut [u8]);
}

#[cfg(any(test, target_pointer_width = "64"))]
impl<L: bignum::Limb> Arithmetic for Modulus<L> {
    fn from_modulus(n_be: &[u8]) -> Option<Self> {
        Modulus::new(n_be)
    }
    fn pow_be(&self, s_be: &[u8], e: u64, out: &mut [u8]) {
        let s: Vec<L> = bignum::from_be(s_be, self.limbs());
        bignum::to_be(&self.pow_odd(&s, e), out);
    }
}

impl Arithmetic for LazyModulus {
    fn from_modulus(n_be: &[u8]) -> Option<Self> {
        LazyModulus::new(n_be)
    }
    fn pow_be(&self, s_be: &[u8], e: u64, out: &mut [u8]) {
        LazyModulus::pow_be(self, s_be, e, out);
    }
}

/// The arithmetic of this target: 64-bit limbs where the target multiplies 64×64→128 in one
/// instruction, lazy carries on 28-bit limbs elsewhere (Wasm).
#[cfg(target_pointer_width = "64")]
pub type TargetArithmetic = Modulus<u64>;
/// The arithmetic of this target: 64-bit limbs where the target multiplies 64×64→128 in one
/// instruction, lazy carries on 28-bit limbs elsewhere (Wasm).
#[cfg(not(target_pointer_width = "64"))]
pub type TargetArithmetic = LazyModulus;

/// An RSA public key prepared for verification: the modulus with its Montgomery constants
/// (`−n⁻¹ mod 2^w` and `R² mod n`, w the limb width), computed once. `A` is the arithmetic;
/// every target has its default, the others exist for the differential tests.
#[derive(Clone, PartialEq, Eq)]
pub struct RsaPublicKey<A: Arithmetic = TargetArithmetic> {
    modulus: A,
    e: u64,
    n_be: Vec<u8>,
    e_be: Vec<u8>,
    bits: usize,
}

impl<A: Arithmetic> fmt::Debug for RsaPublicKey<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaPublicKey")
            .field("bits", &self.bits)
            .field("e", &self.e)
            .finish_non_exhaustive()
    }
}

fn trim(bytes: &[u8]) -> &[u8] {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.get(zeros..).unwrap_or(&[])
}

/// `DigestInfo` prefixes (RFC 8017 §9.2 note 1: the encodings with NULL parameters).
fn digest_info_prefix(hash: Hash) -> &'static [u8] {
    match hash {
        Hash::Sha256 => &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ],
        Hash::Sha384 => &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x02, 0x05, 0x00, 0x04, 0x30,
        ],
        Hash::Sha512 => &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x03, 0x05, 0x00, 0x04, 0x40,
        ],
    }
}

impl RsaPublicKey {
    /// A key from the big-endian modulus and public exponent (leading zero octets allowed),
    /// refused unless the modulus has `min_bits..=max_bits` bits and is odd, and the exponent
    /// is odd and from 3 to 2^33−1.
    pub fn new(
        n: &[u8],
        e: &[u8],
        min_bits: usize,
        max_bits: usize,
    ) -> Result<RsaPublicKey, RsaKeyError> {
        RsaPublicKey::with_arithmetic(n, e, min_bits, max_bits)
    }
}

impl<A: Arithmetic> RsaPublicKey<A> {
    /// [`RsaPublicKey::new`] with the arithmetic `A` instead of the target's.
    pub fn with_arithmetic(
        n: &[u8],
        e: &[u8],
        min_bits: usize,
        max_bits: usize,
    ) -> Result<RsaPublicKey<A>, RsaKeyError> {
        let n_be = trim(n);
        let e_be = trim(e);
        let bits = match n_be.first() {
            None => 0,
            Some(top) => n_be.len() * 8 - top.leading_zeros() as usize,
        };
        if bits < min_bits {
            return Err(RsaKeyError::TooSmall { bits });
        }
        if bits > max_bits {
            return Err(RsaKeyError::TooLarge { bits });
        }
        if n_be.last().is_none_or(|b| b & 1 == 0) {
            return Err(RsaKeyError::EvenModulus);
        }
        if e_be.len() > 8 {
            return Err(RsaKeyError::BadExponent);
        }
        let e_val = e_be.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        if !(3..=(1u64 << 33) - 1).contains(&e_val) || e_val % 2 == 0 {
            return Err(RsaKeyError::BadExponent);
        }
        let modulus = A::from_modulus(n_be).ok_or(RsaKeyError::EvenModulus)?;
        Ok(RsaPublicKey {
            modulus,
            e: e_val,
            n_be: n_be.to_vec(),
            e_be: e_be.to_vec(),
            bits,
        })
    }

    /// Length of the modulus (and of every signature) in bytes.
    pub fn size(&self) -> usize {
        self.n_be.len()
    }

    /// Bits of the modulus.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// The modulus, big-endian, without leading zeros.
    pub fn n_bytes(&self) -> &[u8] {
        &self.n_be
    }

    /// The public exponent, big-endian, without leading zeros.
    pub fn e_bytes(&self) -> &[u8] {
        &self.e_be
    }

    /// `signature^e mod n` as `size()` big-endian bytes (RSAVP1 + I2OSP), or `None` when the
    /// signature is not exactly `size()` bytes or not smaller than the modulus.
    fn public_op(&self, signature: &[u8]) -> Option<Vec<u8>> {
        // Same length, so the byte order is the numbers' order.
        if signature.len() != self.size() || signature.cmp(&self.n_be) != Ordering::Less {
            return None;
        }
        let mut out = vec![0u8; self.size()];
        self.modulus.pow_be(signature, self.e, &mut out);
        Some(out)
    }

    /// Verifies `signature` over `message` (not its digest) with `padding` and `hash`: the
    /// same answer as [`Self::verify_pkcs1v15`] / [`Self::verify_pss`] on the message's
    /// digest. On x86-64 and AArch64 this is *ring*'s verification (assembly Montgomery
    /// multiplication, 1.3× faster than `bignum` natively; the native Envoy module's RSA is
    /// then as fast as jwt_authn's BoringSSL): for 2,048 to 8,192-bit moduli *ring* accepts
    /// what Vigil accepts (odd e from 3 to 2^33−1, a signature as long as the modulus and
    /// below it, the whole PKCS #1 v1.5 encoding, PSS with a salt as long as the hash), and
    /// `rsa_test.rs` checks that both answers agree on valid, corrupted and crafted
    /// signatures. Elsewhere (Wasm) the message is hashed and verified here.
    pub fn verify_message(
        &self,
        padding: Padding,
        hash: Hash,
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        {
            use ring::signature as r;
            let params: &r::RsaParameters = match (padding, hash) {
                (Padding::Pkcs1v15, Hash::Sha256) => &r::RSA_PKCS1_2048_8192_SHA256,
                (Padding::Pkcs1v15, Hash::Sha384) => &r::RSA_PKCS1_2048_8192_SHA384,
                (Padding::Pkcs1v15, Hash::Sha512) => &r::RSA_PKCS1_2048_8192_SHA512,
                (Padding::Pss, Hash::Sha256) => &r::RSA_PSS_2048_8192_SHA256,
                (Padding::Pss, Hash::Sha384) => &r::RSA_PSS_2048_8192_SHA384,
                (Padding::Pss, Hash::Sha512) => &r::RSA_PSS_2048_8192_SHA512,
            };
            // *ring*'s range is 2,048 to 8,192 bits; keys outside it (built only by callers
            // with other bounds: Vigil's key sets stop at 4,096) take the path below.
            if (2048..=8192).contains(&self.bits) {
                let key = r::RsaPublicKeyComponents {
                    n: &self.n_be,
                    e: &self.e_be,
                };
                return key.verify(params, message, signature).is_ok();
            }
        }
        let digest = hash.digest(&[message]);
        match padding {
            Padding::Pkcs1v15 => self.verify_pkcs1v15(hash, digest.as_bytes(), signature),
            Padding::Pss => self.verify_pss(hash, digest.as_bytes(), signature),
        }
    }

    /// RSASSA-PKCS1-v1_5 verification of `signature` over a message whose `hash` is `digest`.
    pub fn verify_pkcs1v15(&self, hash: Hash, digest: &[u8], signature: &[u8]) -> bool {
        let prefix = digest_info_prefix(hash);
        if digest.len() != hash.len() {
            return false;
        }
        let t_len = prefix.len() + digest.len();
        let k = self.size();
        if k < t_len + 11 {
            return false;
        }
        let Some(em) = self.public_op(signature) else {
            return false;
        };
        // EM = 0x00 ‖ 0x01 ‖ PS (0xff, k − tLen − 3 bytes) ‖ 0x00 ‖ DigestInfo ‖ H, compared
        // whole.
        let ps_len = k - t_len - 3;
        let Some((head, rest)) = em.split_at_checked(2) else {
            return false;
        };
        let Some((ps, rest)) = rest.split_at_checked(ps_len) else {
            return false;
        };
        let Some((zero, rest)) = rest.split_first() else {
            return false;
        };
        let Some((info, hash)) = rest.split_at_checked(prefix.len()) else {
            return false;
        };
        head == [0x00, 0x01]
            && ps.iter().all(|b| *b == 0xff)
            && *zero == 0x00
            && info == prefix
            && hash == digest
    }

    /// RSASSA-PSS verification (MGF1 with the same hash, salt as long as the hash) of
    /// `signature` over a message whose `hash` is `digest`.
    pub fn verify_pss(&self, hash: Hash, digest: &[u8], signature: &[u8]) -> bool {
        let h_len = hash.len();
        if digest.len() != h_len {
            return false;
        }
        let Some(m) = self.public_op(signature) else {
            return false;
        };
        let em_bits = self.bits - 1;
        let em_len = em_bits.div_ceil(8);
        // I2OSP(m, emLen): m must fit emLen octets (when emBits is a multiple of 8 the top
        // octet of the k-octet string must be zero).
        let Some((head, em)) = m.split_at_checked(m.len() - em_len) else {
            return false;
        };
        if head.iter().any(|b| *b != 0) {
            return false;
        }
        let s_len = h_len;
        if em_len < h_len + s_len + 2 {
            return false;
        }
        let Some((last, body)) = em.split_last() else {
            return false;
        };
        if *last != 0xbc {
            return false;
        }
        let Some((masked_db, h)) = body.split_at_checked(em_len - h_len - 1) else {
            return false;
        };
        let unused_bits = 8 * em_len - em_bits;
        let top_mask = 0xffu8 >> unused_bits;
        if masked_db.first().is_none_or(|b| b & !top_mask != 0) {
            return false;
        }
        // DB = maskedDB xor MGF1(H, emLen − hLen − 1).
        let mut db = masked_db.to_vec();
        let mut counter = 0u32;
        for chunk in db.chunks_mut(h_len) {
            let mask = hash.digest(&[h, &counter.to_be_bytes()]);
            chunk
                .iter_mut()
                .zip(mask.as_bytes())
                .for_each(|(d, m)| *d ^= m);
            counter = counter.wrapping_add(1);
        }
        if let Some(first) = db.first_mut() {
            *first &= top_mask;
        }
        // DB = PS (zeros) ‖ 0x01 ‖ salt.
        let ps_len = em_len - h_len - s_len - 2;
        let Some((ps, rest)) = db.split_at_checked(ps_len) else {
            return false;
        };
        let Some((one, salt)) = rest.split_first() else {
            return false;
        };
        if ps.iter().any(|b| *b != 0) || *one != 0x01 || salt.len() != s_len {
            return false;
        }
        let h2 = hash.digest(&[&[0u8; 8], digest, salt]);
        h2.as_bytes() == h
    }
}

#[cfg(test)]
#[path = "rsa_test.rs"]
mod tests;
