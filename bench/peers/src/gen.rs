//! Generated policies and tokens for the larger and scaling benchmarks.

use vigil_fixtures::{claims, header, keys, KeyKind, AUDIENCE, ISSUER};

/// The `jwtRules` item every generated policy uses (the fixture keys, inline).
pub fn jwt_rule() -> String {
    format!(
        r#"{{"issuer":"{ISSUER}","audiences":["{AUDIENCE}"],"algorithms":["RS256","ES256","EdDSA"],"jwks":{}}}"#,
        keys().jwks()
    )
}

/// An RS256 token for `sub`, issued at `now`, valid for an hour; `extra` claims JSON members.
pub fn user_token(sub: &str, now: i64, extra: &str) -> String {
    keys().signed(
        KeyKind::Rsa,
        "RS256",
        &header("RS256", "rsa-1"),
        &claims(ISSUER, sub, AUDIENCE, now, 3600, extra),
    )
}

/// `n` ALLOW policies: user uK may access /svc/K/* (no method: 100,000 of them fit Vigil's
/// 16 MiB policy-document limit; with `"methods":["GET"]` they are 17.5 MB). The scale rows.
pub fn rules_policy_any_method(n: usize) -> String {
    let pols: Vec<String> = (0..n)
        .map(|k| {
            format!(
                r#"{{"name":"svc-{k}","rules":[{{"from":[{{"source":{{"requestPrincipals":["{ISSUER}/u{k}"]}}}}],"to":[{{"operation":{{"paths":["/svc/{k}/*"]}}}}]}}]}}"#
            )
        })
        .collect();
    format!(
        r#"{{"jwtRules":[{}],"authorizationPolicies":[{}]}}"#,
        jwt_rule(),
        pols.join(",")
    )
}

/// `n` ALLOW policies: user uK may GET /svc/K/*.
pub fn rules_policy(n: usize) -> String {
    let pols: Vec<String> = (0..n)
        .map(|k| {
            format!(
                r#"{{"name":"svc-{k}","rules":[{{"from":[{{"source":{{"requestPrincipals":["{ISSUER}/u{k}"]}}}}],"to":[{{"operation":{{"methods":["GET"],"paths":["/svc/{k}/*"]}}}}]}}]}}"#
            )
        })
        .collect();
    format!(
        r#"{{"jwtRules":[{}],"authorizationPolicies":[{}]}}"#,
        jwt_rule(),
        pols.join(",")
    )
}

/// One ALLOW policy listing `n` request principals (u0 … u{n-1}).
pub fn principals_policy(n: usize) -> String {
    let ps: Vec<String> = (0..n).map(|k| format!(r#""{ISSUER}/u{k}""#)).collect();
    format!(
        r#"{{"jwtRules":[{}],"authorizationPolicies":[{{"name":"users","rules":[{{"from":[{{"source":{{"requestPrincipals":[{}]}}}}]}}]}}]}}"#,
        jwt_rule(),
        ps.join(",")
    )
}

/// The k-th generated /24 network (10.a.b.0/24, then 11.…).
pub fn net(k: usize) -> (usize, usize, usize) {
    (10 + k / 65536, (k / 256) % 256, k % 256)
}

/// One ALLOW policy with `n` `ipBlocks` (/24s); no token needed.
pub fn cidrs_policy(n: usize) -> String {
    let bs: Vec<String> = (0..n)
        .map(|k| {
            let (a, b, c) = net(k);
            format!(r#""{a}.{b}.{c}.0/24""#)
        })
        .collect();
    format!(
        r#"{{"authorizationPolicies":[{{"name":"nets","rules":[{{"from":[{{"source":{{"ipBlocks":[{}]}}}}]}}]}}]}}"#,
        bs.join(",")
    )
}

/// Any verified user may pass, unless one of `n` revoked `jti`s.
pub fn revoked_policy(n: usize) -> String {
    let js: Vec<String> = (0..n).map(|k| format!(r#""jti-{k}""#)).collect();
    format!(
        r#"{{"jwtRules":[{}],"revocation":{{"jtis":[{}]}},"authorizationPolicies":[{{"name":"users","rules":[{{"from":[{{"source":{{"requestPrincipals":["*"]}}}}]}}]}}]}}"#,
        jwt_rule(),
        js.join(",")
    )
}
