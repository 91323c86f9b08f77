//! Proof keys (spec §8.4, PROOF-5): a keyring file shared by restarts and instances.
//!
//! The file is JSON, owner-only (0600), written atomically:
//!
//! ```json
//! { "signing": 2, "keys": [ { "kid": 1, "secret": "<base64url, 32 bytes>" }, { "kid": 2, "secret": "..." } ] }
//! ```
//!
//! When no file exists, the server generates one key and persists it, so outstanding proofs stay
//! valid across restarts (3.2.1 drew a new salt in every process). `pixstore-server keys rotate`
//! adds a key and makes it the signing key; older keys keep verifying until removed.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use proto::proof::Keyring;
use serde::{Deserialize, Serialize};

/// How many keys `rotate` keeps (the new one and the previous ones still verifying).
pub const KEEP_KEYS: usize = 3;

/// Why the keyring could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Reading or writing the file failed.
    #[error("proof key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a valid keyring.
    #[error("proof key file {path} is not valid: {message}. Fix it, or move it away to generate a new key (outstanding proofs then stop verifying)")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    signing: u32,
    keys: Vec<KeyEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    kid: u32,
    secret: String,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io { path: path.into(), source }
}

fn invalid(path: &Path, message: impl ToString) -> KeyError {
    KeyError::Invalid { path: path.into(), message: message.to_string() }
}

fn random_secret() -> Result<[u8; 32], std::io::Error> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(std::io::Error::other)?;
    Ok(key)
}

fn to_keyring(path: &Path, file: &KeyFile) -> Result<Keyring, KeyError> {
    let mut ring = Keyring::new();
    for k in &file.keys {
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&k.secret)
            .map_err(|_| invalid(path, format!("key {} is not unpadded base64url", k.kid)))?;
        ring.insert(k.kid, secret).map_err(|e| invalid(path, format!("key {}: {e}", k.kid)))?;
    }
    ring.set_signing(file.signing)
        .map_err(|_| invalid(path, format!("signing key {} is not in the file", file.signing)))?;
    Ok(ring)
}

fn read(path: &Path) -> Result<Option<KeyFile>, KeyError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| invalid(path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

/// Writes the file atomically with mode 0600 (temporary file, fsync, rename, fsync of the folder).
fn write(path: &Path, file: &KeyFile) -> Result<(), KeyError> {
    write_with(path, file, false).map(|_| ())
}

/// Writes the key file through a new, exclusively created temporary file (never a file or link
/// someone else prepared). With `create_only`, an existing key file is kept and `Ok(false)` is
/// returned: two processes generating the first key at once agree on the winner's.
fn write_with(path: &Path, file: &KeyFile, create_only: bool) -> Result<bool, KeyError> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| io(path)(std::io::Error::other(e)))?;
    let tmp = dir.join(format!(".proof-keys.{}.tmp", u64::from_le_bytes(nonce)));
    let text = serde_json::to_vec_pretty(file).map_err(|e| invalid(path, e))?;
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp).map_err(io(&tmp))?;
        f.write_all(&text).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    let placed = if create_only {
        // A hard link fails if the key file exists; the temporary name goes either way.
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(io(path)(e)),
        }
    } else {
        std::fs::rename(&tmp, path).map_err(io(path))?;
        true
    };
    crate::store::sync_dir(dir).map_err(io(dir))?;
    Ok(placed)
}

/// Loads the keyring from `path`, generating and persisting a first key when the file does not
/// exist. A file that exists but is invalid is an error, never silently replaced.
pub fn load_or_create(path: &Path) -> Result<Keyring, KeyError> {
    if let Some(file) = read(path)? {
        return to_keyring(path, &file);
    }
    let secret = random_secret().map_err(io(path))?;
    let file = KeyFile {
        signing: 1,
        keys: vec![KeyEntry { kid: 1, secret: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret) }],
    };
    if !write_with(path, &file, true)? {
        // Another process generated the first key at the same time: use its file.
        let theirs = read(path)?.ok_or_else(|| invalid(path, "the file vanished"))?;
        return to_keyring(path, &theirs);
    }
    tracing::info!(path = %path.display(), kid = 1, "generated a proof key");
    to_keyring(path, &file)
}

/// Where the keyring comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A key file (created with a fresh key when missing; re-read after `keys rotate`).
    File(PathBuf),
    /// The key file's JSON given directly (`PIXSTORE_PROOF_KEYS`, `proofKeys`): nothing is
    /// written, and rotation is the operator's (deploy a new value).
    Inline(String),
}

impl KeySource {
    /// Loads the keyring.
    pub fn load(&self) -> Result<Keyring, KeyError> {
        match self {
            KeySource::File(path) => load_or_create(path),
            KeySource::Inline(text) => {
                let origin = Path::new("PIXSTORE_PROOF_KEYS");
                let file: KeyFile = serde_json::from_str(text).map_err(|e| invalid(origin, e))?;
                to_keyring(origin, &file)
            }
        }
    }
}

/// Loads an existing keyring (no generation).
pub fn load(path: &Path) -> Result<Keyring, KeyError> {
    let file = read(path)?.ok_or_else(|| invalid(path, "the file does not exist"))?;
    to_keyring(path, &file)
}

/// Adds a new key with the next key id and makes it the signing key; keeps the newest
/// [`KEEP_KEYS`] keys. Returns the new key id. Running servers pick it up when they meet a proof
/// with a key id they do not know, and on restart.
pub fn rotate(path: &Path) -> Result<u32, KeyError> {
    let mut file = match read(path)? {
        Some(f) => f,
        None => {
            load_or_create(path)?;
            read(path)?.ok_or_else(|| invalid(path, "the file vanished"))?
        }
    };
    let kid = file
        .keys
        .iter()
        .map(|k| k.kid)
        .max()
        .unwrap_or(0)
        .checked_add(1)
        .ok_or_else(|| invalid(path, "key ids exhausted"))?;
    let secret = random_secret().map_err(io(path))?;
    file.keys.push(KeyEntry { kid, secret: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret) });
    file.signing = kid;
    file.keys.sort_by_key(|k| std::cmp::Reverse(k.kid));
    file.keys.truncate(KEEP_KEYS);
    to_keyring(path, &file)?;
    write(path, &file)?;
    Ok(kid)
}
