//! Spec §8: the stateless proof, seen from outside.

use std::time::{Duration, Instant};

use proto::wire::State;

use super::{check, control, expect_state, fetch, fixture, get, image_target, png};
use crate::{fail, fail_with, transport, Check, CheckResult, Ctx, Stop};

pub(super) fn checks() -> Vec<Check> {
    vec![
        check!(
            "PXS-8.2-proof-text",
            "8.2",
            ["PROOF-2", "PROOF-3"],
            Must,
            "a record's proof is 40 base64url characters: version 1, flags 0, a nonzero key id",
            proof_text
        ),
        check!(
            "PXS-8.6-tampered-proof",
            "8.6",
            ["PROOF-4", "PROOF-7", "PROOF-8", "PROOF-10"],
            Must,
            "a proof with one character changed: InvalidProof",
            tampered_proof
        ),
        check!(
            "PXS-8.7-proof-for-another-id",
            "8.7",
            ["PROOF-12"],
            Must,
            "a valid proof of another image: InvalidProof",
            proof_for_another_id
        ),
        check!(
            "PXS-8.5-proof-expires",
            "8.5",
            ["PROOF-6", "PROOF-9"],
            Must,
            "a proof stops verifying between W and 2W + skew after minting (waits up to 2W + skew + 1 s; W, skew from /info)",
            proof_expires
        ),
        check!(
            "PXS-8.8-disabled-validation",
            "8.8",
            ["PROOF-14"],
            Must,
            "with W = -1, no proof is needed and records carry an empty proof",
            disabled_validation
        ),
        check!(
            "PXS-8.4-fresh-record-verifies",
            "8.4",
            ["PROOF-5", "CTRL-5"],
            Must,
            "a fresh record's proof verifies",
            fresh_record_verifies
        ),
    ]
}

fn validation_on(ctx: &Ctx) -> Result<(), Stop> {
    if ctx.target.window_ms() == Some(-1) {
        return Err(Stop::Skip("proof validation is disabled (windowMs = -1)".into()));
    }
    Ok(())
}

async fn proof_text(ctx: &Ctx) -> CheckResult {
    validation_on(ctx)?;
    let f = fixture(ctx, 30).await?;
    let p = &f.record.stateless_proof;
    let ok_chars = p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if p.len() != proto::proof::PROOF_TEXT_LEN || !ok_chars {
        return Err(fail(
            "proof-format",
            format!(
                "the record's proof {:?}... is not 40 characters of unpadded base64url",
                p.chars().take(12).collect::<String>()
            ),
        ));
    }
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(p)
        .map_err(|_| fail("proof-format", "the proof does not decode as base64url"))?;
    match bytes.as_slice() {
        [1, 0, k0, k1, k2, k3, ..] if [*k0, *k1, *k2, *k3] != [0; 4] => Ok(()),
        _ => Err(fail("proof-format", "the proof's version byte must be 1, its flags 0 and its key id nonzero")),
    }
}

async fn tampered_proof(ctx: &Ctx) -> CheckResult {
    validation_on(ctx)?;
    let f = fixture(ctx, 31).await?;
    let p = f.record.stateless_proof.clone();
    let len = p.chars().count();
    // Characters 0 (version), 4 (key id: an unknown kid, PROOF-10), 10 (expiry), the middle and
    // the last (tag, PROOF-4).
    for at in [0, 4, 10, len / 2, len.saturating_sub(1)] {
        let tampered: String = p
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i == at {
                    if c == 'A' {
                        'B'
                    } else {
                        'A'
                    }
                } else {
                    c
                }
            })
            .collect();
        let ex = get(ctx, &image_target(ctx, &f.record.id), &[("x-pixstore-proof", &tampered)]).await?;
        expect_state(&ex, State::InvalidProof).map_err(|_| {
            fail_with("accepted", format!("a proof changed at character {at} must be InvalidProof"), &ex)
        })?;
    }
    Ok(())
}

