//! Envoy's dynamic-module C ABI (`source/extensions/dynamic_modules/abi/abi.h`, v0.1 as
//! stored, compatible with the v0.2.0 of Envoy 1.40): the event hooks Envoy calls and the
//! callbacks Vigil calls, and nothing else. This is the only module of the native build with
//! `unsafe` code. Every hook converts its raw arguments into safe values and calls the safe
//! binding (`super`) inside `catch_unwind`, so no panic ever crosses the ABI: a panic becomes
//! the hook's fail-closed default (a refused configuration, a refused stream, a paused
//! request) and a line in Envoy's log.
//!
//! Enumerations are C `enum`s (`int`); they travel as `u32` here with the values the header
//! gives them (counted from 0).
#![allow(unsafe_code)]

use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::{null, null_mut};
use std::sync::Arc;

use super::{Config, Filter};

/// The ABI version Vigil is built against (Envoy compares it exactly and warns on mismatch).
static ABI_VERSION: &[u8] = b"v0.2.0\0";

/// `envoy_dynamic_module_type_envoy_buffer`: bytes owned by Envoy.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct EnvoyBuffer {
    ptr: *const c_char,
    length: usize,
}

impl Default for EnvoyBuffer {
    fn default() -> Self {
        EnvoyBuffer {
            ptr: null(),
            length: 0,
        }
    }
}

/// `envoy_dynamic_module_type_module_buffer`: bytes owned by the module.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct ModuleBuffer {
    ptr: *const c_char,
    length: usize,
}

impl ModuleBuffer {
    fn of(bytes: &[u8]) -> ModuleBuffer {
        ModuleBuffer {
            ptr: bytes.as_ptr().cast(),
            length: bytes.len(),
        }
    }
    fn null() -> ModuleBuffer {
        ModuleBuffer {
            ptr: null(),
            length: 0,
        }
    }
}

/// `envoy_dynamic_module_type_module_http_header`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct ModuleHeader {
    key_ptr: *const c_char,
    key_length: usize,
    value_ptr: *const c_char,
    value_length: usize,
}

/// `envoy_dynamic_module_type_envoy_http_header`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct EnvoyHeader {
    key_ptr: *const c_char,
    key_length: usize,
    value_ptr: *const c_char,
    value_length: usize,
}

impl Default for EnvoyHeader {
    fn default() -> Self {
        EnvoyHeader {
            key_ptr: null(),
            key_length: 0,
            value_ptr: null(),
            value_length: 0,
        }
    }
}

const HEADER_TYPE_REQUEST: u32 = 0;
const HEADERS_CONTINUE: u32 = 0;
const HEADERS_STOP_ITERATION: u32 = 1;
const BODY_CONTINUE: u32 = 0;
const BODY_STOP_ITERATION_AND_BUFFER: u32 = 1;
const TRAILERS_CONTINUE: u32 = 0;
const TRAILERS_STOP_ITERATION: u32 = 1;
const LOCAL_REPLY_CONTINUE: u32 = 0;
/// `envoy_dynamic_module_type_http_callout_init_result_Success`.
pub const CALLOUT_INIT_SUCCESS: u32 = 0;
/// `envoy_dynamic_module_type_http_callout_result_Success`.
pub const CALLOUT_SUCCESS: u32 = 0;
/// `envoy_dynamic_module_type_metrics_result_Success`.
const METRICS_SUCCESS: u32 = 0;

