//! Evidence for a failed check: the request, the response headers and a hex dump of the payload
//! with its fields marked (spec §4 layouts) and decoded values beside the hex; a body that is
//! not a wire payload is shown as what it is.

use std::fmt::Write as _;

use proto::token::MAX_TOKEN;

use crate::http::Exchange;

fn hex_line(out: &mut String, label: &str, bytes: &[u8], note: &str) {
    const SHOWN: usize = 48;
    let hex: String = bytes.iter().take(SHOWN).map(|b| format!("{b:02x}")).collect();
    let more = if bytes.len() > SHOWN { format!(" ... ({} bytes)", bytes.len()) } else { String::new() };
    let note = if note.is_empty() { String::new() } else { format!("  = {note}") };
    let _ = writeln!(out, "      {label:<11} {hex}{more}{note}");
}

/// The decoded value of an Updated token field (8 bytes, little-endian): the number, or both
/// byte orders when it is out of range (WIRE-10).
pub fn token_note(field: &[u8]) -> String {
    let Ok(bytes) = <[u8; 8]>::try_from(field) else {
        return format!("only {} of the 8 token bytes", field.len());
    };
    let le = u64::from_le_bytes(bytes);
    if (1..=MAX_TOKEN).contains(&le) {
        return format!("token {le}");
    }
    let be = u64::from_be_bytes(bytes);
    let be_note = if (1..=MAX_TOKEN).contains(&be) { " (a valid token when read big-endian)" } else { "" };
    format!("{le} little-endian, out of range 1..=2^53-1 (WIRE-10); big-endian {be}{be_note}")
}

/// Whether the response is presented as a wire payload (HTTP-4: status 200 and
/// `application/octet-stream`).
pub fn is_wire(ex: &Exchange) -> bool {
    ex.status == 200 && ex.header("content-type").is_some_and(|c| c.eq_ignore_ascii_case("application/octet-stream"))
}

/// What a body that is not a wire payload is: status, content type and its first bytes.
pub fn not_wire_note(ex: &Exchange) -> String {
    let shown = ex.body.get(..ex.body.len().min(40)).unwrap_or_default();
    let text = String::from_utf8_lossy(shown);
    format!(
        "not a wire payload: HTTP {}, content-type {}, {} bytes, starting {:?}",
        ex.status,
        ex.header("content-type").unwrap_or("(none)"),
        ex.body.len(),
        text
    )
}

/// The payload's bytes split at the field boundaries of its state's layout.
pub fn annotate(body: &[u8]) -> String {
    let mut out = String::new();
    let Some((&state, rest)) = body.split_first() else {
        return "      (empty body)\n".into();
    };
    let name = proto::wire::State::from_byte(state).map_or_else(|e| e.kind().to_owned(), |s| s.name().to_owned());
    hex_line(&mut out, &format!("state {state}"), &[state], &name);
    let _ = writeln!(out, "      ({} bytes in all)", body.len());
    match state {
        0 => hex_line(&mut out, "ciphertext", rest, ""),
        1 => {
            let fields = [("token (LE)", 8), ("key", 32), ("iv", 12), ("tag", 16)];
            let mut at = 0;
            for (label, len) in fields {
                let part = rest.get(at..(at + len).min(rest.len())).unwrap_or_default();
                let note = match label {
                    "token (LE)" => token_note(part),
                    _ if part.len() < len => format!("only {} of {len} bytes", part.len()),
                    _ => String::new(),
                };
                hex_line(&mut out, label, part, &note);
                at += len;
            }
            let ct = rest.get(at.min(rest.len())..).unwrap_or_default();
            hex_line(&mut out, "ciphertext", ct, if ct.is_empty() { "missing (WIRE-8)" } else { "" });
        }
        _ if !rest.is_empty() => hex_line(&mut out, "trailing", rest, "bytes after a one-byte state (WIRE-9)"),
        _ => {}
    }
    out
}

/// The whole evidence block of an exchange.
pub fn evidence(ex: &Exchange) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "    request: {} ({} {})", ex.request_line, ex.origin, ex.protocol.label());
    for (k, v) in &ex.request_headers {
        // PROOF-13: evidence shows a proof's start only.
        let v = if k.eq_ignore_ascii_case("x-pixstore-proof") && v.len() > 12 {
            format!("{}...", v.chars().take(12).collect::<String>())
        } else {
            v.clone()
        };
        let _ = writeln!(out, "      {k}: {v}");
    }
    if ex.request_body_len > 0 {
        let _ = writeln!(out, "      ({} body bytes)", ex.request_body_len);
    }
    let _ = writeln!(out, "    response: {}", ex.status);
    for (k, v) in &ex.headers {
        let _ = writeln!(out, "      {k}: {v}");
    }
    if is_wire(ex) {
        let _ = writeln!(out, "    body:");
        out.push_str(&annotate(&ex.body));
    } else {
        let _ = writeln!(out, "    body: {}", not_wire_note(ex));
        if !ex.body.is_empty() {
            hex_line(&mut out, "bytes", &ex.body, "");
        }
    }
    out
}
