use super::*;
use ed25519_dalek::{Signer, SigningKey};

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn jwks(keys: &[(&str, &SigningKey)]) -> BundleKeys {
    let members: alloc::vec::Vec<String> = keys
        .iter()
        .map(|(kid, k)| {
            format!(
                r#"{{"kty":"OKP","crv":"Ed25519","kid":"{kid}","x":"{}"}}"#,
                b64(k.verifying_key().as_bytes())
            )
        })
        .collect();
    let v = json::parse(
        &format!(r#"{{"keys":[{}]}}"#, members.join(",")),
        Limits::POLICY,
    )
    .ok();
    match v.map(|v| BundleKeys::from_jwks(&v)) {
        Some(Ok(k)) => k,
        other => panic!("keys: {other:?}"),
    }
}

fn sign(k: &SigningKey, kid: &str, kind: Kind, revision: u64, doc: &str) -> String {
    let d = json::parse(doc, Limits::POLICY).ok().unwrap_or(Value::Null);
    let input = signing_input(kid, kind, revision, Some(1_700_000_000), &d);
    assemble(&input, &k.sign(input.as_bytes()).to_bytes())
}

fn code(r: Result<Verified, BundleError>) -> &'static str {
    match r {
        Ok(Verified::New(_)) => "new",
        Ok(Verified::Unchanged) => "unchanged",
        Err(e) => e.code,
    }
}

