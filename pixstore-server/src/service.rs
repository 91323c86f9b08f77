//! The image service: the original backend's operations (save, update, delete, exists, image
//! record) and the custom endpoint helper, over any [`Store`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
// ring's AES-GCM, named rather than taken from `DefaultAead` (RustCrypto, the no_std default):
// it seals several times faster on x86-64 (docs/benchmarks.md), and rustls compiles ring anyway.
use proto::envelope::{self, Ring};
use proto::format::Format;
use proto::proof::{self, Keyring, ProofError, Verifier, Window};
use proto::record::ImageRecord;
use proto::serve::{self, Detail, Request, RequestId, StoredVersion};
use proto::token::Token;
use proto::wire::{Payload, State};

use crate::formats;
use crate::kek::{KekError, KekRing, KekSource, UnwrapError};
use crate::keys::{self, KeyError};
use crate::store::{Layout, Store, StoreError, StoredImage};

/// Why an operation of the image service failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The bytes are not an image of an accepted format.
    #[error("not a supported image: {0}")]
    UnsupportedImage(String),
    /// The image is larger than `maxImageBytes`.
    #[error("image is {size} bytes, more than maxImageBytes = {max}")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// No image with this id.
    #[error("no image with id {0:?}")]
    NotFound(String),
    /// The id is not valid (spec §3); storage was not touched.
    #[error("invalid image id {id:?}: {reason}")]
    InvalidId {
        /// The id.
        id: String,
        /// Why.
        reason: proto::id::IdError,
    },
    /// The dir prefix is not usable (spec ID-3).
    #[error("invalid dir prefix {dir:?}: {reason}")]
    InvalidDir {
        /// The prefix given.
        dir: String,
        /// Why.
        reason: proto::id::IdError,
    },
    /// The image's token cannot grow any more (spec TOKEN-3).
    #[error("the image's token would exceed 2^53-1; save it under a new id")]
    TokenExhausted,
    /// Reading a file to upload failed.
    #[error("cannot read {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The proof keys failed.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// Minting a proof failed.
    #[error("cannot mint a proof: {0}")]
    Proof(ProofError),
    /// The key-encryption keys failed.
    #[error(transparent)]
    Kek(#[from] KekError),
    /// `rewrap` needs a KEK keyring and there is none.
    #[error(
        "no key-encryption key: run `pixstore-server kek init` (or give --kek-file / PIXSTORE_KEKS) before `rewrap`"
    )]
    NoKek,
}

/// A wire payload ready to send: a header and, for Success and Updated, the stored buffer it
/// points into (no copy of the ciphertext).
#[derive(Debug, Clone)]
pub struct WirePayload {
    head: Bytes,
    body: Bytes,
}

static SUCCESS_HEAD: [u8; 1] = [0];

/// Stands in for a wrapped version's meta while SERVE-2 decides between Success and Updated.
const PLACEHOLDER_META: envelope::Meta = envelope::Meta { key: [0; 32], iv: [0; 12], tag: [0; 16] };

impl WirePayload {
    fn error(state: State) -> WirePayload {
        WirePayload { head: Bytes::copy_from_slice(&[state.byte()]), body: Bytes::new() }
    }

    /// The state byte.
    pub fn state(&self) -> State {
        // An Updated payload is sent straight from the stored buffer: its head is empty.
        self.head.first().or(self.body.first()).and_then(|b| State::from_byte(*b).ok()).unwrap_or(State::InternalError)
    }

    /// Total length (the HTTP Content-Length).
    pub fn len(&self) -> usize {
        self.head.len() + self.body.len()
    }

    /// Never true: a payload has at least its state byte.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The two parts, to send one after the other.
    pub fn into_parts(self) -> (Bytes, Bytes) {
        (self.head, self.body)
    }

    /// The payload as one buffer (copies a Success payload's ciphertext once).
    pub fn to_bytes(&self) -> Bytes {
        if self.body.is_empty() {
            return self.head.clone();
        }
        if self.head.is_empty() {
            return self.body.clone();
        }
        let mut v = Vec::with_capacity(self.len());
        v.extend_from_slice(&self.head);
        v.extend_from_slice(&self.body);
        Bytes::from(v)
    }
}

