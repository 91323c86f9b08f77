//! The image envelope (spec §6, *Image envelope and format registry*).
//!
//! ENV-1, ENV-2: `ciphertext, tag = AES-256-GCM(key, iv, plaintext = [format byte][image bytes])`
//! with no associated data; the 16-byte tag travels apart from the ciphertext (ENV-4), so the
//! ciphertext is exactly as long as the plaintext.
//!
//! ENV-3 (the caller's duty, because this crate has no random source): every write uses a fresh
//! 32-byte key and 12-byte IV from a CSPRNG. A (key, iv) pair MUST NOT encrypt two plaintexts:
//! GCM with a repeated nonce leaks the XOR of the plaintexts and the authentication key.
//!
//! The AES-GCM implementation is behind the small [`Aead`] trait, with one type per backend:
//! `RustCrypto` (feature `rustcrypto`, on by default: pure Rust, no_std) and `Ring` (feature
//! `ring`: `ring`'s assembly, std only, several times faster on x86-64; the repository's
//! `docs/benchmarks.md` has the numbers). Name the one you want; `DefaultAead` is a stable
//! name for `RustCrypto` (see there why it never switches to `Ring`). Any other AES-256-GCM
//! implementation can be plugged in by implementing [`Aead`].
//!
//! ## Example: sealing and opening
//!
//! ```
//! # #[cfg(feature = "rustcrypto")] {
//! use pixstore_proto::envelope::{self, EnvelopeError, RustCrypto};
//! use pixstore_proto::format::Format;
//!
//! // ENV-3: a fresh key and IV from a CSPRNG for every write (here a stand-in that counts;
//! // use `getrandom::fill` or your platform's CSPRNG).
//! let mut counter = 0u8;
//! let random = |buf: &mut [u8]| buf.iter_mut().for_each(|b| { counter = counter.wrapping_add(1); *b = counter });
//! let (meta, ciphertext) = envelope::seal_fresh(&RustCrypto, random, Format::Png, b"\x89PNG\r\n\x1a\n...")?;
//! assert_eq!(ciphertext.len(), 1 + 11, "the format byte, then the image; the tag travels apart");
//!
//! // The client opens it with the record's meta (key, iv, tag).
//! let opened = envelope::open(&RustCrypto, &meta.key, &meta.iv, &meta.tag, &ciphertext)?;
//! assert_eq!((opened.format(), opened.image()), (Format::Png, &b"\x89PNG\r\n\x1a\n..."[..]));
//!
//! // One flipped bit: no plaintext is released (ENV-5).
//! let mut tampered = ciphertext.clone();
//! tampered[3] ^= 1;
//! let err = envelope::open(&RustCrypto, &meta.key, &meta.iv, &meta.tag, &tampered).unwrap_err();
//! assert_eq!(err, EnvelopeError::Authentication);
//! # }
//! # Ok::<(), pixstore_proto::envelope::EnvelopeError>(())
//! ```

use alloc::vec::Vec;
use core::fmt;

use crate::format::Format;

/// AES-256 key length (ENV-2).
pub const KEY_LEN: usize = 32;
/// GCM IV (nonce) length (ENV-2).
pub const IV_LEN: usize = 12;
/// GCM tag length (ENV-2).
pub const TAG_LEN: usize = 16;

/// The decryption metadata of one stored version: key, iv and tag (the record's `meta`).
///
/// `Debug` never prints the key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// The AES-256 key.
    pub key: [u8; KEY_LEN],
    /// The GCM IV.
    pub iv: [u8; IV_LEN],
    /// The GCM tag of the ciphertext.
    pub tag: [u8; TAG_LEN],
}

impl fmt::Debug for Meta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Meta")
            .field("key", &"<redacted>")
            .field("iv", &Hex(&self.iv))
            .field("tag", &Hex(&self.tag))
            .finish()
    }
}

struct Hex<'a>(&'a [u8]);

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// The AES-GCM authentication failed: wrong key, iv or tag, or tampered ciphertext.
/// Deliberately without detail (ENV-5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AeadFailure;

/// AES-256-GCM with detached tags and no associated data: all the envelope needs.
pub trait Aead {
    /// Encrypts `buf` in place and returns the tag. Fails only for inputs GCM cannot take (over
    /// 64 GiB); the buffer's content is then unspecified.
    fn seal_in_place(
        &self,
        key: &[u8; KEY_LEN],
        iv: &[u8; IV_LEN],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], AeadFailure>;
    /// Verifies `tag` and decrypts `buf` in place. On failure `buf`'s content is unspecified;
    /// [`open_in_place`] wipes it.
    fn open_in_place(
        &self,
        key: &[u8; KEY_LEN],
        iv: &[u8; IV_LEN],
        tag: &[u8; TAG_LEN],
        buf: &mut [u8],
    ) -> Result<(), AeadFailure>;
}

