//! [`S3Store`]: the [`Store`] over any S3-compatible object store with conditional writes (AWS
//! S3, Ceph RADOS Gateway, MinIO, R2, ...), so that many server instances share one bucket.
//!
//! - **create** is `PUT` with `If-None-Match: *` (412: the id exists);
//! - **replace** is a compare-and-swap: `PUT` with `If-Match` on the ETag of the version read.
//!   A loser (412, or 409 `ConditionalRequestConflict`) gets [`StoreError::Conflict`], and the
//!   service reads again and retries with a token above the winner's: tokens stay strictly
//!   increasing per id across instances (TOKEN-2);
//! - **load** revalidates: a version in the bounded per-instance cache is asked for with
//!   `If-None-Match` (304: the cached version is current; its body is not sent again), so every
//!   answer reflects every update any instance acknowledged before the request was sent (S3
//!   and RGW are strongly consistent for single-object reads after writes), at the cost of one
//!   round trip per request (bench/s3.sh measures it). Loads are never coalesced: a
//!   request that joined a GET sent before it arrived could miss an update acknowledged in
//!   between;
//! - **delete** is `HEAD` (did it exist?) then `DELETE`; **list** is `ListObjectsV2`.
//!
//! Objects are named `<prefix>/<id>` (the id validated first, spec ID-4); their content is the
//! stored version ([`StoredImage`]), normally wrapped (keys sealed at rest, [`crate::kek`]).
//!
//! **Engines differ from AWS** (seen on Ceph RGW 16, tests in `tests/store_contract.rs`): RGW compares `If-Match`
//! on `PUT` with the raw header text, so the quoted ETag that it returns never matches: the ETag
//! is sent without quotes (AWS and MinIO strip the quotes, so the bare form works for all of
//! them). RGW answers `If-Match` on a missing key with 412 (AWS: 404): both become "the version
//! is gone or changed", and the service's re-read tells which. A lost race on RGW is usually 500
//! (internally ECANCELED), not 412: after a 5xx on a conditional `PUT` the object is read again:
//! our own bytes mean our write landed (each version has a fresh random key, so bytes are never
//! written twice), other bytes that another writer won, and the expected version still in place
//! that the store really failed. No request is retried blindly.
//!
//! **Why rusty-s3 + reqwest** (docs/s3.md has the comparison): rusty-s3 is a sans-IO signer
//! (SigV4 presigned URLs): we send the exact headers we choose (the bare `If-Match` RGW needs),
//! see every status (no retry layer that turns a 412 or a 500 into something else, or repeats a
//! conditional PUT), and reuse the HTTP client the tree already has (reqwest on hyper 1 and
//! rustls); it added 17 crates to `Cargo.lock`. `object_store` fits the API (conditional put
//! modes, 304 as `NotModified`) but sends ETags quoted as S3 returns them (RGW refuses those),
//! maps statuses into its own error kinds and retries unless configured not to; `aws-sdk-s3`
//! gives full control but brings the smithy runtime and its retry layer, and builds with about
//! four times the CPU time into a binary four times the size (153 / 194 / 233 crates, 225 /
//! 249 / 923 CPU-s, 5.1 / 7.1 / 23.1 MB for a one-PUT program; docs/s3.md). Credentials follow the AWS conventions (below) without aws-config's
//! dependency tree.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use proto::token::Token;
use rusty_s3::{Bucket, Credentials, S3Action as _, UrlStyle};

use crate::store::{CacheCounters, Store, StoreError, StoredImage, LIST_PAGE};

/// How long a signed request stays valid (it is sent at once; this only bounds clock skew).
const SIGNATURE_LIFETIME: Duration = Duration::from_secs(300);