/// The answer of [`ImageService::serve`] with what to log.
#[derive(Debug)]
pub struct Served {
    /// The payload to send.
    pub payload: WirePayload,
    /// Why it is an error state, if it is one (never contains a key or a proof).
    pub detail: Detail<StoreError>,
}

/// Milliseconds since the Unix epoch.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// How the service's clock runs: the configured [`Clock`], shifted, or frozen (the control
/// interface's test clock, spec CTRL-8). It drives minting, verification and token assignment
/// alike.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClockSetting {
    /// The configured clock.
    #[default]
    Real,
    /// The configured clock plus this many ms (may be negative).
    Offset(i64),
    /// Stands still at this Unix ms.
    Frozen(u64),
}

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    })
}

struct KeyState {
    ring: RwLock<Arc<Keyring>>,
    source: keys::KeySource,
    allow_insecure: bool,
    watch: Mutex<KeyWatch>,
}

/// How the service keeps keys at rest (spec §12.6): the KEK keyring, where it comes from, and
/// whether new versions are sealed under it.
#[derive(Debug, Default)]
pub struct KeyWrapping {
    ring: Option<KekRing>,
    source: Option<KekSource>,
    wrap_new: bool,
    allow_insecure: bool,
}

impl KeyWrapping {
    /// No KEK: versions are written in layout 0 (plaintext keys), wrapped ones cannot be served.
    pub fn plain() -> KeyWrapping {
        KeyWrapping::default()
    }

    /// With `ring` (from `source`, re-read from a file when a version names a KEK it lacks);
    /// new versions are sealed under its current key when `wrap_new`.
    pub fn with_ring(ring: KekRing, source: Option<KekSource>, wrap_new: bool, allow_insecure: bool) -> KeyWrapping {
        KeyWrapping { ring: Some(ring), source, wrap_new, allow_insecure }
    }

    /// Whether new versions are sealed.
    pub fn wraps_new(&self) -> bool {
        self.wrap_new && self.ring.is_some()
    }
}

struct KekState {
    ring: RwLock<Option<Arc<KekRing>>>,
    source: Option<KekSource>,
    wrap_new: bool,
    allow_insecure: bool,
    last_reload: Mutex<Option<Instant>>,
}

/// What `rewrap` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RewrapReport {
    /// Ids listed.
    pub scanned: u64,
    /// Versions sealed anew under the current KEK (plaintext ones included).
    pub rewrapped: u64,
    /// Versions already under the current KEK.
    pub current: u64,
    /// Ids deleted while the walk ran.
    pub gone: u64,
}

/// When the key file was last looked at, and what it was then.
#[derive(Default)]
struct KeyWatch {
    last_check: Option<Instant>,
    last_forced: Option<Instant>,
    stamp: Option<FileStamp>,
}

/// A file's identity and version: a rewrite (rename) changes it.
type FileStamp = (Option<std::time::SystemTime>, u64, u64);

fn file_stamp(path: &Path) -> Option<FileStamp> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let ino = 0;
    Some((m.modified().ok(), m.len(), ino))
}

/// Settings of the service (from [`crate::config::Config`]).
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// The proof window (PROOF-11).
    pub window: Window,
    /// Verifier skew (PROOF-9).
    pub skew_ms: u64,
    /// Formats accepted on upload.
    pub image_formats: Vec<Format>,
    /// Largest accepted image.
    pub max_image_bytes: u64,
    /// How the key file is opened (whether a first key may be created, and permissions).
    pub key_policy: keys::KeyPolicy,
    /// Deliberate faults (all off unless the `test-faults` feature set them).
    #[cfg(feature = "test-faults")]
    pub faults: crate::faults::Faults,
    /// Deliberate faults: always off without the `test-faults` feature.
    #[cfg(not(feature = "test-faults"))]
    pub(crate) faults: crate::faults::Faults,
}

/// What the service counts, for `/metrics` (shared counters; [`crate::metrics`] registers them).
#[derive(Debug, Clone, Default)]
pub struct ServiceCounters {
    /// Store operations that failed for a reason other than the caller's (I/O, corrupt data).
    pub store_errors: prometheus_client::metrics::counter::Counter,
    /// Image requests whose proof failed, by [`ProofError::kind`].
    pub proof_failures: prometheus_client::metrics::family::Family<
        Vec<(&'static str, &'static str)>,
        prometheus_client::metrics::counter::Counter,
    >,
}

