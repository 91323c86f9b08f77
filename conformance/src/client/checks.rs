//! The client checks. Every id is `PXC-<spec section>-<slug>`, stable and never reused for
//! another meaning (retired ids go to `conformance/retired-ids.txt`, as for the endpoint checks).
//!
//! Each check plays one scenario against the client through its adapter and judges what the
//! client did: what reached the hostile endpoint (every request is recorded), what the get-image
//! call returned, and what the cache holds afterwards. A failure code names what went wrong
//! (`requested`, `cached`, `kind`, `proof-leaked`, ...), so that a known-failing list notices a
//! check that starts failing for another reason.

use std::time::Duration;

use proto::format::Format;
use proto::token::MAX_TOKEN;
use proto::wire::State;
use serde_json::{json, Value};

use super::adapter::{ErrorOut, Outcome};
use super::endpoint::{Reply, Side, Version, CUSTOM_ROUTE, ROUTE};
use super::{ClientCtx, Img, Scenario, DEFAULT_LIMITS};
use crate::{fail, Check, CheckResult, Stop};

/// Registers an `async fn(&ClientCtx) -> CheckResult` as a client check; the context learns
/// which check runs (its CLIENT-2 scan findings are reported under this id).
macro_rules! client_check {
    ($id:literal, $section:literal, [$($req:literal),+ $(,)?], $level:ident, $title:literal, $f:path) => {
        Check::<ClientCtx> {
            id: $id,
            section: $section,
            requirements: &[$($req),+],
            level: $crate::Level::$level,
            profile: $crate::Profile::Client,
            title: $title,
            run: |ctx| {
                Box::pin(async move {
                    ctx.begin($id);
                    $f(ctx).await
                })
            },
        }
    };
}

/// Every client check, in the order they run: the quick ones first, then eviction, then the
/// ones that wait (hold, hang), and the CLIENT-2 report last, after every other scan.
pub fn all() -> Vec<Check<ClientCtx>> {
    vec![
        client_check!("PXC-11.4-request-carries-proof-and-token", "11.4", ["CLIENT-8", "TOKEN-8", "PROOF-1", "TOKEN-5"], Must,
            "a miss sends one GET to {route}/{percent-encoded id} with the record's proof verbatim and its token as canonical text",
            request_carries_proof_and_token),
        client_check!("PXC-11.4-record-token-not-cached-token", "11.4", ["TOKEN-8", "CLIENT-8", "CLIENT-1"], Must,
            "with an older version cached, the request carries the record's token, not the cached one",
            record_token_not_cached_token),
        client_check!("PXC-11.4-empty-proof-omitted", "11.4", ["CLIENT-8", "PROOF-14"], Must,
            "a record whose statelessProof is \"\" is requested without an x-pixstore-proof header",
            empty_proof_omitted),
        client_check!("PXC-11.4-custom-fetcher-gets-context", "11.4", ["CLIENT-8"], Must,
            "a custom fetcher receives the record and the call's context (here: an Authorization header for a custom route)",
            custom_fetcher_gets_context),
        client_check!("PXC-11.1-cache-hit-sends-nothing", "11.1", ["CLIENT-1"], Must,
            "a second get of the same record (also with another proof) is served from the cache without any request",
            cache_hit_sends_nothing),
        client_check!("PXC-11.2-updated-metadata-used-and-cached", "11.2", ["CLIENT-4", "SERVE-2", "TOKEN-8"], Must,
            "a stale record gets Updated: the payload's key decrypts, and the new version is cached under the payload's token",
            updated_metadata_used_and_cached),
        client_check!("PXC-11.1-same-token-other-payload", "11.1", ["CLIENT-1", "CLIENT-4", "ENV-5"], Must,
            "a cached entry that no longer decrypts with the record's meta (another payload under the same token) is discarded and refetched",
            same_token_other_payload),
        client_check!("PXC-11.1-tampered-ciphertext-not-cached", "11.1", ["CLIENT-3", "ENV-5"], Must,
            "a Success whose ciphertext has one flipped byte is an Authentication error and nothing is cached",
            tampered_ciphertext_not_cached),
        client_check!("PXC-11.1-tampered-tag-not-cached", "11.1", ["CLIENT-3", "ENV-5", "ENV-4"], Must,
            "an Updated whose tag has one flipped byte is an Authentication error and nothing is cached",
            tampered_tag_not_cached),
        client_check!("PXC-11.1-previous-entry-survives", "11.1", ["CLIENT-3", "CLIENT-5"], Must,
            "after failed fetches of a newer version (tampered, truncated, InternalError, HTTP 500) the cached version still answers",
            previous_entry_survives),
        client_check!("PXC-11.2-error-states-reach-the-caller", "11.2", ["CLIENT-5"], Must,
            "NotFound, MissingID, MissingProof, InvalidProof and InternalError each reach the caller as that state; the cache is unchanged",
            error_states_reach_the_caller),
        client_check!("PXC-11.2-malformed-payloads-rejected", "11.2", ["CLIENT-5", "CLIENT-3", "WIRE-5", "WIRE-6", "WIRE-7", "WIRE-8", "WIRE-9", "WIRE-10"], Must,
            "truncated, trailing, reserved, unassigned and out-of-range payloads are decode errors of their kind and nothing is cached",
            malformed_payloads_rejected),
        client_check!("PXC-11.2-fetch-failures-typed", "11.2", ["CLIENT-5", "HTTP-4"], Must,
            "an answer with HTTP 404 or 500 (not a wire payload) is a fetch error and nothing is cached",
            fetch_failures_typed),
        client_check!("PXC-6.2-unknown-format-not-cached", "6.2", ["FMT-2", "ENV-5", "CLIENT-3"], Must,
            "a ciphertext that authenticates but has format byte 0 or 11 is an UnknownFormat error and nothing is cached",
            unknown_format_not_cached),
        client_check!("PXC-6.3-registry-mime-types", "6.3", ["FMT-1", "FMT-3", "FMT-4"], Must,
            "every format byte of the registry gives the registry's MIME type (image/jpeg for both 3 and 4)",
            registry_mime_types),
        client_check!("PXC-7.3-invalid-record-sends-nothing", "7.3", ["REC-6", "REC-2", "REC-3", "REC-4"], Must,
            "an invalid record is a record error of its kind, and nothing is requested or cached",
            invalid_record_sends_nothing),
        client_check!("PXC-11.3-evicts-lru-at-limit", "11.3", ["CLIENT-6", "CLIENT-7"], Must,
            "limit 4, batch 2: the fifth image evicts the three least recently used (a hit counts as a use), leaving two",
            evicts_lru_at_limit),
        client_check!("PXC-11.3-batch-zero-evicts-one", "11.3", ["CLIENT-6"], Must,
            "limit 3, batch 0: each image beyond the limit evicts exactly the least recently used one",
            batch_zero_evicts_one),
        client_check!("PXC-11.3-eviction-survives-failures", "11.3", ["CLIENT-6", "CLIENT-3"], Must,
            "limit 3, batch 1, with failed gets in between: eviction keeps its arithmetic, failures never count as entries",
            eviction_survives_failures),
        client_check!("PXC-11.6-redirect-keeps-proof-home", "11.6", ["CLIENT-10", "PROOF-1"], Must,
            "a redirect to another host never carries the proof there",
            redirect_keeps_proof_home),
        client_check!("PXC-11.6-payload-size-bounded", "11.6", ["CLIENT-9", "CLIENT-3"], Should,
            "with maxPayloadBytes 1 MiB, a valid 4 MiB payload (with and without Content-Length) is refused and nothing is cached",
            payload_size_bounded),
        client_check!("PXC-11.6-concurrent-gets-share-one-fetch", "11.6", ["CLIENT-11"], Should,
            "four concurrent gets of one record send one request and all get the image",
            concurrent_gets_share_one_fetch),
        client_check!("PXC-11.6-hung-endpoint-times-out", "11.6", ["CLIENT-12", "CLIENT-3"], Should,
            "an endpoint that never answers gives a fetch error within the fetch bound, and the cached version survives",
            hung_endpoint_times_out),
        client_check!("PXC-11.1-no-key-material-in-cache", "11.1", ["CLIENT-2"], Must,
            "after every scenario (and after Success and Updated here) no key, IV or tag of any served version is in the cache",
            no_key_material_in_cache),
    ]
}

