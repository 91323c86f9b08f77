//! The cache stores: what an entry holds (never a key, IV or tag), LRU arithmetic at the
//! boundaries, concurrent writers, and robustness to errors.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::as_conversions
)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{dir_cache, files, png, Tamper, TestServer};
use pixstore_client::cache::{Cache, DirCache, MemoryCache};
use pixstore_client::proto::client::{CacheEntry, CacheLimits};
use pixstore_client::proto::envelope::Meta;
use pixstore_client::proto::token::Token;
use pixstore_client::proto::wire::State;
use pixstore_client::{Client, Source};

fn entry(id: &str, token: u64, last_used_ms: u64) -> CacheEntry<Vec<u8>> {
    CacheEntry {
        id: id.to_owned(),
        ciphertext: format!("ct-{id}-{token}").into_bytes(),
        token: Token::new(token).unwrap(),
        last_used_ms,
    }
}

async fn ids(cache: &dyn Cache) -> Vec<String> {
    let mut v: Vec<String> = cache.list().await.unwrap().into_iter().map(|e| e.id).collect();
    v.sort();
    v
}

fn names(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}

/// CLIENT-6 and CLIENT-7 on one store: eviction at the limit, to limit - batch, LRU first.
async fn lru_boundaries(make: &dyn Fn() -> Box<dyn Cache>) {
    // limit 5, batch 2: five entries stay; the sixth evicts 3 (6 - (5 - 2)), the oldest.
    let c = make();
    let l = CacheLimits::new(5, 2).unwrap();
    for (i, id) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        c.put(entry(id, 1, 100 + i as u64), l).await.unwrap();
    }
    assert_eq!(ids(c.as_ref()).await, names(&["a", "b", "c", "d", "e"]));
    // Replacing an entry does not add one.
    c.put(entry("a", 2, 105), l).await.unwrap();
    assert_eq!(c.list().await.unwrap().len(), 5);
    c.put(entry("f", 1, 106), l).await.unwrap();
    // b (101), c (102), d (103) were the least recently used; a was refreshed at 105.
    assert_eq!(ids(c.as_ref()).await, names(&["a", "e", "f"]));
    // CLIENT-7: a hit on e makes a the oldest.
    c.touch("e", 200).await.unwrap();
    c.put(entry("g", 1, 107), l).await.unwrap();
    c.put(entry("h", 1, 108), l).await.unwrap();
    assert_eq!(c.list().await.unwrap().len(), 5);
    c.put(entry("i", 1, 109), l).await.unwrap();
    assert_eq!(ids(c.as_ref()).await, names(&["e", "h", "i"]));
    // Entries keep what was put: id, exact ciphertext, token, last use.
    let e = c.get("e").await.unwrap().unwrap();
    assert_eq!((e.id.as_str(), e.ciphertext.as_ref(), e.token.get(), e.last_used_ms), ("e", &b"ct-e-1"[..], 1, 200));

    // batch 0: every insertion beyond the limit evicts exactly one.
    let c = make();
    let l = CacheLimits::new(3, 0).unwrap();
    for (i, id) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        c.put(entry(id, 1, i as u64), l).await.unwrap();
        assert_eq!(c.list().await.unwrap().len(), (i + 1).min(3));
    }
    assert_eq!(ids(c.as_ref()).await, names(&["c", "d", "e"]));

    // limit 1, batch 0: only the newest.
    let c = make();
    let l = CacheLimits::new(1, 0).unwrap();
    c.put(entry("a", 1, 1), l).await.unwrap();
    c.put(entry("b", 1, 2), l).await.unwrap();
    assert_eq!(ids(c.as_ref()).await, names(&["b"]));

    // limit 5, batch 4: over the limit, one entry is left (the newest).
    let c = make();
    let l = CacheLimits::new(5, 4).unwrap();
    for i in 0..6u64 {
        c.put(entry(&format!("x{i}"), 1, i), l).await.unwrap();
    }
    assert_eq!(ids(c.as_ref()).await, names(&["x5"]));

    // The default 1000/50: the 1001st entry evicts 51, leaving 950; the cache then grows to
    // 1000 again without evicting, and the next one brings it back to 950.
    let c = make();
    let l = CacheLimits::default();
    for i in 0..1000u64 {
        c.put(entry(&format!("n{i:04}"), 1, i), l).await.unwrap();
    }
    assert_eq!(c.list().await.unwrap().len(), 1000);
    c.put(entry("n1000", 1, 1000), l).await.unwrap();
    let left = c.list().await.unwrap();
    assert_eq!(left.len(), 950);
    assert_eq!(left[0].id, "n0051", "the 51 least recently used went");
    for i in 1001..1051u64 {
        c.put(entry(&format!("n{i:04}"), 1, i), l).await.unwrap();
    }
    assert_eq!(c.list().await.unwrap().len(), 1000);
    c.put(entry("n1051", 1, 1051), l).await.unwrap();
    assert_eq!(c.list().await.unwrap().len(), 950);
}

