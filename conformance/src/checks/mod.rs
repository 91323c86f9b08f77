//! The checks, by spec area, and the helpers they share.
//!
//! Every check id is `PXS-<section>-<slug>`, stable and never reused for another meaning. A
//! retired id is listed in `conformance/retired-ids.txt` with the reason.

mod envelope;
mod http_binding;
mod proof;
mod records;
mod serving;
mod tokens;

use proto::envelope::DefaultAead;
use proto::record::ImageRecord;
use proto::wire::{Payload, PayloadRef, State};

use crate::hexdump::{is_wire, not_wire_note};
use crate::http::{Exchange, Protocol};
use crate::target::Control;
use crate::{fail, fail_with, transport, Check, CheckResult, Ctx, Stop};

/// Registers an `async fn(&Ctx) -> CheckResult` as a [`Check`].
macro_rules! check {
    ($id:literal, $section:literal, [$($req:literal),+ $(,)?], $level:ident, $profile:ident, $title:literal, $f:path) => {
        $crate::Check {
            id: $id,
            section: $section,
            requirements: &[$($req),+],
            level: $crate::Level::$level,
            profile: $crate::Profile::$profile,
            title: $title,
            run: |ctx| Box::pin($f(ctx)),
        }
    };
}
pub(crate) use check;

/// Every check, in the order they run (disruptive ones, which might crash a fragile server,
/// last).
pub fn all() -> Vec<Check> {
    let mut v = Vec::new();
    v.extend(records::checks());
    v.extend(serving::checks());
    v.extend(tokens::checks());
    v.extend(proof::checks());
    v.extend(envelope::checks());
    v.extend(http_binding::checks());
    v
}

/// The control interface, or a skip saying the check needs one.
pub(crate) fn control(ctx: &Ctx) -> Result<&Control, Stop> {
    ctx.target
        .control
        .as_ref()
        .ok_or_else(|| Stop::Skip("needs a control interface (--control / PIXSTORE_CONTROL)".into()))
}

/// The clock of CTRL-8, or a skip saying why it cannot be used.
pub(crate) fn clock(ctx: &Ctx) -> Result<&Control, Stop> {
    control(ctx)?;
    ctx.target.clock().ok_or_else(|| {
        Stop::Skip(if ctx.target.info.as_ref().is_some_and(|i| i.has_feature("clock")) {
            "needs the control interface's clock (CTRL-8), which drives the endpoint /info names, not this one".into()
        } else {
            "needs the control interface's clock feature (CTRL-8)".into()
        })
    })
}

/// Proof validation on, or a skip.
pub(crate) fn validation_on(ctx: &Ctx) -> Result<(), Stop> {
    if ctx.target.validation_disabled() {
        return Err(Stop::Skip("proof validation is disabled (windowMs = -1)".into()));
    }
    Ok(())
}

/// W in ms when proofs are validated and /info reports it, or a skip.
pub(crate) fn window(ctx: &Ctx) -> Result<u64, Stop> {
    match ctx.target.window_ms() {
        None => Err(Stop::Skip("needs the window from the control interface's /info".into())),
        Some(-1) => Err(Stop::Skip("proof validation is disabled (windowMs = -1)".into())),
        Some(w) => u64::try_from(w).map_err(|_| fail("info", format!("windowMs {w} is not W >= 1 or -1"))),
    }
}

/// A raw HTTP/1.1 connection to the endpoint, or a skip saying the check needs one.
pub(crate) fn require_h1(ctx: &Ctx, what: &str) -> Result<(), Stop> {
    if ctx.target.protocol != Protocol::Http1 {
        return Err(Stop::Skip(format!(
            "needs a raw HTTP/1.1 request ({what}); the endpoint speaks {} with this client",
            ctx.target.protocol.label()
        )));
    }
    Ok(())
}

/// What an unknown or invalid id gets with some proof: InvalidProof, or NotFound when
/// validation is disabled (SERVE-5).
pub(crate) fn unknown_id_state(ctx: &Ctx) -> State {
    if ctx.target.validation_disabled() {
        State::NotFound
    } else {
        State::InvalidProof
    }
}

/// A PNG-signed image of `len` bytes (implementations validate by magic bytes; the rest is
/// deterministic noise so that versions differ).
pub(crate) fn png(len: usize, seed: u64) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(x.to_le_bytes()[0]);
    }
    v
}

/// A JPEG-signed image.
pub(crate) fn jpeg(len: usize, seed: u64) -> Vec<u8> {
    let mut v = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00".to_vec();
    v.extend(png(len.saturating_sub(v.len()) + 16, seed).into_iter().skip(16));
    v
}

/// An image stored for this check: its record and, when the suite uploaded it, its bytes.
pub(crate) struct Fixture {
    pub record: ImageRecord,
    pub image: Option<Vec<u8>>,
}

/// A fresh image through the control interface, or the first record given as a file.
pub(crate) async fn fixture(ctx: &Ctx, seed: u64) -> Result<Fixture, Stop> {
    match &ctx.target.control {
        Some(c) => {
            let image = png(2000 + usize::try_from(seed % 1000).unwrap_or(0), seed);
            let record = c.create(&image, None).await?;
            Ok(Fixture { record, image: Some(image) })
        }
        None => match ctx.target.records.first() {
            Some(r) => Ok(Fixture { record: r.clone(), image: None }),
            None => Err(Stop::Skip("needs a control interface or a record file (--record)".into())),
        },
    }
}

