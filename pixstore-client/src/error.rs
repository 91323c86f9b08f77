//! The client's errors. Every message says what happened and what to do about it.
//!
//! They are `Clone`, so that the callers that share one fetch (single-flight) all get the
//! answer, errors included.
//!
//! An error that wraps another (a decoder's, the HTTP library's, the system's) returns it from
//! [`source`](std::error::Error::source) and does not repeat it in its own message, so a report
//! that walks the chain (`{:#}` with anyhow, or the CLI's) prints each cause once:
//!
//! ```
//! use pixstore_client::GetImageError;
//! use pixstore_client::proto::wire::DecodeError;
//!
//! let e = GetImageError::Decode { id: "avatars:1".into(), source: DecodeError::Empty };
//! assert_eq!(e.to_string(), "image avatars:1: the endpoint's answer is not a Pixstore payload");
//! let cause = std::error::Error::source(&e).map(|c| c.to_string());
//! assert_eq!(cause, Some(DecodeError::Empty.to_string()));
//!
//! // The whole chain, as the CLI prints it:
//! let text = pixstore_client::error::Report(&e).to_string();
//! assert!(text.starts_with("image avatars:1: the endpoint's answer is not a Pixstore payload: wire payload is empty"));
//! ```

use std::fmt;
use std::sync::Arc;

use proto::envelope::EnvelopeError;
use proto::record::RecordError;
use proto::wire::{DecodeError, State};

/// Displays an error and its causes, each once: `message: cause: cause of the cause` (what
/// anyhow's `{:#}` prints). The errors of this crate never repeat their cause in their own
/// message, so this is how to show one whole.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(cause) = next {
            write!(f, ": {cause}")?;
            next = cause.source();
        }
        Ok(())
    }
}

/// Why [`crate::Client::get_image`] produced no image. In every case nothing was cached and the
/// previous cache entry of the id is still there (CLIENT-3, CLIENT-5).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum GetImageError {
    /// REC-6: the record is not a valid image record. Nothing was fetched.
    #[error("invalid image record (nothing was fetched or cached): ask the app backend for a valid record")]
    Record(#[from] RecordError),
    /// CLIENT-5: the endpoint answered NotFound (2).
    #[error("image {id}: the endpoint answered NotFound (2): the image was deleted; drop this record")]
    NotFound {
        /// The image id.
        id: String,
    },
    /// CLIENT-5: the endpoint answered MissingID (3).
    #[error(
        "image {id}: the endpoint answered MissingID (3): the request named no image; the fetcher builds a wrong \
         URL or message (a programming error, check the route)"
    )]
    MissingId {
        /// The image id.
        id: String,
    },
    /// CLIENT-5: the endpoint answered MissingProof (4).
    #[error(
        "image {id}: the endpoint answered MissingProof (4): the request carried no proof (the record's \
         statelessProof is empty, or the fetcher did not send it); get a fresh record from the app backend and retry"
    )]
    MissingProof {
        /// The image id.
        id: String,
    },
    /// CLIENT-5: the endpoint answered InvalidProof (5).
    #[error(
        "image {id}: the endpoint answered InvalidProof (5): the record's proof expired, was minted for another id \
         or by another backend; get a fresh record from the app backend and retry"
    )]
    InvalidProof {
        /// The image id.
        id: String,
    },
    /// CLIENT-5: the endpoint answered InternalError (6).
    #[error("image {id}: the endpoint answered InternalError (6): the backend failed (its log says why); retry later")]
    InternalError {
        /// The image id.
        id: String,
    },
    /// §4.3: the answer is not a v1 wire payload.
    #[error("image {id}: the endpoint's answer is not a Pixstore payload")]
    Decode {
        /// The image id.
        id: String,
        /// The decoder's error kind.
        source: DecodeError,
    },
    /// §6.2: the ciphertext did not authenticate, or its format byte is unknown. No byte of the
    /// image was released.
    #[error("image {id}: the image did not open with the record's meta (no byte of it was released)")]
    Envelope {
        /// The image id.
        id: String,
        /// The envelope's error kind.
        source: EnvelopeError,
    },
    /// The fetcher failed (network, HTTP status, a custom endpoint's refusal).
    #[error("image {id}: the fetch failed")]
    Fetch {
        /// The image id.
        id: String,
        /// What the fetcher said.
        source: FetchError,
    },
}

