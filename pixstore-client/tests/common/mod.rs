//! Shared helpers of the client's integration tests: test-support's reference server (on
//! 127.0.0.1:0 with its control interface) and images, clients for it, and fetchers that count,
//! record or tamper.
#![allow(
    dead_code,
    unused_imports,
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

use std::ops::Deref;
use std::path::PathBuf;
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
pub use test_support::{files, jpeg, png, webp};

/// test-support's reference server (everything it has, through `Deref`) with what the client's
/// tests add: clients configured for it, `update` that returns the new record.
pub struct TestServer(pub test_support::TestServer);

impl Deref for TestServer {
    type Target = test_support::TestServer;
    fn deref(&self) -> &test_support::TestServer {
        &self.0
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer(test_support::TestServer::start().await)
    }

    /// PUT /images/{id}: the new record (CTRL-3).
    pub async fn update(&self, id: &str, image: &[u8]) -> ImageRecord {
        self.0.update_record(id, image).await
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

    /// Stops the server (see test-support's `TestServer::shutdown`).
    pub async fn shutdown(self) -> tempfile::TempDir {
        self.0.shutdown().await
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

/// The cache's listing (id, token, length) for before/after comparisons (last use excluded).
pub async fn listing(cache: &dyn Cache) -> Vec<(String, u64, u64)> {
    cache.list().await.unwrap().into_iter().map(|e| (e.id, e.token.get(), e.len)).collect()
}
