//! The Envoy dynamic-module binding (`libvigil.so`): Envoy loads the module with
//! `envoy.filters.http.dynamic_modules` (`dynamic_module_config: {name: vigil}`, found as
//! `libvigil.so` in `ENVOY_DYNAMIC_MODULES_SEARCH_PATH`), `filter_name: vigil`, and the
//! policy JSON as `filter_config` (a `google.protobuf.StringValue`).
//!
//! The adapter runs as in `filter.wasm`, with threads in place of VMs:
//!
//! * the **main thread** holds the [`Root`] of each configuration: it fetches key sets
//!   and polls the revocation feed through configuration-level callouts, on a tick that a
//!   small thread of ours commits to Envoy's main dispatcher through the configuration's
//!   scheduler;
//! * each **worker thread** holds its own [`Shared`] state per configuration (the token
//!   cache, the installed key sets), created on its first request, and refetches an unknown
//!   `kid` through a per-request callout;
//! * what workers share (fetched key sets, revocation snapshots, leases, rate buckets,
//!   behaviour histories) is a CAS key-value store in the process's memory ([`kv::Kv`]), the
//!   native stand-in for Envoy's shared data.

mod abi;
pub mod kv;

use crate::adapter::{self, Action, Http, Root, Worker};
use crate::host::{Counter, Host, Level, Property, Response, Status, Stream};
use abi::{ConfigHandle, FilterHandle, LogLevel, Scheduler};
use kv::Kv;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The decision record's key in the stream's filter state:
/// `%FILTER_STATE(vigil.decision:PLAIN)%` in an access-log format. (Filter state, not dynamic
/// metadata: a string in dynamic metadata becomes a protobuf `Struct` per request, measured
/// slower in bench_envoy.py.)
pub const RECORD_KEY: &str = "vigil.decision";

/// Configurations alive in this process (workers drop state of the others).
static LIVE: Mutex<BTreeSet<u64>> = Mutex::new(BTreeSet::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Main thread: the root of each configuration.
    static ROOTS: RefCell<BTreeMap<u64, Root>> = const { RefCell::new(BTreeMap::new()) };
    /// Worker threads: the state of each configuration on this worker.
    static WORKERS: RefCell<BTreeMap<u64, Rc<Worker>>> = const { RefCell::new(BTreeMap::new()) };
}

/// The tick thread of a configuration.
#[derive(Debug)]
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Kept alive until the thread is joined (fields drop after `Drop::drop`).
    _scheduler: Arc<Scheduler>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
        // The scheduler is deleted after this, when the field drops: the thread that
        // commits to it has been joined.
    }
}

/// One filter configuration (one policy), shared by the main thread and the workers.
#[derive(Debug)]
pub struct Config {
    id: u64,
    config: adapter::Config,
    kv: Kv,
    /// Counter ids, by [`Counter::index`].
    counters: [Option<usize>; Counter::ALL.len()],
    ticker: Mutex<Option<Ticker>>,
    /// The tick thread's period (ms); the root changes it when a bundled policy needs another.
    period_ms: Arc<AtomicU64>,
}

/// The host as one context sees it: the configuration (main thread) or a stream (worker).
#[derive(Clone, Copy)]
enum Ctx {
    Config(ConfigHandle),
    Filter(FilterHandle),
}

struct NativeHost<'a> {
    config: &'a Config,
    ctx: Ctx,
}

fn log_level(l: Level) -> LogLevel {
    match l {
        Level::Debug => LogLevel::Debug,
        Level::Info => LogLevel::Info,
        Level::Warn => LogLevel::Warn,
        Level::Error => LogLevel::Error,
    }
}

fn now_ms() -> Result<u64, Status> {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| Status::INTERNAL)?;
    u64::try_from(d.as_millis()).map_err(|_| Status::INTERNAL)
}

/// Callout init results (`envoy_dynamic_module_type_http_callout_init_result`) as statuses:
/// an unknown cluster or missing headers are bad arguments, as in proxy-wasm.
fn callout_status(r: u32) -> Status {
    match r {
        1 | 2 => Status::BAD_ARGUMENT,
        _ => Status::INTERNAL,
    }
}

