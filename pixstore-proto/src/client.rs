//! Client rules (spec §11, *Client behaviour*).
//!
//! The sans-IO part of a client: when the cache answers, how a payload becomes an image and a
//! cache entry, and the LRU arithmetic. A client library adds the fetcher and the store.

use alloc::string::String;
use core::fmt;

use crate::envelope::{self, Aead, EnvelopeError, Meta, Opened};
use crate::record::ImageRecord;
use crate::token::Token;
use crate::wire::{DecodeError, Payload, State};

/// CLIENT-1: a cached entry answers the record iff its token equals the record's token.
/// A hit needs no network and no proof; it decrypts with the record's meta.
pub fn is_cache_hit(cached_token: Option<Token>, record: &ImageRecord) -> bool {
    cached_token == Some(record.token)
}

/// What a cache keeps for one image (CLIENT-2): there is no field for key, iv or tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry<C> {
    /// The image id.
    pub id: String,
    /// Exactly the ciphertext bytes, not the payload they came in (3.2.1 kept the whole
    /// Updated payload, key included).
    pub ciphertext: C,
    /// The token of the version the ciphertext belongs to.
    pub token: Token,
    /// Last use, in the client's clock (CLIENT-7: a hit updates it).
    pub last_used_ms: u64,
}

impl<C> CacheEntry<C> {
    /// CLIENT-7: records a hit at `now_ms`. Last use only moves forward, so a stale copy of an
    /// entry can never turn a newer timestamp back.
    pub fn touch(&mut self, now_ms: u64) {
        self.last_used_ms = self.last_used_ms.max(now_ms);
    }
}

/// The request target of the default fetcher: `{route}/{percent-encoded id}` (CLIENT-8).
/// Every byte other than `A-Z a-z 0-9 - _ . ~` is percent-encoded, so `:` becomes `%3A`.
pub fn request_target(route: &str, id: &str) -> String {
    let mut out = String::with_capacity(route.len() + 1 + id.len() * 3);
    out.push_str(route.trim_end_matches('/'));
    out.push('/');
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF".get(usize::from(b >> 4)).copied().unwrap_or(b'0')));
            out.push(char::from(b"0123456789ABCDEF".get(usize::from(b & 15)).copied().unwrap_or(b'0')));
        }
    }
    out
}

/// The headers of an image request for `record` (CLIENT-8, TOKEN-8, PROOF-1): the record's own
/// token (not a cached one: only the record's meta is known to the client) and its proof,
/// verbatim, omitted when empty.
pub fn request_headers(record: &ImageRecord) -> alloc::vec::Vec<(&'static str, String)> {
    let mut h = alloc::vec::Vec::with_capacity(2);
    if !record.stateless_proof.is_empty() {
        h.push((crate::http::PROOF_HEADER, record.stateless_proof.clone()));
    }
    h.push((crate::http::TOKEN_HEADER, alloc::format!("{}", record.token)));
    h
}

/// Why a fetched payload produced no image (CLIENT-5). Nothing is cached on any of them.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientError {
    /// The endpoint answered an error state.
    State(State),
    /// The bytes are not a wire payload.
    Decode(DecodeError),
    /// The ciphertext did not authenticate, or has an unknown format byte.
    Envelope(EnvelopeError),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::State(s) => {
                let advice = match s {
                    State::NotFound => "the image no longer exists; drop the record",
                    State::MissingId => "the request carried no id; check the fetcher's URL",
                    State::MissingProof => "the request carried no proof; send the record's statelessProof",
                    State::InvalidProof => {
                        "the proof was refused (expired, rotated key or another id); fetch a fresh record and retry"
                    }
                    State::InternalError => "the backend failed; retry later",
                    State::Success | State::Updated => "unexpected",
                };
                write!(f, "endpoint answered {s}: {advice}")
            }
            ClientError::Decode(e) => write!(f, "endpoint answered bytes that are not a Pixstore payload: {e}"),
            ClientError::Envelope(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for ClientError {}

/// An image that authenticated, with the entry to cache for it.
#[derive(Debug)]
pub struct Fetched {
    /// The decrypted image and its format.
    pub image: Opened,
    /// The token of the version fetched: the record's (Success) or the payload's (Updated).
    pub token: Token,
    /// The ciphertext to cache, in a buffer of its own (CLIENT-2): never a view into the
    /// payload, whose buffer holds the key, IV and tag of an Updated response.
    pub ciphertext: alloc::vec::Vec<u8>,
}

/// Turns a fetched payload into an image (CLIENT-3, CLIENT-4, CLIENT-5).
///
/// Success decrypts with the record's meta and keeps the record's token; Updated uses the
/// payload's. The ciphertext is authenticated before anything is returned to cache, so a
/// tampered or mismatched response leaves the cache as it was.
pub fn open_payload<C: AsRef<[u8]>, A: Aead + ?Sized>(
    aead: &A,
    record: &ImageRecord,
    payload: Payload<C>,
) -> Result<Fetched, ClientError> {
    let (token, meta, ciphertext): (Token, Meta, C) = match payload {
        Payload::Success { ciphertext } => (record.token, record.meta, ciphertext),
        Payload::Updated { token, meta, ciphertext } => (token, meta, ciphertext),
        other => return Err(ClientError::State(other.state())),
    };
    let image =
        envelope::open(aead, &meta.key, &meta.iv, &meta.tag, ciphertext.as_ref()).map_err(ClientError::Envelope)?;
    Ok(Fetched { image, token, ciphertext: ciphertext.as_ref().to_vec() })
}

/// Why cache limits were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitsError;

impl fmt::Display for LimitsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("frontendCleanupBatch must be smaller than frontendImageCacheLimit (spec §11, CLIENT-6)")
    }
}

impl core::error::Error for LimitsError {}

/// CLIENT-6: the cache limit and the cleanup batch (`frontendImageCacheLimit`,
/// `frontendCleanupBatch`; defaults 1000 and 50).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    limit: usize,
    batch: usize,
}

impl Default for CacheLimits {
    fn default() -> Self {
        CacheLimits { limit: 1000, batch: 50 }
    }
}

impl CacheLimits {
    /// Limits with `0 <= batch < limit`.
    pub fn new(limit: usize, batch: usize) -> Result<CacheLimits, LimitsError> {
        if batch >= limit {
            return Err(LimitsError);
        }
        Ok(CacheLimits { limit, batch })
    }

    /// The entry limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The cleanup batch.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// How many least-recently-used entries to evict from a cache holding `count` entries:
    /// none up to the limit; above it, enough to reach `limit - batch`.
    pub fn evictions(&self, count: usize) -> usize {
        if count <= self.limit {
            0
        } else {
            count - (self.limit - self.batch)
        }
    }
}

#[cfg(all(test, feature = "rustcrypto"))]
#[path = "tests/client.rs"]
mod tests;
