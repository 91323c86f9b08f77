//! The admin API: what an app backend in any language uses to store, replace and delete images,
//! check that one exists and get a fresh [`ImageRecord`] to hand to its client. It is also the
//! control interface of spec Appendix A, which the conformance suite drives. Off by default,
//! loopback only unless configured otherwise (CTRL-7); with admin tokens configured every request
//! needs `Authorization: Bearer TOKEN` (CTRL-9), and a listener beyond loopback needs them.
//! Routes, statuses and a Node example: `docs/admin-api.md`.
//!
//! | route | what |
//! |---|---|
//! | `GET /info` | CTRL-1 |
//! | `POST /images[?dir=D]` | store (CTRL-2): 201 and the record |
//! | `PUT /images/{id}` | replace (CTRL-3): 200 and the new record |
//! | `DELETE /images/{id}` | delete (CTRL-4): 204 |
//! | `GET /images/{id}/record` | a fresh record (CTRL-5) |
//! | `GET` or `HEAD /images/{id}` | exists (CTRL-10): 200 `{"id", "exists": true, "token"}` or 404 |
//! | `GET`, `PUT /clock` | the test clock (CTRL-8), only with `testClock` |

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use proto::record::ImageRecord;
use serde_json::json;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use crate::service::{ClockSetting, ImageService, ServiceError};
use crate::store::Store;

/// What `GET {control}/info` reports.
#[derive(Debug, Clone)]
pub struct Info {
    /// Absolute URL of the default endpoint's route.
    pub endpoint: String,
    /// W, or -1.
    pub window_ms: i64,
    /// The verifier's skew (ms).
    pub skew_ms: u64,
    /// The configured `Access-Control-Allow-Origin` of the endpoint (HTTP-6).
    pub allow_origin: String,
    /// Whether the test clock (CTRL-8) is offered.
    pub test_clock: bool,
    /// Who may call (CTRL-9).
    pub auth: Auth,
}

/// The shortest admin token accepted (a guessable token would open the API).
pub const MIN_TOKEN_LEN: usize = 16;

/// Why the admin tokens could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The token file could not be read.
    #[error("admin token file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The token file can be read by group or others.
    #[error("admin token file {path} is readable by group or others (mode {mode:o}): run `chmod 600 {path}`, or pass --allow-insecure-key-file to accept it")]
    Insecure {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A token is too short, or the file has none.
    #[error("admin token file {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The admin API's bearer tokens (CTRL-9), kept as SHA-256 digests: a presented token is hashed
/// and compared with every configured digest in constant time (no early exit, and the hash
/// hides the configured tokens' lengths). No token configured: every request is let through
/// (the listener is then loopback only, see `Config::resolve`).
#[derive(Clone, Default)]
pub struct Auth {
    digests: Arc<Vec<[u8; 32]>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("tokens", &self.digests.len()).finish()
    }
}

/// Why a request was refused by [`Auth::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// No `Authorization: Bearer` header.
    Missing,
    /// A bearer token that is not one of the configured ones.
    Invalid,
}

impl warp::reject::Reject for Refusal {}

fn digest(token: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(token).into()
}

impl Auth {
    /// Tokens given directly.
    pub fn new<T: AsRef<str>>(tokens: &[T]) -> Auth {
        Auth { digests: Arc::new(tokens.iter().map(|t| digest(t.as_ref().as_bytes())).collect()) }
    }

    /// The configuration's tokens: `adminTokens` and the lines of `adminTokensFile` (owner-only
    /// unless `allowInsecureKeyFile`; `#` starts a comment).
    pub fn load(config: &crate::config::Config) -> Result<Auth, AuthError> {
        let mut tokens = config.admin_tokens.clone();
        if let Some(path) = &config.admin_tokens_file {
            tokens.extend(read_tokens(path, config.allow_insecure_key_file)?);
        }
        Ok(Auth::new(&tokens))
    }

    /// Whether requests must authenticate.
    pub fn enabled(&self) -> bool {
        !self.digests.is_empty()
    }

    /// Checks an `Authorization` header value.
    pub fn check(&self, authorization: Option<&str>) -> Result<(), Refusal> {
        use subtle::ConstantTimeEq as _;
        if !self.enabled() {
            return Ok(());
        }
        let token = authorization
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .ok_or(Refusal::Missing)?;
        let presented = digest(token.as_bytes());
        let mut found = subtle::Choice::from(0);
        for d in self.digests.iter() {
            found |= d.ct_eq(&presented);
        }
        if bool::from(found) {
            Ok(())
        } else {
            Err(Refusal::Invalid)
        }
    }
}

