//! The proxy-wasm binding (`filter.wasm`): proxy-wasm contexts that hand the adapter a
//! [`Host`] / [`Stream`] made of proxy-wasm host calls, and carry out what it returns.
//! Every worker thread of Envoy runs its own VM, so the adapter's per-worker state is
//! per VM, and what workers share goes through Envoy's shared data.

pub mod abi;

use crate::adapter::{self, Action, Http, Root};
use crate::host::{Counter, Host, Level, Property, Response, Status, Stream};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(WasmRoot::default()) });
}}

fn level(l: Level) -> abi::Level {
    match l {
        Level::Debug => abi::Level::Debug,
        Level::Info => abi::Level::Info,
        Level::Warn => abi::Level::Warn,
        Level::Error => abi::Level::Error,
    }
}

/// The proxy-wasm host: the same host calls from every context (the SDK routes a call's
/// response to the context that made it).
#[derive(Debug, Default, Clone, Copy)]
struct WasmHost {
    /// Metric ids, by [`Counter::index`] (`None` where the host refused to define one).
    counters: [Option<u32>; Counter::ALL.len()],
}

impl WasmHost {
    fn define() -> WasmHost {
        let mut counters = [None; Counter::ALL.len()];
        for (slot, c) in counters.iter_mut().zip(Counter::ALL) {
            *slot = abi::define_counter(c.name()).ok();
        }
        WasmHost { counters }
    }
}

impl Host for WasmHost {
    fn log(&self, l: Level, msg: &str) {
        abi::log(level(l), msg);
    }
    fn logs_at(&self, l: Level) -> bool {
        abi::logs_at(level(l))
    }
    fn now_ms(&self) -> Result<u64, Status> {
        abi::now_millis()
    }
    fn count(&self, counter: Counter, by: u64) {
        if by == 0 {
            return;
        }
        if let Some(Some(id)) = self.counters.get(counter.index()) {
            abi::increment(*id, i64::try_from(by).unwrap_or(i64::MAX));
        }
    }
    fn shared_get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, Status> {
        abi::shared_get(key)
    }
    fn shared_set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), Status> {
        abi::shared_set(key, value, cas)
    }
    fn http_call(
        &self,
        cluster: &str,
        headers: &[(&str, &str)],
        timeout_ms: u32,
    ) -> Result<u32, Status> {
        abi::http_call(cluster, headers, timeout_ms)
    }
}

/// The current request, through host calls.
#[derive(Debug, Clone, Copy)]
struct WasmStream;

fn property_path(p: Property) -> &'static [&'static str] {
    match p {
        Property::SourceAddress => &["source", "address"],
        Property::PeerUriSan => &["connection", "uri_san_peer_certificate"],
        Property::DestinationAddress => &["destination", "address"],
        Property::DestinationPort => &["destination", "port"],
        Property::RequestedServerName => &["connection", "requested_server_name"],
    }
}

impl Stream for WasmStream {
    fn each_header(&self, f: &mut dyn FnMut(&[u8], &[u8])) -> Result<(), Status> {
        abi::each_pair(abi::Map::RequestHeaders, f)
    }
    fn property_text(&self, p: Property) -> Result<Option<String>, Status> {
        Ok(abi::property(property_path(p))?
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .filter(|s| !s.is_empty()))
    }
    /// Envoy serialises integer properties as 8 little-endian bytes.
    fn property_int(&self, p: Property) -> Result<Option<i64>, Status> {
        Ok(abi::property(property_path(p))?.and_then(|b| {
            let arr: [u8; 8] = b.as_slice().try_into().ok()?;
            Some(i64::from_le_bytes(arr))
        }))
    }
    fn send_response(
        &self,
        status: u32,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), Status> {
        abi::send_response(status, headers, body)
    }
    fn remove_header(&self, key: &str) -> Result<(), Status> {
        abi::remove_header(key)
    }
    fn set_header(&self, key: &str, value: &str) -> Result<(), Status> {
        abi::set_header(key, value)
    }
    fn resume(&self) -> Result<(), Status> {
        abi::resume_request()
    }
    /// Envoy keeps a property a Wasm filter sets as filter state `wasm.<name>`.
    fn record(&self, json: &str) -> Result<(), Status> {
        abi::set_property(&[RECORD_PROPERTY], json.as_bytes())
    }
}

