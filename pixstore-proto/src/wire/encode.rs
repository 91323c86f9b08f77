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
            Payload::Updated { token, meta, ciphertext } => {
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
#[path = "../tests/wire_encode.rs"]
mod tests;
