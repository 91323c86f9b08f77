//! Client checks: the conformance suite for the other role. The suite runs the implementer's
//! client through an adapter ([`adapter`], spec Appendix C) against a scripted hostile endpoint
//! it controls ([`endpoint`]), plays the backend itself (it stores images, seals them and mints
//! the records), and judges the client by what reaches the endpoint, what the adapter reports,
//! and what the client's cache holds ([`scan`]).
//!
//! The checks ([`checks`]) use the suite's machinery unchanged: ids (`PXC-<spec section>-<slug>`),
//! levels, requirement IDs, reports and known-failing lists, over their own context
//! [`ClientCtx`]. Every check starts a [`Scenario`]: a fresh cache folder, a reset client, a
//! reset endpoint. After every check the cache is scanned for the key, IV and tag of every
//! version the check served (CLIENT-2); `PXC-11.1-no-key-material-in-cache` reports what any
//! scan found.

pub mod adapter;
pub mod checks;
pub mod endpoint;
pub mod scan;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use proto::envelope::{Aead as _, Meta};
use proto::format::Format;
use proto::record::ImageRecord;
use proto::token::Token;
use rand::{RngExt as _, SeedableRng as _};
use serde_json::Value;
use sha2::Digest as _;

use self::adapter::{Adapter, CacheConfig, Op, Outcome, Request};
use self::endpoint::{Endpoint, Version};
use self::scan::{Finding, Scan, Secret};
use crate::{fail, Context, Profile, Stop};

/// Options of a client run.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Every check goes through the custom route and the adapter's custom fetcher (Appendix
    /// C.5) instead of the default endpoint.
    pub via_template: bool,
    /// The fetch bound the adapter is given (`timeoutMs`) in every check but the hang check.
    pub fetch_timeout_ms: u64,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions { via_template: false, fetch_timeout_ms: 10_000 }
    }
}

/// The default cache limits of a scenario (the spec's defaults, CLIENT-6).
pub const DEFAULT_LIMITS: (u64, u64) = (1000, 50);
/// The payload bound of a scenario unless a check sets one (the reference client's default).
pub const DEFAULT_MAX_PAYLOAD: u64 = 256 << 20;

/// The proof window of the suite's records (they are used within seconds).
const WINDOW_MS: u64 = 20_000;
/// Tokens start at a realistic millisecond timestamp (3.2.1 style) and only grow.
const FIRST_TOKEN: u64 = 1_732_752_000_000;

/// What `info` said.
#[derive(Debug, Clone, Default)]
pub struct AdapterInfo {
    /// The client and its version.
    pub name: String,
    /// Whether the cache lives in `cache.dir` (else: `dump`).
    pub cache_in_dir: bool,
}

#[derive(Debug)]
struct RunState {
    check: &'static str,
    check_no: usize,
    scenario: Option<ScenarioState>,
    rng: rand::rngs::ChaCha8Rng,
    next_token: u64,
    findings: Vec<(&'static str, Finding)>,
}

#[derive(Debug, Clone)]
struct ScenarioState {
    dir: PathBuf,
    secrets: Vec<Secret>,
}

/// What every client check gets: the adapter, the endpoint, the backend's state.
pub struct ClientCtx {
    /// The implementer's adapter.
    pub adapter: Adapter,
    /// The hostile endpoint.
    pub endpoint: Endpoint,
    /// What the adapter said about itself.
    pub info: AdapterInfo,
    /// The run's options.
    pub options: ClientOptions,
    work: tempfile::TempDir,
    ring: proto::proof::Keyring,
    state: Mutex<RunState>,
}

impl std::fmt::Debug for ClientCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCtx").field("adapter", &self.adapter).field("info", &self.info).finish()
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(0))
        .unwrap_or(0)
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// An adapter failure as a check failure (code `adapter`).
pub fn adapter_failure(e: &adapter::AdapterError) -> Stop {
    fail("adapter", e.to_string())
}

