//! The golden vectors of `spec/vectors/` as checks: against pixstore-proto, and against any
//! decoder through an adapter process (as toml-test does): the payload on standard input, a JSON
//! description on standard output.
//!
//! Adapter protocol: the adapter reads the whole payload from stdin and prints one JSON object:
//! `{"state": "Success", "ciphertext_hex": "..."}`,
//! `{"state": "Updated", "token": 1, "key_hex": "...", "iv_hex": "...", "tag_hex": "...", "ciphertext_hex": "..."}`,
//! `{"state": "NotFound"}` (etc.), or `{"error": "<kind>"}` with a kind of spec §4.3
//! (`Empty`, `Truncated`, `MissingCiphertext`, `TrailingBytes`, `ReservedState`,
//! `UnassignedState`, `TokenOutOfRange`). Exit status 0 in both cases; anything else is a crash.
// serde_json's `value["key"]` reads return Null and never panic; writes go to objects
// built here. The workspace's indexing lint targets slices on input-driven paths.
#![allow(clippy::indexing_slicing)]

use std::path::Path;

use proto::wire::{Payload, PayloadRef};
use serde_json::{json, Value};

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

fn hex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err(format!("odd hex length in {s:?}"));
    }
    (0..s.len() / 2)
        .map(|i| {
            s.get(2 * i..2 * i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()).ok_or_else(|| format!("bad hex {s:?}"))
        })
        .collect()
}

fn to_hex(b: &[u8]) -> String {
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

/// Runs an adapter command over every vector: one `(id, result)` per vector.
pub async fn run_decoder(
    command: &[String],
    vectors: &[WireVector],
) -> Result<Vec<(String, Result<(), String>)>, String> {
    use tokio::io::AsyncWriteExt as _;
    let (program, args) = command.split_first().ok_or("no decoder command given (after --)")?;
    let mut out = Vec::new();
    for v in vectors {
        let mut child = tokio::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {program}: {e}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(&v.input).await.map_err(|e| format!("{}: cannot write the payload: {e}", v.id))?;
        }
        let output = child.wait_with_output().await.map_err(|e| format!("{}: {e}", v.id))?;
        let result = if !output.status.success() {
            Err(format!(
                "the decoder crashed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or("")
            ))
        } else {
            serde_json::from_slice::<Value>(&output.stdout)
                .map_err(|e| format!("the decoder printed no JSON object ({e})"))
                .and_then(|got| compare(v, &got))
        };
        out.push((v.id.clone(), result));
    }
    Ok(out)
}
