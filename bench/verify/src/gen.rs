//! The vectors: deterministic keys (ChaCha20 from fixed seeds), one JWKS per case with one key
//! (`kid`, `alg`, `use`), a ~300-byte JWS signing input, a valid signature, and the public
//! material ring verifies with.

use crate::b64url;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

/// (alg, RSA modulus bits) of every RSA case, in report order.
const RSA_CASES: &[(&str, usize)] = &[
    ("RS256", 2048),
    ("RS256", 3072),
    ("RS256", 4096),
    ("RS384", 2048),
    ("RS384", 4096),
    ("RS512", 2048),
    ("RS512", 4096),
    ("PS256", 2048),
    ("PS256", 4096),
    ("PS384", 2048),
    ("PS384", 4096),
    ("PS512", 2048),
    ("PS512", 4096),
];

pub fn vectors() -> Value {
    let mut cases = Vec::new();
    // One key per modulus size, shared by the algorithms (each case still has its own kid).
    let mut rsa_keys: Vec<(usize, RsaPrivateKey)> = Vec::new();
    for (i, &(alg, bits)) in RSA_CASES.iter().enumerate() {
        if !rsa_keys.iter().any(|(b, _)| *b == bits) {
            let mut rng = ChaCha20Rng::seed_from_u64(0x5649_4749_4c00 + bits as u64);
            eprintln!("vigil-bench-verify: generating RSA-{bits}");
            let key = RsaPrivateKey::new(&mut rng, bits)
                .unwrap_or_else(|e| fail(&format!("RSA-{bits}: {e}")));
            rsa_keys.push((bits, key));
        }
        let Some((_, key)) = rsa_keys.iter().find(|(b, _)| *b == bits) else {
            fail("unreachable: the key was just generated")
        };
        let kid = format!("rsa-{bits}-{}", alg.to_ascii_lowercase());
        let message = signing_input(alg, &kid);
        let signature = rsa_sign(alg, key, message.as_bytes(), i as u64);
        let n = key.n().to_bytes_be();
        let e = key.e().to_bytes_be();
        let jwk = json!({"kty": "RSA", "kid": kid, "alg": alg, "use": "sig", "n": b64url(&n), "e": b64url(&e)});
        cases.push(case(
            alg,
            &format!("RSA-{bits}"),
            &kid,
            jwk,
            &message,
            &signature,
            json!({"kind": "rsa", "n": b64url(&n), "e": b64url(&e)}),
        ));
    }

    // ES256 (P-256).
    {
        use p256::ecdsa::signature::Signer;
        let mut rng = ChaCha20Rng::seed_from_u64(0x5649_4749_4c00 + 256);
        let sk = p256::ecdsa::SigningKey::random(&mut rng);
        let kid = "ec-p256-es256";
        let message = signing_input("ES256", kid);
        let sig: p256::ecdsa::Signature = sk.sign(message.as_bytes());
        let point = sk.verifying_key().to_encoded_point(false);
        let (x, y) = (point.x().map(|v| v.to_vec()), point.y().map(|v| v.to_vec()));
        let (Some(x), Some(y)) = (x, y) else {
            fail("P-256: no affine coordinates")
        };
        let jwk = json!({"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
                         "x": b64url(&x), "y": b64url(&y)});
        cases.push(case(
            "ES256",
            "P-256",
            kid,
            jwk,
            &message,
            &sig.to_bytes(),
            json!({"kind": "ecdsa-p256", "public": b64url(point.as_bytes())}),
        ));
    }

    // ES384 (P-384).
    {
        use p384::ecdsa::signature::Signer;
        let mut rng = ChaCha20Rng::seed_from_u64(0x5649_4749_4c00 + 384);
        let sk = p384::ecdsa::SigningKey::random(&mut rng);
        let kid = "ec-p384-es384";
        let message = signing_input("ES384", kid);
        let sig: p384::ecdsa::Signature = sk.sign(message.as_bytes());
        let point = sk.verifying_key().to_encoded_point(false);
        let (x, y) = (point.x().map(|v| v.to_vec()), point.y().map(|v| v.to_vec()));
        let (Some(x), Some(y)) = (x, y) else {
            fail("P-384: no affine coordinates")
        };
        let jwk = json!({"kty": "EC", "crv": "P-384", "kid": kid, "alg": "ES384", "use": "sig",
                         "x": b64url(&x), "y": b64url(&y)});
        cases.push(case(
            "ES384",
            "P-384",
            kid,
            jwk,
            &message,
            &sig.to_bytes(),
            json!({"kind": "ecdsa-p384", "public": b64url(point.as_bytes())}),
        ));
    }

    // EdDSA (Ed25519).
    {
        use ed25519_dalek::Signer;
        let mut rng = ChaCha20Rng::seed_from_u64(0x5649_4749_4c00 + 25519);
        let sk = ed25519_dalek::SigningKey::generate(&mut rng);
        let kid = "okp-ed25519-eddsa";
        let message = signing_input("EdDSA", kid);
        let sig = sk.sign(message.as_bytes());
        let public = sk.verifying_key().to_bytes();
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "alg": "EdDSA", "use": "sig",
                         "x": b64url(&public)});
        cases.push(case(
            "EdDSA",
            "Ed25519",
            kid,
            jwk,
            &message,
            &sig.to_bytes(),
            json!({"kind": "ed25519", "public": b64url(&public)}),
        ));
    }
    json!({
        "about": "scripts/bench verify vectors (bench/verify gen): deterministic keys, one JWKS per case, \
                  a JWS signing input and its signature, and the public material for ring",
        "cases": cases,
    })
}

