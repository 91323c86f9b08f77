//! Server configuration: every option is defined once, as a field of [`FileConfig`]. That one
//! field carries its TOML name (the seed documentation's camelCase name), its flag and its
//! `PIXSTORE_*` variable (clap's `env`, with the `cli` feature); [`Config::resolve`] holds its
//! default and its validation. Flags win over the environment, which wins over the file.
//!
//! The table of every option, with its flag, variable and default, is `docs/server-options.md`
//! (`pixstore-server --help` prints the same list).
//!
//! In Rust, build a [`Config`] with [`Config::builder`] (typed values, Rust names) or from a
//! [`FileConfig`] (the file form) with [`Config::resolve`].

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use proto::format::Format;
use proto::proof::{Window, MAX_SKEW_MS};
use serde::{Deserialize, Serialize};

/// Why a configuration was refused. Each message names the option and what is allowed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The TOML file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML file is not valid.
    #[error("config file {path} is not valid: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said.
        message: String,
    },
    /// An option has an invalid value.
    #[error("invalid {option} = {value:?}: {expected}")]
    Invalid {
        /// The option's name (as in the TOML file).
        option: &'static str,
        /// The value given.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
}

fn invalid(option: &'static str, value: impl ToString, expected: &'static str) -> ConfigError {
    ConfigError::Invalid { option, value: value.to_string(), expected }
}

