//! # pixstore-proto
//!
//! The sans-IO core of the Pixstore protocol, version 1: everything a backend, an endpoint or a
//! client must agree on, with no clock, socket, file or random number generator inside. Time,
//! randomness and keys are arguments.
//!
//! Section numbers (§4.3) and requirement IDs (`WIRE-3`, `PROOF-7`) in these docs refer to the
//! specification, *Pixstore Protocol, version 1*. It ships inside this package as
//! `spec/pixstore.md`, with its language-neutral golden vectors in `spec/vectors/` (the
//! crate's own tests run every one of them).
//!
//! | module | spec | what |
//! |---|---|---|
//! | [`id`] | §3 | image id grammar (`ID-1`) and `dir:` prefix sanitising |
//! | [`wire`] | §4 | the binary wire payload: [`wire::State`], zero-copy [`wire::PayloadRef`], owned [`wire::Payload`], decoder and encoder |
//! | [`token`] | §5 | image version tokens, the header grammar, the next-token rule |
//! | [`envelope`] | §6 | AES-256-GCM seal/open of `[format byte][image]` behind the [`envelope::Aead`] trait |
//! | [`format`] | §6.3 | the fixed format-byte registry and MIME types |
//! | [`record`] | §7 | `ImageRecord` and its JSON form |
//! | [`proof`] | §8 | stateless proof v1: minting and verifying with a [`proof::Keyring`] |
//! | [`serve`] | §9 | the endpoint decision (check order, Success vs Updated) used by every endpoint |
//! | [`http`] | §10 | the HTTP binding's request-target rules and response headers |
//! | [`client`] | §11 | the client's cache rules: hit test, payload handling, LRU arithmetic |
//!
//! Examples for implementers: decoding and inspecting a payload in [`wire`], minting and
//! verifying a proof in [`proof`], sealing and opening an image in [`envelope`], reading and
//! writing record JSON in [`record`], and a whole request below.
//!
//! ## Features
//!
//! | feature | default | what it enables |
//! |---|---|---|
//! | `std` | yes | `std` support in dependencies; implies `alloc` |
//! | `alloc` | via `std` | heap allocation: required (owned payloads, records, proof text); without it the build stops with an error that says so |
//! | `rustcrypto` | yes | `envelope::RustCrypto` (and `envelope::DefaultAead`, its stable alias): the pure-Rust, no_std `aes-gcm` backend |
//! | `ring` | no | `envelope::Ring`: the `ring` backend (std only), several times faster on x86-64 |
//! | `serde` | no | `Serialize`/`Deserialize` for [`record::ImageRecord`] |
//! | `json` | no | `ImageRecord::from_json` / `to_json` with precise error kinds (serde_json, alloc only); implies `serde` |
//!
//! Items that need a feature are marked with it in these docs (docs.rs builds them with every
//! feature). A local `cargo doc -p pixstore-proto` builds the default features only, so the
//! `ring`, `serde` and `json` items are absent there: use `cargo doc -p pixstore-proto
//! --all-features`.
//!
//! The crate is `#![no_std]`; `no-std-check/` in the repository proves that it links without
//! `std` (with `default-features = false, features = ["alloc", "rustcrypto", "serde", "json"]`).
//!
//! ## Example: an endpoint answering one request
//!
//! ```
//! # #[cfg(feature = "rustcrypto")] {
//! use pixstore_proto::{envelope, format::Format, proof, serve, token::Token, wire};
//!
//! // Backend side: store an image (key and iv come from your CSPRNG; fixed here).
//! let (key, iv) = ([7u8; 32], [9u8; 12]);
//! let aead = envelope::DefaultAead::default();
//! let sealed = envelope::seal(&aead, &key, &iv, Format::Png, b"\x89PNG\r\n\x1a\n...")?;
//! let version = serve::StoredVersion {
//!     token: Token::new(1_732_752_000_000)?,
//!     meta: envelope::Meta { key, iv, tag: sealed.tag },
//!     ciphertext: sealed.ciphertext.as_slice(),
//! };
//!
//! // Mint the proof for the record the app will receive.
//! let mut ring = proof::Keyring::new();
//! ring.insert(1, [42u8; 32].to_vec())?;
//! let window = proof::Window::from_config(20_000)?;
//! let now_ms = 1_732_752_001_000;
//! let text = proof::mint(&ring, "avatars:abc", now_ms, window)?;
//!
//! // A request arrives with that proof and no token: the answer is Updated.
//! let verifier = proof::Verifier::new(&ring, window);
//! let request = serve::Request { id: serve::RequestId::Text("avatars:abc"), proof: Some(&text), client_token: None };
//! let answer = serve::respond(&request, &verifier, now_ms, |_id| Ok::<_, ()>(Some(version)));
//! let payload = answer.payload();
//! assert_eq!(payload.state(), wire::State::Updated);
//! let mut body = Vec::new();
//! payload.encode(&mut body);
//!
//! // Client side: decode and open.
//! let decoded = wire::PayloadRef::decode(&body)?;
//! let meta = decoded.meta().expect("Updated carries meta");
//! let image = envelope::open(&aead, &meta.key, &meta.iv, &meta.tag, decoded.ciphertext().unwrap_or_default())?;
//! assert_eq!(image.format(), Format::Png);
//! assert_eq!(image.format().mime(), "image/png");
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![no_std]
// docs.rs passes `--cfg docsrs`: mark each feature-gated item with its feature (`doc_cfg` now
// also derives the marks from `#[cfg]`; `doc_auto_cfg` was folded into it).
#![cfg_attr(docsrs, feature(doc_cfg))]
// `alloc` is required, so marking every module with it would only add noise.
#![cfg_attr(docsrs, doc(auto_cfg(hide(feature = "alloc"))))]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic))]

// Every module allocates (owned payloads, records, proof text). Without `alloc` the build stops
// here, with one error that names the feature, instead of dozens from inside the modules.
#[cfg(not(feature = "alloc"))]
compile_error!(
    "pixstore-proto needs the `alloc` feature: enable `std` (the default) or, for no_std, \
     `default-features = false, features = [\"alloc\", \"rustcrypto\"]`"
);

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "alloc")]
pub mod client;
#[cfg(feature = "alloc")]
pub mod envelope;
#[cfg(feature = "alloc")]
pub mod format;
#[cfg(feature = "alloc")]
pub mod http;
#[cfg(feature = "alloc")]
pub mod id;
#[cfg(feature = "alloc")]
pub mod proof;
#[cfg(feature = "alloc")]
pub mod record;
#[cfg(feature = "alloc")]
pub mod serve;
#[cfg(feature = "alloc")]
pub mod token;
#[cfg(feature = "alloc")]
pub mod wire;

/// The version of the specification this crate implements (*Pixstore Protocol, version 1*,
/// `spec/pixstore.md` in this package).
pub const SPEC_VERSION: &str = "1";
