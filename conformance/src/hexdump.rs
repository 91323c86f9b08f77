//! Evidence for a failed check: the request, the response headers and a hex dump of the payload
//! with its fields marked (spec §4 layouts).

use std::fmt::Write as _;

use crate::http::Exchange;

fn hex_line(out: &mut String, label: &str, bytes: &[u8]) {
    const SHOWN: usize = 48;
    let hex: String = bytes.iter().take(SHOWN).map(|b| format!("{b:02x}")).collect();
    let more = if bytes.len() > SHOWN { format!(" ... ({} bytes)", bytes.len()) } else { String::new() };
    let _ = writeln!(out, "      {label:<11} {hex}{more}");
}

/// The payload's bytes split at the field boundaries of its state's layout.
pub fn annotate(body: &[u8]) -> String {
    let mut out = String::new();
    let Some((&state, rest)) = body.split_first() else {
        return "      (empty body)\n".into();
    };
    let name = proto::wire::State::from_byte(state).map_or_else(|e| e.kind().to_owned(), |s| s.name().to_owned());
    hex_line(&mut out, &format!("state {state}"), &[state]);
    let _ = writeln!(out, "      ({name}, {} bytes in all)", body.len());
    match state {
        0 => hex_line(&mut out, "ciphertext", rest),
        1 => {
            let fields = [("token (LE)", 8), ("key", 32), ("iv", 12), ("tag", 16)];
            let mut at = 0;
            for (label, len) in fields {
                let part = rest.get(at..(at + len).min(rest.len())).unwrap_or_default();
                hex_line(&mut out, label, part);
                at += len;
            }
            hex_line(&mut out, "ciphertext", rest.get(at.min(rest.len())..).unwrap_or_default());
        }
        _ if !rest.is_empty() => hex_line(&mut out, "trailing", rest),
        _ => {}
    }
    out
}

/// The whole evidence block of an exchange.
pub fn evidence(ex: &Exchange) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "    request: {}", ex.request_line);
    for (k, v) in &ex.request_headers {
        // PROOF-13: evidence shows a proof's start only.
        let v = if k.eq_ignore_ascii_case("x-pixstore-proof") && v.len() > 12 {
            format!("{}...", v.chars().take(12).collect::<String>())
        } else {
            v.clone()
        };
        let _ = writeln!(out, "      {k}: {v}");
    }
    let _ = writeln!(out, "    response: {}", ex.status);
    for (k, v) in &ex.headers {
        let _ = writeln!(out, "      {k}: {v}");
    }
    let _ = writeln!(out, "    body:");
    out.push_str(&annotate(&ex.body));
    out
}
