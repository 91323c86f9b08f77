//! Spec §8: the stateless proof, seen from outside. With the control interface's clock
//! (CTRL-8) the timing checks are exact and take no time; without it they wait, with generous
//! margins.

use std::time::{Duration, Instant};

use proto::wire::State;

use super::{
    check, clock, control, expect_refused, expect_state, fetch, fixture, get, image_target, png, proof_bytes,
    proof_exp, unknown_id_state, validation_on, window,
};
use crate::target::ClockSetting;
use crate::{fail, fail_with, Check, CheckResult, Ctx, Stop};

pub(super) fn checks() -> Vec<Check> {
    vec![
        check!(
            "PXS-8.2-proof-text",
            "8.2",
            ["PROOF-2", "PROOF-3"],
            Must,
            AnyEndpoint,
            "a record's proof is 40 base64url characters: version 1, flags 0, a nonzero key id",
            proof_text
        ),
        check!(
            "PXS-8.2-non-canonical-spellings",
            "8.2",
            ["PROOF-3", "PROOF-7"],
            Must,
            AnyEndpoint,
            "other spellings of a valid proof (padding, standard alphabet, 39 or 41 characters, foreign characters): InvalidProof",
            non_canonical_spellings
        ),
        check!(
            "PXS-8.6-tampered-proof",
            "8.6",
            ["PROOF-4", "PROOF-7", "PROOF-8", "PROOF-10"],
            Must,
            AnyEndpoint,
            "a proof with one character changed: InvalidProof",
            tampered_proof
        ),
        check!(
            "PXS-8.7-proof-for-another-id",
            "8.7",
            ["PROOF-12"],
            Must,
            AnyEndpoint,
            "a valid proof of another image: InvalidProof",
            proof_for_another_id
        ),
        check!(
            "PXS-8.7-proof-bound-to-whole-id",
            "8.7",
            ["PROOF-4", "PROOF-12", "ID-1", "ID-4"],
            Must,
            AnyEndpoint,
            "dir:name's proof serves neither name, a prefix, a longer id, another dir nor the name in another case",
            proof_bound_to_whole_id
        ),
        check!(
            "PXS-8.5-proof-expires",
            "8.5",
            ["PROOF-6", "PROOF-9"],
            Must,
            AnyEndpoint,
            "a proof verifies W after minting and stops verifying by 2W + skew (clock feature: exact; else waits up to 2W + skew + 1 s)",
            proof_expires
        ),
        check!(
            "PXS-8.5-minted-expiry",
            "8.5",
            ["PROOF-2", "PROOF-6"],
            Must,
            AnyEndpoint,
            "a proof minted at now carries exp = (floor(now / W) + 2) * W (clock feature: exact at window edges; else within margins)",
            minted_expiry
        ),
        check!(
            "PXS-8.6-expiry-bounds",
            "8.6",
            ["PROOF-9", "CTRL-8"],
            Must,
            AnyEndpoint,
            "accepted at exp + skew, Expired at exp + skew + 1; accepted at exp = now + 2W + skew, ExpiryTooFar 1 ms earlier (clock feature)",
            expiry_bounds
        ),
        check!(
            "PXS-8.8-disabled-validation",
            "8.8",
            ["PROOF-14"],
            Must,
            AnyEndpoint,
            "with W = -1, no proof is needed and records carry an empty proof",
            disabled_validation
        ),
        check!(
            "PXS-8.4-fresh-record-verifies",
            "8.4",
            ["PROOF-5", "CTRL-5"],
            Must,
            AnyEndpoint,
            "a fresh record's proof verifies",
            fresh_record_verifies
        ),
    ]
}

async fn proof_text(ctx: &Ctx) -> CheckResult {
    validation_on(ctx)?;
    let f = fixture(ctx, 30).await?;
    match proof_bytes(&f.record)? {
        [1, 0, k0, k1, k2, k3, ..] if [k0, k1, k2, k3] != [0; 4] => Ok(()),
        _ => Err(fail("proof-format", "the proof's version byte must be 1, its flags 0 and its key id nonzero")
            .caused_by("PROOF-2", "proofs are not version 1 with flags 0 and a nonzero key id")),
    }
}

