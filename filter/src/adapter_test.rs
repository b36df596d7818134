//! The adapter with an in-memory host and stream (the bindings are tested in a real Envoy by
//! scripts/e2e, once per build).

use super::*;
use crate::host::{Pairs, Property, Status};
use std::collections::HashMap;

#[derive(Default)]
struct FakeHost {
    lines: RefCell<Vec<String>>,
    counts: RefCell<HashMap<&'static str, u64>>,
    kv: RefCell<HashMap<String, (Vec<u8>, u32)>>,
    /// Added to the fixed clock.
    later_ms: Cell<u64>,
    /// Paths of the calls made; `Some` makes calls succeed (token = index + 1).
    calls: Option<RefCell<Vec<String>>>,
    /// The `if-none-match` header of each call made.
    conditions: RefCell<Vec<Option<String>>>,
}

impl FakeHost {
    fn calling() -> FakeHost {
        FakeHost {
            calls: Some(RefCell::default()),
            ..FakeHost::default()
        }
    }
    fn calls(&self) -> usize {
        self.calls.as_ref().map_or(0, |c| c.borrow().len())
    }
}

struct FakeResponse(&'static str, &'static [u8]);

impl Response for FakeResponse {
    fn status(&self) -> String {
        self.0.to_string()
    }
    fn body_size(&self) -> usize {
        self.1.len()
    }
    fn body(&self) -> Result<Vec<u8>, Status> {
        Ok(self.1.to_vec())
    }
    fn header(&self, _: &str) -> Option<String> {
        None
    }
}

/// A response with a body made at run time and an optional `ETag`.
struct Tagged(&'static str, String, Option<&'static str>);

impl Response for Tagged {
    fn status(&self) -> String {
        self.0.to_string()
    }
    fn body_size(&self) -> usize {
        self.1.len()
    }
    fn body(&self) -> Result<Vec<u8>, Status> {
        Ok(self.1.as_bytes().to_vec())
    }
    fn header(&self, name: &str) -> Option<String> {
        (name == "etag").then_some(self.2?.to_string())
    }
}

impl Host for FakeHost {
    fn log(&self, _: Level, msg: &str) {
        self.lines.borrow_mut().push(msg.to_string());
    }
    fn logs_at(&self, _: Level) -> bool {
        true
    }
    fn now_ms(&self) -> Result<u64, Status> {
        Ok(1_800_000_000_000 + self.later_ms.get())
    }
    fn count(&self, c: Counter, by: u64) {
        *self.counts.borrow_mut().entry(c.name()).or_default() += by;
    }
    fn shared_get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, Status> {
        Ok(self.kv.borrow().get(key).cloned())
    }
    fn shared_set(&self, key: &str, value: &[u8], _cas: u32) -> Result<(), Status> {
        self.kv
            .borrow_mut()
            .insert(key.to_string(), (value.to_vec(), 1));
        Ok(())
    }
    fn http_call(&self, _: &str, headers: &[(&str, &str)], _: u32) -> Result<u32, Status> {
        let calls = self.calls.as_ref().ok_or(Status::BAD_ARGUMENT)?;
        let path = headers.iter().find(|(k, _)| *k == ":path").map(|(_, v)| *v);
        self.conditions.borrow_mut().push(
            headers
                .iter()
                .find(|(k, _)| *k == "if-none-match")
                .map(|(_, v)| v.to_string()),
        );
        calls
            .borrow_mut()
            .push(path.unwrap_or_default().to_string());
        u32::try_from(calls.borrow().len()).map_err(|_| Status::INTERNAL)
    }
}

#[derive(Default)]
struct FakeStream {
    headers: Option<Pairs>,
    /// `source.address` (`ip:port`).
    source: Option<String>,
    responses: RefCell<Vec<(u32, String)>>,
    records: RefCell<Vec<String>>,
    set: RefCell<Vec<(String, String)>>,
}

impl FakeStream {
    fn get(path: &str) -> FakeStream {
        let h = |k: &str, v: &str| (k.as_bytes().to_vec(), v.as_bytes().to_vec());
        FakeStream {
            headers: Some(vec![
                h(":method", "GET"),
                h(":path", path),
                h(":authority", "app"),
            ]),
            ..FakeStream::default()
        }
    }
}

impl Stream for FakeStream {
    fn each_header(&self, f: &mut dyn FnMut(&[u8], &[u8])) -> Result<(), Status> {
        for (k, v) in self.headers.as_ref().ok_or(Status::INTERNAL)? {
            f(k, v);
        }
        Ok(())
    }
    fn property_text(&self, p: Property) -> Result<Option<String>, Status> {
        Ok(match p {
            Property::SourceAddress => self.source.clone(),
            _ => None,
        })
    }
    fn property_int(&self, _: Property) -> Result<Option<i64>, Status> {
        Ok(None)
    }
    fn send_response(&self, status: u32, _: &[(&str, &str)], body: &[u8]) -> Result<(), Status> {
        self.responses
            .borrow_mut()
            .push((status, String::from_utf8_lossy(body).into_owned()));
        Ok(())
    }
    fn remove_header(&self, _: &str) -> Result<(), Status> {
        Ok(())
    }
    fn set_header(&self, k: &str, v: &str) -> Result<(), Status> {
        self.set.borrow_mut().push((k.into(), v.into()));
        Ok(())
    }
    fn resume(&self) -> Result<(), Status> {
        Ok(())
    }
    fn record(&self, json: &str) -> Result<(), Status> {
        self.records.borrow_mut().push(json.to_string());
        Ok(())
    }
}

