//! Spec §4 and §9: states, layouts, Success vs Updated, the check order.

use std::time::{Duration, Instant};

use proto::wire::{State, UPDATED_HEADER_LEN};

use super::{check, control, expect_image, expect_state, fetch, fixture, get, image_target, open, png};
use crate::{fail, fail_with, transport, Check, CheckResult, Ctx};

pub(super) fn checks() -> Vec<Check> {
    vec![
        check!(
            "PXS-9.2-updated-without-token",
            "9.2",
            ["SERVE-2", "WIRE-3", "HTTP-4", "ENV-5"],
            Must,
            "no token: Updated with the record's token and meta, decrypting to the image",
            updated_without_token
        ),
        check!(
            "PXS-9.2-success-with-current-token",
            "9.2",
            ["SERVE-2", "WIRE-2", "CLIENT-4"],
            Must,
            "the current token: Success, decrypting with the record's meta",
            success_with_current_token
        ),
        check!(
            "PXS-9.2-updated-with-stale-token",
            "9.2",
            ["SERVE-2"],
            Must,
            "an older token: Updated",
            updated_with_stale_token
        ),
        check!(
            "PXS-9.1-missing-id",
            "9.1",
            ["SERVE-1", "HTTP-3", "WIRE-4"],
            Must,
            "the bare route answers MissingID (one byte, 200)",
            missing_id
        ),
        check!(
            "PXS-9.1-missing-proof",
            "9.1",
            ["SERVE-1", "PROOF-1", "WIRE-4"],
            Must,
            "no proof header, or an empty one: MissingProof",
            missing_proof
        ),
        check!(
            "PXS-9.1-no-existence-oracle",
            "9.1",
            ["SERVE-1", "SERVE-5"],
            Must,
            "an unknown id gets the same answers as a known one without a valid proof",
            no_existence_oracle
        ),
        check!(
            "PXS-9.1-not-found-after-delete",
            "9.1",
            ["SERVE-1", "CTRL-4"],
            Must,
            "a valid proof for a deleted image: NotFound",
            not_found_after_delete
        ),
        check!(
            "PXS-9.2-old-record-after-update",
            "9.2",
            ["SERVE-2", "CLIENT-4", "CTRL-3"],
            Must,
            "the old record after an update: Updated with the new token, decrypting to the new image",
            old_record_after_update
        ),
        check!(
            "PXS-9.2-consistent-under-concurrent-updates",
            "9.2",
            ["SERVE-3"],
            Must,
            "reads during updates always decrypt with their own metadata (3 s)",
            consistent_under_updates
        ),
    ]
}

async fn updated_without_token(ctx: &Ctx) -> CheckResult {
    let f = fixture(ctx, 1).await?;
    let ex = fetch(ctx, &f.record, None).await?;
    expect_state(&ex, State::Updated)?;
    if ex.body.len() <= UPDATED_HEADER_LEN {
        return Err(fail_with(
            "layout",
            "an Updated payload has a 69-byte header and at least one ciphertext byte",
            &ex,
        ));
    }
    let (image, token, _) = open(&f.record, &ex)?;
    if token != f.record.token.get() {
        return Err(fail_with(
            "token",
            format!("the Updated token {token} is not the record's {}", f.record.token),
            &ex,
        ));
    }
    if ex.body.get(9..69) != Some(&[&f.record.meta.key[..], &f.record.meta.iv[..], &f.record.meta.tag[..]].concat()[..])
    {
        return Err(fail_with("meta", "the Updated key, iv and tag are not the record's (same version)", &ex));
    }
    expect_image(&f, &image, &ex)
}

async fn success_with_current_token(ctx: &Ctx) -> CheckResult {
    let f = fixture(ctx, 2).await?;
    let ex = fetch(ctx, &f.record, Some(&f.record.token.to_string())).await?;
    expect_state(&ex, State::Success)?;
    let (image, _, _) = open(&f.record, &ex)?;
    expect_image(&f, &image, &ex)
}

async fn updated_with_stale_token(ctx: &Ctx) -> CheckResult {
    let f = fixture(ctx, 3).await?;
    let stale = f.record.token.get().saturating_sub(1).to_string();
    let ex = fetch(ctx, &f.record, Some(&stale)).await?;
    expect_state(&ex, State::Updated)
}

async fn missing_id(ctx: &Ctx) -> CheckResult {
    let route = ctx.target.endpoint.path.clone();
    for target in [route.clone(), format!("{route}/")] {
        let ex = get(ctx, &target, &[]).await?;
        expect_state(&ex, State::MissingId)?;
    }
    Ok(())
}