// CLIENT-6, CLIENT-7
#[tokio::test]
async fn lru_arithmetic_at_the_boundaries_memory() {
    lru_boundaries(&|| Box::new(MemoryCache::new())).await;
}

// CLIENT-6, CLIENT-7
#[tokio::test]
async fn lru_arithmetic_at_the_boundaries_dir() {
    let dir = tempfile::tempdir().unwrap();
    let n = std::sync::atomic::AtomicUsize::new(0);
    lru_boundaries(&|| {
        let k = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::new(DirCache::open(dir.path().join(k.to_string())).unwrap())
    })
    .await;
}

// CLIENT-2: fetch images through the Success and the Updated paths, then scan every byte of
// every file in the cache directory for the key, IV and tag of each version seen (from the
// records and from the Updated payloads): none may appear.
#[tokio::test]
async fn cache_files_hold_no_key_iv_or_tag() {
    let s = TestServer::start().await;
    let (dir, cache) = dir_cache();
    let root = cache.root().to_path_buf();
    let (fetcher, seen) = Tamper::new(s.fetcher(), |b| b);
    let client = s.client_with(fetcher, cache);
    let mut metas: Vec<Meta> = Vec::new();
    let mut expected_entries = Vec::new();
    for i in 0..4u64 {
        let image = png(3000 + 100 * i as usize, 100 + i);
        let r1 = s.create(&image).await;
        metas.push(r1.meta);
        // Success path.
        let got = client.get_image(&r1, &()).await.unwrap();
        assert_eq!(got.source(), Source::Network(State::Success));
        // Updated path: the old record after an update (with the old version no longer cached,
        // since the old record would hit it, CLIENT-1).
        let v2 = png(2000 + 50 * i as usize, 200 + i);
        let r2 = s.update(&r1.id, &v2).await;
        metas.push(r2.meta);
        assert_eq!(client.get_image(&r1, &()).await.unwrap().source(), Source::Cache);
        assert!(client.delete_cached_image(&r1.id).await.unwrap());
        let got = client.get_image(&r1, &()).await.unwrap();
        assert_eq!((got.source(), got.bytes().as_ref()), (Source::Network(State::Updated), v2.as_slice()));
        expected_entries.push((r1.id.clone(), v2.len() + 1));
    }
    for body in seen.lock().unwrap().iter() {
        if let Some(m) = common::updated_meta(body) {
            metas.push(m);
        }
    }
    assert_eq!(metas.len(), 12, "4 record metas, 4 newer record metas, 4 Updated payload metas");
    let stored = files(&root);
    let entry_files: Vec<_> = stored.iter().filter(|(p, _)| p.extension().is_some_and(|e| e == "pxc")).collect();
    assert_eq!(entry_files.len(), 4);
    for (path, bytes) in &stored {
        for m in &metas {
            for (what, secret) in [("key", &m.key[..]), ("iv", &m.iv[..]), ("tag", &m.tag[..])] {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret),
                    "{} contains an image {what}",
                    path.display()
                );
            }
        }
    }
    // Each entry file is its 13-byte header, the id and exactly the ciphertext.
    for (id, ct_len) in expected_entries {
        let (_, bytes) = stored
            .iter()
            .find(|(p, _)| p.file_name().unwrap() == DirCache::open(&root).unwrap().path_of(&id).file_name().unwrap())
            .unwrap();
        assert_eq!(bytes.len(), 13 + id.len() + ct_len, "{id}");
    }
    drop(dir);
    s.shutdown().await;
}

