//! Single-rule mutants of the reference server: each breaks exactly one rule of spec §3 to §10
//! or Appendix A, by a server fault switch (`pixstore-server` feature `test-faults`) or, for
//! everything a proxy can fake, by a mutating proxy between the suite and the server. The
//! proxy holds the server's keyring, so it can judge and re-mint proofs as a broken verifier or
//! minter would, and rewrite requests, answers and control records consistently.
//!
//! The checks were designed from the spec; each mutant names the checks expected to kill it
//! (run first, for speed), and the runner runs the whole suite on a mutant that survives them.
// serde_json's `value["key"]` reads return Null and never panic; writes go to objects
// built here. The workspace's indexing lint targets slices on input-driven paths.
#![allow(clippy::indexing_slicing)]

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use hmac::Mac as _;
use proto::proof::{Keyring, ProofError, Verifier, Window};
use serde_json::Value;

use crate::proxy::{Request, Response, Upstream};

/// How a mutant breaks its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// A `pixstore-server` fault switch (by name, as `Faults::from_names` reads it).
    Fault(&'static str),
    /// The mutating proxy.
    Proxy(P),
}

/// The proxy mutations.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum P {
    /// No mutation: the proxy only forwards (the baseline).
    Transparent,
    IdCaseInsensitive,
    ProofBindsNameOnly,
    ProofBindsPrefix,
    DirNotLowercased,
    DirTruncated,
    DirEmptyAccepted,
    ShortIds,
    SameIdTwice,
    InvalidProofAsNotFound,
    NotFoundAsInvalidProof,
    MissingIdAsNotFound,
    UpdatedTokenBigEndian,
    UpdatedHeaderShort,
    State7ForBadToken,
    DateNowTokens,
    NewerTokenIsCurrent,
    StaleTokenIsCurrent,
    QueryTokenIgnored,
    QueryWinsOverHeader,
    InvalidHeaderFallsBackToQuery,
    EmptyHeaderIsAbsent,
    RepeatedQueryTokenFirstWins,
    DuplicateTokenHeaderFirstWins,
    LenientTokenParse,
    RecordTokenString,
    RecordTokenFraction,
    TagAppended,
    WrongFormatByte,
    Refuse2MiB,
    RecordMetaUnpadded,
    RecordWithoutProof,
    RecordDuplicateMember,
    RecordCacheable,
    ExpiredAtExp,
    OneWindowTooLong,
    DiesBeforeW,
    NoExpiryTooFar,
    ExpiryTooFarOffByOne,
    MintedOneWindowShort,
    MintedOneWindowLong,
    LenientProofSpelling,
    TagPrefixCompare,
    DuplicateProofFirstWins,
    ProofRequiredWhenDisabled,
    ProofInRecordWhenDisabled,
    ProofOverUrlText,
    UpsertAfterDelete,
    WrongAllowOrigin,
    NoVaryOrigin,
    ContentTypeText,
    NoContentLength,
    Status404ForNotFound,
    BareRoute400,
    Preflight200,
    PreflightWithoutTokenHeader,
    AllowMethodsExtra,
    AllowIncomplete,
    HeadServed,
    ExtraSegmentsServed,
    TrailingSlashServed,
    DotSegmentsNormalized,
    RouteCaseInsensitive,
    NonGetOutsideRoute405,
    PreflightOutsideRoute,
    QueryPartOfId,
    PercentDecodingMissing,
    LowercaseEscapeRejected,
    AbsoluteFormRejected,
    DiesOnMalformedEscape,
    DiesOnLongTarget,
    UriTooLongWithoutHeaders,
    InvalidIdNotFound,
    InfoImplementationObject,
    InfoEndpointUnspecified,
    InfoWindowString,
    InvalidIdIs404,
    UnknownIdIs500,
    ErrorBodyText,
    NonImageIs400,
    RepeatedDirFirstWins,
}

/// One mutant.
#[derive(Debug, Clone, Copy)]
pub struct Mutant {
    /// Stable name.
    pub id: &'static str,
    /// The spec section whose rule it breaks.
    pub section: &'static str,
    /// The requirement it breaks.
    pub requirement: &'static str,
    /// What it does.
    pub what: &'static str,
    /// How.
    pub how: How,
    /// W of the server it runs on (-1: validation disabled).
    pub window_ms: i64,
    /// The server's configured Access-Control-Allow-Origin, if not `*`.
    pub allow_origin: Option<&'static str>,
    /// The checks expected to kill it (run first).
    pub killers: &'static [&'static str],
}

const fn m(
    id: &'static str,
    section: &'static str,
    requirement: &'static str,
    what: &'static str,
    how: How,
    killers: &'static [&'static str],
) -> Mutant {
    Mutant { id, section, requirement, what, how, window_ms: 20_000, allow_origin: None, killers }
}

const fn disabled(mut mutant: Mutant) -> Mutant {
    mutant.window_ms = -1;
    mutant
}

const fn origin(mut mutant: Mutant) -> Mutant {
    mutant.allow_origin = Some("https://app.example");
    mutant
}

use How::{Fault, Proxy};

