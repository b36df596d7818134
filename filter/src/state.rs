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
use policy_core::bundle::{self, Kind, Last, Verified};
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
/// What the poller needs to know about the installed snapshot, whichever worker polls next:
/// `<fetched ms> <revision> <sha-256 of the body> <etag>` (revision 0: unsigned feed).
const REVOCATION_META_KEY: &str = "vigil.revocation.meta";
const MAX_FEED: usize = 8 << 20;

/// The installed snapshot as the poller describes it in shared data.
#[derive(Debug, Default, PartialEq, Eq)]
struct Meta {
    fetched_ms: u64,
    revision: u64,
    digest: String,
    etag: String,
}

impl Meta {
    fn read(host: &dyn Host) -> Meta {
        let Ok(Some((b, _))) = host.shared_get(REVOCATION_META_KEY) else {
            return Meta::default();
        };
        let text = String::from_utf8_lossy(&b);
        let mut it = text.splitn(4, ' ');
        Meta {
            fetched_ms: it.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            revision: it.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            digest: it.next().unwrap_or("").to_string(),
            etag: it.next().unwrap_or("").to_string(),
        }
    }
    fn write(&self, host: &dyn Host) {
        let v = format!(
            "{} {} {} {}",
            self.fetched_ms, self.revision, self.digest, self.etag
        );
        let _ = host.shared_set(REVOCATION_META_KEY, v.as_bytes(), 0);
    }
}

fn hex_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

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
    /// When the origin last confirmed the installed snapshot (a `200` or a `304`), for
    /// `maxStaleSeconds`.
    confirmed_ms: Cell<u64>,
    last_poll_ms: Cell<u64>,
    /// The call in flight, if any.
    pub in_flight: Cell<Option<u32>>,
}

impl Revocation {
    /// The revocation state of a policy, polling its feed if it has one with a usable URL.
    pub fn new(feed: Option<&RevocationFeed>) -> Revocation {
        let source = feed.and_then(|f| {
            let (authority, path) = split_url(&f.uri)?;
            let cluster = crate::jwks::cluster_for(f.cluster.as_ref(), &authority);
            Some((f.clone(), cluster, authority, path))
        });
        Revocation {
            source,
            snapshot: RefCell::new(RevocationSnapshot::default()),
            fetched_ms: Cell::new(0),
            confirmed_ms: Cell::new(0),
            last_poll_ms: Cell::new(0),
            in_flight: Cell::new(None),
        }
    }

    /// How often the feed is polled (`None` without a feed).
    pub fn poll_ms(&self) -> Option<u64> {
        self.source.as_ref().map(|s| s.0.poll_ms)
    }