// ---- judging ----------------------------------------------------------------------------

fn requests_text(seen: &[super::endpoint::Seen]) -> String {
    if seen.is_empty() {
        return "no request".into();
    }
    seen.iter().map(super::endpoint::Seen::line).collect::<Vec<_>>().join("; ")
}

/// The outcome is the image `img`.
fn expect_image(out: &Outcome, img: &Img, what: &str) -> CheckResult {
    match (&out.image, &out.error) {
        (Some(i), _) if out.ok => {
            if i.sha256.eq_ignore_ascii_case(&img.sha256) {
                Ok(())
            } else {
                Err(fail(
                    "image",
                    format!("{what}: the client returned an image with SHA-256 {} instead of {}", i.sha256, img.sha256),
                ))
            }
        }
        _ => Err(fail("error", format!("{what}: expected the image, the client gave {}", out.summary()))),
    }
}

/// The outcome is an error of `kind` whose detail (when the client names it) is `detail`.
/// Codes: `accepted` (an image), `kind` (another kind or detail), `unnamed` (the detail is null).
fn expect_error(out: &Outcome, kind: &str, detail: Option<&str>, what: &str) -> Result<ErrorOut, Stop> {
    if out.ok {
        return Err(fail("accepted", format!("{what}: expected a {kind} error, the client gave {}", out.summary())));
    }
    let Some(e) = out.error.clone() else {
        return Err(fail(
            "adapter",
            format!("{what}: the adapter reported a failure without an error object (spec Appendix C.4)"),
        ));
    };
    if e.kind != kind {
        return Err(fail(
            "kind",
            format!(
                "{what}: expected a {kind} error{}, got {}",
                detail.map(|d| format!(" ({d})")).unwrap_or_default(),
                e.describe()
            ),
        ));
    }
    if let Some(want) = detail {
        let got = match kind {
            "record" => e.record_kind.as_deref(),
            "state" => e.state.as_deref(),
            "decode" => e.decode_kind.as_deref(),
            "envelope" => e.envelope_kind.as_deref(),
            "fetch" => e.fetch_kind.as_deref(),
            _ => None,
        };
        match got {
            Some(g) if g == want => {}
            Some(_) => return Err(fail("kind", format!("{what}: expected {kind} {want}, got {}", e.describe()))),
            None => {
                return Err(fail(
                    "unnamed",
                    format!("{what}: a {kind} error, but the client does not say which ({want} expected; CLIENT-5: errors are typed and named): {}", e.describe()),
                ))
            }
        }
    }
    Ok(e)
}

/// Exactly `n` GETs of `id` reached the endpoint since `before` requests of it.
fn expect_gets(s: &Scenario<'_>, id: &str, before: usize, n: usize, code: &'static str, what: &str) -> CheckResult {
    let gets = s.endpoint().gets_for(id);
    let new: Vec<_> = gets.into_iter().skip(before).collect();
    if new.len() != n {
        return Err(fail(
            code,
            format!(
                "{what}: expected {n} request(s) for {id}, the endpoint got {}: {}",
                new.len(),
                requests_text(&new)
            ),
        ));
    }
    Ok(())
}

/// Nothing at all reached the endpoint since it had `before` requests.
fn expect_silence(s: &Scenario<'_>, before: usize, code: &'static str, what: &str) -> CheckResult {
    let log = s.endpoint().log();
    let new: Vec<_> = log.into_iter().skip(before).collect();
    if !new.is_empty() {
        return Err(fail(
            code,
            format!("{what}: expected no request at all, the endpoint got {}: {}", new.len(), requests_text(&new)),
        ));
    }
    Ok(())
}

/// The cache has no entry for `id` (asked with `cached`).
async fn expect_not_cached(s: &Scenario<'_>, id: &str, what: &str) -> CheckResult {
    if s.cached(id).await? {
        return Err(fail(
            "cached",
            format!("{what}: the cache has an entry for {id} afterwards (CLIENT-3: nothing is cached on a failure)"),
        ));
    }
    Ok(())
}

/// A get of `record` is answered from the cache with `img`, sending nothing.
async fn expect_hit(
    s: &Scenario<'_>,
    record: &proto::record::ImageRecord,
    img: &Img,
    code: &'static str,
    what: &str,
) -> CheckResult {
    let before = s.endpoint().log().len();
    let out = s.get(record).await?;
    expect_silence(s, before, code, what)?;
    expect_image(&out, img, what).map_err(|e| e.code(code))
}

/// The path the client must request for `id` (default route or the template's).
fn expected_path(s: &Scenario<'_>, id: &str) -> String {
    let encoded = crate::target::encode(id);
    if s.template {
        format!("{CUSTOM_ROUTE}/{encoded}")
    } else {
        format!("{ROUTE}/{encoded}")
    }
}

