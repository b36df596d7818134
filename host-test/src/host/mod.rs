//! # A proxy-wasm host on wasmtime
//!
//! Drives a compiled proxy-wasm filter (ABI 0.2.1, e.g. `dist/filter.wasm`) off-proxy, the way
//! Envoy would, so its decisions can be tested without a proxy:
//!
//! ```no_run
//! # fn main() -> Result<(), vigil_host_test::host::HostError> {
//! use vigil_host_test::host::{Action, Host};
//! let wasm = std::fs::read("dist/filter.wasm").unwrap_or_default();
//! let mut vm = Host::new().load(&wasm)?;
//! vm.configure(r#"{"authorizationPolicies": []}"#)?;
//! let out = vm
//!     .http_request()
//!     .header(":method", "GET")
//!     .header(":path", "/")
//!     .header(":authority", "api.example.com")
//!     .property(&["source", "address"], "10.0.0.1:5000")
//!     .send_headers()?;
//! if let Some(r) = out.local_response() {
//!     println!("{} {:?}", r.status, r.headers);
//! }
//! assert!(matches!(out.action(), Some(Action::Continue | Action::Pause)));
//! # Ok(()) }
//! ```
//!
//! * [`Host`]: one wasmtime engine and the state its VMs share (shared data, queues). Compile a
//!   module once ([`Host::compile`]) and instantiate it as often as needed.
//! * [`Vm`]: one instance with its own `Store` (memory limit, fuel per call): configure it,
//!   send requests, answer HTTP callouts, advance its virtual clock (which fires ticks).
//! * [`check`]: a Vigil check request → proxy-wasm request, and the decision read back.
//!
//! What this module must never do: panic, or let a guest crash the host. Bad pointers are
//! answered with ABI status codes; a trap, `proc_exit`, running out of fuel (an endless loop)
//! or a misbehaving allocator is a [`HostError`] and leaves that VM dead, never the process.
//! No global state: every test may own its hosts and run in parallel.

pub mod abi;
pub mod check;
mod http;
mod memory;
mod state;
mod wasi;

pub use state::HeaderMap;
use state::{lock, property_path, CallResponse, Metrics, Props, Shared, State, Stream};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use wasmtime::{
    Config, Engine, Instance, InstancePre, Linker, Module, Store, StoreLimitsBuilder, Trap,
    TypedFunc, Val,
};

// ---------------------------------------------------------------------------------------------
// Errors

/// Why the host could not do what was asked. Messages are lower-case.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostError {
    /// The bytes are not a Wasm module wasmtime can compile.
    Compile(String),
    /// The module cannot be used as a proxy-wasm filter (imports, exports, instantiation).
    Load(String),
    /// The guest trapped (a panic, `unreachable`, an out-of-bounds access, `proc_exit`, fuel
    /// exhausted by an endless loop, an allocator returning garbage). The VM is dead.
    Trap {
        /// The callback that was running (`proxy_on_configure`, ...).
        during: String,
        /// What happened.
        message: String,
    },
    /// `proxy_on_vm_start` or `proxy_on_configure` returned false.
    Rejected {
        /// The callback.
        during: String,
        /// The last error (or, failing that, warning) the filter logged during it.
        message: String,
    },
    /// The VM trapped earlier; it takes no more calls (make a new one).
    Dead(String),
    /// No HTTP callout with this token is pending.
    UnknownCallout(u32),
    /// No live HTTP context with this id.
    UnknownContext(u32),
    /// The filter did something the caller cannot interpret (e.g. no decision logged).
    Protocol(String),
}

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostError::Compile(m) => write!(f, "cannot compile the module: {m}"),
            HostError::Load(m) => write!(f, "cannot load the module: {m}"),
            HostError::Trap { during, message } => {
                write!(f, "the guest trapped in `{during}`: {message}")
            }
            HostError::Rejected { during, message } => {
                write!(f, "`{during}` returned false")?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            HostError::Dead(m) => write!(f, "the vm is dead after an earlier trap ({m})"),
            HostError::UnknownCallout(t) => write!(f, "no pending http callout with token {t}"),
            HostError::UnknownContext(c) => write!(f, "no live http context {c}"),
            HostError::Protocol(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for HostError {}

// ---------------------------------------------------------------------------------------------
// Limits and records

/// Per-VM limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest linear memory, in bytes (growth beyond fails, as `memory.grow` returning -1).
    pub memory_bytes: usize,
    /// Fuel for each top-level call into the guest (about one unit per Wasm instruction);
    /// running out traps, which is how an endless loop is cut.
    pub fuel_per_call: u64,
    /// Largest single buffer the host reads from guest memory.
    pub max_read: u32,
    /// Largest total size of shared data (and of queued items) per host.
    pub max_shared_bytes: usize,
    /// Log entries kept between [`Vm::take_logs`] calls (older ones are dropped).
    pub max_log_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 256 << 20,
            fuel_per_call: 4_000_000_000,
            max_read: 64 << 20,
            max_shared_bytes: 64 << 20,
            max_log_entries: 100_000,
        }
    }
}

/// One line the guest logged (`proxy_log`, or a line on stdout/stderr).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// 0 trace, 1 debug, 2 info, 3 warn, 4 error, 5 critical.
    pub level: u32,
    /// The message.
    pub message: String,
    /// The effective context when it was logged.
    pub context_id: u32,
}

