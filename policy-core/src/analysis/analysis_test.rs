use super::*;
use crate::json::{self, Limits};

const T: i64 = 1_700_000_000;

fn engine(text: &str) -> Engine {
    match Engine::from_json(text) {
        Ok(e) => e,
        Err(e) => panic!("policy: {e:?}"),
    }
}

fn run(old: &str, new: &str) -> Diff {
    diff(&engine(old), &engine(new), T)
}

fn kinds(d: &Diff) -> Vec<(&'static str, String, String)> {
    d.changes
        .iter()
        .map(|c| {
            (
                c.kind(),
                format!(
                    "{}:{}",
                    c.before.code,
                    c.before.policy.clone().unwrap_or_default()
                ),
                format!(
                    "{}:{}",
                    c.after.code,
                    c.after.policy.clone().unwrap_or_default()
                ),
            )
        })
        .collect()
}

const ISS: &str = "https://idp.example.com";

fn with_jwt(rest: &str) -> String {
    format!(
        r#"{{"jwtRules":[{{"issuer":"{ISS}","audiences":["api"],"jwks":{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"k","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}}]}}}}],{rest}}}"#
    )
}

#[test]
fn a_document_is_equivalent_to_itself() {
    let p = r#"{"authorizationPolicies":[{"name":"a","rules":[{"to":[{"operation":{"paths":["/api/*"],"methods":["GET"]}}]}]}]}"#;
    let d = run(p, p);
    assert!(d.equivalent, "{:?}", kinds(&d));
    assert!(d.complete);
}

#[test]
fn a_wider_prefix_is_found_with_a_witness_in_the_new_part_only() {
    let old = r#"{"authorizationPolicies":[{"name":"a","rules":[{"to":[{"operation":{"paths":["/api/v1/*"]}}]}]}]}"#;
    let new = r#"{"authorizationPolicies":[{"name":"a","rules":[{"to":[{"operation":{"paths":["/api/*"]}}]}]}]}"#;
    let d = run(old, new);
    assert!(!d.equivalent);
    assert_eq!(d.changes.len(), 1, "{:?}", kinds(&d));
    let c = &d.changes[0];
    assert_eq!(c.kind(), "newly_allowed");
    assert!(
        c.request.path.starts_with("/api/") && !c.request.path.starts_with("/api/v1/"),
        "{}",
        c.request.path
    );
    // Both directions: swapping the documents reports the same region as newly denied.
    let back = run(new, old);
    assert_eq!(
        kinds(&back),
        vec![(
            "newly_denied",
            "allowed_by_policy:a".into(),
            "no_matching_policy:".into()
        )]
    );
}

#[test]
fn a_narrower_cidr_is_found_at_the_boundary() {
    let old = r#"{"authorizationPolicies":[{"name":"a","rules":[{"from":[{"source":{"ipBlocks":["10.0.0.0/8"]}}]}]}]}"#;
    let new = r#"{"authorizationPolicies":[{"name":"a","rules":[{"from":[{"source":{"ipBlocks":["10.0.0.0/16"]}}]}]}]}"#;
    let d = run(old, new);
    assert_eq!(d.changes.len(), 1, "{:?}", kinds(&d));
    let ip = d.changes[0]
        .request
        .source
        .address
        .clone()
        .unwrap_or_default();
    assert!(ip.starts_with("10.") && !ip.starts_with("10.0."), "{ip}");
    assert_eq!(d.changes[0].kind(), "newly_denied");
}

