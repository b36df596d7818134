//! Differential tests of `rsa.rs` against the RustCrypto `rsa` crate (the reference): the raw
//! public operation on random odd moduli of every size Vigil accepts, and PKCS #1 v1.5 / PSS
//! verification with real keys on valid, corrupted and crafted signatures.
//!
//! `VIGIL_CRYPTO_CASES=N` multiplies the number of random cases (default 1).

use super::*;
use crate::test_util::{random_odd, scale};
use ::rsa::traits::{PrivateKeyParts, PublicKeyParts};
use ::rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPrivateKey};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use sha2::Digest as _;

/// The key under every arithmetic: 64-bit limbs (64-bit hosts), 32-bit limbs, and 28-bit
/// limbs with lazy carries (Wasm). Every operation runs on all three, which must agree.
#[derive(Debug)]
struct Ours {
    words: RsaPublicKey<Modulus<u64>>,
    narrow: RsaPublicKey<Modulus<u32>>,
    lazy: RsaPublicKey<LazyModulus>,
}

impl Ours {
    fn new(n: &[u8], e: &[u8], min: usize, max: usize) -> Result<Ours, RsaKeyError> {
        Ok(Ours {
            words: RsaPublicKey::with_arithmetic(n, e, min, max)?,
            narrow: RsaPublicKey::with_arithmetic(n, e, min, max)?,
            lazy: RsaPublicKey::with_arithmetic(n, e, min, max)?,
        })
    }
    fn agree<T: PartialEq + std::fmt::Debug>(&self, words: T, narrow: T, lazy: T) -> T {
        assert_eq!(words, narrow, "64-bit and 32-bit limbs disagree");
        assert_eq!(words, lazy, "64-bit limbs and lazy carries disagree");
        words
    }
    fn size(&self) -> usize {
        self.words.size()
    }
    fn bits(&self) -> usize {
        self.words.bits()
    }
    fn public_op(&self, s: &[u8]) -> Option<Vec<u8>> {
        self.agree(
            self.words.public_op(s),
            self.narrow.public_op(s),
            self.lazy.public_op(s),
        )
    }
    fn verify_pkcs1v15(&self, hash: Hash, digest: &[u8], sig: &[u8]) -> bool {
        self.agree(
            self.words.verify_pkcs1v15(hash, digest, sig),
            self.narrow.verify_pkcs1v15(hash, digest, sig),
            self.lazy.verify_pkcs1v15(hash, digest, sig),
        )
    }
    fn verify_pss(&self, hash: Hash, digest: &[u8], sig: &[u8]) -> bool {
        self.agree(
            self.words.verify_pss(hash, digest, sig),
            self.narrow.verify_pss(hash, digest, sig),
            self.lazy.verify_pss(hash, digest, sig),
        )
    }
}

fn random_bytes(rng: &mut ChaCha20Rng, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rng.fill_bytes(&mut v);
    v
}

fn be(n: &BigUint, len: usize) -> Vec<u8> {
    let b = n.to_bytes_be();
    let mut out = vec![0u8; len.saturating_sub(b.len())];
    out.extend_from_slice(&b);
    out
}

/// A random odd number of exactly `bits` bits.

#[test]
fn public_operation_matches_modpow_on_random_moduli() {
    let mut rng = ChaCha20Rng::seed_from_u64(0x5eed_0001);
    let mut cases = 0;
    let sizes: Vec<usize> = [2048usize, 2049, 2056, 2063, 2080, 3072, 3073, 4095, 4096]
        .into_iter()
        .chain((0..6).map(|_| 2048 + (rng.next_u32() as usize % 2049)))
        .collect();
    for &bits in &sizes {
        for round in 0..(6 * scale()) {
            let n = random_odd(&mut rng, bits);
            let e: u64 = match round % 3 {
                0 => 65537,
                1 => 3,
                _ => (u64::from(rng.next_u32()) | 1).max(3),
            };
            let key = Ours::new(&n.to_bytes_be(), &e.to_be_bytes(), 2048, 4096).unwrap();
            assert_eq!(key.bits(), bits);
            let size = key.size();
            let one = BigUint::from(1u8);
            let mut inputs = vec![
                BigUint::from(0u8),
                one.clone(),
                BigUint::from(2u8),
                &n - &one,
                &n - BigUint::from(2u8),
                &n >> 1usize,
            ];
            for _ in 0..4 {
                inputs.push(BigUint::from_bytes_be(&random_bytes(&mut rng, size)) % &n);
            }
            for s in inputs {
                let got = key.public_op(&be(&s, size)).expect("in range");
                let want = s.modpow(&BigUint::from(e), &n);
                assert_eq!(got, be(&want, size), "bits {bits}, e {e}");
                cases += 1;
            }
            // Out of range: s = n, s = n + 1, all-ones; wrong lengths.
            assert!(key.public_op(&be(&n, size)).is_none());
            if let Some(big) = Some(&n + &one).filter(|v| v.bits() <= size * 8) {
                assert!(key.public_op(&be(&big, size)).is_none());
            }
            assert!(key.public_op(&vec![0xff; size]).is_none());
            assert!(key.public_op(&vec![0; size - 1]).is_none());
            assert!(key.public_op(&vec![0; size + 1]).is_none());
            cases += 5;
        }
    }
    eprintln!("rsa public operation: {cases} differential cases");
}