async fn non_canonical_spellings(ctx: &Ctx) -> CheckResult {
    validation_on(ctx)?;
    let f = fixture(ctx, 37).await?;
    let p = f.record.stateless_proof.clone();
    proof_bytes(&f.record)?;
    let (head, tail) = p.split_at(20);
    let mut spellings = vec![
        (format!("{p}="), "padded with ="),
        (format!("{p}=="), "padded with =="),
        (p.chars().take(39).collect::<String>(), "39 characters"),
        (format!("{p}A"), "41 characters"),
        (format!("{head}.{}", tail.get(1..).unwrap_or_default()), "a '.' inside"),
        (format!("{head} {tail}"), "a space inside"),
    ];
    let standard: String = p
        .chars()
        .map(|c| {
            if c == '-' {
                '+'
            } else if c == '_' {
                '/'
            } else {
                c
            }
        })
        .collect();
    if standard != p {
        spellings.push((standard, "the standard base64 alphabet (+ and /)"));
    }
    for (spelling, what) in &spellings {
        let ex = get(ctx, &image_target(ctx, &f.record.id), &[("x-pixstore-proof", spelling)]).await?;
        expect_refused(&ex, State::InvalidProof, "accepted", &format!("the valid proof spelled with {what}"))?;
    }
    Ok(())
}

async fn tampered_proof(ctx: &Ctx) -> CheckResult {
    validation_on(ctx)?;
    let f = fixture(ctx, 31).await?;
    let p = f.record.stateless_proof.clone();
    let len = p.chars().count();
    // Characters 0 (version), 2 (flags and key id), 4 (key id: an unknown kid, PROOF-10), 10
    // (expiry), the middle and the last (tag, PROOF-4).
    for at in [0, 2, 4, 10, len / 2, len.saturating_sub(1)] {
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
        expect_refused(&ex, State::InvalidProof, "accepted", &format!("a proof changed at character {at}"))?;
    }
    Ok(())
}

async fn proof_for_another_id(ctx: &Ctx) -> CheckResult {
    validation_on(ctx)?;
    let c = control(ctx)?;
    let a = c.create(&png(500, 32), None).await?;
    let b = c.create(&png(500, 33), None).await?;
    let ex = get(ctx, &image_target(ctx, &a.id), &[("x-pixstore-proof", &b.stateless_proof)]).await?;
    expect_refused(&ex, State::InvalidProof, "accepted", "a proof minted for another image")
}

fn flip_case(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_uppercase() { c.to_ascii_lowercase() } else { c.to_ascii_uppercase() }).collect()
}

async fn proof_bound_to_whole_id(ctx: &Ctx) -> CheckResult {
    let c = control(ctx)?;
    let record = c.create(&png(500, 38), Some("conformance")).await?;
    let (dir, name) = record
        .id
        .split_once(':')
        .ok_or_else(|| fail("id", format!("a dir prefix must give a dir:name id, got {:?}", record.id)))?;
    let mut variants = vec![
        (name.to_owned(), "the name without its dir"),
        (format!("{dir}:{}", name.get(..name.len().saturating_sub(1)).unwrap_or_default()), "a prefix of the id"),
        (format!("{}x", record.id), "the id with one more character"),
        (format!("other{dir}:{name}"), "the name under another dir"),
    ];
    if flip_case(name) != name {
        variants.push((format!("{dir}:{}", flip_case(name)), "the name in another case (ids are case-sensitive)"));
    }
    let want = unknown_id_state(ctx);
    let proof = super::proof_header(&record);
    for (id, what) in &variants {
        let ex = get(ctx, &image_target(ctx, id), &proof).await?;
        expect_refused(&ex, want, "accepted", &format!("{what} ({id:?}) with the proof of {:?}", record.id))?;
    }
    Ok(())
}

fn skew_reported(ctx: &Ctx) -> Option<u64> {
    ctx.target.info.as_ref().and_then(|i| i.skew_ms).map(|s| s.min(proto::proof::MAX_SKEW_MS))
}