/// A local response the filter sent (`proxy_send_local_response`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalResponse {
    /// HTTP status.
    pub status: u32,
    /// Status details.
    pub details: String,
    /// Headers, as sent.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// gRPC status (-1 for none).
    pub grpc_status: i32,
}

impl LocalResponse {
    /// A header's value (case-insensitive; the first one).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// The body as text (lossy).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// An HTTP callout the filter dispatched (`proxy_http_call`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callout {
    /// Its token.
    pub token: u32,
    /// The context that dispatched it.
    pub context_id: u32,
    /// The cluster.
    pub upstream: String,
    /// Request headers (with `:method`, `:path`, `:authority`).
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Vec<u8>,
    /// Request trailers.
    pub trailers: Vec<(String, String)>,
    /// Timeout in milliseconds.
    pub timeout_ms: u32,
    /// Virtual-clock deadline (ns); reaching it delivers a timeout (no headers, no body).
    pub deadline_ns: u64,
}

impl Callout {
    /// A request header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response to an HTTP callout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status (becomes the `:status` header).
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// Trailers.
    pub trailers: Vec<(String, String)>,
}

impl HttpResponse {
    /// A response with a status and a body.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        HttpResponse {
            status,
            body: body.into(),
            ..HttpResponse::default()
        }
    }
    /// Adds a header.
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
}

/// How the host answers callouts to one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Scripted responses, answered in order (once used up, callouts stay pending).
    Scripted(VecDeque<HttpResponse>),
    /// A real HTTP/1.1 server on 127.0.0.1 (other addresses are refused with a 503).
    Http(SocketAddr),
}

/// What the filter returned from a request callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Continue the stream.
    Continue,
    /// Pause it.
    Pause,
    /// A value the ABI does not define.
    Other(u32),
}

/// Metric types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// A counter.
    Counter,
    /// A gauge.
    Gauge,
    /// A histogram.
    Histogram,
}

impl MetricKind {
    fn from_code(c: u32) -> Option<Self> {
        Some(match c {
            0 => MetricKind::Counter,
            1 => MetricKind::Gauge,
            2 => MetricKind::Histogram,
            _ => return None,
        })
    }
}

/// One metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    /// Its name.
    pub name: String,
    /// Its type.
    pub kind: MetricKind,
    /// Counter / gauge value (for a histogram: the number of samples).
    pub value: i64,
    /// Histogram samples (at most 10,000 kept).
    pub samples: Vec<u64>,
}

// ---------------------------------------------------------------------------------------------
// Host and compiled filters

/// One wasmtime engine, the limits for the VMs it makes, and the state they share (shared
/// data, shared queues). Cheap to clone (clones share that state).
#[derive(Clone)]
pub struct Host {
    engine: Result<Engine, String>,
    shared: Arc<Mutex<Shared>>,
    limits: Limits,
    vm_id: String,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("limits", &self.limits)
            .field("vm_id", &self.vm_id)
            .finish_non_exhaustive()
    }
}

impl Default for Host {
    fn default() -> Self {
        Host::new()
    }
}

/// A compiled filter: compile once, instantiate many times.
#[derive(Clone)]
pub struct Filter {
    pre: InstancePre<State>,
    allocator: &'static str,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("allocator", &self.allocator)
            .finish_non_exhaustive()
    }
}

fn error_text(e: &wasmtime::Error) -> String {
    let mut s = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if !s.contains(&c) {
            if !s.is_empty() {
                s.push_str(": ");
            }
            s.push_str(&c);
        }
    }
    s
}

impl Host {
    /// A host with default [`Limits`]: Cranelift, fuel metering on.
    pub fn new() -> Host {
        let mut config = Config::new();
        config.consume_fuel(true);
        Host {
            engine: Engine::new(&config).map_err(|e| error_text(&e)),
            shared: Arc::new(Mutex::new(Shared::default())),
            limits: Limits::default(),
            vm_id: String::new(),
        }
    }

    /// Sets the limits of the VMs made from now on.
    pub fn with_limits(mut self, limits: Limits) -> Host {
        self.limits = limits;
        self
    }

    /// Sets the `vm_id` of the VMs made from now on (shared queues are named per vm_id).
    pub fn with_vm_id(mut self, vm_id: &str) -> Host {
        self.vm_id = vm_id.to_string();
        self
    }

