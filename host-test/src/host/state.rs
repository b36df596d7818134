//! The host's state: what each `Store` holds (streams, callouts, logs, metrics, clock), what
//! the VMs of one host share (shared data with CAS, shared queues), and header maps in the
//! proxy-wasm serialised format. Nothing here calls into the guest.

use super::abi::Status;
use super::{Callout, Limits, LocalResponse, LogEntry, Metric, MetricKind, Route};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use wasmtime::{Memory, StoreLimits, TypedFunc};

/// The metrics a VM defined; ids are index + 1.
#[derive(Debug, Clone, Default)]
pub(crate) struct Metrics(pub(super) Vec<Metric>);

const MAX_METRICS: usize = 10_000;

impl Metrics {
    pub(super) fn define(&mut self, kind: MetricKind, name: &str) -> Option<u32> {
        if let Some(i) = self.0.iter().position(|m| m.kind == kind && m.name == name) {
            return u32::try_from(i + 1).ok();
        }
        if self.0.len() >= MAX_METRICS {
            return None;
        }
        self.0.push(Metric {
            name: name.to_string(),
            kind,
            value: 0,
            samples: Vec::new(),
        });
        u32::try_from(self.0.len()).ok()
    }
    pub(super) fn slot(&mut self, id: u32) -> Result<&mut Metric, Status> {
        let i = usize::try_from(id)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .ok_or(Status::NotFound)?;
        self.0.get_mut(i).ok_or(Status::NotFound)
    }
    pub(super) fn increment(&mut self, id: u32, offset: i64) -> Result<(), Status> {
        let m = self.slot(id)?;
        match m.kind {
            MetricKind::Histogram => Err(Status::BadArgument),
            MetricKind::Counter if offset < 0 => Err(Status::BadArgument),
            _ => {
                m.value = m.value.saturating_add(offset);
                Ok(())
            }
        }
    }
    pub(super) fn record(&mut self, id: u32, value: u64) -> Result<(), Status> {
        let m = self.slot(id)?;
        match m.kind {
            MetricKind::Histogram => {
                m.value = m.value.saturating_add(1);
                if m.samples.len() < 10_000 {
                    m.samples.push(value);
                }
            }
            _ => m.value = i64::try_from(value).unwrap_or(i64::MAX),
        }
        Ok(())
    }
    pub(super) fn get(&self, id: u32) -> Result<u64, Status> {
        let i = usize::try_from(id)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .ok_or(Status::NotFound)?;
        let m = self.0.get(i).ok_or(Status::NotFound)?;
        match m.kind {
            MetricKind::Histogram => Err(Status::BadArgument),
            _ => Ok(u64::try_from(m.value).unwrap_or(0)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Header maps and properties

/// A header map: lower-cased names (as Envoy keeps them), values as bytes, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderMap(Vec<(Vec<u8>, Vec<u8>)>);

impl HeaderMap {
    /// An empty map.
    pub fn new() -> Self {
        HeaderMap::default()
    }
    /// The number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Every value of `key` (case-insensitive) joined with `,`; `None` if absent.
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        for (k, v) in &self.0 {
            if k.eq_ignore_ascii_case(key) {
                match &mut out {
                    None => out = Some(v.clone()),
                    Some(o) => {
                        o.push(b',');
                        o.extend_from_slice(v);
                    }
                }
            }
        }
        out
    }
    /// Appends an entry.
    pub fn add(&mut self, key: &[u8], value: Vec<u8>) {
        self.0.push((key.to_ascii_lowercase(), value));
    }
    /// Sets `key` to one value: the first entry is replaced, the others removed (appended if
    /// absent).
    pub fn replace(&mut self, key: &[u8], value: Vec<u8>) {
        match self.0.iter().position(|(k, _)| k.eq_ignore_ascii_case(key)) {
            Some(i) => {
                let mut n = 0usize;
                self.0.retain(|(k, _)| {
                    let keep = n == i || !k.eq_ignore_ascii_case(key);
                    n += 1;
                    keep
                });
                if let Some(slot) = self.0.get_mut(i) {
                    slot.1 = value;
                }
            }
            None => self.add(key, value),
        }
    }
    /// Removes every entry of `key`.
    pub fn remove(&mut self, key: &[u8]) {
        self.0.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
    }
    /// The entries as (lossy) text.
    pub fn to_strings(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(k).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect()
    }
    /// The serialised form: `u32 count, (u32 klen, u32 vlen)*, key\0 value\0 ...`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let n = |x: usize| u32::try_from(x).unwrap_or(u32::MAX).to_le_bytes();
        out.extend_from_slice(&n(self.0.len()));
        for (k, v) in &self.0 {
            out.extend_from_slice(&n(k.len()));
            out.extend_from_slice(&n(v.len()));
        }
        for (k, v) in &self.0 {
            out.extend_from_slice(k);
            out.push(0);
            out.extend_from_slice(v);
            out.push(0);
        }
        out
    }
    /// Parses the serialised form (empty input is an empty map); `None` when malformed.
    pub fn decode(bytes: &[u8]) -> Option<HeaderMap> {
        if bytes.is_empty() {
            return Some(HeaderMap::default());
        }
        let word = |at: usize| -> Option<usize> {
            let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
            usize::try_from(u32::from_le_bytes(b)).ok()
        };
        let count = word(0)?;
        if count > bytes.len() / 8 {
            return None;
        }
        let mut p = count.checked_mul(8)?.checked_add(4)?;
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            let klen = word(4 + i * 8)?;
            let vlen = word(8 + i * 8)?;
            let key = bytes.get(p..p.checked_add(klen)?)?.to_vec();
            p = p.checked_add(klen)?;
            if bytes.get(p) != Some(&0) {
                return None;
            }
            p += 1;
            let value = bytes.get(p..p.checked_add(vlen)?)?.to_vec();
            p = p.checked_add(vlen)?;
            if bytes.get(p) != Some(&0) {
                return None;
            }
            p += 1;
            out.push((key.to_ascii_lowercase(), value));
        }
        Some(HeaderMap(out))
    }
}

impl<K: AsRef<[u8]>, V: AsRef<[u8]>> FromIterator<(K, V)> for HeaderMap {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut m = HeaderMap::new();
        for (k, v) in iter {
            m.add(k.as_ref(), v.as_ref().to_vec());
        }
        m
    }
}

