//! `pixstore-client adapter [--lines]`: this client behind the client adapter protocol,
//! version 1 (spec Appendix C), so that `pixstore-conformance client` can check it:
//!
//! ```text
//! pixstore-conformance client -- pixstore-client adapter            # one process per step
//! pixstore-conformance client --lines -- pixstore-client adapter --lines
//! ```
//!
//! Part of the CLI, not of the library. Each request builds the client it describes: the
//! default fetcher ([`HttpFetcher`]) for `endpoint`, or, for `endpointTemplate`, the custom
//! fetcher of Appendix C.5 (it sends the context's `headers`); the persistent [`DirCache`] in
//! `cache.dir`, so per-step processes share the cache as an app's runs would. Every error is
//! mapped to its kind and detail ([`outcome_of_error`]).

use std::io::{BufRead as _, Read as _, Write as _};

use bytes::Bytes;
use pixstore_client::cache::DirCache;
use pixstore_client::config::{ClientConfig, ClientOptions};
use pixstore_client::fetcher::{read_payload, FetchFuture, Fetcher, HttpFetcher};
use pixstore_client::proto::record::ImageRecord;
use pixstore_client::{Client, FetchError, GetImageError, Image, Source};
use serde_json::{json, Value};
use sha2::Digest as _;

/// The custom fetcher of Appendix C.5: GET the template with `{id}` percent-encoded, the
/// record's proof and token, and one header per member of the context's `headers`.
struct TemplateFetcher {
    http: reqwest::Client,
    template: String,
    max_payload_bytes: u64,
}

impl Fetcher<Value> for TemplateFetcher {
    fn fetch<'a>(&'a self, record: &'a ImageRecord, context: &'a Value) -> FetchFuture<'a> {
        Box::pin(async move {
            // CLIENT-8: every byte but A-Z a-z 0-9 - _ . ~ percent-encoded.
            let id = pixstore_client::proto::client::request_target("", &record.id);
            let url = self.template.replace("{id}", id.trim_start_matches('/'));
            let mut request = self.http.get(&url);
            for (name, value) in pixstore_client::proto::client::request_headers(record) {
                request = request.header(name, value);
            }
            if let Some(headers) = context.get("headers").and_then(Value::as_object) {
                for (name, value) in headers {
                    if let Some(v) = value.as_str() {
                        request = request.header(name.as_str(), v);
                    }
                }
            }
            let response = request.send().await.map_err(|e| FetchError::from_reqwest(&url, e))?;
            read_payload(&url, &record.id, response, self.max_payload_bytes, None).await
        })
    }
}

fn text<'a>(req: &'a Value, key: &str) -> Option<&'a str> {
    req.get(key).and_then(Value::as_str)
}

fn number(req: &Value, pointer: &str) -> Option<u64> {
    req.pointer(pointer).and_then(Value::as_u64)
}

fn signed(req: &Value, pointer: &str) -> Option<i64> {
    req.pointer(pointer).and_then(Value::as_i64)
}

/// The configuration a request describes (its endpoint, cache, limits and bounds).
fn config_of(req: &Value) -> Result<ClientConfig, String> {
    let (host, port, route) = match text(req, "endpoint") {
        Some(url) => {
            let u = reqwest::Url::parse(url).map_err(|e| format!("endpoint {url:?}: {e}"))?;
            let host = u.host_str().ok_or_else(|| format!("endpoint {url:?}: no host"))?;
            let port = u.port_or_known_default().ok_or_else(|| format!("endpoint {url:?}: no port"))?;
            (Some(format!("{}://{host}", u.scheme())), Some(i64::from(port)), Some(u.path().to_owned()))
        }
        None => (None, None, None),
    };
    let timeout = number(req, "/timeoutMs");
    ClientOptions {
        default_endpoint_connect_host: host,
        default_endpoint_connect_port: port,
        default_endpoint_route: route,
        frontend_image_cache_limit: signed(req, "/cache/limit"),
        frontend_cleanup_batch: signed(req, "/cache/batch"),
        cache_dir: text(req.get("cache").unwrap_or(&Value::Null), "dir").map(Into::into),
        connect_timeout_ms: timeout,
        read_timeout_ms: timeout,
        request_timeout_ms: timeout,
        max_payload_bytes: number(req, "/maxPayloadBytes"),
    }
    .resolve()
    .map_err(|e| pixstore_client::error::Report(&e).to_string())
}

/// The client a request describes.
fn client_of(req: &Value, config: &ClientConfig) -> Result<Client<Value>, String> {
    let report = |e: &(dyn std::error::Error + 'static)| pixstore_client::error::Report(e).to_string();
    let dir = config.cache_dir.clone().ok_or("the request has no cache.dir")?;
    let cache = DirCache::open(dir).map_err(|e| report(&e))?;
    let builder = match text(req, "endpointTemplate") {
        Some(template) => {
            let http = reqwest::Client::builder()
                .use_rustls_tls()
                .connect_timeout(config.timeouts.connect)
                .read_timeout(config.timeouts.read)
                .timeout(config.timeouts.request)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| report(&e))?;
            let fetcher =
                TemplateFetcher { http, template: template.to_owned(), max_payload_bytes: config.max_payload_bytes };
            Client::builder().config(config.clone()).fetcher(fetcher)
        }
        None => {
            Client::builder().config(config.clone()).fetcher::<Value>(HttpFetcher::new(config).map_err(|e| report(&e))?)
        }
    };
    builder.cache(cache).build().map_err(|e| report(&e))
}