    /// The limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn engine(&self) -> Result<&Engine, HostError> {
        self.engine
            .as_ref()
            .map_err(|e| HostError::Load(format!("cannot create the wasmtime engine: {e}")))
    }

    /// Compiles a module and checks that it is a proxy-wasm 0.2.1 filter.
    pub fn compile(&self, wasm: &[u8]) -> Result<Filter, HostError> {
        let engine = self.engine()?;
        let module = Module::new(engine, wasm).map_err(|e| HostError::Compile(error_text(&e)))?;
        let exports: Vec<&str> = module.exports().map(|e| e.name()).collect();
        if !exports.contains(&"proxy_abi_version_0_2_1") {
            return Err(HostError::Load(
                "not a proxy-wasm ABI 0.2.1 module (no `proxy_abi_version_0_2_1` export)".into(),
            ));
        }
        if !exports.contains(&"memory") {
            return Err(HostError::Load("the module exports no `memory`".into()));
        }
        let allocator = if exports.contains(&"proxy_on_memory_allocate") {
            "proxy_on_memory_allocate"
        } else if exports.contains(&"malloc") {
            "malloc"
        } else {
            return Err(HostError::Load(
                "the module exports no allocator (`proxy_on_memory_allocate` or `malloc`)".into(),
            ));
        };
        for import in module.imports() {
            let known = match import.module() {
                "env" => abi::HOSTCALLS.contains(&import.name()),
                "wasi_snapshot_preview1" => true,
                _ => false,
            };
            if !known {
                return Err(HostError::Load(format!(
                    "the module imports `{}::{}`, which this host does not provide",
                    import.module(),
                    import.name()
                )));
            }
        }
        let mut linker = Linker::new(engine);
        abi::register(&mut linker).map_err(|e| HostError::Load(error_text(&e)))?;
        wasi::register(&mut linker, &module).map_err(|e| HostError::Load(error_text(&e)))?;
        let pre = linker
            .instantiate_pre(&module)
            .map_err(|e| HostError::Load(error_text(&e)))?;
        Ok(Filter { pre, allocator })
    }

    /// Instantiates a compiled filter: `_initialize`, the root context, `proxy_on_vm_start`.
    pub fn instantiate(&self, filter: &Filter) -> Result<Vm, HostError> {
        self.instantiate_with(filter, &[])
    }

    /// Like [`Host::instantiate`], with a VM configuration (for `proxy_on_vm_start`).
    pub fn instantiate_with(&self, filter: &Filter, vm_config: &[u8]) -> Result<Vm, HostError> {
        let engine = self.engine()?;
        let serial = {
            let mut s = lock(&self.shared);
            s.next_serial += 1;
            s.next_serial
        };
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.limits.memory_bytes)
            .instances(1)
            .tables(4)
            .memories(1)
            .table_elements(1_000_000)
            .build();
        let mut properties = Props::new();
        for (k, v) in [
            ("plugin_name", "vigil"),
            ("plugin_root_id", ""),
            ("plugin_vm_id", self.vm_id.as_str()),
        ] {
            properties.insert(k.as_bytes().to_vec(), v.as_bytes().to_vec());
        }
        let state = State {
            limits,
            limits_cfg: self.limits,
            memory: None,
            allocator: None,
            allocator_faults: 0,
            shared: self.shared.clone(),
            vm_id: self.vm_id.clone(),
            vm_serial: serial,
            clock_ns: 1_700_000_000 * 1_000_000_000,
            log_level: 0,
            logs: VecDeque::new(),
            logs_dropped: 0,
            stdout: Vec::new(),
            stderr: Vec::new(),
            plugin_config: Vec::new(),
            vm_config: vm_config.to_vec(),
            properties,
            root_id: 1,
            effective: 1,
            streams: BTreeMap::new(),
            tick_period_ms: 0,
            next_tick_ns: None,
            callouts: BTreeMap::new(),
            dispatched: Vec::new(),
            next_token: 0,
            routes: BTreeMap::new(),
            strict_clusters: false,
            call_response: None,
            metrics: Metrics::default(),
            hostcalls: HashMap::new(),
            done_calls: 0,
            proc_exit: None,
        };
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limits);
        store
            .set_fuel(self.limits.fuel_per_call)
            .map_err(|e| HostError::Load(error_text(&e)))?;
        let instance = filter.pre.instantiate(&mut store).map_err(|e| {
            trap_error("instantiate", &e, store.data())
                .unwrap_or_else(|| HostError::Load(error_text(&e)))
        })?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| HostError::Load("the module exports no `memory`".into()))?;
        let allocator = instance
            .get_typed_func::<u32, u32>(&mut store, filter.allocator)
            .map_err(|e| {
                HostError::Load(format!(
                    "`{}` has the wrong signature: {}",
                    filter.allocator,
                    error_text(&e)
                ))
            })?;
        store.data_mut().memory = Some(memory);
        store.data_mut().allocator = Some(allocator);
        let exports = Arc::new(Exports::find(&instance, &mut store)?);
        let mut vm = Vm {
            store,
            instance,
            exports,
            dead: None,
            next_context: 1,
            fuel_used: 0,
        };
        for start in ["_initialize", "_start"] {
            if let Some(f) = instance.get_func(&mut vm.store, start) {
                let f = f
                    .typed::<(), ()>(&vm.store)
                    .map_err(|e| HostError::Load(format!("`{start}`: {}", error_text(&e))))?;
                vm.guest(start, |s| f.call(s, ()))?;
                break;
            }
        }
        let ex = Arc::clone(&vm.exports);
        vm.guest("proxy_on_context_create", |s| {
            ex.context_create.call(s, (1, 0))
        })?;
        if let Some(start) = &ex.vm_start {
            let len = u32::try_from(vm_config.len()).unwrap_or(u32::MAX);
            let ok = vm.guest("proxy_on_vm_start", |s| start.call(s, (1, len)))?;
            if ok == 0 {
                return Err(vm.rejected("proxy_on_vm_start"));
            }
        }
        Ok(vm)
    }

    /// Compiles and instantiates in one step.
    pub fn load(&self, wasm: &[u8]) -> Result<Vm, HostError> {
        let filter = self.compile(wasm)?;
        self.instantiate(&filter)
    }

    /// A shared-data entry (value and CAS) as the VMs of this host see it.
    pub fn shared_data(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        lock(&self.shared).data.get(key.as_bytes()).cloned()
    }

    /// Removes every shared-data entry whose key starts with `prefix`.
    pub fn clear_shared_prefix(&self, prefix: &str) {
        lock(&self.shared)
            .data
            .retain(|k, _| !k.starts_with(prefix.as_bytes()));
    }

    /// Sets a shared-data entry unconditionally.
    pub fn set_shared_data(&self, key: &str, value: &[u8]) {
        let mut s = lock(&self.shared);
        let max = usize::MAX;
        // An unconditional set (CAS 0) cannot fail but for size, which is unbounded here.
        let _ = s.set(key.as_bytes().to_vec(), value.to_vec(), 0, max);
    }
}