/// Properties: a serialised path (`source\0address`) → value bytes.
pub(crate) type Props = BTreeMap<Vec<u8>, Vec<u8>>;

pub(super) fn property_path(path: &[&str]) -> Vec<u8> {
    path.join("\0").into_bytes()
}

// ---------------------------------------------------------------------------------------------
// State shared by the VMs of one host

#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(super) data: HashMap<Vec<u8>, (Vec<u8>, u32)>,
    pub(super) data_bytes: usize,
    pub(super) next_cas: u32,
    pub(super) queues: Vec<Queue>,
    pub(super) queued_bytes: usize,
    /// (VM serial, root context, queue id) notifications not yet delivered.
    pub(super) ready: Vec<(u64, u32, u32)>,
    pub(super) next_serial: u64,
}

#[derive(Debug)]
pub(super) struct Queue {
    pub(super) vm_id: String,
    pub(super) name: String,
    pub(super) owner: u64,
    pub(super) owner_root: u32,
    pub(super) items: VecDeque<Vec<u8>>,
}

impl Shared {
    pub(super) fn set(
        &mut self,
        key: Vec<u8>,
        value: Vec<u8>,
        cas: u32,
        max: usize,
    ) -> Result<(), Status> {
        let old = match self.data.get(&key) {
            Some((_, cur)) if cas != 0 && cas != *cur => return Err(Status::CasMismatch),
            Some((v, _)) => key.len() + v.len(),
            None => 0,
        };
        let total = self
            .data_bytes
            .saturating_sub(old)
            .saturating_add(key.len() + value.len());
        if total > max {
            return Err(Status::InternalFailure);
        }
        self.data_bytes = total;
        self.next_cas = self.next_cas.wrapping_add(1).max(1);
        self.data.insert(key, (value, self.next_cas));
        Ok(())
    }
    pub(super) fn register_queue(&mut self, vm_id: &str, name: &str, owner: u64, root: u32) -> u32 {
        if let Some(i) = self
            .queues
            .iter()
            .position(|q| q.vm_id == vm_id && q.name == name)
        {
            if let Some(q) = self.queues.get_mut(i) {
                q.owner = owner;
                q.owner_root = root;
            }
            return u32::try_from(i + 1).unwrap_or(u32::MAX);
        }
        self.queues.push(Queue {
            vm_id: vm_id.to_string(),
            name: name.to_string(),
            owner,
            owner_root: root,
            items: VecDeque::new(),
        });
        u32::try_from(self.queues.len()).unwrap_or(u32::MAX)
    }
    pub(super) fn resolve_queue(&self, vm_id: &str, name: &str) -> Option<u32> {
        self.queues
            .iter()
            .position(|q| q.vm_id == vm_id && q.name == name)
            .and_then(|i| u32::try_from(i + 1).ok())
    }
    pub(super) fn queue(&mut self, id: u32) -> Result<&mut Queue, Status> {
        let i = usize::try_from(id)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .ok_or(Status::NotFound)?;
        self.queues.get_mut(i).ok_or(Status::NotFound)
    }
    pub(super) fn enqueue(&mut self, id: u32, value: Vec<u8>, max: usize) -> Result<(), Status> {
        let total = self.queued_bytes + value.len();
        let q = self.queue(id)?;
        if total > max {
            return Err(Status::InternalFailure);
        }
        q.items.push_back(value);
        let note = (q.owner, q.owner_root, id);
        self.queued_bytes = total;
        self.ready.push(note);
        Ok(())
    }
    pub(super) fn dequeue(&mut self, id: u32) -> Result<Vec<u8>, Status> {
        let item = self.queue(id)?.items.pop_front().ok_or(Status::Empty)?;
        self.queued_bytes = self.queued_bytes.saturating_sub(item.len());
        Ok(item)
    }
}