/// The image service over a store `S`.
pub struct ImageService<S> {
    store: S,
    keys: KeyState,
    keks: KekState,
    options: ServiceOptions,
    clock: Clock,
    clock_setting: RwLock<ClockSetting>,
    writers: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
    /// The version each id had before its last update (only kept for the `mix_versions` fault).
    previous: Mutex<HashMap<String, Arc<StoredImage>>>,
    counters: ServiceCounters,
}

impl<S> std::fmt::Debug for ImageService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageService").field("options", &self.options).finish()
    }
}

/// How often a verifier that meets an unknown key id re-reads the key file.
const KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(1);
/// Attempts of a compare-and-swap update before giving up (another process keeps writing).
const UPDATE_ATTEMPTS: usize = 16;

fn random<const N: usize>() -> Result<[u8; N], ServiceError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b)
        .map_err(|e| StoreError::Io { path: PathBuf::from("<getrandom>"), source: std::io::Error::other(e) })?;
    Ok(b)
}

impl<S: Store> ImageService<S> {
    /// A service over `store`, with proof keys from `keys` (a missing key file is created with
    /// a fresh key only as `options.key_policy` allows, see [`keys::open`]).
    pub fn new(store: S, keys: &keys::KeySource, options: ServiceOptions) -> Result<Self, ServiceError> {
        let ring = keys.load(&options.key_policy)?;
        Ok(ImageService {
            store,
            keys: KeyState {
                ring: RwLock::new(Arc::new(ring)),
                watch: Mutex::new(KeyWatch {
                    last_check: Some(Instant::now()),
                    last_forced: None,
                    stamp: match keys {
                        keys::KeySource::File(path) => file_stamp(path),
                        keys::KeySource::Inline(_) => None,
                    },
                }),
                source: keys.clone(),
                allow_insecure: options.key_policy.allow_insecure,
            },
            keks: KekState {
                ring: RwLock::new(None),
                source: None,
                wrap_new: false,
                allow_insecure: false,
                last_reload: Mutex::new(None),
            },
            options,
            clock: system_clock(),
            clock_setting: RwLock::new(ClockSetting::Real),
            writers: Mutex::new(HashMap::new()),
            previous: Mutex::new(HashMap::new()),
            counters: ServiceCounters::default(),
        })
    }

    /// The service's counters (store errors, proof failures by kind).
    pub fn counters(&self) -> &ServiceCounters {
        &self.counters
    }

    /// Whether the service can answer (`/readyz`): a signing key is loaded and the store is
    /// reachable. The reason when it cannot.
    pub async fn ready(&self) -> Result<(), String> {
        if self.keyring().signing_kid().is_none() {
            return Err("no signing key loaded".into());
        }
        self.store.check().await.map_err(|e| format!("store not reachable: {e}"))
    }

    /// Counts a store error that is not the caller's (I/O, corrupt data, a failed task).
    fn count<T>(&self, r: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(
            StoreError::Io { .. }
            | StoreError::Corrupt(_)
            | StoreError::Task(_)
            | StoreError::Sealed { .. }
            | StoreError::Remote(_),
        ) = &r
        {
            self.counters.store_errors.inc();
        }
        r
    }

    /// Sets how keys are kept at rest (the default: plaintext layout 0, no KEK).
    pub fn with_key_wrapping(mut self, wrapping: KeyWrapping) -> Self {
        self.keks = KekState {
            ring: RwLock::new(wrapping.ring.map(Arc::new)),
            source: wrapping.source,
            wrap_new: wrapping.wrap_new,
            allow_insecure: wrapping.allow_insecure,
            last_reload: Mutex::new(None),
        };
        self
    }

    /// Whether new versions are sealed under a KEK, and under which.
    pub fn wrapping_kek(&self) -> Option<u32> {
        if !self.keks.wrap_new {
            return None;
        }
        self.kek_ring().map(|r| r.current_kid())
    }

    fn kek_ring(&self) -> Option<Arc<KekRing>> {
        self.keks.ring.read().map_or_else(|p| p.into_inner().clone(), |g| g.clone())
    }

