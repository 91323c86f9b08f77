//! Spec §10: the HTTP binding of the default endpoint. The hostile-input checks run last.

use proto::wire::State;

use super::{
    check, expect_common_headers, expect_state, expect_wire_http, fetch, fixture, get, image_target, request,
    still_serving,
};
use crate::{fail, fail_with, transport, Check, CheckResult, Ctx, Stop};

pub(super) fn checks() -> Vec<Check> {
    vec![
        check!(
            "PXS-10.2-headers-on-every-state",
            "10.2",
            ["HTTP-4", "HTTP-5", "HTTP-6"],
            Must,
            "Success, Updated and one-byte states: 200, octet-stream, exact length, no-store, CORS origin",
            headers_on_every_state
        ),
        check!(
            "PXS-10.2-preflight",
            "10.2",
            ["HTTP-7", "HTTP-5", "HTTP-6"],
            Must,
            "OPTIONS: 204 with GET allowed and both x-pixstore headers",
            preflight
        ),
        check!(
            "PXS-10.2-preflight-max-age",
            "10.2",
            ["HTTP-7"],
            Should,
            "a preflight carries Access-Control-Max-Age",
            preflight_max_age
        ),
        check!(
            "PXS-10.2-other-methods",
            "10.2",
            ["HTTP-8"],
            Must,
            "POST, PUT, DELETE, PATCH, HEAD on the route: 405 with Allow",
            other_methods
        ),
        check!(
            "PXS-10.3-query-not-part-of-id",
            "10.3",
            ["HTTP-9"],
            Must,
            "a query string is not part of the id",
            query_not_part_of_id
        ),
        check!(
            "PXS-10.3-extra-segments",
            "10.3",
            ["HTTP-10", "HTTP-5"],
            Must,
            "more path segments, or a path outside the route: 404",
            extra_segments
        ),
        check!(
            "PXS-10.3-duplicate-proof-headers",
            "10.3",
            ["HTTP-11"],
            Must,
            "a proof header sent twice: InvalidProof",
            duplicate_proofs
        ),
        check!(
            "PXS-10.1-percent-encoded-id",
            "10.1",
            ["HTTP-1", "HTTP-2", "ID-1", "CTRL-2"],
            Must,
            "`dir:name` ids work raw and percent-encoded (%3A, %3a)",
            percent_encoded_id
        ),
        check!(
            "PXS-10.1-malformed-escape",
            "10.1",
            ["HTTP-2", "SERVE-5"],
            Must,
            "a malformed percent-escape gets a wire answer, and the server keeps serving",
            malformed_escape
        ),
        check!(
            "PXS-3.3-hostile-ids",
            "3.3",
            ["ID-4", "SERVE-5"],
            Must,
            "dot segments, encoded slashes, NUL: InvalidProof, and the server keeps serving",
            hostile_ids
        ),
        check!(
            "PXS-10.3-long-target",
            "10.3",
            ["HTTP-12"],
            Must,
            "a 10 KB id: 414 or a wire answer, and the server keeps serving",
            long_target
        ),
    ]
}

async fn headers_on_every_state(ctx: &Ctx) -> CheckResult {
    let f = fixture(ctx, 60).await?;
    let t = f.record.token.to_string();
    let mut answers = vec![fetch(ctx, &f.record, Some(&t)).await?, fetch(ctx, &f.record, None).await?];
    answers.push(get(ctx, &ctx.target.endpoint.path.clone(), &[]).await?);
    if ctx.target.window_ms() != Some(-1) {
        answers.push(get(ctx, &image_target(ctx, &f.record.id), &[]).await?);
    }
    for ex in &answers {
        expect_wire_http(ex)?;
    }
    Ok(())
}

async fn preflight(ctx: &Ctx) -> CheckResult {
    let f = fixture(ctx, 61).await?;
    let headers = [
        ("Origin", "https://app.example"),
        ("Access-Control-Request-Method", "GET"),
        ("Access-Control-Request-Headers", "x-pixstore-proof, x-pixstore-token"),
    ];
    let ex = request(ctx, "OPTIONS", &image_target(ctx, &f.record.id), &headers).await?;
    if ex.status != 204 {
        return Err(fail_with("status", format!("a preflight must be answered 204, got {}", ex.status), &ex));
    }
    let methods = ex.header("access-control-allow-methods").unwrap_or("").to_ascii_uppercase();
    if !methods.split(',').any(|m| m.trim() == "GET") {
        return Err(fail_with("cors", "Access-Control-Allow-Methods must include GET", &ex));
    }
    let allowed = ex.header("access-control-allow-headers").unwrap_or("").to_ascii_lowercase();
    for h in ["x-pixstore-proof", "x-pixstore-token"] {
        if !allowed.split(',').any(|a| a.trim() == h) {
            return Err(fail_with("cors", format!("Access-Control-Allow-Headers must include {h}"), &ex));
        }
    }
    expect_common_headers(&ex)
}

async fn preflight_max_age(ctx: &Ctx) -> CheckResult {
    let f = fixture(ctx, 62).await?;
    let ex = request(
        ctx,
        "OPTIONS",
        &image_target(ctx, &f.record.id),
        &[("Origin", "https://app.example"), ("Access-Control-Request-Method", "GET")],
    )
    .await?;
    match ex.header("access-control-max-age").map(str::parse::<u64>) {
        Some(Ok(_)) => Ok(()),
        _ => Err(fail_with(
            "max-age",
            "a preflight should carry Access-Control-Max-Age (every image fetch is preflighted)",
            &ex,
        )),
    }
}

