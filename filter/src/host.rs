//! What the adapter needs from a proxy, as traits: each binding (proxy-wasm in
//! `filter.wasm`, Envoy's dynamic-module ABI in `libvigil.so`) implements them and only moves
//! bytes; every decision, fetch, cache and state rule lives in the adapter, written once.
//!
//! * [`Host`]: the log, the clock, counters, shared data (Envoy shared data between worker
//!   VMs in Wasm; in-process memory shared by the worker threads natively) and HTTP calls
//!   to a cluster. A root context's host and a stream's host differ only in where a call's
//!   response is delivered.
//! * [`Stream`]: one downstream request: its headers and connection properties, the local
//!   response, header rewrites, resuming a paused request, the decision record.
//! * [`Response`]: the response to an HTTP call, read lazily and bounded.

/// A host call that failed, with the proxy-wasm status code (the native binding maps its own
/// results onto the same codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(pub u32);

impl Status {
    /// The key or value was not found.
    pub const NOT_FOUND: Status = Status(1);
    /// A bad argument (an unknown cluster, a malformed map).
    pub const BAD_ARGUMENT: Status = Status(2);
    /// A serialised map was malformed.
    pub const PARSE_FAILURE: Status = Status(4);
    /// Shared data: the CAS token did not match (someone else wrote the key).
    pub const CAS_MISMATCH: Status = Status(8);
    /// Anything else.
    pub const INTERNAL: Status = Status(10);
}

/// Log levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warn.
    Warn,
    /// Error.
    Error,
}

/// The adapter's counters (`vigil_<name>` in Envoy's `/stats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// Requests allowed.
    Allowed,
    /// Requests denied.
    Denied,
    /// Requests refused for want of a valid credential.
    Unauthenticated,
    /// Requests asked for a stronger authentication.
    StepUp,
    /// Requests refused by a rate limit.
    RateLimited,
    /// Non-allow decisions not enforced (dry run).
    DryRunNotEnforced,
    /// Host errors (a request that could not be read or forwarded).
    Errors,
    /// Key sets fetched and installed.
    JwksFetchOk,
    /// Key-set fetches that failed (the last good set stays).
    JwksFetchFailed,
    /// Members of fetched key sets that were skipped (unusable keys; the rest is used).
    JwksKeysSkipped,
    /// Tokens found verified in the token cache.
    TokenCacheHit,
    /// Tokens verified (not in the cache).
    TokenCacheMiss,
    /// Revocation snapshots polled and installed.
    RevocationPollOk,
    /// Revocation polls that failed (or whose signed snapshot was refused).
    RevocationPollFailed,
    /// Policy bundles installed, counted per worker (each VM or thread installs each one).
    BundleInstalled,
    /// Bundle polls answered `304 Not Modified` or with the installed bundle again.
    BundleUnchanged,
    /// Bundles refused (signature, key, replayed revision, kind, a policy that does not load).
    BundleRefused,
    /// Bundle polls that failed (status, timeout, no cluster).
    BundlePollFailed,
    /// Network-list feed polls that succeeded (a new snapshot, or confirmed unchanged).
    NetworkFeedPollOk,
    /// Network-list feed polls that failed (or whose snapshot was refused).
    NetworkFeedPollFailed,
    /// Risk-label feed polls that succeeded.
    LabelsFeedPollOk,
    /// Risk-label feed polls that failed.
    LabelsFeedPollFailed,
}

impl Counter {
    /// Every counter, in definition order.
    pub const ALL: [Counter; 22] = [
        Counter::Allowed,
        Counter::Denied,
        Counter::Unauthenticated,
        Counter::StepUp,
        Counter::RateLimited,
        Counter::DryRunNotEnforced,
        Counter::Errors,
        Counter::JwksFetchOk,
        Counter::JwksFetchFailed,
        Counter::JwksKeysSkipped,
        Counter::TokenCacheHit,
        Counter::TokenCacheMiss,
        Counter::RevocationPollOk,
        Counter::RevocationPollFailed,
        Counter::BundleInstalled,
        Counter::BundleUnchanged,
        Counter::BundleRefused,
        Counter::BundlePollFailed,
        Counter::NetworkFeedPollOk,
        Counter::NetworkFeedPollFailed,
        Counter::LabelsFeedPollOk,
        Counter::LabelsFeedPollFailed,
    ];

    /// The metric name.
    pub fn name(self) -> &'static str {
        match self {
            Counter::Allowed => "vigil_allowed",
            Counter::Denied => "vigil_denied",
            Counter::Unauthenticated => "vigil_unauthenticated",
            Counter::StepUp => "vigil_step_up",
            Counter::RateLimited => "vigil_rate_limited",
            Counter::DryRunNotEnforced => "vigil_dry_run_not_enforced",
            Counter::Errors => "vigil_errors",
            Counter::JwksFetchOk => "vigil_jwks_fetch_ok",
            Counter::JwksFetchFailed => "vigil_jwks_fetch_failed",
            Counter::JwksKeysSkipped => "vigil_jwks_keys_skipped",
            Counter::TokenCacheHit => "vigil_token_cache_hit",
            Counter::TokenCacheMiss => "vigil_token_cache_miss",
            Counter::RevocationPollOk => "vigil_revocation_poll_ok",
            Counter::RevocationPollFailed => "vigil_revocation_poll_failed",
            Counter::BundleInstalled => "vigil_bundle_installed",
            Counter::BundleUnchanged => "vigil_bundle_unchanged",
            Counter::BundleRefused => "vigil_bundle_refused",
            Counter::BundlePollFailed => "vigil_bundle_poll_failed",
            Counter::NetworkFeedPollOk => "vigil_network_feed_poll_ok",
            Counter::NetworkFeedPollFailed => "vigil_network_feed_poll_failed",
            Counter::LabelsFeedPollOk => "vigil_labels_feed_poll_ok",
            Counter::LabelsFeedPollFailed => "vigil_labels_feed_poll_failed",
        }
    }

    /// Position in [`Counter::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The proxy, as the adapter sees it from one context.