    /// Installs a snapshot another VM published, if newer than ours (cheap when unchanged:
    /// one small key, `<fetched ms> <confirmed ms>`).
    pub fn sync(&self, host: &dyn Host) {
        let Ok(Some((v, _))) = host.shared_get(REVOCATION_VERSION_KEY) else {
            return;
        };
        let v = String::from_utf8_lossy(&v);
        let (version, confirmed) = v.split_once(' ').unwrap_or((&v, "0"));
        let version: u64 = version.parse().unwrap_or(0);
        let confirmed: u64 = confirmed.parse().unwrap_or(0);
        if confirmed > self.confirmed_ms.get() && version <= self.fetched_ms.get() {
            self.confirmed_ms.set(confirmed);
        }
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
                self.confirmed_ms.set(confirmed.max(fetched));
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
        // Conditional, when the origin's ETag belongs to the snapshot installed here.
        let meta = Meta::read(host);
        let etag = (!meta.etag.is_empty()
            && meta.fetched_ms == self.fetched_ms.get()
            && meta.fetched_ms > 0)
            .then_some(meta.etag.as_str());
        let accept = if feed.keys.is_some() {
            "application/jose, */*"
        } else {
            "application/json"
        };
        let mut headers = vec![
            (":method", "GET"),
            (":path", path.as_str()),
            (":authority", authority.as_str()),
            (":scheme", "http"),
            ("accept", accept),
            ("user-agent", "vigil"),
        ];
        if let Some(tag) = etag {
            headers.push(("if-none-match", tag));
        }
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

    /// Marks the installed snapshot confirmed by the origin now, for every worker.
    fn confirm(&self, host: &dyn Host, now_ms: u64) {
        self.confirmed_ms.set(now_ms);
        let v = format!("{} {now_ms}", self.fetched_ms.get());
        let _ = host.shared_set(REVOCATION_VERSION_KEY, v.as_bytes(), 0);
    }

    /// Handles the poll's response: a `304`, or the same body again, confirms the installed
    /// snapshot; a new one (verified first, for a signed feed) is installed and published.
    pub fn on_response(
        &self,
        host: &dyn Host,
        resp: &dyn Response,
        now_ms: u64,
    ) -> Result<(), String> {
        self.in_flight.set(None);
        self.sync(host);
        let status = resp.status();
        let meta = Meta::read(host);
        if status == "304" && meta.fetched_ms == self.fetched_ms.get() && meta.fetched_ms > 0 {
            self.confirm(host, now_ms);
            return Ok(());
        }
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
        let digest = hex_digest(&body);
        let etag = resp
            .header("etag")
            .filter(|t| t.len() <= 256 && !t.contains(['\n', '\r']))
            .unwrap_or_default();
        if digest == meta.digest && meta.fetched_ms == self.fetched_ms.get() && meta.fetched_ms > 0
        {
            // The same bytes again (an origin without ETag): nothing to parse.
            self.confirm(host, now_ms);
            if etag != meta.etag {
                Meta { etag, ..meta }.write(host);
            }
            return Ok(());
        }
        let text = String::from_utf8(body).map_err(|_| "the snapshot is not UTF-8".to_string())?;
        let keys = self.source.as_ref().and_then(|s| s.0.keys.as_ref());
        let (snapshot, json, revision) = match keys {
            None => (
                RevocationSnapshot::from_json(&text).map_err(|e| e.to_string())?,
                text,
                0,
            ),
            Some(keys) => {
                let last = Last {
                    revision: Some(meta.revision).filter(|r| *r > 0),
                    text: None,
                };
                let b = match bundle::verify(&text, keys, Kind::Revocation, last) {
                    Ok(Verified::New(b)) => b,
                    Ok(Verified::Unchanged) => return Ok(()),
                    Err(e) => {
                        return Err(format!(
                            "signed snapshot refused: {} [{}]",
                            e.message, e.code
                        ))
                    }
                };
                let snapshot = RevocationSnapshot::from_value(&b.document, "$.document")
                    .map_err(|e| format!("revision {}: {e} [bad_document]", b.revision))?;
                (snapshot, b.document.to_json(), b.revision)
            }
        };
        *self.snapshot.borrow_mut() = snapshot;
        self.fetched_ms.set(now_ms);
        self.confirmed_ms.set(now_ms);
        let _ = host.shared_set(REVOCATION_KEY, format!("{now_ms}\n{json}").as_bytes(), 0);
        Meta {
            fetched_ms: now_ms,
            revision,
            digest,
            etag,
        }
        .write(host);
        self.confirm(host, now_ms);
        Ok(())
    }

    /// The reason to fail closed, when the origin has not confirmed the snapshot for longer
    /// than `maxStaleSeconds`.
    pub fn stale(&self, now_ms: u64) -> Option<String> {
        let max = self
            .source
            .as_ref()?
            .0
            .max_stale_seconds?
            .saturating_mul(1000);
        let confirmed = self.confirmed_ms.get().max(self.fetched_ms.get());
        if confirmed == 0 || now_ms.saturating_sub(confirmed) > max {
            Some(if confirmed == 0 {
                "the revocation feed has not been read yet".to_string()
            } else {
                format!(
                    "the revocation feed is {} s old",
                    now_ms.saturating_sub(confirmed) / 1000
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
