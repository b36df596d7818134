//! What the targets share: the token corpus's policy (its inline key set: RS256, ES256,
//! EdDSA), compiled once, and a clock inside every corpus token's lifetime. The policy comes
//! from the checked-in corpus rather than the fixture generator, so that a run starts at once
//! (generating the RSA keys under coverage instrumentation takes about a minute).

#![allow(dead_code)]

use policy_core::json::{self, Limits, Value};
use policy_core::Engine;
use std::sync::OnceLock;

/// A time every corpus token is valid at (2027-01-15).
pub const NOW: i64 = 1_800_000_000;

const TOKENS: &str = include_str!("../../corpus/tokens/validation.json");
const PATHS: &str = include_str!("../../corpus/paths/bypass.json");

fn policy_of(file: &str) -> Value {
    let doc = json::parse(file, Limits::POLICY).expect("the corpus file is JSON");
    doc.get("policy")
        .cloned()
        .expect("the corpus file has a policy")
}

/// The token corpus's policy: public `/public/*`, `/api/*` for verified principals,
/// `/admin/*` for the `admin` group.
pub fn token_engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::from_value(&policy_of(TOKENS)).expect("the corpus policy compiles"))
}

/// The path-bypass corpus's policy (paths allowed and denied around normalisation).
pub fn path_engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::from_value(&policy_of(PATHS)).expect("the corpus policy compiles"))
}

/// The token corpus's first `jwtRules` entry as JSON text.
pub fn token_rule() -> String {
    let p = policy_of(TOKENS);
    let rules = p
        .get("jwtRules")
        .and_then(Value::as_array)
        .expect("jwtRules");
    rules.first().expect("one rule").to_json()
}

/// Splits fuzz input into at most `n` fields at NUL bytes, as (lossy) text.
pub fn fields(data: &[u8], n: usize) -> Vec<String> {
    data.splitn(n, |&b| b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect()
}

/// Every `Bearer` token in the token corpus's requests.
pub fn bearer_tokens() -> std::collections::HashSet<String> {
    let doc = json::parse(TOKENS, Limits::POLICY).expect("the corpus file is JSON");
    let cases = doc.get("cases").and_then(Value::as_array).unwrap_or(&[]);
    cases
        .iter()
        .filter_map(|c| {
            c.get("request")?
                .get("headers")?
                .get("authorization")?
                .as_str()
        })
        .filter_map(|h| h.strip_prefix("Bearer "))
        .map(str::to_string)
        .collect()
}