/// The request target of image `id` (percent-encoded, CLIENT-8).
pub(crate) fn image_target(ctx: &Ctx, id: &str) -> String {
    ctx.target.endpoint.target(id)
}

/// The request target with `segment` written where the id goes, exactly as given.
pub(crate) fn raw_target(ctx: &Ctx, segment: &str) -> String {
    ctx.target.endpoint.target_raw(segment)
}

/// GETs `target` (exactly as written) with `headers` and the `--header`s.
pub(crate) async fn get(ctx: &Ctx, target: &str, headers: &[(&str, &str)]) -> Result<Exchange, Stop> {
    ctx.target.send("GET", target, headers, true).await.map_err(transport)
}

/// Sends `method` to `target` with the `--header`s.
pub(crate) async fn request(ctx: &Ctx, method: &str, target: &str, headers: &[(&str, &str)]) -> Result<Exchange, Stop> {
    ctx.target.send(method, target, headers, true).await.map_err(transport)
}

/// The proof header of a record (CLIENT-8: none when the proof is the empty string).
pub(crate) fn proof_header(record: &ImageRecord) -> Vec<(&'static str, &str)> {
    if record.stateless_proof.is_empty() {
        Vec::new()
    } else {
        vec![("x-pixstore-proof", record.stateless_proof.as_str())]
    }
}

/// GETs a record's image with its proof and an optional token text.
pub(crate) async fn fetch(ctx: &Ctx, record: &ImageRecord, token: Option<&str>) -> Result<Exchange, Stop> {
    let mut headers = proof_header(record);
    if let Some(t) = token {
        headers.push(("x-pixstore-token", t));
    }
    get(ctx, &image_target(ctx, &record.id), &headers).await
}

/// HTTP-4, HTTP-5, HTTP-6: status 200, octet-stream, exact length, no-store, CORS origin.
pub(crate) fn expect_wire_http(ex: &Exchange) -> CheckResult {
    if ex.status != 200 {
        return Err(fail_with("status", format!("a wire payload must come with status 200, got {}", ex.status), ex)
            .caused_by("HTTP-4", "wire payloads are not sent with status 200"));
    }
    if ex.header("content-type") != Some("application/octet-stream") {
        return Err(fail_with(
            "content-type",
            format!("Content-Type must be application/octet-stream, got {:?}", ex.header_values("content-type")),
            ex,
        )
        .caused_by("HTTP-4", "wire payloads do not carry Content-Type: application/octet-stream"));
    }
    // Over HTTP/2 the framing gives the length; a Content-Length, when sent, must be right.
    let lengths = ex.header_values("content-length");
    let length_ok = match (ex.protocol, lengths.as_slice()) {
        (Protocol::Http2, []) => true,
        (_, [one]) => *one == ex.body.len().to_string(),
        _ => false,
    };
    if !length_ok {
        return Err(fail_with(
            "content-length",
            format!("Content-Length must be the payload length {}, got {lengths:?}", ex.body.len()),
            ex,
        )
        .caused_by("HTTP-4", "wire payloads do not carry a Content-Length equal to their length"));
    }
    expect_common_headers(ex)
}

/// HTTP-5, HTTP-6: on every response.
pub(crate) fn expect_common_headers(ex: &Exchange) -> CheckResult {
    if !ex
        .header_values("cache-control")
        .iter()
        .any(|v| v.split(',').any(|d| d.trim().eq_ignore_ascii_case("no-store")))
    {
        return Err(fail_with(
            "no-store",
            "every response must carry Cache-Control: no-store (an Updated body carries a key)",
            ex,
        )
        .caused_by("HTTP-5", "responses lack Cache-Control: no-store"));
    }
    if ex.header("access-control-allow-origin").is_none() {
        return Err(fail_with("cors", "every response must carry Access-Control-Allow-Origin exactly once", ex)
            .caused_by("HTTP-6", "responses lack exactly one Access-Control-Allow-Origin"));
    }
    Ok(())
}

/// The state name of the body's first byte, or what the body is when it is not a wire payload.
pub(crate) fn describe(ex: &Exchange) -> String {
    if !is_wire(ex) {
        return not_wire_note(ex);
    }
    match ex.body.first() {
        None => "an empty body".into(),
        Some(&b) => match State::from_byte(b) {
            Ok(s) if s.is_error() && ex.body.len() > 1 => {
                format!("{s} followed by {} trailing bytes", ex.body.len() - 1)
            }
            Ok(s) => s.to_string(),
            Err(e) => format!("state byte {b} ({})", e.kind()),
        },
    }
}