    /// Re-reads a KEK file after a version named a KEK this process does not hold (another
    /// instance rotated), at most once per [`KEY_RELOAD_INTERVAL`]. Whether a new ring was loaded.
    fn reload_keks(&self) -> bool {
        let Some(source @ KekSource::File(_)) = &self.keks.source else { return false };
        let Ok(mut last) = self.keks.last_reload.lock() else { return false };
        if last.is_some_and(|t| t.elapsed() < KEY_RELOAD_INTERVAL) {
            return false;
        }
        *last = Some(Instant::now());
        match source.load(self.keks.allow_insecure) {
            Ok(Some(ring)) => {
                if let Ok(mut g) = self.keks.ring.write() {
                    *g = Some(Arc::new(ring));
                }
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(error = %e, "cannot reload the key-encryption keys");
                false
            }
        }
    }

    /// Runs `f` with the KEK ring; once more after a reload if it names an unknown KEK.
    fn with_keks<T>(&self, f: impl Fn(Option<&KekRing>) -> Result<T, UnwrapError>) -> Result<T, UnwrapError> {
        let ring = self.kek_ring();
        match f(ring.as_deref()) {
            Err(UnwrapError::UnknownKek(_)) if self.reload_keks() => f(self.kek_ring().as_deref()),
            other => other,
        }
    }