/// Hands the client the fetched bytes themselves (no copy) and remembers them, so a test can
/// see which buffer the client received.
struct Passthrough<F> {
    inner: F,
    handed: Arc<Mutex<Vec<bytes::Bytes>>>,
}

impl<C: ?Sized + Sync, F: pixstore_client::fetcher::Fetcher<C>> pixstore_client::fetcher::Fetcher<C>
    for Passthrough<F>
{
    fn fetch<'a>(
        &'a self,
        record: &'a pixstore_client::proto::record::ImageRecord,
        context: &'a C,
    ) -> pixstore_client::fetcher::FetchFuture<'a> {
        Box::pin(async move {
            let body = self.inner.fetch(record, context).await?;
            self.handed.lock().unwrap().push(body.clone());
            Ok(body)
        })
    }
}

// CLIENT-2 for the memory store: the cached ciphertext is exactly the ciphertext, in a buffer
// of its own: not a view into the very Updated payload buffer the client received (which held
// the key, as 3.2.1's cache kept it).
#[tokio::test]
async fn memory_entries_hold_only_the_ciphertext() {
    let s = TestServer::start().await;
    let handed = Arc::new(Mutex::new(Vec::new()));
    let fetcher = Passthrough { inner: s.fetcher(), handed: handed.clone() };
    let client = s.client_with(fetcher, MemoryCache::new());
    let r1 = s.create(&png(5000, 300)).await;
    s.update(&r1.id, &png(5000, 301)).await;
    let got = client.get_image(&r1, &()).await.unwrap();
    assert_eq!(got.source(), Source::Network(State::Updated));
    let body = handed.lock().unwrap()[0].clone();
    let m = common::updated_meta(&body).unwrap();
    let e = client.cache().get(&r1.id).await.unwrap().unwrap();
    assert_eq!(e.ciphertext.as_ref(), &body[69..]);
    let body_range = body.as_ptr_range();
    assert!(!body_range.contains(&e.ciphertext.as_ptr()), "the cache keeps a view into the payload buffer");
    for secret in [&m.key[..], &m.iv[..], &m.tag[..]] {
        assert!(!e.ciphertext.windows(secret.len()).any(|w| w == secret));
    }
    s.shutdown().await;
}

