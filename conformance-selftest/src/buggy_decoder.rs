//! A wire decoder (spec §4.3) written apart from pixstore-proto, behind the decoder adapter
//! protocol (spec Appendix D), with switchable bugs: the targets of the fuzzer's self-test. With
//! no bug it follows §4.3 exactly (and `fuzz-decoder` must find nothing); each bug is one
//! mistake a decoder in another language makes, and `fuzz-decoder` must find it, in a
//! disagreement of the expected class, and minimise it.

use proto::token::MAX_TOKEN;
use serde_json::{json, Value};

/// One decoder bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderBug {
    /// `--bug NAME`.
    pub name: &'static str,
    /// The requirement it breaks.
    pub breaks: &'static str,
    /// The disagreement class `fuzz-decoder` must report (its start).
    pub class: &'static str,
    /// The most bytes its minimised input may have.
    pub max_minimised: usize,
}

/// Every bug.
pub const DECODER_BUGS: &[DecoderBug] = &[
    DecoderBug {
        name: "trailing-bytes-ignored",
        breaks: "WIRE-9",
        class: "error TrailingBytes -> accepted",
        max_minimised: 2,
    },
    DecoderBug {
        name: "missing-ciphertext-as-truncated",
        breaks: "WIRE-8",
        class: "error MissingCiphertext -> error Truncated",
        max_minimised: 69,
    },
    DecoderBug {
        name: "max-token-rejected",
        breaks: "WIRE-10",
        class: "valid Updated -> error TokenOutOfRange",
        max_minimised: 70,
    },
    DecoderBug { name: "token-big-endian", breaks: "WIRE-3", class: "valid Updated -> ", max_minimised: 70 },
    DecoderBug {
        name: "empty-success-accepted",
        breaks: "WIRE-8",
        class: "error MissingCiphertext -> accepted Success",
        max_minimised: 1,
    },
    DecoderBug {
        name: "reserved-as-unassigned",
        breaks: "WIRE-5",
        class: "error ReservedState -> error UnassignedState",
        max_minimised: 1,
    },
    DecoderBug {
        name: "token-before-length",
        breaks: "WIRE-11",
        class: "error Truncated -> error TokenOutOfRange",
        max_minimised: 9,
    },
    DecoderBug {
        name: "crashes-on-short-updated",
        breaks: "WIRE-11",
        class: "error Truncated -> crash",
        max_minimised: 1,
    },
    DecoderBug {
        name: "iv-and-tag-swapped",
        breaks: "WIRE-3",
        class: "valid Updated -> Updated with another iv_hex",
        max_minimised: 70,
    },
];

/// Looks a bug up (`none`: no bug).
pub fn decoder_bug(name: &str) -> Result<Option<DecoderBug>, String> {
    if name == "none" {
        return Ok(None);
    }
    DECODER_BUGS.iter().find(|b| b.name == name).copied().map(Some).ok_or_else(|| {
        format!(
            "unknown bug {name:?}; known: none, {}",
            DECODER_BUGS.iter().map(|b| b.name).collect::<Vec<_>>().join(", ")
        )
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

const NAMES: [&str; 7] =
    ["Success", "Updated", "NotFound", "MissingID", "MissingProof", "InvalidProof", "InternalError"];

/// What the decoder makes of `b`; `None` when the bug makes it crash.
pub fn describe(b: &[u8], bug: Option<&str>) -> Option<Value> {
    let is = |n: &str| bug == Some(n);
    let Some(&s) = b.first() else { return Some(json!({ "error": "Empty" })) };
    if (7..=10).contains(&s) {
        return Some(
            json!({ "error": if is("reserved-as-unassigned") { "UnassignedState" } else { "ReservedState" } }),
        );
    }
    if s >= 11 {
        return Some(json!({ "error": "UnassignedState" }));
    }
    let token_of = |b: &[u8]| {
        let field: [u8; 8] = b.get(1..9)?.try_into().ok()?;
        Some(if is("token-big-endian") { u64::from_be_bytes(field) } else { u64::from_le_bytes(field) })
    };
    let bad_token = |t: u64| t == 0 || if is("max-token-rejected") { t >= MAX_TOKEN } else { t > MAX_TOKEN };
    match s {
        0 => {
            if b.len() == 1 && !is("empty-success-accepted") {
                return Some(json!({ "error": "MissingCiphertext" }));
            }
            Some(json!({ "state": "Success", "ciphertext_hex": hex(b.get(1..).unwrap_or_default()) }))
        }
        1 => {
            if b.len() < 9 && is("crashes-on-short-updated") {
                return None;
            }
            if is("token-before-length") {
                if let Some(t) = token_of(b).filter(|t| bad_token(*t)) {
                    let _ = t;
                    return Some(json!({ "error": "TokenOutOfRange" }));
                }
            }
            let header = if is("missing-ciphertext-as-truncated") { 70 } else { 69 };
            if b.len() < header {
                return Some(json!({ "error": "Truncated" }));
            }
            if b.len() == 69 {
                return Some(json!({ "error": "MissingCiphertext" }));
            }
            let t = token_of(b)?;
            if bad_token(t) {
                return Some(json!({ "error": "TokenOutOfRange" }));
            }
            let (iv, tag) = if is("iv-and-tag-swapped") { (57..69, 41..57) } else { (41..53, 53..69) };
            Some(json!({
                "state": "Updated",
                "token": t,
                "key_hex": hex(b.get(9..41)?),
                "iv_hex": hex(b.get(iv)?),
                "tag_hex": hex(b.get(tag)?),
                "ciphertext_hex": hex(b.get(69..)?),
            }))
        }
        _ => {
            if b.len() > 1 && !is("trailing-bytes-ignored") {
                return Some(json!({ "error": "TrailingBytes" }));
            }
            Some(json!({ "state": NAMES.get(usize::from(s)).copied().unwrap_or("?") }))
        }
    }
}