extern "C" {
    fn envoy_dynamic_module_callback_log(level: u32, message: ModuleBuffer);
    fn envoy_dynamic_module_callback_log_enabled(level: u32) -> bool;
    fn envoy_dynamic_module_callback_is_validation_mode() -> bool;
    fn envoy_dynamic_module_callback_http_get_headers_size(filter: *mut c_void, kind: u32)
        -> usize;
    fn envoy_dynamic_module_callback_http_get_headers(
        filter: *mut c_void,
        kind: u32,
        result: *mut EnvoyHeader,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_set_header(
        filter: *mut c_void,
        kind: u32,
        key: ModuleBuffer,
        value: ModuleBuffer,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_send_response(
        filter: *mut c_void,
        status_code: u32,
        headers: *mut ModuleHeader,
        headers_size: usize,
        body: ModuleBuffer,
        details: ModuleBuffer,
    );
    fn envoy_dynamic_module_callback_http_filter_continue_decoding(filter: *mut c_void);
    fn envoy_dynamic_module_callback_http_filter_get_attribute_string(
        filter: *mut c_void,
        id: u32,
        result: *mut EnvoyBuffer,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_filter_get_attribute_int(
        filter: *mut c_void,
        id: u32,
        result: *mut u64,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_set_filter_state_bytes(
        filter: *mut c_void,
        key: ModuleBuffer,
        value: ModuleBuffer,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_filter_http_callout(
        filter: *mut c_void,
        callout_id: *mut u64,
        cluster: ModuleBuffer,
        headers: *mut ModuleHeader,
        headers_size: usize,
        body: ModuleBuffer,
        timeout_ms: u64,
    ) -> u32;
    fn envoy_dynamic_module_callback_http_filter_config_http_callout(
        config: *mut c_void,
        callout_id: *mut u64,
        cluster: ModuleBuffer,
        headers: *mut ModuleHeader,
        headers_size: usize,
        body: ModuleBuffer,
        timeout_ms: u64,
    ) -> u32;
    fn envoy_dynamic_module_callback_http_filter_config_define_counter(
        config: *mut c_void,
        name: ModuleBuffer,
        label_names: *mut ModuleBuffer,
        label_names_length: usize,
        counter_id: *mut usize,
    ) -> u32;
    fn envoy_dynamic_module_callback_http_filter_increment_counter(
        filter: *mut c_void,
        id: usize,
        label_values: *mut ModuleBuffer,
        label_values_length: usize,
        value: u64,
    ) -> u32;
    fn envoy_dynamic_module_callback_http_filter_config_increment_counter(
        config: *mut c_void,
        id: usize,
        label_values: *mut ModuleBuffer,
        label_values_length: usize,
        value: u64,
    ) -> u32;
    fn envoy_dynamic_module_callback_http_filter_config_scheduler_new(
        config: *mut c_void,
    ) -> *mut c_void;
    fn envoy_dynamic_module_callback_http_filter_config_scheduler_commit(
        scheduler: *mut c_void,
        event_id: u64,
    );
    fn envoy_dynamic_module_callback_http_filter_config_scheduler_delete(scheduler: *mut c_void);
}

/// Envoy's log levels (spdlog's).
#[derive(Debug, Clone, Copy)]
pub enum LogLevel {
    /// Debug.
    Debug = 1,
    /// Info.
    Info = 2,
    /// Warn.
    Warn = 3,
    /// Error.
    Error = 4,
}

/// Writes a line to Envoy's log (`[dynamic_modules]`).
pub fn log(level: LogLevel, msg: &str) {
    // SAFETY: the buffer points into `msg`, valid for the duration of the call; Envoy copies it.
    unsafe { envoy_dynamic_module_callback_log(level as u32, ModuleBuffer::of(msg.as_bytes())) }
}

/// Whether Envoy keeps lines at `level`.
pub fn log_enabled(level: LogLevel) -> bool {
    // SAFETY: no pointers; callable from any thread.
    unsafe { envoy_dynamic_module_callback_log_enabled(level as u32) }
}

/// True under `envoy --mode validate` (main thread only).
pub fn is_validation_mode() -> bool {
    // SAFETY: no pointers; only called from `config_new`, on the main thread.
    unsafe { envoy_dynamic_module_callback_is_validation_mode() }
}

fn envoy_bytes<'a>(ptr: *const c_char, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: Envoy hands out (ptr, len) pairs that stay valid until the end of the current
    // hook (the header's OWNERSHIP notes); every caller copies or drops the slice before
    // returning from the hook.
    unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) }
}

fn module_headers(headers: &[(&str, &str)]) -> Vec<ModuleHeader> {
    headers
        .iter()
        .map(|(k, v)| ModuleHeader {
            key_ptr: k.as_ptr().cast(),
            key_length: k.len(),
            value_ptr: v.as_ptr().cast(),
            value_length: v.len(),
        })
        .collect()
}

/// The signature shared by the filter and configuration callout callbacks.
type CalloutFn = unsafe extern "C" fn(
    *mut c_void,
    *mut u64,
    ModuleBuffer,
    *mut ModuleHeader,
    usize,
    ModuleBuffer,
    u64,
) -> u32;

/// Starts a callout through `start` (the filter's or the configuration's callback) on
/// `owner`, a live Envoy pointer of the kind `start` takes, in the context it belongs to.
fn callout(
    start: CalloutFn,
    owner: *mut c_void,
    cluster: &str,
    headers: &[(&str, &str)],
    timeout_ms: u64,
) -> Result<u64, u32> {
    let mut h = module_headers(headers);
    let mut id: u64 = 0;
    // SAFETY: `owner` is the live filter (on its worker) or configuration (on the main thread)
    // that `start` expects, as its two callers guarantee; the headers, cluster name and empty
    // body outlive the call (Envoy copies them into its request); `id` is a valid out-pointer.
    let r = unsafe {
        start(
            owner,
            &mut id,
            ModuleBuffer::of(cluster.as_bytes()),
            h.as_mut_ptr(),
            h.len(),
            ModuleBuffer::null(),
            timeout_ms,
        )
    };
    if r == CALLOUT_INIT_SUCCESS {
        Ok(id)
    } else {
        Err(r)
    }
}

/// Envoy's per-stream filter (`envoy_dynamic_module_type_http_filter_envoy_ptr`), valid from
/// `filter_new` until `filter_destroy`, used only on its worker thread inside a hook.
#[derive(Debug, Clone, Copy)]
pub struct FilterHandle(*mut c_void);

impl FilterHandle {
    /// Hands every request header to `f`, borrowed from Envoy's header map (false: the
    /// headers are not available).
    pub fn each_request_header(&self, f: &mut dyn FnMut(&[u8], &[u8])) -> bool {
        // SAFETY: `self.0` is the live filter of the running hook.
        let n = unsafe {
            envoy_dynamic_module_callback_http_get_headers_size(self.0, HEADER_TYPE_REQUEST)
        };
        if n == 0 {
            return true;
        }
        // Requests rarely carry more than 16 headers: those need no allocation.
        let mut small = [EnvoyHeader::default(); 16];
        let mut large = Vec::new();
        let out: &mut [EnvoyHeader] = match small.get_mut(..n) {
            Some(s) => s,
            None => {
                large.resize(n, EnvoyHeader::default());
                &mut large
            }
        };
        // SAFETY: `out` has room for the `n` headers Envoy just counted (same hook, no header
        // changed in between); Envoy writes at most that many entries.
        let ok = unsafe {
            envoy_dynamic_module_callback_http_get_headers(
                self.0,
                HEADER_TYPE_REQUEST,
                out.as_mut_ptr(),
            )
        };
        if !ok {
            return false;
        }
        // The slices point into Envoy's header map, valid until this hook returns; `f` runs
        // (and drops them) before that.
        for h in out.iter() {
            f(
                envoy_bytes(h.key_ptr, h.key_length),
                envoy_bytes(h.value_ptr, h.value_length),
            );
        }
        true
    }

    /// Sets (`Some`) or removes (`None`) a request header; false when Envoy refused.
    pub fn set_request_header(&self, key: &str, value: Option<&str>) -> bool {
        let value = match value {
            Some(v) => ModuleBuffer::of(v.as_bytes()),
            None => ModuleBuffer::null(),
        };
        // SAFETY: live filter; both buffers are valid for the call and copied by Envoy.
        unsafe {
            envoy_dynamic_module_callback_http_set_header(
                self.0,
                HEADER_TYPE_REQUEST,
                ModuleBuffer::of(key.as_bytes()),
                value,
            )
        }
    }

    /// Answers the request locally.
    pub fn send_response(&self, status: u32, headers: &[(&str, &str)], body: &[u8], details: &str) {
        let mut h = module_headers(headers);
        // SAFETY: live filter; the header array, its strings, the body and the details all
        // outlive the call, during which Envoy copies them into the local reply.
        unsafe {
            envoy_dynamic_module_callback_http_send_response(
                self.0,
                status,
                h.as_mut_ptr(),
                h.len(),
                ModuleBuffer::of(body),
                ModuleBuffer::of(details.as_bytes()),
            )
        }
    }

    /// Resumes a request stopped in its headers.
    pub fn continue_decoding(&self) {
        // SAFETY: live filter; Envoy ignores the call when the stream is not stopped.
        unsafe { envoy_dynamic_module_callback_http_filter_continue_decoding(self.0) }
    }

    /// A string attribute (`envoy_dynamic_module_type_attribute_id`), copied.
    pub fn attribute_string(&self, id: u32) -> Option<Vec<u8>> {
        let mut buf = EnvoyBuffer::default();
        // SAFETY: live filter; `buf` is a valid out-pointer for the call.
        let ok = unsafe {
            envoy_dynamic_module_callback_http_filter_get_attribute_string(self.0, id, &mut buf)
        };
        ok.then(|| envoy_bytes(buf.ptr, buf.length).to_vec())
    }

    /// An integer attribute.
    pub fn attribute_int(&self, id: u32) -> Option<u64> {
        let mut v: u64 = 0;
        // SAFETY: live filter; `v` is a valid out-pointer for the call.
        let ok = unsafe {
            envoy_dynamic_module_callback_http_filter_get_attribute_int(self.0, id, &mut v)
        };
        ok.then_some(v)
    }

    /// Sets bytes in the stream's filter state (read by access logs); false when refused.
    pub fn set_filter_state(&self, key: &str, value: &[u8]) -> bool {
        // SAFETY: live filter; both buffers are valid for the call and copied by Envoy.
        unsafe {
            envoy_dynamic_module_callback_http_set_filter_state_bytes(
                self.0,
                ModuleBuffer::of(key.as_bytes()),
                ModuleBuffer::of(value),
            )
        }
    }

    /// Starts a callout whose response comes to this filter; the init result on failure.
    pub fn http_callout(
        &self,
        cluster: &str,
        headers: &[(&str, &str)],
        timeout_ms: u64,
    ) -> Result<u64, u32> {
        callout(
            envoy_dynamic_module_callback_http_filter_http_callout,
            self.0,
            cluster,
            headers,
            timeout_ms,
        )
    }

    /// Adds to a counter defined by this filter's configuration.
    pub fn increment_counter(&self, id: usize, by: u64) -> bool {
        // SAFETY: live filter; no labels (null, 0), as the counter was defined.
        let r = unsafe {
            envoy_dynamic_module_callback_http_filter_increment_counter(
                self.0,
                id,
                null_mut(),
                0,
                by,
            )
        };
        r == METRICS_SUCCESS
    }
}

/// Envoy's filter configuration (`envoy_dynamic_module_type_http_filter_config_envoy_ptr`),
/// used on the main thread only (in `config_new`, `config_scheduled` and config callouts).
#[derive(Debug, Clone, Copy)]
pub struct ConfigHandle(*mut c_void);

impl ConfigHandle {
    /// Defines a counter without labels (only possible during `config_new`).
    pub fn define_counter(&self, name: &str) -> Option<usize> {
        let mut id: usize = 0;
        // SAFETY: called inside `config_new` with its live config; `id` is a valid out-pointer.
        let r = unsafe {
            envoy_dynamic_module_callback_http_filter_config_define_counter(
                self.0,
                ModuleBuffer::of(name.as_bytes()),
                null_mut(),
                0,
                &mut id,
            )
        };
        (r == METRICS_SUCCESS).then_some(id)
    }

    /// Adds to a counter from the main thread.
    pub fn increment_counter(&self, id: usize, by: u64) -> bool {
        // SAFETY: live config, main thread; no labels.
        let r = unsafe {
            envoy_dynamic_module_callback_http_filter_config_increment_counter(
                self.0,
                id,
                null_mut(),
                0,
                by,
            )
        };
        r == METRICS_SUCCESS
    }

    /// Starts a callout whose response comes to the configuration (main thread).
    pub fn http_callout(
        &self,
        cluster: &str,
        headers: &[(&str, &str)],
        timeout_ms: u64,
    ) -> Result<u64, u32> {
        callout(
            envoy_dynamic_module_callback_http_filter_config_http_callout,
            self.0,
            cluster,
            headers,
            timeout_ms,
        )
    }

    /// A scheduler that runs `config_scheduled` on the main thread, committed from any thread.
    pub fn scheduler(&self) -> Option<Scheduler> {
        // SAFETY: live config, main thread (config_new).
        let p = unsafe { envoy_dynamic_module_callback_http_filter_config_scheduler_new(self.0) };
        (!p.is_null()).then_some(Scheduler(p))
    }
}

/// A config scheduler (`..._config_scheduler_module_ptr`): the header allows `commit` from
/// any thread; Vigil's tick thread commits, and the configuration deletes it after joining
/// that thread.
#[derive(Debug)]
pub struct Scheduler(*mut c_void);

// SAFETY: the ABI documents the config scheduler as the way to reach the main thread "from any
// thread"; the pointer is only committed (thread-safe in Envoy) and deleted once, in `Drop`,
// after the only other thread using it has been joined.
unsafe impl Send for Scheduler {}
// SAFETY: as above: `commit` through a shared reference is the thread-safe operation.
unsafe impl Sync for Scheduler {}

impl Scheduler {
    /// Schedules `config_scheduled(event_id)` on the main thread.
    pub fn commit(&self, event_id: u64) {
        // SAFETY: a live scheduler (deleted only in Drop); commit is thread-safe.
        unsafe {
            envoy_dynamic_module_callback_http_filter_config_scheduler_commit(self.0, event_id)
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        // SAFETY: the scheduler was created by `scheduler_new` and is deleted exactly once.
        unsafe { envoy_dynamic_module_callback_http_filter_config_scheduler_delete(self.0) }
    }
}

fn headers_of<'a>(headers: *const EnvoyHeader, n: usize) -> Vec<(&'a [u8], &'a [u8])> {
    if headers.is_null() || n == 0 {
        return Vec::new();
    }
    // SAFETY: Envoy passes an array of `n` headers valid until the end of the hook.
    let hs = unsafe { std::slice::from_raw_parts(headers, n) };
    hs.iter()
        .map(|h| {
            (
                envoy_bytes(h.key_ptr, h.key_length),
                envoy_bytes(h.value_ptr, h.value_length),
            )
        })
        .collect()
}

fn chunks_of<'a>(chunks: *const EnvoyBuffer, n: usize) -> Vec<&'a [u8]> {
    if chunks.is_null() || n == 0 {
        return Vec::new();
    }
    // SAFETY: Envoy passes an array of `n` buffers valid until the end of the hook.
    let cs = unsafe { std::slice::from_raw_parts(chunks, n) };
    cs.iter().map(|c| envoy_bytes(c.ptr, c.length)).collect()
}

/// Runs `f`, turning a panic into `default` and a log line: no unwinding crosses the ABI.
fn guard<T>(hook: &str, default: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => {
            let _ = catch_unwind(|| {
                log(
                    LogLevel::Error,
                    &format!("vigil: internal error in {hook}; failing closed"),
                )
            });
            default
        }
    }
}

/// The module-side configuration pointer is an `Arc<Config>` turned into a raw pointer.
fn config_ref<'a>(p: *const c_void) -> Option<&'a Config> {
    if p.is_null() {
        return None;
    }
    // SAFETY: `p` came from `Arc::into_raw` in `config_new` and stays alive until
    // `config_destroy`, after which Envoy never passes it again.
    Some(unsafe { &*p.cast::<Config>() })
}

/// A new reference to the configuration behind a module-side configuration pointer.
fn config_arc(p: *const c_void) -> Option<Arc<Config>> {
    if p.is_null() {
        return None;
    }
    let p = p.cast::<Config>();
    // SAFETY: `p` came from `Arc::into_raw` in `config_new` and its reference is held until
    // `config_destroy`; taking one more reference first keeps the count balanced when the
    // new `Arc` is dropped.
    unsafe {
        Arc::increment_strong_count(p);
        Some(Arc::from_raw(p))
    }
}

/// The module-side filter pointer is a `Box<Filter>` turned into a raw pointer.
fn filter_mut<'a>(p: *const c_void) -> Option<&'a mut Filter> {
    if p.is_null() {
        return None;
    }
    // SAFETY: `p` came from `Box::into_raw` in `filter_new`; Envoy calls the hooks of one
    // stream one at a time on its worker, and never after `filter_destroy`.
    Some(unsafe { &mut *(p as *mut Filter) })
}

// ---- event hooks -------------------------------------------------------------------------

/// # Safety
/// Called by Envoy once, on the main thread, when the module is loaded.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_program_init() -> *const c_char {
    ABI_VERSION.as_ptr().cast()
}

