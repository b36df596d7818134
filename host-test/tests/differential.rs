//! Differential testing (issue 6, item 4): random but mostly valid policy documents and random,
//! often hostile, check requests are decided natively by policy-core and through the compiled
//! filter (`dist/filter.wasm`) in the wasmtime host; every field of the two decisions must agree,
//! and the filter must enforce what it logs. A policy the engine refuses must also be refused by
//! the filter's `proxy_on_configure`.
//!
//! The seed is fixed, so a run is reproducible; `VIGIL_DIFF_SEED` overrides it (decimal or `0x`
//! hex) and `VIGIL_DIFF_CASES` sets the number of policies (25 requests each; default 200). A
//! longer run:
//!
//! ```sh
//! VIGIL_DIFF_CASES=2000 cargo test -p vigil-host-test --test differential -- --nocapture
//! VIGIL_DIFF_SEED=0x1234 VIGIL_DIFF_CASES=500 cargo test -p vigil-host-test --test differential -- --nocapture
//! ```
//!
//! A failure prints the seed, the policy number, the policy JSON and the request JSON. Tokens
//! (valid and invalid) and the `jwtRules` that verify them are taken from
//! `corpus/tokens/validation.json`, so `request.auth.*` conditions are exercised with real,
//! verified claims. Needs the built filter: run `scripts/build` first.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use policy_core::json::{self, Limits, Map, Value};
use policy_core::{CheckRequest, Engine, Env, Peer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use vigil_host_test::host::check::{self, diff_decisions};
use vigil_host_test::host::{Host, HostError};

const DEFAULT_SEED: u64 = 0x5EED_D1FF_2024_0006;
const DEFAULT_POLICIES: usize = 200;
const REQUESTS_PER_POLICY: usize = 25;
/// The corpus tokens are issued at 1700000000 and expire in 2033.
const NOW: i64 = 1_700_000_000;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn dist(name: &str) -> Vec<u8> {
    let p = root().join("dist").join(name);
    std::fs::read(&p).unwrap_or_else(|e| {
        panic!(
            "{}: {e} — run scripts/build first (it builds dist/filter.wasm)",
            p.display()
        )
    })
}

/// xorshift64* — small, deterministic, good enough to pick from pools.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// 0..n (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// True with probability `pct`%.
    fn pct(&mut self, pct: usize) -> bool {
        self.below(100) < pct
    }
    fn pick<'a>(&mut self, pool: &[&'a str]) -> &'a str {
        pool[self.below(pool.len())]
    }
    /// 1..=max distinct-ish picks (duplicates allowed: the engine must take them).
    fn some(&mut self, pool: &[&str], max: usize) -> Value {
        let n = 1 + self.below(max);
        Value::Array((0..n).map(|_| Value::from(self.pick(pool))).collect())
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let s = std::env::var(name).ok()?;
    let s = s.trim();
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    Some(parsed.unwrap_or_else(|e| panic!("{name}={s}: {e}")))
}

// ---- pools ---------------------------------------------------------------------------------

/// Values that are refused at load; mixed in rarely so that rejections are exercised too.
const BAD_PRINCIPALS: &[&str] = &["spiffe://cluster.local/ns/web/sa/frontend", "a*b", "**"];
const BAD_IPS: &[&str] = &["10.0.0.1/8", "300.1.1.1", "10.0.0.0/33", "::1/129", "x"];
const BAD_HOSTS: &[&str] = &["api.example.com:8443", "[::1]:80", "a*b.com"];
const BAD_PATHS: &[&str] = &["admin", "/a?b", "/a*b", "/{**}/x", "/a#b"];
const BAD_PORTS: &[&str] = &["0", "70000", "http", "-1"];

