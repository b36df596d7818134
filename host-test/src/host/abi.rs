//! The proxy-wasm ABI 0.2.1 host calls (module `env`): every function the Rust SDK 0.2.5
//! imports, whether a filter uses it or not.
//!
//! Rules every call follows:
//! * pointers and lengths from the guest are bounds-checked; a bad one is `BadArgument`, an
//!   unknown key or id is `NotFound` — never a host panic;
//! * only statuses the SDK's `Status` enum can hold are returned (0, 1, 2, 3, 4, 7, 8, 10):
//!   the SDK declares the return type as a Rust enum, so any other value would be undefined
//!   behaviour in the guest;
//! * returned buffers are allocated through the guest's allocator with exactly `len` bytes
//!   (NULL and length 0 for empty, without calling the allocator); out-pointers are checked
//!   before allocating, so a bad one leaks nothing; an allocator that traps, or returns NULL
//!   or a block outside memory, traps the guest with a message saying so
//!   (see `memory::give`);
//! * work that calls back into the guest (HTTP call responses, queue notifications) is never
//!   done inside a host call: it is queued and run after the current guest call returns,
//!   like a proxy's event loop.
//!
//! Edge cases, call by call (the SDK 0.2.5 wrapper panics — traps — on any status it does
//! not list, so a "polite" error where it expects Ok is a crash; those cases are marked †):
//!
//! | host call | answer |
//! |---|---|
//! | `proxy_log` | level > 5 or bad pointer: `BadArgument`†; lines below [`super::Vm::set_log_level`] are dropped, Ok |
//! | `proxy_get_log_level` | the level set on the VM (default 0, trace) |
//! | `proxy_get_current_time_nanoseconds` | the virtual clock (default 2023-11-14T22:13:20Z, `1_700_000_000` s) |
//! | `proxy_set_tick_period_milliseconds` | outside the root context: `BadArgument`†; 0 stops ticks |
//! | `proxy_get_buffer_bytes` | unknown buffer type: `BadArgument`†; `start` past the end: `BadArgument`†; empty or absent buffer: Ok + NULL (SDK: `None`); bodies outside an HTTP context read as empty; downstream/upstream data, gRPC, call data: always empty |
//! | `proxy_set_buffer_bytes` | request/response body of the current stream only, else `BadArgument`†; the range is clamped to the buffer |
//! | `proxy_get_header_map_pairs` | map types 0–3 need an HTTP context, 6–7 an HTTP call response being delivered, 4–5 (gRPC) and > 7 are `BadArgument`†; an empty map is Ok + NULL |
//! | `proxy_get_header_map_value` | case-insensitive; repeated values joined with `,`; absent: `NotFound` (SDK: `None`) |
//! | `proxy_add/replace/remove_header_map_value`, `proxy_set_header_map_pairs` | names are lower-cased as Envoy does; replace keeps the first entry's position and drops the others; removing an absent header is Ok; a malformed serialised map is `BadArgument`† |
//! | `proxy_get_property` | request properties first, then VM-wide ones (`plugin_name`, `plugin_root_id`, `plugin_vm_id`, and what the test sets); unknown path or a path to a subtree: `NotFound` (SDK: `None`); a trailing NUL in the path is ignored |
//! | `proxy_set_property` | stored on the current stream (or the VM in the root context); empty path `BadArgument`† |
//! | `proxy_get_shared_data` | per host (shared by its VMs); unknown key `NotFound` (SDK: `(None, None)`) |
//! | `proxy_set_shared_data` | CAS 0 is unconditional; a stale CAS is `CasMismatch`; a new key ignores the CAS (as Envoy); over [`super::Limits::max_shared_bytes`]: `InternalFailure`† |
//! | `proxy_register/resolve_shared_queue` | ids per (vm_id, name), per host; registering again moves the notifications to the caller; unknown: `NotFound` (SDK: `None`) |
//! | `proxy_enqueue_shared_queue` | unknown id `NotFound`; the registering VM's `proxy_on_queue_ready` runs after the current call (or its next call, for another VM) |
//! | `proxy_dequeue_shared_queue` | unknown id `NotFound`; empty `Empty` (SDK: `None`) |
//! | `proxy_continue_stream` / `proxy_close_stream` | stream type > 3 `BadArgument`†; resuming the request (type 0) is recorded; outside a stream Ok and ignored |
//! | `proxy_send_local_response` | outside an HTTP context `BadArgument`†; recorded (several are recorded and reported as a disagreement by [`super::check`]) |
//! | `proxy_http_call` | missing `:method`, `:path` or `:authority`, empty cluster, or (with [`super::Vm::strict_clusters`]) a cluster with no route: `BadArgument` (the SDK returns it as an error) |
//! | `proxy_grpc_call`, `proxy_grpc_stream` | `InternalFailure` (the SDK returns it as an error) |
//! | `proxy_grpc_send`, `proxy_grpc_cancel`, `proxy_grpc_close` | `NotFound` (the SDK returns it as an error) |
//! | `proxy_get_status` | Ok, code 12 (`UNIMPLEMENTED`), no message |
//! | `proxy_set_effective_context` | the root or a live HTTP context: Ok; anything else `BadArgument` (the SDK's dispatcher `unwrap`s it, so only a filter's own wrong id traps) |
//! | `proxy_done` | Ok (counted) |
//! | `proxy_call_foreign_function` | `NotFound` (the SDK returns it as an error) |
//! | `proxy_define_metric` | type > 2 `BadArgument`†; the same name and type gives the same id; more than 10,000 metrics `BadArgument`† |
//! | `proxy_increment_metric` | unknown id `NotFound`; a histogram, or a negative step on a counter, `BadArgument` |
//! | `proxy_record_metric` | unknown id `NotFound`; sets a counter or gauge, adds a histogram sample |
//! | `proxy_get_metric` | unknown id `NotFound`; a histogram `BadArgument` |