/// One request's path and Pixstore headers are what CLIENT-8 says for `record`.
fn judge_request(s: &Scenario<'_>, seen: &super::endpoint::Seen, record: &proto::record::ImageRecord) -> CheckResult {
    let path = seen.target.split('?').next().unwrap_or("");
    let want = expected_path(s, &record.id);
    let decoded = path.rsplit('/').next().and_then(proto::http::percent_decode).map(|c| c.into_owned());
    if decoded.as_deref() != Some(record.id.as_str()) || !path.eq_ignore_ascii_case(&want) {
        return Err(fail(
            "target",
            format!(
                "the client requested {}, expected {want} (CLIENT-8: the id percent-encoded, `:` as %3A)",
                seen.target
            ),
        ));
    }
    if s.template && !seen.target.ends_with("?via=template") {
        return Err(fail(
            "target",
            format!(
                "the custom fetcher requested {}, not the template's URL (its query ?via=template is missing)",
                seen.target
            ),
        ));
    }
    let proofs = seen.values(proto::http::PROOF_HEADER);
    if proofs != [record.stateless_proof.as_str()] {
        return Err(fail(
            "proof",
            format!("x-pixstore-proof was {proofs:?}, expected exactly the record's statelessProof {:?} (PROOF-1: sent verbatim, once)", record.stateless_proof),
        ));
    }
    let tokens = seen.values(proto::http::TOKEN_HEADER);
    let want_token = record.token.to_string();
    if tokens != [want_token.as_str()] {
        return Err(fail(
            "token",
            format!("x-pixstore-token was {tokens:?}, expected exactly {want_token:?} (TOKEN-8: the record's token; TOKEN-5: canonical decimal text)"),
        ));
    }
    Ok(())
}

// ---- §11.4 requests ---------------------------------------------------------------------

async fn request_carries_proof_and_token(ctx: &ClientCtx) -> CheckResult {
    let s = ctx.start(DEFAULT_LIMITS).await?;
    let img = s.stored("img");
    let record = s.record(&img);
    let out = s.get(&record).await?;
    let gets = s.endpoint().gets_for(&img.id);
    let [seen] = gets.as_slice() else {
        return Err(fail(
            "requests",
            format!("expected one request, the endpoint got {}: {}", gets.len(), requests_text(&gets)),
        ));
    };
    if seen.side != Side::Primary {
        return Err(fail("target", format!("the request went to the other host: {}", seen.line())));
    }
    judge_request(&s, seen, &record)?;
    expect_image(&out, &img, "the first get")
}

async fn record_token_not_cached_token(ctx: &ClientCtx) -> CheckResult {
    let s = ctx.start(DEFAULT_LIMITS).await?;
    let v1 = s.stored("img");
    let r1 = s.record(&v1);
    expect_image(&s.get(&r1).await?, &v1, "version 1")?;
    let v2 = s.next_version(&v1, 2100);
    s.publish(&v2);
    let r2 = s.record(&v2);
    let before = s.endpoint().gets_for(&v1.id).len();
    let out = s.get(&r2).await?;
    expect_gets(&s, &v1.id, before, 1, "requests", "version 2's record (version 1 cached)")?;
    let gets = s.endpoint().gets_for(&v1.id);
    if let Some(seen) = gets.get(before) {
        let tokens = seen.values(proto::http::TOKEN_HEADER);
        if tokens == [v1.version.token.to_string().as_str()] {
            return Err(fail(
                "token",
                format!(
                    "the request carried the cached entry's token {} instead of the record's {} (TOKEN-8)",
                    v1.version.token, v2.version.token
                ),
            ));
        }
        judge_request(&s, seen, &r2)?;
    }
    expect_image(&out, &v2, "version 2")
}

async fn empty_proof_omitted(ctx: &ClientCtx) -> CheckResult {
    let s = ctx.start(DEFAULT_LIMITS).await?;
    let img = s.stored("img");
    let mut record = s.record(&img);
    record.stateless_proof = String::new();
    s.endpoint().accept_proof(&img.id, "");
    let out = s.get(&record).await?;
    let gets = s.endpoint().gets_for(&img.id);
    let [seen] = gets.as_slice() else {
        return Err(fail(
            "requests",
            format!("expected one request, the endpoint got {}: {}", gets.len(), requests_text(&gets)),
        ));
    };
    let proofs = seen.values(proto::http::PROOF_HEADER);
    if !proofs.is_empty() {
        return Err(fail("proof", format!("the request carried x-pixstore-proof {proofs:?}; with an empty statelessProof it is omitted (CLIENT-8)")));
    }
    let tokens = seen.values(proto::http::TOKEN_HEADER);
    if tokens != [record.token.to_string().as_str()] {
        return Err(fail("token", format!("x-pixstore-token was {tokens:?}, expected {:?}", record.token.to_string())));
    }
    expect_image(&out, &img, "the get")
}

async fn custom_fetcher_gets_context(ctx: &ClientCtx) -> CheckResult {
    let mut s = ctx.start(DEFAULT_LIMITS).await?;
    s.template = true;
    let img = s.stored("img");
    let record = s.record(&img);
    let bearer = format!("Bearer pxc-context-{}", s.n);
    let context = json!({ "headers": { "authorization": bearer } });
    let out = s.call(s.get_request(&record.to_json(), context, 1), None).await?;
    let gets = s.endpoint().gets_for(&img.id);
    let [seen] = gets.as_slice() else {
        return Err(fail(
            "requests",
            format!(
                "expected one request at the custom route, the endpoint got {}: {}",
                gets.len(),
                requests_text(&gets)
            ),
        ));
    };
    if !seen.custom_route {
        return Err(fail(
            "target",
            format!("the request went to {}, not to the custom route of the template", seen.target),
        ));
    }
    judge_request(&s, seen, &record)?;
    let auth = seen.values("authorization");
    if auth != [bearer.as_str()] {
        return Err(fail("context", format!("the custom fetcher sent authorization {auth:?}, expected {bearer:?} from the call's context (CLIENT-8: the fetcher receives the context)")));
    }
    expect_image(&out, &img, "the get through the custom fetcher")
}

// ---- §11.1 cache ------------------------------------------------------------------------

async fn cache_hit_sends_nothing(ctx: &ClientCtx) -> CheckResult {
    let s = ctx.start(DEFAULT_LIMITS).await?;
    let img = s.stored("img");
    let record = s.record(&img);
    expect_image(&s.get(&record).await?, &img, "the first get")?;
    expect_gets(&s, &img.id, 0, 1, "requests", "the first get")?;
    expect_hit(&s, &record, &img, "requested", "the second get of the same record").await?;
    // CLIENT-1: a hit uses neither the network nor the proof.
    let mut other_proof = record.clone();
    other_proof.stateless_proof = "AQAAAAABAAABk3AR4ECOMxO_JgCtl6lZeKw46BLB".into();
    expect_hit(&s, &other_proof, &img, "requested", "a get with the same token and another (stale) proof").await?;
    let mut no_proof = record;
    no_proof.stateless_proof = String::new();
    expect_hit(&s, &no_proof, &img, "requested", "a get with the same token and an empty proof").await
}