/// The decision record's property: `%FILTER_STATE(wasm.vigil_decision:PLAIN)%` in an
/// access-log format.
const RECORD_PROPERTY: &str = "vigil_decision";

/// The response of the call whose callback is running.
#[derive(Debug, Clone, Copy)]
struct WasmResponse {
    body_size: usize,
}

impl Response for WasmResponse {
    fn status(&self) -> String {
        abi::map_value(abi::Map::CallResponseHeaders, ":status")
            .ok()
            .flatten()
            .map(|s| String::from_utf8_lossy(&s).into_owned())
            .unwrap_or_default()
    }
    fn body_size(&self) -> usize {
        self.body_size
    }
    fn body(&self) -> Result<Vec<u8>, Status> {
        abi::buffer(abi::Buffer::CallResponseBody, self.body_size)
    }
    fn header(&self, name: &str) -> Option<String> {
        abi::map_value(abi::Map::CallResponseHeaders, name)
            .ok()
            .flatten()
            .and_then(|v| String::from_utf8(v).ok())
    }
}

fn set_tick(ms: u32) {
    if let Err(s) = abi::set_tick_period_ms(ms) {
        abi::log(
            abi::Level::Error,
            &format!("vigil: cannot set the tick period (status {})", s.0),
        );
    }
}

#[derive(Debug, Default)]
struct WasmRoot {
    host: WasmHost,
    root: Root,
}

impl Context for WasmRoot {
    fn on_http_call_response(
        &mut self,
        token: u32,
        _headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        let host = self.host;
        self.root
            .on_call_response(&host, token, &WasmResponse { body_size });
    }
}

impl RootContext for WasmRoot {
    fn on_configure(&mut self, size: usize) -> bool {
        let bytes = match abi::buffer(
            abi::Buffer::PluginConfiguration,
            size.min(adapter::MAX_CONFIG + 1),
        ) {
            Ok(b) => b,
            Err(s) => {
                abi::log(
                    abi::Level::Error,
                    &format!(
                        "vigil: cannot read the plugin configuration (status {})",
                        s.0
                    ),
                );
                return false;
            }
        };
        let config = match adapter::configure(&bytes) {
            Ok(c) => c,
            Err(msg) => {
                abi::log(abi::Level::Error, &msg);
                return false;
            }
        };
        self.host = WasmHost::define();
        let host = self.host;
        if let Some(tick) = self.root.configure(&host, &config) {
            set_tick(tick);
            if let Some(tick) = self.root.on_tick(&host) {
                set_tick(tick);
            }
        }
        true
    }

    fn on_tick(&mut self) {
        let host = self.host;
        if let Some(tick) = self.root.on_tick(&host) {
            set_tick(tick);
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(WasmHttp {
            host: self.host,
            http: Http::new(self.root.shared(&self.host)),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

#[derive(Debug)]
struct WasmHttp {
    host: WasmHost,
    http: Http,
}

impl Context for WasmHttp {
    fn on_http_call_response(
        &mut self,
        token: u32,
        _headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        let host = self.host;
        self.http
            .on_call_response(&host, &WasmStream, token, &WasmResponse { body_size });
    }
}

impl HttpContext for WasmHttp {
    fn on_http_request_headers(
        &mut self,
        _num_headers: usize,
        _end_of_stream: bool,
    ) -> proxy_wasm::types::Action {
        let host = self.host;
        match self.http.on_request_headers(&host, &WasmStream) {
            Action::Continue => proxy_wasm::types::Action::Continue,
            Action::Pause => proxy_wasm::types::Action::Pause,
        }
    }
}
