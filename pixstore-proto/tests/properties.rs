//! Properties over random inputs (proptest).
#![allow(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::as_conversions,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use pixstore_proto::envelope::{self, Meta, RustCrypto};
use pixstore_proto::format::Format;
use pixstore_proto::proof::{self, Keyring, Verifier, Window};
use pixstore_proto::record::ImageRecord;
use pixstore_proto::token::{self, Token, MAX_TOKEN};
use pixstore_proto::wire::{Payload, PayloadRef, State};
use proptest::prelude::*;

fn any_payload() -> impl Strategy<Value = Payload<Vec<u8>>> {
    let ct = proptest::collection::vec(any::<u8>(), 1..300);
    prop_oneof![
        ct.clone().prop_map(|c| Payload::success(c).unwrap()),
        (1..=MAX_TOKEN, any::<[u8; 32]>(), any::<[u8; 12]>(), any::<[u8; 16]>(), ct).prop_map(
            |(t, key, iv, tag, c)| { Payload::updated(Token::new(t).unwrap(), Meta { key, iv, tag }, c).unwrap() }
        ),
        (2u8..=6).prop_map(|b| Payload::error(State::from_byte(b).unwrap()).unwrap()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    // WIRE-12, WIRE-2, WIRE-3, WIRE-4: decode after encode is the identity.
    #[test]
    fn decode_after_encode_is_identity(p in any_payload()) {
        let mut out = Vec::new();
        p.encode(&mut out);
        prop_assert_eq!(out.len(), p.encoded_len());
        let back = PayloadRef::decode(&out).unwrap().map_ciphertext(<[u8]>::to_vec).unwrap();
        prop_assert_eq!(back, p);
    }

    // WIRE-11: decode never panics, and whatever decodes re-encodes to the same bytes.
    #[test]
    fn decode_never_panics(input in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(p) = PayloadRef::decode(&input) {
            let mut out = Vec::new();
            p.encode(&mut out);
            prop_assert_eq!(out, input);
        }
    }

    // Likely prefixes of real payloads, to reach the Updated branch often.
    #[test]
    fn decode_never_panics_on_updated_prefixes(len in 0usize..140, fill in any::<u8>()) {
        let mut input = vec![1u8];
        input.extend(std::iter::repeat_n(fill, len));
        let _ = PayloadRef::decode(&input);
    }

    // PROOF-3, PROOF-4, PROOF-8: random proofs never verify.
    #[test]
    fn random_proofs_never_verify(bytes in any::<[u8; 30]>(), text in "[A-Za-z0-9_-]{40}", id in "[a-z]{1,20}") {
        use base64::Engine as _;
        let mut ring = Keyring::new();
        ring.insert(1, [7u8; 32]).unwrap();
        let v = Verifier::new(&ring, Window::default());
        let now = 1_732_752_000_000;
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        prop_assert!(v.verify(&id, Some(&encoded), now).is_err());
        prop_assert!(v.verify(&id, Some(&text), now).is_err());
    }

    // PROOF-12: a proof verifies for its own id only.
    #[test]
    fn proofs_bind_the_id(a in "[a-z0-9]{1,30}", b in "[a-z0-9]{1,30}") {
        let mut ring = Keyring::new();
        ring.insert(1, [7u8; 32]).unwrap();
        let w = Window::default();
        let now = 1_732_752_000_000;
        let p = proof::mint(&ring, &a, now, w).unwrap();
        let v = Verifier::new(&ring, w);
        prop_assert!(v.verify(&a, Some(&p), now).is_ok());
        prop_assert_eq!(v.verify(&b, Some(&p), now).is_ok(), a == b);
    }

    // ENV-5: any single-bit change of ciphertext or tag is rejected.
    #[test]
    fn tampering_never_opens(image in proptest::collection::vec(any::<u8>(), 0..200), bit in any::<usize>(), in_tag in any::<bool>()) {
        let s = envelope::seal(&RustCrypto, &[3; 32], &[4; 12], Format::Jpg, &image).unwrap();
        let (mut ct, mut tag) = (s.ciphertext.clone(), s.tag);
        if in_tag {
            tag[bit % 16] ^= 1 << (bit % 8);
        } else {
            let at = bit % ct.len();
            ct[at] ^= 1 << (bit % 8);
        }
        prop_assert!(envelope::open(&RustCrypto, &[3; 32], &[4; 12], &tag, &ct).is_err());
    }

    // TOKEN-5: the text form round-trips and nothing else parses to the same token.
    #[test]
    fn token_text(v in 0..=MAX_TOKEN, junk in "\\PC{0,20}") {
        let text = v.to_string();
        prop_assert_eq!(token::parse_text(text.as_bytes()).unwrap().map_or(0, Token::get), v);
        if let Ok(t) = token::parse_text(junk.as_bytes()) {
            prop_assert_eq!(t.map_or(0, Token::get).to_string(), junk);
        }
    }

    // REC-6: record parsing never panics on arbitrary text.
    #[test]
    fn record_parse_never_panics(text in "\\PC{0,200}") {
        let _ = ImageRecord::from_json(text.as_bytes());
    }
}

/// ID-1 as the spec's grammar reads (`id = [ dir ":" ] name`, dir 1*32 of `a-z 0-9 _ -`, name
/// 1*64 of those and `A-Z`): an oracle for `id::validate`, written another way.
fn id_by_the_grammar(id: &str) -> bool {
    const DIR: &str = "abcdefghijklmnopqrstuvwxyz0123456789_-";
    let name_ok = |n: &str| (1..=64).contains(&n.len()) && n.chars().all(|c| DIR.contains(c) || c.is_ascii_uppercase());
    match id.split(':').collect::<Vec<_>>()[..] {
        [name] => name_ok(name),
        [dir, name] => (1..=32).contains(&dir.len()) && dir.chars().all(|c| DIR.contains(c)) && name_ok(name),
        _ => false,
    }
}

proptest! {
    // ID-1: the validator accepts exactly the grammar's ids, on near-valid ones (lengths around
    // every limit, stray separators, bytes just outside the alphabet, non-ASCII), and `split`
    // gives back the parts the id is made of.
    #[test]
    fn ids_are_checked_by_the_grammar(
        id in prop_oneof![
            "[a-z0-9_:A-Z/.é-]{0,100}",
            "[a-z0-9_A-]{0,34}:[A-Za-z0-9_:-]{0,66}",
            "[A-Za-z0-9_-]{60,70}",
        ]
    ) {
        prop_assert_eq!(pixstore_proto::id::validate(&id).is_ok(), id_by_the_grammar(&id), "{:?}", id);
        if let Ok((dir, name)) = pixstore_proto::id::split(&id) {
            let joined = dir.map_or_else(|| name.to_owned(), |d| format!("{d}:{name}"));
            prop_assert_eq!(joined, id);
        }
    }
}
