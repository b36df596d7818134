//! Walking a parsed JSON document with the path of every value, so each error can say exactly
//! where it is and what was expected.

use crate::error::{ErrorCode, PolicyError};
use crate::json::{Map, Value};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// Quotes a value for an error message: strings as `text`, other values as compact JSON,
/// both cut to 80 characters.
pub fn quote(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_json(),
    };
    quote_str(&s)
}

/// Quotes user text for an error message, cut to 80 characters.
pub fn quote_str(s: &str) -> String {
    let mut out = String::from("`");
    for (n, c) in s.chars().enumerate() {
        if n == 80 {
            out.push('…');
            break;
        }
        out.push(c);
    }
    out.push('`');
    out
}

/// An object being read at `path`.
#[derive(Debug, Clone)]
pub struct Obj<'a> {
    map: &'a Map,
    path: String,
}

/// The path of `key` under `parent`.
pub fn join(parent: &str, key: &str) -> String {
    if parent == "$" || parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// The path of element `i` under `parent`.
pub fn index(parent: &str, i: usize) -> String {
    if parent == "$" || parent.is_empty() {
        format!("[{i}]")
    } else {
        format!("{parent}[{i}]")
    }
}

/// A type error: expected `what`, found `v`.
pub fn type_error(path: &str, what: &str, v: &Value) -> PolicyError {
    PolicyError::new(
        ErrorCode::Type,
        path,
        format!("expected {what}, found {} {}", v.kind(), quote(v)),
    )
}

impl<'a> Obj<'a> {
    /// Reads `v` as an object at `path`.
    pub fn new(v: &'a Value, path: &str) -> Result<Self, PolicyError> {
        match v {
            Value::Object(map) => Ok(Obj {
                map,
                path: path.to_string(),
            }),
            other => Err(type_error(path, "an object", other)),
        }
    }

    /// This object's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The path of one of this object's fields.
    pub fn at(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// Every member, in document order.
    pub fn entries(&self) -> impl Iterator<Item = (&'a str, &'a Value)> {
        self.map.iter()
    }

    /// How many members.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when there are no members.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The raw value of a field.
    pub fn raw(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    /// A field read by `parse` (given the value and its path), `None` when absent.
    pub fn parse_opt<T, E>(
        &self,
        key: &str,
        parse: impl FnOnce(&'a Value, &str) -> Result<T, E>,
    ) -> Result<Option<T>, E> {
        self.raw(key).map(|v| parse(v, &self.at(key))).transpose()
    }

    /// Fails on any field not in `allowed`, suggesting the closest allowed name.
    pub fn deny_unknown(&self, allowed: &[&str]) -> Result<(), PolicyError> {
        for key in self.map.keys() {
            if !allowed.contains(&key) {
                let hint = closest(key, allowed)
                    .map(|c| format!("; did you mean `{c}`?"))
                    .unwrap_or_default();
                return Err(PolicyError::new(
                    ErrorCode::UnknownField,
                    self.at(key),
                    format!("unknown field {}{hint}", quote_str(key)),
                ));
            }
        }
        Ok(())
    }

    /// An optional string field.
    pub fn str(&self, key: &str) -> Result<Option<&'a str>, PolicyError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(type_error(&self.at(key), "a string", other)),
        }
    }

    /// A required string field.
    pub fn req_str(&self, key: &str) -> Result<&'a str, PolicyError> {
        self.str(key)?.ok_or_else(|| self.missing(key))
    }

    /// The error for a missing required field.
    pub fn missing(&self, key: &str) -> PolicyError {
        PolicyError::new(
            ErrorCode::Missing,
            self.path.clone(),
            format!("missing required field `{key}`"),
        )
    }

    /// An optional boolean field.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, PolicyError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(type_error(&self.at(key), "a boolean", other)),
        }
    }

    /// An optional non-negative integer field, at most `max`.
    pub fn uint(&self, key: &str, max: u64) -> Result<Option<u64>, PolicyError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(v @ Value::Number(n)) => match n.as_i64() {
                Some(i) if i >= 0 && (i as u64) <= max => Ok(Some(i as u64)),
                _ => Err(PolicyError::new(
                    ErrorCode::Invalid,
                    self.at(key),
                    format!(
                        "expected a whole number from 0 to {max}, found {}",
                        quote(v)
                    ),
                )),
            },
            Some(other) => Err(type_error(&self.at(key), "a whole number", other)),
        }
    }

    /// An optional object field.
    pub fn obj(&self, key: &str) -> Result<Option<Obj<'a>>, PolicyError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(v) => Obj::new(v, &self.at(key)).map(Some),
        }
    }

    /// An optional array field (missing reads as empty); yields each element with its path.
    pub fn array(&self, key: &str) -> Result<Vec<(String, &'a Value)>, PolicyError> {
        match self.map.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => {
                let base = self.at(key);
                Ok(items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (index(&base, i), v))
                    .collect())
            }
            Some(other) => Err(type_error(&self.at(key), "an array", other)),
        }
    }

    /// True when the field is present (even if null or empty).
    pub fn has(&self, key: &str) -> bool {
        self.map.get(key).is_some()
    }

    /// An optional array of strings (missing reads as empty). Empty strings are refused.
    pub fn strings(&self, key: &str) -> Result<Vec<String>, PolicyError> {
        let mut out = Vec::new();
        for (path, v) in self.array(key)? {
            match v {
                Value::String(s) if s.is_empty() => {
                    return Err(PolicyError::new(
                        ErrorCode::Invalid,
                        path,
                        "expected a non-empty string, found ``",
                    ))
                }
                Value::String(s) => out.push(s.clone()),
                other => return Err(type_error(&path, "a string", other)),
            }
        }
        Ok(out)
    }
}

/// The allowed name closest to `key` (edit distance ≤ 3, or the same ignoring case).
fn closest<'b>(key: &str, allowed: &[&'b str]) -> Option<&'b str> {
    let mut best: Option<(usize, &str)> = None;
    for cand in allowed {
        if cand.eq_ignore_ascii_case(key) {
            return Some(cand);
        }
        let d = distance(key, cand);
        if d <= 3 && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, cand));
        }
    }
    best.map(|(_, c)| c)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    if a.chars().count() > 64 || b.len() > 64 {
        return usize::MAX;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(usize::MAX - 1) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(usize::MAX - 1) + 1;
            let ins = cur.get(j).copied().unwrap_or(usize::MAX - 1) + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(usize::MAX)
}

#[cfg(test)]
#[path = "read_test.rs"]
mod tests;
