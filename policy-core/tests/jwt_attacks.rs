//! The JWT attack corpus: one named case per attack, each with the exact error code expected,
//! plus the valid tokens that must pass. Keys and tokens come from `vigil-fixtures` (generated
//! from a fixed seed, never pasted).

// A test crate: its helpers may unwrap, panic and index like `#[test]` functions do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use policy_core::authenticate::rule::parse_jwt_rule_json;
use policy_core::authenticate::{
    AuthOutcome, Authenticator, Identity, JwkSet, TokenCache, TokenError, TokenErrorKind,
};
use policy_core::extract::token::TokenSource;
use policy_core::CheckRequest;
use vigil_fixtures::{
    b64, claims, header, hs256, json_str, keys, signing_input, KeyKind, Keys, AUDIENCE, ISSUER, NOW,
};

fn authenticator(extra: &str) -> Authenticator {
    authenticator_with(&keys().jwks(), extra)
}

fn authenticator_with(jwks: &str, extra: &str) -> Authenticator {
    let rule = format!(
        r#"{{"issuer":{},"audiences":["{AUDIENCE}"],"algorithms":["RS256","ES256","EdDSA"],
            "jwks":{}{extra}}}"#,
        json_str(ISSUER),
        json_str(jwks)
    );
    let rule = parse_jwt_rule_json(&rule).unwrap_or_else(|e| panic!("rule: {e}"));
    Authenticator::new(vec![rule]).unwrap()
}

fn bearer(token: &str) -> CheckRequest {
    CheckRequest::new("GET", "/", "api.test")
        .with_header("authorization", &format!("Bearer {token}"))
}

fn run_req(a: &Authenticator, req: &CheckRequest) -> Result<Identity, TokenError> {
    match a.authenticate(req, NOW, &a.inline_keys(), None) {
        AuthOutcome::Verified(id) => Ok(std::sync::Arc::unwrap_or_clone(id)),
        AuthOutcome::Failed(e) => Err(e),
        AuthOutcome::NoToken => Err(TokenError::new(TokenErrorKind::Malformed("no token"))),
    }
}

fn run(a: &Authenticator, token: &str) -> Result<Identity, TokenError> {
    run_req(a, &bearer(token))
}

#[track_caller]
fn expect(code: &str, a: &Authenticator, token: &str) {
    match run(a, token) {
        Ok(_) => panic!("accepted; expected `{code}`"),
        Err(e) => assert_eq!(e.code(), code, "{e}"),
    }
}

#[track_caller]
fn expect_direct(code: &str, a: &Authenticator, token: &str) {
    let src = TokenSource::Header("authorization".into());
    match a.verify(token, src, NOW, &a.inline_keys()) {
        Ok(_) => panic!("accepted; expected `{code}`"),
        Err(e) => assert_eq!(e.code(), code, "{e}"),
    }
}

fn std_claims(extra: &str) -> String {
    claims(ISSUER, "alice", AUDIENCE, NOW, 3600, extra)
}

fn signed(alg: &str, kid: &str, payload: &str) -> String {
    let kind = vigil_fixtures::kind_for_alg(alg).unwrap();
    keys().signed(kind, alg, &header(alg, kid), payload)
}

fn rs256(payload: &str) -> String {
    signed("RS256", "rsa-1", payload)
}

fn with_header(kind: KeyKind, alg: &str, header_json: &str) -> String {
    keys().signed(kind, alg, header_json, &std_claims(""))
}

fn segments(t: &str) -> Vec<String> {
    t.split('.').map(str::to_string).collect()
}

// ---------------------------------------------------------------- valid tokens

