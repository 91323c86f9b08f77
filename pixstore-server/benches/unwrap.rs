//! Criterion benchmark of what keys at rest cost on the serving path (spec §12.6, docs/keys-at-rest.md):
//! building the Updated answer of a stored version in layout 0 (plaintext keys: the stored
//! buffer as is) against layout 1 (unseal the 60-byte key, IV and tag under the KEK, build the
//! 61-byte header; the ciphertext a view, never copied), at 10 KiB, 100 KiB and 1 MiB: the cost
//! must not grow with the size. `cargo bench -p pixstore-server --bench unwrap`.
#![allow(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::as_conversions,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used
)]

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use pixstore_server::kek::KekRing;
use pixstore_server::store::StoredImage;
use proto::envelope::Meta;
use proto::token::Token;

const SIZES: [(usize, &str); 3] = [(10 << 10, "10KiB"), (100 << 10, "100KiB"), (1 << 20, "1MiB")];

fn unwrap(c: &mut Criterion) {
    let ring = KekRing::from_keys(1, &[(1, [7; 32])]).unwrap();
    let meta = Meta { key: [1; 32], iv: [2; 12], tag: [3; 16] };
    let token = Token::new(1_732_752_000_000).unwrap();
    let id = "bench:0123456789abcdef0123456789abcdef";
    let mut g = c.benchmark_group("updated_payload");
    for (len, name) in SIZES {
        let ciphertext = vec![0xa5u8; len];
        let plain = StoredImage::new(token, meta, &ciphertext).unwrap();
        let wrapped = StoredImage::wrapped(id, token, &meta, &ciphertext, &ring).unwrap();
        g.bench_with_input(BenchmarkId::new("layout0_plain", name), &plain, |b, v| {
            b.iter(|| black_box(v.updated_payload(id, None).unwrap()))
        });
        g.bench_with_input(BenchmarkId::new("layout1_wrapped", name), &wrapped, |b, v| {
            b.iter(|| black_box(v.updated_payload(id, Some(&ring)).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(benches, unwrap);
criterion_main!(benches);
