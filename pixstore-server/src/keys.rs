//! Proof keys (spec §8.4, PROOF-5): a keyring file shared by restarts and instances.
//!
//! The file is JSON, owner-only (0600), written atomically:
//!
//! ```json
//! { "signing": 2, "highestKid": 2, "keys": [ { "kid": 1, "secret": "<base64url, 32 bytes>" }, { "kid": 2, "secret": "..." } ] }
//! ```
//!
//! `highestKid` is the highest key id ever issued in this keyring, so a key id is never issued
//! twice (PROOF-5) even after older keys left the file. The data folder also records it in
//! `keys-issued` ([`ISSUED_FILE`]), so a deleted or lost key file is noticed.
//!
//! A first key is created without being asked only in a new data folder (no images, no key ever
//! issued): `serve`, `put` and the library do that. Anywhere else a missing key file is an error
//! that says how to restore it, and `pixstore-server keys init` creates a new first key on
//! purpose (with a key id above every one issued before). `keys rotate` adds a key and makes it
//! the signing key; older keys keep verifying until removed. A key file that group or others can
//! read is refused unless `allowInsecureKeyFile` says otherwise.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use proto::proof::Keyring;
use serde::{Deserialize, Serialize};

/// How many keys `rotate` keeps (the new one and the previous ones still verifying).
pub const KEEP_KEYS: usize = 3;

/// The data folder's record of the highest key id ever issued there (JSON `{"highestKid": N}`).
pub const ISSUED_FILE: &str = "keys-issued";

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
    #[error("proof key file {path} is not valid: {message}. Fix it or restore it from a backup; `pixstore-server keys init` after moving it away starts over (outstanding proofs then stop verifying)")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The key file is missing in a data folder that holds images or has held keys: it is
    /// never re-created silently (every outstanding proof would die, PROOF-5).
    #[error("proof key file {path} is missing, but {why}. Restore the file from a backup (outstanding proofs keep verifying), or run `pixstore-server keys init` to start with a new key (every outstanding proof then fails)")]
    Missing {
        /// The file.
        path: PathBuf,
        /// What shows that keys existed.
        why: String,
    },
    /// `keys init` found a key file.
    #[error(
        "proof key file {path} already exists: `keys init` creates only a first key (use `keys rotate` to add one)"
    )]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The key file can be read by group or others.
    #[error("proof key file {path} is readable by group or others (mode {mode:o}): run `chmod 600 {path}`, or pass --allow-insecure-key-file (allowInsecureKeyFile = true) to accept it")]
    Insecure {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KeyFile {
    signing: u32,
    /// Absent in files written before it existed: then the highest kid in the file.
    #[serde(default)]
    highest_kid: u32,
    keys: Vec<KeyEntry>,
}

impl KeyFile {
    fn highest(&self) -> u32 {
        self.keys.iter().map(|k| k.kid).max().unwrap_or(0).max(self.highest_kid)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    kid: u32,
    secret: String,
}

/// The data folder's record of issued key ids ([`ISSUED_FILE`]).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Issued {
    /// The highest proof key id ever issued.
    pub(crate) highest_kid: u32,
    /// The highest key-encryption key id ever issued (`crate::kek`); absent in older records.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) highest_kek: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// How a key file is opened.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPolicy {
    /// The data folder: a first key may be created without asking only when it is new (holds
    /// no image and has never held a key). `None`: never create.
    pub data_dir: Option<PathBuf>,
    /// Accept a key file that group or others can read.
    pub allow_insecure: bool,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io { path: path.into(), source }
}

fn invalid(path: &Path, message: impl ToString) -> KeyError {
    KeyError::Invalid { path: path.into(), message: message.to_string() }
}

/// 32 random bytes (a new proof key or key-encryption key).
pub(crate) fn random_secret() -> Result<[u8; 32], std::io::Error> {
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

/// The permission bits of a secret file that group or others can read (`None`: owner only, or
/// not a Unix system).
pub(crate) fn insecure_mode(path: &Path) -> std::io::Result<Option<u32>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Ok(Some(mode));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(None)
}

fn check_mode(path: &Path, allow_insecure: bool) -> Result<(), KeyError> {
    match insecure_mode(path).map_err(io(path))? {
        Some(mode) if !allow_insecure => Err(KeyError::Insecure { path: path.into(), mode }),
        _ => Ok(()),
    }
}

fn read(path: &Path, allow_insecure: bool) -> Result<Option<KeyFile>, KeyError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            check_mode(path, allow_insecure)?;
            serde_json::from_slice(&bytes).map(Some).map_err(|e| invalid(path, e))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

/// Writes `bytes` atomically and durably (`pixstore-fs`: an exclusively created temporary file
/// beside `path`, never a file or link someone else prepared, mode 0600, fsynced, renamed, the
/// folder fsynced). With `create_only`, only if `path` does not exist (`Ok(false)` if it does:
/// two processes generating the first key at once agree on the winner's).
fn write_bytes(path: &Path, bytes: &[u8], create_only: bool) -> Result<bool, KeyError> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    match pixstore_fs::AtomicWrite::new().replace(!create_only).write(path, bytes) {
        Ok(()) => Ok(true),
        Err(e) if create_only && e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => {
            let at = e.path().to_path_buf();
            Err(io(&at)(e.into_io()))
        }
    }
}

