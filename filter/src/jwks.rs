//! Remote key sets: `jwksUri` (or OIDC discovery) fetched with an HTTP call through a named
//! Envoy cluster, shared by every worker (VM or thread) through shared data.
//!
//! * Each VM keeps a parsed [`KeyStore`] (inline sets from the policy plus fetched ones).
//! * A fetched set is published in shared data (`vigil.jwks.<issuer>` = `<fetched ms>\n<jwks>`);
//!   every VM installs it when the CAS token changes (checked on every tick), so one fetch
//!   serves all workers and a rotation reaches them within a tick.
//! * Fetches are single-flight across VMs: a lease in shared data (`vigil.jwks-lease.<issuer>`)
//!   taken with CAS decides which VM fetches.
//! * A fetch that fails or returns garbage changes nothing: the last good set stays.
//! * A token with an unknown `kid` (or no set at all) may trigger one refetch per cooldown
//!   (`vigil.jwks-refetch.<issuer>`, CAS), done by the request itself while it waits.

use crate::host::{Counter, Host, Level, Response, Status};
use policy_core::authenticate::{JwkSet, JwtRule, KeyStore};
use policy_core::json::{self, Limits};
use std::cell::RefCell;

/// Largest JWKS or discovery document accepted.
pub const MAX_DOCUMENT: usize = 1 << 20;
const DEFAULT_TTL_MS: u64 = 300_000;
const DEFAULT_COOLDOWN_MS: u64 = 10_000;
const DEFAULT_TIMEOUT_MS: u32 = 5_000;
/// After a failed fetch, wait this long before the next scheduled one.
const RETRY_MS: u64 = 2_000;

/// One issuer whose keys come from the network.
#[derive(Debug, Clone)]
pub struct Remote {
    /// The rule's issuer.
    pub issuer: String,
    /// The Envoy cluster to send the request to.
    pub cluster: String,
    /// `:authority` and `:path` of the JWKS, when known (`None` until discovery found it).
    pub jwks: Option<(String, String)>,
    /// `:authority` and `:path` of the discovery document, when discovery is on.
    pub discovery: Option<(String, String)>,
    /// How long a fetched set is used.
    pub ttl_ms: u64,
    /// Least time between two refetches caused by an unknown `kid`.
    pub cooldown_ms: u64,
    /// Timeout of one fetch.
    pub timeout_ms: u32,
}

/// `https://host:port/path?q` → (`host:port`, `/path?q`).
pub fn split_url(url: &str) -> Option<(String, String)> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (rest.get(..i)?, rest.get(i..)?),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    Some((authority.to_string(), path.to_string()))
}

/// Parses Istio-style durations (`5s`, `1500ms`, `1m`) into milliseconds.
fn duration_ms(s: &str) -> Option<u64> {
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000)
    } else {
        return None;
    };
    num.parse::<u64>().ok().map(|n| n.saturating_mul(mult))
}

impl Remote {
    /// The remote part of a rule; `None` for rules with inline keys only.
    pub fn from_rule(rule: &JwtRule) -> Option<Remote> {
        let jwks = rule.jwks_uri.as_deref().and_then(split_url);
        let discovery = if rule.jwks_cache.discovery && jwks.is_none() {
            let base = rule.issuer.trim_end_matches('/');
            split_url(&format!("{base}/.well-known/openid-configuration"))
        } else {
            None
        };
        if jwks.is_none() && discovery.is_none() {
            return None;
        }
        let authority = jwks
            .as_ref()
            .or(discovery.as_ref())
            .map(|(a, _)| a.clone())?;
        let cluster = cluster_for(rule.jwks_cache.cluster.as_ref(), &authority);
        Some(Remote {
            issuer: rule.issuer.clone(),
            cluster,
            jwks,
            discovery,
            ttl_ms: rule
                .jwks_cache
                .ttl_seconds
                .map_or(DEFAULT_TTL_MS, |s| s.saturating_mul(1000)),
            cooldown_ms: rule
                .jwks_cache
                .refetch_cooldown_seconds
                .map_or(DEFAULT_COOLDOWN_MS, |s| s.saturating_mul(1000)),
            timeout_ms: rule
                .timeout
                .as_deref()
                .and_then(duration_ms)
                .map_or(DEFAULT_TIMEOUT_MS, |ms| ms.min(60_000) as u32),
        })
    }
}