#[test]
fn keys_are_checked() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let n = random_odd(&mut rng, 2048).to_bytes_be();
    let e = [1, 0, 1];
    assert!(RsaPublicKey::new(&n, &e, 2048, 4096).is_ok());
    let mut padded = vec![0, 0];
    padded.extend_from_slice(&n);
    let k = RsaPublicKey::new(&padded, &[0, 1, 0, 1], 2048, 4096).unwrap();
    assert_eq!(
        (k.size(), k.bits(), k.n_bytes(), k.e_bytes()),
        (256, 2048, &n[..], &e[..])
    );
    let short = random_odd(&mut rng, 2047).to_bytes_be();
    assert_eq!(
        RsaPublicKey::new(&short, &e, 2048, 4096),
        Err(RsaKeyError::TooSmall { bits: 2047 })
    );
    let long = random_odd(&mut rng, 4097).to_bytes_be();
    assert_eq!(
        RsaPublicKey::new(&long, &e, 2048, 4096),
        Err(RsaKeyError::TooLarge { bits: 4097 })
    );
    let mut even = n.clone();
    *even.last_mut().unwrap() &= 0xfe;
    assert_eq!(
        RsaPublicKey::new(&even, &e, 2048, 4096),
        Err(RsaKeyError::EvenModulus)
    );
    for bad in [&[1u8][..], &[2], &[1, 0, 0], &[2, 0, 0, 0, 1], &[], &[1; 9]] {
        assert_eq!(
            RsaPublicKey::new(&n, bad, 2048, 4096),
            Err(RsaKeyError::BadExponent),
            "e = {bad:?}"
        );
    }
    assert!(RsaPublicKey::new(&n, &[1, 0xff, 0xff, 0xff, 0xff], 2048, 4096).is_ok());
    assert_eq!(
        RsaPublicKey::new(&[], &e, 2048, 4096),
        Err(RsaKeyError::TooSmall { bits: 0 })
    );
}

fn hash_of(hash: Hash, m: &[u8]) -> Vec<u8> {
    match hash {
        Hash::Sha256 => sha2::Sha256::digest(m).to_vec(),
        Hash::Sha384 => sha2::Sha384::digest(m).to_vec(),
        Hash::Sha512 => sha2::Sha512::digest(m).to_vec(),
    }
}

fn pkcs1(hash: Hash) -> Pkcs1v15Sign {
    match hash {
        Hash::Sha256 => Pkcs1v15Sign::new::<sha2::Sha256>(),
        Hash::Sha384 => Pkcs1v15Sign::new::<sha2::Sha384>(),
        Hash::Sha512 => Pkcs1v15Sign::new::<sha2::Sha512>(),
    }
}

fn pss(hash: Hash) -> Pss {
    match hash {
        Hash::Sha256 => Pss::new::<sha2::Sha256>(),
        Hash::Sha384 => Pss::new::<sha2::Sha384>(),
        Hash::Sha512 => Pss::new::<sha2::Sha512>(),
    }
}

/// Ours and the reference on one (digest, signature); returns ours. The reference reduces a
/// signature ≥ n modulo n (RFC 8017 says such a signature is invalid): ours must refuse those.
fn check(
    ours: &Ours,
    reference: &::rsa::RsaPublicKey,
    is_pss: bool,
    hash: Hash,
    digest: &[u8],
    sig: &[u8],
    what: &str,
) -> bool {
    let got = if is_pss {
        ours.verify_pss(hash, digest, sig)
    } else {
        ours.verify_pkcs1v15(hash, digest, sig)
    };
    let want = if is_pss {
        reference.verify(pss(hash), digest, sig).is_ok()
    } else {
        reference.verify(pkcs1(hash), digest, sig).is_ok()
    };
    let in_range = BigUint::from_bytes_be(sig) < *reference.n();
    if in_range {
        assert_eq!(got, want, "{what}: ours {got}, reference {want}");
    } else {
        assert!(!got, "{what}: a signature ≥ n was accepted");
    }
    got
}