/// Turns a wasmtime error from a guest call into a [`HostError::Trap`] (`None` if it is not
/// a trap of the guest's making).
fn trap_error(during: &str, e: &wasmtime::Error, state: &State) -> Option<HostError> {
    let message = if let Some(code) = state.proc_exit {
        format!("the guest called proc_exit({code})")
    } else if let Some(t) = e.downcast_ref::<Trap>() {
        match t {
            Trap::OutOfFuel => format!(
                "ran out of fuel ({} units per call): an endless loop?",
                state.limits_cfg.fuel_per_call
            ),
            other => format!("{other}"),
        }
    } else {
        error_text(e)
    };
    Some(HostError::Trap {
        during: during.to_string(),
        message,
    })
}

// ---------------------------------------------------------------------------------------------
// VMs

type F1 = TypedFunc<u32, ()>;
type F2 = TypedFunc<(u32, u32), ()>;
type F2R = TypedFunc<(u32, u32), u32>;
type F3R = TypedFunc<(u32, u32, u32), u32>;
type F5 = TypedFunc<(u32, u32, u32, u32, u32), ()>;

#[derive(Clone)]
struct Exports {
    context_create: F2,
    vm_start: Option<F2R>,
    configure: Option<F2R>,
    request_headers: Option<F3R>,
    request_body: Option<F3R>,
    done: Option<TypedFunc<u32, u32>>,
    log: Option<F1>,
    delete: Option<F1>,
    tick: Option<F1>,
    queue_ready: Option<F2>,
    http_call_response: Option<F5>,
}

impl Exports {
    fn find(instance: &Instance, store: &mut Store<State>) -> Result<Self, HostError> {
        fn get<P, R>(
            instance: &Instance,
            store: &mut Store<State>,
            name: &str,
        ) -> Result<Option<TypedFunc<P, R>>, HostError>
        where
            P: wasmtime::WasmParams,
            R: wasmtime::WasmResults,
        {
            match instance.get_func(&mut *store, name) {
                None => Ok(None),
                Some(f) => f.typed::<P, R>(&*store).map(Some).map_err(|e| {
                    HostError::Load(format!(
                        "export `{name}` has the wrong signature: {}",
                        error_text(&e)
                    ))
                }),
            }
        }
        Ok(Exports {
            context_create: get(instance, store, "proxy_on_context_create")?.ok_or_else(|| {
                HostError::Load("the module exports no `proxy_on_context_create`".into())
            })?,
            vm_start: get(instance, store, "proxy_on_vm_start")?,
            configure: get(instance, store, "proxy_on_configure")?,
            request_headers: get(instance, store, "proxy_on_request_headers")?,
            request_body: get(instance, store, "proxy_on_request_body")?,
            done: get(instance, store, "proxy_on_done")?,
            log: get(instance, store, "proxy_on_log")?,
            delete: get(instance, store, "proxy_on_delete")?,
            tick: get(instance, store, "proxy_on_tick")?,
            queue_ready: get(instance, store, "proxy_on_queue_ready")?,
            http_call_response: get(instance, store, "proxy_on_http_call_response")?,
        })
    }
}

/// One instance of a filter, with its own store, memory limit and virtual clock.
pub struct Vm {
    store: Store<State>,
    instance: Instance,
    exports: Arc<Exports>,
    dead: Option<String>,
    next_context: u32,
    fuel_used: u64,
}

impl std::fmt::Debug for Vm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vm")
            .field("state", self.store.data())
            .field("dead", &self.dead)
            .finish_non_exhaustive()
    }
}

/// What one top-level call into the filter did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The HTTP context the call was about (the root context for ticks).
    pub context_id: u32,
    /// What `proxy_on_request_headers` returned (None for other calls).
    pub action: Option<Action>,
    /// Local responses sent on this stream (normally at most one).
    pub local_responses: Vec<LocalResponse>,
    /// The request headers after the filter's changes.
    pub request_headers: Vec<(String, String)>,
    /// Times the filter resumed the request (`proxy_continue_stream`).
    pub resumed: u32,
    /// Lines logged during the call.
    pub logs: Vec<LogEntry>,
    /// HTTP callouts dispatched during the call (still pending unless answered by a route).
    pub callouts: Vec<Callout>,
    /// True when the stream finished (`proxy_on_done` / `proxy_on_delete` ran).
    pub done: bool,
    /// Ticks fired (for [`Vm::advance_clock`]).
    pub ticks: u32,
    /// HTTP callout responses delivered during the call (scripted, real, or timeouts): the
    /// outcome of each, for the context that made the callout.
    pub delivered: Vec<Outcome>,
}

impl Outcome {
    /// Adds what deferred work did: its logs (moved out of each delivery) and deliveries; a
    /// delivery to this outcome's own stream updates its result.
    fn absorb(&mut self, mut later: Outcome) {
        self.logs.append(&mut later.logs);
        for mut d in later.delivered {
            self.logs.append(&mut d.logs);
            if d.context_id == self.context_id && self.context_id != 0 {
                if !d.local_responses.is_empty() {
                    self.local_responses = d.local_responses.clone();
                }
                if !d.request_headers.is_empty() {
                    self.request_headers = d.request_headers.clone();
                }
                self.resumed = self.resumed.max(d.resumed);
                self.done |= d.done;
            }
            self.delivered.push(d);
        }
    }

