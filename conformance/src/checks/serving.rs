//! Spec §4 and §9: states, layouts, Success vs Updated, the check order.

use std::time::{Duration, Instant};

use proto::wire::{State, UPDATED_HEADER_LEN};

use super::{
    check, control, describe, expect_image, expect_state, fetch, fixture, get, image_target, open, png, proof_header,
    validation_on,
};
use crate::{fail, fail_with, transport, Check, CheckResult, Ctx, Stop};

pub(super) fn checks() -> Vec<Check> {
    vec![
        check!(
            "PXS-9.2-updated-without-token",
            "9.2",
            ["SERVE-2", "WIRE-3", "HTTP-4", "ENV-5"],
            Must,
            AnyEndpoint,
            "no token: Updated with the record's token and meta, decrypting to the image",
            updated_without_token
        ),
        check!(
            "PXS-9.2-success-with-current-token",
            "9.2",
            ["SERVE-2", "WIRE-2", "CLIENT-4"],
            Must,
            AnyEndpoint,
            "the current token: Success, decrypting with the record's meta",
            success_with_current_token
        ),
        check!(
            "PXS-9.2-updated-with-stale-token",
            "9.2",
            ["SERVE-2"],
            Must,
            AnyEndpoint,
            "an older token: Updated",
            updated_with_stale_token
        ),
        check!(
            "PXS-9.1-missing-id",
            "9.1",
            ["SERVE-1", "HTTP-3", "WIRE-4"],
            Must,
            DefaultEndpoint,
            "the bare route answers MissingID (one byte, 200)",
            missing_id
        ),
        check!(
            "PXS-9.2-updated-with-other-tokens",
            "9.2",
            ["SERVE-2", "TOKEN-1"],
            Must,
            AnyEndpoint,
            "a newer token, MAX_TOKEN and 0: Updated (Success only for the equal token)",
            updated_with_other_tokens
        ),
        check!(
            "PXS-9-refuses-without-headers",
            "9",
            ["SERVE-1"],
            Info,
            AnyEndpoint,
            "with its --header values removed, a custom endpoint refuses (informative)",
            refuses_without_headers
        ),
        check!(
            "PXS-9.1-missing-proof",
            "9.1",
            ["SERVE-1", "PROOF-1", "WIRE-4"],
            Must,
            AnyEndpoint,
            "no proof header, or an empty one: MissingProof",
            missing_proof
        ),
        check!(
            "PXS-9.1-no-existence-oracle",
            "9.1",
            ["SERVE-1", "SERVE-5"],
            Must,
            AnyEndpoint,
            "an unknown id gets the same answers as a known one without a valid proof",
            no_existence_oracle
        ),
        check!(
            "PXS-9.1-not-found-after-delete",
            "9.1",
            ["SERVE-1", "CTRL-4"],
            Must,
            AnyEndpoint,
            "a valid proof for a deleted image: NotFound",
            not_found_after_delete
        ),
        check!(
            "PXS-9.2-old-record-after-update",
            "9.2",
            ["SERVE-2", "CLIENT-4", "CTRL-3"],
            Must,
            AnyEndpoint,
            "the old record after an update: Updated with the new token, decrypting to the new image",
            old_record_after_update
        ),
        check!(
            "PXS-9.2-consistent-under-concurrent-updates",
            "9.2",
            ["SERVE-3"],
            Must,
            AnyEndpoint,
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

async fn updated_with_other_tokens(ctx: &Ctx) -> CheckResult {
    let f = fixture(ctx, 9).await?;
    let current = f.record.token.get();
    let mut tokens = vec!["0".to_owned(), proto::token::MAX_TOKEN.to_string()];
    if current < proto::token::MAX_TOKEN {
        tokens.insert(0, (current + 1).to_string());
    }
    for t in tokens.iter().filter(|t| **t != current.to_string()) {
        let ex = fetch(ctx, &f.record, Some(t)).await?;
        expect_state(&ex, State::Updated).map_err(|e| {
            e.context(&format!("token {t} (the current one is {current}): only the equal token is Success"))
        })?;
    }
    Ok(())
}

async fn refuses_without_headers(ctx: &Ctx) -> CheckResult {
    if ctx.target.headers.is_empty() {
        return Err(Stop::Skip("no --header given: nothing to remove".into()));
    }
    let f = fixture(ctx, 10).await?;
    let ex = ctx
        .target
        .send("GET", &image_target(ctx, &f.record.id), &proof_header(&f.record), false)
        .await
        .map_err(transport)?;
    if ex.status == 200 && matches!(ex.body.first(), Some(0 | 1)) {
        return Err(fail_with(
            "served",
            "without the --header values the endpoint still serves the image: is the authentication in front of it on?",
            &ex,
        ));
    }
    // Refused: by status (403, 401, ...) or by an answer that is no image. Either is the app's
    // business (spec §9: refusals before the serving logic are outside the protocol).
    let _ = describe(&ex);
    Ok(())
}

async fn missing_id(ctx: &Ctx) -> CheckResult {
    let route = ctx.target.endpoint.route().to_owned();
    for target in [route.clone(), format!("{route}/")] {
        let ex = get(ctx, &target, &[]).await?;
        expect_state(&ex, State::MissingId)?;
    }
    Ok(())
}

async fn missing_proof(ctx: &Ctx) -> CheckResult {
    validation_on(ctx)?;
    let f = fixture(ctx, 4).await?;
    let target = image_target(ctx, &f.record.id);
    expect_state(&get(ctx, &target, &[]).await?, State::MissingProof)?;
    expect_state(&get(ctx, &target, &[("x-pixstore-proof", "")]).await?, State::MissingProof)
}

async fn no_existence_oracle(ctx: &Ctx) -> CheckResult {
    if ctx.target.validation_disabled() {
        return Err(Stop::Skip(
            "proof validation is disabled (windowMs = -1): NotFound then reveals existence by design (spec §12.9)"
                .into(),
        ));
    }
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
    expect_state(&ex, State::InvalidProof).map_err(|_| {
        fail_with("oracle", "an unknown id with another image's proof must be InvalidProof, not NotFound", &ex)
    })
}

async fn not_found_after_delete(ctx: &Ctx) -> CheckResult {
    let c = control(ctx)?;
    let record = c.create(&png(600, 6), None).await?;
    c.delete(&record.id).await?;
    let ex = fetch(ctx, &record, None).await?;
    expect_state(&ex, State::NotFound)
}

async fn old_record_after_update(ctx: &Ctx) -> CheckResult {
    let c = control(ctx)?;
    let old = c.create(&png(700, 7), None).await?;
    let new_image = png(800, 8);
    let new = c.update(&old.id, &new_image).await?;
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
    let first = c.create(versions.first().map_or(&[][..], Vec::as_slice), None).await?;
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
            Ok::<usize, Stop>(n)
        })
    };
    let mut reads = 0;
    while Instant::now() < deadline {
        let record = c.fresh_record(&first.id).await?;
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
    let updates = writer.await.map_err(|e| fail("harness", e.to_string()))??;
    if updates == 0 || reads == 0 {
        return Err(fail("harness", format!("too little happened to judge: {updates} updates, {reads} reads")));
    }
    Ok(())
}