const PRINCIPALS: &[&str] = &[
    "cluster.local/ns/web/sa/frontend",
    "cluster.local/ns/pay/sa/api",
    "cluster.local/ns/admin/sa/admin",
    "cluster.local/ns/*",
    "*/sa/admin",
    "*/sa/frontend",
    "other.domain/ns/web/sa/frontend",
    "*",
];
const NAMESPACES: &[&str] = &["web", "pay", "admin", "kube-system", "ad*", "*min", "*"];
const SERVICE_ACCOUNTS: &[&str] = &["web/frontend", "pay/api", "admin/*", "*/admin", "*"];
const REQUEST_PRINCIPALS: &[&str] = &[
    "https://idp.vigil.test/alice",
    "https://idp.vigil.test/root",
    "https://idp.vigil.test/*",
    "*/alice",
    "*",
];
const IP_BLOCKS: &[&str] = &[
    "10.0.0.0/8",
    "10.1.2.3",
    "10.1.2.0/24",
    "192.168.0.0/16",
    "8.8.8.8",
    "0.0.0.0/0",
    "2001:db8::/32",
    "::1",
    "::/0",
    "fe80::/10",
    "::ffff:10.0.0.1",
];
const HOSTS: &[&str] = &[
    "api.example.com",
    "API.Example.COM",
    "*.example.com",
    "api.*",
    "*",
    "evil.com",
    "[::1]",
    "10.0.0.1",
    "localhost",
];
const METHODS: &[&str] = &[
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "get", "*", "PU*", "*ST", "M-SEARCH",
];
const PATHS: &[&str] = &[
    "/",
    "/admin",
    "/admin/*",
    "/admin/",
    "/api/*",
    "/public/*",
    "*/orders",
    "*.json",
    "/users/{*}/orders",
    "/users/{*}",
    "/files/{**}",
    "/{*}/admin",
    "/a/b",
    "/a%2Fb",
    "/caf%C3%A9",
    "/A/*",
    "*",
];
const PORTS: &[&str] = &["80", "443", "8080", "8443", "65535", "1"];
const HEADER_NAMES: &[&str] = &["x-tenant", "x-role", "user-agent", "x-env", "X-Tenant"];
const HEADER_PATTERNS: &[&str] = &[
    "acme", "ac*", "*me", "*", "initech", "admin", "prod", "curl/*", "",
];
const CLAIM_KEYS: &[&str] = &[
    "request.auth.claims[groups]",
    "request.auth.claims[sub]",
    "request.auth.claims[email]",
    "request.auth.claims[aud]",
    "request.auth.claims[iat]",
    "request.auth.claims[missing][deep]",
    "request.auth.principal",
    "request.auth.audiences",
    "request.auth.presenter",
];
const CLAIM_VALUES: &[&str] = &[
    "admin",
    "staff",
    "alice",
    "root",
    "api",
    "1700000000",
    "*@vigil.test",
    "https://idp.vigil.test/*",
    "*",
];

// ---- policies ------------------------------------------------------------------------------

/// A list field: mostly from `pool`, rarely (when `bad` is non-empty) one refused value.
fn list(r: &mut Rng, pool: &[&str], bad: &[&str], max: usize) -> Value {
    let mut v = r.some(pool, max);
    if !bad.is_empty() && r.pct(1) {
        if let Value::Array(items) = &mut v {
            items.push(Value::from(r.pick(bad)));
        }
    }
    v
}

fn source(r: &mut Rng, jwt: bool) -> Value {
    let mut m = Map::new();
    let n = 1 + r.below(3);
    for _ in 0..n {
        let neg = r.pct(35);
        let (pos, negk, v) = match r.below(if jwt { 6 } else { 5 }) {
            0 => (
                "principals",
                "notPrincipals",
                list(r, PRINCIPALS, BAD_PRINCIPALS, 2),
            ),
            1 => (
                "namespaces",
                "notNamespaces",
                list(r, NAMESPACES, &["a*b"], 2),
            ),
            2 => (
                "serviceAccounts",
                "notServiceAccounts",
                list(r, SERVICE_ACCOUNTS, &[], 2),
            ),
            3 => ("ipBlocks", "notIpBlocks", list(r, IP_BLOCKS, BAD_IPS, 3)),
            4 => (
                "remoteIpBlocks",
                "notRemoteIpBlocks",
                list(r, IP_BLOCKS, BAD_IPS, 2),
            ),
            _ => (
                "requestPrincipals",
                "notRequestPrincipals",
                list(r, REQUEST_PRINCIPALS, &[], 2),
            ),
        };
        let key = if neg { negk } else { pos };
        m.insert(key, v);
    }
    Value::Object(m)
}

