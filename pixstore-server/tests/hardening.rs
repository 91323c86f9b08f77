//! The HTTP layer against hostile and sloppy clients, in process: request framing (RFC 9112
//! §6.1, §3.2), timeouts, HTTP/2 with prior knowledge, TLS with ALPN and certificate reload,
//! the ops listener, and what a delete leaves behind.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc, clippy::as_conversions)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{open, png, TestServer};
use proto::wire::State;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Sends `request` as it is, reads until the server closes (bounded by 20 s); the response.
async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut out))
        .await
        .expect("the server must close the connection after its answer")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

// RFC 9112 §6.1 (request smuggling): Content-Length with Transfer-Encoding, in either order, is
// answered 400 with the endpoint's headers (HTTP-5, HTTP-6) and the connection closes, also
// after an earlier request on the same connection; the server keeps serving.
#[tokio::test]
async fn content_length_with_transfer_encoding_is_400_and_close() {
    let s = TestServer::start().await;
    let record = s.create(&png(500, 1)).await;
    let target = proto::client::request_target("/pixstore-image", &record.id);
    for both in [
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        "transfer-encoding: gzip, chunked\r\ncontent-length: 0\r\n",
    ] {
        let req = format!(
            "GET {target} HTTP/1.1\r\nHost: x\r\n\r\nGET {target} HTTP/1.1\r\nHost: x\r\n{both}\r\n0\r\n\r\nGET {target} HTTP/1.1\r\nHost: x\r\n\r\n"
        );
        let r = exchange(s.endpoint, req.as_bytes()).await;
        let answers = r.matches("HTTP/1.1 ").count();
        assert_eq!(answers, 2, "the first request is answered, the second refused, the third never read: {r}");
        let second = &r[r.rfind("HTTP/1.1 ").unwrap()..];
        assert!(second.starts_with("HTTP/1.1 400"), "{both}: {second}");
        assert_eq!(header(second, "connection"), Some("close"));
        assert_eq!(header(second, "cache-control"), Some("no-store"));
        assert_eq!(header(second, "access-control-allow-origin"), Some("*"));
    }
    // The control interface refuses the same way, with a CTRL-6 JSON error.
    let r = exchange(
        s.control,
        b"POST /images HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    assert!(r.contains("\"error\""), "{r}");
    // And serving goes on.
    let body = s.fetch(&record, None).await.bytes().await.unwrap();
    assert_eq!(body[0], State::Updated.byte());
    s.shutdown().await;
}

// RFC 9112 §3.2: an HTTP/1.1 request without Host is 400 (with the endpoint's headers) and
// closes; HTTP/1.0 needs none.
#[tokio::test]
async fn http11_without_host_is_400() {
    let s = TestServer::start().await;
    let r = exchange(s.endpoint, b"GET /pixstore-image HTTP/1.1\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    assert_eq!(header(&r, "cache-control"), Some("no-store"));
    assert_eq!(header(&r, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(&r, "connection"), Some("close"));
    let r = exchange(s.endpoint, b"GET /pixstore-image HTTP/1.0\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.0 200"), "{r}");
    assert!(r.ends_with('\u{3}'), "MissingID: {r:?}");
    s.shutdown().await;
}

/// A request head with `n` header fields: Host, `Connection: close` and `n - 2` others.
fn head_with_fields(target: &str, n: usize) -> String {
    let mut head = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for i in 2..n {
        head.push_str(&format!("X-F{i}: v\r\n"));
    }
    head + "\r\n"
}

// The header count limit: at the default (100, hyper's own limit, where hyper is left
// unconfigured) and at a configured one, a head at the limit is served and one with a field
// more is 431.
#[tokio::test]
async fn heads_with_more_fields_than_the_limit_are_431() {
    for (limit, configured) in [(100, None), (12, Some(12))] {
        let s = TestServer::start_with(move |mut f| {
            f.max_headers = configured;
            f
        })
        .await;
        let record = s.create(&png(500, 1)).await;
        let target = proto::client::request_target("/pixstore-image", &record.id);
        let r = exchange(s.endpoint, head_with_fields(&target, limit).as_bytes()).await;
        assert!(r.starts_with("HTTP/1.1 200"), "limit {limit}, {limit} fields: {r}");
        let r = exchange(s.endpoint, head_with_fields(&target, limit + 1).as_bytes()).await;
        assert!(r.starts_with("HTTP/1.1 431"), "limit {limit}, {} fields: {r}", limit + 1);
        s.shutdown().await;
    }
}

fn with_timeouts(
    header_ms: u64,
    idle_ms: u64,
) -> impl FnOnce(pixstore_server::config::FileConfig) -> pixstore_server::config::FileConfig {
    move |mut f| {
        f.header_read_timeout_ms = Some(header_ms);
        f.idle_timeout_ms = Some(idle_ms);
        f
    }
}

/// Waits (up to 20 s) for the server to close `stream`; how long that took from `since`.
async fn closed_after(stream: &mut tokio::net::TcpStream, since: Instant) -> Duration {
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return since.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("still open after 20 s"),
        }
    }
}

