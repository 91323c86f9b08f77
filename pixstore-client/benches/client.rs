//! Benchmarks of the reference client (docs/client-benchmarks.md has the results):
//!
//! - `cache_hit/{memory,dir}/{10KiB,100KiB,1MiB}`: `get_image` answered by the cache (lookup,
//!   authenticate and decrypt, last-use update).
//! - `cold_fetch/{size}`: `get_image` on a miss: HTTP GET on loopback to an in-process reference
//!   server, decode, decrypt, cache.
//! - `decrypt/{size}/...`: the decryption step alone, beside the raw AES-256-GCM of the fastest
//!   backend (`ring`) on the same bytes: `client_fetched` is `open_payload` on an Updated payload
//!   (decode, copy of the ciphertext for the cache, decrypt in place, header wiped),
//!   `client_cached` is `open_cached` on a cached ciphertext, `ring_raw` is `Ring::open_in_place`.
//!
//! `cargo bench -p pixstore-client -- --warm-up-time 1 --measurement-time 3`
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::as_conversions
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use pixstore_client::cache::{DirCache, MemoryCache};
use pixstore_client::config::ClientOptions;
use pixstore_client::proto::envelope::{self, Aead as _, Meta, Ring};
use pixstore_client::proto::format::Format;
use pixstore_client::proto::record::ImageRecord;
use pixstore_client::proto::token::Token;
use pixstore_client::proto::wire::Payload;
use pixstore_client::{open, Client};
use pixstore_server::config::{Config, FileConfig};
use test_support::png as image;

const SIZES: [(usize, &str); 3] = [(10 << 10, "10KiB"), (100 << 10, "100KiB"), (1 << 20, "1MiB")];

struct Server {
    rt: tokio::runtime::Runtime,
    running: Option<pixstore_server::Running>,
    _data: tempfile::TempDir,
    records: Vec<ImageRecord>,
    port: u16,
}

fn server() -> Server {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let data = tempfile::tempdir().unwrap();
    let config = Config::resolve(FileConfig {
        default_endpoint_listen_host: Some("127.0.0.1".into()),
        default_endpoint_listen_port: Some(0),
        data_dir: Some(data.path().to_path_buf()),
        // Proofs that outlive the whole run (10 to 20 minutes).
        stateless_key_window_length: Some(600_000),
        ops_enabled: Some(false),
        ..FileConfig::default()
    })
    .unwrap();
    let running = rt.block_on(pixstore_server::start(config)).unwrap();
    let port = running.endpoint.unwrap().port();
    let records = SIZES
        .iter()
        .enumerate()
        .map(|(i, (len, _))| rt.block_on(running.service.save(&image(*len, i as u64), None)).unwrap())
        .collect();
    Server { rt, running: Some(running), _data: data, records, port }
}

impl Server {
    fn client(&self, dir: Option<&std::path::Path>) -> Client {
        let config = ClientOptions {
            default_endpoint_connect_host: Some("127.0.0.1".into()),
            default_endpoint_connect_port: Some(i64::from(self.port)),
            ..ClientOptions::default()
        }
        .resolve()
        .unwrap();
        let b = Client::builder().config(config);
        let b = match dir {
            Some(d) => b.cache(DirCache::open(d).unwrap()),
            None => b.cache(MemoryCache::new()),
        };
        self.rt.block_on(async { b.build() }).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            self.rt.block_on(r.shutdown());
        }
    }
}

fn cache_hit(c: &mut Criterion) {
    let s = server();
    let dir = tempfile::tempdir().unwrap();
    for (kind, client) in [("memory", s.client(None)), ("dir", s.client(Some(dir.path())))] {
        let mut g = c.benchmark_group(format!("cache_hit/{kind}"));
        for ((len, name), r) in SIZES.iter().zip(&s.records) {
            s.rt.block_on(client.get_image(r, &())).unwrap();
            g.throughput(Throughput::Bytes(*len as u64));
            g.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| {
                    let img = s.rt.block_on(client.get_image(black_box(r), &())).unwrap();
                    assert_eq!(img.source(), pixstore_client::Source::Cache);
                    img
                });
            });
        }
        g.finish();
    }
}

fn cold_fetch(c: &mut Criterion) {
    let s = server();
    let client = s.client(None);
    let mut g = c.benchmark_group("cold_fetch");
    for ((len, name), r) in SIZES.iter().zip(&s.records) {
        g.throughput(Throughput::Bytes(*len as u64));
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    s.rt.block_on(client.delete_cached_image(&r.id)).unwrap();
                    let start = Instant::now();
                    let img = s.rt.block_on(client.get_image(black_box(r), &())).unwrap();
                    total += start.elapsed();
                    assert_ne!(img.source(), pixstore_client::Source::Cache);
                }
                total
            });
        });
    }
    g.finish();
}

fn decrypt(c: &mut Criterion) {
    let aead = Ring;
    for (i, (len, name)) in SIZES.iter().enumerate() {
        let key = [i as u8 + 1; 32];
        let iv = [i as u8 + 7; 12];
        let sealed = envelope::seal(&aead, &key, &iv, Format::Png, &image(*len, 40 + i as u64)).unwrap();
        let meta = Meta { key, iv, tag: sealed.tag };
        let token = Token::new(1_732_752_000_000).unwrap();
        let record = ImageRecord { id: "bench".into(), token, meta, stateless_proof: String::new() };
        let mut updated = Vec::new();
        Payload::updated(token, meta, sealed.ciphertext.as_slice()).unwrap().encode(&mut updated);

        let mut g = c.benchmark_group(format!("decrypt/{name}"));
        g.throughput(Throughput::Bytes(sealed.ciphertext.len() as u64));
        g.bench_function("client_fetched", |b| {
            b.iter_batched(
                || bytes::BytesMut::from(updated.as_slice()),
                |body| open::open_payload(&aead, &record, body).unwrap(),
                BatchSize::LargeInput,
            );
        });
        g.bench_function("client_cached", |b| {
            b.iter_batched(
                || bytes::BytesMut::from(sealed.ciphertext.as_slice()),
                |ct| open::open_cached(&aead, &record, ct).unwrap(),
                BatchSize::LargeInput,
            );
        });
        g.bench_function("ring_raw", |b| {
            b.iter_batched(
                || sealed.ciphertext.clone(),
                |mut ct| {
                    aead.open_in_place(&key, &iv, &meta.tag, &mut ct).unwrap();
                    ct
                },
                BatchSize::LargeInput,
            );
        });
        g.finish();
    }
}

criterion_group!(benches, decrypt, cache_hit, cold_fetch);
criterion_main!(benches);
