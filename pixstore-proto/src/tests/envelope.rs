//! Unit tests of `envelope.rs`, kept apart so that spec-trace counts their requirement IDs as tests.
use super::*;

fn backends() -> alloc::vec::Vec<&'static dyn Aead> {
    alloc::vec![
        &RustCrypto,
        #[cfg(feature = "ring")]
        &Ring,
    ]
}

// ENV-1, ENV-2, ENV-4: the ciphertext is as long as [format][image], the tag apart.
#[test]
fn seal_open_round_trip_on_every_backend() {
    for aead in backends() {
        let s = seal(aead, &[1; 32], &[2; 12], Format::Webp, b"RIFF....WEBP").unwrap();
        assert_eq!(s.ciphertext.len(), 13);
        let o = open(aead, &[1; 32], &[2; 12], &s.tag, &s.ciphertext).unwrap();
        assert_eq!(o.format(), Format::Webp);
        assert_eq!(o.image(), b"RIFF....WEBP");
    }
}

// The two backends agree byte for byte.
#[cfg(feature = "ring")]
#[test]
fn backends_agree() {
    let a = seal(&RustCrypto, &[5; 32], &[6; 12], Format::Png, b"x").unwrap();
    let b = seal(&Ring, &[5; 32], &[6; 12], Format::Png, b"x").unwrap();
    assert_eq!(a, b);
}

// DefaultAead does not change under feature unification: it is RustCrypto whatever else is on.
#[test]
fn default_aead_is_rustcrypto() {
    let _: RustCrypto = DefaultAead::default();
    assert_eq!(core::any::type_name::<DefaultAead>(), core::any::type_name::<RustCrypto>());
}

// ENV-5: tampering is an opaque error, the caller's ciphertext is untouched.
#[test]
fn tampering_is_rejected_and_input_untouched() {
    for aead in backends() {
        let s = seal(aead, &[1; 32], &[2; 12], Format::Png, b"image").unwrap();
        let mut ct = s.ciphertext.clone();
        ct[2] ^= 1;
        assert_eq!(open(aead, &[1; 32], &[2; 12], &s.tag, &ct), Err(EnvelopeError::Authentication));
        let mut tag = s.tag;
        tag[15] ^= 0x80;
        assert_eq!(open(aead, &[1; 32], &[2; 12], &tag, &s.ciphertext), Err(EnvelopeError::Authentication));
        assert_eq!(open(aead, &[1; 32], &[3; 12], &s.tag, &s.ciphertext), Err(EnvelopeError::Authentication));
    }
}

// ENV-6, FMT-2
#[test]
fn empty_ciphertext_and_unknown_format() {
    assert_eq!(open(&RustCrypto, &[1; 32], &[2; 12], &[0; 16], &[]), Err(EnvelopeError::MissingFormatByte));
    let mut buf = alloc::vec![0u8, 1, 2];
    let tag = RustCrypto.seal_in_place(&[1; 32], &[2; 12], &mut buf).unwrap();
    assert_eq!(open(&RustCrypto, &[1; 32], &[2; 12], &tag, &buf), Err(EnvelopeError::UnknownFormat(0)));
}

#[test]
fn debug_never_shows_the_key() {
    let m = Meta { key: [0xab; 32], iv: [0; 12], tag: [0; 16] };
    let s = alloc::format!("{m:?}");
    assert!(!s.contains("ab"), "{s}");
    assert!(s.contains("redacted"));
}

// ENV-3: every seal_fresh draws a new key and IV.
#[test]
fn seal_fresh_draws_new_key_and_iv_every_time() {
    let mut counter = 0u8;
    let mut rng = |buf: &mut [u8]| {
        counter = counter.wrapping_add(1);
        buf.fill(counter);
    };
    let (m1, c1) = seal_fresh(&RustCrypto, &mut rng, Format::Png, b"same image").unwrap();
    let (m2, c2) = seal_fresh(&RustCrypto, &mut rng, Format::Png, b"same image").unwrap();
    assert_ne!(m1.key, m2.key);
    assert_ne!(m1.iv, m2.iv);
    assert_ne!(c1, c2);
    assert_eq!(open(&RustCrypto, &m2.key, &m2.iv, &m2.tag, &c2).unwrap().image(), b"same image");
}
