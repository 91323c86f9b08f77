//! `get_image` against the reference server over real HTTP: first fetch, cache hits without
//! network, updates (Success and Updated paths), every error state, decoder and fetcher errors,
//! tampered payloads, and cache entries that no longer decrypt.
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

use std::time::Duration;

use common::{dir_cache, listing, png, Counting, Fixed, Tamper, TestServer};
use pixstore_client::cache::{Cache, MemoryCache};
use pixstore_client::error::Report;
use pixstore_client::proto::envelope::EnvelopeError;
use pixstore_client::proto::record::RecordError;
use pixstore_client::proto::wire::{DecodeError, State};
use pixstore_client::{FetchError, GetImageError, Source};

// CLIENT-4, CLIENT-8, TOKEN-8, FMT-3: a first fetch sends the record's token, so a current record
// is answered Success and decrypted with the record's meta; the entry is cached under the
// record's token.
#[tokio::test]
async fn first_fetch_is_success_with_the_records_meta() {
    let s = TestServer::start().await;
    let image = png(5000, 1);
    let r = s.create(&image).await;
    let (_d, cache) = dir_cache();
    let client = s.client(cache);
    let got = client.get_image(&r, &()).await.unwrap();
    assert_eq!(got.bytes().as_ref(), image.as_slice());
    assert_eq!((got.mime(), got.token(), got.source()), ("image/png", r.token, Source::Network(State::Success)));
    assert!(client.cached_image_exists(&r.id).await.unwrap());
    let entry = client.cache().get(&r.id).await.unwrap().unwrap();
    assert_eq!(entry.token, r.token);
    // The cached ciphertext is the envelope: one format byte more than the image.
    assert_eq!(entry.ciphertext.len(), image.len() + 1);
    s.shutdown().await;
}

// CLIENT-1, CLIENT-7: a hit needs no network and no proof, and survives a new process (a new
// client over the same cache directory). The server is shut down before the hits.
#[tokio::test]
async fn cache_hit_without_network() {
    let s = TestServer::start().await;
    let image = png(3000, 2);
    let r = s.create(&image).await;
    let (dir, cache) = dir_cache();
    let root = cache.root().to_path_buf();
    let (fetcher, calls) = Counting::new(s.fetcher(), Duration::ZERO);
    let client = s.client_with(fetcher, cache);
    client.get_image(&r, &()).await.unwrap();
    let before = client.cache().get(&r.id).await.unwrap().unwrap().last_used_ms;
    let config = s.config();
    s.shutdown().await;
    tokio::time::sleep(Duration::from_millis(5)).await;

    let got = client.get_image(&r, &()).await.unwrap();
    assert_eq!((got.bytes().as_ref(), got.source()), (image.as_slice(), Source::Cache));
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1, "the hit did not call the fetcher");
    // CLIENT-7: the hit moved the last use forward.
    assert!(client.cache().get(&r.id).await.unwrap().unwrap().last_used_ms > before);

    // A bogus proof does not matter on a hit; neither does a new client (same directory).
    let mut bogus = r.clone();
    bogus.stateless_proof = "not-a-proof".into();
    let again = pixstore_client::Client::builder()
        .config(config)
        .cache(pixstore_client::cache::DirCache::open(&root).unwrap())
        .build()
        .unwrap();
    let got = again.get_image(&bogus, &()).await.unwrap();
    assert_eq!((got.bytes().as_ref(), got.source()), (image.as_slice(), Source::Cache));
    // Without the cache entry, the dead endpoint is a typed fetch error.
    assert!(again.delete_cached_image(&r.id).await.unwrap());
    let err = again.get_image(&r, &()).await.unwrap_err();
    assert!(matches!(err, GetImageError::Fetch { source: FetchError::Connect { .. }, .. }), "{err}");
    assert!(Report(&err).to_string().contains("cannot connect"), "{err}");
    drop(dir);
}

