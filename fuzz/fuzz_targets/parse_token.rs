//! TOKEN-5: parsing arbitrary token text never panics; an accepted text is the canonical
//! decimal form of its value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixstore_proto::token::{self, MAX_TOKEN_TEXT_LEN};

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = token::parse_text(data) {
        let mut buf = [0u8; MAX_TOKEN_TEXT_LEN];
        assert_eq!(token::write_text(t, &mut buf).as_bytes(), data);
    }
});