impl ClientCtx {
    /// Starts the endpoint and asks the adapter what it is (`info`).
    pub async fn connect(adapter: Adapter, options: ClientOptions) -> Result<ClientCtx, String> {
        let endpoint = Endpoint::start().await?;
        let outcome = adapter
            .call(Request::new(Op::Info), None)
            .await
            .map_err(|e| format!("the adapter does not answer `info`: {e}"))?;
        if !outcome.ok {
            return Err(format!("the adapter answered `info` with {}", outcome.summary()));
        }
        let info = AdapterInfo {
            name: outcome.name.unwrap_or_else(|| "(unnamed client)".into()),
            cache_in_dir: outcome.cache_in_dir.unwrap_or(true),
        };
        let work = tempfile::Builder::new()
            .prefix("pixstore-client-checks-")
            .tempdir()
            .map_err(|e| format!("cannot create a folder for the caches: {e}"))?;
        let mut ring = proto::proof::Keyring::new();
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(0x5058_4320_7631);
        let key: [u8; 32] = rng.random();
        ring.insert(1, key).map_err(|e| e.to_string())?;
        ring.set_signing(1).map_err(|e| e.to_string())?;
        Ok(ClientCtx {
            adapter,
            endpoint,
            info,
            options,
            work,
            ring,
            state: Mutex::new(RunState {
                check: "",
                check_no: 0,
                scenario: None,
                rng,
                next_token: FIRST_TOKEN,
                findings: Vec::new(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, RunState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Called by every client check before its body: names the check in progress.
    pub fn begin(&self, check: &'static str) {
        let mut s = self.lock();
        s.check = check;
        s.scenario = None;
    }

    /// What the CLIENT-2 scans of the checks so far found: `(check id, finding)`.
    pub fn findings(&self) -> Vec<(&'static str, Finding)> {
        self.lock().findings.clone()
    }

    /// Starts a scenario: a fresh cache folder with the given limits, the client reset, the
    /// endpoint reset.
    pub async fn start(&self, limits: (u64, u64)) -> Result<Scenario<'_>, Stop> {
        let (n, dir) = {
            let mut s = self.lock();
            s.check_no += 1;
            let dir = self.work.path().join(format!("{:02}", s.check_no));
            s.scenario = Some(ScenarioState { dir: dir.clone(), secrets: Vec::new() });
            (s.check_no, dir)
        };
        std::fs::create_dir_all(&dir).map_err(|e| fail("harness", format!("cannot create {}: {e}", dir.display())))?;
        self.endpoint.reset();
        let scenario = Scenario {
            ctx: self,
            n,
            dir,
            limits,
            max_payload: DEFAULT_MAX_PAYLOAD,
            timeout_ms: self.options.fetch_timeout_ms,
            template: self.options.via_template,
        };
        scenario.expect_ok(Op::Reset, scenario.request(Op::Reset), "reset").await?;
        Ok(scenario)
    }

    /// The cache of the scenario in progress, as the scan sees it: the folder, or `dump`.
    async fn scan_current(&self, dir: &std::path::Path) -> Result<Scan, Stop> {
        if self.info.cache_in_dir {
            return Ok(Scan::folder(dir));
        }
        let mut req = Request::new(Op::Dump);
        req.endpoint = Some(self.endpoint.route_url());
        req.cache =
            Some(CacheConfig { dir: dir.display().to_string(), limit: DEFAULT_LIMITS.0, batch: DEFAULT_LIMITS.1 });
        req.timeout_ms = Some(self.options.fetch_timeout_ms);
        req.max_payload_bytes = Some(DEFAULT_MAX_PAYLOAD);
        let out = self.adapter.call(req, None).await.map_err(|e| adapter_failure(&e))?;
        match out.entries {
            Some(entries) if out.ok => {
                let mut scan = Scan::folder(dir);
                scan.add_dump(&entries);
                Ok(scan)
            }
            _ => Err(fail(
                "adapter",
                format!(
                    "the adapter says its cache is not in cache.dir (info: cacheInDir false) but answered dump with {}",
                    out.summary()
                ),
            )),
        }
    }
}

impl Context for ClientCtx {
    fn skip_reason(&self, profile: Profile) -> Option<String> {
        match profile {
            Profile::Client => None,
            _ => Some("an endpoint check; this run checks a client".into()),
        }
    }

    /// CLIENT-2 after every scenario: scans the cache for the secrets the check served, then
    /// closes whatever the endpoint still holds open.
    fn cleanup(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            self.endpoint.release();
            let (check, scenario) = {
                let s = self.lock();
                (s.check, s.scenario.clone())
            };
            if let Some(sc) = scenario {
                if let Ok(scan) = self.scan_current(&sc.dir).await {
                    let found = scan.find(&sc.secrets);
                    self.lock().findings.extend(found.into_iter().map(|f| (check, f)));
                }
            }
            self.endpoint.reset();
        })
    }
}

/// An image the suite stored: its id, the current version, and what the client must return.
#[derive(Debug, Clone)]
pub struct Img {
    /// The id.
    pub id: String,
    /// The version (token, meta, ciphertext).
    pub version: Version,
    /// The image bytes (after the format byte).
    pub image: Vec<u8>,
    /// Its format.
    pub format: Format,
    /// SHA-256 of `image`, hex.
    pub sha256: String,
}

/// One check's scenario.
pub struct Scenario<'a> {
    /// The run.
    pub ctx: &'a ClientCtx,
    /// The scenario's number (ids start with `pxc-<n>:`).
    pub n: usize,
    /// The cache folder.
    pub dir: PathBuf,
    /// `(limit, batch)`.
    pub limits: (u64, u64),
    /// `maxPayloadBytes`.
    pub max_payload: u64,
    /// `timeoutMs`.
    pub timeout_ms: u64,
    /// Through the custom route.
    pub template: bool,
}

impl Scenario<'_> {
    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.ctx.endpoint
    }

