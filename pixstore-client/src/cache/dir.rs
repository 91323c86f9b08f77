//! The persistent cache: one file per entry in a directory.
//!
//! ```text
//! <dir>/CACHEDIR.TAG                    marks the folder as a cache for backup tools
//! <dir>/<hex of the id's bytes>.pxc     one entry
//! <dir>/.pixstore-tmp-<10 random>       an entry being written (pixstore-fs; renamed into place when complete)
//!
//! entry file: "PXC1" | token u64 LE (8) | id length (1) | id bytes | ciphertext (>= 1 byte)
//! last use  : the file's modification time (Unix ms)
//! ```
//!
//! CLIENT-2: the file holds the id, the token and exactly the ciphertext. No key, IV or tag is
//! ever written: [`proto::client::CacheEntry`], the only thing [`Cache::put`] accepts, has no
//! field for them.
//!
//! Concurrency and robustness. A file is written under a new temporary name and renamed over
//! the entry ([`pixstore_fs`], which never follows a symlink planted in the folder), so a reader
//! sees the old entry or the new one, never half of one, from this or any other process.
//! Entries are created with mode `0o600`. Last use is the file's modification time, so a hit updates a timestamp and
//! never rewrites an entry that another writer replaced in the meantime (CLIENT-7). Eviction
//! counts the directory on every `put` and removes the oldest files; files that vanished in
//! between (another process evicted them) are skipped. There is no lock, index or flag to go
//! stale, so no error can leave eviction switched off (CLIENT-6). A damaged or truncated entry
//! file (a crash mid-write never produces one, but a full disk or a stray tool might) reads as
//! a miss and is removed. Files are not fsynced: after a power cut an entry may be lost or read
//! as damaged, which costs one refetch, never a wrong image (the client authenticates every
//! cached ciphertext with the record's tag, CLIENT-1).

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use proto::client::{CacheEntry, CacheLimits};
use proto::token::Token;

use super::{lru_order, Cache, CacheFuture, EntryInfo};
use crate::error::CacheError;

const MAGIC: &[u8; 4] = b"PXC1";
const EXTENSION: &str = ".pxc";
/// Magic, token, id length.
const FIXED_HEADER_LEN: usize = 4 + 8 + 1;
/// Temporary files older than this are leftovers of a crashed writer and are removed.
const STALE_TEMP: Duration = Duration::from_secs(3600);
const CACHEDIR_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by pixstore-client (Pixstore reference client).\n\
# For information about cache directory tags see https://bford.info/cachedir/\n";

/// The persistent cache: a directory with one file per entry (see the module docs for the
/// layout and why it cannot wedge).
#[derive(Debug, Clone)]
pub struct DirCache {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
}

fn ms_of(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0)
}

