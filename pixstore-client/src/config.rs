//! Client configuration: the seed documentation's frontend options, validated.
//!
//! | key (3.2.1 name) | CLI flag | environment | default |
//! |---|---|---|---|
//! | `defaultEndpointConnectHost` | `--host` | `PIXSTORE_CONNECT_HOST` | none: required by the default fetcher; `https://` and `http://` prefixes are honoured (no prefix = `http`) |
//! | `defaultEndpointConnectPort` | `--port` | `PIXSTORE_CONNECT_PORT` | `7482` |
//! | `defaultEndpointRoute` | `--route` | `PIXSTORE_ROUTE` | `/pixstore-image` |
//! | `frontendImageCacheLimit` | `--cache-limit` | `PIXSTORE_CACHE_LIMIT` | `1000` entries (>= 1) |
//! | `frontendCleanupBatch` | `--cleanup-batch` | `PIXSTORE_CLEANUP_BATCH` | `50` (`0 <= batch < limit`) |
//! | `cacheDir` | `--cache-dir` | `PIXSTORE_CACHE_DIR` | `$XDG_CACHE_HOME/pixstore-client`, else `$HOME/.cache/pixstore-client` |
//! | `connectTimeoutMs` | - | - | `10000` |
//! | `readTimeoutMs` | - | - | `30000` (longest pause between two reads of a response) |
//! | `requestTimeoutMs` | `--timeout-ms` | `PIXSTORE_TIMEOUT_MS` | `300000` (a whole request) |
//! | `maxPayloadBytes` | - | - | `268435456` (256 MiB; larger answers are refused, spec §12.8) |
//!
//! The seed's other frontend options (`frontendDbName`, `frontendDbVersion`, `imageStoreName`,
//! `imageFormats`, `errorHandlingMode`) have no meaning here: the cache is a directory, the
//! format registry is fixed (FMT-1) and errors are typed `Result`s. A TOML file naming them is
//! refused, so a misspelt key never goes unnoticed.

use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::time::Duration;

use proto::client::CacheLimits;
use serde::Deserialize;

/// Why a configuration was refused. Each message names the option and what it accepts.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The TOML file could not be read.
    #[error("cannot read client config file {path}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        message: String,
    },
    /// The TOML file is not valid.
    #[error("client config file {path} is not valid: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said.
        message: String,
    },
    /// An option has an invalid value.
    #[error("invalid {option} = {value:?}: expected {expected}")]
    Invalid {
        /// The option's name (as in the seed documentation / the TOML file).
        option: &'static str,
        /// The value given.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
    /// The default fetcher needs an endpoint, and none was configured.
    #[error(
        "defaultEndpointConnectHost is not set: the default fetcher needs the endpoint's host (for example \
         https://images.example.com or 127.0.0.1); set it (--host, PIXSTORE_CONNECT_HOST) or give the client a \
         custom fetcher"
    )]
    MissingHost,
}

fn invalid(option: &'static str, value: impl ToString, expected: &'static str) -> ConfigError {
    ConfigError::Invalid { option, value: value.to_string(), expected }
}

/// The options as a TOML file (or the CLI) gives them: every key optional, seed names.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientOptions {
    /// `defaultEndpointConnectHost`: host name or IP, optionally prefixed `https://` or `http://`.
    pub default_endpoint_connect_host: Option<String>,
    /// `defaultEndpointConnectPort`.
    pub default_endpoint_connect_port: Option<i64>,
    /// `defaultEndpointRoute`.
    pub default_endpoint_route: Option<String>,
    /// `frontendImageCacheLimit`.
    pub frontend_image_cache_limit: Option<i64>,
    /// `frontendCleanupBatch`.
    pub frontend_cleanup_batch: Option<i64>,
    /// `cacheDir`: where the persistent cache lives.
    pub cache_dir: Option<PathBuf>,
    /// `connectTimeoutMs`.
    pub connect_timeout_ms: Option<u64>,
    /// `readTimeoutMs`.
    pub read_timeout_ms: Option<u64>,
    /// `requestTimeoutMs`.
    pub request_timeout_ms: Option<u64>,
    /// `maxPayloadBytes`.
    pub max_payload_bytes: Option<u64>,
}

