//! Arbitrary text as a policy document: compiling must never panic, and a policy that compiles
//! decides a few fixed requests without panicking, with a status that matches its outcome.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use policy_core::{CheckRequest, Engine, Env, Outcome};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(engine) = Engine::from_json(text) else {
        return;
    };
    let env = Env::at(common::NOW);
    for req in [
        CheckRequest::new("GET", "/", "app"),
        CheckRequest::new("POST", "/api/orders?x=1", "api.example.com:8443")
            .with_header("authorization", "Bearer a.b.c")
            .with_header("x-forwarded-for", "203.0.113.7"),
    ] {
        let d = engine.decide(&req, &env);
        match d.outcome {
            Outcome::Allow => assert!(d.status < 300, "allow with {}", d.status),
            _ => assert!(d.status >= 400 || d.status < 300, "status {}", d.status),
        }
    }
});