    /// The local response, if the filter sent one.
    pub fn local_response(&self) -> Option<&LocalResponse> {
        self.local_responses.first()
    }
    /// What `proxy_on_request_headers` returned.
    pub fn action(&self) -> Option<Action> {
        self.action
    }
    /// The request headers after the filter's changes.
    pub fn request_headers(&self) -> &[(String, String)] {
        &self.request_headers
    }
    /// Every value of one request header (case-insensitive), after the filter's changes.
    pub fn request_header(&self, name: &str) -> Vec<&str> {
        self.request_headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
    /// The logs of the call.
    pub fn logs(&self) -> &[LogEntry] {
        &self.logs
    }
    /// Callouts dispatched during the call.
    pub fn callouts(&self) -> &[Callout] {
        &self.callouts
    }
}

/// Most chained deferred deliveries (callout answers, queue notifications) per call.
const MAX_PUMP: usize = 1_000;

impl Vm {
    /// Runs one guest function with fresh fuel; a trap kills the VM.
    fn guest<T>(
        &mut self,
        during: &str,
        f: impl FnOnce(&mut Store<State>) -> wasmtime::Result<T>,
    ) -> Result<T, HostError> {
        if let Some(d) = &self.dead {
            return Err(HostError::Dead(d.clone()));
        }
        let fuel = self.store.data().limits_cfg.fuel_per_call;
        // Fuel is always enabled by `Host::new`.
        let _ = self.store.set_fuel(fuel);
        let r = f(&mut self.store);
        self.fuel_used = fuel.saturating_sub(self.store.get_fuel().unwrap_or(0));
        wasi::flush(self.store.data_mut());
        self.store.data_mut().push_logs();
        match r {
            Ok(v) => Ok(v),
            Err(e) => {
                let err =
                    trap_error(during, &e, self.store.data()).unwrap_or_else(|| HostError::Trap {
                        during: during.to_string(),
                        message: error_text(&e),
                    });
                self.dead = Some(err.to_string());
                Err(err)
            }
        }
    }

    fn rejected(&mut self, during: &str) -> HostError {
        let logs = &self.store.data().logs;
        let pick = |min: u32| {
            logs.iter()
                .rev()
                .find(|l| l.level >= min)
                .map(|l| l.message.clone())
        };
        HostError::Rejected {
            during: during.to_string(),
            message: pick(4).or_else(|| pick(3)).unwrap_or_default(),
        }
    }

    /// The reason this VM is dead, if a guest call trapped.
    pub fn dead(&self) -> Option<&str> {
        self.dead.as_deref()
    }

    /// Sets the plugin configuration and calls `proxy_on_configure`; `Rejected` (with the
    /// filter's own error message) when it returns false.
    pub fn configure(&mut self, config: impl AsRef<[u8]>) -> Result<(), HostError> {
        let config = config.as_ref();
        self.store.data_mut().plugin_config = config.to_vec();
        let ex = Arc::clone(&self.exports);
        let Some(f) = &ex.configure else {
            return Ok(());
        };
        let root = self.store.data().root_id;
        self.store.data_mut().effective = root;
        let len = u32::try_from(config.len()).unwrap_or(u32::MAX);
        let ok = self.guest("proxy_on_configure", |s| f.call(s, (root, len)))?;
        self.pump_to_buffer()?;
        if ok == 0 {
            return Err(self.rejected("proxy_on_configure"));
        }
        Ok(())
    }

    /// Starts an HTTP request.
    pub fn http_request(&mut self) -> RequestBuilder<'_> {
        RequestBuilder {
            vm: self,
            stream: Stream::default(),
            end_of_stream: true,
        }
    }

    fn snapshot(&mut self, context_id: u32, log_from: usize) -> Outcome {
        let st = self.store.data_mut();
        let logs = st.logs.iter().skip(log_from).cloned().collect();
        st.logs.truncate(log_from);
        let callouts = std::mem::take(&mut st.dispatched);
        let mut out = Outcome {
            context_id,
            logs,
            callouts,
            ..Outcome::default()
        };
        if let Some(s) = st.streams.get(&context_id) {
            out.local_responses = s.local_responses.clone();
            out.request_headers = s.request_headers.to_strings();
            out.resumed = s.resumed;
        }
        out
    }

    /// True when a stream has nothing more to wait for.
    fn finished(&self, id: u32, action: Option<Action>) -> bool {
        self.store.data().streams.get(&id).is_some_and(|s| {
            !s.local_responses.is_empty()
                || s.closed
                || (!s.keep_open && (s.resumed > 0 || action == Some(Action::Continue)))
        })
    }

    /// Ends a stream: `proxy_on_done`, `proxy_on_log`, `proxy_on_delete`.
    pub fn finish(&mut self, context_id: u32) -> Result<(), HostError> {
        if !self.store.data().streams.contains_key(&context_id) {
            return Err(HostError::UnknownContext(context_id));
        }
        self.store.data_mut().effective = context_id;
        let ex = Arc::clone(&self.exports);
        let r = (|| {
            if let Some(f) = &ex.done {
                self.guest("proxy_on_done", |s| f.call(s, context_id))?;
            }
            if let Some(f) = &ex.log {
                self.guest("proxy_on_log", |s| f.call(s, context_id))?;
            }
            if let Some(f) = &ex.delete {
                self.guest("proxy_on_delete", |s| f.call(s, context_id))?;
            }
            Ok(())
        })();
        let st = self.store.data_mut();
        st.streams.remove(&context_id);
        // Callouts of a finished stream are cancelled, as a proxy does.
        st.callouts.retain(|_, c| c.context_id != context_id);
        st.effective = st.root_id;
        r
    }

