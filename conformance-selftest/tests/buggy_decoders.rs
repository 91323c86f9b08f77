//! `cargo test -p conformance-selftest --test buggy_decoders -- --nocapture`: `fuzz-decoder`
//! against the self-test's decoder (`conformance_selftest::buggy_decoder`), in line mode, with
//! seed 1. Without a bug it must find no disagreement in 20 000 inputs; each bug must be found
//! within 20 000 inputs, in its expected class, and minimised to at most its expected size. The
//! inputs are deterministic (the seed), so "found within N inputs" does not depend on the
//! machine's speed; the times printed are for the report only, never asserted.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc
)]

use std::collections::BTreeMap;
use std::time::Duration;

use conformance::fuzz::{self, FuzzOptions};
use conformance::vectors::Decoder;
use conformance_selftest::buggy_decoder::DECODER_BUGS;

const CASES: u64 = 20_000;

fn command(bug: &str) -> Vec<String> {
    vec![env!("CARGO_BIN_EXE_pixstore-buggy-decoder").into(), "--bug".into(), bug.into(), "--lines".into()]
}

fn options() -> FuzzOptions {
    // The time bound only stops a broken run; the case bound is the one that matters.
    FuzzOptions {
        seed: 1,
        duration: Duration::from_secs(600),
        max_cases: Some(CASES),
        known: BTreeMap::new(),
        stop_at_first: true,
    }
}

#[tokio::test]
async fn no_bug_no_disagreement() {
    let mut d = Decoder::new(&command("none"), true).unwrap();
    let report = fuzz::run(&mut d, &options()).await.unwrap();
    d.close().await;
    assert_eq!(report.cases, CASES);
    assert!(report.first_unknown.is_none(), "{:?}", report.first_unknown);
    println!("none: {} inputs in {:.2} s, no disagreement", report.cases, report.elapsed.as_secs_f64());
}

#[tokio::test]
async fn every_bug_found_and_minimised() {
    println!("{:<34} {:<8} {:>6} {:>8} {:>9}  class", "bug", "breaks", "case", "seconds", "bytes");
    for bug in DECODER_BUGS {
        let mut d = Decoder::new(&command(bug.name), true).unwrap();
        let report = fuzz::run(&mut d, &options()).await.unwrap();
        d.close().await;
        let found = report.first_unknown.unwrap_or_else(|| panic!("{}: not found in {CASES} inputs", bug.name));
        println!(
            "{:<34} {:<8} {:>6} {:>8.3} {:>4} -> {:<3} {}",
            bug.name,
            bug.breaks,
            found.case,
            found.after.as_secs_f64(),
            found.input.len(),
            found.minimised.len(),
            found.class
        );
        assert!(found.class.starts_with(bug.class), "{}: class {:?}, expected {:?}", bug.name, found.class, bug.class);
        assert!(
            found.minimised.len() <= bug.max_minimised,
            "{}: minimised to {} bytes ({}), expected at most {}",
            bug.name,
            found.minimised.len(),
            conformance::vectors::to_hex(&found.minimised),
            bug.max_minimised
        );
        // The vector file the CLI writes is in the schema of wire_decode.json (checked by
        // validate.mjs in CI); here: it describes the minimised input as v1 does.
        let file = fuzz::vector_file(&found, 1);
        let v = &file["vectors"][0];
        assert_eq!(v["input_hex"], conformance::vectors::to_hex(&found.minimised));
        assert_eq!(file["numberOfVectors"], 1);
    }
}