impl ClientOptions {
    /// Reads a TOML file with the seed's key names.
    pub fn read(path: &std::path::Path) -> Result<ClientOptions, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Read { path: path.into(), message: e.to_string() })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.into(), message: e.to_string() })
    }

    /// `other`'s values where it has them, else ours (flags over environment over file).
    pub fn overlay(self, other: ClientOptions) -> ClientOptions {
        ClientOptions {
            default_endpoint_connect_host: other.default_endpoint_connect_host.or(self.default_endpoint_connect_host),
            default_endpoint_connect_port: other.default_endpoint_connect_port.or(self.default_endpoint_connect_port),
            default_endpoint_route: other.default_endpoint_route.or(self.default_endpoint_route),
            frontend_image_cache_limit: other.frontend_image_cache_limit.or(self.frontend_image_cache_limit),
            frontend_cleanup_batch: other.frontend_cleanup_batch.or(self.frontend_cleanup_batch),
            cache_dir: other.cache_dir.or(self.cache_dir),
            connect_timeout_ms: other.connect_timeout_ms.or(self.connect_timeout_ms),
            read_timeout_ms: other.read_timeout_ms.or(self.read_timeout_ms),
            request_timeout_ms: other.request_timeout_ms.or(self.request_timeout_ms),
            max_payload_bytes: other.max_payload_bytes.or(self.max_payload_bytes),
        }
    }

    /// Applies the defaults and validates every option.
    pub fn resolve(self) -> Result<ClientConfig, ConfigError> {
        let port = self.default_endpoint_connect_port.unwrap_or(i64::from(proto::http::DEFAULT_PORT));
        let port = u16::try_from(port)
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| invalid("defaultEndpointConnectPort", port, "a port from 1 to 65535"))?;
        let route = self.default_endpoint_route.unwrap_or_else(|| proto::http::DEFAULT_ROUTE.into());
        validate_route(&route)?;
        let endpoint = match self.default_endpoint_connect_host {
            Some(host) => Some(Endpoint::new(&host, port, &route)?),
            None => None,
        };
        let limits = limits(self.frontend_image_cache_limit, self.frontend_cleanup_batch)?;
        let positive = |option: &'static str, value: Option<u64>, default: u64| match value {
            Some(0) => Err(invalid(option, 0, "a positive number of milliseconds")),
            Some(v) => Ok(Duration::from_millis(v)),
            None => Ok(Duration::from_millis(default)),
        };
        let timeouts = Timeouts {
            connect: positive("connectTimeoutMs", self.connect_timeout_ms, 10_000)?,
            read: positive("readTimeoutMs", self.read_timeout_ms, 30_000)?,
            request: positive("requestTimeoutMs", self.request_timeout_ms, 300_000)?,
        };
        let max_payload_bytes = match self.max_payload_bytes {
            // The shortest Success payload is 2 bytes (WIRE-2); anything smaller refuses every image.
            Some(n) if n < 2 => return Err(invalid("maxPayloadBytes", n, "at least 2 bytes")),
            Some(n) => n,
            None => DEFAULT_MAX_PAYLOAD_BYTES,
        };
        Ok(ClientConfig { endpoint, route, limits, cache_dir: self.cache_dir, timeouts, max_payload_bytes })
    }
}

/// The default largest wire payload the default fetcher accepts: 256 MiB.
pub const DEFAULT_MAX_PAYLOAD_BYTES: u64 = 256 << 20;

/// CLIENT-6: `frontendImageCacheLimit` (integer >= 1, default 1000) and `frontendCleanupBatch`
/// (integer, default 50) with `0 <= batch < limit`; anything else is a configuration error
/// (3.2.1 accepted a negative batch, which switched its cleanup off for good).
pub fn limits(limit: Option<i64>, batch: Option<i64>) -> Result<CacheLimits, ConfigError> {
    let defaults = CacheLimits::default();
    let limit_v = limit.unwrap_or(i64::try_from(defaults.limit()).unwrap_or(1000));
    let limit = usize::try_from(limit_v)
        .ok()
        .filter(|l| *l >= 1)
        .ok_or_else(|| invalid("frontendImageCacheLimit", limit_v, "an integer >= 1 (entries kept in the cache)"))?;
    let batch_v = batch.unwrap_or(i64::try_from(defaults.batch()).unwrap_or(50));
    let batch = usize::try_from(batch_v).map_err(|_| {
        invalid("frontendCleanupBatch", batch_v, "an integer >= 0 and smaller than frontendImageCacheLimit")
    })?;
    CacheLimits::new(limit, batch).map_err(|_| {
        invalid(
            "frontendCleanupBatch",
            format!("{batch} (with frontendImageCacheLimit = {limit})"),
            "an integer >= 0 and smaller than frontendImageCacheLimit",
        )
    })
}

/// HTTP-1: an absolute path that starts with `/`, does not end with `/`, and is compared
/// literally (no `?`, `#` or `%`, which would change what the server sees).
fn validate_route(route: &str) -> Result<(), ConfigError> {
    let ok = route.starts_with('/')
        && route.len() > 1
        && !route.ends_with('/')
        && route.bytes().all(|b| b.is_ascii_graphic() && b != b'?' && b != b'#' && b != b'%');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "defaultEndpointRoute",
            route,
            "an absolute path such as /pixstore-image: starts with /, no trailing /, no ?, # or %",
        ))
    }
}

