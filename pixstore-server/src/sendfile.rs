//! Stored bytes sent from their file (Linux `sendfile(2)`), under a stack that only takes
//! buffers.
//!
//! hyper writes a response as a list of buffers (`writev`); it cannot hand a file to the kernel.
//! On a plain connection every byte of a large body is then copied twice on the way out: from
//! the stored buffer into the socket, and from the socket to the reader. nginx sends the file
//! (`sendfile`): the socket references the page cache and the first copy is gone. That copy was
//! most of the gap to nginx at 100 KiB (docs/server-benchmarks.md).
//!
//! The two meet here. [`FsStore`](crate::store::FsStore) keeps a large version in memory as a
//! [`file_backed`] buffer: the bytes it read and the file it read them from, kept open and
//! registered by the address range of the bytes. [`FileSend`], the IO of a plain connection,
//! looks up each large buffer hyper asks it to write; one that lies inside a registered range is
//! a view of a file this process holds open, and is sent from that file at the same offset
//! (the headers before it with `MSG_MORE`, so they leave in the same segment).
//!
//! Why this is sound without `unsafe`: a range is registered while its bytes are alive and
//! unregistered before they are freed, and a buffer hyper passes keeps its bytes alive. So an
//! address inside a registered range is inside those bytes, never inside some other allocation
//! that reuses the address later. The bytes are never written after they are read, and a stored
//! file is never written in place (a new version is a new file renamed over the old name, see
//! [`FsStore`](crate::store::FsStore)): the file at that offset holds the same bytes. If the file
//! ends early anyway (truncated by hand) or `sendfile` refuses it, the bytes are written from
//! memory instead; a reader never gets fewer bytes than the response announces.
//!
//! Only large buffers take this path ([`MIN_LEN`]), and at most a quarter of the process's
//! descriptor limit is held open for it (the rest is for connections): beyond that a version is
//! kept in memory only, and served with `writev` as before. TLS connections encrypt in user
//! space and do not use it; other systems than Linux do not either.
//!
//! The code for other systems is compiled on Linux too, by `.ci/run`, with `--cfg
//! pixstore_portable` (`cargo rustc -p pixstore-server --lib --profile check -- --cfg
//! pixstore_portable`): that build takes the other systems' branches of this module.

use std::collections::BTreeMap;
use std::fs::File;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, RwLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The smallest buffer sent from its file: below it a `sendfile` beside the `writev` of the
/// headers costs more than the copy it saves: 0.95 x at 4 KiB, 1.12 x at 10 KiB against `writev`
/// alone (pinned runs, docs/server-benchmarks.md).
pub const MIN_LEN: usize = 8 * 1024;

/// Whether this build sends files (Linux, and not the `pixstore_portable` check build): the one
/// place for the `cfg!` tests; `#[cfg]` attributes cannot name a constant and repeat the
/// predicate.
pub(crate) const SENDS_FILES: bool = cfg!(all(target_os = "linux", not(pixstore_portable)));

/// Bytes sent with `sendfile` so far (`pixstore_sendfile_bytes_total`).
pub static SENT_FROM_FILES: LazyLock<prometheus_client::metrics::counter::Counter> = LazyLock::new(Default::default);

#[cfg_attr(any(not(target_os = "linux"), pixstore_portable), allow(dead_code))] // read by `lookup`, used on Linux only
struct Region {
    len: usize,
    file: Arc<File>,
}

/// Registered ranges by start address.
static REGIONS: LazyLock<RwLock<BTreeMap<usize, Region>>> = LazyLock::new(Default::default);
/// Files held open by registered ranges.
static HELD: AtomicUsize = AtomicUsize::new(0);

/// How many files may be held open: a quarter of the soft descriptor limit.
fn max_held() -> usize {
    static MAX: LazyLock<usize> = LazyLock::new(|| {
        #[cfg(all(target_os = "linux", not(pixstore_portable)))]
        {
            let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
            limit.current.map_or(usize::MAX, |n| usize::try_from(n / 4).unwrap_or(usize::MAX))
        }
        #[cfg(any(not(target_os = "linux"), pixstore_portable))]
        {
            0
        }
    });
    *MAX
}

/// The owner of a file-backed buffer: unregisters its range before its bytes are freed.
struct Owner {
    bytes: Vec<u8>,
    start: usize,
}

