//! Unit tests of `serve.rs`, kept apart so that spec-trace counts their requirement IDs as tests.
use super::*;
use crate::proof::{mint, Keyring};
use crate::wire::State;

const NOW: u64 = 1_732_752_000_000;

fn setup() -> (Keyring, Window) {
    let mut r = Keyring::new();
    r.insert(1, [1u8; 32]).unwrap();
    (r, Window::from_config(20_000).unwrap())
}

fn version(token: u64) -> StoredVersion<&'static [u8]> {
    StoredVersion {
        token: Token::new(token).unwrap(),
        meta: Meta { key: [1; 32], iv: [2; 12], tag: [3; 16] },
        ciphertext: b"ct",
    }
}

fn state(req: Request<'_>, v: &Verifier<'_>, stored: Option<u64>) -> State {
    respond(&req, v, NOW, |_| Ok::<_, ()>(stored.map(version))).payload.state()
}

// SERVE-1, SERVE-5: the check order leaks no existence.
#[test]
fn check_order() {
    let (r, w) = setup();
    let v = Verifier::new(&r, w);
    let good = mint(&r, "img", NOW, w).unwrap();
    let other = mint(&r, "other", NOW, w).unwrap();
    let req = |id, proof| Request { id, proof, client_token: None };
    assert_eq!(state(req(RequestId::Absent, Some(&good)), &v, Some(1)), State::MissingId);
    assert_eq!(state(req(RequestId::Text(""), Some(&good)), &v, Some(1)), State::MissingId);
    assert_eq!(state(req(RequestId::Text("img"), None), &v, Some(1)), State::MissingProof);
    assert_eq!(state(req(RequestId::Text("img"), Some("")), &v, Some(1)), State::MissingProof);
    // Same answer whether the id exists or not.
    assert_eq!(state(req(RequestId::Text("img"), Some(&other)), &v, Some(1)), State::InvalidProof);
    assert_eq!(state(req(RequestId::Text("img"), Some(&other)), &v, None), State::InvalidProof);
    assert_eq!(state(req(RequestId::Text("../img"), Some(&good)), &v, Some(1)), State::InvalidProof);
    assert_eq!(state(req(RequestId::Undecodable, Some(&good)), &v, Some(1)), State::InvalidProof);
    assert_eq!(state(req(RequestId::Text("img"), Some(&good)), &v, None), State::NotFound);
    // The store is never asked without a valid proof.
    let asked = core::cell::Cell::new(false);
    let _ = respond(&req(RequestId::Text("img"), Some(&other)), &v, NOW, |_| {
        asked.set(true);
        Ok::<_, ()>(Some(version(1)))
    });
    assert!(!asked.get());
}

// SERVE-2, SERVE-4
#[test]
fn success_iff_token_matches() {
    let (r, w) = setup();
    let v = Verifier::new(&r, w);
    let p = mint(&r, "img", NOW, w).unwrap();
    let req = |t: Option<u64>| Request {
        id: RequestId::Text("img"),
        proof: Some(&p),
        client_token: t.map(|t| Token::new(t).unwrap()),
    };
    assert_eq!(state(req(Some(5)), &v, Some(5)), State::Success);
    assert_eq!(state(req(Some(4)), &v, Some(5)), State::Updated);
    assert_eq!(state(req(None), &v, Some(5)), State::Updated);
    let a = respond(&req(None), &v, NOW, |_| Err::<Option<StoredVersion<&[u8]>>, _>("disk on fire"));
    assert_eq!(a.payload.state(), State::InternalError);
    assert_eq!(a.detail, Detail::Storage("disk on fire"));
}

// PROOF-14, SERVE-5: with W = -1 no proof is needed; an invalid id is NotFound.
#[test]
fn disabled_validation() {
    let r = Keyring::new();
    let v = Verifier::new(&r, Window::Disabled);
    let req = |id| Request { id, proof: None, client_token: None };
    assert_eq!(state(req(RequestId::Text("img")), &v, Some(1)), State::Updated);
    assert_eq!(state(req(RequestId::Text("a/b")), &v, Some(1)), State::NotFound);
    assert_eq!(state(req(RequestId::Absent), &v, Some(1)), State::MissingId);
}

// SERVE-3: the payload is built from one stored version: token, meta and ciphertext together.
#[test]
fn payload_comes_from_one_version() {
    let (r, w) = setup();
    let v = Verifier::new(&r, w);
    let p = mint(&r, "img", NOW, w).unwrap();
    let stored = StoredVersion {
        token: Token::new(77).unwrap(),
        meta: Meta { key: [7; 32], iv: [8; 12], tag: [9; 16] },
        ciphertext: &b"version 77"[..],
    };
    let req = Request { id: RequestId::Text("img"), proof: Some(&p), client_token: None };
    let payload = respond(&req, &v, NOW, |_| Ok::<_, ()>(Some(stored))).payload;
    assert_eq!(payload.token(), Some(stored.token));
    assert_eq!(payload.meta(), Some(&stored.meta));
    assert_eq!(payload.ciphertext(), Some(stored.ciphertext));
}