// CLIENT-4, TOKEN-8, SERVE-2: after an update, the new record misses the cache (other token)
// and is answered Success (its token is current); the old record is answered Updated, decrypted
// with the payload's meta and cached under the payload's token, so the new record then hits.
#[tokio::test]
async fn update_new_record_and_old_record() {
    let s = TestServer::start().await;
    let (v1, v2, v3) = (png(2000, 3), png(2500, 4), png(2600, 5));
    let r1 = s.create(&v1).await;
    let (_d, cache) = dir_cache();
    let (fetcher, calls) = Counting::new(s.fetcher(), Duration::ZERO);
    let client = s.client_with(fetcher, cache);
    assert_eq!(client.get_image(&r1, &()).await.unwrap().bytes().as_ref(), v1.as_slice());

    // Update, then fetch with the new record: a miss, answered Success.
    let r2 = s.update(&r1.id, &v2).await;
    assert!(r2.token > r1.token);
    let got = client.get_image(&r2, &()).await.unwrap();
    assert_eq!(
        (got.bytes().as_ref(), got.token(), got.source()),
        (v2.as_slice(), r2.token, Source::Network(State::Success))
    );
    assert_eq!(client.cache().get(&r1.id).await.unwrap().unwrap().token, r2.token);

    // The old record after the update: Updated, with the new version's token and meta.
    let got = client.get_image(&r1, &()).await.unwrap();
    assert_eq!(
        (got.bytes().as_ref(), got.token(), got.source()),
        (v2.as_slice(), r2.token, Source::Network(State::Updated))
    );

    // Another update; a client whose cache holds nothing gets Updated for the (now stale) r2,
    // caches the payload's token, and the newest record then hits.
    let r3 = s.update(&r1.id, &v3).await;
    let (_d2, cache2) = dir_cache();
    let fresh = s.client(cache2);
    let got = fresh.get_image(&r2, &()).await.unwrap();
    assert_eq!(
        (got.bytes().as_ref(), got.token(), got.source()),
        (v3.as_slice(), r3.token, Source::Network(State::Updated))
    );
    let got = fresh.get_image(&r3, &()).await.unwrap();
    assert_eq!((got.bytes().as_ref(), got.source()), (v3.as_slice(), Source::Cache));
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3);
    s.shutdown().await;
}