/// Every option of the server, each defined here once: the field's serde name is its TOML key,
/// its clap attributes its flag and `PIXSTORE_*` variable; every field is optional (its default
/// is applied by [`Config::resolve`]).
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct FileConfig {
    /// Serve the default endpoint (3.2.1 `defaultEndpointEnabled`) [default: true].
    #[cfg_attr(feature = "cli", arg(long = "default-endpoint", env = "PIXSTORE_DEFAULT_ENDPOINT", global = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL"))]
    pub default_endpoint_enabled: Option<bool>,
    /// defaultEndpointListenHost [default: 0.0.0.0].
    #[cfg_attr(feature = "cli", arg(long = "listen-host", env = "PIXSTORE_LISTEN_HOST", global = true))]
    pub default_endpoint_listen_host: Option<String>,
    /// defaultEndpointListenPort [default: 7482; 0 picks a free port].
    #[cfg_attr(feature = "cli", arg(long = "port", env = "PIXSTORE_PORT", global = true))]
    pub default_endpoint_listen_port: Option<i64>,
    /// defaultEndpointRoute [default: /pixstore-image].
    #[cfg_attr(feature = "cli", arg(long = "route", env = "PIXSTORE_ROUTE", global = true))]
    pub default_endpoint_route: Option<String>,
    /// accessControlAllowOrigin [default: *].
    #[cfg_attr(feature = "cli", arg(long = "allow-origin", env = "PIXSTORE_ALLOW_ORIGIN", global = true))]
    pub access_control_allow_origin: Option<String>,
    /// statelessKeyWindowLength in ms; -1 disables proof validation [default: 20000].
    #[cfg_attr(
        feature = "cli",
        arg(long = "window-ms", env = "PIXSTORE_WINDOW_MS", global = true, allow_hyphen_values = true)
    )]
    pub stateless_key_window_length: Option<i64>,
    /// Allowed proof clock skew in ms (0..=60000) [default: 5000].
    #[cfg_attr(feature = "cli", arg(long = "skew-ms", env = "PIXSTORE_SKEW_MS", global = true))]
    pub proof_skew_ms: Option<u64>,
    /// Where images are stored: `fs:DIR` (the filesystem store in DIR, as --data-dir DIR) or
    /// `s3://BUCKET/PREFIX` (an S3-compatible object store; see --s3-endpoint) [default: fs:DATA_DIR].
    #[cfg_attr(
        feature = "cli",
        arg(long = "store", env = "PIXSTORE_STORE", global = true, value_name = "fs:DIR|s3://BUCKET/PREFIX")
    )]
    pub store: Option<String>,
    /// The S3 service's URL, e.g. http://127.0.0.1:7480 for a local Ceph RGW or MinIO [default: AWS, the endpoint of the region: s3.REGION.amazonaws.com].
    #[cfg_attr(feature = "cli", arg(long = "s3-endpoint", env = "PIXSTORE_S3_ENDPOINT", global = true))]
    pub s3_endpoint: Option<String>,
    /// The S3 region [default: AWS_REGION, AWS_DEFAULT_REGION, the profile's region, us-east-1].
    #[cfg_attr(feature = "cli", arg(long = "s3-region", env = "PIXSTORE_S3_REGION", global = true))]
    pub s3_region: Option<String>,
    /// Path-style S3 URLs (host/bucket/key; RGW, MinIO and IP addresses need them) [default: false: bucket.host/key].
    #[cfg_attr(feature = "cli", arg(long = "s3-path-style", env = "PIXSTORE_S3_PATH_STYLE", global = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL"))]
    pub s3_path_style: Option<bool>,
    /// Timeout of one request to the S3 service, in ms [default: 10000].
    #[cfg_attr(feature = "cli", arg(long = "s3-timeout-ms", env = "PIXSTORE_S3_TIMEOUT_MS", global = true))]
    pub s3_timeout_ms: Option<u64>,
    /// Seal every new version's AES key, IV and tag under a key-encryption key (spec §12.6)
    /// [default: true for S3 and for new data folders; folders with plaintext images stay plain until `kek init`].
    #[cfg_attr(feature = "cli", arg(long = "wrap-keys", env = "PIXSTORE_WRAP_KEYS", global = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL"))]
    pub wrap_keys: Option<bool>,
    /// Key-encryption key file [default: DATA_DIR/kek.json].
    #[cfg_attr(feature = "cli", arg(long = "kek-file", env = "PIXSTORE_KEK_FILE", global = true))]
    pub kek_file: Option<PathBuf>,
    /// The KEK file's JSON inline (wins over the file; nothing is written) [default: unset].
    #[cfg_attr(
        feature = "cli",
        arg(long = "keks-json", env = "PIXSTORE_KEKS", global = true, hide_env_values = true, hide = true)
    )]
    pub keks: Option<String>,
    /// Bearer tokens of the admin API (the control listener), comma-separated [default: none].
    #[cfg_attr(
        feature = "cli",
        arg(
            long = "admin-tokens",
            env = "PIXSTORE_ADMIN_TOKENS",
            global = true,
            value_delimiter = ',',
            hide_env_values = true
        )
    )]
    pub admin_tokens: Option<Vec<String>>,
    /// File of admin API bearer tokens, one per line (# comments; owner-only like key files) [default: none].
    #[cfg_attr(feature = "cli", arg(long = "admin-tokens-file", env = "PIXSTORE_ADMIN_TOKENS_FILE", global = true))]
    pub admin_tokens_file: Option<PathBuf>,
    /// Offer the control interface's test clock (spec CTRL-8; moving it breaks real clients' proofs)
    /// [default: true without admin tokens, false with them].
    #[cfg_attr(feature = "cli", arg(long = "test-clock", env = "PIXSTORE_TEST_CLOCK", global = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL"))]
    pub test_clock: Option<bool>,
    /// Folder for images and proof keys [default: ./pixstore-data].
    #[cfg_attr(feature = "cli", arg(long = "data-dir", env = "PIXSTORE_DATA_DIR", global = true))]
    pub data_dir: Option<PathBuf>,
    /// Proof keyring file [default: DATA_DIR/proof-keys.json].
    #[cfg_attr(feature = "cli", arg(long = "proof-keys", env = "PIXSTORE_PROOF_KEYS_FILE", global = true))]
    pub proof_keys_file: Option<PathBuf>,
    /// The key file's JSON inline (wins over the key file; nothing is written) [default: unset].
    #[cfg_attr(
        feature = "cli",
        arg(long = "proof-keys-json", env = "PIXSTORE_PROOF_KEYS", global = true, hide_env_values = true, hide = true)
    )]
    pub proof_keys: Option<String>,
    /// Start even if the key file is readable by group or others [default: false].
    #[cfg_attr(feature = "cli", arg(long = "allow-insecure-key-file", env = "PIXSTORE_ALLOW_INSECURE_KEY_FILE", global = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL"))]
    pub allow_insecure_key_file: Option<bool>,
    /// Accepted formats, comma-separated [default: png,webp,jpg,jpeg].
    #[cfg_attr(
        feature = "cli",
        arg(long = "image-formats", env = "PIXSTORE_IMAGE_FORMATS", global = true, value_delimiter = ',')
    )]
    pub image_formats: Option<Vec<String>>,
    /// Largest accepted image in bytes [default: 33554432].
    #[cfg_attr(feature = "cli", arg(long = "max-image-bytes", env = "PIXSTORE_MAX_IMAGE_BYTES", global = true))]
    pub max_image_bytes: Option<u64>,
    /// Memory for stored images kept ready to serve, in bytes [default: 268435456].
    #[cfg_attr(feature = "cli", arg(long = "cache-bytes", env = "PIXSTORE_CACHE_BYTES", global = true))]
    pub cache_bytes: Option<u64>,
    /// Serve the control interface of spec Appendix A [default: false].
    #[cfg_attr(feature = "cli", arg(long = "control", env = "PIXSTORE_CONTROL_ENABLED", global = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL"))]
    pub control: Option<bool>,
    /// Control interface address [default: 127.0.0.1:7483].
    #[cfg_attr(feature = "cli", arg(long = "control-listen", env = "PIXSTORE_CONTROL_LISTEN", global = true))]
    pub control_listen: Option<String>,
    /// Allow a control address that is not loopback [default: false].
    #[cfg_attr(feature = "cli", arg(long = "control-public", env = "PIXSTORE_CONTROL_PUBLIC", global = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL"))]
    pub control_public: Option<bool>,
    /// Serve the control interface over TLS too (needs tlsCert and tlsKey) [default: false].
    #[cfg_attr(feature = "cli", arg(long = "control-tls", env = "PIXSTORE_CONTROL_TLS", global = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL"))]
    pub control_tls: Option<bool>,
    /// Certificate chain (PEM) for HTTPS; re-read on change and on SIGHUP [default: plain HTTP].
    #[cfg_attr(feature = "cli", arg(long = "tls-cert", env = "PIXSTORE_TLS_CERT", global = true))]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of tlsCert [default: plain HTTP].
    #[cfg_attr(feature = "cli", arg(long = "tls-key", env = "PIXSTORE_TLS_KEY", global = true))]
    pub tls_key: Option<PathBuf>,
    /// Ops listener (/metrics, /livez, /readyz) [default: true].
    #[cfg_attr(feature = "cli", arg(long = "ops", env = "PIXSTORE_OPS_ENABLED", global = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL"))]
    pub ops_enabled: Option<bool>,
    /// Ops listener address [default: 127.0.0.1:7484].
    #[cfg_attr(feature = "cli", arg(long = "ops-listen", env = "PIXSTORE_OPS_LISTEN", global = true))]
    pub ops_listen: Option<String>,
    /// Serve the ops listener over TLS too (needs tlsCert and tlsKey) [default: false].
    #[cfg_attr(feature = "cli", arg(long = "ops-tls", env = "PIXSTORE_OPS_TLS", global = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL"))]
    pub ops_tls: Option<bool>,
    /// One info line per request (target pixstore_server::access) [default: true].
    #[cfg_attr(feature = "cli", arg(long = "access-log", env = "PIXSTORE_ACCESS_LOG", global = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL"))]
    pub access_log: Option<bool>,
    /// Send large cached versions from their files with sendfile(2) on plain listeners (Linux)
    /// [default: true].
    #[cfg_attr(feature = "cli", arg(long = "sendfile", env = "PIXSTORE_SENDFILE", global = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL"))]
    pub sendfile: Option<bool>,
    /// A request head (or TLS handshake) must arrive within this many ms [default: 10000].
    #[cfg_attr(
        feature = "cli",
        arg(long = "header-read-timeout-ms", env = "PIXSTORE_HEADER_READ_TIMEOUT_MS", global = true)
    )]
    pub header_read_timeout_ms: Option<u64>,
    /// A connection on which no byte moves for this many ms, no request being answered, is
    /// closed (idle keep-alive, stalled readers) [default: 60000].
    #[cfg_attr(feature = "cli", arg(long = "idle-timeout-ms", env = "PIXSTORE_IDLE_TIMEOUT_MS", global = true))]
    pub idle_timeout_ms: Option<u64>,
    /// Open connections per listener; more wait in the kernel's backlog [default: 4096].
    #[cfg_attr(feature = "cli", arg(long = "max-connections", env = "PIXSTORE_MAX_CONNECTIONS", global = true))]
    pub max_connections: Option<u64>,
    /// Largest request head in bytes (8192 or more; larger: 431) [default: 16384].
    #[cfg_attr(feature = "cli", arg(long = "max-header-bytes", env = "PIXSTORE_MAX_HEADER_BYTES", global = true))]
    pub max_header_bytes: Option<u64>,
    /// Most header fields in one request (more: 431) [default: 100].
    #[cfg_attr(feature = "cli", arg(long = "max-headers", env = "PIXSTORE_MAX_HEADERS", global = true))]
    pub max_headers: Option<u64>,
    /// Concurrent HTTP/2 streams per connection [default: 128].
    #[cfg_attr(feature = "cli", arg(long = "h2-max-streams", env = "PIXSTORE_H2_MAX_STREAMS", global = true))]
    pub h2_max_concurrent_streams: Option<u32>,
    /// How long a shutdown waits for requests in flight, in ms [default: 5000].
    #[cfg_attr(feature = "cli", arg(long = "shutdown-grace-ms", env = "PIXSTORE_SHUTDOWN_GRACE_MS", global = true))]
    pub shutdown_grace_ms: Option<u64>,
}

