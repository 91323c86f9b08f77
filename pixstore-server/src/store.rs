//! Storage of image versions.
//!
//! A stored version is kept exactly as the Updated wire payload that serves it (spec WIRE-3):
//! `[0x01][token u64 LE][key][iv][tag][ciphertext]`. An Updated response is that buffer as it
//! is, a Success response is one byte followed by a slice of it: nothing is re-encrypted or
//! re-encoded per request, and token, key, iv, tag and ciphertext can only change together
//! (SERVE-3).
//!
//! [`Store`] is the interface a backend needs (load, create-if-absent, compare-and-swap replace,
//! delete), shaped so that an object store with conditional writes (S3 `If-None-Match` /
//! `If-Match`) can implement it. [`FsStore`] is the embedded default.

use std::fs::File;
use std::future::Future;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use proto::envelope::Meta;
use proto::token::Token;
use proto::wire::{Payload, PayloadRef, UPDATED_HEADER_LEN};

/// One stored version of one image: its Updated payload.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredImage {
    token: Token,
    meta: Meta,
    payload: Bytes,
}

impl std::fmt::Debug for StoredImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredImage").field("token", &self.token.get()).field("len", &self.payload.len()).finish()
    }
}

impl StoredImage {
    /// A version from its parts. `ciphertext` must not be empty (the caller sealed an envelope).
    pub fn new(token: Token, meta: Meta, ciphertext: &[u8]) -> Result<StoredImage, StoreError> {
        let payload = Payload::updated(token, meta, ciphertext).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut buf = Vec::with_capacity(payload.encoded_len());
        payload.encode(&mut buf);
        Ok(StoredImage { token, meta, payload: Bytes::from(buf) })
    }

    /// A version from its stored bytes (an Updated payload), checked by the wire decoder.
    pub fn from_payload(bytes: Bytes) -> Result<StoredImage, StoreError> {
        let (token, meta) = match PayloadRef::decode(&bytes) {
            Ok(Payload::Updated { token, meta, .. }) => (token, meta),
            Ok(other) => return Err(StoreError::Corrupt(format!("stored payload has state {}", other.state()))),
            Err(e) => return Err(StoreError::Corrupt(e.to_string())),
        };
        Ok(StoredImage { token, meta, payload: bytes })
    }

    /// The version's token.
    pub fn token(&self) -> Token {
        self.token
    }

    /// The version's key, iv and tag.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The ciphertext (a view into the stored buffer).
    pub fn ciphertext(&self) -> Bytes {
        self.payload.slice(UPDATED_HEADER_LEN..)
    }

    /// The Updated payload serving this version (the stored buffer itself).
    pub fn updated_payload(&self) -> Bytes {
        self.payload.clone()
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.payload.len()
    }

    /// Never true: a stored version holds at least the Updated header and one ciphertext byte.
    pub fn is_empty(&self) -> bool {
        self.payload.is_empty()
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
    /// Whether the store is reachable (`/readyz`); the default says yes.
    fn check(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        std::future::ready(Ok(()))
    }
}

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

/// The embedded default store: one file per image under `<data>/images/`, written by temporary
/// file, fsync, rename and folder fsync. Writers exclude each other with one of
/// [`LOCK_STRIPES`] lock files chosen by a hash of the id (`images/.locks/NN.lock`, also across
/// processes, such as the CLI beside a running server): nothing per id outlives a delete, and a
/// `dir:` folder is removed with its last image.
///
/// Layout (injective under the id grammar, ID-4): `images/n/<name>.pxs` for ids without a dir,
/// `images/d/<dir>/<name>.pxs` for `dir:name`.
///
/// Recently served versions stay in memory (up to `cache_bytes`); a request still opens the file
/// and compares its identity (device, inode, size, mtime), so a version written by another
/// process is never missed.
#[derive(Clone)]
pub struct FsStore {
    root: PathBuf,
    cache: moka::sync::Cache<String, (Fingerprint, Arc<StoredImage>)>,
    counters: CacheCounters,
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
            .weigher(|_: &String, v: &(Fingerprint, Arc<StoredImage>)| u32::try_from(v.1.len()).unwrap_or(u32::MAX))
            .max_capacity(cache_bytes)
            .build();
        Ok(FsStore { root, cache, counters: CacheCounters::default() })
    }

    /// The cache's hit and miss counters.
    pub fn cache_counters(&self) -> &CacheCounters {
        &self.counters
    }

    /// The file of `id` (validated against the id grammar first, ID-4).
    pub fn path_of(&self, id: &str) -> Result<PathBuf, StoreError> {
        let (dir, name) = proto::id::split(id).map_err(StoreError::InvalidId)?;
        Ok(match dir {
            Some(dir) => self.root.join("d").join(dir).join(format!("{name}.pxs")),
            None => self.root.join("n").join(format!("{name}.pxs")),
        })
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
        let image = Arc::new(StoredImage::from_payload(Bytes::from(buf)).map_err(|e| match e {
            StoreError::Corrupt(m) => StoreError::Corrupt(format!("{}: {m}", path.display())),
            other => other,
        })?);
        self.cache.insert(id, (print, image.clone()));
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
            match Self::write_version_in(dir, path, image) {
                Err(StoreError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound && attempt < DIR_RACE_ATTEMPTS => {}
                other => return other,
            }
        }
    }

    fn write_version_in(dir: &Path, path: &Path, image: &StoredImage) -> Result<(), StoreError> {
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(|e| io_err(path)(std::io::Error::other(e)))?;
        let tmp = dir.join(format!(".{}.tmp", u64::from_le_bytes(nonce)));
        let result = (|| {
            let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp).map_err(io_err(&tmp))?;
            f.write_all(&image.payload).map_err(io_err(&tmp))?;
            f.sync_all().map_err(io_err(&tmp))?;
            std::fs::rename(&tmp, path).map_err(io_err(path))?;
            sync_dir(dir).map_err(io_err(dir))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    fn current_token(path: &Path) -> Result<Option<Token>, StoreError> {
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(path)(e)),
        };
        let mut head = [0u8; 9];
        file.read_exact(&mut head).map_err(io_err(path))?;
        let [state, t @ ..] = head;
        if state != 1 {
            return Err(StoreError::Corrupt(format!("{}: not an Updated payload", path.display())));
        }
        Token::new(u64::from_le_bytes(t)).map(Some).map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display())))
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
            } else if name.starts_with('.') && name.ends_with(".tmp") && is_stale(&entry) {
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
        // Opening and fstat-ing a local file are short system calls; the read of a version that
        // is not in memory yet goes to the blocking pool.
        let path = self.path_of(id)?;
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&path)(e)),
        };
        let print = fingerprint(&file.metadata().map_err(io_err(&path))?);
        if let Some((cached, image)) = self.cache.get(id) {
            if cached == print {
                self.counters.hits.inc();
                return Ok(Some(image));
            }
        }
        self.counters.misses.inc();
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
