//! From bytes to an image, without I/O: decode a wire payload (§4), pick meta and token
//! (CLIENT-4), authenticate and decrypt (§6), and hand back the exact ciphertext to cache
//! (CLIENT-2). [`crate::Client`] calls these; custom pipelines and the benchmarks can too.
//!
//! Copies: a fetched payload is decrypted in its own buffer, and the ciphertext to cache is the
//! one copy made (it must outlive the decryption). A cached ciphertext read from a file is
//! decrypted in the buffer it was read into. [`into_mut`] turns a received `Bytes` into a
//! mutable buffer without a copy when nothing else shares it.

use bytes::{Bytes, BytesMut};
use proto::envelope::{Aead, EnvelopeError, Meta};
use proto::format::Format;
use proto::record::ImageRecord;
use proto::token::Token;
use proto::wire::{Payload, PayloadRef, State};
use zeroize::Zeroize as _;

use crate::error::GetImageError;

/// Where an image came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// CLIENT-1: the cache (no network, no proof).
    Cache,
    /// The endpoint, with the state it answered: [`State::Success`] or [`State::Updated`].
    Network(State),
}

/// An authenticated, decrypted image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    bytes: Bytes,
    format: Format,
    token: Token,
    source: Source,
}

impl Image {
    /// The image file's bytes (the plaintext after its format byte).
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The image bytes, without a copy.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// The format (registry, FMT-1).
    pub fn format(&self) -> Format {
        self.format
    }

    /// FMT-3: the registry's MIME type (`image/jpeg` for both `jpg` and `jpeg`).
    pub fn mime(&self) -> &'static str {
        self.format.mime()
    }

    /// The token of the version returned: the record's, or after Updated the payload's (newer
    /// than the record: the app may want to fetch a fresh record).
    pub fn token(&self) -> Token {
        self.token
    }

    /// Where it came from.
    pub fn source(&self) -> Source {
        self.source
    }
}

/// A fetched payload that authenticated: the image, and the ciphertext to cache under
/// `image.token()`.
#[derive(Debug)]
pub struct Fetched {
    /// The image.
    pub image: Image,
    /// CLIENT-2: exactly the ciphertext, in a buffer of its own (never the payload's buffer,
    /// which held the key, IV and tag of an Updated answer).
    pub ciphertext: Vec<u8>,
}

/// Decodes and opens a fetched wire payload for `record` (CLIENT-3, CLIENT-4, CLIENT-5).
///
/// Success decrypts with the record's meta and keeps the record's token; Updated uses the
/// payload's key, IV, tag and token. The tag is verified before any plaintext byte is used
/// (ENV-5). `body` is consumed: its Updated header (which holds a key) is wiped before this
/// returns, whatever the outcome.
pub fn open_payload<A: Aead + ?Sized>(
    aead: &A,
    record: &ImageRecord,
    mut body: BytesMut,
) -> Result<Fetched, GetImageError> {
    let id = record.id.as_str();
    let (state, token, meta, ct_len) = match PayloadRef::decode(&body) {
        Ok(Payload::Success { ciphertext, .. }) => (State::Success, record.token, record.meta, ciphertext.len()),
        Ok(Payload::Updated { token, meta, ciphertext, .. }) => (State::Updated, token, meta, ciphertext.len()),
        Ok(other) => {
            let state = other.state();
            // `from_state` covers every state but the two matched above; a later state would be
            // a decoder change, reported as not a v1 payload rather than a panic.
            return Err(GetImageError::from_state(id, state).unwrap_or(GetImageError::Decode {
                id: id.into(),
                source: proto::wire::DecodeError::UnassignedState(state.byte()),
            }));
        }
        Err(source) => return Err(GetImageError::Decode { id: id.into(), source }),
    };
    // The decoder guarantees `ct_len >= 1` and that the ciphertext is the payload's suffix.
    let start = body.len().saturating_sub(ct_len);
    // Wipe the header now: state, token, and for Updated the key, IV and tag (copied above).
    if let Some(header) = body.get_mut(..start) {
        header.zeroize();
    }
    // CLIENT-2: the entry's ciphertext is a fresh, exactly sized buffer.
    let ciphertext = body.get(start..).unwrap_or_default().to_vec();
    let (format, bytes) = decrypt_in_place(aead, id, &meta, body, start)?;
    Ok(Fetched { image: Image { bytes, format, token, source: Source::Network(state) }, ciphertext })
}

/// Opens a cached ciphertext with the record's meta (CLIENT-1). `ciphertext` is decrypted in
/// place; on failure it is wiped and the error says why (the caller discards the entry).
pub fn open_cached<A: Aead + ?Sized>(
    aead: &A,
    record: &ImageRecord,
    ciphertext: BytesMut,
) -> Result<Image, GetImageError> {
    let (format, bytes) = decrypt_in_place(aead, &record.id, &record.meta, ciphertext, 0)?;
    Ok(Image { bytes, format, token: record.token, source: Source::Cache })
}

