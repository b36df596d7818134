//! Guests written in WAT: a probe that calls host functions with edge-case arguments (each
//! answer is the ABI status the SDK expects), and hostile modules (out-of-bounds pointers,
//! huge allocations, traps, endless loops, a lying allocator, `proc_exit`). The host reports
//! each as an error value and keeps working for the next instance.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use vigil_host_test::host::{Host, HostError, Limits, Vm};

/// A minimal proxy-wasm module: a bump allocator that records the last size asked for,
/// `load`/`load8` to read memory back, and probes that return a host call's status.
const PROBE: &str = r#"
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_property" (func $get_property (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get_hv (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_pairs" (func $get_pairs (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_shared_data" (func $get_sd (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_shared_data" (func $set_sd (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_register_shared_queue" (func $reg (param i32 i32 i32) (result i32)))
  (import "env" "proxy_dequeue_shared_queue" (func $deq (param i32 i32 i32) (result i32)))
  (import "env" "proxy_define_metric" (func $define (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_increment_metric" (func $inc (param i32 i64) (result i32)))
  (import "env" "proxy_grpc_call" (func $grpc (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_call_foreign_function" (func $foreign (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $eff (param i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $buf (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_http_call" (func $http (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_current_time_nanoseconds" (func $now (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 8192))
  (global $last (mut i32) (i32.const -1))
  (func (export "malloc") (param $n i32) (result i32) (local $p i32)
    (global.set $last (local.get $n))
    (local.set $p (global.get $bump))
    (global.set $bump (i32.add (global.get $bump) (local.get $n)))
    (local.get $p))
  (func (export "last_alloc") (result i32) (global.get $last))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "load8") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (data (i32.const 16) "hello")
  (data (i32.const 32) "no\00such")
  (data (i32.const 48) "key")
  (data (i32.const 64) "plugin_name")
  (data (i32.const 80) "plugin_root_id")
  (data (i32.const 96) "q")
  (data (i32.const 112) "\01\00\00\00\07\00\00\00\01\00\00\00:method\00G\00")
  (data (i32.const 160) "cluster")
  (data (i32.const 176) "\c0\00\00\00\0d\00\00\00")
  (data (i32.const 192) "line 1\0aline 2")
  ;; out slots: 256 ptr, 260 len, 264 cas/id
  (func (export "log_ok") (result i32) (call $log (i32.const 2) (i32.const 16) (i32.const 5)))
  (func (export "log_oob") (result i32) (call $log (i32.const 2) (i32.const 65530) (i32.const 100)))
  (func (export "log_huge") (result i32) (call $log (i32.const 2) (i32.const 0) (i32.const -1)))
  (func (export "log_bad_level") (result i32) (call $log (i32.const 9) (i32.const 16) (i32.const 5)))
  (func (export "prop_missing") (result i32)
    (call $get_property (i32.const 32) (i32.const 7) (i32.const 256) (i32.const 260)))
  (func (export "prop_name") (result i32)
    (call $get_property (i32.const 64) (i32.const 11) (i32.const 256) (i32.const 260)))
  (func (export "prop_name_bad_ret") (result i32)
    (call $get_property (i32.const 64) (i32.const 11) (i32.const 65535) (i32.const 260)))
  (func (export "prop_empty") (result i32)
    (call $get_property (i32.const 80) (i32.const 14) (i32.const 256) (i32.const 260)))
  (func (export "header_in_root") (result i32)
    (call $get_hv (i32.const 0) (i32.const 48) (i32.const 3) (i32.const 256) (i32.const 260)))
  (func (export "pairs_bad_map") (result i32)
    (call $get_pairs (i32.const 99) (i32.const 256) (i32.const 260)))
  (func (export "shared_get") (result i32)
    (call $get_sd (i32.const 48) (i32.const 3) (i32.const 256) (i32.const 260) (i32.const 264)))
  (func (export "shared_set") (param $cas i32) (result i32)
    (call $set_sd (i32.const 48) (i32.const 3) (i32.const 16) (i32.const 5) (local.get $cas)))
  (func (export "queue_register") (result i32)
    (call $reg (i32.const 96) (i32.const 1) (i32.const 264)))
  (func (export "dequeue") (param $id i32) (result i32)
    (call $deq (local.get $id) (i32.const 256) (i32.const 260)))
  (func (export "define_bad_type") (result i32)
    (call $define (i32.const 9) (i32.const 48) (i32.const 3) (i32.const 264)))
  (func (export "define_counter") (result i32)
    (call $define (i32.const 0) (i32.const 48) (i32.const 3) (i32.const 264)))
  (func (export "increment") (param $id i32) (param $by i32) (result i32)
    (call $inc (local.get $id) (i64.extend_i32_s (local.get $by))))
  (func (export "grpc") (result i32)
    (call $grpc (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
                (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 264)))
  (func (export "foreign") (result i32)
    (call $foreign (i32.const 16) (i32.const 5) (i32.const 0) (i32.const 0) (i32.const 256) (i32.const 260)))
  (func (export "effective") (param $id i32) (result i32) (call $eff (local.get $id)))
  (func (export "buffer_bad_type") (result i32)
    (call $buf (i32.const 99) (i32.const 0) (i32.const 10) (i32.const 256) (i32.const 260)))
  (func (export "buffer_config") (param $start i32) (param $max i32) (result i32)
    (call $buf (i32.const 7) (local.get $start) (local.get $max) (i32.const 256) (i32.const 260)))
  (func (export "http_call_no_path") (result i32)
    (call $http (i32.const 160) (i32.const 7) (i32.const 112) (i32.const 22)
                (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const 264)))
  (func (export "now") (result i32) (call $now (i32.const 264)))
  (func (export "stdout") (result i32)
    (call $fd_write (i32.const 1) (i32.const 176) (i32.const 1) (i32.const 264)))
  (func (export "random") (result i32) (call $random (i32.const 512) (i32.const 32)))
  (func (export "random_oob") (result i32) (call $random (i32.const 65530) (i32.const 32)))
  (func (export "path_open") (result i32)
    (call $path_open (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
                     (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 0)))
)
"#;

const OK: i32 = 0;
const NOT_FOUND: i32 = 1;
const BAD_ARGUMENT: i32 = 2;
const EMPTY: i32 = 7;
const CAS_MISMATCH: i32 = 8;
const INTERNAL_FAILURE: i32 = 10;

fn load(host: &Host, wat: &str) -> Result<Vm, HostError> {
    host.load(&wat::parse_str(wat).unwrap())
}

fn call(vm: &mut Vm, name: &str, args: &[i32]) -> i32 {
    vm.call_export(name, args)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .unwrap_or(-1)
}

#[test]
fn hostcalls_answer_edge_cases_with_abi_statuses() {
    let host = Host::new();
    let mut vm = load(&host, PROBE).unwrap();
    let mut c = |name: &str, args: &[i32]| call(&mut vm, name, args);

    assert_eq!(c("log_ok", &[]), OK);
    assert_eq!(c("log_oob", &[]), BAD_ARGUMENT);
    assert_eq!(c("log_huge", &[]), BAD_ARGUMENT);
    assert_eq!(c("log_bad_level", &[]), BAD_ARGUMENT);

    // Properties: unknown → NotFound; found → a buffer of exactly len bytes from the guest's
    // allocator; empty → Ok with NULL and no allocation; bad out-pointer → BadArgument, and
    // nothing allocated.
    assert_eq!(c("prop_missing", &[]), NOT_FOUND);
    assert_eq!(c("prop_name_bad_ret", &[]), BAD_ARGUMENT);
    assert_eq!(c("last_alloc", &[]), -1, "allocated for a bad out-pointer");
    assert_eq!(c("prop_name", &[]), OK);
    assert_eq!(c("last_alloc", &[]), 5);
    assert_eq!(c("load", &[260]), 5);
    let p = c("load", &[256]);
    let bytes: Vec<u8> = (0..5).map(|i| c("load8", &[p + i]) as u8).collect();
    assert_eq!(bytes, b"vigil");
    assert_eq!(c("prop_empty", &[]), OK);
    assert_eq!((c("load", &[256]), c("load", &[260])), (0, 0));
    assert_eq!(c("last_alloc", &[]), 5, "allocated for an empty value");

    // Header maps outside an HTTP context, or of an unknown type.
    assert_eq!(c("header_in_root", &[]), BAD_ARGUMENT);
    assert_eq!(c("pairs_bad_map", &[]), BAD_ARGUMENT);

    // Shared data with CAS.
    assert_eq!(c("shared_get", &[]), NOT_FOUND);
    assert_eq!(c("shared_set", &[0]), OK);
    assert_eq!(c("shared_get", &[]), OK);
    let cas = c("load", &[264]);
    assert_eq!(c("shared_set", &[cas + 1]), CAS_MISMATCH);
    assert_eq!(c("shared_set", &[cas]), OK);
    assert_eq!(
        host.shared_data("key").map(|(v, _)| v),
        Some(b"hello".to_vec())
    );

    // Queues, metrics, gRPC, foreign functions, contexts, buffers, HTTP calls.
    assert_eq!(c("dequeue", &[77]), NOT_FOUND);
    assert_eq!(c("queue_register", &[]), OK);
    let q = c("load", &[264]);
    assert_eq!(c("dequeue", &[q]), EMPTY);
    assert_eq!(c("define_bad_type", &[]), BAD_ARGUMENT);
    assert_eq!(c("increment", &[42, 1]), NOT_FOUND);
    assert_eq!(c("define_counter", &[]), OK);
    let m = c("load", &[264]);
    assert_eq!(c("increment", &[m, 3]), OK);
    assert_eq!(c("increment", &[m, -1]), BAD_ARGUMENT);
    assert_eq!(c("grpc", &[]), INTERNAL_FAILURE);
    assert_eq!(c("foreign", &[]), NOT_FOUND);
    assert_eq!(c("effective", &[999]), BAD_ARGUMENT);
    assert_eq!(c("effective", &[1]), OK);
    assert_eq!(c("buffer_bad_type", &[]), BAD_ARGUMENT);
    assert_eq!(c("buffer_config", &[0, 100]), OK);
    assert_eq!(c("load", &[256]), 0, "empty configuration is NULL");
    assert_eq!(
        c("buffer_config", &[5, 1]),
        BAD_ARGUMENT,
        "start past the end"
    );
    assert_eq!(c("http_call_no_path", &[]), BAD_ARGUMENT);
    assert_eq!(c("now", &[]), OK);

    // WASI.
    assert_eq!(c("stdout", &[]), 0);
    assert_eq!(c("load", &[264]), 13);
    assert_eq!(c("random", &[]), 0);
    assert_eq!(c("random_oob", &[]), 21, "EFAULT");
    assert_eq!(c("path_open", &[]), 52, "ENOSYS");

    assert_eq!(vm.metric("key").map(|m| m.value), Some(3));
    let logs = vm.take_logs();
    let messages: Vec<&str> = logs.iter().map(|l| l.message.as_str()).collect();
    assert!(messages.contains(&"hello"), "{messages:?}");
    assert!(messages.contains(&"line 1"), "{messages:?}");
    // The partial line is flushed at the end of the call.
    assert!(messages.contains(&"line 2"), "{messages:?}");
    assert!(vm.dead().is_none());
}

/// A hostile module: `$body` is the body of a function named by `$export`.
fn hostile(export: &str, params: &str, result: &str, body: &str, malloc: &str) -> String {
    format!(
        r#"(module
  (import "env" "proxy_get_buffer_bytes" (func $buf (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "malloc") (param $n i32) (result i32) {malloc})
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "{export}") {params} {result} {body})
)"#
    )
}

/// A correct module the host must still run after each hostile one.
fn still_works(host: &Host) {
    let mut vm = load(host, PROBE).unwrap();
    assert_eq!(call(&mut vm, "log_ok", &[]), OK);
}

fn trap_message(e: HostError, during: &str) -> String {
    match e {
        HostError::Trap { during: d, message } => {
            assert_eq!(d, during);
            message
        }
        other => panic!("expected a trap in {during}, got {other:?}"),
    }
}

#[test]
fn a_trap_in_request_headers_kills_only_that_vm() {
    let host = Host::new();
    let wat = hostile(
        "proxy_on_request_headers",
        "(param i32 i32 i32)",
        "(result i32)",
        "unreachable",
        "(i32.const 1024)",
    );
    let mut vm = load(&host, &wat).unwrap();
    let e = vm
        .http_request()
        .header(":path", "/")
        .send_headers()
        .unwrap_err();
    let m = trap_message(e, "proxy_on_request_headers");
    assert!(m.contains("unreachable"), "{m}");
    assert!(vm.dead().is_some());
    assert!(matches!(
        vm.http_request().send_headers(),
        Err(HostError::Dead(_))
    ));
    still_works(&host);
}

#[test]
fn an_endless_loop_in_configure_runs_out_of_fuel() {
    let host = Host::new().with_limits(Limits {
        fuel_per_call: 20_000_000,
        ..Limits::default()
    });
    let wat = hostile(
        "proxy_on_configure",
        "(param i32 i32)",
        "(result i32)",
        "(loop $l (br $l)) (i32.const 1)",
        "(i32.const 1024)",
    );
    let mut vm = load(&host, &wat).unwrap();
    let t = std::time::Instant::now();
    let m = trap_message(vm.configure("{}").unwrap_err(), "proxy_on_configure");
    eprintln!("endless loop cut after {:?}: {m}", t.elapsed());
    assert!(m.contains("fuel"), "{m}");
    still_works(&host);
}

#[test]
fn huge_allocations_hit_the_memory_limit() {
    let host = Host::new().with_limits(Limits {
        memory_bytes: 2 << 20,
        ..Limits::default()
    });
    // The guest asks for ~4 GiB: memory.grow fails (-1) under the limit; configure reports it.
    let wat = hostile(
        "proxy_on_configure",
        "(param i32 i32)",
        "(result i32)",
        "(i32.ne (memory.grow (i32.const 65535)) (i32.const -1))",
        "(i32.const 1024)",
    );
    let mut vm = load(&host, &wat).unwrap();
    assert!(matches!(
        vm.configure("{}"),
        Err(HostError::Rejected { .. })
    ));
    // An allocator that grows memory for each request fails under the limit: a 4 MiB
    // configuration cannot be handed over, and the host says why.
    let growing = "(local $p i32) \
        (local.set $p (memory.grow (i32.add (i32.shr_u (local.get $n) (i32.const 16)) (i32.const 1)))) \
        (if (result i32) (i32.eq (local.get $p) (i32.const -1)) \
          (then (i32.const 0)) (else (i32.shl (local.get $p) (i32.const 16))))";
    let wat = hostile(
        "proxy_on_configure",
        "(param $root i32) (param $size i32)",
        "(result i32)",
        "(i32.eqz (call $buf (i32.const 7) (i32.const 0) (local.get $size) (i32.const 16) (i32.const 20)))",
        growing,
    );
    let mut vm = load(&host, &wat).unwrap();
    let m = trap_message(
        vm.configure(vec![b'x'; 4 << 20]).unwrap_err(),
        "proxy_on_configure",
    );
    assert!(m.contains("allocator returned 0x0"), "{m}");
    // The same module with a configuration that fits works.
    let mut vm = load(&host, &wat).unwrap();
    vm.configure(vec![b'x'; 100_000]).unwrap();
    still_works(&host);
}

#[test]
fn a_lying_allocator_is_reported() {
    let host = Host::new();
    let wat = hostile(
        "proxy_on_configure",
        "(param $root i32) (param $size i32)",
        "(result i32)",
        "(i32.eqz (call $buf (i32.const 7) (i32.const 0) (local.get $size) (i32.const 16) (i32.const 20)))",
        "(i32.const 0xfffffff0)",
    );
    let mut vm = load(&host, &wat).unwrap();
    let m = trap_message(vm.configure("{\"a\":1}").unwrap_err(), "proxy_on_configure");
    assert!(
        m.contains("allocator returned 0xfffffff0 for 7 bytes"),
        "{m}"
    );
    assert_eq!(vm.allocator_faults(), 1);
    still_works(&host);
}

#[test]
fn proc_exit_and_bad_modules_are_errors() {
    let host = Host::new();
    let wat = hostile(
        "proxy_on_configure",
        "(param i32 i32)",
        "(result i32)",
        "(call $exit (i32.const 3)) (i32.const 1)",
        "(i32.const 1024)",
    );
    let mut vm = load(&host, &wat).unwrap();
    let m = trap_message(vm.configure("{}").unwrap_err(), "proxy_on_configure");
    assert!(m.contains("proc_exit(3)"), "{m}");

    assert!(matches!(host.load(b"not wasm"), Err(HostError::Compile(_))));
    let no_abi = wat::parse_str(r#"(module (memory (export "memory") 1))"#).unwrap();
    let e = host.load(&no_abi).unwrap_err();
    assert!(e.to_string().contains("proxy_abi_version_0_2_1"), "{e}");
    let odd_import = wat::parse_str(
        r#"(module (import "env" "nope" (func)) (memory (export "memory") 1)
             (func (export "malloc") (param i32) (result i32) (i32.const 0))
             (func (export "proxy_abi_version_0_2_1")))"#,
    )
    .unwrap();
    let e = host.load(&odd_import).unwrap_err();
    assert!(e.to_string().contains("env::nope"), "{e}");
    let wrong_sig = wat::parse_str(
        r#"(module (import "env" "proxy_log" (func (param i64)))
             (memory (export "memory") 1)
             (func (export "malloc") (param i32) (result i32) (i32.const 0))
             (func (export "proxy_abi_version_0_2_1")))"#,
    )
    .unwrap();
    assert!(matches!(host.load(&wrong_sig), Err(HostError::Load(_))));
    still_works(&host);
}

#[test]
fn vms_of_one_host_share_data_and_queues() {
    let host = Host::new();
    let mut a = load(&host, PROBE).unwrap();
    let mut b = load(&host, PROBE).unwrap();
    assert_eq!(call(&mut a, "shared_set", &[0]), OK);
    assert_eq!(call(&mut b, "shared_get", &[]), OK);
    assert_eq!(call(&mut a, "queue_register", &[]), OK);
    assert_eq!(call(&mut b, "queue_register", &[]), OK);
    assert_eq!(call(&mut a, "load", &[264]), call(&mut b, "load", &[264]));
    // Another host shares nothing.
    let mut c = load(&Host::new(), PROBE).unwrap();
    assert_eq!(call(&mut c, "shared_get", &[]), NOT_FOUND);
}