/// # Safety
/// Called by Envoy on the main thread with buffers valid for the call.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_config_new(
    config_envoy: *mut c_void,
    name: EnvoyBuffer,
    config: EnvoyBuffer,
) -> *const c_void {
    guard("config_new", null(), || {
        let name = envoy_bytes(name.ptr, name.length);
        let config = envoy_bytes(config.ptr, config.length);
        match super::config_new(ConfigHandle(config_envoy), name, config) {
            Some(c) => Arc::into_raw(c).cast(),
            None => null(),
        }
    })
}

/// # Safety
/// Called by Envoy once per configuration `config_new` returned.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_config_destroy(config: *const c_void) {
    guard("config_destroy", (), || {
        if config.is_null() {
            return;
        }
        // SAFETY: the pointer came from `Arc::into_raw` and Envoy gives it back exactly once.
        let c = unsafe { Arc::from_raw(config.cast::<Config>()) };
        super::config_destroy(c);
    })
}

/// # Safety
/// Called by Envoy for per-route configuration, which Vigil has none of: refused.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_per_route_config_new(
    _name: EnvoyBuffer,
    _config: EnvoyBuffer,
) -> *const c_void {
    guard("per_route_config_new", null(), || {
        log(
            LogLevel::Error,
            "vigil: per-route configuration is not supported; put the policy in the filter's filter_config",
        );
        null()
    })
}