fn operation(r: &mut Rng) -> Value {
    let mut m = Map::new();
    let n = 1 + r.below(3);
    for _ in 0..n {
        let neg = r.pct(30);
        let (pos, negk, v) = match r.below(4) {
            0 => ("hosts", "notHosts", list(r, HOSTS, BAD_HOSTS, 2)),
            1 => ("methods", "notMethods", list(r, METHODS, &["G ET"], 2)),
            2 => ("paths", "notPaths", list(r, PATHS, BAD_PATHS, 3)),
            _ => ("ports", "notPorts", list(r, PORTS, BAD_PORTS, 2)),
        };
        m.insert(if neg { negk } else { pos }, v);
    }
    Value::Object(m)
}

fn condition(r: &mut Rng, jwt: bool) -> Value {
    let (key, pool, bad): (String, &[&str], &[&str]) = match r.below(if jwt { 10 } else { 8 }) {
        0 | 1 => (
            format!("request.headers[{}]", r.pick(HEADER_NAMES)),
            HEADER_PATTERNS,
            &["a*b"],
        ),
        2 => ("source.ip".into(), IP_BLOCKS, BAD_IPS),
        3 => ("remote.ip".into(), IP_BLOCKS, &[]),
        4 => ("destination.port".into(), PORTS, BAD_PORTS),
        5 => ("connection.sni".into(), HOSTS, &[]),
        6 => ("source.namespace".into(), NAMESPACES, &[]),
        7 => ("source.principal".into(), PRINCIPALS, &[]),
        _ => (r.pick(CLAIM_KEYS).to_string(), CLAIM_VALUES, &[]),
    };
    // Header patterns may include "" (refused: empty strings in lists); keep it rare.
    let pool: Vec<&str> = pool
        .iter()
        .copied()
        .filter(|p| !p.is_empty() || r.pct(1))
        .collect();
    let pool: &[&str] = if pool.is_empty() { &["x"] } else { &pool };
    let mut m = Map::new();
    m.insert("key", Value::from(key.as_str()));
    match r.below(3) {
        0 => m.insert("values", list(r, pool, bad, 2)),
        1 => m.insert("notValues", list(r, pool, bad, 2)),
        _ => {
            m.insert("values", list(r, pool, bad, 2));
            m.insert("notValues", list(r, pool, bad, 1));
        }
    }
    Value::Object(m)
}

fn rule(r: &mut Rng, jwt: bool) -> Value {
    let mut m = Map::new();
    if r.pct(50) {
        let n = 1 + r.below(2);
        let from = (0..n)
            .map(|_| {
                let mut s = Map::new();
                s.insert("source", source(r, jwt));
                Value::Object(s)
            })
            .collect();
        m.insert("from", Value::Array(from));
    }
    if r.pct(65) {
        let n = 1 + r.below(2);
        let to = (0..n)
            .map(|_| {
                let mut o = Map::new();
                o.insert("operation", operation(r));
                Value::Object(o)
            })
            .collect();
        m.insert("to", Value::Array(to));
    }
    if r.pct(45) {
        let n = 1 + r.below(2);
        m.insert(
            "when",
            Value::Array((0..n).map(|_| condition(r, jwt)).collect()),
        );
    }
    Value::Object(m)
}

fn authorization_policy(r: &mut Rng, i: usize, jwt: bool) -> Value {
    let mut spec = Map::new();
    let action = match r.below(10) {
        0..=3 => Some("ALLOW"),
        4..=6 => Some("DENY"),
        7 | 8 => Some("AUDIT"),
        _ => None,
    };
    if let Some(a) = action {
        spec.insert("action", Value::from(a));
    }
    if r.pct(90) {
        let n = r.below(4);
        spec.insert(
            "rules",
            Value::Array((0..n).map(|_| rule(r, jwt)).collect()),
        );
    }
    if action == Some("DENY") && r.pct(25) {
        spec.insert("reason", Value::from(format!("custom reason {i}")));
    }
    let name = format!("p{i}");
    if r.pct(20) {
        // The Kubernetes object form.
        let mut meta = Map::new();
        meta.insert("name", Value::from(name));
        meta.insert("namespace", Value::from("default"));
        let mut m = Map::new();
        m.insert("apiVersion", Value::from("security.istio.io/v1"));
        m.insert("kind", Value::from("AuthorizationPolicy"));
        m.insert("metadata", Value::Object(meta));
        m.insert("spec", Value::Object(spec));
        Value::Object(m)
    } else {
        let mut m = Map::new();
        m.insert("name", Value::from(name));
        for (k, v) in spec.iter() {
            m.insert(k, v.clone());
        }
        Value::Object(m)
    }
}