/// The public half of `private` (the reference) and the same key as ours.
fn ours_of(private: &RsaPrivateKey) -> (::rsa::RsaPublicKey, Ours) {
    let reference = private.to_public_key();
    let ours = Ours::new(
        &reference.n().to_bytes_be(),
        &reference.e().to_bytes_be(),
        2048,
        4096,
    )
    .unwrap();
    (reference, ours)
}

/// A new private key of `bits` bits, with [`ours_of`] it.
fn key_of(rng: &mut ChaCha20Rng, bits: usize) -> (RsaPrivateKey, ::rsa::RsaPublicKey, Ours) {
    let private = RsaPrivateKey::new(rng, bits).unwrap();
    let (reference, ours) = ours_of(&private);
    (private, reference, ours)
}

#[test]
fn signatures_match_the_reference() {
    let mut rng = ChaCha20Rng::seed_from_u64(0x5eed_0002);
    // Key generation dominates the time: a few keys, many signatures each.
    let mut sizes = vec![2048usize, 2048, 2049, 3072, 4096];
    if scale() > 1 {
        sizes.extend([2056, 2050, 3071, 4095]);
    }
    let mut cases = 0;
    for bits in sizes {
        let (private, reference, ours) = key_of(&mut rng, bits);
        let size = ours.size();
        let other = RsaPrivateKey::new(&mut rng, 2048).unwrap();
        for round in 0..(8 * scale()) {
            let hash = [Hash::Sha256, Hash::Sha384, Hash::Sha512][round % 3];
            let msg = random_bytes(&mut rng, round * 7);
            let digest = hash_of(hash, &msg);
            for is_pss in [false, true] {
                let sig = if is_pss {
                    private.sign_with_rng(&mut rng, pss(hash), &digest).unwrap()
                } else {
                    private.sign(pkcs1(hash), &digest).unwrap()
                };
                let what = format!("{bits} bits, {hash:?}, pss {is_pss}, round {round}");
                assert!(check(&ours, &reference, is_pss, hash, &digest, &sig, &what));
                // Flipped bits in the signature and in the digest.
                for _ in 0..3 {
                    let mut bad = sig.clone();
                    let bit = rng.next_u32() as usize % (size * 8);
                    bad[bit / 8] ^= 1 << (bit % 8);
                    assert!(!check(
                        &ours, &reference, is_pss, hash, &digest, &bad, &what
                    ));
                    let mut bad_digest = digest.clone();
                    let bit = rng.next_u32() as usize % (digest.len() * 8);
                    bad_digest[bit / 8] ^= 1 << (bit % 8);
                    assert!(!check(
                        &ours,
                        &reference,
                        is_pss,
                        hash,
                        &bad_digest,
                        &sig,
                        &what
                    ));
                }
                // Another hash of the same family, another key's signature.
                let other_hash = [Hash::Sha256, Hash::Sha384, Hash::Sha512][(round + 1) % 3];
                assert!(!check(
                    &ours,
                    &reference,
                    is_pss,
                    other_hash,
                    &hash_of(other_hash, &msg),
                    &sig,
                    &what
                ));
                let foreign = if is_pss {
                    other.sign_with_rng(&mut rng, pss(hash), &digest).unwrap()
                } else {
                    other.sign(pkcs1(hash), &digest).unwrap()
                };
                if foreign.len() == size {
                    assert!(!check(
                        &ours, &reference, is_pss, hash, &digest, &foreign, &what
                    ));
                }
                // s + n: the same value modulo n, refused when it fits the length.
                let plus_n = BigUint::from_bytes_be(&sig) + reference.n();
                if plus_n.bits() <= size * 8 {
                    assert!(!ours.verify_pkcs1v15(hash, &digest, &be(&plus_n, size)));
                    assert!(!ours.verify_pss(hash, &digest, &be(&plus_n, size)));
                }
                // Edge values and lengths.
                let n = reference.n();
                let edges = [
                    vec![0u8; size],
                    be(&BigUint::from(1u8), size),
                    be(&(n - BigUint::from(1u8)), size),
                    be(n, size),
                    vec![0xff; size],
                    random_bytes(&mut rng, size),
                ];
                for e in &edges {
                    assert!(!check(&ours, &reference, is_pss, hash, &digest, e, &what));
                }
                assert!(!ours.verify_pkcs1v15(hash, &digest, &sig[1..]));
                let mut longer = vec![0u8];
                longer.extend_from_slice(&sig);
                assert!(!ours.verify_pkcs1v15(hash, &digest, &longer));
                assert!(!ours.verify_pss(hash, &digest, &longer));
                assert!(!ours.verify_pss(hash, &digest, &[]));
                assert!(!ours.verify_pkcs1v15(hash, &digest[1..], &sig));
                cases += 24;
            }
        }
    }
    eprintln!("rsa signatures: {cases} differential cases");
}

