//! The policy document: reading, validating and compiling it.

pub mod read;