async fn same_token_other_payload(ctx: &ClientCtx) -> CheckResult {
    let s = ctx.start(DEFAULT_LIMITS).await?;
    let v1 = s.stored("img");
    let r1 = s.record(&v1);
    // A hostile (or 3.2.1-style, Date.now()) endpoint answers the record's own token with
    // another version: other key, other ciphertext.
    let other_image = s.image_bytes(2200);
    let other = s.seal_raw(&v1.id, Format::Png.byte(), &other_image, Some(v1.version.token));
    let other_img = Img {
        id: v1.id.clone(),
        sha256: super::sha256_hex(&other_image),
        image: other_image,
        format: Format::Png,
        version: other.clone(),
    };
    s.endpoint().script(&v1.id, [Reply::Bytes(other.updated())]);
    let out = s.get(&r1).await?;
    expect_image(
        &out,
        &other_img,
        "the get answered Updated with the record's token and another key (CLIENT-4: the payload's meta decrypts it)",
    )?;
    // Now the cache holds, under the record's token, a ciphertext the record's meta does not open.
    let before = s.endpoint().gets_for(&v1.id).len();
    let out = s.get(&r1).await?;
    if !out.ok {
        return Err(fail(
            "kept-undecryptable",
            format!("the cached entry (same token, other key) did not decrypt and the client gave {} instead of discarding it and fetching again (CLIENT-1)", out.summary()),
        ));
    }
    expect_gets(
        &s,
        &v1.id,
        before,
        1,
        "kept-undecryptable",
        "the get after the cached entry stopped decrypting (CLIENT-1: discard, then continue as on a miss)",
    )?;
    expect_image(&out, &v1, "the refetched version")?;
    let r1_again = s.record(&v1);
    expect_hit(&s, &r1_again, &v1, "not-cached", "a third get (the refetched version is cached)").await
}

async fn tampered_ciphertext_not_cached(ctx: &ClientCtx) -> CheckResult {
    tampered_not_cached(
        ctx,
        Version::success,
        Flip::Middle(0x01),
        "a Success with one flipped ciphertext byte (ENV-5)",
        "after the tampered Success",
    )
    .await
}

async fn tampered_tag_not_cached(ctx: &ClientCtx) -> CheckResult {
    // The tag is at bytes 53..69 of an Updated payload (WIRE-3).
    tampered_not_cached(
        ctx,
        Version::updated,
        Flip::At(60, 0x80),
        "an Updated with one flipped tag byte (ENV-5)",
        "after the Updated with the tampered tag",
    )
    .await
}

/// Which byte of a payload a tampering check flips, and with which mask.
enum Flip {
    Middle(u8),
    At(usize, u8),
}

/// One payload with one flipped byte is an authentication error (ENV-5), caches nothing
/// (CLIENT-3), and the next get fetches and is answered honestly.
async fn tampered_not_cached(
    ctx: &ClientCtx,
    payload: fn(&Version) -> Vec<u8>,
    flip: Flip,
    what: &str,
    after: &str,
) -> CheckResult {
    let s = ctx.start(DEFAULT_LIMITS).await?;
    let img = s.stored("img");
    let record = s.record(&img);
    let mut bad = payload(&img.version);
    let (at, mask) = match flip {
        Flip::Middle(mask) => (bad.len() / 2, mask),
        Flip::At(at, mask) => (at, mask),
    };
    if let Some(b) = bad.get_mut(at) {
        *b ^= mask;
    }
    s.endpoint().script(&img.id, [Reply::Bytes(bad)]);
    let out = s.get(&record).await?;
    expect_error(&out, "envelope", Some("Authentication"), what)?;
    expect_not_cached(&s, &img.id, after).await?;
    // The honest answer now: fetched, not served from a poisoned entry.
    let before = s.endpoint().gets_for(&img.id).len();
    let out = s.get(&record).await?;
    expect_gets(&s, &img.id, before, 1, "cached", "the next get (nothing may have been cached)")?;
    expect_image(&out, &img, "the next get, answered honestly")
}

async fn previous_entry_survives(ctx: &ClientCtx) -> CheckResult {
    let s = ctx.start(DEFAULT_LIMITS).await?;
    let v1 = s.stored("img");
    let r1 = s.record(&v1);
    expect_image(&s.get(&r1).await?, &v1, "version 1")?;
    let v2 = s.next_version(&v1, 2300);
    s.publish(&v2);
    let r2 = s.record(&v2);
    let mut tampered = v2.version.success();
    if let Some(b) = tampered.last_mut() {
        *b ^= 0x01;
    }
    let mut bad_tag = v2.version.updated();
    if let Some(b) = bad_tag.get_mut(53) {
        *b ^= 0x01;
    }
    let truncated: Vec<u8> = v2.version.updated().into_iter().take(40).collect();
    let failures: [(&str, Reply); 5] = [
        ("a tampered Success", Reply::Bytes(tampered)),
        ("an Updated with a tampered tag", Reply::Bytes(bad_tag)),
        ("a truncated Updated (40 bytes)", Reply::Bytes(truncated)),
        ("InternalError", Reply::Bytes(vec![State::InternalError.byte()])),
        ("HTTP 500", Reply::Status(500)),
    ];
    for (what, reply) in failures {
        s.endpoint().script(&v1.id, [reply]);
        let out = s.get(&r2).await?;
        if out.ok {
            return Err(fail(
                "accepted",
                format!("version 2's record answered with {what}: the client gave {}", out.summary()),
            ));
        }
        let r1_now = s.record(&v1);
        expect_hit(
            &s,
            &r1_now,
            &v1,
            "lost-entry",
            &format!("version 1's record after {what} (CLIENT-3: the previous entry stays)"),
        )
        .await?;
    }
    Ok(())
}

// ---- §11.2 responses --------------------------------------------------------------------

async fn updated_metadata_used_and_cached(ctx: &ClientCtx) -> CheckResult {
    let s = ctx.start(DEFAULT_LIMITS).await?;
    let v1 = s.stored("img");
    // The app's record names version 1; the backend has moved on to version 2.
    let r1 = s.record(&v1);
    let v2 = s.next_version(&v1, 2400);
    s.publish(&v2);
    let out = s.get(&r1).await?;
    expect_gets(&s, &v1.id, 0, 1, "requests", "the stale record (version 2 published)")?;
    if !out.ok {
        return Err(fail(
            "updated-ignored",
            format!("the endpoint answered Updated with version 2 and the client gave {} (CLIENT-4: decrypt with the payload's key, IV and tag)", out.summary()),
        ));
    }
    expect_image(&out, &v2, "the stale record answered Updated")?;
    if let Some(t) = out.image.as_ref().and_then(|i| i.token) {
        if t != v2.version.token.get() {
            return Err(fail(
                "token",
                format!("the client reports token {t} for the image, the Updated payload's is {}", v2.version.token),
            ));
        }
    }
    // CLIENT-4: cached under the payload's token: version 2's record is a hit (with another
    // proof even, so a request could not have been answered).
    let mut r2 = s.record(&v2);
    r2.stateless_proof = "AQAAAAABAAABk3AR4ECOMxO_JgCtl6lZeKw46BLB".into();
    expect_hit(
        &s,
        &r2,
        &v2,
        "not-cached",
        "version 2's record after the Updated answer (CLIENT-4: cached under the payload's token)",
    )
    .await?;
    // The stale record again: the cache holds another token, so it is fetched, and answered
    // Updated once more (SERVE-2); never served version 1's meta with version 2's bytes.
    let before = s.endpoint().gets_for(&v1.id).len();
    let out = s.get(&s.record(&v1)).await?;
    expect_gets(&s, &v1.id, before, 1, "requests", "the stale record again (version 2 cached)")?;
    expect_image(&out, &v2, "the stale record again")
}

