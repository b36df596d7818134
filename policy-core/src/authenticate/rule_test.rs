//! Unit tests of `rule.rs`.

use super::*;

const JWKS: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;

fn rule(extra: &str) -> Result<JwtRule, PolicyError> {
    let jwks = json::Value::from(JWKS).to_json();
    parse_jwt_rule_json(&format!(
        r#"{{"issuer":"https://idp","algorithms":["EdDSA"],"jwks":{jwks}{extra}}}"#
    ))
}

#[test]
fn defaults() {
    let r = rule("").unwrap();
    assert_eq!(r.clock_skew_seconds, 60);
    assert_eq!(r.max_token_bytes, 8192);
    assert_eq!(r.locations, [TokenLocation::default_bearer()]);
    assert!(!r.forward_original_token);
    assert!(!r.device);
    assert_eq!(r.jwks.as_ref().unwrap().len(), 1);
}

#[test]
fn full_istio_rule() {
    let r = rule(
        r#","audiences":["api"],"fromHeaders":[{"name":"X-Jwt","prefix":"Token "}],
        "fromParams":["access_token"],"fromCookies":["session"],
        "outputClaimToHeaders":[{"header":"X-Sub","claim":"sub"}],
        "outputPayloadToHeader":"X-Payload","forwardOriginalToken":true,"timeout":"5s",
        "clockSkewSeconds":30,"requiredType":"at+jwt","maxTokenLifetimeSeconds":3600,
        "requireClaims":["scope"],"maxTokenBytes":16384,
        "jwksCache":{"ttlSeconds":300,"refetchCooldownSeconds":30,"cluster":"idp"},"device":true"#,
    )
    .unwrap();
    assert_eq!(r.locations.len(), 3);
    assert_eq!(
        r.locations[0],
        TokenLocation::Header {
            name: "x-jwt".into(),
            prefix: "Token ".into()
        }
    );
    assert_eq!(r.output_claim_to_headers[0].header, "x-sub");
    assert_eq!(r.output_payload_to_header.as_deref(), Some("x-payload"));
    assert_eq!(r.jwks_cache.cluster.as_deref(), Some("idp"));
    assert!(r.device);
}

#[test]
fn errors() {
    let e = rule(r#","issuerr":"x""#).unwrap_err();
    assert_eq!(e.code, ErrorCode::UnknownField);
    assert_eq!(e.path, "jwtRules[0].issuerr");
    let e = parse_jwt_rule_json(r#"{"issuer":"a","algorithms":["RS256"]}"#).unwrap_err();
    assert!(e.message.contains("`jwks` or `jwksUri`"), "{e}");
    // `algorithms` is optional (Istio has no such field): every public-key algorithm, the key
    // decides.
    let r = parse_jwt_rule_json(r#"{"issuer":"a","jwksUri":"https://x"}"#).unwrap();
    assert_eq!(r.algorithms, Alg::ALL.to_vec());
    for bad in ["none", "NONE", "HS256", "hs512"] {
        let e = parse_jwt_rule_json(&format!(
            r#"{{"issuer":"a","jwksUri":"https://x","algorithms":["RS256","{bad}"]}}"#
        ))
        .unwrap_err();
        assert_eq!(e.path, "jwtRules[0].algorithms[1]");
        assert!(e.message.contains("refused"), "{e}");
    }
    let e =
        parse_jwt_rule_json(r#"{"issuer":"a","jwksUri":"https://x","algorithms":[]}"#).unwrap_err();
    assert!(e.message.contains("empty"), "{e}");
    let e = rule(r#","clockSkewSeconds":601"#).unwrap_err();
    assert_eq!(e.path, "jwtRules[0].clockSkewSeconds");
    let e = rule(r#","maxTokenBytes":100000"#).unwrap_err();
    assert_eq!(e.path, "jwtRules[0].maxTokenBytes");
    let e = rule(r#","jwksCache":{"ttl":1}"#).unwrap_err();
    assert_eq!(e.code, ErrorCode::UnknownField);
    let e = parse_jwt_rule_json(
        r#"{"issuer":"a","algorithms":["EdDSA"],"jwks":"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AA\"}]}"}"#,
    )
    .unwrap_err();
    assert_eq!(e.path, "jwtRules[0].jwks");
    assert!(e.message.contains("keys[0].x"), "{e}");
    let e = rule(r#","outputClaimToHeaders":[{"header":"bad header","claim":"sub"}]"#).unwrap_err();
    assert_eq!(e.path, "jwtRules[0].outputClaimToHeaders[0].header");
}
