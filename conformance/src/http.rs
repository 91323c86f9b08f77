//! The suite's HTTP client. Over HTTP/1.1 it writes requests by hand, because the suite must send
//! request targets exactly as written (URL libraries normalise `..`, `%2e%2e` and duplicate
//! headers away, which an attacker would not); responses are parsed with `httparse` and read by
//! their `Content-Length` (or chunked framing; to the close only when there is neither). Over
//! TLS (`https://`, rustls) it offers `h2` and `http/1.1` by ALPN and speaks HTTP/2 with the
//! `h2` crate when the server picks it; `--http2-prior-knowledge` speaks h2c on plain TCP.
//! Every exchange is recorded as evidence.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

/// Longest response the suite reads (a large image plus headers).
pub const MAX_RESPONSE: usize = 64 << 20;
/// How long one exchange may take.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain TCP.
    Http,
    /// TLS.
    Https,
}

impl Scheme {
    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// An `http(s)://host[:port][/path]` URL split into what the client needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// The scheme.
    pub scheme: Scheme,
    /// The host: a name, an IPv4 address or an IPv6 address without brackets.
    pub host: String,
    /// The port (80 or 443 when the URL has none).
    pub port: u16,
    /// The path (no trailing `/`), e.g. `/pixstore-image`; empty for the root.
    pub path: String,
}

impl Url {
    /// Parses `http(s)://host[:port][/path]`; a trailing `/` of the path is dropped.
    pub fn parse(text: &str) -> Result<Url, String> {
        let (mut url, path) = Url::parse_keeping_path(text)?;
        url.path = path.trim_end_matches('/').to_owned();
        Ok(url)
    }

    /// Parses `http(s)://host[:port]` and returns the rest of `text` (the path, possibly empty)
    /// exactly as written.
    pub fn parse_keeping_path(text: &str) -> Result<(Url, String), String> {
        let (scheme, rest) = if let Some(rest) = text.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else if let Some(rest) = text.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else {
            return Err(format!("{text:?}: expected an http:// or https:// URL"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let default_port = if scheme == Scheme::Https { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| format!("{text:?}: unclosed [ in the host"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| format!("{text:?}: bad port {p:?}"))?,
                None if after.is_empty() => default_port,
                None => return Err(format!("{text:?}: unexpected {after:?} after the host")),
            };
            (host.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| format!("{text:?}: bad port {p:?}"))?),
                None => (authority.to_owned(), default_port),
            }
        };
        if host.is_empty() {
            return Err(format!("{text:?}: no host"));
        }
        Ok((Url { scheme, host, port, path: String::new() }, path.to_owned()))
    }

    /// `host:port` (brackets around an IPv6 address), to connect to and to send as `Host`.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// `scheme://host:port`.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme.as_str(), self.authority())
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.origin(), self.path)
    }
}

/// The HTTP version of an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// HTTP/1.1, written by hand.
    #[default]
    Http1,
    /// HTTP/2 (over TLS by ALPN, or h2c with prior knowledge).
    Http2,
}

impl Protocol {
    /// `HTTP/1.1` or `HTTP/2`.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Http1 => "HTTP/1.1",
            Protocol::Http2 => "HTTP/2",
        }
    }
}

/// One request and its response.
#[derive(Debug, Clone, Default)]
pub struct Exchange {
    /// `scheme://host:port` the request went to.
    pub origin: String,
    /// The HTTP version used.
    pub protocol: Protocol,
    /// `METHOD target`.
    pub request_line: String,
    /// Request headers as sent.
    pub request_headers: Vec<(String, String)>,
    /// Length of the request body.
    pub request_body_len: usize,
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

/// How to reach targets: trust, ALPN and h2c.
#[derive(Debug, Clone, Default)]
pub struct TransportOptions {
    /// PEM file of extra trusted CA certificates (`--ca-cert`).
    pub ca_cert: Option<PathBuf>,
    /// Accept any server certificate (`--insecure`).
    pub insecure: bool,
    /// Speak HTTP/2 without TLS (h2c with prior knowledge) to `http://` targets.
    pub http2_prior_knowledge: bool,
    /// Offer only `http/1.1` by ALPN over TLS.
    pub http1_only: bool,
}

/// The client the suite sends every request with.
#[derive(Clone)]
pub struct Transport {
    tls: Arc<tokio_rustls::TlsConnector>,
    h2c: bool,
    insecure: bool,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport").field("h2c", &self.h2c).field("insecure", &self.insecure).finish()
    }
}

