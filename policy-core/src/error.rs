//! Errors in documents Vigil reads: policies and check requests.
//!
//! Every error names where it is (a JSON path such as `authorizationPolicies[0].rules[1]`) and
//! what was expected, in lower case, quoting the offending input in backticks. A stable
//! machine code ([`PolicyError::code`]) lets tools and tests match errors without parsing text.

use alloc::string::String;
use core::fmt;

/// A stable, machine-readable class of document error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The text is not acceptable JSON (or YAML converted to JSON).
    Syntax,
    /// A value has the wrong JSON type.
    Type,
    /// A required field is missing.
    Missing,
    /// A field is not part of the format.
    UnknownField,
    /// A value is of the right type but not allowed (bad enum, bad CIDR, bad glob, ...).
    Invalid,
    /// The document is valid but uses something Vigil does not support.
    Unsupported,
    /// The document exceeds a size or count limit.
    Limit,
}

impl ErrorCode {
    /// The code as a stable string, e.g. `unknown_field`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Syntax => "syntax",
            ErrorCode::Type => "type",
            ErrorCode::Missing => "missing",
            ErrorCode::UnknownField => "unknown_field",
            ErrorCode::Invalid => "invalid",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::Limit => "limit",
        }
    }
}

/// An error in a policy document or a check request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// The machine code.
    pub code: ErrorCode,
    /// Where: a JSON path from the document root (`$` for the root itself).
    pub path: String,
    /// What: a lower-case message, user input quoted in backticks.
    pub message: String,
}

impl PolicyError {
    /// A new error at `path`.
    pub fn new(code: ErrorCode, path: impl Into<String>, message: impl Into<String>) -> Self {
        PolicyError {
            code,
            path: path.into(),
            message: message.into(),
        }
    }
    /// The stable code string.
    pub fn code(&self) -> &'static str {
        self.code.as_str()
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

#[cfg(feature = "std")]
extern crate std;
#[cfg(feature = "std")]
impl std::error::Error for PolicyError {}
