//! Concurrent `get_image`: one fetch for concurrent calls on the same record (single-flight),
//! independent fetches for different ids, and a cancelled caller that strands nobody.
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

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{dir_cache, png, Counting, TestServer};
use pixstore_client::cache::MemoryCache;
use pixstore_client::proto::wire::State;
use pixstore_client::Source;

// CLIENT-1, CLIENT-3: 32 concurrent calls with the same record share one fetch (counted by the
// fetcher) and all get the image; afterwards the cache answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_id_shares_one_fetch() {
    let s = TestServer::start().await;
    let image = png(200_000, 1);
    let r = s.create(&image).await;
    let (fetcher, calls) = Counting::new(s.fetcher(), Duration::from_millis(150));
    let (_d, cache) = dir_cache();
    let client = s.client_with(fetcher, cache);
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (client, r) = (client.clone(), r.clone());
            tokio::spawn(async move { client.get_image(&r, &()).await })
        })
        .collect();
    for t in tasks {
        let got = t.await.unwrap().unwrap();
        assert_eq!(got.bytes().as_ref(), image.as_slice());
        assert_eq!(got.source(), Source::Network(State::Success));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one fetch for 32 concurrent calls");
    assert_eq!(client.get_image(&r, &()).await.unwrap().source(), Source::Cache);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    s.shutdown().await;
}

// Errors are shared too: concurrent calls whose record the endpoint refuses get the same typed
// error from one fetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_id_shares_an_error() {
    let s = TestServer::start().await;
    let mut r = s.create(&png(1000, 2)).await;
    r.stateless_proof.clear();
    let (fetcher, calls) = Counting::new(s.fetcher(), Duration::from_millis(100));
    let client = s.client_with(fetcher, MemoryCache::new());
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (client, r) = (client.clone(), r.clone());
            tokio::spawn(async move { client.get_image(&r, &()).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap_err().state(), Some(State::MissingProof));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    s.shutdown().await;
}

// Different ids are fetched independently and in parallel: 8 ids, 8 fetches, each caller gets
// its own image (the elapsed time shows they overlapped).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn different_ids_fetch_in_parallel() {
    let s = TestServer::start().await;
    let mut records = Vec::new();
    for i in 0..8u64 {
        let image = png(10_000 + i as usize, 10 + i);
        records.push((s.create(&image).await, image));
    }
    let delay = Duration::from_millis(300);
    let (fetcher, calls) = Counting::new(s.fetcher(), delay);
    let (_d, cache) = dir_cache();
    let client = s.client_with(fetcher, cache);
    let started = std::time::Instant::now();
    let tasks: Vec<_> = records
        .iter()
        .flat_map(|(r, image)| {
            // Two callers per id: still one fetch per id.
            (0..2).map(|_| {
                let (client, r, image) = (client.clone(), r.clone(), image.clone());
                tokio::spawn(async move {
                    let got = client.get_image(&r, &()).await.unwrap();
                    assert_eq!(got.bytes().as_ref(), image.as_slice());
                })
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(calls.load(Ordering::SeqCst), 8);
    assert!(started.elapsed() < delay * 4, "fetches of different ids ran one after another: {:?}", started.elapsed());
    for (r, _) in &records {
        assert!(client.cached_image_exists(&r.id).await.unwrap());
    }
    s.shutdown().await;
}

// A caller with another record for an id in flight waits for that flight and then resolves its
// own record: an old and a new record of one image, concurrently, each get the current image.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_id_different_records() {
    let s = TestServer::start().await;
    let r1 = s.create(&png(3000, 20)).await;
    let v2 = png(3000, 21);
    let r2 = s.update(&r1.id, &v2).await;
    let (fetcher, calls) = Counting::new(s.fetcher(), Duration::from_millis(100));
    let client = s.client_with(fetcher, MemoryCache::new());
    let a = {
        let (client, r) = (client.clone(), r1.clone());
        tokio::spawn(async move { client.get_image(&r, &()).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let b = {
        let (client, r) = (client.clone(), r2.clone());
        tokio::spawn(async move { client.get_image(&r, &()).await })
    };
    let a = a.await.unwrap().unwrap();
    let b = b.await.unwrap().unwrap();
    // r1 is stale: Updated; it caches r2's token, so r2's caller then hits the cache.
    assert_eq!((a.bytes().as_ref(), a.source()), (v2.as_slice(), Source::Network(State::Updated)));
    assert_eq!((b.bytes().as_ref(), b.source()), (v2.as_slice(), Source::Cache));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    s.shutdown().await;
}

// A leader that is cancelled mid-fetch strands no follower: the follower takes over.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelled_leader_hands_over() {
    let s = TestServer::start().await;
    let image = png(3000, 30);
    let r = s.create(&image).await;
    let (fetcher, calls) = Counting::new(s.fetcher(), Duration::from_millis(300));
    let client = s.client_with(fetcher, MemoryCache::new());
    let leader = {
        let (client, r) = (client.clone(), r.clone());
        tokio::spawn(async move { client.get_image(&r, &()).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let follower = {
        let (client, r) = (client.clone(), r.clone());
        tokio::spawn(async move { client.get_image(&r, &()).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    let got = tokio::time::timeout(Duration::from_secs(10), follower).await.unwrap().unwrap().unwrap();
    assert_eq!(got.bytes().as_ref(), image.as_slice());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    s.shutdown().await;
}
