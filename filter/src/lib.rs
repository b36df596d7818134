//! # Vigil filter
//!
//! Vigil's policy core as an Envoy / Istio HTTP filter, from one adapter and two thin
//! bindings. The adapter ([`adapter`], with [`jwks`], [`state`] and [`request`]) is written
//! once against the [`host`] traits; it only moves bytes between the proxy and the core —
//! every decision is made by `policy_core`:
//!
//! * configuration: the filter's configuration *is* the policy document (JSON), or
//!   `{"bundle": {...}}`: where to poll a signed policy bundle ([`bundle`]). An invalid
//!   policy is refused with the precise error in Envoy's log, so `envoy --mode validate`
//!   fails and a config update never replaces a good policy with a broken one.
//! * the root's tick: installs key sets other workers published in shared data and fetches
//!   `jwksUri` (or OIDC discovery) when a set is missing or its TTL has passed — one worker
//!   at a time, through a lease in shared data; polls the bundle and the feeds ([`feed`]).
//! * request headers: the request (headers, pseudo-headers, peer address, mTLS principal,
//!   SNI, destination) becomes a check request; the decision is either a local response
//!   (status, `WWW-Authenticate`/`Retry-After`, a small JSON body) or the request continues
//!   with spoofed identity headers removed and verified ones set. A token whose `kid` is
//!   unknown (or whose issuer has no keys yet) pauses the request for one JWKS refetch per
//!   cooldown, then decides again.
//!
//! The bindings:
//!
//! * `wasm` (wasm32 targets): proxy-wasm, `dist/filter.wasm`, for Envoy and Istio's
//!   WasmPlugin; one VM per worker thread, shared data between them.
//! * `native` (other targets): Envoy's dynamic-module C ABI, `dist/libvigil.so`, for Envoy
//!   and Envoy Gateway; workers are threads of one process and share in-process memory.
//!
//! It never panics: every host-call failure becomes a fail-closed decision.

pub mod adapter;
pub mod bundle;
pub mod feed;
pub mod host;
pub mod jwks;
pub mod request;
pub mod state;

#[cfg(target_arch = "wasm32")]
mod wasm;

#[cfg(not(target_arch = "wasm32"))]
pub mod native;
