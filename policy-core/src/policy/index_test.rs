use super::*;
use crate::json;
use crate::policy::authz::parse_policies;

fn policies(doc: &str) -> Vec<AuthzPolicy> {
    let v = json::parse(doc, json::Limits::POLICY).unwrap();
    let items: Vec<(String, &json::Value)> = v
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, p)| (alloc::format!("$[{i}]"), p))
        .collect();
    parse_policies(&items).unwrap()
}

fn rp(values: &str) -> String {
    alloc::format!(r#"{{"from":[{{"source":{{"requestPrincipals":[{values}]}}}}]}}"#)
}

#[test]
fn guarded_policies_are_candidates_only_for_their_principals() {
    let doc = alloc::format!(
        r#"[
        {{"name":"a","rules":[{}]}},
        {{"name":"any-token","rules":[{}]}},
        {{"name":"prefix","rules":[{}]}},
        {{"name":"b-or-c","rules":[{},{}]}},
        {{"name":"no-from","rules":[{{"to":[{{"operation":{{"methods":["GET"]}}}}]}}]}},
        {{"name":"mixed","rules":[{},{{"when":[{{"key":"request.auth.claims[x]","values":["1"]}}]}}]}},
        {{"name":"a-again","rules":[{}]}},
        {{"name":"none","rules":[]}}
    ]"#,
        rp(r#""i/a""#),
        rp(r#""*""#),
        rp(r#""i/*""#),
        rp(r#""i/b""#),
        rp(r#""i/c""#),
        rp(r#""i/d""#),
        rp(r#""i/a""#),
    );
    let ps = policies(&doc);
    let ix = PolicyIndex::build(&ps);
    let names = |p: Option<&str>, every: bool| -> Vec<&str> {
        ix.candidates(p, every)
            .map(|i| ps[i].name.as_str())
            .collect()
    };
    assert_eq!(
        names(None, false),
        ["any-token", "prefix", "no-from", "mixed"]
    );
    assert_eq!(
        names(Some("i/a"), false),
        ["a", "any-token", "prefix", "no-from", "mixed", "a-again"]
    );
    assert_eq!(
        names(Some("i/c"), false),
        ["any-token", "prefix", "b-or-c", "no-from", "mixed"]
    );
    assert_eq!(names(Some("i/zz"), false), names(None, false));
    assert_eq!(
        names(Some("i/a"), true).len(),
        ps.len(),
        "explaining scans everything"
    );
    assert_eq!(
        ix.guarded(),
        3,
        "a, b-or-c, a-again (`none` matches nothing and is filed nowhere)"
    );
}

#[test]
fn the_same_decisions_as_a_full_scan() {
    // 300 guarded policies, a few unguarded ones in between; every caller decided with and
    // without the index (an explanation scans all policies) must agree.
    let mut items = Vec::new();
    for k in 0..300 {
        items.push(alloc::format!(
            r#"{{"name":"p{k}","rules":[{{"from":[{{"source":{{"requestPrincipals":["https://idp/u{k}"]}}}}],"to":[{{"operation":{{"paths":["/svc/{k}/*"]}}}}]}}]}}"#
        ));
        if k % 97 == 0 {
            items.push(alloc::format!(
                r#"{{"name":"open{k}","rules":[{{"to":[{{"operation":{{"paths":["/open/{k}"]}}}}]}}]}}"#
            ));
        }
    }
    let doc = alloc::format!(
        r#"{{"jwtRules":[{{"issuer":"https://idp","algorithms":["EdDSA"],"jwks":{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}}]}}}}],"authorizationPolicies":[{}]}}"#,
        items.join(",")
    );
    let plan = crate::Plan::from_json(&doc).unwrap();
    assert_eq!(plan.indexes[1].guarded(), 300);
    let claims = json::Map::new();
    let mut checked = 0;
    for user in [
        None,
        Some(0),
        Some(1),
        Some(97),
        Some(150),
        Some(299),
        Some(300),
    ] {
        let principal = user.map(|u| alloc::format!("https://idp/u{u}"));
        for path in [
            "/svc/0/x",
            "/svc/97/x",
            "/svc/150/x",
            "/svc/299/x",
            "/open/97",
            "/open/5",
        ] {
            let req = crate::CheckRequest::from_json(&alloc::format!(
                r#"{{"method":"GET","host":"h","path":"{path}"}}"#
            ))
            .unwrap();
            let mut ctx = crate::decide::Ctx::new(&plan, &req).unwrap();
            ctx.auth = principal.as_deref().map(|p| crate::decide::AuthView {
                principal: p,
                audiences: &[],
                presenter: None,
                claims: &claims,
                space_delimited: &[],
            });
            let indexed = crate::decide::allow_policies(&plan, &ctx, &mut None);
            let mut steps = Vec::new();
            let scanned = crate::decide::allow_policies(&plan, &ctx, &mut Some(&mut steps));
            assert_eq!(indexed, scanned, "{principal:?} {path}");
            checked += usize::from(indexed.policy.is_some());
        }
    }
    // u0, u97, u150 and u299 on their own path (4), and /open/97 for each of the 7 callers.
    assert_eq!(checked, 11);
}
