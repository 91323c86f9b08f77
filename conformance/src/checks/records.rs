//! Spec §3, §7 and Appendix A: ids, records and the control interface.
// serde_json's `value["key"]` reads return Null and never panic; writes go to objects
// built here. The workspace's indexing lint targets slices on input-driven paths.
#![allow(clippy::indexing_slicing)]

use proto::wire::State;
use serde_json::Value;

use super::{check, control, expect_state, fetch, png};
use crate::http::Exchange;
use crate::target::encode;
use crate::{fail, fail_with, Check, CheckResult, Ctx};

pub(super) fn checks() -> Vec<Check> {
    vec![
        check!(
            "PXS-A-info",
            "A",
            ["CTRL-1"],
            Must,
            AnyEndpoint,
            "GET /info describes the implementation with members of the right types",
            info
        ),
        check!(
            "PXS-7-record-is-valid",
            "7",
            ["REC-1", "REC-2", "REC-3", "REC-4", "REC-5", "REC-6", "ID-1", "ID-2", "TOKEN-4", "CTRL-2"],
            Must,
            AnyEndpoint,
            "a created record is valid JSON of spec §7 with a random-looking id",
            record_is_valid
        ),
        check!(
            "PXS-3.2-dir-prefix",
            "3.2",
            ["ID-3", "CTRL-2"],
            Must,
            AnyEndpoint,
            "a dir prefix is sanitised (lowercase, a-z0-9_-) and prefixed",
            dir_prefix
        ),
        check!(
            "PXS-3.2-dir-prefix-too-long",
            "3.2",
            ["ID-3", "CTRL-2"],
            Must,
            AnyEndpoint,
            "a dir longer than 32 characters once sanitised is refused with 400, never truncated",
            dir_prefix_too_long
        ),
        check!(
            "PXS-A-refusals",
            "A",
            ["CTRL-2", "CTRL-6"],
            Must,
            AnyEndpoint,
            "non-images are refused with 415 and a JSON error",
            refusals
        ),
        check!(
            "PXS-A-invalid-ids",
            "A",
            ["CTRL-3", "CTRL-4", "CTRL-5", "CTRL-6", "ID-4"],
            Must,
            AnyEndpoint,
            "update, delete and record of an id that fails ID-1: 400; of an unknown id: 404; JSON errors",
            invalid_ids
        ),
        check!(
            "PXS-A-repeated-dir",
            "A",
            ["CTRL-2", "CTRL-6"],
            Must,
            AnyEndpoint,
            "a create with ?dir= twice is ambiguous: 400 with a JSON error",
            repeated_dir
        ),
        check!(
            "PXS-A-records-not-cacheable",
            "A",
            ["CTRL-6", "REC-7"],
            Must,
            AnyEndpoint,
            "every control answer that carries a record is Cache-Control: no-store (or private)",
            records_not_cacheable
        ),
        check!(
            "PXS-3.2-deleted-id-stays-deleted",
            "3.2",
            ["ID-5", "TOKEN-2", "CTRL-3", "CTRL-4", "CTRL-5"],
            Must,
            AnyEndpoint,
            "after a delete the id is gone for good: update, record and delete 404, the endpoint NotFound",
            deleted_id_stays_deleted
        ),
    ]
}

fn info_fail(message: String) -> crate::Stop {
    fail("info", message).caused_by("CTRL-1", "the /info document does not follow CTRL-1")
}

