//! Key-encryption keys (KEKs): the keyring under which every stored version's AES key, IV and
//! tag are sealed at rest (spec §12.6), so that whoever reads the store (a bucket, a backup of
//! `images/`) reads ciphertext only.
//!
//! The keyring is JSON, owner-only (0600), like the proof keys (`crate::keys`), but kept apart
//! from them: proof keys rotate and are dropped after [`crate::keys::KEEP_KEYS`], while a KEK
//! must stay as long as one stored version is sealed under it.
//!
//! ```json
//! { "current": 2, "highestKid": 2, "keys": [ { "kid": 1, "secret": "<base64url, 32 bytes>" }, { "kid": 2, "secret": "..." } ] }
//! ```
//!
//! New versions are sealed under `current`; every key of the file opens what it sealed.
//! `pixstore-server kek rotate` adds a key and makes it current, `pixstore-server rewrap` moves
//! every stored version to the current key (compare-and-swap, safe beside running writers);
//! a key that no version uses any more can then be removed from the file by hand.
//!
//! **Why AES-256-GCM and not AES key wrap (RFC 3394/5649).** The sealed value is 60 bytes (key,
//! IV and tag of the image's own envelope). GCM binds associated data: the stored header's
//! layout version, KEK id and token, and the image id, so a sealed header moved to another id, or
//! given another token, fails to open instead of serving one image's key for another. Key wrap
//! has no associated data and would need a new dependency; GCM is `ring`'s, already compiled for
//! TLS and the envelope. The price is a random 96-bit nonce per seal: under one KEK at most 2^32
//! seals keep the collision chance within NIST SP 800-38D's bound, so rotate the KEK well before
//! four billion writes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, Tag, UnboundKey, AES_256_GCM};
use serde::{Deserialize, Serialize};

/// Length of a KEK (AES-256).
pub const KEK_LEN: usize = 32;
/// Length of the random nonce of one seal.
pub const NONCE_LEN: usize = 12;
/// Length of the GCM tag of one seal.
pub const TAG_LEN: usize = 16;

/// Why a KEK keyring could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KekError {
    /// Reading or writing the file failed.
    #[error("key-encryption key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a valid KEK keyring.
    #[error("key-encryption key file {path} is not valid: {message}. Fix it or restore it from a backup: the images sealed under its keys cannot be served without them")]
    Invalid {
        /// The file (or `PIXSTORE_KEKS`).
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The KEK file is missing although keys are needed or were issued.
    #[error("key-encryption key file {path} is missing, but {why}")]
    Missing {
        /// The file.
        path: PathBuf,
        /// Why it is needed, and what to do.
        why: String,
    },
    /// `kek init` found a KEK file.
    #[error("key-encryption key file {path} already exists: `kek init` creates only a first key (use `kek rotate` to add one)")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The KEK file can be read by group or others.
    #[error("key-encryption key file {path} is readable by group or others (mode {mode:o}): run `chmod 600 {path}`, or pass --allow-insecure-key-file to accept it")]
    Insecure {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// Why a sealed header did not open. Deliberately without detail beyond the key id (as ENV-5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnwrapError {
    /// The header names a KEK the keyring does not hold.
    #[error("the stored version is sealed under key-encryption key {0}, which this server does not hold: add it to the KEK file (or PIXSTORE_KEKS) of every instance")]
    UnknownKek(u32),
    /// The GCM tag did not verify: wrong key, or the stored header was altered or moved.
    #[error("the stored version's sealed header does not authenticate under key-encryption key {0}: the stored object was altered, or moved from another id")]
    Authentication(u32),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KekFile {
    current: u32,
    #[serde(default)]
    highest_kid: u32,
    keys: Vec<KekEntry>,
}

impl KekFile {
    fn highest(&self) -> u32 {
        self.keys.iter().map(|k| k.kid).max().unwrap_or(0).max(self.highest_kid)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KekEntry {
    kid: u32,
    secret: String,
}

/// A loaded KEK keyring: the prepared AES-256-GCM keys by id and the current one.
pub struct KekRing {
    current: u32,
    keys: BTreeMap<u32, LessSafeKey>,
}

impl std::fmt::Debug for KekRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KekRing").field("current", &self.current).field("kids", &self.keys.keys()).finish()
    }
}

impl KekRing {
    /// A keyring of raw keys (tests, embedders that hold keys elsewhere). `current` must be one of
    /// them.
    pub fn from_keys(current: u32, keys: &[(u32, [u8; KEK_LEN])]) -> Result<KekRing, String> {
        let mut map = BTreeMap::new();
        for (kid, secret) in keys {
            let key = UnboundKey::new(&AES_256_GCM, secret).map_err(|_| format!("key {kid} is not an AES-256 key"))?;
            if map.insert(*kid, LessSafeKey::new(key)).is_some() {
                return Err(format!("key {kid} appears twice"));
            }
        }
        if !map.contains_key(&current) {
            return Err(format!("current key {current} is not in the keyring"));
        }
        Ok(KekRing { current, keys: map })
    }

    /// The KEK new versions are sealed under.
    pub fn current_kid(&self) -> u32 {
        self.current
    }

    /// Whether the keyring holds `kid`.
    pub fn has(&self, kid: u32) -> bool {
        self.keys.contains_key(&kid)
    }

    /// Seals `buf` in place under the current KEK with a fresh random nonce; returns the KEK id,
    /// the nonce and the tag.
    pub fn seal(&self, aad: &[u8], buf: &mut [u8]) -> Result<(u32, [u8; NONCE_LEN], [u8; TAG_LEN]), std::io::Error> {
        let key = self.keys.get(&self.current).ok_or_else(|| std::io::Error::other("no current KEK"))?;
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(std::io::Error::other)?;
        let tag = key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), buf)
            .map_err(|_| std::io::Error::other("AES-GCM refused to seal"))?;
        let tag: [u8; TAG_LEN] = tag.as_ref().try_into().map_err(|_| std::io::Error::other("GCM tag length"))?;
        Ok((self.current, nonce, tag))
    }

    /// Opens `buf` in place, sealed under `kid`. On failure `buf` is zeroed.
    pub fn open(
        &self,
        kid: u32,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        tag: [u8; TAG_LEN],
        buf: &mut [u8],
    ) -> Result<(), UnwrapError> {
        let key = self.keys.get(&kid).ok_or(UnwrapError::UnknownKek(kid))?;
        let opened = key.open_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            Tag::from(tag),
            buf,
            0..,
        );
        if opened.is_err() {
            buf.fill(0);
            return Err(UnwrapError::Authentication(kid));
        }
        Ok(())
    }
}

