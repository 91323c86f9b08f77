//! Spec §3, §7 and Appendix A: records and the control interface.
// serde_json's `value["key"]` reads return Null and never panic; writes go to objects
// built here. The workspace's indexing lint targets slices on input-driven paths.
#![allow(clippy::indexing_slicing)]

use super::{check, control, png};
use crate::{fail, fail_with, transport, Check, CheckResult, Ctx};

pub(super) fn checks() -> Vec<Check> {
    vec![
        check!("PXS-A-info", "A", ["CTRL-1"], Must, "GET /info describes the implementation", info),
        check!(
            "PXS-7-record-is-valid",
            "7",
            ["REC-1", "REC-2", "REC-3", "REC-4", "REC-5", "REC-6", "ID-1", "ID-2", "TOKEN-4", "CTRL-2"],
            Must,
            "a created record is valid JSON of spec §7 with a random-looking id",
            record_is_valid
        ),
        check!(
            "PXS-3.2-dir-prefix",
            "3.2",
            ["ID-3", "CTRL-2"],
            Must,
            "a dir prefix is sanitised (lowercase, a-z0-9_-) and prefixed",
            dir_prefix
        ),
        check!(
            "PXS-A-refusals",
            "A",
            ["CTRL-2", "CTRL-6"],
            Must,
            "non-images are refused with 415 and a JSON error",
            refusals
        ),
    ]
}

async fn info(ctx: &Ctx) -> CheckResult {
    control(ctx)?;
    let info = ctx.target.info.as_ref().ok_or_else(|| fail("info", "no /info document"))?;
    if info.spec_version != "1" {
        return Err(fail("info", format!("specVersion must be \"1\", got {:?}", info.spec_version)));
    }
    if info.window_ms != -1 && info.window_ms < 1 {
        return Err(fail("info", format!("windowMs must be W >= 1 or -1, got {}", info.window_ms)));
    }
    Ok(())
}

async fn record_is_valid(ctx: &Ctx) -> CheckResult {
    let c = control(ctx)?;
    // The control client parses the answer with spec §7's rules (REC-6); here the rest.
    let a = c.create(&png(300, 50), None).await.map_err(transport)?;
    let b = c.create(&png(300, 50), None).await.map_err(transport)?;
    if a.id == b.id {
        return Err(fail("id", "two saves of the same bytes got the same id"));
    }
    // ID-2: at least 96 random bits; a name shorter than 16 characters of base64url or 20 of
    // base36 cannot hold them.
    let name = a.id.rsplit(':').next().unwrap_or("");
    if name.len() < 16 {
        return Err(fail("id", format!("id name {name:?} is too short to carry 96 random bits")));
    }
    Ok(())
}

async fn dir_prefix(ctx: &Ctx) -> CheckResult {
    let c = control(ctx)?;
    let record = c.create(&png(300, 51), Some(" Team Photos! ")).await.map_err(transport)?;
    if !record.id.starts_with("teamphotos:") {
        return Err(fail(
            "id",
            format!("dir \" Team Photos! \" must give an id starting with \"teamphotos:\", got {:?}", record.id),
        ));
    }
    // A prefix that is empty after sanitising is refused (never an id starting with ':').
    let ex = c.create_raw_with_dir(&png(300, 52), "!!!").await.map_err(transport)?;
    if ex.status != 400 {
        let message = format!("dir \"!!!\" (empty once sanitised) must be refused with 400, got {}", ex.status);
        return Err(fail_with("status", message, &ex));
    }
    Ok(())
}

async fn refusals(ctx: &Ctx) -> CheckResult {
    let c = control(ctx)?;
    for body in [&b"plain text, not an image"[..], b""] {
        let ex = c.create_raw(body).await.map_err(transport)?;
        if ex.status != 415 {
            return Err(fail_with(
                "status",
                format!("a non-image upload ({} bytes) must be refused with 415, got {}", body.len(), ex.status),
                &ex,
            ));
        }
        let json: Result<serde_json::Value, _> = serde_json::from_slice(&ex.body);
        if !json.as_ref().is_ok_and(|v| v["error"].is_string()) {
            return Err(fail_with("error-body", "errors must be JSON {\"error\": \"...\"}", &ex));
        }
    }
    Ok(())
}