impl FileConfig {
    /// Reads a TOML file.
    pub fn read(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.into(), message: e.to_string() })
    }

    /// `other`'s values where it has them, else ours. Generic over the fields (through their
    /// serde form), so that adding an option needs no line here.
    pub fn overlay(self, other: FileConfig) -> FileConfig {
        let (Ok(serde_json::Value::Object(mut base)), Ok(serde_json::Value::Object(top))) =
            (serde_json::to_value(&self), serde_json::to_value(&other))
        else {
            return other;
        };
        for (k, v) in top {
            if !v.is_null() {
                base.insert(k, v);
            }
        }
        serde_json::from_value(serde_json::Value::Object(base)).unwrap_or(other)
    }
}

/// Limits of the HTTP connection layer (every listener), see `docs/server-operations.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// A request head (and a TLS handshake) must arrive within this time once it began.
    pub header_read_timeout: Duration,
    /// A connection on which no byte moves for this long, while no request is being answered,
    /// is closed: idle keep-alive connections and readers that stopped reading.
    pub idle_timeout: Duration,
    /// Open connections per listener; further ones wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Largest request head (HTTP/1) and header list (HTTP/2), in bytes.
    pub max_header_bytes: usize,
    /// Most header fields of one HTTP/1 request.
    pub max_headers: usize,
    /// Concurrent HTTP/2 streams per connection.
    pub h2_max_concurrent_streams: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4096,
            max_header_bytes: 16 << 10,
            max_headers: HYPER_MAX_HEADERS,
            h2_max_concurrent_streams: 128,
        }
    }
}

