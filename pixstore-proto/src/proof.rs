//! Stateless proof v1 (spec §8, *Stateless proof v1*).
//!
//! A proof authorises the download of one image's ciphertext until an explicit expiry. It is
//! minted and verified by the backend only; clients pass it along verbatim (PROOF-1).
//!
//! ```text
//! offset size field
//! 0      1    version = 0x01
//! 1      1    flags   = 0x00 (reserved, MUST be zero)
//! 2      4    kid     u32 big-endian, nonzero: names the key in the keyring
//! 6      8    exp     u64 big-endian, Unix time in milliseconds
//! 14     16   tag     HMAC-SHA256(K_kid, "pixstore/proof/v1" 0x00 || bytes 0..14 || u16be(len id) || id)[0..16]
//! ```
//!
//! The 30 bytes travel as exactly 40 characters of unpadded base64url (PROOF-3): 30 is a
//! multiple of 3, so the text has no padding and no spare bits and every proof has exactly one
//! spelling.
//!
//! ## Example: minting and verifying a proof
//!
//! ```
//! use pixstore_proto::proof::{self, Keyring, ProofError, Verifier, Window};
//!
//! // The backend's keyring: key ids name keys (PROOF-5); the first key inserted signs.
//! // Keys come from your CSPRNG, at least 32 bytes, and are shared by every backend instance.
//! let mut ring = Keyring::new();
//! ring.insert(1, [0x42; 32])?;
//! let window = Window::from_config(20_000)?; // statelessKeyWindowLength, in ms
//!
//! let now_ms = 1_732_752_001_000;
//! let text = proof::mint(&ring, "avatars:abc", now_ms, window)?;
//! assert_eq!(text.len(), proof::PROOF_TEXT_LEN);
//!
//! // The endpoint verifies it for the id being requested, at its own clock.
//! let verifier = Verifier::new(&ring, window);
//! assert_eq!(verifier.verify("avatars:abc", Some(&text), now_ms + 5_000), Ok(()));
//! assert_eq!(verifier.verify("avatars:other", Some(&text), now_ms), Err(ProofError::BadTag));
//! assert_eq!(verifier.verify("avatars:abc", None, now_ms), Err(ProofError::Missing));
//! // It lives 20 to 40 s (PROOF-6), plus the allowed clock skew (PROOF-9).
//! assert_eq!(verifier.verify("avatars:abc", Some(&text), now_ms + 60_000), Err(ProofError::Expired));
//!
//! // Rotation: a new signing key; proofs of the old one still verify until it is removed.
//! ring.insert(2, [0x43; 32])?;
//! ring.set_signing(2)?;
//! assert_eq!(Verifier::new(&ring, window).verify("avatars:abc", Some(&text), now_ms), Ok(()));
//! ring.remove(1);
//! assert_eq!(Verifier::new(&ring, window).verify("avatars:abc", Some(&text), now_ms), Err(ProofError::UnknownKey));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::num::NonZeroU64;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Proof version byte of v1 (PROOF-2).
pub const VERSION: u8 = 1;
/// Binary proof length (PROOF-2).
pub const PROOF_LEN: usize = 30;
/// Text proof length: 30 bytes in base64url without padding (PROOF-3).
pub const PROOF_TEXT_LEN: usize = 40;
/// Truncated HMAC-SHA256 tag length, 128 bits (PROOF-2, PROOF-4).
pub const TAG_LEN: usize = 16;
/// Domain-separation label that starts every MAC input (PROOF-4).
pub const LABEL: &[u8] = b"pixstore/proof/v1\0";
/// Shortest accepted key (PROOF-5): the HMAC-SHA256 output size.
pub const MIN_KEY_LEN: usize = 32;
/// Largest allowed clock skew (PROOF-9).
pub const MAX_SKEW_MS: u64 = 60_000;
/// The reference verifier's default clock skew (PROOF-9).
pub const DEFAULT_SKEW_MS: u64 = 5_000;
/// The largest window length accepted from configuration (PROOF-11): 2^42 ms, about 139 years.
pub const MAX_WINDOW_MS: u64 = 1 << 42;
/// The default window length, `statelessKeyWindowLength` (PROOF-11).
pub const DEFAULT_WINDOW_MS: u64 = 20_000;

const SIGNED_LEN: usize = PROOF_LEN - TAG_LEN;
type HmacSha256 = Hmac<Sha256>;

