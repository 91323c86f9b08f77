//! Fetchers: how a record becomes wire payload bytes (CLIENT-8).
//!
//! [`HttpFetcher`] is the default fetcher: `GET {scheme}://{host}:{port}{route}/{percent-encoded id}`
//! with the record's proof and token headers, over HTTP or HTTPS (rustls, the Mozilla roots
//! plus any you add). A custom fetcher implements [`Fetcher`] for its own context type, to call
//! another route (with an `Authorization` header, say), a WebSocket or anything else; see
//! `examples/custom_route.rs`. [`read_payload`] reads an HTTP answer for custom HTTP fetchers
//! the same way the default fetcher does.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use proto::record::ImageRecord;

use crate::config::{ClientConfig, ConfigError, Endpoint, Timeouts};
use crate::error::FetchError;

/// The future a [`Fetcher`] returns.
pub type FetchFuture<'a> = Pin<Box<dyn Future<Output = Result<Bytes, FetchError>> + Send + 'a>>;

/// Turns a record into wire payload bytes. `C` is the caller's context, passed verbatim from
/// [`crate::Client::get_image`] (the seed's `getImage(record, { playerId: 42 })`).
///
/// CLIENT-8, TOKEN-8, PROOF-1: a fetcher sends the record's own token and its
/// `statelessProof` verbatim, by whatever means its transport has. It returns the payload
/// bytes as received; it does not decode them (the client does).
pub trait Fetcher<C: ?Sized>: Send + Sync {
    /// Fetches the payload for `record`.
    fn fetch<'a>(&'a self, record: &'a ImageRecord, context: &'a C) -> FetchFuture<'a>;
}

impl<C: ?Sized, F: Fetcher<C> + ?Sized> Fetcher<C> for Arc<F> {
    fn fetch<'a>(&'a self, record: &'a ImageRecord, context: &'a C) -> FetchFuture<'a> {
        (**self).fetch(record, context)
    }
}

/// Download progress of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress<'a> {
    /// The image id.
    pub id: &'a str,
    /// Bytes received so far.
    pub received: u64,
    /// The announced length (`Content-Length`), when there is one.
    pub total: Option<u64>,
}

/// A progress callback (called after each received chunk, and once at the end).
pub type ProgressFn = Arc<dyn Fn(Progress<'_>) + Send + Sync>;

/// Reads an HTTP answer to an image request: status 200 (HTTP-4), at most `limit` bytes
/// (CLIENT-9: refused as soon as the announced length or the bytes read pass it), reporting
/// progress. For custom HTTP fetchers; the default fetcher uses it too.
pub async fn read_payload(
    url: &str,
    id: &str,
    mut response: reqwest::Response,
    limit: u64,
    progress: Option<&ProgressFn>,
) -> Result<Bytes, FetchError> {
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        return Err(FetchError::Status { url: url.to_owned(), status: status.as_u16() });
    }
    let total = response.content_length();
    let too_large = || FetchError::TooLarge { url: url.to_owned(), limit };
    if total.is_some_and(|t| t > limit) {
        return Err(too_large());
    }
    // A body announced with its length gets one allocation of exactly that size.
    let mut body = Vec::with_capacity(total.and_then(|t| usize::try_from(t).ok()).unwrap_or(0));
    let mut received = 0u64;
    while let Some(chunk) = response.chunk().await.map_err(|e| FetchError::from_reqwest(url, e))? {
        received = received.saturating_add(u64::try_from(chunk.len()).unwrap_or(u64::MAX));
        if received > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
        if let Some(p) = progress {
            p(Progress { id, received, total });
        }
    }
    Ok(Bytes::from(body))
}

/// The default fetcher: the default endpoint over HTTP or HTTPS (CLIENT-8).
///
/// Redirects are not followed (CLIENT-10): the proof is a bearer credential (spec §12.1) and
/// must not be forwarded to another host; a redirect is reported as an HTTP status error.
#[derive(Clone)]
pub struct HttpFetcher {
    http: reqwest::Client,
    endpoint: Endpoint,
    max_payload_bytes: u64,
    progress: Option<ProgressFn>,
}