/// hyper's own limit of header fields. The default: at this value hyper parses into its inline
/// arrays; any other (`h1_max_headers`) makes it fill arrays of that size for every request.
pub const HYPER_MAX_HEADERS: usize = 100;

/// The smallest head buffer hyper accepts (`max_buf_size`).
pub const MIN_HEADER_BYTES: usize = 8192;

/// TLS certificate and key files (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// A listener beside the endpoint (control interface, ops).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SideListener {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Whether it serves HTTPS with the endpoint's certificate.
    pub tls: bool,
}

/// Where images are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreConfig {
    /// The filesystem store in [`Config::data_dir`].
    Fs,
    /// An S3-compatible object store.
    S3(crate::s3::S3Location),
}

/// A validated configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Serve the default endpoint (3.2.1 `defaultEndpointEnabled`).
    pub default_endpoint_enabled: bool,
    /// Listen address of the default endpoint.
    pub listen: SocketAddr,
    /// Route of the default endpoint (HTTP-1).
    pub route: String,
    /// `Access-Control-Allow-Origin` (HTTP-6).
    pub allow_origin: String,
    /// Proof window (PROOF-11).
    pub window: Window,
    /// Verifier clock skew (PROOF-9).
    pub skew_ms: u64,
    /// Where images and keys live (with an S3 store: the proof keys and KEKs by default).
    pub data_dir: PathBuf,
    /// Where images are stored.
    pub store: StoreConfig,
    /// Whether new versions are sealed under a KEK: `Some` when configured (`wrapKeys`), `None`
    /// for the default (on for S3 and new data folders, see [`crate::open_service`]).
    pub wrap_keys: Option<bool>,
    /// The KEK file (used by `kek init`/`kek rotate`, and by the server unless `keks` is inline).
    pub kek_file: PathBuf,
    /// Where the server takes its KEKs from.
    pub keks: crate::kek::KekSource,
    /// Admin API bearer tokens given directly (`adminTokens`).
    pub admin_tokens: Vec<String>,
    /// The admin API token file (`adminTokensFile`), read at start.
    pub admin_tokens_file: Option<PathBuf>,
    /// Whether the control interface offers the test clock (CTRL-8).
    pub test_clock: bool,
    /// The proof keyring file (used by `keys rotate`, and by the server unless `keys` is inline).
    pub proof_keys_file: PathBuf,
    /// Where the server takes its proof keys from.
    pub keys: crate::keys::KeySource,
    /// Accept a key file that group or others can read.
    pub allow_insecure_key_file: bool,
    /// Formats accepted on upload.
    pub image_formats: Vec<Format>,
    /// Largest accepted image.
    pub max_image_bytes: u64,
    /// Memory for stored images kept ready to serve.
    pub cache_bytes: u64,
    /// Control interface, when enabled.
    pub control: Option<SideListener>,
    /// Ops listener (metrics, health), when enabled.
    pub ops: Option<SideListener>,
    /// HTTPS for the endpoint (and for the side listeners that ask for it).
    pub tls: Option<TlsFiles>,
    /// One info line per request.
    pub access_log: bool,
    /// Large cached versions go out of their files with `sendfile` (plain listeners, Linux).
    pub sendfile: bool,
    /// Limits of the connection layer.
    pub limits: Limits,
    /// How long a shutdown waits for requests in flight before it closes what is left.
    pub shutdown_grace: Duration,
    /// Deliberate faults (only with the `test-faults` feature; see `faults`).
    pub(crate) faults: crate::faults::Faults,
}