async fn error_states_reach_the_caller(ctx: &ClientCtx) -> CheckResult {
    let s = ctx.start(DEFAULT_LIMITS).await?;
    let v1 = s.stored("img");
    let r1 = s.record(&v1);
    expect_image(&s.get(&r1).await?, &v1, "version 1")?;
    let v2 = s.next_version(&v1, 2500);
    s.publish(&v2);
    let r2 = s.record(&v2);
    for state in [State::NotFound, State::MissingId, State::MissingProof, State::InvalidProof, State::InternalError] {
        let name = state.name();
        s.endpoint().script(&v1.id, [Reply::Bytes(vec![state.byte()])]);
        let out = s.get(&r2).await?;
        expect_error(&out, "state", Some(name), &format!("the endpoint answered {name} ({})", state.byte()))?;
        let r1_now = s.record(&v1);
        expect_hit(
            &s,
            &r1_now,
            &v1,
            "cache-changed",
            &format!("version 1's record after {name} (CLIENT-5: the cache is unchanged)"),
        )
        .await?;
        // An id with nothing cached stays uncached.
        let fresh = s.stored(&format!("fresh-{}", state.byte()));
        s.endpoint().script(&fresh.id, [Reply::Bytes(vec![state.byte()])]);
        let out = s.get(&s.record(&fresh)).await?;
        expect_error(&out, "state", Some(name), &format!("{name} for an id with nothing cached"))?;
        expect_not_cached(&s, &fresh.id, &format!("after {name}")).await?;
    }
    Ok(())
}

/// The malformed payloads of `PXC-11.2-malformed-payloads-rejected`, built from a valid
/// version (so that a lenient client would have something that decrypts): what, bytes, kind.
fn malformed(v: &Version, case: usize) -> Option<(&'static str, Vec<u8>, &'static str)> {
    let with_token = |token: u64| {
        let mut p = v.updated();
        if let Some(field) = p.get_mut(1..9) {
            field.copy_from_slice(&token.to_le_bytes());
        }
        p
    };
    let with_state = |state: u8| {
        let mut p = v.success();
        if let Some(b) = p.first_mut() {
            *b = state;
        }
        p
    };
    Some(match case {
        0 => ("an empty body", Vec::new(), "Empty"),
        1 => ("a one-byte Success", vec![State::Success.byte()], "MissingCiphertext"),
        2 => ("a truncated Updated (40 bytes)", v.updated().into_iter().take(40).collect(), "Truncated"),
        3 => {
            ("an Updated of 69 bytes (no ciphertext)", v.updated().into_iter().take(69).collect(), "MissingCiphertext")
        }
        4 => ("NotFound with a trailing byte", vec![State::NotFound.byte(), 0], "TrailingBytes"),
        5 => ("reserved state 7 with a Success body", with_state(7), "ReservedState"),
        6 => ("unassigned state 200 with a Success body", with_state(200), "UnassignedState"),
        7 => ("an Updated with token 0", with_token(0), "TokenOutOfRange"),
        8 => ("an Updated with token 2^53 (MAX_TOKEN + 1)", with_token(MAX_TOKEN + 1), "TokenOutOfRange"),
        9 => ("an Updated with token 2^64-1", with_token(u64::MAX), "TokenOutOfRange"),
        _ => return None,
    })
}