/// What an outstanding HTTP call is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// The discovery document.
    Discovery,
    /// The key set.
    Jwks,
}

/// An outstanding fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    /// Index into [`Keys::remotes`].
    pub remote: usize,
    /// Which document.
    pub stage: Stage,
}

/// What a call's response led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Keys installed.
    Installed,
    /// Discovery done; the JWKS call is under way with this token.
    Continued(u32, Fetch),
    /// The fetch failed (the last good set stays).
    Failed(String),
}

/// The key sets of one VM.
#[derive(Debug)]
pub struct Keys {
    /// Inline sets plus fetched ones.
    pub store: RefCell<KeyStore>,
    /// Issuers fetched from the network.
    pub remotes: RefCell<Vec<Remote>>,
    /// Per remote: the shared-data CAS last installed and when that set was fetched.
    seen: RefCell<Vec<(Option<u32>, u64)>>,
    /// Per remote: no scheduled fetch before this time (after a failure).
    not_before: RefCell<Vec<u64>>,
}

fn key(prefix: &str, issuer: &str) -> String {
    format!("vigil.{prefix}.{issuer}")
}

impl Keys {
    /// Key sets for a policy: its inline sets, and the remotes to fetch.
    pub fn new(inline: KeyStore, rules: &[JwtRule]) -> Keys {
        let remotes: Vec<Remote> = rules.iter().filter_map(Remote::from_rule).collect();
        let n = remotes.len();
        Keys {
            store: RefCell::new(inline),
            remotes: RefCell::new(remotes),
            seen: RefCell::new(vec![(None, 0); n]),
            not_before: RefCell::new(vec![0; n]),
        }
    }

    /// The remote index of an issuer.
    pub fn remote_of(&self, issuer: &str) -> Option<usize> {
        self.remotes
            .borrow()
            .iter()
            .position(|r| r.issuer == issuer)
    }

    /// Installs sets other VMs published. Returns how many were installed.
    pub fn sync(&self, host: &dyn Host) -> usize {
        let mut installed = 0;
        let n = self.remotes.borrow().len();
        for i in 0..n {
            let Some(issuer) = self.remotes.borrow().get(i).map(|r| r.issuer.clone()) else {
                continue;
            };
            let Ok(Some((bytes, cas))) = host.shared_get(&key("jwks", &issuer)) else {
                continue;
            };
            let already = self
                .seen
                .borrow()
                .get(i)
                .is_some_and(|(c, _)| *c == Some(cas));
            if already {
                continue;
            }
            let text = String::from_utf8_lossy(&bytes);
            let (fetched, doc) = text.split_once('\n').unwrap_or(("0", ""));
            let fetched: u64 = fetched.parse().unwrap_or(0);
            match JwkSet::parse(doc) {
                Ok(set) => {
                    self.store.borrow_mut().set(&issuer, set);
                    if let Some(s) = self.seen.borrow_mut().get_mut(i) {
                        *s = (Some(cas), fetched);
                    }
                    installed += 1;
                }
                Err(e) => {
                    // Published sets were validated by the publisher; never trust, though.
                    host.log(
                        Level::Warn,
                        &format!(
                            "vigil: shared key set for `{issuer}` refused: {}",
                            e.message
                        ),
                    );
                    if let Some(s) = self.seen.borrow_mut().get_mut(i) {
                        s.0 = Some(cas);
                    }
                }
            }
        }
        installed
    }

    /// True when remote `i` should be fetched on schedule.
    pub fn due(&self, i: usize, now_ms: u64) -> bool {
        let Some(ttl) = self.remotes.borrow().get(i).map(|r| r.ttl_ms) else {
            return false;
        };
        if self
            .not_before
            .borrow()
            .get(i)
            .is_some_and(|nb| now_ms < *nb)
        {
            return false;
        }
        match self.seen.borrow().get(i) {
            Some((Some(_), fetched)) => now_ms >= fetched.saturating_add(ttl),
            _ => true,
        }
    }

    /// Takes the cross-VM lease to fetch remote `i` (single flight).
    pub fn take_lease(&self, host: &dyn Host, i: usize, now_ms: u64) -> bool {
        let Some((issuer, timeout)) = self
            .remotes
            .borrow()
            .get(i)
            .map(|r| (r.issuer.clone(), u64::from(r.timeout_ms)))
        else {
            return false;
        };
        let k = key("jwks-lease", &issuer);
        let until = now_ms + 2 * timeout + 1000;
        cas_claim(host, &k, now_ms, until)
    }

