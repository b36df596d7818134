//! The compiled filter (`dist/filter.wasm`, `dist/filter-unknown.wasm`) in the wasmtime host:
//! the whole corpus decides exactly as policy-core does natively, field by field, and the
//! filter enforces what it decides; the fluent API; a long run for memory growth.
//!
//! These tests need the built filter: run `scripts/build` first (scripts/test does).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use policy_core::json::{self, Limits};
use policy_core::testcase::{case_time, check_case, run_case, PolicySource, TestFile};
use policy_core::Engine;
use std::path::{Path, PathBuf};
use std::time::Instant;
use vigil_host_test::host::check::{self, diff_decisions};
use vigil_host_test::host::{Action, Filter, Host, HostError, MetricKind};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The built filter; fails with a clear message when it is missing.
fn dist(name: &str) -> Vec<u8> {
    let p = root().join("dist").join(name);
    std::fs::read(&p).unwrap_or_else(|e| {
        panic!(
            "{}: {e} — run scripts/build first (it builds dist/filter.wasm and \
             dist/filter-unknown.wasm)",
            p.display()
        )
    })
}

fn compiled(name: &str) -> (Host, Filter) {
    let host = Host::new();
    let t = Instant::now();
    let filter = host.compile(&dist(name)).unwrap();
    eprintln!("compiled {name} in {:?}", t.elapsed());
    (host, filter)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, out);
        } else {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".json")
                && !name.ends_with(".policy.json")
                && !name.ends_with(".schema.json")
            {
                out.push(p);
            }
        }
    }
}

const NOW: i64 = 1_700_000_000;

/// Runs every corpus (and example) case natively and through the filter; returns the number of
/// cases and the mismatches.
fn corpus_through(name: &str) -> (usize, Vec<String>) {
    let (host, filter) = compiled(name);
    let mut files = Vec::new();
    for dir in ["corpus", "examples/policies"] {
        collect(&root().join(dir), &mut files);
    }
    assert!(!files.is_empty(), "no corpus files found");
    let mut cases = 0;
    let mut skipped = 0;
    let mut both_fail = 0;
    let mut failures = Vec::new();
    let mut wasm_time = std::time::Duration::ZERO;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let tf = TestFile::from_value(&json::parse(&text, Limits::POLICY).unwrap()).unwrap();
        let policy = match &tf.policy {
            PolicySource::Inline(p) => p.clone(),
            PolicySource::Path(p) => {
                let pt = std::fs::read_to_string(f.parent().unwrap().join(p)).unwrap();
                json::parse(&pt, Limits::POLICY).unwrap()
            }
        };
        let engine = Engine::from_value(&policy).unwrap();
        let mut vm = check::configured(&host, &filter, &policy.to_json())
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for (serial, case) in (1u64..).zip(&tf.cases) {
            let at = format!("{} :: {}", f.display(), case.name);
            if let Err(why) = check::apply_state(&host, &engine, case, case_time(case, NOW), serial)
            {
                eprintln!("skipped {at}: {why}");
                skipped += 1;
                continue;
            }
            cases += 1;
            let native = run_case(&engine, case, NOW);
            let t = Instant::now();
            let wasm = match check::decide(&mut vm, &case.request, case_time(case, NOW)) {
                Ok(w) => w,
                Err(e) => {
                    failures.push(format!("{at}\n    host: {e}"));
                    continue;
                }
            };
            wasm_time += t.elapsed();
            let mut problems = diff_decisions(&native.decision.to_value(), &wasm.value);
            problems.extend(wasm.disagreements.iter().cloned());
            // The corpus's expectations are policy-core's business (policy-core/tests/corpus.rs);
            // here both targets must merely agree on them.
            let expected = check_case(case, wasm.decision.clone());
            if native.passed() != expected.passed() || native.failures != expected.failures {
                problems.push(format!(
                    "expectations: native {:?}, wasm {:?}",
                    native.failures, expected.failures
                ));
            }
            if !native.passed() {
                both_fail += 1;
            }
            if !problems.is_empty() {
                failures.push(format!("{at}\n    {}", problems.join("\n    ")));
            }
        }
    }
    eprintln!(
        "{name}: {cases} cases in {} files, {} mismatches ({both_fail} cases fail their \
         expectations identically natively and in wasm; {skipped} skipped: their adapter state \
         cannot be placed in the filter, see above); {:.1} µs per request through the \
         filter (dev-profile host, includes the host's bookkeeping)",
        files.len(),
        failures.len(),
        wasm_time.as_secs_f64() * 1e6 / cases.max(1) as f64
    );
    (cases, failures)
}

