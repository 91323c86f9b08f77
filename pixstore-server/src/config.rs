//! Server configuration: the seed documentation's options, from a TOML file, the environment
//! and command-line flags (flags win over the environment, which wins over the file).
//!
//! | TOML key (3.2.1 name) | flag | environment | default |
//! |---|---|---|---|
//! | `defaultEndpointEnabled` | `--no-default-endpoint` | - | `true` |
//! | `defaultEndpointListenHost` | `--listen-host` | `PIXSTORE_LISTEN_HOST` | `0.0.0.0` |
//! | `defaultEndpointListenPort` | `--port` | `PIXSTORE_PORT` | `7482` |
//! | `defaultEndpointRoute` | `--route` | `PIXSTORE_ROUTE` | `/pixstore-image` |
//! | `accessControlAllowOrigin` | `--allow-origin` | `PIXSTORE_ALLOW_ORIGIN` | `*` |
//! | `statelessKeyWindowLength` | `--window-ms` | `PIXSTORE_WINDOW_MS` | `20000` (-1 disables proofs) |
//! | `proofSkewMs` | `--skew-ms` | `PIXSTORE_SKEW_MS` | `5000` |
//! | `dataDir` | `--data-dir` | `PIXSTORE_DATA_DIR` | `./pixstore-data` |
//! | `proofKeysFile` | `--proof-keys` | `PIXSTORE_PROOF_KEYS_FILE` | `<dataDir>/proof-keys.json` |
//! | `proofKeys` | - | `PIXSTORE_PROOF_KEYS` | unset (the key file's JSON inline; wins over the file) |
//! | `imageFormats` | `--image-formats` | `PIXSTORE_IMAGE_FORMATS` | `png,webp,jpg,jpeg` (3.2.1's list) |
//! | `maxImageBytes` | `--max-image-bytes` | `PIXSTORE_MAX_IMAGE_BYTES` | `33554432` (32 MiB) |
//! | `cacheBytes` | `--cache-bytes` | `PIXSTORE_CACHE_BYTES` | `268435456` (256 MiB of stored images kept in memory) |
//! | `control` | `--control` | `PIXSTORE_CONTROL` | off |
//! | `controlListen` | `--control-listen` | `PIXSTORE_CONTROL_LISTEN` | `127.0.0.1:7483` (loopback only unless `--control-public`) |

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use proto::format::Format;
use proto::proof::{Window, MAX_SKEW_MS};
use serde::Deserialize;

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

/// The configuration as a TOML file writes it: every key optional.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileConfig {
    /// `defaultEndpointEnabled`.
    pub default_endpoint_enabled: Option<bool>,
    /// `defaultEndpointListenHost`.
    pub default_endpoint_listen_host: Option<String>,
    /// `defaultEndpointListenPort`.
    pub default_endpoint_listen_port: Option<i64>,
    /// `defaultEndpointRoute`.
    pub default_endpoint_route: Option<String>,
    /// `accessControlAllowOrigin`.
    pub access_control_allow_origin: Option<String>,
    /// `statelessKeyWindowLength` in ms, or -1.
    pub stateless_key_window_length: Option<i64>,
    /// `proofSkewMs`.
    pub proof_skew_ms: Option<u64>,
    /// `dataDir`.
    pub data_dir: Option<PathBuf>,
    /// `proofKeysFile`.
    pub proof_keys_file: Option<PathBuf>,
    /// `proofKeys`: the key file's JSON inline (wins over `proofKeysFile`).
    pub proof_keys: Option<String>,
    /// `imageFormats`.
    pub image_formats: Option<Vec<String>>,
    /// `maxImageBytes`.
    pub max_image_bytes: Option<u64>,
    /// `cacheBytes`.
    pub cache_bytes: Option<u64>,
    /// `control`.
    pub control: Option<bool>,
    /// `controlListen`.
    pub control_listen: Option<String>,
    /// `controlPublic`: allow a non-loopback control address.
    pub control_public: Option<bool>,
}

