//! A small Pixstore client behind the client adapter protocol (spec Appendix C), written only
//! to be broken: with no [`Bug`] it follows every rule of spec §11 (and passes every client
//! check); each bug breaks exactly one rule, as a real client might. The broken-client
//! self-test (`broken_clients`) proves that every client check catches the client it exists
//! for.
//!
//! It is deliberately not `pixstore-client`: that client cannot be made to cache before it
//! authenticates or to store a key. It shares only pixstore-proto (decode, envelope, record
//! parsing) and the suite's HTTP/1.1 client.
//!
//! Cache: one file per entry in `cache.dir`, `<hex id>.entry`:
//! `"BRK1" | token u64 LE | last use ms u64 LE | ciphertext offset u32 LE | stored bytes`
//! (the offset is 0 unless a bug stores the whole payload).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use conformance::http::{Transport, TransportOptions, Url};
use proto::envelope::{EnvelopeError, Meta};
use proto::format::Format;
use proto::record::ImageRecord;
use proto::wire::{Payload, PayloadRef};
use serde_json::{json, Value};
use sha2::Digest as _;

/// One broken rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bug {
    /// Its name (`--bug NAME`).
    pub name: &'static str,
    /// The requirement it breaks.
    pub breaks: &'static str,
    /// What the client does wrong.
    pub what: &'static str,
    /// The check(s) expected to catch it.
    pub caught_by: &'static [&'static str],
}