use super::memory::{self, GiveError};
use super::{Callout, HeaderMap, LocalResponse, LogEntry, MetricKind, State};
use wasmtime::{Caller, Linker};

/// A proxy-wasm status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Status {
    /// Success.
    Ok = 0,
    /// No such key, id or value.
    NotFound = 1,
    /// A pointer, length, enum value or context that cannot be used.
    BadArgument = 2,
    /// A value could not be serialised.
    SerializationFailure = 3,
    /// A value could not be parsed.
    ParseFailure = 4,
    /// A queue is empty.
    Empty = 7,
    /// A shared-data compare-and-swap lost.
    CasMismatch = 8,
    /// The host could not do it.
    InternalFailure = 10,
}

impl Status {
    /// The wire value.
    pub fn code(self) -> u32 {
        self as u32
    }
}

/// The guest's `Caller`.
type C<'a> = Caller<'a, State>;
/// A host call's result: a status for the guest, or a trap.
type R = wasmtime::Result<u32>;

fn status(r: Result<(), Status>) -> R {
    Ok(match r {
        Ok(()) => 0,
        Err(s) => s.code(),
    })
}

fn given(r: Result<(), GiveError>) -> R {
    match r {
        Ok(()) => Ok(0),
        Err(GiveError::Status(s)) => Ok(s.code()),
        Err(GiveError::Trap(e)) => Err(e),
    }
}

fn count(caller: &mut C<'_>, name: &'static str) {
    *caller.data_mut().hostcalls.entry(name).or_insert(0) += 1;
}

/// Map types (`MapType`).
fn map_of(state: &mut State, map: u32) -> Result<&mut HeaderMap, Status> {
    let effective = state.effective;
    match map {
        0..=3 => {
            let s = state
                .streams
                .get_mut(&effective)
                .ok_or(Status::BadArgument)?;
            Ok(match map {
                0 => &mut s.request_headers,
                1 => &mut s.request_trailers,
                2 => &mut s.response_headers,
                _ => &mut s.response_trailers,
            })
        }
        6 | 7 => {
            let r = state.call_response.as_mut().ok_or(Status::BadArgument)?;
            Ok(if map == 6 {
                &mut r.headers
            } else {
                &mut r.trailers
            })
        }
        _ => Err(Status::BadArgument),
    }
}