    /// Gives the lease back once this VM's scheduled fetch of remote `i` has ended (installed
    /// or failed), so that the retry after a failure is not held off until the lease runs out.
    /// The lease outlives the longest fetch (discovery and JWKS, each within the timeout), so
    /// the lease given back is still this VM's own.
    pub fn release_lease(&self, host: &dyn Host, i: usize) {
        let Some(issuer) = self.remotes.borrow().get(i).map(|r| r.issuer.clone()) else {
            return;
        };
        let _ = host.shared_set(&key("jwks-lease", &issuer), b"0", 0);
    }

    /// Takes the cross-VM refetch slot for an unknown `kid` (one per cooldown).
    pub fn take_refetch(&self, host: &dyn Host, i: usize, now_ms: u64) -> bool {
        let Some((issuer, cooldown)) = self
            .remotes
            .borrow()
            .get(i)
            .map(|r| (r.issuer.clone(), r.cooldown_ms))
        else {
            return false;
        };
        cas_claim(
            host,
            &key("jwks-refetch", &issuer),
            now_ms,
            now_ms + cooldown,
        )
    }

    /// Starts fetching remote `i`; returns the call token.
    pub fn start(&self, host: &dyn Host, i: usize) -> Result<(u32, Fetch), String> {
        let remotes = self.remotes.borrow();
        let r = remotes.get(i).ok_or("no such remote")?;
        let (stage, (authority, path)) = match (&r.jwks, &r.discovery) {
            (Some(j), _) => (Stage::Jwks, j.clone()),
            (None, Some(d)) => (Stage::Discovery, d.clone()),
            (None, None) => return Err("nothing to fetch".into()),
        };
        let token = call(host, &r.cluster, &authority, &path, r.timeout_ms)?;
        Ok((token, Fetch { remote: i, stage }))
    }

    /// Handles the response to a fetch call (in whichever context made it).
    pub fn on_response(
        &self,
        host: &dyn Host,
        fetch: &Fetch,
        resp: &dyn Response,
        now_ms: u64,
    ) -> Progress {
        let result = self.handle(host, fetch, resp, now_ms);
        if let Progress::Failed(why) = &result {
            if let Some(nb) = self.not_before.borrow_mut().get_mut(fetch.remote) {
                *nb = now_ms + RETRY_MS;
            }
            let issuer = self
                .remotes
                .borrow()
                .get(fetch.remote)
                .map(|r| r.issuer.clone())
                .unwrap_or_default();
            host.log(
                Level::Warn,
                &format!(
                    "vigil: fetching keys of `{issuer}` failed: {why}; keeping the last good set"
                ),
            );
        }
        result
    }

