//! The reference server the suite starts when it is given no target (feature `reference`):
//! 127.0.0.1:0, a temporary data folder, a control interface with the clock feature (CTRL-8),
//! so the timing checks are exact and quick at the default window.

use pixstore_server::config::{Config, FileConfig};
use pixstore_server::Running;

/// The window the suite gives the reference server it starts (ms).
pub const WINDOW_MS: i64 = 20_000;

/// A running reference server and its data folder (deleted on drop).
#[derive(Debug)]
pub struct Reference {
    /// The server.
    pub running: Running,
    /// `http://127.0.0.1:PORT/pixstore-image`.
    pub endpoint: String,
    /// `http://127.0.0.1:PORT`.
    pub control: String,
    _dir: tempfile::TempDir,
}

/// The configuration of the suite's reference server, adjusted by `adjust` (tests use it to
/// switch on faults).
pub fn config(dir: &std::path::Path) -> Result<Config, String> {
    Config::resolve(FileConfig {
        default_endpoint_listen_host: Some("127.0.0.1".into()),
        default_endpoint_listen_port: Some(0),
        data_dir: Some(dir.to_path_buf()),
        stateless_key_window_length: Some(WINDOW_MS),
        proof_skew_ms: Some(5_000),
        control: Some(true),
        control_listen: Some("127.0.0.1:0".into()),
        ops_enabled: Some(false),
        max_image_bytes: Some(8 << 20),
        image_formats: Some(vec!["png".into(), "webp".into(), "jpg".into(), "jpeg".into()]),
        ..FileConfig::default()
    })
    .map_err(|e| e.to_string())
}

/// Starts the reference server with `config` (see [`config`]).
pub async fn start_with(dir: tempfile::TempDir, config: Config) -> Result<Reference, String> {
    let running = pixstore_server::start(config).await.map_err(|e| e.to_string())?;
    let endpoint = running.endpoint.ok_or("the reference server serves no endpoint")?;
    let control = running.control.ok_or("the reference server serves no control interface")?;
    Ok(Reference {
        endpoint: format!("http://{endpoint}/pixstore-image"),
        control: format!("http://{control}"),
        running,
        _dir: dir,
    })
}

impl Reference {
    /// Stops the server.
    pub async fn shutdown(self) {
        self.running.shutdown().await;
    }
}

/// Starts the suite's reference server.
pub async fn start() -> Result<Reference, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot create a data folder: {e}"))?;
    let config = config(dir.path())?;
    start_with(dir, config).await
}
