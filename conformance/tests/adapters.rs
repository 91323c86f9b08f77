//! A misbehaving adapter is reported as such (spec Appendix C.2, D) and never holds the run:
//! crashes, garbage, silence and hangs, per step and in lines mode, for client adapters and for
//! decoder adapters. The adapters are one-line `sh` scripts.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::std_instead_of_core
)]

use std::time::{Duration, Instant};

use conformance::client::adapter::{Adapter, AdapterError, Mode, Op, Request};
use conformance::client::{ClientCtx, ClientOptions};
use conformance::process::ProcessError;
use conformance::vectors::{Decoder, DecoderFailure};

fn sh(script: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script.into()]
}

async fn call(script: &str, mode: Mode, wait: Duration) -> Result<conformance::client::adapter::Outcome, AdapterError> {
    Adapter::new(sh(script), mode, wait).unwrap().call(Request::new(Op::Info), None).await
}

#[tokio::test]
async fn per_step_misbehaviour_is_named() {
    let w = Duration::from_secs(20);
    match call("cat >/dev/null; echo dying >&2; exit 3", Mode::PerStep, w).await {
        Err(AdapterError::Process(ProcessError::Crashed { status, stderr })) => {
            assert!(status.contains('3'), "{status}");
            assert_eq!(stderr, "dying");
        }
        other => panic!("{other:?}"),
    }
    for (script, problem) in [
        ("cat >/dev/null; echo hello", "not JSON"),
        ("cat >/dev/null; echo '{\"ok\":true}{\"ok\":true}'", "more than one JSON value"),
        ("cat >/dev/null; echo '[1]'", "not an object"),
        ("cat >/dev/null", "nothing was written"),
        ("cat >/dev/null; echo '{\"ok\":\"yes\"}'", "not an outcome"),
    ] {
        match call(script, Mode::PerStep, w).await {
            Err(AdapterError::Garbage { problem: p, .. }) => assert!(p.contains(problem), "{script}: {p}"),
            other => panic!("{script}: {other:?}"),
        }
    }
    let started = Instant::now();
    match call("sleep 30", Mode::PerStep, Duration::from_millis(500)).await {
        Err(AdapterError::Process(ProcessError::Silent { .. })) => {}
        other => panic!("{other:?}"),
    }
    // Killed at the bound, not after the script's 30 s (the bound here is generous).
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    match call("/no/such/adapter", Mode::PerStep, w).await {
        Err(AdapterError::Process(ProcessError::Spawn { .. } | ProcessError::Crashed { .. })) => {}
        other => panic!("{other:?}"),
    }
    let ok = call("cat >/dev/null; echo '{\"ok\":true,\"name\":\"x\"}'", Mode::PerStep, w).await.unwrap();
    assert!(ok.ok);
    assert_eq!(ok.name.as_deref(), Some("x"));
}

#[tokio::test]
async fn lines_misbehaviour_restarts_the_process() {
    // Answers the first request, then hangs on every other; each new process starts again.
    let script = r#"read l; echo '{"seq":1,"ok":true}'; read l; sleep 30"#;
    let a = Adapter::new(sh(script), Mode::Lines, Duration::from_millis(500)).unwrap();
    assert!(a.call(Request::new(Op::Info), None).await.unwrap().ok);
    assert!(matches!(
        a.call(Request::new(Op::Info), None).await,
        Err(AdapterError::Process(ProcessError::Silent { .. }))
    ));
    // A new process, whose first answer says seq 1 (this is request 3): a late answer, skipped;
    // then it hangs, and the call ends at its bound.
    assert!(matches!(
        a.call(Request::new(Op::Info), None).await,
        Err(AdapterError::Process(ProcessError::Silent { .. }))
    ));
    // Garbage, then a crash: both named, and the next call gets a fresh process.
    let a = Adapter::new(sh("read l; echo garbage; sleep 30"), Mode::Lines, Duration::from_secs(20)).unwrap();
    assert!(matches!(a.call(Request::new(Op::Info), None).await, Err(AdapterError::Garbage { .. })));
    let a = Adapter::new(sh("read l; exit 4"), Mode::Lines, Duration::from_secs(20)).unwrap();
    match a.call(Request::new(Op::Info), None).await {
        Err(AdapterError::Process(ProcessError::Crashed { status, .. })) => assert!(status.contains('4'), "{status}"),
        other => panic!("{other:?}"),
    }
    // The seq of each request: 1, 2, ... echoed back.
    let echo = r#"while read l; do s=$(printf %s "$l" | sed 's/.*"seq":\([0-9]*\).*/\1/'); echo "{\"seq\":$s,\"ok\":true,\"name\":\"n$s\"}"; done"#;
    let a = Adapter::new(sh(echo), Mode::Lines, Duration::from_secs(20)).unwrap();
    for n in 1..=3 {
        assert_eq!(a.call(Request::new(Op::Info), None).await.unwrap().name.unwrap(), format!("n{n}"));
    }
    a.shutdown().await;
}

#[tokio::test]
async fn a_run_with_a_broken_adapter_ends() {
    // An adapter that cannot answer `info` cannot be tested: the run says so at once.
    let e = ClientCtx::connect(
        Adapter::new(sh("exit 1"), Mode::PerStep, Duration::from_secs(20)).unwrap(),
        ClientOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(e.contains("does not answer `info`"), "{e}");
    // One that answers `info` and crashes on everything else: every check fails with `adapter`.
    let script = r#"read l; case "$l" in *'"op":"info"'*) echo '{"ok":true,"name":"half","cacheInDir":true}';; *) exit 9;; esac"#;
    let ctx = ClientCtx::connect(
        Adapter::new(sh(script), Mode::PerStep, Duration::from_secs(20)).unwrap(),
        ClientOptions::default(),
    )
    .await
    .unwrap();
    for check in conformance::client::all().iter().take(3) {
        match conformance::run_one(check, &ctx).await.outcome {
            conformance::Outcome::Fail(f) => {
                assert_eq!(f.code, "adapter", "{}: {}", check.id, f.message);
                assert!(f.message.contains("crashed"), "{}", f.message);
            }
            other => panic!("{}: {other:?}", check.id),
        }
    }
}

#[tokio::test]
async fn decoder_failures_are_classified() {
    let mut d = Decoder::new(&sh("cat >/dev/null; exit 2"), false).unwrap();
    assert!(matches!(d.describe(b"\x02").await.unwrap(), Err(DecoderFailure::Crash(_))));
    let mut d = Decoder::new(&sh("cat >/dev/null; echo nope"), false).unwrap();
    assert!(matches!(d.describe(b"\x02").await.unwrap(), Err(DecoderFailure::Garbage(_))));
    // Lines: answers two inputs, then dies; the decoder is started again for the next.
    let mut d = Decoder::new(&sh(r#"read a; echo '{"state":"NotFound"}'; read b; exit 1"#), true).unwrap();
    assert_eq!(d.describe(b"\x02").await.unwrap().unwrap()["state"], "NotFound");
    assert!(matches!(d.describe(b"\x02").await.unwrap(), Err(DecoderFailure::Crash(_))));
    assert_eq!(d.describe(b"\x02").await.unwrap().unwrap()["state"], "NotFound");
    assert_eq!(d.starts, 2);
    assert!(Decoder::new(&sh("x"), true).is_ok());
    let mut missing = Decoder::new(&["/no/such/decoder".to_owned()], false).unwrap();
    assert!(missing.describe(b"").await.is_err(), "a command that cannot start stops the run");
}
