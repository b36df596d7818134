//! `--write-fixtures DIR`: the inputs the other halves of scripts/bench use, generated from the
//! same fixture keys — tokens for Node/jose, and request sets for `vigil bench --wasm`.

use serde_json::{json, Value as Json};
use vigil_fixtures::{keys, AUDIENCE, ISSUER};

fn request(token: &str, path: &str) -> Json {
    json!({"method": "GET", "path": path, "host": "app.vigil.test",
           "headers": {"authorization": format!("Bearer {token}")},
           "source": {"address": "198.51.100.7"}})
}

pub fn write(dir: &str, root: &str, fresh: usize) -> Result<(), String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs() as i64;
    let w = |name: &str, v: &Json| {
        std::fs::write(format!("{dir}/{name}"), v.to_string()).map_err(|e| format!("{name}: {e}"))
    };
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let jwks: Json = serde_json::from_str(&keys().jwks()).map_err(|e| e.to_string())?;
    let toks = crate::verify::tokens(now);
    let tokens: serde_json::Map<String, Json> = toks
        .iter()
        .map(|(a, t)| (a.to_string(), json!(t)))
        .collect();
    w(
        "tokens.json",
        &json!({"now": now, "issuer": ISSUER, "audience": AUDIENCE,
                              "jwks": jwks, "tokens": tokens}),
    )?;
    // A policy accepting all three algorithms; requests with a fresh token each (every
    // decision verifies) and the same token repeated (every decision after the first hits
    // the cache).
    let policy: Json = serde_json::from_str(&format!(
        r#"{{"jwtRules":[{}],"authorizationPolicies":[{{"name":"any","rules":[{{"from":[{{"source":{{"requestPrincipals":["*"]}}}}]}}]}}]}}"#,
        crate::gen::jwt_rule()
    ))
    .map_err(|e| e.to_string())?;
    w("verify.policy.json", &policy)?;
    for (alg, _) in &toks {
        let kind = vigil_fixtures::kind_for_alg(alg).ok_or("alg")?;
        let reqs: Vec<Json> = (0..fresh)
            .map(|k| {
                let t = keys().signed(
                    kind,
                    alg,
                    &vigil_fixtures::header(alg, kind.kid()),
                    &vigil_fixtures::claims(ISSUER, &format!("user-{k}"), AUDIENCE, now, 3600, ""),
                );
                request(&t, "/api/documents/1")
            })
            .collect();
        w(&format!("fresh-{alg}.json"), &Json::Array(reqs))?;
    }
    // app.authz: the policy-evaluation inputs as check requests, for the cached path in wasm.
    let (_, inputs) = crate::authz::app_authz_inputs(root)?;
    let reqs: Vec<Json> = inputs
        .iter()
        .map(|i| serde_json::from_str(&i.req.to_value().to_json()).unwrap_or(Json::Null))
        .collect();
    w("app-authz.requests.json", &Json::Array(reqs))?;
    Ok(())
}
