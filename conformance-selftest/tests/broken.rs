//! The suite is tested itself: deliberately broken servers (the reference server with its
//! test-only fault switches) must each fail the expected checks, and the unbroken server must
//! pass every check.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc
)]

use conformance::target::TargetOptions;
use conformance::{checks, run_one, Ctx, Outcome, Target};
use pixstore_server::faults::Faults;

/// Runs the whole suite against a reference server with `faults`; the ids of failed checks.
async fn failures(faults: Faults) -> Vec<&'static str> {
    let dir = tempfile::tempdir().unwrap();
    let config = conformance::reference::config(dir.path()).unwrap().with_faults(faults);
    let reference = conformance::reference::start_with(dir, config).await.unwrap();
    let options = TargetOptions {
        endpoint: Some(reference.endpoint.clone()),
        control: Some(reference.control.clone()),
        ..TargetOptions::default()
    };
    let target = Target::connect(options).await.unwrap();
    let ctx = Ctx { target };
    let mut failed = Vec::new();
    for check in checks::all() {
        let report = run_one(&check, &ctx).await;
        if let Outcome::Fail(f) = &report.outcome {
            eprintln!("  {:?}: {} [{}] {}", faults_name(&faults), check.id, f.code, f.message);
            failed.push(check.id);
        }
    }
    reference.shutdown().await;
    failed
}

fn faults_name(f: &Faults) -> String {
    format!("{f:?}").chars().filter(|c| !c.is_whitespace()).collect::<String>().replace("false", "").replace(",:", "")
}

macro_rules! broken {
    ($name:ident, $field:ident, [$($id:literal),+]) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let mut faults = Faults::default();
            faults.$field = true;
            let failed = failures(faults).await;
            for id in [$($id),+] {
                assert!(failed.contains(&id), "the suite missed `{}`: {id} passed (failed: {failed:?})", stringify!($field));
            }
        }
    };
}

broken!(accepts_expired_proofs, accept_expired_proofs, ["PXS-8.5-proof-expires"]);
broken!(accepts_a_proof_for_another_id, accept_bad_tags, ["PXS-8.7-proof-for-another-id", "PXS-8.6-tampered-proof"]);
broken!(
    reuses_a_token_on_update,
    reuse_token_on_update,
    ["PXS-5.1-tokens-increase-within-a-millisecond", "PXS-9.2-old-record-after-update"]
);
broken!(answers_not_found_before_the_proof, not_found_before_proof, ["PXS-9.1-no-existence-oracle"]);
broken!(
    serves_another_versions_metadata,
    mix_versions,
    ["PXS-9.2-old-record-after-update", "PXS-9.2-consistent-under-concurrent-updates"]
);
broken!(
    drops_no_store,
    drop_no_store,
    ["PXS-10.2-headers-on-every-state", "PXS-10.2-preflight", "PXS-10.3-extra-segments"]
);
broken!(
    corrupts_every_ciphertext,
    flip_ciphertext_byte,
    [
        "PXS-9.2-updated-without-token",
        "PXS-9.2-success-with-current-token",
        "PXS-6.3-png-format-byte",
        "PXS-6.1-2mib-png"
    ]
);
broken!(reuses_key_and_iv_on_update, reuse_key_on_update, ["PXS-6.1-fresh-key-per-write"]);
broken!(drops_cors, drop_cors, ["PXS-10.2-headers-on-every-state", "PXS-10.2-preflight"]);
broken!(mislabels_a_state, mislabel_missing_proof, ["PXS-9.1-missing-proof", "PXS-9.1-no-existence-oracle"]);
broken!(
    pads_one_byte_states,
    pad_one_byte_states,
    ["PXS-9.1-missing-id", "PXS-9.1-missing-proof", "PXS-9.1-not-found-after-delete"]
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unbroken_server_passes_everything() {
    let failed = failures(Faults::default()).await;
    assert!(failed.is_empty(), "the reference server fails {failed:?}");
}
