//! Token verification per call: Vigil's verifier (grammar, header and claims checks,
//! signature) against the `jsonwebtoken` crate (ring) doing the same checks (alg, iss, aud,
//! exp), on the same tokens; and the verified-token cache hit.

use crate::harness::{self, Budget, Contender, Stat};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use policy_core::authenticate::TokenCache;
use policy_core::extract::token::TokenSource;
use policy_core::Engine;
use serde_json::{json, Value as Json};
use std::hint::black_box;
use vigil_fixtures::{claims, header, keys, kind_for_alg, AUDIENCE, ISSUER};

type Res<T> = Result<T, String>;

/// The three fixture tokens, issued now (jsonwebtoken reads the system clock).
pub fn tokens(now: i64) -> Vec<(&'static str, String)> {
    ["RS256", "ES256", "EdDSA"]
        .iter()
        .filter_map(|alg| {
            let kind = kind_for_alg(alg)?;
            Some((
                *alg,
                keys().signed(
                    kind,
                    alg,
                    &header(alg, kind.kid()),
                    &claims(
                        ISSUER,
                        "alice",
                        AUDIENCE,
                        now,
                        3600,
                        r#""roles":["viewer"]"#,
                    ),
                ),
            ))
        })
        .collect()
}

fn jwk<'a>(set: &'a Json, kid: &str) -> Res<&'a Json> {
    set["keys"]
        .as_array()
        .and_then(|ks| ks.iter().find(|k| k["kid"] == kid))
        .ok_or_else(|| format!("no key {kid}"))
}

fn decoding_key(alg: &str) -> Res<(DecodingKey, Algorithm)> {
    let set: Json = serde_json::from_str(&keys().jwks()).map_err(|e| e.to_string())?;
    let s = |k: &Json, m: &str| k[m].as_str().unwrap_or("").to_string();
    Ok(match alg {
        "RS256" => {
            let k = jwk(&set, "rsa-1")?;
            (
                DecodingKey::from_rsa_components(&s(k, "n"), &s(k, "e"))
                    .map_err(|e| e.to_string())?,
                Algorithm::RS256,
            )
        }
        "ES256" => {
            let k = jwk(&set, "ec-1")?;
            (
                DecodingKey::from_ec_components(&s(k, "x"), &s(k, "y"))
                    .map_err(|e| e.to_string())?,
                Algorithm::ES256,
            )
        }
        _ => {
            let k = jwk(&set, "ed-1")?;
            (
                DecodingKey::from_ed_components(&s(k, "x")).map_err(|e| e.to_string())?,
                Algorithm::EdDSA,
            )
        }
    })
}

pub fn bench(budget: Budget) -> Res<Json> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs() as i64;
    let policy = format!(
        r#"{{"jwtRules":[{}],"authorizationPolicies":[{{"name":"any","rules":[{{"from":[{{"source":{{"requestPrincipals":["*"]}}}}]}}]}}]}}"#,
        crate::gen::jwt_rule()
    );
    let engine = Engine::from_json(&policy).map_err(|e| format!("policy: {e}"))?;
    let auth = &engine.plan().auth;
    let store = engine.inline_keys();
    let src = TokenSource::Header("authorization".into());
    let toks = tokens(now);
    let mut out = Vec::new();
    for (alg, tok) in &toks {
        let (key, a) = decoding_key(alg)?;
        let mut v = Validation::new(a);
        v.set_audience(&[AUDIENCE]);
        v.set_issuer(&[ISSUER]);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        // Both must accept the token before anything is timed.
        auth.verify(tok, src.clone(), now, store)
            .map_err(|e| format!("vigil refused the {alg} token: {}", e.code()))?;
        jsonwebtoken::decode::<Json>(tok, &key, &v)
            .map_err(|e| format!("jsonwebtoken refused the {alg} token: {e}"))?;
        let mut cs = vec![
            Contender::new(format!("vigil {alg}"), 1, || {
                let _ = black_box(auth.verify(black_box(tok), src.clone(), now, store));
            }),
            Contender::new(format!("jsonwebtoken {alg}"), 1, || {
                let _ = black_box(jsonwebtoken::decode::<Json>(black_box(tok), &key, &v));
            }),
        ];
        let st = harness::run(&mut cs, budget);
        out.push(json!({"alg": alg, "stats": st.iter().map(Stat::to_json).collect::<Vec<_>>(),
                        "ratio_vigil_to_jsonwebtoken": ((st[0].median / st[1].median) * 100.0).round() / 100.0}));
    }
    // The cache hit: hash of the token, lookup, exp/nbf re-check, the verifying key still in
    // the issuer's set, identity copy.
    let mut cache = TokenCache::new(1024);
    let (_, rs) = toks.first().ok_or("no token")?;
    let id = auth
        .verify(rs, src.clone(), now, store)
        .map_err(|e| e.code().to_string())?;
    cache.insert(rs, id, 0);
    let mut cs = vec![Contender::new("vigil cache hit (RS256 token)", 1, || {
        black_box(cache.get(black_box(rs), now, store));
    })];
    let hit = harness::run(&mut cs, budget);
    Ok(json!({"verify": out, "cache_hit": hit[0].to_json(),
              "token_bytes": toks.iter().map(|(a, t)| json!({"alg": a, "bytes": t.len()})).collect::<Vec<_>>()}))
}
