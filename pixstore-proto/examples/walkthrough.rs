//! One image through the whole protocol, printed step by step: store (seal), record (mint a
//! proof), request (check order, Success vs Updated), and client (decode, authenticate, decrypt).
//!
//! `cargo run -p pixstore-proto --example walkthrough [IMAGE_FILE]`
//!
//! Key, IV and the proof key are fixed here so that the output is reproducible; a real backend
//! draws them from a CSPRNG (spec ENV-3, PROOF-5).
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::error::Error;

use pixstore_proto::client;
use pixstore_proto::envelope::{self, Meta};
use pixstore_proto::format::Format;
use pixstore_proto::proof::{self, Keyring, Verifier, Window};
use pixstore_proto::record::ImageRecord;
use pixstore_proto::serve::{self, Request, RequestId, StoredVersion};
use pixstore_proto::token::Token;
use pixstore_proto::wire::PayloadRef;

const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0, 0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d,
    0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

fn sniff(bytes: &[u8]) -> Format {
    match bytes {
        [0x89, b'P', b'N', b'G', ..] => Format::Png,
        [0xff, 0xd8, 0xff, ..] => Format::Jpg,
        [b'G', b'I', b'F', b'8', ..] => Format::Gif,
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Format::Webp,
        _ => Format::Png,
    }
}

fn hex_head(bytes: &[u8], n: usize) -> String {
    let shown: String = bytes.iter().take(n).map(|b| format!("{b:02x}")).collect();
    if bytes.len() > n {
        format!("{shown}... ({} bytes)", bytes.len())
    } else {
        shown
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let image = match std::env::args().nth(1) {
        Some(path) => std::fs::read(&path).map_err(|e| format!("cannot read {path}: {e}"))?,
        None => PNG_1X1.to_vec(),
    };
    let format = sniff(&image);
    let aead = envelope::DefaultAead::default();
    let now = 1_732_752_012_345;

    println!("1. Backend stores the image (spec §6): format {format} (byte {}), {} bytes", format.byte(), image.len());
    let (key, iv) = ([0x20; 32], [0xa0; 12]);
    let sealed = envelope::seal(&aead, &key, &iv, format, &image)?;
    let meta = Meta { key, iv, tag: sealed.tag };
    let token = Token::next(None, now)?;
    println!("   ciphertext {}\n   token {token}", hex_head(&sealed.ciphertext, 16));

    println!("\n2. Backend mints the record for the app (spec §7, §8): W = 20000 ms");
    let mut ring = Keyring::new();
    ring.insert(1, [0x5a; 32])?;
    let window = Window::default();
    let id = "avatars:Q2hhbmdlTWVQbGVhc2UwMQ";
    let record = ImageRecord { id: id.into(), token, meta, stateless_proof: proof::mint(&ring, id, now, window)? };
    println!("   {}", record.to_json());

    let stored = StoredVersion { token, meta, ciphertext: sealed.ciphertext.as_slice() };
    let verifier = Verifier::new(&ring, window);
    for (label, req) in [
        ("no proof", Request { id: RequestId::Text(id), proof: None, client_token: None }),
        (
            "proof for another id",
            Request {
                id: RequestId::Text(id),
                proof: Some(&proof::mint(&ring, "other", now, window)?),
                client_token: None,
            },
        ),
        (
            "record's token",
            Request { id: RequestId::Text(id), proof: Some(&record.stateless_proof), client_token: Some(token) },
        ),
        ("no token", Request { id: RequestId::Text(id), proof: Some(&record.stateless_proof), client_token: None }),
    ] {
        let answer = serve::respond(&req, &verifier, now + 1_000, |_| Ok::<_, ()>(Some(stored)));
        let mut body = Vec::new();
        answer.payload.encode(&mut body);
        println!("\n3. Request with {label} (spec §9): {} -> {}", answer.payload.state(), hex_head(&body, 24));
        let decoded = PayloadRef::decode(&body)?;
        match client::open_payload(&aead, &record, decoded) {
            Ok(f) => println!(
                "4. Client authenticated and decrypted it (spec §11): {} bytes of {}, token {}, cache {} ciphertext bytes (no key)",
                f.image.image().len(),
                f.image.format().mime(),
                f.token,
                f.ciphertext.len()
            ),
            Err(e) => println!("4. Client: {e}"),
        }
    }
    Ok(())
}
