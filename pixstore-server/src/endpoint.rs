//! The default endpoint (spec §10) as warp filters, and the pieces to mount the same answer
//! behind your own routes and authentication (a custom endpoint).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use proto::http::{self as binding, Action, Response as Kind};
use proto::serve::{Detail, RequestId};
use proto::token;
use proto::wire::State;
use warp::http::{HeaderMap, Method, Response, StatusCode};
use warp::hyper::Body;
use warp::Filter;

use crate::faults::Faults;
use crate::service::{ImageService, Served, WirePayload};
use crate::store::Store;

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

fn response_with(kind: Kind, allow_origin: &str, body: Body, faults: Faults) -> Response<Body> {
    let mut builder = Response::builder().status(StatusCode::from_u16(kind.status()).unwrap_or(StatusCode::OK));
    for (name, value) in binding::headers(kind, allow_origin) {
        if (faults.drop_no_store && name == "cache-control")
            || (faults.drop_cors && name.starts_with("access-control-"))
        {
            continue;
        }
        builder = builder.header(name, value.as_ref());
    }
    builder.body(body).unwrap_or_else(|_| Response::new(Body::empty()))
}

fn payload_response(payload: WirePayload, allow_origin: &str, faults: Faults) -> Response<Body> {
    let len = payload.len();
    let (head, body) = payload.into_parts();
    let body = if head.is_empty() {
        Body::from(body)
    } else if body.is_empty() {
        Body::from(head)
    } else {
        // Sent as two chunks, so the stored ciphertext is not copied; Content-Length is set.
        Body::wrap_stream(futures_util::stream::iter([Ok::<Bytes, Infallible>(head), Ok(body)]))
    };
    response_with(Kind::Payload(len), allow_origin, body, faults)
}

/// A CORS preflight answer (HTTP-7) for a custom route whose requests also carry
/// `extra_headers`, your own request headers such as `authorization`: they are added to
/// `Access-Control-Allow-Headers`, after `x-pixstore-proof` and `x-pixstore-token`. Names that
/// are not valid header names are left out (and logged); [`preflight`] refuses them up front.
///
/// A browser sends a preflight before any request with the Pixstore headers to another origin;
/// without this answer the browser never sends the GET.
pub fn preflight_response(allow_origin: &str, extra_headers: &[&str]) -> Response<Body> {
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
    let mut r = response_with(Kind::Preflight, allow_origin, Body::empty(), Faults::default());
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
/// # fn get() -> impl Filter<Extract = (warp::http::Response<warp::hyper::Body>,), Error = warp::Rejection> + Clone {
/// #     warp::get().map(|| warp::http::Response::new(warp::hyper::Body::empty()))
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
    impl Filter<Extract = (Response<Body>,), Error = warp::Rejection> + Clone,
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
pub fn refusal(status: StatusCode, message: &str, allow_origin: &str) -> Response<Body> {
    debug_assert!(status.is_client_error() || status.is_server_error(), "a refusal needs a 4xx or 5xx status");
    let mut r = response_with(Kind::NotFound, allow_origin, Body::from(message.to_owned()), Faults::default());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(warp::http::header::CONTENT_TYPE, warp::http::HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// The request's proof (HTTP-11) and client token (TOKEN-6, TOKEN-7).
fn proof_and_token(parts: &RequestParts) -> (Option<String>, Option<token::Token>) {
    // A value that is not visible ASCII cannot be a proof: it stays a (failing) proof.
    let proofs = parts
        .headers
        .get_all(binding::PROOF_HEADER)
        .iter()
        .map(|v| v.to_str().unwrap_or("\u{fffd}"))
        .collect::<Vec<_>>();
    let proof = binding::proof_header(proofs.iter().copied()).map(str::to_owned);
    let token = token::client_token(
        parts.headers.get_all(binding::TOKEN_HEADER).iter().map(|v| v.as_bytes()),
        binding::query_values(&parts.query, binding::TOKEN_QUERY).map(|c| c.into_owned()),
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

/// Answers an image request for `id` (still percent-encoded, as a path segment) behind your own
/// route: the custom endpoint. Returns the full HTTP response of spec §10 (200, wire payload).
pub async fn answer<S: Store>(
    service: &ImageService<S>,
    raw_id: &str,
    parts: &RequestParts,
    allow_origin: &str,
) -> Response<Body> {
    let decoded = binding::percent_decode(raw_id);
    let id = match &decoded {
        Some(text) if text.is_empty() => RequestId::Absent,
        Some(text) => RequestId::Text(text),
        None => RequestId::Undecodable,
    };
    let (proof, token) = proof_and_token(parts);
    let served = service.serve(id, proof.as_deref(), token).await;
    log(&id, &served);
    payload_response(served.payload, allow_origin, service.options().faults)
}

/// The default endpoint: every request to its listener (spec §10).
pub fn default_endpoint<S: Store>(
    service: Arc<ImageService<S>>,
    route: String,
    allow_origin: String,
) -> impl Filter<Extract = (Response<Body>,), Error = Infallible> + Clone {
    let route = Arc::new(route);
    let origin = Arc::new(allow_origin);
    warp::method().and(warp::path::full()).and(request_parts()).then(
        move |method: Method, path: warp::path::FullPath, parts: RequestParts| {
            let service = service.clone();
            let route = route.clone();
            let origin = origin.clone();
            async move {
                let faults = service.options().faults;
                let path = path.as_str();
                // HTTP-12
                if binding::target_too_long(path) || binding::target_too_long(&parts.query) {
                    tracing::debug!(method = method.as_str(), path_len = path.len(), status = 414, "target too long");
                    let mut r = response_with(Kind::NotFound, &origin, Body::empty(), faults);
                    *r.status_mut() = StatusCode::URI_TOO_LONG;
                    return r;
                }
                match binding::classify(&route, method.as_str(), path) {
                    Action::Serve(id) => {
                        let (proof, token) = proof_and_token(&parts);
                        let served = service.serve(id.as_request_id(), proof.as_deref(), token).await;
                        log(&id.as_request_id(), &served);
                        payload_response(served.payload, &origin, faults)
                    }
                    Action::Preflight => {
                        tracing::debug!(method = method.as_str(), path, status = 204, "preflight");
                        response_with(Kind::Preflight, &origin, Body::empty(), faults)
                    }
                    Action::MethodNotAllowed => {
                        tracing::debug!(method = method.as_str(), path, status = 405, "method not allowed");
                        response_with(Kind::MethodNotAllowed, &origin, Body::empty(), faults)
                    }
                    Action::NotFound => {
                        tracing::debug!(method = method.as_str(), path, status = 404, "not found");
                        response_with(Kind::NotFound, &origin, Body::from("Not found"), faults)
                    }
                }
            }
        },
    )
}

/// The state of a wire payload that [`answer`] or the default endpoint produced, for tests.
pub fn state_of(body: &[u8]) -> Option<State> {
    body.first().and_then(|b| State::from_byte(*b).ok())
}
