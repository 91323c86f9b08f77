//! Spec §10: the HTTP binding. The route-shape checks apply to the default endpoint only; the
//! rest to any HTTP endpoint. The hostile-input checks run last.

use std::collections::BTreeSet;

use proto::wire::State;

use super::{
    check, expect_common_headers, expect_refused, expect_state, expect_wire_http, fetch, fixture, get, image_target,
    proof_header, raw_target, request, require_h1, still_serving, unknown_id_state, validation_on,
};
use crate::http::Exchange;
use crate::target::with_query;
use crate::{fail, fail_with, transport, Check, CheckResult, Ctx, Stop};

pub(super) fn checks() -> Vec<Check> {
    vec![
        check!(
            "PXS-10.2-headers-on-every-state",
            "10.2",
            ["HTTP-4", "HTTP-5", "HTTP-6"],
            Must,
            AnyEndpoint,
            "Success, Updated and one-byte states: 200, octet-stream, exact length, no-store, CORS origin",
            headers_on_every_state
        ),
        check!(
            "PXS-10.2-configured-origin",
            "10.2",
            ["HTTP-6", "CTRL-1"],
            Must,
            AnyEndpoint,
            "the configured Access-Control-Allow-Origin (from /info) exactly, and Vary: Origin unless it is *",
            configured_origin
        ),
        check!(
            "PXS-10.2-preflight",
            "10.2",
            ["HTTP-7", "HTTP-5", "HTTP-6"],
            Must,
            DefaultEndpoint,
            "OPTIONS on the route: 204, Allow-Methods exactly GET, OPTIONS, both x-pixstore headers allowed",
            preflight
        ),
        check!(
            "PXS-10.2-preflight-max-age",
            "10.2",
            ["HTTP-7"],
            Should,
            DefaultEndpoint,
            "a preflight carries Access-Control-Max-Age",
            preflight_max_age
        ),
        check!(
            "PXS-10.2-other-methods",
            "10.2",
            ["HTTP-8"],
            Must,
            DefaultEndpoint,
            "POST, PUT, DELETE, PATCH, HEAD on the route: 405 with Allow: GET, OPTIONS",
            other_methods
        ),
        check!(
            "PXS-10.3-query-not-part-of-id",
            "10.3",
            ["HTTP-9"],
            Must,
            AnyEndpoint,
            "a query string is not part of the id",
            query_not_part_of_id
        ),
        check!(
            "PXS-10.3-extra-segments",
            "10.3",
            ["HTTP-10", "HTTP-5"],
            Must,
            DefaultEndpoint,
            "more path segments, or a path outside the route: 404",
            extra_segments
        ),
        check!(
            "PXS-10.3-route-shape",
            "10.3",
            ["HTTP-1", "HTTP-7", "HTTP-8", "HTTP-10"],
            Must,
            DefaultEndpoint,
            "trailing slash, dot segments, another case of the route, any method outside the route: 404; OPTIONS on the bare route 204",
            route_shape
        ),
        check!(
            "PXS-10.3-duplicate-proof-headers",
            "10.3",
            ["HTTP-11"],
            Must,
            AnyEndpoint,
            "a proof header sent twice: InvalidProof",
            duplicate_proofs
        ),
        check!(
            "PXS-10.1-percent-encoded-id",
            "10.1",
            ["HTTP-1", "HTTP-2", "ID-1", "CTRL-2"],
            Must,
            AnyEndpoint,
            "`dir:name` ids work raw and percent-encoded (%3A, %3a)",
            percent_encoded_id
        ),
        check!(
            "PXS-10.1-absolute-form",
            "10.1",
            ["HTTP-14"],
            Must,
            AnyEndpoint,
            "an absolute-form request target (http://host/route/id) is served as its path",
            absolute_form
        ),
        check!(
            "PXS-10.1-fragment-in-target",
            "10.1",
            ["HTTP-14"],
            Must,
            AnyEndpoint,
            "a '#' in the request target: 400, or the target ends before it; never part of the id",
            fragment_in_target
        ),
        check!(
            "PXS-10.1-malformed-escape",
            "10.1",
            ["HTTP-2", "SERVE-5"],
            Must,
            AnyEndpoint,
            "a malformed percent-escape gets a wire answer, and the server keeps serving",
            malformed_escape
        ),
        check!(
            "PXS-3.3-hostile-ids",
            "3.3",
            ["ID-4", "SERVE-5"],
            Must,
            AnyEndpoint,
            "dot segments, encoded slashes, NUL: InvalidProof, and the server keeps serving",
            hostile_ids
        ),
        check!(
            "PXS-10.3-long-target",
            "10.3",
            ["HTTP-12"],
            Must,
            AnyEndpoint,
            "a 10 KB id: 414 or a wire answer, and the server keeps serving",
            long_target
        ),
        check!(
            "PXS-10.3-stack-errors-keep-serving",
            "10.3",
            ["HTTP-13"],
            Must,
            AnyEndpoint,
            "malformed requests the HTTP stack refuses (bad request line, bad header line): the server keeps serving",
            stack_errors_keep_serving
        ),
        check!(
            "PXS-10.3-stack-error-headers",
            "10.3",
            ["HTTP-13"],
            Should,
            AnyEndpoint,
            "the HTTP stack's own 400 carries Cache-Control: no-store and Access-Control-Allow-Origin",
            stack_error_headers
        ),
    ]
}