/// # Safety
/// Never receives a pointer (per-route configs are refused).
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_per_route_config_destroy(
    _config: *const c_void,
) {
}

/// # Safety
/// Called by Envoy on a worker thread with a live configuration and filter.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_new(
    config: *const c_void,
    filter_envoy: *mut c_void,
) -> *const c_void {
    guard("filter_new", null(), || {
        let Some(c) = config_arc(config) else {
            return null();
        };
        let f = super::filter_new(c, FilterHandle(filter_envoy));
        Box::into_raw(Box::new(f)).cast_const().cast()
    })
}

/// # Safety
/// Called by Envoy on the stream's worker.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_request_headers(
    filter_envoy: *mut c_void,
    filter: *const c_void,
    _end_of_stream: bool,
) -> u32 {
    guard("request_headers", HEADERS_STOP_ITERATION, || {
        let Some(f) = filter_mut(filter) else {
            return HEADERS_STOP_ITERATION;
        };
        if super::request_headers(f, FilterHandle(filter_envoy)) {
            HEADERS_CONTINUE
        } else {
            HEADERS_STOP_ITERATION
        }
    })
}

/// # Safety
/// Called by Envoy on the stream's worker. While a request waits for its key refetch, its
/// body is buffered (a `Continue` here would let it through before the decision).
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_request_body(
    _filter_envoy: *mut c_void,
    filter: *const c_void,
    _end_of_stream: bool,
) -> u32 {
    guard(
        "request_body",
        BODY_STOP_ITERATION_AND_BUFFER,
        || match filter_mut(filter) {
            Some(f) if !f.holds() => BODY_CONTINUE,
            _ => BODY_STOP_ITERATION_AND_BUFFER,
        },
    )
}

