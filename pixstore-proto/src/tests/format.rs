//! Unit tests of `format.rs`, kept apart so that spec-trace counts their requirement IDs as tests.
use super::*;

// FMT-1: bytes 1-4 agree with 3.2.1's default list ['png','webp','jpg','jpeg'].
#[test]
fn registry_is_fixed_and_agrees_with_3_2_1_defaults() {
    let names: alloc::vec::Vec<_> = (1..=4).map(|b| Format::from_byte(b).unwrap().name()).collect();
    assert_eq!(names, ["png", "webp", "jpg", "jpeg"]);
    for (i, f) in ALL.into_iter().enumerate() {
        assert_eq!(usize::from(f.byte()), i + 1);
        assert_eq!(Format::from_byte(f.byte()), Ok(f));
        assert_eq!(Format::from_name(f.name()), Some(f));
    }
}

// FMT-2
#[test]
fn zero_and_unassigned_bytes_are_unknown() {
    assert_eq!(Format::from_byte(0), Err(UnknownFormat(0)));
    for b in 11..=255 {
        assert_eq!(Format::from_byte(b), Err(UnknownFormat(b)));
    }
}

// FMT-3, FMT-4
#[test]
fn jpeg_mime() {
    assert_eq!(Format::Jpg.mime(), "image/jpeg");
    assert_eq!(Format::Jpeg.mime(), "image/jpeg");
    assert_eq!(Format::Png.mime(), "image/png");
}