/// Timeouts of the default fetcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing the connection (TCP and TLS).
    pub connect: Duration,
    /// The longest pause between two reads of a response.
    pub read: Duration,
    /// A whole request, headers and body.
    pub request: Duration,
}

/// A validated client configuration.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The default endpoint, when `defaultEndpointConnectHost` is set.
    pub endpoint: Option<Endpoint>,
    /// `defaultEndpointRoute` (also when no host is set, for custom fetchers that want it).
    pub route: String,
    /// CLIENT-6: cache limit and cleanup batch.
    pub limits: CacheLimits,
    /// Where the persistent cache lives (`None`: the platform default, [`default_cache_dir`]).
    pub cache_dir: Option<PathBuf>,
    /// Timeouts of the default fetcher.
    pub timeouts: Timeouts,
    /// The largest wire payload the default fetcher accepts.
    pub max_payload_bytes: u64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            endpoint: None,
            route: proto::http::DEFAULT_ROUTE.into(),
            limits: CacheLimits::default(),
            cache_dir: None,
            timeouts: Timeouts {
                connect: Duration::from_secs(10),
                read: Duration::from_secs(30),
                request: Duration::from_secs(300),
            },
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
        }
    }
}

impl ClientConfig {
    /// The cache directory: the configured one, else [`default_cache_dir`].
    pub fn cache_dir(&self) -> Option<PathBuf> {
        self.cache_dir.clone().or_else(default_cache_dir)
    }
}

/// The platform's per-user cache directory for this client: `$XDG_CACHE_HOME/pixstore-client`,
/// else `$HOME/.cache/pixstore-client` (`%LOCALAPPDATA%\pixstore-client` on Windows).
pub fn default_cache_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if cfg!(windows) {
        return var("LOCALAPPDATA").map(|d| d.join("pixstore-client"));
    }
    var("XDG_CACHE_HOME")
        .map(|d| d.join("pixstore-client"))
        .or_else(|| var("HOME").map(|h| h.join(".cache").join("pixstore-client")))
}

/// The URL scheme of the default endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP (no prefix, or `http://`). Only for loopback and trusted networks: records and
    /// Updated answers carry keys (spec §12.3).
    Http,
    /// HTTP over TLS (`https://`), with rustls.
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// The default endpoint: `{scheme}://{host}:{port}{route}` (CLIENT-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    scheme: Scheme,
    /// The host as it appears in a URL (IPv6 in brackets).
    host: String,
    port: u16,
    route: String,
}

impl Endpoint {
    /// Parses `defaultEndpointConnectHost` (`images.example.com`, `https://images.example.com`,
    /// `http://127.0.0.1`, `[::1]`, `::1`) with a port and a route.
    ///
    /// CLIENT-8: the scheme is taken from the host's prefix, so `https://` gives TLS (3.2.1
    /// prepended `http://` to whatever it was given and requested `http://https://...`). The
    /// host carries no port, path, query or credentials: the port is `defaultEndpointConnectPort`.
    pub fn new(host: &str, port: u16, route: &str) -> Result<Endpoint, ConfigError> {
        const EXPECTED: &str = "a host name or IP address, optionally prefixed with https:// or http://, \
             without port, path or credentials (the port is defaultEndpointConnectPort)";
        let text = host.trim();
        let lower = text.to_ascii_lowercase();
        let (scheme, rest) = if lower.starts_with("https://") {
            (Scheme::Https, text.get(8..).unwrap_or_default())
        } else if lower.starts_with("http://") {
            (Scheme::Http, text.get(7..).unwrap_or_default())
        } else if text.contains("://") {
            return Err(invalid("defaultEndpointConnectHost", host, "an http:// or https:// URL, or a bare host"));
        } else {
            (Scheme::Http, text)
        };
        // One trailing slash, as in `https://images.example.com/`, is harmless.
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let host_part = if let Ok(v6) = rest.parse::<Ipv6Addr>() {
            format!("[{v6}]")
        } else if let Some(inner) = rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            let v6: Ipv6Addr = inner.parse().map_err(|_| invalid("defaultEndpointConnectHost", host, EXPECTED))?;
            format!("[{v6}]")
        } else {
            let ok = !rest.is_empty()
                && rest.len() <= 253
                && rest.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
                && !rest.starts_with(['.', '-']);
            if !ok {
                return Err(invalid("defaultEndpointConnectHost", host, EXPECTED));
            }
            rest.to_ascii_lowercase()
        };
        if port == 0 {
            return Err(invalid("defaultEndpointConnectPort", 0, "a port from 1 to 65535"));
        }
        validate_route(route)?;
        let endpoint = Endpoint { scheme, host: host_part, port, route: route.into() };
        // The URL library must agree that this is an absolute URL with exactly this origin.
        reqwest::Url::parse(&endpoint.base()).map_err(|_| invalid("defaultEndpointConnectHost", host, EXPECTED))?;
        Ok(endpoint)
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host as written in a URL.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The route (HTTP-1).
    pub fn route(&self) -> &str {
        &self.route
    }