pub(super) fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // A poisoned lock only means another thread panicked; the data is still consistent.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------------
// Per-store state

/// One HTTP stream (context).
#[derive(Debug, Default)]
pub(crate) struct Stream {
    pub(super) request_headers: HeaderMap,
    pub(super) request_trailers: HeaderMap,
    pub(super) response_headers: HeaderMap,
    pub(super) response_trailers: HeaderMap,
    pub(super) request_body: Vec<u8>,
    pub(super) response_body: Vec<u8>,
    pub(super) properties: Props,
    pub(super) local_responses: Vec<LocalResponse>,
    pub(super) resumed: u32,
    pub(super) closed: bool,
    pub(super) keep_open: bool,
}

/// The response being delivered to `proxy_on_http_call_response`.
#[derive(Debug, Default)]
pub(crate) struct CallResponse {
    pub(super) headers: HeaderMap,
    pub(super) trailers: HeaderMap,
    pub(super) body: Vec<u8>,
}

/// Everything a host call can see: one per wasmtime `Store`.
pub(crate) struct State {
    pub(super) limits: StoreLimits,
    pub(super) limits_cfg: Limits,
    pub(super) memory: Option<Memory>,
    pub(super) allocator: Option<TypedFunc<u32, u32>>,
    pub(super) allocator_faults: u64,
    pub(super) shared: Arc<Mutex<Shared>>,
    pub(super) vm_id: String,
    pub(super) vm_serial: u64,
    pub(super) clock_ns: u64,
    pub(super) log_level: u32,
    pub(super) logs: VecDeque<LogEntry>,
    pub(super) logs_dropped: u64,
    pub(super) stdout: Vec<u8>,
    pub(super) stderr: Vec<u8>,
    pub(super) plugin_config: Vec<u8>,
    pub(super) vm_config: Vec<u8>,
    pub(super) properties: Props,
    pub(super) root_id: u32,
    pub(super) effective: u32,
    pub(super) streams: BTreeMap<u32, Stream>,
    pub(super) tick_period_ms: u32,
    pub(super) next_tick_ns: Option<u64>,
    pub(super) callouts: BTreeMap<u32, Callout>,
    pub(super) dispatched: Vec<Callout>,
    pub(super) next_token: u32,
    pub(super) routes: BTreeMap<String, Route>,
    pub(super) strict_clusters: bool,
    pub(super) call_response: Option<CallResponse>,
    pub(super) metrics: Metrics,
    pub(super) hostcalls: HashMap<&'static str, u64>,
    pub(super) done_calls: u32,
    pub(super) proc_exit: Option<i32>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("vm_id", &self.vm_id)
            .field("clock_ns", &self.clock_ns)
            .field("streams", &self.streams.len())
            .finish_non_exhaustive()
    }
}

impl State {
    pub(super) fn shared_lock(&self) -> MutexGuard<'_, Shared> {
        lock(&self.shared)
    }
    pub(super) fn push_logs(&mut self) {
        let max = self.limits_cfg.max_log_entries;
        while self.logs.len() > max {
            self.logs.pop_front();
            self.logs_dropped += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_map_round_trip() {
        let m: HeaderMap = [(":path", "/a"), ("X-A", "1"), ("x-a", "2")]
            .into_iter()
            .collect();
        assert_eq!(m.get(b"X-a"), Some(b"1,2".to_vec()));
        let enc = m.encode();
        assert_eq!(HeaderMap::decode(&enc), Some(m.clone()));
        for cut in 1..enc.len() {
            assert_eq!(HeaderMap::decode(&enc[..cut]), None, "cut at {cut}");
        }
        assert_eq!(HeaderMap::decode(&[255, 255, 255, 255]), None);
        let mut r = m.clone();
        r.replace(b"x-A", b"3".to_vec());
        assert_eq!(
            r.to_strings(),
            vec![(":path".into(), "/a".into()), ("x-a".into(), "3".into())]
        );
        r.remove(b"X-A");
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn shared_data_cas() {
        let mut s = Shared::default();
        s.set(b"k".to_vec(), b"v".to_vec(), 0, 100).unwrap();
        let cas = s.data.get(b"k".as_slice()).unwrap().1;
        assert_eq!(
            s.set(b"k".to_vec(), b"w".to_vec(), cas + 1, 100),
            Err(Status::CasMismatch)
        );
        s.set(b"k".to_vec(), b"w".to_vec(), cas, 100).unwrap();
        assert_eq!(
            s.set(b"k".to_vec(), vec![0; 200], 0, 100),
            Err(Status::InternalFailure)
        );
    }
}