/// Every bug.
pub const BUGS: &[Bug] = &[
    Bug {
        name: "caches-before-authenticating",
        breaks: "CLIENT-3",
        what: "writes the fetched ciphertext to the cache before it decrypts it (3.2.1)",
        caught_by: &["PXC-11.1-tampered-ciphertext-not-cached"],
    },
    Bug {
        name: "stores-the-key",
        breaks: "CLIENT-2",
        what: "stores the whole payload, Updated header with key, IV and tag included (3.2.1)",
        caught_by: &["PXC-11.1-no-key-material-in-cache"],
    },
    Bug {
        name: "ignores-updated-metadata",
        breaks: "CLIENT-4",
        what: "decrypts an Updated payload with the record's meta and caches it under the record's token",
        caught_by: &["PXC-11.2-updated-metadata-used-and-cached"],
    },
    Bug {
        name: "follows-redirects-with-proof",
        breaks: "CLIENT-10",
        what: "follows a redirect to another host with the same headers, proof included",
        caught_by: &["PXC-11.6-redirect-keeps-proof-home"],
    },
    Bug {
        name: "evicts-nothing",
        breaks: "CLIENT-6",
        what: "never evicts",
        caught_by: &["PXC-11.3-evicts-lru-at-limit"],
    },
    Bug {
        name: "no-lru-touch",
        breaks: "CLIENT-7",
        what: "a cache hit does not update the entry's last use (evicts by insertion order)",
        caught_by: &["PXC-11.3-evicts-lru-at-limit"],
    },
    Bug {
        name: "hit-sends-request",
        breaks: "CLIENT-1",
        what: "revalidates every cache hit with a request",
        caught_by: &["PXC-11.1-cache-hit-sends-nothing"],
    },
    Bug {
        name: "sends-cached-token",
        breaks: "TOKEN-8",
        what: "sends the cached entry's token instead of the record's",
        caught_by: &["PXC-11.4-record-token-not-cached-token"],
    },
    Bug {
        name: "keeps-undecryptable-entry",
        breaks: "CLIENT-1",
        what: "a cached entry that does not decrypt is an error every time; it stays (3.2.1)",
        caught_by: &["PXC-11.1-same-token-other-payload"],
    },
    Bug {
        name: "untyped-errors",
        breaks: "CLIENT-5",
        what: "reports every failure as one generic error",
        caught_by: &["PXC-11.2-error-states-reach-the-caller"],
    },
    Bug {
        name: "validates-nothing",
        breaks: "REC-6",
        what: "fetches with whatever the record holds (token 0, a:b:c ids, short keys)",
        caught_by: &["PXC-7.3-invalid-record-sends-nothing"],
    },
    Bug {
        name: "no-single-flight",
        breaks: "CLIENT-11",
        what: "concurrent gets of one record each fetch",
        caught_by: &["PXC-11.6-concurrent-gets-share-one-fetch"],
    },
    Bug {
        name: "no-timeout",
        breaks: "CLIENT-12",
        what: "waits for an answer as long as the connection stays open",
        caught_by: &["PXC-11.6-hung-endpoint-times-out"],
    },
    Bug {
        name: "no-size-bound",
        breaks: "CLIENT-9",
        what: "accepts a payload of any size",
        caught_by: &["PXC-11.6-payload-size-bounded"],
    },
    Bug {
        name: "mime-from-name",
        breaks: "FMT-3",
        what: "gives image/<registry name> (image/jpg for byte 3, as 3.2.1)",
        caught_by: &["PXC-6.3-registry-mime-types"],
    },
    Bug {
        name: "colon-unencoded",
        breaks: "CLIENT-8",
        what: "leaves ':' unencoded in the request path",
        caught_by: &["PXC-11.4-request-carries-proof-and-token"],
    },
    Bug {
        name: "empty-proof-sent",
        breaks: "CLIENT-8",
        what: "sends an empty x-pixstore-proof header for a record without a proof",
        caught_by: &["PXC-11.4-empty-proof-omitted"],
    },
    Bug {
        name: "context-dropped",
        breaks: "CLIENT-8",
        what: "the custom fetcher never sees the call's context",
        caught_by: &["PXC-11.4-custom-fetcher-gets-context"],
    },
    Bug {
        name: "trusts-unknown-format",
        breaks: "FMT-2",
        what: "returns an authenticated plaintext whose format byte is unknown, labelled as PNG",
        caught_by: &["PXC-6.2-unknown-format-not-cached"],
    },
    Bug {
        name: "lenient-decoder",
        breaks: "WIRE-9",
        what: "ignores trailing bytes after a one-byte state (3.2.1)",
        caught_by: &["PXC-11.2-malformed-payloads-rejected"],
    },
    Bug {
        name: "status-as-internal-error",
        breaks: "CLIENT-5",
        what: "reports an HTTP error status as the InternalError state",
        caught_by: &["PXC-11.2-fetch-failures-typed"],
    },
    Bug {
        name: "drops-entry-on-failure",
        breaks: "CLIENT-3",
        what: "removes the id's cache entry when a fetch fails",
        caught_by: &["PXC-11.1-previous-entry-survives"],
    },
    Bug {
        name: "failures-count-as-entries",
        breaks: "CLIENT-6",
        what: "leaves an empty placeholder entry for a failed get, which eviction counts",
        caught_by: &["PXC-11.3-eviction-survives-failures"],
    },
    Bug {
        name: "tag-not-checked-on-updated",
        breaks: "ENV-5",
        what: "caches an Updated ciphertext before checking its tag (Success is checked first)",
        caught_by: &["PXC-11.1-tampered-tag-not-cached"],
    },
    Bug {
        name: "batch-off-by-one",
        breaks: "CLIENT-6",
        what: "evicts one entry fewer than the batch says",
        caught_by: &["PXC-11.3-batch-zero-evicts-one"],
    },
];

/// Looks a bug up by name; `none` is no bug.
pub fn bug(name: &str) -> Result<Option<Bug>, String> {
    if name == "none" {
        return Ok(None);
    }
    BUGS.iter().find(|b| b.name == name).copied().map(Some).ok_or_else(|| {
        format!("unknown bug {name:?}; known: none, {}", BUGS.iter().map(|b| b.name).collect::<Vec<_>>().join(", "))
    })
}

/// Where a request goes: the origin, the request target, the headers.
type Target = (Url, String, Vec<(String, String)>);

const MAGIC: &[u8; 4] = b"BRK1";
const HEADER: usize = 4 + 8 + 8 + 4;

/// The client, configured by one request.
struct Client {
    bug: Option<&'static str>,
    dir: PathBuf,
    limit: usize,
    batch: usize,
    timeout: Duration,
    max_payload: u64,
    endpoint: Option<String>,
    template: Option<String>,
    transport: Transport,
    flight: Arc<tokio::sync::Mutex<()>>,
}