    fn send(&mut self, stream: Stream, end_of_stream: bool) -> Result<Outcome, HostError> {
        let id = self
            .next_context
            .checked_add(1)
            .ok_or_else(|| HostError::Protocol("context ids exhausted; make a new vm".into()))?;
        self.next_context = id;
        let num_headers = u32::try_from(stream.request_headers.len()).unwrap_or(u32::MAX);
        let body_len = u32::try_from(stream.request_body.len()).unwrap_or(u32::MAX);
        let root = self.store.data().root_id;
        let log_from = self.store.data().logs.len();
        {
            let st = self.store.data_mut();
            st.streams.insert(id, stream);
            st.effective = id;
        }
        let ex = Arc::clone(&self.exports);
        self.guest("proxy_on_context_create", |s| {
            ex.context_create.call(s, (id, root))
        })?;
        let mut action = None;
        if let Some(f) = &ex.request_headers {
            let eos = u32::from(end_of_stream && body_len == 0);
            self.store.data_mut().effective = id;
            let a = self.guest("proxy_on_request_headers", |s| {
                f.call(s, (id, num_headers, eos))
            })?;
            action = Some(match a {
                0 => Action::Continue,
                1 => Action::Pause,
                n => Action::Other(n),
            });
        }
        let no_reply = self
            .store
            .data()
            .streams
            .get(&id)
            .is_some_and(|s| s.local_responses.is_empty());
        if body_len > 0 && action == Some(Action::Continue) && no_reply {
            if let Some(f) = &ex.request_body {
                self.store.data_mut().effective = id;
                self.guest("proxy_on_request_body", |s| {
                    f.call(s, (id, body_len, u32::from(end_of_stream)))
                })?;
            }
        }
        self.store.data_mut().effective = root;
        let mut out = self.snapshot(id, log_from);
        out.action = action;
        let later = self.pump()?;
        out.absorb(later);
        if self.store.data().streams.contains_key(&id) {
            if self.finished(id, action) {
                let log_from = self.store.data().logs.len();
                self.finish(id)?;
                out.logs.extend(self.snapshot(id, log_from).logs);
                out.done = true;
            }
        } else {
            out.done = true;
        }
        Ok(out)
    }

    /// Delivers deferred work: callouts answered by routes, queue notifications. Returns
    /// the logs it produced and the outcomes of the callout responses it delivered.
    fn pump(&mut self) -> Result<Outcome, HostError> {
        let mut logs = Vec::new();
        let mut delivered = Vec::new();
        for _ in 0..MAX_PUMP {
            let serial = self.store.data().vm_serial;
            let ready: Vec<(u32, u32)> = {
                let mut sh = self.store.data().shared_lock();
                let mut mine = Vec::new();
                sh.ready.retain(|&(owner, root, q)| {
                    if owner == serial {
                        mine.push((root, q));
                        false
                    } else {
                        true
                    }
                });
                mine
            };
            let routed = self.next_routed();
            if ready.is_empty() && routed.is_none() {
                break;
            }
            for (root, q) in ready {
                let ex = Arc::clone(&self.exports);
                if let Some(f) = &ex.queue_ready {
                    let from = self.store.data().logs.len();
                    self.store.data_mut().effective = root;
                    self.guest("proxy_on_queue_ready", |s| f.call(s, (root, q)))?;
                    logs.extend(self.snapshot(0, from).logs);
                }
            }
            if let Some((token, response)) = routed {
                let mut out = self.deliver(token, response)?;
                logs.append(&mut out.logs);
                delivered.push(out);
            }
        }
        Ok(Outcome {
            logs,
            delivered,
            ..Outcome::default()
        })
    }

    /// Runs deferred work, leaving its logs in the buffer [`Vm::take_logs`] drains.
    fn pump_to_buffer(&mut self) -> Result<(), HostError> {
        let mut out = Outcome::default();
        out.absorb(self.pump()?);
        let st = self.store.data_mut();
        st.logs.extend(out.logs);
        st.push_logs();
        Ok(())
    }

    /// The next pending callout a route can answer now, with its answer.
    fn next_routed(&mut self) -> Option<(u32, HttpResponse)> {
        let st = self.store.data_mut();
        let (token, upstream) =
            st.callouts
                .iter()
                .find_map(|(t, c)| match st.routes.get(&c.upstream) {
                    Some(Route::Http(_)) => Some((*t, c.upstream.clone())),
                    Some(Route::Scripted(q)) if !q.is_empty() => Some((*t, c.upstream.clone())),
                    _ => None,
                })?;
        let callout = st.callouts.get(&token).cloned()?;
        let response = match st.routes.get_mut(&upstream)? {
            Route::Scripted(q) => q.pop_front()?,
            Route::Http(addr) => http::call(*addr, &callout),
        };
        Some((token, response))
    }