#[test]
fn corpus_agrees_case_by_case_in_filter_wasm() {
    let (n, failures) = corpus_through("filter.wasm");
    assert!(n >= 500, "only {n} cases");
    assert!(
        failures.is_empty(),
        "{} of {n} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_agrees_case_by_case_in_filter_unknown_wasm() {
    let (n, failures) = corpus_through("filter-unknown.wasm");
    assert!(
        failures.is_empty(),
        "{} of {n} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

const POLICY: &str = r#"{
  "authorizationPolicies": [
    {"name": "block-admin", "action": "DENY",
     "rules": [{"to": [{"operation": {"paths": ["/admin/*"]}}]}]},
    {"name": "frontend", "action": "ALLOW",
     "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/web/sa/frontend"]}}]}]}
  ]
}"#;

#[test]
fn fluent_api_requests_local_responses_metrics() {
    let (host, filter) = compiled("filter.wasm");
    let mut vm = host.instantiate(&filter).unwrap();
    vm.configure(POLICY).unwrap();
    let loaded = vm.take_logs();
    assert!(
        loaded.iter().any(|l| l.message.contains("policy loaded")),
        "{loaded:?}"
    );

    let out = vm
        .http_request()
        .header(":method", "GET")
        .header(":path", "/pay/1")
        .header(":authority", "shop")
        .header("x-spoofed", "1")
        .property(&["source", "address"], "10.0.0.1:5000")
        .property(
            &["connection", "uri_san_peer_certificate"],
            "spiffe://cluster.local/ns/web/sa/frontend",
        )
        .send_headers()
        .unwrap();
    assert_eq!(out.action(), Some(Action::Continue));
    assert!(out.local_response().is_none());
    assert!(out.done);
    let d = check::decision_value(out.logs()).unwrap();
    assert_eq!(d.get("decision").and_then(|v| v.as_str()), Some("allow"));

    let out = vm
        .http_request()
        .header(":method", "GET")
        .header(":path", "/admin/x")
        .header(":authority", "shop")
        .send_headers()
        .unwrap();
    assert_eq!(out.action(), Some(Action::Pause));
    let r = out.local_response().expect("a local response");
    assert_eq!(r.status, 403);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(
        r.body_text().contains("\"error\":\"deny\""),
        "{}",
        r.body_text()
    );

    let allowed = vm.metric("vigil_allowed").unwrap();
    assert_eq!((allowed.kind, allowed.value), (MetricKind::Counter, 1));
    assert_eq!(vm.metric("vigil_denied").unwrap().value, 1);
    assert!(vm.open_contexts().is_empty(), "streams left open");
    let calls = vm.hostcall_counts();
    eprintln!("host calls after two requests: {calls:?}");
    assert!(
        calls
            .get("proxy_get_header_map_pairs")
            .copied()
            .unwrap_or(0)
            >= 2
    );

    // Ticks and callouts: the filter uses neither yet; the clock still moves.
    let before = vm.now_ns();
    let ticks = vm.advance_clock(1_500).unwrap();
    assert_eq!(ticks.ticks, 0);
    assert_eq!(vm.now_ns() - before, 1_500_000_000);
    assert!(vm.pending_callouts().is_empty());
}