fn write_with(path: &Path, file: &KeyFile, create_only: bool) -> Result<bool, KeyError> {
    let text = serde_json::to_vec_pretty(file).map_err(|e| invalid(path, e))?;
    write_bytes(path, &text, create_only)
}

fn issued(data_dir: &Path) -> Result<Issued, KeyError> {
    let path = data_dir.join(ISSUED_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| invalid(&path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Issued::default()),
        Err(e) => Err(io(&path)(e)),
    }
}

/// The data folder's record of issued key ids.
pub(crate) fn issued_record(data_dir: &Path) -> Result<Issued, KeyError> {
    issued(data_dir)
}

/// Raises the data folder's record with `raise` (which says whether it changed anything).
fn update_issued(data_dir: &Path, raise: impl FnOnce(&mut Issued) -> bool) -> Result<(), KeyError> {
    let mut record = issued(data_dir)?;
    if !raise(&mut record) {
        return Ok(());
    }
    let path = data_dir.join(ISSUED_FILE);
    let text = serde_json::to_vec(&record).map_err(|e| invalid(&path, e))?;
    write_bytes(&path, &text, false).map(|_| ())
}

/// Records `kid` as issued in the data folder (never lowers the record).
fn record_issued(data_dir: &Path, kid: u32) -> Result<(), KeyError> {
    update_issued(data_dir, |r| {
        let raise = r.highest_kid < kid;
        r.highest_kid = r.highest_kid.max(kid);
        raise
    })
}

/// Records the key-encryption key `kid` as issued in the data folder (never lowers the record).
pub(crate) fn record_issued_kek(data_dir: &Path, kid: u32) -> Result<(), KeyError> {
    update_issued(data_dir, |r| {
        let raise = r.highest_kek < kid;
        r.highest_kek = r.highest_kek.max(kid);
        raise
    })
}

/// Whether the data folder holds an image (any file under `images/` but the lock stripes).
pub(crate) fn holds_images(data_dir: &Path) -> bool {
    let mut stack = vec![data_dir.join("images")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                if entry.file_name() != crate::store::LOCKS_DIR {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "pxs") {
                return true;
            }
        }
    }
    false
}

/// Why a first key may not be created in `data_dir` without being asked, if it may not.
fn not_new(data_dir: &Path) -> Result<Option<String>, KeyError> {
    let issued = issued(data_dir)?;
    if issued.highest_kid > 0 {
        return Ok(Some(format!(
            "{} has held proof keys (key ids up to {}, recorded in {ISSUED_FILE})",
            data_dir.display(),
            issued.highest_kid
        )));
    }
    if holds_images(data_dir) {
        return Ok(Some(format!("{} holds images whose records carry proofs of the lost keys", data_dir.display())));
    }
    Ok(None)
}

fn new_file(kid: u32) -> Result<KeyFile, std::io::Error> {
    let secret = random_secret()?;
    Ok(KeyFile {
        signing: kid,
        highest_kid: kid,
        keys: vec![KeyEntry { kid, secret: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret) }],
    })
}

/// Creates the first key file (`kid` above every kid the data folder issued before). `Ok(None)`
/// if another process created one at the same moment.
fn create_first(path: &Path, data_dir: Option<&Path>) -> Result<Option<Keyring>, KeyError> {
    let kid = match data_dir {
        Some(d) => issued(d)?.highest_kid.checked_add(1).ok_or_else(|| invalid(path, "key ids exhausted"))?,
        None => 1,
    };
    let file = new_file(kid).map_err(io(path))?;
    if !write_with(path, &file, true)? {
        return Ok(None);
    }
    if let Some(d) = data_dir {
        record_issued(d, kid)?;
    }
    tracing::info!(path = %path.display(), kid, "generated a proof key");
    to_keyring(path, &file).map(Some)
}

