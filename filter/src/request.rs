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
    // Valid UTF-8 (the usual case) is checked in one fast pass and copied once.
    let text = |b: &[u8]| match core::str::from_utf8(b) {
        Ok(t) => t.to_owned(),
        Err(_) => String::from_utf8_lossy(b).into_owned(),
    };
    // Headers arrive borrowed from the proxy: only what the request keeps is copied.
    stream.each_header(&mut |k, v| match k {
        b":method" => req.method = text(v),
        b":path" => req.path = text(v),
        b":authority" => req.host = text(v),
        b":scheme" => req.scheme = Some(text(v)),
        [b':', ..] => {}
        _ => match core::str::from_utf8(k) {
            // Envoy hands names lower-case already.
            Ok(name) if !name.bytes().any(|b| b.is_ascii_uppercase()) => {
                if needs.wants(name) {
                    req.headers.push((name.to_string(), text(v)));
                }
            }
            _ => {
                let mut name = text(k);
                name.make_ascii_lowercase();
                if needs.wants(&name) {
                    req.headers.push((name, text(v)));
                }
            }
        },
    })?;
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
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

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