/// Why a proof was not minted or did not verify.
///
/// Every verification failure becomes the wire state InvalidProof (or MissingProof for
/// [`ProofError::Missing`]); the kinds exist for logs and tests. Expiry kinds are reported only
/// after the tag verified (PROOF-7), so they tell a forger nothing.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofError {
    /// No proof, or an empty one (wire MissingProof).
    Missing,
    /// PROOF-3: not exactly 40 characters of base64url.
    Malformed,
    /// PROOF-2: a version other than 1, or nonzero flags.
    UnsupportedVersion,
    /// PROOF-10: the key id is not in the keyring (an empty keyring knows no key id).
    UnknownKey,
    /// PROOF-4, PROOF-8, PROOF-12: the tag does not match (forged, altered, or for another id).
    BadTag,
    /// PROOF-9: the proof expired more than the allowed skew ago.
    Expired,
    /// PROOF-9: the expiry lies further ahead than any proof minted now could (2W + skew).
    ExpiryTooFar,
    /// Minting: the keyring has no signing key.
    NoSigningKey,
    /// Minting: the id does not match the id grammar (spec §3).
    InvalidId,
    /// Minting: `now` is so large that the expiry would overflow.
    ClockOutOfRange,
}

impl ProofError {
    /// The spec's name of the error kind, as used by `spec/vectors/proof.json`.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Missing => "Missing",
            Self::Malformed => "Malformed",
            Self::UnsupportedVersion => "UnsupportedVersion",
            Self::UnknownKey => "UnknownKey",
            Self::BadTag => "BadTag",
            Self::Expired => "Expired",
            Self::ExpiryTooFar => "ExpiryTooFar",
            Self::NoSigningKey => "NoSigningKey",
            Self::InvalidId => "InvalidId",
            Self::ClockOutOfRange => "ClockOutOfRange",
        }
    }
}

impl fmt::Display for ProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Missing => "no stateless proof: send the record's statelessProof in x-pixstore-proof",
            Self::Malformed => "stateless proof is not 40 characters of base64url: send the record's statelessProof verbatim",
            Self::UnsupportedVersion => "stateless proof has an unknown version or flags: it was minted by another protocol version",
            Self::UnknownKey => "stateless proof names a key this server does not hold: fetch a fresh record (keys may have been rotated out)",
            Self::BadTag => "stateless proof does not verify for this image id: fetch a fresh record for this image",
            Self::Expired => "stateless proof expired: fetch a fresh record just before fetching the image",
            Self::ExpiryTooFar => "stateless proof expires further ahead than this server mints: check the minting server's clock and units (ms)",
            Self::NoSigningKey => "the keyring has no signing key: insert a key (or set one as signing) before minting",
            Self::InvalidId => "cannot mint a proof for an id that is not a valid image id (spec §3)",
            Self::ClockOutOfRange => "the clock value is out of range: pass Unix time in milliseconds",
        })
    }
}

impl core::error::Error for ProofError {}

/// Why a keyring or window configuration was refused.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyringError {
    /// PROOF-5: key id 0 is invalid.
    ZeroKeyId,
    /// PROOF-5: a key shorter than [`MIN_KEY_LEN`] bytes.
    KeyTooShort,
    /// PROOF-5: the key id is already in the ring. (Never reusing a removed key id for another
    /// key is the keyring owner's duty: the ring cannot remember removed ids.)
    DuplicateKeyId,
    /// The key id is not in the ring.
    UnknownKeyId,
    /// PROOF-11: `statelessKeyWindowLength` must be a positive integer or -1.
    InvalidWindow,
    /// PROOF-9: the skew must be at most [`MAX_SKEW_MS`].
    SkewTooLarge,
}

impl fmt::Display for KeyringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ZeroKeyId => "proof key id 0 is invalid: use 1..=4294967295",
            Self::KeyTooShort => "proof key is shorter than 32 bytes: generate 32 random bytes",
            Self::DuplicateKeyId => "proof key id is already in the keyring: give a new key a new id",
            Self::UnknownKeyId => "proof key id is not in the keyring",
            Self::InvalidWindow => {
                "statelessKeyWindowLength must be a positive number of milliseconds, or -1 to disable proof validation"
            }
            Self::SkewTooLarge => "proof clock skew must be at most 60000 ms",
        })
    }
}

impl core::error::Error for KeyringError {}

/// The proof window `W` (`statelessKeyWindowLength`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// `W = -1`: proof validation is disabled entirely (PROOF-14).
    Disabled,
    /// `W` milliseconds.
    Millis(NonZeroU64),
}

impl Window {
    /// PROOF-11: a positive integer, or exactly -1; anything else is a configuration error.
    pub fn from_config(ms: i64) -> Result<Window, KeyringError> {
        if ms == -1 {
            return Ok(Window::Disabled);
        }
        // PROOF-11: W must leave room for `(floor(now / W) + 2) * W` in a u64 at any realistic
        // `now`; [`MAX_WINDOW_MS`] (about 146 years) does.
        u64::try_from(ms)
            .ok()
            .filter(|w| *w <= MAX_WINDOW_MS)
            .and_then(NonZeroU64::new)
            .map(Window::Millis)
            .ok_or(KeyringError::InvalidWindow)
    }

