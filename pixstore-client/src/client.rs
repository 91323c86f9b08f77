//! The client: cache lookup, single-flight fetch, authenticate, then cache (spec §11.5,
//! *Algorithm (non-normative summary)*).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use proto::client::{CacheEntry, CacheLimits};
// ring's AES-GCM, named rather than taken from `DefaultAead` (which is RustCrypto): rustls
// compiles ring in any case, and it is the faster backend (docs/benchmarks.md).
use proto::envelope::Ring;
use proto::record::{ImageRecord, RecordError};
use tokio::sync::watch;

use crate::cache::{Cache, DirCache, MemoryCache};
use crate::config::{ClientConfig, ConfigError};
use crate::error::{CacheError, GetImageError, Report};
use crate::fetcher::{Fetcher, HttpFetcher};
use crate::open::{self, Image};

/// The client's clock: Unix milliseconds (the last-use timestamps of the cache).
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    })
}

type Shared = Option<Result<Image, GetImageError>>;

struct Flight {
    record: ImageRecord,
    done: watch::Receiver<Shared>,
    generation: u64,
}

struct Inner<C: ?Sized> {
    fetcher: Arc<dyn Fetcher<C>>,
    cache: Arc<dyn Cache>,
    limits: CacheLimits,
    aead: Ring,
    clock: Clock,
    flights: Mutex<HashMap<String, Flight>>,
    generation: AtomicU64,
}

/// The Pixstore client. Cheap to clone (all clones share the cache, the fetcher and the
/// in-flight requests). `C` is the context type passed to the fetcher (`()` when there is none).
pub struct Client<C: ?Sized = ()> {
    inner: Arc<Inner<C>>,
}

impl<C: ?Sized> Clone for Client<C> {
    fn clone(&self) -> Self {
        Client { inner: self.inner.clone() }
    }
}

impl<C: ?Sized> fmt::Debug for Client<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("cache", &self.inner.cache).field("limits", &self.inner.limits).finish()
    }
}

/// Which cache a [`ClientBuilder`] uses when none is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultCache {
    /// [`DirCache`] in the configured (or the platform's) cache directory.
    Persistent,
    /// [`MemoryCache`].
    Memory,
}

/// Why a client could not be built.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The configuration is not usable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The persistent cache could not be opened.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// No cache directory is configured and the platform has none ($HOME unset).
    #[error("no cache directory: set cacheDir (--cache-dir, PIXSTORE_CACHE_DIR), or use the in-memory cache")]
    NoCacheDir,
}

/// Builds a [`Client`].
pub struct ClientBuilder<C: ?Sized> {
    config: ClientConfig,
    fetcher: Option<Arc<dyn Fetcher<C>>>,
    cache: Option<Arc<dyn Cache>>,
    default_cache: DefaultCache,
    clock: Option<Clock>,
}

impl<C: ?Sized> fmt::Debug for ClientBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .field("fetcher", &self.fetcher.is_some())
            .field("cache", &self.cache)
            .finish()
    }
}

impl<C: ?Sized + Sync + 'static> Default for ClientBuilder<C> {
    fn default() -> Self {
        ClientBuilder::new()
    }
}

