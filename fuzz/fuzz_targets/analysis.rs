//! Two policy documents (split at the first NUL byte; without one, a document and itself):
//! the analysis (`vigil diff`, the findings of `vigil check`) must never panic, and every
//! change it reports must be one the engines really make: its witness, decided again by
//! both engines with the analysis keys, gives the reported decisions, and they differ.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use policy_core::analysis::{self, witness};
use policy_core::authenticate::TokenCache;
use policy_core::{Engine, Env};
use std::collections::BTreeSet;

fuzz_target!(|data: &[u8]| {
    let (a, b) = match data.iter().position(|x| *x == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    let (Ok(a), Ok(b)) = (std::str::from_utf8(a), std::str::from_utf8(b)) else {
        return;
    };
    let (Ok(old), Ok(new)) = (Engine::from_json(a), Engine::from_json(b)) else {
        return;
    };
    let _ = old.lints();
    let d = analysis::diff(&old, &new, common::NOW);
    if a == b {
        assert!(d.changes.is_empty(), "a document differs from itself");
    }
    let issuers: BTreeSet<String> = [&old, &new]
        .iter()
        .flat_map(|e| e.plan().auth.rules().iter().map(|r| r.issuer.clone()))
        .collect();
    let keys = witness::analysis_keys(&issuers);
    let env = Env {
        now: common::NOW,
        keys: Some(&keys),
        ..Env::default()
    };
    for c in &d.changes {
        // One cache per engine: a cache belongs to one policy's authenticator.
        let (mut co, mut cn) = (TokenCache::new(1), TokenCache::new(1));
        let x =
            old.decide_cached_using(&c.request, &env, &mut co, &mut witness::AnalysisSignatures);
        let y =
            new.decide_cached_using(&c.request, &env, &mut cn, &mut witness::AnalysisSignatures);
        assert_eq!(
            (x.outcome, x.status, &x.policy),
            (c.before.outcome, c.before.status, &c.before.policy)
        );
        assert_eq!(
            (y.outcome, y.status, &y.policy),
            (c.after.outcome, c.after.status, &c.after.policy)
        );
        assert!(
            (x.outcome, x.status, &x.code, &x.policy, x.dry_run)
                != (y.outcome, y.status, &y.code, &y.policy, y.dry_run),
            "a reported change is decided alike"
        );
    }
});
