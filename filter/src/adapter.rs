//! The adapter, written once for every binding: configuration, the root's tick (key-set and
//! revocation fetches), and the request path (check request, decision, enforcement, the
//! paused refetch of an unknown `kid`). Bindings call these with their [`Host`] and
//! [`Stream`] implementations and carry out the returned [`Action`].

use crate::bundle::{Bundled, Origin, Polled};
use crate::feed::{AnyFeed, Feed, Revocation};
use crate::host::{Counter, Host, Level, Response, Stream};
use crate::jwks::{Fetch, Keys, Progress};
use crate::request;
use crate::state::{SharedBehavior, SharedRate};
use policy_core::authenticate::TokenCache;
use policy_core::bundle::Source;
use policy_core::feeds::{NetworkLists, RiskLabels};
use policy_core::json::{self, Limits};
use policy_core::policy::LogSink;
use policy_core::{CheckRequest, Decision, Engine, Env, Outcome};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

/// Verified tokens kept per worker.
pub const TOKEN_CACHE_CAPACITY: usize = 4096;
/// Root tick: how often shared key sets are looked at and fetches scheduled.
pub const TICK_MS: u32 = 500;
/// Largest configuration accepted (the core caps the document too).
pub const MAX_CONFIG: usize = 16 << 20;

/// What the binding does with the request after its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The request goes on (allowed, or dry run).
    Continue,
    /// The request is answered locally, or waits for a key refetch: stop iteration.
    Pause,
}

/// Parses a configuration (the policy document, JSON) into an engine; the error is the
/// precise message the proxy logs when it refuses the configuration.
pub fn compile(bytes: &[u8]) -> Result<Engine, String> {
    if bytes.len() > MAX_CONFIG {
        return Err(format!(
            "vigil: the configuration is {} bytes, more than {MAX_CONFIG}",
            bytes.len()
        ));
    }
    let text =
        std::str::from_utf8(bytes).map_err(|e| format!("vigil: policy is not UTF-8: {e}"))?;
    Engine::from_json(text).map_err(|e| format!("vigil: invalid policy: {e} [{}]", e.code()))
}

/// A filter configuration: a policy document, or where to poll a signed policy bundle.
#[derive(Debug, Clone)]
pub enum Config {
    /// The policy itself.
    Policy(Arc<Engine>),
    /// `{"bundle": {...}}`: the policy comes from a signed bundle ([`crate::bundle`]).
    Bundle(Arc<Origin>),
}

/// Parses a configuration: a policy document, or a bundled configuration
/// (`{"bundle": {"uri", "cluster", "keys", "pollMs"}}`); the error is the precise message the
/// proxy logs when it refuses the configuration.
pub fn configure(bytes: &[u8]) -> Result<Config, String> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) if bytes.len() <= MAX_CONFIG => t,
        // The policy path's own messages.
        _ => return compile(bytes).map(|e| Config::Policy(Arc::new(e))),
    };
    let Ok(v) = json::parse(text, Limits::POLICY) else {
        return compile(bytes).map(|e| Config::Policy(Arc::new(e)));
    };
    match Source::from_config(&v) {
        Ok(Some(source)) => Origin::new(source)
            .map(|o| Config::Bundle(Arc::new(o)))
            .ok_or_else(|| {
                "vigil: invalid bundle configuration: `bundle.uri` has no usable host [invalid]"
                    .to_string()
            }),
        Ok(None) => Engine::from_value(&v)
            .map(|e| Config::Policy(Arc::new(e)))
            .map_err(|e| format!("vigil: invalid policy: {e} [{}]", e.code())),
        Err(e) => Err(format!(
            "vigil: invalid bundle configuration: {e} [{}]",
            e.code()
        )),
    }
}

/// The policy of one worker (a Wasm VM or a native worker thread).
#[derive(Debug)]
pub enum Worker {
    /// A policy from the configuration.
    Fixed(Rc<Shared>),
    /// A policy from a signed bundle, installed from shared data when a newer one is published.
    Bundled(Bundled),
}

impl Worker {
    /// A worker's policy for a configuration.
    pub fn new(config: &Config) -> Worker {
        match config {
            Config::Policy(e) => Worker::Fixed(Rc::new(Shared::new(e.clone()))),
            Config::Bundle(o) => Worker::Bundled(Bundled::new(o.clone())),
        }
    }

