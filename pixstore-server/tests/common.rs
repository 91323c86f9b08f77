//! Shared helpers of the server's integration tests: a server on 127.0.0.1:0 with a temporary
//! data folder, images, and a client that decodes and decrypts what it gets.
#![allow(
    dead_code,
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc, clippy::as_conversions)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use pixstore_server::config::{Config, FileConfig};
use pixstore_server::Running;
use proto::envelope::{self, Ring};
use proto::record::ImageRecord;
use proto::wire::{Payload, PayloadRef};

/// A PNG-signed image of `len` bytes whose content is derived from `seed` (validation is by magic
/// bytes, so the rest need not be a decodable PNG).
pub fn png(len: usize, seed: u64) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(x as u8);
    }
    v.truncate(len.max(17));
    v
}

pub struct TestServer {
    pub running: Option<Running>,
    pub dir: tempfile::TempDir,
    pub endpoint: SocketAddr,
    pub control: SocketAddr,
    pub client: reqwest::Client,
}

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

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|f| f).await
    }

    pub async fn start_with(adjust: impl FnOnce(FileConfig) -> FileConfig) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, adjust).await
    }

    pub async fn start_in(dir: tempfile::TempDir, adjust: impl FnOnce(FileConfig) -> FileConfig) -> TestServer {
        let config = Config::resolve(adjust(file_config(dir.path()))).unwrap();
        let running = pixstore_server::start(config).await.unwrap();
        let endpoint = running.endpoint.unwrap();
        let control = running.control.unwrap();
        TestServer { running: Some(running), dir, endpoint, control, client: reqwest::Client::new() }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub fn url(&self, raw_path: &str) -> String {
        format!("http://{}{raw_path}", self.endpoint)
    }

    pub fn image_url(&self, id: &str) -> String {
        self.url(&proto::client::request_target(proto::http::DEFAULT_ROUTE, id))
    }

    pub async fn create(&self, image: &[u8]) -> ImageRecord {
        let r = self.client.post(format!("http://{}/images", self.control)).body(image.to_vec()).send().await.unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        ImageRecord::from_json(&r.bytes().await.unwrap()).unwrap()
    }

    pub async fn update(&self, id: &str, image: &[u8]) -> reqwest::Response {
        let url =
            format!("http://{}/images/{}", self.control, proto::client::request_target("", id).trim_start_matches('/'));
        self.client.put(url).body(image.to_vec()).send().await.unwrap()
    }

    pub async fn fresh_record(&self, id: &str) -> ImageRecord {
        let url = format!(
            "http://{}/images/{}/record",
            self.control,
            proto::client::request_target("", id).trim_start_matches('/')
        );
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

    pub async fn shutdown(mut self) -> tempfile::TempDir {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
        self.dir
    }
}

/// Decodes a payload and decrypts it with the record's meta (Success) or the payload's
/// (Updated); the image bytes and the token of the version.
pub fn open(record: &ImageRecord, body: &[u8]) -> Result<(Vec<u8>, u64), String> {
    let p = PayloadRef::decode(body).map_err(|e| e.to_string())?;
    let (meta, token) = match &p {
        Payload::Success { .. } => (record.meta, record.token.get()),
        Payload::Updated { meta, token, .. } => (*meta, token.get()),
        other => return Err(format!("state {}", other.state())),
    };
    let ct = p.ciphertext().unwrap();
    let o = envelope::open(&Ring, &meta.key, &meta.iv, &meta.tag, ct).map_err(|e| e.to_string())?;
    Ok((o.image().to_vec(), token))
}

/// Every file under `dir` with its content, sorted (what is stored).
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push((e.path(), std::fs::read(e.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// One HTTP/1.1 request with the target exactly as given (URL libraries normalise `..` and
/// `%2e%2e`, which is what an attacker would not do). Returns status and body.
pub async fn raw_get(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> (u16, Vec<u8>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    stream.read_to_end(&mut resp).await.unwrap();
    let split = resp.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete HTTP response");
    let head = String::from_utf8_lossy(&resp[..split]).to_string();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    let body = resp[split + 4..].to_vec();
    // Bodies here are short and sent with Content-Length (never chunked).
    (status, body)
}
