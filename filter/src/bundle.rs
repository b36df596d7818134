//! Signed policy bundles in the filter (docs/bundles.md). A bundled filter is configured with
//! `{"bundle": {"uri", "cluster", "keys", "pollMs"}}` in place of a policy document:
//!
//! * one worker at a time (a lease in shared data) polls the URL through an Envoy cluster,
//!   with `If-None-Match` once it has an `ETag`, and verifies what it gets: the Ed25519
//!   signature with a configured key, kind `policy`, a revision above the installed one, and a
//!   document that compiles. Only then is the bundle published in shared data
//!   (`vigil.bundle.<source id>` = the bundle text, then `….v` = its revision; the source id
//!   names the URL and keys, so two bundled filters in one `vm_id` never share a bundle);
//! * every worker reads the small `vigil.bundle.v` when a request starts and, when it is
//!   above its own revision, verifies the published text again (shared data is not trusted
//!   more than the origin) and installs it: a new bundle is enforced on every worker on the
//!   request after the poll that fetched it;
//! * anything refused (a tampered bundle, a replayed older revision, another kind, a policy
//!   that does not compile, an origin error) keeps the last good policy, with a counter and a
//!   warning that says why. Before the first good bundle every request is refused (503).

use crate::adapter::Shared;
use crate::host::{Counter, Host, Level, Response};
use crate::jwks::{cas_claim, cluster_for, split_url};
use policy_core::bundle::{self, Kind, Last, Source, Verified};
use policy_core::Engine;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

/// The lease runs out this much before the poll period, so the next poll is not a tick late.
const TICK_SLACK_MS: u32 = 20;
/// The tick period a bundle polled every `poll_ms` needs: a quarter of it, from 50 ms to
/// [`crate::adapter::TICK_MS`].
pub fn tick_ms(poll_ms: u64) -> u32 {
    crate::adapter::TICK_MS
        .min(u32::try_from(poll_ms / 4).unwrap_or(u32::MAX))
        .max(50)
}
/// How long a poll may take: twice the poll period, from 1 s to 5 s. The lease covers the
/// call, so polls never overlap, and a response that never comes (Envoy drops a call made
/// before its clusters are ready) holds the next poll back by this much only.
pub fn call_timeout_ms(poll_ms: u64) -> u32 {
    u32::try_from(poll_ms.saturating_mul(2))
        .unwrap_or(u32::MAX)
        .clamp(1_000, 5_000)
}

/// Where a bundle source keeps its state in shared data.
#[derive(Debug)]
pub struct Keys {
    /// The published bundle text: `vigil.bundle.<source id>`.
    pub content: String,
    /// Its revision, read on every request of a bundled filter.
    pub version: String,
    /// The origin's `ETag` for the published revision: `<revision> <etag>`.
    pub etag: String,
    /// The poll lease: a deadline (ms).
    pub lease: String,
}

/// Where the bundle comes from, resolved once.
#[derive(Debug)]
pub struct Origin {
    source: Source,
    cluster: String,
    authority: String,
    path: String,
    /// Its shared-data keys.
    pub keys: Keys,
}

impl Origin {
    /// The origin of a bundled configuration (`None`: the URL has no usable authority).
    pub fn new(source: Source) -> Option<Origin> {
        let (authority, path) = split_url(&source.uri)?;
        let cluster = cluster_for(source.cluster.as_ref(), &authority);
        let base = format!("vigil.bundle.{}", source.id);
        let keys = Keys {
            version: format!("{base}.v"),
            etag: format!("{base}.etag"),
            lease: format!("{base}.lease"),
            content: base,
        };
        Some(Origin {
            source,
            cluster,
            authority,
            path,
            keys,
        })
    }

    /// How often the bundle is polled.
    pub fn poll_ms(&self) -> u64 {
        self.source.poll_ms
    }

    /// The bundle's URL.
    pub fn uri(&self) -> &str {
        &self.source.uri
    }
}

/// Verifies a bundle text and compiles its policy.
fn check(
    origin: &Origin,
    text: &str,
    last: Last<'_>,
) -> Result<Option<(u64, String, Engine)>, String> {
    match bundle::verify(text, &origin.source.keys, Kind::Policy, last) {
        Ok(Verified::Unchanged) => Ok(None),
        Ok(Verified::New(b)) => match Engine::from_value(&b.document) {
            Ok(e) => Ok(Some((b.revision, b.kid, e))),
            Err(e) => Err(format!(
                "revision {}: the policy does not load: {e} [bad_document]",
                b.revision
            )),
        },
        Err(e) => Err(format!("{} [{}]", e.message, e.code)),
    }
}

