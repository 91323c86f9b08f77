//! The wire payload (spec §4, *Wire payload*).
//!
//! ```text
//! Success   [0x00][ciphertext >= 1]
//! Updated   [0x01][token u64 LE: 8][key: 32][iv: 12][tag: 16][ciphertext >= 1]   header 69 bytes
//! NotFound  [0x02]    MissingID [0x03]    MissingProof [0x04]
//! InvalidProof [0x05] InternalError [0x06]                                        exactly 1 byte
//! 7..=10 reserved, 11..=255 unassigned: rejected by decoders
//! ```
//!
//! [`Payload<C>`] is generic over the ciphertext container: [`PayloadRef`] borrows a `&[u8]`
//! (zero-copy decode, see [`Payload::decode`]), [`Payload<Bytes>`](bytes::Bytes) shares an
//! owned buffer ([`Payload::decode_bytes`]).
//!
//! ## Example: decoding and inspecting a payload
//!
//! ```
//! use pixstore_proto::wire::{DecodeError, PayloadRef, State};
//!
//! // An Updated answer: state 1, token (u64 LE), key, iv, tag, then the ciphertext.
//! let mut body = vec![0x01];
//! body.extend_from_slice(&1_732_752_000_000u64.to_le_bytes());
//! body.extend_from_slice(&[0xAA; 32]); // key
//! body.extend_from_slice(&[0xBB; 12]); // iv
//! body.extend_from_slice(&[0xCC; 16]); // tag
//! body.extend_from_slice(b"\x01sealed image");
//!
//! let payload = PayloadRef::decode(&body)?;
//! assert_eq!(payload.state(), State::Updated);
//! assert_eq!(payload.token().map(|t| t.get()), Some(1_732_752_000_000));
//! let meta = payload.meta().ok_or("Updated carries meta")?;
//! assert_eq!((meta.key[0], meta.iv[0], meta.tag[0]), (0xAA, 0xBB, 0xCC));
//! assert_eq!(payload.ciphertext(), Some(&b"\x01sealed image"[..])); // borrowed from `body`
//!
//! // Encoding gives the same bytes back.
//! let mut again = Vec::new();
//! payload.encode(&mut again);
//! assert_eq!(again, body);
//!
//! // Error states are one byte; anything else is a precise error, never a panic.
//! assert_eq!(PayloadRef::decode(&[0x05])?.state(), State::InvalidProof);
//! assert_eq!(PayloadRef::decode(&body[..20]), Err(DecodeError::Truncated { needed: 49 }));
//! assert_eq!(PayloadRef::decode(&[0x07]), Err(DecodeError::ReservedState(7)));
//! assert_eq!(PayloadRef::decode(&[0x02, 0x00]), Err(DecodeError::TrailingBytes { state: State::NotFound }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod decode;
mod encode;

use core::fmt;

pub use crate::envelope::Meta;
use crate::token::Token;

/// Length of the Updated header: state 1 + token 8 + key 32 + iv 12 + tag 16 (WIRE-3).
pub const UPDATED_HEADER_LEN: usize =
    1 + 8 + crate::envelope::KEY_LEN + crate::envelope::IV_LEN + crate::envelope::TAG_LEN;
/// Shortest Success payload: the state and one ciphertext byte (the format byte) (WIRE-2).
pub const SUCCESS_MIN_LEN: usize = 2;
/// Shortest Updated payload (WIRE-3).
pub const UPDATED_MIN_LEN: usize = UPDATED_HEADER_LEN + 1;

/// The assigned wire states of v1 (WIRE-1). The discriminant is the state byte.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum State {
    /// 0: the client's token is current; the payload carries the ciphertext only.
    Success = 0,
    /// 1: the client's token is stale or absent; the payload carries token, key, iv, tag and ciphertext.
    Updated = 1,
    /// 2: no image with this id (sent only after the proof verified).
    NotFound = 2,
    /// 3: the request named no id.
    MissingId = 3,
    /// 4: the request carried no proof.
    MissingProof = 4,
    /// 5: the proof is malformed, forged, expired or for another id.
    InvalidProof = 5,
    /// 6: the backend failed (storage error); details are in its log.
    InternalError = 6,
}

/// Every assigned state, in byte order.
pub const STATES: [State; 7] = [
    State::Success,
    State::Updated,
    State::NotFound,
    State::MissingId,
    State::MissingProof,
    State::InvalidProof,
    State::InternalError,
];