impl Config {
    /// Switches on deliberate protocol faults (conformance suite self-tests only).
    #[cfg(feature = "test-faults")]
    pub fn with_faults(mut self, faults: crate::faults::Faults) -> Config {
        self.faults = faults;
        self
    }

    /// A builder with every default, in Rust names and types.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder(FileConfig::default())
    }
}

/// Builds a [`Config`] with typed values; [`build`](ConfigBuilder::build) validates it as
/// [`Config::resolve`] does (the builder writes the same [`FileConfig`] fields).
///
/// ```
/// use std::time::Duration;
/// let config = pixstore_server::config::Config::builder()
///     .listen("127.0.0.1:0".parse().unwrap())
///     .data_dir("/tmp/pixstore-doc-example")
///     .window_ms(60_000)
///     .control("127.0.0.1:0".parse().unwrap())
///     .ops(None)
///     .idle_timeout(Duration::from_secs(30))
///     .build()
///     .unwrap();
/// assert_eq!(config.limits.idle_timeout, Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ConfigBuilder(FileConfig);

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl ConfigBuilder {
    /// The default endpoint's address (`defaultEndpointListenHost`, `defaultEndpointListenPort`).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.0.default_endpoint_listen_host = Some(addr.ip().to_string());
        self.0.default_endpoint_listen_port = Some(i64::from(addr.port()));
        self
    }
    /// No default endpoint (`defaultEndpointEnabled = false`).
    pub fn without_default_endpoint(mut self) -> Self {
        self.0.default_endpoint_enabled = Some(false);
        self
    }
    /// The route (`defaultEndpointRoute`).
    pub fn route(mut self, route: &str) -> Self {
        self.0.default_endpoint_route = Some(route.into());
        self
    }
    /// `accessControlAllowOrigin`.
    pub fn allow_origin(mut self, origin: &str) -> Self {
        self.0.access_control_allow_origin = Some(origin.into());
        self
    }
    /// `statelessKeyWindowLength` (-1: proofs off).
    pub fn window_ms(mut self, w: i64) -> Self {
        self.0.stateless_key_window_length = Some(w);
        self
    }
    /// `proofSkewMs`.
    pub fn skew_ms(mut self, skew: u64) -> Self {
        self.0.proof_skew_ms = Some(skew);
        self
    }
    /// `dataDir`.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.0.data_dir = Some(dir.into());
        self
    }
    /// `store`: `fs:DIR` or `s3://BUCKET/PREFIX`.
    pub fn store(mut self, store: &str) -> Self {
        self.0.store = Some(store.into());
        self
    }
    /// `s3Endpoint`, `s3Region` and `s3PathStyle`.
    pub fn s3_service(mut self, endpoint: Option<&str>, region: Option<&str>, path_style: bool) -> Self {
        self.0.s3_endpoint = endpoint.map(str::to_owned);
        self.0.s3_region = region.map(str::to_owned);
        self.0.s3_path_style = Some(path_style);
        self
    }
    /// `wrapKeys`.
    pub fn wrap_keys(mut self, on: bool) -> Self {
        self.0.wrap_keys = Some(on);
        self
    }
    /// `kekFile`.
    pub fn kek_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.0.kek_file = Some(path.into());
        self
    }
    /// `keks`: the KEK file's JSON inline.
    pub fn keks_json(mut self, json: &str) -> Self {
        self.0.keks = Some(json.into());
        self
    }
    /// `adminTokens`.
    pub fn admin_tokens(mut self, tokens: &[&str]) -> Self {
        self.0.admin_tokens = Some(tokens.iter().map(|t| (*t).to_owned()).collect());
        self
    }
    /// `testClock`.
    pub fn test_clock(mut self, on: bool) -> Self {
        self.0.test_clock = Some(on);
        self
    }
    /// `proofKeysFile`.
    pub fn proof_keys_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.0.proof_keys_file = Some(path.into());
        self
    }
    /// `proofKeys`: the keyring JSON inline.
    pub fn proof_keys_json(mut self, json: &str) -> Self {
        self.0.proof_keys = Some(json.into());
        self
    }
    /// `imageFormats`.
    pub fn image_formats(mut self, formats: &[Format]) -> Self {
        self.0.image_formats = Some(formats.iter().map(|f| f.to_string()).collect());
        self
    }
    /// `maxImageBytes`.
    pub fn max_image_bytes(mut self, max: u64) -> Self {
        self.0.max_image_bytes = Some(max);
        self
    }
    /// `cacheBytes`.
    pub fn cache_bytes(mut self, bytes: u64) -> Self {
        self.0.cache_bytes = Some(bytes);
        self
    }
    /// The control interface on `addr` (`control`, `controlListen`; non-loopback needs
    /// [`control_public`](Self::control_public)).
    pub fn control(mut self, addr: SocketAddr) -> Self {
        self.0.control = Some(true);
        self.0.control_listen = Some(addr.to_string());
        self
    }
    /// `controlPublic`.
    pub fn control_public(mut self, public: bool) -> Self {
        self.0.control_public = Some(public);
        self
    }
    /// `controlTls`.
    pub fn control_tls(mut self, tls: bool) -> Self {
        self.0.control_tls = Some(tls);
        self
    }
    /// HTTPS with these PEM files (`tlsCert`, `tlsKey`).
    pub fn tls(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.0.tls_cert = Some(cert.into());
        self.0.tls_key = Some(key.into());
        self
    }
    /// The ops listener on `addr`, or none (`opsEnabled`, `opsListen`).
    pub fn ops(mut self, addr: Option<SocketAddr>) -> Self {
        self.0.ops_enabled = Some(addr.is_some());
        self.0.ops_listen = addr.map(|a| a.to_string());
        self
    }
    /// `opsTls`.
    pub fn ops_tls(mut self, tls: bool) -> Self {
        self.0.ops_tls = Some(tls);
        self
    }
    /// `accessLog`.
    pub fn access_log(mut self, on: bool) -> Self {
        self.0.access_log = Some(on);
        self
    }
    /// `sendfile`.
    pub fn sendfile(mut self, on: bool) -> Self {
        self.0.sendfile = Some(on);
        self
    }
    /// `headerReadTimeoutMs`.
    pub fn header_read_timeout(mut self, d: Duration) -> Self {
        self.0.header_read_timeout_ms = Some(ms(d));
        self
    }
    /// `idleTimeoutMs`.
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.0.idle_timeout_ms = Some(ms(d));
        self
    }
    /// `maxConnections`.
    pub fn max_connections(mut self, n: u64) -> Self {
        self.0.max_connections = Some(n);
        self
    }
    /// `maxHeaderBytes`.
    pub fn max_header_bytes(mut self, n: u64) -> Self {
        self.0.max_header_bytes = Some(n);
        self
    }
    /// `maxHeaders`.
    pub fn max_headers(mut self, n: u64) -> Self {
        self.0.max_headers = Some(n);
        self
    }
    /// `shutdownGraceMs`.
    pub fn shutdown_grace(mut self, d: Duration) -> Self {
        self.0.shutdown_grace_ms = Some(ms(d));
        self
    }
    /// `allowInsecureKeyFile`.
    pub fn allow_insecure_key_file(mut self, allow: bool) -> Self {
        self.0.allow_insecure_key_file = Some(allow);
        self
    }
    /// The options as the file form.
    pub fn into_file_config(self) -> FileConfig {
        self.0
    }
    /// Validates and applies the defaults.
    pub fn build(self) -> Result<Config, ConfigError> {
        Config::resolve(self.0)
    }
}