/// The worst of several cases' failures: the code of the most serious one (the order of
/// `codes`), and every case's message.
fn worst(failures: Vec<Stop>, codes: &[&'static str], total: usize) -> CheckResult {
    let mut found: Vec<(&'static str, String)> = Vec::new();
    for f in failures {
        if let Stop::Fail(f) = f {
            found.push((f.code, f.message));
        } else {
            return Err(f);
        }
    }
    let Some(code) =
        codes.iter().find(|c| found.iter().any(|(fc, _)| fc == *c)).copied().or_else(|| found.first().map(|f| f.0))
    else {
        return Ok(());
    };
    let n = found.len();
    let text: Vec<String> = found.into_iter().map(|(c, m)| format!("[{c}] {m}")).collect();
    Err(fail(code, format!("{n} of {total} cases: {}", text.join("; "))))
}

async fn malformed_payloads_rejected(ctx: &ClientCtx) -> CheckResult {
    let s = ctx.start(DEFAULT_LIMITS).await?;
    let mut failures = Vec::new();
    let mut total = 0;
    for case in 0.. {
        let img = s.stored(&format!("m{case}"));
        let Some((what, payload, kind)) = malformed(&img.version, case) else { break };
        total += 1;
        s.endpoint().script(&img.id, [Reply::Bytes(payload)]);
        let out = s.get(&s.record(&img)).await?;
        if out.ok {
            failures.push(fail(
                "accepted",
                format!("{what}: the client gave {} (WIRE-11: a decoder reports {kind})", out.summary()),
            ));
        } else if s.cached(&img.id).await? {
            failures.push(fail(
                "cached",
                format!("{what}: the client failed ({}) but cached something (CLIENT-3)", out.summary()),
            ));
        } else if let Err(e) = expect_error(&out, "decode", Some(kind), what) {
            failures.push(e);
        }
    }
    worst(failures, &["adapter", "accepted", "cached", "kind", "unnamed"], total)
}

async fn fetch_failures_typed(ctx: &ClientCtx) -> CheckResult {
    let s = ctx.start(DEFAULT_LIMITS).await?;
    for status in [404u16, 500] {
        let img = s.stored(&format!("s{status}"));
        s.endpoint().script(&img.id, [Reply::Status(status)]);
        let out = s.get(&s.record(&img)).await?;
        let e = expect_error(&out, "fetch", None, &format!("an HTTP {status} answer (not a wire payload: HTTP-4)"))?;
        if let Some(k) = e.fetch_kind.as_deref().filter(|k| *k != "status") {
            return Err(fail("kind", format!("an HTTP {status} answer: fetch error {k}, expected status")));
        }
        if let Some(got) = e.status.filter(|g| *g != status) {
            return Err(fail("kind", format!("an HTTP {status} answer: the client reports status {got}")));
        }
        expect_not_cached(&s, &img.id, &format!("after HTTP {status}")).await?;
    }
    Ok(())
}

// ---- §6 envelope and formats ------------------------------------------------------------

async fn unknown_format_not_cached(ctx: &ClientCtx) -> CheckResult {
    let s = ctx.start(DEFAULT_LIMITS).await?;
    for byte in [0u8, 11] {
        let id = s.id(&format!("f{byte}"));
        let image = s.image_bytes(1500);
        let version = s.seal_raw(&id, byte, &image, None);
        let img = Img { id: id.clone(), sha256: super::sha256_hex(&image), image, format: Format::Png, version };
        s.publish(&img);
        let out = s.get(&s.record(&img)).await?;
        if out.ok {
            return Err(fail(
                "accepted",
                format!("format byte {byte}: the client gave {} (FMT-2: UnknownFormat)", out.summary()),
            ));
        }
        if s.cached(&id).await? {
            return Err(fail("cached", format!("format byte {byte}: the client failed but cached the ciphertext (CLIENT-3: authenticate and check, then cache)")));
        }
        expect_error(&out, "envelope", Some("UnknownFormat"), &format!("format byte {byte}"))?;
    }
    Ok(())
}

async fn registry_mime_types(ctx: &ClientCtx) -> CheckResult {
    let s = ctx.start(DEFAULT_LIMITS).await?;
    let mut wrong = Vec::new();
    for format in proto::format::ALL {
        let img = s.image(&s.id(format.name()), format, 1200);
        s.publish(&img);
        let out = s.get(&s.record(&img)).await?;
        match &out.image {
            Some(i) if out.ok && i.sha256.eq_ignore_ascii_case(&img.sha256) => {
                if i.mime.as_deref() != Some(format.mime()) {
                    wrong.push(format!(
                        "byte {} ({}): {:?}, expected {}",
                        format.byte(),
                        format.name(),
                        i.mime.as_deref().unwrap_or("none"),
                        format.mime()
                    ));
                }
            }
            _ => wrong.push(format!("byte {} ({}): {}", format.byte(), format.name(), out.summary())),
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(fail("mime", format!("{} of {} formats: {}", wrong.len(), proto::format::ALL.len(), wrong.join("; "))))
    }
}

// ---- §7.3 records -----------------------------------------------------------------------

async fn invalid_record_sends_nothing(ctx: &ClientCtx) -> CheckResult {
    let s = ctx.start(DEFAULT_LIMITS).await?;
    let img = s.stored("img");
    let valid: Value = serde_json::from_str(&s.record_json(&img)).unwrap_or(Value::Null);
    let with = |key: &str, value: Value| {
        let mut v = valid.clone();
        if let Some(o) = v.as_object_mut() {
            o.insert(key.into(), value);
        }
        v.to_string()
    };
    let with_meta = |key: &str, value: &str| {
        let mut v = valid.clone();
        if let Some(m) = v.get_mut("meta").and_then(Value::as_object_mut) {
            m.insert(key.into(), json!(value));
        }
        v.to_string()
    };
    let text = valid.to_string();
    let cases: Vec<(&str, String, &str)> = vec![
        ("token 0", with("token", json!(0)), "InvalidToken"),
        ("token above MAX_TOKEN", with("token", json!(MAX_TOKEN + 1)), "InvalidToken"),
        ("token as a string", with("token", json!(img.version.token.to_string())), "WrongType"),
        ("token 1.5", text.replacen(&format!("\"token\":{}", img.version.token), "\"token\":1.5", 1), "InvalidToken"),
        ("id with two colons", with("id", json!("a:b:c")), "InvalidId"),
        ("id ../x", with("id", json!("../x")), "InvalidId"),
        ("a 16-byte key", with_meta("key", "AAAAAAAAAAAAAAAAAAAAAA=="), "InvalidLength"),
        (
            "a key without its base64 padding",
            with_meta("key", proto::record::encode_meta_field(&img.version.meta.key).trim_end_matches('=')),
            "InvalidBase64",
        ),
        (
            "no statelessProof",
            {
                let mut v = valid.clone();
                if let Some(o) = v.as_object_mut() {
                    o.remove("statelessProof");
                }
                v.to_string()
            },
            "MissingField",
        ),
        ("a duplicate id member", text.replacen('{', &format!("{{\"id\":\"{}\",", img.id), 1), "DuplicateField"),
        ("not JSON", "{\"id\":".to_owned(), "Syntax"),
    ];
    let total = cases.len();
    let mut failures = Vec::new();
    for (what, record, kind) in cases {
        let before = s.endpoint().log().len();
        let out = s.get_json(&record).await?;
        let what = format!("a record with {what}");
        if let Err(e) = expect_silence(
            &s,
            before,
            "requested",
            &format!("{what} (REC-6: a rejected record causes no network request)"),
        ) {
            failures.push(e);
        } else if out.ok {
            failures.push(fail("accepted", format!("{what}: the client gave {}", out.summary())));
        } else if let Err(e) = expect_error(&out, "record", Some(kind), &what) {
            failures.push(e);
        }
    }
    if let Err(e) = expect_not_cached(&s, &img.id, "after the invalid records").await {
        failures.push(e);
    }
    worst(failures, &["adapter", "requested", "accepted", "cached", "kind", "unnamed"], total)
}

// ---- §11.3 eviction ---------------------------------------------------------------------

/// Spacing of calls whose last uses must differ (millisecond clocks, coarse file times).
const USE_GAP_MS: u64 = 30;

/// Gets `img` (a miss, fetched) and waits so that the next use is later.
async fn use_once(s: &Scenario<'_>, img: &Img) -> CheckResult {
    let out = s.get(&s.record(img)).await?;
    expect_image(&out, img, &format!("get {}", img.id))?;
    s.pause(USE_GAP_MS).await;
    Ok(())
}

/// Waits (up to 5 s: some clients evict in the background) until exactly `want` of `imgs` are
/// cached; the last observation otherwise.
async fn settle(s: &Scenario<'_>, imgs: &[&Img], want: &[&Img]) -> Result<Vec<String>, Stop> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let want: Vec<&str> = want.iter().map(|i| i.id.as_str()).collect();
    loop {
        let mut cached = Vec::new();
        for i in imgs {
            if s.cached(&i.id).await? {
                cached.push(i.id.clone());
            }
        }
        if cached.iter().map(String::as_str).eq(want.iter().copied()) || tokio::time::Instant::now() >= deadline {
            return Ok(cached);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn judge_eviction(cached: &[String], all: &[&Img], want: &[&Img], setting: &str) -> CheckResult {
    let want_ids: Vec<&str> = want.iter().map(|i| i.id.as_str()).collect();
    if cached.iter().map(String::as_str).eq(want_ids.iter().copied()) {
        return Ok(());
    }
    let code = if cached.len() == all.len() {
        "evicts-nothing"
    } else if cached.len() != want.len() {
        "count"
    } else {
        "not-lru"
    };
    Err(fail(code, format!("{setting}: cached afterwards {cached:?}, expected {want_ids:?} (CLIENT-6: evict the least recently used down to limit - batch)")))
}

async fn evicts_lru_at_limit(ctx: &ClientCtx) -> CheckResult {
    let s = ctx.start((4, 2)).await?;
    let (a1, a2, a3, a4, a5) = (s.stored("e1"), s.stored("e2"), s.stored("e3"), s.stored("e4"), s.stored("e5"));
    let (a1, a2, a3, a4, a5) = (&a1, &a2, &a3, &a4, &a5);
    for i in [a1, a2, a3, a4] {
        use_once(&s, i).await?;
    }
    // CLIENT-7: a hit is a use; a1 becomes the most recently used of the four.
    let before = s.endpoint().log().len();
    let out = s.get(&s.record(a1)).await?;
    expect_silence(&s, before, "requested", "the hit on the first image")?;
    expect_image(&out, a1, "the hit on the first image")?;
    s.pause(USE_GAP_MS).await;
    use_once(&s, a5).await?;
    let all = [a1, a2, a3, a4, a5];
    let cached = settle(&s, &all, &[a1, a5]).await?;
    judge_eviction(
        &cached,
        &all,
        &[a1, a5],
        "limit 4, batch 2, five images, the first one used again before the fifth",
    )
    .map_err(|e| {
        if cached.len() == 2 && !cached.contains(&a1.id) {
            e.code("not-lru").context("a hit did not count as a use (CLIENT-7)")
        } else {
            e
        }
    })?;
    // The cache answers as it says: a1 is a hit, a2 is fetched.
    expect_hit(&s, &s.record(a1), a1, "not-cached", "the first image after eviction (it was used last but one)")
        .await?;
    let before = s.endpoint().gets_for(&a2.id).len();
    let out = s.get(&s.record(a2)).await?;
    expect_gets(&s, &a2.id, before, 1, "not-evicted", "the second image after eviction")?;
    expect_image(&out, a2, "the second image, fetched again")
}

async fn batch_zero_evicts_one(ctx: &ClientCtx) -> CheckResult {
    let s = ctx.start((3, 0)).await?;
    let (b1, b2, b3, b4, b5) = (s.stored("b1"), s.stored("b2"), s.stored("b3"), s.stored("b4"), s.stored("b5"));
    let all = [&b1, &b2, &b3, &b4, &b5];
    for i in [&b1, &b2, &b3, &b4] {
        use_once(&s, i).await?;
    }
    let want = [&b2, &b3, &b4];
    let cached = settle(&s, &all, &want).await?;
    judge_eviction(&cached, &all, &want, "limit 3, batch 0, four images")?;
    use_once(&s, &b5).await?;
    let want = [&b3, &b4, &b5];
    let cached = settle(&s, &all, &want).await?;
    judge_eviction(&cached, &all, &want, "limit 3, batch 0, five images")
}

/// A get that the endpoint answers with `reply` (a failure); its outcome does not matter here.
async fn failed_get(s: &Scenario<'_>, img: &Img, reply: Reply) -> CheckResult {
    s.endpoint().script(&img.id, [reply]);
    let out = s.get(&s.record(img)).await?;
    if out.ok {
        return Err(fail(
            "accepted",
            format!("get {} answered with a failure: the client gave {}", img.id, out.summary()),
        ));
    }
    s.pause(USE_GAP_MS).await;
    Ok(())
}

async fn eviction_survives_failures(ctx: &ClientCtx) -> CheckResult {
    let s = ctx.start((3, 1)).await?;
    let c: Vec<Img> = (1..=6).map(|i| s.stored(&format!("c{i}"))).collect();
    let x: Vec<Img> = (1..=3).map(|i| s.stored(&format!("x{i}"))).collect();
    let (Ok([c1, c2, c3, c4, c5, c6]), Ok([x1, x2, x3])) =
        (<&[Img; 6]>::try_from(c.as_slice()), <&[Img; 3]>::try_from(x.as_slice()))
    else {
        return Err(fail("harness", "fixtures"));
    };
    let mut tampered = x1.version.success();
    if let Some(b) = tampered.last_mut() {
        *b ^= 1;
    }
    let all: Vec<&Img> = c.iter().chain(x.iter()).collect();
    use_once(&s, c1).await?;
    use_once(&s, c2).await?;
    failed_get(&s, x1, Reply::Bytes(tampered)).await?;
    use_once(&s, c3).await?;
    failed_get(&s, x2, Reply::Bytes(vec![State::InternalError.byte()])).await?;
    use_once(&s, c4).await?;
    // Four entries > 3: evicted down to 2 (c3, c4).
    let want = [c3, c4];
    let cached = settle(&s, &all, &want).await?;
    judge_eviction(
        &cached,
        &all,
        &want,
        "limit 3, batch 1: four images with a tampered answer and InternalError between them",
    )
    .map_err(|e| {
        if [x1, x2].iter().any(|b| cached.contains(&b.id)) {
            e.code("cached").context("a failed get left an entry (CLIENT-3)")
        } else {
            e
        }
    })?;
    failed_get(&s, x3, Reply::Status(500)).await?;
    use_once(&s, c5).await?;
    use_once(&s, c6).await?;
    let want = [c5, c6];
    let cached = settle(&s, &all, &want).await?;
    judge_eviction(&cached, &all, &want, "limit 3, batch 1: six images and three failed gets")
}

// ---- §11.6 hostile endpoints ------------------------------------------------------------

async fn redirect_keeps_proof_home(ctx: &ClientCtx) -> CheckResult {
    let s = ctx.start(DEFAULT_LIMITS).await?;
    let img = s.stored("img");
    let record = s.record(&img);
    s.endpoint().script(&img.id, [Reply::Redirect]);
    let out = s.get(&record).await?;
    let leaked: Vec<_> = s
        .endpoint()
        .log()
        .into_iter()
        .filter(|r| r.side == Side::Other)
        .filter(|r| {
            r.target.contains(&record.stateless_proof)
                || r.headers.iter().any(|(_, v)| v.contains(&record.stateless_proof))
        })
        .collect();
    if !leaked.is_empty() {
        return Err(fail(
            "proof-leaked",
            format!(
                "the endpoint redirected to another host ({}) and the client sent the record's proof there: {} (CLIENT-10; the client gave {})",
                s.endpoint().other(),
                requests_text(&leaked),
                out.summary()
            ),
        ));
    }
    Ok(())
}

async fn payload_size_bounded(ctx: &ClientCtx) -> CheckResult {
    let mut s = ctx.start(DEFAULT_LIMITS).await?;
    s.max_payload = 1 << 20;
    for (i, chunked) in [(1, false), (2, true)] {
        let id = s.id(&format!("big{i}"));
        let img = s.image(&id, Format::Png, 4 << 20);
        s.publish(&img);
        let what = if chunked {
            "a 4 MiB Success sent chunked (no length announced)"
        } else {
            "a 4 MiB Updated with its Content-Length"
        };
        let reply = if chunked { Reply::Chunked(img.version.success()) } else { Reply::Bytes(img.version.updated()) };
        s.endpoint().script(&id, [reply]);
        let out = s.get(&s.record(&img)).await?;
        let sent: u64 =
            s.endpoint().gets_for(&id).iter().map(|r| r.sent.load(std::sync::atomic::Ordering::Relaxed)).sum();
        if out.ok {
            return Err(fail(
                "accepted",
                format!("{what} with maxPayloadBytes 1048576: the client accepted it (read {sent} bytes; CLIENT-9)"),
            ));
        }
        expect_not_cached(&s, &id, what).await?;
        let e = expect_error(&out, "fetch", None, what)?;
        if let Some(k) = e.fetch_kind.as_deref().filter(|k| *k != "tooLarge") {
            return Err(fail("kind", format!("{what}: fetch error {k}, expected tooLarge")));
        }
    }
    Ok(())
}

async fn concurrent_gets_share_one_fetch(ctx: &ClientCtx) -> CheckResult {
    let s = ctx.start(DEFAULT_LIMITS).await?;
    let img = s.stored("img");
    // The answer waits until a second request arrives (then at once) or 3 s pass.
    s.endpoint().script(&img.id, [Reply::Hold(Duration::from_secs(3))]);
    let out = s.call(s.get_request(&s.record_json(&img), Value::Null, 4), None).await?;
    let Some(results) = out.results.filter(|_| out.ok) else {
        return Err(fail("adapter", "a get with concurrency 4 must be answered with `results` (spec Appendix C.4)"));
    };
    if results.len() != 4 {
        return Err(fail("adapter", format!("a get with concurrency 4 was answered with {} results", results.len())));
    }
    for (i, r) in results.iter().enumerate() {
        expect_image(r, &img, &format!("concurrent call {}", i + 1))?;
    }
    let gets = s.endpoint().gets_for(&img.id);
    if gets.len() != 1 {
        return Err(fail(
            "fetches",
            format!("four concurrent gets of one record sent {} requests (CLIENT-11: one fetch, shared)", gets.len()),
        ));
    }
    Ok(())
}

async fn hung_endpoint_times_out(ctx: &ClientCtx) -> CheckResult {
    /// The client's fetch bound, and how long the suite waits before it closes the hung
    /// connection itself (far apart: a loaded machine cannot make a timely client look late).
    const FETCH_BOUND_MS: u64 = 1000;
    const RELEASE_AFTER: Duration = Duration::from_secs(15);
    let s = ctx.start(DEFAULT_LIMITS).await?;
    let v1 = s.stored("img");
    let r1 = s.record(&v1);
    expect_image(&s.get(&r1).await?, &v1, "version 1")?;
    let v2 = s.next_version(&v1, 2600);
    s.publish(&v2);
    s.endpoint().script(&v1.id, [Reply::Hang]);
    let mut request = s.get_request(&s.record_json(&v2), Value::Null, 1);
    request.timeout_ms = Some(FETCH_BOUND_MS);
    let call = s.call(request, Some(RELEASE_AFTER + ctx.adapter.timeout()));
    tokio::pin!(call);
    let early = tokio::select! {
        out = &mut call => Some(out),
        () = tokio::time::sleep(RELEASE_AFTER) => None,
    };
    let out = match early {
        Some(out) => out?,
        None => {
            s.endpoint().release();
            let late = call.await?;
            return Err(fail(
                "no-timeout",
                format!(
                    "with timeoutMs {FETCH_BOUND_MS} the client was still waiting after {} s; it gave {} only when the endpoint closed the connection (CLIENT-12)",
                    RELEASE_AFTER.as_secs(),
                    late.summary()
                ),
            ));
        }
    };
    let e = expect_error(&out, "fetch", None, "an endpoint that never answers")?;
    if let Some(k) = e.fetch_kind.as_deref().filter(|k| *k != "timeout") {
        return Err(fail("kind", format!("an endpoint that never answers: fetch error {k}, expected timeout")));
    }
    s.endpoint().release();
    let r1_now = s.record(&v1);
    expect_hit(&s, &r1_now, &v1, "cache-changed", "version 1's record after the hung fetch").await
}

// ---- §11.1 CLIENT-2, last ---------------------------------------------------------------

async fn no_key_material_in_cache(ctx: &ClientCtx) -> CheckResult {
    let s = ctx.start(DEFAULT_LIMITS).await?;
    let other = s.stored("other");
    expect_image(&s.get(&s.record(&other)).await?, &other, "an image (Success)")?;
    let v1 = s.stored("img");
    let r1 = s.record(&v1);
    let v2 = s.next_version(&v1, 2700);
    s.publish(&v2);
    // A stale record: Updated, whose payload carries version 2's key, IV and tag.
    expect_image(&s.get(&r1).await?, &v2, "a stale record (Updated)")?;
    let scan = s.scan().await?;
    // A clean scan means something only if the scan saw the cache.
    if !scan.holds(&v2.version.ciphertext) || !scan.holds(&other.version.ciphertext) {
        return Err(fail(
            "cache-not-visible",
            format!(
                "the suite cannot see the client's cache: {} ({} bytes read) do not hold the ciphertexts just cached (CLIENT-2: an entry stores exactly the ciphertext's bytes; cacheInDir {}: {})",
                if ctx.info.cache_in_dir { format!("the files under {}", s.dir.display()) } else { "the dumped entries".into() },
                scan.bytes(),
                ctx.info.cache_in_dir,
                if ctx.info.cache_in_dir { "keep the cache in cache.dir" } else { "dump every stored byte" }
            ),
        ));
    }
    let mut found: Vec<String> = scan.find(&s.secrets()).into_iter().map(|f| format!("{f} (this check)")).collect();
    found.extend(ctx.findings().into_iter().map(|(check, f)| format!("{f} (after {check})")));
    if found.is_empty() {
        return Ok(());
    }
    let n = found.len();
    found.truncate(6);
    Err(fail(
        "key-in-cache",
        format!(
            "{n} finding(s) of key material in the cache (CLIENT-2: never the key, IV or tag): {}",
            found.join("; ")
        ),
    ))
}
