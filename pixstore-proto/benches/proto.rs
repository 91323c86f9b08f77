//! Criterion benchmarks: decode, encode, seal and open at 10 KiB, 100 KiB and 1 MiB; proof mint
//! and verify. `cargo bench -p pixstore-proto`; results and method in docs/benchmarks.md.
#![allow(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::as_conversions,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used
)]

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pixstore_proto::envelope::{self, Aead, Meta, RustCrypto};
use pixstore_proto::format::Format;
use pixstore_proto::proof::{self, Keyring, Verifier, Window};
use pixstore_proto::token::Token;
use pixstore_proto::wire::{Payload, PayloadRef};

const SIZES: [(usize, &str); 3] = [(10 << 10, "10KiB"), (100 << 10, "100KiB"), (1 << 20, "1MiB")];

fn updated_bytes(len: usize) -> Vec<u8> {
    let meta = Meta { key: [1; 32], iv: [2; 12], tag: [3; 16] };
    let ct = vec![0xa5u8; len];
    let p = Payload::updated(Token::new(1_732_752_000_000).unwrap(), meta, ct.as_slice()).unwrap();
    let mut out = Vec::with_capacity(p.encoded_len());
    p.encode(&mut out);
    out
}

fn wire(c: &mut Criterion) {
    let mut g = c.benchmark_group("wire");
    for (len, name) in SIZES {
        let bytes = updated_bytes(len);
        g.bench_with_input(BenchmarkId::new("decode_updated", name), &bytes, |b, bytes| {
            b.iter(|| PayloadRef::decode(black_box(bytes)).unwrap())
        });
        let p = PayloadRef::decode(&bytes).unwrap();
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_with_input(BenchmarkId::new("encode_updated", name), &p, |b, p| {
            let mut out = Vec::with_capacity(p.encoded_len());
            b.iter(|| {
                out.clear();
                p.encode(&mut out);
                black_box(out.len())
            })
        });
        g.throughput(Throughput::Elements(1));
    }
    g.finish();
}

fn envelope_group(c: &mut Criterion, name: &str, aead: &dyn Aead) {
    let mut g = c.benchmark_group(format!("envelope/{name}"));
    for (len, size) in SIZES {
        let image = vec![0x5au8; len];
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_with_input(BenchmarkId::new("seal", size), &image, |b, image| {
            b.iter(|| envelope::seal(aead, &[1; 32], &[2; 12], Format::Png, black_box(image)).unwrap())
        });
        let sealed = envelope::seal(aead, &[1; 32], &[2; 12], Format::Png, &image).unwrap();
        g.bench_with_input(BenchmarkId::new("open", size), &sealed, |b, s| {
            b.iter(|| envelope::open(aead, &[1; 32], &[2; 12], &s.tag, black_box(&s.ciphertext)).unwrap())
        });
        // The raw AEAD in place, without the envelope's copy: the backend's own speed.
        let mut buf = sealed.ciphertext.clone();
        g.bench_function(BenchmarkId::new("raw_open_in_place", size), |b| {
            b.iter(|| {
                buf.copy_from_slice(&sealed.ciphertext);
                aead.open_in_place(&[1; 32], &[2; 12], &sealed.tag, black_box(&mut buf)).unwrap()
            })
        });
    }
    g.finish();
}

fn envelopes(c: &mut Criterion) {
    envelope_group(c, "rustcrypto", &RustCrypto);
    envelope_group(c, "ring", &envelope::Ring);
}

fn proofs(c: &mut Criterion) {
    let mut ring = Keyring::new();
    ring.insert(1, [7u8; 32]).unwrap();
    ring.insert(2, [8u8; 32]).unwrap();
    let w = Window::default();
    let now = 1_732_752_000_000;
    let id = "avatars:Q2l0eSBvZiBsaWdodHM";
    let mut g = c.benchmark_group("proof");
    g.bench_function("mint", |b| b.iter(|| proof::mint(&ring, black_box(id), now, w).unwrap()));
    let p = proof::mint(&ring, id, now, w).unwrap();
    let v = Verifier::new(&ring, w);
    g.bench_function("verify", |b| b.iter(|| v.verify(black_box(id), Some(black_box(&p)), now).unwrap()));
    g.finish();
}

criterion_group!(benches, wire, envelopes, proofs);
criterion_main!(benches);
