//! The client adapter protocol, version 1 (spec Appendix C): the requests the suite sends, the
//! outcomes it reads, and the runner that talks to the implementer's adapter process, one
//! process per step or one long-lived process speaking JSON lines.
//!
//! Nothing an adapter does can stop the run: a process that cannot start, crashes, prints
//! garbage or stays silent is an [`AdapterError`] (the checks report it with the failure code
//! `adapter`), every wait is bounded, and a lines-mode process that misbehaved is killed and
//! started again for the next request.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::process::{self, one_object, preview, LineProcess, ProcessError, Stderr};

/// The protocol version this suite speaks (`protocol` of every request).
pub const PROTOCOL_VERSION: u32 = 1;

/// How long the suite waits for one outcome unless told otherwise (`--adapter-timeout-ms`).
pub const DEFAULT_ADAPTER_TIMEOUT: Duration = Duration::from_secs(60);

/// One process per request, or one long-lived process speaking JSON lines (Appendix C.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A process per request: the request on stdin, one JSON outcome on stdout.
    PerStep,
    /// One process for the run: one request per line, one outcome per line.
    Lines,
}

impl Mode {
    /// `per step` or `lines`.
    pub fn label(self) -> &'static str {
        match self {
            Mode::PerStep => "per step",
            Mode::Lines => "lines",
        }
    }
}

/// The operations of Appendix C.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// What the adapter is, and where its cache lives.
    Info,
    /// Empty the cache and the client's in-memory state.
    Reset,
    /// The get-image call.
    Get,
    /// Whether the cache has an entry for an id.
    Cached,
    /// The delete-cached-image call.
    Evict,
    /// Every byte the cache stores (a cache that is not a folder).
    Dump,
}

/// `cache` of a request: where the cache lives and its limits (CLIENT-6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheConfig {
    /// The folder the client keeps its cache in.
    pub dir: String,
    /// `frontendImageCacheLimit`.
    pub limit: u64,
    /// `frontendCleanupBatch`.
    pub batch: u64,
}

/// One request (Appendix C.3). `protocol` and `seq` are set by [`Adapter::call`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// `1`.
    pub protocol: u32,
    /// The request's number in the run.
    pub seq: u64,
    /// The operation.
    pub op: Op,
    /// The default endpoint's route URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// A custom endpoint's URL template (`{id}`), instead of `endpoint`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_template: Option<String>,
    /// The cache's folder and limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheConfig>,
    /// The bound of one fetch (CLIENT-12).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// The largest payload to accept (CLIENT-9).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_payload_bytes: Option<u64>,
    /// The record's JSON text (`get`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// The app's context (`get`; `Some(Value::Null)` is sent as `null`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// How many calls to start at once (`get`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// The image id (`cached`, `evict`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl Request {
    /// A request for `op` with nothing else set.
    pub fn new(op: Op) -> Request {
        Request {
            protocol: PROTOCOL_VERSION,
            seq: 0,
            op,
            endpoint: None,
            endpoint_template: None,
            cache: None,
            timeout_ms: None,
            max_payload_bytes: None,
            record: None,
            context: None,
            concurrency: None,
            id: None,
        }
    }
}

/// `image` of a `get` outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ImageOut {
    /// SHA-256 of the image bytes, lowercase hex.
    pub sha256: String,
    /// The MIME type the client reports.
    pub mime: Option<String>,
    /// The registry name, if reported.
    pub format: Option<String>,
    /// The token of the version returned, if reported.
    pub token: Option<u64>,
    /// Whether it came from the cache, if reported.
    pub from_cache: Option<bool>,
}

/// `error` of an outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ErrorOut {
    /// `record`, `state`, `decode`, `envelope`, `fetch`, `other` or `unsupported`.
    pub kind: String,
    /// REC-6 kind (`record`).
    pub record_kind: Option<String>,
    /// The wire state (`state`).
    pub state: Option<String>,
    /// The §4.3 kind (`decode`).
    pub decode_kind: Option<String>,
    /// The §6.2 kind (`envelope`).
    pub envelope_kind: Option<String>,
    /// `timeout`, `tooLarge`, `status`, `redirect`, `connect` or `other` (`fetch`).
    pub fetch_kind: Option<String>,
    /// The HTTP status (`fetch` / `status`).
    pub status: Option<u16>,
    /// The client's own text.
    pub message: Option<String>,
}

impl ErrorOut {
    /// The kind and its detail, for messages: `state InvalidProof`, `fetch timeout`.
    pub fn describe(&self) -> String {
        let detail = match self.kind.as_str() {
            "record" => self.record_kind.clone(),
            "state" => self.state.clone(),
            "decode" => self.decode_kind.clone(),
            "envelope" => self.envelope_kind.clone(),
            "fetch" => match (&self.fetch_kind, self.status) {
                (Some(k), Some(s)) => Some(format!("{k} {s}")),
                (k, _) => k.clone(),
            },
            _ => None,
        };
        let mut text = match detail {
            Some(d) => format!("{} {d}", self.kind),
            None => self.kind.clone(),
        };
        if let Some(m) = self.message.as_deref().filter(|m| !m.is_empty()) {
            let short: String = m.chars().take(160).collect();
            text.push_str(&format!(" ({short})"));
        }
        text
    }
}

/// One `dump` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct DumpEntry {
    /// The entry's id, as the adapter names it.
    pub id: String,
    /// Every byte the entry stores, hex.
    pub hex: String,
}

