//! The default endpoint over real HTTP on 127.0.0.1 (spec §9, §10).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc, clippy::as_conversions)]

mod common;

use common::{open, png, snapshot, TestServer};
use proto::wire::State;

fn state(body: &[u8]) -> Option<State> {
    pixstore_server::endpoint::state_of(body)
}

async fn get(s: &TestServer, raw_path: &str, headers: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = s.client.get(s.url(raw_path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.bytes().await.unwrap().to_vec())
}

fn assert_wire_headers(h: &reqwest::header::HeaderMap, len: usize) {
    // HTTP-4, HTTP-5, HTTP-6
    assert_eq!(h["content-type"], "application/octet-stream");
    assert_one_content_length(h, len);
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["access-control-allow-origin"], "*");
}

/// Exactly one `Content-Length`, with the body's length (the endpoint's header templates carry
/// a placeholder that each response replaces).
fn assert_one_content_length(h: &reqwest::header::HeaderMap, len: usize) {
    let values: Vec<_> = h.get_all("content-length").iter().collect();
    assert_eq!(values, [len.to_string().as_str()], "{h:?}");
}

// SERVE-1, SERVE-2, SERVE-4, HTTP-3, HTTP-4, WIRE-2, WIRE-3, WIRE-4: every state of the spec.
#[tokio::test]
async fn every_state_through_the_default_endpoint() {
    let s = TestServer::start().await;
    let image = png(3000, 1);
    let record = s.create(&image).await;
    let token = record.token.get();

    // Success: the record's token is current.
    let r = s.fetch(&record, Some(token)).await;
    let h = r.headers().clone();
    let body = r.bytes().await.unwrap();
    assert_eq!(state(&body), Some(State::Success));
    assert_wire_headers(&h, body.len());
    assert_eq!(open(&record, &body).unwrap(), (image.clone(), token));

    // Updated: no token, a stale token, an unparseable token (TOKEN-6).
    for t in [None, Some(token - 1)] {
        let body = s.fetch(&record, t).await.bytes().await.unwrap();
        assert_eq!(state(&body), Some(State::Updated));
        assert_eq!(open(&record, &body).unwrap(), (image.clone(), token));
    }
    let (_, _, body) = get(
        &s,
        &format!("/pixstore-image/{}", record.id.replace(':', "%3A")),
        &[("x-pixstore-proof", &record.stateless_proof), ("x-pixstore-token", "0x1a")],
    )
    .await;
    assert_eq!(state(&body), Some(State::Updated));

    // MissingProof, InvalidProof (tampered, and another image's proof).
    let (status, h, body) = get(&s, &format!("/pixstore-image/{}", record.id), &[]).await;
    assert_eq!((status, body.as_slice()), (200, &[4u8][..]));
    assert_wire_headers(&h, 1);
    let mut tampered = record.stateless_proof.clone().into_bytes();
    tampered[39] = if tampered[39] == b'A' { b'B' } else { b'A' };
    let (_, _, body) = get(
        &s,
        &format!("/pixstore-image/{}", record.id),
        &[("x-pixstore-proof", std::str::from_utf8(&tampered).unwrap())],
    )
    .await;
    assert_eq!(body, [5]);
    let other = s.create(&png(100, 2)).await;
    let (_, _, body) =
        get(&s, &format!("/pixstore-image/{}", record.id), &[("x-pixstore-proof", &other.stateless_proof)]).await;
    assert_eq!(body, [5]);

    // MissingID: the bare route.
    for path in ["/pixstore-image", "/pixstore-image/"] {
        let (status, h, body) = get(&s, path, &[]).await;
        assert_eq!((status, body.as_slice()), (200, &[3u8][..]));
        assert_wire_headers(&h, 1);
    }

    // NotFound: a valid proof for an image that was deleted.
    let r = s.client.delete(format!("http://{}/images/{}", s.control, other.id)).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let body = s.fetch(&other, None).await.bytes().await.unwrap();
    assert_eq!(body.as_ref(), [2]);

    // InternalError: the stored file is damaged; the detail stays in the log (SERVE-4).
    let path = s.running.as_ref().unwrap().service.store().fs().unwrap().path_of(&record.id).unwrap();
    std::fs::write(&path, b"not a payload").unwrap();
    let body = s.fetch(&record, None).await.bytes().await.unwrap();
    assert_eq!(body.as_ref(), [6]);
    s.shutdown().await;
}

