//! Shared data for the native build: what proxy-wasm keeps in Envoy's shared data (key sets,
//! revocation snapshots, leases, rate buckets, behaviour histories), here in the memory of
//! the one Envoy process, shared by the main thread and every worker thread of a filter
//! configuration. Same contract as Envoy's shared data for Wasm: a value and a CAS token; a
//! write with a stale token is refused (a key that does not exist yet is written whatever
//! the token).

use crate::host::Status;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// Most keys kept: a new key beyond it is refused (rate-limit keys come from requests).
pub const MAX_KEYS: usize = 1 << 20;
/// Largest value kept (a key set or revocation snapshot is capped lower by the adapter).
pub const MAX_VALUE: usize = 16 << 20;

/// A CAS-checked key-value store.
#[derive(Debug, Default)]
pub struct Kv {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<String, (Vec<u8>, u32)>,
    /// The last CAS token handed out (tokens are never 0).
    cas: u32,
}

impl Kv {
    /// The value of `key` and its CAS token.
    pub fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.map.get(key).cloned()
    }

    /// Sets `key` when `cas` is 0 or still its token.
    pub fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), Status> {
        if value.len() > MAX_VALUE {
            return Err(Status::BAD_ARGUMENT);
        }
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let current = inner.map.get(key).map(|(_, c)| *c);
        match current {
            Some(c) if cas != 0 && c != cas => return Err(Status::CAS_MISMATCH),
            None if inner.map.len() >= MAX_KEYS => return Err(Status::INTERNAL),
            _ => {}
        }
        inner.cas = inner.cas.wrapping_add(1).max(1);
        let token = inner.cas;
        inner.map.insert(key.to_string(), (value.to_vec(), token));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cas_semantics() {
        let kv = Kv::default();
        assert_eq!(kv.get("a"), None);
        // A key that does not exist yet is written whatever the token.
        assert_eq!(kv.set("a", b"1", 7), Ok(()));
        let (v, cas) = kv.get("a").unwrap_or_default();
        assert_eq!(v, b"1", "`a` was just written");
        assert_ne!(cas, 0);
        assert_eq!(kv.set("a", b"2", cas), Ok(()));
        assert_eq!(kv.set("a", b"3", cas), Err(Status::CAS_MISMATCH));
        let (v, cas2) = kv.get("a").unwrap_or_default();
        assert_eq!(v, b"2", "`a` was just written");
        assert_ne!(cas, cas2);
        assert_eq!(kv.set("a", b"4", 0), Ok(()));
        assert_eq!(kv.get("a").map(|(v, _)| v), Some(b"4".to_vec()));
    }
}