async fn other_methods(ctx: &Ctx) -> CheckResult {
    let f = fixture(ctx, 63).await?;
    let target = image_target(ctx, &f.record.id);
    for method in ["POST", "PUT", "DELETE", "PATCH", "HEAD"] {
        let ex = request(ctx, method, &target, &[]).await?;
        if ex.status != 405 {
            return Err(fail_with("status", format!("{method} on the route must be 405, got {}", ex.status), &ex));
        }
        if !ex.header("allow").unwrap_or("").to_ascii_uppercase().contains("GET") {
            return Err(fail_with("allow", format!("the 405 to {method} must carry Allow: GET, OPTIONS"), &ex));
        }
        expect_common_headers(&ex)?;
    }
    Ok(())
}

async fn query_not_part_of_id(ctx: &Ctx) -> CheckResult {
    let f = fixture(ctx, 64).await?;
    let target = format!("{}?v=2&utm=x", image_target(ctx, &f.record.id));
    let ex = get(ctx, &target, &[("x-pixstore-proof", &f.record.stateless_proof)]).await?;
    expect_state(&ex, State::Updated)
        .map_err(|_| fail_with("query", "the query string must not be part of the id", &ex))
}

async fn extra_segments(ctx: &Ctx) -> CheckResult {
    let f = fixture(ctx, 65).await?;
    let route = ctx.target.endpoint.path.clone();
    for target in [
        format!("{}/extra", image_target(ctx, &f.record.id)),
        format!("{route}X/{}", f.record.id),
        "/pixstore-conformance-elsewhere".to_owned(),
    ] {
        let ex = get(ctx, &target, &[("x-pixstore-proof", &f.record.stateless_proof)]).await?;
        if ex.status != 404 {
            return Err(fail_with("status", format!("{target} must be 404, got {}", ex.status), &ex));
        }
        expect_common_headers(&ex)?;
    }
    Ok(())
}

async fn duplicate_proofs(ctx: &Ctx) -> CheckResult {
    if ctx.target.window_ms() == Some(-1) {
        return Err(Stop::Skip("proof validation is disabled (windowMs = -1)".into()));
    }
    let f = fixture(ctx, 66).await?;
    let p = f.record.stateless_proof.as_str();
    let ex = get(ctx, &image_target(ctx, &f.record.id), &[("x-pixstore-proof", p), ("x-pixstore-proof", p)]).await?;
    expect_state(&ex, State::InvalidProof)
}

async fn percent_encoded_id(ctx: &Ctx) -> CheckResult {
    let c = super::control(ctx)?;
    let record = c.create(&super::png(800, 67), Some("conformance")).await.map_err(transport)?;
    let (dir, name) = record
        .id
        .split_once(':')
        .ok_or_else(|| fail("id", format!("a dir prefix must give a dir:name id, got {:?}", record.id)))?;
    let route = ctx.target.endpoint.path.clone();
    for target in
        [format!("{route}/{dir}:{name}"), format!("{route}/{dir}%3A{name}"), format!("{route}/{dir}%3a{name}")]
    {
        let ex = get(ctx, &target, &[("x-pixstore-proof", &record.stateless_proof)]).await?;
        expect_state(&ex, State::Updated)
            .map_err(|_| fail_with("id", format!("{target} must serve the image"), &ex))?;
    }
    Ok(())
}

async fn malformed_escape(ctx: &Ctx) -> CheckResult {
    let f = fixture(ctx, 68).await?;
    let route = ctx.target.endpoint.path.clone();
    for bad in ["%E0%A4%A", "%", "%zz", "%FF"] {
        let ex = get(ctx, &format!("{route}/{bad}"), &[("x-pixstore-proof", &f.record.stateless_proof)])
            .await
            .map_err(|_| fail("crashed", format!("the endpoint did not answer {route}/{bad}")))?;
        let want = if ctx.target.window_ms() == Some(-1) { State::NotFound } else { State::InvalidProof };
        expect_state(&ex, want)?;
    }
    still_serving(ctx, &f).await
}

async fn hostile_ids(ctx: &Ctx) -> CheckResult {
    let f = fixture(ctx, 69).await?;
    let route = ctx.target.endpoint.path.clone();
    for bad in ["..", "%2e%2e", "..%2F..%2Fetc%2Fpasswd", "a%2Fb", "a%00b", "%2F", "a%5Cb"] {
        let ex = get(ctx, &format!("{route}/{bad}"), &[("x-pixstore-proof", &f.record.stateless_proof)])
            .await
            .map_err(|_| fail("crashed", format!("the endpoint did not answer {route}/{bad}")))?;
        let want = if ctx.target.window_ms() == Some(-1) { State::NotFound } else { State::InvalidProof };
        expect_state(&ex, want).map_err(|e| match e {
            Stop::Fail(mut failure) => {
                failure.message = format!("id {bad:?}: {}", failure.message);
                Stop::Fail(failure)
            }
            other => other,
        })?;
    }
    still_serving(ctx, &f).await
}

async fn long_target(ctx: &Ctx) -> CheckResult {
    let f = fixture(ctx, 70).await?;
    let target = format!("{}/{}", ctx.target.endpoint.path, "a".repeat(10_000));
    let ex = get(ctx, &target, &[("x-pixstore-proof", &f.record.stateless_proof)])
        .await
        .map_err(|_| fail("crashed", "the endpoint did not answer a 10 KB id"))?;
    if ex.status == 414 {
        expect_common_headers(&ex)?;
    } else {
        let want = if ctx.target.window_ms() == Some(-1) { State::NotFound } else { State::InvalidProof };
        expect_state(&ex, want)?;
    }
    still_serving(ctx, &f).await
}
