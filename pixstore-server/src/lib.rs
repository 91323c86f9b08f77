//! The Pixstore reference server: the backend people run when they need Pixstore for real.
//!
//! - [`service::ImageService`]: save, update, delete, exists, image records and the custom
//!   endpoint helper, over a [`store::Store`] ([`store::FsStore`] by default: atomic, durable,
//!   per-id serialised writes; strictly increasing tokens).
//! - [`endpoint`]: the default endpoint (spec §10) as warp filters, and [`endpoint::answer`] to
//!   serve images behind your own routes and authentication.
//! - [`control`]: the control interface for the conformance suite (spec Appendix A).
//! - [`keys`]: proof keys persisted in the data folder, shared by restarts and instances.
//! - [`start`]: everything together, as `pixstore-server serve` runs it.

// The workspace's core/alloc lints serve the no_std protocol crate; this crate is std-only.
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

pub mod config;
pub mod control;
pub mod endpoint;
pub mod faults;
pub mod formats;
pub mod keys;
pub mod service;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;

pub use proto;
use tokio::sync::watch;

use crate::config::Config;
use crate::service::{ImageService, ServiceError, ServiceOptions};
use crate::store::FsStore;

/// How long a shutdown waits for requests in flight.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A listener could not be bound (the port is taken, or the address is not local).
    #[error("cannot listen on {addr} ({what}): {source}. Is another server running there? Pick another port with --port / --control-listen")]
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
}

/// A running server.
#[derive(Debug)]
pub struct Running {
    /// The default endpoint's bound address (when enabled).
    pub endpoint: Option<SocketAddr>,
    /// The control interface's bound address (when enabled).
    pub control: Option<SocketAddr>,
    /// The service, for in-process use.
    pub service: Arc<ImageService<FsStore>>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops accepting connections, lets requests in flight finish for up to
    /// [`SHUTDOWN_GRACE`], then closes what is left (an idle keep-alive connection would
    /// otherwise hold the shutdown until the client closes it).
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for mut t in self.tasks {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut t).await.is_err() {
                tracing::warn!("connections still open after {} s: closing them", SHUTDOWN_GRACE.as_secs());
                t.abort();
            }
        }
    }
}

/// The image service of a configuration (opens the store, loads or creates the keys).
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
            faults: config.faults,
        },
    )
}

async fn bind(addr: SocketAddr, what: &'static str) -> Result<tokio::net::TcpListener, StartError> {
    tokio::net::TcpListener::bind(addr).await.map_err(|source| StartError::Bind { addr, what, source })
}

/// Starts the default endpoint and (when configured) the control interface.
pub async fn start(config: Config) -> Result<Running, StartError> {
    let service = Arc::new(open_service(&config)?);
    let (tx, rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let signal = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };

    let mut endpoint = None;
    if config.default_endpoint_enabled {
        let listener = bind(config.listen, "default endpoint").await?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            what: "default endpoint",
            source,
        })?;
        let routes = endpoint::default_endpoint(service.clone(), config.route.clone(), config.allow_origin.clone());
        let server = warp::serve(routes).serve_incoming_with_graceful_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            signal(rx.clone()),
        );
        tasks.push(tokio::spawn(server));
        tracing::info!(%addr, route = %config.route, "default endpoint listening");
        endpoint = Some(addr);
    }

    let mut control = None;
    if let Some(control_addr) = config.control {
        let listener = bind(control_addr, "control interface").await?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: control_addr,
            what: "control interface",
            source,
        })?;
        let endpoint_url = match endpoint {
            Some(e) => {
                // CTRL-1: an unspecified address is advertised as the loopback of its family.
                let host = match e.ip() {
                    std::net::IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_owned(),
                    std::net::IpAddr::V6(ip) if ip.is_unspecified() => "::1".to_owned(),
                    ip => ip.to_string(),
                };
                let host = if host.contains(':') { format!("[{host}]") } else { host };
                format!("http://{host}:{}{}", e.port(), config.route)
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
        let server = warp::serve(routes).serve_incoming_with_graceful_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            signal(rx.clone()),
        );
        tasks.push(tokio::spawn(server));
        tracing::info!(%addr, "control interface listening");
        control = Some(addr);
    }

    Ok(Running { endpoint, control, service, shutdown: tx, tasks })
}
