//! Request canonicalisation for matching: the path, the method and the host (design §2.1).
//!
//! A policy decision is only as good as the agreement between what the policy matched and
//! what the backend serves. Every bypass in this area (CVE-2019-9901 `/info/../private`,
//! CVE-2021-31920 escaped slashes, Tomcat/Jetty `/..;/admin`, `//admin`) is a request that
//! the enforcement point and the backend read differently. So each request is reduced once to
//! a canonical form, and anything that cannot be reduced without guessing is refused with a
//! precise, stable [`PathError::code`] — the caller turns that into a denial (HTTP 400).
//!
//! # Paths
//!
//! [`canonicalize_path`] takes the raw request target (`:path`) and returns the path to match
//! plus the raw query. The query (after `?`) and fragment (after `#`) never take part in path
//! matching; the query is returned untouched for the token extractor. Every mode:
//!
//! * accepts only origin-form targets: the path starts with `/` (no `*`, no
//!   `http://host/x`, no empty target);
//! * refuses raw bytes no HTTP client sends in a request target: control characters, space,
//!   DEL and non-ASCII (send UTF-8 percent-encoded: `/caf%C3%A9`), anywhere in the target;
//! * refuses malformed escapes (`%`, `%4`, `%zz`) and `%00`;
//! * decodes escapes of unreserved characters (`ALPHA DIGIT - . _ ~`) exactly once, so
//!   `/%61dmin` is `/admin` but `/%2561` stays `/%2561`; every other escape is kept with its
//!   hex digits upper-cased (RFC 3986 §6.2.2.1–2);
//! * then resolves dot segments (RFC 3986 §5.2.4), so `/%2e%2e/x` and `/a/%2E./x` resolve;
//! * keeps case (`/ADMIN` stays; paths are case-sensitive) and a trailing slash (`/admin/`
//!   stays; the matcher decides what it means);
//! * is linear in the input, allocates at most the input's length for the path and the
//!   query, and refuses targets longer than [`MAX_PATH_LEN`] bytes.
//!
//! The modes ([`PathNormalization`], policy field `pathNormalization`) use Istio's names:
//!
//! | input | `STRICT` (default) | `BASE` | `MERGE_SLASHES` | `DECODE_AND_MERGE_SLASHES` |
//! |---|---|---|---|---|
//! | `//admin` | `/admin` | `//admin` | `/admin` | `/admin` |
//! | `/a%2Fb` | error `encoded_slash` | `/a%2Fb` | `/a%2Fb` | `/a/b` |
//! | `/a%5Cb` | error `encoded_backslash` | `/a%5Cb` | `/a%5Cb` | `/a/b` |
//! | `/a\b` | error `backslash` | error `backslash` | error `backslash` | `/a/b` |
//! | `/../x` | error `above_root` | `/x` | `/x` | `/x` |
//! | `/a;x` | error `path_parameter` | `/a;x` | `/a;x` | `/a;x` |
//! | `/..;/x` | error `path_parameter` | error `path_parameter` | error `path_parameter` | error `path_parameter` |
//! | `/a{b}` | error `invalid_character` | `/a{b}` | `/a{b}` | `/a{b}` |
//!
//! Differences from Istio, all towards refusing: Istio's `BASE` turns a raw `\` into `/`;
//! here only `DECODE_AND_MERGE_SLASHES` does, the others refuse it (a backslash is not part
//! of any URI, and guessing which way the backend reads it is what bypasses are made of).
//! Istio's `NONE` is not offered at all: matching raw paths is CVE-2021-31920.
//!
//! ## `STRICT`
//!
//! The default, and stricter than Envoy's `normalize_path` + `merge_slashes` +
//! `path_with_escaped_slashes_action: REJECT_REQUEST`. On top of `MERGE_SLASHES` it refuses:
//!
//! * `%2F` and `%5C` (`encoded_slash`, `encoded_backslash`): whether a backend splits on
//!   them is exactly the ambiguity of CVE-2021-31920;
//! * **every path parameter**, raw `;` or `%3B` (`path_parameter`). Servlet containers and
//!   Spring strip `;…` from each segment before routing, so `/admin;x/` is `/admin/` to
//!   Tomcat but not to a string matcher, and `/..;/admin` is `/admin` to Tomcat and Jetty
//!   (Istio issue 27409). Refusing only `..;`/`.;` segments would still let `/admin;x`
//!   dodge a DENY on `/admin`; stripping parameters would make `/public;x` match as `/public`
//!   although a non-Java backend serves a different resource. Refusing `;` is the only
//!   choice that is right for both kinds of backend; applications that rely on `;jsessionid`
//!   URL rewriting or matrix parameters choose another mode;
//! * a `..` that climbs above the root (`above_root`). RFC 3986 and Envoy clamp it (`/../x`
//!   becomes `/x`), which is only safe if the clamped path is what the backend receives. No
//!   conforming client sends such a path (clients resolve dot segments before sending), so
//!   refusing costs nothing and keeps a naive backend that is given the raw target from
//!   walking out of its root. The other modes clamp, like Istio;
//! * the raw characters a WHATWG URL client always percent-encodes in a path
//!   (`"` `<` `>` `` ` `` `{` `}`), as `invalid_character`. Characters browsers do send raw
//!   (`|` `^` `[` `]`) are accepted.
//!
//! In every mode a segment that is a dot segment with parameters (`.;…`, `..;…`, `.%3B…`,
//! `..%3B…`, after unreserved decoding) is refused as `path_parameter`: it has no
//! legitimate use and is the Tomcat/Jetty traversal (Jetty issue 4275).
//!
//! # Methods
//!
//! [`canonicalize_method`] accepts an RFC 9110 token with no lower-case letters (`GET`,
//! `PATCH`, `PURGE`, `M-SEARCH`). Methods are case-sensitive: `get` is refused, never
//! upper-cased, because a backend may treat it differently from `GET` (Istio refuses it too).
//!
//! # Hosts
//!
//! [`canonicalize_host`] takes the raw `:authority`/`Host` and returns the host to match:
//! lower-cased, port removed (`Api.Example.com:8443` → `api.example.com`), one trailing dot
//! removed. An IPv6 literal keeps its brackets and is rewritten in RFC 5952 form
//! (`[0:0::1]:80` → `[::1]`): the bracketed form is how a host is written in a URI and a
//! `Host` header, and it cannot be confused with a port. A name is letters, digits, `-`,
//! `_` and dots, with no empty label (international names in their `xn--` form); a name whose
//! last label is numeric must be a dotted-quad IPv4 address in canonical form, so `0x7f.1`
//! and `010.0.0.1` cannot stand in for `127.0.0.1`/`10.0.0.1`. Userinfo (`a@b`), zone ids,
//! percent-escapes and ports above 65535 are refused. An empty host stays empty; an empty
//! port (`example.com:`) is removed (RFC 3986 §6.2.3).