fn root(host: &FakeHost, policy: &str) -> Root {
    let mut r = Root::default();
    let engine = compile(policy.as_bytes()).unwrap();
    assert_eq!(
        r.configure(host, &Config::Policy(Arc::new(engine))),
        None,
        "nothing to fetch"
    );
    r
}

const POLICY: &str = r#"{"authorizationPolicies": [
    {"name": "public", "rules": [{"to": [{"operation": {"paths": ["/public/*"]}}]}]}]}"#;

#[test]
fn no_policy_is_a_503() {
    let host = FakeHost::default();
    let s = FakeStream::get("/public/a");
    assert_eq!(Http::new(None).on_request_headers(&host, &s), Action::Pause);
    assert_eq!(s.responses.borrow()[0].0, 503);
}

#[test]
fn decisions_are_enforced_counted_and_logged() {
    let host = FakeHost::default();
    let r = root(&host, POLICY);
    let allowed = FakeStream::get("/public/a");
    assert_eq!(
        Http::new(r.shared(&host)).on_request_headers(&host, &allowed),
        Action::Continue
    );
    assert!(allowed.responses.borrow().is_empty());
    let denied = FakeStream::get("/private");
    assert_eq!(
        Http::new(r.shared(&host)).on_request_headers(&host, &denied),
        Action::Pause
    );
    let (status, body) = denied.responses.borrow()[0].clone();
    assert_eq!(status, 403);
    assert!(body.contains("no ALLOW policy matched"), "{body}");
    let counts = host.counts.borrow();
    assert_eq!(counts.get("vigil_allowed"), Some(&1));
    assert_eq!(counts.get("vigil_denied"), Some(&1));
    let lines = host.lines.borrow();
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("vigil decision {"))
            .count(),
        2
    );
    assert!(
        denied.records.borrow().is_empty(),
        "decisionLog.to is `log`"
    );
}

#[test]
fn records_go_to_the_access_log_when_asked() {
    let host = FakeHost::default();
    let policy = POLICY.replace(
        r#"{"authorizationPolicies""#,
        r#"{"decisionLog": {"to": "accessLog", "sample": "none"}, "authorizationPolicies""#,
    );
    let r = root(&host, &policy);
    let ok = FakeStream::get("/public/a?token=secret");
    Http::new(r.shared(&host)).on_request_headers(&host, &ok);
    assert!(
        ok.records.borrow().is_empty(),
        "allowed ones are not sampled"
    );
    let no = FakeStream::get("/private?token=secret");
    Http::new(r.shared(&host)).on_request_headers(&host, &no);
    let records = no.records.borrow();
    assert_eq!(records.len(), 1);
    let rec = policy_core::json::parse(&records[0], policy_core::json::Limits::REQUEST).unwrap();
    assert_eq!(rec.get("decision").and_then(|v| v.as_str()), Some("deny"));
    assert_eq!(rec.get("path").and_then(|v| v.as_str()), Some("/private"));
    assert!(
        !records[0].contains("secret"),
        "the query is never recorded"
    );
    assert!(!host
        .lines
        .borrow()
        .iter()
        .any(|l| l.starts_with("vigil decision")));
}

/// A worker reuses one request's buffers for the next: nothing of a request (a header, the
/// scheme, a header repeated, the peer) may reach the decision about the next one.
#[test]
fn a_reused_request_keeps_nothing_of_the_last() {
    let host = FakeHost::default();
    let policy = r#"{"authorizationPolicies": [
        {"name": "tenant", "rules": [{"to": [{"operation": {"paths": ["/t/*"]}}],
          "when": [{"key": "request.headers[x-tenant]", "values": ["a"]}]}]},
        {"name": "peer", "rules": [{"from": [{"source": {"ipBlocks": ["10.0.0.0/8"]}}],
          "to": [{"operation": {"paths": ["/p/*"]}}]}]}]}"#;
    let r = root(&host, policy);
    let shared = r.shared(&host);
    let h = |k: &str, v: &str| (k.as_bytes().to_vec(), v.as_bytes().to_vec());
    let with = |path: &str, extra: Vec<(Vec<u8>, Vec<u8>)>, source: Option<&str>| {
        let mut s = FakeStream::get(path);
        if let Some(hs) = s.headers.as_mut() {
            hs.extend(extra);
        }
        s.source = source.map(str::to_string);
        s
    };
    let decide = |s: &FakeStream| Http::new(shared.clone()).on_request_headers(&host, s);
    let tenant = with(
        "/t/x",
        vec![h("x-tenant", "a"), h(":scheme", "https")],
        None,
    );
    assert_eq!(decide(&tenant), Action::Continue);
    // The same request without the header: refused, although the last one had it.
    let bare = with("/t/x", vec![], None);
    assert_eq!(decide(&bare), Action::Pause);
    assert_eq!(bare.responses.borrow()[0].0, 403);
    // After a request with one value, a request with two: decided as a worker that never saw
    // the first would decide it.
    let one = with("/t/x", vec![h("x-tenant", "b")], None);
    assert_eq!(decide(&one), Action::Pause);
    let two = || with("/t/x", vec![h("x-tenant", "b"), h("x-tenant", "a")], None);
    let fresh_root = root(&host, policy);
    let fresh = Http::new(fresh_root.shared(&host)).on_request_headers(&host, &two());
    assert_eq!(decide(&two()), fresh);
    // The peer is read afresh: an address in the block, then none.
    let inside = with("/p/x", vec![], Some("10.1.2.3:5000"));
    assert_eq!(decide(&inside), Action::Continue);
    let nowhere = with("/p/x", vec![], None);
    assert_eq!(decide(&nowhere), Action::Pause);
    // An unreadable request after a good one is refused, and the next good one still works.
    let mut broken = FakeStream::get("/t/x");
    broken.headers = None;
    assert_eq!(decide(&broken), Action::Pause);
    assert_eq!(decide(&tenant), Action::Continue);
}

