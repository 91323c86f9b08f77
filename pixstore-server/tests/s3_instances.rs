//! Several server instances over one S3 bucket (RGW from `.ci/ceph.sh`; skipped loudly without
//! it, a failure with PIXSTORE_REQUIRE_S3=1): read-after-write across instances (SERVE-3,
//! TOKEN-2), readers on one instance while writers update through the other, SIGKILL of one
//! instance during updates, and the admin API's tokens on an S3 deployment.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc, clippy::as_conversions)]

mod common;
mod s3env;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::{file_config, open, png, TestServer};
use pixstore_server::config::FileConfig;
use proto::record::ImageRecord;
use proto::wire::{Payload, PayloadRef};
use s3env::S3Env;
use test_support::process::ServerProcess;

const TOKEN: &str = "s3-instances-admin-token";

/// Proof keys and KEKs made once, shared by every instance (as the README's deployment does).
fn shared_keys(dir: &Path) {
    pixstore_server::keys::init(&dir.join("proof-keys.json"), dir).unwrap();
    pixstore_server::kek::init(&dir.join("kek.json"), Some(dir)).unwrap();
}

fn s3_config(env: &S3Env, prefix: &str, keys: &Path) -> impl Fn(FileConfig) -> FileConfig {
    let (env, prefix, keys) = (env.clone(), prefix.to_owned(), keys.to_path_buf());
    move |f| {
        env.file_config(
            &prefix,
            FileConfig {
                proof_keys_file: Some(keys.join("proof-keys.json")),
                kek_file: Some(keys.join("kek.json")),
                admin_tokens: Some(vec![TOKEN.into()]),
                ..f
            },
        )
    }
}

struct Admin {
    client: reqwest::Client,
    base: String,
}

impl Admin {
    fn of(control: SocketAddr) -> Admin {
        Admin { client: reqwest::Client::new(), base: format!("http://{control}") }
    }

    fn url(&self, id: &str) -> String {
        format!("{}/images/{}", self.base, proto::client::request_target("", id).trim_start_matches('/'))
    }

    async fn create(&self, image: &[u8]) -> ImageRecord {
        let r = self.client.post(format!("{}/images", self.base)).bearer_auth(TOKEN).body(image.to_vec());
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 201);
        ImageRecord::from_json(&r.bytes().await.unwrap()).unwrap()
    }

    async fn update(&self, id: &str, image: &[u8]) -> Result<ImageRecord, String> {
        let r = self.client.put(self.url(id)).bearer_auth(TOKEN).body(image.to_vec()).send().await;
        let r = r.map_err(|e| e.to_string())?;
        if r.status() != 200 {
            return Err(format!("status {}", r.status()));
        }
        Ok(ImageRecord::from_json(&r.bytes().await.map_err(|e| e.to_string())?).unwrap())
    }

    async fn token(&self, id: &str) -> Option<u64> {
        let r = self.client.get(self.url(id)).bearer_auth(TOKEN).send().await.unwrap();
        match r.status().as_u16() {
            200 => Some(r.json::<serde_json::Value>().await.unwrap()["token"].as_u64().unwrap()),
            404 => None,
            s => panic!("exists answered {s}"),
        }
    }

    async fn record(&self, id: &str) -> ImageRecord {
        let r = self.client.get(format!("{}/record", self.url(id))).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(r.status(), 200);
        ImageRecord::from_json(&r.bytes().await.unwrap()).unwrap()
    }
}