impl Host for NativeHost<'_> {
    fn log(&self, level: Level, msg: &str) {
        abi::log(log_level(level), msg);
    }
    fn logs_at(&self, level: Level) -> bool {
        abi::log_enabled(log_level(level))
    }
    fn now_ms(&self) -> Result<u64, Status> {
        now_ms()
    }
    fn count(&self, counter: Counter, by: u64) {
        if by == 0 {
            return;
        }
        let Some(Some(id)) = self.config.counters.get(counter.index()) else {
            return;
        };
        match self.ctx {
            Ctx::Config(c) => c.increment_counter(*id, by),
            Ctx::Filter(f) => f.increment_counter(*id, by),
        };
    }
    fn shared_get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, Status> {
        Ok(self.config.kv.get(key))
    }
    fn shared_set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), Status> {
        self.config.kv.set(key, value, cas)
    }
    fn http_call(
        &self,
        cluster: &str,
        headers: &[(&str, &str)],
        timeout_ms: u32,
    ) -> Result<u32, Status> {
        // Envoy's callouts need `host`; the adapter names the authority `:authority`.
        let mut hs: Vec<(&str, &str)> = Vec::with_capacity(headers.len() + 1);
        for (k, v) in headers {
            if *k == ":authority" {
                hs.push(("host", v));
            } else {
                hs.push((k, v));
            }
        }
        let id = match self.ctx {
            Ctx::Config(c) => c.http_callout(cluster, &hs, u64::from(timeout_ms)),
            Ctx::Filter(f) => f.http_callout(cluster, &hs, u64::from(timeout_ms)),
        }
        .map_err(callout_status)?;
        u32::try_from(id).map_err(|_| Status::INTERNAL)
    }
}

/// Envoy attribute ids (`envoy_dynamic_module_type_attribute_id`).
fn attribute(p: Property) -> u32 {
    match p {
        Property::SourceAddress => 24,
        Property::DestinationAddress => 26,
        Property::DestinationPort => 27,
        Property::RequestedServerName => 30,
        Property::PeerUriSan => 37,
    }
}

struct NativeStream(FilterHandle);

impl Stream for NativeStream {
    fn each_header(&self, f: &mut dyn FnMut(&[u8], &[u8])) -> Result<(), Status> {
        if self.0.each_request_header(f) {
            Ok(())
        } else {
            Err(Status::NOT_FOUND)
        }
    }
    fn property_text(&self, p: Property) -> Result<Option<String>, Status> {
        Ok(self
            .0
            .attribute_string(attribute(p))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .filter(|s| !s.is_empty()))
    }
    fn property_int(&self, p: Property) -> Result<Option<i64>, Status> {
        Ok(self
            .0
            .attribute_int(attribute(p))
            .and_then(|v| i64::try_from(v).ok()))
    }
    fn send_response(
        &self,
        status: u32,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), Status> {
        self.0.send_response(status, headers, body, "vigil");
        Ok(())
    }
    fn remove_header(&self, key: &str) -> Result<(), Status> {
        // Envoy returns false only when the request headers are not available.
        if self.0.set_request_header(key, None) {
            Ok(())
        } else {
            Err(Status::INTERNAL)
        }
    }
    fn set_header(&self, key: &str, value: &str) -> Result<(), Status> {
        // An empty value would remove the header in Envoy's implementation.
        let ok = if value.is_empty() {
            self.0.set_request_header(key, None)
        } else {
            self.0.set_request_header(key, Some(value))
        };
        if ok {
            Ok(())
        } else {
            Err(Status::INTERNAL)
        }
    }
    fn resume(&self) -> Result<(), Status> {
        self.0.continue_decoding();
        Ok(())
    }
    fn record(&self, json: &str) -> Result<(), Status> {
        if self.0.set_filter_state(RECORD_KEY, json.as_bytes()) {
            Ok(())
        } else {
            Err(Status::INTERNAL)
        }
    }
}