/// Reserved state bytes and the meanings upstream reserved them for (WIRE-1, WIRE-5).
pub const RESERVED_STATES: [(u8, &str); 4] =
    [(7, "InvalidToken"), (8, "Unauthorized"), (9, "RateLimited"), (10, "UnsupportedFormat")];

impl State {
    /// The state byte.
    pub const fn byte(self) -> u8 {
        // A fieldless `repr(u8)` enum: this reads the discriminant, it cannot truncate.
        #[allow(clippy::as_conversions)]
        let b = self as u8;
        b
    }

    /// The state of an assigned byte; reserved and unassigned bytes are errors (WIRE-5, WIRE-6).
    pub const fn from_byte(byte: u8) -> Result<State, DecodeError> {
        Ok(match byte {
            0 => State::Success,
            1 => State::Updated,
            2 => State::NotFound,
            3 => State::MissingId,
            4 => State::MissingProof,
            5 => State::InvalidProof,
            6 => State::InternalError,
            7..=10 => return Err(DecodeError::ReservedState(byte)),
            _ => return Err(DecodeError::UnassignedState(byte)),
        })
    }

    /// The spec's name of the state (`"MissingID"`, not the Rust spelling).
    pub const fn name(self) -> &'static str {
        match self {
            State::Success => "Success",
            State::Updated => "Updated",
            State::NotFound => "NotFound",
            State::MissingId => "MissingID",
            State::MissingProof => "MissingProof",
            State::InvalidProof => "InvalidProof",
            State::InternalError => "InternalError",
        }
    }

    /// The state whose spec name is `name`.
    pub fn from_name(name: &str) -> Option<State> {
        STATES.into_iter().find(|s| s.name() == name)
    }

    /// Whether this state is one of the one-byte error states (WIRE-4).
    pub const fn is_error(self) -> bool {
        !matches!(self, State::Success | State::Updated)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.byte())
    }
}

/// A wire payload. `C` holds the ciphertext: `&[u8]` ([`PayloadRef`]), `Bytes` or `Vec<u8>`.
///
/// Build Success and Updated payloads with [`Payload::success`] and [`Payload::updated`],
/// which refuse an empty ciphertext (WIRE-12); [`Payload::encode`] then cannot fail.
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq)]
pub enum Payload<C> {
    /// State 0 (WIRE-2).
    /// Built only by [`Payload::success`] or a decoder, so the ciphertext is never empty.
    #[non_exhaustive]
    Success {
        /// The ciphertext of `[format byte][image]`; the client decrypts it with its record's meta.
        ciphertext: C,
    },
    /// State 1 (WIRE-3).
    /// Built only by [`Payload::updated`] or a decoder, so the ciphertext is never empty.
    #[non_exhaustive]
    Updated {
        /// The current token of the image.
        token: Token,
        /// Key, iv and tag of the current version.
        meta: Meta,
        /// The ciphertext of the current version.
        ciphertext: C,
    },
    /// State 2.
    NotFound,
    /// State 3.
    MissingId,
    /// State 4.
    MissingProof,
    /// State 5.
    InvalidProof,
    /// State 6.
    InternalError,
}

/// A payload borrowing its ciphertext from the input: what [`Payload::decode`] returns.
pub type PayloadRef<'a> = Payload<&'a [u8]>;

impl<C: AsRef<[u8]>> Payload<C> {
    /// A Success payload; an empty ciphertext is [`DecodeError::MissingCiphertext`] (WIRE-2, WIRE-12).
    pub fn success(ciphertext: C) -> Result<Self, DecodeError> {
        if ciphertext.as_ref().is_empty() {
            return Err(DecodeError::MissingCiphertext);
        }
        Ok(Payload::Success { ciphertext })
    }

    /// An Updated payload; an empty ciphertext is [`DecodeError::MissingCiphertext`] (WIRE-3, WIRE-12).
    pub fn updated(token: Token, meta: Meta, ciphertext: C) -> Result<Self, DecodeError> {
        if ciphertext.as_ref().is_empty() {
            return Err(DecodeError::MissingCiphertext);
        }
        Ok(Payload::Updated { token, meta, ciphertext })
    }
}

impl<C> Payload<C> {
    /// The one-byte payload of an error state; `None` for Success and Updated.
    pub fn error(state: State) -> Option<Self> {
        Some(match state {
            State::Success | State::Updated => return None,
            State::NotFound => Payload::NotFound,
            State::MissingId => Payload::MissingId,
            State::MissingProof => Payload::MissingProof,
            State::InvalidProof => Payload::InvalidProof,
            State::InternalError => Payload::InternalError,
        })
    }

