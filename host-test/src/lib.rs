//! # `vigil` — the command-line shell over Vigil's policy core
//!
//! This crate is a thin adapter: it reads files (JSON, or YAML converted to JSON text and then
//! read by policy-core's strict parser, so duplicate keys and size limits apply to both),
//! hands them to [`policy_core`] and prints what comes back. Every policy semantic lives in
//! policy-core; nothing here decides anything.
//!
//! Subcommands: `eval` (one decision as JSON), `explain` (the same decision with its trace),
//! `check` (validate and lint policies) and `test` (run policy test files). `eval --wasm` and
//! `test --wasm` make the same decisions through a compiled `filter.wasm` in [`host`], a
//! proxy-wasm ABI 0.2.1 host on wasmtime that also serves as a Rust API for testing filters.
//!
//! What this crate must never do: panic on any input (arguments, files, standard input), or
//! exit 0 when an input could not be read. Exit codes: 0 success, 1 a check that ran and did
//! not hold (a failing test case, a denied warning), 2 input that could not be read or used.

pub mod args;
pub mod bench_cmd;
pub mod bundle_cmd;
pub mod check;
pub mod cli;
pub mod diff_cmd;
pub mod eval;
pub mod host;
pub mod input;
pub mod table;
pub mod test_cmd;
pub mod wasm;
pub mod yaml;

pub use cli::{run, Io};
