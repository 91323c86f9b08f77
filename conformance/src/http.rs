//! A deliberately small HTTP/1.1 client over a TCP stream: the suite must send request targets
//! exactly as written (URL libraries normalise `..`, `%2e%2e` and duplicate headers away, which
//! an attacker would not), and it records every exchange as evidence.

use std::fmt;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Longest response the suite reads (a large image plus headers).
pub const MAX_RESPONSE: usize = 64 << 20;
/// How long one exchange may take.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// An `http://host:port/path` URL split into what the client needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `host:port` to connect to and to send as `Host`.
    pub authority: String,
    /// The path (no trailing `/`), e.g. `/pixstore-image`; empty for the root.
    pub path: String,
}

impl Url {
    /// Parses `http://host[:port][/path]`. Only plain HTTP is supported (put a TLS-terminating
    /// proxy in front to test an HTTPS-only deployment).
    pub fn parse(text: &str) -> Result<Url, String> {
        let rest = text.strip_prefix("http://").ok_or_else(|| {
            format!("{text:?}: only http:// URLs are supported (use a local TLS-terminating proxy for https)")
        })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(format!("{text:?}: no host"));
        }
        let authority = if authority.contains(':') && !authority.ends_with(']') {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Url { authority, path: path.trim_end_matches('/').to_owned() })
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.authority, self.path)
    }
}

/// One request and its response.
#[derive(Debug, Clone, Default)]
pub struct Exchange {
    /// `METHOD target`.
    pub request_line: String,
    /// Request headers as sent.
    pub request_headers: Vec<(String, String)>,
    /// Response status.
    pub status: u16,
    /// Response headers, names lowercase, in order.
    pub headers: Vec<(String, String)>,
    /// Response body (chunked encoding already removed).
    pub body: Vec<u8>,
}

impl Exchange {
    /// Every value of header `name` (lowercase).
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }

    /// The single value of header `name`, if it appears exactly once.
    pub fn header(&self, name: &str) -> Option<&str> {
        match self.header_values(name).as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let end = find(body, b"\r\n").ok_or("chunked body: missing chunk size line")?;
        let size_text =
            std::str::from_utf8(body.get(..end).unwrap_or_default()).map_err(|_| "chunked body: bad size")?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| "chunked body: bad size")?;
        body = body.get(end + 2..).unwrap_or_default();
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(body.get(..size).ok_or("chunked body: truncated chunk")?);
        body = body.get(size + 2..).unwrap_or_default();
    }
}

/// Sends one request (with `Connection: close`) and reads the whole response.
pub async fn send(
    authority: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Exchange, String> {
    tokio::time::timeout(TIMEOUT, send_inner(authority, method, target, headers, body))
        .await
        .map_err(|_| format!("{method} {target}: no complete response within {} s", TIMEOUT.as_secs()))?
}

async fn send_inner(
    authority: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Exchange, String> {
    let mut stream =
        tokio::net::TcpStream::connect(authority).await.map_err(|e| format!("cannot connect to {authority}: {e}"))?;
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    let mut sent = Vec::new();
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
        sent.push(((*k).to_owned(), (*v).to_owned()));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.map_err(|e| format!("{method} {target}: cannot send: {e}"))?;
    stream.write_all(body).await.map_err(|e| format!("{method} {target}: cannot send the body: {e}"))?;
    let mut resp = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = stream.read(&mut buf).await.map_err(|e| format!("{method} {target}: connection failed: {e}"))?;
        if n == 0 {
            break;
        }
        resp.extend_from_slice(buf.get(..n).unwrap_or_default());
        if resp.len() > MAX_RESPONSE {
            return Err(format!("{method} {target}: response larger than {MAX_RESPONSE} bytes"));
        }
    }
    let split = find(&resp, b"\r\n\r\n").ok_or_else(|| {
        format!("{method} {target}: the connection closed before a complete response (did the server crash?)")
    })?;
    let head = String::from_utf8_lossy(resp.get(..split).unwrap_or_default()).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{method} {target}: bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let raw_body = resp.get(split + 4..).unwrap_or_default();
    let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked { dechunk(raw_body)? } else { raw_body.to_vec() };
    Ok(Exchange { request_line: format!("{method} {target}"), request_headers: sent, status, headers, body })
}
