//! Unit tests of `proof.rs`, kept apart so that spec-trace counts their requirement IDs as tests.
use super::*;

const NOW: u64 = 1_732_752_000_000;

fn ring() -> Keyring {
    let mut r = Keyring::new();
    r.insert(1, [1u8; 32]).unwrap();
    r.insert(2, [2u8; 32]).unwrap();
    r
}

fn w(ms: i64) -> Window {
    Window::from_config(ms).unwrap()
}

// PROOF-3, PROOF-6, PROOF-9: lifetime between W and 2W.
#[test]
fn lifetime_is_between_w_and_2w() {
    let r = ring();
    let v = Verifier::new(&r, w(20_000)).with_skew(0).unwrap();
    for offset in [0, 1, 10_000, 19_999] {
        let minted = NOW + offset; // NOW is a multiple of 20 000
        let p = mint(&r, "a", minted, w(20_000)).unwrap();
        assert_eq!(p.len(), PROOF_TEXT_LEN);
        let exp = NOW + 40_000;
        assert!(exp - minted > 20_000 && exp - minted <= 40_000);
        assert_eq!(v.verify("a", Some(&p), exp), Ok(()));
        assert_eq!(v.verify("a", Some(&p), exp + 1), Err(ProofError::Expired));
    }
    // Same window, same proof.
    assert_eq!(mint(&r, "a", NOW, w(20_000)), mint(&r, "a", NOW + 19_999, w(20_000)));
    assert_ne!(mint(&r, "a", NOW, w(20_000)), mint(&r, "a", NOW + 20_000, w(20_000)));
}

// PROOF-5, PROOF-10, PROOF-12
#[test]
fn rotation_binding_and_fail_closed() {
    let mut r = ring();
    let old = mint(&r, "img", NOW, w(1000)).unwrap();
    r.insert(3, [3u8; 32]).unwrap();
    r.set_signing(3).unwrap();
    let new = mint(&r, "img", NOW, w(1000)).unwrap();
    assert_ne!(old, new);
    let v = Verifier::new(&r, w(1000));
    assert_eq!(v.verify("img", Some(&old), NOW), Ok(()));
    assert_eq!(v.verify("img", Some(&new), NOW), Ok(()));
    assert_eq!(v.verify("img2", Some(&new), NOW), Err(ProofError::BadTag));
    r.remove(1);
    let v = Verifier::new(&r, w(1000));
    assert_eq!(v.verify("img", Some(&old), NOW), Err(ProofError::UnknownKey));
    let empty = Keyring::new();
    assert_eq!(Verifier::new(&empty, w(1000)).verify("img", Some(&new), NOW), Err(ProofError::UnknownKey));
    assert_eq!(mint(&empty, "img", NOW, w(1000)), Err(ProofError::NoSigningKey));
    assert_eq!(Keyring::new().insert(0, [0u8; 32]), Err(KeyringError::ZeroKeyId));
    assert_eq!(Keyring::new().insert(1, [0u8; 31]), Err(KeyringError::KeyTooShort));
    assert_eq!(ring().insert(1, [9u8; 32]), Err(KeyringError::DuplicateKeyId));
}

// PROOF-7: the tag is checked before expiry, so a forged expired proof is BadTag.
#[test]
fn tag_before_expiry() {
    let r = ring();
    let p = mint(&r, "img", NOW, w(1000)).unwrap();
    let mut bytes = decode_text(&p).unwrap();
    bytes[29] ^= 1;
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let v = Verifier::new(&r, w(1000));
    assert_eq!(v.verify("img", Some(&forged), NOW + 1_000_000), Err(ProofError::BadTag));
    assert_eq!(v.verify("img", Some(&p), NOW + 1_000_000), Err(ProofError::Expired));
}