/// Where the store is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct S3Location {
    /// The bucket.
    pub bucket: String,
    /// The key prefix (empty, or ending with `/`).
    pub prefix: String,
    /// The service's URL (`s3Endpoint`); `None`: AWS, `https://s3.<region>.amazonaws.com`.
    pub endpoint: Option<String>,
    /// The region (`s3Region`); `None`: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's
    /// `region`, else `us-east-1`.
    pub region: Option<String>,
    /// Path-style URLs (`https://host/bucket/key`, `s3PathStyle`; RGW and MinIO want them)
    /// rather than virtual-hosted ones (`https://bucket.host/key`).
    pub path_style: bool,
    /// Timeout of one request to the store.
    pub timeout: Duration,
}

impl S3Location {
    /// Parses `s3://bucket/prefix` (the prefix may be empty, or have several segments).
    pub fn parse(url: &str) -> Result<S3Location, String> {
        let rest = url.strip_prefix("s3://").ok_or_else(|| "an s3://bucket/prefix URL".to_owned())?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && !bucket.starts_with(['-', '.'])
            && !bucket.ends_with(['-', '.']);
        if !bucket_ok {
            return Err("a bucket name of 3 to 63 lowercase letters, digits, '-' and '.'".into());
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|s| s == "." || s == "..")
            || prefix.contains("//")
            || prefix.chars().any(char::is_control)
        {
            return Err("a prefix of plain path segments (no '.', '..' or empty segments)".into());
        }
        Ok(S3Location {
            bucket: bucket.to_owned(),
            prefix: if prefix.is_empty() { String::new() } else { format!("{prefix}/") },
            endpoint: None,
            region: None,
            path_style: false,
            timeout: Duration::from_secs(10),
        })
    }

    /// A location with the given service URL, region and addressing.
    pub fn with_service(mut self, endpoint: Option<String>, region: Option<String>, path_style: bool) -> S3Location {
        self.endpoint = endpoint;
        self.region = region;
        self.path_style = path_style;
        self
    }

    /// The same location with another request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> S3Location {
        self.timeout = timeout;
        self
    }

    /// `s3://bucket/prefix`, for messages.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }
}

/// Credentials and region as the AWS tools find them.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// A session token (temporary credentials).
    pub session_token: Option<String>,
    /// The region the profile names, if any.
    pub region: Option<String>,
    /// Where they came from (for messages; never the secret).
    pub source: String,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .field("source", &self.source)
            .finish()
    }
}

/// The sections of an AWS shared credentials or config file: `[name]` headers, `key = value`
/// lines, `#`/`;` comments. Indented lines continue a nested setting (`s3 =` followed by
/// `  addressing_style = path`) and are skipped: nothing here reads nested settings. (A general
/// INI crate rejects those continuation lines; aws-config, the official parser, brings about a
/// hundred crates for what is this function.)
fn ini_sections(text: &str) -> Vec<Section> {
    let mut sections: Vec<Section> = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            sections.push((name.trim().to_owned(), Vec::new()));
        } else if let (Some((key, value)), Some((_, entries))) = (line.split_once('='), sections.last_mut()) {
            entries.push((key.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    sections
}

/// One `[name]` of an INI file and its `key = value` entries (keys lowercased).
type Section = (String, Vec<(String, String)>);

fn section<'a>(sections: &'a [Section], names: &[String]) -> Option<&'a [(String, String)]> {
    names.iter().find_map(|n| sections.iter().find(|(s, _)| s == n).map(|(_, e)| e.as_slice()))
}

fn value(entries: Option<&[(String, String)]>, key: &str) -> Option<String> {
    entries?.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone()).filter(|v| !v.is_empty())
}

impl AwsCredentials {
    /// The standard sources, in the AWS tools' order: `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY` (with `AWS_SESSION_TOKEN`); else the profile `AWS_PROFILE`
    /// (`default`) of the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`,
    /// `~/.aws/credentials`), then of the config file (`AWS_CONFIG_FILE`, `~/.aws/config`,
    /// section `[profile NAME]` or `[default]`). The region comes from `AWS_REGION`,
    /// `AWS_DEFAULT_REGION` or the profile's `region`. Instance metadata, SSO and
    /// `credential_process` are not supported.
    pub fn from_environment() -> Result<AwsCredentials, String> {
        Self::from_lookup(
            |name| std::env::var(name).ok().filter(|v| !v.is_empty()),
            |path| std::fs::read_to_string(path),
        )
    }

