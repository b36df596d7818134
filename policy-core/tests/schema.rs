//! The JSON Schemas in `docs/` against the engine.
//!
//! * Every example policy (`examples/policies/*.policy.json`) and every test file (in
//!   `examples/policies/` and `corpus/`, with their inline policies) validates against
//!   `docs/policy.schema.json` / `docs/testfile.schema.json`, and loads in the engine.
//! * Documents the engine accepts are accepted by the schema (the schema is not stricter than
//!   the engine, except where listed in `SCHEMA_ONLY`), and documents it refuses are refused
//!   by the schema too — except the checks only the engine can make (`ENGINE_ONLY`: address
//!   arithmetic, uniqueness across items, duplicate JSON keys).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use jsonschema::{Registry, Validator};
use policy_core::testcase::{PolicySource, TestFile};
use policy_core::Engine;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read_json(p: &Path) -> Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Validators for the policy schema and the test-file schema (which refers to the policy
/// schema by the relative reference `policy.schema.json`, as editors resolve it).
struct Schemas {
    policy: Validator,
    testfile: Validator,
}

fn schemas() -> Schemas {
    let docs = root().join("docs");
    let base = "file:///vigil/docs/";
    let policy_schema = read_json(&docs.join("policy.schema.json"));
    let testfile_schema = read_json(&docs.join("testfile.schema.json"));
    // Both schemas are themselves checked against the draft 2020-12 meta-schema here.
    let policy = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&policy_schema)
        .unwrap_or_else(|e| panic!("docs/policy.schema.json is not a valid schema: {e}"));
    let registry = Registry::new()
        .add(format!("{base}policy.schema.json"), policy_schema)
        .unwrap()
        .prepare()
        .unwrap();
    let testfile = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .with_base_uri(format!("{base}testfile.schema.json"))
        .with_registry(&registry)
        .build(&testfile_schema)
        .unwrap_or_else(|e| panic!("docs/testfile.schema.json is not a valid schema: {e}"));
    Schemas { policy, testfile }
}

fn schema_errors(v: &Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// Test files: `*.json` that are neither policies nor schemas (as `tests/corpus.rs` finds them).
fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|e| e == "json") {
            out.push(p);
        }
    }
}

fn is_policy_file(p: &Path) -> bool {
    p.to_string_lossy().ends_with(".policy.json")
}

fn is_schema_file(p: &Path) -> bool {
    p.to_string_lossy().ends_with(".schema.json")
}