/// RustCrypto's `aes-gcm` (pure Rust, constant-time, no_std; AES-NI and CLMUL when the CPU has them):
/// the backend of the default features, and [`DefaultAead`].
#[cfg(feature = "rustcrypto")]
#[derive(Debug, Clone, Copy, Default)]
pub struct RustCrypto;

#[cfg(feature = "rustcrypto")]
impl Aead for RustCrypto {
    fn seal_in_place(
        &self,
        key: &[u8; KEY_LEN],
        iv: &[u8; IV_LEN],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], AeadFailure> {
        use aes_gcm::aead::{AeadInPlace, KeyInit};
        let cipher = aes_gcm::Aes256Gcm::new(key.into());
        cipher.encrypt_in_place_detached(iv.into(), b"", buf).map(Into::into).map_err(|_| AeadFailure)
    }

    fn open_in_place(
        &self,
        key: &[u8; KEY_LEN],
        iv: &[u8; IV_LEN],
        tag: &[u8; TAG_LEN],
        buf: &mut [u8],
    ) -> Result<(), AeadFailure> {
        use aes_gcm::aead::{AeadInPlace, KeyInit};
        let cipher = aes_gcm::Aes256Gcm::new(key.into());
        cipher.decrypt_in_place_detached(iv.into(), b"", buf, tag.into()).map_err(|_| AeadFailure)
    }
}

/// `ring`'s AES-256-GCM (BoringSSL assembly; std only).
#[cfg(feature = "ring")]
#[derive(Debug, Clone, Copy, Default)]
pub struct Ring;

#[cfg(feature = "ring")]
impl Aead for Ring {
    fn seal_in_place(
        &self,
        key: &[u8; KEY_LEN],
        iv: &[u8; IV_LEN],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], AeadFailure> {
        use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|_| AeadFailure)?);
        let tag = key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(*iv), Aad::empty(), buf)
            .map_err(|_| AeadFailure)?;
        tag.as_ref().try_into().map_err(|_| AeadFailure)
    }

    fn open_in_place(
        &self,
        key: &[u8; KEY_LEN],
        iv: &[u8; IV_LEN],
        tag: &[u8; TAG_LEN],
        buf: &mut [u8],
    ) -> Result<(), AeadFailure> {
        use ring::aead::{Aad, LessSafeKey, Nonce, Tag, UnboundKey, AES_256_GCM};
        let unbound = UnboundKey::new(&AES_256_GCM, key).map_err(|_| AeadFailure)?;
        let key = LessSafeKey::new(unbound);
        key.open_in_place_separate_tag(Nonce::assume_unique_for_key(*iv), Aad::empty(), Tag::from(*tag), buf, 0..)
            .map(|_| ())
            .map_err(|_| AeadFailure)
    }
}

/// The default backend: always [`RustCrypto`], never anything else.
///
/// A default that followed the features (`Ring` when `ring` is on) would change meaning when
/// any other crate in the build enables `ring`: Cargo unifies features, so a program that
/// never asked for `ring` would get another type, another `std` requirement and other
/// performance. `RustCrypto` is the backend of the default features and the only one that works
/// without `std`, so that is the stable choice. Programs that want `ring`'s speed name
/// `Ring` (feature `ring`) themselves (the reference client does);
/// both produce the same bytes.
#[cfg(feature = "rustcrypto")]
pub type DefaultAead = RustCrypto;

/// Why an envelope did not open (spec §6).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvelopeError {
    /// ENV-5: the tag did not verify (wrong meta, or tampered ciphertext). No plaintext was released.
    Authentication,
    /// ENV-6: the ciphertext is empty, so there is no format byte.
    MissingFormatByte,
    /// FMT-2: the tag verified but the format byte is not in the registry.
    UnknownFormat(u8),
    /// Sealing failed: the image is larger than AES-GCM encrypts under one key and IV (64 GiB).
    TooLarge,
}

impl EnvelopeError {
    /// The spec's name of the error kind, as used by `spec/vectors/envelope.json`.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Authentication => "Authentication",
            Self::MissingFormatByte => "MissingFormatByte",
            Self::UnknownFormat(_) => "UnknownFormat",
            Self::TooLarge => "TooLarge",
        }
    }
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Authentication => f.write_str(
                "image did not authenticate (AES-GCM tag mismatch): the record's meta does not belong to this ciphertext, or it was altered; fetch a fresh record (spec §6, ENV-5)",
            ),
            Self::MissingFormatByte => f.write_str("image ciphertext is empty: it must hold at least the format byte (spec §6, ENV-6)"),
            Self::UnknownFormat(b) => write!(
                f,
                "image has unknown format byte {b}: it was stored by a newer or non-conforming backend (spec §6, FMT-2)"
            ),
            Self::TooLarge => f.write_str("image is too large to seal: AES-GCM takes at most 64 GiB under one key and IV"),
        }
    }
}

