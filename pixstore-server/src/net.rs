//! The HTTP connection layer every listener of the server shares: our own accept loop over
//! hyper 1 (HTTP/1.1, and HTTP/2 by ALPN over TLS or with prior knowledge in plain text), the
//! limits of [`Limits`], the RFC 9112 checks hyper leaves to its user, TLS, metrics and the
//! access log.
//!
//! - **Accept errors never stop a listener** (STYLE §L.1, as hyper 0.14's `AddrIncoming` and
//!   axum's `serve`): errors of one connection (reset or aborted before we took it) are skipped
//!   at once; any other error (EMFILE, ENFILE, ENOBUFS, ENOMEM...) is logged and counted, and
//!   accepting resumes after a back-off that doubles from 5 ms to 1 s.
//! - **Connections are bounded**: at most `max_connections` per listener are open; further ones
//!   wait in the kernel's accept queue until one closes.
//! - **Timeouts**: a request head must arrive within `header_read_timeout` of its first byte (of
//!   the connection's start for the first request; a TLS handshake too), and a connection on
//!   which no byte moves for `idle_timeout` is closed (idle keep-alive, silent connections on
//!   HTTP/2, readers that stopped reading).
//! - **Request framing** (RFC 9112 §6.1, §3.2): a request with both `Content-Length` and
//!   `Transfer-Encoding` is answered 400 and the connection closed; an HTTP/1.1 request without
//!   `Host` is answered 400. hyper removes `Content-Length` when both are present (and closes),
//!   so the request heads are followed here as they are read (`Framing`).
//! - **Sizes**: a request head larger than `max_header_bytes`, or with more than `max_headers`
//!   fields, is refused by hyper (431, without our headers: HTTP-5 cannot be met there).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};

use crate::config::Limits;
use crate::metrics::Metrics;
use crate::tls::TlsConfig;

/// An error type any body error converts into.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a listener serves: an application of requests to responses, and the answer to a request
/// the connection layer refuses (400), with the headers the application's responses carry.
pub trait App: Clone + Send + Sync + 'static {
    /// The response body.
    type Body: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static;
    /// Answers one request (on a clone of the application: keep it cheap to clone).
    fn call(
        self,
        req: Request<Incoming>,
        conn: ConnInfo,
    ) -> impl Future<Output = Response<Self::Body>> + Send + 'static;
    /// The answer to a request the connection layer refuses (`status`, `reason` for people).
    fn refuse(&self, status: StatusCode, reason: &'static str) -> Response<Self::Body>;
    /// The wire state of `response` for metrics and the access log, `-` when it is not a
    /// Pixstore payload. By default, the [`WireState`] in its extensions.
    fn wire_state(response: &Response<Self::Body>) -> &'static str {
        response.extensions().get::<WireState>().map_or("-", |s| s.0)
    }
}

/// The wire state of a response, when it is a Pixstore payload (for metrics and the access
/// log): custom routes of warp applications carry it in the response's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireState(pub &'static str);

/// What the application knows about the connection a request came on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The peer's address.
    pub peer: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
}

/// Where a listener is and how it serves.
#[derive(Debug, Clone)]
pub struct ListenerOptions {
    /// Its name in logs and metrics (`endpoint`, `control`, `ops`).
    pub name: &'static str,
    /// The limits.
    pub limits: Limits,
    /// HTTPS, if set.
    pub tls: Option<TlsConfig>,
    /// The metrics to count into.
    pub metrics: Option<Arc<Metrics>>,
    /// One info line per request.
    pub access_log: bool,
    /// How long a shutdown waits for requests in flight.
    pub grace: Duration,
}

impl ListenerOptions {
    /// A listener named `name` with the default limits, no TLS, no metrics, no access log and
    /// a 5 s shutdown grace period.
    pub fn new(name: &'static str) -> ListenerOptions {
        ListenerOptions {
            name,
            limits: Limits::default(),
            tls: None,
            metrics: None,
            access_log: false,
            grace: Duration::from_secs(5),
        }
    }
}

/// Errors of one connection that `accept` reports (hyper 0.14's `is_connection_error`): skip it.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::Interrupted
    )
}