async fn headers_on_every_state(ctx: &Ctx) -> CheckResult {
    let f = fixture(ctx, 60).await?;
    let t = f.record.token.to_string();
    let mut answers = vec![fetch(ctx, &f.record, Some(&t)).await?, fetch(ctx, &f.record, None).await?];
    if ctx.target.endpoint.is_default() {
        answers.push(get(ctx, ctx.target.endpoint.route(), &[]).await?);
    }
    if !ctx.target.validation_disabled() {
        answers.push(get(ctx, &image_target(ctx, &f.record.id), &[]).await?);
    }
    for ex in &answers {
        expect_wire_http(ex)?;
    }
    Ok(())
}

fn expect_origin(ex: &Exchange, origin: &str, what: &str) -> CheckResult {
    let got = ex.header_values("access-control-allow-origin");
    if got.as_slice() != [origin] {
        return Err(fail_with(
            "cors",
            format!("{what}: Access-Control-Allow-Origin must be exactly the configured {origin:?}, got {got:?}"),
            ex,
        )
        .caused_by("HTTP-6", "Access-Control-Allow-Origin is not the configured value"));
    }
    if origin != "*" {
        let vary =
            ex.header_values("vary").iter().flat_map(|v| v.split(',')).any(|v| v.trim().eq_ignore_ascii_case("origin"));
        if !vary {
            return Err(fail_with("vary", format!("{what}: the origin is not *, so Vary: Origin is required"), ex)
                .caused_by("HTTP-6", "Vary: Origin is missing although the origin is not *"));
        }
    }
    Ok(())
}

async fn configured_origin(ctx: &Ctx) -> CheckResult {
    let origin = ctx
        .target
        .info
        .as_ref()
        .and_then(|i| i.allow_origin.clone())
        .ok_or_else(|| Stop::Skip("needs allowOrigin in the control interface's /info (CTRL-1)".into()))?;
    let f = fixture(ctx, 71).await?;
    let target = image_target(ctx, &f.record.id);
    let browser = [("Origin", "https://app.example")];
    let mut answers = vec![
        ("an Updated answer", fetch(ctx, &f.record, None).await?),
        ("a Success answer", fetch(ctx, &f.record, Some(&f.record.token.to_string())).await?),
        ("an answer to a browser's request", get(ctx, &target, &browser).await?),
    ];
    if !ctx.target.validation_disabled() {
        answers.push(("a MissingProof answer", get(ctx, &target, &[]).await?));
    }
    if ctx.target.endpoint.is_default() {
        let route = ctx.target.endpoint.route().to_owned();
        let preflight = [("Origin", "https://app.example"), ("Access-Control-Request-Method", "GET")];
        answers.push(("a preflight", request(ctx, "OPTIONS", &target, &preflight).await?));
        answers.push(("a 405", request(ctx, "POST", &target, &[]).await?));
        answers.push(("a 404", get(ctx, &format!("{route}/a/b"), &[]).await?));
    }
    for (what, ex) in &answers {
        expect_origin(ex, &origin, what)?;
    }
    Ok(())
}

fn token_set(value: Option<&str>) -> BTreeSet<String> {
    value.unwrap_or("").split(',').map(|m| m.trim().to_ascii_uppercase()).filter(|m| !m.is_empty()).collect()
}

