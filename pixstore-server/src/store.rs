//! Storage of image versions.
//!
//! A stored version is one buffer, in one of two layouts; its first bytes say which (so a reader
//! always knows what it holds, and a newer layout is refused as such, never misread):
//!
//! - **Layout 0, plain** (every version written before issue 13, and with `wrapKeys = false`):
//!   exactly the Updated wire payload that serves it (spec WIRE-3),
//!   `[0x01][token u64 LE][key][iv][tag][ciphertext]`. The image's AES key sits beside its
//!   ciphertext (spec §12.6).
//! - **Layout 1, wrapped** (the default for new data folders and for S3): key, iv and tag sealed
//!   under a key-encryption key ([`crate::kek`]), [`WRAPPED_HEADER_LEN`] = 104 bytes of header:
//!
//!   | bytes | field |
//!   |---|---|
//!   | 0..3 | magic `PXW` (`0x50 0x58 0x57`; `0x50` is no wire state, so layout 0 cannot start so) |
//!   | 3 | layout version, 1 |
//!   | 4..8 | KEK id, u32 LE |
//!   | 8..16 | token, u64 LE (tokens are no secret, spec §12.12; compare-and-swap and Success need it) |
//!   | 16..28 | the seal's random nonce |
//!   | 28..88 | key, iv and tag (60 bytes), AES-256-GCM under the KEK |
//!   | 88..104 | the seal's GCM tag |
//!   | 104.. | the image's ciphertext, as in the Updated payload |
//!
//!   The seal's associated data is bytes 0..16 and the image id: a header moved to another id
//!   or given another token does not open.
//!
//! Serving never re-encrypts and never copies the ciphertext: a Success response is one byte
//! and a slice of the stored buffer; an Updated response of layout 0 is the stored buffer itself,
//! of layout 1 a 61-byte Updated header built by unsealing 60 bytes, and the same slice. Token,
//! key, iv, tag and ciphertext can only change together (SERVE-3).
//!
//! [`Store`] is the interface a backend needs (load, create-if-absent, compare-and-swap replace,
//! delete, list), shaped so that an object store with conditional writes (S3 `If-None-Match` /
//! `If-Match`) implements it: [`FsStore`] is the embedded default, [`crate::s3::S3Store`] the
//! object store; [`StoreBackend`] is the one the configuration chose.

use std::fs::File;
use std::future::Future;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use proto::envelope::Meta;
use proto::token::Token;
use proto::wire::{Payload, PayloadRef, UPDATED_HEADER_LEN};

use crate::kek::{KekRing, UnwrapError};

/// The first three bytes of layout 1.
pub const WRAPPED_MAGIC: [u8; 3] = *b"PXW";
/// Layout 1's version byte (byte 3).
pub const WRAPPED_VERSION: u8 = 1;
/// Length of layout 1's header, before the ciphertext.
pub const WRAPPED_HEADER_LEN: usize = 104;
/// Key, iv and tag: what layout 1 seals.
const META_LEN: usize = 60;
/// The part of layout 1's header that is associated data of the seal (with the id).
const WRAPPED_AAD_LEN: usize = 16;

/// Which layout a stored version has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Layout {
    /// Layout 0: the Updated payload, key, iv and tag in plaintext.
    Plain,
    /// Layout 1: key, iv and tag sealed under the key-encryption key with this id.
    Wrapped {
        /// The KEK's id.
        kek: u32,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sealing {
    Plain(Meta),
    Wrapped { kek: u32, nonce: [u8; 12], tag: [u8; 16] },
}

/// One stored version of one image, as stored (see the module documentation for the layouts).
#[derive(Clone, PartialEq, Eq)]
pub struct StoredImage {
    token: Token,
    sealing: Sealing,
    bytes: Bytes,
}

impl std::fmt::Debug for StoredImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredImage")
            .field("token", &self.token.get())
            .field("layout", &self.layout())
            .field("len", &self.bytes.len())
            .finish()
    }
}

fn aad(header: &[u8], id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(WRAPPED_AAD_LEN + id.len());
    aad.extend_from_slice(header.get(..WRAPPED_AAD_LEN).unwrap_or_default());
    aad.extend_from_slice(id.as_bytes());
    aad
}

fn meta_bytes(meta: &Meta) -> [u8; META_LEN] {
    let mut out = [0u8; META_LEN];
    let (key, rest) = out.split_at_mut(32);
    let (iv, tag) = rest.split_at_mut(12);
    key.copy_from_slice(&meta.key);
    iv.copy_from_slice(&meta.iv);
    tag.copy_from_slice(&meta.tag);
    out
}

fn meta_of(bytes: &[u8; META_LEN]) -> Meta {
    let mut meta = Meta { key: [0; 32], iv: [0; 12], tag: [0; 16] };
    let (key, rest) = bytes.split_at(32);
    let (iv, tag) = rest.split_at(12);
    meta.key.copy_from_slice(key);
    meta.iv.copy_from_slice(iv);
    meta.tag.copy_from_slice(tag);
    meta
}

