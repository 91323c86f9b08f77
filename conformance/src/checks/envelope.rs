//! Spec §6: the image envelope and the format registry, seen from outside.

use proto::wire::State;

use super::{check, control, expect_image, expect_state, fetch, jpeg, open, png, Fixture};
use crate::{fail, fail_with, Check, CheckResult, Ctx, Stop};

pub(super) fn checks() -> Vec<Check> {
    vec![
        check!(
            "PXS-6.3-png-format-byte",
            "6.3",
            ["FMT-1", "ENV-1", "ENV-2", "ENV-4"],
            Must,
            AnyEndpoint,
            "a PNG decrypts to format byte 1 followed by the uploaded bytes",
            png_format_byte
        ),
        check!(
            "PXS-6.3-jpeg-format-byte",
            "6.3",
            ["FMT-4"],
            Should,
            AnyEndpoint,
            "a JPEG is labelled with byte 3 (jpg)",
            jpeg_format_byte
        ),
        check!(
            "PXS-6.1-fresh-key-per-write",
            "6.1",
            ["ENV-3"],
            Must,
            AnyEndpoint,
            "an update with the same bytes gets a new key and IV",
            fresh_key_per_write
        ),
        check!(
            "PXS-6.1-2mib-png",
            "6.1",
            ["ENV-1", "WIRE-3", "CTRL-2"],
            Must,
            AnyEndpoint,
            "a 2 MiB PNG is accepted (CTRL-2) and round-trips",
            two_mib_png
        ),
    ]
}

async fn png_format_byte(ctx: &Ctx) -> CheckResult {
    let c = control(ctx)?;
    let image = png(3000, 40);
    let record = c.create(&image, None).await?;
    let ex = fetch(ctx, &record, None).await?;
    expect_state(&ex, State::Updated)?;
    let (got, _, format) = open(&record, &ex)?;
    if format != 1 {
        return Err(fail_with("format", format!("a PNG must carry format byte 1, got {format}"), &ex));
    }
    expect_image(&Fixture { record, image: Some(image) }, &got, &ex)
}

async fn jpeg_format_byte(ctx: &Ctx) -> CheckResult {
    let c = control(ctx)?;
    let image = jpeg(3000, 41);
    let ex = c.create_raw(&image).await?;
    let announced = ctx.target.info.as_ref().is_some_and(|i| i.has_feature("jpeg"));
    if ex.status == 415 && !announced {
        return Err(Stop::Skip("the implementation does not accept JPEG uploads (415, no `jpeg` feature)".into()));
    }
    let record = proto::record::ImageRecord::from_json(&ex.body)
        .map_err(|e| fail_with("record", format!("create answered an invalid record: {e}"), &ex))?;
    let ex = fetch(ctx, &record, None).await?;
    let (_, _, format) = open(&record, &ex)?;
    if format != 3 {
        return Err(fail_with("format", format!("a JPEG should carry format byte 3 (jpg), got {format}"), &ex));
    }
    Ok(())
}

async fn fresh_key_per_write(ctx: &Ctx) -> CheckResult {
    let c = control(ctx)?;
    let image = png(900, 42);
    let first = c.create(&image, None).await?;
    let second = c.update(&first.id, &image).await?;
    if second.meta.key == first.meta.key || second.meta.iv == first.meta.iv {
        return Err(fail("key-reuse", "an update must use a fresh key and IV (ENV-3)"));
    }
    Ok(())
}

async fn two_mib_png(ctx: &Ctx) -> CheckResult {
    let c = control(ctx)?;
    let image = png(2 << 20, 43);
    let ex = c.create_raw(&image).await?;
    if ex.status != 201 {
        return Err(fail_with("status", format!("a 2 MiB PNG upload must be accepted (201), got {}", ex.status), &ex)
            .caused_by("CTRL-2", "the control interface refuses PNG images of 2 MiB"));
    }
    let record = proto::record::ImageRecord::from_json(&ex.body)
        .map_err(|e| fail_with("record", format!("create answered an invalid record: {e}"), &ex))?;
    let ex = fetch(ctx, &record, None).await?;
    expect_state(&ex, State::Updated)?;
    let (got, _, _) = open(&record, &ex)?;
    expect_image(&Fixture { record, image: Some(image) }, &got, &ex)
}
