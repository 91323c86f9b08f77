//! The reference server in process: 127.0.0.1:0, a temporary data folder, the control
//! interface, and a few calls on it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pixstore_server::config::{Config, FileConfig};
use pixstore_server::Running;
use proto::record::ImageRecord;

/// The tests' configuration: endpoint, control interface and ops listener on 127.0.0.1:0, data
/// in `data`, images up to 4 MiB.
pub fn file_config(data: &Path) -> FileConfig {
    FileConfig {
        default_endpoint_listen_host: Some("127.0.0.1".into()),
        default_endpoint_listen_port: Some(0),
        data_dir: Some(data.to_path_buf()),
        control: Some(true),
        control_listen: Some("127.0.0.1:0".into()),
        ops_listen: Some("127.0.0.1:0".into()),
        max_image_bytes: Some(4 << 20),
        ..FileConfig::default()
    }
}

/// A running reference server with its data folder (removed when dropped).
pub struct TestServer {
    /// The server (taken by [`TestServer::shutdown`]).
    pub running: Option<Running>,
    /// Its data folder.
    pub dir: tempfile::TempDir,
    /// The default endpoint's address.
    pub endpoint: SocketAddr,
    /// The control interface's address.
    pub control: SocketAddr,
    /// An HTTP client for the calls below and the tests' own requests.
    pub client: reqwest::Client,
}

/// `id` percent-encoded as one path segment.
fn segment(id: &str) -> String {
    proto::client::request_target("", id).trim_start_matches('/').to_owned()
}

impl TestServer {
    /// A server with [`file_config`].
    pub async fn start() -> TestServer {
        Self::start_with(|f| f).await
    }

    /// A server with [`file_config`] changed by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(FileConfig) -> FileConfig) -> TestServer {
        Self::start_in(tempfile::tempdir().unwrap(), adjust).await
    }

    /// The same in a data folder the test prepared.
    pub async fn start_in(dir: tempfile::TempDir, adjust: impl FnOnce(FileConfig) -> FileConfig) -> TestServer {
        let config = Config::resolve(adjust(file_config(dir.path()))).unwrap();
        let running = pixstore_server::start(config).await.unwrap();
        let endpoint = running.endpoint.unwrap();
        let control = running.control.unwrap();
        TestServer { running: Some(running), dir, endpoint, control, client: reqwest::Client::new() }
    }

    /// The data folder.
    pub fn data(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// `http://endpoint` + `raw_path` as given.
    pub fn url(&self, raw_path: &str) -> String {
        format!("http://{}{raw_path}", self.endpoint)
    }

    /// The default route's URL of `id`.
    pub fn image_url(&self, id: &str) -> String {
        self.url(&proto::client::request_target(proto::http::DEFAULT_ROUTE, id))
    }

    /// POST /images: a new image's record (CTRL-2).
    pub async fn create(&self, image: &[u8]) -> ImageRecord {
        let r = self.client.post(format!("http://{}/images", self.control)).body(image.to_vec()).send().await.unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        ImageRecord::from_json(&r.bytes().await.unwrap()).unwrap()
    }

    /// PUT /images/{id} (CTRL-3): the answer, whatever it is.
    pub async fn update(&self, id: &str, image: &[u8]) -> reqwest::Response {
        let url = format!("http://{}/images/{}", self.control, segment(id));
        self.client.put(url).body(image.to_vec()).send().await.unwrap()
    }

    /// PUT /images/{id} (CTRL-3), which must succeed: the new record.
    pub async fn update_record(&self, id: &str, image: &[u8]) -> ImageRecord {
        let r = self.update(id, image).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        ImageRecord::from_json(&r.bytes().await.unwrap()).unwrap()
    }

    /// DELETE /images/{id} (CTRL-4), which must succeed.
    pub async fn delete(&self, id: &str) {
        let r = self.client.delete(format!("http://{}/images/{}", self.control, segment(id))).send().await.unwrap();
        assert_eq!(r.status(), 204);
    }

    /// GET /images/{id}/record: a freshly minted record (CTRL-5).
    pub async fn fresh_record(&self, id: &str) -> ImageRecord {
        let url = format!("http://{}/images/{}/record", self.control, segment(id));
        let r = self.client.get(url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        ImageRecord::from_json(&r.bytes().await.unwrap()).unwrap()
    }

    /// GET the image with the record's proof and, if given, a token.
    pub async fn fetch(&self, record: &ImageRecord, token: Option<u64>) -> reqwest::Response {
        let mut req = self.client.get(self.image_url(&record.id)).header("x-pixstore-proof", &record.stateless_proof);
        if let Some(t) = token {
            req = req.header("x-pixstore-token", t.to_string());
        }
        req.send().await.unwrap()
    }

    /// Stops the server: it stops accepting at once, then lets connections finish. hyper's
    /// graceful shutdown also waits for a keep-alive connection that a client opened but never
    /// used (a client's pool may keep one for 90 s), so the wait is bounded (10 s); the
    /// listener is closed either way. The data folder, to look at or start again in.
    pub async fn shutdown(mut self) -> tempfile::TempDir {
        if let Some(r) = self.running.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), r.shutdown()).await;
        }
        self.dir
    }
}