    /// [`from_environment`](Self::from_environment) with the variables and files given (tests).
    pub fn from_lookup(
        var: impl Fn(&str) -> Option<String>,
        read: impl Fn(&std::path::Path) -> std::io::Result<String>,
    ) -> Result<AwsCredentials, String> {
        let home = var("HOME").map(PathBuf::from);
        let file = |var_name: &str, default: &str| -> Option<PathBuf> {
            var(var_name).map(PathBuf::from).or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
        };
        let profile = var("AWS_PROFILE").unwrap_or_else(|| "default".into());
        let credentials_file = file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
        let config_file = file("AWS_CONFIG_FILE", "config");
        let parse = |path: &Option<PathBuf>| -> Result<Vec<Section>, String> {
            match path {
                None => Ok(Vec::new()),
                Some(p) => match read(p) {
                    Ok(text) => Ok(ini_sections(&text)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
                    Err(e) => Err(format!("cannot read {}: {e}", p.display())),
                },
            }
        };
        let creds = parse(&credentials_file)?;
        let config = parse(&config_file)?;
        let in_creds = section(&creds, std::slice::from_ref(&profile));
        let config_names =
            if profile == "default" { vec!["default".to_owned()] } else { vec![format!("profile {profile}")] };
        let in_config = section(&config, &config_names);
        let region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")).or_else(|| value(in_config, "region"));
        if let (Some(id), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            return Ok(AwsCredentials {
                access_key_id: id,
                secret_access_key: secret,
                session_token: var("AWS_SESSION_TOKEN"),
                region,
                source: "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into(),
            });
        }
        for (entries, path) in [(in_creds, &credentials_file), (in_config, &config_file)] {
            if let (Some(id), Some(secret)) =
                (value(entries, "aws_access_key_id"), value(entries, "aws_secret_access_key"))
            {
                return Ok(AwsCredentials {
                    access_key_id: id,
                    secret_access_key: secret,
                    session_token: value(entries, "aws_session_token"),
                    region,
                    source: format!(
                        "profile {profile} of {}",
                        path.as_ref().map_or_else(|| "?".into(), |p| p.display().to_string())
                    ),
                });
            }
        }
        Err(format!(
            "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or put aws_access_key_id and aws_secret_access_key in the profile {profile:?} (AWS_PROFILE) of {} or {}",
            credentials_file.map_or_else(|| "~/.aws/credentials".into(), |p| p.display().to_string()),
            config_file.map_or_else(|| "~/.aws/config".into(), |p| p.display().to_string()),
        ))
    }
}

/// What S3Store counts beside its cache: conditional writes whose answer was a 5xx and that a
/// re-read resolved (RGW's lost races).
#[derive(Debug, Default)]
pub struct QuirkCounters {
    /// Conditional PUTs answered 5xx that the re-read showed lost to another writer.
    pub lost_race_5xx: AtomicU64,
    /// Conditional PUTs answered 5xx that the re-read showed had landed.
    pub landed_5xx: AtomicU64,
}

struct Cached {
    etag: String,
    image: Arc<StoredImage>,
}

struct Inner {
    location: S3Location,
    bucket: Bucket,
    credentials: Credentials,
    http: reqwest::Client,
    cache: moka::sync::Cache<String, Arc<Cached>>,
    counters: CacheCounters,
    quirks: QuirkCounters,
    max_object_bytes: u64,
}

/// The object store (see the module documentation). Clones share one client and cache.
#[derive(Clone)]
pub struct S3Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store").field("location", &self.inner.location).finish()
    }
}

/// The answer to a GET.
enum Got {
    Missing,
    NotModified,
    Found { etag: String, bytes: Bytes },
}

/// What a conditional PUT expects.
#[derive(Clone, Copy)]
enum Condition<'a> {
    /// `If-None-Match: *`.
    Absent,
    /// `If-Match` on this ETag.
    Matches(&'a str),
}

