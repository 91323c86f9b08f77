//! The checks, by spec area, and the helpers they share.
//!
//! Every check id is `PXS-<section>-<slug>`, stable and never reused for another meaning. A
//! retired id is listed in `conformance/retired-ids.txt` (empty so far).

mod envelope;
mod http_binding;
mod proof;
mod records;
mod serving;
mod tokens;

use proto::envelope::DefaultAead;
use proto::record::ImageRecord;
use proto::wire::{Payload, PayloadRef, State};

use crate::http::{self, Exchange};
use crate::target::Control;
use crate::{fail, fail_with, transport, Check, CheckResult, Ctx, Stop};

/// Registers an `async fn(&Ctx) -> CheckResult` as a [`Check`].
macro_rules! check {
    ($id:literal, $section:literal, [$($req:literal),+ $(,)?], $level:ident, $title:literal, $f:path) => {
        $crate::Check {
            id: $id,
            section: $section,
            requirements: &[$($req),+],
            level: $crate::Level::$level,
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
            let record = c.create(&image, None).await.map_err(transport)?;
            Ok(Fixture { record, image: Some(image) })
        }
        None => match ctx.target.records.first() {
            Some(r) => Ok(Fixture { record: r.clone(), image: None }),
            None => Err(Stop::Skip("needs a control interface or a record file (--record)".into())),
        },
    }
}

/// The request target of image `id` under the endpoint's route.
pub(crate) fn image_target(ctx: &Ctx, id: &str) -> String {
    proto::client::request_target(&ctx.target.endpoint.path, id)
}

/// GETs `target` (exactly as written) with `headers`.
pub(crate) async fn get(ctx: &Ctx, target: &str, headers: &[(&str, &str)]) -> Result<Exchange, Stop> {
    http::send(&ctx.target.endpoint.authority, "GET", target, headers, b"").await.map_err(transport)
}

/// Sends `method` to `target`.
pub(crate) async fn request(ctx: &Ctx, method: &str, target: &str, headers: &[(&str, &str)]) -> Result<Exchange, Stop> {
    http::send(&ctx.target.endpoint.authority, method, target, headers, b"").await.map_err(transport)
}

/// GETs a record's image with its proof and an optional token text.
pub(crate) async fn fetch(ctx: &Ctx, record: &ImageRecord, token: Option<&str>) -> Result<Exchange, Stop> {
    let mut headers = vec![("x-pixstore-proof", record.stateless_proof.as_str())];
    if let Some(t) = token {
        headers.push(("x-pixstore-token", t));
    }
    get(ctx, &image_target(ctx, &record.id), &headers).await
}

/// HTTP-4, HTTP-5, HTTP-6: status 200, octet-stream, exact length, no-store, CORS origin.
pub(crate) fn expect_wire_http(ex: &Exchange) -> CheckResult {
    if ex.status != 200 {
        return Err(fail_with("status", format!("a wire payload must come with status 200, got {}", ex.status), ex));
    }
    if ex.header("content-type") != Some("application/octet-stream") {
        return Err(fail_with(
            "content-type",
            format!("Content-Type must be application/octet-stream, got {:?}", ex.header_values("content-type")),
            ex,
        ));
    }
    if ex.header("content-length") != Some(ex.body.len().to_string().as_str()) {
        return Err(fail_with(
            "content-length",
            format!(
                "Content-Length must be the payload length {}, got {:?}",
                ex.body.len(),
                ex.header_values("content-length")
            ),
            ex,
        ));
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
        ));
    }
    if ex.header("access-control-allow-origin").is_none() {
        return Err(fail_with("cors", "every response must carry Access-Control-Allow-Origin exactly once", ex));
    }
    Ok(())
}

/// The payload's state, checked to be `want` with status 200; a one-byte state must be exactly
/// one byte (WIRE-4). The other headers of a wire payload (HTTP-4 to HTTP-6) are the concern of
/// `PXS-10.2-headers-on-every-state`, so that one missing header does not hide what the other
/// checks see.
pub(crate) fn expect_state(ex: &Exchange, want: State) -> CheckResult {
    let got = ex.body.first().copied();
    if got != Some(want.byte()) {
        let name = got.map_or("no body".to_owned(), |b| {
            State::from_byte(b).map_or_else(|e| e.kind().to_owned(), |s| s.to_string())
        });
        let code = if ex.status == 200 { "state" } else { "status" };
        return Err(fail_with(code, format!("expected {want}, got {name} (HTTP {})", ex.status), ex));
    }
    if want.is_error() && ex.body.len() != 1 {
        return Err(fail_with("trailing", format!("{want} must be exactly one byte, got {}", ex.body.len()), ex));
    }
    if ex.status != 200 {
        return Err(fail_with("status", format!("a wire payload must come with status 200, got {}", ex.status), ex));
    }
    Ok(())
}

/// Decodes and decrypts a Success (with the record's meta) or Updated (with its own) payload:
/// the image, its token and its format byte.
pub(crate) fn open(record: &ImageRecord, ex: &Exchange) -> Result<(Vec<u8>, u64, u8), Stop> {
    let p = PayloadRef::decode(&ex.body).map_err(|e| fail_with("decode", format!("not a v1 wire payload: {e}"), ex))?;
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