impl<C: ?Sized + Sync + 'static> ClientBuilder<C> {
    /// A builder with the default configuration, for a client whose callers pass a `C`
    /// context ([`Client::builder`] starts with `()`; [`ClientBuilder::fetcher`] changes it).
    pub fn new() -> Self {
        ClientBuilder {
            config: ClientConfig::default(),
            fetcher: None,
            cache: None,
            default_cache: DefaultCache::Persistent,
            clock: None,
        }
    }

    /// The configuration (endpoint, limits, cache directory, timeouts).
    pub fn config(mut self, config: ClientConfig) -> Self {
        self.config = config;
        self
    }

    /// A custom fetcher (instead of [`HttpFetcher`] for the configured endpoint). Its context
    /// type becomes the client's.
    pub fn fetcher<D: ?Sized + Sync + 'static>(self, fetcher: impl Fetcher<D> + 'static) -> ClientBuilder<D> {
        ClientBuilder {
            config: self.config,
            fetcher: Some(Arc::new(fetcher)),
            cache: self.cache,
            default_cache: self.default_cache,
            clock: self.clock,
        }
    }

    /// A cache (instead of the default).
    pub fn cache(mut self, cache: impl Cache + 'static) -> Self {
        self.cache = Some(Arc::new(cache));
        self
    }

    /// A cache shared with other clients or code.
    pub fn shared_cache(mut self, cache: Arc<dyn Cache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Uses [`MemoryCache`] when no cache is given (the default is [`DirCache`]).
    pub fn memory_cache(mut self) -> Self {
        self.default_cache = DefaultCache::Memory;
        self
    }

    /// The clock for last-use timestamps (tests inject one).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The client. Fails when no fetcher is given and `defaultEndpointConnectHost` is not set,
    /// or when the persistent cache cannot be opened.
    pub fn build(self) -> Result<Client<C>, BuildError> {
        let fetcher: Arc<dyn Fetcher<C>> = match self.fetcher {
            Some(f) => f,
            None => Arc::new(HttpFetcher::new(&self.config)?),
        };
        let cache: Arc<dyn Cache> = match (self.cache, self.default_cache) {
            (Some(c), _) => c,
            (None, DefaultCache::Memory) => Arc::new(MemoryCache::new()),
            (None, DefaultCache::Persistent) => {
                Arc::new(DirCache::open(self.config.cache_dir().ok_or(BuildError::NoCacheDir)?)?)
            }
        };
        Ok(Client {
            inner: Arc::new(Inner {
                fetcher,
                cache,
                limits: self.config.limits,
                aead: Ring,
                clock: self.clock.unwrap_or_else(system_clock),
                flights: Mutex::new(HashMap::new()),
                generation: AtomicU64::new(0),
            }),
        })
    }
}

enum Role<'a, C: ?Sized> {
    Lead(LeadGuard<'a, C>),
    Join { done: watch::Receiver<Shared>, same_record: bool },
}

/// Removes the flight when the leader finishes, or when its future is dropped (followers then
/// see the channel close and retry: a cancelled caller never strands the others).
struct LeadGuard<'a, C: ?Sized> {
    inner: &'a Inner<C>,
    id: String,
    generation: u64,
    done: watch::Sender<Shared>,
}

impl<C: ?Sized> LeadGuard<'_, C> {
    fn finish(self, result: &Result<Image, GetImageError>) {
        let _ = self.done.send(Some(result.clone()));
        // `Drop` removes the flight.
    }
}

