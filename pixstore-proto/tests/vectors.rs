//! Runs every golden vector of `spec/vectors/` against this crate.
//!
//! The vectors are read from `spec/vectors/` inside this crate: in the repository `spec` is a
//! link to the repository's `spec/` folder (the normative copy that the Node scripts generate
//! and validate), and `cargo package` copies the files it points to into the package, so the
//! published crate tests itself against the same bytes.
//!
//! Each file must exist and hold vectors (a missing or empty file fails, it never passes
//! silently). A failure names the vector id. Requirement IDs are checked through the vectors'
//! own `requirements` lists; the areas are WIRE-1 to WIRE-12 (wire_decode, wire_encode), ENV-1
//! to ENV-6 and FMT-1 to FMT-3 (envelope), PROOF-2 to PROOF-14 (proof), TOKEN-1, TOKEN-3, TOKEN-5
//! (token_header), REC-1 to REC-6, ID-1 and TOKEN-4 (record_json).
#![allow(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::as_conversions,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;

use pixstore_proto::envelope::{self, Meta, RustCrypto};
use pixstore_proto::format::Format;
use pixstore_proto::proof::{self, Keyring, Verifier, Window};
use pixstore_proto::record::ImageRecord;
use pixstore_proto::token::{self, Token};
use pixstore_proto::wire::{Payload, PayloadRef, State};
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("spec/vectors")
}

/// Loads a vector file; fails loudly if it is missing, malformed or empty.
fn load(stem: &str) -> (Value, Vec<Value>) {
    let path = vectors_dir().join(format!("{stem}.json"));
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("vector file {} is missing: {e}", path.display()));
    let file: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
    let vectors = file["vectors"].as_array().cloned().unwrap_or_default();
    assert!(!vectors.is_empty(), "{}: no vectors", path.display());
    assert_eq!(file["numberOfVectors"].as_u64(), Some(vectors.len() as u64), "{stem}: numberOfVectors");
    for v in &vectors {
        let reqs = v["requirements"].as_array().map(Vec::len).unwrap_or(0);
        assert!(reqs > 0, "{stem}/{}: no requirements", v["id"]);
    }
    (file, vectors)
}

fn hex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap_or_else(|| panic!("not a hex string: {v}"))).unwrap()
}

fn arr<const N: usize>(v: &Value) -> [u8; N] {
    hex(v).try_into().unwrap()
}

/// Runs `check` on every vector and reports all failures at once, by id.
fn run(stem: &str, check: impl Fn(&Value, &Value) -> Result<(), String>) -> usize {
    let (file, vectors) = load(stem);
    let failures: Vec<String> = vectors
        .iter()
        .filter_map(|v| check(&file, v).err().map(|e| format!("  {}: {e}", v["id"].as_str().unwrap_or("?"))))
        .collect();
    assert!(
        failures.is_empty(),
        "{stem}: {} of {} vectors failed:\n{}",
        failures.len(),
        vectors.len(),
        failures.join("\n")
    );
    vectors.len()
}

fn expect_result<T: std::fmt::Debug>(
    v: &Value,
    got: Result<T, &'static str>,
    ok: impl FnOnce(T) -> Result<(), String>,
) -> Result<(), String> {
    match (v["result"].as_str(), got) {
        (Some("valid"), Ok(t)) => ok(t),
        (Some("invalid"), Err(kind)) if v["error"].as_str() == Some(kind) => Ok(()),
        // Either outcome is allowed, but only with flags that say why (spec/vectors/README.md).
        (Some("acceptable"), _) if v["flags"].as_array().is_some_and(|f| !f.is_empty()) => Ok(()),
        (r, got) => Err(format!("expected {:?} {:?}, got {got:?}", r, v["error"])),
    }
}