/// # Safety
/// As `request_body`.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_request_trailers(
    _filter_envoy: *mut c_void,
    filter: *const c_void,
) -> u32 {
    guard(
        "request_trailers",
        TRAILERS_STOP_ITERATION,
        || match filter_mut(filter) {
            Some(f) if !f.holds() => TRAILERS_CONTINUE,
            _ => TRAILERS_STOP_ITERATION,
        },
    )
}

/// # Safety
/// Called by Envoy; Vigil does not look at responses.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_response_headers(
    _filter_envoy: *mut c_void,
    _filter: *const c_void,
    _end_of_stream: bool,
) -> u32 {
    HEADERS_CONTINUE
}

/// # Safety
/// Called by Envoy; Vigil does not look at responses.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_response_body(
    _filter_envoy: *mut c_void,
    _filter: *const c_void,
    _end_of_stream: bool,
) -> u32 {
    BODY_CONTINUE
}

/// # Safety
/// Called by Envoy; Vigil does not look at responses.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_response_trailers(
    _filter_envoy: *mut c_void,
    _filter: *const c_void,
) -> u32 {
    TRAILERS_CONTINUE
}

/// # Safety
/// Called by Envoy before the access logs are flushed.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_stream_complete(
    _filter_envoy: *mut c_void,
    _filter: *const c_void,
) {
}