const BACKOFF_MIN: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

struct Listener<A: App> {
    app: A,
    options: ListenerOptions,
    auto: auto::Builder<TokioExecutor>,
    h2_only: auto::Builder<TokioExecutor>,
}

fn builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        // Our own timers cover the head and idle connections (see `Watch`): hyper's header
        // timer also starts on an idle keep-alive connection, which would merge the two limits.
        .header_read_timeout(None)
        .timer(TokioTimer::new())
        .max_buf_size(limits.max_header_bytes)
        // Bodies (shared slices of stored versions) are queued, not copied into hyper's buffer.
        .writev(true);
    // At hyper's own limit hyper is left unconfigured: configured, it fills two header arrays of
    // that size for every request it parses (1,094 of 40,174 instructions of a 10 KiB Success
    // response at the old default 64: `bench/profile.sh`, callgrind).
    if limits.max_headers != crate::config::HYPER_MAX_HEADERS {
        b.http1().max_headers(limits.max_headers);
    }
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.h2_max_concurrent_streams)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    b
}

/// Serves `app` on `listener` until `shutdown` turns true; then stops accepting, lets requests
/// in flight finish for up to `options.grace`, and closes what is left.
pub async fn serve<A: App>(
    listener: TcpListener,
    app: A,
    options: ListenerOptions,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut h2_only = builder(&options.limits);
    h2_only = h2_only.http2_only();
    let ctx = Arc::new(Listener { auto: builder(&options.limits), h2_only, app, options });
    let permits = Arc::new(Semaphore::new(ctx.options.limits.max_connections));
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let (force_tx, force_rx) = watch::channel(false);
    let mut backoff = BACKOFF_MIN;
    let name = ctx.options.name;
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.wait_for(|s| *s) => break,
        };
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.wait_for(|s| *s) => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = BACKOFF_MIN;
                let (ctx, shutdown, force, done) = (ctx.clone(), shutdown.clone(), force_rx.clone(), done_tx.clone());
                tokio::spawn(async move {
                    connection(stream, peer, &ctx, shutdown, force).await;
                    drop(permit);
                    drop(done);
                });
            }
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                if let Some(m) = &ctx.options.metrics {
                    m.accept_error(name);
                }
                tracing::error!(listener = name, error = %e, retry_in_ms = backoff.as_millis(), "cannot accept a connection; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.wait_for(|s| *s) => break,
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
    drop(listener);
    drop(done_tx);
    // Every connection saw `shutdown` and finishes its requests in flight; `recv` returns None
    // once the last one is gone.
    if tokio::time::timeout(ctx.options.grace, done_rx.recv()).await.is_err() {
        tracing::warn!(
            listener = name,
            grace_ms = ctx.options.grace.as_millis(),
            "connections still open after the shutdown grace period: closing them"
        );
        let _ = force_tx.send(true);
        let _ = done_rx.recv().await;
    }
}

async fn connection<A: App>(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: &Listener<A>,
    shutdown: watch::Receiver<bool>,
    force: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let name = ctx.options.name;
    let _open = ctx.options.metrics.as_ref().map(|m| m.connection_opened(name));
    let limits = ctx.options.limits;
    let watch = Arc::new(Watch::new(&limits));
    match &ctx.options.tls {
        Some(tls) => {
            let handshake = tokio::time::timeout(limits.header_read_timeout, tls.acceptor().accept(stream)).await;
            let stream = match handshake {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(listener = name, %peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(listener = name, %peer, "TLS handshake timed out");
                    if let Some(m) = &ctx.options.metrics {
                        m.timeout(name, "header");
                    }
                    return;
                }
            };
            let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
            if h2 {
                watch.framing_off();
            }
            let info = ConnInfo { peer, tls: true };
            let builder = if h2 { &ctx.h2_only } else { &ctx.auto };
            drive(Watched { io: stream, watch: watch.clone() }, builder, ctx, info, watch, shutdown, force).await;
        }
        None => {
            let info = ConnInfo { peer, tls: false };
            let io = crate::sendfile::FileSend::new(stream);
            drive(Watched { io, watch: watch.clone() }, &ctx.auto, ctx, info, watch, shutdown, force).await;
        }
    }
}

