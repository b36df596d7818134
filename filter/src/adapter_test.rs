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
        calls
            .borrow_mut()
            .push(path.unwrap_or_default().to_string());
        u32::try_from(calls.borrow().len()).map_err(|_| Status::INTERNAL)
    }
}

#[derive(Default)]
struct FakeStream {
    headers: Option<Pairs>,
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
    fn headers(&self) -> Result<Pairs, Status> {
        self.headers.clone().ok_or(Status::INTERNAL)
    }
    fn property_text(&self, _: Property) -> Result<Option<String>, Status> {
        Ok(None)
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
        r.configure(host, Arc::new(engine)),
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
        Http::new(r.shared()).on_request_headers(&host, &allowed),
        Action::Continue
    );
    assert!(allowed.responses.borrow().is_empty());
    let denied = FakeStream::get("/private");
    assert_eq!(
        Http::new(r.shared()).on_request_headers(&host, &denied),
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
    Http::new(r.shared()).on_request_headers(&host, &ok);
    assert!(
        ok.records.borrow().is_empty(),
        "allowed ones are not sampled"
    );
    let no = FakeStream::get("/private?token=secret");
    Http::new(r.shared()).on_request_headers(&host, &no);
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

#[test]
fn an_unreadable_request_is_refused() {
    let host = FakeHost::default();
    let r = root(&host, POLICY);
    let s = FakeStream::default();
    assert_eq!(
        Http::new(r.shared()).on_request_headers(&host, &s),
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
        .configure(&host, Arc::new(compile(REMOTE.as_bytes()).unwrap()))
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