fn remote(message: String) -> StoreError {
    StoreError::Remote(message)
}

/// An ETag without its quotes (and without a weak `W/` marker), as RGW compares `If-Match`.
pub fn bare_etag(etag: &str) -> &str {
    let etag = etag.strip_prefix("W/").unwrap_or(etag);
    etag.strip_prefix('"').and_then(|e| e.strip_suffix('"')).unwrap_or(etag)
}

/// The `<Code>` and `<Message>` of an S3 error body, when there is one.
fn error_text(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body.get(..body.len().min(2048)).unwrap_or_default());
    let tag = |name: &str| -> Option<String> {
        let start = text.find(&format!("<{name}>"))? + name.len() + 2;
        let end = text.get(start..)?.find("</")? + start;
        text.get(start..end).map(str::to_owned)
    };
    match (tag("Code"), tag("Message")) {
        (Some(c), Some(m)) if !m.is_empty() => format!(" ({c}: {m})"),
        (Some(c), _) => format!(" ({c})"),
        _ => String::new(),
    }
}

impl S3Store {
    /// A store at `location` with `credentials`, keeping up to `cache_bytes` of versions in
    /// memory, refusing objects larger than `max_object_bytes`. Nothing is sent yet:
    /// [`Store::check`] checks the bucket (the server does at start).
    pub fn new(
        location: S3Location,
        credentials: &AwsCredentials,
        cache_bytes: u64,
        max_object_bytes: u64,
    ) -> Result<S3Store, StoreError> {
        let region =
            location.region.clone().or_else(|| credentials.region.clone()).unwrap_or_else(|| "us-east-1".to_owned());
        let endpoint = location.endpoint.clone().unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let url =
            url::Url::parse(&endpoint).map_err(|e| remote(format!("s3Endpoint {endpoint:?} is not a URL: {e}")))?;
        let style = if location.path_style { UrlStyle::Path } else { UrlStyle::VirtualHost };
        let bucket = Bucket::new(url, style, location.bucket.clone(), region).map_err(|e| {
            remote(format!(
                "cannot address bucket {:?} at {endpoint}: {e} (an IP address or a bucket name with dots needs --s3-path-style)",
                location.bucket
            ))
        })?;
        let creds = match &credentials.session_token {
            Some(t) => Credentials::new_with_token(
                credentials.access_key_id.clone(),
                credentials.secret_access_key.clone(),
                t.clone(),
            ),
            None => Credentials::new(credentials.access_key_id.clone(), credentials.secret_access_key.clone()),
        };
        // No retries (reqwest has none): every status reaches the store's own logic.
        let http = reqwest::Client::builder()
            .timeout(location.timeout)
            .connect_timeout(location.timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| remote(format!("cannot build the S3 HTTP client: {e}")))?;
        let cache = moka::sync::Cache::builder()
            .weigher(|_: &String, v: &Arc<Cached>| u32::try_from(v.image.len()).unwrap_or(u32::MAX))
            .max_capacity(cache_bytes)
            .build();
        Ok(S3Store {
            inner: Arc::new(Inner {
                location,
                bucket,
                credentials: creds,
                http,
                cache,
                counters: CacheCounters::default(),
                quirks: QuirkCounters::default(),
                max_object_bytes,
            }),
        })
    }

    /// The cache's counters (a hit is a 304).
    pub fn cache_counters(&self) -> &CacheCounters {
        &self.inner.counters
    }

    /// The 5xx answers to conditional writes that a re-read resolved.
    pub fn quirk_counters(&self) -> &QuirkCounters {
        &self.inner.quirks
    }

    /// Where the store is.
    pub fn location(&self) -> &S3Location {
        &self.inner.location
    }

    /// The object key of `id` (validated against the id grammar first, ID-4).
    pub fn key_of(&self, id: &str) -> Result<String, StoreError> {
        proto::id::validate(id).map_err(StoreError::InvalidId)?;
        Ok(format!("{}{id}", self.inner.location.prefix))
    }