#[test]
fn examples_and_corpus_validate_against_the_schemas() {
    let s = schemas();
    let mut files = Vec::new();
    collect(&root().join("examples/policies"), &mut files);
    collect(&root().join("corpus"), &mut files);
    let mut failures = Vec::new();
    let (mut policies, mut tests, mut inline) = (0, 0, 0);
    for f in files.iter().filter(|f| !is_schema_file(f)) {
        let doc = read_json(f);
        let text = std::fs::read_to_string(f).unwrap();
        if is_policy_file(f) {
            policies += 1;
            for e in schema_errors(&s.policy, &doc) {
                failures.push(format!("{}: {e}", f.display()));
            }
            if let Err(e) = Engine::from_json(&text) {
                failures.push(format!("{}: engine: {e}", f.display()));
            }
            continue;
        }
        tests += 1;
        for e in schema_errors(&s.testfile, &doc) {
            failures.push(format!("{}: {e}", f.display()));
        }
        let v = policy_core::json::parse(&text, policy_core::json::Limits::POLICY).unwrap();
        match TestFile::from_value(&v) {
            Err(e) => failures.push(format!("{}: engine: {e}", f.display())),
            Ok(tf) => match tf.policy {
                PolicySource::Inline(_) => {
                    inline += 1;
                    for e in schema_errors(&s.policy, &doc["policy"]) {
                        failures.push(format!("{}: policy{e}", f.display()));
                    }
                }
                PolicySource::Path(p) => {
                    if !f.parent().unwrap().join(&p).is_file() {
                        failures.push(format!("{}: policy `{p}` not found", f.display()));
                    }
                }
            },
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    // Guard against passing vacuously (files moved, glob broken).
    assert!(policies >= 3, "found only {policies} example policies");
    assert!(tests >= 3, "found only {tests} test files");
    eprintln!("{policies} policies, {tests} test files ({inline} inline policies) valid");
}

/// Documents both the schema and the engine accept, chosen near the edges of the schema's
/// patterns, so that a schema stricter than the engine fails here.
const BOTH_ACCEPT: &[(&str, &str)] = &[
    (
        "live feeds: network lists, risk labels, a signed revocation feed",
        r#"{"network":{"lists":{"tor":[]},"feed":{"uri":"https://feeds.example/n","pollMs":1000,"maxStaleSeconds":60}},
            "riskLabels":{"labels":[{"sub":"alice","iss":"https://idp","labels":["compromised"]},{"principal":"cluster.local/ns/a/sa/b","labels":["quarantined"]}],
                          "feed":{"uri":"https://feeds.example/l"}},
            "revocation":{"feed":{"uri":"https://feeds.example/r","keys":{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}}},
            "authorizationPolicies":[{"name":"d","action":"DENY","rules":[{"when":[{"key":"subject.labels","values":["compromised"]},{"key":"network.list[tor]","values":["true"]}]}]}]}"#,
    ),
    ("empty document", r#"{}"#),
    (
        "jwtRules item without algorithms (the key decides)",
        r#"{"jwtRules":[{"issuer":"i","jwksUri":"https://i/jwks"}]}"#,
    ),
    (
        "jwtRules ES384 and ES512",
        r#"{"jwtRules":[{"issuer":"i","algorithms":["ES384","ES512"],"jwksUri":"https://i/jwks"}]}"#,
    ),
    (
        "a whole RequestAuthentication object",
        r#"{"jwtRules":[{"apiVersion":"security.istio.io/v1","kind":"RequestAuthentication",
            "metadata":{"name":"jwt","namespace":"foo"},
            "spec":{"selector":{"matchLabels":{"app":"httpbin"}},
                    "jwtRules":[{"issuer":"issuer-foo","jwksUri":"https://example.com/.well-known/jwks.json"}]}}]}"#,
    ),
    (
        "every top-level field",
        r#"{"$schema":"x","description":"d","mode":"dry_run","defaultAction":"ALLOW",
        "pathNormalization":"DECODE_AND_MERGE_SLASHES","numTrustedProxies":16,"realm":"api (eu)",
        "jwtRules":[],"authorizationPolicies":[]}"#,
    ),
    (
        "kubernetes object form with ignored fields",
        r#"{"authorizationPolicies":[{"apiVersion":"security.istio.io/v1","kind":"AuthorizationPolicy",
        "metadata":{"name":"a","namespace":"x","labels":{"l":"v"}},
        "spec":{"action":"DENY","selector":{"matchLabels":{"app":"x"}},"targetRefs":[{"kind":"Gateway","name":"g"}],"rules":[{}]}}]}"#,
    ),
    (
        "kubernetes object form without kind",
        r#"{"authorizationPolicies":[{"metadata":{"name":"a"},"spec":{}}]}"#,
    ),
    (
        "every source and operation field",
        r#"{"authorizationPolicies":[{"name":"a","reason":"r","rules":[{"from":[{"source":{
        "principals":["cluster.local/ns/a/sa/b","*"],"notPrincipals":["*/sa/x"],
        "requestPrincipals":["https://idp/*"],"notRequestPrincipals":["*"],
        "namespaces":["a"],"notNamespaces":["b*"],"serviceAccounts":["a/b"],"notServiceAccounts":["*/c"],
        "ipBlocks":["10.0.0.0/8","2001:db8::/32","192.0.2.7"],"notIpBlocks":["::ffff:10.0.0.0/104"],
        "remoteIpBlocks":["0.0.0.0/0"],"notRemoteIpBlocks":["::1"]}}],
        "to":[{"operation":{"hosts":["API.example.com","*.example.org","[::1]","::1","example.*"],
        "notHosts":["*:8080"],"ports":["1","08080","65535"],"notPorts":["443"],
        "methods":["GET","PO*","*","M-SEARCH","get"],"notMethods":["*T"],
        "paths":["/","/a/*","*.png","*","/users/{*}/orders","/files/{**}","/{**}","/a//{*}","/a}"],
        "notPaths":["/admin"]}}]}]}]}"#,
    ),
    (
        "every condition key",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"when":[
        {"key":"request.headers[X-Tenant]","values":["acme"]},
        {"key":"source.ip","values":["10.0.0.0/8"],"notValues":["10.1.0.0/16"]},
        {"key":"remote.ip","notValues":["203.0.113.0/24"]},
        {"key":"source.namespace","values":["a"]},{"key":"source.principal","values":["*"]},
        {"key":"source.serviceAccount","values":["a/b"]},{"key":"request.auth.principal","values":["i/s"]},
        {"key":"request.auth.audiences","values":["api"]},{"key":"request.auth.presenter","values":["c"]},
        {"key":"request.auth.claims[groups]","values":["admins"]},
        {"key":"request.auth.claims[a][b][c.d]","values":["x*"]},
        {"key":"destination.ip","values":["::1"]},{"key":"destination.port","values":["8443"]},
        {"key":"connection.sni","values":["*.Example.com"]}]}]}]}"#,
    ),
    (
        "empty lists next to a non-empty one",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"from":[{"source":{"principals":[],"namespaces":["a"]}}],
        "when":[{"key":"source.ip","values":[],"notValues":["10.0.0.0/8"]}]}]}]}"#,
    ),
    (
        "a jwtRules item (the engine does not read it yet; the schema checks it)",
        r#"{"jwtRules":[{"issuer":"https://idp.example.com","audiences":["api"],"algorithms":["ES256","Ed25519"],
        "jwksUri":"https://idp.example.com/jwks","fromHeaders":[{"name":"authorization","prefix":"Bearer "}],
        "fromParams":["access_token"],"fromCookies":["session"],
        "outputClaimToHeaders":[{"header":"x-user","claim":"sub"}],"outputPayloadToHeader":"x-jwt-payload",
        "forwardOriginalToken":false,"timeout":"5s","clockSkewSeconds":30,"requiredType":"at+jwt",
        "maxTokenLifetimeSeconds":3600,"requireClaims":["jti"],"maxTokenBytes":4096,
        "jwksCache":{"ttlSeconds":600,"refetchCooldownSeconds":30,"cluster":"idp"},"device":false}]}"#,
    ),
    (
        "every zero-trust field",
        r#"{"acrLevels":["pwd","otp","urn:x:fido2"],"classifications":["low","high"],
        "resources":[{"name":"a","description":"d","classification":"high","hosts":["*.example.com"],"paths":["/a/*"],
          "methods":["GET"],"minAcr":"otp","maxAuthAgeSeconds":300,"maxTokenLifetimeSeconds":600,"minTrust":60},
          {"name":"b","classification":"low"}],
        "trust":{"description":"d","risks":[{"name":"r","description":"d","weight":30,"stepUp":true,"stepUpAcr":"otp",
          "from":[{"source":{"notPrincipals":["x"]}}],"to":[{"operation":{"methods":["DELETE"]}}],
          "when":[{"key":"behavior.requestsLastMinute","values":[">=100","0-5"]},{"key":"time.hour","values":["22-23"]},
          {"key":"time.weekday","values":["sat"]},{"key":"network.list[tor]","values":["true"]},
          {"key":"network.country","notValues":["DE"]},{"key":"device.compliant","values":["true"]},
          {"key":"resource.name","values":["a"]},{"key":"resource.classification","values":["high"]}]}]},
        "network":{"lists":{"tor":["185.220.100.0/22"],"corp_v6":["2001:db8::/32"]},"countryHeader":"x-country","countryPrincipals":["cluster.local/ns/edge/sa/gw"]},
        "devicePosture":{"headerPrefix":"x-posture-","postureAgents":["cluster.local/ns/mdm/sa/agent"]},
        "utcOffsetMinutes":-300,
        "revocation":{"version":3,"jtis":["j"],"sids":["s"],"subjects":[{"sub":"u","iss":"i","notBefore":1700000000}]},
        "rateLimits":[{"name":"l","description":"d","key":"header:X-Tenant","requestsPerUnit":10,"unit":"minute","burst":20,"resources":["a"]},
          {"name":"m","key":"ip","requestsPerUnit":1,"unit":"second"}]}"#,
    ),
];

