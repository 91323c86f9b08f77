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
        (Detail::Storage(e), _) => tracing::warn!(id, error = %e, "InternalError"),
        (Detail::CorruptVersion, _) => {
            tracing::warn!(id, "InternalError: stored version has no ciphertext")
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
                    Action::Preflight => response_with(Kind::Preflight, &origin, Body::empty(), faults),
                    Action::MethodNotAllowed => response_with(Kind::MethodNotAllowed, &origin, Body::empty(), faults),
                    Action::NotFound => response_with(Kind::NotFound, &origin, Body::from("Not found"), faults),
                }
            }
        },
    )
}

/// The state of a wire payload that [`answer`] or the default endpoint produced, for tests.
pub fn state_of(body: &[u8]) -> Option<State> {
    body.first().and_then(|b| State::from_byte(*b).ok())
}
