//! The decoder: nom over `&[u8]`, every length checked before it is taken.

use bytes::Bytes;
use nom::bytes::complete::take;
use nom::number::complete::le_u64;
use nom::{IResult, Parser};

use super::{DecodeError, Payload, PayloadRef, State, UPDATED_HEADER_LEN};
use crate::envelope::{Meta, IV_LEN, KEY_LEN, TAG_LEN};
use crate::token::Token;

/// Token, key, iv and tag, as the parser takes them.
type UpdatedHeader<'a> = (u64, &'a [u8], &'a [u8], &'a [u8]);

/// The Updated header after the state byte: token, key, iv, tag (WIRE-3).
fn parse_updated_header(input: &[u8]) -> IResult<&[u8], UpdatedHeader<'_>, ()> {
    (le_u64, take(KEY_LEN), take(IV_LEN), take(TAG_LEN)).parse(input)
}

fn array<const N: usize>(bytes: &[u8]) -> Result<[u8; N], DecodeError> {
    // The parser took exactly N bytes, so this cannot fail; an error (not a panic) if it did.
    bytes.try_into().map_err(|_| DecodeError::Truncated { needed: N })
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
                return Err(DecodeError::Truncated { needed: UPDATED_HEADER_LEN - input.len() });
            }
            if input.len() == UPDATED_HEADER_LEN {
                return Err(DecodeError::MissingCiphertext);
            }
            // WIRE-3
            let (ciphertext, (token, key, iv, tag)) = parse_updated_header(rest)
                .map_err(|_| DecodeError::Truncated { needed: UPDATED_HEADER_LEN.saturating_sub(input.len()) })?;
            // WIRE-10
            let token = Token::new(token).map_err(|_| DecodeError::TokenOutOfRange)?;
            let meta = Meta { key: array(key)?, iv: array(iv)?, tag: array(tag)? };
            Ok(Payload::Updated { token, meta, ciphertext: input.len() - ciphertext.len()..input.len() })
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
        Payload::Success { ciphertext } => Payload::Success { ciphertext: f(ciphertext) },
        Payload::Updated { token, meta, ciphertext } => Payload::Updated { token, meta, ciphertext: f(ciphertext) },
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
        Ok(map_ciphertext(parts, |range| input.get(range).unwrap_or_default()))
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
    ///
    /// WIRE-12: a conversion that empties the ciphertext is refused.
    pub fn map_ciphertext<D: AsRef<[u8]>>(self, f: impl FnOnce(C) -> D) -> Result<Payload<D>, DecodeError> {
        let p = map_ciphertext(self, f);
        if p.ciphertext().is_some_and(<[u8]>::is_empty) {
            return Err(DecodeError::MissingCiphertext);
        }
        Ok(p)
    }
}

#[cfg(test)]
#[path = "../tests/wire_decode.rs"]
mod tests;