// HTTP-5, HTTP-6, HTTP-7, HTTP-8, HTTP-10
#[tokio::test]
async fn cors_preflight_methods_and_paths() {
    let s = TestServer::start_with(|mut f| {
        f.access_control_allow_origin = Some("https://app.example".into());
        f
    })
    .await;
    let r = s.client.request(reqwest::Method::OPTIONS, s.url("/pixstore-image/abc")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    assert_eq!(h["vary"], "Origin");
    assert_eq!(h["access-control-allow-methods"], "GET, OPTIONS");
    let allowed = h["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(allowed.contains("x-pixstore-proof") && allowed.contains("x-pixstore-token"));
    assert_eq!(h["access-control-max-age"], "600");
    assert_eq!(h["cache-control"], "no-store");
    // RFC 9110 §8.6: no Content-Length on a 204.
    assert!(h.get("content-length").is_none(), "{h:?}");
    for method in [
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
        reqwest::Method::PATCH,
        reqwest::Method::HEAD,
    ] {
        let r = s.client.request(method.clone(), s.url("/pixstore-image/abc")).send().await.unwrap();
        assert_eq!(r.status(), 405, "{method}");
        assert_eq!(r.headers()["allow"], "GET, OPTIONS");
        assert_eq!(r.headers()["cache-control"], "no-store");
        let h = r.headers().clone();
        assert_one_content_length(&h, r.bytes().await.unwrap().len());
    }
    for path in ["/", "/other", "/pixstore-image/a/b", "/pixstore-image/a/", "/pixstore-imageX/a"] {
        let (status, h, body) = get(&s, path, &[]).await;
        assert_eq!(status, 404, "{path}");
        assert_one_content_length(&h, body.len());
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(h["access-control-allow-origin"], "https://app.example");
    }
    s.shutdown().await;
}

// HTTP-2, HTTP-9, HTTP-11, HTTP-12, ID-4, SERVE-5, TOKEN-6: bad inputs get a defined answer,
// the server keeps serving, and nothing stored changes.
#[tokio::test]
async fn bad_inputs_keep_the_server_serving_and_change_nothing() {
    let s = TestServer::start().await;
    let image = png(500, 3);
    let record = s.create(&image).await;
    let before = snapshot(&s.data().join("images"));
    let p = record.stateless_proof.clone();
    let long_id = "a".repeat(10_000);
    // (raw target, headers, expected status, expected first body byte)
    type Case<'a> = (String, Vec<(&'a str, &'a str)>, u16, Option<u8>);
    let cases: Vec<Case<'_>> = vec![
        ("/pixstore-image/%E0%A4%A".into(), vec![], 200, Some(4)),
        ("/pixstore-image/%E0%A4%A".into(), vec![("x-pixstore-proof", &p)], 200, Some(5)),
        ("/pixstore-image/%FF".into(), vec![("x-pixstore-proof", &p)], 200, Some(5)),
        ("/pixstore-image/%".into(), vec![("x-pixstore-proof", &p)], 200, Some(5)),
        ("/pixstore-image/..".into(), vec![("x-pixstore-proof", &p)], 200, Some(5)),
        ("/pixstore-image/..%2F..%2Fetc%2Fpasswd".into(), vec![("x-pixstore-proof", &p)], 200, Some(5)),
        ("/pixstore-image/a%00b".into(), vec![("x-pixstore-proof", &p)], 200, Some(5)),
        ("/pixstore-image/../etc".into(), vec![], 404, None),
        ("/pixstore-image/%2e%2e".into(), vec![("x-pixstore-proof", &p)], 200, Some(5)),
        (format!("/pixstore-image/{long_id}"), vec![("x-pixstore-proof", &p)], 414, None),
        (format!("/pixstore-image/{}", &long_id[..5000]), vec![("x-pixstore-proof", &p)], 200, Some(5)),
        // A query string is not part of the id (HTTP-9): this is the real image.
        (
            format!("/pixstore-image/{}?v=2&token=x", record.id.replace(':', "%3A")),
            vec![("x-pixstore-proof", &p)],
            200,
            Some(1),
        ),
        (
            format!("/pixstore-image/{}", record.id),
            vec![("x-pixstore-proof", &p), ("x-pixstore-token", "-1")],
            200,
            Some(1),
        ),
        (
            format!("/pixstore-image/{}", record.id),
            vec![("x-pixstore-proof", &p), ("x-pixstore-token", "99999999999999999999")],
            200,
            Some(1),
        ),
        (format!("/pixstore-image/{}", record.id), vec![("x-pixstore-proof", "")], 200, Some(4)),
        (format!("/pixstore-image/{}", record.id), vec![("x-pixstore-proof", "not-base64!")], 200, Some(5)),
    ];
    for (path, headers, status, first) in &cases {
        let (got_status, body) = common::raw_get(s.endpoint, path, headers).await;
        assert_eq!(got_status, *status, "{path}");
        if let Some(b) = first {
            assert_eq!(body.first(), Some(b), "{path}");
        }
    }
    // Duplicate headers (HTTP-11): two proofs are InvalidProof, two tokens are no token.
    let url = s.image_url(&record.id);
    let r = s.client.get(&url).header("x-pixstore-proof", &p).header("x-pixstore-proof", &p).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), [5]);
    let t = record.token.to_string();
    let r = s
        .client
        .get(&url)
        .header("x-pixstore-proof", &p)
        .header("x-pixstore-token", &t)
        .header("x-pixstore-token", &t)
        .send()
        .await
        .unwrap();
    assert_eq!(state(&r.bytes().await.unwrap()), Some(State::Updated));
    // Uploads that are refused: not an image, empty, too large, bad dir, unknown id.
    let post = |body: Vec<u8>, q: &str| s.client.post(format!("http://{}/images{q}", s.control)).body(body).send();
    assert_eq!(post(b"hello".to_vec(), "").await.unwrap().status(), 415);
    assert_eq!(post(Vec::new(), "").await.unwrap().status(), 415);
    assert_eq!(post(png(5 << 20, 4), "").await.unwrap().status(), 413);
    assert_eq!(post(png(100, 4), "?dir=%21%21").await.unwrap().status(), 400);
    assert_eq!(s.update("nosuch", &png(100, 5)).await.status(), 404);
    assert_eq!(s.update("../x", &png(100, 5)).await.status(), 400);
    assert_eq!(s.update(&record.id, b"GIF89a not allowed by default").await.status(), 415);
    let r = s.client.delete(format!("http://{}/images/nosuch", s.control)).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"].as_str().map(|e| !e.is_empty()), Some(true));
    // Nothing stored changed, and a normal request still works.
    let after = snapshot(&s.data().join("images"));
    let names =
        |v: &[(std::path::PathBuf, Vec<u8>)]| v.iter().map(|(p, _)| p.display().to_string()).collect::<Vec<_>>();
    assert_eq!(names(&after), names(&before));
    assert!(after == before, "stored bytes changed");
    let body = s.fetch(&record, Some(record.token.get())).await.bytes().await.unwrap();
    assert_eq!(open(&record, &body).unwrap().0, image);
    s.shutdown().await;
}