// Slowloris: a head that trickles in is cut at the header read timeout counted from its first
// byte, however steadily bytes arrive; a silent connection too. Lower bounds are exact (the
// server cannot close early); upper bounds are generous for a loaded machine.
#[tokio::test]
async fn slow_heads_and_silent_connections_are_closed() {
    let s = TestServer::start_with(with_timeouts(700, 60_000)).await;
    // Silent.
    let started = Instant::now();
    let mut silent = tokio::net::TcpStream::connect(s.endpoint).await.unwrap();
    let took = closed_after(&mut silent, started).await;
    assert!(took >= Duration::from_millis(650), "closed after {took:?}");
    // One header byte every 100 ms (the 2,000-connection audit sent one every 3 s).
    let mut slow = tokio::net::TcpStream::connect(s.endpoint).await.unwrap();
    let started = Instant::now();
    let head = b"GET /pixstore-image HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut sent = 0;
    for b in head {
        if slow.write_all(&[*b]).await.is_err() {
            break;
        }
        sent += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
        if started.elapsed() > Duration::from_secs(20) {
            panic!("a trickling head was not cut after 20 s");
        }
    }
    let took = closed_after(&mut slow, started).await;
    assert!(took >= Duration::from_millis(650), "closed after {took:?}");
    assert!(sent < head.len(), "the whole trickled head was accepted");
    // A normal request still works.
    assert_eq!(common::raw_get(s.endpoint, "/pixstore-image", &[]).await, (200, vec![3]));
    s.shutdown().await;
}

// An idle keep-alive connection is closed after the idle timeout (and not before), while one
// that keeps making requests stays open.
#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let s = TestServer::start_with(with_timeouts(10_000, 1500)).await;
    let mut c = tokio::net::TcpStream::connect(s.endpoint).await.unwrap();
    let mut idle_from = Instant::now();
    for _ in 0..5 {
        // Requests 100 ms apart keep the connection open (each is under the idle timeout).
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.write_all(b"GET /pixstore-image HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(20), c.read(&mut buf)).await.unwrap().unwrap();
        idle_from = Instant::now();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    }
    let took = closed_after(&mut c, idle_from).await;
    assert!(took >= Duration::from_millis(1450), "closed after {took:?}");
    s.shutdown().await;
}

// HTTP/2 with prior knowledge (h2c) in plain text.
#[tokio::test]
async fn http2_with_prior_knowledge() {
    let s = TestServer::start().await;
    let image = png(20_000, 2);
    let record = s.create(&image).await;
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    for token in [None, Some(record.token.get())] {
        let mut req = h2.get(s.image_url(&record.id)).header("x-pixstore-proof", &record.stateless_proof);
        if let Some(t) = token {
            req = req.header("x-pixstore-token", t.to_string());
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.version(), reqwest::Version::HTTP_2);
        assert_eq!(r.headers()["cache-control"], "no-store");
        let body = r.bytes().await.unwrap();
        assert_eq!(open(&record, &body).unwrap().0, image);
    }
    s.shutdown().await;
}

struct Cert {
    pem: String,
}

fn write_cert(dir: &Path, name: &str) -> Cert {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.join(format!("{name}.crt")), c.cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), c.key_pair.serialize_pem()).unwrap();
    Cert { pem: c.cert.pem() }
}