/// Documents both the schema and the engine refuse.
const BOTH_REFUSE: &[(&str, &str)] = &[
    (
        "a risk label entry naming two subjects",
        r#"{"riskLabels":{"labels":[{"sub":"a","sid":"b","labels":["x"]}]}}"#,
    ),
    (
        "a feed that is not http(s)",
        r#"{"network":{"feed":{"uri":"ftp://feeds.example/n"}}}"#,
    ),
    (
        "jwtRules item without issuer",
        r#"{"jwtRules":[{"algorithms":["RS256"],"jwksUri":"https://i/jwks"}]}"#,
    ),
    (
        "jwtRules item without keys",
        r#"{"jwtRules":[{"issuer":"i","algorithms":["RS256"]}]}"#,
    ),
    (
        "jwtRules HS256",
        r#"{"jwtRules":[{"issuer":"i","algorithms":["HS256"],"jwksUri":"https://i/jwks"}]}"#,
    ),
    (
        "jwtRules alg none",
        r#"{"jwtRules":[{"issuer":"i","algorithms":["none"],"jwksUri":"https://i/jwks"}]}"#,
    ),
    (
        "jwtRules empty allowlist",
        r#"{"jwtRules":[{"issuer":"i","algorithms":[],"jwksUri":"https://i/jwks"}]}"#,
    ),
    (
        "jwtRules unknown field",
        r#"{"jwtRules":[{"issuer":"i","algorithms":["RS256"],"jwksUri":"https://i/jwks","audience":["a"]}]}"#,
    ),
    (
        "jwtRules unknown fromHeaders field",
        r#"{"jwtRules":[{"issuer":"i","algorithms":["RS256"],"jwksUri":"https://i/jwks","fromHeaders":[{"header":"x"}]}]}"#,
    ),
    (
        "jwtRules non-http jwksUri",
        r#"{"jwtRules":[{"issuer":"i","algorithms":["RS256"],"jwksUri":"file:///etc/jwks"}]}"#,
    ),
    (
        "RequestAuthentication object of another kind",
        r#"{"jwtRules":[{"kind":"AuthorizationPolicy","spec":{"jwtRules":[]}}]}"#,
    ),
    (
        "RequestAuthentication object with an unknown spec field",
        r#"{"jwtRules":[{"kind":"RequestAuthentication","spec":{"rules":[]}}]}"#,
    ),
    (
        "resource without classification",
        r#"{"resources":[{"name":"a"}]}"#,
    ),
    (
        "resource minTrust above 100",
        r#"{"resources":[{"name":"a","classification":"public","minTrust":101}]}"#,
    ),
    (
        "risk without weight",
        r#"{"trust":{"risks":[{"name":"r","when":[{"key":"time.hour","values":["1"]}]}]}}"#,
    ),
    (
        "risk that always fires",
        r#"{"trust":{"risks":[{"name":"r","weight":10}]}}"#,
    ),
    (
        "rate limit with a bad unit",
        r#"{"rateLimits":[{"name":"l","key":"ip","requestsPerUnit":1,"unit":"day"}]}"#,
    ),
    (
        "rate limit with a bad key",
        r#"{"rateLimits":[{"name":"l","key":"user","requestsPerUnit":1,"unit":"second"}]}"#,
    ),
    ("utc offset out of range", r#"{"utcOffsetMinutes":900}"#),
    (
        "country header without principals",
        r#"{"network":{"countryHeader":"x-country"}}"#,
    ),
    (
        "revoked subject without notBefore",
        r#"{"revocation":{"subjects":[{"sub":"u"}]}}"#,
    ),
    (
        "bad device key",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"when":[{"key":"device.a.b","values":["x"]}]}]}]}"#,
    ),
    ("not an object", r#"[]"#),
    ("unknown top-level field", r#"{"defaultaction":"ALLOW"}"#),
    ("bad mode", r#"{"mode":"audit"}"#),
    ("bad default action", r#"{"defaultAction":"deny"}"#),
    (
        "istio's NONE normalisation",
        r#"{"pathNormalization":"NONE"}"#,
    ),
    ("too many trusted proxies", r#"{"numTrustedProxies":17}"#),
    ("negative trusted proxies", r#"{"numTrustedProxies":-1}"#),
    ("realm with a quote", r#"{"realm":"a\"b"}"#),
    ("realm with a control character", r#"{"realm":"a\nb"}"#),
    ("policies not an array", r#"{"authorizationPolicies":{}}"#),
    (
        "policy without a name",
        r#"{"authorizationPolicies":[{"action":"DENY"}]}"#,
    ),
    (
        "empty policy name",
        r#"{"authorizationPolicies":[{"name":""}]}"#,
    ),
    (
        "lower-case action",
        r#"{"authorizationPolicies":[{"name":"a","action":"deny"}]}"#,
    ),
    (
        "action CUSTOM",
        r#"{"authorizationPolicies":[{"name":"a","action":"CUSTOM"}]}"#,
    ),
    (
        "provider (goes with CUSTOM)",
        r#"{"authorizationPolicies":[{"name":"a","provider":{"name":"x"}}]}"#,
    ),
    (
        "unknown policy field",
        r#"{"authorizationPolicies":[{"name":"a","rule":[]}]}"#,
    ),
    (
        "object form without metadata",
        r#"{"authorizationPolicies":[{"kind":"AuthorizationPolicy","spec":{}}]}"#,
    ),
    (
        "object form without spec",
        r#"{"authorizationPolicies":[{"metadata":{"name":"a"},"kind":"AuthorizationPolicy"}]}"#,
    ),
    (
        "object form of another kind",
        r#"{"authorizationPolicies":[{"kind":"PeerAuthentication","metadata":{"name":"a"},"spec":{}}]}"#,
    ),
    (
        "object form mixed with a bare name",
        r#"{"authorizationPolicies":[{"name":"a","metadata":{"name":"a"},"spec":{}}]}"#,
    ),
    (
        "unknown field in spec",
        r#"{"authorizationPolicies":[{"metadata":{"name":"a"},"spec":{"actions":"DENY"}}]}"#,
    ),
    (
        "unknown rule field",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"from":[],"unless":[]}]}]}"#,
    ),
    (
        "from without source",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"from":[{}]}]}]}"#,
    ),
    (
        "misspelt source field",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"from":[{"source":{"principles":["x"]}}]}]}]}"#,
    ),
    (
        "empty source",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"from":[{"source":{}}]}]}]}"#,
    ),
    (
        "source with only empty lists",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"from":[{"source":{"principals":[]}}]}]}]}"#,
    ),
    (
        "empty operation",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"to":[{"operation":{}}]}]}]}"#,
    ),
    (
        "principal with spiffe://",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"from":[{"source":{"principals":["spiffe://cluster.local/ns/a/sa/b"]}}]}]}]}"#,
    ),
    (
        "empty string value",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"from":[{"source":{"namespaces":[""]}}]}]}]}"#,
    ),
    (
        "non-string value",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"from":[{"source":{"namespaces":[1]}}]}]}]}"#,
    ),
    (
        "star in the middle",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"from":[{"source":{"namespaces":["a*b"]}}]}]}]}"#,
    ),
    (
        "double star",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"from":[{"source":{"namespaces":["**"]}}]}]}]}"#,
    ),
    (
        "relative path",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"to":[{"operation":{"paths":["admin"]}}]}]}]}"#,
    ),
    (
        "path with a query",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"to":[{"operation":{"paths":["/a?b"]}}]}]}]}"#,
    ),
    (
        "suffix with a fragment",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"to":[{"operation":{"paths":["*#x"]}}]}]}]}"#,
    ),
    (
        "path with a star in the middle",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"to":[{"operation":{"paths":["/a*/b"]}}]}]}]}"#,
    ),
    (
        "{**} before the end",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"to":[{"operation":{"paths":["/a/{**}/b"]}}]}]}]}"#,
    ),
    (
        "template operator mixed with text",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"to":[{"operation":{"paths":["/a/x{*}"]}}]}]}]}"#,
    ),
    (
        "template not starting with /",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"to":[{"operation":{"paths":["*/{*}"]}}]}]}]}"#,
    ),
    (
        "host with a port",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"to":[{"operation":{"hosts":["api.example.com:8443"]}}]}]}]}"#,
    ),
    (
        "ipv6 host with a port",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"to":[{"operation":{"hosts":["[::1]:80"]}}]}]}]}"#,
    ),
    (
        "port 0",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"to":[{"operation":{"ports":["0"]}}]}]}]}"#,
    ),
    (
        "port above 65535",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"to":[{"operation":{"ports":["65536"]}}]}]}]}"#,
    ),
    (
        "port as a number",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"to":[{"operation":{"ports":[80]}}]}]}]}"#,
    ),
    (
        "method with a space",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"to":[{"operation":{"methods":["GET X"]}}]}]}]}"#,
    ),
    (
        "condition without values",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"when":[{"key":"source.ip"}]}]}]}"#,
    ),
    (
        "condition with only empty lists",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"when":[{"key":"source.ip","values":[],"notValues":[]}]}]}]}"#,
    ),
    (
        "condition without key",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"when":[{"values":["x"]}]}]}]}"#,
    ),
    (
        "unknown condition key",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"when":[{"key":"source.user","values":["x"]}]}]}]}"#,
    ),
    (
        "header key without a name",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"when":[{"key":"request.headers[]","values":["x"]}]}]}]}"#,
    ),
    (
        "header key with an invalid name",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"when":[{"key":"request.headers[a b]","values":["x"]}]}]}]}"#,
    ),
    (
        "claims key without a name",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"when":[{"key":"request.auth.claims","values":["x"]}]}]}]}"#,
    ),
    (
        "claims nested nine deep",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"when":[{"key":"request.auth.claims[a][b][c][d][e][f][g][h][i]","values":["x"]}]}]}]}"#,
    ),
    (
        "unknown condition field",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"when":[{"key":"source.ip","value":["10.0.0.0/8"]}]}]}]}"#,
    ),
    (
        "port condition with a name",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"when":[{"key":"destination.port","values":["https"]}]}]}]}"#,
    ),
    (
        "ip condition with a name",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"when":[{"key":"source.ip","values":["localhost"]}]}]}]}"#,
    ),
    (
        "sni condition with a port",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"when":[{"key":"connection.sni","values":["a.example:443"]}]}]}]}"#,
    ),
    (
        "header condition with a middle star",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"when":[{"key":"request.headers[x]","values":["a*b"]}]}]}]}"#,
    ),
    (
        "ip block that is not an address",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"from":[{"source":{"ipBlocks":["example.com"]}}]}]}]}"#,
    ),
];

