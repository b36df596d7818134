//! `--wasm`: the CLI's decisions made by a compiled `filter.wasm` in the wasmtime host instead
//! of natively. The module is compiled once per process; each policy gets a fresh instance,
//! configured once and reused for all of that policy's requests.

use crate::cli::Failure;
use crate::host::check::{self, WasmDecision};
use crate::host::{Filter, Host, HostError, Vm};
use policy_core::CheckRequest;

/// Largest module read.
const MAX_WASM: u64 = 64 << 20;

/// A compiled filter and the host that runs it.
#[derive(Debug, Clone)]
pub struct WasmFilter {
    /// The host.
    pub host: Host,
    /// The compiled module.
    pub filter: Filter,
    /// The path, for messages.
    pub path: String,
}

impl WasmFilter {
    /// Reads and compiles `path`; errors exit 2.
    pub fn load(path: &str) -> Result<WasmFilter, Failure> {
        let named = |m: String| Failure::input(format!("filter `{path}`: {m}"));
        let meta = std::fs::metadata(path).map_err(|e| named(crate::input::io_message(&e)))?;
        if meta.len() > MAX_WASM {
            return Err(named(format!("larger than {MAX_WASM} bytes")));
        }
        let bytes = std::fs::read(path).map_err(|e| named(crate::input::io_message(&e)))?;
        let host = Host::new();
        let filter = host.compile(&bytes).map_err(|e| named(e.to_string()))?;
        Ok(WasmFilter {
            host,
            filter,
            path: path.to_string(),
        })
    }

    /// A fresh instance configured with `policy_json`.
    pub fn vm(&self, policy_json: &str) -> Result<Vm, HostError> {
        check::configured(&self.host, &self.filter, policy_json)
    }

    /// One decision with a fresh instance (for `vigil eval`).
    pub fn decide_once(
        &self,
        policy_json: &str,
        req: &CheckRequest,
        now: i64,
    ) -> Result<WasmDecision, Failure> {
        let named = |e: HostError| Failure::input(format!("filter `{}`: {e}", self.path));
        let mut vm = self.vm(policy_json).map_err(named)?;
        check::decide(&mut vm, req, now).map_err(named)
    }
}