fn policy(r: &mut Rng, jwt_rules: &Value) -> String {
    let mut m = Map::new();
    let jwt = r.pct(40);
    if jwt {
        m.insert("jwtRules", jwt_rules.clone());
    }
    if r.pct(20) {
        m.insert("mode", Value::from("dry_run"));
    } else if r.pct(10) {
        m.insert("mode", Value::from("enforce"));
    }
    match r.below(3) {
        0 => m.insert("defaultAction", Value::from("ALLOW")),
        1 => m.insert("defaultAction", Value::from("DENY")),
        _ => {}
    }
    if r.pct(70) {
        m.insert(
            "pathNormalization",
            Value::from(r.pick(&[
                "STRICT",
                "BASE",
                "MERGE_SLASHES",
                "DECODE_AND_MERGE_SLASHES",
            ])),
        );
    }
    if r.pct(30) {
        m.insert("numTrustedProxies", Value::from(r.below(3) as i64));
    }
    if r.pct(10) {
        m.insert("realm", Value::from("shop"));
    }
    let n = r.below(5);
    m.insert(
        "authorizationPolicies",
        Value::Array((0..n).map(|i| authorization_policy(r, i, jwt)).collect()),
    );
    Value::Object(m).to_json()
}

// ---- requests ------------------------------------------------------------------------------

const REQ_METHODS: &[&str] = &[
    "GET", "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "M-SEARCH",
];
/// Refused with 400 `bad_method`.
const BAD_METHODS: &[&str] = &["get", "post", "G ET", "", "GET\u{0}"];
const REQ_PATHS: &[&str] = &[
    "/",
    "/admin",
    "/admin/",
    "/admin/x",
    "/Admin/x",
    "//admin",
    "//a",
    "/a/../admin",
    "/a/../b",
    "/a//b/../c",
    "/%61dmin",
    "/%2561dmin",
    "/a%2Fb",
    "/a%2fb",
    "/a%5Cb",
    "/a\\b",
    "/admin;x",
    "/admin%3bx",
    "/..;/admin",
    "/../x",
    "/%2e%2e%2fadmin",
    "/api/x?q=1",
    "/api/v1/users/7?redirect=/admin",
    "/public/x#frag",
    "/users/42/orders",
    "/users//orders",
    "/users/42/orders/1",
    "/files",
    "/files/",
    "/files/a/b/c",
    "/report.json",
    "/caf%c3%a9",
    "/a{b}",
    "/a|b^[c]",
    "/a b",
    "/%00",
    "/%zz",
    "/%",
    "*",
    "http://api.example.com/admin",
    "",
    "/x/admin",
    "/?",
];
const REQ_HOSTS: &[&str] = &[
    "api.example.com",
    "api.example.com",
    "API.EXAMPLE.COM:443",
    "api.example.com.",
    "x.example.com:8443",
    "evil.com",
    "[::1]:80",
    "[::1]",
    "[0:0::1]",
    "10.0.0.1:80",
    "localhost",
];
/// Mostly refused with 400 `bad_host`.
const ODD_HOSTS: &[&str] = &[
    "0x7f.1",
    "010.0.0.1",
    "user@api.example.com",
    "api.example.com:abc",
    "caf\u{e9}.com",
    "[fe80::1%25eth0]",
    "a..b",
    "",
];
const REQ_HEADER_VALUES: &[&str] = &[
    "acme",
    "initech",
    "admin",
    "prod",
    "curl/8.0",
    "ACME",
    "acme, initech",
    "",
];
const REQ_IPS: &[&str] = &[
    "10.0.0.1",
    "10.1.2.3",
    "192.168.1.5",
    "8.8.8.8",
    "::1",
    "2001:db8::7",
    "::ffff:10.0.0.1",
    "fe80::1",
    "not-an-ip",
];
const NS: &[&str] = &["web", "pay", "admin", "kube-system"];
const SA: &[&str] = &["frontend", "api", "admin"];