/// The code of verifying `b` as a policy bundle after `last`.
fn policy_code(b: &str, keys: &BundleKeys, last: Last<'_>) -> &'static str {
    code(verify(b, keys, Kind::Policy, last))
}

const DOC: &str = r#"{"authorizationPolicies":[{"name":"a","rules":[{}]}]}"#;

#[test]
fn a_signed_bundle_verifies_and_carries_its_document() {
    let k = key(1);
    let keys = jwks(&[("k1", &k)]);
    let b = sign(&k, "k1", Kind::Policy, 7, DOC);
    match verify(&b, &keys, Kind::Policy, Last::default()) {
        Ok(Verified::New(bundle)) => {
            assert_eq!(bundle.revision, 7);
            assert_eq!(bundle.kid, "k1");
            assert_eq!(bundle.issued_at, Some(1_700_000_000));
            assert_eq!(
                bundle.document.to_json(),
                json::parse(DOC, Limits::POLICY)
                    .map(|v| v.to_json())
                    .unwrap_or_default()
            );
        }
        other => panic!("{other:?}"),
    }
    // A trailing newline (a file) is the same bundle.
    assert_eq!(
        policy_code(&format!("{b}\n"), &keys, Last::default()),
        "new"
    );
}

#[test]
fn tampering_replay_and_confusion_are_refused() {
    let (k1, k2, other) = (key(1), key(2), key(3));
    let keys = jwks(&[("k1", &k1), ("k2", &k2)]);
    let b = sign(&k1, "k1", Kind::Policy, 7, DOC);
    // Rotation: either trusted key.
    assert_eq!(
        policy_code(
            &sign(&k2, "k2", Kind::Policy, 8, DOC),
            &keys,
            Last::default()
        ),
        "new"
    );
    // A key the verifier does not trust, or a trusted kid with another key's signature.
    assert_eq!(
        policy_code(
            &sign(&other, "k3", Kind::Policy, 8, DOC),
            &keys,
            Last::default()
        ),
        "unknown_key"
    );
    assert_eq!(
        policy_code(
            &sign(&other, "k1", Kind::Policy, 8, DOC),
            &keys,
            Last::default()
        ),
        "bad_signature"
    );
    // The payload changed after signing (an allow-list widened in a bucket).
    let parts: alloc::vec::Vec<&str> = b.split('.').collect();
    let widened = signing_input(
        "k1",
        Kind::Policy,
        7,
        Some(1_700_000_000),
        &json::parse(r#"{"defaultAction":"ALLOW"}"#, Limits::POLICY).unwrap_or(Value::Null),
    );
    let forged = format!("{}.{}", widened, parts.get(2).copied().unwrap_or(""));
    assert_eq!(
        policy_code(&forged, &keys, Last::default()),
        "bad_signature"
    );
    // Replay: an older or equal revision with other bytes; the same bytes again are unchanged.
    let last = Last {
        revision: Some(7),
        text: Some(&b),
    };
    assert_eq!(policy_code(&b, &keys, last), "unchanged");
    assert_eq!(
        policy_code(&sign(&k1, "k1", Kind::Policy, 6, DOC), &keys, last),
        "stale_revision"
    );
    assert_eq!(
        policy_code(&sign(&k1, "k1", Kind::Policy, 7, "{}"), &keys, last),
        "stale_revision"
    );
    assert_eq!(
        policy_code(&sign(&k1, "k1", Kind::Policy, 8, "{}"), &keys, last),
        "new"
    );
    // A revocation bundle where a policy is expected.
    assert_eq!(
        policy_code(
            &sign(&k1, "k1", Kind::Revocation, 9, "{}"),
            &keys,
            Last::default()
        ),
        "wrong_kind"
    );
}

#[test]
fn the_header_and_the_grammar_are_strict() {
    let k = key(1);
    let keys = jwks(&[("k1", &k)]);
    let sign_header = |h: &str| {
        let p = b64(br#"{"kind":"policy","revision":1,"document":{}}"#);
        let input = format!("{}.{p}", b64(h.as_bytes()));
        assemble(&input, &k.sign(input.as_bytes()).to_bytes())
    };
    assert_eq!(
        policy_code(
            &sign_header(r#"{"alg":"EdDSA","kid":"k1","typ":"vigil-bundle"}"#),
            &keys,
            Last::default()
        ),
        "new"
    );
    for (h, want) in [
        (r#"{"alg":"EdDSA","kid":"k1"}"#, "bad_header"),
        (r#"{"alg":"EdDSA","kid":"k1","typ":"JWT"}"#, "bad_header"),
        (
            r#"{"alg":"none","kid":"k1","typ":"vigil-bundle"}"#,
            "bad_header",
        ),
        (
            r#"{"alg":"EdDSA","kid":"k1","typ":"vigil-bundle","jku":"https://x"}"#,
            "bad_header",
        ),
        (r#"{"alg":"EdDSA","typ":"vigil-bundle"}"#, "bad_header"),
        (
            r#"{"alg":"EdDSA","kid":"k1","kid":"k2","typ":"vigil-bundle"}"#,
            "bad_json",
        ),
    ] {
        assert_eq!(
            policy_code(&sign_header(h), &keys, Last::default()),
            want,
            "{h}"
        );
    }
    for text in ["", "a.b", "a.b.c.d", "e30.e30.", "e30=.e30.AA"] {
        assert!(
            verify(text, &keys, Kind::Policy, Last::default()).is_err(),
            "{text}"
        );
    }
    let big = "a".repeat(MAX_BUNDLE_BYTES + 1);
    assert_eq!(policy_code(&big, &keys, Last::default()), "too_large");
    // Payload rules, signed: revision range, kind names, unknown members, a document object.
    for (p, want) in [
        (
            r#"{"kind":"policy","revision":0,"document":{}}"#,
            "bad_payload",
        ),
        (
            r#"{"kind":"policy","revision":1.5,"document":{}}"#,
            "bad_payload",
        ),
        (
            r#"{"kind":"policy","revision":9007199254740992,"document":{}}"#,
            "bad_payload",
        ),
        (
            r#"{"kind":"Policy","revision":1,"document":{}}"#,
            "bad_payload",
        ),
        (
            r#"{"kind":"policy","revision":1,"document":[]}"#,
            "bad_payload",
        ),
        (
            r#"{"kind":"policy","revision":1,"document":{},"extra":1}"#,
            "bad_payload",
        ),
    ] {
        let input = format!(
            "{}.{}",
            b64(br#"{"alg":"EdDSA","kid":"k1","typ":"vigil-bundle"}"#),
            b64(p.as_bytes())
        );
        let b = assemble(&input, &k.sign(input.as_bytes()).to_bytes());
        assert_eq!(policy_code(&b, &keys, Last::default()), want, "{p}");
    }
}

#[test]
fn bundle_keys_are_ed25519_with_a_kid() {
    let bad = [
        r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#,
        r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"e","x":"axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY","y":"T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU"}]}"#,
        r#"{"keys":[]}"#,
    ];
    for text in bad {
        let v = json::parse(text, Limits::POLICY).unwrap_or(Value::Null);
        assert!(BundleKeys::from_jwks(&v).is_err(), "{text}");
    }
}