    /// Answers a pending callout: `proxy_on_http_call_response` on the context that made it.
    fn deliver(&mut self, token: u32, response: HttpResponse) -> Result<Outcome, HostError> {
        let callout = self
            .store
            .data_mut()
            .callouts
            .remove(&token)
            .ok_or(HostError::UnknownCallout(token))?;
        let ctx = callout.context_id;
        let log_from = self.store.data().logs.len();
        let mut headers = HeaderMap::new();
        let timed_out = response.status == 0;
        if !timed_out {
            headers.add(b":status", response.status.to_string().into_bytes());
        }
        for (k, v) in &response.headers {
            headers.add(k.as_bytes(), v.as_bytes().to_vec());
        }
        let trailers: HeaderMap = response.trailers.iter().map(|(k, v)| (k, v)).collect();
        let (nh, nb, nt) = (
            u32::try_from(headers.len()).unwrap_or(u32::MAX),
            u32::try_from(response.body.len()).unwrap_or(u32::MAX),
            u32::try_from(trailers.len()).unwrap_or(u32::MAX),
        );
        {
            let st = self.store.data_mut();
            st.call_response = Some(CallResponse {
                headers,
                trailers,
                body: response.body,
            });
            st.effective = ctx;
        }
        let ex = Arc::clone(&self.exports);
        if let Some(f) = &ex.http_call_response {
            let root = self.store.data().root_id;
            let r = self.guest("proxy_on_http_call_response", |s| {
                f.call(s, (root, token, nh, nb, nt))
            });
            let st = self.store.data_mut();
            st.call_response = None;
            st.effective = st.root_id;
            r?;
        }
        let mut out = self.snapshot(ctx, log_from);
        if ctx != self.store.data().root_id && self.finished(ctx, None) {
            let from = self.store.data().logs.len();
            self.finish(ctx)?;
            out.logs.extend(self.snapshot(ctx, from).logs);
            out.done = true;
        }
        Ok(out)
    }

    /// Answers a pending HTTP callout (then runs any work it triggers).
    pub fn respond_to_callout(
        &mut self,
        token: u32,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Outcome, HostError> {
        let response = HttpResponse {
            status: status.max(1),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
            trailers: Vec::new(),
        };
        let mut out = self.deliver(token, response)?;
        let later = self.pump()?;
        out.absorb(later);
        Ok(out)
    }

    /// Callouts dispatched and not yet answered.
    pub fn pending_callouts(&self) -> Vec<Callout> {
        self.store.data().callouts.values().cloned().collect()
    }

    /// Answers callouts to `cluster` with these responses, in order, as they are made.
    pub fn script_callouts(&mut self, cluster: &str, responses: Vec<HttpResponse>) {
        let routes = &mut self.store.data_mut().routes;
        match routes.get_mut(cluster) {
            Some(Route::Scripted(q)) => q.extend(responses),
            _ => {
                routes.insert(cluster.to_string(), Route::Scripted(responses.into()));
            }
        }
    }

    /// Sends callouts to `cluster` to a real HTTP/1.1 server (loopback addresses only).
    pub fn route_cluster(&mut self, cluster: &str, addr: SocketAddr) {
        self.store
            .data_mut()
            .routes
            .insert(cluster.to_string(), Route::Http(addr));
    }

    /// When true, `proxy_http_call` to a cluster with no route is refused (`BadArgument`), as
    /// Envoy refuses unknown clusters. Default false: such callouts wait for
    /// [`Vm::respond_to_callout`].
    pub fn strict_clusters(&mut self, strict: bool) {
        self.store.data_mut().strict_clusters = strict;
    }

    /// The virtual clock, in Unix nanoseconds.
    pub fn now_ns(&self) -> u64 {
        self.store.data().clock_ns
    }

    /// Sets the virtual clock (Unix seconds) without firing ticks.
    pub fn set_time(&mut self, unix_seconds: i64) {
        let ns = u64::try_from(unix_seconds)
            .unwrap_or(0)
            .saturating_mul(1_000_000_000);
        let st = self.store.data_mut();
        st.clock_ns = ns;
        if st.tick_period_ms > 0 {
            st.next_tick_ns = Some(ns.saturating_add(u64::from(st.tick_period_ms) * 1_000_000));
        }
    }

    /// Advances the virtual clock, firing `proxy_on_tick` at each tick period passed and
    /// timing out callouts whose deadline passed (delivered with no headers and no body).
    pub fn advance_clock(&mut self, ms: u64) -> Result<Outcome, HostError> {
        let target = self.now_ns().saturating_add(ms.saturating_mul(1_000_000));
        let log_from = self.store.data().logs.len();
        let root = self.store.data().root_id;
        let mut out = Outcome {
            context_id: root,
            ..Outcome::default()
        };
        loop {
            let st = self.store.data();
            let tick = st.next_tick_ns.filter(|t| *t <= target);
            let timeout = st
                .callouts
                .values()
                .filter(|c| c.deadline_ns <= target)
                .map(|c| (c.deadline_ns, c.token))
                .min();
            match (tick, timeout) {
                (None, None) => break,
                (Some(t), to) if to.is_none_or(|(d, _)| t <= d) => {
                    let st = self.store.data_mut();
                    st.clock_ns = t;
                    st.next_tick_ns = (st.tick_period_ms > 0)
                        .then(|| t.saturating_add(u64::from(st.tick_period_ms) * 1_000_000));
                    st.effective = root;
                    let ex = Arc::clone(&self.exports);
                    if let Some(f) = &ex.tick {
                        self.guest("proxy_on_tick", |s| f.call(s, root))?;
                    }
                    out.ticks += 1;
                    let later = self.pump()?;
                    out.absorb(later);
                }
                (_, Some((d, token))) => {
                    self.store.data_mut().clock_ns = d;
                    let r = self.deliver(
                        token,
                        HttpResponse {
                            status: 0,
                            ..HttpResponse::default()
                        },
                    )?;
                    out.absorb(Outcome {
                        delivered: vec![r],
                        ..Outcome::default()
                    });
                }
                (Some(_), None) => break,
            }
        }
        self.store.data_mut().clock_ns = target;
        let rest = self.snapshot(root, log_from);
        out.logs.splice(0..0, rest.logs);
        out.callouts = rest.callouts;
        Ok(out)
    }

    /// Sets a VM-wide property (requests can override it).
    pub fn set_property(&mut self, path: &[&str], value: impl Into<Vec<u8>>) {
        self.store
            .data_mut()
            .properties
            .insert(property_path(path), value.into());
    }

    /// Sets the level `proxy_get_log_level` reports; lower-level lines are dropped.
    pub fn set_log_level(&mut self, level: u32) {
        self.store.data_mut().log_level = level.min(5);
    }

    /// Takes the log lines buffered outside request calls (configure, ticks...).
    pub fn take_logs(&mut self) -> Vec<LogEntry> {
        self.store.data_mut().logs.drain(..).collect()
    }

    /// A metric by name.
    pub fn metric(&self, name: &str) -> Option<&Metric> {
        self.store.data().metrics.0.iter().find(|m| m.name == name)
    }

    /// Every metric defined.
    pub fn metrics(&self) -> &[Metric] {
        &self.store.data().metrics.0
    }

    /// How often each host call was made.
    pub fn hostcall_counts(&self) -> BTreeMap<&'static str, u64> {
        self.store
            .data()
            .hostcalls
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect()
    }

