//! # pixstore-proto
//!
//! The sans-IO core of the [Pixstore protocol, version 1](../spec/pixstore.md): everything a
//! backend, an endpoint or a client must agree on, with no clock, socket, file or random number
//! generator inside. Time, randomness and keys are arguments.
//!
//! | module | spec | what |
//! |---|---|---|
//! | [`id`] | §3 | image id grammar (`ID-1`) and `dir:` prefix sanitising |
//! | [`wire`] | §4 | the binary wire payload: [`wire::State`], zero-copy [`wire::PayloadRef`], owned [`wire::Payload`], decoder and encoder |
//! | [`token`] | §5 | image version tokens, the header grammar, the next-token rule |
//! | [`envelope`] | §6 | AES-256-GCM seal/open of `[format byte][image]` behind the [`envelope::Aead`] trait |
//! | [`format`] | §6 | the fixed format-byte registry and MIME types |
//! | [`record`] | §7 | `ImageRecord` and its JSON form |
//! | [`proof`] | §8 | stateless proof v1: minting and verifying with a [`proof::Keyring`] |
//! | [`serve`] | §9 | the endpoint decision (check order, Success vs Updated) used by every endpoint |
//! | [`http`] | §10 | the HTTP binding's request-target rules and response headers |
//! | [`client`] | §11 | the client's cache rules: hit test, payload handling, LRU arithmetic |
//!
//! ## Features
//!
//! | feature | default | what it enables |
//! |---|---|---|
//! | `std` | yes | `std` support in dependencies; implies `alloc` |
//! | `alloc` | via `std` | heap allocation (the crate needs it: owned payloads, records) |
//! | `rustcrypto` | yes | [`envelope::RustCrypto`]: the pure-Rust, no_std `aes-gcm` backend |
//! | `ring` | no | [`envelope::Ring`]: the `ring` backend (std only), several times faster on x86-64 (docs/benchmarks.md) |
//! | `serde` | no | `Serialize`/`Deserialize` for [`record::ImageRecord`] |
//! | `json` | no | [`record::ImageRecord::from_json`] with precise error kinds (serde_json, alloc only) |
//!
//! The crate is `#![no_std]`; `no-std-check/` in the repository proves that it links without
//! `std` (with `default-features = false, features = ["alloc", "rustcrypto", "serde", "json"]`).
//!
//! ## Example: an endpoint answering one request
//!
//! ```
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
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![no_std]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod client;
pub mod envelope;
pub mod format;
pub mod http;
pub mod id;
pub mod proof;
pub mod record;
pub mod serve;
pub mod token;
pub mod wire;

/// The version of the specification this crate implements (`spec/pixstore.md`).
pub const SPEC_VERSION: &str = "1";
