//! The default endpoint (spec §10) as warp filters, and the pieces to mount the same answer
//! behind your own routes and authentication (a custom endpoint).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use hyper::body::Incoming;
use proto::http::{self as binding, Action, Response as Kind};
use proto::serve::{Detail, RequestId};
use proto::token;
use proto::wire::State;
use warp::Filter;

use crate::faults::Faults;
use crate::net::{App, ConnInfo, WireState};
use crate::service::{ImageService, Served, WirePayload};
use crate::store::Store;

/// The body of every response of the endpoint: a wire payload as at most two shared buffers,
/// sent one after the other with their exact length. A Success payload is its one state byte
/// and a slice of the stored version, an Updated payload the stored version itself: nothing is
/// copied per response, and a reader that stops reading holds a reference, not a copy.
#[derive(Debug, Default)]
pub struct PayloadBody {
    head: Option<Bytes>,
    body: Option<Bytes>,
    /// The wire state's name when this is a wire payload (for metrics and the access log).
    state: Option<&'static str>,
}

impl PayloadBody {
    /// A body of one buffer.
    pub fn full(bytes: Bytes) -> PayloadBody {
        PayloadBody { head: (!bytes.is_empty()).then_some(bytes), body: None, state: None }
    }

    /// A wire payload's parts.
    pub fn payload(payload: WirePayload) -> PayloadBody {
        let state = Some(payload.state().name());
        let (head, body) = payload.into_parts();
        PayloadBody { head: (!head.is_empty()).then_some(head), body: (!body.is_empty()).then_some(body), state }
    }

    fn len(&self) -> u64 {
        let n = self.head.as_ref().map_or(0, Bytes::len) + self.body.as_ref().map_or(0, Bytes::len);
        u64::try_from(n).unwrap_or(u64::MAX)
    }

    /// The whole body as one buffer (a copy only when it has two parts).
    pub fn into_bytes(self) -> Bytes {
        match (self.head, self.body) {
            (None, None) => Bytes::new(),
            (Some(b), None) | (None, Some(b)) => b,
            (Some(h), Some(b)) => {
                let mut v = Vec::with_capacity(h.len() + b.len());
                v.extend_from_slice(&h);
                v.extend_from_slice(&b);
                Bytes::from(v)
            }
        }
    }
}

impl http_body::Body for PayloadBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        let next = self.head.take().or_else(|| self.body.take());
        Poll::Ready(next.map(|b| Ok(http_body::Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_none() && self.body.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.len())
    }
}

/// What an image request carries besides its id: the headers and the raw query string.
#[derive(Debug, Clone, Default)]
pub struct RequestParts {
    /// The request headers.
    pub headers: HeaderMap,
    /// The raw query string (without `?`), empty if none.
    pub query: String,
}

/// Extracts [`RequestParts`]; never rejects.
pub fn request_parts() -> impl Filter<Extract = (RequestParts,), Error = Infallible> + Clone {
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::header::headers_cloned().and(query).map(|headers, query| RequestParts { headers, query })
}

/// The headers of a kind of response (HTTP-4 to HTTP-8), without Content-Length (added per
/// response from the body), less what a test fault drops.
fn header_map(kind: Kind, allow_origin: &str, faults: Faults) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in binding::headers(kind, allow_origin) {
        if name == "content-length"
            || (faults.drop_no_store && name == "cache-control")
            || (faults.drop_cors && name.starts_with("access-control-"))
        {
            continue;
        }
        // The names and values are the spec's and the validated configuration's.
        if let (Ok(n), Ok(v)) = (http::HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value)) {
            map.append(n, v);
        }
    }
    map
}

