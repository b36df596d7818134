//! The check request: what an adapter knows about one HTTP request (design §3).
//!
//! ```json
//! {"method":"GET","path":"/a?b=1","host":"api.example.com","scheme":"https",
//!  "headers":{"authorization":"Bearer …","x-tags":["a","b"]},
//!  "source":{"address":"10.0.0.1","port":51000,"principal":"spiffe://cluster.local/ns/a/sa/b"},
//!  "destination":{"address":"10.0.0.2","port":8080},"sni":"api.example.com","time":1700000000}
//! ```

use crate::error::{ErrorCode, PolicyError};
use crate::json::{self, Limits, Value};
use crate::policy::read::{quote, type_error, Obj};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// One side of the connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peer {
    /// IP address (v4 or v6), as text.
    pub address: Option<String>,
    /// TCP port.
    pub port: Option<u16>,
    /// The peer's authenticated identity (mTLS URI SAN), e.g.
    /// `spiffe://cluster.local/ns/default/sa/frontend`.
    pub principal: Option<String>,
}

/// One HTTP request as the adapter saw it, before canonicalisation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckRequest {
    /// The method as sent (validated and matched case-sensitively, like HTTP).
    pub method: String,
    /// The raw request target (`:path`), query and all.
    pub path: String,
    /// The raw `:authority` / `Host`, port and all.
    pub host: String,
    /// `http` or `https`, when known.
    pub scheme: Option<String>,
    /// Headers: lower-case names, one entry per value, in the order received.
    pub headers: Vec<(String, String)>,
    /// The downstream peer.
    pub source: Peer,
    /// The local side.
    pub destination: Peer,
    /// TLS SNI, when TLS was used.
    pub sni: Option<String>,
    /// Unix time in seconds, when the caller fixes it (tests); adapters pass their clock.
    pub time: Option<i64>,
}

impl CheckRequest {
    /// A request with a method, path and host, and nothing else.
    pub fn new(method: &str, path: &str, host: &str) -> Self {
        CheckRequest {
            method: method.to_string(),
            path: path.to_string(),
            host: host.to_string(),
            ..CheckRequest::default()
        }
    }

    /// Adds one header value (the name is lower-cased).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    /// Every value of header `name` (lower-case), in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Parses the JSON form (design §3).
    pub fn from_json(text: &str) -> Result<Self, PolicyError> {
        let v = json::parse(text, Limits::REQUEST)
            .map_err(|e| PolicyError::new(ErrorCode::Syntax, "$", e.to_string()))?;
        Self::from_value(&v)
    }

    /// Reads the JSON form from a parsed value.
    pub fn from_value(v: &Value) -> Result<Self, PolicyError> {
        let o = Obj::new(v, "$")?;
        o.deny_unknown(&[
            "method",
            "path",
            "host",
            "scheme",
            "headers",
            "source",
            "destination",
            "sni",
            "time",
        ])?;
        let mut req = CheckRequest {
            method: o.str("method")?.unwrap_or("GET").to_string(),
            path: o.str("path")?.unwrap_or("/").to_string(),
            host: o.str("host")?.unwrap_or("").to_string(),
            scheme: o.str("scheme")?.map(str::to_string),
            sni: o.str("sni")?.map(str::to_string),
            ..CheckRequest::default()
        };
        if let Some(h) = o.obj("headers")? {
            for (name, value) in o
                .raw("headers")
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|m| m.iter())
            {
                let path = h.at(name);
                if name.is_empty() || !name.bytes().all(is_tchar) {
                    return Err(PolicyError::new(
                        ErrorCode::Invalid,
                        path,
                        format!(
                            "invalid header name {}",
                            crate::policy::read::quote_str(name)
                        ),
                    ));
                }
                let lname = name.to_ascii_lowercase();
                match value {
                    Value::String(s) => req.headers.push((lname, s.clone())),
                    Value::Array(items) => {
                        for (i, item) in items.iter().enumerate() {
                            match item {
                                Value::String(s) => req.headers.push((lname.clone(), s.clone())),
                                other => {
                                    return Err(type_error(
                                        &crate::policy::read::index(&path, i),
                                        "a string",
                                        other,
                                    ))
                                }
                            }
                        }
                    }
                    other => {
                        return Err(type_error(&path, "a string or an array of strings", other))
                    }
                }
            }
        }
        if let Some(s) = o.obj("source")? {
            req.source = read_peer(&s, true)?;
        }
        if let Some(d) = o.obj("destination")? {
            req.destination = read_peer(&d, false)?;
        }
        if let Some(t) = o.raw("time") {
            let n = t
                .as_number()
                .ok_or_else(|| type_error(&o.at("time"), "a number (unix seconds)", t))?;
            let secs = n.as_f64();
            if !(0.0..=1e13).contains(&secs) {
                return Err(PolicyError::new(
                    ErrorCode::Invalid,
                    o.at("time"),
                    format!("expected unix seconds, found {}", quote(t)),
                ));
            }
            req.time = Some(secs as i64);
        }
        Ok(req)
    }

    /// The JSON form (the inverse of [`CheckRequest::from_json`]).
    pub fn to_value(&self) -> Value {
        let mut m = json::Map::new();
        m.insert("method", Value::from(self.method.as_str()));
        m.insert("path", Value::from(self.path.as_str()));
        m.insert("host", Value::from(self.host.as_str()));
        if let Some(s) = &self.scheme {
            m.insert("scheme", Value::from(s.as_str()));
        }
        let mut headers = json::Map::new();
        for (k, v) in &self.headers {
            match headers.get(k).cloned() {
                None => headers.insert(k.as_str(), Value::from(v.as_str())),
                Some(Value::Array(mut items)) => {
                    items.push(Value::from(v.as_str()));
                    headers.insert(k.as_str(), Value::Array(items));
                }
                Some(prev) => headers.insert(
                    k.as_str(),
                    Value::Array(alloc::vec![prev, Value::from(v.as_str())]),
                ),
            }
        }
        m.insert("headers", Value::Object(headers));
        m.insert("source", peer_value(&self.source));
        m.insert("destination", peer_value(&self.destination));
        if let Some(s) = &self.sni {
            m.insert("sni", Value::from(s.as_str()));
        }
        if let Some(t) = self.time {
            m.insert("time", Value::from(t));
        }
        Value::Object(m)
    }
}

fn peer_value(p: &Peer) -> Value {
    let mut m = json::Map::new();
    if let Some(a) = &p.address {
        m.insert("address", Value::from(a.as_str()));
    }
    if let Some(port) = p.port {
        m.insert("port", Value::from(port));
    }
    if let Some(pr) = &p.principal {
        m.insert("principal", Value::from(pr.as_str()));
    }
    Value::Object(m)
}

fn read_peer(o: &Obj<'_>, with_principal: bool) -> Result<Peer, PolicyError> {
    if with_principal {
        o.deny_unknown(&["address", "port", "principal"])?;
    } else {
        o.deny_unknown(&["address", "port"])?;
    }
    let address = o.str("address")?.map(str::to_string);
    if let Some(a) = &address {
        if crate::decide::cidr::parse_ip(a).is_none() {
            return Err(PolicyError::new(
                ErrorCode::Invalid,
                o.at("address"),
                format!("expected an IPv4 or IPv6 address, found `{a}`"),
            ));
        }
    }
    let port = o.uint("port", 65535)?.map(|p| p as u16);
    let principal = o
        .str("principal")?
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    Ok(Peer {
        address,
        port,
        principal,
    })
}

/// RFC 9110 `tchar`: the characters of a header name or a method token.
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
#[path = "request_test.rs"]
mod tests;
