//! The conformance suite's client checks (spec Appendix C, `pixstore-conformance client`)
//! against this client's own `adapter` subcommand: through the default endpoint one process per
//! step, in lines mode, and through a custom route (the adapter's custom fetcher). The reference
//! client must pass every check, MUST and SHOULD.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::std_instead_of_core)]

use std::time::Duration;

use conformance::client::adapter::{Adapter, Mode};
use conformance::client::{self, ClientCtx, ClientOptions};
use conformance::{run_one, Outcome};

async fn every_check_passes(mode: Mode, via_template: bool) {
    let bin = env!("CARGO_BIN_EXE_pixstore-client").to_owned();
    let mut command = vec![bin, "adapter".to_owned()];
    if mode == Mode::Lines {
        command.push("--lines".into());
    }
    let adapter = Adapter::new(command, mode, Duration::from_secs(60)).unwrap();
    let ctx = ClientCtx::connect(adapter, ClientOptions { via_template, ..ClientOptions::default() }).await.unwrap();
    let mut failures = Vec::new();
    for check in client::all() {
        match run_one(&check, &ctx).await.outcome {
            Outcome::Pass => {}
            Outcome::Fail(f) => failures.push(format!("{}: [{}] {}", check.id, f.code, f.message)),
            Outcome::Skip(why) => failures.push(format!("{}: skipped: {why}", check.id)),
        }
    }
    ctx.adapter.shutdown().await;
    assert!(failures.is_empty(), "{} client check(s) failed:\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn per_step_default_endpoint() {
    every_check_passes(Mode::PerStep, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lines_default_endpoint() {
    every_check_passes(Mode::Lines, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn per_step_custom_route() {
    every_check_passes(Mode::PerStep, true).await;
}