use crate::extract::request::is_tchar;
use alloc::borrow::Cow;
use alloc::format;
use alloc::string::String;
use core::fmt;
use core::net::Ipv6Addr;

/// The longest request target (path, query and fragment) accepted, in bytes.
pub const MAX_PATH_LEN: usize = 8192;

/// The longest method accepted, in bytes.
pub const MAX_METHOD_LEN: usize = 32;

/// The longest host name accepted (without port or trailing dot), in bytes (RFC 1035).
pub const MAX_HOST_LEN: usize = 253;

/// How strictly paths are normalised (policy field `pathNormalization`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PathNormalization {
    /// `STRICT`: `MERGE_SLASHES`, and refuse `%2F`, `%5C`, path parameters, `..` above the
    /// root and raw characters clients always encode. The default.
    #[default]
    Strict,
    /// `BASE`: RFC 3986 normalisation: decode unreserved escapes, resolve dot segments;
    /// `%2F`/`%5C` and `//` are kept.
    Base,
    /// `MERGE_SLASHES`: `BASE`, and merge consecutive slashes.
    MergeSlashes,
    /// `DECODE_AND_MERGE_SLASHES`: `MERGE_SLASHES`, and first read `%2F`, `%5C` and `\` as
    /// `/`.
    DecodeAndMergeSlashes,
}

