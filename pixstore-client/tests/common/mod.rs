//! Shared helpers of the client's integration tests: a reference server on 127.0.0.1:0 with its
//! control interface, test images, clients, and fetchers that count, record or tamper.
#![allow(
    dead_code,
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::as_conversions
)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use pixstore_client::cache::{Cache, DirCache};
use pixstore_client::config::{ClientConfig, ClientOptions};
use pixstore_client::fetcher::{FetchFuture, Fetcher, HttpFetcher};
use pixstore_client::proto::envelope::Meta;
use pixstore_client::proto::record::ImageRecord;
use pixstore_client::proto::wire::{Payload, PayloadRef};
use pixstore_client::Client;
use pixstore_server::config::{Config, FileConfig};
use pixstore_server::Running;

/// A PNG-signed image of `len` bytes derived from `seed` (the server checks magic bytes only).
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
    pub http: reqwest::Client,
}

fn pct(id: &str) -> String {
    pixstore_client::proto::client::request_target("", id).trim_start_matches('/').to_owned()
}

impl TestServer {
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::resolve(FileConfig {
            default_endpoint_listen_host: Some("127.0.0.1".into()),
            default_endpoint_listen_port: Some(0),
            data_dir: Some(dir.path().to_path_buf()),
            control: Some(true),
            control_listen: Some("127.0.0.1:0".into()),
            ops_listen: Some("127.0.0.1:0".into()),
            max_image_bytes: Some(4 << 20),
            ..FileConfig::default()
        })
        .unwrap();
        let running = pixstore_server::start(config).await.unwrap();
        let endpoint = running.endpoint.unwrap();
        let control = running.control.unwrap();
        TestServer { running: Some(running), dir, endpoint, control, http: reqwest::Client::new() }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// POST /images: a new image's record (CTRL-2).
    pub async fn create(&self, image: &[u8]) -> ImageRecord {
        let r = self.http.post(format!("http://{}/images", self.control)).body(image.to_vec()).send().await.unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        ImageRecord::from_json(&r.bytes().await.unwrap()).unwrap()
    }

    /// PUT /images/{id}: the new record (CTRL-3).
    pub async fn update(&self, id: &str, image: &[u8]) -> ImageRecord {
        let url = format!("http://{}/images/{}", self.control, pct(id));
        let r = self.http.put(url).body(image.to_vec()).send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        ImageRecord::from_json(&r.bytes().await.unwrap()).unwrap()
    }

    /// DELETE /images/{id} (CTRL-4).
    pub async fn delete(&self, id: &str) {
        let r = self.http.delete(format!("http://{}/images/{}", self.control, pct(id))).send().await.unwrap();
        assert_eq!(r.status(), 204);
    }

    /// The stored file of `id` (to damage it).
    pub fn stored_path(&self, id: &str) -> PathBuf {
        self.running.as_ref().unwrap().service.store().fs().unwrap().path_of(id).unwrap()
    }

    pub fn config(&self) -> ClientConfig {
        ClientOptions {
            default_endpoint_connect_host: Some("127.0.0.1".into()),
            default_endpoint_connect_port: Some(i64::from(self.endpoint.port())),
            ..ClientOptions::default()
        }
        .resolve()
        .unwrap()
    }

    pub fn fetcher(&self) -> HttpFetcher {
        HttpFetcher::new(&self.config()).unwrap()
    }

    /// A client with the default fetcher and `cache`.
    pub fn client(&self, cache: impl Cache + 'static) -> Client {
        Client::builder().config(self.config()).cache(cache).build().unwrap()
    }

    /// A client with `fetcher` and `cache`.
    pub fn client_with<C: ?Sized + Sync + 'static>(
        &self,
        fetcher: impl Fetcher<C> + 'static,
        cache: impl Cache + 'static,
    ) -> Client<C> {
        Client::builder().config(self.config()).fetcher(fetcher).cache(cache).build().unwrap()
    }

    /// Stops the server: it stops accepting at once, then lets connections finish. hyper's
    /// graceful shutdown also waits for a keep-alive connection that a client opened but never
    /// used (its pool may keep one for 90 s), so the wait is bounded here; the listener is
    /// closed either way.
    pub async fn shutdown(mut self) -> tempfile::TempDir {
        if let Some(r) = self.running.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), r.shutdown()).await;
        }
        self.dir
    }
}

/// A persistent cache in a fresh temporary folder.
pub fn dir_cache() -> (tempfile::TempDir, DirCache) {
    let dir = tempfile::tempdir().unwrap();
    let cache = DirCache::open(dir.path().join("cache")).unwrap();
    (dir, cache)
}

/// Counts the calls to the wrapped fetcher, optionally after a delay (to make calls overlap).
pub struct Counting<F> {
    pub inner: F,
    pub calls: Arc<AtomicUsize>,
    pub delay: Duration,
}

impl<F> Counting<F> {
    pub fn new(inner: F, delay: Duration) -> (Counting<F>, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        (Counting { inner, calls: calls.clone(), delay }, calls)
    }
}

impl<C: ?Sized + Sync, F: Fetcher<C>> Fetcher<C> for Counting<F> {
    fn fetch<'a>(&'a self, record: &'a ImageRecord, context: &'a C) -> FetchFuture<'a> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            self.inner.fetch(record, context).await
        })
    }
}

/// Passes every answer through `edit` (and keeps a copy of what the endpoint sent).
pub struct Tamper<F> {
    pub inner: F,
    pub edit: Box<dyn Fn(Vec<u8>) -> Vec<u8> + Send + Sync>,
    pub seen: Arc<Mutex<Vec<Bytes>>>,
}

impl<F> Tamper<F> {
    pub fn new(
        inner: F,
        edit: impl Fn(Vec<u8>) -> Vec<u8> + Send + Sync + 'static,
    ) -> (Tamper<F>, Arc<Mutex<Vec<Bytes>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        (Tamper { inner, edit: Box::new(edit), seen: seen.clone() }, seen)
    }
}

impl<C: ?Sized + Sync, F: Fetcher<C>> Fetcher<C> for Tamper<F> {
    fn fetch<'a>(&'a self, record: &'a ImageRecord, context: &'a C) -> FetchFuture<'a> {
        Box::pin(async move {
            let body = self.inner.fetch(record, context).await?;
            self.seen.lock().unwrap().push(body.clone());
            Ok(Bytes::from((self.edit)(body.to_vec())))
        })
    }
}

/// Answers fixed bytes, whatever the record.
pub struct Fixed(pub Vec<u8>);

impl<C: ?Sized + Sync> Fetcher<C> for Fixed {
    fn fetch<'a>(&'a self, _: &'a ImageRecord, _: &'a C) -> FetchFuture<'a> {
        let body = Bytes::from(self.0.clone());
        Box::pin(async move { Ok(body) })
    }
}

/// The meta of an Updated payload.
pub fn updated_meta(body: &[u8]) -> Option<Meta> {
    match PayloadRef::decode(body) {
        Ok(p @ Payload::Updated { .. }) => p.meta().copied(),
        _ => None,
    }
}

/// Every regular file under `dir` with its content, sorted by path.
pub fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
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

/// The cache's listing (id, token, length) for before/after comparisons (last use excluded).
pub async fn listing(cache: &dyn Cache) -> Vec<(String, u64, u64)> {
    cache.list().await.unwrap().into_iter().map(|e| (e.id, e.token.get(), e.len)).collect()
}
