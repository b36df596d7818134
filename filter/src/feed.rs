//! Feeds the adapter polls — revocations (`revocation.feed`), network lists (`network.feed`)
//! and risk labels (`riskLabels.feed`) — with one machinery: one worker per period polls under
//! a lease in shared data, conditionally (`If-None-Match`) once the origin gave an `ETag`;
//! a new snapshot (a signed bundle verified first, when the feed has `keys`) is published in
//! shared data as `<fetched ms>\n<snapshot JSON>` under the feed's key, and a tiny version key
//! (`<fetched ms> <confirmed ms>`) that every request reads installs it on every worker at
//! once. A `304`, or the same body again, only confirms the snapshot (for `maxStaleSeconds`).
//!
//! The machinery is written once, not per snapshot type ([`FeedState`] hands a parsed JSON
//! document to an installer): three copies of it cost filter.wasm 8.2 KB.

use crate::host::{Counter, Host, Level, Response};
use crate::jwks::{cas_claim, cluster_for, split_url};
use policy_core::bundle::{self, Kind, Last, Verified};
use policy_core::error::PolicyError;
use policy_core::feeds::{NetworkLists, RiskLabels};
use policy_core::json::{self, Limits, Value};
use policy_core::policy::Feed as Settings;
use policy_core::state::RevocationSnapshot;
use sha2::{Digest, Sha256};
use std::cell::{Cell, RefCell};

/// Largest feed body.
const MAX_FEED: usize = 8 << 20;

/// A kind of feed: its name in shared data, and how it is counted.
#[derive(Debug)]
pub struct Spec {
    /// The shared-data name: `vigil.<name>.<source id>` (see [`Keys`]).
    pub name: &'static str,
    /// The bundle kind of a signed feed.
    pub kind: Kind,
    /// For messages: `revocation feed`.
    pub what: &'static str,
    /// The decision code when the feed is older than `maxStaleSeconds`.
    pub stale_code: &'static str,
    /// Counted per successful poll (a new snapshot, a `304`, the same body).
    pub ok: Counter,
    /// Counted per failed poll (status, size, a document or a signed bundle refused).
    pub failed: Counter,
}

/// A snapshot a feed serves.
pub trait Snapshot: Default {
    /// Its feed's spec.
    const SPEC: &'static Spec;
    /// Reads a document.
    fn parse(v: &Value, path: &str) -> Result<Self, PolicyError>;
}

impl Snapshot for RevocationSnapshot {
    const SPEC: &'static Spec = &Spec {
        name: "revocation",
        kind: Kind::Revocation,
        what: "revocation feed",
        stale_code: "revocation_stale",
        ok: Counter::RevocationPollOk,
        failed: Counter::RevocationPollFailed,
    };
    fn parse(v: &Value, path: &str) -> Result<Self, PolicyError> {
        RevocationSnapshot::from_value(v, path)
    }
}

impl Snapshot for NetworkLists {
    const SPEC: &'static Spec = &Spec {
        name: "netlists",
        kind: Kind::NetworkLists,
        what: "network-list feed",
        stale_code: "network_lists_stale",
        ok: Counter::NetworkFeedPollOk,
        failed: Counter::NetworkFeedPollFailed,
    };
    fn parse(v: &Value, path: &str) -> Result<Self, PolicyError> {
        NetworkLists::from_value(v, path)
    }
}

impl Snapshot for RiskLabels {
    const SPEC: &'static Spec = &Spec {
        name: "labels",
        kind: Kind::RiskLabels,
        what: "risk-label feed",
        stale_code: "risk_labels_stale",
        ok: Counter::LabelsFeedPollOk,
        failed: Counter::LabelsFeedPollFailed,
    };
    fn parse(v: &Value, path: &str) -> Result<Self, PolicyError> {
        RiskLabels::from_value(v, path)
    }
}

/// The installed snapshot as the poller describes it in shared data:
/// `<fetched ms> <revision> <sha-256 of the body> <issued ms> <etag>` (revision 0: unsigned;
/// issued 0: no `issuedAt`).
#[derive(Debug, Default, PartialEq, Eq)]
struct Meta {
    fetched_ms: u64,
    revision: u64,
    digest: String,
    issued_ms: u64,
    etag: String,
}

impl Meta {
    fn read(host: &dyn Host, key: &str) -> Meta {
        let Ok(Some((b, _))) = host.shared_get(key) else {
            return Meta::default();
        };
        let text = String::from_utf8_lossy(&b);
        let mut it = text.splitn(5, ' ');
        Meta {
            fetched_ms: it.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            revision: it.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            digest: it.next().unwrap_or("").to_string(),
            issued_ms: it.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            etag: it.next().unwrap_or("").to_string(),
        }
    }
    fn write(&self, host: &dyn Host, key: &str) {
        let v = format!(
            "{} {} {} {} {}",
            self.fetched_ms, self.revision, self.digest, self.issued_ms, self.etag
        );
        let _ = host.shared_set(key, v.as_bytes(), 0);
    }
}