fn array<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// The token of a stored version from its first 16 bytes (or fewer for layout 0), without
/// reading or checking the rest: what a compare-and-swap compares.
pub fn stored_token(head: &[u8]) -> Result<Token, StoreError> {
    let raw = match head.first() {
        Some(1) => array::<8>(head, 1),
        Some(_) if head.starts_with(&WRAPPED_MAGIC) && head.get(3) == Some(&WRAPPED_VERSION) => array::<8>(head, 8),
        _ => return Err(unknown_layout(head)),
    };
    let raw = raw.ok_or_else(|| StoreError::Corrupt("stored version is truncated".into()))?;
    Token::new(u64::from_le_bytes(raw)).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn unknown_layout(head: &[u8]) -> StoreError {
    let shown: Vec<String> = head.iter().take(4).map(|b| format!("{b:02x}")).collect();
    StoreError::Corrupt(format!(
        "stored version has an unknown layout (first bytes {}): neither a plain Updated payload (01) nor a wrapped one (PXW, version {WRAPPED_VERSION}); was it written by a newer pixstore-server?",
        shown.join(" ")
    ))
}

impl StoredImage {
    /// A version in layout 0 (key, iv and tag in plaintext). `ciphertext` must not be empty (the
    /// caller sealed an envelope).
    pub fn new(token: Token, meta: Meta, ciphertext: &[u8]) -> Result<StoredImage, StoreError> {
        let payload = Payload::updated(token, meta, ciphertext).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut buf = Vec::with_capacity(payload.encoded_len());
        payload.encode(&mut buf);
        Ok(StoredImage { token, sealing: Sealing::Plain(meta), bytes: Bytes::from(buf) })
    }

    /// A version in layout 1 for `id`: key, iv and tag sealed under `keks`' current key.
    pub fn wrapped(
        id: &str,
        token: Token,
        meta: &Meta,
        ciphertext: &[u8],
        keks: &KekRing,
    ) -> Result<StoredImage, StoreError> {
        if ciphertext.is_empty() {
            return Err(StoreError::Corrupt("an empty ciphertext has no format byte (ENV-6)".into()));
        }
        let mut buf = Vec::with_capacity(WRAPPED_HEADER_LEN + ciphertext.len());
        buf.extend_from_slice(&WRAPPED_MAGIC);
        buf.push(WRAPPED_VERSION);
        buf.extend_from_slice(&keks.current_kid().to_le_bytes());
        buf.extend_from_slice(&token.get().to_le_bytes());
        let mut sealed = meta_bytes(meta);
        let (kek, nonce, tag) = keks
            .seal(&aad(&buf, id), &mut sealed)
            .map_err(|e| StoreError::Io { path: PathBuf::from("<key-encryption key>"), source: e })?;
        buf.extend_from_slice(&nonce);
        buf.extend_from_slice(&sealed);
        buf.extend_from_slice(&tag);
        buf.extend_from_slice(ciphertext);
        Ok(StoredImage { token, sealing: Sealing::Wrapped { kek, nonce, tag }, bytes: Bytes::from(buf) })
    }

    /// A version from its stored bytes, in either layout. Layout 0 is checked by the wire
    /// decoder; layout 1's seal is checked when it is opened ([`meta`](Self::meta)).
    pub fn from_stored(bytes: Bytes) -> Result<StoredImage, StoreError> {
        match bytes.first() {
            Some(1) => {
                let (token, meta) = match PayloadRef::decode(&bytes) {
                    Ok(Payload::Updated { token, meta, .. }) => (token, meta),
                    Ok(other) => {
                        return Err(StoreError::Corrupt(format!("stored payload has state {}", other.state())))
                    }
                    Err(e) => return Err(StoreError::Corrupt(e.to_string())),
                };
                Ok(StoredImage { token, sealing: Sealing::Plain(meta), bytes })
            }
            _ => {
                let token = stored_token(&bytes)?;
                if bytes.len() <= WRAPPED_HEADER_LEN {
                    return Err(StoreError::Corrupt(format!(
                        "wrapped version is {} bytes: the {WRAPPED_HEADER_LEN}-byte header and at least one ciphertext byte are needed",
                        bytes.len()
                    )));
                }
                let bad = || StoreError::Corrupt("wrapped version is truncated".into());
                let kek = u32::from_le_bytes(array::<4>(&bytes, 4).ok_or_else(bad)?);
                let nonce = array::<12>(&bytes, 16).ok_or_else(bad)?;
                let tag = array::<16>(&bytes, 88).ok_or_else(bad)?;
                Ok(StoredImage { token, sealing: Sealing::Wrapped { kek, nonce, tag }, bytes })
            }
        }
    }

    /// The version's token.
    pub fn token(&self) -> Token {
        self.token
    }

    /// The version's layout.
    pub fn layout(&self) -> Layout {
        match self.sealing {
            Sealing::Plain(_) => Layout::Plain,
            Sealing::Wrapped { kek, .. } => Layout::Wrapped { kek },
        }
    }

    /// The version's key, iv and tag: as stored (layout 0), or unsealed with `keks` (layout 1;
    /// `id` is part of the seal's associated data).
    pub fn meta(&self, id: &str, keks: Option<&KekRing>) -> Result<Meta, UnwrapError> {
        match self.sealing {
            Sealing::Plain(meta) => Ok(meta),
            Sealing::Wrapped { kek, nonce, tag } => {
                let keks = keks.ok_or(UnwrapError::UnknownKek(kek))?;
                let mut sealed = array::<META_LEN>(&self.bytes, 28).ok_or(UnwrapError::Authentication(kek))?;
                let header = self.bytes.get(..WRAPPED_AAD_LEN).unwrap_or_default();
                keks.open(kek, nonce, &aad(header, id), tag, &mut sealed)?;
                Ok(meta_of(&sealed))
            }
        }
    }

    /// The ciphertext (a view into the stored buffer).
    pub fn ciphertext(&self) -> Bytes {
        let start = match self.sealing {
            Sealing::Plain(_) => UPDATED_HEADER_LEN,
            Sealing::Wrapped { .. } => WRAPPED_HEADER_LEN,
        };
        self.bytes.slice(start.min(self.bytes.len())..)
    }

    /// The Updated payload serving this version, as a header and a body sent one after the
    /// other: layout 0 is the stored buffer itself (empty header); layout 1 is a 61-byte header
    /// unsealed with `keks` and the ciphertext (a view, never a copy).
    pub fn updated_payload(&self, id: &str, keks: Option<&KekRing>) -> Result<(Bytes, Bytes), UnwrapError> {
        match self.sealing {
            Sealing::Plain(_) => Ok((Bytes::new(), self.bytes.clone())),
            Sealing::Wrapped { .. } => {
                let meta = self.meta(id, keks)?;
                let mut head = Vec::with_capacity(UPDATED_HEADER_LEN);
                head.push(proto::wire::State::Updated.byte());
                head.extend_from_slice(&self.token.get().to_le_bytes());
                head.extend_from_slice(&meta_bytes(&meta));
                Ok((Bytes::from(head), self.ciphertext()))
            }
        }
    }

    /// This version (same token, key, iv, tag and ciphertext) sealed under `to`'s current key,
    /// opened with `from` (`rewrap`; layout 0 becomes layout 1).
    pub fn rewrapped(&self, id: &str, from: Option<&KekRing>, to: &KekRing) -> Result<StoredImage, StoreError> {
        let meta = self.meta(id, from).map_err(|e| StoreError::Sealed { id: id.into(), source: e })?;
        StoredImage::wrapped(id, self.token, &meta, &self.ciphertext(), to)
    }

    /// The stored buffer (what a store writes).
    pub fn stored_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Never true: a stored version holds at least its header and one ciphertext byte.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// `create` found the id already stored.
    #[error("an image with this id already exists")]
    AlreadyExists,
    /// `replace` found no image with this id.
    #[error("no image with this id")]
    NotFound,
    /// `replace` found another version than the expected one (a concurrent writer won).
    #[error("the image changed concurrently (expected token {expected}, found {found})")]
    Conflict {
        /// The token the caller read.
        expected: u64,
        /// The token stored now.
        found: u64,
    },
    /// The id is not valid (spec ID-1); storage was not touched (ID-4).
    #[error("invalid image id: {0}")]
    InvalidId(proto::id::IdError),
    /// Stored bytes are not a valid version.
    #[error("stored image is corrupt: {0}")]
    Corrupt(String),
    /// An I/O error, with the path.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A blocking task failed.
    #[error("storage task failed: {0}")]
    Task(String),
    /// A wrapped version's key, iv and tag did not open.
    #[error("image {id:?}: {source}")]
    Sealed {
        /// The image id.
        id: String,
        /// Why.
        source: UnwrapError,
    },
    /// The object store failed or refused (see the message for what to check).
    #[error("{0}")]
    Remote(String),
}

/// Storage of image versions. Implementations must make every write atomic (a reader sees the
/// whole old or the whole new version) and durable once it returns.
pub trait Store: Send + Sync + 'static {
    /// The current version of `id`, if any.
    fn load(&self, id: &str) -> impl Future<Output = Result<Option<Arc<StoredImage>>, StoreError>> + Send;
    /// Stores the first version of `id`; [`StoreError::AlreadyExists`] if it exists.
    fn create(&self, id: &str, image: StoredImage) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Replaces the version whose token is `expected` (compare-and-swap).
    fn replace(
        &self,
        id: &str,
        expected: Token,
        image: StoredImage,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Deletes `id`; whether it existed.
    fn delete(&self, id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Up to [`LIST_PAGE`] stored ids after `after` (all ids from the start when `None`), in
    /// ascending byte order; an empty page is the end (`rewrap` walks the store with it).
    fn list(&self, after: Option<&str>) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
    /// Whether the store is reachable (`/readyz`); the default says yes.
    fn check(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        std::future::ready(Ok(()))
    }
}

/// The most ids one [`Store::list`] call returns.
pub const LIST_PAGE: usize = 1000;

/// fsyncs a folder so that a rename or unlink in it is durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// What identifies one stored file: a new version is a new file (rename), so a changed
/// fingerprint means a changed version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

fn fingerprint(meta: &std::fs::Metadata) -> Fingerprint {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        Fingerprint {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        }
    }
    #[cfg(not(unix))]
    {
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(i128::MAX));
        Fingerprint { dev: 0, ino: 0, len: meta.len(), mtime_ns }
    }
}