/// An outcome (Appendix C.4), read leniently: unknown members are ignored.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Outcome {
    /// The request's `seq`.
    pub seq: Option<u64>,
    /// Whether the operation succeeded.
    pub ok: bool,
    /// `get`: the image.
    pub image: Option<ImageOut>,
    /// Why it failed.
    pub error: Option<ErrorOut>,
    /// `get` with `concurrency` > 1: one outcome per call.
    pub results: Option<Vec<Outcome>>,
    /// `cached`.
    pub cached: Option<bool>,
    /// `dump`.
    pub entries: Option<Vec<DumpEntry>>,
    /// `info`: the client's name and version.
    pub name: Option<String>,
    /// `info`: whether the cache is in `cache.dir`.
    pub cache_in_dir: Option<bool>,
}

impl Outcome {
    /// The outcome, or the error it says it is.
    pub fn summary(&self) -> String {
        match (&self.image, &self.error) {
            (Some(i), _) if self.ok => {
                format!("an image (sha256 {}, {})", short_hash(&i.sha256), i.mime.as_deref().unwrap_or("no MIME type"))
            }
            (_, Some(e)) if !self.ok => format!("error {}", e.describe()),
            _ if self.ok => "ok".into(),
            _ => "a failure without an error object".into(),
        }
    }
}

fn short_hash(h: &str) -> String {
    h.chars().take(12).collect()
}

/// How an adapter misbehaved (never how the client behaved).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdapterError {
    /// It could not be started, crashed, or stayed silent.
    Process(ProcessError),
    /// It wrote something that is not one JSON outcome.
    Garbage {
        /// What it wrote (the start of it).
        output: String,
        /// What was wrong with it.
        problem: String,
        /// The last lines of its standard error.
        stderr: String,
    },
}

impl fmt::Display for AdapterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdapterError::Process(e) => write!(f, "the adapter misbehaved (spec Appendix C.2): {e}"),
            AdapterError::Garbage { output, problem, stderr } => write!(
                f,
                "the adapter wrote {output:?}, which is not one JSON outcome ({problem}; spec Appendix C.4){}",
                process::tail(stderr)
            ),
        }
    }
}

impl std::error::Error for AdapterError {}

impl From<ProcessError> for AdapterError {
    fn from(e: ProcessError) -> Self {
        AdapterError::Process(e)
    }
}

struct Runner {
    seq: u64,
    process: Option<LineProcess>,
}

/// The implementer's adapter.
pub struct Adapter {
    command: Vec<String>,
    mode: Mode,
    timeout: Duration,
    runner: tokio::sync::Mutex<Runner>,
    stderr: Stderr,
}

impl fmt::Debug for Adapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Adapter").field("command", &self.command).field("mode", &self.mode).finish()
    }
}

impl Adapter {
    /// The adapter `command` (program and arguments), spoken to in `mode`; each outcome is
    /// awaited at most `timeout` unless a call says otherwise.
    pub fn new(command: Vec<String>, mode: Mode, timeout: Duration) -> Result<Adapter, String> {
        if command.is_empty() {
            return Err("no adapter command given (after --)".into());
        }
        Ok(Adapter {
            command,
            mode,
            timeout,
            runner: tokio::sync::Mutex::new(Runner { seq: 0, process: None }),
            stderr: Stderr::default(),
        })
    }

    /// The command as given.
    pub fn command(&self) -> &[String] {
        &self.command
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The suite's bound on one outcome.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The last lines the adapter wrote to standard error.
    pub fn stderr_tail(&self) -> String {
        self.stderr.text()
    }

    /// Sends `request` (with `protocol` and the next `seq` set) and returns the outcome, waiting
    /// at most `timeout` (the adapter's default when `None`).
    pub async fn call(&self, mut request: Request, timeout: Option<Duration>) -> Result<Outcome, AdapterError> {
        let wait = timeout.unwrap_or(self.timeout);
        let mut runner = self.runner.lock().await;
        runner.seq += 1;
        request.seq = runner.seq;
        request.protocol = PROTOCOL_VERSION;
        let line = serde_json::to_string(&request).unwrap_or_default();
        let value = match self.mode {
            Mode::PerStep => {
                let out = process::run_once(&self.command, format!("{line}\n").as_bytes(), wait, &self.stderr).await?;
                one_object(&out).map_err(|problem| AdapterError::Garbage {
                    output: preview(&out),
                    problem,
                    stderr: self.stderr.text(),
                })?
            }
            Mode::Lines => self.lines(&mut runner, &line, request.seq, wait).await?,
        };
        serde_json::from_value::<Outcome>(value.clone()).map_err(|e| AdapterError::Garbage {
            output: preview(value.to_string().as_bytes()),
            problem: format!("not an outcome: {e}"),
            stderr: self.stderr.text(),
        })
    }

    async fn lines(&self, runner: &mut Runner, line: &str, seq: u64, wait: Duration) -> Result<Value, AdapterError> {
        let deadline = tokio::time::Instant::now() + wait;
        // Taken out while in use: on any failure it is dropped (killed), and the next call
        // starts a new process.
        let mut p = match runner.process.take() {
            Some(p) => p,
            None => LineProcess::start(&self.command, &self.stderr)?,
        };
        p.send(line).await?;
        loop {
            let text = p.next_line(deadline, wait).await?;
            if text.trim().is_empty() {
                continue;
            }
            let value = one_object(text.as_bytes()).map_err(|problem| AdapterError::Garbage {
                output: preview(text.as_bytes()),
                problem,
                stderr: p.stderr(),
            })?;
            match value.get("seq").and_then(Value::as_u64) {
                // A late answer to a request the suite gave up on (Appendix C.2).
                Some(s) if s != seq => continue,
                _ => {
                    runner.process = Some(p);
                    return Ok(value);
                }
            }
        }
    }

    /// Stops a long-lived adapter (closing its standard input first, so it can exit by itself).
    pub async fn shutdown(&self) {
        if let Some(p) = self.runner.lock().await.process.take() {
            p.close().await;
        }
    }
}