fn image_outcome(image: &Image) -> Value {
    let sha: String = sha2::Sha256::digest(image.bytes()).iter().map(|b| format!("{b:02x}")).collect();
    json!({
        "ok": true,
        "image": {
            "sha256": sha,
            "mime": image.mime(),
            "format": image.format().name(),
            "token": image.token().get(),
            "fromCache": image.source() == Source::Cache,
        }
    })
}

/// An error as Appendix C.4 names it: kind, detail, the message with its causes.
fn outcome_of_error(e: &GetImageError) -> Value {
    let message = pixstore_client::error::Report(e).to_string();
    let error = match e {
        GetImageError::Record(r) => json!({ "kind": "record", "recordKind": r.kind() }),
        GetImageError::Decode { source, .. } => json!({ "kind": "decode", "decodeKind": source.kind() }),
        GetImageError::Envelope { source, .. } => json!({ "kind": "envelope", "envelopeKind": source.kind() }),
        GetImageError::Fetch { source, .. } => {
            let (kind, status) = match source {
                FetchError::Timeout { .. } => ("timeout", None),
                FetchError::TooLarge { .. } => ("tooLarge", None),
                FetchError::Status { status, .. } if (300..400).contains(status) => ("redirect", Some(*status)),
                FetchError::Status { status, .. } => ("status", Some(*status)),
                FetchError::Connect { .. } => ("connect", None),
                _ => ("other", None),
            };
            json!({ "kind": "fetch", "fetchKind": kind, "status": status })
        }
        other => match other.state() {
            Some(state) => json!({ "kind": "state", "state": state.name() }),
            None => json!({ "kind": "other" }),
        },
    };
    let mut error = error;
    if let Some(o) = error.as_object_mut() {
        o.insert("message".into(), json!(message));
    }
    json!({ "ok": false, "error": error })
}

fn failure(kind: &str, message: impl Into<String>) -> Value {
    json!({ "ok": false, "error": { "kind": kind, "message": message.into() } })
}

/// Answers one request.
async fn handle(req: &Value) -> Value {
    let op = text(req, "op").unwrap_or("");
    if op == "info" {
        return json!({
            "ok": true,
            "name": concat!("pixstore-client ", env!("CARGO_PKG_VERSION"), " (the reference client, DirCache)"),
            "cacheInDir": true,
        });
    }
    if !matches!(op, "reset" | "get" | "cached" | "evict") {
        return failure("unsupported", format!("op {op:?} is not offered: the cache is in cache.dir (no dump needed)"));
    }
    let config = match config_of(req) {
        Ok(c) => c,
        Err(e) => return failure("other", e),
    };
    let client = match client_of(req, &config) {
        Ok(c) => c,
        Err(e) => return failure("other", e),
    };
    let id = text(req, "id").unwrap_or("").to_owned();
    match op {
        "reset" => match client.cache().clear().await {
            Ok(_) => json!({ "ok": true }),
            Err(e) => failure("other", pixstore_client::error::Report(&e).to_string()),
        },
        "cached" => match client.cached_image_exists(&id).await {
            Ok(c) => json!({ "ok": true, "cached": c }),
            Err(e) => failure("other", pixstore_client::error::Report(&e).to_string()),
        },
        "evict" => match client.delete_cached_image(&id).await {
            Ok(_) => json!({ "ok": true }),
            Err(e) => failure("other", pixstore_client::error::Report(&e).to_string()),
        },
        _ => get(req, client).await,
    }
}

/// `get`: `concurrency` calls at once (CLIENT-11 is the client's single flight, shared by the
/// clones of one client).
async fn get(req: &Value, client: Client<Value>) -> Value {
    let record = Bytes::from(text(req, "record").unwrap_or("").to_owned());
    let context = req.get("context").cloned().unwrap_or(Value::Null);
    let n = number(req, "/concurrency").unwrap_or(1).clamp(1, 64);
    let calls: Vec<_> = (0..n)
        .map(|_| {
            let (client, record, context) = (client.clone(), record.clone(), context.clone());
            tokio::spawn(async move { client.get_image_json(&record, &context).await })
        })
        .collect();
    let mut results = Vec::new();
    for call in calls {
        results.push(match call.await {
            Ok(Ok(image)) => image_outcome(&image),
            Ok(Err(e)) => outcome_of_error(&e),
            Err(e) => failure("other", format!("the get-image task failed: {e}")),
        });
    }
    if n == 1 {
        results.pop().unwrap_or_else(|| failure("other", "no result"))
    } else {
        json!({ "ok": true, "results": results })
    }
}

fn with_seq(mut outcome: Value, req: &Value) -> Value {
    if let Some(o) = outcome.as_object_mut() {
        o.insert("seq".into(), req.get("seq").cloned().unwrap_or(Value::Null));
    }
    outcome
}

async fn answer_line(line: &[u8]) -> Value {
    match serde_json::from_slice::<Value>(line) {
        Ok(req) => with_seq(handle(&req).await, &req),
        Err(e) => failure("other", format!("the request is not JSON: {e}")),
    }
}

/// Runs the adapter: one request from standard input, or (`lines`) one per line until it closes.
pub(crate) async fn run(lines: bool) -> Result<(), String> {
    let write = |v: &Value| {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{v}").and_then(|()| out.flush()).map_err(|e| format!("cannot write stdout: {e}"))
    };
    if !lines {
        let mut input = Vec::new();
        std::io::stdin().read_to_end(&mut input).map_err(|e| format!("cannot read stdin: {e}"))?;
        return write(&answer_line(&input).await);
    }
    // Lines are read on a blocking thread, so that the runtime keeps serving the client.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().split(b'\n') {
            let Ok(l) = line else { break };
            if tx.blocking_send(l).is_err() {
                break;
            }
        }
    });
    while let Some(line) = rx.recv().await {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        write(&answer_line(&line).await)?;
    }
    Ok(())
}
