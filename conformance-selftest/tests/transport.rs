//! The suite over TLS (HTTP/1.1 and HTTP/2 by ALPN) and h2c, through the test proxy in front of
//! the reference server: every MUST check passes, the protocol is the one negotiated, checks
//! that need a raw HTTP/1.1 request are skipped over HTTP/2 with that reason, `--insecure` is
//! warned about, and an untrusted certificate makes the target unreachable.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc
)]

use conformance::http::{Protocol, TransportOptions};
use conformance::target::TargetOptions;
use conformance::{checks, run_one, Ctx, Level, Outcome, Target};
use conformance_selftest::mutants::P;
use conformance_selftest::mutation::front;
use conformance_selftest::server::{self, ServerOptions};

async fn run_suite(options: TargetOptions, want: Protocol) -> Vec<(&'static str, String)> {
    let target = Target::connect(options).await.unwrap();
    assert_eq!(target.protocol, want);
    assert!(target.clock_usable, "the proxy's /info names the proxied endpoint, so the clock is usable");
    let ctx = Ctx { target };
    let mut skipped = Vec::new();
    for check in checks::all() {
        match run_one(&check, &ctx).await.outcome {
            Outcome::Fail(f) if check.level == Level::Must => {
                panic!("{want:?}: {} failed: [{}] {}", check.id, f.code, f.message)
            }
            Outcome::Skip(why) => skipped.push((check.id, why)),
            _ => {}
        }
    }
    skipped
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_passes_over_tls_h1_h2_and_h2c() {
    let server = server::start(&ServerOptions::default()).await.unwrap();
    let pki = conformance_selftest::tls::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let trusted = TransportOptions { ca_cert: Some(ca.clone()), ..TransportOptions::default() };

    // TLS, h2 by ALPN.
    let tls = front(P::Transparent, &server, Some(pki.server_config(&[b"h2", b"http/1.1"]).unwrap())).await.unwrap();
    assert!(tls.endpoint.starts_with("https://"));
    let options = |f: &conformance_selftest::mutation::Front, transport: TransportOptions| TargetOptions {
        endpoint: Some(f.endpoint.clone()),
        control: Some(f.control.clone()),
        transport,
        ..TargetOptions::default()
    };
    let skipped = run_suite(options(&tls, trusted.clone()), Protocol::Http2).await;
    let raw = skipped.iter().find(|(id, _)| *id == "PXS-10.1-absolute-form").expect("absolute form is skipped over h2");
    assert!(raw.1.contains("needs a raw HTTP/1.1 request") && raw.1.contains("HTTP/2"), "{raw:?}");
    // The same listener with only http/1.1 offered: HTTP/1.1 over TLS.
    let h1_only = TransportOptions { http1_only: true, ..trusted.clone() };
    let skipped = run_suite(options(&tls, h1_only), Protocol::Http1).await;
    assert!(!skipped.iter().any(|(id, _)| *id == "PXS-10.1-absolute-form"), "{skipped:?}");
    // A listener that only speaks http/1.1.
    let tls_h1 = front(P::Transparent, &server, Some(pki.server_config(&[b"http/1.1"]).unwrap())).await.unwrap();
    run_suite(options(&tls_h1, trusted.clone()), Protocol::Http1).await;
    // h2c with prior knowledge.
    let h2c = front(P::Transparent, &server, None).await.unwrap();
    run_suite(
        options(&h2c, TransportOptions { http2_prior_knowledge: true, ..TransportOptions::default() }),
        Protocol::Http2,
    )
    .await;

    // --insecure: connects without the CA, and says so.
    let insecure = Target::connect(options(&tls, TransportOptions { insecure: true, ..TransportOptions::default() }))
        .await
        .unwrap();
    assert!(insecure.warnings.iter().any(|w| w.contains("--insecure")), "{:?}", insecure.warnings);
    // Without the CA the certificate is not trusted: the target cannot be reached (exit code 2).
    let err = Target::connect(options(&tls, TransportOptions::default())).await.unwrap_err();
    assert!(err.contains("cannot be reached") && err.to_lowercase().contains("certificate"), "{err}");
    server.shutdown().await;
}