/// # Safety
/// Called by Envoy once per filter `filter_new` returned.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_destroy(filter: *const c_void) {
    guard("filter_destroy", (), || {
        if !filter.is_null() {
            // SAFETY: the pointer came from `Box::into_raw` and Envoy gives it back once.
            drop(unsafe { Box::from_raw(filter as *mut Filter) });
        }
    })
}

/// # Safety
/// Called by Envoy on the stream's worker with arrays valid until the hook returns.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_http_callout_done(
    filter_envoy: *mut c_void,
    filter: *const c_void,
    callout_id: u64,
    result: u32,
    headers: *mut EnvoyHeader,
    headers_size: usize,
    body_chunks: *mut EnvoyBuffer,
    body_chunks_size: usize,
) {
    guard("http_callout_done", (), || {
        let Some(f) = filter_mut(filter) else {
            return;
        };
        let headers = headers_of(headers, headers_size);
        let chunks = chunks_of(body_chunks, body_chunks_size);
        super::filter_callout_done(
            f,
            FilterHandle(filter_envoy),
            callout_id,
            result,
            &headers,
            &chunks,
        );
    })
}

/// # Safety
/// Vigil starts no streamed callouts.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_headers(
    _filter_envoy: *mut c_void,
    _filter: *const c_void,
    _stream_id: u64,
    _headers: *mut EnvoyHeader,
    _headers_size: usize,
    _end_stream: bool,
) {
}

