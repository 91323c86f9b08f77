//! Spec §5: tokens.

use proto::wire::State;

use super::{check, control, expect_state, fetch, fixture, get, image_target, png, proof_header};
use crate::target::{with_query, ClockSetting};
use crate::{fail, Check, CheckResult, Ctx};

pub(super) fn checks() -> Vec<Check> {
    vec![
        check!(
            "PXS-5.3-unparseable-token-is-absent",
            "5.3",
            ["TOKEN-5", "TOKEN-6"],
            Must,
            AnyEndpoint,
            "a token that is not canonical decimal counts as no token: Updated",
            unparseable_token
        ),
        check!(
            "PXS-5.3-token-in-query",
            "5.3",
            ["TOKEN-7", "HTTP-9"],
            Must,
            AnyEndpoint,
            "without the header ?token= is read; with it, the header wins",
            token_in_query
        ),
        check!(
            "PXS-5.3-invalid-header-hides-query",
            "5.3",
            ["TOKEN-6", "TOKEN-7"],
            Must,
            AnyEndpoint,
            "an unparseable or empty token header is still the header: ?token= is ignored, the answer is Updated",
            invalid_header_hides_query
        ),
        check!(
            "PXS-5.3-repeated-query-token",
            "5.3",
            ["TOKEN-6", "TOKEN-7"],
            Must,
            AnyEndpoint,
            "?token= twice counts as no token: Updated",
            repeated_query_token
        ),
        check!(
            "PXS-5.3-duplicate-token-headers",
            "5.3",
            ["TOKEN-6", "HTTP-11"],
            Must,
            AnyEndpoint,
            "a token header sent twice counts as no token: Updated",
            duplicate_token_headers
        ),
        check!(
            "PXS-5.1-tokens-increase-within-a-millisecond",
            "5.1",
            ["TOKEN-1", "TOKEN-2", "TOKEN-3", "CTRL-3", "CTRL-8"],
            Must,
            AnyEndpoint,
            "writes in one millisecond and across a backward clock step get strictly increasing tokens (clock frozen; without the clock feature: 20 rapid updates)",
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
        format!("{t}e0"),
        format!("{t}_"),
        "1e3".to_owned(),
        "abc".to_owned(),
        format!("{t}9999"),
    ] {
        let ex = fetch(ctx, &f.record, Some(&bad)).await?;
        expect_state(&ex, State::Updated)
            .map_err(|e| e.context(&format!("token text {bad:?} must count as no token (Updated)")).code("token"))?;
    }
    Ok(())
}

async fn token_in_query(ctx: &Ctx) -> CheckResult {
    let f = fixture(ctx, 21).await?;
    let target = with_query(&image_target(ctx, &f.record.id), &format!("token={}", f.record.token));
    let proof = proof_header(&f.record);
    let ex = get(ctx, &target, &proof).await?;
    expect_state(&ex, State::Success).map_err(|e| e.context("?token= with the current token and no header"))?;
    // The header wins over the query: a stale header token with the current one in the query
    // is Updated.
    let mut headers = proof.clone();
    headers.push(("x-pixstore-token", "1"));
    let ex = get(ctx, &target, &headers).await?;
    expect_state(&ex, State::Updated)
        .map_err(|e| e.context("the x-pixstore-token header must win over ?token=").code("token"))
}

async fn invalid_header_hides_query(ctx: &Ctx) -> CheckResult {
    let f = fixture(ctx, 24).await?;
    let target = with_query(&image_target(ctx, &f.record.id), &format!("token={}", f.record.token));
    for header in ["abc", "", "+1"] {
        let mut headers = proof_header(&f.record);
        headers.push(("x-pixstore-token", header));
        let ex = get(ctx, &target, &headers).await?;
        expect_state(&ex, State::Updated).map_err(|e| {
            e.context(&format!(
                "x-pixstore-token: {header:?} is present, so ?token= (the current token) is ignored and the token is absent"
            ))
        })?;
    }
    Ok(())
}

async fn repeated_query_token(ctx: &Ctx) -> CheckResult {
    let f = fixture(ctx, 25).await?;
    let t = f.record.token;
    let target = with_query(&image_target(ctx, &f.record.id), &format!("token={t}&token={t}"));
    let ex = get(ctx, &target, &proof_header(&f.record)).await?;
    expect_state(&ex, State::Updated).map_err(|e| e.context("?token= twice (both current) counts as unparseable"))
}

async fn duplicate_token_headers(ctx: &Ctx) -> CheckResult {
    let f = fixture(ctx, 22).await?;
    let t = f.record.token.to_string();
    let mut headers = proof_header(&f.record);
    headers.push(("x-pixstore-token", t.as_str()));
    headers.push(("x-pixstore-token", t.as_str()));
    let ex = get(ctx, &image_target(ctx, &f.record.id), &headers).await?;
    expect_state(&ex, State::Updated)
}

fn increasing(tokens: &[u64], what: &str) -> CheckResult {
    for pair in tokens.windows(2) {
        if let [a, b] = pair {
            if b <= a {
                return Err(fail("token", format!("{what}: token {b} after {a}: tokens must strictly increase"))
                    .caused_by("TOKEN-2", "tokens do not strictly increase over the writes of one image"));
            }
        }
    }
    if let Some(t) = tokens.iter().find(|t| **t == 0 || **t > proto::token::MAX_TOKEN) {
        return Err(fail("token", format!("{what}: token {t} is outside 1..=2^53-1")));
    }
    Ok(())
}

async fn tokens_increase(ctx: &Ctx) -> CheckResult {
    let c = control(ctx)?;
    let image = png(400, 23);
    if ctx.target.clock().is_none() {
        // Without the clock two writes in one millisecond cannot be forced: rapid updates are
        // the best a suite can do, and a broken backend may pass by luck.
        let first = c.create(&image, None).await?;
        let mut tokens = vec![first.token.get()];
        for _ in 0..20 {
            tokens.push(c.update(&first.id, &image).await?.token.get());
        }
        return increasing(&tokens, "20 rapid updates");
    }
    let real = c.now().await?;
    // Frozen: every write happens in the same millisecond.
    ctx.target.set_clock(ClockSetting::Frozen(real)).await?;
    let first = c.create(&image, None).await?;
    let mut tokens = vec![first.token.get()];
    for _ in 0..10 {
        tokens.push(c.update(&first.id, &image).await?.token.get());
    }
    increasing(&tokens, "writes within one frozen millisecond")?;
    // A backward step of one hour (NTP, a VM restore): still increasing.
    ctx.target.set_clock(ClockSetting::Frozen(real.saturating_sub(3_600_000))).await?;
    for _ in 0..5 {
        tokens.push(c.update(&first.id, &image).await?.token.get());
    }
    increasing(&tokens, "writes after the clock stepped back one hour")?;
    // And the endpoint serves the last one as current.
    let last = c.fresh_record(&first.id).await?;
    let ex = fetch(ctx, &last, Some(&last.token.to_string())).await?;
    expect_state(&ex, State::Success).map_err(|e| e.context("the last record after the backward step"))
}
