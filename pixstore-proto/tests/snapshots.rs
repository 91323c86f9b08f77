//! Snapshots (insta) of encodings and of every error message users see. A change to any of
//! them shows up in review as a snapshot diff. Update with `cargo insta review` or
//! `INSTA_UPDATE=always cargo test -p pixstore-proto --test snapshots`.
#![allow(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::as_conversions,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::fmt::Write as _;

use pixstore_proto::client::{ClientError, LimitsError};
use pixstore_proto::envelope::{EnvelopeError, Meta};
use pixstore_proto::id::IdError;
use pixstore_proto::proof::{KeyringError, ProofError};
use pixstore_proto::record::RecordError;
use pixstore_proto::token::{Token, TokenError};
use pixstore_proto::wire::{DecodeError, Payload, State, STATES};

fn hex_lines(bytes: &[u8]) -> String {
    bytes.chunks(16).map(hex::encode).collect::<Vec<_>>().join("\n")
}

// WIRE-2, WIRE-3, WIRE-4
#[test]
fn encodings() {
    let meta = Meta { key: [0x11; 32], iv: [0x22; 12], tag: [0x33; 16] };
    let mut s = String::new();
    for p in [
        Payload::success(&b"\x01img"[..]).unwrap(),
        Payload::updated(Token::new(1_732_752_000_123).unwrap(), meta, &b"\x03jpg"[..]).unwrap(),
    ] {
        let mut out = Vec::new();
        p.encode(&mut out);
        writeln!(s, "{:?}\n{}\n", p, hex_lines(&out)).unwrap();
    }
    for st in STATES.into_iter().filter(|s| s.is_error()) {
        let mut out = Vec::new();
        Payload::<&[u8]>::error(st).unwrap().encode(&mut out);
        writeln!(s, "{st}: {}", hex::encode(out)).unwrap();
    }
    insta::assert_snapshot!(s);
}

#[test]
fn error_messages() {
    let mut s = String::new();
    let mut line = |e: &dyn std::fmt::Display| writeln!(s, "{e}").unwrap();
    for e in [
        DecodeError::Empty,
        DecodeError::Truncated { needed: 60 },
        DecodeError::MissingCiphertext,
        DecodeError::TrailingBytes { state: State::NotFound },
        DecodeError::ReservedState(7),
        DecodeError::UnassignedState(200),
        DecodeError::TokenOutOfRange,
    ] {
        line(&e);
    }
    for e in [TokenError::Empty, TokenError::InvalidCharacter, TokenError::LeadingZero, TokenError::OutOfRange] {
        line(&e);
    }
    for e in [
        EnvelopeError::Authentication,
        EnvelopeError::MissingFormatByte,
        EnvelopeError::UnknownFormat(0),
        EnvelopeError::TooLarge,
    ] {
        line(&e);
    }
    for e in [
        ProofError::Missing,
        ProofError::Malformed,
        ProofError::UnsupportedVersion,
        ProofError::UnknownKey,
        ProofError::BadTag,
        ProofError::Expired,
        ProofError::ExpiryTooFar,
        ProofError::NoSigningKey,
        ProofError::InvalidId,
        ProofError::ClockOutOfRange,
    ] {
        line(&e);
    }
    for e in [
        KeyringError::ZeroKeyId,
        KeyringError::KeyTooShort,
        KeyringError::DuplicateKeyId,
        KeyringError::UnknownKeyId,
        KeyringError::InvalidWindow,
        KeyringError::SkewTooLarge,
    ] {
        line(&e);
    }
    for e in [
        RecordError::Syntax,
        RecordError::MissingField("meta.iv"),
        RecordError::DuplicateField,
        RecordError::WrongType("token"),
        RecordError::InvalidBase64("meta.key"),
        RecordError::InvalidLength("meta.tag"),
        RecordError::InvalidToken,
        RecordError::InvalidId,
    ] {
        line(&e);
    }
    for e in [IdError::Empty, IdError::TooLong, IdError::BadSeparator, IdError::InvalidCharacter] {
        line(&e);
    }
    for st in STATES.into_iter().filter(|s| s.is_error()) {
        line(&ClientError::State(st));
    }
    line(&LimitsError);
    insta::assert_snapshot!(s);
}
