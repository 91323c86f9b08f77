//! The scripted hostile endpoint: a loopback HTTP server (hyper 1, as the rest of the tree)
//! that the client checks control per scenario, and that records every request it gets
//! (method, target, headers, and so the proof, the token and the host).
//!
//! It serves the default route (`/pixstore-image/{id}`) and a custom route
//! (`/app/v1/{id}`, the target of the suite's URL template), answers CORS preflights as a v1
//! endpoint does (browsers preflight every request with the Pixstore headers), and has a second
//! listener, "another host" (127.0.0.2 where the system routes it, else another port of
//! 127.0.0.1), that redirects point to.
//!
//! By default it answers honestly, as a v1 endpoint would (SERVE-1, SERVE-2): the proofs it
//! accepts for an id are those of the records the suite handed out for it. A check scripts the
//! next answers for an id ([`Reply`]): exact bytes (tampered, truncated, a different payload
//! for the same token), an HTTP status, a redirect, an oversized body, no answer at all, or an
//! honest answer held back until a second request arrives.

use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use proto::envelope::Meta;
use proto::token::Token;
use proto::wire::{Payload, State};
use tokio::sync::watch;

/// The default route the endpoint serves (HTTP-1).
pub const ROUTE: &str = proto::http::DEFAULT_ROUTE;
/// The custom route behind the suite's URL template.
pub const CUSTOM_ROUTE: &str = "/app/v1";
/// No answer is held longer than this, whatever a check forgets to release.
const MAX_HOLD: Duration = Duration::from_secs(120);

/// One stored version of an image, as the honest endpoint serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Its token.
    pub token: Token,
    /// Its key, IV and tag.
    pub meta: Meta,
    /// `AES-256-GCM([format byte][image])` (ENV-1).
    pub ciphertext: Vec<u8>,
}

impl Version {
    /// The Success payload of this version.
    pub fn success(&self) -> Vec<u8> {
        encode(Payload::success(self.ciphertext.as_slice()))
    }

    /// The Updated payload of this version.
    pub fn updated(&self) -> Vec<u8> {
        encode(Payload::updated(self.token, self.meta, self.ciphertext.as_slice()))
    }
}

fn encode(p: Result<Payload<&[u8]>, proto::wire::DecodeError>) -> Vec<u8> {
    let mut out = Vec::new();
    // The suite's versions always have a ciphertext (>= 1 byte), so both constructors succeed.
    if let Ok(p) = p {
        p.encode(&mut out);
    }
    out
}

/// What the endpoint answers to the next GET of an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// As a v1 endpoint: the proof checked, then Success or Updated by the token.
    Honest,
    /// Exactly these bytes, status 200, `Content-Length`.
    Bytes(Vec<u8>),
    /// These bytes, status 200, chunked (no length announced).
    Chunked(Vec<u8>),
    /// This status and a short text body (not a wire payload).
    Status(u16),
    /// `302 Found` to the same target on the other listener (another origin).
    Redirect,
    /// Nothing: the request is read and never answered, until [`Endpoint::release`] (then the
    /// connection is closed).
    Hang,
    /// An honest answer held back until a second GET for the id arrives or `Duration` passes.
    Hold(Duration),
}

/// Which listener a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The endpoint the client was configured with.
    Primary,
    /// The other host, where redirects point.
    Other,
}

/// One request as the endpoint received it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The listener.
    pub side: Side,
    /// The method.
    pub method: String,
    /// The request target as received.
    pub target: String,
    /// Every header (lowercase names), in order.
    pub headers: Vec<(String, String)>,
    /// The id the target names (percent-decoded), if it is one of the endpoint's routes.
    pub id: Option<String>,
    /// Whether it came to the custom route.
    pub custom_route: bool,
    /// Body bytes written back so far (grows while an answer streams).
    pub sent: Arc<AtomicU64>,
}

impl Seen {
    /// Every value of `name` (lowercase).
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }

    /// A one-line description for messages.
    pub fn line(&self) -> String {
        let side = match self.side {
            Side::Primary => "",
            Side::Other => " (at the other host)",
        };
        let interesting: Vec<String> = self
            .headers
            .iter()
            .filter(|(n, _)| n.starts_with("x-pixstore") || n == "authorization")
            .map(|(n, v)| format!("{n}: {}", short(v)))
            .collect();
        format!("{} {}{side} [{}]", self.method, self.target, interesting.join(", "))
    }
}