    /// The payload's state.
    pub fn state(&self) -> State {
        match self {
            Payload::Success { .. } => State::Success,
            Payload::Updated { .. } => State::Updated,
            Payload::NotFound => State::NotFound,
            Payload::MissingId => State::MissingId,
            Payload::MissingProof => State::MissingProof,
            Payload::InvalidProof => State::InvalidProof,
            Payload::InternalError => State::InternalError,
        }
    }

    /// The token of an Updated payload.
    pub fn token(&self) -> Option<Token> {
        match self {
            Payload::Updated { token, .. } => Some(*token),
            _ => None,
        }
    }

    /// The meta of an Updated payload.
    pub fn meta(&self) -> Option<&Meta> {
        match self {
            Payload::Updated { meta, .. } => Some(meta),
            _ => None,
        }
    }
}

impl<C: AsRef<[u8]>> Payload<C> {
    /// The ciphertext of a Success or Updated payload.
    pub fn ciphertext(&self) -> Option<&[u8]> {
        match self {
            Payload::Success { ciphertext } | Payload::Updated { ciphertext, .. } => Some(ciphertext.as_ref()),
            _ => None,
        }
    }
}

impl<C: AsRef<[u8]>> fmt::Debug for Payload<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct(self.state().name());
        if let Some(t) = self.token() {
            d.field("token", &t.get());
        }
        if let Some(m) = self.meta() {
            d.field("meta", m);
        }
        if let Some(c) = self.ciphertext() {
            d.field("ciphertext_len", &c.len());
        }
        d.finish()
    }
}

/// Why bytes are not a v1 wire payload (WIRE-7 to WIRE-11). Each kind is distinct.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// WIRE-7: no bytes at all.
    Empty,
    /// WIRE-8: an Updated payload shorter than its 69-byte header; `needed` more bytes complete it.
    Truncated {
        /// Bytes missing before the header is complete.
        needed: usize,
    },
    /// WIRE-8: a Success or Updated payload with no ciphertext (it must hold the format byte).
    MissingCiphertext,
    /// WIRE-9: bytes after a one-byte state.
    TrailingBytes {
        /// The one-byte state that was followed by more bytes.
        state: State,
    },
    /// WIRE-5: a reserved state byte (7..=10).
    ReservedState(u8),
    /// WIRE-6: an unassigned state byte (11..=255).
    UnassignedState(u8),
    /// WIRE-10: an Updated token of 0 or above 2^53-1.
    TokenOutOfRange,
}

impl DecodeError {
    /// The spec's name of the error kind, as used by `spec/vectors/wire_decode.json`.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Empty => "Empty",
            Self::Truncated { .. } => "Truncated",
            Self::MissingCiphertext => "MissingCiphertext",
            Self::TrailingBytes { .. } => "TrailingBytes",
            Self::ReservedState(_) => "ReservedState",
            Self::UnassignedState(_) => "UnassignedState",
            Self::TokenOutOfRange => "TokenOutOfRange",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("wire payload is empty: the endpoint sent no body (spec §4, WIRE-7)"),
            Self::Truncated { needed } => write!(
                f,
                "Updated payload is truncated: {needed} more byte(s) needed for its 69-byte header (spec §4, WIRE-8); the response was cut short"
            ),
            Self::MissingCiphertext => f.write_str(
                "Success/Updated payload has no ciphertext (it must hold at least the format byte) (spec §4, WIRE-8)",
            ),
            Self::TrailingBytes { state } => write!(
                f,
                "state {state} must be exactly one byte but more bytes follow (spec §4, WIRE-9); the endpoint is not conforming"
            ),
            Self::ReservedState(b) => write!(
                f,
                "state byte {b} is reserved and never sent by a v1 endpoint (spec §4, WIRE-5); the endpoint speaks a newer or non-conforming protocol"
            ),
            Self::UnassignedState(b) => write!(
                f,
                "state byte {b} is not a Pixstore state (spec §4, WIRE-6); the response is not a Pixstore payload"
            ),
            Self::TokenOutOfRange => f.write_str(
                "Updated token is 0 or above 2^53-1 (spec §4, WIRE-10); the endpoint is not conforming",
            ),
        }
    }
}

impl core::error::Error for DecodeError {}
