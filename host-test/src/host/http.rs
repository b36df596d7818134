//! A minimal HTTP/1.1 client for callouts routed to a real server: loopback only, one request
//! per connection (`Connection: close`), bounded response size, the callout's timeout.
//!
//! Failures are answered like Envoy answers them: a refused connection (or a non-loopback
//! address) is a `503`; a timeout is delivered as no headers and no body.

use super::{Callout, HttpResponse};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Largest response read.
const MAX_RESPONSE: u64 = 16 << 20;

fn unavailable(why: &str) -> HttpResponse {
    HttpResponse::new(503, format!("upstream connect error: {why}"))
}

/// Makes the callout's request to `addr` and returns the response.
pub(crate) fn call(addr: SocketAddr, c: &Callout) -> HttpResponse {
    if !addr.ip().is_loopback() {
        return unavailable("only loopback addresses are allowed");
    }
    let timeout = Duration::from_millis(u64::from(if c.timeout_ms == 0 {
        5_000
    } else {
        c.timeout_ms
    }));
    let mut stream = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(s) => s,
        Err(e) => return unavailable(&e.to_string()),
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let method = c.header(":method").unwrap_or("GET");
    let path = c.header(":path").unwrap_or("/");
    let authority = c.header(":authority").unwrap_or("");
    let mut req = format!("{method} {path} HTTP/1.1\r\nhost: {authority}\r\n");
    for (k, v) in &c.headers {
        let lk = k.to_ascii_lowercase();
        if k.starts_with(':') || lk == "host" || lk == "content-length" || lk == "connection" {
            continue;
        }
        if k.contains(['\r', '\n']) || v.contains(['\r', '\n']) {
            continue;
        }
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        c.body.len()
    ));
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(&c.body);
    if let Err(e) = stream.write_all(&bytes) {
        return unavailable(&e.to_string());
    }
    let mut raw = Vec::new();
    match stream.take(MAX_RESPONSE).read_to_end(&mut raw) {
        Ok(_) => {}
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) && raw.is_empty() =>
        {
            return HttpResponse::default();
        }
        Err(_) if !raw.is_empty() => {}
        Err(e) => return unavailable(&e.to_string()),
    }
    parse(&raw).unwrap_or_else(|| unavailable("malformed response"))
}

/// Parses an HTTP/1.1 response (Content-Length, chunked, or to end of stream).
pub(crate) fn parse(raw: &[u8]) -> Option<HttpResponse> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(raw.get(..end)?).ok()?;
    let rest = raw.get(end + 4..)?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let status: u16 = parts.next()?.parse().ok()?;
    let mut headers = Vec::new();
    for line in lines {
        let (k, v) = line.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let body = if get("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)?
    } else if let Some(n) = get("content-length") {
        let n: usize = n.parse().ok()?;
        rest.get(..n)?.to_vec()
    } else {
        rest.to_vec()
    };
    headers.retain(|(k, _)| k != "transfer-encoding" && k != "connection");
    Some(HttpResponse {
        status,
        headers,
        body,
        trailers: Vec::new(),
    })
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(rest.get(..eol)?).ok()?;
        let size_text = size_text.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        rest = rest.get(eol + 2..)?;
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size.checked_add(2)?..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_responses() {
        let r = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\nhi").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hi"[..]));
        assert!(r.headers.contains(&("x-a".into(), "b".into())));
        let r = parse(
            b"HTTP/1.1 201 C\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.body, b"abc");
        assert!(parse(b"garbage").is_none());
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhi").is_none());
    }
}
