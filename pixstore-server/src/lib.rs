//! The Pixstore reference server: the backend people run when they need Pixstore for real.
//!
//! - [`service::ImageService`]: save, update, delete, exists, image records and the custom
//!   endpoint helper, over a [`store::Store`] ([`store::FsStore`] by default: atomic, durable,
//!   per-id serialised writes; strictly increasing tokens; [`s3::S3Store`] for many instances
//!   over one S3-compatible bucket), with keys sealed at rest under [`kek`] keys.
//! - [`endpoint`]: the default endpoint (spec §10) as warp filters, and [`endpoint::answer`] to
//!   serve images behind your own routes and authentication.
//! - [`control`]: the admin API for app backends, which is also the control interface of the
//!   conformance suite (spec Appendix A), with bearer-token authentication.
//! - [`keys`]: proof keys persisted in the data folder, shared by restarts and instances.
//! - [`net`]: the connection layer every listener shares (accept loop, limits, HTTP/1.1 and
//!   HTTP/2, the RFC 9112 framing checks, access log), [`tls`] (rustls, reloaded certificates),
//!   [`metrics`] and [`ops`] (`/metrics`, `/livez`, `/readyz`).
//! - [`start`]: everything together, as `pixstore-server serve` runs it.

// The workspace's core/alloc lints serve the no_std protocol crate; this crate is std-only.
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

pub mod config;
pub mod control;
pub mod endpoint;
// Deliberate faults for the suite's self-tests: public only with `test-faults` (the server uses
// them internally, all off, in every build).
#[cfg(feature = "test-faults")]
pub mod faults;
#[cfg(not(feature = "test-faults"))]
#[allow(dead_code, unreachable_pub)] // public with the feature; its parser serves only the feature
pub(crate) mod faults;
pub mod formats;
pub mod kek;
pub mod keys;
pub mod metrics;
pub mod net;
pub mod ops;
pub mod s3;
pub mod sendfile;
pub mod service;
pub mod store;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use proto;
use tokio::sync::watch;

use crate::config::{Config, SideListener, StoreConfig};
use crate::kek::KekError;
use crate::metrics::Metrics;
use crate::net::ListenerOptions;
use crate::service::{ImageService, KeyWrapping, ServiceError, ServiceOptions};
use crate::store::{FsStore, Store as _, StoreBackend, StoreError};
use crate::tls::{TlsConfig, TlsError};

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A listener could not be bound (the port is taken, or the address is not local).
    #[error("cannot listen on {addr} ({what}): {source}. Is another server running there? Pick another address with --port / --control-listen / --ops-listen (or --ops false)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Which listener.
        what: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// The store or the keys could not be opened.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The TLS certificate or key could not be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The store is not usable (the bucket is missing, the credentials are refused, ...).
    #[error("the store is not usable: {0}")]
    Store(StoreError),
    /// The admin API's tokens could not be read.
    #[error(transparent)]
    AdminTokens(#[from] control::AuthError),
}

/// A running server.
#[derive(Debug)]
pub struct Running {
    /// The default endpoint's bound address (when enabled).
    pub endpoint: Option<SocketAddr>,
    /// The control interface's bound address (when enabled).
    pub control: Option<SocketAddr>,
    /// The ops listener's bound address (when enabled).
    pub ops: Option<SocketAddr>,
    /// The service, for in-process use.
    pub service: Arc<ImageService<StoreBackend>>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// The certificate in use, to reload it by hand (when TLS is on).
    pub tls: Option<TlsConfig>,
    shutdown: watch::Sender<bool>,
    grace: Duration,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops accepting connections, lets requests in flight finish for up to the configured
    /// grace period (`shutdownGraceMs`), then closes what is left (an idle keep-alive
    /// connection would otherwise hold the shutdown until the client closes it).
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for mut t in self.tasks {
            // Each listener closes its connections once the grace period is over; this bound
            // only guards against a listener that does not.
            if tokio::time::timeout(self.grace + Duration::from_secs(2), &mut t).await.is_err() {
                t.abort();
            }
        }
    }
}