/// A record as the client uses it (the lenient bug builds one from anything).
#[derive(Debug, Clone)]
struct Rec {
    id: String,
    token: u64,
    meta: Meta,
    proof: String,
}

struct Entry {
    token: u64,
    last_used: u64,
    offset: usize,
    stored: Vec<u8>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(0))
        .unwrap_or(0)
}

fn err(kind: &str, detail: Option<(&str, Value)>, message: &str) -> Value {
    let mut e = json!({ "kind": kind, "message": message });
    if let (Some((k, v)), Some(o)) = (detail, e.as_object_mut()) {
        o.insert(k.into(), v);
    }
    json!({ "ok": false, "error": e })
}

impl Client {
    fn is(&self, name: &str) -> bool {
        self.bug == Some(name)
    }

    fn path(&self, id: &str) -> PathBuf {
        let hex: String = id.bytes().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{hex}.entry"))
    }

    fn read(&self, id: &str) -> Option<Entry> {
        read_entry(&self.path(id))
    }

    fn write(&self, id: &str, e: &Entry) {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&e.token.to_le_bytes());
        bytes.extend_from_slice(&e.last_used.to_le_bytes());
        bytes.extend_from_slice(&u32::try_from(e.offset).unwrap_or(0).to_le_bytes());
        bytes.extend_from_slice(&e.stored);
        let _ = std::fs::write(self.path(id), bytes);
    }

    /// CLIENT-6: evicts least recently used entries down to limit - batch.
    fn evict(&self) {
        if self.is("evicts-nothing") {
            return;
        }
        let mut entries: Vec<(u64, PathBuf)> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "entry"))
            .filter_map(|p| read_entry(&p).map(|e| (e.last_used, p)))
            .collect();
        if entries.len() <= self.limit {
            return;
        }
        entries.sort();
        let mut n = entries.len() - (self.limit - self.batch);
        if self.is("batch-off-by-one") {
            n = n.saturating_sub(1);
        }
        for (_, p) in entries.into_iter().take(n) {
            let _ = std::fs::remove_file(p);
        }
    }

    fn record(&self, text: &str) -> Result<Rec, Value> {
        match ImageRecord::from_json(text.as_bytes()) {
            Ok(r) => Ok(Rec { id: r.id, token: r.token.get(), meta: r.meta, proof: r.stateless_proof }),
            Err(e) if !self.is("validates-nothing") => {
                Err(err("record", Some(("recordKind", json!(e.kind()))), &e.to_string()))
            }
            Err(e) => {
                let v: Value = serde_json::from_str(text)
                    .map_err(|_| err("record", Some(("recordKind", json!("Syntax"))), &e.to_string()))?;
                let field = |k: &str, n: usize| {
                    let mut out = vec![0u8; n];
                    let text = v.pointer(&format!("/meta/{k}")).and_then(Value::as_str).unwrap_or("");
                    use base64::Engine as _;
                    if let Ok(b) = base64::engine::general_purpose::STANDARD_NO_PAD.decode(text.trim_end_matches('=')) {
                        for (o, b) in out.iter_mut().zip(b) {
                            *o = b;
                        }
                    }
                    out
                };
                let (key, iv, tag) = (field("key", 32), field("iv", 12), field("tag", 16));
                Ok(Rec {
                    id: v.get("id").and_then(Value::as_str).unwrap_or("").to_owned(),
                    token: v
                        .get("token")
                        .and_then(|t| t.as_u64().or_else(|| t.as_str().and_then(|s| s.parse().ok())))
                        .unwrap_or(1),
                    meta: Meta {
                        key: key.try_into().unwrap_or([0; 32]),
                        iv: iv.try_into().unwrap_or([0; 12]),
                        tag: tag.try_into().unwrap_or([0; 16]),
                    },
                    proof: v.get("statelessProof").and_then(Value::as_str).unwrap_or("").to_owned(),
                })
            }
        }
    }

    /// CLIENT-8: the URL and headers of the request for `r`.
    fn request_of(&self, r: &Rec, context: &Value) -> Result<Target, Value> {
        let encoded = if self.is("colon-unencoded") {
            proto::client::request_target("", &r.id).trim_start_matches('/').replace("%3A", ":")
        } else {
            proto::client::request_target("", &r.id).trim_start_matches('/').to_owned()
        };
        let (url, target) = match (&self.template, &self.endpoint) {
            (Some(t), _) => {
                let (u, path) =
                    Url::parse_keeping_path(&t.replace("{id}", &encoded)).map_err(|e| err("other", None, &e))?;
                (u, path)
            }
            (None, Some(e)) => {
                let u = Url::parse(e).map_err(|e| err("other", None, &e))?;
                let target = format!("{}/{encoded}", u.path);
                (u, target)
            }
            (None, None) => return Err(err("other", None, "no endpoint")),
        };
        let mut headers = Vec::new();
        if !r.proof.is_empty() || self.is("empty-proof-sent") {
            headers.push((proto::http::PROOF_HEADER.to_owned(), r.proof.clone()));
        }
        let mut token = r.token;
        if self.is("sends-cached-token") {
            if let Some(e) = self.read(&r.id) {
                token = e.token;
            }
        }
        headers.push((proto::http::TOKEN_HEADER.to_owned(), token.to_string()));
        if self.template.is_some() && !self.is("context-dropped") {
            if let Some(h) = context.get("headers").and_then(Value::as_object) {
                for (k, v) in h {
                    headers.push((k.clone(), v.as_str().unwrap_or("").to_owned()));
                }
            }
        }
        Ok((url, target, headers))
    }

    async fn fetch(&self, r: &Rec, context: &Value) -> Result<Vec<u8>, Value> {
        let (url, target, headers) = self.request_of(r, context)?;
        let send = |url: Url, target: String, headers: Vec<(String, String)>| {
            let transport = self.transport.clone();
            async move { transport.send(&url, "GET", &target, &headers, b"").await }
        };
        let exchange = async {
            let mut ex = send(url.clone(), target.clone(), headers.clone()).await?;
            if (300..400).contains(&ex.status) && self.is("follows-redirects-with-proof") {
                if let Some(location) = ex.header("location").map(str::to_owned) {
                    let (u, path) = Url::parse_keeping_path(&location)?;
                    ex = send(u, path, headers).await?;
                }
            }
            Ok::<_, String>(ex)
        };
        let ex = if self.is("no-timeout") {
            exchange.await
        } else {
            match tokio::time::timeout(self.timeout, exchange).await {
                Ok(r) => r,
                Err(_) => return Err(err("fetch", Some(("fetchKind", json!("timeout"))), "timed out")),
            }
        }
        .map_err(|e| err("fetch", Some(("fetchKind", json!("other"))), &e))?;
        if ex.status != 200 {
            if self.is("status-as-internal-error") {
                return Err(err("state", Some(("state", json!("InternalError"))), "status"));
            }
            let kind = if (300..400).contains(&ex.status) { "redirect" } else { "status" };
            let mut e = err("fetch", Some(("fetchKind", json!(kind))), &format!("HTTP {}", ex.status));
            if let Some(o) = e.get_mut("error").and_then(Value::as_object_mut) {
                o.insert("status".into(), json!(ex.status));
            }
            return Err(e);
        }
        if !self.is("no-size-bound") && u64::try_from(ex.body.len()).unwrap_or(u64::MAX) > self.max_payload {
            return Err(err("fetch", Some(("fetchKind", json!("tooLarge"))), "payload larger than maxPayloadBytes"));
        }
        Ok(ex.body)
    }

    fn image(&self, plaintext: &[u8], token: u64, from_cache: bool) -> Result<Value, Value> {
        let (&byte, image) = plaintext
            .split_first()
            .ok_or_else(|| err("envelope", Some(("envelopeKind", json!("MissingFormatByte"))), "empty"))?;
        let format = match Format::from_byte(byte) {
            Ok(f) => f,
            Err(_) if self.is("trusts-unknown-format") => Format::Png,
            Err(e) => return Err(err("envelope", Some(("envelopeKind", json!("UnknownFormat"))), &e.to_string())),
        };
        let mime =
            if self.is("mime-from-name") { format!("image/{}", format.name()) } else { format.mime().to_owned() };
        let sha: String = sha2::Sha256::digest(image).iter().map(|b| format!("{b:02x}")).collect();
        Ok(
            json!({ "ok": true, "image": { "sha256": sha, "mime": mime, "format": format.name(), "token": token, "fromCache": from_cache } }),
        )
    }

    fn open(meta: &Meta, ct: &[u8]) -> Result<Vec<u8>, Value> {
        // The format byte is judged by `image` (so that one bug can trust unknown ones): only
        // the authentication is asked of the envelope here.
        let mut buf = ct.to_vec();
        if buf.is_empty() {
            let e = EnvelopeError::MissingFormatByte;
            return Err(err("envelope", Some(("envelopeKind", json!(e.kind()))), &e.to_string()));
        }
        proto::envelope::Aead::open_in_place(&proto::envelope::Ring, &meta.key, &meta.iv, &meta.tag, &mut buf)
            .map_err(|_| {
                let e = EnvelopeError::Authentication;
                err("envelope", Some(("envelopeKind", json!(e.kind()))), &e.to_string())
            })?;
        Ok(buf)
    }

    /// Spec §11.5, with whatever the bug breaks.
    async fn get(&self, text: &str, context: &Value) -> Value {
        let r = match self.record(text) {
            Ok(r) => r,
            Err(e) => return e,
        };
        // CLIENT-11: one call per id at a time; the others then find the cache filled.
        let _flight = if self.is("no-single-flight") { None } else { Some(self.flight.lock().await) };
        if !self.is("hit-sends-request") {
            if let Some(e) = self.read(&r.id).filter(|e| e.token == r.token) {
                let ct = e.stored.get(e.offset..).unwrap_or_default();
                match Self::open(&r.meta, ct).and_then(|p| self.image(&p, r.token, true)) {
                    Ok(v) => {
                        if !self.is("no-lru-touch") {
                            self.write(&r.id, &Entry { last_used: now_ms(), ..e });
                        }
                        return v;
                    }
                    Err(v) if self.is("keeps-undecryptable-entry") => return v,
                    Err(_) => {
                        let _ = std::fs::remove_file(self.path(&r.id));
                    }
                }
            }
        }
        let result = self.fetch_and_open(&r, context).await;
        if result.get("ok") != Some(&json!(true)) {
            if self.is("drops-entry-on-failure") {
                let _ = std::fs::remove_file(self.path(&r.id));
            }
            if self.is("failures-count-as-entries") && self.read(&r.id).is_none() {
                self.write(&r.id, &Entry { token: 1, last_used: now_ms(), offset: 0, stored: Vec::new() });
                self.evict();
            }
        }
        if self.is("untyped-errors") && result.get("ok") != Some(&json!(true)) {
            return err("other", None, "failed");
        }
        result
    }

    async fn fetch_and_open(&self, r: &Rec, context: &Value) -> Value {
        let body = match self.fetch(r, context).await {
            Ok(b) => b,
            Err(e) => return e,
        };
        let payload = match PayloadRef::decode(&body) {
            Ok(p) => p,
            Err(proto::wire::DecodeError::TrailingBytes { .. }) if self.is("lenient-decoder") => {
                let state = body.first().copied().and_then(|b| proto::wire::State::from_byte(b).ok());
                return err("state", Some(("state", json!(state.map(|s| s.name())))), "state");
            }
            Err(e) => return err("decode", Some(("decodeKind", json!(e.kind()))), &e.to_string()),
        };
        let (meta, token, offset) = match &payload {
            Payload::Success { .. } => (r.meta, r.token, 1),
            Payload::Updated { meta, token, .. } if !self.is("ignores-updated-metadata") => (*meta, token.get(), 69),
            Payload::Updated { .. } => (r.meta, r.token, 69),
            other => return err("state", Some(("state", json!(other.state().name()))), "state"),
        };
        let updated = matches!(payload, Payload::Updated { .. });
        let ct = payload.ciphertext().unwrap_or_default().to_vec();
        let (stored, offset) = if self.is("stores-the-key") { (body.clone(), offset) } else { (ct.clone(), 0) };
        let entry = Entry { token, last_used: now_ms(), offset, stored };
        let early = self.is("caches-before-authenticating") || (self.is("tag-not-checked-on-updated") && updated);
        if early {
            self.write(&r.id, &entry);
            self.evict();
        }
        let plaintext = match Self::open(&meta, &ct) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let out = match self.image(&plaintext, token, false) {
            Ok(v) => v,
            Err(e) => return e,
        };
        if !early {
            self.write(&r.id, &entry);
            self.evict();
        }
        out
    }
}