/// Loads the keyring from `path`. When the file does not exist, a first key is created only if
/// `policy.data_dir` is a new data folder; otherwise [`KeyError::Missing`]. A file that exists
/// but is invalid, or readable by others, is an error, never silently replaced.
pub fn open(path: &Path, policy: &KeyPolicy) -> Result<Keyring, KeyError> {
    if let Some(file) = read(path, policy.allow_insecure)? {
        if let Some(d) = policy.data_dir.as_deref() {
            // Folders from before the record existed get it now (only ever raised).
            if let Err(e) = record_issued(d, file.highest()) {
                tracing::warn!(error = %e, "cannot record the highest key id in the data folder");
            }
        }
        return to_keyring(path, &file);
    }
    let Some(data_dir) = policy.data_dir.as_deref() else {
        return Err(KeyError::Missing { path: path.into(), why: "this command never creates keys".into() });
    };
    if let Some(why) = not_new(data_dir)? {
        return Err(KeyError::Missing { path: path.into(), why });
    }
    match create_first(path, Some(data_dir))? {
        Some(ring) => Ok(ring),
        // Another process generated the first key at the same time: use its file.
        None => load(path, policy.allow_insecure),
    }
}

/// `keys init`: creates a first key in a data folder that has none, with a key id above every
/// one issued there before. Refuses if the key file exists. Returns the new key id.
pub fn init(path: &Path, data_dir: &Path) -> Result<u32, KeyError> {
    if path.exists() {
        return Err(KeyError::Exists { path: path.into() });
    }
    create_first(path, Some(data_dir))?.ok_or_else(|| KeyError::Exists { path: path.into() })?;
    let file = read(path, true)?.ok_or_else(|| invalid(path, "the file vanished"))?;
    Ok(file.signing)
}

/// Where the keyring comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A key file (created with a fresh key only in a new data folder; re-read after `keys
    /// rotate`).
    File(PathBuf),
    /// The key file's JSON given directly (`PIXSTORE_PROOF_KEYS`, `proofKeys`): nothing is
    /// written, and rotation is the operator's (deploy a new value).
    Inline(String),
}

impl KeySource {
    /// Loads the keyring (see [`open`] for a key file).
    pub fn load(&self, policy: &KeyPolicy) -> Result<Keyring, KeyError> {
        match self {
            KeySource::File(path) => open(path, policy),
            KeySource::Inline(text) => {
                let origin = Path::new("PIXSTORE_PROOF_KEYS");
                let file: KeyFile = serde_json::from_str(text).map_err(|e| invalid(origin, e))?;
                to_keyring(origin, &file)
            }
        }
    }
}

/// Loads an existing keyring (no generation).
pub fn load(path: &Path, allow_insecure: bool) -> Result<Keyring, KeyError> {
    let file = read(path, allow_insecure)?
        .ok_or_else(|| KeyError::Missing { path: path.into(), why: "a running server had loaded it".into() })?;
    to_keyring(path, &file)
}

/// Adds a new key with a key id above every one ever issued in this keyring (and recorded in
/// `data_dir`), and makes it the signing key; keeps the newest [`KEEP_KEYS`] keys. Returns the
/// new key id. Running servers pick it up within a second, and on restart. A missing key file is
/// [`KeyError::Missing`] (never created here).
pub fn rotate(path: &Path, data_dir: Option<&Path>, allow_insecure: bool) -> Result<u32, KeyError> {
    let mut file = read(path, allow_insecure)?.ok_or_else(|| KeyError::Missing {
        path: path.into(),
        why: "`keys rotate` needs the existing keyring".into(),
    })?;
    let recorded = match data_dir {
        Some(d) => issued(d)?.highest_kid,
        None => 0,
    };
    let kid = file.highest().max(recorded).checked_add(1).ok_or_else(|| invalid(path, "key ids exhausted"))?;
    let secret = random_secret().map_err(io(path))?;
    file.keys.push(KeyEntry { kid, secret: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret) });
    file.signing = kid;
    file.highest_kid = kid;
    file.keys.sort_by_key(|k| std::cmp::Reverse(k.kid));
    file.keys.truncate(KEEP_KEYS);
    to_keyring(path, &file)?;
    write_with(path, &file, false)?;
    if let Some(d) = data_dir {
        record_issued(d, kid)?;
    }
    Ok(kid)
}