fn state_name(p: &PayloadRef<'_>) -> &'static str {
    p.state().name()
}

// WIRE-1 .. WIRE-11
#[test]
fn wire_decode() {
    let n = run("wire_decode", |_, v| {
        let input = hex(&v["input_hex"]);
        let got = PayloadRef::decode(&input).map_err(|e| e.kind());
        // The owned decoder must agree with the borrowed one, field for field.
        let owned = Payload::decode_bytes(bytes::Bytes::from(input.clone())).map_err(|e| e.kind());
        let borrowed_vec = got.clone().map(|p| p.map_ciphertext(<[u8]>::to_vec));
        let owned_vec = owned.map(|p| p.map_ciphertext(|b| b.to_vec()));
        if borrowed_vec != owned_vec {
            return Err("borrowed and owned decoders disagree".into());
        }
        expect_result(v, got, |p| {
            let e = &v["expected"];
            if e["state"].as_str() != Some(state_name(&p)) {
                return Err(format!("state {} != {}", state_name(&p), e["state"]));
            }
            if let Some(ct) = e.get("ciphertext_hex") {
                if p.ciphertext() != Some(hex(ct).as_slice()) {
                    return Err("ciphertext differs".into());
                }
            }
            if p.state() == State::Updated {
                let m = p.meta().unwrap();
                let t = p.token().unwrap().get();
                if Some(t) != e["token"].as_u64()
                    || m.key != arr::<32>(&e["key_hex"])
                    || m.iv != arr::<12>(&e["iv_hex"])
                    || m.tag != arr::<16>(&e["tag_hex"])
                {
                    return Err("Updated fields differ".into());
                }
            }
            // Re-encoding a valid payload gives the input back (WIRE-12).
            let mut out = Vec::new();
            p.encode(&mut out);
            if out != input || p.encoded_len() != input.len() {
                return Err("re-encoding differs from the input".into());
            }
            Ok(())
        })
    });
    assert!(n >= 45, "wire_decode has {n} vectors");
}

// WIRE-12
#[test]
fn wire_encode() {
    run("wire_encode", |_, v| {
        let p = &v["payload"];
        let state = State::from_name(p["state"].as_str().unwrap()).ok_or("unknown state name")?;
        let ct = p.get("ciphertext_hex").map(hex).unwrap_or_default();
        let payload = match state {
            State::Success => Payload::success(ct.as_slice()).map_err(|e| e.to_string())?,
            State::Updated => {
                let token = Token::new(p["token"].as_u64().unwrap()).map_err(|e| e.to_string())?;
                let meta = Meta { key: arr(&p["key_hex"]), iv: arr(&p["iv_hex"]), tag: arr(&p["tag_hex"]) };
                Payload::updated(token, meta, ct.as_slice()).map_err(|e| e.to_string())?
            }
            s => Payload::error(s).ok_or("not an error state")?,
        };
        let mut out = Vec::new();
        payload.encode(&mut out);
        if out != hex(&v["output_hex"]) {
            return Err(format!("encoded {} ", hex::encode(&out)));
        }
        Ok(())
    });
}

// ENV-1 .. ENV-6, FMT-1 .. FMT-3; every backend compiled in (CI builds with all features).
#[test]
fn envelope() {
    let backends: &[&dyn envelope::Aead] = &[
        &RustCrypto,
        #[cfg(feature = "ring")]
        &envelope::Ring,
    ];
    run("envelope", |_, v| {
        let key = arr::<32>(&v["key_hex"]);
        let iv = arr::<12>(&v["iv_hex"]);
        for &aead in backends {
            if v["result"] == "valid" {
                let format = Format::from_name(v["format"].as_str().unwrap()).ok_or("unknown format name")?;
                if u64::from(format.byte()) != v["format_byte"].as_u64().unwrap() || format.mime() != v["mime"] {
                    return Err(format!("registry differs for {format}"));
                }
                let sealed =
                    envelope::seal(aead, &key, &iv, format, &hex(&v["image_hex"])).map_err(|e| e.to_string())?;
                if sealed.ciphertext != hex(&v["ciphertext_hex"]) || sealed.tag != arr::<16>(&v["tag_hex"]) {
                    return Err("seal differs".into());
                }
            }
            let ct = hex(&v["ciphertext_hex"]);
            let got = envelope::open(aead, &key, &iv, &arr(&v["tag_hex"]), &ct).map_err(|e| e.kind());
            expect_result(v, got, |o| {
                if o.image() != hex(&v["image_hex"]).as_slice() || o.format().name() != v["format"] {
                    return Err("opened image differs".into());
                }
                Ok(())
            })?;
        }
        Ok(())
    });
}

// PROOF-2 .. PROOF-14
#[test]
fn proof() {
    let n = run("proof", |file, v| {
        let mut ring = Keyring::new();
        for kid in v["keyring"].as_array().unwrap() {
            let kid = kid.as_u64().unwrap();
            let key = hex(&file["keys"][kid.to_string()]);
            ring.insert(u32::try_from(kid).unwrap(), key).map_err(|e| e.to_string())?;
        }
        let window = Window::from_config(v["windowMs"].as_i64().unwrap()).map_err(|e| e.to_string())?;
        let now = v["now"].as_u64().unwrap();
        let id = v["imageId"].as_str().unwrap();
        match v["op"].as_str() {
            Some("mint") => {
                let p = proof::mint(&ring, id, now, window).map_err(|e| e.to_string())?;
                if p != v["expected_proof"].as_str().unwrap() {
                    return Err(format!("minted {p}"));
                }
                if let (Window::Millis(w), Some(exp)) = (window, v["expected_exp"].as_u64()) {
                    if proof::expiry(now, w) != Some(exp) {
                        return Err("expiry differs".into());
                    }
                }
                Ok(())
            }
            Some("verify") => {
                let verifier =
                    Verifier::new(&ring, window).with_skew(v["skewMs"].as_u64().unwrap()).map_err(|e| e.to_string())?;
                let got = verifier.verify(id, v["proof"].as_str(), now).map_err(|e| e.kind());
                expect_result(v, got, |()| Ok(()))
            }
            other => Err(format!("unknown op {other:?}")),
        }
    });
    assert!(n >= 35, "proof has {n} vectors");
}

// TOKEN-1, TOKEN-3, TOKEN-5
#[test]
fn token_header() {
    run("token_header", |_, v| {
        let got = token::parse_text(v["input"].as_str().unwrap().as_bytes()).map_err(|e| match e {
            token::TokenError::Empty => "Empty",
            token::TokenError::InvalidCharacter => "InvalidCharacter",
            token::TokenError::LeadingZero => "LeadingZero",
            token::TokenError::OutOfRange => "OutOfRange",
            _ => "?",
        });
        expect_result(v, got, |t| {
            let value = t.map_or(0, Token::get);
            if Some(value) != v["value"].as_u64() {
                return Err(format!("parsed {value}"));
            }
            Ok(())
        })
    });
}

// REC-1 .. REC-6, ID-1, TOKEN-4
#[test]
fn record_json() {
    run("record_json", |_, v| {
        let got = ImageRecord::from_json(v["input"].as_str().unwrap().as_bytes()).map_err(|e| e.kind());
        expect_result(v, got, |r| {
            let e = &v["expected"];
            let same = e["id"] == r.id.as_str()
                && e["token"].as_u64() == Some(r.token.get())
                && hex(&e["key_hex"]) == r.meta.key
                && hex(&e["iv_hex"]) == r.meta.iv
                && hex(&e["tag_hex"]) == r.meta.tag
                && e["statelessProof"] == r.stateless_proof.as_str();
            if !same {
                return Err(format!("parsed {r:?}"));
            }
            // Serialising and parsing again gives the same record.
            if ImageRecord::from_json(r.to_json().as_bytes()).as_ref() != Ok(&r) {
                return Err("JSON round trip differs".into());
            }
            Ok(())
        })
    });
}

/// The suite itself: a vector file the tests do not know about would go unchecked.
#[test]
fn every_vector_file_is_run() {
    let known = ["wire_decode", "wire_encode", "envelope", "proof", "token_header", "record_json"];
    let mut total = 0;
    let dir = vectors_dir();
    let listing = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!("{}: {e} (in the repository, pixstore-proto/spec must be a link to ../spec)", dir.display())
    });
    for entry in listing {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(stem) = name.strip_suffix(".json") {
            if stem.starts_with("crosscheck") {
                continue;
            }
            assert!(known.contains(&stem), "spec/vectors/{name} is not run by tests/vectors.rs");
            total += load(stem).1.len();
        }
    }
    assert!(total >= 150, "only {total} vectors");
}