/// How long a held file alone may vouch for its path (see [`Cached`]): after that a request
/// stats the path again, and a version replaced in a way the held file cannot see (a folder of
/// images swapped under a running server) is noticed within this time.
const PATH_RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// A cached version: the fingerprint of the file it was read from, the version, and that file
/// while it is held open (for `sendfile`, [`crate::sendfile::file_backed`]).
///
/// A held file makes a request's check cheaper: every write renames a new file over the path (or
/// removes it), and that changes the old file's link count and change time, which `fstat` on the
/// held descriptor reads without walking the path. So a request compares them with the values
/// last seen while the path named this file, and stats the path only when they differ or
/// [`PATH_RECHECK`] has passed. Without a held file (small versions, `sendfile` off, the budget
/// of held files spent) a request stats the path.
struct Cached {
    print: Fingerprint,
    image: Arc<StoredImage>,
    held: Option<Held>,
}

struct Held {
    file: Arc<File>,
    /// [`Links`] of `file` when the path last named it (none until a stat of the path found it).
    seen: std::sync::Mutex<Option<Links>>,
    /// When the path last named it, in ms since [`clock_ms`]'s start.
    path_checked_ms: std::sync::atomic::AtomicU64,
}

/// A held file's link count and change time: a rename over its path, or an unlink, changes both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Links {
    nlink: u64,
    ctime_ns: i128,
}