/// Every mutant the suite must kill.
pub fn all() -> Vec<Mutant> {
    vec![
        // §3 ids
        disabled(m(
            "id-case-insensitive",
            "3",
            "ID-1",
            "ids compared without case (W = -1)",
            Proxy(P::IdCaseInsensitive),
            &["PXS-8.7-proof-bound-to-whole-id"],
        )),
        m(
            "proof-binds-name-only",
            "3",
            "ID-4",
            "the tag ignores the dir: dir:name's proof passes for name (then NotFound)",
            Proxy(P::ProofBindsNameOnly),
            &["PXS-8.7-proof-bound-to-whole-id"],
        ),
        m(
            "proof-binds-prefix",
            "3",
            "ID-1",
            "the tag covers only the shorter of two ids",
            Proxy(P::ProofBindsPrefix),
            &["PXS-8.7-proof-bound-to-whole-id"],
        ),
        m(
            "dir-not-lowercased",
            "3",
            "ID-3",
            "the dir prefix keeps its case",
            Proxy(P::DirNotLowercased),
            &["PXS-3.2-dir-prefix"],
        ),
        m(
            "dir-truncated",
            "3",
            "ID-3",
            "a dir over 32 characters is truncated, not refused",
            Proxy(P::DirTruncated),
            &["PXS-3.2-dir-prefix-too-long"],
        ),
        m(
            "dir-empty-accepted",
            "3",
            "ID-3",
            "a dir empty once sanitised is dropped, not refused",
            Proxy(P::DirEmptyAccepted),
            &["PXS-3.2-dir-prefix"],
        ),
        m(
            "short-ids",
            "3",
            "ID-2",
            "ids of 10 characters (too few random bits)",
            Proxy(P::ShortIds),
            &["PXS-7-record-is-valid"],
        ),
        m(
            "same-id-twice",
            "3",
            "ID-2",
            "a second save gets the first save's id",
            Proxy(P::SameIdTwice),
            &["PXS-7-record-is-valid"],
        ),
        m(
            "hostile-id-not-found",
            "3",
            "SERVE-5",
            "an invalid id with a proof is NotFound (storage consulted), not InvalidProof",
            Proxy(P::InvalidIdNotFound),
            &["PXS-3.3-hostile-ids"],
        ),
        // §4 wire
        m(
            "pad-one-byte-states",
            "4",
            "WIRE-4",
            "one-byte states get a trailing zero",
            Fault("pad-one-byte-states"),
            &["PXS-9.1-missing-proof", "PXS-9.1-missing-id"],
        ),
        m(
            "mislabel-missing-proof",
            "4",
            "WIRE-1",
            "MissingProof sent as InvalidProof",
            Fault("mislabel-missing-proof"),
            &["PXS-9.1-missing-proof"],
        ),
        m(
            "invalidproof-as-notfound",
            "4",
            "WIRE-1",
            "InvalidProof sent as NotFound",
            Proxy(P::InvalidProofAsNotFound),
            &["PXS-8.6-tampered-proof"],
        ),
        m(
            "notfound-as-invalidproof",
            "4",
            "WIRE-1",
            "NotFound sent as InvalidProof",
            Proxy(P::NotFoundAsInvalidProof),
            &["PXS-9.1-not-found-after-delete"],
        ),
        m(
            "missingid-as-notfound",
            "4",
            "WIRE-1",
            "MissingID sent as NotFound",
            Proxy(P::MissingIdAsNotFound),
            &["PXS-9.1-missing-id"],
        ),
        m(
            "updated-token-big-endian",
            "4",
            "WIRE-3",
            "the Updated token written big-endian",
            Proxy(P::UpdatedTokenBigEndian),
            &["PXS-9.2-updated-without-token"],
        ),
        m(
            "updated-header-short",
            "4",
            "WIRE-3",
            "the Updated header loses the last tag byte",
            Proxy(P::UpdatedHeaderShort),
            &["PXS-9.2-updated-without-token"],
        ),
        m(
            "state-7-for-bad-token",
            "4",
            "WIRE-5",
            "InvalidToken (7) for an unparseable token",
            Proxy(P::State7ForBadToken),
            &["PXS-5.3-unparseable-token-is-absent"],
        ),
        // §5 tokens
        m(
            "reuse-token-on-update",
            "5",
            "TOKEN-2",
            "an update keeps the token",
            Fault("reuse-token-on-update"),
            &["PXS-5.1-tokens-increase-within-a-millisecond"],
        ),
        m(
            "date-now-tokens",
            "5",
            "TOKEN-2",
            "3.2.1's token = Date.now(): writes in one millisecond share a token",
            Proxy(P::DateNowTokens),
            &["PXS-5.1-tokens-increase-within-a-millisecond"],
        ),
        m(
            "newer-token-is-current",
            "5",
            "SERVE-2",
            "a token newer than the current one gets Success",
            Proxy(P::NewerTokenIsCurrent),
            &["PXS-9.2-updated-with-other-tokens"],
        ),
        m(
            "query-token-ignored",
            "5",
            "TOKEN-7",
            "?token= is not read",
            Proxy(P::QueryTokenIgnored),
            &["PXS-5.3-token-in-query"],
        ),
        m(
            "query-wins-over-header",
            "5",
            "TOKEN-7",
            "?token= wins over the header",
            Proxy(P::QueryWinsOverHeader),
            &["PXS-5.3-token-in-query"],
        ),
        m(
            "invalid-header-falls-back",
            "5",
            "TOKEN-7",
            "an unparseable header token falls back to ?token=",
            Proxy(P::InvalidHeaderFallsBackToQuery),
            &["PXS-5.3-invalid-header-hides-query"],
        ),
        m(
            "empty-header-is-absent",
            "5",
            "TOKEN-7",
            "an empty token header counts as absent, so ?token= is read",
            Proxy(P::EmptyHeaderIsAbsent),
            &["PXS-5.3-invalid-header-hides-query"],
        ),
        m(
            "repeated-query-token-first-wins",
            "5",
            "TOKEN-7",
            "?token= twice: the first is used",
            Proxy(P::RepeatedQueryTokenFirstWins),
            &["PXS-5.3-repeated-query-token"],
        ),
        m(
            "duplicate-token-header-first-wins",
            "5",
            "TOKEN-6",
            "a token header twice: the first is used",
            Proxy(P::DuplicateTokenHeaderFirstWins),
            &["PXS-5.3-duplicate-token-headers"],
        ),
        m(
            "lenient-token-parse",
            "5",
            "TOKEN-5",
            "tokens parsed like Number(): +T, 0T, T.0, 0x.. accepted",
            Proxy(P::LenientTokenParse),
            &["PXS-5.3-unparseable-token-is-absent"],
        ),
        m(
            "record-token-string",
            "5",
            "TOKEN-4",
            "records carry the token as a JSON string",
            Proxy(P::RecordTokenString),
            &["PXS-7-record-is-valid"],
        ),
        m(
            "record-token-fraction",
            "5",
            "TOKEN-4",
            "records carry the token as 123.0",
            Proxy(P::RecordTokenFraction),
            &["PXS-7-record-is-valid"],
        ),
        // §6 envelope
        m(
            "flip-ciphertext-byte",
            "6",
            "ENV-4",
            "the last ciphertext byte flipped",
            Fault("flip-ciphertext-byte"),
            &["PXS-9.2-updated-without-token"],
        ),
        m(
            "tag-appended",
            "6",
            "ENV-4",
            "the GCM tag appended to the ciphertext",
            Proxy(P::TagAppended),
            &["PXS-9.2-updated-without-token"],
        ),
        m(
            "wrong-format-byte",
            "6",
            "FMT-1",
            "a PNG labelled webp (2)",
            Proxy(P::WrongFormatByte),
            &["PXS-6.3-png-format-byte"],
        ),
        m(
            "reuse-key-on-update",
            "6",
            "ENV-3",
            "an update reuses the key and IV",
            Fault("reuse-key-on-update"),
            &["PXS-6.1-fresh-key-per-write"],
        ),
        m(
            "refuse-2mib",
            "6",
            "CTRL-2",
            "uploads over 1 MiB refused with 413",
            Proxy(P::Refuse2MiB),
            &["PXS-6.1-2mib-png"],
        ),
        // §7 records
        m(
            "record-meta-unpadded",
            "7",
            "REC-2",
            "meta.key without its = padding",
            Proxy(P::RecordMetaUnpadded),
            &["PXS-7-record-is-valid"],
        ),
        m(
            "record-without-proof",
            "7",
            "REC-1",
            "records lack statelessProof",
            Proxy(P::RecordWithoutProof),
            &["PXS-7-record-is-valid"],
        ),
        m(
            "record-duplicate-member",
            "7",
            "REC-6",
            "records with a member twice",
            Proxy(P::RecordDuplicateMember),
            &["PXS-7-record-is-valid"],
        ),
        m(
            "record-cacheable",
            "7",
            "REC-7",
            "control answers with records are Cache-Control: public",
            Proxy(P::RecordCacheable),
            &["PXS-A-records-not-cacheable"],
        ),
        // §8 proofs
        m(
            "accept-expired-proofs",
            "8",
            "PROOF-9",
            "expired proofs accepted",
            Fault("accept-expired-proofs"),
            &["PXS-8.5-proof-expires", "PXS-8.6-expiry-bounds"],
        ),
        m(
            "accept-bad-tags",
            "8",
            "PROOF-12",
            "proofs of other ids accepted",
            Fault("accept-bad-tags"),
            &["PXS-8.7-proof-for-another-id"],
        ),
        m(
            "expired-at-exp",
            "8",
            "PROOF-9",
            "Expired at exp, the skew ignored",
            Proxy(P::ExpiredAtExp),
            &["PXS-8.6-expiry-bounds"],
        ),
        m(
            "one-window-too-long",
            "8",
            "PROOF-9",
            "accepted until exp + W + skew",
            Proxy(P::OneWindowTooLong),
            &["PXS-8.6-expiry-bounds", "PXS-8.5-proof-expires"],
        ),
        m(
            "dies-before-w",
            "8",
            "PROOF-6",
            "Expired W too early (lifetime 0..W)",
            Proxy(P::DiesBeforeW),
            &["PXS-8.5-proof-expires", "PXS-8.6-expiry-bounds"],
        ),
        m(
            "no-expiry-too-far",
            "8",
            "PROOF-9",
            "ExpiryTooFar never checked",
            Proxy(P::NoExpiryTooFar),
            &["PXS-8.6-expiry-bounds"],
        ),
        m(
            "expiry-too-far-off-by-one",
            "8",
            "PROOF-9",
            "ExpiryTooFar already at exp = now + 2W + skew",
            Proxy(P::ExpiryTooFarOffByOne),
            &["PXS-8.6-expiry-bounds"],
        ),
        m(
            "minted-one-window-short",
            "8",
            "PROOF-6",
            "proofs minted with exp = (floor(now/W)+1)*W",
            Proxy(P::MintedOneWindowShort),
            &["PXS-8.5-minted-expiry"],
        ),
        m(
            "minted-one-window-long",
            "8",
            "PROOF-6",
            "proofs minted with exp = (floor(now/W)+3)*W",
            Proxy(P::MintedOneWindowLong),
            &["PXS-8.5-minted-expiry"],
        ),
        m(
            "lenient-proof-spelling",
            "8",
            "PROOF-3",
            "padding, the standard alphabet and stray characters tolerated",
            Proxy(P::LenientProofSpelling),
            &["PXS-8.2-non-canonical-spellings"],
        ),
        m(
            "tag-prefix-compare",
            "8",
            "PROOF-8",
            "only the first 8 tag bytes compared",
            Proxy(P::TagPrefixCompare),
            &["PXS-8.6-tampered-proof"],
        ),
        m(
            "duplicate-proof-first-wins",
            "8",
            "HTTP-11",
            "a proof header twice: the first is used",
            Proxy(P::DuplicateProofFirstWins),
            &["PXS-10.3-duplicate-proof-headers"],
        ),
        disabled(m(
            "proof-required-when-disabled",
            "8",
            "PROOF-14",
            "W = -1 still requires a proof",
            Proxy(P::ProofRequiredWhenDisabled),
            &["PXS-8.8-disabled-validation"],
        )),
        disabled(m(
            "proof-in-record-when-disabled",
            "8",
            "REC-5",
            "W = -1 records still carry a proof",
            Proxy(P::ProofInRecordWhenDisabled),
            &["PXS-8.8-disabled-validation"],
        )),
        m(
            "proof-over-url-text",
            "8",
            "PROOF-4",
            "the tag is checked over the URL text, not the decoded id",
            Proxy(P::ProofOverUrlText),
            &["PXS-10.1-percent-encoded-id"],
        ),
        // §9 serving
        m(
            "not-found-before-proof",
            "9",
            "SERVE-1",
            "NotFound before the proof is checked",
            Fault("not-found-before-proof"),
            &["PXS-9.1-no-existence-oracle"],
        ),
        m(
            "mix-versions",
            "9",
            "SERVE-3",
            "an Updated ciphertext with the previous version's meta",
            Fault("mix-versions"),
            &["PXS-9.2-old-record-after-update"],
        ),
        m(
            "stale-token-is-current",
            "9",
            "SERVE-2",
            "an older token gets Success",
            Proxy(P::StaleTokenIsCurrent),
            &["PXS-9.2-updated-with-stale-token"],
        ),
        m(
            "upsert-after-delete",
            "9",
            "ID-5",
            "an update of a deleted id re-creates it",
            Proxy(P::UpsertAfterDelete),
            &["PXS-3.2-deleted-id-stays-deleted"],
        ),
        // §10 HTTP
        m(
            "drop-no-store",
            "10",
            "HTTP-5",
            "no Cache-Control: no-store",
            Fault("drop-no-store"),
            &["PXS-10.2-headers-on-every-state"],
        ),
        m("drop-cors", "10", "HTTP-6", "no CORS headers", Fault("drop-cors"), &["PXS-10.2-headers-on-every-state"]),
        origin(m(
            "wrong-allow-origin",
            "10",
            "HTTP-6",
            "Access-Control-Allow-Origin * instead of the configured origin",
            Proxy(P::WrongAllowOrigin),
            &["PXS-10.2-configured-origin"],
        )),
        origin(m(
            "no-vary-origin",
            "10",
            "HTTP-6",
            "no Vary: Origin with a configured origin",
            Proxy(P::NoVaryOrigin),
            &["PXS-10.2-configured-origin"],
        )),
        m(
            "content-type-text",
            "10",
            "HTTP-4",
            "wire payloads as text/plain",
            Proxy(P::ContentTypeText),
            &["PXS-10.2-headers-on-every-state"],
        ),
        m(
            "no-content-length",
            "10",
            "HTTP-4",
            "wire payloads chunked, without Content-Length",
            Proxy(P::NoContentLength),
            &["PXS-10.2-headers-on-every-state"],
        ),
        m(
            "status-404-for-notfound",
            "10",
            "HTTP-4",
            "NotFound with status 404",
            Proxy(P::Status404ForNotFound),
            &["PXS-9.1-not-found-after-delete"],
        ),
        m(
            "bare-route-400",
            "10",
            "HTTP-3",
            "the bare route answers 400 text (3.2.1)",
            Proxy(P::BareRoute400),
            &["PXS-9.1-missing-id"],
        ),
        m("preflight-200", "10", "HTTP-7", "preflights answered 200", Proxy(P::Preflight200), &["PXS-10.2-preflight"]),
        m(
            "preflight-without-token-header",
            "10",
            "HTTP-7",
            "x-pixstore-token not in Access-Control-Allow-Headers",
            Proxy(P::PreflightWithoutTokenHeader),
            &["PXS-10.2-preflight"],
        ),
        m(
            "allow-methods-extra",
            "10",
            "HTTP-7",
            "Access-Control-Allow-Methods: GET, OPTIONS, POST",
            Proxy(P::AllowMethodsExtra),
            &["PXS-10.2-preflight"],
        ),
        m(
            "allow-incomplete",
            "10",
            "HTTP-8",
            "405 with Allow: GET",
            Proxy(P::AllowIncomplete),
            &["PXS-10.2-other-methods"],
        ),
        m(
            "head-served",
            "10",
            "HTTP-8",
            "HEAD on the route answered like GET",
            Proxy(P::HeadServed),
            &["PXS-10.2-other-methods"],
        ),
        m(
            "extra-segments-served",
            "10",
            "HTTP-10",
            "{route}/a/b served as id a/b",
            Proxy(P::ExtraSegmentsServed),
            &["PXS-10.3-extra-segments"],
        ),
        m(
            "trailing-slash-served",
            "10",
            "HTTP-10",
            "{route}/{id}/ served as {id}",
            Proxy(P::TrailingSlashServed),
            &["PXS-10.3-route-shape"],
        ),
        m(
            "dot-segments-normalized",
            "10",
            "HTTP-1",
            "dot segments inside the route resolved",
            Proxy(P::DotSegmentsNormalized),
            &["PXS-10.3-route-shape"],
        ),
        m(
            "route-case-insensitive",
            "10",
            "HTTP-1",
            "the route compared without case",
            Proxy(P::RouteCaseInsensitive),
            &["PXS-10.3-route-shape"],
        ),
        m(
            "non-get-outside-route-405",
            "10",
            "HTTP-10",
            "other methods outside the route get 405, not 404",
            Proxy(P::NonGetOutsideRoute405),
            &["PXS-10.3-route-shape"],
        ),
        m(
            "preflight-outside-route",
            "10",
            "HTTP-10",
            "OPTIONS outside the route answered 204",
            Proxy(P::PreflightOutsideRoute),
            &["PXS-10.3-route-shape"],
        ),
        m(
            "query-part-of-id",
            "10",
            "HTTP-9",
            "the query string becomes part of the id (3.2.1)",
            Proxy(P::QueryPartOfId),
            &["PXS-10.3-query-not-part-of-id"],
        ),
        m(
            "percent-decoding-missing",
            "10",
            "HTTP-2",
            "%3A not decoded",
            Proxy(P::PercentDecodingMissing),
            &["PXS-10.1-percent-encoded-id"],
        ),
        m(
            "lowercase-escape-rejected",
            "10",
            "HTTP-2",
            "%3a (lowercase hex) not decoded",
            Proxy(P::LowercaseEscapeRejected),
            &["PXS-10.1-percent-encoded-id"],
        ),
        m(
            "absolute-form-rejected",
            "10",
            "HTTP-14",
            "absolute-form targets answered 400",
            Proxy(P::AbsoluteFormRejected),
            &["PXS-10.1-absolute-form"],
        ),
        m(
            "dies-on-malformed-escape",
            "10",
            "HTTP-2",
            "a malformed escape stops the server (3.2.1)",
            Proxy(P::DiesOnMalformedEscape),
            &["PXS-10.1-malformed-escape"],
        ),
        m(
            "dies-on-long-target",
            "10",
            "HTTP-12",
            "a 10 KB target stops the server",
            Proxy(P::DiesOnLongTarget),
            &["PXS-10.3-long-target"],
        ),
        m(
            "414-without-headers",
            "10",
            "HTTP-5",
            "414 without no-store and CORS",
            Proxy(P::UriTooLongWithoutHeaders),
            &["PXS-10.3-long-target"],
        ),
        // Appendix A
        m(
            "info-implementation-object",
            "A",
            "CTRL-1",
            "implementation as a JSON object",
            Proxy(P::InfoImplementationObject),
            &["PXS-A-info"],
        ),
        m(
            "info-endpoint-unspecified",
            "A",
            "CTRL-1",
            "endpoint advertised as http://0.0.0.0:...",
            Proxy(P::InfoEndpointUnspecified),
            &["PXS-A-info"],
        ),
        m("info-window-string", "A", "CTRL-1", "windowMs as a string", Proxy(P::InfoWindowString), &["PXS-A-info"]),
        m(
            "invalid-id-is-404",
            "A",
            "CTRL-4",
            "update, delete and record of an invalid id: 404, not 400",
            Proxy(P::InvalidIdIs404),
            &["PXS-A-invalid-ids"],
        ),
        m(
            "unknown-id-is-500",
            "A",
            "CTRL-3",
            "an unknown id: 500, not 404",
            Proxy(P::UnknownIdIs500),
            &["PXS-A-invalid-ids"],
        ),
        m("error-body-text", "A", "CTRL-6", "errors as text, not JSON", Proxy(P::ErrorBodyText), &["PXS-A-refusals"]),
        m(
            "non-image-is-400",
            "A",
            "CTRL-2",
            "a non-image upload: 400, not 415",
            Proxy(P::NonImageIs400),
            &["PXS-A-refusals"],
        ),
        m(
            "repeated-dir-first-wins",
            "A",
            "CTRL-2",
            "?dir= twice: the first is used",
            Proxy(P::RepeatedDirFirstWins),
            &["PXS-A-repeated-dir"],
        ),
    ]
}