impl PathNormalization {
    /// Parses the policy spelling: `STRICT`, `BASE`, `MERGE_SLASHES` or
    /// `DECODE_AND_MERGE_SLASHES` (upper case, like Istio's enum). Istio's `NONE` is not
    /// accepted.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "STRICT" => Some(PathNormalization::Strict),
            "BASE" => Some(PathNormalization::Base),
            "MERGE_SLASHES" => Some(PathNormalization::MergeSlashes),
            "DECODE_AND_MERGE_SLASHES" => Some(PathNormalization::DecodeAndMergeSlashes),
            _ => None,
        }
    }

    /// The policy spelling (the inverse of [`PathNormalization::parse`]).
    pub fn as_str(self) -> &'static str {
        match self {
            PathNormalization::Strict => "STRICT",
            PathNormalization::Base => "BASE",
            PathNormalization::MergeSlashes => "MERGE_SLASHES",
            PathNormalization::DecodeAndMergeSlashes => "DECODE_AND_MERGE_SLASHES",
        }
    }

    fn merges_slashes(self) -> bool {
        !matches!(self, PathNormalization::Base)
    }
}

/// Why a path, method or host was refused. Every variant is a reason the request is denied
/// (HTTP 400); [`PathError::code`] is the stable machine form.
///
/// `input` fields hold the offending input cut to 80 characters (`…` marks a cut); `at` is a
/// byte offset into the raw input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathError {
    /// The request target is empty.
    Empty,
    /// The request target does not start with `/` (`*`, `http://host/x`, `x/y`).
    NotAbsolute {
        /// The target.
        input: String,
    },
    /// The request target is longer than [`MAX_PATH_LEN`].
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A control character, space, DEL or non-ASCII character, or (in `STRICT`) a character
    /// clients always percent-encode.
    InvalidCharacter {
        /// The target.
        input: String,
        /// The character.
        ch: char,
        /// Where.
        at: usize,
    },
    /// A raw `\`.
    Backslash {
        /// The target.
        input: String,
        /// Where.
        at: usize,
    },
    /// A `%` not followed by two hex digits.
    BadEscape {
        /// The target.
        input: String,
        /// Where.
        at: usize,
    },
    /// `%2F` (`STRICT`).
    EncodedSlash {
        /// The target.
        input: String,
        /// Where.
        at: usize,
    },
    /// `%5C` (`STRICT`).
    EncodedBackslash {
        /// The target.
        input: String,
        /// Where.
        at: usize,
    },
    /// `%00`.
    EncodedNul {
        /// The target.
        input: String,
        /// Where.
        at: usize,
    },
    /// A path parameter: any `;` or `%3B` (`STRICT`), or a dot segment with parameters
    /// (`..;x`, every mode).
    PathParameter {
        /// The target.
        input: String,
        /// The segment holding it.
        segment: String,
    },
    /// A `..` segment that climbs above the root (`STRICT`).
    AboveRoot {
        /// The target.
        input: String,
    },
    /// The method is not an upper-case RFC 9110 token.
    BadMethod {
        /// The method.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The host is not a valid host name, IPv4 address or bracketed IPv6 address with an
    /// optional port.
    BadHost {
        /// The host.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl PathError {
    /// The stable machine code, e.g. `encoded_slash`.
    pub fn code(&self) -> &'static str {
        match self {
            PathError::Empty => "empty",
            PathError::NotAbsolute { .. } => "not_absolute",
            PathError::TooLong { .. } => "too_long",
            PathError::InvalidCharacter { .. } => "invalid_character",
            PathError::Backslash { .. } => "backslash",
            PathError::BadEscape { .. } => "bad_escape",
            PathError::EncodedSlash { .. } => "encoded_slash",
            PathError::EncodedBackslash { .. } => "encoded_backslash",
            PathError::EncodedNul { .. } => "encoded_nul",
            PathError::PathParameter { .. } => "path_parameter",
            PathError::AboveRoot { .. } => "above_root",
            PathError::BadMethod { .. } => "bad_method",
            PathError::BadHost { .. } => "bad_host",
        }
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::Empty => write!(f, "empty request path: expected a path starting with `/`"),
            PathError::NotAbsolute { input } => {
                write!(f, "expected a path starting with `/`, found {}", Q(input))
            }
            PathError::TooLong { len, max } => {
                write!(f, "request path is {len} bytes long, more than the limit of {max}")
            }
            PathError::InvalidCharacter { input, ch, at } => write!(
                f,
                "character {} (u+{:04x}) is not allowed in a request path, at byte {at} of {}",
                Q(ch.encode_utf8(&mut [0; 4])),
                u32::from(*ch),
                Q(input)
            ),
            PathError::Backslash { input, at } => write!(
                f,
                "backslash at byte {at} of request path {}: send `/` or `%5C`",
                Q(input)
            ),
            PathError::BadEscape { input, at } => write!(
                f,
                "malformed percent-escape at byte {at} of request path {}: `%` must be followed by two hex digits",
                Q(input)
            ),
            PathError::EncodedSlash { input, at } => write!(
                f,
                "encoded slash (`%2F`) at byte {at} of request path {}",
                Q(input)
            ),
            PathError::EncodedBackslash { input, at } => write!(
                f,
                "encoded backslash (`%5C`) at byte {at} of request path {}",
                Q(input)
            ),
            PathError::EncodedNul { input, at } => write!(
                f,
                "encoded nul (`%00`) at byte {at} of request path {}",
                Q(input)
            ),
            PathError::PathParameter { input, segment } => write!(
                f,
                "path parameter (`;`) in segment {} of request path {}",
                Q(segment),
                Q(input)
            ),
            PathError::AboveRoot { input } => write!(
                f,
                "dot segment (`..`) climbs above the root in request path {}",
                Q(input)
            ),
            PathError::BadMethod { input, reason } => {
                write!(f, "invalid method {}: {reason}", Q(input))
            }
            PathError::BadHost { input, reason } => {
                write!(f, "invalid host {}: {reason}", Q(input))
            }
        }
    }
}