    /// An id of this scenario: `pxc-<n>:<name>` (a dir, so that CLIENT-8's `%3A` is exercised).
    pub fn id(&self, name: &str) -> String {
        format!("pxc-{}:{name}", self.n)
    }

    fn random_bytes<const N: usize>(&self) -> [u8; N] {
        self.ctx.lock().rng.random()
    }

    /// Deterministic noise with a PNG signature (the client never needs to decode it).
    pub fn image_bytes(&self, len: usize) -> Vec<u8> {
        let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut s = self.ctx.lock();
        while v.len() < len {
            let chunk: [u8; 32] = s.rng.random();
            v.extend_from_slice(&chunk);
        }
        v.truncate(len.max(8));
        v
    }

    fn next_token(&self) -> Token {
        let mut s = self.ctx.lock();
        s.next_token += 1;
        Token::new(s.next_token).unwrap_or(Token::MIN)
    }

    /// Remembers a version's key, IV and tag for the CLIENT-2 scan.
    fn remember(&self, id: &str, v: &Version) {
        let mut s = self.ctx.lock();
        if let Some(sc) = s.scenario.as_mut() {
            let t = v.token;
            for (what, bytes) in [("key", &v.meta.key[..]), ("IV", &v.meta.iv[..]), ("tag", &v.meta.tag[..])] {
                sc.secrets.push(Secret { label: format!("{what} of {id} version {t}"), bytes: bytes.to_vec() });
            }
        }
    }

    /// Seals `image` under a fresh key and IV with the raw format byte `format_byte` (the
    /// registry's, or an unknown one for FMT-2), with `token` (a new one when `None`).
    pub fn seal_raw(&self, id: &str, format_byte: u8, image: &[u8], token: Option<Token>) -> Version {
        let key: [u8; 32] = self.random_bytes();
        let iv: [u8; 12] = self.random_bytes();
        let mut buf = Vec::with_capacity(image.len() + 1);
        buf.push(format_byte);
        buf.extend_from_slice(image);
        let tag = proto::envelope::Ring.seal_in_place(&key, &iv, &mut buf).unwrap_or([0; 16]);
        let v =
            Version { token: token.unwrap_or_else(|| self.next_token()), meta: Meta { key, iv, tag }, ciphertext: buf };
        self.remember(id, &v);
        v
    }

    /// A new image of `len` bytes in `format` (not yet published).
    pub fn image(&self, id: &str, format: Format, len: usize) -> Img {
        let image = self.image_bytes(len);
        let version = self.seal_raw(id, format.byte(), &image, None);
        Img { id: id.to_owned(), version, sha256: sha256_hex(&image), image, format }
    }

    /// A new version of `img` with other content (a fresh key, IV and a greater token).
    pub fn next_version(&self, img: &Img, len: usize) -> Img {
        self.image(&img.id, img.format, len)
    }

    /// A new PNG image of 2000 bytes, published.
    pub fn stored(&self, name: &str) -> Img {
        let id = self.id(name);
        let img = self.image(&id, Format::Png, 2000);
        self.publish(&img);
        img
    }