/// Buffer types (`BufferType`): a copy of the bytes.
fn buffer_of(state: &State, which: u32) -> Result<&[u8], Status> {
    let stream = state.streams.get(&state.effective);
    Ok(match which {
        0 => stream.map_or(&[][..], |s| &s.request_body),
        1 => stream.map_or(&[][..], |s| &s.response_body),
        2 | 3 | 5 | 8 => &[],
        4 => state
            .call_response
            .as_ref()
            .map_or(&[][..], |r| r.body.as_slice()),
        6 => &state.vm_config,
        7 => &state.plugin_config,
        _ => return Err(Status::BadArgument),
    })
}

fn buffer_mut(state: &mut State, which: u32) -> Result<&mut Vec<u8>, Status> {
    let effective = state.effective;
    match which {
        0 | 1 => {
            let s = state
                .streams
                .get_mut(&effective)
                .ok_or(Status::BadArgument)?;
            Ok(if which == 0 {
                &mut s.request_body
            } else {
                &mut s.response_body
            })
        }
        _ => Err(Status::BadArgument),
    }
}

/// Normalises a serialised property path (`a\0b`, with or without a trailing NUL).
fn property_key(mut path: Vec<u8>) -> Vec<u8> {
    if path.last() == Some(&0) {
        path.pop();
    }
    path
}