// ID-3, HTTP-2: dir prefixes and ids that need percent-encoding.
#[tokio::test]
async fn dir_prefixes_round_trip() {
    let s = TestServer::start().await;
    let image = png(700, 6);
    let r = s
        .client
        .post(format!("http://{}/images?dir=Team%20Photos", s.control))
        .body(image.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let record = proto::record::ImageRecord::from_json(&r.bytes().await.unwrap()).unwrap();
    assert!(record.id.starts_with("teamphotos:"), "{}", record.id);
    // Escaped and raw ':' are the same id.
    for path in [format!("/pixstore-image/{}", record.id), format!("/pixstore-image/{}", record.id.replace(':', "%3a"))]
    {
        let (_, _, body) = get(&s, &path, &[("x-pixstore-proof", &record.stateless_proof)]).await;
        assert_eq!(open(&record, &body).unwrap().0, image, "{path}");
    }
    s.shutdown().await;
}

// PROOF-14, SERVE-5: W = -1 needs no proof; records carry an empty proof.
#[tokio::test]
async fn disabled_proof_validation() {
    let s = TestServer::start_with(|mut f| {
        f.stateless_key_window_length = Some(-1);
        f
    })
    .await;
    let record = s.create(&png(300, 7)).await;
    assert_eq!(record.stateless_proof, "");
    let (_, _, body) = get(&s, &format!("/pixstore-image/{}", record.id), &[]).await;
    assert_eq!(state(&body), Some(State::Updated));
    let (_, body) = common::raw_get(s.endpoint, "/pixstore-image/..", &[]).await;
    assert_eq!(body, [2]);
    let info: serde_json::Value =
        s.client.get(format!("http://{}/info", s.control)).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["windowMs"], -1);
    assert_eq!(info["specVersion"], "1");
    assert_eq!(info["endpoint"], format!("http://{}/pixstore-image", s.endpoint));
    s.shutdown().await;
}

