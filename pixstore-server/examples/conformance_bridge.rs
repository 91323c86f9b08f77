//! Runs the reference server over HTTPS (HTTP/2 or HTTP/1.1 by ALPN) or over HTTP/2 with prior
//! knowledge, behind a plain HTTP/1.1 bridge, so that the conformance suite (which speaks plain
//! HTTP/1.1 only) checks the server through those transports:
//!
//! ```sh
//! cargo run --release -p pixstore-server --example conformance_bridge -- tls-h2   # or tls-h1, h2c
//! # prints {"endpoint": "http://127.0.0.1:P/pixstore-image", "control": "http://127.0.0.1:Q"}
//! pixstore-conformance --endpoint ENDPOINT --control CONTROL
//! ```
//!
//! The bridge forwards each request as it came (method, the request target byte for byte, every
//! header, the body) on one upstream connection per downstream connection, and the answer back.
//! The certificate is generated at start (rcgen); the control interface runs on TLS too in the
//! TLS modes. `.ci/conformance-transports.sh` runs the suite through all three. Stops on Ctrl-C
//! or when its standard input closes.
#![allow(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;

type BoxBody = http_body_util::combinators::BoxBody<bytes::Bytes, hyper::Error>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    TlsH2,
    TlsH1,
    H2c,
}

enum Upstream {
    H1(hyper::client::conn::http1::SendRequest<BoxBody>),
    H2(hyper::client::conn::http2::SendRequest<BoxBody>),
}

async fn connect(
    addr: SocketAddr,
    mode: Mode,
    tls: Option<Arc<rustls::ClientConfig>>,
    tls_on: bool,
) -> Result<Upstream, Box<dyn std::error::Error + Send + Sync>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let h2 = mode != Mode::TlsH1;
    macro_rules! handshake {
        ($io:expr) => {{
            let io = TokioIo::new($io);
            if h2 {
                let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
                tokio::spawn(conn);
                Upstream::H2(send)
            } else {
                let (send, conn) = hyper::client::conn::http1::handshake(io).await?;
                tokio::spawn(conn);
                Upstream::H1(send)
            }
        }};
    }
    match (tls, tls_on) {
        (Some(config), true) => {
            let stream = tokio_rustls::TlsConnector::from(config)
                .connect(rustls::pki_types::ServerName::try_from("localhost")?, tcp)
                .await?;
            Ok(handshake!(stream))
        }
        _ => Ok(handshake!(tcp)),
    }
}

fn bad_gateway() -> hyper::Response<BoxBody> {
    let mut r = hyper::Response::new(http_body_util::Empty::new().map_err(|never| match never {}).boxed());
    *r.status_mut() = hyper::StatusCode::BAD_GATEWAY;
    r
}

/// Serves one downstream HTTP/1.1 listener, forwarding to `upstream`.
async fn bridge(
    listener: TcpListener,
    upstream: SocketAddr,
    mode: Mode,
    tls: Option<Arc<rustls::ClientConfig>>,
    tls_on: bool,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let tls = tls.clone();
        tokio::spawn(async move {
            let Ok(up) = connect(upstream, mode, tls, tls_on).await else { return };
            let up = Arc::new(tokio::sync::Mutex::new(up));
            let scheme = if tls_on { "https" } else { "http" };
            let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let up = up.clone();
                async move {
                    let (mut parts, body) = req.into_parts();
                    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
                    let mut up = up.lock().await;
                    let body = body.boxed();
                    let response = match &mut *up {
                        Upstream::H2(send) => {
                            // HTTP/2 carries the authority in :authority, not in Host.
                            match format!("{scheme}://localhost:{}{target}", upstream.port()).parse() {
                                Ok(uri) => parts.uri = uri,
                                Err(_) => return Ok(bad_gateway()),
                            }
                            parts.headers.remove(hyper::header::HOST);
                            parts.headers.remove(hyper::header::CONNECTION);
                            parts.version = hyper::Version::HTTP_2;
                            send.send_request(hyper::Request::from_parts(parts, body)).await
                        }
                        Upstream::H1(send) => send.send_request(hyper::Request::from_parts(parts, body)).await,
                    };
                    let Ok(response) = response else { return Ok(bad_gateway()) };
                    let (mut parts, body) = response.into_parts();
                    parts.version = hyper::Version::HTTP_11;
                    Ok::<_, std::convert::Infallible>(hyper::Response::from_parts(parts, body.boxed()))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mode = match std::env::args().nth(1).as_deref() {
        Some("tls-h2") => Mode::TlsH2,
        Some("tls-h1") => Mode::TlsH1,
        Some("h2c") => Mode::H2c,
        _ => return Err("usage: conformance_bridge tls-h2|tls-h1|h2c".into()),
    };
    let dir = tempfile::tempdir()?;
    let mut config = pixstore_server::config::Config::builder()
        .listen("127.0.0.1:0".parse()?)
        .data_dir(dir.path().join("data"))
        // The suite's own reference server settings (conformance/src/reference.rs).
        .window_ms(1000)
        .skew_ms(0)
        .max_image_bytes(8 << 20)
        .control("127.0.0.1:0".parse()?)
        .ops(None);
    let mut client_tls = None;
    if mode != Mode::H2c {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
        std::fs::write(dir.path().join("tls.crt"), cert.cert.pem())?;
        std::fs::write(dir.path().join("tls.key"), cert.key_pair.serialize_pem())?;
        config = config.tls(dir.path().join("tls.crt"), dir.path().join("tls.key")).control_tls(true);
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.cert.der().clone())?;
        let mut c = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        c.alpn_protocols = vec![if mode == Mode::TlsH2 { b"h2".to_vec() } else { b"http/1.1".to_vec() }];
        client_tls = Some(Arc::new(c));
    }
    let running = pixstore_server::start(config.build()?).await?;
    let (endpoint, control) = (running.endpoint.ok_or("no endpoint")?, running.control.ok_or("no control")?);
    let front_endpoint = TcpListener::bind("127.0.0.1:0").await?;
    let front_control = TcpListener::bind("127.0.0.1:0").await?;
    println!(
        "{}",
        serde_json::json!({
            "endpoint": format!("http://{}/pixstore-image", front_endpoint.local_addr()?),
            "control": format!("http://{}", front_control.local_addr()?),
        })
    );
    tokio::spawn(bridge(front_endpoint, endpoint, mode, client_tls.clone(), mode != Mode::H2c));
    // The control interface: TLS (HTTP/1.1) in the TLS modes, plain HTTP/1.1 with h2c.
    let control_mode = if mode == Mode::H2c { Mode::TlsH1 } else { mode };
    tokio::spawn(bridge(front_control, control, control_mode, client_tls, mode != Mode::H2c));
    let stdin_closed = tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
    });
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = stdin_closed => {}
    }
    running.shutdown().await;
    Ok(())
}