impl GetImageError {
    /// CLIENT-5: the typed error of an error state (`None` for Success and Updated).
    pub fn from_state(id: &str, state: State) -> Option<GetImageError> {
        let id = id.to_owned();
        Some(match state {
            State::NotFound => GetImageError::NotFound { id },
            State::MissingId => GetImageError::MissingId { id },
            State::MissingProof => GetImageError::MissingProof { id },
            State::InvalidProof => GetImageError::InvalidProof { id },
            State::InternalError => GetImageError::InternalError { id },
            _ => return None,
        })
    }

    /// The wire state the endpoint answered, for the five error states.
    pub fn state(&self) -> Option<State> {
        Some(match self {
            GetImageError::NotFound { .. } => State::NotFound,
            GetImageError::MissingId { .. } => State::MissingId,
            GetImageError::MissingProof { .. } => State::MissingProof,
            GetImageError::InvalidProof { .. } => State::InvalidProof,
            GetImageError::InternalError { .. } => State::InternalError,
            _ => return None,
        })
    }

    /// The image id, when the record was valid.
    pub fn id(&self) -> Option<&str> {
        match self {
            GetImageError::Record(_) => None,
            GetImageError::NotFound { id }
            | GetImageError::MissingId { id }
            | GetImageError::MissingProof { id }
            | GetImageError::InvalidProof { id }
            | GetImageError::InternalError { id }
            | GetImageError::Decode { id, .. }
            | GetImageError::Envelope { id, .. }
            | GetImageError::Fetch { id, .. } => Some(id),
        }
    }

    /// Whether a fresh record may help (MissingProof, InvalidProof, and a record whose meta does
    /// not open the ciphertext).
    pub fn needs_fresh_record(&self) -> bool {
        matches!(
            self,
            GetImageError::MissingProof { .. }
                | GetImageError::InvalidProof { .. }
                | GetImageError::Envelope { source: EnvelopeError::Authentication, .. }
        )
    }
}

/// Why a fetcher returned no payload.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// No connection (refused, DNS, TLS handshake).
    #[error(
        "cannot connect to {url}: check defaultEndpointConnectHost/Port (and https:// for TLS) and that the \
         endpoint is running"
    )]
    Connect {
        /// The request URL (it carries the id, never the proof).
        url: String,
        /// The HTTP library's error.
        source: Arc<reqwest::Error>,
    },
    /// A timeout (connect, read or whole request) expired.
    #[error("request to {url} timed out: the endpoint is slow or unreachable: retry later or raise the timeouts")]
    Timeout {
        /// The request URL.
        url: String,
        /// The HTTP library's error.
        source: Arc<reqwest::Error>,
    },
    /// The answer's status is not 200.
    #[error(
        "{url} answered HTTP {status}: every Pixstore wire payload comes with 200 (spec HTTP-4): check \
         defaultEndpointRoute, or the custom endpoint's own refusal (authentication, rate limit)"
    )]
    Status {
        /// The request URL.
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The answer is larger than the configured bound.
    #[error("the answer from {url} is larger than {limit} bytes: raise maxPayloadBytes if images are that large")]
    TooLarge {
        /// The request URL.
        url: String,
        /// The bound.
        limit: u64,
    },
    /// Any other HTTP failure (connection reset while reading, a redirect, ...).
    #[error("request to {url} failed")]
    Http {
        /// The request URL.
        url: String,
        /// The HTTP library's error.
        source: Arc<reqwest::Error>,
    },
    /// A custom fetcher's failure.
    #[error("custom fetcher failed: {message}")]
    Custom {
        /// What went wrong and what to do.
        message: String,
        /// The underlying error, if any.
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },
}

impl FetchError {
    /// A custom fetcher's error with a message.
    pub fn custom(message: impl Into<String>) -> FetchError {
        FetchError::Custom { message: message.into(), source: None }
    }