/// Fetches with `record`'s proof and `token`; the state, the version's token and image.
async fn fetch(
    client: &reqwest::Client,
    endpoint: SocketAddr,
    record: &ImageRecord,
    token: Option<u64>,
) -> (u8, u64, Vec<u8>) {
    let url = format!("http://{endpoint}{}", proto::client::request_target("/pixstore-image", &record.id));
    let mut req = client.get(url).header("x-pixstore-proof", &record.stateless_proof);
    if let Some(t) = token {
        req = req.header("x-pixstore-token", t.to_string());
    }
    let body = req.send().await.unwrap().bytes().await.unwrap();
    let state = body[0];
    match PayloadRef::decode(&body).unwrap() {
        Payload::Success { .. } | Payload::Updated { .. } => {
            let (image, t) =
                open(record, &body).unwrap_or_else(|e| panic!("does not decrypt with its own metadata: {e}"));
            (state, t, image)
        }
        _ => (state, 0, Vec::new()),
    }
}

// Two instances, one bucket: whatever one acknowledges, the other serves at once; the admin
// API's routes agree across instances; wrong, missing and right tokens on both.
#[tokio::test]
async fn read_after_write_across_two_instances() {
    let Some(env) = S3Env::get("read_after_write_across_two_instances") else { return };
    let keys = tempfile::tempdir().unwrap();
    shared_keys(keys.path());
    let prefix = env.fresh_prefix("raw");
    let a = TestServer::start_with(s3_config(&env, &prefix, keys.path())).await;
    let b = TestServer::start_with(s3_config(&env, &prefix, keys.path())).await;
    let (admin_a, admin_b) = (Admin::of(a.control), Admin::of(b.control));
    for admin in [&admin_a, &admin_b] {
        let info = format!("{}/info", admin.base);
        assert_eq!(admin.client.get(&info).send().await.unwrap().status(), 401);
        assert_eq!(admin.client.get(&info).bearer_auth("wrong-token-0123456789").send().await.unwrap().status(), 401);
        assert_eq!(admin.client.get(&info).bearer_auth(TOKEN).send().await.unwrap().status(), 200);
    }
    let client = reqwest::Client::new();
    let first = png(1500, 1);
    let record = admin_a.create(&first).await;
    assert_eq!(fetch(&client, b.endpoint, &record, Some(record.token.get())).await.0, 0, "Success on B");
    let mut current = record.clone();
    for round in 0..12u64 {
        let (writer, other) = if round % 2 == 0 { (&admin_b, a.endpoint) } else { (&admin_a, b.endpoint) };
        let image = png(1500, 10 + round);
        let updated = writer.update(&record.id, &image).await.unwrap();
        assert!(updated.token > current.token, "TOKEN-2 across instances");
        // The other instance, right after the acknowledgement: the new version, at once.
        let (state, token, got) = fetch(&client, other, &current, Some(current.token.get())).await;
        assert_eq!((state, token), (1, updated.token.get()), "round {round}: Updated with the new version");
        assert_eq!(got, image);
        // The old record gets Updated on either instance.
        for endpoint in [a.endpoint, b.endpoint] {
            let (state, token, _) = fetch(&client, endpoint, &record, Some(record.token.get())).await;
            assert_eq!((state, token), (1, updated.token.get()));
        }
        current = updated;
    }
    let fresh = admin_b.record(&record.id).await;
    assert_eq!((fresh.token, fresh.meta), (current.token, current.meta));
    assert_eq!(admin_a.token(&record.id).await, Some(current.token.get()));
    let r = admin_b.client.delete(admin_b.url(&record.id)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(admin_a.token(&record.id).await, None);
    assert_eq!(fetch(&client, a.endpoint, &record, None).await.0, 2, "NotFound on A after B deleted");
    a.shutdown().await;
    b.shutdown().await;
}

// Readers on one instance while writers update through the other: every response decrypts with
// its own metadata, tokens never go backwards, and each answer reflects every update
// acknowledged before its request was sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_on_one_instance_writers_on_the_other() {
    let Some(env) = S3Env::get("readers_on_one_instance_writers_on_the_other") else { return };
    let keys = tempfile::tempdir().unwrap();
    shared_keys(keys.path());
    let prefix = env.fresh_prefix("rw");
    let a = TestServer::start_with(s3_config(&env, &prefix, keys.path())).await;
    let b = TestServer::start_with(s3_config(&env, &prefix, keys.path())).await;
    let admin_a = Arc::new(Admin::of(a.control));
    let mut records = Vec::new();
    for i in 0..3 {
        records.push(admin_a.create(&png(1200, 100 + i)).await);
    }
    let acked: Arc<Vec<AtomicU64>> = Arc::new(records.iter().map(|r| AtomicU64::new(r.token.get())).collect());
    let writers = {
        let (admin, records, acked) = (admin_a.clone(), records.clone(), acked.clone());
        tokio::spawn(async move {
            for round in 0..15u64 {
                for (n, r) in records.iter().enumerate() {
                    let updated = admin.update(&r.id, &png(1200, 1000 * round + n as u64)).await.unwrap();
                    acked[n].fetch_max(updated.token.get(), Ordering::SeqCst);
                }
            }
        })
    };
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for reader in 0..3usize {
        let (records, acked, endpoint, done) = (records.clone(), acked.clone(), b.endpoint, done.clone());
        readers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut seen = vec![0u64; records.len()];
            let mut reads = 0u64;
            let mut updated_answers = 0u64;
            // Until the writers are done, and at least 50 reads each.
            let mut i = 0usize;
            while !done.load(Ordering::SeqCst) || i < 50 {
                i += 1;
                let n = (i + reader) % records.len();
                let floor = acked[n].load(Ordering::SeqCst);
                let (state, token, _) = fetch(&client, endpoint, &records[n], Some(records[n].token.get())).await;
                assert!(state <= 1, "state {state}");
                assert!(token >= floor, "read-after-write: token {token} < acknowledged {floor}");
                assert!(token >= seen[n], "token went backwards: {token} < {}", seen[n]);
                seen[n] = token;
                reads += 1;
                updated_answers += u64::from(state == 1);
            }
            (reads, updated_answers)
        }));
    }
    writers.await.unwrap();
    done.store(true, Ordering::SeqCst);
    let mut total = (0, 0);
    for r in readers {
        let (reads, updated) = r.await.unwrap();
        total = (total.0 + reads, total.1 + updated);
    }
    eprintln!("readers on B: {} reads, {} Updated answers, while 45 updates went through A", total.0, total.1);
    assert!(total.1 > 0);
    // After the writers: the old records get the last acknowledged version on both.
    let client = reqwest::Client::new();
    for (n, r) in records.iter().enumerate() {
        for endpoint in [a.endpoint, b.endpoint] {
            let (state, token, _) = fetch(&client, endpoint, r, Some(r.token.get())).await;
            assert_eq!((state, token), (1, acked[n].load(Ordering::SeqCst)));
        }
    }
    a.shutdown().await;
    b.shutdown().await;
}