fn read_entry(path: &Path) -> Option<Entry> {
    let b = std::fs::read(path).ok()?;
    if b.get(..4)? != MAGIC {
        return None;
    }
    let u64_at = |i: usize| b.get(i..i + 8).and_then(|s| <[u8; 8]>::try_from(s).ok()).map(u64::from_le_bytes);
    let offset = b.get(20..24).and_then(|s| <[u8; 4]>::try_from(s).ok()).map(u32::from_le_bytes)?;
    Some(Entry {
        token: u64_at(4)?,
        last_used: u64_at(12)?,
        offset: usize::try_from(offset).ok()?,
        stored: b.get(HEADER..)?.to_vec(),
    })
}

fn client_of(req: &Value, bug: Option<Bug>, flight: Arc<tokio::sync::Mutex<()>>) -> Result<Client, String> {
    let dir = req.pointer("/cache/dir").and_then(Value::as_str).ok_or("no cache.dir")?;
    let n = |p: &str, d: u64| req.pointer(p).and_then(Value::as_u64).unwrap_or(d);
    Ok(Client {
        bug: bug.map(|b| b.name),
        dir: PathBuf::from(dir),
        limit: usize::try_from(n("/cache/limit", 1000)).unwrap_or(1000),
        batch: usize::try_from(n("/cache/batch", 50)).unwrap_or(50),
        timeout: Duration::from_millis(n("/timeoutMs", 10_000)),
        max_payload: n("/maxPayloadBytes", 256 << 20),
        endpoint: req.get("endpoint").and_then(Value::as_str).map(str::to_owned),
        template: req.get("endpointTemplate").and_then(Value::as_str).map(str::to_owned),
        transport: Transport::new(&TransportOptions::default())?,
        flight,
    })
}