/// Authenticates and decrypts `buf[start..]` in place (ENV-5, ENV-6, FMT-2) and returns the
/// format and the image bytes (a view after the format byte, no copy).
fn decrypt_in_place<A: Aead + ?Sized>(
    aead: &A,
    id: &str,
    meta: &Meta,
    mut buf: BytesMut,
    start: usize,
) -> Result<(Format, Bytes), GetImageError> {
    let envelope = |source| GetImageError::Envelope { id: id.into(), source };
    let region = match buf.get_mut(start..) {
        Some(r) if !r.is_empty() => r,
        // ENV-6: no format byte.
        _ => return Err(envelope(EnvelopeError::MissingFormatByte)),
    };
    if aead.open_in_place(&meta.key, &meta.iv, &meta.tag, region).is_err() {
        // ENV-5: some backends decrypt before they verify; release nothing.
        region.zeroize();
        return Err(envelope(EnvelopeError::Authentication));
    }
    let byte = region.first().copied().unwrap_or(0);
    let format = match Format::from_byte(byte) {
        Ok(f) => f,
        Err(e) => {
            // FMT-2: authenticated, but not an image this client can label.
            region.zeroize();
            return Err(envelope(EnvelopeError::UnknownFormat(e.0)));
        }
    };
    let image_start = start.saturating_add(1);
    Ok((format, buf.freeze().slice(image_start..)))
}

/// A received buffer as a mutable one: no copy when nothing else shares it (a fetched body, a
/// file read), a copy otherwise (a cache that keeps its own).
pub fn into_mut(bytes: Bytes) -> BytesMut {
    bytes.try_into_mut().unwrap_or_else(|shared| BytesMut::from(shared.as_ref()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;
    use proto::envelope::{self, Ring};

    fn sealed(seed: u8, image: &[u8]) -> (Meta, Vec<u8>) {
        let key = [seed; 32];
        let iv = [seed.wrapping_add(1); 12];
        let s = envelope::seal(&Ring, &key, &iv, Format::Png, image).unwrap();
        (Meta { key, iv, tag: s.tag }, s.ciphertext)
    }

    fn record(token: u64, meta: Meta) -> ImageRecord {
        ImageRecord { id: "img".into(), token: Token::new(token).unwrap(), meta, stateless_proof: "p".into() }
    }

    fn encode(p: &Payload<&[u8]>) -> Vec<u8> {
        let mut out = Vec::new();
        p.encode(&mut out);
        out
    }

    // CLIENT-4: Success uses the record's meta and token; Updated the payload's.
    #[test]
    fn success_and_updated() {
        let (m1, c1) = sealed(1, b"one");
        let (m2, c2) = sealed(2, b"two");
        let aead = Ring;
        let r = record(10, m1);
        let f = open_payload(&aead, &r, encode(&Payload::success(c1.as_slice()).unwrap()).as_slice().into()).unwrap();
        assert_eq!((f.image.bytes().as_ref(), f.image.token().get()), (&b"one"[..], 10));
        assert_eq!(f.image.source(), Source::Network(State::Success));
        assert_eq!(f.ciphertext, c1);
        let body = encode(&Payload::updated(Token::new(11).unwrap(), m2, c2.as_slice()).unwrap());
        let f = open_payload(&aead, &r, body.as_slice().into()).unwrap();
        assert_eq!((f.image.bytes().as_ref(), f.image.token().get()), (&b"two"[..], 11));
        assert_eq!(f.image.mime(), "image/png");
        assert_eq!(f.ciphertext, c2);
        // CLIENT-2: exactly the ciphertext, no spare capacity that could hold header bytes.
        assert_eq!(f.ciphertext.capacity(), f.ciphertext.len());
        // A cached ciphertext opens with the meta of the record that names its token.
        let img = open_cached(&aead, &record(11, m2), f.ciphertext.as_slice().into()).unwrap();
        assert_eq!((img.bytes().as_ref(), img.source()), (&b"two"[..], Source::Cache));
    }

    // CLIENT-5, ENV-5, WIRE-7: every failure is typed.
    #[test]
    fn failures_are_typed() {
        let (m1, c1) = sealed(1, b"one");
        let aead = Ring;
        let r = record(10, m1);
        for (byte, want) in [(2u8, State::NotFound), (3, State::MissingId), (4, State::MissingProof)] {
            let e = open_payload(&aead, &r, BytesMut::from(&[byte][..])).unwrap_err();
            assert_eq!(e.state(), Some(want));
        }
        let e = open_payload(&aead, &r, BytesMut::new()).unwrap_err();
        assert!(matches!(e, GetImageError::Decode { source: proto::wire::DecodeError::Empty, .. }));
        let mut bad = c1.clone();
        bad[0] ^= 1;
        let e =
            open_payload(&aead, &r, encode(&Payload::success(bad.as_slice()).unwrap()).as_slice().into()).unwrap_err();
        assert!(matches!(e, GetImageError::Envelope { source: EnvelopeError::Authentication, .. }));
        assert!(e.needs_fresh_record());
        // Format byte 0 authenticates but is not in the registry (FMT-2).
        let key = [9u8; 32];
        let iv = [8u8; 12];
        let mut buf = vec![0u8, 1, 2];
        let tag = proto::envelope::Aead::seal_in_place(&aead, &key, &iv, &mut buf).unwrap();
        let e = open_cached(&aead, &record(1, Meta { key, iv, tag }), buf.as_slice().into()).unwrap_err();
        assert!(matches!(e, GetImageError::Envelope { source: EnvelopeError::UnknownFormat(0), .. }));
    }
}
