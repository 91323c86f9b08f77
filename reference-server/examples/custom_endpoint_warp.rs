//! A custom endpoint in your own warp app, with your own authentication in front: the seed's
//! "Express.js with JWT + role check" example, in Rust.
//!
//! `GET /player-image/{playerId}/{imageId}` requires `Authorization: Bearer <token>` whose
//! player may see `playerId`; then [`reference_server::endpoint::answer`] answers exactly as the
//! default endpoint does (proof, token, every wire state, spec §9 and §10).
//!
//! `cargo run -p reference-server --example custom_endpoint_warp` starts the app on a free port,
//! makes one allowed and one refused request, prints what happened and exits.
#![allow(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

use std::sync::Arc;

use reference_server::config::{Config, FileConfig};
use reference_server::endpoint::{self, RequestParts};
use reference_server::service::ImageService;
use reference_server::store::FsStore;
use warp::http::StatusCode;
use warp::Filter;

/// Your authentication: here a fixed table of bearer tokens to player ids. Use your JWT
/// library instead; the shape stays the same.
fn authorize(header: Option<String>, player: u32) -> bool {
    let allowed = [("secret-token-of-player-42", 42u32)];
    header
        .and_then(|h| h.strip_prefix("Bearer ").map(str::to_owned))
        .is_some_and(|token| allowed.iter().any(|(t, p)| *t == token && *p == player))
}

fn app(
    service: Arc<ImageService<FsStore>>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    warp::get()
        .and(warp::path!("player-image" / u32 / String))
        .and(warp::header::optional::<String>("authorization"))
        .and(endpoint::request_parts())
        .then(move |player: u32, image_id: String, auth: Option<String>, parts: RequestParts| {
            let service = service.clone();
            async move {
                if !authorize(auth, player) {
                    // Your refusal, outside the Pixstore protocol (spec §9: a custom endpoint may
                    // refuse before it calls the serving logic).
                    let mut r = warp::reply::Response::new("Unauthorized".into());
                    *r.status_mut() = StatusCode::FORBIDDEN;
                    return r;
                }
                endpoint::answer(&service, &image_id, &parts, "*").await
            }
        })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = tempfile::tempdir()?;
    let config = Config::resolve(FileConfig {
        data_dir: Some(data.path().to_path_buf()),
        default_endpoint_enabled: Some(false),
        ..FileConfig::default()
    })?;
    let service = Arc::new(reference_server::open_service(&config)?);
    let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR example image".to_vec();
    let record = service.save(&png, Some("players")).await?;

    let (addr, server) = warp::serve(app(service.clone())).bind_ephemeral(([127, 0, 0, 1], 0));
    tokio::spawn(server);
    let url = format!("http://{addr}{}", proto::client::request_target("/player-image/42", &record.id));
    let client = reqwest::Client::new();
    for (label, token) in [("player 42", "secret-token-of-player-42"), ("someone else", "stolen")] {
        let r = client
            .get(&url)
            .header("authorization", format!("Bearer {token}"))
            .header("x-pixstore-proof", &record.stateless_proof)
            .header("x-pixstore-token", record.token.to_string())
            .send()
            .await?;
        let status = r.status();
        let body = r.bytes().await?;
        let state = endpoint::state_of(&body).map_or("not a wire payload".to_owned(), |s| s.to_string());
        println!("{label}: HTTP {status}, {} bytes, {state}", body.len());
    }
    Ok(())
}
