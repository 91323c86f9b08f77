//! The decoder: nom over `&[u8]`, every length checked before it is taken.

use bytes::Bytes;
use nom::bytes::complete::take;
use nom::number::complete::le_u64;
use nom::{IResult, Parser};

use super::{DecodeError, Payload, PayloadRef, State, UPDATED_HEADER_LEN};
use crate::envelope::{Meta, IV_LEN, KEY_LEN, TAG_LEN};
use crate::token::Token;

/// The Updated header after the state byte: token, key, iv, tag (WIRE-3).
fn parse_updated_header(input: &[u8]) -> IResult<&[u8], (u64, &[u8], &[u8], &[u8]), ()> {
    (le_u64, take(KEY_LEN), take(IV_LEN), take(TAG_LEN)).parse(input)
}

fn array<const N: usize>(bytes: &[u8]) -> Result<[u8; N], DecodeError> {
    // The parser took exactly N bytes, so this cannot fail; an error (not a panic) if it did.
    bytes
        .try_into()
        .map_err(|_| DecodeError::Truncated { needed: N })
}

/// Decodes one payload; the ciphertext range is returned as offsets into `input`.
fn decode_parts(input: &[u8]) -> Result<Payload<core::ops::Range<usize>>, DecodeError> {
    // WIRE-7
    let Some((&state_byte, rest)) = input.split_first() else {
        return Err(DecodeError::Empty);
    };
    // WIRE-1, WIRE-5, WIRE-6: the state byte decides first, whatever follows.
    let state = State::from_byte(state_byte)?;
    let body = 1..input.len();
    match state {
        State::Success => {
            // WIRE-2, WIRE-8
            if rest.is_empty() {
                return Err(DecodeError::MissingCiphertext);
            }
            Ok(Payload::Success { ciphertext: body })
        }
        State::Updated => {
            // WIRE-8: length before anything is taken.
            if input.len() < UPDATED_HEADER_LEN {
                return Err(DecodeError::Truncated {
                    needed: UPDATED_HEADER_LEN - input.len(),
                });
            }
            if input.len() == UPDATED_HEADER_LEN {
                return Err(DecodeError::MissingCiphertext);
            }
            // WIRE-3
            let (ciphertext, (token, key, iv, tag)) =
                parse_updated_header(rest).map_err(|_| DecodeError::Truncated {
                    needed: UPDATED_HEADER_LEN.saturating_sub(input.len()),
                })?;
            // WIRE-10
            let token = Token::new(token).map_err(|_| DecodeError::TokenOutOfRange)?;
            let meta = Meta {
                key: array(key)?,
                iv: array(iv)?,
                tag: array(tag)?,
            };
            Ok(Payload::Updated {
                token,
                meta,
                ciphertext: input.len() - ciphertext.len()..input.len(),
            })
        }
        _ => {
            // WIRE-4, WIRE-9
            if !rest.is_empty() {
                return Err(DecodeError::TrailingBytes { state });
            }
            Payload::error(state).ok_or(DecodeError::Empty)
        }
    }
}

fn map_ciphertext<C, D>(p: Payload<C>, f: impl FnOnce(C) -> D) -> Payload<D> {
    match p {
        Payload::Success { ciphertext } => Payload::Success {
            ciphertext: f(ciphertext),
        },
        Payload::Updated {
            token,
            meta,
            ciphertext,
        } => Payload::Updated {
            token,
            meta,
            ciphertext: f(ciphertext),
        },
        Payload::NotFound => Payload::NotFound,
        Payload::MissingId => Payload::MissingId,
        Payload::MissingProof => Payload::MissingProof,
        Payload::InvalidProof => Payload::InvalidProof,
        Payload::InternalError => Payload::InternalError,
    }
}

impl<'a> PayloadRef<'a> {
    /// Decodes a payload without copying its ciphertext (WIRE-11: never panics).
    ///
    /// Decoding takes the same time whatever the ciphertext's length: only the 69-byte header
    /// is read.
    pub fn decode(input: &'a [u8]) -> Result<Self, DecodeError> {
        let parts = decode_parts(input)?;
        Ok(map_ciphertext(parts, |range| {
            input.get(range).unwrap_or_default()
        }))
    }
}

impl Payload<Bytes> {
    /// Decodes an owned payload; the ciphertext shares `input`'s buffer (no copy).
    pub fn decode_bytes(input: Bytes) -> Result<Self, DecodeError> {
        let parts = decode_parts(&input)?;
        Ok(map_ciphertext(parts, |range| input.slice(range)))
    }
}

impl<C> Payload<C> {
    /// The same payload with its ciphertext converted (e.g. `&[u8]` to `Vec<u8>`).
    pub fn map_ciphertext<D>(self, f: impl FnOnce(C) -> D) -> Payload<D> {
        map_ciphertext(self, f)
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!(
            PayloadRef::decode(&[0, 9]),
            Ok(Payload::Success {
                ciphertext: &[9][..]
            })
        );
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
        assert_eq!(
            PayloadRef::decode(&[0]),
            Err(DecodeError::MissingCiphertext)
        );
        assert_eq!(
            PayloadRef::decode(&[1]),
            Err(DecodeError::Truncated { needed: 68 })
        );
        assert_eq!(
            PayloadRef::decode(&updated(1, &[])),
            Err(DecodeError::MissingCiphertext)
        );
        assert_eq!(
            PayloadRef::decode(&updated(0, &[1])),
            Err(DecodeError::TokenOutOfRange)
        );
        assert_eq!(
            PayloadRef::decode(&updated(1 << 53, &[1])),
            Err(DecodeError::TokenOutOfRange)
        );
        assert_eq!(
            PayloadRef::decode(&[2, 0]),
            Err(DecodeError::TrailingBytes {
                state: State::NotFound
            })
        );
        assert_eq!(PayloadRef::decode(&[7]), Err(DecodeError::ReservedState(7)));
        assert_eq!(
            PayloadRef::decode(&[10, 1, 2]),
            Err(DecodeError::ReservedState(10))
        );
        assert_eq!(
            PayloadRef::decode(&[11]),
            Err(DecodeError::UnassignedState(11))
        );
        assert_eq!(
            PayloadRef::decode(&[255]),
            Err(DecodeError::UnassignedState(255))
        );
    }

    #[test]
    fn bytes_decode_shares_the_buffer() {
        let input = Bytes::from(updated(5, &[1, 2, 3]));
        let p = Payload::decode_bytes(input.clone()).unwrap();
        let ct = p.ciphertext().unwrap();
        assert_eq!(ct, &[1, 2, 3]);
        assert_eq!(ct.as_ptr(), input[69..].as_ptr());
    }
}