/// `m^e mod n` with the reference's arithmetic, as `size` bytes.
fn raw(reference: &::rsa::RsaPublicKey, m: &BigUint) -> Vec<u8> {
    be(&m.modpow(reference.e(), reference.n()), reference.size())
}

/// Encoded messages that lax verifiers accept and RFC 8017 does not: each is turned into a
/// "signature" with the private key (so the public operation gives exactly that message).
#[test]
fn malformed_encodings_are_refused() {
    let mut rng = ChaCha20Rng::seed_from_u64(0x5eed_0003);
    let (private, reference, ours) = key_of(&mut rng, 2048);
    let d = private.d();
    let sign_raw = |em: &[u8]| be(&BigUint::from_bytes_be(em).modpow(d, reference.n()), 256);
    let digest = hash_of(Hash::Sha256, b"payload");
    let prefix = digest_info_prefix(Hash::Sha256);
    let good = |ps: usize, sep: u8, prefix: &[u8], tail: &[u8]| {
        let mut em = vec![0x00, 0x01];
        em.extend(std::iter::repeat_n(0xff, ps));
        em.push(sep);
        em.extend_from_slice(prefix);
        em.extend_from_slice(&digest);
        em.extend_from_slice(tail);
        em
    };
    let ps = 256 - 3 - prefix.len() - 32;
    let valid = good(ps, 0, prefix, &[]);
    assert!(ours.verify_pkcs1v15(Hash::Sha256, &digest, &sign_raw(&valid)));
    assert_eq!(
        raw(&reference, &BigUint::from_bytes_be(&sign_raw(&valid))),
        valid
    );
    // Garbage after the hash (Bleichenbacher 2006), with the padding shortened to fit.
    let mut cases = vec![good(ps - 4, 0, prefix, &[1, 2, 3, 4])];
    // Padding bytes not 0xff, block type 2, no separator.
    let mut wrong_ps = valid.clone();
    wrong_ps[10] = 0xfe;
    cases.push(wrong_ps);
    let mut bt2 = valid.clone();
    bt2[1] = 0x02;
    cases.push(bt2);
    let mut no_sep = valid.clone();
    no_sep[2 + ps] = 0xff;
    cases.push(no_sep);
    // DigestInfo without the NULL parameters, with a longer length field, another OID.
    let absent = [
        0x30, 0x2f, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x04, 0x20,
    ];
    cases.push(good(ps + 2, 0, &absent, &[]));
    let mut other_oid = prefix.to_vec();
    other_oid[14] = 0x02;
    cases.push(good(ps, 0, &other_oid, &[]));
    // Padding shorter than 8 bytes.
    let short_ps = good(7, 0, prefix, &vec![0u8; ps - 7]);
    cases.push(short_ps);
    for (i, em) in cases.iter().enumerate() {
        assert_eq!(em.len(), 256, "case {i}");
        let sig = sign_raw(em);
        assert!(
            !ours.verify_pkcs1v15(Hash::Sha256, &digest, &sig),
            "case {i}"
        );
        assert!(
            reference
                .verify(pkcs1(Hash::Sha256), &digest, &sig)
                .is_err(),
            "case {i}"
        );
    }
    // PSS: trailer byte not 0xbc, top bit set, salt of another length.
    let pss_sig = private
        .sign_with_rng(&mut rng, pss(Hash::Sha256), &digest)
        .unwrap();
    let em = raw(&reference, &BigUint::from_bytes_be(&pss_sig));
    let mut trailer = em.clone();
    trailer[255] = 0xbd;
    let mut top = em.clone();
    top[0] |= 0x80;
    let mut ran = 0;
    for (i, bad) in [trailer, top].iter().enumerate() {
        if BigUint::from_bytes_be(bad) >= *reference.n() {
            continue;
        }
        ran += 1;
        assert!(
            !ours.verify_pss(Hash::Sha256, &digest, &sign_raw(bad)),
            "pss case {i}"
        );
    }
    assert_eq!(
        ran, 2,
        "both crafted pss encodings are below n with this seed"
    );
    let salt20 = private
        .sign_with_rng(&mut rng, Pss::new_with_salt::<sha2::Sha256>(20), &digest)
        .unwrap();
    assert!(!ours.verify_pss(Hash::Sha256, &digest, &salt20));
    let salt0 = private
        .sign_with_rng(&mut rng, Pss::new_with_salt::<sha2::Sha256>(0), &digest)
        .unwrap();
    assert!(!ours.verify_pss(Hash::Sha256, &digest, &salt0));
}

