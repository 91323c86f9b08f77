//! The pieces for a custom route in a browser app (issue 6): CORS preflight with the app's own
//! headers, refusals that a browser can read, and the served state as logged. Run with warp's
//! test client over a real service and store.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod common;

use std::sync::Arc;

use common::{open, png};
use pixstore_server::config::{Config, FileConfig};
use pixstore_server::endpoint::{self, RequestParts};
#[cfg(feature = "test-faults")]
use pixstore_server::faults::Faults;
use pixstore_server::net::WireState;
use proto::serve::RequestId;
use proto::wire::State;
use warp::http::StatusCode;
use warp::Filter;

const ORIGIN: &str = "https://app.example";

fn header<'a>(r: &'a warp::http::Response<bytes::Bytes>, name: &str) -> &'a str {
    r.headers().get(name).map_or("", |v| v.to_str().unwrap())
}

/// HTTP-5, HTTP-6: the headers every answer of the endpoint carries, here with a configured origin.
fn assert_common(r: &warp::http::Response<bytes::Bytes>) {
    assert_eq!(header(r, "cache-control"), "no-store");
    assert_eq!(header(r, "access-control-allow-origin"), ORIGIN);
    assert_eq!(header(r, "vary"), "Origin");
}

#[tokio::test]
async fn custom_route_preflight_refusal_and_answer() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::resolve(FileConfig {
        data_dir: Some(dir.path().to_path_buf()),
        default_endpoint_enabled: Some(false),
        ..FileConfig::default()
    })
    .unwrap();
    let service = Arc::new(pixstore_server::open_service(&config).unwrap());
    let image = png(3000, 1);
    let record = service.save(&image, Some("players")).await.unwrap();

    let served = service.clone();
    let get = warp::get()
        .and(warp::path!("player-image" / String))
        .and(warp::header::optional::<String>("authorization"))
        .and(endpoint::request_parts())
        .then(move |id: String, auth: Option<String>, parts: RequestParts| {
            let service = served.clone();
            async move {
                if auth.as_deref() != Some("Bearer ok") {
                    return endpoint::refusal(StatusCode::FORBIDDEN, "Unauthorized", ORIGIN);
                }
                endpoint::answer(&service, &id, &parts, ORIGIN).await
            }
        });
    assert!(endpoint::preflight(ORIGIN, &["bad name"]).is_err());
    let preflight = endpoint::preflight(ORIGIN, &["authorization", "x-app-trace"]).unwrap();
    let app = warp::path("player-image").and(preflight).or(get).unify();
    let target = proto::client::request_target("/player-image", &record.id);

    // HTTP-7: the preflight lists the Pixstore headers and the app's own.
    let r = warp::test::request()
        .method("OPTIONS")
        .path(&target)
        .header("origin", ORIGIN)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization,x-pixstore-proof,x-pixstore-token")
        .reply(&app)
        .await;
    assert_eq!(r.status(), 204);
    assert!(r.body().is_empty());
    assert_common(&r);
    assert_eq!(header(&r, "access-control-allow-methods"), "GET, OPTIONS");
    let allowed = header(&r, "access-control-allow-headers").split(", ").collect::<Vec<_>>();
    for h in ["x-pixstore-proof", "x-pixstore-token", "authorization", "x-app-trace"] {
        assert!(allowed.contains(&h), "{h} missing from {allowed:?}");
    }

    // The app's refusal: its own status and body, with the common headers (HTTP-5, HTTP-6).
    let r = warp::test::request().path(&target).header("x-pixstore-proof", &record.stateless_proof).reply(&app).await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.body().as_ref(), b"Unauthorized");
    assert_eq!(header(&r, "content-type"), "text/plain; charset=utf-8");
    assert_common(&r);

    // Authorized: the endpoint's own answer, which decrypts to the image.
    let r = warp::test::request()
        .path(&target)
        .header("authorization", "Bearer ok")
        .header("x-pixstore-proof", &record.stateless_proof)
        .reply(&app)
        .await;
    assert_eq!(r.status(), 200);
    assert_common(&r);
    assert_eq!(endpoint::state_of(r.body()), Some(State::Updated));
    assert_eq!(open(&record, r.body()).unwrap().0, image);

    // HTTP-10: mounted under the route, the preflight does not answer for other paths.
    // (warp's own rejection answers instead: 405 here, as the GET filter saw the wrong method.)
    let r = warp::test::request().method("OPTIONS").path("/elsewhere/x").reply(&app).await;
    assert!(r.status().is_client_error(), "{}", r.status());
    assert!(r.headers().get("access-control-allow-methods").is_none());

    // An invalid extra name is left out; the valid ones and the standard list stay.
    let r = endpoint::preflight_response("*", &["bad\nname", "authorization"]);
    let listed = r.headers()["access-control-allow-headers"].to_str().unwrap();
    assert!(listed.contains("x-pixstore-proof") && listed.contains("authorization"), "{listed}");
    assert!(!listed.contains("bad"), "{listed}");
}

#[tokio::test]
async fn served_payloads_report_their_state_for_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        Config::resolve(FileConfig { data_dir: Some(dir.path().to_path_buf()), ..FileConfig::default() }).unwrap();
    let service = pixstore_server::open_service(&config).unwrap();
    let record = service.save(&png(500, 2), None).await.unwrap();
    let id = RequestId::Text(&record.id);
    let proof = Some(record.stateless_proof.as_str());
    // The Updated payload is sent straight from the stored buffer (no separate head): its state
    // must still be read from its first byte, not reported as InternalError.
    let updated = service.serve(id, proof, None).await;
    assert_eq!(updated.payload.state(), State::Updated);
    let token = proto::token::parse_text(record.token.to_string().as_bytes()).unwrap();
    let success = service.serve(id, proof, token).await;
    assert_eq!(success.payload.state(), State::Success);
    assert_eq!(service.serve(id, None, None).await.payload.state(), State::MissingProof);

    // A custom route's answer carries its state in the response's extensions, for a connection
    // layer that counts it (net::App::wire_state).
    let raw_id = proto::client::request_target("", &record.id).trim_start_matches('/').to_owned();
    let mut parts = RequestParts::default();
    parts.headers.insert("x-pixstore-proof", record.stateless_proof.parse().unwrap());
    let r = endpoint::answer(&service, &raw_id, &parts, "*").await;
    assert_eq!(r.extensions().get::<WireState>(), Some(&WireState("Updated")));
    parts.headers.insert("x-pixstore-token", record.token.to_string().parse().unwrap());
    let r = endpoint::answer(&service, &raw_id, &parts, "*").await;
    assert_eq!(r.extensions().get::<WireState>(), Some(&WireState("Success")));
}

#[cfg(feature = "test-faults")]
#[test]
fn fault_names_parse_and_unknown_names_are_refused() {
    let f = Faults::from_names("flip-ciphertext-byte, drop-cors").unwrap();
    assert!(f.flip_ciphertext_byte && f.drop_cors && !f.mix_versions);
    assert_eq!(Faults::from_names("").unwrap(), Faults::default());
    let e = Faults::from_names("flip-everything").unwrap_err();
    assert!(e.contains("flip-everything"), "{e}");
}