fn get_options() -> BTreeSet<String> {
    ["GET", "OPTIONS"].into_iter().map(str::to_owned).collect()
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
    if !ex.body.is_empty() {
        return Err(fail_with("body", "a preflight's body must be empty", &ex));
    }
    let methods = token_set(ex.header("access-control-allow-methods"));
    if methods != get_options() {
        return Err(fail_with(
            "cors",
            format!("Access-Control-Allow-Methods must be GET, OPTIONS, got {methods:?}"),
            &ex,
        ));
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
    let route = ctx.target.endpoint.route().to_owned();
    for target in [image_target(ctx, &f.record.id), route] {
        for method in ["POST", "PUT", "DELETE", "PATCH", "HEAD"] {
            let ex = request(ctx, method, &target, &[]).await?;
            if ex.status != 405 {
                return Err(fail_with("status", format!("{method} {target} must be 405, got {}", ex.status), &ex));
            }
            let allow = token_set(ex.header("allow"));
            if allow != get_options() {
                return Err(fail_with(
                    "allow",
                    format!("the 405 to {method} must carry Allow: GET, OPTIONS, got {allow:?}"),
                    &ex,
                ));
            }
            expect_common_headers(&ex)?;
        }
    }
    Ok(())
}

async fn query_not_part_of_id(ctx: &Ctx) -> CheckResult {
    let f = fixture(ctx, 64).await?;
    let target = with_query(&image_target(ctx, &f.record.id), "v=2&utm=x");
    let ex = get(ctx, &target, &proof_header(&f.record)).await?;
    expect_state(&ex, State::Updated)
        .map_err(|e| e.context("the query string must not be part of the id").code("query"))
}

async fn expect_404(ctx: &Ctx, method: &str, target: &str, proof: &[(&str, &str)]) -> CheckResult {
    let ex = request(ctx, method, target, proof).await?;
    if ex.status != 404 {
        return Err(fail_with("status", format!("{method} {target} must be 404, got {}", ex.status), &ex));
    }
    expect_common_headers(&ex)
}

async fn extra_segments(ctx: &Ctx) -> CheckResult {
    let f = fixture(ctx, 65).await?;
    let route = ctx.target.endpoint.route().to_owned();
    let proof = proof_header(&f.record);
    for target in [
        format!("{}/extra", image_target(ctx, &f.record.id)),
        format!("{route}X/{}", f.record.id),
        "/pixstore-conformance-elsewhere".to_owned(),
    ] {
        expect_404(ctx, "GET", &target, &proof).await?;
    }
    Ok(())
}

async fn route_shape(ctx: &Ctx) -> CheckResult {
    let f = fixture(ctx, 72).await?;
    let route = ctx.target.endpoint.route().to_owned();
    let id = image_target(ctx, &f.record.id);
    let segment = id.get(route.len() + 1..).unwrap_or_default().to_owned();
    let proof = proof_header(&f.record);
    for target in [
        format!("{id}/"),
        format!("{route}/./{segment}"),
        format!("{route}/x/../{segment}"),
        format!("{route}//{segment}"),
        format!("{}/{segment}", route.to_ascii_uppercase()),
        format!("{route}{segment}"),
    ] {
        if target != id {
            expect_404(ctx, "GET", &target, &proof).await?;
        }
    }
    // HTTP-10: outside the route (or with more segments) it is 404 for every method.
    for method in ["POST", "DELETE", "OPTIONS", "HEAD"] {
        expect_404(ctx, method, &format!("{route}/a/b"), &[]).await?;
        expect_404(ctx, method, "/pixstore-conformance-elsewhere", &[]).await?;
    }
    // HTTP-7: the bare route is part of the route, for preflights too.
    let ex =
        request(ctx, "OPTIONS", &route, &[("Origin", "https://app.example"), ("Access-Control-Request-Method", "GET")])
            .await?;
    if ex.status != 204 {
        return Err(fail_with("status", format!("OPTIONS on the bare route must be 204, got {}", ex.status), &ex));
    }
    Ok(())
}

async fn duplicate_proofs(ctx: &Ctx) -> CheckResult {
    validation_on(ctx)?;
    let f = fixture(ctx, 66).await?;
    let p = f.record.stateless_proof.as_str();
    let ex = get(ctx, &image_target(ctx, &f.record.id), &[("x-pixstore-proof", p), ("x-pixstore-proof", p)]).await?;
    expect_refused(&ex, State::InvalidProof, "accepted", "the same valid proof sent twice")
}

async fn percent_encoded_id(ctx: &Ctx) -> CheckResult {
    let c = super::control(ctx)?;
    let record = c.create(&super::png(800, 67), Some("conformance")).await?;
    let (dir, name) = record
        .id
        .split_once(':')
        .ok_or_else(|| fail("id", format!("a dir prefix must give a dir:name id, got {:?}", record.id)))?;
    let proof = proof_header(&record);
    for segment in [format!("{dir}:{name}"), format!("{dir}%3A{name}"), format!("{dir}%3a{name}")] {
        let target = raw_target(ctx, &segment);
        let ex = get(ctx, &target, &proof).await?;
        expect_state(&ex, State::Updated)
            .map_err(|e| e.context(&format!("{target} must serve the image")).code("id"))?;
    }
    Ok(())
}

async fn absolute_form(ctx: &Ctx) -> CheckResult {
    require_h1(ctx, "an absolute-form request target")?;
    let f = fixture(ctx, 73).await?;
    let base = &ctx.target.endpoint.base;
    let target = format!("{}{}", base.origin(), image_target(ctx, &f.record.id));
    let ex = get(ctx, &target, &proof_header(&f.record)).await?;
    expect_state(&ex, State::Updated)
        .map_err(|e| e.context("an absolute-form target (RFC 9112 §3.2.2) names its path"))?;
    still_serving(ctx, &f).await
}

async fn fragment_in_target(ctx: &Ctx) -> CheckResult {
    require_h1(ctx, "a '#' in the request target")?;
    let f = fixture(ctx, 74).await?;
    let target = format!("{}#fragment", image_target(ctx, &f.record.id));
    let ex = get(ctx, &target, &proof_header(&f.record)).await?;
    let served = ex.status == 200 && ex.body.first() == Some(&1);
    if ex.status != 400 && !served {
        return Err(fail_with(
            "fragment",
            format!(
                "{target}: must be 400 or served as the target before '#' (the image, Updated); got {}",
                super::describe(&ex)
            ),
            &ex,
        ));
    }
    still_serving(ctx, &f).await
}

async fn malformed_escape(ctx: &Ctx) -> CheckResult {
    let f = fixture(ctx, 68).await?;
    let proof = proof_header(&f.record);
    for bad in ["%E0%A4%A", "%", "%zz", "%FF"] {
        let target = raw_target(ctx, bad);
        let ex = get(ctx, &target, &proof)
            .await
            .map_err(|_| fail("crashed", format!("the endpoint did not answer {target}")))?;
        expect_state(&ex, unknown_id_state(ctx)).map_err(|e| e.context(&format!("id {bad:?}")))?;
    }
    still_serving(ctx, &f).await
}

async fn hostile_ids(ctx: &Ctx) -> CheckResult {
    let f = fixture(ctx, 69).await?;
    let proof = proof_header(&f.record);
    let mut ids = vec!["%2e%2e", "..%2F..%2Fetc%2Fpasswd", "a%2Fb", "a%00b", "%2F", "a%5Cb", "a%20b"];
    // A raw `..` is a dot segment of the path: it belongs to the default endpoint's route shape.
    if ctx.target.endpoint.is_default() {
        ids.insert(0, "..");
    }
    for bad in ids {
        let target = raw_target(ctx, bad);
        let ex = get(ctx, &target, &proof)
            .await
            .map_err(|_| fail("crashed", format!("the endpoint did not answer {target}")))?;
        expect_state(&ex, unknown_id_state(ctx)).map_err(|e| e.context(&format!("id {bad:?}")))?;
    }
    still_serving(ctx, &f).await
}

async fn long_target(ctx: &Ctx) -> CheckResult {
    require_h1(ctx, "a 10 KB request target")?;
    let f = fixture(ctx, 70).await?;
    let target = raw_target(ctx, &"a".repeat(10_000));
    let ex = get(ctx, &target, &proof_header(&f.record))
        .await
        .map_err(|_| fail("crashed", "the endpoint did not answer a 10 KB id"))?;
    if ex.status == 414 {
        expect_common_headers(&ex)?;
    } else {
        expect_state(&ex, unknown_id_state(ctx))?;
    }
    still_serving(ctx, &f).await
}

/// Requests an HTTP/1.1 stack refuses before any endpoint code sees them.
fn malformed_requests(ctx: &Ctx) -> Vec<(&'static str, Vec<u8>)> {
    let host = ctx.target.endpoint.base.authority();
    let target = raw_target(ctx, "Q29uZm9ybWFuY2U");
    vec![
        (
            "a request line with a space in the target",
            format!("GET {target} x HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes(),
        ),
        (
            "a header line without a colon",
            format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nno colon here\r\n\r\n").into_bytes(),
        ),
        ("a NUL byte in the request target", format!("GET {target}\0x HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes()),
    ]
}

async fn stack_errors_keep_serving(ctx: &Ctx) -> CheckResult {
    require_h1(ctx, "malformed request lines and header lines, NUL bytes")?;
    let f = fixture(ctx, 75).await?;
    for (what, raw) in malformed_requests(ctx) {
        let answer = ctx.target.transport.send_raw_h1(&ctx.target.endpoint.base, &raw, what).await;
        if let Err(e) = answer {
            return Err(fail("crashed", format!("{what}: {e}")));
        }
        still_serving(ctx, &f).await.map_err(|e| e.context(&format!("after {what}")))?;
    }
    Ok(())
}

async fn stack_error_headers(ctx: &Ctx) -> CheckResult {
    require_h1(ctx, "malformed request lines and header lines, NUL bytes")?;
    for (what, raw) in malformed_requests(ctx) {
        let answer =
            ctx.target.transport.send_raw_h1(&ctx.target.endpoint.base, &raw, what).await.map_err(transport)?;
        // No answer at all (the connection closed) leaves nothing to judge.
        if let Some(ex) = answer {
            expect_common_headers(&ex).map_err(|e| e.context(&format!("the answer to {what}")))?;
        }
    }
    Ok(())
}