    fn handle(&self, host: &dyn Host, fetch: &Fetch, resp: &dyn Response, now_ms: u64) -> Progress {
        let status = resp.status();
        if status != "200" {
            return Progress::Failed(format!("status `{status}`"));
        }
        let body_size = resp.body_size();
        if body_size > MAX_DOCUMENT {
            return Progress::Failed(format!("document of {body_size} bytes is too large"));
        }
        let body = match resp.body() {
            Ok(b) => b,
            Err(s) => return Progress::Failed(format!("cannot read the body (status {})", s.0)),
        };
        let Ok(text) = String::from_utf8(body) else {
            return Progress::Failed("the document is not UTF-8".into());
        };
        let Some(remote) = self.remotes.borrow().get(fetch.remote).cloned() else {
            return Progress::Failed("no such remote".into());
        };
        match fetch.stage {
            Stage::Discovery => {
                let doc = match json::parse(&text, Limits::REQUEST) {
                    Ok(d) => d,
                    Err(e) => return Progress::Failed(format!("discovery document: {e}")),
                };
                // OpenID Connect Discovery §4.3: the document's issuer must be ours.
                if doc.get("issuer").and_then(|v| v.as_str()) != Some(remote.issuer.as_str()) {
                    return Progress::Failed("discovery document names another issuer".into());
                }
                let Some(uri) = doc
                    .get("jwks_uri")
                    .and_then(|v| v.as_str())
                    .and_then(split_url)
                else {
                    return Progress::Failed("discovery document has no usable `jwks_uri`".into());
                };
                if let Some(r) = self.remotes.borrow_mut().get_mut(fetch.remote) {
                    r.jwks = Some(uri.clone());
                }
                match call(host, &remote.cluster, &uri.0, &uri.1, remote.timeout_ms) {
                    Ok(t) => Progress::Continued(
                        t,
                        Fetch {
                            remote: fetch.remote,
                            stage: Stage::Jwks,
                        },
                    ),
                    Err(e) => Progress::Failed(e),
                }
            }
            Stage::Jwks => match JwkSet::parse(&text) {
                Ok(set) => {
                    if !set.skipped().is_empty() {
                        let why: Vec<String> = set
                            .skipped()
                            .iter()
                            .map(|(p, r)| format!("{p}: {r}"))
                            .collect();
                        host.log(
                            Level::Warn,
                            &format!(
                                "vigil: key set of `{}`: {} key(s) skipped, the others used ({})",
                                remote.issuer,
                                why.len(),
                                why.join("; ")
                            ),
                        );
                        host.count(Counter::JwksKeysSkipped, why.len() as u64);
                    }
                    self.store.borrow_mut().set(&remote.issuer, set);
                    let published = format!("{now_ms}\n{text}");
                    let k = key("jwks", &remote.issuer);
                    // Publish for the other VMs; a CAS race only means someone else just did.
                    let _ = host.shared_set(&k, published.as_bytes(), 0);
                    let cas = host.shared_get(&k).ok().flatten().map(|(_, c)| c);
                    if let Some(s) = self.seen.borrow_mut().get_mut(fetch.remote) {
                        *s = (cas, now_ms);
                    }
                    if let Some(nb) = self.not_before.borrow_mut().get_mut(fetch.remote) {
                        *nb = 0;
                    }
                    Progress::Installed
                }
                Err(e) => {
                    Progress::Failed(format!("invalid key set at `{}`: {}", e.path, e.message))
                }
            },
        }
    }
}

fn call(
    host: &dyn Host,
    cluster: &str,
    authority: &str,
    path: &str,
    timeout_ms: u32,
) -> Result<u32, String> {
    host.http_call(
        cluster,
        &[
            (":method", "GET"),
            (":path", path),
            (":authority", authority),
            (":scheme", "http"),
            ("accept", "application/json"),
            ("user-agent", "vigil"),
        ],
        timeout_ms,
    )
    .map_err(|s| format!("cannot call cluster `{cluster}` (status {})", s.0))
}

/// The cluster a URL is fetched through: the one configured, else one named after the URL's
/// host (a common convention for static Envoy configs; Istio users name
/// `outbound|PORT||HOST`).
pub fn cluster_for(configured: Option<&String>, authority: &str) -> String {
    configured
        .cloned()
        .unwrap_or_else(|| authority.split(':').next().unwrap_or(authority).to_string())
}

/// Claims a shared-data slot holding a deadline: succeeds when the slot is free (absent or
/// expired) and our CAS write wins.
pub fn cas_claim(host: &dyn Host, k: &str, now_ms: u64, until: u64) -> bool {
    for _ in 0..4 {
        let (current, cas) = match host.shared_get(k) {
            Ok(Some((bytes, cas))) => (
                String::from_utf8_lossy(&bytes).parse::<u64>().unwrap_or(0),
                cas,
            ),
            Ok(None) => (0, 0),
            Err(_) => return false,
        };
        if current > now_ms {
            return false;
        }
        match host.shared_set(k, until.to_string().as_bytes(), cas) {
            Ok(()) => return true,
            Err(Status::CAS_MISMATCH) => continue, // CAS mismatch: someone else moved; look again
            Err(_) => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_durations() {
        assert_eq!(
            split_url("https://idp.example.com/jwks"),
            Some(("idp.example.com".into(), "/jwks".into()))
        );
        assert_eq!(
            split_url("http://127.0.0.1:9000"),
            Some(("127.0.0.1:9000".into(), "/".into()))
        );
        assert_eq!(split_url("ftp://x/y"), None);
        assert_eq!(split_url("https://u@x/y"), None);
        assert_eq!(duration_ms("5s"), Some(5000));
        assert_eq!(duration_ms("250ms"), Some(250));
        assert_eq!(duration_ms("1m"), Some(60_000));
        assert_eq!(duration_ms("x"), None);
    }
}