fn short(v: &str) -> String {
    if v.chars().count() > 24 {
        format!("{}...", v.chars().take(20).collect::<String>())
    } else {
        v.to_owned()
    }
}

#[derive(Debug, Default)]
struct State0 {
    images: HashMap<String, Version>,
    proofs: HashMap<String, HashSet<String>>,
    scripts: HashMap<String, VecDeque<Reply>>,
    log: Vec<Seen>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State0>,
    /// Bumped on every request (held answers watch it).
    arrivals: watch::Sender<u64>,
    /// Bumped by [`Endpoint::release`] (hung answers watch it).
    release: watch::Sender<u64>,
    other_origin: Mutex<String>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State0> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The running endpoint; stopped (every connection closed) on drop.
#[derive(Debug)]
pub struct Endpoint {
    shared: Arc<Shared>,
    primary: SocketAddr,
    other: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Endpoint {
    /// Starts both listeners on loopback (port 0).
    pub async fn start() -> Result<Endpoint, String> {
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            arrivals: watch::channel(0).0,
            release: watch::channel(0).0,
            other_origin: Mutex::default(),
        });
        let primary = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("hostile endpoint: cannot listen on 127.0.0.1: {e}"))?;
        // Another host: 127.0.0.2 where loopback covers 127/8 (Linux), else another port.
        let other = match tokio::net::TcpListener::bind("127.0.0.2:0").await {
            Ok(l) => l,
            Err(_) => tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| format!("hostile endpoint: cannot listen on 127.0.0.1: {e}"))?,
        };
        let (pa, oa) =
            (primary.local_addr().map_err(|e| e.to_string())?, other.local_addr().map_err(|e| e.to_string())?);
        *shared.other_origin.lock().unwrap_or_else(PoisonError::into_inner) = format!("http://{oa}");
        let tasks =
            vec![accept_loop(primary, Side::Primary, shared.clone()), accept_loop(other, Side::Other, shared.clone())];
        Ok(Endpoint { shared, primary: pa, other: oa, tasks })
    }

    /// The default endpoint's route URL, `http://127.0.0.1:PORT/pixstore-image`.
    pub fn route_url(&self) -> String {
        format!("http://{}{ROUTE}", self.primary)
    }

    /// The URL template of the custom route: `http://127.0.0.1:PORT/app/v1/{id}?via=template`.
    pub fn template(&self) -> String {
        format!("http://{}{CUSTOM_ROUTE}/{{id}}?via=template", self.primary)
    }

    /// The primary listener's address.
    pub fn primary(&self) -> SocketAddr {
        self.primary
    }

    /// The other host's address.
    pub fn other(&self) -> SocketAddr {
        self.other
    }

    /// Forgets every image, proof, script and request, and closes every hung answer.
    pub fn reset(&self) {
        *self.shared.lock() = State0::default();
        self.release();
    }

    /// Makes `version` the current version of `id` (what honest answers serve).
    pub fn publish(&self, id: &str, version: &Version) {
        self.shared.lock().images.insert(id.to_owned(), version.clone());
    }

    /// Removes `id` (honest answers: NotFound).
    pub fn remove(&self, id: &str) {
        self.shared.lock().images.remove(id);
    }

    /// Accepts `proof` for `id` (the proof of a record the suite handed out; `""`: a request
    /// without a proof is accepted, as with validation disabled).
    pub fn accept_proof(&self, id: &str, proof: &str) {
        self.shared.lock().proofs.entry(id.to_owned()).or_default().insert(proof.to_owned());
    }

    /// The next answers to GETs of `id`, in order; honest ones after them.
    pub fn script(&self, id: &str, replies: impl IntoIterator<Item = Reply>) {
        self.shared.lock().scripts.entry(id.to_owned()).or_default().extend(replies);
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<Seen> {
        self.shared.lock().log.clone()
    }

    /// Every request so far that names `id` (any method, either listener).
    pub fn requests_for(&self, id: &str) -> Vec<Seen> {
        self.shared.lock().log.iter().filter(|s| s.id.as_deref() == Some(id)).cloned().collect()
    }

    /// The GETs that name `id`.
    pub fn gets_for(&self, id: &str) -> Vec<Seen> {
        self.requests_for(id).into_iter().filter(|s| s.method == "GET").collect()
    }

    /// Closes every hung answer.
    pub fn release(&self) {
        self.shared.release.send_modify(|n| *n += 1);
    }
}