/// The bundled policy of one worker (a Wasm VM, or a native worker thread; the root's too).
#[derive(Debug)]
pub struct Bundled {
    origin: Arc<Origin>,
    /// The installed policy's worker state (`None` before the first good bundle).
    current: RefCell<Option<Rc<Shared>>>,
    /// The installed revision (0: none).
    revision: Cell<u64>,
    /// The highest published revision looked at (a refused one is not verified again).
    seen: Cell<u64>,
    /// The installed bundle's text, kept by pollers: the same bytes again are unchanged.
    text: RefCell<String>,
    in_flight: Cell<Option<u32>>,
    poll_started_ms: Cell<u64>,
}

/// What a poll's response did.
#[derive(Debug, PartialEq, Eq)]
pub enum Polled {
    /// A newer bundle was verified, published and installed: its revision.
    Installed(u64),
    /// `304 Not Modified`, or the installed bundle again.
    Unchanged,
    /// Refused by verification (the reason, with its code).
    Refused(String),
    /// The origin or the call failed.
    Failed(String),
}

impl Bundled {
    /// A worker's bundled policy, empty until a bundle is installed.
    pub fn new(origin: Arc<Origin>) -> Bundled {
        Bundled {
            origin,
            current: RefCell::new(None),
            revision: Cell::new(0),
            seen: Cell::new(0),
            text: RefCell::new(String::new()),
            in_flight: Cell::new(None),
            poll_started_ms: Cell::new(0),
        }
    }

    /// The origin.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The installed revision (0 before the first).
    pub fn revision(&self) -> u64 {
        self.revision.get()
    }

    /// Whether `token` is this worker's poll.
    pub fn polls(&self, token: u32) -> bool {
        self.in_flight.get() == Some(token)
    }

    /// Installs what another worker published, when newer; returns the current policy.
    pub fn current(&self, host: &dyn Host) -> Option<Rc<Shared>> {
        self.sync(host);
        self.current.borrow().clone()
    }

    fn last(&self) -> Option<u64> {
        Some(self.revision.get()).filter(|r| *r > 0)
    }

    fn install(&self, host: &dyn Host, revision: u64, kid: &str, engine: Engine, text: &str) {
        let shared = Shared::new(Arc::new(engine));
        let policies = shared.engine().plan().policies().count();
        *self.current.borrow_mut() = Some(Rc::new(shared));
        self.revision.set(revision);
        self.seen.set(self.seen.get().max(revision));
        text.clone_into(&mut self.text.borrow_mut());
        host.count(Counter::BundleInstalled, 1);
        host.log(
            Level::Info,
            &format!(
                "vigil: policy bundle revision {revision} installed (signed by `{kid}`, {policies} authorization policies)"
            ),
        );
    }

    fn sync(&self, host: &dyn Host) {
        let Ok(Some((v, _))) = host.shared_get(&self.origin.keys.version) else {
            return;
        };
        let published: u64 = std::str::from_utf8(&v)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if published <= self.seen.get() {
            return;
        }
        self.seen.set(published);
        let Ok(Some((bytes, _))) = host.shared_get(&self.origin.keys.content) else {
            return;
        };
        let text = String::from_utf8_lossy(&bytes);
        let last = Last {
            revision: self.last(),
            text: None,
        };
        match check(&self.origin, &text, last) {
            Ok(Some((revision, kid, engine))) => self.install(host, revision, &kid, engine, &text),
            Ok(None) => {}
            Err(why) => {
                host.count(Counter::BundleRefused, 1);
                host.log(
                    Level::Warn,
                    &format!("vigil: published policy bundle refused: {why}"),
                );
            }
        }
    }

    /// Starts a poll when one is due: the poll lease in shared data has run out and this
    /// worker wins it. The lease, not a worker's own clock, spaces the polls, so the fleet
    /// polls once per `pollMs` (within a tick) whichever worker's tick comes first; it covers
    /// the call and is given back, until the next poll is due, when the call answers, so two
    /// polls never overlap.
    pub fn maybe_poll(&self, host: &dyn Host, now_ms: u64) -> Option<u32> {
        let o = &self.origin;
        if self.in_flight.get().is_some() {
            return None;
        }
        let timeout = call_timeout_ms(o.source.poll_ms);
        let lease_until = now_ms + u64::from(timeout) + 200;
        if !cas_claim(host, &o.keys.lease, now_ms, lease_until) {
            return None;
        }
        self.poll_started_ms.set(now_ms);
        // The origin's ETag, when it belongs to the revision installed here.
        let etag = host
            .shared_get(&o.keys.etag)
            .ok()
            .flatten()
            .and_then(|(b, _)| {
                let s = String::from_utf8(b).ok()?;
                let (rev, tag) = s.split_once(' ')?;
                (rev.parse::<u64>().ok()? == self.revision.get() && self.revision.get() > 0)
                    .then(|| tag.to_string())
            });
        let mut headers = vec![
            (":method", "GET"),
            (":path", o.path.as_str()),
            (":authority", o.authority.as_str()),
            (":scheme", "http"),
            ("accept", "application/jose, */*"),
            ("user-agent", "vigil"),
        ];
        if let Some(tag) = etag.as_deref() {
            headers.push(("if-none-match", tag));
        }
        match host.http_call(&o.cluster, &headers, timeout) {
            Ok(token) => {
                self.in_flight.set(Some(token));
                Some(token)
            }
            Err(s) => {
                self.release(host);
                host.count(Counter::BundlePollFailed, 1);
                host.log(
                    Level::Warn,
                    &format!(
                        "vigil: cannot poll the policy bundle through `{}` (status {})",
                        o.cluster, s.0
                    ),
                );
                None
            }
        }
    }

