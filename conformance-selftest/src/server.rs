//! The reference server in-process for the self-tests: 127.0.0.1:0, a temporary data folder, a
//! control interface, and an inline keyring whose secret the tests know (so the mutating proxy
//! can verify and mint proofs as the server does).

use std::net::SocketAddr;

use base64::Engine as _;
use pixstore_server::config::{Config, FileConfig};
use pixstore_server::faults::Faults;
use pixstore_server::Running;
use proto::proof::{Keyring, Window};

/// The proof key of every self-test server: test-only, never a deployment's.
pub const TEST_PROOF_SECRET: [u8; 32] = *b"pixstore-selftest-only-proof-key";
/// Its key id.
pub const TEST_KID: u32 = 7;

/// How to configure the server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// W (ms), or -1.
    pub window_ms: i64,
    /// The verifier's skew (ms).
    pub skew_ms: u64,
    /// `accessControlAllowOrigin` (default `*`).
    pub allow_origin: Option<String>,
    /// Fault switches.
    pub faults: Faults,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions { window_ms: 20_000, skew_ms: 5_000, allow_origin: None, faults: Faults::default() }
    }
}

/// A running server and what a proxy needs to imitate it.
#[derive(Debug)]
pub struct Server {
    /// The server.
    pub running: Running,
    /// The default endpoint's address.
    pub endpoint: SocketAddr,
    /// The control interface's address.
    pub control: SocketAddr,
    /// Its keyring.
    pub ring: Keyring,
    /// Its window.
    pub window: Window,
    /// Its skew.
    pub skew_ms: u64,
    _dir: tempfile::TempDir,
}

/// The keyring of [`TEST_PROOF_SECRET`].
pub fn test_keyring() -> Result<Keyring, String> {
    let mut ring = Keyring::new();
    ring.insert(TEST_KID, TEST_PROOF_SECRET).map_err(|e| e.to_string())?;
    ring.set_signing(TEST_KID).map_err(|e| e.to_string())?;
    Ok(ring)
}

/// The key file JSON of [`TEST_PROOF_SECRET`] (`proofKeys`, `PIXSTORE_PROOF_KEYS`).
pub fn test_keys_json() -> String {
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(TEST_PROOF_SECRET);
    serde_json::json!({ "signing": TEST_KID, "keys": [{ "kid": TEST_KID, "secret": secret }] }).to_string()
}

/// Starts a server.
pub async fn start(options: &ServerOptions) -> Result<Server, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot create a data folder: {e}"))?;
    let config = Config::resolve(FileConfig {
        default_endpoint_listen_host: Some("127.0.0.1".into()),
        default_endpoint_listen_port: Some(0),
        data_dir: Some(dir.path().to_path_buf()),
        stateless_key_window_length: Some(options.window_ms),
        proof_skew_ms: Some(options.skew_ms),
        access_control_allow_origin: options.allow_origin.clone(),
        proof_keys: Some(test_keys_json()),
        control: Some(true),
        control_listen: Some("127.0.0.1:0".into()),
        ops_enabled: Some(false),
        max_image_bytes: Some(8 << 20),
        ..FileConfig::default()
    })
    .map_err(|e| e.to_string())?
    .with_faults(options.faults);
    let window = config.window;
    let running = pixstore_server::start(config).await.map_err(|e| e.to_string())?;
    let endpoint = running.endpoint.ok_or("the server serves no endpoint")?;
    let control = running.control.ok_or("the server serves no control interface")?;
    Ok(Server { running, endpoint, control, ring: test_keyring()?, window, skew_ms: options.skew_ms, _dir: dir })
}

impl Server {
    /// Stops it.
    pub async fn shutdown(self) {
        self.running.shutdown().await;
    }
}