    /// The configuration value: -1 or `W`.
    pub fn to_config(self) -> i64 {
        match self {
            Window::Disabled => -1,
            Window::Millis(w) => i64::try_from(w.get()).unwrap_or(i64::MAX),
        }
    }
}

impl Default for Window {
    fn default() -> Self {
        Window::Millis(NonZeroU64::new(DEFAULT_WINDOW_MS).unwrap_or(NonZeroU64::MIN))
    }
}

/// Proof keys named by key id (PROOF-5): one signs, all verify.
#[derive(Clone, Default)]
pub struct Keyring {
    keys: Vec<(u32, HmacSha256)>,
    signing: Option<u32>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("kids", &self.kids().collect::<Vec<_>>())
            .field("signing", &self.signing)
            .finish()
    }
}

impl Keyring {
    /// An empty keyring: it mints nothing and verifies nothing (PROOF-5, fail closed).
    pub fn new() -> Keyring {
        Keyring::default()
    }

    /// Adds a key. The first key added becomes the signing key.
    pub fn insert(&mut self, kid: u32, key: impl AsRef<[u8]>) -> Result<(), KeyringError> {
        let key = key.as_ref();
        if kid == 0 {
            return Err(KeyringError::ZeroKeyId);
        }
        if key.len() < MIN_KEY_LEN {
            return Err(KeyringError::KeyTooShort);
        }
        if self.keys.iter().any(|(k, _)| *k == kid) {
            return Err(KeyringError::DuplicateKeyId);
        }
        let mac = HmacSha256::new_from_slice(key).map_err(|_| KeyringError::KeyTooShort)?;
        self.keys.push((kid, mac));
        self.signing.get_or_insert(kid);
        Ok(())
    }

    /// Makes `kid` the signing key (rotation: insert the new key, make it signing, keep the old
    /// one until the proofs it signed expired, 2W + skew later).
    pub fn set_signing(&mut self, kid: u32) -> Result<(), KeyringError> {
        if !self.keys.iter().any(|(k, _)| *k == kid) {
            return Err(KeyringError::UnknownKeyId);
        }
        self.signing = Some(kid);
        Ok(())
    }

    /// Removes a key; proofs it signed stop verifying. Removing the signing key leaves the ring
    /// without one until [`set_signing`](Self::set_signing).
    pub fn remove(&mut self, kid: u32) -> bool {
        let before = self.keys.len();
        self.keys.retain(|(k, _)| *k != kid);
        if self.signing == Some(kid) {
            self.signing = None;
        }
        self.keys.len() != before
    }

    /// The key ids in the ring.
    pub fn kids(&self) -> impl Iterator<Item = u32> + '_ {
        self.keys.iter().map(|(k, _)| *k)
    }

    /// The signing key id.
    pub fn signing_kid(&self) -> Option<u32> {
        self.signing
    }

    fn mac(&self, kid: u32) -> Option<HmacSha256> {
        self.keys.iter().find(|(k, _)| *k == kid).map(|(_, m)| m.clone())
    }
}

/// PROOF-4: the MAC over label, the signed header and the length-prefixed id.
fn mac_input(mut mac: HmacSha256, signed: &[u8; SIGNED_LEN], id: &[u8]) -> Option<HmacSha256> {
    let len = u16::try_from(id.len()).ok()?;
    mac.update(LABEL);
    mac.update(signed);
    mac.update(&len.to_be_bytes());
    mac.update(id);
    Some(mac)
}

/// The expiry of a proof minted at `now_ms` (PROOF-6): the end of the window after the
/// current one, `(floor(now / W) + 2) * W`. A proof therefore lives between W and 2W, and every
/// proof for one image minted in one window is the same.
pub fn expiry(now_ms: u64, window_ms: NonZeroU64) -> Option<u64> {
    let w = window_ms.get();
    (now_ms / w).checked_add(2)?.checked_mul(w)
}