#[cfg(feature = "std")]
extern crate std;
#[cfg(feature = "std")]
impl std::error::Error for PathError {}

/// Quotes user input in backticks for a message, with control characters escaped so that
/// input cannot forge log lines.
struct Q<'a>(&'a str);

impl fmt::Display for Q<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("`")?;
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        f.write_str("`")
    }
}

/// The first 80 characters of `s`, with `…` when cut.
fn cut(s: &str) -> String {
    const MAX: usize = 80;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => {
            let mut out = String::from(s.get(..i).unwrap_or(""));
            out.push('…');
            out
        }
        None => String::from(s),
    }
}

/// A request path reduced for matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalPath {
    /// The normalised path: starts with `/`, no query, no fragment.
    pub path: String,
    /// The raw text after `?` (up to any `#`), when there is a `?`; not decoded.
    pub query: Option<String>,
}

/// Canonicalises a raw request target (`:path`) for matching; see the module docs.
pub fn canonicalize_path(raw: &str, mode: PathNormalization) -> Result<CanonicalPath, PathError> {
    if raw.len() > MAX_PATH_LEN {
        return Err(PathError::TooLong {
            len: raw.len(),
            max: MAX_PATH_LEN,
        });
    }
    match raw.as_bytes().first() {
        None => return Err(PathError::Empty),
        Some(b'/') => {}
        Some(_) => return Err(PathError::NotAbsolute { input: cut(raw) }),
    }
    let path_end = raw.find(['?', '#']).unwrap_or(raw.len());
    let (path, rest) = raw.split_at_checked(path_end).unwrap_or((raw, ""));
    let path = normalize(raw, path, mode)?;
    // Query and fragment: not matched, but still no raw bytes a client never sends.
    for (i, b) in rest.bytes().enumerate() {
        if is_never_raw(b) {
            return Err(invalid_character(raw, path_end.saturating_add(i)));
        }
    }
    let query = rest.strip_prefix('?').map(|q| {
        let end = q.find('#').unwrap_or(q.len());
        String::from(q.get(..end).unwrap_or(q))
    });
    Ok(CanonicalPath { path, query })
}

