//! A custom endpoint in your own warp app, with your own authentication in front: the seed's
//! "Express.js with JWT + role check" example, in Rust.
//!
//! `GET /player-image/{playerId}/{imageId}` requires `Authorization: Bearer <token>` whose
//! player may see `playerId`; then [`pixstore_server::endpoint::answer`] answers exactly as the
//! default endpoint does (proof, token, every wire state, spec §9 and §10).
//!
//! `cargo run -p pixstore-server --example custom_endpoint_warp` starts the app on a free port,
//! makes one allowed and one refused request, prints what happened and exits.
//!
//! With `-- --serve DATA_DIR [ADDR] [ORIGIN]` it serves the route over the images and proof keys
//! that `pixstore-server --data-dir DATA_DIR` manages, on ADDR (default `127.0.0.1:0`), for
//! browsers on ORIGIN (default `*`), until Ctrl-C; it prints `{"address": ...}` once listening
//! and logs JSON lines (an access line per request; `PIXSTORE_LOG=debug` adds the endpoint's
//! events with the state served). It serves with the server's own connection layer
//! ([`pixstore_server::net::serve`]: limits, timeouts, HTTP/2) and reads the server's options
//! from their `PIXSTORE_*` variables (`PIXSTORE_WINDOW_MS`, `PIXSTORE_SKEW_MS`, ...), so it
//! verifies proofs as the `pixstore-server` beside it does. The browser interop test
//! (`interop/browser/`) runs pixstore 3.2.1's frontend against it with a custom fetcher.
#![allow(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

use std::sync::Arc;

use pixstore_server::config::{Config, FileConfig};
use pixstore_server::endpoint::{self, RequestParts};
use pixstore_server::service::ImageService;
use pixstore_server::store::StoreBackend;
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
    service: Arc<ImageService<StoreBackend>>,
    origin: &str,
) -> Result<impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone, Box<dyn std::error::Error>>
{
    let origin: Arc<str> = origin.into();
    // Browsers on another origin ask first whether they may send these headers (CORS preflight),
    // on the route's paths only (HTTP-10).
    let preflight = warp::path("player-image").and(endpoint::preflight(&origin, &["authorization"])?);
    let get = warp::get()
        .and(warp::path!("player-image" / u32 / String))
        .and(warp::header::optional::<String>("authorization"))
        .and(endpoint::request_parts())
        .then(move |player: u32, image_id: String, auth: Option<String>, parts: RequestParts| {
            let service = service.clone();
            let origin = origin.clone();
            async move {
                if !authorize(auth, player) {
                    // Your refusal, outside the Pixstore protocol (spec §9: a custom endpoint may
                    // refuse before it calls the serving logic). With the CORS headers, so a
                    // browser app sees the 403 rather than a network error.
                    return endpoint::refusal(StatusCode::FORBIDDEN, "Unauthorized", &origin);
                }
                endpoint::answer(&service, &image_id, &parts, &origin).await
            }
        });
    Ok(preflight.or(get).unify())
}

/// `--serve DATA_DIR [ADDR] [ORIGIN]`: serve the route until Ctrl-C.
async fn serve(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let data_dir = args.first().ok_or("usage: custom_endpoint_warp --serve DATA_DIR [ADDR] [ORIGIN]")?;
    let addr: std::net::SocketAddr = args.get(1).map_or("127.0.0.1:0", String::as_str).parse()?;
    let origin = args.get(2).map_or("*", String::as_str);
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PIXSTORE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    // The server's own options from its PIXSTORE_* variables (PIXSTORE_WINDOW_MS,
    // PIXSTORE_SKEW_MS, ...), so that this route verifies proofs as the `pixstore-server` beside
    // it does; the data folder and "no default endpoint" are this example's.
    #[derive(clap::Parser)]
    struct FromEnvironment {
        #[command(flatten)]
        options: FileConfig,
    }
    let environment = <FromEnvironment as clap::Parser>::try_parse_from(["custom_endpoint_warp"])?.options;
    let config = Config::resolve(environment.overlay(FileConfig {
        data_dir: Some(data_dir.into()),
        default_endpoint_enabled: Some(false),
        ..FileConfig::default()
    }))?;
    let service = Arc::new(pixstore_server::open_service(&config)?);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("{}", serde_json::json!({ "address": listener.local_addr()?.to_string() }));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = stop.send(true);
    });
    serve_app(listener, app(service, origin)?, origin, stopped).await;
    Ok(())
}

/// Serves the app with the server's connection layer (accept loop that survives EMFILE,
/// timeouts, connection limit, the RFC 9112 framing checks, HTTP/2): routes the app does not
/// have are answered 404 with the endpoint's headers.
async fn serve_app(
    listener: tokio::net::TcpListener,
    app: impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone + Send + Sync + 'static,
    origin: &str,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let origin: Arc<str> = origin.into();
    let app = app
        .recover(move |_: warp::Rejection| {
            let origin = origin.clone();
            async move { Ok::<_, std::convert::Infallible>(endpoint::refusal(StatusCode::NOT_FOUND, "Not found", &origin)) }
        })
        .unify();
    let mut options = pixstore_server::net::ListenerOptions::new("custom");
    options.access_log = true;
    pixstore_server::net::serve(listener, pixstore_server::control::app(app), options, stop).await;
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = std::env::args().skip(1).collect::<Vec<_>>();
    if args.first().is_some_and(|a| a == "--serve") {
        return serve(args.get(1..).unwrap_or_default()).await;
    }
    let data = tempfile::tempdir()?;
    let config = Config::resolve(FileConfig {
        data_dir: Some(data.path().to_path_buf()),
        default_endpoint_enabled: Some(false),
        ..FileConfig::default()
    })?;
    let service = Arc::new(pixstore_server::open_service(&config)?);
    let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR example image".to_vec();
    let record = service.save(&png, Some("players")).await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(serve_app(listener, app(service.clone(), "*")?, "*", stopped));
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