// CLIENT-6: two stores over one directory (two processes sharing a cache) and many tasks each
// writing, reading, touching and deleting at once: no operation fails, every entry read is
// complete and consistent, and the count settles under the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_share_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let a = DirCache::open(dir.path()).unwrap();
    let b = DirCache::open(dir.path()).unwrap();
    let l = CacheLimits::new(20, 5).unwrap();
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let c = if t % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let mut x = t + 1;
            for i in 0..150u64 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let id = format!("img{}", (x >> 33) % 40);
                let token = 1 + (x >> 40) % 1000;
                match i % 5 {
                    0..=2 => c.put(entry(&id, token, i * 10 + t), l).await.unwrap(),
                    3 => {
                        if let Some(e) = c.get(&id).await.unwrap() {
                            // Never half an entry: the ciphertext matches its own header.
                            assert_eq!(e.ciphertext.as_ref(), format!("ct-{id}-{}", e.token).as_bytes());
                            c.touch(&id, i * 10 + t + 5).await.unwrap();
                        }
                    }
                    _ => {
                        c.delete(&id).await.unwrap();
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    a.put(entry("last", 1, 10_000), l).await.unwrap();
    let n = a.list().await.unwrap().len();
    assert!(n <= 20, "{n} entries after a put with limit 20");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The same from plain threads, without a runtime (the store then runs inline).
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let c = if t % 2 == 0 { a.clone() } else { b.clone() };
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
                for i in 0..50u64 {
                    let id = format!("thr{}", (i * 7 + t) % 30);
                    rt.block_on(c.put(entry(&id, 1 + i, 20_000 + i), l)).unwrap();
                    rt.block_on(c.get(&id)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(a.list().await.unwrap().len() <= 20);
}

// Robust to errors: a cache directory removed while the client runs is recreated; a file that
// cannot be evicted (here a directory posing as an entry) does not stop eviction; a cache that
// fails every operation never fails get_image.
#[tokio::test]
async fn robust_to_errors() {
    let s = TestServer::start().await;
    let r = s.create(&png(1000, 400)).await;
    let (dir, cache) = dir_cache();
    let root = cache.root().to_path_buf();
    let client = s.client(cache.clone());
    client.get_image(&r, &()).await.unwrap();
    std::fs::remove_dir_all(&root).unwrap();
    assert!(!client.cached_image_exists(&r.id).await.unwrap());
    assert_eq!(client.cache().list().await.unwrap(), vec![]);
    let got = client.get_image(&r, &()).await.unwrap();
    assert_eq!(got.source(), Source::Network(State::Success));
    assert_eq!(client.get_image(&r, &()).await.unwrap().source(), Source::Cache);

    // A directory named like an entry is neither counted nor evicted; real entries still are.
    std::fs::create_dir(root.join("00.pxc")).unwrap();
    let l = CacheLimits::new(2, 0).unwrap();
    for i in 0..5u64 {
        cache.put(entry(&format!("e{i}"), 1, i), l).await.unwrap();
    }
    assert_eq!(cache.list().await.unwrap().len(), 2);
    drop(dir);

    let client = s.client(Failing);
    let got = client.get_image(&r, &()).await.unwrap();
    assert_eq!(got.bytes().len(), 1000);
    let got = client.get_image(&r, &()).await.unwrap();
    assert_eq!(got.source(), Source::Network(State::Success));
    assert!(client.cached_image_exists(&r.id).await.is_err());
    s.shutdown().await;
}

/// A cache whose every operation fails.
#[derive(Debug)]
struct Failing;

impl Cache for Failing {
    fn get<'a>(&'a self, _: &'a str) -> pixstore_client::cache::CacheFuture<'a, Option<CacheEntry<bytes::Bytes>>> {
        Box::pin(async { Err(pixstore_client::CacheError::Other("get fails".into())) })
    }
    fn touch<'a>(&'a self, _: &'a str, _: u64) -> pixstore_client::cache::CacheFuture<'a, ()> {
        Box::pin(async { Err(pixstore_client::CacheError::Other("touch fails".into())) })
    }
    fn put(&self, _: CacheEntry<Vec<u8>>, _: CacheLimits) -> pixstore_client::cache::CacheFuture<'_, ()> {
        Box::pin(async { Err(pixstore_client::CacheError::Other("put fails".into())) })
    }
    fn delete<'a>(&'a self, _: &'a str) -> pixstore_client::cache::CacheFuture<'a, bool> {
        Box::pin(async { Err(pixstore_client::CacheError::Other("delete fails".into())) })
    }
    fn contains<'a>(&'a self, _: &'a str) -> pixstore_client::cache::CacheFuture<'a, bool> {
        Box::pin(async { Err(pixstore_client::CacheError::Other("contains fails".into())) })
    }
    fn list(&self) -> pixstore_client::cache::CacheFuture<'_, Vec<pixstore_client::cache::EntryInfo>> {
        Box::pin(async { Err(pixstore_client::CacheError::Other("list fails".into())) })
    }
    fn clear(&self) -> pixstore_client::cache::CacheFuture<'_, usize> {
        Box::pin(async { Err(pixstore_client::CacheError::Other("clear fails".into())) })
    }
}

// The client's clock sets last use (so LRU order follows use, not file-system time).
#[tokio::test]
async fn client_clock_sets_last_use() {
    let s = TestServer::start().await;
    let now = Arc::new(Mutex::new(1_000u64));
    let clock_now = now.clone();
    let (_d, cache) = dir_cache();
    let client = Client::builder()
        .config(s.config())
        .cache(cache)
        .clock(Arc::new(move || *clock_now.lock().unwrap()))
        .build()
        .unwrap();
    let r = s.create(&png(500, 500)).await;
    client.get_image(&r, &()).await.unwrap();
    assert_eq!(client.cache().get(&r.id).await.unwrap().unwrap().last_used_ms, 1_000);
    *now.lock().unwrap() = 5_000;
    tokio::time::sleep(Duration::from_millis(1)).await;
    client.get_image(&r, &()).await.unwrap();
    assert_eq!(client.cache().get(&r.id).await.unwrap().unwrap().last_used_ms, 5_000);
    s.shutdown().await;
}