fn time_of(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn hex(id: &str) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(id.len() * 2 + EXTENSION.len());
    for b in id.bytes() {
        for nibble in [b >> 4, b & 15] {
            s.push(char::from(DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0')));
        }
    }
    s
}

enum Read {
    Missing,
    Damaged(&'static str),
    /// The entry (its ciphertext empty unless asked for) and the ciphertext's length.
    Entry(CacheEntry<Bytes>, u64),
}

impl Inner {
    fn path_of(&self, id: &str) -> PathBuf {
        let mut name = hex(id);
        name.push_str(EXTENSION);
        self.root.join(name)
    }

    /// Reads the header, then the ciphertext into a buffer of exactly its size (so the client
    /// can decrypt it in place without another copy).
    fn read(&self, path: &Path, expect_id: Option<&str>, with_ciphertext: bool) -> Result<Read, CacheError> {
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Read::Missing),
            Err(e) => return Err(CacheError::io("open", path, e)),
        };
        let meta = file.metadata().map_err(|e| CacheError::io("stat", path, e))?;
        let last_used_ms = meta.modified().map(ms_of).unwrap_or(0);
        let mut fixed = [0u8; FIXED_HEADER_LEN];
        match file.read_exact(&mut fixed) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(Read::Damaged("shorter than its header")),
            Err(e) => return Err(CacheError::io("read", path, e)),
        }
        let (magic, rest) = fixed.split_at(4);
        let (token_bytes, id_len) = rest.split_at(8);
        if magic != MAGIC {
            return Ok(Read::Damaged("not a pixstore-client cache entry"));
        }
        let token = <[u8; 8]>::try_from(token_bytes).map(u64::from_le_bytes).unwrap_or(0);
        let Ok(token) = Token::new(token) else { return Ok(Read::Damaged("token out of range")) };
        let id_len = id_len.first().copied().map_or(0, usize::from);
        let mut id_buf = vec![0u8; id_len];
        match file.read_exact(&mut id_buf) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(Read::Damaged("id cut short")),
            Err(e) => return Err(CacheError::io("read", path, e)),
        }
        let Ok(id) = String::from_utf8(id_buf) else { return Ok(Read::Damaged("id is not UTF-8")) };
        if expect_id.is_some_and(|want| want != id) {
            return Ok(Read::Damaged("id does not match the file name"));
        }
        let header_len = u64::try_from(FIXED_HEADER_LEN + id_len).unwrap_or(u64::MAX);
        let ct_len = meta.len().saturating_sub(header_len);
        if ct_len == 0 {
            return Ok(Read::Damaged("no ciphertext"));
        }
        let ciphertext = if with_ciphertext {
            let mut ct = Vec::with_capacity(usize::try_from(ct_len).unwrap_or(0));
            file.take(ct_len).read_to_end(&mut ct).map_err(|e| CacheError::io("read", path, e))?;
            if u64::try_from(ct.len()).ok() != Some(ct_len) {
                return Ok(Read::Damaged("ciphertext cut short"));
            }
            Bytes::from(ct)
        } else {
            Bytes::new()
        };
        Ok(Read::Entry(CacheEntry { id, ciphertext, token, last_used_ms }, ct_len))
    }

    fn discard_damaged(&self, path: &Path, why: &str) {
        tracing::warn!(path = %path.display(), why, "removing a damaged cache entry");
        let _ = std::fs::remove_file(path);
    }

    fn get(&self, id: &str) -> Result<Option<CacheEntry<Bytes>>, CacheError> {
        let path = self.path_of(id);
        match self.read(&path, Some(id), true)? {
            Read::Missing => Ok(None),
            Read::Damaged(why) => {
                self.discard_damaged(&path, why);
                Ok(None)
            }
            Read::Entry(e, _) => Ok(Some(e)),
        }
    }

    fn touch(&self, id: &str, now_ms: u64) -> Result<(), CacheError> {
        let path = self.path_of(id);
        // Write access is needed to set the time; nothing is written.
        let file = match OpenOptions::new().write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(CacheError::io("open", &path, e)),
        };
        let current = file.metadata().and_then(|m| m.modified()).map(ms_of).unwrap_or(0);
        if current >= now_ms {
            return Ok(());
        }
        file.set_modified(time_of(now_ms)).map_err(|e| CacheError::io("set the last use of", &path, e))
    }

    fn put(&self, entry: &CacheEntry<Vec<u8>>, limits: CacheLimits) -> Result<(), CacheError> {
        let path = self.path_of(&entry.id);
        let id_len = u8::try_from(entry.id.len()).map_err(|_| {
            CacheError::Other(format!("image id of {} bytes is too long to cache (at most 255)", entry.id.len()))
        })?;
        let mut header = Vec::with_capacity(FIXED_HEADER_LEN + entry.id.len());
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&entry.token.get().to_le_bytes());
        header.push(id_len);
        header.extend_from_slice(entry.id.as_bytes());
        // Atomic for readers, not fsynced: an entry lost in a power cut costs a refetch (module docs).
        let writer = pixstore_fs::AtomicWrite::new().durable(false);
        let mut pending = match writer.create(&path) {
            Ok(p) => p,
            // The directory was removed under us (`rm -r` while the app runs): recreate it.
            Err(e) if e.kind() == ErrorKind::NotFound => {
                std::fs::create_dir_all(&self.root).map_err(|e| CacheError::io("create", &self.root, e))?;
                writer.create(&path).map_err(CacheError::write)?
            }
            Err(e) => return Err(CacheError::write(e)),
        };
        // On an error, dropping `pending` removes the temporary file.
        if let Err(e) = pending.write_all(&header).and_then(|()| pending.write_all(&entry.ciphertext)) {
            return Err(CacheError::io("write", pending.temporary_path(), e));
        }
        let file = pending.commit().map_err(CacheError::write)?;
        // The last use is set through the open handle once the entry is in place: before the
        // rename, an old timestamp would make the temporary look like a crashed writer's
        // leftover to another process's cleanup.
        if let Err(e) = file.set_modified(time_of(entry.last_used_ms)) {
            tracing::warn!(path = %path.display(), error = %e, "cache: cannot set an entry's last use");
        }
        drop(file);
        self.evict(limits)
    }

    /// The entry files (regular files named `*.pxc`); stale temporaries are removed on the way.
    fn entry_files(&self) -> Result<Vec<PathBuf>, CacheError> {
        let dir = match std::fs::read_dir(&self.root) {
            Ok(d) => d,
            // No directory, no entries (it is recreated by the next `put`).
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(CacheError::io("list", &self.root, e)),
        };
        let mut out = Vec::new();
        for item in dir {
            let item = item.map_err(|e| CacheError::io("list", &self.root, e))?;
            let name = item.file_name();
            let Some(name) = name.to_str() else { continue };
            let is_file = item.file_type().is_ok_and(|t| t.is_file());
            if name.ends_with(EXTENSION) && is_file {
                out.push(item.path());
            } else if pixstore_fs::is_temporary(item.file_name().as_os_str()) && is_file {
                let stale = item
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > STALE_TEMP);
                if stale {
                    let _ = std::fs::remove_file(item.path());
                }
            }
        }
        Ok(out)
    }

    /// CLIENT-6: above `limit` entries, remove the least recently used down to `limit - batch`.
    ///
    /// An entry that cannot be removed is skipped and the next oldest is taken instead, so one
    /// bad file never stops eviction; the error is reported after the others were removed.
    fn evict(&self, limits: CacheLimits) -> Result<(), CacheError> {
        let files = self.entry_files()?;
        if limits.evictions(files.len()) == 0 {
            return Ok(());
        }
        let mut present = files.len();
        let mut aged = Vec::with_capacity(files.len());
        for path in files {
            match std::fs::metadata(&path).and_then(|m| m.modified()) {
                Ok(t) => aged.push((path, ms_of(t))),
                // Another process evicted it in the meantime.
                Err(e) if e.kind() == ErrorKind::NotFound => present -= 1,
                // Still there, but its age is unknown: it counts, and is not chosen.
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "cache: cannot read an entry's last use"),
            }
        }
        let mut to_remove = limits.evictions(present);
        let mut first_error = None;
        for path in lru_order(aged) {
            if to_remove == 0 {
                break;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => to_remove -= 1,
                Err(e) if e.kind() == ErrorKind::NotFound => to_remove -= 1,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cache: cannot evict an entry; trying the next");
                    first_error.get_or_insert(CacheError::io("remove", &path, e));
                }
            }
        }
        match first_error {
            Some(e) if to_remove > 0 => Err(e),
            _ => Ok(()),
        }
    }

    fn delete(&self, id: &str) -> Result<bool, CacheError> {
        let path = self.path_of(id);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(CacheError::io("remove", &path, e)),
        }
    }

    fn contains(&self, id: &str) -> Result<bool, CacheError> {
        let path = self.path_of(id);
        match std::fs::metadata(&path) {
            Ok(m) => Ok(m.is_file()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(CacheError::io("stat", &path, e)),
        }
    }

    fn list(&self) -> Result<Vec<EntryInfo>, CacheError> {
        let mut out = Vec::new();
        for path in self.entry_files()? {
            match self.read(&path, None, false)? {
                Read::Missing => {}
                Read::Damaged(why) => self.discard_damaged(&path, why),
                Read::Entry(e, len) => {
                    out.push(EntryInfo { id: e.id, token: e.token, len, last_used_ms: e.last_used_ms });
                }
            }
        }
        out.sort_by(|a, b| a.last_used_ms.cmp(&b.last_used_ms).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    fn clear(&self) -> Result<usize, CacheError> {
        let mut n = 0;
        for path in self.entry_files()? {
            match std::fs::remove_file(&path) {
                Ok(()) => n += 1,
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(CacheError::io("remove", &path, e)),
            }
        }
        Ok(n)
    }
}

impl DirCache {
    /// Opens (creating it if needed) the cache directory `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<DirCache, CacheError> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(|e| CacheError::io("create", &root, e))?;
        let tag = root.join("CACHEDIR.TAG");
        if std::fs::symlink_metadata(&tag).is_err() {
            // Best effort: the tag only helps backup tools skip the folder. Never replaces what is
            // there (nor writes through a symlink at that name).
            let _ = pixstore_fs::AtomicWrite::new().durable(false).replace(false).mode(0o644).write(&tag, CACHEDIR_TAG);
        }
        Ok(DirCache { inner: Arc::new(Inner { root }) })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The file holding `id`'s entry: the hex of the id's bytes (injective, and safe on
    /// case-insensitive file systems, where ids that differ only in case must not collide).
    pub fn path_of(&self, id: &str) -> PathBuf {
        self.inner.path_of(id)
    }

    /// Runs `f` on a blocking thread (file I/O must not stall the async runtime); inline when
    /// there is no Tokio runtime.
    fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T, CacheError> + Send + 'static,
    ) -> CacheFuture<'_, T> {
        let inner = self.inner.clone();
        Box::pin(async move {
            if tokio::runtime::Handle::try_current().is_err() {
                return f(&inner);
            }
            tokio::task::spawn_blocking(move || f(&inner)).await.map_err(|e| CacheError::Task(e.to_string()))?
        })
    }
}

impl Cache for DirCache {
    fn get<'a>(&'a self, id: &'a str) -> CacheFuture<'a, Option<CacheEntry<Bytes>>> {
        let id = id.to_owned();
        self.blocking(move |inner| inner.get(&id))
    }

    fn touch<'a>(&'a self, id: &'a str, now_ms: u64) -> CacheFuture<'a, ()> {
        let id = id.to_owned();
        self.blocking(move |inner| inner.touch(&id, now_ms))
    }

    fn put(&self, entry: CacheEntry<Vec<u8>>, limits: CacheLimits) -> CacheFuture<'_, ()> {
        self.blocking(move |inner| inner.put(&entry, limits))
    }

    fn delete<'a>(&'a self, id: &'a str) -> CacheFuture<'a, bool> {
        let id = id.to_owned();
        self.blocking(move |inner| inner.delete(&id))
    }

    fn contains<'a>(&'a self, id: &'a str) -> CacheFuture<'a, bool> {
        let id = id.to_owned();
        self.blocking(move |inner| inner.contains(&id))
    }

    fn list(&self) -> CacheFuture<'_, Vec<EntryInfo>> {
        self.blocking(|inner| inner.list())
    }

    fn clear(&self) -> CacheFuture<'_, usize> {
        self.blocking(|inner| inner.clear())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    fn entry(id: &str, token: u64, ct: &[u8], last: u64) -> CacheEntry<Vec<u8>> {
        CacheEntry { id: id.into(), ciphertext: ct.to_vec(), token: Token::new(token).unwrap(), last_used_ms: last }
    }

    // CLIENT-2: the file is the header (magic, token, id) and exactly the ciphertext.
    #[tokio::test]
    async fn layout_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let c = DirCache::open(dir.path()).unwrap();
        c.put(entry("a:B", 7, b"ciphertext", 1_000), CacheLimits::default()).await.unwrap();
        let path = c.path_of("a:B");
        assert_eq!(path.file_name().unwrap(), "613a42.pxc");
        let raw = std::fs::read(&path).unwrap();
        let mut want = b"PXC1".to_vec();
        want.extend_from_slice(&7u64.to_le_bytes());
        want.push(3);
        want.extend_from_slice(b"a:B");
        want.extend_from_slice(b"ciphertext");
        assert_eq!(raw, want);
        let got = c.get("a:B").await.unwrap().unwrap();
        assert_eq!((got.ciphertext.as_ref(), got.token.get(), got.last_used_ms), (&b"ciphertext"[..], 7, 1_000));
        // CLIENT-7: last use moves forward only.
        c.touch("a:B", 500).await.unwrap();
        assert_eq!(c.get("a:B").await.unwrap().unwrap().last_used_ms, 1_000);
        c.touch("a:B", 2_000).await.unwrap();
        assert_eq!(c.get("a:B").await.unwrap().unwrap().last_used_ms, 2_000);
        c.touch("missing", 2_000).await.unwrap();
        let l = c.list().await.unwrap();
        assert_eq!(
            l,
            vec![EntryInfo { id: "a:B".into(), token: Token::new(7).unwrap(), len: 10, last_used_ms: 2_000 }]
        );
        assert!(c.contains("a:B").await.unwrap());
        assert!(c.delete("a:B").await.unwrap());
        assert!(!c.delete("a:B").await.unwrap());
        assert!(!c.contains("a:B").await.unwrap());
    }

    // A damaged file is a miss, and is removed; stray files are left alone.
    #[tokio::test]
    async fn damaged_entries_are_misses() {
        let dir = tempfile::tempdir().unwrap();
        let c = DirCache::open(dir.path()).unwrap();
        for (id, bytes) in [
            ("a", &b"PXC"[..]),
            ("b", b"XXXX\x01\0\0\0\0\0\0\0\x01b!"),
            ("c", b"PXC1\0\0\0\0\0\0\0\0\x01c!"),
            ("d", b"PXC1\x01\0\0\0\0\0\0\0\x01d"),
            ("e", b"PXC1\x01\0\0\0\0\0\0\0\x01x!"),
        ] {
            std::fs::write(c.path_of(id), bytes).unwrap();
            assert!(c.get(id).await.unwrap().is_none(), "{id}");
            assert!(!c.path_of(id).exists(), "{id}");
        }
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        assert_eq!(c.clear().await.unwrap(), 0);
        assert!(dir.path().join("notes.txt").exists());
        assert!(dir.path().join("CACHEDIR.TAG").exists());
    }
}