    fn where_(&self) -> String {
        format!("{} at {}", self.inner.location.url(), self.inner.bucket.base_url())
    }

    async fn send(&self, request: reqwest::RequestBuilder, what: &str) -> Result<reqwest::Response, StoreError> {
        request.send().await.map_err(|e| {
            let cause = std::error::Error::source(&e).map(|s| format!(": {s}")).unwrap_or_default();
            remote(format!("S3 {what} failed: cannot reach {}{cause} ({e})", self.where_()))
        })
    }

    async fn unexpected(&self, response: reqwest::Response, what: &str) -> StoreError {
        let status = response.status();
        let body = response.bytes().await.unwrap_or_default();
        remote(format!("S3 {what} on {}: unexpected status {status}{}", self.where_(), error_text(&body)))
    }

    async fn get(&self, key: &str, if_none_match: Option<&str>) -> Result<Got, StoreError> {
        let mut action = self.inner.bucket.get_object(Some(&self.inner.credentials), key);
        if let Some(etag) = if_none_match {
            action.headers_mut().insert("if-none-match", etag);
        }
        let url = action.sign(SIGNATURE_LIFETIME);
        let mut request = self.inner.http.get(url);
        if let Some(etag) = if_none_match {
            request = request.header("if-none-match", etag);
        }
        let response = self.send(request, "GET").await?;
        match response.status().as_u16() {
            200 => {
                let etag = response
                    .headers()
                    .get("etag")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
                    .ok_or_else(|| remote(format!("S3 GET {key} on {}: the answer has no ETag", self.where_())))?;
                if response.content_length().is_some_and(|n| n > self.inner.max_object_bytes) {
                    return Err(StoreError::Corrupt(format!(
                        "object {key} is larger than any stored version can be ({} bytes)",
                        self.inner.max_object_bytes
                    )));
                }
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|e| remote(format!("S3 GET {key} on {}: reading the body failed: {e}", self.where_())))?;
                Ok(Got::Found { etag, bytes })
            }
            304 => Ok(Got::NotModified),
            404 => Ok(Got::Missing),
            _ => Err(self.unexpected(response, "GET").await),
        }
    }

    /// A conditional PUT; the new ETag (if the answer had one) or the status that refused it.
    async fn put(
        &self,
        key: &str,
        body: Bytes,
        condition: Condition<'_>,
    ) -> Result<Result<Option<String>, u16>, StoreError> {
        let (name, value) = match condition {
            Condition::Absent => ("if-none-match", "*"),
            Condition::Matches(etag) => ("if-match", bare_etag(etag)),
        };
        let mut action = self.inner.bucket.put_object(Some(&self.inner.credentials), key);
        action.headers_mut().insert(name, value);
        let url = action.sign(SIGNATURE_LIFETIME);
        let request = self.inner.http.put(url).header(name, value).body(body);
        let response = self.send(request, "PUT").await?;
        let status = response.status().as_u16();
        match status {
            200 | 201 | 204 => Ok(Ok(response.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned))),
            404 | 409 | 412 => Ok(Err(status)),
            500..=599 => {
                let body = response.bytes().await.unwrap_or_default();
                tracing::debug!(key, status, detail = %error_text(&body), "S3 conditional PUT answered 5xx; reading the object again");
                Ok(Err(status))
            }
            _ => Err(self.unexpected(response, "PUT").await),
        }
    }

    /// After a 5xx on a conditional PUT of `ours`: whether our write landed (`Ok(true)`), or
    /// another writer's version is there (`Ok(false)`); an error if the object is as it was.
    async fn resolve_5xx(
        &self,
        key: &str,
        ours: &Bytes,
        status: u16,
        before: Option<&str>,
    ) -> Result<bool, StoreError> {
        match self.get(key, None).await? {
            Got::Found { bytes, .. } if bytes == *ours => {
                self.inner.quirks.landed_5xx.fetch_add(1, Ordering::Relaxed);
                Ok(true)
            }
            Got::Found { etag, .. } if before.is_some_and(|b| bare_etag(b) == bare_etag(&etag)) => {
                Err(remote(format!(
                    "S3 PUT {key} on {} answered {status} and the object is unchanged: the store failed",
                    self.where_()
                )))
            }
            Got::Missing if before.is_none() => Err(remote(format!(
                "S3 PUT {key} on {} answered {status} and nothing was stored: the store failed",
                self.where_()
            ))),
            _ => {
                self.inner.quirks.lost_race_5xx.fetch_add(1, Ordering::Relaxed);
                Ok(false)
            }
        }
    }

    fn remember(&self, id: &str, etag: Option<String>, image: StoredImage) {
        match etag {
            Some(etag) => self.inner.cache.insert(id.to_owned(), Arc::new(Cached { etag, image: Arc::new(image) })),
            None => self.inner.cache.invalidate(id),
        }
    }

    /// The ETag of the version of `id` whose token is `expected`, from the cache or a GET.
    async fn etag_of(&self, id: &str, key: &str, expected: Token) -> Result<String, StoreError> {
        if let Some(c) = self.inner.cache.get(id) {
            if c.image.token() == expected {
                return Ok(c.etag.clone());
            }
        }
        match self.get(key, None).await? {
            Got::Found { etag, bytes } => {
                let image = StoredImage::from_stored(bytes).map_err(|e| corrupt_in(key, e))?;
                if image.token() != expected {
                    return Err(StoreError::Conflict { expected: expected.get(), found: image.token().get() });
                }
                self.remember(id, Some(etag.clone()), image);
                Ok(etag)
            }
            Got::Missing | Got::NotModified => Err(StoreError::NotFound),
        }
    }
}

