//! What the Pixstore crates' integration tests share, written once: image fixtures
//! ([`images`]), the reference server in process ([`TestServer`]: [`file_config`]'s test
//! defaults, which a test adjusts) and as a process ([`process`]: `serve --print-addresses`, the
//! other commands),
//! what a test checks an answer with ([`open`], [`files`], [`raw_get`]) and bounded waits
//! ([`eventually`], [`eventually_async`]).
//!
//! A dev-dependency only (`publish = false`): every helper panics with a message on failure,
//! which is what a test wants.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc
)]

pub mod images;
pub mod process;
mod server;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use images::{jpeg, png, webp};
use proto::envelope::{self, Ring};
use proto::record::ImageRecord;
use proto::wire::{Payload, PayloadRef};
pub use server::{file_config, TestServer};

/// Decodes a payload and decrypts it with the record's meta (Success) or the payload's
/// (Updated): the image bytes and the token of the version.
pub fn open(record: &ImageRecord, body: &[u8]) -> Result<(Vec<u8>, u64), String> {
    let p = PayloadRef::decode(body).map_err(|e| e.to_string())?;
    let (meta, token) = match &p {
        Payload::Success { .. } => (record.meta, record.token.get()),
        Payload::Updated { meta, token, .. } => (*meta, token.get()),
        other => return Err(format!("state {}", other.state())),
    };
    let ct = p.ciphertext().ok_or("no ciphertext")?;
    let o = envelope::open(&Ring, &meta.key, &meta.iv, &meta.tag, ct).map_err(|e| e.to_string())?;
    Ok((o.image().to_vec(), token))
}

/// Every regular file under `dir` with its content, sorted by path (what is stored, to compare
/// before and after).
pub fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push((e.path(), std::fs::read(e.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Waits until `f` holds, polling every 100 ms; panics naming `what` after `secs` seconds.
/// Bounds are generous (a loaded 2-core machine), never a timing assertion.
pub fn eventually(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not after {secs} s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// [`eventually`] for a condition that awaits: polls `f` every 100 ms until it gives `Ok`, and
/// returns that; panics naming `what` and the last `Err` after `secs` seconds.
pub async fn eventually_async<T, E: std::fmt::Debug, F: Future<Output = Result<T, E>>>(
    secs: u64,
    what: &str,
    mut f: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) => assert!(Instant::now() < deadline, "{what}: not after {secs} s; last: {e:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One HTTP/1.1 request with the target exactly as given (URL libraries normalise `..` and
/// `%2e%2e`, which is what an attacker would not do). Returns status and body.
pub async fn raw_get(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> (u16, Vec<u8>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    stream.read_to_end(&mut resp).await.unwrap();
    let split = resp.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete HTTP response");
    let head = String::from_utf8_lossy(&resp[..split]).to_string();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    // Bodies here are short and sent with Content-Length (never chunked).
    (status, resp[split + 4..].to_vec())
}

/// `main` of a test target with `harness = false` that is one long test (the suite's mutation
/// and broken-client self-tests): answers libtest's `--list` (what `cargo test --workspace`
/// asks every test binary), runs `test` on a multi-threaded runtime, and prints libtest's summary
/// line. `Ok(false)` is a failure the test has reported itself; `Err` is why it could not run.
pub fn single_test_main<F: Future<Output = Result<bool, String>>>(
    name: &str,
    test: impl FnOnce() -> F,
) -> std::process::ExitCode {
    use std::process::ExitCode;
    // libtest's flags (--list for listings, filters) are not the test's.
    if std::env::args().any(|a| a == "--list") {
        println!("{name}: test\n\n1 test, 0 benchmarks");
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(test()) {
        Ok(true) => {
            println!("1 passed, 0 failed");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!("0 passed, 1 failed");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{name}: could not run: {e}");
            ExitCode::FAILURE
        }
    }
}