/// Rules whose mutants cannot be observed from outside (listed with the reason, not run).
pub const UNOBSERVABLE: &[(&str, &str, &str)] = &[
    ("SERVE-4", "9", "a storage failure answered InternalError with the detail logged: the suite cannot make the implementation's storage fail"),
    ("SERVE-5", "9", "storage consulted for an invalid id: the answer is the same, only timing and storage access differ"),
    ("ID-4", "3", "an id mapping that escapes the store or collides on disk: only visible inside the backend's storage"),
    ("PROOF-8", "8", "a tag comparison that is not constant-time: a timing side channel, not a different answer"),
    ("PROOF-13", "8", "proofs or keys written to logs: the suite does not see the implementation's logs"),
    ("PROOF-5", "8", "an unknown kid falling back to the signing key: the tag covers the kid, so the answer is the same (BadTag)"),
    ("ENV-3", "6", "keys and IVs from a weak random source: values differ per write, their quality is not visible"),
    ("CTRL-7", "A", "a control interface on by default or public: configuration of the deployment, not an answer of the interface"),
    ("CTRL-8", "A", "a clock that does not drive token assignment: TOKEN-2 still holds with the real clock"),
];

/// What a mutant's proxy knows and remembers.
pub struct Env {
    /// The server's endpoint.
    pub endpoint: Upstream,
    /// The server's control interface.
    pub control: Upstream,
    /// The server's keyring.
    pub ring: Keyring,
    /// The server's window.
    pub window: Window,
    /// The server's skew.
    pub skew_ms: u64,
    /// The route.
    pub route: String,
    /// The proxy's own endpoint URL (what /info advertises).
    pub own_endpoint: String,
    /// Ids created through the proxy.
    pub ids: Mutex<Vec<String>>,
    /// DateNowTokens: (id, real token) to the fake token given out.
    pub fake_tokens: Mutex<HashMap<(String, u64), u64>>,
    /// The last record per id (for upserts).
    pub records: Mutex<HashMap<String, Value>>,
    /// Set to make the proxy stop answering (a crashed server).
    pub dead: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env").field("route", &self.route).field("own_endpoint", &self.own_endpoint).finish()
    }
}