impl Held {
    /// The held file's [`Links`] now (`None` where they are not known: then the path decides).
    fn links(&self) -> Option<Links> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            let meta = self.file.metadata().ok()?;
            Some(Links {
                nlink: meta.nlink(),
                ctime_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
            })
        }
        #[cfg(not(unix))]
        {
            None
        }
    }

    /// Whether `now` (the held file's links just read) shows the path still names the file,
    /// without looking at the path.
    fn vouches(&self, now: Links, now_ms: u64, recheck_ms: u64) -> bool {
        let seen = *self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen == Some(now)
            && now_ms.saturating_sub(self.path_checked_ms.load(std::sync::atomic::Ordering::Relaxed)) < recheck_ms
    }

    /// The path was just found to name the file; `before` are its links read before that stat.
    fn confirm(&self, before: Links, now_ms: u64) {
        *self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(before);
        self.path_checked_ms.store(now_ms, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A monotonic clock in milliseconds (since its first use).
fn clock_ms() -> u64 {
    static START: std::sync::LazyLock<std::time::Instant> = std::sync::LazyLock::new(std::time::Instant::now);
    u64::try_from(START.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The embedded default store: one file per image under `<data>/images/`, written by temporary
/// file, fsync, rename and folder fsync. Writers exclude each other with one of
/// [`LOCK_STRIPES`] lock files chosen by a hash of the id (`images/.locks/NN.lock`, also across
/// processes, such as the CLI beside a running server): nothing per id outlives a delete, and a
/// `dir:` folder is removed with its last image.
///
/// Layout (injective under the id grammar, ID-4): `images/n/<name>.pxs` for ids without a dir,
/// `images/d/<dir>/<name>.pxs` for `dir:name`.
///
/// Recently served versions stay in memory (up to `cache_bytes`); a request still checks that
/// the path names the file they were read from, so a version written by another process is
/// never missed: a stat of the path (device, inode, size, mtime), or, where the file is held
/// open, its link count and change time (see `Cached`). A cached version of at least
/// [`crate::sendfile::MIN_LEN`] bytes keeps its file open, and the plain listener sends it from
/// there ([`crate::sendfile`]): a version replaced or deleted by another process keeps its disk
/// space until the cache lets go of it (its next request, or eviction).
#[derive(Clone)]
pub struct FsStore {
    root: PathBuf,
    cache: moka::sync::Cache<String, Arc<Cached>>,
    counters: CacheCounters,
    /// [`PATH_RECHECK`] in ms (tests set other values).
    path_recheck_ms: u64,
    /// Whether a large cached version keeps its file for `sendfile` (the `sendfile` option).
    sendfile: bool,
}

/// Hits and misses of [`FsStore`]'s memory cache (shared counters, for `/metrics`).
#[derive(Debug, Clone, Default)]
pub struct CacheCounters {
    /// Loads answered from memory.
    pub hits: prometheus_client::metrics::counter::Counter,
    /// Loads that read the file.
    pub misses: prometheus_client::metrics::counter::Counter,
}

/// How many lock files serialise writers (a fixed set: ids share them by hash).
pub const LOCK_STRIPES: u64 = 64;
/// The folder of the lock stripes, under `images/`.
pub const LOCKS_DIR: &str = ".locks";

/// FNV-1a: the same stripe for an id in every process (std's hasher is seeded per process).
fn stripe_of(id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h % LOCK_STRIPES
}

/// Attempts of a write whose `dir:` folder a concurrent delete removed between its creation and
/// the temporary file.
const DIR_RACE_ATTEMPTS: usize = 8;

impl std::fmt::Debug for FsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsStore").field("root", &self.root).finish()
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.into(), source }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Task(e.to_string()))?
}

impl FsStore {
    /// Opens (creating if needed) a store under `data_dir`, and removes temporary files that an
    /// interrupted write left behind.
    pub fn open(data_dir: &Path, cache_bytes: u64) -> Result<FsStore, StoreError> {
        let root = data_dir.join("images");
        std::fs::create_dir_all(root.join("n")).map_err(io_err(&root))?;
        std::fs::create_dir_all(root.join("d")).map_err(io_err(&root))?;
        remove_temporaries(&root)?;
        std::fs::create_dir_all(root.join(LOCKS_DIR)).map_err(io_err(&root))?;
        remove_legacy_locks(&root);
        let cache = moka::sync::Cache::builder()
            .weigher(|_: &String, v: &Arc<Cached>| u32::try_from(v.image.len()).unwrap_or(u32::MAX))
            .max_capacity(cache_bytes)
            .build();
        let path_recheck_ms = u64::try_from(PATH_RECHECK.as_millis()).unwrap_or(u64::MAX);
        Ok(FsStore { root, cache, counters: CacheCounters::default(), path_recheck_ms, sendfile: true })
    }

    /// Whether large cached versions keep their files open to be sent with `sendfile` (the
    /// default, [`crate::sendfile`]); off, they are served from memory with `writev` and no file
    /// stays open (the `sendfile` option, docs/server-operations.md says when to turn it off).
    pub fn with_sendfile(mut self, on: bool) -> FsStore {
        self.sendfile = on;
        self
    }

    /// The cache's hit and miss counters.
    pub fn cache_counters(&self) -> &CacheCounters {
        &self.counters
    }

    /// The file of `id` (validated against the id grammar first, ID-4).
    pub fn path_of(&self, id: &str) -> Result<PathBuf, StoreError> {
        let (dir, name) = proto::id::split(id).map_err(StoreError::InvalidId)?;
        // One allocation of the final length (this runs on every request; three `join`s and a
        // `format!` were a tenth of a Success response's instructions). The parts are validated
        // ids (ID-4: no separators, no dot segments), so plain concatenation is the join.
        let sep = std::path::MAIN_SEPARATOR_STR;
        let root = self.root.as_os_str();
        let mut path = std::ffi::OsString::with_capacity(root.len() + id.len() + 3 * sep.len() + 6);
        path.push(root);
        path.push(sep);
        match dir {
            Some(dir) => {
                path.push("d");
                path.push(sep);
                path.push(dir);
            }
            None => path.push("n"),
        }
        path.push(sep);
        path.push(name);
        path.push(".pxs");
        Ok(PathBuf::from(path))
    }

    /// Reads a version that is not in memory from its opened file, and keeps it in memory.
    fn read_version(
        &self,
        id: String,
        path: PathBuf,
        mut file: File,
        print: Fingerprint,
    ) -> Result<Arc<StoredImage>, StoreError> {
        let mut buf = Vec::with_capacity(usize::try_from(print.len).unwrap_or(0));
        file.read_to_end(&mut buf).map_err(io_err(&path))?;
        // A large version keeps its file open (unless the sendfile option is off): the plain
        // listener sends it from there.
        let (bytes, held) =
            if self.sendfile { crate::sendfile::file_backed(buf, file) } else { (bytes::Bytes::from(buf), None) };
        let image = Arc::new(StoredImage::from_stored(bytes).map_err(|e| match e {
            StoreError::Corrupt(m) => StoreError::Corrupt(format!("{}: {m}", path.display())),
            other => other,
        })?);
        // Not vouched for yet: the path may have been renamed over since the open, and the links
        // read now would then be the replaced file's. The next request stats the path and, if it
        // still names this file, records the links it read before that stat.
        let held = held.map(|file| Held { file, seen: Default::default(), path_checked_ms: Default::default() });
        self.cache.insert(id, Arc::new(Cached { print, image: image.clone(), held }));
        Ok(image)
    }

    /// Runs `f` while holding the write lock of `id`'s stripe (a lock file, also across
    /// processes).
    fn locked<T>(&self, id: &str, f: impl FnOnce(&Path) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let path = self.path_of(id)?;
        let lock_path = self.root.join(LOCKS_DIR).join(format!("{:02}.lock", stripe_of(id)));
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        lock.lock().map_err(io_err(&lock_path))?;
        let result = f(&path);
        // Unlocked when `lock` is closed, also if `f` failed.
        drop(lock);
        result
    }

    /// Writes a version to `path`, creating its `dir:` folder if needed. A concurrent delete of
    /// the folder's last other image (another stripe) may remove the folder between its creation
    /// and our temporary file: then create it again.
    fn write_version(path: &Path, image: &StoredImage) -> Result<(), StoreError> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut attempt = 0;
        loop {
            attempt += 1;
            if !dir.exists() {
                std::fs::create_dir_all(dir).map_err(io_err(dir))?;
                if let Some(parent) = dir.parent() {
                    sync_dir(parent).map_err(io_err(parent))?;
                }
            }
            match Self::write_version_in(path, image) {
                Err(StoreError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound && attempt < DIR_RACE_ATTEMPTS => {}
                other => return other,
            }
        }
    }

    /// One atomic, durable write (`pixstore-fs`: temporary file, fsync, rename, folder fsync),
    /// mode 0666 less the umask as before (the keys inside are sealed, spec §12.6).
    fn write_version_in(path: &Path, image: &StoredImage) -> Result<(), StoreError> {
        pixstore_fs::AtomicWrite::new().mode(0o666).write(path, image.stored_bytes()).map_err(|e| {
            let at = e.path().to_path_buf();
            StoreError::Io { path: at, source: e.into_io() }
        })
    }

    fn current_token(path: &Path) -> Result<Option<Token>, StoreError> {
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(path)(e)),
        };
        // Both layouts keep the token within the first 16 bytes.
        let mut head = Vec::with_capacity(16);
        (&mut file).take(16).read_to_end(&mut head).map_err(io_err(path))?;
        stored_token(&head).map(Some).map_err(|e| match e {
            StoreError::Corrupt(m) => StoreError::Corrupt(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Every id stored, sorted (for [`Store::list`]): the file layout mapped back to ids.
    fn all_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut ids = Vec::new();
        let names = |dir: &Path| -> Result<Vec<String>, StoreError> {
            let mut out = Vec::new();
            let entries = match std::fs::read_dir(dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
                Err(e) => return Err(io_err(dir)(e)),
            };
            for entry in entries {
                let entry = entry.map_err(io_err(dir))?;
                let name = entry.file_name();
                if let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".pxs")) {
                    if entry.file_type().map_err(io_err(dir))?.is_file() {
                        out.push(stem.to_owned());
                    }
                }
            }
            Ok(out)
        };
        ids.extend(names(&self.root.join("n"))?);
        let d = self.root.join("d");
        for entry in std::fs::read_dir(&d).map_err(io_err(&d))? {
            let entry = entry.map_err(io_err(&d))?;
            if !entry.file_type().map_err(io_err(&d))?.is_dir() {
                continue;
            }
            let Some(dir) = entry.file_name().to_str().map(str::to_owned) else { continue };
            ids.extend(names(&entry.path())?.into_iter().map(|name| format!("{dir}:{name}")));
        }
        ids.retain(|id| proto::id::validate(id).is_ok());
        ids.sort();
        Ok(ids)
    }
}

