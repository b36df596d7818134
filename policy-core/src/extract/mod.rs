//! Extracting: the check request, and its canonical form for matching.

pub mod path;
pub mod request;
pub mod token;