/// Which listener a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The endpoint.
    Endpoint,
    /// The control interface.
    Control,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Env {
    async fn now(&self) -> u64 {
        let r = self
            .control
            .forward(&Request { method: "GET".into(), target: "/clock".into(), ..Request::default() })
            .await;
        serde_json::from_slice::<Value>(&r.body).ok().and_then(|v| v["nowMs"].as_u64()).unwrap_or(0)
    }

    fn w(&self) -> Option<u64> {
        match self.window {
            Window::Millis(w) => Some(w.get()),
            _ => None,
        }
    }

    fn verify(&self, id: &str, proof: Option<&str>, now: u64, window: Window, skew: u64) -> Result<(), ProofError> {
        let v = Verifier::new(&self.ring, window)
            .with_skew(skew.min(proto::proof::MAX_SKEW_MS))
            .map_err(|_| ProofError::Malformed)?;
        v.verify(id, proof, now)
    }

    fn mint(&self, id: &str, now: u64) -> String {
        proto::proof::mint(&self.ring, id, now, self.window).unwrap_or_default()
    }

    /// The id segment of an endpoint path (`{route}/{segment}` with one segment).
    fn segment<'a>(&self, path: &'a str) -> Option<&'a str> {
        path.strip_prefix(self.route.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .filter(|s| !s.is_empty() && !s.contains('/'))
    }

    /// Forwards `req` for id `id` with a proof the server accepts now.
    async fn serve_as_valid(&self, mut req: Request, id: &str) -> Response {
        let now = self.now().await;
        req.set_header("x-pixstore-proof", &self.mint(id, now));
        let query = req.query().map(|q| format!("?{q}")).unwrap_or_default();
        req.target = format!("{}{query}", proto::client::request_target(&self.route, id));
        self.endpoint.forward(&req).await
    }

    fn known(&self) -> Vec<String> {
        lock(&self.ids).clone()
    }
}

