//! Arbitrary text as a bundle: verification never panics, and nothing is accepted without a
//! signature by the trusted key (the fuzzer does not hold it, so every input must be refused),
//! whatever the header, payload and revision bytes look like.
#![no_main]

use libfuzzer_sys::fuzz_target;
use policy_core::bundle::{verify, BundleKeys, Kind, Last, Verified};
use policy_core::json::{self, Limits};
use std::sync::OnceLock;

fn keys() -> &'static BundleKeys {
    static K: OnceLock<BundleKeys> = OnceLock::new();
    K.get_or_init(|| {
        let v = json::parse(
            r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#,
            Limits::POLICY,
        )
        .expect("the key set is JSON");
        BundleKeys::from_jwks(&v).expect("the key set is usable")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for kind in [Kind::Policy, Kind::Revocation] {
        match verify(
            text,
            keys(),
            kind,
            Last {
                revision: Some(3),
                text: None,
            },
        ) {
            Ok(Verified::New(b)) => panic!(
                "accepted without the key's signature: revision {}",
                b.revision
            ),
            Ok(Verified::Unchanged) => panic!("unchanged without an installed bundle"),
            Err(e) => assert!(!e.code.is_empty() && !e.message.is_empty()),
        }
    }
    // The installed bundle, fetched again, is unchanged without being parsed.
    assert_eq!(
        verify(
            text,
            keys(),
            Kind::Policy,
            Last {
                revision: Some(3),
                text: Some(text)
            }
        )
        .ok(),
        if text.len() <= policy_core::bundle::MAX_BUNDLE_BYTES {
            Some(Verified::Unchanged)
        } else {
            None
        }
    );
});