    /// The key, iv and tag of a stored version of `id` (unsealed when wrapped).
    fn meta_of(&self, id: &str, image: &StoredImage) -> Result<envelope::Meta, ServiceError> {
        self.with_keks(|keks| image.meta(id, keks))
            .map_err(|source| StoreError::Sealed { id: id.into(), source }.into())
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The options.
    pub fn options(&self) -> &ServiceOptions {
        &self.options
    }

    /// The service's time (Unix ms): the clock under its current [`ClockSetting`].
    pub fn now(&self) -> u64 {
        match self.clock_setting() {
            ClockSetting::Real => (self.clock)(),
            ClockSetting::Offset(ms) => (self.clock)().saturating_add_signed(ms),
            ClockSetting::Frozen(at) => at,
        }
    }

    /// The current clock setting.
    pub fn clock_setting(&self) -> ClockSetting {
        self.clock_setting.read().map_or_else(|p| *p.into_inner(), |g| *g)
    }

    /// Shifts or freezes the service's clock (the control interface's test clock, CTRL-8).
    pub fn set_clock(&self, setting: ClockSetting) {
        match self.clock_setting.write() {
            Ok(mut g) => *g = setting,
            Err(p) => *p.into_inner() = setting,
        }
    }

    /// The current keyring. A key file is checked for changes (a `stat`) at most once per
    /// [`KEY_RELOAD_INTERVAL`], so a `keys rotate` by another process reaches minting and
    /// verifying alike, and a removed key stops verifying (spec §8.4).
    fn keyring(&self) -> Arc<Keyring> {
        self.refresh_keys(false);
        self.keys.ring.read().map_or_else(|p| p.into_inner().clone(), |g| g.clone())
    }

    /// Re-reads the key file when it changed (or, with `force`, in any case: a proof named a
    /// key id this process does not know), at most once per [`KEY_RELOAD_INTERVAL`]. Whether a
    /// new keyring was loaded.
    fn refresh_keys(&self, force: bool) -> bool {
        let keys::KeySource::File(path) = &self.keys.source else { return false };
        let Ok(mut watch) = self.keys.watch.lock() else { return false };
        let last = if force { watch.last_forced } else { watch.last_check };
        if last.is_some_and(|t| t.elapsed() < KEY_RELOAD_INTERVAL) {
            return false;
        }
        if force {
            watch.last_forced = Some(Instant::now());
        }
        watch.last_check = Some(Instant::now());
        let stamp = file_stamp(path);
        if !force && stamp == watch.stamp {
            return false;
        }
        match keys::load(path, self.keys.allow_insecure) {
            Ok(ring) => {
                if let Ok(mut g) = self.keys.ring.write() {
                    *g = Arc::new(ring);
                }
                watch.stamp = stamp;
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot reload proof keys");
                false
            }
        }
    }

    fn reload_keys(&self) -> bool {
        self.refresh_keys(true)
    }

    fn check_image(&self, bytes: &[u8]) -> Result<Format, ServiceError> {
        let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if size > self.options.max_image_bytes {
            return Err(ServiceError::TooLarge { size, max: self.options.max_image_bytes });
        }
        if bytes.is_empty() {
            return Err(ServiceError::UnsupportedImage("the file is empty".into()));
        }
        let format = formats::detect(bytes)
            .ok_or_else(|| ServiceError::UnsupportedImage("its content is not a known image format".into()))?;
        if !formats::allowed(&self.options.image_formats, format) {
            return Err(ServiceError::UnsupportedImage(format!("{format} is not in imageFormats")));
        }
        Ok(format)
    }

    /// Encrypts an image under a fresh key and IV (ENV-3): its meta and ciphertext.
    fn encrypt(
        &self,
        format: Format,
        image: &[u8],
        reuse: Option<&envelope::Meta>,
    ) -> Result<(envelope::Meta, Vec<u8>), ServiceError> {
        let (key, iv) = match reuse {
            // The `reuse_key_on_update` fault only.
            Some(m) => (m.key, m.iv),
            None => (random::<32>()?, random::<12>()?),
        };
        let sealed = envelope::seal(&Ring, &key, &iv, format, image).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok((envelope::Meta { key, iv, tag: sealed.tag }, sealed.ciphertext))
    }

    /// The stored version of `id`: key, iv and tag sealed under the current KEK when wrapping
    /// is on (layout 1), else in plaintext (layout 0).
    fn stored(
        &self,
        id: &str,
        token: Token,
        meta: &envelope::Meta,
        ciphertext: &[u8],
    ) -> Result<StoredImage, ServiceError> {
        match self.kek_ring().filter(|_| self.keks.wrap_new) {
            Some(keks) => Ok(StoredImage::wrapped(id, token, meta, ciphertext, &keks)?),
            None => Ok(StoredImage::new(token, *meta, ciphertext)?),
        }
    }

    fn record_of(&self, id: &str, token: Token, meta: envelope::Meta) -> Result<ImageRecord, ServiceError> {
        let proof = proof::mint(&self.keyring(), id, self.now(), self.options.window).map_err(ServiceError::Proof)?;
        Ok(ImageRecord { id: id.into(), token, meta, stateless_proof: proof })
    }

    fn valid_id(id: &str) -> Result<(), ServiceError> {
        proto::id::validate(id).map_err(|reason| ServiceError::InvalidId { id: id.into(), reason })
    }

    /// Saves a new image (3.2.1 `saveImage`): validates it by content, gives it a new random id
    /// (with the sanitised `dir` prefix, ID-2, ID-3) and returns its record.
    pub async fn save(&self, bytes: &[u8], dir: Option<&str>) -> Result<ImageRecord, ServiceError> {
        let format = self.check_image(bytes)?;
        let dir = match dir {
            Some(d) => {
                proto::id::sanitize_dir(d).map_err(|reason| ServiceError::InvalidDir { dir: d.into(), reason })?
            }
            None => None,
        };
        let token = Token::next(None, self.now()).map_err(|_| ServiceError::TokenExhausted)?;
        let (meta, ciphertext) = self.encrypt(format, bytes, None)?;
        loop {
            let id = proto::id::from_random(dir.as_deref(), &random::<16>()?)
                .map_err(|reason| ServiceError::InvalidDir { dir: dir.clone().unwrap_or_default(), reason })?;
            let image = self.stored(&id, token, &meta, &ciphertext)?;
            match self.count(self.store.create(&id, image).await) {
                Ok(()) => return self.record_of(&id, token, meta),
                // ID-2: 128 random bits make this practically impossible, but never overwrite.
                Err(StoreError::AlreadyExists) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// [`save`](Self::save) of a file's content.
    pub async fn save_file(&self, path: &Path, dir: Option<&str>) -> Result<ImageRecord, ServiceError> {
        let bytes =
            tokio::fs::read(path).await.map_err(|source| ServiceError::ReadFile { path: path.into(), source })?;
        self.save(&bytes, dir).await
    }

    fn writer_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let Ok(mut map) = self.writers.lock() else {
            return Arc::new(tokio::sync::Mutex::new(()));
        };
        if let Some(lock) = map.get(id).and_then(Weak::upgrade) {
            return lock;
        }
        map.retain(|_, w| w.strong_count() > 0);
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        map.insert(id.to_owned(), Arc::downgrade(&lock));
        lock
    }

    /// Replaces an image with new bytes (3.2.1 `updateImage`): a new key, IV and a strictly
    /// greater token (TOKEN-2), written atomically; writers of one id are serialised.
    pub async fn update(&self, id: &str, bytes: &[u8]) -> Result<ImageRecord, ServiceError> {
        Self::valid_id(id)?;
        let format = self.check_image(bytes)?;
        let lock = self.writer_lock(id);
        let _guard = lock.lock().await;
        for _ in 0..UPDATE_ATTEMPTS {
            let current = self.count(self.store.load(id).await)?.ok_or_else(|| ServiceError::NotFound(id.into()))?;
            let token = if self.options.faults.reuse_token_on_update {
                current.token()
            } else {
                Token::next(Some(current.token()), self.now()).map_err(|_| ServiceError::TokenExhausted)?
            };
            let reuse = match self.options.faults.reuse_key_on_update {
                true => Some(self.meta_of(id, &current)?),
                false => None,
            };
            let (meta, ciphertext) = self.encrypt(format, bytes, reuse.as_ref())?;
            let image = self.stored(id, token, &meta, &ciphertext)?;
            match self.count(self.store.replace(id, current.token(), image).await) {
                Ok(()) => {
                    if self.options.faults.mix_versions {
                        if let Ok(mut prev) = self.previous.lock() {
                            prev.insert(id.to_owned(), current.clone());
                        }
                    }
                    return self.record_of(id, token, meta);
                }
                // Another process wrote between our read and our write: read again.
                Err(StoreError::Conflict { .. }) => continue,
                Err(StoreError::NotFound) => return Err(ServiceError::NotFound(id.into())),
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict { expected: 0, found: 0 }.into())
    }

    /// [`update`](Self::update) from a file's content.
    pub async fn update_file(&self, id: &str, path: &Path) -> Result<ImageRecord, ServiceError> {
        let bytes =
            tokio::fs::read(path).await.map_err(|source| ServiceError::ReadFile { path: path.into(), source })?;
        self.update(id, &bytes).await
    }

    /// Deletes an image; whether it existed (3.2.1 `deleteImage`).
    pub async fn delete(&self, id: &str) -> Result<bool, ServiceError> {
        Self::valid_id(id)?;
        let lock = self.writer_lock(id);
        let _guard = lock.lock().await;
        Ok(self.count(self.store.delete(id).await)?)
    }

    /// Whether an image exists (3.2.1 `imageExists`).
    pub async fn exists(&self, id: &str) -> Result<bool, ServiceError> {
        Self::valid_id(id)?;
        Ok(self.count(self.store.load(id).await)?.is_some())
    }

    /// The current token of an image, if it exists (the admin API's exists route).
    pub async fn token(&self, id: &str) -> Result<Option<Token>, ServiceError> {
        Self::valid_id(id)?;
        Ok(self.count(self.store.load(id).await)?.map(|i| i.token()))
    }

    /// The current record of an image with a fresh proof (3.2.1 `getImageRecord`).
    pub async fn record(&self, id: &str) -> Result<Option<ImageRecord>, ServiceError> {
        Self::valid_id(id)?;
        match self.count(self.store.load(id).await)? {
            Some(image) => {
                let meta = self.meta_of(id, &image).inspect_err(|_| {
                    self.counters.store_errors.inc();
                })?;
                self.record_of(id, image.token(), meta).map(Some)
            }
            None => Ok(None),
        }
    }

    /// Seals every stored version that is not under the current KEK (plaintext ones included)
    /// under it: same token, key, iv, tag and ciphertext, written by compare-and-swap, so a
    /// concurrent update (by any instance or process) wins and is left as it is. `progress`
    /// is called after each page of ids.
    pub async fn rewrap(&self, mut progress: impl FnMut(&RewrapReport)) -> Result<RewrapReport, ServiceError> {
        let mut report = RewrapReport::default();
        let mut after: Option<String> = None;
        loop {
            let page = self.count(self.store.list(after.as_deref()).await)?;
            let Some(last) = page.last().cloned() else { break };
            for id in &page {
                report.scanned += 1;
                self.rewrap_one(id, &mut report).await?;
            }
            progress(&report);
            after = Some(last);
        }
        Ok(report)
    }

    async fn rewrap_one(&self, id: &str, report: &mut RewrapReport) -> Result<(), ServiceError> {
        let lock = self.writer_lock(id);
        let _guard = lock.lock().await;
        for _ in 0..UPDATE_ATTEMPTS {
            let keks = self.kek_ring().ok_or(ServiceError::NoKek)?;
            let Some(current) = self.count(self.store.load(id).await)? else {
                report.gone += 1;
                return Ok(());
            };
            if current.layout() == (Layout::Wrapped { kek: keks.current_kid() }) {
                report.current += 1;
                return Ok(());
            }
            let image = match current.rewrapped(id, Some(&keks), &keks) {
                Err(StoreError::Sealed { source: UnwrapError::UnknownKek(_), .. }) if self.reload_keks() => continue,
                other => self.count(other)?,
            };
            match self.count(self.store.replace(id, current.token(), image).await) {
                Ok(()) => {
                    report.rewrapped += 1;
                    return Ok(());
                }
                // Updated meanwhile (the new version is sealed by its writer): look again.
                Err(StoreError::Conflict { .. }) => continue,
                Err(StoreError::NotFound) => {
                    report.gone += 1;
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict { expected: 0, found: 0 }.into())
    }

    /// Answers one image request (spec §9): the custom endpoint helper.
    ///
    /// `id` as the transport delivered it, `proof` the `x-pixstore-proof` value, `client_token`
    /// the parsed client token (`None` for absent, 0 or unparseable: TOKEN-6).
    pub async fn serve(&self, id: RequestId<'_>, proof: Option<&str>, client_token: Option<Token>) -> Served {
        let served = self.answer(id, proof, client_token).await;
        if let Detail::Proof(e) = &served.detail {
            self.counters.proof_failures.get_or_create(&vec![("kind", e.kind())]).inc();
        }
        served
    }

    async fn answer(&self, id: RequestId<'_>, proof: Option<&str>, client_token: Option<Token>) -> Served {
        let request = Request { id, proof, client_token };
        let now = self.now();
        let mut checked = {
            let ring = self.keyring();
            let verifier = Verifier::new(&ring, self.options.window)
                .with_skew(self.options.skew_ms)
                .unwrap_or_else(|_| Verifier::new(&ring, self.options.window));
            serve::check::<&[u8], StoreError>(&request, &verifier, now)
        };
        // A proof signed by a key this process has not loaded yet (keys rotate by another process).
        if let Err(a) = &checked {
            if matches!(a.detail, Detail::Proof(ProofError::UnknownKey)) && self.reload_keys() {
                let ring = self.keyring();
                let verifier = Verifier::new(&ring, self.options.window)
                    .with_skew(self.options.skew_ms)
                    .unwrap_or_else(|_| Verifier::new(&ring, self.options.window));
                checked = serve::check(&request, &verifier, now);
            }
        }
        let faults = self.options.faults;
        if faults.not_found_before_proof {
            if let RequestId::Text(id) = request.id {
                if proto::id::validate(id).is_ok() && matches!(self.store.load(id).await, Ok(None)) {
                    return Served {
                        payload: self.fault_pad(WirePayload::error(State::NotFound)),
                        detail: Detail::None,
                    };
                }
            }
        }
        let id = match checked {
            Ok(id) => id,
            Err(answer)
                if (faults.accept_expired_proofs && matches!(answer.detail, Detail::Proof(ProofError::Expired)))
                    || (faults.accept_bad_tags && matches!(answer.detail, Detail::Proof(ProofError::BadTag))) =>
            {
                match request.id {
                    RequestId::Text(id) if proto::id::validate(id).is_ok() => id,
                    _ => return Served { payload: WirePayload::error(State::InvalidProof), detail: Detail::InvalidId },
                }
            }
            Err(answer) => {
                let detail = match answer.detail {
                    Detail::None => Detail::None,
                    Detail::InvalidId => Detail::InvalidId,
                    Detail::Proof(e) => Detail::Proof(e),
                    Detail::Storage(_) | Detail::CorruptVersion => Detail::CorruptVersion,
                };
                let mut state = answer.payload.state();
                if faults.mislabel_missing_proof && state == State::MissingProof {
                    state = State::InvalidProof;
                }
                return Served { payload: self.fault_pad(WirePayload::error(state)), detail };
            }
        };
        let loaded = self.count(self.store.load(id).await);
        let image = match &loaded {
            Ok(Some(image)) => Some(image.clone()),
            _ => None,
        };
        // SERVE-2 decides on the token alone; a wrapped version's meta is unsealed below only
        // for an Updated answer (a Success answer never needs it), so the version goes in with
        // its plaintext meta (layout 0) or a placeholder that never leaves this function.
        let version = loaded.map(|o| {
            o.map(|i| StoredVersion {
                token: i.token(),
                meta: i.meta(id, None).unwrap_or(PLACEHOLDER_META),
                ciphertext: i.ciphertext(),
            })
        });
        let answer = serve::select(version, client_token);
        let previous =
            if faults.mix_versions { self.previous.lock().ok().and_then(|p| p.get(id).cloned()) } else { None };
        let payload = match (&answer.payload, image) {
            (Payload::Updated { .. }, Some(image)) if previous.is_some() => {
                // Fault: the current ciphertext under the previous version's key, iv and tag.
                let old = previous.unwrap_or_else(|| image.clone());
                let Ok(old_meta) = self.meta_of(id, &old) else {
                    return Served {
                        payload: WirePayload::error(State::InternalError),
                        detail: Detail::CorruptVersion,
                    };
                };
                let mut head = Vec::with_capacity(proto::wire::UPDATED_HEADER_LEN);
                Payload::updated(image.token(), old_meta, &b"x"[..]).map(|p| p.encode_header(&mut head)).ok();
                WirePayload { head: Bytes::from(head), body: image.ciphertext() }
            }
            // SERVE-3: both payloads come from the one stored buffer just loaded; a wrapped
            // version's 61-byte header is unsealed here, its ciphertext never copied.
            (Payload::Updated { .. }, Some(image)) => match self.with_keks(|keks| image.updated_payload(id, keks)) {
                Ok((head, body)) => self.fault_flip(WirePayload { head, body }),
                Err(e) => {
                    self.counters.store_errors.inc();
                    tracing::warn!(id, error = %e, "cannot unseal a stored version");
                    return Served {
                        payload: self.fault_pad(WirePayload::error(State::InternalError)),
                        detail: Detail::CorruptVersion,
                    };
                }
            },
            (Payload::Success { ciphertext, .. }, _) => {
                self.fault_flip(WirePayload { head: Bytes::from_static(&SUCCESS_HEAD), body: ciphertext.clone() })
            }
            (p, _) => self.fault_pad(WirePayload::error(p.state())),
        };
        Served { payload, detail: answer.detail }
    }

    /// The `pad_one_byte_states` fault: a trailing zero byte after a one-byte state.
    fn fault_pad(&self, payload: WirePayload) -> WirePayload {
        if self.options.faults.pad_one_byte_states {
            return WirePayload { head: payload.head, body: Bytes::from_static(&[0]) };
        }
        payload
    }

    /// The `flip_ciphertext_byte` fault: the last byte of the body (the ciphertext's last byte in
    /// both Success and Updated) inverted, in a copy; the stored version is untouched.
    fn fault_flip(&self, payload: WirePayload) -> WirePayload {
        if !self.options.faults.flip_ciphertext_byte {
            return payload;
        }
        let mut body = payload.body.to_vec();
        if let Some(last) = body.last_mut() {
            *last ^= 0xff;
        }
        WirePayload { head: payload.head, body: Bytes::from(body) }
    }

    /// 3.2.1's `customEndpointHelper(imageId, clientToken, statelessProof)`: the wire payload for
    /// a request a custom endpoint received. `client_token` is the text of the token (header or
    /// query), parsed per TOKEN-5; anything unparseable counts as no token.
    pub async fn custom_endpoint_helper(
        &self,
        image_id: &str,
        client_token: Option<&str>,
        stateless_proof: Option<&str>,
    ) -> Bytes {
        let token = client_token.and_then(|t| proto::token::parse_text(t.as_bytes()).ok().flatten());
        let served = self.serve(RequestId::from(Some(image_id)), stateless_proof, token).await;
        served.payload.to_bytes()
    }
}