/// Removes the per-id lock files of earlier versions (`<name>.lock` beside the image). A writer
/// of an earlier version still running would hold one: removing it is harmless to it.
fn remove_legacy_locks(root: &Path) {
    let mut stack = vec![root.join("n"), root.join("d")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "lock") {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// How old a temporary file must be before a starting store removes it.
const STALE_TEMPORARY: std::time::Duration = std::time::Duration::from_secs(600);

fn is_stale(entry: &std::fs::DirEntry) -> bool {
    entry
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age > STALE_TEMPORARY)
}

fn remove_temporaries(root: &Path) -> Result<(), StoreError> {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if entry.file_type().map_err(io_err(&path))?.is_dir() {
                stack.push(path);
            } else if (pixstore_fs::is_temporary(entry.file_name().as_os_str())
                || (name.starts_with('.') && name.ends_with(".tmp")))
                && is_stale(&entry)
            {
                // pixstore-fs's temporaries, and the `.N.tmp` names of older servers.
                // Only old ones: another process (the CLI beside the server, another instance)
                // may be between its write and its rename right now.
                std::fs::remove_file(&path).map_err(io_err(&path))?;
                tracing::info!(path = %path.display(), "removed a temporary file left by an interrupted write");
            }
        }
    }
    Ok(())
}

