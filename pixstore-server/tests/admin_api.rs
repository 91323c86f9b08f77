//! The admin API (the control interface with bearer tokens, CTRL-9) and its exists route
//! (CTRL-10) over real HTTP.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc, clippy::as_conversions)]

mod common;

use common::{open, png, TestServer};
use pixstore_server::config::FileConfig;
use proto::record::ImageRecord;

const TOKEN: &str = "admin-token-0123456789";
const OTHER: &str = "second-token-abcdefghij";

fn with_tokens(f: FileConfig) -> FileConfig {
    FileConfig { admin_tokens: Some(vec![TOKEN.into(), OTHER.into()]), ..f }
}

// CTRL-9: with tokens configured, a missing or wrong token is 401 with a Bearer challenge, on
// every route (before the route is looked at); either configured token works.
#[tokio::test]
async fn wrong_missing_and_right_token() {
    let s = TestServer::start_with(with_tokens).await;
    let base = format!("http://{}", s.control);
    let image = png(900, 1);
    for (auth, status) in [
        (None, 401),
        (Some("Bearer not-the-token-at-all".to_owned()), 401),
        (Some(format!("Bearer {TOKEN}x")), 401),
        (Some(format!("Bearer {}", &TOKEN[..TOKEN.len() - 1])), 401),
        (Some(format!("Basic {TOKEN}")), 401),
        (Some(TOKEN.to_owned()), 401),
        (Some(format!("Bearer {TOKEN}")), 201),
        (Some(format!("bearer {OTHER}")), 201),
    ] {
        let mut req = s.client.post(format!("{base}/images")).body(image.clone());
        if let Some(a) = &auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), status, "{auth:?}");
        if status == 401 {
            let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
            assert!(challenge.starts_with("Bearer"), "{challenge}");
            // RFC 6750 3.1: no error code when no bearer token was presented.
            let bearer = auth.as_deref().is_some_and(|a| a.to_ascii_lowercase().starts_with("bearer "));
            assert_eq!(challenge.contains("invalid_token"), bearer, "{challenge}");
            assert!(r.json::<serde_json::Value>().await.unwrap()["error"].is_string(), "CTRL-6");
        }
    }
    // Every route is behind the token, unknown ones included (no route probing).
    for path in ["/info", "/images/x/record", "/nope", "/clock"] {
        assert_eq!(s.client.get(format!("{base}{path}")).send().await.unwrap().status(), 401, "{path}");
    }
    let info: serde_json::Value =
        s.client.get(format!("{base}/info")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    let features: Vec<&str> = info["features"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert!(features.contains(&"exists"));
    // With tokens the test clock is off unless asked for (CTRL-8 breaks real clients' proofs).
    assert!(!features.contains(&"clock"));
    assert_eq!(s.client.get(format!("{base}/clock")).bearer_auth(TOKEN).send().await.unwrap().status(), 404);
    // Nothing was stored by the refused requests: the one right request per token made two.
    s.shutdown().await;
}

// CTRL-10: exists (GET and HEAD) gives the current token without a key or proof; an app backend
// stores, checks, gets a fresh record, replaces and deletes through the API alone.
#[tokio::test]
async fn an_app_backend_through_the_admin_api() {
    let s = TestServer::start_with(with_tokens).await;
    let base = format!("http://{}", s.control);
    let image = png(1000, 2);
    let r =
        s.client.post(format!("{base}/images?dir=app")).bearer_auth(TOKEN).body(image.clone()).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let record = ImageRecord::from_json(&r.bytes().await.unwrap()).unwrap();
    let url = format!("{base}/images/{}", record.id.replace(':', "%3A"));
    let r = s.client.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body, serde_json::json!({ "id": record.id, "exists": true, "token": record.token.get() }));
    assert_eq!(s.client.head(&url).bearer_auth(TOKEN).send().await.unwrap().status(), 200);
    assert_eq!(s.client.get(&url).send().await.unwrap().status(), 401);
    let missing = format!("{base}/images/app%3Anosuch");
    assert_eq!(s.client.get(&missing).bearer_auth(TOKEN).send().await.unwrap().status(), 404);
    assert_eq!(s.client.head(&missing).bearer_auth(TOKEN).send().await.unwrap().status(), 404);
    assert_eq!(s.client.get(format!("{base}/images/a%20b")).bearer_auth(TOKEN).send().await.unwrap().status(), 400);

    let r = s.client.get(format!("{url}/record")).bearer_auth(TOKEN).send().await.unwrap();
    let fresh = ImageRecord::from_json(&r.bytes().await.unwrap()).unwrap();
    let body = s.fetch(&fresh, None).await.bytes().await.unwrap();
    assert_eq!(open(&fresh, &body).unwrap().0, image);
    let r = s.client.put(&url).bearer_auth(TOKEN).body(png(1000, 3)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let updated = ImageRecord::from_json(&r.bytes().await.unwrap()).unwrap();
    let body: serde_json::Value = s.client.get(&url).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["token"], updated.token.get());
    assert_eq!(s.client.delete(&url).bearer_auth(TOKEN).send().await.unwrap().status(), 204);
    assert_eq!(s.client.get(&url).bearer_auth(TOKEN).send().await.unwrap().status(), 404);
    s.shutdown().await;
}

// Tokens from a file (owner-only; # comments); a short token or a group-readable file refused.
#[tokio::test]
async fn tokens_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin-tokens");
    std::fs::write(&path, format!("# the app backend\n{TOKEN}  # rotated 2026-12\n\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let config = pixstore_server::config::Config::resolve(FileConfig {
            admin_tokens_file: Some(path.clone()),
            ..common::file_config(&dir.path().join("data"))
        })
        .unwrap();
        let Err(err) = pixstore_server::start(config).await else { panic!("started") };
        let err = err.to_string();
        assert!(err.contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let tokens = path.clone();
    let s = TestServer::start_with(|f| FileConfig { admin_tokens_file: Some(tokens), ..f }).await;
    let base = format!("http://{}", s.control);
    assert_eq!(s.client.get(format!("{base}/info")).send().await.unwrap().status(), 401);
    assert_eq!(s.client.get(format!("{base}/info")).bearer_auth(TOKEN).send().await.unwrap().status(), 200);
    s.shutdown().await;
    let err = pixstore_server::config::Config::resolve(FileConfig {
        admin_tokens: Some(vec!["short".into()]),
        ..FileConfig::default()
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("adminTokens") && err.contains("16"), "{err}");
}