// CLIENT-5: each error state of the reference server is a typed error naming the state with
// advice, and leaves the cache as it was (CLIENT-3).
#[tokio::test]
async fn every_error_state_is_typed_and_leaves_the_cache() {
    let s = TestServer::start().await;
    let a1 = s.create(&png(1000, 6)).await;
    let b = s.create(&png(1000, 7)).await;
    let c = s.create(&png(1000, 8)).await;
    let (_d, cache) = dir_cache();
    let client = s.client(cache);
    client.get_image(&a1, &()).await.unwrap();
    let a2 = s.update(&a1.id, &png(1100, 9)).await;
    let before = listing(client.cache().as_ref()).await;
    assert_eq!(before, vec![(a1.id.clone(), a1.token.get(), 1001)]);

    // NotFound: a valid proof for a deleted image. The cached older version stays.
    s.delete(&a1.id).await;
    let err = client.get_image(&a2, &()).await.unwrap_err();
    assert!(matches!(&err, GetImageError::NotFound { id } if *id == a1.id), "{err}");
    assert_eq!(err.state(), Some(State::NotFound));
    assert!(err.to_string().contains("NotFound (2)") && err.to_string().contains("drop this record"), "{err}");

    // MissingProof: the record has no proof (the fetcher omits the header, CLIENT-8).
    let mut no_proof = b.clone();
    no_proof.stateless_proof.clear();
    let err = client.get_image(&no_proof, &()).await.unwrap_err();
    assert_eq!(err.state(), Some(State::MissingProof));
    assert!(err.to_string().contains("fresh record"), "{err}");
    assert!(err.needs_fresh_record());

    // InvalidProof: another image's proof, and a mangled one.
    let mut other = b.clone();
    other.stateless_proof.clone_from(&c.stateless_proof);
    let err = client.get_image(&other, &()).await.unwrap_err();
    assert_eq!(err.state(), Some(State::InvalidProof));
    assert!(err.to_string().contains("InvalidProof (5)"), "{err}");
    let mut mangled = b.clone();
    mangled.stateless_proof.replace_range(0..1, "B");
    assert_eq!(client.get_image(&mangled, &()).await.unwrap_err().state(), Some(State::InvalidProof));

    // InternalError: the stored file of c is damaged.
    std::fs::write(s.stored_path(&c.id), b"damaged").unwrap();
    let err = client.get_image(&c, &()).await.unwrap_err();
    assert_eq!(err.state(), Some(State::InternalError));
    assert!(err.to_string().contains("retry later"), "{err}");

    // MissingID: a fetcher that requests the bare route (a programming error).
    let bare = format!("http://{}/pixstore-image", s.endpoint);
    let missing_id = BareRoute { url: bare, http: reqwest::Client::new() };
    let (_d2, cache2) = dir_cache();
    let client2 = s.client_with(missing_id, cache2);
    let err = client2.get_image(&b, &()).await.unwrap_err();
    assert_eq!(err.state(), Some(State::MissingId));
    assert!(err.to_string().contains("MissingID (3)"), "{err}");
    assert!(listing(client2.cache().as_ref()).await.is_empty());

    assert_eq!(listing(client.cache().as_ref()).await, before);
    s.shutdown().await;
}

struct BareRoute {
    url: String,
    http: reqwest::Client,
}

impl pixstore_client::fetcher::Fetcher<()> for BareRoute {
    fn fetch<'a>(
        &'a self,
        record: &'a pixstore_client::proto::record::ImageRecord,
        _: &'a (),
    ) -> pixstore_client::fetcher::FetchFuture<'a> {
        Box::pin(async move {
            let r = self
                .http
                .get(&self.url)
                .header("x-pixstore-proof", &record.stateless_proof)
                .send()
                .await
                .map_err(|e| FetchError::from_reqwest(&self.url, e))?;
            pixstore_client::fetcher::read_payload(&self.url, &record.id, r, 1 << 20, None).await
        })
    }
}

// §4.3, WIRE-5..WIRE-10, CLIENT-5: answers that are not payloads are typed decoder errors, and
// nothing is cached.
#[tokio::test]
async fn decoder_errors_are_typed() {
    let s = TestServer::start().await;
    let r = s.create(&png(500, 10)).await;
    let mut updated_zero_token = vec![1u8];
    updated_zero_token.extend_from_slice(&[0u8; 8 + 32 + 12 + 16 + 1]);
    let cases: Vec<(Vec<u8>, DecodeError)> = vec![
        (vec![], DecodeError::Empty),
        (vec![7], DecodeError::ReservedState(7)),
        (vec![200, 1], DecodeError::UnassignedState(200)),
        (vec![1, 0, 0], DecodeError::Truncated { needed: 66 }),
        (vec![0], DecodeError::MissingCiphertext),
        (vec![2, 0], DecodeError::TrailingBytes { state: State::NotFound }),
        (updated_zero_token, DecodeError::TokenOutOfRange),
    ];
    for (bytes, want) in cases {
        let client = s.client_with(Fixed(bytes.clone()), MemoryCache::new());
        let err = client.get_image(&r, &()).await.unwrap_err();
        match &err {
            GetImageError::Decode { source, .. } => assert_eq!(*source, want, "{bytes:?}"),
            other => panic!("{bytes:?}: {other}"),
        }
        assert!(err.to_string().contains("not a Pixstore payload"), "{err}");
        assert!(!client.cached_image_exists(&r.id).await.unwrap());
    }
    s.shutdown().await;
}

