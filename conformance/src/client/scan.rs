//! The CLIENT-2 scan: does the client's cache hold a key, IV or tag of any version the suite
//! served? It reads every file under the cache folder (and the entries an adapter dumps, for a
//! cache that is not a folder) and looks for each secret raw and in the text forms a client
//! could store it in (lowercase and uppercase hex, standard and URL-safe base64, padded or not).
//!
//! A scan that finds nothing proves something only if it looked at the cache: [`Scan::holds`]
//! answers whether a given ciphertext is there, and the checks require that before they trust a
//! clean scan.

use std::path::Path;

use base64::Engine as _;

/// At most this much is read from a cache folder (a client that caches more than the suite
/// served has other problems; the scan says so instead of reading forever).
const MAX_BYTES: u64 = 512 << 20;

/// One secret of a served version: what it is, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    /// `key of pxc-3:a1 version 1732752003001`, for messages.
    pub label: String,
    /// The bytes (32, 12 or 16).
    pub bytes: Vec<u8>,
}

/// Where a secret was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The secret's label.
    pub secret: String,
    /// The encoding it was stored in (`raw`, `hex`, `base64`, ...).
    pub form: &'static str,
    /// The file (relative to the cache folder) or the dumped entry.
    pub place: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the {} ({}) in {}", self.secret, self.form, self.place)
    }
}

/// What the cache holds: each file or dumped entry, by name.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// `(place, bytes)`.
    pub items: Vec<(String, Vec<u8>)>,
    /// Why the scan is incomplete, if it is.
    pub truncated: Option<String>,
}

fn forms(secret: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let mut v = vec![
        ("raw", secret.to_vec()),
        ("hex", hex.clone().into_bytes()),
        ("HEX", hex.to_ascii_uppercase().into_bytes()),
        ("base64", STANDARD.encode(secret).into_bytes()),
        ("base64 without padding", STANDARD_NO_PAD.encode(secret).into_bytes()),
        ("base64url", URL_SAFE.encode(secret).into_bytes()),
        ("base64url without padding", URL_SAFE_NO_PAD.encode(secret).into_bytes()),
    ];
    // Forms that coincide (no padding needed) are searched once.
    v.dedup_by(|a, b| a.1 == b.1);
    v
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

impl Scan {
    /// Reads every regular file under `dir` (symlinks are not followed).
    pub fn folder(dir: &Path) -> Scan {
        let mut scan = Scan::default();
        let mut total = 0u64;
        let mut pending = vec![dir.to_path_buf()];
        while let Some(d) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else { continue };
            for e in entries.flatten() {
                let Ok(kind) = e.file_type() else { continue };
                let path = e.path();
                if kind.is_dir() {
                    pending.push(path);
                } else if kind.is_file() {
                    let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                    if total.saturating_add(len) > MAX_BYTES {
                        scan.truncated = Some(format!("the cache folder holds more than {MAX_BYTES} bytes"));
                        continue;
                    }
                    total = total.saturating_add(len);
                    if let Ok(bytes) = std::fs::read(&path) {
                        let name = path.strip_prefix(dir).unwrap_or(&path).display().to_string();
                        scan.items.push((name, bytes));
                    }
                }
            }
        }
        scan.items.sort_by(|a, b| a.0.cmp(&b.0));
        scan
    }

    /// Adds dumped entries (`dump`, spec Appendix C.4); hex that does not decode is kept as text.
    pub fn add_dump(&mut self, entries: &[super::adapter::DumpEntry]) {
        for e in entries {
            let bytes = decode_hex(&e.hex).unwrap_or_else(|| e.hex.clone().into_bytes());
            self.items.push((format!("dumped entry {:?}", e.id), bytes));
        }
    }

    /// Every place a secret occurs in.
    pub fn find(&self, secrets: &[Secret]) -> Vec<Finding> {
        let mut found = Vec::new();
        for s in secrets {
            for (form, needle) in forms(&s.bytes) {
                for (place, bytes) in &self.items {
                    if contains(bytes, &needle) {
                        found.push(Finding { secret: s.label.clone(), form, place: place.clone() });
                    }
                }
            }
        }
        found
    }

    /// Whether some file or entry holds `ciphertext` (the scan looked at the cache).
    pub fn holds(&self, ciphertext: &[u8]) -> bool {
        self.items.iter().any(|(_, b)| contains(b, ciphertext))
    }

    /// How many bytes were read.
    pub fn bytes(&self) -> usize {
        self.items.iter().map(|(_, b)| b.len()).sum()
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len() / 2).map(|i| s.get(2 * i..2 * i + 2).and_then(|b| u8::from_str_radix(b, 16).ok())).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    // CLIENT-2: the scan finds a key however it is written, and nothing when it is absent.
    #[test]
    fn finds_every_form() {
        let key: Vec<u8> = (0u8..32).map(|i| i.wrapping_mul(37).wrapping_add(11)).collect();
        let secret = Secret { label: "key".into(), bytes: key.clone() };
        for (form, needle) in forms(&key) {
            let mut file = b"prefix ".to_vec();
            file.extend_from_slice(&needle);
            file.extend_from_slice(b" suffix");
            let scan = Scan { items: vec![("f".into(), file)], truncated: None };
            let found = scan.find(std::slice::from_ref(&secret));
            assert!(found.iter().any(|f| f.form == form), "{form}: {found:?}");
        }
        let scan = Scan { items: vec![("f".into(), key[..31].to_vec())], truncated: None };
        assert!(scan.find(&[secret]).is_empty());
    }

    #[test]
    fn reads_nested_folders_and_dumps() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/entry"), b"xxCIPHERxx").unwrap();
        let mut scan = Scan::folder(dir.path());
        assert!(scan.holds(b"CIPHER"));
        scan.add_dump(&[super::super::adapter::DumpEntry { id: "a".into(), hex: "00ff10".into() }]);
        assert!(scan.holds(&[0xff, 0x10]));
        assert_eq!(scan.bytes(), 13);
    }
}
