//! Unit tests of `wire/encode.rs`, kept apart so that spec-trace counts their requirement IDs as tests.
use super::super::{DecodeError, Meta, PayloadRef, State, STATES};
use super::*;
use crate::token::Token;
use alloc::vec::Vec;

// WIRE-12
#[test]
fn encode_is_exact_and_constructors_refuse_empty_ciphertext() {
    let meta = Meta { key: [1; 32], iv: [2; 12], tag: [3; 16] };
    let t = Token::new(0x0102).unwrap();
    let p = Payload::updated(t, meta, &[9u8][..]).unwrap();
    let mut out = Vec::new();
    p.encode(&mut out);
    assert_eq!(out.len(), p.encoded_len());
    assert_eq!(&out[..9], &[1, 2, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(out[69], 9);
    let mut header = Vec::new();
    p.encode_header(&mut header);
    assert_eq!(header, out[..69]);
    assert_eq!(Payload::success(&[][..]), Err(DecodeError::MissingCiphertext));
    assert_eq!(Payload::updated(t, meta, &[][..]), Err(DecodeError::MissingCiphertext));
    for s in STATES.into_iter().filter(|s| s.is_error()) {
        let mut out = Vec::new();
        Payload::<&[u8]>::error(s).unwrap().encode(&mut out);
        assert_eq!(out, [s.byte()]);
        assert_eq!(PayloadRef::decode(&out).map(|p| p.state()), Ok(s));
    }
    assert!(Payload::<&[u8]>::error(State::Success).is_none());
}
