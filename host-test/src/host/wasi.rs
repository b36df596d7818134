//! WASI preview 1 (`wasi_snapshot_preview1`) stubs: what a Rust `wasm32-wasip1` filter
//! imports, and a safe answer for anything else it might.
//!
//! * `fd_write` to fd 1 / 2 becomes plugin log lines (info / error), one per line;
//! * `environ_*`, `args_*`: empty; `fd_prestat_get`: no preopened directories;
//! * `random_get`: a real RNG (`getrandom`);
//! * `clock_time_get`: the host's virtual clock, for every clock id;
//! * `proc_exit`: traps, and the trap is reported as the guest calling `proc_exit(code)`;
//! * any other WASI function the module imports answers `ENOSYS` (or traps, if its signature
//!   has no errno result), so a filter never fails to load over an unused import.

use super::memory;
use super::{LogEntry, State};
use wasmtime::{Caller, ExternType, Linker, Module, Val, ValType};

const M: &str = "wasi_snapshot_preview1";
const SUCCESS: i32 = 0;
const EBADF: i32 = 8;
const EFAULT: i32 = 21;
const EINVAL: i32 = 28;
const ENOSYS: i32 = 52;
const ESPIPE: i32 = 70;

/// Longest line kept from stdout/stderr before it is cut.
const MAX_LINE: usize = 16 * 1024;

type C<'a> = Caller<'a, State>;
type R = wasmtime::Result<i32>;

fn errno(r: Result<(), super::abi::Status>) -> i32 {
    match r {
        Ok(()) => SUCCESS,
        Err(_) => EFAULT,
    }
}

/// The functions provided here by name (everything else falls back to `ENOSYS`).
const PROVIDED: &[&str] = &[
    "fd_write",
    "fd_read",
    "fd_close",
    "fd_seek",
    "fd_fdstat_get",
    "fd_prestat_get",
    "fd_prestat_dir_name",
    "environ_get",
    "environ_sizes_get",
    "args_get",
    "args_sizes_get",
    "proc_exit",
    "random_get",
    "clock_time_get",
    "clock_res_get",
    "sched_yield",
];

/// Appends guest output on `fd` to the log, a line at a time.
pub(crate) fn output(state: &mut State, fd: u32, bytes: &[u8]) {
    let level = if fd == 1 { 2 } else { 4 };
    let context_id = state.effective;
    let buf = if fd == 1 {
        &mut state.stdout
    } else {
        &mut state.stderr
    };
    let mut lines = Vec::new();
    for &b in bytes {
        if b == b'\n' {
            lines.push(std::mem::take(buf));
        } else if buf.len() < MAX_LINE {
            buf.push(b);
        }
    }
    for line in lines {
        state.logs.push_back(LogEntry {
            level,
            message: String::from_utf8_lossy(&line).into_owned(),
            context_id,
        });
    }
}

/// Logs what is left of a partial stdout/stderr line.
pub(crate) fn flush(state: &mut State) {
    for fd in [1, 2] {
        let buf = if fd == 1 {
            &state.stdout
        } else {
            &state.stderr
        };
        if !buf.is_empty() {
            output(state, fd, b"\n");
        }
    }
}