/// Bytes refused raw anywhere in a request target, in every mode.
fn is_never_raw(b: u8) -> bool {
    b <= b' ' || b >= 0x7f
}

/// Bytes a WHATWG URL client always percent-encodes in a path; refused raw in `STRICT`.
fn is_always_encoded(b: u8) -> bool {
    matches!(b, b'"' | b'<' | b'>' | b'`' | b'{' | b'}')
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn invalid_character(raw: &str, at: usize) -> PathError {
    let ch = raw
        .get(at..)
        .and_then(|s| s.chars().next())
        .unwrap_or(char::REPLACEMENT_CHARACTER);
    PathError::InvalidCharacter {
        input: cut(raw),
        ch,
        at,
    }
}

/// The raw segment of `path` that holds byte `at`.
fn segment_at(path: &str, at: usize) -> String {
    let b = path.as_bytes();
    let start = b
        .get(..at)
        .and_then(|s| s.iter().rposition(|&c| c == b'/'))
        .map_or(0, |p| p.saturating_add(1));
    let end = b
        .get(at..)
        .and_then(|s| s.iter().position(|&c| c == b'/'))
        .map_or(b.len(), |p| p.saturating_add(at));
    cut(path.get(start..end).unwrap_or(""))
}

/// One pass over `path` (which starts with `/` and holds no `?` or `#`): decode, check, and
/// resolve each segment as it ends. Output never grows beyond the input.
fn normalize(raw: &str, path: &str, mode: PathNormalization) -> Result<String, PathError> {
    let strict = mode == PathNormalization::Strict;
    let decode_slashes = mode == PathNormalization::DecodeAndMergeSlashes;
    let b = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    out.push('/');
    let mut seg_start = out.len();
    let mut i = 1;
    loop {
        let Some(&c) = b.get(i) else {
            end_segment(&mut out, seg_start, true, mode, raw)?;
            return Ok(out);
        };
        let mut separator = c == b'/';
        match c {
            b'/' => {}
            b'\\' if decode_slashes => separator = true,
            b'\\' => {
                return Err(PathError::Backslash {
                    input: cut(raw),
                    at: i,
                })
            }
            b'%' => {
                let h = b.get(i.saturating_add(1)).copied().unwrap_or(0);
                let l = b.get(i.saturating_add(2)).copied().unwrap_or(0);
                let (Some(hi), Some(lo)) = (hex_value(h), hex_value(l)) else {
                    return Err(PathError::BadEscape {
                        input: cut(raw),
                        at: i,
                    });
                };
                let v = hi << 4 | lo;
                let at = i;
                i = i.saturating_add(2);
                match v {
                    0 => {
                        return Err(PathError::EncodedNul {
                            input: cut(raw),
                            at,
                        })
                    }
                    b'/' | b'\\' if decode_slashes => separator = true,
                    b'/' if strict => {
                        return Err(PathError::EncodedSlash {
                            input: cut(raw),
                            at,
                        })
                    }
                    b'\\' if strict => {
                        return Err(PathError::EncodedBackslash {
                            input: cut(raw),
                            at,
                        })
                    }
                    b';' if strict => {
                        return Err(PathError::PathParameter {
                            input: cut(raw),
                            segment: segment_at(path, at),
                        })
                    }
                    v if is_unreserved(v) => out.push(char::from(v)),
                    _ => {
                        out.push('%');
                        out.push(char::from(h.to_ascii_uppercase()));
                        out.push(char::from(l.to_ascii_uppercase()));
                    }
                }
            }
            b';' if strict => {
                return Err(PathError::PathParameter {
                    input: cut(raw),
                    segment: segment_at(path, i),
                })
            }
            c if is_never_raw(c) || (strict && is_always_encoded(c)) => {
                return Err(invalid_character(raw, i));
            }
            c => out.push(char::from(c)),
        }
        if separator {
            end_segment(&mut out, seg_start, false, mode, raw)?;
            out.push('/');
            seg_start = out.len();
        }
        i = i.saturating_add(1);
    }
}

/// Finishes the segment `out[seg_start..]` (just after its `/`): refuses dot segments with
/// parameters, drops `.`, pops for `..`, merges empty segments. When `last`, a dot segment
/// leaves a trailing `/`, as in RFC 3986 §5.2.4.
fn end_segment(
    out: &mut String,
    seg_start: usize,
    last: bool,
    mode: PathNormalization,
    raw: &str,
) -> Result<(), PathError> {
    let seg = out.get(seg_start..).unwrap_or("");
    let slash = seg_start.saturating_sub(1);
    match seg {
        "" if !last && mode.merges_slashes() => out.truncate(slash),
        "" => {}
        "." => out.truncate(if last { seg_start } else { slash }),
        ".." => {
            out.truncate(slash);
            match out.rfind('/') {
                Some(p) => out.truncate(p),
                None if mode == PathNormalization::Strict => {
                    return Err(PathError::AboveRoot { input: cut(raw) })
                }
                None => {} // clamp at the root, like RFC 3986 and Envoy
            }
            if last {
                out.push('/');
            }
        }
        s if [".;", "..;", ".%3B", "..%3B"]
            .iter()
            .any(|p| s.starts_with(p)) =>
        {
            return Err(PathError::PathParameter {
                input: cut(raw),
                segment: cut(s),
            })
        }
        _ => {}
    }
    Ok(())
}

/// Checks a method: a non-empty RFC 9110 token with no lower-case letters, at most
/// [`MAX_METHOD_LEN`] bytes. Returned as given; never case-folded.
pub fn canonicalize_method(raw: &str) -> Result<&str, PathError> {
    let bad = |reason| PathError::BadMethod {
        input: cut(raw),
        reason,
    };
    if raw.is_empty() {
        return Err(bad("the method is empty"));
    }
    if raw.len() > MAX_METHOD_LEN {
        return Err(bad("longer than 32 bytes"));
    }
    if raw.bytes().any(|b| !is_tchar(b)) {
        return Err(bad(
            "not a token (letters, digits and ``!#$%&'*+-.^_`|~`` only)",
        ));
    }
    if raw.bytes().any(|b| b.is_ascii_lowercase()) {
        return Err(bad(
            "methods are case-sensitive and must be upper case, e.g. `GET`",
        ));
    }
    Ok(raw)
}

/// Canonicalises a raw `:authority`/`Host` for matching: lower case, no port, no trailing
/// dot, IPv6 in brackets in RFC 5952 form; see the module docs. An empty host gives `""`.
/// (It runs on every request: the name is scanned by bytes, without string searchers; the
/// test `hosts_match_the_reference` holds it to the first version, kept in the tests.)
pub fn canonicalize_host(raw: &str) -> Result<String, PathError> {
    canonical_host(raw).map(Cow::into_owned)
}

/// [`canonicalize_host`], borrowing from `raw` when the canonical host is a part of it (no
/// upper case, no IPv6): no allocation for the usual `Host`.
pub fn canonical_host(raw: &str) -> Result<Cow<'_, str>, PathError> {
    let bad = |reason| PathError::BadHost {
        input: cut(raw),
        reason,
    };
    if raw.is_empty() {
        return Ok(Cow::Borrowed(""));
    }
    if raw.as_bytes().contains(&b'@') {
        return Err(bad("userinfo (`@`) is not allowed"));
    }
    if let Some(after) = raw.strip_prefix('[') {
        let Some((inner, rest)) = after.split_once(']') else {
            return Err(bad("unclosed `[`"));
        };
        if !rest.is_empty() {
            let Some(port) = rest.strip_prefix(':') else {
                return Err(bad("unexpected text after `]`"));
            };
            check_port(port, raw)?;
        }
        if inner.contains('%') {
            return Err(bad("ipv6 zone ids are not allowed"));
        }
        let ip: Ipv6Addr = inner
            .parse()
            .map_err(|_| bad("not an ipv6 address between `[` and `]`"))?;
        return Ok(Cow::Owned(format!("[{ip}]")));
    }
    // Name and port split at the first `:` (a second one fails the port check).
    let name = match raw.bytes().position(|b| b == b':') {
        Some(i) => {
            check_port(raw.get(i + 1..).unwrap_or(""), raw)?;
            raw.get(..i).unwrap_or("")
        }
        None => raw,
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Err(bad("empty host name"));
    }
    if name.len() > MAX_HOST_LEN {
        return Err(bad("longer than 253 bytes"));
    }
    if let Some(b) = name
        .bytes()
        .find(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
    {
        return Err(if b == b':' {
            bad("ipv6 addresses must be in brackets, e.g. `[::1]:8080`")
        } else if b >= 0x80 {
            bad("non-ascii host name: send its `xn--` form")
        } else {
            bad("only letters, digits, `-`, `_` and `.` are allowed in a host name")
        });
    }
    // Labels, in order (the first bad one names the error), and where the last one starts.
    let mut start = 0;
    for (i, b) in name.bytes().chain(core::iter::once(b'.')).enumerate() {
        if b != b'.' {
            continue;
        }
        match i - start {
            0 => return Err(bad("empty label")),
            64.. => return Err(bad("label longer than 63 bytes")),
            _ => {}
        }
        if i < name.len() {
            start = i + 1;
        }
    }
    let last = name.get(start..).unwrap_or("");
    let numeric = last.bytes().all(|b| b.is_ascii_digit())
        || last.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("0x"));
    // A dotted quad has no letters: case does not matter to the check.
    if numeric && !is_dotted_quad(name) {
        return Err(bad("a numeric host must be a dotted-quad ipv4 address"));
    }
    Ok(if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    })
}