    /// The policy a new request uses (`None`: no bundle installed yet). For a bundled policy
    /// this reads the published revision, and installs a newer bundle.
    pub fn current(&self, host: &dyn Host) -> Option<Rc<Shared>> {
        match self {
            Worker::Fixed(s) => Some(s.clone()),
            Worker::Bundled(b) => b.current(host),
        }
    }
}

/// The tick period a poll of `poll_ms` needs: half of it, from 50 ms to [`TICK_MS`].
fn tick_for(poll_ms: u64) -> u32 {
    TICK_MS
        .min(u32::try_from(poll_ms / 2).unwrap_or(TICK_MS))
        .max(50)
}

fn count_outcome(host: &dyn Host, d: &Decision) {
    host.count(
        match d.outcome {
            Outcome::Allow => Counter::Allowed,
            Outcome::Deny => Counter::Denied,
            Outcome::Unauthenticated => Counter::Unauthenticated,
            Outcome::StepUp => Counter::StepUp,
            Outcome::RateLimited => Counter::RateLimited,
        },
        1,
    );
    if d.dry_run && d.outcome != Outcome::Allow {
        host.count(Counter::DryRunNotEnforced, 1);
    }
}

fn count_fetch(host: &dyn Host, p: &Progress) {
    match p {
        Progress::Installed => host.count(Counter::JwksFetchOk, 1),
        Progress::Failed(_) => host.count(Counter::JwksFetchFailed, 1),
        Progress::Continued(..) => {}
    }
}

/// The state of one worker (a Wasm VM, or a native worker thread) shared by its requests.
#[derive(Debug)]
pub struct Shared {
    engine: Arc<Engine>,
    /// The request headers the policy can read (the rest are never copied).
    headers: policy_core::policy::HeaderNeeds,
    /// The connection properties the policy can read.
    properties: policy_core::policy::PropertyNeeds,
    keys: Keys,
    /// Revocations published in shared data (polled from the policy's feed, if any).
    revocation: Revocation,
    /// Network lists polled from `network.feed`.
    networks: Feed<NetworkLists>,
    /// Risk labels polled from `riskLabels.feed`.
    labels: Feed<RiskLabels>,
    /// Verified tokens of this worker: the common case — the same token on many requests —
    /// costs a hash and a lookup instead of a signature check.
    token_cache: RefCell<TokenCache>,
    /// Decisions made by this worker (for `decisionLog` sampling).
    decisions: Cell<u64>,
    /// When this worker last installed what other workers published (ms).
    synced_ms: Cell<u64>,
    /// The request being decided: its buffers are reused by the worker's next request, so
    /// reading the headers allocates nothing in the common case.
    scratch: RefCell<CheckRequest>,
    /// The decision record being written, reused the same way.
    record: RefCell<String>,
}

impl Shared {
    /// A worker's state for a compiled policy.
    pub fn new(engine: Arc<Engine>) -> Shared {
        let keys = Keys::new(engine.inline_keys().clone(), engine.plan().auth.rules());
        let revocation = Revocation::new(engine.plan().revocation_feed.as_ref());
        let networks = Feed::new(engine.plan().network.feed.as_ref());
        let labels = Feed::new(engine.plan().risk_labels_feed.as_ref());
        Shared {
            networks,
            labels,
            headers: engine.plan().header_needs(),
            properties: engine.plan().property_needs(),
            keys,
            revocation,
            engine,
            token_cache: RefCell::new(TokenCache::new(TOKEN_CACHE_CAPACITY)),
            decisions: Cell::new(0),
            synced_ms: Cell::new(0),
            scratch: RefCell::new(CheckRequest::default()),
            record: RefCell::new(String::new()),
        }
    }

    /// The tick period this policy needs (`None`: nothing to fetch or poll).
    pub fn tick_ms(&self) -> Option<u32> {
        let remotes = self.keys.remotes.borrow().len();
        let poll = [
            self.revocation.poll_ms(),
            self.networks.poll_ms(),
            self.labels.poll_ms(),
        ]
        .into_iter()
        .flatten()
        .min();
        if remotes == 0 && poll.is_none() {
            return None;
        }
        Some(poll.map_or(TICK_MS, tick_for))
    }

    /// The compiled policy.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Installs key sets other workers published, at most once per tick period (for
    /// bindings whose workers have no tick of their own).
    pub fn sync_if_due(&self, host: &dyn Host, now_ms: u64) {
        if now_ms >= self.synced_ms.get().saturating_add(u64::from(TICK_MS)) {
            self.synced_ms.set(now_ms);
            self.keys.sync(host);
        }
    }