/// The store of a configuration: the filesystem store in the data folder, or the S3 store
/// (credentials from the AWS variables and files; nothing is sent yet, see [`start`]).
pub fn open_store(config: &Config) -> Result<StoreBackend, ServiceError> {
    match &config.store {
        StoreConfig::Fs => {
            Ok(StoreBackend::Fs(FsStore::open(&config.data_dir, config.cache_bytes)?.with_sendfile(config.sendfile)))
        }
        StoreConfig::S3(location) => {
            let credentials = s3::AwsCredentials::from_environment().map_err(StoreError::Remote)?;
            // The largest version: a wrapped header, the format byte, the image, the GCM tag.
            let max_object = config.max_image_bytes.saturating_add(1024);
            Ok(StoreBackend::S3(s3::S3Store::new(location.clone(), &credentials, config.cache_bytes, max_object)?))
        }
    }
}

/// How keys are kept at rest for this configuration (spec §12.6):
/// - a KEK keyring that exists (file or `PIXSTORE_KEKS`) is used, and new versions are sealed
///   under it unless `wrapKeys = false`;
/// - an S3 store without one is refused unless `wrapKeys = false` (instances share the bucket:
///   a KEK is never made implicitly, `kek init` makes it once);
/// - a filesystem data folder that is new gets a first KEK (as it gets a first proof key); one
///   that holds plaintext images and never had a KEK stays plaintext, with a warning naming the
///   migration (`kek init`, then `rewrap`); one that had KEKs and lost the file is refused.
pub fn key_wrapping(config: &Config) -> Result<KeyWrapping, ServiceError> {
    let allow = config.allow_insecure_key_file;
    let ring = config.keks.load(allow)?;
    let source = Some(config.keks.clone());
    if let Some(ring) = ring {
        return Ok(KeyWrapping::with_ring(ring, source, config.wrap_keys.unwrap_or(true), allow));
    }
    let missing = |why: String| ServiceError::Kek(KekError::Missing { path: config.kek_file.clone(), why });
    if let StoreConfig::S3(location) = &config.store {
        if config.wrap_keys == Some(false) {
            return Ok(KeyWrapping::plain());
        }
        return Err(missing(format!(
            "the S3 store {} seals image keys at rest by default: create the KEK file once with `pixstore-server kek init --kek-file FILE` and give the same file (or its JSON as PIXSTORE_KEKS) to every instance, or set wrapKeys = false to store keys in plaintext",
            location.url()
        )));
    }
    let data_dir = &config.data_dir;
    let issued = kek::issued(data_dir)?;
    if issued > 0 {
        return Err(missing(format!(
            "{} has held key-encryption keys (ids up to {issued}): the images sealed under them cannot be served without it. Restore the file from a backup",
            data_dir.display()
        )));
    }
    if config.wrap_keys == Some(false) {
        return Ok(KeyWrapping::plain());
    }
    if !keys::holds_images(data_dir) {
        let ring = kek::create_first(&config.kek_file, data_dir)?;
        return Ok(KeyWrapping::with_ring(ring, source, true, allow));
    }
    if config.wrap_keys == Some(true) {
        return Err(missing(
            "wrapKeys = true needs a key-encryption key: run `pixstore-server kek init`, then `pixstore-server rewrap` to seal the existing images".into(),
        ));
    }
    tracing::warn!(
        data_dir = %data_dir.display(),
        "images keep their AES keys in plaintext beside their ciphertext (spec 12.6): run `pixstore-server kek init`, restart, then `pixstore-server rewrap` (docs/keys-at-rest.md)"
    );
    Ok(KeyWrapping::plain())
}

/// The image service of a configuration (opens the store, loads the proof keys and the KEKs;
/// creates first keys only in a new data folder, see [`keys::open`] and [`key_wrapping`]).
pub fn open_service(config: &Config) -> Result<ImageService<StoreBackend>, ServiceError> {
    let s3 = matches!(config.store, StoreConfig::S3(_));
    if let (true, keys::KeySource::File(path)) = (s3, &config.keys) {
        if !path.exists() {
            return Err(ServiceError::Keys(keys::KeyError::Missing {
                path: path.clone(),
                why: "instances sharing an S3 store must share their proof keys, so none is created implicitly: run `pixstore-server keys init` once and give the same file (or its JSON as PIXSTORE_PROOF_KEYS) to every instance".into(),
            }));
        }
    }
    let wrapping = key_wrapping(config)?;
    let store = open_store(config)?;
    let service = ImageService::new(
        store,
        &config.keys,
        ServiceOptions {
            window: config.window,
            skew_ms: config.skew_ms,
            image_formats: config.image_formats.clone(),
            max_image_bytes: config.max_image_bytes,
            key_policy: keys::KeyPolicy {
                data_dir: (!s3).then(|| config.data_dir.clone()),
                allow_insecure: config.allow_insecure_key_file,
            },
            faults: config.faults,
        },
    )?;
    Ok(service.with_key_wrapping(wrapping))
}

