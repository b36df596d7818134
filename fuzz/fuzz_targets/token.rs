//! Arbitrary bytes as a bearer token against a fixed policy (fixture keys, every algorithm):
//! must never panic, and must never verify (the fuzzer cannot forge a signature).
#![no_main]

use libfuzzer_sys::fuzz_target;
use policy_core::authenticate::rule::parse_jwt_rule_json;
use policy_core::authenticate::{AuthOutcome, Authenticator, KeyStore, TokenCache};
use policy_core::CheckRequest;
use std::sync::OnceLock;

struct Fixed {
    auth: Authenticator,
    keys: KeyStore,
}

fn fixed() -> &'static Fixed {
    static F: OnceLock<Fixed> = OnceLock::new();
    F.get_or_init(|| {
        let jwks = vigil_fixtures::keys().jwks();
        let rule = format!(
            r#"{{"issuer":"{}","audiences":["api"],"algorithms":["RS256","ES256","EdDSA"],
                "fromParams":["access_token"],"fromCookies":["session"],"jwks":{}}}"#,
            vigil_fixtures::ISSUER,
            vigil_fixtures::json_str(&jwks)
        );
        let rule = parse_jwt_rule_json(&rule).expect("fixed rule");
        let auth = Authenticator::new(vec![rule]).expect("fixed authenticator");
        let keys = auth.inline_keys();
        Fixed { auth, keys }
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
        .authenticate(&req, vigil_fixtures::NOW, &f.keys, Some(&mut cache));
    assert!(!matches!(out, AuthOutcome::Verified(_)));
    // The raw text straight into the verifier too.
    let src = policy_core::extract::token::TokenSource::Header("authorization".into());
    assert!(f.auth.verify(&text, src, vigil_fixtures::NOW, &f.keys).is_err());
});
