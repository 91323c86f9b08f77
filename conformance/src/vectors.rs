//! The golden vectors of `spec/vectors/` as checks: against pixstore-proto, and against any
//! decoder through an adapter process (as toml-test does), the decoder adapter protocol of spec
//! Appendix D: per input, the payload on standard input and one JSON description on standard
//! output; or, in line mode, one long-lived process that reads a payload in hex per line and
//! answers each with one line.
//!
//! The description: `{"state": "Success", "ciphertext_hex": "..."}`,
//! `{"state": "Updated", "token": 1, "key_hex": "...", "iv_hex": "...", "tag_hex": "...", "ciphertext_hex": "..."}`,
//! `{"state": "NotFound"}` (etc.), or `{"error": "<kind>"}` with a kind of spec §4.3
//! (`Empty`, `Truncated`, `MissingCiphertext`, `TrailingBytes`, `ReservedState`,
//! `UnassignedState`, `TokenOutOfRange`). Exit status 0 in both cases; anything else is a crash.
// serde_json's `value["key"]` reads return Null and never panic; writes go to objects
// built here. The workspace's indexing lint targets slices on input-driven paths.
#![allow(clippy::indexing_slicing)]

use std::path::Path;
use std::time::Duration;

use proto::wire::{Payload, PayloadRef};
use serde_json::{json, Value};

use crate::process::{self, LineProcess, ProcessError, Stderr};

/// `spec/vectors/wire_decode.json`, compiled in: the installed binary needs no repository.
pub const WIRE_DECODE_JSON: &str = include_str!("../../spec/vectors/wire_decode.json");

/// The compiled-in wire vectors.
pub fn compiled_wire() -> Result<Vec<WireVector>, String> {
    parse_wire(WIRE_DECODE_JSON, "wire_decode.json (compiled in)")
}

/// One wire_decode vector.
#[derive(Debug, Clone)]
pub struct WireVector {
    /// Its stable id.
    pub id: String,
    /// The input.
    pub input: Vec<u8>,
    /// What a decoder must report: the expected description (see the module docs).
    pub expected: Value,
    /// Requirement IDs.
    pub requirements: Vec<String>,
}

/// Bytes of lowercase or uppercase hex.
pub fn hex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err(format!("odd hex length in {s:?}"));
    }
    (0..s.len() / 2)
        .map(|i| {
            s.get(2 * i..2 * i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()).ok_or_else(|| format!("bad hex {s:?}"))
        })
        .collect()
}

/// Lowercase hex.
pub fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Loads `wire_decode.json` from `dir`; a missing or empty file is an error, never zero vectors.
pub fn load_wire(dir: &Path) -> Result<Vec<WireVector>, String> {
    let path = dir.join("wire_decode.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_wire(&text, &path.display().to_string())
}

fn parse_wire(text: &str, name: &str) -> Result<Vec<WireVector>, String> {
    let file: Value = serde_json::from_str(text).map_err(|e| format!("{name}: {e}"))?;
    let vectors = file["vectors"].as_array().filter(|v| !v.is_empty()).ok_or_else(|| format!("{name}: no vectors"))?;
    vectors
        .iter()
        .map(|v| {
            let id = v["id"].as_str().ok_or("vector without id")?.to_owned();
            let input = hex(v["input_hex"].as_str().ok_or_else(|| format!("{id}: no input_hex"))?)?;
            let expected = if v["result"] == "valid" { v["expected"].clone() } else { json!({ "error": v["error"] }) };
            let requirements = v["requirements"]
                .as_array()
                .map(|r| r.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            Ok(WireVector { id, input, expected, requirements })
        })
        .collect()
}

/// pixstore-proto's description of a payload, in the adapter protocol.
pub fn describe(input: &[u8]) -> Value {
    match PayloadRef::decode(input) {
        Err(e) => json!({ "error": e.kind() }),
        Ok(p) => {
            let mut v = json!({ "state": p.state().name() });
            if let Some(ct) = p.ciphertext() {
                v["ciphertext_hex"] = json!(to_hex(ct));
            }
            if let Payload::Updated { token, meta, .. } = &p {
                v["token"] = json!(token.get());
                v["key_hex"] = json!(to_hex(&meta.key));
                v["iv_hex"] = json!(to_hex(&meta.iv));
                v["tag_hex"] = json!(to_hex(&meta.tag));
            }
            v
        }
    }
}

/// Compares a decoder's description with the vector's expectation.
pub fn compare(v: &WireVector, got: &Value) -> Result<(), String> {
    if let Some(kind) = v.expected.get("error") {
        return match got.get("error") {
            Some(k) if k == kind => Ok(()),
            Some(k) => Err(format!("expected error {kind}, got error {k}")),
            None => Err(format!(
                "expected error {kind}, but the decoder accepted it as {}",
                got.get("state").unwrap_or(&Value::Null)
            )),
        };
    }
    for key in ["state", "token", "key_hex", "iv_hex", "tag_hex", "ciphertext_hex"] {
        if v.expected.get(key) != got.get(key) {
            return Err(format!(
                "{key}: expected {}, got {}",
                v.expected.get(key).unwrap_or(&Value::Null),
                got.get(key).unwrap_or(&Value::Null)
            ));
        }
    }
    Ok(())
}

/// How long a decoder may take for one input (spec Appendix D).
pub const DECODER_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a decoder gave no description of an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecoderFailure {
    /// It crashed (exit status other than 0, or its stream closed).
    Crash(String),
    /// It wrote something that is not one JSON object.
    Garbage(String),
    /// It did not answer within [`DECODER_TIMEOUT`].
    Hang(String),
}

impl DecoderFailure {
    /// `crash`, `garbage` or `hang`.
    pub fn class(&self) -> &'static str {
        match self {
            DecoderFailure::Crash(_) => "crash",
            DecoderFailure::Garbage(_) => "garbage",
            DecoderFailure::Hang(_) => "hang",
        }
    }
}

impl std::fmt::Display for DecoderFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecoderFailure::Crash(m) => write!(f, "the decoder crashed: {m}"),
            DecoderFailure::Garbage(m) => write!(f, "the decoder printed no JSON object: {m}"),
            DecoderFailure::Hang(m) => write!(f, "the decoder hung: {m}"),
        }
    }
}