    /// Makes `img` the endpoint's current version.
    pub fn publish(&self, img: &Img) {
        self.ctx.endpoint.publish(&img.id, &img.version);
    }

    /// The record of `img` as the backend would mint it now, with a v1 proof the endpoint
    /// accepts.
    pub fn record(&self, img: &Img) -> ImageRecord {
        let proof = proto::proof::mint(&self.ctx.ring, &img.id, now_ms(), proto::proof::Window::Millis(WINDOW_NZ))
            .unwrap_or_default();
        self.ctx.endpoint.accept_proof(&img.id, &proof);
        ImageRecord { id: img.id.clone(), token: img.version.token, meta: img.version.meta, stateless_proof: proof }
    }

    /// The record's JSON text.
    pub fn record_json(&self, img: &Img) -> String {
        self.record(img).to_json()
    }

    /// A request for `op` with this scenario's configuration.
    pub fn request(&self, op: Op) -> Request {
        let mut r = Request::new(op);
        if self.template {
            r.endpoint_template = Some(self.ctx.endpoint.template());
        } else {
            r.endpoint = Some(self.ctx.endpoint.route_url());
        }
        r.cache = Some(CacheConfig { dir: self.dir.display().to_string(), limit: self.limits.0, batch: self.limits.1 });
        r.timeout_ms = Some(self.timeout_ms);
        r.max_payload_bytes = Some(self.max_payload);
        r
    }

    /// Sends `request`; an adapter failure is a check failure (code `adapter`).
    pub async fn call(&self, request: Request, wait: Option<Duration>) -> Result<Outcome, Stop> {
        self.ctx.adapter.call(request, wait).await.map_err(|e| adapter_failure(&e))
    }

    async fn expect_ok(&self, op: Op, request: Request, what: &str) -> Result<Outcome, Stop> {
        let out = self.call(request, None).await?;
        if !out.ok {
            return Err(fail("adapter", format!("the adapter could not {what} ({op:?}): {}", out.summary())));
        }
        Ok(out)
    }

    /// The get request for a record's JSON text.
    pub fn get_request(&self, record_json: &str, context: Value, concurrency: u32) -> Request {
        let mut r = self.request(Op::Get);
        r.record = Some(record_json.to_owned());
        r.context = Some(context);
        r.concurrency = (concurrency != 1).then_some(concurrency);
        r
    }

    /// The client's get-image call with a record's JSON text and no context.
    pub async fn get_json(&self, record_json: &str) -> Result<Outcome, Stop> {
        self.call(self.get_request(record_json, Value::Null, 1), None).await
    }

    /// The client's get-image call with `record`.
    pub async fn get(&self, record: &ImageRecord) -> Result<Outcome, Stop> {
        self.get_json(&record.to_json()).await
    }

    /// Whether the client's cache has an entry for `id`.
    pub async fn cached(&self, id: &str) -> Result<bool, Stop> {
        let mut r = self.request(Op::Cached);
        r.id = Some(id.to_owned());
        let out = self.expect_ok(Op::Cached, r, "say whether an id is cached").await?;
        out.cached.ok_or_else(|| fail("adapter", "the adapter answered `cached` without `cached` (spec Appendix C.4)"))
    }

    /// The client's delete-cached-image call.
    pub async fn evict(&self, id: &str) -> Result<(), Stop> {
        let mut r = self.request(Op::Evict);
        r.id = Some(id.to_owned());
        self.expect_ok(Op::Evict, r, "evict an id").await.map(|_| ())
    }

    /// The cache as the scan sees it.
    pub async fn scan(&self) -> Result<Scan, Stop> {
        self.ctx.scan_current(&self.dir).await
    }

    /// The secrets of every version this scenario made.
    pub fn secrets(&self) -> Vec<Secret> {
        self.ctx.lock().scenario.as_ref().map(|s| s.secrets.clone()).unwrap_or_default()
    }

    /// Waits `ms` (eviction checks space their calls so that last uses differ).
    pub async fn pause(&self, ms: u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

const WINDOW_NZ: std::num::NonZeroU64 = match std::num::NonZeroU64::new(WINDOW_MS) {
    Some(w) => w,
    None => std::num::NonZeroU64::MIN,
};

/// Every client check, in the order they run.
pub fn all() -> Vec<crate::Check<ClientCtx>> {
    checks::all()
}