fn hex_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Installs a parsed document as the snapshot (an error refuses it).
type Install<'a> = &'a mut dyn FnMut(&Value) -> Result<(), PolicyError>;

/// A feed's keys in shared data: `vigil.<name>.<source id>` (the URL and keys of the policy's
/// feed, so two filters in one `vm_id` never share a snapshot they do not both trust), or
/// `vigil.<name>` for a policy without that feed (a revocation snapshot another plugin
/// publishes there is still installed).
#[derive(Debug)]
pub struct Keys {
    /// `<fetched ms>\n<snapshot JSON>`.
    pub content: String,
    /// `<fetched ms> <confirmed ms> <issued ms>`, read on every request.
    pub version: String,
    /// [`Meta`], for whichever worker polls next.
    pub meta: String,
    /// The poll lease: a deadline (ms).
    pub lease: String,
}

impl Keys {
    fn new(spec: &Spec, settings: Option<&Settings>) -> Keys {
        let base = match settings {
            Some(f) => f.shared_key(spec.name),
            None => format!("vigil.{}", spec.name),
        };
        Keys {
            version: format!("{base}.v"),
            meta: format!("{base}.meta"),
            lease: format!("{base}.lease"),
            content: base,
        }
    }
}

/// A feed's polling state on one worker, whatever it carries.
#[derive(Debug)]
pub struct FeedState {
    spec: &'static Spec,
    /// Where its state is in shared data.
    pub keys: Keys,
    /// The settings and where to fetch (cluster, authority, path); `None` when the policy has
    /// no such feed.
    source: Option<(Settings, String, String, String)>,
    /// When the installed snapshot was fetched (ms), 0 before the first.
    fetched_ms: Cell<u64>,
    /// The highest published fetch time looked at (a snapshot refused is not read again).
    seen_ms: Cell<u64>,
    /// When the origin last confirmed it (a `200`, or a `304` to our `If-None-Match`).
    confirmed_ms: Cell<u64>,
    /// The installed signed snapshot's `issuedAt` (ms), 0 when unsigned or absent.
    issued_ms: Cell<u64>,
    /// The poll in flight, if any, and whether it was conditional.
    pub in_flight: Cell<Option<u32>>,
    conditional: Cell<bool>,
    poll_started_ms: Cell<u64>,
}

impl FeedState {
    fn new(spec: &'static Spec, settings: Option<&Settings>) -> FeedState {
        let source = settings.and_then(|f| {
            let (authority, path) = split_url(&f.uri)?;
            let cluster = cluster_for(f.cluster.as_ref(), &authority);
            Some((f.clone(), cluster, authority, path))
        });
        FeedState {
            spec,
            keys: Keys::new(spec, settings),
            source,
            fetched_ms: Cell::new(0),
            seen_ms: Cell::new(0),
            confirmed_ms: Cell::new(0),
            issued_ms: Cell::new(0),
            in_flight: Cell::new(None),
            conditional: Cell::new(false),
            poll_started_ms: Cell::new(0),
        }
    }

    fn sync(&self, host: &dyn Host, install: Install<'_>) {
        let Ok(Some((v, _))) = host.shared_get(&self.keys.version) else {
            return;
        };
        let v = String::from_utf8_lossy(&v);
        let mut it = v.split(' ').map(|x| x.parse::<u64>().unwrap_or(0));
        let (version, confirmed, issued) = (
            it.next().unwrap_or(0),
            it.next().unwrap_or(0),
            it.next().unwrap_or(0),
        );
        if version <= self.seen_ms.get() {
            if version == self.fetched_ms.get() && confirmed > self.confirmed_ms.get() {
                self.confirmed_ms.set(confirmed);
            }
            return;
        }
        self.seen_ms.set(version);
        let Ok(Some((bytes, _))) = host.shared_get(&self.keys.content) else {
            return;
        };
        let text = String::from_utf8_lossy(&bytes);
        let (fetched, doc) = text.split_once('\n').unwrap_or(("0", ""));
        let fetched: u64 = fetched.parse().unwrap_or(0);
        if fetched <= self.fetched_ms.get() {
            return;
        }
        let installed = json::parse(doc, Limits::POLICY)
            .map_err(|e| e.to_string())
            .and_then(|v| install(&v).map_err(|e| e.to_string()));
        match installed {
            Ok(()) => {
                self.fetched_ms.set(fetched);
                self.seen_ms.set(self.seen_ms.get().max(fetched));
                self.confirmed_ms.set(confirmed.max(fetched));
                self.issued_ms
                    .set(if fetched == version { issued } else { 0 });
            }
            Err(e) => host.log(
                Level::Warn,
                &format!(
                    "vigil: shared snapshot of the {} refused: {e}",
                    self.spec.what
                ),
            ),
        }
    }