fn proof_of(req: &Request) -> Option<String> {
    match req.header_values("x-pixstore-proof").as_slice() {
        [one] => Some((*one).to_owned()),
        _ => None,
    }
}

fn decoded_id(env: &Env, req: &Request) -> Option<String> {
    env.segment(req.path()).and_then(|s| proto::http::percent_decode(s).map(|c| c.into_owned()))
}

/// The 16-byte tag of PROOF-4 over `signed` (the proof's first 14 bytes) and `id`.
fn tag(signed: &[u8], id: &str) -> Vec<u8> {
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(&crate::server::TEST_PROOF_SECRET) else {
        return Vec::new();
    };
    mac.update(proto::proof::LABEL);
    mac.update(signed);
    mac.update(&u16::try_from(id.len()).unwrap_or(u16::MAX).to_be_bytes());
    mac.update(id.as_bytes());
    mac.finalize().into_bytes().get(..16).map(<[u8]>::to_vec).unwrap_or_default()
}

fn rewrite_json(mut r: Response, f: impl FnOnce(&mut Value)) -> Response {
    if let Ok(mut v) = serde_json::from_slice::<Value>(&r.body) {
        f(&mut v);
        r.body = v.to_string().into_bytes();
    }
    r
}

fn is_record(r: &Response) -> bool {
    (r.status == 200 || r.status == 201)
        && serde_json::from_slice::<Value>(&r.body).is_ok_and(|v| v["meta"].is_object())
}

fn query_tokens(req: &Request) -> Vec<String> {
    req.query().map(|q| proto::http::query_values(q, "token").map(|c| c.into_owned()).collect()).unwrap_or_default()
}

