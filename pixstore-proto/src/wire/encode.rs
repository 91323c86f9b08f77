//! The encoder: into any `BufMut`, infallible (WIRE-12).

use bytes::BufMut;

use super::{Payload, UPDATED_HEADER_LEN};

impl<C: AsRef<[u8]>> Payload<C> {
    /// The exact number of bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        match self {
            Payload::Success { ciphertext } => 1 + ciphertext.as_ref().len(),
            Payload::Updated { ciphertext, .. } => UPDATED_HEADER_LEN + ciphertext.as_ref().len(),
            _ => 1,
        }
    }

    /// Writes the payload's exact layout (WIRE-2, WIRE-3, WIRE-4, WIRE-12).
    ///
    /// The checked constructors guarantee a non-empty ciphertext; a hand-built payload that
    /// breaks this is caught by a debug assertion.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u8(self.state().byte());
        match self {
            Payload::Success { ciphertext } => {
                debug_assert!(!ciphertext.as_ref().is_empty(), "WIRE-2: empty ciphertext");
                out.put_slice(ciphertext.as_ref());
            }
            Payload::Updated {
                token,
                meta,
                ciphertext,
            } => {
                debug_assert!(!ciphertext.as_ref().is_empty(), "WIRE-3: empty ciphertext");
                out.put_u64_le(token.get());
                out.put_slice(&meta.key);
                out.put_slice(&meta.iv);
                out.put_slice(&meta.tag);
                out.put_slice(ciphertext.as_ref());
            }
            _ => {}
        }
    }

    /// Writes only the header: everything before the ciphertext (1 or 69 bytes, or the whole
    /// one-byte payload). A server that keeps the ciphertext in its own buffer sends this
    /// header followed by that buffer, without copying the ciphertext.
    pub fn encode_header(&self, out: &mut impl BufMut) {
        out.put_u8(self.state().byte());
        if let Payload::Updated { token, meta, .. } = self {
            out.put_u64_le(token.get());
            out.put_slice(&meta.key);
            out.put_slice(&meta.iv);
            out.put_slice(&meta.tag);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{DecodeError, Meta, PayloadRef, State, STATES};
    use super::*;
    use crate::token::Token;
    use alloc::vec::Vec;

    // WIRE-12
    #[test]
    fn encode_is_exact_and_constructors_refuse_empty_ciphertext() {
        let meta = Meta {
            key: [1; 32],
            iv: [2; 12],
            tag: [3; 16],
        };
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
        assert_eq!(
            Payload::success(&[][..]),
            Err(DecodeError::MissingCiphertext)
        );
        assert_eq!(
            Payload::updated(t, meta, &[][..]),
            Err(DecodeError::MissingCiphertext)
        );
        for s in STATES.into_iter().filter(|s| s.is_error()) {
            let mut out = Vec::new();
            Payload::<&[u8]>::error(s).unwrap().encode(&mut out);
            assert_eq!(out, [s.byte()]);
            assert_eq!(PayloadRef::decode(&out).map(|p| p.state()), Ok(s));
        }
        assert!(Payload::<&[u8]>::error(State::Success).is_none());
    }
}
