//! HTTPS with rustls: a certificate chain and key from PEM files, offered by ALPN as `h2` and
//! `http/1.1`, and reloaded without a restart when either file changes (checked every
//! [`RELOAD_CHECK`]) or the process receives SIGHUP. A reload that fails (a half-written file,
//! a key that does not match) keeps the certificate in use and logs why.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::crypto::ring::default_provider;
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::config::TlsFiles;

/// How often the certificate files are checked for changes.
pub const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// Why a certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read or holds no usable PEM item.
    #[error("TLS file {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// rustls refused the certificate or key.
    #[error("TLS certificate {cert} with key {key}: {source}. Check that the key belongs to the certificate")]
    Rustls {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        source: rustls::Error,
    },
}

/// A rustls server configuration whose certificate follows its files.
#[derive(Clone)]
pub struct TlsConfig {
    acceptor: TlsAcceptor,
    resolver: Arc<Reloading>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig").field("files", &self.resolver.files).finish()
    }
}

type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

struct Reloading {
    files: TlsFiles,
    current: RwLock<Arc<CertifiedKey>>,
    stamps: std::sync::Mutex<(Stamp, Stamp)>,
}

impl std::fmt::Debug for Reloading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloading").field("files", &self.files).finish()
    }
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().map_or_else(|p| p.into_inner().clone(), |g| g.clone()))
    }
}

fn load(files: &TlsFiles) -> Result<CertifiedKey, TlsError> {
    let file_err = |path: &Path, message: String| TlsError::File { path: path.into(), message };
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| file_err(&files.cert, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(&files.cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(file_err(&files.cert, "no CERTIFICATE in the file (expected PEM)".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| file_err(&files.key, e.to_string()))?;
    let rustls_err = |source| TlsError::Rustls { cert: files.cert.clone(), key: files.key.clone(), source };
    let signer = default_provider().key_provider.load_private_key(key).map_err(rustls_err)?;
    let certified = CertifiedKey::new(certs, signer);
    certified.keys_match().map_err(rustls_err)?;
    Ok(certified)
}

impl TlsConfig {
    /// Loads the files (an error names the file and what is wrong).
    pub fn new(files: &TlsFiles) -> Result<TlsConfig, TlsError> {
        let stamps = (stamp(&files.cert), stamp(&files.key));
        let resolver = Arc::new(Reloading {
            current: RwLock::new(Arc::new(load(files)?)),
            files: files.clone(),
            stamps: std::sync::Mutex::new(stamps),
        });
        let mut config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|source| TlsError::Rustls { cert: files.cert.clone(), key: files.key.clone(), source })?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsConfig { acceptor: TlsAcceptor::from(Arc::new(config)), resolver })
    }

    /// The acceptor for new connections.
    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// Re-reads the files; with `only_if_changed`, only when their size or mtime changed.
    /// Whether a new certificate is in use.
    pub fn reload(&self, only_if_changed: bool) -> Result<bool, TlsError> {
        let files = &self.resolver.files;
        let now = (stamp(&files.cert), stamp(&files.key));
        if only_if_changed && self.resolver.stamps.lock().is_ok_and(|s| *s == now) {
            return Ok(false);
        }
        // Remember the stamps first: a broken file is reported once, not every second.
        if let Ok(mut s) = self.resolver.stamps.lock() {
            *s = now;
        }
        let key = load(files)?;
        if let Ok(mut current) = self.resolver.current.write() {
            *current = Arc::new(key);
        }
        Ok(true)
    }

    /// Follows the files until `stop` turns true: every [`RELOAD_CHECK`], and on SIGHUP.
    ///
    /// The SIGHUP handler is installed when this is called, not when the future first runs: a
    /// SIGHUP sent as soon as the server says it listens reloads instead of ending the process
    /// (SIGHUP's default action). Call it inside a Tokio runtime.
    pub fn follow(self, stop: tokio::sync::watch::Receiver<bool>) -> impl std::future::Future<Output = ()> + Send {
        #[cfg(unix)]
        let hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        #[cfg(unix)]
        return self.follow_with(stop, hup);
        #[cfg(not(unix))]
        return self.follow_with(stop);
    }

    async fn follow_with(
        self,
        mut stop: tokio::sync::watch::Receiver<bool>,
        #[cfg(unix)] mut hup: Option<tokio::signal::unix::Signal>,
    ) {
        loop {
            #[cfg(unix)]
            let hangup = async {
                match hup.as_mut() {
                    Some(h) => {
                        h.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let hangup = std::future::pending::<()>();
            let forced = tokio::select! {
                _ = tokio::time::sleep(RELOAD_CHECK) => false,
                _ = hangup => true,
                _ = stop.wait_for(|s| *s) => return,
            };
            match self.reload(!forced) {
                Ok(true) => {
                    tracing::info!(cert = %self.resolver.files.cert.display(), sighup = forced, "TLS certificate reloaded")
                }
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "TLS certificate not reloaded; the previous one stays in use"),
            }
        }
    }
}