/// e = 3 keys: a forged signature built as a cube root (the 2006 attack) is refused.
#[test]
fn cube_root_forgery_with_e3_is_refused() {
    let mut rng = ChaCha20Rng::seed_from_u64(0x5eed_0004);
    let private = RsaPrivateKey::new_with_exp(&mut rng, 2048, &BigUint::from(3u8)).unwrap();
    let (reference, ours) = ours_of(&private);
    let digest = hash_of(Hash::Sha256, b"forged");
    let genuine = private.sign(pkcs1(Hash::Sha256), &digest).unwrap();
    assert!(ours.verify_pkcs1v15(Hash::Sha256, &digest, &genuine));
    // 00 01 ff×8 00 DigestInfo H, then garbage chosen so that the whole is a perfect cube.
    let mut prefix = vec![0x00, 0x01];
    prefix.extend([0xff; 8]);
    prefix.push(0);
    prefix.extend_from_slice(digest_info_prefix(Hash::Sha256));
    prefix.extend_from_slice(&digest);
    let mut em = prefix.clone();
    em.resize(256, 0xff);
    let target = BigUint::from_bytes_be(&em);
    let root = cube_root(&target);
    let forged = be(&root, 256);
    let cubed = be(&(&root * &root * &root), 256);
    assert_eq!(
        &cubed[..prefix.len()],
        &prefix[..],
        "the forgery has the right prefix"
    );
    assert!(!ours.verify_pkcs1v15(Hash::Sha256, &digest, &forged));
    assert!(reference
        .verify(pkcs1(Hash::Sha256), &digest, &forged)
        .is_err());
}

/// ⌊∛x⌋ by Newton's iteration.
fn cube_root(x: &BigUint) -> BigUint {
    let three = BigUint::from(3u8);
    let mut r = BigUint::from(1u8) << (x.bits() / 3 + 1);
    loop {
        let next = (&r * 2u8 + x / (&r * &r)) / &three;
        if next >= r {
            return r;
        }
        r = next;
    }
}

/// modBits ≡ 1 (mod 8): the k-octet m must start with a zero octet (I2OSP(m, emLen) fails
/// otherwise), even when the remaining emLen octets are a valid encoding.
#[test]
fn pss_top_octet_when_modbits_is_1_mod_8() {
    let mut rng = ChaCha20Rng::seed_from_u64(0x5eed_0005);
    let (private, reference, ours) = key_of(&mut rng, 2049);
    assert_eq!((ours.bits(), ours.size()), (2049, 257));
    let d = private.d();
    let digest = hash_of(Hash::Sha256, b"payload");
    let mut tried = 0;
    for _ in 0..64 {
        let sig = private
            .sign_with_rng(&mut rng, pss(Hash::Sha256), &digest)
            .unwrap();
        assert!(ours.verify_pss(Hash::Sha256, &digest, &sig));
        let mut em = raw(&reference, &BigUint::from_bytes_be(&sig));
        assert_eq!(em[0], 0);
        em[0] = 1;
        let m = BigUint::from_bytes_be(&em);
        if m >= *reference.n() {
            continue;
        }
        let forged = be(&m.modpow(d, reference.n()), 257);
        assert!(!ours.verify_pss(Hash::Sha256, &digest, &forged));
        assert!(
            reference
                .verify(pss(Hash::Sha256), &digest, &forged)
                .is_ok(),
            "rsa 0.9 drops that octet unchecked (it accepts): ours must not"
        );
        tried += 1;
    }
    assert!(tried > 0);
    eprintln!("pss with a 2,049-bit key: {tried} encodings with a non-zero top octet refused");
}