    fn maybe_poll(&self, host: &dyn Host, now_ms: u64) -> Option<u32> {
        let (feed, cluster, authority, path) = self.source.as_ref()?;
        if self.in_flight.get().is_some() {
            return None;
        }
        // One worker polls at a time: the lease covers the call (released to the poll period
        // when it answers), so polls are spaced by `pollMs` and never overlap.
        let timeout = crate::bundle::call_timeout_ms(feed.poll_ms);
        let lease_until = now_ms + u64::from(timeout) + 200;
        if !cas_claim(host, &self.keys.lease, now_ms, lease_until) {
            return None;
        }
        // Conditional, when the origin's ETag belongs to the snapshot installed here.
        let meta = Meta::read(host, &self.keys.meta);
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
        match host.http_call(cluster, &headers, timeout) {
            Ok(token) => {
                self.in_flight.set(Some(token));
                self.conditional.set(etag.is_some());
                self.poll_started_ms.set(now_ms);
                Some(token)
            }
            Err(s) => {
                self.release(host, now_ms, feed.poll_ms);
                host.count(self.spec.failed, 1);
                host.log(
                    Level::Warn,
                    &format!(
                        "vigil: cannot poll the {} through `{cluster}` (status {})",
                        self.spec.what, s.0
                    ),
                );
                None
            }
        }
    }

    /// Gives the lease back until the next poll is due.
    fn release(&self, host: &dyn Host, started_ms: u64, poll_ms: u64) {
        let next = started_ms + poll_ms.saturating_sub(20).max(50);
        let _ = host.shared_set(&self.keys.lease, next.to_string().as_bytes(), 0);
    }

    /// Marks the installed snapshot confirmed by the origin now, for every worker.
    fn confirm(&self, host: &dyn Host, now_ms: u64) {
        self.confirmed_ms.set(now_ms);
        let v = format!(
            "{} {now_ms} {}",
            self.fetched_ms.get(),
            self.issued_ms.get()
        );
        let _ = host.shared_set(&self.keys.version, v.as_bytes(), 0);
    }

