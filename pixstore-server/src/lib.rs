//! The Pixstore reference server: the backend people run when they need Pixstore for real.
//!
//! - [`service::ImageService`]: save, update, delete, exists, image records and the custom
//!   endpoint helper, over a [`store::Store`] ([`store::FsStore`] by default: atomic, durable,
//!   per-id serialised writes; strictly increasing tokens).
//! - [`endpoint`]: the default endpoint (spec §10) as warp filters, and [`endpoint::answer`] to
//!   serve images behind your own routes and authentication.
//! - [`control`]: the control interface for the conformance suite (spec Appendix A).
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
#[cfg_attr(not(feature = "test-faults"), doc(hidden))]
pub mod faults;
pub mod formats;
pub mod keys;
pub mod metrics;
pub mod net;
pub mod ops;
pub mod service;
pub mod store;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use proto;
use tokio::sync::watch;

use crate::config::{Config, SideListener};
use crate::metrics::Metrics;
use crate::net::ListenerOptions;
use crate::service::{ImageService, ServiceError, ServiceOptions};
use crate::store::FsStore;
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
    pub service: Arc<ImageService<FsStore>>,
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

/// The image service of a configuration (opens the store, loads the keys; creates a first key
/// only in a new data folder, see [`keys::open`]).
pub fn open_service(config: &Config) -> Result<ImageService<FsStore>, ServiceError> {
    let store = FsStore::open(&config.data_dir, config.cache_bytes)?;
    ImageService::new(
        store,
        &config.keys,
        ServiceOptions {
            window: config.window,
            skew_ms: config.skew_ms,
            image_formats: config.image_formats.clone(),
            max_image_bytes: config.max_image_bytes,
            key_policy: keys::KeyPolicy {
                data_dir: Some(config.data_dir.clone()),
                allow_insecure: config.allow_insecure_key_file,
            },
            faults: config.faults,
        },
    )
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
