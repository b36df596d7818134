//! Deciding: matching compiled rules against a canonical request.

pub mod cidr;