/// A decoder adapter (spec Appendix D): one process per input, or one process in lines mode.
#[derive(Debug)]
pub struct Decoder {
    command: Vec<String>,
    lines: bool,
    process: Option<LineProcess>,
    stderr: Stderr,
    /// Inputs given so far.
    pub inputs: u64,
    /// Processes started so far (line mode restarts after a failure).
    pub starts: u64,
}

impl Decoder {
    /// The adapter `command`, in line mode when `lines`.
    pub fn new(command: &[String], lines: bool) -> Result<Decoder, String> {
        if command.is_empty() {
            return Err("no decoder command given (after --)".into());
        }
        Ok(Decoder { command: command.to_vec(), lines, process: None, stderr: Stderr::default(), inputs: 0, starts: 0 })
    }

    /// What the decoder makes of `input`. `Err` only when the command cannot be started.
    pub async fn describe(&mut self, input: &[u8]) -> Result<Result<Value, DecoderFailure>, String> {
        self.inputs += 1;
        let failure = |e: ProcessError| match e {
            ProcessError::Silent { .. } => Ok(DecoderFailure::Hang(e.to_string())),
            ProcessError::Spawn { .. } => Err(e.to_string()),
            other => Ok(DecoderFailure::Crash(other.to_string())),
        };
        if !self.lines {
            self.starts += 1;
            return Ok(match process::run_once(&self.command, input, DECODER_TIMEOUT, &self.stderr).await {
                Ok(out) => process::one_object(&out)
                    .map_err(|p| DecoderFailure::Garbage(format!("{p}: {}", process::preview(&out)))),
                Err(e) => Err(failure(e)?),
            });
        }
        let mut p = match self.process.take() {
            Some(p) => p,
            None => {
                self.starts += 1;
                match LineProcess::start(&self.command, &self.stderr) {
                    Ok(p) => p,
                    Err(e) => return failure(e).map(Err),
                }
            }
        };
        if let Err(e) = p.send(&to_hex(input)).await {
            return failure(e).map(Err);
        }
        let line = match p.next_line(tokio::time::Instant::now() + DECODER_TIMEOUT, DECODER_TIMEOUT).await {
            Ok(l) => l,
            Err(e) => return failure(e).map(Err),
        };
        match process::one_object(line.as_bytes()) {
            Ok(v) => {
                self.process = Some(p);
                Ok(Ok(v))
            }
            // The stream is out of step now: the next input gets a new process.
            Err(problem) => {
                Ok(Err(DecoderFailure::Garbage(format!("{problem}: {}", process::preview(line.as_bytes())))))
            }
        }
    }

    /// Stops a line-mode process.
    pub async fn close(mut self) {
        if let Some(p) = self.process.take() {
            p.close().await;
        }
    }
}

/// Runs an adapter command over every vector: one `(id, result)` per vector.
pub async fn run_decoder(
    command: &[String],
    lines: bool,
    vectors: &[WireVector],
) -> Result<Vec<(String, Result<(), String>)>, String> {
    let mut decoder = Decoder::new(command, lines)?;
    let mut out = Vec::new();
    for v in vectors {
        let result = match decoder.describe(&v.input).await? {
            Ok(got) => compare(v, &got),
            Err(failure) => Err(failure.to_string()),
        };
        out.push((v.id.clone(), result));
    }
    decoder.close().await;
    Ok(out)
}