/// Documents only the engine refuses: what a JSON Schema cannot express.
const ENGINE_ONLY: &[(&str, &str)] = &[
    (
        "classification not declared (a reference across fields)",
        r#"{"resources":[{"name":"a","classification":"secret"}]}"#,
    ),
    (
        "minAcr not in acrLevels (a reference across fields)",
        r#"{"acrLevels":["pwd"],"resources":[{"name":"a","classification":"public","minAcr":"otp"}]}"#,
    ),
    (
        "network list not declared (a reference across fields)",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"when":[{"key":"network.list[tor]","values":["true"]}]}]}]}"#,
    ),
    (
        "rate limit on an unknown resource",
        r#"{"rateLimits":[{"name":"l","key":"ip","requestsPerUnit":1,"unit":"second","resources":["x"]}]}"#,
    ),
    (
        "cidr with host bits set (address arithmetic)",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"from":[{"source":{"ipBlocks":["10.0.0.1/8"]}}]}]}]}"#,
    ),
    (
        "cidr with an octet above 255",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"when":[{"key":"remote.ip","values":["10.0.0.300"]}]}]}]}"#,
    ),
    (
        "cidr prefix longer than the address",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"from":[{"source":{"remoteIpBlocks":["10.0.0.0/33"]}}]}]}]}"#,
    ),
    (
        "duplicate policy names (uniqueness of a field across items)",
        r#"{"authorizationPolicies":[{"name":"a"},{"metadata":{"name":"a"},"spec":{}}]}"#,
    ),
    (
        "duplicate JSON keys (a JSON parser keeps one; the engine refuses the document)",
        r#"{"mode":"enforce","mode":"dry_run"}"#,
    ),
];

