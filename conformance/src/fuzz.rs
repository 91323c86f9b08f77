//! Differential decoder fuzzing: `pixstore-conformance fuzz-decoder -- CMD ARGS`.
//!
//! Inputs are generated from a seed ([`Generator`], deterministic: ChaCha8): mostly
//! structure-aware mutations of valid payloads (every state byte and the boundaries of the
//! state classes, every length boundary of §4.2, token values around 0, `MAX_TOKEN` and 2^64,
//! byte orders), some fully random bytes. Each input goes to the implementer's decoder over the
//! decoder adapter protocol (spec Appendix D) and to pixstore-proto ([`vectors::describe`]); a
//! difference in verdict or fields is a *disagreement*, named by its class (`error Truncated ->
//! accepted Updated`: what v1 says, then what the decoder said).
//!
//! The first disagreement of a class that is not known is minimised ([`minimise`]: chunks
//! removed, then bytes zeroed, as long as the class stays the same) and written as a vector
//! file in the schema of `spec/vectors/wire_decode.json`, which the implementer can add to their
//! own tests. Known classes come from a decoder's known-failing list (`--known-failing`): the
//! classes its listed vectors fall into. So pixstore 3.2.1's decoder, which accepts truncated
//! Updated headers and trailing bytes, is fuzzed to show that it differs *only* in those ways.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use proto::token::MAX_TOKEN;
use rand::{RngExt as _, SeedableRng as _};
use serde_json::{json, Value};

use crate::vectors::{self, compare, describe, to_hex, Decoder, DecoderFailure, WireVector};

/// How long one minimisation may take, in decoder calls.
const MINIMISE_BUDGET: usize = 4000;

/// The inputs of a run.
#[derive(Debug)]
pub struct Generator {
    rng: rand::rngs::ChaCha8Rng,
    seeds: Vec<Vec<u8>>,
}

/// Token values a decoder gets wrong (WIRE-10): 0, 1, around `MAX_TOKEN`, 2^53 + 1 (rounds to
/// 2^53 as a double), 2^56 (big-endian 1), 2^63 (negative as i64), 2^64 - 1.
const TOKENS: [u64; 10] = [0, 1, 2, MAX_TOKEN - 1, MAX_TOKEN, MAX_TOKEN + 1, MAX_TOKEN + 2, 1 << 56, 1 << 63, u64::MAX];
/// Lengths where the layouts of §4.2 change (Updated: token 1..9, key ..41, iv ..53, tag ..69).
const LENGTHS: [usize; 15] = [0, 1, 2, 3, 8, 9, 10, 40, 41, 52, 53, 68, 69, 70, 71];

impl Generator {
    /// The generator for `seed`, starting from the valid inputs of `vectors` plus valid
    /// payloads of its own.
    pub fn new(seed: u64, vectors: &[WireVector]) -> Generator {
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(seed);
        let mut seeds: Vec<Vec<u8>> =
            vectors.iter().filter(|v| v.expected.get("error").is_none()).map(|v| v.input.clone()).collect();
        for len in [1usize, 2, 16, 100] {
            let mut s = vec![0u8];
            s.extend((0..len).map(|_| rng.random::<u8>()));
            seeds.push(s);
            let mut u = vec![1u8];
            u.extend_from_slice(&rng.random_range(1..=MAX_TOKEN).to_le_bytes());
            u.extend((0..68 + len).map(|_| rng.random::<u8>()));
            seeds.push(u);
        }
        seeds.extend((2u8..=6).map(|s| vec![s]));
        Generator { rng, seeds }
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() {
            return None;
        }
        items.get(self.rng.random_range(0..items.len())).copied()
    }

    fn random_bytes(&mut self) -> Vec<u8> {
        let len = match self.rng.random_range(0..10) {
            0..=2 => self.rng.random_range(0..4),
            3..=7 => self.rng.random_range(0..80),
            _ => self.rng.random_range(0..300),
        };
        (0..len).map(|_| self.rng.random::<u8>()).collect()
    }

