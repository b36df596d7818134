//! Arbitrary text as a JSON Web Key Set: must never panic; a set that parses has at least one
//! usable key, and every key it kept has a fingerprint that names it alone.
#![no_main]

use libfuzzer_sys::fuzz_target;
use policy_core::authenticate::JwkSet;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(set) = JwkSet::parse(text) {
        assert!(
            !set.keys().is_empty(),
            "a set with no usable key is an error"
        );
        for k in set.keys() {
            assert_eq!(k.fingerprint, k.key.fingerprint());
        }
    }
});