impl Store for FsStore {
    async fn load(&self, id: &str) -> Result<Option<Arc<StoredImage>>, StoreError> {
        // SERVE-3 across processes (the CLI or another instance may have replaced the file): every
        // load revalidates. Every write renames a new file into place (a new inode, length and
        // mtime), so the path's fingerprint names the version. A hit whose file is held open
        // asks that file (`fstat`, no path walk; see `Cached`); any other hit stats the path.
        // (Opening the file, fstat-ing it and closing it again was three calls per request:
        // with a receive and a send, most of the system calls of a Success response.) The read
        // of a version not in memory yet goes to the blocking pool.
        let cached = self.cache.get(id);
        let held = cached.as_ref().and_then(|c| Some((c.held.as_ref()?, c.held.as_ref()?.links()?)));
        if let (Some(cached), Some((held, links))) = (&cached, held) {
            if held.vouches(links, clock_ms(), self.path_recheck_ms) {
                self.counters.hits.inc();
                return Ok(Some(cached.image.clone()));
            }
        }
        let path = self.path_of(id)?;
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Deleted by another process: let go of the cached version (and of its file,
                // which a large version holds open for sendfile, so its disk space is freed).
                self.cache.invalidate(id);
                return Ok(None);
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        if let Some(cached) = &cached {
            if cached.print == fingerprint(&meta) {
                if let Some((held, links)) = held {
                    held.confirm(links, clock_ms());
                }
                self.counters.hits.inc();
                return Ok(Some(cached.image.clone()));
            }
        }
        self.counters.misses.inc();
        // A miss opens the file and keys the cache by the opened file's own fingerprint: a rename
        // between the stat and the open can only make the entry newer, never mislabel it.
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&path)(e)),
        };
        let print = fingerprint(&file.metadata().map_err(io_err(&path))?);
        let this = self.clone();
        let id = id.to_owned();
        blocking(move || this.read_version(id, path, file, print)).await.map(Some)
    }

    async fn create(&self, id: &str, image: StoredImage) -> Result<(), StoreError> {
        let this = self.clone();
        let id = id.to_owned();
        blocking(move || {
            this.locked(&id, |path| {
                if path.exists() {
                    return Err(StoreError::AlreadyExists);
                }
                FsStore::write_version(path, &image)
            })
        })
        .await
    }

    async fn replace(&self, id: &str, expected: Token, image: StoredImage) -> Result<(), StoreError> {
        let this = self.clone();
        let id = id.to_owned();
        blocking(move || {
            // No lock file for an id that was never stored: unknown ids leave no trace.
            if !this.path_of(&id)?.exists() {
                return Err(StoreError::NotFound);
            }
            this.locked(&id, |path| match FsStore::current_token(path)? {
                None => Err(StoreError::NotFound),
                Some(found) if found != expected => {
                    Err(StoreError::Conflict { expected: expected.get(), found: found.get() })
                }
                Some(_) => FsStore::write_version(path, &image),
            })
        })
        .await
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let this = self.clone();
        let id = id.to_owned();
        blocking(move || {
            // No lock file for an id that was never stored: unknown ids leave no trace.
            if !this.path_of(&id)?.exists() {
                return Ok(false);
            }
            let existed = this.locked(&id, |path| match std::fs::remove_file(path) {
                Ok(()) => {
                    let dir = path.parent().unwrap_or(Path::new("."));
                    sync_dir(dir).map_err(io_err(dir))?;
                    // A `dir:` folder goes with its last image (it fails while others remain).
                    if dir.parent().is_some_and(|p| p == this.root.join("d")) && std::fs::remove_dir(dir).is_ok() {
                        if let Some(parent) = dir.parent() {
                            sync_dir(parent).map_err(io_err(parent))?;
                        }
                    }
                    Ok(true)
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(io_err(path)(e)),
            })?;
            this.cache.invalidate(&id);
            Ok(existed)
        })
        .await
    }

    async fn list(&self, after: Option<&str>) -> Result<Vec<String>, StoreError> {
        let this = self.clone();
        let after = after.map(str::to_owned);
        blocking(move || {
            let ids = this.all_ids()?;
            Ok(ids.into_iter().filter(|id| after.as_deref().is_none_or(|a| id.as_str() > a)).take(LIST_PAGE).collect())
        })
        .await
    }

    async fn check(&self) -> Result<(), StoreError> {
        let root = self.root.clone();
        blocking(move || {
            let meta = std::fs::metadata(&root).map_err(io_err(&root))?;
            if !meta.is_dir() {
                return Err(StoreError::Corrupt(format!("{} is not a folder", root.display())));
            }
            std::fs::read_dir(root.join("n")).map_err(io_err(&root))?;
            Ok(())
        })
        .await
    }
}