    fn mutate(&mut self, b: &mut Vec<u8>) {
        match self.rng.random_range(0..10) {
            // The state byte: the assigned states, the reserved and unassigned edges, anything.
            0 | 1 => {
                let s = if self.rng.random_bool(0.8) { self.rng.random_range(0..=12) } else { self.rng.random::<u8>() };
                match b.first_mut() {
                    Some(first) => *first = s,
                    None => b.push(s),
                }
            }
            // A length boundary, or one byte off the current length.
            2 | 3 => {
                let len = if self.rng.random_bool(0.7) {
                    self.pick(&LENGTHS).unwrap_or(0)
                } else {
                    let d = self.rng.random_range(0..3);
                    (b.len() + d).saturating_sub(1)
                };
                let fill = self.rng.random::<u8>();
                b.resize(len, fill);
            }
            // The token field (bytes 1..9), in range or on an edge.
            4 | 5 => {
                if b.len() < 9 {
                    b.resize(9, 0);
                }
                let t = if self.rng.random_bool(0.6) {
                    self.pick(&TOKENS).unwrap_or(0)
                } else if self.rng.random_bool(0.5) {
                    self.rng.random_range(1..=MAX_TOKEN)
                } else {
                    self.rng.random::<u64>()
                };
                if let Some(field) = b.get_mut(1..9) {
                    field.copy_from_slice(&t.to_le_bytes());
                }
            }
            // A flipped bit, a random byte.
            6 => {
                if !b.is_empty() {
                    let i = self.rng.random_range(0..b.len());
                    let bit = 1u8 << self.rng.random_range(0..8);
                    if let Some(x) = b.get_mut(i) {
                        *x ^= bit;
                    }
                }
            }
            // Bytes inserted or removed.
            7 => {
                let i = self.rng.random_range(0..=b.len());
                let n = self.rng.random_range(1..4);
                for _ in 0..n {
                    b.insert(i.min(b.len()), self.rng.random::<u8>());
                }
            }
            8 => {
                if !b.is_empty() {
                    let i = self.rng.random_range(0..b.len());
                    let n = self.rng.random_range(1..=(b.len() - i).min(16));
                    b.drain(i..i + n);
                }
            }
            // Trailing bytes (after a one-byte state, after a whole payload).
            _ => {
                let n = self.rng.random_range(1..8);
                for _ in 0..n {
                    b.push(self.rng.random::<u8>());
                }
            }
        }
    }

    /// The next input.
    pub fn next_input(&mut self) -> Vec<u8> {
        if self.rng.random_range(0..10) == 0 {
            return self.random_bytes();
        }
        let mut b = self.seeds.get(self.rng.random_range(0..self.seeds.len().max(1))).cloned().unwrap_or_default();
        for _ in 0..self.rng.random_range(1..=3) {
            self.mutate(&mut b);
        }
        b
    }
}

/// What v1 says of an input: `error Truncated`, `valid Updated`.
fn verdict(v: &Value) -> String {
    match (v.get("error").and_then(Value::as_str), v.get("state").and_then(Value::as_str)) {
        (Some(k), _) => format!("error {k}"),
        (None, Some(s)) => format!("valid {s}"),
        _ => "?".into(),
    }
}

/// The class of a disagreement (`None`: they agree).
pub fn class_of(input: &[u8], got: &Result<Value, DecoderFailure>) -> Option<String> {
    let expected = describe(input);
    let v =
        WireVector { id: String::new(), input: input.to_vec(), expected: expected.clone(), requirements: Vec::new() };
    let said = match got {
        Err(f) => f.class().to_owned(),
        Ok(g) => {
            if compare(&v, g).is_ok() {
                return None;
            }
            match (g.get("error").and_then(Value::as_str), g.get("state").and_then(Value::as_str)) {
                (Some(k), _) => format!("error {k}"),
                (None, Some(s)) if expected.get("state").and_then(Value::as_str) == Some(s) => {
                    let field = ["token", "key_hex", "iv_hex", "tag_hex", "ciphertext_hex"]
                        .into_iter()
                        .find(|k| expected.get(k) != g.get(k))
                        .unwrap_or("?");
                    format!("{s} with another {field}")
                }
                (None, Some(s)) => format!("accepted {s}"),
                _ => "an object without state or error".into(),
            }
        }
    };
    Some(format!("{} -> {said}", verdict(&expected)))
}

/// One disagreement, as found and minimised.
#[derive(Debug, Clone)]
pub struct Disagreement {
    /// Its class.
    pub class: String,
    /// The case number (0-based) that found it.
    pub case: u64,
    /// The input as generated.
    pub input: Vec<u8>,
    /// The smallest input found with the same class.
    pub minimised: Vec<u8>,
    /// What the decoder said of the minimised input.
    pub said: String,
    /// Time from the start of the run.
    pub after: Duration,
    /// Decoder calls the minimisation took.
    pub steps: usize,
}