/// Registers every host call on `linker`.
pub(crate) fn register(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    const M: &str = "env";

    // ---- logging, time, ticks -------------------------------------------------------------
    linker.func_wrap(
        M,
        "proxy_log",
        |mut c: C<'_>, level: u32, ptr: u32, len: u32| -> R {
            count(&mut c, "proxy_log");
            if level > 5 {
                return status(Err(Status::BadArgument));
            }
            let message = match memory::read_string(&c, ptr, len) {
                Ok(m) => m,
                Err(s) => return status(Err(s)),
            };
            let st = c.data_mut();
            if level >= st.log_level {
                let context_id = st.effective;
                st.logs.push_back(LogEntry {
                    level,
                    message,
                    context_id,
                });
            }
            status(Ok(()))
        },
    )?;
    linker.func_wrap(M, "proxy_get_log_level", |mut c: C<'_>, ret: u32| -> R {
        count(&mut c, "proxy_get_log_level");
        let level = c.data().log_level;
        status(memory::write_u32(&mut c, ret, level))
    })?;
    linker.func_wrap(
        M,
        "proxy_get_current_time_nanoseconds",
        |mut c: C<'_>, ret: u32| -> R {
            count(&mut c, "proxy_get_current_time_nanoseconds");
            let now = c.data().clock_ns;
            status(memory::write_u64(&mut c, ret, now))
        },
    )?;
    linker.func_wrap(
        M,
        "proxy_set_tick_period_milliseconds",
        |mut c: C<'_>, period: u32| -> R {
            count(&mut c, "proxy_set_tick_period_milliseconds");
            let st = c.data_mut();
            if st.effective != st.root_id {
                return status(Err(Status::BadArgument));
            }
            st.tick_period_ms = period;
            st.next_tick_ns =
                (period > 0).then(|| st.clock_ns.saturating_add(u64::from(period) * 1_000_000));
            status(Ok(()))
        },
    )?;

    // ---- buffers ---------------------------------------------------------------------------
    linker.func_wrap(
        M,
        "proxy_get_buffer_bytes",
        |mut c: C<'_>, which: u32, start: u32, max: u32, ret_ptr: u32, ret_len: u32| -> R {
            count(&mut c, "proxy_get_buffer_bytes");
            let bytes = match buffer_of(c.data(), which) {
                Ok(b) => {
                    let start = start as usize;
                    if start > b.len() {
                        return status(Err(Status::BadArgument));
                    }
                    let end = start.saturating_add(max as usize).min(b.len());
                    b.get(start..end).unwrap_or_default().to_vec()
                }
                Err(s) => return status(Err(s)),
            };
            given(memory::give(&mut c, &bytes, ret_ptr, ret_len))
        },
    )?;
    linker.func_wrap(
        M,
        "proxy_set_buffer_bytes",
        |mut c: C<'_>, which: u32, start: u32, size: u32, ptr: u32, len: u32| -> R {
            count(&mut c, "proxy_set_buffer_bytes");
            let data = match memory::read(&c, ptr, len) {
                Ok(d) => d,
                Err(s) => return status(Err(s)),
            };
            let buf = match buffer_mut(c.data_mut(), which) {
                Ok(b) => b,
                Err(s) => return status(Err(s)),
            };
            let start = (start as usize).min(buf.len());
            let end = start.saturating_add(size as usize).min(buf.len());
            buf.splice(start..end, data);
            status(Ok(()))
        },
    )?;

    // ---- header maps -----------------------------------------------------------------------
    linker.func_wrap(
        M,
        "proxy_get_header_map_pairs",
        |mut c: C<'_>, map: u32, ret_ptr: u32, ret_len: u32| -> R {
            count(&mut c, "proxy_get_header_map_pairs");
            let bytes = match map_of(c.data_mut(), map) {
                Ok(m) if m.is_empty() => Vec::new(),
                Ok(m) => m.encode(),
                Err(s) => return status(Err(s)),
            };
            given(memory::give(&mut c, &bytes, ret_ptr, ret_len))
        },
    )?;
    linker.func_wrap(
        M,
        "proxy_set_header_map_pairs",
        |mut c: C<'_>, map: u32, ptr: u32, len: u32| -> R {
            count(&mut c, "proxy_set_header_map_pairs");
            let bytes = match memory::read(&c, ptr, len) {
                Ok(b) => b,
                Err(s) => return status(Err(s)),
            };
            let Some(pairs) = HeaderMap::decode(&bytes) else {
                return status(Err(Status::BadArgument));
            };
            status(map_of(c.data_mut(), map).map(|m| *m = pairs))
        },
    )?;
    linker.func_wrap(
        M,
        "proxy_get_header_map_value",
        |mut c: C<'_>, map: u32, kptr: u32, klen: u32, ret_ptr: u32, ret_len: u32| -> R {
            count(&mut c, "proxy_get_header_map_value");
            let key = match memory::read(&c, kptr, klen) {
                Ok(k) => k,
                Err(s) => return status(Err(s)),
            };
            let value = match map_of(c.data_mut(), map) {
                Ok(m) => match m.get(&key) {
                    Some(v) => v,
                    None => return status(Err(Status::NotFound)),
                },
                Err(s) => return status(Err(s)),
            };
            given(memory::give(&mut c, &value, ret_ptr, ret_len))
        },
    )?;
    linker.func_wrap(
        M,
        "proxy_replace_header_map_value",
        |mut c: C<'_>, map: u32, kptr: u32, klen: u32, vptr: u32, vlen: u32| -> R {
            count(&mut c, "proxy_replace_header_map_value");
            let (key, value) = match (memory::read(&c, kptr, klen), memory::read(&c, vptr, vlen)) {
                (Ok(k), Ok(v)) => (k, v),
                (Err(s), _) | (_, Err(s)) => return status(Err(s)),
            };
            status(map_of(c.data_mut(), map).map(|m| m.replace(&key, value)))
        },
    )?;
    linker.func_wrap(
        M,
        "proxy_add_header_map_value",
        |mut c: C<'_>, map: u32, kptr: u32, klen: u32, vptr: u32, vlen: u32| -> R {
            count(&mut c, "proxy_add_header_map_value");
            let (key, value) = match (memory::read(&c, kptr, klen), memory::read(&c, vptr, vlen)) {
                (Ok(k), Ok(v)) => (k, v),
                (Err(s), _) | (_, Err(s)) => return status(Err(s)),
            };
            status(map_of(c.data_mut(), map).map(|m| m.add(&key, value)))
        },
    )?;
    linker.func_wrap(
        M,
        "proxy_remove_header_map_value",
        |mut c: C<'_>, map: u32, kptr: u32, klen: u32| -> R {
            count(&mut c, "proxy_remove_header_map_value");
            let key = match memory::read(&c, kptr, klen) {
                Ok(k) => k,
                Err(s) => return status(Err(s)),
            };
            // Removing an absent header is Ok: the SDK panics on anything else.
            status(map_of(c.data_mut(), map).map(|m| m.remove(&key)))
        },
    )?;

    // ---- properties ------------------------------------------------------------------------
    linker.func_wrap(
        M,
        "proxy_get_property",
        |mut c: C<'_>, pptr: u32, plen: u32, ret_ptr: u32, ret_len: u32| -> R {
            count(&mut c, "proxy_get_property");
            let key = match memory::read(&c, pptr, plen) {
                Ok(p) => property_key(p),
                Err(s) => return status(Err(s)),
            };
            let st = c.data();
            let value = st
                .streams
                .get(&st.effective)
                .and_then(|s| s.properties.get(&key))
                .or_else(|| st.properties.get(&key))
                .cloned();
            match value {
                Some(v) => given(memory::give(&mut c, &v, ret_ptr, ret_len)),
                None => status(Err(Status::NotFound)),
            }
        },
    )?;
    linker.func_wrap(
        M,
        "proxy_set_property",
        |mut c: C<'_>, pptr: u32, plen: u32, vptr: u32, vlen: u32| -> R {
            count(&mut c, "proxy_set_property");
            let (key, value) = match (memory::read(&c, pptr, plen), memory::read(&c, vptr, vlen)) {
                (Ok(k), Ok(v)) => (property_key(k), v),
                (Err(s), _) | (_, Err(s)) => return status(Err(s)),
            };
            if key.is_empty() {
                return status(Err(Status::BadArgument));
            }
            let st = c.data_mut();
            let effective = st.effective;
            match st.streams.get_mut(&effective) {
                Some(s) => s.properties.insert(key, value),
                None => st.properties.insert(key, value),
            };
            status(Ok(()))
        },
    )?;

    // ---- shared data -----------------------------------------------------------------------
    linker.func_wrap(
        M,
        "proxy_get_shared_data",
        |mut c: C<'_>, kptr: u32, klen: u32, ret_ptr: u32, ret_len: u32, ret_cas: u32| -> R {
            count(&mut c, "proxy_get_shared_data");
            let key = match memory::read(&c, kptr, klen) {
                Ok(k) => k,
                Err(s) => return status(Err(s)),
            };
            if let Err(s) = memory::check(&c, ret_cas, 4) {
                return status(Err(s));
            }
            let found = c.data().shared_lock().data.get(&key).cloned();
            let Some((value, cas)) = found else {
                return status(Err(Status::NotFound));
            };
            if let Err(e) = memory::give(&mut c, &value, ret_ptr, ret_len) {
                return given(Err(e));
            }
            status(memory::write_u32(&mut c, ret_cas, cas))
        },
    )?;
    linker.func_wrap(
        M,
        "proxy_set_shared_data",
        |mut c: C<'_>, kptr: u32, klen: u32, vptr: u32, vlen: u32, cas: u32| -> R {
            count(&mut c, "proxy_set_shared_data");
            let (key, value) = match (memory::read(&c, kptr, klen), memory::read(&c, vptr, vlen)) {
                (Ok(k), Ok(v)) => (k, v),
                (Err(s), _) | (_, Err(s)) => return status(Err(s)),
            };
            let max = c.data().limits_cfg.max_shared_bytes;
            status(c.data().shared_lock().set(key, value, cas, max))
        },
    )?;

    // ---- shared queues ---------------------------------------------------------------------
    linker.func_wrap(
        M,
        "proxy_register_shared_queue",
        |mut c: C<'_>, nptr: u32, nlen: u32, ret_id: u32| -> R {
            count(&mut c, "proxy_register_shared_queue");
            let name = match memory::read_string(&c, nptr, nlen) {
                Ok(n) => n,
                Err(s) => return status(Err(s)),
            };
            if let Err(s) = memory::check(&c, ret_id, 4) {
                return status(Err(s));
            }
            let st = c.data();
            let id = st
                .shared_lock()
                .register_queue(&st.vm_id, &name, st.vm_serial, st.effective);
            status(memory::write_u32(&mut c, ret_id, id))
        },
    )?;
    linker.func_wrap(
        M,
        "proxy_resolve_shared_queue",
        |mut c: C<'_>, vptr: u32, vlen: u32, nptr: u32, nlen: u32, ret_id: u32| -> R {
            count(&mut c, "proxy_resolve_shared_queue");
            let (vm_id, name) = match (
                memory::read_string(&c, vptr, vlen),
                memory::read_string(&c, nptr, nlen),
            ) {
                (Ok(v), Ok(n)) => (v, n),
                (Err(s), _) | (_, Err(s)) => return status(Err(s)),
            };
            let vm_id = if vm_id.is_empty() {
                c.data().vm_id.clone()
            } else {
                vm_id
            };
            let found = c.data().shared_lock().resolve_queue(&vm_id, &name);
            match found {
                Some(id) => status(memory::write_u32(&mut c, ret_id, id)),
                None => status(Err(Status::NotFound)),
            }
        },
    )?;
    linker.func_wrap(
        M,
        "proxy_enqueue_shared_queue",
        |mut c: C<'_>, id: u32, vptr: u32, vlen: u32| -> R {
            count(&mut c, "proxy_enqueue_shared_queue");
            let value = match memory::read(&c, vptr, vlen) {
                Ok(v) => v,
                Err(s) => return status(Err(s)),
            };
            let max = c.data().limits_cfg.max_shared_bytes;
            status(c.data().shared_lock().enqueue(id, value, max))
        },
    )?;
    linker.func_wrap(
        M,
        "proxy_dequeue_shared_queue",
        |mut c: C<'_>, id: u32, ret_ptr: u32, ret_len: u32| -> R {
            count(&mut c, "proxy_dequeue_shared_queue");
            if let Err(s) = memory::check(&c, ret_ptr, 4).and(memory::check(&c, ret_len, 4)) {
                return status(Err(s));
            }
            let item = c.data().shared_lock().dequeue(id);
            match item {
                Ok(v) => given(memory::give(&mut c, &v, ret_ptr, ret_len)),
                Err(s) => status(Err(s)),
            }
        },
    )?;

    // ---- streams ---------------------------------------------------------------------------
    linker.func_wrap(
        M,
        "proxy_continue_stream",
        |mut c: C<'_>, stream: u32| -> R {
            count(&mut c, "proxy_continue_stream");
            if stream > 3 {
                return status(Err(Status::BadArgument));
            }
            let st = c.data_mut();
            let effective = st.effective;
            if let Some(s) = st.streams.get_mut(&effective) {
                if stream == 0 {
                    s.resumed += 1;
                }
            }
            status(Ok(()))
        },
    )?;
    linker.func_wrap(M, "proxy_close_stream", |mut c: C<'_>, stream: u32| -> R {
        count(&mut c, "proxy_close_stream");
        if stream > 3 {
            return status(Err(Status::BadArgument));
        }
        let st = c.data_mut();
        let effective = st.effective;
        if let Some(s) = st.streams.get_mut(&effective) {
            s.closed = true;
        }
        status(Ok(()))
    })?;
    linker.func_wrap(
        M,
        "proxy_send_local_response",
        |mut c: C<'_>,
         code: u32,
         dptr: u32,
         dlen: u32,
         bptr: u32,
         blen: u32,
         hptr: u32,
         hlen: u32,
         grpc_status: i32|
         -> R {
            count(&mut c, "proxy_send_local_response");
            let read = (|| {
                let details = memory::read_string(&c, dptr, dlen)?;
                let body = memory::read(&c, bptr, blen)?;
                let headers =
                    HeaderMap::decode(&memory::read(&c, hptr, hlen)?).ok_or(Status::BadArgument)?;
                Ok::<_, Status>((details, body, headers))
            })();
            let (details, body, headers) = match read {
                Ok(x) => x,
                Err(s) => return status(Err(s)),
            };
            let st = c.data_mut();
            let effective = st.effective;
            let Some(s) = st.streams.get_mut(&effective) else {
                return status(Err(Status::BadArgument));
            };
            s.local_responses.push(LocalResponse {
                status: code,
                details,
                headers: headers.to_strings(),
                body,
                grpc_status,
            });
            status(Ok(()))
        },
    )?;

    // ---- HTTP calls ------------------------------------------------------------------------
    linker.func_wrap(
        M,
        "proxy_http_call",
        |mut c: C<'_>,
         uptr: u32,
         ulen: u32,
         hptr: u32,
         hlen: u32,
         bptr: u32,
         blen: u32,
         tptr: u32,
         tlen: u32,
         timeout: u32,
         ret_token: u32|
         -> R {
            count(&mut c, "proxy_http_call");
            let read = (|| {
                let upstream = memory::read_string(&c, uptr, ulen)?;
                let headers =
                    HeaderMap::decode(&memory::read(&c, hptr, hlen)?).ok_or(Status::BadArgument)?;
                let body = memory::read(&c, bptr, blen)?;
                let trailers =
                    HeaderMap::decode(&memory::read(&c, tptr, tlen)?).ok_or(Status::BadArgument)?;
                memory::check(&c, ret_token, 4)?;
                Ok::<_, Status>((upstream, headers, body, trailers))
            })();
            let (upstream, headers, body, trailers) = match read {
                Ok(x) => x,
                Err(s) => return status(Err(s)),
            };
            // Like Envoy: the pseudo-headers are required, and (when the test says which
            // clusters exist) so is the cluster.
            let required = [&b":method"[..], b":path", b":authority"];
            if upstream.is_empty() || required.iter().any(|h| headers.get(h).is_none()) {
                return status(Err(Status::BadArgument));
            }
            let st = c.data_mut();
            if st.strict_clusters && !st.routes.contains_key(&upstream) {
                return status(Err(Status::BadArgument));
            }
            st.next_token = st.next_token.wrapping_add(1).max(1);
            let token = st.next_token;
            let callout = Callout {
                token,
                context_id: st.effective,
                upstream,
                headers: headers.to_strings(),
                body,
                trailers: trailers.to_strings(),
                timeout_ms: timeout,
                deadline_ns: st
                    .clock_ns
                    .saturating_add(u64::from(timeout).saturating_mul(1_000_000)),
            };
            st.callouts.insert(token, callout.clone());
            st.dispatched.push(callout);
            status(memory::write_u32(&mut c, ret_token, token))
        },
    )?;

    // ---- gRPC: not provided. Each answer is one the SDK's wrapper accepts without panicking:
    // grpc_call / grpc_stream → InternalFailure; grpc_send / cancel / close → NotFound;
    // get_status → Ok with gRPC code 12 (UNIMPLEMENTED) and no message.
    linker.func_wrap(
        M,
        "proxy_grpc_call",
        |mut c: C<'_>,
         _: u32,
         _: u32,
         _: u32,
         _: u32,
         _: u32,
         _: u32,
         _: u32,
         _: u32,
         _: u32,
         _: u32,
         _: u32,
         _: u32|
         -> R {
            count(&mut c, "proxy_grpc_call");
            status(Err(Status::InternalFailure))
        },
    )?;
    linker.func_wrap(
        M,
        "proxy_grpc_stream",
        |mut c: C<'_>,
         _: u32,
         _: u32,
         _: u32,
         _: u32,
         _: u32,
         _: u32,
         _: u32,
         _: u32,
         _: u32|
         -> R {
            count(&mut c, "proxy_grpc_stream");
            status(Err(Status::InternalFailure))
        },
    )?;
    linker.func_wrap(
        M,
        "proxy_grpc_send",
        |mut c: C<'_>, _: u32, _: u32, _: u32, _: u32| -> R {
            count(&mut c, "proxy_grpc_send");
            status(Err(Status::NotFound))
        },
    )?;
    linker.func_wrap(M, "proxy_grpc_cancel", |mut c: C<'_>, _: u32| -> R {
        count(&mut c, "proxy_grpc_cancel");
        status(Err(Status::NotFound))
    })?;
    linker.func_wrap(M, "proxy_grpc_close", |mut c: C<'_>, _: u32| -> R {
        count(&mut c, "proxy_grpc_close");
        status(Err(Status::NotFound))
    })?;
    linker.func_wrap(
        M,
        "proxy_get_status",
        |mut c: C<'_>, ret_code: u32, ret_ptr: u32, ret_len: u32| -> R {
            count(&mut c, "proxy_get_status");
            if let Err(s) = memory::check(&c, ret_code, 4) {
                return status(Err(s));
            }
            if let Err(e) = memory::give(&mut c, &[], ret_ptr, ret_len) {
                return given(Err(e));
            }
            status(memory::write_u32(&mut c, ret_code, 12))
        },
    )?;

    // ---- contexts, foreign functions -------------------------------------------------------
    linker.func_wrap(
        M,
        "proxy_set_effective_context",
        |mut c: C<'_>, id: u32| -> R {
            count(&mut c, "proxy_set_effective_context");
            let st = c.data_mut();
            if id == st.root_id || st.streams.contains_key(&id) {
                st.effective = id;
                status(Ok(()))
            } else {
                status(Err(Status::BadArgument))
            }
        },
    )?;
    linker.func_wrap(M, "proxy_done", |mut c: C<'_>| -> R {
        count(&mut c, "proxy_done");
        c.data_mut().done_calls += 1;
        status(Ok(()))
    })?;
    linker.func_wrap(
        M,
        "proxy_call_foreign_function",
        |mut c: C<'_>, _: u32, _: u32, _: u32, _: u32, _: u32, _: u32| -> R {
            count(&mut c, "proxy_call_foreign_function");
            status(Err(Status::NotFound))
        },
    )?;

    // ---- metrics ---------------------------------------------------------------------------
    linker.func_wrap(
        M,
        "proxy_define_metric",
        |mut c: C<'_>, kind: u32, nptr: u32, nlen: u32, ret_id: u32| -> R {
            count(&mut c, "proxy_define_metric");
            let Some(kind) = MetricKind::from_code(kind) else {
                return status(Err(Status::BadArgument));
            };
            let name = match memory::read_string(&c, nptr, nlen) {
                Ok(n) => n,
                Err(s) => return status(Err(s)),
            };
            if let Err(s) = memory::check(&c, ret_id, 4) {
                return status(Err(s));
            }
            let id = c.data_mut().metrics.define(kind, &name);
            match id {
                Some(id) => status(memory::write_u32(&mut c, ret_id, id)),
                None => status(Err(Status::BadArgument)),
            }
        },
    )?;
    linker.func_wrap(
        M,
        "proxy_increment_metric",
        |mut c: C<'_>, id: u32, offset: i64| -> R {
            count(&mut c, "proxy_increment_metric");
            status(c.data_mut().metrics.increment(id, offset))
        },
    )?;
    linker.func_wrap(
        M,
        "proxy_record_metric",
        |mut c: C<'_>, id: u32, value: u64| -> R {
            count(&mut c, "proxy_record_metric");
            status(c.data_mut().metrics.record(id, value))
        },
    )?;
    linker.func_wrap(
        M,
        "proxy_get_metric",
        |mut c: C<'_>, id: u32, ret: u32| -> R {
            count(&mut c, "proxy_get_metric");
            let v = c.data().metrics.get(id);
            match v {
                Ok(v) => status(memory::write_u64(&mut c, ret, v)),
                Err(s) => status(Err(s)),
            }
        },
    )?;
    Ok(())
}

