//! WIRE-11: decoding never panics; a payload that decodes re-encodes to the same bytes, and the
//! owned decoder agrees with the borrowed one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixstore_proto::wire::{Payload, PayloadRef};

fuzz_target!(|data: &[u8]| {
    let borrowed = PayloadRef::decode(data);
    let owned = Payload::decode_bytes(bytes::Bytes::copy_from_slice(data));
    assert_eq!(borrowed.as_ref().err(), owned.as_ref().err());
    if let Ok(p) = borrowed {
        let mut out = Vec::with_capacity(p.encoded_len());
        p.encode(&mut out);
        assert_eq!(out, data, "re-encoding differs");
        assert_eq!(p.encoded_len(), data.len());
    }
});
