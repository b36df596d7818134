//! HTTP callouts (answered by hand, by script, by a real server on 127.0.0.1, or timed out),
//! ticks on the virtual clock, shared-queue notifications, and the check that a filter's
//! actions agree with the decision it logs — with small WAT filters, since Vigil's filter
//! does not use callouts yet.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};
use std::net::TcpListener;
use vigil_host_test::host::check;
use vigil_host_test::host::{Action, Host, HttpResponse, Vm};

/// The `http_auth` pattern: every request pauses and asks cluster `authz` (GET /check); a 2xx
/// resumes it, anything else (or a timeout, or a refused call) is a local 403 / 503. A tick
/// every second logs `tick`; a queue `q` is registered and each item is logged when ready.
const AUTH: &str = r#"
(module
  (import "env" "proxy_http_call" (func $http (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_send_local_response" (func $reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_continue_stream" (func $continue (param i32) (result i32)))
  (import "env" "proxy_set_tick_period_milliseconds" (func $tick_period (param i32) (result i32)))
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get_hv (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_register_shared_queue" (func $reg (param i32 i32 i32) (result i32)))
  (import "env" "proxy_enqueue_shared_queue" (func $enq (param i32 i32 i32) (result i32)))
  (import "env" "proxy_dequeue_shared_queue" (func $deq (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 8192))
  (func (export "malloc") (param $n i32) (result i32) (local $p i32)
    (local.set $p (global.get $bump))
    (global.set $bump (i32.add (global.get $bump) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (data (i32.const 16) "authz")
  (data (i32.const 32) "\03\00\00\00\07\00\00\00\03\00\00\00\05\00\00\00\06\00\00\00\0a\00\00\00\05\00\00\00:method\00GET\00:path\00/check\00:authority\00authz\00")
  (data (i32.const 112) "tick")
  (data (i32.const 120) ":status")
  (data (i32.const 128) "denied")
  (data (i32.const 136) "q")
  (data (i32.const 140) "hi")
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $tick_period (i32.const 1000)))
    (drop (call $reg (i32.const 136) (i32.const 1) (i32.const 600)))
    (i32.const 1))
  (func (export "proxy_on_tick") (param i32)
    (drop (call $log (i32.const 2) (i32.const 112) (i32.const 4))))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (if (call $http (i32.const 16) (i32.const 5) (i32.const 32) (i32.const 70)
                    (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 500) (i32.const 700))
      (then (drop (call $reply (i32.const 503) (i32.const 0) (i32.const 0) (i32.const 128) (i32.const 6)
                              (i32.const 0) (i32.const 0) (i32.const -1)))))
    (i32.const 1))
  (func (export "proxy_on_http_call_response") (param i32 i32 i32 i32 i32)
    (if (i32.and
          (i32.eqz (call $get_hv (i32.const 6) (i32.const 120) (i32.const 7) (i32.const 256) (i32.const 260)))
          (i32.eq (i32.load8_u (i32.load (i32.const 256))) (i32.const 50)))
      (then (drop (call $continue (i32.const 0))))
      (else (drop (call $reply (i32.const 403) (i32.const 0) (i32.const 0) (i32.const 128) (i32.const 6)
                              (i32.const 0) (i32.const 0) (i32.const -1))))))
  (func (export "enqueue") (result i32)
    (call $enq (i32.load (i32.const 600)) (i32.const 140) (i32.const 2)))
  (func (export "proxy_on_queue_ready") (param i32 i32)
    (if (i32.eqz (call $deq (local.get 1) (i32.const 256) (i32.const 260)))
      (then (drop (call $log (i32.const 2) (i32.load (i32.const 256)) (i32.load (i32.const 260)))))))
)
"#;

fn auth_vm(host: &Host) -> Vm {
    let mut vm = host.load(&wat::parse_str(AUTH).unwrap()).unwrap();
    vm.configure("").unwrap();
    vm
}

fn request(vm: &mut Vm) -> vigil_host_test::host::Outcome {
    vm.http_request()
        .header(":method", "GET")
        .header(":path", "/")
        .header(":authority", "app")
        .send_headers()
        .unwrap()
}

#[test]
fn callouts_answered_by_hand() {
    let host = Host::new();
    let mut vm = auth_vm(&host);
    let out = request(&mut vm);
    assert_eq!(out.action(), Some(Action::Pause));
    assert!(!out.done);
    let c = &out.callouts()[0];
    assert_eq!(
        (c.upstream.as_str(), c.header(":path"), c.timeout_ms),
        ("authz", Some("/check"), 500)
    );
    assert_eq!(vm.pending_callouts().len(), 1);
    let r = vm.respond_to_callout(c.token, 200, &[], b"ok").unwrap();
    assert_eq!((r.resumed, r.done), (1, true));
    assert!(r.local_response().is_none());

    let out = request(&mut vm);
    let token = out.callouts()[0].token;
    let r = vm
        .respond_to_callout(token, 500, &[("x", "y")], b"")
        .unwrap();
    assert_eq!(r.local_response().map(|l| l.status), Some(403));
    assert!(vm.open_contexts().is_empty());
    assert!(matches!(
        vm.respond_to_callout(token, 200, &[], b""),
        Err(vigil_host_test::host::HostError::UnknownCallout(_))
    ));
}

#[test]
fn scripted_callouts_and_strict_clusters() {
    let host = Host::new();
    let mut vm = auth_vm(&host);
    vm.script_callouts(
        "authz",
        vec![HttpResponse::new(204, ""), HttpResponse::new(401, "no")],
    );
    let out = request(&mut vm);
    assert_eq!((out.resumed, out.done), (1, true), "{out:?}");
    let out = request(&mut vm);
    assert_eq!(out.local_response().map(|l| l.status), Some(403));
    // Script used up: the next callout waits.
    let out = request(&mut vm);
    assert!(!out.done);

    let mut vm = auth_vm(&host);
    vm.strict_clusters(true);
    let out = request(&mut vm);
    assert_eq!(out.local_response().map(|l| l.status), Some(503));
}

#[test]
fn callouts_to_a_real_server_on_loopback() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    });
    let host = Host::new();
    let mut vm = auth_vm(&host);
    vm.route_cluster("authz", addr);
    let out = request(&mut vm);
    assert_eq!((out.resumed, out.done), (1, true), "{out:?}");
    let seen = server.join().unwrap();
    assert!(seen.starts_with("GET /check HTTP/1.1\r\n"), "{seen}");
    assert!(seen.contains("host: authz\r\n"), "{seen}");

    // A refused connection is a 503 from the "proxy", as in Envoy.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    vm.route_cluster("authz", closed);
    let out = request(&mut vm);
    assert_eq!(out.local_response().map(|l| l.status), Some(403));
}

