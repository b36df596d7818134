//! The CLI's YAML reading (Istio objects pasted as multi-document YAML): arbitrary text must
//! convert or be refused, never panic or hang, and what it converts to is JSON text within the
//! size limit that policy-core's strict parser reads.
#![no_main]

#[path = "../../host-test/src/yaml.rs"]
#[allow(dead_code)]
mod yaml;

use libfuzzer_sys::fuzz_target;

const MAX: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(json) = yaml::to_json_text(text, MAX) {
        assert!(
            json.len() <= MAX,
            "{} bytes past the {MAX} limit",
            json.len()
        );
        let _ = policy_core::json::parse(&json, policy_core::json::Limits::POLICY);
    }
});