#[test]
fn a_deny_removed_and_a_deny_added() {
    let base = r#"{"name":"open","rules":[{}]}"#;
    let old = format!(
        r#"{{"authorizationPolicies":[{{"name":"no-admin","action":"DENY","rules":[{{"to":[{{"operation":{{"paths":["/admin/*"]}}}}]}}]}},{base}]}}"#
    );
    let new = format!(
        r#"{{"authorizationPolicies":[{{"name":"no-debug","action":"DENY","rules":[{{"to":[{{"operation":{{"paths":["/debug"]}}}}]}}]}},{base}]}}"#
    );
    let d = run(&old, &new);
    let k = kinds(&d);
    assert_eq!(k.len(), 2, "{k:?}");
    assert!(
        k.contains(&(
            "newly_allowed",
            "denied_by_policy:no-admin".into(),
            "allowed_by_policy:open".into()
        )),
        "{k:?}"
    );
    assert!(
        k.contains(&(
            "newly_denied",
            "allowed_by_policy:open".into(),
            "denied_by_policy:no-debug".into()
        )),
        "{k:?}"
    );
    for c in &d.changes {
        match c.kind() {
            "newly_allowed" => assert!(c.request.path.starts_with("/admin/")),
            _ => assert_eq!(c.request.path, "/debug"),
        }
    }
}

#[test]
fn a_request_principal_narrowed_to_one_subject() {
    let old = with_jwt(&format!(
        r#""authorizationPolicies":[{{"name":"users","rules":[{{"from":[{{"source":{{"requestPrincipals":["{ISS}/*"]}}}}]}}]}}]"#
    ));
    let new = with_jwt(&format!(
        r#""authorizationPolicies":[{{"name":"users","rules":[{{"from":[{{"source":{{"requestPrincipals":["{ISS}/alice"]}}}}]}}]}}]"#
    ));
    let d = run(&old, &new);
    assert_eq!(d.changes.len(), 1, "{:?}", kinds(&d));
    let c = &d.changes[0];
    assert_eq!(c.kind(), "newly_denied");
    let claims = c.claims.clone().unwrap_or_default();
    assert_ne!(claims.get("sub").and_then(|v| v.as_str()), Some("alice"));
    assert_eq!(claims.get("aud").and_then(|v| v.as_str()), Some("api"));
    // The witness really is a request the engines decide so.
    let keys = witness::analysis_keys(&[ISS.to_string()].into_iter().collect());
    let env = Env {
        now: T,
        keys: Some(&keys),
        ..Env::default()
    };
    let mut cache = TokenCache::new(1);
    let got = engine(&old).decide_cached_using(
        &c.request,
        &env,
        &mut cache,
        &mut witness::AnalysisSignatures,
    );
    assert_eq!(got.code, "allowed_by_policy");
}

#[test]
fn a_scope_condition_change() {
    let pol = |scope: &str| {
        with_jwt(&format!(
            r#""authorizationPolicies":[{{"name":"w","rules":[{{"from":[{{"source":{{"requestPrincipals":["*"]}}}}],"to":[{{"operation":{{"methods":["POST"]}}}}],"when":[{{"key":"request.auth.claims[scope]","values":["{scope}"]}}]}}]}}]"#
        ))
    };
    let d = run(&pol("write"), &pol("admin"));
    let k = kinds(&d);
    assert_eq!(k.len(), 2, "{k:?}");
    for c in &d.changes {
        let scope = c
            .claims
            .as_ref()
            .and_then(|m| m.get("scope"))
            .and_then(|v| v.as_str())
            .unwrap_or("");
        let items: Vec<&str> = scope.split(' ').collect();
        match c.kind() {
            "newly_allowed" => assert!(
                items.contains(&"admin") && !items.contains(&"write"),
                "{scope}"
            ),
            _ => assert!(
                items.contains(&"write") && !items.contains(&"admin"),
                "{scope}"
            ),
        }
        assert_eq!(c.request.method, "POST");
    }
}