    fn decide(&self, host: &dyn Host, req: &CheckRequest, now: i64) -> Decision {
        let keys = self.keys.store.borrow();
        let rate = SharedRate::new(host);
        let behavior = SharedBehavior::new(host);
        self.revocation.sync(host);
        // The revocation snapshot is installed even without a feed (another plugin in the
        // same `vm_id` may publish one); the other feeds only when the policy polls them.
        for feed in [&self.networks as &dyn AnyFeed, &self.labels] {
            if feed.configured() {
                feed.sync(host);
            }
        }
        let now_ms = u64::try_from(now).unwrap_or(0).saturating_mul(1000);
        for feed in self.feeds() {
            if let Some(d) = stale_decision(feed, now_ms) {
                return d;
            }
        }
        let revocation = self.revocation.snapshot.borrow();
        let networks = self.networks.snapshot.borrow();
        let labels = self.labels.snapshot.borrow();
        let env = Env {
            now,
            keys: Some(&keys),
            revocation: Some(&revocation),
            rate: Some(&rate),
            behavior: Some(&behavior),
            network_lists: self.networks.configured().then_some(&*networks),
            risk_labels: self.labels.configured().then_some(&*labels),
            ..Env::default()
        };
        // Never re-entered (one callback at a time per worker), but never panic if it were.
        let d = match self.token_cache.try_borrow_mut() {
            Ok(mut cache) => {
                let (h, m) = (cache.hits(), cache.misses());
                let d = self.engine.decide_cached(req, &env, &mut cache);
                host.count(Counter::TokenCacheHit, cache.hits().saturating_sub(h));
                host.count(Counter::TokenCacheMiss, cache.misses().saturating_sub(m));
                d
            }
            Err(_) => self.engine.decide(req, &env),
        };
        rate.store(&d.rate_updates);
        behavior.store(d.behavior.as_ref());
        d
    }
}

fn stale_decision(feed: &dyn AnyFeed, now_ms: u64) -> Option<Decision> {
    let why = feed.stale(now_ms)?;
    let spec = feed.spec();
    let mut d = Decision::new(
        Outcome::Deny,
        503,
        spec.stale_code,
        format!("cannot decide without a fresh {}: {why}", spec.what),
    );
    d.response_headers.push(("retry-after".into(), "1".into()));
    Some(d)
}

/// Handles `token`'s response when it is this feed's poll; false when it is not.
fn feed_response(
    feed: &dyn AnyFeed,
    host: &dyn Host,
    token: u32,
    resp: &dyn Response,
    now: u64,
) -> bool {
    if feed.in_flight() != Some(token) {
        return false;
    }
    let spec = feed.spec();
    match feed.on_response(host, resp, now) {
        Ok(()) => host.count(spec.ok, 1),
        Err(why) => {
            host.count(spec.failed, 1);
            host.log(
                Level::Warn,
                &format!("vigil: {}: {why}; keeping the last snapshot", spec.what),
            );
        }
    }
    true
}

impl Shared {
    fn feeds(&self) -> [&dyn AnyFeed; 3] {
        [&self.revocation, &self.networks, &self.labels]
    }
}

/// The root context: owns the worker's policy and the scheduled fetches.
#[derive(Debug, Default)]
pub struct Root {
    worker: Option<Worker>,
    /// The policy the fetches in flight belong to.
    shared: Option<Rc<Shared>>,
    fetches: BTreeMap<u32, Fetch>,
    /// The tick period last reported to the binding.
    tick: Option<u32>,
    /// The policy replaced last by a newer bundle, with its fetches, while their calls answer.
    retired: Option<(Rc<Shared>, BTreeMap<u32, Fetch>)>,
}

impl Root {
    /// Installs a configuration; returns the tick period it needs, if any. The binding sets
    /// the tick, then calls [`Root::on_tick`] once.
    pub fn configure(&mut self, host: &dyn Host, config: &Config) -> Option<u32> {
        let worker = Worker::new(config);
        self.shared = worker.current(host);
        self.fetches.clear();
        match (&worker, &self.shared) {
            (Worker::Bundled(b), _) => host.log(
                Level::Info,
                &format!(
                    "vigil: waiting for the signed policy bundle at `{}` (polled every {} ms)",
                    b.origin().uri(),
                    b.origin().poll_ms()
                ),
            ),
            (Worker::Fixed(_), Some(shared)) => host.log(
                Level::Info,
                &format!(
                    "vigil: policy loaded ({} authorization policies, {} remote key sets)",
                    shared.engine.plan().policies().count(),
                    shared.keys.remotes.borrow().len()
                ),
            ),
            (Worker::Fixed(_), None) => {}
        }
        self.worker = Some(worker);
        self.tick = self.tick_ms();
        self.tick
    }