impl FileConfig {
    /// Reads a TOML file.
    pub fn read(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.into(), message: e.to_string() })
    }

    /// `other`'s values where it has them, else ours.
    pub fn overlay(self, other: FileConfig) -> FileConfig {
        FileConfig {
            default_endpoint_enabled: other.default_endpoint_enabled.or(self.default_endpoint_enabled),
            default_endpoint_listen_host: other.default_endpoint_listen_host.or(self.default_endpoint_listen_host),
            default_endpoint_listen_port: other.default_endpoint_listen_port.or(self.default_endpoint_listen_port),
            default_endpoint_route: other.default_endpoint_route.or(self.default_endpoint_route),
            access_control_allow_origin: other.access_control_allow_origin.or(self.access_control_allow_origin),
            stateless_key_window_length: other.stateless_key_window_length.or(self.stateless_key_window_length),
            proof_skew_ms: other.proof_skew_ms.or(self.proof_skew_ms),
            data_dir: other.data_dir.or(self.data_dir),
            proof_keys_file: other.proof_keys_file.or(self.proof_keys_file),
            proof_keys: other.proof_keys.or(self.proof_keys),
            image_formats: other.image_formats.or(self.image_formats),
            max_image_bytes: other.max_image_bytes.or(self.max_image_bytes),
            cache_bytes: other.cache_bytes.or(self.cache_bytes),
            control: other.control.or(self.control),
            control_listen: other.control_listen.or(self.control_listen),
            control_public: other.control_public.or(self.control_public),
        }
    }
}

/// A validated configuration.
#[derive(Debug, Clone)]
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
    /// Where images and keys live.
    pub data_dir: PathBuf,
    /// The proof keyring file (used by `keys rotate`, and by the server unless `keys` is inline).
    pub proof_keys_file: PathBuf,
    /// Where the server takes its proof keys from.
    pub keys: crate::keys::KeySource,
    /// Formats accepted on upload.
    pub image_formats: Vec<Format>,
    /// Largest accepted image.
    pub max_image_bytes: u64,
    /// Memory for stored images kept ready to serve.
    pub cache_bytes: u64,
    /// Control interface address, when enabled.
    pub control: Option<SocketAddr>,
    /// Deliberate faults (only with the `test-faults` feature; see [`crate::faults`]).
    pub(crate) faults: crate::faults::Faults,
}

impl Config {
    /// Switches on deliberate protocol faults (conformance suite self-tests only).
    #[cfg(feature = "test-faults")]
    pub fn with_faults(mut self, faults: crate::faults::Faults) -> Config {
        self.faults = faults;
        self
    }
}

/// 3.2.1's default `imageFormats`.
pub const DEFAULT_FORMATS: [Format; 4] = [Format::Png, Format::Webp, Format::Jpg, Format::Jpeg];

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
        let data_dir = f.data_dir.unwrap_or_else(|| PathBuf::from("./pixstore-data"));
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
        // CTRL-7: off unless enabled, loopback unless `controlPublic`.
        let control = if f.control.unwrap_or(false) {
            let text = f.control_listen.unwrap_or_else(|| "127.0.0.1:7483".into());
            let addr: SocketAddr =
                text.parse().map_err(|_| invalid("controlListen", &text, "an address such as 127.0.0.1:7483"))?;
            if !addr.ip().is_loopback() && !f.control_public.unwrap_or(false) {
                return Err(invalid(
                    "controlListen",
                    &text,
                    "a loopback address (127.0.0.1, ::1), or set controlPublic = true to expose the control interface",
                ));
            }
            Some(addr)
        } else {
            None
        };
        Ok(Config {
            default_endpoint_enabled: f.default_endpoint_enabled.unwrap_or(true),
            listen: SocketAddr::new(ip, port),
            route,
            allow_origin,
            window,
            skew_ms,
            data_dir,
            keys: match f.proof_keys {
                Some(text) => crate::keys::KeySource::Inline(text),
                None => crate::keys::KeySource::File(proof_keys_file.clone()),
            },
            proof_keys_file,
            image_formats,
            max_image_bytes,
            cache_bytes,
            control,
            faults: crate::faults::Faults::default(),
        })
    }
}