#[test]
fn reordering_disjoint_allow_policies_is_equivalent() {
    let a = r#"{"name":"a","rules":[{"to":[{"operation":{"paths":["/a/*"]}}]}]}"#;
    let b = r#"{"name":"b","rules":[{"to":[{"operation":{"paths":["/b/*"]}}]}]}"#;
    let d = run(
        &format!(r#"{{"authorizationPolicies":[{a},{b}]}}"#),
        &format!(r#"{{"authorizationPolicies":[{b},{a}]}}"#),
    );
    assert!(d.equivalent, "{:?}", kinds(&d));
}

#[test]
fn the_report_is_json() {
    let old = r#"{"authorizationPolicies":[{"name":"a","rules":[{"to":[{"operation":{"methods":["GET"]}}]}]}]}"#;
    let new = r#"{"authorizationPolicies":[{"name":"a","rules":[{"to":[{"operation":{"methods":["GET","HEAD"]}}]}]}]}"#;
    let v = run(old, new).to_value();
    let text = v.to_json();
    let back = json::parse(&text, Limits::REQUEST).ok();
    assert_eq!(
        back.as_ref()
            .and_then(|b| b.get("equivalent"))
            .and_then(Value::as_bool),
        Some(false)
    );
    let changes = back
        .as_ref()
        .and_then(|b| b.get("changes"))
        .and_then(Value::as_array)
        .map(<[Value]>::to_vec)
        .unwrap_or_default();
    assert_eq!(changes.len(), 1);
    assert_eq!(
        changes[0]
            .get("request")
            .and_then(|r| r.get("method"))
            .and_then(Value::as_str),
        Some("HEAD")
    );
}

/// xorshift64*: deterministic, so a failure names its seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % (n.max(1) as u64)) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items.get(self.below(items.len())).copied().unwrap_or("")
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
    fn some(&mut self, items: &[&str]) -> String {
        let n = 1 + self.below(2);
        let v: Vec<String> = (0..n).map(|_| format!("{:?}", self.pick(items))).collect();
        format!("[{}]", v.join(","))
    }
}

const PATHS: &[&str] = &[
    "/a", "/a/*", "/a/b", "*/b", "/a/{*}/c", "/a/{**}", "*", "/b*", "*.json",
];
const METHODS: &[&str] = &["GET", "POST", "*", "P*"];
const HOSTS: &[&str] = &["a.example.com", "*.example.com", "b.example.com"];
const PORTS: &[&str] = &["80", "443"];
const PRINCIPALS: &[&str] = &[
    "cluster.local/ns/a/sa/x",
    "cluster.local/ns/a/*",
    "*/sa/y",
    "*",
];
const NAMESPACES: &[&str] = &["a", "b", "*"];
const SAS: &[&str] = &["a/x", "b/y"];
const BLOCKS: &[&str] = &["10.0.0.0/8", "10.1.0.0/16", "192.168.1.1", "2001:db8::/32"];

fn random_rule(r: &mut Rng) -> String {
    let mut parts = Vec::new();
    if r.chance(50) {
        let field = match r.below(10) {
            0 => format!(r#""principals":{}"#, r.some(PRINCIPALS)),
            1 => format!(r#""namespaces":{}"#, r.some(NAMESPACES)),
            2 => format!(r#""serviceAccounts":{}"#, r.some(SAS)),
            3 => format!(
                r#""requestPrincipals":{}"#,
                r.some(&[
                    "https://idp.example.com/alice",
                    "https://idp.example.com/*",
                    "*",
                    "*/bob"
                ])
            ),
            4 => format!(
                r#""notRequestPrincipals":{}"#,
                r.some(&["https://idp.example.com/alice", "*"])
            ),
            5 => format!(r#""ipBlocks":{}"#, r.some(BLOCKS)),
            6 => format!(r#""remoteIpBlocks":{}"#, r.some(BLOCKS)),
            7 => format!(r#""notPrincipals":{}"#, r.some(PRINCIPALS)),
            8 => format!(r#""notNamespaces":{}"#, r.some(NAMESPACES)),
            _ => format!(r#""notIpBlocks":{}"#, r.some(BLOCKS)),
        };
        parts.push(format!(r#""from":[{{"source":{{{field}}}}}]"#));
    }
    if r.chance(60) {
        let mut fields = Vec::new();
        if r.chance(60) {
            let f = if r.chance(75) { "paths" } else { "notPaths" };
            fields.push(format!(r#""{f}":{}"#, r.some(PATHS)));
        }
        if r.chance(40) {
            let f = if r.chance(75) {
                "methods"
            } else {
                "notMethods"
            };
            fields.push(format!(r#""{f}":{}"#, r.some(METHODS)));
        }
        if r.chance(25) {
            fields.push(format!(r#""hosts":{}"#, r.some(HOSTS)));
        }
        if r.chance(20) {
            let f = if r.chance(70) { "ports" } else { "notPorts" };
            fields.push(format!(r#""{f}":{}"#, r.some(PORTS)));
        }
        if r.chance(10) {
            fields.push(format!(r#""notHosts":{}"#, r.some(HOSTS)));
        }
        if fields.is_empty() {
            fields.push(format!(r#""paths":{}"#, r.some(PATHS)));
        }
        parts.push(format!(
            r#""to":[{{"operation":{{{}}}}}]"#,
            fields.join(",")
        ));
    }
    if r.chance(50) {
        let (key, pool): (&str, &[&str]) = match r.below(12) {
            0 => ("request.headers[x-a]", &["x", "y", "x*", "*", "*z"]),
            1 => ("request.auth.claims[scope]", &["read", "write"]),
            2 => ("request.auth.claims[group]", &["admins", "dev*"]),
            3 => ("source.ip", &["10.0.0.0/8", "192.168.1.1"]),
            4 => ("destination.port", &["80", "443"]),
            5 => ("request.auth.audiences", &["api", "web", "other"]),
            6 => ("request.auth.presenter", &["cli", "web*"]),
            7 => ("remote.ip", &["10.0.0.0/8", "192.168.1.1"]),
            8 => ("destination.ip", &["10.9.0.0/16"]),
            9 => ("request.headers[x-b]", &["1", "2*"]),
            10 => ("source.namespace", &["a", "b*"]),
            _ => ("connection.sni", &["a.example.com", "*.example.com"]),
        };
        let f = if r.chance(70) { "values" } else { "notValues" };
        parts.push(format!(
            r#""when":[{{"key":"{key}","{f}":{}}}]"#,
            r.some(pool)
        ));
    }
    format!("{{{}}}", parts.join(","))
}

fn random_doc(r: &mut Rng, aud: &str, trusted: u8) -> String {
    let n = 1 + r.below(4);
    let mut pols = Vec::new();
    for i in 0..n {
        let action = if r.chance(30) { "DENY" } else { "ALLOW" };
        let rules: Vec<String> = (0..1 + r.below(2)).map(|_| random_rule(r)).collect();
        pols.push(format!(
            r#"{{"name":"p{i}","action":"{action}","rules":[{}]}}"#,
            rules.join(",")
        ));
    }
    format!(
        r#"{{"numTrustedProxies":{trusted},"jwtRules":[{{"issuer":"{ISS}","audiences":{aud},"jwks":{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"k","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}}]}}}}],"authorizationPolicies":[{}]}}"#,
        pols.join(",")
    )
}

fn random_request(r: &mut Rng) -> CheckRequest {
    let path = r.pick(&[
        "/", "/a", "/a/", "/a/b", "/a/x/c", "/a/x/y/c", "/ab", "/b", "/x/b", "/a/b/c", "/bz",
        "/q.json", "/a/x=y/c", "/zzz",
    ]);
    let method = r.pick(&["GET", "POST", "PUT", "PATCH", "DELETE"]);
    let host = r.pick(&[
        "",
        "a.example.com",
        "b.example.com",
        "c.example.com",
        "example.com",
    ]);
    let mut req = CheckRequest::new(method, path, host);
    req.time = Some(T);
    req.destination.port = [None, Some(80u16), Some(443), Some(8080)]
        .get(r.below(4))
        .copied()
        .flatten();
    let peer = r.pick(&[
        "",
        "cluster.local/ns/a/sa/x",
        "cluster.local/ns/a/sa/z",
        "cluster.local/ns/b/sa/y",
        "cluster.local/ns/c/sa/y",
        "other/ns/b/sa/x",
    ]);
    if !peer.is_empty() {
        req.source.principal = Some(format!("spiffe://{peer}"));
    }
    let ip = r.pick(&[
        "",
        "10.0.0.1",
        "10.1.2.3",
        "10.2.0.0",
        "192.168.1.1",
        "192.168.1.2",
        "11.0.0.0",
        "9.255.255.255",
        "2001:db8::5",
        "2001:db9::1",
    ]);
    if !ip.is_empty() {
        req.source.address = Some(ip.to_string());
    }
    for v in [
        &[][..],
        &["x"],
        &["y"],
        &["xq"],
        &["qz"],
        &[""],
        &["x", "y"],
        &["q"],
    ][r.below(8)]
    {
        req.headers.push(("x-a".into(), (*v).to_string()));
    }
    let xff = r.pick(&[
        "",
        "10.3.3.3",
        "192.168.1.1",
        "8.8.8.8",
        "10.1.0.9, 172.16.0.1",
        "garbage",
    ]);
    if !xff.is_empty() {
        req.headers
            .push(("x-forwarded-for".into(), xff.to_string()));
    }
    let dst = r.pick(&["", "10.9.1.1", "10.8.0.1"]);
    if !dst.is_empty() {
        req.destination.address = Some(dst.to_string());
    }
    for v in [&[][..], &["1"], &["2x"], &["3"], &["1", "3"]][r.below(5)] {
        req.headers.push(("x-b".into(), (*v).to_string()));
    }
    let sni = r.pick(&["", "a.example.com", "c.example.com", "other.org"]);
    if !sni.is_empty() {
        req.sni = Some(sni.into());
    }
    match r.below(6) {
        0 => {}
        1 => req
            .headers
            .push(("authorization".into(), "Bearer not.a.token".into())),
        _ => {
            let mut c = Map::new();
            c.insert("iss", Value::from(ISS));
            c.insert("sub", Value::from(r.pick(&["alice", "bob", "carol"])));
            c.insert("exp", Value::from(T + 600));
            match r.below(5) {
                0 => {}
                1 => c.insert("aud", Value::from("api")),
                2 => c.insert("aud", Value::from("web")),
                3 => c.insert(
                    "aud",
                    Value::Array(alloc::vec![Value::from("api"), Value::from("web")]),
                ),
                _ => c.insert("aud", Value::from("other")),
            }
            let azp = r.pick(&["", "cli", "webapp", "x"]);
            if !azp.is_empty() {
                c.insert("azp", Value::from(azp));
            }
            let scope = r.pick(&["", "read", "write", "read write", "admin"]);
            if !scope.is_empty() {
                c.insert("scope", Value::from(scope));
            }
            match r.below(5) {
                0 => {}
                1 => c.insert("group", Value::from("admins")),
                2 => c.insert("group", Value::from("devops")),
                3 => c.insert(
                    "group",
                    Value::Array(alloc::vec![Value::from("admins"), Value::from("x")]),
                ),
                _ => c.insert("group", Value::from("ops")),
            }
            let (alg, kid) =
                witness::choose_alg(&[]).unwrap_or((crate::authenticate::jwks::Alg::EdDsa, ""));
            let t = witness::mint(alg, kid, None, &c);
            req.headers
                .push(("authorization".into(), format!("Bearer {t}")));
        }
    }
    req
}

/// The procedure against brute force: every difference that random requests (drawn from a
/// wider pool than the analysis's candidates) find between two random documents must be one
/// the diff reports, and a diff that says "equivalent" must have no such request.
#[test]
fn every_difference_random_requests_find_is_reported() {
    let cases: u64 = option_env!("VIGIL_ANALYSIS_CASES")
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let keys = witness::analysis_keys(&[ISS.to_string()].into_iter().collect());
    let env = Env {
        now: T,
        keys: Some(&keys),
        ..Env::default()
    };
    let mut differing = 0;
    for seed in 1..=cases {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let aud = r.pick(&["[]", r#"["api"]"#, r#"["api","web"]"#]);
        let trusted = if r.chance(30) { 1 } else { 0 };
        let old = random_doc(&mut r, aud, trusted);
        // The new document sometimes accepts other audiences (a jwtRules change the diff
        // must see: tokens newly refused or accepted).
        let aud_new = if r.chance(30) {
            r.pick(&["[]", r#"["api"]"#, r#"["web","other"]"#])
        } else {
            aud
        };
        let new = if r.chance(50) {
            random_doc(&mut r, aud_new, trusted)
        } else {
            old.clone()
        };
        let (eo, en) = (engine(&old), engine(&new));
        let d = diff(&eo, &en, T);
        let reported: BTreeSet<_> = d
            .changes
            .iter()
            .map(|c| (signature(&c.before), signature(&c.after)))
            .collect();
        for c in &d.changes {
            let mut cache = TokenCache::new(1);
            let a = eo.decide_cached_using(
                &c.request,
                &env,
                &mut cache,
                &mut witness::AnalysisSignatures,
            );
            assert_eq!(
                signature(&a),
                signature(&c.before),
                "seed {seed}: witness before"
            );
        }
        for _ in 0..200 {
            let req = random_request(&mut r);
            // One cache per engine: a cache belongs to one policy's authenticator.
            let (mut co, mut cn) = (TokenCache::new(1), TokenCache::new(1));
            let a = eo.decide_cached_using(&req, &env, &mut co, &mut witness::AnalysisSignatures);
            let b = en.decide_cached_using(&req, &env, &mut cn, &mut witness::AnalysisSignatures);
            let key = (signature(&a), signature(&b));
            if key.0 != key.1 {
                differing += 1;
                assert!(
                    reported.contains(&key),
                    "seed {seed}: {req:?}\n decided {:?} -> {:?}, not reported (reported {:?})\nold {old}\nnew {new}",
                    key.0, key.1, reported
                );
            }
        }
        if d.equivalent {
            assert!(d.changes.is_empty());
        }
    }
    assert!(
        differing > 0,
        "the random documents never differed: the test tests nothing"
    );
}

#[test]
fn coverage_names_what_no_case_exercised() {
    let e = engine(
        r#"{"authorizationPolicies":[
        {"name":"read","rules":[{"to":[{"operation":{"methods":["GET"]}}]},{"to":[{"operation":{"methods":["HEAD"]}}]}]},
        {"name":"no-debug","action":"DENY","rules":[{"to":[{"operation":{"paths":["/debug"]}}]}]},
        {"name":"log","action":"AUDIT","rules":[{"to":[{"operation":{"paths":["/a"]}}]}]},
        {"name":"empty"}]}"#,
    );
    let mut cov = coverage::Coverage::new(e.plan());
    for (m, p) in [("GET", "/a"), ("POST", "/b")] {
        let (d, steps) = e.explain(&CheckRequest::new(m, p, "h"), &Env::at(T));
        cov.record(&d, &steps);
    }
    let uncovered: Vec<String> = cov
        .items()
        .iter()
        .filter(|i| !i.covered)
        .map(|i| format!("{} {}", i.kind, i.name))
        .collect();
    assert_eq!(
        uncovered,
        ["policy no-debug", "rule no-debug[0]", "rule read[1]"]
    );
    assert_eq!(cov.summary(), "coverage: 2/3 policies, 2/4 rules");
}

fn finding_codes(text: &str) -> Vec<(String, String)> {
    let e = engine(text);
    findings::findings(&e)
        .into_iter()
        .map(|l| (l.code.to_string(), l.path))
        .collect()
}

#[test]
fn findings_unreachable_and_shadowed_rules() {
    let got = finding_codes(
        r#"{"authorizationPolicies":[
        {"name":"no-admin","action":"DENY","rules":[{"to":[{"operation":{"paths":["/admin/*"]}}]}]},
        {"name":"app","rules":[
            {"from":[{"source":{"principals":["cluster.local/ns/a/sa/x"]}}],"to":[{"operation":{"paths":["/admin/users"]}}]},
            {"from":[{"source":{"principals":["cluster.local/ns/a/sa/x"]}}],"to":[{"operation":{"paths":["/a//b"]}}]},
            {"from":[{"source":{"principals":["cluster.local/ns/a/sa/x"]}}],"to":[{"operation":{"paths":["/x"],"notPaths":["/x"]}}]},
            {"from":[{"source":{"namespaces":["a"]}}],"to":[{"operation":{"paths":["/api/*"]}}]},
            {"from":[{"source":{"principals":["cluster.local/ns/a/sa/x"]}}],"to":[{"operation":{"paths":["/api/v1/*"]}}]}]}]}"#,
    );
    assert_eq!(
        got,
        vec![
            (
                "shadowed_rule".to_string(),
                "authorizationPolicies[1].rules[0]".to_string()
            ),
            (
                "unreachable_rule".to_string(),
                "authorizationPolicies[1].rules[1]".to_string()
            ),
            (
                "unreachable_rule".to_string(),
                "authorizationPolicies[1].rules[2]".to_string()
            ),
            (
                "shadowed_rule".to_string(),
                "authorizationPolicies[1].rules[4]".to_string()
            ),
        ]
    );
}

#[test]
fn findings_allow_everyone_and_no_identity() {
    let got = finding_codes(
        r#"{"authorizationPolicies":[
        {"name":"open","rules":[{"to":[{"operation":{"notPaths":["/never"]}}]},{"to":[{"operation":{"paths":["*"]}}]}]}]}"#,
    );
    assert!(
        got.contains(&(
            "allow_all_requests".to_string(),
            "authorizationPolicies[0].rules[1]".to_string()
        )),
        "{got:?}"
    );
    let got = finding_codes(
        r#"{"authorizationPolicies":[
        {"name":"office","rules":[{"from":[{"source":{"ipBlocks":["10.0.0.0/8"]}}],"to":[{"operation":{"paths":["/reports/*"]}}]}]},
        {"name":"mesh","rules":[{"from":[{"source":{"namespaces":["a"]}}]}]}]}"#,
    );
    assert_eq!(
        got,
        vec![(
            "allow_without_identity".to_string(),
            "authorizationPolicies[0].rules[0]".to_string()
        )]
    );
}

#[test]
fn findings_allow_every_request_to_a_sensitive_resource() {
    let got = finding_codes(
        r#"{
        "resources": [
            {"name": "docs", "classification": "public", "paths": ["/docs/*"]},
            {"name": "finance", "classification": "confidential", "paths": ["/finance/*"]}],
        "authorizationPolicies": [
            {"name": "office", "rules": [{"from": [{"source": {"ipBlocks": ["10.0.0.0/8"]}}], "to": [{"operation": {"paths": ["/docs/*"]}}]}]},
            {"name": "finance-open", "rules": [{"to": [{"operation": {"paths": ["/finance/*", "/other"]}}]}]},
            {"name": "finance-team", "rules": [{"from": [{"source": {"namespaces": ["finance"]}}], "to": [{"operation": {"paths": ["/finance/*"]}}]}]}]}"#,
    );
    // `office` admits no identity, but only to a public resource; `finance-open` admits every
    // request to the confidential one, which leaves nothing for `finance-team` to decide.
    assert_eq!(
        got,
        vec![
            (
                "allow_all_sensitive".to_string(),
                "authorizationPolicies[1].rules[0]".to_string()
            ),
            (
                "shadowed_rule".to_string(),
                "authorizationPolicies[2].rules[0]".to_string()
            ),
        ]
    );
}