fn corrupt_in(key: &str, e: StoreError) -> StoreError {
    match e {
        StoreError::Corrupt(m) => StoreError::Corrupt(format!("object {key}: {m}")),
        other => other,
    }
}

impl Store for S3Store {
    async fn load(&self, id: &str) -> Result<Option<Arc<StoredImage>>, StoreError> {
        let key = self.key_of(id)?;
        let cached = self.inner.cache.get(id);
        match self.get(&key, cached.as_ref().map(|c| c.etag.as_str())).await? {
            Got::NotModified => match cached {
                Some(c) => {
                    self.inner.counters.hits.inc();
                    Ok(Some(c.image.clone()))
                }
                None => Err(remote(format!("S3 GET {key} answered 304 to an unconditional request"))),
            },
            Got::Missing => {
                self.inner.cache.invalidate(id);
                Ok(None)
            }
            Got::Found { etag, bytes } => {
                self.inner.counters.misses.inc();
                let image = Arc::new(StoredImage::from_stored(bytes).map_err(|e| corrupt_in(&key, e))?);
                self.inner.cache.insert(id.to_owned(), Arc::new(Cached { etag, image: image.clone() }));
                Ok(Some(image))
            }
        }
    }

    async fn create(&self, id: &str, image: StoredImage) -> Result<(), StoreError> {
        let key = self.key_of(id)?;
        let body = image.stored_bytes().clone();
        match self.put(&key, body.clone(), Condition::Absent).await? {
            Ok(etag) => {
                self.remember(id, etag, image);
                Ok(())
            }
            Err(412) => Err(StoreError::AlreadyExists),
            Err(status) => {
                // 409 (a concurrent conditional write) or 5xx: who won?
                if self.resolve_5xx(&key, &body, status, None).await? {
                    self.inner.cache.invalidate(id);
                    Ok(())
                } else {
                    Err(StoreError::AlreadyExists)
                }
            }
        }
    }

