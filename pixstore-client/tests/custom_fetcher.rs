//! A custom fetcher with a caller context (the seed's `getImage(record, { playerId: 42 })`):
//! `GET /player-image/{playerId}/{id}` with an `Authorization` header, against a warp app that
//! authenticates and then calls the reference server's custom endpoint helper.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::as_conversions
)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use pixstore_client::cache::MemoryCache;
use pixstore_client::fetcher::{read_payload, FetchFuture, Fetcher};
use pixstore_client::proto::record::ImageRecord;
use pixstore_client::proto::wire::State;
use pixstore_client::{Client, FetchError, GetImageError, Source};
use pixstore_server::config::{Config, FileConfig};
use pixstore_server::endpoint::{self, RequestParts};
use pixstore_server::service::ImageService;
use pixstore_server::store::StoreBackend;
use warp::http::StatusCode;
use warp::Filter;

/// The caller's context: who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Player {
    id: u32,
    bearer: String,
}

/// `GET {base}/player-image/{player}/{id}` with the player's bearer token, the record's proof
/// and token (CLIENT-8). It records each context it was given.
struct PlayerFetcher {
    base: String,
    http: reqwest::Client,
    seen: Arc<Mutex<Vec<Player>>>,
}

impl Fetcher<Player> for PlayerFetcher {
    fn fetch<'a>(&'a self, record: &'a ImageRecord, player: &'a Player) -> FetchFuture<'a> {
        Box::pin(async move {
            self.seen.lock().unwrap().push(player.clone());
            let route = format!("/player-image/{}", player.id);
            let url = format!("{}{}", self.base, pixstore_client::proto::client::request_target(&route, &record.id));
            let mut request = self.http.get(&url).bearer_auth(&player.bearer);
            for (name, value) in pixstore_client::proto::client::request_headers(record) {
                request = request.header(name, value);
            }
            let response = request.send().await.map_err(|e| FetchError::from_reqwest(&url, e))?;
            read_payload(&url, &record.id, response, 64 << 20, None).await
        })
    }
}

fn authorize(header: Option<String>, player: u32) -> bool {
    let allowed = [("token-of-42", 42u32)];
    header
        .and_then(|h| h.strip_prefix("Bearer ").map(str::to_owned))
        .is_some_and(|token| allowed.iter().any(|(t, p)| *t == token && *p == player))
}

async fn app() -> (SocketAddr, Arc<ImageService<StoreBackend>>, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let config = Config::resolve(FileConfig {
        data_dir: Some(data.path().to_path_buf()),
        default_endpoint_enabled: Some(false),
        ..FileConfig::default()
    })
    .unwrap();
    let service = Arc::new(pixstore_server::open_service(&config).unwrap());
    let svc = service.clone();
    let routes = warp::get()
        .and(warp::path!("player-image" / u32 / String))
        .and(warp::header::optional::<String>("authorization"))
        .and(endpoint::request_parts())
        .then(move |player: u32, image_id: String, auth: Option<String>, parts: RequestParts| {
            let service = svc.clone();
            async move {
                if !authorize(auth, player) {
                    let mut r = warp::reply::Response::new("Forbidden".into());
                    *r.status_mut() = StatusCode::FORBIDDEN;
                    return r;
                }
                endpoint::answer(&service, &image_id, &parts, "*").await
            }
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(routes).incoming(listener).run());
    (addr, service, data)
}

// CLIENT-8 (custom fetcher with context), CLIENT-4, CLIENT-5, CLIENT-1
#[tokio::test]
async fn custom_route_with_authorization_and_context() {
    let (addr, service, _data) = app().await;
    let image = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR player 42's avatar".to_vec();
    let record = service.save(&image, Some("players")).await.unwrap();
    assert!(record.id.starts_with("players:"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let fetcher = PlayerFetcher { base: format!("http://{addr}"), http: reqwest::Client::new(), seen: seen.clone() };
    // No defaultEndpointConnectHost: a client with a custom fetcher does not need one.
    let client: Client<Player> = Client::builder().fetcher(fetcher).cache(MemoryCache::new()).build().unwrap();

    let player42 = Player { id: 42, bearer: "token-of-42".into() };
    let got = client.get_image(&record, &player42).await.unwrap();
    assert_eq!((got.bytes().as_ref(), got.mime()), (image.as_slice(), "image/png"));
    assert_eq!(got.source(), Source::Network(State::Success));
    assert_eq!(*seen.lock().unwrap(), vec![player42.clone()], "the context reached the fetcher verbatim");

    // The app's own refusal (not a Pixstore state) is a typed fetch error; nothing is cached.
    let stranger = Player { id: 42, bearer: "stolen".into() };
    assert!(client.delete_cached_image(&record.id).await.unwrap());
    let err = client.get_image(&record, &stranger).await.unwrap_err();
    assert!(matches!(&err, GetImageError::Fetch { source, .. } if source.status() == Some(403)), "{err}");
    assert!(!client.cached_image_exists(&record.id).await.unwrap());

    // Behind the custom route the serving logic is the same: a missing proof is MissingProof.
    let mut no_proof = record.clone();
    no_proof.stateless_proof.clear();
    let err = client.get_image(&no_proof, &player42).await.unwrap_err();
    assert_eq!(err.state(), Some(State::MissingProof));

    // A cached image needs no fetcher call (and no context check: the record is the key).
    client.get_image(&record, &player42).await.unwrap();
    let calls = seen.lock().unwrap().len();
    let got = client.get_image(&record, &stranger).await.unwrap();
    assert_eq!(got.source(), Source::Cache);
    assert_eq!(seen.lock().unwrap().len(), calls);
}
