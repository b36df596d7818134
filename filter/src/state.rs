//! Adapter state kept in shared data, so every worker (VM or thread) sees the same (the
//! feeds' snapshots are in [`crate::feed`]):
//!
//! * rate-limit token buckets (`vigil.rate.<limit>.<key>` = `<milli> <updated>`), read by the
//!   core while it decides ([`SharedRate`]) and written back after the decision. A CAS
//!   conflict (two workers updating one bucket at the same moment) keeps the other writer's
//!   value: limits are per Envoy and approximate under contention; exact fleet-wide limits
//!   belong to Envoy's global rate limit service, fed with the identity Vigil verified;
//! * behaviour histories per subject (`vigil.bhv.<slot>` = `<tag> <history>`, see
//!   [`policy_core::state::behavior_slot`]), read while deciding when the policy uses `behavior.*`, written back
//!   after the decision with CAS retries.

use crate::host::{Host, Status};
use policy_core::state::{
    behavior_slot, Behavior, BehaviorState, BehaviorUpdate, Bucket, RateState, RateUpdate,
};
use sha2::{Digest, Sha256};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

fn bucket_key(limit: &str, key: &str) -> String {
    // Keys come from requests (a header value, an address, a principal): long ones are hashed
    // so shared-data keys stay small and cannot be chosen to collide.
    if key.len() <= 64 && !key.contains('\n') {
        format!("vigil.rate.{limit}.{key}")
    } else {
        let digest = Sha256::digest(key.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("vigil.rate.{limit}.#{hex}")
    }
}

/// Rate-limit buckets in shared data, as the core reads them while deciding.
pub struct SharedRate<'h> {
    host: &'h dyn Host,
    /// The CAS token of each bucket read, for writing it back.
    cas: RefCell<BTreeMap<String, u32>>,
}

impl std::fmt::Debug for SharedRate<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRate")
            .field("cas", &self.cas)
            .finish()
    }
}

impl RateState for SharedRate<'_> {
    fn bucket(&self, limit: &str, key: &str) -> Option<Bucket> {
        let k = bucket_key(limit, key);
        let (bytes, cas) = self.host.shared_get(&k).ok().flatten()?;
        self.cas.borrow_mut().insert(k, cas);
        let text = String::from_utf8_lossy(&bytes);
        let (milli, updated) = text.split_once(' ')?;
        Some(Bucket {
            milli: milli.parse().ok()?,
            updated: updated.parse().ok()?,
        })
    }
}

impl<'h> SharedRate<'h> {
    /// Buckets read and written through `host`.
    pub fn new(host: &'h dyn Host) -> SharedRate<'h> {
        SharedRate {
            host,
            cas: RefCell::new(BTreeMap::new()),
        }
    }

    /// Writes the decision's bucket updates back (CAS; a conflict keeps the other value).
    pub fn store(&self, updates: &[RateUpdate]) {
        for u in updates {
            let k = bucket_key(&u.key.limit, &u.key.key);
            let cas = self.cas.borrow().get(&k).copied().unwrap_or(0);
            let v = format!("{} {}", u.bucket.milli, u.bucket.updated);
            let _ = self.host.shared_set(&k, v.as_bytes(), cas);
        }
    }
}

/// Attempts to write a history back when other workers keep changing the slot.
const BEHAVIOR_CAS_ATTEMPTS: usize = 4;

/// Behaviour histories in shared data, as the core reads them while deciding.
pub struct SharedBehavior<'h> {
    host: &'h dyn Host,
    /// The slot read while deciding and its CAS token.
    cas: Cell<Option<u32>>,
}

impl std::fmt::Debug for SharedBehavior<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedBehavior")
            .field("cas", &self.cas)
            .finish()
    }
}

impl BehaviorState for SharedBehavior<'_> {
    fn load(&self, subject: &str) -> Option<Behavior> {
        let (key, tag) = behavior_slot(subject);
        let got = self.host.shared_get(&key).ok().flatten();
        self.cas.set(Some(got.as_ref().map_or(0, |(_, cas)| *cas)));
        Behavior::from_slot(&got?.0, &tag)
    }
}

impl<'h> SharedBehavior<'h> {
    /// Histories read and written through `host`.
    pub fn new(host: &'h dyn Host) -> SharedBehavior<'h> {
        SharedBehavior {
            host,
            cas: Cell::new(None),
        }
    }

    /// Writes the decision's history back. On a CAS conflict (another worker wrote the slot
    /// since it was read) the request is applied again to the fresh value, a few times.
    pub fn store(&self, update: Option<&BehaviorUpdate>) {
        let Some(u) = update else {
            return;
        };
        let (key, tag) = behavior_slot(&u.subject);
        let mut record = u.record.clone();
        let mut cas = self.cas.get().unwrap_or(0);
        for _ in 0..BEHAVIOR_CAS_ATTEMPTS {
            let value = record.to_slot(&tag);
            match self.host.shared_set(&key, value.as_bytes(), cas) {
                Err(Status::CAS_MISMATCH) => {}
                _ => return,
            }
            let Ok(fresh) = self.host.shared_get(&key) else {
                return;
            };
            cas = fresh.as_ref().map_or(0, |(_, c)| *c);
            let prev = fresh.and_then(|(b, _)| Behavior::from_slot(&b, &tag));
            record = Behavior::observe(prev.as_ref(), u.country.as_deref(), u.now);
        }
    }
}