async fn info(ctx: &Ctx) -> CheckResult {
    control(ctx)?;
    let info = ctx.target.info.as_ref().ok_or_else(|| fail("info", "no /info document"))?;
    let raw = &info.raw;
    if raw["specVersion"] != "1" {
        return Err(info_fail(format!("specVersion must be the string \"1\", got {}", raw["specVersion"])));
    }
    let endpoint = raw["endpoint"]
        .as_str()
        .ok_or_else(|| info_fail(format!("endpoint must be a string, got {}", raw["endpoint"])))?;
    if !endpoint.is_empty() {
        let url = crate::http::Url::parse(endpoint)
            .map_err(|e| info_fail(format!("endpoint must be an absolute http(s) URL or \"\": {e}")))?;
        let host = url.host.trim_matches(|c| c == '[' || c == ']');
        if host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_unspecified()) {
            return Err(info_fail(format!(
                "endpoint {endpoint:?} names an unspecified address: it must be a URL a client can reach (the loopback address of the same family, or the configured public URL)"
            )));
        }
    }
    match raw["windowMs"].as_i64() {
        Some(w) if w == -1 || w >= 1 => {}
        _ if raw["windowMs"].is_u64() => {}
        _ => return Err(info_fail(format!("windowMs must be an integer W >= 1 or -1, got {}", raw["windowMs"]))),
    }
    if !raw["implementation"].is_string() {
        return Err(info_fail(format!(
            "implementation must be a string (name and version), got {}",
            raw["implementation"]
        )));
    }
    match raw["features"].as_array() {
        Some(a) if a.iter().all(Value::is_string) => {}
        _ => return Err(info_fail(format!("features must be an array of strings, got {}", raw["features"]))),
    }
    if !raw["skewMs"].is_null() && raw["skewMs"].as_u64().is_none_or(|s| s > proto::proof::MAX_SKEW_MS) {
        return Err(info_fail(format!(
            "skewMs, when present, must be an integer from 0 to 60000, got {}",
            raw["skewMs"]
        )));
    }
    if !raw["allowOrigin"].is_null() && raw["allowOrigin"].as_str().is_none_or(str::is_empty) {
        return Err(info_fail(format!(
            "allowOrigin, when present, must be a non-empty string, got {}",
            raw["allowOrigin"]
        )));
    }
    Ok(())
}

async fn record_is_valid(ctx: &Ctx) -> CheckResult {
    let c = control(ctx)?;
    // The control client parses the answer with spec §7's rules (REC-6); here the rest.
    let a = c.create(&png(300, 50), None).await?;
    let b = c.create(&png(300, 50), None).await?;
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
    let record = c.create(&png(300, 51), Some(" Team Photos! ")).await?;
    if !record.id.starts_with("teamphotos:") {
        return Err(fail(
            "id",
            format!("dir \" Team Photos! \" must give an id starting with \"teamphotos:\", got {:?}", record.id),
        ));
    }
    // A prefix that is empty after sanitising is refused (never an id starting with ':').
    let ex = c.create_raw_with_dir(&png(300, 52), "!!!").await?;
    if ex.status != 400 {
        let message = format!("dir \"!!!\" (empty once sanitised) must be refused with 400, got {}", ex.status);
        return Err(fail_with("status", message, &ex));
    }
    Ok(())
}

async fn dir_prefix_too_long(ctx: &Ctx) -> CheckResult {
    let c = control(ctx)?;
    // 32 characters after sanitising are fine; 33 are not (MAX_DIR_LEN).
    let ok = c.create(&png(300, 53), Some(&"D".repeat(32))).await?;
    if !ok.id.starts_with(&format!("{}:", "d".repeat(32))) {
        return Err(fail("id", format!("a 32-letter dir must be kept whole (lowercased), got {:?}", ok.id)));
    }
    let ex = c.create_raw_with_dir(&png(300, 54), &format!("{} x", "a".repeat(32))).await?;
    if ex.status != 400 {
        return Err(fail_with(
            "status",
            format!(
                "a dir of 33 characters once sanitised must be refused with 400 (never truncated), got {}",
                ex.status
            ),
            &ex,
        ));
    }
    Ok(())
}

fn expect_json_error(ex: &Exchange, want: u16, what: &str) -> CheckResult {
    if ex.status != want {
        return Err(fail_with("status", format!("{what} must be answered {want}, got {}", ex.status), ex));
    }
    let json: Result<Value, _> = serde_json::from_slice(&ex.body);
    if !json.as_ref().is_ok_and(|v| v["error"].is_string()) {
        return Err(fail_with("error-body", format!("{what}: errors must be JSON {{\"error\": \"...\"}}"), ex)
            .caused_by("CTRL-6", "control errors are not JSON {\"error\": ...}"));
    }
    Ok(())
}

