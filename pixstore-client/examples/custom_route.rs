//! A custom fetcher: your own route, an `Authorization` header, and a context per call (the
//! seed's `getImage(record, { playerId: 42 })` with a fetcher for
//! `/player-image/:playerId/:imageId`).
//!
//! The server side is the pattern of `pixstore-server/examples/custom_endpoint_warp.rs`: a warp
//! app that checks the bearer token, then lets the reference server answer (proof, token, every
//! wire state). The client side is [`PlayerImageFetcher`], which implements
//! `Fetcher<PlayerContext>`.
//!
//! `cargo run -p pixstore-client --example custom_route` starts the app on a free loopback
//! port, fetches one image as player 42 (network, then cache), is refused as someone else, prints
//! what happened and exits.
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc, missing_docs)]

use std::sync::Arc;

use pixstore_client::cache::MemoryCache;
use pixstore_client::fetcher::{read_payload, FetchFuture, Fetcher};
use pixstore_client::proto::client::{request_headers, request_target};
use pixstore_client::proto::record::ImageRecord;
use pixstore_client::{Client, FetchError, Source};
use pixstore_server::config::{Config, FileConfig};
use pixstore_server::endpoint::{self, RequestParts};
use pixstore_server::service::ImageService;
use pixstore_server::store::StoreBackend;
use warp::http::StatusCode;
use warp::Filter;

/// What the app knows about the caller, passed to every `get_image` call.
#[derive(Debug, Clone)]
pub struct PlayerContext {
    /// The player whose image is asked for (part of the route).
    pub player_id: u32,
    /// The app session's bearer token.
    pub bearer: String,
}

/// `GET {base}/player-image/{playerId}/{percent-encoded id}` with `Authorization: Bearer ...`,
/// plus the record's proof and token headers (CLIENT-8: a custom fetcher carries them too).
pub struct PlayerImageFetcher {
    base: String,
    http: reqwest::Client,
}

impl Fetcher<PlayerContext> for PlayerImageFetcher {
    fn fetch<'a>(&'a self, record: &'a ImageRecord, ctx: &'a PlayerContext) -> FetchFuture<'a> {
        Box::pin(async move {
            let route = format!("/player-image/{}", ctx.player_id);
            let url = format!("{}{}", self.base, request_target(&route, &record.id));
            let mut request = self.http.get(&url).bearer_auth(&ctx.bearer);
            for (name, value) in request_headers(record) {
                request = request.header(name, value);
            }
            let response = request.send().await.map_err(|e| FetchError::from_reqwest(&url, e))?;
            // Status 200, a size bound, the body: as the default fetcher reads it.
            read_payload(&url, &record.id, response, 64 << 20, None).await
        })
    }
}

/// The app's server: authentication first, then the reference server's serving logic.
fn app(
    service: Arc<ImageService<StoreBackend>>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let allowed = |auth: Option<String>, player: u32| {
        auth.and_then(|h| h.strip_prefix("Bearer ").map(str::to_owned))
            .is_some_and(|t| t == "secret-token-of-player-42" && player == 42)
    };
    warp::get()
        .and(warp::path!("player-image" / u32 / String))
        .and(warp::header::optional::<String>("authorization"))
        .and(endpoint::request_parts())
        .then(move |player: u32, image_id: String, auth: Option<String>, parts: RequestParts| {
            let service = service.clone();
            async move {
                if !allowed(auth, player) {
                    let mut r = warp::reply::Response::new("Forbidden".into());
                    *r.status_mut() = StatusCode::FORBIDDEN;
                    return r;
                }
                endpoint::answer(&service, &image_id, &parts, "*").await
            }
        })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The backend: a store in a temporary folder and one image.
    let data = tempfile::tempdir()?;
    let config = Config::resolve(FileConfig {
        data_dir: Some(data.path().to_path_buf()),
        default_endpoint_enabled: Some(false),
        ..FileConfig::default()
    })?;
    let service = Arc::new(pixstore_server::open_service(&config)?);
    let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR example avatar".to_vec();
    let record = service.save(&png, Some("players")).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(warp::serve(app(service.clone())).incoming(listener).run());

    // The client: the custom fetcher decides the route; the context type is PlayerContext.
    let fetcher = PlayerImageFetcher { base: format!("http://{addr}"), http: reqwest::Client::new() };
    let client: Client<PlayerContext> = Client::builder().fetcher(fetcher).cache(MemoryCache::new()).build()?;

    let player42 = PlayerContext { player_id: 42, bearer: "secret-token-of-player-42".into() };
    for attempt in ["first call", "second call"] {
        let image = client.get_image(&record, &player42).await?;
        let from = match image.source() {
            Source::Cache => "the cache".to_owned(),
            Source::Network(state) => format!("the network ({})", state.name()),
        };
        println!("player 42, {attempt}: {} bytes of {} from {from}", image.bytes().len(), image.mime());
        assert_eq!(image.bytes().as_ref(), png.as_slice());
    }

    let stranger = PlayerContext { player_id: 42, bearer: "stolen".into() };
    client.delete_cached_image(&record.id).await?;
    match client.get_image(&record, &stranger).await {
        Ok(_) => return Err("the stranger got the image".into()),
        Err(e) => println!("someone else: refused: {}", pixstore_client::error::Report(&e)),
    }
    Ok(())
}
