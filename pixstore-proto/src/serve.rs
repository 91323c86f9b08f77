//! Serving one image request (spec §9, *Serving*).
//!
//! The transport-independent decision every endpoint makes, the default HTTP endpoint and a
//! custom endpoint alike (3.2.1's `customEndpointHelper`): which wire payload answers a request
//! for an id, with a proof and a client token, given what is stored.

use core::fmt;

use crate::envelope::Meta;
use crate::proof::{ProofError, Verifier, Window};
use crate::token::Token;
use crate::wire::Payload;

/// The id of a request as the transport delivered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestId<'a> {
    /// No id, or an empty one (SERVE-1: MissingID).
    Absent,
    /// The decoded id text. It may still fail the grammar (SERVE-5).
    Text(&'a str),
    /// The transport could not decode the id (a malformed percent-escape, invalid UTF-8):
    /// treated as an id that fails the grammar (HTTP-2, SERVE-5).
    Undecodable,
}

impl<'a> From<Option<&'a str>> for RequestId<'a> {
    fn from(id: Option<&'a str>) -> Self {
        match id {
            Some(id) if !id.is_empty() => RequestId::Text(id),
            _ => RequestId::Absent,
        }
    }
}

/// One image request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The image id.
    pub id: RequestId<'a>,
    /// The `x-pixstore-proof` value, if any.
    pub proof: Option<&'a str>,
    /// The client's token (`None`: absent, 0 or unparseable, TOKEN-6).
    pub client_token: Option<Token>,
}

/// One stored version of an image, as the store hands it out: a consistent snapshot (SERVE-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredVersion<C> {
    /// The version's token.
    pub token: Token,
    /// The version's key, iv and tag.
    pub meta: Meta,
    /// The version's ciphertext.
    pub ciphertext: C,
}

/// Why a request got an error state; for logs, never sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detail<E> {
    /// Nothing to report: Success, Updated, MissingID or NotFound.
    None,
    /// The id failed the grammar or could not be decoded (SERVE-5).
    InvalidId,
    /// The proof failed.
    Proof(ProofError),
    /// The store failed: InternalError (SERVE-4).
    Storage(E),
    /// The store returned a version with an empty ciphertext: InternalError (SERVE-4).
    CorruptVersion,
}

/// The decision: the payload to send, and why.
pub struct Answer<C, E> {
    /// The payload to send.
    pub payload: Payload<C>,
    /// What went wrong, for the log.
    pub detail: Detail<E>,
}

impl<C, E> Answer<C, E> {
    /// The payload to send.
    pub fn payload(self) -> Payload<C> {
        self.payload
    }
}

impl<C: AsRef<[u8]>, E: fmt::Debug> fmt::Debug for Answer<C, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Answer").field("payload", &self.payload).field("detail", &self.detail).finish()
    }
}

fn answer<C, E>(payload: Payload<C>, detail: Detail<E>) -> Answer<C, E> {
    Answer { payload, detail }
}

/// The checks before storage (SERVE-1, SERVE-5): MissingID, then MissingProof, then
/// InvalidProof. `Ok(id)` is a valid id whose proof verified (or validation is disabled): only
/// then may the store be asked. `Err` is the answer to send, without touching storage.
pub fn check<'r, C, E>(request: &Request<'r>, verifier: &Verifier<'_>, now_ms: u64) -> Result<&'r str, Answer<C, E>> {
    // SERVE-1: an absent or empty id is MissingID.
    let text = match request.id {
        RequestId::Absent | RequestId::Text("") => return Err(answer(Payload::MissingId, Detail::None)),
        RequestId::Text(id) => id,
        // An undecodable id is verified as the empty id, which no proof is ever minted for.
        RequestId::Undecodable => "",
    };
    if verifier.window() != Window::Disabled {
        let Some(proof) = request.proof.filter(|p| !p.is_empty()) else {
            return Err(answer(Payload::MissingProof, Detail::Proof(ProofError::Missing)));
        };
        // SERVE-5, PROOF-7: the verifier reports an invalid id as BadTag, after the checks of
        // the proof's own syntax, version and key.
        if let Err(e) = verifier.verify(text, Some(proof), now_ms) {
            return Err(answer(Payload::InvalidProof, Detail::Proof(e)));
        }
        // A proof verified, so `text` passed ID-1 inside the verifier (PROOF-7 step 4), and it
        // was minted for exactly these bytes (PROOF-4), which minting refuses for an invalid id:
        // checking the grammar again here was a third of the id checks of every request.
        debug_assert!(crate::id::validate(text).is_ok());
        return Ok(text);
    }
    // SERVE-5: storage is never consulted for an id that fails the grammar (validation disabled).
    match crate::id::validate(text) {
        Ok(()) => Ok(text),
        Err(_) => Err(answer(Payload::NotFound, Detail::InvalidId)),
    }
}

/// The answer once the store was asked (SERVE-2, SERVE-4): NotFound, InternalError, or Success
/// iff the client's token equals the stored token, else Updated.
pub fn select<C: AsRef<[u8]>, E>(
    stored: Result<Option<StoredVersion<C>>, E>,
    client_token: Option<Token>,
) -> Answer<C, E> {
    let version = match stored {
        Ok(Some(v)) => v,
        Ok(None) => return answer(Payload::NotFound, Detail::None),
        Err(e) => return answer(Payload::InternalError, Detail::Storage(e)),
    };
    let payload = if client_token == Some(version.token) {
        Payload::success(version.ciphertext)
    } else {
        Payload::updated(version.token, version.meta, version.ciphertext)
    };
    match payload {
        Ok(p) => answer(p, Detail::None),
        // A stored empty ciphertext breaks WIRE-2/WIRE-3: the store is corrupt.
        Err(_) => answer(Payload::InternalError, Detail::CorruptVersion),
    }
}

/// Decides the payload for `request` at `now_ms`: [`check`], then `lookup`, then [`select`].
///
/// SERVE-1: MissingID, then MissingProof, then InvalidProof, and only then the store is asked
/// (NotFound), so nobody learns whether an id exists without a valid proof for it. SERVE-5:
/// an id that fails the grammar never reaches the store. SERVE-2: Success iff the client's
/// token equals the stored token, else Updated. SERVE-4: a store error is InternalError.
/// `lookup` must return one consistent version (SERVE-3).
pub fn respond<C, E>(
    request: &Request<'_>,
    verifier: &Verifier<'_>,
    now_ms: u64,
    lookup: impl FnOnce(&str) -> Result<Option<StoredVersion<C>>, E>,
) -> Answer<C, E>
where
    C: AsRef<[u8]>,
{
    match check(request, verifier, now_ms) {
        Ok(id) => select(lookup(id), request.client_token),
        Err(answer) => answer,
    }
}

impl<E: fmt::Display> fmt::Display for Detail<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Detail::None => f.write_str("ok"),
            Detail::InvalidId => f.write_str("invalid image id"),
            Detail::Proof(e) => write!(f, "proof: {}", e.kind()),
            Detail::Storage(e) => write!(f, "storage: {e}"),
            Detail::CorruptVersion => f.write_str("storage: stored version has no ciphertext"),
        }
    }
}

#[cfg(test)]
#[path = "tests/serve.rs"]
mod tests;