/// `verify_message` (*ring* on x86-64 and AArch64) against the digest path of every
/// arithmetic, on valid signatures, corrupted signatures and messages, crafted values (0, 1,
/// n − 1, n, s + n, all ones), wrong lengths, the wrong hash or padding and another key's
/// signatures: the native backend and Vigil's own must give the same answer everywhere.
#[test]
fn message_verification_matches_the_digest_path() {
    let mut rng = ChaCha20Rng::seed_from_u64(0x5eed_0003);
    let mut sizes = vec![2048usize, 2049, 3072];
    if scale() > 1 {
        sizes.extend([2056, 4095, 4096]);
    }
    let other = RsaPrivateKey::new(&mut rng, 2048).unwrap();
    let mut cases = 0;
    let mut accepted = 0;
    for bits in sizes {
        let (private, reference, ours) = key_of(&mut rng, bits);
        let size = ours.size();
        let n = reference.n().clone();
        let mut one = |padding: Padding, hash: Hash, msg: &[u8], sig: &[u8], what: &str| {
            let digest = hash_of(hash, msg);
            let want = match padding {
                Padding::Pkcs1v15 => ours.verify_pkcs1v15(hash, &digest, sig),
                Padding::Pss => ours.verify_pss(hash, &digest, sig),
            };
            for (name, got) in [
                ("64-bit", ours.words.verify_message(padding, hash, msg, sig)),
                (
                    "32-bit",
                    ours.narrow.verify_message(padding, hash, msg, sig),
                ),
                ("lazy", ours.lazy.verify_message(padding, hash, msg, sig)),
            ] {
                assert_eq!(
                    got, want,
                    "{what}, {name}: message path {got}, digest path {want}"
                );
            }
            cases += 1;
            accepted += usize::from(want);
            want
        };
        for round in 0..(6 * scale()) {
            let hash = [Hash::Sha256, Hash::Sha384, Hash::Sha512][round % 3];
            let msg = random_bytes(&mut rng, 1 + round * 13);
            let digest = hash_of(hash, &msg);
            for padding in [Padding::Pkcs1v15, Padding::Pss] {
                let what = format!("{bits} bits, {hash:?}, {padding:?}, round {round}");
                let sig = match padding {
                    Padding::Pss => private.sign_with_rng(&mut rng, pss(hash), &digest).unwrap(),
                    Padding::Pkcs1v15 => private.sign(pkcs1(hash), &digest).unwrap(),
                };
                assert!(
                    one(padding, hash, &msg, &sig, &what),
                    "{what}: valid refused"
                );
                let mut bad = sig.clone();
                let bit = rng.next_u32() as usize % (size * 8);
                bad[bit / 8] ^= 1 << (bit % 8);
                one(padding, hash, &msg, &bad, &what);
                let mut bad_msg = msg.clone();
                bad_msg[rng.next_u32() as usize % msg.len()] ^= 0x40;
                one(padding, hash, &bad_msg, &sig, &what);
                let other_padding = match padding {
                    Padding::Pss => Padding::Pkcs1v15,
                    Padding::Pkcs1v15 => Padding::Pss,
                };
                one(other_padding, hash, &msg, &sig, &what);
                let other_hash = [Hash::Sha256, Hash::Sha384, Hash::Sha512][(round + 1) % 3];
                one(padding, other_hash, &msg, &sig, &what);
                let plus_n = BigUint::from_bytes_be(&sig) + &n;
                if plus_n.bits() <= size * 8 {
                    one(padding, hash, &msg, &be(&plus_n, size), &what);
                }
                for crafted in [BigUint::from(0u8), BigUint::from(1u8), &n - 1u8, n.clone()] {
                    one(padding, hash, &msg, &be(&crafted, size), &what);
                }
                one(padding, hash, &msg, &vec![0xff; size], &what);
                one(padding, hash, &msg, &sig[1..], &what);
                let mut longer = vec![0u8];
                longer.extend_from_slice(&sig);
                one(padding, hash, &msg, &longer, &what);
                one(padding, hash, &msg, &[], &what);
                let foreign = match padding {
                    Padding::Pss => other.sign_with_rng(&mut rng, pss(hash), &digest).unwrap(),
                    Padding::Pkcs1v15 => other.sign(pkcs1(hash), &digest).unwrap(),
                };
                one(padding, hash, &msg, &foreign, &what);
            }
        }
    }
    assert!(
        accepted > 0 && cases > accepted * 5,
        "{accepted} of {cases}"
    );
    eprintln!("message path against digest path: {cases} cases, {accepted} valid");
}
