//! CLIENT-8: the default fetcher speaks HTTPS when `defaultEndpointConnectHost` says
//! `https://`. A TLS-terminating proxy on 127.0.0.1 (tokio-rustls, a test CA in `tests/tls/`)
//! forwards to the reference server, as a TLS load balancer would.
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

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::{png, TestServer};
use pixstore_client::cache::MemoryCache;
use pixstore_client::config::{ClientOptions, Scheme};
use pixstore_client::fetcher::HttpFetcher;
use pixstore_client::proto::wire::State;
use pixstore_client::{Client, FetchError, GetImageError, Source};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

const TLS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tls");

/// Accepts TLS on 127.0.0.1:0 and pipes each connection to `backend`.
async fn tls_proxy(backend: SocketAddr) -> SocketAddr {
    let certs = CertificateDer::pem_file_iter(format!("{TLS_DIR}/localhost.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(format!("{TLS_DIR}/localhost.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    addr
}

// CLIENT-8: `https://` in the host means TLS (3.2.1 requested `http://https://...`).
#[tokio::test]
async fn https_prefix_fetches_over_tls() {
    let s = TestServer::start().await;
    let image = png(70_000, 1);
    let r = s.create(&image).await;
    let proxy = tls_proxy(s.endpoint).await;
    let config = ClientOptions {
        default_endpoint_connect_host: Some("https://localhost".into()),
        default_endpoint_connect_port: Some(i64::from(proxy.port())),
        ..ClientOptions::default()
    }
    .resolve()
    .unwrap();
    let endpoint = config.endpoint.clone().unwrap();
    assert_eq!(endpoint.scheme(), Scheme::Https);
    let ca = std::fs::read(format!("{TLS_DIR}/ca.pem")).unwrap();
    let fetcher = HttpFetcher::builder(&config).unwrap().add_root_certificate_pem(&ca).unwrap().build().unwrap();
    assert!(fetcher.url(&r.id).starts_with(&format!("https://localhost:{}/pixstore-image/", proxy.port())));
    let client = Client::builder().config(config.clone()).fetcher(fetcher).cache(MemoryCache::new()).build().unwrap();
    let got = client.get_image(&r, &()).await.unwrap();
    assert_eq!((got.bytes().as_ref(), got.source()), (image.as_slice(), Source::Network(State::Success)));

    // Without the test CA the certificate is not trusted: a typed connection error.
    let untrusting = Client::builder().config(config).memory_cache().build().unwrap();
    let err = untrusting.get_image(&r, &()).await.unwrap_err();
    assert!(matches!(err, GetImageError::Fetch { source: FetchError::Connect { .. }, .. }), "{err}");

    // Plain HTTP to the TLS port does not silently work either.
    let plain = ClientOptions {
        default_endpoint_connect_host: Some("http://localhost".into()),
        default_endpoint_connect_port: Some(i64::from(proxy.port())),
        ..ClientOptions::default()
    }
    .resolve()
    .unwrap();
    let client = Client::builder().config(plain).memory_cache().build().unwrap();
    assert!(matches!(client.get_image(&r, &()).await, Err(GetImageError::Fetch { .. })));
    s.shutdown().await;
}
