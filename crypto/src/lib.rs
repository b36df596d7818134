//! Vigil's signature arithmetic, for verification only: RSA (PKCS #1 v1.5 and PSS) and ECDSA on P-256,
//! P-384 and P-521, on limbs the target multiplies in one instruction (32-bit inside Wasm, 64-bit on
//! 64-bit hosts for RSA), so that the same code is fast natively and inside Wasm.
//!
//! Verification handles only public data (the key, the message, the signature), so none of
//! this needs to run in constant time; it must be *correct* on every input, which the
//! differential tests (`*_test.rs`, against the RustCrypto crates) check on random and edge
//! inputs. `docs/benchmarks.md` says why no library served (measured speed inside Wasm).
//!
//! Nothing here panics, indexes out of bounds or allocates without bound: the sizes of keys
//! and signatures are checked before any arithmetic, and every loop is bounded by them.
//!
//! A crate of its own so that the release profile can build it for speed (`opt-level = 3`)
//! while the filter around it is built for size: at `opt-level = "z"` the same RSA verify is
//! 3× slower inside Wasm.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

// Word-sized limbs: the RSA arithmetic of 64-bit hosts (and a test subject everywhere).
#[cfg(any(test, target_pointer_width = "64"))]
mod bignum;
pub mod ec;
pub mod lazy;
pub mod rsa;
#[cfg(test)]
mod test_util;

use sha2::Digest as _;

/// A hash function of the SHA-2 family, as JWS algorithms name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl Hash {
    /// Length of the digest in bytes.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(self) -> usize {
        match self {
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }

    /// The digest of the concatenation of `parts`.
    pub fn digest(self, parts: &[&[u8]]) -> Digest {
        let mut bytes = [0u8; 64];
        let len = self.len();
        match self {
            Hash::Sha256 => {
                let mut h = sha2::Sha256::new();
                parts.iter().for_each(|p| h.update(p));
                fill(&mut bytes, &h.finalize());
            }
            Hash::Sha384 => {
                let mut h = sha2::Sha384::new();
                parts.iter().for_each(|p| h.update(p));
                fill(&mut bytes, &h.finalize());
            }
            Hash::Sha512 => {
                let mut h = sha2::Sha512::new();
                parts.iter().for_each(|p| h.update(p));
                fill(&mut bytes, &h.finalize());
            }
        }
        Digest { bytes, len }
    }
}

fn fill(out: &mut [u8; 64], digest: &[u8]) {
    out.iter_mut().zip(digest).for_each(|(o, d)| *o = *d);
}

/// A digest of at most 64 bytes, on the stack.
#[derive(Debug, Clone, Copy)]
pub struct Digest {
    bytes: [u8; 64],
    len: usize,
}

impl Digest {
    /// The digest's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}