    /// Gives the lease back until the next poll is due.
    fn release(&self, host: &dyn Host) {
        let next = self.poll_started_ms.get()
            + self
                .origin
                .source
                .poll_ms
                .saturating_sub(u64::from(TICK_SLACK_MS));
        let _ = host.shared_set(&self.origin.keys.lease, next.to_string().as_bytes(), 0);
    }

    /// Handles the poll's response: verifies, publishes and installs a newer bundle.
    pub fn on_response(&self, host: &dyn Host, resp: &dyn Response) -> Polled {
        self.in_flight.set(None);
        self.release(host);
        let polled = self.read(host, resp);
        let (counter, what, why) = match &polled {
            Polled::Installed(_) => return polled,
            Polled::Unchanged => {
                host.count(Counter::BundleUnchanged, 1);
                return polled;
            }
            Polled::Refused(why) => (Counter::BundleRefused, "refused", why),
            Polled::Failed(why) => (Counter::BundlePollFailed, "poll failed", why),
        };
        host.count(counter, 1);
        host.log(
            Level::Warn,
            &format!(
                "vigil: policy bundle from `{}` {what}: {why}; keeping revision {}",
                self.origin.source.uri,
                self.revision.get()
            ),
        );
        polled
    }

    fn read(&self, host: &dyn Host, resp: &dyn Response) -> Polled {
        // What other workers installed meanwhile is the baseline.
        self.sync(host);
        let status = resp.status();
        if status == "304" {
            return Polled::Unchanged;
        }
        if status != "200" {
            return Polled::Failed(if status.is_empty() {
                "no response (timeout, reset or no healthy host)".into()
            } else {
                format!("status {status}")
            });
        }
        let size = resp.body_size();
        if size > bundle::MAX_BUNDLE_BYTES {
            return Polled::Refused(format!(
                "the bundle is {size} bytes, more than {} [too_large]",
                bundle::MAX_BUNDLE_BYTES
            ));
        }
        let body = match resp.body() {
            Ok(b) => b,
            Err(s) => return Polled::Failed(format!("cannot read the body (status {})", s.0)),
        };
        let Ok(text) = String::from_utf8(body) else {
            return Polled::Refused("the bundle is not UTF-8 [malformed]".into());
        };
        let installed = self.text.borrow().clone();
        let last = Last {
            revision: self.last(),
            text: Some(installed.as_str()).filter(|t| !t.is_empty()),
        };
        let (revision, kid, engine) = match check(&self.origin, &text, last) {
            Ok(Some(new)) => new,
            Ok(None) => {
                self.remember_etag(host, resp);
                return Polled::Unchanged;
            }
            Err(why) => return Polled::Refused(why),
        };
        // Publish for every worker (another poller may have published a newer one meanwhile:
        // never lower the published revision).
        let published = host
            .shared_get(&self.origin.keys.version)
            .ok()
            .flatten()
            .and_then(|(b, _)| std::str::from_utf8(&b).ok()?.parse::<u64>().ok())
            .unwrap_or(0);
        if revision > published {
            // The revision moves only once the text is in place (a store that cannot hold it
            // — the native store caps a value at 16 MiB — must not announce it).
            let keys = &self.origin.keys;
            if let Err(s) = host.shared_set(&keys.content, text.as_bytes(), 0) {
                return Polled::Failed(format!(
                    "revision {revision} verified, but it cannot be shared with the other workers (status {}); not installed",
                    s.0
                ));
            }
            let _ = host.shared_set(&keys.version, revision.to_string().as_bytes(), 0);
        }
        self.install(host, revision, &kid, engine, &text);
        self.remember_etag(host, resp);
        Polled::Installed(revision)
    }

    fn remember_etag(&self, host: &dyn Host, resp: &dyn Response) {
        let tag = resp.header("etag");
        if let Some(tag) = tag.filter(|t| t.len() <= 256 && !t.contains(['\n', '\r'])) {
            let v = format!("{} {tag}", self.revision.get());
            let _ = host.shared_set(&self.origin.keys.etag, v.as_bytes(), 0);
        }
    }
}