async fn refusals(ctx: &Ctx) -> CheckResult {
    let c = control(ctx)?;
    for body in [&b"plain text, not an image"[..], b""] {
        let ex = c.create_raw(body).await?;
        expect_json_error(&ex, 415, &format!("a non-image upload ({} bytes)", body.len()))?;
    }
    Ok(())
}

async fn invalid_ids(ctx: &Ctx) -> CheckResult {
    let c = control(ctx)?;
    let image = png(300, 55);
    // Ids that fail ID-1 (sent percent-encoded, so they reach the interface as path segments).
    for bad in ["a:b:c", "Avatars:x", "a/b", "..", &"n".repeat(65)] {
        let path = format!("/images/{}", encode(bad));
        expect_json_error(&c.call("PUT", &path, &image).await?, 400, &format!("update of invalid id {bad:?}"))?;
        expect_json_error(&c.call("DELETE", &path, b"").await?, 400, &format!("delete of invalid id {bad:?}"))?;
        expect_json_error(
            &c.call("GET", &format!("{path}/record"), b"").await?,
            400,
            &format!("record of invalid id {bad:?}"),
        )?;
    }
    let unknown = "Q29uZm9ybWFuY2VVbmtub3duSWQ";
    let path = format!("/images/{unknown}");
    expect_json_error(&c.call("PUT", &path, &image).await?, 404, "update of an unknown id")?;
    expect_json_error(&c.call("DELETE", &path, b"").await?, 404, "delete of an unknown id")?;
    expect_json_error(&c.call("GET", &format!("{path}/record"), b"").await?, 404, "record of an unknown id")
}

async fn repeated_dir(ctx: &Ctx) -> CheckResult {
    let c = control(ctx)?;
    let ex = c.call("POST", "/images?dir=first&dir=second", &png(300, 56)).await?;
    expect_json_error(&ex, 400, "a create with ?dir= twice")
}

fn expect_not_cacheable(ex: &Exchange, what: &str) -> CheckResult {
    let ok = ex.header_values("cache-control").iter().any(|v| {
        v.split(',').any(|d| d.trim().eq_ignore_ascii_case("no-store") || d.trim().eq_ignore_ascii_case("private"))
    });
    if !ok {
        return Err(fail_with(
            "cache-control",
            format!("{what} carries a record (and its key): it must be Cache-Control: no-store or private"),
            ex,
        )
        .caused_by("REC-7", "control answers with records are cacheable"));
    }
    Ok(())
}

async fn records_not_cacheable(ctx: &Ctx) -> CheckResult {
    let c = control(ctx)?;
    let ex = c.call("POST", "/images", &png(300, 57)).await?;
    expect_not_cacheable(&ex, "the create answer")?;
    let record = proto::record::ImageRecord::from_json(&ex.body)
        .map_err(|e| fail_with("control", format!("create answered an invalid record: {e}"), &ex))?;
    let path = format!("/images/{}", encode(&record.id));
    expect_not_cacheable(&c.call("PUT", &path, &png(300, 58)).await?, "the update answer")?;
    expect_not_cacheable(&c.call("GET", &format!("{path}/record"), b"").await?, "the record answer")
}

async fn deleted_id_stays_deleted(ctx: &Ctx) -> CheckResult {
    let c = control(ctx)?;
    let record = c.create(&png(400, 59), None).await?;
    let updated = c.update(&record.id, &png(400, 60)).await?;
    c.delete(&record.id).await?;
    let path = format!("/images/{}", encode(&record.id));
    // ID-5: the id is never assigned again, so nothing brings it back and no token of it can
    // go backwards.
    let ex = c.call("PUT", &path, &png(400, 61)).await?;
    expect_json_error(&ex, 404, "an update of a deleted id (it must not re-create the image)")?;
    expect_json_error(&c.call("GET", &format!("{path}/record"), b"").await?, 404, "the record of a deleted id")?;
    expect_json_error(&c.call("DELETE", &path, b"").await?, 404, "a second delete")?;
    let ex = fetch(ctx, &updated, Some(&updated.token.to_string())).await?;
    expect_state(&ex, State::NotFound).map_err(|e| e.context("the endpoint, after the delete and a refused update"))
}
