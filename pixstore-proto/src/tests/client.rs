//! Unit tests of `client.rs`, kept apart so that spec-trace counts their requirement IDs as tests.
use super::*;
use crate::envelope::RustCrypto;
use crate::format::Format;

fn record(token: u64, meta: Meta) -> ImageRecord {
    ImageRecord { id: "img".into(), token: Token::new(token).unwrap(), meta, stateless_proof: String::new() }
}

fn sealed(key: u8) -> (Meta, alloc::vec::Vec<u8>) {
    let s = envelope::seal(&RustCrypto, &[key; 32], &[key; 12], Format::Gif, b"GIF89a").unwrap();
    (Meta { key: [key; 32], iv: [key; 12], tag: s.tag }, s.ciphertext)
}

// CLIENT-1
#[test]
fn hit_iff_tokens_equal() {
    let r = record(5, sealed(1).0);
    assert!(is_cache_hit(Some(Token::new(5).unwrap()), &r));
    assert!(!is_cache_hit(Some(Token::new(4).unwrap()), &r));
    assert!(!is_cache_hit(None, &r));
}

// CLIENT-3, CLIENT-4, CLIENT-5
#[test]
fn payload_handling() {
    let (old_meta, _) = sealed(1);
    let (new_meta, new_ct) = sealed(2);
    let r = record(5, old_meta);
    // Updated: the payload's meta and token.
    let p = Payload::updated(Token::new(9).unwrap(), new_meta, new_ct.as_slice()).unwrap();
    let f = open_payload(&RustCrypto, &r, p).unwrap();
    assert_eq!(f.token.get(), 9);
    assert_eq!(f.image.image(), b"GIF89a");
    assert_eq!(f.image.format().mime(), "image/gif");
    assert_eq!(f.ciphertext, new_ct.as_slice());
    // Success with the record's (old) meta over the new ciphertext: rejected, nothing to cache.
    let p = Payload::success(new_ct.as_slice()).unwrap();
    assert_eq!(open_payload(&RustCrypto, &r, p).err(), Some(ClientError::Envelope(EnvelopeError::Authentication)));
    // Success with matching meta: the record's token.
    let r2 = record(9, new_meta);
    let f = open_payload(&RustCrypto, &r2, Payload::success(new_ct.as_slice()).unwrap()).unwrap();
    assert_eq!(f.token.get(), 9);
    for s in [State::NotFound, State::MissingId, State::MissingProof, State::InvalidProof, State::InternalError] {
        let p = Payload::<&[u8]>::error(s).unwrap();
        assert_eq!(open_payload(&RustCrypto, &r, p).err(), Some(ClientError::State(s)));
    }
}

// CLIENT-6: limit 1000, batch 50: at 1001 entries evict 51, leaving 950.
#[test]
fn lru_arithmetic_at_the_boundaries() {
    let l = CacheLimits::default();
    assert_eq!(l.evictions(0), 0);
    assert_eq!(l.evictions(1000), 0);
    assert_eq!(l.evictions(1001), 51);
    assert_eq!(1001 - l.evictions(1001), 950);
    assert_eq!(CacheLimits::new(5, 0).unwrap().evictions(6), 1);
    assert_eq!(CacheLimits::new(5, 4).unwrap().evictions(6), 5);
    assert_eq!(CacheLimits::new(5, 5), Err(LimitsError));
    assert_eq!(CacheLimits::new(0, 0), Err(LimitsError));
}

// CLIENT-2: the entry to cache is exactly the ciphertext, a view into the payload after its
// 69-byte header: no byte of key, iv or tag is in it.
#[test]
fn cached_ciphertext_excludes_the_header() {
    let (meta, ct) = sealed(3);
    let p = Payload::updated(Token::new(7).unwrap(), meta, ct.as_slice()).unwrap();
    let mut body = alloc::vec::Vec::new();
    p.encode(&mut body);
    let decoded = crate::wire::PayloadRef::decode(&body).unwrap();
    let f = open_payload(&RustCrypto, &record(1, sealed(1).0), decoded).unwrap();
    // Its own buffer, not a view into the payload (whose buffer holds the key).
    assert_eq!(f.ciphertext, body[69..]);
    let range = body.as_ptr_range();
    assert!(!range.contains(&f.ciphertext.as_ptr()));
    let entry = CacheEntry { id: "img".into(), ciphertext: f.ciphertext, token: f.token, last_used_ms: 0 };
    assert_eq!(entry.ciphertext.capacity(), entry.ciphertext.len(), "no spare bytes beyond the ciphertext");
    for secret in [&meta.key[..], &meta.iv[..], &meta.tag[..]] {
        assert!(!entry.ciphertext.windows(secret.len()).any(|w| w == secret));
    }
}

// CLIENT-7
#[test]
fn touch_moves_last_use_forward_only() {
    let mut e = CacheEntry { id: "img".into(), ciphertext: (), token: Token::MIN, last_used_ms: 100 };
    e.touch(200);
    assert_eq!(e.last_used_ms, 200);
    e.touch(150);
    assert_eq!(e.last_used_ms, 200);
}

// CLIENT-8, TOKEN-8, PROOF-1: the record's token and its proof verbatim; the id percent-encoded.
#[test]
fn request_carries_the_records_token_and_proof() {
    let mut r = record(1_732_752_000_123, sealed(1).0);
    r.stateless_proof = "AQAAAAABAAABk3AR4ECeeVTuCgo9B_sMK7CU_zdA".into();
    let h = request_headers(&r);
    assert_eq!(h[0], ("x-pixstore-proof", r.stateless_proof.clone()));
    assert_eq!(h[1], ("x-pixstore-token", "1732752000123".into()));
    r.stateless_proof.clear();
    assert_eq!(request_headers(&r).len(), 1);
    assert_eq!(request_target("/pixstore-image", "avatars:a_b-C"), "/pixstore-image/avatars%3Aa_b-C");
    assert_eq!(request_target("/r/", "a b/é"), "/r/a%20b%2F%C3%A9");
    // What the default endpoint decodes is the id that was encoded.
    let target = request_target(crate::http::DEFAULT_ROUTE, "x:y");
    assert_eq!(
        crate::http::classify(crate::http::DEFAULT_ROUTE, "GET", &target),
        crate::http::Action::Serve(crate::http::Id::Text("x:y".into()))
    );
}