fn request(r: &mut Rng, tokens: &[String]) -> CheckRequest {
    let pool = if r.pct(8) { BAD_METHODS } else { REQ_METHODS };
    let method = r.pick(pool);
    let path = if r.pct(50) {
        r.pick(REQ_PATHS).to_string()
    } else {
        format!(
            "/{}{}",
            r.pick(&["admin", "api", "public", "users/42", "files", "a", "x"]),
            r.pick(&["", "/", "/x", "/orders", "/a/b", "?q=1", "/../admin"])
        )
    };
    let pool = if r.pct(10) { ODD_HOSTS } else { REQ_HOSTS };
    let host = r.pick(pool);
    let mut req = CheckRequest::new(method, &path, host);
    if r.pct(40) {
        req.scheme = Some(r.pick(&["http", "https"]).to_string());
    }
    let n = r.below(5);
    for _ in 0..n {
        let name = r
            .pick(&["x-tenant", "x-tenant", "x-role", "user-agent", "x-env"])
            .to_string();
        req.headers
            .push((name, r.pick(REQ_HEADER_VALUES).to_string()));
    }
    if r.pct(45) && !tokens.is_empty() {
        let t = tokens[r.below(tokens.len())].clone();
        req.headers.push(("authorization".into(), t));
        if r.pct(5) {
            // Two tokens.
            let t = tokens[r.below(tokens.len())].clone();
            req.headers.push(("authorization".into(), t));
        }
    } else if r.pct(10) {
        let v = r.pick(&[
            "Basic YWxpY2U6cHc=",
            "Bearer garbage",
            "Bearer ",
            "bearer a.b.c",
        ]);
        req.headers.push(("authorization".into(), v.into()));
    }
    if r.pct(25) {
        let n = 1 + r.below(2);
        for _ in 0..n {
            let v = r.pick(&[
                "198.51.100.7",
                "10.0.0.3",
                "198.51.100.7, 10.0.0.3",
                "junk",
                "::1",
            ]);
            req.headers.push(("x-forwarded-for".into(), v.into()));
        }
    }
    if r.pct(4) {
        req.headers
            .push(("host".into(), r.pick(REQ_HOSTS).to_string()));
    }
    // Headers are kept in a deterministic but shuffled-ish order: as generated.
    req.source = Peer {
        address: r.pct(80).then(|| r.pick(REQ_IPS).to_string()),
        port: r.pct(50).then(|| 40_000 + r.below(20_000) as u16),
        principal: if r.pct(65) {
            Some(match r.below(10) {
                0 => "spiffe://other.domain/ns/web/sa/frontend".to_string(),
                1 => "not-a-spiffe-id".to_string(),
                2 => "spiffe://cluster.local/ns/web".to_string(),
                _ => format!("spiffe://cluster.local/ns/{}/sa/{}", r.pick(NS), r.pick(SA)),
            })
        } else {
            None
        },
    };
    req.destination = Peer {
        address: r.pct(50).then(|| r.pick(&["10.8.0.2", "::1"]).to_string()),
        port: r.pct(75).then(|| [80u16, 443, 8080, 8443][r.below(4)]),
        principal: None,
    };
    if r.pct(40) {
        req.sni = Some(
            r.pick(&["api.example.com", "API.example.com", "evil.com"])
                .to_string(),
        );
    }
    req
}

// ---- the corpus's jwtRules and tokens ------------------------------------------------------

