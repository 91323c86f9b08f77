//! `cargo test -p conformance`: every check is its own test, filterable by id
//! (`cargo test -p conformance -- PXS-8`), and every wire vector too (`-- VEC-`).
//!
//! Target: the same options as `pixstore-conformance`, from `PIXSTORE_*` variables:
//! `PIXSTORE_CONTROL`, `PIXSTORE_ENDPOINT` or `PIXSTORE_ENDPOINT_TEMPLATE`, `PIXSTORE_HEADER`
//! (one per line), `PIXSTORE_CA_CERT`, `PIXSTORE_INSECURE`, ...; with none, a reference server is
//! started on 127.0.0.1:0 (feature `reference`). `PIXSTORE_KNOWN_FAILING=FILE`: listed checks must
//! fail with the listed code (and fail the test if they pass). `PIXSTORE_STRICT=1`: SHOULD
//! failures fail too.
//!
//! The selected checks run first, one at a time, in the suite's order; then libtest reports
//! them: a check that could not run (no control interface, validation disabled, a custom
//! endpoint) is reported as *ignored* with its reason, never as passed.
//!
//! Client checks (`-- PXC`): with `PIXSTORE_CLIENT_ADAPTER="pixstore-client adapter"` (the
//! command, split at whitespace; `PIXSTORE_CLIENT_LINES=1` for the lines mode,
//! `PIXSTORE_CLIENT_TEMPLATE=1` for the custom route) every client check is a test too. Without it
//! they are not listed (`pixstore-conformance client` runs them).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc
)]

use std::collections::HashMap;

use clap::Parser as _;
use conformance::cli::TargetArgs;
use conformance::known_failing::KnownFailing;
use conformance::{checks, run_one, Ctx, Level, Outcome, Report};
use libtest_mimic::{Arguments, Failed, Trial};

#[derive(Debug, clap::Parser)]
struct Env {
    #[command(flatten)]
    target: TargetArgs,
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

/// Runs `ids` against the target; one report per check, or why the target could not be used.
fn run_checks(ids: &[&str]) -> Result<HashMap<&'static str, Report>, String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let args = Env::try_parse_from(["suite"]).map_err(|e| format!("PIXSTORE_* variables: {e}"))?;
    runtime.block_on(async {
        let (target, reference) = conformance::cli::connect(&args.target).await?;
        let ctx = Ctx { target };
        let mut out = HashMap::new();
        for check in checks::all().iter().filter(|c| ids.contains(&c.id)) {
            out.insert(check.id, run_one(check, &ctx).await);
        }
        #[cfg(feature = "reference")]
        if let Some(r) = reference {
            r.shutdown().await;
        }
        #[cfg(not(feature = "reference"))]
        let _ = reference;
        Ok(out)
    })
}

fn selected(args: &Arguments, name: &str) -> bool {
    let matches = |pattern: &str| if args.exact { name == pattern } else { name.contains(pattern) };
    args.filter.as_deref().is_none_or(matches) && !args.skip.iter().any(|s| matches(s))
}

fn verdict(report: &Report, known: &KnownFailing, strict: bool) -> Result<(), Failed> {
    let listed = known.entries.get(report.id);
    match (&report.outcome, listed) {
        (Outcome::Pass, None) => Ok(()),
        (Outcome::Skip(why), None) => {
            println!("skipped: {why}");
            Ok(())
        }
        (Outcome::Fail(f), Some(entry)) if f.code == entry.code => {
            println!("known failure [{}]: {}", f.code, f.message);
            Ok(())
        }
        (Outcome::Fail(f), None) if report.level == Level::Info => {
            println!("informative [{}]: {}", f.code, f.message);
            Ok(())
        }
        (Outcome::Fail(f), None) if report.level == Level::Should && !strict => {
            println!("SHOULD not met [{}]: {}", f.code, f.message);
            Ok(())
        }
        (Outcome::Fail(f), _) => {
            let evidence = f.exchange.as_deref().map(conformance::hexdump::evidence).unwrap_or_default();
            let expected = listed.map(|e| format!(" (known-failing lists code `{}`)", e.code)).unwrap_or_default();
            Err(format!(
                "[{}] {}{expected}\n  requirements: {}\n{evidence}",
                f.code,
                f.message,
                report.requirements.join(", ")
            )
            .into())
        }
        (Outcome::Pass, Some(entry)) => {
            Err(format!("listed as known-failing (`{}`) but passes: remove it from the list", entry.code).into())
        }
        (Outcome::Skip(why), Some(_)) => Err(format!("listed as known-failing but skipped: {why}").into()),
    }
}

