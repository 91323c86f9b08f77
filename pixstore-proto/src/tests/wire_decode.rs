//! Unit tests of `wire/decode.rs`, kept apart so that spec-trace counts their requirement IDs as tests.
use super::*;
use alloc::vec;
use alloc::vec::Vec;

fn updated(token: u64, ct: &[u8]) -> Vec<u8> {
    let mut v = vec![1u8];
    v.extend_from_slice(&token.to_le_bytes());
    v.extend((0..60).map(|i: u8| i));
    v.extend_from_slice(ct);
    v
}

// WIRE-2, WIRE-3, WIRE-4
#[test]
fn layouts() {
    assert_eq!(PayloadRef::decode(&[0, 9]), Ok(Payload::Success { ciphertext: &[9][..] }));
    let u = updated(7, &[3, 4]);
    let p = PayloadRef::decode(&u).unwrap();
    assert_eq!(p.token().map(Token::get), Some(7));
    assert_eq!(p.meta().unwrap().key[0], 0);
    assert_eq!(p.meta().unwrap().iv[0], 32);
    assert_eq!(p.meta().unwrap().tag[0], 44);
    assert_eq!(p.ciphertext(), Some(&[3, 4][..]));
    for b in 2..=6 {
        assert_eq!(PayloadRef::decode(&[b]).map(|p| p.state().byte()), Ok(b));
    }
}

// WIRE-5, WIRE-6, WIRE-7, WIRE-8, WIRE-9, WIRE-10
#[test]
fn errors() {
    assert_eq!(PayloadRef::decode(&[]), Err(DecodeError::Empty));
    assert_eq!(PayloadRef::decode(&[0]), Err(DecodeError::MissingCiphertext));
    assert_eq!(PayloadRef::decode(&[1]), Err(DecodeError::Truncated { needed: 68 }));
    assert_eq!(PayloadRef::decode(&updated(1, &[])), Err(DecodeError::MissingCiphertext));
    assert_eq!(PayloadRef::decode(&updated(0, &[1])), Err(DecodeError::TokenOutOfRange));
    assert_eq!(PayloadRef::decode(&updated(1 << 53, &[1])), Err(DecodeError::TokenOutOfRange));
    assert_eq!(PayloadRef::decode(&[2, 0]), Err(DecodeError::TrailingBytes { state: State::NotFound }));
    assert_eq!(PayloadRef::decode(&[7]), Err(DecodeError::ReservedState(7)));
    assert_eq!(PayloadRef::decode(&[10, 1, 2]), Err(DecodeError::ReservedState(10)));
    assert_eq!(PayloadRef::decode(&[11]), Err(DecodeError::UnassignedState(11)));
    assert_eq!(PayloadRef::decode(&[255]), Err(DecodeError::UnassignedState(255)));
}

#[test]
fn bytes_decode_shares_the_buffer() {
    let input = Bytes::from(updated(5, &[1, 2, 3]));
    let p = Payload::decode_bytes(input.clone()).unwrap();
    let ct = p.ciphertext().unwrap();
    assert_eq!(ct, &[1, 2, 3]);
    assert_eq!(ct.as_ptr(), input[69..].as_ptr());
}