/// # Safety
/// Vigil starts no streamed callouts.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_data(
    _filter_envoy: *mut c_void,
    _filter: *const c_void,
    _stream_id: u64,
    _data: *const EnvoyBuffer,
    _data_count: usize,
    _end_stream: bool,
) {
}

/// # Safety
/// Vigil starts no streamed callouts.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_trailers(
    _filter_envoy: *mut c_void,
    _filter: *const c_void,
    _stream_id: u64,
    _trailers: *mut EnvoyHeader,
    _trailers_size: usize,
) {
}

/// # Safety
/// Vigil starts no streamed callouts.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_complete(
    _filter_envoy: *mut c_void,
    _filter: *const c_void,
    _stream_id: u64,
) {
}

/// # Safety
/// Vigil starts no streamed callouts.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_reset(
    _filter_envoy: *mut c_void,
    _filter: *const c_void,
    _stream_id: u64,
    _reason: u32,
) {
}

/// # Safety
/// Vigil commits no per-filter events.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_scheduled(
    _filter_envoy: *mut c_void,
    _filter: *const c_void,
    _event_id: u64,
) {
}

/// # Safety
/// Called by Envoy on the main thread for an event the tick thread committed.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_config_scheduled(
    config_envoy: *mut c_void,
    config: *const c_void,
    _event_id: u64,
) {
    guard("config_scheduled", (), || {
        if let Some(c) = config_ref(config) {
            super::config_tick(c, ConfigHandle(config_envoy));
        }
    })
}