async fn drive<A: App, I>(
    io: I,
    builder: &auto::Builder<TokioExecutor>,
    ctx: &Listener<A>,
    info: ConnInfo,
    watch: Arc<Watch>,
    mut shutdown: watch::Receiver<bool>,
    mut force: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let name = ctx.options.name;
    let limits = ctx.options.limits;
    let service = {
        let (app, watch, access_log, info) = (ctx.app.clone(), watch.clone(), ctx.options.access_log, info.clone());
        // One handle per connection, shared by its requests (one reference count per request).
        let metrics = ctx.options.metrics.as_ref().map(|m| Arc::new(m.listener(name)));
        let calls = Arc::new(AtomicU64::new(0));
        hyper::service::service_fn(move |req: Request<Incoming>| {
            let index = calls.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let logged = access_log.then(|| (req.method().clone(), req.uri().path().to_owned(), req.version()));
            let future = match refusal(&req, &watch, index) {
                Some((status, reason)) => {
                    let mut r = app.refuse(status, reason);
                    r.headers_mut().insert(header::CONNECTION, http::HeaderValue::from_static("close"));
                    futures_util::future::Either::Left(std::future::ready(r))
                }
                // Boxed: the application's future (proof, store, response) is large, and this
                // closure and hyper move it several times before its first poll; boxed, they move
                // a pointer. callgrind (bench/profile.sh, 10 KiB Success): 37,265 -> 36,666
                // instructions per request, most of it memcpy (docs/server-benchmarks.md).
                None => futures_util::future::Either::Right(Box::pin(app.clone().call(req, info.clone()))),
            };
            let (metrics, peer) = (metrics.clone(), info.peer);
            async move {
                let response = future.await;
                let state = A::wire_state(&response);
                let status = response.status().as_u16();
                let bytes = http_body::Body::size_hint(response.body()).exact().unwrap_or(0);
                let elapsed = started.elapsed();
                if let Some(m) = &metrics {
                    m.request(status, state, bytes, elapsed);
                }
                if let Some((method, path, version)) = logged {
                    tracing::info!(
                        target: "pixstore_server::access",
                        listener = name,
                        method = method.as_str(),
                        path = path.as_str(),
                        version = ?version,
                        status,
                        state,
                        bytes,
                        duration_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
                        %peer,
                        "request"
                    );
                }
                Ok::<_, Infallible>(response)
            }
        })
    };
    let conn = builder.serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    let mut draining = false;
    loop {
        let deadline = watch.deadline(&limits);
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(listener = name, peer = %info.peer, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = tokio::time::sleep_until(deadline.into()) => {
                if let Some(why) = watch.expired(&limits) {
                    tracing::debug!(listener = name, peer = %info.peer, why, "closing the connection");
                    if let Some(m) = &ctx.options.metrics {
                        m.timeout(name, why);
                    }
                    return;
                }
            }
            _ = shutdown.wait_for(|s| *s), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = force.wait_for(|s| *s) => return,
        }
    }
}

/// Why the connection layer refuses a request, if it does (400 and close).
fn refusal(req: &Request<Incoming>, watch: &Watch, index: u64) -> Option<(StatusCode, &'static str)> {
    // RFC 9112 §6.1: both Content-Length and Transfer-Encoding (hyper removed the former).
    if watch.bad_framing(index) {
        return Some((StatusCode::BAD_REQUEST, "a request must not carry both Content-Length and Transfer-Encoding"));
    }
    // RFC 9112 §3.2: an HTTP/1.1 request without Host.
    if req.version() == Version::HTTP_11 && !req.headers().contains_key(header::HOST) {
        return Some((StatusCode::BAD_REQUEST, "an HTTP/1.1 request needs a Host header"));
    }
    None
}