fn tls_client(cert: &Cert, addrs: &[SocketAddr], http1: bool) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert.pem.as_bytes()).unwrap())
        .timeout(Duration::from_secs(20));
    for a in addrs {
        b = b.resolve("localhost", *a);
    }
    if http1 {
        b = b.http1_only();
    }
    b.build().unwrap()
}

// TLS: HTTP/2 and HTTP/1.1 by ALPN, the control interface over TLS too, and a new certificate
// written over the files is served without a restart.
#[tokio::test]
async fn tls_with_alpn_and_certificate_reload() {
    let certs = tempfile::tempdir().unwrap();
    let first = write_cert(certs.path(), "a");
    let (crt, key) = (certs.path().join("tls.crt"), certs.path().join("tls.key"));
    std::fs::copy(certs.path().join("a.crt"), &crt).unwrap();
    std::fs::copy(certs.path().join("a.key"), &key).unwrap();
    let (c, k) = (crt.clone(), key.clone());
    let s = TestServer::start_with(move |mut f| {
        f.tls_cert = Some(c);
        f.tls_key = Some(k);
        f.control_tls = Some(true);
        f
    })
    .await;
    let image = png(3000, 3);
    // The control interface speaks TLS: create through it.
    let control = tls_client(&first, &[s.control], false);
    let r = control
        .post(format!("https://localhost:{}/images", s.control.port()))
        .body(image.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let record = proto::record::ImageRecord::from_json(&r.bytes().await.unwrap()).unwrap();
    let url = format!(
        "https://localhost:{}{}",
        s.endpoint.port(),
        proto::client::request_target("/pixstore-image", &record.id)
    );
    for (http1, version) in [(false, reqwest::Version::HTTP_2), (true, reqwest::Version::HTTP_11)] {
        let r = tls_client(&first, &[s.endpoint], http1)
            .get(&url)
            .header("x-pixstore-proof", &record.stateless_proof)
            .send()
            .await
            .unwrap();
        assert_eq!(r.version(), version);
        assert_eq!(open(&record, &r.bytes().await.unwrap()).unwrap().0, image);
    }
    // Plain HTTP on the TLS port gets nothing useful.
    assert!(reqwest::get(format!("http://{}/pixstore-image", s.endpoint)).await.is_err());

    // Reload: a second certificate over the same files; a client trusting only it connects
    // within a few seconds (the files are checked every second).
    let second = write_cert(certs.path(), "b");
    let client = tls_client(&second, &[s.endpoint], false);
    assert!(client.get(&url).send().await.is_err(), "the second certificate is not in use yet");
    std::fs::copy(certs.path().join("b.key"), &key).unwrap();
    std::fs::copy(certs.path().join("b.crt"), &crt).unwrap();
    let r = test_support::eventually_async(30, "the new certificate served", || {
        client.get(&url).header("x-pixstore-proof", &record.stateless_proof).send()
    })
    .await;
    assert_eq!(r.status(), 200);
    s.shutdown().await;
}

// The ops listener: liveness, readiness (a store that cannot be reached is not ready), and the
// metrics of what was served.
#[tokio::test]
async fn ops_metrics_and_health() {
    let s = TestServer::start().await;
    let ops = s.running.as_ref().unwrap().ops.unwrap();
    let record = s.create(&png(1000, 4)).await;
    // Two Success and one Updated, on one keep-alive connection (the client's pool): each of
    // the two is counted under its own labels by the connection's cached counters.
    for _ in 0..2 {
        let body = s.fetch(&record, Some(record.token.get())).await.bytes().await.unwrap();
        assert_eq!(body[0], State::Success.byte());
    }
    s.fetch(&record, None).await.bytes().await.unwrap();
    let mut bad = record.clone();
    bad.stateless_proof = "AAAA".into();
    assert_eq!(s.fetch(&bad, None).await.bytes().await.unwrap().as_ref(), [5]);
    let get = |path: &str| s.client.get(format!("http://{ops}{path}")).send();
    assert_eq!(get("/livez").await.unwrap().status(), 200);
    assert_eq!(get("/readyz").await.unwrap().status(), 200);
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    for line in [
        "pixstore_requests_total{listener=\"endpoint\",status=\"200\",state=\"Success\"} 2",
        "pixstore_requests_total{listener=\"endpoint\",status=\"200\",state=\"Updated\"} 1",
        "pixstore_requests_total{listener=\"endpoint\",status=\"200\",state=\"InvalidProof\"} 1",
        "pixstore_requests_total{listener=\"control\",status=\"201\",state=\"-\"} 1",
        "pixstore_proof_failures_total{kind=\"Malformed\"} 1",
        "pixstore_open_connections{listener=\"ops\"} 1",
        "pixstore_store_errors_total 0",
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
    assert!(metrics.contains("pixstore_request_duration_seconds_bucket{"), "{metrics}");
    assert!(metrics.contains("pixstore_cache_hits_total") && metrics.contains("pixstore_cache_misses_total"));
    let sent = metrics
        .lines()
        .find(|l| l.starts_with("pixstore_response_body_bytes_total{listener=\"endpoint\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap();
    assert!(sent >= 3 * 1000, "{sent}");
    // A store that cannot be reached: not ready, with the reason.
    let images = s.data().join("images");
    std::fs::rename(&images, s.data().join("moved")).unwrap();
    let r = get("/readyz").await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.text().await.unwrap().contains("store"));
    std::fs::rename(s.data().join("moved"), &images).unwrap();
    assert_eq!(get("/readyz").await.unwrap().status(), 200);
    s.shutdown().await;
}

/// Every file and folder under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            out.push(e.path().strip_prefix(dir).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
    out.sort();
    out
}

// Hygiene: 300 create/delete cycles (with and without a dir prefix) leave nothing per id: no
// lock file, no empty dir: folder; only the fixed set of lock stripes.
#[tokio::test]
async fn create_delete_cycles_leave_nothing_behind() {
    let s = TestServer::start().await;
    let service = s.running.as_ref().unwrap().service.clone();
    let image = png(300, 5);
    for i in 0..300 {
        let dir = format!("cycle{}", i % 7);
        let r = service.save(&image, (i % 2 == 0).then_some(dir.as_str())).await.unwrap();
        assert!(service.delete(&r.id).await.unwrap());
    }
    let left = tree(&s.data().join("images"));
    let stray = left
        .iter()
        .filter(|p| !matches!(p.as_str(), "n" | "d" | ".locks") && !p.starts_with(".locks/"))
        .collect::<Vec<_>>();
    assert!(stray.is_empty(), "left behind: {stray:?}");
    let locks = left.iter().filter(|p| p.starts_with(".locks/")).count();
    assert!(locks <= pixstore_server::store::LOCK_STRIPES as usize, "{locks} lock files");
    s.shutdown().await;
}

// Writers in a dir: folder stay correct while deletes of its other images remove and recreate
// the folder underneath them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_survive_their_folder_being_removed() {
    let s = TestServer::start().await;
    let service = s.running.as_ref().unwrap().service.clone();
    let image = png(300, 6);
    let mut tasks = Vec::new();
    for w in 0..4 {
        let service = service.clone();
        let image = image.clone();
        tasks.push(tokio::spawn(async move {
            let mut kept = Vec::new();
            for i in 0..60 {
                let r = service.save(&image, Some("shared")).await.unwrap();
                if (i + w) % 3 == 0 {
                    kept.push(r);
                } else {
                    assert!(service.delete(&r.id).await.unwrap());
                }
            }
            kept
        }));
    }
    for t in tasks {
        for r in t.await.unwrap() {
            let body = s.fetch(&r, None).await.bytes().await.unwrap();
            assert_eq!(open(&r, &body).unwrap().0, image);
        }
    }
    s.shutdown().await;
}

// A HEAD answer carries no body on HTTP/2 either (hyper drops it only on HTTP/1.1): DATA after
// a HEAD is a protocol error that a client reports instead of the 405 or 404.
#[tokio::test]
async fn head_over_http2_has_no_body() {
    let s = TestServer::start().await;
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    for (path, status) in [("/pixstore-image/abc", 405), ("/pixstore-image/a/b", 404)] {
        let r = h2.head(s.url(path)).send().await.unwrap();
        assert_eq!((r.version(), r.status().as_u16()), (reqwest::Version::HTTP_2, status), "{path}");
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert!(r.bytes().await.unwrap().is_empty());
    }
    s.shutdown().await;
}
