//! ring, natively: the reference every Vigil figure is divided by.

use crate::b64url_decode;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey, VerificationAlgorithm};
use serde_json::Value;

pub enum Ring {
    Rsa {
        alg: &'static signature::RsaParameters,
        n: Vec<u8>,
        e: Vec<u8>,
    },
    Other {
        alg: &'static dyn VerificationAlgorithm,
        public: Vec<u8>,
    },
}

impl Ring {
    /// The ring algorithm for the case's `alg`, and the key from its `ring` member.
    pub fn from_case(case: &Value) -> Result<Ring, String> {
        let alg = case["alg"].as_str().unwrap_or("");
        let r = &case["ring"];
        let bytes = |name: &str| {
            r[name]
                .as_str()
                .and_then(b64url_decode)
                .ok_or_else(|| format!("the case has no base64url `ring.{name}`"))
        };
        let rsa = |alg| -> Result<Ring, String> {
            Ok(Ring::Rsa {
                alg,
                n: bytes("n")?,
                e: bytes("e")?,
            })
        };
        let other = |alg| -> Result<Ring, String> {
            Ok(Ring::Other {
                alg,
                public: bytes("public")?,
            })
        };
        match alg {
            "RS256" => rsa(&signature::RSA_PKCS1_2048_8192_SHA256),
            "RS384" => rsa(&signature::RSA_PKCS1_2048_8192_SHA384),
            "RS512" => rsa(&signature::RSA_PKCS1_2048_8192_SHA512),
            "PS256" => rsa(&signature::RSA_PSS_2048_8192_SHA256),
            "PS384" => rsa(&signature::RSA_PSS_2048_8192_SHA384),
            "PS512" => rsa(&signature::RSA_PSS_2048_8192_SHA512),
            "ES256" => other(&signature::ECDSA_P256_SHA256_FIXED),
            "ES384" => other(&signature::ECDSA_P384_SHA384_FIXED),
            "EdDSA" | "Ed25519" => other(&signature::ED25519),
            _ => Err(format!("no ring algorithm for `{alg}`")),
        }
    }

    pub fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        match self {
            Ring::Rsa { alg, n, e } => RsaPublicKeyComponents { n, e }
                .verify(alg, message, sig)
                .is_ok(),
            Ring::Other { alg, public } => UnparsedPublicKey::new(*alg, public)
                .verify(message, sig)
                .is_ok(),
        }
    }
}
