//! Extracting: the check request, and its canonical form for matching.

pub mod request;
pub mod token;