async fn missing_proof(ctx: &Ctx) -> CheckResult {
    let f = fixture(ctx, 4).await?;
    let target = image_target(ctx, &f.record.id);
    expect_state(&get(ctx, &target, &[]).await?, State::MissingProof)?;
    expect_state(&get(ctx, &target, &[("x-pixstore-proof", "")]).await?, State::MissingProof)
}

async fn no_existence_oracle(ctx: &Ctx) -> CheckResult {
    let f = fixture(ctx, 5).await?;
    let unknown = "Q29uZm9ybWFuY2VVbmtub3du";
    for (id, label) in [(f.record.id.as_str(), "a stored id"), (unknown, "an unknown id")] {
        let target = image_target(ctx, id);
        let ex = get(ctx, &target, &[]).await?;
        expect_state(&ex, State::MissingProof)
            .map_err(|_| fail_with("oracle", format!("{label} without a proof must be MissingProof"), &ex))?;
        let forged = "AQAAAAABAAABk3AR4ECOMxO_JgCtl6lZeKw46BLB";
        let ex = get(ctx, &target, &[("x-pixstore-proof", forged)]).await?;
        expect_state(&ex, State::InvalidProof)
            .map_err(|_| fail_with("oracle", format!("{label} with a forged proof must be InvalidProof"), &ex))?;
    }
    // A valid proof for the stored id presented for the unknown id: still InvalidProof.
    let ex = get(ctx, &image_target(ctx, unknown), &[("x-pixstore-proof", &f.record.stateless_proof)]).await?;
    if ctx.target.window_ms() != Some(-1) {
        expect_state(&ex, State::InvalidProof).map_err(|_| {
            fail_with("oracle", "an unknown id with another image's proof must be InvalidProof, not NotFound", &ex)
        })?;
    }
    Ok(())
}

async fn not_found_after_delete(ctx: &Ctx) -> CheckResult {
    let c = control(ctx)?;
    let record = c.create(&png(600, 6), None).await.map_err(transport)?;
    c.delete(&record.id).await.map_err(transport)?;
    let ex = fetch(ctx, &record, None).await?;
    expect_state(&ex, State::NotFound)
}

async fn old_record_after_update(ctx: &Ctx) -> CheckResult {
    let c = control(ctx)?;
    let old = c.create(&png(700, 7), None).await.map_err(transport)?;
    let new_image = png(800, 8);
    let new = c.update(&old.id, &new_image).await.map_err(transport)?;
    let ex = fetch(ctx, &old, Some(&old.token.to_string())).await?;
    expect_state(&ex, State::Updated)?;
    let (image, token, _) = open(&old, &ex)?;
    if token != new.token.get() {
        return Err(fail_with(
            "token",
            format!("Updated carries token {token}, the update returned {}", new.token),
            &ex,
        ));
    }
    if image != new_image {
        return Err(fail_with("image", "the old record now fetches bytes that are not the update's", &ex));
    }
    Ok(())
}

async fn consistent_under_updates(ctx: &Ctx) -> CheckResult {
    let c = control(ctx)?.clone();
    let versions: Vec<Vec<u8>> = (0..4).map(|i| png(5000 + i * 10, 900 + u64::try_from(i).unwrap_or(0))).collect();
    let first = c.create(versions.first().map_or(&[][..], Vec::as_slice), None).await.map_err(transport)?;
    let deadline = Instant::now() + Duration::from_secs(3);
    let writer = {
        let (c, versions, id) = (c.clone(), versions.clone(), first.id.clone());
        tokio::spawn(async move {
            let mut n = 0usize;
            while Instant::now() < deadline {
                let image = versions.get(n % versions.len()).cloned().unwrap_or_default();
                c.update(&id, &image).await?;
                n += 1;
            }
            Ok::<usize, String>(n)
        })
    };
    let mut reads = 0;
    while Instant::now() < deadline {
        let record = c.fresh_record(&first.id).await.map_err(transport)?;
        for token in [None, Some(record.token.to_string())] {
            let ex = fetch(ctx, &record, token.as_deref()).await?;
            let (image, _, _) = open(&record, &ex).map_err(|_| {
                fail_with("mismatch", "a response during updates does not decrypt with its own metadata", &ex)
            })?;
            if !versions.contains(&image) {
                return Err(fail_with("mismatch", "a response during updates decrypted to bytes never uploaded", &ex));
            }
            reads += 1;
        }
    }
    let updates = writer.await.map_err(|e| fail("harness", e.to_string()))?.map_err(transport)?;
    if updates == 0 || reads == 0 {
        return Err(fail("harness", format!("too little happened to judge: {updates} updates, {reads} reads")));
    }
    Ok(())
}