    /// The tick period the configuration and its current policy need (`None`: nothing to
    /// fetch or poll).
    pub fn tick_ms(&self) -> Option<u32> {
        let policy = self.shared.as_ref().and_then(|s| s.tick_ms());
        match &self.worker {
            Some(Worker::Bundled(b)) => {
                let own = crate::bundle::tick_ms(b.origin().poll_ms());
                Some(policy.map_or(own, |p| p.min(own)))
            }
            _ => policy,
        }
    }

    /// The policy new requests of this root use (`None`: none loaded, or no bundle yet);
    /// installs a newer published bundle first.
    pub fn shared(&self, host: &dyn Host) -> Option<Rc<Shared>> {
        self.worker.as_ref()?.current(host)
    }

    /// Follows a newly installed bundle: the fetches in flight were for the old policy.
    fn adopt(&mut self, current: Option<Rc<Shared>>) {
        let same = match (&current, &self.shared) {
            (Some(a), Some(b)) => Rc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if !same {
            // Calls in flight for the old policy still answer: their responses publish what
            // they fetched and give their leases back (else the leases would hold until they
            // expire, and the polls would pause that long).
            let old = std::mem::replace(&mut self.shared, current);
            let fetches = std::mem::take(&mut self.fetches);
            self.retired = old.map(|s| (s, fetches));
        }
    }

    /// The tick: installs what other workers published, polls the bundle and the revocation
    /// feed, and starts the key-set fetches that are due (one worker at a time, through a
    /// lease). Returns the new tick period when the installed policy needs another one.
    pub fn on_tick(&mut self, host: &dyn Host) -> Option<u32> {
        let Ok(now) = host.now_ms() else {
            return None;
        };
        if let Some(Worker::Bundled(b)) = &self.worker {
            let current = b.current(host);
            b.maybe_poll(host, now);
            self.adopt(current);
        }
        if let Some(shared) = self.shared.clone() {
            shared.keys.sync(host);
            shared.synced_ms.set(now);
            for feed in shared.feeds() {
                if feed.configured() || feed.spec().kind == policy_core::bundle::Kind::Revocation {
                    feed.sync(host);
                }
                feed.maybe_poll(host, now);
            }
            let n = shared.keys.remotes.borrow().len();
            for i in 0..n {
                let in_flight = self.fetches.values().any(|f| f.remote == i);
                if in_flight || !shared.keys.due(i, now) || !shared.keys.take_lease(host, i, now) {
                    continue;
                }
                match shared.keys.start(host, i) {
                    Ok((token, fetch)) => {
                        self.fetches.insert(token, fetch);
                    }
                    Err(e) => {
                        shared.keys.release_lease(host, i);
                        host.count(Counter::JwksFetchFailed, 1);
                        host.log(Level::Warn, &format!("vigil: {e}"));
                    }
                }
            }
        }
        let tick = self.tick_ms();
        if tick != self.tick {
            self.tick = tick;
            return tick;
        }
        None
    }

    /// The response to a call the root made.
    pub fn on_call_response(&mut self, host: &dyn Host, token: u32, resp: &dyn Response) {
        if let Some(Worker::Bundled(b)) = &self.worker {
            if b.polls(token) {
                if let Polled::Installed(_) = b.on_response(host, resp) {
                    let current = b.current(host);
                    self.adopt(current);
                }
                return;
            }
        }
        let now = host.now_ms().unwrap_or(0);
        if let Some(shared) = self.shared.clone() {
            if respond(&shared, &mut self.fetches, host, token, resp, now) {
                return;
            }
        }
        if let Some((shared, fetches)) = &mut self.retired {
            let shared = shared.clone();
            respond(&shared, fetches, host, token, resp, now);
        }
    }
}

/// Hands a call's response to the feed or key-set fetch of `shared` that made it; false when
/// none did.
fn respond(
    shared: &Shared,
    fetches: &mut BTreeMap<u32, Fetch>,
    host: &dyn Host,
    token: u32,
    resp: &dyn Response,
    now: u64,
) -> bool {
    if shared
        .feeds()
        .iter()
        .any(|f| feed_response(*f, host, token, resp, now))
    {
        return true;
    }
    let Some(fetch) = fetches.remove(&token) else {
        return false;
    };
    let p = shared.keys.on_response(host, &fetch, resp, now);
    count_fetch(host, &p);
    match p {
        Progress::Continued(token, next) => {
            fetches.insert(token, next);
        }
        Progress::Installed | Progress::Failed(_) => shared.keys.release_lease(host, fetch.remote),
    }
    true
}

/// A request paused for a key refetch.
#[derive(Debug)]
struct Waiting {
    token: u32,
    fetch: Fetch,
    req: CheckRequest,
}

/// One HTTP request.
#[derive(Debug)]
pub struct Http {
    shared: Option<Rc<Shared>>,
    waiting: Option<Waiting>,
}

fn deny(host: &dyn Host, stream: &dyn Stream, d: &Decision) {
    let mut headers: Vec<(&str, &str)> = d
        .response_headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    headers.push(("content-type", "application/json"));
    headers.push(("cache-control", "no-store"));
    let body = d.body();
    if let Err(s) = stream.send_response(u32::from(d.status), &headers, body.as_bytes()) {
        host.log(
            Level::Error,
            &format!("vigil: cannot send the local response (status {})", s.0),
        );
    }
}

/// Answers 503 with `code` and `reason` (the proxy side failed, not the request).
fn unavailable(host: &dyn Host, stream: &dyn Stream, code: &'static str, reason: &str) {
    deny(
        host,
        stream,
        &Decision::new(Outcome::Deny, 503, code, reason),
    );
}

fn forward(stream: &dyn Stream, d: &Decision) -> Result<(), crate::host::Status> {
    for h in &d.remove_headers {
        stream.remove_header(h)?;
    }
    for (k, v) in &d.upstream_headers {
        stream.set_header(k, v)?;
    }
    Ok(())
}

impl Http {
    /// A request of a root (`None`: no policy loaded, every request is refused with 503).
    pub fn new(shared: Option<Rc<Shared>>) -> Http {
        Http {
            shared,
            waiting: None,
        }
    }

