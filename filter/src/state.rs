//! Adapter state kept in shared data, so every worker (VM or thread) sees the same:
//!
//! * the revocation snapshot polled from `revocation.feed` (`vigil.revocation` =
//!   `<fetched ms>\n<snapshot JSON>`, plus `vigil.revocation.v` = `<fetched ms>`, a tiny key
//!   each request reads so a new snapshot is installed at once on every worker);
//! * rate-limit token buckets (`vigil.rate.<limit>.<key>` = `<milli> <updated>`), read by the
//!   core while it decides ([`SharedRate`]) and written back after the decision. A CAS
//!   conflict (two workers updating one bucket at the same moment) keeps the other writer's
//!   value: limits are per Envoy and approximate under contention; exact fleet-wide limits
//!   belong to Envoy's global rate limit service, fed with the identity Vigil verified;
//! * behaviour histories per subject (`vigil.bhv.<slot>` = `<tag> <history>`, see
//!   [`policy_core::state::behavior_slot`]), read while deciding when the policy uses `behavior.*`, written back
//!   after the decision with CAS retries.

use crate::host::{Host, Level, Response, Status};
use crate::jwks::split_url;
use policy_core::policy::RevocationFeed;
use policy_core::state::{
    behavior_slot, Behavior, BehaviorState, BehaviorUpdate, Bucket, RateState, RateUpdate,
    RevocationSnapshot,
};
use sha2::{Digest, Sha256};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

const REVOCATION_KEY: &str = "vigil.revocation";
const REVOCATION_VERSION_KEY: &str = "vigil.revocation.v";
const MAX_FEED: usize = 8 << 20;

/// The revocation feed of one VM.
#[derive(Debug)]
pub struct Revocation {
    /// The feed and where to fetch it; `None` when the policy has no feed (snapshots other
    /// VMs or a companion plugin publish in shared data are still installed).
    source: Option<(RevocationFeed, String, String, String)>,
    /// The installed snapshot.
    pub snapshot: RefCell<RevocationSnapshot>,
    /// When the installed snapshot was fetched (ms), 0 before the first.
    fetched_ms: Cell<u64>,
    last_poll_ms: Cell<u64>,
    /// The call in flight, if any.
    pub in_flight: Cell<Option<u32>>,
}

impl Revocation {
    /// The revocation state of a policy, polling its feed if it has one with a usable URL.
    pub fn new(feed: Option<&RevocationFeed>) -> Revocation {
        let source = feed.and_then(|f| {
            let (authority, path) = split_url(&f.uri)?;
            let cluster = f.cluster.clone().unwrap_or_else(|| {
                authority
                    .split(':')
                    .next()
                    .unwrap_or(&authority)
                    .to_string()
            });
            Some((f.clone(), cluster, authority, path))
        });
        Revocation {
            source,
            snapshot: RefCell::new(RevocationSnapshot::default()),
            fetched_ms: Cell::new(0),
            last_poll_ms: Cell::new(0),
            in_flight: Cell::new(None),
        }
    }

    /// How often the feed is polled (`None` without a feed).
    pub fn poll_ms(&self) -> Option<u64> {
        self.source.as_ref().map(|s| s.0.poll_ms)
    }

    /// Installs a snapshot another VM published, if newer than ours (cheap when unchanged).
    pub fn sync(&self, host: &dyn Host) {
        let Ok(Some((v, _))) = host.shared_get(REVOCATION_VERSION_KEY) else {
            return;
        };
        let version: u64 = String::from_utf8_lossy(&v).parse().unwrap_or(0);
        if version <= self.fetched_ms.get() {
            return;
        }
        let Ok(Some((bytes, _))) = host.shared_get(REVOCATION_KEY) else {
            return;
        };
        let text = String::from_utf8_lossy(&bytes);
        let (fetched, doc) = text.split_once('\n').unwrap_or(("0", ""));
        let fetched: u64 = fetched.parse().unwrap_or(0);
        if fetched <= self.fetched_ms.get() {
            return;
        }
        match RevocationSnapshot::from_json(doc) {
            Ok(s) => {
                *self.snapshot.borrow_mut() = s;
                self.fetched_ms.set(fetched);
            }
            Err(e) => host.log(
                Level::Warn,
                &format!("vigil: shared revocation snapshot refused: {e}"),
            ),
        }
    }

    /// Starts a poll when one is due and no other VM holds the poll lease.
    pub fn maybe_poll(&self, host: &dyn Host, now_ms: u64) -> Option<u32> {
        let (feed, cluster, authority, path) = self.source.as_ref()?;
        if self.in_flight.get().is_some() || now_ms < self.last_poll_ms.get() + feed.poll_ms {
            return None;
        }
        self.last_poll_ms.set(now_ms);
        // One VM polls per period.
        let lease_until = now_ms + feed.poll_ms.saturating_sub(50).max(50);
        if !crate::jwks::cas_claim(host, "vigil.revocation-lease", now_ms, lease_until) {
            return None;
        }
        let headers = [
            (":method", "GET"),
            (":path", path.as_str()),
            (":authority", authority.as_str()),
            (":scheme", "http"),
            ("accept", "application/json"),
            ("user-agent", "vigil"),
        ];
        match host.http_call(cluster, &headers, 5_000) {
            Ok(token) => {
                self.in_flight.set(Some(token));
                Some(token)
            }
            Err(s) => {
                host.log(
                    Level::Warn,
                    &format!(
                        "vigil: cannot poll the revocation feed through `{cluster}` (status {})",
                        s.0
                    ),
                );
                None
            }
        }
    }

    /// Handles the poll's response. Returns whether a snapshot was installed.
    pub fn on_response(
        &self,
        host: &dyn Host,
        resp: &dyn Response,
        now_ms: u64,
    ) -> Result<(), String> {
        self.in_flight.set(None);
        let status = resp.status();
        if status != "200" {
            return Err(format!("status `{status}`"));
        }
        let body_size = resp.body_size();
        if body_size > MAX_FEED {
            return Err(format!("snapshot of {body_size} bytes is too large"));
        }
        let body = resp
            .body()
            .map_err(|s| format!("cannot read the body (status {})", s.0))?;
        let text = String::from_utf8(body).map_err(|_| "the snapshot is not UTF-8".to_string())?;
        let snapshot = RevocationSnapshot::from_json(&text).map_err(|e| e.to_string())?;
        *self.snapshot.borrow_mut() = snapshot;
        self.fetched_ms.set(now_ms);
        let _ = host.shared_set(REVOCATION_KEY, format!("{now_ms}\n{text}").as_bytes(), 0);
        let _ = host.shared_set(REVOCATION_VERSION_KEY, now_ms.to_string().as_bytes(), 0);
        Ok(())
    }

    /// The reason to fail closed, when the snapshot is older than `maxStaleSeconds`.
    pub fn stale(&self, now_ms: u64) -> Option<String> {
        let max = self
            .source
            .as_ref()?
            .0
            .max_stale_seconds?
            .saturating_mul(1000);
        let fetched = self.fetched_ms.get();
        if fetched == 0 || now_ms.saturating_sub(fetched) > max {
            Some(if fetched == 0 {
                "the revocation feed has not been read yet".to_string()
            } else {
                format!(
                    "the revocation feed is {} s old",
                    now_ms.saturating_sub(fetched) / 1000
                )
            })
        } else {
            None
        }
    }
}

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