async fn accepted_at(ctx: &Ctx, record: &proto::record::ImageRecord, at: u64) -> Result<bool, Stop> {
    ctx.target.set_clock(ClockSetting::Frozen(at)).await?;
    let ex = fetch(ctx, record, None).await?;
    match ex.body.first() {
        Some(1) if ex.status == 200 => Ok(true),
        Some(5) if ex.status == 200 && ex.body.len() == 1 => Ok(false),
        _ => expect_state(&ex, State::InvalidProof).map(|()| false).map_err(|e| e.context(&format!("at now = {at}"))),
    }
}

async fn proof_expires(ctx: &Ctx) -> CheckResult {
    let w = window(ctx)?;
    let c = control(ctx)?;
    let skew = skew_reported(ctx).unwrap_or(proto::proof::MAX_SKEW_MS);
    if let Ok(clock) = clock(ctx) {
        let t = clock.now().await?;
        ctx.target.set_clock(ClockSetting::Frozen(t)).await?;
        let record = c.create(&png(500, 34), None).await?;
        // PROOF-6: it lives more than W.
        if !accepted_at(ctx, &record, t + w).await? {
            return Err(fail("lifetime", format!("a proof minted at {t} no longer verifies W = {w} ms later"))
                .caused_by("PROOF-6", "proofs die before W"));
        }
        // PROOF-9: by 2W + skew after minting it has stopped.
        if accepted_at(ctx, &record, t + 2 * w + skew + 1).await? {
            return Err(fail(
                "accepted",
                format!("a proof minted at {t} still verifies 2W + skew + 1 ms later (W = {w} ms, skew {skew} ms)"),
            )
            .caused_by("PROOF-9", "proofs verify longer than 2W + skew"));
        }
        return Ok(());
    }
    if w > 60_000 {
        return Err(Stop::Skip(format!(
            "W = {w} ms and no clock feature: waiting 2W + skew would take too long (limit: W <= 60000 ms)"
        )));
    }
    // The mint happened between these two instants: the lower bound is judged from the first
    // and the upper bound from the second, so a slow request can never fail a correct server.
    let before = Instant::now();
    let record = c.create(&png(500, 34), None).await?;
    let minted = Instant::now();
    expect_state(&fetch(ctx, &record, None).await?, State::Updated)?;
    let deadline = minted + Duration::from_millis(2 * w + skew + 1_000);
    loop {
        tokio::time::sleep(Duration::from_millis((w / 4).clamp(50, 1000))).await;
        let ex = fetch(ctx, &record, None).await?;
        match ex.body.first() {
            Some(5) => {
                let lived = before.elapsed();
                // PROOF-6: a proof lives more than W.
                if lived < Duration::from_millis(w) {
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

async fn minted_expiry(ctx: &Ctx) -> CheckResult {
    let w = window(ctx)?;
    let c = control(ctx)?;
    if let Ok(clock) = clock(ctx) {
        let base = (clock.now().await? / w + 10) * w;
        let record = c.create(&png(500, 39), None).await?;
        for (t, what) in [
            (base, "a window's first millisecond"),
            (base + w - 1, "a window's last millisecond"),
            (base + w / 2, "mid-window"),
        ] {
            ctx.target.set_clock(ClockSetting::Frozen(t)).await?;
            let fresh = c.fresh_record(&record.id).await?;
            let exp = proof_exp(&fresh)?;
            let want = (t / w + 2) * w;
            if exp != want {
                return Err(fail(
                    "exp",
                    format!(
                        "minted at {t} ({what}, W = {w}): exp must be (floor(now/W)+2)*W = {want}, got {exp} ({})",
                        diff(exp, want)
                    ),
                )
                .caused_by("PROOF-6", "proofs are minted with the wrong exp"));
            }
        }
        return Ok(());
    }
    let before = unix_ms();
    let record = c.create(&png(500, 39), None).await?;
    let after = unix_ms();
    let exp = proof_exp(&record)?;
    if exp % w != 0 {
        return Err(fail("exp", format!("exp {exp} is not a multiple of W = {w} (PROOF-6)")));
    }
    // The suite's clock and the implementation's may differ: a margin of the skew plus 5 s.
    let margin = skew_reported(ctx).unwrap_or(proto::proof::MAX_SKEW_MS) + 5_000;
    if exp + margin <= before + w || exp > after + 2 * w + margin {
        return Err(fail(
            "exp",
            format!("exp {exp} is not between W and 2W after the mint (minted between {before} and {after}, W = {w}, margin {margin} ms)"),
        ));
    }
    Ok(())
}

fn diff(got: u64, want: u64) -> String {
    if got > want {
        format!("{} ms late", got - want)
    } else {
        format!("{} ms early", want - got)
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

async fn expiry_bounds(ctx: &Ctx) -> CheckResult {
    let w = window(ctx)?;
    let c = control(ctx)?;
    let clock = clock(ctx)?;
    let t = clock.now().await?;
    ctx.target.set_clock(ClockSetting::Frozen(t)).await?;
    let record = c.create(&png(500, 40), None).await?;
    let exp = proof_exp(&record)?;
    let skew = match skew_reported(ctx) {
        Some(s) => s,
        None => {
            // Not reported: find the largest accepted exp + s by bisection (the skew is at most
            // 60000 ms, PROOF-9).
            if accepted_at(ctx, &record, exp + proto::proof::MAX_SKEW_MS + 1).await? {
                return Err(fail("accepted", format!("a proof with exp {exp} still verifies 60001 ms after exp")));
            }
            let (mut lo, mut hi) = (0u64, proto::proof::MAX_SKEW_MS + 1);
            if !accepted_at(ctx, &record, exp).await? {
                return Err(fail(
                    "expired",
                    format!("a proof is Expired at now = exp = {exp} (PROOF-9: accepted until exp + skew)"),
                ));
            }
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if accepted_at(ctx, &record, exp + mid).await? {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            lo
        }
    };
    let bound = |what: &str, at: u64, want: bool| {
        fail(
            if want { "expired" } else { "accepted" },
            format!(
                "exp = {exp}, W = {w}, skew = {skew}: at now = {at} ({what}) the proof must be {}",
                if want { "accepted" } else { "rejected" }
            ),
        )
        .caused_by("PROOF-9", "proof expiry bounds are off")
    };
    if !accepted_at(ctx, &record, exp + skew).await? {
        return Err(bound("exp + skew", exp + skew, true));
    }
    if accepted_at(ctx, &record, exp + skew + 1).await? {
        return Err(bound("exp + skew + 1: Expired", exp + skew + 1, false));
    }
    let earliest = exp.saturating_sub(2 * w + skew);
    if !accepted_at(ctx, &record, earliest).await? {
        return Err(bound("exp = now + 2W + skew", earliest, true));
    }
    if accepted_at(ctx, &record, earliest.saturating_sub(1)).await? {
        return Err(bound("exp = now + 2W + skew + 1: ExpiryTooFar", earliest.saturating_sub(1), false));
    }
    Ok(())
}

async fn disabled_validation(ctx: &Ctx) -> CheckResult {
    if !ctx.target.validation_disabled() {
        return Err(Stop::Skip("proof validation is enabled (windowMs != -1)".into()));
    }
    let f = fixture(ctx, 35).await?;
    if !f.record.stateless_proof.is_empty() {
        return Err(fail("proof-format", "with W = -1 a record's statelessProof must be the empty string"));
    }
    let target = image_target(ctx, &f.record.id);
    expect_state(&get(ctx, &target, &[]).await?, State::Updated).map_err(|e| e.context("no proof, W = -1"))?;
    // A present proof is ignored (PROOF-14), whatever it is.
    let ex = get(ctx, &target, &[("x-pixstore-proof", "not-a-proof")]).await?;
    expect_state(&ex, State::Updated).map_err(|e| e.context("a present, invalid proof, W = -1"))
}

async fn fresh_record_verifies(ctx: &Ctx) -> CheckResult {
    let c = control(ctx)?;
    let first = c.create(&png(500, 36), None).await?;
    let fresh = c.fresh_record(&first.id).await?;
    if fresh.token != first.token || fresh.meta != first.meta {
        return Err(fail("record", "a fresh record of an unchanged image must carry the same token and meta"));
    }
    expect_state(&fetch(ctx, &fresh, Some(&fresh.token.to_string())).await?, State::Success)
}