    /// Records and carries out a decision about `req` (`None`: the request could not be
    /// read). Returns true when the request goes on.
    fn enforce(
        &self,
        host: &dyn Host,
        stream: &dyn Stream,
        shared: &Shared,
        decision: &Decision,
        req: Option<&CheckRequest>,
        now: i64,
    ) -> bool {
        count_outcome(host, decision);
        let n = shared.decisions.get();
        shared.decisions.set(n.wrapping_add(1));
        let allowed = decision.outcome == Outcome::Allow;
        let log = &shared.engine.plan().decision_log;
        if log.logs(n, allowed) {
            match log.to {
                // The line is only rendered when the host keeps info lines.
                LogSink::Log if host.logs_at(Level::Info) => host.log(
                    Level::Info,
                    &format!("vigil decision {}", decision.to_json()),
                ),
                LogSink::Log => {}
                LogSink::AccessLog => {
                    let unread = CheckRequest::default();
                    let mut own = String::new();
                    let mut reused = shared.record.try_borrow_mut().ok();
                    let record = reused.as_deref_mut().unwrap_or(&mut own);
                    record.clear();
                    decision.write_record(req.unwrap_or(&unread), now, None, record);
                    let stored = stream.record(record);
                    if record.capacity() > request::KEEP_BYTES {
                        *record = String::new();
                    }
                    if let Err(s) = stored {
                        host.log(
                            Level::Warn,
                            &format!("vigil: cannot store the decision record (status {})", s.0),
                        );
                    }
                }
            }
        }
        if !decision.forwards() {
            deny(host, stream, decision);
            return false;
        }
        match forward(stream, decision) {
            Ok(()) => true,
            Err(e) => {
                host.count(Counter::Errors, 1);
                host.log(
                    Level::Error,
                    &format!("vigil: cannot rewrite headers (status {}); denying", e.0),
                );
                unavailable(
                    host,
                    stream,
                    "host_error",
                    "the request could not be forwarded",
                );
                false
            }
        }
    }

