//! The control interface of spec Appendix A over real HTTP.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc, clippy::as_conversions)]

mod common;

use common::{open, png, TestServer};
use pixstore_server::config::{Config, FileConfig};
use proto::record::ImageRecord;

// CTRL-1 .. CTRL-6
#[tokio::test]
async fn control_interface_v1() {
    let s = TestServer::start().await;
    let base = format!("http://{}", s.control);
    // CTRL-1
    let info: serde_json::Value = s.client.get(format!("{base}/info")).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["specVersion"], "1");
    assert_eq!(info["endpoint"], format!("http://{}/pixstore-image", s.endpoint));
    assert_eq!(info["windowMs"], 20000);
    assert!(info["implementation"].as_str().unwrap().contains("pixstore-server"));
    assert!(info["features"].is_array());
    // CTRL-2, CTRL-6
    let image = png(900, 1);
    let r = s.client.post(format!("{base}/images?dir=ctl")).body(image.clone()).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let record = ImageRecord::from_json(&r.bytes().await.unwrap()).unwrap();
    assert!(record.id.starts_with("ctl:"));
    let r = s.client.post(format!("{base}/images")).body("text").send().await.unwrap();
    assert_eq!(r.status(), 415);
    assert!(r.json::<serde_json::Value>().await.unwrap()["error"].is_string());
    // CTRL-3: a greater token, new bytes served.
    let new_image = png(950, 2);
    let r = s.update(&record.id, &new_image).await;
    assert_eq!(r.status(), 200);
    let updated = ImageRecord::from_json(&r.bytes().await.unwrap()).unwrap();
    assert!(updated.token > record.token);
    assert_ne!(updated.meta.key, record.meta.key);
    let body = s.fetch(&updated, Some(updated.token.get())).await.bytes().await.unwrap();
    assert_eq!(open(&updated, &body).unwrap().0, new_image);
    assert_eq!(s.update("ctl:nosuch", &new_image).await.status(), 404);
    // CTRL-5
    let fresh = s.fresh_record(&record.id).await;
    assert_eq!(fresh.token, updated.token);
    let r = s.client.get(format!("{base}/images/nosuch/record")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    // CTRL-4
    let url = format!("{base}/images/{}", record.id.replace(':', "%3A"));
    assert_eq!(s.client.delete(&url).send().await.unwrap().status(), 204);
    assert_eq!(s.client.delete(&url).send().await.unwrap().status(), 404);
    // CTRL-6: unknown routes are JSON errors too.
    let r = s.client.get(format!("{base}/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.json::<serde_json::Value>().await.unwrap()["error"].is_string());
    s.shutdown().await;
}

// CTRL-7: off by default; a non-loopback address needs an explicit opt-in.
#[test]
fn control_is_off_by_default_and_loopback_only() {
    assert!(Config::resolve(FileConfig::default()).unwrap().control.is_none());
    let public =
        FileConfig { control: Some(true), control_listen: Some("0.0.0.0:7483".into()), ..FileConfig::default() };
    let err = Config::resolve(public.clone()).unwrap_err().to_string();
    assert!(err.contains("controlListen") && err.contains("loopback"), "{err}");
    // CTRL-9: beyond loopback the admin API must authenticate.
    let unauthenticated = FileConfig { control_public: Some(true), ..public };
    let err = Config::resolve(unauthenticated.clone()).unwrap_err().to_string();
    assert!(err.contains("controlPublic") && err.contains("adminTokens"), "{err}");
    let allowed = FileConfig { admin_tokens: Some(vec!["0123456789abcdef-long".into()]), ..unauthenticated };
    assert!(Config::resolve(allowed).unwrap().control.is_some());
}

// Configuration errors name the option and what is allowed.
#[test]
fn invalid_configuration_is_explained() {
    for (f, option) in [
        (FileConfig { stateless_key_window_length: Some(0), ..FileConfig::default() }, "statelessKeyWindowLength"),
        (
            FileConfig { default_endpoint_listen_port: Some(70000), ..FileConfig::default() },
            "defaultEndpointListenPort",
        ),
        (FileConfig { default_endpoint_route: Some("img".into()), ..FileConfig::default() }, "defaultEndpointRoute"),
        (
            FileConfig { default_endpoint_listen_host: Some("localhost:80".into()), ..FileConfig::default() },
            "defaultEndpointListenHost",
        ),
        (FileConfig { image_formats: Some(vec!["svg".into()]), ..FileConfig::default() }, "imageFormats"),
        (FileConfig { proof_skew_ms: Some(60_001), ..FileConfig::default() }, "proofSkewMs"),
    ] {
        let err = Config::resolve(f).unwrap_err().to_string();
        assert!(err.contains(option), "{err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "defaultEndpointListenPort = 8000\nstatelessKeyWindowLength = -1\n").unwrap();
    let c = Config::resolve(FileConfig::read(&path).unwrap()).unwrap();
    assert_eq!((c.listen.port(), c.window.to_config()), (8000, -1));
    std::fs::write(&path, "defaultEndpointListenPrt = 8000\n").unwrap();
    assert!(FileConfig::read(&path).unwrap_err().to_string().contains("defaultEndpointListenPrt"));
}