fn case(
    alg: &str,
    key: &str,
    kid: &str,
    jwk: Value,
    message: &str,
    sig: &[u8],
    ring: Value,
) -> Value {
    json!({
        "alg": alg,
        "key": key,
        "kid": kid,
        "jwks": json!({"keys": [jwk]}).to_string(),
        "message": message,
        "signature": b64url(sig),
        "ring": ring,
    })
}

/// A JWS signing input (`BASE64URL(header) . BASE64URL(payload)`) of an ordinary access token,
/// about 300 bytes.
fn signing_input(alg: &str, kid: &str) -> String {
    let header = json!({"alg": alg, "typ": "JWT", "kid": kid}).to_string();
    let payload = json!({
        "iss": "https://login.example.com/",
        "sub": "user-7f3a9c2e",
        "aud": "api://reports",
        "iat": 1_700_000_000u64,
        "exp": 1_700_003_600u64,
        "jti": "b6f0e0f4-91c2-4d6e-a1f5-3c8e2d7a9b10",
        "scope": "reports:read",
    })
    .to_string();
    format!(
        "{}.{}",
        b64url(header.as_bytes()),
        b64url(payload.as_bytes())
    )
}

fn rsa_sign(alg: &str, key: &RsaPrivateKey, msg: &[u8], seed: u64) -> Vec<u8> {
    use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
    use sha2::{Sha256, Sha384, Sha512};
    let mut rng = ChaCha20Rng::seed_from_u64(0x5053_5300 + seed);
    let k = key.clone();
    match alg {
        "RS256" => rsa::pkcs1v15::SigningKey::<Sha256>::new(k)
            .sign(msg)
            .to_vec(),
        "RS384" => rsa::pkcs1v15::SigningKey::<Sha384>::new(k)
            .sign(msg)
            .to_vec(),
        "RS512" => rsa::pkcs1v15::SigningKey::<Sha512>::new(k)
            .sign(msg)
            .to_vec(),
        // PSS salt as long as the hash (RFC 7518 §3.5).
        "PS256" => rsa::pss::SigningKey::<Sha256>::new_with_salt_len(k, 32)
            .sign_with_rng(&mut rng, msg)
            .to_vec(),
        "PS384" => rsa::pss::SigningKey::<Sha384>::new_with_salt_len(k, 48)
            .sign_with_rng(&mut rng, msg)
            .to_vec(),
        "PS512" => rsa::pss::SigningKey::<Sha512>::new_with_salt_len(k, 64)
            .sign_with_rng(&mut rng, msg)
            .to_vec(),
        other => fail(&format!("no RSA algorithm {other}")),
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("vigil-bench-verify gen: {msg}");
    std::process::exit(1)
}