fn without_query_param(target: &str, name: &str) -> String {
    let Some((path, q)) = target.split_once('?') else { return target.to_owned() };
    let kept: Vec<&str> = q.split('&').filter(|p| p.split('=').next() != Some(name)).collect();
    if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

fn current_token(r: &Response) -> Option<u64> {
    if r.wire_state() == Some(1) {
        r.body.get(1..9).and_then(|b| <[u8; 8]>::try_from(b).ok()).map(u64::from_le_bytes)
    } else {
        None
    }
}

/// Updated -> Success with the same ciphertext.
fn as_success(mut r: Response) -> Response {
    if r.wire_state() == Some(1) {
        let ct = r.body.get(proto::wire::UPDATED_HEADER_LEN..).unwrap_or_default().to_vec();
        r.body = [&[0u8][..], &ct].concat();
    }
    r
}

/// Asks the upstream for the current token of `id` (an Updated answer without a token).
async fn probe(env: &Env, req: &Request, id: &str) -> Option<u64> {
    let mut probe = req.clone();
    probe.remove_header("x-pixstore-token");
    probe.target = without_query_param(&req.target, "token");
    let _ = id;
    current_token(&env.endpoint.forward(&probe).await)
}

fn lenient_token(text: &str) -> Option<u64> {
    let t = text.trim();
    if let Some(hex) = t.strip_prefix("0x") {
        return u64::from_str_radix(hex, 16).ok();
    }
    let t = t.trim_start_matches('+');
    if let Ok(f) = t.parse::<f64>() {
        if f.fract() == 0.0 && (1.0..9.007_199_254_740_992e15).contains(&f) {
            return format!("{f:.0}").parse().ok();
        }
    }
    None
}

/// The proof of `req` decoded leniently: padding and whitespace dropped, `+` `/` as `-` `_`.
fn lenient_proof(text: &str) -> Option<String> {
    let cleaned: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=' && *c != '.')
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cleaned.get(..40.min(cleaned.len()))?).ok()?;
    (bytes.len() == 30).then(|| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Answers one request as mutant `p` would.
pub async fn handle(p: P, side: Side, mut req: Request, env: &Env) -> Option<Response> {
    match side {
        Side::Control => Some(Box::pin(control(p, req, env)).await),
        Side::Endpoint => {
            let id = decoded_id(env, &req);
            // Request-side mutations that decide the answer alone.
            match p {
                P::DiesOnMalformedEscape
                    if env.segment(req.path()).is_some_and(|s| s.contains('%') && decoded_id(env, &req).is_none()) =>
                {
                    env.dead.store(true, std::sync::atomic::Ordering::SeqCst);
                    return None;
                }
                P::DiesOnLongTarget if req.target.len() > 8192 => {
                    env.dead.store(true, std::sync::atomic::Ordering::SeqCst);
                    return None;
                }
                P::AbsoluteFormRejected if req.target.starts_with("http") => {
                    return Some(Response {
                        status: 400,
                        body: b"absolute form not supported".to_vec(),
                        ..Response::default()
                    })
                }
                _ => {}
            }
            let r = Box::pin(endpoint(p, &mut req, id.as_deref(), env)).await;
            Some(r)
        }
    }
}

async fn endpoint(p: P, req: &mut Request, id: Option<&str>, env: &Env) -> Response {
    let route = env.route.clone();
    let path = req.path().to_owned();
    match p {
        P::IdCaseInsensitive | P::ProofBindsNameOnly | P::ProofBindsPrefix => {
            if let Some(id) = id {
                let known = env.known();
                if !known.iter().any(|k| k == id) {
                    let proof = proof_of(req);
                    let now = env.now().await;
                    for k in &known {
                        let matches = match p {
                            P::IdCaseInsensitive => k.eq_ignore_ascii_case(id),
                            P::ProofBindsNameOnly => k.rsplit(':').next() == id.rsplit(':').next(),
                            _ => k.starts_with(id) || id.starts_with(k.as_str()),
                        };
                        let proof_ok = env.window == Window::Disabled
                            || env.verify(k, proof.as_deref(), now, env.window, env.skew_ms).is_ok();
                        if matches && proof_ok {
                            return if p == P::IdCaseInsensitive {
                                env.serve_as_valid(req.clone(), k).await
                            } else {
                                // The proof "verified"; storage has no such id.
                                env.endpoint.forward(req).await.with_state(2)
                            };
                        }
                    }
                }
            }
            env.endpoint.forward(req).await
        }
        P::InvalidIdNotFound => {
            let r = env.endpoint.forward(req).await;
            match id {
                Some(i) if proto::id::validate(i).is_err() && proof_of(req).is_some() && r.wire_state() == Some(5) => {
                    r.with_state(2)
                }
                _ => r,
            }
        }
        P::InvalidProofAsNotFound => {
            let r = env.endpoint.forward(req).await;
            if r.wire_state() == Some(5) {
                r.with_state(2)
            } else {
                r
            }
        }
        P::NotFoundAsInvalidProof => {
            let r = env.endpoint.forward(req).await;
            if r.wire_state() == Some(2) {
                r.with_state(5)
            } else {
                r
            }
        }
        P::MissingIdAsNotFound => {
            let r = env.endpoint.forward(req).await;
            if r.wire_state() == Some(3) {
                r.with_state(2)
            } else {
                r
            }
        }
        P::UpdatedTokenBigEndian | P::UpdatedHeaderShort => {
            let mut r = env.endpoint.forward(req).await;
            if let Some(t) = current_token(&r) {
                if p == P::UpdatedTokenBigEndian {
                    if let Some(field) = r.body.get_mut(1..9) {
                        field.copy_from_slice(&t.to_be_bytes());
                    }
                } else {
                    r.body.remove(68);
                }
            }
            r
        }
        P::State7ForBadToken => {
            let r = env.endpoint.forward(req).await;
            let bad =
                req.header_values("x-pixstore-token").iter().any(|t| proto::token::parse_text(t.as_bytes()).is_err());
            if bad && matches!(r.wire_state(), Some(0 | 1)) {
                r.with_state(7)
            } else {
                r
            }
        }
        P::DateNowTokens => {
            let Some(id) = id.map(str::to_owned) else { return env.endpoint.forward(req).await };
            let fakes = lock(&env.fake_tokens).clone();
            // The client's fake token stands for the real version it was given out for.
            if let Some(t) = req.header_values("x-pixstore-token").first().and_then(|t| t.parse::<u64>().ok()) {
                let current = probe(env, req, &id).await;
                let real = current.filter(|c| fakes.get(&(id.clone(), *c)) == Some(&t));
                req.set_header("x-pixstore-token", &real.unwrap_or(t).to_string());
            }
            let mut r = env.endpoint.forward(req).await;
            if let Some(real) = current_token(&r) {
                if let (Some(fake), Some(field)) = (fakes.get(&(id, real)), r.body.get_mut(1..9)) {
                    field.copy_from_slice(&fake.to_le_bytes());
                }
            }
            r
        }
        P::NewerTokenIsCurrent | P::StaleTokenIsCurrent => {
            let sent = req.header_values("x-pixstore-token").first().and_then(|t| t.parse::<u64>().ok());
            let r = env.endpoint.forward(req).await;
            match (sent, current_token(&r)) {
                (Some(s), Some(c))
                    if (p == P::NewerTokenIsCurrent && s > c) || (p == P::StaleTokenIsCurrent && s < c && s > 0) =>
                {
                    as_success(r)
                }
                _ => r,
            }
        }
        P::QueryTokenIgnored => {
            req.target = without_query_param(&req.target, "token");
            env.endpoint.forward(req).await
        }
        P::QueryWinsOverHeader => {
            if let Some(q) = query_tokens(req).first() {
                req.set_header("x-pixstore-token", q);
            }
            env.endpoint.forward(req).await
        }
        P::InvalidHeaderFallsBackToQuery | P::EmptyHeaderIsAbsent => {
            let headers = req.header_values("x-pixstore-token");
            let drop = match headers.as_slice() {
                [one] if p == P::EmptyHeaderIsAbsent => one.is_empty(),
                [one] => !one.is_empty() && proto::token::parse_text(one.as_bytes()).is_err(),
                _ => false,
            };
            if drop {
                req.remove_header("x-pixstore-token");
            }
            env.endpoint.forward(req).await
        }
        P::RepeatedQueryTokenFirstWins => {
            let tokens = query_tokens(req);
            if tokens.len() > 1 {
                let first = tokens.first().cloned().unwrap_or_default();
                req.target = format!(
                    "{}?token={first}",
                    without_query_param(&req.target, "token").split('?').next().unwrap_or("")
                );
            }
            env.endpoint.forward(req).await
        }
        P::DuplicateTokenHeaderFirstWins => {
            if let Some(first) = req.header_values("x-pixstore-token").first().map(|s| (*s).to_owned()) {
                req.set_header("x-pixstore-token", &first);
            }
            env.endpoint.forward(req).await
        }
        P::LenientTokenParse => {
            if let [one] = req.header_values("x-pixstore-token").as_slice() {
                if proto::token::parse_text(one.as_bytes()).is_err() {
                    if let Some(v) = lenient_token(one) {
                        req.set_header("x-pixstore-token", &v.to_string());
                    }
                }
            }
            env.endpoint.forward(req).await
        }
        P::TagAppended => {
            let mut r = env.endpoint.forward(req).await;
            match r.wire_state() {
                Some(1) => {
                    let t = r.body.get(53..69).unwrap_or_default().to_vec();
                    r.body.extend_from_slice(&t);
                }
                Some(0) => r.body.extend_from_slice(&[0u8; 16]),
                _ => {}
            }
            r
        }
        P::WrongFormatByte => {
            let mut r = env.endpoint.forward(req).await;
            if r.wire_state() == Some(1) {
                let aead = proto::envelope::DefaultAead::default();
                if let Ok(proto::wire::Payload::Updated { meta, ciphertext, token, .. }) =
                    proto::wire::PayloadRef::decode(&r.body)
                {
                    if let Ok(opened) = proto::envelope::open(&aead, &meta.key, &meta.iv, &meta.tag, ciphertext) {
                        if let Ok(sealed) = proto::envelope::seal(
                            &aead,
                            &meta.key,
                            &meta.iv,
                            proto::format::Format::Webp,
                            opened.image(),
                        ) {
                            let meta = proto::envelope::Meta { tag: sealed.tag, ..meta };
                            if let Ok(p) = proto::wire::Payload::updated(token, meta, &sealed.ciphertext[..]) {
                                let mut out = Vec::new();
                                p.encode(&mut out);
                                r.body = out;
                            }
                        }
                    }
                }
            }
            r
        }
        P::ExpiredAtExp
        | P::OneWindowTooLong
        | P::DiesBeforeW
        | P::NoExpiryTooFar
        | P::ExpiryTooFarOffByOne
        | P::TagPrefixCompare
        | P::LenientProofSpelling
        | P::ProofOverUrlText => Box::pin(proof_mutant(p, req, id, env)).await,
        P::DuplicateProofFirstWins => {
            if let Some(first) = req.header_values("x-pixstore-proof").first().map(|s| (*s).to_owned()) {
                req.set_header("x-pixstore-proof", &first);
            }
            env.endpoint.forward(req).await
        }
        P::ProofRequiredWhenDisabled => {
            let r = env.endpoint.forward(req).await;
            if proof_of(req).is_none() && matches!(r.wire_state(), Some(0 | 1)) {
                r.with_state(4)
            } else {
                r
            }
        }
        P::WrongAllowOrigin | P::NoVaryOrigin => {
            let mut r = env.endpoint.forward(req).await;
            if p == P::WrongAllowOrigin {
                r.set_header("access-control-allow-origin", "*");
            } else {
                r.remove_header("vary");
            }
            r
        }
        P::ContentTypeText | P::NoContentLength | P::Status404ForNotFound => {
            let mut r = env.endpoint.forward(req).await;
            match (p, r.wire_state()) {
                (P::ContentTypeText, Some(_)) => r.set_header("content-type", "text/plain"),
                (P::NoContentLength, Some(_)) => r.chunked = true,
                (P::Status404ForNotFound, Some(2)) => r.status = 404,
                _ => {}
            }
            r
        }
        P::BareRoute400 if path == route || path == format!("{route}/") => {
            let mut r = env.endpoint.forward(req).await;
            r.status = 400;
            r.set_header("content-type", "text/plain");
            r.body = b"Missing image id".to_vec();
            r
        }
        P::Preflight200 | P::PreflightWithoutTokenHeader | P::AllowMethodsExtra if req.method == "OPTIONS" => {
            let mut r = env.endpoint.forward(req).await;
            match p {
                P::Preflight200 if r.status == 204 => r.status = 200,
                P::PreflightWithoutTokenHeader => {
                    if let Some(h) = r.header("access-control-allow-headers").map(str::to_owned) {
                        let kept: Vec<&str> = h
                            .split(',')
                            .map(str::trim)
                            .filter(|x| !x.eq_ignore_ascii_case("x-pixstore-token"))
                            .collect();
                        r.set_header("access-control-allow-headers", &kept.join(", "));
                    }
                }
                P::AllowMethodsExtra if r.status == 204 => {
                    r.set_header("access-control-allow-methods", "GET, OPTIONS, POST")
                }
                _ => {}
            }
            r
        }
        P::AllowIncomplete => {
            let mut r = env.endpoint.forward(req).await;
            if r.status == 405 {
                r.set_header("allow", "GET");
            }
            r
        }
        P::HeadServed if req.method == "HEAD" && (path.starts_with(&format!("{route}/")) || path == route) => {
            req.method = "GET".into();
            let mut r = env.endpoint.forward(req).await;
            r.body.clear();
            r
        }
        P::ExtraSegmentsServed | P::TrailingSlashServed | P::DotSegmentsNormalized | P::RouteCaseInsensitive => {
            let rest_of = |prefix: &str| path.get(prefix.len()..).map(str::to_owned);
            let new_path = match p {
                P::ExtraSegmentsServed => path
                    .strip_prefix(&format!("{route}/"))
                    .filter(|r| r.contains('/') && !r.ends_with('/'))
                    .map(|r| format!("{route}/{}", r.replace('/', "%2F"))),
                P::TrailingSlashServed => path
                    .strip_prefix(&format!("{route}/"))
                    .and_then(|r| r.strip_suffix('/'))
                    .filter(|r| !r.is_empty() && !r.contains('/'))
                    .map(|r| format!("{route}/{r}")),
                P::DotSegmentsNormalized => path
                    .starts_with(&format!("{route}/"))
                    .then(|| {
                        let mut out: Vec<&str> = Vec::new();
                        for seg in path.split('/') {
                            match seg {
                                "." => {}
                                ".." => {
                                    out.pop();
                                }
                                s => out.push(s),
                            }
                        }
                        out.join("/")
                    })
                    .filter(|n| *n != path),
                _ => (path.len() >= route.len()
                    && path.get(..route.len()).is_some_and(|r| r.eq_ignore_ascii_case(&route))
                    && !path.starts_with(&route))
                .then(|| rest_of(&route).map(|rest| format!("{route}{rest}")))
                .flatten(),
            };
            if let Some(n) = new_path {
                let query = req.query().map(|q| format!("?{q}")).unwrap_or_default();
                req.target = format!("{n}{query}");
            }
            env.endpoint.forward(req).await
        }
        P::NonGetOutsideRoute405 => {
            let mut r = env.endpoint.forward(req).await;
            if r.status == 404 && req.method != "GET" && req.method != "OPTIONS" {
                r.status = 405;
                r.set_header("allow", "GET, OPTIONS");
            }
            r
        }
        P::PreflightOutsideRoute => {
            let mut r = env.endpoint.forward(req).await;
            if r.status == 404 && req.method == "OPTIONS" {
                r.status = 204;
                r.body.clear();
                r.set_header("access-control-allow-methods", "GET, OPTIONS");
                r.set_header("access-control-allow-headers", "x-pixstore-proof, x-pixstore-token");
            }
            r
        }
        P::QueryPartOfId => {
            if let (Some(_), Some((p0, q))) = (env.segment(&path), req.target.clone().split_once('?')) {
                req.target = format!("{p0}%3F{}", q.replace('=', "%3D").replace('&', "%26"));
            }
            env.endpoint.forward(req).await
        }
        P::PercentDecodingMissing | P::LowercaseEscapeRejected => {
            let seg = env.segment(&path).unwrap_or("");
            let hit = if p == P::PercentDecodingMissing {
                seg.contains("%3A") || seg.contains("%3a")
            } else {
                seg.contains("%3a")
            };
            let r = env.endpoint.forward(req).await;
            if hit && matches!(r.wire_state(), Some(0 | 1)) {
                r.with_state(5)
            } else {
                r
            }
        }
        P::UriTooLongWithoutHeaders if req.target.len() > 8192 => {
            Response { status: 414, body: b"URI too long".to_vec(), ..Response::default() }
        }
        _ => env.endpoint.forward(req).await,
    }
}

async fn proof_mutant(p: P, req: &mut Request, id: Option<&str>, env: &Env) -> Response {
    let (Some(id), Some(w)) = (id.map(str::to_owned), env.w()) else { return env.endpoint.forward(req).await };
    let Some(proof) = proof_of(req) else { return env.endpoint.forward(req).await };
    let now = env.now().await;
    let skew = env.skew_ms;
    let window = env.window;
    let real = env.verify(&id, Some(&proof), now, window, skew);
    let invalid =
        || async { env.endpoint.forward(&Request { target: format!("{}/a:b:c", env.route), ..req.clone() }).await };
    match p {
        // Stricter verifiers: reject what the server accepts.
        P::ExpiredAtExp
            if real.is_ok() && env.verify(&id, Some(&proof), now, window, 0) == Err(ProofError::Expired) =>
        {
            invalid().await
        }
        P::DiesBeforeW
            if real.is_ok()
                && env.verify(&id, Some(&proof), now.saturating_add(w), window, skew) == Err(ProofError::Expired) =>
        {
            invalid().await
        }
        P::ExpiryTooFarOffByOne if real.is_ok() => {
            let exp = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&proof)
                .ok()
                .and_then(|b| b.get(6..14).and_then(|e| <[u8; 8]>::try_from(e).ok()))
                .map(u64::from_be_bytes);
            if exp == Some(now + 2 * w + skew) {
                invalid().await
            } else {
                env.endpoint.forward(req).await
            }
        }
        P::ProofOverUrlText if real.is_ok() => {
            let seg = env.segment(req.path()).unwrap_or("").to_owned();
            if seg != id {
                invalid().await
            } else {
                env.endpoint.forward(req).await
            }
        }
        // Laxer verifiers: accept what the server rejects.
        P::OneWindowTooLong if env.verify(&id, Some(&proof), now.saturating_sub(w), window, skew).is_ok() => {
            env.serve_as_valid(req.clone(), &id).await
        }
        P::NoExpiryTooFar
            if env
                .verify(
                    &id,
                    Some(&proof),
                    now,
                    Window::from_config(i64::try_from(w * 1000).unwrap_or(i64::MAX)).unwrap_or(window),
                    skew,
                )
                .is_ok() =>
        {
            env.serve_as_valid(req.clone(), &id).await
        }
        P::LenientProofSpelling if real.is_err() => match lenient_proof(&proof) {
            Some(canonical) if env.verify(&id, Some(&canonical), now, window, skew).is_ok() => {
                env.serve_as_valid(req.clone(), &id).await
            }
            _ => env.endpoint.forward(req).await,
        },
        P::TagPrefixCompare if real == Err(ProofError::BadTag) => {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&proof).unwrap_or_default();
            let (signed, sent) = bytes.split_at(14.min(bytes.len()));
            let want = tag(signed, &id);
            if sent.get(..8) == want.get(..8) && !want.is_empty() {
                env.serve_as_valid(req.clone(), &id).await
            } else {
                env.endpoint.forward(req).await
            }
        }
        _ => env.endpoint.forward(req).await,
    }
}