impl fmt::Debug for HttpFetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpFetcher")
            .field("endpoint", &self.endpoint)
            .field("max_payload_bytes", &self.max_payload_bytes)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// Builds an [`HttpFetcher`] with more than the configuration says (extra root certificates,
/// progress reporting).
pub struct HttpFetcherBuilder {
    endpoint: Endpoint,
    timeouts: Timeouts,
    max_payload_bytes: u64,
    roots: Vec<reqwest::Certificate>,
    progress: Option<ProgressFn>,
}

impl fmt::Debug for HttpFetcherBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpFetcherBuilder")
            .field("endpoint", &self.endpoint)
            .field("timeouts", &self.timeouts)
            .field("roots", &self.roots.len())
            .finish()
    }
}

impl HttpFetcherBuilder {
    /// Trusts one more root certificate (PEM), for endpoints with a private CA or a
    /// self-signed certificate. The public (Mozilla) roots stay trusted.
    pub fn add_root_certificate_pem(mut self, pem: &[u8]) -> Result<Self, ConfigError> {
        let cert = reqwest::Certificate::from_pem(pem).map_err(|e| ConfigError::Invalid {
            option: "root certificate",
            value: e.to_string(),
            expected: "a PEM certificate (-----BEGIN CERTIFICATE-----)",
        })?;
        self.roots.push(cert);
        Ok(self)
    }

    /// Reports download progress to `f`.
    pub fn progress(mut self, f: ProgressFn) -> Self {
        self.progress = Some(f);
        self
    }

    /// The fetcher.
    pub fn build(self) -> Result<HttpFetcher, ConfigError> {
        // CLIENT-12: every fetch is bounded (connect, each read, the whole request); CLIENT-10:
        // no redirect is followed.
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(self.timeouts.connect)
            .read_timeout(self.timeouts.read)
            .timeout(self.timeouts.request)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("pixstore-pixstore-client/", env!("CARGO_PKG_VERSION")));
        for cert in self.roots {
            b = b.add_root_certificate(cert);
        }
        let http = b.build().map_err(|e| ConfigError::Invalid {
            option: "HTTP client",
            value: e.to_string(),
            expected: "a usable TLS configuration",
        })?;
        Ok(HttpFetcher {
            http,
            endpoint: self.endpoint,
            max_payload_bytes: self.max_payload_bytes,
            progress: self.progress,
        })
    }
}

impl HttpFetcher {
    /// A builder for the configuration's endpoint; [`ConfigError::MissingHost`] without one.
    pub fn builder(config: &ClientConfig) -> Result<HttpFetcherBuilder, ConfigError> {
        let endpoint = config.endpoint.clone().ok_or(ConfigError::MissingHost)?;
        Ok(HttpFetcherBuilder {
            endpoint,
            timeouts: config.timeouts,
            max_payload_bytes: config.max_payload_bytes,
            roots: Vec::new(),
            progress: None,
        })
    }

    /// The default fetcher of a configuration.
    pub fn new(config: &ClientConfig) -> Result<HttpFetcher, ConfigError> {
        HttpFetcher::builder(config)?.build()
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The URL this fetcher requests for `id`.
    pub fn url(&self, id: &str) -> String {
        self.endpoint.image_url(id)
    }

    /// The underlying HTTP client (shares connections; reuse it in custom fetchers).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Fetches the payload for `record`, with no context.
    pub async fn get(&self, record: &ImageRecord) -> Result<Bytes, FetchError> {
        let url = self.url(&record.id);
        let mut request = self.http.get(&url);
        // CLIENT-8, TOKEN-8, PROOF-1: the record's token, and its proof verbatim (omitted when
        // empty).
        for (name, value) in proto::client::request_headers(record) {
            request = request.header(name, value);
        }
        tracing::debug!(id = %record.id, %url, "fetching");
        let response = request.send().await.map_err(|e| FetchError::from_reqwest(&url, e))?;
        read_payload(&url, &record.id, response, self.max_payload_bytes, self.progress.as_ref()).await
    }
}

impl<C: ?Sized> Fetcher<C> for HttpFetcher {
    fn fetch<'a>(&'a self, record: &'a ImageRecord, _context: &'a C) -> FetchFuture<'a> {
        Box::pin(self.get(record))
    }
}