/// Whether `s` is an IPv4 address in its canonical text: four decimal octets of at most 255,
/// without leading zeros (what `Ipv4Addr` parses and prints back unchanged; the test
/// `dotted_quads_match_std` holds it to that).
fn is_dotted_quad(s: &str) -> bool {
    let mut parts = 0;
    for b in s.as_bytes().split(|&c| c == b'.') {
        parts += 1;
        let ok = match b {
            [d] => d.is_ascii_digit(),
            [b'1'..=b'9', d] => d.is_ascii_digit(),
            [b'1', d, e] => d.is_ascii_digit() && e.is_ascii_digit(),
            [b'2', b'0'..=b'4', e] => e.is_ascii_digit(),
            [b'2', b'5', b'0'..=b'5'] => true,
            _ => false,
        };
        if !ok || parts > 4 {
            return false;
        }
    }
    parts == 4
}

/// A port: up to 5 digits, at most 65535; empty is allowed (RFC 3986 §6.2.3).
fn check_port(port: &str, raw: &str) -> Result<(), PathError> {
    let in_range = port.len() <= 5
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u32>().map_or(port.is_empty(), |p| p <= 65535);
    if in_range {
        Ok(())
    } else {
        Err(PathError::BadHost {
            input: cut(raw),
            reason: "the port must be a number from 0 to 65535",
        })
    }
}

#[cfg(test)]
#[path = "path_test.rs"]
mod tests;