/// 3.2.1's default `imageFormats`.
pub const DEFAULT_FORMATS: [Format; 4] = [Format::Png, Format::Webp, Format::Jpg, Format::Jpeg];

fn side_listener(
    option: &'static str,
    text: String,
    tls: bool,
    public: bool,
    public_hint: &'static str,
) -> Result<SideListener, ConfigError> {
    let addr: SocketAddr = text.parse().map_err(|_| invalid(option, &text, "an address such as 127.0.0.1:7483"))?;
    if !addr.ip().is_loopback() && !public {
        return Err(invalid(option, &text, public_hint));
    }
    Ok(SideListener { addr, tls })
}

fn positive_ms(option: &'static str, value: Option<u64>, default: Duration) -> Result<Duration, ConfigError> {
    match value {
        None => Ok(default),
        Some(0) => Err(invalid(option, 0, "a positive number of milliseconds")),
        Some(v) => Ok(Duration::from_millis(v)),
    }
}

impl Config {
    /// Applies defaults and validates every option.
    pub fn resolve(f: FileConfig) -> Result<Config, ConfigError> {
        let host = f.default_endpoint_listen_host.unwrap_or_else(|| "0.0.0.0".into());
        let ip: IpAddr = host
            .parse()
            .map_err(|_| invalid("defaultEndpointListenHost", &host, "an IP address such as 0.0.0.0 or 127.0.0.1"))?;
        let port = f.default_endpoint_listen_port.unwrap_or(i64::from(proto::http::DEFAULT_PORT));
        let port = u16::try_from(port)
            .map_err(|_| invalid("defaultEndpointListenPort", port, "a port from 0 to 65535 (0 picks a free one)"))?;
        let route = f.default_endpoint_route.unwrap_or_else(|| proto::http::DEFAULT_ROUTE.into());
        let route_ok = route.starts_with('/')
            && route.len() > 1
            && !route.ends_with('/')
            && route.bytes().all(|b| b.is_ascii_graphic() && b != b'?' && b != b'#' && b != b'%');
        if !route_ok {
            return Err(invalid(
                "defaultEndpointRoute",
                &route,
                "an absolute path such as /pixstore-image: starts with /, no trailing /, no ?, # or %",
            ));
        }
        let allow_origin = f.access_control_allow_origin.unwrap_or_else(|| "*".into());
        if allow_origin.is_empty() || !allow_origin.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(
                "accessControlAllowOrigin",
                &allow_origin,
                "* or an origin such as https://app.example",
            ));
        }
        let w = f.stateless_key_window_length.unwrap_or(20_000);
        let window = Window::from_config(w).map_err(|_| {
            invalid(
                "statelessKeyWindowLength",
                w,
                "a positive number of milliseconds, or -1 to disable proof validation",
            )
        })?;
        let skew_ms = f.proof_skew_ms.unwrap_or(proto::proof::DEFAULT_SKEW_MS);
        if skew_ms > MAX_SKEW_MS {
            return Err(invalid("proofSkewMs", skew_ms, "at most 60000 ms"));
        }
        let (store, store_dir) = match f.store.as_deref() {
            None => (StoreConfig::Fs, None),
            Some(text) if text.starts_with("fs:") => {
                let dir = text.get(3..).unwrap_or_default();
                if dir.is_empty() {
                    return Err(invalid("store", text, "fs:DIR with a folder, or s3://BUCKET/PREFIX"));
                }
                (StoreConfig::Fs, Some(PathBuf::from(dir)))
            }
            Some(text) if text.starts_with("s3://") => {
                let location = crate::s3::S3Location::parse(text).map_err(|_| {
                    invalid(
                        "store",
                        text,
                        "s3://BUCKET/PREFIX with a bucket of 3 to 63 lowercase letters, digits, '-' and '.'",
                    )
                })?;
                let timeout = positive_ms("s3TimeoutMs", f.s3_timeout_ms, Duration::from_secs(10))?;
                if let Some(e) = &f.s3_endpoint {
                    let ok =
                        url::Url::parse(e).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
                    if !ok {
                        return Err(invalid(
                            "s3Endpoint",
                            e,
                            "an http:// or https:// URL such as http://127.0.0.1:7480",
                        ));
                    }
                }
                let location = location
                    .with_service(f.s3_endpoint.clone(), f.s3_region.clone(), f.s3_path_style.unwrap_or(false))
                    .with_timeout(timeout);
                (StoreConfig::S3(location), None)
            }
            Some(text) => return Err(invalid("store", text, "fs:DIR or s3://BUCKET/PREFIX")),
        };
        let data_dir = match (store_dir, f.data_dir) {
            (Some(a), Some(b)) if a != b => {
                return Err(invalid(
                    "store",
                    format!("fs:{} with dataDir = {}", a.display(), b.display()),
                    "one folder: give fs:DIR or dataDir, not two different ones",
                ))
            }
            (Some(a), _) => a,
            (None, Some(b)) => b,
            (None, None) => PathBuf::from("./pixstore-data"),
        };
        let kek_file = f.kek_file.unwrap_or_else(|| data_dir.join("kek.json"));
        let admin_tokens: Vec<String> = f
            .admin_tokens
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect();
        if let Some(short) = admin_tokens.iter().find(|t| t.len() < crate::control::MIN_TOKEN_LEN) {
            return Err(invalid(
                "adminTokens",
                format!("a token of {} characters", short.len()),
                "tokens of at least 16 characters (e.g. `openssl rand -base64 32`)",
            ));
        }
        let authenticated = !admin_tokens.is_empty() || f.admin_tokens_file.is_some();
        let test_clock = f.test_clock.unwrap_or(!authenticated);
        let proof_keys_file = f.proof_keys_file.unwrap_or_else(|| data_dir.join("proof-keys.json"));
        let image_formats = match f.image_formats {
            None => DEFAULT_FORMATS.to_vec(),
            Some(names) => {
                let mut formats = Vec::new();
                for name in &names {
                    let format = Format::from_name(name.trim()).ok_or_else(|| {
                        invalid(
                            "imageFormats",
                            name,
                            "names from the registry: png, webp, jpg, jpeg, gif, bmp, tiff, ico, heic, avif",
                        )
                    })?;
                    if !formats.contains(&format) {
                        formats.push(format);
                    }
                }
                if formats.is_empty() {
                    return Err(invalid("imageFormats", "[]", "at least one format"));
                }
                formats
            }
        };
        let max_image_bytes = f.max_image_bytes.unwrap_or(32 << 20);
        if max_image_bytes == 0 {
            return Err(invalid("maxImageBytes", 0, "a positive number of bytes"));
        }
        let cache_bytes = f.cache_bytes.unwrap_or(256 << 20);
        let tls = match (f.tls_cert, f.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            (Some(cert), None) => {
                return Err(invalid(
                    "tlsKey",
                    format!("unset (tlsCert = {})", cert.display()),
                    "both tlsCert and tlsKey, or neither",
                ))
            }
            (None, Some(key)) => {
                return Err(invalid(
                    "tlsCert",
                    format!("unset (tlsKey = {})", key.display()),
                    "both tlsCert and tlsKey, or neither",
                ))
            }
        };
        let side_tls = |option: &'static str, on: Option<bool>| -> Result<bool, ConfigError> {
            let on = on.unwrap_or(false);
            if on && tls.is_none() {
                return Err(invalid(
                    option,
                    true,
                    "tlsCert and tlsKey as well (the listener uses the endpoint's certificate)",
                ));
            }
            Ok(on)
        };
        // CTRL-7: off unless enabled, loopback unless `controlPublic`; a public admin API needs
        // tokens (it creates and deletes images and hands out keys).
        let control_tls = side_tls("controlTls", f.control_tls)?;
        if f.control_public.unwrap_or(false) && f.control.unwrap_or(false) && !authenticated {
            return Err(invalid(
                "controlPublic",
                true,
                "adminTokens or adminTokensFile as well: a control interface beyond loopback must authenticate",
            ));
        }
        let control = if f.control.unwrap_or(false) {
            Some(side_listener(
                "controlListen",
                f.control_listen.unwrap_or_else(|| "127.0.0.1:7483".into()),
                control_tls,
                f.control_public.unwrap_or(false),
                "a loopback address (127.0.0.1, ::1), or set controlPublic = true to expose the control interface",
            )?)
        } else {
            None
        };
        let ops_tls = side_tls("opsTls", f.ops_tls)?;
        let ops = if f.ops_enabled.unwrap_or(true) {
            let text = f.ops_listen.unwrap_or_else(|| "127.0.0.1:7484".into());
            Some(side_listener("opsListen", text, ops_tls, true, "")?)
        } else {
            None
        };
        let defaults = Limits::default();
        let max_header_bytes = match f.max_header_bytes {
            None => defaults.max_header_bytes,
            Some(n) => usize::try_from(n)
                .ok()
                .filter(|n| (MIN_HEADER_BYTES..=(1 << 20)).contains(n))
                .ok_or_else(|| invalid("maxHeaderBytes", n, "from 8192 to 1048576 bytes"))?,
        };
        let max_headers = match f.max_headers {
            None => defaults.max_headers,
            Some(n) => usize::try_from(n)
                .ok()
                .filter(|n| (8..=1024).contains(n))
                .ok_or_else(|| invalid("maxHeaders", n, "from 8 to 1024"))?,
        };
        let max_connections = match f.max_connections {
            None => defaults.max_connections,
            Some(n) => usize::try_from(n)
                .ok()
                .filter(|n| (1..=1 << 20).contains(n))
                .ok_or_else(|| invalid("maxConnections", n, "from 1 to 1048576"))?,
        };
        let h2_max_concurrent_streams = match f.h2_max_concurrent_streams {
            None => defaults.h2_max_concurrent_streams,
            Some(0) => return Err(invalid("h2MaxConcurrentStreams", 0, "at least 1")),
            Some(n) => n,
        };
        let limits = Limits {
            header_read_timeout: positive_ms(
                "headerReadTimeoutMs",
                f.header_read_timeout_ms,
                defaults.header_read_timeout,
            )?,
            idle_timeout: positive_ms("idleTimeoutMs", f.idle_timeout_ms, defaults.idle_timeout)?,
            max_connections,
            max_header_bytes,
            max_headers,
            h2_max_concurrent_streams,
        };
        Ok(Config {
            default_endpoint_enabled: f.default_endpoint_enabled.unwrap_or(true),
            listen: SocketAddr::new(ip, port),
            route,
            allow_origin,
            window,
            skew_ms,
            data_dir,
            store,
            wrap_keys: f.wrap_keys,
            keks: match f.keks {
                Some(text) => crate::kek::KekSource::Inline(text),
                None => crate::kek::KekSource::File(kek_file.clone()),
            },
            kek_file,
            admin_tokens,
            admin_tokens_file: f.admin_tokens_file,
            test_clock,
            keys: match f.proof_keys {
                Some(text) => crate::keys::KeySource::Inline(text),
                None => crate::keys::KeySource::File(proof_keys_file.clone()),
            },
            proof_keys_file,
            allow_insecure_key_file: f.allow_insecure_key_file.unwrap_or(false),
            image_formats,
            max_image_bytes,
            cache_bytes,
            control,
            ops,
            tls,
            access_log: f.access_log.unwrap_or(true),
            sendfile: f.sendfile.unwrap_or(true),
            limits,
            shutdown_grace: Duration::from_millis(f.shutdown_grace_ms.unwrap_or(5000)),
            faults: crate::faults::Faults::default(),
        })
    }
}