// CLIENT-5: fetcher failures are typed (HTTP status from a wrong route; no connection).
#[tokio::test]
async fn fetch_errors_are_typed() {
    let s = TestServer::start().await;
    let r = s.create(&png(500, 11)).await;
    let mut config = s.config();
    config.endpoint =
        Some(pixstore_client::config::Endpoint::new("127.0.0.1", s.endpoint.port(), "/not-the-route").unwrap());
    let client = pixstore_client::Client::builder().config(config).memory_cache().build().unwrap();
    let err = client.get_image(&r, &()).await.unwrap_err();
    assert!(matches!(&err, GetImageError::Fetch { source: FetchError::Status { status: 404, .. }, .. }), "{err}");
    assert!(Report(&err).to_string().contains("check defaultEndpointRoute"), "{err}");
    // The default fetcher requires a host.
    let err = pixstore_client::Client::builder().memory_cache().build().unwrap_err();
    assert!(err.to_string().contains("defaultEndpointConnectHost is not set"), "{err}");
    s.shutdown().await;
}

/// Puts an entry for an older version of `id` in `cache`.
async fn seed_entry(cache: &MemoryCache, id: &str) {
    let entry = pixstore_client::proto::client::CacheEntry {
        id: id.to_owned(),
        ciphertext: b"older version".to_vec(),
        token: pixstore_client::proto::token::Token::new(5).unwrap(),
        last_used_ms: 1,
    };
    cache.put(entry, pixstore_client::proto::client::CacheLimits::default()).await.unwrap();
}

/// Flips one bit at `at` (counted from the end when negative).
fn flip(at: isize) -> impl Fn(Vec<u8>) -> Vec<u8> + Send + Sync {
    move |mut b: Vec<u8>| {
        let i = if at < 0 { b.len() - at.unsigned_abs() } else { at.unsigned_abs() };
        b[i] ^= 0x01;
        b
    }
}

// CLIENT-3, ENV-5: a tampered answer (ciphertext, tag, key or iv of an Updated payload; the
// ciphertext of a Success) is an Authentication error, nothing is cached, and the previous
// entry stays.
#[tokio::test]
async fn tampered_payloads_cache_nothing() {
    let s = TestServer::start().await;
    let v1 = png(4000, 12);
    let r1 = s.create(&v1).await;
    let r2 = s.update(&r1.id, &png(4100, 13)).await;
    // Offsets into an Updated payload: 0 state, 1..9 token, 9..41 key, 41..53 iv, 53..69 tag.
    for (what, record, at) in [
        ("Updated ciphertext", &r1, -1isize),
        ("Updated first ciphertext byte", &r1, 69),
        ("Updated tag", &r1, 60),
        ("Updated key", &r1, 10),
        ("Updated iv", &r1, 45),
        ("Success ciphertext", &r2, -1),
        ("Success format byte", &r2, 1),
    ] {
        let cache = MemoryCache::new();
        seed_entry(&cache, &r1.id).await;
        let (fetcher, seen) = Tamper::new(s.fetcher(), flip(at));
        let client = s.client_with(fetcher, cache);
        let before = listing(client.cache().as_ref()).await;
        let err = client.get_image(record, &()).await.unwrap_err();
        assert!(matches!(err, GetImageError::Envelope { source: EnvelopeError::Authentication, .. }), "{what}: {err}");
        assert!(Report(&err).to_string().contains("did not authenticate"), "{what}: {err}");
        assert_eq!(listing(client.cache().as_ref()).await, before, "{what}");
        let state = seen.lock().unwrap()[0][0];
        assert_eq!(state, if record.token == r1.token { 1 } else { 0 }, "{what}");
    }
    // A Success answer carrying another image's ciphertext (a mixed-up response).
    let other = s.create(&png(4000, 14)).await;
    let other_body = s.fetcher().get(&other).await.unwrap();
    let cache = MemoryCache::new();
    seed_entry(&cache, &r1.id).await;
    let client = s.client_with(Fixed(other_body.to_vec()), cache);
    let before = listing(client.cache().as_ref()).await;
    let err = client.get_image(&r2, &()).await.unwrap_err();
    assert!(matches!(err, GetImageError::Envelope { source: EnvelopeError::Authentication, .. }), "{err}");
    assert_eq!(listing(client.cache().as_ref()).await, before);
    s.shutdown().await;
}

