//! TEMPORARY minimal canonicaliser (replaced by the full implementation on merge).
#![allow(missing_docs)]
use alloc::string::{String, ToString};
use core::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PathNormalization {
    #[default]
    Strict,
    Base,
    MergeSlashes,
    DecodeAndMergeSlashes,
}
impl PathNormalization {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "STRICT" => Some(Self::Strict),
            "BASE" => Some(Self::Base),
            "MERGE_SLASHES" => Some(Self::MergeSlashes),
            "DECODE_AND_MERGE_SLASHES" => Some(Self::DecodeAndMergeSlashes),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Strict => "STRICT",
            Self::Base => "BASE",
            Self::MergeSlashes => "MERGE_SLASHES",
            Self::DecodeAndMergeSlashes => "DECODE_AND_MERGE_SLASHES",
        }
    }
}
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathError {
    Bad(String),
    BadMethod(String),
    BadHost(String),
}
impl PathError {
    pub fn code(&self) -> &'static str {
        match self {
            PathError::Bad(_) => "bad_path",
            PathError::BadMethod(_) => "bad_method",
            PathError::BadHost(_) => "bad_host",
        }
    }
}
impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::Bad(p) => write!(f, "path `{p}` is not acceptable"),
            PathError::BadMethod(p) => write!(f, "method `{p}` is not acceptable"),
            PathError::BadHost(p) => write!(f, "host `{p}` is not acceptable"),
        }
    }
}
pub struct CanonicalPath {
    pub path: String,
    pub query: Option<String>,
}
pub fn canonicalize_path(raw: &str, _mode: PathNormalization) -> Result<CanonicalPath, PathError> {
    let (p, q) = match raw.split_once('?') {
        Some((p, q)) => (p, Some(q.to_string())),
        None => (raw, None),
    };
    if !p.starts_with('/')
        || p.contains("//")
        || p.contains('%')
        || p.contains("..")
        || p.contains('\\')
    {
        return Err(PathError::Bad(raw.to_string()));
    }
    Ok(CanonicalPath {
        path: p.to_string(),
        query: q,
    })
}
pub fn canonicalize_method(raw: &str) -> Result<&str, PathError> {
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(raw)
    } else {
        Err(PathError::BadMethod(raw.to_string()))
    }
}
pub fn canonicalize_host(raw: &str) -> Result<String, PathError> {
    let h = raw.rsplit_once(':').map(|(h, _)| h).unwrap_or(raw);
    Ok(h.to_ascii_lowercase())
}