#[test]
fn valid_rs256() {
    let a = authenticator("");
    let id = run(&a, &rs256(&std_claims(r#""scope":"read""#))).unwrap();
    assert_eq!(id.issuer, ISSUER);
    assert_eq!(id.subject.as_deref(), Some("alice"));
    assert_eq!(id.principal, format!("{ISSUER}/alice"));
    assert_eq!(id.audiences, ["api"]);
    assert_eq!(id.expires_at, NOW + 3600);
    assert_eq!(id.issued_at, Some(NOW));
    assert_eq!(id.rule, 0);
    assert_eq!(id.source, TokenSource::Header("authorization".into()));
    assert_eq!(
        id.claim_path(&["scope"]).and_then(|v| v.as_str()),
        Some("read")
    );
}

#[test]
fn valid_ps256() {
    let k = keys();
    let jwks = Keys::jwks_of(&[k.jwk(KeyKind::Rsa, Some("rsa-ps"), Some("PS256"))]);
    let rule = format!(
        r#"{{"issuer":{},"algorithms":["PS256"],"jwks":{}}}"#,
        json_str(ISSUER),
        json_str(&jwks)
    );
    let a = Authenticator::new(vec![parse_jwt_rule_json(&rule).unwrap()]).unwrap();
    run(&a, &signed("PS256", "rsa-ps", &std_claims(""))).unwrap();
    // Without `alg` on the key, a single allowed RSA algorithm decides it.
    let jwks = Keys::jwks_of(&[k.jwk(KeyKind::Rsa, Some("rsa-ps"), None)]);
    let rule = format!(
        r#"{{"issuer":{},"algorithms":["PS256"],"jwks":{}}}"#,
        json_str(ISSUER),
        json_str(&jwks)
    );
    let a = Authenticator::new(vec![parse_jwt_rule_json(&rule).unwrap()]).unwrap();
    run(&a, &signed("PS256", "rsa-ps", &std_claims(""))).unwrap();
    expect(
        "alg_not_allowed",
        &a,
        &signed("RS256", "rsa-ps", &std_claims("")),
    );
}

/// Entra ID, Okta, Keycloak and Kubernetes publish RSA keys without `alg`: such a key
/// verifies every RSA algorithm the rule allows (Envoy's jwt_authn accepts the same), and
/// nothing of another key type.
#[test]
fn rsa_key_without_alg_verifies_each_allowed_rsa_algorithm() {
    let k = keys();
    let jwks = Keys::jwks_of(&[k.jwk(KeyKind::Rsa, Some("r"), None)]);
    // The rule with `extra` fields; each of `algs` verifies with the key.
    let accepting = |extra: &str, algs: &[&str]| {
        let rule = format!(
            r#"{{"issuer":{},{extra}"jwks":{}}}"#,
            json_str(ISSUER),
            json_str(&jwks)
        );
        let a = Authenticator::new(vec![parse_jwt_rule_json(&rule).unwrap()]).unwrap();
        for alg in algs {
            let h = format!(r#"{{"alg":"{alg}","kid":"r"}}"#);
            run(&a, &k.signed(KeyKind::Rsa, alg, &h, &std_claims(""))).unwrap();
        }
        a
    };
    let a = accepting(r#""algorithms":["PS256","RS256"],"#, &["RS256", "PS256"]);
    let h = r#"{"alg":"RS384","kid":"r"}"#;
    expect(
        "alg_not_allowed",
        &a,
        &k.signed(KeyKind::Rsa, "RS384", h, &std_claims("")),
    );
    // Without `algorithms` (an Istio rule pasted as is) every RSA algorithm, but only RSA.
    let a = accepting("", &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]);
    let h = r#"{"alg":"ES256","kid":"r"}"#;
    expect(
        "alg_mismatch",
        &a,
        &k.signed(KeyKind::P256, "ES256", h, &std_claims("")),
    );
    let h = r#"{"alg":"HS256","kid":"r"}"#;
    expect(
        "alg_not_allowed",
        &a,
        &k.signed(KeyKind::Rsa, "RS256", h, &std_claims("")),
    );
}

#[test]
fn valid_es256_eddsa_and_ed25519_name() {
    let a = authenticator("");
    run(&a, &signed("ES256", "ec-1", &std_claims(""))).unwrap();
    run(&a, &signed("EdDSA", "ed-1", &std_claims(""))).unwrap();
    run(&a, &signed("Ed25519", "ed-1", &std_claims(""))).unwrap();
}

#[test]
fn valid_es384_and_every_rsa_algorithm() {
    let k = keys();
    let jwks = Keys::jwks_of(&[
        k.jwk(KeyKind::P384, Some("ec-384"), None),
        k.jwk(KeyKind::Rsa, Some("rs384"), Some("RS384")),
        k.jwk(KeyKind::Rsa, Some("rs512"), Some("RS512")),
        k.jwk(KeyKind::Rsa, Some("ps384"), Some("PS384")),
        k.jwk(KeyKind::Rsa, Some("ps512"), Some("PS512")),
    ]);
    let rule = format!(
        r#"{{"issuer":{},"algorithms":["ES384","RS384","RS512","PS384","PS512"],"jwks":{}}}"#,
        json_str(ISSUER),
        json_str(&jwks)
    );
    let a = Authenticator::new(vec![parse_jwt_rule_json(&rule).unwrap()]).unwrap();
    for (alg, kid) in [
        ("ES384", "ec-384"),
        ("RS384", "rs384"),
        ("RS512", "rs512"),
        ("PS384", "ps384"),
        ("PS512", "ps512"),
    ] {
        let t = signed(alg, kid, &std_claims(""));
        run(&a, &t).unwrap_or_else(|e| panic!("{alg}: {e}"));
        // The same token with one inner signature character changed is refused.
        let (head, sig) = t.rsplit_once('.').unwrap();
        let mid = sig.len() / 2;
        let c = if &sig[mid..=mid] == "A" { "B" } else { "A" };
        let forged = format!("{head}.{}{c}{}", &sig[..mid], &sig[mid + 1..]);
        expect("bad_signature", &a, &forged);
    }
    // The P-384 key decides ES384: an ES256 header on it, and a P-256 signature, are refused.
    let es256 = k.signed(
        KeyKind::P256,
        "ES256",
        &header("ES256", "ec-384"),
        &std_claims(""),
    );
    assert!(run(&a, &es256).is_err());
    // ES384 with a P-256-sized (64-byte) signature is refused before any arithmetic.
    let t = signed("ES384", "ec-384", &std_claims(""));
    let head = t.rsplit_once('.').unwrap().0;
    expect("bad_signature", &a, &format!("{head}.{}", b64(&[7u8; 64])));
    // r = 0, s = 0 (the "psychic signature").
    expect("bad_signature", &a, &format!("{head}.{}", b64(&[0u8; 96])));
}

#[test]
fn es512_on_p521() {
    let k = keys();
    let jwks = Keys::jwks_of(&[
        k.jwk(KeyKind::P521, Some("ec-521"), None),
        k.jwk(KeyKind::P384, Some("ec-384"), None),
    ]);
    let rule = format!(
        r#"{{"issuer":{},"jwks":{}}}"#,
        json_str(ISSUER),
        json_str(&jwks)
    );
    let a = Authenticator::new(vec![parse_jwt_rule_json(&rule).unwrap()]).unwrap();
    let head = signing_input(&header("ES512", "ec-521"), &std_claims(""));
    let raw = k.sign(KeyKind::P521, "ES512", head.as_bytes());
    let t = format!("{head}.{}", b64(&raw));
    run(&a, &t).unwrap();
    assert_eq!(raw.len(), 132, "raw R‖S of 66 bytes each");
    let mut flipped = raw.clone();
    flipped[100] ^= 1;
    expect("bad_signature", &a, &format!("{head}.{}", b64(&flipped)));
    // r = s = 0, and an ES384-sized signature, are refused by shape.
    expect("bad_signature", &a, &format!("{head}.{}", b64(&[0u8; 132])));
    expect("bad_signature", &a, &format!("{head}.{}", b64(&raw[..96])));
    // The P-521 key decides ES512: an ES384 header naming it, and ES512 naming the P-384
    // key, are refused before any arithmetic.
    let es384 = k.signed(
        KeyKind::P384,
        "ES384",
        &header("ES384", "ec-521"),
        &std_claims(""),
    );
    assert!(run(&a, &es384).is_err());
    let on_384 = k.signed(
        KeyKind::P521,
        "ES512",
        &header("ES512", "ec-384"),
        &std_claims(""),
    );
    assert!(run(&a, &on_384).is_err());
    // With an allowlist that leaves ES512 out, the same valid token is refused.
    let rule = format!(
        r#"{{"issuer":{},"algorithms":["ES384"],"jwks":{}}}"#,
        json_str(ISSUER),
        json_str(&jwks)
    );
    let a = Authenticator::new(vec![parse_jwt_rule_json(&rule).unwrap()]).unwrap();
    assert!(run(&a, &t).is_err());
}

#[test]
fn valid_without_kid_when_one_key_fits() {
    let a = authenticator("");
    let t = keys().signed(
        KeyKind::P256,
        "ES256",
        r#"{"alg":"ES256"}"#,
        &std_claims(""),
    );
    run(&a, &t).unwrap();
}

#[test]
fn no_kid_with_two_fitting_keys_is_ambiguous() {
    let k = keys();
    let jwks = Keys::jwks_of(&[
        k.jwk(KeyKind::Rsa, Some("a"), Some("RS256")),
        k.jwk(KeyKind::RsaAttacker, Some("b"), Some("RS256")),
    ]);
    let a = authenticator_with(&jwks, "");
    let t = k.signed(KeyKind::Rsa, "RS256", r#"{"alg":"RS256"}"#, &std_claims(""));
    expect("ambiguous_key", &a, &t);
}

#[test]
fn valid_audience_array_escaped_strings_fractional_exp() {
    let a = authenticator("");
    let p = format!(
        r#"{{"iss":{},"sub":"b\u00f6b \"q\"","aud":["other","api"],"exp":{}.5,"name":"\ud83d\ude00"}}"#,
        json_str(ISSUER),
        NOW + 10
    );
    let id = run(&a, &rs256(&p)).unwrap();
    assert_eq!(id.subject.as_deref(), Some("böb \"q\""));
    assert_eq!(id.audiences, ["other", "api"]);
    assert_eq!(id.expires_at, NOW + 10);
    // Fractional exp just past.
    let p = format!(
        r#"{{"iss":{},"aud":"api","exp":{}.5}}"#,
        json_str(ISSUER),
        NOW - 61
    );
    expect("expired", &a, &rs256(&p));
    let p = format!(
        r#"{{"iss":{},"aud":"api","exp":{}.5}}"#,
        json_str(ISSUER),
        NOW - 60
    );
    run(&a, &rs256(&p)).unwrap();
}

#[test]
fn valid_from_query_param_and_cookie() {
    let a = authenticator(r#","fromParams":["access_token"],"fromCookies":["session"]"#);
    let t = rs256(&std_claims(""));
    let req = CheckRequest::new("GET", &format!("/x?a=1&access_token={t}"), "h");
    let id = run_req(&a, &req).unwrap();
    assert_eq!(id.source, TokenSource::Param("access_token".into()));
    let req =
        CheckRequest::new("GET", "/", "h").with_header("cookie", &format!("x=1; session={t}"));
    let id = run_req(&a, &req).unwrap();
    assert_eq!(id.source, TokenSource::Cookie("session".into()));
    // Only the configured places: the default bearer header is not one of them now.
    assert!(matches!(
        a.authenticate(&bearer(&t), NOW, &a.inline_keys(), None),
        AuthOutcome::NoToken
    ));
}

#[test]
fn lower_case_bearer_scheme_is_accepted() {
    let a = authenticator("");
    let t = rs256(&std_claims(""));
    let req = CheckRequest::default().with_header("authorization", &format!("bearer {t}"));
    run_req(&a, &req).unwrap();
}

// ---------------------------------------------------------------- algorithm attacks

#[test]
fn alg_none_in_every_case() {
    let a = authenticator("");
    for none in ["none", "None", "NONE", "nOnE"] {
        let h = format!(r#"{{"alg":"{none}","kid":"rsa-1"}}"#);
        let input = vigil_fixtures::signing_input(&h, &std_claims(""));
        expect_direct("alg_not_allowed", &a, &format!("{input}."));
        expect("alg_not_allowed", &a, &format!("{input}.AAAA"));
    }
}

#[test]
fn rs_hs_confusion_with_pem_and_modulus() {
    let a = authenticator("");
    let k = keys();
    for secret in [k.rsa_public_pem().into_bytes(), k.rsa_modulus()] {
        for alg in ["HS256", "hs256"] {
            let h = format!(r#"{{"alg":"{alg}","kid":"rsa-1"}}"#);
            let input = vigil_fixtures::signing_input(&h, &std_claims(""));
            let sig = hs256(&secret, input.as_bytes());
            expect("alg_not_allowed", &a, &format!("{input}.{}", b64(&sig)));
        }
    }
}

#[test]
fn bit_flipped_stripped_and_swapped_signatures() {
    let a = authenticator("");
    let t = rs256(&std_claims(""));
    let s = segments(&t);
    let mut sig = policy_core::authenticate::jwt::b64url_decode(s[2].as_bytes()).unwrap();
    sig[100] ^= 0x01;
    expect(
        "bad_signature",
        &a,
        &format!("{}.{}.{}", s[0], s[1], b64(&sig)),
    );
    expect("malformed", &a, &format!("{}.{}.", s[0], s[1]));
    let other = rs256(&std_claims(r#""scope":"admin""#));
    let o = segments(&other);
    expect("bad_signature", &a, &format!("{}.{}.{}", s[0], o[1], s[2]));
    // Truncated signature (still canonical base64).
    expect(
        "bad_signature",
        &a,
        &format!("{}.{}.{}", s[0], s[1], &s[2][..40]),
    );
}

#[test]
fn attacker_key_with_real_kid() {
    let a = authenticator("");
    let t = keys().signed(
        KeyKind::RsaAttacker,
        "RS256",
        &header("RS256", "rsa-1"),
        &std_claims(""),
    );
    expect("bad_signature", &a, &t);
}

#[test]
fn unknown_kid_carries_issuer_and_kid() {
    let a = authenticator("");
    let t = signed("RS256", "rotated-2", &std_claims(""));
    let e = run(&a, &t).unwrap_err();
    assert_eq!(e.code(), "unknown_kid");
    assert_eq!(
        e.kind(),
        &TokenErrorKind::UnknownKid {
            issuer: ISSUER.into(),
            kid: Some("rotated-2".into())
        }
    );
}

#[test]
fn embedded_key_headers_are_refused() {
    let a = authenticator("");
    let jwk = keys().jwk(KeyKind::RsaAttacker, Some("rsa-1"), Some("RS256"));
    let cases = [
        format!(r#"{{"alg":"RS256","kid":"rsa-1","jwk":{jwk}}}"#),
        r#"{"alg":"RS256","kid":"rsa-1","jku":"https://evil.test/jwks"}"#.to_string(),
        r#"{"alg":"RS256","kid":"rsa-1","x5u":"https://evil.test/cert"}"#.to_string(),
        r#"{"alg":"RS256","kid":"rsa-1","x5c":["MIIB"]}"#.to_string(),
    ];
    for h in cases {
        expect(
            "forbidden_header",
            &a,
            &with_header(KeyKind::RsaAttacker, "RS256", &h),
        );
    }
}

#[test]
fn alg_and_key_type_mismatch() {
    let a = authenticator("");
    // ES256 header on the RSA key's kid.
    expect(
        "alg_mismatch",
        &a,
        &with_header(KeyKind::P256, "ES256", &header("ES256", "rsa-1")),
    );
    // RS256 header on the EC key's kid.
    expect(
        "alg_mismatch",
        &a,
        &with_header(KeyKind::Rsa, "RS256", &header("RS256", "ec-1")),
    );
    // EdDSA on the EC key.
    expect(
        "alg_mismatch",
        &a,
        &with_header(KeyKind::Ed25519, "EdDSA", &header("EdDSA", "ec-1")),
    );
    // PS256 on an RS256 key (PS256 allowed by the rule).
    let a = authenticator_with(&keys().jwks(), "");
    let rule = format!(
        r#"{{"issuer":{},"algorithms":["RS256","PS256"],"jwks":{}}}"#,
        json_str(ISSUER),
        json_str(&keys().jwks())
    );
    let a2 = Authenticator::new(vec![parse_jwt_rule_json(&rule).unwrap()]).unwrap();
    expect(
        "alg_mismatch",
        &a2,
        &with_header(KeyKind::Rsa, "PS256", &header("PS256", "rsa-1")),
    );
    // PS256 not allowed at all in the first rule.
    expect(
        "alg_not_allowed",
        &a,
        &with_header(KeyKind::Rsa, "PS256", &header("PS256", "rsa-1")),
    );
}

#[test]
fn es256_signature_edge_cases() {
    let a = authenticator("");
    let h = header("ES256", "ec-1");
    let input = vigil_fixtures::signing_input(&h, &std_claims(""));
    let good = keys().sign(KeyKind::P256, "ES256", input.as_bytes());
    let (r, s) = good.split_at(32);
    let n = hex32("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
    let ff = [0xffu8; 32];
    for (name, sig) in [
        ("all zero", [0u8; 64].to_vec()),
        ("r = n", [&n[..], s].concat()),
        ("s = n", [r, &n[..]].concat()),
        ("r > n", [&ff[..], s].concat()),
        ("s > n", [r, &ff[..]].concat()),
        ("r = 0", [&[0u8; 32][..], s].concat()),
        ("der", keys().sign_es256_der(input.as_bytes())),
        ("short", good[..63].to_vec()),
    ] {
        let t = format!("{input}.{}", b64(&sig));
        match run(&a, &t) {
            Ok(_) => panic!("{name}: accepted"),
            Err(e) => assert_eq!(e.code(), "bad_signature", "{name}: {e}"),
        }
    }
    run(&a, &format!("{input}.{}", b64(&good))).unwrap();
}

fn hex32(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

#[test]
fn disallowed_algorithm() {
    let rule = format!(
        r#"{{"issuer":{},"algorithms":["ES256"],"jwks":{}}}"#,
        json_str(ISSUER),
        json_str(&keys().jwks())
    );
    let a = Authenticator::new(vec![parse_jwt_rule_json(&rule).unwrap()]).unwrap();
    expect("alg_not_allowed", &a, &rs256(&std_claims("")));
    expect(
        "alg_not_allowed",
        &a,
        &signed("EdDSA", "ed-1", &std_claims("")),
    );
    run(&a, &signed("ES256", "ec-1", &std_claims(""))).unwrap();
    // Unknown algorithm names.
    expect(
        "alg_not_allowed",
        &a,
        &with_header(KeyKind::Rsa, "RS256", r#"{"alg":"RS1","kid":"rsa-1"}"#),
    );
    expect(
        "alg_not_allowed",
        &a,
        &with_header(KeyKind::Rsa, "RS256", r#"{"alg":"rs256","kid":"rsa-1"}"#),
    );
}

#[test]
fn unknown_crit() {
    let a = authenticator("");
    for h in [
        r#"{"alg":"RS256","kid":"rsa-1","crit":["exp"],"exp":1}"#,
        r#"{"alg":"RS256","kid":"rsa-1","crit":[]}"#,
        r#"{"alg":"RS256","kid":"rsa-1","b64":false,"crit":["b64"]}"#,
    ] {
        let t = with_header(KeyKind::Rsa, "RS256", h);
        let e = run(&a, &t).unwrap_err();
        assert!(
            matches!(e.code(), "unknown_crit" | "forbidden_header"),
            "{h}: {e}"
        );
    }
    expect(
        "unknown_crit",
        &a,
        &with_header(
            KeyKind::Rsa,
            "RS256",
            r#"{"alg":"RS256","kid":"rsa-1","crit":["exp"]}"#,
        ),
    );
}

// ---------------------------------------------------------------- time

fn payload_times(exp: Option<&str>, nbf: Option<i64>, iat: Option<i64>) -> String {
    let mut s = format!(r#"{{"iss":{},"sub":"alice","aud":"api""#, json_str(ISSUER));
    if let Some(e) = exp {
        s.push_str(&format!(r#","exp":{e}"#));
    }
    if let Some(n) = nbf {
        s.push_str(&format!(r#","nbf":{n}"#));
    }
    if let Some(i) = iat {
        s.push_str(&format!(r#","iat":{i}"#));
    }
    s.push('}');
    s
}

#[test]
fn expiry_and_not_before_with_skew_boundaries() {
    let a = authenticator(""); // skew 60
    let exp = |e: i64| rs256(&payload_times(Some(&e.to_string()), None, None));
    expect("expired", &a, &exp(NOW - 3600));
    expect("expired", &a, &exp(NOW - 60));
    run(&a, &exp(NOW - 59)).unwrap();
    let nbf = |n: i64| {
        rs256(&payload_times(
            Some(&(NOW + 3600).to_string()),
            Some(n),
            None,
        ))
    };
    expect("not_yet_valid", &a, &nbf(NOW + 3600));
    expect("not_yet_valid", &a, &nbf(NOW + 61));
    run(&a, &nbf(NOW + 60)).unwrap();
    let iat = |i: i64| {
        rs256(&payload_times(
            Some(&(NOW + 3600).to_string()),
            None,
            Some(i),
        ))
    };
    expect("issued_in_future", &a, &iat(NOW + 61));
    run(&a, &iat(NOW + 60)).unwrap();
    // No skew.
    let a0 = authenticator(r#","clockSkewSeconds":0"#);
    expect("expired", &a0, &exp(NOW));
    run(&a0, &exp(NOW + 1)).unwrap();
    expect("not_yet_valid", &a0, &nbf(NOW + 1));
    run(&a0, &nbf(NOW)).unwrap();
}

#[test]
fn missing_or_mistyped_exp() {
    let a = authenticator("");
    expect(
        "missing_claim",
        &a,
        &rs256(&payload_times(None, None, None)),
    );
    expect(
        "bad_claim_type",
        &a,
        &rs256(&payload_times(
            Some(&format!("\"{}\"", NOW + 3600)),
            None,
            None,
        )),
    );
    expect(
        "bad_claim_type",
        &a,
        &rs256(&payload_times(Some("null"), None, None)),
    );
    let p = format!(
        r#"{{"iss":{},"aud":"api","exp":{},"nbf":"0"}}"#,
        json_str(ISSUER),
        NOW + 60
    );
    expect("bad_claim_type", &a, &rs256(&p));
}

#[test]
fn lifetime_limit_and_required_claims() {
    let a = authenticator(r#","maxTokenLifetimeSeconds":600,"requireClaims":["scope"]"#);
    expect(
        "lifetime_too_long",
        &a,
        &rs256(&claims(ISSUER, "a", "api", NOW, 3600, r#""scope":"r""#)),
    );
    run(
        &a,
        &rs256(&claims(ISSUER, "a", "api", NOW, 600, r#""scope":"r""#)),
    )
    .unwrap();
    expect(
        "missing_claim",
        &a,
        &rs256(&claims(ISSUER, "a", "api", NOW, 600, "")),
    );
    expect(
        "missing_claim",
        &a,
        &rs256(&claims(ISSUER, "a", "api", NOW, 600, r#""scope":null"#)),
    );
    expect(
        "missing_claim",
        &a,
        &rs256(&payload_times(Some(&(NOW + 60).to_string()), None, None)),
    );
}

#[test]
fn required_type() {
    let a = authenticator(r#","requiredType":"at+jwt""#);
    let t = |typ: &str| {
        with_header(
            KeyKind::Rsa,
            "RS256",
            &format!(r#"{{"alg":"RS256","kid":"rsa-1","typ":"{typ}"}}"#),
        )
    };
    run(&a, &t("at+jwt")).unwrap();
    run(&a, &t("AT+JWT")).unwrap();
    run(&a, &t("application/at+jwt")).unwrap();
    expect("bad_type", &a, &t("JWT"));
    expect(
        "bad_type",
        &a,
        &with_header(KeyKind::Rsa, "RS256", r#"{"alg":"RS256","kid":"rsa-1"}"#),
    );
}

// ---------------------------------------------------------------- issuer and audience

#[test]
fn issuer_must_match_exactly() {
    let a = authenticator("");
    for iss in [
        "https://evil.test",
        "https://idp.vigil.test/",
        "https://IDP.vigil.test",
        "",
    ] {
        expect(
            "unknown_issuer",
            &a,
            &rs256(&claims(iss, "a", "api", NOW, 60, "")),
        );
    }
    let p = format!(r#"{{"aud":"api","exp":{}}}"#, NOW + 60);
    expect("missing_claim", &a, &rs256(&p));
    let p = format!(r#"{{"iss":1,"aud":"api","exp":{}}}"#, NOW + 60);
    expect("bad_claim_type", &a, &rs256(&p));
}

#[test]
fn token_never_falls_through_to_another_issuers_keys() {
    // Rule B trusts the EC key only; a token claiming B signed with A's RSA key fails even
    // though A's rule trusts that key.
    let k = keys();
    let a_rule = format!(
        r#"{{"issuer":"https://a","algorithms":["RS256"],"jwks":{}}}"#,
        json_str(&Keys::jwks_of(&[k.jwk(
            KeyKind::Rsa,
            Some("rsa-1"),
            Some("RS256")
        )]))
    );
    let b_rule = format!(
        r#"{{"issuer":"https://b","algorithms":["RS256","ES256"],"jwks":{}}}"#,
        json_str(&Keys::jwks_of(&[k.jwk(
            KeyKind::P256,
            Some("ec-1"),
            Some("ES256")
        )]))
    );
    let a = Authenticator::new(vec![
        parse_jwt_rule_json(&a_rule).unwrap(),
        parse_jwt_rule_json(&b_rule).unwrap(),
    ])
    .unwrap();
    let t = signed(
        "RS256",
        "rsa-1",
        &claims("https://b", "x", "api", NOW, 60, ""),
    );
    expect("unknown_kid", &a, &t);
    let t = signed(
        "RS256",
        "rsa-1",
        &claims("https://a", "x", "api", NOW, 60, ""),
    );
    assert_eq!(run(&a, &t).unwrap().rule, 0);
}

#[test]
fn duplicate_issuers_are_refused() {
    let r = parse_jwt_rule_json(&format!(
        r#"{{"issuer":"x","algorithms":["RS256"],"jwks":{}}}"#,
        json_str(&keys().jwks())
    ))
    .unwrap();
    let e = Authenticator::new(vec![r.clone(), r]).unwrap_err();
    assert_eq!(e.path, "jwtRules[1].issuer");
}

#[test]
fn audience_checks() {
    let a = authenticator("");
    let aud = |aud: &str| {
        rs256(&format!(
            r#"{{"iss":{},"aud":{aud},"exp":{}}}"#,
            json_str(ISSUER),
            NOW + 60
        ))
    };
    expect("audience_mismatch", &a, &aud(r#""other""#));
    expect("audience_mismatch", &a, &aud(r#""api2""#));
    expect("audience_mismatch", &a, &aud(r#""ap""#));
    expect("audience_mismatch", &a, &aud(r#""API""#));
    expect("audience_mismatch", &a, &aud("[]"));
    expect("bad_claim_type", &a, &aud("1"));
    expect("bad_claim_type", &a, &aud(r#"["api",1]"#));
    run(&a, &aud(r#"["x","api"]"#)).unwrap();
    let p = format!(r#"{{"iss":{},"exp":{}}}"#, json_str(ISSUER), NOW + 60);
    expect("audience_mismatch", &a, &rs256(&p));
    // No audiences configured: `aud` is not checked (Istio's behaviour).
    let rule = format!(
        r#"{{"issuer":{},"algorithms":["RS256"],"jwks":{}}}"#,
        json_str(ISSUER),
        json_str(&keys().jwks())
    );
    let open = Authenticator::new(vec![parse_jwt_rule_json(&rule).unwrap()]).unwrap();
    run(&open, &rs256(&p)).unwrap();
    run(&open, &aud(r#""other""#)).unwrap();
    expect("bad_claim_type", &open, &aud("1"));
}

#[test]
fn sub_must_be_a_string() {
    let a = authenticator("");
    let p = format!(
        r#"{{"iss":{},"aud":"api","exp":{},"sub":42}}"#,
        json_str(ISSUER),
        NOW + 60
    );
    expect("bad_claim_type", &a, &rs256(&p));
}

// ---------------------------------------------------------------- grammar

#[test]
fn base64_padding_and_alphabet() {
    let a = authenticator("");
    let t = rs256(&std_claims(""));
    let s = segments(&t);
    // Padding in the middle of the token breaks the bearer grammar; at the end, base64.
    expect("malformed", &a, &format!("{}=.{}.{}", s[0], s[1], s[2]));
    expect("bad_base64", &a, &format!("{}.{}.{}==", s[0], s[1], s[2]));
    expect_direct("bad_base64", &a, &format!("{}=.{}.{}", s[0], s[1], s[2]));
    expect_direct("bad_base64", &a, &format!("{}.{}=.{}", s[0], s[1], s[2]));
    // Standard alphabet characters.
    expect(
        "bad_base64",
        &a,
        &format!("{}.{}.+{}", s[0], s[1], &s[2][1..]),
    );
    expect(
        "bad_base64",
        &a,
        &format!("{}.{}./{}", s[0], s[1], &s[2][1..]),
    );
    expect(
        "bad_base64",
        &a,
        &format!("+{}.{}.{}", &s[0][1..], s[1], s[2]),
    );
    // Non-canonical trailing bits: the header `{"alg":"RS256","kid":"rsa-1","typ":"JWT"}`
    // encodes with a final character carrying unused bits; changing them must fail.
    let last = s[0].chars().last().unwrap();
    let mut alt = s[0].clone();
    alt.pop();
    let bumped = char::from(last as u8 + 1);
    alt.push(bumped);
    let e = run(&a, &format!("{alt}.{}.{}", s[1], s[2])).unwrap_err();
    assert!(
        matches!(e.code(), "bad_base64" | "bad_json" | "bad_signature"),
        "{e}"
    );
}

#[test]
fn segment_counts_and_garbage() {
    let a = authenticator("");
    let t = rs256(&std_claims(""));
    let s = segments(&t);
    expect("malformed", &a, &format!("{}.{}", s[0], s[1]));
    expect("malformed", &a, &format!("{t}.{}", s[2]));
    expect("malformed", &a, &format!("{t}.x.y"));
    expect("malformed", &a, &format!("{t}."));
    expect("malformed", &a, &format!("{t} x"));
    expect("malformed", &a, &format!("{t}!"));
    expect("malformed", &a, &format!("{t}\""));
    expect("malformed", &a, &format!("{t} "));
    expect_direct("bad_base64", &a, &format!(" {t}"));
    expect_direct("bad_base64", &a, &format!("{t} "));
    expect_direct("bad_base64", &a, &format!("{t}\n"));
    expect_direct("malformed", &a, "");
    expect_direct("malformed", &a, "..");
    // Leading extra spaces after the scheme are `1*SP`: allowed.
    let req = CheckRequest::default().with_header("authorization", &format!("Bearer   {t}"));
    run_req(&a, &req).unwrap();
}

#[test]
fn non_json_and_non_object_parts() {
    let a = authenticator("");
    expect(
        "bad_json",
        &a,
        &keys().signed(KeyKind::Rsa, "RS256", "not json", &std_claims("")),
    );
    expect(
        "bad_json",
        &a,
        &keys().signed(
            KeyKind::Rsa,
            "RS256",
            r#"{"alg":"RS256",}"#,
            &std_claims(""),
        ),
    );
    expect(
        "malformed",
        &a,
        &keys().signed(KeyKind::Rsa, "RS256", r#"["RS256"]"#, &std_claims("")),
    );
    expect("malformed", &a, &rs256(r#"[{"iss":"x"}]"#));
    expect("malformed", &a, &rs256(r#""x""#));
    expect("bad_json", &a, &rs256("{"));
    expect("bad_json", &a, &rs256(&format!("{} x", std_claims(""))));
    expect(
        "bad_header",
        &a,
        &keys().signed(KeyKind::Rsa, "RS256", r#"{"kid":"rsa-1"}"#, &std_claims("")),
    );
    expect(
        "bad_header",
        &a,
        &keys().signed(
            KeyKind::Rsa,
            "RS256",
            r#"{"alg":"RS256","kid":1}"#,
            &std_claims(""),
        ),
    );
}

#[test]
fn duplicate_keys_in_header_and_claims() {
    let a = authenticator("");
    expect(
        "duplicate_key",
        &a,
        &keys().signed(
            KeyKind::Rsa,
            "RS256",
            r#"{"alg":"RS256","kid":"rsa-1","alg":"RS256"}"#,
            &std_claims(""),
        ),
    );
    expect(
        "duplicate_key",
        &a,
        &keys().signed(
            KeyKind::Rsa,
            "RS256",
            r#"{"alg":"none","kid":"rsa-1","alg":"RS256"}"#,
            &std_claims(""),
        ),
    );
    expect("duplicate_key", &a, &rs256(&std_claims(r#""sub":"admin""#)));
    expect(
        "duplicate_key",
        &a,
        &rs256(&std_claims(r#""s\u0075b":"admin""#)),
    );
    expect(
        "duplicate_key",
        &a,
        &rs256(&std_claims(r#""x":{"a":1,"a":2}"#)),
    );
}

#[test]
fn deep_nesting_is_refused() {
    let a = authenticator("");
    let deep = format!(r#""x":{}1{}"#, "[".repeat(1000), "]".repeat(1000));
    expect("too_deep", &a, &rs256(&std_claims(&deep)));
    let deeper = format!(r#""x":{}1{}"#, "[".repeat(5000), "]".repeat(5000));
    expect("too_large", &a, &rs256(&std_claims(&deeper)));
    let deep_header = format!(
        r#"{{"alg":"RS256","kid":"rsa-1","x":{}1{}}}"#,
        "[".repeat(10),
        "]".repeat(10)
    );
    expect(
        "too_deep",
        &a,
        &keys().signed(KeyKind::Rsa, "RS256", &deep_header, &std_claims("")),
    );
}

#[test]
fn big_claims() {
    let a = authenticator("");
    let big = format!(r#""blob":"{}""#, "a".repeat(48 * 1024));
    expect("too_large", &a, &rs256(&std_claims(&big)));
    // Even the largest maxTokenBytes (64 KiB) does not take 48 KiB of claims (64 KiB+ encoded).
    let a_max = authenticator(r#","maxTokenBytes":65536"#);
    expect("too_large", &a_max, &rs256(&std_claims(&big)));
    // 20 KiB of claims pass once maxTokenBytes is raised.
    let mid = format!(r#""blob":"{}""#, "a".repeat(20 * 1024));
    expect("too_large", &a, &rs256(&std_claims(&mid)));
    let a_32 = authenticator(r#","maxTokenBytes":32768"#);
    run(&a_32, &rs256(&std_claims(&mid))).unwrap();
}

#[test]
fn token_location_errors() {
    let a = authenticator(
        r#","fromHeaders":[{"name":"authorization","prefix":"Bearer "}],"fromParams":["access_token"]"#,
    );
    let t = rs256(&std_claims(""));
    let req = |v: &str| CheckRequest::default().with_header("authorization", v);
    let code = |r: &CheckRequest| run_req(&a, r).unwrap_err().code();
    assert_eq!(code(&req("Bearer ")), "malformed");
    assert_eq!(code(&req("Bearer")), "malformed");
    assert_eq!(code(&req(&format!("Bearer {t} x"))), "malformed");
    assert_eq!(
        code(&req(&format!("Bearer {t}, Bearer {t}"))),
        "multiple_tokens"
    );
    let two = req(&format!("Bearer {t}")).with_header("authorization", &format!("Bearer {t}"));
    assert_eq!(code(&two), "multiple_tokens");
    let mut both = req(&format!("Bearer {t}"));
    both.path = format!("/?access_token={t}");
    assert_eq!(code(&both), "multiple_tokens");
    let twice = CheckRequest {
        path: format!("/?access_token={t}&access_token={t}"),
        ..CheckRequest::default()
    };
    assert_eq!(code(&twice), "multiple_tokens");
}

#[test]
fn wrong_location_for_the_issuer() {
    let k = keys();
    let a_rule = format!(
        r#"{{"issuer":{},"algorithms":["RS256"],"fromCookies":["s"],"jwks":{}}}"#,
        json_str(ISSUER),
        json_str(&k.jwks())
    );
    let b_rule = format!(
        r#"{{"issuer":"https://b","algorithms":["RS256"],"jwks":{}}}"#,
        json_str(&k.jwks())
    );
    let a = Authenticator::new(vec![
        parse_jwt_rule_json(&a_rule).unwrap(),
        parse_jwt_rule_json(&b_rule).unwrap(),
    ])
    .unwrap();
    expect("wrong_location", &a, &rs256(&std_claims("")));
}

#[test]
fn rsa_1024_jwks_is_refused() {
    let weak = keys().weak_jwks();
    let e = JwkSet::parse(&weak).unwrap_err();
    assert_eq!(e.path, "keys");
    assert!(e.message.contains("keys[0].n: "), "{e}");
    assert!(e.message.contains("1024 bits is too weak"), "{e}");
    let rule = format!(
        r#"{{"issuer":"x","algorithms":["RS256"],"jwks":{}}}"#,
        json_str(&weak)
    );
    let e = parse_jwt_rule_json(&rule).unwrap_err();
    assert_eq!(e.path, "jwtRules[0].jwks");
    assert!(e.message.contains("keys[0].n"), "{e}");
}

#[test]
fn jwks_with_private_members_is_refused() {
    let text = r#"{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","d":"AQAB"}]}"#;
    assert_eq!(JwkSet::parse(text).unwrap_err().path, "keys[0].d");
}

#[test]
fn no_keys_until_the_adapter_loads_them() {
    let rule = format!(
        r#"{{"issuer":{},"algorithms":["RS256"],"jwksUri":"https://idp.vigil.test/jwks"}}"#,
        json_str(ISSUER)
    );
    let a = Authenticator::new(vec![parse_jwt_rule_json(&rule).unwrap()]).unwrap();
    let t = rs256(&std_claims(""));
    let e = run(&a, &t).unwrap_err();
    assert_eq!(
        e.kind(),
        &TokenErrorKind::NoKeys {
            issuer: ISSUER.into()
        }
    );
    let mut store = a.inline_keys();
    store.set(ISSUER, JwkSet::parse(&keys().jwks()).unwrap());
    assert!(matches!(
        a.authenticate(&bearer(&t), NOW, &store, None),
        AuthOutcome::Verified(_)
    ));
}

// ---------------------------------------------------------------- cache and upstream headers

#[test]
fn cache_hits_and_rechecks_expiry() {
    let a = authenticator("");
    let keys_store = a.inline_keys();
    let mut cache = TokenCache::new(16);
    let t = rs256(&claims(ISSUER, "a", "api", NOW, 100, ""));
    for _ in 0..3 {
        assert!(matches!(
            a.authenticate(&bearer(&t), NOW, &keys_store, Some(&mut cache)),
            AuthOutcome::Verified(_)
        ));
    }
    assert_eq!((cache.hits(), cache.misses(), cache.len()), (2, 1, 1));
    // Past exp + skew: the cached entry is dropped and the token re-verified (and refused).
    match a.authenticate(&bearer(&t), NOW + 160, &keys_store, Some(&mut cache)) {
        AuthOutcome::Failed(e) => assert_eq!(e.code(), "expired"),
        other => panic!("{other:?}"),
    }
    assert_eq!(cache.len(), 0);
    // A refused token is never cached.
    let bad = format!("{}x", &t[..t.len() - 1]);
    let _ = a.authenticate(&bearer(&bad), NOW, &keys_store, Some(&mut cache));
    assert_eq!(cache.len(), 0);
}

#[test]
fn upstream_and_managed_headers() {
    let a = authenticator(
        r#","outputClaimToHeaders":[{"header":"X-Sub","claim":"sub"},{"header":"x-org","claim":"org.id"},
            {"header":"x-roles","claim":"roles"},{"header":"x-admin","claim":"admin"},
            {"header":"x-evil","claim":"evil"},{"header":"x-obj","claim":"org"}],
            "outputPayloadToHeader":"x-jwt-payload""#,
    );
    let p =
        std_claims(r#""org":{"id":42},"roles":["a","b"],"admin":true,"evil":"a\r\nx-injected: 1""#);
    let t = rs256(&p);
    let id = run(&a, &t).unwrap();
    let h = a.upstream_headers(&id, &t);
    let get = |n: &str| h.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    assert_eq!(get("x-sub"), Some("alice"));
    assert_eq!(get("x-org"), Some("42"));
    assert_eq!(get("x-roles"), Some("a,b"));
    assert_eq!(get("x-admin"), Some("true"));
    assert_eq!(get("x-evil"), None);
    assert_eq!(get("x-obj"), None);
    assert_eq!(get("x-jwt-payload"), Some(segments(&t)[1].as_str()));
    for (_, v) in &h {
        assert!(!v.contains(['\r', '\n', '\0']));
    }
    assert_eq!(
        a.managed_headers(),
        [
            "x-admin",
            "x-evil",
            "x-jwt-payload",
            "x-obj",
            "x-org",
            "x-roles",
            "x-sub"
        ]
    );
    assert_eq!(
        a.token_to_strip(&id),
        Some(TokenSource::Header("authorization".into()))
    );
    let keep = authenticator(r#","forwardOriginalToken":true"#);
    let id = run(&keep, &t).unwrap();
    assert_eq!(keep.token_to_strip(&id), None);
}

#[test]
fn descriptions_never_leak_token_contents() {
    let a = authenticator("");
    let t = signed("RS256", "secret-kid-\"x", &std_claims(""));
    let e = run(&a, &t).unwrap_err();
    let d = e.description();
    assert!(!d.contains("secret"), "{d}");
    assert_eq!(d, d.to_lowercase());
}

// ---------------------------------------------------------------- mutation fuzz smoke

struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut XorShift, t: &str) -> String {
    const CHARS: &[u8] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \"{}";
    let mut b = t.as_bytes().to_vec();
    if b.is_empty() {
        return String::from("a");
    }
    match rng.below(6) {
        0 => {
            let i = rng.below(b.len());
            b[i] = CHARS[rng.below(CHARS.len())];
        }
        1 => b.truncate(rng.below(b.len())),
        2 => {
            let segs: Vec<&str> = t.split('.').collect();
            let i = rng.below(segs.len());
            let mut v: Vec<&str> = segs.clone();
            v.insert(i, segs[i]);
            return v.join(".");
        }
        3 => {
            let segs: Vec<&str> = t.split('.').collect();
            let (i, j) = (rng.below(segs.len()), rng.below(segs.len()));
            let mut v = segs.clone();
            v.swap(i, j);
            return v.join(".");
        }
        4 => {
            let i = rng.below(b.len());
            b.remove(i);
        }
        _ => {
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(7);
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

#[test]
fn mutation_fuzz_smoke() {
    let a = authenticator(r#","fromParams":["t"],"fromCookies":["c"]"#);
    let store = a.inline_keys();
    let originals = [
        rs256(&std_claims(r#""scope":"read""#)),
        signed("ES256", "ec-1", &std_claims("")),
        signed("EdDSA", "ed-1", &std_claims("")),
    ];
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut verified = 0;
    for i in 0..20_000 {
        let orig = &originals[i % originals.len()];
        let mut m = mutate(&mut rng, orig);
        if rng.below(4) == 0 {
            m = mutate(&mut rng, &m);
        }
        let src = TokenSource::Header("authorization".into());
        let direct = a.verify(&m, src, NOW, &store);
        let req = CheckRequest::default().with_header("authorization", &format!("Bearer {m}"));
        let via = a.authenticate(&req, NOW, &store, None);
        if &m != orig {
            assert!(direct.is_err(), "mutant verified: {m}");
            assert!(
                !matches!(via, AuthOutcome::Verified(_)),
                "mutant verified: {m}"
            );
        } else {
            verified += 1;
        }
    }
    assert!(verified < 20_000);
}
