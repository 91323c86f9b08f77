//! The suite's own bookkeeping: ids, requirement citations, the mode without a control
//! interface, the known-failing comparison and the report formats.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc
)]

use std::collections::HashSet;

use conformance::known_failing::KnownFailing;
use conformance::report::RunInfo;
use conformance::target::TargetOptions;
use conformance::{checks, proto, report, run_one, Ctx, Outcome, Target};

#[test]
fn check_ids_are_unique_stable_shaped_and_cite_real_requirements() {
    let spec = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/pixstore.md")).unwrap();
    let retired =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../conformance/retired-ids.txt")).unwrap();
    let mut seen = HashSet::new();
    for c in checks::all() {
        assert!(seen.insert(c.id), "{} is used twice", c.id);
        assert!(c.id.starts_with(&format!("PXS-{}-", c.section)), "{}: id must start with PXS-<section>-", c.id);
        assert!(!retired.lines().any(|l| l.split_whitespace().next() == Some(c.id)), "{} is retired", c.id);
        for r in c.requirements {
            assert!(spec.contains(&format!("**{r}**")), "{} cites {r}, which the spec does not define", c.id);
        }
    }
    assert!(seen.len() >= 30);
}

// Without a control interface the suite runs what needs no writes on the given records, and
// says which checks it could not run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_control_it_runs_what_needs_no_writes() {
    // A 20 s window: the record's proof must outlive the run.
    let dir = tempfile::tempdir().unwrap();
    let mut config = conformance::reference::config(dir.path()).unwrap();
    config.window = proto::proof::Window::from_config(20_000).unwrap();
    let reference = conformance::reference::start_with(dir, config).await.unwrap();
    let service = reference.running.service.clone();
    let record = service.save(b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR for the read-only mode", None).await.unwrap();
    let options =
        TargetOptions { endpoint: Some(reference.endpoint.clone()), records: vec![record], ..TargetOptions::default() };
    let target = Target::connect(options).await.unwrap();
    let ctx = Ctx { target };
    let (mut passed, mut skipped) = (Vec::new(), Vec::new());
    for check in checks::all() {
        match run_one(&check, &ctx).await.outcome {
            Outcome::Pass => passed.push(check.id),
            Outcome::Skip(why) => {
                assert!(!why.is_empty(), "{}: a skip says why", check.id);
                skipped.push(check.id);
            }
            // The reference server's HTTP stack writes its own 400s (a SHOULD of HTTP-13).
            Outcome::Fail(_) if check.level != conformance::Level::Must => {}
            Outcome::Fail(f) => panic!("{} failed without control: [{}] {}", check.id, f.code, f.message),
        }
    }
    for id in ["PXS-9.2-updated-without-token", "PXS-9.1-missing-proof", "PXS-10.2-preflight", "PXS-8.6-tampered-proof"]
    {
        assert!(passed.contains(&id), "{id} should run on a record file");
    }
    for id in
        ["PXS-5.1-tokens-increase-within-a-millisecond", "PXS-9.1-not-found-after-delete", "PXS-8.5-proof-expires"]
    {
        assert!(skipped.contains(&id), "{id} needs the control interface");
    }
    reference.shutdown().await;
}

fn fake(id: &'static str, outcome: Outcome) -> conformance::Report {
    conformance::Report {
        id,
        section: "9.1",
        requirements: &["SERVE-1"],
        level: conformance::Level::Must,
        title: "t",
        outcome,
        duration: std::time::Duration::from_millis(3),
    }
}

fn failure(code: &'static str) -> Outcome {
    Outcome::Fail(conformance::Failure {
        code,
        message: format!("failed <{code}> & more"),
        exchange: None,
        cause: None,
    })
}

#[test]
fn known_failing_is_strict() {
    let known = KnownFailing::parse("# c\nPXS-a status  # why\nPXS-b state\nPXS-c state\nPXS-d state\n").unwrap();
    let reports = vec![
        fake("PXS-a", failure("status")),
        fake("PXS-b", Outcome::Pass),
        fake("PXS-c", failure("header")),
        fake("PXS-e", failure("x")),
    ];
    let problems = known.compare(&reports);
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("PXS-b") && p.contains("passes")));
    assert!(problems.iter().any(|p| p.contains("PXS-c") && p.contains("`header`")));
    assert!(problems.iter().any(|p| p.contains("PXS-d") && p.contains("not run")));
    assert!(KnownFailing::parse("PXS-a").is_err());
    assert!(KnownFailing::parse("PXS-a x\nPXS-a y").is_err());
    let regenerated = known.regenerate(&reports);
    assert!(regenerated.contains("PXS-a status  # why") && regenerated.contains("PXS-e x"));
    let s = report::summarize(&reports, &known, false);
    assert_eq!((s.passed, s.failed, s.expected_failures), (1, 1, 2));
}

fn caused(code: &'static str, requirement: &'static str) -> Outcome {
    Outcome::Fail(conformance::Failure {
        code,
        message: format!("failed {code}"),
        exchange: None,
        cause: Some(conformance::Cause { requirement, summary: "records carry a string token".into() }),
    })
}