    async fn replace(&self, id: &str, expected: Token, image: StoredImage) -> Result<(), StoreError> {
        let key = self.key_of(id)?;
        let etag = self.etag_of(id, &key, expected).await?;
        let body = image.stored_bytes().clone();
        let lost = || StoreError::Conflict { expected: expected.get(), found: 0 };
        match self.put(&key, body.clone(), Condition::Matches(&etag)).await? {
            Ok(new_etag) => {
                self.remember(id, new_etag, image);
                Ok(())
            }
            // The version changed or is gone (RGW: 412 for a missing key; AWS: 404).
            Err(404) => {
                self.inner.cache.invalidate(id);
                Err(StoreError::NotFound)
            }
            Err(412 | 409) => {
                self.inner.cache.invalidate(id);
                Err(lost())
            }
            Err(status) => {
                self.inner.cache.invalidate(id);
                if self.resolve_5xx(&key, &body, status, Some(&etag)).await? {
                    Ok(())
                } else {
                    Err(lost())
                }
            }
        }
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let key = self.key_of(id)?;
        let head = self.inner.bucket.head_object(Some(&self.inner.credentials), &key).sign(SIGNATURE_LIFETIME);
        let response = self.send(self.inner.http.head(head), "HEAD").await?;
        match response.status().as_u16() {
            200 => {}
            404 => {
                self.inner.cache.invalidate(id);
                return Ok(false);
            }
            _ => return Err(self.unexpected(response, "HEAD").await),
        }
        let url = self.inner.bucket.delete_object(Some(&self.inner.credentials), &key).sign(SIGNATURE_LIFETIME);
        let response = self.send(self.inner.http.delete(url), "DELETE").await?;
        self.inner.cache.invalidate(id);
        match response.status().as_u16() {
            200 | 204 | 404 => Ok(true),
            _ => Err(self.unexpected(response, "DELETE").await),
        }
    }

    async fn list(&self, after: Option<&str>) -> Result<Vec<String>, StoreError> {
        let prefix = self.inner.location.prefix.clone();
        let mut ids = Vec::new();
        let mut start_after = after.map(|a| format!("{prefix}{a}"));
        // Objects that are not ids (another tool's files under the prefix) are skipped, so one
        // page may need several requests.
        while ids.len() < LIST_PAGE {
            let mut action = self.inner.bucket.list_objects_v2(Some(&self.inner.credentials));
            if !prefix.is_empty() {
                action.with_prefix(prefix.as_str());
            }
            if let Some(s) = &start_after {
                action.with_start_after(s.as_str());
            }
            action.with_max_keys(LIST_PAGE);
            let url = action.sign(SIGNATURE_LIFETIME);
            let response = self.send(self.inner.http.get(url), "ListObjectsV2").await?;
            if response.status().as_u16() != 200 {
                return Err(self.unexpected(response, "ListObjectsV2").await);
            }
            let text = response.text().await.map_err(|e| remote(format!("S3 ListObjectsV2 body: {e}")))?;
            let page = rusty_s3::actions::ListObjectsV2::parse_response(&text)
                .map_err(|e| remote(format!("S3 ListObjectsV2 on {}: unreadable answer: {e}", self.where_())))?;
            let Some(last) = page.contents.last().map(|c| c.key.clone()) else { break };
            for object in page.contents {
                if let Some(id) = object.key.strip_prefix(prefix.as_str()) {
                    if proto::id::validate(id).is_ok() && ids.len() < LIST_PAGE {
                        ids.push(id.to_owned());
                    }
                }
            }
            if page.next_continuation_token.is_none() {
                break;
            }
            start_after = Some(last);
        }
        Ok(ids)
    }

