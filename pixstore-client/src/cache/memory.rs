//! An in-memory cache: for tests, short-lived tools, and apps that must not write to disk.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use proto::client::{CacheEntry, CacheLimits};
use proto::token::Token;

use super::{victims, Cache, CacheFuture, EntryInfo};

#[derive(Debug)]
struct Slot {
    ciphertext: Bytes,
    token: Token,
    last_used_ms: u64,
}

/// A cache in the process's memory, lost when it exits.
///
/// One mutex guards the map and is held only for map operations (never across an await or a
/// decryption). A panic while it is held cannot wedge the cache: the poisoned lock is taken
/// over, since every operation leaves the map consistent.
#[derive(Debug, Default)]
pub struct MemoryCache {
    entries: Mutex<HashMap<String, Slot>>,
}

impl MemoryCache {
    /// An empty cache.
    pub fn new() -> MemoryCache {
        MemoryCache::default()
    }

    fn map(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.map().is_empty()
    }
}

impl Cache for MemoryCache {
    fn get<'a>(&'a self, id: &'a str) -> CacheFuture<'a, Option<CacheEntry<Bytes>>> {
        let entry = self.map().get(id).map(|s| CacheEntry {
            id: id.to_owned(),
            ciphertext: s.ciphertext.clone(),
            token: s.token,
            last_used_ms: s.last_used_ms,
        });
        Box::pin(async move { Ok(entry) })
    }

    fn touch<'a>(&'a self, id: &'a str, now_ms: u64) -> CacheFuture<'a, ()> {
        // CLIENT-7: the timestamp only, of whatever entry is there now.
        if let Some(slot) = self.map().get_mut(id) {
            slot.last_used_ms = slot.last_used_ms.max(now_ms);
        }
        Box::pin(async { Ok(()) })
    }

    fn put(&self, entry: CacheEntry<Vec<u8>>, limits: CacheLimits) -> CacheFuture<'_, ()> {
        {
            let mut map = self.map();
            // CLIENT-2: the ciphertext buffer is the entry's own (`Vec` moved in, no view).
            let slot = Slot {
                ciphertext: Bytes::from(entry.ciphertext),
                token: entry.token,
                last_used_ms: entry.last_used_ms,
            };
            map.insert(entry.id, slot);
            // CLIENT-6: count and evict under the same lock, so concurrent puts cannot overshoot.
            let all = map.iter().map(|(k, s)| (k.clone(), s.last_used_ms)).collect::<Vec<_>>();
            for id in victims(all, limits) {
                map.remove(&id);
            }
        }
        Box::pin(async { Ok(()) })
    }

    fn delete<'a>(&'a self, id: &'a str) -> CacheFuture<'a, bool> {
        let removed = self.map().remove(id).is_some();
        Box::pin(async move { Ok(removed) })
    }

    fn contains<'a>(&'a self, id: &'a str) -> CacheFuture<'a, bool> {
        let found = self.map().contains_key(id);
        Box::pin(async move { Ok(found) })
    }

    fn list(&self) -> CacheFuture<'_, Vec<EntryInfo>> {
        let mut out = self
            .map()
            .iter()
            .map(|(id, s)| EntryInfo {
                id: id.clone(),
                token: s.token,
                len: u64::try_from(s.ciphertext.len()).unwrap_or(u64::MAX),
                last_used_ms: s.last_used_ms,
            })
            .collect::<Vec<_>>();
        out.sort_by(|a, b| a.last_used_ms.cmp(&b.last_used_ms).then_with(|| a.id.cmp(&b.id)));
        Box::pin(async move { Ok(out) })
    }

    fn clear(&self) -> CacheFuture<'_, usize> {
        let n = {
            let mut map = self.map();
            let n = map.len();
            map.clear();
            n
        };
        Box::pin(async move { Ok(n) })
    }
}