/// Every host call this module provides (the ABI 0.2.1 set the Rust SDK 0.2.5 imports).
pub const HOSTCALLS: &[&str] = &[
    "proxy_log",
    "proxy_get_log_level",
    "proxy_get_current_time_nanoseconds",
    "proxy_set_tick_period_milliseconds",
    "proxy_get_buffer_bytes",
    "proxy_set_buffer_bytes",
    "proxy_get_header_map_pairs",
    "proxy_set_header_map_pairs",
    "proxy_get_header_map_value",
    "proxy_replace_header_map_value",
    "proxy_add_header_map_value",
    "proxy_remove_header_map_value",
    "proxy_get_property",
    "proxy_set_property",
    "proxy_get_shared_data",
    "proxy_set_shared_data",
    "proxy_register_shared_queue",
    "proxy_resolve_shared_queue",
    "proxy_enqueue_shared_queue",
    "proxy_dequeue_shared_queue",
    "proxy_continue_stream",
    "proxy_close_stream",
    "proxy_send_local_response",
    "proxy_http_call",
    "proxy_grpc_call",
    "proxy_grpc_stream",
    "proxy_grpc_send",
    "proxy_grpc_cancel",
    "proxy_grpc_close",
    "proxy_get_status",
    "proxy_set_effective_context",
    "proxy_done",
    "proxy_call_foreign_function",
    "proxy_define_metric",
    "proxy_increment_metric",
    "proxy_record_metric",
    "proxy_get_metric",
];