    /// When the token's issuer lacks keys or the token's `kid`: starts one refetch (per
    /// cooldown, across workers) and keeps the request waiting for it.
    fn try_refetch(
        &mut self,
        host: &dyn Host,
        shared: &Shared,
        decision: &Decision,
        req: &CheckRequest,
    ) -> bool {
        let Some(issuer) = &decision.key_refetch else {
            return false;
        };
        let Some(i) = shared.keys.remote_of(issuer) else {
            return false;
        };
        let Ok(now) = host.now_ms() else {
            return false;
        };
        if !shared.keys.take_refetch(host, i, now) {
            return false;
        }
        match shared.keys.start(host, i) {
            Ok((token, fetch)) => {
                self.waiting = Some(Waiting {
                    token,
                    fetch,
                    req: req.clone(),
                });
                true
            }
            Err(e) => {
                host.count(Counter::JwksFetchFailed, 1);
                host.log(Level::Warn, &format!("vigil: {e}"));
                false
            }
        }
    }

    /// The request's headers arrived: decide.
    pub fn on_request_headers(&mut self, host: &dyn Host, stream: &dyn Stream) -> Action {
        let Some(shared) = self.shared.clone() else {
            unavailable(
                host,
                stream,
                "not_configured",
                "the policy is not loaded (a bundled filter waits for its first valid bundle)",
            );
            return Action::Pause;
        };
        // One callback at a time per worker, so the scratch request is free; never panic if
        // it were not.
        let mut own = None;
        let mut scratch = shared.scratch.try_borrow_mut().ok();
        let req: &mut CheckRequest = match scratch.as_deref_mut() {
            Some(r) => r,
            None => own.insert(CheckRequest::default()),
        };
        let action = self.decide_request(host, stream, &shared, req);
        if request::retained_bytes(req) > request::KEEP_BYTES {
            *req = CheckRequest::default();
        }
        action
    }

    fn decide_request(
        &mut self,
        host: &dyn Host,
        stream: &dyn Stream,
        shared: &Shared,
        req: &mut CheckRequest,
    ) -> Action {
        let now_ms = match (
            request::read_into(stream, &shared.headers, shared.properties, req),
            host.now_ms(),
        ) {
            (Ok(()), Ok(now)) => now,
            (Err(e), _) | (_, Err(e)) => {
                host.count(Counter::Errors, 1);
                host.log(
                    Level::Error,
                    &format!("vigil: host call failed (status {}); denying", e.0),
                );
                let d = Decision::new(
                    Outcome::Deny,
                    503,
                    "host_error",
                    "the request could not be read",
                );
                let now = host.now_ms().map_or(0, |ms| (ms / 1000) as i64);
                self.enforce(host, stream, shared, &d, None, now);
                return Action::Pause;
            }
        };
        let req = &*req;
        let now = (now_ms / 1000) as i64;
        let mut decision = shared.decide(host, req, now);
        // Keys another worker fetched since our last sync: install them and decide again.
        if decision.key_refetch.is_some() && shared.keys.sync(host) > 0 {
            decision = shared.decide(host, req, now);
        }
        if !decision.forwards() && self.try_refetch(host, shared, &decision, req) {
            return Action::Pause;
        }
        if self.enforce(host, stream, shared, &decision, Some(req), now) {
            Action::Continue
        } else {
            Action::Pause
        }
    }

    /// The response to this request's refetch: install the keys, decide, resume or answer.
    pub fn on_call_response(
        &mut self,
        host: &dyn Host,
        stream: &dyn Stream,
        token: u32,
        resp: &dyn Response,
    ) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        let Some(w) = self.waiting.take() else {
            return;
        };
        if w.token != token {
            self.waiting = Some(w);
            return;
        }
        let now_ms = host.now_ms().unwrap_or(0);
        let progress = shared.keys.on_response(host, &w.fetch, resp, now_ms);
        count_fetch(host, &progress);
        if let Progress::Continued(next, fetch) = progress {
            self.waiting = Some(Waiting {
                token: next,
                fetch,
                req: w.req,
            });
            return;
        }
        let now = (now_ms / 1000) as i64;
        let decision = shared.decide(host, &w.req, now);
        if self.enforce(host, stream, &shared, &decision, Some(&w.req), now) {
            if let Err(s) = stream.resume() {
                host.log(
                    Level::Error,
                    &format!("vigil: cannot resume the request (status {})", s.0),
                );
            }
        }
    }

    /// Whether the request waits for a call (the binding keeps it paused).
    pub fn waiting(&self) -> bool {
        self.waiting.is_some()
    }

    /// The policy this request uses.
    pub fn shared(&self) -> Option<&Rc<Shared>> {
        self.shared.as_ref()
    }
}

#[cfg(test)]
#[path = "adapter_test.rs"]
mod tests;