async fn bind(addr: SocketAddr, what: &'static str) -> Result<(tokio::net::TcpListener, SocketAddr), StartError> {
    let err = |source| StartError::Bind { addr, what, source };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(err)?;
    let local = listener.local_addr().map_err(err)?;
    Ok((listener, local))
}

/// CTRL-1: an unspecified address is advertised as the loopback of its family.
fn url_host(addr: SocketAddr) -> String {
    let host = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_owned(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => "::1".to_owned(),
        ip => ip.to_string(),
    };
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    }
}

/// Starts the default endpoint and (when configured) the control interface and the ops
/// listener.
pub async fn start(config: Config) -> Result<Running, StartError> {
    let service = Arc::new(open_service(&config)?);
    // The bucket (or folder) is checked before anything listens: a missing bucket or refused
    // credentials stop the start with the reason.
    service.store().check().await.map_err(StartError::Store)?;
    let auth = control::Auth::load(&config)?;
    if config.control.is_some() && !auth.enabled() {
        tracing::warn!("the control interface (admin API) takes requests without authentication: any local process can create images and get their keys; set adminTokens or adminTokensFile");
    }
    let metrics = Arc::new(Metrics::new(service.counters(), Some(service.store().cache_counters())));
    let tls = config.tls.as_ref().map(TlsConfig::new).transpose()?;
    let (tx, rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let options = |name: &'static str, tls_on: bool| ListenerOptions {
        name,
        limits: config.limits,
        tls: if tls_on { tls.clone() } else { None },
        metrics: Some(metrics.clone()),
        access_log: config.access_log,
        grace: config.shutdown_grace,
    };
    if let Some(t) = &tls {
        tasks.push(tokio::spawn(t.clone().follow(rx.clone())));
    }

    let mut endpoint = None;
    if config.default_endpoint_enabled {
        let (listener, addr) = bind(config.listen, "default endpoint").await?;
        let app = endpoint::EndpointApp::new(service.clone(), config.route.clone(), &config.allow_origin);
        tasks.push(tokio::spawn(net::serve(listener, app, options("endpoint", tls.is_some()), rx.clone())));
        tracing::info!(%addr, route = %config.route, tls = tls.is_some(), "default endpoint listening");
        endpoint = Some(addr);
    }

    let mut control = None;
    if let Some(SideListener { addr: control_addr, tls: control_tls }) = config.control {
        let (listener, addr) = bind(control_addr, "control interface").await?;
        let endpoint_url = match endpoint {
            Some(e) => {
                let scheme = if tls.is_some() { "https" } else { "http" };
                format!("{scheme}://{}:{}{}", url_host(e), e.port(), config.route)
            }
            None => String::new(),
        };
        let info = control::Info {
            endpoint: endpoint_url,
            window_ms: config.window.to_config(),
            skew_ms: config.skew_ms,
            allow_origin: config.allow_origin.clone(),
            test_clock: config.test_clock,
            auth: auth.clone(),
        };
        let routes =
            control::routes(service.clone(), info, format!("pixstore pixstore-server {}", env!("CARGO_PKG_VERSION")));
        tasks.push(tokio::spawn(net::serve(
            listener,
            control::app(routes),
            options("control", control_tls),
            rx.clone(),
        )));
        tracing::info!(%addr, tls = control_tls, "control interface listening");
        control = Some(addr);
    }

    let mut ops = None;
    if let Some(SideListener { addr: ops_addr, tls: ops_tls }) = config.ops {
        let (listener, addr) = bind(ops_addr, "ops listener").await?;
        let app = ops::OpsApp::new(service.clone(), metrics.clone());
        tasks.push(tokio::spawn(net::serve(listener, app, options("ops", ops_tls), rx.clone())));
        tracing::info!(%addr, tls = ops_tls, "ops listener (/metrics, /livez, /readyz)");
        ops = Some(addr);
    }

    Ok(Running { endpoint, control, ops, service, metrics, tls, shutdown: tx, grace: config.shutdown_grace, tasks })
}