fn accept_loop(listener: tokio::net::TcpListener, side: Side, shared: Arc<Shared>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // Owned here: aborting this task drops the set, which aborts every connection.
        let mut connections = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    connections.spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            let shared = shared.clone();
                            async move { answer(&shared, side, req).await }
                        });
                        let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                        let _ = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service).await;
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    })
}

/// A response body: the whole of `data`, in 64 KiB frames, counting what was polled out.
struct Counted {
    data: Bytes,
    sent: Arc<AtomicU64>,
    announce_length: bool,
}

impl hyper::body::Body for Counted {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.data.is_empty() {
            return Poll::Ready(None);
        }
        let n = this.data.len().min(64 << 10);
        let chunk = this.data.split_to(n);
        this.sent.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        if self.announce_length {
            SizeHint::with_exact(u64::try_from(self.data.len()).unwrap_or(u64::MAX))
        } else {
            SizeHint::default()
        }
    }
}

type Response = hyper::Response<Counted>;

fn response(status: u16, content_type: Option<&str>, body: Vec<u8>, chunked: bool, sent: &Arc<AtomicU64>) -> Response {
    let counted = Counted { data: Bytes::from(body), sent: sent.clone(), announce_length: !chunked };
    let mut r = hyper::Response::new(counted);
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    // HTTP-5, HTTP-6: what any v1 endpoint sends; browsers need the CORS header to read answers.
    h.insert("cache-control", hyper::header::HeaderValue::from_static(proto::http::CACHE_CONTROL));
    h.insert("access-control-allow-origin", hyper::header::HeaderValue::from_static("*"));
    if let Some(ct) = content_type.and_then(|c| hyper::header::HeaderValue::from_str(c).ok()) {
        h.insert("content-type", ct);
    }
    r
}

fn wire(body: Vec<u8>, sent: &Arc<AtomicU64>) -> Response {
    response(200, Some(proto::http::CONTENT_TYPE), body, false, sent)
}

/// Where a target points: `(id, custom route)`.
fn route_of(target: &str) -> Option<(String, bool)> {
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    for (route, custom) in [(ROUTE, false), (CUSTOM_ROUTE, true)] {
        if let proto::http::Action::Serve(proto::http::Id::Text(id)) = proto::http::classify(route, "GET", path) {
            return Some((id.into_owned(), custom));
        }
    }
    None
}