/// Where the KEK keyring comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KekSource {
    /// A KEK file (re-read when a version names a KEK this process does not hold yet).
    File(PathBuf),
    /// The file's JSON given directly (`PIXSTORE_KEKS`, `keks`): nothing is written; rotation is
    /// the operator's (deploy a value with the new key on every instance, then make it current).
    Inline(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KekError + '_ {
    move |source| KekError::Io { path: path.into(), source }
}

fn invalid(path: &Path, message: impl ToString) -> KekError {
    KekError::Invalid { path: path.into(), message: message.to_string() }
}

fn to_ring(path: &Path, file: &KekFile) -> Result<KekRing, KekError> {
    let mut keys = Vec::with_capacity(file.keys.len());
    for k in &file.keys {
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&k.secret)
            .map_err(|_| invalid(path, format!("key {} is not unpadded base64url", k.kid)))?;
        let secret: [u8; KEK_LEN] =
            secret.try_into().map_err(|_| invalid(path, format!("key {} is not 32 bytes", k.kid)))?;
        keys.push((k.kid, secret));
    }
    KekRing::from_keys(file.current, &keys).map_err(|m| invalid(path, m))
}

fn read(path: &Path, allow_insecure: bool) -> Result<Option<KekFile>, KekError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            if let Some(mode) = crate::keys::insecure_mode(path).map_err(io(path))? {
                if !allow_insecure {
                    return Err(KekError::Insecure { path: path.into(), mode });
                }
            }
            serde_json::from_slice(&bytes).map(Some).map_err(|e| invalid(path, e))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

fn write(path: &Path, file: &KekFile, create_only: bool) -> Result<(), KekError> {
    let text = serde_json::to_vec_pretty(file).map_err(|e| invalid(path, e))?;
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let written = if create_only { pixstore_fs::write_new(path, &text) } else { pixstore_fs::write(path, &text) };
    written.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            KekError::Exists { path: path.into() }
        } else {
            KekError::Io { path: path.into(), source: e.into_io() }
        }
    })
}

fn new_entry(kid: u32) -> Result<KekEntry, std::io::Error> {
    let secret = crate::keys::random_secret()?;
    Ok(KekEntry { kid, secret: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret) })
}

impl KekSource {
    /// Loads the keyring; `Ok(None)` when the file does not exist.
    pub fn load(&self, allow_insecure: bool) -> Result<Option<KekRing>, KekError> {
        match self {
            KekSource::File(path) => read(path, allow_insecure)?.map(|f| to_ring(path, &f)).transpose(),
            KekSource::Inline(text) => {
                let origin = Path::new("PIXSTORE_KEKS");
                let file: KekFile = serde_json::from_str(text).map_err(|e| invalid(origin, e))?;
                to_ring(origin, &file).map(Some)
            }
        }
    }
}

/// The highest KEK id the data folder `data_dir` ever issued (0: none).
pub fn issued(data_dir: &Path) -> Result<u32, KekError> {
    crate::keys::issued_record(data_dir)
        .map(|i| i.highest_kek)
        .map_err(|e| invalid(&data_dir.join(crate::keys::ISSUED_FILE), e))
}