impl AsRef<[u8]> for Owner {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        // Before `bytes` is freed (fields drop after this body).
        let removed = REGIONS.write().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&self.start);
        if removed.is_some() {
            HELD.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// `bytes`, read from the start of `file`, as a buffer whose large views are sent from `file`
/// (see the module documentation), and the file it holds open (the store checks a request
/// against it). Small buffers, and any buffer once the budget of held files is spent, are
/// returned as plain bytes without a file, and `file` is closed.
pub fn file_backed(bytes: Vec<u8>, file: File) -> (Bytes, Option<Arc<File>>) {
    if !SENDS_FILES || bytes.len() < MIN_LEN {
        return (Bytes::from(bytes), None);
    }
    if HELD.fetch_add(1, Ordering::Relaxed) >= max_held() {
        HELD.fetch_sub(1, Ordering::Relaxed);
        return (Bytes::from(bytes), None);
    }
    let start = bytes.as_ptr().addr();
    let file = Arc::new(file);
    let region = Region { len: bytes.len(), file: file.clone() };
    REGIONS.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(start, region);
    (Bytes::from_owner(Owner { bytes, start }), Some(file))
}

/// The file and offset holding `buf`, if `buf` lies inside a registered range.
#[cfg_attr(any(not(target_os = "linux"), pixstore_portable), allow(dead_code))]
fn lookup(buf: &[u8]) -> Option<(Arc<File>, u64)> {
    let at = buf.as_ptr().addr();
    let regions = REGIONS.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (start, region) = regions.range(..=at).next_back()?;
    let offset = at - start;
    (offset.checked_add(buf.len())? <= region.len)
        .then(|| (region.file.clone(), u64::try_from(offset).unwrap_or(u64::MAX)))
}

/// The IO of a plain TCP connection: reads and writes the stream, and sends buffers that are
/// views of held files with `sendfile` (see the module documentation).
#[derive(Debug)]
pub struct FileSend {
    stream: TcpStream,
}

impl FileSend {
    /// Wraps an accepted stream.
    pub fn new(stream: TcpStream) -> FileSend {
        FileSend { stream }
    }

    /// Writes `prefix` (with `MSG_MORE`), then `body` from `file` at `offset`; the count covers
    /// both, as one `writev` would.
    #[cfg(all(target_os = "linux", not(pixstore_portable)))]
    fn send(
        &self,
        prefix: &[std::io::IoSlice<'_>],
        body: &[u8],
        file: &File,
        mut offset: u64,
    ) -> std::io::Result<usize> {
        use rustix::net::SendFlags;
        let mut sent = 0;
        if !prefix.is_empty() {
            let want: usize = prefix.iter().map(|s| s.len()).sum();
            sent = rustix::net::sendmsg(&self.stream, prefix, &mut Default::default(), SendFlags::MORE)?;
            if sent < want {
                return Ok(sent);
            }
        }
        let from_file = match rustix::fs::sendfile(&self.stream, file, Some(&mut offset), body.len()) {
            Ok(0) => None, // the file is shorter than it was: send from memory
            Ok(n) => Some(Ok(n)),
            Err(rustix::io::Errno::AGAIN) => Some(Err(std::io::ErrorKind::WouldBlock.into())),
            Err(_) => None, // the file cannot be sent; if the socket failed, the send below says so
        };
        let r = match from_file {
            Some(Ok(n)) => {
                SENT_FROM_FILES.inc_by(u64::try_from(n).unwrap_or(u64::MAX));
                Ok(n)
            }
            Some(Err(e)) => Err(e),
            None => rustix::net::send(&self.stream, body, SendFlags::empty()).map_err(std::io::Error::from),
        };
        match r {
            Ok(n) => Ok(sent + n),
            // The prefix went out: report it; the error comes back on the next write.
            Err(_) if sent > 0 => Ok(sent),
            Err(e) => Err(e),
        }
    }
}

impl AsyncRead for FileSend {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for FileSend {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let one = [std::io::IoSlice::new(buf)];
        if let Some(r) = self.as_mut().poll_from_file(cx, &one) {
            return r;
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if let Some(r) = self.as_mut().poll_from_file(cx, bufs) {
            return r;
        }
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl FileSend {
    /// The write of `bufs` when one of them is a view of a held file (`None`: write them as
    /// usual). Only the buffers up to and including that one are written.
    fn poll_from_file(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Option<Poll<std::io::Result<usize>>> {
        #[cfg(all(target_os = "linux", not(pixstore_portable)))]
        {
            let (at, file, offset) = bufs
                .iter()
                .enumerate()
                .filter(|(_, b)| b.len() >= MIN_LEN)
                .find_map(|(i, b)| lookup(b).map(|(f, o)| (i, f, o)))?;
            let (prefix, body) = (bufs.get(..at)?, bufs.get(at)?);
            loop {
                match self.stream.poll_write_ready(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(e)) => return Some(Poll::Ready(Err(e))),
                    Poll::Pending => return Some(Poll::Pending),
                }
                let r = self.stream.try_io(tokio::io::Interest::WRITABLE, || self.send(prefix, body, &file, offset));
                match r {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    r => return Some(Poll::Ready(r)),
                }
            }
        }
        #[cfg(any(not(target_os = "linux"), pixstore_portable))]
        {
            let _ = (self, cx, bufs);
            None
        }
    }
}

// The tests prove the Linux path (elsewhere there is none: buffers are written as they are).
#[cfg(all(test, target_os = "linux", not(pixstore_portable)))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use std::io::Write as _;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    fn pattern(len: usize, salt: u8) -> Vec<u8> {
        (0..len).map(|i| u8::try_from(i % 251).unwrap() ^ salt).collect()
    }

    /// A registered buffer whose file holds `on_disk` while memory holds `in_memory`: which one a
    /// reader gets shows which path sent it.
    fn backed(in_memory: Vec<u8>, on_disk: &[u8]) -> (Bytes, tempfile::NamedTempFile) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(on_disk).unwrap();
        let file = File::open(f.path()).unwrap();
        (file_backed(in_memory, file).0, f)
    }

    async fn pair() -> (FileSend, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (FileSend::new(server), client)
    }

    /// Writes `parts` as hyper does (vectored, advancing over partial writes) and returns what
    /// the reader got.
    async fn transfer(mut io: FileSend, mut reader: TcpStream, parts: Vec<Bytes>, slow: bool) -> Vec<u8> {
        let total: usize = parts.iter().map(Bytes::len).sum();
        let read = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut chunk = vec![0; 4096];
            while got.len() < total {
                if slow {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                let n = reader.read(&mut chunk).await.unwrap();
                assert!(n > 0, "the connection ended after {} of {total} bytes", got.len());
                got.extend_from_slice(&chunk[..n]);
            }
            got
        });
        let mut parts: Vec<Bytes> = parts;
        while parts.iter().any(|p| !p.is_empty()) {
            let slices: Vec<std::io::IoSlice<'_>> = parts.iter().map(|p| std::io::IoSlice::new(p)).collect();
            let mut n = std::future::poll_fn(|cx| Pin::new(&mut io).poll_write_vectored(cx, &slices)).await.unwrap();
            assert!(n > 0, "a write made no progress (hyper would fail with WriteZero)");
            drop(slices);
            for p in &mut parts {
                let k = n.min(p.len());
                let _ = p.split_to(k);
                n -= k;
            }
        }
        io.flush().await.unwrap();
        read.await.unwrap()
    }

    #[tokio::test]
    async fn a_view_of_a_held_file_is_sent_from_the_file() {
        let (bytes, _f) = backed(pattern(200_000, 0), &pattern(200_000, 0x55));
        let before = SENT_FROM_FILES.get();
        let (io, reader) = pair().await;
        let head = Bytes::from_static(b"HTTP/1.1 200 OK\r\n\r\n");
        let view = bytes.slice(1000..150_000);
        let got = transfer(io, reader, vec![head.clone(), view], false).await;
        // The disk's bytes arrived, at the view's offset: the file was sent, not the memory.
        assert_eq!(&got[..head.len()], &head[..]);
        assert_eq!(&got[head.len()..], &pattern(200_000, 0x55)[1000..150_000]);
        assert!(SENT_FROM_FILES.get() - before >= 149_000);
    }

    #[tokio::test]
    async fn partial_writes_to_a_slow_reader_resume_at_the_right_offset() {
        let data = pattern(600_000, 7);
        let (bytes, _f) = backed(data.clone(), &data);
        let (io, reader) = pair().await;
        rustix::net::sockopt::set_socket_send_buffer_size(&io.stream, 8192).unwrap();
        let got =
            transfer(io, reader, vec![Bytes::from_static(b"x"), bytes.clone(), Bytes::from_static(b"end")], true).await;
        assert_eq!(got.len(), 600_004);
        assert_eq!(got[0], b'x');
        assert!(got[1..600_001] == data[..], "the body differs from the stored bytes");
        assert_eq!(&got[600_001..], b"end");
    }

    #[tokio::test]
    async fn a_truncated_file_is_sent_from_memory() {
        let data = pattern(100_000, 3);
        let (bytes, f) = backed(data.clone(), &data);
        f.as_file().set_len(10).unwrap();
        let (io, reader) = pair().await;
        let got = transfer(io, reader, vec![bytes.slice(50..)], false).await;
        assert!(got == data[50..], "a reader must get the announced bytes");
    }

    #[test]
    fn small_buffers_and_other_memory_are_not_file_backed() {
        let small = pattern(MIN_LEN - 1, 0);
        let (bytes, _f) = backed(small, b"");
        assert!(lookup(&bytes).is_none());
        let plain = Bytes::from(pattern(100_000, 0));
        assert!(lookup(&plain).is_none());
        let (big, _g) = backed(pattern(100_000, 0), b"");
        assert_eq!(lookup(&big.slice(10..20)).map(|(_, o)| o), Some(10));
        let start = big.as_ptr().addr();
        drop(big);
        // Unregistered once the last view is gone.
        assert!(REGIONS.read().unwrap().get(&start).is_none());
    }
}