#[test]
fn virtual_clock_fires_ticks_and_times_out_callouts() {
    let host = Host::new();
    let mut vm = auth_vm(&host);
    let out = request(&mut vm);
    assert!(!out.done);
    let t = vm.advance_clock(600).unwrap();
    assert_eq!(t.ticks, 0);
    assert_eq!(t.delivered.len(), 1, "the callout timed out");
    assert_eq!(t.delivered[0].local_response().map(|l| l.status), Some(403));
    assert!(vm.open_contexts().is_empty());
    let t = vm.advance_clock(2_400).unwrap();
    assert_eq!(t.ticks, 3);
    assert_eq!(t.logs().iter().filter(|l| l.message == "tick").count(), 3);
}

#[test]
fn queue_items_are_announced_after_the_call() {
    let host = Host::new();
    let mut vm = auth_vm(&host);
    vm.take_logs();
    assert_eq!(vm.call_export("enqueue", &[]).unwrap(), Some(0));
    let logs = vm.take_logs();
    assert!(logs.iter().any(|l| l.message == "hi"), "{logs:?}");
}

/// A filter that logs a 403 decision but lets the request through.
#[test]
fn a_filter_that_does_not_enforce_its_decision_is_caught() {
    let line = r#"vigil decision {"decision":"deny","status":403,"code":"denied_by_policy","reason":"no","policy":null,"rule":null,"principal":null,"responseHeaders":{},"upstreamHeaders":{},"removeHeaders":[],"audit":[],"dryRun":false}"#;
    let wat = format!(
        r#"(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "malloc") (param i32) (result i32) (i32.const 4096))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (data (i32.const 16) "{}")
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $log (i32.const 2) (i32.const 16) (i32.const {})))
    (i32.const 0)))"#,
        line.replace('"', "\\\""),
        line.len()
    );
    let host = Host::new();
    let mut vm = host.load(&wat::parse_str(&wat).unwrap()).unwrap();
    let req = policy_core::CheckRequest::new("GET", "/", "app");
    let d = check::decide(&mut vm, &req, 1_700_000_000).unwrap();
    assert_eq!(d.decision.status, 403);
    assert!(
        d.disagreements
            .iter()
            .any(|m| m.contains("sent no local response")),
        "{:?}",
        d.disagreements
    );
    assert!(
        d.disagreements
            .iter()
            .any(|m| m.contains("instead of Pause")),
        "{:?}",
        d.disagreements
    );
}
