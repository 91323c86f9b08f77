//! Concurrency and ordering: readers never see a mismatched version, tokens strictly increase,
//! proofs survive a restart (spec SERVE-3, TOKEN-2, PROOF-5).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc, clippy::as_conversions)]

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use common::{open, png, TestServer};
use proto::wire::State;

// SERVE-3, SERVE-2, TOKEN-2: 64 readers against 4 writers on one id for a bounded time. Every
// response decrypts with its own metadata (Updated: the payload's; Success: the record whose
// token was sent) to one of the versions written; nothing is mismatched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_readers_and_writers_never_mismatch() {
    let s = Arc::new(TestServer::start().await);
    let versions: Arc<Vec<Vec<u8>>> = Arc::new((0..8).map(|i| png(20_000 + i * 100, 100 + i as u64)).collect());
    let first = s.create(&versions[0]).await;
    let latest = Arc::new(RwLock::new(first.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(4);

    let mut writers = Vec::new();
    for w in 0..4 {
        let (s, versions, latest, stop) = (s.clone(), versions.clone(), latest.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut tokens = Vec::new();
            let mut i = w;
            while !stop.load(Ordering::Relaxed) {
                let id = latest.read().unwrap().id.clone();
                let r = s.update(&id, &versions[i % versions.len()]).await;
                assert_eq!(r.status(), 200);
                let record = proto::record::ImageRecord::from_json(&r.bytes().await.unwrap()).unwrap();
                tokens.push(record.token.get());
                {
                    let mut l = latest.write().unwrap();
                    if record.token > l.token {
                        *l = record;
                    }
                }
                i += 4;
            }
            tokens
        }));
    }
    let mut readers = Vec::new();
    for r in 0..64 {
        let (s, versions, latest, reads) = (s.clone(), versions.clone(), latest.clone(), reads.clone());
        readers.push(tokio::spawn(async move {
            let mut states = HashSet::new();
            while Instant::now() < deadline {
                let record = latest.read().unwrap().clone();
                // Half the readers send the record's token (Success when current), half none.
                let token = (r % 2 == 0).then(|| record.token.get());
                let body = s.fetch(&record, token).await.bytes().await.unwrap();
                let (image, _) =
                    open(&record, &body).unwrap_or_else(|e| panic!("reader {r}: mismatched response: {e}"));
                assert!(versions.contains(&image), "reader {r}: image is none of the versions written");
                states.insert(body[0]);
                reads.fetch_add(1, Ordering::Relaxed);
            }
            states
        }));
    }
    let mut seen = HashSet::new();
    for r in readers {
        seen.extend(r.await.unwrap());
    }
    stop.store(true, Ordering::Relaxed);
    let mut all_tokens = Vec::new();
    for w in writers {
        all_tokens.extend(w.await.unwrap());
    }
    let n = all_tokens.len();
    all_tokens.sort_unstable();
    all_tokens.dedup();
    assert_eq!(all_tokens.len(), n, "two writes got the same token");
    assert!(n >= 8, "only {n} updates in the window");
    assert!(reads.load(Ordering::Relaxed) >= 64, "too few reads");
    assert!(seen.contains(&State::Updated.byte()), "no Updated answer seen");
    eprintln!("{} reads, {n} updates, states seen {seen:?}", reads.load(Ordering::Relaxed));
}

// TOKEN-2, TOKEN-3: 10,000 back-to-back updates of one image: every token distinct and strictly
// increasing, also when they fall in the same millisecond. (Run in memory-backed /dev/shm when
// the machine has it: this test is about ordering; durability is the crash test's.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_updates_have_strictly_increasing_tokens() {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let s = TestServer::start_in(dir, |f| f).await;
    let service = s.running.as_ref().unwrap().service.clone();
    let image = png(200, 9);
    let first = service.save(&image, None).await.unwrap();
    let mut last = first.token.get();
    let started = Instant::now();
    for i in 0..10_000 {
        let r = service.update(&first.id, &image).await.unwrap();
        assert!(r.token.get() > last, "update {i}: token {} after {last}", r.token.get());
        last = r.token.get();
    }
    eprintln!("10000 updates in {:?}", started.elapsed());
    let record = s.fresh_record(&first.id).await;
    assert_eq!(record.token.get(), last);
    let body = s.fetch(&record, Some(last)).await.bytes().await.unwrap();
    assert_eq!(open(&record, &body).unwrap().0, image);
}

// PROOF-5: proofs minted before a restart still verify after it (the keys persist).
#[tokio::test]
async fn proofs_survive_a_restart() {
    let s = TestServer::start().await;
    let image = png(400, 10);
    let record = s.create(&image).await;
    let dir = s.shutdown().await;
    let keys = std::fs::metadata(dir.path().join("proof-keys.json")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(keys.permissions().mode() & 0o777, 0o600, "the key file is owner-only");
    }
    let s = TestServer::start_in(dir, |f| f).await;
    let body = s.fetch(&record, Some(record.token.get())).await.bytes().await.unwrap();
    assert_eq!(body[0], State::Success.byte());
    assert_eq!(open(&record, &body).unwrap().0, image);
    s.shutdown().await;
}

// PROOF-5: after `keys rotate` by another process, a running server verifies proofs of the new
// key (it re-reads the key file on an unknown key id) and still those of the old one.
#[tokio::test]
async fn rotated_keys_are_picked_up() {
    let s = TestServer::start().await;
    let image = png(400, 11);
    let old = s.create(&image).await;
    let kid = pixstore_server::keys::rotate(&s.data().join("proof-keys.json"), Some(&s.data()), false).unwrap();
    assert_eq!(kid, 2);
    // A record minted with the new key by another instance sharing the data folder.
    let other = pixstore_server::open_service(
        &pixstore_server::config::Config::resolve(common::file_config(&s.data())).unwrap(),
    )
    .unwrap();
    let new = other.record(&old.id).await.unwrap().unwrap();
    assert_ne!(new.stateless_proof, old.stateless_proof);
    for r in [&new, &old] {
        let body = s.fetch(r, None).await.bytes().await.unwrap();
        assert_eq!(body[0], State::Updated.byte());
    }
}

// PROOF-5 (spec §8.4): a running server mints with the new signing key within a second of
// `keys rotate` by another process, and a key removed from the file stops verifying.
#[tokio::test]
async fn running_servers_follow_the_key_file() {
    use base64::Engine as _;
    let s = TestServer::start().await;
    let image = png(400, 12);
    let first = s.create(&image).await;
    let kid_of = |r: &proto::record::ImageRecord| {
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&r.stateless_proof).unwrap();
        u32::from_be_bytes([b[2], b[3], b[4], b[5]])
    };
    assert_eq!(kid_of(&first), 1);
    let keys = s.data().join("proof-keys.json");
    for _ in 0..3 {
        pixstore_server::keys::rotate(&keys, Some(&s.data()), false).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let fresh = s.fresh_record(&first.id).await;
    assert_eq!(kid_of(&fresh), 4, "the running server must sign with the newest key");
    // Key 1 left the file (the newest 3 are kept): its proof no longer verifies.
    let body = s.fetch(&first, None).await.bytes().await.unwrap();
    assert_eq!(body[0], State::InvalidProof.byte());
    let body = s.fetch(&fresh, None).await.bytes().await.unwrap();
    assert_eq!(body[0], State::Updated.byte());
}