    /// A custom fetcher's error wrapping another error.
    pub fn custom_with(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> FetchError {
        FetchError::Custom { message: message.into(), source: Some(Arc::new(source)) }
    }

    /// Classifies an HTTP library error for `url`.
    pub fn from_reqwest(url: &str, e: reqwest::Error) -> FetchError {
        let url = url.to_owned();
        let source = Arc::new(e);
        if source.is_timeout() {
            FetchError::Timeout { url, source }
        } else if source.is_connect() {
            FetchError::Connect { url, source }
        } else {
            FetchError::Http { url, source }
        }
    }

    /// The HTTP status of a refused request.
    pub fn status(&self) -> Option<u16> {
        match self {
            FetchError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Why a cache operation failed. [`crate::Client::get_image`] never fails because of the cache:
/// it logs the error and goes on as on a miss; only the explicit cache operations return it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// A file operation failed.
    #[error("cache: cannot {op} {path}: check the cache directory's permissions and free space")]
    Io {
        /// What was attempted (`read`, `write`, `rename`, `remove`, `list`, ...).
        op: &'static str,
        /// The file or folder.
        path: std::path::PathBuf,
        /// The system's error.
        source: Arc<std::io::Error>,
    },
    /// A blocking cache task did not finish (the runtime is shutting down, or it panicked).
    #[error("cache: a background task failed: {0}; retry, or recreate the client")]
    Task(String),
    /// A custom cache's failure.
    #[error("cache: {0}")]
    Other(String),
}

impl CacheError {
    pub(crate) fn io(op: &'static str, path: &std::path::Path, e: std::io::Error) -> CacheError {
        CacheError::Io { op, path: path.to_path_buf(), source: Arc::new(e) }
    }

    /// A failed atomic write of an entry, named by the step that failed.
    pub(crate) fn write(e: pixstore_fs::Error) -> CacheError {
        let op = match e.op() {
            pixstore_fs::Op::CreateTemporary => "create a temporary file in",
            pixstore_fs::Op::Write => "write",
            pixstore_fs::Op::Sync => "flush",
            pixstore_fs::Op::Persist => "rename into place",
            pixstore_fs::Op::SyncFolder => "flush the folder of",
            _ => "write",
        };
        let path = e.path().to_path_buf();
        CacheError::Io { op, path, source: Arc::new(e.into_io()) }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    /// Each level of the source chain, as `{:#}` (anyhow) or the CLI prints it.
    fn chain(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
        let mut out = vec![e.to_string()];
        let mut next = e.source();
        while let Some(s) = next {
            out.push(s.to_string());
            next = s.source();
        }
        out
    }

    /// No level repeats the message of the level below it, so each cause is printed once.
    fn assert_each_cause_once(e: &(dyn std::error::Error + 'static), levels: usize) {
        let c = chain(e);
        assert_eq!(c.len(), levels, "{c:#?}");
        for pair in c.windows(2) {
            assert!(!pair[0].contains(&pair[1]), "{:?} repeats its cause {:?}", pair[0], pair[1]);
        }
    }

    fn reqwest_error() -> reqwest::Error {
        reqwest::Client::new().get("http://[::1").build().unwrap_err()
    }

    #[test]
    fn every_wrapped_cause_is_printed_once() {
        let id = || "a:b".to_owned();
        let decode = GetImageError::Decode { id: id(), source: DecodeError::Empty };
        assert_each_cause_once(&decode, 2);
        assert_each_cause_once(&GetImageError::Envelope { id: id(), source: EnvelopeError::Authentication }, 2);
        assert_each_cause_once(&GetImageError::Record(RecordError::InvalidId), 2);
        let connect = FetchError::Connect { url: "http://x/".into(), source: Arc::new(reqwest_error()) };
        let levels = chain(&connect).len();
        assert!(levels >= 2);
        assert_each_cause_once(&connect, levels);
        assert_each_cause_once(&GetImageError::Fetch { id: id(), source: connect }, levels + 1);
        for e in [
            FetchError::Timeout { url: "u".into(), source: Arc::new(reqwest_error()) },
            FetchError::Http { url: "u".into(), source: Arc::new(reqwest_error()) },
        ] {
            let levels = chain(&e).len();
            assert_each_cause_once(&e, levels);
        }
        let custom = FetchError::custom_with("the app refused", std::io::Error::other("token expired"));
        assert_each_cause_once(&custom, 2);
        let io = CacheError::io("write", std::path::Path::new("/c/x"), std::io::Error::other("disk full"));
        assert_each_cause_once(&io, 2);
        // The message still says what to do; the cause comes after it.
        assert_eq!(chain(&io).join(": "), Report(&io).to_string());
        assert_eq!(
            Report(&io).to_string(),
            "cache: cannot write /c/x: check the cache directory's permissions and free space: disk full"
        );
    }
}