fn read_tokens(path: &Path, allow_insecure: bool) -> Result<Vec<String>, AuthError> {
    let text = std::fs::read_to_string(path).map_err(|source| AuthError::Io { path: path.into(), source })?;
    if let Some(mode) =
        crate::keys::insecure_mode(path).map_err(|source| AuthError::Io { path: path.into(), source })?
    {
        if !allow_insecure {
            return Err(AuthError::Insecure { path: path.into(), mode });
        }
    }
    let tokens: Vec<String> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    if tokens.is_empty() {
        return Err(AuthError::Invalid { path: path.into(), message: "no token in the file".into() });
    }
    if let Some(short) = tokens.iter().find(|t| t.len() < MIN_TOKEN_LEN) {
        return Err(AuthError::Invalid {
            path: path.into(),
            message: format!("a token of {} characters: tokens need at least {MIN_TOKEN_LEN}", short.len()),
        });
    }
    Ok(tokens)
}

fn json_response(status: StatusCode, value: &serde_json::Value) -> Response {
    let mut r = Response::new(value.to_string().into());
    *r.status_mut() = status;
    r.headers_mut().insert("content-type", warp::http::HeaderValue::from_static("application/json"));
    // REC-7: a record carries a key.
    r.headers_mut().insert("cache-control", warp::http::HeaderValue::from_static(proto::http::RECORD_CACHE_CONTROL));
    r
}

/// CTRL-6: errors are `{"error": ...}` with a 4xx/5xx status.
fn error(status: StatusCode, message: impl ToString) -> Response {
    json_response(status, &json!({ "error": message.to_string() }))
}

fn record(status: StatusCode, r: &ImageRecord) -> Response {
    let value: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap_or_default();
    json_response(status, &value)
}