/// The store the configuration chose (`--store fs:DIR` or `--store s3://bucket/prefix`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StoreBackend {
    /// The filesystem store (the embedded default).
    Fs(FsStore),
    /// An S3-compatible object store.
    S3(crate::s3::S3Store),
}

impl StoreBackend {
    /// The filesystem store, when that is the one.
    pub fn fs(&self) -> Option<&FsStore> {
        match self {
            StoreBackend::Fs(s) => Some(s),
            StoreBackend::S3(_) => None,
        }
    }

    /// The object store, when that is the one.
    pub fn s3(&self) -> Option<&crate::s3::S3Store> {
        match self {
            StoreBackend::S3(s) => Some(s),
            StoreBackend::Fs(_) => None,
        }
    }

    /// The memory cache's counters.
    pub fn cache_counters(&self) -> &CacheCounters {
        match self {
            StoreBackend::Fs(s) => s.cache_counters(),
            StoreBackend::S3(s) => s.cache_counters(),
        }
    }
}

impl Store for StoreBackend {
    async fn load(&self, id: &str) -> Result<Option<Arc<StoredImage>>, StoreError> {
        match self {
            StoreBackend::Fs(s) => s.load(id).await,
            StoreBackend::S3(s) => s.load(id).await,
        }
    }

    async fn create(&self, id: &str, image: StoredImage) -> Result<(), StoreError> {
        match self {
            StoreBackend::Fs(s) => s.create(id, image).await,
            StoreBackend::S3(s) => s.create(id, image).await,
        }
    }

    async fn replace(&self, id: &str, expected: Token, image: StoredImage) -> Result<(), StoreError> {
        match self {
            StoreBackend::Fs(s) => s.replace(id, expected, image).await,
            StoreBackend::S3(s) => s.replace(id, expected, image).await,
        }
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        match self {
            StoreBackend::Fs(s) => s.delete(id).await,
            StoreBackend::S3(s) => s.delete(id).await,
        }
    }

    async fn list(&self, after: Option<&str>) -> Result<Vec<String>, StoreError> {
        match self {
            StoreBackend::Fs(s) => s.list(after).await,
            StoreBackend::S3(s) => s.list(after).await,
        }
    }