async fn proof_for_another_id(ctx: &Ctx) -> CheckResult {
    validation_on(ctx)?;
    let c = control(ctx)?;
    let a = c.create(&png(500, 32), None).await.map_err(transport)?;
    let b = c.create(&png(500, 33), None).await.map_err(transport)?;
    let ex = get(ctx, &image_target(ctx, &a.id), &[("x-pixstore-proof", &b.stateless_proof)]).await?;
    expect_state(&ex, State::InvalidProof)
        .map_err(|_| fail_with("accepted", "a proof minted for another image must be InvalidProof", &ex))
}

async fn proof_expires(ctx: &Ctx) -> CheckResult {
    let w = match ctx.target.window_ms() {
        None => return Err(Stop::Skip("needs the window from the control interface's /info".into())),
        Some(-1) => return Err(Stop::Skip("proof validation is disabled (windowMs = -1)".into())),
        Some(w) => u64::try_from(w).unwrap_or(u64::MAX),
    };
    if w > 60_000 {
        return Err(Stop::Skip(format!("W = {w} ms: waiting 2W + skew would take too long (limit: W <= 60000 ms)")));
    }
    let c = control(ctx)?;
    let record = c.create(&png(500, 34), None).await.map_err(transport)?;
    let minted = Instant::now();
    // Valid at once (PROOF-6: it lives more than W).
    expect_state(&fetch(ctx, &record, None).await?, State::Updated)?;
    // PROOF-9: accepted until exp + skew <= mint + 2W + skew; the skew is at most 60 s, or what
    // /info reports.
    let skew = ctx
        .target
        .info
        .as_ref()
        .and_then(|i| i.skew_ms)
        .unwrap_or(proto::proof::MAX_SKEW_MS)
        .min(proto::proof::MAX_SKEW_MS);
    let deadline = minted + Duration::from_millis(2 * w + skew + 1_000);
    loop {
        tokio::time::sleep(Duration::from_millis((w / 4).clamp(50, 1000))).await;
        let ex = fetch(ctx, &record, None).await?;
        match ex.body.first() {
            Some(5) => {
                let lived = minted.elapsed();
                // PROOF-6: a proof lives more than W (minus the request's own latency).
                if lived + Duration::from_millis(250) < Duration::from_millis(w) {
                    return Err(fail_with(
                        "lifetime",
                        format!("the proof stopped verifying after {lived:?}, before W = {w} ms"),
                        &ex,
                    ));
                }
                return Ok(());
            }
            Some(1) if Instant::now() < deadline => continue,
            Some(1) => {
                return Err(fail_with(
                    "accepted",
                    format!(
                        "the proof still verifies {:?} after minting (W = {w} ms, skew {skew} ms)",
                        minted.elapsed()
                    ),
                    &ex,
                ))
            }
            _ => return expect_state(&ex, State::InvalidProof),
        }
    }
}

async fn disabled_validation(ctx: &Ctx) -> CheckResult {
    if ctx.target.window_ms() != Some(-1) {
        return Err(Stop::Skip("proof validation is enabled (windowMs != -1)".into()));
    }
    let f = fixture(ctx, 35).await?;
    if !f.record.stateless_proof.is_empty() {
        return Err(fail("proof-format", "with W = -1 a record's statelessProof must be the empty string"));
    }
    let ex = get(ctx, &image_target(ctx, &f.record.id), &[]).await?;
    expect_state(&ex, State::Updated)
}

async fn fresh_record_verifies(ctx: &Ctx) -> CheckResult {
    let c = control(ctx)?;
    let first = c.create(&png(500, 36), None).await.map_err(transport)?;
    let fresh = c.fresh_record(&first.id).await.map_err(transport)?;
    if fresh.token != first.token || fresh.meta != first.meta {
        return Err(fail("record", "a fresh record of an unchanged image must carry the same token and meta"));
    }
    expect_state(&fetch(ctx, &fresh, Some(&fresh.token.to_string())).await?, State::Success)
}