fn record(data_dir: Option<&Path>, kid: u32) -> Result<(), KekError> {
    let Some(d) = data_dir else { return Ok(()) };
    crate::keys::record_issued_kek(d, kid).map_err(|e| invalid(&d.join(crate::keys::ISSUED_FILE), e))
}

/// `kek init`: creates a KEK file with a first key (id above every KEK id `data_dir` issued).
/// Refuses if the file exists. Returns the new key id.
pub fn init(path: &Path, data_dir: Option<&Path>) -> Result<u32, KekError> {
    if path.exists() {
        return Err(KekError::Exists { path: path.into() });
    }
    let kid = match data_dir {
        Some(d) => issued(d)?.checked_add(1).ok_or_else(|| invalid(path, "key ids exhausted"))?,
        None => 1,
    };
    let file = KekFile { current: kid, highest_kid: kid, keys: vec![new_entry(kid).map_err(io(path))?] };
    write(path, &file, true)?;
    record(data_dir, kid)?;
    tracing::info!(path = %path.display(), kid, "generated a key-encryption key");
    Ok(kid)
}

/// `kek rotate`: adds a key (id above every one issued) and makes it current; older keys stay
/// (they open what they sealed until `rewrap` moved it). Returns the new key id. Running servers
/// read the file again when they meet a version sealed under a key they do not hold.
pub fn rotate(path: &Path, data_dir: Option<&Path>, allow_insecure: bool) -> Result<u32, KekError> {
    let mut file = read(path, allow_insecure)?.ok_or_else(|| KekError::Missing {
        path: path.into(),
        why: "`kek rotate` needs the existing keyring (`kek init` creates one)".into(),
    })?;
    let recorded = match data_dir {
        Some(d) => issued(d)?,
        None => 0,
    };
    let kid = file.highest().max(recorded).checked_add(1).ok_or_else(|| invalid(path, "key ids exhausted"))?;
    file.keys.push(new_entry(kid).map_err(io(path))?);
    file.current = kid;
    file.highest_kid = kid;
    to_ring(path, &file)?;
    write(path, &file, false)?;
    record(data_dir, kid)?;
    Ok(kid)
}

/// Creates a first KEK file in a new data folder (`serve`, `put` and the library do this, as they
/// do for proof keys). `Ok(None)` if another process created it at the same moment.
pub(crate) fn create_first(path: &Path, data_dir: &Path) -> Result<KekRing, KekError> {
    match init(path, Some(data_dir)) {
        Ok(_) | Err(KekError::Exists { .. }) => {}
        Err(e) => return Err(e),
    }
    read(path, false)?
        .map(|f| to_ring(path, &f))
        .transpose()?
        .ok_or_else(|| KekError::Missing { path: path.into(), why: "it vanished right after it was created".into() })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_refusals() {
        let ring = KekRing::from_keys(2, &[(1, [1; 32]), (2, [2; 32])]).unwrap();
        let mut buf = *b"sixty bytes of key, iv and tag .............................";
        let plain = buf;
        let (kid, nonce, tag) = ring.seal(b"aad", &mut buf).unwrap();
        assert_eq!(kid, 2);
        assert_ne!(buf, plain);
        let mut copy = buf;
        ring.open(kid, nonce, b"aad", tag, &mut copy).unwrap();
        assert_eq!(copy, plain);
        // Other associated data (another id or token): refused, and the buffer wiped.
        let mut copy = buf;
        assert_eq!(ring.open(kid, nonce, b"aae", tag, &mut copy), Err(UnwrapError::Authentication(2)));
        assert_eq!(copy, [0; 60]);
        // Another key id: the old key does not open what the new one sealed.
        let mut copy = buf;
        assert_eq!(ring.open(1, nonce, b"aad", tag, &mut copy), Err(UnwrapError::Authentication(1)));
        assert_eq!(ring.open(9, nonce, b"aad", tag, &mut buf), Err(UnwrapError::UnknownKek(9)));
        assert!(KekRing::from_keys(3, &[(1, [1; 32])]).is_err());
    }

    #[test]
    fn init_rotate_and_ids_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek.json");
        assert_eq!(init(&path, Some(dir.path())).unwrap(), 1);
        assert!(matches!(init(&path, Some(dir.path())), Err(KekError::Exists { .. })));
        assert_eq!(rotate(&path, Some(dir.path()), false).unwrap(), 2);
        let ring = KekSource::File(path.clone()).load(false).unwrap().unwrap();
        assert_eq!(ring.current_kid(), 2);
        assert!(ring.has(1) && ring.has(2));
        // A lost file started over gets an id above every one issued (a sealed header never
        // names a key it was not sealed under).
        std::fs::remove_file(&path).unwrap();
        assert_eq!(init(&path, Some(dir.path())).unwrap(), 3);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(KekSource::File(path.clone()).load(false), Err(KekError::Insecure { .. })));
        }
    }
}