/// A callout's response, valid for the hook that delivers it.
struct NativeResponse<'a> {
    ok: bool,
    headers: &'a [(&'a [u8], &'a [u8])],
    chunks: &'a [&'a [u8]],
}

impl<'a> NativeResponse<'a> {
    /// The adapter's call token and the response, for a callout's completion (`None`: an id
    /// Vigil never handed out, beyond the adapter's 32-bit tokens).
    fn of(
        id: u64,
        result: u32,
        headers: &'a [(&'a [u8], &'a [u8])],
        chunks: &'a [&'a [u8]],
    ) -> Option<(u32, NativeResponse<'a>)> {
        let token = u32::try_from(id).ok()?;
        Some((
            token,
            NativeResponse {
                ok: result == abi::CALLOUT_SUCCESS,
                headers,
                chunks,
            },
        ))
    }
}

impl Response for NativeResponse<'_> {
    fn status(&self) -> String {
        if !self.ok {
            return String::new();
        }
        self.headers
            .iter()
            .find(|(k, _)| *k == b":status")
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default()
    }
    fn body_size(&self) -> usize {
        self.chunks.iter().map(|c| c.len()).sum()
    }
    fn body(&self) -> Result<Vec<u8>, Status> {
        Ok(self.chunks.concat())
    }
    fn header(&self, name: &str) -> Option<String> {
        if !self.ok {
            return None;
        }
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes()))
            .and_then(|(_, v)| String::from_utf8(v.to_vec()).ok())
    }
}

fn log_error(msg: &str) {
    abi::log(LogLevel::Error, msg);
}

/// `config_new` (main thread): compiles the policy, defines the counters, installs the root
/// and starts the tick. `None` refuses the configuration (the error is in Envoy's log).
fn config_new(handle: ConfigHandle, name: &[u8], config: &[u8]) -> Option<Arc<Config>> {
    if name != b"vigil" {
        log_error(&format!(
            "vigil: unknown filter_name `{}` (the module has one filter: `vigil`)",
            String::from_utf8_lossy(name)
        ));
        return None;
    }
    let parsed = match adapter::configure(config) {
        Ok(c) => c,
        Err(msg) => {
            log_error(&msg);
            return None;
        }
    };
    let mut counters = [None; Counter::ALL.len()];
    for (slot, c) in counters.iter_mut().zip(Counter::ALL) {
        *slot = handle.define_counter(c.name());
    }
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let config = Arc::new(Config {
        id,
        config: parsed,
        kv: Kv::default(),
        counters,
        ticker: Mutex::new(None),
        period_ms: Arc::new(AtomicU64::new(u64::from(adapter::TICK_MS))),
    });
    LIVE.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(id);
    // `envoy --mode validate` only checks the configuration: no fetches, no threads.
    if abi::is_validation_mode() {
        return Some(config);
    }
    let host = NativeHost {
        config: &config,
        ctx: Ctx::Config(handle),
    };
    let mut root = Root::default();
    let tick = root.configure(&host, &config.config);
    if let Some(ms) = tick {
        config.period_ms.store(u64::from(ms), Ordering::Relaxed);
        if let Some(ms) = root.on_tick(&host) {
            config.period_ms.store(u64::from(ms), Ordering::Relaxed);
        }
        match handle.scheduler() {
            Some(s) => {
                let scheduler = Arc::new(s);
                let stop = Arc::new(AtomicBool::new(false));
                let (s2, stop2) = (scheduler.clone(), stop.clone());
                let period = config.period_ms.clone();
                let thread =
                    std::thread::Builder::new()
                        .name("vigil-tick".into())
                        .spawn(move || {
                            while !stop2.load(Ordering::SeqCst) {
                                let ms = period.load(Ordering::Relaxed).max(10);
                                std::thread::park_timeout(Duration::from_millis(ms));
                                if !stop2.load(Ordering::SeqCst) {
                                    s2.commit(0);
                                }
                            }
                        });
                match thread {
                    Ok(t) => {
                        *config.ticker.lock().unwrap_or_else(PoisonError::into_inner) =
                            Some(Ticker {
                                stop,
                                thread: Some(t),
                                _scheduler: scheduler,
                            });
                    }
                    Err(e) => log_error(&format!(
                        "vigil: cannot start the tick thread ({e}); key sets will not be refreshed"
                    )),
                }
            }
            None => log_error("vigil: Envoy gave no scheduler; key sets will not be refreshed"),
        }
    }
    ROOTS.with(|r| r.borrow_mut().insert(id, root));
    Some(config)
}