/// Shrinks `input` keeping its disagreement class: the shortest prefix that keeps it, then
/// chunks removed (halving sizes, starting over after every shrink, as ddmin does), then bytes
/// set to 0, then to 1, each step kept only if the class is unchanged. At most 4000 decoder calls.
pub async fn minimise(decoder: &mut Decoder, input: &[u8], class: &str) -> Result<(Vec<u8>, usize), String> {
    let mut best = input.to_vec();
    let mut steps = 0usize;
    // The shortest prefix that keeps the class (a class may skip lengths in between: 3.2.1
    // accepts a 1-byte and a 9-byte Updated, and raises on 2 to 8 bytes).
    for len in 0..best.len() {
        if steps >= MINIMISE_BUDGET {
            break;
        }
        steps += 1;
        let prefix = best.get(..len).unwrap_or_default().to_vec();
        if keeps_class(decoder, &prefix, class).await? {
            best = prefix;
            break;
        }
    }
    let mut chunk = best.len().div_ceil(2).max(1);
    while steps < MINIMISE_BUDGET {
        let mut i = 0;
        let mut shrunk = false;
        while i < best.len() && steps < MINIMISE_BUDGET {
            let mut c = best.clone();
            c.drain(i..(i + chunk).min(best.len()));
            steps += 1;
            if keeps_class(decoder, &c, class).await? {
                best = c;
                shrunk = true;
            } else {
                i += chunk;
            }
        }
        if shrunk {
            // Smaller now: bigger removals may work again (ddmin restarts its partition).
            chunk = best.len().div_ceil(2).max(1);
        } else if chunk == 1 {
            break;
        } else {
            chunk = chunk.div_ceil(2);
        }
    }
    for target in [0u8, 1] {
        for i in 0..best.len() {
            if steps >= MINIMISE_BUDGET || best.get(i).is_some_and(|b| *b <= target) {
                continue;
            }
            let mut c = best.clone();
            if let Some(b) = c.get_mut(i) {
                *b = target;
            }
            steps += 1;
            if keeps_class(decoder, &c, class).await? {
                best = c;
            }
        }
    }
    Ok((best, steps))
}

async fn keeps_class(decoder: &mut Decoder, candidate: &[u8], class: &str) -> Result<bool, String> {
    let got = decoder.describe(candidate).await?;
    Ok(class_of(candidate, &got).as_deref() == Some(class))
}

fn requirements_of(expected: &Value) -> Vec<&'static str> {
    match (expected.get("error").and_then(Value::as_str), expected.get("state").and_then(Value::as_str)) {
        (Some("Empty"), _) => vec!["WIRE-7", "WIRE-11"],
        (Some("ReservedState"), _) => vec!["WIRE-1", "WIRE-5", "WIRE-11"],
        (Some("UnassignedState"), _) => vec!["WIRE-1", "WIRE-6", "WIRE-11"],
        (Some("Truncated"), _) => vec!["WIRE-3", "WIRE-8", "WIRE-11"],
        (Some("MissingCiphertext"), _) => vec!["WIRE-8", "WIRE-11"],
        (Some("TrailingBytes"), _) => vec!["WIRE-4", "WIRE-9", "WIRE-11"],
        (Some("TokenOutOfRange"), _) => vec!["WIRE-3", "WIRE-10", "WIRE-11"],
        (_, Some("Success")) => vec!["WIRE-1", "WIRE-2"],
        (_, Some("Updated")) => vec!["WIRE-1", "WIRE-3"],
        _ => vec!["WIRE-1", "WIRE-4"],
    }
}

/// The vector file for a disagreement, in the schema of `spec/vectors/wire_decode.json`.
pub fn vector_file(d: &Disagreement, seed: u64) -> Value {
    let expected = describe(&d.minimised);
    let id = format!("wire-decode-fuzz-s{seed}-c{}", d.case);
    let comment = format!(
        "Found by pixstore-conformance fuzz-decoder --seed {seed} (case {}), minimised from {} to {} bytes. The decoder disagreed: {} (it said {}).",
        d.case,
        d.input.len(),
        d.minimised.len(),
        d.class,
        d.said
    );
    let mut v = json!({
        "id": id,
        "comment": comment,
        "requirements": requirements_of(&expected),
        "flags": [],
        "input_hex": to_hex(&d.minimised),
    });
    if let (Some(o), Some(kind)) = (v.as_object_mut(), expected.get("error")) {
        o.insert("result".into(), json!("invalid"));
        o.insert("error".into(), kind.clone());
    } else if let Some(o) = v.as_object_mut() {
        o.insert("result".into(), json!("valid"));
        o.insert("expected".into(), expected);
    }
    json!({
        "$schema": "schemas/wire_decode.schema.json",
        "area": "wire_decode",
        "specVersion": "1",
        "generatedBy": "pixstore-conformance fuzz-decoder",
        "notes": {},
        "numberOfVectors": 1,
        "vectors": [v],
    })
}

/// How a run is bounded and what counts as known.
#[derive(Debug, Clone)]
pub struct FuzzOptions {
    /// The seed.
    pub seed: u64,
    /// Stop after this long.
    pub duration: Duration,
    /// Stop after this many cases (if sooner).
    pub max_cases: Option<u64>,
    /// Disagreement classes that are expected (from a known-failing list).
    pub known: BTreeMap<String, String>,
    /// Stop at the first unknown disagreement (after minimising it).
    pub stop_at_first: bool,
}

