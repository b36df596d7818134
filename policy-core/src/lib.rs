//! # Vigil policy core
//!
//! One Zero Trust decision, made the same way everywhere Vigil runs: in an Envoy/Istio
//! sidecar (proxy-wasm), at the edge and in the browser (wasm-bindgen), and natively in the
//! `vigil` CLI. A policy document is parsed and compiled once into a plan; each request is
//! canonicalised once and evaluated against it along the request path
//! *extract → authenticate → contextualise → decide → enforce → record*.
//!
//! What this crate must never do:
//! * perform I/O, read a clock or draw randomness — time, key sets and state are arguments;
//! * panic, hang or allocate without bound on untrusted input (tokens, headers, paths,
//!   policies, key sets): every failure is a precise error and a denial;
//! * require `std` — it is `no_std` + `alloc` and is built for a bare-metal target in CI.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod authenticate;
pub mod decide;
pub mod error;
pub mod extract;
pub mod json;
pub mod policy;

pub use error::{ErrorCode, PolicyError};
pub use extract::request::{CheckRequest, Peer};
