//! The proxy-wasm ABI 0.2.1 host calls the filter uses, wrapped once (wasm32 only).
//!
//! The SDK's own wrappers `panic!` on any status they do not expect (and decode header names
//! with `unwrap`); in Envoy a panic kills the worker's VM and, fail-closed, every later request
//! on that worker gets 503. Here every call returns `Result<_, Status>` for every status, so a
//! misbehaving host becomes a fail-closed decision, never an abort. This is the only module
//! with `unsafe` code: raw pointers across the ABI.
#![allow(unsafe_code)]

use std::ptr::{null, null_mut};

pub use crate::host::Status;
use crate::host::{encode_map, visit_map};

/// Header maps.
#[derive(Debug, Clone, Copy)]
#[repr(u32)]
pub enum Map {
    /// The request headers (and pseudo-headers).
    RequestHeaders = 0,
    /// The headers of an HTTP call's response.
    CallResponseHeaders = 6,
}

/// Buffers.
#[derive(Debug, Clone, Copy)]
#[repr(u32)]
pub enum Buffer {
    /// The body of an HTTP call's response.
    CallResponseBody = 4,
    /// The plugin configuration.
    PluginConfiguration = 7,
}

/// proxy-wasm log levels.
#[derive(Debug, Clone, Copy)]
#[repr(u32)]
pub enum Level {
    /// Debug.
    Debug = 1,
    /// Info.
    Info = 2,
    /// Warn.
    Warn = 3,
    /// Error.
    Error = 4,
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: u32, data: *const u8, size: usize) -> u32;
    fn proxy_get_log_level(ret: *mut u32) -> u32;
    fn proxy_get_current_time_nanoseconds(ret: *mut u64) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_get_buffer_bytes(
        buffer: u32,
        start: usize,
        max: usize,
        ret_data: *mut *mut u8,
        ret_size: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_pairs(map: u32, ret_data: *mut *mut u8, ret_size: *mut usize) -> u32;
    fn proxy_get_header_map_value(
        map: u32,
        key: *const u8,
        key_size: usize,
        ret_data: *mut *mut u8,
        ret_size: *mut usize,
    ) -> u32;
    fn proxy_remove_header_map_value(map: u32, key: *const u8, key_size: usize) -> u32;
    fn proxy_replace_header_map_value(
        map: u32,
        key: *const u8,
        key_size: usize,
        value: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_get_property(
        path: *const u8,
        path_size: usize,
        ret_data: *mut *mut u8,
        ret_size: *mut usize,
    ) -> u32;
    fn proxy_set_property(
        path: *const u8,
        path_size: usize,
        value: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_send_local_response(
        status: u32,
        details: *const u8,
        details_size: usize,
        body: *const u8,
        body_size: usize,
        headers: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
    fn proxy_get_shared_data(
        key: *const u8,
        key_size: usize,
        ret_data: *mut *mut u8,
        ret_size: *mut usize,
        ret_cas: *mut u32,
    ) -> u32;
    fn proxy_set_shared_data(
        key: *const u8,
        key_size: usize,
        value: *const u8,
        value_size: usize,
        cas: u32,
    ) -> u32;
    fn proxy_continue_stream(stream: u32) -> u32;
    fn proxy_define_metric(kind: u32, name: *const u8, name_size: usize, ret_id: *mut u32) -> u32;
    fn proxy_increment_metric(id: u32, offset: i64) -> u32;
}

const OK: u32 = 0;
const NOT_FOUND: u32 = 1;
const EMPTY: u32 = 7;

fn status(s: u32) -> Result<(), Status> {
    if s == OK {
        Ok(())
    } else {
        Err(Status(s))
    }
}

/// Adopts a buffer the host allocated through our allocator export (exactly `size` bytes).
///
/// # Safety
/// `data` must be null or a pointer returned by this module's `proxy_on_memory_allocate` /
/// `malloc` for exactly `size` bytes, and not owned by anything else.
unsafe fn adopt(data: *mut u8, size: usize) -> Vec<u8> {
    if data.is_null() || size == 0 {
        if !data.is_null() {
            // A zero-size allocation: give it back to the allocator.
            drop(Vec::from_raw_parts(data, 0, 0));
        }
        return Vec::new();
    }
    Vec::from_raw_parts(data, size, size)
}

/// Writes a message to the host log.
pub fn log(level: Level, msg: &str) {
    // Nothing sensible to do if logging itself fails.
    let _ = unsafe { proxy_log(level as u32, msg.as_ptr(), msg.len()) };
}

/// Whether the host would keep a line at `level` (its log level can change at run time, e.g.
/// through Envoy's `/logging`); when the host cannot say, true.
pub fn logs_at(level: Level) -> bool {
    let mut current: u32 = 0;
    match status(unsafe { proxy_get_log_level(&mut current) }) {
        Ok(()) => current <= level as u32,
        Err(_) => true,
    }
}

/// The host clock, in milliseconds.
pub fn now_millis() -> Result<u64, Status> {
    let mut ns: u64 = 0;
    status(unsafe { proxy_get_current_time_nanoseconds(&mut ns) })?;
    Ok(ns / 1_000_000)
}

/// Sets the root context's tick period.
pub fn set_tick_period_ms(ms: u32) -> Result<(), Status> {
    status(unsafe { proxy_set_tick_period_milliseconds(ms) })
}

/// Reads up to `max` bytes of a buffer.
pub fn buffer(which: Buffer, max: usize) -> Result<Vec<u8>, Status> {
    let mut data = null_mut();
    let mut size = 0;
    match unsafe { proxy_get_buffer_bytes(which as u32, 0, max, &mut data, &mut size) } {
        OK => Ok(unsafe { adopt(data, size) }),
        NOT_FOUND | EMPTY => Ok(Vec::new()),
        s => Err(Status(s)),
    }
}

/// Hands every pair of a header map to `f`, borrowed from one copy of the map.
pub fn each_pair(map: Map, f: &mut dyn FnMut(&[u8], &[u8])) -> Result<(), Status> {
    let mut data = null_mut();
    let mut size = 0;
    status(unsafe { proxy_get_header_map_pairs(map as u32, &mut data, &mut size) })?;
    let bytes = unsafe { adopt(data, size) };
    visit_map(&bytes, f)
}

/// One header's value (the host joins repeated headers).
pub fn map_value(map: Map, key: &str) -> Result<Option<Vec<u8>>, Status> {
    let mut data = null_mut();
    let mut size = 0;
    match unsafe {
        proxy_get_header_map_value(map as u32, key.as_ptr(), key.len(), &mut data, &mut size)
    } {
        OK => Ok(Some(unsafe { adopt(data, size) })),
        NOT_FOUND => Ok(None),
        s => Err(Status(s)),
    }
}

/// Removes every value of a request header.
pub fn remove_header(key: &str) -> Result<(), Status> {
    match unsafe {
        proxy_remove_header_map_value(Map::RequestHeaders as u32, key.as_ptr(), key.len())
    } {
        OK | NOT_FOUND => Ok(()),
        s => Err(Status(s)),
    }
}

/// Sets a request header, replacing every previous value.
pub fn set_header(key: &str, value: &str) -> Result<(), Status> {
    status(unsafe {
        proxy_replace_header_map_value(
            Map::RequestHeaders as u32,
            key.as_ptr(),
            key.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

fn property_path(path: &[&str]) -> Vec<u8> {
    let mut serialized = Vec::new();
    for (i, part) in path.iter().enumerate() {
        if i > 0 {
            serialized.push(0);
        }
        serialized.extend_from_slice(part.as_bytes());
    }
    serialized
}

/// Sets a property of the stream (Envoy: filter state `wasm.<path>`).
pub fn set_property(path: &[&str], value: &[u8]) -> Result<(), Status> {
    let p = property_path(path);
    status(unsafe { proxy_set_property(p.as_ptr(), p.len(), value.as_ptr(), value.len()) })
}

/// A property (`["source", "address"]`), raw bytes.
pub fn property(path: &[&str]) -> Result<Option<Vec<u8>>, Status> {
    let serialized = property_path(path);
    let mut data = null_mut();
    let mut size = 0;
    match unsafe { proxy_get_property(serialized.as_ptr(), serialized.len(), &mut data, &mut size) }
    {
        OK => Ok(Some(unsafe { adopt(data, size) })),
        NOT_FOUND => Ok(None),
        s => Err(Status(s)),
    }
}

/// Answers the request locally.
pub fn send_response(
    status_code: u32,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(), Status> {
    let h = encode_map(headers);
    let details = b"vigil";
    status(unsafe {
        proxy_send_local_response(
            status_code,
            details.as_ptr(),
            details.len(),
            if body.is_empty() {
                null()
            } else {
                body.as_ptr()
            },
            body.len(),
            h.as_ptr(),
            h.len(),
            -1,
        )
    })
}

/// Shared data: the value and its CAS token.
pub fn shared_get(key: &str) -> Result<Option<(Vec<u8>, u32)>, Status> {
    let mut data = null_mut();
    let mut size = 0;
    let mut cas = 0;
    match unsafe { proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas) }
    {
        OK => Ok(Some((unsafe { adopt(data, size) }, cas))),
        NOT_FOUND => Ok(None),
        s => Err(Status(s)),
    }
}

/// Shared data: set with a CAS token (0 = unconditional). `Err(Status(8))` is a CAS mismatch.
pub fn shared_set(key: &str, value: &[u8], cas: u32) -> Result<(), Status> {
    status(unsafe {
        proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas)
    })
}

/// Dispatches an HTTP call to a cluster; returns the token.
///
/// This one goes through the SDK: its dispatcher must register the token to route the
/// response back to the calling context. The SDK maps `BadArgument` (e.g. an unknown cluster)
/// and `InternalFailure` to errors; it would panic only on a status Envoy never returns here.
pub fn http_call(cluster: &str, headers: &[(&str, &str)], timeout_ms: u32) -> Result<u32, Status> {
    proxy_wasm::hostcalls::dispatch_http_call(
        cluster,
        headers.to_vec(),
        None,
        Vec::new(),
        std::time::Duration::from_millis(u64::from(timeout_ms)),
    )
    .map_err(|s| Status(s as u32))
}

/// Resumes a paused request.
pub fn resume_request() -> Result<(), Status> {
    status(unsafe { proxy_continue_stream(0) })
}

/// Defines a counter; returns its id.
pub fn define_counter(name: &str) -> Result<u32, Status> {
    let mut id = 0;
    status(unsafe { proxy_define_metric(0, name.as_ptr(), name.len(), &mut id) })?;
    Ok(id)
}

/// Adds to a counter.
pub fn increment(id: u32, by: i64) {
    let _ = unsafe { proxy_increment_metric(id, by) };
}