fn service_error(e: &ServiceError) -> Response {
    let status = match e {
        ServiceError::UnsupportedImage(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ServiceError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
        ServiceError::InvalidId { .. } | ServiceError::InvalidDir { .. } => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::warn!(error = %e, "control interface failure");
    }
    error(status, e)
}

/// A body larger than `max` bytes.
#[derive(Debug)]
struct TooLarge;

impl warp::reject::Reject for TooLarge {}

async fn read_limited<S, B>(stream: S, max: u64) -> Result<Bytes, warp::Rejection>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>>,
    B: warp::Buf,
{
    use futures_util::StreamExt as _;
    let mut out = Vec::new();
    let mut stream = std::pin::pin!(stream);
    while let Some(chunk) = stream.next().await {
        let mut chunk = chunk.map_err(|_| warp::reject::reject())?;
        if u64::try_from(out.len() + chunk.remaining()).unwrap_or(u64::MAX) > max {
            return Err(warp::reject::custom(TooLarge));
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            out.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Ok(Bytes::from(out))
}

fn decode_id(raw: &str) -> Result<String, Box<Response>> {
    proto::http::percent_decode(raw)
        .map(|c| c.into_owned())
        .ok_or_else(|| Box::new(error(StatusCode::BAD_REQUEST, "malformed percent-encoding in the id")))
}

/// CTRL-8: `{}` (the real clock), `{"offsetMs": N}` or `{"frozenAtMs": T}`.
fn clock_setting(body: &[u8]) -> Result<ClockSetting, String> {
    let usage = "expected {}, {\"offsetMs\": N} or {\"frozenAtMs\": T} (spec CTRL-8)";
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("not JSON ({e}): {usage}"))?;
    let object = value.as_object().ok_or_else(|| format!("not a JSON object: {usage}"))?;
    match (object.get("offsetMs"), object.get("frozenAtMs"), object.len()) {
        (None, None, 0) => Ok(ClockSetting::Real),
        (Some(o), None, 1) => {
            o.as_i64().map(ClockSetting::Offset).ok_or_else(|| format!("offsetMs must be an integer: {usage}"))
        }
        (None, Some(t), 1) => {
            t.as_u64().map(ClockSetting::Frozen).ok_or_else(|| format!("frozenAtMs must be a Unix ms integer: {usage}"))
        }
        _ => Err(usage.to_owned()),
    }
}

/// The control routes, relative to the control listener's root.
pub fn routes<S: Store>(
    service: Arc<ImageService<S>>,
    info: Info,
    implementation: String,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    let max = service.options().max_image_bytes;
    let test_clock = info.test_clock;
    let auth = info.auth.clone();
    // CTRL-1's features registry: what this implementation offers.
    let mut features = vec!["dir-prefix", "percent-encoded-ids", "key-rotation", "exists"];
    if test_clock {
        features.push("clock");
    }
    if service
        .options()
        .image_formats
        .iter()
        .any(|f| matches!(f, proto::format::Format::Jpg | proto::format::Format::Jpeg))
    {
        features.push("jpeg");
    }
    let with = move || {
        let s = service.clone();
        warp::any().map(move || s.clone())
    };
    // CTRL-1
    let info_route = warp::path!("info").and(warp::get()).map(move || {
        json_response(
            StatusCode::OK,
            &json!({
                "specVersion": proto::SPEC_VERSION,
                "endpoint": info.endpoint,
                "windowMs": info.window_ms,
                "skewMs": info.skew_ms,
                "implementation": implementation,
                "features": features,
                "allowOrigin": info.allow_origin,
            }),
        )
    });
    // Uploads are read up to maxImageBytes, with or without a Content-Length (chunked).
    let body = warp::body::stream().and_then(move |stream| read_limited(stream, max));
    let dir = warp::query::raw()
        .or(warp::any().map(String::new))
        .unify()
        .map(|q: String| proto::http::query_values(&q, "dir").map(|d| d.into_owned()).collect::<Vec<_>>());
    // CTRL-2
    let create = warp::path!("images").and(warp::post()).and(dir).and(body).and(with()).then(
        |dirs: Vec<String>, bytes: Bytes, s: Arc<ImageService<S>>| async move {
            // A repeated ?dir= is ambiguous (CTRL-2): refused, like a repeated token is unparseable.
            let dir = match dirs.as_slice() {
                [] => None,
                [one] => Some(one.as_str()),
                _ => return error(StatusCode::BAD_REQUEST, "?dir= given more than once: give one dir prefix"),
            };
            match s.save(&bytes, dir).await {
                Ok(r) => record(StatusCode::CREATED, &r),
                Err(e) => service_error(&e),
            }
        },
    );
    // CTRL-3
    let update = warp::path!("images" / String).and(warp::put()).and(body).and(with()).then(
        |raw: String, bytes: Bytes, s: Arc<ImageService<S>>| async move {
            let id = match decode_id(&raw) {
                Ok(id) => id,
                Err(r) => return *r,
            };
            match s.update(&id, &bytes).await {
                Ok(r) => record(StatusCode::OK, &r),
                Err(e) => service_error(&e),
            }
        },
    );
    // CTRL-4
    let delete = warp::path!("images" / String).and(warp::delete()).and(with()).then(
        |raw: String, s: Arc<ImageService<S>>| async move {
            let id = match decode_id(&raw) {
                Ok(id) => id,
                Err(r) => return *r,
            };
            match s.delete(&id).await {
                Ok(true) => {
                    let mut r = Response::new(Bytes::new().into());
                    *r.status_mut() = StatusCode::NO_CONTENT;
                    r
                }
                Ok(false) => error(StatusCode::NOT_FOUND, format!("no image with id {id:?}")),
                Err(e) => service_error(&e),
            }
        },
    );
    // CTRL-5
    let fresh = warp::path!("images" / String / "record").and(warp::get()).and(with()).then(
        |raw: String, s: Arc<ImageService<S>>| async move {
            let id = match decode_id(&raw) {
                Ok(id) => id,
                Err(r) => return *r,
            };
            match s.record(&id).await {
                Ok(Some(r)) => record(StatusCode::OK, &r),
                Ok(None) => error(StatusCode::NOT_FOUND, format!("no image with id {id:?}")),
                Err(e) => service_error(&e),
            }
        },
    );
    // CTRL-10: whether an image exists, and its current token (no key, no proof).
    let exists = warp::path!("images" / String).and(warp::get().or(warp::head()).unify()).and(with()).then(
        |raw: String, s: Arc<ImageService<S>>| async move {
            let id = match decode_id(&raw) {
                Ok(id) => id,
                Err(r) => return *r,
            };
            match s.token(&id).await {
                Ok(Some(token)) => {
                    json_response(StatusCode::OK, &json!({ "id": id, "exists": true, "token": token.get() }))
                }
                Ok(None) => error(StatusCode::NOT_FOUND, format!("no image with id {id:?}")),
                Err(e) => service_error(&e),
            }
        },
    );
    // CTRL-8: the test clock (minting, verification and token assignment), when offered.
    let clock_on = warp::any().and_then(move || async move {
        if test_clock {
            Ok(())
        } else {
            Err(warp::reject::not_found())
        }
    });
    let clock_get = warp::path!("clock")
        .and(clock_on)
        .untuple_one()
        .and(warp::get())
        .and(with())
        .map(|s: Arc<ImageService<S>>| json_response(StatusCode::OK, &json!({ "nowMs": s.now() })));
    let clock_put = warp::path!("clock").and(clock_on).untuple_one().and(warp::put()).and(body).and(with()).map(
        |bytes: Bytes, s: Arc<ImageService<S>>| match clock_setting(&bytes) {
            Ok(setting) => {
                s.set_clock(setting);
                tracing::info!(?setting, "control interface: clock changed");
                json_response(StatusCode::OK, &json!({ "nowMs": s.now() }))
            }
            Err(message) => error(StatusCode::BAD_REQUEST, message),
        },
    );
    // CTRL-9: every route behind the bearer token, when tokens are configured.
    let authorized = warp::header::optional::<String>("authorization").and_then(move |h: Option<String>| {
        let result = auth.check(h.as_deref()).map_err(warp::reject::custom);
        async move { result }
    });
    authorized
        .untuple_one()
        .and(
            info_route
                .or(clock_get)
                .unify()
                .or(clock_put)
                .unify()
                .or(create)
                .unify()
                .or(update)
                .unify()
                .or(delete)
                .unify()
                .or(fresh)
                .unify()
                .or(exists)
                .unify(),
        )
        .recover(|rejection: warp::Rejection| async move {
            let r = if let Some(refusal) = rejection.find::<Refusal>() {
                unauthorized(*refusal)
            } else if rejection.find::<TooLarge>().is_some() {
                error(StatusCode::PAYLOAD_TOO_LARGE, "image larger than maxImageBytes")
            } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
                error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
            } else {
                error(StatusCode::NOT_FOUND, "no such control route: see spec Appendix A")
            };
            Ok::<_, Infallible>(r)
        })
        .unify()
}

/// CTRL-9: 401 with `WWW-Authenticate: Bearer` (RFC 6750), as a CTRL-6 JSON error.
fn unauthorized(refusal: Refusal) -> Response {
    let (message, challenge) = match refusal {
        Refusal::Missing => (
            "this admin API needs `Authorization: Bearer TOKEN` (a token of adminTokens or adminTokensFile)",
            "Bearer realm=\"pixstore-admin\"",
        ),
        _ => (
            "the bearer token is not one of the admin API's tokens",
            "Bearer realm=\"pixstore-admin\", error=\"invalid_token\"",
        ),
    };
    let mut r = error(StatusCode::UNAUTHORIZED, message);
    r.headers_mut().insert("www-authenticate", warp::http::HeaderValue::from_static(challenge));
    r
}

/// The control routes (or any warp filter) as an application of the connection layer (see
/// [`crate::net`]): `S` is the filter as a service ([`app`]).
#[derive(Clone)]
pub struct ControlApp<S>(S);

impl<S> std::fmt::Debug for ControlApp<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ControlApp")
    }
}

