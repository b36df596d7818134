//! Arbitrary bytes as a bearer token against the token corpus's policy (RS256, ES256, EdDSA
//! keys): must never panic, and must verify only the corpus's own valid tokens, byte for byte
//! (they seed the run; the fuzzer cannot forge a signature, so every mutation of one must fail).
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use policy_core::authenticate::rule::parse_jwt_rule_json;
use policy_core::authenticate::{AuthOutcome, Authenticator, KeyStore, TokenCache};
use policy_core::CheckRequest;
use std::collections::HashSet;
use std::sync::OnceLock;

struct Fixed {
    auth: Authenticator,
    keys: KeyStore,
    /// Every bearer token in the corpus file (valid or not).
    known: HashSet<String>,
}

fn fixed() -> &'static Fixed {
    static F: OnceLock<Fixed> = OnceLock::new();
    F.get_or_init(|| {
        // The corpus rule, plus the other places a token can come from.
        let rule = common::token_rule().replacen(
            '{',
            r#"{"fromParams":["access_token"],"fromCookies":["session"],"#,
            1,
        );
        let rule = parse_jwt_rule_json(&rule).expect("fixed rule");
        let auth = Authenticator::new(vec![rule]).expect("fixed authenticator");
        let keys = auth.inline_keys();
        let known = common::bearer_tokens();
        Fixed { auth, keys, known }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixed();
    let text = String::from_utf8_lossy(data);
    let req = CheckRequest::new("GET", "/", "api.test")
        .with_header("authorization", &format!("Bearer {text}"));
    let mut cache = TokenCache::new(4);
    let out = f
        .auth
        .authenticate(&req, common::NOW, &f.keys, Some(&mut cache));
    let known = f.known.contains(text.trim_matches([' ', '\t']));
    if matches!(out, AuthOutcome::Verified(_)) {
        assert!(known, "verified a token the corpus does not hold");
    }
    // The raw text straight into the verifier too.
    let src = policy_core::extract::token::TokenSource::Header("authorization".into());
    if f.auth.verify(&text, src, common::NOW, &f.keys).is_ok() {
        assert!(
            f.known.contains(text.as_ref()),
            "verified a token the corpus does not hold"
        );
    }
    // And through the whole decision: only a corpus token reaches `/api/*`.
    let mut api = req;
    api.path = "/api/x".into();
    let d = common::token_engine().decide(&api, &policy_core::Env::at(common::NOW));
    if d.outcome == policy_core::Outcome::Allow {
        assert!(
            known,
            "allowed /api/* with a token the corpus does not hold"
        );
    }
});