/// Registers the WASI functions for `module` on `linker`.
pub(crate) fn register(linker: &mut Linker<State>, module: &Module) -> wasmtime::Result<()> {
    linker.func_wrap(
        M,
        "fd_write",
        |mut c: C<'_>, fd: u32, iovs: u32, iovs_len: u32, ret: u32| -> R {
            if fd != 1 && fd != 2 {
                return Ok(EBADF);
            }
            if iovs_len > 1024 {
                return Ok(EINVAL);
            }
            let Ok(table) = memory::read(&c, iovs, iovs_len.saturating_mul(8)) else {
                return Ok(EFAULT);
            };
            let mut total: u32 = 0;
            let mut data = Vec::new();
            for iov in table.chunks_exact(8) {
                let (p, l) = iov.split_at(4);
                let (Ok(p), Ok(l)) = (<[u8; 4]>::try_from(p), <[u8; 4]>::try_from(l)) else {
                    return Ok(EFAULT);
                };
                let (p, l) = (u32::from_le_bytes(p), u32::from_le_bytes(l));
                let Ok(bytes) = memory::read(&c, p, l) else {
                    return Ok(EFAULT);
                };
                total = total.saturating_add(l);
                data.extend_from_slice(&bytes);
            }
            output(c.data_mut(), fd, &data);
            Ok(errno(memory::write_u32(&mut c, ret, total)))
        },
    )?;
    linker.func_wrap(
        M,
        "fd_read",
        |_: C<'_>, _: u32, _: u32, _: u32, _: u32| -> R { Ok(EBADF) },
    )?;
    linker.func_wrap(M, "fd_close", |_: C<'_>, fd: u32| -> R {
        Ok(if fd <= 2 { SUCCESS } else { EBADF })
    })?;
    linker.func_wrap(
        M,
        "fd_seek",
        |_: C<'_>, _: u32, _: i64, _: u32, _: u32| -> R { Ok(ESPIPE) },
    )?;
    linker.func_wrap(M, "fd_fdstat_get", |mut c: C<'_>, fd: u32, ret: u32| -> R {
        if fd > 2 {
            return Ok(EBADF);
        }
        // fdstat: filetype u8 (2 = character device), pad, flags u16, pad, rights base u64,
        // rights inheriting u64 — 24 bytes.
        let mut st = [0u8; 24];
        st[0] = 2;
        st[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        Ok(errno(memory::write(&mut c, ret, &st)))
    })?;
    linker.func_wrap(M, "fd_prestat_get", |_: C<'_>, _: u32, _: u32| -> R {
        Ok(EBADF)
    })?;
    linker.func_wrap(
        M,
        "fd_prestat_dir_name",
        |_: C<'_>, _: u32, _: u32, _: u32| -> R { Ok(EBADF) },
    )?;
    for (get, sizes) in [
        ("environ_get", "environ_sizes_get"),
        ("args_get", "args_sizes_get"),
    ] {
        linker.func_wrap(M, get, |_: C<'_>, _: u32, _: u32| -> R { Ok(SUCCESS) })?;
        linker.func_wrap(M, sizes, |mut c: C<'_>, count: u32, size: u32| -> R {
            Ok(errno(
                memory::write_u32(&mut c, count, 0).and(memory::write_u32(&mut c, size, 0)),
            ))
        })?;
    }
    linker.func_wrap(
        M,
        "proc_exit",
        |mut c: C<'_>, code: i32| -> wasmtime::Result<()> {
            c.data_mut().proc_exit = Some(code);
            wasmtime::bail!("the guest called proc_exit({code})")
        },
    )?;
    linker.func_wrap(M, "random_get", |mut c: C<'_>, ptr: u32, len: u32| -> R {
        if memory::check(&c, ptr, len).is_err() {
            return Ok(EFAULT);
        }
        let Ok(len) = usize::try_from(len) else {
            return Ok(EINVAL);
        };
        let mut buf = vec![0u8; len];
        if getrandom::fill(&mut buf).is_err() {
            return Ok(ENOSYS);
        }
        Ok(errno(memory::write(&mut c, ptr, &buf)))
    })?;
    linker.func_wrap(
        M,
        "clock_time_get",
        |mut c: C<'_>, id: u32, _precision: i64, ret: u32| -> R {
            if id > 3 {
                return Ok(EINVAL);
            }
            let now = c.data().clock_ns;
            Ok(errno(memory::write_u64(&mut c, ret, now)))
        },
    )?;
    linker.func_wrap(M, "clock_res_get", |mut c: C<'_>, id: u32, ret: u32| -> R {
        if id > 3 {
            return Ok(EINVAL);
        }
        Ok(errno(memory::write_u64(&mut c, ret, 1)))
    })?;
    linker.func_wrap(M, "sched_yield", |_: C<'_>| -> R { Ok(SUCCESS) })?;

    // Anything else from WASI: ENOSYS when the signature returns an errno, else a trap.
    for import in module.imports() {
        if import.module() != M || PROVIDED.contains(&import.name()) {
            continue;
        }
        let ExternType::Func(ty) = import.ty() else {
            continue;
        };
        let name = import.name().to_string();
        let returns_errno =
            ty.results().len() == 1 && ty.results().all(|r| matches!(r, ValType::I32));
        linker.func_new(M, import.name(), ty, move |_, _, results| {
            match results.first_mut() {
                Some(slot) if returns_errno => {
                    *slot = Val::I32(ENOSYS);
                    Ok(())
                }
                _ => wasmtime::bail!(
                    "the guest called WASI `{name}`, which this host does not provide"
                ),
            }
        })?;
    }
    Ok(())
}
