//! The client's cache (spec §11.1, *Cache*, and §11.3, *Eviction*).
//!
//! An entry is [`proto::client::CacheEntry`]: id, ciphertext, token and last use. There is no
//! field for the key, IV or tag, so no store can keep them (CLIENT-2). Two stores come with the
//! crate: [`DirCache`], persistent (the default), and [`MemoryCache`].
//!
//! A store evicts in [`Cache::put`] (CLIENT-6): when it holds more than `limits.limit()` entries
//! it removes the least recently used ones until `limit - batch` remain. Neither store keeps a
//! flag, lock file or counter that an error could leave behind (3.2.1's cleanup flag stayed set
//! after one failure and switched eviction off for good): each `put` counts afresh.

mod dir;
mod memory;

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
pub use dir::DirCache;
pub use memory::MemoryCache;
use proto::client::{CacheEntry, CacheLimits};
use proto::token::Token;

use crate::error::CacheError;

/// The future a [`Cache`] method returns.
pub type CacheFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, CacheError>> + Send + 'a>>;

/// What a listing shows about one entry (no ciphertext).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// The image id.
    pub id: String,
    /// The token of the cached version.
    pub token: Token,
    /// The ciphertext's length in bytes.
    pub len: u64,
    /// Last use, Unix ms.
    pub last_used_ms: u64,
}

/// A store of cache entries. Implementations must be safe to use from many tasks at once and,
/// for persistent stores, from several processes.
pub trait Cache: Send + Sync + std::fmt::Debug {
    /// The entry of `id`, if any. A damaged entry is reported as absent (and may be removed).
    fn get<'a>(&'a self, id: &'a str) -> CacheFuture<'a, Option<CacheEntry<Bytes>>>;

    /// CLIENT-7: sets the last use of `id`'s entry to `now_ms` if that is later than its
    /// current last use. Only the timestamp changes: an entry stored for the id in the
    /// meantime is kept (its last use moves forward, which is harmless). A missing entry is
    /// not an error.
    fn touch<'a>(&'a self, id: &'a str, now_ms: u64) -> CacheFuture<'a, ()>;

    /// CLIENT-2, CLIENT-6: stores an authenticated ciphertext (replacing the id's entry), then
    /// evicts least recently used entries down to `limit - batch` if more than `limit` remain.
    fn put(&self, entry: CacheEntry<Vec<u8>>, limits: CacheLimits) -> CacheFuture<'_, ()>;

    /// Removes `id`'s entry; whether there was one.
    fn delete<'a>(&'a self, id: &'a str) -> CacheFuture<'a, bool>;

    /// Whether `id` has an entry.
    fn contains<'a>(&'a self, id: &'a str) -> CacheFuture<'a, bool>;

    /// Every entry, least recently used first.
    fn list(&self) -> CacheFuture<'_, Vec<EntryInfo>>;

    /// Removes every entry; how many there were.
    fn clear(&self) -> CacheFuture<'_, usize>;
}

/// `entries` (key, last use) least recently used first; ties are broken by key so that the
/// order is deterministic (CLIENT-6 allows any order among ties).
pub(crate) fn lru_order<K: Ord>(mut entries: Vec<(K, u64)>) -> Vec<K> {
    entries.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    entries.into_iter().map(|(k, _)| k).collect()
}

/// CLIENT-6: which of `entries` (key, last use) to evict: the `limits.evictions(n)` least
/// recently used.
pub(crate) fn victims<K: Ord>(entries: Vec<(K, u64)>, limits: CacheLimits) -> Vec<K> {
    let n = limits.evictions(entries.len());
    if n == 0 {
        return Vec::new();
    }
    let mut order = lru_order(entries);
    order.truncate(n);
    order
}
