//! REC-6: parsing arbitrary record JSON never panics; an accepted record survives a JSON
//! round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixstore_proto::record::ImageRecord;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = ImageRecord::from_json(data) {
        let again = ImageRecord::from_json(r.to_json().as_bytes()).expect("re-parse");
        assert_eq!(again, r);
    }
});