/// `config_destroy` (main thread): stops the tick, drops the root.
fn config_destroy(config: Arc<Config>) {
    let ticker = config
        .ticker
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    drop(ticker);
    ROOTS.with(|r| r.borrow_mut().remove(&config.id));
    LIVE.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&config.id);
}

/// The tick (main thread).
fn config_tick(config: &Config, handle: ConfigHandle) {
    let host = NativeHost {
        config,
        ctx: Ctx::Config(handle),
    };
    ROOTS.with(|r| {
        if let Some(root) = r.borrow_mut().get_mut(&config.id) {
            if let Some(ms) = root.on_tick(&host) {
                config.period_ms.store(u64::from(ms), Ordering::Relaxed);
            }
        }
    });
}

/// A configuration callout's response (main thread).
fn config_callout_done(
    config: &Config,
    handle: ConfigHandle,
    id: u64,
    result: u32,
    headers: &[(&[u8], &[u8])],
    chunks: &[&[u8]],
) {
    let host = NativeHost {
        config,
        ctx: Ctx::Config(handle),
    };
    let Some((token, resp)) = NativeResponse::of(id, result, headers, chunks) else {
        return;
    };
    ROOTS.with(|r| {
        if let Some(root) = r.borrow_mut().get_mut(&config.id) {
            root.on_call_response(&host, token, &resp);
        }
    });
}

/// One stream.
pub struct Filter {
    config: Arc<Config>,
    http: Http,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("config", &self.config.id)
            .finish()
    }
}

impl Filter {
    /// Whether the request is held (waiting for a key refetch).
    fn holds(&self) -> bool {
        self.http.waiting()
    }
}

/// This worker's state for a configuration, created on its first request.
fn worker_state(config: &Config) -> Rc<Worker> {
    WORKERS.with(|w| {
        let mut w = w.borrow_mut();
        if let Some(s) = w.get(&config.id) {
            return s.clone();
        }
        // A new configuration on this worker: forget those Envoy has destroyed since.
        let live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
        w.retain(|id, _| live.contains(id));
        drop(live);
        let s = Rc::new(Worker::new(&config.config));
        w.insert(config.id, s.clone());
        s
    })
}

/// `filter_new` (worker): the filter keeps its configuration alive. A bundled policy
/// published since this worker's last request is installed here.
fn filter_new(config: Arc<Config>, handle: FilterHandle) -> Filter {
    let worker = worker_state(&config);
    let host = NativeHost {
        config: &config,
        ctx: Ctx::Filter(handle),
    };
    let shared = worker.current(&host);
    Filter {
        http: Http::new(shared),
        config,
    }
}

/// `request_headers` (worker): true when the request goes on.
fn request_headers(filter: &mut Filter, handle: FilterHandle) -> bool {
    let host = NativeHost {
        config: &filter.config,
        ctx: Ctx::Filter(handle),
    };
    if let (Some(shared), Ok(now)) = (filter.http.shared(), now_ms()) {
        shared.sync_if_due(&host, now);
    }
    filter.http.on_request_headers(&host, &NativeStream(handle)) == Action::Continue
}

/// A stream callout's response (worker).
fn filter_callout_done(
    filter: &mut Filter,
    handle: FilterHandle,
    id: u64,
    result: u32,
    headers: &[(&[u8], &[u8])],
    chunks: &[&[u8]],
) {
    let host = NativeHost {
        config: &filter.config,
        ctx: Ctx::Filter(handle),
    };
    let Some((token, resp)) = NativeResponse::of(id, result, headers, chunks) else {
        return;
    };
    filter
        .http
        .on_call_response(&host, &NativeStream(handle), token, &resp);
}
