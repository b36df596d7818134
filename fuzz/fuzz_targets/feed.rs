//! Arbitrary text as a revocation feed document: must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use policy_core::state::RevocationSnapshot;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = RevocationSnapshot::from_json(text);
    }
});
