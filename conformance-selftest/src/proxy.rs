//! A forwarding proxy for the self-tests: hyper 1 accepts HTTP/1.1 and HTTP/2 (over TLS by ALPN,
//! or h2c with prior knowledge on plain TCP); every request goes to a hook, which normally
//! forwards it to the plain reference server with the suite's own byte-exact HTTP/1.1 client
//! (the raw request target and every value of a repeated header are kept). The mutating
//! proxy's hook rewrites requests and answers on the way.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use conformance::http::{Exchange, Transport, TransportOptions, Url};
use http_body_util::BodyExt as _;
use hyper::body::Frame;

/// A request as the hook sees it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The method.
    pub method: String,
    /// The request target as received (origin form; absolute form kept as sent).
    pub target: String,
    /// Headers (names lowercase), every value of a repeated one, in order; no hop-by-hop ones.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// Every value of `name`.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }

    /// Removes every `name` header.
    pub fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(n, _)| n != name);
    }

    /// Replaces every `name` header with one `value`.
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.remove_header(name);
        self.headers.push((name.to_owned(), value.to_owned()));
    }

    /// The path (before `?`).
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The query (after `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }
}

/// An answer as the hook gives it.
#[derive(Debug, Clone, Default)]
pub struct Response {
    /// The status.
    pub status: u16,
    /// Headers (no hop-by-hop ones, no Content-Length: the proxy sets it from the body).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// Send the body chunked, without Content-Length.
    pub chunked: bool,
}

const HOP_BY_HOP: [&str; 8] =
    ["connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection", "host", "content-length"];

impl Response {
    /// The answer an exchange with the upstream got.
    pub fn from_exchange(ex: &Exchange) -> Response {
        Response {
            status: ex.status,
            headers: ex.headers.iter().filter(|(n, _)| !HOP_BY_HOP.contains(&n.as_str())).cloned().collect(),
            body: ex.body.clone(),
            chunked: false,
        }
    }

    /// The single value of `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        let values: Vec<&str> = self.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect();
        match values.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// Removes every `name` header.
    pub fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(n, _)| n != name);
    }

    /// Replaces every `name` header with one `value`.
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.remove_header(name);
        self.headers.push((name.to_owned(), value.to_owned()));
    }

    /// A JSON answer.
    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        Response {
            status,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("cache-control".into(), "no-store".into()),
            ],
            body: value.to_string().into_bytes(),
            chunked: false,
        }
    }

    /// Whether the body is a wire payload with status 200.
    pub fn wire_state(&self) -> Option<u8> {
        if self.status == 200 && self.header("content-type") == Some("application/octet-stream") {
            self.body.first().copied()
        } else {
            None
        }
    }

    /// A one-byte wire payload with the headers of `like` (a wire answer).
    pub fn with_state(mut self, state: u8) -> Response {
        self.body = vec![state];
        self
    }
}

/// Where the proxy forwards to.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// `http://host:port`.
    pub base: Url,
    transport: Transport,
}

impl Upstream {
    /// The plain HTTP/1.1 upstream at `addr`.
    pub fn new(addr: SocketAddr) -> Result<Upstream, String> {
        Ok(Upstream {
            base: Url::parse(&format!("http://{addr}"))?,
            transport: Transport::new(&TransportOptions::default())?,
        })
    }

    /// Forwards `req` as it is.
    pub async fn forward(&self, req: &Request) -> Response {
        match self.transport.send(&self.base, &req.method, &req.target, &req.headers, &req.body).await {
            Ok(ex) => Response::from_exchange(&ex),
            Err(e) => Response {
                status: 502,
                body: format!("proxy: upstream failed: {e}").into_bytes(),
                ..Response::default()
            },
        }
    }
}

/// A boxed future of a hook.
pub type HookFuture = Pin<Box<dyn Future<Output = Option<Response>> + Send>>;
/// What answers each request: `None` closes the connection without an answer.
pub type Hook = Arc<dyn Fn(Request) -> HookFuture + Send + Sync>;

/// A hook that forwards everything to `upstream`.
pub fn forwarding(upstream: Upstream) -> Hook {
    let upstream = Arc::new(upstream);
    Arc::new(move |req| {
        let upstream = upstream.clone();
        Box::pin(async move { Some(upstream.forward(&req).await) })
    })
}

/// A listening proxy; stopped on drop.
#[derive(Debug)]
pub struct Listener {
    /// Its address.
    pub addr: SocketAddr,
    /// Once set, it accepts no more connections and answers nothing (a "crashed" server).
    pub dead: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

fn to_hyper(r: Response) -> hyper::Response<Body> {
    let mut builder = hyper::Response::builder().status(r.status);
    for (k, v) in &r.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let body: Body = if r.chunked {
        let frames = futures_util::stream::iter([Ok::<_, Infallible>(Frame::data(Bytes::from(r.body)))]);
        http_body_util::StreamBody::new(frames).boxed()
    } else {
        http_body_util::Full::new(Bytes::from(r.body)).boxed()
    };
    builder.body(body).unwrap_or_else(|_| {
        let mut fallback =
            hyper::Response::new(http_body_util::Full::new(Bytes::from_static(b"proxy: bad response")).boxed());
        *fallback.status_mut() = hyper::StatusCode::BAD_GATEWAY;
        fallback
    })
}

async fn from_hyper(req: hyper::Request<hyper::body::Incoming>) -> Request {
    let (parts, body) = req.into_parts();
    let target = if parts.uri.scheme().is_some() && parts.version != hyper::Version::HTTP_2 {
        parts.uri.to_string()
    } else {
        parts.uri.path_and_query().map_or("/".to_owned(), |p| p.as_str().to_owned())
    };
    let headers = parts
        .headers
        .iter()
        .filter(|(k, _)| !HOP_BY_HOP.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let body = body.collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
    Request { method: parts.method.as_str().to_owned(), target, headers, body }
}

/// Serves `hook` on 127.0.0.1:0, over TLS when `tls` is given (HTTP/1.1 or HTTP/2 as ALPN
/// says), else plain (HTTP/1.1, or HTTP/2 with prior knowledge).
pub async fn listen(tls: Option<Arc<rustls::ServerConfig>>, hook: Hook) -> Result<Listener, String> {
    listen_with(tls, hook, Arc::new(AtomicBool::new(false))).await
}

/// [`listen`] with a shared "crashed" switch: once `dead` is set, nothing is answered.
pub async fn listen_with(
    tls: Option<Arc<rustls::ServerConfig>>,
    hook: Hook,
    dead: Arc<AtomicBool>,
) -> Result<Listener, String> {
    let listener =
        tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| format!("proxy: cannot listen: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let task = {
        let dead = dead.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                if dead.load(Ordering::SeqCst) {
                    drop(stream);
                    continue;
                }
                let (hook, dead, acceptor) = (hook.clone(), dead.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let (hook, dead) = (hook.clone(), dead.clone());
                        async move {
                            if dead.load(Ordering::SeqCst) {
                                return Err("dead");
                            }
                            match hook(from_hyper(req).await).await {
                                Some(r) => Ok(to_hyper(r)),
                                None => Err("closed without an answer"),
                            }
                        }
                    });
                    let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                    match acceptor {
                        Some(acceptor) => {
                            if let Ok(tls) = acceptor.accept(stream).await {
                                let _ = builder.serve_connection(hyper_util::rt::TokioIo::new(tls), service).await;
                            }
                        }
                        None => {
                            let _ = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service).await;
                        }
                    }
                });
            }
        })
    };
    Ok(Listener { addr, dead, task })
}