/// Answers one request of the protocol.
pub async fn answer(req: &Value, bug: Option<Bug>) -> Value {
    let op = req.get("op").and_then(Value::as_str).unwrap_or("");
    let mut out = if op == "info" {
        json!({ "ok": true, "name": format!("broken client ({})", bug.map_or("no bug", |b| b.name)), "cacheInDir": true })
    } else {
        match client_of(req, bug, Arc::default()) {
            Err(e) => err("other", None, &e),
            Ok(c) => {
                let id = req.get("id").and_then(Value::as_str).unwrap_or("");
                match op {
                    "reset" => {
                        for e in std::fs::read_dir(&c.dir).into_iter().flatten().flatten() {
                            let _ = std::fs::remove_file(e.path());
                        }
                        json!({ "ok": true })
                    }
                    "cached" => json!({ "ok": true, "cached": c.read(id).is_some() }),
                    "evict" => {
                        let _ = std::fs::remove_file(c.path(id));
                        json!({ "ok": true })
                    }
                    "get" => {
                        let text = req.get("record").and_then(Value::as_str).unwrap_or("").to_owned();
                        let context = req.get("context").cloned().unwrap_or(Value::Null);
                        let n = req.get("concurrency").and_then(Value::as_u64).unwrap_or(1).clamp(1, 16);
                        let c = Arc::new(c);
                        let calls: Vec<_> = (0..n)
                            .map(|_| {
                                let (c, text, context) = (c.clone(), text.clone(), context.clone());
                                tokio::spawn(async move { c.get(&text, &context).await })
                            })
                            .collect();
                        let mut results = Vec::new();
                        for call in calls {
                            results.push(call.await.unwrap_or_else(|e| err("other", None, &e.to_string())));
                        }
                        if n == 1 {
                            results.pop().unwrap_or(Value::Null)
                        } else {
                            json!({ "ok": true, "results": results })
                        }
                    }
                    _ => err("unsupported", None, op),
                }
            }
        }
    };
    if let Some(o) = out.as_object_mut() {
        o.insert("seq".into(), req.get("seq").cloned().unwrap_or(Value::Null));
    }
    out
}