/// Documents only the schema refuses: the engine ignores `description`.
const SCHEMA_ONLY: &[(&str, &str)] =
    &[("description that is not a string", r#"{"description":1}"#)];

#[test]
fn schema_and_engine_agree() {
    let s = schemas();
    let mut failures = Vec::new();
    let mut check = |set: &str, name: &str, doc: &str, schema_ok: Option<bool>, engine_ok: bool| {
        let v: Value = serde_json::from_str(doc).unwrap_or_else(|e| panic!("{name}: {e}"));
        let errors = schema_errors(&s.policy, &v);
        if let Some(want) = schema_ok {
            if errors.is_empty() != want {
                failures.push(format!(
                    "{set} `{name}`: schema {} it{}",
                    if want { "refused" } else { "accepted" },
                    if errors.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", errors.join("; "))
                    }
                ));
            }
        }
        let engine = Engine::from_json(doc);
        if engine.is_ok() != engine_ok {
            failures.push(format!(
                "{set} `{name}`: engine {}",
                match &engine {
                    Ok(_) => "accepted it".to_string(),
                    Err(e) => format!("refused it: {e}"),
                }
            ));
        }
    };
    for (name, doc) in BOTH_ACCEPT {
        check("BOTH_ACCEPT", name, doc, Some(true), true);
    }
    for (name, doc) in BOTH_REFUSE {
        check("BOTH_REFUSE", name, doc, Some(false), false);
    }
    for (name, doc) in ENGINE_ONLY {
        check("ENGINE_ONLY", name, doc, Some(true), false);
    }
    for (name, doc) in SCHEMA_ONLY {
        let v: Value = serde_json::from_str(doc).unwrap();
        if schema_errors(&s.policy, &v).is_empty() {
            failures.push(format!("SCHEMA_ONLY `{name}`: schema accepted it"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn testfile_schema_refuses_malformed_test_files() {
    let s = schemas();
    let ok = r#"{"policy":"p.policy.json","cases":[{"request":{},"expect":{}}]}"#;
    assert!(schema_errors(&s.testfile, &serde_json::from_str(ok).unwrap()).is_empty());
    for (name, doc) in [
        ("no cases", r#"{"policy":"p.policy.json","cases":[]}"#),
        ("no policy", r#"{"cases":[{"request":{},"expect":{}}]}"#),
        (
            "inline policy with an unknown field",
            r#"{"policy":{"mode":"enforce","nope":1},"cases":[{"request":{},"expect":{}}]}"#,
        ),
        (
            "bad expected decision",
            r#"{"policy":"p","cases":[{"request":{},"expect":{"decision":"denied"}}]}"#,
        ),
        (
            "unknown expect field",
            r#"{"policy":"p","cases":[{"request":{},"expect":{"reasonContain":"x"}}]}"#,
        ),
        (
            "unknown request field",
            r#"{"policy":"p","cases":[{"request":{"methd":"GET"},"expect":{}}]}"#,
        ),
        (
            "header value that is a number",
            r#"{"policy":"p","cases":[{"request":{"headers":{"a":1}},"expect":{}}]}"#,
        ),
        (
            "principal on the destination",
            r#"{"policy":"p","cases":[{"request":{"destination":{"principal":"x"}},"expect":{}}]}"#,
        ),
        (
            "negative time",
            r#"{"policy":"p","time":-1,"cases":[{"request":{},"expect":{}}]}"#,
        ),
    ] {
        let v: Value = serde_json::from_str(doc).unwrap();
        assert!(
            !schema_errors(&s.testfile, &v).is_empty(),
            "testfile schema accepted `{name}`"
        );
        let engine = TestFile::from_value(
            &policy_core::json::parse(doc, policy_core::json::Limits::POLICY).unwrap(),
        );
        // An inline policy is compiled later (by the runner), not by `TestFile::from_value`.
        if name != "inline policy with an unknown field" {
            assert!(engine.is_err(), "the engine accepted test file `{name}`");
        }
    }
}
