//! Reading inputs: files, standard input (`-`) and inline JSON, as JSON or YAML, into
//! policy-core values — with errors that name the input and say where in it things went wrong.

use policy_core::json::{self, JsonErrorKind, Limits, Value};
use policy_core::PolicyError;
use std::fmt;
use std::io::Read;
use std::path::Path;

/// Why an input could not be used. `Display` is `<json path>: <message>` when the error is
/// inside the document, else just the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// Stable code: `io`, `syntax`, or a [`policy_core::ErrorCode`] string.
    pub code: &'static str,
    /// JSON path inside the document, when known.
    pub path: Option<String>,
    /// Lower-case message.
    pub message: String,
}

impl InputError {
    /// An error reading the input itself.
    pub fn io(message: impl Into<String>) -> Self {
        InputError {
            code: "io",
            path: None,
            message: message.into(),
        }
    }
    /// A syntax error (JSON or YAML).
    pub fn syntax(message: impl Into<String>) -> Self {
        InputError {
            code: "syntax",
            path: None,
            message: message.into(),
        }
    }
}

impl From<PolicyError> for InputError {
    fn from(e: PolicyError) -> Self {
        InputError {
            code: e.code(),
            path: Some(e.path),
            message: e.message,
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{p}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Where a document came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file path as given.
    File(String),
    /// Standard input (`-`).
    Stdin,
    /// Inline JSON on the command line.
    Inline,
}

impl Origin {
    /// How to name the origin in messages (without quotes).
    pub fn label(&self) -> &str {
        match self {
            Origin::File(p) => p,
            Origin::Stdin => "-",
            Origin::Inline => "(inline)",
        }
    }
    /// Whether the document is YAML (by file extension; stdin and inline are JSON).
    pub fn is_yaml(&self) -> bool {
        match self {
            Origin::File(p) => is_yaml_name(p),
            _ => false,
        }
    }
}

/// Whether a file name says YAML (`.yaml` / `.yml`, any case).
pub fn is_yaml_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".yaml") || lower.ends_with(".yml")
}

/// A document's text and origin.
#[derive(Debug, Clone)]
pub struct Source {
    /// Where it came from.
    pub origin: Origin,
    /// The text.
    pub text: String,
}

/// Reads a file as UTF-8, refusing anything over `max_bytes` without reading it all.
pub fn read_file(path: &Path, max_bytes: usize) -> Result<String, InputError> {
    let file = std::fs::File::open(path).map_err(|e| InputError::io(io_message(&e)))?;
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(InputError::io("is a directory"));
    }
    read_limited(file, max_bytes)
}

/// Reads all of `r` as UTF-8, refusing more than `max_bytes`.
pub fn read_limited(r: impl Read, max_bytes: usize) -> Result<String, InputError> {
    let mut buf = Vec::new();
    let cap = u64::try_from(max_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    r.take(cap)
        .read_to_end(&mut buf)
        .map_err(|e| InputError::io(io_message(&e)))?;
    if buf.len() > max_bytes {
        return Err(InputError::syntax(format!(
            "document is larger than the limit of {max_bytes} bytes"
        )));
    }
    String::from_utf8(buf).map_err(|e| {
        InputError::syntax(format!(
            "not valid utf-8 at byte {}",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// A lower-case description of an I/O error.
pub fn io_message(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::NotFound => "no such file or directory".into(),
        K::PermissionDenied => "permission denied".into(),
        K::IsADirectory => "is a directory".into(),
        K::InvalidData => "not valid utf-8".into(),
        _ => {
            let s = e.to_string();
            let mut c = s.chars();
            match c.next() {
                Some(first) => first.to_lowercase().chain(c).collect(),
                None => "i/o error".into(),
            }
        }
    }
}

/// Parses a source as JSON (or YAML, by its name) within `limits`.
pub fn parse(src: &Source, limits: Limits) -> Result<Value, InputError> {
    if src.origin.is_yaml() {
        let text =
            crate::yaml::to_json_text(&src.text, limits.max_bytes).map_err(InputError::syntax)?;
        json::parse(&text, limits).map_err(|e| {
            InputError::syntax(match e.kind {
                // Offsets into the converted text mean nothing to the user.
                JsonErrorKind::DuplicateKey(k) => {
                    format!("duplicate key `{k}` (yaml keys are compared as strings)")
                }
                JsonErrorKind::TooDeep { max } => format!("nesting deeper than {max} levels"),
                JsonErrorKind::TooLarge { max } => {
                    format!("document is larger than the limit of {max} bytes")
                }
                _ => format!("cannot convert yaml to json: {e}"),
            })
        })
    } else {
        json::parse(&src.text, limits).map_err(|e| {
            let msg = e.to_string();
            if matches!(e.kind, JsonErrorKind::TooLarge { .. }) {
                InputError::syntax(msg)
            } else {
                let (line, col) = line_col(&src.text, e.offset);
                InputError::syntax(format!("{msg} (line {line}, column {col})"))
            }
        })
    }
}

/// 1-based line and column (in characters) of byte `offset`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let bytes = text.as_bytes();
    let head = bytes.get(..offset).unwrap_or(bytes);
    let line = head.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = head
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i.saturating_add(1));
    let col = head
        .get(line_start..)
        .map_or(0, |l| String::from_utf8_lossy(l).chars().count())
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        assert_eq!(line_col("abc", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("ab\n", 99), (2, 1));
        assert_eq!(line_col("é\nxé", 5), (2, 3));
    }

    #[test]
    fn json_errors_say_where() {
        let src = Source {
            origin: Origin::File("p.json".into()),
            text: "{\n  \"a\": 1,\n  \"a\": 2\n}".into(),
        };
        let e = parse(&src, Limits::POLICY).unwrap_err();
        assert_eq!(e.code, "syntax");
        assert!(e.message.contains("duplicate key `a`"), "{e}");
        assert!(e.message.contains("line 3"), "{e}");
    }

    #[test]
    fn yaml_by_extension() {
        let src = Source {
            origin: Origin::File("p.YML".into()),
            text: "a: [1, two]\n".into(),
        };
        assert_eq!(
            parse(&src, Limits::POLICY).unwrap().to_json(),
            r#"{"a":[1,"two"]}"#
        );
    }

    #[test]
    fn limited_reads() {
        assert_eq!(read_limited(&b"abc"[..], 3).unwrap(), "abc");
        assert!(read_limited(&b"abcd"[..], 3)
            .unwrap_err()
            .message
            .contains("larger than the limit"));
        assert!(read_limited(&[b'a', 0xff][..], 3)
            .unwrap_err()
            .message
            .contains("utf-8 at byte 1"));
    }
}