/// The headers of `kind` with a `Content-Length` already in place, its value set per response
/// ([`response_of`]): a clone of a header map has no spare room, so adding a field to a clone
/// grows it (a reallocation per response, callgrind; docs/server-benchmarks.md).
fn template(kind: Kind, allow_origin: &str, faults: Faults) -> HeaderMap {
    let mut map = header_map(kind, allow_origin, faults);
    map.append(http::header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    map
}

/// `headers` with the body's `Content-Length` (RFC 9110 §8.6), unless the status is 204.
fn response_of(status: StatusCode, headers: HeaderMap, body: PayloadBody) -> Response<PayloadBody> {
    let len = body.len();
    let mut r = Response::new(body);
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    if status != StatusCode::NO_CONTENT {
        let value = HeaderValue::from(len);
        // A template's placeholder is replaced in place: `insert` reserves room for one more field
        // first, and a clone of a header map has none, so it would rebuild the map.
        match r.headers_mut().get_mut(http::header::CONTENT_LENGTH) {
            Some(placeholder) => *placeholder = value,
            None => {
                r.headers_mut().insert(http::header::CONTENT_LENGTH, value);
            }
        }
    }
    r
}

fn status_of(kind: Kind) -> StatusCode {
    StatusCode::from_u16(kind.status()).unwrap_or(StatusCode::OK)
}

/// A warp response with the endpoint's headers for `kind`.
fn warp_response(kind: Kind, allow_origin: &str, body: Bytes, faults: Faults) -> warp::reply::Response {
    let mut r = warp::reply::Response::new(body.into());
    *r.status_mut() = status_of(kind);
    *r.headers_mut() = header_map(kind, allow_origin, faults);
    r
}

/// A [`PayloadBody`] response as a warp response: the two parts stay two shared buffers.
fn into_warp(r: Response<PayloadBody>) -> warp::reply::Response {
    use warp::Reply as _;
    let (parts, body) = r.into_parts();
    let chunks = [body.head, body.body].into_iter().flatten().map(Ok::<Bytes, Infallible>);
    let mut w = warp::reply::stream(futures_util::stream::iter(chunks)).into_response();
    *w.status_mut() = parts.status;
    *w.headers_mut() = parts.headers;
    w.extensions_mut().extend(parts.extensions);
    // A warp application's state reaches the metrics through the extensions (App::wire_state).
    if let Some(state) = body.state {
        w.extensions_mut().insert(WireState(state));
    }
    w
}

/// A CORS preflight answer (HTTP-7) for a custom route whose requests also carry
/// `extra_headers`, your own request headers such as `authorization`: they are added to
/// `Access-Control-Allow-Headers`, after `x-pixstore-proof` and `x-pixstore-token`. Names that
/// are not valid header names are left out (and logged); [`preflight`] refuses them up front.
///
/// A browser sends a preflight before any request with the Pixstore headers to another origin;
/// without this answer the browser never sends the GET.
pub fn preflight_response(allow_origin: &str, extra_headers: &[&str]) -> warp::reply::Response {
    let valid = extra_headers
        .iter()
        .filter(|h| {
            let ok = warp::http::HeaderName::from_bytes(h.as_bytes()).is_ok();
            if !ok {
                tracing::warn!(name = h, "preflight: not a header name, left out of Access-Control-Allow-Headers");
            }
            ok
        })
        .copied()
        .collect::<Vec<_>>();
    let mut r = warp_response(Kind::Preflight, allow_origin, Bytes::new(), Faults::default());
    let name = warp::http::header::ACCESS_CONTROL_ALLOW_HEADERS;
    let listed = r.headers().get(&name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let all = core::iter::once(listed.as_str()).chain(valid).filter(|h| !h.is_empty()).collect::<Vec<_>>().join(", ");
    // Header names are valid header values, so this conversion does not fail.
    if let Ok(value) = warp::http::HeaderValue::from_str(&all) {
        r.headers_mut().insert(name, value);
    }
    r
}

/// Answers every `OPTIONS` request that reaches it as a CORS preflight for a custom route
/// ([`preflight_response`]). It does not look at the path: mount it under your route's path, as
/// HTTP-10 keeps preflights to the route, and beside your GET filter:
///
/// ```no_run
/// # use warp::Filter;
/// # fn get() -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
/// #     warp::get().map(|| warp::reply::Response::new(Default::default()))
/// # }
/// let preflight = pixstore_server::endpoint::preflight("https://app.example", &["authorization"])?;
/// let app = warp::path("player-image").and(preflight).or(get()).unify();
/// # Ok::<(), warp::http::header::InvalidHeaderName>(())
/// ```
///
/// Fails if one of `extra_headers` is not a valid header name.
pub fn preflight(
    allow_origin: &str,
    extra_headers: &[&str],
) -> Result<
    impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone,
    warp::http::header::InvalidHeaderName,
> {
    for h in extra_headers {
        warp::http::HeaderName::from_bytes(h.as_bytes())?;
    }
    let origin: Arc<str> = allow_origin.into();
    let extra: Arc<[String]> = extra_headers.iter().map(|h| (*h).to_owned()).collect();
    Ok(warp::options().and(warp::path::full()).map(move |path: warp::path::FullPath| {
        tracing::debug!(method = "OPTIONS", path = path.as_str(), status = 204, "preflight");
        let extra = extra.iter().map(String::as_str).collect::<Vec<_>>();
        preflight_response(&origin, &extra)
    }))
}

/// A refusal of your own on a custom route (authentication failed, say), with the headers every
/// answer of the endpoint carries: `Cache-Control: no-store` (HTTP-5) and the CORS headers
/// (HTTP-6), so a browser app can read the status instead of seeing a network error. The body is
/// `message` as `text/plain`, not a wire payload, so `status` should be a 4xx or 5xx: a 2xx
/// would invite clients to decode the text as a wire payload.
pub fn refusal(status: StatusCode, message: &str, allow_origin: &str) -> warp::reply::Response {
    debug_assert!(status.is_client_error() || status.is_server_error(), "a refusal needs a 4xx or 5xx status");
    let mut r = warp_response(Kind::NotFound, allow_origin, Bytes::from(message.to_owned()), Faults::default());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(warp::http::header::CONTENT_TYPE, warp::http::HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// The request's proof (HTTP-11) and client token (TOKEN-6, TOKEN-7).
fn proof_and_token<'h>(headers: &'h HeaderMap, query: &str) -> (Option<&'h str>, Option<token::Token>) {
    // A value that is not visible ASCII cannot be a proof: it stays a (failing) proof.
    // Looked up by name values built once: a lookup by text parses and lowercases the text first.
    static PROOF: HeaderName = HeaderName::from_static(binding::PROOF_HEADER);
    static TOKEN: HeaderName = HeaderName::from_static(binding::TOKEN_HEADER);
    let proof = binding::proof_header(headers.get_all(&PROOF).iter().map(|v| v.to_str().unwrap_or("\u{fffd}")));
    let token = token::client_token(
        headers.get_all(&TOKEN).iter().map(|v| v.as_bytes()),
        binding::query_values(query, binding::TOKEN_QUERY).map(|c| c.into_owned()),
    );
    (proof, token)
}

fn log(id: &RequestId<'_>, served: &Served) {
    let id = match id {
        RequestId::Absent => "",
        RequestId::Text(t) => t,
        RequestId::Undecodable => "<undecodable>",
    };
    match (&served.detail, served.payload.state()) {
        (Detail::Storage(e), state) => tracing::warn!(id, state = state.name(), error = %e, "image request"),
        (Detail::CorruptVersion, state) => {
            tracing::warn!(id, state = state.name(), error = "stored version has no ciphertext", "image request")
        }
        // PROOF-13: the error kind only, never the proof.
        (Detail::Proof(e), state) => tracing::debug!(id, state = state.name(), proof_error = e.kind(), "image request"),
        (_, state) => tracing::debug!(id, state = state.name(), len = served.payload.len(), "image request"),
    }
}

/// The response to a served payload: 200 with the wire headers; its body knows its state.
fn payload_response(served: Served, headers: HeaderMap) -> Response<PayloadBody> {
    response_of(StatusCode::OK, headers, PayloadBody::payload(served.payload))
}

/// Answers an image request for `id` (still percent-encoded, as a path segment) behind your own
/// route: the custom endpoint. Returns the full HTTP response of spec §10 (200, wire payload);
/// the payload is not copied (see [`PayloadBody`]).
pub async fn answer<S: Store>(
    service: &ImageService<S>,
    raw_id: &str,
    parts: &RequestParts,
    allow_origin: &str,
) -> warp::reply::Response {
    let decoded = binding::percent_decode(raw_id);
    let id = match &decoded {
        Some(text) if text.is_empty() => RequestId::Absent,
        Some(text) => RequestId::Text(text),
        None => RequestId::Undecodable,
    };
    let (proof, token) = proof_and_token(&parts.headers, &parts.query);
    let served = service.serve(id, proof, token).await;
    log(&id, &served);
    let headers = header_map(Kind::Payload(0), allow_origin, service.options().faults);
    into_warp(payload_response(served, headers))
}

/// The headers of each kind of response, computed once.
#[derive(Debug)]
struct Headers {
    payload: HeaderMap,
    preflight: HeaderMap,
    method_not_allowed: HeaderMap,
    not_found: HeaderMap,
}

struct Endpoint<S> {
    service: Arc<ImageService<S>>,
    route: String,
    headers: Headers,
}

/// The default endpoint (spec §10) as an application of the connection layer: every request to
/// its listener. It is a plain hyper service rather than a warp filter: the route is decided by
/// [`binding::classify`], and warp's body type cannot carry the two shared buffers of a
/// [`PayloadBody`] without a stream adapter per response.
pub struct EndpointApp<S>(Arc<Endpoint<S>>);

impl<S> Clone for EndpointApp<S> {
    fn clone(&self) -> Self {
        EndpointApp(self.0.clone())
    }
}

impl<S> std::fmt::Debug for EndpointApp<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointApp").field("route", &self.0.route).finish()
    }
}

impl<S: Store> EndpointApp<S> {
    /// The default endpoint on `route`, for browsers on `allow_origin`.
    pub fn new(service: Arc<ImageService<S>>, route: String, allow_origin: &str) -> EndpointApp<S> {
        let faults = service.options().faults;
        // Preflight answers are 204, without Content-Length (RFC 9110 §8.6).
        let headers = Headers {
            payload: template(Kind::Payload(0), allow_origin, faults),
            preflight: header_map(Kind::Preflight, allow_origin, faults),
            method_not_allowed: template(Kind::MethodNotAllowed, allow_origin, faults),
            not_found: template(Kind::NotFound, allow_origin, faults),
        };
        EndpointApp(Arc::new(Endpoint { service, route, headers }))
    }

    /// Answers one request (spec §10).
    pub async fn respond(
        &self,
        method: &Method,
        path: &str,
        query: &str,
        headers: &HeaderMap,
    ) -> Response<PayloadBody> {
        let e = &self.0;
        // HTTP-12
        if binding::target_too_long(path) || binding::target_too_long(query) {
            tracing::debug!(method = method.as_str(), path_len = path.len(), status = 414, "target too long");
            return response_of(StatusCode::URI_TOO_LONG, e.headers.not_found.clone(), PayloadBody::default());
        }
        match binding::classify(&e.route, method.as_str(), path) {
            Action::Serve(id) => {
                let (proof, token) = proof_and_token(headers, query);
                let served = e.service.serve(id.as_request_id(), proof, token).await;
                log(&id.as_request_id(), &served);
                payload_response(served, e.headers.payload.clone())
            }
            Action::Preflight => {
                tracing::debug!(method = method.as_str(), path, status = 204, "preflight");
                response_of(StatusCode::NO_CONTENT, e.headers.preflight.clone(), PayloadBody::default())
            }
            Action::MethodNotAllowed => {
                tracing::debug!(method = method.as_str(), path, status = 405, "method not allowed");
                response_of(
                    StatusCode::METHOD_NOT_ALLOWED,
                    e.headers.method_not_allowed.clone(),
                    PayloadBody::default(),
                )
            }
            Action::NotFound => {
                tracing::debug!(method = method.as_str(), path, status = 404, "not found");
                response_of(
                    StatusCode::NOT_FOUND,
                    e.headers.not_found.clone(),
                    PayloadBody::full(Bytes::from_static(b"Not found")),
                )
            }
        }
    }
}

impl<S: Store> App for EndpointApp<S> {
    type Body = PayloadBody;

    fn call(
        self,
        req: http::Request<Incoming>,
        _conn: ConnInfo,
    ) -> impl std::future::Future<Output = Response<PayloadBody>> + Send + 'static {
        let this = self;
        async move {
            let (parts, _body) = req.into_parts();
            let mut r =
                this.respond(&parts.method, parts.uri.path(), parts.uri.query().unwrap_or(""), &parts.headers).await;
            // A HEAD answer has no body (RFC 9110 §9.3.2); hyper drops it on HTTP/1.1, not on
            // HTTP/2, where DATA after a HEAD is a protocol error. Content-Length stays.
            if parts.method == Method::HEAD {
                let state = r.body().state;
                *r.body_mut() = PayloadBody { state, ..PayloadBody::default() };
            }
            r
        }
    }

    /// 400 with the endpoint's headers (HTTP-5, HTTP-6), as 404 carries them.
    fn refuse(&self, status: StatusCode, reason: &'static str) -> Response<PayloadBody> {
        tracing::debug!(status = status.as_u16(), reason, "request refused");
        response_of(status, self.0.headers.not_found.clone(), PayloadBody::full(Bytes::from_static(reason.as_bytes())))
    }

    /// Read from the body, not the extensions: inserting an extension allocates a map per
    /// response (callgrind, docs/server-benchmarks.md).
    fn wire_state(response: &Response<PayloadBody>) -> &'static str {
        response.body().state.unwrap_or("-")
    }
}

/// The state of a wire payload that [`answer`] or the default endpoint produced, for tests.
pub fn state_of(body: &[u8]) -> Option<State> {
    body.first().and_then(|b| State::from_byte(*b).ok())
}
