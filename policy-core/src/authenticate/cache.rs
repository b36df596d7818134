//! The verified-token cache: the common case (the same token on many requests) becomes a hash
//! and a lookup instead of a signature verification.
//!
//! * Keyed by SHA-256 of the token; the raw token is never stored.
//! * Bounded: the capacity is fixed at construction; when full, the oldest entry is evicted
//!   (FIFO — insertion order; a hit does not refresh an entry, so a hot token is re-verified
//!   once per `capacity` insertions at worst, and the cost of eviction stays O(log n)).
//! * Every hit re-checks `exp` and `nbf` (with the rule's clock skew captured at insertion)
//!   against `now`; an expired entry is removed and reported as a miss.
//! * Every hit also re-checks that the key which verified the token is still in its issuer's
//!   key set (by [`crate::authenticate::Jwk::fingerprint`]): when an IdP withdraws a key, the
//!   tokens it signed stop being accepted as soon as the adapter installs the new set — unlike
//!   Envoy's `jwt_cache`, which keeps serving them until they expire.
//! * One cache belongs to one [`crate::authenticate::Authenticator`]: clear it (or make a new
//!   one) when the policy changes.

use crate::authenticate::{Identity, KeyStore};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use sha2::{Digest, Sha256};

type Key = [u8; 32];

#[derive(Debug, Clone)]
struct Entry {
    // Shared, so a hit costs a reference count, not a copy of every claim.
    id: Arc<Identity>,
    not_after: f64,
    not_before: Option<f64>,
}

/// A bounded cache of verified tokens.
#[derive(Debug, Clone)]
pub struct TokenCache {
    capacity: usize,
    map: BTreeMap<Key, Entry>,
    order: VecDeque<Key>,
    hits: u64,
    misses: u64,
}

/// A token's place in the cache (SHA-256 of the token): computed once per request, for the
/// lookup and, on a miss, the insertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenKey(Key);

impl TokenKey {
    /// The key of `token`.
    pub fn of(token: &str) -> TokenKey {
        TokenKey(Sha256::digest(token.as_bytes()).into())
    }
}

impl TokenCache {
    /// A cache holding at most `capacity` tokens (0 disables caching).
    pub fn new(capacity: usize) -> Self {
        TokenCache {
            capacity,
            map: BTreeMap::new(),
            order: VecDeque::new(),
            hits: 0,
            misses: 0,
        }
    }

    /// The identity of a cached, still valid token whose key is still in `keys`.
    pub fn get(&mut self, token: &str, now: i64, keys: &KeyStore) -> Option<Arc<Identity>> {
        self.get_keyed(TokenKey::of(token), now, keys)
    }

    /// [`TokenCache::get`] by the token's key.
    pub fn get_keyed(
        &mut self,
        TokenKey(k): TokenKey,
        now: i64,
        keys: &KeyStore,
    ) -> Option<Arc<Identity>> {
        let nowf = now as f64;
        let valid = match self.map.get(&k) {
            None => {
                self.misses += 1;
                return None;
            }
            Some(e) => {
                nowf < e.not_after
                    && e.not_before.is_none_or(|nb| nowf >= nb)
                    && e.id
                        .key_fingerprint
                        .is_some_and(|fp| keys.holds(&e.id.issuer, &fp))
            }
        };
        if valid {
            self.hits += 1;
            self.map.get(&k).map(|e| Arc::clone(&e.id))
        } else {
            self.misses += 1;
            // Expired, not yet valid or its key withdrawn: drop it; a later insert re-adds it
            // if it verifies again.
            self.map.remove(&k);
            self.order.retain(|o| *o != k);
            None
        }
    }

    /// Caches a verified identity; `skew_seconds` is its rule's clock skew.
    pub fn insert(&mut self, token: &str, id: impl Into<Arc<Identity>>, skew_seconds: u32) {
        self.insert_keyed(TokenKey::of(token), id, skew_seconds);
    }

    /// [`TokenCache::insert`] by the token's key.
    pub fn insert_keyed(
        &mut self,
        TokenKey(k): TokenKey,
        id: impl Into<Arc<Identity>>,
        skew_seconds: u32,
    ) {
        if self.capacity == 0 {
            return;
        }
        let id = id.into();
        let skew = f64::from(skew_seconds);
        let entry = Entry {
            not_after: id.exp + skew,
            not_before: id.not_before.map(|nb| nb - skew),
            id,
        };
        if self.map.insert(k, entry).is_some() {
            return;
        }
        self.order.push_back(k);
        while self.map.len() > self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.map.remove(&old);
                }
                None => break,
            }
        }
    }

    /// Number of cached tokens.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Lookups that found a valid entry.
    pub fn hits(&self) -> u64 {
        self.hits
    }

    /// Lookups that did not.
    pub fn misses(&self) -> u64 {
        self.misses
    }

    /// Empties the cache (counters are kept).
    pub fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
    }
}

#[cfg(test)]
#[path = "cache_test.rs"]
mod tests;