/// Runs the client checks `ids` against the adapter of `PIXSTORE_CLIENT_ADAPTER`.
fn run_client_checks(command: &str, ids: &[&str]) -> Result<HashMap<&'static str, Report>, String> {
    use conformance::client::adapter::{Adapter, Mode};
    use conformance::client::{ClientCtx, ClientOptions};
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let mode = if env("PIXSTORE_CLIENT_LINES").is_some() { Mode::Lines } else { Mode::PerStep };
    let command: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
    runtime.block_on(async {
        let adapter = Adapter::new(command, mode, conformance::client::adapter::DEFAULT_ADAPTER_TIMEOUT)?;
        let options =
            ClientOptions { via_template: env("PIXSTORE_CLIENT_TEMPLATE").is_some(), ..ClientOptions::default() };
        let ctx = ClientCtx::connect(adapter, options).await?;
        let mut out = HashMap::new();
        for check in conformance::client::all().iter().filter(|c| ids.contains(&c.id)) {
            out.insert(check.id, run_one(check, &ctx).await);
        }
        ctx.adapter.shutdown().await;
        Ok(out)
    })
}

fn main() {
    let args = Arguments::from_args();
    let all = checks::all();
    let known = match env("PIXSTORE_KNOWN_FAILING") {
        Some(path) => std::fs::read_to_string(&path)
            .map_err(|e| format!("{path}: {e}"))
            .and_then(|t| KnownFailing::parse(&t))
            .unwrap_or_else(|e| panic!("PIXSTORE_KNOWN_FAILING: {e}")),
        None => KnownFailing::default(),
    };
    let strict = env("PIXSTORE_STRICT").is_some();
    let wanted: Vec<&str> = all.iter().map(|c| c.id).filter(|id| selected(&args, id)).collect();
    // libtest decides `ignored` before a test runs, so the checks run first.
    let results = if args.list || wanted.is_empty() { Ok(HashMap::new()) } else { run_checks(&wanted) };
    // libtest shows no reason for an ignored test: say here why each was skipped.
    if let Ok(map) = &results {
        for check in &all {
            if let Some(Report { outcome: Outcome::Skip(why), .. }) = map.get(check.id) {
                println!("skipped (reported as ignored): {}: {why}", check.id);
            }
        }
    }
    let mut trials = Vec::new();
    for check in &all {
        let id = check.id;
        let trial = match &results {
            Err(e) => {
                let e = e.clone();
                Trial::test(id, move || Err(format!("cannot reach the implementation: {e}").into()))
            }
            Ok(map) => match map.get(id).cloned() {
                Some(report) => {
                    let skipped = matches!(report.outcome, Outcome::Skip(_)) && !known.contains(id);
                    let known = known.clone();
                    Trial::test(id, move || verdict(&report, &known, strict)).with_ignored_flag(skipped)
                }
                // Not selected, or --list: libtest filters or lists it; it never runs.
                None => Trial::test(id, || Ok(())),
            },
        };
        trials.push(trial);
    }
    if let Some(command) = env("PIXSTORE_CLIENT_ADAPTER") {
        let clients = conformance::client::all();
        let wanted: Vec<&str> = clients.iter().map(|c| c.id).filter(|id| selected(&args, id)).collect();
        let results =
            if args.list || wanted.is_empty() { Ok(HashMap::new()) } else { run_client_checks(&command, &wanted) };
        for check in &clients {
            let id = check.id;
            trials.push(match &results {
                Err(e) => {
                    let e = e.clone();
                    Trial::test(id, move || Err(format!("cannot run the client adapter: {e}").into()))
                }
                Ok(map) => match map.get(id).cloned() {
                    Some(report) => {
                        let known = known.clone();
                        Trial::test(id, move || verdict(&report, &known, strict))
                    }
                    None => Trial::test(id, || Ok(())),
                },
            });
        }
    }
    // The golden wire vectors (compiled in) against pixstore-proto: the decoder's requirements
    // WIRE-1 and WIRE-5 to WIRE-12, one test per vector.
    let vectors = conformance::vectors::compiled_wire().unwrap_or_else(|e| panic!("golden vectors: {e}"));
    for v in vectors {
        trials.push(Trial::test(format!("VEC-{}", v.id), move || {
            conformance::vectors::compare(&v, &conformance::vectors::describe(&v.input)).map_err(Failed::from)
        }));
    }
    libtest_mimic::run(&args, trials).exit();
}