/// Mints the proof of image `id` at `now_ms` with the ring's signing key (PROOF-2 to PROOF-6).
///
/// With validation disabled (`W = -1`) the proof is the empty string (PROOF-14).
pub fn mint(ring: &Keyring, id: &str, now_ms: u64, window: Window) -> Result<String, ProofError> {
    let Window::Millis(w) = window else {
        return Ok(String::new());
    };
    crate::id::validate(id).map_err(|_| ProofError::InvalidId)?;
    let kid = ring.signing.ok_or(ProofError::NoSigningKey)?;
    let mac = ring.mac(kid).ok_or(ProofError::NoSigningKey)?;
    let exp = expiry(now_ms, w).ok_or(ProofError::ClockOutOfRange)?;
    let mut bytes = [0u8; PROOF_LEN];
    let mut signed = [0u8; SIGNED_LEN];
    signed[0] = VERSION;
    signed[1] = 0;
    signed[2..6].copy_from_slice(&kid.to_be_bytes());
    signed[6..14].copy_from_slice(&exp.to_be_bytes());
    let tag = mac_input(mac, &signed, id.as_bytes()).ok_or(ProofError::InvalidId)?.finalize().into_bytes();
    bytes[..SIGNED_LEN].copy_from_slice(&signed);
    bytes[SIGNED_LEN..].copy_from_slice(tag.get(..TAG_LEN).ok_or(ProofError::InvalidId)?);
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// PROOF-3: exactly 40 characters of the base64url alphabet, decoding to 30 bytes.
fn decode_text(text: &str) -> Result<[u8; PROOF_LEN], ProofError> {
    let ok_char = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_';
    if text.len() != PROOF_TEXT_LEN || !text.as_bytes().iter().all(ok_char) {
        return Err(ProofError::Malformed);
    }
    let mut out = [0u8; PROOF_LEN];
    let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode_slice(text, &mut out)
        .map_err(|_| ProofError::Malformed)?;
    if n != PROOF_LEN {
        return Err(ProofError::Malformed);
    }
    Ok(out)
}

/// Verifies proofs against a keyring, a window and a clock skew.
#[derive(Debug, Clone)]
pub struct Verifier<'k> {
    ring: &'k Keyring,
    window: Window,
    skew_ms: u64,
}

impl<'k> Verifier<'k> {
    /// A verifier with the default skew ([`DEFAULT_SKEW_MS`]).
    pub fn new(ring: &'k Keyring, window: Window) -> Verifier<'k> {
        Verifier { ring, window, skew_ms: DEFAULT_SKEW_MS }
    }

    /// Sets the allowed clock skew, at most [`MAX_SKEW_MS`] (PROOF-9).
    pub fn with_skew(mut self, skew_ms: u64) -> Result<Verifier<'k>, KeyringError> {
        if skew_ms > MAX_SKEW_MS {
            return Err(KeyringError::SkewTooLarge);
        }
        self.skew_ms = skew_ms;
        Ok(self)
    }

    /// The window this verifier checks against.
    pub fn window(&self) -> Window {
        self.window
    }

    /// Verifies `proof` for image `id` at `now_ms` (PROOF-7: syntax, version, key, tag, expiry,
    /// in that order). With `W = -1` everything verifies, a missing proof included (PROOF-14).
    pub fn verify(&self, id: &str, proof: Option<&str>, now_ms: u64) -> Result<(), ProofError> {
        let Window::Millis(w) = self.window else {
            return Ok(());
        };
        let text = proof.filter(|p| !p.is_empty()).ok_or(ProofError::Missing)?;
        let bytes = decode_text(text)?;
        let (signed, tag) = bytes.split_at(SIGNED_LEN);
        let signed: [u8; SIGNED_LEN] = signed.try_into().map_err(|_| ProofError::Malformed)?;
        // PROOF-2
        if signed[0] != VERSION || signed[1] != 0 {
            return Err(ProofError::UnsupportedVersion);
        }
        // PROOF-5, PROOF-10: an unknown kid (every kid, for an empty ring) is rejected.
        let kid = u32::from_be_bytes([signed[2], signed[3], signed[4], signed[5]]);
        let mac = self.ring.mac(kid).ok_or(ProofError::UnknownKey)?;
        // SERVE-5, PROOF-7 step 4: no proof is minted for an id outside the grammar, so it is
        // BadTag without hashing it (bounded work for any id length).
        crate::id::validate(id).map_err(|_| ProofError::BadTag)?;
        // PROOF-4, PROOF-12: the tag binds the id of the request being served.
        let mac = mac_input(mac, &signed, id.as_bytes()).ok_or(ProofError::BadTag)?;
        // PROOF-8: constant-time comparison of all 16 bytes.
        mac.verify_truncated_left(tag).map_err(|_| ProofError::BadTag)?;
        // PROOF-9: expiry only after the tag verified (PROOF-7).
        let exp = u64::from_be_bytes([
            signed[6], signed[7], signed[8], signed[9], signed[10], signed[11], signed[12], signed[13],
        ]);
        if now_ms > exp.saturating_add(self.skew_ms) {
            return Err(ProofError::Expired);
        }
        let latest = now_ms.saturating_add(w.get().saturating_mul(2)).saturating_add(self.skew_ms);
        if exp > latest {
            return Err(ProofError::ExpiryTooFar);
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "tests/proof.rs"]
mod tests;
