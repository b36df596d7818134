//! Guest memory helpers: bounds-checked copies in and out of the guest's linear memory, and
//! buffers handed to the guest through its own allocator.
//!
//! Every read copies: nothing here holds a slice of guest memory across a call back into the
//! guest, because the guest's allocator may grow (and so move) its memory.

use super::abi::Status;
use super::State;
use wasmtime::{Caller, Memory};

/// Why a pointer argument could not be used.
pub(crate) type MemResult<T> = Result<T, Status>;

/// The guest's exported memory, as recorded at instantiation.
fn memory(caller: &Caller<'_, State>) -> MemResult<Memory> {
    caller.data().memory.ok_or(Status::InternalFailure)
}

/// The byte range `ptr .. ptr + len` if it lies inside memory of `size` bytes.
fn range(ptr: u32, len: u32, size: usize) -> MemResult<std::ops::Range<usize>> {
    let start = usize::try_from(ptr).map_err(|_| Status::BadArgument)?;
    let len = usize::try_from(len).map_err(|_| Status::BadArgument)?;
    let end = start.checked_add(len).ok_or(Status::BadArgument)?;
    if end > size {
        return Err(Status::BadArgument);
    }
    Ok(start..end)
}

/// Copies `len` bytes at `ptr` out of guest memory. A zero length reads nothing (any pointer,
/// NULL included, is accepted then).
pub(crate) fn read(caller: &Caller<'_, State>, ptr: u32, len: u32) -> MemResult<Vec<u8>> {
    if len == 0 {
        return Ok(Vec::new());
    }
    if len > caller.data().limits_cfg.max_read {
        return Err(Status::BadArgument);
    }
    let mem = memory(caller)?;
    let data = mem.data(caller);
    let r = range(ptr, len, data.len())?;
    data.get(r).map(<[u8]>::to_vec).ok_or(Status::BadArgument)
}

/// Reads a string (lossily: invalid UTF-8 becomes U+FFFD).
pub(crate) fn read_string(caller: &Caller<'_, State>, ptr: u32, len: u32) -> MemResult<String> {
    read(caller, ptr, len).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Writes `bytes` at `ptr`.
pub(crate) fn write(caller: &mut Caller<'_, State>, ptr: u32, bytes: &[u8]) -> MemResult<()> {
    let mem = memory(caller)?;
    let data = mem.data_mut(caller);
    let len = u32::try_from(bytes.len()).map_err(|_| Status::BadArgument)?;
    let r = range(ptr, len, data.len())?;
    data.get_mut(r)
        .ok_or(Status::BadArgument)?
        .copy_from_slice(bytes);
    Ok(())
}

/// Checks that `len` bytes at `ptr` are writable, without writing.
pub(crate) fn check(caller: &Caller<'_, State>, ptr: u32, len: u32) -> MemResult<()> {
    let mem = memory(caller)?;
    range(ptr, len, mem.data_size(caller)).map(|_| ())
}

/// Writes a little-endian u32 (a wasm32 pointer or size).
pub(crate) fn write_u32(caller: &mut Caller<'_, State>, ptr: u32, v: u32) -> MemResult<()> {
    write(caller, ptr, &v.to_le_bytes())
}

/// Writes a little-endian u64.
pub(crate) fn write_u64(caller: &mut Caller<'_, State>, ptr: u32, v: u64) -> MemResult<()> {
    write(caller, ptr, &v.to_le_bytes())
}

/// What went wrong handing a buffer to the guest.
#[derive(Debug)]
pub(crate) enum GiveError {
    /// A pointer argument is unusable: answer the hostcall with this status.
    Status(Status),
    /// The guest's allocator failed or misbehaved: trap the guest with this error.
    Trap(wasmtime::Error),
}

impl From<Status> for GiveError {
    fn from(s: Status) -> Self {
        GiveError::Status(s)
    }
}

/// Hands `bytes` to the guest: allocates exactly `bytes.len()` bytes through the guest's
/// allocator (NULL for empty), copies them in, and stores the pointer and length at
/// `ret_ptr` / `ret_len`. The out-pointers are checked before anything is allocated, so a bad
/// out-pointer leaks nothing.
pub(crate) fn give(
    caller: &mut Caller<'_, State>,
    bytes: &[u8],
    ret_ptr: u32,
    ret_len: u32,
) -> Result<(), GiveError> {
    check(caller, ret_ptr, 4)?;
    check(caller, ret_len, 4)?;
    let len = u32::try_from(bytes.len()).map_err(|_| Status::BadArgument)?;
    let ptr = if len == 0 {
        0
    } else {
        let alloc =
            caller
                .data()
                .allocator
                .clone()
                .ok_or(GiveError::Trap(wasmtime::Error::msg(
                    "the module exports no allocator (`proxy_on_memory_allocate` or `malloc`)",
                )))?;
        let ptr = alloc.call(&mut *caller, len).map_err(GiveError::Trap)?;
        // Memory may have grown (and moved): look it up again and check the block.
        let size = memory(caller)?.data_size(&*caller);
        if ptr == 0 || range(ptr, len, size).is_err() {
            caller.data_mut().allocator_faults += 1;
            return Err(GiveError::Trap(wasmtime::Error::msg(format!(
                "the guest allocator returned {ptr:#x} for {len} bytes (memory is {size} bytes)"
            ))));
        }
        write(caller, ptr, bytes)?;
        ptr
    };
    write_u32(caller, ret_ptr, ptr)?;
    write_u32(caller, ret_len, len)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(range(0, 4, 4), Ok(0..4));
        assert_eq!(range(1, 4, 4), Err(Status::BadArgument));
        assert_eq!(
            range(u32::MAX, 2, usize::MAX),
            Ok(u32::MAX as usize..u32::MAX as usize + 2)
        );
        assert_eq!(range(u32::MAX, u32::MAX, 100), Err(Status::BadArgument));
    }
}
