//! Arbitrary requests (method, target, host and headers as NUL-separated fields) against the
//! path-bypass corpus's policy, and arbitrary check requests as JSON: must never panic, and the
//! decision must not depend on how the same canonical path was spelt.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use policy_core::extract::path::{canonicalize_path, PathNormalization};
use policy_core::{CheckRequest, Env};

const MODES: [PathNormalization; 4] = [
    PathNormalization::Strict,
    PathNormalization::Base,
    PathNormalization::MergeSlashes,
    PathNormalization::DecodeAndMergeSlashes,
];

fuzz_target!(|data: &[u8]| {
    let f = common::fields(data, 8);
    let get = |i: usize| f.get(i).map_or("", String::as_str);
    // The target through every normalisation: a canonical path is a fixed point (normalising it
    // again changes nothing), and STRICT accepts nothing MERGE_SLASHES would read differently.
    let target = get(0);
    for mode in MODES {
        if let Ok(c) = canonicalize_path(target, mode) {
            let again = canonicalize_path(&c.path, mode);
            assert_eq!(
                again.as_ref().map(|a| a.path.as_str()),
                Ok(c.path.as_str()),
                "{mode:?} on {target:?}"
            );
        }
    }
    if let Ok(strict) = canonicalize_path(target, PathNormalization::Strict) {
        let merged = canonicalize_path(target, PathNormalization::MergeSlashes);
        assert_eq!(
            merged.map(|m| m.path),
            Ok(strict.path),
            "STRICT vs MERGE_SLASHES on {target:?}"
        );
    }
    // The whole request: denied or allowed, never a panic; the same decision for the target
    // and for its STRICT canonical form.
    let mut req = CheckRequest::new(get(1), target, get(2));
    for pair in f.iter().skip(3).collect::<Vec<_>>().chunks(2) {
        if let [k, v] = pair {
            req = req.with_header(&k.to_ascii_lowercase(), v);
        }
    }
    let engine = common::path_engine();
    let env = Env::at(common::NOW);
    let d = engine.decide(&req, &env);
    if let Ok(c) = canonicalize_path(target, PathNormalization::Strict) {
        let mut canon = req.clone();
        canon.path = match c.query {
            Some(q) => format!("{}?{q}", c.path),
            None => c.path,
        };
        let d2 = engine.decide(&canon, &env);
        assert_eq!(
            (d.outcome, d.status),
            (d2.outcome, d2.status),
            "{target:?} vs {:?}",
            canon.path
        );
    }
    // The same bytes as a check request document.
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(r) = CheckRequest::from_json(text) {
            let _ = engine.decide(&r, &env);
        }
    }
});
