//! PROOF-3, PROOF-7: verifying arbitrary text never panics and never accepts (a fixed test key;
//! the fuzzer cannot forge HMAC-SHA256).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixstore_proto::proof::{Keyring, Verifier, Window};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (id, proof) = text.split_once('\n').unwrap_or(("img", text));
    let mut ring = Keyring::new();
    ring.insert(1, [7u8; 32]).unwrap();
    let v = Verifier::new(&ring, Window::default());
    assert!(v.verify(id, Some(proof), 1_732_752_000_000).is_err());
});