    fn on_response(
        &self,
        host: &dyn Host,
        resp: &dyn Response,
        now_ms: u64,
        install: Install<'_>,
    ) -> Result<(), String> {
        self.in_flight.set(None);
        if let Some((feed, ..)) = &self.source {
            self.release(host, self.poll_started_ms.get(), feed.poll_ms);
        }
        self.sync(host, install);
        let status = resp.status();
        let meta = Meta::read(host, &self.keys.meta);
        let current = meta.fetched_ms == self.fetched_ms.get() && meta.fetched_ms > 0;
        // A 304 confirms only what we asked about.
        if status == "304" && current && self.conditional.get() {
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
        if digest == meta.digest && current {
            // The same bytes again (an origin without ETag): nothing to parse.
            self.confirm(host, now_ms);
            if etag != meta.etag {
                Meta { etag, ..meta }.write(host, &self.keys.meta);
            }
            return Ok(());
        }
        let text = String::from_utf8(body).map_err(|_| "the snapshot is not UTF-8".to_string())?;
        let settings = self.source.as_ref().map(|s| &s.0);
        let (json, revision, issued_ms) = match settings.and_then(|s| s.keys.as_ref()) {
            None => {
                let v = json::parse(&text, Limits::POLICY).map_err(|e| e.to_string())?;
                install(&v).map_err(|e| e.to_string())?;
                (text, 0, 0)
            }
            Some(keys) => {
                let last = Last {
                    revision: Some(meta.revision).filter(|r| *r > 0),
                    text: None,
                };
                let b = match bundle::verify(&text, keys, self.spec.kind, last) {
                    Ok(Verified::New(b)) => b,
                    Ok(Verified::Unchanged) => return Ok(()),
                    Err(e) => {
                        return Err(format!(
                            "signed snapshot refused: {} [{}]",
                            e.message, e.code
                        ))
                    }
                };
                // With `maxStaleSeconds`, freshness is the signer's `issuedAt`: an origin that
                // withholds new snapshots cannot keep an old one fresh by answering 304.
                let issued_ms = b
                    .issued_at
                    .and_then(|t| u64::try_from(t).ok())
                    .map_or(0, |t| t.saturating_mul(1000));
                if issued_ms == 0 && settings.is_some_and(|s| s.max_stale_seconds.is_some()) {
                    return Err(format!(
                        "signed snapshot refused: revision {} has no `issuedAt`, which `maxStaleSeconds` needs [bad_payload]",
                        b.revision
                    ));
                }
                install(&b.document)
                    .map_err(|e| format!("revision {}: {e} [bad_document]", b.revision))?;
                (b.document.to_json(), b.revision, issued_ms)
            }
        };
        self.fetched_ms.set(now_ms);
        self.seen_ms.set(now_ms);
        self.confirmed_ms.set(now_ms);
        self.issued_ms.set(issued_ms);
        // Every worker reads the version key; it moves only once the content is in place.
        let content = format!("{now_ms}\n{json}");
        if let Err(s) = host.shared_set(&self.keys.content, content.as_bytes(), 0) {
            return Err(format!(
                "installed here, but cannot publish it to the other workers (status {})",
                s.0
            ));
        }
        Meta {
            fetched_ms: now_ms,
            revision,
            digest,
            issued_ms,
            etag,
        }
        .write(host, &self.keys.meta);
        self.confirm(host, now_ms);
        Ok(())
    }

    fn stale(&self, now_ms: u64) -> Option<String> {
        let (settings, ..) = self.source.as_ref()?;
        let max = settings.max_stale_seconds?.saturating_mul(1000);
        // A signed feed is as fresh as its signature says; an unsigned one as its last poll.
        let fresh = if settings.keys.is_some() {
            self.issued_ms.get()
        } else {
            self.confirmed_ms.get().max(self.fetched_ms.get())
        };
        if fresh == 0 {
            Some(format!("the {} has not been read yet", self.spec.what))
        } else if now_ms.saturating_sub(fresh) > max {
            Some(format!(
                "the {} is {} s old",
                self.spec.what,
                now_ms.saturating_sub(fresh) / 1000
            ))
        } else {
            None
        }
    }
}

/// A feed of one worker and its installed snapshot.
#[derive(Debug)]
pub struct Feed<S> {
    state: FeedState,
    /// The installed snapshot.
    pub snapshot: RefCell<S>,
}

/// The revocation feed.
pub type Revocation = Feed<RevocationSnapshot>;

impl<S: Snapshot> Feed<S> {
    /// The feed of a policy, polled if it has settings with a usable URL.
    pub fn new(settings: Option<&Settings>) -> Feed<S> {
        Feed {
            state: FeedState::new(S::SPEC, settings),
            snapshot: RefCell::new(S::default()),
        }
    }

    fn installer(&self) -> impl FnMut(&Value) -> Result<(), PolicyError> + '_ {
        |v| {
            *self.snapshot.borrow_mut() = S::parse(v, "$")?;
            Ok(())
        }
    }
}

/// A feed of any kind, as the adapter drives it.
pub trait AnyFeed {
    /// The spec.
    fn spec(&self) -> &'static Spec;
    /// Whether the policy polls this feed.
    fn configured(&self) -> bool;
    /// How often it is polled (`None`: not configured).
    fn poll_ms(&self) -> Option<u64>;
    /// Installs a snapshot another worker published, if newer (cheap when unchanged).
    fn sync(&self, host: &dyn Host);
    /// Starts a poll when one is due and this worker wins the lease.
    fn maybe_poll(&self, host: &dyn Host, now_ms: u64) -> Option<u32>;
    /// The poll in flight.
    fn in_flight(&self) -> Option<u32>;
    /// Handles the poll's response.
    fn on_response(&self, host: &dyn Host, resp: &dyn Response, now_ms: u64) -> Result<(), String>;
    /// Why decisions must fail closed (older than `maxStaleSeconds`).
    fn stale(&self, now_ms: u64) -> Option<String>;
}

impl<S: Snapshot + std::fmt::Debug> AnyFeed for Feed<S> {
    fn spec(&self) -> &'static Spec {
        S::SPEC
    }
    fn configured(&self) -> bool {
        self.state.source.is_some()
    }
    fn poll_ms(&self) -> Option<u64> {
        self.state.source.as_ref().map(|s| s.0.poll_ms)
    }
    fn sync(&self, host: &dyn Host) {
        self.state.sync(host, &mut self.installer());
    }
    fn maybe_poll(&self, host: &dyn Host, now_ms: u64) -> Option<u32> {
        self.state.maybe_poll(host, now_ms)
    }
    fn in_flight(&self) -> Option<u32> {
        self.state.in_flight.get()
    }
    fn on_response(&self, host: &dyn Host, resp: &dyn Response, now_ms: u64) -> Result<(), String> {
        self.state
            .on_response(host, resp, now_ms, &mut self.installer())
    }
    fn stale(&self, now_ms: u64) -> Option<String> {
        self.state.stale(now_ms)
    }
}