    async fn check(&self) -> Result<(), StoreError> {
        let url = self.inner.bucket.head_bucket(Some(&self.inner.credentials)).sign(SIGNATURE_LIFETIME);
        let response = self.send(self.inner.http.head(url), "HEAD bucket").await?;
        let bucket = &self.inner.location.bucket;
        let base = self.inner.bucket.base_url();
        match response.status().as_u16() {
            200 => Ok(()),
            404 => Err(remote(format!(
                "bucket {bucket:?} does not exist at {base}: create it first (for example `aws s3 mb s3://{bucket} --endpoint-url URL`), or fix --store"
            ))),
            301 | 307 | 400 => Err(remote(format!(
                "bucket {bucket:?} at {base} answered {}: it is probably in another region; set --s3-region (or AWS_REGION)",
                response.status()
            ))),
            401 | 403 => Err(remote(format!(
                "the S3 service at {base} refused the credentials for bucket {bucket:?} ({}): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the AWS_PROFILE), and the bucket's policy",
                response.status()
            ))),
            _ => Err(self.unexpected(response, "HEAD bucket").await),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let l = S3Location::parse("s3://pixstore-ci/a/b/").unwrap();
        assert_eq!((l.bucket.as_str(), l.prefix.as_str()), ("pixstore-ci", "a/b/"));
        assert_eq!(S3Location::parse("s3://bkt").unwrap().prefix, "");
        for bad in ["s3://ab", "s3://Upper", "http://b/x", "s3://bkt/a/../b", "s3://bkt/a//b", "s3://-bkt"] {
            assert!(S3Location::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn etags_lose_their_quotes() {
        assert_eq!(bare_etag("\"abc\""), "abc");
        assert_eq!(bare_etag("W/\"abc\""), "abc");
        assert_eq!(bare_etag("abc"), "abc");
    }

    #[test]
    fn credentials_from_variables_then_profiles() {
        let files = |path: &std::path::Path| -> std::io::Result<String> {
            match path.to_str() {
                Some("/h/.aws/credentials") => Ok("[default]\naws_access_key_id = AK1\naws_secret_access_key = S1\n\n[ci]\n# comment\naws_access_key_id=AK2\naws_secret_access_key=S2\naws_session_token = T2\n".into()),
                Some("/h/.aws/config") => Ok("[default]\nregion = eu-west-1\n[profile ci]\nregion = us-west-2\ns3 =\n  addressing_style = path\n[profile cfgonly]\naws_access_key_id = AK3\naws_secret_access_key = S3\n".into()),
                _ => Err(std::io::ErrorKind::NotFound.into()),
            }
        };
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        };
        let c = AwsCredentials::from_lookup(env(&[("HOME", "/h")]), files).unwrap();
        assert_eq!((c.access_key_id.as_str(), c.region.as_deref()), ("AK1", Some("eu-west-1")));
        let c = AwsCredentials::from_lookup(env(&[("HOME", "/h"), ("AWS_PROFILE", "ci")]), files).unwrap();
        assert_eq!((c.access_key_id.as_str(), c.session_token.as_deref()), ("AK2", Some("T2")));
        assert_eq!(c.region.as_deref(), Some("us-west-2"));
        let c = AwsCredentials::from_lookup(env(&[("HOME", "/h"), ("AWS_PROFILE", "cfgonly")]), files).unwrap();
        assert_eq!(c.access_key_id, "AK3");
        let c = AwsCredentials::from_lookup(
            env(&[
                ("HOME", "/h"),
                ("AWS_ACCESS_KEY_ID", "E"),
                ("AWS_SECRET_ACCESS_KEY", "zq-secret-zq"),
                ("AWS_REGION", "r"),
            ]),
            files,
        )
        .unwrap();
        assert_eq!((c.access_key_id.as_str(), c.region.as_deref()), ("E", Some("r")));
        let e = AwsCredentials::from_lookup(env(&[("HOME", "/nowhere")]), files).unwrap_err();
        assert!(e.contains("AWS_ACCESS_KEY_ID") && e.contains("/nowhere/.aws/credentials"), "{e}");
        assert!(!format!("{c:?}").contains("zq-secret-zq"));
    }

    #[test]
    fn error_bodies() {
        assert_eq!(
            error_text(b"<Error><Code>NoSuchBucket</Code><Message>gone</Message></Error>"),
            " (NoSuchBucket: gone)"
        );
        assert_eq!(error_text(b"<Error><Code>X</Code></Error>"), " (X)");
        assert_eq!(error_text(b"nothing"), "");
    }
}