/// The IO of one connection, with the times bytes moved and the request framing it carries.
struct Watched<T> {
    io: T,
    watch: Arc<Watch>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            if let Some(new) = buf.filled().get(before..).filter(|b| !b.is_empty()) {
                self.watch.read(new);
            }
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            if n > 0 {
                self.watch.touch();
            }
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = r {
            if n > 0 {
                self.watch.touch();
            }
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The timers of one connection and the framing of the requests read on it.
struct Watch {
    start: Instant,
    /// When a byte last moved, in ms since `start`.
    active_ms: AtomicU64,
    framing: Mutex<Framing>,
}

impl Watch {
    fn new(limits: &Limits) -> Watch {
        Watch { start: Instant::now(), active_ms: AtomicU64::new(0), framing: Mutex::new(Framing::new(limits)) }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.active_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    fn read(&self, bytes: &[u8]) {
        let now = self.now_ms();
        self.active_ms.store(now, Ordering::Relaxed);
        if let Ok(mut f) = self.framing.lock() {
            f.feed(bytes, now);
        }
    }

    fn framing_off(&self) {
        if let Ok(mut f) = self.framing.lock() {
            f.phase = Phase::Off;
        }
    }

    fn bad_framing(&self, index: u64) -> bool {
        self.framing.lock().is_ok_and(|f| f.bad_framing == Some(index))
    }

    /// When to look again (the earliest time a limit could be reached).
    fn deadline(&self, limits: &Limits) -> Instant {
        let idle = self.active_ms.load(Ordering::Relaxed).saturating_add(ms(limits.idle_timeout));
        let head = self.head_started().map_or(u64::MAX, |h| h.saturating_add(ms(limits.header_read_timeout)));
        self.start + Duration::from_millis(idle.min(head)).min(Duration::from_secs(1 << 32))
    }

    fn head_started(&self) -> Option<u64> {
        self.framing.lock().ok().and_then(|f| (f.phase == Phase::Head).then_some(f.head_started_ms))
    }

    /// Which limit the connection reached, if any.
    fn expired(&self, limits: &Limits) -> Option<&'static str> {
        let now = self.now_ms();
        if self.head_started().is_some_and(|h| now.saturating_sub(h) >= ms(limits.header_read_timeout)) {
            return Some("header");
        }
        if now.saturating_sub(self.active_ms.load(Ordering::Relaxed)) >= ms(limits.idle_timeout) {
            return Some("idle");
        }
        None
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Where in the HTTP/1 byte stream the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Between requests: the next byte starts a head.
    Idle,
    /// Inside a request head (also before the first one).
    Head,
    /// Inside a body of this many more bytes.
    Length(u64),
    /// Inside a chunk-size line.
    ChunkSize,
    /// Inside chunk data of this many more bytes (then its CRLF).
    ChunkData(u64),
    /// Inside the CRLF after chunk data (this many more bytes).
    ChunkEnd(u8),
    /// Inside the trailer section.
    Trailers,
    /// Not HTTP/1 framing we follow (HTTP/2, or something hyper refuses itself).
    Off,
}

/// Follows request heads and bodies as hyper reads them, without holding more than one head:
/// notices a head that carries both `Content-Length` and `Transfer-Encoding` (hyper removes the
/// former) and when a head began (for the header read timeout).
#[derive(Debug)]
struct Framing {
    phase: Phase,
    /// The head (or chunk line) read so far.
    line: Vec<u8>,
    head_started_ms: u64,
    /// Complete heads read.
    heads: u64,
    /// The index of the first head with both framings; hyper closes the connection after it.
    bad_framing: Option<u64>,
    max_head: usize,
}

/// Longest chunk-size or trailer line followed (hyper refuses longer ones).
const MAX_CHUNK_LINE: usize = 4096;

impl Framing {
    fn new(limits: &Limits) -> Framing {
        Framing {
            phase: Phase::Head,
            line: Vec::new(),
            head_started_ms: 0,
            heads: 0,
            bad_framing: None,
            max_head: limits.max_header_bytes,
        }
    }

    fn feed(&mut self, data: &[u8], now_ms: u64) {
        let mut carry: Vec<u8>;
        let mut input = data;
        while let Some(rest) = self.step(input, now_ms) {
            carry = rest;
            input = &carry;
        }
    }

    /// Consumes `data`; when a head ends inside it, returns the bytes after the head.
    fn step(&mut self, mut data: &[u8], now_ms: u64) -> Option<Vec<u8>> {
        while !data.is_empty() {
            match self.phase {
                Phase::Off => return None,
                Phase::Idle => {
                    self.phase = Phase::Head;
                    self.head_started_ms = now_ms;
                    self.line.clear();
                }
                Phase::Head => {
                    // Most heads arrive in one read: parse them in place, without a copy.
                    if self.line.is_empty() {
                        if let Some(end) = head_end(data, 0) {
                            let (head, rest) = data.split_at(end);
                            self.end_of_head(head);
                            data = rest;
                            continue;
                        }
                    }
                    let from = self.line.len().saturating_sub(3);
                    self.line.extend_from_slice(data);
                    let Some(end) = head_end(&self.line, from) else {
                        if self.line.len() > self.max_head {
                            self.phase = Phase::Off;
                        }
                        return None;
                    };
                    let rest = self.line.split_off(end);
                    let head = std::mem::take(&mut self.line);
                    self.end_of_head(&head);
                    self.line = head;
                    self.line.clear();
                    return (!rest.is_empty()).then_some(rest);
                }
                Phase::Length(n) => {
                    let take = data.len().min(usize::try_from(n).unwrap_or(usize::MAX));
                    data = data.get(take..).unwrap_or_default();
                    let left = n - u64::try_from(take).unwrap_or(n);
                    self.phase = if left == 0 { Phase::Idle } else { Phase::Length(left) };
                }
                Phase::ChunkData(n) => {
                    let take = data.len().min(usize::try_from(n).unwrap_or(usize::MAX));
                    data = data.get(take..).unwrap_or_default();
                    let left = n - u64::try_from(take).unwrap_or(n);
                    self.phase = if left == 0 { Phase::ChunkEnd(2) } else { Phase::ChunkData(left) };
                }
                Phase::ChunkEnd(n) => {
                    let take = data.len().min(usize::from(n));
                    data = data.get(take..).unwrap_or_default();
                    let left = n - u8::try_from(take).unwrap_or(n);
                    self.phase = if left == 0 { Phase::ChunkSize } else { Phase::ChunkEnd(left) };
                    self.line.clear();
                }
                Phase::ChunkSize | Phase::Trailers => {
                    let nl = data.iter().position(|b| *b == b'\n');
                    let take = nl.map_or(data.len(), |p| p + 1);
                    let (chunk, rest) = data.split_at(take);
                    self.line.extend_from_slice(chunk);
                    data = rest;
                    if self.line.len() > MAX_CHUNK_LINE {
                        self.phase = Phase::Off;
                    } else if nl.is_some() {
                        self.end_of_line();
                    }
                }
            }
        }
        None
    }

    fn end_of_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        let text = line.strip_suffix(b"\n").map(|l| l.strip_suffix(b"\r").unwrap_or(l)).unwrap_or(&line);
        match self.phase {
            Phase::ChunkSize => {
                let digits = text.iter().take_while(|b| b.is_ascii_hexdigit()).count();
                let size = std::str::from_utf8(text.get(..digits).unwrap_or_default())
                    .ok()
                    .and_then(|d| u64::from_str_radix(d, 16).ok());
                self.phase = match size {
                    Some(0) => Phase::Trailers,
                    Some(n) => Phase::ChunkData(n),
                    None => Phase::Off,
                };
            }
            Phase::Trailers if text.is_empty() => self.phase = Phase::Idle,
            _ => {}
        }
        self.line = line;
        self.line.clear();
    }

    fn end_of_head(&mut self, head: &[u8]) {
        let index = self.heads;
        self.heads += 1;
        let mut start = 0;
        let mut lines = memchr::memchr_iter(b'\n', head).map(move |nl| {
            let line = head.get(start..nl).unwrap_or_default();
            start = nl + 1;
            line.strip_suffix(b"\r").unwrap_or(line)
        });
        // Leading empty lines before a request line are allowed (RFC 9112 §2.2).
        let request_line = lines.by_ref().find(|l| !l.is_empty()).unwrap_or_default();
        if request_line.ends_with(b"HTTP/2.0") {
            self.phase = Phase::Off;
            return;
        }
        let (mut length, mut te, mut chunked, mut unknown) = (None::<u64>, false, false, false);
        for line in lines {
            // Only `content-length` and `transfer-encoding` matter here.
            if !matches!(line.first(), Some(b'c' | b'C' | b't' | b'T')) {
                continue;
            }
            let Some(colon) = memchr::memchr(b':', line) else { continue };
            let (name, value) = line.split_at(colon);
            let value = value.get(1..).unwrap_or_default().trim_ascii();
            if name.eq_ignore_ascii_case(b"content-length") {
                match std::str::from_utf8(value).ok().and_then(|v| v.parse::<u64>().ok()) {
                    Some(n) => length = Some(n),
                    None => unknown = true,
                }
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                te = true;
                chunked = value
                    .rsplit(|b| *b == b',')
                    .next()
                    .is_some_and(|c| c.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            }
        }
        if te && (length.is_some() || unknown) && self.bad_framing.is_none() {
            self.bad_framing = Some(index);
        }
        self.phase = match (te, chunked, length) {
            (true, true, _) => Phase::ChunkSize,
            // hyper answers 400 to a final coding that is not chunked, and closes.
            (true, false, _) => Phase::Off,
            _ if unknown => Phase::Off,
            (false, _, Some(n)) if n > 0 => Phase::Length(n),
            _ => Phase::Idle,
        };
    }
}

/// Where the head in `buf` ends (after its empty line), looking at line ends from `from` on.
/// Bare LF line ends count, as httparse accepts them.
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let tail = buf.get(from..)?;
    memchr::memchr_iter(b'\n', tail).map(|p| from + p).find_map(|nl| {
        let before = buf.get(..nl)?;
        if !(before.ends_with(b"\n") || before.ends_with(b"\n\r")) {
            return None;
        }
        // Line ends before the request line (allowed) do not end a head.
        before.iter().any(|b| !matches!(b, b'\r' | b'\n')).then_some(nl + 1)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn framing() -> Framing {
        Framing::new(&Limits::default())
    }

    // RFC 9112 §6.1: the framing of each request is followed, and the request with both
    // Content-Length and Transfer-Encoding is found by its index, however the bytes are split.
    #[test]
    fn finds_the_request_with_both_framings_across_bodies() {
        let stream = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
GET /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext\r\nworld\r\n0\r\nTrailer: y\r\n\r\n\
GET /c HTTP/1.1\r\nHost: x\r\ncontent-length: 3\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        for split in 1..stream.len() {
            let mut f = framing();
            for part in stream.chunks(split) {
                f.feed(part, 0);
            }
            assert_eq!(f.bad_framing, Some(2), "split {split}");
            assert_eq!(f.heads, 3, "split {split}");
        }
    }

    #[test]
    fn plain_requests_are_not_flagged_and_end_idle() {
        let mut f = framing();
        f.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 5);
        assert_eq!((f.bad_framing, f.heads, f.phase), (None, 2, Phase::Idle));
        f.feed(b"GET", 9);
        assert_eq!((f.phase, f.head_started_ms), (Phase::Head, 9));
    }

    #[test]
    fn bare_line_feeds_end_heads_too() {
        let mut f = framing();
        f.feed(b"\r\nGET / HTTP/1.1\nHost: x\nContent-Length: 2\n\nabGET / HTTP/1.1\r\nHost: x\r\n\r\n", 0);
        assert_eq!((f.heads, f.phase, f.bad_framing), (2, Phase::Idle, None));
    }

    #[test]
    fn http2_prior_knowledge_turns_following_off() {
        let mut f = framing();
        f.feed(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00", 0);
        assert_eq!(f.phase, Phase::Off);
    }

    #[test]
    fn oversized_heads_turn_following_off() {
        let mut f = framing();
        f.feed(&vec![b'a'; 20_000], 0);
        assert_eq!(f.phase, Phase::Off);
    }
}