fn corpus_jwt() -> (Value, Vec<String>) {
    let p = root().join("corpus/tokens/validation.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let v = json::parse(&text, Limits::POLICY).unwrap();
    let rules = v
        .get("policy")
        .and_then(|p| p.get("jwtRules"))
        .cloned()
        .expect("jwtRules in corpus/tokens/validation.json");
    let mut tokens: Vec<String> = v
        .get("cases")
        .and_then(Value::as_array)
        .unwrap_or(&[])
        .iter()
        .filter_map(|c| c.get("request")?.get("headers")?.get("authorization"))
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    tokens.sort();
    tokens.dedup();
    (rules, tokens)
}

// ---- the test ------------------------------------------------------------------------------

#[test]
fn randomised_policies_and_requests_agree_native_and_wasm() {
    let seed = env_u64("VIGIL_DIFF_SEED").unwrap_or(DEFAULT_SEED);
    let policies = env_u64("VIGIL_DIFF_CASES").map_or(DEFAULT_POLICIES, |n| n as usize);
    let start = Instant::now();
    let host = Host::new();
    let filter = host.compile(&dist("filter.wasm")).unwrap();
    let (jwt_rules, tokens) = corpus_jwt();
    assert!(!tokens.is_empty(), "no tokens in the corpus");
    let mut r = Rng::new(seed);

    let mut requests = 0usize;
    let mut verified = 0usize;
    let mut audited = 0usize;
    let mut rejected = 0usize;
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures: Vec<String> = Vec::new();
    for i in 0..policies {
        let policy_json = policy(&mut r, &jwt_rules);
        let reqs: Vec<CheckRequest> = (0..REQUESTS_PER_POLICY)
            .map(|_| request(&mut r, &tokens))
            .collect();
        let case = |what: &str| {
            format!(
                "seed {seed:#x}, policy #{i}: {what}\n  policy: {policy_json}\n",
                seed = seed
            )
        };
        let engine = Engine::from_json(&policy_json);
        let vm = check::configured(&host, &filter, &policy_json);
        let (engine, mut vm) = match (engine, vm) {
            (Ok(e), Ok(vm)) => (e, vm),
            (Err(_), Err(HostError::Rejected { .. })) => {
                rejected += 1;
                continue;
            }
            (Err(e), Ok(_)) => {
                failures.push(case(&format!(
                    "the engine refuses the policy ({e}) but the filter accepted it"
                )));
                continue;
            }
            (Ok(_), Err(e)) => {
                failures.push(case(&format!(
                    "the engine accepts the policy but the filter's configure failed: {e}"
                )));
                continue;
            }
            (Err(e), Err(w)) => {
                failures.push(case(&format!(
                    "the engine refuses the policy ({e}); the filter failed otherwise: {w:?}"
                )));
                continue;
            }
        };
        for req in &reqs {
            requests += 1;
            let native = engine.decide(req, &Env::at(NOW)).to_value();
            let at = || {
                format!(
                    "{}  request: {}",
                    case("native and wasm differ"),
                    req.to_value().to_json()
                )
            };
            let wasm = match check::decide(&mut vm, req, NOW) {
                Ok(w) => w,
                Err(e) => {
                    failures.push(format!("{}\n  host error: {e}", at()));
                    continue;
                }
            };
            let mut problems = diff_decisions(&native, &wasm.value);
            problems.extend(
                wasm.disagreements
                    .iter()
                    .map(|d| format!("enforcement: {d}")),
            );
            if !problems.is_empty() {
                failures.push(format!(
                    "{}\n  native: {}\n  wasm:   {}\n    {}",
                    at(),
                    native.to_json(),
                    wasm.value.to_json(),
                    problems.join("\n    ")
                ));
            }
            let outcome = native
                .get("decision")
                .and_then(Value::as_str)
                .unwrap_or("?");
            let dry = native.get("dryRun").and_then(Value::as_bool) == Some(true);
            *outcomes
                .entry(format!("{outcome}{}", if dry { " (dry run)" } else { "" }))
                .or_default() += 1;
            if native.get("principal").is_some_and(|p| *p != Value::Null) {
                verified += 1;
            }
            if native
                .get("audit")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
            {
                audited += 1;
            }
            let code = native.get("code").and_then(Value::as_str).unwrap_or("?");
            *codes.entry(code.to_string()).or_default() += 1;
        }
    }
    eprintln!(
        "differential: seed {seed:#x}: {policies} policies ({rejected} rejected by both), \
         {requests} requests ({verified} with a verified token, {audited} audited), {} failures, \
         in {:.1?}\n  decisions: {outcomes:?}\n  codes: {codes:?}",
        failures.len(),
        start.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} differences (reproduce with VIGIL_DIFF_SEED={seed:#x} VIGIL_DIFF_CASES={policies}):\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(requests > 0, "every policy was rejected");
}