/// The warning `--insecure` prints on every run (and reports carry).
pub const INSECURE_WARNING: &str =
    "--insecure: server certificates are not verified; this run shows nothing about the target's TLS setup";

/// Accepts every certificate (`--insecure`), still checking the handshake signatures.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

impl Transport {
    /// A transport with `options`.
    pub fn new(options: &TransportOptions) -> Result<Transport, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?;
        let mut config = if options.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
                .with_no_client_auth()
        } else {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            if let Some(path) = &options.ca_cert {
                use rustls_pki_types::pem::PemObject as _;
                let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
                    .map_err(|e| format!("--ca-cert {}: {e}", path.display()))?;
                let mut n = 0;
                for cert in certs {
                    let cert = cert.map_err(|e| format!("--ca-cert {}: {e}", path.display()))?;
                    roots.add(cert).map_err(|e| format!("--ca-cert {}: {e}", path.display()))?;
                    n += 1;
                }
                if n == 0 {
                    return Err(format!("--ca-cert {}: no PEM certificate in the file", path.display()));
                }
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        config.alpn_protocols =
            if options.http1_only { vec![b"http/1.1".to_vec()] } else { vec![b"h2".to_vec(), b"http/1.1".to_vec()] };
        Ok(Transport {
            tls: Arc::new(tokio_rustls::TlsConnector::from(Arc::new(config))),
            h2c: options.http2_prior_knowledge,
            insecure: options.insecure,
        })
    }

    /// Whether certificates go unverified (`--insecure`).
    pub fn insecure(&self) -> bool {
        self.insecure
    }

    async fn connect(&self, base: &Url) -> Result<(Box<dyn Io>, Protocol), String> {
        let authority = base.authority();
        let tcp = tokio::net::TcpStream::connect((base.host.as_str(), base.port))
            .await
            .map_err(|e| format!("cannot connect to {authority}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        match base.scheme {
            Scheme::Http => Ok((Box::new(tcp), if self.h2c { Protocol::Http2 } else { Protocol::Http1 })),
            Scheme::Https => {
                let name = rustls_pki_types::ServerName::try_from(base.host.clone())
                    .map_err(|e| format!("{}: not a TLS server name: {e}", base.host))?;
                let tls =
                    self.tls.connect(name, tcp).await.map_err(|e| format!("TLS handshake with {authority}: {e}"))?;
                let protocol =
                    if tls.get_ref().1.alpn_protocol() == Some(b"h2") { Protocol::Http2 } else { Protocol::Http1 };
                Ok((Box::new(tls), protocol))
            }
        }
    }

    /// The protocol a request to `base` would use (connects once).
    pub async fn negotiate(&self, base: &Url) -> Result<Protocol, String> {
        let (_, protocol) = tokio::time::timeout(TIMEOUT, self.connect(base))
            .await
            .map_err(|_| format!("{base}: connect timed out"))??;
        Ok(protocol)
    }

    /// Sends one request to `base`'s host and reads the whole response: over HTTP/1.1 with
    /// `Connection: close`, the target and headers byte for byte; over HTTP/2 one stream.
    pub async fn send(
        &self,
        base: &Url,
        method: &str,
        target: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Exchange, String> {
        // Boxed: the exchange's state machine is large, and callers nest it deeply.
        tokio::time::timeout(TIMEOUT, Box::pin(self.send_inner(base, method, target, headers, body)))
            .await
            .map_err(|_| format!("{method} {target}: no complete response within {} s", TIMEOUT.as_secs()))?
    }

    async fn send_inner(
        &self,
        base: &Url,
        method: &str,
        target: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Exchange, String> {
        let (io, protocol) = self.connect(base).await?;
        let mut ex = Exchange {
            origin: base.origin(),
            protocol,
            request_line: format!("{method} {target}"),
            request_headers: headers.to_vec(),
            request_body_len: body.len(),
            ..Exchange::default()
        };
        match protocol {
            Protocol::Http1 => {
                let mut head =
                    format!("{method} {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", base.authority());
                for (k, v) in headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                if !body.is_empty() || method == "POST" || method == "PUT" {
                    head.push_str(&format!("Content-Length: {}\r\n", body.len()));
                }
                head.push_str("\r\n");
                let mut bytes = head.into_bytes();
                bytes.extend_from_slice(body);
                read_h1(io, &bytes, method, &mut ex).await?;
            }
            Protocol::Http2 => send_h2(io, base, method, target, headers, body, &mut ex).await?,
        }
        Ok(ex)
    }

    /// Sends `raw` (a whole HTTP/1.1 request, malformed on purpose perhaps) and reads the
    /// answer. `Ok(None)`: the server closed the connection without answering.
    pub async fn send_raw_h1(&self, base: &Url, raw: &[u8], label: &str) -> Result<Option<Exchange>, String> {
        let fut = async {
            let (io, protocol) = self.connect(base).await?;
            if protocol != Protocol::Http1 {
                return Err(format!("{label}: needs HTTP/1.1, the connection speaks {}", protocol.label()));
            }
            let mut ex = Exchange {
                origin: base.origin(),
                protocol,
                request_line: label.to_owned(),
                request_body_len: 0,
                ..Exchange::default()
            };
            match read_h1(io, raw, "GET", &mut ex).await {
                Ok(()) => Ok(Some(ex)),
                Err(e) if e.contains(CLOSED_BEFORE_RESPONSE) => Ok(None),
                Err(e) => Err(e),
            }
        };
        tokio::time::timeout(TIMEOUT, fut).await.map_err(|_| format!("{label}: no complete response within 30 s"))?
    }
}

const CLOSED_BEFORE_RESPONSE: &str = "the connection closed before a complete response";

async fn read_more(io: &mut Box<dyn Io>, buf: &mut Vec<u8>, what: &str) -> Result<usize, String> {
    // Read into the heap buffer itself: no large array lives in the future.
    buf.reserve(16 << 10);
    let n = io.read_buf(buf).await.map_err(|e| format!("{what}: connection failed: {e}"))?;
    if buf.len() > MAX_RESPONSE {
        return Err(format!("{what}: response larger than {MAX_RESPONSE} bytes"));
    }
    Ok(n)
}

/// A parsed response head: its length, the status and the headers.
type Head = (usize, u16, Vec<(String, String)>);

fn parse_head(buf: &[u8], what: &str) -> Result<Option<Head>, String> {
    let mut storage = [httparse::EMPTY_HEADER; 256];
    let mut resp = httparse::Response::new(&mut storage);
    match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => {
            let status = resp.code.ok_or_else(|| format!("{what}: no status code"))?;
            let headers = resp
                .headers
                .iter()
                .map(|h| (h.name.to_ascii_lowercase(), String::from_utf8_lossy(h.value).trim().to_owned()))
                .collect();
            Ok(Some((n, status, headers)))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(format!("{what}: not an HTTP/1.1 response ({e}); first bytes {:?}", preview(buf))),
    }
}

/// The first bytes of `b` as text, for messages.
pub fn preview(b: &[u8]) -> String {
    String::from_utf8_lossy(b.get(..b.len().min(60)).unwrap_or_default()).into_owned()
}

async fn read_h1(mut io: Box<dyn Io>, request: &[u8], method: &str, ex: &mut Exchange) -> Result<(), String> {
    let what = ex.request_line.clone();
    io.write_all(request).await.map_err(|e| format!("{what}: cannot send: {e}"))?;
    io.flush().await.map_err(|e| format!("{what}: cannot send: {e}"))?;
    let mut buf = Vec::new();
    // The head (informational 1xx answers are skipped).
    let (start, status, headers) = loop {
        if let Some((n, status, headers)) = parse_head(&buf, &what)? {
            if (100..200).contains(&status) && status != 101 {
                buf.drain(..n);
                continue;
            }
            break (n, status, headers);
        }
        if read_more(&mut io, &mut buf, &what).await? == 0 {
            return Err(format!("{what}: {CLOSED_BEFORE_RESPONSE} (did the server crash?)"));
        }
    };
    buf.drain(..start);
    ex.status = status;
    ex.headers = headers;
    let no_body = method == "HEAD" || status == 204 || status == 304 || (100..200).contains(&status);
    let chunked = ex
        .header_values("transfer-encoding")
        .iter()
        .any(|v| v.split(',').any(|c| c.trim().eq_ignore_ascii_case("chunked")));
    let lengths = ex.header_values("content-length");
    if no_body {
        return Ok(());
    }
    if chunked {
        ex.body = read_chunked(&mut io, buf, &what).await?;
        return Ok(());
    }
    if let Some(first) = lengths.first() {
        let parse = |v: &str| v.trim().parse::<usize>().map_err(|_| format!("{what}: bad Content-Length {v:?}"));
        let len = parse(first)?;
        for other in lengths.iter().skip(1) {
            if parse(other)? != len {
                return Err(format!("{what}: conflicting Content-Length values {lengths:?}"));
            }
        }
        if len > MAX_RESPONSE {
            return Err(format!("{what}: Content-Length {len} is larger than {MAX_RESPONSE}"));
        }
        while buf.len() < len {
            if read_more(&mut io, &mut buf, &what).await? == 0 {
                return Err(format!(
                    "{what}: the connection closed after {} of the {len} body bytes Content-Length announced",
                    buf.len()
                ));
            }
        }
        buf.truncate(len);
        ex.body = buf;
        return Ok(());
    }
    // Neither: the body ends with the connection.
    while read_more(&mut io, &mut buf, &what).await? > 0 {}
    ex.body = buf;
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn read_chunked(io: &mut Box<dyn Io>, mut buf: Vec<u8>, what: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut at = 0usize;
    loop {
        // The size line.
        let line_end = loop {
            if let Some(i) = find(buf.get(at..).unwrap_or_default(), b"\r\n") {
                break at + i;
            }
            if read_more(io, &mut buf, what).await? == 0 {
                return Err(format!("{what}: chunked body: the connection closed inside a chunk size line"));
            }
        };
        let line = String::from_utf8_lossy(buf.get(at..line_end).unwrap_or_default()).into_owned();
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("{what}: chunked body: bad chunk size {line:?}"))?;
        at = line_end + 2;
        if size == 0 {
            return Ok(out);
        }
        if out.len() + size > MAX_RESPONSE {
            return Err(format!("{what}: response larger than {MAX_RESPONSE} bytes"));
        }
        while buf.len() < at + size + 2 {
            if read_more(io, &mut buf, what).await? == 0 {
                return Err(format!("{what}: chunked body: the connection closed inside a chunk"));
            }
        }
        out.extend_from_slice(buf.get(at..at + size).unwrap_or_default());
        at += size + 2;
    }
}

async fn send_h2(
    io: Box<dyn Io>,
    base: &Url,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
    ex: &mut Exchange,
) -> Result<(), String> {
    let what = ex.request_line.clone();
    let h2err = |e: h2::Error| format!("{what}: HTTP/2: {e}");
    let (client, connection) = h2::client::handshake(io).await.map_err(h2err)?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let uri = http::Uri::builder()
        .scheme(base.scheme.as_str())
        .authority(base.authority())
        .path_and_query(target)
        .build()
        .map_err(|e| format!("{what}: this request target cannot be sent over HTTP/2: {e}"))?;
    let mut builder = http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        if k.eq_ignore_ascii_case("host") {
            continue;
        }
        // `header` appends: a repeated header is sent with each of its values.
        builder = builder.header(k.as_str(), v.as_str());
    }
    let request = builder.body(()).map_err(|e| format!("{what}: cannot build the HTTP/2 request: {e}"))?;
    let mut client = client.ready().await.map_err(h2err)?;
    let (response, mut stream) = client.send_request(request, body.is_empty()).map_err(h2err)?;
    if !body.is_empty() {
        stream.send_data(bytes::Bytes::copy_from_slice(body), true).map_err(h2err)?;
    }
    let response = response.await.map_err(h2err)?;
    let (parts, mut recv) = response.into_parts();
    ex.status = parts.status.as_u16();
    ex.headers = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).trim().to_owned()))
        .collect();
    let mut out = Vec::new();
    while let Some(chunk) = recv.data().await {
        let chunk = chunk.map_err(h2err)?;
        let _ = recv.flow_control().release_capacity(chunk.len());
        out.extend_from_slice(&chunk);
        if out.len() > MAX_RESPONSE {
            return Err(format!("{what}: response larger than {MAX_RESPONSE} bytes"));
        }
    }
    ex.body = out;
    drop(client);
    driver.abort();
    Ok(())
}