// StartError::Bind: a clear error when the port is taken.
#[tokio::test]
async fn port_taken_is_a_clear_error() {
    let s = TestServer::start().await;
    let taken = s.endpoint.port();
    let dir = tempfile::tempdir().unwrap();
    let mut f = common::file_config(dir.path());
    f.default_endpoint_listen_port = Some(i64::from(taken));
    let err = pixstore_server::start(pixstore_server::config::Config::resolve(f).unwrap()).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&taken.to_string()) && msg.contains("cannot listen"), "{msg}");
    s.shutdown().await;
}

// SERVE-1, SERVE-3, WIRE-3, WIRE-4: a large version goes out of its file (sendfile) on the
// plain listener, byte for byte, in both states and over HTTP/1.1 and h2c, and a replaced
// version is never sent from the old file.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn large_versions_are_sent_from_their_files_byte_for_byte() {
    let sent = || pixstore_server::sendfile::SENT_FROM_FILES.get();
    let s = TestServer::start().await;
    let image = png(300_000, 7);
    let record = s.create(&image).await;
    let token = record.token.get();
    for t in [Some(token), None] {
        let before = sent();
        let body = s.fetch(&record, t).await.bytes().await.unwrap();
        assert_eq!(open(&record, &body).unwrap(), (image.clone(), token));
        let from_file = sent() - before;
        // Other tests of this binary may send files too: at least this body's ciphertext.
        assert!(from_file >= 290_000, "only {from_file} bytes were sent from the file");
    }
    // HTTP/2 with prior knowledge (h2c): DATA frames of 16 KiB, each a view of the file.
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let before = sent();
    let r = h2.get(s.image_url(&record.id)).header("x-pixstore-proof", &record.stateless_proof).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    let body = r.bytes().await.unwrap();
    assert_eq!(open(&record, &body).unwrap(), (image.clone(), token));
    assert!(sent() - before >= 250_000, "HTTP/2 frames were not sent from the file");
    let newer = png(250_000, 8);
    let updated = s.update_record(&record.id, &newer).await;
    let body = s.fetch(&updated, Some(token)).await.bytes().await.unwrap();
    assert_eq!(state(&body), Some(State::Updated));
    assert_eq!(open(&updated, &body).unwrap(), (newer, updated.token.get()));
    s.shutdown().await;
}
