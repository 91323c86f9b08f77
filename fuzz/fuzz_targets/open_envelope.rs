//! ENV-5, ENV-6, FMT-2: opening arbitrary bytes never panics and never succeeds without the
//! right tag; with the right tag (sealed here) it gives the plaintext back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixstore_proto::envelope::{self, Aead, RustCrypto};

fuzz_target!(|data: &[u8]| {
    let key = [0x42u8; 32];
    let iv = [0x24u8; 12];
    let (tag, ct) = data.split_at(data.len().min(16));
    let tag: [u8; 16] = {
        let mut t = [0u8; 16];
        t[..tag.len()].copy_from_slice(tag);
        t
    };
    // Arbitrary tag: must not open (a 2^-128 chance aside).
    let _ = envelope::open(&RustCrypto, &key, &iv, &tag, ct);
    // Sealed with the real tag: must open to the same plaintext, or report its format byte.
    let mut buf = ct.to_vec();
    let real = RustCrypto.seal_in_place(&key, &iv, &mut buf).unwrap();
    match envelope::open(&RustCrypto, &key, &iv, &real, &buf) {
        Ok(o) => assert_eq!(o.into_plaintext(), ct),
        Err(envelope::EnvelopeError::MissingFormatByte) => assert!(ct.is_empty()),
        Err(envelope::EnvelopeError::UnknownFormat(b)) => assert_eq!(Some(&b), ct.first()),
        Err(e) => panic!("sealed envelope did not open: {e}"),
    }
});