#[test]
fn an_unreadable_request_is_refused() {
    let host = FakeHost::default();
    let r = root(&host, POLICY);
    let s = FakeStream::default();
    assert_eq!(
        Http::new(r.shared(&host)).on_request_headers(&host, &s),
        Action::Pause
    );
    assert_eq!(s.responses.borrow()[0].0, 503);
    assert_eq!(host.counts.borrow().get("vigil_errors"), Some(&1));
}

#[test]
fn oversized_or_invalid_configurations_are_refused_precisely() {
    assert!(compile(&vec![b' '; MAX_CONFIG + 1])
        .unwrap_err()
        .contains("more than"));
    assert!(compile(&[0xff, 0xfe]).unwrap_err().contains("not UTF-8"));
    let e =
        compile(br#"{"authorizationPolicies": [{"name": "x", "action": "deny"}]}"#).unwrap_err();
    assert!(e.starts_with("vigil: invalid policy: "), "{e}");
}

const REMOTE: &str = r#"{"jwtRules": [{"issuer": "https://idp.test", "jwksUri": "http://idp.test/jwks",
    "jwksCache": {"cluster": "idp", "ttlSeconds": 300}}],
    "authorizationPolicies": [{"name": "any", "rules": [{}]}]}"#;

#[test]
fn a_failed_scheduled_fetch_is_retried_without_waiting_out_the_lease() {
    let host = FakeHost::calling();
    let mut r = Root::default();
    assert!(r
        .configure(
            &host,
            &Config::Policy(Arc::new(compile(REMOTE.as_bytes()).unwrap()))
        )
        .is_some());
    r.on_tick(&host);
    assert_eq!(host.calls(), 1, "the first tick fetches the set");
    r.on_tick(&host);
    assert_eq!(host.calls(), 1, "one fetch at a time");
    // The IdP is down: the fetch fails, and the retry comes after RETRY_MS, not after the
    // lease (2 × timeout + 1 s) would have run out.
    r.on_call_response(&host, 1, &FakeResponse("503", b""));
    assert_eq!(
        host.counts.borrow().get("vigil_jwks_fetch_failed"),
        Some(&1)
    );
    host.later_ms.set(1_000);
    r.on_tick(&host);
    assert_eq!(host.calls(), 1, "not before the retry delay");
    host.later_ms.set(2_500);
    r.on_tick(&host);
    assert_eq!(host.calls(), 2, "retried once the delay has passed");
    // A set installed gives the lease back too; the next fetch waits for the TTL.
    let jwks = br#"{"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
    r.on_call_response(&host, 2, &FakeResponse("200", jwks));
    assert_eq!(host.counts.borrow().get("vigil_jwks_fetch_ok"), Some(&1));
    assert_eq!(
        host.kv
            .borrow()
            .get("vigil.jwks-lease.https://idp.test")
            .map(|v| v.0.clone()),
        Some(b"0".to_vec())
    );
    host.later_ms.set(10_000);
    r.on_tick(&host);
    assert_eq!(host.calls(), 2, "fresh for its TTL");
}