/// What a run found.
#[derive(Debug, Clone, Default)]
pub struct FuzzReport {
    /// Cases run.
    pub cases: u64,
    /// How long the generation phase took.
    pub elapsed: Duration,
    /// Every class seen, with its count and its first disagreement (minimised).
    pub classes: BTreeMap<String, (u64, Disagreement)>,
    /// The first disagreement of a class not known, minimised.
    pub first_unknown: Option<Disagreement>,
    /// Processes the decoder needed (line mode restarts after a crash).
    pub starts: u64,
}

/// The disagreement classes of a decoder's known-failing list: the classes its listed vectors
/// fall into, each with the vector id that shows it.
pub async fn known_classes(
    decoder: &mut Decoder,
    known: &crate::known_failing::KnownFailing,
    vectors: &[WireVector],
) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for v in vectors.iter().filter(|v| known.contains(&v.id)) {
        let got = decoder.describe(&v.input).await?;
        match class_of(&v.input, &got) {
            Some(c) => {
                out.entry(c).or_insert_with(|| v.id.clone());
            }
            None => return Err(format!("{} is listed as known-failing, but the decoder agrees with v1 on it", v.id)),
        }
    }
    Ok(out)
}

/// Runs the fuzzer against `decoder`.
pub async fn run(decoder: &mut Decoder, options: &FuzzOptions) -> Result<FuzzReport, String> {
    let wire = vectors::compiled_wire()?;
    let mut generator = Generator::new(options.seed, &wire);
    let started = Instant::now();
    let mut report = FuzzReport::default();
    loop {
        if started.elapsed() >= options.duration || options.max_cases.is_some_and(|m| report.cases >= m) {
            break;
        }
        let case = report.cases;
        let input = generator.next_input();
        report.cases += 1;
        let got = decoder.describe(&input).await?;
        let Some(class) = class_of(&input, &got) else { continue };
        let after = started.elapsed();
        if let Some((n, _)) = report.classes.get_mut(&class) {
            *n += 1;
            continue;
        }
        let (minimised, steps) = minimise(decoder, &input, &class).await?;
        let said = match decoder.describe(&minimised).await? {
            Ok(v) => v.to_string(),
            Err(f) => f.to_string(),
        };
        let d = Disagreement { class: class.clone(), case, input, minimised, said, after, steps };
        let unknown = !options.known.contains_key(&class);
        report.classes.insert(class, (1, d.clone()));
        if unknown && report.first_unknown.is_none() {
            report.first_unknown = Some(d);
            if options.stop_at_first {
                break;
            }
        }
    }
    report.elapsed = started.elapsed();
    report.starts = decoder.starts;
    Ok(report)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    // The same seed gives the same inputs; another seed other inputs.
    #[test]
    fn deterministic_by_seed() {
        let wire = vectors::compiled_wire().unwrap();
        let take = |seed| {
            let mut g = Generator::new(seed, &wire);
            (0..200).map(|_| g.next_input()).collect::<Vec<_>>()
        };
        assert_eq!(take(7), take(7));
        assert_ne!(take(7), take(8));
    }

    // The generator reaches every verdict of §4.3 within a few thousand cases.
    #[test]
    fn reaches_every_verdict() {
        let wire = vectors::compiled_wire().unwrap();
        let mut g = Generator::new(1, &wire);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..5000 {
            seen.insert(verdict(&describe(&g.next_input())));
        }
        for v in [
            "error Empty",
            "error ReservedState",
            "error UnassignedState",
            "error Truncated",
            "error MissingCiphertext",
            "error TrailingBytes",
            "error TokenOutOfRange",
            "valid Success",
            "valid Updated",
            "valid NotFound",
            "valid MissingID",
            "valid MissingProof",
            "valid InvalidProof",
            "valid InternalError",
        ] {
            assert!(seen.contains(v), "{v} never generated: {seen:?}");
        }
    }

    // A disagreement's class names both verdicts; agreement has none.
    #[test]
    fn classes() {
        let trailing = [2u8, 0];
        assert_eq!(
            class_of(&trailing, &Ok(json!({"state": "NotFound"}))).unwrap(),
            "error TrailingBytes -> accepted NotFound"
        );
        assert_eq!(class_of(&trailing, &Ok(json!({"error": "TrailingBytes"}))), None);
        assert_eq!(class_of(&[], &Err(DecoderFailure::Crash("x".into()))).unwrap(), "error Empty -> crash");
        let p = describe(&[0, 9, 9]);
        let mut other = p.clone();
        other["ciphertext_hex"] = json!("0909ff");
        assert_eq!(class_of(&[0, 9, 9], &Ok(other)).unwrap(), "valid Success -> Success with another ciphertext_hex");
    }
}