    async fn check(&self) -> Result<(), StoreError> {
        match self {
            StoreBackend::Fs(s) => s.check().await,
            StoreBackend::S3(s) => s.check().await,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    //! The held-file check of [`FsStore::load`] (see `Cached`), with the path recheck set to
    //! never or always, so that each rule is shown by what it alone decides. Each test checks
    //! SERVE-3 across processes, as `load` applies it, and SERVE-2's "current token": a request
    //! answers from the version another process wrote last, never a replaced or deleted one.
    use super::*;

    // Not test-support's fixtures: test-support depends on this crate, so in a unit test its
    // StoredImage would be another crate's type. tests/store_contract.rs has the same pattern.
    fn version(token: u64, len: usize) -> StoredImage {
        let meta = Meta { key: [7; 32], iv: [7; 12], tag: [7; 16] };
        let ciphertext: Vec<u8> = (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect();
        StoredImage::new(Token::new(token).unwrap(), meta, &ciphertext).unwrap()
    }

    /// Two handles on one folder (two processes), `a` with the given path recheck.
    fn pair(dir: &Path, recheck_ms: u64) -> (FsStore, FsStore) {
        let mut a = FsStore::open(dir, 8 << 20).unwrap();
        a.path_recheck_ms = recheck_ms;
        (a, FsStore::open(dir, 8 << 20).unwrap())
    }

    fn holds_file(store: &FsStore, id: &str) -> bool {
        store.cache.get(id).is_some_and(|c| c.held.is_some())
    }

    const LARGE: usize = 64 << 10;

    // A hit with a held file does not look at the path (it is gone here, with its folder) until
    // the recheck is due; without a held file, or once it is due, the path decides.
    #[tokio::test]
    async fn a_held_file_vouches_for_its_path_until_the_recheck() {
        if !crate::sendfile::SENDS_FILES {
            return; // files are held for sendfile on Linux only
        }
        for (recheck_ms, len, served) in [(u64::MAX, LARGE, true), (0, LARGE, false), (u64::MAX, 300, false)] {
            let dir = tempfile::tempdir().unwrap();
            let (a, _) = pair(dir.path(), recheck_ms);
            a.create("x", version(1, len)).await.unwrap();
            // The read, then the first hit, which stats the path and so vouches for the file.
            for _ in 0..2 {
                assert_eq!(a.load("x").await.unwrap().unwrap().token().get(), 1);
            }
            assert_eq!(holds_file(&a, "x"), len == LARGE);
            let n = dir.path().join("images").join("n");
            std::fs::rename(&n, dir.path().join("moved")).unwrap();
            let got = a.load("x").await.unwrap().map(|v| v.token().get());
            assert_eq!(got.is_some(), served, "recheck {recheck_ms} ms, {len} bytes: {got:?}");
        }
    }

    // Another handle's replace and delete reach a handle that holds the file, with no recheck of
    // the path at all: also when the file has a second link (a backup made with hard links), so a
    // rename over the path leaves it one link, not none.
    #[tokio::test]
    async fn writes_of_another_process_change_the_held_file() {
        if !crate::sendfile::SENDS_FILES {
            return;
        }
        for hard_link in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let (a, b) = pair(dir.path(), u64::MAX);
            b.create("x", version(1, LARGE)).await.unwrap();
            assert_eq!(a.load("x").await.unwrap().unwrap().token().get(), 1);
            assert!(holds_file(&a, "x"));
            if hard_link {
                std::fs::hard_link(a.path_of("x").unwrap(), dir.path().join("backup.pxs")).unwrap();
                // The new link changed the file but not the version: still served, from memory.
                assert_eq!(a.load("x").await.unwrap().unwrap().token().get(), 1);
            }
            for token in 2..5 {
                b.replace("x", Token::new(token - 1).unwrap(), version(token, LARGE)).await.unwrap();
                let got = a.load("x").await.unwrap().unwrap().token().get();
                assert_eq!(got, token, "hard link {hard_link}: a served a replaced version");
            }
            assert!(b.delete("x").await.unwrap());
            assert!(a.load("x").await.unwrap().is_none(), "hard link {hard_link}: a served a deleted version");
        }
    }

    // The race of a read: the path is renamed over between the open and the read. The file then
    // has lost its link when the cache takes it, so the links read then must not vouch for it
    // (SERVE-3). Not guarded like the others: off Linux no file is held, and the test then
    // checks that the path alone decides, which must hold there too.
    #[tokio::test]
    async fn a_file_replaced_while_it_is_read_is_not_vouched_for() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = pair(dir.path(), u64::MAX);
        b.create("x", version(1, LARGE)).await.unwrap();
        let path = a.path_of("x").unwrap();
        let file = File::open(&path).unwrap();
        let print = fingerprint(&file.metadata().unwrap());
        b.replace("x", Token::new(1).unwrap(), version(2, LARGE)).await.unwrap();
        let read = a.read_version("x".into(), path, file, print).unwrap();
        assert_eq!(read.token().get(), 1, "the version that was opened");
        for _ in 0..2 {
            assert_eq!(a.load("x").await.unwrap().unwrap().token().get(), 2, "a served the replaced version");
        }
    }
}