/// # Safety
/// Called by Envoy on the main thread with arrays valid until the hook returns.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_config_http_callout_done(
    config_envoy: *mut c_void,
    config: *const c_void,
    callout_id: u64,
    result: u32,
    headers: *mut EnvoyHeader,
    headers_size: usize,
    body_chunks: *mut EnvoyBuffer,
    body_chunks_size: usize,
) {
    guard("config_http_callout_done", (), || {
        let Some(c) = config_ref(config) else {
            return;
        };
        let headers = headers_of(headers, headers_size);
        let chunks = chunks_of(body_chunks, body_chunks_size);
        super::config_callout_done(
            c,
            ConfigHandle(config_envoy),
            callout_id,
            result,
            &headers,
            &chunks,
        );
    })
}

/// # Safety
/// Vigil starts no streamed callouts.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_config_http_stream_headers(
    _config_envoy: *mut c_void,
    _config: *const c_void,
    _stream_id: u64,
    _headers: *mut EnvoyHeader,
    _headers_size: usize,
    _end_stream: bool,
) {
}

/// # Safety
/// Vigil starts no streamed callouts.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_config_http_stream_data(
    _config_envoy: *mut c_void,
    _config: *const c_void,
    _stream_id: u64,
    _data: *const EnvoyBuffer,
    _data_count: usize,
    _end_stream: bool,
) {
}

/// # Safety
/// Vigil starts no streamed callouts.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_config_http_stream_trailers(
    _config_envoy: *mut c_void,
    _config: *const c_void,
    _stream_id: u64,
    _trailers: *mut EnvoyHeader,
    _trailers_size: usize,
) {
}

/// # Safety
/// Vigil starts no streamed callouts.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_config_http_stream_complete(
    _config_envoy: *mut c_void,
    _config: *const c_void,
    _stream_id: u64,
) {
}

/// # Safety
/// Vigil starts no streamed callouts.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_config_http_stream_reset(
    _config_envoy: *mut c_void,
    _config: *const c_void,
    _stream_id: u64,
    _reason: u32,
) {
}

/// # Safety
/// Nothing to do: Vigil is not a terminal filter.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark(
    _filter_envoy: *mut c_void,
    _filter: *const c_void,
) {
}

/// # Safety
/// Nothing to do: Vigil is not a terminal filter.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark(
    _filter_envoy: *mut c_void,
    _filter: *const c_void,
) {
}

/// # Safety
/// Called by Envoy when a local reply is sent on the stream: let it go out.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_local_reply(
    _filter_envoy: *mut c_void,
    _filter: *const c_void,
    _response_code: u32,
    _details: EnvoyBuffer,
    _reset_imminent: bool,
) -> u32 {
    LOCAL_REPLY_CONTINUE
}