#[test]
fn invalid_policy_is_rejected_with_the_filters_message() {
    let (host, filter) = compiled("filter.wasm");
    let mut vm = host.instantiate(&filter).unwrap();
    let e = vm
        .configure(r#"{"authorizationPolicies": [{"name": 1}]}"#)
        .unwrap_err();
    match &e {
        HostError::Rejected { during, message } => {
            assert_eq!(during, "proxy_on_configure");
            assert!(message.contains("invalid policy"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // An unconfigured filter fails closed.
    let out = vm
        .http_request()
        .header(":method", "GET")
        .header(":path", "/")
        .header(":authority", "a")
        .send_headers()
        .unwrap();
    assert_eq!(out.local_response().map(|r| r.status), Some(503));
}

#[test]
fn memory_stays_flat_over_100k_requests() {
    let (host, filter) = compiled("filter.wasm");
    let mut vm = check::configured(&host, &filter, POLICY).unwrap();
    let requests: Vec<policy_core::CheckRequest> = [
        r#"{"method":"GET","path":"/pay/1","host":"shop","headers":{"x-a":"1"},"source":{"address":"10.0.0.1","port":5000,"principal":"spiffe://cluster.local/ns/web/sa/frontend"}}"#,
        r#"{"method":"GET","path":"/admin/x","host":"shop","source":{"address":"10.0.0.9","port":5001}}"#,
        r#"{"method":"POST","path":"/other","host":"shop","headers":{"authorization":"Bearer x"}}"#,
    ]
    .iter()
    .map(|t| policy_core::CheckRequest::from_json(t).unwrap())
    .collect();
    let total = 100_000;
    let warmup = 1_000;
    let mut after_warmup = 0;
    let start = Instant::now();
    let mut steady = start;
    for i in 0..total {
        let d = check::decide(&mut vm, &requests[i % requests.len()], NOW).unwrap();
        assert!(d.disagreements.is_empty(), "{:?}", d.disagreements);
        if i + 1 == warmup {
            after_warmup = vm.memory_bytes();
            steady = Instant::now();
        }
    }
    let end = vm.memory_bytes();
    let per_request = steady.elapsed().as_secs_f64() * 1e6 / (total - warmup) as f64;
    eprintln!(
        "linear memory: {after_warmup} bytes after {warmup} requests, {end} after {total} \
         (growth {} bytes); {per_request:.1} µs per request (decide + checks, dev-profile host)",
        end as i64 - after_warmup as i64
    );
    assert!(vm.open_contexts().is_empty());
    assert!(
        end.saturating_sub(after_warmup) < 1 << 20,
        "linear memory grew by {} bytes",
        end - after_warmup
    );
}

/// One request through `vm` from the frontend's mTLS identity; returns the decision JSON.
fn from_frontend(vm: &mut vigil_host_test::host::Vm, path: &str) -> json::Value {
    let out = vm
        .http_request()
        .header(":method", "GET")
        .header(":path", path)
        .header(":authority", "shop")
        .header(":scheme", "https")
        .header("user-agent", "curl/8")
        .header("accept", "*/*")
        .header("x-user", "spoofed")
        .property(&["source", "address"], "10.0.0.1:5000")
        .property(&["destination", "address"], "10.0.0.2:8080")
        .property_int(&["destination", "port"], 8080)
        .property(
            &["connection", "uri_san_peer_certificate"],
            "spiffe://cluster.local/ns/web/sa/frontend",
        )
        .send_headers()
        .unwrap();
    check::decision_value(out.logs()).unwrap()
}

#[test]
fn request_path_reads_only_what_the_policy_needs() {
    let (host, filter) = compiled("filter.wasm");
    let mut vm = host.instantiate(&filter).unwrap();
    vm.configure(POLICY).unwrap();
    let before = vm.hostcall_counts();
    for _ in 0..10 {
        from_frontend(&mut vm, "/pay/1");
    }
    let after = vm.hostcall_counts();
    let per_request = |name: &str| {
        (after.get(name).copied().unwrap_or(0) - before.get(name).copied().unwrap_or(0)) as f64
            / 10.0
    };
    let total: u64 = after.values().sum::<u64>() - before.values().sum::<u64>();
    eprintln!(
        "host calls per request: {:.1} in all; {after:?}",
        total as f64 / 10.0
    );
    // One header-map read (the ABI's per-name lookup would hide a repeated header), no
    // per-name lookups; of the properties only the peer principal (the policy matches
    // `principals` and nothing about addresses, ports or SNI).
    assert_eq!(per_request("proxy_get_header_map_pairs"), 1.0);
    assert_eq!(per_request("proxy_get_header_map_value"), 0.0);
    assert_eq!(per_request("proxy_get_property"), 1.0);

    // A policy that matches ports and addresses reads them; the decision is the same as
    // native, field by field.
    let policy = r#"{"authorizationPolicies": [{"name": "p", "rules": [{
        "from": [{"source": {"ipBlocks": ["10.0.0.0/8"]}}],
        "to": [{"operation": {"ports": ["8080"]}}],
        "when": [{"key": "connection.sni", "notValues": ["evil"]}]}]}]}"#;
    let mut vm = host.instantiate(&filter).unwrap();
    vm.configure(policy).unwrap();
    let before = vm.hostcall_counts();
    let d = from_frontend(&mut vm, "/x");
    assert_eq!(d.get("decision").and_then(|v| v.as_str()), Some("allow"));
    let after = vm.hostcall_counts();
    let props = after.get("proxy_get_property").copied().unwrap_or(0)
        - before.get("proxy_get_property").copied().unwrap_or(0);
    assert_eq!(props, 4, "source, destination address and port, SNI");
}

