//! Building the core's check request from what the proxy knows.

use crate::host::{Property, Status, Stream};
use policy_core::policy::{HeaderNeeds, PropertyNeeds};
use policy_core::{CheckRequest, Peer};

/// `ip:port` / `[v6]:port` → (ip, port).
pub fn split_socket_address(s: &str) -> (Option<String>, Option<u16>) {
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((ip, port)) = rest.split_once("]:") {
            return (Some(ip.to_string()), port.parse().ok());
        }
        return (Some(rest.trim_end_matches(']').to_string()), None);
    }
    match s.rsplit_once(':') {
        Some((ip, port)) if !ip.contains(':') => (Some(ip.to_string()), port.parse().ok()),
        _ => (Some(s.to_string()), None),
    }
}

/// Reads the current request into a check request, keeping only the headers `needs` names
/// (computed once from the plan at configure time). The whole header map is read: a
/// per-name lookup may return a single value, and a repeated header (two `authorization`
/// headers: two tokens) must be seen whole.
pub fn read(
    stream: &dyn Stream,
    needs: &HeaderNeeds,
    props: PropertyNeeds,
) -> Result<CheckRequest, Status> {
    let mut req = CheckRequest::default();
    read_into(stream, needs, props, &mut req)?;
    Ok(req)
}

/// Copies `b` into `dst`, reusing its buffer. Valid UTF-8 (the usual case) is checked in one
/// fast pass and copied once; anything else is replaced lossily.
fn set_text(dst: &mut String, b: &[u8]) {
    dst.clear();
    match core::str::from_utf8(b) {
        Ok(t) => dst.push_str(t),
        Err(_) => dst.push_str(&String::from_utf8_lossy(b)),
    }
}

/// A worker's request buffers are kept for the next request unless they grew past this
/// (one huge request must not pin its size in every worker).
pub const KEEP_BYTES: usize = 64 * 1024;

/// [`read`] into `req`, which is overwritten entirely: its strings are reused, so a worker
/// that keeps one request for all its streams copies the headers without allocating.
pub fn read_into(
    stream: &dyn Stream,
    needs: &HeaderNeeds,
    props: PropertyNeeds,
    req: &mut CheckRequest,
) -> Result<(), Status> {
    let r = fill(stream, needs, props, req);
    if r.is_err() {
        // Nothing half-read is kept.
        *req = CheckRequest::default();
    }
    r
}

/// The bytes `req`'s buffers hold (their capacity, not their length), the header list's own
/// slots included.
pub fn retained_bytes(req: &CheckRequest) -> usize {
    let opt = |s: &Option<String>| s.as_ref().map_or(0, String::capacity);
    req.method.capacity()
        + req.path.capacity()
        + req.host.capacity()
        + opt(&req.scheme)
        + req.headers.capacity() * core::mem::size_of::<(String, String)>()
        + req
            .headers
            .iter()
            .map(|(k, v)| k.capacity() + v.capacity())
            .sum::<usize>()
}

fn fill(
    stream: &dyn Stream,
    needs: &HeaderNeeds,
    props: PropertyNeeds,
    req: &mut CheckRequest,
) -> Result<(), Status> {
    req.method.clear();
    req.path.clear();
    req.host.clear();
    let mut scheme = false;
    let mut n = 0usize;
    {
        let CheckRequest {
            method,
            path,
            host,
            scheme: scheme_text,
            headers,
            ..
        } = req;
        let mut keep = |name: &[u8], value: &[u8]| {
            match headers.get_mut(n) {
                Some((k, v)) => {
                    set_text(k, name);
                    set_text(v, value);
                }
                None => {
                    let (mut k, mut v) = (String::new(), String::new());
                    set_text(&mut k, name);
                    set_text(&mut v, value);
                    headers.push((k, v));
                }
            }
            n += 1;
        };
        // Headers arrive borrowed from the proxy: only what the request keeps is copied.
        stream.each_header(&mut |k, v| match k {
            b":method" => set_text(method, v),
            b":path" => set_text(path, v),
            b":authority" => set_text(host, v),
            b":scheme" => {
                scheme = true;
                set_text(scheme_text.get_or_insert_with(String::new), v);
            }
            [b':', ..] => {}
            // Envoy hands names lower-case already: the bytes are looked up as they are, and
            // only a wanted name is copied (`set_text` makes any invalid UTF-8 lossy, as
            // before; a wanted name is ASCII, so it never is).
            _ if !k.iter().any(u8::is_ascii_uppercase) => {
                if needs.wants_bytes(k) {
                    keep(k, v);
                }
            }
            _ => {
                let mut name = String::from_utf8_lossy(k).into_owned();
                name.make_ascii_lowercase();
                if needs.wants(&name) {
                    keep(name.as_bytes(), v);
                }
            }
        })?;
    }
    req.headers.truncate(n);
    if !scheme {
        req.scheme = None;
    }
    req.source = Peer::default();
    req.destination = Peer::default();
    req.sni = None;
    req.time = None;
    // Only the properties the plan reads (each is a host call).
    if props.source {
        if let Some(addr) = stream.property_text(Property::SourceAddress)? {
            let (ip, port) = split_socket_address(&addr);
            req.source = Peer {
                address: ip,
                port,
                principal: None,
            };
        }
    }
    if props.peer {
        req.source.principal = stream.property_text(Property::PeerUriSan)?;
    }
    if props.destination {
        if let Some(addr) = stream.property_text(Property::DestinationAddress)? {
            let (ip, port) = split_socket_address(&addr);
            req.destination.address = ip;
            req.destination.port = port;
        }
        if let Some(p) = stream.property_int(Property::DestinationPort)? {
            req.destination.port = u16::try_from(p).ok();
        }
    }
    if props.sni {
        req.sni = stream.property_text(Property::RequestedServerName)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Many empty headers hold memory too: the list's slots count.
    #[test]
    fn retained_bytes_count_the_header_list() {
        let mut req = CheckRequest::default();
        for _ in 0..2_000 {
            req.headers.push((String::new(), String::new()));
        }
        assert!(
            retained_bytes(&req) > KEEP_BYTES,
            "{}",
            retained_bytes(&req)
        );
        assert_eq!(retained_bytes(&CheckRequest::default()), 0);
    }

    #[test]
    fn socket_addresses() {
        assert_eq!(
            split_socket_address("10.0.0.1:8080"),
            (Some("10.0.0.1".into()), Some(8080))
        );
        assert_eq!(
            split_socket_address("[::1]:443"),
            (Some("::1".into()), Some(443))
        );
        assert_eq!(split_socket_address("::1"), (Some("::1".into()), None));
    }
}