pub trait Host {
    /// Writes a line to the proxy's log.
    fn log(&self, level: Level, msg: &str);
    /// Whether a line at `level` would be kept (true when the proxy cannot say).
    fn logs_at(&self, level: Level) -> bool;
    /// The proxy's clock, in Unix milliseconds.
    fn now_ms(&self) -> Result<u64, Status>;
    /// Adds to a counter.
    fn count(&self, counter: Counter, by: u64);
    /// Shared data: the value and its CAS token.
    fn shared_get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, Status>;
    /// Shared data: sets a value if `cas` is still the key's token (0: unconditionally);
    /// [`Status::CAS_MISMATCH`] when someone else wrote it since.
    fn shared_set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), Status>;
    /// Sends a request (pseudo-headers included) to a cluster; the response comes back to
    /// this context with the returned token.
    fn http_call(
        &self,
        cluster: &str,
        headers: &[(&str, &str)],
        timeout_ms: u32,
    ) -> Result<u32, Status>;
}

/// A connection property the policy may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Property {
    /// The downstream peer, `ip:port`.
    SourceAddress,
    /// The peer certificate's URI SAN (the mTLS principal).
    PeerUriSan,
    /// The local address, `ip:port`.
    DestinationAddress,
    /// The local port.
    DestinationPort,
    /// The TLS SNI.
    RequestedServerName,
}

/// One downstream request, as the adapter sees it.
pub trait Stream {
    /// Hands every request header (pseudo-headers included) to `f` in order, repeated ones
    /// as separate pairs, borrowed from the proxy's copy.
    fn each_header(&self, f: &mut dyn FnMut(&[u8], &[u8])) -> Result<(), Status>;
    /// A text property (`None` when absent or empty).
    fn property_text(&self, p: Property) -> Result<Option<String>, Status>;
    /// An integer property.
    fn property_int(&self, p: Property) -> Result<Option<i64>, Status>;
    /// Answers the request locally.
    fn send_response(
        &self,
        status: u32,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), Status>;
    /// Removes every value of a request header.
    fn remove_header(&self, key: &str) -> Result<(), Status>;
    /// Sets a request header, replacing every previous value.
    fn set_header(&self, key: &str, value: &str) -> Result<(), Status>;
    /// Resumes a request paused in its request headers.
    fn resume(&self) -> Result<(), Status>;
    /// Puts the decision record (JSON) where the proxy's access log reads it.
    fn record(&self, json: &str) -> Result<(), Status>;
}

/// The response to an HTTP call.
pub trait Response {
    /// The `:status` header, empty when absent (a failed call).
    fn status(&self) -> String;
    /// The body's size in bytes.
    fn body_size(&self) -> usize;
    /// The body (the caller checks [`Response::body_size`] against its limit first).
    fn body(&self) -> Result<Vec<u8>, Status>;
    /// A response header (lower-case name), `None` when absent or not text.
    fn header(&self, name: &str) -> Option<String>;
}

/// Header pairs as raw bytes.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Decodes proxy-wasm's serialised map: `u32 count, (u32 klen, u32 vlen)*, key\0 value\0 ...`.
/// Malformed input is an error, never a panic.
pub fn decode_map(bytes: &[u8]) -> Result<Pairs, Status> {
    let mut out = Vec::new();
    visit_map(bytes, &mut |k, v| out.push((k.to_vec(), v.to_vec())))?;
    Ok(out)
}

/// [`decode_map`] without copies: hands each pair to `f`, borrowed from `bytes`. The layout
/// is checked before the first pair is handed over, so a malformed map hands none.
pub fn visit_map(bytes: &[u8], f: &mut dyn FnMut(&[u8], &[u8])) -> Result<(), Status> {
    let bad = Status::PARSE_FAILURE;
    let word = |at: usize| -> Result<usize, Status> {
        let b = bytes.get(at..at.checked_add(4).ok_or(bad)?).ok_or(bad)?;
        let arr: [u8; 4] = b.try_into().map_err(|_| bad)?;
        Ok(u32::from_le_bytes(arr) as usize)
    };
    if bytes.is_empty() {
        return Ok(());
    }
    let count = word(0)?;
    let start = count
        .checked_mul(8)
        .and_then(|n| n.checked_add(4))
        .ok_or(bad)?;
    if start > bytes.len() {
        return Err(bad);
    }
    // Two passes over the lengths: check, then hand over.
    for pass in 0..2 {
        let mut p = start;
        for i in 0..count {
            let klen = word(4 + i * 8)?;
            let vlen = word(8 + i * 8)?;
            let kend = p.checked_add(klen).ok_or(bad)?;
            let key = bytes.get(p..kend).ok_or(bad)?;
            p = kend.checked_add(1).ok_or(bad)?;
            let vend = p.checked_add(vlen).ok_or(bad)?;
            let value = bytes.get(p..vend).ok_or(bad)?;
            p = vend.checked_add(1).ok_or(bad)?;
            if pass == 1 {
                f(key, value);
            }
        }
    }
    Ok(())
}

/// Encodes a map in proxy-wasm's serialised format.
pub fn encode_map(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

#[cfg(test)]
#[path = "host_test.rs"]
mod tests;