    /// `{scheme}://{host}:{port}`.
    pub fn base(&self) -> String {
        format!("{}://{}:{}", self.scheme.as_str(), self.host, self.port)
    }

    /// CLIENT-8: `{scheme}://{host}:{port}{route}/{percent-encoded id}` (every byte other than
    /// `A-Z a-z 0-9 - _ . ~` encoded, so `:` is `%3A`).
    pub fn image_url(&self, id: &str) -> String {
        let mut url = self.base();
        url.push_str(&proto::client::request_target(&self.route, id));
        url
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    // CLIENT-8: the scheme comes from the configured host; https works.
    #[test]
    fn scheme_host_and_port() {
        let e = Endpoint::new("https://images.example.com", 443, "/pixstore-image").unwrap();
        assert_eq!(e.image_url("avatars:a_b"), "https://images.example.com:443/pixstore-image/avatars%3Aa_b");
        let e = Endpoint::new("HTTPS://Images.Example.com/", 8443, "/img").unwrap();
        assert_eq!(e.base(), "https://images.example.com:8443");
        let e = Endpoint::new("127.0.0.1", 7482, "/pixstore-image").unwrap();
        assert_eq!(e.base(), "http://127.0.0.1:7482");
        let e = Endpoint::new("http://[::1]", 7482, "/r").unwrap();
        assert_eq!(e.image_url("x"), "http://[::1]:7482/r/x");
        let e = Endpoint::new("::1", 1, "/r").unwrap();
        assert_eq!(e.base(), "http://[::1]:1");
        for bad in [
            "",
            "https://",
            "ftp://host",
            "host:8080",
            "https://host/path",
            "user@host",
            "host?x",
            "a b",
            "-host",
            "[zz]",
        ] {
            let err = Endpoint::new(bad, 7482, "/r").unwrap_err();
            assert!(err.to_string().contains("defaultEndpointConnectHost"), "{bad}: {err}");
        }
        assert!(Endpoint::new("h", 0, "/r").is_err());
        for bad_route in ["", "/", "x", "/a/", "/a?b", "/a#", "/a%20"] {
            let err = Endpoint::new("h", 1, bad_route).unwrap_err();
            assert!(err.to_string().contains("defaultEndpointRoute"), "{bad_route}: {err}");
        }
    }

    // CLIENT-6: 0 <= batch < limit, limit >= 1; defaults 1000 and 50.
    #[test]
    fn cache_limits_are_validated() {
        let l = limits(None, None).unwrap();
        assert_eq!((l.limit(), l.batch()), (1000, 50));
        assert_eq!(limits(Some(1), Some(0)).unwrap().limit(), 1);
        for (limit, batch) in [(0, 0), (10, 10), (10, 11), (10, -1), (-5, 0)] {
            let err = limits(Some(limit), Some(batch)).unwrap_err();
            let text = err.to_string();
            assert!(text.contains("frontendImageCacheLimit") || text.contains("frontendCleanupBatch"), "{text}");
        }
        // The batch default (50) against a small limit is reported with both values.
        let err = limits(Some(10), None).unwrap_err().to_string();
        assert!(err.contains("50 (with frontendImageCacheLimit = 10)"), "{err}");
    }

    #[test]
    fn options_resolve_with_defaults_and_errors() {
        let c = ClientOptions::default().resolve().unwrap();
        assert!(c.endpoint.is_none());
        assert_eq!(c.route, "/pixstore-image");
        assert_eq!(c.limits, CacheLimits::default());
        let c = ClientOptions {
            default_endpoint_connect_host: Some("https://cdn.example".into()),
            ..ClientOptions::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(c.endpoint.unwrap().base(), "https://cdn.example:7482");
        for o in [
            ClientOptions { default_endpoint_connect_port: Some(70000), ..ClientOptions::default() },
            ClientOptions { default_endpoint_connect_port: Some(0), ..ClientOptions::default() },
            ClientOptions { request_timeout_ms: Some(0), ..ClientOptions::default() },
            ClientOptions { max_payload_bytes: Some(1), ..ClientOptions::default() },
        ] {
            assert!(o.resolve().is_err());
        }
        let o: ClientOptions = toml::from_str(
            "defaultEndpointConnectHost = \"https://x.example\"\nfrontendImageCacheLimit = 3\nfrontendCleanupBatch = 1",
        )
        .unwrap();
        assert_eq!(o.resolve().unwrap().limits.limit(), 3);
        // 3.2.1 keys that mean nothing here are refused rather than ignored.
        assert!(toml::from_str::<ClientOptions>("frontendDbName = \"x\"").is_err());
    }
}