// CLIENT-1: an entry with the record's token that does not decrypt (damaged on disk) is
// discarded, nothing is released, and the image is fetched again and re-cached.
#[tokio::test]
async fn undecryptable_entry_is_discarded_and_refetched() {
    let s = TestServer::start().await;
    let image = png(2000, 15);
    let r = s.create(&image).await;
    let (_d, cache) = dir_cache();
    let path = cache.path_of(&r.id);
    let (fetcher, calls) = Counting::new(s.fetcher(), Duration::ZERO);
    let client = s.client_with(fetcher, cache);
    client.get_image(&r, &()).await.unwrap();
    let mut raw = std::fs::read(&path).unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 0x80;
    std::fs::write(&path, &raw).unwrap();
    let got = client.get_image(&r, &()).await.unwrap();
    assert_eq!((got.bytes().as_ref(), got.source()), (image.as_slice(), Source::Network(State::Success)));
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    // Re-cached, and a hit again.
    assert_eq!(client.get_image(&r, &()).await.unwrap().source(), Source::Cache);
    s.shutdown().await;
}

// REC-6: an invalid record is refused before any network request or cache change.
#[tokio::test]
async fn invalid_record_json_causes_no_request() {
    let s = TestServer::start().await;
    let (fetcher, calls) = Counting::new(s.fetcher(), Duration::ZERO);
    let client = s.client_with(fetcher, MemoryCache::new());
    let r = s.create(&png(300, 16)).await;
    let good = r.to_json();
    for (text, want) in [
        ("{\"id\":".to_owned(), RecordError::Syntax),
        (good.replace("\"token\"", "\"tokens\""), RecordError::MissingField("token")),
        (good.replace(&r.id, "a:b:c"), RecordError::InvalidId),
    ] {
        let err = client.get_image_json(text.as_bytes(), &()).await.unwrap_err();
        assert!(matches!(&err, GetImageError::Record(e) if *e == want), "{err}");
        assert!(err.to_string().starts_with("invalid image record"), "{err}");
    }
    // A record built by hand with an invalid id is refused too.
    let mut bad = r.clone();
    bad.id = "../etc".into();
    assert!(matches!(client.get_image(&bad, &()).await, Err(GetImageError::Record(RecordError::InvalidId))));
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 0);
    let got = client.get_image_json(good.as_bytes(), &()).await.unwrap();
    assert_eq!(got.bytes().len(), 300);
    s.shutdown().await;
}

// delete_cached_image reports whether something was deleted; cached_image_exists.
#[tokio::test]
async fn delete_and_exists() {
    let s = TestServer::start().await;
    let r = s.create(&png(300, 17)).await;
    let (_d, cache) = dir_cache();
    let client = s.client(cache);
    assert!(!client.cached_image_exists(&r.id).await.unwrap());
    assert!(!client.delete_cached_image(&r.id).await.unwrap());
    client.get_image(&r, &()).await.unwrap();
    assert!(client.cached_image_exists(&r.id).await.unwrap());
    assert!(client.delete_cached_image(&r.id).await.unwrap());
    assert!(!client.delete_cached_image(&r.id).await.unwrap());
    assert!(!client.cached_image_exists(&r.id).await.unwrap());
    assert!(!client.cached_image_exists("../x").await.unwrap());
    assert!(!client.delete_cached_image("").await.unwrap());
    s.shutdown().await;
}