#[test]
fn reports_render() {
    let reports = vec![
        fake("PXS-9.1-a", Outcome::Pass),
        fake("PXS-9.1-b", failure("state")),
        fake("PXS-9.1-c", Outcome::Skip("needs <x>".into())),
    ];
    let known = KnownFailing::default();
    let run =
        RunInfo { target: "http://t/r".into(), warnings: vec!["--insecure: careful".into()], ..RunInfo::default() };
    let text = report::text(&reports, &known, &run);
    assert!(text.contains("§9.1") && text.trim_end().ends_with("1 passed, 1 failed, 1 skipped"), "{text}");
    assert!(text.contains("WARNING: --insecure"), "{text}");
    // One versioned JSON object.
    let json: serde_json::Value = serde_json::from_str(&report::json(&reports, &known, &run)).unwrap();
    assert_eq!(json["reportVersion"], 1);
    assert_eq!(json["specVersion"], "1");
    assert_eq!(json["tool"]["name"], "pixstore-conformance");
    assert_eq!(json["target"]["endpoint"], "http://t/r");
    assert_eq!(json["summary"]["failed"], 1);
    assert_eq!(json["warnings"][0], "--insecure: careful");
    assert_eq!(json["checks"][1]["outcome"], "fail");
    assert_eq!(json["checks"][1]["code"], "state");
    // JUnit with a <testsuites> root, one suite per section.
    let xml = report::junit(&reports, &known, &run);
    assert!(
        xml.contains("<testsuites name=\"pixstore-conformance\" tests=\"3\" failures=\"1\" skipped=\"1\">"),
        "{xml}"
    );
    assert!(xml.contains("<testsuite name=\"spec §9.1\"") && xml.trim_end().ends_with("</testsuites>"), "{xml}");
    assert!(
        xml.contains("&lt;state&gt; &amp; more") && xml.contains("needs &lt;x&gt;") && xml.contains("careful"),
        "{xml}"
    );
    // HTML: one page, grouped by section.
    let html = report::html(&reports, &known, &run);
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("§9.1") && html.contains("class=\"fail\""), "{html}");
    assert!(!html.contains("<script") && !html.contains("<link"), "self-contained");
}

#[test]
fn one_cause_is_named_once() {
    let reports: Vec<_> = ["PXS-9.1-a", "PXS-9.1-b", "PXS-9.1-c"]
        .into_iter()
        .map(|id| fake(id, caused("control", "REC-3")))
        .chain([fake("PXS-9.1-d", failure("state"))])
        .collect();
    let causes = report::root_causes(&reports, &KnownFailing::default(), false);
    assert_eq!(causes.len(), 2, "{causes:?}");
    assert_eq!((causes[0].requirement, causes[0].checks.len()), ("REC-3", 3));
    assert_eq!(causes[1].requirement, "SERVE-1");
    let text = report::text(&reports, &KnownFailing::default(), &RunInfo::default());
    assert!(text.contains("1. REC-3: records carry a string token (3 checks"), "{text}");
}

#[test]
fn evidence_decodes_values_and_names_non_wire_bodies() {
    let mut ex = conformance::http::Exchange {
        status: 200,
        headers: vec![("content-type".into(), "application/octet-stream".into())],
        ..Default::default()
    };
    // An Updated payload whose token is big-endian 1 (out of range little-endian).
    let mut body = vec![1u8, 0, 0, 0, 0, 0, 0, 0, 1];
    body.extend([0u8; 61]);
    ex.body = body;
    let dump = conformance::hexdump::evidence(&ex);
    assert!(dump.contains("out of range") && dump.contains("big-endian 1"), "{dump}");
    ex.body[1..9].copy_from_slice(&1_732_752_012_345u64.to_le_bytes());
    assert!(conformance::hexdump::evidence(&ex).contains("token 1732752012345"));
    // A text 404 is not "state 110".
    let text = conformance::http::Exchange {
        status: 404,
        headers: vec![("content-type".into(), "text/plain".into())],
        body: b"not found".to_vec(),
        ..Default::default()
    };
    let dump = conformance::hexdump::evidence(&text);
    assert!(
        dump.contains("not a wire payload: HTTP 404, content-type text/plain") && !dump.contains("Unassigned"),
        "{dump}"
    );
}

#[test]
fn selection_by_glob_and_prefix() {
    let all = checks::all();
    let only = conformance::select(&all, &["PXS-8".into()], &[]);
    assert!(!only.is_empty() && only.iter().all(|c| c.id.starts_with("PXS-8")));
    let skip = conformance::select(&all, &[], &["PXS-10.*".into()]);
    assert!(skip.iter().all(|c| !c.id.starts_with("PXS-10.")));
    assert!(conformance::glob("PXS-*-proof-*", "PXS-8.5-proof-expires"));
    assert!(!conformance::glob("PXS-9*", "PXS-8.5-proof-expires"));
}