/// Signed policy bundles and signed revocation feeds, with the fake host standing in for the
/// origin (the real path is tested through Envoy in scripts/e2e/bundle_test.py).
mod bundles {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};
    use policy_core::bundle::{assemble, b64, signing_input, Kind};
    use policy_core::json::{parse, Limits};

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn jwk(kid: &str, k: &SigningKey) -> String {
        format!(
            r#"{{"kty":"OKP","crv":"Ed25519","kid":"{kid}","x":"{}"}}"#,
            b64(k.verifying_key().as_bytes())
        )
    }

    fn sign(k: &SigningKey, kid: &str, kind: Kind, revision: u64, doc: &str) -> String {
        sign_at(k, kid, kind, revision, doc, None)
    }

    /// The fake clock starts at 1,800,000,000 s.
    const T0: i64 = 1_800_000_000;

    fn sign_at(
        k: &SigningKey,
        kid: &str,
        kind: Kind,
        revision: u64,
        doc: &str,
        issued_at: Option<i64>,
    ) -> String {
        let d = parse(doc, Limits::POLICY).unwrap();
        let input = signing_input(kid, kind, revision, issued_at, &d);
        assemble(&input, &k.sign(input.as_bytes()).to_bytes())
    }

    fn content_key(config: &Config) -> (String, String) {
        match config {
            Config::Bundle(o) => (o.keys.content.clone(), o.keys.version.clone()),
            Config::Policy(_) => unreachable!(),
        }
    }

    fn bundled(keys: &str) -> Config {
        let c = format!(
            r#"{{"bundle": {{"uri": "http://origin.test/p.bundle", "cluster": "origin",
                "keys": {{"keys": [{keys}]}}, "pollMs": 1000}}}}"#
        );
        configure(c.as_bytes()).unwrap()
    }

    /// Allows `/public/*` only (revision's policy) or `/other/*`.
    fn doc(prefix: &str) -> String {
        format!(
            r#"{{"authorizationPolicies": [{{"name": "p", "rules": [{{"to": [{{"operation": {{"paths": ["/{prefix}/*"]}}}}]}}]}}]}}"#
        )
    }

    fn status(host: &FakeHost, shared: Option<Rc<Shared>>, path: &str) -> u32 {
        let s = FakeStream::get(path);
        match Http::new(shared).on_request_headers(host, &s) {
            Action::Continue => 200,
            Action::Pause => s.responses.borrow()[0].0,
        }
    }

    fn count(host: &FakeHost, name: &str) -> u64 {
        host.counts.borrow().get(name).copied().unwrap_or(0)
    }

    #[test]
    fn bundled_configurations_are_read_or_refused_precisely() {
        let k = key(1);
        assert!(matches!(bundled(&jwk("k1", &k)), Config::Bundle(_)));
        assert!(matches!(
            configure(POLICY.as_bytes()).unwrap(),
            Config::Policy(_)
        ));
        let cases: [(&str, &str); 6] = [
            (
                r#"{"bundle": {"uri": "ftp://x/b", "keys": {"keys": []}}}"#,
                "bundle.uri",
            ),
            (
                r#"{"bundle": {"uri": "http://x/b"}}"#,
                "missing required field `keys`",
            ),
            (
                r#"{"bundle": {"uri": "http://x/b", "keys": {"keys": []}}}"#,
                "no keys",
            ),
            (
                r#"{"bundle": {"uri": "http://x/b", "keys": {"keys": [{"kty": "RSA", "kid": "r", "n": "AQAB", "e": "AQAB"}]}}}"#,
                "bundle.keys",
            ),
            (
                r#"{"bundle": {"uri": "http://x/b", "keys": {"keys": []}, "pollMs": 5}}"#,
                "bundle",
            ),
            (
                r#"{"bundle": {}, "authorizationPolicies": []}"#,
                "unknown field",
            ),
        ];
        for (c, want) in cases {
            let e = configure(c.as_bytes()).unwrap_err();
            assert!(
                e.starts_with("vigil: invalid bundle configuration: "),
                "{e}"
            );
            assert!(e.contains(want), "{c}: {e}");
        }
        // A policy's own errors are unchanged.
        let e = configure(br#"{"authorizationPolicies": 3}"#).unwrap_err();
        assert!(e.starts_with("vigil: invalid policy: "), "{e}");
        let e = configure(b"{").unwrap_err();
        assert!(e.starts_with("vigil: invalid policy: "), "{e}");
    }

    #[test]
    fn a_bundle_is_installed_on_every_worker_and_only_when_it_verifies() {
        let (k1, k2, other) = (key(1), key(2), key(3));
        let config = bundled(&format!("{},{}", jwk("k1", &k1), jwk("k2", &k2)));
        let host = FakeHost::calling();
        let mut root = Root::default();
        let tick = root.configure(&host, &config);
        assert_eq!(tick, Some(250), "a quarter of the poll period");
        // Nothing installed yet: closed.
        assert_eq!(status(&host, root.shared(&host), "/public/a"), 503);
        root.on_tick(&host);
        assert_eq!(host.calls(), 1);
        assert_eq!(host.conditions.borrow()[0], None, "no ETag yet");
        let rev1 = sign(&k1, "k1", Kind::Policy, 1, &doc("public"));
        root.on_call_response(&host, 1, &Tagged("200", rev1.clone(), Some("\"e1\"")));
        assert_eq!(count(&host, "vigil_bundle_installed"), 1);
        assert_eq!(status(&host, root.shared(&host), "/public/a"), 200);
        assert_eq!(status(&host, root.shared(&host), "/other/a"), 403);

        // Another worker (VM or thread) installs what the poller published, on its next
        // request, verifying it again.
        let worker = Worker::new(&config);
        assert_eq!(status(&host, worker.current(&host), "/public/a"), 200);
        assert_eq!(count(&host, "vigil_bundle_installed"), 2);

        // One poll per period across workers: the lease holds until then.
        host.later_ms.set(500);
        root.on_tick(&host);
        Root::default().on_tick(&host);
        assert_eq!(host.calls(), 1);
        // The next poll is conditional; 304 keeps revision 1.
        host.later_ms.set(1_000);
        root.on_tick(&host);
        assert_eq!(host.calls(), 2);
        assert_eq!(host.conditions.borrow()[1].as_deref(), Some("\"e1\""));
        root.on_call_response(&host, 2, &Tagged("304", String::new(), None));
        assert_eq!(count(&host, "vigil_bundle_unchanged"), 1);

        // Refused, each for its own reason, and the last good policy stays.
        let mut tampered = sign(&k1, "k1", Kind::Policy, 2, &doc("other")).into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let refusals = [
            (String::from_utf8(tampered).unwrap(), "bad_signature"),
            (
                sign(&other, "k3", Kind::Policy, 2, &doc("other")),
                "unknown_key",
            ),
            (
                sign(&other, "k1", Kind::Policy, 2, &doc("other")),
                "bad_signature",
            ),
            (
                sign(&k1, "k1", Kind::Revocation, 2, r#"{"jtis": []}"#),
                "wrong_kind",
            ),
            (
                sign(
                    &k1,
                    "k1",
                    Kind::Policy,
                    2,
                    r#"{"authorizationPolicies": 3}"#,
                ),
                "bad_document",
            ),
            ("not a bundle".to_string(), "malformed"),
        ];
        let mut token = 2;
        for (i, (body, code)) in refusals.iter().enumerate() {
            host.later_ms.set(2_000 + 1_000 * i as u64);
            root.on_tick(&host);
            token += 1;
            assert_eq!(host.calls(), token as usize);
            root.on_call_response(&host, token, &Tagged("200", body.clone(), None));
            assert_eq!(count(&host, "vigil_bundle_refused"), i as u64 + 1, "{code}");
            let line = host.lines.borrow().last().cloned().unwrap_or_default();
            assert!(line.contains(&format!("[{code}]")), "{code}: {line}");
            assert!(line.contains("keeping revision 1"), "{line}");
            assert_eq!(status(&host, root.shared(&host), "/public/a"), 200);
            assert_eq!(status(&host, worker.current(&host), "/other/a"), 403);
        }

        // The origin fails: the policy stays.
        host.later_ms.set(10_000);
        root.on_tick(&host);
        token += 1;
        root.on_call_response(&host, token, &Tagged("503", String::new(), None));
        assert_eq!(count(&host, "vigil_bundle_poll_failed"), 1);
        assert_eq!(status(&host, root.shared(&host), "/public/a"), 200);

        // Revision 3, signed with the second key (rotation): installed everywhere.
        host.later_ms.set(11_000);
        root.on_tick(&host);
        token += 1;
        let rev3 = sign(&k2, "k2", Kind::Policy, 3, &doc("other"));
        root.on_call_response(&host, token, &Tagged("200", rev3.clone(), None));
        assert_eq!(status(&host, root.shared(&host), "/other/a"), 200);
        assert_eq!(status(&host, worker.current(&host), "/other/a"), 200);
        assert_eq!(status(&host, worker.current(&host), "/public/a"), 403);

        // The same bytes again (an origin without ETag) are unchanged, not a replay; revision
        // 1 served again is a replay.
        host.later_ms.set(12_000);
        root.on_tick(&host);
        token += 1;
        assert_eq!(host.conditions.borrow().last().cloned(), Some(None));
        root.on_call_response(&host, token, &Tagged("200", rev3, None));
        assert_eq!(count(&host, "vigil_bundle_unchanged"), 2);
        host.later_ms.set(13_000);
        root.on_tick(&host);
        token += 1;
        root.on_call_response(&host, token, &Tagged("200", rev1.clone(), None));
        let line = host.lines.borrow().last().cloned().unwrap_or_default();
        assert!(line.contains("[stale_revision]"), "{line}");
        assert_eq!(status(&host, worker.current(&host), "/other/a"), 200);

        // Shared data is verified too: an older bundle written there is not installed by a
        // worker that has a newer one, a forged one by none.
        let (content, version) = content_key(&config);
        host.shared_set(&content, rev1.as_bytes(), 0).unwrap();
        host.shared_set(&version, b"9", 0).unwrap();
        let before = host.lines.borrow().len();
        assert_eq!(status(&host, worker.current(&host), "/other/a"), 200);
        assert!(host.lines.borrow()[before..].iter().any(|l| l
            .contains("published policy bundle refused")
            && l.contains("[stale_revision]")));
        let forged = sign(&other, "k1", Kind::Policy, 10, &doc("public"));
        host.shared_set(&content, forged.as_bytes(), 0).unwrap();
        host.shared_set(&version, b"10", 0).unwrap();
        let fresh = Worker::new(&config);
        assert_eq!(status(&host, fresh.current(&host), "/public/a"), 503);
        assert!(host.lines.borrow().iter().any(
            |l| l.contains("published policy bundle refused") && l.contains("[bad_signature]")
        ));
    }

    #[test]
    fn a_bundled_policy_brings_its_own_fetches_and_tick() {
        let k = key(1);
        let config = bundled(&jwk("k1", &k));
        let host = FakeHost::calling();
        let mut root = Root::default();
        assert_eq!(root.configure(&host, &config), Some(250));
        root.on_tick(&host);
        let policy = r#"{"jwtRules": [{"issuer": "https://idp.test", "jwksUri": "http://idp.test/jwks",
            "jwksCache": {"cluster": "idp"}}],
            "revocation": {"feed": {"uri": "http://feed.test/r", "pollMs": 200}},
            "authorizationPolicies": [{"name": "any", "rules": [{}]}]}"#;
        root.on_call_response(
            &host,
            1,
            &Tagged("200", sign(&k, "k1", Kind::Policy, 5, policy), None),
        );
        // The revocation feed of the new policy needs a 100 ms tick.
        host.later_ms.set(1);
        assert_eq!(root.on_tick(&host), Some(100));
        let calls = host.calls.as_ref().unwrap().borrow().clone();
        assert!(calls.contains(&"/r".to_string()), "{calls:?}");
        assert!(calls.contains(&"/jwks".to_string()), "{calls:?}");
        host.later_ms.set(2);
        assert_eq!(root.on_tick(&host), None, "unchanged");
        // A newer bundle replaces the policy while its feed poll is in flight: the poll's
        // answer is still handled (published, lease given back), not dropped.
        let token = |path: &str| {
            let calls = host.calls.as_ref().unwrap().borrow();
            calls
                .iter()
                .rposition(|c| c == path)
                .map(|i| i as u32 + 1)
                .unwrap()
        };
        let feed_token = token("/r");
        host.later_ms.set(1_000);
        root.on_tick(&host);
        let bundle_token = token("/p.bundle");
        root.on_call_response(
            &host,
            bundle_token,
            &Tagged("200", sign(&k, "k1", Kind::Policy, 6, policy), None),
        );
        assert_eq!(count(&host, "vigil_bundle_installed"), 2);
        root.on_call_response(
            &host,
            feed_token,
            &Tagged("200", r#"{"jtis": ["late"]}"#.into(), None),
        );
        assert_eq!(count(&host, "vigil_revocation_poll_ok"), 1);
        let shared = root.shared(&host).unwrap();
        shared.revocation.sync(&host);
        assert!(shared.revocation.snapshot.borrow().jtis.contains("late"));
    }

    const FEED_POLICY: &str = r#"{"revocation": {"feed": {"uri": "http://feed.test/r",
        "pollMs": 500, "maxStaleSeconds": 5, "keys": {"keys": [KEY]}}},
        "authorizationPolicies": [{"name": "any", "rules": [{}]}]}"#;

    #[test]
    fn a_signed_revocation_feed_is_verified_and_fresh_as_its_signature() {
        let k = key(7);
        let policy = FEED_POLICY.replace("KEY", &jwk("feed", &k));
        let host = FakeHost::calling();
        let mut root = Root::default();
        let config = configure(policy.as_bytes()).unwrap();
        root.configure(&host, &config);
        let shared = root.shared(&host).unwrap();
        let stale = |ms: u64| shared.revocation.stale(1_800_000_000_000 + ms);
        assert!(stale(0).is_some(), "not read yet");
        root.on_tick(&host);
        // An unsigned snapshot is refused when the feed has keys.
        root.on_call_response(&host, 1, &Tagged("200", r#"{"jtis": ["a"]}"#.into(), None));
        assert_eq!(count(&host, "vigil_revocation_poll_failed"), 1);
        let line = host.lines.borrow().last().cloned().unwrap_or_default();
        assert!(
            line.contains("signed snapshot refused") && line.contains("[malformed]"),
            "{line}"
        );
        assert!(stale(0).is_some());
        // With maxStaleSeconds, a signed snapshot must say when it was signed.
        host.later_ms.set(500);
        root.on_tick(&host);
        let undated = sign(&k, "feed", Kind::Revocation, 2, r#"{"jtis": ["j-2"]}"#);
        root.on_call_response(&host, 2, &Tagged("200", undated, None));
        let line = host.lines.borrow().last().cloned().unwrap_or_default();
        assert!(line.contains("no `issuedAt`"), "{line}");

        host.later_ms.set(1_000);
        root.on_tick(&host);
        let r2 = sign_at(
            &k,
            "feed",
            Kind::Revocation,
            2,
            r#"{"jtis": ["j-2"]}"#,
            Some(T0 + 1),
        );
        root.on_call_response(&host, 3, &Tagged("200", r2, Some("\"r2\"")));
        assert_eq!(count(&host, "vigil_revocation_poll_ok"), 1);
        assert!(shared.revocation.snapshot.borrow().jtis.contains("j-2"));
        assert!(stale(1_000).is_none());

        // The next poll is conditional and a 304 is a successful poll, but freshness is the
        // signature's: an origin withholding new snapshots cannot keep this one fresh.
        host.later_ms.set(4_000);
        root.on_tick(&host);
        assert_eq!(host.conditions.borrow()[3].as_deref(), Some("\"r2\""));
        root.on_call_response(&host, 4, &Tagged("304", String::new(), None));
        assert_eq!(count(&host, "vigil_revocation_poll_ok"), 2);
        let other = Shared::new(match &config {
            Config::Policy(e) => e.clone(),
            Config::Bundle(_) => unreachable!(),
        });
        other.revocation.sync(&host);
        assert!(other.revocation.snapshot.borrow().jtis.contains("j-2"));
        assert!(other.revocation.stale(1_800_000_000_000 + 5_900).is_none());
        assert!(other.revocation.stale(1_800_000_000_000 + 6_100).is_some());
        assert!(stale(6_100).is_some());

        // A replayed older revision, or another key's, is refused; the snapshot stays.
        host.later_ms.set(4_500);
        root.on_tick(&host);
        let r1 = sign_at(
            &k,
            "feed",
            Kind::Revocation,
            1,
            r#"{"jtis": []}"#,
            Some(T0 + 4),
        );
        root.on_call_response(&host, 5, &Tagged("200", r1, None));
        let line = host.lines.borrow().last().cloned().unwrap_or_default();
        assert!(line.contains("[stale_revision]"), "{line}");
        host.later_ms.set(5_000);
        root.on_tick(&host);
        let forged = sign_at(
            &key(8),
            "feed",
            Kind::Revocation,
            3,
            r#"{"jtis": []}"#,
            Some(T0 + 5),
        );
        root.on_call_response(&host, 6, &Tagged("200", forged, None));
        let line = host.lines.borrow().last().cloned().unwrap_or_default();
        assert!(line.contains("[bad_signature]"), "{line}");
        assert!(shared.revocation.snapshot.borrow().jtis.contains("j-2"));
        assert_eq!(count(&host, "vigil_revocation_poll_failed"), 4);
    }

    #[test]
    fn an_unsigned_feed_is_confirmed_only_by_a_304_it_asked_for() {
        let policy = r#"{"revocation": {"feed": {"uri": "http://feed.test/r", "pollMs": 500, "maxStaleSeconds": 5}},
            "authorizationPolicies": [{"name": "any", "rules": [{}]}]}"#;
        let host = FakeHost::calling();
        let mut root = Root::default();
        root.configure(&host, &configure(policy.as_bytes()).unwrap());
        let shared = root.shared(&host).unwrap();
        root.on_tick(&host);
        root.on_call_response(&host, 1, &Tagged("200", r#"{"jtis": ["a"]}"#.into(), None));
        // No ETag was given: the next poll is not conditional, and a 304 to it is an error.
        host.later_ms.set(4_000);
        root.on_tick(&host);
        assert_eq!(host.conditions.borrow()[1], None);
        root.on_call_response(&host, 2, &Tagged("304", String::new(), None));
        assert_eq!(count(&host, "vigil_revocation_poll_failed"), 1);
        assert!(shared.revocation.stale(1_800_000_000_000 + 5_100).is_some());
        // The same body again confirms it.
        host.later_ms.set(4_600);
        root.on_tick(&host);
        root.on_call_response(&host, 3, &Tagged("200", r#"{"jtis": ["a"]}"#.into(), None));
        assert!(shared.revocation.stale(1_800_000_000_000 + 9_500).is_none());
    }

    #[test]
    fn two_sources_in_one_store_never_share_state() {
        let (k1, k2) = (key(1), key(2));
        let host = FakeHost::calling();
        let a = bundled(&jwk("k", &k1));
        // Another filter in the same vm_id: another key set (and, below, another feed URL).
        let b = bundled(&jwk("k", &k2));
        assert_ne!(content_key(&a), content_key(&b));
        let mut root = Root::default();
        root.configure(&host, &a);
        root.on_tick(&host);
        root.on_call_response(
            &host,
            1,
            &Tagged("200", sign(&k1, "k", Kind::Policy, 1, &doc("public")), None),
        );
        assert_eq!(
            status(&host, Worker::new(&a).current(&host), "/public/a"),
            200
        );
        assert_eq!(
            status(&host, Worker::new(&b).current(&host), "/public/a"),
            503
        );
        let feed = |uri: &str| {
            let p = format!(
                r#"{{"network": {{"lists": {{"x": []}}, "feed": {{"uri": "{uri}"}}}}, "authorizationPolicies": []}}"#
            );
            match configure(p.as_bytes()).unwrap() {
                Config::Policy(e) => e.plan().network.feed.clone().unwrap(),
                Config::Bundle(_) => unreachable!(),
            }
        };
        assert_ne!(
            feed("http://a.test/n").shared_key("netlists"),
            feed("http://b.test/n").shared_key("netlists")
        );
        assert_eq!(
            feed("http://a.test/n").shared_key("netlists"),
            feed("http://a.test/n").shared_key("netlists")
        );
    }

    #[test]
    fn a_bundle_the_store_cannot_hold_is_not_announced() {
        struct Small(FakeHost);
        impl Host for Small {
            fn log(&self, l: Level, m: &str) {
                self.0.log(l, m)
            }
            fn logs_at(&self, l: Level) -> bool {
                self.0.logs_at(l)
            }
            fn now_ms(&self) -> Result<u64, Status> {
                self.0.now_ms()
            }
            fn count(&self, c: Counter, by: u64) {
                self.0.count(c, by)
            }
            fn shared_get(&self, k: &str) -> Result<Option<(Vec<u8>, u32)>, Status> {
                self.0.shared_get(k)
            }
            fn shared_set(&self, k: &str, v: &[u8], cas: u32) -> Result<(), Status> {
                if v.len() > 1_000 {
                    return Err(Status::BAD_ARGUMENT);
                }
                self.0.shared_set(k, v, cas)
            }
            fn http_call(&self, c: &str, h: &[(&str, &str)], t: u32) -> Result<u32, Status> {
                self.0.http_call(c, h, t)
            }
        }
        let k = key(1);
        let config = bundled(&jwk("k1", &k));
        let host = Small(FakeHost::calling());
        let mut root = Root::default();
        root.configure(&host, &config);
        root.on_tick(&host);
        let big = format!(
            r#"{{"description": "{}", "authorizationPolicies": [{{"name": "any", "rules": [{{}}]}}]}}"#,
            "x".repeat(2_000)
        );
        root.on_call_response(
            &host,
            1,
            &Tagged("200", sign(&k, "k1", Kind::Policy, 1, &big), None),
        );
        assert_eq!(count(&host.0, "vigil_bundle_poll_failed"), 1);
        assert_eq!(count(&host.0, "vigil_bundle_installed"), 0);
        assert!(
            host.0.kv.borrow().get(&content_key(&config).1).is_none(),
            "no revision announced"
        );
        assert_eq!(status(&host.0, root.shared(&host), "/x"), 503);
    }

    const SIGNALS: &str = r#"{"network": {"lists": {"blocked": []},
          "feed": {"uri": "http://feeds.test/networks", "pollMs": 1000, "maxStaleSeconds": 10, "keys": {"keys": [KEY]}}},
        "riskLabels": {"feed": {"uri": "http://feeds.test/labels", "pollMs": 1000}},
        "authorizationPolicies": [
          {"name": "blocked", "action": "DENY", "rules": [{"when": [{"key": "network.list[blocked]", "values": ["true"]}]}]},
          {"name": "quarantined", "action": "DENY", "rules": [{"when": [{"key": "subject.labels", "values": ["quarantined"]}]}]},
          {"name": "any", "rules": [{}]}]}"#;

    fn from(ip: &str) -> FakeStream {
        FakeStream {
            source: Some(format!("{ip}:5000")),
            ..FakeStream::get("/x")
        }
    }

    fn decide(host: &FakeHost, shared: &Rc<Shared>, s: &FakeStream) -> (u32, String) {
        match Http::new(Some(shared.clone())).on_request_headers(host, s) {
            Action::Continue => (200, String::new()),
            Action::Pause => s.responses.borrow()[0].clone(),
        }
    }

    #[test]
    fn network_list_and_risk_label_feeds_reach_every_worker() {
        let k = key(5);
        let policy = SIGNALS.replace("KEY", &jwk("feeds", &k));
        let host = FakeHost::calling();
        let mut root = Root::default();
        let config = configure(policy.as_bytes()).unwrap();
        assert_eq!(root.configure(&host, &config), Some(500));
        let shared = root.shared(&host).unwrap();
        // maxStaleSeconds on the network feed: closed until it is read.
        let (status, body) = decide(&host, &shared, &from("192.0.2.1"));
        assert_eq!(status, 503);
        assert!(
            body.contains("network-list feed has not been read yet"),
            "{body}"
        );
        root.on_tick(&host);
        let calls = host.calls.as_ref().unwrap().borrow().clone();
        assert_eq!(calls, ["/networks", "/labels"]);
        // 100,000 ranges, signed.
        let cidrs: Vec<String> = (0..100_000u32)
            .map(|i| format!("\"{}.{}.{}.0/24\"", 20 + (i >> 16), (i >> 8) & 255, i & 255))
            .collect();
        let doc = format!(r#"{{"lists": {{"blocked": [{}]}}}}"#, cidrs.join(","));
        let signed = sign_at(&k, "feeds", Kind::NetworkLists, 1, &doc, Some(T0));
        root.on_call_response(&host, 1, &Tagged("200", signed, Some("\"n1\"")));
        assert_eq!(count(&host, "vigil_network_feed_poll_ok"), 1);
        root.on_call_response(
            &host,
            2,
            &Tagged(
                "200",
                r#"{"labels": [{"principal": "cluster.local/ns/a/sa/bad", "labels": ["quarantined"]}]}"#.into(),
                None,
            ),
        );
        assert_eq!(count(&host, "vigil_labels_feed_poll_ok"), 1);
        assert_eq!(decide(&host, &shared, &from("192.0.2.1")).0, 200);
        let (status, body) = decide(&host, &shared, &from("21.134.159.7"));
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("blocked"), "{body}");

        // Another worker installs both from shared data on its first request.
        let other = Rc::new(Shared::new(match &config {
            Config::Policy(e) => e.clone(),
            Config::Bundle(_) => unreachable!(),
        }));
        assert_eq!(decide(&host, &other, &from("21.134.159.7")).0, 403);
        assert_eq!(other.networks.snapshot.borrow().ranges(), 100_000);
        assert_eq!(other.labels.snapshot.borrow().len(), 1);

        // An unsigned network list is refused (the feed has keys); the last good one stays.
        host.later_ms.set(1_000);
        root.on_tick(&host);
        root.on_call_response(
            &host,
            3,
            &Tagged("200", r#"{"lists": {"blocked": []}}"#.into(), None),
        );
        assert_eq!(count(&host, "vigil_network_feed_poll_failed"), 1);
        assert_eq!(decide(&host, &other, &from("21.134.159.7")).0, 403);
        // And 11 s after it was signed closes the door (maxStaleSeconds 10).
        host.later_ms.set(11_500);
        let (status, body) = decide(&host, &other, &from("192.0.2.1"));
        assert_eq!(status, 503);
        assert!(body.contains("network-list feed is 11 s old"), "{body}");
    }
}