async fn control(p: P, mut req: Request, env: &Env) -> Response {
    let path = req.path().to_owned();
    let is_create = req.method == "POST" && path == "/images";
    // Request-side mutations.
    match p {
        P::DirTruncated | P::DirEmptyAccepted | P::RepeatedDirFirstWins if is_create => {
            let dirs: Vec<String> = req
                .query()
                .map(|q| proto::http::query_values(q, "dir").map(|c| c.into_owned()).collect())
                .unwrap_or_default();
            let base = "/images".to_owned();
            if let Some(first) = dirs.first() {
                let sanitized = proto::id::sanitize_dir(first);
                let new = match p {
                    P::DirTruncated => match sanitized {
                        Err(_) => {
                            let s: String = first
                                .to_lowercase()
                                .chars()
                                .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                                .take(32)
                                .collect();
                            if s.is_empty() {
                                None
                            } else {
                                Some(Some(s))
                            }
                        }
                        Ok(_) => None,
                    },
                    P::DirEmptyAccepted => match sanitized {
                        Err(_)
                            if first
                                .to_lowercase()
                                .chars()
                                .all(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')) =>
                        {
                            Some(None)
                        }
                        _ => None,
                    },
                    _ => (dirs.len() > 1).then(|| Some(first.clone())),
                };
                if let Some(dir) = new {
                    req.target = match dir {
                        Some(d) => format!("{base}?dir={}", conformance::target::encode(&d)),
                        None => base,
                    };
                }
            }
        }
        P::Refuse2MiB if is_create && req.body.len() > (1 << 20) => {
            return Response::json(413, &serde_json::json!({ "error": "image larger than 1 MiB" }));
        }
        P::UpsertAfterDelete if req.method == "PUT" => {
            let r = env.control.forward(&req).await;
            let id = proto::http::percent_decode(path.trim_start_matches("/images/"))
                .map(|c| c.into_owned())
                .unwrap_or_default();
            let last = lock(&env.records).get(&id).cloned();
            if r.status == 404 {
                if let Some(mut rec) = last {
                    rec["token"] = serde_json::json!(rec["token"].as_u64().unwrap_or(1) + 1);
                    return Response::json(200, &rec);
                }
            }
            return remember(r, env);
        }
        _ => {}
    }
    let mut r = env.control.forward(&req).await;
    // /info always names the proxy's endpoint: it is the implementation under test.
    if req.method == "GET" && path == "/info" {
        let own = env.own_endpoint.clone();
        r = rewrite_json(r, |v| v["endpoint"] = Value::String(own));
    }
    r = remember(r, env);
    match p {
        P::DirNotLowercased if is_create && r.status == 201 => {
            let raw = req.query().and_then(|q| proto::http::query_values(q, "dir").next().map(|c| c.into_owned()));
            if let Some(raw) = raw {
                let kept: String =
                    raw.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect();
                r = rewrite_json(r, |v| {
                    if let Some((_, name)) =
                        v["id"].as_str().and_then(|i| i.split_once(':')).map(|(d, n)| (d.to_owned(), n.to_owned()))
                    {
                        v["id"] = Value::String(format!("{kept}:{name}"));
                    }
                });
            }
            r
        }
        P::ShortIds if is_create && is_record(&r) => rewrite_json(r, |v| {
            let id = v["id"].as_str().unwrap_or("").to_owned();
            v["id"] = Value::String(id.chars().take(10).collect());
        }),
        P::SameIdTwice if is_create && is_record(&r) => {
            let first = lock(&env.ids).first().cloned();
            match first {
                Some(f) => rewrite_json(r, |v| v["id"] = Value::String(f)),
                None => r,
            }
        }
        P::DateNowTokens if is_record(&r) && (req.method == "POST" || req.method == "PUT") => {
            let now = env.now().await;
            let (id, real) = serde_json::from_slice::<Value>(&r.body)
                .ok()
                .map(|v| (v["id"].as_str().unwrap_or("").to_owned(), v["token"].as_u64().unwrap_or(0)))
                .unwrap_or_default();
            lock(&env.fake_tokens).insert((id, real), now);
            rewrite_json(r, |v| v["token"] = serde_json::json!(now))
        }
        P::DateNowTokens if is_record(&r) => {
            let (id, real) = serde_json::from_slice::<Value>(&r.body)
                .ok()
                .map(|v| (v["id"].as_str().unwrap_or("").to_owned(), v["token"].as_u64().unwrap_or(0)))
                .unwrap_or_default();
            let fake = lock(&env.fake_tokens).get(&(id, real)).copied();
            match fake {
                Some(f) => rewrite_json(r, |v| v["token"] = serde_json::json!(f)),
                None => r,
            }
        }
        P::RecordTokenString if is_record(&r) => {
            rewrite_json(r, |v| v["token"] = Value::String(v["token"].to_string()))
        }
        P::RecordTokenFraction if is_record(&r) => {
            let t = serde_json::from_slice::<Value>(&r.body).ok().and_then(|v| v["token"].as_u64()).unwrap_or(1);
            let mut r = r;
            r.body = String::from_utf8_lossy(&r.body)
                .replace(&format!("\"token\":{t}"), &format!("\"token\":{t}.0"))
                .into_bytes();
            r
        }
        P::RecordMetaUnpadded if is_record(&r) => rewrite_json(r, |v| {
            let key = v["meta"]["key"].as_str().unwrap_or("").trim_end_matches('=').to_owned();
            v["meta"]["key"] = Value::String(key);
        }),
        P::RecordWithoutProof if is_record(&r) => rewrite_json(r, |v| {
            if let Some(o) = v.as_object_mut() {
                o.remove("statelessProof");
            }
        }),
        P::RecordDuplicateMember if is_record(&r) => {
            let mut r = r;
            let text = String::from_utf8_lossy(&r.body).into_owned();
            r.body = text.replacen('{', "{\"id\":\"Q29uZm9ybWFuY2VEdXBsaWNhdGU\",", 1).into_bytes();
            r
        }
        P::RecordCacheable if is_record(&r) => {
            r.set_header("cache-control", "public, max-age=60");
            r
        }
        P::MintedOneWindowShort | P::MintedOneWindowLong if is_record(&r) => {
            let now = env.now().await;
            let w = env.w().unwrap_or(0);
            let at = if p == P::MintedOneWindowShort { now.saturating_sub(w) } else { now + w };
            let id = serde_json::from_slice::<Value>(&r.body)
                .ok()
                .and_then(|v| v["id"].as_str().map(str::to_owned))
                .unwrap_or_default();
            let proof = env.mint(&id, at);
            rewrite_json(r, |v| v["statelessProof"] = Value::String(proof))
        }
        P::ProofInRecordWhenDisabled if is_record(&r) => {
            rewrite_json(r, |v| v["statelessProof"] = Value::String("AQAAAAABAAABk3AR4ECOMxO_JgCtl6lZeKw46BLB".into()))
        }
        P::InfoImplementationObject if path == "/info" => {
            rewrite_json(r, |v| v["implementation"] = serde_json::json!({ "name": "pixstore" }))
        }
        P::InfoEndpointUnspecified if path == "/info" => {
            let own = env.own_endpoint.replace("127.0.0.1", "0.0.0.0");
            rewrite_json(r, |v| v["endpoint"] = Value::String(own))
        }
        P::InfoWindowString if path == "/info" => {
            rewrite_json(r, |v| v["windowMs"] = Value::String(v["windowMs"].to_string()))
        }
        P::InvalidIdIs404 if r.status == 400 && req.method != "POST" => {
            r.status = 404;
            r
        }
        P::UnknownIdIs500 if r.status == 404 => {
            r.status = 500;
            r
        }
        P::ErrorBodyText if r.status >= 400 => {
            r.set_header("content-type", "text/plain");
            r.body = b"error".to_vec();
            r
        }
        P::NonImageIs400 if r.status == 415 => {
            r.status = 400;
            r
        }
        _ => r,
    }
}

/// Remembers created ids and the last record of each.
fn remember(r: Response, env: &Env) -> Response {
    if is_record(&r) {
        if let Ok(v) = serde_json::from_slice::<Value>(&r.body) {
            if let Some(id) = v["id"].as_str() {
                let mut ids = lock(&env.ids);
                if !ids.iter().any(|i| i == id) {
                    ids.push(id.to_owned());
                }
                lock(&env.records).insert(id.to_owned(), v.clone());
            }
        }
    }
    r
}
