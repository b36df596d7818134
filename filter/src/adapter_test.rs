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
}

impl Host for FakeHost {
    fn log(&self, _: Level, msg: &str) {
        self.lines.borrow_mut().push(msg.to_string());
    }
    fn logs_at(&self, _: Level) -> bool {
        true
    }
    fn now_ms(&self) -> Result<u64, Status> {
        Ok(1_800_000_000_000)
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
    fn http_call(&self, _: &str, _: &[(&str, &str)], _: u32) -> Result<u32, Status> {
        Err(Status::BAD_ARGUMENT)
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