#[test]
fn spoofed_identity_headers_are_removed_though_never_read() {
    // `x-user` is set from the token's claims: a client-sent copy is removed on every
    // forwarded request even though the filter does not copy `x-user` into the check request.
    let policy = r#"{"defaultAction": "ALLOW",
      "jwtRules": [{"issuer": "https://idp.example.com", "jwksUri": "https://idp.example.com/jwks", "algorithms": ["RS256"],
                    "outputClaimToHeaders": [{"header": "x-user", "claim": "sub"}]}]}"#;
    let (host, filter) = compiled("filter.wasm");
    let mut vm = host.instantiate(&filter).unwrap();
    vm.configure(policy).unwrap();
    let out = vm
        .http_request()
        .header(":method", "GET")
        .header(":path", "/")
        .header(":authority", "shop")
        .header("x-user", "admin")
        .send_headers()
        .unwrap();
    assert_eq!(out.action(), Some(Action::Continue));
    assert!(
        out.request_header("x-user").is_empty(),
        "{:?}",
        out.request_headers()
    );
}

const BEHAVIOUR_POLICY: &str = r#"{"defaultAction": "ALLOW",
  "resources": [{"name": "shop", "classification": "internal", "paths": ["/*"], "minTrust": 60}],
  "trust": {"risks": [
    {"name": "first_seen", "weight": 1, "when": [{"key": "behavior.firstSeen", "values": ["true"]}]},
    {"name": "velocity", "weight": 50, "when": [{"key": "behavior.requestsLastMinute", "values": [">=3"]}]}]}}"#;

#[test]
fn behaviour_signals_accumulate_in_shared_data() {
    let (host, filter) = compiled("filter.wasm");
    let mut vm = host.instantiate(&filter).unwrap();
    vm.configure(BEHAVIOUR_POLICY).unwrap();
    let risks = |d: &json::Value| -> Vec<String> {
        d.get("trust")
            .and_then(|t| t.get("risks"))
            .and_then(|r| r.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.get("name").and_then(|n| n.as_str()).map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let t = 1_700_000_040; // the start of a minute
    let mut seen = Vec::new();
    for (i, dt) in [0, 1, 2, 3, 200].into_iter().enumerate() {
        vm.set_time(t + dt);
        let d = from_frontend(&mut vm, &format!("/r/{i}"));
        seen.push((
            d.get("status")
                .and_then(|s| s.as_number())
                .map(|n| n.as_f64())
                .unwrap() as u16,
            risks(&d),
        ));
    }
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        seen,
        [
            (200, v(&["first_seen"])),
            (200, v(&[])),
            (403, v(&["velocity"])),
            (403, v(&["velocity"])),
            (200, v(&[])),
        ]
    );
    let (key, tag) = policy_core::state::behavior_slot("cluster.local/ns/web/sa/frontend");
    let (bytes, _) = host
        .shared_data(&key)
        .expect("the history is in shared data");
    let rec = policy_core::Behavior::from_slot(&bytes, &tag).unwrap();
    assert_eq!(
        (rec.first_seen, rec.last_seen, rec.current),
        (t, t + 200, 1)
    );
}

#[test]
fn decision_logs_are_sampled_as_configured() {
    let (host, filter) = compiled("filter.wasm");
    let mut vm = host.instantiate(&filter).unwrap();
    let mut policy = json::parse(POLICY, Limits::POLICY).unwrap();
    if let json::Value::Object(m) = &mut policy {
        m.insert(
            "decisionLog",
            json::parse(r#"{"sample": 4}"#, Limits::POLICY).unwrap(),
        );
    }
    vm.configure(policy.to_json()).unwrap();
    let mut logged = 0;
    for i in 0..8 {
        let out = vm
            .http_request()
            .header(":method", "GET")
            .header(":path", if i % 2 == 0 { "/pay" } else { "/admin/x" })
            .header(":authority", "shop")
            .property(
                &["connection", "uri_san_peer_certificate"],
                "spiffe://cluster.local/ns/web/sa/frontend",
            )
            .send_headers()
            .unwrap();
        if check::decision_value(out.logs()).is_ok() {
            logged += 1;
        }
    }
    // 4 denials, all logged; 4 allowed, 1 in 4 of the 8 decisions counted → decisions 0 and 4
    // (both allowed) are the sampled ones.
    assert_eq!(logged, 6);
    assert_eq!(vm.metric("vigil_allowed").unwrap().value, 4);
}