// PROOF-11, PROOF-14
#[test]
fn window_config_and_disabled_validation() {
    assert_eq!(Window::from_config(-1), Ok(Window::Disabled));
    assert_eq!(Window::from_config(0), Err(KeyringError::InvalidWindow));
    assert_eq!(Window::from_config(-2), Err(KeyringError::InvalidWindow));
    assert_eq!(Window::default().to_config(), 20_000);
    let r = Keyring::new();
    assert_eq!(mint(&r, "img", NOW, Window::Disabled).as_deref(), Ok(""));
    let v = Verifier::new(&r, Window::Disabled);
    assert_eq!(v.verify("img", None, NOW), Ok(()));
    assert_eq!(v.verify("img", Some("garbage"), NOW), Ok(()));
    assert_eq!(Verifier::new(&r, w(5)).with_skew(60_001).err(), Some(KeyringError::SkewTooLarge));
}

// PROOF-3
#[test]
fn malformed_texts() {
    let r = ring();
    let v = Verifier::new(&r, w(1000));
    let p = mint(&r, "img", NOW, w(1000)).unwrap();
    assert_eq!(v.verify("img", None, NOW), Err(ProofError::Missing));
    assert_eq!(v.verify("img", Some(""), NOW), Err(ProofError::Missing));
    assert_eq!(v.verify("img", Some(&p[1..]), NOW), Err(ProofError::Malformed));
    assert_eq!(v.verify("img", Some(&alloc::format!("{p}=")), NOW), Err(ProofError::Malformed));
    let plus = p.replace('-', "+").replace('_', "/");
    if plus != p {
        assert_eq!(v.verify("img", Some(&plus), NOW), Err(ProofError::Malformed));
    }
}

// PROOF-13: a keyring's Debug output names key ids only.
#[test]
fn keyring_debug_shows_no_key() {
    let mut r = Keyring::new();
    r.insert(9, [0xcd; 32]).unwrap();
    let s = alloc::format!("{r:?}");
    assert!(s.contains('9') && !s.contains("cd") && !s.contains("205"), "{s}");
}

// SERVE-5, PROOF-7 step 4: an id outside the grammar never verifies, not even with the tag the key
// holder would compute for its bytes (minting refuses such ids; this is the second guard). The
// serve checks rely on it: they do not validate an id again once its proof verified.
#[test]
fn a_correct_tag_for_an_invalid_id_is_bad_tag_and_storage_is_not_asked() {
    let r = ring();
    let forge = |id: &str| {
        let mut signed = [0u8; SIGNED_LEN];
        signed[0] = VERSION;
        signed[2..6].copy_from_slice(&1u32.to_be_bytes());
        signed[6..14].copy_from_slice(&(NOW + 2_000).to_be_bytes());
        let mac = mac_input(r.mac(1).unwrap(), &signed, id.as_bytes()).unwrap();
        let mut bytes = [0u8; PROOF_LEN];
        bytes[..SIGNED_LEN].copy_from_slice(&signed);
        bytes[SIGNED_LEN..].copy_from_slice(&mac.finalize().into_bytes()[..TAG_LEN]);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    let v = Verifier::new(&r, w(1000));
    // The forgery is sound: for a valid id the same construction verifies.
    assert_eq!(v.verify("img", Some(&forge("img")), NOW), Ok(()));
    for id in ["../img", "a/b", "img:", ":img", "A:img", "img\0"] {
        assert_eq!(mint(&r, id, NOW, w(1000)), Err(ProofError::InvalidId), "{id:?}");
        let proof = forge(id);
        assert_eq!(v.verify(id, Some(&proof), NOW), Err(ProofError::BadTag), "{id:?}");
        let request =
            crate::serve::Request { id: crate::serve::RequestId::Text(id), proof: Some(&proof), client_token: None };
        let asked = core::cell::Cell::new(false);
        let answer = crate::serve::respond(&request, &v, NOW, |_| {
            asked.set(true);
            Ok::<Option<crate::serve::StoredVersion<&[u8]>>, ()>(None)
        });
        assert_eq!(answer.payload.state(), crate::wire::State::InvalidProof, "{id:?}");
        assert!(!asked.get(), "storage was asked for {id:?}");
    }
}
