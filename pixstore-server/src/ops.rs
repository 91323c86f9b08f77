//! The ops listener (default `127.0.0.1:7484`): `GET /metrics` (Prometheus, see
//! [`crate::metrics`]), `GET /livez` (the process answers) and `GET /readyz` (a signing key is
//! loaded and the store is reachable; 503 with the reason otherwise).

use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;

use crate::metrics::Metrics;
use crate::net::{App, ConnInfo};
use crate::service::ImageService;
use crate::store::Store;

/// The ops routes.
pub struct OpsApp<S> {
    service: Arc<ImageService<S>>,
    metrics: Arc<Metrics>,
}

impl<S> Clone for OpsApp<S> {
    fn clone(&self) -> Self {
        OpsApp { service: self.service.clone(), metrics: self.metrics.clone() }
    }
}

impl<S> std::fmt::Debug for OpsApp<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpsApp")
    }
}

impl<S: Store> OpsApp<S> {
    /// The routes over a service and its metrics.
    pub fn new(service: Arc<ImageService<S>>, metrics: Arc<Metrics>) -> OpsApp<S> {
        OpsApp { service, metrics }
    }
}

fn text(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

const PLAIN: &str = "text/plain; charset=utf-8";

impl<S: Store> App for OpsApp<S> {
    type Body = Full<Bytes>;

    fn call(
        self,
        req: Request<Incoming>,
        _conn: ConnInfo,
    ) -> impl std::future::Future<Output = Response<Full<Bytes>>> + Send + 'static {
        let this = self;
        async move {
            if req.method() != Method::GET {
                return text(StatusCode::METHOD_NOT_ALLOWED, PLAIN, "only GET\n");
            }
            match req.uri().path() {
                "/metrics" => text(
                    StatusCode::OK,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    this.metrics.encode(),
                ),
                "/livez" => text(StatusCode::OK, PLAIN, "ok\n"),
                "/readyz" => match this.service.ready().await {
                    Ok(()) => text(StatusCode::OK, PLAIN, "ready\n"),
                    Err(why) => text(StatusCode::SERVICE_UNAVAILABLE, PLAIN, format!("not ready: {why}\n")),
                },
                _ => text(StatusCode::NOT_FOUND, PLAIN, "ops routes: /metrics, /livez, /readyz\n"),
            }
        }
    }

    fn refuse(&self, status: StatusCode, reason: &'static str) -> Response<Full<Bytes>> {
        text(status, PLAIN, reason)
    }
}
