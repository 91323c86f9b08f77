//! Spec §5: tokens.

use proto::wire::State;

use super::{check, control, expect_state, fetch, fixture, get, image_target, png};
use crate::{fail, fail_with, transport, Check, CheckResult, Ctx};

pub(super) fn checks() -> Vec<Check> {
    vec![
        check!(
            "PXS-5.3-unparseable-token-is-absent",
            "5.3",
            ["TOKEN-5", "TOKEN-6"],
            Must,
            "a token that is not canonical decimal counts as no token: Updated",
            unparseable_token
        ),
        check!(
            "PXS-5.3-token-in-query",
            "5.3",
            ["TOKEN-7", "HTTP-9"],
            Must,
            "without the header ?token= is read; with it, the header wins",
            token_in_query
        ),
        check!(
            "PXS-5.3-duplicate-token-headers",
            "5.3",
            ["TOKEN-6", "HTTP-11"],
            Must,
            "a token header sent twice counts as no token: Updated",
            duplicate_token_headers
        ),
        check!(
            "PXS-5.1-tokens-strictly-increase",
            "5.1",
            ["TOKEN-1", "TOKEN-2", "TOKEN-3", "CTRL-3"],
            Must,
            "20 rapid updates get strictly increasing tokens <= 2^53-1",
            tokens_increase
        ),
    ]
}

async fn unparseable_token(ctx: &Ctx) -> CheckResult {
    let f = fixture(ctx, 20).await?;
    let t = f.record.token.to_string();
    for bad in [
        format!("+{t}"),
        format!("0{t}"),
        format!("0x{:x}", f.record.token.get()),
        format!("{t}.0"),
        "1e3".to_owned(),
        "abc".to_owned(),
        format!("{t}9999"),
    ] {
        let ex = fetch(ctx, &f.record, Some(&bad)).await?;
        expect_state(&ex, State::Updated)
            .map_err(|_| fail_with("token", format!("token text {bad:?} must count as no token (Updated)"), &ex))?;
    }
    Ok(())
}

async fn token_in_query(ctx: &Ctx) -> CheckResult {
    let f = fixture(ctx, 21).await?;
    let target = format!("{}?token={}", image_target(ctx, &f.record.id), f.record.token);
    let ex = get(ctx, &target, &[("x-pixstore-proof", &f.record.stateless_proof)]).await?;
    expect_state(&ex, State::Success)?;
    // The header wins over the query: a stale header token with the current one in the query
    // is Updated.
    let ex = get(ctx, &target, &[("x-pixstore-proof", &f.record.stateless_proof), ("x-pixstore-token", "1")]).await?;
    expect_state(&ex, State::Updated)
        .map_err(|_| fail_with("token", "the x-pixstore-token header must win over ?token=", &ex))
}

async fn duplicate_token_headers(ctx: &Ctx) -> CheckResult {
    let f = fixture(ctx, 22).await?;
    let t = f.record.token.to_string();
    let headers = [
        ("x-pixstore-proof", f.record.stateless_proof.as_str()),
        ("x-pixstore-token", t.as_str()),
        ("x-pixstore-token", t.as_str()),
    ];
    let ex = get(ctx, &image_target(ctx, &f.record.id), &headers).await?;
    expect_state(&ex, State::Updated)
}

async fn tokens_increase(ctx: &Ctx) -> CheckResult {
    let c = control(ctx)?;
    let image = png(400, 23);
    let first = c.create(&image, None).await.map_err(transport)?;
    let mut last = first.token;
    for i in 0..20 {
        let r = c.update(&first.id, &image).await.map_err(transport)?;
        if r.token <= last {
            return Err(fail(
                "token",
                format!(
                    "update {i} got token {} after {last}: tokens must strictly increase, also within one millisecond",
                    r.token
                ),
            ));
        }
        last = r.token;
    }
    Ok(())
}