/// A warp filter served by the connection layer ([`crate::net::serve`]): limits, timeouts and
/// the framing checks of the endpoint for your own routes. Refusals are CTRL-6 JSON errors.
pub fn app<F>(
    filter: F,
) -> ControlApp<
    impl tower_service::Service<
            warp::http::Request<hyper::body::Incoming>,
            Response = Response,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + Sync
        + 'static,
>
where
    F: Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static,
    F::Future: Send + 'static,
{
    ControlApp(warp::service(filter))
}

impl<S> crate::net::App for ControlApp<S>
where
    S: tower_service::Service<warp::http::Request<hyper::body::Incoming>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    type Body = http_body_util::combinators::BoxBody<Bytes, crate::net::BoxError>;

    fn call(
        self,
        req: warp::http::Request<hyper::body::Incoming>,
        _conn: crate::net::ConnInfo,
    ) -> impl std::future::Future<Output = warp::http::Response<Self::Body>> + Send + 'static {
        use http_body_util::BodyExt as _;
        let mut service = self.0;
        let future = tower_service::Service::call(&mut service, req);
        async move {
            let r = match future.await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            r.map(|b| b.map_err(crate::net::BoxError::from).boxed())
        }
    }

    fn refuse(&self, status: StatusCode, reason: &'static str) -> warp::http::Response<Self::Body> {
        use http_body_util::BodyExt as _;
        error(status, reason).map(|b| b.map_err(crate::net::BoxError::from).boxed())
    }
}