    /// The current size of the guest's linear memory, in bytes.
    pub fn memory_bytes(&mut self) -> usize {
        match self.store.data().memory {
            Some(m) => m.data_size(&self.store),
            None => 0,
        }
    }

    /// Fuel the last guest call used (about one unit per Wasm instruction).
    pub fn fuel_used(&self) -> u64 {
        self.fuel_used
    }

    /// HTTP contexts still open.
    pub fn open_contexts(&self) -> Vec<u32> {
        self.store.data().streams.keys().copied().collect()
    }

    /// Times the guest's allocator returned an unusable pointer.
    pub fn allocator_faults(&self) -> u64 {
        self.store.data().allocator_faults
    }

    /// Calls an exported function of the guest that takes and returns only i32s (for tests
    /// of hostile modules), with fresh fuel; the first result, if any.
    pub fn call_export(&mut self, name: &str, args: &[i32]) -> Result<Option<i32>, HostError> {
        let f = self
            .instance
            .get_func(&mut self.store, name)
            .ok_or_else(|| HostError::Protocol(format!("the module exports no `{name}`")))?;
        let n = f.ty(&self.store).results().len();
        let params: Vec<Val> = args.iter().map(|a| Val::I32(*a)).collect();
        let mut results = vec![Val::I32(0); n];
        self.guest(name, |s| f.call(s, &params, &mut results))?;
        self.pump_to_buffer()?;
        Ok(results.first().and_then(Val::i32))
    }
}

/// Builds one HTTP request for [`Vm::http_request`].
pub struct RequestBuilder<'vm> {
    vm: &'vm mut Vm,
    stream: Stream,
    end_of_stream: bool,
}

impl std::fmt::Debug for RequestBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestBuilder")
            .field("headers", &self.stream.request_headers)
            .finish_non_exhaustive()
    }
}

impl RequestBuilder<'_> {
    /// Adds a request header (pseudo-headers such as `:method` included).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.stream
            .request_headers
            .add(name.as_bytes(), value.as_bytes().to_vec());
        self
    }
    /// Adds request trailers.
    pub fn trailer(mut self, name: &str, value: &str) -> Self {
        self.stream
            .request_trailers
            .add(name.as_bytes(), value.as_bytes().to_vec());
        self
    }
    /// Sets the request body (delivered to `proxy_on_request_body` if headers continue).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.stream.request_body = body.into();
        self
    }
    /// Sets a property for this request (`&["source", "address"]`), as bytes.
    pub fn property(mut self, path: &[&str], value: impl AsRef<[u8]>) -> Self {
        self.stream
            .properties
            .insert(property_path(path), value.as_ref().to_vec());
        self
    }
    /// Sets an integer property, as Envoy encodes it (8 bytes, little-endian).
    pub fn property_int(self, path: &[&str], value: i64) -> Self {
        self.property(path, value.to_le_bytes())
    }
    /// Whether the headers end the stream (default true when there is no body).
    pub fn end_of_stream(mut self, eos: bool) -> Self {
        self.end_of_stream = eos;
        self
    }
    /// Keeps the stream open after the filter continues it (call [`Vm::finish`] later).
    pub fn keep_open(mut self) -> Self {
        self.stream.keep_open = true;
        self
    }
    /// Creates the HTTP context and calls `proxy_on_request_headers` (and
    /// `proxy_on_request_body` if a body was set and the headers continued). The stream is
    /// finished (`proxy_on_done`, `proxy_on_log`, `proxy_on_delete`) once the filter answered
    /// locally or continued; a paused stream waits for its callouts.
    pub fn send_headers(self) -> Result<Outcome, HostError> {
        let RequestBuilder {
            vm,
            stream,
            end_of_stream,
        } = self;
        vm.send(stream, end_of_stream)
    }
}