// SIGKILL of one instance (a process) during updates: nothing it acknowledged is lost, the other
// instance serves the last acknowledged version (or a newer one whose answer the kill cut off),
// and it can go on updating (no lock is left behind in the bucket).
#[tokio::test]
async fn sigkill_of_one_instance_during_updates() {
    let Some(env) = S3Env::get("sigkill_of_one_instance_during_updates") else { return };
    let keys = tempfile::tempdir().unwrap();
    shared_keys(keys.path());
    let prefix = env.fresh_prefix("kill");
    let b = TestServer::start_with(s3_config(&env, &prefix, keys.path())).await;
    let admin_b = Admin::of(b.control);
    let client = reqwest::Client::new();
    for attempt in 0..3u64 {
        let (proof_keys, kek) = (keys.path().join("proof-keys.json"), keys.path().join("kek.json"));
        let store = env.store_url(&prefix);
        let mut process = ServerProcess::spawn(
            env!("CARGO_BIN_EXE_pixstore-server"),
            keys.path(),
            &[
                "--store",
                &store,
                "--s3-endpoint",
                &env.endpoint,
                "--s3-path-style",
                "--proof-keys",
                proof_keys.to_str().unwrap(),
                "--kek-file",
                kek.to_str().unwrap(),
                "--admin-tokens",
                TOKEN,
            ],
        );
        let control = process.control;
        let admin_p = Arc::new(Admin::of(control));
        let record = admin_p.create(&png(1100, attempt)).await;
        let last_acked = Arc::new(AtomicU64::new(record.token.get()));
        let count = Arc::new(AtomicU64::new(0));
        let writer = {
            let (admin, id, acked, count) = (admin_p.clone(), record.id.clone(), last_acked.clone(), count.clone());
            tokio::spawn(async move {
                for round in 0..10_000u64 {
                    match admin.update(&id, &png(1100, 10_000 * attempt + round)).await {
                        Ok(r) => {
                            acked.store(r.token.get(), Ordering::SeqCst);
                            count.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(_) => return round,
                    }
                }
                10_000
            })
        };
        // Kill after a number of acknowledged updates that differs per attempt, with updates
        // in flight.
        while count.load(Ordering::SeqCst) < 10 + 7 * attempt {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        process.child.kill().unwrap(); // SIGKILL
        process.child.wait().unwrap();
        let rounds = writer.await.unwrap();
        let acked = last_acked.load(Ordering::SeqCst);
        // The stored version may still move on after the process is gone: seen once in CI, B's
        // store read one version and its endpoint then served the next, whole and newer. The
        // most likely cause is a PUT the killed process had sent that RGW completed without its
        // client (inferred, not confirmed in RGW's op log). So read until B's store and B's
        // endpoint agree, for up to 20 s. Each version read must still be whole (`fetch`
        // decrypts it with its own metadata) and never older than the last acknowledged one.
        let mut settled = None;
        for _ in 0..200 {
            let stored = admin_b.token(&record.id).await.unwrap();
            assert!(stored >= acked, "attempt {attempt}: stored {stored} < acknowledged {acked}");
            let (state, token, _) = fetch(&client, b.endpoint, &record, Some(record.token.get())).await;
            assert!(state == 1 && token >= stored, "attempt {attempt}: served {state}/{token}, stored {stored}");
            if token == stored {
                settled = Some(stored);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let stored = settled.expect("B's store and endpoint never agreed on one version within 20 s");
        let next = admin_b.update(&record.id, &png(1100, 99)).await.unwrap();
        assert!(next.token.get() > stored);
        eprintln!("attempt {attempt}: killed after {rounds} updates; acknowledged {acked}, stored {stored}");
    }
    b.shutdown().await;
}

// The S3 store refuses to start without shared keys (never made implicitly for a bucket), and
// names a missing bucket.
#[tokio::test]
async fn s3_start_refusals() {
    let Some(env) = S3Env::get("s3_start_refusals") else { return };
    let keys = tempfile::tempdir().unwrap();
    let base = |f: FileConfig| env.file_config("refusals", f);
    let config = pixstore_server::config::Config::resolve(base(file_config(keys.path()))).unwrap();
    let Err(err) = pixstore_server::start(config).await else { panic!("started without proof keys") };
    assert!(err.to_string().contains("keys init"), "{err}");
    pixstore_server::keys::init(&keys.path().join("proof-keys.json"), keys.path()).unwrap();
    let config = pixstore_server::config::Config::resolve(base(file_config(keys.path()))).unwrap();
    let Err(err) = pixstore_server::start(config).await else { panic!("started without a KEK") };
    assert!(err.to_string().contains("kek init"), "{err}");
    pixstore_server::kek::init(&keys.path().join("kek.json"), Some(keys.path())).unwrap();
    let missing = S3Env { bucket: "pixstore-missing-bucket".into(), ..env.clone() };
    let config = pixstore_server::config::Config::resolve(missing.file_config("x", file_config(keys.path()))).unwrap();
    let Err(err) = pixstore_server::start(config).await else { panic!("started without a bucket") };
    assert!(err.to_string().contains("does not exist"), "{err}");
}