/// The payload's state, checked to be `want` with status 200; a one-byte state must be exactly
/// one byte (WIRE-4). The other headers of a wire payload (HTTP-4 to HTTP-6) are the concern of
/// `PXS-10.2-headers-on-every-state`, so that one missing header does not hide what the other
/// checks see.
pub(crate) fn expect_state(ex: &Exchange, want: State) -> CheckResult {
    if ex.status != 200 {
        return Err(fail_with("status", format!("expected {want}, got {}", describe(ex)), ex));
    }
    let got = ex.body.first().copied();
    if got != Some(want.byte()) {
        return Err(fail_with("state", format!("expected {want}, got {}", describe(ex)), ex));
    }
    if want.is_error() && ex.body.len() != 1 {
        return Err(fail_with("trailing", format!("{want} must be exactly one byte, got {}", ex.body.len()), ex)
            .caused_by("WIRE-4", "one-byte states are sent with trailing bytes"));
    }
    Ok(())
}

/// Like [`expect_state`], but a failure says `what` was expected; a Success or Updated where
/// an error state was wanted gets `accepted_code` (the request was served).
pub(crate) fn expect_refused(ex: &Exchange, want: State, accepted_code: &'static str, what: &str) -> CheckResult {
    expect_state(ex, want).map_err(|e| {
        let served = ex.status == 200 && matches!(ex.body.first(), Some(0 | 1));
        match e {
            Stop::Fail(mut f) if served => {
                f.code = accepted_code;
                f.message = format!("{what}: {}", f.message);
                Stop::Fail(f)
            }
            other => other.context(what),
        }
    })
}

/// Decodes and decrypts a Success (with the record's meta) or Updated (with its own) payload:
/// the image, its token and its format byte.
pub(crate) fn open(record: &ImageRecord, ex: &Exchange) -> Result<(Vec<u8>, u64, u8), Stop> {
    let p = PayloadRef::decode(&ex.body).map_err(|e| {
        fail_with("decode", format!("not a v1 wire payload ({}): {e}", describe(ex)), ex)
            .caused_by(decode_requirement(e.kind()), format!("payloads fail the §4 decoder: {}", e.kind()))
    })?;
    let (meta, token) = match &p {
        Payload::Success { .. } => (record.meta, record.token.get()),
        Payload::Updated { meta, token, .. } => (*meta, token.get()),
        other => return Err(fail_with("state", format!("expected Success or Updated, got {}", other.state()), ex)),
    };
    let ct = p.ciphertext().unwrap_or_default();
    let opened = proto::envelope::open(&DefaultAead::default(), &meta.key, &meta.iv, &meta.tag, ct)
        .map_err(|e| fail_with("decrypt", format!("the payload does not open with its metadata: {e}"), ex))?;
    let format = opened.format().byte();
    Ok((opened.image().to_vec(), token, format))
}

fn decode_requirement(kind: &str) -> &'static str {
    match kind {
        "Empty" => "WIRE-7",
        "ReservedState" => "WIRE-5",
        "UnassignedState" => "WIRE-6",
        "Truncated" | "MissingCiphertext" => "WIRE-8",
        "TrailingBytes" => "WIRE-9",
        "TokenOutOfRange" => "WIRE-10",
        _ => "WIRE-1",
    }
}

/// Checks the decrypted image equals the uploaded bytes (when the suite uploaded them).
pub(crate) fn expect_image(f: &Fixture, got: &[u8], ex: &Exchange) -> CheckResult {
    match &f.image {
        Some(want) if want.as_slice() != got => Err(fail_with(
            "image",
            format!("decrypted {} bytes that differ from the {} bytes uploaded", got.len(), want.len()),
            ex,
        )),
        _ => Ok(()),
    }
}

/// A normal request still works (after hostile input).
pub(crate) async fn still_serving(ctx: &Ctx, f: &Fixture) -> CheckResult {
    let ex = fetch(ctx, &f.record, None)
        .await
        .map_err(|_| fail("crashed", "the endpoint no longer answers after the previous request"))?;
    let (image, _, _) = open(&f.record, &ex)?;
    expect_image(f, &image, &ex)
}

/// The 30 bytes of a record's proof (PROOF-2, PROOF-3), or a failure.
pub(crate) fn proof_bytes(record: &ImageRecord) -> Result<[u8; 30], Stop> {
    use base64::Engine as _;
    let p = &record.stateless_proof;
    let ok_chars = p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let short = p.chars().take(12).collect::<String>();
    if p.len() != proto::proof::PROOF_TEXT_LEN || !ok_chars {
        return Err(fail(
            "proof-format",
            format!("the record's proof {short:?}... is not 40 characters of unpadded base64url"),
        )
        .caused_by("PROOF-3", "records carry proofs that are not 40 characters of base64url"));
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(p)
        .map_err(|_| fail("proof-format", "the proof does not decode as base64url"))?;
    bytes.try_into().map_err(|_| fail("proof-format", "the proof does not decode to 30 bytes"))
}

/// The expiry (`exp`, Unix ms) a proof carries (PROOF-2: bytes 6..14, big-endian).
pub(crate) fn proof_exp(record: &ImageRecord) -> Result<u64, Stop> {
    let b = proof_bytes(record)?;
    let mut exp = [0u8; 8];
    exp.copy_from_slice(b.get(6..14).unwrap_or(&[0; 8]));
    Ok(u64::from_be_bytes(exp))
}