impl core::error::Error for EnvelopeError {}

/// A sealed image: ciphertext and its detached tag.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// `AES-256-GCM([format byte][image])`, as long as the plaintext (ENV-1).
    pub ciphertext: Vec<u8>,
    /// The GCM tag, carried apart (ENV-4).
    pub tag: [u8; TAG_LEN],
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed").field("ciphertext_len", &self.ciphertext.len()).field("tag", &Hex(&self.tag)).finish()
    }
}

/// Seals `image` as `format` under `key` and `iv` (ENV-1, ENV-2, ENV-4).
///
/// `key` and `iv` MUST be fresh random values for every write (ENV-3).
pub fn seal<A: Aead + ?Sized>(
    aead: &A,
    key: &[u8; KEY_LEN],
    iv: &[u8; IV_LEN],
    format: Format,
    image: &[u8],
) -> Result<Sealed, EnvelopeError> {
    let mut buf = Vec::with_capacity(image.len() + 1);
    buf.push(format.byte());
    buf.extend_from_slice(image);
    let tag = aead.seal_in_place(key, iv, &mut buf).map_err(|_| EnvelopeError::TooLarge)?;
    Ok(Sealed { ciphertext: buf, tag })
}

/// Seals `image` under a fresh key and IV drawn from `random` (ENV-3): the only way to seal
/// that cannot reuse a (key, iv) pair by mistake. `random` must fill its buffer from a CSPRNG
/// (for example `getrandom::fill`); this crate has no random source of its own.
pub fn seal_fresh<A: Aead + ?Sized>(
    aead: &A,
    mut random: impl FnMut(&mut [u8]),
    format: Format,
    image: &[u8],
) -> Result<(Meta, Vec<u8>), EnvelopeError> {
    let mut key = [0u8; KEY_LEN];
    let mut iv = [0u8; IV_LEN];
    random(&mut key);
    random(&mut iv);
    let sealed = seal(aead, &key, &iv, format, image)?;
    Ok((Meta { key, iv, tag: sealed.tag }, sealed.ciphertext))
}

/// An opened envelope: the authenticated plaintext `[format byte][image]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Opened {
    format: Format,
    plaintext: Vec<u8>,
}

impl Opened {
    /// The image's format (registry, FMT-1).
    pub fn format(&self) -> Format {
        self.format
    }

    /// The image bytes (the plaintext after the format byte).
    pub fn image(&self) -> &[u8] {
        self.plaintext.get(1..).unwrap_or_default()
    }

    /// The whole plaintext buffer, format byte first (to hand the image out without a copy,
    /// slice it from 1).
    pub fn into_plaintext(self) -> Vec<u8> {
        self.plaintext
    }
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opened").field("format", &self.format).field("image_len", &self.image().len()).finish()
    }
}

/// Authenticates and decrypts `ciphertext` (ENV-5), then reads the format byte (ENV-6, FMT-2).
///
/// `ciphertext` is never modified; nothing is returned unless the tag verified.
pub fn open<A: Aead + ?Sized>(
    aead: &A,
    key: &[u8; KEY_LEN],
    iv: &[u8; IV_LEN],
    tag: &[u8; TAG_LEN],
    ciphertext: &[u8],
) -> Result<Opened, EnvelopeError> {
    open_in_place(aead, key, iv, tag, ciphertext.to_vec())
}

/// [`open`] in a buffer the caller already owns (no copy). On failure the buffer is wiped and
/// dropped, so no unauthenticated plaintext escapes (ENV-5).
pub fn open_in_place<A: Aead + ?Sized>(
    aead: &A,
    key: &[u8; KEY_LEN],
    iv: &[u8; IV_LEN],
    tag: &[u8; TAG_LEN],
    mut buf: Vec<u8>,
) -> Result<Opened, EnvelopeError> {
    if buf.is_empty() {
        return Err(EnvelopeError::MissingFormatByte);
    }
    if aead.open_in_place(key, iv, tag, &mut buf).is_err() {
        // Some backends decrypt before they verify: wipe what they wrote (ENV-5).
        zeroize::Zeroize::zeroize(&mut buf);
        return Err(EnvelopeError::Authentication);
    }
    let byte = buf.first().copied().unwrap_or(0);
    let format = Format::from_byte(byte).map_err(|e| EnvelopeError::UnknownFormat(e.0))?;
    Ok(Opened { format, plaintext: buf })
}

#[cfg(all(test, feature = "rustcrypto"))]
#[path = "tests/envelope.rs"]
mod tests;