async fn answer(
    shared: &Shared,
    side: Side,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<Response, &'static str> {
    let target = req.uri().path_and_query().map_or_else(|| req.uri().to_string(), |p| p.as_str().to_owned());
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let method = req.method().as_str().to_owned();
    let routed = route_of(&target);
    let sent = Arc::new(AtomicU64::new(0));
    let seen = Seen {
        side,
        method: method.clone(),
        target: target.clone(),
        headers,
        id: routed.as_ref().map(|(id, _)| id.clone()),
        custom_route: routed.as_ref().is_some_and(|(_, c)| *c),
        sent: sent.clone(),
    };
    let reply = {
        let mut state = shared.lock();
        state.log.push(seen.clone());
        match (&routed, method.as_str()) {
            (Some((id, _)), "GET") if side == Side::Primary => {
                state.scripts.get_mut(id).and_then(VecDeque::pop_front).unwrap_or(Reply::Honest)
            }
            _ => Reply::Honest,
        }
    };
    shared.arrivals.send_modify(|n| *n += 1);
    if method == "OPTIONS" {
        return Ok(preflight(&req, &sent));
    }
    let Some((id, _)) = routed else {
        return Ok(response(404, Some("text/plain"), b"not a route of this endpoint".to_vec(), false, &sent));
    };
    if method != "GET" {
        let mut r = response(405, Some("text/plain"), b"method not allowed".to_vec(), false, &sent);
        r.headers_mut().insert("allow", hyper::header::HeaderValue::from_static(proto::http::ALLOW_METHODS));
        return Ok(r);
    }
    match reply {
        Reply::Honest => Ok(wire(honest(shared, &id, &seen), &sent)),
        Reply::Bytes(b) => Ok(wire(b, &sent)),
        Reply::Chunked(b) => Ok(response(200, Some(proto::http::CONTENT_TYPE), b, true, &sent)),
        Reply::Status(s) => {
            Ok(response(s, Some("text/plain"), format!("hostile endpoint: status {s}").into_bytes(), false, &sent))
        }
        Reply::Redirect => {
            let origin = shared.other_origin.lock().unwrap_or_else(PoisonError::into_inner).clone();
            let mut r = response(302, Some("text/plain"), b"moved".to_vec(), false, &sent);
            if let Ok(location) = hyper::header::HeaderValue::from_str(&format!("{origin}{target}")) {
                r.headers_mut().insert("location", location);
            }
            Ok(r)
        }
        Reply::Hang => {
            let mut released = shared.release.subscribe();
            let _ = tokio::time::timeout(MAX_HOLD, released.changed()).await;
            // An error closes the connection without an answer.
            Err("released without an answer")
        }
        Reply::Hold(max) => {
            let mut arrivals = shared.arrivals.subscribe();
            let deadline = tokio::time::Instant::now() + max.min(MAX_HOLD);
            loop {
                let gets = shared
                    .lock()
                    .log
                    .iter()
                    .filter(|s| s.method == "GET" && s.id.as_deref() == Some(id.as_str()))
                    .count();
                if gets > 1 {
                    break;
                }
                if tokio::time::timeout_at(deadline, arrivals.changed()).await.is_err() {
                    break;
                }
            }
            Ok(wire(honest(shared, &id, &seen), &sent))
        }
    }
}

/// HTTP-7: the answer to a CORS preflight, allowing whatever headers the browser asks for.
fn preflight(req: &hyper::Request<hyper::body::Incoming>, sent: &Arc<AtomicU64>) -> Response {
    let mut r = response(204, None, Vec::new(), false, sent);
    let h = r.headers_mut();
    h.insert("access-control-allow-methods", hyper::header::HeaderValue::from_static(proto::http::ALLOW_METHODS));
    let asked = req.headers().get("access-control-request-headers").and_then(|v| v.to_str().ok()).unwrap_or("");
    let allow = if asked.is_empty() {
        proto::http::ALLOW_HEADERS.to_owned()
    } else {
        format!("{}, {asked}", proto::http::ALLOW_HEADERS)
    };
    if let Ok(v) = hyper::header::HeaderValue::from_str(&allow) {
        h.insert("access-control-allow-headers", v);
    }
    h.insert("access-control-max-age", hyper::header::HeaderValue::from(proto::http::MAX_AGE_SECS));
    r
}

/// SERVE-1, SERVE-2: what a v1 endpoint answers, for the proofs the suite handed out.
fn honest(shared: &Shared, id: &str, seen: &Seen) -> Vec<u8> {
    let state = shared.lock();
    let accepted = state.proofs.get(id);
    let proofs = seen.values(proto::http::PROOF_HEADER);
    let open = accepted.is_some_and(|a| a.contains(""));
    let verdict = match proofs.as_slice() {
        _ if open => None,
        [] | [""] => Some(State::MissingProof),
        [one] if accepted.is_some_and(|a| a.contains(*one)) => None,
        _ => Some(State::InvalidProof),
    };
    if let Some(s) = verdict {
        return vec![s.byte()];
    }
    let Some(v) = state.images.get(id) else { return vec![State::NotFound.byte()] };
    let token = match seen.values(proto::http::TOKEN_HEADER).as_slice() {
        [one] => proto::token::parse_text(one.as_bytes()).ok().flatten(),
        _ => None,
    };
    if token == Some(v.token) {
        v.success()
    } else {
        v.updated()
    }
}