impl<C: ?Sized> Drop for LeadGuard<'_, C> {
    fn drop(&mut self) {
        let mut flights = lock(&self.inner.flights);
        if flights.get(&self.id).is_some_and(|f| f.generation == self.generation) {
            flights.remove(&self.id);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Client<()> {
    /// A client for the configuration, with the default fetcher and the persistent cache.
    pub fn new(config: ClientConfig) -> Result<Client<()>, BuildError> {
        Client::builder().config(config).build()
    }

    /// A builder with the default configuration and no context (`()`); giving it a custom
    /// fetcher ([`ClientBuilder::fetcher`]) makes the fetcher's context the client's.
    pub fn builder() -> ClientBuilder<()> {
        ClientBuilder::new()
    }
}

impl<C: ?Sized + Sync + 'static> Client<C> {
    /// Resolves `record` to an image (spec §11.5).
    ///
    /// 1. CLIENT-1: a cache entry whose token equals the record's answers without network or
    ///    proof, decrypted with the record's meta. An entry that does not decrypt is discarded
    ///    and the call goes on as on a miss.
    /// 2. Otherwise the fetcher is called with `record` and `context` (CLIENT-8); the payload
    ///    is decoded (§4), Success opened with the record's meta and token, Updated with the
    ///    payload's (CLIENT-4), every other state returned as a typed error (CLIENT-5).
    /// 3. CLIENT-3: only an authenticated ciphertext is cached, after decryption; on any
    ///    failure the cache is left as it was.
    ///
    /// Concurrent calls with the same record share one lookup and one fetch (CLIENT-11): the first
    /// caller's context is the one the fetcher sees, and every caller gets its result (the
    /// record, which holds the key, is the authorisation, spec §12.1). A call with a different
    /// record for an id in flight waits for that flight, then looks again.
    ///
    /// A failing cache never fails the call: the error is logged and the image returned.
    pub async fn get_image(&self, record: &ImageRecord, context: &C) -> Result<Image, GetImageError> {
        // REC-4: the record's fields are public, so the id is checked again before it names a
        // cache file or a URL.
        proto::id::validate(&record.id).map_err(|_| GetImageError::Record(RecordError::InvalidId))?;
        loop {
            match self.join_or_lead(record) {
                Role::Lead(guard) => {
                    let result = self.resolve(record, context).await;
                    guard.finish(&result);
                    return result;
                }
                Role::Join { mut done, same_record } => {
                    let finished = done.wait_for(Option::is_some).await.ok().and_then(|v| v.clone());
                    match finished {
                        Some(result) if same_record => return result,
                        // Another record's flight ended (or its caller gave up): look again.
                        _ => continue,
                    }
                }
            }
        }
    }

    /// [`Client::get_image`] for a record's JSON text, validated first (REC-6: an invalid
    /// record causes no network request and no cache change).
    pub async fn get_image_json(&self, json: &[u8], context: &C) -> Result<Image, GetImageError> {
        let record = ImageRecord::from_json(json)?;
        self.get_image(&record, context).await
    }

    /// Removes `id`'s cache entry; whether there was one. An id that is not valid (ID-1) was
    /// never cached: `false`.
    pub async fn delete_cached_image(&self, id: &str) -> Result<bool, CacheError> {
        if proto::id::validate(id).is_err() {
            return Ok(false);
        }
        self.inner.cache.delete(id).await
    }

    /// Whether `id` has a cache entry (of any version).
    pub async fn cached_image_exists(&self, id: &str) -> Result<bool, CacheError> {
        if proto::id::validate(id).is_err() {
            return Ok(false);
        }
        self.inner.cache.contains(id).await
    }

    /// The cache.
    pub fn cache(&self) -> &Arc<dyn Cache> {
        &self.inner.cache
    }

    /// The cache limits (CLIENT-6).
    pub fn limits(&self) -> CacheLimits {
        self.inner.limits
    }

    fn join_or_lead(&self, record: &ImageRecord) -> Role<'_, C> {
        let mut flights = lock(&self.inner.flights);
        if let Some(f) = flights.get(&record.id) {
            return Role::Join { done: f.done.clone(), same_record: f.record == *record };
        }
        let (tx, rx) = watch::channel(None);
        let generation = self.inner.generation.fetch_add(1, Ordering::Relaxed);
        flights.insert(record.id.clone(), Flight { record: record.clone(), done: rx, generation });
        Role::Lead(LeadGuard { inner: &self.inner, id: record.id.clone(), generation, done: tx })
    }

    async fn resolve(&self, record: &ImageRecord, context: &C) -> Result<Image, GetImageError> {
        let inner = &*self.inner;
        let id = record.id.as_str();
        // CLIENT-1: a hit iff the tokens are equal; no network, no proof.
        match inner.cache.get(id).await {
            Ok(Some(entry)) if proto::client::is_cache_hit(Some(entry.token), record) => {
                match open::open_cached(&inner.aead, record, open::into_mut(entry.ciphertext)) {
                    Ok(image) => {
                        // CLIENT-7: the timestamp only.
                        if let Err(e) = inner.cache.touch(id, (inner.clock)()).await {
                            tracing::warn!(%id, error = %Report(&e), "cache: could not record the last use");
                        }
                        return Ok(image);
                    }
                    Err(e) => {
                        // CLIENT-1: discard what does not decrypt, release nothing, refetch.
                        tracing::warn!(%id, error = %Report(&e), "cache: entry did not decrypt with the record's meta; discarding it");
                        if let Err(e) = inner.cache.delete(id).await {
                            tracing::warn!(%id, error = %Report(&e), "cache: could not discard the entry");
                        }
                    }
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(%id, error = %Report(&e), "cache: lookup failed; fetching"),
        }
        let body = inner
            .fetcher
            .fetch(record, context)
            .await
            .map_err(|source| GetImageError::Fetch { id: id.to_owned(), source })?;
        // CLIENT-3, CLIENT-4, CLIENT-5: decode, authenticate and decrypt before anything is cached.
        let fetched = open::open_payload(&inner.aead, record, open::into_mut(body))?;
        // CLIENT-2: id, exactly the ciphertext, token, last use; no key, IV or tag.
        let entry = CacheEntry {
            id: id.to_owned(),
            ciphertext: fetched.ciphertext,
            token: fetched.image.token(),
            last_used_ms: (inner.clock)(),
        };
        // CLIENT-6: the store evicts down to limit - batch when over the limit.
        if let Err(e) = inner.cache.put(entry, inner.limits).await {
            tracing::warn!(%id, error = %Report(&e), "cache: could not store the image; it will be fetched again next time");
        }
        Ok(fetched.image)
    }
}
